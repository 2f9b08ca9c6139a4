//! The follower's decisions, pure (no I/O, no clock read: every `Instant` is given), as
//! `procman::machine::step` and the commander's planner are: the contact with the quorum an
//! instance can prove ([`Contact`]), whether it is cut off and what changed ([`CutOff`]), where
//! its next tick goes ([`tick_target`]), and when to nudge an election because the leader's
//! daemon or host is gone ([`election_nudge`]). [`crate::ticker`] reads the clocks and the
//! metrics, calls these, and does what they say.

use std::time::{Duration, Instant};

use crate::book::quorum_contact;
use crate::types::NodeId;

/// The contact with the quorum this instance can prove, and the term it was proven in (see
/// [`crate::ticker::ticker`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Contact {
    pub(crate) at: Instant,
    pub(crate) term: u64,
}

impl Contact {
    /// No contact proven yet: counted from `at` (the start), in no term.
    pub(crate) fn new(at: Instant) -> Contact {
        Contact { at, term: 0 }
    }

    /// The contact an acknowledgement proves (a tick's answer or a leader's note): the
    /// leader's last quorum acknowledgement `quorum_age` before `received`, credited with
    /// `lease` ([`quorum_contact`]). Contact only moves forward; the term is the highest seen.
    pub(crate) fn acknowledged(
        &mut self,
        received: Instant,
        term: u64,
        quorum_age: Option<Duration>,
        lease: Duration,
    ) {
        self.term = self.term.max(term);
        if let Some(at) = quorum_contact(received, quorum_age, lease) {
            self.at = self.at.max(at);
        }
    }

    /// A leader of term `term` became known at `at`: contact then, in that term.
    pub(crate) fn elected(&mut self, term: u64, at: Instant) {
        self.term = term;
        self.at = self.at.max(at);
    }

    /// What openraft's metrics say at `now` (`term`, `leader`; `me` is this node): when they
    /// name a leader newly elected ([`newly_elected`]), that is contact now. Returns whether
    /// it was.
    pub(crate) fn leader_known(
        &mut self,
        term: u64,
        leader: Option<NodeId>,
        me: NodeId,
        now: Instant,
    ) -> bool {
        let news = newly_elected(self.term, term, leader, me);
        if news {
            self.elected(term, now);
        }
        news
    }

    /// How long without contact at `now` (zero when the contact is later).
    pub(crate) fn silence(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.at)
    }
}

/// Whether a leader other than this node, of a term newer than the last contact's, is known:
/// a majority elected it at that term, so hearing of it is contact with the quorum. Only a
/// committed vote names a leader in openraft's metrics, so a candidate's term alone (what a
/// minority can reach by itself) does not count.
pub(crate) fn newly_elected(
    contact_term: u64,
    term: u64,
    leader: Option<NodeId>,
    me: NodeId,
) -> bool {
    term > contact_term && leader.is_some_and(|l| l != me)
}

/// What a cut-off decision changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    /// The silence crossed `fencing_timeout`: now cut off (writes refused, the fence starts).
    Cut { silence: Duration },
    /// Contact is back after a cut (a full sync is asked, the fence reported).
    Restored,
    /// As before, cut off or not.
    Unchanged,
}

/// The follower's cut-off decision: cut off once the silence since the last [`Contact`]
/// exceeds `fencing_timeout`, either way.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CutOff {
    pub(crate) fencing_timeout: Duration,
}

impl CutOff {
    /// Whether `contact` leaves this instance cut off at `now`.
    pub(crate) fn is_cut(&self, contact: &Contact, now: Instant) -> bool {
        contact.silence(now) > self.fencing_timeout
    }

    /// When `contact` runs out: the instance is cut off after this, unless contact comes.
    pub(crate) fn deadline(&self, contact: &Contact) -> Instant {
        contact.at + self.fencing_timeout
    }

    /// What changed from `was_cut` to `now_cut` (the caller swaps the shared flag, which
    /// others set too, and passes both sides); `silence` is said with a cut.
    pub(crate) fn transition(was_cut: bool, now_cut: bool, silence: Duration) -> Transition {
        match (was_cut, now_cut) {
            (false, true) => Transition::Cut { silence },
            (true, false) => Transition::Restored,
            _ => Transition::Unchanged,
        }
    }
}

/// The instance the next tick goes to: the leader the metrics name, else the hint of the last
/// `NotLeader` answer. The hint is spent either way: it also sets the 5 ms redirect pace, and
/// a hint left over while the metrics name a leader (a tick that reached the new leader before
/// its leader loop started) kept a follower ticking every 5 ms for ever.
pub(crate) fn tick_target(leader: Option<&String>, hint: &mut Option<String>) -> Option<String> {
    let hinted = hint.take();
    leader.cloned().or(hinted)
}

/// An election nudge to try: probe the leader's port, and if it refuses (or its host does not
/// answer), ask for an election at `due` unless news came meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Nudge {
    /// The leader's last heartbeat, after which it is probed (once).
    pub(crate) heartbeat: Instant,
    /// When the other voters will grant an election: the leader lease of that heartbeat has
    /// run out (`election_timeout_max`, and a margin), and the voters before this one in the
    /// config's order have had their turn ([`NUDGE_STAGGER`] each).
    pub(crate) due: Instant,
}

/// The election nudge's decision, when the leader's heartbeats lapsed (see
/// [`crate::ticker`]'s `elect_if_leader_gone`): every voter other than the leader may nudge,
/// each in its turn in the config's order (`voters`), [`NUDGE_STAGGER`] apart, so that two
/// followers do not split the vote — the first one's vote request reaches the next before
/// its turn, and a vote cast or a candidate known cancels its nudge — yet a first survivor
/// that cannot nudge (it never heard this leader: it just came back itself) does not leave the
/// election to the timers; only once per heartbeat of that leader (`last_append`: the last
/// append-entries received, from whom and when; `asked`: the heartbeat already probed after).
pub(crate) fn election_nudge(
    voters: &[String],
    local: &str,
    leader: &str,
    last_append: Option<(&str, Instant)>,
    asked: Option<Instant>,
    election_timeout_max: Duration,
) -> Option<Nudge> {
    let rank = voters
        .iter()
        .filter(|v| v.as_str() != leader)
        .position(|v| v.as_str() == local)?;
    let heartbeat = match last_append {
        Some((from, at)) if from == leader => at,
        _ => return None,
    };
    if asked == Some(heartbeat) {
        return None;
    }
    let turn = NUDGE_STAGGER * u32::try_from(rank).unwrap_or(u32::MAX);
    Some(Nudge {
        heartbeat,
        due: heartbeat + election_timeout_max + NUDGE_MARGIN + turn,
    })
}

/// Past the leader lease before the nudge asks for an election.
const NUDGE_MARGIN: Duration = Duration::from_millis(30);

/// Between the turns of two surviving voters to nudge: a vote request's travel with room to
/// spare on a loaded host.
pub(crate) const NUDGE_STAGGER: Duration = Duration::from_millis(100);

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn only_a_newly_elected_other_leader_is_contact() {
        assert!(newly_elected(3, 4, Some(7), 1));
        assert!(!newly_elected(4, 4, Some(7), 1), "same term: no news");
        assert!(!newly_elected(3, 5, None, 1), "an election under way");
        assert!(!newly_elected(3, 4, Some(1), 1), "itself");
    }

    #[test]
    fn a_silence_past_the_timeout_cuts_and_an_acknowledgement_restores() {
        let t0 = Instant::now();
        let cut = CutOff {
            fencing_timeout: 5 * SEC,
        };
        let mut contact = Contact::new(t0);
        contact.acknowledged(t0, 2, Some(Duration::ZERO), Duration::ZERO);
        assert!(!cut.is_cut(&contact, t0 + 5 * SEC), "exactly the timeout");
        assert_eq!(cut.deadline(&contact), t0 + 5 * SEC);
        let later = t0 + 6 * SEC;
        let now_cut = cut.is_cut(&contact, later);
        assert!(now_cut);
        assert_eq!(
            CutOff::transition(false, now_cut, contact.silence(later)),
            Transition::Cut { silence: 6 * SEC }
        );
        assert_eq!(
            CutOff::transition(true, now_cut, contact.silence(later)),
            Transition::Unchanged,
            "cut once"
        );
        // The leader answers: its last quorum acknowledgement was 1 s before the answer,
        // credited with a lease of 300 ms.
        let answered = t0 + 7 * SEC;
        contact.acknowledged(answered, 2, Some(SEC), Duration::from_millis(300));
        assert_eq!(contact.at, answered - Duration::from_millis(700));
        let now_cut = cut.is_cut(&contact, answered);
        assert!(!now_cut);
        assert_eq!(
            CutOff::transition(true, now_cut, contact.silence(answered)),
            Transition::Restored
        );
        assert_eq!(
            CutOff::transition(false, now_cut, Duration::ZERO),
            Transition::Unchanged
        );
    }

    #[test]
    fn an_answer_without_a_quorum_acknowledgement_is_no_contact() {
        // A leader cut off in a minority goes on answering, without a recent quorum.
        let t0 = Instant::now();
        let cut = CutOff {
            fencing_timeout: 5 * SEC,
        };
        let mut contact = Contact::new(t0);
        contact.acknowledged(t0 + 6 * SEC, 3, None, Duration::ZERO);
        assert_eq!(contact.term, 3);
        assert!(cut.is_cut(&contact, t0 + 6 * SEC));
        // An old acknowledgement does not move the contact back either.
        contact.acknowledged(t0 + 6 * SEC, 1, Some(5 * SEC), Duration::ZERO);
        assert_eq!((contact.at, contact.term), (t0 + SEC, 3));
        contact.acknowledged(t0 + 6 * SEC, 1, Some(6 * SEC), Duration::ZERO);
        assert_eq!(contact.at, t0 + SEC);
    }

    #[test]
    fn a_failover_is_not_taken_for_a_cut() {
        // The leader of term 2 dies; term 3 elects another before this instance ticked it.
        let t0 = Instant::now();
        let cut = CutOff {
            fencing_timeout: 5 * SEC,
        };
        let mut contact = Contact::new(t0);
        contact.acknowledged(t0, 2, Some(Duration::ZERO), Duration::ZERO);
        let elected = t0 + 4 * SEC;
        // A candidate's term alone: no leader named, no contact.
        assert!(!contact.leader_known(3, None, 1, elected));
        // Itself elected: its own contact is its quorum acknowledgement, not this.
        assert!(!contact.leader_known(3, Some(1), 1, elected));
        assert!(contact.leader_known(3, Some(7), 1, elected));
        assert_eq!((contact.at, contact.term), (elected, 3));
        assert!(
            !cut.is_cut(&contact, t0 + 6 * SEC),
            "counted from the election"
        );
        // The same leader known again is no news: the silence goes on from the election.
        assert!(!contact.leader_known(3, Some(7), 1, t0 + 8 * SEC));
        assert!(cut.is_cut(&contact, t0 + 10 * SEC));
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

    #[test]
    fn the_surviving_voters_nudge_in_turn_once_per_heartbeat() {
        let voters: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let hb = Instant::now();
        let lease = Duration::from_millis(300);
        let nudge = |local, leader, last: Option<(&str, Instant)>, asked| {
            election_nudge(&voters, local, leader, last, asked, lease)
        };
        // The leader "a" is dead: "b" is the first survivor, "c" comes one turn later.
        assert_eq!(
            nudge("b", "a", Some(("a", hb)), None),
            Some(Nudge {
                heartbeat: hb,
                due: hb + Duration::from_millis(330)
            })
        );
        assert_eq!(
            nudge("c", "a", Some(("a", hb)), None).map(|n| n.due),
            Some(hb + Duration::from_millis(330) + NUDGE_STAGGER)
        );
        // The leader "b" is dead: "a" is the first survivor, then "c".
        assert_eq!(
            nudge("a", "b", Some(("b", hb)), None).map(|n| n.due),
            Some(hb + Duration::from_millis(330))
        );
        assert_eq!(
            nudge("c", "b", Some(("b", hb)), None).map(|n| n.due),
            Some(hb + Duration::from_millis(330) + NUDGE_STAGGER)
        );
        // Once per heartbeat: a new one is probed again.
        assert_eq!(nudge("b", "a", Some(("a", hb)), Some(hb)), None);
        let next = hb + Duration::from_millis(150);
        assert!(nudge("b", "a", Some(("a", next)), Some(hb)).is_some());
        // No heartbeat from that leader (another's, or none): nothing to count from.
        assert_eq!(nudge("b", "a", Some(("c", hb)), None), None);
        assert_eq!(nudge("b", "a", None, None), None);
        // Not a voter, or the only voter left is the leader.
        assert_eq!(nudge("x", "a", Some(("a", hb)), None), None);
        assert_eq!(
            election_nudge(&["a".to_string()], "a", "a", Some(("a", hb)), None, lease),
            None
        );
    }
}
