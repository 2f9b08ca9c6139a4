//! Running failure strategies (docs/supvisors.md, 'Running failure strategies'), applied by the
//! leader to the failures the state machine recorded (crashes and instance losses).
//!
//! Deliberate difference with Supvisors: on an *instance loss*, SHUTDOWN and RESTART are
//! applied too (Supvisors only handles them on a crash). A process whose instance vanished is
//! as failed as one that crashed, and with a replicated state nothing is lost by acting.
//!
//! RESTART_PROCESS after a *crash* is only acted upon when Supervisor will not restart the
//! process itself: it ended FATAL, or its program has `autorestart=false`. After an instance
//! loss it is always acted upon (unless the process runs elsewhere).
//!
//! The fence policy ([`Commander::fence_policy`]) is the other side of the same rules: what an
//! instance cut off from the quorum must stop, because the majority, once it declares that
//! instance lost, will restart it elsewhere by these strategies.

use crate::plan::Round;
use crate::Commander;
use data::{ClusterState, FailureKind, FinalAction, Job, JobKind, JobOp, SupvisorsState};
use model::rules::RunningFailureStrategy;
use model::ProcessState;
use std::collections::{BTreeMap, BTreeSet};

/// What one application gets this round, by increasing precedence (docs/supvisors.md,
/// 'Running failure strategies').
#[derive(Debug, Default)]
struct Decision {
    /// Process names to restart (RESTART_PROCESS).
    restart_processes: Vec<String>,
    restart_application: bool,
    stop_application: bool,
}

impl Commander {
    /// Handles pending failures in order; returns RESTARTING/SHUTTING_DOWN when a failure
    /// calls for a global stop. Failures of an application that has a running job of its
    /// own (and are not an unfinished item of it) wait for that job to end: the first such
    /// failure holds the ones behind it, so that acknowledging `upto` never drops an
    /// unhandled one. Behind it, only the failures nothing acts upon are dropped (by id):
    /// those of an unfinished item, which its job handles (a fence report places its start
    /// again, and must not be found again at the next round).
    pub(crate) fn plan_failures(
        &self,
        state: &ClusterState,
        round: &mut Round,
    ) -> Option<SupvisorsState> {
        let mut upto = None;
        let mut held = false;
        let mut dropped = Vec::new();
        let mut decisions: BTreeMap<String, Decision> = BTreeMap::new();
        let mut global = None;
        for failure in state.jobs().failures() {
            let ns = failure.namespec.as_str();
            let (group, name) = self.names_of(state, ns);
            let in_job = state.jobs().running().any(|j| {
                j.items
                    .iter()
                    .any(|i| i.namespec == ns && !i.state.is_finished())
            });
            if in_job || !self.rules.is_managed(&group) {
                if held {
                    dropped.push(failure.id);
                } else {
                    upto = Some(failure.id);
                }
                continue;
            }
            let app_busy = state
                .jobs()
                .running()
                .any(|j| j.tracks.iter().any(|t| t.application == group));
            if held || app_busy {
                held = true;
                continue;
            }
            upto = Some(failure.id);
            let strategy = self
                .rules
                .program_rules(&group, &name)
                .running_failure_strategy;
            match strategy {
                RunningFailureStrategy::Continue => {}
                RunningFailureStrategy::Restart => {
                    global = Some(FinalAction::Restart);
                    break;
                }
                RunningFailureStrategy::Shutdown => {
                    global = Some(FinalAction::Shutdown);
                    break;
                }
                RunningFailureStrategy::StopApplication => {
                    decisions.entry(group).or_default().stop_application = true;
                }
                RunningFailureStrategy::RestartApplication => {
                    decisions.entry(group).or_default().restart_application = true;
                }
                RunningFailureStrategy::RestartProcess => {
                    let local_restart = failure.kind == FailureKind::Crash
                        && failure.state != ProcessState::Fatal
                        && self.catalog.autorestart(ns);
                    if !local_restart && self.running_on(state, ns).is_empty() {
                        decisions
                            .entry(group)
                            .or_default()
                            .restart_processes
                            .push(name);
                    }
                }
            }
        }
        if let Some(then) = global {
            // Everything else is moot: the whole cluster stops.
            if let Some(last) = state.jobs().failures().last() {
                round.ops.push(JobOp::AckFailures { upto: last.id });
            }
            round
                .ops
                .push(JobOp::Create(self.global_stop(state, then, "", round.now)));
            return Some(match then {
                FinalAction::Restart => SupvisorsState::Restarting,
                FinalAction::Shutdown => SupvisorsState::ShuttingDown,
            });
        }
        for (application, decision) in decisions {
            if let Some(job) = self.failure_job(state, &application, decision, round.now) {
                round.ops.push(JobOp::Create(job));
            }
        }
        if let Some(upto) = upto {
            round.ops.push(JobOp::AckFailures { upto });
        }
        if !dropped.is_empty() {
            round.ops.push(JobOp::DropFailures { ids: dropped });
        }
        None
    }

    fn failure_job(
        &self,
        state: &ClusterState,
        application: &str,
        decision: Decision,
        now_ms: i64,
    ) -> Option<Job> {
        let mut job = Job::new(
            JobKind::RunningFailure {
                application: application.to_string(),
            },
            "",
            now_ms,
        );
        let strategy = self.app_strategy(application);
        if decision.stop_application {
            self.push_app_stop(&mut job, state, application, 0);
        } else if decision.restart_application || self.promoted(state, application, &decision) {
            self.push_app_stop(&mut job, state, application, 0);
            self.push_app_start(&mut job, state, application, 1, strategy);
        } else if !decision.restart_processes.is_empty() {
            // Placed by the application's distribution, not each where its strategy alone
            // would put it (seen in the chaos suite: two fences in a row left `seq` split
            // over two hosts for good).
            let track = job.tracks.len() as u32;
            job.tracks.push(self.process_start_track(application, 0));
            for name in &decision.restart_processes {
                let ns = model::make_namespec(application, name);
                let args = state.jobs().extra_args(&ns).to_string();
                // The process is stopped (checked above): no stop stage needed.
                job.items.push(self.start_item(
                    track,
                    0,
                    application,
                    name,
                    strategy,
                    &args,
                    false,
                    None,
                ));
            }
        }
        (!job.items.is_empty()).then_some(job)
    }

    /// RESTART_PROCESS becomes RESTART_APPLICATION when the application is now fully
    /// stopped and one of the processes belongs to its start sequence.
    fn promoted(&self, state: &ClusterState, application: &str, decision: &Decision) -> bool {
        let fully_stopped = self
            .app_processes(state, application)
            .iter()
            .all(|(_, ns)| self.live_on(state, ns).is_empty());
        fully_stopped
            && decision
                .restart_processes
                .iter()
                .any(|n| self.rules.program_rules(application, n).start_sequence > 0)
    }
}

impl Commander {
    /// Namespecs that `instance`, cut off from the quorum, must stop (`no_quorum_policy =
    /// stop_movable`): of `live` (what really runs there, from its own supervisor), the
    /// processes the majority restarts elsewhere once it declares the instance lost and
    /// `Commander::plan_failures` handles the loss of all of them at once:
    /// - RESTART_PROCESS: that process; the whole application when nothing of it is left
    ///   running elsewhere and one of them has a `start_sequence` (the promotion to
    ///   RESTART_APPLICATION);
    /// - RESTART_APPLICATION: every process of its application;
    /// - RESTART: every process (the whole cluster restarts, then deploys again);
    /// - CONTINUE, STOP_APPLICATION, SHUTDOWN: nothing (nothing replaces them).
    ///
    /// Only managed processes that another instance could host (a candidate by the rules that
    /// knows the process) are listed: stopping anything else would lose it for nothing.
    /// Sorted, without duplicates.
    pub fn fence_policy(
        &self,
        state: &ClusterState,
        instance: &str,
        live: &[String],
    ) -> Vec<String> {
        // Managed live processes by application: (namespec, name).
        let mut apps: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for namespec in live {
            let (group, name) = self.names_of(state, namespec);
            if self.rules.is_managed(&group) {
                apps.entry(group)
                    .or_default()
                    .push((namespec.clone(), name));
            }
        }
        let strategy = |group: &str, name: &str| {
            self.rules
                .program_rules(group, name)
                .running_failure_strategy
        };
        let global = apps.iter().any(|(group, procs)| {
            procs
                .iter()
                .any(|(_, name)| strategy(group, name) == RunningFailureStrategy::Restart)
        });
        let mut out = BTreeSet::new();
        for (group, procs) in &apps {
            let restarted_here = |name: &str| {
                matches!(
                    strategy(group, name),
                    RunningFailureStrategy::RestartProcess
                )
            };
            let whole_app = global
                || procs.iter().any(|(_, name)| {
                    strategy(group, name) == RunningFailureStrategy::RestartApplication
                })
                || (self.nothing_left_elsewhere(state, group, instance)
                    && procs.iter().any(|(_, name)| {
                        restarted_here(name)
                            && self.rules.program_rules(group, name).start_sequence > 0
                    }));
            for (namespec, name) in procs {
                if (whole_app || restarted_here(name))
                    && self.hostable_elsewhere(state, group, name, namespec, instance)
                {
                    out.insert(namespec.clone());
                }
            }
        }
        out.into_iter().collect()
    }

    /// No process of `application` is live on an instance other than `instance`.
    fn nothing_left_elsewhere(
        &self,
        state: &ClusterState,
        application: &str,
        instance: &str,
    ) -> bool {
        self.app_processes(state, application)
            .iter()
            .all(|(_, ns)| self.live_on(state, ns).iter().all(|i| i == instance))
    }

    /// Another instance is a candidate for the process by the rules and knows it.
    fn hostable_elsewhere(
        &self,
        state: &ClusterState,
        group: &str,
        name: &str,
        namespec: &str,
        instance: &str,
    ) -> bool {
        self.rules
            .program_rules(group, name)
            .candidates(
                &self.settings.instances,
                self.catalog.process_index(namespec),
            )
            .iter()
            .any(|c| {
                c != instance
                    && state
                        .instance(c)
                        .is_some_and(|r| r.processes.contains_key(namespec))
            })
    }
}
