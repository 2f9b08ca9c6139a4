//! raftvisorctl: a supervisorctl-compatible command-line client for raftvisord (and for the
//! Python supervisord). Same commands, same output, same exit statuses; see `ctl` for the
//! commands, `format` for the texts, `options` for the command line and config file. The
//! Supvisors commands are supvisorsctl 0.14's (`ctl::supvisors` for the state commands,
//! `ctl::applications` for the application and process ones; their tables, help texts and
//! argument checks in `supvisors_format` and `application_format`, the terminal-only progress
//! line in `progress`); `raftvisorctl breed …` is Supvisors' `supvisors_breed` tool (`breed`).
//! raftvisor's own commands: `members`, `remove_member`, `add_member` (the Raft membership by
//! an operator; not in supvisorsctl's help list, `help members` describes them).
//!
//! Not supported: readline history/completion (`-r` is accepted and ignored), and
//! `[ctlplugin:x]` plugins. Standard input is read by one thread for the whole run (`input`),
//! so that `fg` can wait for a line and for Ctrl-C at once without losing the next line.

mod application_format;
mod breed;
mod ctl;
mod format;
mod ini;
mod input;
mod options;
mod progress;
mod supvisors_format;

use clap::Parser;

use ctl::{output, Ctl, Flow};

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    // `breed` is Supvisors' `supvisors_breed` tool, not a command for a server.
    if argv.get(1).map(String::as_str) == Some("breed") {
        std::process::exit(breed::main(&argv[2..]));
    }
    let argv0 = argv
        .first()
        .cloned()
        .unwrap_or_else(|| "raftvisorctl".into());
    let usage_error = |msg: &str| -> ! {
        eprintln!("Error: {msg}\nFor help, use {argv0} -h");
        std::process::exit(2);
    };
    let cli = match options::Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) => usage_error(&options::clap_error_message(&e, &argv)),
    };
    if let Some(msg) = options::unknown_option(&cli) {
        usage_error(&msg);
    }
    if cli.help {
        print!("{}", options::usage(&argv0));
        std::process::exit(0);
    }
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.to_path_buf()));
    let settings = match options::resolve(&cli, exe_dir.as_deref()) {
        Ok(s) => s,
        Err(msg) => usage_error(&msg),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(run(settings, cli.args));
    std::process::exit(code);
}

/// One command from the command line (exit status = the command's), or the interactive shell
/// (exit status always 0, as supervisorctl).
async fn run(settings: ctl::Settings, args: Vec<String>) -> i32 {
    let mut ctl = match Ctl::new(settings) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: {e}");
            return 2;
        }
    };
    if !args.is_empty() {
        ctl.onecmd(&args.join(" ")).await;
        return ctl.exitstatus;
    }
    ctl.watch_interrupts();
    let prompt = format!("{}> ", ctl.settings.prompt);
    let mut line = Some("status".to_string());
    loop {
        let next = match line.take() {
            Some(first) => Some(first),
            None => ctl.read_line(&prompt).await,
        };
        let Some(cmd) = next else {
            // End of input: like supervisorctl's do_EOF.
            output("");
            break;
        };
        if ctl.onecmd(&cmd).await == Flow::Stop {
            break;
        }
    }
    0
}
