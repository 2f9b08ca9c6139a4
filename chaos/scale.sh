#!/usr/bin/env bash
# raftvisord at scale on namespaced hosts: 25 hosts (5 voters, 20 learners), 40 programs each,
# launched at once, then the loss of 5 learners (see chaos/scale.py).
#   chaos/scale.sh                                   # release build
#   chaos/scale.sh --hosts 10 --programs 10 --bin-dir target/debug
# Installs what it needs (iproute2, iptables, the venv), builds raftvisord in release mode
# unless --bin-dir is given, runs as root, writes chaos/scale.md and chaos/scale.json.
set -euo pipefail
cd "$(dirname "$0")/.."
. chaos/prepare.sh
chaos_prepare scale.sh raftvisord -- "$@"
exec "$VENV/bin/python" chaos/scale.py "${ARGS[@]}"
