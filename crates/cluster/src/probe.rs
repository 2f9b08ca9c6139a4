//! Is a daemon still listening? A TCP connect to an instance's internal port, told apart by
//! how it fails: refused (the host answered that nothing listens there: the daemon is dead)
//! or anything else (accepted, timed out, unreachable: no conclusion).
//!
//! This is what lets a dead daemon be found in a fraction of the inactivity timeout: the
//! leader probes an instance whose ticks are late (see [`crate::book`]), and a follower probes
//! a leader that stopped answering its ticks, to call an election as soon as Raft allows
//! instead of one more election timeout later (see [`crate::liveness`]).

use std::io::ErrorKind;
use std::time::Duration;

use model::net::HostPort;
use tokio::net::TcpStream;

/// How long a probe waits for its connect: the tick interval, within 20..200 ms (a peer that
/// is up answers a connect in well under a millisecond on a LAN).
pub(crate) fn probe_timeout(tick_interval: Duration) -> Duration {
    tick_interval.clamp(Duration::from_millis(20), Duration::from_millis(200))
}

/// A connect to `addr` within `timeout`: its error, or `Err(TimedOut)`. An accepted connection
/// is closed at once; the daemon's server sees an empty connection and drops it.
async fn connect(addr: &HostPort, timeout: Duration) -> std::io::Result<()> {
    let connect = TcpStream::connect((addr.host(), addr.port()));
    match tokio::time::timeout(timeout, connect).await {
        Ok(result) => result.map(drop),
        Err(_) => Err(ErrorKind::TimedOut.into()),
    }
}

/// Whether `addr` refused a connection within `timeout`.
pub(crate) async fn refused(addr: &HostPort, timeout: Duration) -> bool {
    matches!(connect(addr, timeout).await, Err(e) if e.kind() == ErrorKind::ConnectionRefused)
}

/// Whether `addr` accepted a connection within `timeout`: something listens there and the
/// host is in reach (see [`crate::campaign`]).
pub(crate) async fn accepted(addr: &HostPort, timeout: Duration) -> bool {
    connect(addr, timeout).await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_port_is_refused_and_a_listening_one_is_not() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = HostPort::from(listener.local_addr().unwrap());
        assert!(!refused(&addr, Duration::from_secs(2)).await);
        assert!(accepted(&addr, Duration::from_secs(2)).await);
        drop(listener);
        assert!(refused(&addr, Duration::from_secs(2)).await);
        assert!(!accepted(&addr, Duration::from_secs(2)).await);
    }
}
