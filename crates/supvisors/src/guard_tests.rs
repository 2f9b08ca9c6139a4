//! Disabled programs against a real local supervisor: `supvisors.disable` through the
//! namespace (fake cluster), then procman, guarded by [`crate::disabled_guard`], refuses to
//! start the program's processes with Supvisors' DISABLED (103) until `enable`.

use crate::fakes::FakeCluster;
use crate::{disabled_guard, ProgramIndex, SupvisorsNamespace};
use cluster::{Command, InstanceState, SupvisorsState};
use model::{
    AutoRestart, Config, FaultCode, GroupKind, GroupSpec, LogSpec, LogTarget, ProcessSpec,
    ProcessState, SupervisordSpec,
};
use procman::{Options, Supervisor, SupervisorApi};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use web::Namespace;
use xmlrpc::Value;

fn sleeper(group: &str, name: &str, program: &str) -> ProcessSpec {
    let log = LogSpec {
        maxbytes: 0,
        backups: 0,
        ..LogSpec::new(LogTarget::None)
    };
    ProcessSpec {
        group: group.into(),
        program: program.into(),
        autostart: false,
        startsecs: 0,
        startretries: 0,
        autorestart: AutoRestart::False,
        stopwaitsecs: 5,
        stdout: log.clone(),
        stderr: log,
        ..ProcessSpec::new(name, vec!["sleep".into(), "30".into()])
    }
}

fn config(dir: &Path) -> Config {
    let supervisord = SupervisordSpec {
        logfile_maxbytes: 0,
        logfile_backups: 0,
        nodaemon: true,
        silent: true,
        nocleanup: true,
        identifier: "guardtest".into(),
        ..SupervisordSpec::in_dir(dir)
    };
    let group = GroupSpec {
        name: "back".into(),
        priority: 999,
        kind: GroupKind::Program,
        processes: vec![
            sleeper("back", "worker_00", "worker"),
            sleeper("back", "cache", "cache"),
        ],
    };
    Config::new(dir, supervisord, vec![group])
}

async fn call(ns: &impl Namespace, method: &str, params: Vec<Value>) -> Value {
    let def = ns
        .methods()
        .iter()
        .find(|d| d.name == method)
        .unwrap_or_else(|| panic!("no method {method}"));
    ns.call(def, params).await.expect("call succeeds")
}

async fn wait_state(sup: &Supervisor, namespec: &str, want: ProcessState) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let state = sup.process_info(namespec).await.map(|i| i.state);
        if state == Ok(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{namespec}: {state:?}, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_program_cannot_be_started_until_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let again = cfg.clone();
    let (sup, done) = Supervisor::start(
        cfg.clone(),
        Options {
            reloader: Arc::new(move || Ok(again.clone())),
            main_log: None,
            server_url: None,
            shutdown: tokio_util::sync::CancellationToken::new(),
            defer_autostart: false,
        },
    )
    .unwrap();

    let cluster = FakeCluster::new("a");
    let mut setup = vec![
        Command::InstanceState {
            instance: "a".into(),
            state: InstanceState::Checking,
        },
        Command::InstanceState {
            instance: "a".into(),
            state: InstanceState::Running,
        },
    ];
    for state in [
        SupvisorsState::Initialization,
        SupvisorsState::Deployment,
        SupvisorsState::Operation,
    ] {
        setup.push(Command::SetSupvisorsState { state });
    }
    cluster.apply(&setup);
    sup.set_start_guard(disabled_guard(&cluster));
    let ns = SupvisorsNamespace::new(
        cluster.clone(),
        sup.clone(),
        crate::tests::spec(),
        Arc::new(|_| {}),
    )
    .with_programs(ProgramIndex::from_config(&cfg));

    sup.start_process("back:worker_00", true).await.unwrap();
    assert_eq!(
        call(&ns, "disable", vec![Value::String("worker".into())]).await,
        Value::Bool(true)
    );
    // disable stopped the running process, and it cannot be started again.
    wait_state(&sup, "back:worker_00", ProcessState::Stopped).await;
    let refused = sup.start_process("back:worker_00", true).await.unwrap_err();
    assert_eq!(refused.code, FaultCode::Disabled);
    assert_eq!(refused.code.code(), 103);
    assert_eq!(refused.fault_string(), "DISABLED: back:worker_00");
    // A group start reports it per process; the other program starts.
    let results = sup.start_group("back", true).await.unwrap();
    let outcome = |name: &str| {
        results
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.outcome.clone())
            .unwrap()
    };
    assert_eq!(outcome("worker_00").unwrap_err().code, FaultCode::Disabled);
    assert_eq!(outcome("cache"), Ok(()));

    assert_eq!(
        call(&ns, "enable", vec![Value::String("worker".into())]).await,
        Value::Bool(true)
    );
    sup.start_process("back:worker_00", true).await.unwrap();

    sup.shutdown().unwrap();
    tokio::time::timeout(Duration::from_secs(10), done.wait())
        .await
        .expect("the supervisor stops");
}
