//! The `supvisors` XML-RPC namespace, wire-compatible with Supvisors 0.14, served by
//! raftvisord's HTTP front next to `supervisor`: the status methods (`get_supvisors_state`,
//! `get_instance_info`, `get_process_info`, `get_application_info`, the rules, the conflicts…),
//! the control methods (`start_application`, `stop_process`, `restart_sequence`, `shutdown`,
//! `conciliate`…, in the `control` module, which submit the commander's jobs),
//! `start_args` and `update_numprocs` on the local instance, `enable` / `disable`,
//! `change_log_level`, and raftvisor's Raft methods. The semantics and every difference from
//! Supvisors are in docs/supvisors.md.
//!
//! ```text
//!  web dispatcher ── SupvisorsNamespace::call
//!                      ├─ reads ──► ClusterApi::replica()   local replica, no leader needed
//!                      │             └─ synth: per-instance statuses → synthetic process
//!                      ├─ enable/disable ──► ClusterApi::write(Command::Enable|Disable)
//!                      │                     + SupervisorApi::stop_process (local processes)
//!                      ├─ local process info ──► SupervisorApi (local supervisor)
//!                      ├─ control (start/stop/restart…) ──► commander builds a Job
//!                      │    ──► ClusterApi::write(Command::Jobs) ──► leader runs it;
//!                      │    `wait`: follow that job in the local replica
//!                      ├─ get_raft_members / remove_member / add_member (raftvisor
//!                      │    extensions) ──► ClusterApi::raft_members / change_membership
//!                      └─ change_log_level ──► the daemon's callback
//! ```
//!
//! Differences from Supvisors, on purpose: reads never depend on the Master (they keep working
//! during an election); the Master is the Raft leader; writes that cannot commit fail at once
//! with BAD_SUPVISORS_STATE and a text saying why (no leader, cut off, timeout).
//!
//! Not here: the planning itself (placement, sequences, strategies: `crates/commander`, run by
//! the leader) and the Raft layer (`crates/cluster`). Not implemented: the Supvisors methods
//! added after 0.14 (except `test_start_application`), the statistics methods, events.

mod control;
mod encode;
mod faults;
mod namespace;
mod programs;
mod reply_cache;
mod statistics;

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
