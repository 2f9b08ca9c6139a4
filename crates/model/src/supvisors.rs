//! The resolved `[rpcinterface:supvisors]` section: the cluster layer's configuration. Produced by
//! `config::supvisors::resolve` from the raw section, consumed by the cluster node, the
//! `supvisors` XML-RPC namespace and raftvisorctl.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// One item of `supvisors_list`: `<identifier>host:http_port:internal_port` (or a plain host).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceAddr {
    /// The deduced name used everywhere (rules, XML-RPC, UI): `<identifier>` if given, else
    /// `host`, else `host:http_port` when the port was written explicitly (Supvisors 0.14 rules).
    pub identifier: String,
    pub host: String,
    pub http_port: u16,
    /// Port of raftvisor's internal network (Raft + control RPCs).
    pub internal_port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StartingStrategy {
    Config,
    LessLoaded,
    MostLoaded,
    Local,
    LessLoadedNode,
    MostLoadedNode,
}

impl StartingStrategy {
    pub const ALL: [StartingStrategy; 6] = [
        StartingStrategy::Config,
        StartingStrategy::LessLoaded,
        StartingStrategy::MostLoaded,
        StartingStrategy::Local,
        StartingStrategy::LessLoadedNode,
        StartingStrategy::MostLoadedNode,
    ];
    pub fn code(self) -> i32 {
        self as i32
    }
    pub fn name(self) -> &'static str {
        match self {
            StartingStrategy::Config => "CONFIG",
            StartingStrategy::LessLoaded => "LESS_LOADED",
            StartingStrategy::MostLoaded => "MOST_LOADED",
            StartingStrategy::Local => "LOCAL",
            StartingStrategy::LessLoadedNode => "LESS_LOADED_NODE",
            StartingStrategy::MostLoadedNode => "MOST_LOADED_NODE",
        }
    }
    /// Accepts the enum name or its integer value, as Supvisors' XML-RPC does.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        Self::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(text) || s.code().to_string() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConciliationStrategy {
    Senicide,
    Infanticide,
    User,
    Stop,
    Restart,
    RunningFailure,
}

impl ConciliationStrategy {
    pub const ALL: [ConciliationStrategy; 6] = [
        ConciliationStrategy::Senicide,
        ConciliationStrategy::Infanticide,
        ConciliationStrategy::User,
        ConciliationStrategy::Stop,
        ConciliationStrategy::Restart,
        ConciliationStrategy::RunningFailure,
    ];
    pub fn code(self) -> i32 {
        self as i32
    }
    pub fn name(self) -> &'static str {
        match self {
            ConciliationStrategy::Senicide => "SENICIDE",
            ConciliationStrategy::Infanticide => "INFANTICIDE",
            ConciliationStrategy::User => "USER",
            ConciliationStrategy::Stop => "STOP",
            ConciliationStrategy::Restart => "RESTART",
            ConciliationStrategy::RunningFailure => "RUNNING_FAILURE",
        }
    }
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        Self::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(text) || s.code().to_string() == text)
    }
}

/// Raft timings. Failover takes about 1.75 × `election_timeout_max` (stack.md §1.8); every
/// append RPC must finish within `heartbeat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftTimings {
    pub heartbeat: Duration,
    pub election_timeout_min: Duration,
    pub election_timeout_max: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupvisorsSpec {
    /// All instances, in declaration order (the CONFIG strategy order).
    pub instances: Vec<InstanceAddr>,
    /// The local instance's identifier (found in `instances`).
    pub local_identifier: String,
    /// Raft voters: `core_identifiers`, or all instances when ≤ 5, else the first 5 declared.
    pub voters: Vec<String>,
    /// True when `core_identifiers` was given explicitly.
    pub core_identifiers_explicit: bool,
    pub rules_files: Vec<PathBuf>,
    pub auto_fence: bool,
    pub synchro_timeout: Duration,
    /// `inactivity_ticks` mapped to time: an instance not heard from for this long is SILENT.
    pub inactivity_timeout: Duration,
    /// A follower that hears nothing from a leader for this long knows it is cut off.
    pub fencing_timeout: Duration,
    /// How often an instance ticks the leader.
    pub tick_interval: Duration,
    /// Supvisors' `disabilities_file`, validated as Supvisors does (its directory exists) so the
    /// same file loads, but not used: disabilities live in the replicated state (a note says so).
    pub disabilities_file: Option<PathBuf>,
    pub starting_strategy: StartingStrategy,
    pub conciliation_strategy: ConciliationStrategy,
    /// The shared secret for the internal port; `None` is only allowed when every instance is on
    /// a loopback address.
    pub cluster_secret: Option<String>,
    pub data_dir: PathBuf,
    pub raft: RaftTimings,
    /// Options accepted for compatibility that do not apply, with the reason, for a logged note.
    pub notes: Vec<String>,
}

impl SupvisorsSpec {
    pub fn instance(&self, identifier: &str) -> Option<&InstanceAddr> {
        self.instances.iter().find(|i| i.identifier == identifier)
    }

    pub fn local(&self) -> Option<&InstanceAddr> {
        self.instance(&self.local_identifier)
    }
}
