#!/usr/bin/env bash
# Bring up a single-node SLURM cluster on loopback, with accounting
# (MariaDB + slurmdbd, so sacct works) and two fake GPUs.
#
#   up.sh STATEDIR
#
# Everything (configs, state, spool, logs, pid files, database) lives under
# STATEDIR. Clients find the cluster through SLURM_CONF (`source STATEDIR/env`)
# or the symlink /etc/slurm/slurm.conf -> STATEDIR/slurm.conf.
# Every daemon this script starts leaves its pid file in STATEDIR/pids/, which
# down.sh reads to stop exactly those daemons. Needs root (slurmd, munge).
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 STATEDIR" >&2; exit 2; }
mkdir -p "$1"
S=$(cd "$1" && pwd)
PATH="$PATH:/usr/sbin:/sbin"
HOST=$(hostname -s)
CLUSTER=ci
ACCOUNT=ci
USER_NAME=$(id -un)
# Daemons still running from this STATEDIR would delete the new ones' pid
# files when they exit.
for pidfile in "$S"/pids/*.pid; do
    if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        echo "up.sh: a cluster is still running in $S; run down.sh $S first" >&2
        exit 1
    fi
done
rm -rf "$S"/{pids,log,ctld,spool,gpu,db}
mkdir -p "$S"/{pids,log,ctld,spool,gpu}
chmod 755 "$S"

log_tail() { tail -n 30 "$S"/log/*.log >&2 2>/dev/null || true; }
# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND until it succeeds.
wait_for() {
    local limit=$1 what=$2; shift 2
    local end=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$end" ]; then
            echo "up.sh: timed out after ${limit}s waiting for $what" >&2
            log_tail
            exit 1
        fi
        sleep 0.3
    done
}
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# Loopback ports from SLURM_CI_PORT_BASE up, skipping taken ones, so a
# cluster (or MariaDB) already on this machine is left alone.
port=${SLURM_CI_PORT_BASE:-16817}
for var in CTLD_PORT SLURMD_PORT DBD_PORT DB_PORT; do
    while port_busy "$port"; do port=$((port + 1)); done
    printf -v "$var" %s "$port"
    port=$((port + 1))
done

# --- munge: reuse a working munged, otherwise start one (default socket,
# which every SLURM client uses).
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    install -d -o munge -g munge -m 0755 /run/munge
    rm -f /run/munge/munged.pid
    runuser -u munge -- munged
    wait_for 10 munged test -s /run/munge/munged.pid
    cp /run/munge/munged.pid "$S/pids/munged.pid"
    wait_for 10 "munge credential" bash -c 'munge -n | unmunge'
fi

# --- SLURM configuration.
MEM_MB=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.85}' /proc/meminfo)
ln -sf /dev/null "$S/gpu/nvidia0"
ln -sf /dev/null "$S/gpu/nvidia1"
cat > "$S/slurm.conf" <<CONF
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$S/ctld
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/pids/slurmctld.pid
SlurmdPidFile=$S/pids/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
# No cgroups in this machine (no systemd): plain process tracking.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# Keep finished jobs visible to squeue for an hour (plugin's squeue fallback).
MinJobAge=3600
KillWait=5
# srun/salloc without --mem must not take the whole node.
DefMemPerCPU=1000
MailProg=/bin/true
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
AccountingStorageTRES=gres/gpu
JobCompType=jobcomp/none
GresTypes=gpu
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$MEM_MB Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
# Fake GPUs: device files are symlinks to /dev/null; SLURM still schedules
# them and sets CUDA_VISIBLE_DEVICES for jobs that ask for --gpus.
cat > "$S/gres.conf" <<CONF
NodeName=$HOST Name=gpu File=$S/gpu/nvidia[0-1]
CONF
DB_PASS=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
(umask 077; cat > "$S/slurmdbd.conf" <<CONF
AuthType=auth/munge
DbdHost=$HOST
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$S/pids/slurmdbd.pid
LogFile=$S/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
CONF
)
printf 'export SLURM_CONF=%q\n' "$S/slurm.conf" > "$S/env"
export SLURM_CONF="$S/slurm.conf"
# Inside a job, the jobstep plugin strips every SLURM_* variable (SLURM_CONF
# too) before its srun, which then only finds /etc/slurm/slurm.conf. Link it
# there; never over a real site config (a regular file).
if [ -e /etc/slurm/slurm.conf ] && [ ! -L /etc/slurm/slurm.conf ]; then
    echo "up.sh: /etc/slurm/slurm.conf is a real file; refusing to replace it" >&2
    exit 1
fi
mkdir -p /etc/slurm
ln -sfn "$S/slurm.conf" /etc/slurm/slurm.conf

# --- MariaDB for slurmdbd: private datadir, loopback TCP only.
mariadb-install-db --no-defaults --datadir="$S/db" --user=root \
    --auth-root-authentication-method=socket --skip-test-db \
    >"$S/log/mariadb-install.log" 2>&1
setsid mariadbd --no-defaults --datadir="$S/db" --user=root \
    --socket="$S/mysql.sock" --pid-file="$S/pids/mariadb.pid" \
    --bind-address=127.0.0.1 --port="$DB_PORT" --skip-name-resolve \
    --skip-log-bin --innodb-buffer-pool-size=128M \
    --log-error="$S/log/mariadb.log" </dev/null >/dev/null 2>&1 &
wait_for 60 MariaDB mariadb --no-defaults -S "$S/mysql.sock" -uroot -e 'select 1'
mariadb --no-defaults -S "$S/mysql.sock" -uroot <<SQL
CREATE DATABASE slurm_acct_db;
CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
SQL

# --- slurmdbd, then the cluster/account/user, so slurmctld starts with its
# associations loaded.
slurmdbd
wait_for 60 slurmdbd sacctmgr -n list cluster
sacctmgr -i add cluster "$CLUSTER" >/dev/null
sacctmgr -i add account "$ACCOUNT" Description=ci Organization=ci >/dev/null
sacctmgr -i add user "$USER_NAME" DefaultAccount="$ACCOUNT" >/dev/null

# --- slurmctld and slurmd (both daemonize and write their pid files).
slurmctld -i
wait_for 30 slurmctld scontrol ping
slurmd -N "$HOST"
node_idle() { [ "$(sinfo -h -n "$HOST" -o %t)" = idle ]; }
wait_for 60 "node $HOST idle" node_idle
echo "SLURM cluster '$CLUSTER' up: SLURM_CONF=$SLURM_CONF"
