//! Domain results → XML-RPC values, with the key order and value types Supervisor's Python
//! dicts put on the wire (ints capped to 32 bits, `''` rather than nil).

use model::text::capped_int;
use model::{Fault, FaultCode, SupervisorState};
use procman::{ConfigDiff, ConfigInfo, ConfigValue, ProcResult, ProcessInfo};
use xmlrpc::Value;

fn s(text: &str) -> Value {
    Value::String(text.to_string())
}

/// `getState`: `{statecode, statename}`.
pub fn supervisor_state(state: SupervisorState) -> Value {
    Value::Struct(vec![
        ("statecode".into(), Value::Int(state.code())),
        ("statename".into(), s(state.name())),
    ])
}

/// `getProcessInfo`: the 14 keys, in the order of Supervisor's dict.
pub fn process_info(info: &ProcessInfo) -> Value {
    Value::Struct(vec![
        ("name".into(), s(&info.name)),
        ("group".into(), s(&info.group)),
        ("start".into(), Value::Int(capped_int(info.start))),
        ("stop".into(), Value::Int(capped_int(info.stop))),
        ("now".into(), Value::Int(capped_int(info.now))),
        ("state".into(), Value::Int(info.state.code())),
        ("statename".into(), s(info.state.name())),
        ("spawnerr".into(), s(&info.spawnerr)),
        ("exitstatus".into(), Value::Int(info.exitstatus)),
        ("logfile".into(), s(&info.logfile)),
        ("stdout_logfile".into(), s(&info.stdout_logfile)),
        ("stderr_logfile".into(), s(&info.stderr_logfile)),
        ("pid".into(), Value::Int(info.pid)),
        ("description".into(), s(&info.description)),
    ])
}

/// A `{faultCode, faultString}` struct, as `system.multicall` reports a failed entry.
pub fn fault_struct(fault: &Fault) -> Value {
    Value::Struct(vec![
        ("faultCode".into(), Value::Int(fault.code.code())),
        ("faultString".into(), Value::String(fault.fault_string())),
    ])
}

/// `{name, group, status, description}`: status 80/`OK` on success, else the fault.
pub fn proc_result(result: &ProcResult) -> Value {
    let (status, description) = match &result.outcome {
        Ok(()) => (FaultCode::Success.code(), "OK".to_string()),
        Err(fault) => (fault.code.code(), fault.fault_string()),
    };
    Value::Struct(vec![
        ("name".into(), s(&result.name)),
        ("group".into(), s(&result.group)),
        ("status".into(), Value::Int(status)),
        ("description".into(), Value::String(description)),
    ])
}

pub fn proc_results(results: &[ProcResult]) -> Value {
    Value::Array(results.iter().map(proc_result).collect())
}

fn config_value(value: &ConfigValue) -> Value {
    match value {
        ConfigValue::Int(n) => Value::Int(capped_int(*n)),
        ConfigValue::Bool(b) => Value::Bool(*b),
        ConfigValue::Str(text) => s(text),
        ConfigValue::IntList(list) => Value::Array(list.iter().map(|n| Value::Int(*n)).collect()),
    }
}

/// One struct of `getAllConfigInfo`, keys in the order the supervisor gave them.
pub fn config_info(info: &ConfigInfo) -> Value {
    Value::Struct(
        info.iter()
            .map(|(key, value)| (key.to_string(), config_value(value)))
            .collect(),
    )
}

/// `reloadConfig`: `[[added, changed, removed]]` (one array holding three arrays of names).
pub fn config_diff(diff: &ConfigDiff) -> Value {
    let names = |list: &[String]| Value::Array(list.iter().map(|n| s(n)).collect());
    Value::Array(vec![Value::Array(vec![
        names(&diff.added),
        names(&diff.changed),
        names(&diff.removed),
    ])])
}

/// `tailProcess*Log`: `[string bytes, int offset, boolean overflow]`.
pub fn tail(data: String, offset: i64, overflow: bool) -> Value {
    Value::Array(vec![
        Value::String(data),
        Value::Int(capped_int(offset)),
        Value::Bool(overflow),
    ])
}

pub fn strings(list: impl IntoIterator<Item = impl Into<String>>) -> Value {
    Value::Array(list.into_iter().map(|x| Value::String(x.into())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::ProcessState;

    #[test]
    fn process_info_has_the_14_keys_with_capped_times() {
        let info = ProcessInfo {
            name: "cat".into(),
            group: "g".into(),
            description: "pid 7, uptime 0:00:01".into(),
            start: 1 << 40,
            stop: 0,
            now: 100,
            state: ProcessState::Running,
            spawnerr: String::new(),
            exitstatus: 0,
            logfile: "/l".into(),
            stdout_logfile: "/l".into(),
            stderr_logfile: String::new(),
            pid: 7,
        };
        let Value::Struct(members) = process_info(&info) else {
            panic!("not a struct")
        };
        let keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "name",
                "group",
                "start",
                "stop",
                "now",
                "state",
                "statename",
                "spawnerr",
                "exitstatus",
                "logfile",
                "stdout_logfile",
                "stderr_logfile",
                "pid",
                "description"
            ]
        );
        assert_eq!(members[2].1, Value::Int(i32::MAX));
        assert_eq!(members[5].1, Value::Int(20));
        assert_eq!(members[6].1, Value::String("RUNNING".into()));
    }

    #[test]
    fn results_and_diffs() {
        let ok = ProcResult {
            name: "a".into(),
            group: "g".into(),
            outcome: Ok(()),
        };
        let bad = ProcResult {
            name: "b".into(),
            group: "g".into(),
            outcome: Err(Fault::with(FaultCode::SpawnError, "b")),
        };
        assert_eq!(
            proc_results(&[ok, bad]),
            Value::Array(vec![
                Value::Struct(vec![
                    ("name".into(), s("a")),
                    ("group".into(), s("g")),
                    ("status".into(), Value::Int(80)),
                    ("description".into(), s("OK")),
                ]),
                Value::Struct(vec![
                    ("name".into(), s("b")),
                    ("group".into(), s("g")),
                    ("status".into(), Value::Int(50)),
                    ("description".into(), s("SPAWN_ERROR: b")),
                ]),
            ])
        );
        let diff = ConfigDiff {
            added: vec!["new".into()],
            changed: vec![],
            removed: vec!["old".into()],
        };
        assert_eq!(
            config_diff(&diff),
            Value::Array(vec![Value::Array(vec![
                Value::Array(vec![s("new")]),
                Value::Array(vec![]),
                Value::Array(vec![s("old")]),
            ])])
        );
    }

    #[test]
    fn config_values_keep_wire_types() {
        let info: ConfigInfo = vec![
            ("autostart", ConfigValue::Bool(true)),
            ("exitcodes", ConfigValue::IntList(vec![0, 2])),
            ("stdout_logfile_maxbytes", ConfigValue::Int(1 << 40)),
            ("uid", ConfigValue::Str("none".into())),
        ];
        assert_eq!(
            config_info(&info),
            Value::Struct(vec![
                ("autostart".into(), Value::Bool(true)),
                (
                    "exitcodes".into(),
                    Value::Array(vec![Value::Int(0), Value::Int(2)])
                ),
                ("stdout_logfile_maxbytes".into(), Value::Int(i32::MAX)),
                ("uid".into(), s("none")),
            ])
        );
    }
}
