//! Supvisors' extra arguments (`start_args`): appended to the command line for the start that
//! sets them, the autorestarts and the plain starts that follow, until cleared.

mod common;

use common::*;
use model::{AutoRestart, FaultCode, ProcessState};
use procman::{Exit, SupervisorApi};
use std::time::{Duration, Instant};

/// `sh -c SCRIPT a b …`: the shell gets the extra arguments as `$0 $1 …`, and prints them.
fn echo_args() -> model::ProcessSpec {
    let script = r#"echo "args:$0|$1|$#"; exec sleep 30"#;
    let mut p = program("p", script);
    p.autorestart = AutoRestart::True;
    p
}

/// Polls the stdout log until `needle` occurs `n` times (deadline 10 s).
async fn wait_count(h: &Harness, needle: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = h
            .sup
            .read_process_log("p", procman::Channel::Stdout, 0, 0)
            .await
            .unwrap_or_default();
        let seen = text.matches(needle).count();
        if seen >= n {
            assert_eq!(seen, n, "{needle:?} too often in {text:?}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{needle:?} seen {seen} times, wanted {n}: {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_args_last_until_the_next_start_args() {
    let h = Harness::start(vec![group(echo_args())]);
    assert_eq!(h.sup.extra_args("p"), None);

    // through the trait: procman overrides the default (which refuses non-empty arguments)
    SupervisorApi::start_process_args(&h.sup, "p", "  x 'y z' ", true)
        .await
        .unwrap();
    wait_count(&h, "args:x|y z|1", 1).await;
    assert_eq!(h.sup.extra_args("p").as_deref(), Some("x 'y z'"));
    assert_eq!(h.sup.extra_args("p:p").as_deref(), Some("x 'y z'"));

    // running: ALREADY_STARTED, and the arguments are left as they were
    let e = h.sup.start_process_args("p", "", true).await.unwrap_err();
    assert_eq!(e.code, FaultCode::AlreadyStarted);
    assert_eq!(h.sup.extra_args("p").as_deref(), Some("x 'y z'"));

    // an autorestart keeps them
    let pid = h.sup.process_info("p").await.unwrap().pid;
    h.sup.signal_process("p", "KILL").await.unwrap();
    wait_count(&h, "args:x|y z|1", 2).await;
    h.wait_state("p", ProcessState::Running).await;
    assert_ne!(h.sup.process_info("p").await.unwrap().pid, pid);

    // so does a plain start
    h.sup.stop_process("p", true).await.unwrap();
    h.sup.start_process("p", true).await.unwrap();
    wait_count(&h, "args:x|y z|1", 3).await;

    // blank arguments clear them
    h.sup.stop_process("p", true).await.unwrap();
    h.sup.start_process_args("p", " ", true).await.unwrap();
    wait_count(&h, "args:sh||0", 1).await;
    assert_eq!(h.sup.extra_args("p"), None);
    h.sup.stop_process("p", true).await.unwrap();

    assert_eq!(h.shutdown().await, Exit::Shutdown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_args_faults_are_those_of_start_process() {
    let mut missing = program("missing", "unused");
    missing.argv = vec!["/nonexistent/prog-xyz".into()];
    let h = Harness::start(vec![group(echo_args()), group(missing)]);
    let code = |r: Result<(), model::Fault>| r.unwrap_err().code;
    assert_eq!(
        code(h.sup.start_process_args("nope", "a", true).await),
        FaultCode::BadName
    );
    assert_eq!(
        code(h.sup.start_process_args("p:*", "a", true).await),
        FaultCode::BadName
    );
    let e = h
        .sup
        .start_process_args("p", "a 'b", true)
        .await
        .unwrap_err();
    assert_eq!(e.code, FaultCode::IncorrectParameters);
    assert_eq!(h.sup.extra_args("p"), None);
    assert_eq!(h.state("p").await, ProcessState::Stopped);
    assert_eq!(
        code(h.sup.start_process_args("missing", "a", true).await),
        FaultCode::NoFile
    );
    // the start failed, but the arguments were set first (as Supvisors does)
    assert_eq!(h.sup.extra_args("missing").as_deref(), Some("a"));
    // removing the group forgets them
    h.sup.remove_process_group("missing").await.unwrap();
    assert_eq!(h.sup.extra_args("missing"), None);
    assert_eq!(h.shutdown().await, Exit::Shutdown);
}
