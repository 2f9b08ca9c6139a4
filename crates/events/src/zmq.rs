//! The ZeroMQ publisher: a PUB socket sending each event as Supvisors 0.14 does, two frames,
//! the header's text then the JSON body (`send_string(header, SNDMORE)`, `send_json(body)`),
//! so Supvisors' own subscribers (`supvisors.client.subscriber`, the Java one) read it as is.
//!
//! A slow or stuck subscriber never holds the daemon up: events wait in a bounded queue that
//! [`Publisher::publish`] never waits on (a full queue drops the event and counts it), and
//! the socket gives each subscriber its own bounded queue and drops what does not fit, as
//! ZeroMQ's PUB sockets do (RFC 29: "SHALL silently drop the message if the queue for a
//! subscriber is full").

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use zeromq::{Socket, SocketSend, ZmqMessage};

use crate::Event;

/// Events that may wait for the socket: a burst of a few thousand process changes.
pub const QUEUE: usize = 16_384;

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// The event port could not be bound (in use, or an address not of this host).
    #[error("event_port: cannot bind tcp://{addr}: {reason}")]
    Bind { addr: SocketAddr, reason: String },
}

/// What the publisher did since it started.
#[derive(Debug, Default)]
pub struct PublisherStats {
    published: AtomicU64,
    dropped: AtomicU64,
}

impl PublisherStats {
    /// Events handed to the socket.
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }

    /// Events dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The way to the PUB socket's task.
#[derive(Debug, Clone)]
pub struct Publisher {
    queue: mpsc::Sender<Event>,
    stats: Arc<PublisherStats>,
}

impl Publisher {
    /// Binds a PUB socket on `addr` and starts the task that sends the events given to
    /// [`Publisher::publish`], until `stop`.
    pub async fn bind(
        addr: SocketAddr,
        stop: CancellationToken,
    ) -> Result<(Publisher, JoinHandle<()>), EventsError> {
        let mut socket = zeromq::PubSocket::new();
        let endpoint = match addr {
            SocketAddr::V4(a) => format!("tcp://{a}"),
            SocketAddr::V6(a) => format!("tcp://[{}]:{}", a.ip(), a.port()),
        };
        socket
            .bind(&endpoint)
            .await
            .map_err(|e| EventsError::Bind {
                addr,
                reason: e.to_string(),
            })?;
        let (queue, mut events) = mpsc::channel::<Event>(QUEUE);
        let stats = Arc::new(PublisherStats::default());
        let task_stats = stats.clone();
        let task = tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    _ = stop.cancelled() => break,
                    event = events.recv() => match event {
                        Some(event) => event,
                        None => break,
                    },
                };
                let mut message = ZmqMessage::from(event.header.as_str());
                message.push_back(Bytes::from(event.body.to_string()));
                if let Err(e) = socket.send(message).await {
                    tracing::warn!(error = %e, "event not published");
                    continue;
                }
                task_stats.published.fetch_add(1, Ordering::Relaxed);
            }
            let _ = socket.close().await;
        });
        Ok((Publisher { queue, stats }, task))
    }

    /// Queues `event` for the socket without waiting; false (and counted) when the queue is
    /// full or the publisher has stopped.
    pub fn publish(&self, event: Event) -> bool {
        let sent = self.queue.try_send(event).is_ok();
        if !sent {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
        sent
    }

    pub fn stats(&self) -> &PublisherStats {
        &self.stats
    }
}
