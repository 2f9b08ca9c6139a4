//! Supvisors' `update_numprocs` on a real supervisor whose configuration is a real file
//! re-read with `numprocs` overrides: an increase adds processes (autostarted when their
//! `autostart` is true, as the start guard allows), a decrease stops then removes the highest
//! numbers, the faults, and the overrides surviving reloadConfig and restarts.

mod common;

use common::*;
use model::{Fault, FaultCode, ProcessState};
use procman::{NumprocsChange, SupervisorApi};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `w`: 2 autostarted sleepers; `m`: 1 in `[group:grp]`, not autostarted; `solo`: no
/// `%(process_num)` in its name; `stubborn`: 2 processes that ignore SIGTERM.
fn conf(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "[supervisord]\nlogfile={d}/supervisord.log\npidfile={d}/supervisord.pid\n\
         childlogdir={d}\nidentifier=np\nnodaemon=true\n\
         [program:w]\ncommand=sleep 30\nprocess_name=w_%(process_num)d\nnumprocs=2\n\
         startsecs=0\nstopwaitsecs=2\nstdout_logfile=NONE\nstderr_logfile=NONE\n\
         [program:m]\ncommand=sleep 30\nprocess_name=m_%(process_num)d\nautostart=false\n\
         startsecs=0\nstdout_logfile=NONE\nstderr_logfile=NONE\n\
         [group:grp]\nprograms=m\n\
         [program:solo]\ncommand=sleep 30\nautostart=false\nstdout_logfile=NONE\nstderr_logfile=NONE\n\
         [program:stubborn]\ncommand=sh -c \"trap '' TERM; while :; do sleep 0.1; done\"\n\
         process_name=s_%(process_num)d\nnumprocs=2\nstartsecs=0\nstopwaitsecs=1\n\
         stdout_logfile=NONE\nstderr_logfile=NONE\n"
    )
}

/// A supervisor on the file `conf`, with the numprocs reloader installed.
fn start() -> (Harness, PathBuf) {
    start_on(conf)
}

fn start_on(conf: fn(&Path) -> String) -> (Harness, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("supervisord.conf");
    std::fs::write(&path, conf(dir.path())).unwrap();
    let ctx = config::Context::from_process();
    let cfg = config::load_with(&path, &ctx).unwrap();
    let h = Harness::start_with(dir, cfg);
    let file = path.clone();
    h.sup.set_numprocs_reloader(Arc::new(move |overrides| {
        config::load_with_numprocs(&file, &ctx, overrides).map_err(|e| e.to_string())
    }));
    (h, path)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

async fn pid(h: &Harness, ns: &str) -> i32 {
    h.sup.process_info(ns).await.unwrap().pid
}

/// Polls until process `pid` ignores SIGTERM (its shell has run its `trap`): RUNNING with
/// `startsecs=0` says it was spawned, not that the shell got that far (a loaded machine may
/// take a while to schedule it).
async fn wait_ignores_term(pid: i32) {
    let ignores = || {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("SigIgn:"))
            .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
            .is_some_and(|mask| mask & (1 << (libc::SIGTERM - 1)) != 0)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ignores() {
        assert!(Instant::now() < deadline, "pid {pid} never ignored SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls until `ns` is known and in `want` (it may not exist yet, e.g. during a restart).
async fn wait_known_state(h: &Harness, ns: &str, want: ProcessState) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(info) = h.sup.process_info(ns).await {
            if info.state == want {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{ns}: never {want}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn increase_adds_the_next_numbers_and_autostarts_those_with_autostart() {
    let (h, _) = start();
    h.wait_state("w:w_1", ProcessState::Running).await;

    let change = h.sup.update_numprocs("w", 4).await.unwrap();
    assert_eq!(change.added, strings(&["w:w_2", "w:w_3"]));
    assert!(change.removed.is_empty());
    h.wait_state("w:w_2", ProcessState::Running).await;
    h.wait_state("w:w_3", ProcessState::Running).await;

    // a [group:x] member, autostart=false: added STOPPED
    let change = h.sup.update_numprocs("m", 3).await.unwrap();
    assert_eq!(change.added, strings(&["grp:m_1", "grp:m_2"]));
    assert_eq!(h.state("grp:m_2").await, ProcessState::Stopped);
    h.sup.start_process("grp:m_2", true).await.unwrap();

    let names: Vec<String> = h
        .sup
        .all_process_info()
        .await
        .into_iter()
        .map(|i| format!("{}:{}", i.group, i.name))
        .collect();
    for ns in ["grp:m_0", "grp:m_1", "grp:m_2", "w:w_0", "w:w_3"] {
        assert!(names.contains(&ns.to_string()), "{ns} in {names:?}");
    }
    let configured = h.sup.all_config_info().await.len();
    assert_eq!(configured, 4 + 3 + 1 + 2);
    assert_eq!(
        h.sup.numprocs_overrides(),
        [("m".to_string(), 3), ("w".to_string(), 4)].into()
    );
    assert_eq!(h.shutdown().await, procman::Exit::Shutdown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_processes_are_not_autostarted_when_the_start_guard_refuses() {
    let (h, _) = start();
    h.wait_state("w:w_1", ProcessState::Running).await;
    h.sup.set_start_guard(Arc::new(|spec: &model::ProcessSpec| {
        if spec.program == "w" {
            Err(Fault::with(FaultCode::Disabled, spec.name.clone()))
        } else {
            Ok(())
        }
    }));
    let change = h.sup.update_numprocs("w", 3).await.unwrap();
    assert_eq!(change.added, strings(&["w:w_2"]));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.state("w:w_2").await, ProcessState::Stopped);
    assert_eq!(h.state("w:w_0").await, ProcessState::Running);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decrease_stops_the_highest_numbers_then_removes_them() {
    let (h, _) = start();
    h.wait_state("w:w_1", ProcessState::Running).await;
    let change = h.sup.update_numprocs("w", 3).await.unwrap();
    assert_eq!(change.added, strings(&["w:w_2"]));
    h.wait_state("w:w_2", ProcessState::Running).await;
    let (p1, p2) = (pid(&h, "w:w_1").await, pid(&h, "w:w_2").await);

    let change = h.sup.update_numprocs("w", 1).await.unwrap();
    assert_eq!(
        change,
        NumprocsChange {
            added: vec![],
            removed: strings(&["w:w_1", "w:w_2"]),
        }
    );
    for ns in ["w:w_1", "w:w_2"] {
        let e = h.sup.process_info(ns).await.unwrap_err();
        assert_eq!(e.code, FaultCode::BadName);
    }
    assert!(!pid_alive(p1) && !pid_alive(p2));
    assert_eq!(h.state("w:w_0").await, ProcessState::Running);
    assert_eq!(h.sup.all_config_info().await.len(), 1 + 1 + 1 + 2);

    // a process that ignores SIGTERM is killed after stopwaitsecs, then removed
    h.wait_state("stubborn:s_1", ProcessState::Running).await;
    wait_ignores_term(pid(&h, "stubborn:s_1").await).await;
    let begun = Instant::now();
    let change = h.sup.update_numprocs("stubborn", 1).await.unwrap();
    assert_eq!(change.removed, strings(&["stubborn:s_1"]));
    assert!(begun.elapsed() >= Duration::from_millis(900));
    assert_eq!(h.state("stubborn:s_0").await, ProcessState::Running);

    // a stopped obsolete process is removed at once
    h.sup.stop_process("w:w_0", true).await.unwrap();
    h.sup.update_numprocs("w", 2).await.unwrap();
    h.wait_state("w:w_1", ProcessState::Running).await;
    h.sup.stop_process("w:w_1", true).await.unwrap();
    let change = h.sup.update_numprocs("w", 1).await.unwrap();
    assert_eq!(change.removed, strings(&["w:w_1"]));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_name_the_program_the_value_or_the_configuration_problem() {
    let (h, _) = start();
    let e = h.sup.update_numprocs("nope", 2).await.unwrap_err();
    assert_eq!(
        e.fault_string(),
        "BAD_NAME: program nope unknown to Supvisors"
    );
    let e = h.sup.update_numprocs("w", 0).await.unwrap_err();
    assert_eq!(
        e.fault_string(),
        "INCORRECT_PARAMETERS: incorrect value for numprocs: 0 (integer > 0 expected)"
    );
    let e = h.sup.update_numprocs("solo", 2).await.unwrap_err();
    assert_eq!(e.code, FaultCode::SupvisorsConfError);
    assert_eq!(e.code.code(), 100);
    let text = e.fault_string();
    assert!(
        text.starts_with("SUPVISORS_CONF_ERROR: numprocs not applicable: ")
            && text.contains("[program:solo] process_name: must contain %(process_num)"),
        "{text}"
    );
    // nothing changed, nothing recorded
    assert!(h.sup.numprocs_overrides().is_empty());
    assert_eq!(h.sup.all_config_info().await.len(), 2 + 1 + 1 + 2);
    // the same size: no change
    assert_eq!(
        h.sup.update_numprocs("solo", 1).await.unwrap(),
        NumprocsChange::default()
    );
    h.shutdown().await;

    // without a numprocs reloader the change cannot be expanded
    let h = Harness::start(vec![group(program("plain", "exec sleep 30"))]);
    let e = h.sup.update_numprocs("plain", 2).await.unwrap_err();
    assert_eq!(e.code, FaultCode::SupvisorsConfError);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_override_survives_reload_config_and_restart() {
    let (h, path) = start();
    h.wait_state("w:w_1", ProcessState::Running).await;
    h.sup.update_numprocs("w", 3).await.unwrap();
    h.sup.update_numprocs("m", 2).await.unwrap();
    h.wait_state("w:w_2", ProcessState::Running).await;

    // the file still says numprocs=2, but the re-read applies the override: nothing changed
    let diff = h.sup.reload_config().await.unwrap();
    assert_eq!(diff, procman::ConfigDiff::default(), "{diff:?}");
    assert_eq!(h.sup.all_config_info().await.len(), 3 + 2 + 1 + 2);

    // a file edit elsewhere is still seen; the override still applies
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace(
            "[program:solo]\ncommand=sleep 30",
            "[program:solo]\ncommand=sleep 31",
        ),
    )
    .unwrap();
    let diff = h.sup.reload_config().await.unwrap();
    assert_eq!(diff.changed, strings(&["solo"]));

    h.sup.restart().unwrap();
    wait_known_state(&h, "w:w_2", ProcessState::Running).await;
    assert_eq!(h.state("grp:m_1").await, ProcessState::Stopped);
    let e = h.sup.process_info("w:w_3").await.unwrap_err();
    assert_eq!(e.code, FaultCode::BadName);
    h.shutdown().await;
}

/// Records every event it gets into its file, answers OK.
const LISTENER: &str = r#"
import sys
out = open(sys.argv[1], 'a')
while True:
    sys.stdout.write('READY\n'); sys.stdout.flush()
    header = sys.stdin.readline()
    if not header:
        break
    h = dict(x.split(':', 1) for x in header.split())
    payload = sys.stdin.read(int(h['len']))
    out.write(header + payload + '\n---\n'); out.flush()
    sys.stdout.write('RESULT 2\nOK'); sys.stdout.flush()
"#;

fn listener_conf(dir: &Path) -> String {
    let d = dir.display();
    std::fs::write(dir.join("listener.py"), LISTENER).unwrap();
    format!(
        "[supervisord]\nlogfile={d}/supervisord.log\npidfile={d}/supervisord.pid\n\
         childlogdir={d}\nidentifier=np\nnodaemon=true\n\
         [eventlistener:pool]\ncommand=python3 -u {d}/listener.py {d}/l%(process_num)d.rec\n\
         process_name=l_%(process_num)d\nevents=PROCESS_STATE\nstartsecs=0\nstopwaitsecs=2\n\
         stdout_logfile=NONE\nstderr_logfile=NONE\n\
         [program:solo]\ncommand=sleep 30\nautostart=false\nstartsecs=0\n\
         stdout_logfile=NONE\nstderr_logfile=NONE\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_listener_pool_grows_and_shrinks_and_keeps_dispatching() {
    let (h, _) = start_on(listener_conf);
    h.wait_state("pool:l_0", ProcessState::Running).await;
    let change = h.sup.update_numprocs("pool", 2).await.unwrap();
    assert_eq!(change.added, strings(&["pool:l_1"]));
    h.wait_state("pool:l_1", ProcessState::Running).await;

    let change = h.sup.update_numprocs("pool", 1).await.unwrap();
    assert_eq!(change.removed, strings(&["pool:l_1"]));

    // the remaining listener still gets the events
    h.sup.start_process("solo", true).await.unwrap();
    let rec = h.path().join("l0.rec");
    wait_until("l_0 records solo RUNNING", || {
        std::fs::read_to_string(&rec).is_ok_and(|t| {
            t.contains("eventname:PROCESS_STATE_RUNNING") && t.contains("processname:solo")
        })
    })
    .await;
    h.shutdown().await;
}
