//! raftvisor's Raft layer: the openraft type configuration, the replicated cluster state
//! machine ([`ClusterState`], changed only by [`Command`]s applied in log order), its sled-backed
//! storage, and the running [`Node`]: internal network, cluster formation, liveness, process
//! state feed, leader forwarding, cut-off detection with the fence (`no_quorum_policy`: the
//! cut-off side stops what the majority would restart, reports it when contact returns, and
//! the leader waits the fence bound before declaring a silent instance lost, see [`book`]),
//! and the procman start guard that keeps programs disabled for this instance from starting
//! ([`guard`]).
//!
//! ```text
//!  procman events ─► feed (batches) ─┐   ticks (on the heartbeats' answers,
//!                                    │          else /ctl/tick) ─► leader's liveness book
//!  front ends ─► Node::write ────────┴─► leader ─► openraft ─► LogStore (sled)
//!                 (follower: forwarded on /ctl/write)   └─ apply ─► ClusterState (replica watch)
//!  internal port (hyper): /raft/{append,vote,snapshot},
//!                         /ctl/{write,tick,hello,orders,members,membership}
//!                        bincode bodies, identifier + config fingerprint + HMAC token on each
//! ```
//!
//! Membership by an operator ([`membership`]): the leader lists the Raft members and removes or
//! adds them back after quorum checks; a node refuses to start with an empty store when a peer
//! saw it take part (it may have voted), and leads — acts and answers as master — only once a
//! quorum confirmed it in its term.
//!
//! The state's types and transitions (and the commander's jobs) are the `data` crate's,
//! re-exported here as [`state`] and [`jobs`]: this crate applies, persists and replicates them.
//!
//! It is not the commander (placement, start/stop sequences, failure strategies), the rules
//! file, or the XML-RPC `supvisors` namespace: those build on [`ClusterApi`] and the state here.

pub mod api;
pub mod auth;
pub mod book;
mod bootstrap;
mod campaign;
pub mod carry;
pub mod codec;
mod cutoff;
mod dispatch;
mod executor;
mod feed;
mod fence;
pub mod guard;
mod inner;
#[cfg(test)]
mod layering;
mod leader;
mod leadership;
mod load;
mod mailbox;
pub mod membership;
pub mod network;
mod node;
mod probe;
pub mod remote;
mod server;
pub mod store;
pub mod stream;
mod ticker;
pub mod types;
pub mod wire;

/// The commander's jobs and the planner's contract, from the `data` crate (the paths
/// `cluster::jobs::…` predate it).
pub use data::jobs;

/// The cluster's history, from the `data` crate.
pub use data::history::{self, HistoryEntry, HistoryKind, Stamp};

/// The replicated state machine, from the `data` crate (the paths `cluster::state::…`
/// predate it).
pub mod state {
    pub use data::state::*;

    /// The process report builders of the state's tests, for the book and liveness tests.
    #[cfg(test)]
    pub(crate) mod tests {
        pub(crate) use data::testkit::{events, status, stopped_run};
    }
}

pub use api::{ClusterApi, LeaderView, RaftStatus, WriteError};
pub use inner::{CoreEnd, FencePolicy, RaftMetrics, StatsReceiver};
pub use jobs::{
    FailureKind, FinalAction, Item, ItemAction, ItemRef, ItemState, Job, JobId, JobKind, JobOp,
    JobOutcome, Jobs, Order, Plan, Planner, Track,
};
pub use membership::{MemberRole, MembershipChange, MembershipError, RaftMember};
pub use node::{Node, NodeError, NodeTask};
pub use remote::{LocalAnswer, LocalCall};
pub use state::{
    BatchSeq, ClusterState, Command, CommandResult, InstanceRecord, InstanceState, ProcessRecord,
    ProcessStatus, Rejection, SupvisorsState, Target, TickStamp,
};
pub use store::{open_store, LogStore, Replica, StateMachineStore, StoreError};
pub use types::{node_id, NodeId, NodeInfo, TypeConfig};
