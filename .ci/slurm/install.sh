#!/usr/bin/env bash
# Install the Debian packages for a single-node SLURM cluster with accounting
# (munge, slurmctld, slurmd, slurmdbd, MariaDB). Idempotent: returns at once
# when every daemon and client is already present.
set -euo pipefail

need=(munged slurmctld slurmd slurmdbd sbatch sacct sacctmgr mariadbd mariadb-install-db)
missing=0
for bin in "${need[@]}"; do
    command -v "$bin" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin" command -v "$bin" >/dev/null 2>&1 || missing=1
done
[ "$missing" = 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "install.sh: SLURM packages missing and not root, cannot apt-get install" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    slurmctld slurmd slurm-client slurmdbd munge mariadb-server >/dev/null
