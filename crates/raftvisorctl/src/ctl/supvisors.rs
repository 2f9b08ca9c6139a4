//! The Supvisors commands (supvisorsctl 0.14's plugin, state part): `sversion`, `sstate`,
//! `master`, `strategies`, `instance_status`, `sstatus`, `local_status`, `enable`, `disable`,
//! `loglevel`, and raftvisor's own `members`, `remove_member`, `add_member` (Raft membership
//! by an operator) and `history [-f]`. Each checks `supvisors.get_api_version()` first, prints `ERROR (<faultString>)`
//! on a fault with exit status 1, and formats with `crate::supvisors_format`.

use super::{output, CmdError, CmdResult, Ctl, Flow};
use crate::format::exit;
use crate::supvisors_format::{self, SUPVISORS_API_VERSION};
use client::{Error, Value};
use model::FaultCode;

/// `%H:%M:%S` in local time (`supvisors.utils.simple_localtime`).
fn simple_localtime(seconds: i64) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_opt(seconds, 0) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            t.format("%H:%M:%S").to_string()
        }
        chrono::LocalResult::None => "00:00:00".into(),
    }
}

/// `%Y-%m-%d %H:%M:%S.mmm` in local time, for `history`.
fn history_time(seconds: f64) -> String {
    use chrono::TimeZone;
    let ms = (seconds * 1000.0).round() as i64;
    match chrono::Local.timestamp_millis_opt(ms) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
        }
        chrono::LocalResult::None => format!("{seconds:.3}"),
    }
}

fn internal(msg: String) -> CmdError {
    CmdError::Internal(msg)
}

impl Ctl {
    /// Names every Supvisors command, for the dispatcher.
    pub(super) fn is_supvisors_command(cmd: &str) -> bool {
        supvisors_format::help_text(cmd).is_some()
    }

    pub(super) async fn dispatch_supvisors(&mut self, cmd: &str, arg: &str) -> CmdResult {
        if !self.supvisors_upcheck().await? {
            return Ok(Flow::Continue);
        }
        match cmd {
            "sversion" => {
                self.simple_call("get_api_version", |v| vec![supvisors_format::py_str(v)])
                    .await
            }
            "sstate" => {
                let v = self.s_call("get_supvisors_state", &[]).await;
                self.show(v, |v| supvisors_format::sstate_lines(&v)).await
            }
            "master" => {
                self.simple_call("get_master_identifier", |v| {
                    vec![supvisors_format::py_str(v)]
                })
                .await
            }
            "strategies" => {
                let v = self.s_call("get_strategies", &[]).await;
                self.show(v, |v| supvisors_format::strategies_lines(&v))
                    .await
            }
            "instance_status" => {
                let wanted: Vec<&str> = arg.split_whitespace().collect();
                let v = self.s_call("get_all_instances_info", &[]).await;
                self.show(v, |v| {
                    supvisors_format::instance_status_lines(
                        supvisors_format::items(&v)?,
                        &wanted,
                        &simple_localtime,
                    )
                })
                .await
            }
            "sstatus" => self.do_sstatus(arg).await,
            "local_status" => self.do_local_status(arg).await,
            "enable" | "disable" => self.do_enable_disable(cmd, arg).await,
            "loglevel" => self.do_loglevel(arg).await,
            "members" => {
                let v = self.s_call("get_raft_members", &[]).await;
                self.show(v, |v| {
                    supvisors_format::members_lines(supvisors_format::items(&v)?)
                })
                .await
            }
            "remove_member" | "add_member" => self.do_membership(cmd, arg).await,
            "history" => self.do_history(arg).await,
            _ => match self.dispatch_statistics(cmd, arg).await {
                Some(result) => result,
                None => self.dispatch_applications(cmd, arg).await,
            },
        }
    }

    /// `history [-f|--follow]`: the kept entries; with `-f`, then each new one as it comes
    /// (a poll of the local replica's history twice a second) until Ctrl-C.
    async fn do_history(&mut self, arg: &str) -> CmdResult {
        let follow = match arg.trim() {
            "" => false,
            "-f" | "--follow" => true,
            other => {
                output(&format!("Error: bad argument {other}"));
                self.exitstatus = exit::GENERIC;
                output(supvisors_format::help_text("history").unwrap_or_default());
                return Ok(Flow::Continue);
            }
        };
        let mut next = 0i64;
        let print = |v: Value, next: &mut i64| -> Result<(), CmdError> {
            let (lines, last) = supvisors_format::history_lines(
                supvisors_format::items(&v).map_err(internal)?,
                &history_time,
            )
            .map_err(internal)?;
            lines.iter().for_each(|l| output(l));
            if let Some(last) = last {
                *next = last + 1;
            }
            Ok(())
        };
        match self.s_call("get_history", &[]).await {
            Ok(v) => print(v, &mut next)?,
            Err(e) => {
                self.fault_or_raise(e, "")?;
                return Ok(Flow::Continue);
            }
        }
        if !follow {
            return Ok(Flow::Continue);
        }
        let mut own = None;
        let mut sigint = super::interrupts(&mut self.sigint, &mut own);
        loop {
            tokio::select! {
                () = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
                () = super::interrupted(sigint.as_deref_mut()) => {
                    output("");
                    return Ok(Flow::Continue);
                }
            }
            let since = Value::Int(i32::try_from(next).unwrap_or(i32::MAX));
            match self.client.call("supvisors.get_history", &[since]).await {
                Ok(v) => print(v, &mut next)?,
                Err(e) => return Err(e.into()),
            }
        }
    }

    pub(super) async fn s_call(&self, method: &str, params: &[Value]) -> Result<Value, Error> {
        self.client
            .call(&format!("supvisors.{method}"), params)
            .await
    }

    /// A fault prints `ERROR (<faultString>)` and sets exit status 1; other errors escape.
    pub(super) fn fault_or_raise(&mut self, e: Error, prefix: &str) -> Result<(), CmdError> {
        match e {
            Error::Fault { string, .. } => {
                output(&format!("{prefix}ERROR ({string})"));
                self.exitstatus = exit::GENERIC;
                Ok(())
            }
            other => Err(other.into()),
        }
    }

    pub(super) async fn show(
        &mut self,
        answer: Result<Value, Error>,
        lines: impl FnOnce(Value) -> Result<Vec<String>, String>,
    ) -> CmdResult {
        match answer {
            Ok(v) => lines(v).map_err(internal)?.iter().for_each(|l| output(l)),
            Err(e) => self.fault_or_raise(e, "")?,
        }
        Ok(Flow::Continue)
    }

    async fn simple_call(
        &mut self,
        method: &str,
        lines: impl FnOnce(&Value) -> Vec<String>,
    ) -> CmdResult {
        let v = self.s_call(method, &[]).await;
        self.show(v, |v| Ok(lines(&v))).await
    }

    /// supvisorsctl's `_upcheck`: the server must answer API version 0.14.
    async fn supvisors_upcheck(&mut self) -> Result<bool, CmdError> {
        let url = self.settings.serverurl.clone();
        match self.s_call("get_api_version", &[]).await {
            Ok(Value::String(v)) if v == SUPVISORS_API_VERSION => Ok(true),
            Ok(other) => {
                output(&format!(
                    "ERROR: this version of supvisorsctl expects to talk to a server with API version {SUPVISORS_API_VERSION}, but the remote version is {}.",
                    supvisors_format::py_str(&other)
                ));
                self.exitstatus = exit::NOT_INSTALLED;
                Ok(false)
            }
            Err(Error::Fault { code, .. }) if code == FaultCode::UnknownMethod.code() => {
                output("ERROR: supervisord responded but did not recognize the supvisors namespace commands that supervisorstl uses to control it. Please check that the [rpcinterface:supvisors] section is enabled in the configuration file.");
                self.exitstatus = exit::UNIMPLEMENTED_FEATURE;
                Ok(false)
            }
            Err(Error::ConnectionRefused { .. }) => {
                output(&format!("ERROR: {url} refused connection"));
                self.exitstatus = exit::INSUFFICIENT_PRIVILEGES;
                Ok(false)
            }
            Err(Error::NoSuchSocket { .. }) => {
                output(&format!("ERROR: {url} no such file"));
                self.exitstatus = exit::NOT_RUNNING;
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn do_sstatus(&mut self, arg: &str) -> CmdResult {
        let names: Vec<&str> = arg.split_whitespace().collect();
        let mut infos = Vec::new();
        if names.is_empty() || names.contains(&"all") {
            match self.s_call("get_all_process_info", &[]).await {
                Ok(v) => infos.extend(
                    supvisors_format::items(&v)
                        .map_err(internal)?
                        .iter()
                        .cloned(),
                ),
                Err(e) => self.fault_or_raise(e, "")?,
            }
        } else {
            for name in names {
                match self
                    .s_call("get_process_info", &[Value::String(name.into())])
                    .await
                {
                    Ok(v) => infos.extend(
                        supvisors_format::items(&v)
                            .map_err(internal)?
                            .iter()
                            .cloned(),
                    ),
                    Err(e) => self.fault_or_raise(e, &format!("{name}: "))?,
                }
            }
        }
        supvisors_format::sstatus_lines(&infos)
            .map_err(internal)?
            .iter()
            .for_each(|l| output(l));
        Ok(Flow::Continue)
    }

    async fn do_local_status(&mut self, arg: &str) -> CmdResult {
        let infos = match self.s_call("get_all_local_process_info", &[]).await {
            Ok(v) => supvisors_format::items(&v).map_err(internal)?.to_vec(),
            Err(e) => {
                self.fault_or_raise(e, "")?;
                Vec::new()
            }
        };
        let wanted: Vec<&str> = arg.split_whitespace().collect();
        let chosen = supvisors_format::local_status_select(&infos, &wanted).map_err(internal)?;
        supvisors_format::local_status_lines(&chosen, &simple_localtime)
            .map_err(internal)?
            .iter()
            .for_each(|l| output(l));
        Ok(Flow::Continue)
    }

    pub(super) fn usage_error(&mut self, cmd: &str, message: &str) -> CmdResult {
        output(message);
        self.exitstatus = exit::INVALID_ARGS;
        if let Some(text) = supvisors_format::help_text(cmd) {
            output(text);
        }
        Ok(Flow::Continue)
    }

    /// `remove_member <identifier>` / `add_member <identifier>` (raftvisor): the membership
    /// change, `<identifier> removed: True` on success, the fault otherwise.
    async fn do_membership(&mut self, cmd: &str, arg: &str) -> CmdResult {
        let Some(identifier) = arg.split_whitespace().next() else {
            return self.usage_error(cmd, &format!("ERROR: {cmd} requires an identifier"));
        };
        let done = if cmd == "remove_member" {
            "removed"
        } else {
            "added"
        };
        match self.s_call(cmd, &[Value::String(identifier.into())]).await {
            Ok(v) => output(&format!(
                "{identifier} {done}: {}",
                supvisors_format::py_str(&v)
            )),
            Err(e) => self.fault_or_raise(e, "")?,
        }
        Ok(Flow::Continue)
    }

    async fn do_enable_disable(&mut self, cmd: &str, arg: &str) -> CmdResult {
        let Some(program) = arg.split_whitespace().next() else {
            return self.usage_error(cmd, &format!("ERROR: {cmd} requires a program name"));
        };
        match self.s_call(cmd, &[Value::String(program.into())]).await {
            Ok(v) => output(&format!(
                "{program} {cmd}d: {}",
                supvisors_format::py_str(&v)
            )),
            Err(e) => self.fault_or_raise(e, "")?,
        }
        Ok(Flow::Continue)
    }

    async fn do_loglevel(&mut self, arg: &str) -> CmdResult {
        let Some(level) = arg.split_whitespace().next() else {
            return self.usage_error("loglevel", "ERROR: loglevel requires a level");
        };
        let Some(number) = supvisors_format::log_level_number(level) else {
            return self.usage_error("loglevel", "ERROR: unknown level for Logger");
        };
        match self.s_call("change_log_level", &[Value::Int(number)]).await {
            Ok(v) => output(&format!(
                "Logger level changed: {}",
                supvisors_format::py_str(&v)
            )),
            Err(e) => self.fault_or_raise(e, "")?,
        }
        Ok(Flow::Continue)
    }
}
