use super::*;

fn sample() -> Sample {
    Sample {
        supvisors_state: Some("OPERATION".into()),
        instances: vec![
            InstanceSample {
                identifier: "s1".into(),
                state: "RUNNING".into(),
                load: 25,
            },
            InstanceSample {
                identifier: "s2".into(),
                state: "SILENT".into(),
                load: 0,
            },
        ],
        processes: vec![ProcessSample {
            instance: "s1".into(),
            group: "web".into(),
            name: "api_0".into(),
            state: "RUNNING".into(),
            uptime_seconds: 42,
        }],
        jobs: Some(JobsSample {
            starting: 1,
            stopping: 0,
        }),
        raft: Some(RaftSample {
            local: "s1".into(),
            term: 3,
            leader: Some("s1".into()),
            last_log_index: Some(100),
            last_applied: Some(99),
            voters: vec!["s1".into(), "s2".into(), "s3".into()],
            matched: BTreeMap::from([("s1".into(), 100), ("s3".into(), 97)]),
        }),
        events: Some(EventsSample {
            subscribers: 2,
            subscribers_dropped: 5,
            zmq_published: Some(10),
            zmq_dropped: Some(1),
        }),
    }
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.starts_with('#')).collect()
}

#[test]
fn a_sample_becomes_one_series_per_state_and_member() {
    let m = Metrics::default();
    let text = m.encode(&sample());
    let l = lines(&text);
    for expected in [
        r#"raftvisor_supvisors_state{state="OPERATION"} 1"#,
        r#"raftvisor_instance_state{instance="s1",state="RUNNING"} 1"#,
        r#"raftvisor_instance_state{instance="s2",state="SILENT"} 1"#,
        r#"raftvisor_instance_load_percent{instance="s1"} 25"#,
        r#"raftvisor_process_state{instance="s1",group="web",name="api_0",state="RUNNING"} 1"#,
        r#"raftvisor_process_uptime_seconds{instance="s1",group="web",name="api_0"} 42"#,
        r#"raftvisor_jobs_in_progress{kind="starting"} 1"#,
        "raftvisor_raft_term 3",
        "raftvisor_raft_is_leader 1",
        r#"raftvisor_raft_leader{leader="s1"} 1"#,
        "raftvisor_raft_last_log_index 100",
        "raftvisor_raft_applied_index 99",
        // s1 holds 100, s3 97, s2 nothing: a majority holds 97.
        "raftvisor_raft_commit_index 97",
        r#"raftvisor_raft_replication_lag{member="s2"} 100"#,
        r#"raftvisor_raft_replication_lag{member="s3"} 3"#,
        "raftvisor_event_subscribers 2",
        r#"raftvisor_events_dropped_total{sink="subscribers"} 5"#,
        r#"raftvisor_events_dropped_total{sink="zmq"} 1"#,
        "raftvisor_events_published_total 10",
    ] {
        assert!(l.contains(&expected), "{expected} missing from:\n{text}");
    }
    assert!(
        text.contains("# TYPE raftvisor_process_state gauge"),
        "{text}"
    );
}

#[test]
fn calls_and_starts_are_counted_as_they_happen() {
    let m = Metrics::default();
    m.observe_rpc("supervisor.getState", Duration::from_micros(300), false);
    m.observe_rpc("supervisor.getState", Duration::from_millis(3), false);
    m.observe_rpc("supervisor.startProcess", Duration::from_millis(1), true);
    m.process_started("web", "api_0");
    m.process_started("web", "api_0");
    let text = m.clone().encode(&Sample::default());
    // Without a cluster: no cluster series at all.
    for absent in [
        "raftvisor_raft_",
        "raftvisor_jobs_",
        "raftvisor_event",
        "supvisors_state",
    ] {
        assert!(!text.contains(absent), "{absent} in:\n{text}");
    }
    let l = lines(&text);
    for expected in [
        r#"raftvisor_rpc_calls_total{method="supervisor.getState",outcome="ok"} 2"#,
        r#"raftvisor_rpc_calls_total{method="supervisor.startProcess",outcome="fault"} 1"#,
        r#"raftvisor_rpc_duration_seconds_count{method="supervisor.getState"} 2"#,
        r#"raftvisor_rpc_duration_seconds_bucket{method="supervisor.getState",le="0.0005"} 1"#,
        r#"raftvisor_process_starts_total{group="web",name="api_0"} 2"#,
    ] {
        assert!(l.contains(&expected), "{expected} missing from:\n{text}");
    }
}

#[test]
fn a_follower_commits_what_it_applied_and_reports_no_lag() {
    let raft = RaftSample {
        local: "s2".into(),
        term: 3,
        leader: Some("s1".into()),
        last_log_index: Some(100),
        last_applied: Some(98),
        voters: vec!["s1".into(), "s2".into(), "s3".into()],
        matched: BTreeMap::new(),
    };
    assert_eq!(raft.commit_index(), Some(98));
    let text = Metrics::default().encode(&Sample {
        raft: Some(raft),
        ..Sample::default()
    });
    assert!(lines(&text).contains(&"raftvisor_raft_is_leader 0"));
    assert!(!text.contains("raftvisor_raft_replication_lag{"), "{text}");
}
