//! raftvisord's event interface, as Supvisors publishes it: every instance publishes the
//! whole cluster's events from its own replica (Supvisors does the same from its context).
//!
//! ```text
//!  replica (watch) ──► supvisors::SupvisorsNamespace::event_snapshot ──► Snapshot
//!                                  previous Snapshot ──┐                    │
//!                                                      ▼                    ▼
//!                                        diff::events(previous, next) ──► Vec<Event>
//!                                                      │ feed → Sinks
//!                          ┌───────────────────────────┴──────────────────────────┐
//!                          ▼ bounded queue (drops counted)                         ▼
//!        zmq::Publisher: PUB socket, [header, JSON body]      Hub: broadcast, one bounded
//!                                                             buffer per subscriber: the
//!                                                             HTTP port's GET /events, and
//!                                                             ws::serve's clients (event_link
//!                                                             = WS)
//! ```
//!
//! The diff is pure ([`diff`]); the bodies are the `supvisors.*` XML-RPC replies as JSON
//! (`xmlrpc::to_json`), so an event says exactly what a poll of the same method would.

pub mod diff;
pub mod ws;
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
    /// One entry of the cluster's history (raftvisor's own, not in Supvisors:
    /// `supvisors.get_history`'s struct). Supvisors' subscribers ignore a header they do not
    /// know.
    History,
    /// One host's statistics over one period (Supvisors 0.16+'s `hstats`).
    HostStatistics,
    /// One process's statistics over one period on one instance (Supvisors 0.16+'s `pstats`).
    ProcessStatistics,
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
            Header::History => "history",
            Header::HostStatistics => "hstats",
            Header::ProcessStatistics => "pstats",
        }
    }
}

/// One message: its header and its JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub header: Header,
    pub body: serde_json::Value,
}

/// An event as the hub's subscribers take it: its body written out once, however many
/// subscribers read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub header: Header,
    /// The JSON body's text.
    pub body: String,
}

/// The events as a broadcast, for consumers that come and go (the Server-Sent Events of the
/// HTTP port): each subscriber gets the events published after it subscribed, through its
/// own bounded buffer; one that falls behind by more than [`HUB_BUFFER`] loses the oldest,
/// and the loss is counted.
#[derive(Debug, Clone)]
pub struct Hub {
    sender: tokio::sync::broadcast::Sender<std::sync::Arc<Published>>,
    dropped: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Told of each new subscriber, so that the feed takes its starting point at once rather
    /// than at the next change (which it would then not publish).
    joined: std::sync::Arc<tokio::sync::Notify>,
}

/// Events a subscriber of the hub may fall behind by before it loses the oldest.
pub const HUB_BUFFER: usize = 4096;

impl Default for Hub {
    fn default() -> Self {
        Hub {
            sender: tokio::sync::broadcast::channel(HUB_BUFFER).0,
            dropped: Default::default(),
            joined: Default::default(),
        }
    }
}

impl Hub {
    /// Sends `event` to the current subscribers (none: nothing happens).
    pub fn publish(&self, event: &Event) {
        let published = Published {
            header: event.header,
            body: event.body.to_string(),
        };
        let _ = self.sender.send(std::sync::Arc::new(published));
    }

    /// Whether anyone listens (the feed computes nothing for no one).
    pub fn has_subscribers(&self) -> bool {
        self.subscribers() > 0
    }

    /// How many listen now.
    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }

    /// Events lost by subscribers that fell behind, since start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A subscription: the events from now on, as `(header, JSON body text)`.
    pub fn subscribe(&self) -> impl futures_util::Stream<Item = (String, String)> + Send + 'static {
        use futures_util::StreamExt;
        self.subscribe_events()
            .map(|event| (event.header.as_str().to_string(), event.body.clone()))
    }

    /// A subscription: the events from now on.
    pub fn subscribe_events(
        &self,
    ) -> impl futures_util::Stream<Item = std::sync::Arc<Published>> + Send + 'static {
        let receiver = self.sender.subscribe();
        self.joined.notify_one();
        let dropped = self.dropped.clone();
        futures_util::stream::unfold(receiver, move |mut receiver| {
            let dropped = dropped.clone();
            async move {
                loop {
                    match receiver.recv().await {
                        Ok(event) => return Some((event, receiver)),
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            dropped.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                    }
                }
            }
        })
    }
}

/// The event port, bound as the config asks (`event_link`): before the daemon starts its
/// programs, so that a port in use stops it at once rather than after they started.
#[derive(Debug)]
pub enum Transport {
    Zmq(Publisher),
    /// Served by [`ws::serve`] from the hub once the cluster node is up.
    Ws(tokio::net::TcpListener),
}

impl Transport {
    /// Binds `interface`; the ZeroMQ socket's task runs until `stop`.
    pub async fn bind(
        interface: model::supvisors::EventInterface,
        stop: tokio_util::sync::CancellationToken,
    ) -> Result<Transport, EventsError> {
        use model::supvisors::EventLink;
        let addr = interface.addr;
        match interface.link {
            EventLink::Zmq => Ok(Transport::Zmq(Publisher::bind(addr, stop).await?.0)),
            EventLink::Ws => tokio::net::TcpListener::bind(addr)
                .await
                .map(Transport::Ws)
                .map_err(|e| EventsError::Bind {
                    addr,
                    reason: e.to_string(),
                }),
        }
    }
}

/// Where the feed sends the events: the ZeroMQ publisher when the config asks for one, and
/// the hub of the HTTP port's Server-Sent Events and of the WebSocket clients.
#[derive(Debug, Clone, Default)]
pub struct Sinks {
    pub zmq: Option<Publisher>,
    pub hub: Option<Hub>,
}

impl Sinks {
    /// Whether any sink would take an event now.
    pub fn wanted(&self) -> bool {
        self.zmq.is_some() || self.hub.as_ref().is_some_and(Hub::has_subscribers)
    }

    /// Publishes `event` to every sink that wants it (the statistics are published this way,
    /// not by [`feed`]: they do not come from the replica).
    pub fn send(&self, event: Event) {
        if let Some(hub) = self.hub.as_ref().filter(|h| h.has_subscribers()) {
            hub.publish(&event);
        }
        if let Some(zmq) = &self.zmq {
            zmq.publish(event);
        }
    }
}

/// Publishes to `sinks`, at each change of `changes`, the events between the previous
/// snapshot and the one `snapshot` takes then, until `stop` or the end of `changes`.
///
/// A snapshot is taken only while a sink wants one (a ZeroMQ socket always does, the hub
/// while someone listens). The first one, and the first after a time with no one to tell, is
/// a starting point: a subscriber learns of changes, as with Supvisors (whose subscribers ask
/// the XML-RPC API for the state they start from). `changes` coalesces: a burst of changes
/// is published as the differences up to the latest state, each message once.
pub async fn feed<T>(
    snapshot: impl Fn() -> Snapshot,
    mut changes: tokio::sync::watch::Receiver<T>,
    sinks: Sinks,
    stop: tokio_util::sync::CancellationToken,
) {
    let joined = sinks.hub.as_ref().map(|h| h.joined.clone());
    let joined = || async {
        match &joined {
            Some(joined) => joined.notified().await,
            None => std::future::pending().await,
        }
    };
    let mut previous: Option<Snapshot> = None;
    loop {
        if !sinks.wanted() {
            // No one to tell: no snapshot, and no wake-up at each change of the replica
            // either, until someone subscribes.
            previous = None;
            tokio::select! {
                _ = stop.cancelled() => return,
                () = joined() => {}
            }
            continue;
        }
        if previous.is_none() {
            changes.borrow_and_update();
            previous = Some(snapshot());
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
            // Another subscriber starts from the next change, as the others do.
            () = joined() => continue,
        }
        changes.borrow_and_update();
        if !sinks.wanted() {
            continue;
        }
        let next = snapshot();
        if let Some(previous) = &previous {
            let now = model::time::epoch_ms().div_euclid(1000);
            for event in events(previous, &next, now) {
                sinks.send(event);
            }
        }
        previous = Some(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use serde_json::json;

    fn event(n: u64) -> Event {
        Event {
            header: Header::Instance,
            body: json!({ "sequence_counter": n }),
        }
    }

    #[tokio::test]
    async fn a_hub_subscriber_gets_what_follows_and_a_late_one_loses_the_oldest_counted() {
        let hub = Hub::default();
        assert!(!hub.has_subscribers());
        hub.publish(&event(0)); // no one listens: gone
        let mut stream = Box::pin(hub.subscribe());
        assert!(hub.has_subscribers());
        hub.publish(&event(1));
        let (header, body) = stream.next().await.expect("an event");
        assert_eq!(header, "instance");
        assert_eq!(body, r#"{"sequence_counter":1}"#);
        // Falling behind by more than the buffer loses the oldest, counted.
        let extra = 5;
        for n in 0..(HUB_BUFFER as u64 + extra) {
            hub.publish(&event(n));
        }
        let (_, body) = stream.next().await.expect("an event");
        assert_eq!(body, format!(r#"{{"sequence_counter":{extra}}}"#));
        assert_eq!(hub.dropped(), extra);
        drop(stream);
        assert!(!hub.has_subscribers());
    }
}
