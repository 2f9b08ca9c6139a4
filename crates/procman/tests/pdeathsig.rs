//! Children must not outlive a daemon that dies without stopping them (SIGKILL, crash): the
//! test re-runs this test binary as a "host" process that supervises one `sleep`, kills the
//! host with SIGKILL, and checks that the sleep dies too (PR_SET_PDEATHSIG).

mod common;

use common::*;
use procman::SupervisorApi;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HOST_ENV: &str = "PROCMAN_PDEATHSIG_HOST";

/// The host side: only does something when run by `child_dies_with_its_host`, which sets
/// `HOST_ENV` to the file where the child's pid goes. Then it never returns.
#[test]
#[ignore = "helper process of child_dies_with_its_host"]
fn pdeathsig_host() {
    let Some(out) = std::env::var_os(HOST_ENV).map(PathBuf::from) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        // logs in the test's temporary directory, which the test removes
        let parent = out.parent().unwrap().to_path_buf();
        let dir = tempfile::tempdir_in(parent).unwrap();
        let cfg = config(dir.path(), vec![group(program("sl", "exec sleep 300"))]);
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

fn kill_pid(pid: i32) {
    // SAFETY: plain syscall on integers.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

#[test]
fn child_dies_with_its_host() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("child.pid");
    let exe = std::env::current_exe().unwrap();
    let mut host = Host(
        Command::new(exe)
            .args(["pdeathsig_host", "--exact", "--ignored", "--test-threads=1"])
            .env(HOST_ENV, &out)
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
    assert!(pid_alive(pid), "child {pid} not running");
    host.0.kill().unwrap(); // SIGKILL: no shutdown, no stop of the children
    host.0.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while pid_alive(pid) {
        if Instant::now() >= deadline {
            kill_pid(pid);
            panic!("child {pid} outlived its SIGKILLed supervisor");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
