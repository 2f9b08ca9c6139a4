//! supervisorctl's output formats and messages, as pure functions (no I/O).

use client::{ConfigChanges, ConfigInfo, ProcessInfo, ProcessResult};
use model::FaultCode;

/// LSB exit statuses supervisorctl uses (`LSBInitExitStatuses`, `LSBStatusExitStatuses`).
pub mod exit {
    pub const SUCCESS: i32 = 0;
    pub const GENERIC: i32 = 1;
    pub const INVALID_ARGS: i32 = 2;
    pub const UNIMPLEMENTED_FEATURE: i32 = 3;
    pub const INSUFFICIENT_PRIVILEGES: i32 = 4;
    pub const NOT_INSTALLED: i32 = 5;
    pub const NOT_RUNNING: i32 = 7;
    /// `status`: some listed process is stopped.
    pub const STATUS_NOT_RUNNING: i32 = 3;
    /// `status`: unknown name or server unreachable.
    pub const STATUS_UNKNOWN: i32 = 4;
}

/// `status` lines: `%-{W}s%-10s%s` with `W = max(30, longest namespec) + 3`.
pub fn status_lines(infos: &[ProcessInfo]) -> Vec<String> {
    let names: Vec<String> = infos.iter().map(|i| i.namespec()).collect();
    let width = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0)
        .max(30)
        + 3;
    infos
        .iter()
        .zip(&names)
        .map(|(info, name)| format!("{name:<width$}{:<10}{}", info.statename, info.description))
        .collect()
}

/// `avail` line: `%-32s %-9s %-9s %s`.
pub fn avail_line(info: &ConfigInfo) -> String {
    format!(
        "{:<32} {:<9} {:<9} {}:{}",
        info.namespec(),
        if info.inuse { "in use" } else { "avail" },
        if info.autostart { "auto" } else { "manual" },
        info.group_prio,
        info.process_prio
    )
}

/// `reread` output: one `name: available|changed|disappeared` line per group, sorted by name.
pub fn changes_lines(c: &ConfigChanges) -> Vec<String> {
    let mut all: Vec<(&String, &str)> = Vec::new();
    // Later kinds win for a name listed twice, as the Python dict update does.
    for (names, kind) in [
        (&c.added, "available"),
        (&c.changed, "changed"),
        (&c.removed, "disappeared"),
    ] {
        for n in names {
            all.retain(|(m, _)| *m != n);
            all.push((n, kind));
        }
    }
    if all.is_empty() {
        return vec!["No config updates to processes".into()];
    }
    all.sort_by(|a, b| a.0.cmp(b.0));
    all.into_iter().map(|(n, k)| format!("{n}: {k}")).collect()
}

/// A per-process outcome as supervisorctl builds it, from a result struct or from a fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub namespec: String,
    pub status: i32,
    pub description: String,
}

impl From<&ProcessResult> for Outcome {
    fn from(r: &ProcessResult) -> Self {
        Outcome {
            namespec: r.namespec(),
            status: r.status,
            description: r.description.clone(),
        }
    }
}

/// A code supervisorctl has no message for; it reports it as an internal error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownResult(pub String);

fn code(f: FaultCode) -> i32 {
    f.code()
}

fn error(name: &str, what: &str) -> String {
    format!("{name}: ERROR ({what})")
}

/// `start` message for one outcome.
pub fn start_message(o: &Outcome) -> Result<String, UnknownResult> {
    let n = &o.namespec;
    Ok(match o.status {
        c if c == code(FaultCode::BadName) => error(n, "no such process"),
        c if c == code(FaultCode::NoFile) => error(n, "no such file"),
        c if c == code(FaultCode::NotExecutable) => error(n, "file is not executable"),
        c if c == code(FaultCode::AlreadyStarted) => error(n, "already started"),
        c if c == code(FaultCode::SpawnError) => error(n, "spawn error"),
        c if c == code(FaultCode::AbnormalTermination) => error(n, "abnormal termination"),
        // supvisorsctl's patched `_startresult` (a program disabled through Supvisors).
        c if c == code(FaultCode::Disabled) => format!("{n}: ERROR disabled"),
        c if c == code(FaultCode::Success) => format!("{n}: started"),
        c => return Err(UnknownResult(format!("Unknown result code {c} for {n}"))),
    })
}

/// `signal` (and, with `success = "stopped"`, `stop`) message for one outcome.
pub fn signal_message(o: &Outcome, success: &str) -> Result<String, UnknownResult> {
    let n = &o.namespec;
    Ok(match o.status {
        c if c == code(FaultCode::BadName) => error(n, "no such process"),
        c if c == code(FaultCode::BadSignal) => error(n, "bad signal name"),
        c if c == code(FaultCode::NotRunning) => error(n, "not running"),
        c if c == code(FaultCode::Success) => format!("{n}: {success}"),
        c if c == code(FaultCode::Failed) => o.description.clone(),
        c => return Err(UnknownResult(format!("Unknown result code {c} for {n}"))),
    })
}

/// `clear` message for one outcome.
pub fn clear_message(o: &Outcome) -> Result<String, UnknownResult> {
    let n = &o.namespec;
    Ok(match o.status {
        c if c == code(FaultCode::BadName) => error(n, "no such process"),
        c if c == code(FaultCode::Failed) => error(n, "failed"),
        c if c == code(FaultCode::Success) => format!("{n}: cleared"),
        c => return Err(UnknownResult(format!("Unknown result code {c} for {n}"))),
    })
}

/// `set_exitstatus_from_xmlrpc_fault`: the new exit status, or `None` to keep the current one.
pub fn exit_for_status(status: i32, ignored: Option<FaultCode>) -> Option<i32> {
    if Some(status) == ignored.map(code) || status == code(FaultCode::Success) {
        None
    } else if [
        FaultCode::SpawnError,
        FaultCode::AbnormalTermination,
        FaultCode::NotRunning,
    ]
    .iter()
    .any(|f| f.code() == status)
    {
        Some(exit::NOT_RUNNING)
    } else {
        Some(exit::GENERIC)
    }
}

/// The command table printed by `help`, laid out as Python's `cmd.print_topics` does for the
/// default plugin.
pub const HELP_TOPICS: &str = "\ndefault commands (type help <topic>):\n=====================================\nadd    exit      open  reload  restart   start   tail   \navail  fg        pid   remove  shutdown  status  update \nclear  maintail  quit  reread  signal    stop    version\n\n";

/// `help <topic>` text, `None` for an unknown topic.
pub fn help_text(topic: &str) -> Option<&'static str> {
    Some(match topic {
        "help" => "help\t\tPrint a list of available actions\nhelp <action>\tPrint help for <action>",
        "add" => "add <name> [...]\tActivates any updates in config for process/group",
        "avail" => "avail\t\t\tDisplay all configured processes",
        "clear" => "clear <name>\t\tClear a process' log files.\nclear <name> <name>\tClear multiple process' log files\nclear all\t\tClear all process' log files",
        "exit" => "exit\tExit the supervisor shell.",
        "fg" => "fg <process>\tConnect to a process in foreground mode\n\t\tCtrl-C to exit",
        "maintail" => "maintail -f \tContinuous tail of supervisor main log file (Ctrl-C to exit)\nmaintail -100\tlast 100 *bytes* of supervisord main log file\nmaintail\tlast 1600 *bytes* of supervisor main log file\n",
        "open" => "open <url>\tConnect to a remote supervisord process.\n\t\t(for UNIX domain socket, use unix:///socket/path)",
        "pid" => "pid\t\t\tGet the PID of supervisord.\npid <name>\t\tGet the PID of a single child process by name.\npid all\t\t\tGet the PID of every child process, one per line.",
        "quit" => "quit\tExit the supervisor shell.",
        "reload" => "reload \t\tRestart the remote supervisord.",
        "remove" => "remove <name> [...]\tRemoves process/group from active config",
        "reread" => "reread \t\t\tReload the daemon's configuration files without add/remove",
        "restart" => "restart <name>\t\tRestart a process\nrestart <gname>:*\tRestart all processes in a group\nrestart <name> <name>\tRestart multiple processes or groups\nrestart all\t\tRestart all processes\nNote: restart does not reread config files. For that, see reread and update.",
        "shutdown" => "shutdown \tShut the remote supervisord down.",
        "signal" => "signal <signal name> <name>\t\tSignal a process\nsignal <signal name> <gname>:*\t\tSignal all processes in a group\nsignal <signal name> <name> <name>\tSignal multiple processes or groups\nsignal <signal name> all\t\tSignal all processes",
        "start" => "start <name>\t\tStart a process\nstart <gname>:*\t\tStart all processes in a group\nstart <name> <name>\tStart multiple processes or groups\nstart all\t\tStart all processes",
        "status" => "status <name>\t\tGet status for a single process\nstatus <gname>:*\tGet status for all processes in a group\nstatus <name> <name>\tGet status for multiple named processes\nstatus\t\t\tGet all process status info",
        "stop" => "stop <name>\t\tStop a process\nstop <gname>:*\t\tStop all processes in a group\nstop <name> <name>\tStop multiple processes or groups\nstop all\t\tStop all processes",
        "tail" => "tail [-f] <name> [stdout|stderr] (default stdout)\nEx:\ntail -f <name>\t\tContinuous tail of named process stdout\n\t\t\tCtrl-C to exit.\ntail -100 <name>\tlast 100 *bytes* of process stdout\ntail <name> stderr\tlast 1600 *bytes* of process stderr",
        "update" => "update\t\t\tReload config and add/remove as necessary, and will restart affected programs\nupdate all\t\tReload config and add/remove as necessary, and will restart affected programs\nupdate <gname> [...]\tUpdate specific groups",
        "version" => "version\t\t\tShow the version of the remote supervisord process",
        "EOF" => "To quit, type ^D or use the quit command",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(group: &str, name: &str, state: &str, desc: &str) -> ProcessInfo {
        ProcessInfo {
            name: name.into(),
            group: group.into(),
            description: desc.into(),
            start: 0,
            stop: 0,
            now: 0,
            state: 0,
            statename: state.into(),
            spawnerr: String::new(),
            exitstatus: 0,
            logfile: String::new(),
            stdout_logfile: String::new(),
            stderr_logfile: String::new(),
            pid: 0,
        }
    }

    #[test]
    fn status_layout_matches_supervisorctl() {
        let lines = status_lines(&[
            info("badcmd", "badcmd", "STOPPED", "Not started"),
            info("np", "np_01", "RUNNING", "pid 24204, uptime 0:00:01"),
        ]);
        assert_eq!(
            lines[0],
            "badcmd                           STOPPED   Not started"
        );
        assert_eq!(
            lines[1],
            "np:np_01                         RUNNING   pid 24204, uptime 0:00:01"
        );
        let long = "g:".to_string() + &"x".repeat(40);
        let lines = status_lines(&[info("g", &"x".repeat(40), "FATAL", "d")]);
        assert_eq!(lines[0], format!("{long}   FATAL     d"));
    }

    #[test]
    fn avail_and_changes() {
        let c = ConfigInfo {
            name: "np_01".into(),
            group: "np".into(),
            inuse: true,
            autostart: false,
            group_prio: 999,
            process_prio: 999,
            raw: vec![],
        };
        assert_eq!(
            avail_line(&c),
            "np:np_01                         in use    manual    999:999"
        );
        let ch = ConfigChanges {
            added: vec!["b".into()],
            changed: vec!["a".into()],
            removed: vec!["c".into()],
        };
        assert_eq!(
            changes_lines(&ch),
            vec!["a: changed", "b: available", "c: disappeared"]
        );
        assert_eq!(
            changes_lines(&ConfigChanges::default()),
            vec!["No config updates to processes"]
        );
    }

    #[test]
    fn messages_and_exit_codes() {
        let o = |status| Outcome {
            namespec: "g:a".into(),
            status,
            description: "FAILED: boom".into(),
        };
        assert_eq!(start_message(&o(80)).unwrap(), "g:a: started");
        assert_eq!(
            start_message(&o(60)).unwrap(),
            "g:a: ERROR (already started)"
        );
        assert!(start_message(&o(30)).is_err());
        assert_eq!(start_message(&o(103)).unwrap(), "g:a: ERROR disabled");
        assert_eq!(
            signal_message(&o(70), "stopped").unwrap(),
            "g:a: ERROR (not running)"
        );
        assert_eq!(signal_message(&o(30), "stopped").unwrap(), "FAILED: boom");
        assert_eq!(
            clear_message(&o(10)).unwrap(),
            "g:a: ERROR (no such process)"
        );
        assert_eq!(exit_for_status(60, Some(FaultCode::AlreadyStarted)), None);
        assert_eq!(
            exit_for_status(50, Some(FaultCode::AlreadyStarted)),
            Some(7)
        );
        assert_eq!(exit_for_status(10, None), Some(1));
        assert_eq!(exit_for_status(80, None), None);
        assert!(help_text("tail").is_some() && help_text("nosuch").is_none());
    }
}
