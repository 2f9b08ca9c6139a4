#!/usr/bin/env bash
# Stops a peer cluster (run_supvisors_cluster.sh, or one bench_cluster.py generated), by PID only:
#  1. SIGTERM each supervisord named in WORKDIR/s*/supervisord.pid (it stops its programs),
#     up to 15 s, then SIGKILL those still alive;
#  2. the orphans (programs of a supervisord killed with -9) are found by their environment
#     marker PEER_CLUSTER=WORKDIR (exact match): SIGTERM, then SIGKILL after 3 s.
# Usage: scripts/bench/peer/stop_supvisors_cluster.sh WORKDIR
set -u
[ $# -eq 1 ] || { echo "usage: $0 WORKDIR" >&2; exit 2; }
WORK=$(cd "$1" && pwd -P) || { echo "no such cluster dir: $1" >&2; exit 1; }
alive() { kill -0 "$1" 2>/dev/null; }
pids=()
for pf in "$WORK"/s*/supervisord.pid; do
  [ -f "$pf" ] || continue
  pid=$(cat "$pf")
  if alive "$pid"; then kill -TERM "$pid"; pids+=("$pid"); echo "TERM supervisord $pid ($pf)"; fi
done
for _ in $(seq 1 150); do
  left=0; for p in "${pids[@]}"; do alive "$p" && left=1; done
  [ $left = 0 ] && break; sleep 0.1
done
for p in "${pids[@]}"; do alive "$p" && { echo "KILL supervisord $p"; kill -KILL "$p"; }; done

marked() {  # PIDs whose environment holds PEER_CLUSTER=$WORK exactly
  for e in /proc/[0-9]*/environ; do
    pid=${e#/proc/}; pid=${pid%/environ}
    [ "$pid" = "$$" ] && continue
    if { tr '\0' '\n' < "$e"; } 2>/dev/null | grep -qxF "PEER_CLUSTER=$WORK"; then echo "$pid"; fi
  done
}
orphans=$(marked)
for p in $orphans; do echo "TERM orphan $p"; kill -TERM "$p" 2>/dev/null; done
[ -n "$orphans" ] && sleep 3
for p in $(marked); do echo "KILL orphan $p"; kill -KILL "$p" 2>/dev/null; done
echo "stopped cluster $WORK"
