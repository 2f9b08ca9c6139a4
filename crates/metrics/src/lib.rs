//! raftvisord's Prometheus metrics, served on `GET /metrics` of the HTTP port.
//!
//! Two kinds: what only the daemon can count as it happens (XML-RPC calls and their
//! durations, the starts of its own processes) is kept in [`Metrics`]; what the cluster *is*
//! (process and instance states, Raft positions, event subscribers) is read at each scrape
//! from a [`Sample`] the daemon takes of its replica, so that nothing is kept twice and an
//! idle daemon does no metrics work between scrapes.
//!
//! The text is prometheus-client's Prometheus text format (0.0.4), which Prometheus and the
//! `prometheus_client` Python package's parser read.

use std::collections::BTreeMap;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RpcLabels {
    method: String,
    outcome: Outcome,
}

#[derive(
    Clone, Copy, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelValue,
)]
#[allow(non_camel_case_types)] // the label values' text
enum Outcome {
    ok,
    fault,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabel {
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProgramLabels {
    group: String,
    name: String,
}

type Labels = Vec<(&'static str, String)>;

fn rpc_histogram() -> Histogram {
    // 0.5 ms to ~16 s: a status read answers in well under a millisecond, a start with
    // `wait` lasts as long as the program's startsecs.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// What the daemon counts as it happens. Cheap to share (`Arc` inside each family).
#[derive(Debug, Clone)]
pub struct Metrics {
    rpc_calls: Family<RpcLabels, Counter>,
    rpc_seconds: Family<MethodLabel, Histogram, fn() -> Histogram>,
    starts: Family<ProgramLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            rpc_calls: Family::default(),
            rpc_seconds: Family::new_with_constructor(rpc_histogram),
            starts: Family::default(),
        }
    }
}

/// One process on one instance, as the replica has it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessSample {
    pub instance: String,
    pub group: String,
    pub name: String,
    /// Supervisor's state name (`RUNNING`…).
    pub state: String,
    /// Seconds since it started while it runs (Supervisor's uptime), else 0.
    pub uptime_seconds: i64,
}

/// Supervisor's uptime: seconds since `start` while the process runs, else 0.
pub fn uptime_seconds(state: model::ProcessState, start: i64, now: i64) -> i64 {
    if state == model::ProcessState::Running {
        (now - start).max(0)
    } else {
        0
    }
}

/// One instance of the cluster, as the replica has it.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceSample {
    pub identifier: String,
    /// Supvisors' instance state name (`RUNNING`, `SILENT`…).
    pub state: String,
    /// The load (percent) the leader plans with.
    pub load: u32,
}

/// This node's Raft positions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RaftSample {
    pub local: String,
    pub term: u64,
    pub leader: Option<String>,
    pub last_log_index: Option<u64>,
    pub last_applied: Option<u64>,
    pub voters: Vec<String>,
    /// On the leader: the last index known on each member (itself included).
    pub matched: BTreeMap<String, u64>,
}

impl RaftSample {
    /// The highest index a majority of voters hold: what the leader has committed. Elsewhere
    /// the applied index stands for it (a follower applies what it learns is committed).
    pub fn commit_index(&self) -> Option<u64> {
        if self.matched.is_empty() || self.voters.is_empty() {
            return self.last_applied;
        }
        let mut held: Vec<u64> = self
            .voters
            .iter()
            .map(|v| self.matched.get(v).copied().unwrap_or(0))
            .collect();
        held.sort_unstable_by(|a, b| b.cmp(a));
        held.get(self.voters.len() / 2).copied()
    }
}

/// The event interface's subscribers and losses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventsSample {
    /// Server-Sent Events and WebSocket clients now.
    pub subscribers: u64,
    /// Events those subscribers lost by falling behind, since start.
    pub subscribers_dropped: u64,
    /// The ZeroMQ socket's (`None`: no ZeroMQ publisher): events handed to it, and dropped
    /// on a full queue, since start.
    pub zmq_published: Option<u64>,
    pub zmq_dropped: Option<u64>,
}

/// The cluster as this daemon sees it at a scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// Supvisors' state name (`OPERATION`…).
    pub supvisors_state: Option<String>,
    pub instances: Vec<InstanceSample>,
    pub processes: Vec<ProcessSample>,
    /// Jobs (start or stop sequences) in progress, by kind; `None` without a cluster.
    pub jobs: Option<JobsSample>,
    pub raft: Option<RaftSample>,
    /// `None` without a cluster (no event interface).
    pub events: Option<EventsSample>,
}

/// Start and stop sequences in progress.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct JobsSample {
    pub starting: u64,
    pub stopping: u64,
}

/// A family of gauges, one per label set, set from a sample.
fn gauges<I: IntoIterator<Item = (Labels, i64)>>(items: I) -> Family<Labels, Gauge> {
    let family = Family::<Labels, Gauge>::default();
    for (labels, value) in items {
        family.get_or_create(&labels).set(value);
    }
    family
}

fn gauge(value: i64) -> Gauge {
    let g = Gauge::default();
    g.set(value);
    g
}

fn counter(value: u64) -> Counter {
    let c = Counter::default();
    c.inc_by(value);
    c
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Metrics {
    /// One XML-RPC call: `method` is the resolved name (an unknown one is best given as
    /// `unknown`, so that a client cannot grow the label set without bound).
    pub fn observe_rpc(&self, method: &str, took: Duration, fault: bool) {
        let outcome = if fault { Outcome::fault } else { Outcome::ok };
        self.rpc_calls
            .get_or_create(&RpcLabels {
                method: method.to_string(),
                outcome,
            })
            .inc();
        self.rpc_seconds
            .get_or_create(&MethodLabel {
                method: method.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// A local process entered STARTING (a start or a restart).
    pub fn process_started(&self, group: &str, name: &str) {
        self.starts
            .get_or_create(&ProgramLabels {
                group: group.to_string(),
                name: name.to_string(),
            })
            .inc();
    }

    /// The Prometheus text of what was counted and of `sample`.
    pub fn encode(&self, sample: &Sample) -> String {
        let mut r = Registry::with_prefix("raftvisor");
        r.register(
            "rpc_calls",
            "XML-RPC calls served by this instance, by method and outcome",
            self.rpc_calls.clone(),
        );
        r.register(
            "rpc_duration_seconds",
            "Time to answer an XML-RPC call, by method",
            self.rpc_seconds.clone(),
        );
        r.register(
            "process_starts",
            "Starts (and restarts) of this instance's processes since the daemon started",
            self.starts.clone(),
        );
        register_sample(&mut r, sample);
        let mut text = String::new();
        // Writing to a String cannot fail; a failure would be an encoder bug, and a partial
        // text is still better for a scrape than none.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &r);
        text
    }
}

fn register_sample(r: &mut Registry, s: &Sample) {
    if let Some(state) = &s.supvisors_state {
        r.register(
            "supvisors_state",
            "The cluster's Supvisors state (1 for the current one)",
            gauges([(vec![("state", state.clone())], 1)]),
        );
    }
    r.register(
        "instance_state",
        "Each instance's Supvisors state (1 for the current one)",
        gauges(s.instances.iter().map(|i| {
            let labels = vec![
                ("instance", i.identifier.clone()),
                ("state", i.state.clone()),
            ];
            (labels, 1)
        })),
    );
    r.register(
        "instance_load_percent",
        "Each instance's load as the leader plans with it",
        gauges(
            s.instances
                .iter()
                .map(|i| (vec![("instance", i.identifier.clone())], i64::from(i.load))),
        ),
    );
    let process = |p: &ProcessSample| {
        vec![
            ("instance", p.instance.clone()),
            ("group", p.group.clone()),
            ("name", p.name.clone()),
        ]
    };
    r.register(
        "process_state",
        "Each process's Supervisor state on each instance (1 for the current one)",
        gauges(s.processes.iter().map(|p| {
            let mut labels = process(p);
            labels.push(("state", p.state.clone()));
            (labels, 1)
        })),
    );
    r.register(
        "process_uptime_seconds",
        "Seconds since each running process started (0 when not running)",
        gauges(s.processes.iter().map(|p| (process(p), p.uptime_seconds))),
    );
    if let Some(jobs) = s.jobs {
        r.register(
            "jobs_in_progress",
            "Start and stop sequences in progress",
            gauges([
                (
                    vec![("kind", "starting".to_string())],
                    as_i64(jobs.starting),
                ),
                (
                    vec![("kind", "stopping".to_string())],
                    as_i64(jobs.stopping),
                ),
            ]),
        );
    }
    if let Some(raft) = &s.raft {
        register_raft(r, raft);
    }
    if let Some(events) = &s.events {
        register_events(r, events);
    }
}

fn register_events(r: &mut Registry, e: &EventsSample) {
    r.register(
        "event_subscribers",
        "Server-Sent Events and WebSocket subscribers of this instance",
        gauge(as_i64(e.subscribers)),
    );
    let dropped = Family::<Labels, Counter>::default();
    dropped
        .get_or_create(&vec![("sink", "subscribers".to_string())])
        .inc_by(e.subscribers_dropped);
    if let Some(n) = e.zmq_dropped {
        dropped
            .get_or_create(&vec![("sink", "zmq".to_string())])
            .inc_by(n);
    }
    r.register(
        "events_dropped",
        "Events lost since start: by subscribers that fell behind, by a full ZeroMQ queue",
        dropped,
    );
    if let Some(n) = e.zmq_published {
        r.register(
            "events_published",
            "Events handed to the ZeroMQ socket since start",
            counter(n),
        );
    }
}

fn register_raft(r: &mut Registry, raft: &RaftSample) {
    let index = |i: Option<u64>| i.map_or(-1, as_i64);
    r.register(
        "raft_term",
        "This node's current Raft term",
        gauge(as_i64(raft.term)),
    );
    r.register(
        "raft_is_leader",
        "1 on the Raft leader",
        gauge(i64::from(
            raft.leader.as_deref() == Some(raft.local.as_str()),
        )),
    );
    r.register(
        "raft_leader",
        "The leader this node knows (1, labelled with its identifier; absent when none)",
        gauges(raft.leader.iter().map(|l| (vec![("leader", l.clone())], 1))),
    );
    r.register(
        "raft_last_log_index",
        "Index of the last entry in this node's log (-1: empty)",
        gauge(index(raft.last_log_index)),
    );
    r.register(
        "raft_applied_index",
        "Index of the last entry applied to this node's replica (-1: none)",
        gauge(index(raft.last_applied)),
    );
    r.register(
        "raft_commit_index",
        "Highest index held by a majority (leader), or the applied index (others)",
        gauge(index(raft.commit_index())),
    );
    let last = raft.last_log_index.unwrap_or(0);
    r.register(
        "raft_replication_lag",
        "On the leader: entries each member is behind the leader's log",
        gauges(
            raft.voters
                .iter()
                .filter(|_| !raft.matched.is_empty())
                .map(|m| {
                    let held = raft.matched.get(m).copied().unwrap_or(0);
                    (
                        vec![("member", m.clone())],
                        as_i64(last.saturating_sub(held)),
                    )
                }),
        ),
    );
}

#[cfg(test)]
mod tests;
