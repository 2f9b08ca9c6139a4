//! `raftvisord`: the daemon. Wiring only: parse the command line, load the config (refusing a bad
//! file before anything starts), set up the main log, start the local supervisor and the HTTP
//! servers, and — when the config has an `[rpcinterface:supvisors]` section — read the rules
//! files, start the cluster node with the commander's planner installed and serve the
//! `supvisors` namespace; then turn signals into shutdown / restart / log reopen. Once start-up
//! is over it gives back the memory only start-up needed ([`memory`]). docs/architecture.md
//! says how the parts fit, docs/operations.md how to run them.
//!
//! Exit status, one rule: **2** when the daemon never started serving — any error found before
//! (the config, a rules file, a port or socket already in use, a log or pid file it cannot
//! write, the cluster node that cannot start); nothing is left running then, since the HTTP
//! ports are bound before any program starts and a cluster autostarts only once its node is up.
//! **1** when it started and then failed ([`RuntimeFailure`], e.g. its Raft core ended). **78**
//! (`EX_CONFIG`) when its data dir needs an operator: the instance lost its Raft state or was
//! removed from the membership (README, "a host lost its disk"). **0** after a requested stop.

mod logging;
mod memory;

use anyhow::{bail, Context, Result};
use clap::Parser;
use model::Config;
use procman::SupervisorApi;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

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

/// The commander in use: replaced (same rules, new catalog) each time the config is re-read.
type CommanderSlot = Arc<RwLock<Arc<commander::Commander>>>;

fn current_commander(slot: &CommanderSlot) -> Arc<commander::Commander> {
    slot.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Supvisors' side effect of the rules on the local configuration: the processes whose running
/// failure strategy is STOP_APPLICATION or RESTART_APPLICATION lose Supervisor's `autorestart`,
/// so that the application-level reaction is not pre-empted by a local restart.
fn apply_rules(config: &mut Config, rules: &model::rules::Rules) {
    for group in &mut config.groups {
        for process in &mut group.processes {
            if rules
                .program_rules(&group.name, &process.name)
                .disables_autorestart()
                && process.autorestart != model::spec::AutoRestart::False
            {
                tracing::info!(
                    process = %model::make_namespec(&group.name, &process.name),
                    "autorestart disabled: its running failure strategy acts on the application"
                );
                process.autorestart = model::spec::AutoRestart::False;
            }
        }
    }
}

fn load_config(path: &Path, args: &Args) -> Result<Config, String> {
    load_config_with(path, args, &procman::NumprocsOverrides::new())
}

/// The configuration with the command-line overrides and Supvisors' `update_numprocs`
/// overrides (program → numprocs) applied.
fn load_config_with(
    path: &Path,
    args: &Args,
    numprocs: &procman::NumprocsOverrides,
) -> Result<Config, String> {
    let mut config = config::load_with_numprocs(path, &config::Context::from_process(), numprocs)
        .map_err(|e| e.to_string())?;
    if let Some(p) = &args.pidfile {
        config.supervisord.pidfile = p.clone();
    }
    if let Some(p) = &args.logfile {
        config.supervisord.logfile = p.clone();
        config.supervisord.logfile_syslog = false;
    }
    if let Some(i) = &args.identifier {
        config.supervisord.identifier = i.clone();
    }
    if let Some(level) = &args.loglevel {
        config.supervisord.loglevel =
            config::parse_loglevel(level).map_err(|e| format!("-e {level}: {e}"))?;
    }
    Ok(config)
}

type SupvisorsNs = supvisors::SupvisorsNamespace<cluster::Node, procman::Supervisor>;

/// A failure of a daemon that had started serving (exit status 1). Every other error out of
/// [`run`] is found before it serves anything (exit status 2).
#[derive(Debug)]
enum RuntimeFailure {
    RestartFailed(String),
    Aborted,
    RaftCoreEnded,
}

impl std::fmt::Display for RuntimeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RuntimeFailure::RestartFailed(e) => {
                write!(f, "restart failed, cannot reload the config: {e}")
            }
            RuntimeFailure::Aborted => f.write_str("the supervisor task ended unexpectedly"),
            RuntimeFailure::RaftCoreEnded => f.write_str(
                "the Raft core of the cluster node stopped; raftvisord exited so that it can be restarted",
            ),
        }
    }
}

impl std::error::Error for RuntimeFailure {}

/// The exit status for an error out of [`run`] (see the crate docs): [`EXIT_OPERATOR_NEEDED`]
/// when the data dir needs an operator (a restart would fail the same way), 1 for a failure
/// after the daemon started serving, 2 for anything found before.
fn exit_status(e: &anyhow::Error) -> u8 {
    if matches!(
        e.downcast_ref::<cluster::NodeError>(),
        Some(cluster::NodeError::LostState { .. } | cluster::NodeError::Removed { .. })
    ) {
        EXIT_OPERATOR_NEEDED
    } else if e.downcast_ref::<RuntimeFailure>().is_some() {
        1
    } else {
        2
    }
}

/// The log filter for a Supervisor log level. openraft's replication task logs an error on every
/// retry while a peer is down (several per second); the liveness layer reports lost instances
/// instead, so that target is kept at `off`. openraft's other routine messages (a stale vote
/// after an election, a peer down) are demoted to debug by [`logging::LogFilter`].
fn log_targets(level: model::LogLevel) -> logging::LogFilter {
    let targets = tracing_subscriber::filter::Targets::new()
        .with_default(tracing_level(level))
        .with_target(
            "openraft::replication",
            tracing::level_filters::LevelFilter::OFF,
        )
        .with_target(
            "openraft",
            tracing::level_filters::LevelFilter::WARN.min(tracing_level(level).into()),
        );
    logging::LogFilter {
        targets,
        level: tracing_level(level).into(),
    }
}

/// Says, once the config is loaded, how long the majority waits before restarting the
/// programs of an instance it lost without proof that its daemon died, and why: the bound
/// the cut-off side's fence keeps to (`SupvisorsSpec::fence_bound`).
fn log_fence_bound(spec: &model::supvisors::SupvisorsSpec) {
    let ms = |d: std::time::Duration| d.as_millis() as u64;
    match spec.fence_bound() {
        Some(bound) => tracing::info!(
            no_quorum_policy = spec.no_quorum_policy.name(),
            fencing_timeout_ms = ms(spec.fencing_timeout),
            fence_stop_timeout_ms = ms(spec.fence_stop_timeout),
            fence_bound_ms = ms(bound),
            restart_after_ms = ms(spec.silent_restart_after()),
            "a cut-off instance has SIGKILLed what its fence stops within fence_bound_ms of its \
             last tick; the majority restarts a silent instance's programs restart_after_ms \
             after its last tick (at once when its internal port is found closed)"
        ),
        None => tracing::warn!(
            restart_after_ms = ms(spec.silent_restart_after()),
            "no_quorum_policy = ignore: a cut-off instance keeps its programs, so the majority \
             may run a second copy of what it restarts restart_after_ms after the last tick"
        ),
    }
}

/// Supervisor raises RLIMIT_NOFILE / RLIMIT_NPROC to `minfds` / `minprocs` at start-up.
fn raise_limits(minfds: u64, minprocs: u64) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    for (resource, wanted, name) in [
        (Resource::RLIMIT_NOFILE, minfds, "minfds"),
        (Resource::RLIMIT_NPROC, minprocs, "minprocs"),
    ] {
        match getrlimit(resource) {
            Ok((soft, hard)) if soft < wanted => {
                let soft_new = if hard == nix::sys::resource::RLIM_INFINITY {
                    wanted
                } else {
                    wanted.min(hard)
                };
                let hard_new = hard.max(soft_new);
                if let Err(e) = setrlimit(resource, soft_new, hard_new) {
                    tracing::warn!(error = %e, "cannot raise the limit to {name}={wanted}");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the limit for {name}"),
        }
    }
}

fn tracing_level(level: model::LogLevel) -> tracing::Level {
    use model::LogLevel::*;
    match level {
        Critical | Error => tracing::Level::ERROR,
        Warn => tracing::Level::WARN,
        Info => tracing::Level::INFO,
        Debug => tracing::Level::DEBUG,
        Trace | Blather => tracing::Level::TRACE,
    }
}

/// The data dir needs an operator (`EX_CONFIG`): the instance lost its Raft state, or was
/// removed from the membership and still holds its old log. The systemd unit does not restart
/// on it (`RestartPreventExitStatus`).
const EXIT_OPERATOR_NEEDED: u8 = 78;

/// `SUPERVISOR_SERVER_URL` for children: the first unix server, else the inet server.
fn server_url(config: &Config) -> Option<String> {
    if let Some(unix) = &config.unix_http_server {
        return Some(format!("unix://{}", unix.file.display()));
    }
    config.inet_http_server.as_ref().map(|inet| {
        let host = match inet.host.as_str() {
            "" | "*" => "localhost",
            h => h,
        };
        format!("http://{}", model::net::HostPort::new(host, inet.port))
    })
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

/// When the daemon checks whether to give back memory ([`memory::release`] as
/// [`memory::Schedule`] says): first once start-up and a cluster's first deployment are over,
/// then every period, so that what a burst of work (a reload, a failover, a large RPC) brought
/// in does not stay for good.
const RELEASE_FIRST: std::time::Duration = std::time::Duration::from_secs(5);
const RELEASE_PERIOD: std::time::Duration = std::time::Duration::from_secs(30);

fn main() -> std::process::ExitCode {
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
    let config = match load_config(&path, &args) {
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
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match runtime.block_on(run(path, args, config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::ExitCode::from(exit_status(&e))
        }
    }
}

async fn run(path: PathBuf, args: Args, mut config: Config) -> Result<()> {
    // Signal listeners first: a SIGTERM arriving during start-up must not kill us uncleanly.
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigquit = signal(SignalKind::quit())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut sigusr2 = signal(SignalKind::user_defined2())?;

    // A copy: the rules below may still adjust the programs of `config`.
    let supervisord = config.supervisord.clone();
    let sd = &supervisord;
    let log_file = if sd.logfile_syslog {
        None
    } else {
        Some(
            logging::RotatingFile::open(&sd.logfile, sd.logfile_maxbytes, sd.logfile_backups)
                .with_context(|| format!("cannot open logfile {}", sd.logfile.display()))?,
        )
    };
    let main_log = logging::MainLog::new(log_file, !sd.silent);
    let (filter, filter_handle) = tracing_subscriber::reload::Layer::new(log_targets(sd.loglevel));
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(main_log.clone())
                .with_ansi(false)
                .with_target(false),
        )
        .init();
    let set_log_level: Arc<dyn Fn(model::LogLevel) + Send + Sync> = Arc::new(move |level| {
        if let Err(e) = filter_handle.modify(|t| *t = log_targets(level)) {
            tracing::error!(error = %e, "cannot change the log level");
        }
    });
    if config
        .inet_http_server
        .as_ref()
        .is_some_and(|s| s.credentials.is_none())
    {
        tracing::warn!("inet_http_server has no username/password: the XML-RPC API is open to anyone who can reach the port");
    }
    raise_limits(sd.minfds, sd.minprocs);
    let cluster_spec = config::supvisors::resolve(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(spec) = &cluster_spec {
        for note in &spec.notes {
            tracing::warn!("{note}");
        }
        log_fence_bound(spec);
    }
    // The rules files are read (and a bad one refused) before anything starts.
    let commander = match &cluster_spec {
        None => None,
        Some(spec) => {
            let ids: Vec<String> = spec
                .instances
                .iter()
                .map(|i| i.identifier.clone())
                .collect();
            let mut rules =
                config::rules::load(&spec.rules_files, &ids).map_err(|e| anyhow::anyhow!("{e}"))?;
            rules.default_starting_strategy = spec.starting_strategy;
            for note in &rules.notes {
                tracing::warn!("{note}");
            }
            apply_rules(&mut config, &rules);
            Some(Arc::new(RwLock::new(Arc::new(commander::Commander::new(
                rules,
                commander::Catalog::from_config(&config),
                supvisors::commander_settings(spec),
            )))))
        }
    };

    // The HTTP ports are bound before any program starts, as supervisord does: a port in use
    // stops the start-up with nothing to undo.
    let inet_listener = match &config.inet_http_server {
        Some(inet) => {
            let host = match inet.host.as_str() {
                "" | "*" => "0.0.0.0",
                h => h,
            };
            Some(
                tokio::net::TcpListener::bind((host, inet.port))
                    .await
                    .with_context(|| {
                        format!(
                            "cannot bind inet_http_server {}",
                            model::net::HostPort::new(host, inet.port)
                        )
                    })?,
            )
        }
        None => None,
    };
    let unix_listener = match &config.unix_http_server {
        Some(unix) => Some(bind_unix(&unix.file, unix.chmod)?),
        None => None,
    };

    let pidfile = sd.pidfile.clone();
    std::fs::write(&pidfile, format!("{}\n", std::process::id()))
        .with_context(|| format!("cannot write pidfile {}", pidfile.display()))?;

    let shutdown = CancellationToken::new();
    let reload_args = Arc::new(args);
    // The supvisors namespace learns the program list again after each re-read of the config.
    let namespace_slot: Arc<OnceLock<Arc<SupvisorsNs>>> = Arc::new(OnceLock::new());
    // Every re-read of the config (reloadConfig, SIGHUP, update_numprocs) goes through this:
    // the rules' side effects again, and the supvisors namespace learns the new program list.
    let numprocs_reloader: procman::NumprocsReloader = {
        let path = path.clone();
        let args = reload_args.clone();
        let slot = namespace_slot.clone();
        let commander = commander.clone();
        Arc::new(move |numprocs| {
            let mut config = load_config_with(&path, &args, numprocs)?;
            // The commander learns the new processes too (startsecs, `#` indexes).
            let fresh = commander.as_ref().map(|slot| {
                let current = current_commander(slot);
                apply_rules(&mut config, current.rules());
                let fresh = Arc::new(commander::Commander::new(
                    current.rules().clone(),
                    commander::Catalog::from_config(&config),
                    current.settings().clone(),
                ));
                *slot.write().unwrap_or_else(|e| e.into_inner()) = fresh.clone();
                fresh
            });
            if let Some(ns) = slot.get() {
                ns.set_programs(supvisors::ProgramIndex::from_config(&config));
                if let Some(fresh) = fresh {
                    ns.set_commander(fresh);
                }
            }
            Ok(config)
        })
    };
    let reloader: procman::Reloader = {
        let reload = numprocs_reloader.clone();
        Arc::new(move || reload(&procman::NumprocsOverrides::new()))
    };
    let options = procman::Options {
        reloader,
        main_log: (!sd.logfile_syslog).then(|| sd.logfile.clone()),
        server_url: server_url(&config),
        shutdown: shutdown.clone(),
        // In a cluster, programs disabled in the replicated state must not start at boot: the
        // autostart waits until the node has replayed its log and installed its start guard.
        defer_autostart: cluster_spec.is_some(),
    };
    // The rest of start-up needs only these; the config itself moves into procman rather than
    // staying here as a second copy of every program's spec for the daemon's whole life.
    let programs = cluster_spec
        .is_some()
        .then(|| supvisors::ProgramIndex::from_config(&config));
    let inet_http_server = config.inet_http_server.clone();
    let unix_http_server = config.unix_http_server.clone();
    let (supervisor, done) =
        procman::Supervisor::start(config, options).context("cannot start the supervisor")?;
    supervisor.set_numprocs_reloader(numprocs_reloader);
    let mut done = std::pin::pin!(done.wait());

    // The cluster layer, when the config has a [rpcinterface:supvisors] section.
    let node_shutdown = CancellationToken::new();
    let mut node_task = None;
    // Resolves when the cluster node's Raft core has ended (never without a cluster).
    let mut core_ended: std::pin::Pin<
        Box<dyn std::future::Future<Output = cluster::CoreEnd> + Send>,
    > = Box::pin(std::future::pending());
    let mut node_handle: Option<cluster::Node> = None;
    let mut server_options = web::ServerOptions::default();
    if let (Some(spec), Some(commander)) = (cluster_spec, commander) {
        let planner: cluster::Planner = {
            let commander = commander.clone();
            Arc::new(move |state, now_ms| current_commander(&commander).plan(state, now_ms))
        };
        let started = cluster::Node::start_with(
            spec.clone(),
            supervisor.clone(),
            node_shutdown.clone(),
            Some(planner),
        )
        .await;
        let (node, task) = match started {
            Ok(started) => started,
            Err(e) => {
                // Stop the programs procman already started before reporting the error.
                tracing::error!(error = %e, "cannot start the cluster node");
                let _ = supervisor.shutdown();
                let _ = done.await;
                let _ = std::fs::remove_file(&pidfile);
                return Err(anyhow::Error::new(e).context("cannot start the cluster node"));
            }
        };
        tracing::info!(identifier = %spec.local_identifier, internal = %node.internal_addr(), "cluster node started");
        if !node.wait_replayed(std::time::Duration::from_secs(2)).await {
            tracing::warn!(
                "the Raft log was not replayed within 2 s: autostarting with the replica as it is"
            );
        }
        {
            let commander = commander.clone();
            node.set_fence_policy(Arc::new(move |state, instance, live| {
                current_commander(&commander).fence_policy(state, instance, live)
            }));
        }
        supervisor.autostart_now().await;
        {
            let node = node.clone();
            core_ended = Box::pin(async move { node.core_ended().await });
        }
        #[cfg(debug_assertions)]
        inject_core_end(&node);
        let incarnation = node.incarnation();
        let node_for_shutdown = node.clone();
        let ns = Arc::new(
            supvisors::SupvisorsNamespace::new(node, supervisor.clone(), spec, set_log_level)
                .with_incarnation(incarnation)
                .with_programs(programs.unwrap_or_default())
                .with_commander(current_commander(&commander)),
        );
        let _ = namespace_slot.set(ns.clone());
        server_options = server_options
            .with_namespace(ns as Arc<dyn web::Namespace>)
            .map_err(|e| anyhow::anyhow!("cannot register the supvisors namespace: {e}"))?;
        node_task = Some(task);
        node_handle = Some(node_for_shutdown);
    }

    let mut servers = tokio::task::JoinSet::new();
    if let (Some(inet), Some(listener)) = (&inet_http_server, inet_listener) {
        let mut opts = server_options.clone();
        opts.credentials = inet.credentials.clone();
        let api = supervisor.clone();
        let stop = shutdown.clone();
        servers.spawn(async move {
            web::serve_tcp(listener, api, opts, stop.cancelled_owned()).await;
        });
    }
    if let (Some(unix), Some(listener)) = (&unix_http_server, unix_listener) {
        let mut opts = server_options.clone();
        opts.credentials = unix.credentials.clone();
        let api = supervisor.clone();
        let stop = shutdown.clone();
        servers.spawn(async move {
            web::serve_unix(listener, api, opts, stop.cancelled_owned()).await;
        });
    }
    tracing::info!(pid = std::process::id(), config = %path.display(), "raftvisord started");
    {
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let mut next = RELEASE_FIRST;
            let mut schedule = memory::Schedule::default();
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(next) => {}
                }
                next = RELEASE_PERIOD;
                match memory::resident_kb() {
                    Ok(kb) if schedule.due(kb) => {}
                    Ok(_) => continue,
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot read /proc/self/statm");
                        continue;
                    }
                }
                match memory::release() {
                    Ok(r) => tracing::debug!(
                        file_kb = r.file_kb,
                        trimmed = r.trimmed,
                        "clean file pages and free malloc memory given back"
                    ),
                    Err(e) => tracing::debug!(error = %e, "cannot read /proc/self/smaps"),
                }
            }
        });
    }

    let mut core_failed: Option<cluster::CoreEnd> = None;
    let outcome = loop {
        tokio::select! {
            end = &mut core_ended, if core_failed.is_none() => {
                // The instance is out of the cluster in practice (no ticks, cut off, every
                // write fails): stop its programs and exit non-zero, so that a service manager
                // restarts raftvisord with a fresh Raft core (or, for a lost Raft state, an
                // operator steps in).
                tracing::error!(?end, "this instance no longer takes part in the cluster: stopping every program and exiting");
                core_failed = Some(end);
                let _ = supervisor.shutdown();
            }
            _ = sigterm.recv() => { tracing::warn!("received SIGTERM indicating exit request"); let _ = supervisor.shutdown(); }
            _ = sigint.recv() => { tracing::warn!("received SIGINT indicating exit request"); let _ = supervisor.shutdown(); }
            _ = sigquit.recv() => { tracing::warn!("received SIGQUIT indicating exit request"); let _ = supervisor.shutdown(); }
            _ = sighup.recv() => { tracing::warn!("received SIGHUP indicating restart request"); let _ = supervisor.restart(); }
            _ = sigusr2.recv() => {
                tracing::info!("received SIGUSR2 indicating log reopen request");
                if let Err(e) = main_log.reopen() { tracing::error!(error = %e, "cannot reopen the main log"); }
                for (namespec, e) in supervisor.reopen_logs().await {
                    tracing::error!(%namespec, error = %e, "cannot reopen a process log");
                }
            }
            result = &mut done => break result,
        }
    };
    shutdown.cancel();
    // The node outlives procman's stop so the final process states reach the other replicas:
    // a last full batch (every process STOPPED) is committed before the node goes, so that a
    // cluster started again does not find this run's processes RUNNING in its stored state.
    if let Some(node) = node_handle {
        if !node
            .sync_processes(std::time::Duration::from_millis(500))
            .await
        {
            tracing::info!(
                "the final process states were not committed (no leader, or it is stopping too)"
            );
        }
    }
    node_shutdown.cancel();
    if let Some(task) = node_task {
        task.wait().await;
    }
    while let Some(joined) = servers.join_next().await {
        if let Err(e) = joined {
            tracing::error!(error = %e, "HTTP server task failed");
        }
    }
    if let Some(unix) = &unix_http_server {
        let _ = std::fs::remove_file(&unix.file);
    }
    let _ = std::fs::remove_file(&pidfile);
    match core_failed {
        None => {}
        Some(cluster::CoreEnd::RaftStopped) => return Err(RuntimeFailure::RaftCoreEnded.into()),
        Some(cluster::CoreEnd::StateLost { data_dir, peer }) => {
            return Err(anyhow::Error::new(cluster::NodeError::LostState {
                data_dir,
                peer,
            }))
        }
    }
    match outcome {
        procman::Exit::Shutdown => {
            tracing::info!("raftvisord stopped");
            Ok(())
        }
        procman::Exit::RestartFailed(e) => Err(RuntimeFailure::RestartFailed(e.to_string()).into()),
        procman::Exit::Aborted => Err(RuntimeFailure::Aborted.into()),
    }
}

/// Debug builds only, for the end-to-end tests: when the environment names a file in
/// `RAFTVISOR_TEST_END_RAFT_CORE_WHEN`, the Raft core is shut down as soon as that file
/// exists, to inject the fault "the Raft core has ended". Release builds ignore the variable.
#[cfg(debug_assertions)]
fn inject_core_end(node: &cluster::Node) {
    let Some(trigger) = std::env::var_os("RAFTVISOR_TEST_END_RAFT_CORE_WHEN") else {
        return;
    };
    let trigger = PathBuf::from(trigger);
    tracing::warn!(trigger = %trigger.display(), "fault injection armed: the Raft core ends when this file exists");
    let node = node.clone();
    tokio::spawn(async move {
        while !trigger.exists() {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        node.end_raft_core_for_test().await;
    });
}

fn bind_unix(path: &Path, mode: u32) -> Result<tokio::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    if path.exists() {
        // A socket left by a previous run: refuse if something still answers on it.
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!("another program is already listening on {}", path.display());
        }
        std::fs::remove_file(path)
            .with_context(|| format!("cannot remove stale socket {}", path.display()))?;
    }
    let listener = tokio::net::UnixListener::bind(path)
        .with_context(|| format!("cannot bind unix_http_server {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot chmod {}", path.display()))?;
    Ok(listener)
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
