"""raftvisord's exit status, one rule (README "The daemon"): 2 when it never started serving —
the config, a rules file (bad XML, a file named explicitly that does not exist), a port already
in use — with no program started; 1 when it started and then failed; 0 after a requested stop.

Each case runs the real binary with a temp config; an autostarted program would create a
marker file, which must not exist after a refused start.
"""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

import pytest

import harness
from conftest import require_impl

TIMEOUT = 60


def config(tmp: Path, port: int, rules: str | None = None, internal: int | None = None) -> Path:
    marker = tmp / "started"
    text = f"""[supervisord]
logfile = {tmp / 'daemon.log'}
pidfile = {tmp / 'daemon.pid'}
identifier = s1

[inet_http_server]
port = 127.0.0.1:{port}

[program:marker]
command = /bin/sh -c "touch {marker}; exec sleep 1000"
autostart = true
startsecs = 0
"""
    if rules is not None:
        text += f"""
[rpcinterface:supvisors]
supervisor.rpcinterface_factory = supvisors.plugin:make_supvisors_rpcinterface
supvisors_list = <s1>127.0.0.1:{port}:{internal}
data_dir = {tmp / 'data'}
rules_files = {rules}
cluster_secret = exit-status-test-secret
"""
    conf = tmp / "daemon.conf"
    conf.write_text(text)
    return conf


def run(conf: Path) -> subprocess.CompletedProcess:
    exe = harness.raftvisor_bin("raftvisord")
    assert exe is not None
    return subprocess.run([str(exe), "-c", str(conf)], capture_output=True, text=True,
                          timeout=TIMEOUT, stdin=subprocess.DEVNULL, cwd=conf.parent)


def assert_refused(conf: Path, *needles: str) -> None:
    r = run(conf)
    assert r.returncode == 2, f"exit status {r.returncode}, wanted 2\n{r.stderr}"
    for n in needles:
        assert n in r.stderr, f"{n!r} not in stderr:\n{r.stderr}"
    assert not (conf.parent / "started").exists(), "a program was started before the refusal"


def serving_log(conf: Path) -> str:
    """Starts the daemon with `conf`, waits until its autostarted marker program runs (it
    serves), stops it with SIGTERM (exit 0 wanted) and returns its log."""
    exe = harness.raftvisor_bin("raftvisord")
    assert exe is not None
    tmp = conf.parent
    proc = subprocess.Popen([str(exe), "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, cwd=tmp)
    try:
        harness.wait_until(lambda: (tmp / "started").exists(), TIMEOUT,
                           what="the marker program to start")
        return (tmp / "daemon.log").read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=TIMEOUT) == 0


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    require_impl("raftvisord")
    return tmp_path


def test_config_error_exits_2(tmp):
    conf = config(tmp, harness.free_port())
    conf.write_text(conf.read_text() + "\n[program:bad]\ncommand = /bin/true\nstartsecs = soon\n")
    assert_refused(conf, "daemon.conf:", "startsecs")


def test_rules_file_xml_error_exits_2(tmp):
    (tmp / "rules.xml").write_text("<root>\n  <application name='a'>\n</root>\n")
    p1, p2 = harness.free_port(), harness.free_port()
    assert_refused(config(tmp, p1, rules=str(tmp / "rules.xml"), internal=p2),
                   "rules.xml:", "XML")


def test_missing_rules_file_named_explicitly_exits_2(tmp):
    p1, p2 = harness.free_port(), harness.free_port()
    assert_refused(config(tmp, p1, rules=str(tmp / "nope.xml"), internal=p2),
                   "nope.xml", "does not exist")


def test_rules_glob_matching_nothing_is_only_a_warning(tmp):
    p1, p2 = harness.free_port(), harness.free_port()
    conf = config(tmp, p1, rules=str(tmp / "rules.d" / "*.xml"), internal=p2)
    assert "no file matches" in serving_log(conf)


def test_port_in_use_exits_2_before_any_program_starts(tmp):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert_refused(config(tmp, busy.getsockname()[1]), "cannot bind inet_http_server")


def test_an_open_port_beyond_loopback_without_password_exits_2_unless_allowed(tmp):
    # All interfaces, no username/password: through supvisors.* anyone reaching the port
    # could stop the cluster, so the start is refused (Supervisor only warns)...
    port = harness.free_port()
    conf = config(tmp, port)
    conf.write_text(conf.read_text().replace(f"port = 127.0.0.1:{port}", f"port = *:{port}"))
    assert_refused(conf, "daemon.conf: [inet_http_server] listens on 0.0.0.0:",
                   "allow_unauthenticated = true")
    # ... unless the config says it wants the port open.
    conf.write_text(conf.read_text().replace(f"port = *:{port}",
                                             f"port = *:{port}\nallow_unauthenticated = true"))
    assert "listens beyond loopback (allow_unauthenticated = true)" in serving_log(conf)
