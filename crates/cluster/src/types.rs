//! openraft's type configuration for raftvisor, and how an instance gets its Raft node id.

use serde::{Deserialize, Serialize};
// `declare_raft_types!` names the default `SnapshotData = Cursor<Vec<u8>>` unqualified.
use std::io::Cursor;

use crate::state::{Command, CommandResult};

/// What the cluster knows about one member, stored in Raft memberships (so every instance learns
/// the addresses of the others from the log, not from its own config only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The Supvisors identifier (`supvisors_list` item / nick name) of the instance.
    pub identifier: String,
    /// `host:port` of the internal (Raft + control RPC) listener, an IPv6 host in brackets
    /// (`model::net::HostPort`'s text form; kept as text so the persisted membership format
    /// does not change).
    pub raft_addr: String,
    /// `host:port` of the public HTTP listener (XML-RPC, dashboard), same form.
    pub http_addr: String,
}

impl std::fmt::Display for NodeInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (raft {}, http {})",
            self.identifier, self.raft_addr, self.http_addr
        )
    }
}

openraft::declare_raft_types!(
    /// raftvisor's Raft types: log entries carry [`Command`]s, applying one yields a
    /// [`CommandResult`], members are described by [`NodeInfo`].
    pub TypeConfig:
        D = Command,
        R = CommandResult,
        Node = NodeInfo,
);

/// openraft's node id type for [`TypeConfig`].
pub type NodeId = u64;
/// A log id of this cluster's log.
pub type LogId = openraft::LogId<NodeId>;
/// A persisted vote.
pub type Vote = openraft::Vote<NodeId>;
/// A log entry of this cluster's log.
pub type Entry = openraft::Entry<TypeConfig>;
/// Membership plus the log id it was committed at.
pub type StoredMembership = openraft::StoredMembership<NodeId, NodeInfo>;
/// Metadata of a state-machine snapshot.
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, NodeInfo>;
/// A state-machine snapshot.
pub type Snapshot = openraft::Snapshot<TypeConfig>;
/// The storage error type openraft expects from our stores.
pub type StorageError = openraft::StorageError<NodeId>;
/// A Raft node of this cluster.
pub type Raft = openraft::Raft<TypeConfig>;

const FNV64_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV64_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The Raft node id of the instance named `identifier`: FNV-1a 64 over its UTF-8 bytes.
///
/// Why a hash and not a position: every instance must derive the same id for the same
/// identifier without talking to anyone, and reordering `supvisors_list` must never renumber a
/// cluster (Raft would then see different nodes with old votes and logs). FNV-1a is fixed by
/// its specification (unlike `std`'s `DefaultHasher`, which may change between Rust releases),
/// so the id is stable across builds, platforms and restarts. Two identifiers colliding is
/// possible in principle (64 bits); the membership bootstrap must refuse a config where two
/// declared identifiers map to the same id.
pub fn node_id(identifier: &str) -> NodeId {
    identifier.bytes().fold(FNV64_OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(FNV64_PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_id_is_fnv1a_64_and_never_changes() {
        // Reference vectors of FNV-1a 64 (Fowler/Noll/Vo test suite).
        assert_eq!(node_id(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(node_id("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(node_id("foobar"), 0x8594_4171_f739_67e8);
        // Pinned for a typical identifier: if this changes, deployed clusters break.
        assert_eq!(node_id("rocky51"), 0x3f65_e9b1_cfb2_8015);
    }

    #[test]
    fn node_id_depends_on_identifier_only() {
        assert_ne!(node_id("rocky51"), node_id("rocky52"));
        assert_ne!(node_id("ab"), node_id("ba"));
    }
}
