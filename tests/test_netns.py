"""A real partition: three raftvisord hosts, each in its own network namespace on a bridge
(`netns_harness`), configured as a Supvisors user would (no raftvisor timing option). The host
running a SINGLE_INSTANCE sequence loses its link (`ip link set … down`: packets vanish, no
RST). Checked from the real processes (/proc, attributed to hosts by network namespace):

* no program of the sequence ever runs on two hosts: the cut-off host fences itself (its
  programs ignore SIGTERM and have stopwaitsecs = 30, so only the fence's SIGKILL bound gets
  them down in time) before the majority restarts the sequence elsewhere;
* the majority does restart it;
* after the heal, one copy of each program, every host in OPERATION, with no user action,
  and the majority's master still master in the same term: the returning host called no
  election while cut off (`crates/cluster/src/campaign.rs`), so the heal deposes nobody;
* a cut shorter than the majority's wait (healed once the fence acted, before the majority
  declared the host lost) does not leave the fenced sequence stopped: the host reports its
  fence when contact returns and the failure strategy brings the sequence back.

Needs root and `ip`: without them the test FAILS (it never skips), as it does without the
raftvisord binary.
"""

from __future__ import annotations

import random
import time

import pytest

import harness
from harness import HarnessError
from netns_harness import Lab, require_root_and_ip, sample_until, seq_rules

SECRET = "netns-partition-secret"
HOSTS = ["h1", "h2", "h3"]
NAMES = ["first", "second", "third"]


def programs(marks: dict[str, int], ignore_term: bool) -> str:
    out = ["[group:seq]", "programs = " + ",".join(NAMES), ""]
    for name in NAMES:
        # SIGTERM stays ignored across the exec: only a SIGKILL stops it before 30 s.
        command = (f"/bin/sh -c \"trap '' TERM; exec /bin/sleep {marks[name]}\"" if ignore_term
                   else f"/bin/sleep {marks[name]}")
        out += [
            f"[program:{name}]",
            f"command = {command}",
            "autostart = false",
            "startsecs = 1",
            "stopwaitsecs = 30",
            "",
        ]
    return "\n".join(out)


RULES = seq_rules(NAMES)


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


class Partition:
    """The three hosts running, in OPERATION, the sequence deployed on h1; `never_twice` is
    the invariant checked at every sample (and keeps the history for the failure message)."""

    def __init__(self, lab: Lab, tmp_path, *, ignore_term: bool, **extra: object):
        self.lab = lab
        base = random.randrange(800_000, 899_000) * 10
        marks = {name: base + i for i, name in enumerate(NAMES)}
        self.argv = {name: ["/bin/sleep", str(mark)] for name, mark in marks.items()}
        rules = tmp_path / "rules.xml"
        rules.write_text(RULES)
        options = {"rules_files": rules, "cluster_secret": SECRET, **extra}
        for h in lab.hosts:
            h.write_config(programs(marks, ignore_term), options)
        for h in lab.hosts:
            h.start()
        for h in lab.hosts:
            h.wait_up(30)
        self.t_start = time.monotonic()
        self.seen: list[tuple[float, dict[str, list[str]]]] = []
        # Formed and deployed: CONFIG puts the whole sequence on h1, the first host.
        sample_until(self.all_in_operation, self.never_twice, 60, "every host in OPERATION")
        sample_until(lambda: all(w == ["h1"] for w in self.where().values()), self.never_twice,
                     30, "the whole sequence running on h1")

    def master(self) -> str:
        m = self.lab["h1"].call("supvisors.get_master_identifier")
        return m["identifier"] if isinstance(m, dict) else m

    def move_to(self, identifier: str) -> None:
        """Restarts the sequence on `identifier` (LOCAL: the instance asked)."""
        if identifier == "h1":
            return
        host, h1 = self.lab[identifier], self.lab["h1"]
        assert host.call("supvisors.stop_application", "seq", False) is True

        def stopped() -> bool:
            # They ignore SIGTERM (stopwaitsecs = 30): each one the stop sequence has reached
            # (STOPPING) is finished with SIGKILL.
            infos = [i for i in h1.call("supervisor.getAllProcessInfo") if i["group"] == "seq"]
            for i in infos:
                if i["statename"] == "STOPPING":
                    h1.call("supervisor.signalProcess", f"seq:{i['name']}", "KILL")
            return all(i["statename"] == "STOPPED" for i in infos)
        sample_until(stopped, self.never_twice, 30, "the sequence stopped on h1", interval=0.2)
        sample_until(lambda: host.call("supvisors.get_application_info", "seq")["statename"]
                     == "STOPPED", self.never_twice, 20, "seq STOPPED")
        assert host.call("supvisors.start_application", "LOCAL", "seq", True,
                         timeout=30) is True
        sample_until(lambda: all(w == [identifier] for w in self.where().values()),
                     self.never_twice, 30, f"the whole sequence running on {identifier}")

    def where(self) -> dict[str, list[str]]:
        return {name: self.lab.where_running(self.argv[name]) for name in NAMES}

    def never_twice(self) -> None:
        now = self.where()
        self.seen.append((round(time.monotonic() - self.t_start, 2), now))
        twice = {n: hosts for n, hosts in now.items() if len(hosts) > 1}
        assert not twice, f"running on two hosts: {twice}; history {self.seen[-40:]}"

    def all_in_operation(self) -> bool:
        return all(h.supvisors_state() == "OPERATION" for h in self.lab.hosts)

    def converged(self) -> bool:
        w = self.where()
        if not all(len(w[n]) == 1 for n in NAMES):
            return False
        if not self.all_in_operation():
            return False
        return all(set(h.instance_states().values()) == {"RUNNING"} for h in self.lab.hosts)

    def check_converged(self, timeout: float = 40) -> None:
        """After the heal: one copy of each, every host OPERATION and every instance RUNNING in
        every view, for three quiet seconds; the replicated view agrees."""
        sample_until(self.converged, self.never_twice, timeout,
                     "one copy of each and OPERATION after the heal")
        settled = time.monotonic()
        sample_until(lambda: time.monotonic() - settled > 3, self.never_twice, 10,
                     "three quiet seconds")
        assert self.converged(), (self.where(), [h.supvisors_state() for h in self.lab.hosts])
        for h in self.lab.hosts:
            procs = {f"{p['application_name']}:{p['process_name']}": p
                     for p in h.call("supvisors.get_all_process_info")}
            for name in NAMES:
                p = procs[f"seq:{name}"]
                assert p["statename"] == "RUNNING" and len(p["identifiers"]) == 1, \
                    (h.identifier, p)


@pytest.mark.parametrize("role", ["master", "follower"])
def test_a_cut_off_host_fences_its_sequence_before_the_majority_restarts_it(
        lab, tmp_path, role):
    part = Partition(lab, tmp_path, ignore_term=True)
    where, never_twice = part.where, part.never_twice
    master = part.master()
    home = lab[master if role == "master" else next(h for h in HOSTS if h != master)]
    part.move_to(home.identifier)
    me = home.identifier
    majority = [h for h in lab.hosts if h is not home]

    # h1's link goes down: packets vanish.
    lab.cut(home)
    t_cut = time.monotonic()
    # The majority shows the host SILENT once a probe of it gets no answer, a heartbeat after
    # its last one (~0.4 s), before the inactivity timeout (0.8 s) and well before the fence
    # bound (2.25 s) after which it restarts the host's programs. A lost master: its
    # successor is elected as soon as Raft's lease allows (a follower's probe got no answer
    # either), and starts with it SILENT.
    sample_until(lambda: all(h.instance_states().get(me) == "SILENT" for h in majority),
                 never_twice, 20, "the majority to see the cut-off host SILENT")
    silent = time.monotonic() - t_cut
    assert silent < 0.75, f"SILENT only {silent:.2f}s after the cut"
    sample_until(lambda: not any(me in w for w in where().values()), never_twice,
                 20, "the cut-off host to stop its copies")
    fenced = time.monotonic() - t_cut

    def restarted() -> bool:
        w = where()
        return all(len(w[n]) == 1 and w[n] != [me] for n in NAMES)
    sample_until(restarted, never_twice, 40, "the majority to restart the sequence")
    restarted_after = time.monotonic() - t_cut
    assert restarted_after > silent + 1.0, (silent, restarted_after)
    # Nothing comes back on the cut-off host while the partition lasts.
    sample_until(lambda: time.monotonic() - t_cut > restarted_after + 2, never_twice, 10,
                 "two more seconds of partition")
    assert all(me not in w for w in where().values()), where()
    log = home.log_text()
    assert "cut off from the quorum" in log, log[-3000:]
    assert "fence: done" in log, log[-3000:]
    # The master of the majority, and its term, as they stand before the heal.
    raft = majority[0].call("supvisors.get_raft_status")
    assert raft["leader"] != me, raft

    # The heal: one copy of each, every host OPERATION, h1 RUNNING again in every view.
    lab.heal(home)
    part.check_converged()
    # The returning host called no election while it could reach no majority (no pre-vote
    # in openraft 0.9): the majority's master and term are unchanged by the heal.
    after = majority[0].call("supvisors.get_raft_status")
    assert (after["leader"], after["term"]) == (raft["leader"], raft["term"]), (raft, after)
    print(f"{role} {me} cut: SILENT {silent:.2f}s after the cut, fenced {fenced:.2f}s after "
          f"the cut; restarted elsewhere {restarted_after:.2f}s after the cut")


def test_a_cut_shorter_than_the_majoritys_wait_does_not_leave_the_sequence_stopped(
        lab, tmp_path):
    # Programs that honour SIGTERM stop at once; a 5 s fence_stop_timeout_ms makes the
    # majority wait ~6.2 s (the fence bound) before declaring a silent host lost. The cut is
    # healed as soon as the fence has acted, well within that wait: the majority never
    # restarts anything itself, only h1's report of its fence can bring the sequence back.
    part = Partition(lab, tmp_path, ignore_term=False, fence_stop_timeout_ms=5000)
    home = lab["h1"]
    lab.cut(home)
    t_cut = time.monotonic()
    fenced = sample_until(lambda: not any("h1" in w for w in part.where().values()),
                          part.never_twice, 10, "the cut-off host to stop its copies")
    lab.heal(home)
    healed = time.monotonic() - t_cut
    assert healed < 4.0, f"healed {healed:.2f}s after the cut: not shorter than the wait"
    part.check_converged()
    log = home.log_text()
    assert "fence: reported to the cluster" in log, log[-3000:]
    print(f"fenced {fenced:.2f}s after the cut, healed {healed:.2f}s after it")
