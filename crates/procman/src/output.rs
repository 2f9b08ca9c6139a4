//! What happens to a child's output between its pipe and the log: Supervisor's
//! `POutputDispatcher` (capture mode between `<!--XSUPERVISOR:BEGIN-->` and
//! `<!--XSUPERVISOR:END-->`, tokens possibly split across reads), `strip_ansi`
//! (`stripEscapes`), the syslog line format, and the in-memory tail kept for the dashboard.
//!
//! All pure except [`send_syslog`], the one call into libc's `syslog(3)`.

use std::collections::VecDeque;

/// `ProcessCommunicationEvent.BEGIN_TOKEN`.
pub const BEGIN_TOKEN: &[u8] = b"<!--XSUPERVISOR:BEGIN-->";
/// `ProcessCommunicationEvent.END_TOKEN`.
pub const END_TOKEN: &[u8] = b"<!--XSUPERVISOR:END-->";

/// Bytes kept per process channel by [`Tail`] (the dashboard's "recent output").
pub const TAIL_BYTES: usize = 64 * 1024;

/// One result of feeding output to an [`OutputDispatcher`], in output order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Ordinary output: the log file, syslog, the tail, and `PROCESS_LOG_*` events.
    Normal(Vec<u8>),
    /// Output inside capture tags: it goes to the capture buffer, never to the log file, but
    /// Supervisor still emits `PROCESS_LOG_*` events for it (its `_log` notifies whatever the
    /// current child log is).
    Captured(Vec<u8>),
    /// A capture ended with the END token: the data of a `PROCESS_COMMUNICATION_*` event.
    Communication(Vec<u8>),
}

/// One output channel of one process (a fresh one per spawn, as Supervisor creates new
/// dispatchers for each child).
#[derive(Debug, Clone)]
pub struct OutputDispatcher {
    /// `*_capture_maxbytes`; 0 disables capture mode (everything is logged at once).
    capture_maxbytes: usize,
    strip_ansi: bool,
    /// Data held back because it may be the start of a token (`output_buffer`).
    pending: Vec<u8>,
    capturing: bool,
    captured: VecDeque<u8>,
}

impl OutputDispatcher {
    pub fn new(capture_maxbytes: u64, strip_ansi: bool) -> OutputDispatcher {
        OutputDispatcher {
            capture_maxbytes: usize::try_from(capture_maxbytes).unwrap_or(usize::MAX),
            strip_ansi,
            pending: Vec::new(),
            capturing: false,
            captured: VecDeque::new(),
        }
    }

    /// Feeds bytes read from the pipe (`handle_read_event` + `record_output`).
    ///
    /// As in Supervisor, while capture is enabled, data no longer than the token being looked
    /// for is held back until more arrives (so a short line can wait for the next write).
    pub fn feed(&mut self, data: &[u8]) -> Vec<Piece> {
        let mut out = Vec::new();
        self.pending.extend_from_slice(data);
        loop {
            if self.capture_maxbytes == 0 {
                let data = std::mem::take(&mut self.pending);
                self.log(data, &mut out);
                return out;
            }
            let token = if self.capturing {
                END_TOKEN
            } else {
                BEGIN_TOKEN
            };
            if self.pending.len() <= token.len() {
                return out;
            }
            let mut data = std::mem::take(&mut self.pending);
            match find(&data, token) {
                None => {
                    let keep = prefix_at_end(&data, token);
                    if keep > 0 {
                        self.pending = data.split_off(data.len() - keep);
                    }
                    self.log(data, &mut out);
                    return out;
                }
                Some(at) => {
                    let after = data.split_off(at + token.len());
                    data.truncate(at);
                    self.log(data, &mut out);
                    self.toggle(&mut out);
                    if after.is_empty() {
                        return out;
                    }
                    self.pending = after;
                }
            }
        }
    }

    /// End of file: the child closed the pipe. Supervisor silently drops what it held back;
    /// we log it instead, so the last short line of a dying child is not lost. An unfinished
    /// capture produces no event (as in Supervisor).
    pub fn finish(&mut self) -> Vec<Piece> {
        let mut out = Vec::new();
        let data = std::mem::take(&mut self.pending);
        self.log(data, &mut out);
        out
    }

    /// Supervisor's `_log`: strip escapes, then route to the current log.
    fn log(&mut self, data: Vec<u8>, out: &mut Vec<Piece>) {
        if data.is_empty() {
            return;
        }
        let data = if self.strip_ansi {
            strip_escapes(&data)
        } else {
            data
        };
        if data.is_empty() {
            return;
        }
        if self.capturing {
            self.captured.extend(data.iter().copied());
            // bounded like Supervisor's BoundIO: the oldest bytes go first
            let excess = self.captured.len().saturating_sub(self.capture_maxbytes);
            self.captured.drain(..excess);
            out.push(Piece::Captured(data));
        } else {
            out.push(Piece::Normal(data));
        }
    }

    fn toggle(&mut self, out: &mut Vec<Piece>) {
        self.capturing = !self.capturing;
        if !self.capturing {
            let data: Vec<u8> = self.captured.drain(..).collect();
            out.push(Piece::Communication(data));
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// medusa's `find_prefix_at_end`: the length of the longest proper prefix of `needle` that
/// `haystack` ends with.
pub fn prefix_at_end(haystack: &[u8], needle: &[u8]) -> usize {
    (1..needle.len())
        .rev()
        .find(|&l| haystack.ends_with(&needle[..l]))
        .unwrap_or(0)
}

/// `ANSI_TERMINATORS` of Supervisor's `stripEscapes`.
const ANSI_TERMINATORS: &[u8] = b"HfABCDRsuJKhlpm";

/// Supervisor's `stripEscapes`: drops every `ESC [` … terminator sequence. Like Supervisor it
/// works on one chunk at a time: a sequence split across two reads is not recognised.
pub fn strip_escapes(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut show = true;
    let mut i = 0;
    while i < s.len() {
        if !show && ANSI_TERMINATORS.contains(&s[i]) {
            show = true;
        } else if show {
            match find(&s[i..], b"\x1b[") {
                None => {
                    out.extend_from_slice(&s[i..]);
                    return out;
                }
                Some(n) => {
                    out.extend_from_slice(&s[i..i + n]);
                    i += n;
                    show = false;
                }
            }
        }
        i += 1;
    }
    out
}

/// The messages Supervisor's `SyslogHandler` sends for one chunk of a process's output with
/// the format `'<name> %(message)s'`: one per line, trailing newlines dropped first.
pub fn syslog_lines(name: &str, data: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(data);
    text.trim_end_matches('\n')
        .split('\n')
        .map(|line| format!("{name} {line}"))
        .collect()
}

/// Sends messages to syslog at LOG_INFO (Python's `syslog.syslog(msg)` default), with the
/// ident and facility of whatever `openlog` the daemon made (glibc defaults to the program
/// name and LOG_USER). NUL bytes, which C strings cannot carry, are dropped.
pub fn send_syslog(messages: &[String]) {
    for m in messages {
        let bytes: Vec<u8> = m.bytes().filter(|b| *b != 0).collect();
        let Ok(c) = std::ffi::CString::new(bytes) else {
            continue;
        };
        // SAFETY: a constant "%s" format with one valid NUL-terminated string argument.
        unsafe { libc::syslog(libc::LOG_INFO, c"%s".as_ptr(), c.as_ptr()) };
    }
}

/// A bounded ring of the latest output of one channel, kept whatever the log target.
#[derive(Debug, Clone)]
pub struct Tail {
    cap: usize,
    buf: VecDeque<u8>,
}

impl Default for Tail {
    fn default() -> Self {
        Tail::new(TAIL_BYTES)
    }
}

impl Tail {
    pub fn new(cap: usize) -> Tail {
        Tail {
            cap,
            buf: VecDeque::new(),
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        let data = &data[data.len().saturating_sub(self.cap)..];
        let excess = (self.buf.len() + data.len()).saturating_sub(self.cap);
        self.buf.drain(..excess.min(self.buf.len()));
        self.buf.extend(data.iter().copied());
    }

    pub fn contents(&self) -> Vec<u8> {
        self.buf.iter().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(d: &mut OutputDispatcher, chunks: &[&[u8]]) -> Vec<Piece> {
        chunks.iter().flat_map(|c| d.feed(c)).collect()
    }

    #[test]
    fn without_capture_everything_is_logged_at_once() {
        let mut d = OutputDispatcher::new(0, false);
        assert_eq!(d.feed(b"hi"), vec![Piece::Normal(b"hi".to_vec())]);
        assert_eq!(
            d.feed(b"<!--XSUPERVISOR:BEGIN-->x"),
            vec![Piece::Normal(b"<!--XSUPERVISOR:BEGIN-->x".to_vec())]
        );
        assert_eq!(d.feed(b""), vec![]);
    }

    #[test]
    fn capture_in_one_read() {
        let mut d = OutputDispatcher::new(100, false);
        let out = d.feed(
            b"before<!--XSUPERVISOR:BEGIN-->data<!--XSUPERVISOR:END-->after, a long enough tail\n",
        );
        assert_eq!(
            out,
            vec![
                Piece::Normal(b"before".to_vec()),
                Piece::Captured(b"data".to_vec()),
                Piece::Communication(b"data".to_vec()),
                Piece::Normal(b"after, a long enough tail\n".to_vec()),
            ]
        );
    }

    #[test]
    fn tokens_split_across_reads() {
        let mut d = OutputDispatcher::new(100, false);
        let out = feed_all(
            &mut d,
            &[
                b"hello <!--XSUPER",
                b"VISOR:BEGIN-->pay",
                b"load<!--XSUPERVISOR:E",
                b"ND-->",
            ],
        );
        // as in Supervisor, a buffer no longer than the token waits for more data
        assert!(!out.iter().any(|p| matches!(p, Piece::Communication(_))));
        let mut out = out;
        out.extend(d.feed(b"\n"));
        let comm: Vec<&Piece> = out
            .iter()
            .filter(|p| matches!(p, Piece::Communication(_)))
            .collect();
        assert_eq!(comm, vec![&Piece::Communication(b"payload".to_vec())]);
        let normal: Vec<u8> = out
            .iter()
            .filter_map(|p| match p {
                Piece::Normal(d) => Some(d.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(normal, b"hello ");
        // one byte at a time works too
        let mut d = OutputDispatcher::new(100, false);
        let text = b"a<!--XSUPERVISOR:BEGIN-->xyz<!--XSUPERVISOR:END-->\n";
        let out: Vec<Piece> = text.iter().flat_map(|b| d.feed(&[*b])).collect();
        assert!(
            out.contains(&Piece::Communication(b"xyz".to_vec())),
            "{out:?}"
        );
    }

    #[test]
    fn short_output_waits_like_supervisor_and_is_flushed_at_eof() {
        let mut d = OutputDispatcher::new(100, false);
        assert_eq!(d.feed(b"ok\n"), vec![]);
        assert_eq!(d.finish(), vec![Piece::Normal(b"ok\n".to_vec())]);
        // a possible token start is held back, the rest is logged
        let mut d = OutputDispatcher::new(100, false);
        assert_eq!(
            d.feed(b"a line longer than the token <!--XSUP"),
            vec![Piece::Normal(b"a line longer than the token ".to_vec())]
        );
        assert_eq!(d.finish(), vec![Piece::Normal(b"<!--XSUP".to_vec())]);
    }

    #[test]
    fn captured_data_keeps_the_latest_capture_maxbytes() {
        let mut d = OutputDispatcher::new(5, false);
        let out = feed_all(
            &mut d,
            &[
                b"<!--XSUPERVISOR:BEGIN-->0123456789",
                b"abc<!--XSUPERVISOR:END-->",
            ],
        );
        assert_eq!(out.last(), Some(&Piece::Communication(b"89abc".to_vec())));
        // the next capture starts empty
        let out = d.feed(b"<!--XSUPERVISOR:BEGIN-->z<!--XSUPERVISOR:END-->");
        assert_eq!(out.last(), Some(&Piece::Communication(b"z".to_vec())));
    }

    #[test]
    fn unfinished_capture_gives_no_event() {
        let mut d = OutputDispatcher::new(50, false);
        let mut out = d.feed(b"<!--XSUPERVISOR:BEGIN-->never ended, long enough");
        out.extend(d.finish());
        assert!(!out.iter().any(|p| matches!(p, Piece::Communication(_))));
        assert!(!out.iter().any(|p| matches!(p, Piece::Normal(_))));
    }

    #[test]
    fn strip_ansi_applies_to_log_and_capture() {
        let mut d = OutputDispatcher::new(0, true);
        assert_eq!(
            d.feed(b"\x1b[1;31mred\x1b[0m plain\n"),
            vec![Piece::Normal(b"red plain\n".to_vec())]
        );
        assert_eq!(d.feed(b"\x1b[2J"), vec![]);
        let mut d = OutputDispatcher::new(100, true);
        let out = d.feed(b"<!--XSUPERVISOR:BEGIN-->\x1b[32mgreen\x1b[0m<!--XSUPERVISOR:END-->");
        assert_eq!(out.last(), Some(&Piece::Communication(b"green".to_vec())));
    }

    #[test]
    fn strip_escapes_matches_supervisor() {
        // expectations computed with supervisor.dispatchers.stripEscapes
        assert_eq!(strip_escapes(b"plain"), b"plain");
        assert_eq!(strip_escapes(b"\x1b[31mred\x1b[0m"), b"red");
        assert_eq!(strip_escapes(b"a\x1b[2Jb\x1b[10;5Hc"), b"abc");
        assert_eq!(strip_escapes(b"x\x1b[?25ly"), b"xy");
        // no terminator: the rest is swallowed
        assert_eq!(strip_escapes(b"a\x1b[123"), b"a");
        // a lone ESC is kept
        assert_eq!(strip_escapes(b"a\x1bb"), b"a\x1bb");
        assert_eq!(strip_escapes(b""), b"");
    }

    #[test]
    fn prefix_at_end_is_find_prefix_at_end() {
        assert_eq!(prefix_at_end(b"abc<!--XS", BEGIN_TOKEN), 6);
        assert_eq!(prefix_at_end(b"abc<", BEGIN_TOKEN), 1);
        assert_eq!(prefix_at_end(b"abc", BEGIN_TOKEN), 0);
        // a whole token is not a *proper* prefix
        assert_eq!(prefix_at_end(END_TOKEN, END_TOKEN), 0);
    }

    #[test]
    fn syslog_lines_are_name_space_line() {
        assert_eq!(
            syslog_lines("web", b"one\ntwo\n\n"),
            vec!["web one".to_string(), "web two".to_string()]
        );
        assert_eq!(
            syslog_lines("web", b"a\n\nb"),
            vec!["web a", "web ", "web b"]
        );
        assert_eq!(syslog_lines("w", b"\n"), vec!["w "]);
    }

    #[test]
    fn tail_keeps_the_latest_bytes() {
        let mut t = Tail::new(8);
        t.push(b"hello ");
        t.push(b"world");
        assert_eq!(t.contents(), b"lo world");
        t.push(b"0123456789ab");
        assert_eq!(t.contents(), b"456789ab");
        t.push(b"");
        assert_eq!(t.contents(), b"456789ab");
        assert_eq!(Tail::default().cap, TAIL_BYTES);
    }
}
