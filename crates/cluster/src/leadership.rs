//! The leadership watcher: runs the leader-only tasks ([`crate::leader`]'s loop and the
//! commander's executor) exactly while this node leads, from the moment a quorum confirmed
//! its leadership of the term, and handles the end of the Raft core ([`raft_ended`]: no more
//! ticks, the fence, the owner told).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::executor::CommanderCtx;
use crate::fence::{fence, FenceCtx};
use crate::inner::pause;
use crate::inner::{Core, CoreEnded, LastAppend};
use crate::leader::{leader_loop, LeaderCtx, PreviousLeader};

/// What the leadership watcher works with: the core, the last append (the previous leader's
/// last heartbeat), the contexts of the tasks it runs while this node leads (the leader loop,
/// the commander), and, for the end of the Raft core, the fence and the owner's signal.
pub(crate) struct LeadershipCtx {
    pub(crate) core: Arc<Core>,
    pub(crate) last_append: LastAppend,
    pub(crate) leader: Arc<LeaderCtx>,
    pub(crate) commander: Arc<CommanderCtx>,
    pub(crate) fence: Arc<FenceCtx>,
    pub(crate) core_ended: CoreEnded,
}

/// Watches openraft's metrics and runs [`leader_loop`] exactly while this node leads, from
/// the moment a quorum has confirmed its leadership of the current term ([`confirm`]).
pub(crate) async fn leadership(ctx: Arc<LeadershipCtx>) {
    // Woken by openraft's *server* metrics, which change only with the vote, the role, the
    // leader or the membership. The full metrics are re-sent after every event of the Raft core
    // (each heartbeat and its answer): waiting on them woke this task ~20 times a second on
    // every idle node for nothing. The decisions read the server metrics too: the full ones
    // are sent after them and may not show the change yet.
    let mut server = ctx.core.raft.server_metrics();
    let leads = |server: &ServerMetrics| {
        let m = server.borrow();
        !ctx.core
            .raft_dead
            .load(std::sync::atomic::Ordering::Relaxed)
            && m.state == openraft::ServerState::Leader
            && m.current_leader == Some(ctx.core.id)
    };
    let term_of = |server: &ServerMetrics| server.borrow().vote.leader_id().get_term();
    loop {
        // Wait until openraft says we lead, then until a quorum confirms it.
        let term = loop {
            if leads(&server) {
                let term = term_of(&server);
                match confirm(&ctx.core, term).await {
                    Confirmation::Confirmed => break term,
                    Confirmation::Ended => return raft_ended(&ctx).await,
                    Confirmation::Refused => {}
                }
                if ctx.core.shutdown.is_cancelled() {
                    return;
                }
                if leads(&server) && term_of(&server) == term {
                    // Still claiming the same term: try again shortly (no quorum yet).
                    if !pause(&ctx.core, ctx.core.spec.raft.heartbeat).await {
                        return;
                    }
                    continue;
                }
            }
            tokio::select! {
                _ = ctx.core.shutdown.cancelled() => return,
                changed = server.changed() => if changed.is_err() { return raft_ended(&ctx).await },
            }
        };
        ctx.core.confirmed_term.store(term, Ordering::Relaxed);
        tracing::info!(instance = %ctx.core.local, term, "became leader (master)");
        let stop = ctx.core.shutdown.child_token();
        // The previous leader was last heard with its last append-entries (heartbeat) here;
        // credited at most one election timeout of silence, so that a deposed leader that is
        // alive (a partition healed, a lost election) still has most of the inactivity
        // timeout to tick this one before it could be declared SILENT.
        let earliest = Instant::now().checked_sub(ctx.core.spec.raft.election_timeout_max);
        let no_answer = ctx
            .core
            .leader_no_answer
            .lock()
            .ok()
            .and_then(|mut n| n.take());
        let previous = ctx
            .last_append
            .lock()
            .ok()
            .and_then(|last| last.clone())
            .filter(|(from, _)| *from != ctx.core.local)
            .map(|(from, at)| PreviousLeader {
                no_answer: no_answer
                    .filter(|(whose, probed)| *whose == from && *probed > at)
                    .map(|(_, probed)| probed),
                identifier: from,
                last_heard: earliest.map_or(at, |e| at.max(e)),
            });
        let task = tokio::spawn(leader_loop(ctx.leader.clone(), stop.clone(), previous));
        let commander = tokio::spawn(crate::executor::commander_loop(
            ctx.commander.clone(),
            stop.clone(),
        ));
        // Wait until we do not.
        loop {
            if !leads(&server) || term_of(&server) != term {
                break;
            }
            tokio::select! {
                _ = ctx.core.shutdown.cancelled() => break,
                changed = server.changed() => if changed.is_err() {
                    ctx.core.raft_dead.store(true, Ordering::Relaxed);
                    break;
                },
            }
        }
        ctx.core.confirmed_term.store(0, Ordering::Relaxed);
        stop.cancel();
        let _ = task.await;
        let _ = commander.await;
        if ctx.core.shutdown.is_cancelled() {
            return;
        }
        if ctx.core.raft_dead.load(Ordering::Relaxed) {
            return raft_ended(&ctx).await;
        }
        tracing::info!(instance = %ctx.core.local, term, "leadership lost");
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
async fn confirm(core: &Core, term: u64) -> Confirmation {
    let limit = (core.spec.raft.election_timeout_max * 2).max(Duration::from_millis(200));
    let outcome = tokio::select! {
        _ = core.shutdown.cancelled() => return Confirmation::Refused,
        outcome = tokio::time::timeout(limit, core.raft.ensure_linearizable()) => outcome,
    };
    match outcome {
        Ok(Ok(_)) if core.metrics.borrow().current_term == term => Confirmation::Confirmed,
        Ok(Ok(_)) => Confirmation::Refused,
        Ok(Err(openraft::error::RaftError::Fatal(e))) => {
            tracing::debug!(error = %e, "leadership confirmation: the Raft core has stopped");
            Confirmation::Ended
        }
        Ok(Err(e)) => {
            tracing::debug!(instance = %core.local, term, error = %e, "leadership not confirmed");
            Confirmation::Refused
        }
        Err(_) => {
            tracing::debug!(instance = %core.local, term, "leadership not confirmed in time");
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
async fn raft_ended(ctx: &LeadershipCtx) {
    ctx.core.raft_dead.store(true, Ordering::Relaxed);
    ctx.core.confirmed_term.store(0, Ordering::Relaxed);
    if ctx.core.shutdown.is_cancelled() {
        return;
    }
    tracing::error!(instance = %ctx.core.local, "the Raft core has stopped; this instance no longer takes part in the cluster: its ticks stop and it is cut off (writes refused, no master named)");
    let was_cut = ctx.core.cut_off.swap(true, Ordering::Relaxed);
    // The others will declare it lost and restart what it runs: fenced as a cut-off instance
    // is (`no_quorum_policy`), unless the cut-off detection has already fenced it.
    if !was_cut && ctx.core.spec.no_quorum_policy.fences() {
        tracing::warn!(
            instance = %ctx.core.local,
            no_quorum_policy = ctx.core.spec.no_quorum_policy.name(),
            "the Raft core has stopped: fencing"
        );
        let _ = fence(&ctx.fence).await;
    }
    ctx.core_ended
        .send_replace(Some(crate::inner::CoreEnd::RaftStopped));
}
