//! The leader-only loop: the liveness book (ticks received, instance states, the Supvisors
//! global state, learners to add), the probes of late instances, and the answer to a tick.
//!
//! The leader judges silence with its own monotonic clock (time since each tick was
//! received). It declares a silent instance lost, and restarts its programs elsewhere, only
//! after `SupvisorsSpec::fence_bound` (see its parts there) measured on its own clock from the
//! last tick received — later than any acknowledgement the cut-off side counts from (see
//! [`crate::ticker`]) — so the old copies are gone before new ones start.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::book::{quorum_age, LeaderBook, LivenessParams, QUORUM_AGE_STALENESS_HEARTBEATS};
use crate::carry::LeaderSide;
use crate::inner::{node_info, Inner};
use crate::types::{node_id, NodeId};
use crate::wire::{FullSyncAsk, LeaderNote, TickReply, TickRequest};

use model::time::epoch_ms;

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

/// The leader-only work: decide with the liveness book, commit, repeat.
pub(crate) async fn leader_loop(
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
    // The previous leader is the first suspect — its silence is what elected this one — and
    // no heartbeat of this leadership may reach it yet: its port is probed at once, so a
    // `kill -9`'d master is found now rather than once its ticks are late.
    if let Some((identifier, _)) = &previous_leader {
        spawn_probe(&inner, &stop, identifier.clone(), probe_every);
    }
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

/// The leader's side of the liveness carried by the heartbeats ([`crate::carry`]).
impl LeaderSide for Inner {
    /// The note for the next append-entries request, `None` unless this node leads with its
    /// liveness book up (as [`on_tick`] answers).
    fn note_for(&self, need_full_sync: Option<FullSyncAsk>) -> Option<LeaderNote> {
        if !self.is_leader() || !self.book.lock().is_ok_and(|b| b.is_some()) {
            return None;
        }
        let term = self.metrics.borrow().current_term;
        Some(LeaderNote {
            term,
            need_full_sync,
            quorum_age_ms: own_quorum_age(self)
                .map(|age| u64::try_from(age.as_millis()).unwrap_or(u64::MAX)),
            sent_at: epoch_ms(),
        })
    }

    /// A heartbeat to `target` could not connect: a live instance's port is probed at once.
    fn on_unreachable(self: Arc<Self>, target: NodeId) {
        if !self.is_leader() {
            return;
        }
        let Some(identifier) = self.identifier_of(target) else {
            return;
        };
        let live = self
            .replica
            .borrow()
            .state
            .instance(&identifier)
            .is_some_and(|r| {
                matches!(
                    r.state,
                    crate::state::InstanceState::Running | crate::state::InstanceState::Checking
                )
            });
        if live {
            let timeout = self.spec.tick_interval.max(Duration::from_millis(20));
            spawn_probe(&self, &self.shutdown, identifier, timeout);
        }
    }

    /// The tick `target` carried on its answer; whether it must send a full snapshot.
    fn on_carried_tick(&self, target: NodeId, tick: &TickRequest) -> Option<FullSyncAsk> {
        if self.identifier_of(target).as_deref() != Some(tick.identifier.as_str()) {
            tracing::warn!(claimed = %tick.identifier, "a carried tick on behalf of another instance ignored");
            return None;
        }
        matches!(
            on_tick(self, tick),
            TickReply::Ack {
                need_full_sync: true,
                ..
            }
        )
        .then_some(FullSyncAsk {
            had: tick.full_sync,
        })
    }
}
