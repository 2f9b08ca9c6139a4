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

use crate::api::{Channel, ConfigDiff, ConfigInfo, ProcessInfo};
use crate::events::{self, ListenerProto, ListenerSaid, Notification};
use crate::logs::RotatingFile;
use crate::machine::{self, Action, Ctx, Event, ExitKind, ProcState, TimerKind};
use crate::numprocs::{self, NumprocsState};
use crate::output::{self, OutputDispatcher, Piece, Tail};
use crate::spawn::{self, Spawner};
use model::{
    Config, Fault, FaultCode, GroupKind, GroupSpec, LogTarget, ProcessSpec, ProcessState,
    SupervisorState,
};
use std::collections::{HashMap, VecDeque};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::AsyncWriteExt;
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
    Stdin(
        String,
        Reply<Result<mpsc::UnboundedSender<StdinWrite>, Fault>>,
    ),
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

/// The outcome of [`Msg::Numprocs`]: processes added (and autostarted), processes made
/// obsolete and being stopped, and how long their stops may take.
pub struct NumprocsStep {
    pub added: Vec<String>,
    pub obsolete: Vec<String>,
    /// Resolve when each obsolete process still running has stopped.
    pub stops: Vec<oneshot::Receiver<Result<(), Fault>>>,
    /// The longest `stopwaitsecs` of the obsolete processes plus a margin for the kill.
    pub grace: std::time::Duration,
}

/// Time allowed, past `stopwaitsecs`, for a SIGKILLed process to be reaped.
const STOP_MARGIN: std::time::Duration = std::time::Duration::from_secs(5);

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

struct Queued {
    serial: u64,
    pool_serial: u64,
    n: Notification,
}

struct Pool {
    events: Vec<String>,
    buffer_size: usize,
    buffer: VecDeque<Queued>,
    serial: u64,
}

struct Group {
    /// The running group's settings. Its `processes` stay empty: each process's spec lives in
    /// its `Proc` alone (one copy per process, not two, with hundreds of them); see
    /// [`Actor::running_spec`] for the whole group.
    spec: GroupSpec,
    procs: Vec<u64>,
    pool: Option<Pool>,
    /// False once the config was re-read: Supervisor's `getAllConfigInfo` then reports the
    /// new config objects, whose AUTO logs are not resolved yet (`'auto'`), until the group is
    /// re-added.
    config_current: bool,
}

/// What a stop request answers for `p` once its stop event is applied: a fault if the kill
/// failed (UNKNOWN), else done, or (with `wait`, while it is not stopped yet) a wait for it.
fn stop_outcome(p: &mut Proc, ns: &str, wait: bool) -> Outcome {
    if p.st.state == ProcessState::Unknown {
        Outcome::Done(Err(fault(
            FaultCode::Failed,
            &format!("unknown problem killing {ns}"),
        )))
    } else if wait && !p.st.state.is_stopped() {
        let (w, rx) = oneshot::channel();
        p.stop_waiters.push(w);
        Outcome::Wait(rx)
    } else {
        Outcome::Done(Ok(()))
    }
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
}

enum Phase {
    Running,
    Stopping {
        /// Remaining batches of group names, next first (same priority = one batch).
        batches: VecDeque<Vec<String>>,
        current: Vec<String>,
        restart: bool,
    },
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

/// How many spawns a batch start prepares before collecting their outcomes.
const SPAWNS_IN_FLIGHT: usize = 16;

/// A spawn in flight: the spawner's answer and the parent's ends of the child's pipes.
struct PendingSpawn {
    id: u64,
    reply: oneshot::Receiver<Result<i32, String>>,
    out_r: OwnedFd,
    err_r: Option<OwnedFd>,
    in_w: OwnedFd,
}

fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn random_suffix(seed: u64) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(seed);
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    let mut v = h.finish();
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_";
    (0..8)
        .map(|_| {
            let c = ALPHABET[(v % ALPHABET.len() as u64) as usize] as char;
            v /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

fn fault(code: FaultCode, extra: &str) -> Fault {
    Fault::with(code, extra)
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| format!("unknown error making dispatchers: {e}"))
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

    /// Removes AUTO logs of a previous run (`nocleanup = false`).
    fn clear_auto_logs(&self) {
        let sd = &self.config.supervisord;
        if sd.nocleanup {
            return;
        }
        let marker = format!("---{}-", sd.identifier);
        let Ok(entries) = std::fs::read_dir(&sd.childlogdir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.contains(&marker) && name.contains(".log") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    fn resolve_log(&self, spec: &ProcessSpec, stdout: bool) -> Option<PathBuf> {
        let target = if stdout {
            &spec.stdout.target
        } else if spec.redirect_stderr {
            return None;
        } else {
            &spec.stderr.target
        };
        match target {
            LogTarget::Path(p) => Some(p.clone()),
            LogTarget::None | LogTarget::Syslog => None,
            LogTarget::Auto => {
                let sd = &self.config.supervisord;
                let channel = if stdout { "stdout" } else { "stderr" };
                for attempt in 0..16u64 {
                    let p = sd.childlogdir.join(format!(
                        "{}-{channel}---{}-{}.log",
                        spec.name,
                        sd.identifier,
                        random_suffix(self.next_id * 31 + attempt)
                    ));
                    match std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&p)
                    {
                        Ok(_) => return Some(p),
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                        Err(e) => {
                            tracing::warn!(path = %p.display(), error = %e, "cannot create AUTO log");
                            return None;
                        }
                    }
                }
                None
            }
        }
    }

    /// A new process (STOPPED, never started) for `spec`, with its AUTO log paths resolved.
    fn new_proc(&mut self, spec: ProcessSpec) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let out_path = self.resolve_log(&spec, true);
        let err_path = self.resolve_log(&spec, false);
        self.procs.insert(
            id,
            Box::new(Proc {
                spec,
                st: ProcState::default(),
                out_path,
                err_path,
                out_sink: Arc::new(Mutex::new(None)),
                err_sink: Arc::new(Mutex::new(None)),
                out_tail: Arc::default(),
                err_tail: Arc::default(),
                stdin: None,
                start_waiters: Vec::new(),
                stop_waiters: Vec::new(),
                proto: None,
                in_flight: None,
                extra_argv: Vec::new(),
            }),
        );
        self.shared.layout.send_modify(|n| *n += 1);
        id
    }

    /// The running group `gi` as a whole: its settings and its processes' specs, in the
    /// group's order (what the config said when it was added, as changed by update_numprocs).
    fn running_spec(&self, gi: usize) -> GroupSpec {
        let g = &self.groups[gi];
        GroupSpec {
            processes: g
                .procs
                .iter()
                .filter_map(|id| self.procs.get(id))
                .map(|p| p.spec.clone())
                .collect(),
            ..g.spec.clone()
        }
    }

    fn add_group(&mut self, mut spec: GroupSpec) {
        let processes = std::mem::take(&mut spec.processes);
        let pool = if spec.kind == GroupKind::EventListenerPool {
            processes
                .first()
                .and_then(|p| p.listener.as_ref())
                .map(|l| Pool {
                    events: l.events.clone(),
                    buffer_size: l.buffer_size.max(1),
                    buffer: VecDeque::new(),
                    serial: 0,
                })
        } else {
            None
        };
        let procs = processes.into_iter().map(|p| self.new_proc(p)).collect();
        let name = spec.name.clone();
        self.groups.push(Group {
            spec,
            procs,
            pool,
            config_current: true,
        });
        self.groups
            .sort_by(|a, b| (a.spec.priority, &a.spec.name).cmp(&(b.spec.priority, &b.spec.name)));
        self.notify(events::group_payload(&name, true));
    }

    fn group_index(&self, name: &str) -> Option<usize> {
        self.groups.iter().position(|g| g.spec.name == name)
    }

    fn find(&self, namespec: &str) -> Result<u64, Fault> {
        let (group, name) = model::split_namespec(namespec);
        let bad = || fault(FaultCode::BadName, namespec);
        let name = name.ok_or_else(bad)?;
        let g = self.group_index(&group).ok_or_else(bad)?;
        self.groups[g]
            .procs
            .iter()
            .copied()
            .find(|id| self.procs.get(id).is_some_and(|p| p.spec.name == name))
            .ok_or_else(bad)
    }

    /// The processes of a selection in priority order (BAD_NAME for unknown names).
    fn select(&self, sel: &Selection) -> Result<Vec<u64>, Fault> {
        match sel {
            Selection::One(ns) => Ok(vec![self.find(ns)?]),
            Selection::Group(g) => {
                let i = self
                    .group_index(g)
                    .ok_or_else(|| fault(FaultCode::BadName, g))?;
                Ok(self.groups[i].procs.clone())
            }
            Selection::All => Ok(self.groups.iter().flat_map(|g| g.procs.clone()).collect()),
        }
    }

    fn namespec(&self, id: u64) -> (String, String, String) {
        match self.procs.get(&id) {
            Some(p) => (
                model::make_namespec(&p.spec.group, &p.spec.name),
                p.spec.name.clone(),
                p.spec.group.clone(),
            ),
            None => Default::default(),
        }
    }

    // ---------------------------------------------------------------- events

    fn notify(&mut self, n: Notification) {
        let mut any = false;
        for g in &mut self.groups {
            let Some(pool) = g.pool.as_mut() else {
                continue;
            };
            if !pool.events.iter().any(|s| events::subscribed(s, &n.name)) {
                continue;
            }
            let serial = self.serial;
            self.serial = self.serial.wrapping_add(1);
            let q = Queued {
                serial,
                pool_serial: pool.serial,
                n: n.clone(),
            };
            pool.serial = pool.serial.wrapping_add(1);
            if pool.buffer.len() >= pool.buffer_size {
                if let Some(old) = pool.buffer.pop_front() {
                    tracing::error!(pool = %g.spec.name, serial = old.serial, "pool event buffer overflowed, discarding event");
                }
            }
            pool.buffer.push_back(q);
            any = true;
        }
        if any {
            self.dispatch();
        }
    }

    fn requeue(&mut self, id: u64, q: Queued) {
        let Some(group) = self.procs.get(&id).map(|p| p.spec.group.clone()) else {
            return;
        };
        let Some(gi) = self.group_index(&group) else {
            return;
        };
        if let Some(pool) = self.groups[gi].pool.as_mut() {
            if pool.buffer.len() >= pool.buffer_size {
                pool.buffer.pop_front();
            }
            pool.buffer.push_front(q);
        }
    }

    /// Sends buffered events to READY listeners that are RUNNING.
    fn dispatch(&mut self) {
        let identifier = self.config.supervisord.identifier.clone();
        for g in &mut self.groups {
            let Some(pool) = g.pool.as_mut() else {
                continue;
            };
            while !pool.buffer.is_empty() {
                let ready = g.procs.iter().copied().find(|id| {
                    self.procs.get(id).is_some_and(|p| {
                        p.st.state == ProcessState::Running
                            && p.stdin.is_some()
                            && p.proto
                                .as_ref()
                                .is_some_and(|x| x.state == model::ListenerState::Ready)
                    })
                });
                let Some(id) = ready else { break };
                let Some(q) = pool.buffer.pop_front() else {
                    break;
                };
                let Some(p) = self.procs.get_mut(&id) else {
                    break;
                };
                let env =
                    events::envelope(&identifier, q.serial, &g.spec.name, q.pool_serial, &q.n);
                if let Some(stdin) = p.stdin.as_mut().and_then(Stdin::sender) {
                    let _ = stdin.send(StdinWrite {
                        data: env,
                        reply: None,
                    });
                }
                if let Some(proto) = p.proto.as_mut() {
                    proto.sent();
                }
                p.in_flight = Some(q);
            }
        }
    }

    fn tick(&mut self) {
        let now = epoch_now() as i64;
        for period in events::TICK_PERIODS {
            let this = events::timeslice(period, now);
            let last = *self.ticks.entry(period).or_insert(this);
            if this != last {
                self.ticks.insert(period, this);
                self.notify(events::tick_payload(period, this));
            }
        }
    }

    fn next_tick(&self) -> Option<Instant> {
        if !self.groups.iter().any(|g| g.pool.is_some()) {
            return None;
        }
        let now = epoch_now();
        let next = (now / 5.0).floor() * 5.0 + 5.0;
        Some(Instant::now() + std::time::Duration::from_secs_f64((next - now).max(0.0) + 0.001))
    }

    // ---------------------------------------------------------------- state machine

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

    /// Prepares the spawn of process `id` (command lookup, pipes, environment, log files) and
    /// hands it to the spawner thread without waiting: the fork happens while the actor
    /// prepares the next one. [`Actor::flush_spawns`] collects the outcome.
    fn begin_spawn(&mut self, id: u64) -> Result<PendingSpawn, String> {
        let sd_env = &self.config.supervisord.environment;
        let tx = self.tx.clone();
        let Some(spawner) = self.spawner.as_ref() else {
            return Err("supervisor is exiting".into());
        };
        let Some(p) = self.procs.get_mut(&id) else {
            return Err("unknown process".into());
        };
        let spec = &p.spec;
        let path = spawn::lookup_path(sd_env, &spec.environment);
        let program = spawn::resolve_command(&spec.argv, path.as_deref())
            .map_err(|f| f.extra.unwrap_or_else(|| f.code.name().to_string()))?;
        let creds = spawn::resolve_user(spec.user.as_deref())?;
        let (in_r, in_w) = pipe()?;
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = if spec.redirect_stderr {
            let dup = out_w.try_clone().map_err(|e| e.to_string())?;
            (None, dup)
        } else {
            let (r, w) = pipe()?;
            (Some(r), w)
        };
        let env = spawn::build_env(spawn::EnvInputs {
            base: std::env::vars().collect(),
            process_name: &spec.name,
            group_name: &spec.group,
            server_url: spec.serverurl.as_deref().or(self.server_url.as_deref()),
            supervisord_env: sd_env,
            program_env: &spec.environment,
        });
        // open the log files on first use, as Supervisor does when it creates the dispatchers
        for (path, sink, log) in [
            (&p.out_path, &p.out_sink, &spec.stdout),
            (&p.err_path, &p.err_sink, &spec.stderr),
        ] {
            if let (Some(path), Ok(mut s)) = (path, sink.lock()) {
                if s.is_none() {
                    match RotatingFile::open(path.clone(), log.maxbytes, log.backups) {
                        Ok(f) => *s = Some(f),
                        Err(e) => {
                            tracing::warn!(path = %path.display(), error = %e, "cannot open child log")
                        }
                    }
                }
            }
        }
        let exit_tx = tx;
        let argv = spec.argv.iter().chain(&p.extra_argv).cloned().collect();
        let reply = spawner.submit(|reply| spawn::SpawnRequest {
            program,
            argv,
            env,
            directory: spec.directory.clone(),
            umask: spec.umask,
            creds,
            pdeathsig: !spec.survive_daemon,
            stdin: in_r,
            stdout: out_w,
            stderr: err_w,
            reply,
            on_exit: Box::new(move |pid, kind| {
                let _ = exit_tx.send(Msg::Exited { id, pid, kind });
            }),
        })?;
        Ok(PendingSpawn {
            id,
            reply,
            out_r,
            err_r,
            in_w,
        })
    }

    /// Waits for every spawn handed out by [`Actor::begin_spawn`], in order, and feeds each
    /// outcome to its process. No message is handled meanwhile, so to the state machine a
    /// spawn still looks immediate; only the forks of one batch overlap the preparation of the
    /// next ones.
    async fn flush_spawns(&mut self) {
        while !self.pending.is_empty() {
            for p in std::mem::take(&mut self.pending) {
                let id = p.id;
                let event = match self.finish_spawn(p).await {
                    Ok(pid) => Event::Spawned { pid },
                    Err(e) => Event::SpawnFailed(e),
                };
                self.apply(id, event).await;
            }
        }
    }

    /// Keeps at most [`SPAWNS_IN_FLIGHT`] spawns prepared ahead: enough for the forks to
    /// overlap the preparation, without holding the environments of a whole batch at once.
    async fn bound_spawns(&mut self) {
        if self.pending.len() >= SPAWNS_IN_FLIGHT {
            self.flush_spawns().await;
        }
    }

    /// The second half of a spawn: the pid, then the tasks that serve the child's pipes.
    async fn finish_spawn(&mut self, pending: PendingSpawn) -> Result<i32, String> {
        let PendingSpawn {
            id,
            reply,
            out_r,
            err_r,
            in_w,
        } = pending;
        let pid = reply
            .await
            .map_err(|_| "spawner thread is gone".to_string())??;
        let tx = self.tx.clone();
        let strip_ansi = self.config.supervisord.strip_ansi;
        let Some(p) = self.procs.get_mut(&id) else {
            return Err("unknown process".into());
        };
        let spec = &p.spec;
        tracing::info!(name = %spec.name, pid, "spawned: '{}' with pid {pid}", spec.name);
        let listener = spec.listener.is_some();
        let reader = |stdout: bool, log: &model::LogSpec, sink: &Sink, tail: &SharedTail| {
            PipeReader {
                name: spec.name.clone(),
                stdout,
                sink: sink.clone(),
                tail: tail.clone(),
                // an event listener's stdout is its protocol channel: no capture, no events
                dispatcher: (!(listener && stdout))
                    .then(|| OutputDispatcher::new(log.capture_maxbytes, strip_ansi)),
                strip_ansi,
                syslog: log.syslog || log.target == LogTarget::Syslog,
                log_events: log.events_enabled,
                tx: tx.clone(),
                id,
                pid,
            }
        };
        tokio::spawn(read_pipe(
            out_r,
            reader(true, &spec.stdout, &p.out_sink, &p.out_tail),
        ));
        if let Some(err_r) = err_r {
            tokio::spawn(read_pipe(
                err_r,
                reader(false, &spec.stderr, &p.err_sink, &p.err_tail),
            ));
        }
        p.stdin = Some(Stdin {
            pipe: Some(in_w),
            writer: None,
        });
        p.proto = listener.then(ListenerProto::default);
        p.in_flight = None;
        Ok(pid)
    }

    fn output(&mut self, id: u64, pid: i32, stdout: bool, data: Vec<u8>) {
        let Some(p) = self.procs.get_mut(&id) else {
            return;
        };
        let (name, group) = (p.spec.name.clone(), p.spec.group.clone());
        if !(stdout && p.spec.listener.is_some()) {
            // PROCESS_LOG data (the reader forwards it only when events are enabled); it may
            // arrive after the exit was reaped, and carries its own pid
            self.notify(events::process_log_payload(
                &name, &group, pid, stdout, &data,
            ));
            return;
        }
        if p.st.pid != pid {
            return;
        }
        let said = match p.proto.as_mut() {
            Some(proto) => proto.feed(&data),
            None => Vec::new(),
        };
        for s in said {
            match s {
                ListenerSaid::Ready => {}
                ListenerSaid::Result(r) => {
                    let q = self.procs.get_mut(&id).and_then(|p| p.in_flight.take());
                    if r != b"OK" {
                        tracing::warn!("{name}: event was rejected");
                        if let Some(q) = q {
                            self.requeue(id, q);
                        }
                    }
                }
                ListenerSaid::Violation(why) => {
                    tracing::warn!("{name}: has entered the UNKNOWN state and will no longer receive events, this usually indicates the process violated the eventlistener protocol ({why})");
                    if let Some(q) = self.procs.get_mut(&id).and_then(|p| p.in_flight.take()) {
                        self.requeue(id, q);
                    }
                }
            }
        }
        self.dispatch();
    }

    fn communication(&mut self, id: u64, pid: i32, stdout: bool, data: Vec<u8>) {
        let Some(p) = self.procs.get(&id) else {
            return;
        };
        let (name, group) = (p.spec.name.clone(), p.spec.group.clone());
        let channel = if stdout { "stdout" } else { "stderr" };
        tracing::debug!("'{name}' {channel} emitted a comm event");
        self.notify(events::process_comm_payload(
            &name, &group, pid, stdout, &data,
        ));
    }

    // ---------------------------------------------------------------- requests

    async fn start(&mut self, sel: Selection, wait: bool) -> Result<Vec<Item>, Fault> {
        let ids = self.select(&sel)?;
        let single = matches!(sel, Selection::One(_));
        let mut items = Vec::new();
        // (index in items, id, namespec) of the processes whose start was set off
        let mut started = Vec::new();
        for id in ids {
            let (ns, name, group) = self.namespec(id);
            let Some(p) = self.procs.get(&id) else {
                continue;
            };
            let state = p.st.state;
            if !single && state.is_running() {
                continue; // group/all: running processes are silently omitted
            }
            let outcome = match self.start_one(id, &ns, state).await {
                Ok(rx) => {
                    started.push((items.len(), id, ns));
                    Outcome::Wait(rx)
                }
                Err(f) => Outcome::Done(Err(f)),
            };
            items.push(Item {
                name,
                group,
                outcome,
            });
            self.bound_spawns().await;
        }
        // the remaining forks of the selection, then their outcomes
        self.flush_spawns().await;
        if !wait {
            // without wait: only an immediate spawn error is reported
            for (i, id, ns) in started {
                let outcome = match self.procs.get_mut(&id) {
                    Some(p) => {
                        p.start_waiters.clear();
                        if p.st.spawnerr.is_some() {
                            Outcome::Done(Err(fault(FaultCode::SpawnError, &ns)))
                        } else {
                            Outcome::Done(Ok(()))
                        }
                    }
                    None => Outcome::Done(Ok(())),
                };
                items[i].outcome = outcome;
            }
        }
        Ok(items)
    }

    /// Checks and sets off the start of one process; the receiver tells when it got RUNNING
    /// (or why not).
    async fn start_one(
        &mut self,
        id: u64,
        ns: &str,
        state: ProcessState,
    ) -> Result<oneshot::Receiver<Result<(), Fault>>, Fault> {
        let Some(p) = self.procs.get(&id) else {
            return Err(fault(FaultCode::BadName, ns));
        };
        // Checked first, as Supvisors' patched startProcess does before Supervisor's own checks.
        if let Some(refused) = self.refusal(id) {
            return Err(refused);
        }
        let path = spawn::lookup_path(&self.config.supervisord.environment, &p.spec.environment);
        spawn::resolve_command(&p.spec.argv, path.as_deref())?;
        if state.is_running() {
            return Err(fault(FaultCode::AlreadyStarted, ns));
        }
        if state == ProcessState::Unknown {
            return Err(fault(
                FaultCode::Failed,
                &format!("{ns} is in an unknown process state"),
            ));
        }
        let (w, rx) = oneshot::channel();
        if let Some(p) = self.procs.get_mut(&id) {
            p.start_waiters.push((ns.to_string(), w));
        }
        self.apply(id, Event::Start).await;
        Ok(rx)
    }

    /// Supvisors' `start_args`: the checks of a start that must pass before the extra
    /// arguments change (BAD_NAME, the start guard's refusal, ALREADY_STARTED), then the new
    /// arguments, then a normal start of that one process. They stay for the autorestarts and
    /// plain starts that follow; an empty `argv` clears them.
    async fn start_args(
        &mut self,
        namespec: String,
        text: String,
        argv: Vec<String>,
        wait: bool,
    ) -> Result<Vec<Item>, Fault> {
        let id = self.find(&namespec)?;
        if let Some(refused) = self.refusal(id) {
            return Err(refused);
        }
        let Some(p) = self.procs.get_mut(&id) else {
            return Err(fault(FaultCode::BadName, &namespec));
        };
        if p.st.state.is_running() {
            return Err(fault(FaultCode::AlreadyStarted, &namespec));
        }
        let key = (p.spec.group.clone(), p.spec.name.clone());
        let clear = argv.is_empty();
        p.extra_argv = argv;
        if let Ok(mut all) = self.shared.extra_args.lock() {
            if clear {
                all.remove(&key);
            } else {
                all.insert(key, text);
            }
        }
        self.start(Selection::One(namespec), wait).await
    }

    async fn stop(&mut self, sel: Selection, wait: bool) -> Result<Vec<Item>, Fault> {
        let mut ids = self.select(&sel)?;
        let single = matches!(sel, Selection::One(_));
        if matches!(sel, Selection::All) {
            ids.reverse();
        }
        let mut items = Vec::new();
        for id in ids {
            let (ns, name, group) = self.namespec(id);
            let Some(state) = self.procs.get(&id).map(|p| p.st.state) else {
                continue;
            };
            if !state.is_running() {
                if single {
                    items.push(Item {
                        name,
                        group,
                        outcome: Outcome::Done(Err(fault(FaultCode::NotRunning, &ns))),
                    });
                }
                continue;
            }
            self.apply(id, Event::Stop).await;
            let Some(p) = self.procs.get_mut(&id) else {
                continue;
            };
            items.push(Item {
                outcome: stop_outcome(p, &ns, wait),
                name,
                group,
            });
        }
        Ok(items)
    }

    /// [`Event::StopWithin`] for the selected processes that are running-like or STOPPING;
    /// each item waits for its process to stop.
    async fn stop_within(&mut self, sel: Selection, limit: Duration) -> Result<Vec<Item>, Fault> {
        let ids = self.select(&sel)?;
        let single = matches!(sel, Selection::One(_));
        let mut items = Vec::new();
        for id in ids {
            let (ns, name, group) = self.namespec(id);
            let Some(state) = self.procs.get(&id).map(|p| p.st.state) else {
                continue;
            };
            if !state.is_running() && state != ProcessState::Stopping {
                if single {
                    items.push(Item {
                        name,
                        group,
                        outcome: Outcome::Done(Err(fault(FaultCode::NotRunning, &ns))),
                    });
                }
                continue;
            }
            self.apply(id, Event::StopWithin(limit)).await;
            let Some(p) = self.procs.get_mut(&id) else {
                continue;
            };
            items.push(Item {
                outcome: stop_outcome(p, &ns, true),
                name,
                group,
            });
        }
        Ok(items)
    }

    fn signal(&mut self, sel: Selection, sig: &str) -> Result<Vec<Item>, Fault> {
        let ids = self.select(&sel)?;
        let single = matches!(sel, Selection::One(_));
        let number = model::signal_number(sig);
        if single && number.is_none() {
            return Err(fault(FaultCode::BadSignal, sig));
        }
        let mut items = Vec::new();
        for id in ids {
            let (ns, name, group) = self.namespec(id);
            let Some(p) = self.procs.get(&id) else {
                continue;
            };
            let state = p.st.state;
            if !single && !state.is_running() {
                continue;
            }
            let r = match number {
                None => Err(fault(FaultCode::BadSignal, sig)),
                Some(_) if !state.is_signallable() || p.st.pid == 0 => {
                    Err(fault(FaultCode::NotRunning, &ns))
                }
                Some(n) => {
                    send_signal(p.st.pid, n, false).map_err(|e| fault(FaultCode::Failed, &e))
                }
            };
            items.push(Item {
                name,
                group,
                outcome: Outcome::Done(r),
            });
        }
        Ok(items)
    }

    fn info(&self, id: u64) -> Option<ProcessInfo> {
        let p = self.procs.get(&id)?;
        let now = epoch_now() as i64;
        let start = p.st.laststart as i64;
        let stop = p.st.laststop as i64;
        let spawnerr = p.st.spawnerr.clone().unwrap_or_default();
        let path = |x: &Option<PathBuf>| {
            x.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        Some(ProcessInfo {
            name: p.spec.name.clone(),
            group: p.spec.group.clone(),
            description: crate::info::description(
                p.st.state,
                &p.spec.name,
                p.st.pid,
                start,
                stop,
                now,
                &spawnerr,
            ),
            start,
            stop,
            now,
            state: p.st.state,
            spawnerr,
            exitstatus: p.st.exitstatus.unwrap_or(0),
            logfile: path(&p.out_path),
            stdout_logfile: path(&p.out_path),
            stderr_logfile: path(&p.err_path),
            pid: p.st.pid,
        })
    }

    fn all_config(&self) -> Vec<ConfigInfo> {
        let mut out = Vec::new();
        for g in &self.config.groups {
            let active = self.group_index(&g.name);
            let current = active.filter(|&i| self.groups[i].config_current);
            for spec in &g.processes {
                let live = current.and_then(|i| {
                    self.groups[i]
                        .procs
                        .iter()
                        .filter_map(|id| self.procs.get(id))
                        .find(|p| p.spec.name == spec.name)
                });
                out.push((
                    spec.name.clone(),
                    crate::info::config_info(
                        spec,
                        g.priority,
                        active.is_some(),
                        live.and_then(|p| p.out_path.as_deref()),
                        live.and_then(|p| p.err_path.as_deref()),
                    ),
                ));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.into_iter().map(|(_, c)| c).collect()
    }

    fn reread(&mut self, new: Config) -> ConfigDiff {
        let mut diff = ConfigDiff::default();
        for g in &new.groups {
            match self.group_index(&g.name) {
                None => diff.added.push(g.name.clone()),
                Some(i) if self.running_spec(i) != *g => diff.changed.push(g.name.clone()),
                Some(_) => {}
            }
        }
        for g in &self.groups {
            if new.group(&g.spec.name).is_none() {
                diff.removed.push(g.spec.name.clone());
            }
        }
        self.config = new;
        for g in &mut self.groups {
            g.config_current = false;
        }
        diff
    }

    async fn add_group_request(&mut self, name: &str) -> Result<(), Fault> {
        if self.group_index(name).is_some() {
            return Err(fault(FaultCode::AlreadyAdded, name));
        }
        let spec = self
            .config
            .group(name)
            .cloned()
            .ok_or_else(|| fault(FaultCode::BadName, name))?;
        self.add_group(spec);
        self.autostart_group(name).await;
        Ok(())
    }

    fn remove_group(&mut self, name: &str) -> Result<(), Fault> {
        let i = self
            .group_index(name)
            .ok_or_else(|| fault(FaultCode::BadName, name))?;
        let busy = self.groups[i]
            .procs
            .iter()
            .any(|id| self.procs.get(id).is_some_and(|p| !p.st.state.is_stopped()));
        if busy {
            return Err(fault(FaultCode::StillRunning, name));
        }
        let g = self.groups.remove(i);
        for id in g.procs {
            self.procs.remove(&id);
        }
        self.shared.layout.send_modify(|n| *n += 1);
        if let Ok(mut extra) = self.shared.extra_args.lock() {
            extra.retain(|(group, _), _| group != name);
        }
        self.notify(events::group_payload(name, false));
        Ok(())
    }

    async fn autostart_group(&mut self, name: &str) {
        let Some(i) = self.group_index(name) else {
            return;
        };
        for id in self.groups[i].procs.clone() {
            self.autostart_one(id).await;
        }
    }

    /// Starts process `id` if `autostart` is set and it was never started, unless the start
    /// guard refuses it (logged).
    async fn autostart_one(&mut self, id: u64) {
        let go = self.procs.get(&id).is_some_and(|p| {
            p.spec.autostart && p.st.state == ProcessState::Stopped && p.st.laststart == 0.0
        });
        if !go {
            return;
        }
        if let Some(refused) = self.refusal(id) {
            let (ns, _, _) = self.namespec(id);
            tracing::info!(namespec = %ns, reason = %refused.fault_string(), "autostart refused");
            return;
        }
        self.apply(id, Event::Start).await;
        self.bound_spawns().await;
    }

    // ---------------------------------------------------------------- update_numprocs

    /// How many processes `program` has in the first running group that uses it.
    fn numprocs_current(&self, program: &str) -> Result<usize, Fault> {
        (0..self.groups.len())
            .map(|gi| numprocs::of_program(&self.running_spec(gi), program).len())
            .find(|&n| n > 0)
            .ok_or_else(|| {
                fault(
                    FaultCode::BadName,
                    &format!("program {program} unknown to Supvisors"),
                )
            })
    }

    /// Applies `config` (re-read with `numprocs` forced for `program`) to the running groups:
    /// records the override, updates the stored configuration, adds the new processes
    /// (STOPPED, then autostarted as at boot) and sets off the stop of the obsolete ones,
    /// which [`Actor::remove_obsolete`] removes once stopped.
    async fn apply_numprocs(
        &mut self,
        program: &str,
        count: u32,
        config: Config,
    ) -> Result<NumprocsStep, Fault> {
        self.numprocs_current(program)?;
        let running: Vec<GroupSpec> = (0..self.groups.len())
            .map(|gi| self.running_spec(gi))
            .collect();
        let running: Vec<&GroupSpec> = running.iter().collect();
        let plans = numprocs::plan(program, count, &running, &config)?;
        if let Ok(mut state) = self.shared.numprocs.lock() {
            state.overrides.insert(program.to_string(), count);
        }
        // what getAllConfigInfo and the next reloadConfig diff see
        for g in &mut self.config.groups {
            let desired: Vec<ProcessSpec> = config
                .group(&g.name)
                .map(|r| {
                    numprocs::of_program(r, program)
                        .into_iter()
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            if !desired.is_empty() && !numprocs::of_program(g, program).is_empty() {
                numprocs::replace_program(g, program, &desired);
            }
        }
        let mut added = Vec::new();
        let mut added_ids = Vec::new();
        let mut obsolete = Vec::new();
        for plan in plans {
            let Some(gi) = self.group_index(&plan.group) else {
                continue;
            };
            for spec in &plan.add {
                added.push(model::make_namespec(&spec.group, &spec.name));
                let id = self.new_proc(spec.clone());
                added_ids.push(id);
                self.groups[gi].procs.push(id);
            }
            let procs = &self.procs;
            let g = &mut self.groups[gi];
            g.procs.sort_by_key(|id| {
                procs
                    .get(id)
                    .map(|p| (p.spec.priority, p.spec.name.clone()))
            });
            obsolete.extend(
                plan.obsolete
                    .iter()
                    .map(|name| model::make_namespec(&plan.group, name)),
            );
        }
        tracing::info!(program, numprocs = count, added = ?added, obsolete = ?obsolete, "update_numprocs");
        // A deferred boot autostart will start them with the others.
        if !self.autostart_deferred && matches!(self.phase, Phase::Running) {
            for id in added_ids {
                self.autostart_one(id).await;
            }
        }
        let mut stops = Vec::new();
        let mut grace = std::time::Duration::ZERO;
        for ns in &obsolete {
            let Ok(id) = self.find(ns) else { continue };
            if self.procs.get(&id).is_some_and(|p| p.st.state.is_running()) {
                self.apply(id, Event::Stop).await;
            }
            let Some(p) = self.procs.get_mut(&id) else {
                continue;
            };
            if !p.st.state.is_stopped() {
                let (w, rx) = oneshot::channel();
                p.stop_waiters.push(w);
                stops.push(rx);
                grace = grace.max(std::time::Duration::from_secs(u64::from(
                    p.spec.stopwaitsecs,
                )));
            }
        }
        Ok(NumprocsStep {
            added,
            obsolete,
            stops,
            grace: grace + STOP_MARGIN,
        })
    }

    /// Removes the obsolete processes of an `update_numprocs` decrease; ABNORMAL_TERMINATION
    /// (naming them) for those still running, which are kept. Processes already gone, or
    /// wanted again by a later `update_numprocs`, are skipped.
    fn remove_obsolete(&mut self, namespecs: Vec<String>) -> Result<Vec<String>, Fault> {
        let mut removed = Vec::new();
        let mut running = Vec::new();
        for ns in namespecs {
            let Ok(id) = self.find(&ns) else { continue };
            let Some(p) = self.procs.get(&id) else {
                continue;
            };
            let (group, name) = (p.spec.group.clone(), p.spec.name.clone());
            let wanted = self
                .config
                .group(&group)
                .is_some_and(|g| g.processes.iter().any(|q| q.name == name));
            if wanted {
                continue;
            }
            if !p.st.state.is_stopped() {
                running.push(ns);
                continue;
            }
            if let Some(gi) = self.group_index(&group) {
                self.groups[gi].procs.retain(|x| *x != id);
            }
            self.procs.remove(&id);
            self.shared.layout.send_modify(|n| *n += 1);
            if let Ok(mut extra) = self.shared.extra_args.lock() {
                extra.remove(&(group, name));
            }
            removed.push(ns);
        }
        if running.is_empty() {
            Ok(removed)
        } else {
            tracing::error!(still_running = ?running, "update_numprocs: obsolete processes still running, not removed");
            Err(fault(FaultCode::AbnormalTermination, &running.join(" ")))
        }
    }

    async fn boot(&mut self) {
        self.clear_auto_logs();
        if let Ok(mut id) = self.shared.identifier.lock() {
            *id = self.config.supervisord.identifier.clone();
        }
        let groups = self.config.groups.clone();
        for g in groups {
            self.add_group(g);
        }
        self.set_mood(SupervisorState::Running);
        // start the TICK clocks now (as Supervisor's first loop does), so the first TICK_5
        // comes at the next multiple of 5 s rather than one period later
        self.tick();
        self.notify(events::supervisor_state_payload(true));
        // A restart before the deferred autostart happened keeps it deferred too.
        if !self.autostart_deferred {
            self.autostart_all().await;
        }
    }

    /// Autostarts every group in priority order (`self.groups` is kept sorted).
    async fn autostart_all(&mut self) {
        let names: Vec<String> = self.groups.iter().map(|g| g.spec.name.clone()).collect();
        for n in names {
            self.autostart_group(&n).await;
        }
    }

    /// The boot-time autostart that `defer_autostart` held back; later calls do nothing.
    async fn autostart_deferred_now(&mut self) {
        if !std::mem::take(&mut self.autostart_deferred) {
            return;
        }
        if matches!(self.phase, Phase::Running) {
            self.autostart_all().await;
        }
    }

    fn begin_stop(&mut self, restart: bool) {
        self.set_mood(if restart {
            SupervisorState::Restarting
        } else {
            SupervisorState::Shutdown
        });
        self.notify(events::supervisor_state_payload(false));
        let mut batches: VecDeque<Vec<String>> = VecDeque::new();
        for g in self.groups.iter().rev() {
            match batches.back_mut() {
                Some(b)
                    if self
                        .group_index(&b[0])
                        .map(|i| self.groups[i].spec.priority)
                        == Some(g.spec.priority) =>
                {
                    b.push(g.spec.name.clone())
                }
                _ => batches.push_back(vec![g.spec.name.clone()]),
            }
        }
        self.phase = Phase::Stopping {
            batches,
            current: Vec::new(),
            restart,
        };
    }

    /// Drives a shutdown/restart: stop one priority batch at a time; returns true when done.
    async fn progress_stop(&mut self) -> Option<bool> {
        loop {
            let Phase::Stopping {
                batches,
                current,
                restart,
            } = &mut self.phase
            else {
                return None;
            };
            let restart = *restart;
            // Called at every exit during a shutdown: one pass over the groups, not one search
            // per group of the batch (a batch of 500 made the stop quadratic in string compares).
            let batch: std::collections::HashSet<&str> =
                current.iter().map(String::as_str).collect();
            let current_done = self
                .groups
                .iter()
                .filter(|x| batch.contains(x.spec.name.as_str()))
                .all(|x| {
                    x.procs
                        .iter()
                        .all(|id| self.procs.get(id).is_none_or(|p| p.st.state.is_stopped()))
                });
            if !current_done {
                return None;
            }
            let Some(next) = batches.pop_front() else {
                return Some(restart);
            };
            *current = next.clone();
            for g in next {
                let ids: Vec<u64> = self
                    .group_index(&g)
                    .map(|i| self.groups[i].procs.iter().rev().copied().collect())
                    .unwrap_or_default();
                for id in ids {
                    self.apply(id, Event::Shutdown).await;
                }
            }
        }
    }

    async fn restart_now(&mut self) -> Result<(), String> {
        let reload = reload_fn(&self.reloader, &self.shared);
        let new = tokio::task::spawn_blocking(reload)
            .await
            .map_err(|e| format!("config reloader panicked: {e}"))??;
        let names: Vec<String> = self.groups.iter().map(|g| g.spec.name.clone()).collect();
        for n in names {
            let _ = self.remove_group(&n);
        }
        self.config = new;
        self.phase = Phase::Running;
        self.boot().await;
        self.flush_spawns().await;
        Ok(())
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

    async fn handle(&mut self, msg: Msg) {
        let shutting = self.mood() != SupervisorState::Running;
        let down = || fault(FaultCode::ShutdownState, "");
        let down = || Fault {
            extra: None,
            ..down()
        };
        match msg {
            Msg::Info(ns, r) => {
                let res = if shutting {
                    Err(down())
                } else {
                    self.find(&ns)
                        .and_then(|id| self.info(id).ok_or_else(|| fault(FaultCode::BadName, &ns)))
                };
                let _ = r.send(res);
            }
            Msg::AllInfo(r) => {
                let mut v: Vec<ProcessInfo> =
                    self.procs.keys().filter_map(|id| self.info(*id)).collect();
                v.sort_by(|a, b| (&a.group, &a.name).cmp(&(&b.group, &b.name)));
                let _ = r.send(v);
            }
            Msg::AllConfig(r) => {
                let _ = r.send(self.all_config());
            }
            Msg::Start(sel, wait, r) => {
                let res = if shutting {
                    Err(down())
                } else {
                    self.start(sel, wait).await
                };
                let _ = r.send(res);
            }
            Msg::StartArgs {
                namespec,
                text,
                argv,
                wait,
                reply,
            } => {
                let res = if shutting {
                    Err(down())
                } else {
                    self.start_args(namespec, text, argv, wait).await
                };
                let _ = reply.send(res);
            }
            Msg::Stop(sel, wait, r) => {
                let res = if shutting {
                    Err(down())
                } else {
                    self.stop(sel, wait).await
                };
                let _ = r.send(res);
            }
            Msg::StopWithin(sel, limit, r) => {
                let res = if shutting {
                    Err(down())
                } else {
                    self.stop_within(sel, limit).await
                };
                let _ = r.send(res);
            }
            Msg::Signal(sel, sig, r) => {
                let res = if shutting {
                    Err(down())
                } else {
                    self.signal(sel, &sig)
                };
                let _ = r.send(res);
            }
            Msg::LogPath(ns, ch, r) => {
                let res = if shutting {
                    Err(down())
                } else {
                    self.find(&ns).map(|id| {
                        self.procs.get(&id).and_then(|p| match ch {
                            Channel::Stdout => p.out_path.clone(),
                            Channel::Stderr => p.err_path.clone(),
                        })
                    })
                };
                let _ = r.send(res);
            }
            Msg::Recent(ns, ch, r) => {
                // allowed while shutting down: the dashboard shows the last words of a stop
                let res = self.find(&ns).map(|id| {
                    self.procs
                        .get(&id)
                        .and_then(|p| {
                            let tail = match ch {
                                Channel::Stdout => &p.out_tail,
                                Channel::Stderr => &p.err_tail,
                            };
                            tail.lock().ok().map(|t| t.contents())
                        })
                        .unwrap_or_default()
                });
                let _ = r.send(res);
            }
            Msg::Sinks(ns, r) => {
                let res = if shutting {
                    Err(down())
                } else {
                    let ids = match &ns {
                        Some(ns) => self.find(ns).map(|id| vec![id]),
                        None => Ok(self.groups.iter().flat_map(|g| g.procs.clone()).collect()),
                    };
                    ids.map(|ids| {
                        ids.into_iter()
                            .filter_map(|id| self.procs.get(&id))
                            .map(|p| {
                                (
                                    p.spec.name.clone(),
                                    p.spec.group.clone(),
                                    vec![p.out_sink.clone(), p.err_sink.clone()],
                                )
                            })
                            .collect()
                    })
                };
                let _ = r.send(res);
            }
            Msg::Stdin(ns, r) => {
                let res = if shutting {
                    Err(down())
                } else {
                    self.find(&ns).and_then(|id| {
                        let p = self
                            .procs
                            .get_mut(&id)
                            .ok_or_else(|| fault(FaultCode::BadName, &ns))?;
                        if p.st.pid == 0 || p.st.killing {
                            return Err(fault(FaultCode::NotRunning, &ns));
                        }
                        p.stdin
                            .as_mut()
                            .and_then(Stdin::sender)
                            .ok_or_else(|| fault(FaultCode::NoFile, &ns))
                    })
                };
                let _ = r.send(res);
            }
            Msg::RemoteComm(kind, data) => self.notify(events::remote_comm_payload(&kind, &data)),
            Msg::Reread(cfg, r) => {
                let res = if shutting {
                    Err(down())
                } else {
                    cfg.map(|c| self.reread(c))
                        .map_err(|e| fault(FaultCode::CantReread, &e))
                };
                let _ = r.send(res);
            }
            Msg::AddGroup(name, r) => {
                let res = if shutting {
                    Err(down())
                } else {
                    self.add_group_request(&name).await
                };
                let _ = r.send(res);
            }
            Msg::RemoveGroup(name, r) => {
                let res = if shutting {
                    Err(down())
                } else {
                    self.remove_group(&name)
                };
                let _ = r.send(res);
            }
            Msg::Shutdown(restart, r) => {
                // the handle already flipped the mood; the phase says whether we act on it
                let res = if matches!(self.phase, Phase::Running) {
                    self.begin_stop(restart);
                    Ok(())
                } else {
                    Err(down())
                };
                let _ = r.send(res);
            }
            Msg::SetStartGuard(guard) => self.start_guard = guard,
            Msg::NumprocsCurrent(program, r) => {
                let res = if shutting {
                    Err(down())
                } else {
                    self.numprocs_current(&program)
                };
                let _ = r.send(res);
            }
            Msg::Numprocs {
                program,
                numprocs,
                config,
                reply,
            } => {
                let res = if shutting {
                    Err(down())
                } else {
                    self.apply_numprocs(&program, numprocs, config).await
                };
                let _ = reply.send(res);
            }
            Msg::RemoveObsolete(namespecs, r) => {
                // also while shutting down: the processes are stopped either way
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

/// `kill(pid)` or `killpg`: ESRCH is not an error (the exit is reaped normally).
fn send_signal(pid: i32, signal: i32, group: bool) -> Result<(), String> {
    if pid <= 0 {
        return Ok(());
    }
    let target = if group { -pid } else { pid };
    // SAFETY: plain syscall on integers.
    let rc = unsafe { libc::kill(target, signal) };
    if rc == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) {
        Ok(())
    } else {
        Err(err.to_string())
    }
}

/// One output pipe of one child and where its data goes (a reader task owns it).
struct PipeReader {
    name: String,
    stdout: bool,
    sink: Sink,
    tail: SharedTail,
    /// `None` for an event listener's stdout: the protocol channel, logged and forwarded raw.
    dispatcher: Option<OutputDispatcher>,
    strip_ansi: bool,
    syslog: bool,
    log_events: bool,
    tx: mpsc::UnboundedSender<Msg>,
    id: u64,
    pid: i32,
}

impl PipeReader {
    fn channel(&self) -> &'static str {
        if self.stdout {
            "stdout"
        } else {
            "stderr"
        }
    }

    fn handle(&mut self, data: &[u8]) {
        match self.dispatcher.as_mut() {
            Some(d) => {
                let pieces = d.feed(data);
                self.route(pieces);
            }
            None => {
                // Supervisor's PEventListenerDispatcher: log (stripped), parse the raw bytes
                let logged = if self.strip_ansi {
                    output::strip_escapes(data)
                } else {
                    data.to_vec()
                };
                self.write_log(&logged);
                self.forward(data.to_vec());
            }
        }
    }

    fn finish(&mut self) {
        if let Some(d) = self.dispatcher.as_mut() {
            let pieces = d.finish();
            self.route(pieces);
        }
    }

    fn route(&mut self, pieces: Vec<Piece>) {
        for piece in pieces {
            match piece {
                Piece::Normal(data) => {
                    self.debug_output(&data);
                    self.write_log(&data);
                    if self.syslog {
                        output::send_syslog(&output::syslog_lines(&self.name, &data));
                    }
                    if self.log_events {
                        self.forward(data);
                    }
                }
                Piece::Captured(data) => {
                    self.debug_output(&data);
                    if self.log_events {
                        self.forward(data);
                    }
                }
                Piece::Communication(data) => {
                    let _ = self.tx.send(Msg::Comm {
                        id: self.id,
                        pid: self.pid,
                        stdout: self.stdout,
                        data,
                    });
                }
            }
        }
    }

    /// Supervisor copies child output to its main log at DEBG level.
    fn debug_output(&self, data: &[u8]) {
        if tracing::enabled!(tracing::Level::DEBUG) {
            let text = String::from_utf8_lossy(data);
            tracing::debug!("'{}' {} output:\n{text}", self.name, self.channel());
        }
    }

    fn write_log(&self, data: &[u8]) {
        if let Ok(mut t) = self.tail.lock() {
            t.push(data);
        }
        if let Ok(mut s) = self.sink.lock() {
            if let Some(f) = s.as_mut() {
                if let Err(e) = f.write(data) {
                    tracing::warn!(path = %f.path.display(), error = %e, "cannot write child log");
                }
            }
        }
    }

    fn forward(&self, data: Vec<u8>) {
        let _ = self.tx.send(Msg::Output {
            id: self.id,
            pid: self.pid,
            stdout: self.stdout,
            data,
        });
    }
}

async fn read_pipe(fd: OwnedFd, mut reader: PipeReader) {
    let rx = match tokio::net::unix::pipe::Receiver::from_owned_fd(fd) {
        Ok(rx) => rx,
        Err(e) => {
            tracing::error!(error = %e, "cannot read child pipe");
            return;
        }
    };
    // Readiness first, then a read into a buffer that exists only during the read: an idle
    // pipe (most of them) holds no buffer, which matters with hundreds of processes.
    while rx.readable().await.is_ok() {
        if !read_once(&rx, &mut reader) {
            break;
        }
    }
    reader.finish();
}

/// One read from a pipe that was reported readable, handed to `reader`. False at EOF or on an
/// error. A plain function so the buffer lives on the stack of this call, never in the task.
fn read_once(rx: &tokio::net::unix::pipe::Receiver, reader: &mut PipeReader) -> bool {
    let mut buf = [0u8; 8192];
    match rx.try_read(&mut buf) {
        Ok(0) => false,
        Ok(n) => {
            reader.handle(&buf[..n]);
            true
        }
        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
    }
}

/// A child's stdin: the pipe alone until something is written to it, then a writer task. Most
/// programs never get input, and an idle task per child is memory wasted with hundreds of them.
struct Stdin {
    pipe: Option<OwnedFd>,
    writer: Option<mpsc::UnboundedSender<StdinWrite>>,
}

impl Stdin {
    /// The writer task's queue, started on first use.
    fn sender(&mut self) -> Option<mpsc::UnboundedSender<StdinWrite>> {
        if self.writer.is_none() {
            let pipe = self.pipe.take()?;
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(write_stdin(pipe, rx));
            self.writer = Some(tx);
        }
        self.writer.clone()
    }
}

async fn write_stdin(fd: OwnedFd, mut rx: mpsc::UnboundedReceiver<StdinWrite>) {
    let mut tx = match tokio::net::unix::pipe::Sender::from_owned_fd(fd) {
        Ok(tx) => Some(tx),
        Err(e) => {
            tracing::error!(error = %e, "cannot write child stdin");
            None
        }
    };
    while let Some(w) = rx.recv().await {
        let ok = match tx.as_mut() {
            Some(t) => t.write_all(&w.data).await.is_ok(),
            None => false,
        };
        if !ok {
            tx = None; // EPIPE: the child closed its stdin
        }
        if let Some(r) = w.reply {
            let _ = r.send(ok);
        }
    }
}
