//! The event interface over WebSocket, as Supvisors 0.16+ serves it with `event_link = WS`: a
//! client connects to `ws://host:event_port/<header>/<header>…` (or `/all`) and receives each
//! event of those headers as one text message, the JSON array `[header, body]`.
//!
//! Each connection is one subscription of the [`Hub`], so a client that reads slowly loses
//! the oldest events (counted in [`Hub::dropped`]) rather than slowing the daemon, and one
//! whose socket stays full for [`SEND_TIMEOUT`] is closed. As with Supvisors, the event port
//! asks for no credentials: it only tells, and the XML-RPC port stays the way to act.

use crate::{Header, Hub};
use futures_util::{SinkExt, StreamExt};
use std::collections::HashSet;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// How long a client may take to send its opening handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one message may wait for room in a client's socket before the client is dropped.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// The header names Supvisors 0.16+ lets a WebSocket client subscribe to (`all`: every one).
/// `history` is raftvisor's own.
const KNOWN: [&str; 8] = [
    "supvisors",
    "instance",
    "application",
    "event",
    "process",
    "hstats",
    "pstats",
    "history",
];

/// What a client asked for in its URL path: the header names among its segments, every one
/// when a segment is `all`. Unknown segments are ignored, as Supvisors does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription(HashSet<&'static str>);

impl Subscription {
    pub fn from_path(path: &str) -> Subscription {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let all = segments.contains(&"all");
        Subscription(
            KNOWN
                .into_iter()
                .filter(|h| all || segments.contains(h))
                .collect(),
        )
    }

    pub fn wants(&self, header: &str) -> bool {
        self.0.contains(header)
    }
}

/// The text of one message: `[header, body]`, `body` being JSON text already.
pub fn message(header: Header, body: &str) -> String {
    format!("[\"{}\",{body}]", header.as_str())
}

/// Accepts WebSocket clients on `listener` and sends each the events of `hub` it subscribed
/// to, until `stop`.
pub async fn serve(listener: TcpListener, hub: Hub, stop: CancellationToken) {
    loop {
        let stream = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors, mostly: wait rather than spin.
                    tracing::warn!(error = %e, "event interface: cannot accept a WebSocket client");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        tokio::spawn(client(stream, hub.clone(), stop.clone()));
    }
}

// The handshake callback's type is tungstenite's (`Result<Response, ErrorResponse>`).
#[allow(clippy::result_large_err)]
async fn client(stream: TcpStream, hub: Hub, stop: CancellationToken) {
    let peer = stream.peer_addr().ok();
    let mut path = String::new();
    let handshake = tokio_tungstenite::accept_hdr_async(stream, |request: &Request, response| {
        path = request.uri().path().to_string();
        Ok::<Response, _>(response)
    });
    let socket = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(socket)) => socket,
        Ok(Err(e)) => {
            tracing::debug!(?peer, error = %e, "event interface: WebSocket handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(?peer, "event interface: WebSocket handshake timed out");
            return;
        }
    };
    let subscription = Subscription::from_path(&path);
    tracing::debug!(?peer, path, "event interface: WebSocket client subscribed");
    let (mut sink, mut incoming) = socket.split();
    let events = hub.subscribe_events();
    tokio::pin!(events);
    loop {
        tokio::select! {
            _ = stop.cancelled() => {
                let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(Message::Close(None))).await;
                return;
            }
            // Reading answers the client's pings and sees its close.
            read = incoming.next() => match read {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            event = events.next() => {
                let Some(event) = event else { return };
                if !subscription.wants(event.header.as_str()) {
                    continue;
                }
                let text = message(event.header, &event.body);
                match tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::text(text))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return,
                    Err(_) => {
                        tracing::info!(?peer, "event interface: a WebSocket client read nothing for {SEND_TIMEOUT:?}, closed");
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_names_the_headers_and_all_names_every_one() {
        let s = Subscription::from_path("/supvisors/event/unknown/");
        assert!(s.wants("supvisors") && s.wants("event"));
        assert!(!s.wants("process") && !s.wants("instance") && !s.wants("unknown"));
        let all = Subscription::from_path("/all?x=1");
        assert!(KNOWN.iter().all(|h| all.wants(h)));
        assert_eq!(Subscription::from_path("/"), Subscription(HashSet::new()));
    }

    #[test]
    fn a_message_is_a_json_array_of_header_and_body() {
        let text = message(Header::ProcessEvent, r#"{"name":"x","state":20}"#);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v, serde_json::json!(["event", {"name": "x", "state": 20}]));
    }
}
