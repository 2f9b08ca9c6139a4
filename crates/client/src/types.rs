//! Typed results of the `supervisor` and `system` namespaces, decoded from XML-RPC values.
//!
//! Decoding is strict about the keys the clients rely on (a missing key or a wrong type is a
//! `DecodeError`, which the client reports as a bad response) and tolerant of extra keys, so a
//! newer server that adds fields keeps working.

use model::{FaultCode, ProcessState, SupervisorState};
use xmlrpc::Value;

/// Why a value does not have the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Int(_) => "int",
        Value::I8(_) => "i8",
        Value::Bool(_) => "boolean",
        Value::String(_) => "string",
        Value::Double(_) => "double",
        Value::DateTime(_) => "dateTime",
        Value::Base64(_) => "base64",
        Value::Array(_) => "array",
        Value::Struct(_) => "struct",
        Value::Nil => "nil",
        // Server-side only; a parsed reply never holds it.
        Value::Raw(_) => "raw",
    }
}

fn wrong(expected: &str, got: &Value) -> DecodeError {
    DecodeError(format!("expected {expected}, got {}", type_name(got)))
}

pub(crate) fn as_string(v: &Value) -> Result<String, DecodeError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(wrong("string", other)),
    }
}

pub(crate) fn as_int(v: &Value) -> Result<i64, DecodeError> {
    match v {
        Value::Int(i) => Ok(i64::from(*i)),
        Value::I8(i) => Ok(*i),
        other => Err(wrong("int", other)),
    }
}

pub(crate) fn as_i32(v: &Value) -> Result<i32, DecodeError> {
    let i = as_int(v)?;
    i32::try_from(i).map_err(|_| DecodeError(format!("int {i} out of 32-bit range")))
}

pub(crate) fn as_bool(v: &Value) -> Result<bool, DecodeError> {
    match v {
        Value::Bool(b) => Ok(*b),
        // Some servers answer `1`/`0` as ints; Python would accept them as truthy too.
        Value::Int(i) => Ok(*i != 0),
        other => Err(wrong("boolean", other)),
    }
}

pub(crate) fn as_array(v: &Value) -> Result<&[Value], DecodeError> {
    match v {
        Value::Array(a) => Ok(a),
        other => Err(wrong("array", other)),
    }
}

pub(crate) fn as_string_list(v: &Value) -> Result<Vec<String>, DecodeError> {
    as_array(v)?.iter().map(as_string).collect()
}

/// Looks up a struct member, failing with the key's name so errors say what is missing.
pub(crate) struct Fields<'a>(&'a [(String, Value)]);

impl<'a> Fields<'a> {
    pub(crate) fn of(v: &'a Value) -> Result<Self, DecodeError> {
        match v {
            Value::Struct(m) => Ok(Fields(m)),
            other => Err(wrong("struct", other)),
        }
    }

    pub(crate) fn get(&self, key: &str) -> Result<&'a Value, DecodeError> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .ok_or_else(|| DecodeError(format!("missing key {key:?}")))
    }

    fn string(&self, key: &str) -> Result<String, DecodeError> {
        as_string(self.get(key)?).map_err(|e| DecodeError(format!("{key}: {}", e.0)))
    }

    fn int(&self, key: &str) -> Result<i64, DecodeError> {
        as_int(self.get(key)?).map_err(|e| DecodeError(format!("{key}: {}", e.0)))
    }

    fn i32(&self, key: &str) -> Result<i32, DecodeError> {
        as_i32(self.get(key)?).map_err(|e| DecodeError(format!("{key}: {}", e.0)))
    }

    fn boolean(&self, key: &str) -> Result<bool, DecodeError> {
        as_bool(self.get(key)?).map_err(|e| DecodeError(format!("{key}: {}", e.0)))
    }
}

/// `supervisor.getState()`: the daemon's mood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateInfo {
    pub statecode: i32,
    pub statename: String,
}

impl StateInfo {
    pub fn from_value(v: &Value) -> Result<Self, DecodeError> {
        let f = Fields::of(v)?;
        Ok(StateInfo {
            statecode: f.i32("statecode")?,
            statename: f.string("statename")?,
        })
    }

    /// The mood as an enum, `None` for a code Supervisor does not define.
    pub fn state(&self) -> Option<SupervisorState> {
        [
            SupervisorState::Fatal,
            SupervisorState::Running,
            SupervisorState::Restarting,
            SupervisorState::Shutdown,
        ]
        .into_iter()
        .find(|s| s.code() == self.statecode)
    }
}

/// `supervisor.getProcessInfo()`: all 14 keys Supervisor always sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub name: String,
    pub group: String,
    pub description: String,
    /// Epoch seconds of the last start, 0 if never started.
    pub start: i64,
    /// Epoch seconds of the last stop or exit, 0 if never.
    pub stop: i64,
    /// The server's clock when it answered (uptime = now - start).
    pub now: i64,
    /// Process state code (see [`ProcessInfo::state`]).
    pub state: i32,
    pub statename: String,
    pub spawnerr: String,
    pub exitstatus: i32,
    pub logfile: String,
    pub stdout_logfile: String,
    pub stderr_logfile: String,
    /// 0 when not running.
    pub pid: i32,
}

impl ProcessInfo {
    pub fn from_value(v: &Value) -> Result<Self, DecodeError> {
        let f = Fields::of(v)?;
        Ok(ProcessInfo {
            name: f.string("name")?,
            group: f.string("group")?,
            description: f.string("description")?,
            start: f.int("start")?,
            stop: f.int("stop")?,
            now: f.int("now")?,
            state: f.i32("state")?,
            statename: f.string("statename")?,
            spawnerr: f.string("spawnerr")?,
            exitstatus: f.i32("exitstatus")?,
            logfile: f.string("logfile")?,
            stdout_logfile: f.string("stdout_logfile")?,
            stderr_logfile: f.string("stderr_logfile")?,
            pid: f.i32("pid")?,
        })
    }

    /// The state as an enum, `None` for a code Supervisor does not define.
    pub fn process_state(&self) -> Option<ProcessState> {
        ProcessState::from_code(self.state)
    }

    /// `group:name`, or `name` when both are equal (Supervisor's `make_namespec`).
    pub fn namespec(&self) -> String {
        model::make_namespec(&self.group, &self.name)
    }
}

/// One entry of the array returned by every group/all operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessResult {
    pub name: String,
    pub group: String,
    /// 80 (`SUCCESS`) or a fault code.
    pub status: i32,
    /// `OK` or the fault string.
    pub description: String,
}

impl ProcessResult {
    pub fn from_value(v: &Value) -> Result<Self, DecodeError> {
        let f = Fields::of(v)?;
        Ok(ProcessResult {
            name: f.string("name")?,
            group: f.string("group")?,
            status: f.i32("status")?,
            description: f.string("description")?,
        })
    }

    pub fn fault(&self) -> Option<FaultCode> {
        FaultCode::from_code(self.status)
    }

    pub fn is_success(&self) -> bool {
        self.status == FaultCode::Success.code()
    }

    pub fn namespec(&self) -> String {
        model::make_namespec(&self.group, &self.name)
    }
}

pub(crate) fn results_from_value(v: &Value) -> Result<Vec<ProcessResult>, DecodeError> {
    as_array(v)?.iter().map(ProcessResult::from_value).collect()
}

/// What `startProcess`/`stopProcess`/`signalProcess` return: `true` for one process, or one
/// result per process when the name was `group:*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionOutcome {
    Single(bool),
    Group(Vec<ProcessResult>),
}

impl ActionOutcome {
    pub fn from_value(v: &Value) -> Result<Self, DecodeError> {
        match v {
            Value::Array(_) => Ok(ActionOutcome::Group(results_from_value(v)?)),
            other => Ok(ActionOutcome::Single(as_bool(other)?)),
        }
    }
}

/// `supervisor.getAllConfigInfo()` entry. The keys supervisorctl uses are typed; the full map is
/// kept in `raw` because its key set differs between Supervisor versions.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigInfo {
    pub name: String,
    pub group: String,
    /// The group is active (not only present in the re-read config).
    pub inuse: bool,
    pub autostart: bool,
    pub group_prio: i64,
    pub process_prio: i64,
    pub raw: Vec<(String, Value)>,
}

impl ConfigInfo {
    pub fn from_value(v: &Value) -> Result<Self, DecodeError> {
        let f = Fields::of(v)?;
        Ok(ConfigInfo {
            name: f.string("name")?,
            group: f.string("group")?,
            inuse: f.boolean("inuse")?,
            autostart: f.boolean("autostart")?,
            group_prio: f.int("group_prio")?,
            process_prio: f.int("process_prio")?,
            raw: f.0.to_vec(),
        })
    }

    /// Any key of the raw map, e.g. `command` or `stopsignal`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.raw.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn namespec(&self) -> String {
        model::make_namespec(&self.group, &self.name)
    }
}

/// `supervisor.reloadConfig()`: group names that differ between the running and re-read config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigChanges {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

impl ConfigChanges {
    /// Decodes `[[added, changed, removed]]` (one array holding the triple).
    pub fn from_value(v: &Value) -> Result<Self, DecodeError> {
        let outer = as_array(v)?;
        let inner = outer
            .first()
            .ok_or_else(|| DecodeError("reloadConfig returned an empty array".into()))?;
        match as_array(inner)? {
            [a, c, r] => Ok(ConfigChanges {
                added: as_string_list(a)?,
                changed: as_string_list(c)?,
                removed: as_string_list(r)?,
            }),
            other => Err(DecodeError(format!(
                "reloadConfig: expected 3 lists, got {}",
                other.len()
            ))),
        }
    }
}

/// `supervisor.tailProcess*Log()`: the bytes read, the offset to ask from next time, and whether
/// data was skipped because more than `length` bytes had been written since `offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTail {
    pub bytes: String,
    pub offset: i64,
    pub overflow: bool,
}

impl LogTail {
    pub fn from_value(v: &Value) -> Result<Self, DecodeError> {
        match as_array(v)? {
            [b, o, f] => Ok(LogTail {
                bytes: as_string(b)?,
                offset: as_int(o)?,
                overflow: as_bool(f)?,
            }),
            other => Err(DecodeError(format!(
                "tail: expected 3 items, got {}",
                other.len()
            ))),
        }
    }
}

/// A fault carried inside a multicall answer (or any struct `{faultCode, faultString}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MulticallFault {
    pub code: i32,
    pub string: String,
}

impl MulticallFault {
    pub fn fault(&self) -> Option<FaultCode> {
        FaultCode::from_code(self.code)
    }
}

/// Splits a `system.multicall` answer into per-call results: a struct with `faultCode` is a
/// failed call, anything else is the call's bare value.
pub fn multicall_results(v: &Value) -> Result<Vec<Result<Value, MulticallFault>>, DecodeError> {
    as_array(v)?
        .iter()
        .map(|item| {
            if let Value::Struct(m) = item {
                if m.iter().any(|(k, _)| k == "faultCode") {
                    let f = Fields(m);
                    return Ok(Err(MulticallFault {
                        code: f.i32("faultCode")?,
                        string: f.string("faultString").unwrap_or_default(),
                    }));
                }
            }
            Ok(Ok(item.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::String(x.into())
    }

    fn st(members: &[(&str, Value)]) -> Value {
        Value::Struct(
            members
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    fn info_value() -> Value {
        st(&[
            ("name", s("np_01")),
            ("group", s("np")),
            ("start", Value::Int(1700000000)),
            ("stop", Value::Int(0)),
            ("now", Value::Int(1700000035)),
            ("state", Value::Int(20)),
            ("statename", s("RUNNING")),
            ("spawnerr", s("")),
            ("exitstatus", Value::Int(0)),
            ("logfile", s("/tmp/a.log")),
            ("stdout_logfile", s("/tmp/a.log")),
            ("stderr_logfile", s("")),
            ("pid", Value::Int(4242)),
            ("description", s("pid 4242, uptime 0:00:35")),
        ])
    }

    #[test]
    fn process_info_decodes_all_fields() {
        let info = ProcessInfo::from_value(&info_value()).unwrap();
        assert_eq!(info.namespec(), "np:np_01");
        assert_eq!(info.process_state(), Some(ProcessState::Running));
        assert_eq!(info.pid, 4242);
        assert_eq!(info.now - info.start, 35);
        assert_eq!(info.description, "pid 4242, uptime 0:00:35");
    }

    #[test]
    fn process_info_missing_key_names_it() {
        let Value::Struct(mut m) = info_value() else {
            unreachable!()
        };
        m.retain(|(k, _)| k != "pid");
        let e = ProcessInfo::from_value(&Value::Struct(m)).unwrap_err();
        assert!(e.0.contains("pid"), "{e}");
        let e = ProcessInfo::from_value(&st(&[("name", Value::Int(1))])).unwrap_err();
        assert!(e.0.contains("name"), "{e}");
    }

    #[test]
    fn state_and_results() {
        let st_info = StateInfo::from_value(&st(&[
            ("statecode", Value::Int(1)),
            ("statename", s("RUNNING")),
        ]))
        .unwrap();
        assert_eq!(st_info.state(), Some(SupervisorState::Running));
        let r = ProcessResult::from_value(&st(&[
            ("name", s("a")),
            ("group", s("g")),
            ("status", Value::Int(70)),
            ("description", s("NOT_RUNNING")),
        ]))
        .unwrap();
        assert_eq!(r.fault(), Some(FaultCode::NotRunning));
        assert!(!r.is_success());
        assert_eq!(r.namespec(), "g:a");
        assert_eq!(
            ActionOutcome::from_value(&Value::Bool(true)).unwrap(),
            ActionOutcome::Single(true)
        );
        let group = ActionOutcome::from_value(&Value::Array(vec![])).unwrap();
        assert_eq!(group, ActionOutcome::Group(vec![]));
    }

    #[test]
    fn reload_config_and_tail() {
        let v = Value::Array(vec![Value::Array(vec![
            Value::Array(vec![s("new")]),
            Value::Array(vec![]),
            Value::Array(vec![s("old1"), s("old2")]),
        ])]);
        let c = ConfigChanges::from_value(&v).unwrap();
        assert_eq!(c.added, vec!["new"]);
        assert!(c.changed.is_empty());
        assert_eq!(c.removed, vec!["old1", "old2"]);
        assert!(ConfigChanges::from_value(&Value::Array(vec![])).is_err());
        let t = LogTail::from_value(&Value::Array(vec![
            s("ut\n"),
            Value::Int(10),
            Value::Bool(true),
        ]))
        .unwrap();
        assert_eq!(
            t,
            LogTail {
                bytes: "ut\n".into(),
                offset: 10,
                overflow: true
            }
        );
    }

    #[test]
    fn config_info_keeps_raw_map() {
        let v = st(&[
            ("name", s("a")),
            ("group", s("a")),
            ("inuse", Value::Bool(true)),
            ("autostart", Value::Bool(false)),
            ("group_prio", Value::Int(999)),
            ("process_prio", Value::Int(5)),
            ("command", s("sleep 1")),
        ]);
        let c = ConfigInfo::from_value(&v).unwrap();
        assert!(c.inuse && !c.autostart);
        assert_eq!((c.group_prio, c.process_prio), (999, 5));
        assert_eq!(c.get("command"), Some(&s("sleep 1")));
    }

    #[test]
    fn multicall_splits_faults_from_values() {
        let v = Value::Array(vec![
            Value::Int(23400),
            st(&[
                ("faultCode", Value::Int(10)),
                ("faultString", s("BAD_NAME: x")),
            ]),
            st(&[("statecode", Value::Int(1))]),
        ]);
        let r = multicall_results(&v).unwrap();
        assert_eq!(r[0], Ok(Value::Int(23400)));
        assert_eq!(r[1].as_ref().unwrap_err().fault(), Some(FaultCode::BadName));
        assert!(r[2].is_ok());
    }
}
