//! XML-RPC values as JSON: an event's body is what the `supvisors.*` method of the same name
//! answers, in the JSON that Supvisors' publisher sends (`zmq.Socket.send_json`).

use serde_json::{Map, Number, Value as Json};
use xmlrpc::Value;

/// `value` as JSON: ints, booleans, strings and doubles as themselves, arrays and structs as
/// arrays and objects (key order kept), nil as null, a date-time as its ISO text, base64 as
/// its text. A pre-rendered fragment has no JSON form: null (the replies turned into events
/// are built without them).
pub fn from_xmlrpc(value: &Value) -> Json {
    match value {
        Value::Int(n) => Json::from(*n),
        Value::I8(n) => Json::from(*n),
        Value::Bool(b) => Json::Bool(*b),
        Value::String(s) | Value::DateTime(s) => Json::String(s.clone()),
        Value::Double(d) => Number::from_f64(*d).map_or(Json::Null, Json::Number),
        Value::Base64(bytes) => Json::String(String::from_utf8_lossy(bytes).into_owned()),
        Value::Array(items) => Json::Array(items.iter().map(from_xmlrpc).collect()),
        Value::Struct(members) => Json::Object(
            members
                .iter()
                .map(|(k, v)| (k.clone(), from_xmlrpc(v)))
                .collect::<Map<_, _>>(),
        ),
        _ => Json::Null,
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
            from_xmlrpc(&v),
            serde_json::json!({
                "statecode": 20, "statename": "RUNNING", "expected_exit": true,
                "identifiers": ["s1"], "nothing": null
            })
        );
    }
}
