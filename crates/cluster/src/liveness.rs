//! The node's background tasks around Raft: forming the cluster (bootstrap), the leader-only
//! loop (liveness book, instance states, Supvisors global state, learners), and the ticker that
//! every instance runs (ticks to the leader, cut-off detection and fencing).
//!
//! Clocks: the leader judges silence with its own monotonic clock (time since each tick was
//! received). An instance judges itself cut off with its own monotonic clock: time since the
//! last tick the leader acknowledged (on the leader: since the last quorum acknowledgement
//! reported by openraft). So with `fencing_timeout < inactivity_timeout`, a cut-off minority
//! has fenced itself before the majority's leader declares it SILENT and restarts elsewhere.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use procman::SupervisorApi;

use crate::book::{LeaderBook, LivenessParams};
use crate::load::LoadTracker;
use crate::node::{node_info, Inner};
use crate::types::node_id;
use crate::wire::{HelloReply, TickReply, TickRequest, PATH_HELLO, PATH_TICK};

fn epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

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
        let mut reachable = 1;
        let mut formed = false;
        for answer in answers.into_iter().flatten() {
            reachable += 1;
            formed |= answer.initialized;
        }
        if !formed && reachable >= majority {
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
        if !pause(&inner, Duration::from_millis(100)).await {
            return;
        }
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
    let need_full_sync = {
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
        book.on_tick(tick, Instant::now(), epoch_ms(), &replica.state)
    };
    inner.book_wake.notify_one();
    TickReply::Ack {
        term,
        need_full_sync,
    }
}

/// Watches openraft's metrics and runs [`leader_loop`] exactly while this node leads.
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
        // Wait until we lead.
        loop {
            if leads(&server) {
                break;
            }
            tokio::select! {
                _ = inner.shutdown.cancelled() => return,
                changed = server.changed() => if changed.is_err() { return raft_ended(&inner) },
            }
        }
        let term = term_of(&server);
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
                    inner.raft_dead.store(true, std::sync::atomic::Ordering::Relaxed);
                    break;
                },
            }
        }
        stop.cancel();
        let _ = task.await;
        let _ = commander.await;
        if let Ok(mut book) = inner.book.lock() {
            *book = None;
        }
        if inner.shutdown.is_cancelled() {
            return;
        }
        if inner.raft_dead.load(std::sync::atomic::Ordering::Relaxed) {
            return raft_ended(&inner);
        }
        tracing::info!(instance = %inner.local, term, "leadership lost");
    }
}

/// openraft's server metrics (role, vote, leader, membership) as a watch.
type ServerMetrics = tokio::sync::watch::Receiver<
    openraft::metrics::RaftServerMetrics<crate::types::NodeId, crate::types::NodeInfo>,
>;

/// openraft's core stopped (a fatal error inside it): this node can no longer take part. Say
/// so once, loudly; `leader_view` now names no leader and writes fail.
fn raft_ended(inner: &Inner) {
    inner
        .raft_dead
        .store(true, std::sync::atomic::Ordering::Relaxed);
    if !inner.shutdown.is_cancelled() {
        tracing::error!(instance = %inner.local, "the Raft core has stopped; this instance no longer takes part in the cluster (restart raftvisord)");
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
        fencing_timeout: inner.spec.fencing_timeout,
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
    let period =
        (inner.spec.tick_interval / 2).clamp(Duration::from_millis(20), Duration::from_millis(250));
    // An instance is probed once two ticks are missing, then at most once a tick interval.
    let probe_after = (inner.spec.tick_interval * 2).max(Duration::from_millis(50));
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
            let learners = book.learners_to_add(|id| membership.get_node(&node_id(id)).is_some());
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
fn spawn_probe(
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
/// leader, flips `cut_off` after `fencing_timeout` without it (fencing with `auto_fence`), and
/// asks for a full sync when the leader wants one or when contact returns.
pub(crate) async fn ticker(inner: Arc<Inner>) {
    let interval = inner.spec.tick_interval.max(Duration::from_millis(10));
    let call_timeout = interval.clamp(Duration::from_millis(100), Duration::from_secs(1));
    let mut last_contact = Instant::now();
    let mut hint: Option<String> = None;
    let mut probe = 0usize;
    // Subscribed before the first snapshot, so no change falls between the two.
    let mut load = LoadTracker::new(inner.supervisor.subscribe_events());
    let mut counter: u64 = 0;
    let mut election_asked: Option<Instant> = None;
    loop {
        counter = counter.saturating_add(1);
        let tick = TickRequest {
            identifier: inner.local.clone(),
            load: load.load(|| local_snapshot(&inner)).await,
            counter,
            sent_at: epoch_ms(),
            incarnation: inner.incarnation,
            full_sync: *inner.full_sync_done.borrow(),
        };
        let reply = if inner.is_leader() {
            let quorum_age = {
                let m = inner.metrics.borrow();
                m.millis_since_quorum_ack
            };
            if let Some(ms) = quorum_age {
                let at = Instant::now().checked_sub(Duration::from_millis(ms));
                if let Some(at) = at {
                    last_contact = last_contact.max(at);
                }
            }
            Some(on_tick(&inner, &tick))
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
            Some(TickReply::Ack { need_full_sync, .. }) => {
                if !inner.is_leader() {
                    last_contact = Instant::now();
                }
                if need_full_sync {
                    inner.full_sync_request.notify_one();
                }
            }
            Some(TickReply::NotLeader { leader }) => hint = leader.filter(|l| *l != inner.local),
            None => {}
        }
        update_cut_off(&inner, last_contact.elapsed()).await;
        // Followed a redirect: tick the real leader at once rather than one interval later.
        let wait = if hint.is_some() {
            Duration::from_millis(5)
        } else {
            interval
        };
        if !pause(&inner, wait).await {
            return;
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

/// Every local process's info, to seed the load (see [`crate::load`]); `None` when the
/// supervisor does not answer within 50 ms: a slow or stopping supervisor must not delay the
/// tick.
async fn local_snapshot(inner: &Inner) -> Option<Vec<procman::ProcessInfo>> {
    tokio::time::timeout(
        Duration::from_millis(50),
        inner.supervisor.all_process_info(),
    )
    .await
    .ok()
}

async fn update_cut_off(inner: &Inner, silence: Duration) {
    let now_cut = silence > inner.spec.fencing_timeout;
    let was_cut = inner.cut_off.swap(now_cut, Ordering::Relaxed);
    if now_cut && !was_cut {
        tracing::warn!(
            instance = %inner.local,
            silence_ms = silence.as_millis() as u64,
            "cut off from the quorum: writes refused"
        );
        if inner.spec.auto_fence {
            fence(inner).await;
        }
    } else if was_cut && !now_cut {
        tracing::info!(instance = %inner.local, "contact with the quorum restored");
        inner.full_sync_request.notify_one();
    }
}

/// Stops the local processes the fence policy names (none without a policy).
async fn fence(inner: &Inner) {
    let policy = inner.fence_policy.lock().ok().and_then(|p| p.clone());
    let Some(policy) = policy else {
        tracing::info!("auto_fence: no fence policy set, nothing to stop");
        return;
    };
    let victims = {
        let replica = inner.replica.borrow();
        policy(&replica.state, &inner.local)
    };
    for namespec in victims {
        tracing::warn!(%namespec, "auto_fence: stopping a process the cluster would restart elsewhere");
        let stop = inner.supervisor.stop_process(&namespec, false);
        match tokio::time::timeout(Duration::from_secs(2), stop).await {
            Ok(Ok(())) => {}
            Ok(Err(fault)) => {
                tracing::warn!(%namespec, fault = %fault.fault_string(), "auto_fence stop")
            }
            Err(_) => tracing::warn!(%namespec, "auto_fence stop timed out"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
