//! The running cluster node: owns the Raft instance, the internal server and the node's tasks,
//! and implements [`ClusterApi`] for the front ends.
//!
//! ```text
//!  start ─► validate spec ─► incarnation++ ─► open sled ─► bind internal port ─► Raft::new
//!     ─► procman start guard (disabled programs, from the replica)
//!     tasks: server (hyper) · bootstrap (voters) · leadership watcher (leader loop) ·
//!            ticker (ticks + cut-off) · feed (procman events → ProcessEvents)
//!  shutdown token ─► every task ends ─► raft.shutdown() ─► NodeTask resolves
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use model::supvisors::SupvisorsSpec;
use openraft::{Config, SnapshotPolicy};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::{ClusterApi, LeaderView, RaftStatus, WriteError};
use crate::auth::Gate;
use crate::bootstrap::PristineCtx;
use crate::executor::CommanderCtx;
use crate::feed::FeedCtx;
use crate::fence::FenceCtx;
use crate::inner::{
    ask_peers, write_timeout, Core, CoreEnd, CoreEnded, FencePolicy, FullSyncDone, FullSyncRequest,
    LastAppend, RaftMetrics, SharedFencePolicy, SharedPlanner, SharedStatsReceiver,
};
use crate::leader::LeaderCtx;
use crate::leadership::LeadershipCtx;
use crate::mailbox::Mailbox;
use crate::membership::{MembershipChange, MembershipError, RaftMember};
use crate::network::{NetworkFactory, PeerClient};
use crate::server::ServerCtx;
use crate::state::{Command, CommandResult};
use crate::store::{open_store, Replica, StoreError};
use crate::ticker::TickerCtx;
use crate::types::{node_id, NodeId, Raft};
use crate::wire::PATH_STATS;

/// Why [`Node::start`] failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("the local instance {0:?} is not in supvisors_list")]
    NotDeclared(String),
    #[error("core identifier {0:?} is not in supvisors_list")]
    UnknownVoter(String),
    #[error("no voter: core_identifiers is empty")]
    NoVoter,
    #[error("identifiers {a:?} and {b:?} map to the same Raft node id {id:#x}: rename one")]
    IdCollision { a: String, b: String, id: NodeId },
    #[error("data dir {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("data dir {path}: corrupt incarnation file: {text:?}")]
    Incarnation { path: PathBuf, text: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("Raft timings: {0}")]
    Config(String),
    #[error("cannot bind the internal port {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot start Raft: {0}")]
    Raft(String),
    #[error(
        "data dir {data_dir} holds no Raft state, but {peer} knows this instance as a Raft \
         member that already took part in the cluster: its Raft state was lost (wiped or \
         replaced disk). Rejoining with an empty log and no memory of its votes could make it \
         vote twice in one term or stall replication, so raftvisord refuses. Restore the data \
         dir from a backup, or have an operator run `raftvisorctl remove_member <this \
         instance>` on the cluster, start this instance again, then `raftvisorctl add_member \
         <this instance>` (README: a host lost its disk)"
    )]
    LostState { data_dir: PathBuf, peer: String },
    #[error(
        "the leader {leader} says this instance is no longer a Raft member (an operator \
         removed it), but its data dir {data_dir} still holds the Raft state of a member: \
         with it, it would call elections that depose the leader. Empty the data dir, start \
         raftvisord again, then run `raftvisorctl add_member <this instance>` (README: a host \
         lost its disk)"
    )]
    Removed { data_dir: PathBuf, leader: String },
}

/// The start-up verdict on the Raft store, when it is not a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreVerdict {
    /// The store is not empty, or a peer answered and none saw this instance take part.
    Cleared,
    /// The store is empty and no peer answered: this instance may not vote (nor take
    /// appends) until a peer answers ([`crate::bootstrap::verify_pristine`]).
    Unverified,
}

/// Whether this instance may take part with the Raft store it has; see also
/// [`crate::membership::removed_witness`] for a store that is not empty.
///
/// A pristine store (no vote, no log) is normal for a new cluster, a voter that starts late or
/// a new learner; it is a lost state when a reachable peer counts this instance as a member
/// and saw it take part (the leader replicated to it, or the replica holds a tick of it; see
/// [`crate::membership::lost_state_witness`]). Asking every peer, not just the leader, makes
/// the check hold while the leader is down or has just changed; when no peer answers at all,
/// the verdict is deferred (and votes refused meanwhile). openraft's leader cannot cope with a
/// member whose log went backwards (it panics), and a voter that forgot its vote could vote
/// twice in one term: refuse before serving anything, until an operator removes the instance
/// from the membership (`supvisors.remove_member`) and adds it back.
async fn refuse_if_state_lost(
    spec: &SupvisorsSpec,
    log_store: &crate::store::LogStore,
    client: &PeerClient,
) -> Result<StoreVerdict, NodeError> {
    use openraft::storage::RaftLogStorage;
    let mut store = log_store.clone();
    let vote = store
        .read_vote()
        .await
        .map_err(|e| NodeError::Raft(e.to_string()))?;
    let log = store
        .get_log_state()
        .await
        .map_err(|e| NodeError::Raft(e.to_string()))?;
    let pristine = vote.is_none() && log.last_log_id.is_none();
    if spec.instances.len() < 2 {
        return Ok(StoreVerdict::Cleared); // a cluster of one: nobody to vote for or against
    }
    let replies = ask_peers(spec, client).await;
    let knowledge = || replies.iter().map(|(peer, k)| (peer.as_str(), *k));
    if !pristine {
        return match crate::membership::removed_witness(knowledge()) {
            Some(leader) => Err(NodeError::Removed {
                data_dir: spec.data_dir.clone(),
                leader: leader.to_string(),
            }),
            None => Ok(StoreVerdict::Cleared),
        };
    }
    match crate::membership::lost_state_witness(knowledge()) {
        Some(peer) => Err(NodeError::LostState {
            data_dir: spec.data_dir.clone(),
            peer: peer.to_string(),
        }),
        None if replies.is_empty() => Ok(StoreVerdict::Unverified),
        None => Ok(StoreVerdict::Cleared),
    }
}

/// The committed log id persisted in `log_store` (what openraft will replay after `Raft::new`).
async fn read_committed(
    log_store: &crate::store::LogStore,
) -> Result<Option<crate::types::LogId>, NodeError> {
    use openraft::storage::RaftLogStorage;
    let mut store = log_store.clone();
    store
        .read_committed()
        .await
        .map_err(|e| NodeError::Raft(e.to_string()))
}

/// Whether a replica that applied up to `applied` includes the entry `committed`. By index:
/// entries up to a committed index are the same in every later log, and a snapshot installed
/// since may carry a later term.
fn replayed(applied: Option<crate::types::LogId>, committed: crate::types::LogId) -> bool {
    applied.is_some_and(|a| a.index >= committed.index)
}

/// Resolves when every task of the node has ended after the shutdown token was cancelled (and
/// Raft was shut down, so the data dir is released).
pub struct NodeTask {
    handle: JoinHandle<()>,
}

impl NodeTask {
    pub async fn wait(self) {
        if let Err(e) = self.handle.await {
            tracing::error!(error = %e, "cluster node supervisor task failed");
        }
    }
}

/// The cluster node of this instance. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    core: Arc<Core>,
    internal_addr: SocketAddr,
    /// The committed log id this node's log store held when it started: what the replica must
    /// have applied before it reflects everything this node knew (see [`Node::wait_replayed`]).
    committed_at_start: Option<crate::types::LogId>,
    incarnation: u64,
    full_sync_request: FullSyncRequest,
    full_sync_done: FullSyncDone,
    planner: SharedPlanner,
    fence_policy: SharedFencePolicy,
    stats_receiver: SharedStatsReceiver,
    /// This instance's supervisor, for [`ClusterApi::local_call`] on itself.
    supervisor: procman::Supervisor,
    core_ended: CoreEnded,
    /// The carrier's way to the leading node, which it holds weakly (the network is built
    /// before the node): kept alive here as long as the node.
    _leader_side: Arc<LeaderCtx>,
}

fn validate(spec: &SupvisorsSpec) -> Result<(), NodeError> {
    if spec.local().is_none() {
        return Err(NodeError::NotDeclared(spec.local_identifier.clone()));
    }
    if spec.voters.is_empty() {
        return Err(NodeError::NoVoter);
    }
    if let Some(v) = spec.voters.iter().find(|v| spec.instance(v).is_none()) {
        return Err(NodeError::UnknownVoter(v.clone()));
    }
    let mut ids: BTreeMap<NodeId, &str> = BTreeMap::new();
    for i in &spec.instances {
        let id = node_id(&i.identifier);
        if let Some(other) = ids.insert(id, &i.identifier) {
            if other != i.identifier {
                return Err(NodeError::IdCollision {
                    a: other.to_string(),
                    b: i.identifier.clone(),
                    id,
                });
            }
        }
    }
    Ok(())
}

/// Reads, increments and durably rewrites the incarnation counter in `path` (so the process
/// event batches of this start are newer than all those of earlier starts).
fn bump_incarnation(path: &Path) -> Result<u64, NodeError> {
    let io = |source| NodeError::DataDir {
        path: path.to_path_buf(),
        source,
    };
    let previous = match std::fs::read_to_string(path) {
        Ok(text) => text
            .trim()
            .parse::<u64>()
            .map_err(|_| NodeError::Incarnation {
                path: path.to_path_buf(),
                text: text.chars().take(40).collect(),
            })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(io(e)),
    };
    let next = previous.saturating_add(1);
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(format!("{next}\n").as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
    }
    Ok(next)
}

fn raft_config(spec: &SupvisorsSpec) -> Result<Config, NodeError> {
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    Config {
        cluster_name: "raftvisor".into(),
        heartbeat_interval: ms(spec.raft.heartbeat),
        election_timeout_min: ms(spec.raft.election_timeout_min),
        election_timeout_max: ms(spec.raft.election_timeout_max),
        // A snapshot chunk over HTTP needs far more than openraft's 200 ms default.
        install_snapshot_timeout: 10_000,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(5000),
        ..Default::default()
    }
    .validate()
    .map_err(|e| NodeError::Config(e.to_string()))
}

/// The internal listener: on the instance's address when it is an IP, else on all interfaces.
async fn bind(host: &str, port: u16) -> Result<tokio::net::TcpListener, NodeError> {
    let ip = host
        .parse::<IpAddr>()
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let addr = SocketAddr::new(ip, port);
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| NodeError::Bind {
            addr: addr.to_string(),
            source,
        })
}

impl Node {
    /// Starts the node: Raft on the sled store in `spec.data_dir/raft`, the internal server on
    /// the local instance's `internal_port`, and the node's tasks. Everything stops when
    /// `shutdown` is cancelled; the returned [`NodeTask`] resolves once it has.
    ///
    /// It also installs [`Node::disabled_guard`] on `supervisor`: from then on procman refuses
    /// to start (or auto-start, or auto-restart) the processes of the programs disabled for this
    /// instance. Processes autostarted before that (procman boots before the node) are left
    /// running: a daemon that cares starts procman with `Options::defer_autostart` and calls
    /// `Supervisor::autostart_now` after [`Node::wait_replayed`].
    pub async fn start(
        spec: SupvisorsSpec,
        supervisor: procman::Supervisor,
        shutdown: CancellationToken,
    ) -> Result<(Node, NodeTask), NodeError> {
        Self::start_with(spec, supervisor, shutdown, None).await
    }

    /// [`Node::start`] with the commander's planner installed from the first moment, so that
    /// the first leadership already runs it (and leaves DEPLOYMENT to it).
    pub async fn start_with(
        spec: SupvisorsSpec,
        supervisor: procman::Supervisor,
        shutdown: CancellationToken,
        planner: Option<crate::jobs::Planner>,
    ) -> Result<(Node, NodeTask), NodeError> {
        validate(&spec)?;
        let local = spec.local_identifier.clone();
        let local_addr = spec
            .local()
            .cloned()
            .ok_or_else(|| NodeError::NotDeclared(local.clone()))?;
        std::fs::create_dir_all(&spec.data_dir).map_err(|source| NodeError::DataDir {
            path: spec.data_dir.clone(),
            source,
        })?;
        let incarnation = bump_incarnation(&spec.data_dir.join("incarnation"))?;
        let config = raft_config(&spec)?;
        let (log_store, sm) = open_store(&spec.data_dir.join("raft"))?;
        let replica = sm.subscribe();
        let gate = Gate::new(&spec);
        let client = PeerClient::new(gate.signer(&local));
        let verdict = refuse_if_state_lost(&spec, &log_store, &client).await?;
        if verdict == StoreVerdict::Unverified {
            tracing::warn!("empty Raft store and no peer reachable: this instance takes no part in votes until a peer confirms it never took part before");
        }
        let committed_at_start = read_committed(&log_store).await?;
        let listener = bind(&local_addr.host, local_addr.internal_port).await?;
        let internal_addr = listener.local_addr().map_err(|source| NodeError::Bind {
            addr: local_addr.internal_addr().to_string(),
            source,
        })?;
        let id = node_id(&local);
        let backoff = spec.raft.election_timeout_min;
        let carrier = crate::carry::Carrier::new();
        let raft = Raft::new(
            id,
            Arc::new(config),
            NetworkFactory::new(client.clone(), backoff, carrier.clone()),
            log_store,
            sm,
        )
        .await
        .map_err(|e| NodeError::Raft(e.to_string()))?;
        let names = spec
            .instances
            .iter()
            .map(|i| (node_id(&i.identifier), i.identifier.clone()))
            .collect();
        let addrs = spec
            .instances
            .iter()
            .map(|i| (i.identifier.clone(), i.internal_addr()))
            .collect();
        supervisor.set_start_guard(crate::guard::disabled_guard(replica.clone(), local.clone()));
        let core = Arc::new(Core {
            write_timeout: write_timeout(&spec),
            metrics: raft.metrics(),
            spec,
            local,
            id,
            raft: raft.clone(),
            replica,
            client,
            names,
            addrs,
            cut_off: AtomicBool::new(false),
            raft_dead: AtomicBool::new(false),
            confirmed_term: AtomicU64::new(0),
            heard_from: Mutex::new(HashSet::new()),
            removed_at: Mutex::new(HashMap::new()),
            leader_no_answer: Mutex::new(None),
            shutdown: shutdown.clone(),
        });
        // The parts only some tasks share, each given to those that use it.
        let full_sync_request: FullSyncRequest = Arc::new(Notify::new());
        let full_sync_done: FullSyncDone = Arc::new(watch::channel(None).0);
        let core_ended: CoreEnded = Arc::new(watch::channel(None).0);
        let store_cleared = Arc::new(AtomicBool::new(verdict == StoreVerdict::Cleared));
        let last_append: LastAppend = Arc::new(Mutex::new(None));
        let planner: SharedPlanner = Arc::new(Mutex::new(planner));
        let fence_policy: SharedFencePolicy = Arc::new(Mutex::new(None));
        let stats_receiver: SharedStatsReceiver = Arc::new(Mutex::new(None));
        let mailbox = Arc::new(Mailbox::default());
        let leader = Arc::new(LeaderCtx {
            core: core.clone(),
            mailbox: mailbox.clone(),
            planner: planner.clone(),
        });
        carrier.bind(Arc::downgrade(&leader) as _);
        let fence = Arc::new(FenceCtx {
            core: core.clone(),
            supervisor: supervisor.clone(),
            policy: fence_policy.clone(),
            reported: std::sync::atomic::AtomicU64::new(0),
            report_turn: tokio::sync::Mutex::new(()),
        });
        tracing::info!(
            instance = %core.local,
            node_id = format_args!("{:#x}", id),
            voter = core.spec.voters.contains(&core.local),
            incarnation,
            internal = %internal_addr,
            "cluster node starting"
        );
        let server = ServerCtx {
            core: core.clone(),
            gate,
            carrier: carrier.clone(),
            mailbox: mailbox.clone(),
            supervisor: supervisor.clone(),
            full_sync_request: full_sync_request.clone(),
            full_sync_done: full_sync_done.clone(),
            last_append: last_append.clone(),
            store_cleared: store_cleared.clone(),
            core_ended: core_ended.clone(),
            stats_receiver: stats_receiver.clone(),
        };
        let leadership = LeadershipCtx {
            core: core.clone(),
            last_append: last_append.clone(),
            leader: leader.clone(),
            commander: Arc::new(CommanderCtx {
                core: core.clone(),
                planner: planner.clone(),
                supervisor: supervisor.clone(),
                full_sync_request: full_sync_request.clone(),
            }),
            fence: fence.clone(),
            core_ended: core_ended.clone(),
        };
        let ticker = TickerCtx {
            core: core.clone(),
            carrier,
            mailbox,
            supervisor: supervisor.clone(),
            incarnation,
            full_sync_request: full_sync_request.clone(),
            full_sync_done: full_sync_done.clone(),
            last_append,
            fence,
            elections_allowed: std::sync::atomic::AtomicBool::new(true),
        };
        let own_supervisor = supervisor.clone();
        let feed = FeedCtx {
            core: core.clone(),
            supervisor,
            incarnation,
            full_sync_request: full_sync_request.clone(),
            full_sync_done: full_sync_done.clone(),
        };
        let pristine = PristineCtx {
            core: core.clone(),
            store_cleared: store_cleared.clone(),
            core_ended: core_ended.clone(),
        };
        let tasks = vec![
            tokio::spawn(crate::server::serve(Arc::new(server), listener)),
            tokio::spawn(crate::bootstrap::bootstrap(core.clone(), store_cleared)),
            tokio::spawn(crate::leadership::leadership(Arc::new(leadership))),
            tokio::spawn(crate::ticker::ticker(Arc::new(ticker))),
            tokio::spawn(crate::feed::feed(feed)),
            tokio::spawn(crate::bootstrap::verify_pristine(pristine)),
        ];
        let handle = tokio::spawn(async move {
            shutdown.cancelled().await;
            for task in tasks {
                let abort = task.abort_handle();
                if tokio::time::timeout(Duration::from_secs(5), task)
                    .await
                    .is_err()
                {
                    tracing::warn!("a cluster node task did not end within 5 s: aborted");
                    abort.abort();
                }
            }
            if let Err(e) = raft.shutdown().await {
                tracing::warn!(error = %e, "Raft shutdown");
            }
            tracing::info!("cluster node stopped");
        });
        let node = Node {
            core,
            internal_addr,
            committed_at_start,
            incarnation,
            full_sync_request,
            full_sync_done,
            planner,
            fence_policy,
            stats_receiver,
            supervisor: own_supervisor,
            core_ended,
            _leader_side: leader,
        };
        Ok((node, NodeTask { handle }))
    }

    /// openraft's metrics (leadership, term, log positions, replication).
    pub fn metrics(&self) -> watch::Receiver<RaftMetrics> {
        self.core.metrics.clone()
    }

    /// Where the internal server listens (useful when the port was 0).
    pub fn internal_addr(&self) -> SocketAddr {
        self.internal_addr
    }

    /// Waits until the local replica has applied every entry this node's log store said was
    /// committed when the node started: openraft replays the committed log in the background
    /// after `Raft::new`, so until then the replica may, for instance, not show programs
    /// disabled before the restart yet. `true` once it has (at once for a node with nothing
    /// committed), `false` if `timeout` passed first or the node's state machine ended.
    pub async fn wait_replayed(&self, timeout: Duration) -> bool {
        let Some(committed) = self.committed_at_start else {
            return true;
        };
        let mut replica = self.core.replica.clone();
        let done = async move {
            replica
                .wait_for(|r| replayed(r.last_applied, committed))
                .await
                .is_ok()
        };
        tokio::time::timeout(timeout, done).await.unwrap_or(false)
    }

    /// Resolves when the instance can no longer take part while the node was not shutting
    /// down: openraft's core ended (a fatal Raft error), or an empty Raft store that no peer
    /// could vouch for at start turned out to be a lost state once one answered. The instance
    /// has stopped ticking (the others declare it SILENT within the inactivity timeout) and is
    /// cut off, but every write would fail and its processes' states would freeze in the
    /// cluster. Its owner must end the instance's membership in practice: raftvisord exits
    /// with a non-zero status (the systemd unit restarts it after [`CoreEnd::RaftStopped`]).
    /// Never resolves otherwise.
    pub async fn core_ended(&self) -> CoreEnd {
        let mut ended = self.core_ended.subscribe();
        let end = match ended.wait_for(|e| e.is_some()).await {
            Ok(end) => end.clone(),
            Err(_) => None,
        };
        match end {
            Some(end) => end,
            None => std::future::pending().await,
        }
    }

    /// Fault injection for tests: shuts openraft's core down as a fatal error would stop it,
    /// while the rest of the node keeps running ([`Node::core_ended`] then resolves). Only
    /// raftvisord debug builds expose it (`RAFTVISOR_TEST_END_RAFT_CORE_WHEN`).
    #[doc(hidden)]
    pub async fn end_raft_core_for_test(&self) {
        tracing::warn!(instance = %self.core.local, "fault injection: shutting the Raft core down");
        if let Err(e) = self.core.raft.shutdown().await {
            tracing::warn!(error = %e, "Raft shutdown (fault injection)");
        }
    }

    /// The incarnation of this start (the counter persisted in the data dir).
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// Sends a full batch of the local processes now and waits until it is committed: `true`
    /// once it is, `false` after `timeout` or at once when no leader is known. For the end of
    /// the daemon, once procman has stopped everything: the state then holds every process
    /// STOPPED rather than what the last batch before the stop said.
    pub async fn sync_processes(&self, timeout: Duration) -> bool {
        if self.core.leader_view().leader.is_none() {
            return false;
        }
        let mut done = self.full_sync_done.subscribe();
        let before = *done.borrow_and_update();
        self.full_sync_request.notify_one();
        let committed = async move { done.wait_for(|seq| *seq != before).await.is_ok() };
        tokio::time::timeout(timeout, committed)
            .await
            .unwrap_or(false)
    }

    /// The start guard refusing the programs disabled for this instance in the local replica
    /// (`DISABLED: <namespec>`). [`Node::start`] installs it on its supervisor already; this is
    /// for another supervisor handle or a test.
    pub fn disabled_guard(&self) -> procman::StartGuard {
        crate::guard::disabled_guard(self.core.replica.clone(), self.core.local.clone())
    }

    /// Installs the commander's planner: from now on, whenever this node leads, it runs it and
    /// executes its plans; it also takes over the DEPLOYMENT → OPERATION transition (the
    /// planner ends DEPLOYMENT when the deployment job is over).
    pub fn set_planner(&self, planner: crate::jobs::Planner) {
        if let Ok(mut slot) = self.planner.lock() {
            *slot = Some(planner);
        }
    }

    /// Sets the policy applied when this instance is cut off with `no_quorum_policy =
    /// stop_movable`.
    pub fn set_fence_policy(&self, policy: FencePolicy) {
        if let Ok(mut slot) = self.fence_policy.lock() {
            *slot = Some(policy);
        }
    }

    /// Sets what is done with the statistics samples that the other instances send.
    pub fn set_stats_receiver(&self, receiver: crate::inner::StatsReceiver) {
        if let Ok(mut slot) = self.stats_receiver.lock() {
            *slot = Some(receiver);
        }
    }

    /// Sends this instance's statistics `sample` to every other instance that the replica
    /// shows in touch (CHECKING or RUNNING), at the same time, each within
    /// [`STATS_SEND_TIMEOUT`]; nothing while this instance is cut off. An instance that does
    /// not answer misses this sample (statistics are not state: the next one makes up for
    /// it). Why not to all: connections to a host that cannot answer would only pile up next
    /// to the Raft traffic that brings it back (Supvisors, too, sends to active instances).
    pub async fn broadcast_stats(&self, sample: &stats::Sample) {
        if self.core.cut_off.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let in_touch: Vec<String> = {
            let replica = self.core.replica.borrow();
            self.core
                .addrs
                .keys()
                .filter(|id| **id != self.core.local)
                .filter(|id| {
                    replica.state.instance(id).is_some_and(|r| {
                        matches!(
                            r.state,
                            crate::state::InstanceState::Running
                                | crate::state::InstanceState::Checking
                        )
                    })
                })
                .cloned()
                .collect()
        };
        let body = match crate::codec::encode(sample) {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(error = %e, "statistics sample not encodable");
                return;
            }
        };
        let sends = self
            .core
            .addrs
            .iter()
            .filter(|(identifier, _)| in_touch.contains(identifier))
            .map(|(identifier, addr)| {
                let body = body.clone();
                async move {
                    if let Err(e) = self
                        .core
                        .client
                        .post_raw(addr, PATH_STATS, body, STATS_SEND_TIMEOUT)
                        .await
                    {
                        tracing::trace!(peer = %identifier, error = %e, "statistics not sent");
                    }
                }
            });
        futures_util::future::join_all(sends).await;
    }
}

/// How long sending a statistics sample to one instance may take.
pub const STATS_SEND_TIMEOUT: Duration = Duration::from_secs(2);

impl ClusterApi for Node {
    fn local_identifier(&self) -> String {
        self.core.local.clone()
    }

    fn replica(&self) -> watch::Receiver<Replica> {
        self.core.replica.clone()
    }

    fn leader_view(&self) -> LeaderView {
        self.core.leader_view()
    }

    fn raft_status(&self) -> RaftStatus {
        self.core.raft_status()
    }

    fn write(
        &self,
        cmd: Command,
    ) -> impl std::future::Future<Output = Result<CommandResult, WriteError>> + Send {
        let core = self.core.clone();
        async move { core.write(cmd).await }
    }

    fn raft_members(
        &self,
    ) -> impl std::future::Future<Output = Result<Vec<RaftMember>, MembershipError>> + Send {
        let core = self.core.clone();
        async move { core.raft_members().await }
    }

    fn change_membership(
        &self,
        change: MembershipChange,
    ) -> impl std::future::Future<Output = Result<(), MembershipError>> + Send {
        let core = self.core.clone();
        async move { core.change_membership(change).await }
    }

    fn local_call(
        &self,
        identifier: &str,
        call: crate::remote::LocalCall,
    ) -> impl std::future::Future<Output = Result<crate::remote::LocalAnswer, model::Fault>> + Send
    {
        let (core, supervisor) = (self.core.clone(), self.supervisor.clone());
        let identifier = identifier.to_string();
        async move {
            if identifier == core.local {
                return crate::remote::run(&supervisor, &call).await;
            }
            let Some(addr) = core.addrs.get(&identifier) else {
                return Err(model::Fault::with(
                    model::FaultCode::BadName,
                    format!("identifier={identifier} is unknown to Supvisors"),
                ));
            };
            core.client
                .call::<_, Result<crate::remote::LocalAnswer, model::Fault>>(
                    addr,
                    crate::wire::PATH_LOCAL,
                    &call,
                    crate::remote::LOCAL_CALL_TIMEOUT,
                )
                .await
                .unwrap_or_else(|e| Err(crate::remote::unreachable(&identifier, &e.to_string())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::tests::spec;

    #[test]
    fn replayed_once_the_committed_index_is_applied() {
        let id = |term, index| {
            crate::types::LogId::new(openraft::CommittedLeaderId::new(term, 1), index)
        };
        assert!(!replayed(None, id(1, 4)));
        assert!(!replayed(Some(id(1, 3)), id(1, 4)));
        assert!(replayed(Some(id(1, 4)), id(1, 4)));
        // A snapshot from a later term covering the index counts too.
        assert!(replayed(Some(id(2, 9)), id(1, 4)));
    }

    #[test]
    fn incarnation_grows_at_each_start_and_corruption_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("incarnation");
        assert_eq!(bump_incarnation(&path).unwrap(), 1);
        assert_eq!(bump_incarnation(&path).unwrap(), 2);
        std::fs::write(&path, "garbage").unwrap();
        assert!(matches!(
            bump_incarnation(&path),
            Err(NodeError::Incarnation { .. })
        ));
    }

    #[test]
    fn spec_validation_refuses_undeclared_instances_and_voters() {
        let mut s = spec(&["a", "b"], None);
        assert!(validate(&s).is_ok());
        s.local_identifier = "z".into();
        assert!(matches!(validate(&s), Err(NodeError::NotDeclared(_))));
        let mut s = spec(&["a", "b"], None);
        s.voters.push("q".into());
        assert!(matches!(validate(&s), Err(NodeError::UnknownVoter(_))));
        let mut s = spec(&["a", "b"], None);
        s.voters.clear();
        assert!(matches!(validate(&s), Err(NodeError::NoVoter)));
    }

    #[test]
    fn raft_config_takes_the_spec_timings() {
        let s = spec(&["a"], None);
        let c = raft_config(&s).unwrap();
        assert_eq!(
            (
                c.heartbeat_interval,
                c.election_timeout_min,
                c.election_timeout_max
            ),
            (50, 150, 300)
        );
        let mut bad = s.clone();
        bad.raft.election_timeout_min = bad.raft.election_timeout_max;
        assert!(matches!(raft_config(&bad), Err(NodeError::Config(_))));
    }
}
