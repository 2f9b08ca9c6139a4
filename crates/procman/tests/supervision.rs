//! Real children under a real Supervisor: lifecycle, timings, signals, logs, stdin, shutdown.

mod common;

use common::*;
use model::{AutoRestart, FaultCode, LogTarget, ProcessState};
use procman::{Channel, Exit, SupervisorApi};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_wait_reaches_running_after_startsecs_and_stop_wait_stops() {
    let mut p = program("sl", "exec sleep 30");
    p.startsecs = 1;
    let h = Harness::start(vec![group(p)]);
    assert_eq!(h.state("sl").await, ProcessState::Stopped);
    assert_eq!(
        h.sup.process_info("sl").await.unwrap().description,
        "Not started"
    );
    let t = Instant::now();
    h.sup.start_process("sl", true).await.unwrap();
    let took = t.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(3),
        "{took:?}"
    );
    let info = h.sup.process_info("sl").await.unwrap();
    assert_eq!(info.state, ProcessState::Running);
    assert!(info.pid > 0);
    assert!(info
        .description
        .starts_with(&format!("pid {}, uptime 0:00:0", info.pid)));
    let e = h.sup.start_process("sl", true).await.unwrap_err();
    assert_eq!(e.code, FaultCode::AlreadyStarted);
    h.sup.stop_process("sl", true).await.unwrap();
    let info = h.sup.process_info("sl").await.unwrap();
    assert_eq!(info.state, ProcessState::Stopped);
    assert_eq!(info.exitstatus, -1);
    assert_eq!(info.pid, 0);
    assert_eq!(
        h.sup.stop_process("sl", true).await.unwrap_err().code,
        FaultCode::NotRunning
    );
    assert_eq!(
        h.sup.process_info("nope").await.unwrap_err().code,
        FaultCode::BadName
    );
    assert_eq!(h.shutdown().await, Exit::Shutdown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_exit_backs_off_then_is_fatal() {
    let mut p = program("q", "exit 3");
    p.startsecs = 1;
    p.startretries = 1;
    let h = Harness::start(vec![group(p)]);
    let mut events = h.sup.subscribe_events();
    let e = h.sup.start_process("q", true).await.unwrap_err();
    assert_eq!(e.code, FaultCode::SpawnError);
    h.wait_state("q", ProcessState::Fatal).await;
    let info = h.sup.process_info("q").await.unwrap();
    assert_eq!(
        info.description,
        "Exited too quickly (process log may have details)"
    );
    let mut seen = vec![];
    while let Ok(ev) = events.try_recv() {
        seen.push((ev.from, ev.to, ev.tries));
    }
    use ProcessState::*;
    assert_eq!(
        seen,
        vec![
            (Stopped, Starting, 0),
            (Starting, Backoff, 1),
            (Backoff, Starting, 1),
            (Starting, Backoff, 2),
            (Backoff, Fatal, 0)
        ]
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_command_is_no_file() {
    let mut p = program("m", "x");
    p.argv = vec!["/nonexistent/prog".into()];
    let h = Harness::start(vec![group(p)]);
    let e = h.sup.start_process("m", true).await.unwrap_err();
    assert_eq!(
        e.fault_string(),
        "NO_FILE: can't find command '/nonexistent/prog'"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_timeout_escalates_to_sigkill() {
    let mut p = program(
        "stubborn",
        "trap '' TERM; echo ready; while true; do sleep 0.1; done",
    );
    p.stopwaitsecs = 1;
    let h = Harness::start(vec![group(p)]);
    h.sup.start_process("stubborn", true).await.unwrap();
    h.wait_log("stubborn", "ready").await;
    let t = Instant::now();
    h.sup.stop_process("stubborn", true).await.unwrap();
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_secs(3),
        "{took:?}"
    );
    let info = h.sup.process_info("stubborn").await.unwrap();
    assert_eq!((info.state, info.exitstatus), (ProcessState::Stopped, -1));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopasgroup_kills_grandchildren() {
    let mut p = program("tree", "sleep 31 & echo gc=$!; wait");
    p.stopasgroup = true;
    p.killasgroup = true;
    let h = Harness::start(vec![group(p)]);
    h.sup.start_process("tree", true).await.unwrap();
    let log = h.wait_log("tree", "\n").await;
    let gc: i32 = log.trim().strip_prefix("gc=").unwrap().parse().unwrap();
    assert!(pid_alive(gc));
    h.sup.stop_process("tree", true).await.unwrap();
    wait_until("grandchild gone", || !pid_alive(gc)).await;
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_rotate_read_and_tail() {
    let mut p = program(
        "chatty",
        "for i in 1 2 3 4 5 6; do echo chunk-$i-01234567890123456789012345678901234567890123456789; sleep 0.05; done; echo done; exec sleep 30",
    );
    p.stdout.maxbytes = 100;
    p.stdout.backups = 2;
    let mut small = program("small", "echo hello-out; echo err >&2; exec sleep 30");
    small.stdout.maxbytes = 0;
    let h = Harness::start(vec![group(p), group(small)]);
    h.sup.start_process("chatty", true).await.unwrap();
    let path = h.sup.log_path("chatty", Channel::Stdout).await.unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("chatty-stdout---testsup-") && name.ends_with(".log"),
        "{name}"
    );
    let backup = |n: u32| std::path::PathBuf::from(format!("{}.{n}", path.display()));
    wait_until("all output logged", || {
        let cur = std::fs::read_to_string(&path).unwrap_or_default();
        let b1 = std::fs::read_to_string(backup(1)).unwrap_or_default();
        (b1 + &cur).contains("done")
    })
    .await;
    assert!(backup(2).exists());
    assert!(!backup(3).exists());
    for n in [1, 2] {
        let len = std::fs::metadata(backup(n)).unwrap().len();
        assert!((100..=130).contains(&len), "backup {n}: {len} bytes");
    }

    h.sup.start_process("small", true).await.unwrap();
    h.wait_log("small", "hello-out\n").await;
    assert_eq!(
        h.sup
            .tail_process_log("small", Channel::Stdout, 0, 100)
            .await
            .unwrap(),
        ("hello-out\n".to_string(), 10, false)
    );
    assert_eq!(
        h.sup
            .tail_process_log("small", Channel::Stdout, 0, 3)
            .await
            .unwrap(),
        ("ut\n".to_string(), 10, true)
    );
    assert_eq!(
        h.sup
            .read_process_log("small", Channel::Stdout, -4, 0)
            .await
            .unwrap(),
        "out\n"
    );
    assert_eq!(
        h.sup
            .read_process_log("small", Channel::Stdout, 2, 3)
            .await
            .unwrap(),
        "llo"
    );
    assert_eq!(
        h.sup
            .read_process_log("small", Channel::Stdout, -5, 2)
            .await
            .unwrap_err()
            .code,
        FaultCode::BadArguments
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while h
        .sup
        .read_process_log("small", Channel::Stderr, 0, 0)
        .await
        .unwrap()
        != "err\n"
    {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    h.sup.clear_process_logs("small").await.unwrap();
    assert_eq!(
        h.sup
            .read_process_log("small", Channel::Stdout, 0, 0)
            .await
            .unwrap(),
        ""
    );
    assert_eq!(h.sup.read_main_log(0, 0).await.unwrap(), "main log line\n");
    h.sup.clear_main_log().await.unwrap();
    assert_eq!(h.sup.read_main_log(0, 0).await.unwrap(), "");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_log_file_is_no_file_and_empty_tail() {
    let mut p = program("quiet", "exec sleep 30");
    p.stdout.target = LogTarget::None;
    p.redirect_stderr = true;
    let h = Harness::start(vec![group(p)]);
    let e = h
        .sup
        .read_process_log("quiet", Channel::Stdout, 0, 0)
        .await
        .unwrap_err();
    assert_eq!(e.fault_string(), "NO_FILE");
    assert_eq!(
        h.sup
            .tail_process_log("quiet", Channel::Stderr, 0, 10)
            .await
            .unwrap(),
        (String::new(), 0, false)
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_is_echoed_and_signals_are_delivered() {
    let cat = program("cat", "exec cat");
    let trap = program(
        "trap",
        "trap 'echo got-usr1' USR1; echo ready; while true; do sleep 0.1; done",
    );
    let h = Harness::start(vec![group(cat), group(trap)]);
    h.sup.start_process("cat", true).await.unwrap();
    h.sup
        .send_process_stdin("cat", "hello stdin\n")
        .await
        .unwrap();
    h.wait_log("cat", "hello stdin\n").await;
    h.sup.start_process("trap", true).await.unwrap();
    h.wait_log("trap", "ready").await;
    h.sup.signal_process("trap", "usr1").await.unwrap();
    h.wait_log("trap", "got-usr1").await;
    assert_eq!(
        h.sup
            .signal_process("trap", "BOGUS")
            .await
            .unwrap_err()
            .code,
        FaultCode::BadSignal
    );
    h.sup.stop_process("cat", true).await.unwrap();
    assert_eq!(
        h.sup.signal_process("cat", "HUP").await.unwrap_err().code,
        FaultCode::NotRunning
    );
    assert_eq!(
        h.sup.send_process_stdin("cat", "x").await.unwrap_err().code,
        FaultCode::NotRunning
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autorestart_true_respawns() {
    let mut p = program("flap", "sleep 0.3");
    p.autorestart = AutoRestart::True;
    let h = Harness::start(vec![group(p)]);
    let mut events = h.sup.subscribe_events();
    h.sup.start_process("flap", true).await.unwrap();
    let first = h.sup.process_info("flap").await.unwrap().pid;
    let mut restarted = false;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && !restarted {
        if let Ok(Ok(ev)) = tokio::time::timeout(Duration::from_millis(200), events.recv()).await {
            restarted = ev.from == ProcessState::Exited && ev.to == ProcessState::Starting;
        }
    }
    assert!(restarted);
    let info = h.sup.process_info("flap").await.unwrap();
    assert_ne!(info.pid, first);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_operations_return_one_result_each() {
    let mut a = program("a", "exec sleep 30");
    a.group = "g".into();
    let mut b = program("b", "exec sleep 30");
    b.group = "g".into();
    let g = model::GroupSpec {
        name: "g".into(),
        priority: 5,
        kind: model::GroupKind::Heterogeneous,
        processes: vec![a, b],
    };
    let h = Harness::start(vec![g]);
    let r = h.sup.start_group("g", true).await.unwrap();
    assert_eq!(
        r.iter()
            .map(|x| (x.name.as_str(), x.outcome.is_ok()))
            .collect::<Vec<_>>(),
        vec![("a", true), ("b", true)]
    );
    assert!(h.sup.start_group("g", true).await.unwrap().is_empty());
    assert_eq!(
        h.sup.start_group("zz", true).await.unwrap_err().code,
        FaultCode::BadName
    );
    let infos = h.sup.all_process_info().await;
    assert_eq!(
        infos.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
        vec!["a", "b"]
    );
    assert_eq!(h.state("g:a").await, ProcessState::Running);
    let r = h.sup.signal_group("g", "BOGUS").await.unwrap();
    assert!(r
        .iter()
        .all(|x| x.outcome.as_ref().unwrap_err().code == FaultCode::BadSignal));
    let r = h.sup.stop_all(true).await.unwrap();
    assert_eq!(r.len(), 2);
    assert!(r.iter().all(|x| x.outcome.is_ok()));
    assert_eq!(h.state("g:b").await, ProcessState::Stopped);
    assert_eq!(h.sup.all_config_info().await.len(), 2);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_in_reverse_priority_order() {
    let mut first = program("first", "exec sleep 30");
    first.priority = 1;
    first.autostart = true;
    let mut last = program("last", "exec sleep 30");
    last.priority = 2;
    last.autostart = true;
    let h = Harness::start(vec![group(first), group(last)]);
    h.wait_state("first", ProcessState::Running).await;
    h.wait_state("last", ProcessState::Running).await;
    let mut events = h.sup.subscribe_events();
    let t = Instant::now();
    assert_eq!(h.shutdown().await, Exit::Shutdown);
    assert!(t.elapsed() < Duration::from_secs(3));
    let mut stopped = vec![];
    while let Ok(ev) = events.try_recv() {
        if ev.to == ProcessState::Stopped {
            stopped.push(ev.name);
        }
    }
    assert_eq!(stopped, vec!["last", "first"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_add_remove_groups() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), vec![group(program("old", "exec sleep 30"))]);
    let h = Harness::start_with(dir, cfg);
    let mut next = config(
        &h.path(),
        vec![
            group(program("old", "exec sleep 31")),
            group(program("new", "exec sleep 30")),
        ],
    );
    next.groups[1].processes[0].autostart = true;
    *h.next_config.lock().unwrap() = Some(next);
    // Answered once the boot (which creates the first processes) is over.
    h.sup.all_process_info().await;
    let mut layout = h.sup.watch_layout();
    let diff = h.sup.reload_config().await.unwrap();
    assert_eq!(
        (diff.added, diff.changed, diff.removed),
        (vec!["new".to_string()], vec!["old".to_string()], vec![])
    );
    assert!(
        !layout.has_changed().unwrap(),
        "a reread changes no running process"
    );
    assert_eq!(
        h.sup.process_info("new").await.unwrap_err().code,
        FaultCode::BadName
    );
    h.sup.add_process_group("new").await.unwrap();
    // Processes added or removed move the layout counter (no state change says so).
    assert!(layout.has_changed().unwrap());
    let added = *layout.borrow_and_update();
    assert_eq!(
        h.sup.add_process_group("new").await.unwrap_err().code,
        FaultCode::AlreadyAdded
    );
    assert_eq!(
        h.sup.add_process_group("nope").await.unwrap_err().code,
        FaultCode::BadName
    );
    h.wait_state("new", ProcessState::Running).await;
    assert_eq!(
        h.sup.remove_process_group("new").await.unwrap_err().code,
        FaultCode::StillRunning
    );
    h.sup.stop_process("new", true).await.unwrap();
    assert_eq!(*layout.borrow_and_update(), added);
    h.sup.remove_process_group("new").await.unwrap();
    assert!(*layout.borrow_and_update() > added);
    assert_eq!(
        h.sup.remove_process_group("new").await.unwrap_err().code,
        FaultCode::BadName
    );
    *h.next_config.lock().unwrap() = None;
    assert_eq!(
        h.sup.reload_config().await.unwrap_err().code,
        FaultCode::CantReread
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_stops_reloads_and_autostarts_again() {
    let mut p = program("r", "exec sleep 30");
    p.autostart = true;
    let h = Harness::start(vec![group(p)]);
    h.wait_state("r", ProcessState::Running).await;
    let pid = h.sup.process_info("r").await.unwrap().pid;
    h.sup.restart().unwrap();
    assert_eq!(h.sup.restart().unwrap_err().code, FaultCode::ShutdownState);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(i) = h.sup.process_info("r").await {
            if i.state == ProcessState::Running && i.pid != pid {
                break;
            }
        }
        assert!(Instant::now() < deadline, "restart did not complete");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!pid_alive(pid));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_within_kills_a_process_that_ignores_its_stopsignal_long_before_stopwaitsecs() {
    // The cluster's fence: a program that ignores SIGTERM and has stopwaitsecs = 60 is still
    // SIGKILLed within the fence's bound.
    let mut p = program(
        "stubborn",
        "trap '' TERM; echo ready; while :; do sleep 0.05; done",
    );
    p.startsecs = 0;
    p.stopwaitsecs = 60;
    let h = Harness::start(vec![group(p)]);
    h.sup.start_process("stubborn", true).await.unwrap();
    // SIGTERM is ignored from here on.
    h.wait_log("stubborn", "ready").await;
    let pid = h.sup.process_info("stubborn").await.unwrap().pid;
    assert!(pid_alive(pid));
    let t = Instant::now();
    h.sup
        .stop_process_within("stubborn", Duration::from_millis(300))
        .await
        .unwrap();
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(h.state("stubborn").await, ProcessState::Stopped);
    assert!(!pid_alive(pid));
    assert_eq!(
        h.sup
            .stop_process_within("stubborn", Duration::from_millis(300))
            .await
            .unwrap_err()
            .code,
        FaultCode::NotRunning
    );
    assert_eq!(h.shutdown().await, Exit::Shutdown);
}
