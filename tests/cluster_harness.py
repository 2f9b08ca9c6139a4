"""Start and stop a raftvisord cluster (several real daemons joined by Raft) for e2e tests.

Builds on `harness.py`: each `Instance` is a `harness.Daemon` (same temp-dir layout, same
environment tag on every child, same PID-only cleanup) whose config gets a
``[rpcinterface:supvisors]`` section. Ports differ from the single-daemon harness in one way:
every instance must know every other instance's ports before any of them starts, so a
`Cluster` reserves all HTTP and internal ports up front and an instance keeps its ports across
restarts (a restarted instance must come back at the address the others know).

Nothing here sleeps without a deadline: every wait is `harness.wait_until`.

Used by test_cluster.py and scripts/bench/bench_cluster.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import xmlrpc.client
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Sequence

import harness
from harness import HarnessError, wait_until

# Small timings so that failover and liveness checks fit a test run (all within the documented
# ranges: tick < inactivity / 2, fencing < inactivity, election max > min > heartbeat).
FAST_TIMINGS = {
    "tick_interval_ms": 100,
    "inactivity_timeout_ms": 1000,
    "raft_heartbeat_ms": 50,
    "raft_election_timeout_min_ms": 200,
    "raft_election_timeout_max_ms": 400,
}


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """`n` distinct free TCP ports on `host` (`harness.free_ports`: outside the ephemeral range)."""
    return harness.free_ports(n, host)


def supvisors_list(members: Sequence[tuple[str, int, int]], host: str = "127.0.0.1") -> str:
    """`<id>127.0.0.1:HTTP:INTERNAL,...` (the Supvisors 0.14 item form raftvisor keeps;
    `<id>[::1]:HTTP:INTERNAL` for an IPv6 host)."""
    h = harness.url_host(host)
    return ",".join(f"<{ident}>{h}:{http}:{internal}" for ident, http, internal in members)


def fault_of(call: Callable[[], object]) -> Optional[xmlrpc.client.Fault]:
    """Runs `call`; returns the XML-RPC fault it raised, or None when it succeeded."""
    try:
        call()
    except xmlrpc.client.Fault as f:
        return f
    return None


# A program that only runs when asked: what the namespaces' tests start, stop and read.
HELLO_PROGRAM = """
[program:hello]
command = sleep 1000
autostart = false
startsecs = 0
autorestart = false
"""


@contextlib.contextmanager
def one_instance(base: Path, username: str, password: str, inet_extra: str = "",
                 programs: str = HELLO_PROGRAM) -> Iterator["Instance"]:
    """A one-instance cluster (so that every namespace is there) with credentials on its HTTP
    port, in OPERATION; stopped at the end, nothing of it left running."""
    c = Cluster(base, ["s1"], programs, loglevel="info")
    s1 = c["s1"]
    s1.username, s1.password = username, password
    s1.inet_extra = inet_extra
    c.start()
    try:
        c.wait_operation(timeout=30)
        yield s1
    finally:
        c.stop()
    assert not s1.alive()
    assert harness.pids_with_env_tag(s1.tag) == []


class Instance(harness.Daemon):
    """One raftvisord of a cluster. Ports and data dir are fixed for its whole life."""

    def __init__(self, cluster: "Cluster", identifier: str, http_port: int, internal_port: int,
                 programs: str, *, options: dict[str, object], loglevel: str = "debug"):
        super().__init__("raftvisord", cluster.base / identifier, programs,
                         identifier=identifier, loglevel=loglevel)
        self.cluster = cluster
        self.host = cluster.host
        self.http_port = http_port
        self.internal_port = internal_port
        self.options = dict(options)
        self.data_dir = self.workdir / "data"

    # -- config
    def supvisors_section(self) -> str:
        lines = [
            "[rpcinterface:supvisors]",
            "supervisor.rpcinterface_factory = supvisors.plugin:make_supvisors_rpcinterface",
            f"supvisors_list = {supvisors_list(self.cluster.members, self.cluster.host)}",
            f"data_dir = {self.data_dir}",
        ]
        for key, value in self.options.items():
            if value is not None:
                lines.append(f"{key} = {value}")
        return "\n".join(lines) + "\n"

    def write_config(self, programs: Optional[str] = None) -> None:
        super().write_config(programs)
        with open(self.conf, "a") as f:
            f.write("\n" + self.supvisors_section())

    # -- lifecycle
    def start(self, timeout: float = 30.0, attempts: int = 1) -> "Instance":
        """Spawn on the fixed ports and poll supervisor.getState until RUNNING.

        Unlike `Daemon.start`, never moves to another port: the others know this one."""
        self.port = self.http_port
        self.write_config()
        cmd = harness.daemon_command(self.impl, self.conf)
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
                raise HarnessError(
                    f"{self.identifier} exited during startup (status {self.proc.returncode})\n"
                    f"{self.output_tail()}")
            try:
                st = self.proxy(timeout=2).supervisor.getState()
                if isinstance(st, dict) and st.get("statename") == "RUNNING":
                    self.startup_seconds = time.monotonic() - t0
                    return self
            except (OSError, xmlrpc.client.Error):
                pass
            time.sleep(0.05)
        tail = self.output_tail()
        self.stop()
        raise HarnessError(f"{self.identifier} did not answer getState within {timeout}s\n{tail}")

    def kill9(self, timeout: float = 10.0) -> None:
        """SIGKILL the daemon (its children are recorded first, for the final cleanup)."""
        if not self.alive():
            return
        self.record_children()
        os.kill(self.proc.pid, signal.SIGKILL)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise HarnessError(f"{self.identifier} (pid {self.proc.pid}) survived SIGKILL")

    # -- XML-RPC
    def sv(self, timeout: float = 10.0):
        """The `supvisors` namespace of this instance (fresh connection)."""
        return self.proxy(timeout=timeout).supvisors

    def state(self, timeout: float = 5.0) -> str:
        return self.sv(timeout).get_supvisors_state()["fsm_statename"]

    def master(self, timeout: float = 5.0) -> str:
        m = self.sv(timeout).get_master_identifier()
        return m["identifier"] if isinstance(m, dict) else m

    def instance_states(self, timeout: float = 5.0) -> dict[str, str]:
        """How this instance sees every instance: identifier → statename."""
        return {i["identifier"]: i["statename"]
                for i in self.sv(timeout).get_all_instances_info()}

    def local_processes(self, timeout: float = 10.0) -> dict[str, dict]:
        return {harness.namespec(i): i for i in self.sv(timeout).get_all_local_process_info()}

    def synthetic_processes(self, timeout: float = 10.0) -> dict[str, dict]:
        """get_all_process_info keyed by `application:process`."""
        return {f"{p['application_name']}:{p['process_name']}": p
                for p in self.sv(timeout).get_all_process_info()}

    def log_text(self) -> str:
        parts = []
        for p in (self.output_path, self.workdir / "daemon.log"):
            try:
                parts.append(p.read_text(errors="replace"))
            except OSError:
                pass
        return "\n".join(parts)


class Cluster:
    """N raftvisord instances on loopback, each in `base/<identifier>`.

    `overrides` maps an identifier to option changes for that instance only (e.g. another
    cluster_secret), to build a misconfigured member on purpose."""

    def __init__(self, base: Path, identifiers: Sequence[str], programs: str = "", *,
                 voters: Optional[Sequence[str]] = None, secret: Optional[str] = None,
                 timings: Optional[dict[str, object]] = None,
                 overrides: Optional[dict[str, dict[str, object]]] = None,
                 loglevel: str = "debug", host: str = "127.0.0.1"):
        self.base = Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        # Every instance's address, public and internal ports (`::1` runs the cluster on IPv6).
        self.host = host
        ports = free_ports(2 * len(identifiers), host)
        self.members = [(ident, ports[2 * i], ports[2 * i + 1])
                        for i, ident in enumerate(identifiers)]
        options: dict[str, object] = dict(FAST_TIMINGS if timings is None else timings)
        if voters is not None:
            options["core_identifiers"] = ",".join(voters)
        if secret is not None:
            options["cluster_secret"] = secret
        self.instances: dict[str, Instance] = {}
        for ident, http, internal in self.members:
            opts = dict(options)
            opts.update((overrides or {}).get(ident, {}))
            self.instances[ident] = Instance(self, ident, http, internal, programs,
                                             options=opts, loglevel=loglevel)

    def __getitem__(self, identifier: str) -> Instance:
        return self.instances[identifier]

    @property
    def identifiers(self) -> list[str]:
        return list(self.instances)

    def alive(self) -> list[Instance]:
        return [i for i in self.instances.values() if i.alive()]

    # -- lifecycle
    def start(self, identifiers: Optional[Iterable[str]] = None, timeout: float = 30.0,
              attempts: int = 3) -> None:
        """Start the instances one after the other (each is up once its local getState answers,
        which does not need the cluster), collecting every failure.

        Every instance knows every port, so a port taken by someone else between the choice and
        the bind cannot be changed for one instance alone: on the cluster's first start (all
        instances, none ever started), a clash stops them all and starts again on new ports,
        up to `attempts` times."""
        chosen = list(identifiers) if identifiers is not None else self.identifiers
        first_start = (sorted(chosen) == sorted(self.identifiers)
                       and all(i.proc is None for i in self.instances.values()))
        for attempt in range(attempts):
            errors = []
            for ident in chosen:
                try:
                    self.instances[ident].start(timeout=timeout)
                except HarnessError as e:
                    errors.append(str(e))
            if not errors:
                return
            clash = any(m in e for e in errors for m in harness.PORT_CLASH_MARKERS)
            if not (clash and first_start and attempt + 1 < attempts):
                raise HarnessError("\n".join(errors))
            self.stop(chosen)
            self._new_ports()

    def _new_ports(self) -> None:
        """New HTTP and internal ports for every instance, and empty data dirs (nothing of the
        aborted start may survive into the retry)."""
        ports = free_ports(2 * len(self.members), self.host)
        self.members = [(ident, ports[2 * i], ports[2 * i + 1])
                        for i, (ident, _, _) in enumerate(self.members)]
        for ident, http, internal in self.members:
            inst = self.instances[ident]
            inst.http_port, inst.internal_port = http, internal
            inst.proc = None
            shutil.rmtree(inst.data_dir, ignore_errors=True)

    def stop_checked(self) -> None:
        """Stops every instance (as `stop`), then checks that none is alive and that none left
        a process behind (found by its environment tag): what a fixture's teardown wants."""
        self.stop()
        for inst in self.instances.values():
            assert not inst.alive(), f"{inst.identifier} still alive after stop"
            assert harness.pids_with_env_tag(inst.tag) == [], f"{inst.identifier} left processes"

    def stop(self, identifiers: Optional[Iterable[str]] = None) -> None:
        """SIGTERM (then SIGKILL) every instance, and kill its leftover children, by PID."""
        chosen = list(identifiers) if identifiers is not None else self.identifiers
        for ident in chosen:
            self.instances[ident].stop(timeout=20)

    # -- waits
    def wait_operation(self, identifiers: Optional[Iterable[str]] = None,
                       timeout: float = 30.0) -> float:
        """Poll until each instance reports OPERATION; returns the seconds waited."""
        chosen = list(identifiers) if identifiers is not None else self.identifiers
        t0 = time.monotonic()
        for ident in chosen:
            inst = self.instances[ident]
            wait_until(lambda: inst.state(timeout=2) == "OPERATION",
                       max(0.1, timeout - (time.monotonic() - t0)),
                       what=f"{ident} in OPERATION")
        return time.monotonic() - t0

    def masters(self, identifiers: Iterable[str]) -> dict[str, str]:
        return {ident: self.instances[ident].master(timeout=2) for ident in identifiers}

    def wait_common_master(self, identifiers: Iterable[str], timeout: float = 20.0,
                           exclude: Sequence[str] = ()) -> str:
        """Poll until every instance in `identifiers` names the same non-empty master, not in
        `exclude`; returns it."""
        chosen = list(identifiers)
        last: dict[str, str] = {}

        def agreed():
            nonlocal last
            last = self.masters(chosen)
            values = set(last.values())
            if len(values) == 1:
                m = values.pop()
                if m and m not in exclude:
                    return m
            return None
        try:
            return wait_until(agreed, timeout, interval=0.05, what=f"a common master on {chosen}")
        except TimeoutError as e:
            raise TimeoutError(f"{e}; last seen {last}") from None

    def wait_instance_state(self, observers: Iterable[str], subject: str,
                            states: str | Iterable[str], timeout: float = 20.0) -> None:
        """Poll until every observer sees `subject` in one of `states`."""
        wanted = {states} if isinstance(states, str) else set(states)
        last: dict[str, Optional[str]] = {}
        for ident in observers:
            inst = self.instances[ident]

            def seen(inst=inst, ident=ident):
                last[ident] = inst.instance_states(timeout=2).get(subject)
                return last[ident] in wanted
            try:
                wait_until(seen, timeout, what=f"{ident} to see {subject} in {sorted(wanted)}")
            except TimeoutError as e:
                raise TimeoutError(f"{e}; last seen {last}") from None

    def wait_all_running(self, observers: Optional[Iterable[str]] = None,
                         subjects: Optional[Iterable[str]] = None, timeout: float = 30.0) -> None:
        obs = list(observers) if observers is not None else self.identifiers
        subs = list(subjects) if subjects is not None else self.identifiers
        for s in subs:
            self.wait_instance_state(obs, s, "RUNNING", timeout=timeout)
