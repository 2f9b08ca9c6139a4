//! The load an instance reports with its ticks: how many of its processes are in a running
//! state (STARTING, RUNNING, BACKOFF), committed with the ticks (`InstanceRecord::load`).
//! Placement and `get_instance_info`'s `loading` do not use it: they use Supvisors' expected
//! loads, the rules' `expected_loading` of the running processes, which the commander computes
//! from the replica.
//!
//! Kept up to date from procman's event stream instead of asking for every process's info at
//! each tick (every ~100 ms, for possibly thousands of processes): one snapshot seeds it at
//! start, the events keep it current, and a lagging receiver (events lost) seeds it again.
//! The set holds each process's *latest* running flag rather than a counter, so an event also
//! reflected in the snapshot (it arrived between the subscription and the snapshot) is applied
//! twice harmlessly: replaying events in order after a snapshot gives the current state.

use std::collections::HashSet;
use std::future::Future;

use model::make_namespec;
use procman::{ProcessEvent, ProcessInfo};
use std::time::Duration;

use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::broadcast::Receiver;

/// Namespecs of the local processes in a running state. Pure.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunningSet {
    running: HashSet<String>,
}

impl RunningSet {
    /// Replaces everything with a snapshot of every process.
    pub fn seed(&mut self, infos: &[ProcessInfo]) {
        self.running = infos
            .iter()
            .filter(|info| info.state.is_running())
            .map(|info| make_namespec(&info.group, &info.name))
            .collect();
    }

    /// Takes one state change into account.
    pub fn record(&mut self, event: &ProcessEvent) {
        let namespec = make_namespec(&event.group, &event.name);
        if event.to.is_running() {
            self.running.insert(namespec);
        } else {
            self.running.remove(&namespec);
        }
    }

    pub fn count(&self) -> u32 {
        u32::try_from(self.running.len()).unwrap_or(u32::MAX)
    }
}

/// A [`RunningSet`] fed by a procman event receiver, read once per tick.
pub struct LoadTracker {
    events: Receiver<ProcessEvent>,
    set: RunningSet,
    seeded: bool,
}

impl LoadTracker {
    /// `events` must be subscribed before the first [`LoadTracker::load`] takes its snapshot.
    pub fn new(events: Receiver<ProcessEvent>) -> Self {
        LoadTracker {
            events,
            set: RunningSet::default(),
            seeded: false,
        }
    }

    /// The current load. Applies the events received since the last call without waiting;
    /// takes a snapshot with `snapshot` when none was taken yet or events were lost. `snapshot`
    /// answers `None` when it could not be had quickly (a busy supervisor must not delay the
    /// tick): the load is then 0 until a later call succeeds.
    pub async fn load<F, Fut>(&mut self, snapshot: F) -> u32
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Option<Vec<ProcessInfo>>>,
    {
        loop {
            match self.events.try_recv() {
                Ok(event) => self.set.record(&event),
                Err(TryRecvError::Lagged(lost)) => {
                    tracing::debug!(lost, "load: process events lost, taking a new snapshot");
                    self.seeded = false;
                }
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        if !self.seeded {
            match snapshot().await {
                Some(infos) => {
                    self.set.seed(&infos);
                    self.seeded = true;
                }
                None => return 0,
            }
        }
        self.set.count()
    }

    /// Returns once the load may have changed: a process event came (taken into account), or
    /// events were lost (the next [`LoadTracker::load`] takes a snapshot). When the last
    /// snapshot could not be had, returns after `retry` instead, for the next call to try
    /// again. Cancel-safe: the ticker waits on it beside its timers, between two ticks that
    /// the heartbeats may carry without it waking at all.
    pub async fn changed(&mut self, retry: Duration) {
        if !self.seeded {
            tokio::time::sleep(retry).await;
            return;
        }
        match self.events.recv().await {
            Ok(event) => self.set.record(&event),
            Err(RecvError::Lagged(lost)) => {
                tracing::debug!(lost, "load: process events lost, taking a new snapshot");
                self.seeded = false;
            }
            Err(RecvError::Closed) => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::ProcessState;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::sync::broadcast;

    fn info(name: &str, state: ProcessState) -> ProcessInfo {
        ProcessInfo {
            name: name.into(),
            group: "g".into(),
            description: String::new(),
            start: 0,
            stop: 0,
            now: 0,
            state,
            spawnerr: String::new(),
            exitstatus: 0,
            logfile: String::new(),
            stdout_logfile: String::new(),
            stderr_logfile: String::new(),
            pid: 0,
        }
    }

    fn event(name: &str, from: ProcessState, to: ProcessState) -> ProcessEvent {
        ProcessEvent {
            group: "g".into(),
            name: name.into(),
            from,
            to,
            pid: 1,
            expected: true,
            tries: 0,
            at: 0.0,
        }
    }

    #[test]
    fn running_states_count_and_events_move_processes_in_and_out() {
        use ProcessState::*;
        let mut set = RunningSet::default();
        set.seed(&[
            info("a", Running),
            info("b", Backoff),
            info("c", Stopped),
            info("d", Starting),
            info("e", Stopping),
        ]);
        assert_eq!(set.count(), 3);
        set.record(&event("c", Stopped, Starting));
        set.record(&event("a", Running, Stopping));
        assert_eq!(set.count(), 3);
        set.record(&event("b", Backoff, Fatal));
        assert_eq!(set.count(), 2);
        // Replaying an event already reflected changes nothing.
        set.record(&event("c", Stopped, Starting));
        assert_eq!(set.count(), 2);
    }

    #[tokio::test]
    async fn seeds_once_follows_events_and_seeds_again_after_a_lag() {
        use ProcessState::*;
        let (tx, rx) = broadcast::channel(4);
        let mut tracker = LoadTracker::new(rx);
        let snapshots = AtomicUsize::new(0);
        let snap = |infos: Vec<ProcessInfo>| {
            snapshots.fetch_add(1, Ordering::Relaxed);
            async move { Some(infos) }
        };
        // A busy supervisor: no snapshot, load 0, and the next call tries again.
        assert_eq!(tracker.load(|| async { None }).await, 0);
        assert_eq!(tracker.load(|| snap(vec![info("a", Running)])).await, 1);
        tx.send(event("b", Stopped, Starting)).unwrap();
        assert_eq!(tracker.load(|| snap(vec![])).await, 2);
        assert_eq!(snapshots.load(Ordering::Relaxed), 1, "seeded once");
        // More events than the channel holds: lagged, so a new snapshot is the truth.
        for _ in 0..6 {
            tx.send(event("c", Stopped, Starting)).unwrap();
        }
        let truth = vec![info("a", Stopped), info("b", Running), info("c", Running)];
        assert_eq!(tracker.load(|| snap(truth)).await, 2);
        assert_eq!(snapshots.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn changed_returns_on_an_event_on_a_lag_and_after_a_failed_snapshot() {
        use ProcessState::*;
        let (tx, rx) = broadcast::channel(2);
        let mut tracker = LoadTracker::new(rx);
        let retry = std::time::Duration::from_millis(20);
        // No snapshot yet: back after `retry`, for the next load to try again.
        let started = std::time::Instant::now();
        tracker.changed(retry).await;
        assert!(started.elapsed() >= retry);
        assert_eq!(tracker.load(|| async { Some(vec![]) }).await, 0);
        // Seeded: nothing comes, nothing returns.
        let quiet = tokio::time::timeout(retry * 5, tracker.changed(retry)).await;
        assert!(quiet.is_err(), "no event, no change");
        // An event: taken into account by `changed` itself.
        tx.send(event("a", Stopped, Starting)).unwrap();
        tracker.changed(retry).await;
        assert_eq!(tracker.set.count(), 1);
        // Lost events: the next load takes a snapshot.
        for _ in 0..4 {
            tx.send(event("b", Stopped, Starting)).unwrap();
        }
        tracker.changed(retry).await;
        let truth = vec![info("a", Running), info("b", Running), info("c", Running)];
        assert_eq!(tracker.load(|| async move { Some(truth) }).await, 3);
    }
}
