"""`GET /metrics`: the Prometheus metrics of a daemon, read with the Prometheus text-format
parser of the `prometheus_client` Python package (installed by scripts/setup-python.sh).

One daemon without a cluster shows its processes and the XML-RPC calls it served, behind the
same basic auth as the rest; a 3-instance cluster shows on every instance the whole cluster
(instances, processes on each instance), one Raft leader with each member's replication lag,
and the event subscribers of the HTTP port."""

from __future__ import annotations

import base64
import http.client
import xmlrpc.client

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cluster_harness import Cluster
from conftest import require_impl
from harness import wait_until

PROGRAMS = """
[program:hello]
command = sleep 1000
autostart = false
startsecs = 0
autorestart = false
"""


def scrape(port: int, auth: tuple[str, str] | None = None) -> tuple[int, str, str]:
    """`(status, content type, body)` of `GET /metrics`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {}
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    try:
        conn.request("GET", "/metrics", headers=headers)
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type") or "", r.read().decode()
    finally:
        conn.close()


def samples(text: str) -> dict[str, list[tuple[dict, float]]]:
    """Every sample by name, as the Prometheus text parser reads them."""
    out: dict[str, list[tuple[dict, float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def value(parsed, metric: str, **labels) -> float | None:
    for got, v in parsed.get(metric, []):
        if all(got.get(k) == w for k, w in labels.items()):
            return v
    return None


def test_a_daemon_shows_its_processes_and_the_calls_it_served(raftvisord_factory):
    d = raftvisord_factory(PROGRAMS, username="user", password="123")
    proxy = d.proxy()
    before = samples(scrape(d.port, ("user", "123"))[2])
    got_state = value(before, "raftvisor_rpc_calls_total", method="supervisor.getState",
                      outcome="ok") or 0  # the harness polls getState until the daemon answers
    assert value(before, "raftvisor_process_state", name="hello", state="STOPPED") == 1
    assert value(before, "raftvisor_process_starts_total", name="hello") is None
    assert proxy.supervisor.startProcess("hello") is True
    for _ in range(3):
        proxy.supervisor.getState()
    with pytest.raises(xmlrpc.client.Fault):
        proxy.supervisor.startProcess("nosuch")
    with pytest.raises(xmlrpc.client.Fault):
        proxy.no.such_method()

    status, content_type, text = scrape(d.port, ("user", "123"))
    assert status == 200, text
    assert content_type.startswith("text/plain; version=0.0.4"), content_type
    m = samples(text)
    assert value(m, "raftvisor_process_state", group="hello", name="hello",
                 state="RUNNING") == 1, text
    assert value(m, "raftvisor_process_uptime_seconds", name="hello") >= 0
    assert value(m, "raftvisor_process_starts_total", group="hello", name="hello") == 1
    assert value(m, "raftvisor_rpc_calls_total", method="supervisor.getState",
                 outcome="ok") == got_state + 3
    assert value(m, "raftvisor_rpc_calls_total", method="supervisor.startProcess",
                 outcome="fault") == 1
    # A method no one has is counted under one name, whatever the client sent.
    assert value(m, "raftvisor_rpc_calls_total", method="unknown", outcome="fault") == 1
    assert value(m, "raftvisor_rpc_duration_seconds_count",
                 method="supervisor.getState") == got_state + 3
    # No cluster, no cluster series.
    assert not [k for k in m if "raft_" in k or "event" in k or "jobs" in k], sorted(m)

    # Same credentials as the rest of the HTTP port.
    assert scrape(d.port)[0] == 401
    assert scrape(d.port, ("user", "wrong"))[0] == 401


@pytest.fixture
def cluster(tmp_path):
    require_impl("raftvisord")
    c = Cluster(tmp_path / "c", ["s1", "s2", "s3"], PROGRAMS, loglevel="info")
    yield c
    c.stop_checked()


def test_every_instance_shows_the_cluster_and_its_raft_positions(cluster):
    from test_events import SseReader
    cluster.start()
    cluster.wait_operation(timeout=30)
    cluster.wait_all_running(timeout=30)
    assert cluster["s1"].proxy().supervisor.startProcess("hello") is True

    def hello_running_everywhere():
        parsed = {i: samples(scrape(cluster[i].http_port)[2]) for i in ("s1", "s2", "s3")}
        ok = all(value(m, "raftvisor_process_state", instance="s1", name="hello",
                       state="RUNNING") == 1 for m in parsed.values())
        return parsed if ok else None

    parsed = wait_until(hello_running_everywhere, 20, interval=0.1,
                        what="hello RUNNING on s1 in every instance's metrics")
    for ident, m in parsed.items():
        assert value(m, "raftvisor_supvisors_state", state="OPERATION") == 1, ident
        for other in ("s1", "s2", "s3"):
            assert value(m, "raftvisor_instance_state", instance=other,
                         state="RUNNING") == 1, (ident, other)
            assert value(m, "raftvisor_instance_load_percent", instance=other) is not None
        assert value(m, "raftvisor_jobs_in_progress", kind="starting") is not None
    leaders = [i for i, m in parsed.items() if value(m, "raftvisor_raft_is_leader") == 1]
    assert len(leaders) == 1, leaders
    leader = leaders[0]
    terms = {value(m, "raftvisor_raft_term") for m in parsed.values()}
    assert len(terms) == 1 and terms.pop() >= 1
    for ident, m in parsed.items():
        assert value(m, "raftvisor_raft_leader", leader=leader) == 1, ident
        assert value(m, "raftvisor_raft_applied_index") >= 1
    lm = parsed[leader]
    assert value(lm, "raftvisor_raft_commit_index") <= value(lm, "raftvisor_raft_last_log_index")
    lags = {labels["member"]: v for labels, v in lm["raftvisor_raft_replication_lag"]}
    assert set(lags) == {"s1", "s2", "s3"} and all(v >= 0 for v in lags.values()), lags
    # Only the leader reports replication.
    assert all("raftvisor_raft_replication_lag" not in m
               for i, m in parsed.items() if i != leader)
    # The process started on s1 counts there only.
    assert value(parsed["s1"], "raftvisor_process_starts_total", name="hello") == 1
    assert value(parsed["s2"], "raftvisor_process_starts_total", name="hello") is None

    # An SSE subscriber of s2 is counted while it listens.
    port = cluster["s2"].http_port
    sse = SseReader(port)
    try:
        wait_until(lambda: value(samples(scrape(port)[2]), "raftvisor_event_subscribers") == 1,
                   10, interval=0.1, what="s2 counting its SSE subscriber")
    finally:
        sse.close()
    wait_until(lambda: value(samples(scrape(port)[2]), "raftvisor_event_subscribers") == 0,
               10, interval=0.1, what="s2 seeing its SSE subscriber gone")
