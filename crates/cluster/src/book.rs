//! The leader's liveness book: when each instance last ticked, and the decisions that follow
//! (instance handshakes, SILENT/ISOLATED on silence, the Supvisors global state, load). Pure:
//! the clock and the replicated state are passed in; the leader task commits the commands.
//!
//! Clock: `Instant`s of the *leader's* monotonic clock, counted from the moment it received
//! each tick; a new leader starts every instance's clock at its own start of leadership, so a
//! failover never declares an instance SILENT sooner than `silent_after` after it. The
//! wall-clock times committed with a tick ([`TickStamp`]) are for display only.
//!
//! Silence alone, in two steps. After the inactivity timeout the instance is SILENT: every
//! client sees it, nothing new is placed on it, its processes keep their last state
//! (`InstanceRecord::pending_loss`). Declaring its processes lost (`Command::InstanceLost`,
//! or ISOLATING with `auto_fence`, which skips the first step) makes the majority restart
//! them elsewhere. A silent instance may be alive and merely cut off, its programs still
//! running until its own fence stops them; so without proof of death the leader waits
//! [`LivenessParams::silent_after`] for that — the inactivity timeout, or the fence bound
//! when longer (`SupvisorsSpec::silent_restart_after`) — by which time a cut-off instance has
//! SIGKILLed whatever its fence stops. [`may_declare_lost`] is that decision.
//!
//! Death evidence: an instance whose ticks are late is probed (a TCP connect to its internal
//! port, by the leader task). A refused connection means no daemon listens there any more —
//! the common `kill -9` or crash of a daemon on a host that is up, whose children died with it
//! (procman forks them with PDEATHSIG) — and `LeaderBook::expired` takes it at once instead
//! of waiting. A host that is down or cut off does not answer at all: that is no proof of
//! death (a cut-off host may still run its programs until its fence stops them), so its loss
//! still waits for `silent_after`; but it is out of reach, so it is SILENT as soon as its
//! silence passes [`LivenessParams::no_answer_after`] instead of the inactivity timeout
//! (see [`crate::probe`] for why no answer from a host's kernel is evidence). With
//! `auto_fence`, a refusal (which a firewall's REJECT rule can forge for a live daemon) is
//! taken only once the instance has been silent for as long as a live one takes to have
//! fenced itself ([`LivenessParams::refused_after`]): ISOLATED is for good, so a forged
//! refusal must not cause it.
//!
//! Ticks are committed sparingly — when the load changed (at most once per
//! [`LOAD_MIN_INTERVAL`]) or every [`TICK_REFRESH`] — so the replicated tick counter and times
//! are those of the last *committed* tick: they lag the live ones by up to `TICK_REFRESH`.
//! The refreshes of all instances fall in one decision, which the leader commits as one entry
//! (each commit is a Raft round and a write on every instance: an idle cluster's cost).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::state::{BatchSeq, ClusterState, Command, InstanceState, SupvisorsState, TickStamp};
use crate::wire::TickRequest;

/// A load change is committed at most this often per instance.
pub const LOAD_MIN_INTERVAL: Duration = Duration::from_secs(1);
/// A tick (`last_tick` in the replica) is committed at least this often per live instance,
/// even when the load did not change, so readers see a recent "last heard" time.
pub const TICK_REFRESH: Duration = Duration::from_secs(5);

/// Whether the leader may declare an instance lost now, and so have the majority restart its
/// programs elsewhere: `silence` is the time since it was last heard of (leader's clock),
/// `port_refused` whether a probe found its internal port closed since then. Without that
/// proof of death, only after `silent_after` (when a live but cut-off instance has fenced
/// itself); with it, after `refused_after` (zero unless `auto_fence`).
pub fn may_declare_lost(
    silence: Duration,
    port_refused: bool,
    silent_after: Duration,
    refused_after: Duration,
) -> bool {
    silence > silent_after || (port_refused && silence >= refused_after)
}

/// How long ago this leader was last acknowledged by a quorum of voters, as its tick
/// answers report it ([`crate::wire::TickReply::Ack`]): openraft's `millis_since_quorum_ack`
/// plus `staleness`, the most those metrics can lag behind the clock. openraft measures the
/// age when it publishes its metrics, which it does after every event of its core and so at
/// least at each of its internal ticks (every 1.5 heartbeat intervals); reading them later
/// would make the age look younger than it is, hence the allowance (two heartbeat
/// intervals, see [`QUORUM_AGE_STALENESS_HEARTBEATS`]). `None` when no quorum acknowledged
/// this leadership yet.
///
/// A healthy leader is acknowledged at every heartbeat, so its age stays within a few
/// heartbeat intervals, far below `fencing_timeout`: nobody it answers is pushed towards a
/// fence. Only a leader that lost its quorum — cut off in a minority, where openraft keeps it
/// leader and it goes on answering the followers cut off with it — reports an age that grows.
pub fn quorum_age(millis_since_quorum_ack: Option<u64>, staleness: Duration) -> Option<Duration> {
    millis_since_quorum_ack.map(|ms| Duration::from_millis(ms).saturating_add(staleness))
}

/// How many heartbeat intervals [`quorum_age`] adds for the lag of openraft's metrics.
pub const QUORUM_AGE_STALENESS_HEARTBEATS: u32 = 2;

/// The contact with the quorum an acknowledged tick proves, on the ticking instance's own
/// clock: the leader's last quorum acknowledgement, `quorum_age` before the answer was
/// `received`, credited with `lease`; `None` (no contact proven) when the leader reports no
/// acknowledgement. A follower or learner passes the leader lease (`election_timeout_max`),
/// the leader itself zero.
///
/// Why not the answer itself: with five voters, a minority holding the old leader and a
/// follower keeps its leader (openraft never steps down for want of a quorum), which goes on
/// acknowledging that follower's ticks; counted from the answers, the follower would never be
/// cut off and would keep running what the majority restarts elsewhere. Counted from the
/// leader's last quorum acknowledgement, every instance of such a minority — the leader, its
/// followers and learners — is cut off within `fencing_timeout` (plus the lease) of the same
/// moment.
///
/// Why the lease may be credited to the others: no voter grants a vote, nor stands for
/// election, until `election_timeout_max` (openraft's leader lease) after it last accepted
/// the leader's heartbeat. The quorum that acknowledged the leader at that moment shares a
/// voter with any quorum that elects a successor, so no successor exists before the lease
/// has run out, and the majority's new leader — which counts an instance's silence from its
/// own start of leadership at the earliest, the instance never having ticked it — starts
/// after that. So an answer whose quorum acknowledgement is younger than the lease is full
/// contact, as it always was (a healthy leader's answers, acknowledged every heartbeat, keep
/// a failover from looking like a cut as before), and an older one proves contact only up to
/// the end of the lease: the cut-off side still fences within `SupvisorsSpec::fence_bound`
/// of the new leader's start. The answer's travel time (the age measured by the leader, the
/// answer received later) is the first `tick_call_timeout` of the bound, as for a plain
/// acknowledgement. The leader itself gets no credit: the majority's new leader counts the
/// old one's silence from its last heartbeat, or from one lease before its own start.
pub fn quorum_contact(
    received: Instant,
    quorum_age: Option<Duration>,
    lease: Duration,
) -> Option<Instant> {
    received.checked_sub(quorum_age?.saturating_sub(lease))
}

/// The settings the book decides with (from the `SupvisorsSpec`).
#[derive(Debug, Clone)]
pub struct LivenessParams {
    /// This (leading) instance: never declared silent by itself.
    pub local: String,
    /// Every declared instance.
    pub instances: Vec<String>,
    pub voters: Vec<String>,
    /// An instance heard of within this is alive (it may leave SILENT for CHECKING); one
    /// silent for longer is SILENT, its loss pending.
    pub inactivity_timeout: Duration,
    /// Silence after which an instance's processes are declared lost without proof of death
    /// (`SupvisorsSpec::silent_restart_after`: at least the inactivity timeout, and the fence
    /// bound when the cut-off side fences).
    pub silent_after: Duration,
    /// Silence after which a refused probe counts as death: zero, except with `auto_fence`
    /// (ISOLATED is for good, and a REJECT rule can refuse for a live daemon), where it is the
    /// time a live but cut-off instance takes to have fenced itself (the fence bound, else
    /// `fencing_timeout`). See the module doc on death evidence.
    pub refused_after: Duration,
    /// Silence after which an instance whose host gave no answer to a probe started since it
    /// was last heard of is SILENT, without waiting for the inactivity timeout: a tick or two
    /// late, whereas a slow but reachable instance keeps the whole inactivity timeout.
    pub no_answer_after: Duration,
    pub synchro_timeout: Duration,
    pub auto_fence: bool,
    /// A commander runs on this leader and ends DEPLOYMENT itself (when its deployment job is
    /// over); without one, DEPLOYMENT ends at once.
    pub deploys: bool,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    at: Instant,
    stamp: TickStamp,
    load: u32,
    incarnation: u64,
    full_sync: Option<BatchSeq>,
}

/// What the leader remembers about the instances' ticks during one leadership.
#[derive(Debug)]
pub struct LeaderBook {
    params: LivenessParams,
    started: Instant,
    seen: HashMap<String, Seen>,
    /// For instances in handshake: their full sync must be newer than this batch (`None`: any
    /// full sync of the current incarnation will do).
    sync_after: HashMap<String, Option<BatchSeq>>,
    /// Last committed tick per instance: (load, when, the tick's reception time).
    committed_tick: HashMap<String, (u32, Instant, i64)>,
    /// When instances that never ticked this leader were last heard of otherwise: the previous
    /// leader, whose heartbeats stopped before this leadership began.
    last_heard: HashMap<String, Instant>,
    /// When a probe that found the instance's port closed was started: death evidence for
    /// as long as the instance has not been heard of since.
    refused: HashMap<String, Instant>,
    /// When a probe that got no answer from the instance's host was started: out of reach
    /// for as long as the instance has not been heard of since.
    no_answer: HashMap<String, Instant>,
    /// The incarnation last committed with a tick of each instance.
    announced: HashMap<String, u64>,
}

impl LeaderBook {
    pub fn new(params: LivenessParams, now: Instant) -> Self {
        LeaderBook {
            params,
            started: now,
            seen: HashMap::new(),
            sync_after: HashMap::new(),
            committed_tick: HashMap::new(),
            last_heard: HashMap::new(),
            refused: HashMap::new(),
            no_answer: HashMap::new(),
            announced: HashMap::new(),
        }
    }

    /// `identifier` was last heard of at `at` (possibly before this leadership began): its
    /// inactivity counts from there until it ticks. Used for the previous leader, so that its
    /// death is declared one inactivity timeout after its heartbeats stopped, not after the
    /// new leader took over (which is an election later).
    pub fn with_last_heard(mut self, identifier: &str, at: Instant) -> Self {
        self.last_heard.insert(identifier.to_string(), at);
        self
    }

    /// Records a tick received at `now` (`epoch_ms` on the leader's wall clock) and says
    /// whether the sender must send a full snapshot of its processes.
    pub fn on_tick(
        &mut self,
        tick: &TickRequest,
        now: Instant,
        epoch_ms: i64,
        state: &ClusterState,
    ) -> bool {
        // The replicas order an instance's ticks by `received_at` (a later one replaces an
        // earlier one). A step back of this host's wall clock must not make every tick look
        // older than the last one committed, and ignored until the clock catches up: the
        // stamp never goes back, per instance.
        let previous = [
            state
                .instance(&tick.identifier)
                .and_then(|r| r.last_tick)
                .map(|t| t.received_at),
            self.seen
                .get(&tick.identifier)
                .map(|seen| seen.stamp.received_at),
        ];
        let received_at = previous
            .into_iter()
            .flatten()
            .map(|last| last.saturating_add(1))
            .fold(epoch_ms, i64::max);
        self.seen.insert(
            tick.identifier.clone(),
            Seen {
                at: now,
                stamp: TickStamp {
                    counter: tick.counter,
                    remote_at: tick.sent_at,
                    received_at,
                },
                load: tick.load,
                incarnation: tick.incarnation,
                full_sync: tick.full_sync,
            },
        );
        let record = state.instance(&tick.identifier);
        let current = record.map_or(InstanceState::Unknown, |r| r.state);
        let last_seq = record.and_then(|r| r.last_seq);
        match current {
            InstanceState::Unknown => {
                self.sync_after
                    .entry(tick.identifier.clone())
                    .or_insert(None);
            }
            InstanceState::Silent | InstanceState::Checking => {
                self.sync_after
                    .entry(tick.identifier.clone())
                    .or_insert(last_seq);
            }
            InstanceState::Running | InstanceState::Isolating | InstanceState::Isolated => {
                return false;
            }
        }
        !self.synced(&tick.identifier, last_seq)
    }

    /// Whether `tick` may change what [`Self::decide`] does, so that the leader loop should
    /// decide at once rather than at its next beat: the first tick of an instance, a tick of
    /// an instance the cluster does not show RUNNING (the handshake, a return from SILENT), a
    /// change of its load, incarnation or full sync. The ticks of a healthy idle instance —
    /// one per heartbeat when carried — wake nobody. Call it before [`Self::on_tick`].
    pub fn tick_needs_decision(&self, tick: &TickRequest, state: &ClusterState) -> bool {
        let running = state
            .instance(&tick.identifier)
            .is_some_and(|r| r.state == InstanceState::Running);
        self.seen.get(&tick.identifier).is_none_or(|seen| {
            !running
                || seen.load != tick.load
                || seen.incarnation != tick.incarnation
                || seen.full_sync != tick.full_sync
        })
    }

    /// The instance's latest full sync satisfies the handshake and is applied.
    fn synced(&self, identifier: &str, applied: Option<BatchSeq>) -> bool {
        let Some(seen) = self.seen.get(identifier) else {
            return false;
        };
        let Some(full) = seen.full_sync else {
            return false;
        };
        let fresh = full.incarnation == seen.incarnation
            && match self.sync_after.get(identifier) {
                Some(Some(after)) => full > *after,
                _ => true,
            };
        fresh && applied.is_some_and(|a| a >= full)
    }

    /// Whether `identifier` ticked this leader after `at` (e.g. since an operator removed it
    /// from the membership: only a restarted or still running instance ticks again).
    pub fn ticked_since(&self, identifier: &str, at: Instant) -> bool {
        self.seen.get(identifier).is_some_and(|s| s.at > at)
    }

    /// Instances that ticked, are not voters and are not yet Raft members: to add as learners.
    pub fn learners_to_add(&self, is_member: impl Fn(&str) -> bool) -> Vec<String> {
        let mut out: Vec<String> = self
            .seen
            .keys()
            .filter(|id| !self.params.voters.contains(id) && !is_member(id))
            .cloned()
            .collect();
        out.sort();
        out
    }

    /// Whether an instance ticked within the inactivity timeout and was not found dead, nor
    /// out of reach, since (the leader always is alive).
    fn alive(&self, identifier: &str, now: Instant) -> bool {
        identifier == self.params.local
            || self.seen.get(identifier).is_some_and(|s| {
                now.saturating_duration_since(s.at) <= self.params.inactivity_timeout
                    && self.refused.get(identifier).is_none_or(|r| *r <= s.at)
                    && self.no_answer.get(identifier).is_none_or(|r| *r <= s.at)
            })
    }

    /// Whether a probe started since `identifier` was last heard of got no answer.
    fn unanswered(&self, identifier: &str) -> bool {
        let last = self.last_heard_at(identifier);
        self.no_answer.get(identifier).is_some_and(|r| *r > last)
    }

    /// When the instance was last heard of, as far as silence goes: its last tick (but not
    /// before this leadership began), or what [`LeaderBook::with_last_heard`] said.
    fn last_heard_at(&self, identifier: &str) -> Instant {
        match (self.seen.get(identifier), self.last_heard.get(identifier)) {
            (Some(s), _) => s.at.max(self.started),
            (None, Some(at)) => *at,
            (None, None) => self.started,
        }
    }

    /// Silent for longer than the inactivity timeout, or for longer than `no_answer_after`
    /// with its host out of reach (the leader never is): SILENT, its loss pending until
    /// [`Self::expired`].
    fn silent(&self, identifier: &str, now: Instant) -> bool {
        if identifier == self.params.local {
            return false;
        }
        let silence = now.saturating_duration_since(self.last_heard_at(identifier));
        silence > self.params.inactivity_timeout
            || (silence > self.params.no_answer_after && self.unanswered(identifier))
    }

    /// To be declared lost now ([`may_declare_lost`]): silent for longer than `silent_after`,
    /// counted from the start of leadership at the earliest, or found dead by a probe since it
    /// was last heard of (see the module doc).
    fn expired(&self, identifier: &str, now: Instant) -> bool {
        if identifier == self.params.local {
            return false;
        }
        let last = self.last_heard_at(identifier);
        let silence = now.saturating_duration_since(last);
        let refused = self.refused.get(identifier).is_some_and(|r| *r > last);
        may_declare_lost(
            silence,
            refused,
            self.params.silent_after,
            self.params.refused_after,
        )
    }

    /// The instances worth probing now: RUNNING, CHECKING or SILENT with its loss pending,
    /// and not heard of for `after`.
    pub fn to_probe(&self, now: Instant, after: Duration, state: &ClusterState) -> Vec<String> {
        self.params
            .instances
            .iter()
            .filter(|id| **id != self.params.local)
            .filter(|id| {
                state.loss_pending(id)
                    || state.instance(id).is_some_and(|r| {
                        matches!(r.state, InstanceState::Running | InstanceState::Checking)
                    })
            })
            .filter(|id| now.saturating_duration_since(self.last_heard_at(id)) > after)
            .cloned()
            .collect()
    }

    /// A probe started at `at` found no daemon listening on the instance's internal port.
    pub fn on_refused(&mut self, identifier: &str, at: Instant) {
        self.refused.insert(identifier.to_string(), at);
    }

    /// A probe started at `at` got no answer from the instance's host. Returns whether this
    /// is news: no probe had found it out of reach since it was last heard of.
    pub fn on_no_answer(&mut self, identifier: &str, at: Instant) -> bool {
        let news = !self.unanswered(identifier);
        self.no_answer.insert(identifier.to_string(), at);
        news
    }

    /// The earliest time at which [`Self::decide`], or [`Self::to_probe`] with `probe_after`,
    /// could have something new to say with no new tick or refusal: an instance's silence
    /// crossing the probe delay or a loss delay, a tick commit coming due (a load change, the
    /// refresh), the end of the synchronisation. What a tick or a commit makes decidable at
    /// once is not here: those wake the leader loop themselves. `None`: nothing waits on the
    /// clock. A time already past means "now". The leader loop sleeps until then, so an idle
    /// cluster's healthy ticks keep pushing it back and wake nobody.
    pub fn next_decision(&self, probe_after: Duration, state: &ClusterState) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut at = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        for id in &self.params.instances {
            let current = state
                .instance(id)
                .map_or(InstanceState::Unknown, |r| r.state);
            let watched = matches!(current, InstanceState::Running | InstanceState::Checking);
            if !watched && !state.loss_pending(id) {
                continue;
            }
            if *id != self.params.local {
                let last = self.last_heard_at(id);
                // `to_probe`, `silent` and `may_declare_lost` compare with `>`: one
                // millisecond past.
                let past = Duration::from_millis(1);
                at(last + probe_after + past);
                if watched && !self.params.auto_fence {
                    at(last + self.params.inactivity_timeout + past);
                    if self.unanswered(id) {
                        at(last + self.params.no_answer_after + past);
                    }
                }
                at(last + self.params.silent_after + past);
                if self.refused.get(id).is_some_and(|r| *r > last) {
                    at(last + self.params.refused_after);
                }
            }
            if !watched {
                continue;
            }
            if let (Some(seen), Some((load, committed, received))) =
                (self.seen.get(id), self.committed_tick.get(id))
            {
                if *received != seen.stamp.received_at {
                    at(*committed + TICK_REFRESH);
                    if seen.load != *load {
                        at(*committed + LOAD_MIN_INTERVAL);
                    }
                }
            }
        }
        if state.supvisors_state() == SupvisorsState::Initialization {
            at(self.started + self.params.synchro_timeout);
        }
        next
    }

    /// The commands to commit now, in order.
    pub fn decide(&mut self, now: Instant, state: &ClusterState) -> Vec<Command> {
        let mut out = Vec::new();
        let to = |instance: &str, state| Command::InstanceState {
            instance: instance.to_string(),
            state,
        };
        let lost = |instance: &str| Command::InstanceLost {
            instance: instance.to_string(),
        };
        // The instances with a tick to commit, their last tick, and whether it is due now.
        let mut ticks: Vec<(&String, Seen, bool)> = Vec::new();
        let inactive_state = if self.params.auto_fence {
            InstanceState::Isolating
        } else {
            InstanceState::Silent
        };
        // Lost: SILENT (and its processes lost at once) or ISOLATING when the silence is over
        // `silent_after` or the daemon was found dead; SILENT alone, its loss pending, when
        // only the inactivity timeout has passed.
        let lose = |out: &mut Vec<Command>, id: &String, expired: bool| {
            if expired {
                out.push(to(id, inactive_state));
                if inactive_state == InstanceState::Silent {
                    out.push(lost(id));
                }
            } else {
                out.push(to(id, InstanceState::Silent));
            }
        };
        for id in &self.params.instances {
            let record = state.instance(id);
            let current = record.map_or(InstanceState::Unknown, |r| r.state);
            let last_seq = record.and_then(|r| r.last_seq);
            let expired = self.expired(id, now);
            let silent = !self.params.auto_fence && self.silent(id, now);
            match current {
                InstanceState::Unknown | InstanceState::Silent => {
                    if self.seen.contains_key(id) && self.alive(id, now) {
                        out.push(to(id, InstanceState::Checking));
                    } else if state.loss_pending(id) && expired {
                        out.push(lost(id));
                    }
                }
                InstanceState::Checking => {
                    if expired || silent {
                        lose(&mut out, id, expired);
                    } else if self.synced(id, last_seq) {
                        out.push(to(id, InstanceState::Running));
                        self.sync_after.remove(id);
                    }
                }
                InstanceState::Running => {
                    if expired || silent {
                        lose(&mut out, id, expired);
                    }
                }
                InstanceState::Isolating => out.push(to(id, InstanceState::Isolated)),
                InstanceState::Isolated => {
                    // Re-admitted only when its daemon was restarted (a new incarnation).
                    let restarted = self.seen.get(id).is_some_and(|s| {
                        self.alive(id, now)
                            && last_seq.is_none_or(|seq| s.incarnation > seq.incarnation)
                    });
                    if restarted {
                        out.push(Command::ResetInstance {
                            instance: id.clone(),
                        });
                    }
                }
            }
            if matches!(current, InstanceState::Running | InstanceState::Checking) {
                if let Some(seen) = self.seen.get(id) {
                    // A daemon restarted since its processes were reported: say so at once,
                    // so that the state stops showing the processes of the one that is gone
                    // (once per incarnation; its first batch follows).
                    let restarted = last_seq.is_some_and(|seq| seq.incarnation < seen.incarnation)
                        && self.announced.get(id) != Some(&seen.incarnation);
                    match self.committed_tick.get(id) {
                        None => ticks.push((id, *seen, true)),
                        // Nothing received since the last commit: nothing new to say.
                        Some((_, _, received)) if *received == seen.stamp.received_at => {}
                        Some((load, at, _)) => {
                            let since = now.duration_since(*at);
                            let due = (seen.load != *load && since >= LOAD_MIN_INTERVAL)
                                || since >= TICK_REFRESH
                                || restarted;
                            if due || since >= TICK_REFRESH / 2 {
                                ticks.push((id, *seen, due));
                            }
                        }
                    }
                }
            }
        }
        // The refreshes of the instances are committed together: a tick due now takes along
        // those more than half way to theirs, so that after one period the whole cluster's
        // refresh is one commit (one Raft round, one write on every instance) per period
        // instead of one per instance.
        if ticks.iter().any(|(_, _, due)| *due) {
            for (id, seen, _) in ticks {
                out.push(Command::Tick {
                    instance: id.clone(),
                    load: seen.load,
                    stamp: seen.stamp,
                    incarnation: seen.incarnation,
                });
                self.announced.insert(id.clone(), seen.incarnation);
                self.committed_tick
                    .insert(id.clone(), (seen.load, now, seen.stamp.received_at));
            }
        }
        match state.supvisors_state() {
            SupvisorsState::Off | SupvisorsState::Restart | SupvisorsState::Shutdown => {
                out.push(Command::SetSupvisorsState {
                    state: SupvisorsState::Initialization,
                });
            }
            SupvisorsState::Initialization => {
                let voters_running = self.params.voters.iter().all(|v| {
                    state
                        .instance(v)
                        .is_some_and(|r| r.state == InstanceState::Running)
                        || out.contains(&to(v, InstanceState::Running))
                });
                let timed_out = now.duration_since(self.started) >= self.params.synchro_timeout;
                if voters_running || timed_out {
                    // Supvisors' end of synchronisation: whoever never answered is SILENT.
                    for id in &self.params.instances {
                        let unknown = state
                            .instance(id)
                            .is_none_or(|r| r.state == InstanceState::Unknown);
                        let pending = out.iter().any(|c| {
                            matches!(c, Command::InstanceState { instance, .. } if instance == id)
                        });
                        if unknown && !pending {
                            // Never heard of in this life: its processes (a previous life's,
                            // from the stored state) are lost at once, as in Supvisors.
                            out.push(to(id, InstanceState::Silent));
                            out.push(lost(id));
                        }
                    }
                    out.push(Command::SetSupvisorsState {
                        state: SupvisorsState::Deployment,
                    });
                }
            }
            // Without a commander there is nothing to deploy; with one, it ends DEPLOYMENT.
            SupvisorsState::Deployment if !self.params.deploys => {
                out.push(Command::SetSupvisorsState {
                    state: SupvisorsState::Operation,
                })
            }
            _ => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(auto_fence: bool) -> LivenessParams {
        LivenessParams {
            local: "a".into(),
            instances: vec!["a".into(), "b".into(), "c".into()],
            voters: vec!["a".into(), "b".into()],
            inactivity_timeout: Duration::from_secs(1),
            silent_after: Duration::from_secs(1),
            refused_after: if auto_fence {
                Duration::from_millis(600)
            } else {
                Duration::ZERO
            },
            no_answer_after: Duration::from_millis(300),
            synchro_timeout: Duration::from_secs(10),
            auto_fence,
            deploys: false,
        }
    }

    /// A book whose instances are declared SILENT only after `inactivity`: for tests about
    /// what is committed, not about losses.
    fn patient_book(t0: Instant, inactivity: Duration) -> LeaderBook {
        let mut p = params(false);
        p.inactivity_timeout = inactivity;
        p.silent_after = inactivity;
        LeaderBook::new(p, t0)
    }

    fn tick(id: &str, incarnation: u64, full: Option<(u64, u64)>) -> TickRequest {
        TickRequest {
            identifier: id.into(),
            load: 0,
            counter: 1,
            sent_at: 500,
            incarnation,
            full_sync: full.map(|(i, c)| BatchSeq::new(i, c)),
        }
    }

    /// Applies the decisions like the leader would (commit then re-read).
    fn run(book: &mut LeaderBook, now: Instant, state: &mut ClusterState) -> Vec<Command> {
        let cmds = book.decide(now, state);
        for c in &cmds {
            state.apply(c);
        }
        cmds
    }

    fn full_sync(state: &mut ClusterState, id: &str, seq: (u64, u64)) {
        state.apply(&Command::ProcessEvents {
            instance: id.into(),
            seq: BatchSeq::new(seq.0, seq.1),
            full: true,
            events: vec![],
        });
    }

    fn st(state: &ClusterState, id: &str) -> InstanceState {
        state
            .instance(id)
            .map_or(InstanceState::Unknown, |r| r.state)
    }

    #[test]
    fn handshake_then_operation_once_voters_are_running() {
        let t0 = Instant::now();
        let mut book = LeaderBook::new(params(false), t0);
        let mut s = ClusterState::new();
        run(&mut book, t0, &mut s);
        assert_eq!(s.supvisors_state(), SupvisorsState::Initialization);
        // a and b have committed their full syncs already.
        full_sync(&mut s, "a", (1, 0));
        full_sync(&mut s, "b", (4, 0));
        assert!(!book.on_tick(&tick("a", 1, Some((1, 0))), t0, 1_000, &s));
        assert!(!book.on_tick(&tick("b", 4, Some((4, 0))), t0, 1_000, &s));
        run(&mut book, t0, &mut s);
        assert_eq!(st(&s, "a"), InstanceState::Checking);
        run(&mut book, t0, &mut s);
        assert_eq!(st(&s, "a"), InstanceState::Running);
        assert_eq!(st(&s, "b"), InstanceState::Running);
        // Voters running: end of sync, c never ticked → SILENT; then DEPLOYMENT → OPERATION.
        assert_eq!(s.supvisors_state(), SupvisorsState::Deployment);
        assert_eq!(st(&s, "c"), InstanceState::Silent);
        run(&mut book, t0, &mut s);
        assert_eq!(s.supvisors_state(), SupvisorsState::Operation);
    }

    #[test]
    fn a_tick_without_full_sync_asks_for_one() {
        let t0 = Instant::now();
        let mut book = LeaderBook::new(params(false), t0);
        let mut s = ClusterState::new();
        assert!(book.on_tick(&tick("b", 2, None), t0, 1_000, &s));
        run(&mut book, t0, &mut s);
        assert_eq!(st(&s, "b"), InstanceState::Checking);
        run(&mut book, t0, &mut s);
        assert_eq!(st(&s, "b"), InstanceState::Checking, "no full sync yet");
        full_sync(&mut s, "b", (2, 3));
        assert!(!book.on_tick(&tick("b", 2, Some((2, 3))), t0, 1_000, &s));
        run(&mut book, t0, &mut s);
        assert_eq!(st(&s, "b"), InstanceState::Running);
    }

    #[test]
    fn the_previous_leader_is_silent_one_timeout_after_it_was_last_heard() {
        // b was RUNNING under the old leader c; this leadership starts at t0, and c was last
        // heard 600 ms before (inactivity timeout 1 s).
        let t0 = Instant::now() + Duration::from_secs(5);
        let mut s = running(&["b", "c"]);
        let mut book = LeaderBook::new(params(false), t0)
            .with_last_heard("c", t0 - Duration::from_millis(600));
        book.on_tick(&tick("b", 1, Some((1, 0))), t0, 1_000, &s);
        let soon = t0 + Duration::from_millis(450);
        run(&mut book, soon, &mut s);
        assert_eq!(
            st(&s, "c"),
            InstanceState::Silent,
            "1.05 s after last heard"
        );
        assert_eq!(st(&s, "b"), InstanceState::Running, "b ticked this leader");
    }

    /// A state where `ids` are RUNNING with a full sync applied.
    fn running(ids: &[&str]) -> ClusterState {
        let mut s = ClusterState::new();
        for id in ids {
            full_sync(&mut s, id, (1, 0));
            for state in [InstanceState::Checking, InstanceState::Running] {
                s.apply(&Command::InstanceState {
                    instance: id.to_string(),
                    state,
                });
            }
        }
        s
    }

    /// b and c RUNNING, both ticked at `t0`.
    fn two_running(book: &mut LeaderBook, t0: Instant) -> ClusterState {
        let s = running(&["b", "c"]);
        for id in ["b", "c"] {
            book.on_tick(&tick(id, 1, Some((1, 0))), t0, 1_000, &s);
        }
        s
    }

    #[test]
    fn a_host_that_does_not_answer_is_silent_early_but_lost_only_after_the_fence_bound() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut book = LeaderBook::new(params(false), t0);
        let mut s = two_running(&mut book, t0);
        // b ticked again after the probe of it started: no evidence. c's host gave no answer
        // to a probe started after its last tick (a heartbeat that could not connect).
        book.on_no_answer("b", t0 + ms(100));
        book.on_tick(&tick("b", 1, Some((1, 0))), t0 + ms(150), 1_000, &s);
        book.on_no_answer("c", t0 + ms(100));
        // Not yet: c is SILENT once its silence passes `no_answer_after` (300 ms), which is
        // the book's next deadline.
        run(&mut book, t0 + ms(200), &mut s);
        assert_eq!(st(&s, "c"), InstanceState::Running);
        let next = book.next_decision(ms(10_000), &s).unwrap();
        assert!(next <= t0 + ms(302), "{:?}", next.duration_since(t0));
        let early = t0 + ms(350);
        let cmds = run(&mut book, early, &mut s);
        assert_eq!(
            st(&s, "c"),
            InstanceState::Silent,
            "long before the 1 s timeout"
        );
        assert_eq!(st(&s, "b"), InstanceState::Running);
        // SILENT only: out of reach is no proof of death, its programs are not lost yet.
        assert!(
            !cmds
                .iter()
                .any(|c| matches!(c, Command::InstanceLost { .. })),
            "{cmds:?}"
        );
        assert!(s.loss_pending("c"));
        // Its last tick is within the inactivity timeout, but its host is out of reach: no
        // CHECKING back until it ticks again.
        assert!(run(&mut book, early + ms(50), &mut s).is_empty());
        // Lost only after `silent_after` (1 s here), as any silent instance.
        assert!(run(&mut book, t0 + ms(900), &mut s).is_empty());
        let cmds = run(&mut book, t0 + ms(1_050), &mut s);
        assert!(
            cmds.iter()
                .any(|c| matches!(c, Command::InstanceLost { instance } if instance == "c")),
            "{cmds:?}"
        );
    }

    #[test]
    fn a_host_back_in_reach_ticks_its_way_back() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut book = LeaderBook::new(params(false), t0);
        let mut s = two_running(&mut book, t0);
        book.on_no_answer("c", t0 + ms(300));
        run(&mut book, t0 + ms(400), &mut s);
        assert_eq!(st(&s, "c"), InstanceState::Silent);
        // Its link is back: a tick after the probe, and it goes through CHECKING to RUNNING
        // (once a newer full sync is applied) with nothing lost.
        book.on_tick(&tick("c", 1, Some((1, 0))), t0 + ms(500), 1_000, &s);
        run(&mut book, t0 + ms(500), &mut s);
        assert_eq!(st(&s, "c"), InstanceState::Checking);
        full_sync(&mut s, "c", (1, 1));
        book.on_tick(&tick("c", 1, Some((1, 1))), t0 + ms(510), 1_000, &s);
        let cmds = run(&mut book, t0 + ms(510), &mut s);
        assert_eq!(st(&s, "c"), InstanceState::Running, "{cmds:?}");
        assert!(!s.loss_pending("c"));
    }

    #[test]
    fn a_refused_probe_after_the_last_tick_is_death() {
        let t0 = Instant::now();
        let mut book = LeaderBook::new(params(false), t0);
        let mut s = two_running(&mut book, t0);
        let late = t0 + Duration::from_millis(250);
        assert_eq!(
            book.to_probe(late, Duration::from_millis(200), &s),
            ["b", "c"]
        );
        assert!(book
            .to_probe(late, Duration::from_millis(300), &s)
            .is_empty());
        // b ticked again after the probe of it started: the refusal is older than the tick
        // (a daemon restarted in between), so it is no evidence.
        book.on_refused("b", t0 + Duration::from_millis(200));
        book.on_tick(&tick("b", 1, Some((1, 0))), late, 1_000, &s);
        book.on_refused("c", t0 + Duration::from_millis(200));
        run(&mut book, late, &mut s);
        assert_eq!(
            st(&s, "c"),
            InstanceState::Silent,
            "long before the 1 s timeout"
        );
        assert_eq!(st(&s, "b"), InstanceState::Running);
        // c's last tick is still within the timeout, but it is dead: no CHECKING back.
        assert!(run(&mut book, late + Duration::from_millis(50), &mut s)
            .iter()
            .all(|c| !matches!(c, Command::InstanceState { instance, .. } if instance == "c")));
        // Its restarted daemon ticks: heard of after the refusal, it is checked again.
        book.on_tick(
            &tick("c", 2, None),
            late + Duration::from_millis(100),
            1_000,
            &s,
        );
        run(&mut book, late + Duration::from_millis(100), &mut s);
        assert_eq!(st(&s, "c"), InstanceState::Checking);
        assert!(
            book.to_probe(late, Duration::from_millis(200), &s)
                .is_empty(),
            "b just ticked and c is no longer RUNNING"
        );
    }

    #[test]
    fn the_quorum_age_covers_the_lag_of_the_metrics() {
        let hb = Duration::from_millis(100);
        assert_eq!(quorum_age(Some(30), hb), Some(Duration::from_millis(130)));
        assert_eq!(quorum_age(None, hb), None, "never acknowledged this term");
        let huge = quorum_age(Some(u64::MAX), hb).expect("an age");
        assert!(huge >= Duration::from_millis(u64::MAX), "no overflow");
    }

    #[test]
    fn an_acknowledged_tick_is_contact_only_as_of_the_leaders_last_quorum() {
        let now = Instant::now() + Duration::from_secs(3600);
        let ms = Duration::from_millis;
        let lease = ms(400);
        // A healthy leader, acknowledged within the lease: the answer is full contact.
        assert_eq!(quorum_contact(now, Some(ms(120)), lease), Some(now));
        // The leader itself gets no credit.
        assert_eq!(
            quorum_contact(now, Some(ms(120)), ms(0)),
            Some(now - ms(120))
        );
        // A leader cut off in a minority goes on answering; its age grows with the cut, so
        // the contact its followers count stops at the end of the lease.
        let cut_at = now;
        let fencing_timeout = ms(850);
        for elapsed in [ms(0), ms(300), ms(900), ms(1200), ms(5000)] {
            let received = cut_at + elapsed;
            let contact = quorum_contact(received, Some(elapsed + ms(100)), lease);
            let silence = received.duration_since(contact.expect("contact"));
            assert_eq!(silence, (elapsed + ms(100)).saturating_sub(lease));
            assert_eq!(silence > fencing_timeout, elapsed > ms(1150), "{elapsed:?}");
            // The leader's own count: from the acknowledgement itself.
            let own = quorum_contact(received, Some(elapsed + ms(100)), ms(0)).expect("own");
            assert_eq!(received.duration_since(own), elapsed + ms(100));
        }
        // No quorum acknowledgement at all: no contact.
        assert_eq!(quorum_contact(now, None, lease), None);
        // Older than the clock's origin: no contact either (not a panic).
        assert_eq!(quorum_contact(now, Some(Duration::MAX), lease), None);
    }

    #[test]
    fn losing_needs_the_fence_bound_of_silence_or_a_closed_port() {
        let (bound, grace) = (Duration::from_millis(2250), Duration::ZERO);
        let ms = Duration::from_millis;
        assert!(!may_declare_lost(ms(2250), false, bound, grace));
        assert!(may_declare_lost(ms(2251), false, bound, grace));
        // A closed port: the daemon and its children are gone, no need to wait.
        assert!(may_declare_lost(ms(0), true, bound, grace));
        // With auto_fence, a refusal counts once a live instance would know it is cut off.
        assert!(!may_declare_lost(ms(599), true, bound, ms(600)));
        assert!(may_declare_lost(ms(600), true, bound, ms(600)));
    }

    #[test]
    fn a_silent_instance_is_lost_only_once_its_fence_has_acted() {
        // Inactivity 1 s: SILENT then. But a cut-off instance may need 2.25 s to SIGKILL what
        // it fences: its processes are declared lost (restarted elsewhere) only after that.
        let t0 = Instant::now();
        let mut p = params(false);
        p.silent_after = Duration::from_millis(2250);
        let mut book = LeaderBook::new(p, t0);
        let mut s = two_running(&mut book, t0);
        let lost = |cmds: &[Command]| {
            cmds.iter()
                .any(|c| matches!(c, Command::InstanceLost { instance } if instance == "c"))
        };
        let at = |ms| t0 + Duration::from_millis(ms);
        book.on_tick(&tick("b", 1, Some((1, 0))), at(900), 1_000, &s);
        run(&mut book, at(1_000), &mut s);
        assert_eq!(
            st(&s, "c"),
            InstanceState::Running,
            "within the inactivity timeout"
        );
        assert_eq!(
            book.next_decision(Duration::from_secs(60), &s),
            Some(at(1_001))
        );
        for after in [1_100, 2_000, 2_250] {
            book.on_tick(&tick("b", 1, Some((1, 0))), at(after), 1_000, &s);
            let cmds = run(&mut book, at(after), &mut s);
            assert_eq!(st(&s, "c"), InstanceState::Silent, "{after} ms");
            assert!(
                s.loss_pending("c") && !lost(&cmds),
                "{after} ms: nothing lost yet"
            );
        }
        assert_eq!(st(&s, "b"), InstanceState::Running);
        assert_eq!(
            book.next_decision(Duration::from_secs(60), &s),
            Some(at(2_251))
        );
        let cmds = run(&mut book, at(2_260), &mut s);
        assert!(lost(&cmds) && !s.loss_pending("c"));
        assert_eq!(st(&s, "c"), InstanceState::Silent);
        assert!(!lost(&run(&mut book, at(2_300), &mut s)), "declared once");
        // A new leader counts from its own start (or the old leader's last heartbeat).
        let t1 = t0 + Duration::from_secs(10);
        let mut p = params(false);
        p.silent_after = Duration::from_millis(2250);
        let mut s = running(&["b", "c"]);
        let mut book = LeaderBook::new(p, t1).with_last_heard("c", t1 - Duration::from_millis(300));
        book.on_tick(&tick("b", 1, Some((1, 0))), t1, 1_000, &s);
        run(&mut book, t1 + Duration::from_millis(650), &mut s);
        assert_eq!(st(&s, "c"), InstanceState::Running);
        run(&mut book, t1 + Duration::from_millis(710), &mut s);
        assert!(s.loss_pending("c"));
        book.on_tick(
            &tick("b", 1, Some((1, 0))),
            t1 + Duration::from_millis(1_500),
            1_000,
            &s,
        );
        assert!(!lost(&run(
            &mut book,
            t1 + Duration::from_millis(1_900),
            &mut s
        )));
        assert!(lost(&run(
            &mut book,
            t1 + Duration::from_millis(1_960),
            &mut s
        )));
        assert_eq!(st(&s, "b"), InstanceState::Running);
        // ... and a refused probe is taken at once: SILENT and lost together.
        let t2 = t1 + Duration::from_secs(10);
        let mut p = params(false);
        p.silent_after = Duration::from_millis(2250);
        let mut book = LeaderBook::new(p, t2);
        let mut s = two_running(&mut book, t2);
        book.on_refused("c", t2 + Duration::from_millis(250));
        let cmds = run(&mut book, t2 + Duration::from_millis(300), &mut s);
        assert_eq!(st(&s, "c"), InstanceState::Silent);
        assert!(lost(&cmds) && !s.loss_pending("c"));
    }

    #[test]
    fn a_silent_instance_that_ticks_again_comes_back_without_a_loss() {
        let t0 = Instant::now();
        let mut p = params(false);
        p.silent_after = Duration::from_millis(2250);
        let mut book = LeaderBook::new(p, t0);
        let mut s = two_running(&mut book, t0);
        let at = |ms| t0 + Duration::from_millis(ms);
        run(&mut book, at(1_100), &mut s);
        assert!(s.loss_pending("c"));
        // Back before the fence bound (a slow host, a short cut): CHECKING, its processes
        // never declared lost, then RUNNING once its full sync is applied.
        book.on_tick(&tick("c", 1, Some((1, 1))), at(1_500), 1_000, &s);
        run(&mut book, at(1_500), &mut s);
        assert_eq!(st(&s, "c"), InstanceState::Checking);
        assert!(!s.loss_pending("c"));
        full_sync(&mut s, "c", (1, 1));
        for id in ["b", "c"] {
            book.on_tick(&tick(id, 1, Some((1, 1))), at(2_000), 1_000, &s);
        }
        let cmds = run(&mut book, at(2_600), &mut s);
        assert!(!cmds
            .iter()
            .any(|c| matches!(c, Command::InstanceLost { .. })));
        assert_eq!(st(&s, "c"), InstanceState::Running);
    }

    #[test]
    fn with_auto_fence_a_refusal_waits_for_the_fencing_timeout() {
        let t0 = Instant::now();
        let mut book = LeaderBook::new(params(true), t0);
        let mut s = two_running(&mut book, t0);
        book.on_tick(
            &tick("b", 1, Some((1, 0))),
            t0 + Duration::from_secs(1),
            1_000,
            &s,
        );
        book.on_refused("c", t0 + Duration::from_millis(200));
        run(&mut book, t0 + Duration::from_millis(300), &mut s);
        assert_eq!(
            st(&s, "c"),
            InstanceState::Running,
            "a REJECT rule looks the same"
        );
        run(&mut book, t0 + Duration::from_millis(650), &mut s);
        assert_eq!(st(&s, "c"), InstanceState::Isolating);
    }

    #[test]
    fn silence_marks_silent_and_a_return_needs_a_newer_full_sync() {
        let t0 = Instant::now();
        let mut book = LeaderBook::new(params(false), t0);
        let mut s = ClusterState::new();
        full_sync(&mut s, "b", (1, 0));
        book.on_tick(&tick("b", 1, Some((1, 0))), t0, 1_000, &s);
        run(&mut book, t0, &mut s);
        run(&mut book, t0, &mut s);
        assert_eq!(st(&s, "b"), InstanceState::Running);
        let late = t0 + Duration::from_millis(1_100);
        run(&mut book, late, &mut s);
        assert_eq!(st(&s, "b"), InstanceState::Silent);
        // The leader itself never goes silent.
        assert_ne!(st(&s, "a"), InstanceState::Silent);
        // It comes back with its old full sync: CHECKING, and asked for a new one.
        assert!(book.on_tick(&tick("b", 1, Some((1, 0))), late, 1_000, &s));
        run(&mut book, late, &mut s);
        assert_eq!(st(&s, "b"), InstanceState::Checking);
        run(&mut book, late, &mut s);
        assert_eq!(st(&s, "b"), InstanceState::Checking);
        full_sync(&mut s, "b", (1, 5));
        assert!(!book.on_tick(&tick("b", 1, Some((1, 5))), late, 1_000, &s));
        run(&mut book, late, &mut s);
        assert_eq!(st(&s, "b"), InstanceState::Running);
    }

    #[test]
    fn auto_fence_isolates_and_only_a_restart_readmits() {
        let t0 = Instant::now();
        let mut book = LeaderBook::new(params(true), t0);
        let mut s = ClusterState::new();
        full_sync(&mut s, "b", (1, 0));
        book.on_tick(&tick("b", 1, Some((1, 0))), t0, 1_000, &s);
        run(&mut book, t0, &mut s);
        run(&mut book, t0, &mut s);
        let late = t0 + Duration::from_millis(1_100);
        run(&mut book, late, &mut s);
        assert_eq!(st(&s, "b"), InstanceState::Isolating);
        run(&mut book, late, &mut s);
        assert_eq!(st(&s, "b"), InstanceState::Isolated);
        // Same incarnation back: stays isolated.
        book.on_tick(&tick("b", 1, Some((1, 0))), late, 1_000, &s);
        run(&mut book, late, &mut s);
        assert_eq!(st(&s, "b"), InstanceState::Isolated);
        // Restarted daemon: reset, then handshake again.
        book.on_tick(&tick("b", 2, None), late, 1_000, &s);
        run(&mut book, late, &mut s);
        assert_eq!(st(&s, "b"), InstanceState::Unknown);
        run(&mut book, late, &mut s);
        assert_eq!(st(&s, "b"), InstanceState::Checking);
    }

    #[test]
    fn synchro_timeout_ends_initialization_without_all_voters() {
        let t0 = Instant::now();
        let mut book = LeaderBook::new(params(false), t0);
        let mut s = ClusterState::new();
        run(&mut book, t0, &mut s);
        run(&mut book, t0 + Duration::from_secs(5), &mut s);
        assert_eq!(s.supvisors_state(), SupvisorsState::Initialization);
        run(&mut book, t0 + Duration::from_secs(11), &mut s);
        assert_eq!(s.supvisors_state(), SupvisorsState::Deployment);
        assert_eq!(st(&s, "b"), InstanceState::Silent);
    }

    #[test]
    fn load_is_committed_sparingly_and_learners_are_listed() {
        let t0 = Instant::now();
        let mut book = LeaderBook::new(params(false), t0);
        let mut s = ClusterState::new();
        full_sync(&mut s, "c", (1, 0));
        book.on_tick(&tick("c", 1, Some((1, 0))), t0, 1_000, &s);
        run(&mut book, t0, &mut s);
        run(&mut book, t0, &mut s);
        let count_ticks = |cmds: &[Command]| {
            cmds.iter()
                .filter(|c| matches!(c, Command::Tick { .. }))
                .count()
        };
        // Ticks every 100 ms for 2 s with a constant load: no new tick commit.
        let mut commits = 0;
        for n in 1..20 {
            let now = t0 + Duration::from_millis(100 * n);
            book.on_tick(&tick("c", 1, Some((1, 0))), now, 1_000, &s);
            commits += count_ticks(&run(&mut book, now, &mut s));
        }
        assert_eq!(commits, 0);
        assert_eq!(book.learners_to_add(|_| false), vec!["c".to_string()]);
        assert!(book.learners_to_add(|id| id == "c").is_empty());
    }
    #[test]
    fn the_instances_tick_refreshes_are_committed_together() {
        let t0 = Instant::now();
        let mut book = patient_book(t0, Duration::from_secs(300));
        let mut s = running(&["b", "c"]);
        let mut received = 1_000;
        let mut refreshes: Vec<(Duration, Vec<String>)> = Vec::new();
        // b ticks from t0, c only from 2 s later: their refreshes start 2 s apart. Ticks
        // every 100 ms for 30 s, a constant load.
        for n in 0..300 {
            let since = Duration::from_millis(100 * n);
            let now = t0 + since;
            received += 100;
            for id in ["b", "c"] {
                if id == "b" || since >= Duration::from_secs(2) {
                    let mut t = tick(id, 1, Some((1, 0)));
                    t.counter = n;
                    book.on_tick(&t, now, received, &s);
                }
            }
            let ticked: Vec<String> = run(&mut book, now, &mut s)
                .into_iter()
                .filter_map(|c| match c {
                    Command::Tick { instance, .. } => Some(instance),
                    _ => None,
                })
                .collect();
            if !ticked.is_empty() {
                refreshes.push((since, ticked));
            }
        }
        // The first ticks, then a refresh that takes c along with b; from then on, every
        // refresh is both, once per period.
        let together: Vec<&(Duration, Vec<String>)> = refreshes
            .iter()
            .filter(|(since, _)| *since > Duration::from_secs(6))
            .collect();
        assert!(together.len() >= 4 && together.len() <= 6, "{refreshes:?}");
        for (_, ticked) in together {
            assert_eq!(ticked, &["b", "c"], "{refreshes:?}");
        }
    }

    #[test]
    fn a_restarted_daemons_first_tick_is_committed_and_hides_its_old_processes() {
        let t0 = Instant::now();
        let mut p = params(false);
        p.inactivity_timeout = Duration::from_secs(30);
        let mut book = LeaderBook::new(p, t0);
        let mut s = running(&["c"]);
        s.apply(&crate::state::tests::events(
            "c",
            1,
            1,
            vec![crate::state::tests::status(
                "g",
                "p",
                model::ProcessState::Running,
                9,
            )],
        ));
        book.on_tick(&tick("c", 1, Some((1, 0))), t0, 1_000, &s);
        run(&mut book, t0, &mut s);
        // c's daemon restarts and ticks at once, long before the next periodic commit.
        let soon = t0 + Duration::from_millis(100);
        book.on_tick(&tick("c", 2, None), soon, 1_100, &s);
        let cmds = run(&mut book, soon, &mut s);
        assert!(cmds
            .iter()
            .any(|c| matches!(c, Command::Tick { incarnation: 2, .. })));
        let p = s.process("c", "g:p").unwrap();
        assert_eq!((p.state, p.pid), (model::ProcessState::Unknown, 0));
        // Once: the next ticks of that incarnation wait for the usual period.
        let later = soon + Duration::from_millis(100);
        book.on_tick(&tick("c", 2, None), later, 1_200, &s);
        assert!(!run(&mut book, later, &mut s)
            .iter()
            .any(|c| matches!(c, Command::Tick { .. })));
    }

    #[test]
    fn a_step_back_of_the_leaders_clock_does_not_stop_the_ticks_being_applied() {
        let t0 = Instant::now();
        let mut book = patient_book(t0, Duration::from_secs(30));
        let mut s = ClusterState::new();
        full_sync(&mut s, "c", (1, 0));
        let mut t = tick("c", 1, Some((1, 0)));
        book.on_tick(&t, t0, 1_700_000_010_000, &s);
        run(&mut book, t0, &mut s);
        run(&mut book, t0, &mut s);
        assert_eq!(
            s.instance("c")
                .and_then(|r| r.last_tick)
                .map(|t| t.received_at),
            Some(1_700_000_010_000)
        );
        // The leader's wall clock steps 20 s back; c's load changes.
        let later = t0 + TICK_REFRESH + Duration::from_secs(1);
        t.load = 7;
        book.on_tick(&t, later, 1_699_999_990_000, &s);
        run(&mut book, later, &mut s);
        let record = s.instance("c").unwrap();
        assert_eq!(record.load, 7, "the tick after the step was ignored");
        assert_eq!(
            record.last_tick.map(|t| t.received_at),
            Some(1_700_000_010_001)
        );
    }

    #[test]
    fn committed_ticks_carry_the_senders_counter_and_both_clocks() {
        let t0 = Instant::now();
        let mut book = patient_book(t0, Duration::from_secs(30));
        let mut s = ClusterState::new();
        full_sync(&mut s, "c", (1, 0));
        let mut t = tick("c", 1, Some((1, 0)));
        t.counter = 41;
        t.sent_at = 1_700_000_000_100;
        book.on_tick(&t, t0, 1_700_000_000_250, &s);
        run(&mut book, t0, &mut s);
        run(&mut book, t0, &mut s);
        let record = s.instance("c").unwrap();
        assert_eq!(record.state, InstanceState::Running);
        assert_eq!(
            record.last_tick,
            Some(TickStamp {
                counter: 41,
                remote_at: 1_700_000_000_100,
                received_at: 1_700_000_000_250,
            })
        );
        // Past the refresh period but no new tick: nothing to commit.
        let later = t0 + TICK_REFRESH + Duration::from_secs(1);
        let cmds = run(&mut book, later, &mut s);
        assert!(!cmds.iter().any(|c| matches!(c, Command::Tick { .. })));
        // A new tick with another load: committed with its own counter.
        t.counter = 42;
        t.load = 3;
        t.sent_at += 6_000;
        book.on_tick(&t, later, 1_700_000_006_300, &s);
        run(&mut book, later, &mut s);
        let record = s.instance("c").unwrap();
        assert_eq!(record.load, 3);
        assert_eq!(record.last_tick.map(|t| t.counter), Some(42));
    }

    #[test]
    fn the_next_decision_is_the_first_silence_threshold_or_commit_due() {
        let ms = Duration::from_millis;
        let t0 = Instant::now();
        let mut book = LeaderBook::new(params(false), t0);
        let mut state = two_running(&mut book, t0);
        run(&mut book, t0, &mut state);
        assert!(run(&mut book, t0, &mut state).is_empty(), "all committed");
        let probe_after = ms(300);
        // b and c ticked at t0: probed 300 ms later, before any loss or tick refresh.
        let next = book.next_decision(probe_after, &state).unwrap();
        assert_eq!(next, t0 + probe_after + ms(1));
        // Until then, deciding says nothing new; at that time, both are late.
        let before = next - ms(2);
        assert!(book.decide(before, &state).is_empty());
        assert!(book.to_probe(before, probe_after, &state).is_empty());
        assert_eq!(book.to_probe(next, probe_after, &state), vec!["b", "c"]);
        // New ticks push it back: a healthy cluster's ticks keep the leader loop asleep.
        let t1 = t0 + ms(187);
        for id in ["b", "c"] {
            book.on_tick(&tick(id, 1, Some((1, 0))), t1, 1_187, &state);
        }
        assert_eq!(
            book.next_decision(probe_after, &state).unwrap(),
            t1 + probe_after + ms(1)
        );
        // A load change is due one LOAD_MIN_INTERVAL after the last commit, before any
        // silence crosses the (longer) thresholds.
        let mut loaded = tick("b", 1, Some((1, 0)));
        loaded.load = 40;
        let t2 = t0 + ms(300);
        book.on_tick(&loaded, t2, 1_300, &state);
        let due = book.next_decision(Duration::from_secs(60), &state).unwrap();
        assert_eq!(due, t0 + LOAD_MIN_INTERVAL);
        assert!(book.decide(due - ms(1), &state).is_empty());
        assert!(book
            .decide(due, &state)
            .iter()
            .any(|c| matches!(c, Command::Tick { instance, load: 40, .. } if instance == "b")));
        // A refused probe since b was last heard of: due at once (`refused_after` is zero).
        book.on_refused("b", t2 + ms(1));
        assert!(book.next_decision(probe_after, &state).unwrap() <= t2 + ms(1));
    }

    #[test]
    fn only_ticks_that_change_something_wake_the_leader_loop() {
        let t0 = Instant::now();
        let mut book = LeaderBook::new(params(false), t0);
        let mut s = ClusterState::new();
        full_sync(&mut s, "b", (1, 0));
        let first = tick("b", 1, Some((1, 0)));
        assert!(book.tick_needs_decision(&first, &s), "first tick");
        book.on_tick(&first, t0, 1_000, &s);
        assert!(book.tick_needs_decision(&first, &s), "b is not RUNNING yet");
        run(&mut book, t0, &mut s);
        run(&mut book, t0, &mut s);
        assert_eq!(st(&s, "b"), InstanceState::Running);
        let mut same = first.clone();
        same.counter += 1;
        assert!(!book.tick_needs_decision(&same, &s), "a healthy idle tick");
        let mut loaded = same.clone();
        loaded.load += 10;
        assert!(book.tick_needs_decision(&loaded, &s), "a new load");
        let mut restarted = same;
        restarted.incarnation += 1;
        assert!(
            book.tick_needs_decision(&restarted, &s),
            "a new incarnation"
        );
    }
}
