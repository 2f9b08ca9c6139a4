//! supvisorsctl 0.14's output formats (the Supvisors `supervisorctl` plugin) for its state
//! commands (`sstate`, `instance_status`, `sstatus`, `local_status`, … and raftvisor's
//! `members`), as pure functions: fixed-width tables whose variable columns are as wide as their
//! longest value or title plus two (`ControllerPlugin.max_template`), with Python's `%-Ns`
//! padding and `str()` of values. Also the Supvisors help texts and the Python `str()`/`repr()`
//! every Supvisors table uses; the application and process tables are in `application_format`.

use client::Value;

/// The Supvisors API version supvisorsctl 0.14 insists on.
pub const SUPVISORS_API_VERSION: &str = "0.14";

/// `help` block of the Supvisors plugin (cmd's `print_topics` of the commands below).
pub const HELP_TOPICS: &str = "\nsupvisors commands (type help <topic>):\n=======================================\napplication_info   master               start_any_process       sversion       \napplication_rules  process_rules        start_any_process_args  update_numprocs\nconciliate         restart_application  start_application     \nconflicts          restart_process      start_args            \ndisable            restart_sequence     start_process         \nenable             sreload              start_process_args    \ninstance_status    sshutdown            stop_application      \nlocal_status       sstate               stop_process          \nloglevel           sstatus              strategies            \n\n";

/// Supervisor's `LevelsByDescription`, in declaration order, with their numbers.
pub const LOG_LEVELS: [(&str, i32); 7] = [
    ("critical", 50),
    ("error", 40),
    ("warn", 30),
    ("info", 20),
    ("debug", 10),
    ("trace", 5),
    ("blather", 3),
];

/// `help <topic>` of a Supvisors command.
pub fn help_text(topic: &str) -> Option<&'static str> {
    Some(match topic {
        "sversion" => "sversion\t\t\t\tGet the API version of Supvisors.",
        "sstate" => "sstate\t\t\t\t\tGet the Supvisors state.",
        "master" => "master\t\t\t\t\tGet the Master Supvisors instance.",
        "strategies" => "strategies\t\t\t\t\tGet the Supvisors strategies.",
        "instance_status" => "instance_status <identifier>\t\t\tGet the status of the Supvisors instance.\ninstance_status <identifier> <identifier>\t\tGet the status for multiple Supvisors instances\ninstance_status\t\t\t\tGet the status of all remote Supvisors instances.",
        "sstatus" => "sstatus <proc>\t\t\t\tGet the status of the process named proc.\nsstatus <appli>:*\t\t\tGet the process status of application named appli.\nsstatus <proc> <proc>\t\t\tGet the status for multiple named processes\nsstatus\t\t\t\t\tGet the status of all processes.",
        "local_status" => "local_status <proc>\t\t\tGet the local status of the process named proc.\nlocal_status <appli>:*\t\t\tGet the local status of all processes in the application named appli.\nlocal_status <proc> <proc>\t\tGet the local status for multiple named processes\nlocal_status\t\t\t\tGet the local status of all processes.",
        "enable" => "enable program_name\t\t\t\tEnable the program.",
        "disable" => "disable program_name\t\t\t\tDisable the program.",
        // raftvisor's own commands (not in supvisorsctl 0.14, so not in HELP_TOPICS).
        "members" => "members\t\t\t\t\tList the Raft members as the leader sees them: role, matched log index, lag.",
        "remove_member" => "remove_member <identifier>\t\t\tRemove the instance from the Raft membership (refused if it would lose the quorum).",
        "add_member" => "add_member <identifier>\t\t\tAdd the instance back to the Raft membership (a voter again once caught up).",
        "history" => "history\t\t\t\t\tShow the cluster's history: commands and who asked, elections, state changes, strategies.\nhistory -f\t\t\t\t\tThe same, then each new entry as it comes (Ctrl-C to exit).",
        // supvisorsctl 0.18's statistics commands, and raftvisor's hstats/pstats.
        "stats_status" => "stats_status\t\t\tGet the Supvisors statistics collection status.",
        "enable_stats" => "enable_stats\t\t\tEnable host and process statistics collection\nenable_stats all\t\tEnable host and process statistics collection\nenable_stats host\t\tEnable host statistics collection\nenable_stats process\t\tEnable process statistics collection\nenable_stats host process\tEnable host and process statistics collection",
        "disable_stats" => "disable_stats\t\t\tDisable host and process statistics collection\ndisable_stats all\t\tDisable host and process statistics collection\ndisable_stats host\t\tDisable host statistics collection\ndisable_stats process\t\tDisable process statistics collection\ndisable_stats host process\tDisable host and process statistics collection",
        "stats_period" => "stats_period period\t\tUpdate the host and process statistics collection period",
        "hstats" => "hstats\t\t\t\t\tShow the latest host statistics of every instance (CPU, memory, network, disks).\nhstats <identifier> ...\t\t\tThe same for the instances named.",
        "pstats" => "pstats\t\t\t\t\tShow the latest CPU and memory of every running process on every instance.\npstats <proc> | <appli>:* ...\t\tThe same for the processes named.",
        "loglevel" => "loglevel lvl\t\t\t\tChange the level of local Supvisors' logger to lvl.\n\t\t\t\t\tApplicable values are: dict_values(['critical', 'error', 'warn', 'info', 'debug', 'trace', 'blather']).",
        _ => return crate::application_format::help_text(topic),
    })
}

/// Python's `repr()` of a str (also for supervisorctl's `Error: bad channel 'x'`).
pub(crate) fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::from(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `str()` of an XML-RPC value as xmlrpc.client decodes it.
pub fn py_str(value: &Value) -> String {
    match value {
        Value::Int(n) => n.to_string(),
        Value::I8(n) => n.to_string(),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        Value::String(s) | Value::DateTime(s) => s.clone(),
        Value::Double(d) => format!("{d:?}"),
        Value::Base64(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Nil => "None".into(),
        // Server-side only; a parsed reply never holds it.
        Value::Raw(fragment) => fragment.to_string(),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(py_repr_value).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Struct(members) => {
            let inner: Vec<String> = members
                .iter()
                .map(|(k, v)| format!("{}: {}", py_repr(k), py_repr_value(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

fn py_repr_value(value: &Value) -> String {
    match value {
        Value::String(s) => py_repr(s),
        other => py_str(other),
    }
}

/// A struct member, or the KeyError text Python would raise.
pub fn field<'a>(value: &'a Value, key: &str) -> Result<&'a Value, String> {
    match value {
        Value::Struct(members) => members
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .ok_or_else(|| format!("missing key {} in the server's answer", py_repr(key))),
        _ => Err("the server's answer is not a struct".into()),
    }
}

/// A struct member as Python's `str()` renders it.
pub(crate) fn text(value: &Value, key: &str) -> Result<String, String> {
    field(value, key).map(py_str)
}

fn int(value: &Value, key: &str) -> Result<i64, String> {
    match field(value, key)? {
        Value::Int(n) => Ok(i64::from(*n)),
        Value::I8(n) => Ok(*n),
        Value::Bool(b) => Ok(i64::from(*b)),
        other => Err(format!("{key} is not an int: {}", py_str(other))),
    }
}

/// The items of an array answer.
pub fn items(value: &Value) -> Result<&[Value], String> {
    match value {
        Value::Array(items) => Ok(items),
        _ => Err("the server's answer is not an array".into()),
    }
}

/// `max_template`: the width of a column = longest of title and values, plus 2.
fn width<'a>(title: &str, values: impl Iterator<Item = &'a String>) -> usize {
    values
        .map(|v| v.chars().count())
        .chain(std::iter::once(title.chars().count()))
        .max()
        .unwrap_or(0)
        + 2
}

/// `members` (raftvisor): one line per Raft member of `supvisors.get_raft_members()`, in the
/// leader's order (voters first), `-1` shown as `-`; the leader is marked with `*`.
pub fn members_lines(members: &[Value]) -> Result<Vec<String>, String> {
    let position = |m: &Value, key: &str| -> Result<String, String> {
        let n = int(m, key)?;
        Ok(if n < 0 { "-".into() } else { n.to_string() })
    };
    let mut rows = Vec::new();
    for m in members {
        let leader = matches!(field(m, "leader")?, Value::Bool(true));
        rows.push([
            text(m, "identifier")?,
            format!("{}{}", text(m, "role")?, if leader { " *" } else { "" }),
            position(m, "matched_index")?,
            position(m, "lag")?,
        ]);
    }
    let wi = width("Member", rows.iter().map(|r| &r[0]));
    let wr = width("Role", rows.iter().map(|r| &r[1]));
    let wm = width("Matched", rows.iter().map(|r| &r[2]));
    let line = |c: [&str; 4]| {
        format!("{:<wi$}{:<wr$}{:<wm$}{}", c[0], c[1], c[2], c[3])
            .trim_end()
            .to_string()
    };
    let mut lines = vec![line(["Member", "Role", "Matched", "Lag"])];
    lines.extend(rows.iter().map(|r| line([&r[0], &r[1], &r[2], &r[3]])));
    Ok(lines)
}

/// `history` (raftvisor): one line per entry of `supvisors.get_history()`, oldest first:
/// local time with milliseconds, the Raft index, the kind, who (the instance, and the user
/// when one is known), what. The seq of the last entry comes back for `history -f`.
pub fn history_lines(
    entries: &[Value],
    localtime: &dyn Fn(f64) -> String,
) -> Result<(Vec<String>, Option<i64>), String> {
    let mut lines = Vec::new();
    let mut last = None;
    for e in entries {
        let time = match field(e, "time")? {
            Value::Double(t) => *t,
            Value::Int(t) => f64::from(*t),
            other => return Err(format!("time is not a number: {}", py_str(other))),
        };
        let user = text(e, "user")?;
        let who = if user.is_empty() {
            text(e, "instance")?
        } else {
            format!("{} ({user})", text(e, "instance")?)
        };
        lines.push(format!(
            "{}  {:>7}  {:<9} {:<12} {}",
            localtime(time),
            int(e, "index")?,
            text(e, "kind")?,
            who,
            text(e, "text")?
        ));
        last = Some(int(e, "seq")?);
    }
    Ok((lines, last))
}

/// `sstate`: `%(state)-16s%(starting)-Ns%(stopping)-Ms`, title then values.
pub fn sstate_lines(state: &Value) -> Result<Vec<String>, String> {
    let name = text(state, "fsm_statename")?;
    let starting = text(state, "starting_jobs")?;
    let stopping = text(state, "stopping_jobs")?;
    let ws = width("Starting", std::iter::once(&starting));
    let wt = width("Stopping", std::iter::once(&stopping));
    let line = |a: &str, b: &str, c: &str| format!("{a:<16}{b:<ws$}{c:<wt$}");
    Ok(vec![
        line("State", "Starting", "Stopping"),
        line(&name, &starting, &stopping),
    ])
}

/// `strategies`: three lines, as supvisorsctl prints them.
pub fn strategies_lines(strategies: &Value) -> Result<Vec<String>, String> {
    Ok(vec![
        format!("Auto-fencing: {}", text(strategies, "auto-fencing")?),
        format!("Conciliation: {}", text(strategies, "conciliation")?),
        format!("Starting:     {}", text(strategies, "starting")?),
    ])
}

/// Whether a row is selected by the command arguments (none or `all` = every row).
fn selected(wanted: &[&str], name: &str) -> bool {
    wanted.is_empty() || wanted.contains(&"all") || wanted.contains(&name)
}

/// `instance_status`: widths computed over every instance, rows filtered by `wanted`
/// identifiers. `clock` renders epoch seconds as `%H:%M:%S` local time.
pub fn instance_status_lines(
    infos: &[Value],
    wanted: &[&str],
    clock: &dyn Fn(i64) -> String,
) -> Result<Vec<String>, String> {
    let ids = infos
        .iter()
        .map(|i| text(i, "identifier"))
        .collect::<Result<Vec<_>, _>>()?;
    let nodes = infos
        .iter()
        .map(|i| text(i, "node_name"))
        .collect::<Result<Vec<_>, _>>()?;
    let wi = width("Supervisor", ids.iter());
    let wn = width("Node", nodes.iter());
    let line = |c: [&str; 10]| {
        format!(
            "{:<wi$}{:<wn$}{:<7}{:<11}{:<6}{:<10}{:<9}{:<16}{:<10}{:<10}",
            c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9]
        )
    };
    let mut lines = vec![line([
        "Supervisor",
        "Node",
        "Port",
        "State",
        "Load",
        "Time",
        "Counter",
        "FSM",
        "Starting",
        "Stopping",
    ])];
    for ((info, id), node) in infos.iter().zip(&ids).zip(&nodes) {
        if !selected(wanted, id) {
            continue;
        }
        let load = format!("{}%", text(info, "loading")?);
        let time = clock(int(info, "local_time")?);
        lines.push(line([
            id,
            node,
            &text(info, "port")?,
            &text(info, "statename")?,
            &load,
            &time,
            &text(info, "sequence_counter")?,
            &text(info, "fsm_statename")?,
            &text(info, "starting_jobs")?,
            &text(info, "stopping_jobs")?,
        ]));
    }
    Ok(lines)
}

/// `sstatus`: `Application Process State Expected Supervisor`; Expected only for EXITED.
/// Nothing at all (not even the title) when there is no process.
pub fn sstatus_lines(infos: &[Value]) -> Result<Vec<String>, String> {
    if infos.is_empty() {
        return Ok(vec![]);
    }
    let apps = infos
        .iter()
        .map(|i| text(i, "application_name"))
        .collect::<Result<Vec<_>, _>>()?;
    let procs = infos
        .iter()
        .map(|i| text(i, "process_name"))
        .collect::<Result<Vec<_>, _>>()?;
    let wa = width("Application", apps.iter());
    let wp = width("Process", procs.iter());
    let line =
        |a: &str, p: &str, s: &str, e: &str, i: &str| format!("{a:<wa$}{p:<wp$}{s:<12}{e:<10}{i}");
    let mut lines = vec![line(
        "Application",
        "Process",
        "State",
        "Expected",
        "Supervisor",
    )];
    for ((info, app), proc) in infos.iter().zip(&apps).zip(&procs) {
        let expected = if int(info, "statecode")? == 100 {
            text(info, "expected_exit")?
        } else {
            "n/a".into()
        };
        lines.push(line(
            app,
            proc,
            &text(info, "statename")?,
            &expected,
            &text(info, "identifiers")?,
        ));
    }
    Ok(lines)
}

/// The `local_status` entries matching `wanted` namespecs (`name`, `group:name`, `group:*`), in
/// argument order then server order, as supvisorsctl filters them.
pub fn local_status_select<'a>(
    infos: &'a [Value],
    wanted: &[&str],
) -> Result<Vec<&'a Value>, String> {
    if wanted.is_empty() || wanted.contains(&"all") {
        return Ok(infos.iter().collect());
    }
    let mut out = Vec::new();
    for spec in wanted {
        let (group, name) = model::split_namespec(spec);
        for info in infos {
            if text(info, "group")? == group
                && name
                    .as_ref()
                    .is_none_or(|n| text(info, "name").is_ok_and(|m| m == *n))
            {
                out.push(info);
            }
        }
    }
    Ok(out)
}

/// `local_status`: `Application Process Disabled State Start Now PID Extra args`; times as
/// `%H:%M:%S` (`0` when unset). Nothing when there is no entry.
pub fn local_status_lines(
    infos: &[&Value],
    clock: &dyn Fn(i64) -> String,
) -> Result<Vec<String>, String> {
    if infos.is_empty() {
        return Ok(vec![]);
    }
    let apps = infos
        .iter()
        .map(|i| text(i, "group"))
        .collect::<Result<Vec<_>, _>>()?;
    let procs = infos
        .iter()
        .map(|i| text(i, "name"))
        .collect::<Result<Vec<_>, _>>()?;
    let wa = width("Application", apps.iter());
    let wp = width("Process", procs.iter());
    let line = |c: [&str; 8]| {
        format!(
            "{:<wa$}{:<wp$}{:<10}{:<12}{:<12}{:<12}{:<8}{}",
            c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]
        )
    };
    let mut lines = vec![line([
        "Application",
        "Process",
        "Disabled",
        "State",
        "Start",
        "Now",
        "PID",
        "Extra args",
    ])];
    let time = |t: i64| if t != 0 { clock(t) } else { "0".into() };
    for ((info, app), proc) in infos.iter().zip(&apps).zip(&procs) {
        let state = int(info, "state")?;
        let statename = model::ProcessState::from_code(i32::try_from(state).unwrap_or(-1))
            .map_or("UNKNOWN", |s| s.name());
        lines.push(line([
            app,
            proc,
            &text(info, "disabled")?,
            statename,
            &time(int(info, "start")?),
            &time(int(info, "now")?),
            &text(info, "pid")?,
            &text(info, "extra_args")?,
        ]));
    }
    Ok(lines)
}

/// The number of a level description (`getLevelNumByDescription`), exact match.
pub fn log_level_number(description: &str) -> Option<i32> {
    LOG_LEVELS
        .iter()
        .find(|(d, _)| *d == description)
        .map(|(_, n)| *n)
}

/// Answer builders for the formatting tests of this module and of `application_format`.
#[cfg(test)]
pub(crate) mod test_values {
    use client::Value;

    pub(crate) fn st(members: &[(&str, Value)]) -> Value {
        Value::Struct(
            members
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }
    pub(crate) fn s(x: &str) -> Value {
        Value::String(x.into())
    }
    pub(crate) fn list(xs: &[&str]) -> Value {
        Value::Array(xs.iter().map(|x| s(x)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::test_values::{list, s, st};
    use super::*;

    fn clock(t: i64) -> String {
        format!("T{t}")
    }

    #[test]
    fn python_str_of_values() {
        assert_eq!(py_str(&list(&[])), "[]");
        assert_eq!(py_str(&list(&["a", "b"])), "['a', 'b']");
        assert_eq!(py_str(&Value::Bool(false)), "False");
        assert_eq!(py_str(&Value::Int(7)), "7");
    }

    #[test]
    fn sstate_table() {
        let state = st(&[
            ("fsm_statecode", Value::Int(3)),
            ("fsm_statename", s("OPERATION")),
            ("starting_jobs", list(&[])),
            ("stopping_jobs", list(&["server_01", "x"])),
        ]);
        // '%(state)-16s%(starting)-10s%(stopping)-20s': 10 = len('Starting')+2,
        // 20 = len("['server_01', 'x']")+2.
        assert_eq!(
            sstate_lines(&state).unwrap(),
            vec![
                "State           Starting  Stopping            ".to_string(),
                "OPERATION       []        ['server_01', 'x']  ".to_string(),
            ]
        );
    }

    #[test]
    fn strategies_block() {
        let v = st(&[
            ("auto-fencing", Value::Bool(false)),
            ("starting", s("CONFIG")),
            ("conciliation", s("USER")),
        ]);
        assert_eq!(
            strategies_lines(&v).unwrap(),
            [
                "Auto-fencing: False",
                "Conciliation: USER",
                "Starting:     CONFIG"
            ]
        );
    }

    fn instance(id: &str, node: &str, port: i32, ltime: i32) -> Value {
        st(&[
            ("identifier", s(id)),
            ("node_name", s(node)),
            ("port", Value::Int(port)),
            ("statecode", Value::Int(2)),
            ("statename", s("RUNNING")),
            ("sequence_counter", Value::Int(12)),
            ("remote_time", Value::Int(ltime)),
            ("local_time", Value::Int(ltime)),
            ("loading", Value::Int(35)),
            ("fsm_statecode", Value::Int(3)),
            ("fsm_statename", s("OPERATION")),
            ("starting_jobs", Value::Bool(false)),
            ("stopping_jobs", Value::Bool(true)),
        ])
    }

    #[test]
    fn instance_status_table() {
        let infos = [
            instance("a", "10.0.0.1", 60000, 5),
            instance("supervisor_long", "h", 61000, 0),
        ];
        // identifier column: len('supervisor_long')+2 = 17; node: len('10.0.0.1')+2 = 10.
        let title = format!(
            "{:<17}{:<10}{:<7}{:<11}{:<6}{:<10}{:<9}{:<16}{:<10}{:<10}",
            "Supervisor",
            "Node",
            "Port",
            "State",
            "Load",
            "Time",
            "Counter",
            "FSM",
            "Starting",
            "Stopping"
        );
        assert_eq!(
            title,
            "Supervisor       Node      Port   State      Load  Time      Counter  FSM             Starting  Stopping  "
        );
        let lines = instance_status_lines(&infos, &[], &clock).unwrap();
        assert_eq!(
            lines,
            vec![
                title.clone(),
                "a                10.0.0.1  60000  RUNNING    35%   T5        12       OPERATION       False     True      ".to_string(),
                "supervisor_long  h         61000  RUNNING    35%   T0        12       OPERATION       False     True      ".to_string(),
            ]
        );
        // Filtering keeps the widths computed over every instance.
        let lines = instance_status_lines(&infos, &["a"], &clock).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], title);
        assert!(lines[1].starts_with("a                10.0.0.1  "));
        assert_eq!(
            instance_status_lines(&infos, &["all"], &clock)
                .unwrap()
                .len(),
            3
        );
    }

    #[test]
    fn sstatus_table() {
        let p = |app: &str, proc: &str, code: i32, name: &str, expected: bool, ids: &[&str]| {
            st(&[
                ("application_name", s(app)),
                ("process_name", s(proc)),
                ("statecode", Value::Int(code)),
                ("statename", s(name)),
                ("expected_exit", Value::Bool(expected)),
                ("last_event_time", Value::Int(0)),
                ("identifiers", list(ids)),
                ("extra_args", s("")),
            ])
        };
        let infos = [
            p("web", "web", 20, "RUNNING", true, &["a"]),
            p("database_app", "db", 100, "EXITED", false, &[]),
            p("back", "worker_00", 20, "RUNNING", true, &["a", "b"]),
        ];
        // '%(appli)-14s%(proc)-11s%(state)-12s%(expected)-10s%(identifiers)s'
        assert_eq!(
            sstatus_lines(&infos).unwrap(),
            vec![
                "Application   Process    State       Expected  Supervisor".to_string(),
                "web           web        RUNNING     n/a       ['a']".to_string(),
                "database_app  db         EXITED      False     []".to_string(),
                "back          worker_00  RUNNING     n/a       ['a', 'b']".to_string(),
            ]
        );
        assert!(sstatus_lines(&[]).unwrap().is_empty());
    }

    fn local(group: &str, name: &str, state: i32, start: i32, pid: i32, disabled: bool) -> Value {
        st(&[
            ("name", s(name)),
            ("group", s(group)),
            ("state", Value::Int(state)),
            ("statename", s("ignored")),
            ("start", Value::Int(start)),
            ("stop", Value::Int(0)),
            ("now", Value::Int(99)),
            ("pid", Value::Int(pid)),
            ("description", s("")),
            ("spawnerr", s("")),
            ("expected", Value::Bool(true)),
            ("startsecs", Value::Int(1)),
            ("stopwaitsecs", Value::Int(10)),
            ("extra_args", s("")),
            ("disabled", Value::Bool(disabled)),
        ])
    }

    #[test]
    fn history_lines_show_time_index_kind_who_and_what() {
        let entry = |seq: i32, index: i32, kind: &str, instance: &str, user: &str, text: &str| {
            Value::Struct(vec![
                ("seq".into(), Value::Int(seq)),
                ("index".into(), Value::Int(index)),
                ("term".into(), Value::Int(1)),
                ("time".into(), Value::Double(1.5)),
                ("kind".into(), s(kind)),
                ("instance".into(), s(instance)),
                ("user".into(), s(user)),
                ("text".into(), s(text)),
            ])
        };
        let entries = [
            entry(4, 12, "election", "s1", "", "leader s1 (term 1)"),
            entry(
                5,
                20,
                "command",
                "s2",
                "alice",
                "job 3: stop_application shop",
            ),
        ];
        let time = |t: f64| format!("T{t}");
        let (lines, last) = history_lines(&entries, &time).unwrap();
        assert_eq!(
            lines,
            [
                "T1.5       12  election  s1           leader s1 (term 1)",
                "T1.5       20  command   s2 (alice)   job 3: stop_application shop",
            ]
        );
        assert_eq!(last, Some(5));
        assert_eq!(history_lines(&[], &time).unwrap(), (vec![], None));
    }

    #[test]
    fn local_status_table_and_selection() {
        let infos = [
            local("back", "worker_00", 20, 42, 123, false),
            local("back", "worker_01", 0, 0, 0, true),
            local("web", "web", 200, 0, 0, false),
        ];
        let chosen = local_status_select(&infos, &["web", "back:*"]).unwrap();
        // '%(appli)-13s%(proc)-11s%(disabled)-10s%(state)-12s%(start)-12s%(now)-12s%(pid)-8s%(args)s'
        assert_eq!(
            local_status_lines(&chosen, &clock).unwrap(),
            vec![
                "Application  Process    Disabled  State       Start       Now         PID     Extra args".to_string(),
                "web          web        False     FATAL       0           T99         0       ".to_string(),
                "back         worker_00  False     RUNNING     T42         T99         123     ".to_string(),
                "back         worker_01  True      STOPPED     0           T99         0       ".to_string(),
            ]
        );
        assert_eq!(
            local_status_select(&infos, &["back:worker_01"])
                .unwrap()
                .len(),
            1
        );
        assert!(local_status_select(&infos, &["nope"]).unwrap().is_empty());
        assert_eq!(local_status_select(&infos, &[]).unwrap().len(), 3);
        assert!(local_status_lines(&[], &clock).unwrap().is_empty());
    }

    #[test]
    fn members_table() {
        let member = |id: &str, role: &str, leader: bool, matched: i32, lag: i32| {
            Value::Struct(vec![
                ("identifier".into(), Value::String(id.into())),
                ("role".into(), Value::String(role.into())),
                ("leader".into(), Value::Bool(leader)),
                ("matched_index".into(), Value::Int(matched)),
                ("lag".into(), Value::Int(lag)),
            ])
        };
        let lines = members_lines(&[
            member("s1", "voter", true, 42, 0),
            member("s2", "voter", false, 40, 2),
            member("s4", "learner", false, -1, -1),
        ])
        .unwrap();
        assert_eq!(
            lines,
            vec![
                "Member  Role     Matched  Lag",
                "s1      voter *  42       0",
                "s2      voter    40       2",
                "s4      learner  -        -",
            ]
        );
        assert!(members_lines(&[Value::Int(1)]).is_err());
        for topic in ["members", "remove_member", "add_member"] {
            assert!(help_text(topic).is_some(), "{topic}");
            // raftvisor's own: supvisorsctl 0.14's help list stays as it is.
            assert!(!HELP_TOPICS.contains(topic));
        }
    }

    #[test]
    fn levels_and_help() {
        assert_eq!(log_level_number("debug"), Some(10));
        assert_eq!(log_level_number("DEBUG"), None);
        for topic in [
            "sversion",
            "sstate",
            "master",
            "strategies",
            "instance_status",
            "sstatus",
            "local_status",
            "enable",
            "disable",
            "loglevel",
        ] {
            assert!(help_text(topic).is_some(), "{topic}");
            assert!(HELP_TOPICS.contains(topic));
        }
        assert_eq!(help_text("status"), None);
    }
}
