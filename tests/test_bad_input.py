"""Hostile or broken HTTP/XML-RPC input: refused cleanly, daemon and children untouched.

Every case sends raw bytes on a fresh TCP connection, checks the HTTP answer, then checks
that the daemon still answers getState and that the pid of a long-running child did not
change. Cases run against raftvisord; those where supervisord 4.3 behaves acceptably also
run against it as a sanity reference. Cases where the reference is known to misbehave are
raftvisord-only, with the reason in `REFERENCE_DIFFERS`.
"""

from __future__ import annotations

import base64
import re
import socket
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import pytest

import harness
from conftest import require_impl
from harness import Daemon, proc_rss_kb

USER, PASSWORD = "u", "p"
AUTH = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

PROGRAMS = """
[program:sleeper]
command = /bin/sleep 100000
startsecs = 0
"""

# Cases the reference handles badly, so they only run against raftvisord.
REFERENCE_DIFFERS = {
    "empty_body": "supervisord never answers a POST with Content-Length: 0 (medusa waits)",
    "huge_body": "supervisord buffers the whole body in memory before parsing",
    "invalid_utf8": "supervisord drops the connection without any response",
    "garbage_auth_header": "supervisord answers 500 (its base64 decoding raises)",
}


@dataclass
class Response:
    status: Optional[int]
    headers: dict = field(default_factory=dict)
    body: bytes = b""
    elapsed: float = 0.0
    note: str = ""

    def header(self, name: str) -> Optional[str]:
        return self.headers.get(name.lower())


def exchange(port: int, head: bytes, body: bytes = b"", timeout: float = 10.0,
             chunk: int = 1 << 20) -> Response:
    """Send `head` + `body` (streamed in chunks, stopping if the server hangs up) and read
    one HTTP response. status None = connection closed without a response."""
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    note = ""
    try:
        s.sendall(head)
        try:
            for i in range(0, len(body), chunk):
                s.sendall(body[i:i + chunk])
                if time.monotonic() - t0 > timeout:
                    note = "gave up sending the body"
                    break
        except (BrokenPipeError, ConnectionResetError) as e:
            note = f"server stopped reading the body ({type(e).__name__})"
        data = b""
        try:
            while True:
                c = s.recv(65536)
                if not c:
                    break
                data += c
                h, sep, rest = data.partition(b"\r\n\r\n")
                if sep:
                    m = re.search(rb"(?i)content-length:\s*(\d+)", h)
                    if m and len(rest) >= int(m.group(1)):
                        break
                if len(data) > (4 << 20):
                    break
        except socket.timeout:
            note += " (timed out waiting for the response)"
        except ConnectionResetError:
            note += " (connection reset)"
    finally:
        s.close()
    elapsed = time.monotonic() - t0
    h, _, rest = data.partition(b"\r\n\r\n")
    lines = h.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0]) if lines and lines[0] else None
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return Response(int(m.group(1)) if m else None, headers, rest, elapsed, note)


def post_head(length: int, auth: Optional[str] = AUTH, extra: str = "") -> bytes:
    a = f"Authorization: {auth}\r\n" if auth else ""
    return (f"POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\n{a}{extra}"
            f"Content-Length: {length}\r\nConnection: close\r\n\r\n").encode()


def call_xml(method: str, params_xml: str = "") -> bytes:
    return (f"<?xml version='1.0'?><methodCall><methodName>{method}</methodName>"
            f"<params>{params_xml}</params></methodCall>").encode()


def param(v: str) -> str:
    return f"<param><value>{v}</value></param>"


_ENTITIES = ['<!ENTITY lol "lol">'] + [
    f'<!ENTITY lol{i} "{("&lol;" if i == 2 else f"&lol{i - 1};") * 10}">' for i in range(2, 10)]
# "Billion laughs": &lol9; expands to 10^8 * "lol" (300 MB) if entities are expanded.
BOMB = (f'<?xml version="1.0"?><!DOCTYPE lolz [{"".join(_ENTITIES)}]>'
        "<methodCall><methodName>supervisor.getProcessInfo</methodName><params><param>"
        "<value><string>&lol9;</string></value></param></params></methodCall>").encode()


def is_refused(r: Response) -> bool:
    return r.status is not None and 400 <= r.status < 600


def is_fault_or_refused(r: Response) -> bool:
    return is_refused(r) or (r.status == 200 and b"<fault>" in r.body)


@dataclass
class Case:
    name: str
    send: Callable[[int], Response]
    ok: Callable[[Response], bool]
    want: str


def _post(body: bytes, **kw) -> Callable[[int], Response]:
    return lambda port: exchange(port, post_head(len(body), **kw) + body)


CASES = [
    Case("truncated_xml", _post(b"<methodCall><methodName>supervisor.getState</methodName>"
                                b"<params>"), lambda r: r.status == 400, "HTTP 400"),
    Case("malformed_xml", _post(b"<methodCall><methodName>x</methodCall></methodName>"),
         lambda r: r.status == 400, "HTTP 400"),
    Case("not_xml", _post(b"hello world"), lambda r: r.status == 400, "HTTP 400"),
    Case("missing_method_name", _post(b"<?xml version='1.0'?><methodCall><params></params>"
                                      b"</methodCall>"), lambda r: r.status == 400, "HTTP 400"),
    Case("empty_body", _post(b""), lambda r: r.status == 400, "HTTP 400"),
    Case("invalid_utf8", _post(call_xml("supervisor.getProcessInfo",
                                        param("<string>@@</string>")).replace(b"@@", b"\xff\xfe")),
         is_fault_or_refused, "HTTP 4xx/5xx or a fault"),
    Case("get_rpc2", lambda port: exchange(
        port, f"GET /RPC2 HTTP/1.1\r\nHost: localhost\r\nAuthorization: {AUTH}\r\n"
              f"Connection: close\r\n\r\n".encode()), lambda r: r.status == 400, "HTTP 400"),
    Case("garbage_request_line", lambda port: exchange(port, b"BLAH\r\n\r\n", timeout=5),
         lambda r: r.status is None or 400 <= r.status < 600,
         "HTTP 4xx/5xx or the connection closed"),
    Case("unknown_method", _post(call_xml("supervisor.nope")),
         lambda r: r.status == 200 and b"<int>1</int>" in r.body and b"UNKNOWN_METHOD" in r.body,
         "HTTP 200 with fault 1 UNKNOWN_METHOD"),
    Case("wrong_types", _post(call_xml("supervisor.readLog",
                                       param("<string>abc</string>") + param("<int>0</int>"))),
         is_fault_or_refused, "HTTP 4xx/5xx or a fault"),
    Case("bad_int_text", _post(call_xml("supervisor.readLog",
                                        param("<int>abc</int>") + param("<int>0</int>"))),
         is_fault_or_refused, "HTTP 4xx/5xx or a fault"),
    Case("int_overflow", _post(call_xml("supervisor.readLog",
                                        param("<int>99999999999999999999</int>")
                                        + param("<int>0</int>"))),
         is_fault_or_refused, "HTTP 4xx/5xx or a fault"),
    Case("nil_param", _post(call_xml("supervisor.getProcessInfo", param("<nil/>"))),
         is_fault_or_refused, "HTTP 4xx/5xx or a fault"),
    Case("struct_as_name", _post(call_xml(
        "supervisor.startProcess", param("<struct><member><name>a</name><value><int>1</int>"
                                         "</value></member></struct>"))),
         is_fault_or_refused, "HTTP 4xx/5xx or a fault"),
    Case("deep_nesting", _post(call_xml("supervisor.getProcessInfo",
                                        param("<array><data><value>" * 20000
                                              + "<string>x</string>"
                                              + "</value></data></array>" * 20000))),
         is_fault_or_refused, "HTTP 4xx/5xx or a fault, no crash"),
    Case("no_auth", _post(call_xml("supervisor.getState"), auth=None),
         lambda r: r.status == 401
         and r.header("WWW-Authenticate") == 'Basic realm="default"',
         'HTTP 401 + WWW-Authenticate: Basic realm="default"'),
    Case("wrong_password", _post(call_xml("supervisor.getState"),
                                 auth="Basic " + base64.b64encode(b"u:wrong").decode()),
         lambda r: r.status == 401
         and r.header("WWW-Authenticate") == 'Basic realm="default"',
         'HTTP 401 + WWW-Authenticate: Basic realm="default"'),
    Case("garbage_auth_header", _post(call_xml("supervisor.getState"), auth="Basic !!!"),
         lambda r: r.status == 401, "HTTP 401"),
]


@pytest.fixture
def target(daemon_factory) -> tuple[Daemon, int]:
    d = daemon_factory(PROGRAMS, username=USER, password=PASSWORD)
    pid = d.wait_states({"sleeper": "RUNNING"})["sleeper"]["pid"]
    return d, pid


def assert_healthy(d: Daemon, child_pid: int, after: str) -> None:
    assert d.alive(), f"{d.impl} died after {after}\n{d.output_tail()}"
    st = d.proxy(timeout=10).supervisor.getState()
    assert st == {"statecode": 1, "statename": "RUNNING"}, f"after {after}: getState -> {st}"
    info = d.proxy(timeout=10).supervisor.getProcessInfo("sleeper")
    assert (info["statename"], info["pid"]) == ("RUNNING", child_pid), (
        f"after {after}: the child was disturbed: {info}")


def impls_for(name: str) -> list[str]:
    """The implementations a case runs against: raftvisord-only where the reference differs
    (not generated for supervisord rather than skipped there)."""
    return [i for i in harness.IMPLS if not (i == "supervisord" and name in REFERENCE_DIFFERS)]


@pytest.mark.parametrize("impl,case", [(i, c) for c in CASES for i in impls_for(c.name)],
                         ids=[f"{i}-{c.name}" for c in CASES for i in impls_for(c.name)])
def test_bad_request_is_refused_and_harmless(impl, case: Case, target):
    require_impl(impl)
    d, pid = target
    r = case.send(d.port)
    assert case.ok(r), (f"{case.name} against {impl}: wanted {case.want}; got status "
                        f"{r.status} headers {r.headers} body {r.body[:300]!r} {r.note}")
    assert r.elapsed < 10, f"{case.name}: answered after {r.elapsed:.1f}s"
    assert_healthy(d, pid, case.name)


@pytest.mark.parametrize("impl", impls_for("huge_body"))
def test_huge_body_is_refused_quickly(impl, target):
    """A 100 MB body is refused with an HTTP error (413/400) without being buffered."""
    require_impl(impl)
    d, pid = target
    rss_before = proc_rss_kb(d.pid) or 0
    body = b"<" * (100 << 20)
    r = exchange(d.port, post_head(len(body)), body, timeout=15)
    assert r.status is not None and 400 <= r.status < 500, (
        f"100 MB body: wanted HTTP 4xx (413 or 400), got {r.status} {r.body[:200]!r} {r.note}")
    assert r.elapsed < 10, f"100 MB body refused only after {r.elapsed:.1f}s"
    assert_healthy(d, pid, "a 100 MB body")
    grown = (proc_rss_kb(d.pid) or 0) - rss_before
    assert grown < 64 * 1024, f"RSS grew by {grown} KiB after a refused 100 MB body"


def test_entity_expansion_bomb_is_refused(impl, target):
    d, pid = target
    rss_before = proc_rss_kb(d.pid) or 0
    r = exchange(d.port, post_head(len(BOMB)) + BOMB, timeout=10)
    assert is_fault_or_refused(r), f"entity bomb: got {r.status} {r.body[:200]!r} {r.note}"
    assert len(r.body) < (1 << 20), f"entity bomb: {len(r.body)} byte response (expanded?)"
    assert_healthy(d, pid, "an entity-expansion bomb")
    grown = (proc_rss_kb(d.pid) or 0) - rss_before
    if impl != "supervisord":  # the reference grows ~66 MB here before expat gives up
        assert grown < 32 * 1024, f"RSS grew by {grown} KiB after an entity-expansion bomb"


def test_many_bad_requests_then_good_ones(impl, target):
    """A burst of junk on many connections leaves the daemon serving normal calls."""
    d, pid = target
    for i in range(50):
        exchange(d.port, post_head(7) + b"garbage", timeout=5)
    assert_healthy(d, pid, "50 junk requests")
    p = d.proxy()
    for _ in range(20):
        assert p.supervisor.getAPIVersion() == "3.0"
