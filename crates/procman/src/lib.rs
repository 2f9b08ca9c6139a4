//! procman: the local process supervisor of one raftvisor instance — Supervisor's behaviour
//! (state machine, spawning, logs, event listeners, the shared listening socket of an
//! `[fcgi-program:x]` group given to its processes as stdin) behind the [`SupervisorApi`]
//! trait that the XML-RPC front ends (`crates/web`, `crates/supvisors`) and the cluster layer
//! (its process state feed, the leader's orders, the fence) use.
//!
//! It is not an RPC server and not a config parser: it takes a resolved [`model::Config`] and a
//! reloader callback, and knows nothing of XML or Raft. Supvisors' `update_numprocs`
//! ([`Supervisor::update_numprocs`]) resizes a program at run time through a second reloader
//! that applies `numprocs` overrides ([`Supervisor::set_numprocs_reloader`]).
//!
//! ```text
//!  Supervisor (handle, Clone) ──Msg──► runtime::Actor (owns all processes)
//!                                        │ machine::step (pure) → actions
//!                                        ├─► spawn::Spawner thread: fork (PDEATHSIG), reap
//!                                        │     (fd 0: a stdin pipe, or the fcgi socket)
//!                                        ├─► pipe readers → output::OutputDispatcher (capture,
//!                                        │     strip_ansi) → logs::RotatingFile, syslog, tail,
//!                                        │     listener protocol
//!                                        └─► events: listener pools, broadcast ProcessEvent
//! ```
pub mod api;
pub mod events;
mod handle;
pub mod info;
pub mod logs;
pub mod machine;
pub mod numprocs;
pub mod output;
mod runtime;
pub mod spawn;
mod vfork;

pub use api::*;
pub use handle::{Completion, Error, Options, Supervisor};
pub use numprocs::{NumprocsChange, NumprocsOverrides, NumprocsReloader};
pub use runtime::{Exit, ProcessEvent, Reloader, StartGuard};
