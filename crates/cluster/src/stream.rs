//! The append-entries stream: one persistent TCP connection per leader → follower pair that
//! carries the Raft heartbeats and log entries as length-delimited frames, instead of one HTTP
//! request each.
//!
//! Why: an idle cluster's leader sends a heartbeat to each follower every 1.5 heartbeat
//! intervals, and that traffic is nearly all of its idle cost. As HTTP requests each went
//! through hyper's client pool and its connection task, a request head, the server's parser
//! and router and a response head; as frames, a heartbeat is one write and one read on each
//! side, done by openraft's replication task itself.
//!
//! ```text
//!  leader (network::Connection)                 follower (server)
//!   TCP connect ─────────────────────────────►  accept (a connection slot, as any request)
//!   POST /raft/stream + signature headers  ───►  authenticated from the head, as any request
//!   Upgrade: raftvisor-append/1                  (refused: 401/403/503, the stream never opens)
//!                                          ◄───  101 Switching Protocols
//!   [u32 length][AppendRequest]  ──────────────►  the same handling as POST /raft/append
//!                                          ◄───  [u32 length][AppendAnswer]
//!   ... one frame each way per call, in order, until either side closes
//! ```
//!
//! The peer is authenticated when the stream opens, and every frame carries a seal derived
//! from the token of that head, with a sequence number per direction ([`FrameSeal`]): a frame
//! injected into the connection, replayed, reordered or taken from another stream is refused
//! and closes the stream. A frame over
//! [`crate::wire::MAX_BODY_BYTES`] ends the stream before it is buffered. Any error, or a call
//! that outlives its timeout, closes the stream (a half-read frame would shift every later
//! one); the next call opens a new one.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hyper::header::{HeaderValue, CONNECTION, HOST, UPGRADE};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use model::net::HostPort;
use tokio::net::TcpStream;
use tokio_util::codec::{Framed, FramedParts, LengthDelimitedCodec};

use crate::auth::FrameSeal;
use crate::wire::{MAX_BODY_BYTES, PATH_STREAM, STREAM_PROTOCOL};

/// Why a stream could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// No TCP connection (refused, unreachable, or no answer to the connect).
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The peer answered the upgrade with an HTTP status other than 101.
    #[error("stream refused: HTTP {status}: {text}")]
    Refused { status: u16, text: String },
    /// The peer closed the stream (EOF, reset, broken pipe): a restart, or an idle close.
    #[error("the stream was closed by the peer: {0}")]
    Closed(String),
    /// Anything else on the wire (a bad frame, a bad upgrade answer).
    #[error("{0}")]
    Protocol(String),
}

/// The frames' codec: a 4-byte big-endian length, then the body; a frame over
/// [`MAX_BODY_BYTES`] is an error before it is buffered. Public for the fuzz target of the
/// internal port's frames (`crates/fuzz`).
pub fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .max_frame_length(usize::try_from(MAX_BODY_BYTES).unwrap_or(usize::MAX))
        .new_codec()
}

/// The framed TCP stream under an upgraded HTTP/1 connection. hyper hands the connection back
/// as the type it was served on (a `TokioIo<TcpStream>` on both sides here), with what it had
/// read past the upgrade's head; frames then go straight to the socket, without hyper's
/// dynamic I/O in between.
pub(crate) fn framed(
    upgraded: Upgraded,
) -> Result<Framed<TcpStream, LengthDelimitedCodec>, String> {
    let parts = upgraded
        .downcast::<TokioIo<TcpStream>>()
        .map_err(|_| "an upgraded connection that is not a TCP stream".to_string())?;
    let mut framed = FramedParts::new::<Bytes>(parts.io.into_inner(), codec());
    framed.read_buf.extend_from_slice(&parts.read_buf);
    Ok(Framed::from_parts(framed))
}

/// Sorts an I/O error of a stream that was working: the peer closing it is told apart (the
/// caller may retry at once on a new connection) from the rest.
fn io_error(e: std::io::Error) -> StreamError {
    use std::io::ErrorKind::*;
    match e.kind() {
        UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe | NotConnected => {
            StreamError::Closed(e.to_string())
        }
        _ => StreamError::Protocol(e.to_string()),
    }
}

/// The client end of an append-entries stream.
pub struct AppendStream {
    framed: Framed<TcpStream, LengthDelimitedCodec>,
    seal: FrameSeal,
}

impl AppendStream {
    /// Connects to `addr` and upgrades the connection, signing the upgrade request with
    /// `signature` (the headers every internal request carries); its frames are sealed with
    /// `seal` (derived from that signature's token). The caller bounds the time.
    pub async fn open(
        addr: &HostPort,
        signature: &[(&'static str, HeaderValue)],
        seal: FrameSeal,
        connect_timeout: Duration,
    ) -> Result<AppendStream, StreamError> {
        let connect = TcpStream::connect((addr.host(), addr.port()));
        let tcp = tokio::time::timeout(connect_timeout, connect)
            .await
            .map_err(|_| StreamError::Connect(format!("no answer within {connect_timeout:?}")))?
            .map_err(|e| StreamError::Connect(e.to_string()))?;
        // Heartbeats are small: without NODELAY they could wait on delayed ACKs.
        tcp.set_nodelay(true)
            .map_err(|e| StreamError::Connect(format!("TCP_NODELAY: {e}")))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake::<
            _,
            http_body_util::Empty<Bytes>,
        >(TokioIo::new(tcp))
        .await
        .map_err(|e| StreamError::Protocol(format!("HTTP handshake: {e}")))?;
        let mut request = hyper::Request::post(PATH_STREAM)
            .header(HOST, addr.to_string())
            .header(CONNECTION, HeaderValue::from_static("upgrade"))
            .header(UPGRADE, HeaderValue::from_static(STREAM_PROTOCOL))
            .body(http_body_util::Empty::new())
            .map_err(|e| StreamError::Protocol(e.to_string()))?;
        for (name, value) in signature {
            request.headers_mut().insert(*name, value.clone());
        }
        // The connection future must run while the request is answered; it ends once the
        // upgrade takes the connection over (or once the sender is dropped on a refusal).
        let exchange = async move {
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| StreamError::Protocol(format!("stream upgrade request: {e}")))?;
            let status = response.status();
            if status != hyper::StatusCode::SWITCHING_PROTOCOLS {
                use http_body_util::BodyExt;
                let body = http_body_util::Limited::new(response.into_body(), 4096)
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                return Err(StreamError::Refused {
                    status: status.as_u16(),
                    text: String::from_utf8_lossy(&body).chars().take(200).collect(),
                });
            }
            hyper::upgrade::on(response)
                .await
                .map_err(|e| StreamError::Protocol(format!("stream upgrade: {e}")))
        };
        let (upgraded, _) = tokio::join!(exchange, connection.with_upgrades());
        let framed = framed(upgraded?).map_err(StreamError::Protocol)?;
        Ok(AppendStream { framed, seal })
    }

    /// Sends one frame and reads the answer's. The caller bounds the time and drops the
    /// stream on any error or timeout.
    pub async fn call(&mut self, body: Bytes) -> Result<Bytes, StreamError> {
        let frame = Bytes::from(self.seal.seal(&body));
        self.framed.send(frame).await.map_err(io_error)?;
        match self.framed.next().await {
            Some(Ok(answer)) => self
                .seal
                .open(&answer)
                .map(Bytes::copy_from_slice)
                .map_err(|e| StreamError::Protocol(format!("answer frame refused: {e}"))),
            Some(Err(e)) => Err(io_error(e)),
            None => Err(StreamError::Closed("end of stream".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use tokio_util::codec::{Decoder, Encoder};

    #[test]
    fn a_frame_over_the_limit_is_refused_from_its_length_alone() {
        let mut codec = codec();
        // One byte over the limit announced, 4 bytes of it sent: an error now, nothing waits
        // for (or buffers) the rest.
        let over = u32::try_from(MAX_BODY_BYTES + 1).unwrap();
        let mut announced = BytesMut::from(&over.to_be_bytes()[..]);
        announced.extend_from_slice(b"abcd");
        assert!(codec.decode(&mut announced).is_err());
        // Within the limit, a frame round-trips.
        let mut wire = BytesMut::new();
        codec
            .encode(Bytes::from_static(b"heartbeat"), &mut wire)
            .unwrap();
        assert_eq!(&wire[..4], &9u32.to_be_bytes());
        assert_eq!(&codec.decode(&mut wire).unwrap().unwrap()[..], b"heartbeat");
    }
}
