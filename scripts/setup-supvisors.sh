#!/usr/bin/env bash
# Creates the venv of the Supvisors 0.14 client used by tests/test_supvisorsctl.py: the real
# `supvisorsctl` (and `supvisors_breed`) from PyPI, to check raftvisord's `supvisors` XML-RPC
# namespace against the client it must stay compatible with. Kept apart from .venv because
# supvisors pins its own dependencies. Idempotent; prints the venv path. Override the location
# with RAFTVISOR_SUPVISORS_VENV.
set -euo pipefail
VENV=${RAFTVISOR_SUPVISORS_VENV:-"$(cd "$(dirname "$0")/.." && pwd)/.venv-supvisors"}
if [ ! -x "$VENV/bin/supvisorsctl" ] \
   || ! "$VENV/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("supvisors") != "0.14")' 2>/dev/null; then
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'supvisors==0.14' >&2
fi
echo "$VENV"
