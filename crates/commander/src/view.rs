//! Read-only questions about the replica, and the status queries of the public API.

use crate::status::{evaluate, ApplicationStatus};
use crate::synth::{all_processes, SyntheticProcess};
use crate::Commander;
use data::{ClusterState, InstanceState};
use model::{make_namespec, split_namespec};
use std::collections::{BTreeMap, BTreeSet};

impl Commander {
    /// `(group, name)` of `namespec` as the replica knows it, else as the namespec reads.
    pub(crate) fn names_of(&self, state: &ClusterState, namespec: &str) -> (String, String) {
        for (_, record) in state.instances() {
            if let Some(p) = record.processes.get(namespec) {
                return (p.status.group.clone(), p.status.name.clone());
            }
        }
        let (group, name) = split_namespec(namespec);
        let name = name.unwrap_or_else(|| group.clone());
        (group, name)
    }

    /// The processes of `application` known on any instance: `(name, namespec)` by name.
    pub(crate) fn app_processes(
        &self,
        state: &ClusterState,
        application: &str,
    ) -> Vec<(String, String)> {
        let mut names = BTreeSet::new();
        for (_, record) in state.instances() {
            for p in record.processes.values() {
                if p.status.group == application {
                    names.insert(p.status.name.clone());
                }
            }
        }
        names
            .into_iter()
            .map(|n| {
                let ns = make_namespec(application, &n);
                (n, ns)
            })
            .collect()
    }

    /// Every application (group) known on any instance, sorted.
    pub(crate) fn app_names(&self, state: &ClusterState) -> BTreeSet<String> {
        state
            .instances()
            .flat_map(|(_, r)| r.processes.values().map(|p| p.status.group.clone()))
            .collect()
    }

    /// Instances where `namespec` is STARTING, RUNNING or BACKOFF, in identifier order.
    pub(crate) fn running_on(&self, state: &ClusterState, namespec: &str) -> Vec<String> {
        self.instances_where(state, namespec, |s| s.is_running())
    }

    /// Instances where `namespec` has a live child (running-like or STOPPING).
    pub(crate) fn live_on(&self, state: &ClusterState, namespec: &str) -> Vec<String> {
        self.instances_where(state, namespec, |s| !s.is_stopped())
    }

    fn instances_where(
        &self,
        state: &ClusterState,
        namespec: &str,
        keep: impl Fn(model::ProcessState) -> bool,
    ) -> Vec<String> {
        state
            .instances()
            .filter(|(_, r)| {
                r.processes
                    .get(namespec)
                    .is_some_and(|p| keep(p.status.state))
            })
            .map(|(id, _)| id.to_string())
            .collect()
    }

    pub(crate) fn is_running_instance(&self, state: &ClusterState, instance: &str) -> bool {
        state
            .instance(instance)
            .is_some_and(|r| r.state == InstanceState::Running)
    }

    /// `instance` is RUNNING, knows `namespec` and its program is not disabled there.
    pub(crate) fn can_host(
        &self,
        state: &ClusterState,
        instance: &str,
        namespec: &str,
        name: &str,
    ) -> bool {
        state.instance(instance).is_some_and(|r| {
            r.state == InstanceState::Running
                && r.processes.contains_key(namespec)
                && !r.disabled.contains(self.catalog.program(namespec, name))
        })
    }

    /// Every application known in the replica, sorted by name, managed or not.
    pub fn applications(&self, state: &ClusterState) -> Vec<ApplicationStatus> {
        let all = all_processes(state);
        let mut by_app: BTreeMap<&str, Vec<&SyntheticProcess>> = BTreeMap::new();
        for p in &all {
            by_app
                .entry(p.application_name.as_str())
                .or_default()
                .push(p);
        }
        by_app
            .into_iter()
            .map(|(name, procs)| evaluate(&self.rules, name, &procs))
            .collect()
    }

    /// The status of `name`, `None` when no instance knows it.
    pub fn application(&self, state: &ClusterState, name: &str) -> Option<ApplicationStatus> {
        let all = all_processes(state);
        let procs: Vec<&SyntheticProcess> =
            all.iter().filter(|p| p.application_name == name).collect();
        (!procs.is_empty()).then(|| evaluate(&self.rules, name, &procs))
    }

    /// Processes of managed applications running-like on more than one instance.
    pub fn conflicts(&self, state: &ClusterState) -> Vec<SyntheticProcess> {
        all_processes(state)
            .into_iter()
            .filter(|p| {
                p.conflicting()
                    && self.rules.is_managed(&p.application_name)
                    && self
                        .running_on(state, &make_namespec(&p.application_name, &p.process_name))
                        .len()
                        > 1
            })
            .collect()
    }
}
