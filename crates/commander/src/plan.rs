//! The leader's planning round: Supvisors state transitions, running failure strategies, and
//! the progress of every running job (placement, orders, completion, timeouts).
//!
//! Idempotence: every decision is committed as a [`JobOp`] before anything depends on it; a
//! round only emits orders about decisions already in the state it reads (placements and
//! stops committed earlier), so calling [`Commander::plan`] again on the same state, or from a
//! new leader, re-sends the same orders (the executor dedups) and decides nothing twice.

use crate::build::NO_RESOURCE;
use crate::placement::Loads;
use crate::Commander;
use data::state::lost_spawnerr;
use data::{
    Clock, ClusterState, FailureKind, FinalAction, Item, ItemAction, ItemRef, ItemState, Job,
    JobId, JobKind, JobOp, JobOutcome, Order, Plan, SupvisorsState, Track,
};
use model::rules::{DistributionRule, StartingFailureStrategy};
use model::supvisors::{ConciliationStrategy, StartingStrategy};
use model::ProcessState;
use std::collections::BTreeSet;

/// Whether a running job for which `job_ok` holds has an item of `namespec` for which
/// `item_ok` holds.
fn any_running_item(
    state: &ClusterState,
    namespec: &str,
    job_ok: impl Fn(&Job) -> bool,
    item_ok: impl Fn(&Item) -> bool,
) -> bool {
    state
        .jobs()
        .running()
        .any(|j| job_ok(j) && j.items.iter().any(|i| i.namespec == namespec && item_ok(i)))
}

/// Whether a running job other than `job` has placed a start of `namespec` that is not over.
fn placed_by_other_job(state: &ClusterState, job: JobId, namespec: &str) -> bool {
    any_running_item(
        state,
        namespec,
        |other| other.id != job,
        |i| {
            matches!(i.action, ItemAction::Start { .. })
                && matches!(i.state, ItemState::Placed { .. })
        },
    )
}

/// Whether a job of the cluster's is stopping `namespec` (its stop is not a fault to undo).
fn stopped_by_a_job(state: &ClusterState, namespec: &str) -> bool {
    any_running_item(
        state,
        namespec,
        |_| true,
        |i| matches!(i.action, ItemAction::Stop { .. }) && !i.state.is_finished(),
    )
}

/// How many follow-up rounds one plan may include (see [`Commander::plan`]).
pub const FOLLOW_UPS: usize = 4;

/// Outcome message of the jobs ended by INITIALIZATION.
pub const ABORTED_REINIT: &str = "aborted: cluster re-initialising";
/// Outcome message of the jobs ended by RESTARTING / SHUTTING_DOWN.
pub const ABORTED_STOPPING: &str = "aborted: cluster restarting or shutting down";
/// A placed start with no news from its instance for this long has failed.
pub const STARTING_TIMEOUT_MS: i64 = 5_000;
/// Margin over `startsecs` to reach RUNNING.
pub const RUNNING_MARGIN_MS: i64 = 5_000;
/// How far apart the leader's clock (an order's time) and an instance's (a process's start
/// time) may be when the planner tells an answer to its start order from an older status.
pub const START_SKEW_MS: i64 = 1_000;
/// Margin over `stopwaitsecs` to be stopped everywhere.
pub const STOPPED_MARGIN_MS: i64 = 10_000;

/// What one round accumulates.
pub(crate) struct Round {
    /// The leader's clock: it stamps what the round creates, and only the items of running
    /// jobs compare it with a recorded time (which [`Plan::timed`] relies on).
    pub now: i64,
    /// When this leader took office: an item's timeout counts from its stamp or from here,
    /// whichever is later (see [`data::Clock`]).
    since: i64,
    pub ops: Vec<JobOp>,
    pub orders: Vec<Order>,
    /// Expected loads, updated with this round's placements.
    pub loads: Loads,
    /// Tracks aborted or failed over in this round: their Pending items are left alone.
    aborted: BTreeSet<(JobId, u32)>,
    /// Namespecs placed in this round (a second job must not place them again).
    placing: BTreeSet<String>,
}

impl Round {
    fn new(clock: Clock, loads: Loads) -> Self {
        Round {
            now: clock.now_ms,
            since: clock.leading_since_ms,
            ops: Vec::new(),
            orders: Vec::new(),
            loads,
            aborted: BTreeSet::new(),
            placing: BTreeSet::new(),
        }
    }

    /// How long an item stamped at `at_ms` has waited under this leader.
    fn waited(&self, at_ms: i64) -> i64 {
        self.now - at_ms.max(self.since)
    }

    pub(crate) fn creates(&self) -> bool {
        self.ops.iter().any(|op| matches!(op, JobOp::Create(_)))
    }
}

fn latest(state: &ClusterState, kind: impl Fn(&JobKind) -> bool) -> Option<&Job> {
    state.jobs().all().filter(|j| kind(&j.kind)).last()
}

fn is_deployment(kind: &JobKind) -> bool {
    matches!(kind, JobKind::Deployment { .. })
}

fn is_global_stop(kind: &JobKind) -> bool {
    matches!(kind, JobKind::GlobalStop { .. })
}

fn is_reinit_marker(job: &Job) -> bool {
    job.outcome
        .as_ref()
        .is_some_and(|o| o.message == ABORTED_REINIT)
}

impl Commander {
    /// One leader planning round (deterministic; see the module docs).
    ///
    /// * INITIALIZATION: every running job ends ("aborted: cluster re-initialising"), and a
    ///   finished empty Deployment job marks the new life, so that DEPLOYMENT knows the
    ///   Deployment jobs of a previous life are not its own. Failures are dropped. The leader
    ///   must therefore commit at least one round's ops while in INITIALIZATION before it
    ///   moves to DEPLOYMENT; otherwise a finished Deployment of the previous life (persisted
    ///   state) is taken for this life's and DEPLOYMENT ends at once.
    /// * DEPLOYMENT: a Deployment job is created, run, and once it is over → OPERATION.
    /// * OPERATION: conflicts with no job running → CONCILIATION (and the configured
    ///   conciliation job unless USER); CONCILIATION without conflict nor job → OPERATION.
    ///   With no job running, no conflict and an instance joined since the last Deployment
    ///   job (the replicated redeploy mark) → a repair Deployment job and DEPLOYMENT.
    /// * RESTARTING / SHUTTING_DOWN: other jobs end, the global stop job runs (created here
    ///   if the front end did not), then → RESTART / SHUTDOWN with `Order::Final` to every
    ///   RUNNING instance, the leader last.
    ///
    /// A round that finishes items may unlock the next step of a sequence: the planner then
    /// plans again on the state as it will be once this round's ops are applied (at most
    /// `FOLLOW_UPS` times), so a step moves on in the same commit instead of one commit later
    /// (each commit is a Raft round trip in the start time of a sequence). Orders of a
    /// follow-up refer to placements of this same plan: the executor sends orders only after
    /// the ops committed. No follow-up after a round that creates a job: the ids a simulation
    /// gives may differ from the ones the commit gives if another write lands in between.
    pub fn plan(&self, state: &ClusterState, now_ms: i64) -> Plan {
        self.plan_at(state, Clock::at(now_ms))
    }

    /// [`Self::plan`] by a leader that took office at `clock.leading_since_ms`.
    pub fn plan_at(&self, state: &ClusterState, clock: Clock) -> Plan {
        let mut plan = self.plan_round(state, clock);
        let mut simulated: Option<ClusterState> = None;
        let mut applied = 0;
        for _ in 0..FOLLOW_UPS {
            let fresh = &plan.ops[applied..];
            let unlocks = fresh.iter().any(|op| {
                matches!(
                    op,
                    JobOp::SetItem {
                        state: ItemState::Done | ItemState::Failed { .. } | ItemState::Skipped,
                        ..
                    } | JobOp::AbortTrack { .. }
                )
            });
            let creates = plan.ops.iter().any(|op| matches!(op, JobOp::Create(_)));
            if !unlocks || creates || plan.supvisors_state.is_some() {
                break;
            }
            let sim = simulated.get_or_insert_with(|| state.clone());
            sim.apply(&data::Command::Jobs(fresh.to_vec()));
            applied = plan.ops.len();
            let more = self.plan_round(sim, clock);
            if more.ops.is_empty() && more.supvisors_state.is_none() {
                plan.orders.extend(more.orders);
                break;
            }
            plan.ops.extend(more.ops);
            plan.orders.extend(more.orders);
            plan.supvisors_state = more.supvisors_state;
        }
        plan.orders.dedup();
        // Only the items of running jobs compare the clock with a recorded time; everywhere
        // else the clock only stamps what a round creates (see the `now` of [`Round`]).
        plan.timed = state.jobs().running().next().is_some();
        plan
    }

    fn plan_round(&self, state: &ClusterState, clock: Clock) -> Plan {
        let mut round = Round::new(clock, self.loads(state));
        let mut next = None;
        match state.supvisors_state() {
            SupvisorsState::Off | SupvisorsState::Restart | SupvisorsState::Shutdown => {}
            SupvisorsState::Initialization => {
                self.plan_initialization(state, &mut round);
                ack_all(state, &mut round);
            }
            st @ (SupvisorsState::Restarting | SupvisorsState::ShuttingDown) => {
                ack_all(state, &mut round);
                next = self.plan_global_stop(state, st, &mut round);
            }
            st @ (SupvisorsState::Deployment
            | SupvisorsState::Operation
            | SupvisorsState::Conciliation) => {
                next = self.plan_failures(state, &mut round);
                for job in state.jobs().running() {
                    if job.id < state.life_first_job() {
                        // A job of a previous life that INITIALIZATION did not get to end
                        // (DEPLOYMENT came first): its decisions were about processes and
                        // instances that are gone.
                        round.ops.push(JobOp::Finish {
                            job: job.id,
                            outcome: JobOutcome {
                                ok: false,
                                message: ABORTED_REINIT.to_string(),
                                at_ms: round.now,
                            },
                        });
                        continue;
                    }
                    self.plan_job(state, job, &mut round);
                }
                if next.is_none() {
                    next = self.plan_transitions(state, st, &mut round);
                }
            }
        }
        Plan {
            ops: round.ops,
            supvisors_state: next,
            orders: round.orders,
            timed: false,
        }
    }

    fn plan_initialization(&self, state: &ClusterState, round: &mut Round) {
        let running = state.jobs().running().next().is_some();
        let stale_deployment = latest(state, is_deployment).is_some_and(|j| !is_reinit_marker(j));
        if stale_deployment {
            round.ops.push(JobOp::Create(Job::new(
                JobKind::Deployment { forced: false },
                "",
                round.now,
            )));
        }
        if running || stale_deployment {
            round.ops.push(JobOp::FinishAll {
                outcome: JobOutcome {
                    ok: false,
                    message: ABORTED_REINIT.to_string(),
                    at_ms: round.now,
                },
            });
        }
    }

    fn plan_global_stop(
        &self,
        state: &ClusterState,
        st: SupvisorsState,
        round: &mut Round,
    ) -> Option<SupvisorsState> {
        let (then, end) = if st == SupvisorsState::Restarting {
            (FinalAction::Restart, SupvisorsState::Restart)
        } else {
            (FinalAction::Shutdown, SupvisorsState::Shutdown)
        };
        let mut stopping = false;
        for job in state.jobs().running() {
            if is_global_stop(&job.kind) {
                stopping = true;
                self.plan_job(state, job, round);
            } else {
                round.ops.push(JobOp::Finish {
                    job: job.id,
                    outcome: JobOutcome {
                        ok: false,
                        message: ABORTED_STOPPING.to_string(),
                        at_ms: round.now,
                    },
                });
            }
        }
        if stopping {
            return None;
        }
        // A global stop of this life is newer than the life's Deployment (marker) job.
        let last_stop = latest(state, is_global_stop).map(|j| j.id);
        let last_deploy = latest(state, is_deployment).map(|j| j.id);
        let done = match (last_stop, last_deploy) {
            (Some(s), Some(d)) => s > d,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if !done {
            round
                .ops
                .push(JobOp::Create(self.global_stop(state, then, "", round.now)));
            return None;
        }
        let leader = self.settings.local.as_str();
        let mut running: Vec<&str> = state
            .instances()
            .filter(|(id, r)| r.state == data::InstanceState::Running && *id != leader)
            .map(|(id, _)| id)
            .collect();
        if self.is_running_instance(state, leader) {
            running.push(leader);
        }
        for instance in running {
            round.orders.push(Order::Final {
                instance: instance.to_string(),
                action: then,
            });
        }
        Some(end)
    }

    fn plan_transitions(
        &self,
        state: &ClusterState,
        st: SupvisorsState,
        round: &mut Round,
    ) -> Option<SupvisorsState> {
        let idle = state.jobs().running().next().is_none() && !round.creates();
        match st {
            SupvisorsState::Deployment => {
                let this_life = |j: &Job| j.id >= state.life_first_job();
                if state
                    .jobs()
                    .running()
                    .any(|j| is_deployment(&j.kind) && this_life(j))
                {
                    return None;
                }
                match latest(state, is_deployment) {
                    // The Deployment job of this life is over (a previous life's, even one
                    // that ended normally, says nothing about what runs now).
                    Some(j) if this_life(j) && !is_reinit_marker(j) => {
                        Some(SupvisorsState::Operation)
                    }
                    _ => {
                        round
                            .ops
                            .push(JobOp::Create(self.deployment(state, false, "", round.now)));
                        None
                    }
                }
            }
            SupvisorsState::Operation if idle && !self.conflicts(state).is_empty() => {
                self.push_conciliation(state, round);
                Some(SupvisorsState::Conciliation)
            }
            // An instance joined: repair what could not be started, through DEPLOYMENT as
            // Supvisors does — unless there is nothing to repair, when the (empty) job only
            // clears the mark and the cluster stays in OPERATION.
            SupvisorsState::Operation if idle && state.redeploy_pending() => {
                let job = self.repair_deployment(state, round.now);
                let repairs = !job.items.is_empty();
                round.ops.push(JobOp::Create(job));
                repairs.then_some(SupvisorsState::Deployment)
            }
            SupvisorsState::Conciliation if idle => {
                if self.conflicts(state).is_empty() {
                    Some(SupvisorsState::Operation)
                } else {
                    self.push_conciliation(state, round);
                    None
                }
            }
            _ => None,
        }
    }

    fn push_conciliation(&self, state: &ClusterState, round: &mut Round) {
        let strategy = self.settings.conciliation_strategy;
        if strategy == ConciliationStrategy::User {
            return;
        }
        if let Some(job) = self.conciliate(state, strategy, "", round.now) {
            round.ops.push(JobOp::Create(job));
        }
    }

    /// The instance LOCAL means for `job`: the requester's (a user's `start_process LOCAL`
    /// lands where it was asked), or the leader's for its own jobs (DEPLOYMENT, failures,
    /// conciliation), as Supvisors sends automatic LOCAL starts to the Master.
    fn local_of<'a>(&'a self, job: &'a Job) -> &'a str {
        if job.requested_by.is_empty() {
            &self.settings.local
        } else {
            &job.requested_by
        }
    }

    /// The instance a SINGLE_INSTANCE / SINGLE_NODE track is pinned to: the application
    /// identifiers that are RUNNING and can host every start item, chosen by the items'
    /// strategy for the sum of their expected loads. Where the application already has live
    /// processes on one such instance, that instance: a start caught by a fault (a sequence
    /// resumed by a new leader, a deployment after a full restart while a process it had
    /// started still runs) must not split the application, its first process on one
    /// instance and the rest on another (seen in the chaos suite's repeated leader kills).
    pub(crate) fn choose_pin<'a>(
        &self,
        state: &ClusterState,
        track: &Track,
        items: impl Iterator<Item = &'a Item>,
        loads: &Loads,
        local: &str,
    ) -> Option<String> {
        let rules = self.rules.application_rules(&track.application)?;
        let mut strategy = None;
        let mut expected = 0u32;
        let mut namespecs = Vec::new();
        for item in items {
            if let ItemAction::Start {
                strategy: s,
                expected_loading,
                ..
            } = &item.action
            {
                strategy.get_or_insert(*s);
                expected += u32::from(*expected_loading);
                namespecs.push(item.namespec.as_str());
            }
        }
        let candidates: Vec<String> = rules
            .identifiers
            .candidates(&self.settings.instances, None)
            .into_iter()
            .filter(|c| {
                namespecs.iter().all(|ns| {
                    let (_, name) = self.names_of(state, ns);
                    self.can_host(state, c, ns, &name)
                })
            })
            .collect();
        let live: BTreeSet<String> = self
            .app_processes(state, &track.application)
            .iter()
            .flat_map(|(_, ns)| self.live_on(state, ns))
            .collect();
        if let [already] = &live.into_iter().collect::<Vec<_>>()[..] {
            if candidates.contains(already) {
                return Some(already.clone());
            }
        }
        self.choose(
            strategy.unwrap_or(rules.starting_strategy),
            &candidates,
            loads,
            expected,
            local,
        )
    }

    /// Where a process of a pinned track goes: the pinned instance (SINGLE_INSTANCE, no
    /// per-process load check), or one of its node's candidates chosen by `strategy`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn place_with_pin(
        &self,
        state: &ClusterState,
        track: &Track,
        pin: &str,
        namespec: &str,
        name: &str,
        strategy: StartingStrategy,
        loads: &Loads,
        expected: u32,
        local: &str,
    ) -> Option<String> {
        match track.distribution {
            DistributionRule::SingleInstance => self
                .can_host(state, pin, namespec, name)
                .then(|| pin.to_string()),
            DistributionRule::SingleNode | DistributionRule::AllInstances => {
                // The application identifiers apply (program identifiers are ignored when the
                // distribution is not ALL_INSTANCES), restricted to the pinned node.
                let node = self.node_of(pin);
                let identifiers = self
                    .rules
                    .application_rules(&track.application)
                    .map_or(model::rules::Identifiers::All, |r| r.identifiers);
                let candidates: Vec<String> = identifiers
                    .candidates(&self.settings.instances, None)
                    .into_iter()
                    .filter(|c| self.node_of(c) == node && self.can_host(state, c, namespec, name))
                    .collect();
                self.choose(strategy, &candidates, loads, expected, local)
            }
        }
    }

    /// Advances one running job by one step of each track of its current stage.
    pub(crate) fn plan_job(&self, state: &ClusterState, job: &Job, round: &mut Round) {
        let unfinished = |i: &&Item| !i.state.is_finished();
        if job.items.iter().all(|i| i.state.is_finished()) {
            let (ok, message) = self.outcome(state, job);
            round.ops.push(JobOp::Finish {
                job: job.id,
                outcome: JobOutcome {
                    ok,
                    message,
                    at_ms: round.now,
                },
            });
            return;
        }
        // Items pointing at no track could never run: drop them.
        for (idx, item) in job.items.iter().enumerate() {
            if !item.state.is_finished() && job.tracks.get(item.track as usize).is_none() {
                round.ops.push(JobOp::SetItem {
                    at: ItemRef {
                        job: job.id,
                        item: idx as u32,
                    },
                    state: ItemState::Skipped,
                });
            }
        }
        let Some(stage) = job
            .items
            .iter()
            .filter(unfinished)
            .filter_map(|i| job.tracks.get(i.track as usize).map(|t| t.stage))
            .min()
        else {
            return;
        };
        let local = self.local_of(job);
        for (ti, track) in job.tracks.iter().enumerate() {
            if track.stage != stage {
                continue;
            }
            let ti = ti as u32;
            let Some(step) = job
                .items
                .iter()
                .filter(|i| i.track == ti && !i.state.is_finished())
                .map(|i| i.step)
                .min()
            else {
                continue;
            };
            let mut pin = track.pinned.clone();
            let pending_start = |i: &Item| {
                i.track == ti
                    && i.state == ItemState::Pending
                    && matches!(i.action, ItemAction::Start { .. })
            };
            // An automatic job's track whose instance was lost since it was pinned (its
            // starts there placed again, see `places_again`) is pinned anew: kept, the pin
            // would fail them for want of that instance and leave the application down.
            let pin_lost = pin.as_deref().is_some_and(|p| {
                Self::is_automatic(job)
                    && !self.is_running_instance(state, p)
                    && !state.loss_pending(p)
            });
            if track.distribution != DistributionRule::AllInstances
                && (pin.is_none() || pin_lost)
                && !track.aborted
                && job.items.iter().any(pending_start)
            {
                let items = job.items.iter().filter(|i| i.track == ti);
                match self.choose_pin(state, track, items, &round.loads, local) {
                    Some(p) => {
                        round.ops.push(JobOp::Pin {
                            job: job.id,
                            track: ti,
                            instance: p.clone(),
                        });
                        pin = Some(p);
                    }
                    None => {
                        let pending: Vec<usize> = (0..job.items.len())
                            .filter(|&i| pending_start(&job.items[i]))
                            .collect();
                        for idx in pending {
                            self.fail_item(state, job, idx, NO_RESOURCE, round);
                        }
                        continue;
                    }
                }
            }
            for idx in 0..job.items.len() {
                let item = &job.items[idx];
                if item.track != ti || item.step != step || item.state.is_finished() {
                    continue;
                }
                self.plan_item(state, job, track, pin.as_deref(), idx, round);
            }
        }
    }

    fn set(round: &mut Round, job: &Job, idx: usize, state: ItemState) {
        round.ops.push(JobOp::SetItem {
            at: ItemRef {
                job: job.id,
                item: idx as u32,
            },
            state,
        });
    }

    /// Whether a start placed on an instance that was then lost goes back to be placed again
    /// rather than failing. Only for the jobs nobody asked for, the running failure strategies
    /// and DEPLOYMENT, and only when the item is not bound to that instance: their start
    /// failed because of the instance, not of the program, and failing it would leave the
    /// application down after the fault (a restart caught by a second fault, as flapping
    /// links or packet loss do: found by chaos/). A start a user asked for fails as in
    /// Supvisors (`on_nodes_invalidation`: a starting failure), and the user decides.
    fn places_again(job: &Job, item: &Item) -> bool {
        Self::is_automatic(job) && matches!(item.action, ItemAction::Start { on: None, .. })
    }

    /// A job nobody asked for: a running failure strategy's, or DEPLOYMENT.
    fn is_automatic(job: &Job) -> bool {
        matches!(
            job.kind,
            JobKind::RunningFailure { .. } | JobKind::Deployment { .. }
        )
    }

    /// Puts a placed start back to be placed again (see [`Self::places_again`]), saying why.
    fn place_again(round: &mut Round, job: &Job, idx: usize, instance: &str, why: &str) {
        tracing::info!(
            job = job.id,
            namespec = %job.items[idx].namespec,
            instance,
            why,
            "placing a start again"
        );
        Self::set(round, job, idx, ItemState::Pending);
    }

    /// Marks an item failed and applies the track's starting failure strategy when it is a
    /// required start (once per track and round).
    fn fail_item(
        &self,
        state: &ClusterState,
        job: &Job,
        idx: usize,
        reason: &str,
        round: &mut Round,
    ) {
        let item = &job.items[idx];
        Self::set(
            round,
            job,
            idx,
            ItemState::Failed {
                reason: reason.to_string(),
            },
        );
        tracing::info!(job = job.id, namespec = %item.namespec, reason, "job item failed");
        let required = matches!(item.action, ItemAction::Start { required: true, .. });
        let Some(track) = job.tracks.get(item.track as usize) else {
            return;
        };
        if !required || track.aborted || !round.aborted.insert((job.id, item.track)) {
            return;
        }
        match track.starting_failure {
            StartingFailureStrategy::Continue => {
                round.aborted.remove(&(job.id, item.track));
            }
            StartingFailureStrategy::Abort => round.ops.push(JobOp::AbortTrack {
                job: job.id,
                track: item.track,
            }),
            StartingFailureStrategy::Stop => {
                round.ops.push(JobOp::AbortTrack {
                    job: job.id,
                    track: item.track,
                });
                let items = self.app_stop_items(state, &track.application, 0, false);
                let mut stop = self.app_track(&track.application, track.stage + 1);
                stop.starting_failure = StartingFailureStrategy::Continue;
                round.ops.push(JobOp::Extend {
                    job: job.id,
                    tracks: vec![stop],
                    items,
                });
            }
        }
    }

    fn plan_item(
        &self,
        state: &ClusterState,
        job: &Job,
        track: &Track,
        pin: Option<&str>,
        idx: usize,
        round: &mut Round,
    ) {
        let item = &job.items[idx];
        let ns = item.namespec.as_str();
        match (&item.action, &item.state) {
            (
                ItemAction::Start {
                    strategy,
                    expected_loading,
                    on,
                    ..
                },
                ItemState::Pending,
            ) => {
                if track.aborted || round.aborted.contains(&(job.id, item.track)) {
                    return;
                }
                if !self.running_on(state, ns).is_empty() {
                    return Self::set(round, job, idx, ItemState::Skipped);
                }
                if !self.live_on(state, ns).is_empty() {
                    return; // still stopping somewhere: start once it is stopped
                }
                // Another job placed it and its start is under way: wait for the outcome (it
                // becomes Skipped here once running, or is placed again if that start fails).
                if round.placing.contains(ns) || placed_by_other_job(state, job.id, ns) {
                    return;
                }
                let (group, name) = self.names_of(state, ns);
                let expected = u32::from(*expected_loading);
                let local = self.local_of(job);
                let target = match (on, pin) {
                    (Some(on), _) => self.can_host(state, on, ns, &name).then(|| on.clone()),
                    (None, Some(pin)) => self.place_with_pin(
                        state,
                        track,
                        pin,
                        ns,
                        &name,
                        *strategy,
                        &round.loads,
                        expected,
                        local,
                    ),
                    (None, None) => {
                        let candidates = self.process_candidates(state, ns, &group, &name);
                        self.choose(*strategy, &candidates, &round.loads, expected, local)
                    }
                };
                match target {
                    Some(instance) => {
                        let seen = state
                            .instance(&instance)
                            .and_then(|r| r.processes.get(ns))
                            .map(|r| r.seq);
                        *round.loads.entry(instance.clone()).or_default() += expected;
                        round.placing.insert(ns.to_string());
                        Self::set(
                            round,
                            job,
                            idx,
                            ItemState::Placed {
                                instance,
                                seen,
                                at_ms: round.now,
                            },
                        );
                    }
                    None => self.fail_item(state, job, idx, NO_RESOURCE, round),
                }
            }
            (
                ItemAction::Start {
                    extra_args,
                    wait_exit,
                    ..
                },
                ItemState::Placed {
                    instance,
                    seen,
                    at_ms,
                },
            ) => {
                let elapsed = round.waited(*at_ms);
                let again = Self::places_again(job, item);
                let record = state.instance(instance).and_then(|r| r.processes.get(ns));
                let newer = match (record, seen) {
                    (Some(r), Some(s)) => r.seq > *s,
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                // The instance reported that its fence stopped this process (it was cut off
                // from the quorum meanwhile): its start is over there, and the failure that
                // the report records is dropped for this unfinished item (`plan_failures`).
                let fenced = || {
                    state.jobs().failures().any(|f| {
                        f.kind == FailureKind::InstanceLost
                            && f.instance == *instance
                            && f.namespec == ns
                    })
                };
                if again && fenced() {
                    return Self::place_again(round, job, idx, instance, "fenced there");
                }
                if !self.is_running_instance(state, instance) {
                    // SILENT but not declared lost: it may be cut off with this start under
                    // way there, until its fence has stopped it. Placed elsewhere now, the
                    // program could run twice: wait for the loss (or the instance's return).
                    if state.loss_pending(instance) {
                        return;
                    }
                    if again {
                        return Self::place_again(round, job, idx, instance, "instance lost");
                    }
                    return self.fail_item(state, job, idx, &lost_spawnerr(instance), round);
                }
                // A newer record that shows no start since the order was placed is not its
                // outcome: a full snapshot the instance took just before the order arrived
                // (joining, or asked for by the leader), committed just after it. Only a start
                // at or after the order (one second of clock skew between hosts allowed) says
                // what became of it.
                let answered = |r: &&data::state::ProcessRecord| {
                    !r.status.state.is_stopped()
                        || r.status.start.saturating_mul(1000)
                            >= at_ms.saturating_sub(START_SKEW_MS)
                };
                let Some(record) = record.filter(|_| newer).filter(answered) else {
                    // No answer from a RUNNING instance: the order or its events were lost
                    // (raftvisord's own process manager answers a delivered start at once,
                    // STARTING or a spawn error), as under packet loss, where failing the
                    // start left the application down for good (chaos/). An automatic job
                    // renews the placement on the same instance, whose next order either
                    // starts the process or is refused as already started (which asks that
                    // instance for a full sync): placed anywhere else, a start whose events
                    // alone were lost would run twice. A user's start fails as in Supvisors.
                    if elapsed > STARTING_TIMEOUT_MS && again {
                        tracing::info!(
                            job = job.id,
                            namespec = %ns,
                            instance = %instance,
                            "no answer to a start order: sent again"
                        );
                        Self::set(
                            round,
                            job,
                            idx,
                            ItemState::Placed {
                                instance: instance.clone(),
                                seen: *seen,
                                at_ms: round.now,
                            },
                        );
                    } else if elapsed > STARTING_TIMEOUT_MS {
                        self.fail_item(
                            state,
                            job,
                            idx,
                            "process STARTING event not received in time",
                            round,
                        );
                    } else {
                        round.orders.push(Order::Start {
                            instance: instance.clone(),
                            namespec: ns.to_string(),
                            extra_args: extra_args.clone(),
                        });
                    }
                    return;
                };
                let status = &record.status;
                match status.state {
                    ProcessState::Running if *wait_exit => {}
                    ProcessState::Running => Self::set(round, job, idx, ItemState::Done),
                    ProcessState::Starting | ProcessState::Backoff => {
                        let limit =
                            i64::from(self.catalog.startsecs(ns)) * 1000 + RUNNING_MARGIN_MS;
                        if elapsed > limit {
                            self.fail_item(
                                state,
                                job,
                                idx,
                                "process RUNNING event not received in time",
                                round,
                            );
                        }
                    }
                    ProcessState::Exited if status.expected => {
                        Self::set(round, job, idx, ItemState::Done)
                    }
                    ProcessState::Fatal if again && status.spawnerr == lost_spawnerr(instance) => {
                        Self::place_again(round, job, idx, instance, "its process marked lost")
                    }
                    // Started by this order, then stopped by someone (not ended by itself:
                    // that is EXITED or FATAL), with no stop of the cluster's under way: the
                    // fence of an instance cut off meanwhile, which may not get to report it
                    // (the majority declared the instance lost first).
                    ProcessState::Stopped if again && !stopped_by_a_job(state, ns) => {
                        Self::place_again(round, job, idx, instance, "stopped outside any job")
                    }
                    other => {
                        let mut reason = format!("{other} on {instance}");
                        if !status.spawnerr.is_empty() {
                            reason.push_str(": ");
                            reason.push_str(&status.spawnerr);
                        }
                        self.fail_item(state, job, idx, &reason, round);
                    }
                }
            }
            (ItemAction::Stop { on }, ItemState::Pending | ItemState::Stopping { .. }) => {
                let within = |ids: Vec<String>| -> Vec<String> {
                    ids.into_iter()
                        .filter(|i| on.as_ref().is_none_or(|o| o == i))
                        .collect()
                };
                if within(self.live_on(state, ns)).is_empty() {
                    return Self::set(round, job, idx, ItemState::Done);
                }
                if let ItemState::Stopping { at_ms } = item.state {
                    let limit = i64::from(self.catalog.stopwaitsecs(ns)) * 1000 + STOPPED_MARGIN_MS;
                    if round.waited(at_ms) > limit {
                        return self.fail_item(
                            state,
                            job,
                            idx,
                            "process STOPPED event not received in time",
                            round,
                        );
                    }
                } else {
                    Self::set(round, job, idx, ItemState::Stopping { at_ms: round.now });
                }
                for instance in within(self.running_on(state, ns)) {
                    round.orders.push(Order::Stop {
                        instance,
                        namespec: ns.to_string(),
                    });
                }
            }
            // Finished items are filtered out by the caller; a start item cannot be Stopping
            // nor a stop item Placed: leave such inconsistent items alone.
            _ => {}
        }
    }

    /// Whether a finished job reached its goal, and why not.
    fn outcome(&self, state: &ClusterState, job: &Job) -> (bool, String) {
        let failed: Vec<String> = job
            .items
            .iter()
            .filter_map(|i| match (&i.state, &i.action) {
                (ItemState::Failed { reason }, ItemAction::Start { required: true, .. })
                | (ItemState::Failed { reason }, ItemAction::Stop { .. }) => {
                    Some(format!("{}: {}", i.namespec, reason))
                }
                _ => None,
            })
            .collect();
        match &job.kind {
            JobKind::StartApplication { application, .. }
            | JobKind::RestartApplication { application, .. } => {
                let running = self
                    .application(state, application)
                    .is_some_and(|a| a.state == crate::ApplicationState::Running);
                if running && failed.is_empty() {
                    return (true, String::new());
                }
                let mut parts = Vec::new();
                if !running {
                    parts.push(format!("application {application} not RUNNING"));
                }
                if !failed.is_empty() {
                    parts.push(failed.join("; "));
                }
                (false, parts.join(": "))
            }
            _ => (failed.is_empty(), failed.join("; ")),
        }
    }
}

/// Drops every pending failure (states where no running failure strategy applies).
fn ack_all(state: &ClusterState, round: &mut Round) {
    if let Some(last) = state.jobs().failures().last() {
        round.ops.push(JobOp::AckFailures { upto: last.id });
    }
}
