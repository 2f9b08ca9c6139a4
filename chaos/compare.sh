#!/usr/bin/env bash
# A host's link down on three namespaced hosts, raftvisord and the Python peer (supervisord 4.3
# + Supvisors 0.19.1 from PyPI) side by side in one run: see chaos/compare.py.
#   chaos/compare.sh                    # 3 rounds per scenario and implementation (~10 min)
#   chaos/compare.sh --rounds 5
#   chaos/compare.sh --bin-dir target/debug --impl raftvisord
# Installs what it needs (iproute2, iptables, the venvs), builds raftvisord in release mode
# unless --bin-dir is given, runs as root, writes chaos/compare.md and chaos/compare.json.
set -euo pipefail
cd "$(dirname "$0")/.."
. chaos/prepare.sh
chaos_prepare compare.sh raftvisord -- "$@"
PEER=$(scripts/bench/peer/setup-peer.sh)
exec "$VENV/bin/python" chaos/compare.py --peer-venv "$PEER" "${ARGS[@]}"
