//! The control part over the fakes: gating, faults, job submission and the per-request wait.

use crate::tests::{call, cluster, get, items, namespace, s, supervisor, to_state, TO_OPERATION};
use cluster::{Command, JobKind, JobOp, JobOutcome, SupvisorsState};
use commander::{Catalog, Commander};
use model::FaultCode;
use std::sync::Arc;
use std::time::Duration;
use xmlrpc::Value;

const RULES: &str = r#"<?xml version="1.0"?>
<root>
  <application name="back">
    <programs>
      <program pattern="worker_"><start_sequence>1</start_sequence></program>
      <program name="cache"><start_sequence>2</start_sequence></program>
    </programs>
  </application>
</root>"#;

fn commander() -> Arc<Commander> {
    let ids: Vec<String> = crate::tests::spec()
        .instances
        .iter()
        .map(|i| i.identifier.clone())
        .collect();
    let rules =
        config::rules::from_sources(&[("rules.xml".into(), RULES.to_string())], &ids).unwrap();
    Arc::new(Commander::new(
        rules,
        Catalog::default(),
        crate::commander_settings(&crate::tests::spec()),
    ))
}

fn fault_code(result: Result<Value, model::Fault>) -> FaultCode {
    result.expect_err("a fault").code
}

/// The jobs the namespace committed, in order.
fn created(c: &cluster::ClusterState) -> Vec<JobKind> {
    c.jobs().all().map(|j| j.kind.clone()).collect()
}

#[tokio::test]
async fn control_methods_are_gated_like_supvisors() {
    let (c, sup) = (cluster(), supervisor());
    let (ns, _) = namespace(&c, &sup);
    let ns = ns.with_commander(commander());
    c.apply(&to_state(&[SupvisorsState::Initialization]));
    for (method, params) in [
        ("start_application", vec![s("CONFIG"), s("back")]),
        ("stop_application", vec![s("back")]),
        ("get_application_info", vec![s("back")]),
        ("conciliate", vec![s("STOP")]),
    ] {
        assert_eq!(
            fault_code(call(&ns, method, params).await),
            FaultCode::BadSupvisorsState,
            "{method}"
        );
    }
}

#[tokio::test]
async fn application_reads_faults_and_strategies() {
    let (c, sup) = (cluster(), supervisor());
    c.apply(&to_state(&TO_OPERATION));
    let (ns, _) = namespace(&c, &sup);
    let ns = ns.with_commander(commander());
    let back = call(&ns, "get_application_info", vec![s("back")])
        .await
        .unwrap();
    assert_eq!(get(&back, "managed"), &Value::Bool(true));
    let web = call(&ns, "get_application_info", vec![s("web")])
        .await
        .unwrap();
    assert_eq!(get(&web, "managed"), &Value::Bool(false));
    assert_eq!(get(&web, "statename"), &s("STOPPED"));
    let all = call(&ns, "get_all_applications_info", vec![])
        .await
        .unwrap();
    assert_eq!(items(&all).len(), 2);
    assert_eq!(
        fault_code(call(&ns, "get_application_info", vec![s("nope")]).await),
        FaultCode::BadName
    );
    let rules = call(&ns, "get_application_rules", vec![s("web")])
        .await
        .unwrap();
    assert_eq!(
        rules,
        Value::Struct(vec![
            ("managed".into(), Value::Bool(false)),
            ("application_name".into(), s("web")),
        ])
    );
    let process = call(&ns, "get_process_rules", vec![s("back:worker_00")])
        .await
        .unwrap();
    assert_eq!(get(&items(&process)[0], "start_sequence"), &Value::Int(1));
    // worker_00 runs on a: the application is not STOPPED.
    assert_eq!(
        fault_code(call(&ns, "start_application", vec![s("CONFIG"), s("back")]).await),
        FaultCode::AlreadyStarted
    );
    assert_eq!(
        fault_code(call(&ns, "start_application", vec![s("CONFIG"), s("web")]).await),
        FaultCode::NotManaged
    );
    assert_eq!(
        fault_code(call(&ns, "start_application", vec![s("BOGUS"), s("back")]).await),
        FaultCode::IncorrectParameters
    );
    assert_eq!(
        fault_code(call(&ns, "start_application", vec![Value::Int(42), s("back")]).await),
        FaultCode::IncorrectParameters
    );
}

#[tokio::test]
async fn a_request_without_wait_commits_its_job_and_returns() {
    let (c, sup) = (cluster(), supervisor());
    c.apply(&to_state(&TO_OPERATION));
    let (ns, _) = namespace(&c, &sup);
    let ns = ns.with_commander(commander());
    let done = call(&ns, "stop_application", vec![s("back"), Value::Bool(false)])
        .await
        .unwrap();
    assert_eq!(done, Value::Bool(true));
    let kinds = c.with_state(created);
    assert_eq!(
        kinds,
        vec![JobKind::StopApplication {
            application: "back".into()
        }]
    );
}

#[tokio::test]
async fn a_waiting_request_returns_when_its_own_job_ends() {
    let (c, sup) = (cluster(), supervisor());
    c.apply(&to_state(&TO_OPERATION));
    let (ns, _) = namespace(&c, &sup);
    let ns = Arc::new(ns.with_commander(commander()));
    for (ok, expected) in [
        (true, Ok(Value::Bool(true))),
        (false, Err(FaultCode::AbnormalTermination)),
    ] {
        let waiting = {
            let ns = ns.clone();
            tokio::spawn(async move {
                call(&*ns, "stop_application", vec![s("back"), Value::Bool(true)]).await
            })
        };
        // The job appears; the caller keeps waiting while another job ends.
        let id = loop {
            if let Some(id) = c.with_state(|st| st.jobs().running().map(|j| j.id).last()) {
                break id;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let outcome = |ok: bool| JobOutcome {
            ok,
            message: if ok {
                String::new()
            } else {
                "x: failed".into()
            },
            at_ms: 1,
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        c.apply(&[Command::Jobs(vec![JobOp::Finish {
            job: id,
            outcome: outcome(ok),
        }])]);
        let result = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(result.map_err(|f| f.code), expected);
    }
}

#[tokio::test]
async fn instance_loading_is_the_expected_loading_of_what_runs_there() {
    let (c, sup) = (cluster(), supervisor());
    c.apply(&to_state(&TO_OPERATION));
    const LOADED: &str = r#"<root><application name="back"><programs>
        <program pattern="worker_"><expected_loading>25</expected_loading></program>
        </programs></application></root>"#;
    let ids = vec!["a".to_string(), "b".to_string(), "c".to_string()];
    let rules = config::rules::from_sources(&[("r.xml".into(), LOADED.to_string())], &ids).unwrap();
    let commander = Arc::new(Commander::new(
        rules,
        Catalog::default(),
        crate::commander_settings(&crate::tests::spec()),
    ));
    let (ns, _) = namespace(&c, &sup);
    let ns = ns.with_commander(commander);
    // a runs worker_00 (RUNNING), b runs worker_00 (STARTING): both count.
    for (id, load) in [("a", 25), ("b", 25)] {
        let info = call(&ns, "get_instance_info", vec![s(id)]).await.unwrap();
        assert_eq!(get(&info, "loading"), &Value::Int(load), "{id}");
    }
}
