//! Child creation: command lookup (before forking, for NO_FILE / NOT_EXECUTABLE), the child's
//! environment, and the spawner thread.
//!
//! Why a dedicated spawner thread: children get `PR_SET_PDEATHSIG = SIGKILL` so they do not
//! outlive a dead daemon (unless their program sets `survive_daemon`), and Linux ties that
//! signal to the *thread* that forked, not to the process. Forking from tokio worker threads (which come and go) would kill children at random.
//! So every child is started on one long-lived `std::thread` ("procman-spawner") running its own
//! current-thread runtime, with a vfork-style clone (`crate::vfork`: no copy of the daemon's
//! memory); the same thread reaps its children on SIGCHLD (by pid, never `waitpid(-1)`) and
//! reports each exit through the request's callback. The thread ends when the supervisor drops
//! its sender, after every child has been stopped.
//!
//! Children inherit only fds 0, 1 and 2: every other fd is marked close-on-exec in the child
//! (Supervisor closes 3..`minfds`), so fds the daemon itself inherited without `O_CLOEXEC` do not
//! leak into supervised programs.

use crate::machine::ExitKind;
use crate::vfork;
use model::{Fault, FaultCode};
use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
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
    /// Kill the child when the spawner thread dies (`PR_SET_PDEATHSIG`); false for
    /// `survive_daemon` programs.
    pub pdeathsig: bool,
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

/// What the spawner thread keeps per live child: the callback for its exit.
type OnExit = Box<dyn FnOnce(i32, ExitKind) + Send>;

impl Spawner {
    /// Starts the spawner thread. It runs until every `Spawner` clone is dropped and every
    /// child it owns has been reaped.
    pub fn start() -> std::io::Result<(Spawner, std::thread::JoinHandle<()>)> {
        let (tx, mut rx) = mpsc::unbounded_channel::<SpawnRequest>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // Registered here so that a failure is reported to the caller; the stream is only
        // polled on the spawner thread.
        let mut sigchld = {
            let _guard = rt.enter();
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())?
        };
        let fd_limit = fd_scan_limit();
        let handle = std::thread::Builder::new()
            .name("procman-spawner".into())
            .spawn(move || {
                rt.block_on(async move {
                    let mut stack = vfork::Stack::new();
                    let mut children: HashMap<libc::pid_t, OnExit> = HashMap::new();
                    let mut open = true;
                    while open || !children.is_empty() {
                        tokio::select! {
                            req = rx.recv(), if open => match req {
                                Some(req) => {
                                    if let Some((pid, on_exit)) = spawn_one(req, &mut stack, fd_limit) {
                                        children.insert(pid, on_exit);
                                    }
                                }
                                None => open = false,
                            },
                            _ = sigchld.recv() => reap(&mut children),
                        }
                    }
                });
            })?;
        Ok((Spawner { tx }, handle))
    }

    /// Hands one request to the spawner thread; the receiver gets the pid or the error text.
    pub fn submit(
        &self,
        req_without_reply: impl FnOnce(oneshot::Sender<Result<i32, String>>) -> SpawnRequest,
    ) -> Result<oneshot::Receiver<Result<i32, String>>, String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(req_without_reply(reply))
            .map_err(|_| "spawner thread is gone".to_string())?;
        Ok(rx)
    }
}

/// Collects every child of ours that has exited and calls its callback. Only our own pids are
/// waited for (never `waitpid(-1)`), so children of other parts of the daemon are left alone.
fn reap(children: &mut HashMap<libc::pid_t, OnExit>) {
    // Fast path: ask the kernel which child is waitable without reaping it; while that is one
    // of ours, reap it. Anything else (no child, not ours) falls back to asking each pid.
    loop {
        // SAFETY: waitid writes into the zeroed siginfo we own.
        let pid = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let rc = libc::waitid(
                libc::P_ALL,
                0,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            );
            if rc != 0 {
                0
            } else {
                info.si_pid()
            }
        };
        if pid == 0 || !children.contains_key(&pid) {
            break;
        }
        if !reap_one(pid, children) {
            break;
        }
    }
    let pids: Vec<libc::pid_t> = children.keys().copied().collect();
    for pid in pids {
        reap_one(pid, children);
    }
}

/// `waitpid(pid, WNOHANG)`: true if it had exited (its callback was called).
fn reap_one(pid: libc::pid_t, children: &mut HashMap<libc::pid_t, OnExit>) -> bool {
    let mut status = 0;
    // SAFETY: waitpid on our own child, writing into a local.
    let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    let kind = if rc == pid {
        decode(std::process::ExitStatus::from_raw(status))
    } else if rc < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD) {
        // reaped by someone else: the status is lost
        tracing::error!(pid, "child was reaped elsewhere, exit status unknown");
        ExitKind::Code(-1)
    } else {
        return false;
    };
    if let Some(on_exit) = children.remove(&pid) {
        on_exit(pid, kind);
    }
    true
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

/// An fd the child can `dup2` onto 0..2 without clobbering another one: moved to `>= 3` if the
/// daemon itself runs without some of its standard fds.
fn above_stdio(fd: OwnedFd) -> std::io::Result<OwnedFd> {
    if fd.as_raw_fd() >= 3 {
        return Ok(fd);
    }
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) on an fd we own; the result is a new fd we then own.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `new` is a fresh fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Forks one child; on success returns its pid and exit callback for the reaper.
fn spawn_one(
    req: SpawnRequest,
    stack: &mut vfork::Stack,
    fd_limit: libc::c_int,
) -> Option<(libc::pid_t, OnExit)> {
    let SpawnRequest {
        program,
        argv,
        env,
        directory,
        umask,
        creds,
        pdeathsig,
        stdin,
        stdout,
        stderr,
        reply,
        on_exit,
    } = req;
    let fds = match (above_stdio(stdin), above_stdio(stdout), above_stdio(stderr)) {
        (Ok(i), Ok(o), Ok(e)) => [i, o, e],
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            let _ = reply.send(Err(format!("couldn't spawn {}: {e}", program.display())));
            return None;
        }
    };
    let raw = [fds[0].as_raw_fd(), fds[1].as_raw_fd(), fds[2].as_raw_fd()];
    let mut prep = match vfork::Prepared::new(&program, &argv, &env, raw, fd_limit) {
        Ok(p) => p,
        Err(vfork::NulError(what)) => {
            let _ = reply.send(Err(format!("{what} contains a NUL byte")));
            return None;
        }
    };
    match directory
        .as_ref()
        .map(|d| CString::new(d.as_os_str().as_encoded_bytes()))
        .transpose()
    {
        Ok(d) => prep.directory = d,
        Err(_) => {
            let _ = reply.send(Err("directory contains a NUL byte".into()));
            return None;
        }
    }
    prep.umask = umask;
    prep.creds = creds;
    prep.pdeathsig = pdeathsig;
    let result = vfork::spawn(&prep, stack);
    // closes the child's ends of the pipes in this process
    drop(fds);
    match result {
        Ok(pid) => {
            let _ = reply.send(Ok(pid));
            Some((pid, on_exit))
        }
        Err((e, stage)) => {
            tracing::debug!(program = %program.display(), stage, error = %e, "spawn failed");
            // set-up failures (setuid, chdir) and exec failures alike
            let what = match &directory {
                Some(d) => format!(
                    "couldn't spawn {} (directory {}): {e}",
                    program.display(),
                    d.display()
                ),
                None => format!("couldn't spawn {}: {e}", program.display()),
            };
            let _ = reply.send(Err(what));
            None
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
