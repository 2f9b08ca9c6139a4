//! Which of the planner's orders the commander's executor sends now, and how, pure (no I/O,
//! the time given): the planner re-emits the orders of every decision still waiting for an
//! effect, so each is sent once, and again only after [`RESEND_AFTER`] if the planner still
//! asks for it (a lost request, an instance that was restarting); orders are batched per
//! instance, so a deployment of a thousand processes is a few requests, not a thousand; the
//! final orders (restart or shut down a daemon) go last, one at a time, the leader's own after
//! everybody else's. [`crate::executor`] sends what [`Dispatch::round`] says.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::jobs::Order;

/// An order the planner still asks for is sent again after this long.
pub(crate) const RESEND_AFTER: Duration = Duration::from_secs(3);

/// What one planning round sends, in this order.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Round {
    /// The start and stop orders, one batch per instance (sent concurrently).
    pub(crate) batches: BTreeMap<String, Vec<Order>>,
    /// The final orders, sent one by one after the batches: the others' first, then the
    /// leader's own — once it restarts or shuts down, nobody is left to order the others.
    pub(crate) finals: Vec<Order>,
}

/// The orders sent lately and when, for one leadership (a new leader starts afresh).
#[derive(Debug, Default)]
pub(crate) struct Dispatch {
    sent: HashMap<Order, Instant>,
}

impl Dispatch {
    /// What to send of `orders` (the planner's, this round) at `now`; `local` is the leader's
    /// own instance. Records what it returns as sent at `now`.
    pub(crate) fn round(&mut self, orders: Vec<Order>, now: Instant, local: &str) -> Round {
        // An order the planner no longer asks for has had its effect (the process moved):
        // forget it, so that the same order for a later request goes out at once instead of
        // waiting for the resend delay.
        let wanted: HashSet<&Order> = orders.iter().collect();
        self.sent.retain(|order, _| wanted.contains(order));
        drop(wanted);
        let mut round = Round::default();
        for order in orders {
            if self
                .sent
                .get(&order)
                .is_some_and(|at| now.duration_since(*at) < RESEND_AFTER)
            {
                continue;
            }
            self.sent.insert(order.clone(), now);
            if matches!(order, Order::Final { .. }) {
                round.finals.push(order);
            } else {
                round
                    .batches
                    .entry(order.instance().to_string())
                    .or_default()
                    .push(order);
            }
        }
        let (own, others): (Vec<Order>, Vec<Order>) = round
            .finals
            .into_iter()
            .partition(|o| o.instance() == local);
        round.finals = others.into_iter().chain(own).collect();
        round
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::FinalAction;

    fn start(instance: &str, namespec: &str) -> Order {
        Order::Start {
            instance: instance.into(),
            namespec: namespec.into(),
            extra_args: String::new(),
        }
    }

    fn stop(instance: &str, namespec: &str) -> Order {
        Order::Stop {
            instance: instance.into(),
            namespec: namespec.into(),
        }
    }

    fn last(instance: &str) -> Order {
        Order::Final {
            instance: instance.into(),
            action: FinalAction::Shutdown,
        }
    }

    #[test]
    fn orders_are_batched_per_instance_in_the_planners_order() {
        let mut d = Dispatch::default();
        let orders = vec![start("b", "g:1"), start("a", "g:2"), stop("b", "g:3")];
        let round = d.round(orders, Instant::now(), "a");
        assert_eq!(round.batches.len(), 2);
        assert_eq!(round.batches["a"], [start("a", "g:2")]);
        assert_eq!(round.batches["b"], [start("b", "g:1"), stop("b", "g:3")]);
        assert!(round.finals.is_empty());
    }

    #[test]
    fn an_order_still_asked_for_is_resent_only_after_the_delay() {
        let mut d = Dispatch::default();
        let t0 = Instant::now();
        let orders = vec![start("a", "g:1")];
        assert_eq!(d.round(orders.clone(), t0, "a").batches.len(), 1);
        let soon = t0 + RESEND_AFTER - Duration::from_millis(1);
        assert_eq!(d.round(orders.clone(), soon, "a"), Round::default());
        // A new order in the same round goes out at once; the old one still waits.
        let more = vec![start("a", "g:1"), start("a", "g:2")];
        assert_eq!(
            d.round(more.clone(), soon, "a").batches["a"],
            [start("a", "g:2")]
        );
        // Resent once the delay has run out (counted from the first sending).
        let late = t0 + RESEND_AFTER;
        assert_eq!(d.round(more, late, "a").batches["a"], [start("a", "g:1")]);
    }

    #[test]
    fn an_order_no_longer_asked_for_is_forgotten() {
        let mut d = Dispatch::default();
        let t0 = Instant::now();
        let order = vec![stop("a", "g:1")];
        d.round(order.clone(), t0, "a");
        // The process stopped: the planner asks for nothing.
        assert_eq!(d.round(Vec::new(), t0, "a"), Round::default());
        // A later request for the same stop goes out at once.
        let again = t0 + Duration::from_millis(10);
        assert_eq!(d.round(order.clone(), again, "a").batches["a"], order);
    }

    #[test]
    fn finals_go_last_and_the_leaders_own_after_the_others() {
        let mut d = Dispatch::default();
        let orders = vec![last("a"), start("c", "g:1"), last("b"), last("c")];
        let round = d.round(orders, Instant::now(), "a");
        assert_eq!(round.batches.len(), 1);
        assert_eq!(round.batches["c"], [start("c", "g:1")]);
        assert_eq!(round.finals, [last("b"), last("c"), last("a")]);
        // Sent once, as the other orders.
        let round = d.round(vec![last("a")], Instant::now(), "a");
        assert!(round.finals.is_empty());
    }
}
