//! The client side of the internal port: one pooled HTTP/1 client per node ([`PeerClient`]),
//! every call authenticated and bounded by a timeout, and openraft's network traits on top of it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::HeaderValue;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use model::net::HostPort;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::auth::{Signer, HEADER_FINGERPRINT, HEADER_FROM, HEADER_TOKEN};
use crate::carry::Carrier;
use crate::codec::{self, CodecError};
use crate::stream::{AppendStream, StreamError};
use crate::types::{NodeId, NodeInfo, TypeConfig};
use crate::wire::{
    AppendAnswer, AppendRequest, MAX_BODY_BYTES, PATH_SNAPSHOT, PATH_STREAM, PATH_VOTE,
};

/// Why a call on the internal port failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: String, reason: String },
    #[error("no answer from {addr} within {timeout:?}")]
    Timeout { addr: String, timeout: Duration },
    #[error("{addr} answered HTTP {status}: {text}")]
    Status {
        addr: String,
        status: u16,
        text: String,
    },
    #[error("{addr}: {reason}")]
    Transport { addr: String, reason: String },
    #[error("bad body: {0}")]
    Codec(#[from] CodecError),
}

/// How long a pooled connection may stay unused before the client closes it: shorter than the
/// server's `crate::server::HEADER_READ_TIMEOUT`, so the server never closes a connection the
/// client is about to reuse.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a TCP connect to a peer may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// A stream's failure as a call's: a refused upgrade keeps its HTTP status.
fn stream_error(addr: &HostPort, e: StreamError) -> CallError {
    let addr = addr.to_string();
    match e {
        StreamError::Connect(reason) => CallError::Connect { addr, reason },
        StreamError::Refused { status, text } => CallError::Status { addr, status, text },
        e @ (StreamError::Closed(_) | StreamError::Protocol(_)) => CallError::Transport {
            addr,
            reason: e.to_string(),
        },
    }
}

/// A cheap-to-clone handle on one pooled HTTP client that signs every request as this
/// instance: the identity headers never change, so they are built once (a clone of a
/// `HeaderValue` shares its bytes); the token is computed per request ([`crate::auth`]).
#[derive(Clone)]
pub struct PeerClient {
    http: Client<HttpConnector, Full<Bytes>>,
    /// `Err(reason)` when a value is not a valid header (an identifier with control characters):
    /// every call then fails with that reason instead of sending an unsigned request.
    identity: Result<[(&'static str, HeaderValue); 2], String>,
    signer: Arc<Signer>,
}

impl PeerClient {
    pub fn new(signer: Signer) -> Self {
        let value = |name: &str, text: &str| {
            HeaderValue::from_str(text).map_err(|e| format!("header {name} {text:?}: {e}"))
        };
        let identity = (|| {
            Ok([
                (HEADER_FROM, value(HEADER_FROM, signer.from())?),
                (
                    HEADER_FINGERPRINT,
                    value(HEADER_FINGERPRINT, signer.fingerprint())?,
                ),
            ])
        })();
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector);
        PeerClient {
            http,
            identity,
            signer: Arc::new(signer),
        }
    }

    /// The headers that sign a request with `token` (to `addr`, for the errors).
    fn signature(
        &self,
        addr: &HostPort,
        token: &str,
    ) -> Result<Vec<(&'static str, HeaderValue)>, CallError> {
        let failed = |reason: String| CallError::Transport {
            addr: addr.to_string(),
            reason,
        };
        let mut headers = self.identity.clone().map_err(failed)?.to_vec();
        // The token is a credential: `{:?}` of the header shows "Sensitive".
        let mut token = HeaderValue::from_str(token)
            .map_err(|e| failed(format!("header {HEADER_TOKEN}: {e}")))?;
        token.set_sensitive(true);
        headers.push((HEADER_TOKEN, token));
        Ok(headers)
    }

    /// POSTs `body` (already encoded) to `http://addr{path}` and returns the raw answer body of
    /// a 200, all within `timeout`.
    pub async fn post_raw(
        &self,
        addr: &HostPort,
        path: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Bytes, CallError> {
        // `HostPort`'s text form brackets an IPv6 host, as a URL needs.
        let token = self.signer.token(path, &body, model::time::epoch_ms());
        let signature = self.signature(addr, &token)?;
        let mut request = hyper::Request::post(format!("http://{addr}{path}"))
            .header(
                hyper::header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            )
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| CallError::Transport {
                addr: addr.to_string(),
                reason: e.to_string(),
            })?;
        let headers = request.headers_mut();
        for (name, value) in signature {
            headers.insert(name, value);
        }
        let exchange = async {
            let response = self.http.request(request).await.map_err(|e| {
                if e.is_connect() {
                    CallError::Connect {
                        addr: addr.to_string(),
                        reason: e.to_string(),
                    }
                } else {
                    CallError::Transport {
                        addr: addr.to_string(),
                        reason: e.to_string(),
                    }
                }
            })?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_BODY_BYTES as usize)
                .collect()
                .await
                .map_err(|e| CallError::Transport {
                    addr: addr.to_string(),
                    reason: format!("reading the answer: {e}"),
                })?
                .to_bytes();
            if status != hyper::StatusCode::OK {
                return Err(CallError::Status {
                    addr: addr.to_string(),
                    status: status.as_u16(),
                    text: String::from_utf8_lossy(&body).chars().take(200).collect(),
                });
            }
            Ok(body)
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| CallError::Timeout {
                addr: addr.to_string(),
                timeout,
            })?
    }

    /// Opens an append-entries stream to `addr`, signed as every call ([`crate::stream`]).
    pub async fn open_stream(
        &self,
        addr: &HostPort,
        timeout: Duration,
    ) -> Result<AppendStream, CallError> {
        let token = self.signer.token(PATH_STREAM, b"", model::time::epoch_ms());
        let signature = self.signature(addr, &token)?;
        let seal = self.signer.stream_seal(&token);
        let open = AppendStream::open(addr, &signature, seal, CONNECT_TIMEOUT.min(timeout));
        match tokio::time::timeout(timeout, open).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(stream_error(addr, e)),
            Err(_) => Err(CallError::Timeout {
                addr: addr.to_string(),
                timeout,
            }),
        }
    }

    /// Encodes `request`, POSTs it and decodes the answer (size-limited decode).
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        addr: &HostPort,
        path: &str,
        request: &Req,
        timeout: Duration,
    ) -> Result<Resp, CallError> {
        let body = codec::encode(request)?;
        let answer = self.post_raw(addr, path, body, timeout).await?;
        Ok(codec::decode(&answer)?)
    }
}

/// One call on `reused`, or on a stream from `open` when there is none or when `reused` is
/// found closed by the peer (a restart, an idle close: the call is then sent again at once,
/// appends being idempotent). Returns the stream to keep with the answer; any other failure
/// loses the stream. The caller bounds the time.
async fn call_on_stream<O, F>(
    reused: Option<AppendStream>,
    open: O,
    addr: &HostPort,
    body: Bytes,
) -> Result<(AppendStream, Bytes), CallError>
where
    O: FnOnce() -> F,
    F: std::future::Future<Output = Result<AppendStream, CallError>>,
{
    if let Some(mut stream) = reused {
        match stream.call(body.clone()).await {
            Ok(answer) => return Ok((stream, answer)),
            Err(StreamError::Closed(reason)) => {
                tracing::debug!(%addr, %reason, "append stream closed by the peer: reopening");
            }
            Err(e) => return Err(stream_error(addr, e)),
        }
    }
    let mut stream = open().await?;
    let answer = stream.call(body).await.map_err(|e| stream_error(addr, e))?;
    Ok((stream, answer))
}

/// openraft's network factory: hands out [`Connection`]s that share the one [`PeerClient`]
/// (so `new_client`, called per vote round, costs a clone and no connection).
#[derive(Clone)]
pub struct NetworkFactory {
    client: PeerClient,
    backoff: Duration,
    carrier: Arc<Carrier>,
}

impl NetworkFactory {
    /// `backoff`: pause before retrying a peer that refused the connection.
    pub(crate) fn new(client: PeerClient, backoff: Duration, carrier: Arc<Carrier>) -> Self {
        NetworkFactory {
            client,
            backoff,
            carrier,
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, node: &NodeInfo) -> Connection {
        Connection {
            client: self.client.clone(),
            target,
            addr: HostPort::parse(&node.raft_addr),
            node: node.clone(),
            backoff: self.backoff,
            carrier: self.carrier.clone(),
            need_full_sync: None,
            stream: None,
        }
    }
}

/// The Raft RPCs to one peer.
pub struct Connection {
    client: PeerClient,
    target: NodeId,
    /// `node.raft_addr` parsed once; a membership naming an unparsable address makes every
    /// RPC to that node fail as unreachable, with the reason.
    addr: Result<HostPort, String>,
    node: NodeInfo,
    backoff: Duration,
    carrier: Arc<Carrier>,
    /// What the target's last carried tick asked for, said on the next request's note.
    need_full_sync: Option<crate::carry::FullSyncAsk>,
    /// The append-entries stream to the target, once opened ([`crate::stream`]).
    stream: Option<AppendStream>,
}

type RaftRpcError<E = openraft::error::Infallible> =
    RPCError<NodeId, NodeInfo, RaftError<NodeId, E>>;

impl Connection {
    async fn rpc<Req, Resp, E>(
        &self,
        path: &str,
        request: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RaftRpcError<E>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let answer = self.exchange(path, request, option).await?;
        self.remote(answer)
    }

    /// openraft's answer, or the remote error it carries. (openraft's error type is what it
    /// is: its size is not ours to box.)
    #[allow(clippy::result_large_err)]
    fn remote<Resp, E>(
        &self,
        answer: Result<Resp, RaftError<NodeId, E>>,
    ) -> Result<Resp, RaftRpcError<E>>
    where
        E: std::error::Error,
    {
        answer.map_err(|remote| {
            RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                remote,
            ))
        })
    }

    /// A transport failure as openraft's network error: a failed connect is `Unreachable`
    /// (openraft then backs off before the next try).
    fn network_error<E: std::error::Error>(&self, e: CallError) -> RaftRpcError<E> {
        match e {
            e @ CallError::Connect { .. } => RPCError::Unreachable(Unreachable::new(&e)),
            e => RPCError::Network(NetworkError::new(&e)),
        }
    }

    /// One append-entries call on the stream to the target, opening it first if need be
    /// (the opening within `timeout`). A stream that was working and is found closed by the
    /// peer (it restarted, or closed an idle stream) is replaced at once within the same
    /// call: a restarted follower is not missed for a heartbeat, and a dead one is found
    /// unreachable now. Any other failure drops the stream.
    ///
    /// The whole call is bounded by openraft's replication, which drops this future after
    /// the same `timeout` (its `hard_ttl`): the stream is out of `self` while the call runs,
    /// so a call cut short loses it, as a failure does. A timer of its own here would only
    /// double the timer work of every heartbeat (each new timer earlier than the runtime's
    /// next wake-up costs a wake of the runtime's driver).
    async fn append_call(
        &mut self,
        request: &AppendRequest,
        timeout: Duration,
    ) -> Result<AppendAnswer, CallError> {
        let addr = match &self.addr {
            Ok(addr) => addr.clone(),
            Err(reason) => {
                return Err(CallError::Connect {
                    addr: self.node.raft_addr.clone(),
                    reason: reason.clone(),
                })
            }
        };
        let body = Bytes::from(codec::encode(request)?);
        let client = &self.client;
        let call = call_on_stream(
            self.stream.take(),
            || client.open_stream(&addr, timeout),
            &addr,
            body,
        );
        let (stream, answer) = call.await?;
        self.stream = Some(stream);
        Ok(codec::decode(&answer)?)
    }

    /// One call on the internal port, its transport failures as openraft's network errors.
    async fn exchange<Req, Ans, E>(
        &self,
        path: &str,
        request: &Req,
        option: &RPCOption,
    ) -> Result<Ans, RaftRpcError<E>>
    where
        Req: Serialize,
        Ans: DeserializeOwned,
        E: std::error::Error,
    {
        let addr = match &self.addr {
            Ok(addr) => addr,
            Err(reason) => {
                let e = CallError::Connect {
                    addr: self.node.raft_addr.clone(),
                    reason: reason.clone(),
                };
                return Err(RPCError::Unreachable(Unreachable::new(&e)));
            }
        };
        let answer: Result<Ans, CallError> = self
            .client
            .call(addr, path, request, option.hard_ttl())
            .await;
        answer.map_err(|e| self.network_error(e))
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RaftRpcError> {
        let request = AppendRequest {
            rpc,
            note: self.carrier.note_for(self.need_full_sync),
        };
        let answer: AppendAnswer = match self.append_call(&request, option.hard_ttl()).await {
            Ok(answer) => answer,
            Err(e) => {
                let unreachable = matches!(e, CallError::Connect { .. });
                if unreachable {
                    self.carrier.on_unreachable(self.target);
                }
                return Err(self.network_error(e));
            }
        };
        if let Some(tick) = &answer.tick {
            self.need_full_sync = self.carrier.on_carried_tick(self.target, tick);
        }
        self.remote(answer.result)
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RaftRpcError<InstallSnapshotError>> {
        self.rpc(PATH_SNAPSHOT, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RaftRpcError> {
        self.rpc(PATH_VOTE, &rpc, &option).await
    }

    /// openraft's default is 500 ms; a restarted peer should be found again within about one
    /// election timeout, so the pause is a setting of the node.
    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::repeat(self.backoff))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts that a request head, read case-insensitively, starts with `request_line` and
    /// holds every one of `lines`.
    fn assert_head(head: &str, request_line: &str, lines: &[&str]) {
        let head = head.to_ascii_lowercase();
        assert!(head.starts_with(request_line), "{head}");
        for line in lines {
            assert!(head.contains(line), "{line} missing in {head}");
        }
    }
    use crate::wire::PATH_APPEND;

    /// A client signing as `from`, without a secret (plain frames, as the test servers here
    /// speak), fingerprint `f00d`.
    fn test_client(from: &str) -> PeerClient {
        PeerClient::new(Signer::new(None, from.into(), "f00d".into()))
    }

    /// The token header of a request head.
    fn token_of(head: &str) -> String {
        head.lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .starts_with("x-raftvisor-token:")
                    .then(|| l["x-raftvisor-token:".len()..].trim().to_string())
            })
            .unwrap_or_default()
    }
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Serves `answers` HTTP exchanges on one listener and reports, per accepted connection,
    /// the request heads it read.
    async fn recording_server(
        answers: usize,
    ) -> (HostPort, tokio::task::JoinHandle<Vec<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = HostPort::from(listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut connections: Vec<Vec<String>> = Vec::new();
            let mut served = 0;
            while served < answers {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut heads = Vec::new();
                let mut buf = Vec::new();
                while served < answers {
                    let mut chunk = [0u8; 4096];
                    let n = stream.read(&mut chunk).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    // Bodies here are tiny and sent with the head.
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        let length: usize = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length: ")
                                    .map(|v| v.trim().parse().unwrap())
                            })
                            .unwrap_or(0);
                        buf.drain(..end + 4 + length);
                        heads.push(head);
                        stream
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                            .await
                            .unwrap();
                        served += 1;
                    }
                }
                connections.push(heads);
            }
            connections
        });
        (addr, task)
    }

    #[tokio::test]
    async fn calls_reuse_one_connection_and_carry_the_signature() {
        let (addr, server) = recording_server(3).await;
        let spec = crate::auth::tests::spec(&["s1", "s2"], Some("secret"));
        let gate = crate::auth::Gate::new(&spec);
        let client = PeerClient::new(gate.signer("s1"));
        for _ in 0..3 {
            let answer = client
                .post_raw(&addr, PATH_APPEND, vec![1, 2, 3], Duration::from_secs(5))
                .await
                .unwrap();
            assert_eq!(&answer[..], b"ok");
        }
        let connections = server.await.unwrap();
        assert_eq!(
            connections.len(),
            1,
            "one persistent connection: {connections:?}"
        );
        let mut nonces = std::collections::HashSet::new();
        for head in &connections[0] {
            assert_head(
                head,
                "post /raft/append http/1.1",
                &[
                    "x-raftvisor-from: s1",
                    &format!("x-raftvisor-fingerprint: {}", gate.fingerprint()),
                ],
            );
            // Each request signed on its own: genuine for this path and body, a new nonce.
            let token = token_of(head);
            let admitted = gate
                .check(
                    Some("s1"),
                    Some(gate.fingerprint()),
                    Some(&token),
                    None,
                    PATH_APPEND,
                    model::time::epoch_ms(),
                )
                .unwrap();
            admitted.check_body(&[1, 2, 3]).unwrap();
            assert!(nonces.insert(admitted.stamp().unwrap().1), "{token}");
        }
    }

    /// A stream server on the internal port's accept loop (no authentication) whose streams
    /// answer each frame with `answer: ` and the frame, and close after `frames_per_stream`.
    /// Counts the connections it accepted.
    async fn stream_server(
        frames_per_stream: usize,
        max_connections: usize,
    ) -> (
        HostPort,
        tokio_util::sync::CancellationToken,
        Arc<std::sync::atomic::AtomicUsize>,
    ) {
        use futures_util::{SinkExt, StreamExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = HostPort::from(listener.local_addr().unwrap());
        let shutdown = tokio_util::sync::CancellationToken::new();
        let opened = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = opened.clone();
        let limits = crate::server::Limits {
            max_connections,
            header_read_timeout: Duration::from_secs(5),
        };
        tokio::spawn(crate::server::accept_loop(
            listener,
            limits,
            shutdown.clone(),
            move |_, request| {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let (mut head, _) = request.into_parts();
                let reply = crate::server::upgrade(
                    &mut head,
                    "test".into(),
                    move |mut frames| async move {
                        for _ in 0..frames_per_stream {
                            let Some(Ok(frame)) = frames.next().await else {
                                return;
                            };
                            let mut answer = b"answer: ".to_vec();
                            answer.extend_from_slice(&frame);
                            if frames.send(Bytes::from(answer)).await.is_err() {
                                return;
                            }
                        }
                    },
                );
                async move { reply }
            },
        ));
        (addr, shutdown, opened)
    }

    #[tokio::test]
    async fn a_stream_carries_the_calls_and_is_reopened_at_once_when_the_peer_closed_it() {
        let (addr, shutdown, opened) = stream_server(2, 8).await;
        let client = test_client("s1");
        let open = || client.open_stream(&addr, Duration::from_secs(5));
        let mut kept = None;
        for (i, expected_connections) in [(0, 1), (1, 1), (2, 2), (3, 2), (4, 3)] {
            let body = Bytes::from(format!("call {i}"));
            let (stream, answer) = call_on_stream(kept.take(), open, &addr, body)
                .await
                .unwrap();
            assert_eq!(&answer[..], format!("answer: call {i}").as_bytes());
            assert_eq!(
                opened.load(std::sync::atomic::Ordering::SeqCst),
                expected_connections,
                "two calls per stream, a closed one replaced within the call"
            );
            kept = Some(stream);
        }
        shutdown.cancel();
    }

    #[tokio::test]
    async fn a_stream_keeps_its_connection_slot() {
        let (addr, shutdown, opened) = stream_server(usize::MAX, 1).await;
        let client = test_client("s1");
        let mut stream = client
            .open_stream(&addr, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(
            &stream.call(Bytes::from_static(b"x")).await.unwrap()[..],
            b"answer: x"
        );
        // The only slot is the stream's: another connection is closed unanswered.
        match client.open_stream(&addr, Duration::from_secs(5)).await {
            Err(CallError::Transport { .. }) => {}
            Err(other) => panic!("closed at once expected, got {other:?}"),
            Ok(_) => panic!("a second connection got the stream's slot"),
        }
        drop(stream);
        // Once the stream ends, its slot is free again.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            match client.open_stream(&addr, Duration::from_secs(5)).await {
                Ok(_) => break,
                Err(e) if std::time::Instant::now() < deadline => {
                    tracing::debug!(error = %e, "slot not free yet");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("the slot was never freed: {e}"),
            }
        }
        assert!(opened.load(std::sync::atomic::Ordering::SeqCst) >= 2);
        shutdown.cancel();
    }

    #[tokio::test]
    async fn a_refused_stream_keeps_its_status_and_a_closed_port_is_unreachable() {
        let (addr, server) = recording_server(1).await;
        let client = test_client("s1");
        // The recording server answers 200 to anything: not an upgrade.
        match client.open_stream(&addr, Duration::from_secs(5)).await {
            Err(CallError::Status { status: 200, .. }) => {}
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("a 200 opened a stream"),
        }
        let heads = server.await.unwrap();
        assert_head(
            &heads[0][0],
            "post /raft/stream http/1.1",
            &[
                "upgrade: raftvisor-append/1",
                "x-raftvisor-from: s1",
                "x-raftvisor-fingerprint: f00d",
            ],
        );
        // A port nobody listens on.
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = HostPort::from(free.local_addr().unwrap());
        drop(free);
        assert!(matches!(
            client.open_stream(&closed, Duration::from_secs(5)).await,
            Err(CallError::Connect { .. })
        ));
    }

    #[tokio::test]
    async fn an_unsendable_identifier_fails_every_call_with_the_reason() {
        let client = test_client("bad\nname");
        let addr = HostPort::new("127.0.0.1", 9);
        match client
            .post_raw(&addr, PATH_APPEND, vec![], Duration::from_secs(1))
            .await
        {
            Err(CallError::Transport { reason, .. }) => {
                assert!(reason.contains(HEADER_FROM), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }
}
