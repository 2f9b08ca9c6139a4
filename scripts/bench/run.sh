#!/usr/bin/env bash
# Benchmark raftvisord side by side with its Python peers (see README.md in this directory).
# Sets up the Python venv, builds raftvisord in release mode, then runs:
#   (default)        bench_supervisor.py : supervisord 4.3 vs raftvisord (single daemon)
#   --cluster        both bench_supervisor.py and bench_cluster.py (3-instance Supvisors 0.19
#                    cluster vs 3-instance raftvisord Raft cluster)
#   --cluster-only   bench_cluster.py only
#   --apps-only      bench_apps.py only (issue 4: start_application, restart on instance loss,
#                    DEPLOYMENT of 1,000 programs; raftvisord vs the Supvisors 0.19 cluster)
#   --events-only    bench_events.py only (issue 10: event latency, a burst of 1,000, an
#                    instance loss; raftvisord vs Supvisors 0.19, both with event_link = ZMQ;
#                    runs with the peer's venv, which has pyzmq)
#   --dashboard-only bench_dashboard.py only (issue 11: the daemon's CPU with statistics on and
#                    off, 100 processes; the cluster page with 1,000 processes in headless
#                    Chromium, and a change shown on it; raftvisord vs Supvisors 0.19; runs
#                    with the peer's venv, which has psutil and selenium)
#   --all            bench_supervisor.py, bench_cluster.py, then bench_apps.py
# Remaining arguments go to the first bench that runs, e.g.:
#   scripts/bench/run.sh --idle-seconds 10
#   scripts/bench/run.sh --cluster-only --rpc-seconds 5 --no-peer-events
# With --cluster / --all, CLUSTER_BENCH_ARGS (space-separated) goes to bench_cluster.py;
# with --all, APPS_BENCH_ARGS goes to bench_apps.py.
# RAFTVISOR_BENCH_NO_BUILD=1 skips the cargo build (use already-built binaries).
# If the build fails, the Python halves still run and raftvisord is reported "not run".
set -euo pipefail
cd "$(dirname "$0")/../.."
MODE=single
case "${1:-}" in
  --cluster) MODE=both; shift ;;
  --cluster-only) MODE=cluster; shift ;;
  --apps-only) MODE=apps; shift ;;
  --events-only) MODE=events; shift ;;
  --dashboard-only) MODE=dashboard; shift ;;
  --all) MODE=all; shift ;;
esac
VENV=$(scripts/setup-python.sh)
BIN_DIR="${CARGO_TARGET_DIR:-$PWD/target}/release"
if [ "${RAFTVISOR_BENCH_NO_BUILD:-0}" != "1" ]; then
  if ! cargo build --release -p raftvisord -p raftvisorctl; then
    echo "warning: cargo build --release failed; benchmarking the Python side only" >&2
  fi
fi
case "$MODE" in
  single)
    exec "$VENV/bin/python" scripts/bench/bench_supervisor.py --bin-dir "$BIN_DIR" "$@" ;;
  cluster)
    exec "$VENV/bin/python" scripts/bench/bench_cluster.py --bin-dir "$BIN_DIR" "$@" ;;
  apps)
    exec "$VENV/bin/python" scripts/bench/bench_apps.py --bin-dir "$BIN_DIR" "$@" ;;
  events)
    PEER_VENV=$(scripts/bench/peer/setup-peer.sh)
    exec "$PEER_VENV/bin/python" scripts/bench/bench_events.py --bin-dir "$BIN_DIR" \
      --peer-venv "$PEER_VENV" "$@" ;;
  dashboard)
    PEER_VENV=$(scripts/bench/peer/setup-peer.sh)
    scripts/setup-browser.sh >&2
    exec "$PEER_VENV/bin/python" scripts/bench/bench_dashboard.py --bin-dir "$BIN_DIR" \
      --peer-venv "$PEER_VENV" "$@" ;;
  all)
    status=0
    "$VENV/bin/python" scripts/bench/bench_supervisor.py --bin-dir "$BIN_DIR" "$@" || status=$?
    # shellcheck disable=SC2086  # word splitting of the extra arguments is intended
    "$VENV/bin/python" scripts/bench/bench_cluster.py --bin-dir "$BIN_DIR" ${CLUSTER_BENCH_ARGS:-} \
      || status=$?
    # shellcheck disable=SC2086
    "$VENV/bin/python" scripts/bench/bench_apps.py --bin-dir "$BIN_DIR" ${APPS_BENCH_ARGS:-} \
      || status=$?
    exit "$status" ;;
  both)
    status=0
    "$VENV/bin/python" scripts/bench/bench_supervisor.py --bin-dir "$BIN_DIR" "$@" || status=$?
    # shellcheck disable=SC2086  # word splitting of the extra arguments is intended
    "$VENV/bin/python" scripts/bench/bench_cluster.py --bin-dir "$BIN_DIR" ${CLUSTER_BENCH_ARGS:-} \
      || status=$?
    exit "$status" ;;
esac
