//! The node's shared core ([`Core`]: the Raft instance, the replica, the peers' client, the
//! leadership flags), the types of the parts only some tasks share, and what every task does
//! with the core: name the leader, write a command (committed here when leading, else
//! forwarded to the leader), list and change the membership. It knows none of the tasks: they
//! and [`crate::node`], which starts them with the narrow context each needs, build on it, so
//! no task module imports another through the node.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use model::net::HostPort;
use model::supvisors::SupvisorsSpec;
use openraft::error::{ClientWriteError, RaftError};
use openraft::ServerState;
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

use crate::api::{LeaderView, RaftStatus, WriteError};
use crate::membership::{MembershipChange, MembershipError, PeerKnowledge, RaftMember};
use crate::network::PeerClient;
use crate::state::{BatchSeq, ClusterState, Command, CommandResult};
use crate::store::Replica;
use crate::types::{node_id, NodeId, NodeInfo, Raft};
use crate::wire::{WriteReply, PATH_WRITE};

/// openraft's metrics for this cluster's types.
pub type RaftMetrics = openraft::RaftMetrics<NodeId, NodeInfo>;

/// The [`RaftStatus`] of `m`, naming node ids from `names`. A dead core (`dead`) names no
/// leader, its last metrics being stale; being cut off does not hide it, unlike
/// [`Core::leader_view`]. An id outside `names` (which `validate` rules out) shows as hex
/// rather than vanishing from a diagnostic.
pub(crate) fn raft_status_of(
    m: &RaftMetrics,
    names: &HashMap<NodeId, String>,
    dead: bool,
) -> RaftStatus {
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
    let mut matched: std::collections::BTreeMap<String, u64> = m
        .replication
        .iter()
        .flatten()
        .filter_map(|(id, log_id)| Some((name(*id), (*log_id)?.index)))
        .collect();
    if m.state == openraft::ServerState::Leader && !dead {
        if let Some(index) = m.last_log_index {
            matched.entry(name(m.id)).or_insert(index);
        }
    } else {
        matched.clear();
    }
    RaftStatus {
        leader: m.current_leader.filter(|_| !dead).map(name),
        term: m.current_term,
        last_log_index: m.last_log_index,
        last_applied: m.last_applied.map(|log_id| log_id.index),
        voters: sorted(&mut membership.voter_ids()),
        learners: sorted(&mut membership.learner_ids()),
        matched,
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
    /// [`crate::NodeError::LostState`] at start; an operator is needed.
    StateLost { data_dir: PathBuf, peer: String },
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

/// The core every task of the node shares: the Raft instance and its metrics, the replica,
/// the peers' client and addresses, who leads as far as this node can tell (the flags that
/// decide it), and the write and membership paths built on them. What only some tasks share
/// is kept beside it, each part behind its own `Arc` in the contexts of the tasks that use it
/// (built by [`crate::node`]); each context holds this core as its `core` field.
pub(crate) struct Core {
    pub(crate) spec: SupvisorsSpec,
    pub(crate) local: String,
    pub(crate) id: NodeId,
    pub(crate) raft: Raft,
    pub(crate) metrics: watch::Receiver<RaftMetrics>,
    pub(crate) replica: watch::Receiver<Replica>,
    pub(crate) client: PeerClient,
    /// Raft node id → identifier.
    pub(crate) names: HashMap<NodeId, String>,
    /// Identifier → internal port address (from the config: every instance has the same).
    pub(crate) addrs: HashMap<String, HostPort>,
    pub(crate) cut_off: AtomicBool,
    /// Set when openraft's core has ended (its metrics channel closed): a dead core's last
    /// metrics must not keep this node looking like the leader.
    pub(crate) raft_dead: AtomicBool,
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
    /// The leader whose host this node's probe found out of reach, and when the probe
    /// started (`crate::ticker`'s election nudge): should this node be elected, its book
    /// takes it as SILENT at once ([`crate::leader::PreviousLeader`]).
    pub(crate) leader_no_answer: Mutex<Option<(String, std::time::Instant)>>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) write_timeout: Duration,
}

/// The commander's planner, run by the leader (see [`crate::executor`]); installed by the
/// daemon, possibly after the node started.
pub(crate) type SharedPlanner = Arc<Mutex<Option<crate::jobs::Planner>>>;

/// What the daemon does with another instance's statistics sample: the sender's identifier
/// and its sample. Called on the Raft thread: it must not block.
pub type StatsReceiver = Arc<dyn Fn(&str, stats::Sample) + Send + Sync>;
pub(crate) type SharedStatsReceiver = Arc<Mutex<Option<StatsReceiver>>>;

/// The fence's `stop_movable` policy, installed by the daemon.
pub(crate) type SharedFencePolicy = Arc<Mutex<Option<FencePolicy>>>;

/// The last append-entries request (heartbeats included) this node received: from whom and
/// when. Written by the internal server; a new leader counts its predecessor's silence from
/// there, and a follower asks for an election when that leader's port refuses.
pub(crate) type LastAppend = Arc<Mutex<Option<(String, std::time::Instant)>>>;

/// Tells the owner of the node that the instance no longer takes part, and why (see
/// [`crate::Node::core_ended`]).
pub(crate) type CoreEnded = Arc<watch::Sender<Option<CoreEnd>>>;

/// Asks the feed for a full snapshot of the local processes (the leader's ask, a healed cut,
/// the end of the daemon).
pub(crate) type FullSyncRequest = Arc<Notify>;

/// The latest committed full snapshot of the local processes, as the feed publishes it.
pub(crate) type FullSyncDone = Arc<watch::Sender<Option<BatchSeq>>>;

/// False while an empty Raft store is not yet cleared by a peer (see
/// [`crate::bootstrap::verify_pristine`]): votes, appends and snapshots are refused.
pub(crate) type StoreCleared = Arc<AtomicBool>;

/// How long a write may take in total (commit on the leader, or forward + commit).
pub(crate) fn write_timeout(spec: &SupvisorsSpec) -> Duration {
    (spec.raft.election_timeout_max * 4).max(Duration::from_secs(2))
}

/// Pause of a write that found no leader before it gives up (an election usually ends sooner).
const NO_LEADER_GRACE: Duration = Duration::from_millis(300);

/// Sleeps `d` unless the node shuts down first; returns false on shutdown.
pub(crate) async fn pause(core: &Core, d: Duration) -> bool {
    tokio::select! {
        _ = core.shutdown.cancelled() => false,
        _ = tokio::time::sleep(d) => true,
    }
}

pub(crate) fn node_info(spec: &SupvisorsSpec, identifier: &str) -> Option<NodeInfo> {
    spec.instance(identifier).map(|i| NodeInfo {
        identifier: i.identifier.clone(),
        raft_addr: i.internal_addr().to_string(),
        http_addr: i.http_addr().to_string(),
    })
}

impl Core {
    pub(crate) fn identifier_of(&self, id: NodeId) -> Option<String> {
        self.names.get(&id).cloned()
    }

    /// The leader this node may name: itself only once its leadership of the current term is
    /// confirmed ([`Core::is_leader`]), another instance only once it has heard from it since
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
    /// present itself or a stale leader as the master. See [`Core::current_leader`] for the
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
        // Every entry says when it was written and by whom: what the history records with it.
        let cmd = match cmd {
            stamped @ Command::Stamped { .. } => stamped,
            cmd => Command::Stamped {
                stamp: data::Stamp {
                    at_ms: model::time::epoch_ms(),
                    instance: self.local.clone(),
                    user: String::new(),
                },
                command: Box::new(cmd),
            },
        };
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

    /// Waits (at most `grace`) until this node can name a leader ([`Core::current_leader`]:
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

impl Core {
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
                // Recorded before the change commits: the leader loop decides beside this call,
                // and a decision that saw the new membership without this mark would add the
                // instance straight back as a learner on the strength of its last ticks.
                let marked_before = self
                    .removed_at
                    .lock()
                    .ok()
                    .and_then(|mut r| r.insert(target.clone(), std::time::Instant::now()));
                let unmark = || {
                    if let Ok(mut removed) = self.removed_at.lock() {
                        match marked_before {
                            Some(at) => removed.insert(target.clone(), at),
                            None => removed.remove(&target),
                        };
                    }
                };
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
                    Err(_) => {
                        // It may still commit: the mark stays, and the instance is added back
                        // once it ticks again, as after any removal.
                        Err(raft_error(format!(
                            "the membership change did not commit within {:?}",
                            self.write_timeout
                        )))
                    }
                    Ok(Err(e)) => {
                        unmark();
                        Err(raft_error(e.to_string()))
                    }
                    Ok(Ok(_)) => {
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

#[cfg(test)]
mod tests {
    use super::*;

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
                matched: BTreeMap::new(),
            }
        );
        let dead = raft_status_of(&m, &names, true);
        assert_eq!(dead.leader, None);
        assert_eq!(dead.last_log_index, Some(42));
        // The leader knows each member's matched index, and its own last index.
        m.state = openraft::ServerState::Leader;
        m.replication = Some(
            [(node_id("b"), Some(log_id)), (node_id("c"), None)]
                .into_iter()
                .collect(),
        );
        let leader = raft_status_of(&m, &names, false);
        assert_eq!(
            leader.matched,
            BTreeMap::from([("a".to_string(), 42), ("b".to_string(), 41)])
        );
        assert!(raft_status_of(&m, &names, true).matched.is_empty());
    }
}
