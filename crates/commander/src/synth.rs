//! The synthetic process status across instances (Supvisors 0.14 `ProcessStatus.update_status`),
//! recomputed from the replica on each request instead of being folded event by event.
//!
//! Supvisors keeps an instance in `running_identifiers` from its first running-like event until
//! a stopped-like one, so a STOPPING instance still counts. The same set here is "instances where
//! the process has a live child" (STARTING, RUNNING, BACKOFF, STOPPING). Then:
//! * one such instance → its state (STOPPING included), `expected_exit` true;
//! * several → a conflict; the state is the first present of RUNNING, BACKOFF, STARTING,
//!   STOPPING (Supervisor's `RUNNING_STATES` order, then STOPPING: Supvisors' `running_state`);
//! * none → the state and `expected` flag of the instance with the most recent `stop` date
//!   (first in identifier order on a tie). Supvisors' "STOPPING if any instance is stopping"
//!   rule is covered by the first case, since a stopping instance is in the set.

use data::{ClusterState, ProcessStatus};
use model::{split_namespec, Fault, FaultCode, ProcessState};
use std::collections::BTreeMap;

/// One process as `supvisors.get_process_info` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticProcess {
    pub application_name: String,
    pub process_name: String,
    pub state: ProcessState,
    pub expected_exit: bool,
    /// Epoch seconds of the latest start or stop seen on any instance (the replica carries no
    /// reception time; Supvisors uses the local time the last event arrived).
    pub last_event_time: i64,
    /// Instances where the process has a live child, sorted; more than one = conflict.
    pub identifiers: Vec<String>,
}

impl SyntheticProcess {
    pub fn conflicting(&self) -> bool {
        self.identifiers.len() > 1
    }
}

/// Order in which Supvisors picks the state of a conflicting process.
const CONFLICT_ORDER: [ProcessState; 4] = [
    ProcessState::Running,
    ProcessState::Backoff,
    ProcessState::Starting,
    ProcessState::Stopping,
];

/// Synthesizes one process from its status on each instance (`(identifier, status)`, in
/// identifier order). `None` when no instance reports it.
pub fn synthesize(views: &[(&str, &ProcessStatus)]) -> Option<SyntheticProcess> {
    let (_, first) = views.first()?;
    let live: Vec<&(&str, &ProcessStatus)> = views
        .iter()
        .filter(|(_, s)| !s.state.is_stopped())
        .collect();
    let (state, expected_exit) = match live.as_slice() {
        [(_, only)] => (only.state, true),
        [] => {
            // max_by_key keeps the last maximum; iterate in reverse to keep the first.
            let (_, latest) = views.iter().rev().max_by_key(|(_, s)| s.stop)?;
            (latest.state, latest.expected)
        }
        several => {
            let state = CONFLICT_ORDER
                .into_iter()
                .find(|st| several.iter().any(|(_, s)| s.state == *st))
                .unwrap_or(ProcessState::Unknown);
            (state, true)
        }
    };
    let last_event_time = views
        .iter()
        .map(|(_, s)| s.start.max(s.stop))
        .max()
        .unwrap_or(0);
    Some(SyntheticProcess {
        application_name: first.group.clone(),
        process_name: first.name.clone(),
        state,
        expected_exit,
        last_event_time,
        identifiers: live.iter().map(|(id, _)| id.to_string()).collect(),
    })
}

/// Every process known to any instance of the replica, grouped by `(group, name)`, with the
/// per-instance statuses in identifier order.
fn views_by_process(state: &ClusterState) -> BTreeMap<(&str, &str), Vec<(&str, &ProcessStatus)>> {
    let mut map: BTreeMap<(&str, &str), Vec<(&str, &ProcessStatus)>> = BTreeMap::new();
    for (identifier, record) in state.instances() {
        for process in record.processes.values() {
            let status = &process.status;
            map.entry((status.group.as_str(), status.name.as_str()))
                .or_default()
                .push((identifier, status));
        }
    }
    map
}

/// All synthetic processes, sorted by application then process name.
pub fn all_processes(state: &ClusterState) -> Vec<SyntheticProcess> {
    views_by_process(state)
        .values()
        .filter_map(|views| synthesize(views))
        .collect()
}

/// The processes named by `namespec` (`name`, `group:name`, `group:*`), with Supvisors' BAD_NAME
/// texts for an unknown application or process.
pub fn processes_named(
    state: &ClusterState,
    namespec: &str,
) -> Result<Vec<SyntheticProcess>, Fault> {
    let (application, process) = split_namespec(namespec);
    let all = all_processes(state);
    let in_application: Vec<SyntheticProcess> = all
        .into_iter()
        .filter(|p| p.application_name == application)
        .collect();
    if in_application.is_empty() {
        return Err(Fault::with(
            FaultCode::BadName,
            format!("application {application} unknown to Supvisors"),
        ));
    }
    match process {
        None => Ok(in_application),
        Some(name) => {
            let found: Vec<SyntheticProcess> = in_application
                .into_iter()
                .filter(|p| p.process_name == name)
                .collect();
            if found.is_empty() {
                Err(Fault::with(
                    FaultCode::BadName,
                    format!("process={name} unknown in application={application}"),
                ))
            } else {
                Ok(found)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(state: ProcessState, start: i64, stop: i64, expected: bool) -> ProcessStatus {
        ProcessStatus {
            group: "g".into(),
            name: "p".into(),
            state,
            pid: if state.is_stopped() { 0 } else { 42 },
            start,
            stop,
            exitstatus: 0,
            expected,
            spawnerr: String::new(),
            description: String::new(),
            stdout_logfile: String::new(),
            stderr_logfile: String::new(),
        }
    }

    #[test]
    fn one_live_instance_gives_its_state() {
        let a = st(ProcessState::Stopped, 0, 50, true);
        let b = st(ProcessState::Backoff, 100, 0, true);
        let p = synthesize(&[("a", &a), ("b", &b)]).unwrap();
        assert_eq!(p.state, ProcessState::Backoff);
        assert_eq!(p.identifiers, vec!["b".to_string()]);
        assert!(p.expected_exit && !p.conflicting());
        assert_eq!(p.last_event_time, 100);
        assert_eq!(
            (p.application_name.as_str(), p.process_name.as_str()),
            ("g", "p")
        );
    }

    #[test]
    fn a_stopping_instance_is_still_listed_and_gives_stopping() {
        let a = st(ProcessState::Stopping, 100, 0, true);
        let b = st(ProcessState::Exited, 10, 200, false);
        let p = synthesize(&[("a", &a), ("b", &b)]).unwrap();
        assert_eq!(p.state, ProcessState::Stopping);
        assert_eq!(p.identifiers, vec!["a".to_string()]);
    }

    #[test]
    fn none_live_takes_the_most_recent_stop_with_its_expected_flag() {
        let a = st(ProcessState::Exited, 10, 300, false);
        let b = st(ProcessState::Stopped, 10, 200, true);
        let c = st(ProcessState::Fatal, 0, 300, true);
        let p = synthesize(&[("a", &a), ("b", &b), ("c", &c)]).unwrap();
        // Tie on stop=300 between a and c: the first in identifier order wins.
        assert_eq!(p.state, ProcessState::Exited);
        assert!(!p.expected_exit);
        assert!(p.identifiers.is_empty());
        assert_eq!(p.last_event_time, 300);
    }

    #[test]
    fn several_live_instances_are_a_conflict_resolved_in_running_states_order() {
        let starting = st(ProcessState::Starting, 1, 0, true);
        let running = st(ProcessState::Running, 1, 0, true);
        let backoff = st(ProcessState::Backoff, 1, 0, true);
        let stopping = st(ProcessState::Stopping, 1, 0, true);
        let p = synthesize(&[("a", &starting), ("b", &backoff), ("c", &running)]).unwrap();
        assert!(p.conflicting());
        assert_eq!(p.state, ProcessState::Running);
        assert_eq!(p.identifiers, vec!["a", "b", "c"]);
        let p = synthesize(&[("a", &starting), ("b", &backoff)]).unwrap();
        assert_eq!(p.state, ProcessState::Backoff);
        let p = synthesize(&[("a", &starting), ("b", &stopping)]).unwrap();
        assert_eq!(p.state, ProcessState::Starting);
        let p = synthesize(&[("a", &stopping), ("b", &stopping)]).unwrap();
        assert_eq!(p.state, ProcessState::Stopping);
    }

    #[test]
    fn nothing_to_synthesize() {
        assert_eq!(synthesize(&[]), None);
    }
}
