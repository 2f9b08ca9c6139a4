//! The typed client against the real Python supervisord 4.x from the workspace venv.

use std::time::{Duration, Instant};

use client::{ActionOutcome, Channel, Client, Error};
use model::FaultCode;
use testkit::supervisord::{supervisord_bin, Supervisord, PASS, USER};

fn authed(url: &str) -> Client {
    Client::builder(url)
        .credentials(USER, PASS)
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

#[tokio::test]
async fn typed_client_drives_real_supervisord_over_tcp() {
    let bin = supervisord_bin();
    let mut sup = Supervisord::start(&bin);
    sup.wait_up().await;
    let c = authed(&sup.url);

    // Daemon-level calls.
    let state = c.get_state().await.unwrap();
    assert_eq!((state.statecode, state.statename.as_str()), (1, "RUNNING"));
    assert_eq!(c.get_version().await.unwrap(), "3.0");
    assert_eq!(c.get_api_version().await.unwrap(), "3.0");
    assert!(c.get_supervisor_version().await.unwrap().starts_with('4'));
    assert_eq!(c.get_identification().await.unwrap(), "testsup");
    assert_eq!(c.get_pid().await.unwrap() as u32, sup.child.id());
    assert!(c
        .list_methods()
        .await
        .unwrap()
        .iter()
        .any(|m| m == "supervisor.getState"));
    assert_eq!(
        c.method_signature("supervisor.startProcess").await.unwrap(),
        vec!["boolean", "string", "boolean"]
    );
    assert!(c
        .method_help("supervisor.getState")
        .await
        .unwrap()
        .contains("state"));

    // Process info.
    let all = c.get_all_process_info().await.unwrap();
    let names: Vec<String> = all.iter().map(|p| p.namespec()).collect();
    assert_eq!(
        names,
        vec!["manual", "np:np_00", "np:np_01", "quick", "sleeper"]
    );
    let sleeper = c.get_process_info("sleeper").await.unwrap();
    assert_eq!(sleeper.statename, "RUNNING");
    assert!(sleeper.pid > 0);
    assert!(sleeper
        .description
        .starts_with(&format!("pid {}, uptime ", sleeper.pid)));
    let manual = c.get_process_info("manual").await.unwrap();
    assert_eq!(
        (manual.state, manual.description.as_str()),
        (0, "Not started")
    );

    // Faults.
    let e = c.get_process_info("nosuch").await.unwrap_err();
    assert!(
        matches!(&e, Error::Fault { code: 10, string, fault: Some(FaultCode::BadName) } if string == "BAD_NAME: nosuch"),
        "{e:?}"
    );
    let e = c.stop_process("manual", true).await.unwrap_err();
    assert_eq!(e.fault_code(), Some(FaultCode::NotRunning));
    let e = c.call("supervisor.nope", &[]).await.unwrap_err();
    assert_eq!(e.fault_code(), Some(FaultCode::UnknownMethod));

    // Start with wait (startsecs=1 → returns once RUNNING), then tail its logs.
    let t0 = Instant::now();
    assert_eq!(
        c.start_process("manual", true).await.unwrap(),
        ActionOutcome::Single(true)
    );
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(
        c.get_process_info("manual").await.unwrap().statename,
        "RUNNING"
    );
    let e = c.start_process("manual", true).await.unwrap_err();
    assert_eq!(e.fault_code(), Some(FaultCode::AlreadyStarted));
    assert_eq!(
        c.read_process_stdout_log("manual", -1600, 0).await.unwrap(),
        "hello-out\n"
    );
    assert_eq!(
        c.read_process_stderr_log("manual", 0, 0).await.unwrap(),
        "hello-err\n"
    );
    let tail = c.tail_process_stdout_log("manual", 0, 3).await.unwrap();
    assert_eq!(
        (tail.bytes.as_str(), tail.offset, tail.overflow),
        ("ut\n", 10, true)
    );
    let tail = c.tail_process_stderr_log("manual", 0, 100).await.unwrap();
    assert_eq!(
        (tail.bytes.as_str(), tail.offset, tail.overflow),
        ("hello-err\n", 10, false)
    );

    // Streaming tail: the existing content arrives first.
    let mut stream = c.tail_follow("manual", Channel::Stdout).await.unwrap();
    let chunk = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("a chunk within 5 s")
        .expect("stream open")
        .expect("chunk");
    assert!(
        String::from_utf8_lossy(&chunk).contains("hello-out"),
        "{chunk:?}"
    );
    drop(stream);
    let e = c.tail_follow("nosuch", Channel::Stdout).await.unwrap_err();
    assert!(matches!(e, Error::HttpStatus { status: 404 }), "{e:?}");
    let mut main = c.main_tail_follow().await.unwrap();
    let chunk = tokio::time::timeout(Duration::from_secs(5), main.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(!chunk.is_empty());
    drop(main);

    // Signals, stdin, logs.
    assert_eq!(
        c.signal_process("manual", "CONT").await.unwrap(),
        ActionOutcome::Single(true)
    );
    assert_eq!(
        c.signal_process("manual", "NOPE")
            .await
            .unwrap_err()
            .fault_code(),
        Some(FaultCode::BadSignal)
    );
    assert!(c.send_process_stdin("manual", "x\n").await.unwrap());
    assert!(c.send_remote_comm_event("t", "data").await.unwrap());
    assert!(c.clear_process_logs("manual").await.unwrap());
    assert_eq!(c.read_process_stdout_log("manual", 0, 0).await.unwrap(), "");
    assert!(!c.read_log(-200, 0).await.unwrap().is_empty());

    // Stop with wait.
    assert_eq!(
        c.stop_process("manual", true).await.unwrap(),
        ActionOutcome::Single(true)
    );
    assert_eq!(
        c.get_process_info("manual").await.unwrap().statename,
        "STOPPED"
    );

    // Spawn error.
    let e = c.start_process("quick", true).await.unwrap_err();
    assert_eq!(e.fault_code(), Some(FaultCode::SpawnError), "{e:?}");

    // Group operations and the group:* form.
    let results = c.start_process_group("np", true).await.unwrap();
    assert_eq!(results.len(), 2);
    assert!(results
        .iter()
        .all(|r| r.is_success() && r.description == "OK"));
    match c.signal_process("np:*", "CONT").await.unwrap() {
        ActionOutcome::Group(r) => assert_eq!(r.len(), 2),
        other => panic!("{other:?}"),
    }
    let results = c.signal_process_group("np", "CONT").await.unwrap();
    assert_eq!(results[0].namespec(), "np:np_00");
    let results = c.stop_process_group("np", true).await.unwrap();
    assert!(results.iter().all(|r| r.is_success()));
    assert_eq!(
        c.stop_process_group("nosuch", true)
            .await
            .unwrap_err()
            .fault_code(),
        Some(FaultCode::BadName)
    );
    assert!(c.clear_all_process_logs().await.unwrap().len() >= 4);

    // Config.
    let cfg = c.get_all_config_info().await.unwrap();
    let sl = cfg.iter().find(|i| i.name == "sleeper").unwrap();
    assert!(sl.inuse && sl.autostart);
    assert_eq!(sl.group_prio, 999);
    assert_eq!(
        sl.get("command"),
        Some(&client::Value::String("sleep 600".into()))
    );
    let changes = c.reload_config().await.unwrap();
    assert!(changes.added.is_empty() && changes.changed.is_empty() && changes.removed.is_empty());
    assert_eq!(
        c.add_process_group("sleeper")
            .await
            .unwrap_err()
            .fault_code(),
        Some(FaultCode::AlreadyAdded)
    );
    assert_eq!(
        c.remove_process_group("sleeper")
            .await
            .unwrap_err()
            .fault_code(),
        Some(FaultCode::StillRunning)
    );
    assert!(c.remove_process_group("quick").await.unwrap());
    let changes = c.reload_config().await.unwrap();
    assert_eq!(changes.added, vec!["quick"]);
    assert!(c.add_process_group("quick").await.unwrap());

    // Multicall: bare values and per-entry faults.
    let r = c
        .multicall(&[
            ("supervisor.getPID", vec![]),
            (
                "supervisor.getProcessInfo",
                vec![client::Value::String("nosuch".into())],
            ),
        ])
        .await
        .unwrap();
    assert_eq!(r[0], Ok(client::Value::Int(sup.child.id() as i32)));
    assert_eq!(r[1].as_ref().unwrap_err().fault(), Some(FaultCode::BadName));

    // All-processes variants.
    let started = c.start_all_processes(true).await.unwrap();
    assert!(started.iter().any(|r| r.namespec() == "manual"));
    let stopped = c.stop_all_processes(true).await.unwrap();
    assert!(stopped
        .iter()
        .any(|r| r.namespec() == "sleeper" && r.is_success()));
    assert!(c.signal_all_processes("CONT").await.unwrap().is_empty());

    // Shutdown; the daemon then exits.
    assert!(c.shutdown().await.unwrap());
    assert!(
        sup.wait_exit(Duration::from_secs(20)),
        "supervisord still running after shutdown"
    );
    let e = c.get_state().await.unwrap_err();
    assert!(matches!(e, Error::ConnectionRefused { .. }), "{e:?}");
}

#[tokio::test]
async fn unix_socket_auth_and_connection_errors() {
    let bin = supervisord_bin();
    let mut sup = Supervisord::start(&bin);
    sup.wait_up().await;

    // HTTP over the Unix socket (no auth on that server), one connection reused across calls.
    let unix = Client::new(&format!("unix://{}", sup.socket.display())).unwrap();
    for _ in 0..20 {
        assert_eq!(unix.get_state().await.unwrap().statename, "RUNNING");
    }
    assert_eq!(unix.get_all_process_info().await.unwrap().len(), 5);

    // 401 without or with wrong credentials on the inet server.
    let anon = Client::new(&sup.url).unwrap();
    assert!(matches!(
        anon.get_state().await.unwrap_err(),
        Error::Unauthorized
    ));
    let wrong = Client::builder(&sup.url)
        .credentials(USER, "nope")
        .build()
        .unwrap();
    assert!(matches!(
        wrong.get_state().await.unwrap_err(),
        Error::Unauthorized
    ));
    // The path form of the URL works too.
    let with_path = Client::builder(&format!("{}/RPC2", sup.url))
        .credentials(USER, PASS)
        .build()
        .unwrap();
    assert_eq!(with_path.get_version().await.unwrap(), "3.0");

    // Missing socket file and refused port.
    let missing = Client::new(&format!("unix://{}/nope.sock", sup.dir.path().display())).unwrap();
    assert!(matches!(
        missing.get_state().await.unwrap_err(),
        Error::NoSuchSocket { .. }
    ));
    let refused = Client::new(&format!(
        "http://127.0.0.1:{}",
        testkit::supervisord::free_port()
    ))
    .unwrap();
    let e = refused.get_state().await.unwrap_err();
    assert!(
        matches!(e, Error::ConnectionRefused { .. }) && e.is_connection(),
        "{e:?}"
    );

    // Per-call timeout: a blocking stop of a process that takes ≥ 1 s to start cannot finish in 50 ms.
    let hasty = Client::builder(&sup.url)
        .credentials(USER, PASS)
        .timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    assert!(matches!(
        hasty.start_process("manual", true).await.unwrap_err(),
        Error::Timeout(_)
    ));

    assert!(unix.shutdown().await.unwrap());
    assert!(
        sup.wait_exit(Duration::from_secs(20)),
        "supervisord still running after shutdown"
    );
}
