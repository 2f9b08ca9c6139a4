//! Child creation: command lookup (before forking, for NO_FILE / NOT_EXECUTABLE), the child's
//! environment, and the spawner thread.
//!
//! Why a dedicated spawner thread: children get `PR_SET_PDEATHSIG = SIGKILL` so they do not
//! outlive a dead daemon, and Linux ties that signal to the *thread* that forked, not to the
//! process. Forking from tokio worker threads (which come and go) would kill children at random.
//! So every fork happens on one long-lived `std::thread` ("procman-spawner") running its own
//! current-thread runtime; it also owns each `tokio::process::Child` and awaits its exit there
//! (tokio reaps by pid, never `waitpid(-1)`), reporting the status over a channel. The thread ends
//! when the supervisor drops its sender, after every child has been stopped.
//!
//! Children inherit only fds 0, 1 and 2: every other fd is marked close-on-exec in the child
//! (Supervisor closes 3..`minfds`), so fds the daemon itself inherited without `O_CLOEXEC` do not
//! leak into supervised programs.

use crate::machine::ExitKind;
use model::{Fault, FaultCode};
use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::sync::{mpsc, oneshot};

/// Python's `repr()` of a str for the common case (single quotes).
fn pyrepr(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Supervisor's `get_execv_args` + `check_execv_args`: the file to exec, or the startProcess
/// fault (NO_FILE, NOT_EXECUTABLE) with Supervisor's message.
pub fn resolve_command(argv: &[String], path_env: Option<&str>) -> Result<PathBuf, Fault> {
    let program = argv
        .first()
        .ok_or_else(|| Fault::with(FaultCode::NotExecutable, "command is empty"))?;
    let (filename, meta) = if program.contains('/') {
        (PathBuf::from(program), std::fs::metadata(program).ok())
    } else {
        let path = path_env.unwrap_or("/bin:/usr/bin:/usr/local/bin");
        path.split(':')
            .map(|dir| Path::new(dir).join(program))
            .find_map(|p| std::fs::metadata(&p).ok().map(|m| (p, Some(m))))
            .unwrap_or((PathBuf::from(program), None))
    };
    let shown = pyrepr(&filename.display().to_string());
    let meta =
        meta.ok_or_else(|| Fault::with(FaultCode::NoFile, format!("can't find command {shown}")))?;
    if meta.is_dir() {
        return Err(Fault::with(
            FaultCode::NotExecutable,
            format!("command at {shown} is a directory"),
        ));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(Fault::with(
            FaultCode::NotExecutable,
            format!("command at {shown} is not executable"),
        ));
    }
    let c = CString::new(filename.as_os_str().as_encoded_bytes())
        .map_err(|_| Fault::with(FaultCode::NotExecutable, format!("bad command {shown}")))?;
    // SAFETY: access() only reads the NUL-terminated string we own.
    if unsafe { libc::access(c.as_ptr(), libc::X_OK) } != 0 {
        return Err(Fault::with(
            FaultCode::NotExecutable,
            format!("no permission to run command {shown}"),
        ));
    }
    Ok(filename)
}

/// What the child's environment is built from.
pub struct EnvInputs<'a> {
    pub base: Vec<(String, String)>,
    pub process_name: &'a str,
    pub group_name: &'a str,
    pub server_url: Option<&'a str>,
    pub supervisord_env: &'a [(String, String)],
    pub program_env: &'a [(String, String)],
}

/// The child environment, in Supervisor's order: daemon env, SUPERVISOR_* variables,
/// `[supervisord] environment`, program `environment` (later entries win).
pub fn build_env(inp: EnvInputs<'_>) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = inp.base;
    let mut set = |k: &str, v: &str| {
        if let Some(e) = env.iter_mut().find(|(ek, _)| ek == k) {
            e.1 = v.to_string();
        } else {
            env.push((k.to_string(), v.to_string()));
        }
    };
    set("SUPERVISOR_ENABLED", "1");
    set("SUPERVISOR_PROCESS_NAME", inp.process_name);
    set("SUPERVISOR_GROUP_NAME", inp.group_name);
    if let Some(url) = inp.server_url {
        set("SUPERVISOR_SERVER_URL", url);
    }
    for (k, v) in inp.supervisord_env.iter().chain(inp.program_env) {
        set(k, v);
    }
    env
}

/// The `PATH` used for command lookup: from the merged config environment if set there,
/// else the daemon's own.
pub fn lookup_path(
    supervisord_env: &[(String, String)],
    program_env: &[(String, String)],
) -> Option<String> {
    program_env
        .iter()
        .rev()
        .chain(supervisord_env.iter().rev())
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var("PATH").ok())
}

/// Credentials to switch to in the child (resolved before the fork).
#[derive(Debug, Clone)]
pub struct Creds {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<libc::gid_t>,
}

/// Supervisor's `drop_privileges` decisions, made in the parent: `Ok(None)` = nothing to do.
pub fn resolve_user(user: Option<&str>) -> Result<Option<Creds>, String> {
    let Some(user) = user else { return Ok(None) };
    let found = match user.parse::<u32>() {
        Ok(uid) => nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)),
        Err(_) => nix::unistd::User::from_name(user),
    };
    let u = match found {
        Ok(Some(u)) => u,
        _ => {
            return Err(format!(
                "couldn't setuid to {user}: Can't find username {user:?}"
            ))
        }
    };
    let current = nix::unistd::getuid();
    if current == u.uid {
        return Ok(None);
    }
    if !current.is_root() {
        return Err(format!(
            "couldn't setuid to {}: Can't drop privilege as nonroot user",
            u.uid
        ));
    }
    let cname = CString::new(u.name.clone()).map_err(|_| format!("bad user name {user:?}"))?;
    let groups = nix::unistd::getgrouplist(&cname, u.gid)
        .map(|g| g.into_iter().map(|g| g.as_raw()).collect())
        .unwrap_or_else(|_| vec![u.gid.as_raw()]);
    Ok(Some(Creds {
        uid: u.uid.as_raw(),
        gid: u.gid.as_raw(),
        groups,
    }))
}

/// Everything the spawner needs for one fork.
pub struct SpawnRequest {
    pub program: PathBuf,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub directory: Option<PathBuf>,
    pub umask: Option<u32>,
    pub creds: Option<Creds>,
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    /// Receives the pid, or the spawn error text.
    pub reply: oneshot::Sender<Result<i32, String>>,
    /// Called once with the exit of the child.
    pub on_exit: Box<dyn FnOnce(i32, ExitKind) + Send>,
}

/// Handle to the spawner thread.
#[derive(Clone)]
pub struct Spawner {
    tx: mpsc::UnboundedSender<SpawnRequest>,
}

impl Spawner {
    /// Starts the spawner thread. It runs until every `Spawner` clone is dropped and every
    /// child it owns has been reaped.
    pub fn start() -> std::io::Result<(Spawner, std::thread::JoinHandle<()>)> {
        let (tx, mut rx) = mpsc::unbounded_channel::<SpawnRequest>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = std::thread::Builder::new()
            .name("procman-spawner".into())
            .spawn(move || {
                rt.block_on(async move {
                    let tracker = tokio_util::task::TaskTracker::new();
                    while let Some(req) = rx.recv().await {
                        spawn_one(req, &tracker);
                    }
                    tracker.close();
                    tracker.wait().await;
                });
            })?;
        Ok((Spawner { tx }, handle))
    }

    /// Forks the child (on the spawner thread) and returns its pid or the error text.
    pub async fn spawn(
        &self,
        req_without_reply: impl FnOnce(oneshot::Sender<Result<i32, String>>) -> SpawnRequest,
    ) -> Result<i32, String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(req_without_reply(reply))
            .map_err(|_| "spawner thread is gone".to_string())?;
        rx.await.map_err(|_| "spawner thread is gone".to_string())?
    }
}

fn decode(status: std::process::ExitStatus) -> ExitKind {
    match (status.code(), status.signal()) {
        (Some(c), _) => ExitKind::Code(c),
        (None, Some(signal)) => ExitKind::Signal {
            signal,
            core_dumped: status.core_dumped(),
        },
        (None, None) => ExitKind::Code(-1),
    }
}

/// How many fds the pre-`close_range` fallback marks close-on-exec: the soft RLIMIT_NOFILE
/// (which the daemon raised to at least `minfds`), capped so a huge limit cannot make every
/// spawn crawl.
fn fd_scan_limit() -> libc::c_int {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur
    } else {
        1024
    };
    libc::c_int::try_from(soft.min(65536)).unwrap_or(1024)
}

fn spawn_one(req: SpawnRequest, tracker: &tokio_util::task::TaskTracker) {
    let SpawnRequest {
        program,
        argv,
        env,
        directory,
        umask,
        creds,
        stdin,
        stdout,
        stderr,
        reply,
        on_exit,
    } = req;
    let dir = match directory
        .as_ref()
        .map(|d| CString::new(d.as_os_str().as_encoded_bytes()))
        .transpose()
    {
        Ok(d) => d,
        Err(_) => {
            let _ = reply.send(Err("directory contains a NUL byte".into()));
            return;
        }
    };
    let mut cmd = tokio::process::Command::new(&program);
    cmd.arg0(argv.first().map(String::as_str).unwrap_or_default())
        .args(argv.iter().skip(1))
        .env_clear()
        .envs(env)
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr))
        .process_group(0)
        .kill_on_drop(false);
    let parent = std::process::id() as libc::pid_t;
    let fd_limit = fd_scan_limit();
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe syscalls
    // on data prepared before the fork (no allocation).
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The daemon may have died between fork and prctl.
            if libc::getppid() != parent {
                libc::_exit(127);
            }
            if let Some(c) = &creds {
                if libc::setgroups(c.groups.len(), c.groups.as_ptr()) != 0
                    || libc::setgid(c.gid) != 0
                    || libc::setuid(c.uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if let Some(d) = &dir {
                if libc::chdir(d.as_ptr()) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if let Some(m) = umask {
                libc::umask(m as libc::mode_t);
            }
            // Supervisor closes fds 3..minfds in the child; marking them close-on-exec does
            // the same at exec while keeping std's own (CLOEXEC) exec-error pipe usable.
            if libc::syscall(
                libc::SYS_close_range,
                3 as libc::c_uint,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            ) != 0
            {
                // kernels before 5.11: one fcntl per possible fd
                for fd in 3..fd_limit {
                    libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                }
            }
            Ok(())
        });
    }
    match cmd.spawn() {
        Ok(mut child) => {
            drop(cmd); // closes the child's ends of the pipes in this process
            let pid = child.id().map(|p| p as i32).unwrap_or(0);
            let _ = reply.send(Ok(pid));
            tracker.spawn(async move {
                let kind = match child.wait().await {
                    Ok(status) => decode(status),
                    Err(e) => {
                        tracing::error!(pid, error = %e, "waiting for child failed");
                        ExitKind::Code(-1)
                    }
                };
                on_exit(pid, kind);
            });
        }
        Err(e) => {
            // pre_exec failures (setuid, chdir) come back here through std's error pipe
            let what = match &directory {
                Some(d) => format!(
                    "couldn't spawn {} (directory {}): {e}",
                    program.display(),
                    d.display()
                ),
                None => format!("couldn't spawn {}: {e}", program.display()),
            };
            let _ = reply.send(Err(what));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_in_path_and_reports_like_supervisor() {
        let found = resolve_command(&["sh".into()], Some("/nonexistent:/bin:/usr/bin")).unwrap();
        assert!(found.ends_with("sh"));
        let e = resolve_command(&["nope-xyz".into()], Some("/bin")).unwrap_err();
        assert_eq!(e.fault_string(), "NO_FILE: can't find command 'nope-xyz'");
        let e = resolve_command(&["/tmp".into()], None).unwrap_err();
        assert_eq!(
            e.fault_string(),
            "NOT_EXECUTABLE: command at '/tmp' is a directory"
        );
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("script");
        std::fs::write(&f, "#!/bin/sh\n").unwrap();
        let e = resolve_command(&[f.display().to_string()], None).unwrap_err();
        assert_eq!(e.code, FaultCode::NotExecutable);
        assert!(resolve_command(&[], None).is_err());
    }

    #[test]
    fn env_order_is_daemon_then_supervisor_vars_then_config() {
        let env = build_env(EnvInputs {
            base: vec![
                ("A".into(), "base".into()),
                ("SUPERVISOR_ENABLED".into(), "0".into()),
            ],
            process_name: "p",
            group_name: "g",
            server_url: Some("http://localhost:9001"),
            supervisord_env: &[("A".into(), "sd".into()), ("B".into(), "sd".into())],
            program_env: &[("B".into(), "prog".into())],
        });
        let get = |k: &str| env.iter().find(|(ek, _)| ek == k).map(|(_, v)| v.as_str());
        assert_eq!(get("A"), Some("sd"));
        assert_eq!(get("B"), Some("prog"));
        assert_eq!(get("SUPERVISOR_ENABLED"), Some("1"));
        assert_eq!(get("SUPERVISOR_PROCESS_NAME"), Some("p"));
        assert_eq!(get("SUPERVISOR_GROUP_NAME"), Some("g"));
        assert_eq!(get("SUPERVISOR_SERVER_URL"), Some("http://localhost:9001"));
    }

    #[test]
    fn lookup_path_prefers_program_env() {
        let sd = vec![("PATH".to_string(), "/sd".to_string())];
        let pg = vec![("PATH".to_string(), "/pg".to_string())];
        assert_eq!(lookup_path(&sd, &pg).as_deref(), Some("/pg"));
        assert_eq!(lookup_path(&sd, &[]).as_deref(), Some("/sd"));
    }
}
