//! [`Supervisor`]: the cheap, cloneable handle the front ends hold. Each method sends one
//! message to the actor and awaits its own reply; `wait = true` calls then await the per-process
//! receivers the actor handed back, so a slow start blocks only its caller.

use crate::api::*;
use crate::logs;
use crate::numprocs::{self, NumprocsChange, NumprocsOverrides, NumprocsReloader};
use crate::runtime::{
    reload_fn, Actor, Exit, Item, Msg, Outcome, ProcessEvent, Reloader, Selection, Shared,
    StartGuard, STDIN_PENDING_LIMIT,
};
use crate::spawn::Spawner;
use model::{Config, Fault, FaultCode, SupervisorState};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// How long `sendProcessStdin` waits for its data to reach the child's pipe before answering
/// with the data still queued.
pub const STDIN_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// What the daemon passes in besides the config.
#[derive(Clone)]
pub struct Options {
    /// Re-reads the configuration (used by `reloadConfig`, `addProcessGroup` and `restart`).
    pub reloader: Reloader,
    /// The daemon's main log file, for readLog/clearLog/`/mainlogtail`; `None` = no file.
    pub main_log: Option<PathBuf>,
    /// `SUPERVISOR_SERVER_URL` for children whose `serverurl` is AUTO.
    pub server_url: Option<String>,
    /// Cancelling it starts a shutdown (same as `shutdown()`), e.g. on SIGTERM.
    pub shutdown: CancellationToken,
    /// Holds back the boot-time autostart until [`Supervisor::autostart_now`]: in a cluster the
    /// start guard (disabled programs) can only be installed once the node exists, after
    /// [`Supervisor::start`]. `false` = autostart at boot, as Supervisor does.
    pub defer_autostart: bool,
}

/// Why [`Supervisor::start`] failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot start the spawner thread: {0}")]
    Spawner(#[from] std::io::Error),
    #[error("Supervisor::start must be called inside a tokio runtime")]
    NoRuntime,
    /// The socket of an `[fcgi-program:x]` group cannot be created (Supervisor does not
    /// start then either).
    #[error("{0}")]
    FcgiSocket(String),
}

/// Resolves when the supervisor has stopped every process and ended.
pub struct Completion {
    rx: oneshot::Receiver<Exit>,
    spawner: Option<std::thread::JoinHandle<()>>,
}

impl Completion {
    /// Waits for the end: [`Exit::Shutdown`] after a shutdown (restarts are handled inside and
    /// do not end the supervisor), [`Exit::RestartFailed`] if a restart could not reload the
    /// config. The spawner thread is joined too, so no child is left.
    pub async fn wait(mut self) -> Exit {
        let exit = (&mut self.rx).await.unwrap_or(Exit::Aborted);
        if let Some(t) = self.spawner.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        exit
    }
}

/// The local supervisor. Cheap to clone; every clone talks to the same actor.
#[derive(Clone)]
pub struct Supervisor {
    tx: mpsc::UnboundedSender<Msg>,
    shared: Arc<Shared>,
    main_log: Option<PathBuf>,
    events: broadcast::Sender<ProcessEvent>,
    reloader: Reloader,
}

fn gone() -> Fault {
    Fault::new(FaultCode::ShutdownState)
}

impl Supervisor {
    /// Starts the supervisor: creates the groups of `config`, emits the startup events and
    /// autostarts processes in priority order (inside the actor, so this returns at once),
    /// unless `opts.defer_autostart` leaves that to [`Supervisor::autostart_now`].
    /// Must be called from inside a tokio runtime. Fails when the socket of an
    /// `[fcgi-program:x]` group cannot be created.
    pub fn start(config: Config, opts: Options) -> Result<(Supervisor, Completion), Error> {
        let rt = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        crate::runtime::check_fcgi_sockets(&config).map_err(Error::FcgiSocket)?;
        let (spawner, thread) = Spawner::start()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(1024);
        let shared = Arc::new(Shared {
            mood: Mutex::new(SupervisorState::Running),
            identifier: Mutex::new(config.supervisord.identifier.clone()),
            extra_args: Mutex::new(HashMap::new()),
            numprocs: Mutex::default(),
            layout: tokio::sync::watch::channel(0).0,
        });
        let (done_tx, done_rx) = oneshot::channel();
        let actor = Actor::new(
            config,
            shared.clone(),
            spawner,
            tx.clone(),
            events.clone(),
            opts.reloader.clone(),
            opts.server_url.clone(),
            done_tx,
            opts.defer_autostart,
        );
        rt.spawn(actor.run(rx, opts.shutdown.clone()));
        Ok((
            Supervisor {
                tx,
                shared,
                main_log: opts.main_log,
                events,
                reloader: opts.reloader,
            },
            Completion {
                rx: done_rx,
                spawner: Some(thread),
            },
        ))
    }

    /// Every process state change from now on. A slow receiver loses the oldest events
    /// (`RecvError::Lagged`) rather than slowing the supervisor.
    pub fn subscribe_events(&self) -> broadcast::Receiver<ProcessEvent> {
        self.events.subscribe()
    }

    /// A counter bumped whenever processes are added or removed (no state change event tells
    /// that): a watcher compares [`SupervisorApi::all_process_info`] with what it knew.
    pub fn watch_layout(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.layout.subscribe()
    }

    /// Installs the guard that decides whether a process may start (see [`StartGuard`]),
    /// replacing any previous one; takes effect for every start decided after this returns.
    /// Processes already running are left alone. Settable on a running supervisor because the
    /// layer that knows the answer (the cluster node) is created after it.
    pub fn set_start_guard(&self, guard: StartGuard) {
        // The actor owns the guard; a send only fails once it has ended (nothing to guard).
        let _ = self.tx.send(Msg::SetStartGuard(Some(guard)));
    }

    /// Performs the boot-time autostart held back by [`Options::defer_autostart`]: every
    /// `autostart=true` process never started yet, in priority order, asking the start guard
    /// installed by then. Only the first call does anything (so does nothing without
    /// `defer_autostart`); a restart of the supervisor afterwards autostarts as usual. Resolves
    /// once the starts are under way (processes may still be STARTING), or at once if the
    /// supervisor has ended.
    pub async fn autostart_now(&self) {
        let _ = self.ask(Msg::AutostartNow).await;
    }

    /// Removes the start guard: every process may start again.
    pub fn clear_start_guard(&self) {
        let _ = self.tx.send(Msg::SetStartGuard(None));
    }

    /// SIGUSR2: reopens every child log file at its path, so an external logrotate that moved
    /// the files away takes effect. Returns the log files that could not be reopened.
    pub async fn reopen_logs(&self) -> Vec<(String, std::io::Error)> {
        let Some(Ok(sinks)) = self.ask(|r| Msg::Sinks(None, r)).await else {
            return Vec::new();
        };
        let mut failed = Vec::new();
        for (name, group, procs) in sinks {
            for sink in procs {
                let Ok(mut guard) = sink.lock() else { continue };
                if let Some(file) = guard.as_mut() {
                    if let Err(e) = file.reopen() {
                        failed.push((model::make_namespec(&group, &name), e));
                    }
                }
            }
        }
        failed
    }

    /// The latest output of one channel of a process (at most [`crate::output::TAIL_BYTES`],
    /// ANSI-stripped when `strip_ansi` is set, captured data excluded), kept in memory even when
    /// the channel has no log file; survives restarts of the process, not its removal.
    /// For the dashboard: not part of [`SupervisorApi`]. BAD_NAME for unknown names.
    pub async fn recent_output(&self, namespec: &str, channel: Channel) -> Result<Vec<u8>, Fault> {
        let ns = namespec.to_string();
        self.ask(|r| Msg::Recent(ns, channel, r))
            .await
            .ok_or_else(gone)?
    }

    /// Supvisors' `start_args`: starts one process with `extra_args` (split like a POSIX
    /// shell, as Supervisor splits `command`) appended to its command line. The arguments stay
    /// for the autorestarts and the plain `start_process` calls that follow, until the next
    /// call of this method; an empty (or blank) `extra_args` clears them.
    ///
    /// Faults: those of `startProcess` (BAD_NAME, also for `group:*`; the start guard's
    /// refusal; ALREADY_STARTED, and then the arguments are left unchanged; NO_FILE /
    /// NOT_EXECUTABLE; SPAWN_ERROR, ABNORMAL_TERMINATION with `wait`), and
    /// INCORRECT_PARAMETERS when `extra_args` has an unclosed quote or a trailing backslash.
    pub async fn start_process_args(
        &self,
        namespec: &str,
        extra_args: &str,
        wait: bool,
    ) -> Result<(), Fault> {
        if let model::NameSpec::Group(_) = model::NameSpec::parse(namespec) {
            return Err(Fault::with(FaultCode::BadName, namespec));
        }
        let namespec = namespec.to_string();
        let text = extra_args.trim().to_string();
        let argv = shlex::split(&text).ok_or_else(|| {
            Fault::with(
                FaultCode::IncorrectParameters,
                format!("extra arguments {text:?} have an unclosed quote or a trailing backslash"),
            )
        })?;
        self.one(|reply| Msg::StartArgs {
            namespec,
            text,
            argv,
            wait,
            reply,
        })
        .await
    }

    /// The extra arguments in force for a process (as given to
    /// [`Supervisor::start_process_args`], trimmed); `None` when it has none or is unknown.
    pub fn extra_args(&self, namespec: &str) -> Option<String> {
        let (group, name) = model::split_namespec(namespec);
        let key = (group, name?);
        self.shared
            .extra_args
            .lock()
            .ok()
            .and_then(|all| all.get(&key).cloned())
    }

    /// Installs the reloader that re-reads the configuration with `numprocs` overrides (the
    /// daemon's wrapper around the config crate's `load_with_numprocs`), which
    /// [`Supervisor::update_numprocs`] needs. From then on it is also used instead of
    /// `Options::reloader` by `reloadConfig` and restarts, with the overrides recorded so far,
    /// so that a re-read keeps the updated sizes instead of bringing the files' `numprocs`
    /// back. The overrides live as long as this supervisor (not across a daemon exit).
    pub fn set_numprocs_reloader(&self, reloader: NumprocsReloader) {
        if let Ok(mut state) = self.shared.numprocs.lock() {
            state.reloader = Some(reloader);
        }
    }

    /// The `numprocs` overrides recorded by [`Supervisor::update_numprocs`] (program name →
    /// numprocs).
    pub fn numprocs_overrides(&self) -> NumprocsOverrides {
        self.shared
            .numprocs
            .lock()
            .map(|s| s.overrides.clone())
            .unwrap_or_default()
    }

    /// The cluster's fence for one process: its `stopsignal` now, SIGKILL (to its group with
    /// `killasgroup`) at most `kill_after` later — whatever its `stopwaitsecs` — then waits
    /// until it is stopped. Also brings forward the SIGKILL of a process already STOPPING.
    /// Faults: BAD_NAME, NOT_RUNNING (already stopped), SHUTDOWN_STATE.
    pub async fn stop_process_within(
        &self,
        namespec: &str,
        kill_after: std::time::Duration,
    ) -> Result<(), Fault> {
        let sel = Self::single(namespec)?;
        self.one(|r| Msg::StopWithin(sel, kill_after, r)).await
    }

    /// Supvisors' `update_numprocs` (Supervisor issue #177) on this instance: resizes
    /// `program` (a `[program:x]` or `[eventlistener:x]` name) to `numprocs` processes in every
    /// running group that uses it, `[group:x]` groups included.
    ///
    /// The configuration is re-read through the [numprocs
    /// reloader](Supervisor::set_numprocs_reloader) with the new size forced. An increase adds
    /// the new processes (the next process numbers) STOPPED, then autostarts those with
    /// `autostart=true` (the start guard may refuse, as at boot; a deferred boot autostart
    /// starts them later). A decrease stops the obsolete processes (the highest numbers),
    /// waits for them to stop (their `stopwaitsecs` plus 5 s at most) and removes them. The
    /// new size is recorded as an override kept by later re-reads. Equal sizes change nothing.
    ///
    /// Faults: BAD_NAME `program X unknown to Supvisors` when no running group has processes
    /// of the program; INCORRECT_PARAMETERS for 0; SUPVISORS_CONF_ERROR `numprocs not
    /// applicable: …` when the re-read fails (e.g. more than 1 process while `process_name`
    /// has no `%(process_num)`), when the re-read does not give the program `numprocs`
    /// processes, or when no numprocs reloader is installed; ABNORMAL_TERMINATION naming the
    /// obsolete processes still running after the wait (they are kept, the others removed);
    /// SHUTDOWN_STATE when the supervisor is not running.
    ///
    /// Differences from Supvisors 0.14: the re-read takes the files as they are now (Supvisors
    /// reuses the parser of the last read), and existing processes keep their configuration
    /// even if it used `%(numprocs)d` (as in Supvisors; a later reloadConfig then reports
    /// their group as changed).
    pub async fn update_numprocs(
        &self,
        program: &str,
        numprocs: u32,
    ) -> Result<NumprocsChange, Fault> {
        self.check_running()?;
        let name = program.to_string();
        let current = self
            .ask(|r| Msg::NumprocsCurrent(name, r))
            .await
            .ok_or_else(gone)??;
        if numprocs == 0 {
            return Err(Fault::with(
                FaultCode::IncorrectParameters,
                format!("incorrect value for numprocs: {numprocs} (integer > 0 expected)"),
            ));
        }
        if current == numprocs as usize {
            return Ok(NumprocsChange::default());
        }
        let (reloader, mut overrides) = {
            let state = self.shared.numprocs.lock().map_err(|_| gone())?;
            let reloader = state.reloader.clone().ok_or_else(|| {
                numprocs::not_applicable("no configuration reloader applying numprocs is installed")
            })?;
            (reloader, state.overrides.clone())
        };
        overrides.insert(program.to_string(), numprocs);
        let config = tokio::task::spawn_blocking(move || reloader(&overrides))
            .await
            .unwrap_or_else(|e| Err(format!("config reloader panicked: {e}")))
            .map_err(numprocs::not_applicable)?;
        let name = program.to_string();
        let step = self
            .ask(|reply| Msg::Numprocs {
                program: name,
                numprocs,
                config,
                reply,
            })
            .await
            .ok_or_else(gone)??;
        if step.obsolete.is_empty() {
            return Ok(NumprocsChange {
                added: step.added,
                removed: Vec::new(),
            });
        }
        // bounded: a process that outlives the wait is reported, not removed
        let deadline = tokio::time::Instant::now() + step.grace;
        for stop in step.stops {
            let _ = tokio::time::timeout_at(deadline, stop).await;
        }
        let removed = self
            .ask(|r| Msg::RemoveObsolete(step.obsolete, r))
            .await
            .ok_or_else(gone)??;
        Ok(NumprocsChange {
            added: step.added,
            removed,
        })
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Msg) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(make(tx)).ok()?;
        rx.await.ok()
    }

    async fn many(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<Vec<Item>, Fault>>) -> Msg,
    ) -> Result<Vec<ProcResult>, Fault> {
        let items = self.ask(make).await.ok_or_else(gone)??;
        let mut out = Vec::with_capacity(items.len());
        for it in items {
            let outcome = match it.outcome {
                Outcome::Done(r) => r,
                Outcome::Wait(rx) => rx.await.unwrap_or_else(|_| Err(gone())),
            };
            out.push(ProcResult {
                name: it.name,
                group: it.group,
                outcome,
            });
        }
        Ok(out)
    }

    async fn one(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<Vec<Item>, Fault>>) -> Msg,
    ) -> Result<(), Fault> {
        let results = self.many(make).await?;
        results
            .into_iter()
            .next()
            .map(|r| r.outcome)
            .unwrap_or(Ok(()))
    }

    fn single(namespec: &str) -> Result<Selection, Fault> {
        match model::NameSpec::parse(namespec) {
            model::NameSpec::Process { .. } => Ok(Selection::One(namespec.to_string())),
            model::NameSpec::Group(_) => Err(Fault::with(FaultCode::BadName, namespec)),
        }
    }

    fn main_log_file(&self) -> Result<PathBuf, Fault> {
        match &self.main_log {
            Some(p) if p.exists() => Ok(p.clone()),
            Some(p) => Err(Fault::with(FaultCode::NoFile, p.display().to_string())),
            None => Err(Fault::with(FaultCode::NoFile, "None")),
        }
    }

    fn check_running(&self) -> Result<(), Fault> {
        if self.state() == SupervisorState::Running {
            Ok(())
        } else {
            Err(gone())
        }
    }
}

impl SupervisorApi for Supervisor {
    fn state(&self) -> SupervisorState {
        self.shared
            .mood
            .lock()
            .map(|m| *m)
            .unwrap_or(SupervisorState::Shutdown)
    }

    fn identification(&self) -> String {
        self.shared
            .identifier
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    fn pid(&self) -> i32 {
        std::process::id() as i32
    }

    async fn read_main_log(&self, offset: i64, length: i64) -> Result<String, Fault> {
        self.check_running()?;
        let path = self.main_log_file()?;
        tokio::task::spawn_blocking(move || logs::read_file(&path, offset, length))
            .await
            .unwrap_or_else(|_| Err(Fault::new(FaultCode::Failed)))
    }

    async fn clear_main_log(&self) -> Result<(), Fault> {
        self.check_running()?;
        let path = self.main_log_file()?;
        // Truncate rather than delete: the daemon's log writer keeps its file open (append mode).
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .map(|_| ())
            .map_err(|e| Fault::with(FaultCode::Failed, e.to_string()))
    }

    async fn process_info(&self, namespec: &str) -> Result<ProcessInfo, Fault> {
        let ns = namespec.to_string();
        self.ask(|r| Msg::Info(ns, r)).await.ok_or_else(gone)?
    }

    async fn all_process_info(&self) -> Vec<ProcessInfo> {
        self.ask(Msg::AllInfo).await.unwrap_or_default()
    }

    async fn all_config_info(&self) -> Vec<ConfigInfo> {
        self.ask(Msg::AllConfig).await.unwrap_or_default()
    }

    async fn start_process(&self, namespec: &str, wait: bool) -> Result<(), Fault> {
        let sel = Self::single(namespec)?;
        self.one(|r| Msg::Start(sel, wait, r)).await
    }

    async fn start_process_args(
        &self,
        namespec: &str,
        extra_args: &str,
        wait: bool,
    ) -> Result<(), Fault> {
        Supervisor::start_process_args(self, namespec, extra_args, wait).await
    }

    async fn update_numprocs(
        &self,
        program: &str,
        numprocs: u32,
    ) -> Result<crate::NumprocsChange, Fault> {
        Supervisor::update_numprocs(self, program, numprocs).await
    }

    async fn start_group(&self, group: &str, wait: bool) -> Result<Vec<ProcResult>, Fault> {
        let g = group.to_string();
        self.many(|r| Msg::Start(Selection::Group(g), wait, r))
            .await
    }

    async fn start_all(&self, wait: bool) -> Result<Vec<ProcResult>, Fault> {
        self.many(|r| Msg::Start(Selection::All, wait, r)).await
    }

    async fn stop_process(&self, namespec: &str, wait: bool) -> Result<(), Fault> {
        let sel = Self::single(namespec)?;
        self.one(|r| Msg::Stop(sel, wait, r)).await
    }

    async fn stop_group(&self, group: &str, wait: bool) -> Result<Vec<ProcResult>, Fault> {
        let g = group.to_string();
        self.many(|r| Msg::Stop(Selection::Group(g), wait, r)).await
    }

    async fn stop_all(&self, wait: bool) -> Result<Vec<ProcResult>, Fault> {
        self.many(|r| Msg::Stop(Selection::All, wait, r)).await
    }

    async fn signal_process(&self, namespec: &str, signal: &str) -> Result<(), Fault> {
        let sel = Self::single(namespec)?;
        let s = signal.to_string();
        self.one(|r| Msg::Signal(sel, s, r)).await
    }

    async fn signal_group(&self, group: &str, signal: &str) -> Result<Vec<ProcResult>, Fault> {
        let (g, s) = (group.to_string(), signal.to_string());
        self.many(|r| Msg::Signal(Selection::Group(g), s, r)).await
    }

    async fn signal_all(&self, signal: &str) -> Result<Vec<ProcResult>, Fault> {
        let s = signal.to_string();
        self.many(|r| Msg::Signal(Selection::All, s, r)).await
    }

    async fn read_process_log(
        &self,
        namespec: &str,
        channel: Channel,
        offset: i64,
        length: i64,
    ) -> Result<String, Fault> {
        let ns = namespec.to_string();
        let path = self
            .ask(|r| Msg::LogPath(ns, channel, r))
            .await
            .ok_or_else(gone)??;
        let path = match path {
            Some(p) if p.exists() => p,
            Some(p) => return Err(Fault::with(FaultCode::NoFile, p.display().to_string())),
            // Supervisor raises a bare NO_FILE when the channel has no log file at all.
            None => return Err(Fault::new(FaultCode::NoFile)),
        };
        tokio::task::spawn_blocking(move || logs::read_file(&path, offset, length))
            .await
            .unwrap_or_else(|_| Err(Fault::new(FaultCode::Failed)))
    }

    async fn tail_process_log(
        &self,
        namespec: &str,
        channel: Channel,
        offset: i64,
        length: i64,
    ) -> Result<(String, i64, bool), Fault> {
        let ns = namespec.to_string();
        let path = self
            .ask(|r| Msg::LogPath(ns, channel, r))
            .await
            .ok_or_else(gone)??;
        match path {
            Some(p) if p.exists() => {
                Ok(
                    tokio::task::spawn_blocking(move || logs::tail_file(&p, offset, length))
                        .await
                        .unwrap_or((String::new(), 0, false)),
                )
            }
            _ => Ok((String::new(), 0, false)),
        }
    }

    async fn clear_process_logs(&self, namespec: &str) -> Result<(), Fault> {
        let ns = namespec.to_string();
        let sinks = self
            .ask(|r| Msg::Sinks(Some(ns), r))
            .await
            .ok_or_else(gone)??;
        for (_, _, s) in sinks {
            clear_sinks(&s).map_err(|_| Fault::with(FaultCode::Failed, namespec))?;
        }
        Ok(())
    }

    async fn clear_all_process_logs(&self) -> Result<Vec<ProcResult>, Fault> {
        let sinks = self.ask(|r| Msg::Sinks(None, r)).await.ok_or_else(gone)??;
        Ok(sinks
            .into_iter()
            .map(|(name, group, s)| {
                let ns = model::make_namespec(&group, &name);
                ProcResult {
                    outcome: clear_sinks(&s).map_err(|_| Fault::with(FaultCode::Failed, ns)),
                    name,
                    group,
                }
            })
            .collect())
    }

    async fn log_path(&self, namespec: &str, channel: Channel) -> Result<PathBuf, Fault> {
        let ns = namespec.to_string();
        match self
            .ask(|r| Msg::LogPath(ns, channel, r))
            .await
            .ok_or_else(gone)??
        {
            Some(p) if p.exists() => Ok(p),
            Some(p) => Err(Fault::with(FaultCode::NoFile, p.display().to_string())),
            None => Err(Fault::with(FaultCode::NoFile, "None")),
        }
    }

    fn main_log_path(&self) -> Result<PathBuf, Fault> {
        self.main_log_file()
    }

    /// Queues `chars` for the child's stdin and answers once they are written, or after
    /// [`STDIN_WAIT`] with the data still queued (Supervisor buffers it and never waits): a
    /// child that does not read its input cannot hold the call. NO_FILE when its stdin is
    /// closed, FAILED when [`STDIN_PENDING_LIMIT`] bytes already wait.
    async fn send_process_stdin(&self, namespec: &str, chars: &str) -> Result<(), Fault> {
        let ns = namespec.to_string();
        let stdin = self.ask(|r| Msg::Stdin(ns, r)).await.ok_or_else(gone)??;
        let (tx, rx) = oneshot::channel();
        match stdin.push(chars.as_bytes().to_vec(), Some(tx)) {
            Ok(()) => {}
            Err(0) => return Err(Fault::with(FaultCode::NoFile, namespec)),
            Err(pending) => {
                return Err(Fault::with(
                    FaultCode::Failed,
                    format!(
                        "{namespec}: its stdin is not being read ({pending} bytes waiting, \
                         limit {STDIN_PENDING_LIMIT})"
                    ),
                ))
            }
        }
        match tokio::time::timeout(STDIN_WAIT, rx).await {
            Ok(Ok(true)) | Err(_) => Ok(()),
            Ok(_) => Err(Fault::with(FaultCode::NoFile, namespec)),
        }
    }

    async fn send_remote_comm_event(&self, kind: &str, data: &str) -> Result<(), Fault> {
        self.tx
            .send(Msg::RemoteComm(kind.to_string(), data.to_string()))
            .map_err(|_| gone())
    }

    async fn reload_config(&self) -> Result<ConfigDiff, Fault> {
        self.check_running()?;
        let reload = reload_fn(&self.reloader, &self.shared);
        let cfg = tokio::task::spawn_blocking(reload)
            .await
            .unwrap_or_else(|e| Err(format!("config reloader panicked: {e}")));
        self.ask(|r| Msg::Reread(cfg, r)).await.ok_or_else(gone)?
    }

    async fn add_process_group(&self, name: &str) -> Result<(), Fault> {
        let n = name.to_string();
        self.ask(|r| Msg::AddGroup(n, r)).await.ok_or_else(gone)?
    }

    async fn remove_process_group(&self, name: &str) -> Result<(), Fault> {
        let n = name.to_string();
        self.ask(|r| Msg::RemoveGroup(n, r))
            .await
            .ok_or_else(gone)?
    }

    fn shutdown(&self) -> Result<(), Fault> {
        self.request_stop(false)
    }

    fn restart(&self) -> Result<(), Fault> {
        self.request_stop(true)
    }
}

impl Supervisor {
    /// Flips the mood at once (so the caller sees SHUTDOWN/RESTARTING immediately) and lets the
    /// actor stop everything.
    fn request_stop(&self, restart: bool) -> Result<(), Fault> {
        {
            let mut mood = self.shared.mood.lock().map_err(|_| gone())?;
            if *mood != SupervisorState::Running {
                return Err(gone());
            }
            *mood = if restart {
                SupervisorState::Restarting
            } else {
                SupervisorState::Shutdown
            };
        }
        let (tx, _rx) = oneshot::channel();
        self.tx.send(Msg::Shutdown(restart, tx)).map_err(|_| gone())
    }
}

fn clear_sinks(sinks: &[crate::runtime::Sink]) -> std::io::Result<()> {
    for s in sinks {
        if let Ok(mut g) = s.lock() {
            if let Some(f) = g.as_mut() {
                f.clear()?;
            }
        }
    }
    Ok(())
}
