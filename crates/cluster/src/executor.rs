//! The commander's hands: while this node leads, run the installed [`Planner`] on every change
//! of the replica (and on a short timer, for its timeouts), commit what it decided, and send
//! its orders to the instances' local supervisors over the internal port.
//!
//! The planner is pure and re-emits the orders of every decision still waiting for an effect;
//! the executor sends each order once, and again only after
//! [`RESEND_AFTER`](crate::dispatch::RESEND_AFTER) if the planner still asks for it (a lost
//! request, an instance that was restarting). Orders are batched per instance, so a
//! deployment of a thousand processes is a few requests, not a thousand: what to send and how
//! is [`crate::dispatch`]'s decision, pure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use procman::SupervisorApi;
use tokio_util::sync::CancellationToken;

use crate::dispatch::Dispatch;
use crate::inner::{Core, SharedPlanner};
use crate::jobs::{Clock, FinalAction, Order, Plan};
use crate::state::Command;
use crate::wire::{OrdersReply, OrdersRequest, WriteReply, PATH_ORDERS};

/// Longest pause between two planning rounds when nothing changes while a job runs (its
/// timeouts are checked on this beat) or after a round that acted. An empty plan that time
/// alone cannot change ([`data::Plan::timed`]) waits for the state to change instead, or for
/// [`IDLE_PLAN_PERIOD`].
const PLAN_PERIOD: Duration = Duration::from_millis(250);

/// The pause after an empty plan that time alone cannot change: the planner also reads what
/// is not replicated (the rules and programs of the daemon's config, replaced by a reload),
/// and this beat is what picks such a change up when the state does not move with it.
const IDLE_PLAN_PERIOD: Duration = Duration::from_secs(5);

/// Budget of one batch of orders to one instance.
const ORDERS_TIMEOUT: Duration = Duration::from_secs(5);

use model::time::epoch_ms;

/// What the commander's loop works with: the core, the planner the daemon installed, and the
/// local supervisor (the orders for this instance are run here, not sent).
pub(crate) struct CommanderCtx {
    pub(crate) core: Arc<Core>,
    pub(crate) planner: SharedPlanner,
    pub(crate) supervisor: procman::Supervisor,
}

/// The leader's clock for one term: the wall clock read once, when the term's commander
/// starts, then advanced by the monotonic clock. The jobs' stamps and timeouts are wall-clock
/// times (a successor must be able to judge them), but within a term a step of this host's
/// wall clock (NTP, an operator, a VM resumed) must neither fail every job in progress at
/// once (a step forward past their timeouts) nor stall them (a step back).
#[derive(Debug, Clone, Copy)]
struct TermClock {
    since_ms: i64,
    start: Instant,
}

impl TermClock {
    fn start() -> Self {
        Self::starting_at(epoch_ms(), Instant::now())
    }

    fn starting_at(since_ms: i64, start: Instant) -> Self {
        TermClock { since_ms, start }
    }

    fn now(&self) -> Clock {
        self.at(Instant::now())
    }

    fn at(&self, now: Instant) -> Clock {
        let elapsed = now.saturating_duration_since(self.start).as_millis();
        Clock {
            now_ms: self
                .since_ms
                .saturating_add(i64::try_from(elapsed).unwrap_or(i64::MAX)),
            leading_since_ms: self.since_ms,
        }
    }
}

/// Runs until `stop` (end of leadership or shutdown). Does nothing without a planner.
pub(crate) async fn commander_loop(ctx: Arc<CommanderCtx>, stop: CancellationToken) {
    let mut replica = ctx.core.replica.clone();
    let mut dispatch = Dispatch::default();
    let term = ctx.core.metrics.borrow().current_term;
    let clock = TermClock::start();
    loop {
        let planner = ctx.planner.lock().ok().and_then(|p| p.clone());
        // Without a planner yet, or after a plan that did something (its writes or orders
        // may have failed: planning again retries them), the next round comes on the beat.
        let mut beat = true;
        if let Some(planner) = planner {
            let plan = {
                let replica = replica.borrow_and_update();
                planner(&replica.state, clock.now())
            };
            if plan.is_empty() {
                beat = plan.timed;
            } else {
                execute(&ctx, &stop, plan, &mut dispatch, term).await;
            }
        }
        let rest = if beat { PLAN_PERIOD } else { IDLE_PLAN_PERIOD };
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = replica.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(rest) => {}
        }
    }
}

async fn execute(
    ctx: &Arc<CommanderCtx>,
    stop: &CancellationToken,
    plan: Plan,
    dispatch: &mut Dispatch,
    term: u64,
) {
    if !plan.ops.is_empty() {
        tracing::debug!(ops = plan.ops.len(), "commander commits");
        if let reply @ (WriteReply::NotLeader { .. }
        | WriteReply::CutOff
        | WriteReply::Timeout { .. }
        | WriteReply::Failed(_)) = ctx.core.write_as_leader(Command::Jobs(plan.ops)).await
        {
            tracing::debug!(?reply, "commander write failed; will plan again");
            return;
        }
    }
    if let Some(state) = plan.supvisors_state {
        tracing::info!(%state, "commander moves the Supvisors state");
        let _ = ctx
            .core
            .write_as_leader(Command::SetSupvisorsState { state })
            .await;
    }
    if stop.is_cancelled() {
        return;
    }
    let round = dispatch.round(plan.orders, Instant::now(), &ctx.core.local);
    let sends = round
        .batches
        .into_iter()
        .map(|(instance, orders)| send(ctx.clone(), instance, orders, term));
    futures_util::future::join_all(sends).await;
    // The final orders go last, the leader's own after everybody else's (in that order in
    // the round): once it restarts or shuts down, nobody is left to order the others.
    for order in round.finals {
        let instance = order.instance().to_string();
        send(ctx.clone(), instance, vec![order], term).await;
    }
}

async fn send(ctx: Arc<CommanderCtx>, instance: String, orders: Vec<Order>, term: u64) {
    tracing::debug!(%instance, count = orders.len(), "commander orders");
    if instance == ctx.core.local {
        for (order, result) in orders
            .iter()
            .zip(run_orders(&ctx.supervisor, &orders).await)
        {
            if let Err((code, text)) = result {
                tracing::debug!(?order, code, %text, "order answered with a fault");
            }
        }
        return;
    }
    let Some(addr) = ctx.core.addrs.get(&instance).cloned() else {
        tracing::warn!(%instance, "commander: no address for instance");
        return;
    };
    let request = OrdersRequest { term, orders };
    match ctx
        .core
        .client
        .call::<_, OrdersReply>(&addr, PATH_ORDERS, &request, ORDERS_TIMEOUT)
        .await
    {
        Ok(OrdersReply::Done(results)) => {
            for (order, result) in request.orders.iter().zip(results) {
                if let Err((code, text)) = result {
                    tracing::debug!(?order, code, %text, "order answered with a fault");
                }
            }
        }
        Ok(OrdersReply::NotLeader { leader }) => {
            tracing::debug!(%instance, ?leader, "orders refused: not the leader there yet")
        }
        Err(e) => tracing::debug!(%instance, error = %e, "orders not delivered"),
    }
}

/// Answers [`PATH_ORDERS`]: only the leader this instance knows may give orders, so a deposed
/// leader that has not noticed yet cannot start duplicates.
pub(crate) async fn on_orders(
    core: &Core,
    supervisor: &procman::Supervisor,
    from: &str,
    request: OrdersRequest,
) -> OrdersReply {
    let (leader, term) = {
        let m = core.metrics.borrow();
        (m.current_leader, m.current_term)
    };
    let leader = leader.and_then(|id| core.identifier_of(id));
    if leader.as_deref() != Some(from) || request.term < term {
        return OrdersReply::NotLeader { leader };
    }
    OrdersReply::Done(run_orders(supervisor, &request.orders).await)
}

/// Executes orders on the local supervisor, none waiting for the process to settle (the
/// commander follows progress through the replicated process events).
async fn run_orders(
    supervisor: &procman::Supervisor,
    orders: &[Order],
) -> Vec<Result<(), (i32, String)>> {
    let mut results = Vec::with_capacity(orders.len());
    for order in orders {
        let result = match order {
            Order::Start {
                namespec,
                extra_args,
                ..
            } => {
                if extra_args.is_empty() {
                    supervisor.start_process(namespec, false).await
                } else {
                    supervisor
                        .start_process_args(namespec, extra_args, false)
                        .await
                }
            }
            Order::Stop { namespec, .. } => supervisor.stop_process(namespec, false).await,
            Order::Final { action, .. } => {
                tracing::warn!(?action, "commander: end of the global stop sequence");
                match action {
                    FinalAction::Restart => supervisor.restart(),
                    FinalAction::Shutdown => supervisor.shutdown(),
                }
            }
        };
        results.push(result.map_err(|f| (f.code.code(), f.fault_string())));
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The term's clock moves with the monotonic clock from the wall-clock reading at its
    /// start, whatever the wall clock does meanwhile: a start timed out after 5 s is still
    /// given its 5 s when the host's clock steps 20 s forward during it.
    #[test]
    fn the_term_clock_advances_with_the_monotonic_clock_only() {
        let t0 = Instant::now();
        let clock = TermClock::starting_at(1_000_000, t0);
        assert_eq!(
            clock.at(t0),
            Clock {
                now_ms: 1_000_000,
                leading_since_ms: 1_000_000
            }
        );
        let later = clock.at(t0 + Duration::from_millis(4_250));
        assert_eq!(later.now_ms, 1_004_250);
        assert_eq!(later.leading_since_ms, 1_000_000);
        // An instant before the start (not produced by `now`, but never a panic).
        assert_eq!(
            clock
                .at(t0.checked_sub(Duration::from_secs(1)).unwrap_or(t0))
                .now_ms,
            1_000_000
        );
    }
}
