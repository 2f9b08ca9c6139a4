//! Who may call an election: openraft 0.9 has no pre-vote, so a voter cut off from the others
//! raises its term with every election timeout it calls (each one a vote nobody can grant),
//! and when its link comes back, the leader it answers with that term steps down: a healthy
//! majority loses its master, and for the election that follows — longer than a failover,
//! since the returning voter's log is behind — every instance is without contact, long enough
//! to be judged cut off and to fence what it runs. A partition that heals must not cost the
//! majority its application.
//!
//! So a voter calls elections (openraft's `enable_elect`) only while it hears a leader or can
//! reach a majority of the voters: once the leader's heartbeats lapse, elections are off until
//! a TCP connect to the others' internal ports reaches enough of them, tried again every tick
//! while none does. The lapse is seen (the ticker's `carried_within`) before openraft's
//! election timer can fire (leader lease + election timeout after the last heartbeat), and a
//! reachable majority answers a connect within a millisecond, so a failover is not delayed.
//! A voter that was cut off waits a grace once the majority is back in reach, for the leader's
//! next heartbeat ([`CampaignGate::probed`]). Only a leader's fresh note counts as hearing
//! it: it comes on an append-entries call, which is what resets openraft's election timer (an
//! answered tick does not), and it is refused when it was held in a buffer during the cut.
//! The election asked for when the leader's port refuses connections
//! ([`crate::ticker`]'s nudge) is not gated: a refusal came from the leader's host, which is
//! then reachable. The one asked for when the leader's host does not answer is gated the same
//! way, by a probe of its own: a majority of the voters without the leader must accept.
//!
//! [`CampaignGate`] is the pure part (no I/O, the clock given); [`majority_reachable`] the
//! probe.

use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use model::net::HostPort;

use crate::probe::accepted;

/// The election switch of one voter, as the ticker drives it.
#[derive(Debug)]
pub(crate) struct CampaignGate {
    /// Whether this voter's elections are allowed (the value last given to openraft).
    allowed: bool,
    /// The leader has not been heard since the last `silent`.
    silent: bool,
    /// A probe is running (its result comes back through [`Self::probed`]).
    probing: bool,
    /// No new probe before this.
    next_probe: Option<Instant>,
    /// The last probe found no majority: this voter was cut off, and a leader may well be
    /// alive on the other side.
    isolated: bool,
    /// Since when the probes of a cut-off voter have found a majority again.
    reachable_since: Option<Instant>,
}

/// What the ticker does after a step of the gate.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct GateStep {
    /// Set openraft's `enable_elect` to this.
    pub(crate) elect: Option<bool>,
    /// Start a probe of the voters ([`majority_reachable`]).
    pub(crate) probe: bool,
}

impl Default for CampaignGate {
    fn default() -> Self {
        // openraft starts with elections on; the first silence turns them off.
        CampaignGate {
            allowed: true,
            silent: false,
            probing: false,
            next_probe: None,
            isolated: false,
            reachable_since: None,
        }
    }
}

impl CampaignGate {
    fn set(&mut self, allowed: bool) -> Option<bool> {
        (self.allowed != allowed).then(|| {
            self.allowed = allowed;
            allowed
        })
    }

    /// A leader's note was received lately, or this node leads: openraft calls
    /// no election while it hears a leader, so they are allowed again for when it stops.
    pub(crate) fn heard(&mut self) -> GateStep {
        self.silent = false;
        self.next_probe = None;
        self.isolated = false;
        self.reachable_since = None;
        GateStep {
            elect: self.set(true),
            probe: false,
        }
    }

    /// No leader heard at `now`: elections off until a probe finds a majority; a probe is
    /// started when none runs and the last one is at least a tick old.
    pub(crate) fn silent(&mut self, now: Instant) -> GateStep {
        let elect = if self.silent {
            None
        } else {
            self.silent = true;
            self.set(false)
        };
        let probe = !self.probing && self.next_probe.is_none_or(|at| now >= at);
        if probe {
            self.probing = true;
        }
        GateStep { elect, probe }
    }

    /// A probe's result at `now`: whether a majority of the voters was reachable. The next
    /// probe comes `every` later if the leader is still not heard.
    ///
    /// A voter that was cut off (a probe found no majority) and reaches a majority again waits
    /// `grace` more before it may call an election: the link is back, but the leader's
    /// heartbeats, which reset openraft's election timer, come only at the leader's next try;
    /// elections allowed before then would fire at once (the timer ran out long ago) and
    /// depose a live leader. A voter whose first probe finds a majority (the leader died) is
    /// not kept waiting.
    pub(crate) fn probed(
        &mut self,
        majority: bool,
        now: Instant,
        every: Duration,
        grace: Duration,
    ) -> GateStep {
        self.probing = false;
        if !self.silent {
            // Heard meanwhile: elections are on already, whatever the probe saw.
            return GateStep {
                elect: None,
                probe: false,
            };
        }
        self.next_probe = Some(now + every);
        let allowed = if !majority {
            self.isolated = true;
            self.reachable_since = None;
            false
        } else if self.isolated {
            let since = *self.reachable_since.get_or_insert(now);
            now.duration_since(since) >= grace
        } else {
            true
        };
        GateStep {
            elect: self.set(allowed),
            probe: false,
        }
    }
}

/// Whether this voter and the voters of `others` that accept a TCP connect within `timeout`
/// make a majority of `voters` (this one included). Returns as soon as the count is reached.
pub(crate) async fn majority_reachable(
    others: Vec<HostPort>,
    voters: usize,
    timeout: Duration,
) -> bool {
    let needed = voters / 2 + 1;
    let mut reached = 1;
    if reached >= needed {
        return true;
    }
    let mut connects: FuturesUnordered<_> = others
        .into_iter()
        .map(|addr| async move { accepted(&addr, timeout).await })
        .collect();
    while let Some(accepted) = connects.next().await {
        if accepted {
            reached += 1;
            if reached >= needed {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(100);
    const GRACE: Duration = Duration::from_millis(700);

    fn step(elect: Option<bool>, probe: bool) -> GateStep {
        GateStep { elect, probe }
    }

    #[test]
    fn a_silence_turns_elections_off_until_a_probe_finds_a_majority() {
        let t0 = Instant::now();
        let mut g = CampaignGate::default();
        assert_eq!(g.heard(), step(None, false));
        // The leader lapses: off at once, and one probe.
        assert_eq!(g.silent(t0), step(Some(false), true));
        // Still silent while the probe runs: no second probe, no change.
        assert_eq!(g.silent(t0 + TICK / 2), step(None, false));
        // A majority at the first probe (the leader died): on at once, no grace.
        assert_eq!(
            g.probed(true, t0 + TICK / 2, TICK, GRACE),
            step(Some(true), false)
        );
    }

    #[test]
    fn a_cut_off_voter_waits_a_grace_once_the_majority_is_back() {
        let t0 = Instant::now();
        let mut g = CampaignGate::default();
        assert_eq!(g.silent(t0), step(Some(false), true));
        // Nobody reachable: stays off; probed again a tick later, not before.
        assert_eq!(g.probed(false, t0, TICK, GRACE), step(None, false));
        assert_eq!(g.silent(t0 + TICK / 2), step(None, false));
        assert_eq!(g.silent(t0 + TICK), step(None, true));
        assert_eq!(g.probed(false, t0 + TICK, TICK, GRACE), step(None, false));
        // The link is back: the majority is reachable, but the leader gets `GRACE` to be
        // heard before this voter may call an election.
        let back = t0 + TICK * 2;
        assert_eq!(g.silent(back), step(None, true));
        assert_eq!(g.probed(true, back, TICK, GRACE), step(None, false));
        let mut t = back;
        while t + TICK < back + GRACE {
            t += TICK;
            assert_eq!(g.silent(t), step(None, true));
            assert_eq!(g.probed(true, t, TICK, GRACE), step(None, false), "{t:?}");
        }
        // Nobody was heard in the grace: no leader on the other side either; on.
        t += TICK;
        assert_eq!(g.silent(t), step(None, true));
        assert_eq!(g.probed(true, t, TICK, GRACE), step(Some(true), false));
        // It stops being reachable while still silent: off again at the next probe.
        t += TICK;
        assert_eq!(g.silent(t), step(None, true));
        assert_eq!(g.probed(false, t, TICK, GRACE), step(Some(false), false));
    }

    #[test]
    fn hearing_a_leader_turns_elections_on_and_a_late_probe_changes_nothing() {
        let t0 = Instant::now();
        let mut g = CampaignGate::default();
        assert_eq!(g.silent(t0), step(Some(false), true));
        assert_eq!(g.heard(), step(Some(true), false));
        // The probe started in the silence ends after the leader was heard: ignored.
        assert_eq!(g.probed(false, t0 + TICK, TICK, GRACE), step(None, false));
        // A new silence: off, and a probe at once (the last one's pause does not hold).
        assert_eq!(
            g.silent(t0 + TICK + Duration::from_millis(1)),
            step(Some(false), true)
        );
        // Not cut off before: a majority is enough at once.
        assert_eq!(
            g.probed(true, t0 + TICK * 2, TICK, GRACE),
            step(Some(true), false)
        );
    }

    #[tokio::test]
    async fn a_majority_counts_this_voter_and_the_ports_that_accept() {
        let a = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let b = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up = HostPort::from(a.local_addr().unwrap());
        let closed = HostPort::from(b.local_addr().unwrap());
        drop(b);
        let t = Duration::from_secs(2);
        // Alone: a majority of one.
        assert!(majority_reachable(vec![], 1, t).await);
        // 3 voters: this one and one that accepts.
        assert!(majority_reachable(vec![closed.clone(), up.clone()], 3, t).await);
        // 3 voters, the others' ports closed: no majority.
        assert!(!majority_reachable(vec![closed.clone(), closed.clone()], 3, t).await);
        // 5 voters: this one and one reachable are not enough.
        assert!(!majority_reachable(vec![up, closed.clone(), closed.clone(), closed], 5, t).await);
    }
}
