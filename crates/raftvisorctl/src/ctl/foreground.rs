//! `fg <process>`: supervisorctl's foreground mode. The process's stdout and stderr logs are
//! followed (`GET /logtail/<name>/stdout` and `/stderr`, each from its last KiB) and printed as
//! they grow, while each line of our standard input goes to the process
//! (`supervisor.sendProcessStdin`). Ctrl-C or the end of our input leaves the mode
//! (`Exiting foreground`) and the process keeps running.
//!
//! ```text
//!   /logtail/<name>/stdout ─┐
//!   /logtail/<name>/stderr ─┴─▶ our stdout        (until the mode ends)
//!   our stdin ──line──▶ sendProcessStdin ──▶ getProcessInfo: still RUNNING?
//!   Ctrl-C | end of input | process gone ──▶ "Exiting foreground"
//! ```
//!
//! As in supervisorctl, the end of the process is noticed when the next line is sent (its
//! stream does not end with it), and a log that cannot be followed (a 404 for the stderr of a
//! `redirect_stderr` program) is reported on stderr while the mode goes on. Unlike
//! supervisorctl, whose follower thread can hold the exit for up to 30 s after Ctrl-C, the
//! streams are dropped (and their connections closed) as soon as the mode ends.

use std::convert::Infallible;

use client::{Channel, Client, Error};
use model::{FaultCode, ProcessState};

use super::{interrupted, interrupts, is, output, write_raw, CmdResult, Ctl, Flow};
use crate::format::exit;
use crate::input::Input;
use crate::supvisors_format::py_repr;

/// How a fault prints in supervisorctl's `'ERROR: ' + str(e)`: `<Fault 10: 'BAD_NAME: x'>`.
fn fault_str(code: i32, string: &str) -> String {
    format!("<Fault {code}: {}>", py_repr(string))
}

/// supervisorctl's `http_client` message for a log it cannot follow, written on stderr after
/// the URL (`http://host:port/logtail/x/stderr Cannot read, status code 404`).
fn follow_error(e: &Error) -> String {
    match e {
        Error::HttpStatus { status } => format!("Cannot read, status code {status}"),
        Error::Unauthorized => "Cannot read, status code 401".into(),
        Error::ConnectionRefused { .. } => {
            "Cannot connect, error: <class 'ConnectionRefusedError'> ([Errno 111] Connection refused)"
                .into()
        }
        Error::NoSuchSocket { .. } => {
            "Cannot connect, error: <class 'FileNotFoundError'> ([Errno 2] No such file or directory)"
                .into()
        }
        other => format!("Cannot connect, error: {other}"),
    }
}

/// What ends the mode, other than Ctrl-C.
#[derive(Debug)]
enum Leave {
    /// Our standard input ended (supervisorctl's `EOFError`).
    InputEnded,
    /// `sendProcessStdin` answered NOT_RUNNING, or the process is no longer RUNNING after a
    /// line was sent.
    ProcessGone,
    /// `sendProcessStdin` answered another fault (`ERROR: <Fault …>` in supervisorctl).
    Fault { code: i32, string: String },
}

impl Ctl {
    pub(super) async fn do_fg(&mut self, arg: &str) -> CmdResult {
        if !self.upcheck().await? {
            return Ok(Flow::Continue);
        }
        let names: Vec<&str> = arg.split_whitespace().collect();
        let name = match names.as_slice() {
            [] => {
                output("ERROR: no process name supplied");
                self.exitstatus = exit::GENERIC;
                self.help("fg");
                return Ok(Flow::Continue);
            }
            [one] => *one,
            _ => {
                output("ERROR: too many process names supplied");
                self.exitstatus = exit::GENERIC;
                return Ok(Flow::Continue);
            }
        };
        match self.client.get_process_info(name).await {
            Ok(info) if info.process_state() == Some(ProcessState::Running) => {}
            Ok(_) => {
                output("ERROR: process not running");
                self.exitstatus = exit::GENERIC;
                return Ok(Flow::Continue);
            }
            Err(e) if is(&e, FaultCode::BadName) => {
                output("ERROR: bad process name supplied");
                self.exitstatus = exit::GENERIC;
                return Ok(Flow::Continue);
            }
            // supervisorctl prints any other fault and leaves the exit status alone.
            Err(Error::Fault { code, string, .. }) => {
                output(&format!("ERROR: {}", fault_str(code, &string)));
                return Ok(Flow::Continue);
            }
            Err(e) => return Err(e.into()),
        }
        // Watched before the header is printed: a Ctrl-C right after it leaves the mode instead
        // of ending raftvisorctl.
        let mut own = None;
        let sigint = interrupts(&mut self.sigint, &mut own);
        output("==> Press Ctrl-C to exit <==");

        let logs = relay_logs(&self.client, &self.settings.serverurl, name);
        let input = send_input(&self.client, &mut self.input, name);
        let end = tokio::select! {
            never = logs => match never {},
            end = input => Some(end?),
            () = interrupted(sigint) => None,
        };
        match end {
            None | Some(Leave::InputEnded) => {}
            Some(Leave::ProcessGone) => output("Process got killed"),
            Some(Leave::Fault { code, string }) => {
                output(&format!("ERROR: {}", fault_str(code, &string)))
            }
        }
        output("Exiting foreground");
        Ok(Flow::Continue)
    }
}

/// Prints the process's stdout and stderr logs as they grow, both at once; a log that cannot be
/// followed is reported on stderr. Never completes: when both streams have ended the mode
/// still waits for input, as supervisorctl does; the caller drops this future to stop.
async fn relay_logs(client: &Client, serverurl: &str, name: &str) -> Infallible {
    let follow = |channel: Channel| async move {
        let path = format!("/logtail/{name}/{}", channel.as_str());
        let mut stream = match client.tail_follow(name, channel).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{serverurl}{path} {}", follow_error(&e));
                return;
            }
        };
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => write_raw(&bytes),
                Err(e) => {
                    eprintln!("{serverurl}{path} {}", follow_error(&e));
                    return;
                }
            }
        }
    };
    tokio::join!(follow(Channel::Stdout), follow(Channel::Stderr));
    std::future::pending().await
}

/// Sends each line of our input to the process, then checks it still runs; returns what ended
/// the mode. A failure that is not a fault (the server gone) is an error of the command, as an
/// exception escaping supervisorctl's `do_fg`.
async fn send_input(client: &Client, input: &mut Input, name: &str) -> Result<Leave, Error> {
    loop {
        let Some(line) = input.line().await else {
            return Ok(Leave::InputEnded);
        };
        // supervisorctl sends `raw_input() + '\n'`: the line without its `\n`, then one.
        let chars = format!("{}\n", line.strip_suffix('\n').unwrap_or(&line));
        match client.send_process_stdin(name, &chars).await {
            Ok(_) => {}
            Err(e) if is(&e, FaultCode::NotRunning) => return Ok(Leave::ProcessGone),
            Err(Error::Fault { code, string, .. }) => return Ok(Leave::Fault { code, string }),
            Err(e) => return Err(e),
        }
        let info = client.get_process_info(name).await?;
        if info.process_state() != Some(ProcessState::Running) {
            return Ok(Leave::ProcessGone);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_print_as_python_str_of_a_fault() {
        assert_eq!(
            fault_str(20, "NO_FILE: stdin closed"),
            "<Fault 20: 'NO_FILE: stdin closed'>"
        );
        assert_eq!(fault_str(10, "it's"), "<Fault 10: \"it's\">");
    }

    #[test]
    fn follow_errors_print_as_supervisorctl_http_client() {
        assert_eq!(
            follow_error(&Error::HttpStatus { status: 404 }),
            "Cannot read, status code 404"
        );
        assert_eq!(
            follow_error(&Error::Unauthorized),
            "Cannot read, status code 401"
        );
        assert!(follow_error(&Error::ConnectionRefused { url: "u".into() })
            .ends_with("([Errno 111] Connection refused)"));
    }
}
