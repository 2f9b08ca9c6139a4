//! Forming the cluster at start-up: the handshake that decides whether this voter initialises
//! the cluster ([`bootstrap`]), and the check that an empty Raft store is a new member's and
//! not a voter's that lost its state ([`verify_pristine`]).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::inner::{node_info, pause, Core, CoreEnded, StoreCleared};
use crate::types::node_id;
use crate::wire::{HelloReply, PATH_HELLO};

/// The handshake that decides whether this voter initialises the cluster: only when its own
/// Raft state is pristine, no reachable voter says the cluster exists already, and a majority
/// of voters (itself included) answered with the same config (the fingerprint check of every
/// request). Every voter initialises with the same membership — all voters, from the config —
/// so concurrent initialisations are safe (openraft: identical memberships are; only
/// different ones split the brain). A voter started late finds an initialised peer and waits
/// to be replicated to instead.
///
/// Safe, but not quiet: openraft's `initialize` starts an election at once, so voters that
/// initialise together are rival candidates of the first term (up to four of the five voters
/// of a 25-host launch did, chaos/scale.sh), and openraft logs an error on each voter whose
/// initialisation comes after its vote. So only the first voter in the config's order among
/// those in reach initialises at once ([`Round::step`]); the others wait [`INIT_DEFERRAL`] for
/// it to, and initialise themselves only if it did not (it died, or cannot reach a majority).
/// The launch's time did not change with it (measured): on a loaded host, what delays the
/// first leader is followers answering its first appends later than openraft's timeout.
///
/// A voter whose empty store no peer has vouched for yet (`store_cleared` unset, see
/// [`verify_pristine`]) neither counts itself nor initialises: it would lead before the check
/// ends, and the check would then find a peer that knows it as a member that took part, and
/// take it for a voter that lost its state (the first voter of a cluster launched at once
/// exited so).
pub(crate) async fn bootstrap(core: Arc<Core>, store_cleared: StoreCleared) {
    if !core.spec.voters.contains(&core.local) {
        return;
    }
    let probe_timeout = core
        .spec
        .raft
        .election_timeout_min
        .max(Duration::from_millis(200));
    let majority = core.spec.voters.len() / 2 + 1;
    let started = Instant::now();
    // When this voter first saw a majority take part while another voter was first in line.
    let mut deferred_since: Option<Instant> = None;
    loop {
        match tokio::time::timeout(Duration::from_secs(1), core.raft.is_initialized()).await {
            Ok(Ok(true)) => {
                tracing::debug!("Raft state present: no initialisation");
                return;
            }
            Ok(Ok(false)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "bootstrap: Raft is not running");
                return;
            }
            Err(_) => {}
        }
        let peers: Vec<String> = core
            .spec
            .voters
            .iter()
            .filter(|v| **v != core.local)
            .cloned()
            .collect();
        let probes = peers.iter().filter_map(|peer| {
            let addr = core.addrs.get(peer)?.clone();
            let client = core.client.clone();
            Some(async move {
                let answer = client
                    .call::<(), HelloReply>(&addr, PATH_HELLO, &(), probe_timeout)
                    .await;
                (peer.as_str(), answer)
            })
        });
        let answers = futures_util::future::join_all(probes).await;
        let cleared = store_cleared.load(Ordering::Relaxed);
        let mut round = Round {
            cleared,
            formed: false,
            voting: usize::from(cleared),
            answered: vec![core.local.as_str()],
        };
        for (peer, answer) in answers {
            if let Ok(answer) = answer {
                round.voting += usize::from(answer.votes);
                round.formed |= answer.initialized;
                round.answered.push(peer);
            }
        }
        let go = match round.step(&core.spec.voters, &core.local, majority) {
            Step::Initialise => true,
            Step::Defer => {
                deferred_since.get_or_insert_with(Instant::now).elapsed() >= INIT_DEFERRAL
            }
            Step::Wait => false,
        };
        if go {
            let members: BTreeMap<_, _> = core
                .spec
                .voters
                .iter()
                .filter_map(|v| Some((node_id(v), node_info(&core.spec, v)?)))
                .collect();
            match core.raft.initialize(members).await {
                Ok(()) => tracing::info!(voters = ?core.spec.voters, "cluster initialised"),
                Err(e) => tracing::debug!(error = %e, "initialise refused (already formed)"),
            }
            return;
        }
        if !pause(&core, startup_poll(started)).await {
            return;
        }
    }
}

/// How long a voter that is not first in line waits, once a majority takes part, for the
/// first to initialise the cluster before it does so itself: longer than a poll round whose
/// peers answer late (a launch of many daemons at once on a loaded host), short enough that a
/// first voter that died at the wrong moment costs the launch less than a second.
const INIT_DEFERRAL: Duration = Duration::from_millis(600);

/// What one poll round of [`bootstrap`] found.
struct Round<'a> {
    /// This voter's empty store was vouched for by a peer (or was not empty): it may vote.
    cleared: bool,
    /// A peer's Raft state is not empty: the cluster exists already.
    formed: bool,
    /// Voters that would grant the first election its votes: this one if cleared, and the
    /// peers that say they vote. Counting a peer whose empty store was not vouched for yet
    /// made the first election fail on its refused vote, and cost an election timeout.
    voting: usize,
    /// The voters in reach, this one included, whether they vote yet or not: a first voter
    /// whose store is vouched for a moment later must not find that the next one in line
    /// initialised meanwhile.
    answered: Vec<&'a str>,
}

/// What a voter does after a [`Round`].
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Initialise,
    /// Could initialise, but another voter is first in line: give it [`INIT_DEFERRAL`].
    Defer,
    Wait,
}

impl Round<'_> {
    /// [`Step::Initialise`] for the first of the config's voters (`voters`, in order) among
    /// those in reach, so that of voters that all see the same peers, exactly one starts the
    /// first election; only once this voter may vote, the cluster is not formed, and a
    /// majority takes part.
    fn step(&self, voters: &[String], local: &str, majority: usize) -> Step {
        if !self.cleared || self.formed || self.voting < majority {
            return Step::Wait;
        }
        let first = voters.iter().find(|v| self.answered.contains(&v.as_str()));
        if first.is_some_and(|first| first == local) {
            Step::Initialise
        } else {
            Step::Defer
        }
    }
}

/// How often start-up polls its peers (bootstrap, [`verify_pristine`]): every 25 ms for the
/// first seconds, when the peers of a cluster being launched come up one after the other and
/// each poll that finds one saves an election round; every 100 ms after that.
fn startup_poll(started: Instant) -> Duration {
    if started.elapsed() < Duration::from_secs(5) {
        Duration::from_millis(25)
    } else {
        Duration::from_millis(100)
    }
}

/// What [`verify_pristine`] works with: the core (to ask the peers), the flag it clears, and
/// how it tells the node's owner that the state was lost.
pub(crate) struct PristineCtx {
    pub(crate) core: Arc<Core>,
    pub(crate) store_cleared: StoreCleared,
    pub(crate) core_ended: CoreEnded,
}

/// For an instance that started with an empty Raft store while no peer answered: asks the
/// peers again until one does, meanwhile refusing votes, appends and snapshots (the internal
/// server checks `store_cleared`), so that a voter that lost its state cannot vote twice in
/// a term it forgot. Cleared when a peer answers without having seen it take part; otherwise
/// the instance stops taking part at once and its owner is told ([`crate::CoreEnd::StateLost`]).
pub(crate) async fn verify_pristine(ctx: PristineCtx) {
    let started = Instant::now();
    while !ctx.store_cleared.load(Ordering::Relaxed) {
        let replies = crate::inner::ask_peers(&ctx.core.spec, &ctx.core.client).await;
        let knowledge = replies.iter().map(|(peer, k)| (peer.as_str(), *k));
        if let Some(peer) = crate::membership::lost_state_witness(knowledge) {
            tracing::error!(instance = %ctx.core.local, %peer, "empty Raft store, and {peer} knows this instance as a member that already took part: its Raft state was lost; it takes no part (README: a host lost its disk)");
            ctx.core.raft_dead.store(true, Ordering::Relaxed);
            ctx.core.cut_off.store(true, Ordering::Relaxed);
            ctx.core_ended
                .send_replace(Some(crate::inner::CoreEnd::StateLost {
                    data_dir: ctx.core.spec.data_dir.clone(),
                    peer: peer.to_string(),
                }));
            return;
        }
        if !replies.is_empty() {
            tracing::info!(instance = %ctx.core.local, "a peer answered: the empty Raft store is a new member's, votes allowed");
            ctx.store_cleared.store(true, Ordering::Relaxed);
            return;
        }
        if !pause(&ctx.core, startup_poll(started)).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voters() -> Vec<String> {
        ["s1", "s2", "s3", "s4", "s5"].map(String::from).to_vec()
    }

    fn round<'a>(answered: &[&'a str]) -> Round<'a> {
        Round {
            cleared: true,
            formed: false,
            voting: answered.len(),
            answered: answered.to_vec(),
        }
    }

    #[test]
    fn only_the_first_voter_in_reach_initialises_at_once() {
        let all = ["s1", "s2", "s3", "s4", "s5"];
        assert_eq!(round(&all).step(&voters(), "s1", 3), Step::Initialise);
        for other in &all[1..] {
            assert_eq!(
                round(&all).step(&voters(), other, 3),
                Step::Defer,
                "{other}"
            );
        }
    }

    #[test]
    fn a_first_voter_out_of_reach_gives_way_to_the_next_in_the_config_order() {
        // s1 is down: s2 is first in line.
        assert_eq!(
            round(&["s2", "s3", "s5"]).step(&voters(), "s2", 3),
            Step::Initialise
        );
        assert_eq!(
            round(&["s3", "s2", "s5"]).step(&voters(), "s3", 3),
            Step::Defer
        );
        // The order is the config's, not the order the answers came in.
        assert_eq!(
            round(&["s5", "s4", "s3"]).step(&voters(), "s3", 3),
            Step::Initialise
        );
    }

    #[test]
    fn a_voter_whose_empty_store_is_not_vouched_for_never_initialises() {
        // s1 started before any peer answered: until one vouches for its empty store, it must
        // not lead, even first in line with a majority of the others voting.
        let mut r = round(&["s1", "s2", "s3", "s4"]);
        r.cleared = false;
        assert_eq!(r.step(&voters(), "s1", 3), Step::Wait);
        // The others give it its turn (they defer) rather than initialise at once.
        assert_eq!(
            round(&["s2", "s1", "s3"]).step(&voters(), "s2", 3),
            Step::Defer
        );
    }

    #[test]
    fn nobody_initialises_a_formed_cluster_or_without_a_majority() {
        let mut formed = round(&["s1", "s2", "s3"]);
        formed.formed = true;
        assert_eq!(formed.step(&voters(), "s1", 3), Step::Wait);
        let mut few = round(&["s1", "s2", "s3"]);
        few.voting = 2;
        assert_eq!(few.step(&voters(), "s1", 3), Step::Wait);
    }
}
