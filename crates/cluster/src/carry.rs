//! Liveness carried by Raft's heartbeats: every append-entries request the leader sends (a
//! heartbeat at least every `raft_heartbeat_ms`) carries the leader's answer to the
//! receiver's last tick ([`LeaderNote`]), and every answer carries the receiver's tick. An
//! idle cluster then exchanges one message pair per follower and heartbeat instead of a
//! heartbeat *and* a separate tick request: each is a wake-up of both daemons, and the idle
//! cost of the cluster is made of them (README: "Idle cost").
//!
//! The separate tick request of [`crate::ticker::ticker`] stays the fallback: an instance
//! that gets no note (not yet a Raft member, a leader whose liveness book is not up yet, an
//! election, a note refused for its age) ticks the way it always did, and the two paths feed
//! the same book and the same contact, so the cut-off and loss decisions do not change.
//!
//! How old a note may be: the cut-off side counts its contact with the quorum from a note as
//! from a tick's answer ([`crate::book::quorum_contact`]); a tick's answer is at most
//! `tick_call_timeout` old when it arrives (the ticker stops waiting then), and
//! `SupvisorsSpec::fence_bound` counts on that. A heartbeat has no such bound on the
//! receiving side (a request held in a TCP buffer during a partition arrives when it heals),
//! so a note carries the leader's wall clock and is refused when it is older than
//! `tick_call_timeout` on the receiver's: clocks apart by more than that only lose the
//! carrying (the fallback ticks take over), never the bound.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::cutoff::Contact;
use crate::types::NodeId;
use crate::wire::TickRequest;

/// The note's type is the wire's (`cluster::carry::LeaderNote` is where it was first public).
pub use crate::wire::{FullSyncAsk, LeaderNote};

/// What the carrier needs of the node when it leads: the note for a heartbeat, a heartbeat's
/// failure to connect, a tick carried on an answer. The leader loop's context implements it
/// (in [`crate::leader`]); the carrier holds it as this trait so that the network, which the
/// node is built on, does not depend on the node.
pub(crate) trait LeaderSide: Send + Sync {
    /// See [`Carrier::note_for`].
    fn note_for(&self, need_full_sync: Option<FullSyncAsk>) -> Option<LeaderNote>;
    /// See [`Carrier::on_unreachable`].
    fn on_unreachable(self: Arc<Self>, target: NodeId);
    /// See [`Carrier::on_carried_tick`].
    fn on_carried_tick(&self, target: NodeId, tick: &TickRequest) -> Option<FullSyncAsk>;
}

/// What the Raft network, the internal server and the ticker share for carried liveness.
pub(crate) struct Carrier {
    /// The node, once it exists: the network is built before it (openraft's `Raft::new` takes
    /// the network factory).
    node: OnceLock<Weak<dyn LeaderSide>>,
    /// This instance's tick as the ticker last computed it (load, full sync…); `counter` and
    /// `sent_at` are filled in for each answer that carries it.
    own: Mutex<Option<TickRequest>>,
    /// Ticks sent since start, carried or not (Supvisors' `sequence_counter`).
    counter: AtomicU64,
    contact: Mutex<Contact>,
    /// When this instance last accepted a leader's note.
    last_note: Mutex<Option<Instant>>,
    /// Told when the contact moves on a heartbeat (a note accepted, or sent by the leader):
    /// the ticker then pushes its next pass back instead of waking for it (see
    /// [`Self::contact_moved`]).
    moved: tokio::sync::Notify,
}

impl Carrier {
    pub(crate) fn new() -> Arc<Carrier> {
        Arc::new(Carrier {
            node: OnceLock::new(),
            own: Mutex::new(None),
            counter: AtomicU64::new(0),
            contact: Mutex::new(Contact::new(Instant::now())),
            last_note: Mutex::new(None),
            moved: tokio::sync::Notify::new(),
        })
    }

    pub(crate) fn bind(&self, node: Weak<dyn LeaderSide>) {
        let _ = self.node.set(node);
    }

    fn node(&self) -> Option<Arc<dyn LeaderSide>> {
        self.node.get().and_then(Weak::upgrade)
    }

    /// The next tick counter (1 for the first tick).
    pub(crate) fn next_counter(&self) -> u64 {
        self.counter
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1)
    }

    /// Keeps the tick that answers carry up to date (the ticker, at each pass).
    pub(crate) fn set_own(&self, tick: &TickRequest) {
        if let Ok(mut own) = self.own.lock() {
            if own.as_ref() != Some(tick) {
                *own = Some(tick.clone());
            }
        }
    }

    /// Numbers and dates `tick` as it goes out, carried or sent: the next counter, this
    /// host's wall clock.
    pub(crate) fn stamp(&self, tick: &mut TickRequest) {
        tick.counter = self.next_counter();
        tick.sent_at = model::time::epoch_ms();
    }

    /// The tick to carry on an answer to an append-entries request, stamped.
    pub(crate) fn tick_to_carry(&self) -> Option<TickRequest> {
        let mut tick = self.own.lock().ok()?.clone()?;
        self.stamp(&mut tick);
        Some(tick)
    }

    /// The contact as it stands (the ticker's pass reads it through
    /// [`Self::observe_leader`]; between passes it only needs its deadline).
    pub(crate) fn contact(&self) -> Contact {
        self.contact
            .lock()
            .map(|c| *c)
            .unwrap_or(Contact::new(Instant::now()))
    }

    /// Records the contact an acknowledgement proves (a tick's answer or a leader's note):
    /// the leader's last quorum acknowledgement `quorum_age` before `received`, credited
    /// with `lease` ([`Contact::acknowledged`]).
    pub(crate) fn record_ack(
        &self,
        received: Instant,
        term: u64,
        quorum_age: Option<Duration>,
        lease: Duration,
    ) {
        if let Ok(mut c) = self.contact.lock() {
            c.acknowledged(received, term, quorum_age, lease);
        }
    }

    /// A leader of a newer term became known: contact now (see `cutoff::newly_elected`).
    #[cfg(test)]
    pub(crate) fn record_election(&self, term: u64, at: Instant) {
        if let Ok(mut c) = self.contact.lock() {
            c.elected(term, at);
        }
    }

    /// What openraft's metrics say at `now` ([`Contact::leader_known`]: a newly elected
    /// leader is contact); returns the contact as it is then.
    pub(crate) fn observe_leader(
        &self,
        term: u64,
        leader: Option<NodeId>,
        me: NodeId,
        now: Instant,
    ) -> Contact {
        match self.contact.lock() {
            Ok(mut c) => {
                c.leader_known(term, leader, me, now);
                *c
            }
            Err(_) => Contact::new(now),
        }
    }

    /// When this instance last accepted a leader's note.
    pub(crate) fn last_note_at(&self) -> Option<Instant> {
        self.last_note.lock().ok().and_then(|n| *n)
    }

    /// Whether a leader's note was accepted within `within`: the ticker then sends no tick of
    /// its own.
    pub(crate) fn carried_within(&self, within: Duration) -> bool {
        self.last_note_at().is_some_and(|at| at.elapsed() < within)
    }

    /// Follower side: a note on an append-entries request that this instance accepted (its
    /// answer was not a higher vote). Refused when older than `max_age` on this clock.
    pub(crate) fn on_note(&self, note: &LeaderNote, lease: Duration, max_age: Duration) -> bool {
        let age_ms = model::time::epoch_ms().saturating_sub(note.sent_at);
        if u128::from(age_ms.unsigned_abs()) > max_age.as_millis() {
            tracing::debug!(
                age_ms,
                "a leader's note refused for its age: ticks take over"
            );
            return false;
        }
        let now = Instant::now();
        self.record_ack(
            now,
            note.term,
            note.quorum_age_ms.map(Duration::from_millis),
            lease,
        );
        if let Ok(mut last) = self.last_note.lock() {
            *last = Some(now);
        }
        self.moved.notify_one();
        true
    }

    /// Returns once the contact has moved on a heartbeat since the last call returned (a
    /// permit is kept when nobody waits). The ticker's deadlines (the carrying's lapse, the
    /// cut-off) are counted from the contact: each heartbeat pushes them back, and the ticker,
    /// told here, resets its timer rather than waking the thread for a pass that would only
    /// find them pushed back. A timer of tokio's wheel beyond 64 ms wakes the thread twice
    /// (once to move it down the wheel, once to fire it), and these wake-ups, not the work
    /// of the passes, were most of an idle follower's cost (README: "Idle cost").
    pub(crate) async fn contact_moved(&self) {
        self.moved.notified().await;
    }

    /// Leader side: the note for the next append-entries request to `target`, `None` unless
    /// this node leads with its leader loop up (as [`crate::leader::on_tick`] answers).
    /// The note's quorum acknowledgement is also the leader's own contact: recorded here, at
    /// every heartbeat, it is current when the leader steps down, whereas the leader's ticker
    /// records it only when it wakes (up to a fencing timeout apart), and a contact that old
    /// would have a deposed leader judge itself cut off at once, before the election of its
    /// successor, and fence what it runs.
    pub(crate) fn note_for(&self, need_full_sync: Option<FullSyncAsk>) -> Option<LeaderNote> {
        let note = self.node()?.note_for(need_full_sync)?;
        self.record_ack(
            Instant::now(),
            note.term,
            note.quorum_age_ms.map(Duration::from_millis),
            Duration::ZERO,
        );
        self.moved.notify_one();
        Some(note)
    }

    /// Leader side: a heartbeat to `target` could not connect. If the cluster counts it as
    /// live, its port is probed at once (a refusal is death evidence, [`crate::book`]) instead
    /// of once its ticks are late: a `kill -9`'d daemon is found at the next heartbeat.
    pub(crate) fn on_unreachable(&self, target: NodeId) {
        if let Some(node) = self.node() {
            node.on_unreachable(target);
        }
    }

    /// Leader side: the tick `target` carried on its answer, handed to the leader loop without
    /// waiting. Returns whether it must send a full snapshot of its processes (said on the
    /// next note), as the loop answered its previous carried ticks.
    pub(crate) fn on_carried_tick(
        &self,
        target: NodeId,
        tick: &TickRequest,
    ) -> Option<FullSyncAsk> {
        self.node()?.on_carried_tick(target, tick)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(age_ms: i64, quorum_age_ms: Option<u64>) -> LeaderNote {
        LeaderNote {
            term: 3,
            need_full_sync: None,
            quorum_age_ms,
            sent_at: model::time::epoch_ms() - age_ms,
        }
    }

    #[test]
    fn a_fresh_note_is_contact_and_stops_the_ticks() {
        let c = Carrier::new();
        let before = c.contact().at;
        assert!(!c.carried_within(Duration::from_secs(60)));
        let lease = Duration::from_millis(300);
        assert!(c.on_note(&note(5, Some(1_000)), lease, Duration::from_millis(100)));
        assert!(c.carried_within(Duration::from_secs(60)));
        let contact = c.contact();
        assert_eq!(contact.term, 3);
        // Acknowledged 1 s ago, credited 300 ms of lease: about 700 ms ago, never later than
        // the start of the carrier's own clock.
        assert!(contact.at >= before);
        assert!(contact.at <= Instant::now() - Duration::from_millis(650) || contact.at == before);
    }

    #[tokio::test]
    async fn an_accepted_note_tells_the_ticker_a_refused_one_does_not() {
        let c = Carrier::new();
        let told = || tokio::time::timeout(Duration::from_millis(50), c.contact_moved());
        assert!(told().await.is_err(), "nothing yet");
        let max = Duration::from_millis(100);
        assert!(!c.on_note(&note(5_000, Some(0)), Duration::ZERO, max));
        assert!(told().await.is_err(), "a refused note moves nothing");
        // Two notes before the ticker looks: one permit, the ticker recomputes once.
        assert!(c.on_note(&note(5, Some(0)), Duration::ZERO, max));
        assert!(c.on_note(&note(5, Some(0)), Duration::ZERO, max));
        assert!(told().await.is_ok());
        assert!(told().await.is_err());
    }

    #[test]
    fn a_note_older_than_the_call_timeout_proves_nothing() {
        let c = Carrier::new();
        let before = c.contact().at;
        let max = Duration::from_millis(100);
        // Held in a buffer during a partition: refused, the ticks take over.
        assert!(!c.on_note(&note(5_000, Some(0)), Duration::ZERO, max));
        // A clock far ahead of ours: refused as well.
        assert!(!c.on_note(&note(-5_000, Some(0)), Duration::ZERO, max));
        assert!(!c.carried_within(Duration::from_secs(60)));
        assert_eq!(c.contact().at, before);
        assert_eq!(c.contact().term, 0);
    }

    #[test]
    fn contact_only_moves_forward_and_elections_set_the_term() {
        let c = Carrier::new();
        let now = Instant::now() + Duration::from_secs(10);
        c.record_ack(now, 2, Some(Duration::ZERO), Duration::ZERO);
        assert_eq!(c.contact().at, now);
        // An older acknowledgement does not move it back; the term stays the highest.
        c.record_ack(now, 1, Some(Duration::from_secs(5)), Duration::ZERO);
        assert_eq!(c.contact().at, now);
        assert_eq!(c.contact().term, 2);
        // No quorum acknowledgement yet: the term counts, the contact does not move.
        c.record_ack(now + Duration::from_secs(1), 4, None, Duration::ZERO);
        assert_eq!((c.contact().at, c.contact().term), (now, 4));
        c.record_election(7, now + Duration::from_secs(2));
        assert_eq!(
            (c.contact().at, c.contact().term),
            (now + Duration::from_secs(2), 7)
        );
    }

    #[test]
    fn carried_ticks_count_with_the_sent_ones() {
        let c = Carrier::new();
        assert!(
            c.tick_to_carry().is_none(),
            "nothing until the ticker set it"
        );
        assert_eq!(c.next_counter(), 1);
        c.set_own(&TickRequest {
            identifier: "a".into(),
            load: 2,
            counter: 0,
            sent_at: 0,
            incarnation: 9,
            full_sync: None,
        });
        let t = c.tick_to_carry().unwrap();
        assert_eq!((t.identifier.as_str(), t.load, t.counter), ("a", 2, 2));
        assert!(t.sent_at > 0);
        assert_eq!(c.next_counter(), 3);
        // Without a node (not leading), no note and no tick taken in.
        assert!(c.note_for(Some(FullSyncAsk { had: None })).is_none());
        assert!(c.on_carried_tick(1, &t).is_none());
    }
}
