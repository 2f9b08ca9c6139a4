"""Pytest fixtures for the end-to-end suites.

* `impl`  — parametrized over ("supervisord", "raftvisord"). A param whose implementation
  cannot run here (no venv, no RAFTVISOR_BIN_DIR) FAILS with the reason: no test passes by
  skipping (`scripts/test.sh` installs and builds everything the suite needs).
* `daemon_factory(programs, **opts)` — starts a `harness.Daemon` for the current `impl` in
  its own temp dir and stops it (and every child, by PID) at teardown.
* `reference` / `raftvisord` — the same factory pinned to one implementation.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402


def require_impl(impl: str) -> None:
    """Fail, with the reason, when `impl` cannot run here (never skip)."""
    reason = harness.unavailable_reason(impl)
    if reason is not None:
        pytest.fail(f"{impl} is unavailable: {reason} (scripts/test.sh sets everything up)",
                    pytrace=False)


def require_raftvisorctl() -> "Path":
    p = harness.raftvisor_bin("raftvisorctl")
    if p is None:
        pytest.fail("raftvisorctl not found in RAFTVISOR_BIN_DIR "
                    "(scripts/test.sh builds it and sets the variable)", pytrace=False)
    return p


@pytest.fixture(params=list(harness.IMPLS))
def impl(request) -> str:
    require_impl(request.param)
    return request.param


class _Factory:
    def __init__(self, impl: str, tmp_path: Path):
        self.impl = impl
        self.tmp_path = tmp_path
        self.daemons: list[harness.Daemon] = []

    def __call__(self, programs: str = "", *, start: bool = True, **opts) -> harness.Daemon:
        d = harness.Daemon(self.impl, self.tmp_path / f"d{len(self.daemons)}", programs, **opts)
        self.daemons.append(d)
        if start:
            d.start()
        return d

    def stop_all(self) -> None:
        for d in reversed(self.daemons):
            d.stop()


@pytest.fixture
def daemon_factory(impl, tmp_path):
    f = _Factory(impl, tmp_path)
    yield f
    f.stop_all()


@pytest.fixture
def reference_factory(tmp_path):
    require_impl("supervisord")
    f = _Factory("supervisord", tmp_path / "ref")
    yield f
    f.stop_all()


@pytest.fixture
def raftvisord_factory(tmp_path):
    require_impl("raftvisord")
    f = _Factory("raftvisord", tmp_path / "raft")
    yield f
    f.stop_all()
