"""TLS on the public HTTP port (`tls_certificate`/`tls_key` in `[inet_http_server]`): a
one-instance cluster serves XML-RPC, REST, metrics and the dashboard over HTTPS only, with a
certificate of a test CA made here with openssl. Python's `xmlrpc.client` and raftvisorctl
(`tls_ca`, `--tls-ca`) reach it; a client that does not trust the CA, a plain-HTTP client and a
wrong password are refused; a client that never ends its handshake holds nobody up; children
get an `https://` SUPERVISOR_SERVER_URL; SIGHUP serves a renewed certificate and keeps the
previous one when the files no longer load; a config naming an unusable key exits 2."""

from __future__ import annotations

import base64
import http.client
import os
import signal
import socket
import ssl
import subprocess
import time
import xmlrpc.client
from pathlib import Path

import pytest

import harness
from conftest import require_impl

USER, PASSWORD = "admin", "s3cret"
TIMEOUT = 60


def openssl(*args: str, cwd: Path) -> None:
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"openssl {' '.join(args)}:\n{r.stderr}"


def make_ca(d: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for 127.0.0.1 and localhost signed by it:
    `(ca.pem, server.pem, server.key)`."""
    d.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=raftvisor test CA", cwd=d)
    issue_server_certificate(d)
    return d / "ca.pem", d / "server.pem", d / "server.key"


def issue_server_certificate(d: Path) -> None:
    """A new key and certificate for 127.0.0.1 and localhost in `d`/server.{key,pem}, signed
    by `d`'s CA (as a renewal does)."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=localhost", cwd=d)
    (d / "ext.cnf").write_text(
        "subjectAltName = IP:127.0.0.1, DNS:localhost\n"
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature\n"
        "extendedKeyUsage = serverAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)


class TlsTransport(xmlrpc.client.SafeTransport):
    """`SafeTransport` with a socket timeout, so a hung daemon cannot hang a test."""

    def __init__(self, context: ssl.SSLContext, timeout: float = 30):
        super().__init__(context=context)
        self._timeout = timeout

    def make_connection(self, host):
        conn = super().make_connection(host)
        conn.timeout = self._timeout
        return conn


def config(tmp: Path, port: int, internal: int, cert: Path, key: Path) -> Path:
    text = f"""[supervisord]
logfile = {tmp / 'daemon.log'}
pidfile = {tmp / 'daemon.pid'}
childlogdir = {tmp}
identifier = s1

[inet_http_server]
port = 127.0.0.1:{port}
username = {USER}
password = {PASSWORD}
tls_certificate = {cert}
tls_key = {key}

[rpcinterface:supvisors]
supervisor.rpcinterface_factory = supvisors.plugin:make_supvisors_rpcinterface
supvisors_list = <s1>127.0.0.1:{port}:{internal}
data_dir = {tmp / 'data'}
cluster_secret = tls-test-secret

[supervisorctl]
serverurl = https://127.0.0.1:{port}
username = {USER}
password = {PASSWORD}

[program:env]
command = /bin/sh -c 'echo "url=$SUPERVISOR_SERVER_URL"; exec sleep 1000'
autostart = true
startsecs = 0
stdout_logfile = {tmp / 'env.log'}
"""
    conf = tmp / "daemon.conf"
    conf.write_text(text)
    return conf


class Server:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.ca, self.cert, self.key = make_ca(tmp / "pki")
        self.trusting = ssl.create_default_context(cafile=str(self.ca))
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def start(self) -> None:
        exe = harness.raftvisor_bin("raftvisord")
        assert exe is not None
        self.port, internal = harness.free_ports(2)
        self.conf = config(self.tmp, self.port, internal, self.cert, self.key)
        out = open(self.tmp / "daemon.out", "ab")
        try:
            self.proc = subprocess.Popen([str(exe), "-c", str(self.conf)], stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=self.tmp, start_new_session=True)
        finally:
            out.close()

        def operation():
            assert self.proc.poll() is None, (self.tmp / "daemon.out").read_text()
            try:
                state = self.proxy(timeout=2).supvisors.get_supvisors_state()
                return state["fsm_statename"] == "OPERATION"
            except (OSError, xmlrpc.client.Error):
                return False
        harness.wait_until(operation, TIMEOUT, what="OPERATION over HTTPS")

    def proxy(self, context: ssl.SSLContext | None = None, password: str = PASSWORD,
              timeout: float = 30) -> xmlrpc.client.ServerProxy:
        return xmlrpc.client.ServerProxy(
            f"https://{USER}:{password}@127.0.0.1:{self.port}/RPC2",
            transport=TlsTransport(context or self.trusting, timeout))

    def get(self, path: str) -> tuple[int, str]:
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30,
                                           context=self.trusting)
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        try:
            conn.request("GET", path, headers={"Authorization": f"Basic {token}"})
            r = conn.getresponse()
            return r.status, r.read().decode()
        finally:
            conn.close()

    def ctl(self, *args: str) -> subprocess.CompletedProcess:
        exe = harness.raftvisor_bin("raftvisorctl")
        assert exe is not None
        return subprocess.run([str(exe), *args], capture_output=True, text=True,
                              timeout=TIMEOUT, stdin=subprocess.DEVNULL, cwd=self.tmp)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=TIMEOUT)
        assert self.proc.returncode == 0, (self.tmp / "daemon.out").read_text()[-3000:]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_impl("raftvisord")
    s = Server(tmp_path_factory.mktemp("tls"))
    s.start()
    try:
        yield s
    finally:
        s.stop()


def test_xmlrpc_rest_and_metrics_over_https(server):
    p = server.proxy()
    assert p.supervisor.getState()["statename"] == "RUNNING"
    assert p.supervisor.getProcessInfo("env")["statename"] == "RUNNING"
    p.supervisor.stopProcess("env")
    p.supervisor.startProcess("env")
    assert p.supervisor.getProcessInfo("env")["statename"] == "RUNNING"
    status, body = server.get("/supvisors/supvisors_state")
    assert status == 200 and "OPERATION" in body, body
    status, body = server.get("/metrics")
    assert status == 200 and "raftvisor_" in body
    status, body = server.get("/")
    assert status == 200 and "<html" in body.lower()


def test_children_get_an_https_server_url(server):
    log = server.tmp / "env.log"
    harness.wait_until(lambda: log.exists() and "url=" in log.read_text(), TIMEOUT,
                       what="the env program's output")
    assert f"url=https://127.0.0.1:{server.port}" in log.read_text()


def test_a_client_that_does_not_trust_the_ca_is_refused(server):
    with pytest.raises(ssl.SSLCertVerificationError):
        server.proxy(context=ssl.create_default_context()).supervisor.getState()


def test_plain_http_is_refused(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError,
                            http.client.BadStatusLine)):
            conn.request("GET", "/RPC2")
            conn.getresponse()
    finally:
        conn.close()


def test_a_wrong_password_gets_401_over_https(server):
    with pytest.raises(xmlrpc.client.ProtocolError) as e:
        server.proxy(password="wrong").supervisor.getState()
    assert e.value.errcode == 401


def test_a_client_that_never_ends_its_handshake_holds_nobody_up(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as idle:
        idle.sendall(b"\x16\x03\x01")  # the start of a ClientHello, never finished
        t0 = time.monotonic()
        assert server.proxy().supervisor.getState()["statename"] == "RUNNING"
        assert time.monotonic() - t0 < 5


def test_raftvisorctl_over_https(server):
    # [supervisorctl] serverurl = https://…, and tls_ca in the config.
    conf = server.tmp / "ctl.conf"
    conf.write_text(server.conf.read_text().replace(
        "[supervisorctl]\n", f"[supervisorctl]\ntls_ca = {server.ca}\n"))
    r = server.ctl("-c", str(conf), "status", "env")
    assert r.returncode == 0 and "RUNNING" in r.stdout, r.stdout + r.stderr
    # --tls-ca on the command line.
    url = f"https://127.0.0.1:{server.port}"
    r = server.ctl("-s", url, "-u", USER, "-p", PASSWORD, "--tls-ca", str(server.ca),
                   "status", "env")
    assert r.returncode == 0 and "RUNNING" in r.stdout, r.stdout + r.stderr
    # Without the CA: the system's roots do not know it, and the message says why.
    r = server.ctl("-s", url, "-u", USER, "-p", PASSWORD, "status", "env")
    assert r.returncode != 0
    assert "certificate" in (r.stdout + r.stderr).lower(), r.stdout + r.stderr


def served_certificate(server) -> bytes:
    """The DER certificate a new TLS connection gets."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as raw:
        with server.trusting.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return tls.getpeercert(binary_form=True)


def file_certificate(path: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(path.read_text())


def test_sighup_serves_a_renewed_certificate_and_keeps_the_old_one_on_a_bad_file(server):
    # Last in this module: SIGHUP also restarts the programs.
    log = server.tmp / "daemon.log"
    first = served_certificate(server)
    assert first == file_certificate(server.cert)
    good = server.cert.read_text()
    server.cert.write_text("not a certificate\n")
    os.kill(server.proc.pid, signal.SIGHUP)
    harness.wait_until(lambda: "TLS certificate not reloaded" in log.read_text(), TIMEOUT,
                       what="the refused reload in the log")
    assert served_certificate(server) == first
    server.cert.write_text(good)
    issue_server_certificate(server.cert.parent)
    renewed = file_certificate(server.cert)
    assert renewed != first
    os.kill(server.proc.pid, signal.SIGHUP)
    harness.wait_until(lambda: served_certificate(server) == renewed, TIMEOUT,
                       what="the renewed certificate served")
    assert server.proxy().supervisor.getState()["statename"] == "RUNNING"
    assert server.proc.poll() is None


def test_an_unusable_key_exits_2_naming_the_file(tmp_path):
    require_impl("raftvisord")
    ca, cert, key = make_ca(tmp_path / "pki")
    port, internal = harness.free_ports(2)
    missing = tmp_path / "pki" / "nope.key"
    conf = config(tmp_path, port, internal, cert, missing)
    exe = harness.raftvisor_bin("raftvisord")
    r = subprocess.run([str(exe), "-c", str(conf)], capture_output=True, text=True,
                       timeout=TIMEOUT, stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert str(missing) in r.stderr and "private key" in r.stderr, r.stderr
    # A key that is not the certificate's.
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-out", "other.key", cwd=tmp_path / "pki")
    conf = config(tmp_path, port, internal, cert, tmp_path / "pki" / "other.key")
    r = subprocess.run([str(exe), "-c", str(conf)], capture_output=True, text=True,
                       timeout=TIMEOUT, stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "server.pem" in r.stderr, r.stderr
    assert not (tmp_path / "env.log").exists(), "a program started before the refusal"
