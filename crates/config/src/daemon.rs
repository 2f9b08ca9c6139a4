//! `[supervisord]`, `[supervisorctl]`, `[inet_http_server]` and `[unix_http_server]`.

use crate::error::Problems;
use crate::expand::Vars;
use crate::reader::{Reported, Sect};
use crate::shlex::env_pairs;
use crate::system;
use crate::values::{
    parse_bool, parse_bytes, parse_inet_address, parse_loglevel, parse_octal, parse_password,
    parse_ranged,
};
use model::{
    Credentials, CtlSpec, HttpLimits, InetServerSpec, LogLevel, SupervisordSpec, TlsFiles,
    UnixServerSpec,
};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub(crate) const SUPERVISORD_KEYS: [&str; 17] = [
    "logfile",
    "logfile_maxbytes",
    "logfile_backups",
    "loglevel",
    "pidfile",
    "umask",
    "nodaemon",
    "silent",
    "minfds",
    "minprocs",
    "nocleanup",
    "childlogdir",
    "user",
    "directory",
    "strip_ansi",
    "environment",
    "identifier",
];
pub(crate) const CTL_KEYS: [&str; 6] = [
    "serverurl",
    "username",
    "password",
    "prompt",
    "history_file",
    "tls_ca",
];
pub(crate) const INET_KEYS: [&str; 10] = [
    "port",
    "username",
    "password",
    "allow_unauthenticated",
    "max_connections",
    "request_timeout",
    "readonly_username",
    "readonly_password",
    "tls_certificate",
    "tls_key",
];
pub(crate) const UNIX_KEYS: [&str; 9] = [
    "file",
    "chmod",
    "chown",
    "username",
    "password",
    "max_connections",
    "request_timeout",
    "readonly_username",
    "readonly_password",
];

/// `[supervisord]` with Supervisor's defaults. Paths of the log and pid files are made absolute
/// (Supervisor's `normalize_path`); their directories, `childlogdir` and `directory` must exist.
pub(crate) fn supervisord(
    s: Sect<'_>,
    p: &mut Problems,
    vars: &Vars,
    env: &BTreeMap<String, String>,
) -> SupervisordSpec {
    s.check_keys(p, &SUPERVISORD_KEYS);
    let file_path = |p: &mut Problems, key: &str, default: &str| -> PathBuf {
        let text = s
            .text(p, vars, key)
            .ok()
            .flatten()
            .unwrap_or_else(|| default.to_string());
        let path = PathBuf::from(system::expand_user(&text, env));
        if let Err(e) = system::check_parent_dir(&path) {
            s.key_error(p, key, e);
        }
        system::absolute(&path)
    };
    let logfile_text = s.text(p, vars, "logfile").ok().flatten();
    let logfile_syslog = logfile_text.as_deref() == Some("syslog");
    let logfile = if logfile_syslog {
        PathBuf::from("syslog")
    } else {
        file_path(p, "logfile", "supervisord.log")
    };
    let pidfile = file_path(p, "pidfile", "supervisord.pid");
    let childlogdir = match s.text(p, vars, "childlogdir") {
        Ok(Some(t)) => {
            let dir = PathBuf::from(system::expand_user(&t, env));
            if let Err(e) = system::check_dir(&dir) {
                s.key_error(p, "childlogdir", e);
            }
            dir
        }
        _ => std::env::temp_dir(),
    };
    let directory = match s.text(p, vars, "directory") {
        Ok(Some(t)) => {
            let dir = PathBuf::from(system::expand_user(&t, env));
            if let Err(e) = system::check_dir(&dir) {
                s.key_error(p, "directory", e);
            }
            Some(dir)
        }
        _ => None,
    };
    let user = s.parse(p, vars, "user", |u| {
        system::check_user(u).map(|_| u.to_string())
    });
    SupervisordSpec {
        logfile,
        logfile_syslog,
        logfile_maxbytes: s.parse_or(p, vars, "logfile_maxbytes", 50 << 20, parse_bytes),
        logfile_backups: s.parse_or(p, vars, "logfile_backups", 10, |t| {
            parse_ranged(t, "0 or more")
        }),
        loglevel: s.parse_or(p, vars, "loglevel", LogLevel::Info, parse_loglevel),
        pidfile,
        umask: s.parse_or(p, vars, "umask", 0o22, parse_octal),
        nodaemon: s.parse_or(p, vars, "nodaemon", false, parse_bool),
        silent: s.parse_or(p, vars, "silent", false, parse_bool),
        minfds: s.parse_or(p, vars, "minfds", 1024, |t| parse_ranged(t, "0 or more")),
        minprocs: s.parse_or(p, vars, "minprocs", 200, |t| parse_ranged(t, "0 or more")),
        nocleanup: s.parse_or(p, vars, "nocleanup", false, parse_bool),
        childlogdir,
        user: user.ok().flatten(),
        directory,
        strip_ansi: s.parse_or(p, vars, "strip_ansi", false, parse_bool),
        environment: s.parse_or(p, vars, "environment", Vec::new(), env_pairs),
        identifier: s
            .text(p, vars, "identifier")
            .ok()
            .flatten()
            .unwrap_or_else(|| "supervisor".to_string()),
    }
}

/// `username` and `password`: both or neither.
fn credentials(s: Sect<'_>, p: &mut Problems, vars: &Vars) -> Option<Credentials> {
    user_and_password(s, p, vars, "username", "password")
}

/// Two keys naming a user and a password: both or neither.
fn user_and_password(
    s: Sect<'_>,
    p: &mut Problems,
    vars: &Vars,
    user_key: &str,
    password_key: &str,
) -> Option<Credentials> {
    let username = s.text(p, vars, user_key);
    let password = s.parse(p, vars, password_key, parse_password);
    match (username, password) {
        (Ok(Some(username)), Ok(Some(password))) => Some(Credentials { username, password }),
        (Ok(None), Ok(None)) => None,
        (Ok(Some(_)), Ok(None)) | (Ok(None), Ok(Some(_))) => {
            s.section_error(
                p,
                format!(
                    "incomplete authentication: {user_key} and {password_key} must both be \
                     set, or neither"
                ),
            );
            None
        }
        _ => None,
    }
}

/// `readonly_username` and `readonly_password` (raftvisor's): a user who may only read. Only
/// next to `username`/`password` (without them everybody may do everything), and another name.
fn read_only_user(
    s: Sect<'_>,
    p: &mut Problems,
    vars: &Vars,
    full: Option<&Credentials>,
) -> Option<Credentials> {
    let read_only = user_and_password(s, p, vars, "readonly_username", "readonly_password")?;
    match full {
        None => {
            s.section_error(
                p,
                "readonly_username needs username and password: without them the port is \
                 open to everybody, for everything",
            );
            None
        }
        Some(full) if full.username == read_only.username => {
            s.section_error(p, "readonly_username must differ from username");
            None
        }
        Some(_) => Some(read_only),
    }
}

/// `max_connections` and `request_timeout` (raftvisor's; Supervisor's servers have no bound).
fn http_limits(s: Sect<'_>, p: &mut Problems, vars: &Vars) -> HttpLimits {
    let default = HttpLimits::default();
    let positive = |t: &str| match parse_ranged::<u32>(t, "1 or more")? {
        0 => Err("0 is out of range (1 or more)".to_string()),
        n => Ok(n),
    };
    HttpLimits {
        max_connections: s.parse_or(
            p,
            vars,
            "max_connections",
            default.max_connections,
            positive,
        ),
        request_timeout_secs: s.parse_or(
            p,
            vars,
            "request_timeout",
            default.request_timeout_secs,
            positive,
        ),
    }
}

pub(crate) fn inet_server(
    s: Sect<'_>,
    p: &mut Problems,
    vars: &Vars,
    env: &BTreeMap<String, String>,
) -> Option<InetServerSpec> {
    s.check_keys(p, &INET_KEYS);
    let credentials = credentials(s, p, vars);
    let read_only = read_only_user(s, p, vars, credentials.as_ref());
    let limits = http_limits(s, p, vars);
    let allow_unauthenticated = s.parse_or(p, vars, "allow_unauthenticated", false, parse_bool);
    let tls = tls_files(s, p, vars, env);
    match s.parse(p, vars, "port", parse_inet_address) {
        Ok(Some((host, port))) => Some(InetServerSpec {
            host,
            port,
            credentials,
            read_only,
            allow_unauthenticated,
            limits,
            tls,
        }),
        Ok(None) => {
            s.section_error(p, "port: required (e.g. port = 127.0.0.1:9001)");
            None
        }
        Err(Reported) => None,
    }
}

/// A file named by `key` (`~` expanded, made absolute); `None` when absent or empty.
fn file_path(
    s: Sect<'_>,
    p: &mut Problems,
    vars: &Vars,
    env: &BTreeMap<String, String>,
    key: &str,
) -> Option<PathBuf> {
    s.text(p, vars, key)
        .ok()
        .flatten()
        .filter(|t| !t.trim().is_empty())
        .map(|t| system::absolute(std::path::Path::new(&system::expand_user(t.trim(), env))))
}

/// `tls_certificate` and `tls_key`: both or neither.
fn tls_files(
    s: Sect<'_>,
    p: &mut Problems,
    vars: &Vars,
    env: &BTreeMap<String, String>,
) -> Option<TlsFiles> {
    let certificate = file_path(s, p, vars, env, "tls_certificate");
    match (certificate, file_path(s, p, vars, env, "tls_key")) {
        (Some(certificate), Some(key)) => Some(TlsFiles { certificate, key }),
        (None, None) => None,
        (Some(_), None) => {
            s.section_error(
                p,
                "tls_certificate needs tls_key (the certificate's private key)",
            );
            None
        }
        (None, Some(_)) => {
            s.section_error(
                p,
                "tls_key needs tls_certificate (the PEM certificate chain)",
            );
            None
        }
    }
}

pub(crate) fn unix_server(
    s: Sect<'_>,
    p: &mut Problems,
    vars: &Vars,
    env: &BTreeMap<String, String>,
) -> Option<UnixServerSpec> {
    s.check_keys(p, &UNIX_KEYS);
    let credentials = credentials(s, p, vars);
    let read_only = read_only_user(s, p, vars, credentials.as_ref());
    let limits = http_limits(s, p, vars);
    let chmod = s.parse_or(p, vars, "chmod", 0o700, parse_octal);
    let chown = s
        .parse(p, vars, "chown", |t| {
            system::check_user_group(t).map(|_| t.to_string())
        })
        .ok()
        .flatten();
    match s.text(p, vars, "file") {
        Ok(Some(f)) => {
            let path = PathBuf::from(system::expand_user(f.trim(), env));
            Some(UnixServerSpec {
                file: system::absolute(&path),
                chmod,
                chown,
                credentials,
                read_only,
                limits,
            })
        }
        Ok(None) => {
            s.section_error(
                p,
                "file: required (the socket path, e.g. file = /tmp/supervisor.sock)",
            );
            None
        }
        Err(Reported) => None,
    }
}

/// `[supervisorctl]`, or its defaults when the section is absent.
pub(crate) fn supervisorctl(
    s: Option<Sect<'_>>,
    p: &mut Problems,
    vars: &Vars,
    env: &BTreeMap<String, String>,
) -> CtlSpec {
    let mut ctl = CtlSpec::default();
    let Some(s) = s else {
        return ctl;
    };
    s.check_keys(p, &CTL_KEYS);
    if let Ok(Some(url)) = s.parse(p, vars, "serverurl", |u| {
        if let Some(path) = u.strip_prefix("unix://") {
            let path = system::absolute(std::path::Path::new(&system::expand_user(path, env)));
            Ok(format!("unix://{}", path.display()))
        } else if (u.starts_with("http://") && u.len() > "http://".len())
            || (u.starts_with("https://") && u.len() > "https://".len())
        {
            Ok(u.to_string())
        } else {
            Err(format!(
                "{u:?} is not a supported URL (use http://host:port, https://host:port or unix:///path)"
            ))
        }
    }) {
        ctl.serverurl = url;
    }
    ctl.username = s.text(p, vars, "username").ok().flatten();
    ctl.password = s.text(p, vars, "password").ok().flatten().map(Into::into);
    if let Ok(Some(prompt)) = s.text(p, vars, "prompt") {
        ctl.prompt = prompt;
    }
    ctl.tls_ca = file_path(s, p, vars, env, "tls_ca");
    if let Ok(Some(h)) = s.text(p, vars, "history_file") {
        if !h.is_empty() {
            ctl.history_file = Some(system::absolute(std::path::Path::new(
                &system::expand_user(&h, env),
            )));
        }
    }
    ctl
}
