//! Builders for hand-made configs and helpers to drive a real Supervisor in tests.
#![allow(dead_code)]

use model::*;
use procman::{Completion, Exit, Options, Supervisor, SupervisorApi};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub fn log(target: LogTarget) -> LogSpec {
    LogSpec {
        maxbytes: 1024 * 1024,
        backups: 2,
        ..LogSpec::new(target)
    }
}

pub fn program(name: &str, command: &str) -> ProcessSpec {
    ProcessSpec {
        command: command.into(),
        autostart: false,
        startsecs: 0,
        autorestart: AutoRestart::False,
        stopwaitsecs: 5,
        stdout: log(LogTarget::Auto),
        stderr: log(LogTarget::Auto),
        ..ProcessSpec::new(name, vec!["sh".into(), "-c".into(), command.into()])
    }
}

pub fn group(p: ProcessSpec) -> GroupSpec {
    GroupSpec::single(p)
}

pub fn config(dir: &Path, groups: Vec<GroupSpec>) -> Config {
    let supervisord = SupervisordSpec {
        logfile_maxbytes: 0,
        logfile_backups: 0,
        nodaemon: true,
        silent: true,
        identifier: "testsup".into(),
        ..SupervisordSpec::in_dir(dir)
    };
    Config::new(dir, supervisord, groups)
}

pub struct Harness {
    pub sup: Supervisor,
    pub done: Option<Completion>,
    pub dir: tempfile::TempDir,
    pub next_config: Arc<Mutex<Option<Config>>>,
}

impl Harness {
    pub fn start(groups: Vec<GroupSpec>) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), groups);
        Self::start_with(dir, cfg)
    }

    pub fn start_with(dir: tempfile::TempDir, cfg: Config) -> Harness {
        Self::start_opts(dir, cfg, false)
    }

    /// Like [`Harness::start_with`], choosing `Options::defer_autostart`.
    pub fn start_opts(dir: tempfile::TempDir, cfg: Config, defer_autostart: bool) -> Harness {
        let next: Arc<Mutex<Option<Config>>> = Arc::new(Mutex::new(Some(cfg.clone())));
        let n2 = next.clone();
        let main_log = dir.path().join("supervisord.log");
        std::fs::write(&main_log, "main log line\n").unwrap();
        let opts = Options {
            reloader: Arc::new(move || {
                n2.lock()
                    .unwrap()
                    .clone()
                    .ok_or_else(|| "no config".to_string())
            }),
            main_log: Some(main_log),
            server_url: Some("http://127.0.0.1:9001".into()),
            shutdown: CancellationToken::new(),
            defer_autostart,
        };
        let (sup, done) = Supervisor::start(cfg, opts).unwrap();
        Harness {
            sup,
            done: Some(done),
            dir,
            next_config: next,
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub async fn state(&self, ns: &str) -> ProcessState {
        self.sup.process_info(ns).await.unwrap().state
    }

    /// Polls until the process is in `want` (deadline 10 s).
    pub async fn wait_state(&self, ns: &str, want: ProcessState) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = self.state(ns).await;
            if s == want {
                return;
            }
            assert!(Instant::now() < deadline, "{ns}: still {s}, wanted {want}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls the stdout log until it contains `needle` (deadline 10 s).
    pub async fn wait_log(&self, ns: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self
                .sup
                .read_process_log(ns, procman::Channel::Stdout, 0, 0)
                .await
                .unwrap_or_default();
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{ns}: log lacks {needle:?}: {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn shutdown(mut self) -> Exit {
        let _ = self.sup.shutdown();
        let done = self.done.take().unwrap();
        tokio::time::timeout(Duration::from_secs(20), done.wait())
            .await
            .expect("shutdown completes")
    }
}

pub async fn wait_until<F: Fn() -> bool>(what: &str, f: F) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn pid_alive(pid: i32) -> bool {
    // a zombie still has /proc/<pid>; check its state
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.contains(") Z "),
        Err(_) => false,
    }
}
