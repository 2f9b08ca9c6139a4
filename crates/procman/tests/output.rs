//! What happens to child output: `strip_ansi`, the in-memory tail, syslog, and the fds a
//! child inherits.

mod common;

use common::*;
use model::{FaultCode, LogTarget};
use procman::{Channel, SupervisorApi};
use std::time::{Duration, Instant};

async fn wait_recent(h: &Harness, ns: &str, ch: Channel, want: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = h.sup.recent_output(ns, ch).await.unwrap();
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{ns} {ch:?}: {:?}, wanted {:?}",
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(want)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strip_ansi_removes_escapes_before_logging() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = program(
        "color",
        r"printf '\033[1;31mred\033[0m plain\n'; exec sleep 30",
    );
    // exercises the syslog path too (whether or not a syslog daemon listens)
    p.stdout.syslog = true;
    let mut cfg = config(dir.path(), vec![group(p)]);
    cfg.supervisord.strip_ansi = true;
    let h = Harness::start_with(dir, cfg);
    h.sup.start_process("color", true).await.unwrap();
    let log = h.wait_log("color", "plain").await;
    assert_eq!(log, "red plain\n");
    wait_recent(&h, "color", Channel::Stdout, b"red plain\n").await;
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_strip_ansi_escapes_are_kept() {
    let p = program("raw", r"printf '\033[31mred\033[0m\n'; exec sleep 30");
    let h = Harness::start(vec![group(p)]);
    h.sup.start_process("raw", true).await.unwrap();
    let log = h.wait_log("raw", "red").await;
    assert_eq!(log, "\x1b[31mred\x1b[0m\n");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_output_is_kept_without_a_log_file_and_across_restarts() {
    let mut p = program("quiet", "echo out; echo err >&2; exec sleep 30");
    p.stdout.target = LogTarget::None;
    p.stderr.target = LogTarget::None;
    let h = Harness::start(vec![group(p)]);
    assert_eq!(
        h.sup.recent_output("quiet", Channel::Stdout).await.unwrap(),
        b""
    );
    h.sup.start_process("quiet", true).await.unwrap();
    wait_recent(&h, "quiet", Channel::Stdout, b"out\n").await;
    wait_recent(&h, "quiet", Channel::Stderr, b"err\n").await;
    assert_eq!(
        h.sup
            .read_process_log("quiet", Channel::Stdout, 0, 0)
            .await
            .unwrap_err()
            .code,
        FaultCode::NoFile
    );
    h.sup.stop_process("quiet", true).await.unwrap();
    h.sup.start_process("quiet", true).await.unwrap();
    wait_recent(&h, "quiet", Channel::Stdout, b"out\nout\n").await;
    for bad in ["nope", "quiet:nope", "quiet:*"] {
        assert_eq!(
            h.sup
                .recent_output(bad, Channel::Stdout)
                .await
                .unwrap_err()
                .code,
            FaultCode::BadName,
            "{bad}"
        );
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_output_is_bounded() {
    // 100 000 bytes of 'x' then a marker line
    let p = program(
        "big",
        "head -c 100000 /dev/zero | tr '\\0' x; echo; echo END; exec sleep 30",
    );
    let h = Harness::start(vec![group(p)]);
    h.sup.start_process("big", true).await.unwrap();
    h.wait_log("big", "END").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let tail = loop {
        let tail = h.sup.recent_output("big", Channel::Stdout).await.unwrap();
        if tail.ends_with(b"\nEND\n") {
            break tail;
        }
        assert!(Instant::now() < deadline, "tail lacks END");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(tail.len(), procman::output::TAIL_BYTES);
    assert!(tail[..tail.len() - 5].iter().all(|b| *b == b'x'));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_inherit_only_stdin_stdout_stderr() {
    // an fd of the daemon without close-on-exec, as one inherited from whoever started it
    // SAFETY: plain open/fcntl/close on a path and fd we own.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) };
    assert!(fd > 2);
    assert_eq!(
        unsafe { libc::fcntl(fd, libc::F_GETFD) } & libc::FD_CLOEXEC,
        0
    );
    let h = Harness::start(vec![group(program("fds", "exec sleep 30"))]);
    h.sup.start_process("fds", true).await.unwrap();
    let pid = h.sup.process_info("fds").await.unwrap().pid;
    // The vfork parent resumes inside the child's execve, before the kernel has closed the
    // close-on-exec fds (exec_mmap wakes it, do_close_on_exec comes after), so an early look
    // can catch the child mid-exec. A leaked fd never goes away: poll until the set is
    // 0, 1, 2 or the deadline passes.
    let deadline = Instant::now() + Duration::from_secs(5);
    let fds = loop {
        let mut fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        fds.sort();
        if fds == ["0", "1", "2"] || Instant::now() > deadline {
            break fds;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    unsafe { libc::close(fd) };
    h.shutdown().await;
    assert_eq!(fds, vec!["0", "1", "2"]);
}
