//! Calls on one instance's own supervisor, made from another instance: what the dashboard of
//! any instance needs to act on any instance's processes and follow their logs without
//! sending the browser to that instance's web server (Supvisors' process page is served by
//! the instance itself). Carried by the internal port ([`crate::wire::PATH_LOCAL`]) from any
//! authenticated peer: the front end that asked has already authenticated its user.

use std::time::Duration;

use model::{Fault, FaultCode};
use procman::{Channel, SupervisorApi};
use serde::{Deserialize, Serialize};

/// How long one remote call may take: a restart waits for the stop (`stopwaitsecs`, 10 s by
/// default), nothing else waits for a process.
pub const LOCAL_CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// What is asked of the instance's supervisor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LocalCall {
    /// Start, not waiting for `startsecs` (the events tell how it goes).
    Start { namespec: String },
    /// Stop, not waiting for the process to end.
    Stop { namespec: String },
    /// Stop (waiting for the end; not running is fine), then start as [`LocalCall::Start`].
    Restart { namespec: String },
    /// Supervisor's `clearProcessLogs`.
    ClearLogs { namespec: String },
    /// What the log got since `offset` (at most its last `length` bytes), for a page that
    /// follows it; from `offset` 0, or when the log is shorter than `offset` (cleared or
    /// rotated), its last `length` bytes. Not Supervisor's `tailProcessStdoutLog`, whose
    /// answer to an offset already read is the file's last `length` bytes again.
    Tail {
        namespec: String,
        stderr: bool,
        offset: i64,
        length: i64,
    },
}

/// The supervisor's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LocalAnswer {
    Done,
    /// The bytes, the offset to ask from next time, and whether bytes were skipped (more
    /// than `length` came since `offset`).
    Tail {
        text: String,
        offset: i64,
        overflow: bool,
    },
}

/// Runs `call` on `supervisor` (the instance's own).
pub async fn run(supervisor: &impl SupervisorApi, call: &LocalCall) -> Result<LocalAnswer, Fault> {
    match call {
        LocalCall::Start { namespec } => supervisor.start_process(namespec, false).await,
        LocalCall::Stop { namespec } => supervisor.stop_process(namespec, false).await,
        LocalCall::Restart { namespec } => {
            match supervisor.stop_process(namespec, true).await {
                Ok(()) => {}
                Err(f) if f.code == FaultCode::NotRunning => {}
                Err(f) => return Err(f),
            }
            supervisor.start_process(namespec, false).await
        }
        LocalCall::ClearLogs { namespec } => supervisor.clear_process_logs(namespec).await,
        LocalCall::Tail {
            namespec,
            stderr,
            offset,
            length,
        } => {
            let channel = if *stderr {
                Channel::Stderr
            } else {
                Channel::Stdout
            };
            // The size first (a tail of nothing answers it), then the range since `offset`.
            let (_, size, _) = supervisor.tail_process_log(namespec, channel, 0, 0).await?;
            let new = size.saturating_sub(*offset);
            if *offset > 0 && (0..=*length).contains(&new) {
                let text = if new == 0 {
                    String::new()
                } else {
                    supervisor
                        .read_process_log(namespec, channel, *offset, new)
                        .await?
                };
                return Ok(LocalAnswer::Tail {
                    text,
                    offset: size,
                    overflow: false,
                });
            }
            let (text, offset_next, _) = supervisor
                .tail_process_log(namespec, channel, 0, *length)
                .await?;
            return Ok(LocalAnswer::Tail {
                text,
                offset: offset_next,
                // More came than is kept: the first bytes since `offset` are skipped.
                overflow: *offset > 0 && new > *length,
            });
        }
    }
    .map(|()| LocalAnswer::Done)
}

/// The fault a front end answers when the instance could not be asked.
pub fn unreachable(identifier: &str, reason: &str) -> Fault {
    Fault::with(
        FaultCode::Failed,
        format!("instance {identifier} did not answer: {reason}"),
    )
}
