#!/usr/bin/env python3
"""Idle resident memory of raftvisord, and where it sits (issue 8: "idle RSS per daemon <= 8 MB").

Two setups, each measured after it has settled:

  demo     the example 3-instance cluster of configs/cluster/ (what scripts/demo.sh runs), copied
           into a temp dir with free ports instead of 61101-61103 / 61201-61203 and its own
           run dir; measured once every instance is in OPERATION and the deployment of the
           rules' applications is over (--settle seconds later)
  single   one daemon with N `sleep` programs (startsecs=0, as bench_supervisor.py row a),
           measured --settle seconds after all RUNNING

For each daemon: VmRSS / RssAnon / RssFile / Threads (/proc/PID/status), sampled once a second
for --seconds (the table shows the last sample and the max), and the breakdown of the last
sample by mapping, from /proc/PID/smaps: the binary's code and its other pages, the shared
libraries, glibc's main heap (brk) and its other malloc arenas (64 MiB-aligned anonymous
reservations), the thread stacks (the mapping holding each thread's stack pointer, read from
/proc/PID/task/TID/syscall) and any other anonymous memory.

  .venv/bin/python scripts/bench/idle_rss.py                        # both setups, release build
  .venv/bin/python scripts/bench/idle_rss.py --setups demo --json rss.json
  .venv/bin/python scripts/bench/idle_rss.py --max-rss-mib 8         # exit 1 above 8 MiB

Every wait is a poll with a deadline; every daemon started is stopped by PID at the end (the
tests' harness: PID-only, children found by an environment tag), also on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

import harness  # noqa: E402

IDS = ["s1", "s2", "s3"]
HOT_FUNCTIONS = REPO / "crates" / "raftvisord" / "hot-functions.txt"
# The demo's applications with a start_sequence (configs/cluster/rules.xml): started at once.
DEPLOYED_APPS = ("shop", "crunch")
# glibc's non-main malloc arenas are reservations of HEAP_MAX_SIZE (64 MiB on 64-bit) aligned
# on their size, committed (rw-p) from the start and PROT_NONE (---p) for the rest.
ARENA_ALIGN = 64 << 20
CATEGORIES = ["binary code", "binary other", "shared libraries", "other files", "main heap",
              "malloc arenas", "thread stacks", "other anonymous"]


def log(*a) -> None:
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


# ----------------------------------------------------------------- /proc parsing (pure)

@dataclass
class Mapping:
    start: int
    end: int
    perms: str
    path: str
    fields: dict[str, int] = field(default_factory=dict)  # kB values: Rss, Pss, Anonymous...

    @property
    def rss_kb(self) -> int:
        return self.fields.get("Rss", 0)


_HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$")
_FIELD = re.compile(r"^(\w+):\s+(\d+) kB$")


def parse_smaps(text: str) -> list[Mapping]:
    """The mappings of /proc/PID/smaps, in address order, with their kB fields."""
    out: list[Mapping] = []
    for line in text.splitlines():
        m = _HEADER.match(line)
        if m:
            out.append(Mapping(int(m.group(1), 16), int(m.group(2), 16), m.group(3),
                               m.group(4).strip()))
            continue
        f = _FIELD.match(line)
        if f and out:
            out[-1].fields[f.group(1)] = int(f.group(2))
    return out


def parse_syscall_sp(text: str) -> int | None:
    """The stack pointer in /proc/PID/task/TID/syscall ("nr a1..a6 sp pc"); None when the
    thread is running or the kernel hides it."""
    parts = text.split()
    if len(parts) < 3 or parts[0] == "running":
        return None
    try:
        return int(parts[-2], 16) or None
    except ValueError:
        return None


def classify(maps: list[Mapping], exe: str,
             stack_sps: dict[str, int]) -> tuple[dict, list, list]:
    """kB of Rss per category (CATEGORIES), the thread stacks as (thread name, kB), and the
    ten largest mappings as (category, "start-end perms path", size kB, Rss kB).

    `stack_sps`: thread name (unique, e.g. "name/tid") -> its stack pointer. A mapping holding
    one is a thread stack; without any (kernel hides them), an anonymous rw-p mapping right
    after a PROT_NONE guard page is taken for one."""
    totals = dict.fromkeys(CATEGORIES, 0)
    stacks: list[tuple[str, int]] = []
    largest: list[tuple[str, str, int, int]] = []
    for i, m in enumerate(maps):
        owners = [name for name, sp in stack_sps.items() if m.start <= sp < m.end]
        prev = maps[i - 1] if i > 0 else None
        nxt = maps[i + 1] if i + 1 < len(maps) else None
        anon = m.path == "" or m.path.startswith("[anon")
        if m.path == exe:
            cat = "binary code" if "x" in m.perms else "binary other"
        elif m.path == "[heap]":
            cat = "main heap"
        elif m.path == "[stack]" or owners:
            cat = "thread stacks"
            stacks.append((",".join(owners) or "main", m.rss_kb))
        elif m.path.startswith("/"):
            cat = "shared libraries" if ".so" in Path(m.path).name else "other files"
        elif not anon:
            cat = "other anonymous"  # [vdso], [vvar], ...
        elif m.perms.startswith("rw") and m.start % ARENA_ALIGN == 0 and (
                (nxt is not None and nxt.start == m.end and nxt.perms.startswith("---"))
                or m.end - m.start == ARENA_ALIGN):
            cat = "malloc arenas"
        elif (not stack_sps and m.perms.startswith("rw") and prev is not None
              and prev.end == m.start and prev.perms.startswith("---")
              and prev.path == ""):
            cat = "thread stacks"
            stacks.append(("?", m.rss_kb))
        elif (prev is not None and prev.path == exe and prev.end == m.start):
            cat = "binary other"  # the binary's .bss
        else:
            cat = "other anonymous"
        totals[cat] += m.rss_kb
        largest.append((cat, f"{m.start:x}-{m.end:x} {m.perms} {m.path}".strip(),
                        (m.end - m.start) // 1024, m.rss_kb))
    largest.sort(key=lambda t: -t[3])
    return totals, stacks, largest[:10]


def parse_status(text: str) -> dict[str, int]:
    """VmRSS, RssAnon, RssFile, RssShmem (kB) and Threads from /proc/PID/status."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM", "Threads"):
            out[key] = int(value.split()[0])
    return out


# ----------------------------------------------------------------- /proc reading

def threads(pid: int) -> dict[str, int | None]:
    """"comm/tid" -> stack pointer (None when unreadable) for every thread of `pid`."""
    out: dict[str, int | None] = {}
    for tid in sorted(os.listdir(f"/proc/{pid}/task"), key=int):
        base = f"/proc/{pid}/task/{tid}"
        try:
            name = Path(f"{base}/comm").read_text().strip()
        except OSError:
            continue
        try:
            sp = parse_syscall_sp(Path(f"{base}/syscall").read_text())
        except OSError:
            sp = None
        out[f"{name}/{tid}"] = sp
    return out


def snapshot(pid: int) -> dict:
    """Everything this script reports for one daemon, at one instant."""
    status = parse_status(Path(f"/proc/{pid}/status").read_text())
    rollup = {m.group(1): int(m.group(2)) for m in
              (_FIELD.match(line) for line in
               Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()) if m}
    status["Pss"] = rollup.get("Pss")
    exe = os.readlink(f"/proc/{pid}/exe")
    thr = threads(pid)
    sps = {name: sp for name, sp in thr.items() if sp is not None}
    maps = parse_smaps(Path(f"/proc/{pid}/smaps").read_text())
    totals, stacks, largest = classify(maps, exe, sps)
    return {"status": status, "breakdown_kb": totals, "stacks_kb": stacks,
            "largest_mappings": largest, "threads": sorted(thr), "exe": exe}


def sample(pids: dict[str, int], seconds: float) -> dict[str, dict]:
    """`snapshot` of each daemon once a second for `seconds`: the last one, plus the max
    VmRSS seen."""
    end = time.monotonic() + seconds
    last: dict[str, dict] = {}
    peak: dict[str, int] = {}
    while True:
        for name, pid in pids.items():
            snap = snapshot(pid)
            last[name] = snap
            peak[name] = max(peak.get(name, 0), snap["status"]["VmRSS"])
        if time.monotonic() >= end:
            break
        time.sleep(1.0)
    for name in last:
        last[name]["max_vmrss_kb"] = peak[name]
    return last


def hot_functions() -> list[str]:
    """The symbols listed in crates/raftvisord/hot-functions.txt (none if there is no list),
    read as lld reads them: one per line, '#' lines left out."""
    if not HOT_FUNCTIONS.is_file():
        return []
    return [line.strip() for line in HOT_FUNCTIONS.read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def layout_note(binary: Path) -> str:
    """How many of the functions of crates/raftvisord/hot-functions.txt the binary has: the
    release build lays them out together (crates/raftvisord/build.rs), and a list gone stale
    (names the binary no longer has) shows as a higher code Rss."""
    listed = hot_functions()
    try:
        out = subprocess.run(["nm", "--defined-only", str(binary)], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        return f"hot functions: not checked ({e})"
    names = {parts[2] for parts in (line.split() for line in out.splitlines()) if len(parts) == 3}
    return (f"hot functions: {sum(1 for n in listed if n in names)} of {len(listed)} listed in "
            f"{HOT_FUNCTIONS.relative_to(REPO)} are in the binary")


# ----------------------------------------------------------------- the setups

def demo_cluster(work: Path, bin_dir: Path, settle: float, seconds: float,
                 timeout: float,
                 measure: Callable[[dict[str, int], float], dict] = sample) -> dict:
    """configs/cluster/ in `work` (free ports, own run dir), idle once deployed: `settle`
    seconds after the deployment, `measure(pids by identifier, seconds)` (by default
    `sample`; `scripts/layout/hot_functions.py` records a profile instead)."""
    conf_dir = work / "configs" / "cluster"
    shutil.copytree(REPO / "configs" / "cluster", conf_dir)
    ports = harness.free_ports(6)
    http = dict(zip(IDS, ports[:3]))
    for k, ident in enumerate(IDS):
        (work / "run" / "cluster" / ident).mkdir(parents=True, exist_ok=True)
    for ident in IDS:
        conf = conf_dir / f"{ident}.conf"
        text = conf.read_text()
        for k, other in enumerate(IDS):
            text = text.replace(str(61101 + k), str(http[other]))
            text = text.replace(str(61201 + k), str(ports[3 + k]))
        conf.write_text(text)
    procs: dict[str, subprocess.Popen] = {}
    recorded: dict[int, int | None] = {}
    try:
        for ident in IDS:
            out = open(work / "run" / "cluster" / ident / "stdout.log", "ab")
            try:
                procs[ident] = subprocess.Popen(
                    [str(bin_dir / "raftvisord"), "-c", str(conf_dir / f"{ident}.conf")],
                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True)
            finally:
                out.close()

        def proxy(ident: str) -> xmlrpc.client.ServerProxy:
            return xmlrpc.client.ServerProxy(f"http://127.0.0.1:{http[ident]}/RPC2",
                                             transport=harness._TimeoutTransport(5))

        def operational() -> bool:
            for ident, p in procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"{ident} exited with {p.returncode} (see "
                                       f"{work}/run/cluster/{ident}/stdout.log)")
            try:
                return all(proxy(i).supvisors.get_supvisors_state()["fsm_statename"]
                           == "OPERATION" for i in IDS)
            except (OSError, xmlrpc.client.Error):
                return False
        harness.wait_until(operational, timeout, interval=0.1, what="demo cluster in OPERATION")

        def deployed() -> bool:
            # The rules' start sequences are over: the applications with a start_sequence
            # (shop, crunch) RUNNING, none STARTING any more.
            apps = {a["application_name"]: a["statename"]
                    for a in proxy("s1").supvisors.get_all_applications_info()}
            return (all(apps.get(a) == "RUNNING" for a in DEPLOYED_APPS)
                    and "STARTING" not in apps.values())
        harness.wait_until(deployed, timeout, interval=0.2, what="demo deployment over")
        for ident, p in procs.items():
            for child in harness.descendants(p.pid):
                recorded[child] = harness.proc_start_time(child)
        log(f"demo cluster deployed; settling {settle:g} s, then sampling {seconds:g} s")
        time.sleep(settle)
        return measure({i: p.pid for i, p in procs.items()}, seconds)
    finally:
        for p in procs.values():
            if p.poll() is None:
                for child in harness.descendants(p.pid):
                    recorded.setdefault(child, harness.proc_start_time(child))
                p.send_signal(signal.SIGTERM)
        for ident, p in procs.items():
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        harness.kill_recorded(recorded)


def single_daemon(work: Path, n: int, settle: float, seconds: float,
                  timeout: float,
                  measure: Callable[[dict[str, int], float], dict] = sample) -> dict:
    """One daemon with `n` sleep programs (bench_supervisor.py's row a config), idle:
    `measure({"d": pid}, seconds)` `settle` seconds after all RUNNING."""
    programs = "\n".join(f"[program:p{i:04d}]\ncommand = /bin/sleep 100000\nstartsecs = 0\n"
                         for i in range(n))
    import resource
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    fds = 8192 if hard == resource.RLIM_INFINITY else min(8192, hard)
    d = harness.Daemon("raftvisord", work / f"single-{n}", programs,
                       supervisord_extra=f"minfds = {fds}\nminprocs = 2000", loglevel="info")
    try:
        d.start(timeout=60)

        def all_running() -> bool:
            infos = d.proxy(timeout=30).supervisor.getAllProcessInfo()
            return sum(1 for i in infos if i.get("statename") == "RUNNING") >= n
        harness.wait_until(all_running, timeout, interval=0.1, what=f"{n} programs RUNNING")
        log(f"{n} programs RUNNING; settling {settle:g} s, then sampling {seconds:g} s")
        time.sleep(settle)
        return {f"single-{n}": s for s in measure({"d": d.pid}, seconds).values()}
    finally:
        d.stop(timeout=120)


# ----------------------------------------------------------------- report

def series(pids: dict[str, int], minutes: list[float]) -> dict:
    """Each daemon's VmRSS, RssAnon and RssFile (kB) at each of `minutes` from now, with the
    breakdown by mapping (`breakdown_kb`, kept in the JSON) to see which part grows."""
    start = time.monotonic()
    rows = {}
    for m in minutes:
        time.sleep(max(0.0, start + m * 60 - time.monotonic()))
        snaps = {ident: snapshot(pid) for ident, pid in pids.items()}
        rows[f"{m:g}"] = {ident: dict(snap["status"], breakdown_kb=snap["breakdown_kb"])
                          for ident, snap in snaps.items()}
        log(f"{m:g} min: " + ", ".join(f"{i} {r['VmRSS'] / 1024:.2f}"
                                       for i, r in rows[f"{m:g}"].items()))
    return rows


def series_table(rows: dict) -> str:
    lines = ["| minutes idle | " + " | ".join(f"{i} VmRSS (MiB)" for i in IDS)
             + " | anonymous, max (MiB) |",
             "|---:|" + "---:|" * (len(IDS) + 1)]
    for m, by_id in rows.items():
        anon = max(by_id[i].get("RssAnon", 0) for i in IDS) / 1024
        lines.append(f"| {m} | " + " | ".join(f"{by_id[i]['VmRSS'] / 1024:.2f}" for i in IDS)
                     + f" | {anon:.2f} |")
    first, last = next(iter(rows)), list(rows)[-1]
    if first != last:
        lines += ["", f"| where it grew, minute {first} → {last} (MiB) | "
                  + " | ".join(IDS) + " |", "|---|" + "---:|" * len(IDS)]
        for cat in CATEGORIES:
            lines.append(f"| {cat} | " + " | ".join(
                f"{rows[first][i]['breakdown_kb'][cat] / 1024:.2f} → "
                f"{rows[last][i]['breakdown_kb'][cat] / 1024:.2f}" for i in IDS) + " |")
    return "\n".join(lines)


def mib(kb: int | None) -> str:
    return "n/a" if kb is None else f"{kb / 1024:.2f}"


def table(results: dict[str, dict]) -> str:
    names = list(results)
    rows = [("VmRSS (MiB)", lambda r: mib(r["status"].get("VmRSS"))),
            ("max VmRSS while sampled (MiB)", lambda r: mib(r.get("max_vmrss_kb"))),
            ("Pss (MiB)", lambda r: mib(r["status"].get("Pss"))),
            ("RssAnon (MiB)", lambda r: mib(r["status"].get("RssAnon"))),
            ("RssFile (MiB)", lambda r: mib(r["status"].get("RssFile"))),
            ("threads", lambda r: str(r["status"].get("Threads")))]
    rows += [(f"- {c} (MiB)", lambda r, c=c: mib(r["breakdown_kb"][c])) for c in CATEGORIES]
    out = ["| | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for label, get in rows:
        out.append(f"| {label} | " + " | ".join(get(results[n]) for n in names) + " |")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin-dir", default=os.environ.get("RAFTVISOR_BIN_DIR",
                                                        str(REPO / "target" / "release")))
    ap.add_argument("--setups", default="demo,single",
                    help="comma-separated: demo (3-instance cluster), single (one daemon)")
    ap.add_argument("--programs", type=int, default=500, help="programs of the single setup")
    ap.add_argument("--settle", type=float, default=60.0,
                    help="seconds idle before the sampling starts: the daemon gives back its "
                         "start-up pages 5 s after it serves, and what it runs every few "
                         "seconds (tick refresh commits, the store's writes) maps its code "
                         "back over the next tens of seconds; a minute is the steady state")
    ap.add_argument("--seconds", type=float, default=10.0, help="sampling window")
    ap.add_argument("--timeout", type=float, default=120.0, help="bound of every wait")
    ap.add_argument("--max-rss-mib", type=float,
                    help="exit 1 if any daemon's last VmRSS of the demo setup is above this")
    ap.add_argument("--verbose", "-v", action="store_true",
                    help="also list each daemon's ten largest mappings by Rss")
    ap.add_argument("--series", metavar="MINUTES",
                    help="demo setup only: instead of one sample, each daemon's VmRSS at each "
                         "of these minutes after the deployment (e.g. 1,5,15,25,40), to see "
                         "how the resident set grows as the daemons idle")
    ap.add_argument("--json", help="write the raw results here")
    ap.add_argument("--workdir", help="keep configs and logs here instead of a temp dir")
    args = ap.parse_args()

    bin_dir = Path(args.bin_dir).resolve()
    os.environ["RAFTVISOR_BIN_DIR"] = str(bin_dir)
    if not (bin_dir / "raftvisord").is_file():
        log(f"no raftvisord in {bin_dir}: cargo build --release -p raftvisord -p raftvisorctl")
        return 2
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="idle-rss."))
    work.mkdir(parents=True, exist_ok=True)

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    results: dict[str, dict] = {}
    setups = [s.strip() for s in args.setups.split(",") if s.strip()]
    if args.series:
        try:
            minutes = sorted(float(m) for m in args.series.split(","))
        except ValueError:
            log(f"--series: {args.series!r} is not a comma-separated list of minutes")
            return 2
        try:
            rows = demo_cluster(work / "demo", bin_dir, 0, 0, args.timeout,
                                measure=lambda pids, _: series(pids, minutes))
        except KeyboardInterrupt:
            log("interrupted: everything started was stopped")
            return 130
        print(layout_note(bin_dir / "raftvisord"))
        print(series_table(rows))
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1))
        return 0
    try:
        if "demo" in setups:
            results.update(demo_cluster(work / "demo", bin_dir, args.settle, args.seconds,
                                        args.timeout))
        if "single" in setups:
            results.update(single_daemon(work, args.programs, args.settle, args.seconds,
                                         args.timeout))
    except KeyboardInterrupt:
        log("interrupted: everything started was stopped")
        return 130
    print(f"binary: {bin_dir / 'raftvisord'} ({(bin_dir / 'raftvisord').stat().st_size} bytes)")
    print(layout_note(bin_dir / "raftvisord"))
    print(table(results))
    for name, r in results.items():
        stacks = ", ".join(f"{t} {kb} kB" for t, kb in sorted(r["stacks_kb"]))
        print(f"{name}: {r['status'].get('Threads')} threads: {' '.join(r['threads'])}; "
              f"stacks: {stacks}")
        if args.verbose:
            for cat, what, size, rss in r["largest_mappings"]:
                print(f"    {rss:>7} kB of {size:>8} kB  {cat:<17} {what}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    if args.max_rss_mib is not None:
        over = {n: r["status"]["VmRSS"] / 1024 for n, r in results.items()
                if n in IDS and r["status"]["VmRSS"] / 1024 > args.max_rss_mib}
        if over:
            log(f"above {args.max_rss_mib} MiB: {over}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
