//! `[fcgi-program:x]` groups on a real supervisor: the group's listening socket is the stdin
//! (fd 0) of each of its processes, exists while one of them holds it, and a socket that cannot
//! be created refuses the start of the supervisor or the addition of the group.

mod common;

use common::*;
use model::{FaultCode, FcgiSocket, GroupKind, GroupSpec, ProcessState, SocketEndpoint};
use procman::{Error, SupervisorApi};
use std::net::{TcpListener, TcpStream};

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Group `web` of processes `web_0`.. `web_{n-1}` sharing `tcp://127.0.0.1:port`.
fn web(port: u16, n: u32, autostart: bool) -> GroupSpec {
    let processes = (0..n)
        .map(|i| model::ProcessSpec {
            group: "web".into(),
            program: "web".into(),
            process_num: i,
            autostart,
            ..program(&format!("web_{i}"), "exec sleep 30")
        })
        .collect();
    GroupSpec {
        name: "web".into(),
        priority: 999,
        kind: GroupKind::FastCgi(FcgiSocket {
            endpoint: SocketEndpoint::Tcp {
                host: "127.0.0.1".into(),
                port,
            },
            backlog: Some(4),
        }),
        processes,
    }
}

fn accepts(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// What file descriptor 0 of `pid` is (`socket:[inode]`, `pipe:[inode]`, a path).
fn fd0(pid: i32) -> String {
    std::fs::read_link(format!("/proc/{pid}/fd/0"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_is_the_stdin_of_each_process_while_one_holds_it() {
    let port = free_port();
    let h = Harness::start(vec![web(port, 2, true)]);
    h.wait_state("web:web_0", ProcessState::Running).await;
    h.wait_state("web:web_1", ProcessState::Running).await;
    let pids = [
        h.sup.process_info("web:web_0").await.unwrap().pid,
        h.sup.process_info("web:web_1").await.unwrap().pid,
    ];
    // the same socket for both (the kernel queues a connection nobody accepts yet)
    assert!(fd0(pids[0]).starts_with("socket:"), "{}", fd0(pids[0]));
    assert_eq!(fd0(pids[0]), fd0(pids[1]));
    assert!(accepts(port));
    // no stdin pipe to write to
    let f = h
        .sup
        .send_process_stdin("web:web_0", "x")
        .await
        .unwrap_err();
    assert_eq!(f.code, FaultCode::NoFile);

    h.sup.stop_process("web:web_0", true).await.unwrap();
    assert!(accepts(port), "web_1 still holds the socket");
    h.sup.stop_process("web:web_1", true).await.unwrap();
    assert!(!accepts(port), "the last holder closed it");

    h.sup.start_process("web:web_1", true).await.unwrap();
    assert!(accepts(port), "created again by the next start");
    let pid = h.sup.process_info("web:web_1").await.unwrap().pid;
    assert!(fd0(pid).starts_with("socket:"), "{}", fd0(pid));
    assert_eq!(h.shutdown().await, procman::Exit::Shutdown);
    assert!(!accepts(port));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_cannot_be_created_refuses_the_start() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), vec![web(port, 1, false)]);
    let opts = procman::Options {
        reloader: std::sync::Arc::new(|| Err("no reload".to_string())),
        main_log: None,
        server_url: None,
        shutdown: tokio_util::sync::CancellationToken::new(),
        defer_autostart: false,
    };
    match procman::Supervisor::start(cfg, opts) {
        Err(Error::FcgiSocket(e)) => assert!(
            e.starts_with(&format!(
                "Could not create FastCGI socket tcp://127.0.0.1:{port}: "
            )),
            "{e}"
        ),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("started with a socket already taken"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_cannot_be_created_refuses_the_group() {
    let port = free_port();
    let h = Harness::start(vec![web(port, 1, false)]);
    h.sup.remove_process_group("web").await.unwrap();
    let taken = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let f = h.sup.add_process_group("web").await.unwrap_err();
    assert_eq!(f.code, FaultCode::Failed);
    assert!(
        f.fault_string().contains("Could not create FastCGI socket"),
        "{}",
        f.fault_string()
    );
    assert!(h.sup.all_process_info().await.is_empty());
    drop(taken);
    // The port is free again, unless a connection of a test running beside this one took it
    // as its ephemeral source port meanwhile (seen in CI): retried until that one ends.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match h.sup.add_process_group("web").await {
            Ok(_) => break,
            Err(f)
                if f.fault_string().contains("Address already in use")
                    && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(f) => panic!("{}", f.fault_string()),
        }
    }
    assert_eq!(h.state("web:web_0").await, ProcessState::Stopped);
    assert_eq!(h.shutdown().await, procman::Exit::Shutdown);
}
