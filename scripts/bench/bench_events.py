#!/usr/bin/env python3
"""Side-by-side event benchmark: 3 raftvisord instances vs 3 supervisord + Supvisors 0.19
instances, both with `event_link = ZMQ`, same machine, same run, loopback only. One ZeroMQ
subscriber (pyzmq, two frames: header, JSON body) listens to s2 while the work happens on s1:
every instance publishes the whole cluster's events.

Metrics (see README.md in this directory):
  latency  supervisor.startProcess(wait=False) of a startsecs=0 program on s1 -> its RUNNING
           `event` message at the subscriber of s2, --rounds times (each followed by a stop
           whose STOPPED message is awaited): median, p99 and max, in ms
  burst    --burst programs started at once on s1 (supervisor.startProcessGroup, no wait) ->
           their RUNNING `event` messages at the subscriber of s2: how many arrived, when the
           last did, the messages of every header in that time, what the publisher counted as
           dropped (raftvisord: raftvisor_events_dropped_total of s2's /metrics; Supvisors
           counts nothing), and the CPU time of the daemons of s1 and s2 meanwhile
  loss     kill -9 of s3 -> its SILENT `instance` message at the subscriber of s2 (s);
           Supvisors 0.19 says FAILED (then STOPPED): either is taken

The clusters come from bench_cluster.py (RaftSide, PeerSide), with each instance's event port
given explicitly (the default, the HTTP port + 1, may be another port of the run). Runs with
the peer's venv (scripts/bench/peer/setup-peer.sh: Supervisor 4.3.0, Supvisors 0.19.1, pyzmq),
which run.sh --events-only uses. Every wait is a poll with a deadline; every process started
is stopped by its PID. Output: a markdown table and --json FILE.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_cluster as bc  # noqa: E402
import cluster_harness  # noqa: E402
import harness  # noqa: E402

IDS = bc.IDS
RUNNING, STOPPED = 20, 0


class Subscriber:
    """A ZeroMQ SUB socket on one event port, subscribed to everything, reading in a thread of
    its own; each message is kept as `(time.monotonic() at receipt, header, body)`."""

    def __init__(self, port: int):
        import zmq
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.RCVHWM, 0)  # the subscriber's side drops nothing
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        self.sock.connect(f"tcp://127.0.0.1:{port}")
        self.messages: list[tuple[float, str, dict]] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        import zmq
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        while not self.stopping.is_set():
            if not poller.poll(100):
                continue
            frames = self.sock.recv_multipart()
            now = time.monotonic()
            if len(frames) == 2:
                try:
                    body = json.loads(frames[1])
                except ValueError:
                    continue
                self.messages.append((now, frames[0].decode(errors="replace"), body))

    def wait(self, match, after: int, timeout: float, what: str):
        """The first message from index `after` on that `match(header, body)` accepts."""
        def found():
            for m in self.messages[after:]:
                if match(m[1], m[2]):
                    return m
            return None
        return bc.poll(found, timeout, interval=0.002, what=what)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)
        self.sock.close(linger=0)
        self.ctx.term()


def process_event(name: str, state: int):
    return lambda h, b: h == "event" and b.get("name") == name and b.get("state") == state


def measure_latency(side, sub: Subscriber, rounds: int, timeout: float) -> dict:
    s1 = bc.proxy(side.http_port("s1"))
    lat = []
    for _ in range(rounds):
        mark = len(sub.messages)
        t0 = time.monotonic()
        s1.supervisor.startProcess("lat", False)
        got = sub.wait(process_event("lat", RUNNING), mark, timeout, "lat RUNNING at s2")
        lat.append(got[0] - t0)
        mark = len(sub.messages)
        s1.supervisor.stopProcess("lat", True)
        sub.wait(process_event("lat", STOPPED), mark, timeout, "lat STOPPED at s2")
    lat.sort()
    ms = [1000 * x for x in lat]
    return {"rounds": rounds, "median_ms": statistics.median(ms),
            "p99_ms": ms[min(len(ms) - 1, int(0.99 * len(ms)))], "max_ms": ms[-1],
            "min_ms": ms[0]}


def zmq_dropped(side, ident: str) -> float | None:
    """raftvisord's count of events its ZeroMQ queue dropped (from /metrics); None for the
    peer, which counts none."""
    if side.name != "raftvisord":
        return None
    url = f"http://127.0.0.1:{side.http_port(ident)}/metrics"
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    for line in text.splitlines():
        if line.startswith('raftvisor_events_dropped_total{sink="zmq"}'):
            return float(line.split()[-1])
    return 0.0


def measure_burst(side, sub: Subscriber, n: int, timeout: float) -> dict:
    s1 = bc.proxy(side.http_port("s1"), timeout=120)
    pids = {i: side.pid(i) for i in ("s1", "s2")}
    cpu0 = {i: bc.cpu_ticks(p) for i, p in pids.items()}
    dropped0 = zmq_dropped(side, "s2")
    mark = len(sub.messages)
    t0 = time.monotonic()
    s1.supervisor.startProcessGroup("ev", False)
    names = {f"ev{k:04d}" for k in range(n)}

    def running() -> set:
        return {b.get("name") for _, h, b in sub.messages[mark:]
                if h == "event" and b.get("state") == RUNNING and b.get("name") in names}
    try:
        bc.poll(lambda: len(running()) == n, timeout, interval=0.05,
                what=f"{n} RUNNING events at s2")
    except TimeoutError:
        pass  # reported as what arrived
    seen = running()
    window = sub.messages[mark:]
    last = max((t for t, h, b in window if h == "event" and b.get("name") in names),
               default=None)
    cpu = {i: (bc.cpu_ticks(p) - cpu0[i]) / bc.CLK_TCK for i, p in pids.items()}
    dropped1 = zmq_dropped(side, "s2")
    return {"programs": n, "running_events": len(seen),
            "last_event_s": None if last is None else last - t0,
            "messages": len(window),
            "dropped": None if dropped0 is None else dropped1 - dropped0,
            "cpu_s1_s": cpu["s1"], "cpu_s2_s": cpu["s2"]}


def measure_loss(side, sub: Subscriber, timeout: float) -> dict:
    s3_port = str(side.http_port("s3"))
    lost = side.silent_names()[0] | side.silent_names()[1] | {"SILENT"}

    def is_s3(body: dict) -> bool:
        ids = {body.get("identifier", ""), body.get("nick_identifier", "")}
        return "s3" in ids or any(str(i).endswith(":" + s3_port) for i in ids)
    mark = len(sub.messages)
    t0 = time.monotonic()
    side.kill9("s3")
    got = sub.wait(lambda h, b: h == "instance" and is_s3(b) and b.get("statename") in lost,
                   mark, timeout, "s3 lost at s2")
    return {"seconds": got[0] - t0, "state": got[2].get("statename")}


def programs(n: int) -> dict[str, str]:
    lat = ("[program:lat]\ncommand = /bin/sleep 100000\nautostart = false\n"
           "autorestart = false\nstartsecs = 0\nstopwaitsecs = 5\n"
           "stdout_logfile = NONE\nstderr_logfile = NONE\n")
    return {"s1": lat + "\n" + bc.sleep_programs("ev", n, group="ev")}


def run_side(side, args, results: dict) -> None:
    name = side.name

    def record(metric: str, value) -> None:
        results.setdefault(metric, {})[name] = value
    try:
        t0 = side.start()
        bc.wait_operation(side, t0, args.phase_timeout)
        sub = Subscriber(args.event_ports["s2"])
        try:
            # ZeroMQ's slow joiner: the subscription holds once a message came through (each
            # instance's status is published at its ticks, every 5 s or so).
            sub.wait(lambda h, b: True, 0, 30, f"{name}: a first message at s2")
            for metric, measure in (
                    ("latency", lambda: measure_latency(side, sub, args.rounds,
                                                        args.phase_timeout)),
                    ("burst", lambda: measure_burst(side, sub, args.burst, args.phase_timeout)),
                    ("loss", lambda: measure_loss(side, sub, args.phase_timeout))):
                try:
                    r = measure()
                    record(metric, r)
                    bc.log(name, metric, r)
                except Exception as e:  # the next phases still run
                    record(metric, {"error": repr(e)})
                    bc.log(name, metric, "failed:", repr(e))
        finally:
            sub.close()
    finally:
        side.stop()


def fmt(v, digits=1) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def table(results: dict, args) -> str:
    def get(metric, side, key):
        v = results.get(metric, {}).get(side)
        return v.get(key) if isinstance(v, dict) else None

    rows = [
        ("start -> RUNNING `event` at another instance, median (ms)", "latency", "median_ms", 1),
        ("start -> RUNNING `event` at another instance, p99 (ms)", "latency", "p99_ms", 1),
        ("start -> RUNNING `event` at another instance, max (ms)", "latency", "max_ms", 1),
        (f"{args.burst} started at once: RUNNING events received", "burst", "running_events", 0),
        (f"{args.burst} started at once: last one received after (s)", "burst", "last_event_s", 2),
        (f"{args.burst} started at once: messages of every header", "burst", "messages", 0),
        (f"{args.burst} started at once: dropped, as counted by the publisher", "burst",
         "dropped", 0),
        (f"{args.burst} started at once: CPU of s1's daemon (s)", "burst", "cpu_s1_s", 2),
        (f"{args.burst} started at once: CPU of s2's daemon (s)", "burst", "cpu_s2_s", 2),
        ("kill -9 of s3 -> its lost `instance` event at s2 (s)", "loss", "seconds", 2),
    ]
    out = ["| metric | raftvisord | Supvisors 0.19 | ratio |", "|---|---|---|---|"]
    for label, metric, key, digits in rows:
        a, b = get(metric, "raftvisord", key), get(metric, "supvisors", key)
        ratio = "n/a" if a is None or b in (None, 0) else f"{a / b:.3f}"
        out.append(f"| {label} | {fmt(a, digits)} | {fmt(b, digits)} | {ratio} |")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    bc.common_args(ap)
    ap.add_argument("--rounds", type=int, default=100, help="latency samples per side")
    ap.add_argument("--burst", type=int, default=1000, help="programs started at once")
    ap.add_argument("--phase-timeout", type=float, default=180.0)
    ap.add_argument("--json", help="write raw results to this file")
    ap.add_argument("--workdir", help="keep configs and logs here instead of a temp dir")
    args = ap.parse_args()
    results, work = bc.start_run(args, "bench-events.")

    status = 0
    try:
        reason = harness.unavailable_reason("raftvisord")
        if reason:
            bc.log("raftvisord not run:", reason)
            results["raftvisord_error"] = reason
            status = 1
        else:
            ports = dict(zip(IDS, cluster_harness.free_ports(len(IDS))))
            args.event_ports = ports
            side = bc.RaftSide(work / "raft", programs(args.burst),
                               overrides={i: {"event_link": "ZMQ", "event_port": ports[i]}
                                          for i in IDS})
            run_side(side, args, results)
        if not args.no_peer:
            bc.ensure_peer_venv(Path(args.peer_venv))
            ports = dict(zip(IDS, cluster_harness.free_ports(len(IDS))))
            args.event_ports = ports
            side = bc.PeerSide(work / "peer", programs(args.burst), Path(args.peer_venv),
                               Path(args.peer_dir),
                               supvisors_extra={i: f"event_link = ZMQ\nevent_port = {ports[i]}"
                                                for i in IDS})
            run_side(side, args, results)
    except KeyboardInterrupt:
        bc.log("interrupted: everything started was stopped")
        status = 130
    except Exception as e:  # report what was measured so far, then fail
        bc.log("bench failed:", repr(e))
        results["error"] = repr(e)
        status = 1
    results["config"].pop("event_ports", None)
    print(table(results, args))
    print()
    print("Notes: one pyzmq subscriber on s2, the work on s1. raftvisord publishes from its "
          "replica, so a burst's intermediate states between two replica updates come as the "
          "latest state once (each process's RUNNING is what is counted); Supvisors publishes "
          "each transition. raftvisord's dropped count is its own queue's (ZeroMQ's per-"
          "subscriber high-water mark drops silently on both sides; the subscriber's is off).")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return status


if __name__ == "__main__":
    sys.exit(main())
