#!/usr/bin/env bash
# The one command that runs every test: Rust unit + integration tests, then the end-to-end
# Python suites against real raftvisord processes (and the real supervisord / supervisorctl).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=$(scripts/setup-python.sh)
cargo build --workspace --bins
cargo test --workspace
scripts/setup-supvisors.sh >/dev/null
scripts/setup-netns.sh
RAFTVISOR_BIN_DIR="$PWD/target/debug" "$VENV/bin/python" -m pytest -q tests
