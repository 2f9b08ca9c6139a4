"""Transcript recorder and normaliser for the differential XML-RPC test.

A scenario drives one daemon through `Recorder.call(...)`; every call appends
``{"step", "call", "result"}`` to a transcript where `result` is the *normalised* value:
volatile data (pids, epoch times, uptimes, dates, temp paths, random AUTO log names, ports)
is replaced by typed placeholders such as ``"<pid>"`` — but only when the raw value has the
expected type, so an implementation that returns a pid as a string, a bool as an int or
``None`` instead of ``''`` still shows up as a difference. Faults become
``{"FAULT": code, "string": normalised faultString}``; HTTP errors ``{"HTTP_ERROR": code}``.

Expectations written in the scenario (`fault=`, `expect=`) are checked as the scenario runs and
collected in `Recorder.violations`; they document what the reference does and are asserted
on both runs: on supervisord's, so a broken scenario cannot silently compare garbage, and on
raftvisord's, so the checks that a transcript cannot show (timings, a pid kept) hold there too.
"""

from __future__ import annotations

import difflib
import json
import re
import time
import xmlrpc.client
from typing import Any, Callable, Optional

from harness import Daemon, namespec, wait_until

_MISSING = object()

UPTIME_RE = re.compile(r"^pid (\d+), uptime (\d+ days?, )?\d+:\d\d:\d\d$")
DATE_RE = re.compile(r"^[A-Z][a-z]{2} \d{2} \d{2}:\d{2} [AP]M$")
AUTOLOG_RE = re.compile(r"(?P<stem>[^/\s]+-(stdout|stderr)---[^/\s]*?)-[A-Za-z0-9_]+\.log")
TIME_KEYS = {"start", "stop", "now"}
RESULT_KEYS = {"name", "group", "status", "description"}


class Normaliser:
    def __init__(self, daemon: Daemon):
        self.workdir = str(daemon.workdir)
        self.real_workdir = str(daemon.workdir.resolve())
        self.port = str(daemon.port)

    def text(self, s: str) -> str:
        s = s.replace(self.real_workdir, "<tmp>").replace(self.workdir, "<tmp>")
        s = AUTOLOG_RE.sub(lambda m: f"{m.group('stem')}-<rand>.log", s)
        s = s.replace(f"127.0.0.1:{self.port}", "127.0.0.1:<port>")
        s = s.replace(f"localhost:{self.port}", "localhost:<port>")
        return s

    def value(self, v: Any, key: Optional[str] = None) -> Any:
        if isinstance(v, bool):
            return v
        if isinstance(v, int):
            if key == "pid" and v > 0:
                return "<pid>"
            if key in TIME_KEYS and v > 0:
                return "<time>"
            return v
        if isinstance(v, str):
            if key == "description":
                if UPTIME_RE.match(v):
                    return "pid <pid>, uptime <uptime>"
                if DATE_RE.match(v):
                    return "<date>"
            return self.text(v)
        if isinstance(v, dict):
            return {k: self.value(x, k) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            out = [self.value(x) for x in v]
            if out and all(isinstance(x, dict) and set(x) == RESULT_KEYS for x in out):
                # Result structs of group/all calls arrive in completion order, which is
                # not deterministic even in supervisord: compare them sorted.
                out.sort(key=lambda x: (str(x["group"]), str(x["name"])))
            return out
        if v is None:
            return None
        # double, dateTime, binary: keep a typed marker; they never occur in the reference
        return f"<{type(v).__name__}:{v!r}>"


def typed(placeholder: str, pytype: type) -> Callable[[Any], Any]:
    """Result post-processor: replace a value of `pytype` by `placeholder` (others kept)."""
    def f(v):
        if isinstance(v, pytype) and not isinstance(v, bool) and (v or v == 0):
            return placeholder
        return v
    return f


def fault_code_only(v: Any) -> Any:
    """For faults whose message is implementation prose (e.g. config errors): keep the name."""
    if isinstance(v, dict) and "FAULT" in v:
        return {"FAULT": v["FAULT"], "string": v["string"].split(":", 1)[0]}
    return v


def render(entry: dict) -> str:
    return json.dumps(entry, sort_keys=True, ensure_ascii=False)


class DaemonGone(RuntimeError):
    pass


class Recorder:
    def __init__(self, daemon: Daemon):
        self.d = daemon
        self.norm = Normaliser(daemon)
        self.transcript: list[dict] = []
        self.violations: list[str] = []
        self.proxy = daemon.proxy(timeout=60)
        self.step = ""
        self.stopped_early: Optional[str] = None

    # -- raw call with error capture
    def raw(self, method: str, *args) -> Any:
        """Call `method` (dotted, e.g. 'supervisor.getState'); faults are returned, not raised."""
        try:
            return getattr(self.proxy, method)(*args)
        except xmlrpc.client.Fault as f:
            return {"FAULT": f.faultCode, "string": f.faultString}
        except xmlrpc.client.ProtocolError as e:
            self.proxy = self.d.proxy(timeout=60)  # the connection may be closed after it
            return {"HTTP_ERROR": e.errcode}
        except (OSError, xmlrpc.client.Error, ValueError) as e:
            self.proxy = self.d.proxy(timeout=60)
            if not self.d.alive():
                raise DaemonGone(f"daemon exited (during {method}): {e!r}") from None
            return {"EXCEPTION": type(e).__name__}

    def normalise(self, raw: Any) -> Any:
        if isinstance(raw, dict) and "FAULT" in raw and set(raw) == {"FAULT", "string"}:
            return {"FAULT": raw["FAULT"], "string": self.norm.text(raw["string"])}
        return self.norm.value(raw)

    def add(self, call: str, result: Any) -> None:
        self.transcript.append({"step": self.step, "call": call, "result": result})

    def call(self, method: str, *args, fault: Optional[int] = None, expect: Any = _MISSING,
             post: Optional[Callable[[Any], Any]] = None, label: Optional[str] = None) -> Any:
        """Record one XML-RPC call; return the raw result (faults as dicts)."""
        full = method
        raw = self.raw(full, *args)
        res = self.normalise(raw)
        if post is not None:
            res = post(res)
        call = label or f"{full}({', '.join(repr(a) for a in args)})"
        self.add(call, res)
        if fault is not None:
            if not (isinstance(res, dict) and res.get("FAULT") == fault):
                self.violations.append(f"[{self.step}] {call}: expected fault {fault}, got {res!r}")
        if expect is not _MISSING and res != expect:
            self.violations.append(f"[{self.step}] {call}: expected {expect!r}, got {res!r}")
        return raw

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            self.violations.append(f"[{self.step}] {what}")

    def note(self, call: str, result: Any) -> None:
        """Record a derived observation (e.g. a state sequence) as a transcript entry."""
        self.add(call, result)

    # -- observations by polling
    def info(self, name: str) -> dict:
        v = self.raw("supervisor.getProcessInfo", name)
        return v if isinstance(v, dict) else {}

    def wait_state(self, name: str, states, timeout: float = 20.0) -> Optional[str]:
        """Poll one process until it is in `states`; records the outcome; None on timeout."""
        states = {states} if isinstance(states, str) else set(states)
        seen: list[str] = []

        def pred():
            if not self.d.alive():
                raise DaemonGone("daemon exited while polling")
            s = self.info(name).get("statename")
            if s is not None and (not seen or seen[-1] != s):
                seen.append(s)
            return s in states
        try:
            wait_until(pred, timeout, interval=0.05, what=f"{name} in {sorted(states)}")
            final = seen[-1]
        except DaemonGone:
            raise
        except TimeoutError:
            final = None
        self.note(f"wait {name} in {sorted(states)}", final if final else
                  f"TIMEOUT after {timeout}s, seen {seen}")
        return final

    def state_sequence(self, name: str, final: str, keep: set, timeout: float = 20.0) -> list:
        """Poll until `final`; record the sequence of observed states restricted to `keep`
        with repeats collapsed (so short-lived states a poll may miss do not matter)."""
        seq: list[str] = []

        def pred():
            if not self.d.alive():
                raise DaemonGone("daemon exited while polling")
            s = self.info(name).get("statename")
            if s in keep and (not seq or seq[-1] != s):
                seq.append(s)
            return s == final
        try:
            wait_until(pred, timeout, interval=0.05, what=f"{name} reaching {final}")
            out = seq
        except TimeoutError:
            out = seq + [f"TIMEOUT({timeout}s)"]
        self.note(f"state sequence of {name} until {final} (only {sorted(keep)})", out)
        return out

    def wait_all_settled(self, timeout: float = 20.0) -> None:
        """Poll until no process is STARTING, BACKOFF or STOPPING."""
        def pred():
            if not self.d.alive():
                raise DaemonGone("daemon exited while polling")
            infos = self.raw("supervisor.getAllProcessInfo")
            return isinstance(infos, list) and all(
                i.get("statename") not in ("STARTING", "BACKOFF", "STOPPING") for i in infos)
        try:
            wait_until(pred, timeout, what="all processes settled")
            self.note("wait all settled", True)
        except TimeoutError:
            self.note("wait all settled", f"TIMEOUT after {timeout}s")


def compare_transcripts(ref: list[dict], got: list[dict], ref_name: str = "supervisord",
                        got_name: str = "raftvisord", limit: int = 40) -> list[str]:
    """Entry-by-entry comparison; returns human-readable mismatch descriptions."""
    problems = []
    for i in range(max(len(ref), len(got))):
        a = ref[i] if i < len(ref) else None
        b = got[i] if i < len(got) else None
        if a is None or b is None:
            problems.append(f"#{i}: transcript lengths differ: {ref_name} has {len(ref)} "
                            f"entries, {got_name} has {len(got)}; next entry: "
                            f"{render(a or b)}")
            break
        if a["call"] != b["call"]:
            problems.append(f"#{i}: scenario diverged: {ref_name} called {a['call']}, "
                            f"{got_name} called {b['call']}")
            break
        if render(a["result"]) != render(b["result"]):
            diff = "\n".join(difflib.unified_diff(
                pretty(a["result"]).splitlines(), pretty(b["result"]).splitlines(),
                fromfile=ref_name, tofile=got_name, lineterm="", n=2))
            problems.append(f"#{i} [{a['step']}] {a['call']}\n{diff}")
        if len(problems) >= limit:
            problems.append(f"... stopped after {limit} mismatches")
            break
    return problems


def pretty(v: Any) -> str:
    return json.dumps(v, sort_keys=True, indent=1, ensure_ascii=False)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.monotonic()
    v = fn()
    return v, time.monotonic() - t0


__all__ = ["Recorder", "Normaliser", "DaemonGone", "compare_transcripts", "render", "pretty",
           "typed", "fault_code_only", "namespec", "timed"]
