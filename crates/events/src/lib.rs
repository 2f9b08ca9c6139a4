//! raftvisord's event interface, as Supvisors publishes it: every instance publishes the
//! whole cluster's events from its own replica (Supvisors does the same from its context).
//!
//! ```text
//!  replica (watch) ──► supvisors::SupvisorsNamespace::event_snapshot ──► Snapshot
//!                                  previous Snapshot ──┐                    │
//!                                                      ▼                    ▼
//!                                        diff::events(previous, next) ──► Vec<Event>
//!                                                      │ bounded queue (drops counted)
//!                                                      ▼
//!                                        zmq::Publisher: PUB socket, [header, JSON body]
//! ```
//!
//! The diff is pure ([`diff`]); the bodies are the `supvisors.*` XML-RPC replies as JSON
//! ([`json::from_xmlrpc`]), so an event says exactly what a poll of the same method would.

pub mod diff;
pub mod json;
pub mod zmq;

pub use diff::{events, LocalProcess, Snapshot};
pub use zmq::{EventsError, Publisher, PublisherStats};

/// Supvisors 0.14's event headers (`ttypes.EventHeaders`): the first frame of each message,
/// which subscribers filter on by prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Header {
    /// The cluster's state and jobs (`get_supvisors_state`).
    Supvisors,
    /// One instance's status (`get_instance_info`), at each of its committed ticks.
    Instance,
    /// One application's status (`get_application_info`).
    Application,
    /// One process's synthetic status (`get_process_info`).
    ProcessStatus,
    /// One process's state change on one instance, as its Supervisor reported it.
    ProcessEvent,
}

impl Header {
    /// The header frame's text.
    pub fn as_str(self) -> &'static str {
        match self {
            Header::Supvisors => "supvisors",
            Header::Instance => "instance",
            Header::Application => "application",
            Header::ProcessStatus => "process",
            Header::ProcessEvent => "event",
        }
    }
}

/// One message: its header and its JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub header: Header,
    pub body: serde_json::Value,
}

/// Publishes, at each change of `changes`, the events between the previous snapshot and the
/// one `snapshot` takes then, until `stop` or the end of `changes`. The first snapshot is the
/// starting point: a subscriber learns of changes, as with Supvisors (whose subscribers ask
/// the XML-RPC API for the state they start from). `changes` coalesces: a burst of changes
/// is published as the differences up to the latest state, each message once.
pub async fn feed<T>(
    snapshot: impl Fn() -> Snapshot,
    mut changes: tokio::sync::watch::Receiver<T>,
    publisher: Publisher,
    stop: tokio_util::sync::CancellationToken,
) {
    changes.borrow_and_update();
    let mut previous = snapshot();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
        changes.borrow_and_update();
        let next = snapshot();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        for event in events(&previous, &next, now) {
            publisher.publish(event);
        }
        previous = next;
    }
}
