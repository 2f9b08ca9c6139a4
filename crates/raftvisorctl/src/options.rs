//! Command-line options and the `[supervisorctl]` config section, resolved as supervisorctl does:
//! command line over config file over defaults.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::Parser;

use crate::ctl::Settings;
use crate::ini;

pub const DEFAULT_SERVERURL: &str = "http://localhost:9001";

/// Options are only recognised before the action; everything from the first non-option word on
/// is the action and its arguments (getopt's behaviour, which `tail -f x` relies on).
#[derive(Debug, Parser)]
#[command(disable_help_flag = true, disable_version_flag = true)]
pub struct Cli {
    #[arg(short = 'c', long = "configuration")]
    pub configuration: Option<PathBuf>,
    #[arg(short = 'h', long = "help")]
    pub help: bool,
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    #[arg(short = 's', long = "serverurl")]
    pub serverurl: Option<String>,
    #[arg(short = 'u', long = "username")]
    pub username: Option<String>,
    #[arg(short = 'p', long = "password")]
    pub password: Option<model::Secret>,
    #[arg(short = 'r', long = "history-file")]
    pub history_file: Option<String>,
    /// raftvisor's: the PEM certificates an `https://` server must chain to.
    #[arg(long = "tls-ca")]
    pub tls_ca: Option<PathBuf>,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// What supervisorctl prints for `-h`.
pub fn usage(argv0: &str) -> String {
    format!(
        "supervisorctl -- control applications run by supervisord from the cmd line.\n\n\
Usage: {argv0} [options] [action [arguments]]\n\n\
Options:\n\
-c/--configuration FILENAME -- configuration file path (searches if not given)\n\
-h/--help -- print usage message and exit\n\
-i/--interactive -- start an interactive shell after executing commands\n\
-s/--serverurl URL -- URL on which supervisord server is listening\n     (default \"http://localhost:9001\").\n\
-u/--username USERNAME -- username to use for authentication with server\n\
-p/--password PASSWORD -- password to use for authentication with server\n\
-r/--history-file -- keep a readline history (if readline is available)\n\
--tls-ca FILE -- for an https:// URL, trust the PEM certificates of FILE\n     (default: the system's trusted roots; raftvisor's, also tls_ca in [supervisorctl]).\n\n\
action [arguments] -- see below\n\n\
Actions are commands like \"tail\" or \"stop\".  If -i is specified or no action is\n\
specified on the command line, a \"shell\" interpreting actions typed\n\
interactively is started.  Use the action \"help\" to find out about available\n\
actions.\n"
    )
}

/// The getopt-style message for a command-line error (without the `Error: ` prefix).
/// A missing value can only be at the end of the command line, so the option is named as typed.
pub fn clap_error_message(e: &clap::Error, argv: &[String]) -> String {
    let arg = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.split_whitespace().next().unwrap_or("").to_string(),
        _ => String::new(),
    };
    match e.kind() {
        ErrorKind::UnknownArgument => format!("option {arg} not recognized"),
        ErrorKind::InvalidValue | ErrorKind::NoEquals => {
            let typed = argv
                .last()
                .filter(|a| a.starts_with('-'))
                .cloned()
                .unwrap_or(arg);
            format!("option {typed} requires argument")
        }
        _ => e
            .to_string()
            .lines()
            .next()
            .unwrap_or("bad arguments")
            .trim_start_matches("error: ")
            .to_string(),
    }
}

/// clap hands an unknown option to the trailing action words; getopt would have refused it,
/// since options end at the first word that does not start with `-`.
pub fn unknown_option(cli: &Cli) -> Option<String> {
    let first = cli.args.first()?;
    if first.len() < 2 || !first.starts_with('-') {
        return None;
    }
    let name = match first.strip_prefix("--") {
        Some(long) => format!("--{}", long.split('=').next().unwrap_or("")),
        None => first.chars().take(2).collect(),
    };
    Some(format!("option {name} not recognized"))
}

/// Where supervisorctl looks for a config without `-c`.
fn default_config(exe_dir: Option<&Path>) -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(d) = exe_dir {
        candidates.push(d.join("../etc/supervisord.conf"));
        candidates.push(d.join("../supervisord.conf"));
    }
    for p in [
        "supervisord.conf",
        "etc/supervisord.conf",
        "/etc/supervisord.conf",
        "/etc/supervisor/supervisord.conf",
    ] {
        candidates.push(PathBuf::from(p));
    }
    candidates.into_iter().find(|p| p.is_file())
}

/// The `[supervisorctl]` values of a config file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FileSettings {
    pub serverurl: Option<String>,
    pub username: Option<String>,
    pub password: Option<model::Secret>,
    pub prompt: Option<String>,
    /// raftvisor's `tls_ca`, made absolute.
    pub tls_ca: Option<PathBuf>,
    /// `[ctlplugin:supvisors]` is declared.
    pub supvisors_plugin: bool,
}

pub fn read_config(path: &Path) -> Result<FileSettings, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|_| format!("could not find config file {}", path.display()))?;
    let section = ini::read_section(&text, "supervisorctl")
        .ok_or_else(|| ".ini file does not include supervisorctl section".to_string())?;
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let here = abs
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let vars = HashMap::from([("here".to_string(), here)]);
    let get = |k: &str| -> Result<Option<String>, String> {
        section.get(k).map(|v| ini::expand(v, &vars)).transpose()
    };
    let serverurl = get("serverurl")?.map(|u| match u.strip_prefix("unix://") {
        Some(p) => format!(
            "unix://{}",
            std::path::absolute(p)
                .map(|a| a.display().to_string())
                .unwrap_or(p.to_string())
        ),
        None => u,
    });
    Ok(FileSettings {
        serverurl,
        username: section.get("username").cloned(),
        password: section
            .get("password")
            .map(|p| model::Secret::new(p.as_str())),
        prompt: section.get("prompt").cloned(),
        tls_ca: get("tls_ca")?
            .filter(|p| !p.trim().is_empty())
            .map(|p| std::path::absolute(p.trim()).unwrap_or_else(|_| PathBuf::from(p.trim()))),
        supvisors_plugin: ini::read_section(&text, "ctlplugin:supvisors").is_some(),
    })
}

/// Merges command line, config file and defaults into the controller's settings.
pub fn resolve(cli: &Cli, exe_dir: Option<&Path>) -> Result<Settings, String> {
    let file = match &cli.configuration {
        Some(p) => {
            if !p.exists() {
                return Err(format!("could not find config file {}", p.display()));
            }
            read_config(p)?
        }
        None => match default_config(exe_dir) {
            Some(p) => read_config(&p)?,
            None => FileSettings::default(),
        },
    };
    let serverurl = match &cli.serverurl {
        Some(u) => {
            client::ServerUrl::parse(u).map_err(|_| {
                format!("invalid value for -s {u:?}: value {u:?} is not a URL").replace('"', "'")
            })?;
            u.clone()
        }
        None => file
            .serverurl
            .unwrap_or_else(|| DEFAULT_SERVERURL.to_string()),
    };
    Ok(Settings {
        serverurl,
        username: cli.username.clone().or(file.username),
        password: cli.password.clone().or(file.password),
        prompt: file.prompt.unwrap_or_else(|| "supervisor".into()),
        tls_ca: cli.tls_ca.clone().or(file.tls_ca),
        interactive: cli.interactive || cli.args.is_empty(),
        supvisors_plugin: file.supvisors_plugin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("raftvisorctl").chain(args.iter().copied()))
    }

    #[test]
    fn options_stop_at_the_action() {
        let cli = parse(&["-s", "http://h:1", "tail", "-f", "x"]).unwrap();
        assert_eq!(cli.serverurl.as_deref(), Some("http://h:1"));
        assert_eq!(cli.args, vec!["tail", "-f", "x"]);
        let cli = parse(&["--serverurl=http://h:1", "status"]).unwrap();
        assert_eq!(cli.serverurl.as_deref(), Some("http://h:1"));
    }

    #[test]
    fn errors_read_like_getopt() {
        assert_eq!(
            unknown_option(&parse(&["-x"]).unwrap()).unwrap(),
            "option -x not recognized"
        );
        assert_eq!(
            unknown_option(&parse(&["--bad=1", "status"]).unwrap()).unwrap(),
            "option --bad not recognized"
        );
        assert_eq!(unknown_option(&parse(&["status", "-x"]).unwrap()), None);
        let e = parse(&["-s"]).unwrap_err();
        assert_eq!(
            clap_error_message(&e, &["x".into(), "-s".into()]),
            "option -s requires argument"
        );
    }

    #[test]
    fn tls_ca_from_the_command_line_or_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("s.conf");
        std::fs::write(
            &conf,
            "[supervisorctl]\nserverurl=https://h:9443\ntls_ca=%(here)s/ca.pem\n",
        )
        .unwrap();
        let cli = parse(&["-c", conf.to_str().unwrap(), "status"]).unwrap();
        let s = resolve(&cli, None).unwrap();
        assert_eq!(s.serverurl, "https://h:9443");
        assert_eq!(s.tls_ca, Some(dir.path().join("ca.pem")));
        let cli = parse(&["-c", conf.to_str().unwrap(), "--tls-ca", "/x/ca.pem"]).unwrap();
        assert_eq!(
            resolve(&cli, None).unwrap().tls_ca,
            Some(PathBuf::from("/x/ca.pem"))
        );
    }

    #[test]
    fn command_line_beats_config_beats_default() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("s.conf");
        std::fs::write(
            &conf,
            "[supervisorctl]\nserverurl=unix://%(here)s/s.sock\nusername=a\npassword=b\n",
        )
        .unwrap();
        let cli = parse(&["-c", conf.to_str().unwrap(), "-u", "z", "status"]).unwrap();
        let s = resolve(&cli, None).unwrap();
        assert_eq!(
            s.serverurl,
            format!("unix://{}/s.sock", dir.path().display())
        );
        assert_eq!(
            (
                s.username.as_deref(),
                s.password.as_ref().map(model::Secret::expose),
            ),
            (Some("z"), Some("b"))
        );
        assert!(!s.interactive);
        std::fs::write(&conf, "[supervisord]\n").unwrap();
        assert_eq!(
            resolve(&cli, None).unwrap_err(),
            ".ini file does not include supervisorctl section"
        );
        let cli = parse(&["-c", "/nonexistent/x.conf"]).unwrap();
        assert_eq!(
            resolve(&cli, None).unwrap_err(),
            "could not find config file /nonexistent/x.conf"
        );
        let cli = parse(&["-s", "foo", "status"]).unwrap();
        assert_eq!(
            resolve(&cli, None).unwrap_err(),
            "invalid value for -s 'foo': value 'foo' is not a URL"
        );
    }
}
