//! The actor that owns every process of the instance. It receives requests from the
//! [`Supervisor`](crate::Supervisor) handles and notices from its own tasks (child exits, pipe
//! output) on one channel, runs [`machine::step`] and executes the resulting actions. Timers are
//! the deadlines stored in each process state: the loop sleeps until the earliest one.
//!
//! ```text
//!  handles ──Msg──►┐                     ┌─► spawner thread (fork, owns Child, awaits exit)
//!  exit/output ───►│ actor: step(state)  ├─► kill/killpg
//!  timers ────────►┘  → actions          └─► events: listeners' pools, broadcast
//! ```
//!
//! The actor is one struct whose `impl` is spread over modules, one per job:
//! - this module: the messages, the loop, the dispatch of requests (the shutdown state is
//!   checked there, once) and the application of state-machine steps;
//! - [`groups`], the table of groups and processes, lookups, AUTO logs, info views;
//! - [`control`], start, stop, signal requests;
//! - [`spawning`], preparing, forking and finishing spawns; signals to children;
//! - [`pipes`], the output pipe readers and the stdin writer of each child;
//! - [`sockets`], the listening socket of an `[fcgi-program:x]` group, its processes' stdin;
//! - [`listeners`], event listener pools, TICK clocks, output and communication events;
//! - [`resize`], `update_numprocs`;
//! - [`lifecycle`], boot, autostart, shutdown and restart.

mod control;
mod groups;
mod lifecycle;
mod listeners;
mod pipes;
pub(crate) use pipes::{StdinQueue, STDIN_PENDING_LIMIT};
mod resize;
mod sockets;
mod spawning;

use crate::api::{Channel, ConfigDiff, ConfigInfo, ProcessInfo};
use crate::events::{self, ListenerProto};
use crate::logs::RotatingFile;
use crate::machine::{self, Action, Ctx, Event, ExitKind, ProcState, TimerKind};
use crate::numprocs::NumprocsState;
use crate::output::Tail;
use crate::spawn::Spawner;
use lifecycle::Phase;
use listeners::{Pool, Queued};
use model::{Config, Fault, FaultCode, GroupSpec, ProcessSpec, ProcessState, SupervisorState};
use pipes::Stdin;
pub use resize::NumprocsStep;
pub(crate) use sockets::check_all as check_fcgi_sockets;
use sockets::SharedSocket;
use spawning::{send_signal, PendingSpawn};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, mpsc, oneshot};

pub type Reloader = Arc<dyn Fn() -> Result<Config, String> + Send + Sync>;
/// Decides whether a process may be started (Supvisors refuses to start the processes of a
/// disabled program). Consulted for `startProcess`, group and all starts (the refusal is the
/// fault reported for that process), and for autostart, autorestart and back-off retries
/// (refused silently, logged at info). Called inside the supervisor's actor, once per start
/// decision: it must be quick and must not block.
pub type StartGuard = Arc<dyn Fn(&ProcessSpec) -> Result<(), Fault> + Send + Sync>;
pub type Sink = Arc<Mutex<Option<RotatingFile>>>;
/// The in-memory tail of one channel, shared between its pipe reader and the actor.
pub type SharedTail = Arc<Mutex<Tail>>;
pub type Reply<T> = oneshot::Sender<T>;
/// `(name, group, [stdout sink, stderr sink])` of each process, for clearing logs.
pub type ProcSinks = Vec<(String, String, Vec<Sink>)>;

/// A process state change, for the layers above (the cluster layer).
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessEvent {
    pub group: String,
    pub name: String,
    pub from: ProcessState,
    pub to: ProcessState,
    /// The pid the change concerns (the old pid for EXITED/STOPPED), 0 if none.
    pub pid: i32,
    /// EXITED only: the exit code was in `exitcodes`.
    pub expected: bool,
    /// The back-off counter (STARTING/BACKOFF events).
    pub tries: u32,
    /// Wall clock of the change, epoch seconds.
    pub at: f64,
}

/// How the supervisor ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// `shutdown()` or the cancellation token: every process was stopped.
    Shutdown,
    /// A `restart()` stopped everything but the reloader failed: nothing runs any more.
    RestartFailed(String),
    /// The actor task ended abnormally (a bug): children may still run until the daemon exits.
    Aborted,
}

/// Which processes a start/stop/signal request covers.
#[derive(Debug, Clone)]
pub enum Selection {
    One(String),
    Group(String),
    All,
}

/// The answer for one process of a request: known now, or when the process gets there.
pub enum Outcome {
    Done(Result<(), Fault>),
    Wait(oneshot::Receiver<Result<(), Fault>>),
}

pub struct Item {
    pub name: String,
    pub group: String,
    pub outcome: Outcome,
}

pub struct StdinWrite {
    pub data: Vec<u8>,
    pub reply: Option<Reply<bool>>,
}

#[allow(clippy::large_enum_variant)] // short-lived messages; boxing would buy nothing
pub enum Msg {
    Info(String, Reply<Result<ProcessInfo, Fault>>),
    AllInfo(Reply<Vec<ProcessInfo>>),
    AllConfig(Reply<Vec<ConfigInfo>>),
    Start(Selection, bool, Reply<Result<Vec<Item>, Fault>>),
    /// Sets the extra arguments of one process (its namespec, the text as given, the text
    /// split), then starts it like `Start`.
    StartArgs {
        namespec: String,
        text: String,
        argv: Vec<String>,
        wait: bool,
        reply: Reply<Result<Vec<Item>, Fault>>,
    },
    Stop(Selection, bool, Reply<Result<Vec<Item>, Fault>>),
    /// The cluster's fence: stop, SIGKILL at most this long after; waits for the stop.
    StopWithin(Selection, Duration, Reply<Result<Vec<Item>, Fault>>),
    Signal(Selection, String, Reply<Result<Vec<Item>, Fault>>),
    LogPath(String, Channel, Reply<Result<Option<PathBuf>, Fault>>),
    Recent(String, Channel, Reply<Result<Vec<u8>, Fault>>),
    Sinks(Option<String>, Reply<Result<ProcSinks, Fault>>),
    Stdin(String, Reply<Result<StdinQueue, Fault>>),
    RemoteComm(String, String),
    Reread(Result<Config, String>, Reply<Result<ConfigDiff, Fault>>),
    AddGroup(String, Reply<Result<(), Fault>>),
    RemoveGroup(String, Reply<Result<(), Fault>>),
    Shutdown(bool, Reply<Result<(), Fault>>),
    SetStartGuard(Option<StartGuard>),
    /// `update_numprocs`, first step: how many processes the program has now (BAD_NAME if
    /// no running group uses it).
    NumprocsCurrent(String, Reply<Result<usize, Fault>>),
    /// `update_numprocs`, second step: apply the configuration re-read with the new numprocs.
    Numprocs {
        program: String,
        numprocs: u32,
        config: Config,
        reply: Reply<Result<NumprocsStep, Fault>>,
    },
    /// `update_numprocs`, last step of a decrease: remove the obsolete processes (namespecs)
    /// now stopped.
    RemoveObsolete(Vec<String>, Reply<Result<Vec<String>, Fault>>),
    /// Performs the boot-time autostart held back by `Options::defer_autostart` (once).
    AutostartNow(Reply<()>),
    // from the actor's own tasks
    Exited {
        id: u64,
        pid: i32,
        kind: ExitKind,
    },
    /// Output to act on: a listener's protocol (its stdout), or data for `PROCESS_LOG_*`.
    Output {
        id: u64,
        pid: i32,
        stdout: bool,
        data: Vec<u8>,
    },
    /// A finished capture: data for `PROCESS_COMMUNICATION_*`.
    Comm {
        id: u64,
        pid: i32,
        stdout: bool,
        data: Vec<u8>,
    },
}

/// State shared with the handles for the synchronous trait methods.
pub struct Shared {
    pub mood: Mutex<SupervisorState>,
    pub identifier: Mutex<String>,
    /// The extra arguments of each process that has some, by `(group, name)`, as given to
    /// `start_process_args` (trimmed). Written by the actor only; read by the handles so that
    /// [`Supervisor::extra_args`](crate::Supervisor::extra_args) needs no round trip.
    pub extra_args: Mutex<HashMap<(String, String), String>>,
    /// `update_numprocs`' overrides and the reloader that applies them. Overrides are written
    /// by the actor only.
    pub numprocs: Mutex<NumprocsState>,
    /// Bumped each time a process is added or removed (addProcessGroup, removeProcessGroup, a
    /// reload, `update_numprocs`): those change the set of processes without any state
    /// change event, and the cluster layer must still learn the new set.
    pub layout: tokio::sync::watch::Sender<u64>,
}

struct Group {
    /// The running group's settings. Its `processes` stay empty: each process's spec lives in
    /// its `Proc` alone (one copy per process, not two, with hundreds of them); see
    /// [`Actor::running_spec`] for the whole group.
    spec: GroupSpec,
    procs: Vec<u64>,
    pool: Option<Pool>,
    /// An `[fcgi-program:x]` group's socket, shared by its processes.
    socket: Option<SharedSocket>,
    /// False once the config was re-read: Supervisor's `getAllConfigInfo` then reports the
    /// new config objects, whose AUTO logs are not resolved yet (`'auto'`), until the group is
    /// re-added.
    config_current: bool,
}

struct Proc {
    spec: ProcessSpec,
    st: ProcState,
    out_path: Option<PathBuf>,
    err_path: Option<PathBuf>,
    out_sink: Sink,
    err_sink: Sink,
    out_tail: SharedTail,
    err_tail: SharedTail,
    stdin: Option<Stdin>,
    start_waiters: Vec<(String, Reply<Result<(), Fault>>)>,
    stop_waiters: Vec<Reply<Result<(), Fault>>>,
    proto: Option<ListenerProto>,
    in_flight: Option<Queued>,
    /// Appended to `spec.argv` at every spawn (Supvisors' extra arguments), until the next
    /// `start_process_args`; empty = none.
    extra_argv: Vec<String>,
    /// It holds its fcgi group's socket (from its spawn until it is reaped or its spawn
    /// failed).
    holds_socket: bool,
}

pub struct Actor {
    config: Config,
    groups: Vec<Group>,
    /// Boxed: a `Proc` is large, and the map keeps spare capacity.
    procs: HashMap<u64, Box<Proc>>,
    next_id: u64,
    serial: u64,
    ticks: HashMap<i64, i64>,
    phase: Phase,
    shared: Arc<Shared>,
    spawner: Option<Spawner>,
    tx: mpsc::UnboundedSender<Msg>,
    events: broadcast::Sender<ProcessEvent>,
    reloader: Reloader,
    server_url: Option<String>,
    done: Option<Reply<Exit>>,
    start_guard: Option<StartGuard>,
    /// The boot-time autostart is held back until [`Msg::AutostartNow`]: the layer that
    /// installs the start guard (the cluster node) exists only after the supervisor started.
    autostart_deferred: bool,
    /// Spawns handed to the spawner thread whose outcome is not applied yet.
    pending: Vec<PendingSpawn>,
}

fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn fault(code: FaultCode, extra: &str) -> Fault {
    Fault::with(code, extra)
}

impl Actor {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Config,
        shared: Arc<Shared>,
        spawner: Spawner,
        tx: mpsc::UnboundedSender<Msg>,
        events: broadcast::Sender<ProcessEvent>,
        reloader: Reloader,
        server_url: Option<String>,
        done: Reply<Exit>,
        defer_autostart: bool,
    ) -> Actor {
        Actor {
            config,
            groups: Vec::new(),
            procs: HashMap::new(),
            next_id: 1,
            serial: 0,
            ticks: HashMap::new(),
            phase: Phase::Running,
            shared,
            spawner: Some(spawner),
            tx,
            events,
            reloader,
            server_url,
            done: Some(done),
            start_guard: None,
            autostart_deferred: defer_autostart,
            pending: Vec::new(),
        }
    }

    /// The context of one step of process `id`. The start guard is asked only for the events
    /// that may start the process automatically (an exit with autorestart, a back-off retry).
    fn ctx(&self, id: u64, event: &Event) -> Ctx {
        let may_start = matches!(self.phase, Phase::Running);
        let automatic = matches!(event, Event::Exited(_) | Event::Timer(TimerKind::Retry));
        Ctx {
            now: Instant::now(),
            epoch: epoch_now(),
            may_start,
            start_allowed: !(may_start && automatic) || self.refusal(id).is_none(),
        }
    }

    /// The start guard's fault for process `id`, `None` when it may start (or no guard is set).
    fn refusal(&self, id: u64) -> Option<Fault> {
        let guard = self.start_guard.as_ref()?;
        let p = self.procs.get(&id)?;
        guard(&p.spec).err()
    }

    fn mood(&self) -> SupervisorState {
        self.shared
            .mood
            .lock()
            .map(|m| *m)
            .unwrap_or(SupervisorState::Shutdown)
    }

    fn set_mood(&self, m: SupervisorState) {
        if let Ok(mut g) = self.shared.mood.lock() {
            *g = m;
        }
    }

    /// Runs `event` through the state machine of process `id`, executing actions until quiet.
    async fn apply(&mut self, id: u64, event: Event) {
        let mut queue = VecDeque::from([event]);
        while let Some(ev) = queue.pop_front() {
            if let Event::Exited(_) = ev {
                if let Some(q) = self.procs.get_mut(&id).and_then(|p| p.in_flight.take()) {
                    self.requeue(id, q);
                }
            }
            let ctx = self.ctx(id, &ev);
            let Some(p) = self.procs.get_mut(&id) else {
                return;
            };
            let (st, actions) = machine::step(&p.st, ev, ctx, &p.spec);
            p.st = st;
            for a in actions {
                match a {
                    // the outcome comes back as an event from `flush_spawns`
                    Action::Spawn => match self.begin_spawn(id) {
                        Ok(pending) => self.pending.push(pending),
                        Err(e) => queue.push_back(Event::SpawnFailed(e)),
                    },
                    Action::Signal { signal, group, pid } => {
                        if let Err(e) = send_signal(pid, signal, group) {
                            queue.push_back(Event::SignalFailed(e));
                        }
                    }
                    Action::Changed(t) => self.changed(id, t, ctx.epoch),
                    Action::Log { warn, message } => {
                        if warn {
                            tracing::warn!("{message}");
                        } else {
                            tracing::info!("{message}");
                        }
                    }
                }
            }
        }
        self.check_waiters(id);
        self.dispatch();
    }

    fn changed(&mut self, id: u64, t: machine::Transition, at: f64) {
        let Some(p) = self.procs.get_mut(&id) else {
            return;
        };
        if t.to.is_stopped() || t.to == ProcessState::Backoff {
            // the child is gone: close its stdin writer (the readers end at EOF)
            p.stdin = None;
        }
        let (name, group) = (p.spec.name.clone(), p.spec.group.clone());
        use ProcessState::{Backoff, Exited, Fatal, Stopped};
        if matches!(t.to, Stopped | Exited | Fatal | Backoff) {
            // reaped, or its spawn failed (not UNKNOWN: the kill failed, the child may live on)
            self.release_socket(id);
        }
        let _ = self.events.send(ProcessEvent {
            group: group.clone(),
            name: name.clone(),
            from: t.from,
            to: t.to,
            pid: t.pid,
            expected: t.expected,
            tries: t.tries,
            at,
        });
        self.notify(events::process_state_payload(
            &name, &group, t.from, t.to, t.pid, t.tries, t.expected,
        ));
    }

    fn check_waiters(&mut self, id: u64) {
        let Some(p) = self.procs.get_mut(&id) else {
            return;
        };
        let state = p.st.state;
        let spawnerr = p.st.spawnerr.is_some();
        let mut keep = Vec::new();
        for (name, w) in p.start_waiters.drain(..) {
            let r = if spawnerr {
                Some(Err(fault(FaultCode::SpawnError, &name)))
            } else if state == ProcessState::Running {
                Some(Ok(()))
            } else if state != ProcessState::Starting {
                Some(Err(fault(FaultCode::AbnormalTermination, &name)))
            } else {
                None
            };
            match r {
                Some(r) => {
                    let _ = w.send(r);
                }
                None => keep.push((name, w)),
            }
        }
        p.start_waiters = keep;
        if state.is_stopped() {
            for w in p.stop_waiters.drain(..) {
                let _ = w.send(Ok(()));
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.procs
            .values()
            .filter_map(|p| p.st.timer.map(|t| t.at))
            .chain(self.next_tick())
            .min()
    }

    async fn fire_timers(&mut self) {
        let now = Instant::now();
        let due: Vec<(u64, machine::TimerKind)> = self
            .procs
            .iter()
            .filter_map(|(id, p)| p.st.timer.filter(|t| t.at <= now).map(|t| (*id, t.kind)))
            .collect();
        for (id, kind) in due {
            self.apply(id, Event::Timer(kind)).await;
        }
        self.tick();
    }

    /// Serves one message. The requests that need a running supervisor are answered
    /// SHUTDOWN_STATE here, once, by [`refuse_when_down`]; the arms below never check.
    async fn handle(&mut self, msg: Msg) {
        let msg = if self.mood() == SupervisorState::Running {
            msg
        } else {
            match refuse_when_down(msg) {
                Some(msg) => msg,
                None => return,
            }
        };
        match msg {
            Msg::Info(ns, r) => {
                let _ = r.send(self.process_info(&ns));
            }
            Msg::AllInfo(r) => {
                let _ = r.send(self.all_info());
            }
            Msg::AllConfig(r) => {
                let _ = r.send(self.all_config());
            }
            Msg::Start(sel, wait, r) => {
                let _ = r.send(self.start(sel, wait).await);
            }
            Msg::StartArgs {
                namespec,
                text,
                argv,
                wait,
                reply,
            } => {
                let _ = reply.send(self.start_args(namespec, text, argv, wait).await);
            }
            Msg::Stop(sel, wait, r) => {
                let _ = r.send(self.stop(sel, wait).await);
            }
            Msg::StopWithin(sel, limit, r) => {
                let _ = r.send(self.stop_within(sel, limit).await);
            }
            Msg::Signal(sel, sig, r) => {
                let _ = r.send(self.signal(sel, &sig));
            }
            Msg::LogPath(ns, ch, r) => {
                let _ = r.send(self.log_path(&ns, ch));
            }
            Msg::Recent(ns, ch, r) => {
                let _ = r.send(self.recent_output(&ns, ch));
            }
            Msg::Sinks(ns, r) => {
                let _ = r.send(self.sinks(ns.as_deref()));
            }
            Msg::Stdin(ns, r) => {
                let _ = r.send(self.stdin_writer(&ns));
            }
            Msg::RemoteComm(kind, data) => self.notify(events::remote_comm_payload(&kind, &data)),
            Msg::Reread(cfg, r) => {
                let res = cfg
                    .map(|c| self.reread(c))
                    .map_err(|e| fault(FaultCode::CantReread, &e));
                let _ = r.send(res);
            }
            Msg::AddGroup(name, r) => {
                let _ = r.send(self.add_group_request(&name).await);
            }
            Msg::RemoveGroup(name, r) => {
                let _ = r.send(self.remove_group(&name));
            }
            Msg::Shutdown(restart, r) => {
                // the handle already flipped the mood; the phase says whether we act on it
                let res = if matches!(self.phase, Phase::Running) {
                    self.begin_stop(restart);
                    Ok(())
                } else {
                    Err(shutdown_fault())
                };
                let _ = r.send(res);
            }
            Msg::SetStartGuard(guard) => self.start_guard = guard,
            Msg::NumprocsCurrent(program, r) => {
                let _ = r.send(self.numprocs_current(&program));
            }
            Msg::Numprocs {
                program,
                numprocs,
                config,
                reply,
            } => {
                let _ = reply.send(self.apply_numprocs(&program, numprocs, config).await);
            }
            Msg::RemoveObsolete(namespecs, r) => {
                let _ = r.send(self.remove_obsolete(namespecs));
            }
            Msg::AutostartNow(r) => {
                self.autostart_deferred_now().await;
                let _ = r.send(());
            }
            Msg::Exited { id, pid, kind } => {
                if self.procs.get(&id).is_some_and(|p| p.st.pid == pid) {
                    self.apply(id, Event::Exited(kind)).await;
                }
            }
            Msg::Output {
                id,
                pid,
                stdout,
                data,
            } => self.output(id, pid, stdout, data),
            Msg::Comm {
                id,
                pid,
                stdout,
                data,
            } => self.communication(id, pid, stdout, data),
        }
    }

    /// The actor loop: boot, serve, stop, and report how it ended.
    pub async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Msg>,
        cancel: tokio_util::sync::CancellationToken,
    ) {
        self.boot().await;
        self.flush_spawns().await;
        let exit = loop {
            if let Some(restart) = self.progress_stop().await {
                if !restart {
                    break Exit::Shutdown;
                }
                if let Err(e) = self.restart_now().await {
                    tracing::error!(error = %e, "restart: cannot reload the configuration");
                    break Exit::RestartFailed(e);
                }
            }
            let deadline = self.next_deadline();
            let stopping = !matches!(self.phase, Phase::Running);
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(m) => self.handle(m).await,
                    None => { if !stopping { self.begin_stop(false); } }
                },
                _ = sleep_until(deadline) => self.fire_timers().await,
                _ = cancel.cancelled(), if !stopping => self.begin_stop(false),
            }
            // spawns set off by that message or timer (autorestart, back-off retry, addGroup)
            self.flush_spawns().await;
        };
        self.set_mood(SupervisorState::Shutdown);
        // ending the spawner thread once its children are reaped
        self.spawner = None;
        if let Some(done) = self.done.take() {
            let _ = done.send(exit);
        }
    }
}

/// SHUTDOWN_STATE without text, as Supervisor answers once it is stopping.
fn shutdown_fault() -> Fault {
    Fault {
        extra: None,
        ..fault(FaultCode::ShutdownState, "")
    }
}

/// While the supervisor shuts down or restarts: answers SHUTDOWN_STATE to the requests that
/// need it running (`None`: done), and gives back the messages served in any state: the read
/// views (`getAllProcessInfo`, the config, log tails: the dashboard shows the last words of a
/// stop), the removal of processes stopped either way, the start guard, the deferred
/// autostart (which does nothing then), `Shutdown` (answered by the phase) and the notices of
/// the actor's own tasks.
fn refuse_when_down(msg: Msg) -> Option<Msg> {
    fn no<T>(r: Reply<Result<T, Fault>>) -> Option<Msg> {
        let _ = r.send(Err(shutdown_fault()));
        None
    }
    match msg {
        Msg::Info(_, r) => no(r),
        Msg::Start(_, _, r)
        | Msg::StartArgs { reply: r, .. }
        | Msg::Stop(_, _, r)
        | Msg::StopWithin(_, _, r)
        | Msg::Signal(_, _, r) => no(r),
        Msg::LogPath(_, _, r) => no(r),
        Msg::Sinks(_, r) => no(r),
        Msg::Stdin(_, r) => no(r),
        Msg::Reread(_, r) => no(r),
        Msg::AddGroup(_, r) | Msg::RemoveGroup(_, r) => no(r),
        Msg::NumprocsCurrent(_, r) => no(r),
        Msg::Numprocs { reply, .. } => no(reply),
        Msg::AllInfo(_)
        | Msg::AllConfig(_)
        | Msg::Recent(..)
        | Msg::RemoteComm(..)
        | Msg::Shutdown(..)
        | Msg::SetStartGuard(_)
        | Msg::RemoveObsolete(..)
        | Msg::AutostartNow(_)
        | Msg::Exited { .. }
        | Msg::Output { .. }
        | Msg::Comm { .. } => Some(msg),
    }
}

/// The configuration re-read to use: through the numprocs reloader with the overrides when
/// one is installed (so they survive), else the plain reloader. Runs off the actor.
pub fn reload_fn(
    reloader: &Reloader,
    shared: &Shared,
) -> impl FnOnce() -> Result<Config, String> + Send + 'static {
    let plain = reloader.clone();
    let overriding = shared
        .numprocs
        .lock()
        .ok()
        .and_then(|s| s.reloader.clone().map(|r| (r, s.overrides.clone())));
    move || match overriding {
        Some((reload, overrides)) => reload(&overrides),
        None => plain(),
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
