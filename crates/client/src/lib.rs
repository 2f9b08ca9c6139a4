//! Typed async client for Supervisor's XML-RPC API, as served by raftvisord and by the Python
//! supervisord 4.x.
//!
//! What it is: one [`Client`] per server, talking HTTP/1.1 over TCP (`http://host:port`,
//! optionally with a path such as `/RPC2`; `https://` with rustls, trusting the system's roots
//! or [`ClientBuilder::tls_ca`]) or over a Unix socket (`unix:///path/to.sock`), with
//! optional basic auth, one persistent connection reused across calls, and an optional per-call
//! timeout. Every method of the `system` and `supervisor` namespaces has a typed wrapper; any
//! other method (for instance the `supvisors.*` namespace) goes through [`Client::call`].
//! [`Client::tail_follow`] streams `/logtail/...` like `supervisorctl tail -f`.
//!
//! What it is not: a server, a config reader, or a retry policy. Faults are returned as
//! [`Error::Fault`] with the numeric code and the typed [`model::FaultCode`] when known; the
//! caller decides what a fault means for it.
//!
//! ```text
//!  typed method ──► wire::render_method_call ──► transport (POST /RPC2) ──► supervisord
//!  typed struct ◄── types::*::from_value ◄── wire::parse_response ◄──────────┘
//! ```
//!
//! # Example
//!
//! ```no_run
//! use client::{Client, Error};
//! use model::FaultCode;
//!
//! # async fn demo() -> Result<(), Error> {
//! let c = Client::builder("http://127.0.0.1:9001")
//!     .credentials("user", "123")
//!     .timeout(std::time::Duration::from_secs(30))
//!     .build()?;
//! println!("daemon is {}", c.get_state().await?.statename);
//! for p in c.get_all_process_info().await? {
//!     println!("{:<30} {:<10} {}", p.namespec(), p.statename, p.description);
//! }
//! match c.stop_process("web", true).await {
//!     Ok(_) => println!("web stopped"),
//!     Err(e) if e.fault_code() == Some(FaultCode::NotRunning) => println!("web was not running"),
//!     Err(e) => return Err(e),
//! }
//! // Namespaces without a typed wrapper:
//! let raw = c.call("supvisors.get_supvisors_state", &[]).await?;
//! println!("{raw:?}");
//! # Ok(())
//! # }
//! ```

mod client;
mod error;
mod tail;
mod tls;
mod transport;
mod types;
mod url;
mod wire;

pub use client::{Client, ClientBuilder};
pub use error::Error;
pub use tail::{Channel, LogStream};
pub use types::{
    multicall_results, ActionOutcome, ConfigChanges, ConfigInfo, DecodeError, LogTail,
    MulticallFault, ProcessInfo, ProcessResult, StateInfo,
};
pub use url::{Endpoint, ServerUrl};
pub use xmlrpc::Value;
