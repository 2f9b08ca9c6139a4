"""raftvisord gives back the memory only its start-up needed (issue 8, idle RSS).

Once start-up is over (5 s after it serves), the daemon drops its clean read-only file pages
(its code, libc's) and trims malloc, once more 30 s later, and again when its resident set has
grown by more than 256 KiB since (checked every 30 s): code that only start-up ran (the config
parser, clap, the first autostart) is no longer resident, while everything it still does keeps
working (its pages come back from the page cache on use). `scripts/bench/idle_rss.py`
measures the figures on a release build.
"""

from __future__ import annotations

import os
from pathlib import Path

import harness

PROGRAMS = "\n".join(f"[program:p{i:02d}]\ncommand = /bin/sleep 100000\nstartsecs = 0\n"
                     for i in range(20))


def code_mapping(pid: int) -> tuple[int, int]:
    """(size kB, Rss kB) of the daemon's own executable code mapping."""
    exe = os.readlink(f"/proc/{pid}/exe")
    size = rss = 0
    current = False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if len(head) >= 5 and "-" in head[0] and len(head[1]) == 4:
            current = len(head) >= 6 and head[5] == exe and "x" in head[1]
        elif current and head and head[0] == "Size:":
            size += int(head[1])
        elif current and head and head[0] == "Rss:":
            rss += int(head[1])
    return size, rss


def all_running(d) -> None:
    harness.wait_until(
        lambda: sum(1 for i in d.proxy(10).supervisor.getAllProcessInfo()
                    if i["statename"] == "RUNNING") == 20, 30, what="20 RUNNING")


def test_idle_daemon_keeps_only_the_code_it_still_runs(raftvisord_factory):
    d = raftvisord_factory(PROGRAMS, loglevel="info")
    all_running(d)
    size, rss_started = code_mapping(d.pid)
    assert size > 0, "the daemon's code mapping was not found in its smaps"

    def given_back():
        size, rss = code_mapping(d.pid)
        return rss < size // 2 and (size, rss)
    # Start-up touched most of the code; the idle daemon runs a small part of it.
    size, rss = harness.wait_until(given_back, 40, interval=0.5,
                                   what="the idle daemon's code below half resident")
    assert rss < rss_started, (rss, rss_started)
    # Everything still works with the pages it dropped: calls, a stop and a start.
    proxy = d.proxy(10)
    assert proxy.supervisor.stopProcess("p00") is True
    assert proxy.supervisor.startProcess("p00") is True
    assert proxy.supervisor.getProcessInfo("p00")["statename"] == "RUNNING"
    assert len(proxy.supervisor.getAllProcessInfo()) == 20


def test_the_daemon_does_not_load_libm(raftvisord_factory):
    """The daemon defines the two math functions it calls (`crates/raftvisord/src/mathlib.rs`),
    so glibc's libm, ~370 KiB resident in an idle daemon, is not loaded. A dependency that
    starts calling another libm function brings it back: this test then says so."""
    d = raftvisord_factory(PROGRAMS, loglevel="info")
    all_running(d)
    paths = (line.split()[5:] for line in Path(f"/proc/{d.pid}/maps").read_text().splitlines())
    libraries = {path[0].rsplit("/", 1)[-1] for path in paths if path and ".so" in path[0]}
    assert any(name.startswith("libc.so") for name in libraries), libraries
    assert not any(name.startswith("libm.so") for name in libraries), libraries
