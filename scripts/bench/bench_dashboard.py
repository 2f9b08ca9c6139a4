#!/usr/bin/env python3
"""Side-by-side statistics and dashboard benchmark: 3 raftvisord instances vs 3 supervisord +
Supvisors 0.19 instances, same machine, same run, loopback only.

Metrics (see README.md in this directory):
  stats    --stats-processes programs RUNNING on s1, statistics on (host and process, a
           sample every 5 s, Supvisors' defaults) then off: the CPU of s1's daemon over
           --stats-seconds, in % of one core, each way. Supvisors 0.19 collects in a process
           of its own (multiprocessing), counted with supervisord; raftvisord's collector is a
           thread of the daemon.
  page     --page-processes programs on s1, the cluster page opened on s2 in headless
           Chromium (Debian's chromium + chromium-driver, Selenium): from the request to the
           page drawn (raftvisord: every process row drawn, from the page's own clock;
           Supvisors: its server-rendered page loaded), median of --page-rounds loads; then
           a process stopped through XML-RPC on s1 -> the change shown on the open page
           (raftvisord: live, by its events; Supvisors: at its next auto-refresh, 5 s)

The clusters come from bench_cluster.py (RaftSide, PeerSide). Runs with the peer's venv
(scripts/bench/peer/setup-peer.sh: Supervisor 4.3.0, Supvisors 0.19.1, psutil, selenium),
which run.sh --dashboard-only uses. Every wait is a poll with a deadline; every process
started is stopped by its PID. Output: a markdown table and --json FILE.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_cluster as bc  # noqa: E402
import harness  # noqa: E402

IDS = bc.IDS


def cpu_ns_tree(pids: list[int]) -> int:
    return sum(sum(bc.threads_cpu_ns(pid).values()) for pid in pids)


def collector_pids(side) -> list[int]:
    """s1's daemon, and for Supvisors its statistics collector: a child process of
    supervisord that is a Python interpreter (the programs are /bin/sleep)."""
    pid = side.pid("s1")
    pids = [pid]
    if side.name == "supvisors":
        for child in Path("/proc").iterdir():
            if not child.name.isdigit():
                continue
            try:
                stat = (child / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                exe = os.readlink(child / "exe")
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pid and "python" in Path(exe).name:
                pids.append(int(child.name))
    return pids


def measure_cpu(side, seconds: float) -> dict:
    pids = collector_pids(side)
    ns0 = cpu_ns_tree(pids)
    t0 = time.monotonic()
    time.sleep(seconds)
    dt = time.monotonic() - t0
    return {"percent": 100.0 * (cpu_ns_tree(pids) - ns0) / 1e9 / dt, "seconds": dt,
            "processes_measured": len(pids)}


def start_running(side, args, group: str, n: int) -> None:
    """Starts the cluster, then the `n` programs of `group` on s1, and waits until they run."""
    t0 = side.start()
    bc.wait_operation(side, t0, args.phase_timeout)
    bc.proxy(side.http_port("s1")).supervisor.startProcessGroup(group, False)
    bc.poll(lambda: bc.count_running(side, "s1", group) >= n, args.phase_timeout,
            what=f"{side.name}: {n} RUNNING")


def run_stats(side, args, enabled: bool) -> dict:
    try:
        start_running(side, args, "st", args.stats_processes)
        time.sleep(args.settle)
        r = measure_cpu(side, args.stats_seconds)
        r["stats"] = enabled
        return r
    finally:
        side.stop()


PAGE_DRAWN = """
const want = arguments[0], done = arguments[arguments.length - 1];
function check() {
  const rows = document.querySelectorAll('#processes tbody tr').length;
  if (rows >= want) done(performance.now()); else requestAnimationFrame(check);
}
check();
"""


def page_load_ms(driver, url: str, rows: int | None) -> float:
    driver.get("about:blank")
    driver.get(url)
    if rows is None:  # server-rendered: drawn when loaded
        return driver.execute_script(
            "const t = performance.getEntriesByType('navigation')[0];"
            "return t.loadEventEnd - t.startTime;")
    return driver.execute_async_script(PAGE_DRAWN, rows)


def change_shown_ms(side, driver, namespec: str) -> float:
    """A stop through XML-RPC on s1 -> the process shown STOPPED on the open page."""
    from selenium.common.exceptions import WebDriverException
    p = bc.proxy(side.http_port("s1"))
    if side.name == "raftvisord":
        probe = ("const row = document.querySelector(`#processes tr[data-namespec=\"%s\"] "
                 "td.state`); return row ? row.textContent : '';" % namespec)
    else:
        probe = ("return [...document.querySelectorAll('td, li, a, span')]"
                 ".some(e => e.textContent.includes('%s')) ? document.body.innerText : '';"
                 % namespec.split(":")[-1])
    t0 = time.monotonic()
    p.supervisor.stopProcess(namespec, False)

    def shown():
        try:
            text = driver.execute_script(probe) or ""
        except WebDriverException:
            return False  # the page is being replaced (Supvisors' refresh)
        if side.name == "raftvisord":
            return text == "STOPPED"
        return namespec.split(":")[-1] not in running_names(driver)
    bc.poll(shown, 60, interval=0.01, what=f"{side.name}: {namespec} STOPPED on the page")
    return 1000 * (time.monotonic() - t0)


def running_names(driver) -> str:
    """Supvisors' main page lists, in each instance box, the processes running there."""
    return driver.execute_script(
        "return [...document.querySelectorAll('.instance_box, .box, table')]"
        ".map(e => e.innerText).join('\\n');") or ""


def run_page(side, args) -> dict:
    driver = None
    try:
        start_running(side, args, "pg", args.page_processes)
        driver = harness.headless_chromium(timeout=120)
        port = side.http_port("s2")
        if side.name == "raftvisord":
            url, rows = f"http://127.0.0.1:{port}/", args.page_processes
        else:
            url, rows = f"http://127.0.0.1:{port}/index.html?auto=true", None
        loads = [page_load_ms(driver, url, rows) for _ in range(args.page_rounds)]
        changes = []
        for k in range(args.change_rounds):
            namespec = f"pg:pg{k:04d}"
            changes.append(change_shown_ms(side, driver, namespec))
        return {"load_ms": loads, "load_median_ms": statistics.median(loads),
                "change_ms": changes, "change_median_ms": statistics.median(changes)}
    finally:
        if driver is not None:
            driver.quit()
        side.stop()


def raft_side(work: Path, name: str, programs: dict[str, str], enabled: bool = True):
    options = {"stats_enabled": "true" if enabled else "false"}
    return bc.RaftSide(work / name, programs, overrides={i: options for i in IDS})


def peer_side(work: Path, name: str, programs: dict[str, str], args, enabled: bool = True):
    extra = "stats_enabled = ALL\nstats_collecting_period = 5" if enabled else \
        "stats_enabled = OFF"
    return bc.PeerSide(work / name, programs, Path(args.peer_venv), Path(args.peer_dir),
                       supvisors_extra={i: extra for i in IDS})


def fmt(v, digits=2) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def table(results: dict, args) -> str:
    def get(metric, side, key):
        v = results.get(metric, {}).get(side)
        return v.get(key) if isinstance(v, dict) else None
    rows = [
        (f"s1's daemon CPU, {args.stats_processes} processes, statistics on (% of a core)",
         "stats_on", "percent", 3),
        (f"s1's daemon CPU, {args.stats_processes} processes, statistics off (% of a core)",
         "stats_off", "percent", 3),
        (f"cluster page with {args.page_processes} processes: request -> drawn, median (ms)",
         "page", "load_median_ms", 0),
        ("a process stopped -> shown on the open page, median (ms)", "page",
         "change_median_ms", 0),
    ]
    out = ["| metric | raftvisord | Supvisors 0.19 | ratio |", "|---|---|---|---|"]
    for label, metric, key, digits in rows:
        a, b = get(metric, "raftvisord", key), get(metric, "supvisors", key)
        out.append(f"| {label} | {fmt(a, digits)} | {fmt(b, digits)} | {bc.ratio(a, b)} |")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    bc.common_args(ap)
    ap.add_argument("--stats-processes", type=int, default=100)
    ap.add_argument("--stats-seconds", type=float, default=60.0)
    ap.add_argument("--settle", type=float, default=10.0,
                    help="seconds with the processes RUNNING before the CPU window opens")
    ap.add_argument("--page-processes", type=int, default=1000)
    ap.add_argument("--page-rounds", type=int, default=5)
    ap.add_argument("--change-rounds", type=int, default=5)
    ap.add_argument("--only", choices=["stats", "page"])
    ap.add_argument("--phase-timeout", type=float, default=300.0)
    ap.add_argument("--json", help="write raw results to this file")
    ap.add_argument("--workdir", help="keep configs and logs here instead of a temp dir")
    args = ap.parse_args()
    results, work = bc.start_run(args, "bench-dashboard.")
    stats_programs = {"s1": bc.sleep_programs("st", args.stats_processes, group="st")}
    page_programs = {"s1": bc.sleep_programs("pg", args.page_processes, group="pg")}

    def record(metric: str, side: str, run) -> None:
        try:
            r = run()
        except Exception as e:  # the next phases still run
            r = {"error": repr(e)}
        results.setdefault(metric, {})[side] = r
        bc.log(side, metric, r)

    status = 0
    try:
        reason = harness.unavailable_reason("raftvisord")
        if reason:
            bc.log("raftvisord not run:", reason)
            results["raftvisord_error"] = reason
            status = 1
        sides = [] if reason else ["raftvisord"]
        if not args.no_peer:
            bc.ensure_peer_venv(Path(args.peer_venv))
            sides.append("supvisors")
        for side in sides:
            if args.only in (None, "stats"):
                for metric, on in (("stats_on", True), ("stats_off", False)):
                    if side == "raftvisord":
                        make = raft_side(work, f"raft-{metric}", stats_programs, on)
                    else:
                        make = peer_side(work, f"peer-{metric}", stats_programs, args, on)
                    record(metric, side, lambda make=make, on=on: run_stats(make, args, on))
            if args.only in (None, "page"):
                if side == "raftvisord":
                    make = raft_side(work, "raft-page", page_programs)
                else:
                    make = peer_side(work, "peer-page", page_programs, args)
                record("page", side, lambda make=make: run_page(make, args))
    except KeyboardInterrupt:
        bc.log("interrupted: everything started was stopped")
        status = 130
    print(table(results, args))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return status


if __name__ == "__main__":
    sys.exit(main())
