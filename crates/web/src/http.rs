//! Request handling: Supervisor's handler chain (first match wins) behind basic auth.
//!
//! ```text
//! any request ─ auth? ─┬─ /RPC2*        POST → body (≤ limit) → codec → Rpc → 200 text/xml
//!                      │                else 400
//!                      ├─ /logtail/<namespec>[/stdout|/stderr]  GET → tail -f (chunked)
//!                      ├─ /mainlogtail  GET → tail -f of the main log
//!                      ├─ /events       GET → the cluster's events as Server-Sent Events
//!                      ├─ /metrics      GET → the Prometheus metrics
//!                      ├─ /openapi.json, /api  GET → the REST API's OpenAPI document, its page
//!                      ├─ /<namespace>/<method>/…  GET|POST → the REST form of a method (JSON)
//!                      ├─ / (dashboard on), /ui/*  GET → the cluster's dashboard and its assets
//!                      ├─ / , /index.html  GET → status page
//!                      └─ anything else → 404
//! ```
//! Every non-streaming reply is one `String` body, so hyper sends it with `Content-Length`.

use crate::auth::{self, Access};
use crate::codec;
use crate::logtail;
use crate::rest;
use crate::rpc::Rpc;
use bytes::Buf;
use futures_util::{Stream, StreamExt};
use model::Credentials;
use procman::{Channel, SupervisorApi};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use warp::http::header::{HeaderValue, AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use warp::http::{HeaderMap, Method, StatusCode};
use warp::reply::Response;
use warp::Reply;

/// Everything a request handler needs; shared by all connections of one server.
pub(crate) struct App<S> {
    pub api: S,
    pub rpc: Rpc,
    pub credentials: Option<Credentials>,
    /// The user who may only read (`readonly_username`), next to `credentials`.
    pub read_only: Option<Credentials>,
    pub max_body_bytes: usize,
    /// How long a request body may take to arrive (408 after).
    pub request_timeout: Duration,
    pub tail_poll_interval: Duration,
    /// Cancelled at shutdown so that open log tails and event streams end.
    pub streams: CancellationToken,
    /// What `/events` streams (a cluster's events), if anything.
    pub events: Option<crate::server::EventSource>,
    /// What `/metrics` answers and who is told of each call, if anything.
    pub metrics: Option<crate::server::MetricsHooks>,
    /// Whether `/` is the cluster's dashboard (else Supervisor's status page).
    pub dashboard: bool,
    pub rest: Rest,
}

/// The REST form of the API (see [`crate::rest`]): its routes. Its OpenAPI document and API
/// page are rendered at each request rather than kept: an idle daemon held ~50 KB of text
/// per HTTP server that almost nobody asks for, and rendering them took ~2 ms of each
/// daemon's start (a 25-host launch on one machine pays it 25 times at once).
pub(crate) struct Rest {
    routes: Vec<rest::Route>,
    basic_auth: bool,
}

impl Rest {
    pub fn new(rpc: &Rpc, basic_auth: bool) -> Rest {
        Rest {
            routes: rest::routes(rpc.tables()),
            basic_auth,
        }
    }

    fn openapi(&self) -> String {
        rest::openapi(&self.routes, env!("CARGO_PKG_VERSION"), self.basic_auth).to_string()
    }

    fn page(&self) -> String {
        rest::api_page(&self.routes)
    }
}

/// The cluster's dashboard, built into the binary: the operators' hosts need no internet.
const DASHBOARD_HTML: &str = include_str!("../assets/dashboard.html");
const DASHBOARD_JS: &str = include_str!("../assets/dashboard.js");
const DASHBOARD_CSS: &str = include_str!("../assets/dashboard.css");

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut response = warp::reply::with_status(body, status).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A reply whose body follows `stream` as it comes (a log tail, the events), of
/// `content_type`, that proxies must not buffer.
fn streaming(
    stream: impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + Sync + 'static,
    content_type: &'static str,
) -> Response {
    let mut response = warp::reply::stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// medusa's error page, as Supervisor sends it for 400/401/404/413.
fn error_page(status: StatusCode) -> Response {
    let body = format!(
        "<head>\r\n<title>Error response</title>\r\n</head>\r\n<body>\r\n<h1>Error response</h1>\r\n<p>Error code {}.\r\n<p>Message: {}.\r\n</body>\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error"),
    );
    reply(status, "text/html", body)
}

fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

fn unauthorized() -> Response {
    let mut response = closing(error_page(StatusCode::UNAUTHORIZED));
    response.headers_mut().insert(
        warp::http::header::WWW_AUTHENTICATE,
        HeaderValue::from_static(auth::CHALLENGE),
    );
    response
}

/// Whether a browser sent this request for a page of another site: a REST command needs no
/// body nor header a browser would check first (CORS), so without this a page elsewhere could
/// act with the credentials the browser keeps for this server. Browsers say where a request
/// comes from (`Sec-Fetch-Site`, `Origin`); other clients say nothing and are not concerned.
fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let (Some(origin), Some(host)) = (headers.get("origin"), headers.get("host")) else {
        return false;
    };
    let origin = origin.to_str().unwrap_or_default();
    let authority = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    !authority.eq_ignore_ascii_case(host.to_str().unwrap_or_default())
}

/// Why a request body was not read.
enum BodyError {
    TooLarge,
    Broken,
}

/// Reads the whole body, refusing (before reading when Content-Length says so) anything over
/// `limit` bytes.
async fn read_body<B: Buf>(
    headers: &HeaderMap,
    body: impl Stream<Item = Result<B, warp::Error>>,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut data = Vec::with_capacity(declared.unwrap_or(0) as usize);
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|_| BodyError::Broken)?;
        if data.len() + chunk.remaining() > limit {
            return Err(BodyError::TooLarge);
        }
        while chunk.has_remaining() {
            let piece = chunk.chunk();
            data.extend_from_slice(piece);
            let n = piece.len();
            chunk.advance(n);
        }
    }
    Ok(data)
}

/// `%xx` decoding of a URL path (Supervisor unquotes logtail paths containing `%`).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `/logtail/<namespec>[/<channel>]` → `(namespec, channel)`; `None` for an unknown channel or
/// a missing name.
pub(crate) fn parse_logtail_path(path: &str) -> Option<(String, Channel)> {
    let decoded = percent_decode(path);
    let rest = decoded.trim_start_matches('/').split_once('/')?.1;
    let (name, channel) = match rest.split_once('/') {
        Some((name, channel)) => (name, channel),
        None => (rest, "stdout"),
    };
    let channel = match channel {
        "stdout" => Channel::Stdout,
        "stderr" => Channel::Stderr,
        _ => return None,
    };
    (!name.is_empty()).then(|| (name.to_string(), channel))
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl<S: SupervisorApi> App<S> {
    pub async fn handle<B: Buf>(
        self: Arc<Self>,
        method: Method,
        path: String,
        query: String,
        headers: HeaderMap,
        body: impl Stream<Item = Result<B, warp::Error>> + Send,
    ) -> Response {
        let authorization = headers.get(AUTHORIZATION).map(|v| v.as_bytes());
        let granted = auth::access(
            self.credentials.as_ref(),
            self.read_only.as_ref(),
            authorization,
        );
        let Some((access, user)) = granted else {
            tracing::debug!(%method, %path, "request refused: bad or missing credentials");
            return unauthorized();
        };
        if path.starts_with("/RPC2") {
            if method != Method::POST {
                return error_page(StatusCode::BAD_REQUEST);
            }
            // A form of another site can post a text/plain body that parses as XML-RPC.
            if cross_site(&headers) {
                tracing::warn!("XML-RPC request refused: sent by another site's page");
                return error_page(StatusCode::FORBIDDEN);
            }
            return self.rpc_request(&headers, body, access, user).await;
        }
        if path.starts_with("/logtail") || path.starts_with("/mainlogtail") {
            if method != Method::GET {
                return error_page(StatusCode::BAD_REQUEST);
            }
            let log = if path.starts_with("/logtail") {
                match parse_logtail_path(&path) {
                    Some((name, channel)) => self.api.log_path(&name, channel).await,
                    None => return error_page(StatusCode::NOT_FOUND),
                }
            } else {
                self.api.main_log_path()
            };
            return match log {
                Ok(log) => self.tail(log).await,
                Err(_) => error_page(StatusCode::NOT_FOUND),
            };
        }
        if path == "/events" {
            return match (&self.events, method) {
                (Some(source), Method::GET) => self.event_stream(source),
                (Some(_), _) => error_page(StatusCode::BAD_REQUEST),
                (None, _) => error_page(StatusCode::NOT_FOUND),
            };
        }
        if path == "/metrics" {
            return match (&self.metrics, method) {
                (Some(metrics), Method::GET) => {
                    let text = (metrics.scrape)().await;
                    reply(StatusCode::OK, metrics.content_type, text)
                }
                (Some(_), _) => error_page(StatusCode::BAD_REQUEST),
                (None, _) => error_page(StatusCode::NOT_FOUND),
            };
        }
        if method == Method::GET && path == "/openapi.json" {
            return reply(StatusCode::OK, "application/json", self.rest.openapi());
        }
        if method == Method::GET && path == "/api" {
            return reply(StatusCode::OK, "text/html;charset=utf-8", self.rest.page());
        }
        if let Some(resolved) = rest::resolve(&self.rest.routes, method.as_str(), &path, &query) {
            let (status, body) = match resolved {
                rest::Resolved::Call(_) if method == Method::POST && cross_site(&headers) => (
                    StatusCode::FORBIDDEN,
                    serde_json::json!({ "message": "a command from another site's page is refused" }),
                ),
                rest::Resolved::Call(call)
                    if method == Method::POST && access == Access::ReadOnly =>
                {
                    tracing::info!(method = %call.name, %user, "REST command refused to a read-only user");
                    (
                        StatusCode::FORBIDDEN,
                        serde_json::json!({
                            "message": format!("FAILED: {}: refused to a read-only user", call.name),
                            "code": model::FaultCode::Failed.code(),
                        }),
                    )
                }
                rest::Resolved::Call(call) => {
                    rest::result_reply(&self.observed_call(call, access, user).await)
                }
                rest::Resolved::Reply(status, body) => (status, body),
                rest::Resolved::WrongVerb(verb, body) => {
                    let mut response = reply(
                        StatusCode::METHOD_NOT_ALLOWED,
                        "application/json",
                        body.to_string(),
                    );
                    response.headers_mut().insert(
                        warp::http::header::ALLOW,
                        HeaderValue::from_static(verb.as_str()),
                    );
                    return response;
                }
            };
            return reply(status, "application/json", body.to_string());
        }
        if self.dashboard && method == Method::GET {
            let asset = match path.as_str() {
                "/" => Some(("text/html;charset=utf-8", DASHBOARD_HTML)),
                "/ui/dashboard.js" => Some(("text/javascript;charset=utf-8", DASHBOARD_JS)),
                "/ui/dashboard.css" => Some(("text/css;charset=utf-8", DASHBOARD_CSS)),
                _ => None,
            };
            if let Some((content_type, text)) = asset {
                return reply(StatusCode::OK, content_type, text.to_string());
            }
        }
        if (path == "/" || path == "/index.html") && method == Method::GET {
            return self.status_page().await;
        }
        error_page(StatusCode::NOT_FOUND)
    }

    async fn rpc_request<B: Buf>(
        &self,
        headers: &HeaderMap,
        body: impl Stream<Item = Result<B, warp::Error>>,
        access: Access,
        user: String,
    ) -> Response {
        let read = read_body(headers, body, self.max_body_bytes);
        let Ok(read) = tokio::time::timeout(self.request_timeout, read).await else {
            tracing::warn!(
                timeout = ?self.request_timeout,
                "XML-RPC request refused: body not received in time"
            );
            return closing(error_page(StatusCode::REQUEST_TIMEOUT));
        };
        let data = match read {
            Ok(data) => data,
            Err(BodyError::TooLarge) => {
                tracing::warn!(
                    limit = self.max_body_bytes,
                    "XML-RPC request refused: body too large"
                );
                return closing(error_page(StatusCode::PAYLOAD_TOO_LARGE));
            }
            Err(BodyError::Broken) => return closing(error_page(StatusCode::BAD_REQUEST)),
        };
        let call = match codec::parse_method_call(&data) {
            Ok(call) if !call.name.is_empty() => call,
            Ok(_) => {
                tracing::warn!("XML-RPC request refused: no method name");
                return error_page(StatusCode::BAD_REQUEST);
            }
            Err(err) => {
                tracing::warn!(error = %err, "XML-RPC request refused: unparsable");
                return error_page(StatusCode::BAD_REQUEST);
            }
        };
        let name = call.name.clone();
        let xml = match self.observed_call(call, access, user).await {
            Ok(value) => codec::render_response(&value),
            Err(fault) => {
                tracing::trace!(method = %name, fault = %fault, "XML-RPC call returned a fault");
                codec::render_fault(fault.code.code(), &fault.fault_string())
            }
        };
        reply(StatusCode::OK, "text/xml", xml)
    }

    /// Runs `call` as `user` with `access` (the user the credentials named), and tells the
    /// metrics of it.
    async fn observed_call(
        &self,
        call: xmlrpc::MethodCall,
        access: Access,
        user: String,
    ) -> Result<xmlrpc::Value, model::Fault> {
        let name = call.name.clone();
        let started = std::time::Instant::now();
        let outcome = crate::caller::scope(user, self.rpc.call_as(call, access)).await;
        if let Some(metrics) = &self.metrics {
            // A name no method has is counted as `unknown`: a client cannot grow the label set.
            let method = if self.rpc.knows(&name) {
                name.as_str()
            } else {
                "unknown"
            };
            (metrics.observe_rpc)(method, started.elapsed(), outcome.is_err());
        }
        outcome
    }

    async fn tail(&self, log: PathBuf) -> Response {
        match logtail::follow(&log, self.tail_poll_interval, self.streams.clone()).await {
            Ok(stream) => streaming(stream, "text/plain;charset=utf-8"),
            Err(_) => error_page(StatusCode::NOT_FOUND),
        }
    }

    /// `GET /events`: the events from now on, each as `event: <header>` and `data: <JSON>`
    /// (the same header and body as the ZeroMQ messages), until the client goes or the
    /// server stops. A first comment line opens the stream at once.
    fn event_stream(&self, source: &crate::server::EventSource) -> Response {
        let mut events = source();
        let stop = self.streams.clone();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(64);
        tokio::spawn(async move {
            if tx
                .send(Ok(bytes::Bytes::from_static(b": raftvisor events\n\n")))
                .await
                .is_err()
            {
                return;
            }
            loop {
                let next = tokio::select! {
                    next = events.next() => next,
                    _ = stop.cancelled() => None,
                    _ = tx.closed() => None,
                };
                let Some((name, data)) = next else { break };
                let frame = format!("event: {name}\ndata: {data}\n\n");
                if tx.send(Ok(bytes::Bytes::from(frame))).await.is_err() {
                    break;
                }
            }
        });
        let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
        let mut response = streaming(stream, "text/event-stream");
        response
            .headers_mut()
            .insert("cache-control", HeaderValue::from_static("no-cache"));
        response
    }

    /// A minimal status table (Supervisor's web UI is not reproduced).
    async fn status_page(&self) -> Response {
        let mut rows = String::new();
        for info in self.api.all_process_info().await {
            let name = model::make_namespec(&info.group, &info.name);
            rows.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                html_escape(&name),
                info.state.name(),
                html_escape(&info.description),
            ));
        }
        let identification = html_escape(&self.api.identification());
        let body = format!(
            "<!DOCTYPE html>\n<html><head><title>{identification}</title></head><body>\n<h1>{identification}</h1>\n<table>\n<tr><th>Name</th><th>State</th><th>Description</th></tr>\n{rows}</table>\n</body></html>\n"
        );
        reply(StatusCode::OK, "text/html;charset=utf-8", body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_from_another_site_s_page_are_told_apart() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, HeaderValue::from_static(v));
            }
            h
        };
        // Not a browser: nothing said, nothing refused.
        assert!(!cross_site(&headers(&[("host", "127.0.0.1:9001")])));
        // The dashboard's own requests.
        assert!(!cross_site(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!cross_site(&headers(&[
            ("host", "127.0.0.1:9001"),
            ("origin", "http://127.0.0.1:9001")
        ])));
        // Another site's page.
        assert!(cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(cross_site(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(cross_site(&headers(&[
            ("host", "127.0.0.1:9001"),
            ("origin", "http://evil.example")
        ])));
    }

    #[test]
    fn logtail_paths() {
        assert_eq!(
            parse_logtail_path("/logtail/cat"),
            Some(("cat".into(), Channel::Stdout))
        );
        assert_eq!(
            parse_logtail_path("/logtail/g:cat/stderr"),
            Some(("g:cat".into(), Channel::Stderr))
        );
        assert_eq!(
            parse_logtail_path("/logtail/g%3Acat/stdout"),
            Some(("g:cat".into(), Channel::Stdout))
        );
        assert_eq!(parse_logtail_path("/logtail/cat/other"), None);
        assert_eq!(parse_logtail_path("/logtail"), None);
        assert_eq!(parse_logtail_path("/logtail/"), None);
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
