//! The live progress line shown while a waiting Supvisors call runs (`start_application`,
//! `stop_process`…), when stdout is a terminal only: those calls can take many seconds, and
//! supvisorsctl prints nothing meanwhile. The line is redrawn in place (`\r`, erase to end of
//! line) and erased before the command prints its result, so the final output is exactly
//! supvisorsctl's. Not a TTY (pipes, tests comparing bytes): nothing here runs at all.
//!
//! ```text
//!   main connection:   start_application(...) ───────────────────────────────▶ result
//!   second connection:      ⟲ every 200 ms: get_application_info / get_process_info
//!   stdout:                 \r web STARTING 1/3 running   (redrawn)  \r (erased) → result
//! ```

use std::future::Future;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use client::{Client, Error, Value};

use crate::supvisors_format::{field, items, py_str};

/// What a waiting call is about: the thing the progress line describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watch {
    /// An application: its state and how many of its processes run.
    Application(String),
    /// A namespec (`group:name`, `group:*` or `name`): the states of its processes.
    Process(String),
    /// No single target (`start_any_process`, `restart_sequence`): the Supvisors state.
    Supvisors(String),
}

/// Redraw period of the line.
const PERIOD: Duration = Duration::from_millis(200);
/// Longest line drawn, so that it never wraps on a standard 80-column terminal.
const MAX_WIDTH: usize = 79;

/// How many of the `get_process_info` entries are RUNNING, and how many there are.
pub fn running_count(processes: &[Value]) -> (usize, usize) {
    let running = processes
        .iter()
        .filter(|p| field(p, "statename").is_ok_and(|s| py_str(s) == "RUNNING"))
        .count();
    (running, processes.len())
}

/// `web STARTING 1/3 running`.
pub fn application_line(app: &str, state: &str, processes: &[Value]) -> String {
    let (running, total) = running_count(processes);
    clip(format!("{app} {state} {running}/{total} running"))
}

/// `web:* STARTING,RUNNING 1/2 running` (the distinct states in server order).
pub fn process_line(namespec: &str, processes: &[Value]) -> String {
    let mut states: Vec<String> = Vec::new();
    for p in processes {
        if let Ok(s) = field(p, "statename") {
            let s = py_str(s);
            if !states.contains(&s) {
                states.push(s);
            }
        }
    }
    let (running, total) = running_count(processes);
    clip(format!(
        "{namespec} {} {running}/{total} running",
        states.join(",")
    ))
}

/// `restart_sequence: DEPLOYMENT`.
pub fn supvisors_line(what: &str, state: &str) -> String {
    clip(format!("{what}: {state}"))
}

fn clip(line: String) -> String {
    match line.char_indices().nth(MAX_WIDTH) {
        Some((cut, _)) => line[..cut].to_string(),
        None => line,
    }
}

/// The bytes that replace the current terminal line by `line`.
pub fn redraw(line: &str) -> String {
    format!("\r{line}\x1b[K")
}

/// The bytes that erase the progress line, leaving the cursor at column 0.
pub const ERASE: &str = "\r\x1b[K";

async fn sv(client: &Client, method: &str, params: &[Value]) -> Result<Value, Error> {
    client.call(&format!("supvisors.{method}"), params).await
}

/// One poll of the target; `None` when the server cannot tell (the line is left as it is).
async fn poll(client: &Client, watch: &Watch) -> Option<String> {
    match watch {
        Watch::Application(app) => {
            let info = sv(
                client,
                "get_application_info",
                &[Value::String(app.clone())],
            )
            .await
            .ok()?;
            let state = py_str(field(&info, "statename").ok()?);
            let procs = sv(
                client,
                "get_process_info",
                &[Value::String(format!("{app}:*"))],
            )
            .await
            .ok()?;
            Some(application_line(app, &state, items(&procs).ok()?))
        }
        Watch::Process(namespec) => {
            let procs = sv(
                client,
                "get_process_info",
                &[Value::String(namespec.clone())],
            )
            .await
            .ok()?;
            Some(process_line(namespec, items(&procs).ok()?))
        }
        Watch::Supvisors(what) => {
            let state = sv(client, "get_supvisors_state", &[]).await.ok()?;
            Some(supvisors_line(
                what,
                &py_str(field(&state, "fsm_statename").ok()?),
            ))
        }
    }
}

fn write_out(bytes: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes.as_bytes());
    let _ = out.flush();
}

/// Awaits `call`; meanwhile, when stdout is a terminal, polls `watch` on `poller` (a
/// connection of its own) every 200 ms and redraws the progress line, erased before returning.
pub async fn with_progress<F>(call: F, poller: Option<Client>, watch: Watch) -> F::Output
where
    F: Future,
{
    let poller = match poller {
        Some(p) if std::io::stdout().is_terminal() => p,
        _ => return call.await,
    };
    tokio::pin!(call);
    let mut shown: Option<String> = None;
    let result = loop {
        let next = async {
            tokio::time::sleep(PERIOD).await;
            poll(&poller, &watch).await
        };
        tokio::select! {
            r = &mut call => break r,
            line = next => if let Some(line) = line {
                if shown.as_ref() != Some(&line) {
                    write_out(&redraw(&line));
                    shown = Some(line);
                }
            },
        }
    };
    if shown.is_some() {
        write_out(ERASE);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(state: &str) -> Value {
        Value::Struct(vec![("statename".into(), Value::String(state.into()))])
    }

    #[test]
    fn lines_describe_the_target() {
        let procs = [p("RUNNING"), p("STARTING"), p("RUNNING")];
        assert_eq!(running_count(&procs), (2, 3));
        assert_eq!(
            application_line("web", "STARTING", &procs),
            "web STARTING 2/3 running"
        );
        assert_eq!(
            process_line("web:*", &procs),
            "web:* RUNNING,STARTING 2/3 running"
        );
        assert_eq!(process_line("x", &[]), "x  0/0 running");
        assert_eq!(
            supvisors_line("restart_sequence", "DEPLOYMENT"),
            "restart_sequence: DEPLOYMENT"
        );
    }

    #[test]
    fn lines_never_wrap() {
        let long = "a".repeat(200);
        assert_eq!(application_line(&long, "RUNNING", &[]).chars().count(), 79);
        assert_eq!(redraw("x"), "\rx\x1b[K");
    }

    #[tokio::test]
    async fn without_a_terminal_the_call_is_just_awaited() {
        // Test harness stdout is captured (not a TTY) and there is no poller: plain await.
        let v = with_progress(async { 42 }, None, Watch::Process("x".into())).await;
        assert_eq!(v, 42);
    }
}
