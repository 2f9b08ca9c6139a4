"""End-to-end tests of what the replicated state says after restarts and removals (issue 8):
three REAL raftvisord instances on loopback, each on its own data dir, talked to with Python's
xmlrpc.client. Every wait polls with a deadline; every daemon and child is stopped by PID.

* A full restart of the cluster (every daemon stopped with SIGTERM, then started again on its
  data dir) deploys the auto-started applications again, each process once, and no instance
  ever shows a process RUNNING that its instance does not run.
* A process that leaves an instance (removeProcessGroup, a reload that drops its program, an
  update_numprocs decrease) leaves `supvisors.get_all_process_info` on every instance.
"""

from __future__ import annotations

import os
import signal
import time
import xmlrpc.client
from pathlib import Path

import pytest

from cluster_harness import FAST_TIMINGS, Cluster
from conftest import require_impl
from harness import wait_until

LIVE = {"STARTING", "RUNNING", "BACKOFF", "STOPPING"}
BAD_SUPVISORS_STATE = 101

SHOP_PROGRAMS = """
[group:shop]
programs = db,api

[program:db]
command = /bin/sleep 100000
autostart = false
startsecs = 0
stopwaitsecs = 2

[program:api]
command = /bin/sleep 100000
autostart = false
startsecs = 0
stopwaitsecs = 2

[group:crunch]
programs = worker

[program:worker]
command = /bin/sleep 100000
process_name = %(program_name)s_%(process_num)02d
numprocs = 3
autostart = false
startsecs = 0
stopwaitsecs = 2

[program:idle]
command = /bin/sleep 100000
autostart = false
startsecs = 0
stopwaitsecs = 2
"""

SHOP_RULES = """<?xml version="1.0" encoding="UTF-8"?>
<root>
  <application name="shop">
    <start_sequence>1</start_sequence>
    <starting_strategy>CONFIG</starting_strategy>
    <programs>
      <program name="db"><start_sequence>1</start_sequence><required>true</required></program>
      <program name="api"><start_sequence>2</start_sequence><required>true</required></program>
    </programs>
  </application>
  <application name="crunch">
    <start_sequence>2</start_sequence>
    <starting_strategy>LESS_LOADED</starting_strategy>
    <programs>
      <program pattern="worker_">
        <start_sequence>1</start_sequence>
        <expected_loading>30</expected_loading>
      </program>
    </programs>
  </application>
</root>
"""

DEPLOYED = ["shop:db", "shop:api", "crunch:worker_00", "crunch:worker_01", "crunch:worker_02"]


def synthetic(inst) -> dict[str, dict]:
    return inst.synthetic_processes(timeout=5)


def local_live(inst) -> dict[str, int]:
    """namespec → pid of every process the instance's own supervisor runs."""
    return {f"{i['group']}:{i['name']}": i["pid"]
            for i in inst.proxy(timeout=5).supervisor.getAllProcessInfo()
            if i["statename"] in LIVE}


def shown_alive_without_a_process(c: Cluster, observer: str) -> list[str]:
    """What `observer` shows alive (in get_all_process_info) on an instance whose own
    supervisor runs no such process. Checked twice, 0.5 s apart, so that the replication lag
    of a legitimate change (a few ms) is not taken for a lie."""
    def lies() -> set[str]:
        found = set()
        try:
            shown = synthetic(c[observer])
        except xmlrpc.client.Fault as f:
            # Supvisors answers nothing in INITIALIZATION (BAD_SUPVISORS_STATE): no lie.
            assert f.faultCode == BAD_SUPVISORS_STATE, f
            return found
        locals_: dict[str, dict[str, int]] = {}
        for ns, p in shown.items():
            if p["statename"] not in LIVE:
                continue
            for ident in p["identifiers"]:
                inst = c[ident]
                if not inst.alive():
                    found.add(f"{ns} on {ident} (daemon not running)")
                    continue
                if ident not in locals_:
                    locals_[ident] = local_live(inst)
                if ns not in locals_[ident]:
                    found.add(f"{ns} on {ident}")
        return found
    first = lies()
    if not first:
        return []
    time.sleep(0.5)
    return sorted(first & lies())


def running_once(c: Cluster) -> dict[str, list[str]]:
    """namespec → instances whose own supervisor runs it, for the deployed processes."""
    local = {i: local_live(c[i]) for i in c.identifiers}
    return {ns: [i for i in c.identifiers if ns in local[i]] for ns in DEPLOYED}


def test_a_full_restart_deploys_again_and_never_shows_the_old_processes(tmp_path: Path):
    require_impl("raftvisord")
    rules = tmp_path / "shop-rules.xml"
    rules.write_text(SHOP_RULES)
    timings = dict(FAST_TIMINGS)
    timings["rules_files"] = str(rules)
    c = Cluster(tmp_path / "restart", ["s1", "s2", "s3"], SHOP_PROGRAMS, timings=timings,
                loglevel="info")
    try:
        c.start()
        c.wait_operation(timeout=60)

        def deployed() -> bool:
            once = running_once(c)
            return all(len(v) == 1 for v in once.values())
        wait_until(deployed, 30, what="shop and crunch deployed")
        before = {i: local_live(c[i]) for i in c.identifiers}

        # Every daemon stopped (SIGTERM, by PID); their children die with them.
        c.stop()
        for ident in c.identifiers:
            assert not c[ident].alive()

        # The first one back is alone (no quorum): its stored state must not pass for the
        # truth. Nothing it shows alive may lack a process.
        c.start(["s1"])
        assert shown_alive_without_a_process(c, "s1") == []
        assert c["s1"].state(5) != "OPERATION", "not synchronised with anybody yet"

        c.start(["s2", "s3"])
        deadline = time.monotonic() + 60
        lies: list[str] = []
        while time.monotonic() < deadline:
            for ident in c.identifiers:
                lies += [f"{ident} shows {lie}" for lie in shown_alive_without_a_process(c, ident)]
            if deployed() and all(c[i].state(5) == "OPERATION" for i in c.identifiers):
                break
            time.sleep(0.2)
        assert lies == []
        once = running_once(c)
        assert all(len(v) == 1 for v in once.values()), once
        # New processes: the deployment ran again, it did not trust the stored state.
        for ident in c.identifiers:
            for ns, pid in local_live(c[ident]).items():
                assert pid not in before[ident].values(), (ident, ns, pid)
        # Every instance agrees on where each process runs, and it is where it runs.
        for observer in c.identifiers:
            shown = synthetic(c[observer])
            for ns in DEPLOYED:
                assert shown[ns]["statename"] == "RUNNING", (observer, ns, shown[ns])
                assert shown[ns]["identifiers"] == once[ns], (observer, ns, shown[ns])
        # Exactly once: a while later nothing was started a second time.
        time.sleep(1.0)
        assert running_once(c) == once
        for ident in c.identifiers:
            assert c[ident].sv(5).get_application_info("shop")["statename"] == "RUNNING"
    finally:
        c.stop()


REMOVAL_PROGRAMS = """
[program:extra]
command = /bin/sleep 100000
autostart = false
startsecs = 0

[program:dropped]
command = /bin/sleep 100000
autostart = true
startsecs = 0

[program:pool]
command = /bin/sleep 100000
process_name = %(program_name)s_%(process_num)02d
numprocs = 3
autostart = false
startsecs = 0
"""


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    """Three instances, no rules file (every application unmanaged)."""
    require_impl("raftvisord")
    c = Cluster(tmp_path_factory.mktemp("removal") / "c", ["s1", "s2", "s3"], REMOVAL_PROGRAMS,
                loglevel="info")
    try:
        c.start()
        c.wait_operation(timeout=60)
        c.wait_all_running(timeout=30)
        yield c
    finally:
        c.stop()


def wait_gone_everywhere(c: Cluster, namespecs: list[str], timeout: float = 20.0) -> None:
    for ident in c.identifiers:
        last: set[str] = set()

        def gone(ident=ident) -> bool:
            nonlocal last
            last = set(namespecs) & set(synthetic(c[ident]))
            return not last
        try:
            wait_until(gone, timeout, what=f"{namespecs} gone from {ident}'s replica")
        except TimeoutError as e:
            raise TimeoutError(f"{e}; still shown: {sorted(last)}") from None


def test_a_removed_group_leaves_every_replica(bare):
    for ident in bare.identifiers:
        assert "extra:extra" in synthetic(bare[ident])
    for ident in bare.identifiers:
        assert bare[ident].proxy(5).supervisor.removeProcessGroup("extra") is True
    wait_gone_everywhere(bare, ["extra:extra"])
    # The others stay.
    assert "pool:pool_02" in synthetic(bare["s1"])


def test_a_reload_that_drops_a_program_removes_its_process(bare):
    for ident in bare.identifiers:
        shown = synthetic(bare[ident])
        assert shown["dropped:dropped"]["statename"] == "RUNNING", shown["dropped:dropped"]
    # SIGHUP re-reads the configuration, which no longer has `dropped`.
    programs = REMOVAL_PROGRAMS.replace(
        "[program:dropped]\ncommand = /bin/sleep 100000\nautostart = true\nstartsecs = 0\n", "")
    assert "dropped" not in programs
    for ident in bare.identifiers:
        inst = bare[ident]
        inst.record_children()
        inst.write_config(programs)
        os.kill(inst.pid, signal.SIGHUP)
    for ident in bare.identifiers:
        wait_until(lambda ident=ident: "dropped:dropped" not in {
            f"{i['group']}:{i['name']}"
            for i in bare[ident].proxy(5).supervisor.getAllProcessInfo()}, 20,
            what=f"{ident} reloaded without dropped")
    wait_gone_everywhere(bare, ["dropped:dropped"])


def test_an_update_numprocs_decrease_removes_the_surplus(bare):
    for ident in bare.identifiers:
        assert bare[ident].sv(30).update_numprocs("pool", 1, True) is True
    wait_gone_everywhere(bare, ["pool:pool_01", "pool:pool_02"])
    for ident in bare.identifiers:
        assert "pool:pool_00" in synthetic(bare[ident])
    # And an increase brings processes in, STOPPED, though none of them changed state.
    assert bare["s2"].sv(30).update_numprocs("pool", 2, True) is True
    wait_until(lambda: "pool:pool_01" in synthetic(bare["s1"]), 20,
               what="pool_01 known again on s1")
