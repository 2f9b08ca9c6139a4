"""Hosts in network namespaces for partition tests: each raftvisord in its own namespace, all
on one bridge, so a host's link can be cut the way a real one goes down (packets vanish, no
RST), which loopback cannot do.

```
  root namespace:  bridge rvb<tag> ── veth rvh<tag><i> (host side: `cut`/`heal` set it down/up)
                                          │
  namespace rv<tag><i>:               veth rvn<tag><i>  10.<a>.<b>.<i+1>/24  + lo
                                          raftvisord (ip netns exec) and its children
```

Addresses live only inside the namespaces (the root namespace gets none). The test talks to
a daemon from inside its namespace: `in_netns` moves the calling *thread* into it with
setns(2) for the duration of one XML-RPC call, so nothing leaves the namespaces.

Processes are attributed to hosts from /proc: a PID belongs to the host whose namespace its
`/proc/PID/ns/net` link names (PIDs are not namespaced, so `pgrep` alone would see every
host's processes).

The daemons log at `info`; `RAFTVISOR_NETNS_LOGLEVEL=debug` (any Supervisor level) changes it
for a run being investigated (chaos/scale.sh's launch was read that way).

Everything created is removed by `Lab.close()` (daemons killed by PID, their children by PID,
namespaces, veths and the bridge deleted), which the test calls from a finaliser.
Needs root and `ip` (iproute2): without them `Lab` raises, and the test fails.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import shutil
import signal
import subprocess
import time
import xmlrpc.client
from pathlib import Path
from typing import Callable, Iterator, Optional

import harness
from harness import HarnessError, wait_until

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def require_root_and_ip() -> None:
    """Raises HarnessError (never skips) when namespaces cannot be made here."""
    if os.geteuid() != 0:
        raise HarnessError("the network-namespace tests need root (ip netns add)")
    if shutil.which("ip") is None:
        raise HarnessError("the network-namespace tests need `ip` (iproute2)")


def run(*args: str) -> None:
    """Runs one `ip` command; raises with its stderr on failure."""
    r = subprocess.run(args, capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        raise HarnessError(f"{' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"setns: {os.strerror(e)}")


@contextlib.contextmanager
def in_netns(name: str) -> Iterator[None]:
    """Runs the body with the calling thread in network namespace `name` (sockets made inside
    stay there), then moves the thread back."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(target)
        os.close(home)


def netns_inode(name: str) -> int:
    return os.stat(f"/run/netns/{name}").st_ino


def pid_netns_inode(pid: int) -> Optional[int]:
    try:
        link = os.readlink(f"/proc/{pid}/ns/net")  # "net:[4026532281]"
    except OSError:
        return None
    try:
        return int(link.split("[", 1)[1].rstrip("]"))
    except (IndexError, ValueError):
        return None


def pids_running(argv: list[str]) -> list[int]:
    """Live (non-zombie) processes whose command line is exactly `argv`."""
    want = "\0".join(argv).encode() + b"\0"
    out = []
    for pid in harness.all_pids():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read() != want:
                    continue
        except OSError:
            continue
        if not harness.proc_is_zombie(pid):
            out.append(pid)
    return out


class Host:
    """One raftvisord in namespace `ns` at `address`."""

    def __init__(self, lab: "Lab", index: int, identifier: str):
        self.lab = lab
        self.identifier = identifier
        self.ns = f"rv{lab.tag}{index}"
        self.veth_host = f"rvh{lab.tag}{index}"
        self.veth_ns = f"rvn{lab.tag}{index}"
        self.address = f"{lab.prefix}.{index + 1}"
        self.workdir = lab.base / identifier
        self.conf = self.workdir / "daemon.conf"
        self.output = self.workdir / "daemon.out"
        self.tag = f"netns-{lab.tag}-{identifier}"
        self.proc: Optional[subprocess.Popen] = None
        self.recorded: dict[int, Optional[int]] = {}
        # Added to the daemon's environment (the chaos suite's clock offset).
        self.extra_env: dict[str, str] = {}

    # -- XML-RPC, from inside the namespace
    def call(self, method: str, *args, timeout: float = 5.0):
        """`method` (dotted) on this host's XML-RPC server, called from its namespace, on a
        new connection and sent once (`SingleShotTransport`: the chaos suite counts a
        refused connection as a write that certainly did nothing)."""
        with in_netns(self.ns):
            proxy = xmlrpc.client.ServerProxy(
                f"http://{self.address}:{self.lab.http_port}/RPC2",
                transport=harness.SingleShotTransport(timeout))
            target = proxy
            for part in method.split("."):
                target = getattr(target, part)
            return target(*args)

    def try_call(self, method: str, *args, timeout: float = 5.0):
        """`call`, or None when the host does not answer or answers with a fault."""
        try:
            return self.call(method, *args, timeout=timeout)
        except (OSError, xmlrpc.client.Error, HarnessError):
            return None

    def supvisors_state(self) -> Optional[str]:
        try:
            return self.call("supvisors.get_supvisors_state")["fsm_statename"]
        except (OSError, xmlrpc.client.Error):
            return None

    def instance_states(self) -> dict[str, str]:
        try:
            return {i["identifier"]: i["statename"]
                    for i in self.call("supvisors.get_all_instances_info")}
        except (OSError, xmlrpc.client.Error):
            return {}

    def log_text(self) -> str:
        parts = []
        for p in (self.output, self.workdir / "daemon.log"):
            try:
                parts.append(p.read_text(errors="replace"))
            except OSError:
                pass
        return "\n".join(parts)

    # -- lifecycle
    def write_config(self, programs: str, options: dict[str, object], *,
                     peer: bool = False) -> None:
        """The daemon's config: raftvisord's, or with `peer` the Python peer's (supervisord
        with Supvisors 0.19, chaos/compare.py), whose `supvisors_list` items have no internal
        port and which knows none of raftvisord's own options."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "childlogs").mkdir(exist_ok=True)
        internal = "" if peer else f":{self.lab.http_port + 1}"
        members = ",".join(f"<{h.identifier}>{h.address}:{self.lab.http_port}{internal}"
                           for h in self.lab.hosts)
        # A test host's own namespace address: open on purpose (no client credentials).
        open_port = [] if peer else ["allow_unauthenticated = true"]
        lines = [
            "[supervisord]",
            f"logfile = {self.workdir / 'daemon.log'}",
            f"pidfile = {self.workdir / 'daemon.pid'}",
            f"childlogdir = {self.workdir / 'childlogs'}",
            f"loglevel = {os.environ.get('RAFTVISOR_NETNS_LOGLEVEL', 'info')}",
            f"identifier = {self.identifier}",
            f'environment = {harness.TAG_VAR}="{self.tag}"',
            "",
            "[inet_http_server]",
            f"port = {self.address}:{self.lab.http_port}",
            *open_port,
            "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "",
            "[rpcinterface:supvisors]",
            "supervisor.rpcinterface_factory = supvisors.plugin:make_supvisors_rpcinterface",
            f"supvisors_list = {members}",
        ]
        lines += [f"{k} = {v}" for k, v in options.items()]
        lines += ["", programs.strip(), ""]
        self.conf.write_text("\n".join(lines))

    def start(self, binary: Optional[Path] = None) -> None:
        """Starts raftvisord, or `binary` (the peer's supervisord), on `self.conf`."""
        binary = binary or harness.raftvisor_bin("raftvisord")
        if binary is None:
            raise HarnessError(harness.unavailable_reason("raftvisord") or "no raftvisord")
        with open(self.output, "ab") as out:
            # `ip netns exec` execs the daemon: the Popen pid is the daemon's.
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", self.ns, str(binary), "-c", str(self.conf), "-n"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.workdir, start_new_session=True,
                env={**os.environ, **self.extra_env} if self.extra_env else None)

    def wait_up(self, timeout: float) -> None:
        def up():
            if self.proc is None or self.proc.poll() is not None:
                raise HarnessError(f"{self.identifier} exited\n{self.log_text()[-3000:]}")
            try:
                return self.call("supervisor.getState", timeout=2)["statename"] == "RUNNING"
            except (OSError, xmlrpc.client.Error):
                return False
        wait_until(up, timeout, what=f"{self.identifier} answering in {self.ns}")

    def stop(self) -> None:
        """SIGTERM, bounded wait, SIGKILL; then every child it left, by PID."""
        if self.proc is None:
            return
        for pid in harness.pids_with_env_tag(self.tag) + harness.descendants(self.proc.pid):
            self.recorded.setdefault(pid, harness.proc_start_time(pid))
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        for pid in harness.pids_with_env_tag(self.tag):
            self.recorded.setdefault(pid, harness.proc_start_time(pid))
        harness.kill_recorded(self.recorded)


class Lab:
    """`n` hosts on one bridge. Use as a context manager, or call `close()` in a finaliser.

    The hosts' ports (`http_port`, and `http_port + 1` for the internal one) are below Linux's
    ephemeral range (32768–60999): a host's own calls (`Host.call`, from its namespace to its
    own address) to a port in that range, while its daemon is down (a `kill -9` and the
    restart), can draw that very port as their source and connect to themselves (TCP
    simultaneous open). The client then reads its own request as the answer, and the
    restarted daemon cannot bind its port ("Address already in use"): a chaos run once failed
    that way with 60000."""

    def __init__(self, base: Path, identifiers: list[str], http_port: int = 9100):
        require_root_and_ip()
        self.base = Path(base)
        self.tag = "%04x" % random.randrange(0x10000)
        self.http_port = http_port
        self.prefix = self._free_prefix()
        self.bridge = f"rvb{self.tag}"
        self.hosts = [Host(self, i, ident) for i, ident in enumerate(identifiers)]
        self._made_bridge = False
        self._made: list[Host] = []
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _free_prefix() -> str:
        """A private /24 in no route of the root namespace."""
        routes = subprocess.run(["ip", "-4", "route", "show", "table", "all"],
                                capture_output=True, text=True, timeout=10).stdout
        for _ in range(50):
            prefix = f"10.{random.randrange(200, 250)}.{random.randrange(1, 255)}"
            if f"{prefix}." not in routes:
                return prefix
        raise HarnessError("no free 10.x.y.0/24 found")

    def _build(self) -> None:
        run("ip", "link", "add", self.bridge, "type", "bridge")
        self._made_bridge = True
        run("ip", "link", "set", self.bridge, "up")
        for h in self.hosts:
            run("ip", "netns", "add", h.ns)
            self._made.append(h)
            run("ip", "link", "add", h.veth_host, "type", "veth", "peer", "name", h.veth_ns)
            run("ip", "link", "set", h.veth_ns, "netns", h.ns)
            run("ip", "link", "set", h.veth_host, "master", self.bridge)
            run("ip", "link", "set", h.veth_host, "up")
            run("ip", "-n", h.ns, "addr", "add", f"{h.address}/24", "dev", h.veth_ns)
            run("ip", "-n", h.ns, "link", "set", h.veth_ns, "up")
            run("ip", "-n", h.ns, "link", "set", "lo", "up")

    def __getitem__(self, identifier: str) -> Host:
        return next(h for h in self.hosts if h.identifier == identifier)

    def __enter__(self) -> "Lab":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def cut(self, host: Host) -> None:
        """The host's link goes down: its packets vanish (no RST, no ICMP)."""
        run("ip", "link", "set", host.veth_host, "down")

    def heal(self, host: Host) -> None:
        run("ip", "link", "set", host.veth_host, "up")

    def where_running(self, argv: list[str]) -> list[str]:
        """Identifiers of the hosts where a process with exactly `argv` runs (one entry per
        process: a host running it twice appears twice)."""
        by_inode = {netns_inode(h.ns): h.identifier for h in self.hosts}
        out = []
        for pid in pids_running(argv):
            host = by_inode.get(pid_netns_inode(pid))
            if host is not None:
                out.append(host)
        return sorted(out)

    def close(self) -> None:
        """Stops every daemon and child by PID, then deletes what was created; collects errors
        and raises the first one at the end, so one failure does not leave the rest."""
        errors: list[BaseException] = []
        for h in self.hosts:
            try:
                h.stop()
            except BaseException as e:  # noqa: BLE001 - keep cleaning up
                errors.append(e)
        for h in self._made:
            for cmd in (("ip", "link", "del", h.veth_host), ("ip", "netns", "del", h.ns)):
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
                if r.returncode != 0 and "Cannot find" not in r.stderr \
                        and "No such" not in r.stderr:
                    errors.append(HarnessError(f"{' '.join(cmd)}: {r.stderr.strip()}"))
        self._made = []
        if self._made_bridge:
            try:
                run("ip", "link", "del", self.bridge)
            except HarnessError as e:
                errors.append(e)
            self._made_bridge = False
        if errors:
            raise errors[0]


def seq_rules(names: list[str], starting_strategy: str = "CONFIG") -> str:
    """The rules file of the partition tests and the chaos suite: one SINGLE_INSTANCE
    application `seq` whose programs `names` start in this order, each required and
    RESTART_PROCESS on a running failure."""
    programs = "\n".join(
        f'      <program name="{n}"><start_sequence>{i + 1}</start_sequence>'
        f"<required>true</required>"
        f"<running_failure_strategy>RESTART_PROCESS</running_failure_strategy></program>"
        for i, n in enumerate(names))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<root>
  <application name="seq">
    <start_sequence>1</start_sequence>
    <starting_strategy>{starting_strategy}</starting_strategy>
    <distribution>SINGLE_INSTANCE</distribution>
    <programs>
{programs}
    </programs>
  </application>
</root>
"""


def seq_programs(marks: dict[str, int]) -> str:
    """The programs of `seq_rules`' application, in a `[group:seq]`: one `/bin/sleep <mark>`
    per name of `marks`, in its order (a distinct mark finds each in /proc), started by the
    rules (autostart off), RUNNING after 1 s."""
    out = ["[group:seq]", "programs = " + ",".join(marks), ""]
    for name, mark in marks.items():
        out += [f"[program:{name}]", f"command = /bin/sleep {mark}", "autostart = false",
                "startsecs = 1", "stopwaitsecs = 5", ""]
    return "\n".join(out)


def sample_until(pred: Callable[[], bool], check: Callable[[], None], timeout: float,
                 what: str, interval: float = 0.05) -> float:
    """Calls `check` (which raises on a broken invariant) every `interval` until `pred` holds;
    returns the seconds it took. Raises TimeoutError naming `what`."""
    t0 = time.monotonic()
    while True:
        check()
        if pred():
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
