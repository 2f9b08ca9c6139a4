//! Domain types shared by every raftvisor crate.
//!
//! This crate holds plain data and pure helpers only: process and daemon states with Supervisor's
//! numeric codes, the fault table of Supervisor's and Supvisors' XML-RPC APIs, namespec parsing,
//! signals, `host:port` endpoints that may be IPv6 ([`net`]), and the *resolved* configuration
//! that `crates/config` produces: the specification of every process ([`spec`], which
//! `crates/procman` consumes), the `[rpcinterface:supvisors]` section ([`supvisors`]: instances,
//! voters, timings, the fence bound) and the Supvisors rules files ([`rules`]). It does no I/O,
//! so every other crate can depend on it and tests can build specs by hand.

pub mod fault;
pub mod names;
pub mod net;
pub mod rules;
pub mod secret;
pub mod signal;
pub mod spec;
pub mod state;
pub mod supvisors;
pub mod text;
pub mod time;

pub use fault::{Fault, FaultCode};
pub use names::{make_namespec, split_namespec, NameSpec};
pub use secret::Secret;
pub use signal::{signal_name, signal_number};
pub use spec::*;
pub use state::{ListenerState, ProcessState, SupervisorState};
