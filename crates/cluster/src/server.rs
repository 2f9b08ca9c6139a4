//! The internal server: Raft RPCs and raftvisor's control RPCs on the instance's internal
//! port, served by hyper directly (HTTP/1.1, persistent connections).
//!
//! Order of checks on every request, and why:
//!
//! ```text
//!  accept ──► a connection slot free? ── no ──► closed at once (at most MAX_CONNECTIONS open)
//!     │ yes
//!  request head (hyper's header size limit; HEADER_READ_TIMEOUT, which also ends idle connections)
//!     │
//!  POST? ── no ──► 405
//!  authenticated from the head alone (identifier, fingerprint, token, remote address)?
//!     │       └─ no ──► 401/403 + `Connection: close`; the body is never read, so no byte of
//!     │                 an unauthenticated body is buffered, and `Expect: 100-continue` is
//!     │                 never granted (hyper sends the 100 only once the body is polled)
//!  declared length > MAX_BODY_BYTES? ── yes ──► 413 + `Connection: close`, body never read
//!     │
//!  POST /raft/stream? ── yes ──► 101, then the connection carries append-entries frames
//!     │                          ([`crate::stream`]; each frame capped at MAX_BODY_BYTES
//!     │                          before it is buffered), keeping its connection slot
//!  body read, capped at MAX_BODY_BYTES (chunked bodies too) ──► decoded (400 on garbage) ──► routed
//! ```
//!
//! A refused peer is logged with a rate limit (a misconfigured instance ticking every 100 ms
//! must not flood the log).

// Handlers return `Result<Response, Response>` so `?` turns a bad body into its 400 answer; the
// response is moved once per request, boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, UPGRADE};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use openraft::raft::{AppendEntriesResponse, InstallSnapshotRequest, VoteRequest};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::codec::{Framed, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;

use crate::auth::{
    Admitted, FrameSeal, Gate, Refusal, ReplayGuard, HEADER_FINGERPRINT, HEADER_FROM, HEADER_TOKEN,
};
use crate::carry::Carrier;
use crate::codec;
use crate::inner::{
    Core, CoreEnded, FullSyncDone, FullSyncRequest, LastAppend, SharedStatsReceiver, StoreCleared,
};
use crate::mailbox::Mailbox;
use crate::membership::MembershipChange;
use crate::state::Command;
use crate::types::{NodeId, TypeConfig};
use crate::wire::{
    AppendAnswer, AppendRequest, HelloReply, OrdersRequest, TickRequest, MAX_BODY_BYTES,
    PATH_APPEND, PATH_HELLO, PATH_LOCAL, PATH_MEMBERS, PATH_MEMBERSHIP, PATH_ORDERS, PATH_SNAPSHOT,
    PATH_STATS, PATH_STREAM, PATH_TICK, PATH_VOTE, PATH_WRITE, STREAM_PROTOCOL,
};

/// A refused peer is logged at most this often (per peer and reason), so a misconfigured
/// instance ticking every 100 ms does not flood the log.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// How long the graceful shutdown may wait for open connections.
const GRACEFUL_LIMIT: Duration = Duration::from_secs(2);

/// Most connections open at once on the internal port. A peer's pooled client keeps a handful
/// (one per RPC in flight); this leaves room for dozens of instances, and stops a flood of
/// connections from costing a task and buffers each without bound.
pub(crate) const MAX_CONNECTIONS: usize = 256;

/// A connection must deliver each request head within this time after it starts waiting for
/// one; that also closes a connection idle for that long. Longer than the client pool's idle
/// timeout ([`crate::network::POOL_IDLE_TIMEOUT`]), so a pooled connection is retired by its
/// client before the server closes it under a request.
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The response every handler produces.
pub(crate) type Reply = Response<Full<Bytes>>;

/// What the internal server works with: the core (Raft's RPCs, writes and membership changes
/// for the others, who leads), the gate that authenticates peers, the carrier (the liveness on
/// the heartbeats), the leader loop's mailbox (the ticks), the local supervisor (the leader's
/// orders), the full sync a leader's note asks of the feed, the last append it records, and
/// the store's clearance and the end of the instance, which close it to votes or altogether.
pub(crate) struct ServerCtx {
    pub(crate) core: Arc<Core>,
    pub(crate) gate: Gate,
    pub(crate) carrier: Arc<Carrier>,
    pub(crate) mailbox: Arc<Mailbox>,
    pub(crate) supervisor: procman::Supervisor,
    pub(crate) full_sync_request: FullSyncRequest,
    pub(crate) full_sync_done: FullSyncDone,
    pub(crate) last_append: LastAppend,
    pub(crate) store_cleared: StoreCleared,
    pub(crate) core_ended: CoreEnded,
    pub(crate) stats_receiver: SharedStatsReceiver,
}

/// Serves until the node's shutdown token is cancelled.
///
/// The port also closes once this instance has stopped taking part ([`crate::Node::core_ended`]:
/// its Raft core ended, and it has fenced itself, or it lost its state): the leader's probe then
/// finds it refused and declares the instance lost at once, as for a dead daemon, instead of
/// waiting out the fence bound for an instance that might only be cut off.
pub(crate) async fn serve(inner: Arc<ServerCtx>, listener: TcpListener) {
    let refusals: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let replays: Arc<Mutex<ReplayGuard>> = Arc::default();
    let shutdown = inner.core.shutdown.child_token();
    {
        let stop = shutdown.clone();
        let mut ended = inner.core_ended.subscribe();
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                outcome = ended.wait_for(|e| e.is_some()) => {
                    if outcome.is_ok() {
                        tracing::info!("internal port closed: this instance no longer takes part");
                        stop.cancel();
                    }
                }
            }
        });
    }
    let limits = Limits {
        max_connections: MAX_CONNECTIONS,
        header_read_timeout: HEADER_READ_TIMEOUT,
    };
    let streams = shutdown.clone();
    accept_loop(listener, limits, shutdown, move |remote, request| {
        let inner = inner.clone();
        let refusals = refusals.clone();
        let replays = replays.clone();
        let streams = streams.clone();
        async move { handle(&inner, &refusals, &replays, remote, request, &streams).await }
    })
    .await;
}

/// The bounds of [`accept_loop`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
}

/// Accepts connections until `shutdown`, serving each with `handler` on its own task, at most
/// `limits.max_connections` at once: a connection beyond that is closed as soon as accepted
/// (the peer sees it closed and retries, instead of waiting in the kernel backlog). Then lets
/// open requests finish for [`GRACEFUL_LIMIT`].
pub(crate) async fn accept_loop<H, F>(
    listener: TcpListener,
    limits: Limits,
    shutdown: CancellationToken,
    handler: H,
) where
    H: Fn(SocketAddr, Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let connections = tokio_util::task::TaskTracker::new();
    let mut last_full_warning: Option<Instant> = None;
    loop {
        let (stream, remote) = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Typically EMFILE: back off instead of spinning.
                    tracing::warn!(error = %err, "internal port: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if last_full_warning.is_none_or(|at| at.elapsed() >= REFUSAL_LOG_INTERVAL) {
                last_full_warning = Some(Instant::now());
                tracing::warn!(%remote, limit = limits.max_connections, "internal port: connection limit reached, connection closed");
            }
            drop(stream);
            continue;
        };
        // Raft heartbeats are small: without NODELAY they could wait on delayed ACKs.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%remote, error = %err, "could not set TCP_NODELAY");
        }
        let handler = handler.clone();
        let slot = ConnectionSlot(Arc::new(slot));
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            // An upgraded connection outlives this service: what it becomes keeps the slot.
            request.extensions_mut().insert(slot.clone());
            let answer = handler(remote, request);
            async move { Ok::<_, Infallible>(answer.await) }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let stop = shutdown.clone();
        connections.spawn(async move {
            tokio::pin!(conn);
            let ended = tokio::select! {
                ended = conn.as_mut() => ended,
                () = stop.cancelled() => {
                    // Let a request in progress finish, then close.
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(err) = ended {
                tracing::debug!(%remote, error = %err, "internal connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(GRACEFUL_LIMIT, connections.wait())
        .await
        .is_err()
    {
        tracing::debug!("internal server: connections still open after the grace period");
    }
}

/// A connection's place under [`Limits::max_connections`], freed when the connection and
/// whatever it was upgraded to have both ended.
#[derive(Clone)]
pub(crate) struct ConnectionSlot(#[allow(dead_code)] Arc<tokio::sync::OwnedSemaphorePermit>);

fn text(status: StatusCode, message: String) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(message)));
    *response.status_mut() = status;
    response
}

/// `text`, and the connection is closed once it is sent: used when the body is left unread
/// (hyper would close anyway; the header tells the client not to reuse the connection).
fn closing(status: StatusCode, message: String) -> Reply {
    close_after(text(status, message))
}

/// `response`, and the connection is closed once it is sent.
fn close_after(mut response: Reply) -> Reply {
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

fn encoded<T: Serialize>(value: &T) -> Reply {
    match codec::encode(value) {
        Ok(bytes) => Response::new(Full::new(Bytes::from(bytes))),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn decoded<T: DeserializeOwned>(body: &[u8], path: &str, from: &str) -> Result<T, Reply> {
    codec::decode(body).map_err(|e| {
        tracing::warn!(peer = %from, path, error = %e, "undecodable body refused");
        text(StatusCode::BAD_REQUEST, format!("bad body: {e}"))
    })
}

fn log_refusal(
    refusals: &Mutex<HashMap<String, Instant>>,
    headers: &HeaderMap,
    remote: SocketAddr,
    refusal: &Refusal,
) {
    let peer = headers
        .get(HEADER_FROM)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("<no identifier>")
        .to_string();
    // Keyed by address, not port: each new connection of the same peer has another port.
    let key = format!("{peer}|{}|{refusal}", remote.ip());
    let due = match refusals.lock() {
        Ok(mut seen) => {
            let now = Instant::now();
            seen.retain(|_, at| now.duration_since(*at) < REFUSAL_LOG_INTERVAL);
            match seen.get(&key) {
                Some(_) => false,
                None => {
                    seen.insert(key, now);
                    true
                }
            }
        }
        Err(_) => true,
    };
    if due {
        tracing::warn!(peer = %peer, remote = %remote, reason = %refusal, "internal request refused");
    }
}

/// What the request head alone decides, at `now_ms`: `Ok` (the sender, what its body must
/// hash to) when the body may be read, else the answer (and the body stays unread). Pure, so
/// the order of checks is tested without sockets; the nonce is checked by the caller.
pub(crate) fn check_head(
    gate: &crate::auth::Gate,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    remote: SocketAddr,
    now_ms: i64,
) -> Result<Admitted, (StatusCode, Option<Refusal>, String)> {
    if method != Method::POST {
        return Err((
            StatusCode::METHOD_NOT_ALLOWED,
            None,
            "the internal port takes POST only".into(),
        ));
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let admitted = gate
        .check(
            header(HEADER_FROM),
            header(HEADER_FINGERPRINT),
            header(HEADER_TOKEN),
            Some(remote.ip()),
            path,
            now_ms,
        )
        .map_err(refused)?;
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(length) = declared {
        if length > MAX_BODY_BYTES {
            return Err((
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
                format!("body of {length} bytes is over the {MAX_BODY_BYTES}-byte limit"),
            ));
        }
    }
    Ok(admitted)
}

/// A refusal as the answer [`check_head`] gives.
fn refused(refusal: Refusal) -> (StatusCode, Option<Refusal>, String) {
    let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::FORBIDDEN);
    let message = refusal.to_string();
    (status, Some(refusal), message)
}

async fn handle(
    inner: &Arc<ServerCtx>,
    refusals: &Mutex<HashMap<String, Instant>>,
    replays: &Mutex<ReplayGuard>,
    remote: SocketAddr,
    request: Request<Incoming>,
    streams: &CancellationToken,
) -> Reply {
    let (mut head, body) = request.into_parts();
    let path = head.uri.path().to_string();
    let now_ms = model::time::epoch_ms();
    let admitted = check_head(
        &inner.gate,
        &head.method,
        &path,
        &head.headers,
        remote,
        now_ms,
    )
    .and_then(|admitted| {
        // Once the token is known to be genuine: a stranger cannot fill the guard.
        let Some(stamp) = admitted.stamp() else {
            return Ok(admitted);
        };
        match replays.lock() {
            Ok(mut guard) => guard.admit(&admitted.from, stamp, now_ms),
            Err(_) => Err(Refusal::Replayed),
        }
        .map(|()| admitted)
        .map_err(refused)
    });
    let admitted = match admitted {
        Ok(admitted) => admitted,
        Err((status, refusal, message)) => {
            if let Some(refusal) = &refusal {
                log_refusal(refusals, &head.headers, remote, refusal);
            }
            // `body` is dropped unread here: hyper stops reading the connection.
            return closing(status, message);
        }
    };
    if path == PATH_STREAM {
        return open_stream(inner, &mut head, admitted, streams);
    }
    let body = match Limited::new(body, MAX_BODY_BYTES as usize).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return closing(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("reading the body: {e}"),
            )
        }
    };
    if let Err(refusal) = admitted.check_body(&body) {
        log_refusal(refusals, &head.headers, remote, &refusal);
        let (status, _, message) = refused(refusal);
        return closing(status, message);
    }
    match dispatch(inner, &path, &admitted.from, &body).await {
        Ok(response) | Err(response) => response,
    }
}

/// An empty Raft store no peer has vouched for yet: no vote, no append, no snapshot (see
/// `verify_pristine`).
fn unverified_store(inner: &ServerCtx) -> Option<Reply> {
    (!inner
        .store_cleared
        .load(std::sync::atomic::Ordering::Relaxed))
    .then(|| {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            "this instance's empty Raft store is not verified yet: it takes no part in votes"
                .into(),
        )
    })
}

/// One append-entries call, from [`PATH_APPEND`] or a frame of the stream: openraft's answer,
/// and this instance's tick for the leader.
async fn on_append(inner: &ServerCtx, from: &str, request: AppendRequest) -> AppendAnswer {
    let AppendRequest { rpc, note } = request;
    // Heartbeats included: when this node leads next, the sender's silence counts from here
    // (see `LeaderBook::with_last_heard`).
    if let Ok(mut last) = inner.last_append.lock() {
        *last = Some((from.to_string(), std::time::Instant::now()));
    }
    if let Ok(mut heard) = inner.core.heard_from.lock() {
        if !heard.contains(from) {
            heard.insert(from.to_string());
        }
    }
    let result = inner.core.raft.append_entries(rpc).await;
    // The leader's note counts as contact only when its append was accepted: a deposed
    // leader's (a higher vote answered) proves nothing.
    let accepted = matches!(&result, Ok(r) if !matches!(r, AppendEntriesResponse::HigherVote(_)));
    if let (Some(note), true) = (note, accepted) {
        let lease = inner.core.spec.raft.election_timeout_max;
        let fresh = inner
            .carrier
            .on_note(&note, lease, inner.core.spec.tick_call_timeout());
        let asked = note
            .need_full_sync
            .is_some_and(|ask| *inner.full_sync_done.borrow() == ask.had);
        if fresh && asked {
            inner.full_sync_request.notify_one();
        }
    }
    let tick = if inner
        .core
        .raft_dead
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        // An ended Raft core: no more ticks (see `leadership::raft_ended`).
        None
    } else {
        inner.carrier.tick_to_carry()
    };
    AppendAnswer { result, tick }
}

/// Answers an authenticated [`PATH_STREAM`] request: 101, then the frames are served on their
/// own task ([`serve_stream`]) until either side closes or `stop`.
fn open_stream(
    inner: &Arc<ServerCtx>,
    head: &mut hyper::http::request::Parts,
    admitted: Admitted,
    stop: &CancellationToken,
) -> Reply {
    if let Some(refused) = unverified_store(inner) {
        return close_after(refused);
    }
    let inner = inner.clone();
    let stop = stop.clone();
    let seal = admitted.stream_seal(inner.gate.secret());
    let from = admitted.from;
    upgrade(head, from.clone(), move |framed| async move {
        serve_stream(&inner, &from, framed, seal, &stop).await;
    })
}

/// A stream's frames over its TCP connection ([`crate::stream`]).
pub(crate) type Frames = Framed<TcpStream, LengthDelimitedCodec>;

/// Answers an upgrade to [`STREAM_PROTOCOL`] with 101 and hands the connection, once hyper has
/// let go of it, to `serve` on a task of its own; that task keeps the connection's slot (see
/// [`ConnectionSlot`]). Anything else is answered 400 and closed.
pub(crate) fn upgrade<F, Fut>(
    head: &mut hyper::http::request::Parts,
    peer: String,
    serve: F,
) -> Reply
where
    F: FnOnce(Frames) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let asked = head.headers.get(UPGRADE).and_then(|v| v.to_str().ok());
    if asked != Some(STREAM_PROTOCOL) {
        return closing(
            StatusCode::BAD_REQUEST,
            format!("{PATH_STREAM} upgrades to {STREAM_PROTOCOL}, not {asked:?}"),
        );
    }
    let (Some(upgrade), Some(slot)) = (
        head.extensions.remove::<hyper::upgrade::OnUpgrade>(),
        head.extensions.remove::<ConnectionSlot>(),
    ) else {
        return closing(
            StatusCode::BAD_REQUEST,
            "not an upgradable connection".into(),
        );
    };
    tokio::spawn(async move {
        let framed = upgrade
            .await
            .map_err(|e| e.to_string())
            .and_then(crate::stream::framed);
        match framed {
            Ok(framed) => serve(framed).await,
            Err(reason) => tracing::debug!(%peer, %reason, "append stream not opened"),
        }
        drop(slot);
    });
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static(STREAM_PROTOCOL));
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    response
}

/// Serves one append-entries stream: each frame is an [`AppendRequest`] answered by an
/// [`AppendAnswer`] frame, in order. Ends at the peer's close, at the first bad frame, when
/// no frame comes for [`HEADER_READ_TIMEOUT`] (a leader sends one every 1.5 heartbeats), when
/// this instance's store loses its verification, or at `stop`.
async fn serve_stream(
    inner: &ServerCtx,
    from: &str,
    mut framed: Frames,
    mut seal: FrameSeal,
    stop: &CancellationToken,
) {
    loop {
        let frame = tokio::select! {
            () = stop.cancelled() => return,
            frame = tokio::time::timeout(HEADER_READ_TIMEOUT, framed.next()) => frame,
        };
        let frame = match frame {
            Ok(Some(Ok(frame))) => frame,
            Ok(Some(Err(e))) => {
                tracing::debug!(peer = %from, error = %e, "append stream: bad frame, closed");
                return;
            }
            Ok(None) => return,
            Err(_) => {
                tracing::debug!(peer = %from, "append stream idle: closed");
                return;
            }
        };
        if unverified_store(inner).is_some() {
            return;
        }
        let frame = match seal.open(&frame) {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(peer = %from, path = PATH_STREAM, error = %e, "unsealed frame refused, stream closed");
                return;
            }
        };
        let request: AppendRequest = match codec::decode(frame) {
            Ok(request) => request,
            Err(e) => {
                tracing::warn!(peer = %from, path = PATH_STREAM, error = %e, "undecodable frame refused, stream closed");
                return;
            }
        };
        let answer = on_append(inner, from, request).await;
        let encoded = match codec::encode(&answer) {
            Ok(encoded) => encoded,
            Err(e) => {
                tracing::warn!(peer = %from, error = %e, "append answer not encodable, stream closed");
                return;
            }
        };
        if framed.send(Bytes::from(seal.seal(&encoded))).await.is_err() {
            return;
        }
    }
}

async fn dispatch(inner: &ServerCtx, path: &str, from: &str, body: &[u8]) -> Result<Reply, Reply> {
    if matches!(path, PATH_APPEND | PATH_VOTE | PATH_SNAPSHOT) {
        if let Some(refused) = unverified_store(inner) {
            return Err(refused);
        }
    }
    Ok(match path {
        PATH_APPEND => {
            let request: AppendRequest = decoded(body, path, from)?;
            encoded(&on_append(inner, from, request).await)
        }
        PATH_VOTE => {
            let rpc: VoteRequest<NodeId> = decoded(body, path, from)?;
            encoded(&inner.core.raft.vote(rpc).await)
        }
        PATH_SNAPSHOT => {
            let rpc: InstallSnapshotRequest<TypeConfig> = decoded(body, path, from)?;
            encoded(&inner.core.raft.install_snapshot(rpc).await)
        }
        PATH_TICK => {
            let tick: TickRequest = decoded(body, path, from)?;
            if tick.identifier != from {
                tracing::warn!(peer = %from, claimed = %tick.identifier, "tick on behalf of another instance refused");
                return Err(text(
                    StatusCode::FORBIDDEN,
                    "a tick must come from the instance it names".into(),
                ));
            }
            encoded(&crate::leader::on_tick(&inner.core, &inner.mailbox, tick).await)
        }
        PATH_WRITE => {
            let cmd: Command = decoded(body, path, from)?;
            encoded(&inner.core.write_as_leader(cmd).await)
        }
        PATH_LOCAL => {
            let call: crate::remote::LocalCall = decoded(body, path, from)?;
            encoded(&crate::remote::run(&inner.supervisor, &call).await)
        }
        PATH_STATS => {
            let sample: stats::Sample = decoded(body, path, from)?;
            let receiver = inner.stats_receiver.lock().ok().and_then(|r| r.clone());
            if let Some(receiver) = receiver {
                receiver(from, sample);
            }
            encoded(&())
        }
        PATH_ORDERS => {
            let request: OrdersRequest = decoded(body, path, from)?;
            encoded(
                &crate::executor::on_orders(
                    &inner.core,
                    &inner.supervisor,
                    &inner.full_sync_request,
                    from,
                    request,
                )
                .await,
            )
        }
        PATH_HELLO => {
            let () = decoded(body, path, from)?;
            let initialized = match tokio::time::timeout(
                Duration::from_secs(1),
                inner.core.raft.is_initialized(),
            )
            .await
            {
                Ok(Ok(initialized)) => initialized,
                _ => {
                    return Err(text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Raft is not answering".into(),
                    ))
                }
            };
            let asker = crate::types::node_id(from);
            let replicated_to_asker = inner
                .core
                .metrics
                .borrow()
                .replication
                .as_ref()
                .and_then(|progress| progress.get(&asker))
                .is_some_and(|matched| matched.is_some());
            let asker_is_member = inner
                .core
                .metrics
                .borrow()
                .membership_config
                .membership()
                .get_node(&asker)
                .is_some();
            let asker_seen = inner
                .core
                .replica
                .borrow()
                .state
                .instance(from)
                .is_some_and(|record| record.last_tick.is_some());
            encoded(&HelloReply {
                initialized,
                leader: inner.core.current_leader(),
                replicated_to_asker,
                asker_is_member,
                asker_seen,
                votes: inner
                    .store_cleared
                    .load(std::sync::atomic::Ordering::Relaxed),
            })
        }
        PATH_MEMBERS => {
            let () = decoded(body, path, from)?;
            encoded(&inner.core.members_as_leader())
        }
        PATH_MEMBERSHIP => {
            let change: MembershipChange = decoded(body, path, from)?;
            encoded(&inner.core.change_as_leader(change).await)
        }
        _ => text(StatusCode::NOT_FOUND, format!("no route {path}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Gate;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_head_decides_before_the_body_is_read() {
        const NOW: i64 = 1_800_000_000_000;
        let gate = Gate::new(&crate::auth::tests::spec(&["a", "b"], Some("secret")));
        let fp = gate.fingerprint().to_string();
        let token = gate.signer("b").token("/ctl/write", b"body", NOW);
        let lo: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let good = headers(&[
            (HEADER_FROM, "b"),
            (HEADER_FINGERPRINT, &fp),
            (HEADER_TOKEN, &token),
            ("content-length", "4"),
        ]);
        let check = |method: &Method, path: &str, h: &HeaderMap| {
            check_head(&gate, method, path, h, lo, NOW)
        };
        let admitted = check(&Method::POST, "/ctl/write", &good).map_err(|e| e.0);
        assert_eq!(admitted.as_ref().map(|a| a.from.as_str()), Ok("b"));
        assert!(admitted.unwrap().check_body(b"body").is_ok());
        // Signed for another path: refused from the head.
        assert_eq!(
            check(&Method::POST, "/ctl/orders", &good).unwrap_err().1,
            Some(Refusal::BadToken)
        );
        // No credentials: refused whatever the length, before anything else.
        let anonymous = headers(&[("content-length", "62914560")]);
        let (status, refusal, _) = check(&Method::POST, "/ctl/write", &anonymous).unwrap_err();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(refusal, Some(Refusal::MissingHeader(HEADER_FROM)));
        // Authenticated but too long: 413 without reading.
        let mut long = good.clone();
        long.insert(
            CONTENT_LENGTH,
            HeaderValue::from_str(&(MAX_BODY_BYTES + 1).to_string()).unwrap(),
        );
        assert_eq!(
            check(&Method::POST, "/ctl/write", &long).unwrap_err().0,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            check(&Method::GET, "/ctl/write", &good).unwrap_err().0,
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    async fn read_all(stream: &mut TcpStream) -> String {
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    /// A server whose handler refuses everything without reading the body, like an
    /// unauthenticated request, and counts how many requests reached it.
    async fn refusing_server(limits: Limits) -> (SocketAddr, CancellationToken, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        tokio::spawn(accept_loop(
            listener,
            limits,
            shutdown.clone(),
            move |_, _request| {
                counter.fetch_add(1, Ordering::SeqCst);
                async { closing(StatusCode::UNAUTHORIZED, "no".into()) }
            },
        ));
        (addr, shutdown, seen)
    }

    #[tokio::test]
    async fn an_unread_body_is_refused_without_continue_and_the_connection_closed() {
        let limits = Limits {
            max_connections: 4,
            header_read_timeout: Duration::from_secs(5),
        };
        let (addr, shutdown, _) = refusing_server(limits).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(
                b"POST /raft/append HTTP/1.1\r\nhost: x\r\ncontent-length: 62914560\r\n\
                  expect: 100-continue\r\n\r\n",
            )
            .await
            .unwrap();
        let answer = read_all(&mut stream).await;
        assert!(
            answer.starts_with("HTTP/1.1 401"),
            "no 100 Continue, a refusal: {answer:?}"
        );
        assert!(answer.to_ascii_lowercase().contains("connection: close"));
        shutdown.cancel();
    }

    #[tokio::test]
    async fn connections_beyond_the_limit_are_closed_and_idle_ones_time_out() {
        let limits = Limits {
            max_connections: 2,
            header_read_timeout: Duration::from_millis(300),
        };
        let (addr, shutdown, seen) = refusing_server(limits).await;
        // Two silent connections take both slots.
        let mut held = vec![
            TcpStream::connect(addr).await.unwrap(),
            TcpStream::connect(addr).await.unwrap(),
        ];
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut third = TcpStream::connect(addr).await.unwrap();
        let _ = third
            .write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n")
            .await;
        assert_eq!(read_all(&mut third).await, "", "closed unanswered");
        assert_eq!(seen.load(Ordering::SeqCst), 0);
        // The silent ones are closed after the head timeout, which frees their slots.
        for stream in &mut held {
            let mut buf = [0u8; 64];
            let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
            assert!(matches!(n, Ok(Ok(0)) | Ok(Err(_))), "closed by the server");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut fourth = TcpStream::connect(addr).await.unwrap();
        fourth
            .write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n")
            .await
            .unwrap();
        assert!(read_all(&mut fourth).await.starts_with("HTTP/1.1 401"));
        assert_eq!(seen.load(Ordering::SeqCst), 1);
        shutdown.cancel();
    }
}
