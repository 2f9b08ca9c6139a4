"""End-to-end tests of applications across the cluster (issue 4): rules, DEPLOYMENT sequences,
placement, failure strategies, conflicts. Three REAL raftvisord instances on loopback per test
module or test, talked to with Python's xmlrpc.client; every wait polls with a deadline and every
daemon and child is stopped by PID at the end (see cluster_harness).
"""

from __future__ import annotations

import os
import signal
import time
import xmlrpc.client
from pathlib import Path
from typing import Optional

import pytest

import harness
from cluster_harness import FAST_TIMINGS, Cluster, fault_of
from conftest import require_impl
from harness import wait_until

ABNORMAL_TERMINATION = 40
BAD_NAME = 10
NOT_MANAGED = 102
ALREADY_STARTED = 60

PROGRAMS = """
[group:seq]
programs = first,second,third

[program:first]
command = /bin/sleep 100000
autostart = false
startsecs = 1
stopwaitsecs = 2

[program:second]
command = /bin/sleep 100000
autostart = false
startsecs = 1
stopwaitsecs = 2

[program:third]
command = /bin/sleep 100000
autostart = false
startsecs = 1
stopwaitsecs = 2

[group:spread]
programs = worker

[program:worker]
command = /bin/sleep 100000
process_name = %(program_name)s_%(process_num)02d
numprocs = 6
autostart = false
startsecs = 0
stopwaitsecs = 2

[group:fragile]
programs = keeper,victim

[program:keeper]
command = /bin/sleep 100000
autostart = false
startsecs = 0
stopwaitsecs = 2

[program:victim]
command = /bin/sleep 100000
autostart = false
startsecs = 0
stopwaitsecs = 2

[group:phoenix]
programs = bird,nest

[program:bird]
command = /bin/sleep 100000
autostart = false
startsecs = 0
stopwaitsecs = 2

[program:nest]
command = /bin/sleep 100000
autostart = false
startsecs = 0
stopwaitsecs = 2

[program:mover]
command = /bin/sleep 100000
autostart = false
startsecs = 0
stopwaitsecs = 2

[program:twin]
command = /bin/sleep 100000
autostart = false
startsecs = 0
stopwaitsecs = 2

[program:loose]
command = /bin/sleep 100000
autostart = false
startsecs = 0
stopwaitsecs = 2

[program:pool]
command = /bin/sleep 100000
process_name = %(program_name)s_%(process_num)02d
numprocs = 2
autostart = false
startsecs = 0
stopwaitsecs = 2
"""

RULES = """<?xml version="1.0" encoding="UTF-8"?>
<root>
  <application name="seq">
    <start_sequence>1</start_sequence>
    <starting_strategy>CONFIG</starting_strategy>
    <programs>
      <program name="first"><start_sequence>1</start_sequence><required>true</required></program>
      <program name="second"><start_sequence>2</start_sequence><required>true</required></program>
      <program name="third"><start_sequence>3</start_sequence></program>
    </programs>
  </application>
  <application name="spread">
    <start_sequence>2</start_sequence>
    <starting_strategy>LESS_LOADED</starting_strategy>
    <programs>
      <program pattern="worker_">
        <start_sequence>1</start_sequence>
        <expected_loading>30</expected_loading>
      </program>
    </programs>
  </application>
  <application name="fragile">
    <running_failure_strategy>STOP_APPLICATION</running_failure_strategy>
    <programs>
      <program pattern=".*"><start_sequence>1</start_sequence></program>
    </programs>
  </application>
  <application name="phoenix">
    <running_failure_strategy>RESTART_APPLICATION</running_failure_strategy>
    <programs>
      <program pattern=".*"><start_sequence>1</start_sequence></program>
    </programs>
  </application>
  <application name="mover">
    <starting_strategy>CONFIG</starting_strategy>
    <programs>
      <program name="mover">
        <start_sequence>1</start_sequence>
        <running_failure_strategy>RESTART_PROCESS</running_failure_strategy>
      </program>
    </programs>
  </application>
  <application name="twin">
    <programs><program name="twin"><start_sequence>1</start_sequence></program></programs>
  </application>
</root>
"""


def make(tmp_path: Path, name: str, **options) -> Cluster:
    require_impl("raftvisord")
    rules = tmp_path / f"{name}-rules.xml"
    rules.write_text(RULES)
    timings = dict(FAST_TIMINGS)
    timings["rules_files"] = str(rules)
    timings.update(options)
    return Cluster(tmp_path / name, ["s1", "s2", "s3"], PROGRAMS, timings=timings,
                   loglevel="info")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = make(tmp_path_factory.mktemp("apps"), "apps", conciliation_strategy="USER")
    try:
        c.start()
        c.wait_operation(timeout=60)
        c.wait_all_running(timeout=30)
        yield c
    finally:
        c.stop()


def procs(inst) -> dict[str, dict]:
    return inst.synthetic_processes(timeout=5)


def app_state(inst, app: str) -> str:
    return inst.sv(5).get_application_info(app)["statename"]


def wait_app(inst, app: str, state: str, timeout: float = 20.0) -> None:
    wait_until(lambda: app_state(inst, app) == state, timeout, what=f"{app} {state}")


def where(inst, namespec: str) -> list[str]:
    return procs(inst)[namespec]["identifiers"]


def local_pid(inst, namespec: str) -> int:
    return inst.proxy(timeout=5).supervisor.getProcessInfo(namespec)["pid"]


def test_deployment_starts_the_sequence_in_declared_order(cluster):
    s1 = cluster["s1"]
    wait_app(s1, "seq", "RUNNING", timeout=30)
    p = procs(s1)
    starts = {}
    for name in ("first", "second", "third"):
        info = p[f"seq:{name}"]
        assert info["statename"] == "RUNNING"
        assert len(info["identifiers"]) == 1, info
        owner = cluster[info["identifiers"][0]]
        starts[name] = owner.proxy(timeout=5).supervisor.getProcessInfo(f"seq:{name}")["start"]
    # startsecs = 1: a step starts only once the previous one is RUNNING.
    assert starts["first"] + 1 <= starts["second"], starts
    assert starts["second"] + 1 <= starts["third"], starts
    # CONFIG: the first instance of supvisors_list that fits.
    assert p["seq:first"]["identifiers"] == ["s1"]
    # Applications without start_sequence are not deployed.
    assert app_state(s1, "fragile") == "STOPPED"
    assert s1.sv(5).get_application_rules("seq")["start_sequence"] == 1


def test_less_loaded_spreads_by_expected_loading(cluster):
    s2 = cluster["s2"]
    wait_app(s2, "spread", "RUNNING", timeout=30)
    counts: dict[str, int] = {}
    for ns, info in procs(s2).items():
        if ns.startswith("spread:"):
            assert len(info["identifiers"]) == 1, info
            counts[info["identifiers"][0]] = counts.get(info["identifiers"][0], 0) + 1
    assert counts == {"s1": 2, "s2": 2, "s3": 2}, counts
    # The instances' load is Supvisors' expected loading: 2 × 30 % each.
    loads = {i["identifier"]: i["loading"] for i in s2.sv(5).get_all_instances_info()}
    assert loads == {"s1": 60, "s2": 60, "s3": 60}, loads


def test_application_faults_and_rules(cluster):
    sv = cluster["s3"].sv(5)
    assert fault_of(lambda: sv.start_application("CONFIG", "nope")).faultCode == BAD_NAME
    assert fault_of(lambda: sv.start_application("CONFIG", "seq")).faultCode == ALREADY_STARTED
    assert fault_of(lambda: sv.start_application("BOGUS", "seq")).faultCode == 2
    rules = sv.get_process_rules("spread:worker_03")[0]
    assert rules["expected_loading"] == 30 and rules["start_sequence"] == 1
    assert sv.get_application_rules("loose") == {"managed": False, "application_name": "loose"}
    assert sv.get_application_info("loose")["managed"] is False
    names = {a["application_name"] for a in sv.get_all_applications_info()}
    assert {"seq", "spread", "fragile", "phoenix", "mover", "twin", "loose"} <= names


def test_stop_and_start_application_wait(cluster):
    sv = cluster["s2"].sv(30)
    # The waited call returns once s2's replica shows the outcome; s1's replica, asked next,
    # may be a replication round behind: it must show the same within a short bound.
    assert sv.start_application("CONFIG", "fragile", True) is True
    assert app_state(cluster["s2"], "fragile") == "RUNNING"
    wait_app(cluster["s1"], "fragile", "RUNNING", timeout=2)
    assert sv.stop_application("fragile", True) is True
    assert app_state(cluster["s2"], "fragile") == "STOPPED"
    wait_app(cluster["s1"], "fragile", "STOPPED", timeout=2)


def test_stop_application_on_a_crash(cluster):
    sv = cluster["s1"].sv(30)
    assert sv.start_application("CONFIG", "fragile", True) is True
    owner = cluster[where(cluster["s1"], "fragile:victim")[0]]
    os.kill(local_pid(owner, "fragile:victim"), signal.SIGKILL)
    # STOP_APPLICATION: the other process is stopped too.
    wait_app(cluster["s1"], "fragile", "STOPPED", timeout=20)
    assert procs(cluster["s1"])["fragile:keeper"]["statename"] == "STOPPED"


def test_restart_application_on_a_crash(cluster):
    sv = cluster["s1"].sv(30)
    assert sv.start_application("CONFIG", "phoenix", True) is True
    owner = cluster[where(cluster["s1"], "phoenix:bird")[0]]
    nest_owner = cluster[where(cluster["s1"], "phoenix:nest")[0]]
    nest_pid = local_pid(nest_owner, "phoenix:nest")
    os.kill(local_pid(owner, "phoenix:bird"), signal.SIGKILL)

    def restarted():
        p = procs(cluster["s1"])
        if p["phoenix:bird"]["statename"] != "RUNNING" or p["phoenix:nest"]["statename"] != "RUNNING":
            return False
        n = cluster[p["phoenix:nest"]["identifiers"][0]]
        return local_pid(n, "phoenix:nest") != nest_pid
    # RESTART_APPLICATION: the whole application is stopped, then started again.
    wait_until(restarted, 20, what="phoenix restarted as a whole")


def test_disabled_program_is_never_placed(cluster):
    s1 = cluster["s1"]
    assert s1.sv(10).disable("loose", True) is True
    try:
        assert s1.sv(30).start_process("CONFIG", "loose", "", True) is True
        assert where(s1, "loose:loose") == ["s2"]
        assert s1.sv(30).stop_process("loose", True) is True
    finally:
        s1.sv(10).enable("loose", True)


def test_conflicts_are_resolved_by_each_strategy(cluster):
    s1, s2, s3 = cluster["s1"], cluster["s2"], cluster["s3"]
    for strategy, survivors in (("SENICIDE", 1), ("INFANTICIDE", 1), ("STOP", 0),
                                ("RESTART", 1), ("RUNNING_FAILURE", 0)):
        # Force a conflict: the same managed program started by hand on two instances.
        s1.proxy(timeout=10).supervisor.startProcess("twin", True)
        time.sleep(1.1)  # distinct start dates (seconds) so SENICIDE/INFANTICIDE differ
        s2.proxy(timeout=10).supervisor.startProcess("twin", True)
        wait_until(lambda: len(where(s3, "twin:twin")) == 2, 10, what="twin conflicting")
        wait_until(lambda: s3.state(2) == "CONCILIATION", 10, what="CONCILIATION")
        assert [c["process_name"] for c in s3.sv(5).get_conflicts()] == ["twin"]
        assert s3.sv(10).conciliate(strategy) is True
        wait_until(lambda: s3.state(2) == "OPERATION", 20, what=f"{strategy}: back to OPERATION")
        running = where(s3, "twin:twin")
        assert len(running) == survivors, (strategy, running)
        if strategy == "SENICIDE":
            assert running == ["s2"]  # the youngest is kept
        if strategy == "INFANTICIDE":
            assert running == ["s1"]  # the oldest is kept
        if running:
            assert s3.sv(30).stop_process("twin", True) is True


@pytest.mark.parametrize("victim_role", ["follower", "master"])
def test_restart_process_on_instance_loss(tmp_path, victim_role):
    """kill -9 of the instance hosting a RESTART_PROCESS program, a follower or the master
    itself: the program is RUNNING on a survivor, and the dead daemon's child died with it."""
    c = make(tmp_path, f"loss-{victim_role}")
    try:
        c.start()
        c.wait_operation(timeout=60)
        c.wait_all_running(timeout=30)
        master = c.wait_common_master(c.identifiers)
        victim = master if victim_role == "master" else next(
            i for i in ("s3", "s2") if i != master)
        assert c[victim].sv(30).start_process("LOCAL", "mover", "", True) is True
        assert where(c[victim], "mover:mover") == [victim]
        c[victim].kill9()
        survivors = [i for i in c.identifiers if i != victim]

        def moved():
            r = where(c[survivors[0]], "mover:mover")
            return (r and r[0] != victim
                    and procs(c[survivors[0]])["mover:mover"]["statename"] == "RUNNING")
        wait_until(moved, 15, what="mover RUNNING on another instance")
        host = where(c[survivors[0]], "mover:mover")[0]
        assert c[host].proxy(5).supervisor.getProcessInfo("mover")["statename"] == "RUNNING"
        # The killed daemon's child did not survive it (no duplicate left behind).
        wait_until(lambda: harness.pids_with_env_tag(c[victim].tag) == [], 5,
                   what="the dead daemon's children gone")
    finally:
        c.stop()


def test_leader_death_mid_sequence_completes_without_duplicates(tmp_path):
    """The leader dies while it drives a sequence that runs elsewhere: the new leader takes the
    job over and completes it, nothing twice. `seq` is placed on s1 (CONFIG), so s2 and s3 are
    started first and elect the leader among themselves: the leader is never the sequence's
    host (a host that dies takes its processes with it, which another test covers)."""
    c = make(tmp_path, "failover")
    try:
        c.start(["s2", "s3"])
        c.wait_common_master(["s2", "s3"])
        c.start(["s1"])
        c.wait_operation(timeout=60)
        c.wait_all_running(timeout=30)
        wait_app(c["s1"], "seq", "RUNNING", timeout=30)
        master = c["s1"].master()
        assert master != "s1", "the leader must not host the sequence"
        assert where(c["s1"], "seq:first") == ["s1"]
        other = next(i for i in c.identifiers if i != master)
        assert c[other].sv(30).stop_application("seq", True) is True
        assert c[other].sv(10).start_application("CONFIG", "seq", False) is True
        # Kill the leader while the sequence runs (startsecs = 1 per step).
        wait_until(lambda: procs(c[other])["seq:first"]["statename"] in ("STARTING", "RUNNING"),
                   5, what="the sequence under way")
        c[master].kill9()
        survivors = [i for i in c.identifiers if i != master]
        def sequence_done():
            p = procs(c[survivors[0]])
            return all(p[f"seq:{n}"]["statename"] == "RUNNING" for n in ("first", "second", "third"))
        wait_until(sequence_done, 30, what="the whole seq RUNNING after the leader change")
        for name in ("first", "second", "third"):
            ids = where(c[survivors[0]], f"seq:{name}")
            assert len(ids) == 1 and ids[0] != master, (name, ids)
        # Nothing runs twice on the survivors (their own supervisors say so).
        local = {i: c[i].local_processes() for i in survivors}
        for name in ("first", "second", "third"):
            running = [i for i in survivors if local[i][f"seq:{name}"]["statename"] == "RUNNING"]
            assert len(running) == 1, (name, running)
    finally:
        c.stop()


def assert_mover_runs_once_after_the_heal(c: Cluster, timeout: float,
                                          operation_timeout: Optional[float] = None) -> None:
    """The healed cluster runs `mover` exactly once: never twice at any poll (each instance's
    own supervisor is asked, not the replicated view), and not zero either once the cluster
    has settled (waited for OPERATION first when `operation_timeout` is given), for 3 s."""
    twice: list[list[str]] = []  # wait_until swallows a predicate's exceptions

    def copies() -> list[str]:
        running = [i for i in c.identifiers
                   if c[i].proxy(5).supervisor.getProcessInfo("mover")["statename"]
                   in ("STARTING", "RUNNING")]
        if len(running) > 1:
            twice.append(running)
        return running

    wait_until(lambda: len(copies()) == 1, timeout, what="mover running on exactly one instance")
    assert not twice, f"mover ran on several instances at once: {twice[0]}"
    if operation_timeout is not None:
        c.wait_operation(timeout=operation_timeout)
    settled = time.monotonic() + 3
    while time.monotonic() < settled:
        now = copies()
        assert len(now) == 1, f"mover on {now} after the heal"
        time.sleep(0.1)


@pytest.mark.parametrize("policy", [None, "stop_all", "ignore"])
def test_a_cut_off_instance_stops_what_the_majority_restarts_elsewhere(tmp_path, policy):
    """The default no_quorum_policy (stop_movable) with the rules: the instance left alone (the
    majority frozen with SIGSTOP, the loopback cut that needs no privileges) stops its
    RESTART_PROCESS program before the majority could restart it, so the healed cluster never
    runs it twice; unmanaged programs keep running there. stop_all stops those too; ignore
    stops nothing. (tests/test_netns.py cuts a real link.)"""
    options = {} if policy is None else {"no_quorum_policy": policy}
    c = make(tmp_path, f"fence-{policy}", **options)
    try:
        c.start()
        c.wait_operation(timeout=60)
        c.wait_all_running(timeout=30)
        leader = c.wait_common_master(c.identifiers)
        alone_id = next(i for i in ("s3", "s2") if i != leader)
        alone = c[alone_id]
        assert alone.sv(30).start_process("LOCAL", "mover", "", True) is True
        assert alone.proxy(5).supervisor.startProcess("loose") is True
        majority = [i for i in c.identifiers if i != alone_id]
        try:
            for ident in majority:
                os.kill(c[ident].pid, signal.SIGSTOP)
            state = lambda name: alone.proxy(5).supervisor.getProcessInfo(name)["statename"]
            if policy == "ignore":
                wait_until(lambda: alone.master(timeout=2) == "", 10,
                           what="the cut-off instance to know it is cut off")
                time.sleep(1)
                assert (state("mover"), state("loose")) == ("RUNNING", "RUNNING")
            else:
                wait_until(lambda: state("mover") == "STOPPED", 10,
                           what="the cut-off instance to stop mover")
                loose = "STOPPED" if policy == "stop_all" else "RUNNING"
                wait_until(lambda: state("loose") == loose, 5, what=f"loose {loose}")
            assert "cut off from the quorum" in alone.log_text()
        finally:
            for ident in majority:
                os.kill(c[ident].pid, signal.SIGCONT)
        if policy == "ignore":
            return  # two copies of mover are what ignore accepts
        # The healed cluster runs mover exactly once: never twice at any poll (each
        # instance's own supervisor is asked, not the replicated view), and not zero either
        # once the cluster has settled — a RESTART_PROCESS program that was fenced must be
        # running somewhere again.
        assert_mover_runs_once_after_the_heal(c, 30)
    finally:
        c.stop()


@pytest.mark.parametrize("shape", ["five_voters", "leader_and_learner"])
def test_a_cut_off_minority_holding_the_leader_fences_itself(tmp_path, shape):
    """The minority holds the leader L and another instance P, and the rest is frozen
    (SIGSTOP): with five voters, three of them (a majority of five) and P a follower; with
    three voters and a learner, the two other voters and P the learner. L still leads in
    openraft's eyes (it never steps down by itself) and used to acknowledge P's ticks, so P
    never knew it was cut off and kept its RESTART_PROCESS program running while the majority
    could restart it elsewhere. Now L's acknowledgement carries how long ago a quorum last
    acknowledged L, so P counts its contact with the quorum from there and both fence within
    the fence bound; once healed, the cluster runs mover exactly once and is in OPERATION."""
    require_impl("raftvisord")
    rules = tmp_path / "minority-rules.xml"
    rules.write_text(RULES)
    timings = dict(FAST_TIMINGS)
    timings["rules_files"] = str(rules)
    if shape == "five_voters":
        identifiers, voters = ["s1", "s2", "s3", "s4", "s5"], None
    else:
        identifiers, voters = ["s1", "s2", "s3", "s4"], ["s1", "s2", "s3"]
    c = Cluster(tmp_path / "minority", identifiers, PROGRAMS, voters=voters,
                timings=timings, loglevel="info")
    # FAST_TIMINGS: the fence bound is 2 × 100 + 850 + 100 + 50 + 1000 + 250 ms.
    fence_bound = 2.45
    try:
        c.start()
        c.wait_operation(timeout=90)
        c.wait_all_running(timeout=60)
        leader_id = c.wait_common_master(c.identifiers, timeout=30)
        leader = c[leader_id]
        follower_id = ("s4" if shape == "leader_and_learner"
                       else next(i for i in c.identifiers if i != leader_id))
        if voters is not None:
            wait_until(lambda: "s4" in leader.sv(5).get_raft_status()["learners"], 30,
                       what="s4 added as a learner")
        follower = c[follower_id]
        assert follower.sv(30).start_process("LOCAL", "mover", "", True) is True
        # A movable program on the leader too (RESTART_APPLICATION).
        assert leader.sv(30).start_process("LOCAL", "phoenix:bird", "", True) is True
        assert follower.proxy(5).supervisor.startProcess("loose") is True
        majority = [i for i in c.identifiers if i not in (leader_id, follower_id)]
        state = lambda inst, name: inst.proxy(5).supervisor.getProcessInfo(name)["statename"]
        try:
            frozen_at = time.monotonic()
            for ident in majority:
                os.kill(c[ident].pid, signal.SIGSTOP)
            wait_until(lambda: state(follower, "mover") == "STOPPED", 15,
                       what="the follower of the cut-off minority to stop mover")
            # Polled, on a shared CPU: a second of slack over the bound.
            took = time.monotonic() - frozen_at
            assert took < fence_bound + 1.0, f"mover stopped {took:.2f} s after the cut"
            wait_until(lambda: state(leader, "phoenix:bird") == "STOPPED", 10,
                       what="the leader of the cut-off minority to stop bird")
            assert state(follower, "loose") == "RUNNING", "stop_movable keeps unmanaged ones"
            assert "cut off from the quorum" in follower.log_text()
            assert "cut off from the quorum" in leader.log_text()
        finally:
            for ident in majority:
                os.kill(c[ident].pid, signal.SIGCONT)
        assert_mover_runs_once_after_the_heal(c, 40, operation_timeout=40)
    finally:
        c.stop()


def test_update_numprocs_changes_the_local_configuration(cluster):
    s2 = cluster["s2"]
    names = lambda: sorted(harness.namespec(i) for i in s2.proxy(5).supervisor.getAllProcessInfo()
                           if i["group"] == "pool")
    assert names() == ["pool:pool_00", "pool:pool_01"]
    assert s2.sv(30).update_numprocs("pool", 3, True) is True
    assert names() == ["pool:pool_00", "pool:pool_01", "pool:pool_02"]
    s2.proxy(5).supervisor.startProcess("pool:pool_02", True)
    assert s2.sv(30).update_numprocs("pool", 1, True) is True
    assert names() == ["pool:pool_00"]
    assert fault_of(lambda: s2.sv(5).update_numprocs("pool", 0)).faultCode == 2
    assert fault_of(lambda: s2.sv(5).update_numprocs("nope", 2)).faultCode == BAD_NAME
    assert fault_of(lambda: s2.sv(5).update_numprocs("loose", 2)).faultCode == 100


def test_shutdown_stops_the_applications_then_every_daemon(tmp_path):
    """supvisors.shutdown(): the global stop sequence, then every raftvisord exits by itself."""
    c = make(tmp_path, "shutdown")
    try:
        c.start()
        c.wait_operation(timeout=60)
        c.wait_all_running(timeout=30)
        s2 = c["s2"]
        wait_app(s2, "spread", "RUNNING", timeout=30)
        assert s2.sv(10).shutdown() is True
        for ident in c.identifiers:
            inst = c[ident]
            wait_until(lambda: inst.proc.poll() is not None, 30,
                       what=f"{ident} to exit after the cluster shutdown")
            assert inst.proc.returncode == 0, (ident, inst.proc.returncode)
        # The stop went through the commander: each instance logged the final order.
        assert all("end of the global stop sequence" in c[i].log_text() for i in c.identifiers)
    finally:
        c.stop()


def test_restart_sequence_replays_the_deployment(cluster):
    s3 = cluster["s3"]
    # A stopped sequenced application comes back; the running ones are left alone.
    assert s3.sv(30).stop_application("seq", True) is True
    spread_pids = {ns: p["identifiers"] for ns, p in procs(s3).items() if ns.startswith("spread:")}
    assert s3.sv(60).restart_sequence(True) is True
    assert s3.state(5) == "OPERATION"
    assert app_state(s3, "seq") == "RUNNING"
    assert {ns: p["identifiers"] for ns, p in procs(s3).items()
            if ns.startswith("spread:")} == spread_pids


LATE_PROGRAMS = """
[program:anchor]
command = /bin/sleep 100000
autostart = false
startsecs = 0
stopwaitsecs = 2

[program:late]
command = /bin/sleep 100000
autostart = false
startsecs = 0
stopwaitsecs = 2
"""

LATE_RULES = """<?xml version="1.0" encoding="UTF-8"?>
<root>
  <application name="anchor">
    <start_sequence>1</start_sequence>
    <programs><program name="anchor"><start_sequence>1</start_sequence></program></programs>
  </application>
  <application name="late">
    <start_sequence>2</start_sequence>
    <programs>
      <program name="late">
        <identifiers>s3</identifiers>
        <start_sequence>1</start_sequence>
      </program>
    </programs>
  </application>
</root>
"""


def test_an_instance_joining_later_gets_what_only_it_can_run(tmp_path):
    """Supvisors' redeploy: `late` may only run on s3, which is down during DEPLOYMENT. When s3
    joins, the master repairs the deployment and starts `late` there; `anchor`, which a user
    stopped meanwhile, stays stopped."""
    require_impl("raftvisord")
    rules = tmp_path / "late-rules.xml"
    rules.write_text(LATE_RULES)
    timings = dict(FAST_TIMINGS)
    timings["rules_files"] = str(rules)
    c = Cluster(tmp_path / "late", ["s1", "s2", "s3"], LATE_PROGRAMS, voters=["s1", "s2"],
                timings=timings, loglevel="info")
    try:
        c.start(["s1", "s2"])
        c.wait_operation(["s1", "s2"], timeout=60)
        wait_app(c["s1"], "anchor", "RUNNING")
        assert app_state(c["s1"], "late") == "STOPPED"
        assert where(c["s1"], "late:late") == []
        assert c["s2"].sv(30).stop_application("anchor", True) is True

        c["s3"].start()
        wait_until(lambda: where(c["s1"], "late:late") == ["s3"], 30,
                   what="late RUNNING on s3 once it joined")
        c.wait_operation(timeout=30)
        wait_app(c["s2"], "late", "RUNNING")
        assert app_state(c["s1"], "anchor") == "STOPPED"
        assert where(c["s1"], "anchor:anchor") == []
    finally:
        c.stop()
