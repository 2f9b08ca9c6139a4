//! Serving: our own accept loop over a listener the daemon bound (so bind errors are the
//! daemon's to report, and tests bind port 0), `TCP_NODELAY` on every TCP connection, hyper
//! HTTP/1.1 connections running the warp filter, and a graceful shutdown that ends log tails,
//! lets in-flight calls answer and gives up after [`ServerOptions::shutdown_grace`].

use crate::http::App;
use crate::namespace::Namespace;
use crate::rpc::{check_namespace_name, NamespaceError, Rpc};
use crate::tls::ServerTls;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use model::Credentials;
use procman::SupervisorApi;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use warp::Filter;

/// Default limit of an XML-RPC request body.
pub const DEFAULT_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// Default cap on the connections one server holds open at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;

/// Default bound on reading a request's headers (and the wait for the next request on a
/// kept-alive connection), and on reading its body.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How one HTTP server (one `[inet_http_server]` or `[unix_http_server]`) behaves.
#[derive(Clone)]
pub struct ServerOptions {
    /// Basic-auth user and password; `None` serves everyone (Supervisor logs a CRIT for that).
    pub credentials: Option<Credentials>,
    /// The user who may only read (`readonly_username`/`readonly_password`): every GET, and
    /// the XML-RPC methods that change nothing. Only with `credentials`.
    pub read_only: Option<Credentials>,
    /// Larger XML-RPC bodies get HTTP 413 (default [`DEFAULT_MAX_BODY_BYTES`]).
    pub max_body_bytes: usize,
    /// How often a log tail checks its file for new data (Supervisor: 0.1 s).
    pub tail_poll_interval: Duration,
    /// How long shutdown waits for in-flight requests before returning anyway.
    pub shutdown_grace: Duration,
    /// Connections held open at once; the next ones wait in the listen backlog. Every
    /// connection is a file descriptor, and so are the pipes of the children a spawn needs:
    /// a client opening connections without end must not starve the programs.
    pub max_connections: usize,
    /// A client that does not send its request's headers (or a next request on a kept-alive
    /// connection) within this is disconnected; one that does not send its body within this
    /// gets 408. Answers (log tails, events) are not bounded by it.
    pub request_timeout: Duration,
    namespaces: Vec<Arc<dyn Namespace>>,
    /// What `GET /events` streams as Server-Sent Events; `None`: 404 there.
    events: Option<EventSource>,
    /// What `GET /metrics` answers, and who is told of each XML-RPC call; `None`: 404 there.
    metrics: Option<MetricsHooks>,
    /// `/` is the cluster's dashboard (Supervisor's status page stays at `/index.html`).
    dashboard: bool,
    /// Every connection is TLS first (`https://`); `None`: plain HTTP.
    tls: Option<Arc<ServerTls>>,
}

/// The text of one scrape of `GET /metrics`.
pub type Scrape = Arc<dyn Fn() -> futures_util::future::BoxFuture<'static, String> + Send + Sync>;

/// Told of each XML-RPC call: its method, how long it took, whether it was a fault.
pub type RpcObserver = Arc<dyn Fn(&str, Duration, bool) + Send + Sync>;

/// The daemon's metrics as the HTTP front sees them: a scrape (the text of `GET /metrics`,
/// taken at each request) and an observer told of each XML-RPC call (its method, resolved or
/// `unknown`, how long it took, whether it was a fault). Closures, so that this crate knows
/// nothing of the metrics' format.
#[derive(Clone)]
pub struct MetricsHooks {
    pub scrape: Scrape,
    /// The scrape's `Content-Type`.
    pub content_type: &'static str,
    pub observe_rpc: RpcObserver,
}

/// A source of Server-Sent Events for `GET /events`: each call opens one subscription, a
/// stream of `(event name, data)` pairs from then on (the cluster's events: the `events`
/// crate's hub, given by the daemon).
pub type EventSource =
    Arc<dyn Fn() -> futures_util::stream::BoxStream<'static, (String, String)> + Send + Sync>;

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            credentials: None,
            read_only: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            tail_poll_interval: Duration::from_millis(100),
            shutdown_grace: Duration::from_secs(10),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            namespaces: Vec::new(),
            events: None,
            metrics: None,
            dashboard: false,
            tls: None,
        }
    }
}

impl std::fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerOptions")
            .field("auth", &self.credentials.as_ref().map(|c| &c.username))
            .field("read_only", &self.read_only.as_ref().map(|c| &c.username))
            .field("max_body_bytes", &self.max_body_bytes)
            .field("tail_poll_interval", &self.tail_poll_interval)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("max_connections", &self.max_connections)
            .field("request_timeout", &self.request_timeout)
            .field("tls", &self.tls.is_some())
            .field(
                "namespaces",
                &self
                    .namespaces
                    .iter()
                    .map(|ns| ns.name())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl ServerOptions {
    /// Serves `namespace` next to `system` and `supervisor` (e.g. Supvisors' `supvisors`).
    /// Fails on a taken or uncallable name.
    pub fn with_namespace(mut self, namespace: Arc<dyn Namespace>) -> Result<Self, NamespaceError> {
        let taken = std::iter::once("supervisor").chain(self.namespaces.iter().map(|ns| ns.name()));
        check_namespace_name(namespace.name(), taken)?;
        self.namespaces.push(namespace);
        Ok(self)
    }

    /// Serves `events` as Server-Sent Events on `GET /events` (same authentication as the
    /// rest), for browsers and `curl -N`.
    pub fn with_events(mut self, events: EventSource) -> Self {
        self.events = Some(events);
        self
    }

    /// Serves `metrics.scrape` on `GET /metrics` (same authentication as the rest) and tells
    /// `metrics.observe_rpc` of each XML-RPC call.
    pub fn with_metrics(mut self, metrics: MetricsHooks) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Serves the cluster's dashboard at `/` (it reads the `supvisors` namespace over REST
    /// and follows `/events`), Supervisor's status page staying at `/index.html`.
    pub fn with_dashboard(mut self) -> Self {
        self.dashboard = true;
        self
    }

    /// Serves HTTPS: each connection's TLS handshake must end within the request timeout,
    /// and a connection waiting for it holds one of the capped slots.
    pub fn with_tls(mut self, tls: Arc<ServerTls>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The connection cap and request timeout of a server section.
    pub fn set_limits(&mut self, limits: model::HttpLimits) {
        self.max_connections = limits.max_connections as usize;
        self.request_timeout = Duration::from_secs(u64::from(limits.request_timeout_secs));
    }

    /// The dispatcher these options describe over `api`.
    pub fn rpc<S: SupervisorApi>(&self, api: S) -> Rpc {
        Rpc::with_checked_namespaces(api, self.namespaces.clone())
    }
}

/// A listener whose connections can carry HTTP.
trait Acceptor: Send + 'static {
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn accept_io(&self) -> impl Future<Output = io::Result<Self::Io>> + Send;
}

impl Acceptor for TcpListener {
    type Io = tokio::net::TcpStream;
    async fn accept_io(&self) -> io::Result<Self::Io> {
        let (stream, peer) = self.accept().await?;
        // Replies leave in one write anyway; NODELAY also keeps a client that writes its
        // request in pieces from waiting on delayed ACKs (Supervisor's 40 ms cliff: see
        // docs/supvisors.md, 'XML-RPC wire compatibility').
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%peer, error = %err, "could not set TCP_NODELAY");
        }
        Ok(stream)
    }
}

impl Acceptor for UnixListener {
    type Io = tokio::net::UnixStream;
    async fn accept_io(&self) -> io::Result<Self::Io> {
        self.accept().await.map(|(stream, _)| stream)
    }
}

/// Serves HTTP on a bound TCP listener until `shutdown` resolves, then drains (see module doc).
pub async fn serve_tcp<S: SupervisorApi>(
    listener: TcpListener,
    api: S,
    opts: ServerOptions,
    shutdown: impl Future<Output = ()> + Send,
) {
    serve(listener, api, opts, shutdown).await
}

/// Serves HTTP on a bound unix-socket listener (supervisorctl `unix://` URLs). The socket file
/// (creation, mode, removal) is the caller's business.
pub async fn serve_unix<S: SupervisorApi>(
    listener: UnixListener,
    api: S,
    opts: ServerOptions,
    shutdown: impl Future<Output = ()> + Send,
) {
    serve(listener, api, opts, shutdown).await
}

async fn serve<L: Acceptor, S: SupervisorApi>(
    listener: L,
    api: S,
    opts: ServerOptions,
    shutdown: impl Future<Output = ()> + Send,
) {
    let streams = CancellationToken::new();
    let rpc = opts.rpc(api.clone());
    let app = Arc::new(App {
        api,
        credentials: opts.credentials.clone(),
        read_only: opts.read_only.clone(),
        max_body_bytes: opts.max_body_bytes,
        request_timeout: opts.request_timeout,
        tail_poll_interval: opts.tail_poll_interval,
        streams: streams.clone(),
        events: opts.events.clone(),
        metrics: opts.metrics.clone(),
        dashboard: opts.dashboard,
        rest: crate::http::Rest::new(&rpc, opts.credentials.is_some()),
        rpc,
    });
    let filter = warp::method()
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(
            move |method, path: warp::path::FullPath, query: String, headers, body| {
                let app = app.clone();
                async move {
                    app.handle(method, path.as_str().to_string(), query, headers, body)
                        .await
                }
            },
        );
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let slots = Arc::new(Semaphore::new(opts.max_connections.max(1)));
    let mut full_since: Option<std::time::Instant> = None;
    loop {
        // A slot first, then the connection: at the cap, new clients wait in the backlog.
        if slots.available_permits() == 0 && full_since.is_none() {
            full_since = Some(std::time::Instant::now());
            tracing::warn!(
                max_connections = opts.max_connections,
                "HTTP connection cap reached: new connections wait until one closes"
            );
        }
        let slot = tokio::select! {
            biased;
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        if let Some(since) = full_since.take() {
            tracing::info!(waited = ?since.elapsed(), "HTTP connections below the cap again");
        }
        let io = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept_io() => match accepted {
                Ok(io) => io,
                Err(err) => {
                    // Typically EMFILE: back off instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(warp::service(filter.clone()));
        let http = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(opts.request_timeout)
            .clone();
        let watcher = graceful.watcher();
        let tls = opts.tls.as_ref().map(|tls| tls.acceptor());
        let handshake_timeout = opts.request_timeout;
        tokio::spawn(async move {
            let result = match tls {
                None => {
                    watcher
                        .watch(http.serve_connection(TokioIo::new(io), service))
                        .await
                }
                Some(acceptor) => {
                    // In the connection's own task: a client that never ends its handshake
                    // holds its slot for the request timeout, not the accept loop.
                    let stream = match tokio::time::timeout(handshake_timeout, acceptor.accept(io))
                        .await
                    {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(err)) => {
                            tracing::debug!(error = %err, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!("TLS handshake not done within the request timeout");
                            return;
                        }
                    };
                    watcher
                        .watch(http.serve_connection(TokioIo::new(stream), service))
                        .await
                }
            };
            if let Err(err) = result {
                tracing::debug!(error = %err, "HTTP connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    streams.cancel();
    if tokio::time::timeout(opts.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(grace = ?opts.shutdown_grace, "HTTP connections still busy after the shutdown grace period; leaving them");
    }
}
