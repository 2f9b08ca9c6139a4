//! `raftvisord`: the daemon's binary. Wiring only: parse the command line, load the config
//! (refusing a bad file before anything starts), build the runtime, install the main log,
//! turn signals into the library's shutdown token and requests, call [`raftvisord::run`], and
//! map its error to the exit status (the library's docs give the rule). docs/architecture.md
//! says how the parts fit, docs/operations.md how to run them.

mod mathlib;

use anyhow::Result;
use clap::Parser;
use raftvisord::{ConfigSource, Daemon, Logging, Overrides, Request};
use std::path::PathBuf;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Parser, Debug)]
#[command(
    name = "raftvisord",
    version,
    about = "raftvisor daemon (Supervisor-compatible)"
)]
struct Args {
    /// Configuration file (Supervisor's INI format).
    #[arg(short = 'c', long = "configuration")]
    configuration: Option<PathBuf>,
    /// Stay in the foreground (the default; accepted for supervisord habits).
    #[arg(short = 'n', long = "nodaemon")]
    nodaemon: bool,
    /// Override `[supervisord] pidfile`.
    #[arg(short = 'j', long = "pidfile")]
    pidfile: Option<PathBuf>,
    /// Override `[supervisord] logfile`.
    #[arg(short = 'l', long = "logfile")]
    logfile: Option<PathBuf>,
    /// Override `[supervisord] identifier`.
    #[arg(short = 'i', long = "identifier")]
    identifier: Option<String>,
    /// Override `[supervisord] loglevel`.
    #[arg(short = 'e', long = "loglevel")]
    loglevel: Option<String>,
}

/// Supervisor's search list when `-c` is not given.
fn find_config() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            candidates.push(dir.join("../etc/supervisord.conf"));
            candidates.push(dir.join("../supervisord.conf"));
        }
    }
    for p in [
        "supervisord.conf",
        "etc/supervisord.conf",
        "/etc/supervisord.conf",
        "/etc/supervisor/supervisord.conf",
    ] {
        candidates.push(PathBuf::from(p));
    }
    candidates.into_iter().find(|p| p.is_file())
}

/// Worker threads of the runtime: the available cores, at most [`MAX_WORKER_THREADS`]. An
/// idle daemon waits on timers and sockets; each extra worker keeps its own stack pages and
/// malloc arena resident (about 0.1 MiB each, measured with `scripts/bench/idle_rss.py`: 8
/// workers cost 0.5–1.1 MiB more than 2), and the work that is not async (a batch of process
/// starts, the Raft store's fsync) runs on threads of its own.
fn worker_threads(available: Option<usize>) -> usize {
    available.unwrap_or(1).clamp(1, MAX_WORKER_THREADS)
}

const MAX_WORKER_THREADS: usize = 2;

fn main() -> std::process::ExitCode {
    raftvisord::limit_arenas();
    let args = Args::parse();
    let Some(path) = args.configuration.clone().or_else(find_config) else {
        eprintln!("Error: No config file found at default paths; use the -c option to specify a config file at a different path");
        return std::process::ExitCode::from(2);
    };
    let path = match std::path::absolute(&path) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("Error: {}: {e}", path.display());
            return std::process::ExitCode::from(2);
        }
    };
    let source = ConfigSource::new(
        path,
        Overrides {
            pidfile: args.pidfile,
            logfile: args.logfile,
            identifier: args.identifier,
            loglevel: args.loglevel,
        },
    );
    let config = match source.load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: {e}");
            eprintln!("For help, use raftvisord -h");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads(
            std::thread::available_parallelism().ok().map(usize::from),
        ))
        .enable_all()
        .on_thread_park(raftvisord::memory::on_thread_park)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    // The daemon runs on the runtime's workers, which give back the unused depth of their
    // stacks when they park; the main thread only waits for it, after giving back what
    // loading the config took of its own stack (see `memory`).
    let daemon = spawn_daemon(&runtime, source, config);
    if let Err(e) = raftvisord::memory::release_own_stack() {
        eprintln!("Warning: cannot give back the main thread's unused stack: {e}");
    }
    match runtime.block_on(daemon) {
        Ok(Ok(())) => std::process::ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("Error: {e:#}");
            std::process::ExitCode::from(exit_status(&e))
        }
        Err(e) => {
            eprintln!("Error: the daemon's task ended abnormally: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

/// Starts the daemon on the runtime's workers. A function of its own, not inlined: the
/// daemon's future is built in this frame before it moves to the heap, and a large one in
/// `main`'s frame would stay resident above what `release_own_stack` can give back.
#[inline(never)]
fn spawn_daemon(
    runtime: &tokio::runtime::Runtime,
    source: ConfigSource,
    config: model::Config,
) -> tokio::task::JoinHandle<Result<()>> {
    runtime.spawn(serve(source, config))
}

/// The library's exit status for its errors; 2 for the binary's own (signals, the main log),
/// all found before anything starts.
fn exit_status(e: &anyhow::Error) -> u8 {
    e.downcast_ref::<raftvisord::Error>()
        .map_or(2, raftvisord::Error::exit_status)
}

async fn serve(source: ConfigSource, config: model::Config) -> Result<()> {
    // Signal listeners first: a SIGTERM arriving during start-up must not kill us uncleanly.
    let signals = Signals::listen()?;
    let logging = Logging::install(&config.supervisord)?;
    let shutdown = CancellationToken::new();
    let (requests, received) = mpsc::unbounded_channel();
    let forwarder = tokio::spawn(signals.forward(shutdown.clone(), requests));
    let daemon = Daemon {
        config,
        source,
        logging,
    };
    let result = raftvisord::run(daemon, shutdown, received).await;
    forwarder.abort();
    Ok(result?)
}

/// The signals supervisord handles.
struct Signals {
    term: Signal,
    int: Signal,
    quit: Signal,
    hup: Signal,
    usr2: Signal,
}

impl Signals {
    fn listen() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            quit: signal(SignalKind::quit())?,
            hup: signal(SignalKind::hangup())?,
            usr2: signal(SignalKind::user_defined2())?,
        })
    }

    /// SIGTERM, SIGINT and SIGQUIT cancel `shutdown`; SIGHUP asks for a restart, SIGUSR2 for
    /// the logs to be reopened. Runs until aborted.
    async fn forward(
        mut self,
        shutdown: CancellationToken,
        requests: mpsc::UnboundedSender<Request>,
    ) {
        loop {
            let (name, request) = tokio::select! {
                _ = self.term.recv() => ("SIGTERM", None),
                _ = self.int.recv() => ("SIGINT", None),
                _ = self.quit.recv() => ("SIGQUIT", None),
                _ = self.hup.recv() => ("SIGHUP", Some(Request::Restart)),
                _ = self.usr2.recv() => ("SIGUSR2", Some(Request::ReopenLogs)),
            };
            match request {
                None => {
                    tracing::warn!("received {name} indicating exit request");
                    shutdown.cancel();
                }
                Some(Request::Restart) => {
                    tracing::warn!("received {name} indicating restart request")
                }
                Some(Request::ReopenLogs) => {
                    tracing::info!("received {name} indicating log reopen request")
                }
            }
            if let Some(request) = request {
                if requests.send(request).is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_threads_follow_the_cores_up_to_the_cap() {
        assert_eq!(worker_threads(None), 1);
        assert_eq!(worker_threads(Some(0)), 1);
        assert_eq!(worker_threads(Some(1)), 1);
        assert_eq!(worker_threads(Some(2)), 2);
        assert_eq!(worker_threads(Some(64)), MAX_WORKER_THREADS);
    }
}
