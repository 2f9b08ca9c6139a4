//! Feeds the local supervisor's process states into Raft: procman's events are batched (one
//! `Command::ProcessEvents` per ~20 ms or 500 changes, carrying the *current* status of each
//! changed process), so 1,000 processes changing at once make a handful of log entries, not
//! thousands. The first batch of a start, and any batch the leader or a healed partition asks
//! for, is a full snapshot of every local process; so is the batch after processes were added
//! or removed (procman's layout counter moved: removeProcessGroup, a reload, `update_numprocs`),
//! since no state change tells of a removal. A full batch replaces the instance's process set
//! in the state: what it does not list is removed there.
//!
//! procman is never blocked: events come from a broadcast channel (a lagging reader loses
//! events, which is answered with a full snapshot). A failed write keeps the set of changed
//! processes and is retried with backoff; the retry re-reads the statuses, so the latest status
//! of each process wins. Each attempt takes a new batch number: a write that timed out but did
//! commit must not make its retry look like a replay.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use model::make_namespec;
use procman::{ProcessInfo, SupervisorApi};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use crate::inner::{Core, FullSyncDone, FullSyncRequest};
use crate::state::{BatchSeq, Command, CommandResult, ProcessStatus};

/// Under load, at most one batch per window: once a batch carried [`BUSY_BATCH`] changes or
/// more, the next one waits for the end of the window after it, so a burst of a thousand
/// starts stays a handful of log entries. Sparse changes (a start sequence waits on each
/// step's event) are written at once, after [`LEADING_DELAY`].
pub const BATCH_WINDOW: Duration = Duration::from_millis(20);
/// A batch this large means a burst: the next one waits for the window.
pub const BUSY_BATCH: usize = 8;
/// Even a lone change waits this long: the changes that follow it at once (a `startsecs=0`
/// process goes STARTING then RUNNING within a millisecond) ride in the same batch instead of
/// waiting for the next window.
pub const LEADING_DELAY: Duration = Duration::from_millis(2);
/// A batch is written at once when this many processes changed.
pub const BATCH_MAX: usize = 500;
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// What a committed batch was ([`Pending::written`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Every local process: the instance's full sync.
    Full,
    /// A full batch was due, but went out partial: it is owed again.
    FullOwed,
    /// The changed processes.
    Partial,
}

/// What is waiting to be written.
#[derive(Debug, Default)]
pub struct Pending {
    /// Send every process, not only the changed ones.
    pub full: bool,
    pub changed: BTreeSet<String>,
    /// Supervisor's `expected` flag of each process's last exit (from EXITED events).
    pub expected: HashMap<String, bool>,
    /// The last event of each changed process: what to send when the supervisor can no
    /// longer be asked (its end: the last STOPPED events come after its last answer).
    pub last: HashMap<String, procman::ProcessEvent>,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        !self.full && self.changed.is_empty()
    }

    pub fn record(&mut self, event: &procman::ProcessEvent) {
        let namespec = make_namespec(&event.group, &event.name);
        if event.to == model::ProcessState::Exited {
            self.expected.insert(namespec.clone(), event.expected);
        }
        self.last.insert(namespec.clone(), event.clone());
        self.changed.insert(namespec);
    }

    /// The statuses to send, from the supervisor's current process info. When the supervisor
    /// is `ending` (stopping for good, or gone), a changed process it no longer lists is sent
    /// as its last `known` status changed by its last event; from a running supervisor, an
    /// unlisted process was removed and is not sent.
    pub fn statuses(
        &self,
        infos: &[ProcessInfo],
        ending: bool,
        known: impl Fn(&str) -> Option<ProcessStatus>,
    ) -> Vec<ProcessStatus> {
        let listed: BTreeSet<String> = infos
            .iter()
            .map(|i| make_namespec(&i.group, &i.name))
            .collect();
        let gone = self
            .changed
            .iter()
            .filter(|ns| ending && !listed.contains(*ns))
            .filter_map(|ns| {
                let event = self.last.get(ns)?;
                let before = known(ns)?;
                let at = event.at as i64;
                Some(ProcessStatus {
                    state: event.to,
                    pid: if event.to.is_stopped() { 0 } else { event.pid },
                    start: if event.to == model::ProcessState::Starting {
                        at
                    } else {
                        before.start
                    },
                    stop: if event.to.is_stopped() {
                        at
                    } else {
                        before.stop
                    },
                    expected: self.expected.get(ns).copied().unwrap_or(before.expected),
                    ..before
                })
            });
        let current: Vec<ProcessStatus> = infos
            .iter()
            .filter_map(|info| {
                let namespec = make_namespec(&info.group, &info.name);
                (self.full || self.changed.contains(&namespec)).then(|| ProcessStatus {
                    group: info.group.clone(),
                    name: info.name.clone(),
                    state: info.state,
                    pid: info.pid,
                    start: info.start,
                    stop: info.stop,
                    exitstatus: info.exitstatus,
                    expected: self.expected.get(&namespec).copied().unwrap_or(true),
                    spawnerr: info.spawnerr.clone(),
                    description: info.description.clone(),
                    stdout_logfile: info.stdout_logfile.clone(),
                    stderr_logfile: info.stderr_logfile.clone(),
                })
            })
            .collect();
        current.into_iter().chain(gone).collect()
    }

    /// A batch was committed: forgets what it carried, and says what it was. A full batch was
    /// due (`full`) but the supervisor could not list every process (`!lists_all`: restarting,
    /// stopping, or its set changed meanwhile), so it went out as a partial one: the full one
    /// is still owed — a removal (a reload that drops a program) is told by nothing else.
    pub fn written(&mut self, full: bool, lists_all: bool) -> Written {
        self.clear();
        match (full, lists_all) {
            (true, true) => Written::Full,
            (true, false) => {
                self.full = true;
                Written::FullOwed
            }
            (false, _) => Written::Partial,
        }
    }

    /// Forgets what was written (keeps the `expected` flags: they describe the last exit).
    pub fn clear(&mut self) {
        self.full = false;
        self.changed.clear();
        self.last.clear();
    }
}

/// What the feed works with: the core (the write of its batches), the local supervisor it
/// reads, this start's incarnation (numbering the batches), and the full sync asked of it and
/// published by it.
pub(crate) struct FeedCtx {
    pub(crate) core: Arc<Core>,
    pub(crate) supervisor: procman::Supervisor,
    pub(crate) incarnation: u64,
    pub(crate) full_sync_request: FullSyncRequest,
    pub(crate) full_sync_done: FullSyncDone,
}

/// Writes the local process states into the cluster (see the module doc) until shutdown.
pub(crate) async fn feed(ctx: FeedCtx) {
    let mut events = ctx.supervisor.subscribe_events();
    // Subscribed before the first (full) batch: only later changes wake it.
    let mut layout = ctx.supervisor.watch_layout();
    let mut layout_open = true;
    let mut pending = Pending {
        full: true,
        ..Pending::default()
    };
    let mut counter: u64 = 0;
    let mut due: Option<Instant> = Some(Instant::now());
    let mut retry = RETRY_MIN;
    let mut events_open = true;
    let mut last_flush = Instant::now();
    let mut last_batch_len = 0usize;
    loop {
        let flush_at = due.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            _ = ctx.core.shutdown.cancelled() => return,
            event = events.recv(), if events_open => match event {
                Ok(event) => {
                    pending.record(&event);
                    let soon = Instant::now() + LEADING_DELAY;
                    let at = if last_batch_len >= BUSY_BATCH {
                        (last_flush + BATCH_WINDOW).max(soon)
                    } else {
                        soon
                    };
                    due = Some(due.map_or(at, |d| d.min(at)));
                    if pending.changed.len() >= BATCH_MAX {
                        due = Some(Instant::now());
                    }
                }
                Err(RecvError::Lagged(lost)) => {
                    tracing::debug!(lost, "process events lagged: full sync");
                    pending.full = true;
                    due = Some(Instant::now());
                }
                Err(RecvError::Closed) => events_open = false,
            },
            changed = layout.changed(), if layout_open => {
                if changed.is_err() {
                    layout_open = false;
                } else {
                    // Processes were added or removed: only a full batch tells the state.
                    pending.full = true;
                    let soon = Instant::now() + LEADING_DELAY;
                    due = Some(due.map_or(soon, |d| d.min(soon)));
                }
            }
            _ = ctx.full_sync_request.notified() => {
                // Whatever happened before the request rides in this batch (at the daemon's
                // end, the last STOPPED events may still be queued).
                while let Ok(event) = events.try_recv() {
                    pending.record(&event);
                }
                if !pending.full {
                    pending.full = true;
                    due = Some(Instant::now());
                }
            }
            _ = tokio::time::sleep_until(flush_at), if due.is_some() => {
                if pending.is_empty() {
                    due = None;
                    continue;
                }
                let seq = BatchSeq::new(ctx.incarnation, counter);
                counter += 1;
                last_flush = Instant::now();
                // A layout change this loop has not taken in yet (the flush's timer won the
                // `select!` against it) makes this batch full: the `borrow_and_update` below
                // marks it seen, and a partial batch would leave a removed process in the
                // state for good.
                if layout.has_changed().unwrap_or(false) {
                    pending.full = true;
                }
                let full = pending.full;
                // Whether the answer lists every process: only from a running supervisor whose
                // set of processes did not change while it answered (a change marks the layout
                // unseen again, and the next batch is full).
                let running = || ctx.supervisor.state() == model::SupervisorState::Running;
                let layout_before = *layout.borrow_and_update();
                let running_before = running();
                let infos = match tokio::time::timeout(Duration::from_secs(2), ctx.supervisor.all_process_info()).await {
                    Ok(infos) => infos,
                    Err(_) => {
                        due = Some(Instant::now() + retry);
                        retry = (retry * 2).min(RETRY_MAX);
                        continue;
                    }
                };
                let ending = ctx.supervisor.state() == model::SupervisorState::Shutdown;
                let events = {
                    let replica = ctx.core.replica.borrow();
                    let record = replica.state.instance(&ctx.core.local);
                    pending.statuses(&infos, ending, |ns| {
                        record.and_then(|r| r.processes.get(ns)).map(|p| p.status.clone())
                    })
                };
                last_batch_len = events.len();
                // A supervisor that is stopping (or gone) does not list every process: its
                // batch must not remove the ones it leaves out.
                let lists_all = full
                    && running_before
                    && running()
                    && *layout.borrow() == layout_before;
                tracing::debug!(
                    counter = seq.counter,
                    full,
                    lists_all,
                    count = events.len(),
                    "process events batch"
                );
                let cmd = Command::ProcessEvents {
                    instance: ctx.core.local.clone(),
                    seq,
                    full: lists_all,
                    events,
                };
                match ctx.core.write(cmd).await {
                    Ok(CommandResult::Rejected(why)) => {
                        tracing::debug!(reason = %why, "process events refused; retrying");
                        due = Some(Instant::now() + retry);
                        retry = (retry * 2).min(RETRY_MAX);
                    }
                    // At the supervisor's end nothing better will come: its last batch is the final one.
                    Ok(_) => match pending.written(full, lists_all || ending) {
                        Written::FullOwed => {
                            due = Some(Instant::now() + retry);
                            retry = (retry * 2).min(RETRY_MAX);
                        }
                        written => {
                            if written == Written::Full {
                                ctx.full_sync_done.send_replace(Some(seq));
                            }
                            due = None;
                            retry = RETRY_MIN;
                        }
                    },
                    Err(e) => {
                        tracing::debug!(error = %e, "process events not written; retrying");
                        due = Some(Instant::now() + retry);
                        retry = (retry * 2).min(RETRY_MAX);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::ProcessState;

    fn info(group: &str, name: &str, state: ProcessState) -> ProcessInfo {
        ProcessInfo {
            name: name.into(),
            group: group.into(),
            description: String::new(),
            start: 1,
            stop: 0,
            now: 2,
            state,
            spawnerr: String::new(),
            exitstatus: 3,
            logfile: String::new(),
            stdout_logfile: "/o".into(),
            stderr_logfile: "/e".into(),
            pid: 0,
        }
    }

    fn event(group: &str, name: &str, to: ProcessState, expected: bool) -> procman::ProcessEvent {
        procman::ProcessEvent {
            group: group.into(),
            name: name.into(),
            from: ProcessState::Running,
            to,
            pid: 9,
            expected,
            tries: 0,
            at: 0.0,
        }
    }

    #[test]
    fn only_changed_processes_unless_full() {
        let infos = vec![
            info("g", "a", ProcessState::Running),
            info("g", "b", ProcessState::Exited),
            info("c", "c", ProcessState::Stopped),
        ];
        let mut p = Pending::default();
        assert!(p.is_empty());
        p.record(&event("g", "b", ProcessState::Exited, false));
        p.record(&event("g", "b", ProcessState::Exited, false));
        let s = p.statuses(&infos, false, |_| None);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].namespec(), "g:b");
        assert!(!s[0].expected);
        assert_eq!(s[0].exitstatus, 3);
        p.clear();
        p.full = true;
        let s = p.statuses(&infos, false, |_| None);
        assert_eq!(s.len(), 3);
        assert_eq!(s[2].namespec(), "c");
        // The last-exit flag survives a clear.
        assert!(!s[1].expected);
    }
}

#[cfg(test)]
mod end_tests {
    use super::*;
    use model::ProcessState;

    #[test]
    fn a_process_the_ended_supervisor_no_longer_lists_is_sent_from_its_last_event() {
        let mut p = Pending::default();
        p.record(&procman::ProcessEvent {
            group: "g".into(),
            name: "a".into(),
            from: ProcessState::Stopping,
            to: ProcessState::Stopped,
            pid: 42,
            expected: true,
            tries: 0,
            at: 1_700_000_100.5,
        });
        let before = ProcessStatus {
            group: "g".into(),
            name: "a".into(),
            state: ProcessState::Running,
            pid: 42,
            start: 1_700_000_000,
            stop: 0,
            exitstatus: 0,
            expected: true,
            spawnerr: String::new(),
            description: "pid 42".into(),
            stdout_logfile: "/o".into(),
            stderr_logfile: "/e".into(),
        };
        let known = before.clone();
        // From a running supervisor, an unlisted process was removed: not sent.
        assert!(p
            .statuses(&[], false, |ns| (ns == "g:a").then(|| known.clone()))
            .is_empty());
        let s = p.statuses(&[], true, |ns| (ns == "g:a").then(|| known.clone()));
        assert_eq!(
            s,
            vec![ProcessStatus {
                state: ProcessState::Stopped,
                pid: 0,
                stop: 1_700_000_100,
                ..before
            }]
        );
        // Unknown to the state: nothing to build it from.
        assert!(p.statuses(&[], true, |_| None).is_empty());
        p.clear();
        assert!(p.statuses(&[], true, |_| None).is_empty());
    }

    #[test]
    fn a_full_batch_that_could_not_list_everything_is_owed_again() {
        let mut p = Pending {
            full: true,
            ..Pending::default()
        };
        p.changed.insert("g:a".into());
        // Sent while the supervisor was restarting: partial, and the full one stays due.
        assert_eq!(p.written(true, false), Written::FullOwed);
        assert!(p.full && p.changed.is_empty() && !p.is_empty());
        assert_eq!(p.written(true, true), Written::Full);
        assert!(p.is_empty());
        p.changed.insert("g:b".into());
        assert_eq!(p.written(false, false), Written::Partial);
        assert!(p.is_empty());
    }
}
