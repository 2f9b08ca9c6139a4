"""The chaos suite's checks can fail: `chaos/chaos.py` run against a configuration that breaks
the guarantee it checks must say so.

With `no_quorum_policy = ignore` a cut-off host keeps what it runs, so when the host running the
SINGLE_INSTANCE sequence loses its link, the majority restarts the sequence elsewhere and each
program runs twice: the run must exit 1, report the duplicate window and the missed recovery,
and still give its linearizability verdict. (The suite itself, every scenario with the
defaults, runs from scripts/test.sh as `chaos/run.sh`.)

Needs root, `ip` and `iptables` (scripts/setup-netns.sh installs them): without them the test
fails, it never skips.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import harness
from harness import HarnessError
from netns_harness import require_root_and_ip

REPO = Path(__file__).resolve().parents[1]


def test_a_host_that_keeps_its_copies_when_cut_off_fails_the_chaos_run(tmp_path):
    try:
        require_root_and_ip()
    except HarnessError as e:
        pytest.fail(str(e), pytrace=False)
    binary = harness.raftvisor_bin("raftvisord")
    if binary is None:
        pytest.fail(harness.unavailable_reason("raftvisord") or "no raftvisord", pytrace=False)
    out = tmp_path / "report"
    r = subprocess.run(
        [sys.executable, str(REPO / "chaos" / "chaos.py"), "--bin-dir", str(binary.parent),
         "--option", "no_quorum_policy=ignore", "--scenarios", "link-down-seq-host",
         "--recovery", "8", "--out", str(out), "--workdir", str(tmp_path / "work")],
        capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert r.returncode == 1, (r.returncode, r.stderr[-4000:])
    report = json.loads((out / "report.json").read_text())
    (result,) = report["results"]
    assert result["scenario"] == "link-down-seq-host"
    assert not result["ok"]
    # Each program of the sequence ran on the cut-off host and on a host of the majority.
    twice = {w["program"] for w in result["duplicate_windows"] if len(w["hosts"]) == 2}
    assert twice == {"first", "second", "third"}, result["duplicate_windows"]
    assert result["duplicate_max_s"] > 1.0, result
    assert result["recovery_s"] is None, result
    assert any("ran on two hosts" in f for f in result["failures"]), result["failures"]
    assert report["end"]["linearizability"]["ok"] is True, report["end"]
    assert "FAILED" in (out / "report.md").read_text()
