"""Start and stop a supervisord-compatible daemon for end-to-end tests.

One `Daemon` is one daemon process — the reference Python supervisord 4.3 from the venv, or
raftvisord from ``$RAFTVISOR_BIN_DIR`` — with its own temp dir, config file, free TCP port,
log file, pid file and child log dir. Both are started the same way (``-c FILE -n``) with
the same INI text, so a test can run unchanged against either.

Cleanup is by PID only and never trusts the daemon: before SIGTERM the harness records the
children (from ``getAllProcessInfo``, from ``/proc/*/stat`` ppid links and from a unique tag
placed in every child's environment through ``[supervisord] environment``), each with its
``/proc`` start time so a recycled PID is never killed. Every wait is a poll with a deadline.

Used by conftest.py (pytest fixtures) and scripts/bench/bench_supervisor.py.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
import xmlrpc.client
from pathlib import Path
from typing import Callable, Iterable, Optional

REPO = Path(__file__).resolve().parents[1]
IMPLS = ("supervisord", "raftvisord")
TAG_VAR = "RAFTVISOR_TEST_TAG"


class HarnessError(RuntimeError):
    """The daemon could not be started, or did not answer in time."""


def is_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def venv_bin_dir() -> Path:
    """Directory holding supervisord/supervisorctl: the running interpreter's venv first."""
    here = Path(sys.executable).parent
    if (here / "supervisord").exists():
        return here
    env = os.environ.get("RAFTVISOR_VENV")
    if env and (Path(env) / "bin" / "supervisord").exists():
        return Path(env) / "bin"
    return REPO / ".venv" / "bin"


def supervisorctl_path() -> Path:
    return venv_bin_dir() / "supervisorctl"


def raftvisor_bin(name: str) -> Optional[Path]:
    """Path of a raftvisor binary in $RAFTVISOR_BIN_DIR, or None when unavailable."""
    d = os.environ.get("RAFTVISOR_BIN_DIR")
    if not d:
        return None
    p = Path(d) / name
    return p if p.is_file() and os.access(p, os.X_OK) else None


def unavailable_reason(impl: str) -> Optional[str]:
    """Why `impl` cannot run here, or None when it can."""
    if impl == "supervisord":
        p = venv_bin_dir() / "supervisord"
        return None if p.exists() else f"supervisord not found at {p} (run scripts/setup-python.sh)"
    if impl == "raftvisord":
        d = os.environ.get("RAFTVISOR_BIN_DIR")
        if not d:
            return "RAFTVISOR_BIN_DIR is not set"
        if raftvisor_bin("raftvisord") is None:
            return f"no executable raftvisord in RAFTVISOR_BIN_DIR={d}"
        return None
    return f"unknown implementation {impl!r}"


def daemon_command(impl: str, conf: Path) -> list[str]:
    if impl == "supervisord":
        return [str(venv_bin_dir() / "supervisord"), "-c", str(conf), "-n"]
    if impl == "raftvisord":
        p = raftvisor_bin("raftvisord")
        if p is None:
            raise HarnessError(unavailable_reason("raftvisord") or "raftvisord unavailable")
        return [str(p), "-c", str(conf), "-n"]
    raise HarnessError(f"unknown implementation {impl!r}")


def url_host(host: str) -> str:
    """`host` as it appears in a URL or `host:port`: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def _ephemeral_range() -> tuple[int, int]:
    """The kernel's range for the local ports of outgoing connections (and of bind to 0)."""
    try:
        lo, hi = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


# Seeded from the OS per process: concurrent test runs draw different ports.
_PORTS = random.Random()

# Daemon output that means a port chosen by the harness was taken before the daemon bound it.
PORT_CLASH_MARKERS = ("Address already in use", "address in use", "cannot bind")


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """`n` distinct TCP ports free on `host` right now (all bound at once, then released).

    Drawn at random OUTSIDE the kernel's ephemeral range: a port from bind(0) is one the kernel
    also hands to any process's next outgoing connection, so it can be taken between this check
    and the daemon's bind; outside that range only another explicit bind can take it (and
    `Daemon.start` / `Cluster.start` retry on other ports when that happens)."""
    lo, hi = _ephemeral_range()
    pool = [p for p in range(10000, 65536) if not lo <= p <= hi]
    _PORTS.shuffle(pool)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    socks: list[socket.socket] = []
    try:
        for port in pool:
            if len(socks) == n:
                break
            s = socket.socket(family, socket.SOCK_STREAM)
            try:
                s.bind((host, port))
            except OSError:
                s.close()
                continue
            socks.append(s)
        while len(socks) < n:  # no room outside the ephemeral range: let the kernel choose
            s = socket.socket(family, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (see `free_ports`)."""
    return free_ports(1)[0]


def wait_until(pred: Callable[[], object], timeout: float, interval: float = 0.05,
               what: str = "condition"):
    """Poll `pred` until it returns a truthy value (returned) or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    last_exc: Optional[BaseException] = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # the predicate may fail while a daemon comes up
            last_exc = e
        if time.monotonic() >= deadline:
            extra = f" (last error: {last_exc!r})" if last_exc else ""
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}{extra}")
        time.sleep(interval)


# ---------------------------------------------------------------- /proc helpers (Linux)

def proc_start_time(pid: int) -> Optional[int]:
    """Field 22 of /proc/PID/stat (start time in clock ticks), None if the pid is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'.
    rest = data[data.rfind(")") + 2:].split()
    try:
        return int(rest[19])
    except (IndexError, ValueError):
        return None


def proc_ppid(pid: int) -> Optional[int]:
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = data[data.rfind(")") + 2:].split()
    try:
        return int(rest[1])
    except (IndexError, ValueError):
        return None


def proc_is_zombie(pid: int) -> bool:
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    rest = data[data.rfind(")") + 2:].split()
    return bool(rest) and rest[0] in ("Z", "X")


def proc_cpu_ticks(pid: int) -> Optional[int]:
    """utime + stime of PID in clock ticks."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = data[data.rfind(")") + 2:].split()
    return int(rest[11]) + int(rest[12])


def proc_rss_kb(pid: int) -> Optional[int]:
    """VmRSS of PID in KiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def all_pids() -> list[int]:
    return [int(n) for n in os.listdir("/proc") if n.isdigit()]


def pids_with_env_tag(tag: str) -> list[int]:
    """Pids whose environment holds TAG_VAR=tag (our daemons' children and grandchildren)."""
    needle = f"{TAG_VAR}={tag}".encode()
    found = []
    for pid in all_pids():
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if needle in env.split(b"\0"):
            found.append(pid)
    return found


def descendants(root: int) -> list[int]:
    """All live descendants of `root` according to /proc ppid links."""
    children: dict[int, list[int]] = {}
    for pid in all_pids():
        pp = proc_ppid(pid)
        if pp is not None:
            children.setdefault(pp, []).append(pid)
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def still_same_process(pid: int, start: Optional[int]) -> bool:
    """True while `pid` is alive (not a zombie) and is the process recorded at `start`."""
    now_start = proc_start_time(pid)
    if now_start is None or (start is not None and now_start != start):
        return False
    return not proc_is_zombie(pid)


def kill_recorded(recorded: dict[int, Optional[int]], sig: int = signal.SIGKILL) -> list[int]:
    """Send `sig` to every recorded pid that still has the same start time; return those hit."""
    hit = []
    for pid, start in recorded.items():
        if pid <= 1 or pid == os.getpid():
            continue
        if not still_same_process(pid, start):
            continue  # gone, a zombie, or the pid was recycled by an unrelated process
        try:
            os.kill(pid, sig)
            hit.append(pid)
        except ProcessLookupError:
            pass
    return hit


# ---------------------------------------------------------------- config rendering

def render_config(*, port: int, workdir: Path, programs: str, tag: str,
                  username: Optional[str] = None, password: Optional[str] = None,
                  unix_socket: Optional[Path] = None, identifier: Optional[str] = None,
                  supervisord_extra: str = "", loglevel: str = "debug",
                  host: str = "127.0.0.1", inet_extra: str = "") -> str:
    """Full INI text: [supervisord] with unique paths, servers, rpcinterface, then `programs`.
    `host`: the address of `[inet_http_server]` (`::1` for IPv6); `inet_extra`: more lines of
    that section."""
    lines = [
        "[supervisord]",
        f"logfile = {workdir / 'daemon.log'}",
        f"pidfile = {workdir / 'daemon.pid'}",
        f"childlogdir = {workdir / 'childlogs'}",
        f"loglevel = {loglevel}",
        f'environment = {TAG_VAR}="{tag}"',
    ]
    if identifier:
        lines.append(f"identifier = {identifier}")
    if supervisord_extra:
        lines.append(supervisord_extra.strip())
    lines += ["", "[inet_http_server]", f"port = {url_host(host)}:{port}"]
    if inet_extra:
        lines.append(inet_extra.strip())
    if username:
        lines += [f"username = {username}", f"password = {password}"]
    if unix_socket is not None:
        lines += ["", "[unix_http_server]", f"file = {unix_socket}", "chmod = 0700"]
        if username:
            lines += [f"username = {username}", f"password = {password}"]
    lines += [
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl = http://{url_host(host)}:{port}",
    ]
    if username:
        lines += [f"username = {username}", f"password = {password}"]
    lines += ["", textwrap.dedent(programs).strip(), ""]
    return "\n".join(lines)


# ---------------------------------------------------------------- the daemon

class Daemon:
    """One daemon under test. Call start(); always call stop() (fixtures do)."""

    def __init__(self, impl: str, workdir: Path, programs: str = "", *,
                 username: Optional[str] = None, password: Optional[str] = None,
                 unix_socket: bool = False, identifier: Optional[str] = None,
                 supervisord_extra: str = "", loglevel: str = "debug", inet_extra: str = ""):
        self.impl = impl
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "childlogs").mkdir(exist_ok=True)
        self.username, self.password = username, password
        self.identifier = identifier
        self.supervisord_extra = supervisord_extra
        self.inet_extra = inet_extra
        self.loglevel = loglevel
        self.unix_socket = self.workdir / "daemon.sock" if unix_socket else None
        self.tag = uuid.uuid4().hex
        self.host = "127.0.0.1"  # where [inet_http_server] listens (`::1` for IPv6)
        self.port = 0
        self.programs = programs
        self.conf = self.workdir / "daemon.conf"
        self.output_path = self.workdir / "daemon.out"
        self.proc: Optional[subprocess.Popen] = None
        self.recorded: dict[int, Optional[int]] = {}
        self.startup_seconds: Optional[float] = None
        self.started_at: Optional[float] = None  # time.monotonic() just before the spawn

    # -- config
    def write_config(self, programs: Optional[str] = None) -> None:
        if programs is not None:
            self.programs = programs
        self.conf.write_text(render_config(
            port=self.port, workdir=self.workdir, programs=self.programs, tag=self.tag,
            username=self.username, password=self.password, unix_socket=self.unix_socket,
            identifier=self.identifier, supervisord_extra=self.supervisord_extra,
            loglevel=self.loglevel, host=self.host, inet_extra=self.inet_extra))

    # -- addresses
    @property
    def url(self) -> str:
        return f"http://{url_host(self.host)}:{self.port}"

    @property
    def rpc_url(self) -> str:
        if self.username:
            return (f"http://{self.username}:{self.password}@{url_host(self.host)}:{self.port}"
                    "/RPC2")
        return f"http://{url_host(self.host)}:{self.port}/RPC2"

    def proxy(self, timeout: float = 60.0) -> xmlrpc.client.ServerProxy:
        """A fresh ServerProxy (one persistent HTTP connection) with a socket timeout."""
        return xmlrpc.client.ServerProxy(self.rpc_url, transport=_TimeoutTransport(timeout))

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output_tail(self, n: int = 3000) -> str:
        parts = []
        for p in (self.output_path, self.workdir / "daemon.log"):
            try:
                parts.append(f"--- {p.name} ---\n" + p.read_text(errors="replace")[-n:])
            except OSError:
                pass
        return "\n".join(parts)

    # -- lifecycle
    def start(self, timeout: float = 20.0, attempts: int = 3) -> "Daemon":
        """Start and poll getState until it answers; retries with a new port if bind fails."""
        last = ""
        for _ in range(attempts):
            self.port = free_port()
            self.write_config()
            cmd = daemon_command(self.impl, self.conf)
            out = open(self.output_path, "ab")
            t0 = self.started_at = time.monotonic()
            try:
                self.proc = subprocess.Popen(
                    cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    cwd=self.workdir, start_new_session=True)
            finally:
                out.close()
            deadline = t0 + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    st = self.proxy(timeout=2).supervisor.getState()
                    if isinstance(st, dict) and st.get("statename") == "RUNNING":
                        self.startup_seconds = time.monotonic() - t0
                        return self
                except (OSError, xmlrpc.client.Error):
                    pass
                time.sleep(0.05)
            last = self.output_tail()
            if self.proc.poll() is None:
                self.stop()
                raise HarnessError(
                    f"{self.impl} did not answer getState within {timeout}s on port "
                    f"{self.port}\n{last}")
            # exited early: maybe the port was taken meanwhile; try again on another port
            self.proc = None
        raise HarnessError(f"{self.impl} exited during startup ({attempts} attempts)\n{last}")

    def record_children(self) -> None:
        """Remember every child we can find, with its start time (for safe kills later)."""
        pids: set[int] = set()
        if self.alive():
            try:
                for info in self.proxy(timeout=5).supervisor.getAllProcessInfo():
                    pid = info.get("pid") if isinstance(info, dict) else None
                    if isinstance(pid, int) and pid > 0:
                        pids.add(pid)
            except Exception:
                pass
            pids.update(descendants(self.proc.pid))
        pids.update(pids_with_env_tag(self.tag))
        for pid in pids:
            if pid not in self.recorded:
                st = proc_start_time(pid)
                if st is not None:
                    self.recorded[pid] = st

    def stop(self, timeout: float = 60.0) -> Optional[float]:
        """SIGTERM, wait (deadline), SIGKILL; then kill any recorded/tagged child left.

        Returns the seconds the daemon took to exit after SIGTERM (None if it had to be
        killed or was not running)."""
        took = None
        if self.proc is not None:
            self.record_children()
            if self.proc.poll() is None:
                t0 = time.monotonic()
                try:
                    os.kill(self.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    self.proc.wait(timeout=timeout)
                    took = time.monotonic() - t0
                except subprocess.TimeoutExpired:
                    try:
                        os.kill(self.proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    try:
                        self.proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        pass
        # Children (and grandchildren, via the environment tag) that outlived the daemon.
        for pid in pids_with_env_tag(self.tag):
            st = proc_start_time(pid)
            if st is not None:
                self.recorded.setdefault(pid, st)
        kill_recorded(self.recorded)
        if self.recorded:
            try:
                wait_until(lambda: not any(still_same_process(p, s)
                                           for p, s in self.recorded.items()),
                           timeout=10, what="children to die")
            except TimeoutError:
                pass
        return took

    # -- convenience
    def process_infos(self) -> dict[str, dict]:
        infos = self.proxy().supervisor.getAllProcessInfo()
        return {namespec(i): i for i in infos}

    def wait_states(self, wanted: dict[str, Iterable[str] | str], timeout: float = 20.0) -> dict:
        """Poll getAllProcessInfo until every namespec in `wanted` is in one of its states."""
        norm = {k: ({v} if isinstance(v, str) else set(v)) for k, v in wanted.items()}
        last: dict = {}

        def ok():
            nonlocal last
            last = self.process_infos()
            return all(k in last and last[k]["statename"] in v for k, v in norm.items())
        try:
            wait_until(ok, timeout, what=f"states {wanted}")
        except TimeoutError as e:
            got = {k: last.get(k, {}).get("statename") for k in norm}
            raise TimeoutError(f"{e}; last seen {got}") from None
        return last


def namespec(info: dict) -> str:
    g, n = info.get("group"), info.get("name")
    return n if g == n else f"{g}:{n}"


class _TimeoutTransport(xmlrpc.client.Transport):
    """xmlrpc Transport with a socket timeout, so a hung daemon cannot hang a test."""

    def __init__(self, timeout: float):
        super().__init__()
        self._timeout = timeout

    def make_connection(self, host):
        conn = super().make_connection(host)
        conn.timeout = self._timeout
        return conn


class SingleShotTransport(_TimeoutTransport):
    """A `_TimeoutTransport` that sends a request once. The stock transport sends it again
    when the first try's connection is closed or reset without an answer (meant for a cached
    connection gone cold): a server killed after it acted on the request but before it
    answered then shows up as "connection refused" on the second try, which reads as "never
    reached the server". With one try, a refused connection means exactly that."""

    def request(self, host, handler, request_body, verbose=False):
        return self.single_request(host, handler, request_body, verbose)


def raw_xmlrpc_rate(port: int, method: str, seconds: float,
                    username: Optional[str] = None, password: Optional[str] = None) -> float:
    """calls/s of a zero-argument XML-RPC method for a client that reads each reply without
    parsing it: the stock client's XML parsing (~30 ms for 500 process structs) bounds a normal
    loop, so this is what measures the server. TCP_QUICKACK is set before every read so a
    server's Nagle/delayed-ACK stall (supervisord's, baseline.md) does not count either."""
    import base64
    import http.client
    body = (f"<?xml version='1.0'?>\n<methodCall>\n<methodName>{method}</methodName>\n"
            "<params>\n</params>\n</methodCall>\n").encode()
    headers = {"Content-Type": "text/xml"}
    if username:
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    calls = 0
    t0 = time.monotonic()
    end = t0 + seconds
    try:
        while time.monotonic() < end:
            conn.request("POST", "/RPC2", body, headers)
            if conn.sock is not None and hasattr(socket, "TCP_QUICKACK"):
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            resp = conn.getresponse()
            reply = resp.read()
            if resp.status != 200 or b"<fault>" in reply:
                raise HarnessError(f"{method}: bad reply {resp.status}: {reply[:200]!r}")
            calls += 1
    finally:
        conn.close()
    return calls / (time.monotonic() - t0)


def headless_chromium(timeout: float = 30.0):
    """Debian's chromium (scripts/setup-browser.sh installs it with chromium-driver), headless,
    driven by Selenium, at a laptop's window size; `timeout` bounds page loads and scripts.
    Raises HarnessError when either binary is missing: nothing downloads a browser of its own."""
    for path in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        if not os.access(path, os.X_OK):
            raise HarnessError(f"{path} is missing: run scripts/setup-browser.sh "
                               "(the test script does)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1280,900", "--disable-gpu"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(timeout)
    driver.set_script_timeout(timeout)
    return driver
