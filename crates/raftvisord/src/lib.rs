//! The raftvisor daemon as a library: [`run`] takes a loaded configuration and a shutdown
//! token and runs one daemon — the local supervisor (procman), the HTTP servers (XML-RPC,
//! logtail), and, with a `[rpcinterface:supvisors]` section, the cluster node and the
//! `supvisors` namespace — until it is stopped. The `raftvisord` binary only parses its
//! command line, loads the configuration, installs the main log, turns signals into the
//! shutdown token and [`Request`]s, and maps [`Error`]s to exit statuses; tests start daemons
//! in-process the same way (`tests/run.rs`).
//!
//! What it is not: the process supervision (`procman`), the cluster (`cluster`), the planner
//! (`commander`) or the APIs (`web`, `supvisors`) — it wires them, owns what they share (the
//! [`supvisors::ConfigView`] of the configuration, see `view.rs`), and orders start-up and
//! shutdown.
//!
//! Exit status, one rule ([`Error::exit_status`]): **2** when the daemon never started
//! serving — any error found before (the config, a rules file, a port or socket already in
//! use, a log or pid file it cannot write, the cluster node that cannot start); nothing is
//! left running then, since the HTTP ports are bound before any program starts and a cluster
//! autostarts only once its node is up. **1** when it started and then failed (e.g. its Raft
//! core ended). **78** ([`EXIT_OPERATOR_NEEDED`]) when its data dir needs an operator: the
//! instance lost its Raft state or was removed from the membership (README, "a host lost its
//! disk"). **0** after a requested stop.
//!
//! Once start-up is over the daemon gives back the memory only start-up needed (`memory.rs`);
//! the binary caps malloc's arenas first thing ([`limit_arenas`]).

mod daemon;
mod error;
pub mod logging;
pub mod memory;
mod source;
mod view;

pub use daemon::{run, Daemon, Request};
pub use error::{Error, EXIT_OPERATOR_NEEDED};
pub use logging::Logging;
pub use memory::limit_arenas;
pub use source::{ConfigSource, LoadError, Overrides};
