"""The real Supvisors 0.14 client (`supvisorsctl -s URL <cmd>`) against a 3-instance raftvisord
cluster with a rules file: raftvisord's `supvisors` namespace must answer what supvisorsctl 0.14
expects (keys, types, faults), so that its tables and messages come out right. The read-only
commands are also run through `raftvisorctl`, whose output must be byte-identical.

One cluster for the module (s1, s2, s3; programs not autostarted, so nothing runs until a test
starts it); every daemon and child is stopped by PID at the end. Every wait polls with a
deadline.

Needs raftvisord (and raftvisorctl) in $RAFTVISOR_BIN_DIR and the client venv made by
scripts/setup-supvisors.sh ($RAFTVISOR_SUPVISORS_VENV, default .venv-supvisors): a failure
without them, never a skip.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import harness
from cluster_harness import Cluster, fault_of
from conftest import require_impl
from harness import wait_until

ROOT = Path(__file__).resolve().parent.parent

# LSBInitExitStatuses
GENERIC, INVALID_ARGS = 1, 2

PROGRAMS = """
[program:web]
command = /bin/sleep 100000
autostart = false
startsecs = 0
stopwaitsecs = 2

[program:db]
command = /bin/sleep 100000
autostart = false
startsecs = 0
stopwaitsecs = 2

[program:tools]
command = /bin/sleep 100000
autostart = false
startsecs = 0
stopwaitsecs = 2
"""

# Two managed applications (web, db); `tools` has no rules: unmanaged. Application
# start_sequence 0: nothing is started by the DEPLOYMENT, only by the tests.
RULES = """<?xml version="1.0" encoding="UTF-8"?>
<root>
    <application name="web">
        <starting_strategy>CONFIG</starting_strategy>
        <programs>
            <program name="web">
                <identifiers>s1</identifiers>
                <start_sequence>1</start_sequence>
                <required>true</required>
                <expected_loading>5</expected_loading>
            </program>
        </programs>
    </application>
    <application name="db">
        <programs>
            <program name="db">
                <start_sequence>1</start_sequence>
            </program>
        </programs>
    </application>
</root>
"""


def supvisorsctl_path() -> Path:
    venv = Path(os.environ.get("RAFTVISOR_SUPVISORS_VENV", ROOT / ".venv-supvisors"))
    path = venv / "bin" / "supvisorsctl"
    if not path.exists():
        pytest.fail(f"{path} missing: run scripts/setup-supvisors.sh", pytrace=False)
    return path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    require_impl("raftvisord")
    base = tmp_path_factory.mktemp("supvisorsctl")
    rules = base / "rules.xml"
    rules.write_text(RULES)
    ids = ["s1", "s2", "s3"]
    c = Cluster(base, ids, PROGRAMS, loglevel="info",
                overrides={i: {"rules_files": str(rules)} for i in ids})
    try:
        c.start()
        c.wait_operation(timeout=30)
        c.wait_all_running(timeout=30)
        yield c
    finally:
        c.stop()
        for inst in c.instances.values():
            assert not inst.alive(), f"{inst.identifier} still alive after stop"
            assert harness.pids_with_env_tag(inst.tag) == [], \
                f"children of {inst.identifier} survived the cleanup"


@pytest.fixture(scope="module")
def ctl(cluster, tmp_path_factory):
    """`ctl(*args) -> (stdout lines, exit status)` of supvisorsctl 0.14 on s1."""
    exe = supvisorsctl_path()
    # supervisorctl looks for a config file in the current directory: use an empty one.
    cwd = tmp_path_factory.mktemp("ctl-cwd")

    def run(*args: str, tool: Path = exe) -> tuple[list[str], int]:
        p = subprocess.run([str(tool), "-s", cluster["s1"].url, *args], cwd=cwd,
                           capture_output=True, text=True, timeout=60)
        return p.stdout.splitlines(), p.returncode
    return run


@pytest.fixture(scope="module")
def rctl(ctl):
    """The same, through raftvisorctl."""
    from conftest import require_raftvisorctl
    exe = require_raftvisorctl()
    return lambda *args: ctl(*args, tool=exe)


def synthetic_states(cluster) -> dict[str, tuple[str, list[str]]]:
    return {ns: (p["statename"], p["identifiers"])
            for ns, p in cluster["s1"].synthetic_processes().items()}


def test_sversion_is_014(ctl):
    assert ctl("sversion") == (["0.14"], 0)


def test_sstate_shows_operation(ctl):
    lines, rc = ctl("sstate")
    assert rc == 0
    assert lines == ["State           Starting  Stopping  ",
                     "OPERATION       []        []        "]


def test_instance_status_lists_the_three_instances(ctl):
    lines, rc = ctl("instance_status")
    assert rc == 0
    assert lines[0].split() == ["Supervisor", "Node", "Port", "State", "Load", "Time",
                                "Counter", "FSM", "Starting", "Stopping"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert sorted(rows) == ["s1", "s2", "s3"]
    for ident, row in rows.items():
        assert row[1] == "127.0.0.1"
        assert row[2].isdigit()
        assert row[3] == "RUNNING" and row[4].endswith("%")
        assert row[7] == "OPERATION" and row[8:] == ["False", "False"]
    lines, rc = ctl("instance_status", "s2")
    assert rc == 0 and [line.split()[0] for line in lines[1:]] == ["s2"]


def test_application_info_shows_managed_and_unmanaged(ctl):
    lines, rc = ctl("application_info")
    assert rc == 0, lines
    # '%(name)-13s%(state)-10s%(major_failure)-7s%(minor_failure)-7s' (13 = len('Application')+2)
    assert lines[0] == "Application  State     Major  Minor  "
    assert sorted(lines[1:]) == [
        "db           STOPPED   False  False  ",
        "tools        STOPPED   False  False  ",
        "web          STOPPED   False  False  ",
    ]
    assert ctl("application_info", "web") == (
        ["Application  State     Major  Minor  ", "web          STOPPED   False  False  "], 0)


def test_sstatus_shows_every_process(ctl):
    lines, rc = ctl("sstatus")
    assert rc == 0, lines
    assert lines[0] == "Application  Process  State       Expected  Supervisor"
    assert sorted(lines[1:]) == [
        "db           db       STOPPED     n/a       []",
        "tools        tools    STOPPED     n/a       []",
        "web          web      STOPPED     n/a       []",
    ]
    lines, rc = ctl("sstatus", "nosuch")
    assert rc == GENERIC and lines[0].startswith("nosuch: ERROR (BAD_NAME")


def test_application_rules(ctl):
    # Unmanaged: n/a everywhere.
    assert ctl("application_rules", "tools") == ([
        "Application  Managed  Distributed  Supervisor  Start  Stop   Starting     "
        "Starting_Failure  Running_Failure",
        "tools        False    n/a          n/a         n/a    n/a    n/a          n/a               n/a",
    ], 0)
    lines, rc = ctl("application_rules", "nosuch")
    assert rc == GENERIC and lines == ["nosuch: ERROR (BAD_NAME: nosuch)"]
    # Managed: every Supvisors 0.14 server sends `distribution`, and supvisorsctl 0.14 reads
    # `distributed` (fixed in 0.15): the title, then the client's KeyError. Same keys as the
    # original means the same failure.
    lines, rc = ctl("application_rules", "web")
    assert rc == GENERIC
    assert lines[0].startswith("Application  Managed  Distributed  ")
    assert "KeyError" in lines[1] and "distributed" in lines[1]


def test_process_rules(ctl):
    lines, rc = ctl("process_rules", "web:web", "db")
    assert rc == 0
    assert lines[0] == ("Application  Process  Start  Stop   Required    WaitExit    Loading     "
                        "Strategy              Supervisor")
    # Sorted namespecs: db, then web:web.
    assert lines[1] == ("db           db       1      1      False       False       0%          "
                        "CONTINUE              ['*']")
    assert lines[2] == ("web          web      1      1      True        False       5%          "
                        "CONTINUE              ['s1']")
    lines, rc = ctl("process_rules", "nosuch:x")
    assert rc == GENERIC and lines[0].startswith("nosuch:x: ERROR (BAD_NAME")


def test_conflicts_prints_nothing_without_conflict(ctl):
    assert ctl("conflicts") == ([], 0)


def test_start_and_stop_application(ctl, cluster):
    try:
        assert ctl("start_application", "CONFIG", "web") == (["web started: True"], 0)
        # The web program may only run on s1 (rules), and runs there only.
        assert synthetic_states(cluster)["web:web"] == ("RUNNING", ["s1"])
        lines, rc = ctl("application_info", "web")
        assert rc == 0 and lines[1].split()[:2] == ["web", "RUNNING"]
        # Already running: the server's fault, printed by the client.
        lines, rc = ctl("start_application", "CONFIG", "web")
        assert rc == GENERIC and lines == ["web: ERROR (ALREADY_STARTED: web)"]
        assert ctl("stop_application", "web") == (["web stopped: True"], 0)
        assert synthetic_states(cluster)["web:web"][0] == "STOPPED"
    finally:
        # Leave nothing running for the other tests, whatever failed above.
        if synthetic_states(cluster)["web:web"][0] != "STOPPED":
            fault_of(lambda: cluster["s1"].sv(timeout=30).stop_application("web"))
        wait_until(lambda: synthetic_states(cluster)["web:web"][0] == "STOPPED", 20,
                   what="web stopped")


def test_application_commands_argument_errors(ctl):
    lines, rc = ctl("start_application")
    assert rc == INVALID_ARGS and lines[0] == "ERROR: start_application requires at least a strategy"
    lines, rc = ctl("start_application", "config", "web")
    assert rc == INVALID_ARGS
    assert lines[0] == ("ERROR: unknown strategy for start_application. use one of ['CONFIG', "
                        "'LESS_LOADED', 'MOST_LOADED', 'LOCAL', 'LESS_LOADED_NODE', "
                        "'MOST_LOADED_NODE']")
    assert ctl("start_application", "CONFIG", "tools") == (
        ["tools: IGNORED (unmanaged. use start tools:*)"], 0)
    assert ctl("stop_application", "nosuch") == (["nosuch: ERROR (no such application)"],
                                                  INVALID_ARGS)
    # Nothing runs: stopping a managed application is the server's NOT_RUNNING fault.
    lines, rc = ctl("stop_application", "db")
    assert rc == GENERIC and lines[0].startswith("db: ERROR (NOT_RUNNING")


@pytest.mark.parametrize("args", [
    ("sversion",), ("sstate",), ("application_info",), ("application_info", "db"),
    ("sstatus",), ("sstatus", "web:*"), ("application_rules", "tools"),
    ("application_rules", "nosuch"), ("process_rules",), ("process_rules", "db", "x:y"),
    ("conflicts",), ("start_application",), ("start_application", "BAD"),
    ("start_application", "CONFIG", "tools", "nosuch"), ("stop_application", "nosuch"),
    ("stop_process", "nosuch"), ("start_process", "LOCAL", "nosuch"),
    ("update_numprocs", "web"), ("update_numprocs", "web", "0"), ("conciliate", "USER"),
    ("conciliate", "NONE"), ("restart_process",), ("restart_process", "x"),
])
def test_raftvisorctl_prints_what_supvisorsctl_prints(ctl, rctl, args):
    assert rctl(*args) == ctl(*args)


def test_raftvisorctl_starts_and_stops_applications(rctl, cluster):
    try:
        assert rctl("start_application", "LESS_LOADED", "db") == (["db started: True"], 0)
        state, ids = synthetic_states(cluster)["db:db"]
        assert state == "RUNNING" and len(ids) == 1
        # No name = every managed application, sorted: db stops, web was not running.
        lines, rc = rctl("stop_application")
        assert rc == GENERIC
        assert lines[0] == "db stopped: True" and lines[1].startswith("web: ERROR (NOT_RUNNING")
    finally:
        if synthetic_states(cluster)["db:db"][0] != "STOPPED":
            fault_of(lambda: cluster["s1"].sv(timeout=30).stop_application("db"))
        wait_until(lambda: synthetic_states(cluster)["db:db"][0] == "STOPPED", 20,
                   what="db stopped")


def test_raftvisorctl_application_rules_of_managed_applications(rctl):
    # Where supvisorsctl 0.14 fails (it reads `distributed`), raftvisorctl shows the rules.
    lines, rc = rctl("application_rules", "db", "web")
    assert rc == 0
    assert lines == [
        "Application  Managed  Distributed  Supervisor  Start  Stop   Starting     "
        "Starting_Failure  Running_Failure",
        "db           True     ALL_INSTANCES['*']       0      0      CONFIG       ABORT             CONTINUE",
        "web          True     ALL_INSTANCES['*']       0      0      CONFIG       ABORT             CONTINUE",
    ]


def test_raftvisorctl_help_lists_the_supvisors_commands_of_a_supvisors_server(rctl):
    """`raftvisorctl -s URL help` with no config file: the server answers `supvisors.*`, so the
    Supvisors commands are listed after Supervisor's (a plain server's help stays Supervisor's,
    which compare_supervisorctl.rs checks against the real supervisorctl)."""
    lines, rc = rctl("help")
    assert rc == 0
    text = "\n".join(lines)
    assert "default commands (type help <topic>):" in text, text
    assert "supvisors commands (type help <topic>):" in text, text
    for command in ("sstate", "application_info", "start_application", "conciliate"):
        assert command in text, text


def test_a_normal_start_logs_no_openraft_routine_warning(cluster):
    """loglevel = info: openraft's routine messages of an election (a stale vote response) or
    of a peer not up yet are debug, not warnings in every normal start's log."""
    for inst in cluster.instances.values():
        text = inst.log_text()
        for routine in ("A message will be ignored because vote changed",
                        "update progress error", "heartbeat error"):
            assert routine not in text, f"{inst.identifier}: {routine!r} in its log at info"
