//! The process requests of the handles: start (plain and with Supvisors' extra arguments),
//! stop, the cluster's bounded stop, and signals. Each checks what Supervisor checks, runs the
//! event through the state machine and answers per process, now or when the process gets there.

use super::spawning::send_signal;
use super::{fault, Actor, Item, Outcome, Proc, Selection};
use crate::machine::Event;
use crate::spawn;
use model::{Fault, FaultCode, ProcessState};
use std::time::Duration;
use tokio::sync::oneshot;

/// What a stop request answers for `p` once its stop event is applied: a fault if the kill
/// failed (UNKNOWN), else done, or (with `wait`, while it is not stopped yet) a wait for it.
fn stop_outcome(p: &mut Proc, ns: &str, wait: bool) -> Outcome {
    if p.st.state == ProcessState::Unknown {
        Outcome::Done(Err(fault(
            FaultCode::Failed,
            &format!("unknown problem killing {ns}"),
        )))
    } else if wait && !p.st.state.is_stopped() {
        let (w, rx) = oneshot::channel();
        p.stop_waiters.push(w);
        Outcome::Wait(rx)
    } else {
        Outcome::Done(Ok(()))
    }
}

impl Actor {
    pub(super) async fn start(&mut self, sel: Selection, wait: bool) -> Result<Vec<Item>, Fault> {
        let ids = self.select(&sel)?;
        let single = matches!(sel, Selection::One(_));
        let mut items = Vec::new();
        // (index in items, id, namespec) of the processes whose start was set off
        let mut started = Vec::new();
        for id in ids {
            let (ns, name, group) = self.namespec(id);
            let Some(p) = self.procs.get(&id) else {
                continue;
            };
            let state = p.st.state;
            if !single && state.is_running() {
                continue; // group/all: running processes are silently omitted
            }
            let outcome = match self.start_one(id, &ns, state).await {
                Ok(rx) => {
                    started.push((items.len(), id, ns));
                    Outcome::Wait(rx)
                }
                Err(f) => Outcome::Done(Err(f)),
            };
            items.push(Item {
                name,
                group,
                outcome,
            });
            self.bound_spawns().await;
        }
        // the remaining forks of the selection, then their outcomes
        self.flush_spawns().await;
        if !wait {
            // without wait: only an immediate spawn error is reported
            for (i, id, ns) in started {
                let outcome = match self.procs.get_mut(&id) {
                    Some(p) => {
                        p.start_waiters.clear();
                        if p.st.spawnerr.is_some() {
                            Outcome::Done(Err(fault(FaultCode::SpawnError, &ns)))
                        } else {
                            Outcome::Done(Ok(()))
                        }
                    }
                    None => Outcome::Done(Ok(())),
                };
                items[i].outcome = outcome;
            }
        }
        Ok(items)
    }

    /// Checks and sets off the start of one process; the receiver tells when it got RUNNING
    /// (or why not).
    async fn start_one(
        &mut self,
        id: u64,
        ns: &str,
        state: ProcessState,
    ) -> Result<oneshot::Receiver<Result<(), Fault>>, Fault> {
        let Some(p) = self.procs.get(&id) else {
            return Err(fault(FaultCode::BadName, ns));
        };
        // Checked first, as Supvisors' patched startProcess does before Supervisor's own checks.
        if let Some(refused) = self.refusal(id) {
            return Err(refused);
        }
        let path = spawn::lookup_path(&self.config.supervisord.environment, &p.spec.environment);
        spawn::resolve_command(&p.spec.argv, path.as_deref())?;
        if state.is_running() {
            return Err(fault(FaultCode::AlreadyStarted, ns));
        }
        if state == ProcessState::Unknown {
            return Err(fault(
                FaultCode::Failed,
                &format!("{ns} is in an unknown process state"),
            ));
        }
        let (w, rx) = oneshot::channel();
        if let Some(p) = self.procs.get_mut(&id) {
            p.start_waiters.push((ns.to_string(), w));
        }
        self.apply(id, Event::Start).await;
        Ok(rx)
    }

    /// Supvisors' `start_args`: the checks of a start that must pass before the extra
    /// arguments change (BAD_NAME, the start guard's refusal, ALREADY_STARTED), then the new
    /// arguments, then a normal start of that one process. They stay for the autorestarts and
    /// plain starts that follow; an empty `argv` clears them.
    pub(super) async fn start_args(
        &mut self,
        namespec: String,
        text: String,
        argv: Vec<String>,
        wait: bool,
    ) -> Result<Vec<Item>, Fault> {
        let id = self.find(&namespec)?;
        if let Some(refused) = self.refusal(id) {
            return Err(refused);
        }
        let Some(p) = self.procs.get_mut(&id) else {
            return Err(fault(FaultCode::BadName, &namespec));
        };
        if p.st.state.is_running() {
            return Err(fault(FaultCode::AlreadyStarted, &namespec));
        }
        let key = (p.spec.group.clone(), p.spec.name.clone());
        let clear = argv.is_empty();
        p.extra_argv = argv;
        if let Ok(mut all) = self.shared.extra_args.lock() {
            if clear {
                all.remove(&key);
            } else {
                all.insert(key, text);
            }
        }
        self.start(Selection::One(namespec), wait).await
    }

    pub(super) async fn stop(&mut self, sel: Selection, wait: bool) -> Result<Vec<Item>, Fault> {
        let mut ids = self.select(&sel)?;
        let single = matches!(sel, Selection::One(_));
        if matches!(sel, Selection::All) {
            ids.reverse();
        }
        let mut items = Vec::new();
        for id in ids {
            let (ns, name, group) = self.namespec(id);
            let Some(state) = self.procs.get(&id).map(|p| p.st.state) else {
                continue;
            };
            if !state.is_running() {
                if single {
                    items.push(Item {
                        name,
                        group,
                        outcome: Outcome::Done(Err(fault(FaultCode::NotRunning, &ns))),
                    });
                }
                continue;
            }
            self.apply(id, Event::Stop).await;
            let Some(p) = self.procs.get_mut(&id) else {
                continue;
            };
            items.push(Item {
                outcome: stop_outcome(p, &ns, wait),
                name,
                group,
            });
        }
        Ok(items)
    }

    /// [`Event::StopWithin`] for the selected processes that are running-like or STOPPING;
    /// each item waits for its process to stop.
    pub(super) async fn stop_within(
        &mut self,
        sel: Selection,
        limit: Duration,
    ) -> Result<Vec<Item>, Fault> {
        let ids = self.select(&sel)?;
        let single = matches!(sel, Selection::One(_));
        let mut items = Vec::new();
        for id in ids {
            let (ns, name, group) = self.namespec(id);
            let Some(state) = self.procs.get(&id).map(|p| p.st.state) else {
                continue;
            };
            if !state.is_running() && state != ProcessState::Stopping {
                if single {
                    items.push(Item {
                        name,
                        group,
                        outcome: Outcome::Done(Err(fault(FaultCode::NotRunning, &ns))),
                    });
                }
                continue;
            }
            self.apply(id, Event::StopWithin(limit)).await;
            let Some(p) = self.procs.get_mut(&id) else {
                continue;
            };
            items.push(Item {
                outcome: stop_outcome(p, &ns, true),
                name,
                group,
            });
        }
        Ok(items)
    }

    pub(super) fn signal(&mut self, sel: Selection, sig: &str) -> Result<Vec<Item>, Fault> {
        let ids = self.select(&sel)?;
        let single = matches!(sel, Selection::One(_));
        let number = model::signal_number(sig);
        if single && number.is_none() {
            return Err(fault(FaultCode::BadSignal, sig));
        }
        let mut items = Vec::new();
        for id in ids {
            let (ns, name, group) = self.namespec(id);
            let Some(p) = self.procs.get(&id) else {
                continue;
            };
            let state = p.st.state;
            if !single && !state.is_running() {
                continue;
            }
            let r = match number {
                None => Err(fault(FaultCode::BadSignal, sig)),
                Some(_) if !state.is_signallable() || p.st.pid == 0 => {
                    Err(fault(FaultCode::NotRunning, &ns))
                }
                Some(n) => {
                    send_signal(p.st.pid, n, false).map_err(|e| fault(FaultCode::Failed, &e))
                }
            };
            items.push(Item {
                name,
                group,
                outcome: Outcome::Done(r),
            });
        }
        Ok(items)
    }
}
