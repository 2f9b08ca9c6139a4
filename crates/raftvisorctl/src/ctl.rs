//! The command interpreter: supervisorctl's commands, messages and exit statuses on top of the
//! typed client. One `Ctl` per invocation; `onecmd` runs one line as supervisorctl's `onecmd`.

use std::io::Write;
use std::time::Duration;

use client::{Channel, Client, Error, LogStream};
use model::{make_namespec, split_namespec, FaultCode, ProcessState};
use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::format::{self, exit, Outcome};
use crate::input::Input;
use crate::supvisors_format::{self, py_repr};

mod applications;
mod foreground;
mod statistics;
mod supvisors;

/// Why a command stopped early; printed by `onecmd` as supervisorctl prints an exception.
#[derive(Debug)]
pub enum CmdError {
    Client(Error),
    /// A condition supervisorctl reports as an internal `ValueError`.
    Internal(String),
}

impl From<Error> for CmdError {
    fn from(e: Error) -> Self {
        CmdError::Client(e)
    }
}

impl From<format::UnknownResult> for CmdError {
    fn from(e: format::UnknownResult) -> Self {
        CmdError::Internal(e.0)
    }
}

type CmdResult = Result<Flow, CmdError>;

/// Whether the interactive loop goes on after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// Connection settings that commands may change (`open`, the credentials prompt).
#[derive(Debug, Clone)]
pub struct Settings {
    pub serverurl: String,
    pub username: Option<String>,
    pub password: Option<model::Secret>,
    pub prompt: String,
    /// For an `https://` URL: the certificates to trust instead of the system's roots.
    pub tls_ca: Option<std::path::PathBuf>,
    pub interactive: bool,
    /// The config file declares `[ctlplugin:supvisors]`: `help <topic>` answers as supervisorctl
    /// does with the plugin loaded (each plugin's text in turn). `help` alone lists the
    /// Supvisors commands with the plugin or when the server answers `supvisors.*`; the
    /// commands work either way, as in supvisorsctl.
    pub supvisors_plugin: bool,
}

pub struct Ctl {
    pub settings: Settings,
    client: Client,
    pub exitstatus: i32,
    /// Every line this run reads (prompt, confirmations, `fg`) comes from here.
    input: Input,
    /// SIGINT in the interactive shell (see `watch_interrupts`); `None` for a one-shot command.
    sigint: Option<Signal>,
}

fn build_client(s: &Settings) -> Result<Client, Error> {
    let mut b = Client::builder(&s.serverurl);
    if let Some(u) = &s.username {
        let password = s
            .password
            .as_ref()
            .map(model::Secret::expose)
            .unwrap_or_default();
        b = b.credentials(u.clone(), password.to_string());
    }
    if let Some(ca) = &s.tls_ca {
        b = b.tls_ca(ca);
    }
    b.build()
}

/// Writes one line and flushes, as supervisorctl's unbuffered `output`.
pub fn output(msg: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(msg.as_bytes());
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

fn write_raw(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes);
    let _ = out.flush();
}

/// The shell's SIGINT receiver, or else (a one-shot command) one installed now into `own`, for
/// a command that leaves its mode on Ctrl-C. `None` when no handler could be installed.
fn interrupts<'a>(
    shell: &'a mut Option<Signal>,
    own: &'a mut Option<Signal>,
) -> Option<&'a mut Signal> {
    if shell.is_none() {
        *own = signal(SignalKind::interrupt()).ok();
        return own.as_mut();
    }
    shell.as_mut()
}

/// Resolves at the next SIGINT; never without a handler (SIGINT then keeps its default action
/// and ends raftvisorctl, which is what Ctrl-C asks for anyway).
async fn interrupted(sigint: Option<&mut Signal>) {
    match sigint {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// Python's `int()` on a command-line word (sign, surrounding blanks, `_` separators).
fn py_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    if !clean.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let v: i64 = clean.parse().ok()?;
    Some(if neg { -v } else { v })
}

/// supervisorctl's `cmd.Cmd.parseline`: the command is the leading run of identifier characters.
fn parseline(line: &str) -> (String, String) {
    let line = line.trim();
    let line = match line.strip_prefix('?') {
        Some(rest) => format!("help {rest}"),
        None => line.to_string(),
    };
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(line.len());
    (line[..end].to_string(), line[end..].trim().to_string())
}

fn fault_of(e: &Error) -> Option<i32> {
    match e {
        Error::Fault { code, .. } => Some(*code),
        _ => None,
    }
}

fn is(e: &Error, f: FaultCode) -> bool {
    fault_of(e) == Some(f.code())
}

fn fault_outcome(e: &Error, group: &str, process: &str) -> Option<Outcome> {
    match e {
        Error::Fault { code, string, .. } => Some(Outcome {
            namespec: make_namespec(group, process),
            status: *code,
            description: string.clone(),
        }),
        _ => None,
    }
}

/// How supervisorctl prints an exception that escaped a command (without Python's file/line).
pub fn exception_text(e: &CmdError) -> String {
    match e {
        CmdError::Internal(msg) => format!("error: <class 'ValueError'>, {msg}"),
        CmdError::Client(Error::Fault { code, string, .. }) => {
            format!(
                "error: <class 'xmlrpc.client.Fault'>, <Fault {code}: {}>",
                py_repr(string)
            )
        }
        CmdError::Client(Error::ConnectionRefused { .. }) => {
            "error: <class 'ConnectionRefusedError'>, [Errno 111] Connection refused".into()
        }
        CmdError::Client(Error::NoSuchSocket { .. }) => {
            "error: <class 'FileNotFoundError'>, [Errno 2] No such file or directory".into()
        }
        CmdError::Client(Error::HttpStatus { status }) => protocol_error(*status),
        CmdError::Client(Error::Unauthorized) => protocol_error(401),
        CmdError::Client(other) => format!("error: {other}"),
    }
}

fn protocol_error(status: u16) -> String {
    let reason = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "",
    };
    format!("error: <class 'xmlrpc.client.ProtocolError'>, <ProtocolError for 127.0.0.1/RPC2: {status} {reason}>")
        .replace(" >", ">")
}

impl Ctl {
    pub fn new(settings: Settings) -> Result<Ctl, Error> {
        let client = build_client(&settings)?;
        Ok(Ctl {
            settings,
            client,
            exitstatus: exit::SUCCESS,
            input: Input::new(),
            sigint: None,
        })
    }

    /// For the interactive shell: from now on Ctrl-C ends the shell (a blank line, exit status
    /// 0) as supervisorctl's `KeyboardInterrupt` does, except in `fg`, `tail -f` and
    /// `maintail -f`, which leave their mode and go back to the prompt. One receiver for the
    /// whole shell, so that a Ctrl-C that `fg` consumed is not seen again at the prompt. Should
    /// the handler not install, SIGINT keeps its default action (it ends raftvisorctl).
    pub fn watch_interrupts(&mut self) {
        self.sigint = signal(SignalKind::interrupt()).ok();
    }

    /// Reads one line from stdin after printing `prompt`; `None` at end of input, or at Ctrl-C
    /// while the shell watches it (its prompt, where both end the shell alike).
    pub async fn read_line(&mut self, prompt: &str) -> Option<String> {
        write_raw(prompt.as_bytes());
        let line = match self.sigint.as_mut() {
            Some(sigint) => tokio::select! {
                line = self.input.line() => line?,
                _ = sigint.recv() => return None,
            },
            None => self.input.line().await?,
        };
        Some(line.trim_end_matches(['\n', '\r']).to_string())
    }

    fn set_exit_from_status(&mut self, status: i32, ignored: Option<FaultCode>) {
        if let Some(code) = format::exit_for_status(status, ignored) {
            self.exitstatus = code;
        }
    }

    fn help(&self, topic: &str) {
        if let Some(t) = format::help_text(topic).or_else(|| supvisors_format::help_text(topic)) {
            output(t);
        }
    }

    /// Runs one command line; returns `Flow::Stop` for quit/exit/EOF.
    pub async fn onecmd(&mut self, line: &str) -> Flow {
        let (cmd, arg) = parseline(line);
        if line.trim().is_empty() {
            return Flow::Continue;
        }
        let result = match (cmd.as_str(), self.sigint.take()) {
            ("", sigint) => {
                self.sigint = sigint;
                None
            }
            // Outside the shell, or a command that handles Ctrl-C itself.
            (name, sigint @ None) | (name @ ("fg" | "tail" | "maintail"), sigint) => {
                self.sigint = sigint;
                self.dispatch(name, &arg).await
            }
            (name, Some(mut sigint)) => {
                let done = tokio::select! {
                    result = self.dispatch(name, &arg) => Some(result),
                    _ = sigint.recv() => None,
                };
                self.sigint = Some(sigint);
                match done {
                    Some(result) => result,
                    None => {
                        output("");
                        return Flow::Stop;
                    }
                }
            }
        };
        match result {
            None => {
                output(&format!("*** Unknown syntax: {}", line.trim()));
                self.exitstatus = exit::GENERIC;
                Flow::Continue
            }
            Some(Ok(flow)) => flow,
            Some(Err(CmdError::Client(Error::Unauthorized))) => {
                output("Server requires authentication");
                if self.settings.interactive {
                    let user = self.read_line("Username:").await.unwrap_or_default();
                    let pass = self.read_line("Password:").await.unwrap_or_default();
                    output("");
                    self.settings.username = Some(user);
                    self.settings.password = Some(pass.into());
                    match build_client(&self.settings) {
                        Ok(c) => self.client = c,
                        Err(e) => output(&format!("error: {e}")),
                    }
                    return Box::pin(self.onecmd(line)).await;
                }
                self.exitstatus = exit::GENERIC;
                // supervisorctl then runs the command a second time (its `onecmd` falls through
                // to another `do_func(arg)`), which fails again and is reported as an exception.
                if let Some(Err(e)) = self.dispatch(&cmd, &arg).await {
                    output(&exception_text(&e));
                    self.exitstatus = exit::GENERIC;
                }
                Flow::Continue
            }
            Some(Err(e)) => {
                output(&exception_text(&e));
                self.exitstatus = exit::GENERIC;
                Flow::Continue
            }
        }
    }

    async fn dispatch(&mut self, cmd: &str, arg: &str) -> Option<CmdResult> {
        Some(match cmd {
            "help" => self.do_help(arg).await,
            "EOF" | "quit" | "exit" => {
                output("");
                Ok(Flow::Stop)
            }
            "status" => self.do_status(arg).await,
            "start" => self.do_start(arg).await,
            "stop" => self.do_stop(arg).await,
            "restart" => self.do_restart(arg).await,
            "signal" => self.do_signal(arg).await,
            "tail" => self.do_tail(arg).await,
            "fg" => self.do_fg(arg).await,
            "maintail" => self.do_maintail(arg).await,
            "pid" => self.do_pid(arg).await,
            "avail" => self.do_avail(arg).await,
            "reread" => self.do_reread(arg).await,
            "update" => self.do_update(arg).await,
            "add" => self.do_add(arg).await,
            "remove" => self.do_remove(arg).await,
            "clear" => self.do_clear(arg).await,
            "shutdown" => self.do_shutdown(arg).await,
            "reload" => self.do_reload(arg).await,
            "version" => self.do_version(arg).await,
            "open" => self.do_open(arg).await,
            name if Ctl::is_supvisors_command(name) => self.dispatch_supvisors(name, arg).await,
            _ => return None,
        })
    }

    /// supervisorctl's up-check: `getVersion()` must answer `"3.0"`.
    async fn upcheck(&mut self) -> Result<bool, CmdError> {
        let url = self.settings.serverurl.clone();
        match self.client.get_version().await {
            Ok(v) if v == "3.0" => Ok(true),
            Ok(v) => {
                output(&format!(
                    "Sorry, this version of supervisorctl expects to talk to a server with API version 3.0, but the remote version is {v}."
                ));
                self.exitstatus = exit::NOT_INSTALLED;
                Ok(false)
            }
            Err(e) if is(&e, FaultCode::UnknownMethod) => {
                output("Sorry, supervisord responded but did not recognize the supervisor namespace commands that supervisorctl uses to control it.  Please check that the [rpcinterface:supervisor] section is enabled in the configuration file (see sample.conf).");
                self.exitstatus = exit::UNIMPLEMENTED_FEATURE;
                Ok(false)
            }
            Err(Error::ConnectionRefused { .. }) => {
                output(&format!("{url} refused connection"));
                self.exitstatus = exit::INSUFFICIENT_PRIVILEGES;
                Ok(false)
            }
            Err(Error::NoSuchSocket { .. }) => {
                output(&format!("{url} no such file"));
                self.exitstatus = exit::NOT_RUNNING;
                Ok(false)
            }
            Err(Error::Unauthorized) => Err(Error::Unauthorized.into()),
            Err(e) => {
                self.exitstatus = exit::GENERIC;
                Err(e.into())
            }
        }
    }

    /// Whether the server answers the `supvisors` namespace (its `system.listMethods` lists
    /// `supvisors.*`); false when it cannot be asked within a couple of seconds.
    async fn server_speaks_supvisors(&self) -> bool {
        let methods =
            tokio::time::timeout(Duration::from_secs(3), self.client.list_methods()).await;
        matches!(methods, Ok(Ok(m)) if m.iter().any(|m| m.starts_with("supvisors.")))
    }

    /// `help`: Supervisor's topics, then the Supvisors ones when the config loads the plugin
    /// or the server answers `supvisors.*` (the commands work in both cases).
    async fn do_help(&mut self, arg: &str) -> CmdResult {
        let topic = arg.trim();
        if topic.is_empty() {
            write_raw(format::HELP_TOPICS.as_bytes());
            if self.settings.supvisors_plugin || self.server_speaks_supvisors().await {
                write_raw(supvisors_format::HELP_TOPICS.as_bytes());
            }
        } else if self.settings.supvisors_plugin && topic != "help" {
            // supvisorsctl asks each plugin in turn: each prints its text or "No help".
            for text in [format::help_text(topic), supvisors_format::help_text(topic)] {
                match text.filter(|_| topic != "EOF") {
                    Some(t) => output(t),
                    None => output(&format!("*** No help on {topic}")),
                }
            }
        } else if topic == "EOF" {
            output("*** No help on EOF");
        } else {
            match format::help_text(topic).or_else(|| supvisors_format::help_text(topic)) {
                Some(t) => output(t),
                None => output(&format!("*** No help on {topic}")),
            }
        }
        Ok(Flow::Continue)
    }

    async fn do_status(&mut self, arg: &str) -> CmdResult {
        if !self.upcheck().await? {
            self.exitstatus = exit::STATUS_UNKNOWN;
            return Ok(Flow::Continue);
        }
        let all = self.client.get_all_process_info().await?;
        let names: Vec<&str> = arg.split_whitespace().collect();
        let matching = if names.is_empty() || names.contains(&"all") {
            all
        } else {
            let mut matching = Vec::new();
            for name in names {
                let (group, process) = split_namespec(name);
                let before = matching.len();
                for info in &all {
                    if info.group == group && process.as_ref().is_none_or(|p| *p == info.name) {
                        matching.push(info.clone());
                    }
                }
                if matching.len() == before {
                    match process {
                        None => output(&format!("{group}: ERROR (no such group)")),
                        Some(_) => output(&format!("{name}: ERROR (no such process)")),
                    }
                    self.exitstatus = exit::STATUS_UNKNOWN;
                }
            }
            matching
        };
        for line in format::status_lines(&matching) {
            output(&line);
        }
        if matching
            .iter()
            .any(|i| ProcessState::from_code(i.state).is_some_and(|s| s.is_stopped()))
        {
            self.exitstatus = exit::STATUS_NOT_RUNNING;
        }
        Ok(Flow::Continue)
    }

    async fn do_pid(&mut self, arg: &str) -> CmdResult {
        if !self.upcheck().await? {
            return Ok(Flow::Continue);
        }
        let names: Vec<&str> = arg.split_whitespace().collect();
        if names.is_empty() {
            output(&self.client.get_pid().await?.to_string());
        } else if names.contains(&"all") {
            for info in self.client.get_all_process_info().await? {
                output(&info.pid.to_string());
            }
        } else {
            for name in names {
                match self.client.get_process_info(name).await {
                    Ok(info) => {
                        output(&info.pid.to_string());
                        if info.pid == 0 {
                            self.exitstatus = exit::NOT_RUNNING;
                        }
                    }
                    Err(e) => {
                        self.exitstatus = exit::GENERIC;
                        if is(&e, FaultCode::BadName) {
                            output(&format!("No such process {name}"));
                        } else {
                            return Err(e.into());
                        }
                    }
                }
            }
        }
        Ok(Flow::Continue)
    }

    async fn do_start(&mut self, arg: &str) -> CmdResult {
        if !self.upcheck().await? {
            return Ok(Flow::Continue);
        }
        let names: Vec<&str> = arg.split_whitespace().collect();
        if names.is_empty() {
            output("Error: start requires a process name");
            self.exitstatus = exit::INVALID_ARGS;
            self.help("start");
            return Ok(Flow::Continue);
        }
        let ignored = Some(FaultCode::AlreadyStarted);
        if names.contains(&"all") {
            for r in self.client.start_all_processes(true).await? {
                output(&format::start_message(&Outcome::from(&r))?);
                self.set_exit_from_status(r.status, ignored);
            }
            return Ok(Flow::Continue);
        }
        for name in names {
            let (group, process) = split_namespec(name);
            match process {
                None => match self.client.start_process_group(&group, true).await {
                    Ok(results) => {
                        for r in results {
                            output(&format::start_message(&Outcome::from(&r))?);
                            self.set_exit_from_status(r.status, ignored);
                        }
                    }
                    Err(e) if is(&e, FaultCode::BadName) => {
                        output(&format!("{group}: ERROR (no such group)"));
                        self.exitstatus = exit::INVALID_ARGS;
                    }
                    Err(e) => {
                        self.exitstatus = exit::GENERIC;
                        return Err(e.into());
                    }
                },
                Some(process) => match self.client.start_process(name, true).await {
                    Ok(_) => output(&format!("{}: started", make_namespec(&group, &process))),
                    Err(e) => {
                        let o = fault_outcome(&e, &group, &process).ok_or(CmdError::Client(e))?;
                        output(&format::start_message(&o)?);
                        self.set_exit_from_status(o.status, ignored);
                    }
                },
            }
        }
        Ok(Flow::Continue)
    }

    async fn do_stop(&mut self, arg: &str) -> CmdResult {
        if !self.upcheck().await? {
            return Ok(Flow::Continue);
        }
        let names: Vec<&str> = arg.split_whitespace().collect();
        if names.is_empty() {
            output("Error: stop requires a process name");
            self.exitstatus = exit::GENERIC;
            self.help("stop");
            return Ok(Flow::Continue);
        }
        let ignored = Some(FaultCode::NotRunning);
        if names.contains(&"all") {
            for r in self.client.stop_all_processes(true).await? {
                output(&format::signal_message(&Outcome::from(&r), "stopped")?);
                self.set_exit_from_status(r.status, ignored);
            }
            return Ok(Flow::Continue);
        }
        for name in names {
            let (group, process) = split_namespec(name);
            match process {
                None => match self.client.stop_process_group(&group, true).await {
                    Ok(results) => {
                        for r in results {
                            output(&format::signal_message(&Outcome::from(&r), "stopped")?);
                            self.set_exit_from_status(r.status, ignored);
                        }
                    }
                    Err(e) => {
                        self.exitstatus = exit::GENERIC;
                        if is(&e, FaultCode::BadName) {
                            output(&format!("{group}: ERROR (no such group)"));
                        } else {
                            return Err(e.into());
                        }
                    }
                },
                Some(process) => match self.client.stop_process(name, true).await {
                    Ok(_) => output(&format!("{}: stopped", make_namespec(&group, &process))),
                    Err(e) => {
                        let o = fault_outcome(&e, &group, &process).ok_or(CmdError::Client(e))?;
                        output(&format::signal_message(&o, "stopped")?);
                        self.set_exit_from_status(o.status, ignored);
                    }
                },
            }
        }
        Ok(Flow::Continue)
    }

    async fn do_signal(&mut self, arg: &str) -> CmdResult {
        if !self.upcheck().await? {
            return Ok(Flow::Continue);
        }
        let args: Vec<&str> = arg.split_whitespace().collect();
        if args.len() < 2 {
            output("Error: signal requires a signal name and a process name");
            self.help("signal");
            self.exitstatus = exit::GENERIC;
            return Ok(Flow::Continue);
        }
        let sig = args[0];
        let names = &args[1..];
        if names.contains(&"all") {
            for r in self.client.signal_all_processes(sig).await? {
                output(&format::signal_message(&Outcome::from(&r), "signalled")?);
                self.set_exit_from_status(r.status, None);
            }
            return Ok(Flow::Continue);
        }
        for name in names {
            let (group, process) = split_namespec(name);
            match process {
                None => match self.client.signal_process_group(&group, sig).await {
                    Ok(results) => {
                        for r in results {
                            output(&format::signal_message(&Outcome::from(&r), "signalled")?);
                            self.set_exit_from_status(r.status, None);
                        }
                    }
                    Err(e) if is(&e, FaultCode::BadName) => {
                        output(&format!("{group}: ERROR (no such group)"));
                        self.exitstatus = exit::GENERIC;
                    }
                    Err(e) => return Err(e.into()),
                },
                Some(process) => match self.client.signal_process(name, sig).await {
                    Ok(_) => output(&format!("{}: signalled", make_namespec(&group, &process))),
                    Err(e) => {
                        let o = fault_outcome(&e, &group, &process).ok_or(CmdError::Client(e))?;
                        output(&format::signal_message(&o, "signalled")?);
                        self.set_exit_from_status(o.status, None);
                    }
                },
            }
        }
        Ok(Flow::Continue)
    }

    async fn do_restart(&mut self, arg: &str) -> CmdResult {
        if !self.upcheck().await? {
            return Ok(Flow::Continue);
        }
        if arg.split_whitespace().next().is_none() {
            output("Error: restart requires a process name");
            self.exitstatus = exit::GENERIC;
            self.help("restart");
            return Ok(Flow::Continue);
        }
        self.do_stop(arg).await?;
        self.do_start(arg).await
    }

    async fn do_tail(&mut self, arg: &str) -> CmdResult {
        if !self.upcheck().await? {
            return Ok(Flow::Continue);
        }
        let mut args: Vec<&str> = arg.split_whitespace().collect();
        if args.is_empty() || args.len() > 3 {
            output(if args.is_empty() {
                "Error: too few arguments"
            } else {
                "Error: too many arguments"
            });
            self.exitstatus = exit::GENERIC;
            self.help("tail");
            return Ok(Flow::Continue);
        }
        let modifier = if args[0].starts_with('-') {
            Some(args.remove(0))
        } else {
            None
        };
        let (name, channel) = if args.len() == 1 {
            (args[0], "stdout".to_string())
        } else if let (Some(first), Some(last)) = (args.first(), args.last()) {
            let channel = last.to_lowercase();
            if channel != "stdout" && channel != "stderr" {
                output(&format!("Error: bad channel {}", py_repr(&channel)));
                self.exitstatus = exit::GENERIC;
                return Ok(Flow::Continue);
            }
            (*first, channel)
        } else {
            output("Error: tail requires process name");
            self.exitstatus = exit::GENERIC;
            return Ok(Flow::Continue);
        };
        let mut bytes = 1600i64;
        if let Some(m) = modifier {
            let what = &m[1..];
            if what == "f" {
                let channel = if channel == "stderr" {
                    Channel::Stderr
                } else {
                    Channel::Stdout
                };
                output("==> Press Ctrl-C to exit <==");
                let stream = self.client.tail_follow(name, channel).await;
                return self.follow(stream).await;
            }
            match py_int(what) {
                Some(n) => bytes = n,
                None => {
                    output(&format!("Error: bad argument {m}"));
                    self.exitstatus = exit::GENERIC;
                    return Ok(Flow::Continue);
                }
            }
        }
        let offset = i32::try_from(-bytes)
            .map_err(|_| CmdError::Internal(format!("{bytes} out of range")))?;
        let result = if channel == "stdout" {
            self.client.read_process_stdout_log(name, offset, 0).await
        } else {
            self.client.read_process_stderr_log(name, offset, 0).await
        };
        match result {
            Ok(text) => output(&text),
            Err(e) => {
                self.exitstatus = exit::GENERIC;
                let what = match fault_of(&e) {
                    Some(c) if c == FaultCode::NoFile.code() => "no log file",
                    Some(c) if c == FaultCode::Failed.code() => "unknown error reading log",
                    Some(c) if c == FaultCode::BadName.code() => "no such process name",
                    _ => return Err(e.into()),
                };
                output(&format!("{name}: ERROR ({what})"));
            }
        }
        Ok(Flow::Continue)
    }

    /// Streams a `tail -f` until the server ends it or the user presses Ctrl-C.
    async fn follow(&mut self, stream: Result<LogStream, Error>) -> CmdResult {
        let mut own = None;
        let mut sigint = interrupts(&mut self.sigint, &mut own);
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                self.exitstatus = exit::GENERIC;
                output(&format!("Error: {e}"));
                return Ok(Flow::Continue);
            }
        };
        loop {
            tokio::select! {
                chunk = stream.next() => match chunk {
                    Some(Ok(bytes)) => write_raw(&bytes),
                    Some(Err(e)) => return Err(e.into()),
                    None => return Ok(Flow::Continue),
                },
                () = interrupted(sigint.as_deref_mut()) => {
                    output("");
                    return Ok(Flow::Continue);
                }
            }
        }
    }

    async fn do_maintail(&mut self, arg: &str) -> CmdResult {
        if !self.upcheck().await? {
            return Ok(Flow::Continue);
        }
        let args: Vec<&str> = arg.split_whitespace().collect();
        let bytes = match args.as_slice() {
            [] => 1600,
            [one] => {
                let Some(what) = one.strip_prefix('-') else {
                    output(&format!("Error: bad argument {one}"));
                    self.exitstatus = exit::GENERIC;
                    return Ok(Flow::Continue);
                };
                if what == "f" {
                    output("==> Press Ctrl-C to exit <==");
                    let stream = self.client.main_tail_follow().await;
                    return self.follow(stream).await;
                }
                match py_int(what) {
                    Some(n) => n,
                    None => {
                        output(&format!("Error: bad argument {one}"));
                        self.exitstatus = exit::GENERIC;
                        return Ok(Flow::Continue);
                    }
                }
            }
            _ => {
                output("Error: too many arguments");
                self.exitstatus = exit::GENERIC;
                self.help("maintail");
                return Ok(Flow::Continue);
            }
        };
        let offset = i32::try_from(-bytes)
            .map_err(|_| CmdError::Internal(format!("{bytes} out of range")))?;
        match self.client.read_log(offset, 0).await {
            Ok(text) => output(&text),
            Err(e) => {
                self.exitstatus = exit::GENERIC;
                let what = match fault_of(&e) {
                    Some(c) if c == FaultCode::NoFile.code() => "no log file",
                    Some(c) if c == FaultCode::Failed.code() => "unknown error reading log",
                    _ => return Err(e.into()),
                };
                output(&format!("supervisord: ERROR ({what})"));
            }
        }
        Ok(Flow::Continue)
    }

    fn no_args(&mut self, cmd: &str, arg: &str) -> bool {
        if arg.is_empty() {
            return true;
        }
        output(&format!("Error: {cmd} accepts no arguments"));
        self.exitstatus = exit::GENERIC;
        self.help(cmd);
        false
    }

    async fn do_avail(&mut self, arg: &str) -> CmdResult {
        if !self.no_args("avail", arg) {
            return Ok(Flow::Continue);
        }
        match self.client.get_all_config_info().await {
            Ok(infos) => infos.iter().for_each(|i| output(&format::avail_line(i))),
            Err(e) => {
                self.exitstatus = exit::GENERIC;
                if is(&e, FaultCode::ShutdownState) {
                    output("ERROR: supervisor shutting down");
                } else {
                    return Err(e.into());
                }
            }
        }
        Ok(Flow::Continue)
    }

    async fn do_reread(&mut self, arg: &str) -> CmdResult {
        if !self.no_args("reread", arg) {
            return Ok(Flow::Continue);
        }
        match self.client.reload_config().await {
            Ok(changes) => format::changes_lines(&changes)
                .iter()
                .for_each(|l| output(l)),
            Err(e) => {
                self.exitstatus = exit::GENERIC;
                match &e {
                    e if is(e, FaultCode::ShutdownState) => {
                        output("ERROR: supervisor shutting down")
                    }
                    Error::Fault { code, string, .. } if *code == FaultCode::CantReread.code() => {
                        output(&format!("ERROR: {string}"))
                    }
                    _ => return Err(e.into()),
                }
            }
        }
        Ok(Flow::Continue)
    }

    async fn do_add(&mut self, arg: &str) -> CmdResult {
        for name in arg.split_whitespace() {
            match self.client.add_process_group(name).await {
                Ok(_) => output(&format!("{name}: added process group")),
                Err(e) if is(&e, FaultCode::ShutdownState) => {
                    output("ERROR: shutting down");
                    self.exitstatus = exit::GENERIC;
                }
                Err(e) if is(&e, FaultCode::AlreadyAdded) => {
                    output("ERROR: process group already active")
                }
                Err(e) if is(&e, FaultCode::BadName) => {
                    output(&format!("ERROR: no such process/group: {name}"));
                    self.exitstatus = exit::GENERIC;
                }
                Err(e) => {
                    self.exitstatus = exit::GENERIC;
                    return Err(e.into());
                }
            }
        }
        Ok(Flow::Continue)
    }

    async fn do_remove(&mut self, arg: &str) -> CmdResult {
        for name in arg.split_whitespace() {
            match self.client.remove_process_group(name).await {
                Ok(_) => output(&format!("{name}: removed process group")),
                Err(e) => {
                    self.exitstatus = exit::GENERIC;
                    if is(&e, FaultCode::StillRunning) {
                        output(&format!("ERROR: process/group still running: {name}"));
                    } else if is(&e, FaultCode::BadName) {
                        output(&format!("ERROR: no such process/group: {name}"));
                    } else {
                        return Err(e.into());
                    }
                }
            }
        }
        Ok(Flow::Continue)
    }

    async fn do_update(&mut self, arg: &str) -> CmdResult {
        let changes = match self.client.reload_config().await {
            Ok(c) => c,
            Err(e) => {
                self.exitstatus = exit::GENERIC;
                if is(&e, FaultCode::ShutdownState) {
                    output("ERROR: already shutting down");
                    return Ok(Flow::Continue);
                }
                return Err(e.into());
            }
        };
        let mut wanted: Vec<&str> = arg.split_whitespace().collect();
        if wanted.contains(&"all") {
            wanted.clear();
        }
        wanted.sort_unstable();
        wanted.dedup();
        if !wanted.is_empty() {
            let mut groups: Vec<String> = self
                .client
                .get_all_process_info()
                .await?
                .into_iter()
                .map(|i| i.group)
                .collect();
            groups.extend(changes.added.iter().cloned());
            for g in &wanted {
                if !groups.iter().any(|x| x == g) {
                    output(&format!("ERROR: no such group: {g}"));
                    self.exitstatus = exit::GENERIC;
                }
            }
        }
        let selected = |g: &String| wanted.is_empty() || wanted.contains(&g.as_str());
        for g in changes.removed.iter().filter(|g| selected(g)) {
            let results = self.client.stop_process_group(g, true).await?;
            output(&format!("{g}: stopped"));
            if results.iter().any(|r| r.status == FaultCode::Failed.code()) {
                output(&format!("{g}: has problems; not removing"));
                self.exitstatus = exit::GENERIC;
                continue;
            }
            self.client.remove_process_group(g).await?;
            output(&format!("{g}: removed process group"));
        }
        for g in changes.changed.iter().filter(|g| selected(g)) {
            self.client.stop_process_group(g, true).await?;
            output(&format!("{g}: stopped"));
            self.client.remove_process_group(g).await?;
            self.client.add_process_group(g).await?;
            output(&format!("{g}: updated process group"));
        }
        for g in changes.added.iter().filter(|g| selected(g)) {
            self.client.add_process_group(g).await?;
            output(&format!("{g}: added process group"));
        }
        Ok(Flow::Continue)
    }

    async fn do_clear(&mut self, arg: &str) -> CmdResult {
        if !self.upcheck().await? {
            return Ok(Flow::Continue);
        }
        let names: Vec<&str> = arg.split_whitespace().collect();
        if names.is_empty() {
            output("Error: clear requires a process name");
            self.exitstatus = exit::GENERIC;
            self.help("clear");
            return Ok(Flow::Continue);
        }
        if names.contains(&"all") {
            for r in self.client.clear_all_process_logs().await? {
                output(&format::clear_message(&Outcome::from(&r))?);
                self.set_exit_from_status(r.status, None);
            }
            return Ok(Flow::Continue);
        }
        for name in names {
            let (group, process) = split_namespec(name);
            let process = process.unwrap_or_default();
            match self.client.clear_process_logs(name).await {
                Ok(_) => output(&format!("{}: cleared", make_namespec(&group, &process))),
                Err(e) => {
                    let o = fault_outcome(&e, &group, &process).ok_or(CmdError::Client(e))?;
                    output(&format::clear_message(&o)?);
                    self.set_exit_from_status(o.status, None);
                }
            }
        }
        Ok(Flow::Continue)
    }

    async fn confirm(&mut self, question: &str) -> bool {
        if !self.settings.interactive {
            return true;
        }
        self.read_line(question)
            .await
            .is_some_and(|a| a.to_lowercase().starts_with('y'))
    }

    async fn do_shutdown(&mut self, arg: &str) -> CmdResult {
        if !self.no_args("shutdown", arg) {
            return Ok(Flow::Continue);
        }
        if !self
            .confirm("Really shut the remote supervisord process down y/N? ")
            .await
        {
            return Ok(Flow::Continue);
        }
        let url = self.settings.serverurl.clone();
        match self.client.shutdown().await {
            Ok(_) => output("Shut down"),
            Err(e) if is(&e, FaultCode::ShutdownState) => output("ERROR: already shutting down"),
            Err(Error::ConnectionRefused { .. }) => {
                self.exitstatus = exit::GENERIC;
                output(&format!(
                    "ERROR: {url} refused connection (already shut down?)"
                ));
            }
            Err(Error::NoSuchSocket { .. }) => {
                self.exitstatus = exit::GENERIC;
                output(&format!("ERROR: {url} no such file (already shut down?)"));
            }
            Err(e) => {
                self.exitstatus = exit::GENERIC;
                return Err(e.into());
            }
        }
        Ok(Flow::Continue)
    }

    async fn do_reload(&mut self, arg: &str) -> CmdResult {
        if !self.no_args("reload", arg) {
            return Ok(Flow::Continue);
        }
        if !self
            .confirm("Really restart the remote supervisord process y/N? ")
            .await
        {
            return Ok(Flow::Continue);
        }
        match self.client.restart().await {
            Ok(_) => output("Restarted supervisord"),
            Err(e) => {
                self.exitstatus = exit::GENERIC;
                if is(&e, FaultCode::ShutdownState) {
                    output("ERROR: already shutting down");
                } else {
                    return Err(e.into());
                }
            }
        }
        Ok(Flow::Continue)
    }

    async fn do_version(&mut self, arg: &str) -> CmdResult {
        if !self.no_args("version", arg) || !self.upcheck().await? {
            return Ok(Flow::Continue);
        }
        output(&self.client.get_supervisor_version().await?);
        Ok(Flow::Continue)
    }

    async fn do_open(&mut self, arg: &str) -> CmdResult {
        let url = arg.trim();
        if !(url.starts_with("http:") || url.starts_with("unix:")) {
            output("ERROR: url must be http:// or unix://");
            self.exitstatus = exit::GENERIC;
            return Ok(Flow::Continue);
        }
        let mut settings = self.settings.clone();
        settings.serverurl = url.to_string();
        self.client = build_client(&settings)?;
        self.settings = settings;
        let old = self.exitstatus;
        let result = self.do_status("").await;
        self.exitstatus = old;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parseline_like_cmd_module() {
        assert_eq!(parseline("  status  a b "), ("status".into(), "a b".into()));
        assert_eq!(parseline("tail -f x"), ("tail".into(), "-f x".into()));
        assert_eq!(parseline("?tail"), ("help".into(), "tail".into()));
        assert_eq!(parseline("start-x"), ("start".into(), "-x".into()));
        assert_eq!(parseline("-x"), ("".into(), "-x".into()));
    }

    #[test]
    fn python_int_and_repr() {
        assert_eq!(py_int("100"), Some(100));
        assert_eq!(py_int("-5"), Some(-5));
        assert_eq!(py_int("1_000"), Some(1000));
        assert_eq!(py_int("f"), None);
        assert_eq!(py_int(""), None);
        assert_eq!(py_repr("bogus"), "'bogus'");
        assert_eq!(py_repr("it's"), "\"it's\"");
    }

    #[test]
    fn exceptions_print_like_python() {
        let e = CmdError::Client(Error::Fault {
            code: 30,
            string: "FAILED: x".into(),
            fault: None,
        });
        assert_eq!(
            exception_text(&e),
            "error: <class 'xmlrpc.client.Fault'>, <Fault 30: 'FAILED: x'>"
        );
    }
}
