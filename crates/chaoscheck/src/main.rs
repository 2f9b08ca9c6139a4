//! `raftvisor-chaoscheck HISTORY.json`: the linearizability verdict on a chaos run's client
//! history (see the library). Prints the verdicts as JSON; exits 0 when every register is
//! linearizable, 1 when one is not, 2 when the history cannot be read.

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;

fn run(path: &str) -> anyhow::Result<bool> {
    let text = if path == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the history from standard input")?;
        s
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?
    };
    let history: chaoscheck::History =
        serde_json::from_str(&text).with_context(|| format!("{path}: not a history"))?;
    let verdicts = chaoscheck::check(&history).with_context(|| path.to_string())?;
    println!("{}", serde_json::to_string_pretty(&verdicts)?);
    let bad: Vec<&str> = verdicts
        .iter()
        .filter(|v| !v.linearizable)
        .map(|v| v.register.as_str())
        .collect();
    if bad.is_empty() {
        eprintln!(
            "linearizable: {} registers, {} operations",
            verdicts.len(),
            verdicts.iter().map(|v| v.operations).sum::<usize>()
        );
    } else {
        eprintln!("NOT linearizable: {}", bad.join(", "));
    }
    Ok(bad.is_empty())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path] = args.as_slice() else {
        eprintln!("usage: raftvisor-chaoscheck HISTORY.json (or - for standard input)");
        return ExitCode::from(2);
    };
    match run(path) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(2)
        }
    }
}
