"""The REST form of the API (supvisorsflask's shape) on the HTTP port of a one-instance
cluster with credentials, so that the `system`, `supervisor` and `supvisors` namespaces are
all there: JSON results and faults, the OpenAPI document checked route by route with a
property-based tester (`schemathesis` from PyPI, a bounded run), and a wrong password
refused on every route of that document."""

from __future__ import annotations

import base64
import http.client
import json
import os
import subprocess

import pytest

import harness
from cluster_harness import one_instance
from conftest import require_impl

USER, PASSWORD = "user", "123"


def request(port: int, method: str, path: str, password: str | None = PASSWORD):
    """`(status, headers, body)`; the body as JSON when it is JSON."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {}
    if password is not None:
        token = base64.b64encode(f"{USER}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    try:
        conn.request(method, path, headers=headers)
        r = conn.getresponse()
        body = r.read().decode()
        if (r.getheader("Content-Type") or "").startswith("application/json"):
            body = json.loads(body)
        return r.status, dict(r.getheaders()), body
    finally:
        conn.close()


@pytest.fixture
def instance(tmp_path):
    require_impl("raftvisord")
    with one_instance(tmp_path / "c", USER, PASSWORD) as s1:
        yield s1


def test_rest_calls_answer_json_and_faults_in_supvisorsflask_shape(instance):
    port = instance.http_port
    assert request(port, "GET", "/supervisor/getState")[2] == {"statecode": 1,
                                                                "statename": "RUNNING"}
    assert request(port, "GET", "/supvisors/supvisors_state")[2]["fsm_statename"] == "OPERATION"
    assert request(port, "GET", "/supvisors/api_version")[2] == "0.14"
    status, _, body = request(port, "POST", "/supvisors/start_process/CONFIG/hello?wait=true")
    assert (status, body) == (200, True)
    status, _, body = request(port, "GET", "/supvisors/process_info/hello")
    assert status == 200 and body[0]["statename"] == "RUNNING", body
    # A fault: its name and text, its code, supvisorsflask's HTTP status.
    status, _, body = request(port, "POST", "/supervisor/startProcess/hello")
    assert (status, body) == (409, {"message": "ALREADY_STARTED: hello", "code": 60})
    status, _, body = request(port, "GET", "/supvisors/application_info/nosuch")
    assert status == 404 and body["code"] == 10 and body["message"].startswith("BAD_NAME: ")
    status, _, body = request(port, "POST", "/supervisor/stopProcess/hello?wiat=false")
    assert status == 400 and body["message"].startswith("INCORRECT_PARAMETERS: unknown query")
    status, headers, _ = request(port, "POST", "/supervisor/getState")
    assert status == 405 and headers.get("allow") == "GET"
    assert request(port, "POST", "/supervisor/stopProcess/hello?wait=false")[2] is True
    # The API page, for a person.
    status, headers, page = request(port, "GET", "/api")
    assert status == 200 and "/supvisors/start_process/&lt;strategy&gt;" in page


def concrete(path: str) -> str:
    """A path of the document with each `{param}` filled (a value of the right type)."""
    out = []
    for segment in path.split("/"):
        if segment.startswith("{"):
            segment = "0" if segment in ("{offset}", "{length}", "{numprocs}") else "x"
        out.append(segment)
    return "/".join(out)


def test_every_route_of_the_openapi_document_refuses_a_wrong_password(instance):
    port = instance.http_port
    status, _, doc = request(port, "GET", "/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    paths = doc["paths"]
    # The three namespaces, generated from the method tables (listMethods says the same).
    methods = request(port, "GET", "/system/listMethods")[2]
    assert "/supvisors/all_process_info" in paths and "supvisors.get_all_process_info" in methods
    assert "/supervisor/startProcess/{name}" in paths and "/system/methodHelp/{name}" in paths
    assert not any("multicall" in p for p in paths)
    # Every method but multicall has its route (supvisors' without the `get_` prefix).
    for full in methods:
        ns, name = full.split(".")
        if full == "system.multicall":
            continue
        if ns == "supvisors" and name.startswith("get_"):
            name = name[len("get_"):]
        base = f"/{ns}/{name}"
        assert any(p == base or p.startswith(base + "/") for p in paths), full
    for path, operations in paths.items():
        for verb in operations:
            url = concrete(path)
            assert request(port, verb.upper(), url, password="wrong")[0] == 401, (verb, url)
            assert request(port, verb.upper(), url, password=None)[0] == 401, (verb, url)
    assert request(port, "GET", "/openapi.json", password="wrong")[0] == 401


def test_schemathesis_finds_nothing_wrong_with_any_route(instance, tmp_path):
    """Every operation of the document, with generated parameters (valid and not), checked
    for server errors, undocumented statuses, content types, response schemas and the
    rejection of invalid data. Bounded: a few examples per operation.

    Left out: the operations that end or restart the cluster or change its membership (the
    run needs it), and the check that every schema-valid request is accepted: some
    constraints are not in the schema (a negative log offset needs a zero length, as in
    Supervisor), and the answer to those is a 400 with a fault, which the other checks
    verify."""
    venv_bin = harness.venv_bin_dir()
    cli = venv_bin / "schemathesis"
    if not cli.exists():
        pytest.fail(f"{cli} is missing: run scripts/setup-python.sh (the test script does)")
    port = instance.http_port
    excluded = r"/(shutdown|restart|restart_sequence|remove_member|add_member)(/|$)"
    cmd = [str(cli), "run", f"http://127.0.0.1:{port}/openapi.json",
           "--auth", f"{USER}:{PASSWORD}",
           "--exclude-path-regex", excluded,
           "--checks", "all", "--exclude-checks", "positive_data_acceptance",
           "--max-examples", "8", "--workers", "1", "--seed", "1",
           "--request-timeout", "30", "--no-color"]
    env = dict(os.environ, SCHEMATHESIS_HOOKS="", HOME=str(tmp_path))
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env,
                              cwd=tmp_path, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"schemathesis did not finish in 600 s:\n{e.stdout}")
    report = done.stdout + done.stderr
    assert done.returncode == 0, report[-8000:]
    # Every selected operation was tested (the document's, less the excluded ones).
    import re
    selected = re.search(r"Selected: (\d+)/(\d+)", report)
    tested = re.search(r"Tested: (\d+)", report)
    assert selected and tested, report[-4000:]
    assert int(tested.group(1)) == int(selected.group(1)) >= 60, report[-4000:]
    # The instance survived it and still answers.
    assert instance.alive()
    assert request(port, "GET", "/supervisor/getState")[0] == 200
