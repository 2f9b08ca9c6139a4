//! The commander's replicated intentions: jobs (start/stop sequences in progress), the pending
//! failures the leader has not handled yet, and what a planning round asks the leader to do.
//!
//! Why jobs live in the Raft state: a leader that dies in the middle of a start sequence is
//! replaced by one that reads the same jobs, sees which processes were already placed (and
//! where) and goes on from there. A placement is committed *before* the order is sent, so a new
//! leader re-sends the order to the same instance (an idempotent start) instead of placing the
//! process a second time elsewhere.
//!
//! Shape of a job: *stages* run one after the other; the *tracks* of a stage run in parallel
//! (one per application); the *steps* of a track run one after the other (one per
//! start_sequence or stop_sequence rank); the *items* of a step run in parallel (one per
//! process). Every start/stop sequence of Supvisors fits: DEPLOYMENT is one stage per
//! application start_sequence rank, a restart is a stop stage then a start stage.
//!
//! Everything here is plain data with deterministic transitions (no clock: times arrive inside
//! the ops), applied by [`crate::ClusterState::apply`].

use model::rules::{DistributionRule, StartingFailureStrategy};
use model::supvisors::{ConciliationStrategy, StartingStrategy};
use model::ProcessState;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::state::{BatchSeq, SupvisorsState};

/// Identifies a job for its whole life (assigned by the state machine, never reused).
pub type JobId = u64;

/// How many finished jobs the state keeps, so that a `wait` caller (possibly on another
/// instance, reading its replica a little later) still finds the outcome of its job.
pub const FINISHED_JOBS_KEPT: usize = 256;

/// Pending failures beyond this are dropped (oldest first) with a log line on the leader: a
/// leader that cannot keep up must not make the state grow without bound.
pub const FAILURES_KEPT: usize = 4096;

/// What a job was created for: shown to users (`sstate` job lists, logs) and used to decide
/// what happens when it ends (e.g. `Shutdown` after the global stop).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobKind {
    /// DEPLOYMENT: the managed applications with start_sequence > 0. `forced`: all of them
    /// (`restart_sequence`), else only those not fully running.
    Deployment {
        forced: bool,
    },
    StartApplication {
        application: String,
        strategy: StartingStrategy,
    },
    StopApplication {
        application: String,
    },
    RestartApplication {
        application: String,
        strategy: StartingStrategy,
    },
    StartProcess {
        namespec: String,
        strategy: StartingStrategy,
        extra_args: String,
    },
    StopProcess {
        namespec: String,
    },
    RestartProcess {
        namespec: String,
        strategy: StartingStrategy,
        extra_args: String,
    },
    /// The global stop sequence, then every instance restarts or shuts down.
    GlobalStop {
        then: FinalAction,
    },
    /// Conflicts resolved with a conciliation strategy.
    Conciliate {
        strategy: ConciliationStrategy,
    },
    /// A running failure strategy applied to `application` (STOP_/RESTART_APPLICATION,
    /// RESTART_PROCESS): kept apart from user requests so logs and job lists say why.
    RunningFailure {
        application: String,
    },
}

/// What every instance does once the global stop sequence is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FinalAction {
    Restart,
    Shutdown,
}

/// What an item does to its process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ItemAction {
    /// Start the process on one instance chosen with `strategy` (unless the track is pinned to
    /// an instance, or the item names one in `on`).
    Start {
        strategy: StartingStrategy,
        extra_args: String,
        /// Done only when the process EXITED with an expected code (not when RUNNING).
        wait_exit: bool,
        /// A failure triggers the track's starting failure strategy.
        required: bool,
        /// 0..=100, counted against the 100 % limit of the chosen instance.
        expected_loading: u8,
        /// Start on this instance only (e.g. conciliation RESTART keeps nothing, but a user
        /// `start_args` names the local instance).
        on: Option<String>,
    },
    /// Stop the process wherever it runs, or only on `on`.
    Stop { on: Option<String> },
}

/// Progress of one item. Only the leader's planner moves it, through [`JobOp`]s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ItemState {
    /// Its step has not been reached, or it has and no decision was committed yet.
    Pending,
    /// A start was decided on `instance` at `at_ms` (leader's clock). `seen` is the batch that
    /// last set this process's status on that instance when the decision was made: a newer
    /// batch means the instance has acted on (or reported about) the process since, so a new
    /// leader must not re-send the order.
    Placed {
        instance: String,
        seen: Option<BatchSeq>,
        at_ms: i64,
    },
    /// Stop orders were sent at `at_ms` (leader's clock) to every instance where it ran.
    Stopping { at_ms: i64 },
    /// Reached its goal (RUNNING, or EXITED as expected with `wait_exit`; stopped everywhere).
    Done,
    /// Could not reach its goal; `reason` is shown to users (e.g. "no resource available").
    Failed { reason: String },
    /// Nothing to do (already running, or dropped by an aborted track).
    Skipped,
}

impl ItemState {
    /// Done, failed or skipped: nothing more will happen to the item.
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            ItemState::Done | ItemState::Failed { .. } | ItemState::Skipped
        )
    }
}

/// One process to start or stop within a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Index of the item's track in [`Job::tracks`].
    pub track: u32,
    /// Rank of the item's step within its track: steps run in increasing `step` order.
    pub step: u32,
    pub namespec: String,
    pub action: ItemAction,
    pub state: ItemState,
}

/// The part of a job that concerns one application (or one process's application).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Track {
    /// Tracks run in increasing `stage` order; the tracks of one stage run in parallel.
    pub stage: u32,
    pub application: String,
    pub distribution: DistributionRule,
    /// What a failed *required* start does to the rest of the track.
    pub starting_failure: StartingFailureStrategy,
    /// SINGLE_INSTANCE / SINGLE_NODE: the instance chosen for the whole application (for
    /// SINGLE_NODE, one instance of the chosen node), committed before the first start.
    pub pinned: Option<String>,
    /// Set by the starting failure strategy (ABORT, STOP): the remaining items are skipped.
    pub aborted: bool,
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobOutcome {
    /// The job reached what it was asked for (e.g. the application is RUNNING).
    pub ok: bool,
    /// Why not, for the fault string of a `wait` caller; empty when `ok`.
    pub message: String,
    /// Leader's clock when it ended.
    pub at_ms: i64,
}

/// A start/stop job of the commander.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Set by the state machine when the job is created (the one in [`JobOp::Create`] is
    /// ignored).
    pub id: JobId,
    pub kind: JobKind,
    /// Identifier of the instance whose request created the job (empty: the leader itself).
    pub requested_by: String,
    pub created_ms: i64,
    pub tracks: Vec<Track>,
    pub items: Vec<Item>,
    /// `None` while the job runs.
    pub outcome: Option<JobOutcome>,
}

impl Job {
    /// A job of `kind` with no track yet.
    pub fn new(kind: JobKind, requested_by: impl Into<String>, created_ms: i64) -> Self {
        Job {
            id: 0,
            kind,
            requested_by: requested_by.into(),
            created_ms,
            tracks: Vec::new(),
            items: Vec::new(),
            outcome: None,
        }
    }

    pub fn is_finished(&self) -> bool {
        self.outcome.is_some()
    }

    /// True when the job starts processes (Supvisors' "starting jobs"); false for pure stops.
    pub fn is_starting(&self) -> bool {
        self.outcome.is_none()
            && self
                .items
                .iter()
                .any(|i| matches!(i.action, ItemAction::Start { .. }) && !i.state.is_finished())
    }

    /// True when the job still has processes to stop (Supvisors' "stopping jobs").
    pub fn is_stopping(&self) -> bool {
        self.outcome.is_none()
            && self
                .items
                .iter()
                .any(|i| matches!(i.action, ItemAction::Stop { .. }) && !i.state.is_finished())
    }
}

/// Why the state machine recorded a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailureKind {
    /// The process went from a running-like state to FATAL or to an unexpected EXITED.
    Crash,
    /// The instance the process ran on was lost (SILENT, ISOLATING).
    InstanceLost,
}

/// A process failure waiting for the leader's running failure strategy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub id: u64,
    pub instance: String,
    pub namespec: String,
    pub kind: FailureKind,
    /// The process state that revealed the failure (FATAL, EXITED).
    pub state: ProcessState,
}

/// Where an item is: job id and index in [`Job::items`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRef {
    pub job: JobId,
    pub item: u32,
}

/// One change to the jobs, as decided by the leader's planner (or by a front end creating a
/// job). Ops on an unknown or finished job change nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobOp {
    /// Adds a job; its id is the next free one.
    Create(Job),
    /// Moves an item to a new state.
    SetItem { at: ItemRef, state: ItemState },
    /// Pins a track to an instance (SINGLE_INSTANCE / SINGLE_NODE).
    Pin {
        job: JobId,
        track: u32,
        instance: String,
    },
    /// Aborts a track: its unfinished Pending items become Skipped.
    AbortTrack { job: JobId, track: u32 },
    /// Appends tracks and items to a running job (e.g. the stop stage of a starting failure
    /// strategy STOP). Track indices in `items` are relative to the appended `tracks`.
    Extend {
        job: JobId,
        tracks: Vec<Track>,
        items: Vec<Item>,
    },
    /// Ends a job.
    Finish { job: JobId, outcome: JobOutcome },
    /// Ends every running job with `outcome` (INITIALIZATION, RESTARTING, SHUTTING_DOWN).
    FinishAll { outcome: JobOutcome },
    /// The failures up to `id` (included) were handled.
    AckFailures { upto: u64 },
    /// These failures were handled, out of order: the failures of an unfinished item of a
    /// running job, queued behind one that waits for that job to end (left last in the enum:
    /// the log entries written before it decode unchanged).
    DropFailures { ids: Vec<u64> },
}

/// The commander's part of the replicated state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Jobs {
    pub(crate) next_job: JobId,
    pub(crate) jobs: BTreeMap<JobId, Job>,
    pub(crate) next_failure: u64,
    pub(crate) failures: BTreeMap<u64, Failure>,
    /// The extra arguments of the latest start placed for each namespec (Supvisors shows them
    /// in `get_process_info`, and a RESTART_PROCESS elsewhere reuses them).
    pub(crate) extra_args: BTreeMap<String, String>,
}

impl Jobs {
    pub fn job(&self, id: JobId) -> Option<&Job> {
        self.jobs.get(&id)
    }

    /// Every kept job (running and recently finished), in creation order.
    pub fn all(&self) -> impl Iterator<Item = &Job> {
        self.jobs.values()
    }

    /// The running jobs, in creation order.
    pub fn running(&self) -> impl Iterator<Item = &Job> {
        self.jobs.values().filter(|j| !j.is_finished())
    }

    /// The extra arguments of the latest start of `namespec` ('' when none).
    pub fn extra_args(&self, namespec: &str) -> &str {
        self.extra_args.get(namespec).map_or("", String::as_str)
    }

    /// Failures not yet handled, oldest first.
    pub fn failures(&self) -> impl Iterator<Item = &Failure> {
        self.failures.values()
    }

    /// Records a failure (called by the state machine on a crash or an instance loss).
    pub(crate) fn push_failure(
        &mut self,
        instance: &str,
        namespec: &str,
        kind: FailureKind,
        state: ProcessState,
    ) {
        let id = self.next_failure;
        self.next_failure += 1;
        self.failures.insert(
            id,
            Failure {
                id,
                instance: instance.to_string(),
                namespec: namespec.to_string(),
                kind,
                state,
            },
        );
        while self.failures.len() > FAILURES_KEPT {
            self.failures.pop_first();
        }
    }

    /// Applies ops in order; returns the ids of the jobs created, and whether anything changed.
    pub(crate) fn apply(&mut self, ops: &[JobOp]) -> (Vec<JobId>, bool) {
        let mut created = Vec::new();
        let mut changed = false;
        for op in ops {
            changed |= self.apply_one(op, &mut created);
        }
        self.prune();
        (created, changed)
    }

    fn running_mut(&mut self, id: JobId) -> Option<&mut Job> {
        self.jobs.get_mut(&id).filter(|j| !j.is_finished())
    }

    fn apply_one(&mut self, op: &JobOp, created: &mut Vec<JobId>) -> bool {
        match op {
            JobOp::Create(job) => {
                let id = self.next_job;
                self.next_job += 1;
                let mut job = job.clone();
                job.id = id;
                job.outcome = None;
                self.jobs.insert(id, job);
                created.push(id);
                true
            }
            JobOp::SetItem { at, state } => {
                let Some(item) = self
                    .jobs
                    .get_mut(&at.job)
                    .filter(|j| !j.is_finished())
                    .and_then(|j| j.items.get_mut(at.item as usize))
                else {
                    return false;
                };
                if item.state == *state {
                    return false;
                }
                if let (ItemState::Placed { .. }, ItemAction::Start { extra_args, .. }) =
                    (state, &item.action)
                {
                    self.extra_args
                        .insert(item.namespec.clone(), extra_args.clone());
                }
                item.state = state.clone();
                true
            }
            JobOp::Pin {
                job,
                track,
                instance,
            } => {
                let Some(t) = self
                    .running_mut(*job)
                    .and_then(|j| j.tracks.get_mut(*track as usize))
                else {
                    return false;
                };
                let changed = t.pinned.as_deref() != Some(instance.as_str());
                t.pinned = Some(instance.clone());
                changed
            }
            JobOp::AbortTrack { job, track } => {
                let Some(j) = self.running_mut(*job) else {
                    return false;
                };
                let Some(t) = j.tracks.get_mut(*track as usize) else {
                    return false;
                };
                let mut changed = !t.aborted;
                t.aborted = true;
                for item in j.items.iter_mut().filter(|i| i.track == *track) {
                    if item.state == ItemState::Pending {
                        item.state = ItemState::Skipped;
                        changed = true;
                    }
                }
                changed
            }
            JobOp::Extend { job, tracks, items } => {
                let Some(j) = self.running_mut(*job) else {
                    return false;
                };
                let base = j.tracks.len() as u32;
                j.tracks.extend(tracks.iter().cloned());
                j.items.extend(items.iter().cloned().map(|mut i| {
                    i.track += base;
                    i
                }));
                !tracks.is_empty() || !items.is_empty()
            }
            JobOp::Finish { job, outcome } => {
                let Some(j) = self.running_mut(*job) else {
                    return false;
                };
                j.outcome = Some(outcome.clone());
                true
            }
            JobOp::FinishAll { outcome } => {
                let mut changed = false;
                for j in self.jobs.values_mut().filter(|j| !j.is_finished()) {
                    j.outcome = Some(outcome.clone());
                    changed = true;
                }
                changed
            }
            JobOp::AckFailures { upto } => {
                let before = self.failures.len();
                self.failures.retain(|id, _| id > upto);
                before != self.failures.len()
            }
            JobOp::DropFailures { ids } => {
                let before = self.failures.len();
                for id in ids {
                    self.failures.remove(id);
                }
                before != self.failures.len()
            }
        }
    }

    /// Keeps the running jobs and the newest [`FINISHED_JOBS_KEPT`] finished ones.
    fn prune(&mut self) {
        let finished: Vec<JobId> = self
            .jobs
            .iter()
            .filter(|(_, j)| j.is_finished())
            .map(|(id, _)| *id)
            .collect();
        if finished.len() > FINISHED_JOBS_KEPT {
            for id in &finished[..finished.len() - FINISHED_JOBS_KEPT] {
                self.jobs.remove(id);
            }
        }
    }
}

/// An order the leader sends to one instance's local supervisor over the internal port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Order {
    /// Start `namespec` (no wait) with `extra_args` appended to its command line.
    Start {
        instance: String,
        namespec: String,
        extra_args: String,
    },
    /// Stop `namespec` (no wait).
    Stop { instance: String, namespec: String },
    /// Restart or shut down the whole daemon (end of the global stop sequence).
    Final {
        instance: String,
        action: FinalAction,
    },
}

impl Order {
    pub fn instance(&self) -> &str {
        match self {
            Order::Start { instance, .. }
            | Order::Stop { instance, .. }
            | Order::Final { instance, .. } => instance,
        }
    }
}

/// What one planning round asks the leader to do: commit `ops` (one log entry), move the
/// Supvisors state, then send `orders`. Orders are only ever about decisions already in the
/// state the planner read, so sending them before `ops` commit is safe.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub ops: Vec<JobOp>,
    pub supvisors_state: Option<SupvisorsState>,
    pub orders: Vec<Order>,
    /// Whether the same state may plan differently later, with time alone (a running job's
    /// items time out). Only then does the leader plan again on a beat; otherwise an empty
    /// plan stands until the state changes, which keeps an idle leader asleep.
    pub timed: bool,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.supvisors_state.is_none() && self.orders.is_empty()
    }
}

/// The leader's clock for one planning round (epoch ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Now: stamps what the round creates, and is what the items' timeouts are measured at.
    pub now_ms: i64,
    /// When this leader took office. The timeout of an item stamped before counts from here:
    /// the previous leader, cut off or slow to lose office, may never have sent its orders, so
    /// a new leader gives each item it inherits its whole timeout (as it resends the orders).
    pub leading_since_ms: i64,
}

impl Clock {
    /// A clock with no change of leader to account for (tests, dry runs).
    pub fn at(now_ms: i64) -> Self {
        Clock {
            now_ms,
            leading_since_ms: i64::MIN,
        }
    }
}

/// The planner the leader runs: a pure function of the replicated state and the leader's
/// [`Clock`]. Installed by the daemon (it knows the rules); the cluster crate only runs it.
pub type Planner = std::sync::Arc<dyn Fn(&crate::ClusterState, Clock) -> Plan + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{ClusterState, Command, CommandResult, InstanceState, ProcessStatus};
    use crate::{codec, BatchSeq};

    fn start_item(track: u32, step: u32, namespec: &str) -> Item {
        Item {
            track,
            step,
            namespec: namespec.into(),
            action: ItemAction::Start {
                strategy: StartingStrategy::Config,
                extra_args: "-v".into(),
                wait_exit: false,
                required: true,
                expected_loading: 10,
                on: None,
            },
            state: ItemState::Pending,
        }
    }

    fn job() -> Job {
        let mut job = Job::new(
            JobKind::StartApplication {
                application: "app".into(),
                strategy: StartingStrategy::Config,
            },
            "a",
            1_000,
        );
        job.tracks.push(Track {
            stage: 0,
            application: "app".into(),
            distribution: DistributionRule::AllInstances,
            starting_failure: StartingFailureStrategy::Abort,
            pinned: None,
            aborted: false,
        });
        job.items.push(start_item(0, 1, "app:x"));
        job.items.push(start_item(0, 2, "app:y"));
        job
    }

    fn apply(state: &mut ClusterState, ops: Vec<JobOp>) -> CommandResult {
        state.apply(&Command::Jobs(ops))
    }

    #[test]
    fn created_jobs_get_fresh_ids_and_survive_the_codec() {
        let mut s = ClusterState::new();
        assert_eq!(
            apply(&mut s, vec![JobOp::Create(job()), JobOp::Create(job())]),
            CommandResult::JobsCreated(vec![0, 1])
        );
        assert_eq!(
            apply(&mut s, vec![JobOp::Create(job())]),
            CommandResult::JobsCreated(vec![2])
        );
        assert_eq!(s.jobs().running().count(), 3);
        assert!(s
            .jobs()
            .job(1)
            .is_some_and(|j| j.is_starting() && !j.is_stopping()));
        let back: ClusterState = codec::decode(&codec::encode(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn items_move_and_placement_records_extra_args() {
        let mut s = ClusterState::new();
        apply(&mut s, vec![JobOp::Create(job())]);
        let placed = ItemState::Placed {
            instance: "b".into(),
            seen: Some(BatchSeq::new(1, 4)),
            at_ms: 2_000,
        };
        let at = ItemRef { job: 0, item: 0 };
        assert_eq!(
            apply(
                &mut s,
                vec![JobOp::SetItem {
                    at,
                    state: placed.clone()
                }]
            ),
            CommandResult::Applied
        );
        assert_eq!(s.jobs().extra_args("app:x"), "-v");
        assert_eq!(s.jobs().extra_args("app:y"), "");
        // The same state again changes nothing; an unknown item or job neither.
        assert_eq!(
            apply(&mut s, vec![JobOp::SetItem { at, state: placed }]),
            CommandResult::Unchanged
        );
        assert_eq!(
            apply(
                &mut s,
                vec![JobOp::SetItem {
                    at: ItemRef { job: 9, item: 0 },
                    state: ItemState::Done
                }]
            ),
            CommandResult::Unchanged
        );
    }

    #[test]
    fn abort_skips_pending_items_and_finish_freezes_the_job() {
        let mut s = ClusterState::new();
        apply(&mut s, vec![JobOp::Create(job())]);
        apply(
            &mut s,
            vec![
                JobOp::SetItem {
                    at: ItemRef { job: 0, item: 0 },
                    state: ItemState::Failed {
                        reason: "no resource available".into(),
                    },
                },
                JobOp::AbortTrack { job: 0, track: 0 },
            ],
        );
        let j = s.jobs().job(0).unwrap();
        assert!(j.tracks[0].aborted);
        assert_eq!(j.items[1].state, ItemState::Skipped);
        let outcome = JobOutcome {
            ok: false,
            message: "x".into(),
            at_ms: 3,
        };
        apply(
            &mut s,
            vec![JobOp::Finish {
                job: 0,
                outcome: outcome.clone(),
            }],
        );
        assert_eq!(s.jobs().job(0).unwrap().outcome, Some(outcome));
        assert_eq!(
            apply(
                &mut s,
                vec![JobOp::SetItem {
                    at: ItemRef { job: 0, item: 1 },
                    state: ItemState::Done
                }]
            ),
            CommandResult::Unchanged
        );
        assert_eq!(s.jobs().running().count(), 0);
    }

    #[test]
    fn finished_jobs_are_pruned_oldest_first() {
        let mut s = ClusterState::new();
        let outcome = JobOutcome {
            ok: true,
            message: String::new(),
            at_ms: 0,
        };
        for id in 0..(FINISHED_JOBS_KEPT as u64 + 5) {
            apply(
                &mut s,
                vec![
                    JobOp::Create(job()),
                    JobOp::Finish {
                        job: id,
                        outcome: outcome.clone(),
                    },
                ],
            );
        }
        assert_eq!(s.jobs().all().count(), FINISHED_JOBS_KEPT);
        assert!(s.jobs().job(0).is_none());
        assert!(s.jobs().job(FINISHED_JOBS_KEPT as u64 + 4).is_some());
    }

    fn status(state: model::ProcessState, expected: bool) -> ProcessStatus {
        ProcessStatus {
            group: "app".into(),
            name: "x".into(),
            state,
            pid: if state.is_running() { 42 } else { 0 },
            start: 1,
            stop: 2,
            exitstatus: 1,
            expected,
            spawnerr: String::new(),
            description: String::new(),
            stdout_logfile: String::new(),
            stderr_logfile: String::new(),
        }
    }

    fn events(s: &mut ClusterState, counter: u64, st: ProcessStatus) {
        s.apply(&Command::ProcessEvents {
            instance: "a".into(),
            seq: BatchSeq::new(1, counter),
            full: false,
            events: vec![st],
        });
    }

    #[test]
    fn crashes_and_instance_losses_become_failures_stops_do_not() {
        use model::ProcessState::*;
        let mut s = ClusterState::new();
        events(&mut s, 1, status(Running, true));
        events(&mut s, 2, status(Exited, true)); // expected exit: not a crash
        events(&mut s, 3, status(Starting, true));
        events(&mut s, 4, status(Backoff, true));
        events(&mut s, 5, status(Fatal, false)); // crash
        events(&mut s, 6, status(Running, true));
        events(&mut s, 7, status(Stopping, true));
        events(&mut s, 8, status(Stopped, true)); // a stop
        events(&mut s, 9, status(Running, true));
        events(&mut s, 10, status(Exited, false)); // crash
        events(&mut s, 11, status(Running, true));
        let failures: Vec<_> = s.jobs().failures().map(|f| (f.kind, f.state)).collect();
        assert_eq!(
            failures,
            vec![(FailureKind::Crash, Fatal), (FailureKind::Crash, Exited)]
        );
        for state in [
            InstanceState::Checking,
            InstanceState::Running,
            InstanceState::Silent,
        ] {
            s.apply(&Command::InstanceState {
                instance: "a".into(),
                state,
            });
        }
        s.apply(&Command::InstanceLost {
            instance: "a".into(),
        });
        let last = s.jobs().failures().last().cloned().unwrap();
        assert_eq!(last.kind, FailureKind::InstanceLost);
        assert_eq!(last.namespec, "app:x");
        apply(&mut s, vec![JobOp::AckFailures { upto: last.id - 1 }]);
        assert_eq!(s.jobs().failures().count(), 1);
        apply(&mut s, vec![JobOp::AckFailures { upto: last.id }]);
        assert_eq!(s.jobs().failures().count(), 0);
    }

    #[test]
    fn dropped_failures_go_out_of_order_and_the_others_stay() {
        use model::ProcessState::*;
        let mut s = ClusterState::new();
        for counter in [1, 3, 5] {
            events(&mut s, counter, status(Running, true));
            events(&mut s, counter + 1, status(Exited, false));
        }
        let ids: Vec<u64> = s.jobs().failures().map(|f| f.id).collect();
        assert_eq!(ids.len(), 3);
        apply(&mut s, vec![JobOp::DropFailures { ids: vec![ids[1]] }]);
        let left: Vec<u64> = s.jobs().failures().map(|f| f.id).collect();
        assert_eq!(left, vec![ids[0], ids[2]]);
        // Dropping what is gone changes nothing.
        assert_eq!(
            s.apply(&Command::Jobs(vec![JobOp::DropFailures {
                ids: vec![ids[1]]
            }])),
            CommandResult::Unchanged
        );
    }
}
