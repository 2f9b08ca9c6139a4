//! The publisher against a real ZeroMQ subscriber (the same crate's SUB socket): two frames,
//! the header's text and the JSON body, as Supvisors 0.14's subscribers read them.

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use events::{Event, Header, Publisher};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use zeromq::{Socket, SocketRecv};

/// A port free now (taken again by the publisher; retried on a clash).
fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address")
}

async fn bound(stop: &CancellationToken) -> (Publisher, tokio::task::JoinHandle<()>, SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let addr = free_addr();
        match Publisher::bind(addr, stop.clone()).await {
            Ok((publisher, task)) => return (publisher, task, addr),
            Err(e) if Instant::now() < deadline => eprintln!("retrying: {e}"),
            Err(e) => panic!("{e}"),
        }
    }
}

#[tokio::test]
async fn a_subscriber_gets_the_header_then_the_json_body() {
    let stop = CancellationToken::new();
    let (publisher, task, addr) = bound(&stop).await;
    let mut sub = zeromq::SubSocket::new();
    sub.connect(&format!("tcp://{addr}"))
        .await
        .expect("connect");
    sub.subscribe("instance").await.expect("subscribe");
    let body = json!({"identifier": "s1", "statename": "RUNNING"});
    // A subscription reaches the publisher some time after the connect (ZeroMQ's "slow
    // joiner"): publish until one arrives, within a deadline.
    let deadline = Instant::now() + Duration::from_secs(10);
    let message = loop {
        publisher.publish(Event {
            header: Header::Supvisors,
            body: json!({"not": "subscribed"}),
        });
        publisher.publish(Event {
            header: Header::Instance,
            body: body.clone(),
        });
        match tokio::time::timeout(Duration::from_millis(100), sub.recv()).await {
            Ok(Ok(message)) => break message,
            _ if Instant::now() < deadline => continue,
            other => panic!("nothing received: {other:?}"),
        }
    };
    let frames = message.into_vec();
    assert_eq!(frames.len(), 2);
    assert_eq!(&frames[0][..], b"instance", "only the subscribed header");
    let received: serde_json::Value = serde_json::from_slice(&frames[1]).expect("JSON");
    assert_eq!(received, body);
    assert!(publisher.stats().published() >= 2);
    stop.cancel();
    task.await.expect("the publisher's task ends");
    // Stopped: publishing neither blocks nor succeeds, and the drop is counted.
    let dropped = publisher.stats().dropped();
    assert!(!publisher.publish(Event {
        header: Header::Instance,
        body
    }));
    assert_eq!(publisher.stats().dropped(), dropped + 1);
}

#[tokio::test]
async fn a_port_in_use_is_an_error_that_names_it() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = taken.local_addr().expect("its address");
    let e = Publisher::bind(addr, CancellationToken::new())
        .await
        .expect_err("refused");
    assert!(
        e.to_string()
            .starts_with(&format!("event_port: cannot bind tcp://{addr}")),
        "{e}"
    );
}
