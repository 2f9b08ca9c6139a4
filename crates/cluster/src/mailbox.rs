//! The leader loop's mailbox: how the rest of the node reaches the one task that owns the
//! liveness book ([`crate::leader`]'s loop) while this node leads.
//!
//! ```text
//!  /ctl/tick route, the leader's own tick ── Tick + reply ──► ┐
//!  a tick carried on a heartbeat's answer ── Tick (hand_carried)► ├─► leader loop (owns the book)
//!  a probe: port refused, no answer ── Refused / NoAnswer ──► ┘        │
//!                                                                       │ a carried tick's answer
//!  the next heartbeat's note ◄── FullSyncOwed (who must send a full sync) ◄┘
//! ```
//!
//! The mailbox is open exactly while a loop runs ([`Mailbox::open`]): a closed one is how the
//! node tells that no book is up to answer (a tick is then answered `NotLeader`, no note is
//! sent). A tick carried on a heartbeat's answer never waits for the loop: it is handed over
//! without waiting (dropped when the mailbox is full: the next heartbeat carries a newer one),
//! and the loop's answer, whether the instance owes a full sync, is published in
//! [`FullSyncOwed`], which the heartbeat after it reads. That is one heartbeat later than the
//! book could tell, which only delays a handshake by a heartbeat.
//!
//! Most carried ticks change nothing: a RUNNING instance's tick with the load, incarnation
//! and full sync the loop last took without deciding anything. Such a tick is parked instead
//! ([`Mailbox::hand_carried`]), the latest per instance, and the loop is only told that one
//! is ([`Mailbox::parked_arrived`]): it takes the parked ticks without deciding, and pushes
//! its timer back to the book's next deadline, which each of them moves (an instance's
//! silence starts again). Being told costs a poll of the loop's task within the wake-up the
//! heartbeat's answer already cost; letting the timer run would wake the Raft thread for
//! nothing (twice, for a timer of tokio's wheel beyond 64 ms). An idle leader's loop then
//! decides once a second (README: "Idle cost"). Whatever the way in, each tick goes through
//! the same `take` of the loop.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::state::BatchSeq;
use crate::wire::{FullSyncAsk, TickRequest};

/// Messages the mailbox holds at most: a few seconds of carried ticks from dozens of
/// instances, which the loop takes in microseconds each.
const CAPACITY: usize = 256;

/// What the leader loop is told.
#[derive(Debug)]
pub(crate) enum ToLeader {
    /// A tick received at `received` (`received_ms` on this host's wall clock). With `reply`,
    /// the sender waits for the book's answer (whether the instance must send a full sync);
    /// without (a tick carried on a heartbeat's answer), the answer goes to
    /// [`FullSyncOwed`].
    Tick {
        tick: TickRequest,
        received: Instant,
        received_ms: i64,
        reply: Option<oneshot::Sender<bool>>,
    },
    /// A probe started at `started` found no daemon listening on the instance's internal
    /// port: death evidence for the book.
    Refused {
        identifier: String,
        started: Instant,
    },
    /// A probe started at `started` got no answer from the instance's host: out of reach,
    /// SILENT for the book (not proof of death: a cut-off host may still run its programs).
    NoAnswer {
        identifier: String,
        started: Instant,
    },
}

impl ToLeader {
    /// A tick received now.
    pub(crate) fn tick(tick: TickRequest, reply: Option<oneshot::Sender<bool>>) -> ToLeader {
        ToLeader::Tick {
            tick,
            received: Instant::now(),
            received_ms: model::time::epoch_ms(),
            reply,
        }
    }
}

/// Which instances owe the leader a full sync of their processes, as the book answered their
/// last tick carried on a heartbeat's answer: the next note to each says so. An instance's
/// entry stays until a later carried tick of it is answered otherwise (the ask is repeated on
/// every note until then; the receiver sends one full sync per ask, see [`FullSyncAsk`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct FullSyncOwed {
    owed: HashMap<String, FullSyncAsk>,
}

impl FullSyncOwed {
    /// The book answered `tick` (carried): `need` a full sync, newer than the one it reported.
    pub(crate) fn answer(&mut self, tick: &TickRequest, need: bool) {
        if need {
            self.owed.insert(
                tick.identifier.clone(),
                FullSyncAsk {
                    had: tick.full_sync,
                },
            );
        } else {
            self.owed.remove(&tick.identifier);
        }
    }

    /// What the next note to `identifier` asks.
    pub(crate) fn ask_of(&self, identifier: &str) -> Option<FullSyncAsk> {
        self.owed.get(identifier).copied()
    }

    /// A new leadership (or none): the previous book's answers do not hold.
    pub(crate) fn clear(&mut self) {
        self.owed.clear();
    }
}

/// What of a tick may call for a decision once its instance is RUNNING (see
/// `LeaderBook::tick_needs_decision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shape {
    load: u32,
    incarnation: u64,
    full_sync: Option<BatchSeq>,
}

impl Shape {
    fn of(tick: &TickRequest) -> Shape {
        Shape {
            load: tick.load,
            incarnation: tick.incarnation,
            full_sync: tick.full_sync,
        }
    }
}

/// The carried ticks that need not wake the loop (see the module doc).
#[derive(Debug, Default)]
struct Quiet {
    /// Per instance, the shape of its last tick the loop took without deciding anything.
    steady: HashMap<String, Shape>,
    /// Per instance, its latest carried tick of that shape, not taken yet.
    parked: HashMap<String, ToLeader>,
}

/// The way into the leader loop; see the module doc.
#[derive(Debug, Default)]
pub(crate) struct Mailbox {
    /// The loop's sender while it runs.
    sender: Mutex<Option<mpsc::Sender<ToLeader>>>,
    owed: Mutex<FullSyncOwed>,
    quiet: Mutex<Quiet>,
    /// Told when a tick is parked (see [`Inbox::parked_arrived`]).
    parked_signal: tokio::sync::Notify,
}

/// The receiving end of an open [`Mailbox`], held by the loop: dropping it closes the
/// mailbox, however the loop ends.
pub(crate) struct Inbox<'a> {
    mailbox: &'a Mailbox,
    sender: mpsc::Sender<ToLeader>,
    receiver: mpsc::Receiver<ToLeader>,
}

impl Inbox<'_> {
    /// The next message. The mailbox keeps a sender while open, so this never ends.
    pub(crate) async fn recv(&mut self) -> Option<ToLeader> {
        self.receiver.recv().await
    }

    /// The next message if one is waiting.
    pub(crate) fn try_recv(&mut self) -> Option<ToLeader> {
        self.receiver.try_recv().ok()
    }

    /// A sender for the loop's own helpers (its probes): it reaches this loop only.
    pub(crate) fn sender(&self) -> mpsc::Sender<ToLeader> {
        self.sender.clone()
    }

    /// The book answered a carried tick.
    pub(crate) fn publish(&self, tick: &TickRequest, need_full_sync: bool) {
        if let Ok(mut owed) = self.mailbox.owed.lock() {
            owed.answer(tick, need_full_sync);
        }
    }

    /// Whether the loop took `tick` without anything to decide (`steady`): the next carried
    /// ticks of its instance like it are parked rather than sent until one is not.
    pub(crate) fn taken(&self, tick: &TickRequest, steady: bool) {
        if let Ok(mut quiet) = self.mailbox.quiet.lock() {
            if steady {
                quiet
                    .steady
                    .insert(tick.identifier.clone(), Shape::of(tick));
            } else {
                quiet.steady.remove(&tick.identifier);
            }
        }
    }

    /// The parked ticks, to take before deciding: each is newer than any tick of its
    /// instance still in the channel (sending one drops the parked one).
    pub(crate) fn parked(&self) -> Vec<ToLeader> {
        match self.mailbox.quiet.lock() {
            Ok(mut quiet) if !quiet.parked.is_empty() => {
                quiet.parked.drain().map(|(_, tick)| tick).collect()
            }
            _ => Vec::new(),
        }
    }
}

impl Drop for Inbox<'_> {
    fn drop(&mut self) {
        let Ok(mut slot) = self.mailbox.sender.lock() else {
            return;
        };
        // A newer loop's mailbox (opened before this one's end was seen) stays open.
        if slot.as_ref().is_some_and(|s| s.same_channel(&self.sender)) {
            *slot = None;
            if let Ok(mut owed) = self.mailbox.owed.lock() {
                owed.clear();
            }
            if let Ok(mut quiet) = self.mailbox.quiet.lock() {
                *quiet = Quiet::default();
            }
        }
    }
}

impl Mailbox {
    /// Opens the mailbox for a new loop, with no full sync owed.
    pub(crate) fn open(&self) -> Inbox<'_> {
        let (sender, receiver) = mpsc::channel(CAPACITY);
        if let Ok(mut owed) = self.owed.lock() {
            owed.clear();
        }
        // The previous book's steady instances are not this one's.
        if let Ok(mut quiet) = self.quiet.lock() {
            *quiet = Quiet::default();
        }
        if let Ok(mut slot) = self.sender.lock() {
            *slot = Some(sender.clone());
        }
        Inbox {
            mailbox: self,
            sender,
            receiver,
        }
    }

    /// Returns once a tick was parked since the last call returned (a permit is kept when
    /// the loop is busy). The loop takes it in without deciding: the instance's silence,
    /// which its next decision is timed on, starts again, and the loop's timer is reset to
    /// the later time instead of waking the thread to find the tick parked (a timer of
    /// tokio's wheel beyond 64 ms wakes the thread twice; a task woken by a heartbeat's
    /// answer runs in the wake-up that answer already costs).
    pub(crate) async fn parked_arrived(&self) {
        self.parked_signal.notified().await;
    }

    /// A loop runs to take messages.
    pub(crate) fn is_open(&self) -> bool {
        self.sender.lock().is_ok_and(|s| s.is_some())
    }

    fn sender(&self) -> Option<mpsc::Sender<ToLeader>> {
        self.sender.lock().ok()?.clone()
    }

    /// Hands over a tick carried on a heartbeat's answer without waiting: parked when its
    /// instance is `running` and the tick is like the last one the loop took without deciding
    /// anything (see the module doc), sent otherwise. False when no loop runs or the mailbox
    /// is full (the next heartbeat carries a newer tick).
    pub(crate) fn hand_carried(&self, tick: TickRequest, running: bool) -> bool {
        let Ok(slot) = self.sender.lock() else {
            return false;
        };
        let Some(sender) = slot.as_ref() else {
            return false;
        };
        if let Ok(mut quiet) = self.quiet.lock() {
            let steady = quiet.steady.get(&tick.identifier) == Some(&Shape::of(&tick));
            if running && steady {
                let identifier = tick.identifier.clone();
                quiet.parked.insert(identifier, ToLeader::tick(tick, None));
                self.parked_signal.notify_one();
                return true;
            }
            // Sent: a tick parked before it would be taken after it, and is older.
            quiet.steady.remove(&tick.identifier);
            quiet.parked.remove(&tick.identifier);
        }
        sender.try_send(ToLeader::tick(tick, None)).is_ok()
    }

    /// Hands `message` over, waiting for room if the mailbox is full; false when no loop runs.
    pub(crate) async fn send(&self, message: ToLeader) -> bool {
        match self.sender() {
            Some(sender) => sender.send(message).await.is_ok(),
            None => false,
        }
    }

    /// The book's answer to `tick` (whether a full sync is needed); `None` when no loop runs
    /// or it did not answer within `timeout`.
    pub(crate) async fn ask_tick(&self, tick: TickRequest, timeout: Duration) -> Option<bool> {
        let sender = self.sender()?;
        let (reply, answer) = oneshot::channel();
        let asked = async move {
            sender.send(ToLeader::tick(tick, Some(reply))).await.ok()?;
            answer.await.ok()
        };
        tokio::time::timeout(timeout, asked).await.ok().flatten()
    }

    /// What the next note to `identifier` asks (see [`FullSyncOwed`]).
    pub(crate) fn owed(&self, identifier: &str) -> Option<FullSyncAsk> {
        self.owed.lock().ok()?.ask_of(identifier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(identifier: &str, full_sync: Option<BatchSeq>) -> TickRequest {
        TickRequest {
            identifier: identifier.into(),
            load: 0,
            counter: 1,
            sent_at: 0,
            incarnation: 1,
            full_sync,
        }
    }

    #[test]
    fn an_owed_full_sync_is_asked_until_a_tick_is_answered_otherwise() {
        let mut owed = FullSyncOwed::default();
        assert_eq!(owed.ask_of("a"), None);
        owed.answer(&tick("a", None), true);
        owed.answer(&tick("b", Some(BatchSeq::new(1, 0))), false);
        assert_eq!(owed.ask_of("a"), Some(FullSyncAsk { had: None }));
        assert_eq!(owed.ask_of("b"), None);
        // The ask names the full sync the latest answered tick reported.
        let seq = Some(BatchSeq::new(1, 4));
        owed.answer(&tick("a", seq), true);
        assert_eq!(owed.ask_of("a"), Some(FullSyncAsk { had: seq }));
        owed.answer(&tick("a", Some(BatchSeq::new(1, 5))), false);
        assert_eq!(owed.ask_of("a"), None);
        owed.answer(&tick("c", None), true);
        owed.clear();
        assert_eq!(owed, FullSyncOwed::default());
    }

    #[tokio::test]
    async fn a_closed_mailbox_takes_nothing_and_an_open_one_answers() {
        let mailbox = Mailbox::default();
        let wait = Duration::from_millis(50);
        assert!(!mailbox.is_open());
        assert!(!mailbox.hand_carried(tick("a", None), false));
        assert_eq!(mailbox.ask_tick(tick("a", None), wait).await, None);
        let mut inbox = mailbox.open();
        assert!(mailbox.is_open());
        // Not answered in time: no answer, whatever the loop does later.
        assert_eq!(mailbox.ask_tick(tick("a", None), wait).await, None);
        assert!(matches!(inbox.try_recv(), Some(ToLeader::Tick { .. })));
        let asked = mailbox.ask_tick(tick("a", None), Duration::from_secs(5));
        let answered = async {
            match inbox.recv().await {
                Some(ToLeader::Tick {
                    tick,
                    reply: Some(reply),
                    ..
                }) => {
                    let _ = reply.send(true);
                    tick.identifier
                }
                other => panic!("a tick with a reply, not {other:?}"),
            }
        };
        let (answer, asker) = tokio::join!(asked, answered);
        assert_eq!((answer, asker.as_str()), (Some(true), "a"));
        // A carried tick's answer is published for the next note.
        assert!(mailbox.hand_carried(tick("b", None), false));
        assert!(inbox.try_recv().is_some());
        inbox.publish(&tick("b", None), true);
        assert_eq!(mailbox.owed("b"), Some(FullSyncAsk { had: None }));
        drop(inbox);
        assert!(!mailbox.is_open());
        assert_eq!(mailbox.owed("b"), None, "the book's answers go with it");
    }

    #[tokio::test]
    async fn a_full_mailbox_drops_a_carried_tick_without_waiting() {
        let mailbox = Mailbox::default();
        let mut inbox = mailbox.open();
        for _ in 0..CAPACITY {
            assert!(mailbox.hand_carried(tick("a", None), false));
        }
        assert!(!mailbox.hand_carried(tick("a", None), false));
        assert!(inbox.try_recv().is_some());
        assert!(mailbox.hand_carried(tick("a", None), false));
        // A new loop's mailbox is not closed by the previous loop's end.
        let previous = inbox;
        let next = mailbox.open();
        next.publish(&tick("a", None), true);
        drop(previous);
        assert!(mailbox.is_open());
        assert!(mailbox.owed("a").is_some());
        drop(next);
        assert!(!mailbox.is_open());
    }

    #[tokio::test]
    async fn a_steady_running_instance_s_ticks_are_parked_the_latest_only() {
        let mailbox = Mailbox::default();
        let mut inbox = mailbox.open();
        let quiet = |load| TickRequest {
            load,
            ..tick("a", None)
        };
        // Not yet taken as steady: sent.
        assert!(mailbox.hand_carried(quiet(1), true));
        assert!(inbox.try_recv().is_some());
        inbox.taken(&quiet(1), true);
        // Like it, RUNNING: parked, the latest one kept.
        let mut later = quiet(1);
        later.counter = 7;
        assert!(mailbox.hand_carried(quiet(1), true));
        assert!(mailbox.hand_carried(later, true));
        assert!(inbox.try_recv().is_none(), "the loop is not woken");
        // ... but told that ticks were parked (one permit for both), to push its timer back.
        let told = || tokio::time::timeout(Duration::from_millis(50), mailbox.parked_arrived());
        assert!(told().await.is_ok());
        assert!(told().await.is_err());
        let parked = inbox.parked();
        assert!(
            matches!(parked.as_slice(), [ToLeader::Tick { tick, .. }] if tick.counter == 7),
            "{parked:?}"
        );
        assert!(inbox.parked().is_empty());
        // Not RUNNING (a return from SILENT): sent.
        assert!(mailbox.hand_carried(quiet(1), false));
        assert!(inbox.try_recv().is_some());
        assert!(told().await.is_err(), "a tick sent is not said parked");
        // A new load is sent, drops what was parked before it, and ends the steadiness.
        inbox.taken(&quiet(1), true);
        assert!(mailbox.hand_carried(quiet(1), true));
        assert!(mailbox.hand_carried(quiet(2), true));
        assert!(
            inbox.parked().is_empty(),
            "an older parked tick would follow a newer one"
        );
        assert!(inbox.try_recv().is_some());
        assert!(mailbox.hand_carried(quiet(1), true));
        assert!(inbox.try_recv().is_some());
        // A taken tick that called for a decision ends it too; a new loop starts afresh.
        inbox.taken(&quiet(1), true);
        inbox.taken(&quiet(1), false);
        assert!(mailbox.hand_carried(quiet(1), true));
        assert!(inbox.try_recv().is_some());
        inbox.taken(&quiet(1), true);
        drop(inbox);
        let mut next = mailbox.open();
        assert!(mailbox.hand_carried(quiet(1), true));
        assert!(
            next.try_recv().is_some(),
            "the previous book's steadiness is gone"
        );
    }
}
