//! Reading files, following `[include]`, and dispatching sections to their builders.

use crate::daemon;
use crate::error::{ConfigError, Problem, Problems};
use crate::expand::Vars;
use crate::ini::{Ini, Section};
use crate::programs::{self, NumprocsOverrides};
use crate::reader::{expand_opt, Reported, Sect};
use crate::system;
use crate::values::check_import_spec;
use model::{Config, RawOption, RawSection};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the loader takes from the outside world besides files, so tests can fix it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// The environment visible as `%(ENV_X)s` (supervisord's own environment at start).
    pub env: BTreeMap<String, String>,
    /// `%(host_node_name)s`.
    pub host_node_name: String,
}

impl Context {
    /// The current process's environment (variables that are not UTF-8 are skipped) and the
    /// host name.
    pub fn from_process() -> Context {
        let env = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Context {
            env,
            host_node_name: system::host_node_name(),
        }
    }
}

/// Loads `path` with the process environment and host name. See [`load_with_warnings`].
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with(path, &Context::from_process())
}

/// Loads `path` with an explicit [`Context`]. See [`load_with_warnings`].
pub fn load_with(path: &Path, ctx: &Context) -> Result<Config, ConfigError> {
    load_with_warnings(path, ctx).map(|(config, _)| config)
}

/// Loads and validates a Supervisor configuration file (and the files its `[include]` names).
///
/// Returns the resolved [`Config`] plus the warnings Supervisor would log (an include glob that
/// matches nothing, deprecated `*_logfile=syslog`, AUTO logs without rotation,
/// `stderr_logfile` ignored by `redirect_stderr`). Fails with every problem found, each naming
/// `file:line` and the section and option, when anything is wrong, including a missing or
/// unreadable file or a missing `[supervisord]` section.
pub fn load_with_warnings(
    path: &Path,
    ctx: &Context,
) -> Result<(Config, Vec<Problem>), ConfigError> {
    load_inner(path, ctx, &NumprocsOverrides::new())
}

/// [`load_with`], with the `numprocs` of some programs forced (Supvisors' `update_numprocs`):
/// each named `[program:x]` / `[eventlistener:x]` is expanded into that many processes instead
/// of the file's `numprocs`, with `%(numprocs)d` expanding to the new value too. Fails as
/// [`load_with_warnings`] does, notably when a program whose `process_name` lacks
/// `%(process_num)` is forced above 1 (its processes would share one name). Names that no
/// section defines are ignored (the program may have left the files since).
pub fn load_with_numprocs(
    path: &Path,
    ctx: &Context,
    numprocs: &NumprocsOverrides,
) -> Result<Config, ConfigError> {
    load_inner(path, ctx, numprocs).map(|(config, _)| config)
}

fn load_inner(
    path: &Path,
    ctx: &Context,
    numprocs: &NumprocsOverrides,
) -> Result<(Config, Vec<Problem>), ConfigError> {
    let source = system::absolute(path);
    let text = read_file(&source).map_err(|message| ConfigError {
        problems: vec![Problem {
            file: source.clone(),
            line: 0,
            message,
        }],
    })?;
    let mut p = Problems::default();
    let mut ini = Ini::default();
    ini.read_str(&text, &source, &mut p);

    let mut base = Vars::default();
    base.set_str("host_node_name", ctx.host_node_name.clone());
    for (k, v) in &ctx.env {
        base.set_str(format!("ENV_{k}"), v.clone());
    }

    if let Some(include) = ini.section("include").cloned() {
        read_includes(&mut ini, &include, &base, &mut p);
    }

    let empty;
    let supervisord_sec = match ini.section("supervisord") {
        Some(s) => s,
        None => {
            p.error(&source, 0, "the [supervisord] section is missing");
            empty = Section {
                name: "supervisord".to_string(),
                file: source.clone(),
                line: 0,
                options: Vec::new(),
            };
            &empty
        }
    };
    let supervisord = daemon::supervisord(
        Sect::new(supervisord_sec, &ini.defaults),
        &mut p,
        &base,
        &ctx.env,
    );
    // Later sections also see `[supervisord] environment` as ENV_* (Supervisor adds it to its
    // expansions once that section is read).
    let mut global = base.clone();
    for (k, v) in &supervisord.environment {
        global.set_str(format!("ENV_{k}"), v.clone());
    }

    let supervisorctl = daemon::supervisorctl(
        ini.section("supervisorctl")
            .map(|s| Sect::new(s, &ini.defaults)),
        &mut p,
        &base,
        &ctx.env,
    );

    let mut inet_http_server = None;
    let mut unix_http_server = None;
    let mut extra_sections = Vec::new();
    for sec in &ini.sections {
        let s = Sect::new(sec, &ini.defaults);
        let name = sec.name.as_str();
        match name {
            "supervisord" | "supervisorctl" | "include" => {}
            "inet_http_server" => {
                inet_http_server = daemon::inet_server(s, &mut p, &global, &ctx.env)
            }
            "unix_http_server" => {
                unix_http_server = daemon::unix_server(s, &mut p, &global, &ctx.env)
            }
            "rpcinterface:supervisor" => {
                s.check_keys(&mut p, &[RPC_FACTORY]);
                require_factory(s, &mut p, &global, RPC_FACTORY);
            }
            _ if ["program:", "group:", "eventlistener:", "fcgi-program:"]
                .iter()
                .any(|k| name.starts_with(k)) => {}
            _ if name.starts_with("inet_http_server:") || name.starts_with("unix_http_server:") => {
                s.section_error(
                    &mut p,
                    "named HTTP servers are not supported; use one [inet_http_server] and/or one [unix_http_server]",
                )
            }
            _ => {
                if name.starts_with("rpcinterface:") {
                    require_factory(s, &mut p, &global, RPC_FACTORY);
                } else if name.starts_with("ctlplugin:") {
                    require_factory(s, &mut p, &global, CTL_FACTORY);
                }
                extra_sections.push(raw_section(sec, &global));
            }
        }
    }

    let groups = programs::groups(
        &programs::Inputs {
            ini: &ini,
            vars: &global,
            env: &ctx.env,
            numprocs,
        },
        &mut p,
    );

    let errors = dedup(p.errors);
    if !errors.is_empty() {
        return Err(ConfigError { problems: errors });
    }
    let config = Config {
        source,
        supervisord,
        inet_http_server,
        unix_http_server,
        supervisorctl,
        groups,
        extra_sections,
    };
    Ok((config, dedup(p.warnings)))
}

const RPC_FACTORY: &str = "supervisor.rpcinterface_factory";
const CTL_FACTORY: &str = "supervisor.ctl_factory";

fn read_file(path: &Path) -> Result<String, String> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map_err(|_| "could not read config file: it is not valid UTF-8".to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err("could not find config file".to_string())
        }
        Err(e) => Err(format!("could not read config file: {e}")),
    }
}

/// `[include] files = …`: whitespace-separated globs relative to the main file's directory,
/// each expanded to a sorted list of files read in turn. Only the main file's `[include]` is
/// honoured; a glob that matches nothing is a warning, as in Supervisor.
fn read_includes(ini: &mut Ini, include: &Section, base: &Vars, p: &mut Problems) {
    let defaults = ini.defaults.clone();
    let s = Sect::new(include, &defaults);
    s.check_keys(p, &["files"]);
    let files = match s.text(p, base, "files") {
        Ok(Some(f)) => f,
        Ok(None) => {
            s.section_error(p, "files: required (whitespace-separated file globs)");
            return;
        }
        Err(Reported) => return,
    };
    let base_dir = include
        .file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    for pattern in files.split_whitespace() {
        let full = base_dir.join(pattern);
        let full_text = full.to_string_lossy();
        let paths = match glob::glob_with(&full_text, options) {
            Ok(paths) => paths,
            Err(e) => {
                s.key_error(p, "files", format!("bad glob {pattern:?}: {e}"));
                continue;
            }
        };
        let mut matched: Vec<PathBuf> = Vec::new();
        for entry in paths {
            match entry {
                Ok(path) => matched.push(path),
                Err(e) => s.key_error(
                    p,
                    "files",
                    format!("cannot read {}: {e}", e.path().display()),
                ),
            }
        }
        matched.sort();
        if matched.is_empty() {
            let o = s.opt("files");
            let (file, line) = o.map_or((&include.file, include.line), |o| (&o.file, o.line));
            p.warn(
                file,
                line,
                format!("[include] files: no file matches {full_text:?}"),
            );
        }
        for path in matched.into_iter().filter(|m| !m.is_dir()) {
            let path = system::absolute(&path);
            match read_file(&path) {
                Ok(text) => ini.read_str(&text, &path, p),
                Err(e) => s.key_error(p, "files", format!("{}: {e}", path.display())),
            }
        }
    }
}

/// `[rpcinterface:x]` and `[ctlplugin:x]` must name their factory, as Supervisor requires.
fn require_factory(s: Sect<'_>, p: &mut Problems, vars: &Vars, key: &str) {
    match s.parse(p, vars, key, check_import_spec) {
        Ok(Some(())) | Err(Reported) => {}
        Ok(None) => s.section_error(p, format!("{key}: required (package.module:callable)")),
    }
}

/// A section kept for later layers; values are expanded when that succeeds, else kept raw
/// (their `%` syntax may belong to the plugin).
fn raw_section(sec: &Section, vars: &Vars) -> RawSection {
    RawSection {
        name: sec.name.clone(),
        file: sec.file.clone(),
        line: sec.line,
        options: sec
            .options
            .iter()
            .map(|o| RawOption {
                key: o.key.clone(),
                value: expand_opt(o, vars).unwrap_or_else(|_| o.value.clone()),
                line: o.line,
            })
            .collect(),
    }
}

/// A program in two `[group:x]` sections or with numprocs > 1 can produce the same problem
/// more than once; report it once.
fn dedup(problems: Vec<Problem>) -> Vec<Problem> {
    let mut out: Vec<Problem> = Vec::with_capacity(problems.len());
    for prob in problems {
        if !out.contains(&prob) {
            out.push(prob);
        }
    }
    out
}
