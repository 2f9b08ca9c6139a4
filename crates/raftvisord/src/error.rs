//! What [`crate::run`] fails with, and the exit status each failure means.

use std::path::PathBuf;

/// The exit status when the data dir needs an operator (`EX_CONFIG`): the instance lost its
/// Raft state, or was removed from the membership and still holds its old log. The systemd
/// unit does not restart on it (`RestartPreventExitStatus`).
pub const EXIT_OPERATOR_NEEDED: u8 = 78;

/// Why [`crate::run`] ended with an error. Every variant but the last four is found before
/// the daemon serves anything, with nothing left running (see [`Error::exit_status`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Supvisors section or a rules file is wrong (`file:line: what is wrong`).
    #[error("{0}")]
    Config(config::ConfigError),
    #[error("cannot bind inet_http_server {addr}")]
    BindInet {
        addr: model::net::HostPort,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{}: [inet_http_server] listens on {addr}, beyond loopback, without username and \
         password: anyone who reaches it can stop every program of the cluster; set username \
         and password, bind a loopback address, or set allow_unauthenticated = true to run it \
         open on purpose",
        file.display()
    )]
    OpenInet {
        file: PathBuf,
        addr: std::net::SocketAddr,
    },
    /// `[inet_http_server] tls_certificate`/`tls_key` cannot be used (names the file).
    #[error("{}: [inet_http_server] {0}", file.display())]
    Tls {
        file: PathBuf,
        #[source]
        source: web::tls::TlsError,
    },
    /// `[supervisord] user=`: the switch to that user failed (not root, unknown user, a
    /// refused setgid/setuid).
    #[error("cannot drop privileges to user {user:?} ([supervisord] user): {reason}")]
    DropPrivileges { user: String, reason: String },
    #[error("another program is already listening on {}", path.display())]
    UnixInUse { path: PathBuf },
    /// `action` is what failed on the socket file (bind, chmod, remove a stale one).
    #[error("{action} {}", path.display())]
    UnixSocket {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write pidfile {}", path.display())]
    Pidfile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the supervisor")]
    Supervisor(#[source] procman::Error),
    #[error("cannot start the cluster node")]
    NodeStart(#[source] cluster::NodeError),
    #[error("cannot start the event interface: {0}")]
    BindEvents(#[source] events::EventsError),
    #[error("cannot register the supvisors namespace: {0}")]
    Namespace(String),
    /// A restart (SIGHUP, `supervisor.restart`) found a config that no longer loads.
    #[error("restart failed, cannot reload the config: {0}")]
    RestartFailed(String),
    #[error("the supervisor task ended unexpectedly")]
    Aborted,
    #[error(
        "the Raft core of the cluster node stopped; raftvisord exited so that it can be restarted"
    )]
    RaftCoreEnded,
    /// The instance learnt while running that it had lost its Raft state.
    #[error(transparent)]
    StateLost(cluster::NodeError),
}

impl Error {
    /// The exit status of a daemon that ended with this error: [`EXIT_OPERATOR_NEEDED`] when
    /// the data dir needs an operator (a restart would fail the same way), 1 for a failure
    /// after the daemon started serving, 2 for anything found before.
    pub fn exit_status(&self) -> u8 {
        use cluster::NodeError;
        match self {
            Error::NodeStart(NodeError::LostState { .. } | NodeError::Removed { .. })
            | Error::StateLost(_) => EXIT_OPERATOR_NEEDED,
            Error::RestartFailed(_) | Error::Aborted | Error::RaftCoreEnded => 1,
            Error::Config(_)
            | Error::BindInet { .. }
            | Error::OpenInet { .. }
            | Error::Tls { .. }
            | Error::DropPrivileges { .. }
            | Error::UnixInUse { .. }
            | Error::UnixSocket { .. }
            | Error::Pidfile { .. }
            | Error::Supervisor(_)
            | Error::NodeStart(_)
            | Error::BindEvents(_)
            | Error::Namespace(_) => 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_follows_when_the_error_was_found() {
        let lost = || cluster::NodeError::LostState {
            data_dir: PathBuf::from("/var/lib/raftvisor"),
            peer: "s2".into(),
        };
        assert_eq!(Error::NodeStart(lost()).exit_status(), EXIT_OPERATOR_NEEDED);
        assert_eq!(Error::StateLost(lost()).exit_status(), EXIT_OPERATOR_NEEDED);
        assert_eq!(Error::RaftCoreEnded.exit_status(), 1);
        assert_eq!(Error::RestartFailed("x".into()).exit_status(), 1);
        assert_eq!(Error::Aborted.exit_status(), 1);
        assert_eq!(
            Error::UnixInUse {
                path: PathBuf::from("/tmp/s.sock")
            }
            .exit_status(),
            2
        );
        assert_eq!(Error::Namespace("taken".into()).exit_status(), 2);
    }
}
