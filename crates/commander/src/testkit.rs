//! Test helpers: a small cluster simulation around a [`ClusterState`] (instances, process
//! reports, a fake executor that obeys orders) and builders of rules.

use crate::{Catalog, CatalogEntry, Commander, Settings};
use data::{
    BatchSeq, ClusterState, Command, CommandResult, InstanceState, Job, JobId, JobKind, JobOp,
    Order, Plan, ProcessStatus, SupvisorsState,
};
use model::rules::{
    ApplicationEntry, DistributionRule, Identifiers, NameMatch, ProgramEntry, ProgramOptions,
    Rules, RunningFailureStrategy, Source, StartingFailureStrategy,
};
use model::supvisors::{ConciliationStrategy, StartingStrategy};
use model::ProcessState;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone)]
pub struct World {
    pub state: ClusterState,
    counters: BTreeMap<String, u64>,
    /// Each instance's daemon incarnation (1 until [`World::restart`]).
    incarnations: BTreeMap<String, u64>,
    pub now: i64,
    /// Namespecs whose start ends FATAL.
    pub fail_start: BTreeSet<String>,
    /// Instances that ignore orders.
    pub deaf: BTreeSet<String>,
    /// Every order executed, in order.
    pub log: Vec<Order>,
}

impl World {
    /// Instances RUNNING, Supvisors state OPERATION.
    pub fn new(instances: &[&str]) -> Self {
        let mut w = World {
            state: ClusterState::new(),
            counters: BTreeMap::new(),
            incarnations: BTreeMap::new(),
            now: 1_000_000,
            fail_start: BTreeSet::new(),
            deaf: BTreeSet::new(),
            log: Vec::new(),
        };
        for i in instances {
            w.join(i);
        }
        w.to(&[
            SupvisorsState::Initialization,
            SupvisorsState::Deployment,
            SupvisorsState::Operation,
        ]);
        w
    }

    pub fn to(&mut self, states: &[SupvisorsState]) {
        for state in states {
            let r = self
                .state
                .apply(&Command::SetSupvisorsState { state: *state });
            assert!(!matches!(r, CommandResult::Rejected(_)), "{r:?}");
        }
    }

    pub fn report_status(&mut self, instance: &str, status: ProcessStatus) {
        let c = self.counters.entry(instance.to_string()).or_default();
        *c += 1;
        let incarnation = *self.incarnations.get(instance).unwrap_or(&1);
        self.state.apply(&Command::ProcessEvents {
            instance: instance.to_string(),
            seq: BatchSeq::new(incarnation, *c),
            full: false,
            events: vec![status],
        });
    }

    pub fn report(&mut self, instance: &str, group: &str, name: &str, state: ProcessState) {
        let expected = state != ProcessState::Exited;
        self.report_with(instance, group, name, state, self.now / 1000, expected);
    }

    pub fn report_with(
        &mut self,
        instance: &str,
        group: &str,
        name: &str,
        state: ProcessState,
        start: i64,
        expected: bool,
    ) {
        let status = ProcessStatus {
            group: group.into(),
            name: name.into(),
            state,
            pid: if state.is_stopped() { 0 } else { 100 },
            start,
            stop: if state.is_stopped() {
                self.now / 1000
            } else {
                0
            },
            exitstatus: 0,
            expected,
            spawnerr: String::new(),
            description: String::new(),
            stdout_logfile: String::new(),
            stderr_logfile: String::new(),
        };
        self.report_status(instance, status);
    }

    /// `group:name` known (STOPPED) on each of `instances`.
    pub fn declare(&mut self, group: &str, names: &[&str], instances: &[&str]) {
        for i in instances {
            for n in names {
                self.report(i, group, n, ProcessState::Stopped);
            }
        }
    }

    /// `instance` goes through CHECKING to RUNNING.
    pub fn join(&mut self, instance: &str) {
        for state in [InstanceState::Checking, InstanceState::Running] {
            self.state.apply(&Command::InstanceState {
                instance: instance.to_string(),
                state,
            });
        }
    }

    /// `instance`'s daemon restarts: its processes died with it, and its first batch (a full
    /// one, of a new incarnation) lists them all STOPPED.
    pub fn restart(&mut self, instance: &str) {
        let incarnation = self.incarnations.entry(instance.to_string()).or_insert(1);
        *incarnation += 1;
        let incarnation = *incarnation;
        self.counters.insert(instance.to_string(), 0);
        let stop = self.now / 1000;
        let events: Vec<ProcessStatus> = self
            .state
            .instance(instance)
            .map(|r| {
                r.processes
                    .values()
                    .map(|p| ProcessStatus {
                        state: ProcessState::Stopped,
                        pid: 0,
                        stop,
                        ..p.status.clone()
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.state.apply(&Command::ProcessEvents {
            instance: instance.to_string(),
            seq: BatchSeq::new(incarnation, 0),
            full: true,
            events,
        });
    }

    /// The leader's two steps for a silent instance: SILENT, then (the fence bound later,
    /// or at once for a dead daemon) its processes lost.
    pub fn lose(&mut self, instance: &str) {
        self.go_silent(instance);
        self.state.apply(&Command::InstanceLost {
            instance: instance.into(),
        });
    }

    /// SILENT only: its loss pending.
    pub fn go_silent(&mut self, instance: &str) {
        self.state.apply(&Command::InstanceState {
            instance: instance.into(),
            state: InstanceState::Silent,
        });
    }

    pub fn create(&mut self, job: Job) -> JobId {
        match self.state.apply(&Command::Jobs(vec![JobOp::Create(job)])) {
            CommandResult::JobsCreated(ids) => ids[0],
            other => panic!("{other:?}"),
        }
    }

    pub fn commit(&mut self, plan: &Plan) {
        if !plan.ops.is_empty() {
            self.state.apply(&Command::Jobs(plan.ops.clone()));
        }
        if let Some(st) = plan.supvisors_state {
            let r = self.state.apply(&Command::SetSupvisorsState { state: st });
            assert!(!matches!(r, CommandResult::Rejected(_)), "{r:?}");
        }
    }

    /// The fake executor: a start goes STARTING then RUNNING (or FATAL), a stop STOPPED.
    pub fn execute(&mut self, orders: &[Order]) {
        for order in orders {
            if self.deaf.contains(order.instance()) {
                continue;
            }
            self.log.push(order.clone());
            match order {
                Order::Start {
                    instance, namespec, ..
                } => {
                    let Some(p) = self.state.process(instance, namespec).cloned() else {
                        continue;
                    };
                    if p.state.is_running() {
                        continue;
                    }
                    self.report(instance, &p.group, &p.name, ProcessState::Starting);
                    let end = if self.fail_start.contains(namespec) {
                        ProcessState::Fatal
                    } else {
                        ProcessState::Running
                    };
                    self.report(instance, &p.group, &p.name, end);
                }
                Order::Stop { instance, namespec } => {
                    if let Some(p) = self.state.process(instance, namespec).cloned() {
                        if !p.state.is_stopped() {
                            self.report(instance, &p.group, &p.name, ProcessState::Stopped);
                        }
                    }
                }
                Order::Final { .. } => {}
            }
        }
    }

    /// One round: plan, commit, execute, advance the clock by 100 ms.
    pub fn step(&mut self, c: &Commander) -> Plan {
        let plan = c.plan(&self.state, self.now);
        self.commit(&plan);
        self.execute(&plan.orders);
        self.now += 100;
        plan
    }

    /// Rounds until a plan is empty (at most 200).
    pub fn settle(&mut self, c: &Commander) {
        for _ in 0..200 {
            if self.step(c).is_empty() {
                return;
            }
        }
        panic!("the planner did not settle");
    }

    pub fn state_of(&self, instance: &str, namespec: &str) -> Option<ProcessState> {
        self.state.process(instance, namespec).map(|p| p.state)
    }

    pub fn running_on(&self, namespec: &str) -> Vec<String> {
        self.state
            .instances()
            .filter(|(_, r)| {
                r.processes
                    .get(namespec)
                    .is_some_and(|p| p.status.state.is_running())
            })
            .map(|(id, _)| id.to_string())
            .collect()
    }

    pub fn job(&self, id: JobId) -> &Job {
        self.state.jobs().job(id).expect("job exists")
    }

    /// The jobs whose kind `kind` accepts, oldest first.
    pub fn jobs_where(&self, kind: impl Fn(&JobKind) -> bool) -> Vec<&Job> {
        self.state.jobs().all().filter(|j| kind(&j.kind)).collect()
    }
}

fn src() -> Source {
    Source {
        file: "rules.xml".into(),
        line: 1,
    }
}

pub fn app(name: &str) -> ApplicationEntry {
    ApplicationEntry {
        matcher: NameMatch::Name(name.into()),
        distribution: None,
        identifiers: None,
        start_sequence: None,
        stop_sequence: None,
        starting_strategy: None,
        starting_failure_strategy: None,
        running_failure_strategy: None,
        programs: Vec::new(),
        source: src(),
    }
}

pub fn sequenced_app(name: &str, start_sequence: u8) -> ApplicationEntry {
    ApplicationEntry {
        start_sequence: Some(start_sequence),
        ..app(name)
    }
}

pub fn with_distribution(mut a: ApplicationEntry, d: DistributionRule) -> ApplicationEntry {
    a.distribution = Some(d);
    a
}

pub fn with_starting_failure(
    mut a: ApplicationEntry,
    s: StartingFailureStrategy,
) -> ApplicationEntry {
    a.starting_failure_strategy = Some(s);
    a
}

pub fn prog(name: &str, options: ProgramOptions) -> ProgramEntry {
    ProgramEntry {
        matcher: NameMatch::Name(name.into()),
        reference: None,
        options,
        source: src(),
    }
}

/// Program options: start sequence, required, expected loading, running failure strategy.
pub fn opts(
    start_sequence: u8,
    required: bool,
    loading: u8,
    running: RunningFailureStrategy,
) -> ProgramOptions {
    ProgramOptions {
        start_sequence: Some(start_sequence),
        required: Some(required),
        expected_loading: Some(loading),
        running_failure_strategy: Some(running),
        ..ProgramOptions::default()
    }
}

pub fn with_ids(mut o: ProgramOptions, ids: Identifiers) -> ProgramOptions {
    o.identifiers = Some(ids);
    o
}

pub fn commander(instances: &[&str], apps: Vec<ApplicationEntry>) -> Commander {
    commander_with(instances, apps, Catalog::default(), BTreeMap::new())
}

pub fn commander_with(
    instances: &[&str],
    apps: Vec<ApplicationEntry>,
    catalog: Catalog,
    nodes: BTreeMap<String, String>,
) -> Commander {
    let list: Vec<String> = instances.iter().map(|s| s.to_string()).collect();
    let rules = Rules::new(list.clone(), apps);
    Commander::new(
        rules,
        catalog,
        Settings {
            local: list[0].clone(),
            instances: list,
            nodes,
            starting_strategy: StartingStrategy::Config,
            conciliation_strategy: ConciliationStrategy::User,
        },
    )
}

pub fn entry(group: &str, name: &str, index: usize, autorestart: bool) -> CatalogEntry {
    CatalogEntry {
        group: group.into(),
        name: name.into(),
        program: name.into(),
        process_index: Some(index),
        startsecs: 1,
        stopwaitsecs: 10,
        autorestart,
    }
}
