#!/usr/bin/env python3
"""raftvisor's chaos suite: real faults on hosts in network namespaces, invariants checked from
the processes really alive on the hosts, a report of every fault and observation.

Four hosts h1..h4, each a raftvisord in its own network namespace on one bridge
(`tests/netns_harness.py`: veth + bridge, addresses only inside the namespaces), configured as
a Supvisors user would (h1..h3 the Raft voters, h4 a learner): default timings, a cluster
secret, a rules file with one
SINGLE_INSTANCE application `seq` (three programs in a start sequence, RESTART_PROCESS) and
three marker programs `w0..w2` that a client disables and enables while the faults happen.

Each scenario injects one fault, ends it, and is then checked:

* recovery: `seq` runs again, each program exactly once (from /proc, attributed to hosts by
  network namespace), every host in OPERATION, every instance RUNNING in every view, the
  views agreeing (`get_all_process_info`, `get_all_instances_info`), within `--recovery`
  seconds of the fault's end;
* duplicates: no program of `seq` runs on two hosts at any sample (every 50 ms, for the whole
  run): the allowed window is 0 s, as a cut-off host fences itself before the majority
  restarts what it ran;
* writes: every `disable`/`enable` acknowledged to the client is still in effect once the
  scenario has recovered (read back on the host it was written through; an unacknowledged
  write may or may not have happened, so it widens what the read may show);
* no daemon panicked; at the end, no child outlives its daemon's orderly stop;
* the clients' whole history (several clients at once, every write and read with its call and
  return times) is linearizable, register by register: `raftvisor-chaoscheck`
  (crates/chaoscheck) runs stateright's linearizability tester on it.

  chaos/run.sh                         # short mode: every scenario once, fixed seed
  chaos/run.sh --minutes 30 --seed 7   # randomised: a seeded mix of scenarios for 30 min
  chaos/run.sh --scenarios kill9-leader,link-down-leader --bin-dir target/debug

Writes `chaos/report.md`, `chaos/report.json` and `chaos/history.json` (`--out DIR` elsewhere): per scenario its
fault, recovery time, duplicate window, lost writes and, where they apply, the time until
every survivor sees the lost instance SILENT and the time to a new master; the JSON has every
fault, sample of note, client operation and result. Exits 1 when an invariant broke.
Needs root, `ip`, `iptables` and libfaketime (chaos/run.sh installs them); stops everything it started,
by PID, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import harness  # noqa: E402
from harness import HarnessError  # noqa: E402
from netns_harness import (Host, Lab, require_root_and_ip, seq_programs,  # noqa: E402
                           seq_rules)

HOSTS = ["h1", "h2", "h3", "h4"]
# The Raft voters (`core_identifiers`); h4 is a learner: it runs programs and answers the API
# like any instance, and takes no part in votes or the quorum.
VOTERS = HOSTS[:3]
LEARNER = "h4"
SEQ = ["first", "second", "third"]
MARKERS = ["w0", "w1", "w2"]
SECRET = "chaos-cluster-secret"
SAMPLE_EVERY = 0.05

RULES = seq_rules(SEQ, "LESS_LOADED")


def log(*a) -> None:
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def programs(marks: dict[str, int]) -> str:
    out = [seq_programs(marks)]
    for name in MARKERS:
        out += [f"[program:{name}]", "command = /bin/sleep 3600", "autostart = false", ""]
    return "\n".join(out)


# Each host's data dir is a tmpfs of its own, so that `disk-full` can fill one host's disk.
DATA_DISK_SIZE = "256m"
MOUNTED: list[Path] = []


def data_disk(host: Host) -> Path:
    return host.workdir / "raftvisor-data"


def mount_data_disk(host: Host) -> None:
    disk = data_disk(host)
    disk.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DATA_DISK_SIZE}", "tmpfs",
                        str(disk)], capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        raise HarnessError(f"mount tmpfs on {disk}: {r.stderr.strip()}")
    MOUNTED.append(disk)


def unmount_data_disks() -> list[str]:
    """Unmounts what `mount_data_disk` mounted (the daemons stopped); the errors."""
    errors = []
    while MOUNTED:
        disk = MOUNTED.pop()
        r = subprocess.run(["umount", str(disk)], capture_output=True, text=True, timeout=20)
        if r.returncode != 0:
            errors.append(f"umount {disk}: {r.stderr.strip()}")
    return errors


def fill(path: Path) -> int:
    """Writes zeros to `path` until its file system is full; the bytes written."""
    chunk = bytes(1 << 20)
    written = 0
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                written += f.write(chunk)
        except OSError:
            pass
    return written


def faketime_library() -> str:
    """libfaketime's multi-threaded library (chaos/run.sh installs it)."""
    found = sorted(Path("/usr/lib").glob("*/faketime/libfaketimeMT.so.1"))
    if not found:
        raise HarnessError("libfaketime is not installed (chaos/run.sh installs it)")
    return str(found[0])


def clock_file(host: Host) -> Path:
    return host.workdir / "clock-offset"


def set_clock(host: Host, offset: str) -> None:
    """Steps `host`'s daemon's wall clock to `offset` from the machine's ("+20s", "+0")
    within libfaketime's cache period (1 s)."""
    clock_file(host).write_text(offset + "\n")


# ----------------------------------------------------------------- the cluster under test

class Cluster:
    """The lab's three hosts running raftvisord, and what the checks read from them."""

    def __init__(self, lab: Lab, workdir: Path, rng: random.Random,
                 extra: dict[str, str]):
        self.lab = lab
        base = rng.randrange(700_000, 799_000) * 10
        marks = {name: base + i for i, name in enumerate(SEQ)}
        self.argv = {name: ["/bin/sleep", str(mark)] for name, mark in marks.items()}
        rules = workdir / "rules.xml"
        rules.write_text(RULES)
        options = {"rules_files": rules, "cluster_secret": SECRET,
                   "core_identifiers": ",".join(VOTERS), **extra}
        for h in lab.hosts:
            mount_data_disk(h)
            h.write_config(programs(marks), options)
            # Each daemon's wall clock runs with an offset (none until `clock-jump` steps
            # it): libfaketime, its monotonic clock untouched, as with an NTP step.
            set_clock(h, "+0")
            h.extra_env = {"LD_PRELOAD": faketime_library(),
                           "FAKETIME_TIMESTAMP_FILE": str(clock_file(h)),
                           "FAKETIME_CACHE_DURATION": "1",
                           "FAKETIME_DONT_FAKE_MONOTONIC": "1"}

    @property
    def hosts(self) -> list[Host]:
        return self.lab.hosts

    def start_all(self, timeout: float = 60) -> None:
        for h in self.hosts:
            h.start()
        for h in self.hosts:
            h.wait_up(timeout)

    def where(self) -> dict[str, list[str]]:
        return {name: self.lab.where_running(self.argv[name]) for name in SEQ}

    def safe_call(self, host: Host, method: str, *args, timeout: float = 3.0):
        return host.try_call(method, *args, timeout=timeout)

    def leader(self, among: Optional[list[Host]] = None) -> Optional[str]:
        """The master every host of `among` (default: all) names, if they agree."""
        seen = {self.safe_call(h, "supvisors.get_master_identifier")
                for h in (among or self.hosts)}
        if len(seen) == 1:
            (m,) = seen
            return m or None
        return None

    def seq_host(self) -> Optional[str]:
        w = self.where()
        hosts = {h for name in SEQ for h in w[name]}
        return hosts.pop() if len(hosts) == 1 else None

    def views(self, host: Host) -> Optional[tuple]:
        """What `host` says of the cluster, without what moves by itself (times, pids)."""
        procs = self.safe_call(host, "supvisors.get_all_process_info")
        insts = self.safe_call(host, "supvisors.get_all_instances_info")
        state = self.safe_call(host, "supvisors.get_supvisors_state")
        if procs is None or insts is None or state is None:
            return None
        return (state["fsm_statename"],
                tuple(sorted((i["identifier"], i["statename"]) for i in insts)),
                tuple(sorted((p["application_name"], p["process_name"], p["statename"],
                              tuple(sorted(p["identifiers"]))) for p in procs)))

    def recovered(self, alive: list[Host]) -> tuple[bool, str]:
        """Whether the run is back to normal: `seq` once, OPERATION, all RUNNING, one view."""
        w = self.where()
        if not all(len(w[n]) == 1 for n in SEQ) or len({w[n][0] for n in SEQ}) != 1:
            return False, f"seq processes {w}"
        views = [self.views(h) for h in alive]
        if any(v is None for v in views):
            return False, "a host does not answer"
        if len(set(views)) != 1:
            return False, "the hosts' views differ"
        state, insts, procs = views[0]
        if state != "OPERATION":
            return False, f"state {state}"
        if any(s != "RUNNING" for _, s in insts) or len(insts) != len(self.hosts):
            return False, f"instances {insts}"
        seq = [p for p in procs if p[0] == "seq"]
        if len(seq) != len(SEQ) or any(p[2] != "RUNNING" or len(p[3]) != 1 for p in seq):
            return False, f"seq in the views {seq}"
        return True, "recovered"


# ----------------------------------------------------------------- the observers

class Sampler(threading.Thread):
    """Every SAMPLE_EVERY: where each program of `seq` runs; keeps every window in which one
    ran on two hosts or more (the duplicate windows), each with the scenario it fell in."""

    def __init__(self, cluster: Cluster):
        super().__init__(name="sampler", daemon=True)
        self.cluster = cluster
        self.stop_event = threading.Event()
        self.scenario = "setup"
        self.open: dict[str, tuple[float, list[str], str]] = {}
        self.windows: list[dict] = []
        self.samples = 0
        self.error: Optional[str] = None

    def run(self) -> None:
        try:
            while not self.stop_event.wait(SAMPLE_EVERY):
                now = time.monotonic()
                w = self.cluster.where()
                self.samples += 1
                for name, hosts in w.items():
                    if len(hosts) > 1 and name not in self.open:
                        self.open[name] = (now, hosts, self.scenario)
                    elif len(hosts) <= 1 and name in self.open:
                        t0, seen, scenario = self.open.pop(name)
                        self.windows.append({"program": name, "hosts": seen,
                                             "scenario": scenario, "seconds": now - t0})
        except Exception as e:  # noqa: BLE001 - reported as a broken run
            self.error = repr(e)

    def still_open(self) -> list[dict]:
        """The windows not closed yet, as they stand now."""
        now = time.monotonic()
        return [{"program": n, "hosts": h, "scenario": s, "seconds": now - t0,
                 "still_open": True} for n, (t0, h, s) in list(self.open.items())]

    def close(self) -> None:
        self.stop_event.set()
        self.join(10)
        self.windows += self.still_open()
        self.open = {}

    def windows_of(self, scenario: str) -> list[dict]:
        return [w for w in self.windows + self.still_open() if w["scenario"] == scenario]


@dataclass
class Op:
    """One client operation, for the history: a write (`disable`/`enable` through `host`) or a
    read of the `disabled` flag on `host`."""
    kind: str  # "write" | "read"
    host: str
    program: str
    value: Optional[bool]  # the flag written, or read (None: no answer)
    t_call: float
    t_return: Optional[float] = None
    ok: bool = False  # acknowledged (a write) or answered (a read)
    error: str = ""
    scenario: str = ""
    client: int = 0
    # Wall-clock call, to set beside the cluster's history (its entries are stamped with
    # the wall clock of the host that took the request).
    wall_call: float = 0.0


class Client(threading.Thread):
    """One client: writes and reads the marker programs' `disabled` flag (one register per
    host and marker, written only through its host), a few times a second, with a seeded
    choice of host, marker and operation, one operation at a time. Several run at once, so
    the history has concurrent operations for the linearizability check."""

    def __init__(self, index: int, cluster: Cluster, rng: random.Random,
                 history: "History", timeout: float = 3.0):
        super().__init__(name=f"client-{index}", daemon=True)
        self.index = index
        self.cluster = cluster
        self.rng = rng
        self.timeout = timeout
        self.history = history
        self.stop_event = threading.Event()
        self.paused = threading.Event()
        self.idle = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            if self.paused.is_set():
                self.idle.set()
                time.sleep(0.02)
                continue
            self.idle.clear()
            host = self.rng.choice(self.cluster.hosts)
            program = self.rng.choice(MARKERS)
            if self.rng.random() < 0.5:
                self.write(host, program, self.rng.random() < 0.5)
            else:
                self.read(host, program)
            time.sleep(self.rng.uniform(0.1, 0.4))

    def write(self, host: Host, program: str, disabled: bool) -> Op:
        op = self.history.add(Op("write", host.identifier, program, disabled,
                                 time.monotonic(), client=self.index, wall_call=time.time()))
        try:
            method = "supvisors.disable" if disabled else "supvisors.enable"
            op.ok = host.call(method, program, True, timeout=self.timeout) is True
        except (OSError, xmlrpc.client.Error, HarnessError) as e:
            op.error = str(e)[:200]
        op.t_return = time.monotonic()
        return op

    def read(self, host: Host, program: str) -> Op:
        op = self.history.add(Op("read", host.identifier, program, None, time.monotonic(),
                                 client=self.index, wall_call=time.time()))
        try:
            infos = host.call("supvisors.get_local_process_info", f"{program}:{program}",
                              timeout=self.timeout)
            info = infos[0] if isinstance(infos, list) else infos
            op.value, op.ok = bool(info["disabled"]), True
        except (OSError, xmlrpc.client.Error, HarnessError, KeyError, IndexError) as e:
            op.error = str(e)[:200]
        op.t_return = time.monotonic()
        return op


class History:
    """Every client operation, in call order, stamped with the scenario it fell in."""

    def __init__(self):
        self.ops: list[Op] = []
        self.scenario = "setup"
        self.lock = threading.Lock()

    def add(self, op: Op) -> Op:
        op.scenario = self.scenario
        with self.lock:
            self.ops.append(op)
        return op

    def for_checker(self) -> dict:
        """The history as `raftvisor-chaoscheck` reads it (crates/chaoscheck). A write that
        certainly did nothing is left out (the checker would otherwise keep it in flight for
        good, a branch of its search): see `certainly_nothing`. Every other unanswered write
        may have happened, and stays in."""
        ops = [o for o in self.ops if not (o.kind == "write" and certainly_nothing(o))]
        # Segments: the scenarios' operations, each ending with the checker's reads of every
        # register (client 0, with nothing else in flight); a scenario whose reads are not
        # all answered, or the setup, stays in one segment with the next. Each segment's
        # registers start from those reads: the search is per segment, not over the whole
        # run (stateright's tester is exponential in the worst case).
        #
        # A write without an answer can still take effect after its segment ended: its
        # client gave up, not the cluster (a forward to the leader outlives its caller's
        # timeout, and a request the forwarder gave up on is still retransmitted by TCP). So
        # each such write is also carried, in flight, into the segments that start within
        # `LATE_WRITE_WINDOW` of its call. Without this, a write that landed after the
        # end-of-scenario reads showed in the next segment as a change nobody made (CI saw
        # it once, after the flapping scenario).
        registers = len(HOSTS) * len(MARKERS)
        segment, out, initial = 0, [], {}
        uncertain: list[Op] = []
        carried = 0
        for _, grouped in itertools.groupby(ops, key=lambda o: o.scenario):
            group = list(grouped)
            for o in group:
                out.append(checker_op(o, f"{segment}:{o.host}/{o.program}", o.client))
            uncertain += [o for o in group if o.kind == "write" and not o.ok]
            ends = {f"{o.host}/{o.program}": o.value for o in group
                    if o.client == 0 and o.kind == "read" and o.ok}
            if len(ends) == registers:
                segment += 1
                initial.update({f"{segment}:{r}": v for r, v in ends.items()})
                start = max(o.t_return or o.t_call for o in group)
                uncertain = [o for o in uncertain if start - o.t_call < LATE_WRITE_WINDOW]
                for o in uncertain:
                    carried += 1
                    out.append(checker_op(o, f"{segment}:{o.host}/{o.program}",
                                          CARRIED_CLIENTS + carried))
        return {"initial": False, "initial_by_register": initial, "ops": out}


# How long after its call a write without an answer may still take effect, at most: the
# cluster secret's tokens are refused once 30 s old (`MAX_SKEW_MS`, crates/cluster/src/auth.rs),
# so a request TCP delivers late is refused by then; the write timeouts (2 s per forward and
# per commit) and the clock-jump scenario's skew fit in what is left.
LATE_WRITE_WINDOW = 60.0
# Client numbers of the carried writes (each its own, in flight for good): above the clients'.
CARRIED_CLIENTS = 1_000_000


def checker_op(o: Op, register: str, client: int) -> dict:
    # `scenario` and `error` are for the reader (the checker ignores them).
    return {"client": client, "register": register, "kind": o.kind, "value": o.value,
            "t_call": o.t_call, "t_return": o.t_return, "ok": o.ok, "scenario": o.scenario,
            "error": o.error[:120]}


# What the server answers when it refused a write before anything was proposed: the write
# path (crates/cluster/src/inner.rs, `Core::write`) checks these before each attempt, and an
# attempt is only retried after the leader said "not leader" (nothing proposed).
REFUSED_BEFORE_ANY_WRITE = (
    "BAD_SUPVISORS_STATE: Supvisors (state=",  # the `supvisors.*` gate outside OPERATION
    "BAD_SUPVISORS_STATE: cut off: this instance cannot reach the quorum",
    "BAD_SUPVISORS_STATE: no leader: election in progress",
    "unreachable: the leader is cut off from the quorum",  # the leader refused it
    "unreachable: cannot connect to",  # the forward found no connection
    "Connection refused",  # see `certainly_nothing`
)


def certainly_nothing(op: Op) -> bool:
    """Whether a failed write certainly had no effect: the server refused it before proposing
    anything (`REFUSED_BEFORE_ANY_WRITE`), or the call reached no server. A refused connection
    counts only because `Host.call` sends a request once: the stock transport's second try
    after a server died mid-request is refused too, though the first may have been carried
    out (a false "lost write" the suite once reported)."""
    return not op.ok and any(text in op.error for text in REFUSED_BEFORE_ANY_WRITE)


class Clients:
    """The clients together: started, paused (no operation in flight) and stopped at once."""

    def __init__(self, cluster: Cluster, seed: int, count: int):
        self.history = History()
        self.clients = [Client(i + 1, cluster, random.Random(seed * 1000 + i), self.history)
                        for i in range(count)]
        # The end-of-scenario reads, one at a time, as a client of their own.
        self.checker = Client(0, cluster, random.Random(seed), self.history)

    def start(self) -> None:
        for c in self.clients:
            c.start()

    def pause(self, timeout: float = 10.0) -> None:
        for c in self.clients:
            c.paused.set()
        for c in self.clients:
            if c.is_alive() and not c.idle.wait(timeout):
                raise HarnessError(f"{c.name} did not pause")

    def resume(self) -> None:
        for c in self.clients:
            c.idle.clear()
            c.paused.clear()

    def close(self) -> None:
        for c in self.clients:
            c.stop_event.set()
        for c in self.clients:
            c.join(c.timeout + 5)


def allowed_values(history: list[Op], host: str, program: str, initial: bool) -> set[bool]:
    """What a read of register (host, program) may show once no operation is in flight: the
    value of the last write acknowledged, of any acknowledged write that overlapped it, or of
    any write without an answer that may have happened (one in flight for good may take
    effect at any time after its call). With no acknowledged write, the initial value stays
    possible. The linearizability check (crates/chaoscheck) is the exact form of this."""
    writes = [o for o in history if o.kind == "write" and o.host == host
              and o.program == program and not certainly_nothing(o)]
    acked = [o for o in writes if o.ok]
    out = {o.value for o in writes if not o.ok}
    if not acked:
        return out | {initial}
    last = max(acked, key=lambda o: o.t_call)
    out.add(last.value)
    out |= {o.value for o in acked if o.t_return is not None and o.t_return > last.t_call}
    return out


# ----------------------------------------------------------------- the faults

def iptables(host: Host, *rule: str) -> None:
    r = subprocess.run(["ip", "netns", "exec", host.ns, "iptables", *rule],
                       capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        raise HarnessError(f"iptables {' '.join(rule)} in {host.ns}: {r.stderr.strip()}")


def drop_traffic(host: Host, inbound_only: bool = False) -> None:
    """Drops what `host` receives on its link (and what it sends, unless `inbound_only`)."""
    iptables(host, "-I", "INPUT", "-i", host.veth_ns, "-j", "DROP")
    if not inbound_only:
        iptables(host, "-I", "OUTPUT", "-o", host.veth_ns, "-j", "DROP")


def clear_rules(host: Host) -> None:
    iptables(host, "-F", "INPUT")
    iptables(host, "-F", "OUTPUT")


@dataclass
class Fault:
    """What a scenario did, for the report; `lost` is the host it made unreachable or killed
    (its SILENT time is measured), `was_leader` whether that host led."""
    description: str
    t_start: float = 0.0
    t_end: float = 0.0
    target: Optional[str] = None
    was_leader: bool = False
    notes: dict = field(default_factory=dict)


class Runner:
    """Runs the scenarios one after another on one cluster, checks each, keeps the results."""

    def __init__(self, cluster: Cluster, sampler: Sampler, clients: Clients,
                 rng: random.Random, recovery_bound: float):
        self.c = cluster
        self.sampler = sampler
        self.clients = clients
        self.rng = rng
        self.recovery_bound = recovery_bound
        self.results: list[dict] = []
        # The cluster's own history (`supvisors.get_history`), gathered after each scenario:
        # where each write a client sent landed, set beside the clients' history.
        self.cluster_history: list[dict] = []
        self.history_gaps: list[str] = []  # the scenarios after which no host gave it

    # -- helpers the scenarios share
    def host(self, ident: str) -> Host:
        return self.c.lab[ident]

    def leader_host(self) -> Host:
        ident = harness.wait_until(lambda: self.c.leader(), 30, what="a master all agree on")
        return self.host(ident)

    def a_follower(self, prefer_seq: bool) -> Host:
        leader = self.leader_host().identifier
        seq = self.c.seq_host()
        followers = [h for h in self.c.hosts
                     if h.identifier != leader and h.identifier in VOTERS]
        if prefer_seq:
            on_seq = [h for h in followers if h.identifier == seq]
            if on_seq:
                return on_seq[0]
        return self.rng.choice(followers)

    def watch_loss(self, fault: Fault, target: Host, timeout: float = 20) -> None:
        """Until every other host sees `target` not RUNNING (SILENT/ISOLATED...), and until the
        others agree on a master other than it when it led: times from the fault's start."""
        others = [h for h in self.c.hosts if h is not target]
        t_silent = t_master = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (t_silent is None or
                                               (fault.was_leader and t_master is None)):
            now = time.monotonic()
            if t_silent is None:
                states = [self.c.safe_call(h, "supvisors.get_instance_info", target.identifier,
                                           timeout=1.0) for h in others]
                if all(isinstance(s, dict) and s.get("statename") not in ("RUNNING", "CHECKING")
                       for s in states):
                    t_silent = now - fault.t_start
                    fault.notes["seen_as"] = sorted({s["statename"] for s in states})
            if fault.was_leader and t_master is None:
                m = self.c.leader(others)
                if m and m != target.identifier:
                    t_master = now - fault.t_start
                    fault.notes["new_master"] = m
            time.sleep(0.02)
        fault.notes["silent_everywhere_s"] = t_silent
        if fault.was_leader:
            fault.notes["new_master_s"] = t_master

    def kill9(self, target: Host) -> None:
        assert target.proc is not None
        os.kill(target.proc.pid, signal.SIGKILL)
        target.proc.wait(10)

    def restart(self, target: Host) -> None:
        target.start()
        target.wait_up(60)

    def hold(self, f: Fault, target: Host, seconds: float,
             watch: Optional[float] = None) -> None:
        """While the fault lasts: watches `target`'s loss (`watch_loss`, for `watch` seconds,
        by default the fault's length), then waits until the fault has lasted `seconds`."""
        self.watch_loss(f, target, timeout=seconds if watch is None else watch)
        time.sleep(max(0.0, seconds - (time.monotonic() - f.t_start)))

    # -- the scenarios: each returns its Fault once the fault has ended
    def _kill9(self, target: Host, description: str, was_leader: bool) -> Fault:
        f = Fault(description, target=target.identifier, was_leader=was_leader)
        f.t_start = time.monotonic()
        self.kill9(target)
        self.hold(f, target, 3.0, watch=20.0)
        self.restart(target)
        f.t_end = time.monotonic()
        return f

    def kill9_leader(self) -> Fault:
        target = self.leader_host()
        return self._kill9(target, f"kill -9 of the leader {target.identifier}, restarted 3 s "
                                   "later", True)

    def kill9_follower(self) -> Fault:
        target = self.a_follower(prefer_seq=True)
        return self._kill9(target, f"kill -9 of the follower {target.identifier} (the host of "
                                   "seq if a follower runs it), restarted 3 s later", False)

    def kill9_learner(self) -> Fault:
        target = self.host(LEARNER)
        return self._kill9(target, f"kill -9 of the learner {target.identifier}, restarted "
                                   "3 s later", False)

    def kill9_repeated(self, rounds: int = 3) -> Fault:
        """The leader killed, restarted as soon as the others agree on a new master, and that
        one killed in turn: leadership moves `rounds` times in a row, each new leader taking
        over jobs its predecessor left half done. The figures are the worst round's."""
        f = Fault(f"kill -9 of the leader, {rounds} times in a row (each restarted once the "
                  "others agree on a new master)", was_leader=True)
        f.t_start = time.monotonic()
        done = []
        for i in range(rounds):
            target = self.leader_host()
            r = Fault(f"round {i + 1}", target=target.identifier, was_leader=True)
            r.t_start = time.monotonic()
            self.kill9(target)
            self.watch_loss(r, target, timeout=20.0)
            self.restart(target)
            done.append({"target": target.identifier, **r.notes})
        f.t_end = time.monotonic()
        f.target = ",".join(d["target"] for d in done)
        for key in ("silent_everywhere_s", "new_master_s"):
            seen = [d.get(key) for d in done]
            f.notes[key] = None if None in seen else max(seen)
        f.notes["rounds"] = done
        return f

    def _link_down(self, target: Host, seconds: float, what: str, was_leader: bool) -> Fault:
        f = Fault(f"link down (no RST) of {what} {target.identifier} for {seconds:g} s",
                  target=target.identifier, was_leader=was_leader)
        f.t_start = time.monotonic()
        self.c.lab.cut(target)
        self.hold(f, target, seconds)
        self.c.lab.heal(target)
        f.t_end = time.monotonic()
        return f

    def link_down_leader(self) -> Fault:
        return self._link_down(self.leader_host(), 6.0, "the leader", True)

    def link_down_seq_host(self) -> Fault:
        seq = self.c.seq_host()
        target = self.host(seq) if seq else self.a_follower(prefer_seq=True)
        leader = self.c.leader()
        return self._link_down(target, 6.0, "the host of seq", target.identifier == leader)

    def sigstop_leader(self) -> Fault:
        target = self.leader_host()
        assert target.proc is not None
        seconds = 1.5
        f = Fault(f"SIGSTOP of the leader {target.identifier} for {seconds:g} s (past the "
                  "election timeout, within the fence bound), then SIGCONT",
                  target=target.identifier, was_leader=True)
        f.t_start = time.monotonic()
        os.kill(target.proc.pid, signal.SIGSTOP)
        try:
            self.hold(f, target, seconds)
        finally:
            os.kill(target.proc.pid, signal.SIGCONT)
        f.t_end = time.monotonic()
        return f

    def _drop(self, target: Host, seconds: float, inbound_only: bool, what: str) -> Fault:
        f = Fault(what, target=target.identifier,
                  was_leader=target.identifier == self.c.leader())
        f.t_start = time.monotonic()
        try:
            drop_traffic(target, inbound_only)
            self.hold(f, target, seconds)
        finally:
            clear_rules(target)
        f.t_end = time.monotonic()
        return f

    def partition_minority(self) -> Fault:
        target = self.a_follower(prefer_seq=True)
        return self._drop(target, 6.0, False,
                          f"partition of the minority {target.identifier} (all its traffic "
                          "dropped by iptables) for 6 s")

    def asymmetric(self) -> Fault:
        target = self.leader_host()
        return self._drop(target, 6.0, True,
                          f"asymmetric partition of the leader {target.identifier}: what it "
                          "receives is dropped, what it sends goes out, for 6 s")

    def partition_majority(self) -> Fault:
        seconds = 4.0
        f = Fault(f"no majority anywhere: every host cut from the others for {seconds:g} s "
                  "(every instance fences itself)")
        f.t_start = time.monotonic()
        try:
            for h in self.c.hosts:
                drop_traffic(h)
            deadline = f.t_start + seconds
            fenced = None
            while time.monotonic() < deadline:
                if fenced is None and not any(self.c.where().values()):
                    fenced = time.monotonic() - f.t_start
                time.sleep(0.05)
            f.notes["all_fenced_s"] = fenced
        finally:
            for h in self.c.hosts:
                clear_rules(h)
        f.t_end = time.monotonic()
        return f

    def flapping(self) -> Fault:
        target = self.a_follower(prefer_seq=True)
        period, seconds = 0.4, 6.0
        f = Fault(f"flapping link of {target.identifier}: down/up every {period:g} s for "
                  f"{seconds:g} s", target=target.identifier)
        f.t_start = time.monotonic()
        try:
            while time.monotonic() - f.t_start < seconds:
                self.c.lab.cut(target)
                time.sleep(period)
                self.c.lab.heal(target)
                time.sleep(period)
        finally:
            self.c.lab.heal(target)
        f.t_end = time.monotonic()
        return f

    def packet_loss(self) -> Fault:
        seconds = 10.0
        f = Fault(f"20 % random packet loss on every host (iptables -m statistic) for "
                  f"{seconds:g} s")
        f.t_start = time.monotonic()
        try:
            for h in self.c.hosts:
                iptables(h, "-I", "INPUT", "-i", h.veth_ns, "-m", "statistic", "--mode",
                         "random", "--probability", "0.2", "-j", "DROP")
            time.sleep(seconds)
        finally:
            for h in self.c.hosts:
                clear_rules(h)
        f.t_end = time.monotonic()
        return f

    def full_restart(self) -> Fault:
        f = Fault("full restart: every daemon stopped (SIGTERM), then all started again")
        f.t_start = time.monotonic()
        for h in self.c.hosts:
            if h.proc is not None and h.proc.poll() is None:
                os.kill(h.proc.pid, signal.SIGTERM)
        for h in self.c.hosts:
            if h.proc is not None:
                h.proc.wait(30)
        f.notes["children_left"] = sum(len(harness.pids_with_env_tag(h.tag))
                                       for h in self.c.hosts)
        self.c.start_all()
        f.t_end = time.monotonic()
        return f

    def disk_full(self) -> Fault:
        """The leader's data disk (its data dir, a tmpfs of its own) full for 5 s: its Raft
        log and vote can no longer be written. Its Raft core ends, it fences itself and exits
        (status 1); the others elect a leader and restart `seq` if it ran there. Once the disk
        has room again the daemon is started again, as the shipped systemd unit
        (`Restart=on-failure`) would, and must rejoin with its data intact."""
        target = self.leader_host()
        f = Fault(f"data disk of the leader {target.identifier} full for 5 s (then room "
                  "again, and the daemon restarted if it exited)", target=target.identifier,
                  was_leader=True)
        filler = data_disk(target) / "filler"
        f.t_start = time.monotonic()
        try:
            f.notes["filled_bytes"] = fill(filler)
            self.hold(f, target, 5.0)
        finally:
            filler.unlink(missing_ok=True)
        assert target.proc is not None
        status = target.proc.poll()
        f.notes["exit_status"] = status
        if status is not None:
            self.restart(target)
        f.t_end = time.monotonic()
        return f

    def clock_jump(self) -> Fault:
        """The leader's wall clock steps 20 s forward while `seq` restarts (its stop, then
        its start sequence, are jobs whose timeouts are wall-clock times), stays there 6 s,
        then steps back. 20 s: within the internal port's 30 s tolerance, past every start
        timeout. The monotonic clock does not move, as with an NTP step."""
        target = self.leader_host()
        f = Fault(f"wall clock of the leader {target.identifier} stepped 20 s forward during "
                  "a restart of seq, back 6 s later", target=target.identifier,
                  was_leader=True)
        f.t_start = time.monotonic()
        try:
            target.call("supvisors.restart_application", "LESS_LOADED", "seq", False,
                        timeout=10)
        except (OSError, xmlrpc.client.Error) as e:
            f.notes["restart_refused"] = str(e)[:200]
        time.sleep(0.5)
        set_clock(target, "+20s")
        try:
            time.sleep(6.0)
        finally:
            set_clock(target, "+0")
        time.sleep(2.0)  # past libfaketime's cache period: the step back has happened
        f.t_end = time.monotonic()
        return f

    # -- one scenario, checked
    def run(self, name: str, scenario: Callable[[], Fault]) -> dict:
        # Each run of a scenario is labelled apart ("3:kill9-leader"): a scenario may run
        # more than once in the randomised mode.
        label = f"{len(self.results) + 1}:{name}"
        log(f"scenario {label}")
        self.sampler.scenario = label
        self.clients.history.scenario = label
        # The clients run during the scenario only: between two, nothing is in flight, and
        # the checker's reads that end one are the values the next one starts from.
        self.clients.resume()
        result: dict = {"scenario": name, "label": label}
        since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        try:
            fault = scenario()
        except Exception as e:  # noqa: BLE001 - a scenario that cannot run is a failure
            result.update(ok=False, failures=[f"the fault could not be run: {e!r}"])
            self.results.append(result)
            return result
        result["fault"] = {"description": fault.description, "target": fault.target,
                           "was_leader": fault.was_leader,
                           "duration_s": fault.t_end - fault.t_start, **fault.notes}
        failures: list[str] = []
        # Recovery, from the fault's end.
        t0 = fault.t_end
        why = ""
        while True:
            done, why = self.c.recovered(self.c.hosts)
            if done:
                result["recovery_s"] = time.monotonic() - t0
                break
            if time.monotonic() - t0 > self.recovery_bound:
                result["recovery_s"] = None
                failures.append(f"not recovered {self.recovery_bound:g} s after the fault "
                                f"ended: {why}")
                break
            time.sleep(0.1)
        # Acknowledged writes, read back once no operation is in flight.
        self.clients.pause()
        self.gather_history(label)
        lost = self.check_writes()
        result["lost_writes"] = lost
        if lost:
            failures.append(f"{len(lost)} acknowledged write(s) not in effect: {lost[:3]}")
        # Duplicates: none at any sample.
        windows = self.sampler.windows_of(label)
        result["duplicate_windows"] = windows
        result["duplicate_max_s"] = max((w["seconds"] for w in windows), default=0.0)
        if windows:
            failures.append(f"a program of seq ran on two hosts: {windows[:3]}")
        # No panic.
        panics = [h.identifier for h in self.c.hosts if "panicked" in h.log_text()]
        if panics:
            failures.append(f"a daemon panicked: {panics}")
        ops = [o for o in self.clients.history.ops if o.scenario == label]
        result["client_ops"] = {"writes": sum(o.kind == "write" for o in ops),
                                "acknowledged": sum(o.kind == "write" and o.ok for o in ops),
                                "reads": sum(o.kind == "read" for o in ops)}
        result["ok"] = not failures
        result["failures"] = failures
        log(f"  {label}: {'ok' if not failures else 'FAILED'} "
            f"recovery {result.get('recovery_s')} {failures}")
        if failures:
            # What the daemons decided meanwhile, where the report is read (CI's output).
            result["decisions"] = decisions_since(self.c.hosts, since)
            for line in result["decisions"]:
                log(f"    {line}")
        if result.get("recovery_s") is None:
            # Not recovered: the next scenario starts from a cluster restarted on its data
            # dirs (the full restart deploys again), so one failure is not counted twice.
            result["repaired_by_full_restart"] = self.repair()
        self.results.append(result)
        return result

    def repair(self) -> bool:
        log("  repairing: full restart of the cluster")
        self.sampler.scenario = self.clients.history.scenario = "repair"
        try:
            self.full_restart()
            harness.wait_until(lambda: self.c.recovered(self.c.hosts)[0], 60,
                               what="the cluster recovered after the repair")
            return True
        except Exception as e:  # noqa: BLE001 - reported; the next scenarios may fail too
            log(f"  repair failed: {e!r}")
            return False

    def gather_history(self, label: str) -> None:
        """Appends the cluster's history entries not gathered yet, each tagged with the
        scenario after which it was gathered: right after the clients paused, before the
        end-of-scenario reads, so an entry gathered later landed after its scenario ended.
        (The state keeps the last 1,000 entries: gathered after each scenario, none is
        missed.)"""
        since = self.cluster_history[-1]["seq"] + 1 if self.cluster_history else 0
        for h in self.c.hosts:
            entries = h.try_call("supvisors.get_history", since, timeout=5.0)
            if isinstance(entries, list):
                self.cluster_history += [{**e, "gathered_after": label} for e in entries]
                return
        self.history_gaps.append(label)

    def check_writes(self) -> list[dict]:
        """Reads every register back through its host; the lost writes (read value not one the
        history allows)."""
        lost = []
        for h in self.c.hosts:
            for program in MARKERS:
                op = self.clients.checker.read(h, program)
                allowed = allowed_values(self.clients.history.ops, h.identifier, program,
                                         False)
                if not op.ok:
                    lost.append({"host": h.identifier, "program": program,
                                 "error": f"unreadable: {op.error}"})
                elif op.value not in allowed:
                    lost.append({"host": h.identifier, "program": program, "read": op.value,
                                 "allowed": sorted(allowed)})
        return lost


def late_landings(ops: list[Op], entries: list[dict]) -> dict:
    """Where the clients' writes landed, from the cluster's history (`Runner.gather_history`):
    each `disable`/`enable` of a marker, taken by the marker's host, is set beside the client
    writes of that host, program and value. `in_scenario`: one was sent in the scenario after
    which the entry was gathered. `late`: none was, but one sent in an earlier scenario got
    no answer, or a fault that does not say nothing was done: it took effect after its
    scenario ended, after its client had given up (linearizability allows it; the check
    keeps such a write in flight for `LATE_WRITE_WINDOW`). `unexplained`: neither: no client
    asked for it, or the server refused it before proposing anything (what
    `REFUSED_BEFORE_ANY_WRITE` says it never does)."""
    writes: dict[tuple[str, str, bool], list[Op]] = {}
    for o in ops:
        if o.kind == "write" and o.client != 0:
            writes.setdefault((o.host, o.program, bool(o.value)), []).append(o)
    in_scenario, late, unexplained = 0, [], []
    for e in entries:
        words = str(e.get("text", "")).split()
        if e.get("kind") != "command" or len(words) != 4 or words[0] not in ("disable",
                                                                             "enable"):
            continue
        value, program, host = words[0] == "disable", words[1], words[3]
        if program not in MARKERS or host != e.get("instance"):
            continue
        scenario = e.get("gathered_after")
        candidates = writes.get((host, program, value), [])
        if any(o.scenario == scenario and not certainly_nothing(o) for o in candidates):
            in_scenario += 1
            continue
        earlier = [o for o in candidates if not o.ok and not certainly_nothing(o)
                   and o.wall_call <= float(e.get("time", 0.0)) + CLOCK_SLACK]
        if earlier:
            last = max(earlier, key=lambda o: o.wall_call)
            late.append({"entry": e, "sent_in": last.scenario, "error": last.error,
                         # the taking host's clock: the clock-jump scenario moves one's
                         "after_call_s": round(float(e.get("time", 0.0)) - last.wall_call,
                                               3)})
        else:
            unexplained.append(e)
    return {"in_scenario": in_scenario, "late": len(late), "unexplained": len(unexplained),
            "late_writes": late, "unexplained_entries": unexplained[:20]}


# How far a history stamp (the taking host's wall clock) may be ahead of the harness's clock
# and still follow a call: the clock-jump scenario steps the leader's clock 20 s forward.
CLOCK_SLACK = 30.0


# The log lines that say what the cluster decided: leadership, fences, the commander's steps.
DECISIONS = ("became leader", "leadership lost", "fence:", "job item failed",
             "placing a start", "commander moves", "declared", "panicked")


def decisions_since(hosts: list[Host], since: str, limit: int = 60) -> list[str]:
    """The decision lines of every host's log stamped at or after `since` (UTC, to the
    second), in time order, host-tagged; the last `limit` of them."""
    lines = []
    for h in hosts:
        try:
            text = (h.workdir / "daemon.log").read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            if line[:19] >= since and any(k in line for k in DECISIONS):
                lines.append(f"{line[11:23]} {h.identifier} {line[27:220].strip()}")
    lines.sort()
    return lines[-limit:]


SCENARIOS: dict[str, Callable[[Runner], Fault]] = {
    "kill9-leader": Runner.kill9_leader,
    "kill9-follower": Runner.kill9_follower,
    "kill9-learner": Runner.kill9_learner,
    "kill9-repeated": Runner.kill9_repeated,
    "link-down-leader": Runner.link_down_leader,
    "link-down-seq-host": Runner.link_down_seq_host,
    "sigstop-leader": Runner.sigstop_leader,
    "partition-minority": Runner.partition_minority,
    "partition-majority": Runner.partition_majority,
    "asymmetric": Runner.asymmetric,
    "flapping": Runner.flapping,
    "packet-loss": Runner.packet_loss,
    "full-restart": Runner.full_restart,
    "clock-jump": Runner.clock_jump,
    "disk-full": Runner.disk_full,
}


# ----------------------------------------------------------------- linearizability

def check_linearizability(bin_dir: Path, history: History, path: Path,
                          failures: list[str], timeout: float = 300) -> dict:
    """Runs `raftvisor-chaoscheck` (crates/chaoscheck: stateright's linearizability tester,
    register by register) on the clients' history, written to `path`; a verdict that is not
    "linearizable", or no verdict within `timeout`, is a failure."""
    data = history.for_checker()
    path.write_text(json.dumps(data))
    checker = bin_dir / "raftvisor-chaoscheck"
    if not checker.is_file():
        failures.append(f"no linearizability checker at {checker} (cargo build -p "
                        "raftvisor-chaoscheck)")
        return {"ok": False, "error": "no checker"}
    t0 = time.monotonic()
    try:
        r = subprocess.run([str(checker), str(path)], capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        failures.append(f"the linearizability check found no verdict within {timeout:g} s")
        return {"ok": False, "error": "timeout"}
    seconds = time.monotonic() - t0
    if r.returncode not in (0, 1):
        failures.append(f"the linearizability checker failed: {r.stderr.strip()}")
        return {"ok": False, "error": r.stderr.strip()}
    verdicts = json.loads(r.stdout)
    bad = [v["register"] for v in verdicts if not v["linearizable"]]
    if bad:
        failures.append(f"history not linearizable on {', '.join(bad)} ({path})")
    log(f"linearizability: {r.stderr.strip()} ({seconds:.1f} s)")
    # Where the report is read (CI's output), the operations of what failed, and the values
    # their segments started from.
    for register in bad[:3]:
        log(f"  {register} starts from {data['initial_by_register'].get(register, False)}:")
        ops = sorted((o for o in data["ops"] if o["register"] == register),
                     key=lambda o: o["t_call"])
        for o in ops[-60:]:
            t_return = "never" if o["t_return"] is None else f"{o['t_return']:.3f}"
            log(f"    client {o['client']} {o['kind']} {o['value']} {o['t_call']:.3f} → "
                f"{t_return} {'ok' if o['ok'] else 'no answer'} {o['scenario']} "
                f"{o['error']}")
    return {"ok": not bad, "registers": verdicts, "seconds": seconds,
            "operations": sum(v["operations"] for v in verdicts),
            "uncertain_writes": sum(v["uncertain_writes"] for v in verdicts)}


# ----------------------------------------------------------------- the report

def fmt(x: Optional[float]) -> str:
    return "—" if x is None else f"{x:.2f}"


def report_md(meta: dict, results: list[dict], end_checks: dict) -> str:
    lines = ["# raftvisor chaos report", "",
             f"Seed {meta['seed']}, mode {meta['mode']}, binary `{meta['binary']}`, "
             f"{meta['started']}, {meta['duration_s']:.0f} s, options "
             f"{', '.join(meta['options']) or 'none (the defaults)'}. "
             f"Reproduce: `{meta['command']}`.",
             "",
             f"Bounds: recovery ≤ {meta['recovery_bound_s']:g} s after the fault ends; "
             "duplicate window 0 s (no program of `seq` on two hosts at any sample, every "
             f"{SAMPLE_EVERY * 1000:.0f} ms); lost writes 0.", "",
             "| # | scenario | fault | silent everywhere (s) | new master (s) | recovery (s) "
             "| duplicate window (s) | writes acked / sent | lost writes | verdict |",
             "|---:|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for i, r in enumerate(results, 1):
        f = r.get("fault", {})
        ops = r.get("client_ops", {})
        lines.append(
            f"| {i} | {r['scenario']} | {f.get('description', '—')} | "
            f"{fmt(f.get('silent_everywhere_s'))} | {fmt(f.get('new_master_s'))} | "
            f"{fmt(r.get('recovery_s'))} | {fmt(r.get('duplicate_max_s', 0.0))} | "
            f"{ops.get('acknowledged', 0)} / {ops.get('writes', 0)} | "
            f"{len(r.get('lost_writes', []))} | {'ok' if r.get('ok') else 'FAILED'} |")
    rec = sorted(r["recovery_s"] for r in results if r.get("recovery_s") is not None)
    if rec:
        lines += ["", f"Recovery over {len(rec)} scenarios: median {rec[len(rec) // 2]:.2f} s, "
                      f"worst {rec[-1]:.2f} s."]
    failures = [(r.get("label", r["scenario"]), f) for r in results
                for f in r.get("failures", [])]
    failures += [("end of run", f) for f in end_checks.get("failures", [])]
    lines += ["", "## Failures", ""] + ([f"- {s}: {f}" for s, f in failures] or ["none"])
    lines += ["", "## End of run", "",
              f"- children left after every daemon's orderly stop: "
              f"{end_checks.get('children_left', '—')}",
              f"- samples of the hosts' processes: {end_checks.get('samples', 0)}",
              f"- client operations: {end_checks.get('ops', 0)}"]
    lin = end_checks.get("linearizability")
    if lin:
        verdict = "linearizable" if lin["ok"] else "NOT linearizable"
        lines.append(f"- linearizability (stateright's tester, `crates/chaoscheck`, register by "
                     f"register; `history.json`): {verdict}"
                     + (f", {len(lin['registers'])} registers, {lin['operations']} operations "
                        f"({lin['uncertain_writes']} writes without an answer), "
                        f"{lin['seconds']:.1f} s" if "registers" in lin else
                        f" ({lin.get('error')})"))
    landed = end_checks.get("landings")
    if landed:
        lines.append(f"- where the writes landed (`supvisors.get_history` beside the clients' "
                     f"history): {landed['in_scenario']} in the scenario that sent them, "
                     f"{landed['late']} after it, their client having given up"
                     + (" (sent in {})".format(", ".join(sorted(
                         {w["sent_in"] for w in landed["late_writes"]})))
                        if landed["late_writes"] else "")
                     + f", {landed['unexplained']} that no client sent or that were refused"
                     + (f" (no history after {', '.join(landed['gaps'])})"
                        if landed["gaps"] else ""))
    lines.append("")
    return "\n".join(lines)


# ----------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin-dir", default=os.environ.get("RAFTVISOR_BIN_DIR",
                                                        str(REPO / "target" / "release")))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--minutes", type=float, default=0.0,
                    help="randomised mode: a seeded mix of scenarios for this long "
                         "(0: short mode, every scenario once in a fixed order)")
    ap.add_argument("--scenarios", default="",
                    help="comma-separated subset, in this order (short mode)")
    ap.add_argument("--recovery", type=float, default=30.0,
                    help="bound on the recovery after each fault (s)")
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="an option of every host's [rpcinterface:supvisors] section "
                         "(repeatable); none by default: the defaults are what is tested")
    ap.add_argument("--clients", type=int, default=3,
                    help="clients writing and reading at once (the history's concurrency)")
    ap.add_argument("--out", default=str(REPO / "chaos"), help="where the report goes")
    ap.add_argument("--workdir", help="keep configs and logs here instead of a temp dir")
    args = ap.parse_args()
    os.environ["RAFTVISOR_BIN_DIR"] = str(Path(args.bin_dir).resolve())
    require_root_and_ip()
    if harness.raftvisor_bin("raftvisord") is None:
        raise SystemExit(harness.unavailable_reason("raftvisord") or "no raftvisord")
    if subprocess.run(["iptables", "--version"], capture_output=True).returncode != 0:
        raise SystemExit("chaos needs iptables (chaos/run.sh installs it)")
    names = [n for n in args.scenarios.split(",") if n] or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenario(s) {unknown}; known: {', '.join(SCENARIOS)}")
    rng = random.Random(args.seed)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="raftvisor-chaos."))
    work.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    t_run = time.monotonic()
    meta = {"seed": args.seed, "mode": f"random {args.minutes:g} min" if args.minutes
            else "short", "binary": harness.raftvisor_bin("raftvisord"), "started": started,
            "recovery_bound_s": args.recovery, "workdir": str(work), "options": args.option,
            "command": "chaos/run.sh " + " ".join(sys.argv[1:])}
    results: list[dict] = []
    end_checks: dict = {"failures": []}
    lab = None
    sampler = clients = runner = None

    def on_term(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    status = 0
    try:
        lab = Lab(work, HOSTS)
        cluster = Cluster(lab, work, rng, dict(o.split("=", 1) for o in args.option))
        cluster.start_all()
        harness.wait_until(lambda: cluster.recovered(cluster.hosts)[0], 60,
                           what="the cluster in OPERATION with seq running once")
        sampler = Sampler(cluster)
        sampler.start()
        clients = Clients(cluster, args.seed, args.clients)
        clients.pause()  # each scenario resumes them
        clients.start()
        runner = Runner(cluster, sampler, clients, rng, args.recovery)
        if args.minutes > 0:
            deadline = time.monotonic() + args.minutes * 60
            while time.monotonic() < deadline:
                name = rng.choice(names)
                runner.run(name, lambda: SCENARIOS[name](runner))
        else:
            for name in names:
                runner.run(name, lambda: SCENARIOS[name](runner))
        results = runner.results
        if sampler.error:
            end_checks["failures"].append(f"the sampler broke: {sampler.error}")
    except KeyboardInterrupt:
        log("interrupted: stopping everything")
        end_checks["failures"].append("interrupted")
        status = 130
    except Exception as e:  # noqa: BLE001 - reported, then everything is stopped
        log(f"chaos run failed: {e!r}")
        end_checks["failures"].append(f"the run broke: {e!r}")
    finally:
        if clients is not None:
            clients.close()
        if sampler is not None:
            sampler.close()
        if lab is not None:
            # Orderly stops first: what survives its daemon's stop is a leaked child.
            left = 0
            for h in lab.hosts:
                if h.proc is not None and h.proc.poll() is None:
                    h.proc.send_signal(signal.SIGCONT)
                    h.proc.terminate()
                    try:
                        h.proc.wait(30)
                    except subprocess.TimeoutExpired:
                        pass
                left += len(harness.pids_with_env_tag(h.tag))
            end_checks["children_left"] = left
            if left:
                end_checks["failures"].append(f"{left} child(ren) outlived their daemon's stop")
            try:
                lab.close()
            except Exception as e:  # noqa: BLE001
                end_checks["failures"].append(f"cleaning up: {e!r}")
        end_checks["failures"] += [f"cleaning up: {e}" for e in unmount_data_disks()]
        if sampler is not None:
            end_checks["samples"] = sampler.samples
            # Outside every scenario (the setup, a repair): no program may run twice either.
            outside = [w for w in sampler.windows if w["scenario"] in ("setup", "repair")]
            if outside:
                end_checks["failures"].append(f"a program of seq ran on two hosts outside the "
                                              f"scenarios: {outside[:3]}")
        if clients is not None:
            end_checks["ops"] = len(clients.history.ops)
        if clients is not None and runner is not None:
            landed = late_landings(clients.history.ops, runner.cluster_history)
            landed["gaps"] = runner.history_gaps
            end_checks["landings"] = landed
            end_checks["cluster_history"] = runner.cluster_history
            if landed["unexplained"] and not runner.history_gaps:
                end_checks["failures"].append(
                    f"{landed['unexplained']} write(s) took effect that no client sent, or "
                    f"that the server refused: {landed['unexplained_entries'][:3]}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if clients is not None and clients.history.ops:
        end_checks["linearizability"] = check_linearizability(
            Path(args.bin_dir), clients.history, out / "history.json", end_checks["failures"])
    meta["duration_s"] = time.monotonic() - t_run
    (out / "report.md").write_text(report_md(meta, results, end_checks))
    (out / "report.json").write_text(json.dumps({
        "meta": meta, "results": results, "end": end_checks,
        "history": [vars(o) for o in (clients.history.ops if clients else [])],
        "duplicate_windows": sampler.windows if sampler else []}, indent=1, default=str))
    log(f"report: {out / 'report.md'}")
    if status:
        return status
    broken = [r.get("label", r["scenario"]) for r in results if not r.get("ok")] \
        + end_checks["failures"]
    if broken or len(results) == 0:
        log(f"FAILED: {broken or 'nothing ran'}")
        return 1
    log(f"all {len(results)} scenarios held")
    return 0


if __name__ == "__main__":
    sys.exit(main())
