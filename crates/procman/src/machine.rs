//! Supervisor's process state machine (`process.py`: `spawn`, `finish`, `kill`, `transition`,
//! `give_up`) as a pure function: `step(state, event, ctx, spec) -> (state, actions)`.
//!
//! No I/O and no clock reads happen here: the runtime passes the current time in [`Ctx`], executes
//! the returned [`Action`]s (fork, kill) and feeds their outcome back as new [`Event`]s. The one
//! timer a process may need lives *in* its state (`ProcState::timer`), so a timer can never
//! outlive the state it belongs to; the runtime sleeps until the earliest `timer.at` of all
//! processes and then delivers `Event::Timer`. Timers fire when due, not on a 1 s poll.

use model::{AutoRestart, ProcessSpec, ProcessState};
use std::time::{Duration, Instant};

/// What a timer is for. Each one is only meaningful in one state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    /// STARTING: `startsecs` elapsed → RUNNING.
    Started,
    /// BACKOFF: the back-off delay elapsed → spawn again.
    Retry,
    /// STOPPING: `stopwaitsecs` elapsed → SIGKILL.
    Kill,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer {
    pub kind: TimerKind,
    pub at: Instant,
}

/// How a reaped child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    Code(i32),
    Signal { signal: i32, core_dumped: bool },
}

impl ExitKind {
    /// Supervisor's `decode_wait_status`: the code, or −1 when killed by a signal.
    pub fn status(self) -> i32 {
        match self {
            ExitKind::Code(c) => c,
            ExitKind::Signal { .. } => -1,
        }
    }

    /// `exit status 3` / `terminated by SIGTERM (core dumped)`, as Supervisor logs it.
    pub fn describe(self) -> String {
        match self {
            ExitKind::Code(c) => format!("exit status {c}"),
            ExitKind::Signal {
                signal,
                core_dumped,
            } => {
                let core = if core_dumped { " (core dumped)" } else { "" };
                format!("terminated by {}{core}", model::signal_name(signal))
            }
        }
    }
}

/// The inputs of the state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A start request: `startProcess`, autostart, autorestart. Ignored unless the process is
    /// in STOPPED/EXITED/FATAL/BACKOFF (the caller checks ALREADY_STARTED first).
    Start,
    /// The fork succeeded.
    Spawned { pid: i32 },
    /// The command lookup, the pipes or the fork failed in the parent.
    SpawnFailed(String),
    /// The child was reaped.
    Exited(ExitKind),
    /// The process timer fired (the runtime only delivers it when `timer.at <= now`).
    Timer(TimerKind),
    /// `stopProcess` (administrative stop).
    Stop,
    /// The cluster's fence: a Stop whose SIGKILL comes at most this long after (a STOPPING
    /// process's deadline is brought forward too), so the old copy is surely gone before the
    /// majority starts a new one elsewhere, whatever the program's `stopwaitsecs`.
    StopWithin(Duration),
    /// The daemon is shutting down or restarting: like Stop, but BACKOFF gives up → FATAL.
    Shutdown,
    /// `kill()` failed with something other than ESRCH → UNKNOWN.
    SignalFailed(String),
}

/// The outputs of the state machine, executed by the runtime in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Fork/exec the process now, then feed back `Spawned` or `SpawnFailed`.
    Spawn,
    /// Send `signal` to the pid, or to the process group (`-pid`) when `group`.
    Signal { signal: i32, group: bool, pid: i32 },
    /// A state change to announce (PROCESS_STATE_* event, broadcast, waiters).
    Changed(Transition),
    /// Something worth a log line (Supervisor logs these at info/warn).
    Log { warn: bool, message: String },
}

/// One state change, with the values Supervisor's event payloads carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: ProcessState,
    pub to: ProcessState,
    /// `pid` as the event payload shows it (the old pid for EXITED/STOPPED).
    pub pid: i32,
    /// `tries` of STARTING/BACKOFF events (the back-off counter).
    pub tries: u32,
    /// `expected` of EXITED events.
    pub expected: bool,
}

/// Time and daemon mood, the only context a step needs besides the spec.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    pub now: Instant,
    /// Wall clock, epoch seconds (for `start`/`stop` of getProcessInfo).
    pub epoch: f64,
    /// False while the daemon is shutting down or restarting: no autorestart, no retry.
    pub may_start: bool,
    /// False when the start guard (e.g. Supvisors' disabled programs) refuses this process:
    /// no autorestart, and a back-off retry ends in STOPPED. Only automatic starts read it; a
    /// `startProcess` is checked by the runtime before it sends [`Event::Start`].
    pub start_allowed: bool,
}

/// The bookkeeping Supervisor keeps per process (`Subprocess` attributes).
#[derive(Debug, Clone, PartialEq)]
pub struct ProcState {
    pub state: ProcessState,
    /// 0 when no child is alive.
    pub pid: i32,
    /// Epoch seconds of the last spawn attempt (0 if never).
    pub laststart: f64,
    /// Monotonic instant of the last spawn attempt (for `startsecs`).
    pub laststart_mono: Option<Instant>,
    /// Epoch seconds of the last exit (0 if never).
    pub laststop: f64,
    pub backoff: u32,
    pub spawnerr: Option<String>,
    pub exitstatus: Option<i32>,
    /// A stop/kill signal was sent: the next exit means STOPPED.
    pub killing: bool,
    pub timer: Option<Timer>,
}

impl Default for ProcState {
    fn default() -> Self {
        ProcState {
            state: ProcessState::Stopped,
            pid: 0,
            laststart: 0.0,
            laststart_mono: None,
            laststop: 0.0,
            backoff: 0,
            spawnerr: None,
            exitstatus: None,
            killing: false,
            timer: None,
        }
    }
}

fn secs(n: u32) -> Duration {
    Duration::from_secs(u64::from(n))
}

/// Builds the next state and the actions, one transition at a time (a step may chain several,
/// e.g. STARTING → RUNNING → EXITED → STARTING).
struct Stepper<'a> {
    st: ProcState,
    actions: Vec<Action>,
    ctx: Ctx,
    spec: &'a ProcessSpec,
}

impl Stepper<'_> {
    fn change(&mut self, to: ProcessState, expected: bool) {
        let from = self.st.state;
        if from == to {
            return;
        }
        self.st.state = to;
        if to == ProcessState::Backoff {
            self.st.backoff += 1;
        }
        self.actions.push(Action::Changed(Transition {
            from,
            to,
            pid: self.st.pid,
            tries: self.st.backoff,
            expected,
        }));
    }

    fn log(&mut self, warn: bool, message: String) {
        self.actions.push(Action::Log { warn, message });
    }

    /// `Subprocess.spawn` up to the fork: the runtime does the fork and reports back.
    fn spawn(&mut self) {
        self.st.killing = false;
        self.st.spawnerr = None;
        self.st.exitstatus = None;
        self.st.laststart = self.ctx.epoch;
        self.st.laststart_mono = Some(self.ctx.now);
        self.st.timer = None;
        self.change(ProcessState::Starting, true);
        self.actions.push(Action::Spawn);
    }

    /// Entering BACKOFF: give up at once when the retries are exhausted (Supervisor does it on
    /// the next loop pass), else arm the linear back-off delay.
    fn backoff(&mut self, err: String) {
        self.st.spawnerr = Some(err);
        self.change(ProcessState::Backoff, true);
        if self.st.backoff > self.spec.startretries {
            self.give_up();
            self.log(
                false,
                format!(
                    "gave up: {} entered FATAL state, too many start retries too quickly",
                    self.spec.name
                ),
            );
        } else {
            self.st.timer = Some(Timer {
                kind: TimerKind::Retry,
                at: self.ctx.now + secs(self.st.backoff),
            });
        }
    }

    fn give_up(&mut self) {
        self.st.timer = None;
        self.st.backoff = 0;
        self.change(ProcessState::Fatal, true);
    }

    /// `kill(sig)` for a live child: STOPPING, signal, SIGKILL deadline.
    fn kill(&mut self, signal: i32) {
        let group = if self.st.state == ProcessState::Stopping {
            self.spec.killasgroup
        } else {
            self.spec.stopasgroup
        };
        self.st.killing = true;
        self.st.timer = Some(Timer {
            kind: TimerKind::Kill,
            at: self.ctx.now + secs(self.spec.stopwaitsecs),
        });
        self.change(ProcessState::Stopping, true);
        self.actions.push(Action::Signal {
            signal,
            group,
            pid: self.st.pid,
        });
    }

    fn running(&mut self) {
        self.st.timer = None;
        self.st.backoff = 0;
        self.change(ProcessState::Running, true);
    }

    fn stop(&mut self, shutdown: bool) {
        match self.st.state {
            ProcessState::Backoff if shutdown => self.give_up(),
            ProcessState::Backoff => {
                self.st.timer = None;
                self.change(ProcessState::Stopped, true);
            }
            ProcessState::Running | ProcessState::Starting if self.st.pid != 0 => {
                self.kill(self.spec.stopsignal)
            }
            _ => {}
        }
    }

    fn exited(&mut self, how: ExitKind) {
        if self.st.pid == 0 {
            return;
        }
        let es = how.status();
        self.st.laststop = self.ctx.epoch;
        let too_quickly = match self.st.laststart_mono {
            Some(start) => {
                self.ctx.now.saturating_duration_since(start) < secs(self.spec.startsecs)
            }
            None => false,
        };
        let expected = matches!(how, ExitKind::Code(c) if self.spec.exitcodes.contains(&c));
        let name = self.spec.name.clone();
        if self.st.killing {
            self.st.killing = false;
            self.st.timer = None;
            self.st.exitstatus = Some(es);
            self.change(ProcessState::Stopped, true);
            self.log(!expected, format!("stopped: {name} ({})", how.describe()));
            self.st.pid = 0;
        } else if too_quickly && self.st.state == ProcessState::Starting {
            self.st.exitstatus = None;
            self.log(
                true,
                format!("exited: {name} ({}; not expected)", how.describe()),
            );
            self.backoff("Exited too quickly (process log may have details)".into());
            self.st.pid = 0;
        } else {
            self.st.timer = None;
            self.st.backoff = 0;
            self.st.exitstatus = Some(es);
            if self.st.state == ProcessState::Starting {
                self.change(ProcessState::Running, true);
            }
            if expected {
                self.change(ProcessState::Exited, true);
                self.log(
                    false,
                    format!("exited: {name} ({}; expected)", how.describe()),
                );
            } else {
                self.st.spawnerr = Some(format!("Bad exit code {es}"));
                self.change(ProcessState::Exited, false);
                self.log(
                    true,
                    format!("exited: {name} ({}; not expected)", how.describe()),
                );
            }
            self.st.pid = 0;
            let restart = match self.spec.autorestart {
                AutoRestart::True => true,
                AutoRestart::Unexpected => !expected,
                AutoRestart::False => false,
            };
            if restart && self.ctx.may_start {
                if self.ctx.start_allowed {
                    self.spawn();
                } else {
                    self.log(
                        false,
                        format!("not restarting {name}: start refused (disabled)"),
                    );
                }
            }
        }
    }

    fn timer(&mut self, kind: TimerKind) {
        let due = matches!(self.st.timer, Some(t) if t.kind == kind && t.at <= self.ctx.now);
        if !due {
            return;
        }
        self.st.timer = None;
        match (kind, self.st.state) {
            (TimerKind::Started, ProcessState::Starting) => {
                self.running();
                self.log(
                    false,
                    format!(
                        "success: {} entered RUNNING state, process has stayed up for > than {} seconds (startsecs)",
                        self.spec.name, self.spec.startsecs
                    ),
                );
            }
            (TimerKind::Retry, ProcessState::Backoff) if self.ctx.may_start => {
                if self.ctx.start_allowed {
                    self.spawn();
                } else {
                    // Retrying would start a process the guard refuses; what `disable` does to
                    // a BACKOFF process anyway (stopProcess) is the outcome that fits.
                    self.change(ProcessState::Stopped, true);
                    self.log(
                        false,
                        format!("not retrying {}: start refused (disabled)", self.spec.name),
                    );
                }
            }
            (TimerKind::Kill, ProcessState::Stopping) => {
                self.log(
                    true,
                    format!(
                        "killing '{}' ({}) with SIGKILL",
                        self.spec.name, self.st.pid
                    ),
                );
                self.kill(libc::SIGKILL);
            }
            _ => {}
        }
    }
}

/// One transition of one process. Events that make no sense in the current state are ignored
/// (e.g. a late timer, a Stop of a stopped process): the caller checks and reports the faults
/// (ALREADY_STARTED, NOT_RUNNING) before sending an event.
pub fn step(
    state: &ProcState,
    event: Event,
    ctx: Ctx,
    spec: &ProcessSpec,
) -> (ProcState, Vec<Action>) {
    let mut s = Stepper {
        st: state.clone(),
        actions: Vec::new(),
        ctx,
        spec,
    };
    match event {
        Event::Start => {
            if matches!(
                s.st.state,
                ProcessState::Stopped
                    | ProcessState::Exited
                    | ProcessState::Fatal
                    | ProcessState::Backoff
            ) && s.st.pid == 0
            {
                s.spawn();
            }
        }
        Event::Spawned { pid } => {
            if s.st.state == ProcessState::Starting {
                s.st.pid = pid;
                s.st.spawnerr = None;
                if spec.startsecs == 0 {
                    // Supervisor's startProcess runs transition() once right after the fork.
                    s.running();
                } else {
                    let start = s.st.laststart_mono.unwrap_or(ctx.now);
                    s.st.timer = Some(Timer {
                        kind: TimerKind::Started,
                        at: start + secs(spec.startsecs),
                    });
                }
            }
        }
        Event::SpawnFailed(err) => {
            if s.st.state == ProcessState::Starting {
                s.log(true, format!("spawnerr: {err}"));
                s.backoff(err);
            }
        }
        Event::Exited(how) => s.exited(how),
        Event::Timer(kind) => s.timer(kind),
        Event::Stop => s.stop(false),
        Event::StopWithin(limit) => {
            s.stop(false);
            let latest = ctx.now + limit;
            if let Some(t) = s.st.timer.as_mut() {
                if t.kind == TimerKind::Kill && s.st.state == ProcessState::Stopping {
                    t.at = t.at.min(latest);
                }
            }
        }
        Event::Shutdown => s.stop(true),
        Event::SignalFailed(err) => {
            s.log(
                true,
                format!("unknown problem killing {}: {err}", spec.name),
            );
            s.st.killing = false;
            s.st.timer = None;
            s.change(ProcessState::Unknown, true);
        }
    }
    (s.st, s.actions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{LogSpec, LogTarget};

    fn spec() -> ProcessSpec {
        let log = LogSpec {
            maxbytes: 0,
            backups: 0,
            ..LogSpec::new(LogTarget::None)
        };
        ProcessSpec {
            stdout: log.clone(),
            stderr: log,
            ..ProcessSpec::new("p", vec!["sleep".into(), "10".into()])
        }
    }

    struct Sim {
        st: ProcState,
        spec: ProcessSpec,
        t0: Instant,
        now: Instant,
        may_start: bool,
        start_allowed: bool,
        changes: Vec<(ProcessState, ProcessState)>,
        actions: Vec<Action>,
    }

    impl Sim {
        fn new(spec: ProcessSpec) -> Sim {
            let t0 = Instant::now();
            Sim {
                st: ProcState::default(),
                spec,
                t0,
                now: t0,
                may_start: true,
                start_allowed: true,
                changes: vec![],
                actions: vec![],
            }
        }
        fn at(&mut self, ms: u64) -> &mut Self {
            self.now = self.t0 + Duration::from_millis(ms);
            self
        }
        fn ev(&mut self, e: Event) -> &mut Self {
            let ctx = Ctx {
                now: self.now,
                epoch: 1000.0 + (self.now - self.t0).as_secs_f64(),
                may_start: self.may_start,
                start_allowed: self.start_allowed,
            };
            let (st, actions) = step(&self.st, e, ctx, &self.spec);
            self.st = st;
            self.actions = actions.clone();
            for a in actions {
                if let Action::Changed(t) = a {
                    self.changes.push((t.from, t.to));
                }
            }
            self
        }
        fn fire(&mut self) -> &mut Self {
            let t = self.st.timer.expect("a timer is armed");
            self.now = self.now.max(t.at);
            self.ev(Event::Timer(t.kind))
        }
        fn state(&self) -> ProcessState {
            self.st.state
        }
        fn transitions(&self) -> Vec<Transition> {
            self.actions
                .iter()
                .filter_map(|a| match a {
                    Action::Changed(t) => Some(t.clone()),
                    _ => None,
                })
                .collect()
        }
    }

    use ProcessState::*;

    #[test]
    fn stopped_to_starting_spawns() {
        let mut s = Sim::new(spec());
        s.ev(Event::Start);
        assert_eq!(s.state(), Starting);
        assert!(s.actions.contains(&Action::Spawn));
        assert_eq!(s.transitions()[0].tries, 0);
        s.ev(Event::Spawned { pid: 42 });
        assert_eq!(s.st.pid, 42);
        let t = s.st.timer.unwrap();
        assert_eq!(t.kind, TimerKind::Started);
        assert_eq!(t.at, s.t0 + Duration::from_secs(1));
    }

    #[test]
    fn starting_to_running_after_startsecs() {
        let mut s = Sim::new(spec());
        s.ev(Event::Start).ev(Event::Spawned { pid: 42 });
        // a timer delivered early is ignored
        s.at(500).ev(Event::Timer(TimerKind::Started));
        assert_eq!(s.state(), Starting);
        s.fire();
        assert_eq!(s.state(), Running);
        assert_eq!(s.transitions()[0].pid, 42);
        assert!(s.st.timer.is_none());
    }

    #[test]
    fn startsecs_zero_is_running_right_after_spawn() {
        let mut sp = spec();
        sp.startsecs = 0;
        let mut s = Sim::new(sp);
        s.ev(Event::Start).ev(Event::Spawned { pid: 7 });
        assert_eq!(s.state(), Running);
        assert_eq!(s.changes, vec![(Stopped, Starting), (Starting, Running)]);
    }

    #[test]
    fn exit_too_quickly_is_backoff_even_with_expected_code() {
        let mut s = Sim::new(spec());
        s.ev(Event::Start).ev(Event::Spawned { pid: 42 });
        s.at(200).ev(Event::Exited(ExitKind::Code(0)));
        assert_eq!(s.state(), Backoff);
        assert_eq!(
            s.st.spawnerr.as_deref(),
            Some("Exited too quickly (process log may have details)")
        );
        assert_eq!(s.st.backoff, 1);
        assert_eq!(s.transitions()[0].tries, 1);
        assert_eq!(s.st.pid, 0);
        let t = s.st.timer.unwrap();
        assert_eq!(
            (t.kind, t.at),
            (TimerKind::Retry, s.now + Duration::from_secs(1))
        );
    }

    #[test]
    fn exit_at_exactly_startsecs_is_not_too_quickly() {
        let mut s = Sim::new(spec());
        s.ev(Event::Start).ev(Event::Spawned { pid: 42 });
        s.at(1000).ev(Event::Exited(ExitKind::Code(0)));
        assert_eq!(s.changes.last(), Some(&(Running, Exited)));
    }

    #[test]
    fn backoff_is_linear_then_fatal_after_retries_plus_one_attempts() {
        let mut s = Sim::new(spec());
        s.ev(Event::Start);
        let mut spawns = 1;
        let mut delays = vec![];
        loop {
            s.ev(Event::Spawned { pid: 10 + spawns });
            let now = s.now;
            s.at((now - s.t0).as_millis() as u64 + 10)
                .ev(Event::Exited(ExitKind::Code(1)));
            if s.state() == Fatal {
                break;
            }
            assert_eq!(s.state(), Backoff);
            let t = s.st.timer.unwrap();
            delays.push((t.at - s.now).as_secs());
            s.fire();
            assert_eq!(s.state(), Starting);
            assert!(s.actions.contains(&Action::Spawn));
            spawns += 1;
        }
        assert_eq!(delays, vec![1, 2, 3]);
        assert_eq!(spawns, 4, "startretries + 1 attempts");
        assert_eq!(s.changes.last(), Some(&(Backoff, Fatal)));
        assert_eq!(s.st.backoff, 0);
        assert!(s.st.timer.is_none());
        assert_eq!(
            s.st.spawnerr.as_deref(),
            Some("Exited too quickly (process log may have details)")
        );
    }

    #[test]
    fn spawn_failure_goes_to_backoff_then_fatal() {
        let mut sp = spec();
        sp.startretries = 0;
        let mut s = Sim::new(sp);
        s.ev(Event::Start).ev(Event::SpawnFailed("boom".into()));
        assert_eq!(
            s.changes,
            vec![(Stopped, Starting), (Starting, Backoff), (Backoff, Fatal)]
        );
        assert_eq!(s.st.spawnerr.as_deref(), Some("boom"));
    }

    #[test]
    fn running_exit_expected_and_unexpected() {
        let mut s = Sim::new(spec());
        s.ev(Event::Start).ev(Event::Spawned { pid: 5 }).fire();
        s.at(5000).ev(Event::Exited(ExitKind::Code(0)));
        assert_eq!(s.state(), Exited);
        let t = &s.transitions()[0];
        assert!(t.expected);
        assert_eq!(t.pid, 5);
        assert_eq!(s.st.exitstatus, Some(0));
        assert_eq!(s.st.spawnerr, None);

        let mut s = Sim::new(spec());
        s.ev(Event::Start).ev(Event::Spawned { pid: 5 }).fire();
        s.may_start = false;
        s.at(5000).ev(Event::Exited(ExitKind::Code(3)));
        assert_eq!(s.state(), Exited);
        assert!(!s.transitions()[0].expected);
        assert_eq!(s.st.spawnerr.as_deref(), Some("Bad exit code 3"));
    }

    #[test]
    fn killed_by_signal_is_minus_one_and_unexpected() {
        let mut s = Sim::new(spec());
        s.may_start = false;
        s.ev(Event::Start).ev(Event::Spawned { pid: 5 }).fire();
        s.at(5000).ev(Event::Exited(ExitKind::Signal {
            signal: 9,
            core_dumped: false,
        }));
        assert_eq!(s.st.exitstatus, Some(-1));
        assert_eq!(s.st.spawnerr.as_deref(), Some("Bad exit code -1"));
        assert!(!s.transitions()[0].expected);
    }

    fn autorestarts(policy: AutoRestart, code: i32) -> bool {
        let mut sp = spec();
        sp.autorestart = policy;
        let mut s = Sim::new(sp);
        s.ev(Event::Start).ev(Event::Spawned { pid: 5 }).fire();
        s.at(5000).ev(Event::Exited(ExitKind::Code(code)));
        s.state() == Starting && s.actions.contains(&Action::Spawn)
    }

    #[test]
    fn autorestart_policies() {
        assert!(autorestarts(AutoRestart::True, 0));
        assert!(autorestarts(AutoRestart::True, 1));
        assert!(!autorestarts(AutoRestart::Unexpected, 0));
        assert!(autorestarts(AutoRestart::Unexpected, 1));
        assert!(!autorestarts(AutoRestart::False, 1));
    }

    #[test]
    fn a_refused_process_is_not_restarted_and_a_refused_retry_stops_it() {
        let mut sp = spec();
        sp.autorestart = AutoRestart::True;
        let mut s = Sim::new(sp);
        s.ev(Event::Start).ev(Event::Spawned { pid: 5 }).fire();
        s.start_allowed = false;
        s.at(5000).ev(Event::Exited(ExitKind::Code(0)));
        assert_eq!(s.state(), Exited);
        assert!(!s.actions.contains(&Action::Spawn));

        let mut s = Sim::new(spec());
        s.ev(Event::Start).ev(Event::Spawned { pid: 5 });
        s.at(10).ev(Event::Exited(ExitKind::Code(0)));
        assert_eq!(s.state(), Backoff);
        s.start_allowed = false;
        s.fire();
        assert_eq!(s.state(), Stopped);
        assert!(s.st.timer.is_none());
        assert!(!s.actions.contains(&Action::Spawn));
        // Allowed again: a start works as usual.
        s.start_allowed = true;
        s.ev(Event::Start);
        assert_eq!(s.state(), Starting);
    }

    #[test]
    fn no_autorestart_or_retry_while_shutting_down() {
        let mut sp = spec();
        sp.autorestart = AutoRestart::True;
        let mut s = Sim::new(sp);
        s.ev(Event::Start).ev(Event::Spawned { pid: 5 }).fire();
        s.may_start = false;
        s.at(5000).ev(Event::Exited(ExitKind::Code(0)));
        assert_eq!(s.state(), Exited);

        let mut s = Sim::new(spec());
        s.ev(Event::Start).ev(Event::Spawned { pid: 5 });
        s.at(10).ev(Event::Exited(ExitKind::Code(0)));
        s.may_start = false;
        s.fire();
        assert_eq!(s.state(), Backoff);
    }

    #[test]
    fn stop_sends_stopsignal_then_sigkill_after_stopwaitsecs() {
        let mut sp = spec();
        sp.stopwaitsecs = 2;
        sp.stopsignal = 2;
        sp.killasgroup = true;
        let mut s = Sim::new(sp);
        s.ev(Event::Start).ev(Event::Spawned { pid: 5 }).fire();
        s.at(3000).ev(Event::Stop);
        assert_eq!(s.state(), Stopping);
        assert!(s.actions.contains(&Action::Signal {
            signal: 2,
            group: false,
            pid: 5
        }));
        let t = s.st.timer.unwrap();
        assert_eq!(
            (t.kind, t.at),
            (TimerKind::Kill, s.now + Duration::from_secs(2))
        );
        s.fire();
        assert_eq!(s.state(), Stopping);
        assert!(s.actions.contains(&Action::Signal {
            signal: 9,
            group: true,
            pid: 5
        }));
        // SIGKILL is repeated every stopwaitsecs until the child is reaped
        assert!(s.st.timer.is_some());
        s.at(5500).ev(Event::Exited(ExitKind::Signal {
            signal: 9,
            core_dumped: false,
        }));
        assert_eq!(s.state(), Stopped);
        assert_eq!(s.st.exitstatus, Some(-1));
        assert_eq!(s.st.pid, 0);
        assert_eq!(s.transitions()[0].pid, 5);
        assert!(s.st.timer.is_none());
    }

    #[test]
    fn stop_within_brings_the_sigkill_forward() {
        let mut sp = spec();
        sp.stopwaitsecs = 10;
        sp.killasgroup = true;
        let mut s = Sim::new(sp);
        s.ev(Event::Start).ev(Event::Spawned { pid: 5 }).fire();
        s.at(3000)
            .ev(Event::StopWithin(Duration::from_millis(1500)));
        assert_eq!(s.state(), Stopping);
        assert!(s.actions.contains(&Action::Signal {
            signal: 15,
            group: false,
            pid: 5
        }));
        let t = s.st.timer.unwrap();
        assert_eq!(
            (t.kind, t.at),
            (TimerKind::Kill, s.now + Duration::from_millis(1500))
        );
        // A second fence while STOPPING shortens the deadline again, never lengthens it.
        s.at(3100).ev(Event::StopWithin(Duration::from_millis(200)));
        assert_eq!(s.st.timer.unwrap().at, s.now + Duration::from_millis(200));
        s.ev(Event::StopWithin(Duration::from_secs(60)));
        assert_eq!(s.st.timer.unwrap().at, s.now + Duration::from_millis(200));
        s.fire();
        assert!(s.actions.contains(&Action::Signal {
            signal: 9,
            group: true,
            pid: 5
        }));
        // A shorter stopwaitsecs is kept.
        let mut sp = spec();
        sp.stopwaitsecs = 1;
        let mut s = Sim::new(sp);
        s.ev(Event::Start).ev(Event::Spawned { pid: 6 }).fire();
        s.ev(Event::StopWithin(Duration::from_secs(5)));
        assert_eq!(s.st.timer.unwrap().at, s.now + Duration::from_secs(1));
        // BACKOFF just stops.
        let mut s = Sim::new(spec());
        s.ev(Event::Start).ev(Event::SpawnFailed("no".into()));
        assert_eq!(s.state(), Backoff);
        s.ev(Event::StopWithin(Duration::from_secs(1)));
        assert_eq!(s.state(), Stopped);
    }

    #[test]
    fn stopasgroup_signals_the_group() {
        let mut sp = spec();
        sp.stopasgroup = true;
        sp.killasgroup = true;
        let mut s = Sim::new(sp);
        s.ev(Event::Start)
            .ev(Event::Spawned { pid: 5 })
            .ev(Event::Stop);
        assert!(s.actions.contains(&Action::Signal {
            signal: 15,
            group: true,
            pid: 5
        }));
    }

    #[test]
    fn stop_while_starting_stops() {
        let mut s = Sim::new(spec());
        s.ev(Event::Start)
            .ev(Event::Spawned { pid: 5 })
            .ev(Event::Stop);
        assert_eq!(s.state(), Stopping);
        s.at(10).ev(Event::Exited(ExitKind::Code(0)));
        assert_eq!(s.changes.last(), Some(&(Stopping, Stopped)));
    }

    #[test]
    fn backoff_stop_is_stopped_without_signal_and_shutdown_is_fatal() {
        let mut s = Sim::new(spec());
        s.ev(Event::Start).ev(Event::Spawned { pid: 5 });
        s.at(10).ev(Event::Exited(ExitKind::Code(0)));
        s.ev(Event::Stop);
        assert_eq!(s.state(), Stopped);
        assert!(!s.actions.iter().any(|a| matches!(a, Action::Signal { .. })));
        assert!(s.st.timer.is_none());

        let mut s = Sim::new(spec());
        s.ev(Event::Start).ev(Event::Spawned { pid: 5 });
        s.at(10).ev(Event::Exited(ExitKind::Code(0)));
        s.may_start = false;
        s.ev(Event::Shutdown);
        assert_eq!(s.state(), Fatal);
        assert!(s.st.timer.is_none());
    }

    #[test]
    fn shutdown_of_running_is_a_stop() {
        let mut s = Sim::new(spec());
        s.ev(Event::Start).ev(Event::Spawned { pid: 5 }).fire();
        s.ev(Event::Shutdown);
        assert_eq!(s.state(), Stopping);
    }

    #[test]
    fn start_from_exited_and_fatal() {
        let mut s = Sim::new(spec());
        s.may_start = false;
        s.ev(Event::Start).ev(Event::Spawned { pid: 5 }).fire();
        s.at(5000).ev(Event::Exited(ExitKind::Code(0)));
        s.ev(Event::Start);
        assert_eq!(s.changes.last(), Some(&(Exited, Starting)));

        let mut sp = spec();
        sp.startretries = 0;
        let mut s = Sim::new(sp);
        s.ev(Event::Start).ev(Event::SpawnFailed("x".into()));
        assert_eq!(s.state(), Fatal);
        s.ev(Event::Start);
        assert_eq!(s.state(), Starting);
        assert_eq!(s.st.spawnerr, None);
    }

    #[test]
    fn start_of_running_is_ignored_and_stale_events_too() {
        let mut s = Sim::new(spec());
        s.ev(Event::Start).ev(Event::Spawned { pid: 5 }).fire();
        s.ev(Event::Start);
        assert!(s.actions.is_empty());
        s.ev(Event::Timer(TimerKind::Kill));
        assert!(s.actions.is_empty());
        let mut s = Sim::new(spec());
        s.ev(Event::Exited(ExitKind::Code(0)));
        assert_eq!(s.state(), Stopped);
        s.ev(Event::Stop);
        assert!(s.actions.is_empty());
    }

    #[test]
    fn signal_failure_is_unknown() {
        let mut s = Sim::new(spec());
        s.ev(Event::Start)
            .ev(Event::Spawned { pid: 5 })
            .fire()
            .ev(Event::Stop);
        s.ev(Event::SignalFailed("EPERM".into()));
        assert_eq!(s.state(), Unknown);
        assert!(s.st.timer.is_none());
        assert!(!s.st.killing);
    }

    #[test]
    fn exit_descriptions() {
        assert_eq!(ExitKind::Code(3).describe(), "exit status 3");
        assert_eq!(
            ExitKind::Signal {
                signal: 15,
                core_dumped: true
            }
            .describe(),
            "terminated by SIGTERM (core dumped)"
        );
    }
}
