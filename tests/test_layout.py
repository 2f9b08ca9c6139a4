"""The code layout of the release build (issue 8, idle RSS): the list the linker gets, and how
the profiling script reads a resident page back to the functions it holds.

`scripts/layout/hot_functions.py` writes `crates/raftvisord/hot-functions.txt`;
`crates/raftvisord/build.rs` hands it to lld; `scripts/bench/idle_rss.py` measures the effect
and reports how many listed names the binary has.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts" / "layout"))
sys.path.insert(0, str(REPO / "scripts" / "bench"))

import hot_functions  # noqa: E402
import idle_rss  # noqa: E402

PAGE = hot_functions.PAGE


def test_a_resident_page_names_the_functions_it_overlaps():
    funcs = [(0x10000, 0x100, "a"), (0x20000, 3 * PAGE, "b"), (0x20000 + 3 * PAGE, 0x10, "c"),
             (0x30000, 0x40, "d")]
    # A page holding a function's start, and a page inside a function started before it.
    assert hot_functions.touched(funcs, [0x10000]) == {"a"}
    assert hot_functions.touched(funcs, [0x20000 + PAGE]) == {"b"}
    # b ends where a page ends: its last page is b's alone, the next one c's.
    assert hot_functions.touched(funcs, [0x20000 + 2 * PAGE]) == {"b"}
    assert hot_functions.touched(funcs, [0x20000 + 3 * PAGE]) == {"c"}
    # Padding after a function names nothing; several pages, their union.
    assert hot_functions.touched(funcs, [0x10000 + PAGE, 0x2F000]) == set()
    assert hot_functions.touched(funcs, [0x10000, 0x30000]) == {"a", "d"}


def test_two_functions_sharing_a_page_are_both_named():
    funcs = [(0x1000, 0x800, "x"), (0x1800, 0x900, "y"), (0x2100, 0x10, "z")]
    assert hot_functions.touched(funcs, [0x1000]) == {"x", "y"}
    assert hot_functions.touched(funcs, [0x2000]) == {"y", "z"}


def test_the_linker_list_holds_unique_symbol_names_of_the_daemon():
    names = idle_rss.hot_functions()
    # Mangled Rust (legacy or v0) or C symbols, one per line, each once: lld reads the file
    # line by line and ignores '#' lines.
    assert len(names) > 300, len(names)
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[A-Za-z_.$][A-Za-z0-9_.$]*", n) for n in names), \
        [n for n in names if not re.fullmatch(r"[A-Za-z_.$][A-Za-z0-9_.$]*", n)][:5]
    # The daemon's own idle work is there: its Raft stream and its cluster ticker.
    assert any("7cluster6stream" in n for n in names)
    assert any("7cluster6ticker" in n for n in names)
