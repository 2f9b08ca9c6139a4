#!/usr/bin/env python3
"""Side-by-side cluster benchmark: 3 raftvisord instances (Raft) vs 3 supervisord + Supvisors
0.19 instances (the Python peer), same machine, same run, loopback only.

Metrics (see README.md in this directory):
  launch     spawn of the 3 daemons -> every instance reports OPERATION
  follower   kill -9 of a non-master -> every survivor shows it SILENT
             (peer: 0.19 names the states FAILED then STOPPED; both are reported)
  master     kill -9 of the master -> every survivor names the same new master
  rpc        supvisors.get_all_process_info calls/s with 300 processes RUNNING in the cluster
             (100 per instance), one Python client, keep-alive, plain and with TCP_QUICKACK
  idle       the idle cluster (no programs of the benchmark's own): each daemon's CPU time
             over --idle-seconds (its threads' schedstat, and utime+stime from /proc/PID/stat),
             in % of one core, after --idle-settle seconds in OPERATION (phase D, `--only
             idle` runs it alone)
  events     1,000 `sleep` programs (startsecs=0) started at once on one instance
             (supervisor.startProcessGroup) -> every replica shows all of them RUNNING;
             raftvisord also reports how many Raft log entries that took (the growth of the
             leader's last_log_index, supvisors.get_raft_status, a raftvisor extension)

The peer cluster is generated like scripts/bench/peer/run_supvisors_cluster.sh does (same
options; its rules.xml and loopback_shim.py are read from that directory), plus the
benchmark's own programs; it runs from a separate venv (--peer-venv, made by
scripts/bench/peer/setup-peer.sh with Supervisor 4.3.0 + Supvisors 0.19.1 if missing; the tests'
venv stays supervisor-only). Everything the benchmark needs is in the repository. Every
supervisord is launched by this script with -n (so its PID is ours) and stopped with
peer/stop_supvisors_cluster.sh (PID-based), then by our own PIDs. raftvisord instances are stopped by tests/cluster_harness.py (PID-only,
children found by an environment tag).

Every wait is a poll with a deadline. Output: a markdown table and --json FILE.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

import cluster_harness  # noqa: E402
import harness  # noqa: E402

IDS = ["s1", "s2", "s3"]
DEFAULT_PEER_DIR = REPO / "scripts" / "bench" / "peer"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(*a) -> None:
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


# ----------------------------------------------------------------- XML-RPC clients

class QuickAckTransport(xmlrpc.client.Transport):
    """Sets TCP_QUICKACK before each request (Linux): removes the Nagle x delayed-ACK stall
    that a server writing its reply in several segments causes."""

    def __init__(self, timeout: float):
        super().__init__()
        self._timeout = timeout

    def make_connection(self, host):
        conn = super().make_connection(host)
        conn.timeout = self._timeout
        return conn

    def send_request(self, host, handler, request_body, debug):
        conn = super().send_request(host, handler, request_body, debug)
        try:
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        except (OSError, AttributeError):
            pass
        return conn


def proxy(port: int, timeout: float = 30.0, quickack: bool = False) -> xmlrpc.client.ServerProxy:
    transport = (QuickAckTransport(timeout) if quickack
                 else harness._TimeoutTransport(timeout))
    return xmlrpc.client.ServerProxy(f"http://127.0.0.1:{port}/RPC2", transport=transport)


def cpu_ticks(pid: int) -> int:
    return harness.proc_cpu_ticks(pid) or 0


def rpc_rate(port: int, seconds: float, quickack: bool, server_pid: int) -> dict:
    """One keep-alive client calling get_all_process_info for `seconds`; also the server's
    CPU time per call, which separates the server's cost from the Python client's parsing."""
    p = proxy(port, quickack=quickack)
    cpu0 = cpu_ticks(server_pid)
    lat = []
    t0 = time.monotonic()
    end = t0 + seconds
    entries = 0
    while time.monotonic() < end:
        t1 = time.perf_counter()
        entries = len(p.supvisors.get_all_process_info())
        lat.append(time.perf_counter() - t1)
    dt = time.monotonic() - t0
    cpu_s = (cpu_ticks(server_pid) - cpu0) / CLK_TCK
    lat.sort()
    return {"calls_per_s": len(lat) / dt, "calls": len(lat), "entries": entries,
            "p50_ms": 1000 * lat[len(lat) // 2], "quickack": quickack,
            "server_cpu_ms_per_call": 1000 * cpu_s / max(1, len(lat))}


def poll(pred: Callable[[], object], timeout: float, interval: float = 0.05, what: str = ""):
    return harness.wait_until(pred, timeout, interval=interval, what=what)


# ----------------------------------------------------------------- programs

def sleep_programs(prefix: str, n: int, group: str) -> str:
    """`n` programs `prefix0000...` in [group:`group`] (one application in Supvisors' view, so
    startProcessGroup starts exactly them and not the peer's seq/dist programs), autostart=false,
    startsecs=0, no log files."""
    names = [f"{prefix}{k:04d}" for k in range(n)]
    out = [f"[group:{group}]\nprograms = {','.join(names)}\n"]
    for name in names:
        out.append(f"[program:{name}]\ncommand = /bin/sleep 100000\nautostart = false\n"
                   "autorestart = false\nstartsecs = 0\nstopwaitsecs = 5\n"
                   "stdout_logfile = NONE\nstderr_logfile = NONE\n")
    return "\n".join(out)


def fd_limits() -> str:
    import resource
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 8192 if hard == resource.RLIM_INFINITY else min(8192, hard)
    return f"minfds = {want}\nminprocs = 4000"


# ----------------------------------------------------------------- the two clusters

class RaftSide:
    """3 raftvisord (documented default timings) through tests/cluster_harness.py."""

    name = "raftvisord"
    has_raft_log = True

    def __init__(self, base: Path, per_instance_programs: dict[str, str],
                 options: dict[str, object] | None = None,
                 overrides: dict[str, dict[str, object]] | None = None):
        """`options`: extra `[rpcinterface:supvisors]` options (e.g. rules_files for
        bench_apps.py); none by default, so the documented default timings apply.
        `overrides`: options of one instance (e.g. its event_port for bench_events.py)."""
        self.cluster = cluster_harness.Cluster(base, IDS, "", timings=dict(options or {}),
                                               overrides=overrides, loglevel="info")
        for ident in IDS:
            inst = self.cluster[ident]
            inst.programs = per_instance_programs.get(ident, "")
            inst.supervisord_extra = fd_limits()

    def http_port(self, ident: str) -> int:
        return self.cluster[ident].http_port

    def pid(self, ident: str) -> int:
        return self.cluster[ident].pid

    def start(self) -> float:
        """Starts all; returns the monotonic time of the first spawn."""
        self.cluster.start(timeout=120)
        return min(self.cluster[i].started_at for i in IDS)

    def state(self, ident: str) -> str:
        return self.cluster[ident].state(timeout=5)

    def master(self, ident: str) -> str:
        return self.cluster[ident].master(timeout=5)

    def instance_states(self, ident: str) -> dict[str, str]:
        return self.cluster[ident].instance_states(timeout=5)

    def kill9(self, ident: str) -> None:
        self.cluster[ident].kill9()

    def raft_log_index(self, ident: str) -> int | None:
        """Index of the last entry of `ident`'s Raft log (-1 when empty): raftvisor's
        supvisors.get_raft_status extension. None (logged) if it cannot be read, so that an
        older binary still gets the other figures."""
        try:
            return self.cluster[ident].sv(5).get_raft_status()["last_log_index"]
        except (OSError, xmlrpc.client.Error, KeyError, TypeError) as e:
            log(self.name, ident, "get_raft_status failed:", repr(e))
            return None

    def stop(self) -> None:
        self.cluster.stop()

    def silent_names(self) -> tuple[set, set]:
        """(states meaning 'lost, being handled', states meaning 'lost, settled')."""
        return {"SILENT"}, {"SILENT"}


class PeerSide:
    """3 supervisord + Supvisors 0.19, generated like run_supvisors_cluster.sh."""

    name = "supvisors"
    has_raft_log = False

    def __init__(self, base: Path, per_instance_programs: dict[str, str], venv: Path,
                 peer_dir: Path, rules_xml: str | None = None,
                 common_programs: str | None = None,
                 supvisors_extra: dict[str, str] | None = None):
        """`rules_xml` / `common_programs` replace the peer script's rules.xml and its
        seq/dist programs.ini (bench_apps.py brings its own); by default both are the
        baseline's. `supvisors_extra`: more `[rpcinterface:supvisors]` lines of one instance
        (e.g. its event interface for bench_events.py)."""
        self.supvisors_extra = dict(supvisors_extra or {})
        self.work = Path(base).resolve()
        self.work.mkdir(parents=True, exist_ok=True)
        self.venv = venv
        self.peer_dir = peer_dir
        self.ports = dict(zip(IDS, cluster_harness.free_ports(len(IDS))))
        self.procs: dict[str, subprocess.Popen] = {}
        self.nick_by_port = {str(p): i for i, p in self.ports.items()}
        self._generate(per_instance_programs, rules_xml, common_programs)

    # -- generation (mirrors peer/run_supvisors_cluster.sh; shim and rules are its files)
    def _generate(self, per_instance_programs: dict[str, str], rules_xml: str | None = None,
                  common_programs: str | None = None) -> None:
        (self.work / "loopback_shim.py").write_text(
            (self.peer_dir / "loopback_shim.py").read_text())
        (self.work / "rules.xml").write_text(
            rules_xml if rules_xml is not None else (self.peer_dir / "rules.xml").read_text())
        common = ["[group:seq]", "programs=seq_a,seq_b,seq_c", "[group:dist]",
                  "programs=dist_1,dist_2,dist_3"]
        for p in ("seq_a", "seq_b", "seq_c", "dist_1", "dist_2", "dist_3"):
            common += [f"[program:{p}]", "command=/bin/sleep 1000", "autostart=false",
                       "autorestart=false", "startsecs=1", "stopwaitsecs=5",
                       "stdout_logfile=NONE", "stderr_logfile=NONE"]
        (self.work / "programs.ini").write_text(
            common_programs if common_programs is not None else "\n".join(common) + "\n")
        slist = ",".join(f"<{i}>127.0.0.1:{self.ports[i]}" for i in IDS)
        for ident in IDS:
            d = self.work / ident
            (d / "childlogs").mkdir(parents=True, exist_ok=True)
            (d / "own.ini").write_text(per_instance_programs.get(ident, "") + "\n")
            port = self.ports[ident]
            (d / "supervisord.conf").write_text(f"""[supervisord]
identifier={ident}
logfile={d}/supervisord.log
pidfile={d}/supervisord.pid
childlogdir={d}/childlogs
loglevel=info
environment=PEER_CLUSTER="{self.work}"
{fd_limits()}

[inet_http_server]
port=127.0.0.1:{port}

[supervisorctl]
serverurl=http://127.0.0.1:{port}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[rpcinterface:supvisors]
supervisor.rpcinterface_factory = loopback_shim:make_supvisors_rpcinterface
supvisors_list = {slist}
rules_files = {self.work}/rules.xml
synchro_options = STRICT,TIMEOUT
synchro_timeout = 30
inactivity_ticks = 2
starting_strategy = CONFIG
conciliation_strategy = USER
{self.supvisors_extra.get(ident, "")}

[ctlplugin:supvisors]
supervisor.ctl_factory = supvisors.supvisorsctl:make_supvisors_controller_plugin

[include]
files = {self.work}/programs.ini {d}/own.ini
""")

    # -- lifecycle
    def http_port(self, ident: str) -> int:
        return self.ports[ident]

    def pid(self, ident: str) -> int:
        return self.procs[ident].pid

    def start(self) -> float:
        env = dict(os.environ, PEER_CLUSTER=str(self.work), PYTHONPATH=str(self.work))
        t0 = time.monotonic()
        for ident in IDS:
            d = self.work / ident
            out = open(d / "supervisord.out", "ab")
            try:
                self.procs[ident] = subprocess.Popen(
                    [str(self.venv / "bin" / "supervisord"), "-n", "-c",
                     str(d / "supervisord.conf")],
                    cwd=d, env=env, stdout=out, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True)
            finally:
                out.close()
        return t0

    def _nick(self, value) -> str:
        if isinstance(value, dict):
            if value.get("nick_identifier"):
                return value["nick_identifier"]
            value = value.get("identifier", "")
        if not value:
            return ""
        return self.nick_by_port.get(str(value).rsplit(":", 1)[-1], str(value))

    def state(self, ident: str) -> str:
        return proxy(self.ports[ident], 5).supvisors.get_supvisors_state()["fsm_statename"]

    def master(self, ident: str) -> str:
        return self._nick(proxy(self.ports[ident], 5).supvisors.get_master_identifier())

    def instance_states(self, ident: str) -> dict[str, str]:
        return {self._nick(i): i["statename"]
                for i in proxy(self.ports[ident], 5).supvisors.get_all_instances_info()}

    def kill9(self, ident: str) -> None:
        proc = self.procs[ident]
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        # Its pidfile now names a dead PID that could be recycled: the stop script must not
        # signal it. Its orphaned children are swept by the environment marker.
        try:
            (self.work / ident / "supervisord.pid").unlink()
        except FileNotFoundError:
            pass

    def stop(self) -> None:
        stop_script = self.peer_dir / "stop_supvisors_cluster.sh"
        if stop_script.exists():  # always in the repository; our own PIDs below regardless
            try:
                subprocess.run(["bash", str(stop_script), str(self.work)], timeout=90,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                log("peer stop script timed out")
        for proc in self.procs.values():  # our own PIDs, whatever the script did
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        sweep_env_marker(f"PEER_CLUSTER={self.work}")

    def silent_names(self) -> tuple[set, set]:
        return {"FAILED", "STOPPED"}, {"STOPPED"}


def sweep_env_marker(marker: str) -> None:
    """SIGKILL every process whose environment holds exactly `marker` (orphans of a kill -9)."""
    needle = marker.encode()
    found = {}
    for pid in harness.all_pids():
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if needle in env.split(b"\0") and pid != os.getpid():
            found[pid] = harness.proc_start_time(pid)
    harness.kill_recorded(found)


# ----------------------------------------------------------------- measurements

def wait_operation(side, t0: float, timeout: float) -> float:
    pending = set(IDS)

    def done():
        for ident in list(pending):
            try:
                if side.state(ident) == "OPERATION":
                    pending.discard(ident)
            except (OSError, xmlrpc.client.Error):
                pass
        return not pending
    poll(done, timeout, interval=0.05, what=f"{side.name}: all OPERATION")
    return time.monotonic() - t0


def common_master(side, idents, exclude=()) -> str:
    masters = set()
    for ident in idents:
        masters.add(side.master(ident))
    if len(masters) == 1:
        m = masters.pop()
        if m and m not in exclude:
            return m
    return ""


def count_running(side, observer: str, prefix: str) -> int:
    infos = proxy(side.http_port(observer), 60).supvisors.get_all_process_info()
    return sum(1 for p in infos
               if p["process_name"].startswith(prefix) and p["statename"] == "RUNNING")


def measure_follower_loss(side, timeout: float) -> dict:
    leader = poll(lambda: common_master(side, IDS), 30, what="a common master")
    victim = next(i for i in IDS if i != leader)
    survivors = [i for i in IDS if i != victim]
    flagged, settled = side.silent_names()
    first: dict[str, float] = {}
    final: dict[str, float] = {}
    t0 = time.monotonic()
    side.kill9(victim)

    def seen():
        t = time.monotonic() - t0
        for s in survivors:
            try:
                st = side.instance_states(s).get(victim)
            except (OSError, xmlrpc.client.Error):
                continue
            if st in flagged:
                first.setdefault(s, t)
            if st in settled:
                final.setdefault(s, t)
        return len(final) == len(survivors)
    poll(seen, timeout, interval=0.05, what=f"{side.name}: {victim} {sorted(settled)} everywhere")
    return {"victim": victim, "master": leader, "flagged_s": max(first.values()),
            "settled_s": max(final.values()), "per_survivor_settled_s": final}


def measure_master_loss(side, timeout: float) -> dict:
    leader = poll(lambda: common_master(side, IDS), 30, what="a common master")
    survivors = [i for i in IDS if i != leader]
    t0 = time.monotonic()
    side.kill9(leader)

    def agreed():
        try:
            return common_master(side, survivors, exclude=[leader])
        except (OSError, xmlrpc.client.Error):
            return ""
    new = poll(agreed, timeout, interval=0.05, what=f"{side.name}: a new master everywhere")
    return {"old_master": leader, "new_master": new, "seconds": time.monotonic() - t0}


def measure_events(side, n: int, timeout: float) -> dict:
    """startProcessGroup('ev') of `n` programs on s1 -> all RUNNING in every replica.

    For raftvisord, also the growth of the leader's Raft log from just before the start to the
    moment every replica shows all RUNNING: the entries the batched process events took, plus
    the few tick/load entries the leader committed meanwhile."""
    owner = "s1"
    leader = log_before = None
    if side.has_raft_log:
        leader = poll(lambda: common_master(side, IDS), 30, what="a common master")
        log_before = side.raft_log_index(leader)
    t0 = time.monotonic()
    proxy(side.http_port(owner), 300).supervisor.startProcessGroup("ev", False)
    call_s = time.monotonic() - t0
    local_s = None
    done: dict[str, float] = {}

    def all_seen():
        nonlocal local_s
        if local_s is None:
            infos = proxy(side.http_port(owner), 60).supervisor.getAllProcessInfo()
            if sum(1 for i in infos if i["name"].startswith("ev") and
                   i["statename"] == "RUNNING") >= n:
                local_s = time.monotonic() - t0
        for ident in IDS:
            if ident not in done:
                try:
                    if count_running(side, ident, "ev") >= n:
                        done[ident] = time.monotonic() - t0
                except (OSError, xmlrpc.client.Error):
                    pass
        return len(done) == len(IDS) and local_s is not None
    poll(all_seen, timeout, interval=0.05, what=f"{side.name}: {n} RUNNING everywhere")
    result = {"start_call_s": call_s, "local_running_s": local_s,
              "all_replicas_s": max(done.values()), "per_replica_s": done,
              "replication_lag_s": max(done.values()) - local_s}
    log_after = side.raft_log_index(leader) if log_before is not None else None
    if log_before is not None and log_after is not None:
        # Read on the same instance both times: the log index is the cluster's, so the
        # difference holds even if the leadership moved meanwhile (then noted).
        result.update({"raft_leader": leader, "raft_log_index_before": log_before,
                       "raft_log_index_after": log_after,
                       "raft_log_entries": log_after - log_before})
        try:
            result["raft_leader_after"] = common_master(side, IDS)
        except (OSError, xmlrpc.client.Error):
            result["raft_leader_after"] = ""
    return result


def threads_cpu_ns(pid: int) -> dict:
    """Each live thread's CPU time in ns (/proc/PID/task/TID/schedstat, first field)."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                out[tid] = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return out


def measure_idle_cpu(side, seconds: float, settle: float) -> dict:
    """Each daemon's CPU time over `seconds` of an idle cluster in OPERATION, after `settle`
    seconds: % of one core per instance, the max and the mean.

    Two measures of the same window. `percent` sums the threads' exact run times
    (schedstat, ns): a thread that ends within the window is left out, one that starts counts
    from zero. `percent_ticks` is utime+stime from /proc/PID/stat, which counts every thread
    but in clock ticks (10 ms: `resolution_percent` over the window), too coarse next to a
    figure of 0.1 %. Both sides of the benchmark are measured the same way."""
    poll(lambda: common_master(side, IDS), 30, what=f"{side.name}: a common master")
    time.sleep(settle)
    pids = {ident: side.pid(ident) for ident in IDS}
    ticks0 = {ident: cpu_ticks(pid) for ident, pid in pids.items()}
    ns0 = {ident: threads_cpu_ns(pid) for ident, pid in pids.items()}
    t0 = time.monotonic()
    time.sleep(seconds)
    ns1 = {ident: threads_cpu_ns(pid) for ident, pid in pids.items()}
    dt = time.monotonic() - t0
    ticks = {ident: 100.0 * (cpu_ticks(pid) - ticks0[ident]) / CLK_TCK / dt
             for ident, pid in pids.items()}
    percent = {ident: 100.0 * sum(ns - ns0[ident].get(tid, 0)
                                  for tid, ns in ns1[ident].items()) / 1e9 / dt
               for ident in pids}
    return {"seconds": dt, "percent": percent, "max_percent": max(percent.values()),
            "mean_percent": sum(percent.values()) / len(percent),
            "percent_ticks": ticks, "max_percent_ticks": max(ticks.values()),
            "resolution_percent": 100.0 / CLK_TCK / dt}


def run_idle(side_factory, args, results: dict, name: str) -> None:
    """Phase D: the idle cluster's CPU per daemon (see `measure_idle_cpu`)."""
    side = side_factory("D", {})
    try:
        t0 = side.start()
        wait_operation(side, t0, args.phase_timeout)
        r = measure_idle_cpu(side, args.idle_seconds, args.idle_settle)
        results.setdefault("idle_cpu", {})[name] = r
        log(name, "idle CPU", r)
    finally:
        side.stop()


def run_side(side_factory, args, results: dict, name: str) -> None:
    """All phases for one implementation; fills results[metric][name]."""
    def record(metric: str, value) -> None:
        results.setdefault(metric, {})[name] = value

    if args.only == "idle":
        run_idle(side_factory, args, results, name)
        return

    bulk = {i: sleep_programs(f"b{i}_", args.processes // len(IDS), f"bulk_{i}") for i in IDS}
    # Phase A: launch, 300 processes, RPC rate, kill -9 of a follower.
    side = side_factory("A", bulk)
    try:
        t0 = side.start()
        record("launch_s", wait_operation(side, t0, args.phase_timeout))
        log(name, "launch -> OPERATION", f"{results['launch_s'][name]:.2f}s")
        for ident in IDS:
            proxy(side.http_port(ident), 300).supervisor.startProcessGroup(f"bulk_{ident}", True)
        per = args.processes // len(IDS)
        poll(lambda: all(count_running(side, o, "b") >= per * len(IDS) for o in IDS),
             args.phase_timeout, interval=0.2, what=f"{name}: bulk RUNNING everywhere")
        leader = poll(lambda: common_master(side, IDS), 30, what="a common master")
        for quickack in (False, True):
            r = rpc_rate(side.http_port(leader), args.rpc_seconds, quickack, side.pid(leader))
            record("rpc_quickack" if quickack else "rpc", r)
            log(name, "get_all_process_info", r)
        raw = harness.raw_xmlrpc_rate(side.http_port(leader), "supvisors.get_all_process_info",
                                      args.rpc_seconds)
        record("rpc_raw", {"calls_per_s": raw})
        log(name, "get_all_process_info without client parsing", f"{raw:.1f} calls/s")
        r = measure_follower_loss(side, args.phase_timeout)
        record("follower_loss", r)
        log(name, "follower loss", r)
    finally:
        side.stop()
    # Phase B: second launch sample, kill -9 of the master.
    side = side_factory("B", {})
    try:
        t0 = side.start()
        record("launch2_s", wait_operation(side, t0, args.phase_timeout))
        r = measure_master_loss(side, args.phase_timeout)
        record("master_loss", r)
        log(name, "master loss", r)
    finally:
        side.stop()
    # Phase C: 1,000 process events on one instance.
    if args.events and (name == "raftvisord" or args.peer_events):
        side = side_factory("C", {"s1": sleep_programs("ev", args.events, group="ev")})
        try:
            t0 = side.start()
            wait_operation(side, t0, args.phase_timeout)
            r = measure_events(side, args.events, args.phase_timeout)
            record("events", r)
            log(name, "events", r)
        except TimeoutError as e:
            record("events", {"error": str(e)})
            log(name, "events failed:", e)
        finally:
            side.stop()
    # Phase D: the idle cluster's CPU.
    if args.idle_seconds > 0:
        run_idle(side_factory, args, results, name)


# ----------------------------------------------------------------- peer venv and report

def ensure_peer_venv(venv: Path) -> None:
    """The peer's venv, made (or checked) by peer/setup-peer.sh: one place pins its versions."""
    subprocess.run(["bash", str(DEFAULT_PEER_DIR / "setup-peer.sh")], check=True, timeout=900,
                   env=dict(os.environ, PEER_VENV=str(venv)), stdout=subprocess.DEVNULL)


def fmt(v, digits=2) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def ratio(a, b) -> str:
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.3f}"


def table(results: dict, args) -> str:
    def get(metric, side, *keys):
        v = results.get(metric, {}).get(side)
        for k in keys:
            v = v.get(k) if isinstance(v, dict) else None
        return v if isinstance(v, (int, float)) else None

    rows = [
        ("launch of 3 instances -> all OPERATION (s)", "launch_s", ()),
        ("same, second cluster (s)", "launch2_s", ()),
        ("kill -9 follower -> flagged lost on all survivors (s) [peer: FAILED]",
         "follower_loss", ("flagged_s",)),
        ("kill -9 follower -> SILENT on all survivors (s) [peer 0.19: STOPPED]",
         "follower_loss", ("settled_s",)),
        ("kill -9 master -> same new master on all survivors (s)", "master_loss", ("seconds",)),
        (f"supvisors.get_all_process_info, {args.processes} processes, calls/s",
         "rpc", ("calls_per_s",)),
        ("same, p50 latency (ms)", "rpc", ("p50_ms",)),
        ("same, server CPU per call (ms)", "rpc", ("server_cpu_ms_per_call",)),
        ("same, client with TCP_QUICKACK, calls/s", "rpc_quickack", ("calls_per_s",)),
        ("same, client reading replies without XML parsing (TCP_QUICKACK), calls/s", "rpc_raw",
         ("calls_per_s",)),
        (f"{args.events} processes started at once on s1 -> RUNNING locally (s)",
         "events", ("local_running_s",)),
        (f"{args.events} processes started at once on s1 -> RUNNING in every replica (s)",
         "events", ("all_replicas_s",)),
        ("replication lag: every replica minus local (s)", "events", ("replication_lag_s",)),
        (f"idle cluster, CPU per daemon over {args.idle_seconds:g} s, max of 3 (% of a core, "
         "threads' schedstat)", "idle_cpu", ("max_percent",), 3),
        ("same, mean of 3 (% of a core)", "idle_cpu", ("mean_percent",), 3),
        ("same, max of 3 in clock ticks (utime+stime, 10 ms steps)", "idle_cpu",
         ("max_percent_ticks",), 3),
    ]
    out = ["| metric | raftvisord | supvisors | ratio raftvisord/supvisors |",
           "|---|---|---|---|"]
    for label, metric, keys, *digits in rows:
        a, b = get(metric, "raftvisord", *keys), get(metric, "supvisors", *keys)
        d = digits[0] if digits else 2
        out.append(f"| {label} | {fmt(a, d)} | {fmt(b, d)} | {ratio(a, b)} |")
    entries = get("events", "raftvisord", "raft_log_entries")
    out.append(f"| Raft log entries for the {args.events} events | {fmt(entries, 0)} "
               "| n/a | n/a |")
    return "\n".join(out)


def common_args(ap: argparse.ArgumentParser) -> None:
    """The options every side-by-side bench takes: where the binaries and the peer are."""
    ap.add_argument("--bin-dir", default=os.environ.get("RAFTVISOR_BIN_DIR",
                                                        str(REPO / "target" / "release")))
    ap.add_argument("--peer-venv", default=str(REPO / ".venv-peer"))
    ap.add_argument("--peer-dir", default=str(DEFAULT_PEER_DIR))
    ap.add_argument("--no-peer", action="store_true", help="raftvisord only")


def start_run(args, prefix: str) -> tuple[dict, Path]:
    """The results (with the options) and the work dir of a run; SIGTERM then stops it as
    Ctrl-C does, through the benches' `finally` blocks."""
    os.environ["RAFTVISOR_BIN_DIR"] = str(Path(args.bin_dir).resolve())
    results: dict = {"config": {k: v for k, v in vars(args).items()}}
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix=prefix))
    work.mkdir(parents=True, exist_ok=True)

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    return results, work


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common_args(ap)
    ap.add_argument("--no-peer-events", dest="peer_events", action="store_false",
                    help="skip the 1,000-process phase for the peer (the slowest)")
    ap.add_argument("--processes", type=int, default=300, help="processes in the cluster (rpc)")
    ap.add_argument("--events", type=int, default=1000, help="0 skips the events phase")
    ap.add_argument("--rpc-seconds", type=float, default=10.0)
    ap.add_argument("--idle-seconds", type=float, default=60.0,
                    help="idle-CPU window of phase D; 0 skips the phase")
    ap.add_argument("--idle-settle", type=float, default=5.0,
                    help="seconds in OPERATION before the idle-CPU window opens")
    ap.add_argument("--raft-option", action="append", default=[], metavar="KEY=VALUE",
                    help="an option of raftvisord's [rpcinterface:supvisors] section for every "
                         "phase (repeatable), e.g. stats_enabled=false to see what statistics "
                         "cost; none by default, so the documented defaults apply")
    ap.add_argument("--only", choices=["idle"],
                    help="run only this phase (idle: phase D, the idle cluster's CPU)")
    ap.add_argument("--phase-timeout", type=float, default=180.0)
    ap.add_argument("--json", help="write raw results to this file")
    ap.add_argument("--workdir", help="keep configs and logs here instead of a temp dir")
    args = ap.parse_args()
    results, work = start_run(args, "bench-cluster.")

    status = 0
    try:
        reason = harness.unavailable_reason("raftvisord")
        if reason:
            log("raftvisord not run:", reason)
            results["raftvisord_error"] = reason
            status = 1
        else:
            options = dict(o.split("=", 1) for o in args.raft_option)
            run_side(lambda phase, progs: RaftSide(work / f"raft-{phase}", progs, options),
                     args, results, "raftvisord")
        if not args.no_peer:
            peer_dir = Path(args.peer_dir)
            ensure_peer_venv(Path(args.peer_venv))
            run_side(lambda phase, progs: PeerSide(work / f"peer-{phase}", progs,
                                                   Path(args.peer_venv), peer_dir),
                     args, results, "supvisors")
    except KeyboardInterrupt:
        log("interrupted: everything started was stopped")
        status = 130
    except Exception as e:  # report what was measured so far, then fail
        log("bench failed:", repr(e))
        results["error"] = repr(e)
        status = 1
    print(table(results, args))
    print()
    print("Notes: the peer's get_all_process_info replies (> 4 KB) wait ~40 ms per call for a "
          "delayed ACK (Nagle x delayed-ACK); the TCP_QUICKACK row removes it. "
          "The peer's cluster clock is its 5 s TICK; raftvisord uses its documented defaults "
          "(tick 100 ms, carried on the Raft heartbeat of 125 ms, inactivity 800 ms, fencing "
          "650 ms, election 200-300 ms). The Raft log entries row is the growth of the leader's last_log_index "
          "from just before the start to all RUNNING everywhere: it also counts the few "
          "tick/load entries committed meanwhile.")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return status


if __name__ == "__main__":
    sys.exit(main())
