//! The HTTP front of raftvisord: Supervisor's XML-RPC API (`system` and `supervisor`
//! namespaces, wire-compatible with supervisord 4.3.0 clients), the `/logtail` and
//! `/mainlogtail` streaming endpoints and a minimal status page, served by warp on listeners
//! the daemon binds, behind optional basic auth.
//!
//! It is not the supervisor: every operation goes through the [`procman::SupervisorApi`] trait,
//! and this crate only decodes requests, checks names and arity, routes `group:*` namespecs and
//! encodes results. It is not the XML codec either: `crates/xmlrpc` is used only through the
//! private `codec` module.
//!
//! ```text
//!  TcpListener / UnixListener (bound by the daemon)
//!     └─ server::serve_* ── accept, TCP_NODELAY, optional TLS (tls), hyper HTTP/1.1, graceful shutdown
//!          └─ http::App::handle ── basic auth (full or read-only user), Supervisor's handler order
//!               ├─ /RPC2 ── codec::parse_method_call ─ Rpc::call ─ codec::render_*
//!               │             ├─ system.*        (listMethods, methodHelp, methodSignature, multicall)
//!               │             ├─ supervisor.*    (supervisor_ns → SupervisorApi)
//!               │             └─ other Namespace (e.g. supvisors, registered in ServerOptions)
//!               ├─ /logtail, /mainlogtail ── logtail::follow (tail -f, ends at shutdown)
//!               ├─ /events ── the daemon's EventSource as Server-Sent Events
//!               ├─ /<ns>/<method>/… ── rest::resolve ─ Rpc::call ─ JSON (and /openapi.json, /api)
//!               └─ /metrics ── the daemon's MetricsHooks (also told of every /RPC2 call)
//! ```

mod auth;
pub mod caller;
mod codec;
pub mod encode;
mod http;
pub mod logtail;
pub mod namespace;
pub mod params;
pub mod rest;
pub mod rpc;
mod server;
pub mod supervisor_ns;
pub mod tls;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests_dispatch;
#[cfg(test)]
mod tests_http;

pub use auth::Access;
pub use namespace::{MethodDef, Namespace};
pub use rpc::{dispatch, NamespaceError, Rpc};
pub use server::{
    serve_tcp, serve_unix, EventSource, MetricsHooks, ServerOptions, DEFAULT_MAX_BODY_BYTES,
};
pub use supervisor_ns::{SupervisorNamespace, API_VERSION, SUPERVISOR_VERSION};
