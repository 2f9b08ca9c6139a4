//! XML-RPC codec on quick-xml, with Supervisor's wire conventions.
//!
//! Contract (other crates build against these signatures):
//! - `Value` is the dynamically typed XML-RPC value.
//! - `parse_method_call(body)` decodes a request (server side).
//! - `render_response(&Value)` / `render_fault(code, text)` encode a reply as Python's
//!   `xmlrpc.client.dumps(..., methodresponse=True)` does.
//! - `render_method_call(name, params)` / `parse_response(body)` are the client side.

/// An XML-RPC value. Structs keep member order (Supervisor's clients don't care, but stable
/// output makes diffs and tests readable).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i32),
    /// `<i8>`: accepted when parsing; never produced for Supervisor's namespaces.
    I8(i64),
    Bool(bool),
    String(String),
    Double(f64),
    /// `dateTime.iso8601` text, e.g. `20260101T10:00:00`.
    DateTime(String),
    Base64(Vec<u8>),
    Array(Vec<Value>),
    Struct(Vec<(String, Value)>),
    Nil,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MethodCall {
    pub name: String,
    pub params: Vec<Value>,
}

/// Why a body is not valid XML-RPC. Carries a human-readable reason with a byte position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid XML-RPC at byte {position}: {reason}")]
pub struct ParseError {
    pub position: u64,
    pub reason: String,
}
