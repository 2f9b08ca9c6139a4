"""The read-only user (`readonly_username`/`readonly_password` in `[inet_http_server]`): on a
one-instance cluster, so that the `system`, `supervisor` and `supvisors` namespaces, REST, the
events and the metrics are all there. The viewer reads everything and changes nothing, through
XML-RPC (a FAILED fault, entry by entry in a multicall), REST (403) and the real
supervisorctl; the full user still changes everything; a wrong password gets 401."""

from __future__ import annotations

import base64
import http.client
import json
import subprocess
import xmlrpc.client

import pytest

import harness
from cluster_harness import one_instance
from conftest import require_impl

USER, PASSWORD = "admin", "123"
VIEWER, LOOK = "viewer", "look"
REFUSED = "refused to a read-only user"


def request(port: int, method: str, path: str, user: str, password: str,
            read_all: bool = True):
    """`(status, body)`; the body as JSON when it is JSON. `read_all=False` for a stream:
    only its status, then the connection is closed."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    try:
        conn.request(method, path, headers={"Authorization": f"Basic {token}"})
        r = conn.getresponse()
        if not read_all:
            return r.status, None
        body = r.read().decode()
        if (r.getheader("Content-Type") or "").startswith("application/json"):
            body = json.loads(body)
        return r.status, body
    finally:
        conn.close()


def proxy(port: int, user: str, password: str) -> xmlrpc.client.ServerProxy:
    return xmlrpc.client.ServerProxy(f"http://{user}:{password}@127.0.0.1:{port}/RPC2",
                                     transport=harness._TimeoutTransport(30))


@pytest.fixture
def instance(tmp_path):
    require_impl("raftvisord")
    viewer = f"readonly_username = {VIEWER}\nreadonly_password = {LOOK}"
    with one_instance(tmp_path / "c", USER, PASSWORD, inet_extra=viewer) as s1:
        yield s1


def hello_state(port: int) -> str:
    return proxy(port, USER, PASSWORD).supervisor.getProcessInfo("hello")["statename"]


def test_the_viewer_reads_everything_over_xmlrpc_and_changes_nothing(instance):
    port = instance.http_port
    viewer = proxy(port, VIEWER, LOOK)
    assert viewer.supervisor.getState()["statename"] == "RUNNING"
    assert viewer.supvisors.get_supvisors_state()["fsm_statename"] == "OPERATION"
    assert "supervisor.startProcess" in viewer.system.listMethods()
    assert viewer.supervisor.getProcessInfo("hello")["statename"] == "STOPPED"
    for call in (lambda: viewer.supervisor.startProcess("hello"),
                 lambda: viewer.supvisors.start_process("CONFIG", "hello", "", True),
                 lambda: viewer.supvisors.restart(),
                 lambda: viewer.supervisor.shutdown()):
        with pytest.raises(xmlrpc.client.Fault) as e:
            call()
        assert e.value.faultCode == 30 and REFUSED in e.value.faultString, e.value
    # In a multicall, entry by entry.
    results = viewer.system.multicall([
        {"methodName": "supervisor.getState", "params": []},
        {"methodName": "supervisor.startProcess", "params": ["hello"]},
    ])
    assert results[0]["statename"] == "RUNNING", results
    assert results[1]["faultCode"] == 30 and REFUSED in results[1]["faultString"], results
    assert hello_state(port) == "STOPPED"
    assert instance.proxy().supvisors.get_supvisors_state()["fsm_statename"] == "OPERATION"
    # The full user still may.
    assert proxy(port, USER, PASSWORD).supervisor.startProcess("hello") is True
    assert hello_state(port) == "RUNNING"
    with pytest.raises(xmlrpc.client.Fault):
        viewer.supervisor.stopProcess("hello")
    assert hello_state(port) == "RUNNING"


def test_the_viewer_reads_rest_events_metrics_and_logs_and_gets_403_on_commands(instance):
    port = instance.http_port
    assert request(port, "GET", "/supervisor/getState", VIEWER, LOOK) == (
        200, {"statecode": 1, "statename": "RUNNING"})
    status, body = request(port, "GET", "/supvisors/all_process_info", VIEWER, LOOK)
    assert status == 200 and body[0]["process_name"] == "hello", body
    status, body = request(port, "POST", "/supvisors/start_process/CONFIG/hello", VIEWER, LOOK)
    assert status == 403 and REFUSED in body["message"] and body["code"] == 30, body
    status, body = request(port, "POST", "/supervisor/startProcess/hello", VIEWER, LOOK)
    assert status == 403, body
    assert hello_state(port) == "STOPPED"
    status, body = request(port, "GET", "/metrics", VIEWER, LOOK)
    assert status == 200 and "raftvisor" in body
    assert request(port, "GET", "/events", VIEWER, LOOK, read_all=False)[0] == 200
    assert request(port, "GET", "/mainlogtail", VIEWER, LOOK, read_all=False)[0] == 200
    assert request(port, "GET", "/", VIEWER, LOOK)[0] == 200
    # A wrong password, or the viewer's name with the full user's password: nothing.
    for user, password in ((VIEWER, "wrong"), (VIEWER, PASSWORD), (USER, LOOK)):
        assert request(port, "GET", "/supervisor/getState", user, password)[0] == 401
        assert request(port, "GET", "/events", user, password, read_all=False)[0] == 401
        with pytest.raises(xmlrpc.client.ProtocolError) as e:
            proxy(port, user, password).supervisor.getState()
        assert e.value.errcode == 401
    status, body = request(port, "POST", "/supervisor/startProcess/hello", USER, PASSWORD)
    assert (status, body) == (200, True)


def supervisorctl(instance, user: str, password: str, *args: str):
    return subprocess.run(
        [str(harness.supervisorctl_path()), "-s", f"http://127.0.0.1:{instance.http_port}",
         "-u", user, "-p", password, *args],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_the_real_supervisorctl_as_the_viewer(instance):
    out = supervisorctl(instance, VIEWER, LOOK, "status")
    assert "hello" in out.stdout and "STOPPED" in out.stdout, out
    # supervisorctl's start knows no FAILED result: it reports an error (the code) and fails.
    out = supervisorctl(instance, VIEWER, LOOK, "start", "hello")
    assert "error" in out.stdout and out.returncode != 0, out
    assert hello_state(instance.http_port) == "STOPPED"
    out = supervisorctl(instance, USER, PASSWORD, "start", "hello")
    assert "hello: started" in out.stdout, out
    # Its stop prints a FAILED result's text.
    out = supervisorctl(instance, VIEWER, LOOK, "stop", "hello")
    assert REFUSED in out.stdout and out.returncode != 0, out
    assert hello_state(instance.http_port) == "RUNNING"
