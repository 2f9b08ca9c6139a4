"""`[supervisord] user=`: started as root, raftvisord runs as that user once its ports are bound
and its logs and pidfile are open, as supervisord does; its programs run as that user too,
and it still serves and stops cleanly. Started as another user than root, it refuses (exit 2).

Needs root (CI runs as root): without it the test fails, it never skips.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import xmlrpc.client
from pathlib import Path

import shutil
import tempfile

import pytest

import harness
from conftest import require_impl

TIMEOUT = 60


@pytest.fixture
def request_cleanup():
    """Removes the directories given to it once the test is over."""
    dirs: list[Path] = []
    yield dirs.append
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


def uids(pid: int) -> list[int]:
    """Real, effective, saved and filesystem uids of `pid`."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return [int(x) for x in line.split()[1:]]
    raise AssertionError(f"no Uid line for {pid}")


def test_the_daemon_and_its_programs_run_as_the_configured_user(request_cleanup):
    require_impl("raftvisord")
    if os.geteuid() != 0:
        pytest.fail("this test needs root (dropping privileges)", pytrace=False)
    nobody = pwd.getpwnam("nobody")
    # The user writes its programs' logs and the marker: a directory it can reach and write
    # (pytest's own tmp dirs are root's alone).
    work = Path(tempfile.mkdtemp(prefix="raftvisor-privileges."))
    work.chmod(0o777)
    request_cleanup(work)
    port = harness.free_port()
    conf = work / "daemon.conf"
    conf.write_text(f"""[supervisord]
logfile = {work / 'daemon.log'}
pidfile = {work / 'daemon.pid'}
childlogdir = {work}
identifier = s1
user = nobody

[inet_http_server]
port = 127.0.0.1:{port}

[program:marker]
command = /bin/sh -c "touch {work / 'started'}; exec sleep 1000"
autostart = true
startsecs = 0
""")
    exe = harness.raftvisor_bin("raftvisord")
    assert exe is not None
    proc = subprocess.Popen([str(exe), "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, cwd=work)
    try:
        harness.wait_until(lambda: (work / "started").exists(), TIMEOUT,
                           what="the marker program to start")
        assert uids(proc.pid) == [nobody.pw_uid] * 4
        server = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{port}/RPC2")
        info = server.supervisor.getProcessInfo("marker")
        assert info["statename"] == "RUNNING"
        assert uids(info["pid"]) == [nobody.pw_uid] * 4
        assert "dropped privileges" in (work / "daemon.log").read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=TIMEOUT) == 0


def test_a_daemon_not_started_as_root_cannot_switch_users_and_exits_2(request_cleanup):
    # Started as nobody with user = root: only root can switch users (supervisord: "Can't
    # drop privilege as nonroot user"), refused before any program starts.
    require_impl("raftvisord")
    if os.geteuid() != 0:
        pytest.fail("this test needs root (to start the daemon as another user)",
                    pytrace=False)
    nobody = pwd.getpwnam("nobody")
    work = Path(tempfile.mkdtemp(prefix="raftvisor-privileges."))
    work.chmod(0o777)
    request_cleanup(work)
    conf = work / "daemon.conf"
    conf.write_text(f"""[supervisord]
logfile = {work / 'daemon.log'}
pidfile = {work / 'daemon.pid'}
identifier = s1
user = root

[inet_http_server]
port = 127.0.0.1:{harness.free_port()}

[program:marker]
command = /bin/sh -c "touch {work / 'started'}; exec sleep 1000"
autostart = true
startsecs = 0
""")
    conf.chmod(0o644)
    exe = harness.raftvisor_bin("raftvisord")
    assert exe is not None

    def as_nobody() -> None:
        os.setgroups([])
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)

    r = subprocess.run([str(exe), "-c", str(conf)], capture_output=True, text=True,
                       timeout=TIMEOUT, stdin=subprocess.DEVNULL, cwd=work,
                       preexec_fn=as_nobody)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert ('cannot drop privileges to user "root" ([supervisord] user): running as uid '
            f"{nobody.pw_uid}, not root") in r.stderr, r.stderr
    assert not (work / "started").exists()
