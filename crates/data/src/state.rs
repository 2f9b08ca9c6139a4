//! The replicated state machine data: what every instance knows about the whole cluster once the
//! Raft log has been applied. Pure data and pure transitions, no I/O, no clock: everything that
//! depends on time or on the outside world arrives *inside* a [`Command`], so applying the same
//! log gives the same [`ClusterState`] on every instance (and the same snapshot bytes).
//!
//! Every map is a `BTreeMap`/`BTreeSet`: their iteration (and thus encoding) order depends on the
//! keys only, which the determinism of snapshots relies on.
//!
//! The state outlives the daemons (it is persisted), so it must not pass stored facts off as
//! current ones:
//! * each daemon start is a new *incarnation*; its first batch of process events is *full*
//!   and replaces the instance's process set (what it does not list is removed, and kept a
//!   while in [`ClusterState::deleted`] for the event stream), as does any full batch after
//!   processes were added or removed there;
//! * a tick or batch of a newer incarnation shows the previous run's processes UNKNOWN;
//! * once every instance the deployments of the current *life* ran on has restarted or is
//!   lost, the Supvisors state goes back to INITIALIZATION by itself, and the leader deploys
//!   again.

use model::{make_namespec, ProcessState};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

use crate::history::{History, HistoryKind, LogPosition, Stamp};
use crate::jobs::{FailureKind, JobId, JobKind, JobOp, Jobs};

/// State of a Supvisors instance as the cluster sees it (Supvisors 0.14
/// `SupvisorsInstanceStates`, with its wire codes).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
pub enum InstanceState {
    /// Declared, no tick received yet (initial state).
    #[default]
    Unknown,
    /// First tick received, handshake in progress.
    Checking,
    /// Handshake done; a start target.
    Running,
    /// No tick for longer than the inactivity timeout.
    Silent,
    /// Declared inactive with auto-fencing; about to be disconnected.
    Isolating,
    /// Disconnected for good (until reset).
    Isolated,
}

impl InstanceState {
    pub const ALL: [InstanceState; 6] = [
        InstanceState::Unknown,
        InstanceState::Checking,
        InstanceState::Running,
        InstanceState::Silent,
        InstanceState::Isolating,
        InstanceState::Isolated,
    ];

    /// The code Supvisors 0.14 puts on the wire (`statecode`).
    pub fn code(self) -> i32 {
        match self {
            InstanceState::Unknown => 0,
            InstanceState::Checking => 1,
            InstanceState::Running => 2,
            InstanceState::Silent => 3,
            InstanceState::Isolating => 4,
            InstanceState::Isolated => 5,
        }
    }

    /// The name Supvisors 0.14 puts on the wire (`statename`).
    pub fn name(self) -> &'static str {
        match self {
            InstanceState::Unknown => "UNKNOWN",
            InstanceState::Checking => "CHECKING",
            InstanceState::Running => "RUNNING",
            InstanceState::Silent => "SILENT",
            InstanceState::Isolating => "ISOLATING",
            InstanceState::Isolated => "ISOLATED",
        }
    }

    /// Supvisors 0.14 `SupvisorsInstanceStatus._Transitions`. Staying in the same state is not
    /// a transition (it is answered with [`CommandResult::Unchanged`]).
    pub fn can_become(self, next: InstanceState) -> bool {
        use InstanceState::*;
        match self {
            Unknown => matches!(next, Checking | Isolating | Silent),
            Checking => matches!(next, Running | Isolating | Silent),
            Running => matches!(next, Silent | Isolating | Checking),
            Silent => matches!(next, Checking | Isolating),
            Isolating => matches!(next, Isolated),
            Isolated => false,
        }
    }

    /// An instance in this state has lost contact: its processes' info is stale.
    pub fn is_inactive(self) -> bool {
        matches!(
            self,
            InstanceState::Silent | InstanceState::Isolating | InstanceState::Isolated
        )
    }

    /// A fenced instance is cut off by decision of the cluster: its reports are refused.
    pub fn is_fenced(self) -> bool {
        matches!(self, InstanceState::Isolating | InstanceState::Isolated)
    }
}

impl std::fmt::Display for InstanceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The Supvisors global state (Supvisors 0.14 `SupvisorsStates`, with its wire codes).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
pub enum SupvisorsState {
    #[default]
    Off,
    Initialization,
    Deployment,
    Operation,
    Conciliation,
    Restarting,
    Restart,
    ShuttingDown,
    Shutdown,
}

impl SupvisorsState {
    pub const ALL: [SupvisorsState; 9] = [
        SupvisorsState::Off,
        SupvisorsState::Initialization,
        SupvisorsState::Deployment,
        SupvisorsState::Operation,
        SupvisorsState::Conciliation,
        SupvisorsState::Restarting,
        SupvisorsState::Restart,
        SupvisorsState::ShuttingDown,
        SupvisorsState::Shutdown,
    ];

    /// The code Supvisors 0.14 puts on the wire (`fsm_statecode`).
    pub fn code(self) -> i32 {
        match self {
            SupvisorsState::Off => 0,
            SupvisorsState::Initialization => 1,
            SupvisorsState::Deployment => 2,
            SupvisorsState::Operation => 3,
            SupvisorsState::Conciliation => 4,
            SupvisorsState::Restarting => 5,
            SupvisorsState::Restart => 6,
            SupvisorsState::ShuttingDown => 7,
            SupvisorsState::Shutdown => 8,
        }
    }

    /// The name Supvisors 0.14 puts on the wire (`fsm_statename`).
    pub fn name(self) -> &'static str {
        match self {
            SupvisorsState::Off => "OFF",
            SupvisorsState::Initialization => "INITIALIZATION",
            SupvisorsState::Deployment => "DEPLOYMENT",
            SupvisorsState::Operation => "OPERATION",
            SupvisorsState::Conciliation => "CONCILIATION",
            SupvisorsState::Restarting => "RESTARTING",
            SupvisorsState::Restart => "RESTART",
            SupvisorsState::ShuttingDown => "SHUTTING_DOWN",
            SupvisorsState::Shutdown => "SHUTDOWN",
        }
    }

    /// Supvisors 0.14 `FiniteStateMachine._Transitions`, plus one deliberate addition:
    /// RESTART and SHUTDOWN may go back to INITIALIZATION. In Supvisors they are terminal because
    /// the process ends there; here the replicated state outlives the daemons (it is persisted),
    /// so a cluster started again after a shutdown must be able to begin a new life.
    pub fn can_become(self, next: SupvisorsState) -> bool {
        use SupvisorsState::*;
        match self {
            Off => matches!(next, Initialization),
            Initialization => matches!(next, Deployment),
            Deployment => matches!(next, Initialization | Operation | Restarting | ShuttingDown),
            Operation => matches!(
                next,
                Conciliation | Deployment | Initialization | Restarting | ShuttingDown
            ),
            Conciliation => matches!(next, Operation | Initialization | Restarting | ShuttingDown),
            Restarting => matches!(next, Restart),
            ShuttingDown => matches!(next, Shutdown),
            Restart | Shutdown => matches!(next, Initialization),
        }
    }
}

impl std::fmt::Display for SupvisorsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Position of a batch of process events in the stream of one instance.
///
/// `incarnation` must grow each time the instance's daemon starts (e.g. a boot counter the
/// daemon persists), `counter` with each batch of one incarnation. Ordering is lexicographic, so
/// a batch of a newer incarnation supersedes everything of the older one even though its counter
/// started again from zero.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
pub struct BatchSeq {
    pub incarnation: u64,
    pub counter: u64,
}

impl BatchSeq {
    pub fn new(incarnation: u64, counter: u64) -> Self {
        BatchSeq {
            incarnation,
            counter,
        }
    }
}

/// Latest known status of one process on one instance: what `getProcessInfo` would say there,
/// without the time-of-query field `now`. Times are epoch seconds; `pid` is 0 when no child.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessStatus {
    pub group: String,
    pub name: String,
    pub state: ProcessState,
    pub pid: i32,
    pub start: i64,
    pub stop: i64,
    pub exitstatus: i32,
    /// Supervisor's `expected` flag of the last exit (exit code in `exitcodes`).
    pub expected: bool,
    pub spawnerr: String,
    pub description: String,
    pub stdout_logfile: String,
    pub stderr_logfile: String,
}

impl ProcessStatus {
    /// `group:name`, or `name` when both are equal (Supervisor's `make_namespec`).
    pub fn namespec(&self) -> String {
        make_namespec(&self.group, &self.name)
    }
}

/// One run of a process that a fence stopped: its pid and start time (epoch seconds, the
/// instance's own clock, as in [`ProcessStatus`]), so that a report read after the process was
/// started again is not taken for the new run ([`StoppedRun::superseded_by`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoppedRun {
    pub namespec: String,
    pub pid: i32,
    pub start: i64,
}

impl StoppedRun {
    /// Whether `status` is a later run than this one: the process was started again since
    /// the fence stopped it (a leader's start reaching the instance between its cuts, under
    /// packet loss). A later start time says so, or, within the same second, another pid.
    /// An older record (the replica never heard of the stopped run) is not later.
    pub fn superseded_by(&self, status: &ProcessStatus) -> bool {
        status.start > self.start
            || (status.start == self.start && status.pid != 0 && status.pid != self.pid)
    }

    /// Whether `status` shows this run's end, or a later run: what the instance reports
    /// after the fence's stop. A STOPPED record older than the run does not: the run's own
    /// events (its STARTING among them) may still be on their way, and one committed after
    /// the report would show the run as running, after the report had the restart placed.
    pub fn settled_by(&self, status: &ProcessStatus) -> bool {
        self.superseded_by(status) || (status.state.is_stopped() && status.start >= self.start)
    }
}

/// A process status and the batch it came from (to ignore older, replayed or reordered reports).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRecord {
    pub status: ProcessStatus,
    pub seq: BatchSeq,
}

/// One tick of an instance as the leader received it: what Supvisors 0.14 shows as
/// `sequence_counter`, `remote_time` and `local_time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TickStamp {
    /// The sender's tick counter: ticks sent since its node started (1 for the first).
    pub counter: u64,
    /// The sender's wall clock when it sent the tick (epoch milliseconds).
    pub remote_at: i64,
    /// The leader's wall clock when it received the tick (epoch milliseconds).
    pub received_at: i64,
}

/// Everything the cluster knows about one instance.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InstanceRecord {
    pub state: InstanceState,
    /// The latest *committed* tick, `None` before the first. Ticks arrive every tick interval
    /// but the leader commits one only when the load changed or every few seconds (see
    /// `book`), so this is "as of the last committed tick", not the very last tick sent.
    pub last_tick: Option<TickStamp>,
    /// Load reported with the latest committed tick (percent).
    pub load: u32,
    /// Highest batch of process events applied from this instance.
    pub last_seq: Option<BatchSeq>,
    /// Latest status of every process of the instance, keyed by namespec.
    pub processes: BTreeMap<String, ProcessRecord>,
    /// Names of the programs disabled on this instance (survive a full-cluster restart).
    pub disabled: BTreeSet<String>,
    /// How many times the instance's processes were declared lost: each applied
    /// [`Command::InstanceLost`], each move to ISOLATING and each applied [`Command::Fenced`].
    /// A fence report names the count it saw, so it is applied only when no loss was
    /// declared since.
    pub losses: u64,
    /// SILENT, and its processes not declared lost yet: the instance stopped ticking, but it
    /// may be alive and cut off, its programs running until its own fence stops them, so the
    /// leader declares them lost ([`Command::InstanceLost`]) only once that is surely over.
    /// Until then they keep their last known state (nothing is restarted elsewhere, no
    /// duplicate is started) and nothing new is placed on the instance.
    pub pending_loss: bool,
}

/// Which instances a command addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    /// Every instance known to the state when the command is applied.
    All,
    /// One instance, by identifier (created if unknown).
    Instance(String),
}

/// A log entry's payload: one change to the cluster state. Externally tagged plain enum, so
/// bincode can carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A batch of process status changes reported by `instance`'s local supervisor. Within a
    /// batch the last status of a namespec wins; across batches, a status is taken only if its
    /// batch is newer than the one that last set that namespec.
    ///
    /// `full`: the batch lists *every* process of the instance (its first batch after a start,
    /// and after processes were added or removed there): the processes it does not list, and
    /// that no newer batch set, no longer exist and leave the state (see
    /// [`ClusterState::deleted`]). A batch of a newer incarnation that is not full shows the
    /// live processes of the previous run it does not list UNKNOWN: their daemon is gone, so
    /// they cannot be running.
    ProcessEvents {
        instance: String,
        seq: BatchSeq,
        full: bool,
        events: Vec<ProcessStatus>,
    },
    /// Move `instance` to `state` (declares the instance when unknown).
    InstanceState {
        instance: String,
        state: InstanceState,
    },
    /// Put `instance` back to UNKNOWN whatever its state: used when INITIALIZATION forgets the
    /// handshakes, and to re-admit an ISOLATED instance that was restarted.
    ResetInstance { instance: String },
    /// The processes of `instance`, SILENT with its loss pending
    /// ([`InstanceRecord::pending_loss`]), are lost: each running-like one becomes FATAL with
    /// a running failure, so that its strategy restarts it elsewhere. The leader sends it once
    /// a cut-off instance has surely fenced itself (`SupvisorsSpec::fence_bound` after it was
    /// last heard of), or at once when the instance's daemon is found dead. Ignored otherwise
    /// (the instance came back, or the loss was declared already).
    InstanceLost { instance: String },
    /// A liveness tick of `instance` with its load. Ordered by `stamp.received_at` (the
    /// leader's clock): a tick not newer than the recorded one changes nothing.
    /// `incarnation` is the sender daemon's: a newer one than its processes' says the daemon
    /// that ran them is gone, so they are shown UNKNOWN until its first batch (0: not told).
    Tick {
        instance: String,
        load: u32,
        stamp: TickStamp,
        incarnation: u64,
    },
    /// Disable `program` on the target instance(s).
    Disable { target: Target, program: String },
    /// Enable `program` again on the target instance(s).
    Enable { target: Target, program: String },
    /// Override the number of processes of `program` (Supvisors `update_numprocs`).
    SetNumprocs { program: String, numprocs: u32 },
    /// Move the Supvisors global state to `state`.
    SetSupvisorsState { state: SupvisorsState },
    /// Changes to the commander's jobs and pending failures, applied in order.
    Jobs(Vec<JobOp>),
    /// `instance` was cut off from the quorum and its fence stopped the runs `stopped`, when
    /// its replica counted `losses` ([`InstanceRecord::losses`]). If the majority has not
    /// declared its processes lost since (the partition healed before the fence bound; the
    /// instance may be SILENT with its loss pending), those processes are lost as on
    /// [`Command::InstanceLost`] (FATAL, a running failure each), so their strategies bring
    /// them back: without this, a cut shorter than the majority's wait would leave them
    /// stopped for good. A process the replica shows started again since its stopped run is
    /// left alone: it runs. Sent by the instance itself once contact returns; ignored when the
    /// count moved on (the loss was declared and handled, or this report was applied already).
    Fenced {
        instance: String,
        losses: u64,
        stopped: Vec<StoppedRun>,
    },
    /// Changes nothing (e.g. to commit a read barrier).
    Noop,
    /// Several commands in one log entry, applied in order as if each were an entry of its
    /// own: the leader's liveness decisions of one moment (the instances' tick refreshes
    /// above all) then cost one Raft round and one write on every instance, not one each.
    /// The result is the first rejection, else `Applied` if any part changed the state (the
    /// ids of jobs created in a batch are not returned: batch no `Jobs` whose ids matter).
    Batch(Vec<Command>),
    /// `command`, written as `stamp` says (when, on which instance, for which user): what
    /// the history records it with ([`ClusterState::apply_logged`]). The front ends stamp
    /// users' requests; the leader stamps whatever it commits unstamped.
    Stamped { stamp: Stamp, command: Box<Command> },
    /// A user's request that acts outside the replicated state (`update_numprocs` changes
    /// the local configuration, whose processes then come with their events), recorded in
    /// the history only, as `text`. Changes nothing.
    Record { text: String },
}

/// Why the state machine refused a command. The state is left untouched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Rejection {
    #[error("instance {instance}: illegal transition {from} -> {to}")]
    IllegalInstanceTransition {
        instance: String,
        from: InstanceState,
        to: InstanceState,
    },
    #[error("Supvisors state: illegal transition {from} -> {to}")]
    IllegalSupvisorsTransition {
        from: SupvisorsState,
        to: SupvisorsState,
    },
    #[error("instance {instance} is {state}: its reports are refused")]
    InstanceFenced {
        instance: String,
        state: InstanceState,
    },
}

/// Outcome of applying one log entry.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum CommandResult {
    /// The state changed.
    Applied,
    /// Nothing to change: a replayed batch, a stale tick, a same-state move, a no-op, or an
    /// entry that is not a command (blank, membership).
    #[default]
    Unchanged,
    /// Refused by the state machine's rules.
    Rejected(Rejection),
    /// A [`Command::Jobs`] created these jobs (in the order of its `Create` ops).
    JobsCreated(Vec<JobId>),
}

impl CommandResult {
    fn from_changed(changed: bool) -> Self {
        if changed {
            CommandResult::Applied
        } else {
            CommandResult::Unchanged
        }
    }
}

/// `spawnerr` given to the processes of an instance that was lost (Supvisors' wording).
pub fn lost_spawnerr(instance: &str) -> String {
    format!("Supervisor {instance} lost")
}

/// How many removals [`ClusterState::deleted`] keeps: enough for an event publisher that
/// reads after each applied entry (a removal of a whole big group is one entry), bounded so
/// the state does not grow with the history of a long-lived cluster.
pub const DELETED_KEPT: usize = 1024;

/// A process that left the state because its instance no longer has it (removeProcessGroup,
/// a reload that dropped its program, an `update_numprocs` decrease, or a restart with
/// another configuration). Supvisors reports this as the process state `DELETED` (statecode
/// -1) on its event interface; kept here for the event stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletedProcess {
    /// Position in the stream of removals: grows by one per removal, never reused.
    pub id: u64,
    pub instance: String,
    pub group: String,
    pub name: String,
    /// The batch that reported the removal.
    pub seq: BatchSeq,
}

impl DeletedProcess {
    pub fn namespec(&self) -> String {
        make_namespec(&self.group, &self.name)
    }
}

/// The replicated cluster state. Mutated only by [`ClusterState::apply`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ClusterState {
    supvisors_state: SupvisorsState,
    instances: BTreeMap<String, InstanceRecord>,
    numprocs: BTreeMap<String, u32>,
    jobs: Jobs,
    /// Supvisors' "redeploy mark": an instance became RUNNING after the cluster had formed
    /// (DEPLOYMENT, OPERATION or CONCILIATION), so the applications that could not be fully
    /// started may be repaired now. Cleared by the next Deployment job and by a new life.
    redeploy: bool,
    /// The instances that were RUNNING when a Deployment job of this life was created, with
    /// the incarnation of their daemon then (the first one seen for each). Once every one of
    /// them has restarted (a newer incarnation reported) or is lost, nothing of the deployment
    /// can still run: the life is over and the state goes back to INITIALIZATION, so that
    /// DEPLOYMENT runs again (see [`ClusterState::apply`]). Emptied by a new life.
    deployed: BTreeMap<String, u64>,
    /// The id the first job of the current life got (or will get): jobs below it belong to an
    /// earlier life. Set when the state enters INITIALIZATION.
    life_first_job: JobId,
    /// How many times the state went back to INITIALIZATION because the whole cluster had
    /// restarted (for diagnostics and tests).
    full_restarts: u64,
    /// The latest removals of processes, oldest first, at most [`DELETED_KEPT`].
    deleted: BTreeMap<u64, DeletedProcess>,
    next_deleted: u64,
    /// What happened, derived from the stamped entries (see [`crate::history`]).
    history: History,
}

impl ClusterState {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn supvisors_state(&self) -> SupvisorsState {
        self.supvisors_state
    }

    /// An instance joined since the last Deployment job (see the field's doc).
    pub fn redeploy_pending(&self) -> bool {
        self.redeploy
    }

    /// The id of the first job of the current life: a job with a lower id was created before
    /// the latest INITIALIZATION (by a previous life, possibly before a full restart).
    pub fn life_first_job(&self) -> JobId {
        self.life_first_job
    }

    /// The instances (and their incarnations) the deployments of this life ran on.
    pub fn deployed(&self) -> &BTreeMap<String, u64> {
        &self.deployed
    }

    /// How many full restarts of the cluster sent the state back to INITIALIZATION.
    pub fn full_restarts(&self) -> u64 {
        self.full_restarts
    }

    /// The removals of processes with an id of `after` or more, oldest first (an event
    /// publisher passes the id after the last one it sent). Only the last [`DELETED_KEPT`]
    /// are kept.
    pub fn deleted(&self, after: u64) -> impl Iterator<Item = &DeletedProcess> {
        self.deleted.range(after..).map(|(_, d)| d)
    }

    /// The id the next removal will get.
    pub fn next_deleted(&self) -> u64 {
        self.next_deleted
    }

    /// Whether this state predates the start of `instance`'s daemon as `incarnation`: it
    /// holds nothing that instance reported since (its first batch of a run is a full one).
    /// A daemon's replica is in that case right after a restart, until a leader has committed
    /// its first batch: everything it says about processes is what was true before the
    /// restart (see [`ClusterState::as_before_restart`]).
    pub fn predates(&self, instance: &str, incarnation: u64) -> bool {
        self.incarnation(instance).unwrap_or(0) < incarnation
    }

    /// What a restarted daemon may show of a state that [predates](ClusterState::predates)
    /// its start: the Supvisors state is INITIALIZATION (as a Supvisors instance that has just
    /// started, not yet synchronised), and no process is shown alive — those of the instances
    /// that restarted too are gone, and those of the others cannot be told apart — so every
    /// process that was alive is UNKNOWN, without pid. Everything else is kept.
    pub fn as_before_restart(&self) -> ClusterState {
        let mut view = self.clone();
        view.supvisors_state = SupvisorsState::Initialization;
        for record in view.instances.values_mut() {
            for process in record.processes.values_mut() {
                if !process.status.state.is_stopped() {
                    process.status.state = ProcessState::Unknown;
                    process.status.pid = 0;
                }
            }
        }
        view
    }

    /// The incarnation of `instance`'s daemon as far as the state knows (from its latest
    /// batch of process events); `None` before its first batch.
    pub fn incarnation(&self, instance: &str) -> Option<u64> {
        self.instances
            .get(instance)?
            .last_seq
            .map(|seq| seq.incarnation)
    }

    /// Every known instance, in identifier order.
    pub fn instances(&self) -> impl Iterator<Item = (&str, &InstanceRecord)> {
        self.instances.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn instance(&self, identifier: &str) -> Option<&InstanceRecord> {
        self.instances.get(identifier)
    }

    /// Latest status of `namespec` on `instance`.
    pub fn process(&self, instance: &str, namespec: &str) -> Option<&ProcessStatus> {
        self.instances
            .get(instance)?
            .processes
            .get(namespec)
            .map(|r| &r.status)
    }

    pub fn is_disabled(&self, instance: &str, program: &str) -> bool {
        self.instances
            .get(instance)
            .is_some_and(|i| i.disabled.contains(program))
    }

    /// The numprocs override of `program`, if one was set.
    pub fn numprocs(&self, program: &str) -> Option<u32> {
        self.numprocs.get(program).copied()
    }

    /// The commander's jobs and the failures it has not handled yet.
    pub fn jobs(&self) -> &Jobs {
        &self.jobs
    }

    /// All numprocs overrides, by program name.
    pub fn numprocs_overrides(&self) -> &BTreeMap<String, u32> {
        &self.numprocs
    }

    /// Applies one command. Deterministic: depends only on `self` and `cmd`. A rejected command
    /// leaves the state untouched.
    pub fn apply(&mut self, cmd: &Command) -> CommandResult {
        match cmd {
            Command::ProcessEvents {
                instance,
                seq,
                full,
                events,
            } => {
                let result = self.apply_process_events(instance, *seq, *full, events);
                self.end_life_after_full_restart();
                result
            }
            Command::InstanceState { instance, state } => {
                let result = self.apply_instance_state(instance, *state);
                self.end_life_after_full_restart();
                result
            }
            Command::ResetInstance { instance } => {
                let (created, record) = self.instance_entry(instance);
                let changed = created || record.state != InstanceState::Unknown;
                record.state = InstanceState::Unknown;
                record.pending_loss = false;
                CommandResult::from_changed(changed)
            }
            Command::InstanceLost { instance } => {
                let result = self.apply_instance_lost(instance);
                self.end_life_after_full_restart();
                result
            }
            Command::Tick {
                instance,
                load,
                stamp,
                incarnation,
            } => self.apply_tick(instance, *load, *stamp, *incarnation),
            Command::Disable { target, program } => self.set_disabled(target, program, true),
            Command::Enable { target, program } => self.set_disabled(target, program, false),
            Command::SetNumprocs { program, numprocs } => {
                let old = self.numprocs.insert(program.clone(), *numprocs);
                CommandResult::from_changed(old != Some(*numprocs))
            }
            Command::SetSupvisorsState { state } => {
                let from = self.supvisors_state;
                if from == *state {
                    CommandResult::Unchanged
                } else if from.can_become(*state) {
                    self.supvisors_state = *state;
                    if *state == SupvisorsState::Initialization {
                        self.begin_life();
                    }
                    CommandResult::Applied
                } else {
                    CommandResult::Rejected(Rejection::IllegalSupvisorsTransition {
                        from,
                        to: *state,
                    })
                }
            }
            Command::Jobs(ops) => {
                let (created, changed) = self.jobs.apply(ops);
                if ops.iter().any(|op| {
                    matches!(op, JobOp::Create(job) if matches!(job.kind, JobKind::Deployment { .. }))
                }) {
                    self.redeploy = false;
                    self.note_deployment();
                }
                if created.is_empty() {
                    CommandResult::from_changed(changed)
                } else {
                    CommandResult::JobsCreated(created)
                }
            }
            Command::Fenced {
                instance,
                losses,
                stopped,
            } => self.apply_fenced(instance, *losses, stopped),
            Command::Noop => CommandResult::Unchanged,
            Command::Batch(commands) => {
                let mut result = CommandResult::Unchanged;
                for command in commands {
                    match (self.apply(command), &result) {
                        (_, CommandResult::Rejected(_)) | (CommandResult::Unchanged, _) => {}
                        (rejected @ CommandResult::Rejected(_), _) => result = rejected,
                        (_, _) => result = CommandResult::Applied,
                    }
                }
                result
            }
            Command::Stamped { command, .. } => self.apply(command),
            Command::Record { .. } => CommandResult::Unchanged,
        }
    }

    /// The history: what the stamped log entries did (see [`crate::history`]).
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Applies the log entry at `at`, and records in the history what it did when it is
    /// stamped: a new leader at the first entry of its term, the user's command it carries,
    /// and the changes it made to the cluster's and the instances' states and to the jobs.
    /// Unstamped entries (written before stamps existed, or by tests) are applied alone.
    pub fn apply_logged(&mut self, cmd: &Command, at: LogPosition<'_>) -> CommandResult {
        let Command::Stamped { stamp, command } = cmd else {
            return self.apply(cmd);
        };
        self.history.note_term(at, stamp);
        let cluster_before = self.supvisors_state;
        let instances_before: Vec<(String, InstanceState, u64)> = self
            .instances
            .iter()
            .map(|(id, r)| (id.clone(), r.state, r.losses))
            .collect();
        let jobs_before: BTreeMap<JobId, bool> =
            self.jobs.all().map(|j| (j.id, j.is_finished())).collect();
        let result = self.apply(command);
        if matches!(result, CommandResult::Rejected(_)) {
            return result;
        }
        self.record_commands(command, stamp, at);
        self.record_changes(cluster_before, &instances_before, &jobs_before, stamp, at);
        result
    }

    /// The user's requests in `cmd` that are not jobs (those are recorded as created jobs).
    fn record_commands(&mut self, cmd: &Command, stamp: &Stamp, at: LogPosition<'_>) {
        let target_text = |target: &Target| match target {
            Target::All => "every instance".to_string(),
            Target::Instance(i) => i.clone(),
        };
        let text = match cmd {
            Command::Batch(commands) => {
                for command in commands {
                    self.record_commands(command, stamp, at);
                }
                return;
            }
            Command::Stamped { stamp, command } => return self.record_commands(command, stamp, at),
            Command::Disable { target, program } => {
                format!("disable {program} on {}", target_text(target))
            }
            Command::Enable { target, program } => {
                format!("enable {program} on {}", target_text(target))
            }
            Command::SetNumprocs { program, numprocs } => {
                format!("update_numprocs {program} {numprocs}")
            }
            Command::Record { text } => text.clone(),
            _ => return,
        };
        let (instance, user) = (stamp.instance.clone(), stamp.user.clone());
        self.history.push(
            at,
            stamp.at_ms,
            HistoryKind::Command,
            &instance,
            &user,
            text,
        );
    }

    /// What applying an entry changed: the cluster's state, each instance's state, the jobs
    /// created (a user's command, or a failure strategy of the leader) and the jobs ended.
    fn record_changes(
        &mut self,
        cluster_before: SupvisorsState,
        instances_before: &[(String, InstanceState, u64)],
        jobs_before: &BTreeMap<JobId, bool>,
        stamp: &Stamp,
        at: LogPosition<'_>,
    ) {
        let mut found = Vec::new();
        for (id, record) in &self.instances {
            let before = instances_before.iter().find(|(i, _, _)| i == id);
            if before.map(|(_, s, _)| *s) != Some(record.state) {
                let text = format!("instance {id}: {}", record.state.name());
                found.push((HistoryKind::Instance, id.clone(), String::new(), text));
            }
            // The moment its processes were declared lost (the fence bound after SILENT, or a
            // fence report): their failure strategies act from here.
            if before.is_some_and(|(_, _, losses)| record.losses > *losses) {
                let text = format!("instance {id}: its processes declared lost");
                found.push((HistoryKind::Instance, id.clone(), String::new(), text));
            }
        }
        if self.supvisors_state != cluster_before {
            let text = format!("cluster: {}", self.supvisors_state.name());
            found.push((
                HistoryKind::Cluster,
                at.leader.to_string(),
                String::new(),
                text,
            ));
        }
        for job in self.jobs.all() {
            match jobs_before.get(&job.id) {
                None => {
                    // A job no instance asked for is the leader's decision: a strategy (a
                    // running failure, an automatic conciliation) or the cluster's own
                    // sequence (DEPLOYMENT).
                    let (kind, instance, user) = match (&job.kind, job.requested_by.as_str()) {
                        (JobKind::RunningFailure { .. } | JobKind::Conciliate { .. }, "") => {
                            (HistoryKind::Strategy, at.leader.to_string(), String::new())
                        }
                        (_, "") => (HistoryKind::Cluster, at.leader.to_string(), String::new()),
                        (_, asked) => (HistoryKind::Command, asked.to_string(), stamp.user.clone()),
                    };
                    found.push((kind, instance, user, crate::history::describe_job(job)));
                }
                Some(false) if job.is_finished() => {
                    let outcome = job.outcome.as_ref();
                    let ended = match outcome {
                        Some(o) if o.ok => "done".to_string(),
                        Some(o) => format!("failed: {}", o.message),
                        None => continue,
                    };
                    let text = format!(
                        "job {} ({}) {ended}",
                        job.id,
                        crate::history::kind_text(&job.kind)
                    );
                    found.push((HistoryKind::Job, at.leader.to_string(), String::new(), text));
                }
                Some(_) => {}
            }
        }
        for (kind, instance, user, text) in found {
            self.history
                .push(at, stamp.at_ms, kind, &instance, &user, text);
        }
    }

    fn apply_fenced(
        &mut self,
        instance: &str,
        losses: u64,
        stopped: &[StoppedRun],
    ) -> CommandResult {
        let Some(record) = self.instances.get_mut(instance) else {
            return CommandResult::Unchanged;
        };
        // A SILENT instance whose loss is pending may report: its processes were not
        // declared lost, and those it stopped can start elsewhere at once.
        let declared_lost = record.state.is_inactive() && !record.pending_loss;
        if record.losses != losses || declared_lost {
            return CommandResult::Unchanged;
        }
        record.losses += 1;
        let spawnerr = lost_spawnerr(instance);
        let mut lost = Vec::new();
        for run in stopped {
            let namespec = &run.namespec;
            let Some(process) = record.processes.get_mut(namespec) else {
                continue;
            };
            // Started again since the fence stopped it (seen in a packet-loss chaos run: the
            // report marked the new run FATAL, the instance kept it running, and the start
            // the strategy ordered then found it already started: a FATAL nowhere for good).
            if run.superseded_by(&process.status) {
                continue;
            }
            // Its stop may not be reported yet: not running, whatever the replica says.
            if !process.status.state.is_stopped() {
                process.status.state = ProcessState::Fatal;
                process.status.spawnerr = spawnerr.clone();
                process.status.pid = 0;
            }
            lost.push(namespec.clone());
        }
        for namespec in lost {
            self.jobs.push_failure(
                instance,
                &namespec,
                FailureKind::InstanceLost,
                ProcessState::Fatal,
            );
        }
        CommandResult::Applied
    }

    /// A new life begins (INITIALIZATION): the deployments, the redeploy mark and the jobs of
    /// the previous one are history.
    fn begin_life(&mut self) {
        self.redeploy = false;
        self.deployed.clear();
        self.life_first_job = self.jobs.next_job;
        // No running failure strategy applies to what happened before (Supvisors drops them
        // in INITIALIZATION too): e.g. the processes of the instances lost in a full restart.
        self.jobs.failures.clear();
    }

    /// A Deployment job was created: the RUNNING instances take part in this life's
    /// deployment with their current incarnation (an instance already recorded keeps the
    /// incarnation it had at the first deployment, so that its restart since is not
    /// forgotten by a later repair). Not in INITIALIZATION, whose empty marker job deploys
    /// nothing.
    fn note_deployment(&mut self) {
        if self.supvisors_state == SupvisorsState::Initialization {
            return;
        }
        for (identifier, record) in &self.instances {
            if record.state == InstanceState::Running {
                let incarnation = record.last_seq.map_or(0, |seq| seq.incarnation);
                self.deployed
                    .entry(identifier.clone())
                    .or_insert(incarnation);
            }
        }
    }

    /// Whether every instance of this life's deployments has restarted since (a newer
    /// incarnation) or is lost, and at least one has restarted: no process the deployment
    /// started can still run, so stored state must not stand in for it.
    fn whole_cluster_restarted(&self) -> bool {
        if !matches!(
            self.supvisors_state,
            SupvisorsState::Deployment | SupvisorsState::Operation | SupvisorsState::Conciliation
        ) || self.deployed.is_empty()
        {
            return false;
        }
        let mut restarted = false;
        for (identifier, incarnation) in &self.deployed {
            let Some(record) = self.instances.get(identifier) else {
                continue;
            };
            if record
                .last_seq
                .is_some_and(|seq| seq.incarnation > *incarnation)
            {
                restarted = true;
            } else if !record.state.is_inactive() || record.pending_loss {
                return false;
            }
        }
        restarted
    }

    /// After a full restart of the cluster (see [`ClusterState::whole_cluster_restarted`]),
    /// the Supvisors state goes back to INITIALIZATION, as a Supvisors cluster started again
    /// does: the leader then runs DEPLOYMENT again (the auto-started applications in their
    /// sequences; what runs already is skipped).
    fn end_life_after_full_restart(&mut self) {
        if self.whole_cluster_restarted() {
            self.supvisors_state = SupvisorsState::Initialization;
            self.full_restarts += 1;
            self.begin_life();
        }
    }

    fn push_deleted(&mut self, instance: &str, status: &ProcessStatus, seq: BatchSeq) {
        let id = self.next_deleted;
        self.next_deleted += 1;
        self.deleted.insert(
            id,
            DeletedProcess {
                id,
                instance: instance.to_string(),
                group: status.group.clone(),
                name: status.name.clone(),
                seq,
            },
        );
        while self.deleted.len() > DELETED_KEPT {
            self.deleted.pop_first();
        }
    }

    /// The record of `identifier`, created in UNKNOWN if absent; `true` when it was created.
    fn instance_entry(&mut self, identifier: &str) -> (bool, &mut InstanceRecord) {
        let created = !self.instances.contains_key(identifier);
        let record = self.instances.entry(identifier.to_string()).or_default();
        (created, record)
    }

    fn fenced(&self, instance: &str) -> Option<Rejection> {
        let state = self.instances.get(instance)?.state;
        state.is_fenced().then(|| Rejection::InstanceFenced {
            instance: instance.to_string(),
            state,
        })
    }

    fn apply_process_events(
        &mut self,
        instance: &str,
        seq: BatchSeq,
        full: bool,
        events: &[ProcessStatus],
    ) -> CommandResult {
        if let Some(rejection) = self.fenced(instance) {
            return CommandResult::Rejected(rejection);
        }
        // Last status of each namespec in the batch: a batch is one point in time.
        let mut latest: BTreeMap<String, &ProcessStatus> = BTreeMap::new();
        for event in events {
            latest.insert(event.namespec(), event);
        }
        let mut crashes = Vec::new();
        let (mut changed, record) = self.instance_entry(instance);
        let new_run = record
            .last_seq
            .is_none_or(|last| seq.incarnation > last.incarnation);
        // The processes this batch says are gone (full) or cannot be running (a new run).
        let mut gone = Vec::new();
        if full || new_run {
            for (namespec, process) in record.processes.iter_mut() {
                if latest.contains_key(namespec) || process.seq >= seq {
                    continue;
                }
                if full {
                    gone.push(namespec.clone());
                } else if process.seq.incarnation < seq.incarnation
                    && !process.status.state.is_stopped()
                {
                    process.status.state = ProcessState::Unknown;
                    process.status.pid = 0;
                    changed = true;
                }
            }
        }
        let mut removed = Vec::new();
        for namespec in gone {
            if let Some(process) = record.processes.remove(&namespec) {
                removed.push(process.status);
                changed = true;
            }
        }
        for (namespec, status) in latest {
            let previous = record.processes.get(&namespec);
            let newer = previous.is_none_or(|r| seq > r.seq);
            if newer {
                if previous.is_some_and(|p| crashed(&p.status, status)) {
                    crashes.push((namespec.clone(), status.state));
                }
                record.processes.insert(
                    namespec,
                    ProcessRecord {
                        status: status.clone(),
                        seq,
                    },
                );
                changed = true;
            }
        }
        if record.last_seq.is_none_or(|last| seq > last) {
            record.last_seq = Some(seq);
            changed = true;
        }
        for (namespec, state) in crashes {
            self.jobs
                .push_failure(instance, &namespec, FailureKind::Crash, state);
        }
        for status in removed {
            self.push_deleted(instance, &status, seq);
        }
        CommandResult::from_changed(changed)
    }

    fn apply_instance_state(&mut self, instance: &str, state: InstanceState) -> CommandResult {
        let from = self
            .instances
            .get(instance)
            .map_or(InstanceState::Unknown, |r| r.state);
        if from == state {
            let (created, _) = self.instance_entry(instance);
            return CommandResult::from_changed(created);
        }
        if !from.can_become(state) {
            return CommandResult::Rejected(Rejection::IllegalInstanceTransition {
                instance: instance.to_string(),
                from,
                to: state,
            });
        }
        let formed = matches!(
            self.supvisors_state,
            SupvisorsState::Deployment | SupvisorsState::Operation | SupvisorsState::Conciliation
        );
        if state == InstanceState::Running && formed {
            self.redeploy = true;
        }
        let (_, record) = self.instance_entry(instance);
        record.state = state;
        match state {
            // Lost for the moment: its processes wait for `InstanceLost`.
            InstanceState::Silent if !from.is_inactive() => record.pending_loss = true,
            // Fenced by decision of the cluster: its processes are lost now.
            InstanceState::Isolating | InstanceState::Isolated
                if !from.is_inactive() || record.pending_loss =>
            {
                record.pending_loss = false;
                self.declare_lost(instance);
            }
            InstanceState::Checking | InstanceState::Running | InstanceState::Unknown => {
                record.pending_loss = false;
            }
            _ => {}
        }
        CommandResult::Applied
    }

    fn apply_instance_lost(&mut self, instance: &str) -> CommandResult {
        let Some(record) = self.instances.get_mut(instance) else {
            return CommandResult::Unchanged;
        };
        if record.state != InstanceState::Silent || !record.pending_loss {
            return CommandResult::Unchanged;
        }
        record.pending_loss = false;
        self.declare_lost(instance);
        CommandResult::Applied
    }

    /// One more loss of `instance`: each of its running-like processes becomes FATAL with a
    /// running failure.
    fn declare_lost(&mut self, instance: &str) {
        let (_, record) = self.instance_entry(instance);
        record.losses += 1;
        for namespec in mark_processes_lost(instance, record) {
            self.jobs.push_failure(
                instance,
                &namespec,
                FailureKind::InstanceLost,
                ProcessState::Fatal,
            );
        }
    }

    /// `instance` is SILENT and its processes were not declared lost yet
    /// ([`InstanceRecord::pending_loss`]).
    pub fn loss_pending(&self, instance: &str) -> bool {
        self.instances
            .get(instance)
            .is_some_and(|r| r.state == InstanceState::Silent && r.pending_loss)
    }

    fn apply_tick(
        &mut self,
        instance: &str,
        load: u32,
        stamp: TickStamp,
        incarnation: u64,
    ) -> CommandResult {
        if let Some(rejection) = self.fenced(instance) {
            return CommandResult::Rejected(rejection);
        }
        let (created, record) = self.instance_entry(instance);
        if record
            .last_tick
            .is_some_and(|last| stamp.received_at <= last.received_at)
        {
            return CommandResult::from_changed(created);
        }
        record.last_tick = Some(stamp);
        record.load = load;
        for process in record.processes.values_mut() {
            if process.seq.incarnation < incarnation && !process.status.state.is_stopped() {
                process.status.state = ProcessState::Unknown;
                process.status.pid = 0;
            }
        }
        CommandResult::Applied
    }

    fn set_disabled(&mut self, target: &Target, program: &str, disabled: bool) -> CommandResult {
        let mut changed = false;
        let mut update = |record: &mut InstanceRecord| {
            changed |= if disabled {
                record.disabled.insert(program.to_string())
            } else {
                record.disabled.remove(program)
            };
        };
        match target {
            Target::All => self.instances.values_mut().for_each(&mut update),
            Target::Instance(identifier) => {
                let (created, record) = self.instance_entry(identifier);
                update(record);
                changed |= created;
            }
        }
        CommandResult::from_changed(changed)
    }
}

/// Supvisors' reaction to losing an instance: every process that had a live child there is
/// marked FATAL with spawnerr "Supervisor <id> lost" (the rest of its info is kept for display).
/// The batch sequence is kept, so the instance's next real report supersedes this. Returns the
/// namespecs of the processes it marked.
fn mark_processes_lost(instance: &str, record: &mut InstanceRecord) -> Vec<String> {
    let mut lost = Vec::new();
    for (namespec, process) in record.processes.iter_mut() {
        if !process.status.state.is_stopped() {
            process.status.state = ProcessState::Fatal;
            process.status.spawnerr = lost_spawnerr(instance);
            process.status.pid = 0;
            lost.push(namespec.clone());
        }
    }
    lost
}

/// A crash in Supvisors' sense: from a running-like state (STARTING, RUNNING, BACKOFF) to
/// FATAL or to an EXITED whose code is not in `exitcodes`. A stop (STOPPING, STOPPED) is not.
fn crashed(before: &ProcessStatus, after: &ProcessStatus) -> bool {
    before.state.is_running()
        && (after.state == ProcessState::Fatal
            || (after.state == ProcessState::Exited && !after.expected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;
    use crate::testkit::{events, status, stopped_run};

    fn full_sync(
        instance: &str,
        incarnation: u64,
        counter: u64,
        ev: Vec<ProcessStatus>,
    ) -> Command {
        Command::ProcessEvents {
            instance: instance.into(),
            seq: BatchSeq::new(incarnation, counter),
            full: true,
            events: ev,
        }
    }

    fn script() -> Vec<Command> {
        vec![
            Command::InstanceState {
                instance: "a".into(),
                state: InstanceState::Unknown,
            },
            Command::InstanceState {
                instance: "b".into(),
                state: InstanceState::Checking,
            },
            Command::InstanceState {
                instance: "b".into(),
                state: InstanceState::Running,
            },
            Command::SetSupvisorsState {
                state: SupvisorsState::Initialization,
            },
            Command::Tick {
                instance: "b".into(),
                load: 12,
                stamp: TickStamp {
                    counter: 7,
                    remote_at: 990,
                    received_at: 1_000,
                },
                incarnation: 0,
            },
            events(
                "b",
                1,
                1,
                vec![
                    status("web", "web", ProcessState::Starting, 10),
                    status("db", "db_00", ProcessState::Running, 11),
                ],
            ),
            events(
                "b",
                1,
                2,
                vec![status("web", "web", ProcessState::Running, 10)],
            ),
            Command::Disable {
                target: Target::All,
                program: "db".into(),
            },
            Command::Enable {
                target: Target::Instance("a".into()),
                program: "db".into(),
            },
            Command::SetNumprocs {
                program: "db".into(),
                numprocs: 3,
            },
            Command::SetSupvisorsState {
                state: SupvisorsState::Deployment,
            },
            Command::Noop,
            // b's deployment, then a full sync that drops db_00 (a removal), then b's
            // restart: the only deployed instance restarted, so a new life begins.
            Command::Jobs(vec![JobOp::Create(crate::jobs::Job::new(
                JobKind::Deployment { forced: false },
                "",
                5,
            ))]),
            full_sync(
                "b",
                1,
                3,
                vec![status("web", "web", ProcessState::Running, 10)],
            ),
            // b's restarted daemon ticks before its first batch: web is no longer RUNNING.
            Command::Tick {
                instance: "b".into(),
                load: 0,
                stamp: TickStamp {
                    counter: 1,
                    remote_at: 2_000,
                    received_at: 2_001,
                },
                incarnation: 2,
            },
            full_sync(
                "b",
                2,
                0,
                vec![status("web", "web", ProcessState::Stopped, 0)],
            ),
            Command::InstanceState {
                instance: "b".into(),
                state: InstanceState::Silent,
            },
        ]
    }

    /// Moves instance `a` to `state`.
    fn a_to(state: InstanceState) -> Command {
        Command::InstanceState {
            instance: "a".into(),
            state,
        }
    }

    #[test]
    fn a_batch_applies_its_commands_in_order_and_reports_the_first_rejection() {
        let mut s = ClusterState::new();
        let to = a_to;
        let batch = Command::Batch(vec![
            to(InstanceState::Checking),
            to(InstanceState::Running),
        ]);
        assert_eq!(s.apply(&batch), CommandResult::Applied);
        assert_eq!(
            s.instance("a").map(|r| r.state),
            Some(InstanceState::Running)
        );
        // Replayed: nothing changes.
        assert_eq!(
            s.apply(&Command::Batch(vec![
                to(InstanceState::Running),
                Command::Noop
            ])),
            CommandResult::Unchanged
        );
        // A refused part leaves the others applied, as separate entries would.
        let refused = s.apply(&Command::Batch(vec![
            to(InstanceState::Unknown),
            Command::SetNumprocs {
                program: "p".into(),
                numprocs: 2,
            },
        ]));
        assert!(matches!(refused, CommandResult::Rejected(_)), "{refused:?}");
        assert_eq!(s.numprocs.get("p"), Some(&2));
    }

    #[test]
    fn the_determinism_script_removes_and_restarts() {
        let mut s = ClusterState::new();
        for cmd in script() {
            s.apply(&cmd);
        }
        assert!(s.process("b", "db:db_00").is_none());
        assert_eq!(
            s.deleted(0).map(|d| d.namespec()).collect::<Vec<_>>(),
            ["db:db_00"]
        );
        assert_eq!(s.full_restarts(), 1);
        assert_eq!(s.supvisors_state(), SupvisorsState::Initialization);
        // Up to the restarted daemon's tick: web RUNNING; after it, UNKNOWN until the batch.
        let mut s = ClusterState::new();
        let script = script();
        let tick_at = script
            .iter()
            .position(|c| matches!(c, Command::Tick { incarnation: 2, .. }))
            .unwrap();
        for cmd in &script[..tick_at] {
            s.apply(cmd);
        }
        assert_eq!(s.process("b", "web").unwrap().state, ProcessState::Running);
        s.apply(&script[tick_at]);
        let web = s.process("b", "web").unwrap();
        assert_eq!((web.state, web.pid), (ProcessState::Unknown, 0));
    }

    fn to_running(s: &mut ClusterState, instance: &str) {
        for state in [InstanceState::Checking, InstanceState::Running] {
            s.apply(&Command::InstanceState {
                instance: instance.into(),
                state,
            });
        }
    }

    fn deploy(s: &mut ClusterState) -> CommandResult {
        s.apply(&Command::Jobs(vec![JobOp::Create(crate::jobs::Job::new(
            JobKind::Deployment { forced: false },
            "",
            5,
        ))]))
    }

    /// a, b, c RUNNING (incarnation 1) with p running on each, deployed, in OPERATION.
    fn deployed_cluster() -> ClusterState {
        let mut s = ClusterState::new();
        for id in ["a", "b", "c"] {
            s.apply(&full_sync(
                id,
                1,
                0,
                vec![status("app", "p", ProcessState::Running, 7)],
            ));
            to_running(&mut s, id);
        }
        for state in [SupvisorsState::Initialization, SupvisorsState::Deployment] {
            s.apply(&Command::SetSupvisorsState { state });
        }
        deploy(&mut s);
        s.apply(&Command::SetSupvisorsState {
            state: SupvisorsState::Operation,
        });
        s
    }

    #[test]
    fn a_full_sync_removes_the_processes_it_does_not_list_and_records_them() {
        let mut s = ClusterState::new();
        s.apply(&events(
            "x",
            1,
            1,
            vec![
                status("g", "p", ProcessState::Running, 5),
                status("g", "q", ProcessState::Stopped, 0),
                status("h", "h", ProcessState::Stopped, 0),
            ],
        ));
        // q changed after the full snapshot was taken: a newer batch, committed first.
        s.apply(&events(
            "x",
            1,
            3,
            vec![status("g", "q", ProcessState::Running, 6)],
        ));
        let r = s.apply(&full_sync(
            "x",
            1,
            2,
            vec![status("g", "p", ProcessState::Running, 5)],
        ));
        assert_eq!(r, CommandResult::Applied);
        assert!(s.process("x", "h").is_none(), "removed");
        assert_eq!(s.process("x", "g:q").unwrap().pid, 6, "newer than the sync");
        assert_eq!(s.process("x", "g:p").unwrap().pid, 5);
        let deleted: Vec<_> = s.deleted(0).cloned().collect();
        assert_eq!(deleted.len(), 1);
        assert_eq!(
            (
                deleted[0].id,
                deleted[0].instance.as_str(),
                deleted[0].namespec()
            ),
            (0, "x", "h".to_string())
        );
        assert_eq!(deleted[0].seq, BatchSeq::new(1, 2));
        assert_eq!(s.next_deleted(), 1);
        // A replay removes nothing more.
        let before = s.clone();
        s.apply(&full_sync("x", 1, 2, vec![]));
        assert_eq!(s, before);
        // Only the latest removals are kept, ids keep growing.
        for n in 0..(DELETED_KEPT as u64 + 5) {
            let name = format!("t{n}");
            s.apply(&events(
                "y",
                1,
                2 * n + 1,
                vec![status(&name, &name, ProcessState::Stopped, 0)],
            ));
            s.apply(&full_sync("y", 1, 2 * n + 2, vec![]));
        }
        assert_eq!(s.deleted(0).count(), DELETED_KEPT);
        assert_eq!(s.next_deleted(), DELETED_KEPT as u64 + 6);
        assert_eq!(s.deleted(s.next_deleted() - 1).count(), 1);
    }

    #[test]
    fn a_state_from_before_a_restart_shows_no_process_alive() {
        let s = deployed_cluster();
        assert!(!s.predates("a", 1));
        assert!(s.predates("a", 2), "a restarted as incarnation 2");
        assert!(s.predates("z", 1), "nothing from z at all");
        let view = s.as_before_restart();
        assert_eq!(view.supvisors_state(), SupvisorsState::Initialization);
        for id in ["a", "b", "c"] {
            let p = view.process(id, "app:p").unwrap();
            assert_eq!((p.state, p.pid), (ProcessState::Unknown, 0));
            assert_eq!(view.instance(id).unwrap().state, InstanceState::Running);
        }
        let mut s = s;
        s.apply(&full_sync(
            "a",
            2,
            0,
            vec![status("app", "p", ProcessState::Stopped, 0)],
        ));
        assert!(!s.predates("a", 2));
    }

    #[test]
    fn a_new_run_that_does_not_list_an_old_process_leaves_it_unknown() {
        let mut s = ClusterState::new();
        s.apply(&events(
            "x",
            1,
            4,
            vec![
                status("g", "p", ProcessState::Running, 5),
                status("g", "q", ProcessState::Running, 6),
                status("g", "r", ProcessState::Exited, 0),
            ],
        ));
        s.apply(&events(
            "x",
            2,
            0,
            vec![status("g", "p", ProcessState::Stopped, 0)],
        ));
        let q = s.process("x", "g:q").unwrap();
        assert_eq!((q.state, q.pid), (ProcessState::Unknown, 0));
        assert_eq!(s.process("x", "g:p").unwrap().state, ProcessState::Stopped);
        assert_eq!(
            s.process("x", "g:r").unwrap().state,
            ProcessState::Exited,
            "what had no child keeps its last exit"
        );
    }

    #[test]
    fn a_full_restart_of_every_deployed_instance_begins_a_new_life() {
        let mut s = deployed_cluster();
        assert_eq!(
            s.deployed()
                .iter()
                .map(|(k, v)| (k.as_str(), *v))
                .collect::<Vec<_>>(),
            [("a", 1), ("b", 1), ("c", 1)]
        );
        // a and b restart (their processes died with them); c still runs: same life.
        for id in ["a", "b"] {
            s.apply(&full_sync(
                id,
                2,
                0,
                vec![status("app", "p", ProcessState::Stopped, 0)],
            ));
        }
        assert_eq!(s.supvisors_state(), SupvisorsState::Operation);
        assert_eq!(s.full_restarts(), 0);
        // c restarts too: nothing of the deployment runs any more.
        let next_job = s.jobs().next_job;
        s.apply(&full_sync(
            "c",
            2,
            0,
            vec![status("app", "p", ProcessState::Stopped, 0)],
        ));
        assert_eq!(s.supvisors_state(), SupvisorsState::Initialization);
        assert_eq!(s.full_restarts(), 1);
        assert!(s.deployed().is_empty());
        assert_eq!(s.life_first_job(), next_job);
        // Once: further batches of the new run change nothing about the life.
        s.apply(&events(
            "c",
            2,
            1,
            vec![status("app", "p", ProcessState::Running, 9)],
        ));
        assert_eq!(s.full_restarts(), 1);
        // The next DEPLOYMENT records the new incarnations.
        s.apply(&Command::SetSupvisorsState {
            state: SupvisorsState::Deployment,
        });
        deploy(&mut s);
        assert_eq!(s.deployed().get("c"), Some(&2));
    }

    #[test]
    fn a_lost_instance_counts_as_gone_and_the_marker_job_deploys_nothing() {
        let mut s = deployed_cluster();
        // a was stopped first and declared SILENT, then lost; b and c restart.
        s.apply(&Command::InstanceState {
            instance: "a".into(),
            state: InstanceState::Silent,
        });
        s.apply(&Command::InstanceLost {
            instance: "a".into(),
        });
        s.apply(&full_sync("b", 2, 0, vec![]));
        assert_eq!(s.supvisors_state(), SupvisorsState::Operation);
        // A repair deployment does not make the restarted b count as deployed anew.
        deploy(&mut s);
        assert_eq!(s.deployed().get("b"), Some(&1));
        s.apply(&full_sync("c", 2, 0, vec![]));
        assert_eq!(s.supvisors_state(), SupvisorsState::Initialization);
        // The marker job of INITIALIZATION records nobody.
        deploy(&mut s);
        assert!(s.deployed().is_empty());
        // b and c lost, a still runs: the life goes on.
        let mut s = deployed_cluster();
        for id in ["b", "c"] {
            s.apply(&Command::InstanceState {
                instance: id.into(),
                state: InstanceState::Silent,
            });
        }
        assert_eq!(s.supvisors_state(), SupvisorsState::Operation);
        // ... and the last one's loss ends the life once the others restarted.
        s.apply(&full_sync("b", 2, 0, vec![]));
        s.apply(&full_sync("c", 2, 0, vec![]));
        assert_eq!(
            s.supvisors_state(),
            SupvisorsState::Operation,
            "a still runs"
        );
        s.apply(&Command::InstanceState {
            instance: "a".into(),
            state: InstanceState::Silent,
        });
        assert_eq!(
            s.supvisors_state(),
            SupvisorsState::Operation,
            "SILENT, its loss pending: a may still run what it deployed"
        );
        s.apply(&Command::InstanceLost {
            instance: "a".into(),
        });
        assert_eq!(s.supvisors_state(), SupvisorsState::Initialization);
        assert!(
            s.jobs().failures().next().is_none(),
            "a's lost processes belong to the old life"
        );
    }

    #[test]
    fn same_log_gives_same_state_and_same_snapshot_bytes() {
        let (mut s1, mut s2) = (ClusterState::new(), ClusterState::new());
        let r1: Vec<_> = script().iter().map(|c| s1.apply(c)).collect();
        let r2: Vec<_> = script().iter().map(|c| s2.apply(c)).collect();
        assert_eq!(r1, r2);
        assert_eq!(s1, s2);
        let (b1, b2) = (codec::encode(&s1).unwrap(), codec::encode(&s2).unwrap());
        assert_eq!(b1, b2);
        // And the snapshot decodes back to the same state.
        assert_eq!(codec::decode::<ClusterState>(&b1).unwrap(), s1);
        // Commands travel through bincode too (log entries).
        for cmd in script() {
            let bytes = codec::encode(&cmd).unwrap();
            assert_eq!(codec::decode::<Command>(&bytes).unwrap(), cmd);
        }
    }

    #[test]
    fn replayed_or_older_batches_change_nothing() {
        let mut s = ClusterState::new();
        let b1 = events("x", 1, 1, vec![status("g", "p", ProcessState::Starting, 5)]);
        let b2 = events("x", 1, 2, vec![status("g", "p", ProcessState::Running, 5)]);
        assert_eq!(s.apply(&b1), CommandResult::Applied);
        assert_eq!(s.apply(&b2), CommandResult::Applied);
        let before = s.clone();
        assert_eq!(s.apply(&b2), CommandResult::Unchanged);
        assert_eq!(s.apply(&b1), CommandResult::Unchanged);
        assert_eq!(s, before);
        assert_eq!(s.process("x", "g:p").unwrap().state, ProcessState::Running);
    }

    #[test]
    fn reordered_batches_keep_the_newest_status_of_each_process() {
        // Batch 2 (p running) is committed before batch 1 (p starting, q running).
        let mut s = ClusterState::new();
        s.apply(&events(
            "x",
            1,
            2,
            vec![status("g", "p", ProcessState::Running, 5)],
        ));
        let r = s.apply(&events(
            "x",
            1,
            1,
            vec![
                status("g", "p", ProcessState::Starting, 5),
                status("g", "q", ProcessState::Running, 6),
            ],
        ));
        assert_eq!(r, CommandResult::Applied);
        assert_eq!(s.process("x", "g:p").unwrap().state, ProcessState::Running);
        assert_eq!(s.process("x", "g:q").unwrap().state, ProcessState::Running);
        assert_eq!(s.instance("x").unwrap().last_seq, Some(BatchSeq::new(1, 2)));
    }

    #[test]
    fn last_status_of_a_namespec_in_a_batch_wins() {
        let mut s = ClusterState::new();
        s.apply(&events(
            "x",
            1,
            1,
            vec![
                status("p", "p", ProcessState::Starting, 5),
                status("p", "p", ProcessState::Running, 5),
            ],
        ));
        assert_eq!(s.process("x", "p").unwrap().state, ProcessState::Running);
    }

    #[test]
    fn a_new_incarnation_supersedes_higher_counters_of_the_old_one() {
        let mut s = ClusterState::new();
        s.apply(&events(
            "x",
            1,
            900,
            vec![status("p", "p", ProcessState::Running, 5)],
        ));
        s.apply(&events(
            "x",
            2,
            0,
            vec![status("p", "p", ProcessState::Stopped, 0)],
        ));
        assert_eq!(s.process("x", "p").unwrap().state, ProcessState::Stopped);
        // A late batch of the old incarnation is ignored.
        s.apply(&events(
            "x",
            1,
            901,
            vec![status("p", "p", ProcessState::Running, 5)],
        ));
        assert_eq!(s.process("x", "p").unwrap().state, ProcessState::Stopped);
    }

    #[test]
    fn instance_transitions_follow_supvisors_and_illegal_ones_change_nothing() {
        let mut s = ClusterState::new();
        let to = a_to;
        assert_eq!(s.apply(&to(InstanceState::Unknown)), CommandResult::Applied);
        assert_eq!(
            s.apply(&to(InstanceState::Unknown)),
            CommandResult::Unchanged
        );
        let before = s.clone();
        assert!(matches!(
            s.apply(&to(InstanceState::Running)),
            CommandResult::Rejected(Rejection::IllegalInstanceTransition { .. })
        ));
        assert_eq!(s, before);
        for state in [
            InstanceState::Checking,
            InstanceState::Running,
            InstanceState::Isolating,
            InstanceState::Isolated,
        ] {
            assert_eq!(s.apply(&to(state)), CommandResult::Applied, "{state}");
        }
        assert!(matches!(
            s.apply(&to(InstanceState::Checking)),
            CommandResult::Rejected(_)
        ));
        // An isolated instance's reports are refused, until it is reset.
        let batch = events("a", 1, 1, vec![status("p", "p", ProcessState::Running, 5)]);
        assert!(matches!(
            s.apply(&batch),
            CommandResult::Rejected(Rejection::InstanceFenced { .. })
        ));
        s.apply(&Command::ResetInstance {
            instance: "a".into(),
        });
        assert_eq!(s.instance("a").unwrap().state, InstanceState::Unknown);
        assert_eq!(s.apply(&batch), CommandResult::Applied);
    }

    #[test]
    fn losing_an_instance_marks_its_live_processes_fatal() {
        let mut s = ClusterState::new();
        s.apply(&Command::InstanceState {
            instance: "b".into(),
            state: InstanceState::Checking,
        });
        s.apply(&events(
            "b",
            1,
            1,
            vec![
                status("p", "p", ProcessState::Running, 5),
                status("q", "q", ProcessState::Exited, 0),
            ],
        ));
        s.apply(&Command::InstanceState {
            instance: "b".into(),
            state: InstanceState::Silent,
        });
        // SILENT alone: b may be cut off and still running p (its loss is pending).
        assert!(s.loss_pending("b"));
        assert_eq!(s.process("b", "p").unwrap().state, ProcessState::Running);
        assert_eq!(s.jobs().failures().count(), 0);
        assert_eq!(s.instance("b").unwrap().losses, 0);
        let lost = Command::InstanceLost {
            instance: "b".into(),
        };
        assert_eq!(s.apply(&lost), CommandResult::Applied);
        assert!(!s.loss_pending("b"));
        assert_eq!(s.instance("b").unwrap().losses, 1);
        assert_eq!(s.jobs().failures().count(), 1);
        assert_eq!(s.apply(&lost), CommandResult::Unchanged, "declared once");
        let p = s.process("b", "p").unwrap();
        assert_eq!(p.state, ProcessState::Fatal);
        assert_eq!(p.spawnerr, "Supervisor b lost");
        assert_eq!(p.pid, 0);
        assert_eq!(s.process("b", "q").unwrap().state, ProcessState::Exited);
        // The instance's next real report supersedes the forced state.
        s.apply(&events(
            "b",
            1,
            2,
            vec![status("p", "p", ProcessState::Running, 7)],
        ));
        assert_eq!(s.process("b", "p").unwrap().pid, 7);
    }

    #[test]
    fn a_fence_report_loses_its_processes_unless_a_loss_was_declared_since() {
        let mut s = ClusterState::new();
        to_running(&mut s, "b");
        s.apply(&events(
            "b",
            1,
            1,
            vec![
                status("g", "p", ProcessState::Running, 5),
                status("g", "q", ProcessState::Stopped, 0),
                status("g", "r", ProcessState::Running, 6),
            ],
        ));
        assert_eq!(s.instance("b").unwrap().losses, 0);
        let fenced = |losses| Command::Fenced {
            instance: "b".into(),
            losses,
            stopped: vec![
                stopped_run("g:p", 5),
                stopped_run("g:q", 0),
                stopped_run("g:nope", 0),
            ],
        };
        // A cut shorter than the majority's wait: never declared lost, so the report counts.
        assert_eq!(s.apply(&fenced(0)), CommandResult::Applied);
        let p = s.process("b", "g:p").unwrap();
        assert_eq!((p.state, p.pid), (ProcessState::Fatal, 0));
        assert_eq!(s.process("b", "g:q").unwrap().state, ProcessState::Stopped);
        assert_eq!(s.process("b", "g:r").unwrap().state, ProcessState::Running);
        let failed: Vec<&str> = s.jobs().failures().map(|f| f.namespec.as_str()).collect();
        assert_eq!(failed, ["g:p", "g:q"]);
        // The same report again (a retried write) changes nothing.
        assert_eq!(s.apply(&fenced(0)), CommandResult::Unchanged);
        assert_eq!(s.jobs().failures().count(), 2);
        // A report that arrives while b is SILENT with its loss pending (back before the
        // majority declared it lost): what it stopped is lost now, the rest waits.
        let mut s = ClusterState::new();
        to_running(&mut s, "b");
        s.apply(&events(
            "b",
            1,
            1,
            vec![
                status("g", "p", ProcessState::Stopped, 0),
                status("g", "r", ProcessState::Running, 6),
            ],
        ));
        s.apply(&Command::InstanceState {
            instance: "b".into(),
            state: InstanceState::Silent,
        });
        let report = Command::Fenced {
            instance: "b".into(),
            losses: 0,
            stopped: vec![stopped_run("g:p", 0)],
        };
        assert_eq!(s.apply(&report), CommandResult::Applied);
        let failed: Vec<&str> = s.jobs().failures().map(|f| f.namespec.as_str()).collect();
        assert_eq!(failed, ["g:p"]);
        assert_eq!(s.process("b", "g:r").unwrap().state, ProcessState::Running);
        assert!(s.loss_pending("b"));
        // A long cut: the majority declared b SILENT (handling its processes) before the report.
        let mut s = ClusterState::new();
        to_running(&mut s, "b");
        s.apply(&events(
            "b",
            1,
            1,
            vec![status("g", "p", ProcessState::Running, 5)],
        ));
        s.apply(&Command::InstanceState {
            instance: "b".into(),
            state: InstanceState::Silent,
        });
        s.apply(&Command::InstanceLost {
            instance: "b".into(),
        });
        assert_eq!(s.instance("b").unwrap().losses, 1);
        assert_eq!(s.jobs().failures().count(), 1);
        assert_eq!(
            s.apply(&fenced(0)),
            CommandResult::Unchanged,
            "while SILENT"
        );
        to_running(&mut s, "b");
        assert_eq!(
            s.apply(&fenced(0)),
            CommandResult::Unchanged,
            "back, count moved on"
        );
        assert_eq!(s.jobs().failures().count(), 1);
    }

    /// Under packet loss (a chaos run): the fence stopped `g:p` (pid 5); between two cuts the
    /// leader started it again there (pid 7, a later second) and the replica shows the new run
    /// RUNNING when the late report is applied. The report must not mark that run FATAL: the
    /// instance keeps it, and the strategy's start would find it already started, leaving a
    /// FATAL the instance never reports again.
    #[test]
    fn a_fence_report_leaves_a_process_started_again_since_alone() {
        let later = |state, pid, start| ProcessStatus {
            start,
            ..status("g", "p", state, pid)
        };
        let report = |stopped| Command::Fenced {
            instance: "b".into(),
            losses: 0,
            stopped,
        };
        let t0 = stopped_run("g:p", 5).start;
        for (what, again) in [
            ("RUNNING again", later(ProcessState::Running, 7, t0 + 1)),
            ("STARTING again", later(ProcessState::Starting, 7, t0 + 1)),
            ("in the same second", later(ProcessState::Running, 7, t0)),
            ("again, and failed", later(ProcessState::Fatal, 0, t0 + 2)),
        ] {
            let mut s = ClusterState::new();
            to_running(&mut s, "b");
            s.apply(&events("b", 1, 1, vec![again.clone()]));
            assert_eq!(
                s.apply(&report(vec![stopped_run("g:p", 5)])),
                CommandResult::Applied,
                "{what}: the report itself counts"
            );
            assert_eq!(s.process("b", "g:p"), Some(&again), "{what}");
            assert_eq!(s.jobs().failures().count(), 0, "{what}");
        }
        // The stopped run itself, its stop committed or not yet, or a record older than it
        // (the replica never heard of that run): lost, as before.
        for (what, record, fatal) in [
            (
                "still RUNNING",
                status("g", "p", ProcessState::Running, 5),
                true,
            ),
            ("STOPPED", status("g", "p", ProcessState::Stopped, 0), false),
            ("older", later(ProcessState::Stopped, 0, t0 - 60), false),
        ] {
            let mut s = ClusterState::new();
            to_running(&mut s, "b");
            s.apply(&events("b", 1, 1, vec![record]));
            assert_eq!(
                s.apply(&report(vec![stopped_run("g:p", 5)])),
                CommandResult::Applied
            );
            let p = s.process("b", "g:p").unwrap();
            assert_eq!(p.state == ProcessState::Fatal, fatal, "{what}");
            assert_eq!(s.jobs().failures().count(), 1, "{what}");
        }
    }

    #[test]
    fn supvisors_state_follows_the_0_14_fsm() {
        let mut s = ClusterState::new();
        let to = |state| Command::SetSupvisorsState { state };
        assert!(matches!(
            s.apply(&to(SupvisorsState::Operation)),
            CommandResult::Rejected(Rejection::IllegalSupvisorsTransition { .. })
        ));
        for state in [
            SupvisorsState::Initialization,
            SupvisorsState::Deployment,
            SupvisorsState::Operation,
            SupvisorsState::Conciliation,
            SupvisorsState::ShuttingDown,
            SupvisorsState::Shutdown,
            SupvisorsState::Initialization,
        ] {
            assert_eq!(s.apply(&to(state)), CommandResult::Applied, "{state}");
        }
        assert_eq!(
            s.apply(&to(SupvisorsState::Initialization)),
            CommandResult::Unchanged
        );
        assert_eq!(SupvisorsState::ShuttingDown.code(), 7);
        assert_eq!(SupvisorsState::ShuttingDown.name(), "SHUTTING_DOWN");
        assert_eq!(InstanceState::Isolated.code(), 5);
    }

    #[test]
    fn ticks_only_move_forward() {
        let mut s = ClusterState::new();
        let tick = |load, counter, received_at| Command::Tick {
            instance: "a".into(),
            load,
            stamp: TickStamp {
                counter,
                remote_at: received_at - 5,
                received_at,
            },
            incarnation: 0,
        };
        assert_eq!(s.apply(&tick(10, 40, 2_000)), CommandResult::Applied);
        assert_eq!(s.apply(&tick(99, 39, 1_000)), CommandResult::Unchanged);
        assert_eq!(s.apply(&tick(99, 41, 2_000)), CommandResult::Unchanged);
        let a = s.instance("a").unwrap();
        assert_eq!(a.load, 10);
        assert_eq!(
            a.last_tick,
            Some(TickStamp {
                counter: 40,
                remote_at: 1_995,
                received_at: 2_000
            })
        );
        // A restarted sender counts from 1 again: still taken, the leader's clock orders.
        assert_eq!(s.apply(&tick(3, 1, 3_000)), CommandResult::Applied);
        assert_eq!(s.instance("a").unwrap().last_tick.unwrap().counter, 1);
    }

    #[test]
    fn disable_all_covers_known_instances_and_enable_undoes_it() {
        let mut s = ClusterState::new();
        for i in ["a", "b"] {
            s.apply(&Command::InstanceState {
                instance: i.into(),
                state: InstanceState::Unknown,
            });
        }
        let disable = Command::Disable {
            target: Target::All,
            program: "db".into(),
        };
        assert_eq!(s.apply(&disable), CommandResult::Applied);
        assert_eq!(s.apply(&disable), CommandResult::Unchanged);
        assert!(s.is_disabled("a", "db") && s.is_disabled("b", "db"));
        s.apply(&Command::Enable {
            target: Target::Instance("b".into()),
            program: "db".into(),
        });
        assert!(s.is_disabled("a", "db") && !s.is_disabled("b", "db"));
        assert_eq!(
            s.apply(&Command::SetNumprocs {
                program: "db".into(),
                numprocs: 2
            }),
            CommandResult::Applied
        );
        assert_eq!(s.numprocs("db"), Some(2));
    }
}
