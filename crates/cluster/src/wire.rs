//! The internal port's routes and the plain (bincode-safe) messages of raftvisor's own control
//! RPCs. Raft RPC bodies are openraft's request/response types. Every body is a
//! [`crate::codec`] blob: a version byte, then bincode with a size limit on decode.

use crate::jobs::Order;
use crate::state::{BatchSeq, CommandResult};
use crate::types::{NodeId, TypeConfig};
use openraft::error::RaftError;
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse};
use serde::{Deserialize, Serialize};

/// One append-entries call per request (what the stream carries; kept for tools and tests).
pub const PATH_APPEND: &str = "/raft/append";
/// Upgrades an authenticated connection into a stream of append-entries calls, one
/// length-delimited frame each way ([`crate::stream`]).
pub const PATH_STREAM: &str = "/raft/stream";
/// The `Upgrade` protocol token of [`PATH_STREAM`]; its version changes with the frames.
pub const STREAM_PROTOCOL: &str = "raftvisor-append/1";
pub const PATH_VOTE: &str = "/raft/vote";
pub const PATH_SNAPSHOT: &str = "/raft/snapshot";
/// A command forwarded by a follower to the leader.
pub const PATH_WRITE: &str = "/ctl/write";
/// A liveness tick, sent to the leader.
pub const PATH_TICK: &str = "/ctl/tick";
/// The bootstrap handshake: "are you initialised, who leads?".
pub const PATH_HELLO: &str = "/ctl/hello";
/// The commander's orders for one instance's local supervisor (from the leader only).
pub const PATH_ORDERS: &str = "/ctl/orders";
/// The Raft member list, asked of the leader (body `()`, reply
/// `Result<Vec<RaftMember>, MembershipError>`, see [`crate::membership`]).
pub const PATH_MEMBERS: &str = "/ctl/members";
/// An operator's membership change, forwarded to the leader (body [`crate::membership::MembershipChange`],
/// reply `Result<(), MembershipError>`).
pub const PATH_MEMBERSHIP: &str = "/ctl/membership";

/// One instance's statistics sample ([`stats::Sample`]), sent to every other instance: not
/// through the Raft log, statistics are not state (reply `()`).
pub const PATH_STATS: &str = "/ctl/stats";

/// A call on this instance's own supervisor from another instance's front end (body
/// [`crate::remote::LocalCall`], reply `Result<LocalAnswer, Fault>`).
pub const PATH_LOCAL: &str = "/ctl/local";

/// Largest request or response body accepted on the internal port (same as the codec limit).
pub const MAX_BODY_BYTES: u64 = crate::codec::MAX_BLOB_BYTES as u64;

/// A liveness tick of one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickRequest {
    pub identifier: String,
    pub load: u32,
    /// Ticks sent by the sender's node since it started, this one included (1 for the first):
    /// Supvisors' remote `sequence_counter`.
    pub counter: u64,
    /// The sender's wall clock when it sent the tick, epoch milliseconds (`remote_time`).
    pub sent_at: i64,
    /// The sender's daemon incarnation (grows at each start): lets the leader re-admit an
    /// ISOLATED instance that was restarted.
    pub incarnation: u64,
    /// The batch of the sender's latest *committed* full snapshot of its processes.
    pub full_sync: Option<BatchSeq>,
}

/// The leader's answer to a tick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TickReply {
    /// Received by the leader of `term`. `need_full_sync`: send a full snapshot of your
    /// processes (the cluster's view of them is stale: handshake, or back from SILENT).
    /// `quorum_age_ms`: how long before this answer a quorum of voters last acknowledged this
    /// leader (`None`: not yet in this term). The ticking instance counts its contact with the
    /// quorum from then plus the leader lease, not from the answer: a leader cut off in a
    /// minority still answers
    /// the followers cut off with it, and this is what lets them fence
    /// ([`crate::book::quorum_contact`]).
    Ack {
        term: u64,
        need_full_sync: bool,
        quorum_age_ms: Option<u64>,
    },
    /// The receiver does not lead; `leader` is who it believes does.
    NotLeader { leader: Option<String> },
}

/// The body of [`PATH_APPEND`]: openraft's request, and the leader's answer to the receiver's
/// last carried tick (liveness carried by the heartbeats, see [`crate::carry`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppendRequest {
    pub rpc: AppendEntriesRequest<TypeConfig>,
    pub note: Option<LeaderNote>,
}

/// The answer to [`PATH_APPEND`]: openraft's, and the receiver's tick.
#[derive(Debug, Serialize, Deserialize)]
pub struct AppendAnswer {
    pub result: Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>,
    pub tick: Option<TickRequest>,
}

/// The outcome of a forwarded write, as the leader reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteReply {
    Done(CommandResult),
    NotLeader { leader: Option<String> },
    CutOff,
    Timeout { millis: u64 },
    Failed(String),
}

/// The leader's orders for the receiving instance, executed in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrdersRequest {
    /// The leader's term: orders of an older term than the receiver knows are refused.
    pub term: u64,
    pub orders: Vec<Order>,
}

/// What became of each order, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrdersReply {
    /// `Err((code, text))` is the local supervisor's fault (e.g. ALREADY_STARTED).
    Done(Vec<Result<(), (i32, String)>>),
    /// The sender is not the leader the receiver knows.
    NotLeader { leader: Option<String> },
}

/// Answer to [`PATH_HELLO`] (the request body is `()`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloReply {
    /// The receiver's Raft log or vote is not empty: the cluster was formed already.
    pub initialized: bool,
    pub leader: Option<String>,
    /// The receiver leads and has already replicated log entries to the asker (openraft's
    /// matched log id for it is set). With an empty data dir, that means the asker lost its
    /// Raft state (see `Node::start`); a member that never started has no matched id.
    pub replicated_to_asker: bool,
    /// The asker is in the receiver's effective Raft membership (voter or learner).
    pub asker_is_member: bool,
    /// The receiver's replica holds a committed tick of the asker: it ran in this cluster
    /// before. With an empty data dir, it lost its Raft state even if no leader can tell.
    pub asker_seen: bool,
    /// The receiver takes part in votes: its Raft store is not an empty one that no peer has
    /// vouched for yet (see `bootstrap::verify_pristine`). Bootstrap waits for a majority of
    /// such voters, so that the first election is not refused.
    pub votes: bool,
}

/// The leader wants a full snapshot of the receiver's processes: its last carried tick
/// reported `had` as its latest committed full sync. The note lags that tick by a heartbeat,
/// so a receiver whose latest full sync is no longer `had` has answered already, and does not
/// send another one (a needless full batch can race with the commander's orders).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FullSyncAsk {
    pub had: Option<BatchSeq>,
}

/// The leader's answer to the receiver's last carried tick, on an append-entries request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderNote {
    /// As [`TickReply::Ack`] says it, with what the asked full sync must be newer than.
    pub term: u64,
    pub need_full_sync: Option<FullSyncAsk>,
    pub quorum_age_ms: Option<u64>,
    /// The leader's wall clock when it sent the request, epoch milliseconds.
    pub sent_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;

    #[test]
    fn control_messages_survive_bincode() {
        let t = TickRequest {
            identifier: "a".into(),
            load: 3,
            counter: 12,
            sent_at: 1_700_000_000_123,
            incarnation: 7,
            full_sync: Some(BatchSeq::new(7, 1)),
        };
        assert_eq!(
            codec::decode::<TickRequest>(&codec::encode(&t).unwrap()).unwrap(),
            t
        );
        for r in [
            TickReply::Ack {
                term: 2,
                need_full_sync: true,
                quorum_age_ms: Some(40),
            },
            TickReply::NotLeader {
                leader: Some("b".into()),
            },
        ] {
            assert_eq!(
                codec::decode::<TickReply>(&codec::encode(&r).unwrap()).unwrap(),
                r
            );
        }
        let w = WriteReply::Done(CommandResult::Applied);
        assert_eq!(
            codec::decode::<WriteReply>(&codec::encode(&w).unwrap()).unwrap(),
            w
        );
    }
}
