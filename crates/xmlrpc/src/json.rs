//! XML-RPC values as JSON: what the event interface sends (an event's body is what the
//! `supvisors.*` method of the same name answers, as Supvisors' publisher sends it with
//! `zmq.Socket.send_json`) and what the REST form of the API answers (as `supvisorsflask`
//! answers with Flask's `jsonify`).

use serde_json::{Map, Number, Value as Json};

use crate::Value;

/// `value` as JSON: ints, booleans, strings and doubles as themselves, arrays and structs as
/// arrays and objects (key order kept), nil as null, a date-time as its ISO text, base64 as
/// its text. A pre-rendered fragment ([`Value::Raw`]) is read back first.
pub fn to_json(value: &Value) -> Json {
    match value {
        Value::Int(n) => Json::from(*n),
        Value::I8(n) => Json::from(*n),
        Value::Bool(b) => Json::Bool(*b),
        Value::String(s) | Value::DateTime(s) => Json::String(s.clone()),
        Value::Double(d) => Number::from_f64(*d).map_or(Json::Null, Json::Number),
        Value::Base64(bytes) => Json::String(String::from_utf8_lossy(bytes).into_owned()),
        Value::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Struct(members) => Json::Object(
            members
                .iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect::<Map<_, _>>(),
        ),
        Value::Nil => Json::Null,
        Value::Raw(_) => {
            // The renderer writes the fragment as is; the parser reads it back as a value.
            let xml = crate::render_response(value);
            match crate::parse_response(xml.as_bytes()) {
                Ok(Ok(parsed)) if !matches!(parsed, Value::Raw(_)) => to_json(&parsed),
                _ => Json::Null,
            }
        }
    }
}

/// JSON as an XML-RPC value, for replies built from serializable figures: integers that fit
/// an `<int>` as ints, other numbers as doubles, null as nil, the rest as itself.
pub fn from_json(json: &Json) -> Value {
    match json {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64().and_then(|i| i32::try_from(i).ok()) {
            Some(i) => Value::Int(i),
            None => Value::Double(n.as_f64().unwrap_or_default()),
        },
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::Array(items.iter().map(from_json).collect()),
        Json::Object(members) => Value::Struct(
            members
                .iter()
                .map(|(k, v)| (k.clone(), from_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_struct_keeps_its_members_and_their_types() {
        let v = Value::Struct(vec![
            ("statecode".into(), Value::Int(20)),
            ("statename".into(), Value::String("RUNNING".into())),
            ("expected_exit".into(), Value::Bool(true)),
            (
                "identifiers".into(),
                Value::Array(vec![Value::String("s1".into())]),
            ),
            ("nothing".into(), Value::Nil),
        ]);
        assert_eq!(
            to_json(&v),
            serde_json::json!({
                "statecode": 20, "statename": "RUNNING", "expected_exit": true,
                "identifiers": ["s1"], "nothing": null
            })
        );
    }

    #[test]
    fn json_comes_back_with_ints_where_they_fit_and_doubles_elsewhere() {
        let json = serde_json::json!({"a": [1, 2.5, 3_000_000_000_i64], "b": null, "c": "x"});
        assert_eq!(
            from_json(&json),
            Value::Struct(vec![
                (
                    "a".into(),
                    Value::Array(vec![Value::Int(1), Value::Double(2.5), Value::Double(3e9)])
                ),
                ("b".into(), Value::Nil),
                ("c".into(), Value::String("x".into())),
            ])
        );
    }

    #[test]
    fn a_pre_rendered_fragment_is_read_back() {
        let v = Value::Array(vec![Value::Struct(vec![
            ("name".into(), Value::String("a & b".into())),
            ("pid".into(), Value::Int(42)),
        ])]);
        let raw = Value::Raw(v.render_fragment().into());
        assert_eq!(to_json(&raw), to_json(&v));
        assert_eq!(
            to_json(&raw),
            serde_json::json!([{"name": "a & b", "pid": 42}])
        );
    }
}
