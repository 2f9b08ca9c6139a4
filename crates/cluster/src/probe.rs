//! Is a daemon still listening, and is its host in reach? A TCP connect to an instance's
//! internal port, told apart by how it ends: accepted (something listens, the host is in
//! reach), refused (the host answered that nothing listens there: the daemon is dead), no
//! answer at all (the host, or the way to it, is gone: its link is down, it lost power, a
//! firewall drops its packets), or anything else (no conclusion).
//!
//! This is what lets a lost daemon or host be found in a fraction of the inactivity timeout:
//! the leader probes an instance whose ticks are late (see [`crate::book`]), and a follower
//! probes a leader whose heartbeats lapsed, to call an election as soon as Raft allows instead
//! of one more election timeout later (see [`crate::ticker`]).
//!
//! Why no answer is evidence: a host that is up answers a connect from its kernel, whatever
//! its daemon is doing (busy, swapping, stopped by SIGSTOP: the listening socket's backlog
//! still takes the handshake), within a millisecond on a LAN. One lost packet must not pass
//! for a lost host, so a probe sends [`ATTEMPTS`] connects at once and concludes "no answer"
//! only when none of them got one.

use std::io::ErrorKind;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use model::net::HostPort;
use tokio::net::TcpStream;

/// How long a probe waits for its connect: the tick interval, within 20..200 ms (a peer that
/// is up answers a connect in well under a millisecond on a LAN).
pub(crate) fn probe_timeout(tick_interval: Duration) -> Duration {
    tick_interval.clamp(Duration::from_millis(20), Duration::from_millis(200))
}

/// Connects sent at once by [`reach`]: with 20 % of the packets dropped each way, a connect
/// gets no answer 36 % of the time, all three 5 % of the time.
const ATTEMPTS: usize = 3;

/// What a probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// A connect was accepted: something listens and the host is in reach.
    Accepted,
    /// The host refused a connect: no daemon listens there.
    Refused,
    /// No connect got an answer within the timeout (or the host or its network was reported
    /// unreachable): the host is out of reach.
    NoAnswer,
    /// Something else (a local error): no conclusion.
    Unknown,
}

/// A connect to `addr` within `timeout`, and what its end says.
async fn connect(addr: &HostPort, timeout: Duration) -> Reach {
    let connect = TcpStream::connect((addr.host(), addr.port()));
    match tokio::time::timeout(timeout, connect).await {
        // An accepted connection is closed at once; the daemon's server sees an empty
        // connection and drops it.
        Ok(Ok(_)) => Reach::Accepted,
        Ok(Err(e)) => match e.kind() {
            ErrorKind::ConnectionRefused => Reach::Refused,
            ErrorKind::TimedOut | ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => {
                Reach::NoAnswer
            }
            _ => Reach::Unknown,
        },
        Err(_) => Reach::NoAnswer,
    }
}

/// [`ATTEMPTS`] connects to `addr` at once, each within `timeout`: accepted if one was,
/// refused if one was refused (and none accepted), no answer only if none got one.
/// Returns as soon as one is accepted.
pub(crate) async fn reach(addr: &HostPort, timeout: Duration) -> Reach {
    let mut connects: FuturesUnordered<_> = (0..ATTEMPTS).map(|_| connect(addr, timeout)).collect();
    let mut found = Reach::NoAnswer;
    while let Some(one) = connects.next().await {
        match one {
            Reach::Accepted => return Reach::Accepted,
            Reach::Refused => found = Reach::Refused,
            Reach::Unknown if found == Reach::NoAnswer => found = Reach::Unknown,
            Reach::Unknown | Reach::NoAnswer => {}
        }
    }
    found
}

/// Whether `addr` accepted a connection within `timeout`: something listens there and the
/// host is in reach (see [`crate::campaign`]).
pub(crate) async fn accepted(addr: &HostPort, timeout: Duration) -> bool {
    connect(addr, timeout).await == Reach::Accepted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_port_is_refused_and_a_listening_one_is_accepted() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = HostPort::from(listener.local_addr().unwrap());
        assert_eq!(reach(&addr, Duration::from_secs(2)).await, Reach::Accepted);
        assert!(accepted(&addr, Duration::from_secs(2)).await);
        drop(listener);
        assert_eq!(reach(&addr, Duration::from_secs(2)).await, Reach::Refused);
        assert!(!accepted(&addr, Duration::from_secs(2)).await);
    }

    #[tokio::test]
    async fn a_port_that_takes_no_handshake_is_no_answer() {
        // A listener whose accept queue is full drops new handshakes without a word, as a
        // host whose link is down does: no connect gets an answer.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(0).unwrap();
        let addr = HostPort::from(listener.local_addr().unwrap());
        // The probes' own connections, never accepted, fill the queue.
        let mut probes = 0;
        while reach(&addr, Duration::from_millis(50)).await == Reach::Accepted {
            probes += 1;
            assert!(probes < 64, "the accept queue never filled");
        }
        assert_eq!(
            reach(&addr, Duration::from_millis(50)).await,
            Reach::NoAnswer
        );
        drop(listener);
    }
}
