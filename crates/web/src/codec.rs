//! The only place this crate touches the XML codec (`crates/xmlrpc`), so that a change of its
//! API is a one-file change here.

pub use xmlrpc::{parse_method_call, render_fault, render_response};
