#!/usr/bin/env bash
# cluster.sh: a throwaway single-node Slurm cluster (munged, slurmctld, slurmd) whose
# configuration, state, spool, logs and munge socket all live under one directory, for
# the Slurm test (make test-slurm) and for trying scripts/slurm/ on one machine.
#
#   scripts/slurm/cluster.sh up DIR     start the daemons; prints the SLURM_CONF to export
#   scripts/slurm/cluster.sh down DIR   stop them by PID (SIGTERM, then SIGKILL after 10 s)
#
# Needs root (slurmd runs jobs as their user; munged runs as the munge user) and the
# Debian packages slurmctld slurmd slurm-client munge (scripts/setup.sh slurm). Nothing
# is written outside DIR: /etc/munge/munge.key (made by the munge package) is only read,
# and SLURM_CONF points the daemons and clients at DIR/slurm.conf, so a second cluster
# (or a second run) starts from scratch. No systemd needed: the daemons run in the
# foreground as children of a setsid shell and their PIDs are in DIR/*.pid.
set -euo pipefail

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 up|down DIR" >&2; exit 2; }

stop() { # stop the daemon whose PID is in $1
  local f=$1 pid
  [ -s "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

case $cmd in
down)
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/slurm.conf" ]; then # cancel what still runs, so no job step outlives the cluster
    ids=$(SLURM_CONF="$dir/slurm.conf" squeue -h -o %A 2>/dev/null || true)
    [ -z "$ids" ] || { SLURM_CONF="$dir/slurm.conf" scancel $ids 2>/dev/null || true; sleep 2; }
  fi
  stop "$dir/slurmd.pid"; stop "$dir/slurmctld.pid"; stop "$dir/munged.pid"; stop "$dir/munged.runuser.pid"
  exit 0 ;;
up) ;;
*) echo "usage: $0 up|down DIR" >&2; exit 2 ;;
esac

[ "$(id -u)" = 0 ] || { echo "cluster.sh: needs root (slurmd, munged as the munge user)" >&2; exit 1; }
for b in munged slurmctld slurmd sbatch sinfo; do
  command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || { echo "cluster.sh: $b not found: run scripts/setup.sh slurm" >&2; exit 1; }
done
[ -r /etc/munge/munge.key ] || { echo "cluster.sh: /etc/munge/munge.key missing (the munge package makes it)" >&2; exit 1; }

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
chmod 755 "$dir"
mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
chown munge:munge "$dir/munge"; chmod 755 "$dir/munge"   # munged: the socket's directory must be searchable by all

# Free TCP ports for slurmctld and slurmd (a second cluster must not collide).
read -r pctl pd < <(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
host=$(hostname -s)
cpus=$(nproc)
cat > "$dir/slurm.conf" <<CONF
ClusterName=robotd
SlurmctldHost=$host
SlurmctldPort=$pctl
SlurmdPort=$pd
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.daemon.pid
SlurmdPidFile=$dir/slurmd.daemon.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
MinJobAge=600
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=eval Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$dir/slurm.conf

# munged as the munge user, in the foreground (-F), so that $! is the daemon itself.
setsid runuser -u munge -- /usr/sbin/munged -F --socket="$dir/munge/munge.socket" \
  --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
  --seed-file="$dir/munge/munged.seed" </dev/null >"$dir/log/munged.out" 2>&1 &
echo $! > "$dir/munged.runuser.pid"
for _ in $(seq 100); do [ -s "$dir/munge/munged.pid" ] && break; sleep 0.1; done
[ -s "$dir/munge/munged.pid" ] || { cat "$dir/log/munged.out" "$dir/munge/munged.log" >&2 2>/dev/null; echo "cluster.sh: munged did not start" >&2; exit 1; }
cp "$dir/munge/munged.pid" "$dir/munged.pid"

setsid /usr/sbin/slurmctld -D -i </dev/null >"$dir/log/slurmctld.out" 2>&1 &
echo $! > "$dir/slurmctld.pid"
setsid /usr/sbin/slurmd -D </dev/null >"$dir/log/slurmd.out" 2>&1 &
echo $! > "$dir/slurmd.pid"

# Up when the node is idle (slurmd registered with slurmctld).
for _ in $(seq 300); do
  state=$(sinfo -h -N -o %t 2>/dev/null || true)
  [ "$state" = idle ] && { echo "export SLURM_CONF=$dir/slurm.conf"; exit 0; }
  sleep 0.1
done
echo "cluster.sh: node not idle after 30 s (state '${state:-none}'); logs in $dir/log" >&2
tail -5 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
"$0" down "$dir"
exit 1
