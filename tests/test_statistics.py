"""Host and process statistics across a 3-instance cluster.

A program whose child spins one core runs on s1; s1 shows process CPU in IRIX mode
(`stats_irix_mode = true`), s2 and s3 in Solaris mode (Supvisors' default). Every instance
compiles every instance's samples: s2 publishes s1's figures as `pstats` events (IRIX, as
Supvisors publishes them) and `hstats` events; the reads (`supvisors.get_*_statistics`, REST,
raftvisorctl) show the same figure divided by s1's core count on s2. Supvisors 0.18's
methods change the collection of one instance at run time."""

from __future__ import annotations

import json
import subprocess
import urllib.request
import xmlrpc.client

import pytest

from cluster_harness import Cluster
from conftest import require_impl, require_raftvisorctl
from harness import wait_until
from test_events import SseReader

# The shell waits; its child spins. Stopped as a group, so the child goes too.
PROGRAMS = """
[program:busy]
command = /bin/sh -c "while :; do :; done & wait"
autostart = false
startsecs = 0
autorestart = false
stopasgroup = true
killasgroup = true
"""

STATS = {"stats_collecting_period": 1, "stats_periods": "2, 10", "stats_histo": 20}


@pytest.fixture
def cluster(tmp_path):
    require_impl("raftvisord")
    c = Cluster(tmp_path, ["s1", "s2", "s3"], PROGRAMS,
                overrides={"s1": {**STATS, "stats_irix_mode": "true"},
                           "s2": STATS, "s3": STATS},
                loglevel="info")
    try:
        yield c
    finally:
        c.stop_checked()


def ctl(inst, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(require_raftvisorctl()), "-s", f"http://127.0.0.1:{inst.http_port}", *args],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def busy_rows(inst) -> list[dict]:
    return [r for r in inst.sv().get_all_process_statistics(2)
            if r["identifier"] == "s1" and r["namespec"].endswith("busy")]


def test_a_busy_process_is_measured_everywhere_in_each_instance_mode(cluster):
    cluster.start()
    cluster.wait_operation(timeout=30)
    s1, s2, s3 = cluster["s1"], cluster["s2"], cluster["s3"]
    status = s2.sv().get_statistics_status()
    assert status["host_stats"] is True and status["process_stats"] is True
    assert status["collecting_period"] == 1.0
    assert status["periods"] == [2.0, 10.0] and status["irix_mode"] is False
    assert s1.sv().get_statistics_status()["irix_mode"] is True

    sse = SseReader(s2.http_port)
    try:
        assert s1.proxy().supervisor.startProcess("busy") is True
        pid = s1.proxy().supervisor.getProcessInfo("busy")["pid"]
        # s2 publishes s1's figures: the spinning child counts for its parent, in IRIX mode
        # (one core: about 100 %; the machine's other work may take a share).
        i = sse.wait("pstats of busy on s1",
                     lambda h, b: h == "pstats" and b["identifier"] == "s1"
                     and b["namespec"].endswith("busy") and b["target_period"] == 2.0
                     and b["cpu"] > 0, timeout=30)
        header, body = sse.all()[i]
        assert body["pid"] == pid
        assert 40.0 <= body["cpu"] <= 130.0, body
        assert 0.0 < body["mem"] < 5.0, body
        assert set(body) >= {"namespec", "identifier", "pid", "target_period", "period",
                             "cpu", "mem", "now_monotonic"}
        i = sse.wait("hstats of s1",
                     lambda h, b: h == "hstats" and b["identifier"] == "s1", timeout=30)
        hstats = sse.all()[i][1]
        cores = s2.sv().get_statistics_status()["nb_cores"]["s1"]
        assert len(hstats["cpu"]) == cores + 1, hstats
        assert hstats["cpu"][0] > 100.0 / cores * 0.4, hstats  # one core of `cores` busy
        assert 0 < hstats["mem"] < 100 and "lo" in hstats["net_io"], hstats
    finally:
        sse.close()

    # The same figure (same period end) on s1 (IRIX) and s2 (Solaris): divided by the cores.
    def same_figure():
        on_s1 = {r["period"][1]: r["cpu"] for r in busy_rows(s1)}
        on_s2 = {r["period"][1]: r["cpu"] for r in busy_rows(s2)}
        common = set(on_s1) & set(on_s2)
        return [(on_s1[e], on_s2[e]) for e in common if on_s1[e] > 0] or None

    pairs = wait_until(same_figure, 20, what="one figure of busy on both s1 and s2")
    irix, solaris = pairs[0]
    assert solaris == pytest.approx(irix / cores, rel=1e-4), (irix, solaris, cores)

    # The history, from any instance; the host figures too.
    [row] = s3.sv().get_process_statistics("busy", 2)
    assert row["identifier"] == "s1" and row["pid"] == pid and len(row["history"]) >= 1
    host = s3.sv().get_host_statistics("s1")
    assert host and host[-1]["identifier"] == "s1" and host[-1]["target_period"] == 2.0

    # REST gives the same reads.
    with urllib.request.urlopen(
            f"http://127.0.0.1:{s3.http_port}/supvisors/all_process_statistics") as r:
        rows = json.load(r)
    assert any(r["identifier"] == "s1" and r["pid"] == pid for r in rows), rows

    # raftvisorctl: supvisorsctl 0.18's words and output, and the figures in text.
    done = ctl(s2, "stats_status")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "Collecting Host statistics:    True",
        "Collecting Process statistics: True",
        "Collecting statistics period:  1.0",
    ]
    done = ctl(s2, "pstats")
    assert done.returncode == 0 and "busy" in done.stdout and " s1 " in done.stdout, done.stdout
    done = ctl(s2, "hstats", "s1")
    assert done.returncode == 0 and done.stdout.startswith("s1  (period 2s, "), done.stdout

    # Collection changed at run time, on s1 only: its process figures go, everywhere.
    done = ctl(s1, "disable_stats", "process")
    assert done.stdout.strip() == "Process statistics disabled: True", done.stdout
    wait_until(lambda: not busy_rows(s2), 15, what="s1's process figures gone from s2")
    assert s1.sv().get_statistics_status()["process_stats"] is False
    assert s2.sv().get_statistics_status()["process_stats"] is True
    assert s2.sv().get_host_statistics("s1"), "s1's host figures stay"
    done = ctl(s1, "stats_period", "0.5")
    assert done.returncode == 1 and "ERROR (" in done.stdout, done.stdout
    with pytest.raises(xmlrpc.client.Fault) as fault:
        s1.sv().update_collecting_period(5000)
    assert "not in 1..3600" in fault.value.faultString
    done = ctl(s1, "enable_stats", "disk")
    assert done.returncode == 2 and "ERROR: invalid statistics type disk" in done.stdout
