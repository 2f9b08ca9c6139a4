//! The client's error type: what went wrong, precisely enough for supervisorctl's messages.

use std::time::Duration;

use model::FaultCode;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an XML-RPC fault. `fault` is `None` for codes not in
    /// Supervisor's or Supvisors' table.
    #[error("fault {code}: {string}")]
    Fault {
        code: i32,
        string: String,
        fault: Option<FaultCode>,
    },
    /// Nothing listens at the address (ECONNREFUSED).
    #[error("{url} refused connection")]
    ConnectionRefused { url: String },
    /// The Unix socket file does not exist (ENOENT).
    #[error("{url} no such file")]
    NoSuchSocket { url: String },
    /// Any other failure to connect or to exchange the request/response.
    #[error("{url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// HTTP 401: missing or wrong credentials.
    #[error("server requires authentication")]
    Unauthorized,
    /// Any other non-200 HTTP status.
    #[error("HTTP status {status}")]
    HttpStatus { status: u16 },
    /// The call did not complete within the configured per-call timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The body was not valid XML-RPC, or the value did not have the expected shape.
    #[error("bad response: {0}")]
    BadResponse(String),
    /// The server URL could not be parsed.
    #[error("invalid server URL: {0}")]
    InvalidUrl(String),
    /// The certificates to trust for an `https://` URL could not be read.
    #[error("TLS: {0}")]
    Tls(String),
}

impl Error {
    pub(crate) fn fault(code: i32, string: String) -> Error {
        Error::Fault {
            code,
            string,
            fault: FaultCode::from_code(code),
        }
    }

    /// The fault code when this is a fault from a known table.
    pub fn fault_code(&self) -> Option<FaultCode> {
        match self {
            Error::Fault { fault, .. } => *fault,
            _ => None,
        }
    }

    /// True when the server could not be reached at all (refused, no socket, network error).
    pub fn is_connection(&self) -> bool {
        matches!(
            self,
            Error::ConnectionRefused { .. }
                | Error::NoSuchSocket { .. }
                | Error::Unreachable { .. }
        )
    }
}

impl From<crate::types::DecodeError> for Error {
    fn from(e: crate::types::DecodeError) -> Self {
        Error::BadResponse(e.0)
    }
}
