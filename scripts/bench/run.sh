#!/usr/bin/env bash
# Benchmark supervisord 4.3 vs raftvisord side by side (see README.md in this directory).
# Sets up the Python venv, builds raftvisord in release mode, runs bench_supervisor.py.
# Extra arguments go to the bench, e.g.:  scripts/bench/run.sh --idle-seconds 10
# RAFTVISOR_BENCH_NO_BUILD=1 skips the cargo build (use already-built binaries).
# If the build fails, the supervisord half still runs and raftvisord is reported "not run".
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=$(scripts/setup-python.sh)
BIN_DIR="${CARGO_TARGET_DIR:-$PWD/target}/release"
if [ "${RAFTVISOR_BENCH_NO_BUILD:-0}" != "1" ]; then
  if ! cargo build --release -p raftvisord; then
    echo "warning: cargo build --release -p raftvisord failed; benchmarking supervisord only" >&2
  fi
fi
exec "$VENV/bin/python" scripts/bench/bench_supervisor.py --bin-dir "$BIN_DIR" "$@"
