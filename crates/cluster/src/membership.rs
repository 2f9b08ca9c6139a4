//! Raft membership by an operator, as pure decisions: the member list the leader reports
//! (role, matched log index, lag), whether removing or adding a member keeps a quorum, and
//! whether an instance starting with an empty Raft store lost its state (so it must not vote).
//! The node (`crate::node`) gathers the inputs from openraft's metrics and the replica, and
//! executes the verdicts with openraft's `add_learner` / `change_membership`.
//!
//! ```text
//!  remove_member(x) ─► check_removal(voters, learners, healthy, x) ─► RemoveVoters / RemoveNodes
//!  add_member(x)    ─► check_addition(...) ─► add_learner (blocking: caught up) ─► AddVoterIds
//!  start, empty store ─► hello to every peer ─► lost_state_witness(replies) ─► refuse or go
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// A member's role in the effective Raft membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberRole {
    Voter,
    Learner,
}

impl MemberRole {
    /// `voter` / `learner`, as the XML-RPC API and raftvisorctl print it.
    pub fn name(self) -> &'static str {
        match self {
            MemberRole::Voter => "voter",
            MemberRole::Learner => "learner",
        }
    }
}

/// One Raft member as the leader sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftMember {
    pub identifier: String,
    pub role: MemberRole,
    /// Whether it is the leader that produced this list.
    pub leader: bool,
    /// Index of the last log entry the leader knows this member holds (`None`: nothing
    /// replicated to it yet, e.g. it is down since the leader was elected).
    pub matched_index: Option<u64>,
    /// Entries the member is behind the leader's last log index (`None` when `matched_index`
    /// is).
    pub lag: Option<u64>,
}

/// A change an operator asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MembershipChange {
    /// Take the instance out of the Raft membership (voter or learner): it no longer votes,
    /// counts in the quorum or receives the log.
    Remove(String),
    /// Bring the instance back: as a learner, then (a voter in `core_identifiers`) as a voter
    /// once it has caught up with the log.
    Add(String),
}

/// Why a membership request was refused or failed. Every variant says what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum MembershipError {
    #[error("no Raft leader is known (election in progress or no quorum)")]
    NoLeader,
    #[error("this instance is cut off from the quorum")]
    CutOff,
    #[error("{0} unknown to Supvisors")]
    Unknown(String),
    #[error("{0} is not a Raft member")]
    NotMember(String),
    #[error("{0} is already a Raft voter")]
    AlreadyVoter(String),
    #[error(
        "removing {target} would lose the quorum: {healthy} of the voters {voters:?} are \
         running, a majority of {needed} is needed (bring the stopped voters back first)"
    )]
    QuorumLoss {
        target: String,
        voters: Vec<String>,
        healthy: usize,
        needed: usize,
    },
    #[error("{0} is the last voter: it cannot be removed")]
    LastVoter(String),
    #[error(
        "{0} is the master: stop its raftvisord first (another master is elected), then \
         remove it"
    )]
    IsMaster(String),
    #[error(
        "{target} did not catch up with the log within {seconds}s: is its raftvisord running \
         (with an empty or removed data dir)?"
    )]
    NotCaughtUp { target: String, seconds: u64 },
    #[error("the leader {leader} could not be reached: {reason}")]
    Forward { leader: String, reason: String },
    /// The receiver of a forwarded request does not lead (`leader`: who it thinks does).
    #[error("not the leader (the leader is {leader:?})")]
    NotLeader { leader: Option<String> },
    #[error("raft error: {0}")]
    Raft(String),
}

/// The member list from the effective membership (`voters`, `learners`), the leader's
/// replication progress (`matched`: member → last matched index) and the leader's last log
/// index. Sorted: voters first, then learners, each by identifier.
pub fn members(
    voters: &BTreeSet<String>,
    learners: &BTreeSet<String>,
    leader: &str,
    matched: &BTreeMap<String, Option<u64>>,
    last_log_index: Option<u64>,
) -> Vec<RaftMember> {
    let entry = |identifier: &String, role| {
        let matched_index = if identifier == leader {
            last_log_index
        } else {
            matched.get(identifier).copied().flatten()
        };
        RaftMember {
            identifier: identifier.clone(),
            role,
            leader: identifier == leader,
            matched_index,
            lag: matched_index.map(|m| last_log_index.unwrap_or(0).saturating_sub(m)),
        }
    };
    voters
        .iter()
        .map(|v| entry(v, MemberRole::Voter))
        .chain(
            learners
                .iter()
                .filter(|l| !voters.contains(*l))
                .map(|l| entry(l, MemberRole::Learner)),
        )
        .collect()
}

fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// Whether `target` may be removed. `healthy`: the members known to be running (the leader
/// and those the replica shows RUNNING). openraft changes a voter set through a joint
/// configuration, which needs a majority of the old voters *and* of the new ones: both are
/// checked against `healthy`, so a removal that would leave the cluster unable to commit is
/// refused before anything is proposed. Returns the role of `target`.
pub fn check_removal(
    voters: &BTreeSet<String>,
    learners: &BTreeSet<String>,
    healthy: &BTreeSet<String>,
    target: &str,
) -> Result<MemberRole, MembershipError> {
    if !voters.contains(target) {
        return if learners.contains(target) {
            Ok(MemberRole::Learner)
        } else {
            Err(MembershipError::NotMember(target.to_string()))
        };
    }
    let remaining: BTreeSet<&String> = voters.iter().filter(|v| *v != target).collect();
    if remaining.is_empty() {
        return Err(MembershipError::LastVoter(target.to_string()));
    }
    let healthy_old = voters.iter().filter(|v| healthy.contains(*v)).count();
    let healthy_new = remaining.iter().filter(|v| healthy.contains(**v)).count();
    let refuse = |healthy, needed| MembershipError::QuorumLoss {
        target: target.to_string(),
        voters: voters.iter().cloned().collect(),
        healthy,
        needed,
    };
    if healthy_old < majority(voters.len()) {
        return Err(refuse(healthy_old, majority(voters.len())));
    }
    if healthy_new < majority(remaining.len()) {
        return Err(refuse(healthy_new, majority(remaining.len())));
    }
    Ok(MemberRole::Voter)
}

/// Whether `target` may be added back: not when it is a voter already. A learner that is a
/// member already is fine (learners also join by themselves when they tick): adding it again
/// only waits until it has caught up.
pub fn check_addition(voters: &BTreeSet<String>, target: &str) -> Result<(), MembershipError> {
    if voters.contains(target) {
        return Err(MembershipError::AlreadyVoter(target.to_string()));
    }
    Ok(())
}

/// What a peer answered to the start-up question "do you know me?" (see `HelloReply`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeerKnowledge {
    /// The peer's Raft state is initialised.
    pub initialized: bool,
    /// The asker is in the peer's effective membership (voter or learner).
    pub asker_is_member: bool,
    /// The peer leads and has replicated entries to the asker.
    pub replicated_to_asker: bool,
    /// The peer's replica holds a committed tick of the asker: the asker ran in this
    /// cluster, connected to a leader, before.
    pub asker_seen: bool,
    /// The peer is the leader (confirmed in its term): its membership is the latest.
    pub peer_leads: bool,
}

/// For an instance whose Raft store is empty: the first peer that proves it lost its state,
/// i.e. an initialised peer that counts it as a member and saw it take part (replicated to it,
/// or committed a tick of it). Such an instance may have voted in a term it no longer
/// remembers, so it must not vote again until an operator removes it from the membership and
/// adds it back. A member that never started (a voter that starts late) has no such witness.
pub fn lost_state_witness<'a>(
    replies: impl IntoIterator<Item = (&'a str, PeerKnowledge)>,
) -> Option<&'a str> {
    replies
        .into_iter()
        .find(|(_, k)| {
            k.initialized && k.asker_is_member && (k.replicated_to_asker || k.asker_seen)
        })
        .map(|(peer, _)| peer)
}

/// For an instance whose Raft store is *not* empty: the leader, if it says the instance is no
/// longer a member (an operator removed it). Its log still names it a voter of an older
/// membership, so it would call elections with ever higher terms that the members refuse,
/// and depose the leader the moment it is added back. It must come back with an empty data
/// dir, as a new member. Only the leader is believed: a follower's membership may be older.
pub fn removed_witness<'a>(
    replies: impl IntoIterator<Item = (&'a str, PeerKnowledge)>,
) -> Option<&'a str> {
    replies
        .into_iter()
        .find(|(_, k)| k.initialized && k.peer_leads && !k.asker_is_member)
        .map(|(peer, _)| peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn members_report_roles_matched_indexes_and_lag() {
        let matched: BTreeMap<String, Option<u64>> =
            [("b".to_string(), Some(7)), ("c".to_string(), None)]
                .into_iter()
                .collect();
        let list = members(
            &set(&["a", "b", "c"]),
            &set(&["d"]),
            "a",
            &matched,
            Some(10),
        );
        let member = |id: &str, role, leader, matched_index, lag| RaftMember {
            identifier: id.into(),
            role,
            leader,
            matched_index,
            lag,
        };
        assert_eq!(
            list,
            vec![
                member("a", MemberRole::Voter, true, Some(10), Some(0)),
                member("b", MemberRole::Voter, false, Some(7), Some(3)),
                member("c", MemberRole::Voter, false, None, None),
                member("d", MemberRole::Learner, false, None, None),
            ]
        );
    }

    #[test]
    fn removal_keeps_a_quorum_in_the_old_and_the_new_voter_sets() {
        let voters = set(&["a", "b", "c"]);
        let learners = set(&["d"]);
        // c is down: removing it leaves {a, b}, both running.
        assert_eq!(
            check_removal(&voters, &learners, &set(&["a", "b"]), "c"),
            Ok(MemberRole::Voter)
        );
        // Removing a running b while c is down leaves {a, c} with one running: refused.
        assert!(matches!(
            check_removal(&voters, &learners, &set(&["a", "b"]), "b"),
            Err(MembershipError::QuorumLoss {
                healthy: 1,
                needed: 2,
                ..
            })
        ));
        // No quorum now: nothing can be changed.
        assert!(matches!(
            check_removal(&voters, &learners, &set(&["a"]), "c"),
            Err(MembershipError::QuorumLoss { .. })
        ));
        // A learner never counts.
        assert_eq!(
            check_removal(&voters, &learners, &set(&["a"]), "d"),
            Ok(MemberRole::Learner)
        );
        assert_eq!(
            check_removal(&voters, &learners, &voters, "x"),
            Err(MembershipError::NotMember("x".into()))
        );
        assert_eq!(
            check_removal(&set(&["a"]), &learners, &set(&["a"]), "a"),
            Err(MembershipError::LastVoter("a".into()))
        );
    }

    #[test]
    fn a_voter_cannot_be_added_twice() {
        let voters = set(&["a", "b"]);
        assert_eq!(check_addition(&voters, "c"), Ok(()));
        assert_eq!(
            check_addition(&voters, "b"),
            Err(MembershipError::AlreadyVoter("b".into()))
        );
    }

    #[test]
    fn lost_state_needs_a_peer_that_saw_the_member_take_part() {
        let known = |initialized, member, replicated, seen| PeerKnowledge {
            initialized,
            asker_is_member: member,
            replicated_to_asker: replicated,
            asker_seen: seen,
            peer_leads: false,
        };
        // The leader is down: only a follower answers, and it saw the asker tick before.
        assert_eq!(
            lost_state_witness([("b", known(true, true, false, true))]),
            Some("b")
        );
        // The leader replicated to it.
        assert_eq!(
            lost_state_witness([
                ("b", known(true, true, false, false)),
                ("a", known(true, true, true, false))
            ]),
            Some("a")
        );
        // A voter that starts late: a member, never seen.
        assert_eq!(
            lost_state_witness([("b", known(true, true, false, false))]),
            None
        );
        // Removed by an operator: not a member any more, may start afresh.
        assert_eq!(
            lost_state_witness([("b", known(true, false, true, true))]),
            None
        );
        // A pristine cluster.
        assert_eq!(
            lost_state_witness([("b", known(false, false, false, false))]),
            None
        );
    }

    #[test]
    fn a_removed_member_with_a_log_is_told_so_by_the_leader_only() {
        let known = |member, leads| PeerKnowledge {
            initialized: true,
            asker_is_member: member,
            replicated_to_asker: false,
            asker_seen: true,
            peer_leads: leads,
        };
        assert_eq!(removed_witness([("a", known(false, true))]), Some("a"));
        // A follower's membership may lag behind (e.g. it missed the learner's addition).
        assert_eq!(removed_witness([("b", known(false, false))]), None);
        assert_eq!(
            removed_witness([("b", known(false, false)), ("a", known(true, true))]),
            None
        );
    }
}
