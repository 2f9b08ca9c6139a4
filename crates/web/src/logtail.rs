//! `tail -f` of a log file for `GET /logtail/...` and `GET /mainlogtail`, like Supervisor's
//! `tail_f_producer`: start with the last [`TAIL_HEAD_BYTES`], then poll for growth; a
//! truncated file prints `==> File truncated <==` and restarts at 0; a rotated file (new inode
//! at the path) is followed from its beginning once the old one is drained.
//!
//! A spawned task reads the file and feeds a channel, so the HTTP body is a plain channel
//! stream. The task ends when the client goes away or the `stop` token fires (server
//! shutdown), which ends the response and lets graceful shutdown complete.

use bytes::Bytes;
use futures_util::Stream;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How much existing content a new tail shows (Supervisor's `tail_f_producer(..., 1024)`).
pub const TAIL_HEAD_BYTES: u64 = 1024;
/// Line emitted when the file shrank under us (Supervisor's text).
pub const TRUNCATED: &str = "==> File truncated <==\n";
const MAX_CHUNK: u64 = 64 * 1024;

/// An open log file being followed.
struct Follower {
    path: PathBuf,
    file: File,
    inode: u64,
    pos: u64,
}

impl Follower {
    /// Opens `path`, positioned [`TAIL_HEAD_BYTES`] before its end.
    async fn open(path: &Path) -> io::Result<Follower> {
        let file = File::open(path).await?;
        let meta = file.metadata().await?;
        Ok(Follower {
            path: path.to_path_buf(),
            file,
            inode: meta.ino(),
            pos: meta.len().saturating_sub(TAIL_HEAD_BYTES),
        })
    }

    /// The next piece of output, or `None` when there is nothing new yet.
    async fn poll(&mut self) -> io::Result<Option<Bytes>> {
        let size = self.file.metadata().await?.len();
        if size < self.pos {
            self.pos = 0;
            return Ok(Some(Bytes::from_static(TRUNCATED.as_bytes())));
        }
        if size > self.pos {
            let want = (size - self.pos).min(MAX_CHUNK);
            self.file.seek(io::SeekFrom::Start(self.pos)).await?;
            let mut buf = Vec::with_capacity(want as usize);
            let read = (&mut self.file).take(want).read_to_end(&mut buf).await?;
            self.pos += read as u64;
            return Ok((read > 0).then(|| Bytes::from(buf)));
        }
        // Caught up: if the path now names another file (rotation), switch to it.
        if let Ok(meta) = tokio::fs::metadata(&self.path).await {
            if meta.ino() != self.inode {
                if let Ok(file) = File::open(&self.path).await {
                    self.inode = file.metadata().await.map(|m| m.ino()).unwrap_or(meta.ino());
                    self.file = file;
                    self.pos = 0;
                }
            }
        }
        Ok(None)
    }
}

/// Starts following `path`. Fails (→ 404) if the file cannot be opened now.
pub async fn follow(
    path: &Path,
    poll_interval: Duration,
    stop: CancellationToken,
) -> io::Result<impl Stream<Item = io::Result<Bytes>> + Send + Sync + 'static> {
    let mut follower = Follower::open(path).await?;
    let (tx, mut rx) = mpsc::channel::<io::Result<Bytes>>(4);
    tokio::spawn(async move {
        loop {
            match follower.poll().await {
                Ok(Some(chunk)) => {
                    let sent = tokio::select! {
                        sent = tx.send(Ok(chunk)) => sent.is_ok(),
                        _ = stop.cancelled() => false,
                    };
                    if !sent {
                        break;
                    }
                }
                Ok(None) => {
                    tokio::select! {
                        _ = tokio::time::sleep(poll_interval) => {}
                        _ = stop.cancelled() => break,
                        _ = tx.closed() => break,
                    }
                }
                Err(err) => {
                    tracing::debug!(path = %follower.path.display(), error = %err, "log tail ended on a read error");
                    let _ = tx.send(Err(err)).await;
                    break;
                }
            }
        }
    });
    Ok(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::io::Write;

    async fn next_text(stream: &mut (impl Stream<Item = io::Result<Bytes>> + Unpin)) -> String {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("no chunk within 5 s")
            .expect("stream ended")
            .expect("read error");
        String::from_utf8_lossy(&chunk).into_owned()
    }

    #[tokio::test]
    async fn starts_with_the_tail_then_follows_growth_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        let head = "a".repeat(2000);
        std::fs::write(&path, format!("{head}END\n")).unwrap();
        let stop = CancellationToken::new();
        let mut stream = Box::pin(
            follow(&path, Duration::from_millis(20), stop.clone())
                .await
                .unwrap(),
        );

        let first = next_text(&mut stream).await;
        assert_eq!(first.len(), TAIL_HEAD_BYTES as usize);
        assert!(first.ends_with("END\n"));

        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"more\n").unwrap();
        assert_eq!(next_text(&mut stream).await, "more\n");

        std::fs::write(&path, b"").unwrap();
        assert_eq!(next_text(&mut stream).await, TRUNCATED);
        std::fs::write(&path, b"fresh\n").unwrap();
        assert_eq!(next_text(&mut stream).await, "fresh\n");

        stop.cancel();
        let end = tokio::time::timeout(Duration::from_secs(5), stream.next()).await;
        assert!(matches!(end, Ok(None)), "stream must end on stop");
    }

    #[tokio::test]
    async fn follows_a_rotated_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        std::fs::write(&path, b"old\n").unwrap();
        let stop = CancellationToken::new();
        let mut stream = Box::pin(
            follow(&path, Duration::from_millis(20), stop.clone())
                .await
                .unwrap(),
        );
        assert_eq!(next_text(&mut stream).await, "old\n");

        std::fs::rename(&path, dir.path().join("x.log.1")).unwrap();
        std::fs::write(&path, b"new file\n").unwrap();
        assert_eq!(next_text(&mut stream).await, "new file\n");
        stop.cancel();
    }

    #[tokio::test]
    async fn missing_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let result = follow(
            &dir.path().join("nope"),
            Duration::from_millis(20),
            CancellationToken::new(),
        )
        .await;
        assert!(result.is_err());
    }
}
