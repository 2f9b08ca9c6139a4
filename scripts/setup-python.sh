#!/usr/bin/env bash
# Creates the Python venv the compatibility tests and benchmarks use: the real Supervisor 4.3
# (supervisord + supervisorctl) from PyPI, as the reference implementation and as a client, and
# the clients of the event, metrics, REST and dashboard tests (`websockets`, `prometheus_client`'s
# parser, `schemathesis`, `selenium`, which drives Debian's chromium: scripts/setup-browser.sh).
# Idempotent; prints the venv path. Override the location with RAFTVISOR_VENV.
set -euo pipefail
VENV=${RAFTVISOR_VENV:-"$(cd "$(dirname "$0")/.." && pwd)/.venv"}
if [ ! -x "$VENV/bin/supervisord" ] || ! "$VENV/bin/python" -c 'import supervisor, pytest, websockets, prometheus_client, schemathesis, selenium' 2>/dev/null; then
  python3 -m venv "$VENV" >&2 || { echo "setup-python.sh: python3 -m venv failed (install python3-venv)" >&2; exit 1; }
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'supervisor==4.3.0' 'pytest>=8,<9' 'websockets>=14,<16' 'prometheus_client>=0.20,<1' 'schemathesis>=4,<5' 'selenium>=4.20,<5' >&2
fi
echo "$VENV"
