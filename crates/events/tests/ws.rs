//! The WebSocket server against a real WebSocket client (tokio-tungstenite's): the URL path
//! chooses the headers, each message is the JSON `[header, body]`, a client that goes away
//! leaves the hub, and the server closes its clients at `stop`.

use std::time::{Duration, Instant};

use events::{Event, Header, Hub};
use futures_util::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

async fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn event(header: Header, n: u64) -> Event {
    Event {
        header,
        body: json!({ "n": n }),
    }
}

async fn next_json(
    ws: &mut (impl futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
              + Unpin),
) -> serde_json::Value {
    let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("a message within 10 s")
        .expect("the stream is open")
        .expect("a message");
    serde_json::from_str(message.to_text().expect("text")).expect("JSON")
}

#[tokio::test]
async fn a_client_gets_the_headers_of_its_path_as_json_arrays() {
    let stop = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hub = Hub::default();
    let server = tokio::spawn(events::ws::serve(listener, hub.clone(), stop.clone()));

    let (mut some, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/event/supvisors"))
        .await
        .expect("connect");
    let (mut all, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/all"))
        .await
        .expect("connect");
    wait_for("both subscriptions", || hub.subscribers() == 2).await;

    hub.publish(&event(Header::Instance, 1));
    hub.publish(&event(Header::ProcessEvent, 2));
    hub.publish(&event(Header::Supvisors, 3));
    assert_eq!(next_json(&mut some).await, json!(["event", {"n": 2}]));
    assert_eq!(next_json(&mut some).await, json!(["supvisors", {"n": 3}]));
    assert_eq!(next_json(&mut all).await, json!(["instance", {"n": 1}]));
    assert_eq!(next_json(&mut all).await, json!(["event", {"n": 2}]));
    assert_eq!(next_json(&mut all).await, json!(["supvisors", {"n": 3}]));

    // A client that closes leaves the hub.
    some.close(None).await.expect("close");
    wait_for("the closed client to leave", || hub.subscribers() == 1).await;

    // At stop, the server tells its clients and ends.
    stop.cancel();
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match all.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            }
        }
    });
    end.await.expect("the client sees the close");
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server ends")
        .expect("no panic");
    wait_for("no subscriber left", || hub.subscribers() == 0).await;
}

#[tokio::test]
async fn a_plain_http_request_is_closed_and_takes_no_subscription() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stop = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hub = Hub::default();
    tokio::spawn(events::ws::serve(listener, hub.clone(), stop.clone()));
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /all HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut reply = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut reply))
        .await
        .expect("the server closes the connection")
        .expect("read");
    assert_eq!(reply, "", "no WebSocket, no event");
    assert_eq!(hub.subscribers(), 0);
    stop.cancel();
}
