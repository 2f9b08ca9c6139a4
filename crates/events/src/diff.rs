//! The events between two views of the cluster, in Supvisors 0.14's order (pure).
//!
//! Supvisors 0.14 publishes (`supvisors/context.py`): the cluster's state and jobs when they
//! change; an instance's status at each of its ticks and at each change of its state; for each
//! process state change reported by an instance, the `event` (the instance's own report), then
//! the process's synthetic status, then its application's status; for a process removed from
//! an instance, an `event` of state -1, then the process's status with statecode -1
//! (`DELETED`) if no instance has it any more, then its application's status. raftvisord sees
//! the same changes as differences between two replicas, applied in order: what changed
//! between two snapshots is published in that order, each message at most once per diff.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value as Json};

use crate::{Event, Header};

/// Supvisors' statecode of a process that is gone (`DELETED`, not a Supervisor state).
pub const DELETED_CODE: i32 = -1;

/// One process on one instance, as an `event` message reports it (Supvisors 0.14's listener
/// payload: `name`, `group`, `state`, `now`, `pid`, `expected`, `spawnerr`, `extra_args`,
/// `disabled`; the publisher adds `identifier`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalProcess {
    pub group: String,
    pub name: String,
    /// Supervisor's state code.
    pub state: i32,
    pub pid: i32,
    pub expected: bool,
    pub spawnerr: String,
    pub extra_args: String,
    pub disabled: bool,
}

impl LocalProcess {
    fn body(&self, identifier: &str, state: i32, now: i64) -> Json {
        json!({
            "name": self.name,
            "group": self.group,
            "state": state,
            "now": now,
            "pid": self.pid,
            "expected": self.expected,
            "spawnerr": self.spawnerr,
            "extra_args": self.extra_args,
            "disabled": self.disabled,
            "identifier": identifier,
        })
    }
}

/// What the events are made from: the bodies of the `supvisors.*` status replies, by key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// `get_supvisors_state`.
    pub supvisors: Option<Json>,
    /// `get_instance_info`, by identifier.
    pub instances: BTreeMap<String, Json>,
    /// `get_application_info`, by application name.
    pub applications: BTreeMap<String, Json>,
    /// `get_process_info`'s entry, by namespec, with its application's name.
    /// Shared (`Arc`): a body that did not change is the previous snapshot's, so the
    /// comparison of two snapshots is a pointer comparison for most of them.
    pub processes: BTreeMap<String, (String, std::sync::Arc<Json>)>,
    /// Each instance's processes, by (identifier, namespec).
    pub local: BTreeMap<(String, String), LocalProcess>,
    /// The latest entries of the history (at most [`HISTORY_IN_SNAPSHOT`]), by seq, as
    /// `get_history` reports them.
    pub history: Vec<(u64, Json)>,
    /// The seq the next entry of the history will get.
    pub history_next: u64,
}

/// How many of the latest history entries a snapshot carries: more new entries than this
/// between two snapshots (a burst the feed coalesced) publishes the latest ones only.
pub const HISTORY_IN_SNAPSHOT: u64 = 64;

/// The messages that take a subscriber from `old` to `new`; `now` (epoch seconds) dates the
/// process events, as Supervisor's listener dated them when it saw them.
pub fn events(old: &Snapshot, new: &Snapshot, now: i64) -> Vec<Event> {
    let mut out = Vec::new();
    let mut push = |header: Header, body: &Json| {
        out.push(Event {
            header,
            body: body.clone(),
        })
    };
    if new.supvisors != old.supvisors {
        if let Some(body) = &new.supvisors {
            push(Header::Supvisors, body);
        }
    }
    for (identifier, body) in &new.instances {
        if old.instances.get(identifier) != Some(body) {
            push(Header::Instance, body);
        }
    }
    let mut told_processes: BTreeSet<&str> = BTreeSet::new();
    let mut told_applications: BTreeSet<&str> = BTreeSet::new();
    // A state change (or a first report) on an instance: its event, then the statuses.
    for (key, process) in &new.local {
        let changed = old.local.get(key).is_none_or(|o| o.state != process.state);
        if !changed {
            continue;
        }
        let (identifier, namespec) = key;
        push(
            Header::ProcessEvent,
            &process.body(identifier, process.state, now),
        );
        if let Some((application, status)) = new.processes.get(namespec) {
            push(Header::ProcessStatus, status);
            told_processes.insert(namespec);
            if let Some(app) = new.applications.get(application) {
                push(Header::Application, app);
                told_applications.insert(application);
            }
        }
    }
    // Gone from an instance: an event of state -1, then the statuses (DELETED when gone
    // from every instance).
    for (key, process) in &old.local {
        if new.local.contains_key(key) {
            continue;
        }
        let (identifier, namespec) = key;
        push(
            Header::ProcessEvent,
            &process.body(identifier, DELETED_CODE, now),
        );
        let status = match new.processes.get(namespec) {
            Some((application, status)) => Some((application, Json::clone(status))),
            None => old
                .processes
                .get(namespec)
                .map(|(application, status)| (application, deleted(status, now))),
        };
        if let Some((application, status)) = status {
            push(Header::ProcessStatus, &status);
            told_processes.insert(namespec);
            let app = new
                .applications
                .get(application)
                .or_else(|| old.applications.get(application));
            if let Some(app) = app {
                push(Header::Application, app);
                told_applications.insert(application);
            }
        }
    }
    // What changed without an event of its own (expected exit, extra arguments, failures).
    for (namespec, (_, status)) in &new.processes {
        if !told_processes.contains(namespec.as_str())
            && old.processes.get(namespec).map(|(_, s)| s) != Some(status)
        {
            push(Header::ProcessStatus, status);
        }
    }
    for (name, app) in &new.applications {
        if !told_applications.contains(name.as_str()) && old.applications.get(name) != Some(app) {
            push(Header::Application, app);
        }
    }
    for (_, entry) in new
        .history
        .iter()
        .filter(|(seq, _)| *seq >= old.history_next)
    {
        push(Header::History, entry);
    }
    out
}

/// A process status as its last message says it once no instance has it, its deletion (at
/// `now`) being its last event. Not the last status's time: that depends on how many of the
/// removals one diff covered (the status after the first removals no longer counts the
/// removed instances' times), so two instances' feeds would tell different DELETED messages.
fn deleted(status: &Json, now: i64) -> Json {
    let mut status = status.clone();
    if let Some(fields) = status.as_object_mut() {
        fields.insert("statecode".into(), Json::from(DELETED_CODE));
        fields.insert("statename".into(), Json::from("DELETED"));
        fields.insert("last_event_time".into(), Json::from(now));
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(state: i32) -> LocalProcess {
        LocalProcess {
            group: "web".into(),
            name: "api".into(),
            state,
            pid: if state == 20 { 42 } else { 0 },
            expected: true,
            spawnerr: String::new(),
            extra_args: String::new(),
            disabled: false,
        }
    }

    fn status(statename: &str) -> (String, std::sync::Arc<Json>) {
        (
            "web".into(),
            std::sync::Arc::new(
                json!({"application_name": "web", "process_name": "api", "statename": statename}),
            ),
        )
    }

    fn snapshot(state: Option<i32>, statename: &str, app: &str) -> Snapshot {
        let mut s = Snapshot {
            supvisors: Some(json!({"fsm_statename": "OPERATION"})),
            ..Snapshot::default()
        };
        s.instances.insert(
            "s1".into(),
            json!({"identifier": "s1", "statename": "RUNNING"}),
        );
        s.applications.insert(
            "web".into(),
            json!({"application_name": "web", "statename": app}),
        );
        if let Some(state) = state {
            s.local
                .insert(("s1".into(), "web:api".into()), local(state));
            s.processes.insert("web:api".into(), status(statename));
        }
        s
    }

    fn headers(events: &[Event]) -> Vec<&'static str> {
        events.iter().map(|e| e.header.as_str()).collect()
    }

    #[test]
    fn new_history_entries_follow_the_rest_in_order_each_once() {
        let entry = |seq: u64| (seq, serde_json::json!({ "seq": seq }));
        let old = Snapshot {
            history: vec![entry(0), entry(1)],
            history_next: 2,
            ..Snapshot::default()
        };
        let new = Snapshot {
            history: vec![entry(0), entry(1), entry(2), entry(3)],
            history_next: 4,
            ..Snapshot::default()
        };
        let out = events(&old, &new, 0);
        let seqs: Vec<(Header, &Json)> = out.iter().map(|e| (e.header, &e.body["seq"])).collect();
        assert_eq!(
            seqs,
            [
                (Header::History, &Json::from(2)),
                (Header::History, &Json::from(3))
            ]
        );
        assert!(events(&new, &new, 0).is_empty());
    }

    #[test]
    fn nothing_changed_nothing_said() {
        let s = snapshot(Some(20), "RUNNING", "RUNNING");
        assert!(events(&s, &s, 0).is_empty());
    }

    #[test]
    fn a_state_change_is_its_event_then_the_process_then_its_application() {
        let old = snapshot(Some(10), "STARTING", "STARTING");
        let new = snapshot(Some(20), "RUNNING", "RUNNING");
        let out = events(&old, &new, 1_700_000_000);
        assert_eq!(headers(&out), ["event", "process", "application"]);
        assert_eq!(
            out[0].body,
            json!({"name": "api", "group": "web", "state": 20, "now": 1_700_000_000, "pid": 42,
                   "expected": true, "spawnerr": "", "extra_args": "", "disabled": false,
                   "identifier": "s1"})
        );
        assert_eq!(out[1].body["statename"], "RUNNING");
        assert_eq!(out[2].body["statename"], "RUNNING");
    }

    #[test]
    fn the_cluster_and_instances_come_first_each_once() {
        let old = snapshot(Some(10), "STARTING", "STARTING");
        let mut new = snapshot(Some(20), "RUNNING", "RUNNING");
        new.supvisors = Some(json!({"fsm_statename": "CONCILIATION"}));
        new.instances.insert(
            "s1".into(),
            json!({"identifier": "s1", "sequence_counter": 7}),
        );
        new.instances.insert(
            "s2".into(),
            json!({"identifier": "s2", "statename": "RUNNING"}),
        );
        let out = events(&old, &new, 0);
        assert_eq!(
            headers(&out),
            [
                "supvisors",
                "instance",
                "instance",
                "event",
                "process",
                "application"
            ]
        );
    }

    #[test]
    fn a_process_gone_from_every_instance_is_deleted() {
        let old = snapshot(Some(0), "STOPPED", "STOPPED");
        let new = snapshot(None, "", "STOPPED");
        let out = events(&old, &new, 1_700_000_123);
        assert_eq!(headers(&out), ["event", "process", "application"]);
        assert_eq!(out[1].body["last_event_time"], 1_700_000_123);
        assert_eq!(out[0].body["state"], -1);
        assert_eq!(out[0].body["identifier"], "s1");
        assert_eq!(out[1].body["statecode"], -1);
        assert_eq!(out[1].body["statename"], "DELETED");
        assert_eq!(out[1].body["process_name"], "api");
    }

    #[test]
    fn a_status_change_without_an_event_is_said_alone() {
        let old = snapshot(Some(20), "RUNNING", "RUNNING");
        let mut new = old.clone();
        new.applications.insert(
            "web".into(),
            json!({"application_name": "web", "statename": "RUNNING", "minor_failure": true}),
        );
        new.processes.insert(
            "web:api".into(),
            (
                "web".into(),
                std::sync::Arc::new(
                    json!({"application_name": "web", "process_name": "api", "extra_args": "-x"}),
                ),
            ),
        );
        assert_eq!(headers(&events(&old, &new, 0)), ["process", "application"]);
    }
}
