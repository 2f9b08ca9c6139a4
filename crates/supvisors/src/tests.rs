//! The namespace through `Namespace::call`, with a fake cluster and a fake local supervisor:
//! payload shapes (keys, order, XML-RPC types), gating, faults, synthesis and writes.

use crate::fakes::{info, FakeCluster, FakeProcess, FakeSupervisor, WriteMode};
use crate::{is_disabled, ProgramIndex, SupvisorsNamespace, METHODS};
use cluster::api::RaftStatus;
use cluster::{
    BatchSeq, ClusterApi, Command, InstanceState, ProcessStatus, SupvisorsState, Target, TickStamp,
    WriteError,
};
use model::supvisors::{
    ConciliationStrategy, InstanceAddr, NoQuorumPolicy, RaftTimings, StartingStrategy,
    SupvisorsSpec,
};
use model::{Fault, FaultCode, LogLevel, ProcessState};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use web::Namespace;
use xmlrpc::Value;

fn addr(identifier: &str, host: &str, http_port: u16) -> InstanceAddr {
    InstanceAddr {
        identifier: identifier.into(),
        host: host.into(),
        http_port,
        internal_port: http_port + 1,
    }
}

pub(crate) fn spec() -> SupvisorsSpec {
    let secs = Duration::from_secs;
    SupvisorsSpec {
        // Declared out of order: get_all_instances_info sorts by identifier.
        instances: vec![
            addr("b", "10.0.0.2", 60000),
            addr("a", "10.0.0.1", 60000),
            addr("c", "10.0.0.3", 61000),
        ],
        local_identifier: "a".into(),
        voters: vec!["a".into(), "b".into(), "c".into()],
        core_identifiers_explicit: false,
        rules_files: vec![],
        auto_fence: true,
        no_quorum_policy: NoQuorumPolicy::StopMovable,
        fence_stop_timeout: Duration::from_secs(1),
        synchro_timeout: secs(15),
        inactivity_timeout: secs(10),
        fencing_timeout: secs(3),
        tick_interval: secs(5),
        disabilities_file: None,
        starting_strategy: StartingStrategy::LessLoaded,
        conciliation_strategy: ConciliationStrategy::User,
        cluster_secret: None,
        data_dir: "/tmp".into(),
        raft: RaftTimings {
            heartbeat: Duration::from_millis(100),
            election_timeout_min: Duration::from_millis(300),
            election_timeout_max: Duration::from_millis(600),
        },
        event_interface: None,
        stats: Default::default(),
        notes: vec![],
    }
}

fn status(group: &str, name: &str, state: ProcessState, start: i64, stop: i64) -> ProcessStatus {
    ProcessStatus {
        group: group.into(),
        name: name.into(),
        state,
        pid: if state.is_stopped() { 0 } else { 7 },
        start,
        stop,
        exitstatus: 0,
        expected: true,
        spawnerr: String::new(),
        description: String::new(),
        stdout_logfile: String::new(),
        stderr_logfile: String::new(),
    }
}

pub(crate) fn to_state(states: &[SupvisorsState]) -> Vec<Command> {
    states
        .iter()
        .map(|s| Command::SetSupvisorsState { state: *s })
        .collect()
}

pub(crate) const TO_OPERATION: [SupvisorsState; 3] = [
    SupvisorsState::Initialization,
    SupvisorsState::Deployment,
    SupvisorsState::Operation,
];

/// Instances a (RUNNING, ticked) and b (RUNNING), c never seen; processes on a and b.
pub(crate) fn cluster() -> FakeCluster {
    let c = FakeCluster::new("a");
    let mut cmds = vec![];
    for id in ["a", "b"] {
        for state in [InstanceState::Checking, InstanceState::Running] {
            cmds.push(Command::InstanceState {
                instance: id.into(),
                state,
            });
        }
    }
    cmds.push(Command::Tick {
        instance: "a".into(),
        load: 35,
        stamp: TickStamp {
            counter: 4_000_000_123,
            remote_at: 1_700_000_011_999,
            received_at: 1_700_000_012_345,
        },
        incarnation: 0,
    });
    cmds.push(Command::ProcessEvents {
        instance: "a".into(),
        seq: BatchSeq::new(1, 1),
        full: false,
        events: vec![
            status("web", "web", ProcessState::Running, 1_700_000_000, 0),
            status("back", "worker_00", ProcessState::Running, 1_700_000_001, 0),
            status(
                "back",
                "worker_01",
                ProcessState::Exited,
                1_700_000_001,
                1_700_000_050,
            ),
        ],
    });
    cmds.push(Command::ProcessEvents {
        instance: "b".into(),
        seq: BatchSeq::new(1, 1),
        full: false,
        events: vec![
            status(
                "back",
                "worker_00",
                ProcessState::Starting,
                1_700_000_090,
                0,
            ),
            status("back", "worker_01", ProcessState::Stopped, 0, 1_700_000_020),
        ],
    });
    c.apply(&cmds);
    c
}

pub(crate) fn supervisor() -> FakeSupervisor {
    let p = |group: &str, name: &str, state, pid| FakeProcess {
        info: info(group, name, state, pid),
        startsecs: 1,
        stopwaitsecs: 10,
    };
    FakeSupervisor::new(vec![
        p("web", "web", ProcessState::Running, 100),
        p("back", "worker_00", ProcessState::Running, 101),
        p("back", "worker_01", ProcessState::Exited, 0),
        p("back", "cache", ProcessState::Stopped, 0),
    ])
}

pub(crate) fn programs() -> ProgramIndex {
    ProgramIndex::from_processes([
        ("web", "web", "web"),
        ("worker", "back", "worker_00"),
        ("worker", "back", "worker_01"),
        ("cache", "back", "cache"),
    ])
}

type Levels = Arc<Mutex<Vec<LogLevel>>>;

pub(crate) fn namespace(
    c: &FakeCluster,
    s: &FakeSupervisor,
) -> (SupvisorsNamespace<FakeCluster, FakeSupervisor>, Levels) {
    let levels: Levels = Arc::default();
    let sink = levels.clone();
    let ns = SupvisorsNamespace::new(
        c.clone(),
        s.clone(),
        spec(),
        Arc::new(move |level| sink.lock().unwrap().push(level)),
    )
    .with_programs(programs())
    .with_timeouts(Duration::from_millis(200), Duration::from_millis(200))
    .with_statistics(Arc::new(stats::Statistics::new(&Default::default())));
    (ns, levels)
}

pub(crate) async fn call(
    ns: &impl Namespace,
    method: &str,
    params: Vec<Value>,
) -> Result<Value, Fault> {
    let def = ns
        .methods()
        .iter()
        .find(|d| d.name == method)
        .unwrap_or_else(|| panic!("no method {method}"));
    assert!(def.accepts_arity(params.len()), "{method} arity");
    ns.call(def, params).await.map(read_back)
}

/// A cached (pre-rendered) reply as the client reads it; other values unchanged.
pub(crate) fn read_back(value: Value) -> Value {
    match value {
        Value::Raw(_) => match xmlrpc::parse_response(xmlrpc::render_response(&value).as_bytes()) {
            Ok(Ok(parsed)) => parsed,
            other => panic!("a cached reply does not parse back: {other:?}"),
        },
        other => other,
    }
}

pub(crate) fn s(text: &str) -> Value {
    Value::String(text.into())
}

pub(crate) fn members(v: &Value) -> &[(String, Value)] {
    match v {
        Value::Struct(m) => m,
        other => panic!("not a struct: {other:?}"),
    }
}

fn keys(v: &Value) -> Vec<&str> {
    members(v).iter().map(|(k, _)| k.as_str()).collect()
}

pub(crate) fn get<'a>(v: &'a Value, key: &str) -> &'a Value {
    members(v)
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no key {key}"))
}

pub(crate) fn items(v: &Value) -> &[Value] {
    match v {
        Value::Array(a) => a,
        other => panic!("not an array: {other:?}"),
    }
}

fn strings(list: &[&str]) -> Value {
    Value::Array(list.iter().map(|x| s(x)).collect())
}

#[tokio::test]
async fn every_published_method_is_answered() {
    let (c, sup) = (cluster(), supervisor());
    c.apply(&to_state(&TO_OPERATION));
    let (ns, _) = namespace(&c, &sup);
    // The control part needs a commander and running instances: tested end to end
    // (tests/test_applications.py) and below.
    for def in METHODS
        .iter()
        .filter(|d| !crate::control::CONTROL_METHODS.contains(&d.name))
    {
        let params: Vec<Value> = def
            .params
            .iter()
            .map(|(_, name)| match *name {
                "identifier" => s("a"),
                "namespec" => s("web"),
                "program_name" => s("cache"),
                "level_param" => s("info"),
                "period" => Value::Double(10.0),
                "channel" => s("stdout"),
                "offset" | "length" => Value::Int(0),
                "collecting_period" => Value::Double(5.0),
                _ => Value::Bool(true),
            })
            .collect();
        let result = call(&ns, def.name, params).await;
        assert!(result.is_ok(), "{}: {result:?}", def.name);
    }
    assert_eq!(ns.name(), "supvisors");
}

#[tokio::test]
async fn any_instance_s_processes_are_reached_through_the_cluster() {
    let (c, sup) = (cluster(), supervisor());
    let (ns, _) = namespace(&c, &sup);
    let ok = call(&ns, "instance_restart_process", vec![s("b"), s("web")]).await;
    assert_eq!(ok, Ok(Value::Bool(true)));
    let tail = call(
        &ns,
        "get_instance_process_log",
        vec![
            s("b"),
            s("web"),
            s("stderr"),
            Value::Int(5),
            Value::Int(100),
        ],
    )
    .await;
    assert_eq!(
        tail,
        Ok(Value::Array(vec![
            s("log"),
            Value::Int(8),
            Value::Bool(false)
        ]))
    );
    assert_eq!(
        c.local_calls(),
        [
            (
                "b".to_string(),
                cluster::LocalCall::Restart {
                    namespec: "web".into()
                }
            ),
            (
                "b".to_string(),
                cluster::LocalCall::Tail {
                    namespec: "web".into(),
                    stderr: true,
                    offset: 5,
                    length: 100
                }
            ),
        ]
    );
    let unknown = call(&ns, "instance_stop_process", vec![s("zz"), s("web")]).await;
    assert_eq!(unknown.map_err(|f| f.code), Err(FaultCode::BadName));
    let channel = call(
        &ns,
        "get_instance_process_log",
        vec![s("b"), s("web"), s("stdin"), Value::Int(0), Value::Int(1)],
    )
    .await;
    assert_eq!(channel.map_err(|f| f.code), Err(FaultCode::BadArguments));
}

#[tokio::test]
async fn version_state_master_and_strategies() {
    let (c, sup) = (cluster(), supervisor());
    let (ns, _) = namespace(&c, &sup);
    assert_eq!(call(&ns, "get_api_version", vec![]).await, Ok(s("0.14")));
    let state = call(&ns, "get_supvisors_state", vec![]).await.unwrap();
    assert_eq!(
        state,
        Value::Struct(vec![
            ("fsm_statecode".into(), Value::Int(0)),
            ("fsm_statename".into(), s("OFF")),
            ("starting_jobs".into(), Value::Array(vec![])),
            ("stopping_jobs".into(), Value::Array(vec![])),
        ])
    );
    c.apply(&to_state(&TO_OPERATION[..2]));
    let state = call(&ns, "get_supvisors_state", vec![]).await.unwrap();
    assert_eq!(get(&state, "fsm_statecode"), &Value::Int(2));
    assert_eq!(get(&state, "fsm_statename"), &s("DEPLOYMENT"));

    assert_eq!(call(&ns, "get_master_identifier", vec![]).await, Ok(s("")));
    c.set_leader(Some("b"));
    assert_eq!(call(&ns, "get_master_identifier", vec![]).await, Ok(s("b")));

    assert_eq!(
        call(&ns, "get_strategies", vec![]).await,
        Ok(Value::Struct(vec![
            ("auto-fencing".into(), Value::Bool(true)),
            ("starting".into(), s("LESS_LOADED")),
            ("conciliation".into(), s("USER")),
        ]))
    );
}

#[tokio::test]
async fn instance_info_has_supvisors_keys_and_types() {
    let (c, sup) = (cluster(), supervisor());
    c.apply(&to_state(&[SupvisorsState::Initialization]));
    let (ns, _) = namespace(&c, &sup);
    let a = call(&ns, "get_instance_info", vec![s("a")]).await.unwrap();
    assert_eq!(
        keys(&a),
        [
            "identifier",
            "node_name",
            "port",
            "statecode",
            "statename",
            "sequence_counter",
            "remote_time",
            "local_time",
            "loading",
            "fsm_statecode",
            "fsm_statename",
            "starting_jobs",
            "stopping_jobs"
        ]
    );
    assert_eq!(get(&a, "identifier"), &s("a"));
    assert_eq!(get(&a, "node_name"), &s("10.0.0.1"));
    assert_eq!(get(&a, "port"), &Value::Int(60000));
    assert_eq!(get(&a, "statecode"), &Value::Int(2));
    assert_eq!(get(&a, "statename"), &s("RUNNING"));
    // The instance's own tick counter (capped to 32 bits), its clock and the leader's.
    assert_eq!(get(&a, "sequence_counter"), &Value::Int(i32::MAX));
    assert_eq!(get(&a, "remote_time"), &Value::Int(1_700_000_011));
    assert_eq!(get(&a, "local_time"), &Value::Int(1_700_000_012));
    // Supvisors' expected loading from the rules (none here), not the tick's process count.
    assert_eq!(get(&a, "loading"), &Value::Int(0));
    assert_eq!(get(&a, "fsm_statecode"), &Value::Int(1));
    assert_eq!(get(&a, "fsm_statename"), &s("INITIALIZATION"));
    assert_eq!(get(&a, "starting_jobs"), &Value::Bool(false));
    assert_eq!(get(&a, "stopping_jobs"), &Value::Bool(false));

    // A small counter is reported as is.
    c.apply(&[Command::Tick {
        instance: "b".into(),
        load: 2,
        stamp: TickStamp {
            counter: 12,
            remote_at: 1_700_000_020_000,
            received_at: 1_700_000_021_500,
        },
        incarnation: 0,
    }]);
    let b = call(&ns, "get_instance_info", vec![s("b")]).await.unwrap();
    assert_eq!(get(&b, "sequence_counter"), &Value::Int(12));
    assert_eq!(get(&b, "remote_time"), &Value::Int(1_700_000_020));
    assert_eq!(get(&b, "local_time"), &Value::Int(1_700_000_021));

    // Declared but never seen: UNKNOWN with zeros, as Supvisors' initial status.
    let cc = call(&ns, "get_instance_info", vec![s("c")]).await.unwrap();
    assert_eq!(get(&cc, "statename"), &s("UNKNOWN"));
    assert_eq!(get(&cc, "port"), &Value::Int(61000));
    for key in ["sequence_counter", "remote_time", "local_time", "loading"] {
        assert_eq!(get(&cc, key), &Value::Int(0), "{key}");
    }

    let err = call(&ns, "get_instance_info", vec![s("zz")])
        .await
        .unwrap_err();
    assert_eq!(
        err.fault_string(),
        "INCORRECT_PARAMETERS: zz unknown to Supvisors"
    );

    let all = call(&ns, "get_all_instances_info", vec![]).await.unwrap();
    let ids: Vec<&Value> = items(&all).iter().map(|i| get(i, "identifier")).collect();
    assert_eq!(ids, [&s("a"), &s("b"), &s("c")]);
}

#[tokio::test]
async fn process_info_is_gated_from_deployment() {
    let (c, sup) = (cluster(), supervisor());
    let (ns, _) = namespace(&c, &sup);
    c.apply(&to_state(&[SupvisorsState::Initialization]));
    for (method, params) in [
        ("get_process_info", vec![s("web")]),
        ("get_all_process_info", vec![]),
    ] {
        let err = call(&ns, method, params).await.unwrap_err();
        assert_eq!(err.code.code(), 101);
        assert_eq!(
            err.fault_string(),
            "BAD_SUPVISORS_STATE: Supvisors (state=INITIALIZATION) not in state ['DEPLOYMENT', 'OPERATION', 'CONCILIATION', 'RESTARTING', 'SHUTTING_DOWN'] to perform request"
        );
    }
    // Any-state methods answer in INITIALIZATION.
    assert!(call(&ns, "get_all_local_process_info", vec![])
        .await
        .is_ok());
    assert!(call(&ns, "get_all_instances_info", vec![]).await.is_ok());
    c.apply(&to_state(&[SupvisorsState::Deployment]));
    assert!(call(&ns, "get_all_process_info", vec![]).await.is_ok());
}

#[tokio::test]
async fn process_info_synthesizes_across_instances() {
    let (c, sup) = (cluster(), supervisor());
    c.apply(&to_state(&TO_OPERATION));
    let (ns, _) = namespace(&c, &sup);
    let web = call(&ns, "get_process_info", vec![s("web")]).await.unwrap();
    assert_eq!(
        web,
        Value::Array(vec![Value::Struct(vec![
            ("application_name".into(), s("web")),
            ("process_name".into(), s("web")),
            ("statecode".into(), Value::Int(20)),
            ("statename".into(), s("RUNNING")),
            ("expected_exit".into(), Value::Bool(true)),
            ("last_event_time".into(), Value::Int(1_700_000_000)),
            ("identifiers".into(), strings(&["a"])),
            ("extra_args".into(), s("")),
        ])])
    );

    let back = call(&ns, "get_process_info", vec![s("back:*")])
        .await
        .unwrap();
    let back = items(&back);
    assert_eq!(back.len(), 2);
    // worker_00: RUNNING on a and STARTING on b = conflict, RUNNING wins.
    assert_eq!(get(&back[0], "process_name"), &s("worker_00"));
    assert_eq!(get(&back[0], "statename"), &s("RUNNING"));
    assert_eq!(get(&back[0], "identifiers"), &strings(&["a", "b"]));
    assert_eq!(get(&back[0], "last_event_time"), &Value::Int(1_700_000_090));
    // worker_01: stopped everywhere; the latest stop (EXITED on a) gives state and expected.
    assert_eq!(get(&back[1], "statename"), &s("EXITED"));
    assert_eq!(get(&back[1], "statecode"), &Value::Int(100));
    assert_eq!(get(&back[1], "identifiers"), &Value::Array(vec![]));

    let all = call(&ns, "get_all_process_info", vec![]).await.unwrap();
    let names: Vec<(&Value, &Value)> = items(&all)
        .iter()
        .map(|p| (get(p, "application_name"), get(p, "process_name")))
        .collect();
    assert_eq!(
        names,
        [
            (&s("back"), &s("worker_00")),
            (&s("back"), &s("worker_01")),
            (&s("web"), &s("web"))
        ]
    );

    let err = call(&ns, "get_process_info", vec![s("nope:*")])
        .await
        .unwrap_err();
    assert_eq!(
        err.fault_string(),
        "BAD_NAME: application nope unknown to Supvisors"
    );
    let err = call(&ns, "get_process_info", vec![s("back:x")])
        .await
        .unwrap_err();
    assert_eq!(
        err.fault_string(),
        "BAD_NAME: process=x unknown in application=back"
    );
}

#[tokio::test]
async fn inner_process_info_lists_one_instance_s_processes_from_the_replica() {
    let (c, sup) = (cluster(), supervisor());
    c.apply(&to_state(&TO_OPERATION));
    let (ns, _) = namespace(&c, &sup);
    let on_b = call(&ns, "get_all_inner_process_info", vec![s("b")])
        .await
        .unwrap();
    let on_b = items(&on_b);
    let names: Vec<&Value> = on_b.iter().map(|p| get(p, "name")).collect();
    assert_eq!(names, [&s("worker_00"), &s("worker_01")]);
    let first = &on_b[0];
    assert_eq!(get(first, "group"), &s("back"));
    assert_eq!(get(first, "statename"), &s("STARTING"));
    assert_eq!(get(first, "start"), &Value::Int(1_700_000_090));
    assert_eq!(get(first, "identifier"), &s("b"));
    assert_eq!(
        keys(first),
        [
            "name",
            "group",
            "description",
            "start",
            "stop",
            "now",
            "state",
            "statename",
            "spawnerr",
            "exitstatus",
            "stdout_logfile",
            "stderr_logfile",
            "pid",
            "expected",
            "identifier"
        ]
    );
    let fault = call(&ns, "get_all_inner_process_info", vec![s("nosuch")])
        .await
        .unwrap_err();
    assert_eq!(fault.code, FaultCode::BadName);
}

#[tokio::test]
async fn reads_keep_working_during_an_election() {
    let (c, sup) = (cluster(), supervisor());
    c.apply(&to_state(&TO_OPERATION));
    c.set_leader(None);
    c.set_mode(WriteMode::Fail(WriteError::NoLeader));
    let (ns, _) = namespace(&c, &sup);
    assert!(call(&ns, "get_all_process_info", vec![]).await.is_ok());
    assert!(call(&ns, "get_all_instances_info", vec![]).await.is_ok());
    assert_eq!(call(&ns, "get_master_identifier", vec![]).await, Ok(s("")));
    let err = call(&ns, "disable", vec![s("worker")]).await.unwrap_err();
    assert_eq!(
        err.fault_string(),
        "BAD_SUPVISORS_STATE: no leader: election in progress"
    );
    // Nothing was stopped: the write failed first.
    assert!(sup.stops().is_empty());
}

#[tokio::test]
async fn local_process_info_has_supvisors_keys_and_disabled_flag() {
    let (c, sup) = (cluster(), supervisor());
    c.apply(&[Command::Disable {
        target: Target::Instance("a".into()),
        program: "worker".into(),
    }]);
    let (ns, _) = namespace(&c, &sup);
    let w = call(&ns, "get_local_process_info", vec![s("back:worker_00")])
        .await
        .unwrap();
    assert_eq!(
        w,
        Value::Struct(vec![
            ("name".into(), s("worker_00")),
            ("group".into(), s("back")),
            ("state".into(), Value::Int(20)),
            ("statename".into(), s("RUNNING")),
            ("start".into(), Value::Int(1_700_000_000)),
            ("stop".into(), Value::Int(0)),
            ("now".into(), Value::Int(1_700_000_100)),
            ("pid".into(), Value::Int(101)),
            ("description".into(), s("pid 101, uptime 0:01:40")),
            ("spawnerr".into(), s("")),
            ("expected".into(), Value::Bool(true)),
            ("startsecs".into(), Value::Int(1)),
            ("stopwaitsecs".into(), Value::Int(10)),
            ("extra_args".into(), s("")),
            ("disabled".into(), Value::Bool(true)),
        ])
    );
    let web = call(&ns, "get_local_process_info", vec![s("web")])
        .await
        .unwrap();
    assert_eq!(get(&web, "disabled"), &Value::Bool(false));
    let err = call(&ns, "get_local_process_info", vec![s("nope")])
        .await
        .unwrap_err();
    assert_eq!(err.code, FaultCode::BadName);

    let all = call(&ns, "get_all_local_process_info", vec![])
        .await
        .unwrap();
    let names: Vec<&Value> = items(&all).iter().map(|i| get(i, "name")).collect();
    assert_eq!(
        names,
        [&s("cache"), &s("worker_00"), &s("worker_01"), &s("web")]
    );
    let disabled: Vec<&Value> = items(&all).iter().map(|i| get(i, "disabled")).collect();
    let (t, f) = (Value::Bool(true), Value::Bool(false));
    assert_eq!(disabled, [&f, &t, &t, &f]);
}

#[tokio::test]
async fn enable_and_disable_need_operation() {
    let (c, sup) = (cluster(), supervisor());
    c.apply(&to_state(&TO_OPERATION[..2]));
    let (ns, _) = namespace(&c, &sup);
    for method in ["enable", "disable"] {
        let err = call(&ns, method, vec![s("worker")]).await.unwrap_err();
        assert_eq!(
            err.fault_string(),
            "BAD_SUPVISORS_STATE: Supvisors (state=DEPLOYMENT) not in state ['OPERATION'] to perform request"
        );
    }
    assert!(c.writes().is_empty());
    c.apply(&to_state(&[SupvisorsState::Operation]));
    let err = call(&ns, "disable", vec![s("back")]).await.unwrap_err();
    assert_eq!(
        err.fault_string(),
        "BAD_NAME: program back unknown to Supvisors"
    );
    assert!(c.writes().is_empty());
}

#[tokio::test]
async fn disable_writes_for_the_local_instance_and_stops_its_running_processes() {
    let (c, sup) = (cluster(), supervisor());
    c.apply(&to_state(&TO_OPERATION));
    let (ns, _) = namespace(&c, &sup);
    assert_eq!(
        call(&ns, "disable", vec![s("worker")]).await,
        Ok(Value::Bool(true))
    );
    assert_eq!(
        c.writes(),
        vec![Command::Disable {
            target: Target::Instance("a".into()),
            program: "worker".into()
        }]
    );
    // Only the running process of the program, waited for; worker_01 is EXITED already.
    assert_eq!(sup.stops(), vec![("back:worker_00".to_string(), true)]);
    assert_eq!(sup.state_of("back:worker_00"), Some(ProcessState::Stopped));
    assert_eq!(sup.state_of("web"), Some(ProcessState::Running));
    assert!(is_disabled(&c.replica().borrow(), "a", "worker"));
    assert!(!is_disabled(&c.replica().borrow(), "b", "worker"));

    assert_eq!(
        call(&ns, "enable", vec![s("worker"), Value::Bool(true)]).await,
        Ok(Value::Bool(true))
    );
    assert_eq!(
        c.writes().last(),
        Some(&Command::Enable {
            target: Target::Instance("a".into()),
            program: "worker".into()
        })
    );
    assert!(!is_disabled(&c.replica().borrow(), "a", "worker"));
}

#[tokio::test]
async fn disable_without_wait_does_not_wait_for_the_stops() {
    let (c, sup) = (cluster(), supervisor());
    c.apply(&to_state(&TO_OPERATION));
    let (ns, _) = namespace(&c, &sup);
    let result = call(&ns, "disable", vec![s("web"), Value::Int(0)]).await;
    assert_eq!(result, Ok(Value::Bool(true)));
    assert_eq!(sup.stops(), vec![("web".to_string(), false)]);
}

#[tokio::test]
async fn disable_reports_processes_that_did_not_stop() {
    let (c, sup) = (cluster(), supervisor());
    c.apply(&to_state(&TO_OPERATION));
    sup.make_unstoppable("back:worker_00");
    let (ns, _) = namespace(&c, &sup);
    let err = call(&ns, "disable", vec![s("worker")]).await.unwrap_err();
    assert_eq!(err.fault_string(), "ABNORMAL_TERMINATION: back:worker_00");
}

#[tokio::test]
async fn a_write_that_does_not_return_times_out_with_a_fault() {
    let (c, sup) = (cluster(), supervisor());
    c.apply(&to_state(&TO_OPERATION));
    c.set_mode(WriteMode::Hang);
    let (ns, _) = namespace(&c, &sup);
    let started = std::time::Instant::now();
    let err = call(&ns, "enable", vec![s("worker")]).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(err.code, FaultCode::BadSupvisorsState);
    assert!(
        err.fault_string()
            .contains("no leader answered within 0.2s"),
        "{}",
        err.fault_string()
    );

    for (error, text) in [
        (
            WriteError::CutOff,
            "BAD_SUPVISORS_STATE: cut off: this instance cannot reach the quorum",
        ),
        (WriteError::Shutdown, "SHUTDOWN_STATE"),
    ] {
        c.set_mode(WriteMode::Fail(error));
        let err = call(&ns, "enable", vec![s("worker")]).await.unwrap_err();
        assert_eq!(err.fault_string(), text);
    }
}

#[tokio::test]
async fn waiting_for_the_replica_is_bounded() {
    let (c, sup) = (cluster(), supervisor());
    c.apply(&to_state(&TO_OPERATION));
    // Committed on the leader, but the local replica never catches up.
    c.set_mode(WriteMode::ApplyElsewhere);
    let (ns, _) = namespace(&c, &sup);
    let started = std::time::Instant::now();
    assert_eq!(
        call(&ns, "disable", vec![s("cache")]).await,
        Ok(Value::Bool(true))
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn change_log_level_calls_back_with_the_level() {
    let (c, sup) = (cluster(), supervisor());
    let (ns, levels) = namespace(&c, &sup);
    assert_eq!(
        call(&ns, "change_log_level", vec![s("debug")]).await,
        Ok(Value::Bool(true))
    );
    assert_eq!(
        call(&ns, "change_log_level", vec![Value::Int(50)]).await,
        Ok(Value::Bool(true))
    );
    let err = call(&ns, "change_log_level", vec![s("loud")])
        .await
        .unwrap_err();
    assert_eq!(err.code, FaultCode::IncorrectParameters);
    assert_eq!(
        *levels.lock().unwrap(),
        vec![LogLevel::Debug, LogLevel::Critical]
    );
}

#[tokio::test]
async fn raft_status_is_answered_in_any_state_with_ints_and_empty_for_none() {
    let (c, sup) = (cluster(), supervisor());
    let (ns, _) = namespace(&c, &sup);
    // Global state OFF, no leader, empty log.
    assert_eq!(
        call(&ns, "get_raft_status", vec![]).await,
        Ok(Value::Struct(vec![
            ("leader".into(), s("")),
            ("term".into(), Value::Int(0)),
            ("last_log_index".into(), Value::Int(-1)),
            ("last_applied".into(), Value::Int(-1)),
            ("voters".into(), Value::Array(vec![])),
            ("learners".into(), Value::Array(vec![])),
        ]))
    );
    c.apply(&to_state(&TO_OPERATION));
    c.set_raft_status(RaftStatus {
        leader: Some("b".into()),
        term: 7,
        last_log_index: Some(5_000_000_000),
        last_applied: Some(1234),
        voters: vec!["a".into(), "b".into(), "c".into()],
        learners: vec!["d".into()],
        matched: Default::default(),
    });
    let status = call(&ns, "get_raft_status", vec![]).await.unwrap();
    assert_eq!(
        keys(&status),
        [
            "leader",
            "term",
            "last_log_index",
            "last_applied",
            "voters",
            "learners"
        ]
    );
    assert_eq!(get(&status, "leader"), &s("b"));
    assert_eq!(get(&status, "term"), &Value::Int(7));
    assert_eq!(get(&status, "last_log_index"), &Value::Int(i32::MAX));
    assert_eq!(get(&status, "last_applied"), &Value::Int(1234));
    assert_eq!(get(&status, "voters"), &strings(&["a", "b", "c"]));
    assert_eq!(get(&status, "learners"), &strings(&["d"]));
}

#[tokio::test]
async fn raft_members_are_listed_in_any_state_with_minus_one_for_unknown() {
    use cluster::{MemberRole, MembershipError, RaftMember};
    let (c, sup) = (cluster(), supervisor());
    let (ns, _) = namespace(&c, &sup);
    c.set_members(Ok(vec![
        RaftMember {
            identifier: "a".into(),
            role: MemberRole::Voter,
            leader: true,
            matched_index: Some(12),
            lag: Some(0),
        },
        RaftMember {
            identifier: "d".into(),
            role: MemberRole::Learner,
            leader: false,
            matched_index: None,
            lag: None,
        },
    ]));
    // Global state OFF: still answered.
    let members = call(&ns, "get_raft_members", vec![]).await.unwrap();
    let Value::Array(items) = &members else {
        panic!("array expected: {members:?}");
    };
    assert_eq!(
        keys(&items[0]),
        ["identifier", "role", "leader", "matched_index", "lag"]
    );
    assert_eq!(get(&items[0], "role"), &s("voter"));
    assert_eq!(get(&items[0], "leader"), &Value::Bool(true));
    assert_eq!(get(&items[0], "matched_index"), &Value::Int(12));
    assert_eq!(get(&items[1], "role"), &s("learner"));
    assert_eq!(get(&items[1], "matched_index"), &Value::Int(-1));
    assert_eq!(get(&items[1], "lag"), &Value::Int(-1));
    c.set_members(Err(MembershipError::NoLeader));
    let fault = call(&ns, "get_raft_members", vec![]).await.unwrap_err();
    assert_eq!(fault.code, FaultCode::BadSupvisorsState);
}

#[tokio::test]
async fn membership_changes_go_to_the_cluster_and_refusals_are_clear_faults() {
    use cluster::{MembershipChange, MembershipError};
    let (c, sup) = (cluster(), supervisor());
    let (ns, _) = namespace(&c, &sup);
    assert_eq!(
        call(&ns, "remove_member", vec![s("c")]).await,
        Ok(Value::Bool(true))
    );
    assert_eq!(
        call(&ns, "add_member", vec![s("c")]).await,
        Ok(Value::Bool(true))
    );
    // An identifier outside supvisors_list never reaches the cluster.
    let fault = call(&ns, "remove_member", vec![s("zz")]).await.unwrap_err();
    assert_eq!(fault.code, FaultCode::IncorrectParameters);
    assert_eq!(fault.extra.as_deref(), Some("zz unknown to Supvisors"));
    assert_eq!(
        c.membership_changes(),
        vec![
            MembershipChange::Remove("c".into()),
            MembershipChange::Add("c".into())
        ]
    );
    c.set_membership_outcome(Err(MembershipError::QuorumLoss {
        target: "b".into(),
        voters: vec!["a".into(), "b".into(), "c".into()],
        healthy: 1,
        needed: 2,
    }));
    let fault = call(&ns, "remove_member", vec![s("b")]).await.unwrap_err();
    assert_eq!(fault.code, FaultCode::BadSupvisorsState);
    assert!(
        fault.fault_string().contains("would lose the quorum"),
        "{}",
        fault.fault_string()
    );
    c.set_membership_outcome(Err(MembershipError::AlreadyVoter("b".into())));
    let fault = call(&ns, "add_member", vec![s("b")]).await.unwrap_err();
    assert_eq!(fault.code, FaultCode::IncorrectParameters);
}

#[test]
fn method_table_matches_supvisors_signatures() {
    let def = |name: &str| METHODS.iter().find(|d| d.name == name).unwrap();
    assert_eq!(def("enable").signature(), ["boolean", "string", "boolean"]);
    assert!(def("disable").accepts_arity(1) && def("disable").accepts_arity(2));
    assert_eq!(def("get_all_process_info").signature(), ["array"]);
    assert_eq!(def("get_instance_info").signature(), ["struct", "string"]);
    assert_eq!(def("get_raft_status").signature(), ["struct"]);
    assert_eq!(def("get_raft_members").signature(), ["array"]);
    assert_eq!(def("remove_member").signature(), ["boolean", "string"]);
    assert_eq!(def("add_member").signature(), ["boolean", "string"]);
    let mut names: Vec<&str> = METHODS.iter().map(|d| d.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), METHODS.len());
}

/// The replies of `get_all_process_info` and `get_all_instances_info` as sent (possibly a
/// cached `Value::Raw`) and as built from the replica without any cache, both rendered.
async fn sent_and_uncached(
    ns: &SupvisorsNamespace<FakeCluster, FakeSupervisor>,
    c: &FakeCluster,
    method: &str,
) -> (Value, String, String) {
    let def = METHODS.iter().find(|d| d.name == method).unwrap();
    let sent = ns.call(def, vec![]).await.unwrap();
    let uncached = {
        let rx = c.replica();
        let replica = rx.borrow();
        match method {
            "get_all_process_info" => {
                SupvisorsNamespace::<FakeCluster, FakeSupervisor>::build_all_process_info(&replica)
            }
            _ => ns.build_all_instances_info(&replica).unwrap(),
        }
    };
    let rendered = xmlrpc::render_response(&sent);
    (sent, rendered, xmlrpc::render_response(&uncached))
}

fn raw_text(v: &Value) -> Arc<str> {
    match v {
        Value::Raw(text) => text.clone(),
        other => panic!("expected a cached reply, got {other:?}"),
    }
}

#[tokio::test]
async fn cached_replies_are_byte_identical_and_reused_until_the_replica_moves() {
    let (c, sup) = (cluster(), supervisor());
    c.apply(&to_state(&TO_OPERATION));
    let (ns, _) = namespace(&c, &sup);
    for method in ["get_all_process_info", "get_all_instances_info"] {
        let (first, sent, uncached) = sent_and_uncached(&ns, &c, method).await;
        assert_eq!(sent, uncached, "{method}");
        // Nothing applied since: the very same rendering is sent again.
        let (again, sent, uncached) = sent_and_uncached(&ns, &c, method).await;
        assert_eq!(sent, uncached, "{method}");
        assert!(
            Arc::ptr_eq(&raw_text(&first), &raw_text(&again)),
            "{method}"
        );
        // An entry that changes nothing still moves the key: rendered anew, same bytes.
        c.apply_blank();
        let (after_blank, sent, uncached) = sent_and_uncached(&ns, &c, method).await;
        assert_eq!(sent, uncached, "{method}");
        assert!(!Arc::ptr_eq(&raw_text(&first), &raw_text(&after_blank)));
        assert_eq!(raw_text(&first), raw_text(&after_blank));
    }
}

#[tokio::test]
async fn a_new_applied_entry_invalidates_the_cached_replies() {
    let (c, sup) = (cluster(), supervisor());
    c.apply(&to_state(&TO_OPERATION));
    let (ns, _) = namespace(&c, &sup);
    let (_, before, _) = sent_and_uncached(&ns, &c, "get_all_process_info").await;
    let (_, instances_before, _) = sent_and_uncached(&ns, &c, "get_all_instances_info").await;

    c.apply(&[
        Command::ProcessEvents {
            instance: "a".into(),
            seq: BatchSeq::new(1, 2),
            full: false,
            events: vec![status(
                "web",
                "web",
                ProcessState::Stopped,
                1_700_000_000,
                1_700_000_100,
            )],
        },
        Command::InstanceState {
            instance: "c".into(),
            state: InstanceState::Checking,
        },
    ]);
    let (_, after, uncached) = sent_and_uncached(&ns, &c, "get_all_process_info").await;
    assert_ne!(after, before);
    assert_eq!(after, uncached);
    let all = call(&ns, "get_all_process_info", vec![]).await.unwrap();
    assert_eq!(get(&items(&all)[2], "statename"), &s("STOPPED"));
    assert_eq!(
        get(&items(&all)[2], "last_event_time"),
        &Value::Int(1_700_000_100)
    );

    let (_, instances_after, uncached) = sent_and_uncached(&ns, &c, "get_all_instances_info").await;
    assert_ne!(instances_after, instances_before);
    assert_eq!(instances_after, uncached);
    let all = call(&ns, "get_all_instances_info", vec![]).await.unwrap();
    assert_eq!(get(&items(&all)[2], "statename"), &s("CHECKING"));

    // The gate is checked on every call, cache or not.
    c.apply(&to_state(&[SupvisorsState::Initialization]));
    let err = call(&ns, "get_all_process_info", vec![]).await.unwrap_err();
    assert_eq!(err.code.code(), 101);
}

#[tokio::test]
async fn a_restarted_daemon_shows_no_process_of_its_previous_run() {
    // The replica holds a's first run (incarnation 1); the daemon is now incarnation 2.
    let (c, sup) = (cluster(), supervisor());
    c.apply(&to_state(&TO_OPERATION));
    let (ns, _) = namespace(&c, &sup);
    let ns = ns.with_incarnation(2);
    let state = call(&ns, "get_supvisors_state", vec![]).await.unwrap();
    assert_eq!(get(&state, "fsm_statename"), &s("INITIALIZATION"));
    let err = call(&ns, "get_all_process_info", vec![]).await.unwrap_err();
    assert_eq!(
        err.code.code(),
        101,
        "nothing to show before synchronisation"
    );
    let infos = call(&ns, "get_all_instances_info", vec![]).await.unwrap();
    assert_eq!(items(&infos).len(), 3);
    // Its first batch of the new run is committed: the replica is current again.
    c.apply(&[Command::ProcessEvents {
        instance: "a".into(),
        seq: BatchSeq::new(2, 0),
        full: true,
        events: vec![status(
            "web",
            "web",
            ProcessState::Stopped,
            0,
            1_700_000_100,
        )],
    }]);
    let state = call(&ns, "get_supvisors_state", vec![]).await.unwrap();
    assert_eq!(get(&state, "fsm_statename"), &s("OPERATION"));
    let all = call(&ns, "get_all_process_info", vec![]).await.unwrap();
    let names: Vec<&Value> = items(&all).iter().map(|p| get(p, "process_name")).collect();
    // a's back:* of the previous run are gone (the full batch did not list them); b's stay.
    assert_eq!(names, [&s("worker_00"), &s("worker_01"), &s("web")]);
    let web = call(&ns, "get_process_info", vec![s("web")]).await.unwrap();
    assert_eq!(get(&items(&web)[0], "statename"), &s("STOPPED"));
}

#[tokio::test]
async fn a_shared_view_is_one_value_for_the_namespace_and_the_other_readers() {
    let (c, sup) = (cluster(), supervisor());
    c.apply(&to_state(&TO_OPERATION));
    let (ns, _) = namespace(&c, &sup);
    // The owner's channel (the daemon's config reloader); a receiver stands for the planner.
    let owner = tokio::sync::watch::Sender::new(crate::ConfigView {
        programs: Arc::new(ProgramIndex::default()),
        commander: ns.commander_handle(),
    });
    let ns = ns.sharing(owner.clone());
    let planner = owner.subscribe();
    let err = call(&ns, "disable", vec![s("worker")]).await.unwrap_err();
    assert_eq!(
        err.fault_string(),
        "BAD_NAME: program worker unknown to Supvisors"
    );

    // A re-read of the config publishes a new view: the namespace reads it at once.
    owner.send_modify(|view| view.programs = Arc::new(programs()));
    assert_eq!(
        call(&ns, "disable", vec![s("worker")]).await,
        Ok(Value::Bool(true))
    );

    // And what the namespace sets is what the other readers see: there is no second copy.
    let fresh = Arc::new(commander::Commander::new(
        model::rules::Rules::new(vec!["a".into(), "b".into(), "c".into()], Vec::new()),
        commander::Catalog::default(),
        crate::commander_settings(&spec()),
    ));
    let ns = ns.with_commander(fresh.clone());
    assert!(Arc::ptr_eq(&planner.borrow().commander, &fresh));
    assert!(Arc::ptr_eq(&ns.commander_handle(), &fresh));
}
