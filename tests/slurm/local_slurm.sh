#!/usr/bin/env bash
# A throw-away one-node SLURM cluster on this machine, to try the SLURM profile
# (workflow/profiles/slurm) without a real cluster:
#
#   tests/slurm/local_slurm.sh start  <workdir>        # install if needed, start, wait until idle
#   export SLURM_CONF=<workdir>/etc/slurm.conf         # what `start` prints; sbatch etc. need it
#   tests/slurm/local_slurm.sh status <workdir>
#   tests/slurm/local_slurm.sh stop   <workdir>        # kill the daemons, remove <workdir>
#
# Everything lives under <workdir>: munge key and socket, slurm.conf, state, logs, pid files.
# One exception: /etc/slurm/slurm.conf becomes a symbolic link to <workdir>/etc/slurm.conf
# (removed by `stop`), because snakemake's slurm-jobstep plugin drops every SLURM_* variable,
# SLURM_CONF included, before it calls srun inside a job, so srun reads the default path.
# `start` refuses to replace an /etc/slurm/slurm.conf that is a real file (a real cluster's).
# Runs as root without systemd (containers): the daemons are started directly.
# Debian/Ubuntu's slurm-wlm and munge are installed with apt-get when missing.
#
# The node is this machine (its hostname, CPUs and memory as `slurmd -C` reports them), in one
# default partition (LOCAL_SLURM_PARTITION, default "local") and a second one on the same node
# for the GPU jobs (LOCAL_SLURM_GPU_PARTITION, default "localgpu"). There is no slurmdbd: accounting
# storage is off, so sbatch accepts any --account without checking it and `sacct` has no
# records (use `--slurm-status-command squeue`; MinJobAge is raised so squeue still lists
# finished jobs for the plugin's status checks).
# GPUs: the node advertises LOCAL_SLURM_GPUS (default 1) GRES "gpu" without devices, so jobs
# that request --gpus=1 / --gres=gpu:1 are scheduled (and run on the CPU) as on a real GPU node.
# Ports: LOCAL_SLURM_CTLD_PORT (default 6817) and LOCAL_SLURM_D_PORT (default 6818).
#
# Exit status of `start`: 0 up; 3 SLURM/munge missing and not installable (not root, no
# apt-get, or apt-get failed); 4 /etc/slurm/slurm.conf cannot be linked (a real one is in the
# way, or not root); 1 anything else (daemon logs in <workdir>/log).
set -euo pipefail

usage() {
    echo "usage: $0 start|stop|status <workdir>" >&2
    exit 2
}

[[ $# -eq 2 ]] || usage
action=$1
workdir=$2
[[ $action == start ]] && mkdir -p "$workdir"
if [[ ! -d $workdir ]]; then
    [[ $action == stop ]] && exit 0
    echo "$workdir: no such cluster folder" >&2
    exit 1
fi
workdir=$(cd "$workdir" && pwd)

partition=${LOCAL_SLURM_PARTITION:-local}
gpu_partition=${LOCAL_SLURM_GPU_PARTITION:-localgpu}
gpus=${LOCAL_SLURM_GPUS:-1}
ctld_port=${LOCAL_SLURM_CTLD_PORT:-6817}
d_port=${LOCAL_SLURM_D_PORT:-6818}
conf=$workdir/etc/slurm.conf
etc_conf=/etc/slurm/slurm.conf
munge_socket=$workdir/munge/munge.socket.2
export SLURM_CONF=$conf

log() { echo "local_slurm: $*" >&2; }

install_packages() {
    local missing=()
    command -v munged >/dev/null || missing+=(munge)
    command -v slurmctld >/dev/null || missing+=(slurmctld)
    command -v slurmd >/dev/null || missing+=(slurmd)
    command -v sbatch >/dev/null || missing+=(slurm-client)
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if [[ $(id -u) -ne 0 ]]; then
        log "missing ${missing[*]} and not root: cannot apt-get install them"
        exit 3
    fi
    command -v apt-get >/dev/null || { log "missing ${missing[*]} and no apt-get"; exit 3; }
    log "installing slurm-wlm and munge with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends slurm-wlm munge; } >&2; then
        log "apt-get could not install slurm-wlm and munge"
        exit 3
    fi
}

pid_alive() {
    local pidfile=$1
    [[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

kill_pidfile() {
    # Stops the one process named in a pid file we wrote (never by process name).
    local pidfile=$1 pid i
    [[ -s $pidfile ]] || return 0
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for i in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

write_config() {
    local host node_line
    host=$(hostname -s)
    # "NodeName=<host> CPUs=.. Boards=.. SocketsPerBoard=.. CoresPerSocket=.. ThreadsPerCore=..
    # RealMemory=.." as this machine really is (slurmd drains a node that claims more).
    node_line=$(slurmd -C | head -n 1)
    mkdir -p "$workdir"/{etc,munge,log,run,state/ctld,state/d}
    local gres_line="" node_gres=""
    if [[ $gpus -gt 0 ]]; then
        gres_line="GresTypes=gpu"
        node_gres="Gres=gpu:$gpus"
        # Fake GPUs: slurmd only counts a gpu GRES that names a device file; /dev/null will do,
        # jobs get CUDA_VISIBLE_DEVICES but no usable GPU and run on the CPU.
        printf 'AutoDetect=off\nNodeName=%s Name=gpu Count=%s File=/dev/null\n' "$host" "$gpus" \
            >"$workdir/etc/gres.conf"
    fi
    cat >"$conf" <<EOF
# Generated by $0 for a local one-node test cluster.
ClusterName=localtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$munge_socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$workdir/state/ctld
SlurmdSpoolDir=$workdir/state/d
SlurmctldPidFile=$workdir/run/slurmctld.pid
SlurmdPidFile=$workdir/run/slurmd.pid
SlurmctldLogFile=$workdir/log/slurmctld.log
SlurmdLogFile=$workdir/log/slurmd.log
# No cgroups (containers rarely allow them): plain process tracking, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
# No slurmdbd: --account is accepted without validation.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
$gres_line
ReturnToService=2
# Keep finished jobs visible to squeue (the snakemake plugin polls their state).
MinJobAge=3600
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
$node_line $node_gres NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=$partition Nodes=$host Default=YES MaxTime=INFINITE State=UP
PartitionName=$gpu_partition Nodes=$host Default=NO MaxTime=INFINITE State=UP
EOF
    if [[ -e $etc_conf && ! -L $etc_conf ]]; then
        log "$etc_conf exists and is not a link made by this script: not replacing it"
        exit 4
    fi
    if ! { mkdir -p "$(dirname "$etc_conf")" && ln -sfn "$conf" "$etc_conf"; }; then
        log "cannot link $etc_conf (not root?)"
        exit 4
    fi
}

start_munge() {
    local key=$workdir/munge/munge.key
    [[ -s $key ]] || {
        dd if=/dev/urandom of="$key" bs=1024 count=1 status=none
        chmod 0400 "$key"
    }
    chmod 0700 "$workdir/munge"
    pid_alive "$workdir/run/munged.pid" && return 0
    # --force: munged refuses to run as root otherwise.
    munged --force --key-file="$key" --socket="$munge_socket" \
        --pid-file="$workdir/run/munged.pid" --log-file="$workdir/log/munged.log" \
        --seed-file="$workdir/munge/munged.seed"
}

wait_idle() {
    local i state
    for i in $(seq 120); do
        state=$(sinfo -h -p "$partition" -o %T 2>/dev/null | head -n 1 || true)
        case $state in
            idle | mixed | allocated) return 0 ;;
            drain* | down*)
                # A node that registered before slurmctld was ready: resume it once.
                scontrol update NodeName="$(hostname -s)" State=RESUME 2>/dev/null || true
                ;;
        esac
        sleep 0.5
    done
    log "node did not become idle (state '${state:-none}'); logs in $workdir/log"
    return 1
}

start() {
    install_packages
    if pid_alive "$workdir/run/slurmctld.pid" && pid_alive "$workdir/run/slurmd.pid"; then
        log "already running"
    else
        write_config
        start_munge
        # -i: ignore state files of an earlier run, start clean.
        pid_alive "$workdir/run/slurmctld.pid" || slurmctld -i -f "$conf"
        local i
        for i in $(seq 60); do
            scontrol ping >/dev/null 2>&1 && break
            sleep 0.5
        done
        pid_alive "$workdir/run/slurmd.pid" || slurmd -f "$conf"
    fi
    wait_idle
    log "cluster up; partition '$partition'"
    echo "export SLURM_CONF=$conf"
}

stop() {
    if [[ -s $conf ]]; then
        # Cancel leftover jobs first so their processes do not outlive the daemons.
        scancel --quiet --user="$(id -un)" 2>/dev/null || true
    fi
    kill_pidfile "$workdir/run/slurmd.pid"
    kill_pidfile "$workdir/run/slurmctld.pid"
    kill_pidfile "$workdir/run/munged.pid"
    if [[ -L $etc_conf && $(readlink "$etc_conf") == "$conf" ]]; then
        rm -f "$etc_conf"
    fi
    rm -rf "$workdir"
    log "stopped, $workdir removed"
}

status() {
    local name rc=0
    for name in munged slurmctld slurmd; do
        if pid_alive "$workdir/run/$name.pid"; then
            echo "$name: running (pid $(cat "$workdir/run/$name.pid"))"
        else
            echo "$name: not running"
            rc=1
        fi
    done
    if [[ $rc -eq 0 ]]; then
        sinfo
        squeue
    fi
    return $rc
}

case $action in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) usage ;;
esac
