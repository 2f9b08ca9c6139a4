//! Supervisor's event types, their payloads, subscription matching by abstract parent names,
//! and the event-listener protocol parser (docs/supvisors.md, 'Event listeners'). All pure.

use model::{ListenerState, ProcessState};

/// A concrete event as listeners receive it: its type name and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub name: String,
    pub payload: Vec<u8>,
}

/// The abstract parents of a concrete event name, nearest first (without `EVENT`).
fn parent_of(name: &str) -> Option<&'static str> {
    const PARENTS: [&str; 6] = [
        "PROCESS_STATE",
        "PROCESS_LOG",
        "PROCESS_COMMUNICATION",
        "SUPERVISOR_STATE_CHANGE",
        "TICK",
        "PROCESS_GROUP",
    ];
    PARENTS
        .into_iter()
        .find(|p| name.len() > p.len() && name.starts_with(p) && name.as_bytes()[p.len()] == b'_')
}

/// Whether a listener subscribed to `subscription` receives an event named `event`
/// (Python's `isinstance` against the `EventTypes` hierarchy).
pub fn subscribed(subscription: &str, event: &str) -> bool {
    subscription == "EVENT" || subscription == event || parent_of(event) == Some(subscription)
}

/// `PROCESS_STATE_<STATE>` payload: `processname:x groupname:g from_state:S` + the extras.
pub fn process_state_payload(
    name: &str,
    group: &str,
    from: ProcessState,
    to: ProcessState,
    pid: i32,
    tries: u32,
    expected: bool,
) -> Notification {
    let mut s = format!("processname:{name} groupname:{group} from_state:{from}");
    match to {
        ProcessState::Starting | ProcessState::Backoff => s.push_str(&format!(" tries:{tries}")),
        ProcessState::Exited => s.push_str(&format!(" expected:{} pid:{pid}", i32::from(expected))),
        ProcessState::Running | ProcessState::Stopping | ProcessState::Stopped => {
            s.push_str(&format!(" pid:{pid}"))
        }
        ProcessState::Fatal | ProcessState::Unknown => {}
    }
    Notification {
        name: format!("PROCESS_STATE_{to}"),
        payload: s.into_bytes(),
    }
}

pub fn process_log_payload(
    name: &str,
    group: &str,
    pid: i32,
    stdout: bool,
    data: &[u8],
) -> Notification {
    let channel = if stdout { "stdout" } else { "stderr" };
    let mut payload =
        format!("processname:{name} groupname:{group} pid:{pid} channel:{channel}\n").into_bytes();
    payload.extend_from_slice(data);
    Notification {
        name: format!("PROCESS_LOG_{}", channel.to_ascii_uppercase()),
        payload,
    }
}

/// `PROCESS_COMMUNICATION_<CHANNEL>` payload: `processname:x groupname:g pid:N\n<data>`.
pub fn process_comm_payload(
    name: &str,
    group: &str,
    pid: i32,
    stdout: bool,
    data: &[u8],
) -> Notification {
    let mut payload = format!("processname:{name} groupname:{group} pid:{pid}\n").into_bytes();
    payload.extend_from_slice(data);
    Notification {
        name: if stdout {
            "PROCESS_COMMUNICATION_STDOUT"
        } else {
            "PROCESS_COMMUNICATION_STDERR"
        }
        .into(),
        payload,
    }
}

pub fn group_payload(group: &str, added: bool) -> Notification {
    Notification {
        name: if added {
            "PROCESS_GROUP_ADDED"
        } else {
            "PROCESS_GROUP_REMOVED"
        }
        .into(),
        payload: format!("groupname:{group}\n").into_bytes(),
    }
}

pub fn remote_comm_payload(kind: &str, data: &str) -> Notification {
    Notification {
        name: "REMOTE_COMMUNICATION".into(),
        payload: format!("type:{kind}\n{data}").into_bytes(),
    }
}

pub fn supervisor_state_payload(running: bool) -> Notification {
    Notification {
        name: if running {
            "SUPERVISOR_STATE_CHANGE_RUNNING"
        } else {
            "SUPERVISOR_STATE_CHANGE_STOPPING"
        }
        .into(),
        payload: Vec::new(),
    }
}

pub fn tick_payload(period: i64, when: i64) -> Notification {
    Notification {
        name: format!("TICK_{period}"),
        payload: format!("when:{when}").into_bytes(),
    }
}

/// The tick periods and the aligned `when` of each, for a wall-clock second.
pub const TICK_PERIODS: [i64; 3] = [5, 60, 3600];

pub fn timeslice(period: i64, epoch: i64) -> i64 {
    epoch - epoch.rem_euclid(period)
}

/// The envelope written on a listener's stdin: header line + payload.
pub fn envelope(
    server: &str,
    serial: u64,
    pool: &str,
    pool_serial: u64,
    n: &Notification,
) -> Vec<u8> {
    let mut out = format!(
        "ver:3.0 server:{server} serial:{serial} pool:{pool} poolserial:{pool_serial} eventname:{} len:{}\n",
        n.name,
        n.payload.len()
    )
    .into_bytes();
    out.extend_from_slice(&n.payload);
    out
}

/// What the listener said, as the protocol parser understood it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenerSaid {
    Ready,
    /// A complete `RESULT n\n` + n bytes.
    Result(Vec<u8>),
    /// Protocol violation: the listener is now UNKNOWN.
    Violation(String),
}

/// Supervisor's `PEventListenerDispatcher.handle_listener_state_change` as a parser over the
/// listener's stdout. The pool marks it BUSY when it sends an event ([`ListenerProto::sent`]).
#[derive(Debug, Clone)]
pub struct ListenerProto {
    pub state: ListenerState,
    buf: Vec<u8>,
    resultlen: Option<usize>,
    result: Vec<u8>,
}

impl Default for ListenerProto {
    fn default() -> Self {
        ListenerProto {
            state: ListenerState::Acknowledged,
            buf: Vec::new(),
            resultlen: None,
            result: Vec::new(),
        }
    }
}

impl ListenerProto {
    pub fn sent(&mut self) {
        self.state = ListenerState::Busy;
    }

    pub fn feed(&mut self, data: &[u8]) -> Vec<ListenerSaid> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        loop {
            if self.buf.is_empty() {
                return out;
            }
            match self.state {
                ListenerState::Unknown => {
                    self.buf.clear();
                    return out;
                }
                ListenerState::Acknowledged => {
                    if self.buf.len() < 6 {
                        return out;
                    }
                    if self.buf.starts_with(b"READY\n") {
                        self.buf.drain(..6);
                        self.state = ListenerState::Ready;
                        out.push(ListenerSaid::Ready);
                    } else {
                        self.violation(&mut out, "expected READY");
                        return out;
                    }
                }
                ListenerState::Ready => {
                    self.violation(&mut out, "spurious data while READY");
                    return out;
                }
                ListenerState::Busy => match self.resultlen {
                    None => {
                        let Some(pos) = self.buf.iter().position(|b| *b == b'\n') else {
                            return out;
                        };
                        let line: Vec<u8> = self.buf.drain(..=pos).collect();
                        let line = &line[..line.len() - 1];
                        let len = line
                            .strip_prefix(b"RESULT ")
                            .and_then(|n| std::str::from_utf8(n).ok())
                            .and_then(|n| n.trim().parse::<usize>().ok());
                        match len {
                            Some(n) => {
                                self.resultlen = Some(n);
                                if n == 0 {
                                    self.finish(&mut out);
                                }
                            }
                            None => {
                                let text = String::from_utf8_lossy(line).into_owned();
                                self.violation(&mut out, &format!("bad result line: '{text}'"));
                                return out;
                            }
                        }
                    }
                    Some(n) => {
                        let needed = n - self.result.len();
                        let take = needed.min(self.buf.len());
                        self.result.extend(self.buf.drain(..take));
                        if self.result.len() == n {
                            self.finish(&mut out);
                        } else {
                            return out;
                        }
                    }
                },
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<ListenerSaid>) {
        out.push(ListenerSaid::Result(std::mem::take(&mut self.result)));
        self.resultlen = None;
        self.state = ListenerState::Acknowledged;
    }

    fn violation(&mut self, out: &mut Vec<ListenerSaid>, why: &str) {
        self.state = ListenerState::Unknown;
        self.buf.clear();
        out.push(ListenerSaid::Violation(why.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_match_abstract_parents() {
        assert!(subscribed("EVENT", "TICK_5"));
        assert!(subscribed("PROCESS_STATE", "PROCESS_STATE_RUNNING"));
        assert!(subscribed("PROCESS_STATE_RUNNING", "PROCESS_STATE_RUNNING"));
        assert!(!subscribed("PROCESS_STATE_RUNNING", "PROCESS_STATE_EXITED"));
        assert!(subscribed("TICK", "TICK_60"));
        assert!(!subscribed("TICK", "PROCESS_STATE_RUNNING"));
        assert!(subscribed("PROCESS_GROUP", "PROCESS_GROUP_ADDED"));
        assert!(subscribed(
            "SUPERVISOR_STATE_CHANGE",
            "SUPERVISOR_STATE_CHANGE_RUNNING"
        ));
        assert!(subscribed("PROCESS_LOG", "PROCESS_LOG_STDOUT"));
        assert!(!subscribed("PROCESS_STATE", "REMOTE_COMMUNICATION"));
    }

    #[test]
    fn payloads_match_supervisor() {
        let n = process_state_payload(
            "ok",
            "ok",
            ProcessState::Running,
            ProcessState::Stopping,
            24585,
            0,
            true,
        );
        assert_eq!(n.name, "PROCESS_STATE_STOPPING");
        assert_eq!(
            n.payload,
            b"processname:ok groupname:ok from_state:RUNNING pid:24585"
        );
        let env = envelope("standalone", 5, "lis", 5, &n);
        assert_eq!(
            String::from_utf8(env).unwrap(),
            "ver:3.0 server:standalone serial:5 pool:lis poolserial:5 eventname:PROCESS_STATE_STOPPING len:56\nprocessname:ok groupname:ok from_state:RUNNING pid:24585"
        );
        let n = process_state_payload(
            "a",
            "g",
            ProcessState::Backoff,
            ProcessState::Starting,
            0,
            2,
            true,
        );
        assert_eq!(
            n.payload,
            b"processname:a groupname:g from_state:BACKOFF tries:2"
        );
        let n = process_state_payload(
            "a",
            "g",
            ProcessState::Running,
            ProcessState::Exited,
            9,
            0,
            false,
        );
        assert_eq!(
            n.payload,
            b"processname:a groupname:g from_state:RUNNING expected:0 pid:9"
        );
        let n = process_state_payload(
            "a",
            "g",
            ProcessState::Backoff,
            ProcessState::Fatal,
            0,
            0,
            true,
        );
        assert_eq!(n.payload, b"processname:a groupname:g from_state:BACKOFF");
        assert_eq!(remote_comm_payload("t", "d").payload, b"type:t\nd");
        let n = process_comm_payload("a", "g", 7, false, b"x y");
        assert_eq!(n.name, "PROCESS_COMMUNICATION_STDERR");
        assert_eq!(n.payload, b"processname:a groupname:g pid:7\nx y");
        assert!(subscribed("PROCESS_COMMUNICATION", &n.name));
        assert_eq!(group_payload("g", true).payload, b"groupname:g\n");
        assert_eq!(tick_payload(5, 1000).payload, b"when:1000");
        assert_eq!(timeslice(5, 1003), 1000);
        assert_eq!(timeslice(3600, 7201), 7200);
        assert_eq!(
            process_log_payload("a", "g", 3, true, b"hi\n").payload,
            b"processname:a groupname:g pid:3 channel:stdout\nhi\n"
        );
    }

    #[test]
    fn listener_protocol_ready_result_ready() {
        let mut p = ListenerProto::default();
        assert_eq!(p.feed(b"REA"), vec![]);
        assert_eq!(p.feed(b"DY\n"), vec![ListenerSaid::Ready]);
        assert_eq!(p.state, ListenerState::Ready);
        p.sent();
        assert_eq!(p.feed(b"RESULT 2\nO"), vec![]);
        assert_eq!(
            p.feed(b"KREADY\n"),
            vec![ListenerSaid::Result(b"OK".to_vec()), ListenerSaid::Ready]
        );
        p.sent();
        assert_eq!(
            p.feed(b"RESULT 4\nFAIL"),
            vec![ListenerSaid::Result(b"FAIL".to_vec())]
        );
        assert_eq!(p.state, ListenerState::Acknowledged);
    }

    #[test]
    fn listener_protocol_violations() {
        let mut p = ListenerProto::default();
        assert!(matches!(
            p.feed(b"hello\n")[..],
            [ListenerSaid::Violation(_)]
        ));
        assert_eq!(p.state, ListenerState::Unknown);
        assert_eq!(p.feed(b"READY\n"), vec![]);

        let mut p = ListenerProto::default();
        p.feed(b"READY\n");
        assert!(matches!(p.feed(b"x")[..], [ListenerSaid::Violation(_)]));

        let mut p = ListenerProto::default();
        p.feed(b"READY\n");
        p.sent();
        assert!(matches!(
            p.feed(b"RESULT x\n")[..],
            [ListenerSaid::Violation(_)]
        ));
    }
}
