//! A child's pipes once it is spawned: one reader task per output pipe (log file, tail,
//! syslog, capture mode, output events) and, written to only on demand, its stdin.

use super::{fault, Actor, Msg, Reply, SharedTail, Sink, StdinWrite};
use crate::output::{self, OutputDispatcher, Piece};
use model::{Fault, FaultCode};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// One output pipe of one child and where its data goes (a reader task owns it).
pub(super) struct PipeReader {
    pub(super) name: String,
    pub(super) stdout: bool,
    pub(super) sink: Sink,
    pub(super) tail: SharedTail,
    /// `None` for an event listener's stdout: the protocol channel, logged and forwarded raw.
    pub(super) dispatcher: Option<OutputDispatcher>,
    pub(super) strip_ansi: bool,
    pub(super) syslog: bool,
    pub(super) log_events: bool,
    pub(super) tx: mpsc::UnboundedSender<Msg>,
    pub(super) id: u64,
    pub(super) pid: i32,
}

impl PipeReader {
    fn channel(&self) -> &'static str {
        if self.stdout {
            "stdout"
        } else {
            "stderr"
        }
    }

    fn handle(&mut self, data: &[u8]) {
        match self.dispatcher.as_mut() {
            Some(d) => {
                let pieces = d.feed(data);
                self.route(pieces);
            }
            None => {
                // Supervisor's PEventListenerDispatcher: log (stripped), parse the raw bytes
                let logged = if self.strip_ansi {
                    output::strip_escapes(data)
                } else {
                    data.to_vec()
                };
                self.write_log(&logged);
                self.forward(data.to_vec());
            }
        }
    }

    fn finish(&mut self) {
        if let Some(d) = self.dispatcher.as_mut() {
            let pieces = d.finish();
            self.route(pieces);
        }
    }

    fn route(&mut self, pieces: Vec<Piece>) {
        for piece in pieces {
            match piece {
                Piece::Normal(data) => {
                    self.debug_output(&data);
                    self.write_log(&data);
                    if self.syslog {
                        output::send_syslog(&output::syslog_lines(&self.name, &data));
                    }
                    if self.log_events {
                        self.forward(data);
                    }
                }
                Piece::Captured(data) => {
                    self.debug_output(&data);
                    if self.log_events {
                        self.forward(data);
                    }
                }
                Piece::Communication(data) => {
                    let _ = self.tx.send(Msg::Comm {
                        id: self.id,
                        pid: self.pid,
                        stdout: self.stdout,
                        data,
                    });
                }
            }
        }
    }

    /// Supervisor copies child output to its main log at DEBG level.
    fn debug_output(&self, data: &[u8]) {
        if tracing::enabled!(tracing::Level::DEBUG) {
            let text = String::from_utf8_lossy(data);
            tracing::debug!("'{}' {} output:\n{text}", self.name, self.channel());
        }
    }

    fn write_log(&self, data: &[u8]) {
        if let Ok(mut t) = self.tail.lock() {
            t.push(data);
        }
        if let Ok(mut s) = self.sink.lock() {
            if let Some(f) = s.as_mut() {
                if let Err(e) = f.write(data) {
                    tracing::warn!(path = %f.path.display(), error = %e, "cannot write child log");
                }
            }
        }
    }

    fn forward(&self, data: Vec<u8>) {
        let _ = self.tx.send(Msg::Output {
            id: self.id,
            pid: self.pid,
            stdout: self.stdout,
            data,
        });
    }
}

pub(super) async fn read_pipe(fd: OwnedFd, mut reader: PipeReader) {
    let rx = match tokio::net::unix::pipe::Receiver::from_owned_fd(fd) {
        Ok(rx) => rx,
        Err(e) => {
            tracing::error!(error = %e, "cannot read child pipe");
            return;
        }
    };
    // Readiness first, then a read into a buffer that exists only during the read: an idle
    // pipe (most of them) holds no buffer, which matters with hundreds of processes.
    while rx.readable().await.is_ok() {
        if !read_once(&rx, &mut reader) {
            break;
        }
    }
    reader.finish();
}

/// One read from a pipe that was reported readable, handed to `reader`. False at EOF or on an
/// error. A plain function so the buffer lives on the stack of this call, never in the task.
fn read_once(rx: &tokio::net::unix::pipe::Receiver, reader: &mut PipeReader) -> bool {
    let mut buf = [0u8; 8192];
    match rx.try_read(&mut buf) {
        Ok(0) => false,
        Ok(n) => {
            reader.handle(&buf[..n]);
            true
        }
        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
    }
}

/// A child's stdin: the pipe alone until something is written to it, then a writer task. Most
/// programs never get input, and an idle task per child is memory wasted with hundreds of them.
pub(super) struct Stdin {
    pipe: Option<OwnedFd>,
    writer: Option<StdinQueue>,
}

impl Stdin {
    /// The parent's end of a child's stdin pipe; no writer task yet.
    pub(super) fn new(pipe: OwnedFd) -> Stdin {
        Stdin {
            pipe: Some(pipe),
            writer: None,
        }
    }

    /// The writer task's queue, started on first use.
    pub(super) fn sender(&mut self) -> Option<StdinQueue> {
        if self.writer.is_none() {
            let pipe = self.pipe.take()?;
            let (tx, rx) = mpsc::unbounded_channel();
            let pending = Arc::new(AtomicUsize::new(0));
            tokio::spawn(write_stdin(pipe, rx, pending.clone()));
            self.writer = Some(StdinQueue { tx, pending });
        }
        self.writer.clone()
    }
}

/// What a child's stdin holds at most, written or not: past it, `sendProcessStdin` is refused
/// (FAILED) instead of queueing without end for a child that does not read its input.
pub(crate) const STDIN_PENDING_LIMIT: usize = 1024 * 1024;

/// The queue of a child's stdin writer, and how many bytes wait in it (queued, not yet taken
/// by the pipe). Like Supervisor's input buffer, it lets a caller hand data over without
/// waiting for the child to read it.
#[derive(Clone)]
pub(crate) struct StdinQueue {
    tx: mpsc::UnboundedSender<StdinWrite>,
    pending: Arc<AtomicUsize>,
}

impl StdinQueue {
    /// Queues `data`; `Err(pending)` when that would pass [`STDIN_PENDING_LIMIT`] (an empty
    /// queue takes any size: one call is bounded by the request's size limit), `Err(0)` when
    /// the writer is gone.
    pub(crate) fn push(&self, data: Vec<u8>, reply: Option<Reply<bool>>) -> Result<(), usize> {
        let len = data.len();
        let before = self.pending.fetch_add(len, Ordering::SeqCst);
        if before > 0 && before + len > STDIN_PENDING_LIMIT {
            self.pending.fetch_sub(len, Ordering::SeqCst);
            return Err(before);
        }
        self.tx.send(StdinWrite { data, reply }).map_err(|_| {
            self.pending.fetch_sub(len, Ordering::SeqCst);
            0
        })
    }
}

impl Actor {
    /// `sendProcessStdin`: the queue of the writer of `ns`'s stdin (started on first use).
    /// NOT_RUNNING without a child or while it is being killed, NO_FILE when it has no stdin
    /// to write to (an fcgi program: its stdin is the socket).
    pub(super) fn stdin_writer(&mut self, ns: &str) -> Result<StdinQueue, Fault> {
        let id = self.find(ns)?;
        let p = self
            .procs
            .get_mut(&id)
            .ok_or_else(|| fault(FaultCode::BadName, ns))?;
        if p.st.pid == 0 || p.st.killing {
            return Err(fault(FaultCode::NotRunning, ns));
        }
        p.stdin
            .as_mut()
            .and_then(Stdin::sender)
            .ok_or_else(|| fault(FaultCode::NoFile, ns))
    }
}

async fn write_stdin(
    fd: OwnedFd,
    mut rx: mpsc::UnboundedReceiver<StdinWrite>,
    pending: Arc<AtomicUsize>,
) {
    let mut tx = match tokio::net::unix::pipe::Sender::from_owned_fd(fd) {
        Ok(tx) => Some(tx),
        Err(e) => {
            tracing::error!(error = %e, "cannot write child stdin");
            None
        }
    };
    while let Some(w) = rx.recv().await {
        let ok = match tx.as_mut() {
            Some(t) => t.write_all(&w.data).await.is_ok(),
            None => false,
        };
        pending.fetch_sub(w.data.len(), Ordering::SeqCst);
        if !ok {
            tx = None; // EPIPE: the child closed its stdin
        }
        if let Some(r) = w.reply {
            let _ = r.send(ok);
        }
    }
}
