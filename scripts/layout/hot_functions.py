#!/usr/bin/env python3
"""The functions an idle raftvisord runs, listed for the linker to lay them out together.

Why (issue 8, idle RSS): an idle daemon keeps resident every page of its code that it runs
every few seconds, and the kernel maps code back 64 KiB around each page fault
(fault-around). With the linker's default order those functions are spread over most of the
6.7 MB of `.text`, so ~5 MiB of code stays resident for what an idle daemon runs. Laid out
next to each other, they fill far less.

How: a profiling build of the daemon (its own target dir) starts every function at a 64 KiB
boundary (LLVM's `-align-all-functions=16`), so a 64 KiB window of its code holds one
function and a resident page names the function that was run. This script runs the two
setups of `scripts/bench/idle_rss.py` with that build (the demo cluster of `configs/cluster/`,
then one daemon with 500 programs), waits until they have given back their start-up pages
(`crates/raftvisord/src/memory.rs`), and while they idle eight minutes reads each second which
pages of the code each daemon has resident (`/proc/PID/pagemap`). Every function resident in
any of the four at any time (a superset: what ran once just before the first look counts
too), in the binary's own order, goes to `crates/raftvisord/hot-functions.txt`, which
`crates/raftvisord/build.rs` passes to the linker (lld's `--symbol-ordering-file`) for
release builds. The alignment changes no symbol name, so the names match the release
build; a name the binary no longer has is skipped by the linker, so a stale list costs
resident memory, never correctness. Rerun it when what an idle daemon does changes:

  .venv/bin/python scripts/layout/hot_functions.py       # ~22 minutes (a release build)
  cargo build --release -p raftvisord -p raftvisorctl
  .venv/bin/python scripts/bench/idle_rss.py --setups demo
"""

from __future__ import annotations

import argparse
import array
import bisect
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts" / "bench"))
sys.path.insert(0, str(REPO / "tests"))

import idle_rss  # noqa: E402

TARGET = REPO / "target" / "layout-profile"
PAGE = 4096
# Seconds between the end of the deployment (or of the single daemon's starts) and the first
# look: the daemon gives back its start-up pages 5 s after it serves.
WARMUP = 10.0
# The workspace's own rustflags for this target (.cargo/config.toml), which RUSTFLAGS
# replaces, plus the alignment: of the functions, and of the code segment, so that the
# kernel loads the binary at a 64 KiB boundary and a fault-around window is one function.
RUSTFLAGS = ("-C link-arg=-Wl,-z,pack-relative-relocs -C link-arg=-Wl,-z,max-page-size=65536 "
             "-C llvm-args=-align-all-functions=16")


def log(*a) -> None:
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def functions(binary: Path) -> list[tuple[int, int, str]]:
    """(address, size, symbol) of the binary's functions, by address."""
    out = subprocess.run(["nm", "-S", "--defined-only", str(binary)], check=True,
                         capture_output=True, text=True).stdout
    funcs = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in ("t", "T") and int(parts[1], 16) > 0:
            funcs.append((int(parts[0], 16), int(parts[1], 16), parts[3]))
    return sorted(funcs)


def load_bias(pid: int, binary: Path) -> tuple[int, list[tuple[int, int]]]:
    """The address the binary is loaded at in `pid` (its first mapping's start, minus that
    mapping's file offset) and its executable mappings as [start, end)."""
    first = None
    code = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        f = line.split()
        if len(f) < 6 or f[5] != str(binary):
            continue
        start, end = (int(x, 16) for x in f[0].split("-"))
        if first is None:
            first = start - int(f[2], 16)
        if "x" in f[1]:
            code.append((start, end))
    if first is None:
        raise RuntimeError(f"{binary} is not mapped in {pid}")
    return first, code


def resident_pages(pid: int, ranges: list[tuple[int, int]]) -> list[int]:
    """Addresses of the pages of `ranges` present in `pid` (/proc/PID/pagemap, bit 63)."""
    out = []
    with open(f"/proc/{pid}/pagemap", "rb") as pm:
        for start, end in ranges:
            pm.seek(start // PAGE * 8)
            entries = array.array("Q", pm.read((end - start) // PAGE * 8))
            out.extend(start + i * PAGE for i, e in enumerate(entries) if e >> 63)
    return out


def touched(funcs: list[tuple[int, int, str]], pages: list[int]) -> set[str]:
    """The functions whose code overlaps a resident page (addresses relative to the
    binary's link addresses)."""
    starts = [f[0] for f in funcs]
    out = set()
    for page in pages:
        # Every function starting in the page, and the one running into it from before.
        i = bisect.bisect_right(starts, page + PAGE - 1) - 1
        while i >= 0:
            start, size, name = funcs[i]
            if start + size > page:
                out.add(name)
            if start <= page:
                break
            i -= 1
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # Eight minutes, not three: what an idle daemon runs only every few minutes (the store's
    # segment work on an I/O thread, a statistics sample's rarer branches) was missing from a
    # three-minute list, and its code stayed resident beside the laid-out functions.
    ap.add_argument("--seconds", type=float, default=480.0,
                    help="seconds of idling watched, after a warm-up of "
                         f"{WARMUP:g} s (the daemons give back their start-up pages 5 s "
                         "after they serve)")
    ap.add_argument("--programs", type=int, default=500,
                    help="programs of the single daemon (idle_rss.py's second setup)")
    ap.add_argument("--out", default=str(idle_rss.HOT_FUNCTIONS))
    ap.add_argument("--no-build", action="store_true",
                    help=f"use the profiling build already in {TARGET}/release")
    args = ap.parse_args()
    bin_dir = TARGET / "release"
    if not args.no_build:
        log(f"profiling build (functions 64 KiB apart) in {TARGET}")
        env = dict(os.environ, CARGO_TARGET_DIR=str(TARGET), RUSTFLAGS=RUSTFLAGS)
        subprocess.run(["cargo", "build", "--release", "-p", "raftvisord", "-p", "raftvisorctl"],
                       cwd=REPO, env=env, check=True)
    binary = (bin_dir / "raftvisord").resolve()
    funcs = functions(binary)
    misaligned = sum(1 for a, _, _ in funcs if a % 65536)
    if misaligned > len(funcs) // 10:
        log(f"{misaligned} of {len(funcs)} functions are not 64 KiB-aligned: not a "
            "profiling build")
        return 1
    os.environ["RAFTVISOR_BIN_DIR"] = str(bin_dir)

    def on_term(signum, frame):
        raise KeyboardInterrupt
    # The setups stop every daemon they started (by PID) when they unwind.
    signal.signal(signal.SIGTERM, on_term)
    work = Path(tempfile.mkdtemp(prefix="hot-functions."))
    found: dict[str, set[str]] = {}

    def watch(pids: dict[str, int], seconds: float) -> dict:
        """Every function resident at any of the snapshots taken each second for
        `seconds`: the daemon gives its code back again whenever its resident set has grown
        by 1 MiB (which, 64 KiB per function, it soon does), so one snapshot at the end
        would only see what ran since the last time."""
        end = time.monotonic() + seconds
        while True:
            for ident, pid in pids.items():
                bias, code = load_bias(pid, binary)
                pages = [p - bias for p in resident_pages(pid, code)]
                found.setdefault(ident, set()).update(touched(funcs, pages))
            if time.monotonic() >= end:
                break
            time.sleep(1.0)
        for ident in pids:
            log(f"{ident}: {len(found[ident])} functions")
        return {}

    try:
        idle_rss.demo_cluster(work / "demo", bin_dir, WARMUP, args.seconds, 120.0,
                              measure=watch)
        idle_rss.single_daemon(work, args.programs, WARMUP, args.seconds, 120.0,
                               measure=lambda pids, s: watch({"single": pids["d"]}, s))
    except KeyboardInterrupt:
        log("interrupted: everything started was stopped")
        return 130
    finally:
        shutil.rmtree(work, ignore_errors=True)
    hot = set().union(*found.values()) if found else set()
    if not hot:
        log("no resident function found")
        return 1
    ordered = [name for _, _, name in funcs if name in hot]
    sizes = {name: size for _, size, name in funcs}
    kib = sum(sizes[n] for n in ordered) / 1024
    header = [
        "# The functions an idle raftvisord runs, in the binary's order: the release build's",
        "# linker lays them out together (crates/raftvisord/build.rs). Written by",
        "# scripts/layout/hot_functions.py (idle_rss.py's two setups, idle "
        f"{args.seconds:g} s:",
        f"# {len(ordered)} functions, {kib:.0f} KiB); rerun it when an idle daemon's work "
        "changes.",
    ]
    Path(args.out).write_text("\n".join(header + ordered) + "\n")
    log(f"{len(ordered)} functions ({kib:.0f} KiB) written to {args.out}")
    print(json.dumps({i: len(s) for i, s in found.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
