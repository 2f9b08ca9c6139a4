//! `[program:x]`, `[eventlistener:x]`, `[fcgi-program:x]` and `[group:x]` → process groups, as
//! Supervisor's `process_groups_from_parser` / `processes_from_section`. An fcgi-program is a
//! program plus a socket ([`crate::fcgi`]); named in a `[group:x]`, it is a plain program of
//! that group and its socket options are not read (as in Supervisor).
//!
//! Options read once per section cannot use `%(process_num)d`; the per-process ones
//! (`process_name`, `command`, `directory`, `environment`, the `*_logfile*` and `*_syslog` keys)
//! are expanded once per process with `process_num`, `numprocs` and, after `environment`, the
//! program's own `ENV_*` keys.

use crate::error::Problems;
use crate::events::parse_events;
use crate::expand::Vars;
use crate::fcgi::{self, FCGI_ONLY};
use crate::ini::{Ini, Section};
use crate::reader::{expand_opt, Reported, Sect};
use crate::shlex::{env_pairs, split_command};
use crate::system;
use crate::values::{
    check_import_spec, check_name, list_of_strings, parse_autorestart, parse_bool, parse_bytes,
    parse_exitcodes, parse_octal, parse_ranged,
};
use model::{AutoRestart, GroupKind, GroupSpec, ListenerSpec, LogSpec, LogTarget, ProcessSpec};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub(crate) const PROGRAM_KEYS: [&str; 33] = [
    "command",
    "process_name",
    "numprocs",
    "numprocs_start",
    "priority",
    "autostart",
    "autorestart",
    "startsecs",
    "startretries",
    "exitcodes",
    "stopsignal",
    "stopwaitsecs",
    "stopasgroup",
    "killasgroup",
    "user",
    "redirect_stderr",
    "stdout_logfile",
    "stdout_logfile_maxbytes",
    "stdout_logfile_backups",
    "stdout_capture_maxbytes",
    "stdout_events_enabled",
    "stdout_syslog",
    "stderr_logfile",
    "stderr_logfile_maxbytes",
    "stderr_logfile_backups",
    "stderr_capture_maxbytes",
    "stderr_events_enabled",
    "stderr_syslog",
    "environment",
    "directory",
    "umask",
    "serverurl",
    // raftvisor's own (PROGRAM_OPTIONS.md); Supervisor ignores unknown keys, so a file with it
    // still loads there
    "survive_daemon",
];
const LISTENER_ONLY: [&str; 3] = ["events", "buffer_size", "result_handler"];
pub(crate) const GROUP_KEYS: [&str; 2] = ["programs", "priority"];
const DEFAULT_RESULT_HANDLER: &str = "supervisor.dispatchers:default_handler";

/// What the loader hands to this module.
pub(crate) struct Inputs<'a> {
    pub ini: &'a Ini,
    /// `host_node_name` and `ENV_*` (process environment + `[supervisord] environment`).
    pub vars: &'a Vars,
    /// The environment, for `~` in log paths.
    pub env: &'a BTreeMap<String, String>,
    /// `numprocs` forced per program name (Supvisors' `update_numprocs`), over the file's.
    pub numprocs: &'a NumprocsOverrides,
}

/// Program name (`[program:x]` / `[eventlistener:x]`) → the `numprocs` to use instead of the
/// file's value. Supvisors' `update_numprocs` changes a program's size at run time; the
/// daemon keeps these overrides and passes them to every later load so that a `reloadConfig`
/// or restart does not bring the file's value back. Names absent from the files are ignored.
pub type NumprocsOverrides = BTreeMap<String, u32>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Program,
    Listener,
    FastCgi,
}

/// Builds every group, sorted by (priority, name), processes sorted by (priority, name).
pub(crate) fn groups(inp: &Inputs<'_>, p: &mut Problems) -> Vec<GroupSpec> {
    let ini = inp.ini;
    let sect = |name: &str| ini.section(name).map(|s| Sect::new(s, &ini.defaults));
    let mut groups: Vec<(GroupSpec, &Section)> = Vec::new();
    let mut grouped: Vec<String> = Vec::new();

    for sec in ini.sections.iter().filter(|s| s.name.starts_with("group:")) {
        let s = Sect::new(sec, &ini.defaults);
        s.check_keys(p, &GROUP_KEYS);
        let Some(name) = section_name(s, p) else {
            continue;
        };
        let priority = s.parse_or(p, inp.vars, "priority", 999, |t| parse_ranged(t, "an i32"));
        let programs = match s.text(p, inp.vars, "programs") {
            Ok(Some(t)) if !t.trim().is_empty() => list_of_strings(&t),
            Ok(_) => {
                s.section_error(
                    p,
                    "programs: required (a comma-separated list of [program:x] names)",
                );
                continue;
            }
            Err(Reported) => continue,
        };
        let mut processes = Vec::new();
        for program in programs {
            let plain = sect(&format!("program:{program}"));
            let fcgi = sect(&format!("fcgi-program:{program}"));
            let ps = match (plain, fcgi) {
                (Some(_), Some(_)) => {
                    s.key_error(
                        p,
                        "programs",
                        format!("name {program} is ambiguous (exists as program and fcgi-program)"),
                    );
                    continue;
                }
                (Some(ps), None) | (None, Some(ps)) => ps,
                (None, None) => {
                    s.key_error(
                        p,
                        "programs",
                        format!("names unknown program or fcgi-program {program}"),
                    );
                    continue;
                }
            };
            grouped.push(ps.name().to_string());
            processes.extend(section_processes(ps, &name, Kind::Program, inp, p).1);
        }
        groups.push((
            group(name, priority, GroupKind::Heterogeneous, processes),
            sec,
        ));
    }

    for sec in ini.sections.iter() {
        let kind = if sec.name.starts_with("program:") {
            Kind::Program
        } else if sec.name.starts_with("eventlistener:") {
            Kind::Listener
        } else if sec.name.starts_with("fcgi-program:") {
            Kind::FastCgi
        } else {
            continue;
        };
        let s = Sect::new(sec, &ini.defaults);
        check_program_keys(s, kind, p);
        if kind != Kind::Listener && grouped.contains(&sec.name) {
            continue;
        }
        let Some(name) = section_name(s, p) else {
            continue;
        };
        let (priority, processes) = section_processes(s, &name, kind, inp, p);
        let kind = match kind {
            Kind::Program => GroupKind::Program,
            Kind::Listener => GroupKind::EventListenerPool,
            Kind::FastCgi => {
                let mut vars = inp.vars.clone();
                vars.set_str("program_name", name.clone());
                let user = processes.first().and_then(|p| p.user.as_deref());
                match fcgi::socket(s, &vars, user, p) {
                    Some(socket) => GroupKind::FastCgi(socket),
                    None => continue,
                }
            }
        };
        groups.push((group(name, priority, kind, processes), sec));
    }

    groups.sort_by(|(a, _), (b, _)| (a.priority, &a.name).cmp(&(b.priority, &b.name)));
    let mut seen: Vec<&str> = Vec::new();
    for (g, sec) in &groups {
        if seen.contains(&g.name.as_str()) {
            p.error(
                &sec.file,
                sec.line,
                format!(
                    "[{}] another section already defines the group {:?}",
                    sec.name, g.name
                ),
            );
        }
        seen.push(&g.name);
        let mut names: Vec<&str> = Vec::new();
        for proc in &g.processes {
            if names.contains(&proc.name.as_str()) {
                p.error(
                    &sec.file,
                    sec.line,
                    format!(
                        "[{}] group {:?} would hold two processes named {:?}",
                        sec.name, g.name, proc.name
                    ),
                );
            }
            names.push(&proc.name);
        }
    }
    groups.into_iter().map(|(g, _)| g).collect()
}

fn group(
    name: String,
    priority: i32,
    kind: GroupKind,
    mut processes: Vec<ProcessSpec>,
) -> GroupSpec {
    processes.sort_by(|a, b| (a.priority, &a.name).cmp(&(b.priority, &b.name)));
    GroupSpec {
        name,
        priority,
        kind,
        processes,
    }
}

/// The part after `kind:`, checked as a name.
fn section_name(s: Sect<'_>, p: &mut Problems) -> Option<String> {
    let raw = s.name().split_once(':').map(|(_, n)| n).unwrap_or("");
    match check_name(raw) {
        Ok(n) => Some(n),
        Err(e) => {
            s.section_error(p, e);
            None
        }
    }
}

fn check_program_keys(s: Sect<'_>, kind: Kind, p: &mut Problems) {
    for o in &s.sec.options {
        let key = o.key.as_str();
        let listener_key = LISTENER_ONLY.contains(&key);
        let fcgi_key = FCGI_ONLY.contains(&key);
        let message = if PROGRAM_KEYS.contains(&key)
            || (listener_key && kind == Kind::Listener)
            || (fcgi_key && kind == Kind::FastCgi)
        {
            continue;
        } else if listener_key {
            "only valid in an [eventlistener:x] section".to_string()
        } else if fcgi_key {
            "only valid in an [fcgi-program:x] section".to_string()
        } else {
            let mut known = PROGRAM_KEYS.to_vec();
            match kind {
                Kind::Listener => known.extend(LISTENER_ONLY),
                Kind::FastCgi => known.extend(FCGI_ONLY),
                Kind::Program => {}
            }
            format!("unknown option (known: {})", known.join(", "))
        };
        p.error(&o.file, o.line, format!("[{}] {key}: {message}", s.name()));
    }
}

/// Options read once per section.
struct Common {
    /// The processes' priority (default 999, also for event listeners).
    priority: i32,
    /// The group's priority: the same key, but -1 by default for an event listener pool so it
    /// starts first and stops last (Supervisor reads the key twice with two defaults).
    group_priority: i32,
    autostart: bool,
    autorestart: AutoRestart,
    startsecs: u32,
    startretries: u32,
    exitcodes: Vec<i32>,
    stopsignal: i32,
    stopwaitsecs: u32,
    stopasgroup: bool,
    killasgroup: bool,
    redirect_stderr: bool,
    numprocs: u32,
    numprocs_start: u32,
    capture: [u64; 2],
    events: [bool; 2],
    serverurl: Option<String>,
    user: Option<String>,
    umask: Option<u32>,
    listener: Option<ListenerSpec>,
    survive_daemon: bool,
}

fn common(s: Sect<'_>, kind: Kind, vars: &Vars, p: &mut Problems) -> Common {
    let int = |t: &str| parse_ranged::<i32>(t, "an i32");
    let nonneg = |t: &str| parse_ranged::<u32>(t, "0 or more");
    let default_group_priority = if kind == Kind::Listener { -1 } else { 999 };
    let priority = s.parse(p, vars, "priority", int).ok().flatten();
    let stopasgroup = s.parse_or(p, vars, "stopasgroup", false, parse_bool);
    let killasgroup = s.parse_or(p, vars, "killasgroup", stopasgroup, parse_bool);
    if stopasgroup && !killasgroup {
        s.key_error(p, "killasgroup", "cannot be false when stopasgroup is true");
    }
    let redirect_stderr = s.parse_or(p, vars, "redirect_stderr", false, parse_bool);
    let listener = (kind == Kind::Listener).then(|| {
        if redirect_stderr {
            s.key_error(
                p,
                "redirect_stderr",
                "is not allowed in an [eventlistener:x] section: it would interfere with the event listener protocol",
            );
        }
        let events = match s.parse(p, vars, "events", parse_events) {
            Ok(Some(e)) => e,
            Ok(None) => {
                s.section_error(p, "events: required (e.g. events = PROCESS_STATE)");
                Vec::new()
            }
            Err(Reported) => Vec::new(),
        };
        ListenerSpec {
            events,
            buffer_size: s.parse_or(p, vars, "buffer_size", 10, |t| {
                parse_ranged::<usize>(t, "1 or more")
                    .and_then(|n| if n >= 1 { Ok(n) } else { Err(format!("{n} is out of range (1 or more)")) })
            }),
            result_handler: s.parse_or(
                p,
                vars,
                "result_handler",
                DEFAULT_RESULT_HANDLER.to_string(),
                |t| check_import_spec(t).map(|_| t.to_string()),
            ),
        }
    });
    Common {
        priority: priority.unwrap_or(999),
        group_priority: priority.unwrap_or(default_group_priority),
        autostart: s.parse_or(p, vars, "autostart", true, parse_bool),
        autorestart: s.parse_or(
            p,
            vars,
            "autorestart",
            AutoRestart::Unexpected,
            parse_autorestart,
        ),
        startsecs: s.parse_or(p, vars, "startsecs", 1, nonneg),
        startretries: s.parse_or(p, vars, "startretries", 3, nonneg),
        exitcodes: s.parse_or(p, vars, "exitcodes", vec![0], parse_exitcodes),
        stopsignal: s.parse_or(p, vars, "stopsignal", 15, |t| {
            model::signal_number(t).ok_or_else(|| format!("{t:?} is not a valid signal"))
        }),
        stopwaitsecs: s.parse_or(p, vars, "stopwaitsecs", 10, nonneg),
        stopasgroup,
        killasgroup,
        redirect_stderr,
        numprocs: s.parse_or(p, vars, "numprocs", 1, nonneg),
        numprocs_start: s.parse_or(p, vars, "numprocs_start", 0, nonneg),
        capture: [
            s.parse_or(p, vars, "stdout_capture_maxbytes", 0, parse_bytes),
            s.parse_or(p, vars, "stderr_capture_maxbytes", 0, parse_bytes),
        ],
        events: [
            s.parse_or(p, vars, "stdout_events_enabled", false, parse_bool),
            s.parse_or(p, vars, "stderr_events_enabled", false, parse_bool),
        ],
        survive_daemon: s.parse_or(p, vars, "survive_daemon", false, parse_bool),
        serverurl: s
            .text(p, vars, "serverurl")
            .ok()
            .flatten()
            .filter(|u| !u.trim().is_empty() && !u.trim().eq_ignore_ascii_case("auto")),
        user: s
            .parse(p, vars, "user", |u| {
                system::check_user(u).map(|_| u.to_string())
            })
            .ok()
            .flatten(),
        umask: s.parse(p, vars, "umask", parse_octal).ok().flatten(),
        listener,
    }
}

/// The most processes one program may have. Supervisor sets no bound, and a slip of the
/// keyboard (`numprocs = 40000000`) then builds that many process configurations until memory
/// runs out; ten thousand is far above any deployment seen, and the cluster replicates the
/// state of every process.
pub(crate) const MAX_NUMPROCS: u32 = 10_000;

fn check_numprocs(n: u32) -> Result<(), String> {
    if n > MAX_NUMPROCS {
        return Err(format!(
            "{n} is more than raftvisord's limit of {MAX_NUMPROCS} processes per program"
        ));
    }
    Ok(())
}

/// The processes of one `[program:x]` / `[eventlistener:x]` section for group `group_name`,
/// with the section's priority.
fn section_processes(
    s: Sect<'_>,
    group_name: &str,
    kind: Kind,
    inp: &Inputs<'_>,
    p: &mut Problems,
) -> (i32, Vec<ProcessSpec>) {
    let Some(program) = section_name(s, p) else {
        return (999, Vec::new());
    };
    let mut vars = inp.vars.clone();
    vars.set_str("program_name", program.clone());
    vars.set_str("group_name", group_name);
    let mut c = common(s, kind, &vars, p);
    if let Some(&n) = inp.numprocs.get(&program) {
        // as Supvisors does, the override replaces the option itself: `%(numprocs)d` and the
        // `%(process_num)` rule below see the new value
        c.numprocs = n;
    }
    // The file's value or the override alike.
    if let Err(e) = check_numprocs(c.numprocs) {
        s.key_error(p, "numprocs", e);
        return (c.group_priority, Vec::new());
    }

    let template = s.raw("process_name").unwrap_or("%(program_name)s");
    if let Err(e) = check_name(template) {
        s.key_error(p, "process_name", e);
    }
    if c.numprocs > 1 && !template.contains("%(process_num)") {
        s.key_error(
            p,
            "process_name",
            format!(
                "must contain %(process_num) when numprocs > 1 (e.g. process_name = %(program_name)s_%(process_num)02d), not {template:?}"
            ),
        );
        return (c.group_priority, Vec::new());
    }

    // Exact capacity: a grown Vec starts at 4 slots, and with one process per program (the
    // common case) the three empty ones stayed allocated for the daemon's whole life.
    let mut processes = Vec::with_capacity(usize::try_from(c.numprocs).unwrap_or(0).min(4096));
    for n in 0..c.numprocs {
        let Some(process_num) = c.numprocs_start.checked_add(n) else {
            s.key_error(
                p,
                "numprocs_start",
                "numprocs_start + numprocs is too large",
            );
            break;
        };
        let mut pvars = vars.clone();
        pvars.set_int("process_num", i64::from(process_num));
        pvars.set_int("numprocs", i64::from(c.numprocs));
        if let Some(spec) = one_process(s, &program, group_name, process_num, &c, pvars, inp, p) {
            processes.push(spec);
        }
    }
    (c.group_priority, processes)
}

#[allow(clippy::too_many_arguments)]
fn one_process(
    s: Sect<'_>,
    program: &str,
    group_name: &str,
    process_num: u32,
    c: &Common,
    mut vars: Vars,
    inp: &Inputs<'_>,
    p: &mut Problems,
) -> Option<ProcessSpec> {
    let environment = s.parse_or(p, &vars, "environment", Vec::new(), env_pairs);
    for (k, v) in &environment {
        vars.set_str(format!("ENV_{k}"), v.clone());
    }
    let directory = s
        .text(p, &vars, "directory")
        .ok()
        .flatten()
        .map(PathBuf::from);
    let mut stdout = log_spec(s, "stdout", c.capture[0], c.events[0], &vars, inp, p);
    let mut stderr = log_spec(s, "stderr", c.capture[1], c.events[1], &vars, inp, p);
    if c.redirect_stderr {
        if let LogTarget::Path(path) = &stderr.target {
            s.key_warning(
                p,
                "stderr_logfile",
                format!(
                    "redirect_stderr=true, so the file {} is ignored",
                    path.display()
                ),
            );
        }
        stderr.target = LogTarget::None;
    }
    for (ch, spec) in [("stdout", &mut stdout), ("stderr", &mut stderr)] {
        if spec.target == LogTarget::Auto && spec.maxbytes == 0 {
            s.key_warning(
                p,
                &format!("{ch}_logfile_maxbytes"),
                format!("AUTO logging used for {ch}_logfile without rollover; set maxbytes > 0 to avoid filling up the filesystem"),
            );
        }
    }
    let command = match s.text(p, &vars, "command") {
        Ok(Some(cmd)) => Some(cmd),
        Ok(None) => {
            s.section_error(p, "command: required");
            None
        }
        Err(Reported) => None,
    };
    let argv = command.as_ref().and_then(|cmd| match split_command(cmd) {
        Ok(argv) if !argv.is_empty() => Some(argv),
        Ok(_) => {
            s.key_error(p, "command", "is empty");
            None
        }
        Err(e) => {
            s.key_error(p, "command", format!("cannot be split into arguments: {e}"));
            None
        }
    });
    let template = s.opt("process_name");
    let name = match template {
        Some(o) => match expand_opt(o, &vars) {
            Ok(n) => check_name(&n)
                .map_err(|e| s.key_error(p, "process_name", e))
                .ok(),
            Err(e) => {
                s.key_error(p, "process_name", e);
                None
            }
        },
        None => Some(program.to_string()),
    };
    Some(ProcessSpec {
        name: name?,
        group: group_name.to_string(),
        program: program.to_string(),
        command: command?,
        argv: argv?,
        process_num,
        priority: c.priority,
        autostart: c.autostart,
        startsecs: c.startsecs,
        startretries: c.startretries,
        autorestart: c.autorestart,
        exitcodes: c.exitcodes.clone(),
        stopsignal: c.stopsignal,
        stopwaitsecs: c.stopwaitsecs,
        stopasgroup: c.stopasgroup,
        killasgroup: c.killasgroup,
        user: c.user.clone(),
        redirect_stderr: c.redirect_stderr,
        stdout,
        stderr,
        environment,
        directory,
        umask: c.umask,
        serverurl: c.serverurl.clone(),
        listener: c.listener.clone(),
        survive_daemon: c.survive_daemon,
    })
}

/// `{ch}_logfile` and friends. `syslog` as a file name is Supervisor's deprecated spelling of
/// `{ch}_syslog=true`: it becomes [`LogTarget::Syslog`] with `syslog = true`, and a warning.
fn log_spec(
    s: Sect<'_>,
    ch: &str,
    capture_maxbytes: u64,
    events_enabled: bool,
    vars: &Vars,
    inp: &Inputs<'_>,
    p: &mut Problems,
) -> LogSpec {
    let key = format!("{ch}_logfile");
    let mut syslog = s.parse_or(p, vars, &format!("{ch}_syslog"), false, parse_bool);
    let target = match s.text(p, vars, &key) {
        Ok(Some(t)) => match t.to_lowercase().as_str() {
            "auto" => LogTarget::Auto,
            "none" | "off" => LogTarget::None,
            "syslog" => {
                s.key_warning(
                    p,
                    &key,
                    format!("{key}=syslog is deprecated; use {ch}_syslog=true instead"),
                );
                syslog = true;
                LogTarget::Syslog
            }
            _ => {
                let path = PathBuf::from(system::expand_user(&t, inp.env));
                if let Err(e) = system::check_parent_dir(&path) {
                    s.key_error(p, &key, e);
                }
                LogTarget::Path(path)
            }
        },
        Ok(None) => LogTarget::Auto,
        Err(Reported) => LogTarget::None,
    };
    LogSpec {
        target,
        maxbytes: s.parse_or(
            p,
            vars,
            &format!("{ch}_logfile_maxbytes"),
            50 << 20,
            parse_bytes,
        ),
        backups: s.parse_or(p, vars, &format!("{ch}_logfile_backups"), 10, |t| {
            parse_ranged(t, "0 or more")
        }),
        capture_maxbytes,
        events_enabled,
        syslog,
    }
}
