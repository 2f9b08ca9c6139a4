//! HTTP/1.1 over TCP (TLS for `https://`) or a Unix socket, with one persistent connection
//! reused across calls.
//!
//! Calls are serialized on that connection (as with Supervisor's own `SupervisorTransport`): a
//! deferred call such as `stopProcess(wait=True)` holds it until the server answers. Clone the
//! `Client` per task only if you also want that, or build several clients for parallel calls.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::Mutex;

use crate::error::Error;
use crate::url::{Endpoint, ServerUrl};

pub(crate) struct Transport {
    pub(crate) url: ServerUrl,
    /// Precomputed `Authorization` header value.
    auth: Option<HeaderValue>,
    /// For an `https://` URL.
    tls: Option<tokio_rustls::TlsConnector>,
    conn: Mutex<Option<SendRequest<Full<Bytes>>>>,
}

/// Basic-auth header value, as Python's client builds it (`user:pass`, base64); marked
/// sensitive, so a `{:?}` of it (or of a request) shows no credentials.
fn basic_auth(username: &str, password: &model::Secret) -> Option<HeaderValue> {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD
        .encode(format!("{username}:{}", password.expose()));
    let mut value = HeaderValue::from_str(&format!("Basic {token}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

impl Transport {
    pub(crate) fn new(
        url: ServerUrl,
        credentials: Option<(String, model::Secret)>,
        tls: Option<tokio_rustls::TlsConnector>,
    ) -> Transport {
        Transport {
            url,
            auth: credentials.and_then(|(u, p)| basic_auth(&u, &p)),
            tls,
            conn: Mutex::new(None),
        }
    }

    fn connect_error(&self, e: std::io::Error) -> Error {
        let url = self.url.original.clone();
        match e.kind() {
            std::io::ErrorKind::ConnectionRefused => Error::ConnectionRefused { url },
            std::io::ErrorKind::NotFound if matches!(self.url.endpoint, Endpoint::Unix(_)) => {
                Error::NoSuchSocket { url }
            }
            _ => Error::Unreachable {
                url,
                reason: e.to_string(),
            },
        }
    }

    fn unreachable(&self, reason: impl std::fmt::Display) -> Error {
        Error::Unreachable {
            url: self.url.original.clone(),
            reason: reason.to_string(),
        }
    }

    /// Opens a new HTTP/1.1 connection; the connection driver runs on its own task and ends when
    /// the returned sender (and every request on it) is dropped.
    async fn open<B>(&self) -> Result<SendRequest<B>, Error>
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        match &self.url.endpoint {
            Endpoint::Tcp { host, port, .. } => {
                let bare = host.trim_start_matches('[').trim_end_matches(']');
                let stream = TcpStream::connect((bare, *port))
                    .await
                    .map_err(|e| self.connect_error(e))?;
                // Supervisor answers in several writes; without NODELAY small requests can stall
                // behind delayed ACKs.
                let _ = stream.set_nodelay(true);
                match &self.tls {
                    None => self.handshake(TokioIo::new(stream)).await,
                    Some(connector) => {
                        let name = rustls_pki_types::ServerName::try_from(bare.to_string())
                            .map_err(|e| self.unreachable(format_args!("TLS: {bare}: {e}")))?;
                        let stream = connector
                            .connect(name, stream)
                            .await
                            .map_err(|e| self.unreachable(format_args!("TLS: {e}")))?;
                        self.handshake(TokioIo::new(stream)).await
                    }
                }
            }
            Endpoint::Unix(path) => {
                let stream = UnixStream::connect(path)
                    .await
                    .map_err(|e| self.connect_error(e))?;
                self.handshake(TokioIo::new(stream)).await
            }
        }
    }

    async fn handshake<T, B>(&self, io: T) -> Result<SendRequest<B>, Error>
    where
        T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (sender, conn) = http1::handshake(io)
            .await
            .map_err(|e| self.unreachable(e))?;
        tokio::spawn(async move {
            // The error (if any) surfaces on the pending request; nothing to do with it here.
            let _ = conn.await;
        });
        Ok(sender)
    }

    fn request<B>(&self, method: Method, path: &str, body: B) -> Result<Request<B>, Error> {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.url.host_header());
        if let Some(auth) = &self.auth {
            builder = builder.header(AUTHORIZATION, auth.clone());
        }
        builder
            .header(CONTENT_TYPE, "text/xml")
            .header(ACCEPT, "text/xml")
            .body(body)
            .map_err(|e| Error::InvalidUrl(format!("{}: {e}", self.url.original)))
    }

    /// POSTs an XML-RPC body and returns the response body of a 200 answer.
    ///
    /// A reused connection that the server closed while idle is detected by the failed send and
    /// retried once on a fresh connection; a failure on a fresh connection is reported.
    pub(crate) async fn post(&self, body: String) -> Result<Bytes, Error> {
        let body = Bytes::from(body);
        let mut slot = self.conn.lock().await;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (mut sender, reused) = match slot.take() {
                Some(s) if !s.is_closed() => (s, true),
                _ => (self.open::<Full<Bytes>>().await?, false),
            };
            let can_retry = reused && attempt == 1;
            if let Err(e) = sender.ready().await {
                if can_retry {
                    continue;
                }
                return Err(self.unreachable(e));
            }
            let req = self.request(Method::POST, &self.url.rpc_path, Full::new(body.clone()))?;
            let resp = match sender.send_request(req).await {
                Ok(resp) => resp,
                Err(e)
                    if can_retry
                        && (e.is_canceled() || e.is_incomplete_message() || e.is_closed()) =>
                {
                    continue
                }
                Err(e) => return Err(self.unreachable(e)),
            };
            let status = resp.status();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| self.unreachable(e))?
                .to_bytes();
            // Keep the connection for the next call unless the server is closing it.
            if !sender.is_closed() {
                *slot = Some(sender);
            }
            return match status {
                StatusCode::OK => Ok(bytes),
                StatusCode::UNAUTHORIZED => Err(Error::Unauthorized),
                other => Err(Error::HttpStatus {
                    status: other.as_u16(),
                }),
            };
        }
    }

    /// Starts a streaming GET on a connection of its own and returns the body once the status is
    /// known to be 200, with the sender that keeps the connection open while it is read.
    pub(crate) async fn get_stream(
        &self,
        path: &str,
    ) -> Result<(SendRequest<Empty<Bytes>>, hyper::body::Incoming), Error> {
        let mut sender = self.open::<Empty<Bytes>>().await?;
        sender.ready().await.map_err(|e| self.unreachable(e))?;
        let req = self.request(Method::GET, path, Empty::new())?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| self.unreachable(e))?;
        match resp.status() {
            StatusCode::OK => Ok((sender, resp.into_body())),
            StatusCode::UNAUTHORIZED => Err(Error::Unauthorized),
            other => Err(Error::HttpStatus {
                status: other.as_u16(),
            }),
        }
    }
}
