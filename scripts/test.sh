#!/usr/bin/env bash
# The one command that runs every test: Rust unit + integration tests, then the end-to-end
# Python suites against real raftvisord processes (and the real supervisord / supervisorctl /
# supvisorsctl). Everything the tests need is set up first, so that no test can pass by
# skipping: a test whose dependency is missing fails.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v python3 >/dev/null || { echo "scripts/test.sh: python3 is required (with the venv module)" >&2; exit 1; }
# The Rust tests that drive the real supervisord/supervisorctl find the venv here; the
# xmlrpc interoperability tests run this python.
RAFTVISOR_VENV=$(scripts/setup-python.sh)
RAFTVISOR_SUPVISORS_VENV=$(scripts/setup-supvisors.sh)
RAFTVISOR_PYTHON=$(command -v python3)
export RAFTVISOR_VENV RAFTVISOR_SUPVISORS_VENV RAFTVISOR_PYTHON
cargo build --workspace --bins
cargo test --workspace
# The dependencies against deny.toml: known vulnerabilities (RustSec), licenses, sources.
scripts/deny.sh
scripts/setup-netns.sh
scripts/setup-browser.sh >/dev/null
# The docs' links and the code's pointers into docs/ must resolve.
"$RAFTVISOR_VENV/bin/python" docs/check_links.py
RAFTVISOR_BIN_DIR="$PWD/target/debug" "$RAFTVISOR_VENV/bin/python" -m pytest -q tests
# The chaos suite's short mode (every scenario once, fixed seed) on the same build: faults on
# hosts in network namespaces, invariants from the hosts' processes, linearizability.
chaos/run.sh --bin-dir "$PWD/target/debug" --out "$PWD/target/chaos"
# The fuzz targets (XML-RPC, INI, rules, internal frames), 30 s each from their seeds and what
# earlier runs found: a crash fails the run (scripts/fuzz.sh for longer runs).
scripts/fuzz.sh "${RAFTVISOR_FUZZ_SECONDS:-30}"
