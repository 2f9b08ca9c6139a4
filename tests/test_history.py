"""The cluster's history, end to end: a scripted sequence of commands through two instances
(with credentials, so the user is known), then a `kill -9` of the leader; `raftvisorctl
history` on every survivor then shows the same entries in the same order — the commands with
the instance and user that asked, both elections, the lost instance — and `history -f`
follows new entries; the `history` event header carries them to a WebSocket client."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from cluster_harness import Cluster, free_ports
from conftest import require_impl, require_raftvisorctl
from harness import wait_until

PROGRAMS = """
[program:hello]
command = sleep 1000
autostart = false
startsecs = 0
autorestart = false
"""

USER, PASSWORD = "admin", "s3cret"


@pytest.fixture
def cluster(tmp_path):
    require_impl("raftvisord")
    ports = free_ports(3)
    c = Cluster(tmp_path / "c", ["s1", "s2", "s3"], PROGRAMS, loglevel="info",
                overrides={ident: {"event_link": "WS", "event_port": port}
                           for ident, port in zip(["s1", "s2", "s3"], ports)})
    c.event_ports = dict(zip(["s1", "s2", "s3"], ports))
    for inst in c.instances.values():
        inst.username, inst.password = USER, PASSWORD
    yield c
    c.stop_checked()


def ctl(inst, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(require_raftvisorctl()), "-s", f"http://127.0.0.1:{inst.http_port}",
         "-u", USER, "-p", PASSWORD, *args],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def history(inst) -> list[str]:
    done = ctl(inst, "history")
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.splitlines()


def test_every_instance_shows_the_same_history_after_a_leader_kill(cluster):
    from test_events import WsReader
    cluster.start()
    cluster.wait_operation(timeout=30)
    cluster.wait_all_running(timeout=30)
    first_leader = cluster.wait_common_master(cluster.identifiers)
    others = [i for i in cluster.identifiers if i != first_leader]
    asker, other = cluster[others[0]], cluster[others[1]]
    ws = WsReader(cluster.event_ports[other.identifier], "history")
    try:
        sv = asker.sv(timeout=60)
        assert sv.start_process("CONFIG", "hello", "", True) is True
        assert sv.stop_process("hello", True) is True
        assert sv.disable("hello", True) is True
        assert other.sv(timeout=60).enable("hello", True) is True
        # The history event header: the same entries, as they are committed.
        wait_until(lambda: any("enable hello" in b["text"] for _, b in ws.received), 20,
                   interval=0.05, what="the enable entry over the WebSocket")
        assert {h for h, _ in ws.received} == {"history"}
    finally:
        ws.close()

    cluster[first_leader].kill9()
    second_leader = cluster.wait_common_master(others, timeout=30, exclude=[first_leader])

    def settled():
        lines = {ident: history(cluster[ident]) for ident in others}
        texts = lines[others[0]]
        if any(f"instance {first_leader}: SILENT" in line for line in texts) \
                and lines[others[0]] == lines[others[1]]:
            return lines
        return None

    lines = wait_until(settled, 30, interval=0.2,
                       what="the same history on both survivors, with the loss")
    text = "\n".join(lines[others[0]])
    # Every command, with the instance and the user that asked.
    for line_part in [f"command   {asker.identifier} ({USER})",
                      "start_process CONFIG hello", "stop_process hello",
                      "disable hello on", f"command   {other.identifier} ({USER})",
                      "enable hello on"]:
        assert line_part in text, f"{line_part!r} not in:\n{text}"
    # Both elections, the jobs' ends, the instance lost.
    assert f"leader {first_leader} (term" in text, text
    assert f"leader {second_leader} (term" in text, text
    assert "(start_process CONFIG hello) done" in text, text
    assert f"instance {first_leader}: SILENT" in text, text
    # In log order: the Raft indexes never go down.
    indexes = [int(line.split()[2]) for line in lines[others[0]]]
    assert indexes == sorted(indexes), text

    # The killed leader, started again on its data dir, catches up and shows the same
    # entries (and then the later ones, which the survivors show too).
    cluster[first_leader].start()
    cluster.wait_operation(timeout=30)

    def caught_up():
        back = history(cluster[first_leader])
        if any(f"instance {first_leader}: RUNNING" in line
               for line in back[len(lines[others[0]]):]):
            return back
        return None
    back = wait_until(caught_up, 30, interval=0.2,
                      what=f"{first_leader} back with the history and its own return")
    assert back[:len(lines[others[0]])] == lines[others[0]]
    wait_until(lambda: history(cluster[others[0]]) == history(cluster[first_leader]), 20,
               interval=0.2, what="the same history on all three")

    # `history -f` prints the kept entries, then follows.
    follower = subprocess.Popen(
        [str(require_raftvisorctl()), "-s", f"http://127.0.0.1:{asker.http_port}",
         "-u", USER, "-p", PASSWORD, "history", "-f"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        stdin=subprocess.DEVNULL)
    try:
        seen: list[str] = []

        def read_until(needle: str, deadline: float) -> None:
            assert follower.stdout is not None
            while time.monotonic() < deadline:
                line = follower.stdout.readline()
                if not line:
                    break
                seen.append(line)
                if needle in line:
                    return
            raise AssertionError(f"{needle!r} not followed; seen:\n{''.join(seen)}")

        read_until(f"instance {first_leader}: SILENT", time.monotonic() + 20)
        assert asker.sv(timeout=60).disable("hello", True) is True
        read_until("disable hello on", time.monotonic() + 20)
    finally:
        follower.send_signal(signal.SIGINT)
        try:
            follower.wait(timeout=10)
        except subprocess.TimeoutExpired:
            follower.kill()
            follower.wait(timeout=10)
