//! The leader loop's mailbox: how the rest of the node reaches the one task that owns the
//! liveness book ([`crate::leader`]'s loop) while this node leads.
//!
//! ```text
//!  /ctl/tick route, the leader's own tick ── Tick + reply ──► ┐
//!  a tick carried on a heartbeat's answer ── Tick (try_send) ─► ├─► leader loop (owns the book)
//!  a probe that found a port refusing ────── Refused ─────────► ┘        │
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

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

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

/// The way into the leader loop; see the module doc.
#[derive(Debug, Default)]
pub(crate) struct Mailbox {
    /// The loop's sender while it runs.
    sender: Mutex<Option<mpsc::Sender<ToLeader>>>,
    owed: Mutex<FullSyncOwed>,
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
        if let Ok(mut slot) = self.sender.lock() {
            *slot = Some(sender.clone());
        }
        Inbox {
            mailbox: self,
            sender,
            receiver,
        }
    }

    /// A loop runs to take messages.
    pub(crate) fn is_open(&self) -> bool {
        self.sender.lock().is_ok_and(|s| s.is_some())
    }

    fn sender(&self) -> Option<mpsc::Sender<ToLeader>> {
        self.sender.lock().ok()?.clone()
    }

    /// Hands `message` over without waiting; false when no loop runs or the mailbox is full.
    pub(crate) fn try_send(&self, message: ToLeader) -> bool {
        let Ok(slot) = self.sender.lock() else {
            return false;
        };
        slot.as_ref().is_some_and(|s| s.try_send(message).is_ok())
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
    use crate::state::BatchSeq;

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
        assert!(!mailbox.try_send(ToLeader::tick(tick("a", None), None)));
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
        assert!(mailbox.try_send(ToLeader::tick(tick("b", None), None)));
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
            assert!(mailbox.try_send(ToLeader::tick(tick("a", None), None)));
        }
        assert!(!mailbox.try_send(ToLeader::tick(tick("a", None), None)));
        assert!(inbox.try_recv().is_some());
        assert!(mailbox.try_send(ToLeader::tick(tick("a", None), None)));
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
}
