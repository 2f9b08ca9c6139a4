//! `tail -f` over HTTP: `GET /logtail/<namespec>/<channel>` and `GET /mainlogtail`.
//!
//! Supervisor answers these with a response that never ends (chunked, data appended as the log
//! grows). The body is read on a task of its own and handed out chunk by chunk; dropping the
//! [`LogStream`] aborts the task and closes the connection.

use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::Error;

/// Which log of a process to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Stdout,
    Stderr,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Stdout => "stdout",
            Channel::Stderr => "stderr",
        }
    }
}

/// A live log: chunks of bytes as the server sends them. `next()` returns `None` when the server
/// ends the response (e.g. the daemon shut down).
pub struct LogStream {
    rx: mpsc::Receiver<Result<Bytes, Error>>,
    task: JoinHandle<()>,
}

impl LogStream {
    pub(crate) fn spawn<S>(sender: S, mut body: hyper::body::Incoming, url: String) -> LogStream
    where
        S: Send + 'static,
    {
        let (tx, rx) = mpsc::channel(16);
        let task = tokio::spawn(async move {
            // Held so the connection stays open for as long as the body is read.
            let _sender = sender;
            loop {
                match body.frame().await {
                    None => break,
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            if !data.is_empty() && tx.send(Ok(data)).await.is_err() {
                                break;
                            }
                        }
                    }
                    Some(Err(e)) => {
                        let _ = tx
                            .send(Err(Error::Unreachable {
                                url: url.clone(),
                                reason: e.to_string(),
                            }))
                            .await;
                        break;
                    }
                }
            }
        });
        LogStream { rx, task }
    }

    /// The next chunk, or `None` once the stream has ended.
    pub async fn next(&mut self) -> Option<Result<Bytes, Error>> {
        self.rx.recv().await
    }
}

impl std::fmt::Debug for LogStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStream").finish_non_exhaustive()
    }
}

impl Drop for LogStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}
