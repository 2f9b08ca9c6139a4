#!/usr/bin/env python3
"""Side-by-side benchmark: supervisord 4.3 (reference) vs raftvisord, same run, same configs.

Rows (see README.md in this directory):
  a) start of N `sleep` programs (startsecs=0): daemon spawn -> all RUNNING, and daemon RSS
  b) supervisor.getAllProcessInfo() on those N programs, one client, fixed duration: calls/s
  c) idle CPU of the daemon (utime+stime) over S seconds with M programs running
  d) time from SIGTERM to daemon exit with N programs running

Every wait is a poll with a deadline; everything started is killed by PID at the end (the
harness also kills leftover children found by /proc links and an environment tag).
Output: a markdown table on stdout (and optionally JSON with --json).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
import xmlrpc.client
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

import harness  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def programs_ini(n: int) -> str:
    return "\n".join(f"[program:p{i:04d}]\ncommand = /bin/sleep 100000\nstartsecs = 0\n"
                     for i in range(n))


def supervisord_extra() -> str:
    # N programs hold ~5 fds each in the daemon (3 pipes + 2 logs); make sure the limit fits.
    import resource
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 8192
    if hard == resource.RLIM_INFINITY or hard >= want:
        return f"minfds = {want}\nminprocs = 2000"
    return f"minfds = {hard}\nminprocs = 2000"


def count_running(d: harness.Daemon) -> int:
    infos = d.proxy(timeout=30).supervisor.getAllProcessInfo()
    return sum(1 for i in infos if i.get("statename") == "RUNNING")


def wait_all_running(d: harness.Daemon, n: int, timeout: float) -> float:
    """Seconds from the daemon's spawn until n programs are RUNNING."""
    last = [0]

    def pred():
        if not d.alive():
            raise harness.HarnessError(f"{d.impl} exited\n{d.output_tail()}")
        last[0] = count_running(d)
        return last[0] >= n
    try:
        harness.wait_until(pred, timeout, interval=0.1, what=f"{n} programs RUNNING")
    except TimeoutError:
        raise TimeoutError(f"only {last[0]}/{n} RUNNING after {timeout}s") from None
    return time.monotonic() - d.started_at


def rpc_rate(d: harness.Daemon, seconds: float) -> tuple[float, float]:
    """calls/s with the stock Python client, and the daemon's CPU per call (ms)."""
    p = d.proxy(timeout=30)
    calls = 0
    cpu0 = harness.proc_cpu_ticks(d.pid) or 0
    t0 = time.monotonic()
    end = t0 + seconds
    while time.monotonic() < end:
        p.supervisor.getAllProcessInfo()
        calls += 1
    elapsed = time.monotonic() - t0
    cpu = ((harness.proc_cpu_ticks(d.pid) or 0) - cpu0) / CLK_TCK
    return calls / elapsed, 1000.0 * cpu / max(calls, 1)


def idle_cpu_percent(d: harness.Daemon, seconds: float) -> float:
    a = harness.proc_cpu_ticks(d.pid)
    t0 = time.monotonic()
    time.sleep(seconds)  # measuring an interval: the daemon is what is being observed
    b = harness.proc_cpu_ticks(d.pid)
    if a is None or b is None:
        raise harness.HarnessError(f"{d.impl} exited during the idle measurement")
    return 100.0 * (b - a) / CLK_TCK / (time.monotonic() - t0)


def bench_impl(impl: str, args, workroot: Path, log) -> dict:
    res: dict = {}
    extra = supervisord_extra()
    # a, b, d: N programs
    d = harness.Daemon(impl, workroot / f"{impl}-n{args.programs}", programs_ini(args.programs),
                       supervisord_extra=extra, loglevel="info")
    try:
        log(f"[{impl}] starting {args.programs} programs")
        d.start(timeout=60)
        res["start_all_running_s"] = wait_all_running(d, args.programs, args.start_timeout)
        time.sleep(1.0)  # let the daemon finish post-start bookkeeping before reading RSS
        res["rss_mib"] = (harness.proc_rss_kb(d.pid) or 0) / 1024
        log(f"[{impl}] all RUNNING after {res['start_all_running_s']:.2f}s, "
            f"RSS {res['rss_mib']:.1f} MiB; getAllProcessInfo loop {args.rpc_seconds}s")
        res["getallprocessinfo_per_s"], res["getallprocessinfo_cpu_ms"] = rpc_rate(
            d, args.rpc_seconds)
        res["getallprocessinfo_raw_per_s"] = harness.raw_xmlrpc_rate(
            d.port, "supervisor.getAllProcessInfo", args.rpc_seconds, d.username, d.password)
        log(f"[{impl}] {res['getallprocessinfo_per_s']:.1f} calls/s "
            f"({res['getallprocessinfo_cpu_ms']:.1f} ms server CPU per call), "
            f"{res['getallprocessinfo_raw_per_s']:.1f} calls/s without client parsing; SIGTERM")
        took = d.stop(timeout=args.stop_timeout)
        if took is None:
            res["sigterm_exit_s"] = f"> {args.stop_timeout:.0f} (killed)"
        else:
            res["sigterm_exit_s"] = took
        log(f"[{impl}] exited after {res['sigterm_exit_s']}")
    finally:
        d.stop(timeout=args.stop_timeout)
    # c: idle CPU with M programs
    d = harness.Daemon(impl, workroot / f"{impl}-idle{args.idle_programs}",
                       programs_ini(args.idle_programs), supervisord_extra=extra,
                       loglevel="info")
    try:
        log(f"[{impl}] idle CPU: {args.idle_programs} programs, {args.idle_seconds}s")
        d.start(timeout=60)
        wait_all_running(d, args.idle_programs, args.start_timeout)
        time.sleep(2.0)
        res["idle_cpu_percent"] = idle_cpu_percent(d, args.idle_seconds)
        log(f"[{impl}] idle CPU {res['idle_cpu_percent']:.3f}%")
    finally:
        d.stop(timeout=args.stop_timeout)
    return res


ROWS = [
    ("start_all_running_s", "a) start {N} programs → all RUNNING (s, lower is better)", "{:.2f}"),
    ("rss_mib", "a) daemon RSS with {N} programs (MiB, lower is better)", "{:.1f}"),
    ("getallprocessinfo_per_s",
     "b) getAllProcessInfo, {N} programs, 1 client (calls/s, higher is better)", "{:.1f}"),
    ("getallprocessinfo_cpu_ms",
     "b) same, daemon CPU per call (ms, lower is better)", "{:.2f}"),
    ("getallprocessinfo_raw_per_s",
     "b) same, client reading replies without XML parsing, TCP_QUICKACK (calls/s, higher is better)",
     "{:.1f}"),
    ("idle_cpu_percent", "c) idle CPU, {M} programs, {S}s (% of one core, lower is better)",
     "{:.3f}"),
    ("sigterm_exit_s", "d) SIGTERM → exit, {N} programs (s, lower is better)", "{:.2f}"),
]


def fmt(v, f):
    if isinstance(v, (int, float)):
        return f.format(v)
    return str(v) if v is not None else "n/a"


def table(results: dict, args) -> str:
    ref, ours = results.get("supervisord", {}), results.get("raftvisord", {})
    out = ["| metric | supervisord 4.3 | raftvisord | ratio raftvisord/supervisord |",
           "|---|---:|---:|---:|"]
    for key, label, f in ROWS:
        a, b = ref.get(key), ours.get(key)
        ratio = "n/a"
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a:
            ratio = f"{b / a:.2f}×"
        out.append(f"| {label.format(N=args.programs, M=args.idle_programs, S=args.idle_seconds)}"
                   f" | {fmt(a, f)} | {fmt(b, f)} | {ratio} |")
    for impl in ("supervisord", "raftvisord"):
        err = results.get(impl, {}).get("error")
        if err:
            out.append(f"\n{impl}: {err}")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--impl", choices=["both", "supervisord", "raftvisord"], default="both")
    ap.add_argument("--bin-dir", default=os.environ.get("RAFTVISOR_BIN_DIR",
                                                        str(REPO / "target" / "release")),
                    help="directory holding raftvisord (default: target/release)")
    ap.add_argument("--programs", type=int, default=500)
    ap.add_argument("--idle-programs", type=int, default=100)
    ap.add_argument("--idle-seconds", type=float, default=60.0)
    ap.add_argument("--rpc-seconds", type=float, default=10.0)
    ap.add_argument("--start-timeout", type=float, default=300.0)
    ap.add_argument("--stop-timeout", type=float, default=300.0)
    ap.add_argument("--quick", action="store_true",
                    help="short smoke run: 50 programs, 10 idle, 5 s idle, 3 s RPC loop")
    ap.add_argument("--json", help="also write the raw results to this file")
    ap.add_argument("--workdir", help="keep configs/logs here (default: a temp dir)")
    args = ap.parse_args()
    if args.quick:  # quick only changes the defaults: explicit flags still win
        ap.set_defaults(programs=50, idle_programs=10, idle_seconds=5.0, rpc_seconds=3.0)
        args = ap.parse_args()
    # Absolute: the daemon runs with its own working directory.
    os.environ["RAFTVISOR_BIN_DIR"] = str(Path(args.bin_dir).resolve())

    # SIGTERM/SIGHUP to the bench -> KeyboardInterrupt, so every `finally` cleans up.
    def interrupt(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    impls = ["supervisord", "raftvisord"] if args.impl == "both" else [args.impl]
    results: dict = {}
    tmp = None
    if args.workdir:
        workroot = Path(args.workdir)
        workroot.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="raftvisor-bench-")
        workroot = Path(tmp.name)
    try:
        for impl in impls:
            reason = harness.unavailable_reason(impl)
            if reason:
                log(f"[{impl}] skipped: {reason}")
                results[impl] = {"error": f"not run: {reason}"}
                continue
            try:
                results[impl] = bench_impl(impl, args, workroot, log)
            except (harness.HarnessError, TimeoutError, OSError, xmlrpc.client.Error) as e:
                log(f"[{impl}] failed: {e}")
                results[impl] = {"error": f"failed: {str(e).splitlines()[0]}"}
    finally:
        if tmp is not None:
            tmp.cleanup()
    print(table(results, args))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results},
                                              indent=2))
    return 0 if all("error" not in results.get(i, {}) for i in impls) else 1


if __name__ == "__main__":
    sys.exit(main())
