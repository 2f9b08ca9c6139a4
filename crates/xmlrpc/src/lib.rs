//! XML-RPC codec on quick-xml, with Supervisor's wire conventions.
//!
//! What it is: the pure, I/O-free translation between XML-RPC documents and [`Value`]s, for both
//! ends of the wire. What it is not: an HTTP layer, a method dispatcher or a typed client; those
//! live in `crates/web` and `crates/client` and call into this crate with bodies already in
//! memory.
//!
//! ```text
//!   server:  HTTP body --parse_method_call--> MethodCall --(dispatch)--> Value | Fault
//!                                                 render_response / render_fault --> HTTP body
//!   client:  name + params --render_method_call--> HTTP body
//!            HTTP body --parse_response--> Ok(Value) | Err(FaultResponse)
//! ```
//!
//! Contract (other crates build against these signatures):
//! - `Value` is the dynamically typed XML-RPC value.
//! - `parse_method_call(body)` decodes a request (server side).
//! - `render_response(&Value)` / `render_fault(code, text)` encode a reply as Python's
//!   `xmlrpc.client.dumps(..., methodresponse=True)` does.
//! - `render_method_call(name, params)` / `parse_response(body)` are the client side.
//!
//! Rendering reproduces Python's output byte for byte (Supervisor's clients and tests compare
//! bodies), including its quirks: only `& < >` are escaped, `<nil/>` carries no trailing
//! newline, base64 is wrapped at 76 columns. Parsing is strict about structure but lenient
//! about whitespace where XML-RPC clients differ; it treats every body as hostile: no DTD, no
//! custom entities, bounded nesting, no panics.

pub mod json;
mod parse;
mod render;
mod value;

pub use json::{from_json, to_json};
pub use parse::{parse_method_call, parse_response, MAX_NESTING};
pub use render::{render_fault, render_method_call, render_model_fault, render_response};

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
    /// An already-rendered `<value>…</value>` fragment (as [`Value::render_fragment`] writes
    /// it, trailing newline included), written verbatim by the renderers. Server-side only: it
    /// lets a method cache the rendering of a large reply that changes rarely. The parsers never
    /// produce it, and its content is trusted (not checked to be well-formed XML-RPC).
    Raw(std::sync::Arc<str>),
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

/// A `<fault>` answer decoded on the client side: the server understood the call and refused
/// it. Kept apart from [`ParseError`] because a fault is a valid, expected answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fault {code}: {string}")]
pub struct FaultResponse {
    pub code: i32,
    pub string: String,
}

impl FaultResponse {
    /// The Supervisor fault this answer denotes, when the code is one of the known ones.
    /// `faultString` is `NAME` or `NAME: extra`; the extra text is recovered only when the
    /// string starts with the code's own name, otherwise the whole string becomes the extra.
    pub fn to_fault(&self) -> Option<model::Fault> {
        let code = model::FaultCode::from_code(self.code)?;
        let name = code.name();
        let extra = if self.string == name {
            None
        } else if let Some(rest) = self
            .string
            .strip_prefix(name)
            .and_then(|r| r.strip_prefix(": "))
        {
            Some(rest.to_string())
        } else {
            Some(self.string.clone())
        };
        Some(model::Fault { code, extra })
    }
}

#[cfg(test)]
mod parse_tests;
#[cfg(test)]
mod python_tests;

#[cfg(test)]
mod fault_response_tests {
    use super::*;
    use model::{Fault, FaultCode};

    #[test]
    fn to_fault_recovers_name_and_extra() {
        let f = FaultResponse {
            code: 10,
            string: "BAD_NAME: foo:bar".into(),
        };
        assert_eq!(
            f.to_fault(),
            Some(Fault::with(FaultCode::BadName, "foo:bar"))
        );
        let f = FaultResponse {
            code: 70,
            string: "NOT_RUNNING".into(),
        };
        assert_eq!(f.to_fault(), Some(Fault::new(FaultCode::NotRunning)));
        let f = FaultResponse {
            code: 30,
            string: "something else".into(),
        };
        assert_eq!(
            f.to_fault(),
            Some(Fault::with(FaultCode::Failed, "something else"))
        );
        let f = FaultResponse {
            code: 12345,
            string: "x".into(),
        };
        assert_eq!(f.to_fault(), None);
    }
}
