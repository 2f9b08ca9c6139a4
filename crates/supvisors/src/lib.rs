//! The `supvisors` XML-RPC namespace, state part, wire-compatible with Supvisors 0.14: status
//! methods (`get_supvisors_state`, `get_instance_info`, `get_process_info`, …), `enable` /
//! `disable` and `change_log_level`, served by raftvisord's HTTP front next to `supervisor`.
//!
//! ```text
//!  web dispatcher ── SupvisorsNamespace::call
//!                      ├─ reads ──► ClusterApi::replica()   local replica, no leader needed
//!                      │             └─ synth: per-instance statuses → synthetic process
//!                      ├─ enable/disable ──► ClusterApi::write(Command::Enable|Disable)
//!                      │                     + SupervisorApi::stop_process (local processes)
//!                      ├─ local process info ──► SupervisorApi (local supervisor)
//!                      ├─ get_raft_members / remove_member / add_member (raftvisor
//!                      │    extensions) ──► ClusterApi::raft_members / change_membership
//!                      └─ change_log_level ──► the daemon's callback
//! ```
//!
//! Differences from Supvisors, on purpose: reads never depend on the Master (they keep working
//! during an election); the Master is the Raft leader; writes that cannot commit fail at once
//! with BAD_SUPVISORS_STATE and a text saying why (no leader, cut off, timeout).
//!
//! Not here: the application, rules, conflicts, start/stop and numprocs methods (the
//! commander/rules layers), extra arguments (always `''`), Starter/Stopper jobs (always empty).

mod control;
mod encode;
mod faults;
mod namespace;
mod programs;
mod reply_cache;

#[cfg(test)]
mod control_tests;
#[cfg(test)]
mod fakes;
#[cfg(test)]
mod guard_tests;
#[cfg(test)]
mod tests;

pub use commander::synth;
pub use commander::synth::{all_processes, processes_named, synthesize, SyntheticProcess};
pub use faults::{write_fault, Gate, LOG_LEVELS};
pub use namespace::{
    commander_settings, disabled_guard, is_disabled, ConfigView, SupvisorsNamespace, API_VERSION,
    DEFAULT_SETTLE_TIMEOUT, DEFAULT_WRITE_TIMEOUT, METHODS,
};
pub use programs::ProgramIndex;
