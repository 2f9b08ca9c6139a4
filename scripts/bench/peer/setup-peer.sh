#!/usr/bin/env bash
# Creates the venv of the benchmarks' Python peer: supervisord 4.3 + Supvisors 0.19 from PyPI
# (the versions of the published baseline), with pyzmq for its ZeroMQ event interface (and the
# subscriber of bench_events.py), psutil for its statistics (on by default in Supvisors, as in
# raftvisord) and selenium for bench_dashboard.py's browser, kept apart from .venv (the tests' reference,
# Supervisor only) and .venv-supvisors (the 0.14 client). Idempotent; prints the venv path.
# Override the location with PEER_VENV.
set -euo pipefail
VENV=${PEER_VENV:-"$(cd "$(dirname "$0")/../../.." && pwd)/.venv-peer"}
if ! "$VENV/bin/python" -c 'import importlib.metadata as m, sys; import zmq, psutil, selenium; sys.exit(m.version("supvisors") != "0.19.1" or m.version("supervisor") != "4.3.0")' 2>/dev/null; then
  python3 -m venv "$VENV" >&2 || { echo "setup-peer.sh: python3 -m venv failed (install python3-venv)" >&2; exit 1; }
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'supervisor==4.3.0' 'supvisors==0.19.1' 'pyzmq>=25,<28' \
    'psutil>=5.9,<8' 'selenium>=4.20,<5' >&2
fi
echo "$VENV"
