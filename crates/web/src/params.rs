//! Parameter coercions with Python's leniency. Supervisor's methods receive whatever the client
//! sent and convert it the way Python would (`int(offset)`, `if wait:`), so `"12"` is a valid
//! offset and `0` a valid `wait`. Values Python could not convert become faults here instead of
//! Supervisor's HTTP 500.

use model::{Fault, FaultCode};
use xmlrpc::Value;

/// Short Python-like rendering of a value for fault texts.
pub fn describe(value: &Value) -> String {
    match value {
        Value::Int(n) => n.to_string(),
        Value::I8(n) => n.to_string(),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        Value::String(s) => s.clone(),
        Value::Double(d) => d.to_string(),
        Value::DateTime(s) => s.clone(),
        Value::Base64(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Array(_) => "array".to_string(),
        Value::Struct(_) => "struct".to_string(),
        Value::Nil => "None".to_string(),
        // Never received (the parser does not produce it); kept short for a fault text.
        Value::Raw(_) => "raw".to_string(),
    }
}

fn incorrect(what: &str, value: &Value) -> Fault {
    Fault::with(
        FaultCode::IncorrectParameters,
        format!("{what}: {}", describe(value)),
    )
}

/// A string parameter (a name, a signal name, stdin data). `base64` counts as a string because
/// Supervisor's request decoder turns it into one.
pub fn string(value: &Value, what: &str) -> Result<String, Fault> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Base64(b) => Ok(String::from_utf8_lossy(b).into_owned()),
        other => Err(incorrect(what, other)),
    }
}

/// Python's `int(x)`: ints, booleans, doubles (truncated) and decimal strings (surrounding
/// whitespace allowed).
pub fn int(value: &Value, what: &str) -> Result<i64, Fault> {
    match value {
        Value::Int(n) => Ok(i64::from(*n)),
        Value::I8(n) => Ok(*n),
        Value::Bool(b) => Ok(i64::from(*b)),
        Value::Double(d) if d.is_finite() => Ok(d.trunc() as i64),
        Value::String(s) => s.trim().parse::<i64>().map_err(|_| incorrect(what, value)),
        other => Err(incorrect(what, other)),
    }
}

/// Python truthiness (`if wait:`).
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Int(n) => *n != 0,
        Value::I8(n) => *n != 0,
        Value::Bool(b) => *b,
        Value::String(s) | Value::DateTime(s) => !s.is_empty(),
        Value::Double(d) => *d != 0.0,
        Value::Base64(b) => !b.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Struct(s) => !s.is_empty(),
        Value::Nil => false,
        // A rendered fragment is never empty and never received; treated as a non-empty value.
        Value::Raw(fragment) => !fragment.is_empty(),
    }
}

/// An optional boolean parameter that defaults to `true` (`wait=True`).
pub fn wait_flag(params: &[Value], index: usize) -> bool {
    params.get(index).is_none_or(truthy)
}

/// A signal as Supervisor's `signal_number` accepts it: a name or a number, possibly as text.
/// The text is passed on unchanged; the supervisor validates it (BAD_SIGNAL).
pub fn signal(value: &Value) -> Result<String, Fault> {
    match value {
        Value::Int(n) => Ok(n.to_string()),
        Value::I8(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(i32::from(*b).to_string()),
        Value::String(_) | Value::Base64(_) => string(value, "signal"),
        other => Err(Fault::with(FaultCode::BadSignal, describe(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_are_converted_like_python_int() {
        assert_eq!(int(&Value::Int(5), "offset"), Ok(5));
        assert_eq!(int(&Value::String(" -12 ".into()), "offset"), Ok(-12));
        assert_eq!(int(&Value::Bool(true), "offset"), Ok(1));
        assert_eq!(int(&Value::Double(3.9), "offset"), Ok(3));
        let err = int(&Value::String("x".into()), "offset").unwrap_err();
        assert_eq!(err.code, FaultCode::IncorrectParameters);
        assert_eq!(err.fault_string(), "INCORRECT_PARAMETERS: offset: x");
        assert!(int(&Value::Array(vec![]), "offset").is_err());
    }

    #[test]
    fn wait_defaults_to_true_and_follows_truthiness() {
        assert!(wait_flag(&[], 1));
        assert!(wait_flag(&[Value::Nil, Value::Bool(true)], 1));
        assert!(!wait_flag(&[Value::Nil, Value::Bool(false)], 1));
        assert!(!wait_flag(&[Value::Nil, Value::Int(0)], 1));
        assert!(wait_flag(&[Value::Nil, Value::String("no".into())], 1));
        assert!(!wait_flag(&[Value::Nil, Value::String(String::new())], 1));
    }

    #[test]
    fn strings_and_signals() {
        assert_eq!(string(&Value::String("a".into()), "name"), Ok("a".into()));
        assert_eq!(
            string(&Value::Base64(b"hi".to_vec()), "chars"),
            Ok("hi".into())
        );
        assert_eq!(
            string(&Value::Int(3), "name").unwrap_err().code,
            FaultCode::IncorrectParameters
        );
        assert_eq!(signal(&Value::Int(9)), Ok("9".into()));
        assert_eq!(signal(&Value::String("HUP".into())), Ok("HUP".into()));
        assert_eq!(
            signal(&Value::Array(vec![])).unwrap_err().code,
            FaultCode::BadSignal
        );
    }
}
