"""The stock supervisorctl 4.3 (from the venv) driving each implementation, and raftvisorctl.

Each test runs against supervisord (the reference: proves the expectations are right) and
raftvisord. Expected outputs and exit codes are those observed with supervisord 4.3 (see
docs/supvisors.md, 'supervisorctl'); volatile parts (pids, uptimes, dates, ports) are
normalised before comparing.

`raftvisorctl` is assumed to take the same command line as supervisorctl
(`-s URL -u USER -p PASS command args...`) and must print the same thing for status, start,
stop, avail and pid against raftvisord.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Optional, Sequence

import pytest

from conftest import require_raftvisorctl
from harness import Daemon, supervisorctl_path, wait_until

USER, PASSWORD = "alice", "s3cret"

PROGRAMS = """
[program:sleeper]
command = /bin/sleep 100000
startsecs = 0

[program:manual]
command = /bin/sleep 100000
autostart = false

[program:quick]
command = /bin/sh -c "exit 3"
startsecs = 1
startretries = 0

[program:np]
command = /bin/sleep 100000
process_name = %(program_name)s_%(process_num)02d
numprocs = 2
startsecs = 0

[program:texter]
command = /bin/sh -c "echo hello-out; echo hello-err >&2; exec sleep 100000"
startsecs = 0

[program:xa]
command = /bin/sleep 100000
startsecs = 0
priority = 10

[group:x]
programs = xa
priority = 5
"""

RUNNING = ["sleeper", "np:np_00", "np:np_01", "texter", "x:xa"]


def normalise(out: str) -> str:
    out = re.sub(r"pid \d+, uptime (\d+ days?, )?\d+:\d\d:\d\d", "pid <pid>, uptime <uptime>",
                 out)
    out = re.sub(r"[A-Z][a-z]{2} \d{2} \d{2}:\d{2} [AP]M", "<date>", out)
    out = re.sub(r"^\d+$", "<pid>", out, flags=re.M)
    out = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", out)
    return out


def status_line(namespec: str, state: str, desc: str) -> str:
    width = max(30, len(namespec)) + 3
    return f"{namespec:<{width}}{state:<10}{desc}".rstrip()


class Ctl:
    """Runs a supervisorctl-compatible client against one daemon."""

    def __init__(self, daemon: Daemon, exe: Optional[Path] = None):
        self.d = daemon
        self.exe = exe or supervisorctl_path()

    def __call__(self, *args: str, auth: bool = True, timeout: float = 60) -> tuple[int, str]:
        cmd = [str(self.exe), "-s", self.d.url]
        if auth:
            cmd += ["-u", USER, "-p", PASSWORD]
        cmd += list(args)
        # cwd = the daemon's dir: no stray supervisord.conf is picked up from elsewhere.
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           cwd=self.d.workdir, stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout + p.stderr


def expect(ctl: Ctl, args: Sequence[str], rc: int, lines: Sequence[str], *,
           sort: bool = False, auth: bool = True) -> str:
    got_rc, out = ctl(*args, auth=auth)
    got = normalise(out).rstrip("\n").split("\n") if out.strip() else []
    want = list(lines)
    if sort:
        got, want = sorted(got), sorted(want)
    assert (got_rc, got) == (rc, want), (
        f"supervisorctl {' '.join(args)} against {ctl.d.impl}:\n"
        f"  exit code {got_rc} (want {rc})\n  output:\n    " + "\n    ".join(got)
        + "\n  wanted:\n    " + "\n    ".join(want))
    return out


@pytest.fixture
def daemon(daemon_factory) -> Daemon:
    d = daemon_factory(PROGRAMS, username=USER, password=PASSWORD)
    d.wait_states({**{n: "RUNNING" for n in RUNNING}, "quick": "FATAL"}, timeout=20)
    return d


UP = "pid <pid>, uptime <uptime>"
TOO_QUICK = "Exited too quickly (process log may have details)"


def test_status_output_and_exit_codes(daemon):
    ctl = Ctl(daemon)
    full = [
        status_line("manual", "STOPPED", "Not started"),
        status_line("np:np_00", "RUNNING", UP),
        status_line("np:np_01", "RUNNING", UP),
        status_line("quick", "FATAL", TOO_QUICK),
        status_line("sleeper", "RUNNING", UP),
        status_line("texter", "RUNNING", UP),
        status_line("x:xa", "RUNNING", UP),
    ]
    expect(ctl, ["status"], 3, full)
    expect(ctl, ["status", "all"], 3, full)
    expect(ctl, ["status", "sleeper"], 0, [status_line("sleeper", "RUNNING", UP)])
    expect(ctl, ["status", "np:*"], 0, full[1:3])
    expect(ctl, ["status", "x:xa", "sleeper"], 0, [full[6], full[4]])
    expect(ctl, ["status", "manual"], 3, [full[0]])
    expect(ctl, ["status", "quick"], 3, [full[3]])
    expect(ctl, ["status", "nope"], 4, ["nope: ERROR (no such process)"])
    expect(ctl, ["status", "nope:*"], 4, ["nope: ERROR (no such group)"])
    expect(ctl, ["status", "nope", "sleeper"], 4,
           ["nope: ERROR (no such process)", full[4]])


def test_start_stop_restart(daemon):
    ctl = Ctl(daemon)
    pid = daemon.process_infos()["sleeper"]["pid"]
    expect(ctl, ["start", "manual"], 0, ["manual: started"])
    expect(ctl, ["start", "manual"], 0, ["manual: ERROR (already started)"])
    expect(ctl, ["start", "nope"], 1, ["nope: ERROR (no such process)"])
    expect(ctl, ["start", "quick"], 7, ["quick: ERROR (spawn error)"])
    expect(ctl, ["stop", "manual"], 0, ["manual: stopped"])
    expect(ctl, ["stop", "manual"], 0, ["manual: ERROR (not running)"])
    expect(ctl, ["stop", "nope"], 1, ["nope: ERROR (no such process)"])
    expect(ctl, ["stop", "np:*"], 0, ["np:np_00: stopped", "np:np_01: stopped"], sort=True)
    expect(ctl, ["start", "np:*"], 0, ["np:np_00: started", "np:np_01: started"], sort=True)
    expect(ctl, ["restart", "sleeper"], 0, ["sleeper: stopped", "sleeper: started"])
    assert daemon.process_infos()["sleeper"]["pid"] != pid
    daemon.wait_states({"quick": "FATAL"})
    expect(ctl, ["stop", "all"], 0, [f"{n}: stopped" for n in RUNNING], sort=True)
    expect(ctl, ["status", "sleeper"], 3, [status_line("sleeper", "STOPPED", "<date>")])
    _, out = ctl("start", "all")
    got = sorted(normalise(out).strip().split("\n"))
    assert got == sorted([f"{n}: started" for n in RUNNING + ["manual"]]
                         + ["quick: ERROR (spawn error)"]), out


def test_tail_signal_pid_version(daemon):
    ctl = Ctl(daemon)
    infos = daemon.process_infos()
    expect(ctl, ["tail", "texter"], 0, ["hello-out"])
    expect(ctl, ["tail", "texter", "stderr"], 0, ["hello-err"])
    expect(ctl, ["tail", "-3", "texter"], 0, ["ut"])
    expect(ctl, ["signal", "CONT", "sleeper"], 0, ["sleeper: signalled"])
    expect(ctl, ["signal", "NOPE", "sleeper"], 1, ["sleeper: ERROR (bad signal name)"])
    expect(ctl, ["signal", "CONT", "manual"], 7, ["manual: ERROR (not running)"])
    expect(ctl, ["signal", "CONT", "np:*"], 0, ["np:np_00: signalled", "np:np_01: signalled"],
           sort=True)
    assert daemon.process_infos()["sleeper"]["pid"] == infos["sleeper"]["pid"]
    rc, out = ctl("pid")
    assert (rc, out.strip()) == (0, str(daemon.pid)), out
    rc, out = ctl("pid", "sleeper")
    assert (rc, out.strip()) == (0, str(infos["sleeper"]["pid"])), out
    rc, out = ctl("pid", "all")
    assert rc == 0 and sorted(out.split()) == sorted(
        str(i["pid"]) for i in infos.values()), out
    expect(ctl, ["version"], 0, ["4.3.0"])


def test_avail_reread_update(daemon):
    ctl = Ctl(daemon)

    def avail(name, inuse, auto):
        return "%-32s %-9s %-9s %s" % (name, inuse, auto, "999:999" if not name.startswith(
            "x:") else "5:10")
    expect(ctl, ["avail"], 0, [
        avail("manual", "in use", "manual"),
        avail("np:np_00", "in use", "auto"),
        avail("np:np_01", "in use", "auto"),
        avail("quick", "in use", "auto"),
        avail("sleeper", "in use", "auto"),
        avail("texter", "in use", "auto"),
        avail("x:xa", "in use", "auto"),
    ])
    expect(ctl, ["reread"], 0, ["No config updates to processes"])
    changed = (PROGRAMS.replace("[program:manual]\ncommand = /bin/sleep 100000\n"
                                "autostart = false\n", "")
               .replace("echo hello-out;", "echo hello-again;")
               + "\n[program:added]\ncommand = /bin/sleep 100000\nstartsecs = 0\n")
    daemon.write_config(changed)
    expect(ctl, ["reread"], 0, ["added: available", "manual: disappeared", "texter: changed"])
    expect(ctl, ["update"], 0, [
        "manual: stopped", "manual: removed process group",
        "texter: stopped", "texter: updated process group",
        "added: added process group"])
    daemon.wait_states({"added": "RUNNING", "texter": "RUNNING"})
    expect(ctl, ["tail", "texter"], 0, ["hello-again"])
    expect(ctl, ["reread"], 0, ["No config updates to processes"])
    expect(ctl, ["update"], 0, [])
    expect(ctl, ["update", "nope"], 1, ["ERROR: no such group: nope"])
    expect(ctl, ["add", "nope"], 1, ["ERROR: no such process/group: nope"])
    expect(ctl, ["remove", "sleeper"], 1, ["ERROR: process/group still running: sleeper"])
    expect(ctl, ["clear", "texter"], 0, ["texter: cleared"])


def test_auth_required_and_shutdown(daemon):
    ctl = Ctl(daemon)
    rc, out = ctl("status", auth=False)
    assert rc == 1 and out.startswith("Server requires authentication"), out
    rc, out = ctl("-u", USER, "-p", "wrong", "status", auth=False)
    assert rc == 1 and out.startswith("Server requires authentication"), out
    expect(ctl, ["shutdown"], 0, ["Shut down"])
    wait_until(lambda: not daemon.alive(), 30, what=f"{daemon.impl} to exit after shutdown")
    expect(ctl, ["status"], 4, ["http://127.0.0.1:<port> refused connection"])


# ------------------------------------------------------------------- raftvisorctl

def test_raftvisorctl_matches_supervisorctl(raftvisord_factory):
    """raftvisorctl prints what supervisorctl prints, against raftvisord."""
    exe = require_raftvisorctl()
    d = raftvisord_factory(PROGRAMS, username=USER, password=PASSWORD)
    d.wait_states({**{n: "RUNNING" for n in RUNNING}, "quick": "FATAL"}, timeout=20)
    ref, ours = Ctl(d), Ctl(d, exe)
    rpc = d.proxy().supervisor

    def settle_quick():
        d.wait_states({"quick": "FATAL"})

    # (args, undo): `undo` restores the state the reference client changed, so that
    # raftvisorctl then runs on the same state and must print the same thing.
    sequence = [
        (["status"], None), (["status", "sleeper"], None), (["status", "np:*"], None),
        (["status", "nope"], None), (["status", "nope:*"], None), (["avail"], None),
        (["pid"], None), (["pid", "sleeper"], None), (["pid", "all"], None),
        (["start", "manual"], lambda: rpc.stopProcess("manual")),
        (["start", "manual"], None), (["start", "nope"], None),
        (["start", "quick"], settle_quick),
        (["status", "manual"], None),
        (["stop", "manual"], lambda: rpc.startProcess("manual")),
        (["stop", "manual"], None), (["stop", "nope"], None),
        (["status", "manual"], None), (["pid", "manual"], None),
        (["stop", "np:*"], lambda: rpc.startProcess("np:*")),
        (["start", "np:*"], lambda: rpc.stopProcess("np:*")),
    ]
    problems = []
    for args, undo in sequence:
        r_rc, r_out = ref(*args)
        if undo is not None:
            undo()
        o_rc, o_out = ours(*args)
        if args == ["start", "quick"]:
            settle_quick()
        r_norm, o_norm = normalise(r_out), normalise(o_out)
        if args[1:2] == ["np:*"]:  # group results arrive in completion order
            r_norm = "\n".join(sorted(r_norm.splitlines()))
            o_norm = "\n".join(sorted(o_norm.splitlines()))
        if (r_rc, r_norm) != (o_rc, o_norm):
            problems.append(f"$ ctl {' '.join(args)}\n  supervisorctl (rc {r_rc}):\n    "
                            + r_norm.replace("\n", "\n    ")
                            + f"\n  raftvisorctl (rc {o_rc}):\n    "
                            + o_norm.replace("\n", "\n    "))
    assert not problems, "\n".join(problems)
