//! Supvisors 0.14 payloads as XML-RPC values, with the key order of its Python dicts
//! (`serial()` methods) and Supervisor's wire types (ints capped to 32 bits).

use crate::synth::SyntheticProcess;
use cluster::api::RaftStatus;
use cluster::{ClusterState, InstanceRecord, SupvisorsState};
use commander::{ApplicationStatus, TestedProcess};
use model::rules::{ApplicationRules, ProgramRules};
use model::supvisors::{InstanceAddr, SupvisorsSpec};
use model::text::capped_int;
use procman::ProcessInfo;
use xmlrpc::Value;

fn s(text: &str) -> Value {
    Value::String(text.to_string())
}

fn strings(list: &[String]) -> Value {
    Value::Array(list.iter().map(|x| s(x)).collect())
}

/// `get_supvisors_state`: `{fsm_statecode, fsm_statename, starting_jobs, stopping_jobs}`.
/// The job lists name the instances whose Starter/Stopper has work.
pub fn supvisors_state(state: SupvisorsState, starting: &[String], stopping: &[String]) -> Value {
    Value::Struct(vec![
        ("fsm_statecode".into(), Value::Int(state.code())),
        ("fsm_statename".into(), s(state.name())),
        ("starting_jobs".into(), strings(starting)),
        ("stopping_jobs".into(), strings(stopping)),
    ])
}

/// `get_strategies`: `{'auto-fencing': bool, 'starting': name, 'conciliation': name}`.
pub fn strategies(spec: &SupvisorsSpec) -> Value {
    Value::Struct(vec![
        ("auto-fencing".into(), Value::Bool(spec.auto_fence)),
        ("starting".into(), s(spec.starting_strategy.name())),
        ("conciliation".into(), s(spec.conciliation_strategy.name())),
    ])
}

/// What `get_instance_info` reports beyond the address and the replicated record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceExtras {
    /// The global state as the replica knows it.
    pub fsm: SupvisorsState,
    pub starting_jobs: bool,
    pub stopping_jobs: bool,
    /// Supvisors' `loading`: the expected loading of what runs there (from the rules).
    pub loading: u32,
}

/// `get_instance_info` (Supvisors 0.14 `SupvisorsInstanceStatus.serial()` + state modes).
///
/// From the instance's latest *committed* tick (the leader commits ticks only when the load
/// changes or every few seconds, so these lag the live ticks by up to that period, and are the
/// same on every replica): `sequence_counter` is the instance's own tick counter (ticks since
/// its daemon started), `remote_time` its clock when it sent that tick and `local_time` the
/// leader's clock when it received it, in seconds (Supvisors' "local" is the instance that
/// received the tick; here that is the leader). Capped to 32 bits. All 0 before the first
/// tick, as in Supvisors.
pub fn instance_info(
    addr: &InstanceAddr,
    record: Option<&InstanceRecord>,
    extras: InstanceExtras,
) -> Value {
    let state = record.map(|r| r.state).unwrap_or_default();
    let tick = record.and_then(|r| r.last_tick).unwrap_or_default();
    let seconds = |ms: i64| capped_int(ms.div_euclid(1000));
    let counter = capped_int(i64::try_from(tick.counter).unwrap_or(i64::MAX));
    let load = extras.loading;
    Value::Struct(vec![
        ("identifier".into(), s(&addr.identifier)),
        ("node_name".into(), s(&addr.host)),
        ("port".into(), Value::Int(i32::from(addr.http_port))),
        ("statecode".into(), Value::Int(state.code())),
        ("statename".into(), s(state.name())),
        ("sequence_counter".into(), Value::Int(counter)),
        ("remote_time".into(), Value::Int(seconds(tick.remote_at))),
        ("local_time".into(), Value::Int(seconds(tick.received_at))),
        ("loading".into(), Value::Int(capped_int(i64::from(load)))),
        ("fsm_statecode".into(), Value::Int(extras.fsm.code())),
        ("fsm_statename".into(), s(extras.fsm.name())),
        ("starting_jobs".into(), Value::Bool(extras.starting_jobs)),
        ("stopping_jobs".into(), Value::Bool(extras.stopping_jobs)),
    ])
}

/// `get_process_info` entry (Supvisors 0.14 `ProcessStatus.serial()`), with the extra
/// arguments of its latest start from the replicated jobs.
pub fn process_with_args(p: &SyntheticProcess, state: &ClusterState) -> Value {
    let namespec = model::make_namespec(&p.application_name, &p.process_name);
    process(p, state.jobs().extra_args(&namespec))
}

/// `get_process_info` entry (Supvisors 0.14 `ProcessStatus.serial()`).
pub fn process(p: &SyntheticProcess, extra_args: &str) -> Value {
    Value::Struct(vec![
        ("application_name".into(), s(&p.application_name)),
        ("process_name".into(), s(&p.process_name)),
        ("statecode".into(), Value::Int(p.state.code())),
        ("statename".into(), s(p.state.name())),
        ("expected_exit".into(), Value::Bool(p.expected_exit)),
        (
            "last_event_time".into(),
            Value::Int(capped_int(p.last_event_time)),
        ),
        ("identifiers".into(), strings(&p.identifiers)),
        ("extra_args".into(), s(extra_args)),
    ])
}

/// `get_application_info` entry (Supvisors 0.14 `ApplicationStatus.serial()`).
pub fn application(app: &ApplicationStatus) -> Value {
    Value::Struct(vec![
        ("application_name".into(), s(&app.name)),
        ("managed".into(), Value::Bool(app.managed)),
        ("statecode".into(), Value::Int(app.state.code())),
        ("statename".into(), s(app.state.name())),
        ("major_failure".into(), Value::Bool(app.major_failure)),
        ("minor_failure".into(), Value::Bool(app.minor_failure)),
    ])
}

/// `get_application_rules` (Supvisors 0.14 `ApplicationRules.serial()` + the name, which the
/// Python dict update puts last).
pub fn application_rules(name: &str, rules: Option<ApplicationRules>) -> Value {
    let mut fields = match rules {
        Some(r) => vec![
            ("managed".into(), Value::Bool(true)),
            ("distribution".into(), s(r.distribution.name())),
            ("identifiers".into(), strings(&r.identifiers.display())),
            (
                "start_sequence".into(),
                Value::Int(i32::from(r.start_sequence)),
            ),
            (
                "stop_sequence".into(),
                Value::Int(i32::from(r.stop_sequence)),
            ),
            ("starting_strategy".into(), s(r.starting_strategy.name())),
            (
                "starting_failure_strategy".into(),
                s(r.starting_failure_strategy.name()),
            ),
            (
                "running_failure_strategy".into(),
                s(r.running_failure_strategy.name()),
            ),
        ],
        None => vec![("managed".into(), Value::Bool(false))],
    };
    fields.push(("application_name".into(), s(name)));
    Value::Struct(fields)
}

/// `get_process_rules` entry (Supvisors 0.14 `ProcessRules.serial()` + names, last).
pub fn process_rules(application: &str, process: &str, r: &ProgramRules) -> Value {
    Value::Struct(vec![
        ("identifiers".into(), strings(&r.identifiers.display())),
        (
            "start_sequence".into(),
            Value::Int(i32::from(r.start_sequence)),
        ),
        (
            "stop_sequence".into(),
            Value::Int(i32::from(r.stop_sequence)),
        ),
        ("required".into(), Value::Bool(r.required)),
        ("wait_exit".into(), Value::Bool(r.wait_exit)),
        (
            "expected_loading".into(),
            Value::Int(i32::from(r.expected_loading)),
        ),
        (
            "starting_failure_strategy".into(),
            s(r.starting_failure_strategy.name()),
        ),
        (
            "running_failure_strategy".into(),
            s(r.running_failure_strategy.name()),
        ),
        ("application_name".into(), s(application)),
        ("process_name".into(), s(process)),
    ])
}

/// `test_start_application` entry (Supvisors 0.18).
pub fn tested_process(p: &TestedProcess) -> Value {
    Value::Struct(vec![
        ("application_name".into(), s(&p.application_name)),
        ("process_name".into(), s(&p.process_name)),
        ("state".into(), s(p.state.name())),
        ("forced_reason".into(), s(&p.forced_reason)),
        (
            "running_identifiers".into(),
            strings(&p.running_identifiers),
        ),
    ])
}

/// Program options `get_local_process_info` adds to Supervisor's process info.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalOptions {
    pub startsecs: i64,
    pub stopwaitsecs: i64,
    pub disabled: bool,
}

/// `get_local_process_info` (Supvisors 0.14 `_get_local_info`): the subset of `getProcessInfo`
/// in `extract_process_info`'s key order, `expected` = no spawn error, then the options.
pub fn local_process(info: &ProcessInfo, options: LocalOptions, extra_args: &str) -> Value {
    Value::Struct(vec![
        ("name".into(), s(&info.name)),
        ("group".into(), s(&info.group)),
        ("state".into(), Value::Int(info.state.code())),
        ("statename".into(), s(info.state.name())),
        ("start".into(), Value::Int(capped_int(info.start))),
        ("stop".into(), Value::Int(capped_int(info.stop))),
        ("now".into(), Value::Int(capped_int(info.now))),
        ("pid".into(), Value::Int(info.pid)),
        ("description".into(), s(&info.description)),
        ("spawnerr".into(), s(&info.spawnerr)),
        ("expected".into(), Value::Bool(info.spawnerr.is_empty())),
        (
            "startsecs".into(),
            Value::Int(capped_int(options.startsecs)),
        ),
        (
            "stopwaitsecs".into(),
            Value::Int(capped_int(options.stopwaitsecs)),
        ),
        ("extra_args".into(), s(extra_args)),
        ("disabled".into(), Value::Bool(options.disabled)),
    ])
}

/// `get_raft_status` (raftvisor extension): `{leader, term, last_log_index, last_applied,
/// voters, learners}`. XML-RPC has no "none", so a missing leader is `''` and a missing log
/// position `-1`; numbers are capped to 32 bits like every Supervisor int.
pub fn raft_status(status: &RaftStatus) -> Value {
    let int = |n: u64| Value::Int(capped_int(i64::try_from(n).unwrap_or(i64::MAX)));
    let position = |n: Option<u64>| n.map_or(Value::Int(-1), int);
    Value::Struct(vec![
        (
            "leader".into(),
            s(status.leader.as_deref().unwrap_or_default()),
        ),
        ("term".into(), int(status.term)),
        ("last_log_index".into(), position(status.last_log_index)),
        ("last_applied".into(), position(status.last_applied)),
        ("voters".into(), strings(&status.voters)),
        ("learners".into(), strings(&status.learners)),
    ])
}

/// `get_all_inner_process_info` (Supvisors 0.15+): each process of the instance as its
/// Supervisor last reported it to the cluster, in the shape of `supervisor.getProcessInfo`
/// plus `expected` and `identifier` (Supvisors' `info_map`), sorted by namespec.
pub fn inner_processes(identifier: &str, record: Option<&InstanceRecord>, now: i64) -> Value {
    let processes = record.into_iter().flat_map(|r| r.processes.values());
    Value::Array(
        processes
            .map(|p| {
                let p = &p.status;
                Value::Struct(vec![
                    ("name".into(), s(&p.name)),
                    ("group".into(), s(&p.group)),
                    ("description".into(), s(&p.description)),
                    ("start".into(), Value::Int(capped_int(p.start))),
                    ("stop".into(), Value::Int(capped_int(p.stop))),
                    ("now".into(), Value::Int(capped_int(now))),
                    ("state".into(), Value::Int(p.state.code())),
                    ("statename".into(), s(p.state.name())),
                    ("spawnerr".into(), s(&p.spawnerr)),
                    ("exitstatus".into(), Value::Int(p.exitstatus)),
                    ("stdout_logfile".into(), s(&p.stdout_logfile)),
                    ("stderr_logfile".into(), s(&p.stderr_logfile)),
                    ("pid".into(), Value::Int(p.pid)),
                    ("expected".into(), Value::Bool(p.expected)),
                    ("identifier".into(), s(identifier)),
                ])
            })
            .collect(),
    )
}

/// `get_history` (raftvisor extension): one struct per entry, `{seq, index, term, time
/// (epoch seconds, a double), kind, instance, user, text}`; numbers capped to 32 bits like
/// every Supervisor int.
pub fn history<'a>(entries: impl Iterator<Item = &'a cluster::HistoryEntry>) -> Value {
    Value::Array(entries.map(history_entry).collect())
}

/// One entry of [`history`] (also the body of the `history` event).
pub fn history_entry(e: &cluster::HistoryEntry) -> Value {
    let int = |n: u64| Value::Int(capped_int(i64::try_from(n).unwrap_or(i64::MAX)));
    Value::Struct(vec![
        ("seq".into(), int(e.seq)),
        ("index".into(), int(e.index)),
        ("term".into(), int(e.term)),
        ("time".into(), Value::Double(e.at_ms as f64 / 1000.0)),
        ("kind".into(), s(e.kind.name())),
        ("instance".into(), s(&e.instance)),
        ("user".into(), s(&e.user)),
        ("text".into(), s(&e.text)),
    ])
}

/// `get_raft_members` (raftvisor extension): one struct per Raft member, voters first,
/// `{identifier, role ('voter' or 'learner'), leader, matched_index, lag}`; `-1` where the
/// leader has replicated nothing to the member yet.
pub fn raft_members(members: &[cluster::RaftMember]) -> Value {
    let position = |n: Option<u64>| {
        n.map_or(Value::Int(-1), |n| {
            Value::Int(capped_int(i64::try_from(n).unwrap_or(i64::MAX)))
        })
    };
    Value::Array(
        members
            .iter()
            .map(|m| {
                Value::Struct(vec![
                    ("identifier".into(), s(&m.identifier)),
                    ("role".into(), s(m.role.name())),
                    ("leader".into(), Value::Bool(m.leader)),
                    ("matched_index".into(), position(m.matched_index)),
                    ("lag".into(), position(m.lag)),
                ])
            })
            .collect(),
    )
}
