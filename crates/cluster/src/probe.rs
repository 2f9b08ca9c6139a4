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

/// Whether `addr` refused a connection within `timeout`. An accepted connection is closed at
/// once; the daemon's server sees an empty connection and drops it.
pub(crate) async fn refused(addr: &HostPort, timeout: Duration) -> bool {
    let connect = TcpStream::connect((addr.host(), addr.port()));
    match tokio::time::timeout(timeout, connect).await {
        Ok(Err(e)) => e.kind() == ErrorKind::ConnectionRefused,
        Ok(Ok(_)) | Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_port_is_refused_and_a_listening_one_is_not() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = HostPort::from(listener.local_addr().unwrap());
        assert!(!refused(&addr, Duration::from_secs(2)).await);
        drop(listener);
        assert!(refused(&addr, Duration::from_secs(2)).await);
    }
}
