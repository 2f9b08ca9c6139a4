//! Event listener pools: every notification is queued in the pools subscribed to it and sent,
//! one at a time, to a READY listener of the pool; the listener's stdout is parsed as
//! Supervisor's protocol, and a rejected or interrupted event is queued again. Also the TICK
//! clocks and the `PROCESS_LOG_*` / `PROCESS_COMMUNICATION_*` notifications.

use super::pipes::Stdin;
use super::{epoch_now, Actor};
use crate::events::{self, ListenerSaid, Notification};
use model::ProcessState;
use std::collections::VecDeque;
use std::time::Instant;

pub(super) struct Queued {
    serial: u64,
    pool_serial: u64,
    n: Notification,
}

pub(super) struct Pool {
    events: Vec<String>,
    buffer_size: usize,
    buffer: VecDeque<Queued>,
    serial: u64,
}

impl Pool {
    /// An empty pool for the events a listener subscribes to, keeping at most `buffer_size`
    /// (at least one) events for its listeners.
    pub(super) fn new(events: Vec<String>, buffer_size: usize) -> Pool {
        Pool {
            events,
            buffer_size: buffer_size.max(1),
            buffer: VecDeque::new(),
            serial: 0,
        }
    }
}

impl Actor {
    pub(super) fn notify(&mut self, n: Notification) {
        let mut any = false;
        for g in &mut self.groups {
            let Some(pool) = g.pool.as_mut() else {
                continue;
            };
            if !pool.events.iter().any(|s| events::subscribed(s, &n.name)) {
                continue;
            }
            let serial = self.serial;
            self.serial = self.serial.wrapping_add(1);
            let q = Queued {
                serial,
                pool_serial: pool.serial,
                n: n.clone(),
            };
            pool.serial = pool.serial.wrapping_add(1);
            if pool.buffer.len() >= pool.buffer_size {
                if let Some(old) = pool.buffer.pop_front() {
                    tracing::error!(pool = %g.spec.name, serial = old.serial, "pool event buffer overflowed, discarding event");
                }
            }
            pool.buffer.push_back(q);
            any = true;
        }
        if any {
            self.dispatch();
        }
    }

    pub(super) fn requeue(&mut self, id: u64, q: Queued) {
        let Some(group) = self.procs.get(&id).map(|p| p.spec.group.clone()) else {
            return;
        };
        let Some(gi) = self.group_index(&group) else {
            return;
        };
        if let Some(pool) = self.groups[gi].pool.as_mut() {
            if pool.buffer.len() >= pool.buffer_size {
                pool.buffer.pop_front();
            }
            pool.buffer.push_front(q);
        }
    }

    /// Sends buffered events to READY listeners that are RUNNING.
    pub(super) fn dispatch(&mut self) {
        let identifier = self.config.supervisord.identifier.clone();
        for g in &mut self.groups {
            let Some(pool) = g.pool.as_mut() else {
                continue;
            };
            while !pool.buffer.is_empty() {
                let ready = g.procs.iter().copied().find(|id| {
                    self.procs.get(id).is_some_and(|p| {
                        p.st.state == ProcessState::Running
                            && p.stdin.is_some()
                            && p.proto
                                .as_ref()
                                .is_some_and(|x| x.state == model::ListenerState::Ready)
                    })
                });
                let Some(id) = ready else { break };
                let Some(q) = pool.buffer.pop_front() else {
                    break;
                };
                let Some(p) = self.procs.get_mut(&id) else {
                    break;
                };
                let env =
                    events::envelope(&identifier, q.serial, &g.spec.name, q.pool_serial, &q.n);
                if let Some(stdin) = p.stdin.as_mut().and_then(Stdin::sender) {
                    // Bounded by the protocol: one envelope at a time, after READY.
                    let _ = stdin.push(env, None);
                }
                if let Some(proto) = p.proto.as_mut() {
                    proto.sent();
                }
                p.in_flight = Some(q);
            }
        }
    }

    pub(super) fn tick(&mut self) {
        let now = epoch_now() as i64;
        for period in events::TICK_PERIODS {
            let this = events::timeslice(period, now);
            let last = *self.ticks.entry(period).or_insert(this);
            if this != last {
                self.ticks.insert(period, this);
                self.notify(events::tick_payload(period, this));
            }
        }
    }

    pub(super) fn next_tick(&self) -> Option<Instant> {
        if !self.groups.iter().any(|g| g.pool.is_some()) {
            return None;
        }
        let now = epoch_now();
        let next = (now / 5.0).floor() * 5.0 + 5.0;
        Some(Instant::now() + std::time::Duration::from_secs_f64((next - now).max(0.0) + 0.001))
    }

    pub(super) fn output(&mut self, id: u64, pid: i32, stdout: bool, data: Vec<u8>) {
        let Some(p) = self.procs.get_mut(&id) else {
            return;
        };
        let (name, group) = (p.spec.name.clone(), p.spec.group.clone());
        if !(stdout && p.spec.listener.is_some()) {
            // PROCESS_LOG data (the reader forwards it only when events are enabled); it may
            // arrive after the exit was reaped, and carries its own pid
            self.notify(events::process_log_payload(
                &name, &group, pid, stdout, &data,
            ));
            return;
        }
        if p.st.pid != pid {
            return;
        }
        let said = match p.proto.as_mut() {
            Some(proto) => proto.feed(&data),
            None => Vec::new(),
        };
        for s in said {
            match s {
                ListenerSaid::Ready => {}
                ListenerSaid::Result(r) => {
                    let q = self.procs.get_mut(&id).and_then(|p| p.in_flight.take());
                    if r != b"OK" {
                        tracing::warn!("{name}: event was rejected");
                        if let Some(q) = q {
                            self.requeue(id, q);
                        }
                    }
                }
                ListenerSaid::Violation(why) => {
                    tracing::warn!("{name}: has entered the UNKNOWN state and will no longer receive events, this usually indicates the process violated the eventlistener protocol ({why})");
                    if let Some(q) = self.procs.get_mut(&id).and_then(|p| p.in_flight.take()) {
                        self.requeue(id, q);
                    }
                }
            }
        }
        self.dispatch();
    }

    pub(super) fn communication(&mut self, id: u64, pid: i32, stdout: bool, data: Vec<u8>) {
        let Some(p) = self.procs.get(&id) else {
            return;
        };
        let (name, group) = (p.spec.name.clone(), p.spec.group.clone());
        let channel = if stdout { "stdout" } else { "stderr" };
        tracing::debug!("'{name}' {channel} emitted a comm event");
        self.notify(events::process_comm_payload(
            &name, &group, pid, stdout, &data,
        ));
    }
}
