//! raftvisor's Raft layer, part one: the openraft type configuration, the replicated cluster
//! state machine ([`ClusterState`], changed only by [`Command`]s applied in log order), and its
//! sled-backed storage (Raft log, vote, snapshots).
//!
//! ```text
//!  Command ──► openraft ──► LogStore (sled: logs, meta)          durable before acknowledged
//!                  │
//!                  └─ apply ─► StateMachineStore ─► ClusterState  in memory, watched by readers
//!                                     └─ snapshots (sled: snapshot) restart = snapshot + log replay
//! ```
//!
//! It is not (yet) the network, the membership bootstrap, the commander or the XML-RPC
//! `supvisors` namespace: those build on the types here.

pub mod api;
pub mod codec;
pub mod state;
pub mod store;
pub mod types;

pub use api::{ClusterApi, LeaderView, WriteError};
pub use state::{
    BatchSeq, ClusterState, Command, CommandResult, InstanceRecord, InstanceState, ProcessRecord,
    ProcessStatus, Rejection, SupvisorsState, Target,
};
pub use store::{open_store, LogStore, Replica, StateMachineStore, StoreError};
pub use types::{node_id, NodeId, NodeInfo, TypeConfig};
