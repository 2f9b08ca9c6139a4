//! The node's background tasks around Raft: forming the cluster (bootstrap), the leader-only
//! loop (liveness book, instance states, Supvisors global state, learners), and the ticker that
//! every instance runs (ticks to the leader, cut-off detection and fencing).
//!
//! The ticks and their answers ride on Raft's heartbeats when they can ([`crate::carry`]); the
//! ticker sends a tick of its own only when no heartbeat carried one lately.
//!
//! Clocks: the leader judges silence with its own monotonic clock (time since each tick was
//! received). An instance judges itself cut off with its own monotonic clock: time since the
//! leader's last quorum acknowledgement, as openraft reports it to the leader and the
//! leader's answer to a tick passes it on, credited with the leader lease on the other
//! instances ([`crate::book::quorum_contact`]: a leader cut off in a minority goes on
//! answering, so an answer alone proves nothing), or since it first heard of a newly
//! elected leader. After
//! `fencing_timeout` of that, it is cut off and its fence (`no_quorum_policy`) stops what the
//! majority would restart, SIGKILLing within `fence_stop_timeout`. The leader declares a
//! silent instance lost, and restarts its programs elsewhere, only after
//! `SupvisorsSpec::fence_bound` (see its parts there) measured on its own clock from the
//! last tick received — later than any acknowledgement the cut-off side counts from — so the
//! old copies are gone before new ones start.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use procman::SupervisorApi;
use tokio::task::JoinHandle;

use model::supvisors::NoQuorumPolicy;

use crate::book::{quorum_age, LeaderBook, LivenessParams, QUORUM_AGE_STALENESS_HEARTBEATS};
use crate::load::LoadTracker;
use crate::node::{node_info, FencePolicy, Inner};
use crate::state::{ClusterState, Command};
use crate::types::node_id;
use crate::wire::{HelloReply, TickReply, TickRequest, PATH_HELLO, PATH_TICK};

use model::time::epoch_ms;

/// Sleeps `d` unless the node shuts down first; returns false on shutdown.
async fn pause(inner: &Inner, d: Duration) -> bool {
    tokio::select! {
        _ = inner.shutdown.cancelled() => false,
        _ = tokio::time::sleep(d) => true,
    }
}

/// The handshake that decides whether this voter initialises the cluster: only when its own
/// Raft state is pristine, no reachable voter says the cluster exists already, and a majority
/// of voters (itself included) answered with the same config (the fingerprint check of every
/// request). Every voter initialises with the same membership — all voters, from the config —
/// so concurrent initialisations are safe (openraft: identical memberships are; only
/// different ones split the brain). A voter started late finds an initialised peer and waits
/// to be replicated to instead.
pub(crate) async fn bootstrap(inner: Arc<Inner>) {
    if !inner.is_voter {
        return;
    }
    let probe_timeout = inner
        .spec
        .raft
        .election_timeout_min
        .max(Duration::from_millis(200));
    let majority = inner.spec.voters.len() / 2 + 1;
    let started = Instant::now();
    loop {
        match tokio::time::timeout(Duration::from_secs(1), inner.raft.is_initialized()).await {
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
        let peers: Vec<String> = inner
            .spec
            .voters
            .iter()
            .filter(|v| **v != inner.local)
            .cloned()
            .collect();
        let probes = peers.iter().filter_map(|peer| {
            let addr = inner.addrs.get(peer)?.clone();
            let client = inner.client.clone();
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
            let members: BTreeMap<_, _> = inner
                .spec
                .voters
                .iter()
                .filter_map(|v| Some((node_id(v), node_info(&inner.spec, v)?)))
                .collect();
            match inner.raft.initialize(members).await {
                Ok(()) => tracing::info!(voters = ?inner.spec.voters, "cluster initialised"),
                Err(e) => tracing::debug!(error = %e, "initialise refused (already formed)"),
            }
            return;
        }
        if !pause(&inner, startup_poll(started)).await {
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

/// Answers a tick (the `/ctl/tick` route, and the leader's own tick).
pub(crate) fn on_tick(inner: &Inner, tick: &TickRequest) -> TickReply {
    if !inner.is_leader() {
        return TickReply::NotLeader {
            leader: inner.current_leader(),
        };
    }
    let term = inner.metrics.borrow().current_term;
    let (need_full_sync, wake) = {
        let Ok(mut book) = inner.book.lock() else {
            return TickReply::NotLeader { leader: None };
        };
        let Some(book) = book.as_mut() else {
            // Leadership just started or just ended: the loop is not running yet.
            return TickReply::NotLeader {
                leader: inner.current_leader(),
            };
        };
        let replica = inner.replica.borrow();
        let wake = book.tick_needs_decision(tick, &replica.state);
        let need_full_sync = book.on_tick(tick, Instant::now(), epoch_ms(), &replica.state);
        (need_full_sync, wake)
    };
    if wake {
        inner.book_wake.notify_one();
    }
    TickReply::Ack {
        term,
        need_full_sync,
        quorum_age_ms: own_quorum_age(inner)
            .map(|age| u64::try_from(age.as_millis()).unwrap_or(u64::MAX)),
    }
}

/// How long ago a quorum last acknowledged this node as the leader ([`quorum_age`], from
/// openraft's metrics); `None` when not leading or not yet acknowledged.
pub(crate) fn own_quorum_age(inner: &Inner) -> Option<Duration> {
    let staleness = inner.spec.raft.heartbeat * QUORUM_AGE_STALENESS_HEARTBEATS;
    quorum_age(inner.metrics.borrow().millis_since_quorum_ack, staleness)
}

/// Watches openraft's metrics and runs [`leader_loop`] exactly while this node leads, from
/// the moment a quorum has confirmed its leadership of the current term ([`confirm`]).
pub(crate) async fn leadership(inner: Arc<Inner>) {
    // Woken by openraft's *server* metrics, which change only with the vote, the role, the
    // leader or the membership. The full metrics are re-sent after every event of the Raft core
    // (each heartbeat and its answer): waiting on them woke this task ~20 times a second on
    // every idle node for nothing. The decisions read the server metrics too: the full ones
    // are sent after them and may not show the change yet.
    let mut server = inner.raft.server_metrics();
    let leads = |server: &ServerMetrics| {
        let m = server.borrow();
        !inner.raft_dead.load(std::sync::atomic::Ordering::Relaxed)
            && m.state == openraft::ServerState::Leader
            && m.current_leader == Some(inner.id)
    };
    let term_of = |server: &ServerMetrics| server.borrow().vote.leader_id().get_term();
    loop {
        // Wait until openraft says we lead, then until a quorum confirms it.
        let term = loop {
            if leads(&server) {
                let term = term_of(&server);
                match confirm(&inner, term).await {
                    Confirmation::Confirmed => break term,
                    Confirmation::Ended => return raft_ended(&inner).await,
                    Confirmation::Refused => {}
                }
                if inner.shutdown.is_cancelled() {
                    return;
                }
                if leads(&server) && term_of(&server) == term {
                    // Still claiming the same term: try again shortly (no quorum yet).
                    if !pause(&inner, inner.spec.raft.heartbeat).await {
                        return;
                    }
                    continue;
                }
            }
            tokio::select! {
                _ = inner.shutdown.cancelled() => return,
                changed = server.changed() => if changed.is_err() { return raft_ended(&inner).await },
            }
        };
        inner.confirmed_term.store(term, Ordering::Relaxed);
        tracing::info!(instance = %inner.local, term, "became leader (master)");
        let stop = inner.shutdown.child_token();
        // The previous leader was last heard with its last append-entries (heartbeat) here;
        // credited at most one election timeout of silence, so that a deposed leader that is
        // alive (a partition healed, a lost election) still has most of the inactivity
        // timeout to tick this one before it could be declared SILENT.
        let earliest = Instant::now().checked_sub(inner.spec.raft.election_timeout_max);
        let previous = inner
            .last_append
            .lock()
            .ok()
            .and_then(|last| last.clone())
            .filter(|(from, _)| *from != inner.local)
            .map(|(from, at)| (from, earliest.map_or(at, |e| at.max(e))));
        let task = tokio::spawn(leader_loop(inner.clone(), stop.clone(), previous));
        let commander = tokio::spawn(crate::executor::commander_loop(inner.clone(), stop.clone()));
        // Wait until we do not.
        loop {
            if !leads(&server) || term_of(&server) != term {
                break;
            }
            tokio::select! {
                _ = inner.shutdown.cancelled() => break,
                changed = server.changed() => if changed.is_err() {
                    inner.raft_dead.store(true, Ordering::Relaxed);
                    break;
                },
            }
        }
        inner.confirmed_term.store(0, Ordering::Relaxed);
        stop.cancel();
        let _ = task.await;
        let _ = commander.await;
        if let Ok(mut book) = inner.book.lock() {
            *book = None;
        }
        if inner.shutdown.is_cancelled() {
            return;
        }
        if inner.raft_dead.load(Ordering::Relaxed) {
            return raft_ended(&inner).await;
        }
        tracing::info!(instance = %inner.local, term, "leadership lost");
    }
}

/// What a leadership confirmation found.
enum Confirmation {
    /// A quorum accepted this node as the leader of the term, and the leader's first entry of
    /// the term (openraft's blank entry) is applied: a commit of its own term.
    Confirmed,
    /// No (or not yet): a newer term exists, or no quorum answered in time.
    Refused,
    /// The Raft core is gone.
    Ended,
}

/// Confirms that this node leads `term`: openraft's read-index round (`ensure_linearizable`)
/// heartbeats the voters and succeeds only when a quorum still accepts this leader, then
/// waits until the entries up to the leader's blank entry of the term are applied. A former
/// leader restarted with its old vote is restored as leader by openraft before it learns of
/// the newer term: this is what keeps it from acting or answering as master meanwhile.
async fn confirm(inner: &Inner, term: u64) -> Confirmation {
    let limit = (inner.spec.raft.election_timeout_max * 2).max(Duration::from_millis(200));
    let outcome = tokio::select! {
        _ = inner.shutdown.cancelled() => return Confirmation::Refused,
        outcome = tokio::time::timeout(limit, inner.raft.ensure_linearizable()) => outcome,
    };
    match outcome {
        Ok(Ok(_)) if inner.metrics.borrow().current_term == term => Confirmation::Confirmed,
        Ok(Ok(_)) => Confirmation::Refused,
        Ok(Err(openraft::error::RaftError::Fatal(e))) => {
            tracing::debug!(error = %e, "leadership confirmation: the Raft core has stopped");
            Confirmation::Ended
        }
        Ok(Err(e)) => {
            tracing::debug!(instance = %inner.local, term, error = %e, "leadership not confirmed");
            Confirmation::Refused
        }
        Err(_) => {
            tracing::debug!(instance = %inner.local, term, "leadership not confirmed in time");
            Confirmation::Refused
        }
    }
}

/// openraft's server metrics (role, vote, leader, membership) as a watch.
type ServerMetrics = tokio::sync::watch::Receiver<
    openraft::metrics::RaftServerMetrics<crate::types::NodeId, crate::types::NodeInfo>,
>;

/// openraft's core stopped (a fatal error inside it, or the fault injected by a test): this
/// node can no longer take part. Say so once, loudly; stop ticking (the ticker sees
/// `raft_dead`), so the leader declares this instance SILENT within the inactivity timeout
/// and applies its failure strategies; fence like a cut-off instance (`no_quorum_policy`); then tell
/// the owner of the node ([`crate::Node::core_ended`]), which restarts or exits.
async fn raft_ended(inner: &Inner) {
    inner.raft_dead.store(true, Ordering::Relaxed);
    inner.confirmed_term.store(0, Ordering::Relaxed);
    if inner.shutdown.is_cancelled() {
        return;
    }
    tracing::error!(instance = %inner.local, "the Raft core has stopped; this instance no longer takes part in the cluster: its ticks stop and it is cut off (writes refused, no master named)");
    let was_cut = inner.cut_off.swap(true, Ordering::Relaxed);
    // The others will declare it lost and restart what it runs: fenced as a cut-off instance
    // is (`no_quorum_policy`), unless the cut-off detection has already fenced it.
    if !was_cut && inner.spec.no_quorum_policy.fences() {
        tracing::warn!(
            instance = %inner.local,
            no_quorum_policy = inner.spec.no_quorum_policy.name(),
            "the Raft core has stopped: fencing"
        );
        let _ = fence(inner).await;
    }
    inner
        .core_ended
        .send_replace(Some(crate::node::CoreEnd::RaftStopped));
}

/// For an instance that started with an empty Raft store while no peer answered: asks the
/// peers again until one does, meanwhile refusing votes, appends and snapshots (the internal
/// server checks `store_cleared`), so that a voter that lost its state cannot vote twice in
/// a term it forgot. Cleared when a peer answers without having seen it take part; otherwise
/// the instance stops taking part at once and its owner is told ([`crate::CoreEnd::StateLost`]).
pub(crate) async fn verify_pristine(inner: Arc<Inner>) {
    let started = Instant::now();
    while !inner.store_cleared.load(Ordering::Relaxed) {
        let replies = crate::node::ask_peers(&inner.spec, &inner.client).await;
        let knowledge = replies.iter().map(|(peer, k)| (peer.as_str(), *k));
        if let Some(peer) = crate::membership::lost_state_witness(knowledge) {
            tracing::error!(instance = %inner.local, %peer, "empty Raft store, and {peer} knows this instance as a member that already took part: its Raft state was lost; it takes no part (README: a host lost its disk)");
            inner.raft_dead.store(true, Ordering::Relaxed);
            inner.cut_off.store(true, Ordering::Relaxed);
            inner
                .core_ended
                .send_replace(Some(crate::node::CoreEnd::StateLost {
                    data_dir: inner.spec.data_dir.clone(),
                    peer: peer.to_string(),
                }));
            return;
        }
        if !replies.is_empty() {
            tracing::info!(instance = %inner.local, "a peer answered: the empty Raft store is a new member's, votes allowed");
            inner.store_cleared.store(true, Ordering::Relaxed);
            return;
        }
        if !pause(&inner, startup_poll(started)).await {
            return;
        }
    }
}

/// The leader-only work: decide with the liveness book, commit, repeat.
async fn leader_loop(
    inner: Arc<Inner>,
    stop: tokio_util::sync::CancellationToken,
    previous_leader: Option<(String, Instant)>,
) {
    let params = LivenessParams {
        local: inner.local.clone(),
        instances: inner
            .spec
            .instances
            .iter()
            .map(|i| i.identifier.clone())
            .collect(),
        voters: inner.spec.voters.clone(),
        inactivity_timeout: inner.spec.inactivity_timeout,
        silent_after: inner.spec.silent_restart_after(),
        refused_after: if inner.spec.auto_fence {
            inner
                .spec
                .fence_bound()
                .unwrap_or(inner.spec.fencing_timeout)
        } else {
            Duration::ZERO
        },
        synchro_timeout: inner.spec.synchro_timeout,
        auto_fence: inner.spec.auto_fence,
        deploys: inner.planner.lock().is_ok_and(|p| p.is_some()),
    };
    if let Ok(mut book) = inner.book.lock() {
        let mut fresh = LeaderBook::new(params, Instant::now());
        if let Some((identifier, at)) = &previous_leader {
            fresh = fresh.with_last_heard(identifier, *at);
        }
        *book = Some(fresh);
    }
    // The beat of decisions that no tick wakes (a silence crossing a timeout, a periodic tick
    // commit): two tick intervals. What must be fast wakes the loop itself (a refused probe,
    // a tick that changes something); the silence of a cut-off host is only acted on after
    // the fence bound, which has a margin for this beat.
    let period =
        (inner.spec.tick_interval * 2).clamp(Duration::from_millis(20), Duration::from_millis(250));
    // An instance is probed once two ticks are missing — two heartbeats when the heartbeats
    // carry them (openraft sends one every 1.5 `raft_heartbeat_ms`), else probes would go out
    // between two healthy heartbeats — then at most once a tick interval. A heartbeat that
    // cannot connect probes at once ([`crate::carry::Carrier::on_unreachable`]).
    let heartbeats = inner.spec.raft.heartbeat * 3 + inner.spec.tick_interval / 2;
    let probe_after = (inner.spec.tick_interval * 2)
        .max(heartbeats)
        .max(Duration::from_millis(50));
    let probe_every = inner.spec.tick_interval.max(Duration::from_millis(20));
    let mut probed: HashMap<String, Instant> = HashMap::new();
    loop {
        let (commands, learners, late) = {
            let Ok(mut guard) = inner.book.lock() else {
                return;
            };
            let Some(book) = guard.as_mut() else {
                return;
            };
            let replica = inner.replica.borrow();
            let now = Instant::now();
            let commands = book.decide(now, &replica.state);
            let membership = replica.membership.membership();
            // An instance an operator removed is added back by itself only once it ticks
            // again (restarted, or still running), not on the strength of its last ticks.
            let removed = inner
                .removed_at
                .lock()
                .map(|r| r.clone())
                .unwrap_or_default();
            let learners = book.learners_to_add(|id| {
                membership.get_node(&node_id(id)).is_some()
                    || removed
                        .get(id)
                        .is_some_and(|at| !book.ticked_since(id, *at))
            });
            let late = book.to_probe(now, probe_after, &replica.state);
            (commands, learners, late)
        };
        for identifier in late {
            let now = Instant::now();
            if probed
                .get(&identifier)
                .is_some_and(|at| now.duration_since(*at) < probe_every)
            {
                continue;
            }
            probed.insert(identifier.clone(), now);
            spawn_probe(&inner, &stop, identifier, probe_every);
        }
        for cmd in commands {
            if stop.is_cancelled() {
                return;
            }
            tracing::debug!(?cmd, "leader commits");
            match inner.write_as_leader(cmd).await {
                crate::wire::WriteReply::Done(_) => {}
                other => {
                    tracing::debug!(?other, "leader write failed; will decide again");
                    break;
                }
            }
        }
        for learner in learners {
            let Some(info) = node_info(&inner.spec, &learner) else {
                continue;
            };
            let add = inner.raft.add_learner(node_id(&learner), info, false);
            match tokio::time::timeout(inner.write_timeout, add).await {
                Ok(Ok(_)) => tracing::info!(instance = %learner, "added as a learner"),
                Ok(Err(e)) => tracing::warn!(instance = %learner, error = %e, "add_learner failed"),
                Err(_) => tracing::warn!(instance = %learner, "add_learner timed out"),
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
            _ = inner.book_wake.notified() => {}
        }
    }
}

/// Probes a late instance's internal port; a refusal goes to the book as death evidence and
/// wakes the leader loop to decide on it at once.
pub(crate) fn spawn_probe(
    inner: &Arc<Inner>,
    stop: &tokio_util::sync::CancellationToken,
    identifier: String,
    timeout: Duration,
) {
    let Some(addr) = inner.addrs.get(&identifier).cloned() else {
        return;
    };
    let inner = inner.clone();
    let stop = stop.clone();
    tokio::spawn(async move {
        let started = Instant::now();
        let refused = tokio::select! {
            _ = stop.cancelled() => return,
            refused = crate::probe::refused(&addr, timeout) => refused,
        };
        if !refused {
            return;
        }
        tracing::info!(instance = %identifier, %addr, "late and its internal port refuses connections: its daemon is gone");
        if let Ok(mut guard) = inner.book.lock() {
            if let Some(book) = guard.as_mut() {
                book.on_refused(&identifier, started);
            }
        }
        inner.book_wake.notify_one();
    });
}

/// The instance the next tick goes to: the leader the metrics name, else the hint of the last
/// `NotLeader` answer. The hint is spent either way: it also sets the 5 ms redirect pace, and
/// a hint left over while the metrics name a leader (a tick that reached the new leader before
/// its leader loop started) kept a follower ticking every 5 ms for ever. Pure.
fn tick_target(leader: Option<&String>, hint: &mut Option<String>) -> Option<String> {
    let hinted = hint.take();
    leader.cloned().or(hinted)
}

/// Every instance: ticks the leader every `tick_interval`, tracks the last contact with a
/// leader, flips `cut_off` after `fencing_timeout` without it (fencing per `no_quorum_policy`),
/// and asks for a full sync when the leader wants one or when contact returns.
///
/// Contact is the leader's last quorum acknowledgement, as an acknowledged tick reports it
/// (the leader itself reads it from openraft), or a leader of a newer term than the last
/// acknowledged one becoming known: its election needed a majority's votes just now, so
/// a failover (the old leader dead, a new one elected before this instance ticked it) is
/// not taken for a cut.
pub(crate) async fn ticker(inner: Arc<Inner>) {
    let interval = inner.spec.tick_interval.max(Duration::from_millis(10));
    let call_timeout = inner.spec.tick_call_timeout();
    // A note carried on the leader's heartbeats within this stands for the tick's answer (see
    // `crate::carry`): two heartbeats, so one late heartbeat does not bring the ticks back.
    let carried_within = inner.spec.raft.heartbeat * 2 + interval / 2;
    let carrier = &inner.carrier;
    // The fence of the current cut, reported once contact returns.
    let mut fence_task: Option<JoinHandle<Option<FenceReport>>> = None;
    let mut hint: Option<String> = None;
    let mut probe = 0usize;
    // Subscribed before the first snapshot, so no change falls between the two.
    let mut load = LoadTracker::new(inner.supervisor.subscribe_events());
    let mut election_asked: Option<Instant> = None;
    let mut full_sync = inner.full_sync_done.subscribe();
    loop {
        if inner.raft_dead.load(Ordering::Relaxed) {
            // An ended Raft core: no more ticks, so the leader sees this instance lost.
            tracing::warn!(instance = %inner.local, "the Raft core has stopped: no more ticks");
            return;
        }
        let mut tick = TickRequest {
            identifier: inner.local.clone(),
            load: load.load(|| local_snapshot(&inner)).await,
            counter: 0,
            sent_at: 0,
            incarnation: inner.incarnation,
            full_sync: *full_sync.borrow_and_update(),
        };
        carrier.set_own(&tick);
        let reply = if inner.is_leader() {
            // The leader's own contact with the quorum is its last quorum acknowledgement,
            // whether or not its book is up yet to answer its own tick.
            let own = own_quorum_age(&inner);
            carrier.record_ack(Instant::now(), 0, own, Duration::ZERO);
            tick.counter = carrier.next_counter();
            tick.sent_at = epoch_ms();
            Some(on_tick(&inner, &tick))
        } else if carrier.carried_within(carried_within) {
            // The leader's heartbeats carry the ticks and their answers.
            None
        } else {
            let leader = match inner.metrics.borrow().current_leader {
                Some(id) if id != inner.id => inner.identifier_of(id),
                _ => None,
            };
            let target = tick_target(leader.as_ref(), &mut hint).or_else(|| {
                // No leader known (a learner not yet added, or an election): probe the voters.
                let voters: Vec<&String> = inner
                    .spec
                    .voters
                    .iter()
                    .filter(|v| **v != inner.local)
                    .collect();
                if voters.is_empty() {
                    return None;
                }
                probe = probe.wrapping_add(1);
                Some(voters[probe % voters.len()].clone())
            });
            tick.counter = carrier.next_counter();
            tick.sent_at = epoch_ms();
            let reply = match target.and_then(|t| inner.addrs.get(&t).cloned()) {
                None => None,
                Some(addr) => inner
                    .client
                    .call::<_, TickReply>(&addr, PATH_TICK, &tick, call_timeout)
                    .await
                    .map_err(|e| tracing::trace!(error = %e, "tick failed"))
                    .ok(),
            };
            if let (None, Some(leader)) = (&reply, &leader) {
                elect_if_leader_dead(&inner, leader, &mut election_asked);
            }
            reply
        };
        match reply {
            Some(TickReply::Ack {
                need_full_sync,
                term,
                quorum_age_ms,
            }) => {
                // Contact as of the leader's last quorum acknowledgement (plus its lease for
                // the others), not of its answer: a leader cut off in a minority still
                // answers (see `quorum_contact`).
                let lease = if inner.is_leader() {
                    Duration::ZERO
                } else {
                    inner.spec.raft.election_timeout_max
                };
                carrier.record_ack(
                    Instant::now(),
                    term,
                    quorum_age_ms.map(Duration::from_millis),
                    lease,
                );
                if need_full_sync {
                    inner.full_sync_request.notify_one();
                }
            }
            Some(TickReply::NotLeader { leader }) => hint = leader.filter(|l| *l != inner.local),
            None => {}
        }
        let (term, leader) = {
            let m = inner.metrics.borrow();
            (m.current_term, m.current_leader)
        };
        if newly_elected(carrier.contact().term, term, leader, inner.id) {
            carrier.record_election(term, Instant::now());
        }
        update_cut_off(&inner, carrier.contact().at.elapsed(), &mut fence_task);
        let wait = if hint.is_some() {
            // Followed a redirect: tick the real leader at once rather than one interval later.
            Duration::from_millis(5)
        } else if inner.is_leader() || carrier.carried_within(carried_within) {
            // Nothing to send: wake for the next decision only, the cut-off deadline, and at
            // the latest when the carrying may have lapsed (the ticks resume then).
            let deadline = carrier.contact().at + inner.spec.fencing_timeout;
            (deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(1))
                .clamp(interval, carried_within)
        } else {
            interval
        };
        // A new full sync is said at once (the handshake waits for it).
        tokio::select! {
            _ = inner.shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
            _ = full_sync.changed() => {}
        }
    }
}

/// The leader did not answer a tick. If its internal port refuses connections, its daemon is
/// dead: ask for an election as soon as the other voters will grant one — when the leader
/// lease openraft gives the last heartbeat (`election_timeout_max`) has run out — rather than
/// when the election timer fires (that lease plus a random election timeout later). Only the
/// first surviving voter in the config's order asks, so two followers do not split the vote;
/// if it cannot win (a shorter log), the timers elect someone as before. `asked` holds the
/// heartbeat after which the leader was already probed: once per heartbeat, and in a task of
/// its own, so that an unreachable leader (whose connect times out) never slows the ticks
/// and with them the cut-off detection.
fn elect_if_leader_dead(inner: &Arc<Inner>, leader: &str, asked: &mut Option<Instant>) {
    let first_survivor = inner.spec.voters.iter().find(|v| v.as_str() != leader);
    if first_survivor != Some(&inner.local) {
        return;
    }
    let heartbeat = match inner.last_append.lock().ok().and_then(|l| l.clone()) {
        Some((from, at)) if from == leader => at,
        _ => return,
    };
    if *asked == Some(heartbeat) {
        return;
    }
    let Some(addr) = inner.addrs.get(leader).cloned() else {
        return;
    };
    *asked = Some(heartbeat);
    let timeout = inner
        .spec
        .tick_interval
        .clamp(Duration::from_millis(20), Duration::from_millis(200));
    let due = heartbeat + inner.spec.raft.election_timeout_max + Duration::from_millis(30);
    let inner = inner.clone();
    let leader = leader.to_string();
    tokio::spawn(async move {
        let refused = tokio::select! {
            _ = inner.shutdown.cancelled() => return,
            refused = crate::probe::refused(&addr, timeout) => refused,
        };
        if !refused {
            return;
        }
        tokio::select! {
            _ = inner.shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(due.into()) => {}
        }
        let still_leader = inner
            .metrics
            .borrow()
            .current_leader
            .and_then(|id| inner.identifier_of(id))
            .is_some_and(|l| l == leader);
        let no_news = inner
            .last_append
            .lock()
            .ok()
            .and_then(|l| l.clone())
            .is_some_and(|(from, at)| from == leader && at == heartbeat);
        if still_leader && no_news && !inner.is_leader() {
            tracing::info!(instance = %inner.local, %leader, "the leader's internal port refuses connections: asking for an election");
            if let Err(e) = inner.raft.trigger().elect().await {
                tracing::warn!(error = %e, "could not ask for an election");
            }
        }
    });
}

/// Whether a leader other than this node, of a term newer than the last contact's, is known:
/// a majority elected it at that term, so hearing of it is contact with the quorum. Only a
/// committed vote names a leader in openraft's metrics, so a candidate's term alone (what a
/// minority can reach by itself) does not count.
fn newly_elected(
    contact_term: u64,
    term: u64,
    leader: Option<crate::types::NodeId>,
    me: crate::types::NodeId,
) -> bool {
    term > contact_term && leader.is_some_and(|l| l != me)
}

/// Every local process's info, to seed the load (see [`crate::load`]); `None` when the
/// supervisor does not answer within 50 ms: a slow or stopping supervisor must not delay the
/// tick.
async fn local_snapshot(inner: &Inner) -> Option<Vec<procman::ProcessInfo>> {
    tokio::time::timeout(
        model::supvisors::TICK_SNAPSHOT_TIMEOUT,
        inner.supervisor.all_process_info(),
    )
    .await
    .ok()
}

/// What a fence stopped, as the local replica counted the instance's losses when it began
/// (see [`crate::state::Command::Fenced`]).
#[derive(Debug, Clone, PartialEq, Eq)]
struct FenceReport {
    losses: u64,
    namespecs: Vec<String>,
}

/// Flips `cut_off` when the silence crosses `fencing_timeout`, either way. On the way in,
/// starts the fence in a task of its own (the ticks go on meanwhile, so the return of
/// contact is seen at once) and keeps it in `fence`; on the way out, asks for a full sync and
/// has the fence's outcome reported to the cluster ([`report_fence`]).
fn update_cut_off(
    inner: &Arc<Inner>,
    silence: Duration,
    fence_task: &mut Option<JoinHandle<Option<FenceReport>>>,
) {
    let now_cut = silence > inner.spec.fencing_timeout;
    let was_cut = inner.cut_off.swap(now_cut, Ordering::Relaxed);
    if now_cut && !was_cut {
        let policy = inner.spec.no_quorum_policy;
        tracing::warn!(
            instance = %inner.local,
            silence_ms = silence.as_millis() as u64,
            no_quorum_policy = policy.name(),
            "cut off from the quorum: writes refused"
        );
        if policy.fences() {
            let inner = inner.clone();
            *fence_task = Some(tokio::spawn(async move {
                tokio::select! {
                    _ = inner.shutdown.cancelled() => None,
                    report = fence(&inner) => report,
                }
            }));
        }
    } else if was_cut && !now_cut {
        tracing::info!(instance = %inner.local, "contact with the quorum restored");
        inner.full_sync_request.notify_one();
        if let Some(task) = fence_task.take() {
            tokio::spawn(report_fence(inner.clone(), task));
        }
    }
}

/// Once contact is back: tells the cluster what the fence stopped (`Command::Fenced`), so that
/// if the majority never declared this instance lost — the cut was shorter than its wait —
/// those processes still go through their running-failure strategies instead of staying
/// stopped. The state machine ignores the report when the loss was declared meanwhile.
/// Retried for a minute (a leader may be being elected); waits for the fence to finish first,
/// then (up to [`STOPS_COMMIT_WAIT`]) for its stops to be committed ([`stops_committed`]).
async fn report_fence(inner: Arc<Inner>, fence: JoinHandle<Option<FenceReport>>) {
    let Ok(Some(report)) = fence.await else {
        return;
    };
    let wait_stops = Instant::now() + STOPS_COMMIT_WAIT;
    let mut replica = inner.replica.clone();
    while !stops_committed(&replica.borrow().state, &inner.local, &report.namespecs) {
        if Instant::now() >= wait_stops {
            tracing::warn!(
                waited_ms = STOPS_COMMIT_WAIT.as_millis() as u64,
                "fence: its stops are not committed yet; reporting anyway"
            );
            break;
        }
        tokio::select! {
            _ = inner.shutdown.cancelled() => return,
            _ = replica.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    let cmd = Command::Fenced {
        instance: inner.local.clone(),
        losses: report.losses,
        namespecs: report.namespecs,
    };
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        match inner.write(cmd.clone()).await {
            Ok(result) => {
                tracing::info!(?result, "fence: reported to the cluster");
                return;
            }
            Err(e) if Instant::now() < give_up => {
                tracing::debug!(error = %e, "fence: report not committed yet");
            }
            Err(e) => {
                tracing::warn!(error = %e, "fence: report abandoned; the stopped programs stay stopped");
                return;
            }
        }
        if !pause(&inner, Duration::from_millis(200)).await {
            return;
        }
    }
}

/// How long a fence report waits for the fence's stops to be committed (the process events
/// refused while cut off go out again once contact returns, within a few batches).
const STOPS_COMMIT_WAIT: Duration = Duration::from_secs(5);

/// Whether the replicated state already holds the fence's stops: every namespec in
/// `stopped` is recorded stopped (or not recorded) for `local`. The fence report waits for
/// this. Committed before those STOPPED events, the report has the majority restart a
/// program — possibly here (CONFIG's first choice) — and the late STOPPED event then reads
/// as the failure of that very restart (the start's item sees a newer record, STOPPED), so
/// the program stays stopped everywhere.
fn stops_committed(state: &ClusterState, local: &str, stopped: &[String]) -> bool {
    let Some(record) = state.instance(local) else {
        return true;
    };
    stopped.iter().all(|namespec| {
        record
            .processes
            .get(namespec)
            .is_none_or(|p| p.status.state.is_stopped())
    })
}

/// What the fence stops: every running-like local process with `stop_all`, those the fence
/// policy names (what the majority would restart elsewhere) with `stop_movable`, none with
/// `ignore`. `live` are the namespecs running-like or STOPPING on the local supervisor.
fn fence_victims(
    policy: NoQuorumPolicy,
    movable: Option<&FencePolicy>,
    state: &ClusterState,
    local: &str,
    live: &[String],
) -> Vec<String> {
    match policy {
        NoQuorumPolicy::Ignore => Vec::new(),
        NoQuorumPolicy::StopAll => live.to_vec(),
        NoQuorumPolicy::StopMovable => movable.map_or_else(Vec::new, |p| p(state, local, live)),
    }
}

/// Stops what [`fence_victims`] names, all at once: the stop signal, then SIGKILL at most
/// `fence_stop_timeout` later (procman's `stop_process_within`), so every old copy is gone
/// within `SupvisorsSpec::fence_bound` of the last tick the leader received. Returns the
/// processes surely stopped (a failed stop is not reported: it may still run).
async fn fence(inner: &Inner) -> Option<FenceReport> {
    let started = Instant::now();
    let Ok(infos) =
        tokio::time::timeout(Duration::from_secs(1), inner.supervisor.all_process_info()).await
    else {
        tracing::error!("fence: the local supervisor did not list its processes within 1 s");
        return None;
    };
    let live: Vec<String> = infos
        .iter()
        .filter(|i| i.state.is_running() || i.state == model::ProcessState::Stopping)
        .map(|i| model::make_namespec(&i.group, &i.name))
        .collect();
    let policy = inner.fence_policy.lock().ok().and_then(|p| p.clone());
    let (losses, victims) = {
        let replica = inner.replica.borrow();
        let losses = replica.state.instance(&inner.local).map_or(0, |r| r.losses);
        let victims = fence_victims(
            inner.spec.no_quorum_policy,
            policy.as_ref(),
            &replica.state,
            &inner.local,
            &live,
        );
        (losses, victims)
    };
    if victims.is_empty() {
        tracing::info!(
            no_quorum_policy = inner.spec.no_quorum_policy.name(),
            "fence: nothing to stop"
        );
        return None;
    }
    let kill_after = inner.spec.fence_stop_timeout;
    tracing::warn!(
        ?victims,
        kill_after_ms = kill_after.as_millis() as u64,
        "fence: stopping what the majority would restart elsewhere"
    );
    // Past this, a process is still there: said loudly (procman keeps killing it).
    let patience = kill_after + Duration::from_secs(2);
    let stops = victims.iter().map(|namespec| async move {
        let stop = inner.supervisor.stop_process_within(namespec, kill_after);
        let outcome = tokio::time::timeout(patience, stop).await;
        (namespec, outcome)
    });
    let mut stopped = Vec::new();
    for (namespec, outcome) in futures_util::future::join_all(stops).await {
        match outcome {
            Ok(Ok(())) => stopped.push(namespec.clone()),
            // Stopped meanwhile (NOT_RUNNING): what the fence wanted.
            Ok(Err(fault)) if fault.code == model::FaultCode::NotRunning => {
                stopped.push(namespec.clone())
            }
            Ok(Err(fault)) => {
                tracing::error!(%namespec, fault = %fault.fault_string(), "fence: stop failed")
            }
            Err(_) => tracing::error!(
                %namespec,
                waited_ms = patience.as_millis() as u64,
                "fence: still not stopped"
            ),
        }
    }
    tracing::warn!(
        stopped = stopped.len(),
        of = victims.len(),
        took_ms = started.elapsed().as_millis() as u64,
        "fence: done"
    );
    Some(FenceReport {
        losses,
        namespecs: stopped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_newly_elected_other_leader_is_contact() {
        assert!(newly_elected(3, 4, Some(7), 1));
        assert!(!newly_elected(4, 4, Some(7), 1), "same term: no news");
        assert!(!newly_elected(3, 5, None, 1), "an election under way");
        assert!(!newly_elected(3, 4, Some(1), 1), "itself");
    }

    fn events(state: &mut ClusterState, counter: u64, pstate: model::ProcessState) {
        let pid = if pstate.is_stopped() { 0 } else { 9 };
        let status = crate::state::tests::status("mover", "mover", pstate, pid);
        state.apply(&crate::state::tests::events("n1", 1, counter, vec![status]));
    }

    #[test]
    fn a_fence_report_waits_for_its_stops_to_be_committed() {
        let mut state = ClusterState::new();
        let stopped = ["mover".to_string()];
        events(&mut state, 1, model::ProcessState::Running);
        assert_eq!(
            state.process("n1", "mover").map(|p| p.state),
            Some(model::ProcessState::Running)
        );
        assert!(
            !stops_committed(&state, "n1", &stopped),
            "still RUNNING in the replica"
        );
        events(&mut state, 2, model::ProcessState::Stopping);
        assert!(
            !stops_committed(&state, "n1", &stopped),
            "STOPPING is not stopped"
        );
        events(&mut state, 3, model::ProcessState::Stopped);
        assert!(stops_committed(&state, "n1", &stopped));
        assert!(stops_committed(&state, "n1", &[]), "nothing stopped");
        assert!(
            stops_committed(&state, "n1", &["gone".to_string()]),
            "not recorded"
        );
        assert!(stops_committed(&state, "n9", &stopped), "unknown instance");
    }

    #[test]
    fn the_policy_chooses_the_victims() {
        let state = ClusterState::new();
        let live = vec!["a:x".to_string(), "b:y".to_string()];
        let movable: FencePolicy = Arc::new(|_, local, live| {
            assert_eq!(local, "n1");
            live.iter()
                .filter(|n| n.starts_with("a:"))
                .cloned()
                .collect()
        });
        let pick = |policy, movable| fence_victims(policy, movable, &state, "n1", &live);
        assert_eq!(pick(NoQuorumPolicy::StopAll, Some(&movable)), live);
        assert_eq!(pick(NoQuorumPolicy::StopMovable, Some(&movable)), ["a:x"]);
        assert!(pick(NoQuorumPolicy::StopMovable, None).is_empty());
        assert!(pick(NoQuorumPolicy::Ignore, Some(&movable)).is_empty());
    }

    #[test]
    fn a_redirect_hint_is_used_once_even_when_the_metrics_name_the_leader() {
        // A tick that reached the leader before its leader loop started got `NotLeader`
        // naming that leader; the metrics name it too. The hint must be spent, or the
        // ticker keeps the 5 ms redirect pace for ever (200 ticks/s on an idle cluster).
        let b = "b".to_string();
        let mut hint = Some(b.clone());
        assert_eq!(tick_target(Some(&b), &mut hint), Some(b.clone()));
        assert_eq!(hint, None, "a stale hint keeps the 5 ms pace");
        let mut hint = Some("c".to_string());
        assert_eq!(tick_target(None, &mut hint), Some("c".to_string()));
        assert_eq!(hint, None);
        assert_eq!(tick_target(None, &mut None), None);
    }
}
