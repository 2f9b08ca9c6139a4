//! Conciliation (docs/supvisors.md, 'Conciliation'): jobs that end conflicts, i.e. processes of
//! managed applications running-like on more than one instance.
//!
//! Uptime is read from the `start` date each instance reported (epoch seconds of that
//! instance's clock): the replica has no monotonic uptime. SENICIDE keeps the latest start,
//! INFANTICIDE the earliest; ties keep the first instance in identifier order.
//!
//! RUNNING_FAILURE: after stopping every instance of the process, its running failure
//! strategy applies as for a failure: RESTART_PROCESS starts it again, RESTART_APPLICATION
//! restarts the application, STOP_APPLICATION stops it; CONTINUE, RESTART and SHUTDOWN only
//! stop it (a conflict is not a reason to stop the whole cluster).

use crate::synth::SyntheticProcess;
use crate::Commander;
use data::{ClusterState, Item, ItemAction, ItemState, Job, JobKind};
use model::make_namespec;
use model::rules::RunningFailureStrategy;
use model::supvisors::ConciliationStrategy;
use std::collections::{BTreeMap, BTreeSet};

impl Commander {
    /// The job applying `strategy` to every conflict; `None` for USER or when there is none.
    pub fn conciliate(
        &self,
        state: &ClusterState,
        strategy: ConciliationStrategy,
        requested_by: &str,
        now_ms: i64,
    ) -> Option<Job> {
        if strategy == ConciliationStrategy::User {
            return None;
        }
        let conflicts = self.conflicts(state);
        if conflicts.is_empty() {
            return None;
        }
        let mut by_app: BTreeMap<String, Vec<SyntheticProcess>> = BTreeMap::new();
        for p in conflicts {
            by_app
                .entry(p.application_name.clone())
                .or_default()
                .push(p);
        }
        let mut job = Job::new(JobKind::Conciliate { strategy }, requested_by, now_ms);
        for (application, processes) in by_app {
            self.conciliate_application(state, strategy, &application, &processes, &mut job);
        }
        Some(job)
    }

    fn conciliate_application(
        &self,
        state: &ClusterState,
        strategy: ConciliationStrategy,
        application: &str,
        processes: &[SyntheticProcess],
        job: &mut Job,
    ) {
        let start_strategy = self.app_strategy(application);
        // (namespec, on) of the stop items, and the process names to start afterwards.
        let mut stops: BTreeSet<(String, Option<String>)> = BTreeSet::new();
        let mut starts: Vec<String> = Vec::new();
        let mut whole_app_stop = false;
        let mut whole_app_restart = false;
        for p in processes {
            let ns = make_namespec(application, &p.process_name);
            let running = self.running_on(state, &ns);
            match strategy {
                ConciliationStrategy::Senicide | ConciliationStrategy::Infanticide => {
                    let start_of = |id: &String| state.process(id, &ns).map_or(0, |s| s.start);
                    let mut keep: Option<&String> = None;
                    for id in &running {
                        let better = keep.is_none_or(|k| {
                            if strategy == ConciliationStrategy::Senicide {
                                start_of(id) > start_of(k)
                            } else {
                                start_of(id) < start_of(k)
                            }
                        });
                        if better {
                            keep = Some(id);
                        }
                    }
                    for id in running.iter().filter(|id| Some(*id) != keep) {
                        stops.insert((ns.clone(), Some(id.clone())));
                    }
                }
                ConciliationStrategy::Stop => {
                    stops.insert((ns, None));
                }
                ConciliationStrategy::Restart => {
                    stops.insert((ns, None));
                    starts.push(p.process_name.clone());
                }
                ConciliationStrategy::RunningFailure => {
                    stops.insert((ns, None));
                    match self
                        .rules
                        .program_rules(application, &p.process_name)
                        .running_failure_strategy
                    {
                        RunningFailureStrategy::RestartProcess => {
                            starts.push(p.process_name.clone())
                        }
                        RunningFailureStrategy::RestartApplication => whole_app_restart = true,
                        RunningFailureStrategy::StopApplication => whole_app_stop = true,
                        RunningFailureStrategy::Continue
                        | RunningFailureStrategy::Restart
                        | RunningFailureStrategy::Shutdown => {}
                    }
                }
                ConciliationStrategy::User => {}
            }
        }
        if whole_app_stop || whole_app_restart {
            self.push_app_stop(job, state, application, 0);
            if !whole_app_stop {
                self.push_app_start(job, state, application, 1, start_strategy);
            }
            return;
        }
        if !stops.is_empty() {
            let track = job.tracks.len() as u32;
            job.tracks.push(self.app_track(application, 0));
            for (namespec, on) in stops {
                let step = crate::build::stop_step(
                    self.rules
                        .program_rules(application, &self.names_of(state, &namespec).1)
                        .stop_sequence,
                );
                job.items.push(Item {
                    track,
                    step,
                    namespec,
                    action: ItemAction::Stop { on },
                    state: ItemState::Pending,
                });
            }
        }
        if !starts.is_empty() {
            let track = job.tracks.len() as u32;
            let mut t = self.app_track(application, 1);
            t.distribution = model::rules::DistributionRule::AllInstances;
            job.tracks.push(t);
            for name in starts {
                let ns = make_namespec(application, &name);
                let args = state.jobs().extra_args(&ns).to_string();
                job.items.push(self.start_item(
                    track,
                    0,
                    application,
                    &name,
                    start_strategy,
                    &args,
                    false,
                    None,
                ));
            }
        }
    }
}
