"""A real partition: three raftvisord hosts, each in its own network namespace on a bridge
(`netns_harness`), configured as a Supvisors user would (no raftvisor timing option). The host
running a SINGLE_INSTANCE sequence loses its link (`ip link set … down`: packets vanish, no
RST). Checked from the real processes (/proc, attributed to hosts by network namespace):

* no program of the sequence ever runs on two hosts: the cut-off host fences itself (its
  programs ignore SIGTERM and have stopwaitsecs = 30, so only the fence's SIGKILL bound gets
  them down in time) before the majority restarts the sequence elsewhere;
* the majority does restart it;
* after the heal, one copy of each program, every host in OPERATION, with no user action.

Needs root and `ip`: without them the test FAILS (it never skips), as it does without the
raftvisord binary.
"""

from __future__ import annotations

import random
import time

import pytest

import harness
from harness import HarnessError
from netns_harness import Lab, require_root_and_ip, sample_until

SECRET = "netns-partition-secret"
HOSTS = ["h1", "h2", "h3"]
NAMES = ["first", "second", "third"]


def programs(marks: dict[str, int]) -> str:
    out = ["[group:seq]", "programs = " + ",".join(NAMES), ""]
    for name in NAMES:
        # SIGTERM stays ignored across the exec: only a SIGKILL stops it before 30 s.
        out += [
            f"[program:{name}]",
            f"command = /bin/sh -c \"trap '' TERM; exec /bin/sleep {marks[name]}\"",
            "autostart = false",
            "startsecs = 1",
            "stopwaitsecs = 30",
            "",
        ]
    return "\n".join(out)


RULES = """<?xml version="1.0" encoding="UTF-8"?>
<root>
  <application name="seq">
    <start_sequence>1</start_sequence>
    <starting_strategy>CONFIG</starting_strategy>
    <distribution>SINGLE_INSTANCE</distribution>
    <programs>
%s
    </programs>
  </application>
</root>
""" % "\n".join(
    f'      <program name="{n}"><start_sequence>{i + 1}</start_sequence>'
    f"<required>true</required>"
    f"<running_failure_strategy>RESTART_PROCESS</running_failure_strategy></program>"
    for i, n in enumerate(NAMES))


@pytest.fixture
def lab(tmp_path, request):
    # Fail, never skip: a CI machine that cannot run this must say so.
    try:
        require_root_and_ip()
    except HarnessError as e:
        pytest.fail(str(e), pytrace=False)
    if harness.raftvisor_bin("raftvisord") is None:
        pytest.fail(harness.unavailable_reason("raftvisord") or "no raftvisord", pytrace=False)
    made = Lab(tmp_path, HOSTS)
    request.addfinalizer(made.close)
    return made


def test_a_cut_off_host_fences_its_sequence_before_the_majority_restarts_it(lab, tmp_path):
    base = random.randrange(800_000, 899_000) * 10
    marks = {name: base + i for i, name in enumerate(NAMES)}
    argv = {name: ["/bin/sleep", str(mark)] for name, mark in marks.items()}
    rules = tmp_path / "rules.xml"
    rules.write_text(RULES)
    options = {"rules_files": rules, "cluster_secret": SECRET}
    for h in lab.hosts:
        h.write_config(programs(marks), options)
    for h in lab.hosts:
        h.start()
    for h in lab.hosts:
        h.wait_up(30)
    t_start = time.monotonic()

    def where() -> dict[str, list[str]]:
        return {name: lab.where_running(argv[name]) for name in NAMES}

    seen: list[tuple[float, dict[str, list[str]]]] = []

    def never_twice() -> None:
        now = where()
        seen.append((round(time.monotonic() - t_start, 2), now))
        twice = {n: hosts for n, hosts in now.items() if len(hosts) > 1}
        assert not twice, f"running on two hosts: {twice}; history {seen[-40:]}"

    def all_in_operation() -> bool:
        return all(h.supvisors_state() == "OPERATION" for h in lab.hosts)

    # Formed and deployed: CONFIG puts the whole sequence on h1, the first host.
    sample_until(all_in_operation, never_twice, 60, "every host in OPERATION")
    sample_until(lambda: all(w == ["h1"] for w in where().values()), never_twice, 30,
                 "the whole sequence running on h1")
    home = lab["h1"]

    # h1's link goes down: packets vanish.
    lab.cut(home)
    t_cut = time.monotonic()
    fenced = sample_until(lambda: not any("h1" in w for w in where().values()), never_twice,
                          20, "the cut-off host to stop its copies")

    def restarted() -> bool:
        w = where()
        return all(len(w[n]) == 1 and w[n] != ["h1"] for n in NAMES)
    sample_until(restarted, never_twice, 40, "the majority to restart the sequence")
    restarted_after = time.monotonic() - t_cut
    # Nothing comes back on the cut-off host while the partition lasts.
    sample_until(lambda: time.monotonic() - t_cut > restarted_after + 2, never_twice, 10,
                 "two more seconds of partition")
    assert all("h1" not in w for w in where().values()), where()
    log = home.log_text()
    assert "cut off from the quorum" in log, log[-3000:]
    assert "fence: done" in log, log[-3000:]

    # The heal: one copy of each, every host OPERATION, h1 RUNNING again in every view.
    lab.heal(home)

    def converged() -> bool:
        w = where()
        if not all(len(w[n]) == 1 for n in NAMES):
            return False
        if not all_in_operation():
            return False
        return all(set(h.instance_states().values()) == {"RUNNING"} for h in lab.hosts)
    sample_until(converged, never_twice, 40, "one copy of each and OPERATION after the heal")
    settled = time.monotonic()
    sample_until(lambda: time.monotonic() - settled > 3, never_twice, 10, "three quiet seconds")
    assert converged(), (where(), [h.supvisors_state() for h in lab.hosts])
    for h in lab.hosts:
        procs = {f"{p['application_name']}:{p['process_name']}": p
                 for p in h.call("supvisors.get_all_process_info")}
        for name in NAMES:
            p = procs[f"seq:{name}"]
            assert p["statename"] == "RUNNING" and len(p["identifiers"]) == 1, (h.identifier, p)
    print(f"fenced {fenced:.2f}s after the cut; restarted elsewhere {restarted_after:.2f}s "
          f"after the cut")
