//! Children must not outlive a daemon that dies without stopping them (SIGKILL, crash): the
//! tests re-run this test binary as a "host" process that supervises one `sleep`, kill the
//! host with SIGKILL, and check whether the sleep dies too (PR_SET_PDEATHSIG).
//!
//! Programs with `survive_daemon = true` are the exception: their children are spawned without
//! the parent-death signal and keep running. (The signal is not visible in `/proc`, and a test
//! binary cannot read it with `PR_GET_PDEATHSIG` — libtest runs tests on a new thread, whose
//! setting is always 0 — so the behaviour itself is what is checked.)

mod common;

use common::*;
use procman::SupervisorApi;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HOST_ENV: &str = "PROCMAN_PDEATHSIG_HOST";
/// How the host configures its program: `plain`, `survive` (survive_daemon) or `nobody`
/// (user = nobody, only meaningful as root).
const MODE_ENV: &str = "PROCMAN_PDEATHSIG_MODE";

/// The host side: only does something when run by one of the tests below, which set
/// `HOST_ENV` to the file where the child's pid goes. Then it never returns.
#[test]
#[ignore = "helper process of the tests of this file"]
fn pdeathsig_host() {
    let Some(out) = std::env::var_os(HOST_ENV).map(PathBuf::from) else {
        return;
    };
    let mode = std::env::var(MODE_ENV).unwrap_or_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        // logs in the test's temporary directory, which the test removes
        let parent = out.parent().unwrap().to_path_buf();
        let dir = tempfile::tempdir_in(parent).unwrap();
        let mut p = program("sl", "exec sleep 300");
        p.survive_daemon = mode == "survive";
        if mode == "nobody" {
            p.user = Some("nobody".into());
        }
        let cfg = config(dir.path(), vec![group(p)]);
        let h = Harness::start_with(dir, cfg);
        h.sup.start_process("sl", true).await.unwrap();
        let pid = h.sup.process_info("sl").await.unwrap().pid;
        let tmp = out.with_extension("tmp");
        std::fs::write(&tmp, pid.to_string()).unwrap();
        std::fs::rename(&tmp, &out).unwrap();
        std::future::pending::<()>().await;
    });
}

/// SIGKILLs the host when dropped, so a failing test leaves nothing behind.
struct Host(Child);

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// SIGKILLs a child that must not be left behind, whatever the outcome of the test.
struct Orphan(i32);

impl Drop for Orphan {
    fn drop(&mut self) {
        kill_pid(self.0);
    }
}

fn kill_pid(pid: i32) {
    // SAFETY: plain syscall on integers.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// Starts a host in `mode`, waits for its child, SIGKILLs the host; returns the child's pid.
fn kill_host_of_child(mode: &str) -> Orphan {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("child.pid");
    let exe = std::env::current_exe().unwrap();
    let mut host = Host(
        Command::new(exe)
            .args(["pdeathsig_host", "--exact", "--ignored", "--test-threads=1"])
            .env(HOST_ENV, &out)
            .env(MODE_ENV, mode)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let pid: i32 = loop {
        if let Some(pid) = std::fs::read_to_string(&out)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            break pid;
        }
        if let Ok(Some(status)) = host.0.try_wait() {
            panic!("host exited before starting its child: {status}");
        }
        assert!(Instant::now() < deadline, "host did not report its child");
        std::thread::sleep(Duration::from_millis(20));
    };
    let child = Orphan(pid);
    assert!(pid_alive(pid), "child {pid} not running");
    host.0.kill().unwrap(); // SIGKILL: no shutdown, no stop of the children
    host.0.wait().unwrap();
    child
}

/// Polls until `pid` is gone (deadline 10 s).
fn assert_dies(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while pid_alive(pid) {
        assert!(
            Instant::now() < deadline,
            "child {pid} outlived its SIGKILLed supervisor"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn child_dies_with_its_host() {
    let child = kill_host_of_child("plain");
    assert_dies(child.0);
}

/// The kernel clears the parent-death signal when the effective uid changes, so it must be
/// set after the switch to `user`. Needs root (to switch users): fails, never skips, without.
#[test]
fn child_run_as_another_user_dies_with_its_host() {
    assert!(
        nix::unistd::getuid().is_root(),
        "this test switches a child to user `nobody` and needs root (scripts/test.sh runs as root in CI)"
    );
    let child = kill_host_of_child("nobody");
    assert_dies(child.0);
}

#[test]
fn survive_daemon_child_outlives_its_host() {
    let child = kill_host_of_child("survive");
    // The parent-death signal would have been sent when the host exited (before its wait
    // returned); give a SIGKILL ample time to land, checking all along.
    let until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < until {
        assert!(
            pid_alive(child.0),
            "survive_daemon child {} died with its host",
            child.0
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // `child` is SIGKILLed on drop
}
