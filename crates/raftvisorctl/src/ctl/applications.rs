//! The Supvisors application and process commands of supvisorsctl 0.14: `application_info`,
//! `application_rules`, `process_rules`, `conflicts`, the start/stop/restart family,
//! `update_numprocs`, `conciliate`, `restart_sequence`, `sreload`, `sshutdown`. Same syntax,
//! messages and exit statuses; tables and argument checks come from `crate::application_format`.
//! The calls that wait server-side show a progress line on a terminal (`crate::progress`).

use super::{build_client, output, CmdError, CmdResult, Ctl, Flow};
use crate::application_format;
use crate::format::exit;
use crate::progress::{with_progress, Watch};
use crate::supvisors_format::{self, py_str};
use client::{Error, Value};

fn internal(msg: String) -> CmdError {
    CmdError::Internal(msg)
}

fn string(s: &str) -> Value {
    Value::String(s.to_string())
}

impl Ctl {
    pub(super) async fn dispatch_applications(&mut self, cmd: &str, arg: &str) -> CmdResult {
        let args: Vec<&str> = arg.split_whitespace().collect();
        match cmd {
            "application_info" => {
                let v = self.s_call("get_all_applications_info", &[]).await;
                self.show(v, |v| {
                    application_format::application_info_lines(supvisors_format::items(&v)?, &args)
                })
                .await
            }
            "application_rules" => self.do_application_rules(&args).await,
            "process_rules" => self.do_process_rules(&args).await,
            "conflicts" => {
                let v = self.s_call("get_conflicts", &[]).await;
                self.show(v, |v| {
                    application_format::conflicts_lines(supvisors_format::items(&v)?)
                })
                .await
            }
            "start_application" | "restart_application" => {
                self.do_start_application(cmd, &args).await
            }
            "stop_application" => self.do_stop_application(&args).await,
            "start_args" => self.do_start_args(&args).await,
            "start_process" => self.do_start_process(&args).await,
            "start_process_args" => self.do_start_process_args(&args).await,
            "start_any_process" => self.do_start_any_process(&args).await,
            "start_any_process_args" => self.do_start_any_process_args(&args).await,
            "stop_process" => self.do_stop_process(&args).await,
            "restart_process" => self.do_restart_process(&args).await,
            "update_numprocs" => self.do_update_numprocs(&args).await,
            "conciliate" => self.do_conciliate(&args).await,
            "test_start_application" => self.do_test_start_application(&args).await,
            "restart_sequence" => {
                let v = self
                    .waiting(
                        "restart_sequence",
                        &[],
                        Watch::Supvisors("restart_sequence".into()),
                    )
                    .await;
                self.show(v, |v| {
                    Ok(vec![format!("Start sequence completed: {}", py_str(&v))])
                })
                .await
            }
            "sreload" => {
                let v = self.s_call("restart", &[]).await;
                self.show(v, |v| Ok(vec![format!("Restarted: {}", py_str(&v))]))
                    .await
            }
            "sshutdown" => {
                let v = self.s_call("shutdown", &[]).await;
                self.show(v, |v| Ok(vec![format!("Shut down: {}", py_str(&v))]))
                    .await
            }
            _ => Ok(Flow::Continue),
        }
    }

    /// A `supvisors.*` call that waits server-side, with the terminal progress line.
    async fn waiting(&self, method: &str, params: &[Value], watch: Watch) -> Result<Value, Error> {
        let poller = build_client(&self.settings).ok();
        with_progress(self.s_call(method, params), poller, watch).await
    }

    /// Prints `<prefix>ERROR (<fault>)` for a fault (exit 1), or `ok(value)` on success.
    fn report(
        &mut self,
        answer: Result<Value, Error>,
        prefix: &str,
        ok: impl FnOnce(&Value) -> String,
    ) -> Result<(), CmdError> {
        match answer {
            Ok(v) => {
                output(&ok(&v));
                Ok(())
            }
            Err(e) => self.fault_or_raise(e, prefix),
        }
    }

    /// The `StartingStrategies` argument, or the usage error printed (`None`).
    fn strategy_arg(&mut self, cmd: &str, word: &str) -> Option<i32> {
        if let Some(s) = application_format::starting_strategy(word) {
            return Some(s.code());
        }
        let message = if cmd == "restart_process" {
            format!(
                "ERROR: unknown strategy={word}. use one of {}",
                application_format::starting_names()
            )
        } else {
            format!(
                "ERROR: unknown strategy for {cmd}. use one of {}",
                application_format::starting_names()
            )
        };
        let _ = self.usage_error(cmd, &message);
        None
    }

    /// Every namespec of `get_all_process_info` (for no argument or `all`); a fault prints
    /// `ERROR (…)` and gives none.
    async fn all_namespecs(&mut self) -> Result<Vec<String>, CmdError> {
        match self.s_call("get_all_process_info", &[]).await {
            Ok(v) => supvisors_format::items(&v)
                .and_then(|infos| infos.iter().map(application_format::namespec_of).collect())
                .map_err(internal),
            Err(e) => {
                self.fault_or_raise(e, "")?;
                Ok(vec![])
            }
        }
    }

    /// The namespecs of the arguments, or every process; sorted, as supvisorsctl iterates.
    async fn namespecs_or_all(&mut self, given: &[&str]) -> Result<Vec<String>, CmdError> {
        let mut names = if given.is_empty() || given.contains(&"all") {
            self.all_namespecs().await?
        } else {
            given.iter().map(|s| s.to_string()).collect()
        };
        names.sort();
        Ok(names)
    }

    /// `(name, managed)` of every application, or `None` after printing the fault.
    async fn applications_managed(&mut self) -> Result<Option<Vec<(String, bool)>>, CmdError> {
        match self.s_call("get_all_applications_info", &[]).await {
            Ok(v) => supvisors_format::items(&v)
                .and_then(application_format::managed_map)
                .map(Some)
                .map_err(internal),
            Err(e) => {
                self.fault_or_raise(e, "")?;
                Ok(None)
            }
        }
    }

    async fn do_application_rules(&mut self, args: &[&str]) -> CmdResult {
        let names: Vec<String> = if args.is_empty() || args.contains(&"all") {
            match self.s_call("get_all_applications_info", &[]).await {
                Ok(v) => supvisors_format::items(&v)
                    .and_then(application_format::managed_map)
                    .map_err(internal)?
                    .into_iter()
                    .map(|(n, _)| n)
                    .collect(),
                Err(e) => {
                    self.fault_or_raise(e, "")?;
                    vec![]
                }
            }
        } else {
            args.iter().map(|s| s.to_string()).collect()
        };
        let mut rules = Vec::new();
        for name in names {
            match self.s_call("get_application_rules", &[string(&name)]).await {
                Ok(v) => rules.push(v),
                Err(e) => self.fault_or_raise(e, &format!("{name}: "))?,
            }
        }
        application_format::application_rules_lines(&rules)
            .map_err(internal)?
            .iter()
            .for_each(|l| output(l));
        Ok(Flow::Continue)
    }

    async fn do_process_rules(&mut self, args: &[&str]) -> CmdResult {
        let mut rules = Vec::new();
        for namespec in self.namespecs_or_all(args).await? {
            match self.s_call("get_process_rules", &[string(&namespec)]).await {
                Ok(v) => rules.extend(
                    supvisors_format::items(&v)
                        .map_err(internal)?
                        .iter()
                        .cloned(),
                ),
                Err(e) => self.fault_or_raise(e, &format!("{namespec}: "))?,
            }
        }
        application_format::process_rules_lines(&rules)
            .map_err(internal)?
            .iter()
            .for_each(|l| output(l));
        Ok(Flow::Continue)
    }

    /// `start_application` and `restart_application` (same checks, other verb).
    async fn do_start_application(&mut self, cmd: &str, args: &[&str]) -> CmdResult {
        let Some(first) = args.first() else {
            return self.usage_error(cmd, &format!("ERROR: {cmd} requires at least a strategy"));
        };
        let Some(strategy) = self.strategy_arg(cmd, first) else {
            return Ok(Flow::Continue);
        };
        let (method, alt, done) = if cmd == "start_application" {
            ("start_application", "start", "started")
        } else {
            ("restart_application", "restart", "restarted")
        };
        self.on_applications(&args[1..], alt, |app| {
            (
                method,
                vec![Value::Int(strategy), string(app)],
                format!("{app} {done}"),
            )
        })
        .await
    }

    async fn do_stop_application(&mut self, args: &[&str]) -> CmdResult {
        self.on_applications(args, "stop", |app| {
            (
                "stop_application",
                vec![string(app)],
                format!("{app} stopped"),
            )
        })
        .await
    }

    /// Runs one waiting call per matching managed application; `call(app)` gives the method,
    /// its parameters and the success prefix (`<app> started`).
    async fn on_applications(
        &mut self,
        params: &[&str],
        alt: &str,
        call: impl Fn(&str) -> (&'static str, Vec<Value>, String),
    ) -> CmdResult {
        let Some(all) = self.applications_managed().await? else {
            return Ok(Flow::Continue);
        };
        let matching = application_format::matching_applications(params, &all, alt);
        matching.messages.iter().for_each(|m| output(m));
        if matching.unknown {
            self.exitstatus = exit::INVALID_ARGS;
        }
        for app in &matching.names {
            let (method, values, done) = call(app);
            let answer = self
                .waiting(method, &values, Watch::Application(app.clone()))
                .await;
            self.report(answer, &format!("{app}: "), |v| {
                format!("{done}: {}", py_str(v))
            })?;
        }
        Ok(Flow::Continue)
    }

    async fn do_start_args(&mut self, args: &[&str]) -> CmdResult {
        if args.len() < 2 {
            return self.usage_error(
                "start_args",
                "ERROR: start_args requires a process name and extra arguments",
            );
        }
        let namespec = args[0];
        let values = [string(namespec), string(&args[1..].join(" "))];
        let answer = self
            .waiting("start_args", &values, Watch::Process(namespec.into()))
            .await;
        self.report(answer, &format!("{namespec}: "), |v| {
            format!("{namespec} started: {}", py_str(v))
        })?;
        Ok(Flow::Continue)
    }

    async fn do_start_process(&mut self, args: &[&str]) -> CmdResult {
        let Some(first) = args.first() else {
            return self.usage_error(
                "start_process",
                "ERROR: start_process requires at least a strategy",
            );
        };
        let Some(strategy) = self.strategy_arg("start_process", first) else {
            return Ok(Flow::Continue);
        };
        for namespec in self.namespecs_or_all(&args[1..]).await? {
            let values = [Value::Int(strategy), string(&namespec)];
            let answer = self
                .waiting("start_process", &values, Watch::Process(namespec.clone()))
                .await;
            self.report(answer, &format!("{namespec}: "), |v| {
                format!("{namespec} started: {}", py_str(v))
            })?;
        }
        Ok(Flow::Continue)
    }

    async fn do_start_process_args(&mut self, args: &[&str]) -> CmdResult {
        if args.len() < 3 {
            return self.usage_error(
                "start_process_args",
                "ERROR: start_process_args requires a strategy, a program namespec and extra arguments",
            );
        }
        let Some(strategy) = self.strategy_arg("start_process_args", args[0]) else {
            return Ok(Flow::Continue);
        };
        let namespec = args[1];
        let values = [
            Value::Int(strategy),
            string(namespec),
            string(&args[2..].join(" ")),
        ];
        let answer = self
            .waiting("start_process", &values, Watch::Process(namespec.into()))
            .await;
        self.report(answer, &format!("{namespec}: "), |v| {
            format!("{namespec} started: {}", py_str(v))
        })?;
        Ok(Flow::Continue)
    }

    async fn do_start_any_process(&mut self, args: &[&str]) -> CmdResult {
        if args.len() < 2 {
            return self.usage_error(
                "start_any_process",
                "ERROR: start_any_process requires a strategy and at least a regular expression",
            );
        }
        let Some(strategy) = self.strategy_arg("start_any_process", args[0]) else {
            return Ok(Flow::Continue);
        };
        let mut regexes: Vec<&str> = args[1..].to_vec();
        regexes.sort();
        for regex in regexes {
            let values = [Value::Int(strategy), string(regex)];
            let answer = self
                .waiting("start_any_process", &values, Watch::Supvisors(regex.into()))
                .await;
            self.report(answer, &format!("\"{regex}\": "), |v| {
                format!("{} started", py_str(v))
            })?;
        }
        Ok(Flow::Continue)
    }

    async fn do_start_any_process_args(&mut self, args: &[&str]) -> CmdResult {
        if args.len() < 3 {
            return self.usage_error(
                "start_any_process_args",
                "ERROR: start_any_process_args requires a strategy, a regular expression and extra arguments",
            );
        }
        let Some(strategy) = self.strategy_arg("start_any_process_args", args[0]) else {
            return Ok(Flow::Continue);
        };
        let regex = args[1];
        let values = [
            Value::Int(strategy),
            string(regex),
            string(&args[2..].join(" ")),
        ];
        let answer = self
            .waiting("start_any_process", &values, Watch::Supvisors(regex.into()))
            .await;
        self.report(answer, &format!("\"{regex}\": "), |v| {
            format!("{} started", py_str(v))
        })?;
        Ok(Flow::Continue)
    }

    async fn do_stop_process(&mut self, args: &[&str]) -> CmdResult {
        for namespec in self.namespecs_or_all(args).await? {
            let answer = self
                .waiting(
                    "stop_process",
                    &[string(&namespec)],
                    Watch::Process(namespec.clone()),
                )
                .await;
            self.report(answer, &format!("{namespec}: "), |_| {
                format!("{namespec} stopped")
            })?;
        }
        Ok(Flow::Continue)
    }

    async fn do_restart_process(&mut self, args: &[&str]) -> CmdResult {
        let Some(first) = args.first() else {
            return self.usage_error(
                "restart_process",
                "ERROR: restart_process requires a strategy and a program name",
            );
        };
        let Some(strategy) = self.strategy_arg("restart_process", first) else {
            return Ok(Flow::Continue);
        };
        for namespec in self.namespecs_or_all(&args[1..]).await? {
            let values = [Value::Int(strategy), string(&namespec)];
            let answer = self
                .waiting("restart_process", &values, Watch::Process(namespec.clone()))
                .await;
            self.report(answer, &format!("{namespec}: "), |v| {
                format!("{namespec} restarted: {}", py_str(v))
            })?;
        }
        Ok(Flow::Continue)
    }

    async fn do_update_numprocs(&mut self, args: &[&str]) -> CmdResult {
        if args.len() < 2 {
            return self.usage_error(
                "update_numprocs",
                "ERROR: update_numprocs requires a program name and a numprocs values",
            );
        }
        let value = super::py_int(args[1]).filter(|n| *n > 0);
        let Some(value) = value else {
            return self.usage_error(
                "update_numprocs",
                "ERROR: numprocs must be a strictly positive integer",
            );
        };
        // xmlrpc.client refuses ints beyond 32 bits (OverflowError) before sending anything.
        let value = i32::try_from(value)
            .map_err(|_| internal("OverflowError: int exceeds XML-RPC limits".into()))?;
        let program = args[0];
        let answer = self
            .waiting(
                "update_numprocs",
                &[string(program), Value::Int(value)],
                Watch::Process(format!("{program}:*")),
            )
            .await;
        self.report(answer, "", |v| {
            format!("{program} numprocs updated: {}", py_str(v))
        })?;
        Ok(Flow::Continue)
    }

    async fn do_conciliate(&mut self, args: &[&str]) -> CmdResult {
        let Some(first) = args.first() else {
            return self.usage_error("conciliate", "ERROR: conciliate requires a strategy");
        };
        let Some(strategy) = application_format::conciliation_strategy(first) else {
            return self.usage_error(
                "conciliate",
                &format!(
                    "ERROR: unknown strategy for conciliate. use one of {}",
                    application_format::conciliation_names()
                ),
            );
        };
        let answer = self
            .s_call("conciliate", &[Value::Int(strategy.code())])
            .await;
        self.report(answer, "", |v| format!("Conciliated: {}", py_str(v)))?;
        Ok(Flow::Continue)
    }

    /// Supvisors 0.18's `test_start_application` (exactly one strategy and one application).
    async fn do_test_start_application(&mut self, args: &[&str]) -> CmdResult {
        let cmd = "test_start_application";
        if args.len() != 2 {
            return self.usage_error(
                cmd,
                "ERROR: test_start_application requires one strategy and one application name",
            );
        }
        let Some(strategy) = self.strategy_arg(cmd, args[0]) else {
            return Ok(Flow::Continue);
        };
        let app = args[1];
        let info = match self.s_call("get_application_info", &[string(app)]).await {
            Ok(v) => v,
            Err(Error::Fault { .. }) => {
                output(&format!("ERROR: unknown application \"{app}\""));
                self.exitstatus = exit::INVALID_ARGS;
                return Ok(Flow::Continue);
            }
            Err(e) => return Err(e.into()),
        };
        let managed = supvisors_format::field(&info, "managed").map_err(internal)?;
        if !matches!(managed, Value::Bool(true)) {
            // supvisorsctl 0.18 leaves the exit status unchanged here.
            output(&format!("ERROR: {app} unmanaged"));
            if let Some(text) = supvisors_format::help_text(cmd) {
                output(text);
            }
            return Ok(Flow::Continue);
        }
        match self.s_call(cmd, &[Value::Int(strategy), string(app)]).await {
            Ok(v) => supvisors_format::items(&v)
                .and_then(application_format::test_start_lines)
                .map_err(internal)?
                .iter()
                .for_each(|l| output(l)),
            Err(e) => self.fault_or_raise(e, &format!("{app}: "))?,
        }
        Ok(Flow::Continue)
    }
}
