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
pub(crate) async fn bootstrap(core: Arc<Core>) {
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
                client
                    .call::<(), HelloReply>(&addr, PATH_HELLO, &(), probe_timeout)
                    .await
            })
        });
        let answers = futures_util::future::join_all(probes).await;
        // Voters that would grant the first election its votes: this one, and the peers that
        // say they vote. Counting a peer whose empty store was not vouched for yet made the
        // first election fail on its refused vote, and cost an election timeout at launch.
        let mut voting = 1;
        let mut formed = false;
        for answer in answers.into_iter().flatten() {
            voting += usize::from(answer.votes);
            formed |= answer.initialized;
        }
        if !formed && voting >= majority {
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
