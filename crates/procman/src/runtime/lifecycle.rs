//! The supervisor's own life: boot (groups added, TICK clocks started, autostart, possibly
//! deferred until the cluster layer installed its start guard), the shutdown or restart that
//! stops one priority batch at a time, and the reload of a restart.

use super::{reload_fn, Actor};
use crate::events;
use crate::machine::Event;
use model::{ProcessState, SupervisorState};
use std::collections::VecDeque;

pub(super) enum Phase {
    Running,
    Stopping {
        /// Remaining batches of group names, next first (same priority = one batch).
        batches: VecDeque<Vec<String>>,
        current: Vec<String>,
        restart: bool,
    },
}

impl Actor {
    pub(super) async fn autostart_group(&mut self, name: &str) {
        let Some(i) = self.group_index(name) else {
            return;
        };
        for id in self.groups[i].procs.clone() {
            self.autostart_one(id).await;
        }
    }

    /// Starts process `id` if `autostart` is set and it was never started, unless the start
    /// guard refuses it (logged).
    pub(super) async fn autostart_one(&mut self, id: u64) {
        let go = self.procs.get(&id).is_some_and(|p| {
            p.spec.autostart && p.st.state == ProcessState::Stopped && p.st.laststart == 0.0
        });
        if !go {
            return;
        }
        if let Some(refused) = self.refusal(id) {
            let (ns, _, _) = self.namespec(id);
            tracing::info!(namespec = %ns, reason = %refused.fault_string(), "autostart refused");
            return;
        }
        self.apply(id, Event::Start).await;
        self.bound_spawns().await;
    }

    pub(super) async fn boot(&mut self) {
        self.clear_auto_logs();
        if let Ok(mut id) = self.shared.identifier.lock() {
            *id = self.config.supervisord.identifier.clone();
        }
        let groups = self.config.groups.clone();
        for g in groups {
            let name = g.name.clone();
            if let Err(e) = self.add_group(g) {
                // checked by Supervisor::start at the first boot; on a restart, left out
                tracing::error!(group = %name, "{e}");
            }
        }
        self.set_mood(SupervisorState::Running);
        // start the TICK clocks now (as Supervisor's first loop does), so the first TICK_5
        // comes at the next multiple of 5 s rather than one period later
        self.tick();
        self.notify(events::supervisor_state_payload(true));
        // A restart before the deferred autostart happened keeps it deferred too.
        if !self.autostart_deferred {
            self.autostart_all().await;
        }
    }

    /// Autostarts every group in priority order (`self.groups` is kept sorted).
    async fn autostart_all(&mut self) {
        let names: Vec<String> = self.groups.iter().map(|g| g.spec.name.clone()).collect();
        for n in names {
            self.autostart_group(&n).await;
        }
    }

    /// The boot-time autostart that `defer_autostart` held back; later calls do nothing.
    pub(super) async fn autostart_deferred_now(&mut self) {
        if !std::mem::take(&mut self.autostart_deferred) {
            return;
        }
        if matches!(self.phase, Phase::Running) {
            self.autostart_all().await;
        }
    }

    pub(super) fn begin_stop(&mut self, restart: bool) {
        self.set_mood(if restart {
            SupervisorState::Restarting
        } else {
            SupervisorState::Shutdown
        });
        self.notify(events::supervisor_state_payload(false));
        let mut batches: VecDeque<Vec<String>> = VecDeque::new();
        for g in self.groups.iter().rev() {
            match batches.back_mut() {
                Some(b)
                    if self
                        .group_index(&b[0])
                        .map(|i| self.groups[i].spec.priority)
                        == Some(g.spec.priority) =>
                {
                    b.push(g.spec.name.clone())
                }
                _ => batches.push_back(vec![g.spec.name.clone()]),
            }
        }
        self.phase = Phase::Stopping {
            batches,
            current: Vec::new(),
            restart,
        };
    }

    /// Drives a shutdown/restart: stop one priority batch at a time; returns true when done.
    pub(super) async fn progress_stop(&mut self) -> Option<bool> {
        loop {
            let Phase::Stopping {
                batches,
                current,
                restart,
            } = &mut self.phase
            else {
                return None;
            };
            let restart = *restart;
            // Called at every exit during a shutdown: one pass over the groups, not one search
            // per group of the batch (a batch of 500 made the stop quadratic in string compares).
            let batch: std::collections::HashSet<&str> =
                current.iter().map(String::as_str).collect();
            let current_done = self
                .groups
                .iter()
                .filter(|x| batch.contains(x.spec.name.as_str()))
                .all(|x| {
                    x.procs
                        .iter()
                        .all(|id| self.procs.get(id).is_none_or(|p| p.st.state.is_stopped()))
                });
            if !current_done {
                return None;
            }
            let Some(next) = batches.pop_front() else {
                return Some(restart);
            };
            *current = next.clone();
            for g in next {
                let ids: Vec<u64> = self
                    .group_index(&g)
                    .map(|i| self.groups[i].procs.iter().rev().copied().collect())
                    .unwrap_or_default();
                for id in ids {
                    self.apply(id, Event::Shutdown).await;
                }
            }
        }
    }

    pub(super) async fn restart_now(&mut self) -> Result<(), String> {
        let reload = reload_fn(&self.reloader, &self.shared);
        let new = tokio::task::spawn_blocking(reload)
            .await
            .map_err(|e| format!("config reloader panicked: {e}"))??;
        let names: Vec<String> = self.groups.iter().map(|g| g.spec.name.clone()).collect();
        for n in names {
            let _ = self.remove_group(&n);
        }
        self.config = new;
        self.phase = Phase::Running;
        self.boot().await;
        self.flush_spawns().await;
        Ok(())
    }
}
