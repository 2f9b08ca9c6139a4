//! Starting one child with `clone(CLONE_VM | CLONE_VFORK)`, the way glibc's `posix_spawn` does,
//! instead of `fork`.
//!
//! Why: `fork` copies the page tables of the whole daemon, then both sides take copy-on-write
//! faults and the child's `exec` tears the copy down again. With hundreds of programs that was
//! most of the cost of a start (about 1.5 ms per child, sequential on the spawner thread). A
//! child sharing our memory until it calls `exec` costs none of that, and the caller resumes as
//! soon as the child has exec'd (or failed).
//!
//! `posix_spawn` itself cannot be used: it has no `PR_SET_PDEATHSIG`, `setuid` or `umask`.
//!
//! The rules for the code that runs in the child (it shares the daemon's memory and runs on a
//! stack we lend it): no allocation, no locks, no Rust std — only raw system calls on data
//! prepared before the clone. Every signal is blocked around the clone, and the child puts
//! every handled signal back to its default before unblocking, so a signal can never run one
//! of the daemon's handlers (tokio's) inside the child.

use std::ffi::{c_int, c_void, CString};
use std::io;
use std::os::fd::RawFd;
use std::ptr;

use crate::spawn::Creds;

/// Everything the child needs, as C data built in the parent.
pub struct Prepared {
    pub program: CString,
    /// NUL-terminated strings and a null-terminated array of pointers to them.
    argv: Vec<CString>,
    envp: Vec<CString>,
    pub directory: Option<CString>,
    pub umask: Option<u32>,
    pub creds: Option<Creds>,
    /// Set `PR_SET_PDEATHSIG = SIGKILL` in the child (false for `survive_daemon` programs).
    pub pdeathsig: bool,
    /// The child's stdin, stdout, stderr (all `>= 3`, see [`Prepared::new`]).
    pub fds: [RawFd; 3],
    /// The last fd the close-on-exec fallback marks when `close_range` is missing.
    pub fd_limit: c_int,
}

/// Why a string could not go to the child.
#[derive(Debug)]
pub struct NulError(pub &'static str);

impl Prepared {
    pub fn new(
        program: &std::path::Path,
        argv: &[String],
        env: &[(String, String)],
        fds: [RawFd; 3],
        fd_limit: c_int,
    ) -> Result<Prepared, NulError> {
        let program = CString::new(program.as_os_str().as_encoded_bytes())
            .map_err(|_| NulError("the command"))?;
        let argv = argv
            .iter()
            .map(|a| CString::new(a.as_bytes()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| NulError("an argument"))?;
        let envp = env
            .iter()
            .map(|(k, v)| CString::new(format!("{k}={v}")))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| NulError("an environment variable"))?;
        Ok(Prepared {
            program,
            argv,
            envp,
            directory: None,
            umask: None,
            creds: None,
            pdeathsig: true,
            fds,
            fd_limit,
        })
    }
}

/// A step of the child's set-up, for the error message of a failed spawn.
const STAGE_PDEATHSIG: c_int = 1;
const STAGE_SETPGID: c_int = 2;
const STAGE_DUP: c_int = 3;
const STAGE_CREDS: c_int = 4;
const STAGE_CHDIR: c_int = 5;
const STAGE_EXEC: c_int = 6;

/// Shared between parent and child (same memory): the child's inputs and its failure report.
#[repr(C)]
struct Ctx {
    program: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    directory: *const libc::c_char,
    umask: libc::mode_t,
    set_umask: bool,
    creds: *const Creds,
    pdeathsig: bool,
    fds: [c_int; 3],
    fd_limit: c_int,
    parent: libc::pid_t,
    /// Written by the child before `_exit(127)`: the errno and the step that failed.
    errno: c_int,
    stage: c_int,
}

/// Stack lent to the children of one spawner thread. `CLONE_VFORK` suspends the caller until
/// the child has exec'd or exited, so one stack serves every spawn of a thread.
pub struct Stack(Vec<u128>);

impl Stack {
    pub fn new() -> Stack {
        // 64 KiB: the child only makes system calls through libc's thin wrappers.
        Stack(vec![0u128; 64 * 1024 / 16])
    }
}

/// Starts the child; returns its pid once it has exec'd. A failure of any set-up step or of the
/// exec itself comes back as the child's errno (the failed child is reaped here).
pub fn spawn(prep: &Prepared, stack: &mut Stack) -> Result<libc::pid_t, (io::Error, &'static str)> {
    let argv: Vec<*const libc::c_char> = prep
        .argv
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(ptr::null()))
        .collect();
    let envp: Vec<*const libc::c_char> = prep
        .envp
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(ptr::null()))
        .collect();
    let mut ctx = Ctx {
        program: prep.program.as_ptr(),
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        directory: prep.directory.as_ref().map_or(ptr::null(), |d| d.as_ptr()),
        umask: prep.umask.unwrap_or(0) as libc::mode_t,
        set_umask: prep.umask.is_some(),
        creds: prep
            .creds
            .as_ref()
            .map_or(ptr::null(), |c| c as *const Creds),
        pdeathsig: prep.pdeathsig,
        fds: prep.fds,
        fd_limit: prep.fd_limit,
        // SAFETY: getpid has no preconditions.
        parent: unsafe { libc::getpid() },
        errno: 0,
        stage: 0,
    };
    let stack_top = {
        let len = stack.0.len();
        // one past the end, 16-byte aligned (u128 elements)
        stack.0.as_mut_ptr().wrapping_add(len) as *mut c_void
    };
    // SAFETY: the signal sets are plain data we own; clone runs `child` on a stack nobody else
    // uses while we are suspended (CLONE_VFORK), with a pointer to `ctx`, which outlives the
    // call; the child follows the rules in the module doc.
    let (pid, clone_errno) = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let pid = libc::clone(
            child,
            stack_top,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            &mut ctx as *mut Ctx as *mut c_void,
        );
        let clone_errno = io::Error::last_os_error();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, ptr::null_mut());
        (pid, clone_errno)
    };
    if pid < 0 {
        return Err((clone_errno, "clone"));
    }
    // SAFETY: the child wrote these through the same memory before exec/_exit; read them as
    // the compiler cannot see that write.
    let (errno, stage) = unsafe {
        (
            ptr::read_volatile(&ctx.errno),
            ptr::read_volatile(&ctx.stage),
        )
    };
    if stage == 0 {
        return Ok(pid);
    }
    reap(pid);
    let what = match stage {
        STAGE_PDEATHSIG => "prctl(PR_SET_PDEATHSIG)",
        STAGE_SETPGID => "setpgid",
        STAGE_DUP => "dup2",
        STAGE_CREDS => "setuid",
        STAGE_CHDIR => "chdir",
        STAGE_EXEC => "exec",
        _ => "spawn",
    };
    Err((io::Error::from_raw_os_error(errno), what))
}

/// Waits for a child that is known to have exited already (it failed before exec).
fn reap(pid: libc::pid_t) {
    let mut status = 0;
    loop {
        // SAFETY: waitpid on our own child, writing into a local.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc >= 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}

/// The child, between clone and exec. Only system calls on data prepared by the parent.
extern "C" fn child(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the parent's `Ctx`, alive and untouched while the parent is suspended.
    unsafe {
        let ctx = &mut *(arg as *mut Ctx);
        // Handlers are the daemon's: back to the default for every handled signal (as exec
        // would do), and SIGPIPE to the default too (Rust ignores it), before unblocking.
        for sig in 1..=libc::SIGRTMAX() {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                continue;
            }
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, ptr::null(), &mut old) != 0 {
                continue;
            }
            if old.sa_sigaction != libc::SIG_IGN || sig == libc::SIGPIPE {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(sig, &dfl, ptr::null_mut());
            }
        }
        if libc::setpgid(0, 0) != 0 {
            fail(ctx, STAGE_SETPGID);
        }
        // The fds are >= 3, so no dup2 overwrites another one of them; dup2 clears CLOEXEC.
        for (target, fd) in ctx.fds.into_iter().enumerate() {
            if libc::dup2(fd, target as c_int) < 0 {
                fail(ctx, STAGE_DUP);
            }
        }
        if let Some(c) = ctx.creds.as_ref() {
            if libc::setgroups(c.groups.len(), c.groups.as_ptr()) != 0
                || libc::setgid(c.gid) != 0
                || libc::setuid(c.uid) != 0
            {
                fail(ctx, STAGE_CREDS);
            }
        }
        // After the switch of user: the kernel clears the parent-death signal whenever the
        // effective ids change, so set before `setuid` it would be lost.
        if ctx.pdeathsig {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                fail(ctx, STAGE_PDEATHSIG);
            }
            // The daemon may have died between clone and prctl.
            if libc::getppid() != ctx.parent {
                libc::_exit(127);
            }
        }
        if !ctx.directory.is_null() && libc::chdir(ctx.directory) != 0 {
            fail(ctx, STAGE_CHDIR);
        }
        if ctx.set_umask {
            libc::umask(ctx.umask);
        }
        // Supervisor closes fds 3..minfds in the child; close-on-exec does the same at exec.
        if libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        ) != 0
        {
            // kernels before 5.11: one fcntl per possible fd
            for fd in 3..ctx.fd_limit {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, ptr::null_mut());
        libc::execve(ctx.program, ctx.argv, ctx.envp);
        fail(ctx, STAGE_EXEC)
    }
}

/// Reports the failed step and errno to the parent and ends the child.
///
/// # Safety
/// Only in the child, with the parent's `Ctx`.
unsafe fn fail(ctx: &mut Ctx, stage: c_int) -> ! {
    ctx.errno = *libc::__errno_location();
    ctx.stage = stage;
    libc::_exit(127)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn devnull() -> std::fs::File {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .unwrap()
    }

    #[test]
    fn runs_the_program_and_reports_exec_and_chdir_failures() {
        let null = devnull();
        let fds = [null.as_raw_fd(); 3];
        let mut stack = Stack::new();
        let env = [("A".to_string(), "1".to_string())];
        let sh = ["sh".to_string(), "-c".to_string(), "exit 7".to_string()];
        let ok = Prepared::new(std::path::Path::new("/bin/sh"), &sh, &env, fds, 1024).unwrap();
        let pid = spawn(&ok, &mut stack).unwrap();
        let mut status = 0;
        // SAFETY: waiting for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert_eq!(libc::WEXITSTATUS(status), 7);

        let missing = Prepared::new(
            std::path::Path::new("/nonexistent-xyz"),
            &sh,
            &env,
            fds,
            1024,
        )
        .unwrap();
        let (e, stage) = spawn(&missing, &mut stack).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        assert_eq!(stage, "exec");

        let mut bad_dir =
            Prepared::new(std::path::Path::new("/bin/sh"), &sh, &env, fds, 1024).unwrap();
        bad_dir.directory = Some(CString::new("/nonexistent-dir-xyz").unwrap());
        let (e, stage) = spawn(&bad_dir, &mut stack).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        assert_eq!(stage, "chdir");
    }

    #[test]
    fn nul_bytes_are_refused_before_any_clone() {
        let fds = [3; 3];
        let argv = ["a\0b".to_string()];
        assert!(Prepared::new(std::path::Path::new("/bin/sh"), &argv, &[], fds, 1024).is_err());
    }
}
