#!/usr/bin/env python3
"""raftvisord at scale: 25 namespaced hosts (5 Raft voters, 20 learners), 40 programs each.

One cluster is started at once (every daemon spawned in a burst), then five learners lose their
link together (packets vanish, no RST). Measured, polling every 100 ms:

* `launch`: from the first spawn until every host answers OPERATION and sees all 25 instances
  RUNNING, and until each host's 40 programs are RUNNING in one host's view (1,000 processes);
* `loss`: from the cut until each of the 20 others sees the five out of RUNNING; then the
  links come back and the time until every host sees all 25 RUNNING again.

  chaos/scale.sh                         # release build, one run (~2 min)
  chaos/scale.sh --hosts 10 --programs 10 --bin-dir target/debug

Writes chaos/scale.md and chaos/scale.json (`--out DIR` elsewhere). Needs root. Exits 1 when a
phase did not finish within its bound (120 s); the figures are reported, not judged.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Optional

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import harness  # noqa: E402
from harness import HarnessError  # noqa: E402
from netns_harness import Host, Lab  # noqa: E402

SECRET = "scale-cluster-secret"
BOUND = 120.0
POLL = 0.1


def log(*a) -> None:
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def programs(count: int, mark: int) -> str:
    out = []
    for i in range(count):
        out += [f"[program:p{i:02d}]", f"command = /bin/sleep {mark + i}", "autostart = true",
                "startsecs = 1", "stopwaitsecs = 5", ""]
    return "\n".join(out)


def state_of(h: Host) -> Optional[str]:
    s = h.try_call("supvisors.get_supvisors_state")
    return s.get("fsm_statename") if isinstance(s, dict) else None


def instances_seen_by(h: Host) -> dict[str, str]:
    infos = h.try_call("supvisors.get_all_instances_info") or []
    return {i["identifier"]: i["statename"] for i in infos}


def until_each(hosts: list[Host], check: Callable[[Host], bool], t0: float,
               pool: ThreadPoolExecutor) -> dict[str, Optional[float]]:
    """Seconds from `t0` until `check(host)` first holds, per host, polled every 100 ms (the
    hosts in parallel); None for a host still false after the bound."""
    found: dict[str, float] = {}
    while len(found) < len(hosts) and time.monotonic() - t0 < BOUND:
        pending = [h for h in hosts if h.identifier not in found]
        for h, ok in zip(pending, pool.map(check, pending)):
            if ok:
                found[h.identifier] = time.monotonic() - t0
        time.sleep(POLL)
    return {h.identifier: found.get(h.identifier) for h in hosts}


def worst(times: dict[str, Optional[float]]) -> Optional[float]:
    values = list(times.values())
    return None if not values or any(v is None for v in values) else max(values)


def median(times: dict[str, Optional[float]]) -> Optional[float]:
    values = sorted(v for v in times.values() if v is not None)
    return values[len(values) // 2] if values else None


def fmt(x: Optional[float]) -> str:
    return f">{BOUND:g}" if x is None else f"{x:.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin-dir", default=os.environ.get("RAFTVISOR_BIN_DIR",
                                                        str(REPO / "target" / "release")))
    ap.add_argument("--hosts", type=int, default=25)
    ap.add_argument("--voters", type=int, default=5)
    ap.add_argument("--programs", type=int, default=40)
    ap.add_argument("--lose", type=int, default=5, help="learners whose link goes down")
    ap.add_argument("--out", default=str(REPO / "chaos"))
    ap.add_argument("--workdir", help="keep configs and logs here instead of a temp dir")
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="a [rpcinterface:supvisors] option for every host (repeatable)")
    args = ap.parse_args()
    os.environ["RAFTVISOR_BIN_DIR"] = str(Path(args.bin_dir).resolve())
    if harness.raftvisor_bin("raftvisord") is None:
        raise SystemExit(harness.unavailable_reason("raftvisord") or "no raftvisord")
    if not 0 < args.voters <= args.hosts or args.lose > args.hosts - args.voters:
        raise SystemExit("need 0 < voters <= hosts and lose <= hosts - voters")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="raftvisor-scale."))
    work.mkdir(parents=True, exist_ok=True)
    names = [f"n{i:02d}" for i in range(1, args.hosts + 1)]
    voters, learners = names[:args.voters], names[args.voters:]
    lost = learners[-args.lose:] if args.lose else []
    result: dict = {"hosts": args.hosts, "voters": args.voters, "programs": args.programs,
                    "lost": lost, "options": args.option,
                    "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                    "binary": str(harness.raftvisor_bin("raftvisord"))}
    failures: list[str] = []
    with Lab(work, names) as lab, ThreadPoolExecutor(max_workers=16) as pool:
        for i, h in enumerate(lab.hosts):
            h.write_config(programs(args.programs, 900_000_000 + 1000 * i),
                           {"cluster_secret": SECRET, "core_identifiers": ",".join(voters),
                            **dict(o.split("=", 1) for o in args.option)})
        log(f"launch: {args.hosts} hosts ({args.voters} voters), {args.programs} programs each")
        t0 = time.monotonic()
        for h in lab.hosts:
            h.start()
        result["spawned_s"] = time.monotonic() - t0

        def record(key: str, times: dict[str, Optional[float]], label: str,
                   failure: str) -> None:
            """A phase's times (one per host) into the result and the log, and its failure
            when a host never got there."""
            result[key] = {"median": median(times), "worst": worst(times)}
            log(f"  {label}: median {fmt(median(times))}, worst {fmt(worst(times))} s")
            if worst(times) is None:
                failures.append(failure)

        def operational(h: Host) -> bool:
            if h.proc is None or h.proc.poll() is not None:
                raise HarnessError(f"{h.identifier} exited: {h.log_text()[-2000:]}")
            if state_of(h) != "OPERATION":
                return False
            seen = instances_seen_by(h)
            return len(seen) == len(names) and all(s == "RUNNING" for s in seen.values())
        record("launch_operation_s", until_each(lab.hosts, operational, t0, pool),
               f"OPERATION, all {args.hosts} RUNNING everywhere",
               "launch: not every host in OPERATION with all instances RUNNING")
        observer = lab.hosts[0]
        total = args.hosts * args.programs

        def all_running(_h: Host) -> bool:
            procs = observer.try_call("supvisors.get_all_process_info", timeout=20) or []
            # One entry per program, with the instances it runs on (the same names on
            # every host).
            running = sum(len(p.get("identifiers", [])) for p in procs
                          if p.get("statename") == "RUNNING")
            return running >= total
        record("launch_programs_running_s", until_each([observer], all_running, t0, pool),
               f"{total} programs RUNNING in {observer.identifier}'s view",
               f"launch: not all {total} programs RUNNING")
        if lost and not failures:
            time.sleep(2.0)
            others = [h for h in lab.hosts if h.identifier not in lost]
            log(f"loss: links of {', '.join(lost)} down")
            t1 = time.monotonic()
            for ident in lost:
                lab.cut(lab[ident])
            try:
                def sees_loss(h: Host) -> bool:
                    seen = instances_seen_by(h)
                    return bool(seen) and all(seen.get(x, "RUNNING") != "RUNNING"
                                              for x in lost)
                loss = until_each(others, sees_loss, t1, pool)
            finally:
                for ident in lost:
                    lab.heal(lab[ident])
            record("loss_seen_s", loss, f"seen by the {len(others)} others",
                   "loss: not seen everywhere")
            record("back_after_heal_s", until_each(lab.hosts, operational, time.monotonic(),
                                                   pool),
                   f"all {args.hosts} RUNNING everywhere again after the heal",
                   "heal: not every instance RUNNING again everywhere")
        panics = [h.identifier for h in lab.hosts if "panicked" in h.log_text()]
        if panics:
            failures.append(f"a daemon panicked: {panics}")
    result["failures"] = failures
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scale.json").write_text(json.dumps(result, indent=1))
    md = [f"# raftvisord at scale: {args.hosts} hosts ({args.voters} voters), "
          f"{args.programs} programs each", "",
          f"Run {result['started']}, {os.cpu_count()} cores, `{result['binary']}`. Seconds.", "",
          "| phase | median | worst |", "|---|---:|---:|"]
    rows = [("launch_operation_s", "launch → OPERATION, all instances RUNNING, per host"),
            ("launch_programs_running_s", f"launch → all {total} programs RUNNING (one view)"),
            ("loss_seen_s", f"{len(lost)} learners' links down → seen by every other host"),
            ("back_after_heal_s", "heal → all RUNNING everywhere again")]
    for key, label in rows:
        if key in result:
            # One observer: a single time, no median.
            median_cell = "" if key == "launch_programs_running_s" \
                else fmt(result[key]["median"])
            md.append(f"| {label} | {median_cell} | {fmt(result[key]['worst'])} |")
    if failures:
        md += ["", "Failures:", ""] + [f"- {f}" for f in failures]
    (out / "scale.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
