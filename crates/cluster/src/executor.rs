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
use crate::inner::{Core, FullSyncRequest, SharedPlanner};
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
    /// The local feed's full sync ([`run_orders`]).
    pub(crate) full_sync_request: FullSyncRequest,
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
            .zip(run_orders(&ctx.supervisor, &ctx.full_sync_request, &orders).await)
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
    full_sync: &FullSyncRequest,
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
    OrdersReply::Done(run_orders(supervisor, full_sync, &request.orders).await)
}

/// Executes orders on the local supervisor, none waiting for the process to settle (the
/// commander follows progress through the replicated process events).
///
/// A start the supervisor answers ALREADY_STARTED means the leader's replica does not show
/// that process running here, while it is: the commander only orders starts of what it sees
/// stopped. No event will correct it (the process does not change), so the instance sends
/// the full list of its processes (`full_sync`): otherwise the start's item waits for a
/// STARTING event that never comes, fails, and the process stays FATAL in every view while
/// it runs (seen in a chaos run under packet loss).
async fn run_orders(
    supervisor: &procman::Supervisor,
    full_sync: &FullSyncRequest,
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
        if let (Order::Start { namespec, .. }, Err(fault)) = (order, &result) {
            if fault.code == model::FaultCode::AlreadyStarted {
                tracing::info!(
                    %namespec,
                    "ordered to start what runs here: sending every process's status"
                );
                full_sync.notify_one();
            }
        }
        results.push(result.map_err(|f| (f.code.code(), f.fault_string())));
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A supervisor with one program, `sleeper` (`sleep 60`, not autostarted), in `dir`.
    fn supervisor(dir: &std::path::Path) -> (procman::Supervisor, procman::Completion) {
        use model::*;
        let log = LogSpec {
            maxbytes: 1024 * 1024,
            backups: 1,
            ..LogSpec::new(LogTarget::None)
        };
        let group = GroupSpec::single(ProcessSpec {
            autostart: false,
            startsecs: 0,
            startretries: 0,
            autorestart: AutoRestart::False,
            stdout: log.clone(),
            stderr: log,
            ..ProcessSpec::new("sleeper", vec!["sleep".into(), "60".into()])
        });
        let supervisord = SupervisordSpec {
            logfile_maxbytes: 0,
            logfile_backups: 0,
            nodaemon: true,
            silent: true,
            identifier: "test".into(),
            ..SupervisordSpec::in_dir(dir)
        };
        let cfg = Config::new(dir, supervisord, vec![group]);
        let again = cfg.clone();
        let opts = procman::Options {
            reloader: Arc::new(move || Ok(again.clone())),
            main_log: None,
            server_url: None,
            shutdown: CancellationToken::new(),
            defer_autostart: false,
        };
        procman::Supervisor::start(cfg, opts).expect("supervisor starts")
    }

    /// An order to start what already runs here says the leader's replica has it wrong: the
    /// instance then sends the full list of its processes, which nothing else would do.
    #[tokio::test]
    async fn a_start_of_what_already_runs_sends_a_full_sync() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (sup, done) = supervisor(dir.path());
        let full_sync: FullSyncRequest = Arc::new(tokio::sync::Notify::new());
        let start = [Order::Start {
            instance: "test".into(),
            namespec: "sleeper".into(),
            extra_args: String::new(),
        }];
        let asked = |n: &FullSyncRequest| {
            let n = n.clone();
            async move {
                tokio::time::timeout(Duration::from_millis(50), n.notified())
                    .await
                    .is_ok()
            }
        };
        assert_eq!(run_orders(&sup, &full_sync, &start).await, [Ok(())]);
        assert!(
            !asked(&full_sync).await,
            "a start that started: no full sync"
        );
        let again = run_orders(&sup, &full_sync, &start).await;
        assert!(
            matches!(&again[..], [Err((code, _))] if *code == model::FaultCode::AlreadyStarted.code()),
            "{again:?}"
        );
        assert!(asked(&full_sync).await, "already started: a full sync");
        let _ = sup.shutdown();
        tokio::time::timeout(Duration::from_secs(10), done.wait())
            .await
            .expect("supervisor ends");
    }

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
