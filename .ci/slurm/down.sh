#!/usr/bin/env bash
# Stop the cluster that up.sh started in STATEDIR: cancel its jobs, then stop
# exactly the daemons whose pid files up.sh left in STATEDIR/pids/.
#
#   down.sh STATEDIR
set -uo pipefail

[ $# -eq 1 ] || { echo "usage: $0 STATEDIR" >&2; exit 2; }
[ -d "$1" ] || exit 0
S=$(cd "$1" && pwd)
PATH="$PATH:/usr/sbin:/sbin"
export SLURM_CONF="$S/slurm.conf"

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Jobs first, so no slurmstepd outlives slurmd.
if alive "$S/pids/slurmctld.pid"; then
    scancel -u "$(id -un)" 2>/dev/null
    for _ in $(seq 20); do
        [ -z "$(squeue -h -t running,completing -o %i 2>/dev/null)" ] && break
        sleep 0.5
    done
fi

# Reverse start order; SIGTERM, then SIGKILL after 15 s.
for name in slurmd slurmctld slurmdbd mariadb munged; do
    pidfile="$S/pids/$name.pid"
    alive "$pidfile" || continue
    pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 30); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    rm -f "$pidfile"
done

# The /etc/slurm/slurm.conf symlink, only if it is this cluster's.
if [ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" = "$S/slurm.conf" ]; then
    rm -f /etc/slurm/slurm.conf
fi
exit 0
