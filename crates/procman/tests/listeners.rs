//! Event listeners speaking Supervisor's protocol, with a real python3 listener.

mod common;

use common::*;
use model::{ListenerSpec, ProcessState};
use procman::SupervisorApi;
use std::path::Path;

const LISTENER: &str = r#"
import sys
out = open(sys.argv[1], 'a')
fail_first = len(sys.argv) > 2
first = True
while True:
    sys.stdout.write('READY\n'); sys.stdout.flush()
    header = sys.stdin.readline()
    if not header:
        break
    h = dict(x.split(':', 1) for x in header.split())
    payload = sys.stdin.read(int(h['len']))
    out.write(header + payload + '\n---\n'); out.flush()
    if fail_first and first:
        first = False
        sys.stdout.write('RESULT 4\nFAIL'); sys.stdout.flush()
    else:
        sys.stdout.write('RESULT 2\nOK'); sys.stdout.flush()
"#;

fn listener(dir: &Path, name: &str, events: &[&str], fail_first: bool) -> model::GroupSpec {
    let script = dir.join("listener.py");
    std::fs::write(&script, LISTENER).unwrap();
    let mut p = program(name, "listener");
    p.argv = vec![
        "python3".into(),
        "-u".into(),
        script.display().to_string(),
        dir.join(format!("{name}.rec")).display().to_string(),
    ];
    if fail_first {
        p.argv.push("fail".into());
    }
    p.priority = -1;
    p.autostart = true;
    p.listener = Some(ListenerSpec {
        events: events.iter().map(|s| s.to_string()).collect(),
        buffer_size: 10,
        result_handler: "supervisor.dispatchers:default_handler".into(),
    });
    group(p)
}

fn records(dir: &Path, name: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dir.join(format!("{name}.rec"))).unwrap_or_default();
    text.split("\n---\n")
        .filter(|r| !r.is_empty())
        .filter_map(|r| {
            r.split_once('\n')
                .map(|(h, p)| (h.to_string(), p.to_string()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_receives_state_changes_and_remote_comm() {
    let dir = tempfile::tempdir().unwrap();
    let lis = listener(
        dir.path(),
        "lis",
        &["PROCESS_STATE", "REMOTE_COMMUNICATION"],
        false,
    );
    let cfg = config(dir.path(), vec![lis, group(program("ok", "exec sleep 30"))]);
    let h = Harness::start_with(dir, cfg);
    let d = h.path();
    h.wait_state("lis", ProcessState::Running).await;
    h.sup.start_process("ok", true).await.unwrap();
    let pid = h.sup.process_info("ok").await.unwrap().pid;
    h.sup
        .send_remote_comm_event("mytype", "some data")
        .await
        .unwrap();
    wait_until("events delivered", || {
        records(&d, "lis")
            .iter()
            .any(|(hd, _)| hd.contains("REMOTE_COMMUNICATION"))
    })
    .await;
    let recs = records(&d, "lis");
    let find = |name: &str| {
        recs.iter()
            .find(|(hd, p)| {
                hd.contains(&format!("eventname:{name} ")) && p.starts_with("processname:ok ")
            })
            .cloned()
    };
    let (hd, payload) = find("PROCESS_STATE_RUNNING").expect("RUNNING event");
    assert_eq!(
        payload,
        format!("processname:ok groupname:ok from_state:STARTING pid:{pid}")
    );
    assert!(hd.starts_with("ver:3.0 server:testsup serial:"), "{hd}");
    assert!(hd.contains(" pool:lis poolserial:"), "{hd}");
    assert!(hd.ends_with(&format!("len:{}", payload.len())), "{hd}");
    let (_, payload) = find("PROCESS_STATE_STARTING").expect("STARTING event");
    assert_eq!(
        payload,
        "processname:ok groupname:ok from_state:STOPPED tries:0"
    );
    let (_, payload) = recs
        .iter()
        .find(|(hd, _)| hd.contains("eventname:REMOTE_COMMUNICATION "))
        .cloned()
        .unwrap();
    assert_eq!(payload, "type:mytype\nsome data");
    // serials increase one by one in the pool
    let serials: Vec<u64> = recs
        .iter()
        .map(|(hd, _)| {
            hd.split_whitespace()
                .find_map(|f| f.strip_prefix("poolserial:"))
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(serials.windows(2).all(|w| w[1] == w[0] + 1), "{serials:?}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_event_is_redelivered() {
    let dir = tempfile::tempdir().unwrap();
    let lis = listener(dir.path(), "fl", &["REMOTE_COMMUNICATION"], true);
    let cfg = config(dir.path(), vec![lis]);
    let h = Harness::start_with(dir, cfg);
    let d = h.path();
    h.wait_state("fl", ProcessState::Running).await;
    h.sup.send_remote_comm_event("t", "x").await.unwrap();
    wait_until("redelivered", || records(&d, "fl").len() >= 2).await;
    let recs = records(&d, "fl");
    assert_eq!(recs[0], recs[1], "same event, same serials");
    h.shutdown().await;
}

fn find_record(recs: &[(String, String)], event: &str) -> Option<(String, String)> {
    recs.iter()
        .find(|(hd, _)| hd.contains(&format!("eventname:{event} ")))
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_mode_emits_process_communication_events() {
    let dir = tempfile::tempdir().unwrap();
    let lis = listener(dir.path(), "lis", &["PROCESS_COMMUNICATION"], false);
    // the tokens arrive split across several reads
    let mut p = program(
        "cap",
        "printf 'before<!--XSUPERVISOR:BEGIN-->'; sleep 0.2; \
         printf 'pay load<!--XSUPER'; sleep 0.2; \
         printf 'VISOR:END-->after the capture, a long enough line\\n'; \
         printf '<!--XSUPERVISOR:BEGIN-->err data<!--XSUPERVISOR:END-->\\n' >&2; \
         exec sleep 30",
    );
    p.stdout.capture_maxbytes = 1024;
    p.stderr.capture_maxbytes = 1024;
    let cfg = config(dir.path(), vec![lis, group(p)]);
    let h = Harness::start_with(dir, cfg);
    let d = h.path();
    h.wait_state("lis", ProcessState::Running).await;
    h.sup.start_process("cap", true).await.unwrap();
    let pid = h.sup.process_info("cap").await.unwrap().pid;
    wait_until("both comm events", || {
        let recs = records(&d, "lis");
        find_record(&recs, "PROCESS_COMMUNICATION_STDOUT").is_some()
            && find_record(&recs, "PROCESS_COMMUNICATION_STDERR").is_some()
    })
    .await;
    let recs = records(&d, "lis");
    let (hd, payload) = find_record(&recs, "PROCESS_COMMUNICATION_STDOUT").unwrap();
    assert_eq!(
        payload,
        format!("processname:cap groupname:cap pid:{pid}\npay load")
    );
    assert!(hd.ends_with(&format!("len:{}", payload.len())), "{hd}");
    let (_, payload) = find_record(&recs, "PROCESS_COMMUNICATION_STDERR").unwrap();
    assert_eq!(
        payload,
        format!("processname:cap groupname:cap pid:{pid}\nerr data")
    );
    // captured data never reaches the normal log
    let log = h.wait_log("cap", "after the capture").await;
    assert_eq!(log, "beforeafter the capture, a long enough line\n");
    let err = h
        .sup
        .read_process_log("cap", procman::Channel::Stderr, 0, 0)
        .await
        .unwrap();
    assert!(
        !err.contains("err data") && !err.contains("XSUPERVISOR"),
        "{err:?}"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_enabled_emits_process_log_events() {
    let dir = tempfile::tempdir().unwrap();
    let lis = listener(dir.path(), "lis", &["PROCESS_LOG"], false);
    let mut p = program("talk", "echo hello; echo oops >&2; exec sleep 30");
    p.stdout.events_enabled = true;
    p.stderr.events_enabled = true;
    let quiet = program("quiet", "echo unseen; exec sleep 30");
    let cfg = config(dir.path(), vec![lis, group(p), group(quiet)]);
    let h = Harness::start_with(dir, cfg);
    let d = h.path();
    h.wait_state("lis", ProcessState::Running).await;
    h.sup.start_process("quiet", true).await.unwrap();
    h.wait_log("quiet", "unseen").await;
    h.sup.start_process("talk", true).await.unwrap();
    let pid = h.sup.process_info("talk").await.unwrap().pid;
    wait_until("both log events", || {
        let recs = records(&d, "lis");
        find_record(&recs, "PROCESS_LOG_STDOUT").is_some()
            && find_record(&recs, "PROCESS_LOG_STDERR").is_some()
    })
    .await;
    let recs = records(&d, "lis");
    let (_, payload) = find_record(&recs, "PROCESS_LOG_STDOUT").unwrap();
    assert_eq!(
        payload,
        format!("processname:talk groupname:talk pid:{pid} channel:stdout\nhello\n")
    );
    let (_, payload) = find_record(&recs, "PROCESS_LOG_STDERR").unwrap();
    assert_eq!(
        payload,
        format!("processname:talk groupname:talk pid:{pid} channel:stderr\noops\n")
    );
    // neither the process without events_enabled nor the listener itself produce events
    assert!(
        recs.iter().all(|(_, p)| p.starts_with("processname:talk ")),
        "{recs:?}"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tick_5_reaches_a_listener_within_one_period() {
    let started = std::time::Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let lis = listener(dir.path(), "tk", &["TICK_5"], false);
    let cfg = config(dir.path(), vec![lis]);
    let h = Harness::start_with(dir, cfg);
    let d = h.path();
    let deadline = started + std::time::Duration::from_secs(6);
    let (hd, payload) = loop {
        if let Some(r) = find_record(&records(&d, "tk"), "TICK_5") {
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "no TICK_5 within 6 s");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(hd.contains(" pool:tk "), "{hd}");
    let when: i64 = payload
        .strip_prefix("when:")
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("bad payload {payload:?}"));
    assert_eq!(when % 5, 0, "{payload}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - when).abs() <= 6, "when:{when} now:{now}");
    h.shutdown().await;
}
