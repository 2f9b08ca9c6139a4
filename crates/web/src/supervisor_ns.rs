//! The `supervisor` namespace: Supervisor's `SupervisorNamespaceRPCInterface` mapped onto
//! [`SupervisorApi`]. This module only converts parameters, routes `group:*` namespecs to the
//! group operations and encodes results; the behaviour lives behind the trait.

use crate::encode;
use crate::namespace::{MethodDef, Namespace};
use crate::params;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use model::{Fault, FaultCode, NameSpec};
use procman::{Channel, ProcResult, SupervisorApi};
use xmlrpc::Value;

/// Supervisor's RPC API version (`getAPIVersion`, and `getVersion` that supervisorctl checks).
pub const API_VERSION: &str = "3.0";
/// The Supervisor release whose behaviour this front end reproduces.
pub const SUPERVISOR_VERSION: &str = "4.3.0";

const NAME: (&str, &str) = ("string", "name");
const WAIT: (&str, &str) = ("boolean", "wait");
const SIGNAL: (&str, &str) = ("string", "signal");
const OFFSET: (&str, &str) = ("int", "offset");
const LENGTH: (&str, &str) = ("int", "length");

/// Every method of the namespace, aliases included. [`SupervisorNamespace::call`] answers each
/// of them (a unit test checks that none falls through).
pub static METHODS: &[MethodDef] = &[
    MethodDef::new("getAPIVersion", "string", &[], 0, "Return the version of the RPC API used by supervisord"),
    MethodDef::new("getVersion", "string", &[], 0, "Return the version of the RPC API used by supervisord (alias of getAPIVersion)"),
    MethodDef::new("getSupervisorVersion", "string", &[], 0, "Return the version of the supervisor package in use by supervisord"),
    MethodDef::new("getIdentification", "string", &[], 0, "Return identifying string of supervisord"),
    MethodDef::new("getState", "struct", &[], 0, "Return current state of supervisord as a struct with keys int statecode, string statename"),
    MethodDef::new("getPID", "int", &[], 0, "Return the PID of supervisord"),
    MethodDef::new("readLog", "string", &[OFFSET, LENGTH], 0, "Read length bytes from the main log starting at offset"),
    MethodDef::new("readMainLog", "string", &[OFFSET, LENGTH], 0, "Read length bytes from the main log starting at offset (alias of readLog)"),
    MethodDef::new("clearLog", "boolean", &[], 0, "Clear the main log"),
    MethodDef::new("shutdown", "boolean", &[], 0, "Shut down the supervisor process"),
    MethodDef::new("restart", "boolean", &[], 0, "Restart the supervisor process"),
    MethodDef::new("reloadConfig", "array", &[], 0, "Reload the configuration; the result is [[added, changed, removed]] process group names"),
    MethodDef::new("addProcessGroup", "boolean", &[NAME], 0, "Update the config for a running process from config file"),
    MethodDef::new("removeProcessGroup", "boolean", &[NAME], 0, "Remove a stopped process from the active configuration"),
    MethodDef::new("startProcess", "boolean", &[NAME, WAIT], 1, "Start a process (name, group:name or group:*)"),
    MethodDef::new("startProcessGroup", "array", &[NAME, WAIT], 1, "Start all processes in the group named 'name'"),
    MethodDef::new("startAllProcesses", "array", &[WAIT], 1, "Start all processes listed in the configuration file"),
    MethodDef::new("stopProcess", "boolean", &[NAME, WAIT], 1, "Stop a process named by name (or group:name, group:*)"),
    MethodDef::new("stopProcessGroup", "array", &[NAME, WAIT], 1, "Stop all processes in the process group named 'name'"),
    MethodDef::new("stopAllProcesses", "array", &[WAIT], 1, "Stop all processes in the process list"),
    MethodDef::new("signalProcess", "boolean", &[NAME, SIGNAL], 0, "Send an arbitrary UNIX signal to the process named by name"),
    MethodDef::new("signalProcessGroup", "array", &[NAME, SIGNAL], 0, "Send a signal to all processes in the group named 'name'"),
    MethodDef::new("signalAllProcesses", "array", &[SIGNAL], 0, "Send a signal to all processes in the process list"),
    MethodDef::new("getAllConfigInfo", "array", &[], 0, "Get info about all available process configurations"),
    MethodDef::new("getProcessInfo", "struct", &[NAME], 0, "Get info about a process named name"),
    MethodDef::new("getAllProcessInfo", "array", &[], 0, "Get info about all processes"),
    MethodDef::new("readProcessStdoutLog", "string", &[NAME, OFFSET, LENGTH], 0, "Read length bytes from name's stdout log starting at offset"),
    MethodDef::new("readProcessLog", "string", &[NAME, OFFSET, LENGTH], 0, "Read length bytes from name's stdout log starting at offset (alias of readProcessStdoutLog)"),
    MethodDef::new("readProcessStderrLog", "string", &[NAME, OFFSET, LENGTH], 0, "Read length bytes from name's stderr log starting at offset"),
    MethodDef::new("tailProcessStdoutLog", "array", &[NAME, OFFSET, LENGTH], 0, "Tail the stdout log: [string bytes, int offset, bool overflow]"),
    MethodDef::new("tailProcessLog", "array", &[NAME, OFFSET, LENGTH], 0, "Tail the stdout log: [string bytes, int offset, bool overflow] (alias of tailProcessStdoutLog)"),
    MethodDef::new("tailProcessStderrLog", "array", &[NAME, OFFSET, LENGTH], 0, "Tail the stderr log: [string bytes, int offset, bool overflow]"),
    MethodDef::new("clearProcessLogs", "boolean", &[NAME], 0, "Clear the stdout and stderr logs for the named process and reopen them"),
    MethodDef::new("clearProcessLog", "boolean", &[NAME], 0, "Clear the stdout and stderr logs for the named process and reopen them (alias of clearProcessLogs)"),
    MethodDef::new("clearAllProcessLogs", "array", &[], 0, "Clear all process log files"),
    MethodDef::new("sendProcessStdin", "boolean", &[NAME, ("string", "chars")], 0, "Send a string of chars to the stdin of the process name"),
    MethodDef::new("sendRemoteCommEvent", "boolean", &[("string", "type"), ("string", "data")], 0, "Send an event that will be received by event listener subprocesses subscribing to the RemoteCommunicationEvent"),
];

/// The `supervisor` namespace over any [`SupervisorApi`].
#[derive(Clone)]
pub struct SupervisorNamespace<S> {
    api: S,
}

impl<S: SupervisorApi> SupervisorNamespace<S> {
    pub fn new(api: S) -> Self {
        SupervisorNamespace { api }
    }

    /// Supervisor's `_update` check: every method but `sendRemoteCommEvent` fails with
    /// SHUTDOWN_STATE while the daemon is restarting or shutting down (mood < RUNNING).
    fn check_mood(&self, method: &str) -> Result<(), Fault> {
        if method != "sendRemoteCommEvent" && self.api.state().code() < 1 {
            return Err(Fault::new(FaultCode::ShutdownState));
        }
        Ok(())
    }

    async fn run(&self, method: &str, p: &[Value]) -> Result<Value, Fault> {
        self.check_mood(method)?;
        let api = &self.api;
        // The dispatcher checked the arity; `arg` keeps a direct caller from panicking.
        let arg = |i: usize| p.get(i).ok_or(Fault::new(FaultCode::IncorrectParameters));
        let name = |i: usize| params::string(arg(i)?, "name");
        let int = |i: usize, what: &str| params::int(arg(i)?, what);
        let ok = |()| Value::Bool(true);
        match method {
            "getAPIVersion" | "getVersion" => Ok(Value::String(API_VERSION.into())),
            "getSupervisorVersion" => Ok(Value::String(SUPERVISOR_VERSION.into())),
            "getIdentification" => Ok(Value::String(api.identification())),
            "getState" => Ok(encode::supervisor_state(api.state())),
            "getPID" => Ok(Value::Int(api.pid())),
            "readLog" | "readMainLog" => {
                let (offset, length) = (int(0, "offset")?, int(1, "length")?);
                api.read_main_log(offset, length).await.map(Value::String)
            }
            "clearLog" => api.clear_main_log().await.map(ok),
            "shutdown" => api.shutdown().map(ok),
            "restart" => api.restart().map(ok),
            "reloadConfig" => api.reload_config().await.map(|d| encode::config_diff(&d)),
            "addProcessGroup" => api.add_process_group(&name(0)?).await.map(ok),
            "removeProcessGroup" => api.remove_process_group(&name(0)?).await.map(ok),
            "startProcess" => {
                let (spec, wait) = (name(0)?, params::wait_flag(p, 1));
                match NameSpec::parse(&spec) {
                    NameSpec::Group(group) => {
                        group_results(api.start_group(&group, wait).await, &spec)
                    }
                    NameSpec::Process { .. } => api.start_process(&spec, wait).await.map(ok),
                }
            }
            "startProcessGroup" => {
                let results = api.start_group(&name(0)?, params::wait_flag(p, 1)).await?;
                Ok(encode::proc_results(&results))
            }
            "startAllProcesses" => {
                let results = api.start_all(params::wait_flag(p, 0)).await?;
                Ok(encode::proc_results(&results))
            }
            "stopProcess" => {
                let (spec, wait) = (name(0)?, params::wait_flag(p, 1));
                match NameSpec::parse(&spec) {
                    NameSpec::Group(group) => {
                        group_results(api.stop_group(&group, wait).await, &spec)
                    }
                    NameSpec::Process { .. } => api.stop_process(&spec, wait).await.map(ok),
                }
            }
            "stopProcessGroup" => {
                let results = api.stop_group(&name(0)?, params::wait_flag(p, 1)).await?;
                Ok(encode::proc_results(&results))
            }
            "stopAllProcesses" => {
                let results = api.stop_all(params::wait_flag(p, 0)).await?;
                Ok(encode::proc_results(&results))
            }
            "signalProcess" => {
                let (spec, signal) = (name(0)?, params::signal(arg(1)?)?);
                match NameSpec::parse(&spec) {
                    NameSpec::Group(group) => {
                        group_results(api.signal_group(&group, &signal).await, &spec)
                    }
                    NameSpec::Process { .. } => api.signal_process(&spec, &signal).await.map(ok),
                }
            }
            "signalProcessGroup" => {
                let (group, signal) = (name(0)?, params::signal(arg(1)?)?);
                let results = api.signal_group(&group, &signal).await?;
                Ok(encode::proc_results(&results))
            }
            "signalAllProcesses" => {
                let results = api.signal_all(&params::signal(arg(0)?)?).await?;
                Ok(encode::proc_results(&results))
            }
            "getAllConfigInfo" => {
                let infos = api.all_config_info().await;
                Ok(Value::Array(
                    infos.iter().map(encode::config_info).collect(),
                ))
            }
            "getProcessInfo" => {
                let info = api.process_info(&name(0)?).await?;
                Ok(encode::process_info(&info))
            }
            "getAllProcessInfo" => {
                let infos = api.all_process_info().await;
                Ok(Value::Array(
                    infos.iter().map(encode::process_info).collect(),
                ))
            }
            "readProcessStdoutLog" | "readProcessLog" | "readProcessStderrLog" => {
                let channel = channel_of(method);
                let (spec, offset, length) = (name(0)?, int(1, "offset")?, int(2, "length")?);
                api.read_process_log(&spec, channel, offset, length)
                    .await
                    .map(Value::String)
            }
            "tailProcessStdoutLog" | "tailProcessLog" | "tailProcessStderrLog" => {
                let channel = channel_of(method);
                let (spec, offset, length) = (name(0)?, int(1, "offset")?, int(2, "length")?);
                let (data, offset, overflow) =
                    api.tail_process_log(&spec, channel, offset, length).await?;
                Ok(encode::tail(data, offset, overflow))
            }
            "clearProcessLogs" | "clearProcessLog" => {
                api.clear_process_logs(&name(0)?).await.map(ok)
            }
            "clearAllProcessLogs" => {
                let results = api.clear_all_process_logs().await?;
                Ok(encode::proc_results(&results))
            }
            "sendProcessStdin" => {
                // Supervisor names the offending value alone: `INCORRECT_PARAMETERS: 5`.
                let raw = arg(1)?;
                let chars = params::string(raw, "chars").map_err(|_| {
                    Fault::with(FaultCode::IncorrectParameters, params::describe(raw))
                })?;
                api.send_process_stdin(&name(0)?, &chars).await.map(ok)
            }
            "sendRemoteCommEvent" => {
                let kind = params::string(arg(0)?, "type")?;
                let data = params::string(arg(1)?, "data")?;
                api.send_remote_comm_event(&kind, &data).await.map(ok)
            }
            _ => Err(Fault::new(FaultCode::UnknownMethod)),
        }
    }
}

fn channel_of(method: &str) -> Channel {
    if method.contains("Stderr") {
        Channel::Stderr
    } else {
        Channel::Stdout
    }
}

/// Result of a `group:*` namespec given to start/stop/signal: the array of the group variant.
/// An unknown group names the namespec as the client sent it, as Supervisor does.
fn group_results(results: Result<Vec<ProcResult>, Fault>, spec: &str) -> Result<Value, Fault> {
    match results {
        Ok(results) => Ok(encode::proc_results(&results)),
        Err(fault) if fault.code == FaultCode::BadName => {
            Err(Fault::with(FaultCode::BadName, spec))
        }
        Err(fault) => Err(fault),
    }
}

impl<S: SupervisorApi> Namespace for SupervisorNamespace<S> {
    fn name(&self) -> &str {
        "supervisor"
    }

    fn methods(&self) -> &[MethodDef] {
        METHODS
    }

    fn call<'a>(
        &'a self,
        method: &'a MethodDef,
        params: Vec<Value>,
    ) -> BoxFuture<'a, Result<Value, Fault>> {
        async move { self.run(method.name, &params).await }.boxed()
    }
}
