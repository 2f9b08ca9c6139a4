#!/usr/bin/env bash
# Builds raftvisord + raftvisorctl (release) and runs ONE standalone instance (no cluster) in the foreground:
# XML-RPC on http://127.0.0.1:9001/RPC2. Ctrl-C stops it (and all its programs).
# In another terminal:  target/release/raftvisorctl -c configs/quickstart.conf status
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p raftvisord -p raftvisorctl
mkdir -p run/quickstart
echo "raftvisord: http://127.0.0.1:9001  (try: target/release/raftvisorctl -c configs/quickstart.conf status)"
exec target/release/raftvisord -c configs/quickstart.conf
