//! Supervisor's INI configuration, parsed strictly into [`model::Config`].
//!
//! This crate reads a `supervisord.conf` (and the files its `[include]` names) the way
//! Supervisor 4.x does — Python `RawConfigParser` syntax, `%(name)s` expansions, the same
//! defaults and value types — and produces the fully resolved [`model::Config`]: defaults
//! applied, expansions done, `numprocs` expanded, groups and processes sorted in start order.
//!
//! It is stricter than Supervisor: unknown options in the sections it interprets are errors,
//! and *all* problems are reported at once, each as `file:line: [section] option: message`.
//! It is not a writer, does not watch files, and does not interpret plugin sections
//! (`[rpcinterface:x]` other than `supervisor`, `[ctlplugin:x]`, unknown sections): those are
//! kept verbatim in [`model::Config::extra_sections`] for later layers. An `[fcgi-program:x]`
//! group carries its socket in [`model::GroupKind::FastCgi`]. The one plugin section raftvisor understands, `[rpcinterface:supvisors]`, is
//! resolved on request by [`supvisors::resolve`] into [`model::supvisors::SupvisorsSpec`]
//! (options documented in `SUPVISORS_OPTIONS.md`). raftvisor's own `[program:x]` options (such
//! as `survive_daemon`) are documented in `PROGRAM_OPTIONS.md`.
//! [`load_with_numprocs`] loads with the `numprocs` of some programs forced, for Supvisors'
//! `update_numprocs` (the daemon keeps those overrides so a re-read does not undo them).
//! The Supvisors rules files that section names (XML) are read by [`rules::load`] into
//! [`model::rules::Rules`].
//!
//! ```text
//! files ──ini──▶ sections (file:line per option) ──reader+expand──▶ typed values
//!                                                   │
//!        [supervisord] [*_http_server] [supervisorctl] [program/group/eventlistener/fcgi-program] ──▶ Config
//! ```
//!
//! The loader touches the system only to read files, check that directories, users and
//! groups exist (as Supervisor does at startup), and read the host name; everything else is
//! pure and unit-tested beside the code.

mod daemon;
mod error;
mod events;
mod expand;
mod fcgi;
mod ini;
mod load;
mod programs;
mod reader;
pub mod rules;
mod shlex;
pub mod supvisors;
mod system;
mod values;

#[cfg(test)]
mod tests;

pub use error::{ConfigError, Problem};
pub use events::EVENT_TYPES;
pub use load::{load, load_with, load_with_numprocs, load_with_warnings, Context};
pub use programs::NumprocsOverrides;
pub use shlex::split_command;
pub use values::{parse_bool, parse_bytes, parse_int, parse_loglevel, parse_octal};
