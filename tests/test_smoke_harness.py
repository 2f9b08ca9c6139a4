"""The harness itself: start, answer, stop, and no child left behind."""

import harness


def test_daemon_starts_answers_and_cleans_up(daemon_factory):
    d = daemon_factory("""
        [program:sleeper]
        command = /bin/sh -c 'exec sleep 100000'
        startsecs = 0
    """)
    infos = d.wait_states({"sleeper": "RUNNING"}, timeout=15)
    pid = infos["sleeper"]["pid"]
    assert harness.proc_start_time(pid) is not None
    # The tag is visible once the child has exec'd (its environ is the daemon's before that).
    harness.wait_until(lambda: harness.pids_with_env_tag(d.tag) == [pid], 10,
                       what="child environment tag")
    d.stop()
    assert not d.alive()
    assert harness.wait_until(lambda: harness.proc_start_time(pid) is None
                              or harness.proc_is_zombie(pid), 10, what="child gone")
