#!/usr/bin/env python3
"""Host loss without a closed socket, raftvisord and the Python peer side by side, in one run.

The peer is supervisord 4.3 + Supvisors 0.19.1 from PyPI (`scripts/bench/peer/setup-peer.sh`,
the benchmarks' peer). Both run on the same three hosts in network namespaces
(`tests/netns_harness.py`), each configured as its users would (default timings; the same
programs and rules file: a SINGLE_INSTANCE sequence `seq` of three programs,
RESTART_PROCESS, started at deployment). Each round starts a fresh cluster, waits for it to
deploy `seq`, then takes one host's link down (packets vanish, no RST) and measures, from the
moment of the cut, polling every 50 ms:

* `silent`: every other host sees the lost instance out of RUNNING (SILENT, ISOLATED…);
* `new_master`: the others agree on a master that is not the lost instance (only when it was
  the master);
* `seq_elsewhere`: every program of `seq` runs on a host that kept its link (only when the
  lost host ran `seq`), from /proc, attributed to hosts by network namespace.

Two scenarios: the master's link down, and the link of the host running `seq` (which may be
the master too). Each bound is 60 s; a bound reached is reported as such.

  chaos/compare.sh                       # 3 rounds per scenario and implementation
  chaos/compare.sh --rounds 5 --impl raftvisord

Writes chaos/compare.md and chaos/compare.json (`--out DIR` elsewhere). Needs root.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import harness  # noqa: E402
from harness import HarnessError  # noqa: E402
from netns_harness import Host, Lab, seq_programs, seq_rules  # noqa: E402

HOSTS = ["h1", "h2", "h3"]
SEQ = ["first", "second", "third"]
SECRET = "compare-cluster-secret"
BOUND = 60.0
POLL = 0.05


def log(*a) -> None:
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


class Impl:
    """How to configure and start one implementation on a lab's host."""

    name = ""

    def configure(self, lab: Lab, h: Host, rules: Path, progs: str) -> None:
        raise NotImplementedError

    def start(self, h: Host) -> None:
        raise NotImplementedError

    def cleanup(self, h: Host) -> None:
        """Undoes what `configure` did outside the host's work dir."""


class Raftvisord(Impl):
    name = "raftvisord"

    def configure(self, lab: Lab, h: Host, rules: Path, progs: str) -> None:
        h.write_config(progs, {"rules_files": rules, "cluster_secret": SECRET})

    def start(self, h: Host) -> None:
        h.start()


class Supvisors(Impl):
    """supervisord 4.3 with the Supvisors 0.19 plugin, its defaults (a 5 s tick, 2 missed
    ticks before an instance is lost, Corosync-free). No shim: on a namespaced host the
    instance finds its own address on a real interface, as on a real host."""

    name = "supvisors-0.19"

    def __init__(self, venv: Path):
        self.venv = venv

    def configure(self, lab: Lab, h: Host, rules: Path, progs: str) -> None:
        # Supvisors resolves every address of supvisors_list (gethostbyaddr): on real hosts
        # /etc/hosts or the DNS names them. `ip netns exec` mounts /etc/netns/<ns>/hosts over
        # /etc/hosts for the daemon alone (`cleanup` removes it).
        etc = Path("/etc/netns") / h.ns
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "hosts").write_text("127.0.0.1 localhost\n" + "".join(
            f"{o.address} {o.identifier}\n" for o in lab.hosts))
        h.write_config(progs, {"rules_files": rules}, peer=True)

    def cleanup(self, h: Host) -> None:
        etc = Path("/etc/netns") / h.ns
        (etc / "hosts").unlink(missing_ok=True)
        try:
            etc.rmdir()
        except OSError:
            pass

    def start(self, h: Host) -> None:
        h.start(self.venv / "bin" / "supervisord")


def name_of(info: dict) -> str:
    """An instance's name in a Supvisors structure: Supvisors 0.19 identifies instances by
    `host:port` and gives the name of `supvisors_list` as `nick_identifier`."""
    return info.get("nick_identifier") or info.get("identifier", "")


def master_of(h: Host) -> Optional[str]:
    m = h.try_call("supvisors.get_master_identifier", timeout=2.0)
    if isinstance(m, dict):
        m = name_of(m)
    return m or None


def states_seen_by(h: Host) -> dict[str, str]:
    infos = h.try_call("supvisors.get_all_instances_info", timeout=2.0) or []
    return {name_of(i): i.get("statename", "") for i in infos}


def until_each(checks: dict[str, Callable[[], bool]], t0: float,
               bound: float = BOUND) -> dict[str, Optional[float]]:
    """Seconds from `t0` until each check first holds, all polled in one loop (every 50 ms),
    None for a check still false past `bound`."""
    found: dict[str, Optional[float]] = {}
    while len(found) < len(checks) and time.monotonic() - t0 < bound:
        for key, check in checks.items():
            if key not in found and check():
                found[key] = time.monotonic() - t0
        time.sleep(POLL)
    return {key: found.get(key) for key in checks}


def one_round(impl: Impl, venv_peer: Path, work: Path, scenario: str, index: int,
              rules_text: str) -> dict:
    base = work / f"{impl.name}-{scenario}-{index}"
    base.mkdir(parents=True)
    rules = base / "rules.xml"
    rules.write_text(rules_text)
    marks = {name: 800_000_000 + 1000 * index + i + (500 if impl.name != "raftvisord" else 0)
             for i, name in enumerate(SEQ)}
    result: dict = {"impl": impl.name, "scenario": scenario, "round": index}
    with Lab(base, HOSTS) as lab:
        try:
            return measure(impl, lab, rules, marks, result)
        finally:
            for h in lab.hosts:
                impl.cleanup(h)


def measure(impl: Impl, lab: Lab, rules: Path, marks: dict[str, int], result: dict) -> dict:
    """One round on `lab`: deploy, cut, measure (see the module doc)."""
    scenario, index = result["scenario"], result["round"]
    argv = {name: ["/bin/sleep", str(mark)] for name, mark in marks.items()}
    for h in lab.hosts:
        impl.configure(lab, h, rules, seq_programs(marks))
    for h in lab.hosts:
        impl.start(h)

    def where(name: str) -> list[str]:
        return lab.where_running(argv[name])

    def deployed() -> bool:
        if any(h.proc is None or h.proc.poll() is not None for h in lab.hosts):
            raise HarnessError(f"a daemon exited: {[h.output for h in lab.hosts]}")
        placed = [where(n) for n in SEQ]
        if not all(len(p) == 1 for p in placed):
            return False
        masters = {master_of(h) for h in lab.hosts}
        return len(masters) == 1 and None not in masters
    t_start = time.monotonic()
    harness.wait_until(deployed, 120, what=f"{impl.name}: seq deployed, one master")
    result["deployed_s"] = time.monotonic() - t_start
    time.sleep(1.0)  # settled: every instance has ticked since
    master = master_of(lab.hosts[0])
    seq_host = where(SEQ[0])[0]
    target_id = master if scenario == "link-down-master" else seq_host
    target = lab[target_id]
    others = [h for h in lab.hosts if h is not target]
    result.update(target=target_id, was_master=target_id == master,
                  ran_seq=target_id == seq_host)
    checks: dict[str, Callable[[], bool]] = {
        "silent_s": lambda: all(states_seen_by(h).get(target_id, "RUNNING") != "RUNNING"
                                for h in others)}
    if result["was_master"]:
        def new_master() -> bool:
            seen = {master_of(h) for h in others}
            return len(seen) == 1 and seen.pop() not in (None, target_id)
        checks["new_master_s"] = new_master
    if result["ran_seq"]:
        checks["seq_elsewhere_s"] = lambda: all(
            any(x != target_id for x in where(n)) for n in SEQ)
    t0 = time.monotonic()
    lab.cut(target)
    try:
        result.update(until_each(checks, t0))
    finally:
        lab.heal(target)
    log(f"  {impl.name} {scenario} #{index}: target {target_id} "
        f"(master {result['was_master']}, seq {result['ran_seq']}): "
        f"silent {fmt(result.get('silent_s'))}, new master {fmt(result.get('new_master_s'))}, "
        f"seq elsewhere {fmt(result.get('seq_elsewhere_s'))}")
    return result


def fmt(x: Optional[float]) -> str:
    return "—" if x is None else f"{x:.2f}"


def summary(results: list[dict], impl: str, scenario: str, key: str) -> Optional[dict]:
    rows = [r for r in results if r["impl"] == impl and r["scenario"] == scenario
            and key in r]
    if not rows:
        return None
    values = [r[key] for r in rows if r[key] is not None]
    return {"n": len(rows), "bound_reached": len(rows) - len(values),
            "median": statistics.median(values) if values else None,
            "worst": max(values) if values else None}


def report(results: list[dict], impls: list[str], meta: dict) -> str:
    lines = ["# raftvisord and Supvisors 0.19: a host's link down, side by side", "",
             f"Run {meta['started']} on this machine ({os.cpu_count()} cores), "
             f"`{meta['command']}`, {meta['rounds']} round(s) per scenario and implementation, "
             "each on a fresh cluster of three namespaced hosts. Times from the cut, polled "
             "every 50 ms; median / worst; `>60` = not within the bound.", ""]
    keys = [("silent_s", "lost instance out of RUNNING everywhere"),
            ("new_master_s", "new master agreed"),
            ("seq_elsewhere_s", "`seq` running elsewhere")]
    for scenario in ("link-down-master", "link-down-seq-host"):
        lines += [f"## {scenario}", "",
                  "| measure | " + " | ".join(impls) + " | ratio |",
                  "|---|" + "---:|" * (len(impls) + 1)]
        for key, label in keys:
            cells, medians = [], []
            for impl in impls:
                s = summary(results, impl, scenario, key)
                if s is None:
                    cells.append("n/a")
                    medians.append(None)
                    continue
                text = f"{fmt(s['median'])} / {fmt(s['worst'])} (n={s['n']})"
                if s["bound_reached"]:
                    text += f", >60 ×{s['bound_reached']}"
                cells.append(text)
                medians.append(s["median"])
            if all(c == "n/a" for c in cells):
                continue
            ratio = ""
            if len(medians) == 2 and all(m for m in medians):
                ratio = f"{medians[1] / medians[0]:.1f}× faster" \
                    if medians[0] < medians[1] else f"{medians[0] / medians[1]:.1f}× slower"
            lines.append(f"| {label} | " + " | ".join(cells) + f" | {ratio} |")
        lines.append("")
    return "\n".join(lines)


def shown_args(argv: list[str]) -> list[str]:
    """The command line as its user typed it to chaos/compare.sh (which adds --peer-venv)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--peer-venv":
            skip = True
        elif not a.startswith("--peer-venv="):
            out.append(a)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin-dir", default=os.environ.get("RAFTVISOR_BIN_DIR",
                                                        str(REPO / "target" / "release")))
    ap.add_argument("--peer-venv", required=True, help="venv with supervisor + supvisors 0.19")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--impl", action="append", choices=["raftvisord", "supvisors-0.19"],
                    help="one implementation only (repeatable; default both)")
    ap.add_argument("--scenarios", default="link-down-master,link-down-seq-host")
    ap.add_argument("--out", default=str(REPO / "chaos"))
    ap.add_argument("--workdir", help="keep configs and logs here instead of a temp dir")
    args = ap.parse_args()
    os.environ["RAFTVISOR_BIN_DIR"] = str(Path(args.bin_dir).resolve())
    impls: list[Impl] = []
    for name in args.impl or ["raftvisord", "supvisors-0.19"]:
        impls.append(Raftvisord() if name == "raftvisord"
                     else Supvisors(Path(args.peer_venv)))
    if any(i.name == "raftvisord" for i in impls) and harness.raftvisor_bin("raftvisord") is None:
        raise SystemExit(harness.unavailable_reason("raftvisord") or "no raftvisord")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="raftvisor-compare."))
    work.mkdir(parents=True, exist_ok=True)
    rules_text = seq_rules(SEQ, "LESS_LOADED")
    meta = {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "rounds": args.rounds,
            "command": "chaos/compare.sh " + " ".join(shown_args(sys.argv[1:])),
            "workdir": str(work)}
    results: list[dict] = []
    failures: list[str] = []
    for scenario in [s for s in args.scenarios.split(",") if s]:
        for impl in impls:
            log(f"{impl.name}: {scenario}, {args.rounds} round(s)")
            for i in range(args.rounds):
                try:
                    results.append(one_round(impl, Path(args.peer_venv), work, scenario, i,
                                             rules_text))
                except Exception as e:  # noqa: BLE001 - reported; the next round goes on
                    log(f"  {impl.name} {scenario} #{i} broke: {e!r}")
                    failures.append(f"{impl.name} {scenario} #{i}: {e!r}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps(
        {"meta": meta, "results": results, "failures": failures}, indent=1))
    (out / "compare.md").write_text(report(results, [i.name for i in impls], meta)
                                    + ("\n## Rounds that broke\n\n" + "\n".join(
                                        f"- {f}" for f in failures) + "\n" if failures else ""))
    log(f"report: {out / 'compare.md'}")
    print((out / "compare.md").read_text())
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
