//! The start guard (Supvisors' disabled programs): refused processes are not started by
//! startProcess / group / all starts (the guard's fault is reported), nor by autostart,
//! autorestart or back-off retries (silently).

mod common;

use common::*;
use model::{make_namespec, AutoRestart, Fault, FaultCode, GroupKind, GroupSpec, ProcessState};
use procman::{Exit, ProcessEvent, StartGuard, SupervisorApi};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Refuses the processes of `program`, with Supvisors' fault.
fn refuse(program: &'static str) -> StartGuard {
    Arc::new(move |spec: &model::ProcessSpec| {
        if spec.program == program {
            Err(Fault::with(
                FaultCode::Disabled,
                make_namespec(&spec.group, &spec.name),
            ))
        } else {
            Ok(())
        }
    })
}

fn member(group: &str, name: &str, of_program: &str, command: &str) -> model::ProcessSpec {
    let mut p = program(name, command);
    p.group = group.into();
    p.program = of_program.into();
    p
}

fn pair(autostart: bool) -> GroupSpec {
    let mut off = member("pair", "off_0", "off", "exec sleep 30");
    let mut on = member("pair", "on_0", "on", "exec sleep 30");
    off.autostart = autostart;
    on.autostart = autostart;
    GroupSpec {
        name: "pair".into(),
        priority: 999,
        kind: GroupKind::Program,
        processes: vec![off, on],
    }
}

/// Collects the STARTING events of `name` seen so far.
fn starts_of(events: &mut tokio::sync::broadcast::Receiver<ProcessEvent>, name: &str) -> usize {
    let mut n = 0;
    while let Ok(e) = events.try_recv() {
        if e.name == name && e.to == ProcessState::Starting {
            n += 1;
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_processes_are_not_started_by_requests_and_report_the_guard_fault() {
    let h = Harness::start(vec![pair(false)]);
    h.sup.set_start_guard(refuse("off"));

    let e = h.sup.start_process("pair:off_0", true).await.unwrap_err();
    assert_eq!(e.code, FaultCode::Disabled);
    assert_eq!(e.code.code(), 103);
    assert_eq!(e.fault_string(), "DISABLED: pair:off_0");
    assert_eq!(h.state("pair:off_0").await, ProcessState::Stopped);

    let results = h.sup.start_group("pair", true).await.unwrap();
    let outcome = |name: &str| {
        results
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.outcome.clone())
            .expect("a result for each stopped process")
    };
    assert_eq!(outcome("off_0").unwrap_err().code, FaultCode::Disabled);
    assert_eq!(outcome("on_0"), Ok(()));
    assert_eq!(h.state("pair:on_0").await, ProcessState::Running);
    assert_eq!(h.state("pair:off_0").await, ProcessState::Stopped);

    // startAllProcesses: the running one is omitted, the refused one reported.
    let results = h.sup.start_all(true).await.unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].name, "off_0");
    assert_eq!(
        results[0].outcome.clone().unwrap_err().fault_string(),
        "DISABLED: pair:off_0"
    );

    // Without the guard it starts as usual.
    h.sup.clear_start_guard();
    h.sup.start_process("pair:off_0", true).await.unwrap();
    assert_eq!(h.state("pair:off_0").await, ProcessState::Running);
    assert_eq!(h.shutdown().await, Exit::Shutdown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autostart_skips_refused_processes() {
    let dir = tempfile::tempdir().unwrap();
    let empty = config(dir.path(), vec![]);
    let with_pair = config(dir.path(), vec![pair(true)]);
    let h = Harness::start_with(dir, empty);
    *h.next_config.lock().unwrap() = Some(with_pair);
    let diff = h.sup.reload_config().await.unwrap();
    assert_eq!(diff.added, vec!["pair".to_string()]);
    h.sup.set_start_guard(refuse("off"));
    // addProcessGroup autostarts the group's processes, as the boot does.
    h.sup.add_process_group("pair").await.unwrap();
    h.wait_state("pair:on_0", ProcessState::Running).await;
    assert_eq!(h.state("pair:off_0").await, ProcessState::Stopped);
    assert_eq!(
        h.sup.process_info("pair:off_0").await.unwrap().start,
        0,
        "never spawned"
    );
    assert_eq!(h.shutdown().await, Exit::Shutdown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autorestart_and_backoff_retries_are_refused() {
    // Exits (expected) 300 ms after each start and restarts itself.
    let mut looping = program("looping", "sleep 0.3; exit 0");
    looping.autorestart = AutoRestart::True;
    // Fails fast (too quickly for startsecs): BACKOFF with a retry timer.
    let mut flaky = program("flaky", "exit 3");
    flaky.startsecs = 1;
    flaky.startretries = 5;
    let h = Harness::start(vec![group(looping), group(flaky)]);
    let mut events = h.sup.subscribe_events();

    h.sup.start_process("looping", true).await.unwrap();
    h.sup.start_process("flaky", false).await.unwrap();
    h.wait_state("flaky", ProcessState::Backoff).await;
    let guard: StartGuard = Arc::new(|spec: &model::ProcessSpec| {
        if spec.program == "looping" || spec.program == "flaky" {
            Err(Fault::with(FaultCode::Disabled, spec.name.clone()))
        } else {
            Ok(())
        }
    });
    h.sup.set_start_guard(guard);

    // The first exit of `looping` after the guard is set is final.
    h.wait_state("looping", ProcessState::Exited).await;
    // The pending back-off retry of `flaky` ends in STOPPED instead of a new spawn.
    h.wait_state("flaky", ProcessState::Stopped).await;
    // Forget the starts that happened before the guard was installed.
    starts_of(&mut events, "looping");
    // Give a restart every chance to show up (the program cycles every 300 ms).
    let until = Instant::now() + Duration::from_millis(900);
    while Instant::now() < until {
        assert_eq!(h.state("looping").await, ProcessState::Exited);
        assert_eq!(h.state("flaky").await, ProcessState::Stopped);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(starts_of(&mut events, "looping"), 0);
    assert_eq!(h.shutdown().await, Exit::Shutdown);
}

/// One autostarted process `name` alone in a group of `priority`.
fn ranked(name: &str, priority: i32) -> GroupSpec {
    let mut p = program(name, "exec sleep 30");
    p.autostart = true;
    p.priority = priority;
    let mut g = group(p);
    g.priority = priority;
    g
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_autostart_waits_for_autostart_now_and_honours_the_guard_set_before() {
    let dir = tempfile::tempdir().unwrap();
    // Listed out of priority order on purpose.
    let cfg = config(
        dir.path(),
        vec![pair(true), ranked("late", 900), ranked("early", 1)],
    );
    let h = Harness::start_opts(dir, cfg, true);
    let mut events = h.sup.subscribe_events();
    // The actor boots before it serves any request, so these answers come after the boot.
    for ns in ["pair:off_0", "pair:on_0", "early", "late"] {
        assert_eq!(
            h.state(ns).await,
            ProcessState::Stopped,
            "{ns} not autostarted"
        );
        assert_eq!(h.sup.process_info(ns).await.unwrap().start, 0);
    }
    h.sup.set_start_guard(refuse("off"));
    h.sup.autostart_now().await;
    h.wait_state("early", ProcessState::Running).await;
    h.wait_state("pair:on_0", ProcessState::Running).await;
    h.wait_state("late", ProcessState::Running).await;
    assert_eq!(h.state("pair:off_0").await, ProcessState::Stopped);
    assert_eq!(h.sup.process_info("pair:off_0").await.unwrap().start, 0);

    let mut order = Vec::new();
    while let Ok(e) = events.try_recv() {
        if e.to == ProcessState::Starting {
            order.push(e.name);
        }
    }
    // Priorities: early 1, late 900, pair 999.
    assert_eq!(order, vec!["early", "late", "on_0"], "priority order");

    // A second call does nothing: the stopped process stays stopped.
    h.sup.stop_process("early", true).await.unwrap();
    h.sup.autostart_now().await;
    assert_eq!(h.state("early").await, ProcessState::Stopped);
    assert_eq!(starts_of(&mut events, "early"), 0);
    assert_eq!(h.shutdown().await, Exit::Shutdown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autostart_now_does_nothing_without_deferral() {
    let h = Harness::start(vec![ranked("auto", 1)]);
    h.wait_state("auto", ProcessState::Running).await;
    h.sup.stop_process("auto", true).await.unwrap();
    let mut events = h.sup.subscribe_events();
    h.sup.autostart_now().await;
    assert_eq!(h.state("auto").await, ProcessState::Stopped);
    assert_eq!(starts_of(&mut events, "auto"), 0);
    assert_eq!(h.shutdown().await, Exit::Shutdown);
}
