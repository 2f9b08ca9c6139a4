"""End-to-end tests of the Raft cluster: several REAL raftvisord processes on loopback.

Each test builds its own cluster (`cluster_harness.Cluster`: fixed ports reserved up front, a
data dir per instance, small timings: tick 100 ms, inactivity 1 s, election 200–400 ms) and
stops every daemon by PID at teardown, including those killed with -9 (their children are
recorded before the kill and killed by PID if they survived). Every wait polls with a deadline.

Needs raftvisord in $RAFTVISOR_BIN_DIR (a failure without it, never a skip).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import re
import signal
import socket
import struct
import subprocess
import threading
import hmac
import http.client
import time
import xmlrpc.client
from pathlib import Path
from typing import Optional

import pytest

import harness
from cluster_harness import FAST_TIMINGS, Cluster, fault_of
from conftest import require_impl
from harness import wait_until

SECRET = "e2e-cluster-secret"
BAD_SUPVISORS_STATE = 101
INCORRECT_PARAMETERS = 2
# Death evidence from a refused connection only: silence alone takes 30 s.
FAST_TIMINGS_FOR_PROBE = {**FAST_TIMINGS, "inactivity_timeout_ms": 30000}

PROGRAMS = """
[program:web]
command = /bin/sleep 100000
startsecs = 0
stopwaitsecs = 2

[program:manual]
command = /bin/sleep 100000
autostart = false
startsecs = 0
stopwaitsecs = 2

[program:solo]
command = /bin/sleep 100000
autostart = false
startsecs = 0
stopwaitsecs = 2
"""


@pytest.fixture
def make_cluster(tmp_path):
    """`make_cluster(identifiers, **Cluster options)`; every cluster made is stopped at the end."""
    require_impl("raftvisord")
    made: list[Cluster] = []

    def make(identifiers=("s1", "s2", "s3"), programs=PROGRAMS, **opts) -> Cluster:
        opts.setdefault("loglevel", "info")
        c = Cluster(tmp_path / f"c{len(made)}", list(identifiers), programs, **opts)
        made.append(c)
        return c

    yield make
    for c in reversed(made):
        c.stop()
        for inst in c.instances.values():
            # Nothing of ours may survive: daemons and every child (found by the env tag).
            assert not inst.alive(), f"{inst.identifier} still alive after stop"
            assert harness.pids_with_env_tag(inst.tag) == [], \
                f"children of {inst.identifier} survived the cleanup"


def started(make_cluster, identifiers=("s1", "s2", "s3"), **opts) -> Cluster:
    c = make_cluster(identifiers, **opts)
    c.start()
    c.wait_operation(timeout=30)
    c.wait_all_running(timeout=30)
    return c


def local_pid(inst, namespec: str) -> int:
    return inst.local_processes()[namespec]["pid"]


# ----------------------------------------------------------------- 3 instances: formation, failover

def test_three_instances_agree_and_survive_the_loss_of_the_leader(make_cluster):
    c = started(make_cluster)
    leader = c.wait_common_master(c.identifiers)
    assert leader in c.identifiers
    for ident in c.identifiers:
        assert c[ident].state() == "OPERATION"
        assert c[ident].instance_states() == {i: "RUNNING" for i in c.identifiers}

    survivors = [i for i in c.identifiers if i != leader]
    probe = c[survivors[0]]
    c[leader].kill9()
    # Reads on a survivor during the election: they answer at once from the local replica.
    # The only fault allowed is BAD_SUPVISORS_STATE (a global state that left OPERATION).
    unexpected, calls, new_master = [], 0, ""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for method in ("get_all_process_info", "get_all_instances_info", "get_supvisors_state"):
            t0 = time.monotonic()
            try:
                getattr(probe.sv(timeout=3), method)()
            except xmlrpc.client.Fault as f:
                if f.faultCode != BAD_SUPVISORS_STATE or method != "get_all_process_info":
                    unexpected.append((method, f.faultCode, f.faultString))
            except OSError as e:  # includes socket timeouts: a read must never hang
                unexpected.append((method, "transport", repr(e)))
            calls += 1
            assert time.monotonic() - t0 < 3.0, f"{method} took {time.monotonic() - t0:.2f}s"
        new_master = probe.master(timeout=2)
        if new_master and new_master != leader:
            break
        time.sleep(0.02)
    assert unexpected == [], unexpected
    assert calls > 0

    new_master = c.wait_common_master(survivors, timeout=15, exclude=[leader])
    assert new_master in survivors
    c.wait_instance_state(survivors, leader, "SILENT", timeout=15)
    for ident in survivors:
        assert c[ident].state() == "OPERATION"


def refuses_v4(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_three_instances_on_ipv6_loopback_form_a_cluster_and_survive_a_leader_loss(
        make_cluster):
    """`supvisors_list = <s1>[::1]:H:I, …` and `[inet_http_server] port = [::1]:H`: every
    public and internal port on ::1 only, Raft and control RPCs over IPv6, clients with
    `http://[::1]:H` URLs."""
    if not Path("/proc/net/if_inet6").exists() or "00000000000000000000000000000001" \
            not in Path("/proc/net/if_inet6").read_text():
        pytest.fail("no ::1 on the loopback interface: run scripts/setup-netns.sh as root "
                    "(it enables IPv6 on lo) or enable it with "
                    "`sysctl -w net.ipv6.conf.lo.disable_ipv6=0`")
    c = make_cluster(host="::1", secret=SECRET)
    c.start()
    c.wait_operation(timeout=30)
    leader = c.wait_common_master(c.identifiers)
    for ident in c.identifiers:
        inst = c[ident]
        assert inst.instance_states() == {i: "RUNNING" for i in c.identifiers}
        # Both ports are on ::1, not on 127.0.0.1.
        for port in (inst.http_port, inst.internal_port):
            socket.create_connection(("::1", port), timeout=2).close()
            assert refuses_v4(port), f"{ident}: port {port} answers on 127.0.0.1"

    # raftvisorctl with an IPv6 URL.
    ctl = harness.raftvisor_bin("raftvisorctl")
    assert ctl is not None
    out = subprocess.run([str(ctl), "-s", f"http://[::1]:{c[leader].http_port}", "status"],
                         capture_output=True, text=True, timeout=30)
    # (exit status 3: some programs are not running, as supervisorctl says it)
    assert re.search(r"^web\s+RUNNING", out.stdout, re.M), (out.returncode, out.stdout, out.stderr)
    # A write through a follower is forwarded to the leader over IPv6.
    follower = next(i for i in c.identifiers if i != leader)
    assert c[follower].sv().disable("manual", True) is True

    # Failover over IPv6: the leader killed, a new one elected, the old one SILENT.
    survivors = [i for i in c.identifiers if i != leader]
    c[leader].kill9()
    new_master = c.wait_common_master(survivors, timeout=15, exclude=[leader])
    assert new_master in survivors
    c.wait_instance_state(survivors, leader, "SILENT", timeout=15)


def test_follower_loss_is_silent_everywhere_and_it_rejoins_with_its_data_dir(make_cluster):
    c = started(make_cluster)
    leader = c.wait_common_master(c.identifiers)
    follower = next(i for i in c.identifiers if i != leader)
    others = [i for i in c.identifiers if i != follower]
    victim = c[follower]
    child = local_pid(victim, "web")
    child_start = harness.proc_start_time(child)
    assert child > 0 and child_start is not None

    victim.kill9()
    # The children of a kill -9'd raftvisord die with it (PDEATHSIG), they are not orphaned.
    wait_until(lambda: not harness.still_same_process(child, child_start), 10,
               what=f"child {child} of the killed {follower} to die")
    c.wait_instance_state(others, follower, "SILENT", timeout=15)
    assert c.wait_common_master(others, timeout=10) == leader  # a follower loss keeps the leader

    victim.start()  # same ports, same data dir
    assert any(victim.data_dir.iterdir()), "the data dir should have survived the kill"
    c.wait_instance_state(c.identifiers, follower, "RUNNING", timeout=20)
    c.wait_operation([follower], timeout=20)
    assert c.wait_common_master(c.identifiers, timeout=10)
    # Its new child is known again everywhere.
    wait_until(lambda: local_pid(victim, "web") not in (0, child), 10, what="web restarted")
    for ident in c.identifiers:
        wait_until(lambda ident=ident: follower in
                   c[ident].synthetic_processes()["web:web"]["identifiers"],
                   10, what=f"{ident} to list web on {follower}")


def test_a_killed_daemon_is_found_by_its_closed_port_long_before_the_inactivity_timeout(
        make_cluster):
    """With a 30 s inactivity timeout, only the refused connection to a dead daemon's internal
    port can make it SILENT within 10 s: first a follower, then (once it is back) the leader."""
    timings = dict(FAST_TIMINGS_FOR_PROBE)
    c = started(make_cluster, timings=timings)
    leader = c.wait_common_master(c.identifiers)
    follower = next(i for i in c.identifiers if i != leader)
    others = [i for i in c.identifiers if i != follower]
    c[follower].kill9()
    c.wait_instance_state(others, follower, "SILENT", timeout=10)
    # Found dead, it stays SILENT: no CHECKING back while its last tick is recent.
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        assert c[leader].instance_states()[follower] == "SILENT"
        time.sleep(0.1)

    c[follower].start()
    c.wait_instance_state(c.identifiers, follower, "RUNNING", timeout=20)
    c.wait_operation(c.identifiers, timeout=20)
    leader = c.wait_common_master(c.identifiers)
    survivors = [i for i in c.identifiers if i != leader]
    c[leader].kill9()
    c.wait_common_master(survivors, timeout=10, exclude=[leader])
    c.wait_instance_state(survivors, leader, "SILENT", timeout=10)


# ----------------------------------------------------------------- replicated writes

def test_disable_through_a_follower_is_replicated_and_persistent(make_cluster):
    c = started(make_cluster, secret=SECRET)
    leader = c.wait_common_master(c.identifiers)
    follower = next(i for i in c.identifiers if i != leader)

    # A write sent to a follower is forwarded to the leader and lands.
    assert c[follower].sv().disable("manual", True) is True
    assert c[follower].local_processes()["manual"]["disabled"] is True
    # `web` has autostart=true: disabling it stops it here, and it must not come back at boot.
    assert c[follower].sv().disable("web", True) is True
    assert c[follower].local_processes()["web"]["statename"] == "STOPPED"
    for ident in c.identifiers:
        if ident != follower:  # disable targets the instance it was sent to, only
            assert c[ident].local_processes()["manual"]["disabled"] is False

    # Everything stopped (SIGTERM), then restarted: the flag comes back from the Raft log.
    c.stop()
    c.start()
    c.wait_operation(timeout=30)
    c.wait_all_running(timeout=30)
    wait_until(lambda: c[follower].local_processes()["manual"]["disabled"] is True, 10,
               what="disabled after a full restart")
    assert c[leader].local_processes()["manual"]["disabled"] is False
    # A disabled autostart program is not started at boot (the autostart waits for the replica),
    # while the same program runs on the other instances.
    web_here = c[follower].local_processes()["web"]
    assert web_here["disabled"] is True and web_here["statename"] == "STOPPED", web_here
    assert web_here["start"] == 0, "web was started at boot although disabled"
    wait_until(lambda: c[leader].local_processes()["web"]["statename"] == "RUNNING", 10,
               what="web RUNNING where it is enabled")

    # And enable through the same follower undoes it.
    assert c[follower].sv().enable("manual", True) is True
    assert c[follower].local_processes()["manual"]["disabled"] is False


def test_a_member_with_a_wiped_data_dir_is_refused_and_the_cluster_is_unharmed(make_cluster):
    """A member whose Raft state was lost must not rejoin with an empty log: openraft's leader
    cannot follow a log that went backwards (it panics), and a voter that forgot its vote and log
    could elect a stale leader. raftvisord refuses to start, says why, and the others go on."""
    c = started(make_cluster)
    leader = c.wait_common_master(c.identifiers)
    follower = next(i for i in c.identifiers if i != leader)
    others = [i for i in c.identifiers if i != follower]

    c.stop([follower])
    c.wait_instance_state(others, follower, "SILENT")
    _wipe(c[follower].data_dir)
    with pytest.raises(harness.HarnessError) as refused:
        c[follower].start(timeout=15)
    assert "holds no Raft state" in str(refused.value), str(refused.value)
    assert not c[follower].alive()

    # Nothing was lost on the majority: same master, writes still commit, no panic.
    assert c.wait_common_master(others, timeout=5) == leader
    assert c[others[-1]].sv().disable("manual", True) is True
    assert "panicked" not in c[leader].log_text()
    assert c[leader].state() == "OPERATION"


def _since_last_start(inst) -> str:
    """The part of the instance's main log written by its latest start."""
    text = (inst.workdir / "daemon.log").read_text(errors="replace")
    at = text.rfind("cluster node starting")
    assert at >= 0, "no start in the log"
    return text[at:]


def test_a_restarted_former_master_never_acts_or_answers_as_master_at_a_stale_term(make_cluster):
    """openraft restores a restarted former leader as the leader of its old term until it
    hears of the newer one: meanwhile it must neither call itself master nor act as one."""
    c = started(make_cluster)
    leader = c.wait_common_master(c.identifiers)
    survivors = [i for i in c.identifiers if i != leader]
    old = c[leader]
    old.kill9()
    new_master = c.wait_common_master(survivors, timeout=10, exclude=[leader])
    old.start()
    seen = []
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        seen.append(old.master(timeout=2))
        time.sleep(0.01)
    assert leader not in seen, f"the restarted {leader} named itself master: {seen}"
    assert c.wait_common_master(c.identifiers, timeout=10) == new_master
    log = _since_last_start(old)
    assert "became leader (master)" not in log, log[-3000:]
    assert "leadership lost" not in log, log[-3000:]


def _members(inst) -> dict[str, dict]:
    return {m["identifier"]: m for m in inst.sv(timeout=60).get_raft_members()}


def _ctl(inst, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(harness.raftvisor_bin("raftvisorctl")), "-s", f"http://127.0.0.1:{inst.http_port}",
         *args], capture_output=True, text=True, timeout=90)


def _whole(c: Cluster, voters: list[str], timeout: float = 30) -> None:
    """Every instance lists `voters` as the Raft voters, with a master they all agree on."""
    for ident in c.identifiers:
        wait_until(lambda ident=ident: sorted(c[ident].sv().get_raft_status()["voters"])
                   == sorted(voters), timeout, what=f"{ident} to list the voters {voters}")
    c.wait_common_master(c.identifiers, timeout=timeout)


def _a_follower_wiped_and_the_leader_down(make_cluster):
    """A formed cluster where one follower (`wiped`) was stopped, seen SILENT, and lost its
    data dir, then the leader was killed: only `witness` is left running."""
    c = started(make_cluster)
    leader = c.wait_common_master(c.identifiers)
    wiped, witness = [i for i in c.identifiers if i != leader]
    c.stop([wiped])
    c.wait_instance_state([leader, witness], wiped, "SILENT")
    _wipe(c[wiped].data_dir)
    c[leader].kill9()
    return c, leader, wiped, witness


def test_a_wiped_voter_is_refused_while_the_leader_is_down_and_comes_back_as_a_voter(
        make_cluster):
    """Only a follower is reachable when the wiped voter starts (the leader is down): it still
    knows the wiped instance took part, so it is refused; the operator procedure (remove_member,
    start it with its empty data dir, add_member) brings it back and the cluster is whole."""
    c, leader, wiped, witness = _a_follower_wiped_and_the_leader_down(make_cluster)

    with pytest.raises(harness.HarnessError) as refused:
        c[wiped].start(timeout=15)
    assert "holds no Raft state" in str(refused.value), str(refused.value)
    assert f"{witness} knows this instance" in str(refused.value), str(refused.value)
    assert "remove_member" in str(refused.value)
    assert not c[wiped].alive()
    assert c[wiped].proc.returncode == 78  # an operator is needed: systemd does not loop

    # The operator: the old leader back (a quorum again), remove the wiped member...
    c[leader].start()
    pair = [leader, witness]
    c.wait_common_master(pair, timeout=15)
    c.wait_all_running(pair, pair, timeout=20)
    assert _members(c[witness])[wiped]["role"] == "voter"
    out = _ctl(c[witness], "remove_member", wiped)
    assert out.returncode == 0 and f"{wiped} removed: True" in out.stdout, out
    assert wiped not in _members(c[witness])
    # ...start it with its empty data dir (not a member: it waits), add it back.
    c[wiped].start(timeout=30)
    out = _ctl(c[leader], "add_member", wiped)
    assert out.returncode == 0 and f"{wiped} added: True" in out.stdout, out
    members = _members(c[wiped])
    assert {i: m["role"] for i, m in members.items()} == {i: "voter" for i in c.identifiers}
    _whole(c, c.identifiers)
    c.wait_all_running(timeout=30)
    wait_until(lambda: _members(c[leader])[wiped]["lag"] == 0, 10, what=f"{wiped} caught up")
    # A voter again: with the witness gone, the other two still make a quorum.
    c[witness].kill9()
    others = [leader, wiped]
    c.wait_common_master(others, timeout=15, exclude=[witness])
    # Every instance of the last deployment has now restarted or is lost (the leader and the
    # wiped one restarted, the witness killed): once the witness is declared lost the cluster
    # deploys again, through INITIALIZATION, where `disable` is refused. OPERATION seen before
    # that transition proves nothing, so the write is retried while it is refused for the
    # state (a refusal made before any write), and must then succeed.
    c.wait_instance_state(others, witness, ("SILENT", "ISOLATED"), timeout=30)
    c.wait_operation(others, timeout=30)

    def disabled() -> bool:
        try:
            return c[wiped].sv().disable("manual", True) is True
        except xmlrpc.client.Fault as e:
            if "BAD_SUPVISORS_STATE" not in e.faultString:
                raise
            return False
    wait_until(disabled, 30, what="disable accepted once the cluster has deployed again")


def test_a_wiped_voter_that_no_peer_could_vouch_for_takes_no_part_and_exits_once_one_answers(
        make_cluster):
    """Nobody answers when the wiped voter starts: it starts but refuses votes; the first peer
    back knows it took part, so it exits (78) without having voted, and that peer, alone with
    it, never becomes master."""
    c, leader, wiped, witness = _a_follower_wiped_and_the_leader_down(make_cluster)
    c[witness].kill9()

    c[wiped].start(timeout=15)  # nobody to ask: it starts, unverified
    wait_until(lambda: "takes no part in votes until a peer confirms" in c[wiped].log_text(),
               10, what="the wiped instance to say it takes no part in votes")
    c[witness].start(timeout=15)
    masters = []
    deadline = time.monotonic() + 20
    while c[wiped].alive() and time.monotonic() < deadline:
        masters.append(c[witness].master(timeout=2))
        time.sleep(0.05)
    assert not c[wiped].alive(), "the wiped instance should have exited"
    assert c[wiped].proc.returncode == 78, c[wiped].proc.returncode
    assert f"{witness} knows this instance" in c[wiped].log_text()
    # Its vote would have made the witness master (2 of 3): it never did.
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        masters.append(c[witness].master(timeout=2))
        time.sleep(0.05)
    assert set(masters) <= {""}, masters
    c[leader].start()
    pair = [leader, witness]
    c.wait_common_master(pair, timeout=15)


def test_membership_commands_list_remove_and_add_back_and_refuse_to_lose_the_quorum(
        make_cluster):
    ids = ["s1", "s2", "s3", "s4"]
    c = started(make_cluster, ids, voters=["s1", "s2", "s3"])
    leader = c.wait_common_master(ids)
    wait_until(lambda: "s4" in _members(c[leader]), 15, what="s4 to join as a learner")
    # Listed by the leader, asked on any instance (a learner here).
    members = _members(c["s4"])
    assert {i: m["role"] for i, m in members.items()} == {
        "s1": "voter", "s2": "voter", "s3": "voter", "s4": "learner"}
    assert [i for i, m in members.items() if m["leader"]] == [leader]
    for m in members.values():
        assert m["matched_index"] >= 0 and m["lag"] >= 0, m
    table = _ctl(c["s2"], "members")
    assert table.returncode == 0, table
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["Member", "Role", "Matched", "Lag"], lines
    assert any(l.split()[:3] == [leader, "voter", "*"] for l in lines), lines
    assert any(l.split()[:2] == ["s4", "learner"] for l in lines), lines

    down, kept = [v for v in ("s1", "s2", "s3") if v != leader]
    c.stop([down])
    c.wait_instance_state([leader, kept], down, "SILENT")
    # Removing a running voter while another is down would leave {leader, down}: no quorum.
    fault = fault_of(lambda: c[kept].sv(timeout=60).remove_member(kept))
    assert fault is not None and fault.faultCode == BAD_SUPVISORS_STATE, fault
    assert "would lose the quorum" in fault.faultString, fault.faultString
    out = _ctl(c["s4"], "remove_member", kept)
    assert out.returncode != 0 and "would lose the quorum" in out.stdout, out
    assert _members(c[leader])[kept]["role"] == "voter"
    fault = fault_of(lambda: c["s4"].sv().remove_member(leader))
    assert fault is not None and fault.faultCode == BAD_SUPVISORS_STATE, fault
    assert "is the master: stop its raftvisord first" in fault.faultString
    fault = fault_of(lambda: c[leader].sv().remove_member("nobody"))
    assert fault is not None and fault.faultCode == INCORRECT_PARAMETERS, fault
    fault = fault_of(lambda: c[leader].sv().add_member(kept))
    assert fault is not None and fault.faultCode == INCORRECT_PARAMETERS, fault
    assert "already a Raft voter" in fault.faultString

    # The stopped voter can go; the cluster goes on with 2 voters.
    assert c[kept].sv(timeout=60).remove_member(down) is True
    assert sorted(c[leader].sv().get_raft_status()["voters"]) == sorted([leader, kept])
    assert c["s4"].sv().disable("manual", True) is True
    # Restarted with its old data dir, the removed voter is refused: its log would make it
    # call elections; it must come back empty.
    with pytest.raises(harness.HarnessError) as refused:
        c[down].start(timeout=15)
    assert "no longer a Raft member" in str(refused.value), str(refused.value)
    assert c[down].proc.returncode == 78
    _wipe(c[down].data_dir)
    c[down].start(timeout=30)
    assert c[leader].sv(timeout=60).add_member(down) is True
    _whole(c, ["s1", "s2", "s3"])

    # A learner: stopped, removed, back by itself when it starts again (learners join).
    c.stop(["s4"])
    assert c[kept].sv(timeout=60).remove_member("s4") is True
    assert "s4" not in _members(c[leader])
    _wipe(c["s4"].data_dir)
    c["s4"].start(timeout=30)
    wait_until(lambda: _members(c[leader]).get("s4", {}).get("role") == "learner", 20,
               what="s4 back as a learner")
    c.wait_all_running(timeout=30)


@pytest.mark.parametrize("role", ["follower", "leader"])
def test_an_ended_raft_core_takes_the_instance_out_of_the_cluster(make_cluster, monkeypatch,
                                                                  tmp_path, role):
    """Fault injection (debug builds): the Raft core of one instance ends while the rest of
    its daemon runs. It stops ticking, is cut off and exits non-zero with a clear message;
    the others see it SILENT within the inactivity timeout (1 s here)."""
    c = make_cluster()
    for ident in c.identifiers:  # each instance watches its own trigger file
        monkeypatch.setenv("RAFTVISOR_TEST_END_RAFT_CORE_WHEN", str(tmp_path / f"end-{ident}"))
        c.start([ident])
    monkeypatch.delenv("RAFTVISOR_TEST_END_RAFT_CORE_WHEN")
    c.wait_operation(timeout=30)
    c.wait_all_running(timeout=30)
    leader = c.wait_common_master(c.identifiers)
    name = leader if role == "leader" else next(i for i in c.identifiers if i != leader)
    others = [i for i in c.identifiers if i != name]
    victim = c[name]
    assert "fault injection armed" in victim.log_text()
    web = local_pid(victim, "web")
    web_start = harness.proc_start_time(web)
    t0 = time.monotonic()
    (tmp_path / f"end-{name}").touch()
    c.wait_instance_state(others, name, "SILENT", timeout=10)
    took = time.monotonic() - t0
    # Inactivity timeout 1 s; the rest is slack for a loaded 2-core machine.
    assert took < 1.0 + 1.5, f"{name} SILENT only after {took:.2f}s"
    victim.proc.wait(timeout=20)
    assert victim.proc.returncode == 1, victim.proc.returncode
    log = victim.log_text()
    assert "the Raft core has stopped" in log
    assert "it is cut off (writes refused, no master named)" in log
    assert "exited so that it can be restarted" in log
    wait_until(lambda: not harness.still_same_process(web, web_start), 10,
               what=f"{name}'s children to be stopped")
    # The cluster goes on without it.
    master = c.wait_common_master(others, timeout=10, exclude=[name])
    if role == "follower":
        assert master == leader
    assert c[others[0]].sv().disable("manual", True) is True


def _wipe(path: Path) -> None:
    for p in sorted(path.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        p.rmdir() if p.is_dir() else p.unlink()


def test_writes_without_quorum_fail_fast_and_reads_keep_answering(make_cluster):
    c = started(make_cluster)
    leader = c.wait_common_master(c.identifiers)
    # The harshest survivor is the old leader: it believes it leads until it sees no quorum.
    for ident in c.identifiers:
        if ident != leader:
            c[ident].kill9()
    survivor = c[leader]
    for attempt in range(3):
        t0 = time.monotonic()
        fault = fault_of(lambda: survivor.sv(timeout=15).disable("manual", True))
        took = time.monotonic() - t0
        assert fault is not None, "a write without quorum must not succeed"
        assert fault.faultCode == BAD_SUPVISORS_STATE, fault.faultString
        assert took < 3.0, f"attempt {attempt}: the fault took {took:.2f}s ({fault.faultString})"
    # Reads still answer (from the last replica).
    assert len(survivor.sv(timeout=3).get_all_instances_info()) == 3
    assert "web:web" in survivor.synthetic_processes(timeout=3)
    assert survivor.local_processes(timeout=3)["manual"]["disabled"] is False


def test_a_leader_cut_off_from_the_quorum_stops_naming_itself_master(make_cluster):
    c = started(make_cluster)
    leader = c.wait_common_master(c.identifiers)
    for ident in c.identifiers:
        if ident != leader:
            c[ident].kill9()
    # Well past the fencing timeout (500 ms) and the inactivity timeout (1 s).
    wait_until(lambda: c[leader].master(timeout=2) == "", 5,
               what="the cut-off leader to stop naming itself master")


def test_a_partitioned_leader_fences_itself_then_rejoins_and_reports_its_true_state(make_cluster):
    """The majority is frozen (SIGSTOP: on loopback, the cut that needs no privileges): the old
    leader, alone, must stop naming itself master and refuse writes, while its own supervisor
    keeps working. When the partition heals (SIGCONT), it rejoins and the others learn what
    really happened on it meanwhile."""
    c = started(make_cluster)
    leader = c.wait_common_master(c.identifiers)
    majority = [i for i in c.identifiers if i != leader]
    alone = c[leader]
    try:
        for ident in majority:
            os.kill(c[ident].pid, signal.SIGSTOP)
        wait_until(lambda: alone.master(timeout=2) == "", 5,
                   what="the isolated leader to stop naming itself master")
        fault = fault_of(lambda: alone.sv(timeout=10).disable("solo", True))
        assert fault is not None and fault.faultCode == BAD_SUPVISORS_STATE, fault
        # procman keeps working without a quorum: a local change while cut off.
        assert alone.proxy().supervisor.stopProcess("web") is True
    finally:
        for ident in majority:
            os.kill(c[ident].pid, signal.SIGCONT)
    c.wait_common_master(c.identifiers, timeout=15)
    c.wait_all_running(timeout=15)

    def web_not_on_old_leader() -> bool:
        return all(leader not in c[i].synthetic_processes(timeout=3)["web:web"]["identifiers"]
                   for i in c.identifiers)
    wait_until(web_not_on_old_leader, 10,
               what="every replica to learn that web stopped on the healed instance")
    # And writes work again through the healed instance.
    assert alone.sv(timeout=10).disable("solo", True) is True


def test_a_disabled_program_cannot_be_started(make_cluster):
    c = started(make_cluster)
    inst = c["s2"]
    assert inst.sv().disable("manual", True) is True
    fault = fault_of(lambda: inst.proxy().supervisor.startProcess("manual"))
    assert fault is not None and fault.faultCode == 103, fault
    assert inst.local_processes()["manual"]["statename"] == "STOPPED"


# ----------------------------------------------------------------- voters and learners

def test_five_instances_three_voters_two_learners(make_cluster):
    ids = ["s1", "s2", "s3", "s4", "s5"]
    c = started(make_cluster, ids, voters=["s1", "s2", "s3"])
    leader = c.wait_common_master(ids)
    assert leader in ("s1", "s2", "s3"), "the master is always a voter"
    for ident in ids:
        assert c[ident].state() == "OPERATION"
        assert set(c[ident].instance_states().values()) == {"RUNNING"}

    c["s5"].kill9()
    c.wait_instance_state(["s1", "s2", "s3", "s4"], "s5", "SILENT", timeout=15)
    # Losing a learner never blocks writes, through a voter or through the other learner.
    for ident in ("s2", "s4"):
        t0 = time.monotonic()
        assert c[ident].sv().disable("manual", True) is True
        assert time.monotonic() - t0 < 3
        assert c[ident].local_processes()["manual"]["disabled"] is True
    assert c.wait_common_master(["s1", "s2", "s3", "s4"]) == leader

    # Losing a learner AND a voter (2 of 3 voters left) still commits.
    victim = next(v for v in ("s1", "s2", "s3") if v != leader)
    c[victim].kill9()
    left = [i for i in ids if i not in ("s5", victim)]
    c.wait_instance_state(left, victim, "SILENT", timeout=15)
    assert c["s4"].sv().enable("manual", True) is True


# ----------------------------------------------------------------- process events

def test_process_state_change_on_one_instance_is_seen_by_all(make_cluster):
    c = started(make_cluster)
    owner = c["s3"]

    def everywhere(statename, identifiers):
        for ident in c.identifiers:
            wait_until(lambda ident=ident: (
                (p := c[ident].synthetic_processes()["solo:solo"])["statename"] == statename
                and p["identifiers"] == identifiers),
                10, what=f"{ident} to show solo {statename} on {identifiers}")

    everywhere("STOPPED", [])
    assert owner.proxy().supervisor.startProcess("solo") is True
    everywhere("RUNNING", ["s3"])
    assert owner.proxy().supervisor.stopProcess("solo") is True
    everywhere("STOPPED", [])


# ----------------------------------------------------------------- bad input

def _fnv1a64(text: str) -> int:
    h = 0xCBF29CE484222325
    for b in text.encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def fence_bound_ms(options: dict) -> int:
    """model's `SupvisorsSpec::fence_bound` with the default no_quorum_policy (stop_movable),
    recomputed independently from the options (crates/config/SUPVISORS_OPTIONS.md)."""
    tick = int(options.get("tick_interval_ms", 100))
    inactivity = int(options.get("inactivity_timeout_ms", 800))
    heartbeat = int(options.get("raft_heartbeat_ms", 125))
    election_max = int(options.get("raft_election_timeout_max_ms", 300))
    fencing = int(options.get("fencing_timeout_ms",
                              max(inactivity - 150, election_max * 7 // 4 + heartbeat)))
    stop = int(options.get("fence_stop_timeout_ms", 1000))
    call = min(max(tick, 100), 1000)
    return 2 * call + fencing + tick + 50 + stop + 250


def cluster_fingerprint(c: Cluster, voters: list[str], secret: bool) -> str:
    """crates/cluster/src/auth.rs `fingerprint`, recomputed independently."""
    instances = sorted(f"{i}=127.0.0.1:{h}:{p}" for i, h, p in c.members)
    options = next(iter(c.instances.values())).options
    text = (f"voters={','.join(sorted(voters))}\ninstances={','.join(instances)}\n"
            f"secret={'true' if secret else 'false'}\n"
            f"fence=stop_movable/{fence_bound_ms(options)}")
    return f"{_fnv1a64(text):016x}"


_NONCES = itertools.count(random.randrange(1 << 62))


def cluster_token(secret: str, identifier: str, fingerprint: str, path: str, body: bytes,
                  at_ms: Optional[int] = None, nonce: Optional[int] = None) -> str:
    """crates/cluster/src/auth.rs `sign`, recomputed independently: one request's token."""
    at_ms = int(time.time() * 1000) if at_ms is None else at_ms
    nonce = next(_NONCES) if nonce is None else nonce
    digest = hashlib.sha1(body).hexdigest()
    msg = (f"raftvisor-internal-v2\n{identifier}\n{fingerprint}\n{path}\n{at_ms}\n"
           f"{nonce:016x}\n{digest}").encode()
    mac = hmac.new(secret.encode(), msg, hashlib.sha1).hexdigest()
    return f"{at_ms}.{nonce:016x}.{digest}.{mac}"


def signed(identity: dict[str, str], path: str, body: bytes, secret: str = "",
           **stamp) -> dict[str, str]:
    """`identity` (from, fingerprint) with the token of one request to `path` with `body`."""
    return {**identity, "x-raftvisor-token": cluster_token(
        secret or SECRET, identity["x-raftvisor-from"], identity["x-raftvisor-fingerprint"],
        path, body, **stamp)}


def post_internal(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("POST", path, body=body,
                     headers={"Content-Type": "application/octet-stream", **headers})
        resp = conn.getresponse()
        return resp.status, resp.read(2000).decode(errors="replace")
    finally:
        conn.close()


def open_stream_and_send(port: int, headers: dict[str, str], frame: bytes) -> bytes:
    """Opens an append stream (POST /raft/stream, `headers`), checks the 101, sends `frame` and
    returns what the server sends back before it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        head = "POST /raft/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        s.sendall(head.encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = s.recv(4096)
            assert chunk, f"closed before the upgrade's answer: {answer!r}"
            answer += chunk
        status, rest = answer.split(b"\r\n\r\n", 1)
        assert status.split()[1] == b"101", status
        s.sendall(frame)
        received = rest
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return received
            received += chunk


def codec_version() -> int:
    """FORMAT_VERSION of crates/cluster/src/codec.rs: the first byte of every internal body."""
    source = (Path(__file__).parent.parent / "crates/cluster/src/codec.rs").read_text()
    match = re.search(r"pub const FORMAT_VERSION: u8 = (\d+);", source)
    assert match, "FORMAT_VERSION not found in codec.rs"
    return int(match.group(1))


def test_internal_port_refuses_unauthenticated_and_garbage_requests(make_cluster):
    c = started(make_cluster, secret=SECRET)
    leader = c.wait_common_master(c.identifiers)
    target = c["s1"]
    fp = cluster_fingerprint(c, c.identifiers, secret=True)
    s2 = {"x-raftvisor-from": "s2", "x-raftvisor-fingerprint": fp}
    port = target.internal_port

    # Positive control: our headers are right (an empty-unit hello is the codec version byte alone;
    # crates/cluster/src/codec.rs FORMAT_VERSION).
    hello = bytes([codec_version()])
    good = signed(s2, "/ctl/hello", hello)
    assert post_internal(port, "/ctl/hello", hello, good)[0] == 200
    # The same request again (captured and replayed): refused, as its nonce was seen.
    status, text = post_internal(port, "/ctl/hello", hello, good)
    assert status == 401 and "replayed" in text, (status, text)
    # Its token with another body, on another path, as another sender, from a clock 60 s away,
    # under another secret: refused.
    assert post_internal(port, "/ctl/hello", hello + b"\x00", signed(s2, "/ctl/hello", hello))[0] == 401
    assert post_internal(port, "/ctl/write", hello, signed(s2, "/ctl/hello", hello))[0] == 401
    s3 = dict(s2, **{"x-raftvisor-from": "s3"})
    assert post_internal(port, "/ctl/hello", hello,
                         dict(signed(s2, "/ctl/hello", hello), **{"x-raftvisor-from": "s3"}))[0] == 401
    assert post_internal(port, "/ctl/hello", hello, signed(s3, "/ctl/hello", hello))[0] == 200
    status, text = post_internal(port, "/ctl/hello", hello, signed(
        s2, "/ctl/hello", hello, at_ms=int(time.time() * 1000) - 60_000))
    assert status == 401 and "clock" in text, (status, text)
    assert post_internal(port, "/raft/vote", b"\x01\x00",
                         signed(s2, "/raft/vote", b"\x01\x00", secret="guess"))[0] == 401

    assert post_internal(port, "/ctl/write", b"\x01\x00", {})[0] in (401, 403)
    assert post_internal(port, "/ctl/write", b"\x01\x00", s2)[0] in (401, 403)
    other_fp = dict(signed(s2, "/raft/append", b"\x01"), **{"x-raftvisor-fingerprint": "0" * 16})
    assert post_internal(port, "/raft/append", b"\x01", other_fp)[0] in (401, 403)
    # Valid headers, garbage bincode bodies: 400, nothing applied.
    for path in ("/ctl/write", "/ctl/tick", "/raft/append", "/raft/vote", "/raft/snapshot"):
        for body in (b"", b"\x07garbage", b"\x01" + b"\xff" * 64, b"\x02" + b"\xff" * 64):
            status, text = post_internal(port, path, body, signed(s2, path, body))
            assert status == 400, (path, body, status, text)

    # The append stream (crates/cluster/src/stream.rs): refused without credentials like any
    # request; opened with them, a garbage frame, then a frame announcing more than the body
    # limit, each close it at once (nothing applied, nothing buffered).
    upgrade = {"Connection": "upgrade", "Upgrade": "raftvisor-append/1"}
    assert post_internal(port, "/raft/stream", b"", upgrade)[0] in (401, 403)
    for frame in (struct.pack(">I", 8) + b"\x07garbage"[:8],
                  struct.pack(">I", (64 << 20) + 1) + b"\x01" * 64):
        stream = {**signed(s2, "/raft/stream", b""), **upgrade}
        assert open_stream_and_send(port, stream, frame) == b""

    # The cluster did not notice.
    assert c.wait_common_master(c.identifiers, timeout=5) == leader
    for ident in c.identifiers:
        assert c[ident].state() == "OPERATION"
        assert set(c[ident].instance_states().values()) == {"RUNNING"}
    assert c["s1"].sv().disable("manual", True) is True
    assert "internal request refused" in target.log_text()


def proc_status_kb(pid: int, field: str) -> int:
    """A `VmXxx:` line of /proc/PID/status in KiB (VmHWM: the peak resident set so far)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def read_status_line(sock: socket.socket, timeout: float) -> str:
    """The first line the server sends on `sock` ('' if it closes or stays silent)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    return data.split(b"\r\n", 1)[0].decode(errors="replace")


def test_an_unauthenticated_huge_body_is_refused_before_it_is_read(make_cluster):
    """60 MiB sent to the internal port without credentials: the answer (401) comes from the
    headers alone, `Expect: 100-continue` is never granted, the server stops reading, and the
    daemon's peak RSS does not grow by the body's size."""
    c = started(make_cluster, secret=SECRET)
    target = c["s1"]
    size = 60 << 20
    head = (f"POST /raft/append HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {size}\r\n").encode()
    hwm_before = proc_status_kb(target.pid, "VmHWM")

    # 1. With `Expect: 100-continue`: the refusal comes instead of the 100.
    with socket.create_connection(("127.0.0.1", target.internal_port), timeout=5) as s:
        s.sendall(head + b"Expect: 100-continue\r\n\r\n")
        line = read_status_line(s, timeout=5)
    assert line.split()[1:2] in (["401"], ["403"]), line

    # 2. Without it: the whole body is pushed while another thread reads the answer.
    status: list[str] = []
    sent = 0
    with socket.create_connection(("127.0.0.1", target.internal_port), timeout=10) as s:
        reader = threading.Thread(target=lambda: status.append(read_status_line(s, 10)))
        reader.start()
        chunk = b"\x00" * (1 << 20)
        try:
            s.sendall(head + b"\r\n")
            while sent < size:
                s.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the server closed the connection: it is not reading the body
        reader.join(15)
    assert status and status[0].split()[1:2] in (["401"], ["403"]), status
    assert sent < size // 2, f"the server read {sent >> 20} MiB of an unauthenticated body"
    grown_kb = proc_status_kb(target.pid, "VmHWM") - hwm_before
    assert grown_kb < 16 * 1024, f"peak RSS grew by {grown_kb} KiB"

    # The cluster did not notice.
    for ident in c.identifiers:
        assert c[ident].state() == "OPERATION"


@pytest.mark.parametrize("mismatch", ["secret", "voters"])
def test_an_instance_with_a_different_config_is_refused(make_cluster, mismatch):
    override = ({"cluster_secret": "not-the-same"} if mismatch == "secret"
                else {"core_identifiers": "s1,s3"})
    c = make_cluster(secret=SECRET, overrides={"s3": override})
    majority = ["s1", "s2"]
    c.start(majority)
    c.wait_operation(majority)
    c.wait_all_running(majority, majority)
    leader = c.wait_common_master(majority)
    assert c["s1"].sv().disable("manual", True) is True

    c.start(["s3"])
    # It is refused: the majority declares it SILENT and never RUNNING; its own view stays empty.
    c.wait_instance_state(majority, "s3", "SILENT", timeout=15)
    watch_until = time.monotonic() + 3
    while time.monotonic() < watch_until:
        for ident in majority:
            assert c[ident].instance_states()["s3"] != "RUNNING"
        assert c["s3"].alive()
        time.sleep(0.1)
    assert c["s3"].instance_states()["s3"] != "RUNNING"
    # A refused instance never names a master, itself least of all: it has no quorum.
    assert c["s3"].master() == ""
    # The logs say why, on both sides.
    why = "bad cluster secret token" if mismatch == "secret" else "config fingerprint"
    wait_until(lambda: why in c["s3"].log_text(), 10, what=f"s3's log to say {why!r}")
    wait_until(lambda: any(why in c[i].log_text() for i in majority), 10,
               what=f"the majority's log to say {why!r}")
    # Nothing lost on the majority: same leader, still OPERATION, the write is still there and
    # new writes commit.
    assert c.wait_common_master(majority) == leader
    for ident in majority:
        assert c[ident].state() == "OPERATION"
    assert c["s1"].local_processes()["manual"]["disabled"] is True
    assert c["s2"].sv().disable("manual", True) is True
