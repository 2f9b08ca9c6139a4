//! The daemon's main log: tracing events go to `[supervisord] logfile` with Supervisor's
//! size-based rotation (`logfile_maxbytes`, `logfile_backups`) and, unless `silent`, to stderr.
//! SIGUSR2 reopens the file (for logrotate-style external rotation).
//!
//! [`LogFilter`] chooses what is logged: the Supervisor log level, plus openraft's routine
//! messages (a stale vote response after an election, a peer that is down) demoted to debug.
//!
//! [`Logging::install`] sets this up as the process's tracing subscriber (the binary does it,
//! once); [`crate::run`] only uses the handle it returns: `supvisors.change_log_level` sets the
//! level, a [`crate::Request::ReopenLogs`] reopens the file. A daemon run in-process by a test
//! gets [`Logging::none`] and logs wherever the test's subscriber says.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The main log as the daemon uses it once installed: its level can change and its file can be
/// reopened. Cheap to clone.
#[derive(Clone)]
pub struct Logging {
    main_log: Option<MainLog>,
    set_level: Arc<dyn Fn(model::LogLevel) + Send + Sync>,
}

/// Why [`Logging::install`] failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("cannot open logfile {}", path.display())]
    LogFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("a tracing subscriber is installed already")]
    Installed(#[source] tracing_subscriber::util::TryInitError),
}

impl Logging {
    /// No main log of its own: level changes and reopen requests do nothing.
    pub fn none() -> Self {
        Logging {
            main_log: None,
            set_level: Arc::new(|_| {}),
        }
    }

    /// Installs the process's tracing subscriber for `[supervisord]`'s `logfile` (unless
    /// `logfile = syslog`), its rotation, `silent` (no echo to stderr) and `loglevel`. Once per
    /// process: a second call fails with [`InstallError::Installed`].
    pub fn install(sd: &model::spec::SupervisordSpec) -> Result<Logging, InstallError> {
        let file = if sd.logfile_syslog {
            None
        } else {
            let opened = RotatingFile::open(&sd.logfile, sd.logfile_maxbytes, sd.logfile_backups);
            Some(opened.map_err(|source| InstallError::LogFile {
                path: sd.logfile.clone(),
                source,
            })?)
        };
        let main_log = MainLog::new(file, !sd.silent);
        let (filter, handle) = tracing_subscriber::reload::Layer::new(log_targets(sd.loglevel));
        tracing_subscriber::registry()
            .with(filter)
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(main_log.clone())
                    .with_ansi(false)
                    .with_target(false),
            )
            .try_init()
            .map_err(InstallError::Installed)?;
        Ok(Logging {
            main_log: Some(main_log),
            set_level: Arc::new(move |level| {
                if let Err(e) = handle.modify(|t| *t = log_targets(level)) {
                    tracing::error!(error = %e, "cannot change the log level");
                }
            }),
        })
    }

    /// What `supvisors.change_log_level` calls.
    pub fn level_setter(&self) -> Arc<dyn Fn(model::LogLevel) + Send + Sync> {
        self.set_level.clone()
    }

    /// Reopens the main log file (SIGUSR2, for logrotate-style external rotation).
    pub fn reopen(&self) -> io::Result<()> {
        match &self.main_log {
            Some(log) => log.reopen(),
            None => Ok(()),
        }
    }
}

/// The log filter for a Supervisor log level. openraft's replication task logs an error on every
/// retry while a peer is down (several per second); the liveness layer reports lost instances
/// instead, so that target is kept at `off`. openraft's other routine messages (a stale vote
/// after an election, a peer down) are demoted to debug by [`LogFilter`].
fn log_targets(level: model::LogLevel) -> LogFilter {
    let targets = tracing_subscriber::filter::Targets::new()
        .with_default(tracing_level(level))
        .with_target(
            "openraft::replication",
            tracing::level_filters::LevelFilter::OFF,
        )
        .with_target(
            "openraft",
            tracing::level_filters::LevelFilter::WARN.min(tracing_level(level).into()),
        );
    LogFilter {
        targets,
        level: tracing_level(level).into(),
    }
}

fn tracing_level(level: model::LogLevel) -> tracing::Level {
    use model::LogLevel::*;
    match level {
        Critical | Error => tracing::Level::ERROR,
        Warn => tracing::Level::WARN,
        Info => tracing::Level::INFO,
        Debug => tracing::Level::DEBUG,
        Trace | Blather => tracing::Level::TRACE,
    }
}

/// A log file that rotates at `max_bytes` (0 = never) keeping `backups` old copies
/// (`name.1` … `name.N`), as Supervisor's `RotatingFileHandler`.
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    backups: u32,
    file: File,
    size: u64,
}

impl RotatingFile {
    pub fn open(path: &Path, max_bytes: u64, backups: u32) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            path: path.to_path_buf(),
            max_bytes,
            backups,
            file,
            size,
        })
    }

    pub fn reopen(&mut self) -> io::Result<()> {
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = self.file.metadata()?.len();
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.backups == 0 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        for n in (1..self.backups).rev() {
            let from = backup_name(&self.path, n);
            if from.exists() {
                std::fs::rename(&from, backup_name(&self.path, n + 1))?;
            }
        }
        std::fs::rename(&self.path, backup_name(&self.path, 1))?;
        self.reopen()
    }

    pub fn write_record(&mut self, data: &[u8]) -> io::Result<()> {
        if self.max_bytes > 0 && self.size + data.len() as u64 > self.max_bytes && self.size > 0 {
            self.rotate()?;
        }
        self.file.write_all(data)?;
        self.size += data.len() as u64;
        Ok(())
    }
}

fn backup_name(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Shared handle used as a tracing writer; cheap to clone.
#[derive(Clone)]
pub struct MainLog {
    file: Option<Arc<Mutex<RotatingFile>>>,
    echo: bool,
}

impl MainLog {
    pub fn new(file: Option<RotatingFile>, echo: bool) -> Self {
        MainLog {
            file: file.map(|f| Arc::new(Mutex::new(f))),
            echo,
        }
    }

    pub fn reopen(&self) -> io::Result<()> {
        match &self.file {
            Some(file) => file
                .lock()
                .map_err(|_| io::Error::other("main log lock poisoned"))?
                .reopen(),
            None => Ok(()),
        }
    }
}

pub struct MainLogWriter(MainLog);

impl Write for MainLogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.0.echo {
            let _ = io::stderr().write_all(buf);
        }
        if let Some(file) = &self.0.file {
            if let Ok(mut f) = file.lock() {
                f.write_record(buf)?;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for MainLog {
    type Writer = MainLogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        MainLogWriter(self.clone())
    }
}

/// openraft's messages that every normal start, election or lost peer produces, logged by the
/// library at WARN or ERROR: the liveness layer reports what matters of them (a SILENT
/// instance, a new master), so they are shown only at `loglevel = debug` or finer.
const ROUTINE_OPENRAFT: [&str; 10] = [
    "A message will be ignored because vote changed",
    // `Raft::initialize` refused because this voter already voted: another voter initialised
    // first. The start-up handshake says so itself, at debug (`cluster::bootstrap`).
    "Can not initialize",
    "membership_log_id changed",
    "update progress error",
    "heartbeat error",
    "timeout",
    "while requesting vote",
    "vote is not greater than current existing leader vote",
    "error replication to target",
    "leader has removed target",
];

/// openraft's routine messages that it prefixes with the function's name, matched by their
/// end. "to-Raft tx send error": a caller of `Raft::with_raft_state` (`is_initialized`, which
/// the start-up handshake and its answers call with a timeout) gave up before the Raft core,
/// busy with a slow disk write, ran the request; openraft logs an error when it answers into
/// the dropped channel, and the caller has already taken its timeout. Seen at every launch of
/// 25 hosts on 2 cores (`chaos/scale.sh`).
const ROUTINE_OPENRAFT_ENDS: [&str; 1] = ["to-Raft tx send error"];

/// Whether an event of `target` saying `message` is one of openraft's routine messages.
pub fn is_routine_openraft(target: &str, message: &str) -> bool {
    (target == "openraft" || target.starts_with("openraft::"))
        && (ROUTINE_OPENRAFT.iter().any(|m| message.starts_with(m))
            || ROUTINE_OPENRAFT_ENDS.iter().any(|m| message.ends_with(m)))
}

/// The daemon's log filter: per-target levels (`targets`), and openraft's routine messages
/// only when `level` is debug or finer. Replaced whole when the log level changes.
pub struct LogFilter {
    pub targets: tracing_subscriber::filter::Targets,
    pub level: tracing::level_filters::LevelFilter,
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LogFilter {
    fn enabled(
        &self,
        metadata: &tracing::Metadata<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        self.targets
            .would_enable(metadata.target(), metadata.level())
    }

    fn event_enabled(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        let target = event.metadata().target();
        if self.level >= tracing::level_filters::LevelFilter::DEBUG
            || !target.starts_with("openraft")
        {
            return true;
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        !is_routine_openraft(target, &message.0)
    }
}

/// Collects an event's `message` field.
struct Message(String);

impl tracing::field::Visit for Message {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_string();
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openraft_routine_messages_are_recognised_by_target_and_prefix() {
        let vote = "A message will be ignored because vote changed: msg sent by vote: T1-N6:committed; current my vote: None; when (VoteResponse)";
        assert!(is_routine_openraft("openraft::core::raft_core", vote));
        assert!(is_routine_openraft("openraft", "update progress error"));
        assert!(is_routine_openraft("openraft::core::raft_core", "timeout"));
        assert!(is_routine_openraft(
            "openraft::engine::engine_impl",
            "Can not initialize"
        ));
        assert!(is_routine_openraft(
            "openraft::raft",
            "openraft::raft::Raft<_>::with_raft_state: to-Raft tx send error"
        ));
        // Ours, or another crate's, with the same words: kept.
        assert!(!is_routine_openraft("cluster::node", vote));
        assert!(!is_routine_openraft("openraftish", vote));
        // openraft's real trouble: kept.
        assert!(!is_routine_openraft(
            "openraft::core::raft_core",
            "quit RaftCore::main on error"
        ));
    }

    /// The filter itself, through a subscriber: the routine warning appears only at debug.
    #[test]
    fn routine_openraft_warning_is_shown_only_at_debug() {
        use std::sync::{Arc, Mutex};
        use tracing_subscriber::layer::SubscriberExt;

        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0
                    .lock()
                    .map_err(|_| io::Error::other("poisoned"))?
                    .extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let logged = |level: tracing::level_filters::LevelFilter| -> String {
            let sink = Sink::default();
            let out = sink.clone();
            let subscriber = tracing_subscriber::registry()
                .with(LogFilter {
                    targets: tracing_subscriber::filter::Targets::new().with_default(level),
                    level,
                })
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_writer(move || out.clone())
                        .with_ansi(false),
                );
            tracing::subscriber::with_default(subscriber, || {
                tracing::warn!(target: "openraft::core::raft_core", "A message will be ignored because vote changed: msg sent by vote: {}; current my vote: {}", "T1", "None");
                tracing::warn!(target: "openraft::core::raft_core", "leader is stepping down");
                tracing::warn!(target: "cluster::liveness", "cut off from the quorum");
            });
            let bytes = sink.0.lock().map(|b| b.clone()).unwrap_or_default();
            String::from_utf8_lossy(&bytes).into_owned()
        };
        let info = logged(tracing::level_filters::LevelFilter::INFO);
        assert!(!info.contains("vote changed"), "{info}");
        assert!(info.contains("leader is stepping down"), "{info}");
        assert!(info.contains("cut off from the quorum"), "{info}");
        let debug = logged(tracing::level_filters::LevelFilter::DEBUG);
        assert!(debug.contains("vote changed"), "{debug}");
    }

    #[test]
    fn rotates_at_max_bytes_and_keeps_backups() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("main.log");
        let mut f = RotatingFile::open(&path, 10, 2)?;
        for chunk in ["aaaaaaaa\n", "bbbbbbbb\n", "cccccccc\n", "dddddddd\n"] {
            f.write_record(chunk.as_bytes())?;
        }
        assert_eq!(std::fs::read_to_string(&path)?, "dddddddd\n");
        assert_eq!(
            std::fs::read_to_string(backup_name(&path, 1))?,
            "cccccccc\n"
        );
        assert_eq!(
            std::fs::read_to_string(backup_name(&path, 2))?,
            "bbbbbbbb\n"
        );
        assert!(!backup_name(&path, 3).exists());
        Ok(())
    }
}
