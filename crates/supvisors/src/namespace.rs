//! The `supvisors` namespace over a [`ClusterApi`] (the replica and Raft writes) and a
//! [`SupervisorApi`] (the local supervisor).
//!
//! Reads are answered from the local replica: they never wait for the leader, so they keep
//! working during an election (the global state they are gated on is the last one the replica
//! applied). Writes go through Raft and fail fast with BAD_SUPVISORS_STATE when no leader can
//! commit them; a local timeout guards against a write that would not return.

use crate::encode::{self, InstanceExtras, LocalOptions};
use crate::faults::{self, Gate};
use crate::programs::ProgramIndex;
use crate::reply_cache::ReplyCache;
use crate::synth;
use cluster::types::LogId;
use cluster::{ClusterApi, Command, Replica, Target};
use commander::{Commander, Settings};
use futures_util::future::{join_all, BoxFuture};
use futures_util::FutureExt;
use model::supvisors::SupvisorsSpec;
use model::{make_namespec, Fault, FaultCode, LogLevel};
use procman::{ConfigValue, ProcessInfo, SupervisorApi};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use web::params;
use web::{MethodDef, Namespace};
use xmlrpc::Value;

/// The Supvisors release whose API this namespace reproduces (`get_api_version`; supvisorsctl
/// refuses to talk to any other).
pub const API_VERSION: &str = "0.14";

/// Safety net around a Raft write: the cluster contract says writes fail fast, this bounds it.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Safety net around a membership change: adding a member waits until it has caught up with
/// the log (the cluster gives up after 15 s and says so), so this is longer than a write.
pub const MEMBERSHIP_TIMEOUT: Duration = Duration::from_secs(40);
/// How long `wait=True` enable/disable wait for the local replica to show the change.
pub const DEFAULT_SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

const IDENTIFIER: (&str, &str) = ("string", "identifier");
const NAMESPEC: (&str, &str) = ("string", "namespec");
const PROGRAM: (&str, &str) = ("string", "program_name");
const WAIT: (&str, &str) = ("boolean", "wait");
const APPLICATION: (&str, &str) = ("string", "application_name");
const STRATEGY: (&str, &str) = ("string", "strategy");
const CONCILIATION: (&str, &str) = ("string", "strategy");
const EXTRA_ARGS: (&str, &str) = ("string", "extra_args");
const REGEX: (&str, &str) = ("string", "regex");
const PERIOD: (&str, &str) = ("double", "period");

/// The methods of the state part, as Supvisors 0.14 names them, plus raftvisor extensions
/// that Supvisors 0.14 clients never call: `get_raft_status` (the local Raft metrics) and the
/// membership of the Raft cluster by an operator, `get_raft_members`, `remove_member` and
/// `add_member` (README: "a host lost its disk").
pub static METHODS: &[MethodDef] = &[
    MethodDef::new(
        "get_api_version",
        "string",
        &[],
        0,
        "Return the version of the RPC API used by Supvisors",
    ),
    MethodDef::new(
        "get_supvisors_state",
        "struct",
        &[],
        0,
        "Return the state and modes of Supvisors",
    ),
    MethodDef::new(
        "get_master_identifier",
        "string",
        &[],
        0,
        "Get the identifier of the Supvisors Master instance ('' if none)",
    ),
    MethodDef::new(
        "get_strategies",
        "struct",
        &[],
        0,
        "Get the default strategies applied by Supvisors",
    ),
    MethodDef::new(
        "get_instance_info",
        "struct",
        &[IDENTIFIER],
        0,
        "Get information about the Supvisors instance identified by identifier",
    ),
    MethodDef::new(
        "get_all_instances_info",
        "array",
        &[],
        0,
        "Get information about all Supvisors instances",
    ),
    MethodDef::new(
        "get_process_info",
        "array",
        &[NAMESPEC],
        0,
        "Get synthetic information about a process named namespec (name, group:name or group:*)",
    ),
    MethodDef::new(
        "get_all_process_info",
        "array",
        &[],
        0,
        "Get synthetic information about all processes",
    ),
    MethodDef::new(
        "get_local_process_info",
        "struct",
        &[NAMESPEC],
        0,
        "Get local information about a process named namespec",
    ),
    MethodDef::new(
        "get_all_local_process_info",
        "array",
        &[],
        0,
        "Get information about all processes located on this Supvisors instance",
    ),
    MethodDef::new(
        "enable",
        "boolean",
        &[PROGRAM, WAIT],
        1,
        "Enable the program on this instance",
    ),
    MethodDef::new(
        "disable",
        "boolean",
        &[PROGRAM, WAIT],
        1,
        "Disable the program on this instance, stopping its running processes",
    ),
    MethodDef::new(
        "change_log_level",
        "boolean",
        &[("string", "level_param")],
        0,
        "Change the logger level for the local Supvisors",
    ),
    MethodDef::new(
        "get_raft_status",
        "struct",
        &[],
        0,
        "raftvisor extension (not in Supvisors 0.14): return the local Raft status \
         {leader ('' if none), term, last_log_index, last_applied (-1 if none), voters, learners}",
    ),
    MethodDef::new(
        "get_raft_members",
        "array",
        &[],
        0,
        "raftvisor extension (not in Supvisors 0.14): return the Raft members as the leader \
         sees them [{identifier, role ('voter' or 'learner'), leader, matched_index, lag}] \
         (-1: nothing replicated yet)",
    ),
    MethodDef::new(
        "get_all_inner_process_info",
        "array",
        &[IDENTIFIER],
        0,
        "Supvisors 0.15+: return the processes of the Supvisors instance as the cluster \
         knows them (Supervisor's process info: name, group, state, pid, start, stop, now, \
         spawnerr, exitstatus, logs, description, plus expected and identifier), from the \
         local replica",
    ),
    MethodDef::new(
        "get_history",
        "array",
        &[("int", "since")],
        1,
        "raftvisor extension (not in Supvisors 0.14): return the cluster's history, oldest \
         first, from the entry numbered since (default: every kept one) [{seq, index, term, \
         time, kind, instance, user, text}]: user commands with the instance and user that \
         asked, leader elections, instance and cluster state changes, failure strategies and \
         jobs ended, as recorded in the replicated log",
    ),
    MethodDef::new(
        "remove_member",
        "boolean",
        &[IDENTIFIER],
        0,
        "raftvisor extension (not in Supvisors 0.14): remove the instance from the Raft \
         membership (it no longer votes nor receives the log); refused when it would lose the \
         quorum",
    ),
    MethodDef::new(
        "add_member",
        "boolean",
        &[IDENTIFIER],
        0,
        "raftvisor extension (not in Supvisors 0.14): add the instance back to the Raft \
         membership, as a learner until it has caught up with the log, then as a voter if it \
         is one of the core_identifiers",
    ),
    MethodDef::new(
        "get_application_info",
        "struct",
        &[APPLICATION],
        0,
        "Return information about the application named application_name",
    ),
    MethodDef::new(
        "get_all_applications_info",
        "array",
        &[],
        0,
        "Return information about all applications",
    ),
    MethodDef::new(
        "get_application_rules",
        "struct",
        &[APPLICATION],
        0,
        "Return the rules applicable to the application named application_name",
    ),
    MethodDef::new(
        "get_process_rules",
        "array",
        &[NAMESPEC],
        0,
        "Return the rules applicable to the process named namespec",
    ),
    MethodDef::new(
        "get_conflicts",
        "array",
        &[],
        0,
        "Return the conflicting processes",
    ),
    MethodDef::new(
        "start_application",
        "boolean",
        &[STRATEGY, APPLICATION, WAIT],
        1,
        "Start the managed application named application_name iaw the strategy and the rules file",
    ),
    MethodDef::new(
        "stop_application",
        "boolean",
        &[APPLICATION, WAIT],
        1,
        "Stop the managed application named application_name",
    ),
    MethodDef::new(
        "restart_application",
        "boolean",
        &[STRATEGY, APPLICATION, WAIT],
        1,
        "Restart the application named application_name iaw the strategy and the rules file",
    ),
    MethodDef::new(
        "start_args",
        "boolean",
        &[NAMESPEC, EXTRA_ARGS, WAIT],
        1,
        "Start the local process named namespec with additional arguments",
    ),
    MethodDef::new(
        "start_process",
        "boolean",
        &[STRATEGY, NAMESPEC, EXTRA_ARGS, WAIT],
        2,
        "Start a process named namespec iaw the strategy and some of the rules file",
    ),
    MethodDef::new(
        "start_any_process",
        "string",
        &[STRATEGY, REGEX, EXTRA_ARGS, WAIT],
        2,
        "Start one process among those matching the regular expression iaw the strategy and some of the rules file",
    ),
    MethodDef::new(
        "stop_process",
        "boolean",
        &[NAMESPEC, WAIT],
        1,
        "Stop the process named namespec where it is running",
    ),
    MethodDef::new(
        "restart_process",
        "boolean",
        &[STRATEGY, NAMESPEC, EXTRA_ARGS, WAIT],
        2,
        "Restart a process named namespec iaw the strategy and some of the rules file",
    ),
    MethodDef::new(
        "update_numprocs",
        "boolean",
        &[PROGRAM, ("int", "numprocs"), WAIT],
        1,
        "Update dynamically the numprocs of the program",
    ),
    MethodDef::new(
        "conciliate",
        "boolean",
        &[CONCILIATION],
        0,
        "Apply the conciliation strategy only if Supvisors is in CONCILIATION state with a USER strategy",
    ),
    MethodDef::new(
        "restart_sequence",
        "boolean",
        &[WAIT],
        1,
        "Triggers the whole starting sequence by going back to the DEPLOYMENT state",
    ),
    MethodDef::new(
        "restart",
        "boolean",
        &[],
        0,
        "Stops all applications and restart Supvisors through all Supervisor daemons",
    ),
    MethodDef::new(
        "shutdown",
        "boolean",
        &[],
        0,
        "Stops all applications and shut down Supvisors through all Supervisor daemons",
    ),
    MethodDef::new(
        "test_start_application",
        "array",
        &[STRATEGY, APPLICATION],
        0,
        "Return a prediction of the distribution of the application processes (Supvisors 0.18)",
    ),
    // Any instance's own processes, from any instance (the dashboard's instance page).
    MethodDef::new(
        "instance_start_process",
        "boolean",
        &[IDENTIFIER, NAMESPEC],
        0,
        "raftvisor extension: start the process on the instance named (its own supervisor, \
         not placed by Supvisors), without waiting for startsecs",
    ),
    MethodDef::new(
        "instance_stop_process",
        "boolean",
        &[IDENTIFIER, NAMESPEC],
        0,
        "raftvisor extension: stop the process on the instance named, without waiting",
    ),
    MethodDef::new(
        "instance_restart_process",
        "boolean",
        &[IDENTIFIER, NAMESPEC],
        0,
        "raftvisor extension: stop the process on the instance named (waiting for it to \
         stop), then start it there",
    ),
    MethodDef::new(
        "instance_clear_process_logs",
        "boolean",
        &[IDENTIFIER, NAMESPEC],
        0,
        "raftvisor extension: clear the process's stdout and stderr logs on the instance named",
    ),
    MethodDef::new(
        "get_instance_process_log",
        "array",
        &[
            IDENTIFIER,
            NAMESPEC,
            ("string", "channel"),
            ("int", "offset"),
            ("int", "length"),
        ],
        0,
        "raftvisor extension: what the process's log (channel stdout or stderr) on the \
         instance named got since offset, at most its last length bytes (offset 0: the last \
         length bytes) [bytes, offset to ask from next, overflow: bytes skipped]",
    ),
    // The statistics ([`crate::statistics`]).
    MethodDef::new(
        "get_statistics_status",
        "struct",
        &[],
        0,
        "Supvisors 0.18: return the statistics collection status of this instance \
         {host_stats, process_stats, collecting_period}, plus raftvisor's {periods, \
         irix_mode, nb_cores: {identifier: cores}}",
    ),
    MethodDef::new(
        "enable_host_statistics",
        "boolean",
        &[("boolean", "enable_host")],
        0,
        "Supvisors 0.18: enable or disable the host statistics collection of this instance",
    ),
    MethodDef::new(
        "enable_process_statistics",
        "boolean",
        &[("boolean", "enable_process")],
        0,
        "Supvisors 0.18: enable or disable the process statistics collection of this instance",
    ),
    MethodDef::new(
        "update_collecting_period",
        "boolean",
        &[("double", "collecting_period")],
        0,
        "Supvisors 0.18: set the time between two statistics samples of this instance, in \
         seconds (1 to 3600)",
    ),
    MethodDef::new(
        "get_host_statistics",
        "array",
        &[IDENTIFIER, PERIOD],
        1,
        "raftvisor extension: return the host statistics of the instance over the period \
         (default: the first of stats_periods), oldest first, as the hstats events give them \
         [{identifier, target_period, period, cpu, mem, net_io, disk_io, disk_usage}]",
    ),
    MethodDef::new(
        "get_process_statistics",
        "array",
        &[NAMESPEC, PERIOD],
        1,
        "raftvisor extension: return the statistics of the process on each instance where it \
         runs, over the period (default: the first of stats_periods) [{namespec, identifier, \
         pid, target_period, cpu, mem, history: [[end, cpu, mem], ...]}] (cpu as this instance \
         shows it: IRIX or Solaris mode)",
    ),
    MethodDef::new(
        "get_all_process_statistics",
        "array",
        &[PERIOD],
        1,
        "raftvisor extension: return the latest statistics of every process on every \
         instance over the period (default: the first of stats_periods) [{namespec, \
         identifier, pid, target_period, period, cpu, mem}] (cpu as this instance shows it)",
    ),
];

/// Whether `program` is disabled on `instance` in `replica`.
pub fn is_disabled(replica: &Replica, instance: &str, program: &str) -> bool {
    replica.state.is_disabled(instance, program)
}

/// The procman start guard refusing the programs disabled for the local instance of
/// `cluster` (Supvisors' patched `startProcess`: `DISABLED: <namespec>`, fault 103; disabled
/// programs are not auto-started or auto-restarted either). `cluster::Node::start` installs
/// the same guard on its supervisor already; this builds it for any [`ClusterApi`].
pub fn disabled_guard(cluster: &impl ClusterApi) -> procman::StartGuard {
    cluster::guard::disabled_guard(cluster.replica(), cluster.local_identifier())
}

/// The program options of one configured local process (from `getAllConfigInfo`).
struct ConfiguredProcess {
    group: String,
    name: String,
    startsecs: i64,
    stopwaitsecs: i64,
}

/// What the namespace knows of the local configuration: the program of each process, and the
/// commander (rules, the configured processes, placement settings) the control methods use.
/// Both change when the configuration is re-read, so they travel as one value, in one
/// `watch` channel shared with whoever re-reads the configuration
/// ([`SupvisorsNamespace::sharing`]).
#[derive(Clone)]
pub struct ConfigView {
    pub programs: Arc<ProgramIndex>,
    pub commander: Arc<Commander>,
}

/// The `supvisors` XML-RPC namespace (state part).
pub struct SupvisorsNamespace<C, S> {
    pub(crate) cluster: C,
    pub(crate) supervisor: S,
    spec: SupvisorsSpec,
    log_level: Arc<dyn Fn(LogLevel) + Send + Sync>,
    /// The program index, and the commander: rules, placement and application status
    /// (without a rules file every application is unmanaged).
    config: watch::Sender<ConfigView>,
    pub(crate) write_timeout: Duration,
    settle_timeout: Duration,
    /// `get_all_process_info`, rendered: it depends on the replica alone.
    all_processes: ReplyCache<LogId>,
    /// `get_all_instances_info`, rendered: it depends on the replica and the (fixed) spec.
    all_instances: ReplyCache<LogId>,
    /// The incarnation of this daemon (see [`SupvisorsNamespace::with_incarnation`]).
    incarnation: Option<u64>,
    /// The event interface's process bodies of the last snapshot, with what they were made
    /// of: a process that did not change keeps its body (one `Arc`), so a snapshot of a big
    /// cluster encodes only what changed, and comparing two is mostly pointer comparisons.
    event_bodies: std::sync::Mutex<EventBodies>,
    /// Every instance's statistics, and this one's collection settings (none: the statistics
    /// methods answer that nothing is collected).
    statistics: Option<Arc<stats::Statistics>>,
}

/// See [`SupvisorsNamespace::event_snapshot`].
type EventBodies = std::collections::HashMap<
    String,
    (
        commander::synth::SyntheticProcess,
        String,
        std::sync::Arc<serde_json::Value>,
    ),
>;

impl<C: ClusterApi, S: SupervisorApi> SupvisorsNamespace<C, S> {
    /// `log_level` is called by `change_log_level` with the new level. The program index starts
    /// empty: give it with [`SupvisorsNamespace::with_programs`] (enable/disable answer BAD_NAME
    /// for programs it does not know, and `disabled` is false for processes it does not know).
    pub fn new(
        cluster: C,
        supervisor: S,
        spec: SupvisorsSpec,
        log_level: Arc<dyn Fn(LogLevel) + Send + Sync>,
    ) -> Self {
        let commander = Arc::new(Commander::new(
            model::rules::Rules::new(
                spec.instances
                    .iter()
                    .map(|i| i.identifier.clone())
                    .collect(),
                Vec::new(),
            ),
            commander::Catalog::default(),
            commander_settings(&spec),
        ));
        SupvisorsNamespace {
            cluster,
            supervisor,
            spec,
            log_level,
            config: watch::Sender::new(ConfigView {
                programs: Arc::new(ProgramIndex::default()),
                commander,
            }),
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            settle_timeout: DEFAULT_SETTLE_TIMEOUT,
            all_processes: ReplyCache::default(),
            all_instances: ReplyCache::default(),
            incarnation: None,
            event_bodies: Default::default(),
            statistics: None,
        }
    }

    /// This daemon's incarnation (`cluster::Node::incarnation`). While the local replica
    /// predates it — right after a restart, before a leader has committed this instance's
    /// first batch — the replies show the replica as a restarted Supvisors instance would:
    /// INITIALIZATION, and no process alive (`ClusterState::as_before_restart`), instead of
    /// the processes of the previous run as RUNNING.
    pub fn with_incarnation(mut self, incarnation: u64) -> Self {
        self.incarnation = Some(incarnation);
        self
    }

    /// Serves the statistics methods from `statistics` (without it, they fail with
    /// Supvisors' NOT_INSTALLED-like answer: nothing is collected).
    pub fn with_statistics(mut self, statistics: Arc<stats::Statistics>) -> Self {
        self.statistics = Some(statistics);
        self
    }

    /// Reads its program index and commander from `config`, the channel the daemon's config
    /// reloader publishes a new [`ConfigView`] to at each re-read, and whose receivers give
    /// the cluster node's planner the same commander: one value, no copy to keep in sync.
    /// `update_numprocs` publishes its new program index there too.
    pub fn sharing(mut self, config: watch::Sender<ConfigView>) -> Self {
        self.config = config;
        self
    }

    /// Sets the program index of the view (see [`SupvisorsNamespace::sharing`]).
    pub fn with_programs(self, programs: ProgramIndex) -> Self {
        self.set_programs(programs);
        self
    }

    pub(crate) fn set_programs(&self, programs: ProgramIndex) {
        self.config
            .send_modify(|view| view.programs = Arc::new(programs));
    }

    /// Sets the commander of the view, whose rules and placement the control methods use
    /// (see [`SupvisorsNamespace::sharing`]).
    pub fn with_commander(self, commander: Arc<Commander>) -> Self {
        self.config.send_modify(|view| view.commander = commander);
        self
    }

    pub(crate) fn commander_handle(&self) -> Arc<Commander> {
        self.config.borrow().commander.clone()
    }

    /// Identifiers whose commander has starting / stopping work: the leader's, when a job
    /// of that kind runs (only the leader's commander works).
    fn job_modes(&self, replica: &Replica) -> (Vec<String>, Vec<String>) {
        let jobs = replica.state.jobs();
        let leader: Vec<String> = self.cluster.leader_view().leader.into_iter().collect();
        let starting = jobs.running().any(|j| j.is_starting());
        let stopping = jobs.running().any(|j| j.is_stopping());
        (
            if starting { leader.clone() } else { Vec::new() },
            if stopping { leader } else { Vec::new() },
        )
    }

    pub fn with_timeouts(mut self, write: Duration, settle: Duration) -> Self {
        self.write_timeout = write;
        self.settle_timeout = settle;
        self
    }

    pub(crate) fn programs(&self) -> Arc<ProgramIndex> {
        self.config.borrow().programs.clone()
    }

    fn local(&self) -> String {
        self.cluster.local_identifier()
    }

    /// Runs `f` on the current replica (without holding it across an await), as this
    /// instance may show it (see [`SupvisorsNamespace::with_incarnation`]).
    fn with_replica<T>(&self, f: impl FnOnce(&Replica) -> T) -> T {
        let rx = self.cluster.replica();
        let replica = rx.borrow();
        match self.incarnation {
            Some(incarnation) if replica.state.predates(&self.local(), incarnation) => {
                let view = Replica {
                    last_applied: replica.last_applied,
                    membership: replica.membership.clone(),
                    state: replica.state.as_before_restart(),
                };
                drop(replica);
                f(&view)
            }
            _ => f(&replica),
        }
    }

    /// The reply `build` makes from the replica, from `cache` when the replica has applied
    /// nothing since it was stored. `build` must depend on nothing but the replica and fixed
    /// configuration (no clock, no leader view, no local supervisor). A replica that has
    /// applied nothing yet (`last_applied` none) is never cached.
    fn cached(
        &self,
        cache: &ReplyCache<LogId>,
        build: impl FnOnce(&Replica) -> Result<Value, Fault>,
    ) -> Result<Value, Fault> {
        let (key, built) = self.with_replica(|r| match r.last_applied {
            Some(key) => match cache.get(&key) {
                Some(hit) => (None, Ok(hit)),
                None => (Some(key), build(r)),
            },
            None => (None, build(r)),
        });
        // Rendered after the replica borrow is released, so appliers are not held up.
        match (key, built) {
            (Some(key), Ok(value)) => Ok(cache.store(key, &value)),
            (_, built) => built,
        }
    }

    pub(crate) fn check(&self, gate: Gate) -> Result<(), Fault> {
        self.with_replica(|r| gate.check(r.state.supvisors_state()))
    }

    /// `loads`: the commander's expected loads of `replica` (computed once per reply).
    fn instance_info(
        &self,
        replica: &Replica,
        loads: &BTreeMap<String, u32>,
        identifier: &str,
    ) -> Result<Value, Fault> {
        let addr = self.spec.instance(identifier).ok_or_else(|| {
            Fault::with(
                FaultCode::IncorrectParameters,
                format!("{identifier} unknown to Supvisors"),
            )
        })?;
        let (starting, stopping) = self.job_modes(replica);
        let extras = InstanceExtras {
            fsm: replica.state.supvisors_state(),
            starting_jobs: starting.iter().any(|i| i == identifier),
            stopping_jobs: stopping.iter().any(|i| i == identifier),
            loading: loads.get(identifier).copied().unwrap_or(0),
        };
        Ok(encode::instance_info(
            addr,
            replica.state.instance(identifier),
            extras,
        ))
    }

    fn all_instances_info(&self) -> Result<Value, Fault> {
        self.cached(&self.all_instances, |replica| {
            self.build_all_instances_info(replica)
        })
    }

    /// The uncached reply of `get_all_instances_info`.
    pub(crate) fn build_all_instances_info(&self, replica: &Replica) -> Result<Value, Fault> {
        let mut identifiers: Vec<&str> = self
            .spec
            .instances
            .iter()
            .map(|i| i.identifier.as_str())
            .collect();
        identifiers.sort_unstable();
        let loads = self.commander_handle().expected_loads(&replica.state);
        identifiers
            .iter()
            .map(|id| self.instance_info(replica, &loads, id))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array)
    }

    fn all_process_info(&self) -> Result<Value, Fault> {
        self.cached(&self.all_processes, |r| Ok(Self::build_all_process_info(r)))
    }

    /// The uncached reply of `get_all_process_info`.
    pub(crate) fn build_all_process_info(replica: &Replica) -> Value {
        let all = synth::all_processes(&replica.state);
        Value::Array(
            all.iter()
                .map(|p| encode::process_with_args(p, &replica.state))
                .collect(),
        )
    }

    /// The cluster as `GET /metrics` shows it: the states of the cluster, of each instance
    /// and of each process on each instance, the loads, the jobs in progress and this node's
    /// Raft positions, from the replica (the event interface's figures are the daemon's).
    pub fn metrics_sample(&self) -> metrics::Sample {
        let commander = self.commander_handle();
        let raft = self.cluster.raft_status();
        let now = model::time::epoch_ms().div_euclid(1000);
        self.with_replica(|r| {
            let state = &r.state;
            let loads = commander.expected_loads(state);
            let instances = self
                .spec
                .instances
                .iter()
                .map(|i| metrics::InstanceSample {
                    identifier: i.identifier.clone(),
                    state: state
                        .instance(&i.identifier)
                        .map_or(cluster::InstanceState::Unknown, |record| record.state)
                        .name()
                        .to_string(),
                    load: loads.get(&i.identifier).copied().unwrap_or(0),
                })
                .collect();
            let processes = state
                .instances()
                .flat_map(|(identifier, record)| {
                    record.processes.values().map(move |p| {
                        let p = &p.status;
                        metrics::ProcessSample {
                            instance: identifier.to_string(),
                            group: p.group.clone(),
                            name: p.name.clone(),
                            state: p.state.name().to_string(),
                            uptime_seconds: metrics::uptime_seconds(p.state, p.start, now),
                        }
                    })
                })
                .collect();
            let jobs = state.jobs();
            let count =
                |f: fn(&cluster::jobs::Job) -> bool| jobs.running().filter(|j| f(j)).count() as u64;
            metrics::Sample {
                supvisors_state: Some(state.supvisors_state().name().to_string()),
                instances,
                processes,
                jobs: Some(metrics::JobsSample {
                    starting: count(cluster::jobs::Job::is_starting),
                    stopping: count(cluster::jobs::Job::is_stopping),
                }),
                raft: Some(metrics::RaftSample {
                    local: self.local(),
                    term: raft.term,
                    leader: raft.leader,
                    last_log_index: raft.last_log_index,
                    last_applied: raft.last_applied,
                    voters: raft.voters,
                    matched: raft.matched,
                }),
                events: None,
            }
        })
    }

    /// The cluster as the event interface publishes it (`events::Snapshot`): what
    /// `get_supvisors_state`, `get_instance_info`, `get_application_info` and
    /// `get_process_info` would answer now (without their state gates), and each instance's
    /// processes as its `event` messages report them.
    pub fn event_snapshot(&self) -> events::Snapshot {
        use xmlrpc::to_json as from_xmlrpc;
        let commander = self.commander_handle();
        self.with_replica(|r| {
            let state = &r.state;
            let (starting, stopping) = self.job_modes(r);
            let loads = commander.expected_loads(state);
            let instances = self
                .spec
                .instances
                .iter()
                .filter_map(|i| {
                    let info = self.instance_info(r, &loads, &i.identifier).ok()?;
                    Some((i.identifier.clone(), from_xmlrpc(&info)))
                })
                .collect();
            let applications = commander
                .applications(state)
                .iter()
                .map(|a| (a.name.clone(), from_xmlrpc(&encode::application(a))))
                .collect();
            let mut cache = self
                .event_bodies
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut bodies = EventBodies::with_capacity(cache.len());
            let processes = synth::all_processes(state)
                .into_iter()
                .map(|p| {
                    let namespec = model::make_namespec(&p.application_name, &p.process_name);
                    let extra_args = state.jobs().extra_args(&namespec).to_string();
                    let body = match cache.remove(&namespec) {
                        Some((was, args, body)) if was == p && args == extra_args => body,
                        _ => std::sync::Arc::new(from_xmlrpc(&encode::process(&p, &extra_args))),
                    };
                    let application = p.application_name.clone();
                    bodies.insert(namespec.clone(), (p, extra_args, body.clone()));
                    (namespec, (application, body))
                })
                .collect();
            *cache = bodies;
            drop(cache);
            let local = state
                .instances()
                .flat_map(|(identifier, record)| {
                    record.processes.iter().map(move |(namespec, p)| {
                        let p = &p.status;
                        let local = events::LocalProcess {
                            group: p.group.clone(),
                            name: p.name.clone(),
                            state: p.state.code(),
                            pid: p.pid,
                            expected: p.expected,
                            spawnerr: p.spawnerr.clone(),
                            extra_args: state.jobs().extra_args(namespec).to_string(),
                            disabled: record.disabled.contains(&p.name)
                                || record.disabled.contains(&p.group),
                        };
                        ((identifier.to_string(), namespec.clone()), local)
                    })
                })
                .collect();
            events::Snapshot {
                supvisors: Some(from_xmlrpc(&encode::supvisors_state(
                    state.supvisors_state(),
                    &starting,
                    &stopping,
                ))),
                instances,
                applications,
                processes,
                local,
                history: {
                    let history = state.history();
                    let from = history
                        .next_seq()
                        .saturating_sub(events::diff::HISTORY_IN_SNAPSHOT);
                    history
                        .since(from)
                        .map(|e| (e.seq, from_xmlrpc(&encode::history_entry(e))))
                        .collect()
                },
                history_next: state.history().next_seq(),
            }
        })
    }

    /// `startsecs` / `stopwaitsecs` of every local process, by `(group, name)`.
    async fn local_options(&self) -> Vec<ConfiguredProcess> {
        let infos = self.supervisor.all_config_info().await;
        infos
            .iter()
            .filter_map(|info| {
                let text = |key: &str| {
                    info.iter().find_map(|(k, v)| match v {
                        ConfigValue::Str(s) if *k == key => Some(s.clone()),
                        _ => None,
                    })
                };
                let int = |key: &str| {
                    info.iter().find_map(|(k, v)| match v {
                        ConfigValue::Int(n) if *k == key => Some(*n),
                        _ => None,
                    })
                };
                Some(ConfiguredProcess {
                    group: text("group")?,
                    name: text("name")?,
                    startsecs: int("startsecs")?,
                    stopwaitsecs: int("stopwaitsecs")?,
                })
            })
            .collect()
    }

    /// `None` when the configuration does not (or no longer) know the process.
    fn local_entry(
        &self,
        info: &ProcessInfo,
        options: &[ConfiguredProcess],
        programs: &ProgramIndex,
    ) -> Option<Value> {
        let configured = options
            .iter()
            .find(|c| c.group == info.group && c.name == info.name)?;
        let local = self.local();
        let disabled = programs
            .program_of(&info.group, &info.name)
            .is_some_and(|program| self.with_replica(|r| is_disabled(r, &local, program)));
        let namespec = make_namespec(&info.group, &info.name);
        let extra_args = self.with_replica(|r| r.state.jobs().extra_args(&namespec).to_string());
        Some(encode::local_process(
            info,
            LocalOptions {
                startsecs: configured.startsecs,
                stopwaitsecs: configured.stopwaitsecs,
                disabled,
            },
            &extra_args,
        ))
    }

    async fn local_process_info(&self, namespec: &str) -> Result<Value, Fault> {
        let info = self.supervisor.process_info(namespec).await?;
        let options = self.local_options().await;
        self.local_entry(&info, &options, &self.programs())
            .ok_or_else(|| Fault::with(FaultCode::BadName, namespec))
    }

    async fn all_local_process_info(&self) -> Value {
        let infos = self.supervisor.all_process_info().await;
        let options = self.local_options().await;
        let programs = self.programs();
        Value::Array(
            infos
                .iter()
                .filter_map(|info| self.local_entry(info, &options, &programs))
                .collect(),
        )
    }

    /// `cmd` stamped as written here now, for the user of the request being served: the
    /// cluster's history records who asked for what.
    pub(crate) fn stamped(&self, cmd: Command) -> Command {
        Command::Stamped {
            stamp: cluster::Stamp {
                at_ms: model::time::epoch_ms(),
                instance: self.local(),
                user: web::caller::user(),
            },
            command: Box::new(cmd),
        }
    }

    /// Commits `cmd`, stamped, bounded by the write timeout, with faults for every failure.
    pub(crate) async fn write(&self, cmd: Command) -> Result<(), Fault> {
        let cmd = self.stamped(cmd);
        let result = tokio::time::timeout(self.write_timeout, self.cluster.write(cmd))
            .await
            .map_err(|_| faults::write_fault(&cluster::WriteError::Timeout(self.write_timeout)))?
            .map_err(|e| faults::write_fault(&e))?;
        match faults::command_fault(&result) {
            Some(fault) => Err(fault),
            None => Ok(()),
        }
    }

    /// Waits (bounded) until the local replica shows `program` with the `disabled` flag, so
    /// that a read right after a waited enable/disable sees it.
    async fn settle(&self, program: &str, disabled: bool) {
        let local = self.local();
        let mut rx = self.cluster.replica();
        let reached = tokio::time::timeout(self.settle_timeout, async {
            rx.wait_for(|r| is_disabled(r, &local, program) == disabled)
                .await
                .is_ok()
        })
        .await;
        if !matches!(reached, Ok(true)) {
            tracing::warn!(
                program,
                disabled,
                "committed, but the local replica did not show it in time"
            );
        }
    }

    pub(crate) fn known_program(&self, program: &str) -> Result<Arc<ProgramIndex>, Fault> {
        let programs = self.programs();
        if programs.contains(program) {
            Ok(programs)
        } else {
            Err(Fault::with(
                FaultCode::BadName,
                format!("program {program} unknown to Supvisors"),
            ))
        }
    }

    async fn enable(&self, program: &str, wait: bool) -> Result<Value, Fault> {
        self.check(Gate::Operation)?;
        self.known_program(program)?;
        let target = Target::Instance(self.local());
        self.write(Command::Enable {
            target,
            program: program.to_string(),
        })
        .await?;
        if wait {
            self.settle(program, false).await;
        }
        Ok(Value::Bool(true))
    }

    /// Disables first (so nothing restarts the processes meanwhile), then stops the local
    /// processes of the program that are running. With `wait`, returns once they are stopped
    /// (ABNORMAL_TERMINATION naming those that could not be) and the replica shows the flag.
    async fn disable(&self, program: &str, wait: bool) -> Result<Value, Fault> {
        self.check(Gate::Operation)?;
        let programs = self.known_program(program)?;
        self.write(Command::Disable {
            target: Target::Instance(self.local()),
            program: program.to_string(),
        })
        .await?;
        let members = programs.processes_of(program);
        let to_stop: Vec<String> = self
            .supervisor
            .all_process_info()
            .await
            .into_iter()
            .filter(|info| info.state.is_running())
            .filter(|info| {
                members
                    .iter()
                    .any(|(g, n)| *g == info.group && *n == info.name)
            })
            .map(|info| make_namespec(&info.group, &info.name))
            .collect();
        let stops = to_stop.iter().map(|namespec| async move {
            let outcome = self.supervisor.stop_process(namespec, wait).await;
            (namespec, outcome)
        });
        let mut failed = Vec::new();
        for (namespec, outcome) in join_all(stops).await {
            match outcome {
                Ok(()) => {}
                Err(fault) if fault.code == FaultCode::NotRunning => {}
                Err(fault) => {
                    tracing::warn!(%namespec, %fault, "disable: could not stop process");
                    failed.push(namespec.clone());
                }
            }
        }
        if wait {
            if !failed.is_empty() {
                return Err(Fault::with(
                    FaultCode::AbnormalTermination,
                    failed.join(" "),
                ));
            }
            self.settle(program, true).await;
        }
        Ok(Value::Bool(true))
    }

    async fn run(&self, method: &str, p: &[Value]) -> Result<Value, Fault> {
        // The dispatcher checked the arity; `arg` keeps a direct caller from panicking.
        let arg = |i: usize| p.get(i).ok_or(Fault::new(FaultCode::IncorrectParameters));
        match method {
            "get_api_version" => Ok(Value::String(API_VERSION.into())),
            "get_supvisors_state" => Ok(self.with_replica(|r| {
                let (starting, stopping) = self.job_modes(r);
                encode::supvisors_state(r.state.supvisors_state(), &starting, &stopping)
            })),
            "get_master_identifier" => Ok(Value::String(
                self.cluster.leader_view().leader.unwrap_or_default(),
            )),
            "get_strategies" => Ok(encode::strategies(&self.spec)),
            "get_instance_info" => {
                let identifier = params::string(arg(0)?, "identifier")?;
                self.with_replica(|r| {
                    let loads = self.commander_handle().expected_loads(&r.state);
                    self.instance_info(r, &loads, &identifier)
                })
            }
            "get_all_instances_info" => self.all_instances_info(),
            "get_process_info" => {
                self.check(Gate::FromDeployment)?;
                let namespec = params::string(arg(0)?, "namespec")?;
                self.with_replica(|r| {
                    let found = synth::processes_named(&r.state, &namespec)?;
                    Ok(Value::Array(
                        found
                            .iter()
                            .map(|p| encode::process_with_args(p, &r.state))
                            .collect(),
                    ))
                })
            }
            "get_all_process_info" => {
                self.check(Gate::FromDeployment)?;
                self.all_process_info()
            }
            "get_local_process_info" => {
                let namespec = params::string(arg(0)?, "namespec")?;
                self.local_process_info(&namespec).await
            }
            "get_all_local_process_info" => Ok(self.all_local_process_info().await),
            "enable" => {
                let program = params::string(arg(0)?, "program_name")?;
                self.enable(&program, params::wait_flag(p, 1)).await
            }
            "disable" => {
                let program = params::string(arg(0)?, "program_name")?;
                self.disable(&program, params::wait_flag(p, 1)).await
            }
            // Any state: a diagnostic of the Raft layer itself, from the local metrics.
            "get_raft_status" => Ok(encode::raft_status(&self.cluster.raft_status())),
            // Any state: a diagnostic, from the replica (0.15+ has it ungated too).
            "get_all_inner_process_info" => {
                let identifier = params::string(arg(0)?, "identifier")?;
                if self.spec.instance(&identifier).is_none() {
                    return Err(Fault::with(
                        FaultCode::BadName,
                        format!("identifier={identifier} is unknown to Supvisors"),
                    ));
                }
                let now = model::time::epoch_ms().div_euclid(1000);
                Ok(self.with_replica(|r| {
                    encode::inner_processes(&identifier, r.state.instance(&identifier), now)
                }))
            }
            // Any state: the history is most wanted when something went wrong.
            "get_history" => {
                let since = match p.first() {
                    Some(v) => u64::try_from(params::int(v, "since")?).unwrap_or(0),
                    None => 0,
                };
                Ok(self.with_replica(|r| encode::history(r.state.history().since(since))))
            }
            // Any state: membership is the Raft layer's, below the Supvisors state machine
            // (an operator repairs the membership precisely when the cluster is not whole).
            "get_raft_members" => self
                .cluster
                .raft_members()
                .await
                .map(|members| encode::raft_members(&members))
                .map_err(|e| faults::membership_fault(&e)),
            "remove_member" | "add_member" => {
                let identifier = params::string(arg(0)?, "identifier")?;
                if self.spec.instance(&identifier).is_none() {
                    return Err(Fault::with(
                        FaultCode::IncorrectParameters,
                        format!("{identifier} unknown to Supvisors"),
                    ));
                }
                let change = if method == "remove_member" {
                    cluster::MembershipChange::Remove(identifier)
                } else {
                    cluster::MembershipChange::Add(identifier)
                };
                match tokio::time::timeout(
                    MEMBERSHIP_TIMEOUT,
                    self.cluster.change_membership(change),
                )
                .await
                {
                    Err(_) => Err(Fault::with(
                        FaultCode::BadSupvisorsState,
                        format!(
                            "the membership change did not finish within {}s",
                            MEMBERSHIP_TIMEOUT.as_secs()
                        ),
                    )),
                    Ok(Err(e)) => Err(faults::membership_fault(&e)),
                    Ok(Ok(())) => Ok(Value::Bool(true)),
                }
            }
            "change_log_level" => {
                let level = faults::log_level(arg(0)?)?;
                (self.log_level)(level);
                Ok(Value::Bool(true))
            }
            // Any state: an instance's own processes, as its Supervisor pages would act on them.
            "instance_start_process"
            | "instance_stop_process"
            | "instance_restart_process"
            | "instance_clear_process_logs"
            | "get_instance_process_log" => {
                let identifier = params::string(arg(0)?, "identifier")?;
                if self.spec.instance(&identifier).is_none() {
                    return Err(Fault::with(
                        FaultCode::BadName,
                        format!("identifier={identifier} is unknown to Supvisors"),
                    ));
                }
                let namespec = params::string(arg(1)?, "namespec")?;
                let call = match method {
                    "instance_start_process" => cluster::LocalCall::Start { namespec },
                    "instance_stop_process" => cluster::LocalCall::Stop { namespec },
                    "instance_restart_process" => cluster::LocalCall::Restart { namespec },
                    "instance_clear_process_logs" => cluster::LocalCall::ClearLogs { namespec },
                    _ => {
                        let stderr = match params::string(arg(2)?, "channel")?.as_str() {
                            "stdout" => false,
                            "stderr" => true,
                            other => {
                                return Err(Fault::with(
                                    FaultCode::BadArguments,
                                    format!("channel {other:?}: stdout or stderr"),
                                ))
                            }
                        };
                        cluster::LocalCall::Tail {
                            namespec,
                            stderr,
                            offset: params::int(arg(3)?, "offset")?,
                            length: params::int(arg(4)?, "length")?,
                        }
                    }
                };
                match self.cluster.local_call(&identifier, call).await? {
                    cluster::LocalAnswer::Done => Ok(Value::Bool(true)),
                    cluster::LocalAnswer::Tail {
                        text,
                        offset,
                        overflow,
                    } => Ok(Value::Array(vec![
                        Value::String(text),
                        Value::Int(i32::try_from(offset).unwrap_or(i32::MAX)),
                        Value::Bool(overflow),
                    ])),
                }
            }
            // Any state, as in Supvisors: statistics are not the cluster's state.
            other if crate::statistics::is_method(other) => match &self.statistics {
                Some(stats) => {
                    crate::statistics::run(stats, other, p, |id| self.spec.instance(id).is_some())
                        .unwrap_or_else(|| Err(Fault::new(FaultCode::UnknownMethod)))
                }
                None => Err(Fault::with(
                    FaultCode::Failed,
                    "no statistics are collected by this instance".to_string(),
                )),
            },
            other => match self.run_control(other, p).await {
                Some(result) => result,
                None => Err(Fault::with(
                    FaultCode::UnknownMethod,
                    format!("supvisors.{other}"),
                )),
            },
        }
    }
}

/// The commander's settings from the Supvisors section: instance order for CONFIG, the node
/// (host) of each instance for the *_NODE strategies, the default strategies.
pub fn commander_settings(spec: &SupvisorsSpec) -> Settings {
    Settings {
        local: spec.local_identifier.clone(),
        instances: spec
            .instances
            .iter()
            .map(|i| i.identifier.clone())
            .collect(),
        nodes: spec
            .instances
            .iter()
            .map(|i| (i.identifier.clone(), i.host.clone()))
            .collect(),
        starting_strategy: spec.starting_strategy,
        conciliation_strategy: spec.conciliation_strategy,
    }
}

impl<C: ClusterApi, S: SupervisorApi> Namespace for SupvisorsNamespace<C, S> {
    fn name(&self) -> &str {
        "supvisors"
    }

    fn methods(&self) -> &[MethodDef] {
        METHODS
    }

    fn call<'a>(
        &'a self,
        method: &'a MethodDef,
        params: Vec<Value>,
    ) -> BoxFuture<'a, Result<Value, Fault>> {
        async move { self.run(method.name, &params).await }.boxed()
    }
}
