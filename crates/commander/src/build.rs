//! Job builders: the jobs the XML-RPC front end creates for users (with Supvisors' faults), and
//! the shapes the planner reuses (application start/stop tracks, DEPLOYMENT, global stop).
//!
//! Step numbers: start steps are the programs' `start_sequence` (lowest first); stop steps are
//! `255 - stop_sequence`, so that the greatest stop_sequence runs first. Global stop stages use
//! the same trick with the applications' `stop_sequence`.

use crate::synth::{all_processes, processes_named};
use crate::{Commander, TestedProcess};
use data::{ClusterState, FinalAction, Item, ItemAction, ItemState, Job, JobKind, Track};
use model::rules::{DistributionRule, StartingFailureStrategy};
use model::supvisors::StartingStrategy;
use model::{make_namespec, Fault, FaultCode, ProcessState};

/// Reason of a start that found no instance (Supvisors' wording).
pub const NO_RESOURCE: &str = "no resource available";

/// Step of a stop item: greatest stop_sequence first.
pub(crate) fn stop_step(stop_sequence: u8) -> u32 {
    u32::from(u8::MAX - stop_sequence)
}

pub(crate) fn bad_application(application: &str) -> Fault {
    Fault::with(
        FaultCode::BadName,
        format!("application {application} unknown to Supvisors"),
    )
}

impl Commander {
    /// The track of `application` in `stage`, with its distribution and starting failure rules
    /// (unmanaged: ALL_INSTANCES, ABORT).
    pub(crate) fn app_track(&self, application: &str, stage: u32) -> Track {
        let rules = self.rules.application_rules(application);
        Track {
            stage,
            application: application.to_string(),
            distribution: rules
                .as_ref()
                .map_or(DistributionRule::AllInstances, |r| r.distribution),
            starting_failure: rules.as_ref().map_or(StartingFailureStrategy::Abort, |r| {
                r.starting_failure_strategy
            }),
            pinned: None,
            aborted: false,
        }
    }

    /// A track of single-process starts placed by their application's distribution, as
    /// Supvisors 0.14's `start_process` places them (an `ApplicationStartJobs` of the
    /// application): a SINGLE_INSTANCE application's program joins the instance where the rest
    /// of it runs (`choose_pin`). A failed start just ends its item.
    pub(crate) fn process_start_track(&self, application: &str, stage: u32) -> Track {
        Track {
            starting_failure: StartingFailureStrategy::Continue,
            ..self.app_track(application, stage)
        }
    }

    /// A track for single-process requests: placed per process, failures just end the item.
    fn process_track(application: &str, stage: u32) -> Track {
        Track {
            stage,
            application: application.to_string(),
            distribution: DistributionRule::AllInstances,
            starting_failure: StartingFailureStrategy::Continue,
            pinned: None,
            aborted: false,
        }
    }

    /// A start item for `group:name` with its program rules.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start_item(
        &self,
        track: u32,
        step: u32,
        group: &str,
        name: &str,
        strategy: StartingStrategy,
        extra_args: &str,
        sequenced: bool,
        on: Option<String>,
    ) -> Item {
        let rules = self.rules.program_rules(group, name);
        Item {
            track,
            step,
            namespec: make_namespec(group, name),
            action: ItemAction::Start {
                strategy,
                extra_args: extra_args.to_string(),
                // wait_exit and required only make sense within a sequence (docs/supvisors.md,
                // 'Sequences').
                wait_exit: sequenced && rules.wait_exit,
                required: !sequenced || rules.required,
                expected_loading: rules.expected_loading,
                on,
            },
            state: ItemState::Pending,
        }
    }

    /// Start items of the application's start sequence (programs with start_sequence > 0).
    pub(crate) fn app_start_items(
        &self,
        state: &ClusterState,
        application: &str,
        track: u32,
        strategy: StartingStrategy,
    ) -> Vec<Item> {
        self.app_processes(state, application)
            .into_iter()
            .filter_map(|(name, namespec)| {
                let seq = self.rules.program_rules(application, &name).start_sequence;
                (seq > 0).then(|| {
                    let args = state.jobs().extra_args(&namespec).to_string();
                    self.start_item(
                        track,
                        u32::from(seq),
                        application,
                        &name,
                        strategy,
                        &args,
                        true,
                        None,
                    )
                })
            })
            .collect()
    }

    /// Stop items of the application's processes (with a live child only, when `only_live`),
    /// greatest stop_sequence first.
    pub(crate) fn app_stop_items(
        &self,
        state: &ClusterState,
        application: &str,
        track: u32,
        only_live: bool,
    ) -> Vec<Item> {
        self.app_processes(state, application)
            .into_iter()
            .filter(|(_, namespec)| !only_live || !self.live_on(state, namespec).is_empty())
            .map(|(name, namespec)| Item {
                track,
                step: stop_step(self.rules.program_rules(application, &name).stop_sequence),
                namespec,
                action: ItemAction::Stop { on: None },
                state: ItemState::Pending,
            })
            .collect()
    }

    /// Appends an application's start track (stage `stage`) to `job`, if it has a sequence.
    pub(crate) fn push_app_start(
        &self,
        job: &mut Job,
        state: &ClusterState,
        application: &str,
        stage: u32,
        strategy: StartingStrategy,
    ) {
        let track = job.tracks.len() as u32;
        let items = self.app_start_items(state, application, track, strategy);
        if !items.is_empty() {
            job.tracks.push(self.app_track(application, stage));
            job.items.extend(items);
        }
    }

    /// Appends an application's stop track (stage `stage`) to `job`, if anything runs.
    pub(crate) fn push_app_stop(
        &self,
        job: &mut Job,
        state: &ClusterState,
        application: &str,
        stage: u32,
    ) {
        let track = job.tracks.len() as u32;
        let items = self.app_stop_items(state, application, track, true);
        if !items.is_empty() {
            job.tracks.push(self.app_track(application, stage));
            job.items.extend(items);
        }
    }

    /// The strategy an application starts with (its own, else the `starting_strategy` option).
    pub(crate) fn app_strategy(&self, application: &str) -> StartingStrategy {
        self.rules
            .application_entry(application)
            .and_then(|e| e.starting_strategy)
            .unwrap_or(self.settings.starting_strategy)
    }

    /// A checked managed application: BAD_NAME (`bare`: the name alone as extra, as
    /// Supvisors' start/stop_application do; else "application x unknown to Supvisors"),
    /// NOT_MANAGED.
    fn managed_application(
        &self,
        state: &ClusterState,
        application: &str,
        bare: bool,
    ) -> Result<crate::ApplicationStatus, Fault> {
        let status = self.application(state, application).ok_or_else(|| {
            if bare {
                Fault::with(FaultCode::BadName, application)
            } else {
                bad_application(application)
            }
        })?;
        if !status.managed {
            return Err(Fault::with(FaultCode::NotManaged, application));
        }
        Ok(status)
    }

    /// `start_application`: the application's start sequence. Faults: BAD_NAME, NOT_MANAGED,
    /// ALREADY_STARTED (application not STOPPED).
    pub fn start_application(
        &self,
        state: &ClusterState,
        strategy: StartingStrategy,
        application: &str,
        requested_by: &str,
        now_ms: i64,
    ) -> Result<Job, Fault> {
        let status = self.managed_application(state, application, true)?;
        if status.state != crate::ApplicationState::Stopped {
            return Err(Fault::with(FaultCode::AlreadyStarted, application));
        }
        let mut job = Job::new(
            JobKind::StartApplication {
                application: application.to_string(),
                strategy,
            },
            requested_by,
            now_ms,
        );
        self.push_app_start(&mut job, state, application, 0, strategy);
        Ok(job)
    }

    /// `stop_application`: the application's stop sequence. Faults: BAD_NAME, NOT_MANAGED,
    /// NOT_RUNNING (no process running-like).
    pub fn stop_application(
        &self,
        state: &ClusterState,
        application: &str,
        requested_by: &str,
        now_ms: i64,
    ) -> Result<Job, Fault> {
        self.managed_application(state, application, true)?;
        let any_running = self
            .app_processes(state, application)
            .iter()
            .any(|(_, ns)| !self.running_on(state, ns).is_empty());
        if !any_running {
            return Err(Fault::with(FaultCode::NotRunning, application));
        }
        let mut job = Job::new(
            JobKind::StopApplication {
                application: application.to_string(),
            },
            requested_by,
            now_ms,
        );
        self.push_app_stop(&mut job, state, application, 0);
        Ok(job)
    }

    /// `restart_application`: stop stage, then start stage. Faults: BAD_NAME, NOT_MANAGED.
    pub fn restart_application(
        &self,
        state: &ClusterState,
        strategy: StartingStrategy,
        application: &str,
        requested_by: &str,
        now_ms: i64,
    ) -> Result<Job, Fault> {
        self.managed_application(state, application, false)?;
        let mut job = Job::new(
            JobKind::RestartApplication {
                application: application.to_string(),
                strategy,
            },
            requested_by,
            now_ms,
        );
        self.push_app_stop(&mut job, state, application, 0);
        self.push_app_start(&mut job, state, application, 1, strategy);
        Ok(job)
    }

    /// `start_process` (`name`, `group:name` or `group:*`). Faults: BAD_NAME, ALREADY_STARTED
    /// (any target running-like). A process no instance can take fails at plan time.
    pub fn start_process(
        &self,
        state: &ClusterState,
        strategy: StartingStrategy,
        namespec: &str,
        extra_args: &str,
        requested_by: &str,
        now_ms: i64,
    ) -> Result<Job, Fault> {
        let targets = processes_named(state, namespec)?;
        for p in &targets {
            let ns = make_namespec(&p.application_name, &p.process_name);
            if !self.running_on(state, &ns).is_empty() {
                return Err(Fault::with(FaultCode::AlreadyStarted, ns));
            }
        }
        let mut job = Job::new(
            JobKind::StartProcess {
                namespec: namespec.to_string(),
                strategy,
                extra_args: extra_args.to_string(),
            },
            requested_by,
            now_ms,
        );
        self.push_process_starts(&mut job, &targets, 0, strategy, extra_args, None);
        Ok(job)
    }

    fn push_process_starts(
        &self,
        job: &mut Job,
        targets: &[crate::synth::SyntheticProcess],
        stage: u32,
        strategy: StartingStrategy,
        extra_args: &str,
        on: Option<String>,
    ) {
        let Some(first) = targets.first() else {
            return;
        };
        let track = job.tracks.len() as u32;
        // A start bound to one instance (`start_args`, which Supvisors runs on its own
        // supervisor) is not placed by the application's distribution.
        let placed = match on {
            None => self.process_start_track(&first.application_name, stage),
            Some(_) => Self::process_track(&first.application_name, stage),
        };
        job.tracks.push(placed);
        for p in targets {
            job.items.push(self.start_item(
                track,
                0,
                &p.application_name,
                &p.process_name,
                strategy,
                extra_args,
                false,
                on.clone(),
            ));
        }
    }

    fn push_process_stops(
        &self,
        job: &mut Job,
        state: &ClusterState,
        targets: &[crate::synth::SyntheticProcess],
        stage: u32,
    ) {
        let live: Vec<String> = targets
            .iter()
            .map(|p| make_namespec(&p.application_name, &p.process_name))
            .filter(|ns| !self.live_on(state, ns).is_empty())
            .collect();
        let Some(first) = targets.first() else {
            return;
        };
        if live.is_empty() {
            return;
        }
        let track = job.tracks.len() as u32;
        job.tracks
            .push(Self::process_track(&first.application_name, stage));
        for namespec in live {
            job.items.push(Item {
                track,
                step: 0,
                namespec,
                action: ItemAction::Stop { on: None },
                state: ItemState::Pending,
            });
        }
    }

    /// `start_any_process`: the first process (by application then name) whose namespec
    /// matches `regex` (anywhere, like Python's `re.search`), that is not running-like and that
    /// `strategy` can place now. Returns its namespec and the job. Fault: BAD_NAME.
    pub fn start_any_process(
        &self,
        state: &ClusterState,
        strategy: StartingStrategy,
        regex: &str,
        extra_args: &str,
        requested_by: &str,
        now_ms: i64,
    ) -> Result<(String, Job), Fault> {
        let re = regex::Regex::new(regex)
            .map_err(|e| Fault::with(FaultCode::BadName, format!("invalid regex {regex}: {e}")))?;
        let loads = self.loads(state);
        let local = if requested_by.is_empty() {
            self.settings.local.as_str()
        } else {
            requested_by
        };
        for p in all_processes(state) {
            let ns = make_namespec(&p.application_name, &p.process_name);
            if !re.is_match(&ns) || !self.running_on(state, &ns).is_empty() {
                continue;
            }
            let candidates =
                self.process_candidates(state, &ns, &p.application_name, &p.process_name);
            let expected = self
                .rules
                .program_rules(&p.application_name, &p.process_name)
                .expected_loading;
            if self
                .choose(strategy, &candidates, &loads, u32::from(expected), local)
                .is_some()
            {
                let job =
                    self.start_process(state, strategy, &ns, extra_args, requested_by, now_ms)?;
                return Ok((ns, job));
            }
        }
        Err(Fault::with(
            FaultCode::BadName,
            format!("no candidate process matching \"{regex}\""),
        ))
    }

    /// `stop_process`: stop wherever it runs. Faults: BAD_NAME, NOT_RUNNING (no target
    /// running-like).
    pub fn stop_process(
        &self,
        state: &ClusterState,
        namespec: &str,
        requested_by: &str,
        now_ms: i64,
    ) -> Result<Job, Fault> {
        let targets = processes_named(state, namespec)?;
        let any_running = targets.iter().any(|p| {
            !self
                .running_on(state, &make_namespec(&p.application_name, &p.process_name))
                .is_empty()
        });
        if !any_running {
            return Err(Fault::with(FaultCode::NotRunning, namespec));
        }
        let mut job = Job::new(
            JobKind::StopProcess {
                namespec: namespec.to_string(),
            },
            requested_by,
            now_ms,
        );
        self.push_process_stops(&mut job, state, &targets, 0);
        Ok(job)
    }

    /// `restart_process`: stop where it runs, then start with `strategy` (may land
    /// elsewhere). Fault: BAD_NAME.
    pub fn restart_process(
        &self,
        state: &ClusterState,
        strategy: StartingStrategy,
        namespec: &str,
        extra_args: &str,
        requested_by: &str,
        now_ms: i64,
    ) -> Result<Job, Fault> {
        let targets = processes_named(state, namespec)?;
        let mut job = Job::new(
            JobKind::RestartProcess {
                namespec: namespec.to_string(),
                strategy,
                extra_args: extra_args.to_string(),
            },
            requested_by,
            now_ms,
        );
        self.push_process_stops(&mut job, state, &targets, 0);
        self.push_process_starts(&mut job, &targets, 1, strategy, extra_args, None);
        Ok(job)
    }

    /// `start_args`: start `namespec` on `requested_by` only. Faults: BAD_NAME (unknown
    /// there), DISABLED (program disabled there), ALREADY_STARTED (running-like there).
    pub fn start_args_local(
        &self,
        state: &ClusterState,
        namespec: &str,
        extra_args: &str,
        requested_by: &str,
        now_ms: i64,
    ) -> Result<Job, Fault> {
        processes_named(state, namespec)?;
        let status = state.process(requested_by, namespec).ok_or_else(|| {
            Fault::with(
                FaultCode::BadName,
                format!("namespec {namespec} unknown to this Supervisor instance"),
            )
        })?;
        if state.is_disabled(requested_by, self.catalog.program(namespec, &status.name)) {
            return Err(Fault::with(FaultCode::Disabled, namespec));
        }
        if status.state.is_running() {
            return Err(Fault::with(FaultCode::AlreadyStarted, namespec));
        }
        let target = crate::synth::SyntheticProcess {
            application_name: status.group.clone(),
            process_name: status.name.clone(),
            state: status.state,
            expected_exit: status.expected,
            last_event_time: 0,
            identifiers: Vec::new(),
        };
        let mut job = Job::new(
            JobKind::StartProcess {
                namespec: namespec.to_string(),
                strategy: StartingStrategy::Local,
                extra_args: extra_args.to_string(),
            },
            requested_by,
            now_ms,
        );
        self.push_process_starts(
            &mut job,
            &[target],
            0,
            StartingStrategy::Local,
            extra_args,
            Some(requested_by.to_string()),
        );
        Ok(job)
    }

    /// DEPLOYMENT: one stage per application start_sequence rank (> 0), one track per
    /// application. Not `forced`: applications whose sequenced processes all run are left out.
    pub(crate) fn deployment(
        &self,
        state: &ClusterState,
        forced: bool,
        requested_by: &str,
        now_ms: i64,
    ) -> Job {
        self.deployment_of(state, forced, requested_by, now_ms, |_| true)
    }

    /// Supvisors' repair when an instance joins a formed cluster: DEPLOYMENT again for the
    /// sequenced applications that never started (no process of theirs has a start time on
    /// any instance: e.g. their programs could only run on the newcomer) or are in major or
    /// minor failure. An application a user stopped stays stopped; running processes are
    /// skipped at plan time.
    pub(crate) fn repair_deployment(&self, state: &ClusterState, now_ms: i64) -> Job {
        self.deployment_of(state, false, "", now_ms, |application| {
            let never_started = state.instances().all(|(_, record)| {
                record
                    .processes
                    .values()
                    .filter(|p| p.status.group == application)
                    .all(|p| p.status.start == 0)
            });
            never_started
                || self
                    .application(state, application)
                    .is_some_and(|s| s.major_failure || s.minor_failure)
        })
    }

    fn deployment_of(
        &self,
        state: &ClusterState,
        forced: bool,
        requested_by: &str,
        now_ms: i64,
        include: impl Fn(&str) -> bool,
    ) -> Job {
        let mut job = Job::new(JobKind::Deployment { forced }, requested_by, now_ms);
        for application in self.app_names(state) {
            let Some(rules) = self.rules.application_rules(&application) else {
                continue;
            };
            if rules.start_sequence == 0 || !include(&application) {
                continue;
            }
            let track = job.tracks.len() as u32;
            let items = self.app_start_items(state, &application, track, rules.starting_strategy);
            let all_running = items
                .iter()
                .all(|i| !self.running_on(state, &i.namespec).is_empty());
            if items.is_empty() || (!forced && all_running) {
                continue;
            }
            job.tracks
                .push(self.app_track(&application, u32::from(rules.start_sequence)));
            job.items.extend(items);
        }
        job
    }

    /// `restart_sequence`: DEPLOYMENT again, every sequenced application included (processes
    /// already running are skipped at plan time).
    pub fn restart_sequence(&self, state: &ClusterState, requested_by: &str, now_ms: i64) -> Job {
        self.deployment(state, true, requested_by, now_ms)
    }

    /// The global stop sequence of `restart`/`shutdown`: every application with a live
    /// process, greatest application stop_sequence first (unmanaged ones at 0, last).
    pub fn global_stop(
        &self,
        state: &ClusterState,
        then: FinalAction,
        requested_by: &str,
        now_ms: i64,
    ) -> Job {
        let mut job = Job::new(JobKind::GlobalStop { then }, requested_by, now_ms);
        for application in self.app_names(state) {
            let seq = self
                .rules
                .application_rules(&application)
                .map_or(0, |r| r.stop_sequence);
            self.push_app_stop(&mut job, state, &application, stop_step(seq));
        }
        job
    }

    /// Dry run of `start_application` (Supvisors 0.18): where each sequenced process would
    /// start now, or why not. Faults: BAD_NAME, NOT_MANAGED.
    pub fn test_start_application(
        &self,
        state: &ClusterState,
        strategy: StartingStrategy,
        application: &str,
    ) -> Result<Vec<TestedProcess>, Fault> {
        self.managed_application(state, application, false)?;
        let mut items = self.app_start_items(state, application, 0, strategy);
        items.sort_by_key(|i| i.step);
        let mut loads = self.loads(state);
        let track = self.app_track(application, 0);
        let pinned = match track.distribution {
            DistributionRule::AllInstances => None,
            _ => Some(self.choose_pin(state, &track, items.iter(), &loads, &self.settings.local)),
        };
        let mut out = Vec::new();
        for item in &items {
            let (group, name) = self.names_of(state, &item.namespec);
            let running = self.running_on(state, &item.namespec);
            let expected = match &item.action {
                ItemAction::Start {
                    expected_loading, ..
                } => u32::from(*expected_loading),
                ItemAction::Stop { .. } => 0,
            };
            let chosen = if !running.is_empty() {
                Some(running)
            } else {
                let target = match &pinned {
                    Some(pin) => pin.as_ref().and_then(|p| {
                        self.place_with_pin(
                            state,
                            &track,
                            p,
                            &item.namespec,
                            &name,
                            strategy,
                            &loads,
                            expected,
                            &self.settings.local,
                        )
                    }),
                    None => {
                        let c = self.process_candidates(state, &item.namespec, &group, &name);
                        self.choose(strategy, &c, &loads, expected, &self.settings.local)
                    }
                };
                target.map(|t| {
                    *loads.entry(t.clone()).or_default() += expected;
                    vec![t]
                })
            };
            out.push(match chosen {
                Some(ids) => TestedProcess {
                    application_name: group,
                    process_name: name,
                    state: ProcessState::Running,
                    forced_reason: String::new(),
                    running_identifiers: ids,
                },
                None => TestedProcess {
                    application_name: group,
                    process_name: name,
                    state: ProcessState::Fatal,
                    forced_reason: NO_RESOURCE.to_string(),
                    running_identifiers: Vec::new(),
                },
            });
        }
        Ok(out)
    }
}
