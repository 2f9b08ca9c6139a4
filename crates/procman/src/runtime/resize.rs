//! Supvisors' `update_numprocs` inside the actor: the current count, the new processes added
//! and autostarted, the obsolete ones stopped and then removed. The planning itself is pure and
//! lives in [`crate::numprocs`].

use super::lifecycle::Phase;
use super::{fault, Actor};
use crate::machine::Event;
use crate::numprocs;
use model::{Config, Fault, FaultCode, GroupSpec, ProcessSpec};
use tokio::sync::oneshot;

/// The outcome of [`Msg::Numprocs`](super::Msg::Numprocs): processes added (and autostarted), processes made
/// obsolete and being stopped, and how long their stops may take.
pub struct NumprocsStep {
    pub added: Vec<String>,
    pub obsolete: Vec<String>,
    /// Resolve when each obsolete process still running has stopped.
    pub stops: Vec<oneshot::Receiver<Result<(), Fault>>>,
    /// The longest `stopwaitsecs` of the obsolete processes plus a margin for the kill.
    pub grace: std::time::Duration,
}

/// Time allowed, past `stopwaitsecs`, for a SIGKILLed process to be reaped.
const STOP_MARGIN: std::time::Duration = std::time::Duration::from_secs(5);

impl Actor {
    /// How many processes `program` has in the first running group that uses it.
    pub(super) fn numprocs_current(&self, program: &str) -> Result<usize, Fault> {
        (0..self.groups.len())
            .map(|gi| numprocs::of_program(&self.running_spec(gi), program).len())
            .find(|&n| n > 0)
            .ok_or_else(|| {
                fault(
                    FaultCode::BadName,
                    &format!("program {program} unknown to Supvisors"),
                )
            })
    }

    /// Applies `config` (re-read with `numprocs` forced for `program`) to the running groups:
    /// records the override, updates the stored configuration, adds the new processes
    /// (STOPPED, then autostarted as at boot) and sets off the stop of the obsolete ones,
    /// which [`Actor::remove_obsolete`] removes once stopped.
    pub(super) async fn apply_numprocs(
        &mut self,
        program: &str,
        count: u32,
        config: Config,
    ) -> Result<NumprocsStep, Fault> {
        self.numprocs_current(program)?;
        let running: Vec<GroupSpec> = (0..self.groups.len())
            .map(|gi| self.running_spec(gi))
            .collect();
        let running: Vec<&GroupSpec> = running.iter().collect();
        let plans = numprocs::plan(program, count, &running, &config)?;
        if let Ok(mut state) = self.shared.numprocs.lock() {
            state.overrides.insert(program.to_string(), count);
        }
        // what getAllConfigInfo and the next reloadConfig diff see
        for g in &mut self.config.groups {
            let desired: Vec<ProcessSpec> = config
                .group(&g.name)
                .map(|r| {
                    numprocs::of_program(r, program)
                        .into_iter()
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            if !desired.is_empty() && !numprocs::of_program(g, program).is_empty() {
                numprocs::replace_program(g, program, &desired);
            }
        }
        let mut added = Vec::new();
        let mut added_ids = Vec::new();
        let mut obsolete = Vec::new();
        for plan in plans {
            let Some(gi) = self.group_index(&plan.group) else {
                continue;
            };
            for spec in &plan.add {
                added.push(model::make_namespec(&spec.group, &spec.name));
                let id = self.new_proc(spec.clone());
                added_ids.push(id);
                self.groups[gi].procs.push(id);
            }
            let procs = &self.procs;
            let g = &mut self.groups[gi];
            g.procs.sort_by_key(|id| {
                procs
                    .get(id)
                    .map(|p| (p.spec.priority, p.spec.name.clone()))
            });
            obsolete.extend(
                plan.obsolete
                    .iter()
                    .map(|name| model::make_namespec(&plan.group, name)),
            );
        }
        tracing::info!(program, numprocs = count, added = ?added, obsolete = ?obsolete, "update_numprocs");
        // A deferred boot autostart will start them with the others.
        if !self.autostart_deferred && matches!(self.phase, Phase::Running) {
            for id in added_ids {
                self.autostart_one(id).await;
            }
        }
        let mut stops = Vec::new();
        let mut grace = std::time::Duration::ZERO;
        for ns in &obsolete {
            let Ok(id) = self.find(ns) else { continue };
            if self.procs.get(&id).is_some_and(|p| p.st.state.is_running()) {
                self.apply(id, Event::Stop).await;
            }
            let Some(p) = self.procs.get_mut(&id) else {
                continue;
            };
            if !p.st.state.is_stopped() {
                let (w, rx) = oneshot::channel();
                p.stop_waiters.push(w);
                stops.push(rx);
                grace = grace.max(std::time::Duration::from_secs(u64::from(
                    p.spec.stopwaitsecs,
                )));
            }
        }
        Ok(NumprocsStep {
            added,
            obsolete,
            stops,
            grace: grace + STOP_MARGIN,
        })
    }

    /// Removes the obsolete processes of an `update_numprocs` decrease; ABNORMAL_TERMINATION
    /// (naming them) for those still running, which are kept. Processes already gone, or
    /// wanted again by a later `update_numprocs`, are skipped.
    pub(super) fn remove_obsolete(&mut self, namespecs: Vec<String>) -> Result<Vec<String>, Fault> {
        let mut removed = Vec::new();
        let mut running = Vec::new();
        for ns in namespecs {
            let Ok(id) = self.find(&ns) else { continue };
            let Some(p) = self.procs.get(&id) else {
                continue;
            };
            let (group, name) = (p.spec.group.clone(), p.spec.name.clone());
            let wanted = self
                .config
                .group(&group)
                .is_some_and(|g| g.processes.iter().any(|q| q.name == name));
            if wanted {
                continue;
            }
            if !p.st.state.is_stopped() {
                running.push(ns);
                continue;
            }
            if let Some(gi) = self.group_index(&group) {
                self.groups[gi].procs.retain(|x| *x != id);
            }
            self.procs.remove(&id);
            self.shared.layout.send_modify(|n| *n += 1);
            if let Ok(mut extra) = self.shared.extra_args.lock() {
                extra.remove(&(group, name));
            }
            removed.push(ns);
        }
        if running.is_empty() {
            Ok(removed)
        } else {
            tracing::error!(still_running = ?running, "update_numprocs: obsolete processes still running, not removed");
            Err(fault(FaultCode::AbnormalTermination, &running.join(" ")))
        }
    }
}
