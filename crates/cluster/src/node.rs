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

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use model::net::HostPort;
use model::supvisors::SupvisorsSpec;
use openraft::error::{ClientWriteError, RaftError};
use openraft::{Config, ServerState, SnapshotPolicy};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::{ClusterApi, LeaderView, RaftStatus, WriteError};
use crate::auth::Gate;
use crate::book::LeaderBook;
use crate::membership::{MembershipChange, MembershipError, PeerKnowledge, RaftMember};
use crate::network::{NetworkFactory, PeerClient};
use crate::state::{BatchSeq, ClusterState, Command, CommandResult};
use crate::store::{open_store, Replica, StoreError};
use crate::types::{node_id, NodeId, NodeInfo, Raft};
use crate::wire::{WriteReply, PATH_WRITE};

/// openraft's metrics for this cluster's types.
pub type RaftMetrics = openraft::RaftMetrics<NodeId, NodeInfo>;

/// The [`RaftStatus`] of `m`, naming node ids from `names`. A dead core (`dead`) names no
/// leader, its last metrics being stale; being cut off does not hide it, unlike
/// [`Inner::leader_view`]. An id outside `names` (which `validate` rules out) shows as hex
/// rather than vanishing from a diagnostic.
fn raft_status_of(m: &RaftMetrics, names: &HashMap<NodeId, String>, dead: bool) -> RaftStatus {
    let name = |id: NodeId| {
        names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("{id:#x}"))
    };
    let sorted = |ids: &mut dyn Iterator<Item = NodeId>| {
        let mut list: Vec<String> = ids.map(name).collect();
        list.sort_unstable();
        list
    };
    let membership = m.membership_config.membership();
    RaftStatus {
        leader: m.current_leader.filter(|_| !dead).map(name),
        term: m.current_term,
        last_log_index: m.last_log_index,
        last_applied: m.last_applied.map(|log_id| log_id.index),
        voters: sorted(&mut membership.voter_ids()),
        learners: sorted(&mut membership.learner_ids()),
    }
}

/// Which local processes to stop when this instance finds itself cut off from the quorum with
/// `no_quorum_policy = stop_movable` (those the majority would restart elsewhere). Given the
/// local replica, the local identifier and the namespecs of the processes that really run
/// here (from the local supervisor: the replica may lag behind a start just before the cut),
/// returns the namespecs to stop. The default (none set: no rules) stops nothing.
pub type FencePolicy = Arc<dyn Fn(&ClusterState, &str, &[String]) -> Vec<String> + Send + Sync>;

/// Why an instance stopped taking part in the cluster while running ([`Node::core_ended`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreEnd {
    /// openraft's core ended (a fatal error): a restart gives the instance a fresh core.
    RaftStopped,
    /// The instance started with an empty Raft store while no peer could answer; a peer that
    /// answered since knows it as a member that took part: its state was lost. The same as
    /// [`NodeError::LostState`] at start; an operator is needed.
    StateLost { data_dir: PathBuf, peer: String },
}

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

/// What every reachable peer (in `spec`, but this instance) knows of this instance.
pub(crate) async fn ask_peers(
    spec: &SupvisorsSpec,
    client: &PeerClient,
) -> Vec<(String, PeerKnowledge)> {
    let timeout = spec
        .raft
        .election_timeout_max
        .max(Duration::from_millis(300));
    let probes = spec
        .instances
        .iter()
        .filter(|i| i.identifier != spec.local_identifier)
        .map(|i| {
            let addr = i.internal_addr();
            async move {
                let reply = client
                    .call::<(), crate::wire::HelloReply>(
                        &addr,
                        crate::wire::PATH_HELLO,
                        &(),
                        timeout,
                    )
                    .await;
                (i.identifier.clone(), reply)
            }
        });
    futures_util::future::join_all(probes)
        .await
        .into_iter()
        .filter_map(|(peer, reply)| {
            let reply = reply.ok()?;
            let peer_leads = reply.leader.as_deref() == Some(peer.as_str());
            Some((
                peer,
                PeerKnowledge {
                    initialized: reply.initialized,
                    asker_is_member: reply.asker_is_member,
                    replicated_to_asker: reply.replicated_to_asker,
                    asker_seen: reply.asker_seen,
                    peer_leads,
                },
            ))
        })
        .collect()
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
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) spec: SupvisorsSpec,
    pub(crate) local: String,
    pub(crate) id: NodeId,
    pub(crate) is_voter: bool,
    pub(crate) raft: Raft,
    pub(crate) metrics: watch::Receiver<RaftMetrics>,
    pub(crate) replica: watch::Receiver<Replica>,
    pub(crate) client: PeerClient,
    pub(crate) gate: Gate,
    pub(crate) internal_addr: SocketAddr,
    /// Raft node id → identifier.
    pub(crate) names: HashMap<NodeId, String>,
    /// Identifier → internal port address (from the config: every instance has the same).
    pub(crate) addrs: HashMap<String, HostPort>,
    pub(crate) cut_off: AtomicBool,
    /// Set when openraft's core has ended (its metrics channel closed): a dead core's last
    /// metrics must not keep this node looking like the leader.
    pub(crate) raft_dead: AtomicBool,
    /// Tells the owner of the node that the instance no longer takes part, and why (see
    /// [`Node::core_ended`]).
    pub(crate) core_ended: watch::Sender<Option<CoreEnd>>,
    /// False while an empty Raft store is not yet cleared by a peer (see
    /// [`crate::bootstrap::verify_pristine`]): votes, appends and snapshots are refused.
    pub(crate) store_cleared: AtomicBool,
    /// The term whose leadership of this node was confirmed by a quorum (a read-index round
    /// that also waits for the leader's blank entry of the term to be applied); 0: none. A
    /// restarted former leader is restored as leader of its old term by openraft before it
    /// learns that a newer term exists: until confirmed, it neither acts nor answers as master.
    pub(crate) confirmed_term: AtomicU64,
    /// The instances that sent this node an append-entries request since it started: a
    /// follower names another instance as the leader only once it has heard from it, not on
    /// the strength of a vote it persisted in an earlier run.
    pub(crate) heard_from: Mutex<HashSet<String>>,
    /// When this node, leading, removed an instance from the membership: the leader loop does
    /// not add a removed learner back until it ticks again (see `learners_to_add`).
    pub(crate) removed_at: Mutex<HashMap<String, std::time::Instant>>,
    /// The liveness book while this node leads, `None` otherwise.
    pub(crate) book: Mutex<Option<LeaderBook>>,
    /// Wakes the leader loop when a tick needs a decision.
    pub(crate) book_wake: Notify,
    /// Asks the feed for a full snapshot of the local processes.
    pub(crate) full_sync_request: Notify,
    /// The latest committed full snapshot of the local processes.
    pub(crate) full_sync_done: watch::Sender<Option<BatchSeq>>,
    pub(crate) incarnation: u64,
    pub(crate) fence_policy: Mutex<Option<FencePolicy>>,
    /// The last append-entries request (heartbeats included) this node received: from whom
    /// and when. A new leader counts its predecessor's silence from there.
    pub(crate) last_append: Mutex<Option<(String, std::time::Instant)>>,
    /// The commander's planner, run by the leader (see [`crate::executor`]).
    pub(crate) planner: Mutex<Option<crate::jobs::Planner>>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) supervisor: procman::Supervisor,
    pub(crate) write_timeout: Duration,
    /// The committed log id this node's log store held when it started: what the replica must
    /// have applied before it reflects everything this node knew (see [`Node::wait_replayed`]).
    pub(crate) committed_at_start: Option<crate::types::LogId>,
    /// Liveness carried by the heartbeats (see [`crate::carry`]).
    pub(crate) carrier: Arc<crate::carry::Carrier>,
}

/// How long a write may take in total (commit on the leader, or forward + commit).
fn write_timeout(spec: &SupvisorsSpec) -> Duration {
    (spec.raft.election_timeout_max * 4).max(Duration::from_secs(2))
}

/// Pause of a write that found no leader before it gives up (an election usually ends sooner).
const NO_LEADER_GRACE: Duration = Duration::from_millis(300);

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

pub(crate) fn node_info(spec: &SupvisorsSpec, identifier: &str) -> Option<NodeInfo> {
    spec.instance(identifier).map(|i| NodeInfo {
        identifier: i.identifier.clone(),
        raft_addr: i.internal_addr().to_string(),
        http_addr: i.http_addr().to_string(),
    })
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
        let client = PeerClient::new(
            local.clone(),
            gate.fingerprint().to_string(),
            gate.token_for(&local),
        );
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
        let (full_sync_done, _) = watch::channel(None);
        let inner = Arc::new(Inner {
            is_voter: spec.voters.contains(&local),
            write_timeout: write_timeout(&spec),
            metrics: raft.metrics(),
            spec,
            local,
            id,
            raft: raft.clone(),
            replica,
            client,
            gate,
            internal_addr,
            names,
            addrs,
            cut_off: AtomicBool::new(false),
            raft_dead: AtomicBool::new(false),
            core_ended: watch::channel(None).0,
            store_cleared: AtomicBool::new(verdict == StoreVerdict::Cleared),
            confirmed_term: AtomicU64::new(0),
            heard_from: Mutex::new(HashSet::new()),
            removed_at: Mutex::new(HashMap::new()),
            book: Mutex::new(None),
            book_wake: Notify::new(),
            full_sync_request: Notify::new(),
            full_sync_done,
            incarnation,
            fence_policy: Mutex::new(None),
            planner: Mutex::new(planner),
            last_append: Mutex::new(None),
            shutdown: shutdown.clone(),
            supervisor,
            committed_at_start,
            carrier,
        });
        inner.carrier.bind(&inner);
        tracing::info!(
            instance = %inner.local,
            node_id = format_args!("{:#x}", id),
            voter = inner.is_voter,
            incarnation,
            internal = %internal_addr,
            "cluster node starting"
        );
        let tasks = vec![
            tokio::spawn(crate::server::serve(inner.clone(), listener)),
            tokio::spawn(crate::bootstrap::bootstrap(inner.clone())),
            tokio::spawn(crate::leadership::leadership(inner.clone())),
            tokio::spawn(crate::ticker::ticker(inner.clone())),
            tokio::spawn(crate::feed::feed(inner.clone())),
            tokio::spawn(crate::bootstrap::verify_pristine(inner.clone())),
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
        Ok((Node { inner }, NodeTask { handle }))
    }

    /// openraft's metrics (leadership, term, log positions, replication).
    pub fn metrics(&self) -> watch::Receiver<RaftMetrics> {
        self.inner.metrics.clone()
    }

    /// Where the internal server listens (useful when the port was 0).
    pub fn internal_addr(&self) -> SocketAddr {
        self.inner.internal_addr
    }

    /// Waits until the local replica has applied every entry this node's log store said was
    /// committed when the node started: openraft replays the committed log in the background
    /// after `Raft::new`, so until then the replica may, for instance, not show programs
    /// disabled before the restart yet. `true` once it has (at once for a node with nothing
    /// committed), `false` if `timeout` passed first or the node's state machine ended.
    pub async fn wait_replayed(&self, timeout: Duration) -> bool {
        let Some(committed) = self.inner.committed_at_start else {
            return true;
        };
        let mut replica = self.inner.replica.clone();
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
        let mut ended = self.inner.core_ended.subscribe();
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
        tracing::warn!(instance = %self.inner.local, "fault injection: shutting the Raft core down");
        if let Err(e) = self.inner.raft.shutdown().await {
            tracing::warn!(error = %e, "Raft shutdown (fault injection)");
        }
    }

    /// The incarnation of this start (the counter persisted in the data dir).
    pub fn incarnation(&self) -> u64 {
        self.inner.incarnation
    }

    /// Sends a full batch of the local processes now and waits until it is committed: `true`
    /// once it is, `false` after `timeout` or at once when no leader is known. For the end of
    /// the daemon, once procman has stopped everything: the state then holds every process
    /// STOPPED rather than what the last batch before the stop said.
    pub async fn sync_processes(&self, timeout: Duration) -> bool {
        if self.inner.leader_view().leader.is_none() {
            return false;
        }
        let mut done = self.inner.full_sync_done.subscribe();
        let before = *done.borrow_and_update();
        self.inner.full_sync_request.notify_one();
        let committed = async move { done.wait_for(|seq| *seq != before).await.is_ok() };
        tokio::time::timeout(timeout, committed)
            .await
            .unwrap_or(false)
    }

    /// The start guard refusing the programs disabled for this instance in the local replica
    /// (`DISABLED: <namespec>`). [`Node::start`] installs it on its supervisor already; this is
    /// for another supervisor handle or a test.
    pub fn disabled_guard(&self) -> procman::StartGuard {
        crate::guard::disabled_guard(self.inner.replica.clone(), self.inner.local.clone())
    }

    /// Installs the commander's planner: from now on, whenever this node leads, it runs it and
    /// executes its plans; it also takes over the DEPLOYMENT → OPERATION transition (the
    /// planner ends DEPLOYMENT when the deployment job is over).
    pub fn set_planner(&self, planner: crate::jobs::Planner) {
        if let Ok(mut slot) = self.inner.planner.lock() {
            *slot = Some(planner);
        }
    }

    /// Sets the policy applied when this instance is cut off with `no_quorum_policy =
    /// stop_movable`.
    pub fn set_fence_policy(&self, policy: FencePolicy) {
        if let Ok(mut slot) = self.inner.fence_policy.lock() {
            *slot = Some(policy);
        }
    }
}

impl Inner {
    pub(crate) fn identifier_of(&self, id: NodeId) -> Option<String> {
        self.names.get(&id).cloned()
    }

    /// The leader this node may name: itself only once its leadership of the current term is
    /// confirmed ([`Inner::is_leader`]), another instance only once it has heard from it since
    /// it started. `None` otherwise (election, restart, stale vote).
    pub(crate) fn current_leader(&self) -> Option<String> {
        let leader = self.metrics.borrow().current_leader?;
        if leader == self.id {
            return self.is_leader().then(|| self.local.clone());
        }
        let name = self.identifier_of(leader)?;
        let heard = self.heard_from.lock().is_ok_and(|h| h.contains(&name));
        heard.then_some(name)
    }

    /// openraft says this node leads (its state and its metrics' leader), whether or not a
    /// quorum confirmed it: only the leadership watcher uses this, to start the confirmation.
    pub(crate) fn raft_says_leader(&self) -> bool {
        if self.raft_dead.load(Ordering::Relaxed) {
            return false;
        }
        let m = self.metrics.borrow();
        m.state == ServerState::Leader && m.current_leader == Some(self.id)
    }

    /// This node leads, confirmed by a quorum in the current term: it may act (leader loop,
    /// commander, answering ticks) and name itself master.
    pub(crate) fn is_leader(&self) -> bool {
        if !self.raft_says_leader() {
            return false;
        }
        let term = self.metrics.borrow().current_term;
        term != 0 && self.confirmed_term.load(Ordering::Relaxed) == term
    }

    /// Who leads, as far as this node can tell. A node cut off from the quorum (or whose Raft
    /// core died) names no leader: like a Supvisors instance that lost its Master, it must not
    /// present itself or a stale leader as the master. See [`Inner::current_leader`] for the
    /// confirmation a leader needs.
    pub(crate) fn leader_view(&self) -> LeaderView {
        let term = self.metrics.borrow().current_term;
        let cut_off = self.cut_off.load(Ordering::Relaxed);
        let dead = self.raft_dead.load(Ordering::Relaxed);
        LeaderView {
            leader: if cut_off || dead {
                None
            } else {
                self.current_leader()
            },
            term,
            cut_off: cut_off || dead,
        }
    }

    /// openraft's metrics with identifiers for node ids; see [`raft_status_of`].
    pub(crate) fn raft_status(&self) -> RaftStatus {
        raft_status_of(
            &self.metrics.borrow(),
            &self.names,
            self.raft_dead.load(Ordering::Relaxed),
        )
    }

    /// Commits `cmd` on this node, which must lead. Used by local writes and by `/ctl/write`.
    pub(crate) async fn write_as_leader(&self, cmd: Command) -> WriteReply {
        if self.cut_off.load(Ordering::Relaxed) {
            return WriteReply::CutOff;
        }
        if self.shutdown.is_cancelled() {
            return WriteReply::Failed("the cluster node is shutting down".into());
        }
        match tokio::time::timeout(self.write_timeout, self.raft.client_write(cmd)).await {
            Err(_) => WriteReply::Timeout {
                millis: u64::try_from(self.write_timeout.as_millis()).unwrap_or(u64::MAX),
            },
            Ok(Ok(response)) => WriteReply::Done(response.data),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                WriteReply::NotLeader {
                    leader: f.leader_id.and_then(|l| self.identifier_of(l)),
                }
            }
            Ok(Err(e)) => WriteReply::Failed(e.to_string()),
        }
    }

    /// Waits (at most `grace`) until this node can name a leader ([`Inner::current_leader`]:
    /// its confirmation is no metrics change, hence the short polls).
    async fn wait_for_leader(&self, grace: Duration) -> Option<String> {
        let found = tokio::time::timeout(grace, async {
            loop {
                if let Some(l) = self.current_leader() {
                    return Some(l);
                }
                if self.raft_dead.load(Ordering::Relaxed) {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        found.ok().flatten()
    }

    /// The write path of [`ClusterApi::write`]: local commit on the leader, forward to the
    /// leader on a follower, fail fast without a leader or when cut off.
    pub(crate) async fn write(&self, cmd: Command) -> Result<CommandResult, WriteError> {
        let deadline = tokio::time::Instant::now() + self.write_timeout;
        let mut hint: Option<String> = None;
        for attempt in 0..3 {
            if self.shutdown.is_cancelled() {
                return Err(WriteError::Shutdown);
            }
            if self.cut_off.load(Ordering::Relaxed) || self.raft_dead.load(Ordering::Relaxed) {
                return Err(WriteError::CutOff);
            }
            let leader = match hint.take().or_else(|| self.current_leader()) {
                Some(l) => l,
                None if attempt == 0 => match self.wait_for_leader(NO_LEADER_GRACE).await {
                    Some(l) => l,
                    None => return Err(WriteError::NoLeader),
                },
                None => return Err(WriteError::NoLeader),
            };
            let reply = if leader == self.local {
                self.write_as_leader(cmd.clone()).await
            } else {
                let Some(addr) = self.addrs.get(&leader) else {
                    return Err(WriteError::Forward {
                        leader,
                        reason: "not in supvisors_list".into(),
                    });
                };
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                if left.is_zero() {
                    return Err(WriteError::Timeout(self.write_timeout));
                }
                match self.client.call(addr, PATH_WRITE, &cmd, left).await {
                    Ok(reply) => reply,
                    Err(e) => {
                        return Err(WriteError::Forward {
                            leader,
                            reason: e.to_string(),
                        })
                    }
                }
            };
            match reply {
                WriteReply::Done(result) => return Ok(result),
                WriteReply::CutOff => {
                    return Err(WriteError::Forward {
                        leader,
                        reason: "the leader is cut off from the quorum".into(),
                    })
                }
                WriteReply::Timeout { millis } => {
                    return Err(WriteError::Timeout(Duration::from_millis(millis)))
                }
                WriteReply::Failed(reason) => return Err(WriteError::Raft(reason)),
                WriteReply::NotLeader { leader: next } => {
                    // Leadership moved: follow the hint once, or wait briefly for an election.
                    hint = next.filter(|n| *n != leader);
                    if hint.is_none() {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
        Err(WriteError::NoLeader)
    }
}

/// How long `add_member` waits for the instance to catch up with the log before it gives up.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(15);

impl Inner {
    /// The effective membership's voters and learners, by identifier.
    fn membership_sets(&self) -> (BTreeSet<String>, BTreeSet<String>) {
        let m = self.metrics.borrow();
        let membership = m.membership_config.membership();
        let name = |id: NodeId| self.identifier_of(id).unwrap_or_else(|| format!("{id:#x}"));
        (
            membership.voter_ids().map(name).collect(),
            membership.learner_ids().map(name).collect(),
        )
    }

    /// The member list with the replication progress; only the leader knows it.
    pub(crate) fn members_as_leader(&self) -> Result<Vec<RaftMember>, MembershipError> {
        if !self.is_leader() {
            return Err(MembershipError::NotLeader {
                leader: self.current_leader(),
            });
        }
        let (voters, learners) = self.membership_sets();
        let m = self.metrics.borrow();
        let matched: BTreeMap<String, Option<u64>> = m
            .replication
            .iter()
            .flatten()
            .map(|(id, log)| {
                (
                    self.identifier_of(*id)
                        .unwrap_or_else(|| format!("{id:#x}")),
                    log.map(|l| l.index),
                )
            })
            .collect();
        Ok(crate::membership::members(
            &voters,
            &learners,
            &self.local,
            &matched,
            m.last_log_index,
        ))
    }

    /// Executes an operator's membership change on the leader, after the checks of
    /// [`crate::membership`]. A voter is removed for good (not kept as a learner); an added
    /// instance first joins as a learner and must catch up with the log (it has to be
    /// running) before a voter of the config is made a voter again.
    pub(crate) async fn change_as_leader(
        &self,
        change: MembershipChange,
    ) -> Result<(), MembershipError> {
        use openraft::ChangeMembers;
        if self.cut_off.load(Ordering::Relaxed) || self.raft_dead.load(Ordering::Relaxed) {
            return Err(MembershipError::CutOff);
        }
        if !self.is_leader() {
            return Err(MembershipError::NotLeader {
                leader: self.current_leader(),
            });
        }
        let raft_error = |e: String| MembershipError::Raft(e);
        let (voters, learners) = self.membership_sets();
        match change {
            MembershipChange::Remove(target) => {
                if self.spec.instance(&target).is_none() {
                    return Err(MembershipError::Unknown(target));
                }
                if target == self.local {
                    // openraft would let the leader commit its own removal and then step
                    // down; an operator retires a running master by stopping it first.
                    return Err(MembershipError::IsMaster(target));
                }
                let healthy: BTreeSet<String> = {
                    let replica = self.replica.borrow();
                    replica
                        .state
                        .instances()
                        .filter(|(_, r)| r.state == crate::state::InstanceState::Running)
                        .map(|(id, _)| id.to_string())
                        .chain([self.local.clone()])
                        .collect()
                };
                let role = crate::membership::check_removal(&voters, &learners, &healthy, &target)?;
                let ids = BTreeSet::from([node_id(&target)]);
                let changes = match role {
                    crate::membership::MemberRole::Voter => ChangeMembers::RemoveVoters(ids),
                    crate::membership::MemberRole::Learner => ChangeMembers::RemoveNodes(ids),
                };
                match tokio::time::timeout(
                    self.write_timeout,
                    self.raft.change_membership(changes, false),
                )
                .await
                {
                    Err(_) => Err(raft_error(format!(
                        "the membership change did not commit within {:?}",
                        self.write_timeout
                    ))),
                    Ok(Err(e)) => Err(raft_error(e.to_string())),
                    Ok(Ok(_)) => {
                        if let Ok(mut removed) = self.removed_at.lock() {
                            removed.insert(target.clone(), std::time::Instant::now());
                        }
                        tracing::warn!(instance = %target, role = role.name(), "removed from the Raft membership by an operator");
                        Ok(())
                    }
                }
            }
            MembershipChange::Add(target) => {
                let Some(info) = node_info(&self.spec, &target) else {
                    return Err(MembershipError::Unknown(target));
                };
                crate::membership::check_addition(&voters, &target)?;
                if let Ok(mut removed) = self.removed_at.lock() {
                    removed.remove(&target);
                }
                let id = node_id(&target);
                let add = self.raft.add_learner(id, info, true);
                match tokio::time::timeout(CATCH_UP_TIMEOUT, add).await {
                    Err(_) => {
                        return Err(MembershipError::NotCaughtUp {
                            target,
                            seconds: CATCH_UP_TIMEOUT.as_secs(),
                        })
                    }
                    Ok(Err(e)) => return Err(raft_error(e.to_string())),
                    Ok(Ok(_)) => {}
                }
                if !self.spec.voters.contains(&target) {
                    tracing::warn!(instance = %target, "added back to the Raft membership as a learner by an operator");
                    return Ok(());
                }
                let promote = self
                    .raft
                    .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false);
                match tokio::time::timeout(self.write_timeout, promote).await {
                    Err(_) => Err(raft_error(format!(
                        "the membership change did not commit within {:?}",
                        self.write_timeout
                    ))),
                    Ok(Err(e)) => Err(raft_error(e.to_string())),
                    Ok(Ok(_)) => {
                        tracing::warn!(instance = %target, "added back to the Raft membership as a voter by an operator");
                        Ok(())
                    }
                }
            }
        }
    }

    /// The leader a membership request goes to (briefly waiting for an election).
    async fn membership_leader(&self) -> Result<String, MembershipError> {
        if self.shutdown.is_cancelled() {
            return Err(MembershipError::Raft(
                "the cluster node is shutting down".into(),
            ));
        }
        if self.cut_off.load(Ordering::Relaxed) || self.raft_dead.load(Ordering::Relaxed) {
            return Err(MembershipError::CutOff);
        }
        match self.current_leader() {
            Some(l) => Ok(l),
            None => self
                .wait_for_leader(NO_LEADER_GRACE)
                .await
                .ok_or(MembershipError::NoLeader),
        }
    }

    /// Sends a membership request to `leader` on `path`; `timeout` bounds the whole call.
    async fn forward_membership<B, T>(
        &self,
        leader: &str,
        path: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<T, MembershipError>
    where
        B: serde::Serialize,
        T: serde::de::DeserializeOwned,
    {
        let Some(addr) = self.addrs.get(leader) else {
            return Err(MembershipError::Forward {
                leader: leader.to_string(),
                reason: "not in supvisors_list".into(),
            });
        };
        self.client
            .call::<B, Result<T, MembershipError>>(addr, path, body, timeout)
            .await
            .map_err(|e| MembershipError::Forward {
                leader: leader.to_string(),
                reason: e.to_string(),
            })?
    }

    /// [`ClusterApi::raft_members`]: answered by the leader (locally or forwarded).
    pub(crate) async fn raft_members(&self) -> Result<Vec<RaftMember>, MembershipError> {
        let leader = self.membership_leader().await?;
        if leader == self.local {
            return self.members_as_leader();
        }
        self.forward_membership(&leader, crate::wire::PATH_MEMBERS, &(), self.write_timeout)
            .await
    }

    /// [`ClusterApi::change_membership`]: executed by the leader (locally or forwarded).
    pub(crate) async fn change_membership(
        &self,
        change: MembershipChange,
    ) -> Result<(), MembershipError> {
        let leader = self.membership_leader().await?;
        if leader == self.local {
            return self.change_as_leader(change).await;
        }
        let timeout = CATCH_UP_TIMEOUT + self.write_timeout * 2;
        self.forward_membership(&leader, crate::wire::PATH_MEMBERSHIP, &change, timeout)
            .await
    }
}

impl ClusterApi for Node {
    fn local_identifier(&self) -> String {
        self.inner.local.clone()
    }

    fn replica(&self) -> watch::Receiver<Replica> {
        self.inner.replica.clone()
    }

    fn leader_view(&self) -> LeaderView {
        self.inner.leader_view()
    }

    fn raft_status(&self) -> RaftStatus {
        self.inner.raft_status()
    }

    fn write(
        &self,
        cmd: Command,
    ) -> impl std::future::Future<Output = Result<CommandResult, WriteError>> + Send {
        let inner = self.inner.clone();
        async move { inner.write(cmd).await }
    }

    fn raft_members(
        &self,
    ) -> impl std::future::Future<Output = Result<Vec<RaftMember>, MembershipError>> + Send {
        let inner = self.inner.clone();
        async move { inner.raft_members().await }
    }

    fn change_membership(
        &self,
        change: MembershipChange,
    ) -> impl std::future::Future<Output = Result<(), MembershipError>> + Send {
        let inner = self.inner.clone();
        async move { inner.change_membership(change).await }
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
    fn raft_status_names_the_metrics_nodes() {
        use openraft::{CommittedLeaderId, LogId, Membership, StoredMembership};
        use std::collections::BTreeSet;
        let names: HashMap<NodeId, String> = ["a", "b", "c", "d"]
            .iter()
            .map(|id| (node_id(id), id.to_string()))
            .collect();
        let stranger: NodeId = 0x2a;
        let mut m = RaftMetrics::new_initial(node_id("a"));
        assert_eq!(raft_status_of(&m, &names, false), RaftStatus::default());
        let voters: BTreeSet<NodeId> = ["c", "a", "b"].iter().map(|id| node_id(id)).collect();
        let nodes: BTreeMap<NodeId, NodeInfo> = voters
            .iter()
            .chain([node_id("d"), stranger].iter())
            .map(|id| (*id, NodeInfo::default()))
            .collect();
        let log_id = LogId::new(CommittedLeaderId::new(3, node_id("b")), 41);
        m.membership_config = Arc::new(StoredMembership::new(
            Some(log_id),
            Membership::new(vec![voters], nodes),
        ));
        m.current_term = 3;
        m.current_leader = Some(node_id("b"));
        m.last_log_index = Some(42);
        m.last_applied = Some(log_id);
        let status = raft_status_of(&m, &names, false);
        assert_eq!(
            status,
            RaftStatus {
                leader: Some("b".into()),
                term: 3,
                last_log_index: Some(42),
                last_applied: Some(41),
                voters: vec!["a".into(), "b".into(), "c".into()],
                learners: vec!["0x2a".into(), "d".into()],
            }
        );
        let dead = raft_status_of(&m, &names, true);
        assert_eq!(dead.leader, None);
        assert_eq!(dead.last_log_index, Some(42));
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
