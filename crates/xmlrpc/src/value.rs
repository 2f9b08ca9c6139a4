//! Conversions into [`Value`] and typed accessors out of it, so that a typed client (and the
//! server's parameter checks) read `v.get("statename")?.as_str()` instead of matching by hand.

use crate::Value;

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<i32> for Value {
    fn from(i: i32) -> Self {
        Value::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(d: f64) -> Self {
        Value::Double(d)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Self {
        Value::Array(items)
    }
}

/// Struct members in the given order.
impl From<Vec<(String, Value)>> for Value {
    fn from(members: Vec<(String, Value)>) -> Self {
        Value::Struct(members)
    }
}

impl Value {
    /// Builds a struct from `(&str, impl Into<Value>)` pairs, keeping their order; the common
    /// shape of Supervisor's answers (`{"name": .., "state": ..}`).
    pub fn structure<K, V, I>(members: I) -> Self
    where
        K: Into<String>,
        V: Into<Value>,
        I: IntoIterator<Item = (K, V)>,
    {
        Value::Struct(
            members
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// The XML-RPC type name (`int`, `string`, ...), for error messages such as
    /// "expected string, got int".
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::I8(_) => "i8",
            Value::Bool(_) => "boolean",
            Value::String(_) => "string",
            Value::Double(_) => "double",
            Value::DateTime(_) => "dateTime.iso8601",
            Value::Base64(_) => "base64",
            Value::Array(_) => "array",
            Value::Struct(_) => "struct",
            Value::Nil => "nil",
            // Not an XML-RPC type: a rendered fragment, only ever sent, never received.
            Value::Raw(_) => "raw",
        }
    }

    /// The text of a `string` value; `None` for any other type (no implicit conversion).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// An `int`/`i4`, or an `i8` that fits in 32 bits.
    pub fn as_i32(&self) -> Option<i32> {
        match self {
            Value::Int(i) => Some(*i),
            Value::I8(i) => i32::try_from(*i).ok(),
            _ => None,
        }
    }

    /// Any integer value, widened.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(i64::from(*i)),
            Value::I8(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Double(d) => Some(*d),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Base64(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_struct(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Struct(members) => Some(members),
            _ => None,
        }
    }

    /// The member `key` of a struct; `None` if absent or if `self` is not a struct. When a
    /// (hostile or sloppy) peer repeats a member name the *last* one wins, as in Python's
    /// `dict`, so both implementations read the same value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_struct()?
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_build_the_expected_variants() {
        assert_eq!(Value::from("a"), Value::String("a".into()));
        assert_eq!(Value::from(String::from("b")), Value::String("b".into()));
        assert_eq!(Value::from(-3), Value::Int(-3));
        assert_eq!(Value::from(true), Value::Bool(true));
        assert_eq!(Value::from(1.5), Value::Double(1.5));
        assert_eq!(
            Value::from(vec![Value::from(1)]),
            Value::Array(vec![Value::Int(1)])
        );
        assert_eq!(
            Value::structure([("a", 1), ("b", 2)]),
            Value::Struct(vec![
                ("a".into(), Value::Int(1)),
                ("b".into(), Value::Int(2))
            ])
        );
    }

    #[test]
    fn accessors_are_strict_about_types() {
        assert_eq!(Value::from("x").as_str(), Some("x"));
        assert_eq!(Value::from(1).as_str(), None);
        assert_eq!(Value::from("1").as_i32(), None);
        assert_eq!(Value::I8(5).as_i32(), Some(5));
        assert_eq!(Value::I8(i64::MAX).as_i32(), None);
        assert_eq!(Value::Int(-1).as_i64(), Some(-1));
        assert_eq!(Value::Int(1).as_bool(), None);
        assert_eq!(Value::Bool(false).as_bool(), Some(false));
        assert_eq!(Value::Base64(vec![1]).as_bytes(), Some(&[1u8][..]));
        assert_eq!(Value::Array(vec![]).as_array(), Some(&[][..]));
        assert_eq!(Value::Nil.as_struct(), None);
        assert_eq!(Value::Nil.type_name(), "nil");
    }

    #[test]
    fn get_reads_members_and_last_duplicate_wins() {
        let v = Value::Struct(vec![
            ("name".into(), Value::from("cat")),
            ("pid".into(), Value::from(1)),
            ("pid".into(), Value::from(2)),
        ]);
        assert_eq!(v.get("name").and_then(Value::as_str), Some("cat"));
        assert_eq!(v.get("pid").and_then(Value::as_i32), Some(2));
        assert_eq!(v.get("missing"), None);
        assert_eq!(Value::from("s").get("name"), None);
    }
}
