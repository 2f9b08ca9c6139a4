//! The leader-only loop: the liveness book (ticks received, instance states, the Supvisors
//! global state, learners to add), the probes of late instances, and the answer to a tick.
//!
//! The leader judges silence with its own monotonic clock (time since each tick was
//! received). A silent instance is SILENT after the inactivity timeout; the leader declares
//! its processes lost, and restarts them elsewhere, only after `SupvisorsSpec::fence_bound`
//! (see its parts there) measured on its own clock from the last tick received — later than
//! any acknowledgement the cut-off side counts from (see [`crate::ticker`]) — so the old
//! copies are gone before new ones start.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::book::{quorum_age, LeaderBook, LivenessParams, QUORUM_AGE_STALENESS_HEARTBEATS};
use crate::carry::LeaderSide;
use crate::inner::{node_info, Core, SharedPlanner};
use crate::mailbox::{Inbox, Mailbox, ToLeader};
use crate::probe::Reach;
use crate::state::Command;
use crate::types::{node_id, NodeId};
use crate::wire::{FullSyncAsk, LeaderNote, TickReply, TickRequest};

use model::time::epoch_ms;

/// Answers a tick (the `/ctl/tick` route, and the leader's own tick): the book's answer,
/// asked of the leader loop through its mailbox and awaited at most the tick call timeout
/// (the sender stops waiting then anyway). Not leading, or the loop not up (leadership just
/// started or just ended): `NotLeader`.
pub(crate) async fn on_tick(core: &Core, mailbox: &Mailbox, tick: TickRequest) -> TickReply {
    if !core.is_leader() {
        return TickReply::NotLeader {
            leader: core.current_leader(),
        };
    }
    let term = core.metrics.borrow().current_term;
    let wait = core.spec.tick_call_timeout();
    let Some(need_full_sync) = mailbox.ask_tick(tick, wait).await else {
        return TickReply::NotLeader {
            leader: core.current_leader(),
        };
    };
    TickReply::Ack {
        term,
        need_full_sync,
        quorum_age_ms: own_quorum_age(core)
            .map(|age| u64::try_from(age.as_millis()).unwrap_or(u64::MAX)),
    }
}

/// How long ago a quorum last acknowledged this node as the leader ([`quorum_age`], from
/// openraft's metrics); `None` when not leading or not yet acknowledged.
pub(crate) fn own_quorum_age(core: &Core) -> Option<Duration> {
    let staleness = core.spec.raft.heartbeat * QUORUM_AGE_STALENESS_HEARTBEATS;
    quorum_age(core.metrics.borrow().millis_since_quorum_ack, staleness)
}

/// What the leader loop works with: the core, its mailbox, the commander's planner (whether
/// one runs decides who ends DEPLOYMENT). It is also the carrier's way to the leading node
/// ([`LeaderSide`]).
pub(crate) struct LeaderCtx {
    pub(crate) core: Arc<Core>,
    pub(crate) mailbox: Arc<Mailbox>,
    pub(crate) planner: SharedPlanner,
}

/// The leader before this one, as this node last heard of it: its silence counts from its
/// last heartbeat here (`last_heard`, see [`LeaderBook::with_last_heard`]), and `no_answer`
/// is when this node's probe found its host out of reach since, if it did (the probe that
/// asked for the election, `crate::ticker`).
#[derive(Debug, Clone)]
pub(crate) struct PreviousLeader {
    pub(crate) identifier: String,
    pub(crate) last_heard: Instant,
    pub(crate) no_answer: Option<Instant>,
}

/// The commits and learner additions of one decision, run while the loop goes on taking
/// ticks (a commit waits for a quorum; a tick's answer must not).
type Work = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The leader-only work: the only owner of the liveness book while this node leads. It takes
/// the ticks and probe refusals from its mailbox ([`crate::mailbox`]), decides with the book
/// at once when one of them calls for it and otherwise once a beat, commits, repeat.
pub(crate) async fn leader_loop(
    ctx: Arc<LeaderCtx>,
    stop: tokio_util::sync::CancellationToken,
    previous_leader: Option<PreviousLeader>,
) {
    // An instance is probed once a tick is missing — a heartbeat when the heartbeats carry
    // them (openraft sends one every 1.5 `raft_heartbeat_ms`), with a margin of half a
    // heartbeat and half a tick, else probes would go out between two healthy heartbeats —
    // then at most once a tick interval. A heartbeat that cannot connect probes at once
    // ([`crate::carry::Carrier::on_unreachable`]). A probe is a TCP connect, which a live
    // host answers at once: an instance whose host does not is SILENT then
    // (`no_answer_after`), a few hundred milliseconds before the inactivity timeout.
    let heartbeats = ctx.core.spec.raft.heartbeat * 2 + ctx.core.spec.tick_interval / 2;
    let probe_after = (ctx.core.spec.tick_interval * 2)
        .max(heartbeats)
        .max(Duration::from_millis(50));
    let probe_every = ctx.core.spec.tick_interval.max(Duration::from_millis(20));
    let params = LivenessParams {
        local: ctx.core.local.clone(),
        instances: ctx
            .core
            .spec
            .instances
            .iter()
            .map(|i| i.identifier.clone())
            .collect(),
        voters: ctx.core.spec.voters.clone(),
        inactivity_timeout: ctx.core.spec.inactivity_timeout,
        silent_after: ctx.core.spec.silent_restart_after(),
        refused_after: if ctx.core.spec.auto_fence {
            ctx.core
                .spec
                .fence_bound()
                .unwrap_or(ctx.core.spec.fencing_timeout)
        } else {
            Duration::ZERO
        },
        no_answer_after: probe_after,
        synchro_timeout: ctx.core.spec.synchro_timeout,
        auto_fence: ctx.core.spec.auto_fence,
        deploys: ctx.planner.lock().is_ok_and(|p| p.is_some()),
    };
    let mut book = LeaderBook::new(params, Instant::now());
    if let Some(previous) = &previous_leader {
        book = book.with_last_heard(&previous.identifier, previous.last_heard);
        if let Some(at) = previous.no_answer {
            // This node's own probe found the previous leader's host out of reach (the
            // election it asked for is what made it leader): SILENT now, not one probe later.
            book.on_no_answer(&previous.identifier, at);
            tracing::info!(instance = %previous.identifier, "the previous leader's host did not answer a connect: out of reach");
        }
    }
    let mut inbox = ctx.mailbox.open();
    // What a message calls for (a refused probe, a tick that changes something) is decided at
    // once. What only the clock brings (a silence crossing a threshold, a tick commit coming
    // due) is decided when the book says it comes ([`LeaderBook::next_decision`]), recomputed
    // at each message: the healthy ticks of an idle cluster keep pushing it back, so they wake
    // the loop only to be taken in. After a commit, the loop decides again one `period` later
    // (two tick intervals) for what the commit made decidable.
    let period = (ctx.core.spec.tick_interval * 2)
        .clamp(Duration::from_millis(20), Duration::from_millis(250));
    // The previous leader is the first suspect — its silence is what elected this one — and
    // no heartbeat of this leadership may reach it yet: its port is probed at once, so a
    // `kill -9`'d master is found now rather than once its ticks are late.
    if let Some(previous) = &previous_leader {
        spawn_probe(
            &ctx,
            ProbeReport::Loop(inbox.sender()),
            &stop,
            previous.identifier.clone(),
            probe_every,
        );
    }
    let mut probed: HashMap<String, Instant> = HashMap::new();
    // Decide now (the first decision of the leadership), and whenever a message calls for it
    // or the beat comes, once the work of the previous decision is done.
    let mut due = true;
    let mut work: Option<Work> = None;
    let beat = tokio::time::sleep(period);
    tokio::pin!(beat);
    let mut decided_at = Instant::now();
    // When the book's next decision comes, but not sooner than one probe interval after the
    // last decision (a late instance is probed at most that often, and a deadline already past
    // must not spin the loop) and not later than IDLE_BEAT after it.
    let next_beat = |book: &LeaderBook, decided_at: Instant| {
        let latest = decided_at + IDLE_BEAT;
        let next = book
            .next_decision(probe_after, &ctx.core.replica.borrow().state)
            .unwrap_or(latest);
        tokio::time::Instant::from_std(next.max(decided_at + probe_every).min(latest))
    };
    loop {
        if due && work.is_none() {
            take_parked(&ctx, &mut book, &inbox);
            due = false;
            decided_at = Instant::now();
            let (commands, learners, late) = decide(&ctx, &mut book, probe_after);
            for identifier in late {
                let now = Instant::now();
                if probed
                    .get(&identifier)
                    .is_some_and(|at| now.duration_since(*at) < probe_every)
                {
                    continue;
                }
                probed.insert(identifier.clone(), now);
                spawn_probe(
                    &ctx,
                    ProbeReport::Loop(inbox.sender()),
                    &stop,
                    identifier,
                    probe_every,
                );
            }
            if commands.is_empty() && learners.is_empty() {
                beat.as_mut().reset(next_beat(&book, decided_at));
            } else {
                work = Some(Box::pin(commit(ctx.core.clone(), commands, learners)));
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            message = inbox.recv() => {
                let Some(message) = message else { return };
                due |= take(&ctx, &mut book, &inbox, message);
                // What else is waiting is taken before deciding: one decision for a burst.
                while let Some(message) = inbox.try_recv() {
                    due |= take(&ctx, &mut book, &inbox, message);
                }
                due |= take_parked(&ctx, &mut book, &inbox);
                if !due && work.is_none() {
                    beat.as_mut().reset(next_beat(&book, decided_at));
                }
            }
            () = async {
                match work.as_mut() {
                    Some(work) => work.await,
                    None => std::future::pending().await,
                }
            } => {
                work = None;
                beat.as_mut()
                    .reset(tokio::time::Instant::now() + period);
            }
            () = ctx.mailbox.parked_arrived() => {
                due |= take_parked(&ctx, &mut book, &inbox);
                if !due && work.is_none() {
                    beat.as_mut().reset(next_beat(&book, decided_at));
                }
            }
            () = &mut beat, if work.is_none() && !due => due = true,
        }
    }
}

/// The longest between two decisions of the leader loop with nothing due: a bound on what a
/// deadline the book does not know of could wait (a failed learner addition is retried then, for one).
const IDLE_BEAT: Duration = Duration::from_secs(1);

/// One decision of the book: the commands to commit, the learners to add, the instances to
/// probe.
fn decide(
    ctx: &LeaderCtx,
    book: &mut LeaderBook,
    probe_after: Duration,
) -> (Vec<Command>, Vec<String>, Vec<String>) {
    let replica = ctx.core.replica.borrow();
    let now = Instant::now();
    let commands = book.decide(now, &replica.state);
    let membership = replica.membership.membership();
    // An instance an operator removed is added back by itself only once it ticks again
    // (restarted, or still running), not on the strength of its last ticks.
    let removed = ctx
        .core
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
}

/// Commits `commands`, in order and in one entry (one Raft round for the decision; after a
/// failure it is all decided again), then adds `learners`, all in one membership entry: a
/// cluster launched at once has its learners tick in within a few hundred milliseconds of each
/// other, and one entry each (openraft takes one membership change at a time) made the 20
/// learners of a 25-host launch wait a second for the last of them (chaos/scale.sh).
async fn commit(core: Arc<Core>, mut commands: Vec<Command>, learners: Vec<String>) {
    let entry = match commands.len() {
        0 => None,
        1 => commands.pop(),
        _ => Some(Command::Batch(commands)),
    };
    if let Some(cmd) = entry {
        tracing::debug!(?cmd, "leader commits");
        match core.write_as_leader(cmd).await {
            crate::wire::WriteReply::Done(_) => {}
            other => tracing::debug!(?other, "leader write failed; will decide again"),
        }
    }
    let nodes: std::collections::BTreeMap<NodeId, _> = learners
        .iter()
        .filter_map(|l| node_info(&core.spec, l).map(|info| (node_id(l), info)))
        .collect();
    if nodes.is_empty() {
        return;
    }
    // As `add_learner` without waiting for the logs to catch up: nodes as learners, a node
    // already in the membership left as it is.
    let add = core
        .raft
        .change_membership(openraft::ChangeMembers::AddNodes(nodes), true);
    match tokio::time::timeout(core.write_timeout, add).await {
        Ok(Ok(_)) => tracing::info!(instances = ?learners, "added as learners"),
        Ok(Err(e)) => tracing::warn!(instances = ?learners, error = %e, "adding learners failed"),
        Err(_) => tracing::warn!(instances = ?learners, "adding learners timed out"),
    }
}

/// Takes one message into the book; whether it calls for a decision now.
fn take(ctx: &LeaderCtx, book: &mut LeaderBook, inbox: &Inbox<'_>, message: ToLeader) -> bool {
    match message {
        ToLeader::Tick {
            tick,
            received,
            received_ms,
            reply,
        } => {
            let (wake, need_full_sync) = {
                let replica = ctx.core.replica.borrow();
                let wake = book.tick_needs_decision(&tick, &replica.state);
                let need = book.on_tick(&tick, received, received_ms, &replica.state);
                (wake, need)
            };
            match reply {
                // The asker may have stopped waiting: nothing to do then.
                Some(reply) => {
                    let _ = reply.send(need_full_sync);
                }
                None => {
                    inbox.publish(&tick, need_full_sync);
                    inbox.taken(&tick, !wake && !need_full_sync);
                }
            }
            wake
        }
        ToLeader::Refused {
            identifier,
            started,
        } => {
            book.on_refused(&identifier, started);
            true
        }
        ToLeader::NoAnswer {
            identifier,
            started,
        } => {
            if book.on_no_answer(&identifier, started) {
                tracing::info!(instance = %identifier, "late and its host does not answer a connect: out of reach");
            }
            true
        }
    }
}

/// Takes every parked tick ([`Inbox::parked`]); whether one calls for a decision.
fn take_parked(ctx: &LeaderCtx, book: &mut LeaderBook, inbox: &Inbox<'_>) -> bool {
    inbox
        .parked()
        .into_iter()
        .fold(false, |due, message| take(ctx, book, inbox, message) | due)
}

/// Probes a late instance's internal port; a refusal goes to the loop (`to`) as death
/// evidence, no answer as the host out of reach, on which it decides at once.
fn spawn_probe(
    ctx: &LeaderCtx,
    to: ProbeReport,
    stop: &tokio_util::sync::CancellationToken,
    identifier: String,
    timeout: Duration,
) {
    let Some(addr) = ctx.core.addrs.get(&identifier).cloned() else {
        return;
    };
    let stop = stop.clone();
    tokio::spawn(async move {
        let started = Instant::now();
        let found = tokio::select! {
            _ = stop.cancelled() => return,
            found = crate::probe::reach(&addr, timeout) => found,
        };
        let message = match found {
            Reach::Refused => {
                tracing::info!(instance = %identifier, %addr, "late and its internal port refuses connections: its daemon is gone");
                ToLeader::Refused {
                    identifier,
                    started,
                }
            }
            Reach::NoAnswer => {
                tracing::debug!(instance = %identifier, %addr, "late and its host does not answer a connect");
                ToLeader::NoAnswer {
                    identifier,
                    started,
                }
            }
            Reach::Accepted | Reach::Unknown => return,
        };
        let delivered = match to {
            ProbeReport::Loop(sender) => sender.send(message).await.is_ok(),
            ProbeReport::Mailbox(mailbox) => mailbox.send(message).await,
        };
        if !delivered {
            tracing::debug!("the probe's refusal came after the leadership ended");
        }
    });
}

/// Where a probe's finding goes: to the loop that asked for it, or to whichever loop runs
/// when it comes (a heartbeat that could not connect).
enum ProbeReport {
    Loop(tokio::sync::mpsc::Sender<ToLeader>),
    Mailbox(Arc<Mailbox>),
}

/// The leader's side of the liveness carried by the heartbeats ([`crate::carry`]).
impl LeaderSide for LeaderCtx {
    /// The note for the next append-entries request, `None` unless this node leads with its
    /// leader loop up to take the ticks (as [`on_tick`] answers).
    fn note_for(&self, need_full_sync: Option<FullSyncAsk>) -> Option<LeaderNote> {
        if !self.core.is_leader() || !self.mailbox.is_open() {
            return None;
        }
        let term = self.core.metrics.borrow().current_term;
        Some(LeaderNote {
            term,
            need_full_sync,
            quorum_age_ms: own_quorum_age(&self.core)
                .map(|age| u64::try_from(age.as_millis()).unwrap_or(u64::MAX)),
            sent_at: epoch_ms(),
        })
    }

    /// A heartbeat to `target` could not connect: a live instance's port is probed at once.
    fn on_unreachable(self: Arc<Self>, target: NodeId) {
        if !self.core.is_leader() {
            return;
        }
        let Some(identifier) = self.core.identifier_of(target) else {
            return;
        };
        let live = self
            .core
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
            let timeout = self.core.spec.tick_interval.max(Duration::from_millis(20));
            let stop = self.core.shutdown.clone();
            spawn_probe(
                &self,
                ProbeReport::Mailbox(self.mailbox.clone()),
                &stop,
                identifier,
                timeout,
            );
        }
    }

    /// The tick `target` carried on its answer, handed to the leader loop without waiting
    /// for it (a full mailbox drops it: the next heartbeat carries a newer one), or parked
    /// for its next wake when it changes nothing ([`Mailbox::hand_carried`]). Returns
    /// whether `target` must send a full snapshot as the loop answered its previous carried
    /// ticks ([`crate::mailbox::FullSyncOwed`]): a heartbeat later than the book knows.
    fn on_carried_tick(&self, target: NodeId, tick: &TickRequest) -> Option<FullSyncAsk> {
        if self.core.identifier_of(target).as_deref() != Some(tick.identifier.as_str()) {
            tracing::warn!(claimed = %tick.identifier, "a carried tick on behalf of another instance ignored");
            return None;
        }
        if !self.core.is_leader() {
            return None;
        }
        let running = self
            .core
            .replica
            .borrow()
            .state
            .instance(&tick.identifier)
            .is_some_and(|r| r.state == crate::state::InstanceState::Running);
        if !self.mailbox.hand_carried(tick.clone(), running) {
            tracing::trace!(instance = %tick.identifier, "carried tick not taken: the leader loop is not up or busy");
        }
        self.mailbox.owed(&tick.identifier)
    }
}
