//! The contract between the local supervisor and its front ends (XML-RPC in `crates/web` and
//! `crates/supvisors`, the cluster layer in `crates/cluster`). It speaks Supervisor's domain — namespecs, states, faults — but no XML:
//! each method maps one-to-one to a `supervisor.*` XML-RPC method, and returns exactly the data
//! that method puts on the wire, with the same faults.
//!
//! Names passed in are namespecs as the client sent them (`name`, `group:name`). Group-wide
//! operations (`group:*`) have their own methods; the web layer decides which one to call.

use model::{Fault, FaultCode, ProcessState, SupervisorState};
use std::future::Future;

/// The 14 keys of `getProcessInfo`, with Supervisor's types (times are epoch seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub name: String,
    pub group: String,
    pub description: String,
    pub start: i64,
    pub stop: i64,
    pub now: i64,
    pub state: ProcessState,
    pub spawnerr: String,
    pub exitstatus: i32,
    /// Same as `stdout_logfile` (Supervisor's backward-compatible alias).
    pub logfile: String,
    pub stdout_logfile: String,
    pub stderr_logfile: String,
    pub pid: i32,
}

/// One entry of the arrays returned by the group/all operations:
/// `{name, group, status, description}` where status 80 = SUCCESS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcResult {
    pub name: String,
    pub group: String,
    /// `Ok(())` renders as status 80 / description `OK`; `Err(f)` as `f.code` / `f.fault_string()`.
    pub outcome: Result<(), Fault>,
}

/// A value of `getAllConfigInfo`, already in wire form (`'none'`/`'auto'` markers applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigValue {
    Int(i64),
    Bool(bool),
    Str(String),
    IntList(Vec<i32>),
}

/// One struct of `getAllConfigInfo`: `(key, value)` pairs in Supervisor's key set.
pub type ConfigInfo = Vec<(&'static str, ConfigValue)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Stdout,
    Stderr,
}

/// `[added, changed, removed]` group names of `reloadConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigDiff {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

/// A chunk of live output, for `GET /logtail/...` (supervisorctl `tail -f`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    pub data: Vec<u8>,
}

/// The local supervisor as its front ends see it. Implemented by `procman::Supervisor`.
///
/// Every method returns once its own work is done: `wait = true` start/stop calls resolve when
/// *that* request is finished (RUNNING, or the stop completed), never blocking other callers.
pub trait SupervisorApi: Clone + Send + Sync + 'static {
    fn state(&self) -> SupervisorState;
    fn identification(&self) -> String;
    /// Pid of the daemon itself.
    fn pid(&self) -> i32;

    fn read_main_log(
        &self,
        offset: i64,
        length: i64,
    ) -> impl Future<Output = Result<String, Fault>> + Send;
    fn clear_main_log(&self) -> impl Future<Output = Result<(), Fault>> + Send;

    fn process_info(
        &self,
        namespec: &str,
    ) -> impl Future<Output = Result<ProcessInfo, Fault>> + Send;
    /// Sorted by group name then process name.
    fn all_process_info(&self) -> impl Future<Output = Vec<ProcessInfo>> + Send;
    /// One per configured process, including inactive groups; sorted by process name.
    fn all_config_info(&self) -> impl Future<Output = Vec<ConfigInfo>> + Send;

    /// Supvisors' `update_numprocs` on the local configuration: see
    /// `procman::Supervisor::update_numprocs`. The default serves implementations without it
    /// (test fakes): SUPVISORS_CONF_ERROR.
    fn update_numprocs(
        &self,
        program: &str,
        numprocs: u32,
    ) -> impl Future<Output = Result<crate::NumprocsChange, Fault>> + Send {
        let _ = (program, numprocs);
        async move {
            Err(Fault::with(
                FaultCode::SupvisorsConfError,
                "numprocs not applicable: not supported here",
            ))
        }
    }

    fn start_process(
        &self,
        namespec: &str,
        wait: bool,
    ) -> impl Future<Output = Result<(), Fault>> + Send;
    /// Supvisors' `start_args`: starts one process with `extra_args` appended to its command
    /// line (split like a POSIX shell); they stay for its autorestarts and later plain starts
    /// until the next call, and an empty `extra_args` clears them. Faults as `start_process`,
    /// plus INCORRECT_PARAMETERS for a string that cannot be split.
    ///
    /// The default serves implementations without extra-argument support (test fakes): an
    /// empty `extra_args` is a plain `start_process`, anything else INCORRECT_PARAMETERS.
    /// `procman::Supervisor` overrides it.
    fn start_process_args(
        &self,
        namespec: &str,
        extra_args: &str,
        wait: bool,
    ) -> impl Future<Output = Result<(), Fault>> + Send {
        async move {
            if extra_args.trim().is_empty() {
                self.start_process(namespec, wait).await
            } else {
                Err(Fault::with(
                    FaultCode::IncorrectParameters,
                    "extra arguments are not supported here",
                ))
            }
        }
    }
    fn start_group(
        &self,
        group: &str,
        wait: bool,
    ) -> impl Future<Output = Result<Vec<ProcResult>, Fault>> + Send;
    fn start_all(&self, wait: bool) -> impl Future<Output = Result<Vec<ProcResult>, Fault>> + Send;

    fn stop_process(
        &self,
        namespec: &str,
        wait: bool,
    ) -> impl Future<Output = Result<(), Fault>> + Send;
    fn stop_group(
        &self,
        group: &str,
        wait: bool,
    ) -> impl Future<Output = Result<Vec<ProcResult>, Fault>> + Send;
    fn stop_all(&self, wait: bool) -> impl Future<Output = Result<Vec<ProcResult>, Fault>> + Send;

    /// `signal` as the client sent it: a name (`HUP`, `SIGHUP`, any case) or a number as text.
    fn signal_process(
        &self,
        namespec: &str,
        signal: &str,
    ) -> impl Future<Output = Result<(), Fault>> + Send;
    fn signal_group(
        &self,
        group: &str,
        signal: &str,
    ) -> impl Future<Output = Result<Vec<ProcResult>, Fault>> + Send;
    fn signal_all(
        &self,
        signal: &str,
    ) -> impl Future<Output = Result<Vec<ProcResult>, Fault>> + Send;

    fn read_process_log(
        &self,
        namespec: &str,
        channel: Channel,
        offset: i64,
        length: i64,
    ) -> impl Future<Output = Result<String, Fault>> + Send;
    /// `(bytes, new offset, overflow)` with Supervisor's `tailFile` algorithm.
    fn tail_process_log(
        &self,
        namespec: &str,
        channel: Channel,
        offset: i64,
        length: i64,
    ) -> impl Future<Output = Result<(String, i64, bool), Fault>> + Send;
    fn clear_process_logs(&self, namespec: &str) -> impl Future<Output = Result<(), Fault>> + Send;
    fn clear_all_process_logs(&self)
        -> impl Future<Output = Result<Vec<ProcResult>, Fault>> + Send;
    /// Path of the log file of a channel, for the streaming `/logtail` endpoint (BAD_NAME, NO_FILE).
    fn log_path(
        &self,
        namespec: &str,
        channel: Channel,
    ) -> impl Future<Output = Result<std::path::PathBuf, Fault>> + Send;
    /// Path of the daemon's main log file, for `/mainlogtail` (NO_FILE when none).
    fn main_log_path(&self) -> Result<std::path::PathBuf, Fault>;

    fn send_process_stdin(
        &self,
        namespec: &str,
        chars: &str,
    ) -> impl Future<Output = Result<(), Fault>> + Send;
    fn send_remote_comm_event(
        &self,
        kind: &str,
        data: &str,
    ) -> impl Future<Output = Result<(), Fault>> + Send;

    fn reload_config(&self) -> impl Future<Output = Result<ConfigDiff, Fault>> + Send;
    fn add_process_group(&self, name: &str) -> impl Future<Output = Result<(), Fault>> + Send;
    fn remove_process_group(&self, name: &str) -> impl Future<Output = Result<(), Fault>> + Send;

    /// Starts the shutdown (mood SHUTDOWN) and returns at once; the daemon exits when done.
    fn shutdown(&self) -> Result<(), Fault>;
    /// Starts a restart (mood RESTARTING: stop all, re-read config, start again) and returns.
    fn restart(&self) -> Result<(), Fault>;
}
