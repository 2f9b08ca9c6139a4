//! Domain types shared by every raftvisor crate.
//!
//! This crate holds plain data and pure helpers only: process and daemon states with Supervisor's
//! numeric codes, the fault table of Supervisor's XML-RPC API, namespec parsing, and the *resolved*
//! specification of a process (what `crates/config` produces from an INI file and what
//! `crates/procman` consumes). It does no I/O, so every other crate can depend on it and tests can
//! build specs by hand.

pub mod fault;
pub mod names;
pub mod net;
pub mod rules;
pub mod signal;
pub mod spec;
pub mod state;
pub mod supvisors;
pub mod text;
pub mod time;

pub use fault::{Fault, FaultCode};
pub use names::{make_namespec, split_namespec, NameSpec};
pub use signal::{signal_name, signal_number};
pub use spec::*;
pub use state::{ListenerState, ProcessState, SupervisorState};
