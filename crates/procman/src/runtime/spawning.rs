//! Spawning: a spawn is prepared in the actor (command lookup, pipes, environment, log files),
//! forked by the spawner thread, and finished when its pid comes back (pipe readers, stdin).
//! The forks of a batch overlap the preparation of the next spawns. Also the signals sent to
//! children.

use super::pipes::{read_pipe, PipeReader, Stdin};
use super::{Actor, Msg, SharedTail, Sink};
use crate::events::ListenerProto;
use crate::logs::RotatingFile;
use crate::machine::Event;
use crate::output::OutputDispatcher;
use crate::spawn;
use model::LogTarget;
use std::os::fd::OwnedFd;
use tokio::sync::oneshot;

/// How many spawns a batch start prepares before collecting their outcomes.
const SPAWNS_IN_FLIGHT: usize = 16;

/// A spawn in flight: the spawner's answer and the parent's ends of the child's pipes.
pub(super) struct PendingSpawn {
    id: u64,
    reply: oneshot::Receiver<Result<i32, String>>,
    out_r: OwnedFd,
    err_r: Option<OwnedFd>,
    /// `None` for an fcgi program: its stdin is the socket.
    in_w: Option<OwnedFd>,
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| format!("unknown error making dispatchers: {e}"))
}

/// `kill(pid)` or `killpg`: ESRCH is not an error (the exit is reaped normally).
pub(super) fn send_signal(pid: i32, signal: i32, group: bool) -> Result<(), String> {
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

impl Actor {
    /// Prepares the spawn of process `id` (command lookup, pipes, environment, log files) and
    /// hands it to the spawner thread without waiting: the fork happens while the actor
    /// prepares the next one. [`Actor::flush_spawns`] collects the outcome.
    pub(super) fn begin_spawn(&mut self, id: u64) -> Result<PendingSpawn, String> {
        // held from here: a failure below is a spawn error, whose transition releases it
        let socket = self.socket_for_spawn(id)?;
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
        // an fcgi program's stdin is its group's socket, and the daemon keeps no end of it
        let (in_r, in_w) = match socket {
            Some(socket) => (socket, None),
            None => {
                let (r, w) = pipe()?;
                (r, Some(w))
            }
        };
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
    pub(super) async fn flush_spawns(&mut self) {
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
    pub(super) async fn bound_spawns(&mut self) {
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
        p.stdin = in_w.map(Stdin::new);
        p.proto = listener.then(ListenerProto::default);
        p.in_flight = None;
        Ok(pid)
    }
}
