#!/usr/bin/env python3
"""Side-by-side benchmark of issue 4's application targets: 3 raftvisord instances vs 3
supervisord + Supvisors 0.19 instances (the Python peer), same machine, same run, loopback only.

Metrics (see README.md in this directory):
  seq        supvisors.start_application('CONFIG', 'seq', True) on the master, 'seq' being 3
             programs in start_sequence 1, 2, 3 with startsecs=1: wall time of the call
  seq0       the same with startsecs=0 ('seq0'; raftvisord target <= 50 ms)
  follower   kill -9 of a non-master hosting a RESTART_PROCESS program -> that program RUNNING
             on another instance, seen by supvisors.get_process_info on a survivor
  master     the same with the master killed (the peer may never restart it: "never within N s")
  deploy     DEPLOYMENT of 1,000 processes (application 'deploy', start_sequence 1, one program
             with numprocs=1000, expected_loading 0, startsecs 0, LESS_LOADED): spawn of the 3
             daemons -> all 1,000 RUNNING in get_all_process_info (raftvisord target <= 5 s;
             the peer is given --deploy-timeout and reported "> N s" if not done)

Both implementations read the SAME programs file and the SAME Supvisors rules file
(`rules_files` in `[rpcinterface:supvisors]`); every program of a managed application has
autostart=false. Cluster generation, PID-based stop, the peer venv and the XML-RPC helpers come
from bench_cluster.py (which in turn uses tests/cluster_harness.py for raftvisord and the peer's
run/stop scripts for Supvisors). Every wait is a poll with a deadline.
Output: a markdown table (metric, target, raftvisord, supvisors, ratio) and --json FILE.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import xmlrpc.client
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_cluster as bc  # noqa: E402
from bench_cluster import IDS, common_master, log, poll, proxy  # noqa: E402

import harness  # noqa: E402  (tests/, put on sys.path by bench_cluster)

REPO = bc.REPO
SEQ_STEPS = ("a", "b", "c")
DIST = ("dist_1", "dist_2", "dist_3")

# ----------------------------------------------------------------- shared config texts


def program(name: str, startsecs: int, extra: str = "") -> str:
    return (f"[program:{name}]\ncommand=/bin/sleep 100000\n{extra}autostart=false\n"
            f"autorestart=false\nstartsecs={startsecs}\nstopwaitsecs=5\n"
            "stdout_logfile=NONE\nstderr_logfile=NONE\n")


def apps_programs() -> str:
    """seq (startsecs 1), seq0 (startsecs 0), dist (auto-deployed, RESTART_PROCESS)."""
    out = ["[group:seq]\nprograms=" + ",".join(f"seq_{s}" for s in SEQ_STEPS) + "\n",
           "[group:seq0]\nprograms=" + ",".join(f"seq0_{s}" for s in SEQ_STEPS) + "\n",
           "[group:dist]\nprograms=" + ",".join(DIST) + "\n"]
    out += [program(f"seq_{s}", 1) for s in SEQ_STEPS]
    out += [program(f"seq0_{s}", 0) for s in SEQ_STEPS]
    out += [program(p, 1) for p in DIST]
    return "\n".join(out)


def seq_application(name: str) -> str:
    progs = "\n".join(
        f'            <program name="{name}_{s}"><start_sequence>{k}</start_sequence>'
        "<required>true</required></program>" for k, s in enumerate(SEQ_STEPS, 1))
    return f"""    <application name="{name}">
        <distribution>SINGLE_INSTANCE</distribution>
        <start_sequence>0</start_sequence>
        <starting_strategy>CONFIG</starting_strategy>
        <starting_failure_strategy>ABORT</starting_failure_strategy>
        <running_failure_strategy>RESTART_PROCESS</running_failure_strategy>
        <programs>
{progs}
        </programs>
    </application>
"""


# seq and dist are the peer's applications (peer/rules.xml); seq0 is seq with
# startsecs=0 programs.
APPS_RULES = f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<root>
{seq_application("seq")}{seq_application("seq0")}    <application name="dist">
        <distribution>ALL_INSTANCES</distribution>
        <start_sequence>1</start_sequence>
        <starting_strategy>LESS_LOADED</starting_strategy>
        <running_failure_strategy>RESTART_PROCESS</running_failure_strategy>
        <programs>
            <program pattern="dist_">
                <start_sequence>1</start_sequence>
                <expected_loading>20</expected_loading>
                <running_failure_strategy>RESTART_PROCESS</running_failure_strategy>
            </program>
        </programs>
    </application>
</root>
"""


def deploy_programs(n: int) -> str:
    return ("[group:deploy]\nprograms=w\n\n"
            + program("w", 0, f"process_name=%(program_name)s_%(process_num)04d\nnumprocs={n}\n"))


DEPLOY_RULES = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<root>
    <application name="deploy">
        <start_sequence>1</start_sequence>
        <starting_strategy>LESS_LOADED</starting_strategy>
        <programs>
            <program pattern="w_">
                <start_sequence>1</start_sequence>
                <expected_loading>0</expected_loading>
            </program>
        </programs>
    </application>
</root>
"""

# ----------------------------------------------------------------- side construction


def make_side(impl: str, base: Path, programs: str, rules: str, args):
    """A 3-instance cluster of `impl` reading `programs` and the rules file `rules`."""
    base.mkdir(parents=True, exist_ok=True)
    if impl == "raftvisord":
        rules_path = base / "rules.xml"
        rules_path.write_text(rules)
        # Same strategies as the peer's section; default timings otherwise.
        options = {"rules_files": str(rules_path), "starting_strategy": "CONFIG",
                   "conciliation_strategy": "USER"}
        return bc.RaftSide(base, {i: programs for i in IDS}, options)
    return bc.PeerSide(base, {}, Path(args.peer_venv), Path(args.peer_dir),
                       rules_xml=rules, common_programs=programs)


def nick(side, value) -> str:
    """Instance name (s1..s3) of an identifier as the side reports it (the peer gives
    host:port; PeerSide knows the mapping)."""
    f = getattr(side, "_nick", None)
    return f(value) if f else str(value)


def sv(side, ident: str, timeout: float = 30.0):
    return proxy(side.http_port(ident), timeout).supvisors


# ----------------------------------------------------------------- measurements


def app_state(side, ident: str, app: str) -> str:
    return sv(side, ident, 10).get_application_info(app)["statename"]


def measure_start_application(side, app: str, reps: int, timeout: float) -> dict:
    """`reps` x (start_application(CONFIG, app, True) timed, then stop_application(app, True)
    and a poll until STOPPED), on the master."""
    leader = poll(lambda: common_master(side, IDS), 60, what="a common master")
    samples, errors, placements = [], [], []
    for _ in range(reps):
        poll(lambda: app_state(side, leader, app) == "STOPPED", timeout,
             what=f"{side.name}: {app} STOPPED before the call")
        t0 = time.perf_counter()
        try:
            ok = sv(side, leader, timeout).start_application("CONFIG", app, True)
        except (OSError, xmlrpc.client.Error) as e:
            errors.append(repr(e)[:300])
            log(side.name, app, "start_application failed:", repr(e)[:300])
            break
        dt = time.perf_counter() - t0
        infos = {p["process_name"]: p for p in sv(side, leader, 30).get_all_process_info()
                 if p["application_name"] == app}
        states = {n: i["statename"] for n, i in infos.items()}
        placements.append({n: [nick(side, x) for x in i["identifiers"]] for n, i in infos.items()})
        if ok is not True or any(s != "RUNNING" for s in states.values()):
            errors.append(f"returned {ok!r}, states {states}")
        samples.append(dt)
        log(side.name, app, f"start_application {dt * 1000:.1f} ms", states)
        try:
            sv(side, leader, timeout).stop_application(app, True)
        except (OSError, xmlrpc.client.Error) as e:
            errors.append(f"stop_application: {e!r}"[:300])
            break
    res = {"master": leader, "samples_s": samples, "errors": errors,
           "placement": placements[-1] if placements else None}
    if samples:
        res.update(median_s=statistics.median(samples), min_s=min(samples))
    return res


def placement(side, observer: str, app: str) -> dict[str, tuple[str, list[str]]]:
    return {f"{app}:{p['process_name']}": (p["statename"],
                                           [nick(side, x) for x in p["identifiers"]])
            for p in sv(side, observer, 30).get_all_process_info()
            if p["application_name"] == app}


def measure_restart(side, which: str, timeout: float) -> dict:
    """kill -9 of the master (`which`='master') or of a follower hosting a dist program ->
    every dist program that ran there RUNNING on another instance, polled with
    supvisors.get_process_info on each survivor in turn (every 0.1 s)."""
    leader = poll(lambda: common_master(side, IDS), 60, what="a common master")
    where = poll(lambda: (lambda p: p if len(p) == len(DIST) and all(
        s == "RUNNING" and ids for s, ids in p.values()) else None)(
        placement(side, leader, "dist")), timeout, what=f"{side.name}: dist RUNNING")
    hosting = {ids[0] for _, ids in where.values()}
    if which == "master":
        victim = leader
    else:
        followers = [i for i in IDS if i != leader]
        victim = next((i for i in followers if i in hosting), followers[0])
    moved = sorted(ns for ns, (_, ids) in where.items() if victim in ids)
    res = {"victim": victim, "master": leader, "placement_before": where,
           "programs_on_victim": moved}
    if not moved:
        res["error"] = f"{victim} hosts no dist program (placement {where})"
        return res
    survivors = [i for i in IDS if i != victim]
    seen: dict[str, dict[str, float]] = {s: {} for s in survivors}
    first: dict[str, float] = {}
    placed: dict[str, float] = {}  # first seen running-like elsewhere (STARTING included)
    faults: list[str] = []
    t0 = time.monotonic()
    side.kill9(victim)
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        for s in survivors:
            for ns in moved:
                if ns in seen[s]:
                    continue
                try:
                    info = sv(side, s, 5).get_process_info(ns)[0]
                except (OSError, xmlrpc.client.Error, IndexError) as e:
                    msg = repr(e)[:160]
                    if not faults or faults[-1] != msg:
                        faults.append(msg)
                    continue
                ids = [nick(side, x) for x in info["identifiers"]]
                if ids and victim not in ids and info["statename"] in (
                        "STARTING", "BACKOFF", "RUNNING"):
                    placed.setdefault(ns, time.monotonic() - t0)
                if info["statename"] == "RUNNING" and ids and victim not in ids:
                    t = time.monotonic() - t0
                    seen[s][ns] = t
                    first.setdefault(ns, t)
                    res.setdefault("new_host", {})[ns] = ids
        if all(len(seen[s]) == len(moved) for s in survivors):
            break
        time.sleep(0.1)
    res.update(timeout_s=timeout, faults_seen=faults[:10], per_survivor_s=seen)
    if len(placed) == len(moved):
        # Detection + placement: every moved program at least STARTING elsewhere (RUNNING
        # then needs the program's startsecs more).
        res["placed_s"] = max(placed.values())
    if len(first) == len(moved):
        # The metric: every moved program RUNNING elsewhere, as the first survivor to show it.
        res["seconds"] = max(first.values())
        res["all_survivors_s"] = (max(max(v.values()) for v in seen.values())
                                  if all(len(v) == len(moved) for v in seen.values()) else None)
        for ns, ids in res.get("new_host", {}).items():  # the new host's own supervisor agrees
            try:
                local = proxy(side.http_port(ids[0]), 10).supervisor.getProcessInfo(ns)
                res.setdefault("confirmed_by_host", {})[ns] = local["statename"]
            except (OSError, xmlrpc.client.Error, KeyError) as e:
                res.setdefault("confirmed_by_host", {})[ns] = repr(e)[:120]
    else:
        res["never_within_s"] = timeout
    return res


def count_deployed(side, observer: str, n: int) -> tuple[int, dict[str, int]]:
    """(RUNNING deploy processes, per-instance counts) in `observer`'s get_all_process_info."""
    infos = proxy(side.http_port(observer), 60, quickack=True).supvisors.get_all_process_info()
    running = 0
    per: dict[str, int] = {}
    for p in infos:
        if p["application_name"] == "deploy" and p["statename"] == "RUNNING":
            running += 1
            for x in p["identifiers"]:
                k = nick(side, x)
                per[k] = per.get(k, 0) + 1
    return running, per


def measure_deploy(side, n: int, timeout: float, t0: float) -> dict:
    """From `t0` (first spawn) until `n` deploy processes are RUNNING in s1's
    get_all_process_info (s2 then s3 if s1 does not answer), polled every 0.2 s after each
    answer. A fault (e.g. the peer's BAD_SUPVISORS_STATE before DEPLOYMENT) counts as 0."""
    best = 0
    per: dict[str, int] = {}
    faults: list[str] = []
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        for ident in IDS:
            try:
                running, counts = count_deployed(side, ident, n)
                break
            except (OSError, xmlrpc.client.Error) as e:
                msg = repr(e)[:160]
                if not faults or faults[-1] != msg:
                    faults.append(msg)
        else:
            time.sleep(0.2)
            continue
        if running >= best:
            best, per = running, counts
        if running >= n:
            return {"seconds": time.monotonic() - t0, "per_instance": counts,
                    "faults_seen": faults[:10]}
        time.sleep(0.2)
    return {"not_within_s": timeout, "running_at_timeout": best, "per_instance": per,
            "faults_seen": faults[:10]}


# ----------------------------------------------------------------- phases


def run_side(impl: str, work: Path, args, results: dict) -> None:
    def record(metric: str, value) -> None:
        results.setdefault(metric, {})[impl] = value

    # Phase A: start_application timings, then kill -9 of a follower.
    if "seq" in args.phases or "follower" in args.phases:
        side = make_side(impl, work / f"{impl}-A", apps_programs(), APPS_RULES, args)
        try:
            t0 = side.start()
            log(impl, "A: launch -> OPERATION",
                f"{bc.wait_operation(side, t0, args.phase_timeout):.2f}s")
            if "seq" in args.phases:
                for app in ("seq", "seq0"):
                    r = measure_start_application(side, app, args.reps, args.phase_timeout)
                    record(app, r)
            if "follower" in args.phases:
                r = measure_restart(side, "follower", args.restart_timeout)
                record("follower_restart", r)
                log(impl, "follower restart", {k: v for k, v in r.items()
                                               if k not in ("placement_before",)})
        finally:
            side.stop()
    # Phase B: kill -9 of the master.
    if "master" in args.phases:
        side = make_side(impl, work / f"{impl}-B", apps_programs(), APPS_RULES, args)
        try:
            t0 = side.start()
            log(impl, "B: launch -> OPERATION",
                f"{bc.wait_operation(side, t0, args.phase_timeout):.2f}s")
            r = measure_restart(side, "master", args.restart_timeout)
            record("master_restart", r)
            log(impl, "master restart", {k: v for k, v in r.items()
                                         if k not in ("placement_before",)})
        finally:
            side.stop()
    # Phase C: DEPLOYMENT of --deploy programs.
    if "deploy" in args.phases and args.deploy:
        side = make_side(impl, work / f"{impl}-C", deploy_programs(args.deploy), DEPLOY_RULES,
                         args)
        try:
            t0 = side.start()
            r = measure_deploy(side, args.deploy, args.deploy_timeout, t0)
            record("deploy", r)
            log(impl, "deploy", r)
        finally:
            side.stop()


def run_guarded(impl: str, work: Path, args, results: dict) -> int:
    """One implementation; a failure is recorded and does not stop the other side."""
    try:
        run_side(impl, work, args, results)
        return 0
    except (TimeoutError, harness.HarnessError, OSError, xmlrpc.client.Error) as e:
        log(impl, "failed:", repr(e)[:500])
        results.setdefault("errors", {})[impl] = repr(e)[:2000]
        return 1


# ----------------------------------------------------------------- report


def value(results: dict, metric: str, impl: str, key: str, never_key: str):
    """(number or None, text). `never_key` holds the bound when the event did not happen."""
    r = results.get(metric, {}).get(impl)
    if not isinstance(r, dict):
        return None, "n/a"
    if isinstance(r.get(key), (int, float)):
        return r[key], None
    if isinstance(r.get(never_key), (int, float)):
        return None, f"> {r[never_key]:.0f}"
    return None, "n/a"


def table(results: dict, args) -> str:
    rows = [
        ("start_application seq, 3 steps, startsecs=1, median (s)", "seq", "median_s", "", 1,
         "-"),
        ("same, startsecs=0, median (ms)", "seq0", "median_s", "", 1000, "<= 50 ms"),
        ("same, startsecs=0, best (ms)", "seq0", "min_s", "", 1000, "-"),
        ("kill -9 follower -> its RESTART_PROCESS program RUNNING elsewhere (s)",
         "follower_restart", "seconds", "never_within_s", 1, "<= 1.5 s"),
        ("kill -9 master -> its RESTART_PROCESS program RUNNING elsewhere (s)",
         "master_restart", "seconds", "never_within_s", 1, "<= 1.5 s"),
        ("kill -9 follower -> the program STARTING elsewhere (detection + placement, s)",
         "follower_restart", "placed_s", "never_within_s", 1, "-"),
        ("kill -9 master -> the program STARTING elsewhere (detection + placement, s)",
         "master_restart", "placed_s", "never_within_s", 1, "-"),
        (f"DEPLOYMENT of {args.deploy} programs: spawn -> all RUNNING (s)", "deploy",
         "seconds", "not_within_s", 1, "<= 5 s"),
    ]
    out = ["| metric | raftvisord target | raftvisord | supvisors | ratio raftvisord/supvisors |",
           "|---|---|---|---|---|"]
    for label, metric, key, never, scale, target in rows:
        a, ta = value(results, metric, "raftvisord", key, never)
        b, tb = value(results, metric, "supvisors", key, never)
        ta = ta if ta is not None else f"{a * scale:.{0 if scale == 1000 else 2}f}"
        if tb is None:
            tb = f"{b * scale:.{0 if scale == 1000 else 2}f}"
        if ta.startswith(">") and metric.endswith("restart"):
            ta = f"never within {ta[2:]} s"
        if tb.startswith(">") and metric.endswith("restart"):
            tb = f"never within {tb[2:]} s"
        if a is not None and b is not None and b:
            ratio = f"{a / b:.3f}"
        elif a is not None:  # the peer did not get there within its bound: an upper bound
            r = results[metric]["supvisors"] if isinstance(results.get(metric, {}).get(
                "supvisors"), dict) else {}
            bound = r.get(never) if never else None
            ratio = f"< {a / bound:.3f}" if isinstance(bound, (int, float)) and bound else "n/a"
        else:
            ratio = "n/a"
        out.append(f"| {label} | {target} | {ta} | {tb} | {ratio} |")
    return "\n".join(out)


def check_binary(bin_dir: Path) -> str | None:
    """A warning when raftvisord is older than the control methods' source (a stale build)."""
    b = bin_dir / "raftvisord"
    src = REPO / "crates" / "supvisors" / "src" / "control.rs"
    try:
        if b.stat().st_mtime < src.stat().st_mtime:
            return f"{b} is older than {src}: rebuild (cargo build --release -p raftvisord)"
    except OSError:
        return None
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin-dir", default=os.environ.get("RAFTVISOR_BIN_DIR",
                                                        str(REPO / "target" / "release")))
    ap.add_argument("--peer-venv", default=str(REPO / ".venv-peer"))
    ap.add_argument("--peer-dir", default=str(bc.DEFAULT_PEER_DIR))
    ap.add_argument("--no-peer", action="store_true", help="raftvisord only")
    ap.add_argument("--no-raft", action="store_true", help="the peer only")
    ap.add_argument("--phases", default="seq,follower,master,deploy",
                    help="comma list among seq, follower, master, deploy")
    ap.add_argument("--reps", type=int, default=3, help="start_application samples per app")
    ap.add_argument("--deploy", type=int, default=1000, help="programs deployed; 0 skips")
    ap.add_argument("--deploy-timeout", type=float, default=180.0)
    ap.add_argument("--restart-timeout", type=float, default=60.0)
    ap.add_argument("--phase-timeout", type=float, default=120.0,
                    help="bound of every other wait (launch, stop_application...)")
    ap.add_argument("--json", help="write raw results to this file")
    ap.add_argument("--workdir", help="keep configs and logs here instead of a temp dir")
    args = ap.parse_args()
    args.phases = {p.strip() for p in args.phases.split(",") if p.strip()}

    bin_dir = Path(args.bin_dir).resolve()
    os.environ["RAFTVISOR_BIN_DIR"] = str(bin_dir)
    results: dict = {"config": {k: (sorted(v) if isinstance(v, set) else v)
                                for k, v in vars(args).items()}}
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench-apps."))
    work.mkdir(parents=True, exist_ok=True)
    log("work dir", work)

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    status = 0
    try:
        if not args.no_raft:
            reason = harness.unavailable_reason("raftvisord")
            stale = check_binary(bin_dir)
            if stale:
                log("warning:", stale)
                results["raftvisord_warning"] = stale
            if reason:
                log("raftvisord not run:", reason)
                results["raftvisord_error"] = reason
                status = 1
            else:
                status |= run_guarded("raftvisord", work, args, results)
        if not args.no_peer:
            bc.ensure_peer_venv(Path(args.peer_venv))
            status |= run_guarded("supvisors", work, args, results)
    except KeyboardInterrupt:
        log("interrupted: everything started was stopped")
        status = 130
    except Exception as e:  # report what was measured so far, then fail
        log("bench failed:", repr(e))
        results["error"] = repr(e)
        status = 1
    print(table(results, args))
    print()
    print("Notes: start_application is called on the master with wait=True; the floor of the "
          "startsecs=1 row is 3 s (each step must be RUNNING before the next starts). The "
          "restart rows poll supvisors.get_process_info on every survivor every 0.1 s and give "
          "the first survivor showing the program RUNNING elsewhere; the peer's cluster clock "
          "is its 5 s TICK (detection, election and re-distribution come in 5 s steps) and, "
          "when its master dies, Supvisors 0.19 applies RESTART_PROCESS only if a working "
          "master handles the loss. The deployment row starts at the first "
          "daemon spawn and polls get_all_process_info (1,000 entries) every 0.2 s after each "
          "answer. raftvisord runs with its documented default timings.")
    errs = results.get("errors") or {}
    for impl, e in errs.items():
        print(f"{impl} error: {e[:300]}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return status


if __name__ == "__main__":
    sys.exit(main())
