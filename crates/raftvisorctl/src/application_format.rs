//! supvisorsctl 0.14's application and process commands as pure functions: the tables of
//! `application_info`, `application_rules`, `process_rules` and `conflicts`, the strategy
//! arguments, the selection of managed applications and the help texts. No I/O:
//! `ctl::applications` does the calls and prints what these return.

use client::Value;
use model::supvisors::{ConciliationStrategy, StartingStrategy};

use crate::supvisors_format::{field, py_repr, py_str, text};

/// `help <topic>` of the application/process commands (supvisorsctl 0.14 texts, tabs included).
pub fn help_text(topic: &str) -> Option<&'static str> {
    Some(match topic {
        "application_info" => "application_info <appli>\t\tGet the status of application named appli.\napplication_info <appli> <appli>\tGet the status for multiple named application\napplication_info\t\t\tGet the status of all applications.",
        "application_rules" => "application_rules <appli>\t\t\tGet the rules of the application named appli.\napplication_rules <appli> <appli>\t\tGet the rules for multiple named applications\napplication_rules\t\t\t\tGet the rules of all applications.",
        "process_rules" => "process_rules <proc>\t\t\tGet the rules of the process named proc.\nprocess_rules <appli>:*\t\t\tGet the rules of all processes in the application named appli.\nprocess_rules <proc> <proc>\t\tGet the rules for multiple named processes\nprocess_rules\t\t\t\tGet the rules of all processes.",
        "conflicts" => "conflicts\t\t\t\tGet the Supvisors conflicts.",
        "start_application" => "start_application <strategy> <appli>\t\tStart the managed application named appli with strategy.\nstart_application <strategy> <appli> <appli>\tStart multiple managed named applications with strategy\nstart_application <strategy>\t\t\tStart all managed applications with strategy.",
        "stop_application" => "stop_application <appli>\t\t\tStop the managed application named appli.\nstop_application <appli> <appli>\t\tStop multiple managed named applications.\nstop_application\t\t\t\tStop all managed applications.",
        "restart_application" => "restart_application <strategy> <appli>\t\tRestart the managed application named appli with strategy.\nrestart_application <strategy> <appli> <appli>\tRestart multiple managed named applications with strategy\nrestart_application <strategy> \t\t\tRestart all managed applications with strategy.",
        "start_args" => "start_process <proc> <arg_list>\t\t\tStart the local process named proc with additional arguments arg_list.",
        "start_process" => "start_process <strategy> <proc>\t\t\tStart the process named proc with strategy.\nstart_process <strategy> <proc> <proc>\t\tStart multiple named processes with strategy.\nstart_process <strategy>\t\t\tStart all processes with strategy.",
        "start_process_args" => "start_process <strategy> <proc> <arg_list>\tStart the process named proc with additional arguments arg_list.",
        "start_any_process" => "start_any_process <strategy> <regex>\t\t\tStart a process whose namespec matches the regular expression and with a starting strategy.\nstart_any_process <strategy> <regex> <regex>\t\tStart multiple processes whose namespec matches the regular expressions and with a starting strategy.",
        "start_any_process_args" => "start_any_process_args <strategy> <regex> <arg_list>\tStart a process whose namespec matches the regular expression, using a starting strategy and additional arguments arg_list.",
        "stop_process" => "stop_process <proc>\t\tStop the process named proc.\nstop_process <proc> <proc>\tStop multiple named processes.\nstop_process\t\t\tStop all named processes.",
        "restart_process" => "restart_process <strategy> <proc>\t\tRestart the process named proc using strategy.\nrestart_process <strategy> <proc> <proc>\tRestart multiple named processes using strategy.\nrestart_process <strategy> \t\t\tRestart all processes using strategy.",
        "update_numprocs" => "update_numprocs program_name numprocs\t\t\t\tUpdate the program numprocs.",
        "conciliate" => "conciliate <strategy>\t\t\t\t\tConciliate process conflicts using strategy",
        "restart_sequence" => "restart_sequence\t\t\t\t\tTrigger the whole start sequence",
        "sreload" => "sreload\t\t\t\t\tRestart Supvisors on all instances",
        "sshutdown" => "sshutdown\t\t\t\tShutdown Supvisors on all instances",
        // Supvisors 0.18's command (0.14 has none; raftvisord serves the 0.18 method).
        "test_start_application" => "test_start_application <strategy> <appli>\t\tTest the starting of the managed application named appli with strategy.\ntest_start_application <strategy>\t\t\tTest the starting of all managed applications with strategy.",
        _ => return None,
    })
}

/// `StartingStrategies[name]`: the exact (case-sensitive) enum name, as supvisorsctl reads it.
pub fn starting_strategy(word: &str) -> Option<StartingStrategy> {
    StartingStrategy::ALL.into_iter().find(|s| s.name() == word)
}

/// `ConciliationStrategies[name]`, exact name.
pub fn conciliation_strategy(word: &str) -> Option<ConciliationStrategy> {
    ConciliationStrategy::ALL
        .into_iter()
        .find(|s| s.name() == word)
}

/// `enum_names(...)` as Python prints a list of str: `['CONFIG', 'LESS_LOADED', ...]`.
pub fn enum_names(names: impl Iterator<Item = &'static str>) -> String {
    let quoted: Vec<String> = names.map(py_repr).collect();
    format!("[{}]", quoted.join(", "))
}

/// The starting strategy names, as printed in the `unknown strategy` errors.
pub fn starting_names() -> String {
    enum_names(
        StartingStrategy::ALL
            .into_iter()
            .map(StartingStrategy::name),
    )
}

/// The conciliation strategy names.
pub fn conciliation_names() -> String {
    enum_names(
        ConciliationStrategy::ALL
            .into_iter()
            .map(ConciliationStrategy::name),
    )
}

/// What `_get_matching_applications` decided: the applications to act on, the lines to print
/// first, and whether an unknown name was given (exit status INVALID_ARGS).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Matching {
    pub names: Vec<String>,
    pub messages: Vec<String>,
    pub unknown: bool,
}

/// `(application_name, managed)` of each `get_all_applications_info` entry, in server order.
pub fn managed_map(infos: &[Value]) -> Result<Vec<(String, bool)>, String> {
    infos
        .iter()
        .map(|i| {
            let name = py_str(field(i, "application_name")?);
            let managed = matches!(field(i, "managed")?, Value::Bool(true));
            Ok((name, managed))
        })
        .collect()
}

/// supvisorsctl's `_get_matching_applications`: no parameter or `all` = every managed
/// application, sorted; otherwise each parameter in order, unmanaged ones IGNORED (pointing to
/// `alt` = the process command to use instead), unknown ones an error.
pub fn matching_applications(params: &[&str], all: &[(String, bool)], alt: &str) -> Matching {
    let mut m = Matching::default();
    if params.is_empty() || params.contains(&"all") {
        m.names = all
            .iter()
            .filter(|(_, managed)| *managed)
            .map(|(n, _)| n.clone())
            .collect();
        m.names.sort();
        m.names.dedup();
        return m;
    }
    for name in params {
        // A dict built from the list: the last entry of a duplicated name wins.
        match all.iter().rev().find(|(n, _)| n == name) {
            Some((_, true)) => m.names.push((*name).to_string()),
            Some((_, false)) => m
                .messages
                .push(format!("{name}: IGNORED (unmanaged. use {alt} {name}:*)")),
            None => {
                m.messages
                    .push(format!("{name}: ERROR (no such application)"));
                m.unknown = true;
            }
        }
    }
    m
}

/// `max_template`: longest `str()` of the item among the entries that have it, or the title,
/// plus 2.
fn max_template(entries: &[&Value], item: &str, title: &str) -> usize {
    entries
        .iter()
        .filter_map(|e| field(e, item).ok())
        .map(|v| py_str(v).chars().count())
        .chain(std::iter::once(title.chars().count()))
        .max()
        .unwrap_or(0)
        + 2
}

/// `application_info`: `Application State Major Minor`; widths over every application, rows
/// filtered by `wanted` (none or `all` = every row). The title is printed even with no row.
pub fn application_info_lines(infos: &[Value], wanted: &[&str]) -> Result<Vec<String>, String> {
    let refs: Vec<&Value> = infos.iter().collect();
    let wa = max_template(&refs, "application_name", "Application");
    let line = |a: &str, s: &str, ma: &str, mi: &str| format!("{a:<wa$}{s:<10}{ma:<7}{mi:<7}");
    let mut lines = vec![line("Application", "State", "Major", "Minor")];
    let all = wanted.is_empty() || wanted.contains(&"all");
    for info in infos {
        let name = text(info, "application_name")?;
        if all || wanted.contains(&name.as_str()) {
            lines.push(line(
                &name,
                &text(info, "statename")?,
                &text(info, "major_failure")?,
                &text(info, "minor_failure")?,
            ));
        }
    }
    Ok(lines)
}

/// `application_rules`: nothing when no rule was got. Unmanaged applications show `n/a`.
/// The Distributed column reads `distributed` (what supvisorsctl 0.14 reads) or, when absent,
/// `distribution` (what every 0.14 server sends; 0.14's client then fails, 0.15 reads it).
pub fn application_rules_lines(rules: &[Value]) -> Result<Vec<String>, String> {
    if rules.is_empty() {
        return Ok(vec![]);
    }
    let refs: Vec<&Value> = rules.iter().collect();
    let wa = max_template(&refs, "application_name", "Application");
    let wi = max_template(&refs, "identifiers", "Supervisor");
    let line = |c: [&str; 9]| {
        format!(
            "{:<wa$}{:<9}{:<13}{:<wi$}{:<7}{:<7}{:<13}{:<18}{}",
            c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]
        )
    };
    let mut lines = vec![line([
        "Application",
        "Managed",
        "Distributed",
        "Supervisor",
        "Start",
        "Stop",
        "Starting",
        "Starting_Failure",
        "Running_Failure",
    ])];
    for r in rules {
        let name = text(r, "application_name")?;
        if matches!(field(r, "managed")?, Value::Bool(true)) {
            let distributed = text(r, "distributed").or_else(|_| text(r, "distribution"))?;
            let identifiers = text(r, "identifiers").unwrap_or_else(|_| "n/a".into());
            lines.push(line([
                &name,
                "True",
                &distributed,
                &identifiers,
                &text(r, "start_sequence")?,
                &text(r, "stop_sequence")?,
                &text(r, "starting_strategy")?,
                &text(r, "starting_failure_strategy")?,
                &text(r, "running_failure_strategy")?,
            ]));
        } else {
            lines.push(line([
                &name, "False", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a",
            ]));
        }
    }
    Ok(lines)
}

/// `process_rules`: nothing when no rule was got.
pub fn process_rules_lines(rules: &[Value]) -> Result<Vec<String>, String> {
    if rules.is_empty() {
        return Ok(vec![]);
    }
    let refs: Vec<&Value> = rules.iter().collect();
    let wa = max_template(&refs, "application_name", "Application");
    let wp = max_template(&refs, "process_name", "Process");
    let line = |c: [&str; 9]| {
        format!(
            "{:<wa$}{:<wp$}{:<7}{:<7}{:<12}{:<12}{:<12}{:<22}{}",
            c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]
        )
    };
    let mut lines = vec![line([
        "Application",
        "Process",
        "Start",
        "Stop",
        "Required",
        "WaitExit",
        "Loading",
        "Strategy",
        "Supervisor",
    ])];
    for r in rules {
        lines.push(line([
            &text(r, "application_name")?,
            &text(r, "process_name")?,
            &text(r, "start_sequence")?,
            &text(r, "stop_sequence")?,
            &text(r, "required")?,
            &text(r, "wait_exit")?,
            &format!("{}%", text(r, "expected_loading")?),
            &text(r, "running_failure_strategy")?,
            &text(r, "identifiers")?,
        ]));
    }
    Ok(lines)
}

/// `conflicts`: nothing (not even the title) when there is no conflict.
pub fn conflicts_lines(conflicts: &[Value]) -> Result<Vec<String>, String> {
    if conflicts.is_empty() {
        return Ok(vec![]);
    }
    let refs: Vec<&Value> = conflicts.iter().collect();
    let wa = max_template(&refs, "application_name", "Application");
    let wp = max_template(&refs, "process_name", "Process");
    let line = |a: &str, p: &str, s: &str, i: &str| format!("{a:<wa$}{p:<wp$}{s:<12}{i}");
    let mut lines = vec![line("Application", "Process", "State", "Supervisor")];
    for c in conflicts {
        lines.push(line(
            &text(c, "application_name")?,
            &text(c, "process_name")?,
            &text(c, "statename")?,
            &text(c, "identifiers")?,
        ));
    }
    Ok(lines)
}

/// `test_start_application` (supvisorsctl 0.18): `Application Process State Supervisor
/// Reason`, the title even when the dry run gives no process.
pub fn test_start_lines(results: &[Value]) -> Result<Vec<String>, String> {
    let refs: Vec<&Value> = results.iter().collect();
    let wa = max_template(&refs, "application_name", "Application");
    let wp = max_template(&refs, "process_name", "Process");
    let wi = max_template(&refs, "running_identifiers", "Supervisor");
    let line =
        |a: &str, p: &str, s: &str, i: &str, r: &str| format!("{a:<wa$}{p:<wp$}{s:<12}{i:<wi$}{r}");
    let mut lines = vec![line(
        "Application",
        "Process",
        "State",
        "Supervisor",
        "Reason",
    )];
    for r in results {
        lines.push(line(
            &text(r, "application_name")?,
            &text(r, "process_name")?,
            &text(r, "state")?,
            &text(r, "running_identifiers")?,
            &text(r, "forced_reason")?,
        ));
    }
    Ok(lines)
}

/// The namespec of a `get_process_info` entry (`make_namespec`).
pub fn namespec_of(info: &Value) -> Result<String, String> {
    let app = text(info, "application_name")?;
    let proc = text(info, "process_name")?;
    Ok(model::make_namespec(&app, &proc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supvisors_format::test_values::{list, s, st};

    fn app(name: &str, managed: bool, state: &str, major: bool) -> Value {
        st(&[
            ("application_name", s(name)),
            ("managed", Value::Bool(managed)),
            ("statecode", Value::Int(0)),
            ("statename", s(state)),
            ("major_failure", Value::Bool(major)),
            ("minor_failure", Value::Bool(false)),
        ])
    }

    #[test]
    fn application_info_table() {
        let infos = [
            app("web", true, "RUNNING", false),
            app("database_app", false, "STOPPED", true),
        ];
        // '%(name)-14s%(state)-10s%(major_failure)-7s%(minor_failure)-7s'
        assert_eq!(
            application_info_lines(&infos, &[]).unwrap(),
            vec![
                "Application   State     Major  Minor  ",
                "web           RUNNING   False  False  ",
                "database_app  STOPPED   True   False  ",
            ]
        );
        // Filtering keeps the widths of every application; the title stays without a row.
        assert_eq!(
            application_info_lines(&infos, &["web"]).unwrap(),
            vec![
                "Application   State     Major  Minor  ",
                "web           RUNNING   False  False  ",
            ]
        );
        assert_eq!(application_info_lines(&infos, &["x"]).unwrap().len(), 1);
        assert_eq!(application_info_lines(&[], &[]).unwrap().len(), 1);
    }

    #[test]
    fn application_rules_table() {
        let managed = st(&[
            ("managed", Value::Bool(true)),
            ("distribution", s("ALL_INSTANCES")),
            ("identifiers", list(&["*"])),
            ("start_sequence", Value::Int(1)),
            ("stop_sequence", Value::Int(2)),
            ("starting_strategy", s("CONFIG")),
            ("starting_failure_strategy", s("ABORT")),
            ("running_failure_strategy", s("CONTINUE")),
            ("application_name", s("web")),
        ]);
        let unmanaged = st(&[
            ("managed", Value::Bool(false)),
            ("application_name", s("tools_long_name")),
        ]);
        let lines = application_rules_lines(&[managed, unmanaged]).unwrap();
        // appli width = len('tools_long_name')+2 = 17; identifiers = len('Supervisor')+2 = 12.
        assert_eq!(
            lines,
            vec![
                "Application      Managed  Distributed  Supervisor  Start  Stop   Starting     Starting_Failure  Running_Failure",
                "web              True     ALL_INSTANCES['*']       1      2      CONFIG       ABORT             CONTINUE",
                "tools_long_name  False    n/a          n/a         n/a    n/a    n/a          n/a               n/a",
            ]
        );
        assert!(application_rules_lines(&[]).unwrap().is_empty());
    }

    #[test]
    fn process_rules_table() {
        let r = st(&[
            ("identifiers", list(&["a", "b"])),
            ("start_sequence", Value::Int(1)),
            ("stop_sequence", Value::Int(0)),
            ("required", Value::Bool(true)),
            ("wait_exit", Value::Bool(false)),
            ("expected_loading", Value::Int(5)),
            ("starting_failure_strategy", s("ABORT")),
            ("running_failure_strategy", s("RESTART_PROCESS")),
            ("application_name", s("web")),
            ("process_name", s("server_01")),
        ]);
        assert_eq!(
            process_rules_lines(&[r]).unwrap(),
            vec![
                "Application  Process    Start  Stop   Required    WaitExit    Loading     Strategy              Supervisor",
                "web          server_01  1      0      True        False       5%          RESTART_PROCESS       ['a', 'b']",
            ]
        );
        assert!(process_rules_lines(&[]).unwrap().is_empty());
    }

    #[test]
    fn conflicts_table() {
        let c = st(&[
            ("application_name", s("web")),
            ("process_name", s("web")),
            ("statecode", Value::Int(20)),
            ("statename", s("RUNNING")),
            ("identifiers", list(&["a", "b"])),
        ]);
        assert_eq!(
            conflicts_lines(&[c]).unwrap(),
            vec![
                "Application  Process  State       Supervisor",
                "web          web      RUNNING     ['a', 'b']",
            ]
        );
        assert!(conflicts_lines(&[]).unwrap().is_empty());
    }

    #[test]
    fn test_start_table() {
        let r = st(&[
            ("application_name", s("web")),
            ("process_name", s("server")),
            ("state", s("RUNNING")),
            ("forced_reason", s("")),
            ("running_identifiers", list(&["s1", "s2"])),
        ]);
        assert_eq!(
            test_start_lines(&[r]).unwrap(),
            vec![
                "Application  Process  State       Supervisor    Reason",
                "web          server   RUNNING     ['s1', 's2']  ",
            ]
        );
        assert_eq!(test_start_lines(&[]).unwrap().len(), 1);
    }

    #[test]
    fn strategies_are_exact_names() {
        assert_eq!(starting_strategy("CONFIG"), Some(StartingStrategy::Config));
        assert_eq!(starting_strategy("config"), None);
        assert_eq!(starting_strategy("0"), None);
        assert_eq!(
            starting_names(),
            "['CONFIG', 'LESS_LOADED', 'MOST_LOADED', 'LOCAL', 'LESS_LOADED_NODE', 'MOST_LOADED_NODE']"
        );
        assert_eq!(
            conciliation_strategy("RUNNING_FAILURE"),
            Some(ConciliationStrategy::RunningFailure)
        );
        assert_eq!(
            conciliation_names(),
            "['SENICIDE', 'INFANTICIDE', 'USER', 'STOP', 'RESTART', 'RUNNING_FAILURE']"
        );
    }

    #[test]
    fn matching_applications_rules() {
        let all = vec![
            ("web".to_string(), true),
            ("db".to_string(), true),
            ("tools".to_string(), false),
        ];
        let m = matching_applications(&[], &all, "start");
        assert_eq!(m.names, ["db", "web"]);
        assert!(m.messages.is_empty() && !m.unknown);
        assert_eq!(
            matching_applications(&["x", "all"], &all, "start").names,
            ["db", "web"]
        );
        let m = matching_applications(&["web", "tools", "nope"], &all, "stop");
        assert_eq!(m.names, ["web"]);
        assert_eq!(
            m.messages,
            [
                "tools: IGNORED (unmanaged. use stop tools:*)",
                "nope: ERROR (no such application)"
            ]
        );
        assert!(m.unknown);
    }

    #[test]
    fn help_for_every_command() {
        for t in [
            "application_info",
            "application_rules",
            "process_rules",
            "conflicts",
            "start_application",
            "stop_application",
            "restart_application",
            "start_args",
            "start_process",
            "start_process_args",
            "start_any_process",
            "start_any_process_args",
            "stop_process",
            "restart_process",
            "update_numprocs",
            "conciliate",
            "restart_sequence",
            "sreload",
            "sshutdown",
            "test_start_application",
        ] {
            assert!(help_text(t).is_some(), "{t}");
        }
        assert!(help_text("sstate").is_none());
    }
}
