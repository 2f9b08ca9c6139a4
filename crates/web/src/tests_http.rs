//! HTTP tests on real listeners (127.0.0.1:0 and a unix socket) with a raw HTTP/1.1 client, so
//! the bytes on the wire are what is checked (status, headers, Content-Length vs chunked).

use crate::fake::FakeApi;
use crate::server::{serve_tcp, serve_unix, ServerOptions};
use base64::Engine;
use model::{Credentials, Password};
use procman::Channel;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use xmlrpc::Value;

const DEADLINE: Duration = Duration::from_secs(10);

struct TestServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TestServer {
    async fn start(api: FakeApi, opts: ServerOptions) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_tcp(listener, api, opts, async {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            stop: Some(stop),
            task,
        }
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.unwrap()
    }

    /// Fires shutdown and proves the server task ends.
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(DEADLINE, &mut self.task)
            .await
            .expect("server did not stop in time")
            .unwrap();
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads the status line and headers (up to the blank line); returns them and any body bytes
/// already received.
async fn read_head(io: &mut (impl AsyncRead + Unpin)) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        let n = tokio::time::timeout(DEADLINE, io.read(&mut chunk))
            .await
            .expect("no response head in time")
            .unwrap();
        assert!(
            n > 0,
            "connection closed before the head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("bad status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    (status, headers, buf[end + 4..].to_vec())
}

/// Reads one response delimited by Content-Length (keeps the connection usable).
async fn read_reply(io: &mut (impl AsyncRead + Unpin)) -> Reply {
    let (status, headers, mut body) = read_head(io).await;
    let reply = Reply {
        status,
        headers,
        body: Vec::new(),
    };
    let length: usize = reply
        .header("content-length")
        .expect("no Content-Length")
        .parse()
        .unwrap();
    let mut chunk = [0u8; 4096];
    while body.len() < length {
        let n = tokio::time::timeout(DEADLINE, io.read(&mut chunk))
            .await
            .expect("body not received in time")
            .unwrap();
        assert!(n > 0, "connection closed inside the body");
        body.extend_from_slice(&chunk[..n]);
    }
    Reply { body, ..reply }
}

fn post(path: &str, body: &[u8], extra_headers: &str) -> Vec<u8> {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n{extra_headers}\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req
}

fn get(path: &str, extra_headers: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra_headers}\r\n").into_bytes()
}

fn rpc_body(name: &str, params: &[Value]) -> Vec<u8> {
    xmlrpc::render_method_call(name, params).into_bytes()
}

async fn exchange(io: &mut (impl AsyncRead + AsyncWrite + Unpin), request: &[u8]) -> Reply {
    io.write_all(request).await.unwrap();
    read_reply(io).await
}

fn basic(user_pass: &str) -> String {
    format!(
        "Authorization: Basic {}\r\n",
        base64::engine::general_purpose::STANDARD.encode(user_pass)
    )
}

#[tokio::test]
async fn rpc_replies_are_xml_with_content_length_on_a_kept_alive_connection() {
    let server = TestServer::start(FakeApi::new(), ServerOptions::default()).await;
    let mut conn = server.connect().await;

    let reply = exchange(
        &mut conn,
        &post("/RPC2", &rpc_body("supervisor.getState", &[]), ""),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("text/xml"));
    assert_eq!(reply.header("transfer-encoding"), None);
    assert_eq!(
        xmlrpc::parse_response(&reply.body).unwrap(),
        Ok(Value::Struct(vec![
            ("statecode".into(), Value::Int(1)),
            ("statename".into(), Value::String("RUNNING".into())),
        ]))
    );

    // Same connection; a large reply (listMethods + methodHelp × n via multicall) in one body.
    let calls: Vec<Value> = (0..60)
        .map(|_| {
            Value::Struct(vec![
                (
                    "methodName".into(),
                    Value::String("supervisor.getAllProcessInfo".into()),
                ),
                ("params".into(), Value::Array(vec![])),
            ])
        })
        .collect();
    let reply = exchange(
        &mut conn,
        &post(
            "/RPC2",
            &rpc_body("system.multicall", &[Value::Array(calls)]),
            "",
        ),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.len() > 4096 * 10);
    assert_eq!(reply.header("transfer-encoding"), None);
    let Ok(Value::Array(results)) = xmlrpc::parse_response(&reply.body).unwrap() else {
        panic!("not an array")
    };
    assert_eq!(results.len(), 60);

    // The URI only has to start with /RPC2; faults are HTTP 200.
    let reply = exchange(
        &mut conn,
        &post(
            "/RPC2/extra",
            &rpc_body("supervisor.getProcessInfo", &[Value::String("nope".into())]),
            "",
        ),
    )
    .await;
    assert_eq!(reply.status, 200);
    let fault = xmlrpc::parse_response(&reply.body).unwrap().unwrap_err();
    assert_eq!((fault.code, fault.string.as_str()), (10, "BAD_NAME: nope"));
    server.stop().await;
}

#[tokio::test]
async fn bad_requests_get_http_400() {
    let server = TestServer::start(FakeApi::new(), ServerOptions::default()).await;
    let mut conn = server.connect().await;
    let reply = exchange(&mut conn, &get("/RPC2", "")).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.header("content-type"), Some("text/html"));
    assert!(reply.text().contains("Error code 400"));

    let reply = exchange(&mut conn, &post("/RPC2", b"<methodCall><oops", "")).await;
    assert_eq!(reply.status, 400);
    let no_name = b"<?xml version='1.0'?><methodCall><params></params></methodCall>";
    let reply = exchange(&mut conn, &post("/RPC2", no_name, "")).await;
    assert_eq!(reply.status, 400);
    let empty_name = b"<?xml version='1.0'?><methodCall><methodName></methodName></methodCall>";
    let reply = exchange(&mut conn, &post("/RPC2", empty_name, "")).await;
    assert_eq!(reply.status, 400);
    // A request without <params> is a zero-parameter call.
    let no_params =
        b"<?xml version='1.0'?><methodCall><methodName>supervisor.getPID</methodName></methodCall>";
    let reply = exchange(&mut conn, &post("/RPC2", no_params, "")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        xmlrpc::parse_response(&reply.body).unwrap(),
        Ok(Value::Int(4242))
    );

    let reply = exchange(&mut conn, &get("/nothing/here", "")).await;
    assert_eq!(reply.status, 404);
    server.stop().await;
}

#[tokio::test]
async fn basic_auth_protects_every_route() {
    let mut opts = ServerOptions::default();
    opts.credentials = Some(Credentials {
        username: "user".into(),
        // sha1("thepassword")
        password: Password::Sha1Hex("82ab876d1387bfafe46cc1c8a2ef074eae50cb1d".into()),
    });
    let server = TestServer::start(FakeApi::new(), opts).await;
    let body = rpc_body("supervisor.getAPIVersion", &[]);
    for request in [
        post("/RPC2", &body, ""),
        post("/RPC2", &body, &basic("user:wrong")),
        post("/RPC2", &body, &basic("other:thepassword")),
        get("/logtail/cat", ""),
        get("/mainlogtail", ""),
        get("/", ""),
    ] {
        let mut conn = server.connect().await;
        let reply = exchange(&mut conn, &request).await;
        assert_eq!(reply.status, 401);
        assert_eq!(
            reply.header("www-authenticate"),
            Some("Basic realm=\"default\"")
        );
        assert_eq!(reply.header("connection"), Some("close"));
    }
    let mut conn = server.connect().await;
    let reply = exchange(&mut conn, &post("/RPC2", &body, &basic("user:thepassword"))).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        xmlrpc::parse_response(&reply.body).unwrap(),
        Ok(Value::String("3.0".into()))
    );
    server.stop().await;
}

#[tokio::test]
async fn oversized_bodies_get_413_and_the_server_keeps_serving() {
    let mut opts = ServerOptions::default();
    opts.max_body_bytes = 1000;
    let server = TestServer::start(FakeApi::new(), opts).await;
    let big = rpc_body(
        "supervisor.getAPIVersion",
        &[Value::String("x".repeat(2000))],
    );

    let mut conn = server.connect().await;
    let reply = exchange(&mut conn, &post("/RPC2", &big, "")).await;
    assert_eq!(reply.status, 413);

    // Without Content-Length (chunked upload) the limit holds while reading.
    let mut conn = server.connect().await;
    let mut req =
        b"POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for piece in big.chunks(500) {
        req.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        req.extend_from_slice(piece);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let reply = exchange(&mut conn, &req).await;
    assert_eq!(reply.status, 413);

    let mut conn = server.connect().await;
    let reply = exchange(
        &mut conn,
        &post("/RPC2", &rpc_body("supervisor.getAPIVersion", &[]), ""),
    )
    .await;
    assert_eq!(reply.status, 200);
    server.stop().await;
}

/// Reads a streaming body until `needle` shows up.
async fn read_until(io: &mut (impl AsyncRead + Unpin), seen: &mut Vec<u8>, needle: &str) {
    let mut chunk = [0u8; 4096];
    while !String::from_utf8_lossy(seen).contains(needle) {
        let n = tokio::time::timeout(DEADLINE, io.read(&mut chunk))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{needle:?} not streamed in time; got {:?}",
                    String::from_utf8_lossy(seen)
                )
            })
            .unwrap();
        assert!(n > 0, "stream closed before {needle:?}");
        seen.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn logtail_streams_the_file_and_ends_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("cat.log");
    std::fs::write(&log, format!("{}first line\n", "z".repeat(3000))).unwrap();
    let main_log = dir.path().join("main.log");
    std::fs::write(&main_log, "main started\n").unwrap();
    let api = FakeApi::new();
    api.lock()
        .logs
        .push(("cat".into(), Channel::Stdout, log.clone()));
    api.lock().main_log = Some(main_log);
    let mut opts = ServerOptions::default();
    opts.tail_poll_interval = Duration::from_millis(20);
    let server = TestServer::start(api, opts).await;

    for missing in [
        "/logtail/g:a",
        "/logtail/nope",
        "/logtail/cat/stderr",
        "/logtail/cat/bogus",
    ] {
        let mut conn = server.connect().await;
        let reply = exchange(&mut conn, &get(missing, "")).await;
        assert_eq!(reply.status, 404, "{missing}");
    }

    let mut conn = server.connect().await;
    conn.write_all(&get("/logtail/cat/stdout", ""))
        .await
        .unwrap();
    let (status, headers, mut seen) = read_head(&mut conn).await;
    assert_eq!(status, 200);
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        header("content-type").as_deref(),
        Some("text/plain;charset=utf-8")
    );
    assert_eq!(header("x-accel-buffering").as_deref(), Some("no"));
    assert_eq!(header("transfer-encoding").as_deref(), Some("chunked"));
    assert_eq!(header("content-length"), None);
    read_until(&mut conn, &mut seen, "first line\n").await;
    // Only the tail of the file was sent, not its 3000-byte head.
    assert!(seen.len() < 1500, "{} bytes", seen.len());

    let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    file.write_all(b"second line\n").unwrap();
    read_until(&mut conn, &mut seen, "second line\n").await;

    let mut main = server.connect().await;
    main.write_all(&get("/mainlogtail", "")).await.unwrap();
    let (status, _, mut main_seen) = read_head(&mut main).await;
    assert_eq!(status, 200);
    read_until(&mut main, &mut main_seen, "main started\n").await;

    // Shutdown must not hang on the open streams, and the clients see the end.
    server.stop().await;
    let mut rest = Vec::new();
    let eof = tokio::time::timeout(DEADLINE, conn.read_to_end(&mut rest)).await;
    assert!(eof.is_ok(), "tail stream still open after shutdown");
}

#[tokio::test]
async fn shutdown_with_an_idle_kept_alive_connection_is_prompt() {
    let server = TestServer::start(FakeApi::new(), ServerOptions::default()).await;
    let mut conn = server.connect().await;
    let reply = exchange(
        &mut conn,
        &post("/RPC2", &rpc_body("supervisor.getPID", &[]), ""),
    )
    .await;
    assert_eq!(reply.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn status_page_lists_processes() {
    let server = TestServer::start(FakeApi::new(), ServerOptions::default()).await;
    let mut conn = server.connect().await;
    let reply = exchange(&mut conn, &get("/", "")).await;
    assert_eq!(reply.status, 200);
    let page = reply.text();
    assert!(page.contains("<td>g:b</td><td>RUNNING</td>"), "{page}");
    assert!(page.contains("<td>cat</td>"), "{page}");
    server.stop().await;
}

#[tokio::test]
async fn unix_socket_serves_the_same_api() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raftvisor.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve_unix(
        listener,
        FakeApi::new(),
        ServerOptions::default(),
        async {
            let _ = stopped.await;
        },
    ));
    let mut conn = tokio::net::UnixStream::connect(&path).await.unwrap();
    let reply = exchange(
        &mut conn,
        &post("/RPC2", &rpc_body("supervisor.getVersion", &[]), ""),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        xmlrpc::parse_response(&reply.body).unwrap(),
        Ok(Value::String("3.0".into()))
    );
    let _ = stop.send(());
    tokio::time::timeout(DEADLINE, task)
        .await
        .expect("unix server did not stop")
        .unwrap();
}

#[tokio::test]
async fn metrics_are_the_daemons_scrape_and_every_call_is_told() {
    use std::sync::{Arc, Mutex};
    // Without hooks: no such page.
    let server = TestServer::start(FakeApi::new(), ServerOptions::default()).await;
    let mut conn = server.connect().await;
    assert_eq!(exchange(&mut conn, &get("/metrics", "")).await.status, 404);
    server.stop().await;

    let calls: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
    let told = calls.clone();
    let hooks = crate::server::MetricsHooks {
        scrape: Arc::new(|| Box::pin(async { "up 1\n".to_string() })),
        content_type: "text/plain; version=0.0.4",
        observe_rpc: Arc::new(move |method, _took, fault| {
            told.lock().unwrap().push((method.to_string(), fault));
        }),
    };
    let server =
        TestServer::start(FakeApi::new(), ServerOptions::default().with_metrics(hooks)).await;
    let mut conn = server.connect().await;
    let reply = exchange(&mut conn, &get("/metrics", "")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; version=0.0.4")
    );
    assert_eq!(reply.text(), "up 1\n");
    let reply = exchange(&mut conn, &post("/metrics", b"", "")).await;
    assert_eq!(reply.status, 400);
    for name in [
        "supervisor.getPID",
        "supervisor.nosuch",
        "supervisor.startProcess",
    ] {
        let reply = exchange(&mut conn, &post("/RPC2", &rpc_body(name, &[]), "")).await;
        assert_eq!(reply.status, 200);
    }
    assert_eq!(
        *calls.lock().unwrap(),
        [
            ("supervisor.getPID".to_string(), false),
            // A name no method has is not a label of its own.
            ("unknown".to_string(), true),
            // Wrong arity: a fault.
            ("supervisor.startProcess".to_string(), true),
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn the_dashboard_takes_the_root_and_the_status_page_stays_at_index_html() {
    let server = TestServer::start(FakeApi::new(), ServerOptions::default()).await;
    let mut conn = server.connect().await;
    assert_eq!(
        exchange(&mut conn, &get("/ui/dashboard.js", ""))
            .await
            .status,
        404
    );
    server.stop().await;

    let server = TestServer::start(FakeApi::new(), ServerOptions::default().with_dashboard()).await;
    let mut conn = server.connect().await;
    let root = exchange(&mut conn, &get("/", "")).await;
    assert_eq!(root.status, 200);
    assert!(
        root.text().contains("<script src=\"/ui/dashboard.js\">"),
        "{}",
        root.text()
    );
    for (path, content_type) in [
        ("/ui/dashboard.js", "text/javascript;charset=utf-8"),
        ("/ui/dashboard.css", "text/css;charset=utf-8"),
    ] {
        let reply = exchange(&mut conn, &get(path, "")).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("content-type"), Some(content_type));
    }
    let status = exchange(&mut conn, &get("/index.html", "")).await;
    assert!(status.text().contains("<td>cat</td>"), "{}", status.text());
    server.stop().await;
}

#[tokio::test]
async fn a_rest_command_from_another_site_s_page_is_refused() {
    let server = TestServer::start(FakeApi::new(), ServerOptions::default()).await;
    let mut conn = server.connect().await;
    let evil = "Origin: http://evil.example\r\n";
    let reply = exchange(&mut conn, &post("/supervisor/clearLog", b"", evil)).await;
    assert_eq!(reply.status, 403, "{}", reply.text());
    assert!(reply.text().contains("another site"), "{}", reply.text());
    // Reads stay readable (a browser keeps their answer from the other page anyway).
    let reply = exchange(&mut conn, &get("/supervisor/getState", evil)).await;
    assert_eq!(reply.status, 200);
    // The same command from this server's own page, or from a client that is not a browser.
    let own = "Origin: http://localhost\r\n";
    let reply = exchange(&mut conn, &post("/supervisor/clearLog", b"", own)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = exchange(&mut conn, &post("/supervisor/clearLog", b"", "")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    // XML-RPC too: a form of another site can post a body that parses.
    let call = rpc_body("supervisor.clearLog", &[]);
    let reply = exchange(
        &mut conn,
        &post("/RPC2", &call, "Sec-Fetch-Site: cross-site\r\n"),
    )
    .await;
    assert_eq!(reply.status, 403);
    let reply = exchange(&mut conn, &post("/RPC2", &call, "")).await;
    assert_eq!(reply.status, 200);
    server.stop().await;
}
