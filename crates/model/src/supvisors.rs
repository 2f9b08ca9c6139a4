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
    /// A host name or an IP address; an IPv6 address without its brackets (`::1`).
    pub host: String,
    pub http_port: u16,
    /// Port of raftvisor's internal network (Raft + control RPCs).
    pub internal_port: u16,
}

impl InstanceAddr {
    /// Where the instance's internal port (Raft + control RPCs) listens.
    pub fn internal_addr(&self) -> crate::net::HostPort {
        crate::net::HostPort::new(&self.host, self.internal_port)
    }

    /// Where the instance's public HTTP port (XML-RPC, dashboard) listens.
    pub fn http_addr(&self) -> crate::net::HostPort {
        crate::net::HostPort::new(&self.host, self.http_port)
    }
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

/// What an instance cut off from the quorum (no leader's acknowledgement for
/// `fencing_timeout`) does with its local programs: raftvisor's `no_quorum_policy` option, in
/// the spirit of Pacemaker's option of the same name. Not Supvisors' `auto_fence`, which is the
/// *majority's* decision to isolate an instance it lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoQuorumPolicy {
    /// Stop the programs the majority would restart elsewhere (the rules' running failure
    /// strategies say so and another instance can host them): no program runs twice during
    /// a partition nor after it heals. The default.
    StopMovable,
    /// Stop every local program.
    StopAll,
    /// Keep everything running: the majority may then run a second copy of what it restarts,
    /// and restarts without waiting for a fence.
    Ignore,
}

impl NoQuorumPolicy {
    pub const ALL: [NoQuorumPolicy; 3] = [
        NoQuorumPolicy::StopMovable,
        NoQuorumPolicy::StopAll,
        NoQuorumPolicy::Ignore,
    ];
    pub fn name(self) -> &'static str {
        match self {
            NoQuorumPolicy::StopMovable => "stop_movable",
            NoQuorumPolicy::StopAll => "stop_all",
            NoQuorumPolicy::Ignore => "ignore",
        }
    }
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(text))
    }
    /// Whether a cut-off instance stops programs, so the majority must wait for it.
    pub fn fences(self) -> bool {
        !matches!(self, NoQuorumPolicy::Ignore)
    }
}

/// Added to the fence bound for the SIGKILL to take effect and the daemon's own scheduling
/// (the fence runs on a shared runtime; a loaded host answers late).
pub const FENCE_KILL_MARGIN: Duration = Duration::from_millis(250);
/// How long a tick's load snapshot may take (the ticker gives up on it after this).
pub const TICK_SNAPSHOT_TIMEOUT: Duration = Duration::from_millis(50);

/// Raft timings. Failover takes about 1.75 × `election_timeout_max` (openraft 0.9, measured;
/// docs/architecture.md, 'Timings'); every append RPC must finish within `heartbeat`.
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
    /// Supvisors' `auto_fence`: the majority isolates (ISOLATED, for good) an instance it lost,
    /// instead of marking it SILENT. Nothing to do with the cut-off side's fence.
    pub auto_fence: bool,
    /// What a cut-off instance stops (see [`NoQuorumPolicy`]).
    pub no_quorum_policy: NoQuorumPolicy,
    /// How long the fence waits for a program to stop on its `stopsignal` before SIGKILL
    /// (shortens the program's `stopwaitsecs`, never lengthens it).
    pub fence_stop_timeout: Duration,
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
    pub cluster_secret: Option<crate::Secret>,
    pub data_dir: PathBuf,
    pub raft: RaftTimings,
    /// Where and how the event interface publishes, if there is one (`event_port` /
    /// `event_link`, see the config crate).
    pub event_interface: Option<EventInterface>,
    /// Host and process statistics (the `stats_*` options).
    pub stats: StatsOptions,
    /// Options accepted for compatibility that do not apply, with the reason, for a logged note.
    pub notes: Vec<String>,
}

/// The `stats_*` options, with Supvisors' defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsOptions {
    /// Host statistics collected (`stats_enabled` = true, `HOST` or `ALL`).
    pub host: bool,
    /// Process statistics collected (`stats_enabled` = true, `PROCESS` or `ALL`).
    pub process: bool,
    /// The periods the figures are compiled over, in seconds (`stats_periods`).
    pub periods: Vec<f64>,
    /// Figures kept per period, for the charts (`stats_histo`).
    pub histo: usize,
    /// Process CPU shown with 100 % for one core (IRIX) or for all (Solaris) (`stats_irix_mode`).
    pub irix_mode: bool,
    /// The time between two samples, in seconds (`stats_collecting_period`).
    pub collecting_period: f64,
}

impl Default for StatsOptions {
    fn default() -> Self {
        StatsOptions {
            host: true,
            process: true,
            periods: vec![10.0],
            histo: 200,
            irix_mode: false,
            collecting_period: 5.0,
        }
    }
}

/// The event interface's address and transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventInterface {
    pub addr: std::net::SocketAddr,
    pub link: EventLink,
}

/// How the events are published (Supvisors' `event_link`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventLink {
    /// A ZeroMQ PUB socket, two frames per message: header, JSON body (0.14, `ZMQ` in 0.15+).
    Zmq,
    /// A WebSocket server whose URL path names the headers a client wants, each message a
    /// JSON `[header, body]` (`WS`, 0.16+).
    Ws,
}

impl SupvisorsSpec {
    pub fn instance(&self, identifier: &str) -> Option<&InstanceAddr> {
        self.instances.iter().find(|i| i.identifier == identifier)
    }

    pub fn local(&self) -> Option<&InstanceAddr> {
        self.instance(&self.local_identifier)
    }

    /// How long one tick waits for the leader's answer: an unanswered tick must not delay the
    /// next one (nor the cut-off check after it) by more than this.
    pub fn tick_call_timeout(&self) -> Duration {
        self.tick_interval
            .clamp(Duration::from_millis(100), Duration::from_secs(1))
    }

    /// The longest time from the last tick the leader received from an instance to the moment
    /// that instance, if cut off, has SIGKILLed every program its fence stops; `None` when the
    /// policy fences nothing ([`NoQuorumPolicy::Ignore`]). The sum of:
    /// - the tick's answer on its way back (at most [`Self::tick_call_timeout`]): the cut-off
    ///   side counts from the leader's last quorum acknowledgement as that answer reports it
    ///   (its age, measured when the leader answers; plus the leader lease, before which no
    ///   successor exists), the leader from the tick;
    /// - `fencing_timeout`, then one more pass of the ticker before the check sees it
    ///   (`tick_interval` + [`TICK_SNAPSHOT_TIMEOUT`] + [`Self::tick_call_timeout`]);
    /// - `fence_stop_timeout`: the stop signal, then SIGKILL;
    /// - [`FENCE_KILL_MARGIN`].
    pub fn fence_bound(&self) -> Option<Duration> {
        self.no_quorum_policy.fences().then(|| {
            self.tick_call_timeout() * 2
                + self.fencing_timeout
                + self.tick_interval
                + TICK_SNAPSHOT_TIMEOUT
                + self.fence_stop_timeout
                + FENCE_KILL_MARGIN
        })
    }

    /// How long after it was last heard of the majority's leader declares a silent instance's
    /// processes lost (it is SILENT from the inactivity timeout on; ISOLATING with
    /// `auto_fence`) and restarts them elsewhere, when
    /// nothing proves its daemon dead: the inactivity timeout, or the fence bound when longer,
    /// so the old copies are gone before new ones start. A closed internal port (a dead
    /// daemon, whose children died with it) does not wait for this.
    pub fn silent_restart_after(&self) -> Duration {
        self.fence_bound()
            .map_or(self.inactivity_timeout, |b| b.max(self.inactivity_timeout))
    }
}
