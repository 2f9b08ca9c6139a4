"""The event interface, end to end, against 3 raftvisord instances: Supvisors 0.14's own
Python subscriber (`supvisors.client.subscriber.SupvisorsEventInterface`, from the Supvisors
0.14 venv made by scripts/setup-supvisors.sh) on an `event_port` published as 0.14 does
(ZeroMQ PUB on 127.0.0.1, two frames: header, JSON body), a WebSocket client (`event_link =
WS`, Python's `websockets`) and a Server-Sent Events client of the HTTP port.

The subscribers listen to s2 and s3 while the processes run on s1: every instance publishes
the whole cluster's events from its replica. Each subscriber gets each kind, with the fields
0.14 sends, after a start, a crash, a stop through Supvisors (a job, so a `supvisors` status
change), a conflict and its conciliation, a removal, and the loss of an instance."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from cluster_harness import Cluster, free_ports
from conftest import require_impl
from harness import wait_until

ROOT = Path(__file__).resolve().parent.parent

# `slow_stop` takes a second to stop (it traps SIGTERM), so the stop job it is part of is in
# the replicated state long enough for the `supvisors` status to show it.
PROGRAMS = """
[program:hello]
command = sleep 1000
autostart = false
startsecs = 0
autorestart = false

[program:slow_stop]
command = bash -c 'trap "sleep 1; exit 0" TERM; while true; do sleep 0.1; done'
autostart = false
startsecs = 0
autorestart = false

[program:twin]
command = sleep 1000
autostart = false
startsecs = 0
autorestart = false
"""

# Supvisors 0.14's bodies, key for key (supvisors/context.py, listener.py, *.serial()).
SUPVISORS_KEYS = {"fsm_statecode", "fsm_statename", "starting_jobs", "stopping_jobs"}
INSTANCE_KEYS = {"identifier", "node_name", "port", "statecode", "statename",
                 "sequence_counter", "remote_time", "local_time", "loading",
                 "fsm_statecode", "fsm_statename", "starting_jobs", "stopping_jobs"}
APPLICATION_KEYS = {"application_name", "managed", "statecode", "statename",
                    "major_failure", "minor_failure"}
PROCESS_KEYS = {"application_name", "process_name", "statecode", "statename",
                "expected_exit", "last_event_time", "identifiers", "extra_args"}
EVENT_KEYS = {"name", "group", "state", "now", "pid", "expected", "spawnerr", "extra_args",
              "disabled", "identifier"}


def supvisors_python() -> Path:
    venv = Path(os.environ.get("RAFTVISOR_SUPVISORS_VENV", ROOT / ".venv-supvisors"))
    python = venv / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{python} is missing: run scripts/setup-supvisors.sh (the test script does)")
    return python


class Recorded:
    """The messages the 0.14 subscriber wrote, read again at each poll."""

    def __init__(self, path: Path):
        self.path = path

    def all(self) -> list[tuple[str, dict]]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            if line.strip():
                header, body = json.loads(line)
                out.append((header, body))
        return out

    def wait(self, what: str, match, timeout: float = 20.0, after: int = 0) -> int:
        """Index of the first message from `after` on that `match(header, body)` accepts."""
        def found():
            for i, (header, body) in enumerate(self.all()[after:], start=after):
                if match(header, body):
                    return i + 1
            return None
        try:
            return wait_until(found, timeout, interval=0.05, what=what) - 1
        except TimeoutError as e:
            raise TimeoutError(f"{e}; received: {self.all()[after:][-30:]}") from None


# `twin` is managed (its application is in the rules), so running it on two instances is a
# conflict, which a conciliation resolves.
RULES = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<root>
  <application name="twin">
    <starting_strategy>CONFIG</starting_strategy>
  </application>
</root>
"""


@pytest.fixture
def cluster(tmp_path):
    require_impl("raftvisord")
    ports = free_ports(3)
    rules = tmp_path / "rules.xml"
    rules.write_text(RULES)
    # s1 and s2 publish as 0.14 does (ZeroMQ), s3 as 0.16+ with `event_link = WS`.
    links = {"s1": {}, "s2": {}, "s3": {"event_link": "WS"}}
    c = Cluster(tmp_path / "c", ["s1", "s2", "s3"], PROGRAMS, loglevel="info",
                overrides={ident: {"event_port": port, "rules_files": str(rules),
                                   "conciliation_strategy": "USER", **links[ident]}
                           for ident, port in zip(["s1", "s2", "s3"], ports)})
    c.event_ports = dict(zip(["s1", "s2", "s3"], ports))
    yield c
    c.stop_checked()


@pytest.fixture
def subscriber(tmp_path):
    """`subscribe(port) -> Recorded`; every subscriber started is stopped (by PID) at the end."""
    procs: list[subprocess.Popen] = []

    def subscribe(port: int) -> Recorded:
        out = tmp_path / f"events-{port}.jsonl"
        proc = subprocess.Popen(
            [str(supvisors_python()), str(ROOT / "tests" / "event_recorder.py"), str(port),
             str(out), str(tmp_path / f"subscriber-{port}.log")],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        return Recorded(out)

    yield subscribe
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def test_every_subscriber_receives_every_kind_from_another_instance(cluster, subscriber):
    """Three subscribers follow the same scenario on instances where no process runs:
    Supvisors 0.14's own subscriber (ZeroMQ, s2), a Server-Sent Events client (s2's HTTP port)
    and a WebSocket client (`websockets`, s3, `event_link = WS`)."""
    cluster.start()
    cluster.wait_operation(timeout=30)
    cluster.wait_all_running(timeout=30)
    readers = {"zmq": subscriber(cluster.event_ports["s2"]),
               "sse": SseReader(cluster["s2"].http_port),
               "ws": WsReader(cluster.event_ports["s3"], "all")}
    try:
        scenario(cluster, readers)
    finally:
        readers["sse"].close()
        readers["ws"].close()


def scenario(cluster, readers: dict) -> None:
    def seen(what: str, match, after: dict | None = None) -> dict:
        """Each reader's index of its first message from `after` on that matches."""
        return {name: r.wait(f"{name}: {what}", match, after=(after or {}).get(name, 0))
                for name, r in readers.items()}

    def message(at: dict, offset: int = 0) -> dict:
        """Each reader's message at its index plus `offset`: the same one everywhere."""
        got = {name: readers[name].all()[i + offset] for name, i in at.items()}
        assert len({json.dumps(m, sort_keys=True) for m in got.values()}) == 1, got
        return got["zmq"]

    # Connected once an instance status comes (each instance's tick is committed every 5 s).
    i = seen("an instance status", lambda h, b: h == "instance")
    for name, r in readers.items():
        header, body = r.all()[i[name]]
        assert set(body) == INSTANCE_KEYS, (name, body)
        assert body["identifier"] in {"s1", "s2", "s3"} and body["statename"] == "RUNNING"

    # A start on s1: the event, then the process status, then the application's.
    s1 = cluster["s1"].proxy()
    assert s1.supervisor.startProcess("hello") is True
    i = seen("hello RUNNING on s1",
             lambda h, b: h == "event" and b["name"] == "hello" and b["state"] == 20, after=i)
    header, event = message(i)
    assert set(event) == EVENT_KEYS, event
    assert event["identifier"] == "s1" and event["group"] == "hello" and event["pid"] > 0
    (h1, process), (h2, application) = message(i, 1), message(i, 2)
    assert (h1, h2) == ("process", "application")
    assert set(process) == PROCESS_KEYS and set(application) == APPLICATION_KEYS
    assert process["process_name"] == "hello" and process["statename"] == "RUNNING"
    assert process["identifiers"] == ["s1"]
    assert application["application_name"] == "hello"

    # A crash: EXITED, not expected.
    os.kill(event["pid"], signal.SIGKILL)
    i = seen("hello EXITED on s1",
             lambda h, b: h == "event" and b["name"] == "hello" and b["state"] == 100, after=i)
    assert message(i)[1]["expected"] is False

    # A stop through Supvisors is a job: the cluster's status shows it, then no more.
    assert s1.supervisor.startProcess("slow_stop") is True
    i = seen("slow_stop RUNNING",
             lambda h, b: h == "event" and b["name"] == "slow_stop" and b["state"] == 20,
             after=i)
    assert s1.supvisors.stop_process("slow_stop", True) is True
    j = seen("a stopping job", lambda h, b: h == "supvisors" and b["stopping_jobs"], after=i)
    assert set(message(j)[1]) == SUPVISORS_KEYS
    seen("slow_stop STOPPED",
         lambda h, b: h == "event" and b["name"] == "slow_stop" and b["state"] == 0, after=i)
    seen("the job over", lambda h, b: h == "supvisors" and not b["stopping_jobs"], after=j)

    # A conflict (a managed program running on two instances): CONCILIATION, then a user's
    # conciliation stops both copies and the cluster is back in OPERATION.
    assert s1.supervisor.startProcess("twin") is True
    assert cluster["s2"].proxy().supervisor.startProcess("twin") is True
    c = seen("CONCILIATION",
             lambda h, b: h == "supvisors" and b["fsm_statename"] == "CONCILIATION", after=i)
    assert cluster["s2"].proxy().supvisors.conciliate("STOP") is True
    for ident in ("s1", "s2"):
        seen(f"twin STOPPED on {ident}",
             lambda h, b, ident=ident: h == "event" and b["name"] == "twin"
             and b["state"] == 0 and b["identifier"] == ident, after=c)
    seen("OPERATION again",
         lambda h, b: h == "supvisors" and b["fsm_statename"] == "OPERATION", after=c)

    # A program removed from every instance: an event of state -1 from each, then the
    # process's status DELETED (statecode -1) once no instance has it.
    for ident in ("s1", "s2", "s3"):
        assert cluster[ident].proxy().supervisor.removeProcessGroup("hello") is True
    for ident in ("s1", "s2", "s3"):
        seen(f"hello removed from {ident}",
             lambda h, b, ident=ident: h == "event" and b["name"] == "hello"
             and b["state"] == -1 and b["identifier"] == ident, after=i)
    k = seen("hello DELETED",
             lambda h, b: h == "process" and b["process_name"] == "hello"
             and b["statecode"] == -1, after=i)
    deleted = {name: readers[name].all()[at] for name, at in k.items()}
    # Each instance dates the removal when its replica applies it, as Supervisor's listener
    # dates what it sees: s2's readers and s3's may straddle a second (seen once in CI).
    times = {name: body["last_event_time"] for name, (_, body) in deleted.items()}
    assert max(times.values()) - min(times.values()) <= 1, times
    undated = {json.dumps([h, {**b, "last_event_time": 0}], sort_keys=True)
               for h, b in deleted.values()}
    assert len(undated) == 1, deleted
    assert deleted["zmq"][1]["statename"] == "DELETED"

    # The loss of an instance: the one the processes ran on turns SILENT at the others'.
    cluster["s1"].kill9()
    seen("s1 SILENT",
         lambda h, b: h == "instance" and b["identifier"] == "s1"
         and b["statename"] == "SILENT", after=i)


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process `pid` listens on (its socket inodes in /proc/net/tcp{,6})."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_the_event_port_is_bound_only_when_the_config_asks(tmp_path, cluster):
    """With `event_port`, the instance listens on it; without `event_port` nor `event_link`,
    on its HTTP and internal ports only (Supvisors 0.14 would bind the HTTP port + 2: another
    instance's HTTP port in a cluster on consecutive ports)."""
    cluster.start()
    s1 = cluster["s1"]
    wait_until(lambda: cluster.event_ports["s1"] in listening_ports(s1.proc.pid), 10,
               what="s1 listening on its event port")
    plain = Cluster(tmp_path / "plain", ["p1"], PROGRAMS, loglevel="info")
    try:
        plain.start()
        p1 = plain["p1"]
        assert listening_ports(p1.proc.pid) == {p1.http_port, p1.internal_port}
    finally:
        plain.stop()


class Received:
    """`all()` and `wait()` over the messages a reader thread appends to `received`, as
    `Recorded` offers them for the 0.14 subscriber's file."""

    received: list[tuple[str, dict]]

    def all(self) -> list[tuple[str, dict]]:
        return list(self.received)

    def wait(self, what: str, match, timeout: float = 20.0, after: int = 0) -> int:
        return Recorded.wait(self, what, match, timeout, after)


class SseReader(Received):
    """Reads `GET /events` (Server-Sent Events) of one instance in a thread of its own; each
    event is kept as `(name, data as JSON)`. An HTTP/1.0 request, so that the body is the
    stream itself (no chunked framing) until the connection closes."""

    def __init__(self, port: int):
        import socket
        import threading
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.sendall(b"GET /events HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        self.file = self.sock.makefile("rb")
        self.status_line = self.file.readline().decode()
        self.headers: dict[str, str] = {}
        while True:
            line = self.file.readline().decode().strip()
            if not line:
                break
            key, _, value = line.partition(":")
            self.headers[key.strip().lower()] = value.strip()
        self.received: list[tuple[str, dict]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        name = None
        try:
            for raw in self.file:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    name = line[len("event: "):]
                elif line.startswith("data: ") and name is not None:
                    self.received.append((name, json.loads(line[len("data: "):])))
                    name = None
        except (OSError, ValueError):
            return  # closed by `close`

    def close(self) -> None:
        import socket
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(timeout=10)
        self.file.close()
        self.sock.close()


def test_server_sent_events_on_the_http_port_carry_the_same_messages(make_cluster_plain):
    cluster = make_cluster_plain
    cluster.start()
    cluster.wait_operation(timeout=30)
    cluster.wait_all_running(timeout=30)
    sse = SseReader(cluster["s2"].http_port)
    try:
        assert sse.status_line.split()[1] == "200", sse.status_line
        assert sse.headers["content-type"] == "text/event-stream"
        s1 = cluster["s1"].proxy()
        assert s1.supervisor.startProcess("hello") is True
        wait_until(lambda: any(h == "event" and b["name"] == "hello" and b["state"] == 20
                               for h, b in sse.received),
                   20, interval=0.05, what="hello RUNNING over SSE")
        i = next(k for k, (h, b) in enumerate(sse.received)
                 if h == "event" and b["name"] == "hello" and b["state"] == 20)
        (h0, event), (h1, process), (h2, application) = sse.received[i:i + 3]
        assert (h1, h2) == ("process", "application")
        assert set(event) == EVENT_KEYS and event["identifier"] == "s1"
        assert set(process) == PROCESS_KEYS and process["statename"] == "RUNNING"
        assert set(application) == APPLICATION_KEYS
    finally:
        sse.close()


@pytest.fixture
def make_cluster_plain(tmp_path):
    """3 instances without any event option: the HTTP port's events need none."""
    require_impl("raftvisord")
    c = Cluster(tmp_path / "sse", ["s1", "s2", "s3"], PROGRAMS, loglevel="info")
    yield c
    c.stop()


class WsReader(Received):
    """A WebSocket client of one instance's event port (Python's `websockets`, the library
    Supvisors' own WebSocket subscriber uses), reading in a thread of its own; each message
    is kept as `(header, body)` from its JSON `[header, body]`."""

    def __init__(self, port: int, path: str):
        import threading
        from websockets.sync.client import connect
        # Pings every half second: the server must answer them while it has nothing to send.
        self.ws = connect(f"ws://127.0.0.1:{port}/{path}", open_timeout=10,
                          ping_interval=0.5, ping_timeout=5)
        self.received: list[tuple[str, dict]] = []
        self.closed_because: Exception | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for text in self.ws:
                header, body = json.loads(text)
                self.received.append((header, body))
        except Exception as e:  # the connection's end, kept for the assertions
            self.closed_because = e

    def close(self) -> None:
        self.ws.close()
        self.thread.join(timeout=10)


@pytest.fixture
def ws_cluster(tmp_path):
    """3 instances with `event_link = WS`, as Supvisors 0.16+ configures it."""
    require_impl("raftvisord")
    ports = free_ports(3)
    c = Cluster(tmp_path / "ws", ["s1", "s2", "s3"], PROGRAMS, loglevel="info",
                overrides={ident: {"event_link": "WS", "event_port": port}
                           for ident, port in zip(["s1", "s2", "s3"], ports)})
    c.event_ports = dict(zip(["s1", "s2", "s3"], ports))
    yield c
    c.stop_checked()


def test_websocket_clients_get_the_headers_of_their_path(ws_cluster):
    """Supvisors 0.16's `event_link = WS`: `ws://host:event_port/<h1>/<h2>` or `/all`, each
    message a JSON `[header, body]`, from an instance other than the process's."""
    cluster = ws_cluster
    cluster.start()
    cluster.wait_operation(timeout=30)
    cluster.wait_all_running(timeout=30)
    port = cluster.event_ports["s2"]
    chosen = WsReader(port, "event/process")
    everything = WsReader(port, "all")
    try:
        s1 = cluster["s1"].proxy()
        assert s1.supervisor.startProcess("hello") is True

        def running(r: WsReader):
            return next((k for k, (h, b) in enumerate(r.received)
                         if h == "event" and b["name"] == "hello" and b["state"] == 20), None)

        wait_until(lambda: running(chosen) is not None and running(everything) is not None,
                   20, interval=0.05, what="hello RUNNING over both WebSockets")
        i = running(everything)
        (_, event), (h1, process), (h2, application) = everything.received[i:i + 3]
        assert (h1, h2) == ("process", "application")
        assert set(event) == EVENT_KEYS and event["identifier"] == "s1"
        assert set(process) == PROCESS_KEYS and process["statename"] == "RUNNING"
        assert set(application) == APPLICATION_KEYS
        j = running(chosen)
        assert chosen.received[j + 1] == ("process", process)
        # Every instance's status comes at its ticks (about every 5 s), to `all` only; the
        # pings of both clients were answered meanwhile (or their connections would be gone).
        wait_until(lambda: {b["identifier"] for h, b in everything.received
                            if h == "instance"} == {"s1", "s2", "s3"},
                   20, interval=0.1, what="the 3 instances' statuses over /all")
        assert {h for h, _ in chosen.received} <= {"event", "process"}, chosen.received
        assert chosen.closed_because is None and everything.closed_because is None
    finally:
        chosen.close()
        everything.close()
