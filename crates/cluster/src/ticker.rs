//! The ticker that every instance runs: ticks to the leader, cut-off detection (the fence,
//! [`crate::fence`], on the way in) and the election nudge when the leader's daemon or host
//! is gone.
//! Forming the cluster is [`crate::bootstrap`]'s, the leader-only loop [`crate::leader`]'s
//! (run by [`crate::leadership`]).
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

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use model::net::HostPort;
use procman::SupervisorApi;
use tokio::task::JoinHandle;

use crate::campaign::{majority_reachable, CampaignGate};
use crate::carry::Carrier;
use crate::cutoff::{election_nudge, tick_target, CutOff, Transition};
use crate::fence::{fence, report_fence, FenceCtx, FenceReport};
use crate::inner::{Core, FullSyncDone, FullSyncRequest, LastAppend};
use crate::leader::{on_tick, own_quorum_age};
use crate::load::LoadTracker;
use crate::mailbox::Mailbox;
use crate::probe::{probe_timeout, Reach};
use crate::types::NodeId;
use crate::wire::{TickReply, TickRequest, PATH_TICK};

/// What the ticker works with: the core, the carrier (ticks and contact carried by the
/// heartbeats), the leader loop's mailbox (for the leader's own tick), the local supervisor
/// (the load), this start's incarnation, the full sync asked of the feed and published by it,
/// the last append (a dead leader's election), and the fence it starts when cut off.
pub(crate) struct TickerCtx {
    pub(crate) core: Arc<Core>,
    pub(crate) carrier: Arc<Carrier>,
    pub(crate) mailbox: Arc<Mailbox>,
    pub(crate) supervisor: procman::Supervisor,
    pub(crate) incarnation: u64,
    pub(crate) full_sync_request: FullSyncRequest,
    pub(crate) full_sync_done: FullSyncDone,
    pub(crate) last_append: LastAppend,
    pub(crate) fence: Arc<FenceCtx>,
    /// Whether the campaign gate lets this voter call elections (the value last given to
    /// openraft's `enable_elect`): the election nudge for a leader out of reach asks only
    /// then.
    pub(crate) elections_allowed: AtomicBool,
}

/// The longest the leader waits between two ticks of its own (see the ticker's wait).
const LEADER_TICK_MAX: Duration = Duration::from_secs(1);

/// The leader's own ticks: whether the next one is due. The leader's ticker wakes for its
/// cut-off deadline too (a few times a second), but its own tick only feeds its book (its
/// load and full sync, and its "last heard", committed at most once a second): a tick like
/// the last one, answered without a full sync asked, within `LEADER_TICK_MAX` of it and in
/// the same term, is not sent (each is a wake of the leader loop and a timer).
#[derive(Debug, Default)]
struct OwnTicks {
    /// The last own tick: when, in which term, its load and full sync, and whether its
    /// answer was a plain acknowledgement.
    last: Option<(Instant, u64, u32, Option<crate::state::BatchSeq>, bool)>,
}

impl OwnTicks {
    fn due(&self, tick: &TickRequest, term: u64, now: Instant) -> bool {
        self.last.is_none_or(|(at, t, load, sync, plain)| {
            !plain
                || t != term
                || load != tick.load
                || sync != tick.full_sync
                || now.saturating_duration_since(at) >= LEADER_TICK_MAX
        })
    }

    fn sent(&mut self, tick: &TickRequest, term: u64, now: Instant, reply: &TickReply) {
        let plain = matches!(
            reply,
            TickReply::Ack {
                need_full_sync: false,
                ..
            }
        );
        self.last = Some((now, term, tick.load, tick.full_sync, plain));
    }

    /// When the next own tick is due whatever it says (`LEADER_TICK_MAX` after the last);
    /// `None` before the first.
    fn next_due(&self) -> Option<Instant> {
        self.last.map(|(at, ..)| at + LEADER_TICK_MAX)
    }
}

/// Every instance: ticks the leader every `tick_interval`, tracks the last contact with a
/// leader, flips `cut_off` after `fencing_timeout` without it (fencing per `no_quorum_policy`),
/// and asks for a full sync when the leader wants one or when contact returns. While the
/// heartbeats carry the ticks it runs a pass only when its tick changes (a process event, a
/// full sync), a probe answers, or a deadline comes: each heartbeat moves the deadlines back
/// (docs/architecture.md, "Timers and wake-ups").
///
/// Contact is the leader's last quorum acknowledgement, as an acknowledged tick reports it
/// (the leader itself reads it from openraft), or a leader of a newer term than the last
/// acknowledged one becoming known: its election needed a majority's votes just now, so
/// a failover (the old leader dead, a new one elected before this instance ticked it) is
/// not taken for a cut.
pub(crate) async fn ticker(ctx: Arc<TickerCtx>) {
    let interval = ctx.core.spec.tick_interval.max(Duration::from_millis(10));
    let call_timeout = ctx.core.spec.tick_call_timeout();
    // A note carried on the leader's heartbeats within this stands for the tick's answer (see
    // `crate::carry`): openraft's heartbeat period (1.5 `raft_heartbeat_ms`) and a tick
    // interval. Once it lapses the ticks resume, and a leader whose port refuses connections,
    // or whose host does not answer, gets its successor elected as soon as the leader lease
    // allows (`elect_if_leader_gone`): with the defaults the lapse (287 ms) comes before the
    // lease ends (300 ms after the last heartbeat), so the successor is not kept waiting by
    // this, and a host out of reach is known one probe (100 ms) after the lapse.
    let carried_within = ctx.core.spec.raft.heartbeat * 3 / 2 + interval;
    let carrier = &ctx.carrier;
    // The fence of the current cut, reported once contact returns.
    let mut fence_task: Option<JoinHandle<Option<FenceReport>>> = None;
    let mut hint: Option<String> = None;
    let mut probe = 0usize;
    // Subscribed before the first snapshot, so no change falls between the two.
    let mut load = LoadTracker::new(ctx.supervisor.subscribe_events());
    let mut election_asked: Option<Instant> = None;
    let mut full_sync = ctx.full_sync_done.subscribe();
    let cut_off = CutOff {
        fencing_timeout: ctx.core.spec.fencing_timeout,
    };
    let mut gate = CampaignGate::default();
    let mut gate_probe: Option<JoinHandle<bool>> = None;
    let mut probed: Option<bool> = None;
    let mut own_ticks = OwnTicks::default();
    loop {
        if ctx.core.raft_dead.load(Ordering::Relaxed) {
            // An ended Raft core: no more ticks, so the leader sees this instance lost.
            tracing::warn!(instance = %ctx.core.local, "the Raft core has stopped: no more ticks");
            return;
        }
        let mut tick = TickRequest {
            identifier: ctx.core.local.clone(),
            load: load.load(|| local_snapshot(&ctx.supervisor)).await,
            counter: 0,
            sent_at: 0,
            incarnation: ctx.incarnation,
            full_sync: *full_sync.borrow_and_update(),
        };
        carrier.set_own(&tick);
        // Heard from a leader lately (or leads): elections may stay on. A leader's fresh note
        // is what counts: it came on an append-entries call openraft accepted (which reset
        // its election timer), and it is not one held in a buffer during a partition. Decided
        // before a tick of its own is sent, whose call may take its whole timeout: elections
        // must be off before openraft's election timer can fire (see `crate::campaign`).
        let heard = ctx.core.is_leader() || carrier.carried_within(carried_within);
        campaign(
            &ctx,
            &mut gate,
            &mut gate_probe,
            probed.take(),
            heard,
            interval,
        );
        let reply = if ctx.core.is_leader() {
            // The leader's own contact with the quorum is its last quorum acknowledgement,
            // whether or not its book is up yet to answer its own tick.
            let own = own_quorum_age(&ctx.core);
            let now = Instant::now();
            carrier.record_ack(now, 0, own, Duration::ZERO);
            let term = ctx.core.metrics.borrow().current_term;
            if own_ticks.due(&tick, term, now) {
                carrier.stamp(&mut tick);
                let sent = tick.clone();
                let reply = on_tick(&ctx.core, &ctx.mailbox, tick).await;
                own_ticks.sent(&sent, term, now, &reply);
                Some(reply)
            } else {
                None
            }
        } else if carrier.carried_within(carried_within) {
            // The leader's heartbeats carry the ticks and their answers.
            None
        } else {
            let leader = match ctx.core.metrics.borrow().current_leader {
                Some(id) if id != ctx.core.id => ctx.core.identifier_of(id),
                _ => None,
            };
            let target = tick_target(leader.as_ref(), &mut hint).or_else(|| {
                // No leader known (a learner not yet added, or an election): probe the voters.
                let voters: Vec<&String> = ctx
                    .core
                    .spec
                    .voters
                    .iter()
                    .filter(|v| **v != ctx.core.local)
                    .collect();
                if voters.is_empty() {
                    return None;
                }
                probe = probe.wrapping_add(1);
                Some(voters[probe % voters.len()].clone())
            });
            // The leader's heartbeats lapsed: whether it is gone is probed beside the tick,
            // whose call may take its whole timeout when the leader's host is out of reach.
            if let Some(leader) = &leader {
                elect_if_leader_gone(&ctx, leader, &mut election_asked);
            }
            carrier.stamp(&mut tick);
            let reply = match target.and_then(|t| ctx.core.addrs.get(&t).cloned()) {
                None => None,
                Some(addr) => ctx
                    .core
                    .client
                    .call::<_, TickReply>(&addr, PATH_TICK, &tick, call_timeout)
                    .await
                    .map_err(|e| tracing::trace!(error = %e, "tick failed"))
                    .ok(),
            };
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
                let lease = if ctx.core.is_leader() {
                    Duration::ZERO
                } else {
                    ctx.core.spec.raft.election_timeout_max
                };
                carrier.record_ack(
                    Instant::now(),
                    term,
                    quorum_age_ms.map(Duration::from_millis),
                    lease,
                );
                if need_full_sync {
                    ctx.full_sync_request.notify_one();
                }
            }
            Some(TickReply::NotLeader { leader }) => hint = leader.filter(|l| *l != ctx.core.local),
            None => {}
        }
        let (term, leader) = {
            let m = ctx.core.metrics.borrow();
            (m.current_term, m.current_leader)
        };
        let now = Instant::now();
        let contact = carrier.observe_leader(term, leader, ctx.core.id, now);
        update_cut_off(
            &ctx,
            cut_off.is_cut(&contact, now),
            contact.silence(now),
            contact.term == 0,
            &mut fence_task,
        );
        let carried = ctx.core.is_leader() || carrier.carried_within(carried_within);
        let own_due = own_ticks.next_due();
        let passed = Instant::now();
        // Nothing to send while carried: wake for the next decision only, the cut-off
        // deadline, or the moment the carrying lapses (the ticks resume then). Counted from
        // the contact and the last note, which every heartbeat moves: recomputed then (see
        // `Carrier::contact_moved`), so an idle instance runs no pass while heartbeats come.
        // Never sooner than a tick interval after this pass (a deadline already past must
        // not spin the loop), never later than `longest` after `now`.
        let carried_wake = |contact: &crate::cutoff::Contact, now: Instant| {
            let mut next = cut_off.deadline(contact);
            // The leader's own tick only feeds its book (its load, committed at most once a
            // second) and its own cut-off check, whose deadline is in `next`: it need not
            // come more often than that.
            let mut longest = LEADER_TICK_MAX.max(carried_within);
            if ctx.core.is_leader() {
                next = next.min(own_due.unwrap_or(passed));
            } else if let Some(at) = carrier.last_note_at() {
                next = next.min(at + carried_within);
                longest = carried_within;
            }
            (next + Duration::from_millis(1))
                .max(passed + interval)
                .min(now + longest)
        };
        let mut wake = if hint.is_some() {
            // Followed a redirect: tick the real leader at once rather than one interval later.
            passed + Duration::from_millis(5)
        } else if carried {
            carried_wake(&contact, passed)
        } else {
            passed + interval
        };
        // A pass asked for by a process event, one tick interval after this one at the
        // soonest: a burst of state changes (a thousand programs starting) is one pass a
        // tick interval, not one per event.
        let mut load_pass: Option<Instant> = None;
        loop {
            let at = load_pass.map_or(wake, |l| l.min(wake));
            tokio::select! {
                _ = ctx.core.shutdown.cancelled() => return,
                _ = tokio::time::sleep_until(at.into()) => break,
                // A new full sync is said at once (the handshake waits for it).
                _ = full_sync.changed() => break,
                // A process changed state: the load the heartbeats carry may have changed.
                () = load.changed(interval) => load_pass = Some(passed + interval),
                // A probe's answer is acted on at once: a failover waits for it.
                majority = probe_done(&mut gate_probe) => {
                    probed = Some(majority);
                    break;
                }
                () = carrier.contact_moved() => {
                    // News after a lapse, or for an instance that judged itself cut off, is
                    // acted on at once; otherwise the deadlines only moved back.
                    if !carried || hint.is_some() || ctx.core.cut_off.load(Ordering::Relaxed) {
                        break;
                    }
                    wake = carried_wake(&carrier.contact(), Instant::now());
                }
            }
        }
    }
}

/// Drives this voter's election switch ([`crate::campaign`]): `heard` says whether a leader
/// was heard this round (or this node leads), `probed` is the answer of the probe that ended
/// since the last round; a probe of the other voters is started in `probe` when the gate asks.
fn campaign(
    ctx: &TickerCtx,
    gate: &mut CampaignGate,
    probe: &mut Option<JoinHandle<bool>>,
    probed: Option<bool>,
    heard: bool,
    every: Duration,
) {
    let voter = ctx
        .core
        .metrics
        .borrow()
        .membership_config
        .membership()
        .voter_ids()
        .any(|id| id == ctx.core.id);
    if !voter {
        // openraft calls no election for a learner: nothing to switch.
        return;
    }
    let now = Instant::now();
    let mut steps = Vec::with_capacity(2);
    if let Some(majority) = probed {
        // The leader's next try at a voter back in reach: its heartbeat period plus its
        // pause after a failed call, with an election timeout to spare.
        let raft = &ctx.core.spec.raft;
        let grace = raft.heartbeat * 3 / 2 + raft.election_timeout_min + raft.election_timeout_max;
        steps.push(gate.probed(majority, now, every, grace));
    }
    steps.push(if heard {
        gate.heard()
    } else {
        gate.silent(now)
    });
    for step in steps {
        if let Some(on) = step.elect {
            tracing::debug!(instance = %ctx.core.local, allowed = on, "elections by this voter");
            ctx.core.raft.runtime_config().elect(on);
            ctx.elections_allowed.store(on, Ordering::Relaxed);
        }
        if step.probe {
            let (voters, others) = voters_to_probe(&ctx.core, None);
            let timeout = probe_timeout(ctx.core.spec.tick_interval);
            *probe = Some(tokio::spawn(majority_reachable(others, voters, timeout)));
        }
    }
}

/// The voters as the effective membership has them now, read only for a probe of them
/// ([`majority_reachable`]): how many there are, and the internal addresses of those other
/// than this node and `leaving_out`.
fn voters_to_probe(core: &Core, leaving_out: Option<NodeId>) -> (usize, Vec<HostPort>) {
    let m = core.metrics.borrow();
    let membership = m.membership_config.membership();
    let others = membership
        .voter_ids()
        .filter(|id| *id != core.id && Some(*id) != leaving_out)
        .filter_map(|id| core.identifier_of(id))
        .filter_map(|name| core.addrs.get(&name).cloned())
        .collect();
    (membership.voter_ids().count(), others)
}

/// The answer of the running probe, once it ends (never without one).
async fn probe_done(probe: &mut Option<JoinHandle<bool>>) -> bool {
    let Some(task) = probe.as_mut() else {
        return std::future::pending().await;
    };
    let majority = task.await.unwrap_or(false);
    *probe = None;
    majority
}

/// The leader's heartbeats lapsed: probe its internal port. If it refuses connections, its
/// daemon is dead; if its host does not answer a connect at all while a majority of the
/// voters without it does (its link is down, it lost power, a firewall drops its packets),
/// it is out of reach of the majority. Either way, ask for an election as soon as the other
/// voters will grant one — when the leader lease openraft gives the last heartbeat
/// (`election_timeout_max`) has run out — rather than when the election timer fires (that
/// lease plus a random election timeout later, on openraft's tick of 1.5 heartbeats). A
/// leader that is slow but in reach (its kernel answers the connect) is left to the timers.
/// The surviving voters ask in turn, in the config's order ([`election_nudge`]), so two
/// followers do not split the vote; if none can win (a shorter log), the timers elect
/// someone as before. This voter unable to reach a majority itself (it is the one cut off)
/// asks nothing: its elections would only raise its term (see [`crate::campaign`]). `asked`
/// holds the heartbeat after which the leader was already probed: once per heartbeat, and in
/// a task of its own, so that an unreachable leader (whose connect times out) never slows the
/// ticks and with them the cut-off detection.
fn elect_if_leader_gone(ctx: &Arc<TickerCtx>, leader: &str, asked: &mut Option<Instant>) {
    let last_append = ctx.last_append.lock().ok().and_then(|l| l.clone());
    let Some(nudge) = election_nudge(
        &ctx.core.spec.voters,
        &ctx.core.local,
        leader,
        last_append.as_ref().map(|(from, at)| (from.as_str(), *at)),
        *asked,
        ctx.core.spec.raft.election_timeout_max,
    ) else {
        return;
    };
    let Some(addr) = ctx.core.addrs.get(leader).cloned() else {
        return;
    };
    let (voters, others) = voters_to_probe(&ctx.core, Some(crate::types::node_id(leader)));
    let heartbeat = nudge.heartbeat;
    *asked = Some(heartbeat);
    let timeout = probe_timeout(ctx.core.spec.tick_interval);
    let due = nudge.due;
    let ctx = ctx.clone();
    let leader = leader.to_string();
    tokio::spawn(async move {
        let started = Instant::now();
        let (found, majority) = tokio::select! {
            _ = ctx.core.shutdown.cancelled() => return,
            both = async {
                tokio::join!(
                    crate::probe::reach(&addr, timeout),
                    majority_reachable(others, voters, timeout)
                )
            } => both,
        };
        // No answer is gated as the timers' elections are (`crate::campaign`), and a voter cut
        // off asks nothing: coming back, it may hear the leader's buffered heartbeat, then
        // nothing while the leader's stream to it reconnects, and find the other voters in
        // reach before the leader's host (its neighbour entry still failed); its election
        // would depose a live leader. A refusal came from the leader's host itself.
        let gated = |ctx: &TickerCtx| {
            found != Reach::Refused
                && (!ctx.elections_allowed.load(Ordering::Relaxed)
                    || ctx.core.cut_off.load(Ordering::Relaxed))
        };
        let why = match found {
            Reach::Refused => "the leader's internal port refuses connections",
            Reach::NoAnswer if majority && !gated(&ctx) => {
                if let Ok(mut n) = ctx.core.leader_no_answer.lock() {
                    *n = Some((leader.clone(), started));
                }
                "the leader's host does not answer a connect, the other voters do"
            }
            Reach::NoAnswer | Reach::Accepted | Reach::Unknown => return,
        };
        tokio::select! {
            _ = ctx.core.shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(due.into()) => {}
        }
        let still_leader = ctx
            .core
            .metrics
            .borrow()
            .current_leader
            .and_then(|id| ctx.core.identifier_of(id))
            .is_some_and(|l| l == leader);
        let no_news = ctx
            .last_append
            .lock()
            .ok()
            .and_then(|l| l.clone())
            .is_some_and(|(from, at)| from == leader && at == heartbeat);
        if still_leader && no_news && !ctx.core.is_leader() && !gated(&ctx) {
            tracing::info!(instance = %ctx.core.local, %leader, "{why}: asking for an election");
            if let Err(e) = ctx.core.raft.trigger().elect().await {
                tracing::warn!(error = %e, "could not ask for an election");
            }
        }
    });
}

/// Every local process's info, to seed the load (see [`crate::load`]); `None` when the
/// supervisor does not answer within 50 ms: a slow or stopping supervisor must not delay the
/// tick.
async fn local_snapshot(supervisor: &procman::Supervisor) -> Option<Vec<procman::ProcessInfo>> {
    tokio::time::timeout(
        model::supvisors::TICK_SNAPSHOT_TIMEOUT,
        supervisor.all_process_info(),
    )
    .await
    .ok()
}

/// Flips `cut_off` to `now_cut` (as [`CutOff`] decided it from the silence), either way. On
/// the way in, starts the fence in a task of its own (the ticks go on meanwhile, so the return
/// of contact is seen at once) and keeps it in `fence`; on the way out, asks for a full sync and
/// has the fence's outcome reported to the cluster ([`report_fence`]). `never_in_contact`: no
/// contact with a quorum since this daemon started (a start whose election takes longer than
/// `fencing_timeout`, as when many daemons start at once), which is said as such rather than
/// as a loss; the fence runs all the same.
fn update_cut_off(
    ctx: &TickerCtx,
    now_cut: bool,
    silence: Duration,
    never_in_contact: bool,
    fence_task: &mut Option<JoinHandle<Option<FenceReport>>>,
) {
    // Swapped, not stored: the end of the Raft core sets it too.
    let was_cut = ctx.core.cut_off.swap(now_cut, Ordering::Relaxed);
    match CutOff::transition(was_cut, now_cut, silence) {
        Transition::Cut { silence } => {
            let policy = ctx.core.spec.no_quorum_policy;
            if never_in_contact {
                tracing::info!(
                    instance = %ctx.core.local,
                    since_start_ms = silence.as_millis() as u64,
                    no_quorum_policy = policy.name(),
                    "no quorum reached yet since start: writes refused until one is"
                );
            } else {
                tracing::warn!(
                    instance = %ctx.core.local,
                    silence_ms = silence.as_millis() as u64,
                    no_quorum_policy = policy.name(),
                    "cut off from the quorum: writes refused"
                );
            }
            if policy.fences() {
                let fencing = ctx.fence.clone();
                *fence_task = Some(tokio::spawn(async move {
                    tokio::select! {
                        _ = fencing.core.shutdown.cancelled() => None,
                        report = fence(&fencing) => report,
                    }
                }));
            }
        }
        Transition::Restored => {
            tracing::info!(instance = %ctx.core.local, "contact with the quorum restored");
            ctx.full_sync_request.notify_one();
            if let Some(task) = fence_task.take() {
                tokio::spawn(report_fence(ctx.fence.clone(), task));
            }
        }
        Transition::Unchanged => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::BatchSeq;

    fn tick(load: u32, full_sync: Option<BatchSeq>) -> TickRequest {
        TickRequest {
            identifier: "a".into(),
            load,
            counter: 0,
            sent_at: 0,
            incarnation: 1,
            full_sync,
        }
    }

    fn ack(need_full_sync: bool) -> TickReply {
        TickReply::Ack {
            need_full_sync,
            term: 2,
            quorum_age_ms: Some(0),
        }
    }

    #[test]
    fn the_leader_ticks_itself_only_when_its_tick_has_something_to_say() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut own = OwnTicks::default();
        assert!(own.due(&tick(0, None), 2, t0), "the first one");
        own.sent(&tick(0, None), 2, t0, &ack(false));
        assert!(!own.due(&tick(0, None), 2, t0 + ms(400)), "nothing new");
        assert!(
            own.due(&tick(0, None), 2, t0 + LEADER_TICK_MAX),
            "once a second"
        );
        assert!(own.due(&tick(5, None), 2, t0 + ms(1)), "a new load");
        let synced = Some(BatchSeq::new(1, 3));
        assert!(own.due(&tick(0, synced), 2, t0 + ms(1)), "a new full sync");
        assert!(
            own.due(&tick(0, None), 3, t0 + ms(1)),
            "a new term: a new book"
        );
        own.sent(&tick(0, None), 2, t0, &ack(true));
        assert!(own.due(&tick(0, None), 2, t0 + ms(1)), "a full sync asked");
        own.sent(
            &tick(0, None),
            2,
            t0,
            &TickReply::NotLeader { leader: None },
        );
        assert!(
            own.due(&tick(0, None), 2, t0 + ms(1)),
            "not taken by a book"
        );
    }
}
