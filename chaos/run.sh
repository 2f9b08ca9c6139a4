#!/usr/bin/env bash
# raftvisor's chaos suite, in one command (see chaos/chaos.py for the scenarios and checks):
#   chaos/run.sh                         # short mode: every scenario once (fixed seed), ~4 min
#   chaos/run.sh --minutes 30 --seed 7   # randomised: a seeded mix for 30 minutes
#   chaos/run.sh --bin-dir target/debug  # an already-built binary (no build here)
# Installs what it needs (iproute2, iptables, the Python venv), builds raftvisord in release
# mode unless --bin-dir is given, runs as root (network namespaces), writes chaos/report.md
# and chaos/report.json, and exits non-zero when an invariant broke.
set -euo pipefail
cd "$(dirname "$0")/.."
. chaos/prepare.sh
chaos_prepare run.sh raftvisord raftvisor-chaoscheck -- "$@"
exec "$VENV/bin/python" chaos/chaos.py "${ARGS[@]}"
