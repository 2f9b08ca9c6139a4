//! The fence of a cut-off instance (`no_quorum_policy`): it stops what the majority would
//! restart elsewhere, SIGKILLing within `fence_stop_timeout`, and once contact returns tells
//! the cluster what it stopped ([`report_fence`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use procman::SupervisorApi;
use tokio::task::JoinHandle;

use model::supvisors::NoQuorumPolicy;

use crate::inner::pause;
use crate::inner::{Core, FencePolicy, SharedFencePolicy};
use crate::state::{ClusterState, Command, CommandResult, StoppedRun};
use std::sync::atomic::{AtomicU64, Ordering};

/// What the fence works with: the core (the replica, the write of its report), the local
/// supervisor it stops programs on, and the `stop_movable` policy the daemon installed.
pub(crate) struct FenceCtx {
    pub(crate) core: Arc<Core>,
    pub(crate) supervisor: procman::Supervisor,
    pub(crate) policy: SharedFencePolicy,
    /// The loss count this instance's last applied report moved the cluster to (0: none yet).
    pub(crate) reported: AtomicU64,
    /// Held by the report being sent: reports go one after the other ([`in_turn`]).
    pub(crate) report_turn: tokio::sync::Mutex<()>,
}

/// What a fence stopped, as the local replica counted the instance's losses when it began
/// (see [`crate::state::Command::Fenced`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FenceReport {
    losses: u64,
    stopped: Vec<StoppedRun>,
}

/// Once contact is back: tells the cluster what the fence stopped (`Command::Fenced`), so that
/// if the majority never declared this instance lost — the cut was shorter than its wait —
/// those processes still go through their running-failure strategies instead of staying
/// stopped. The state machine ignores the report when the loss was declared meanwhile.
/// Retried for a minute (a leader may be being elected); waits for the fence to finish first,
/// then (up to [`STOPS_COMMIT_WAIT`]) for its stops to be committed ([`stops_committed`]).
pub(crate) async fn report_fence(ctx: Arc<FenceCtx>, fence: JoinHandle<Option<FenceReport>>) {
    let Ok(Some(report)) = fence.await else {
        return;
    };
    let wait_stops = Instant::now() + STOPS_COMMIT_WAIT;
    let mut replica = ctx.core.replica.clone();
    while !stops_committed(&replica.borrow().state, &ctx.core.local, &report.stopped) {
        if Instant::now() >= wait_stops {
            tracing::warn!(
                waited_ms = STOPS_COMMIT_WAIT.as_millis() as u64,
                "fence: its stops are not committed yet; reporting anyway"
            );
            break;
        }
        tokio::select! {
            _ = ctx.core.shutdown.cancelled() => return,
            _ = replica.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    let stopped = report.stopped;
    let local = ctx.core.local.clone();
    let core = ctx.core.clone();
    let write = |losses| async move {
        let cmd = Command::Fenced {
            instance: local,
            losses,
            stopped,
        };
        let give_up = Instant::now() + Duration::from_secs(60);
        loop {
            match core.write(cmd.clone()).await {
                Ok(result) => {
                    tracing::info!(?result, "fence: reported to the cluster");
                    return Some(result);
                }
                Err(e) if Instant::now() < give_up => {
                    tracing::debug!(error = %e, "fence: report not committed yet");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "fence: report abandoned; the stopped programs stay stopped");
                    return None;
                }
            }
            if !pause(&core, Duration::from_millis(200)).await {
                return None;
            }
        }
    };
    in_turn(&ctx.report_turn, &ctx.reported, report.losses, write).await;
}

/// Sends one fence report (`write`, given the loss count it carries) after every report of
/// this instance before it has ended, and records the count an applied one moved the
/// cluster to. Two cuts in a row each have a report waiting for contact; sent at once, both
/// carried the same count and the second was ignored as stale, its stopped program never
/// restarted (seen in the chaos suite's packet loss). In turn, the second carries the count
/// the first moved the cluster to ([`report_losses`]).
async fn in_turn<W, F>(
    turn: &tokio::sync::Mutex<()>,
    reported: &AtomicU64,
    at_fence: u64,
    write: W,
) -> Option<CommandResult>
where
    W: FnOnce(u64) -> F,
    F: std::future::Future<Output = Option<CommandResult>>,
{
    let _turn = turn.lock().await;
    let losses = report_losses(at_fence, reported.load(Ordering::Relaxed));
    let result = write(losses).await;
    if result == Some(CommandResult::Applied) {
        reported.fetch_max(losses + 1, Ordering::Relaxed);
    }
    result
}

/// The loss count a report carries: the one the replica showed when the fence began, unless
/// this instance's previous report, applied since, moved it on. A fence that begins just after
/// a report was committed may read a replica that has not applied that report yet (a second
/// cut soon after the first): its report would carry the old count and be ignored as stale,
/// leaving what it stopped stopped for good. A loss the majority declared meanwhile still
/// moves the count past both, and the report is then ignored, as it must be.
fn report_losses(at_fence: u64, reported: u64) -> u64 {
    at_fence.max(reported)
}

/// How long a fence report waits for the fence's stops to be committed (the process events
/// refused while cut off go out again once contact returns, within a few batches).
const STOPS_COMMIT_WAIT: Duration = Duration::from_secs(5);

/// Whether the replicated state already holds the fence's stops: every run in `stopped` is
/// recorded as ended, or started again since ([`StoppedRun::settled_by`]), or not recorded,
/// for `local`. The fence report waits for this. Committed before those STOPPED events, the
/// report has the majority restart a program — possibly here (CONFIG's first choice) — and
/// the late STOPPED event then reads as the failure of that very restart (the start's item
/// sees a newer record, STOPPED), so the program stays stopped everywhere. A STOPPED record
/// of an earlier run is not enough: the stopped run's STARTING, written just before the cut,
/// could still commit after the report, and the restart the report caused was then skipped
/// as running (seen in a chaos run under packet loss: `seq:first` ran nowhere for good).
/// Once this run's STOPPED is committed, its older STARTING can no longer apply (batches
/// apply in their order, per process).
fn stops_committed(state: &ClusterState, local: &str, stopped: &[StoppedRun]) -> bool {
    let Some(record) = state.instance(local) else {
        return true;
    };
    stopped.iter().all(|run| {
        record
            .processes
            .get(&run.namespec)
            .is_none_or(|p| run.settled_by(&p.status))
    })
}

/// What the fence stops: every running-like local process with `stop_all`, those the fence
/// policy names (what the majority would restart elsewhere) with `stop_movable`, none with
/// `ignore`. `live` are the namespecs running-like or STOPPING on the local supervisor.
fn fence_victims(
    policy: NoQuorumPolicy,
    movable: Option<&FencePolicy>,
    state: &ClusterState,
    local: &str,
    live: &[String],
) -> Vec<String> {
    match policy {
        NoQuorumPolicy::Ignore => Vec::new(),
        NoQuorumPolicy::StopAll => live.to_vec(),
        NoQuorumPolicy::StopMovable => movable.map_or_else(Vec::new, |p| p(state, local, live)),
    }
}

/// Stops what [`fence_victims`] names, all at once: the stop signal, then SIGKILL at most
/// `fence_stop_timeout` later (procman's `stop_process_within`), so every old copy is gone
/// within `SupvisorsSpec::fence_bound` of the last tick the leader received. Returns the
/// processes surely stopped (a failed stop is not reported: it may still run).
pub(crate) async fn fence(ctx: &FenceCtx) -> Option<FenceReport> {
    let started = Instant::now();
    let Ok(infos) =
        tokio::time::timeout(Duration::from_secs(1), ctx.supervisor.all_process_info()).await
    else {
        tracing::error!("fence: the local supervisor did not list its processes within 1 s");
        return None;
    };
    let live: Vec<StoppedRun> = infos
        .iter()
        .filter(|i| i.state.is_running() || i.state == model::ProcessState::Stopping)
        .map(|i| StoppedRun {
            namespec: model::make_namespec(&i.group, &i.name),
            pid: i.pid,
            start: i.start,
        })
        .collect();
    let live_names: Vec<String> = live.iter().map(|r| r.namespec.clone()).collect();
    let policy = ctx.policy.lock().ok().and_then(|p| p.clone());
    let (losses, victims) = {
        let replica = ctx.core.replica.borrow();
        let losses = replica
            .state
            .instance(&ctx.core.local)
            .map_or(0, |r| r.losses);
        let victims = fence_victims(
            ctx.core.spec.no_quorum_policy,
            policy.as_ref(),
            &replica.state,
            &ctx.core.local,
            &live_names,
        );
        (losses, victims)
    };
    if victims.is_empty() {
        tracing::info!(
            no_quorum_policy = ctx.core.spec.no_quorum_policy.name(),
            "fence: nothing to stop"
        );
        return None;
    }
    let kill_after = ctx.core.spec.fence_stop_timeout;
    tracing::warn!(
        ?victims,
        kill_after_ms = kill_after.as_millis() as u64,
        "fence: stopping what the majority would restart elsewhere"
    );
    // Past this, a process is still there: said loudly (procman keeps killing it).
    let patience = kill_after + Duration::from_secs(2);
    let stops = victims.iter().map(|namespec| async move {
        let stop = ctx.supervisor.stop_process_within(namespec, kill_after);
        let outcome = tokio::time::timeout(patience, stop).await;
        (namespec, outcome)
    });
    let mut stopped = Vec::new();
    // The run each stop ended: the one listed before the stops.
    let run_of = |namespec: &String| {
        live.iter()
            .find(|r| r.namespec == *namespec)
            .cloned()
            .unwrap_or_else(|| StoppedRun {
                namespec: namespec.clone(),
                pid: 0,
                start: 0,
            })
    };
    for (namespec, outcome) in futures_util::future::join_all(stops).await {
        match outcome {
            Ok(Ok(())) => stopped.push(run_of(namespec)),
            // Stopped meanwhile (NOT_RUNNING): what the fence wanted.
            Ok(Err(fault)) if fault.code == model::FaultCode::NotRunning => {
                stopped.push(run_of(namespec))
            }
            Ok(Err(fault)) => {
                tracing::error!(%namespec, fault = %fault.fault_string(), "fence: stop failed")
            }
            Err(_) => tracing::error!(
                %namespec,
                waited_ms = patience.as_millis() as u64,
                "fence: still not stopped"
            ),
        }
    }
    tracing::warn!(
        stopped = stopped.len(),
        of = victims.len(),
        took_ms = started.elapsed().as_millis() as u64,
        "fence: done"
    );
    Some(FenceReport { losses, stopped })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(state: &mut ClusterState, counter: u64, pstate: model::ProcessState) {
        let pid = if pstate.is_stopped() { 0 } else { 9 };
        let status = crate::state::tests::status("mover", "mover", pstate, pid);
        state.apply(&crate::state::tests::events("n1", 1, counter, vec![status]));
    }

    #[test]
    fn a_fence_report_waits_for_its_stops_to_be_committed() {
        let mut state = ClusterState::new();
        let stopped = [crate::state::tests::stopped_run("mover", 9)];
        events(&mut state, 1, model::ProcessState::Running);
        assert_eq!(
            state.process("n1", "mover").map(|p| p.state),
            Some(model::ProcessState::Running)
        );
        assert!(
            !stops_committed(&state, "n1", &stopped),
            "still RUNNING in the replica"
        );
        events(&mut state, 2, model::ProcessState::Stopping);
        assert!(
            !stops_committed(&state, "n1", &stopped),
            "STOPPING is not stopped"
        );
        events(&mut state, 3, model::ProcessState::Stopped);
        assert!(stops_committed(&state, "n1", &stopped));
        assert!(stops_committed(&state, "n1", &[]), "nothing stopped");
        assert!(
            stops_committed(&state, "n1", &[crate::state::tests::stopped_run("gone", 9)]),
            "not recorded"
        );
        assert!(stops_committed(&state, "n9", &stopped), "unknown instance");
        // Started again since the fence stopped it (a later run, RUNNING): its stop will
        // never show, and the report need not wait for it (it waited 5 s in a chaos run).
        let again = crate::state::ProcessStatus {
            start: stopped[0].start + 1,
            ..crate::state::tests::status("mover", "mover", model::ProcessState::Running, 10)
        };
        state.apply(&crate::state::tests::events("n1", 1, 4, vec![again]));
        assert!(stops_committed(&state, "n1", &stopped), "started again");
        // The stopped run never reached the replica (its STARTING still on its way): the
        // STOPPED record of an earlier run does not count, this run's STOPPED does.
        let mut state = ClusterState::new();
        let earlier = crate::state::ProcessStatus {
            start: stopped[0].start - 60,
            ..crate::state::tests::status("mover", "mover", model::ProcessState::Stopped, 0)
        };
        state.apply(&crate::state::tests::events("n1", 1, 1, vec![earlier]));
        assert!(
            !stops_committed(&state, "n1", &stopped),
            "an earlier run's stop"
        );
        events(&mut state, 3, model::ProcessState::Stopped);
        assert!(stops_committed(&state, "n1", &stopped), "this run's stop");
        // Its STARTING, late: older than the STOPPED now recorded, it changes nothing.
        events(&mut state, 2, model::ProcessState::Starting);
        assert_eq!(
            state.process("n1", "mover").map(|p| p.state),
            Some(model::ProcessState::Stopped)
        );
    }

    #[tokio::test]
    async fn two_reports_waiting_for_contact_are_both_applied() {
        // Two cuts in a row: two fences, each with its report waiting for contact, both read
        // the same loss count. Sent at once, the second was ignored as stale (its program
        // never restarted); in turn, it carries the count the first moved the cluster to.
        use crate::state::InstanceState;
        let mut state = ClusterState::new();
        for st in [InstanceState::Checking, InstanceState::Running] {
            state.apply(&Command::InstanceState {
                instance: "n1".into(),
                state: st,
            });
        }
        let state = std::sync::Mutex::new(state);
        let turn = tokio::sync::Mutex::new(());
        let reported = AtomicU64::new(0);
        let send = |name: &'static str| {
            let (state, turn, reported) = (&state, &turn, &reported);
            async move {
                let write = |losses| async move {
                    // The write's round trip: the other report gets to run meanwhile.
                    tokio::task::yield_now().await;
                    let cmd = Command::Fenced {
                        instance: "n1".into(),
                        losses,
                        stopped: vec![crate::state::tests::stopped_run(name, 9)],
                    };
                    Some(state.lock().expect("not poisoned").apply(&cmd))
                };
                in_turn(turn, reported, 0, write).await
            }
        };
        let (first, second) = tokio::join!(send("first"), send("second"));
        assert_eq!(first, Some(CommandResult::Applied));
        assert_eq!(second, Some(CommandResult::Applied));
        assert_eq!(reported.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_second_fence_soon_after_a_report_is_not_ignored_as_stale() {
        use crate::state::InstanceState;
        let mut state = ClusterState::new();
        for st in [InstanceState::Checking, InstanceState::Running] {
            state.apply(&Command::InstanceState {
                instance: "n1".into(),
                state: st,
            });
        }
        events(&mut state, 1, model::ProcessState::Running);
        let fenced = |losses| Command::Fenced {
            instance: "n1".into(),
            losses,
            stopped: vec![crate::state::tests::stopped_run("mover:mover", 9)],
        };
        // First cut: reported at the count the replica showed, applied.
        assert_eq!(state.apply(&fenced(0)), CommandResult::Applied);
        let reported = 1;
        // Second cut, its fence reading a replica that has not applied that report yet (0):
        // the report carries the count the first one moved the cluster to, and is applied.
        events(&mut state, 2, model::ProcessState::Running);
        assert_eq!(
            state.apply(&fenced(report_losses(0, reported))),
            CommandResult::Applied
        );
        // A retry of that report, or one whose loss the majority declared meanwhile: ignored.
        assert_eq!(
            state.apply(&fenced(report_losses(0, reported))),
            CommandResult::Unchanged
        );
        state.apply(&Command::InstanceState {
            instance: "n1".into(),
            state: InstanceState::Silent,
        });
        state.apply(&Command::InstanceLost {
            instance: "n1".into(),
        });
        assert_eq!(
            state.apply(&fenced(report_losses(2, 2))),
            CommandResult::Unchanged
        );
    }

    #[test]
    fn the_policy_chooses_the_victims() {
        let state = ClusterState::new();
        let live = vec!["a:x".to_string(), "b:y".to_string()];
        let movable: FencePolicy = Arc::new(|_, local, live| {
            assert_eq!(local, "n1");
            live.iter()
                .filter(|n| n.starts_with("a:"))
                .cloned()
                .collect()
        });
        let pick = |policy, movable| fence_victims(policy, movable, &state, "n1", &live);
        assert_eq!(pick(NoQuorumPolicy::StopAll, Some(&movable)), live);
        assert_eq!(pick(NoQuorumPolicy::StopMovable, Some(&movable)), ["a:x"]);
        assert!(pick(NoQuorumPolicy::StopMovable, None).is_empty());
        assert!(pick(NoQuorumPolicy::Ignore, Some(&movable)).is_empty());
    }
}
