//! The contract between the cluster node and its front ends (the `supvisors` XML-RPC namespace,
//! and raftvisorctl through it). Reads come from the local replica and never
//! need the leader; writes go through Raft, forwarded to the leader by a follower, and fail fast
//! with a typed error when there is no leader or the instance is cut off from the quorum.

use crate::membership::{MembershipChange, MembershipError, RaftMember};
use crate::state::{Command, CommandResult};
use crate::store::Replica;
use std::future::Future;
use tokio::sync::watch;

/// Why a write did not commit. Every variant is returned quickly: a write never hangs waiting
/// for an election.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    #[error("no Raft leader is known (election in progress or no quorum)")]
    NoLeader,
    #[error("this instance is cut off from the quorum")]
    CutOff,
    #[error("the leader {leader} could not be reached: {reason}")]
    Forward { leader: String, reason: String },
    #[error("the write timed out after {0:?}")]
    Timeout(std::time::Duration),
    #[error("the cluster node is shutting down")]
    Shutdown,
    #[error("raft error: {0}")]
    Raft(String),
}

/// What the node knows about leadership right now (from openraft's metrics).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeaderView {
    /// Identifier of the current leader (the Supvisors "master"), if any.
    pub leader: Option<String>,
    pub term: u64,
    /// True when this instance has not heard from a quorum for longer than the fencing timeout.
    pub cut_off: bool,
}

/// openraft's own view of the log and the membership on this node, for diagnostics and
/// benchmarks (e.g. how many log entries a burst of process events took once batched). Unlike
/// [`LeaderView`], the leader is the one the Raft metrics name even when this instance is cut off
/// (only a dead Raft core names none): this is the raw Raft status, not the Supvisors master.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RaftStatus {
    /// Identifier of the leader openraft knows, if any.
    pub leader: Option<String>,
    pub term: u64,
    /// Index of the last entry appended to the local log (`None`: empty log).
    pub last_log_index: Option<u64>,
    /// Index of the last entry applied to the local state machine (`None`: none yet).
    pub last_applied: Option<u64>,
    /// Identifiers of the voters of the effective membership, sorted.
    pub voters: Vec<String>,
    /// Identifiers of the learners of the effective membership, sorted.
    pub learners: Vec<String>,
    /// On the leader only: the last log index known to be on each member (itself included),
    /// by identifier; a member not yet matched is absent. Empty on the others.
    pub matched: std::collections::BTreeMap<String, u64>,
}

/// The cluster node as front ends see it. Implemented by `cluster::Node`.
pub trait ClusterApi: Clone + Send + Sync + 'static {
    fn local_identifier(&self) -> String;
    /// The local replica of the cluster state, updated after every applied batch.
    fn replica(&self) -> watch::Receiver<Replica>;
    fn leader_view(&self) -> LeaderView;
    /// openraft's status on this node (log positions, term, membership); never waits.
    fn raft_status(&self) -> RaftStatus;
    /// Commits a command (forwarded to the leader when this instance is a follower) and returns
    /// its result once applied *on the leader*; the local replica follows shortly after.
    fn write(&self, cmd: Command)
        -> impl Future<Output = Result<CommandResult, WriteError>> + Send;
    /// The Raft members (role, matched log index, lag) as the leader sees them: asked of the
    /// leader, so it fails fast like a write when there is none.
    fn raft_members(&self)
        -> impl Future<Output = Result<Vec<RaftMember>, MembershipError>> + Send;
    /// An operator's membership change (remove an instance, add it back), executed by the
    /// leader after its quorum checks; see [`crate::membership`].
    fn change_membership(
        &self,
        change: MembershipChange,
    ) -> impl Future<Output = Result<(), MembershipError>> + Send;
    /// `call` on the supervisor of the instance `identifier` (this one's, or another's through
    /// its internal port, see [`crate::remote`]).
    fn local_call(
        &self,
        identifier: &str,
        call: crate::remote::LocalCall,
    ) -> impl Future<Output = Result<crate::remote::LocalAnswer, model::Fault>> + Send;
}
