#!/usr/bin/env bash
# Builds raftvisord + raftvisorctl (release) and runs the example 3-instance cluster of
# configs/cluster/ on loopback (HTTP 61101-61103, internal 61201-61203). Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p raftvisord -p raftvisorctl
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM
for i in 1 2 3; do
  mkdir -p "run/cluster/s$i"
  target/release/raftvisord -c "configs/cluster/s$i.conf" >"run/cluster/s$i/stdout.log" 2>&1 &
  pids+=("$!")
done
echo "cluster started: s1 http://127.0.0.1:61101  s2 http://127.0.0.1:61102  s3 http://127.0.0.1:61103"
echo "dashboard: http://127.0.0.1:61101/ (any instance), metrics: /metrics, REST API: /api"
echo "try: target/release/raftvisorctl -s http://127.0.0.1:61101 application_info   (Ctrl-C to stop)"
echo "     target/release/raftvisorctl -s http://127.0.0.1:61101 sstatus"
echo "     target/release/raftvisorctl -s http://127.0.0.1:61101 master     (the instance to kill -9 for a failover)"
echo "logs: run/cluster/sN/raftvisord.log (and stdout.log), programs' logs in run/cluster/sN/, pid in run/cluster/sN/raftvisord.pid"
# Keep running while any instance is alive: killing one (kill -9, to watch the failover) must
# not stop the others. Ctrl-C stops them all.
wait "${pids[@]}" || true
