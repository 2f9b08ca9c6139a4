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


# ------------------------------------------------- the history the checker gets (no root)

sys.path.insert(0, str(REPO / "chaos"))
import chaos  # noqa: E402


def scenario_ops(history: "chaos.History", label: str, t0: float, register_ops) -> float:
    """Adds `register_ops` (Op) then the end-of-scenario reads of every register (all False
    unless named in `register_ops`'s last read), under scenario `label`; the time after."""
    history.scenario = label
    for op in register_ops:
        history.add(op)
    t = t0
    for h in chaos.HOSTS:
        for p in chaos.MARKERS:
            value = next((o.value for o in reversed(register_ops) if o.host == h
                          and o.program == p and o.kind == "read" and o.client == 0), False)
            if not any(o.host == h and o.program == p and o.client == 0
                       for o in register_ops):
                history.add(chaos.Op("read", h, p, value, t, t + 0.001, True, client=0))
            t += 0.002
    return t


def check(history: "chaos.History", tmp_path: Path) -> dict:
    checker = harness.raftvisor_bin("raftvisor-chaoscheck")
    if checker is None:
        pytest.fail("no raftvisor-chaoscheck in RAFTVISOR_BIN_DIR (cargo build --workspace "
                    "--bins)", pytrace=False)
    path = tmp_path / "history.json"
    path.write_text(json.dumps(history.for_checker()))
    r = subprocess.run([str(checker), str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode in (0, 1), r.stderr
    return {v["register"]: v["linearizable"] for v in json.loads(r.stdout)}


def late_write_history(gap: float) -> "chaos.History":
    """Scenario 1: a disable of h2/w2 times out at its client, end reads see False; scenario
    2 changes nothing and ends just before `gap` s after the write's call; scenario 3, from
    then: h2/w2 reads True, then (end read) True. The write landed two segments later."""
    h = chaos.History()
    write = chaos.Op("write", "h2", "w2", True, 10.0, 13.0, False, client=1,
                     error="timed out")
    t = scenario_ops(h, "1:flapping", 13.5, [write])
    t = scenario_ops(h, "2:asymmetric", max(t, 10.0 + gap - 1), [])
    late = [chaos.Op("read", "h2", "w2", True, t + 0.1, t + 0.11, True, client=2),
            chaos.Op("read", "h2", "w2", True, t + 1, t + 1.01, True, client=0)]
    scenario_ops(h, "3:packet-loss", t + 2, late)
    return h


def test_a_write_without_an_answer_may_land_in_the_next_segment(tmp_path):
    verdicts = check(late_write_history(gap=20.0), tmp_path)
    assert verdicts["2:h2/w2"] is True, verdicts
    assert all(verdicts.values()), [r for r, ok in verdicts.items() if not ok]


def test_a_change_nobody_could_have_made_is_still_caught(tmp_path):
    # The same flip, but past the window in which a write without an answer can still land:
    # no write explains it.
    verdicts = check(late_write_history(gap=chaos.LATE_WRITE_WINDOW + 30), tmp_path)
    assert verdicts["2:h2/w2"] is False, verdicts
    assert [r for r, ok in verdicts.items() if not ok] == ["2:h2/w2"], verdicts


def test_refusals_before_any_write_are_certainly_nothing():
    def failed(error: str) -> "chaos.Op":
        return chaos.Op("write", "h1", "w0", True, 1.0, 1.1, False, error=error)

    nothing = [
        "<Fault 101: 'BAD_SUPVISORS_STATE: cut off: this instance cannot reach the quorum'>",
        "<Fault 101: \"BAD_SUPVISORS_STATE: Supvisors (state=DEPLOYMENT) not in state "
        "['OPERATION'] to perform request\">",
        "<Fault 101: 'BAD_SUPVISORS_STATE: leader h1 unreachable: the leader is cut off "
        "from the quorum'>",
        "<Fault 101: 'BAD_SUPVISORS_STATE: leader h3 unreachable: cannot connect to "
        "10.0.0.3:60001: client error (Connect)'>",
        "<Fault 101: 'BAD_SUPVISORS_STATE: no leader: election in progress'>",
        "[Errno 111] Connection refused",
    ]
    maybe = [
        "timed out",
        "<Fault 101: 'BAD_SUPVISORS_STATE: leader h1 unreachable: no answer from "
        "10.0.0.1:60001 within 1.99s'>",
        "<Fault 101: 'BAD_SUPVISORS_STATE: no leader answered within 2.0s: election in "
        "progress or no quorum'>",
        "<Fault 2: 'FAILED: raft error: x'>",
    ]
    assert all(chaos.certainly_nothing(failed(e)) for e in nothing)
    assert not any(chaos.certainly_nothing(failed(e)) for e in maybe)
    acked = chaos.Op("write", "h1", "w0", True, 1.0, 1.1, True)
    assert not chaos.certainly_nothing(acked)


def test_landings_tell_in_scenario_late_and_unexplained_writes():
    def write(value: bool, scenario: str, call: float, ok: bool, error: str = "",
              program: str = "w2") -> "chaos.Op":
        o = chaos.Op("write", "h2", program, value, call, call + 0.2, ok, client=1,
                     error=error, wall_call=100.0 + call)
        o.scenario = scenario
        return o

    refused = "<Fault 101: 'BAD_SUPVISORS_STATE: cut off: this instance cannot reach the quorum'>"
    ops = [write(True, "1:a", 1.0, True),
           write(False, "1:a", 2.0, False, "timed out"),
           write(True, "2:b", 5.0, False, refused, program="w1")]

    def entry(seq: int, text: str, at: float, after: str, instance: str = "h2") -> dict:
        return {"seq": seq, "kind": "command", "instance": instance, "user": "",
                "text": text, "time": at, "gathered_after": after}

    landed = chaos.late_landings(ops, [
        entry(1, "disable w2 on h2", 101.1, "1:a"),
        entry(2, "enable w2 on h2", 107.5, "2:b"),  # its client gave up in 1:a
        entry(3, "disable w1 on h2", 105.1, "2:b"),  # refused before anything was proposed
        entry(4, "enable w0 on h2", 106.0, "2:b"),  # nobody sent it
        entry(5, "disable w0 on every instance", 106.0, "2:b"),  # not a client's
        {"seq": 6, "kind": "instance", "instance": "h1", "text": "instance h1: RUNNING",
         "time": 103.0, "gathered_after": "2:b"},
    ])
    assert (landed["in_scenario"], landed["late"], landed["unexplained"]) == (1, 1, 2), landed
    assert [e["seq"] for e in landed["unexplained_entries"]] == [3, 4], landed
    (late,) = landed["late_writes"]
    assert late["sent_in"] == "1:a" and late["after_call_s"] == 5.5, late
