//! The internal server (warp): Raft RPCs and raftvisor's control RPCs on the instance's
//! internal port. Every request is authenticated before its body is even decoded; a refused
//! peer gets 401/403 and a (rate-limited) warning naming it; a body that does not decode gets
//! 400 and changes nothing.

// Handlers return `Result<Response, Response>` so `?` turns a bad body into its 400 answer; the
// response is moved once per request, boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use serde::de::DeserializeOwned;
use serde::Serialize;
use warp::http::{HeaderMap, StatusCode};
use warp::path::FullPath;
use warp::reply::Response;
use warp::{Filter, Reply};

use crate::auth::{Refusal, HEADER_FINGERPRINT, HEADER_FROM, HEADER_TOKEN};
use crate::codec;
use crate::membership::MembershipChange;
use crate::node::Inner;
use crate::state::Command;
use crate::types::{NodeId, TypeConfig};
use crate::wire::{
    HelloReply, OrdersRequest, TickRequest, MAX_BODY_BYTES, PATH_APPEND, PATH_HELLO, PATH_MEMBERS,
    PATH_MEMBERSHIP, PATH_ORDERS, PATH_SNAPSHOT, PATH_TICK, PATH_VOTE, PATH_WRITE,
};

/// A refused peer is logged at most this often (per peer and reason), so a misconfigured
/// instance ticking every 100 ms does not flood the log.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// How long the graceful shutdown may wait for open connections.
const GRACEFUL_LIMIT: Duration = Duration::from_secs(2);

/// Serves until the node's shutdown token is cancelled.
pub(crate) async fn serve(inner: Arc<Inner>, listener: tokio::net::TcpListener) {
    let refusals: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let shutdown = inner.shutdown.clone();
    let ctx = inner.clone();
    let route = warp::post()
        .and(warp::path::full())
        .and(warp::header::headers_cloned())
        .and(warp::addr::remote())
        .and(warp::body::content_length_limit(MAX_BODY_BYTES))
        .and(warp::body::bytes())
        .then(
            move |path: FullPath, headers: HeaderMap, remote: Option<SocketAddr>, body: Bytes| {
                let ctx = ctx.clone();
                let refusals = refusals.clone();
                async move { handle(&ctx, &refusals, path.as_str(), &headers, remote, &body).await }
            },
        );
    let server = warp::serve(route)
        .incoming(listener)
        .graceful(shutdown.clone().cancelled_owned())
        .run();
    tokio::pin!(server);
    tokio::select! {
        _ = &mut server => {}
        _ = async { shutdown.cancelled().await; tokio::time::sleep(GRACEFUL_LIMIT).await } => {
            tracing::debug!("internal server: connections still open after the grace period");
        }
    }
}

fn text(status: StatusCode, message: String) -> Response {
    warp::reply::with_status(message, status).into_response()
}

fn encoded<T: Serialize>(value: &T) -> Response {
    match codec::encode(value) {
        Ok(bytes) => bytes.into_response(),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn decoded<T: DeserializeOwned>(body: &[u8], path: &str, from: &str) -> Result<T, Response> {
    codec::decode(body).map_err(|e| {
        tracing::warn!(peer = %from, path, error = %e, "undecodable body refused");
        text(StatusCode::BAD_REQUEST, format!("bad body: {e}"))
    })
}

fn log_refusal(
    refusals: &Mutex<HashMap<String, Instant>>,
    headers: &HeaderMap,
    remote: Option<SocketAddr>,
    refusal: &Refusal,
) {
    let peer = headers
        .get(HEADER_FROM)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("<no identifier>")
        .to_string();
    let key = format!("{peer}|{remote:?}|{refusal}");
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
        let remote = remote.map_or_else(|| "?".to_string(), |r| r.to_string());
        tracing::warn!(peer = %peer, remote = %remote, reason = %refusal, "internal request refused");
    }
}

async fn handle(
    inner: &Inner,
    refusals: &Mutex<HashMap<String, Instant>>,
    path: &str,
    headers: &HeaderMap,
    remote: Option<SocketAddr>,
    body: &[u8],
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let from = match inner.gate.check(
        header(HEADER_FROM),
        header(HEADER_FINGERPRINT),
        header(HEADER_TOKEN),
        remote.map(|r| r.ip()),
    ) {
        Ok(from) => from,
        Err(refusal) => {
            log_refusal(refusals, headers, remote, &refusal);
            let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::FORBIDDEN);
            return text(status, refusal.to_string());
        }
    };
    match dispatch(inner, path, &from, body).await {
        Ok(response) | Err(response) => response,
    }
}

async fn dispatch(
    inner: &Inner,
    path: &str,
    from: &str,
    body: &[u8],
) -> Result<Response, Response> {
    if matches!(path, PATH_APPEND | PATH_VOTE | PATH_SNAPSHOT)
        && !inner
            .store_cleared
            .load(std::sync::atomic::Ordering::Relaxed)
    {
        // An empty Raft store no peer has vouched for yet: no vote (see `verify_pristine`).
        return Err(text(
            StatusCode::SERVICE_UNAVAILABLE,
            "this instance's empty Raft store is not verified yet: it takes no part in votes"
                .into(),
        ));
    }
    Ok(match path {
        PATH_APPEND => {
            let rpc: AppendEntriesRequest<TypeConfig> = decoded(body, path, from)?;
            // Heartbeats included: when this node leads next, the sender's silence counts
            // from here (see `LeaderBook::with_last_heard`).
            if let Ok(mut last) = inner.last_append.lock() {
                *last = Some((from.to_string(), std::time::Instant::now()));
            }
            if let Ok(mut heard) = inner.heard_from.lock() {
                if !heard.contains(from) {
                    heard.insert(from.to_string());
                }
            }
            encoded(&inner.raft.append_entries(rpc).await)
        }
        PATH_VOTE => {
            let rpc: VoteRequest<NodeId> = decoded(body, path, from)?;
            encoded(&inner.raft.vote(rpc).await)
        }
        PATH_SNAPSHOT => {
            let rpc: InstallSnapshotRequest<TypeConfig> = decoded(body, path, from)?;
            encoded(&inner.raft.install_snapshot(rpc).await)
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
            encoded(&crate::liveness::on_tick(inner, &tick))
        }
        PATH_WRITE => {
            let cmd: Command = decoded(body, path, from)?;
            encoded(&inner.write_as_leader(cmd).await)
        }
        PATH_ORDERS => {
            let request: OrdersRequest = decoded(body, path, from)?;
            encoded(&crate::executor::on_orders(inner, from, request).await)
        }
        PATH_HELLO => {
            let () = decoded(body, path, from)?;
            let initialized =
                match tokio::time::timeout(Duration::from_secs(1), inner.raft.is_initialized())
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
                .metrics
                .borrow()
                .replication
                .as_ref()
                .and_then(|progress| progress.get(&asker))
                .is_some_and(|matched| matched.is_some());
            let asker_is_member = inner
                .metrics
                .borrow()
                .membership_config
                .membership()
                .get_node(&asker)
                .is_some();
            let asker_seen = inner
                .replica
                .borrow()
                .state
                .instance(from)
                .is_some_and(|record| record.last_tick.is_some());
            encoded(&HelloReply {
                initialized,
                leader: inner.current_leader(),
                replicated_to_asker,
                asker_is_member,
                asker_seen,
            })
        }
        PATH_MEMBERS => {
            let () = decoded(body, path, from)?;
            encoded(&inner.members_as_leader())
        }
        PATH_MEMBERSHIP => {
            let change: MembershipChange = decoded(body, path, from)?;
            encoded(&inner.change_as_leader(change).await)
        }
        _ => text(StatusCode::NOT_FOUND, format!("no route {path}")),
    })
}
