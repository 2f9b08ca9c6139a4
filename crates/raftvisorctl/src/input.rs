//! The standard input as a stream of lines, read by one thread for the whole run.
//!
//! Why one reader thread: `fg` waits for a line of input and for Ctrl-C at the same time, and
//! a blocking read cannot be cancelled. Had `fg` read on a thread of its own, the read still
//! pending after Ctrl-C would swallow the next line typed at the prompt. With a single reader
//! that every consumer (the prompt, the confirmations, `fg`) takes its lines from, a line read
//! after `fg` has ended is simply the next line the prompt gets, in order.
//!
//! ```text
//!  stdin ──▶ reader thread ──▶ channel ──▶ Input::line() ──▶ prompt / confirm / fg
//! ```
//!
//! The thread starts at the first read (a one-shot command that never reads leaves stdin
//! alone) and ends at end of input, on a read error, or with the process.

use std::io::BufRead;

use tokio::sync::mpsc;

/// Lines of the standard input; see the module doc.
#[derive(Debug, Default)]
pub struct Input {
    lines: Option<mpsc::UnboundedReceiver<String>>,
}

impl Input {
    pub fn new() -> Input {
        Input::default()
    }

    /// The next line with its end-of-line (the last line of the input may have none), or
    /// `None` at end of input. Cancel-safe: a line read while nobody waits is kept for the next
    /// call.
    pub async fn line(&mut self) -> Option<String> {
        self.lines.get_or_insert_with(spawn_reader).recv().await
    }
}

/// Starts the reader thread. Should the thread not start, the channel is closed at once and
/// the input reads as empty (end of input), the answer a closed stdin would give.
fn spawn_reader() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    let _ = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || read_lines(std::io::stdin().lock(), &tx));
    rx
}

/// Sends each line of `reader` until its end, a read error or a dropped receiver. Bytes that
/// are not UTF-8 are replaced (U+FFFD) rather than ending the input.
fn read_lines(mut reader: impl BufRead, tx: &mpsc::UnboundedSender<String>) {
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if tx.send(String::from_utf8_lossy(&buf).into_owned()).is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(bytes: &[u8]) -> Vec<String> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        read_lines(bytes, &tx);
        drop(tx);
        let mut out = Vec::new();
        while let Ok(l) = rx.try_recv() {
            out.push(l);
        }
        out
    }

    #[test]
    fn lines_keep_their_end_and_the_last_may_have_none() {
        assert_eq!(lines_of(b"a\nb c\r\nlast"), ["a\n", "b c\r\n", "last"]);
        assert_eq!(lines_of(b""), Vec::<String>::new());
        assert_eq!(lines_of(b"\n\n"), ["\n", "\n"]);
    }

    #[test]
    fn bytes_that_are_not_utf8_do_not_end_the_input() {
        assert_eq!(lines_of(b"caf\xe9\nnext\n"), ["caf\u{fffd}\n", "next\n"]);
    }
}
