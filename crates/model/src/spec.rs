//! The resolved configuration: what `crates/config` produces from Supervisor's INI files and what
//! the daemon, `procman` and the web layer consume. Every `%(...)s` expansion is already done, every
//! default already applied, so consumers never look at raw INI text.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The whole configuration of one raftvisord instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// The main config file, absolute.
    pub source: PathBuf,
    pub supervisord: SupervisordSpec,
    pub inet_http_server: Option<InetServerSpec>,
    pub unix_http_server: Option<UnixServerSpec>,
    pub supervisorctl: CtlSpec,
    /// Process groups in the order Supervisor would start them (priority, then name).
    pub groups: Vec<GroupSpec>,
    /// `[rpcinterface:x]` sections other than `supervisor`, and any other section the
    /// Supervisor layer does not interpret (e.g. `[ctlplugin:x]`), kept for later layers.
    pub extra_sections: Vec<RawSection>,
}

/// A section kept verbatim, with where it came from, for the layers that interpret it later
/// (e.g. `[rpcinterface:supvisors]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawSection {
    pub name: String,
    pub file: PathBuf,
    pub line: usize,
    /// Options in file order: key, value (expanded for `here`/`ENV_*`), line.
    pub options: Vec<RawOption>,
}

/// An option of a raw section, kept as written. Its `Debug` hides the value of a key that
/// names a secret (`cluster_secret`, a `password`...), as [`crate::Secret`] does.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawOption {
    pub key: String,
    pub value: String,
    pub line: usize,
}

impl std::fmt::Debug for RawOption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = self.key.to_ascii_lowercase();
        let secret = ["secret", "password", "token"]
            .iter()
            .any(|word| key.contains(word));
        let mut d = f.debug_struct("RawOption");
        d.field("key", &self.key);
        if secret {
            d.field("value", &crate::Secret::new(""));
        } else {
            d.field("value", &self.value);
        }
        d.field("line", &self.line).finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogLevel {
    Critical,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
    Blather,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupervisordSpec {
    /// `None` when `logfile = syslog`... see `logfile_syslog`.
    pub logfile: PathBuf,
    pub logfile_syslog: bool,
    pub logfile_maxbytes: u64,
    pub logfile_backups: u32,
    pub loglevel: LogLevel,
    pub pidfile: PathBuf,
    pub umask: u32,
    pub nodaemon: bool,
    pub silent: bool,
    pub minfds: u64,
    pub minprocs: u64,
    pub nocleanup: bool,
    pub childlogdir: PathBuf,
    pub user: Option<String>,
    pub directory: Option<PathBuf>,
    pub strip_ansi: bool,
    pub environment: Vec<(String, String)>,
    pub identifier: String,
}

/// A password as written in the config: plain text, or `{SHA}` + hex SHA-1 (which a
/// dictionary cracks: a secret too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Password {
    Plain(crate::Secret),
    Sha1Hex(crate::Secret),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: Password,
}

/// raftvisor's bounds on one HTTP server (Supervisor has none): `max_connections` and
/// `request_timeout` (seconds) in `[inet_http_server]` and `[unix_http_server]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpLimits {
    pub max_connections: u32,
    pub request_timeout_secs: u32,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 256,
            request_timeout_secs: 10,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InetServerSpec {
    /// Host to bind; empty or `*` means all interfaces.
    pub host: String,
    pub port: u16,
    pub credentials: Option<Credentials>,
    /// raftvisor's `readonly_username`/`readonly_password`: a user who may only read.
    #[serde(default)]
    pub read_only: Option<Credentials>,
    /// raftvisor's `allow_unauthenticated`: without credentials, a port reachable beyond
    /// loopback is refused at start unless this says it is wanted (Supervisor only warns).
    #[serde(default)]
    pub allow_unauthenticated: bool,
    #[serde(default)]
    pub limits: HttpLimits,
    /// raftvisor's `tls_certificate`/`tls_key`: the port serves HTTPS only.
    #[serde(default)]
    pub tls: Option<TlsFiles>,
}

/// A PEM certificate chain (leaf first) and its PEM private key, absolute paths. Read when
/// the daemon starts, not when the config loads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsFiles {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnixServerSpec {
    pub file: PathBuf,
    pub chmod: u32,
    pub chown: Option<String>,
    pub credentials: Option<Credentials>,
    /// raftvisor's `readonly_username`/`readonly_password`: a user who may only read.
    #[serde(default)]
    pub read_only: Option<Credentials>,
    #[serde(default)]
    pub limits: HttpLimits,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtlSpec {
    /// `http://host:port`, `https://host:port` or `unix:///path`; default
    /// `http://localhost:9001`.
    pub serverurl: String,
    pub username: Option<String>,
    pub password: Option<crate::Secret>,
    pub prompt: String,
    pub history_file: Option<PathBuf>,
    /// raftvisor's `tls_ca`: the PEM certificates an `https://` server must chain to, instead
    /// of the system's trusted roots.
    #[serde(default)]
    pub tls_ca: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AutoRestart {
    False,
    Unexpected,
    True,
}

/// Where a process channel is logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogTarget {
    /// `AUTO`: a file in `childlogdir`, named when the process is created.
    Auto,
    /// `NONE` / `OFF`.
    None,
    Path(PathBuf),
    /// `syslog` (deprecated in Supervisor; kept as "no file, lines to syslog").
    Syslog,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSpec {
    pub target: LogTarget,
    pub maxbytes: u64,
    pub backups: u32,
    pub capture_maxbytes: u64,
    pub events_enabled: bool,
    pub syslog: bool,
}

/// Extra data of a process that belongs to an `[eventlistener:x]` pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerSpec {
    /// Event type names as written (`PROCESS_STATE`, `TICK_5`, …), validated by config.
    pub events: Vec<String>,
    pub buffer_size: usize,
    pub result_handler: String,
}

/// One process, fully resolved (numprocs expanded, `%(process_num)d` substituted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessSpec {
    /// The process name (`process_name` after expansion).
    pub name: String,
    /// The group it belongs to (the program name, or the `[group:x]` name).
    pub group: String,
    /// The `[program:x]` section name it came from.
    pub program: String,
    /// The command line as written (after `%` expansion), for `getAllConfigInfo`.
    pub command: String,
    /// The command split with POSIX shell rules (`shlex.split`); never empty.
    pub argv: Vec<String>,
    pub process_num: u32,
    pub priority: i32,
    pub autostart: bool,
    pub startsecs: u32,
    pub startretries: u32,
    pub autorestart: AutoRestart,
    pub exitcodes: Vec<i32>,
    /// Signal number (e.g. 15 for TERM).
    pub stopsignal: i32,
    pub stopwaitsecs: u32,
    pub stopasgroup: bool,
    pub killasgroup: bool,
    pub user: Option<String>,
    pub redirect_stderr: bool,
    pub stdout: LogSpec,
    pub stderr: LogSpec,
    /// The program's own `environment` entries (merged over `[supervisord] environment` at spawn).
    pub environment: Vec<(String, String)>,
    pub directory: Option<PathBuf>,
    pub umask: Option<u32>,
    /// `None` = AUTO (derived from the HTTP servers at spawn time).
    pub serverurl: Option<String>,
    /// `Some` for processes of an `[eventlistener:x]` section.
    pub listener: Option<ListenerSpec>,
    /// raftvisor's `survive_daemon` option (not Supervisor's): the child is spawned without
    /// `PR_SET_PDEATHSIG`, so it keeps running if the daemon dies without stopping it (crash,
    /// SIGKILL). An orderly shutdown still stops it. Default `false`.
    pub survive_daemon: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupKind {
    /// `[program:x]`: one group named after the program.
    Program,
    /// `[group:x] programs=a,b`.
    Heterogeneous,
    /// `[eventlistener:x]`.
    EventListenerPool,
    /// `[fcgi-program:x]`: one group named after the program whose processes all get the
    /// same listening socket as their stdin (file descriptor 0).
    FastCgi(FcgiSocket),
}

/// The listening socket of an `[fcgi-program:x]` group (`socket`, `socket_backlog`,
/// `socket_owner`, `socket_mode`). The daemon creates it when the group's first process
/// spawns and closes it when the last one is reaped, as Supervisor's socket manager does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FcgiSocket {
    pub endpoint: SocketEndpoint,
    /// `socket_backlog` (1..=65535); `None` = the system's `SOMAXCONN`.
    pub backlog: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SocketEndpoint {
    /// `tcp://host:port` (the host lowercased, as Supervisor does).
    Tcp { host: String, port: u16 },
    /// `unix:///absolute/path`: an existing file at `path` is replaced when the socket is
    /// created, then given `uid`/`gid` (`None` = left as created) and `mode` (default 0o700).
    Unix {
        path: PathBuf,
        uid: Option<u32>,
        gid: Option<u32>,
        mode: u32,
    },
}

impl FcgiSocket {
    /// The socket as its URL (`tcp://127.0.0.1:9000`, `unix:///run/x.sock`), as Supervisor
    /// names it in its log.
    pub fn url(&self) -> String {
        match &self.endpoint {
            SocketEndpoint::Tcp { host, port } => format!("tcp://{host}:{port}"),
            SocketEndpoint::Unix { path, .. } => format!("unix://{}", path.display()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSpec {
    pub name: String,
    pub priority: i32,
    pub kind: GroupKind,
    /// Processes ordered by (priority, name), Supervisor's start order.
    pub processes: Vec<ProcessSpec>,
}

impl Config {
    pub fn group(&self, name: &str) -> Option<&GroupSpec> {
        self.groups.iter().find(|g| g.name == name)
    }

    pub fn extra_section(&self, name: &str) -> Option<&RawSection> {
        self.extra_sections.iter().find(|s| s.name == name)
    }
}

impl LogSpec {
    /// Supervisor's defaults for a channel: 50 MB per file, 10 backups, no capture, no events.
    pub fn new(target: LogTarget) -> LogSpec {
        LogSpec {
            target,
            maxbytes: 50 * 1024 * 1024,
            backups: 10,
            capture_maxbytes: 0,
            events_enabled: false,
            syslog: false,
        }
    }
}

impl ProcessSpec {
    /// A process of its own `[program:name]` with every option at Supervisor's default
    /// (priority 999, autostart, startsecs 1, startretries 3, autorestart unexpected, exitcodes
    /// 0, TERM then KILL after 10 s, AUTO logs). Callers override fields with struct update
    /// syntax; the config parser is what applies a file's options.
    pub fn new(name: &str, argv: Vec<String>) -> ProcessSpec {
        ProcessSpec {
            name: name.into(),
            group: name.into(),
            program: name.into(),
            command: argv.join(" "),
            argv,
            process_num: 0,
            priority: 999,
            autostart: true,
            startsecs: 1,
            startretries: 3,
            autorestart: AutoRestart::Unexpected,
            exitcodes: vec![0],
            stopsignal: 15,
            stopwaitsecs: 10,
            stopasgroup: false,
            killasgroup: false,
            user: None,
            redirect_stderr: false,
            stdout: LogSpec::new(LogTarget::Auto),
            stderr: LogSpec::new(LogTarget::Auto),
            environment: vec![],
            directory: None,
            umask: None,
            serverurl: None,
            listener: None,
            survive_daemon: false,
        }
    }
}

impl GroupSpec {
    /// The group of a single `[program:x]` (or `[eventlistener:x]`) process.
    pub fn single(process: ProcessSpec) -> GroupSpec {
        GroupSpec {
            name: process.group.clone(),
            priority: process.priority,
            kind: if process.listener.is_some() {
                GroupKind::EventListenerPool
            } else {
                GroupKind::Program
            },
            processes: vec![process],
        }
    }
}

impl SupervisordSpec {
    /// `[supervisord]` at Supervisor's defaults, with its files (log, pid, child logs) in `dir`.
    pub fn in_dir(dir: &std::path::Path) -> SupervisordSpec {
        SupervisordSpec {
            logfile: dir.join("supervisord.log"),
            logfile_syslog: false,
            logfile_maxbytes: 50 * 1024 * 1024,
            logfile_backups: 10,
            loglevel: LogLevel::Info,
            pidfile: dir.join("supervisord.pid"),
            umask: 0o22,
            nodaemon: false,
            silent: false,
            minfds: 1024,
            minprocs: 200,
            nocleanup: false,
            childlogdir: dir.to_path_buf(),
            user: None,
            directory: None,
            strip_ansi: false,
            environment: vec![],
            identifier: "supervisor".into(),
        }
    }
}

impl Default for CtlSpec {
    /// `[supervisorctl]` at Supervisor's defaults.
    fn default() -> CtlSpec {
        CtlSpec {
            serverurl: "http://localhost:9001".into(),
            username: None,
            password: None,
            prompt: "supervisor".into(),
            history_file: None,
            tls_ca: None,
        }
    }
}

impl Config {
    /// A config with no HTTP server and no extra section: `supervisord` plus `groups`, its
    /// source named `dir/supervisord.conf` (for embedding procman, and for tests).
    pub fn new(
        dir: &std::path::Path,
        supervisord: SupervisordSpec,
        groups: Vec<GroupSpec>,
    ) -> Config {
        Config {
            source: dir.join("supervisord.conf"),
            supervisord,
            inet_http_server: None,
            unix_http_server: None,
            supervisorctl: CtlSpec::default(),
            groups,
            extra_sections: vec![],
        }
    }
}
