//! The data every raftvisor instance replicates: the cluster state machine ([`ClusterState`],
//! changed only by [`Command`]s applied in log order), the commander's jobs and pending failures
//! ([`jobs`]), and what a planning round reads and returns ([`Planner`]: the state and the
//! leader's clock in, a [`Plan`] of [`JobOp`]s and [`Order`]s out).
//!
//! ```text
//!  front ends, feed, leader's book ─► Command ─► (Raft log) ─► ClusterState::apply
//!  leader loop ── Planner(&ClusterState, Clock) ─► Plan { ops ─► Command::Jobs, orders }
//! ```
//!
//! Why a crate of its own: the commander (the pure planner) and the Raft layer both speak these
//! types, and the planner should build and be tested without openraft, sled and the network.
//! So this crate is pure data and pure transitions: no I/O, no clock, no async.
//!
//! It is not the Raft layer, its storage or its byte format: `cluster` applies the commands,
//! persists the state and writes it with its versioned codec (bincode of these types, so a
//! change to their shape is a change of the persisted format).

pub mod history;
pub mod jobs;
pub mod state;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use history::{History, HistoryEntry, HistoryKind, LogPosition, Stamp};
pub use jobs::{
    Clock, FailureKind, FinalAction, Item, ItemAction, ItemRef, ItemState, Job, JobId, JobKind,
    JobOp, JobOutcome, Jobs, Order, Plan, Planner, Track,
};
pub use state::{
    BatchSeq, ClusterState, Command, CommandResult, InstanceRecord, InstanceState, ProcessRecord,
    ProcessStatus, Rejection, StoppedRun, SupvisorsState, Target, TickStamp,
};

/// The bincode configuration of `cluster::codec` without its format-version byte: enough for
/// the unit tests here to check that what they build survives the persisted encoding.
#[cfg(test)]
pub(crate) mod codec {
    use serde::de::DeserializeOwned;
    use serde::Serialize;

    pub fn encode<T: Serialize + ?Sized>(
        value: &T,
    ) -> Result<Vec<u8>, bincode::error::EncodeError> {
        bincode::serde::encode_to_vec(value, bincode::config::standard())
    }

    /// Refuses trailing bytes, as `cluster::codec::decode` does.
    pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
        let (value, read) =
            bincode::serde::decode_from_slice::<T, _>(bytes, bincode::config::standard())
                .map_err(|e| e.to_string())?;
        if read != bytes.len() {
            return Err(format!("{} trailing byte(s)", bytes.len() - read));
        }
        Ok(value)
    }
}
