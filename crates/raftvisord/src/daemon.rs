//! [`run`]: one daemon from a loaded configuration to its end.
//!
//! ```text
//! config ──resolve [rpcinterface:supvisors], read the rules──▶ ConfigView (view.rs)
//!        ──bind the HTTP ports, write the pidfile──▶ procman ──▶ cluster node (with a cluster)
//!        ──▶ HTTP servers ──▶ wait: shutdown token, requests, the Raft core's end, procman's end
//!        ──▶ final process states to Raft ──▶ node, servers, socket and pidfile gone
//! ```

use crate::error::Error;
use crate::logging::Logging;
use crate::memory;
use crate::source::ConfigSource;
use crate::view;
use model::supvisors::SupvisorsSpec;
use model::Config;
use procman::SupervisorApi;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// What [`run`] runs: the configuration, already loaded, and what comes with it.
pub struct Daemon {
    /// Loaded from `source` (with its overrides): the caller reports its errors, before anything
    /// starts.
    pub config: Config,
    /// Read again at each `reloadConfig`, restart and `update_numprocs`.
    pub source: ConfigSource,
    /// The main log as installed by the caller ([`Logging::none`] if it installed none).
    pub logging: Logging,
}

/// What a running daemon can be asked besides stopping (the signals supervisord handles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Stop every program, re-read the configuration, start again (SIGHUP).
    Restart,
    /// Reopen the main log and every process log (SIGUSR2).
    ReopenLogs,
}

/// When the daemon checks whether to give back memory ([`memory::release`] as
/// [`memory::Schedule`] says): first once start-up is over, then every period, so that what
/// followed it once (a cluster's first deployment) and what a burst of work (a reload, a
/// failover, a large RPC) brought in do not stay for good.
const RELEASE_FIRST: Duration = Duration::from_secs(5);
const RELEASE_PERIOD: Duration = Duration::from_secs(30);

/// Runs the daemon of `daemon.config` until it is stopped: `shutdown` cancelled (SIGTERM),
/// `supervisor.shutdown` over XML-RPC, or a failure. `requests` carries the other signals; the
/// daemon runs on when its sender is dropped.
///
/// Start-up refuses, with nothing left running, anything wrong that it finds before it serves:
/// the Supvisors section or the rules, a port or socket in use, the pidfile, the cluster node
/// that cannot start ([`Error::exit_status`] 2, or 78 for a data dir that needs an operator).
/// The HTTP ports are bound before any program starts, and a cluster autostarts only once its
/// node is up. Once serving, a stop requested in any way stops every program (reverse priority
/// order), commits their final states to the cluster, stops the node and the servers, and
/// removes the socket and the pidfile; `Ok` then, unless the daemon stopped because it failed
/// (its Raft core ended, a restart whose config no longer loads). A shutdown asked for during
/// start-up takes effect once start-up is over (procman can only stop what it started).
pub async fn run(
    daemon: Daemon,
    shutdown: CancellationToken,
    requests: mpsc::UnboundedReceiver<Request>,
) -> Result<(), Error> {
    let Daemon {
        mut config,
        source,
        logging,
    } = daemon;
    let sd = config.supervisord.clone();
    raise_limits(sd.minfds, sd.minprocs);
    let cluster_spec = resolve_cluster(&mut config)?;
    let view = cluster_spec.as_ref().map(|(_, view)| view.clone());

    // The HTTP ports are bound before any program starts, as supervisord does: a port in use
    // stops the start-up with nothing to undo.
    let inet_listener = match &config.inet_http_server {
        Some(inet) => Some(bind_inet(inet, &config.source).await?),
        None => None,
    };
    // Read while still root, as the ports are bound: a private key is often readable by root
    // alone.
    let inet_tls = match config
        .inet_http_server
        .as_ref()
        .and_then(|i| i.tls.as_ref())
    {
        Some(files) => {
            let tls =
                web::tls::ServerTls::load(&files.certificate, &files.key).map_err(|source| {
                    Error::Tls {
                        file: config.source.clone(),
                        source,
                    }
                })?;
            tracing::info!(certificate = %files.certificate.display(), "inet_http_server serves HTTPS only");
            Some(Arc::new(tls))
        }
        None => None,
    };
    let unix_listener = match &config.unix_http_server {
        Some(unix) => Some(bind_unix(&unix.file, unix.chmod)?),
        None => None,
    };
    // The event interface's port too, when the config asks for one (`event_port`,
    // `event_link`); it publishes once the cluster node is up.
    let events_stop = CancellationToken::new();
    let transport = match cluster_spec
        .as_ref()
        .and_then(|(spec, _)| spec.event_interface)
    {
        Some(interface) => {
            let transport = events::Transport::bind(interface, events_stop.clone())
                .await
                .map_err(Error::BindEvents)?;
            tracing::info!(addr = %interface.addr, link = ?interface.link, "event interface bound");
            Some(transport)
        }
        None => None,
    };

    let pidfile = sd.pidfile.clone();
    std::fs::write(&pidfile, format!("{}\n", std::process::id())).map_err(|source| {
        Error::Pidfile {
            path: pidfile.clone(),
            source,
        }
    })?;

    // `[supervisord] user=`: as supervisord, the daemon runs as that user once what needs
    // root is done (the ports bound, the socket chowned, the logs and the pidfile opened).
    if let Some(user) = &sd.user {
        drop_privileges(user)?;
    }

    // Cancelled once procman has stopped every program: the HTTP servers answer until then.
    let serving = CancellationToken::new();
    let source = Arc::new(source);
    let numprocs_reloader = numprocs_reloader(source.clone(), view);
    let reloader: procman::Reloader = {
        let reload = numprocs_reloader.clone();
        Arc::new(move || reload(&procman::NumprocsOverrides::new()))
    };
    let options = procman::Options {
        reloader,
        main_log: (!sd.logfile_syslog).then(|| sd.logfile.clone()),
        server_url: server_url(&config),
        shutdown: serving.clone(),
        // In a cluster, programs disabled in the replicated state must not start at boot: the
        // autostart waits until the node has replayed its log and installed its start guard.
        defer_autostart: cluster_spec.is_some(),
    };
    // The rest of start-up needs only these; the config itself moves into procman rather than
    // staying here as a second copy of every program's spec for the daemon's whole life.
    let inet_http_server = config.inet_http_server.clone();
    let unix_http_server = config.unix_http_server.clone();
    let (supervisor, done) =
        procman::Supervisor::start(config, options).map_err(Error::Supervisor)?;
    supervisor.set_numprocs_reloader(numprocs_reloader);
    let done = std::pin::pin!(done.wait());

    // The cluster layer, when the config has a [rpcinterface:supvisors] section.
    let mut server_options = web::ServerOptions::default();
    let metrics = metrics::Metrics::default();
    tokio::spawn(count_starts(
        supervisor.subscribe_events(),
        metrics.clone(),
        serving.clone(),
    ));
    let cluster = match cluster_spec {
        None => None,
        Some((spec, view)) => {
            match Cluster::start(spec, view, &supervisor, &logging, transport, events_stop).await {
                Ok((cluster, namespace)) => {
                    server_options = server_options
                        .with_namespace(namespace)
                        .map_err(|e| Error::Namespace(e.to_string()))?
                        .with_events(cluster.event_source())
                        .with_dashboard()
                        .with_metrics(metrics_hooks(metrics.clone(), cluster.sampler.clone()));
                    Some(cluster)
                }
                Err(e) => {
                    // Stop the programs procman already started before reporting the error.
                    tracing::error!(error = %e, "cannot start the cluster node");
                    let _ = supervisor.shutdown();
                    let _ = done.await;
                    let _ = std::fs::remove_file(&pidfile);
                    return Err(Error::NodeStart(e));
                }
            }
        }
    };

    if cluster.is_none() {
        server_options = server_options.with_metrics(metrics_hooks(
            metrics.clone(),
            local_sampler(supervisor.clone()),
        ));
    }

    let mut servers = tokio::task::JoinSet::new();
    if let (Some(inet), Some(listener)) = (&inet_http_server, inet_listener) {
        let mut opts = server_options.clone();
        opts.credentials = inet.credentials.clone();
        opts.read_only = inet.read_only.clone();
        opts.set_limits(inet.limits);
        if let Some(tls) = &inet_tls {
            opts = opts.with_tls(tls.clone());
        }
        let api = supervisor.clone();
        let stop = serving.clone();
        servers.spawn(async move {
            web::serve_tcp(listener, api, opts, stop.cancelled_owned()).await;
        });
    }
    if let (Some(unix), Some(listener)) = (&unix_http_server, unix_listener) {
        let mut opts = server_options.clone();
        opts.credentials = unix.credentials.clone();
        opts.read_only = unix.read_only.clone();
        opts.set_limits(unix.limits);
        let api = supervisor.clone();
        let stop = serving.clone();
        servers.spawn(async move {
            web::serve_unix(listener, api, opts, stop.cancelled_owned()).await;
        });
    }
    tracing::info!(pid = std::process::id(), config = %source.path.display(), "raftvisord started");
    let memory_task = tokio::spawn(release_memory(serving.clone()));

    let (outcome, core_failed) = serve(
        &supervisor,
        done,
        cluster.as_ref().map(|c| &c.node),
        &logging,
        inet_tls.as_deref(),
        shutdown,
        requests,
    )
    .await;

    serving.cancel();
    if let Some(cluster) = cluster {
        cluster.stop().await;
    }
    while let Some(joined) = servers.join_next().await {
        if let Err(e) = joined {
            tracing::error!(error = %e, "HTTP server task failed");
        }
    }
    if let Err(e) = memory_task.await {
        tracing::error!(error = %e, "memory release task failed");
    }
    if let Some(unix) = &unix_http_server {
        let _ = std::fs::remove_file(&unix.file);
    }
    let _ = std::fs::remove_file(&pidfile);
    match core_failed {
        None => {}
        Some(cluster::CoreEnd::RaftStopped) => return Err(Error::RaftCoreEnded),
        Some(cluster::CoreEnd::StateLost { data_dir, peer }) => {
            return Err(Error::StateLost(cluster::NodeError::LostState {
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
        procman::Exit::RestartFailed(e) => Err(Error::RestartFailed(e.to_string())),
        procman::Exit::Aborted => Err(Error::Aborted),
    }
}

/// The daemon serving: turns the shutdown token, the requests and the end of the Raft core
/// into procman calls until procman has ended (`done`). Returns how it ended, and the Raft
/// core's end if that is what stopped it.
async fn serve(
    supervisor: &procman::Supervisor,
    mut done: std::pin::Pin<&mut impl std::future::Future<Output = procman::Exit>>,
    node: Option<&cluster::Node>,
    logging: &Logging,
    tls: Option<&web::tls::ServerTls>,
    shutdown: CancellationToken,
    mut requests: mpsc::UnboundedReceiver<Request>,
) -> (procman::Exit, Option<cluster::CoreEnd>) {
    // Resolves when the cluster node's Raft core has ended (never without a cluster).
    let core_ended = async {
        match node {
            Some(node) => node.core_ended().await,
            None => std::future::pending().await,
        }
    };
    let mut core_ended = std::pin::pin!(core_ended);
    let mut core_failed: Option<cluster::CoreEnd> = None;
    let mut stop_asked = false;
    let mut requests_open = true;
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
            _ = shutdown.cancelled(), if !stop_asked => {
                stop_asked = true;
                let _ = supervisor.shutdown();
            }
            request = requests.recv(), if requests_open => match request {
                None => requests_open = false,
                Some(Request::Restart) => {
                    let _ = supervisor.restart();
                    // As a web server's reload: a renewed certificate is served from now on,
                    // without stopping the daemon.
                    if let Some(tls) = tls {
                        match tls.reload() {
                            Ok(()) => tracing::info!(certificate = %tls.certificate().display(), "TLS certificate reloaded"),
                            Err(e) => tracing::error!(error = %e, "TLS certificate not reloaded: the previous one is still served"),
                        }
                    }
                }
                Some(Request::ReopenLogs) => {
                    if let Err(e) = logging.reopen() {
                        tracing::error!(error = %e, "cannot reopen the main log");
                    }
                    for (namespec, e) in supervisor.reopen_logs().await {
                        tracing::error!(%namespec, error = %e, "cannot reopen a process log");
                    }
                }
            },
            result = &mut done => break result,
        }
    };
    (outcome, core_failed)
}

/// The Supvisors section resolved (its notes and the fence bound logged) and the rules files
/// read, a bad one refused, before anything starts; the first [`supvisors::ConfigView`] of
/// `config`, with the rules applied to it. `None` without a `[rpcinterface:supvisors]`.
fn resolve_cluster(
    config: &mut Config,
) -> Result<Option<(SupvisorsSpec, watch::Sender<supvisors::ConfigView>)>, Error> {
    let Some(spec) = config::supvisors::resolve(config).map_err(Error::Config)? else {
        return Ok(None);
    };
    for note in &spec.notes {
        tracing::warn!("{note}");
    }
    log_fence_bound(&spec);
    let ids: Vec<String> = spec
        .instances
        .iter()
        .map(|i| i.identifier.clone())
        .collect();
    let mut rules = config::rules::load(&spec.rules_files, &ids).map_err(Error::Config)?;
    rules.default_starting_strategy = spec.starting_strategy;
    for note in &rules.notes {
        tracing::warn!("{note}");
    }
    let settings = supvisors::commander_settings(&spec);
    let view = watch::Sender::new(view::first(rules, settings, config));
    Ok(Some((spec, view)))
}

/// Every re-read of the config (reloadConfig, SIGHUP, update_numprocs) goes through this: the
/// file read again with the same overrides, and, in a cluster, the rules' side effects again
/// and a new view published.
fn numprocs_reloader(
    source: Arc<ConfigSource>,
    view: Option<watch::Sender<supvisors::ConfigView>>,
) -> procman::NumprocsReloader {
    Arc::new(move |numprocs| {
        let mut config = source.load_with(numprocs).map_err(|e| e.to_string())?;
        if let Some(view) = &view {
            let fresh = view::reread(&view.borrow(), &mut config);
            view.send_replace(fresh);
        }
        Ok(config)
    })
}

/// The cluster side of a running daemon: its node, and what stops it.
/// Takes a sample of what `GET /metrics` shows.
type Sampler =
    Arc<dyn Fn() -> futures_util::future::BoxFuture<'static, metrics::Sample> + Send + Sync>;

/// `GET /metrics`: `metrics`' counters and a sample taken at each scrape; every XML-RPC call
/// counted in `metrics`.
fn metrics_hooks(metrics: metrics::Metrics, sampler: Sampler) -> web::MetricsHooks {
    let observer = metrics.clone();
    web::MetricsHooks {
        scrape: Arc::new(move || {
            let (metrics, sample) = (metrics.clone(), sampler());
            Box::pin(async move { metrics.encode(&sample.await) })
        }),
        content_type: metrics::CONTENT_TYPE,
        observe_rpc: Arc::new(move |method, took, fault| observer.observe_rpc(method, took, fault)),
    }
}

/// Without a cluster: the local processes, as `getAllProcessInfo` shows them.
fn local_sampler(supervisor: procman::Supervisor) -> Sampler {
    Arc::new(move || {
        let supervisor = supervisor.clone();
        Box::pin(async move {
            let instance = supervisor.identification();
            let processes = supervisor
                .all_process_info()
                .await
                .into_iter()
                .map(|p| metrics::ProcessSample {
                    instance: instance.clone(),
                    uptime_seconds: metrics::uptime_seconds(p.state, p.start, p.now),
                    state: p.state.name().to_string(),
                    group: p.group,
                    name: p.name,
                })
                .collect();
            metrics::Sample {
                processes,
                ..metrics::Sample::default()
            }
        })
    })
}

/// Counts each local process's starts (and restarts) from procman's events, until `stop`.
/// Events lost by falling behind the broadcast are starts not counted; procman never waits.
async fn count_starts(
    mut events: tokio::sync::broadcast::Receiver<procman::ProcessEvent>,
    metrics: metrics::Metrics,
    stop: CancellationToken,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let event = tokio::select! {
            _ = stop.cancelled() => return,
            event = events.recv() => event,
        };
        match event {
            Ok(e) if e.to == model::ProcessState::Starting => {
                metrics.process_started(&e.group, &e.name)
            }
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
    }
}

struct Cluster {
    node: cluster::Node,
    task: cluster::NodeTask,
    shutdown: CancellationToken,
    thread: RaftThread,
    /// Stops the event interface (its publisher and the task that feeds it).
    events_stop: CancellationToken,
    /// The events for the HTTP port's Server-Sent Events (and the WebSocket clients).
    hub: events::Hub,
    /// The cluster as `GET /metrics` shows it.
    sampler: Sampler,
}

/// The thread the cluster node's tasks run on: a single-threaded runtime of their own.
///
/// Why: an idle cluster's work is its Raft heartbeats, a few small messages every 187 ms.
/// On the daemon's multi-threaded runtime, each wake-up of a task also woke the other worker
/// to look for work to steal (tokio's scheduler does so whenever a worker is idle), which cost
/// more than the messages. On a thread of their own they wake nothing else, while the XML-RPC
/// servers keep both workers (they serve clients in parallel). The node's handle works from
/// any runtime: what crosses over goes through channels.
struct RaftThread {
    /// Ends the thread's runtime (and any task still on it) once the node has stopped.
    end: tokio::sync::oneshot::Sender<()>,
    handle: std::thread::JoinHandle<()>,
}

impl RaftThread {
    /// Starts the thread and, on it, the node `start` builds.
    async fn start<F, Fut, T>(start: F) -> Result<(RaftThread, T), cluster::NodeError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T, cluster::NodeError>>,
        T: Send + 'static,
    {
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let (end, ended) = tokio::sync::oneshot::channel::<()>();
        // Sockets and timers only: the child processes and the signals are procman's and the
        // daemon's, on the main runtime (whose process driver would reap on every wake-up).
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .on_thread_park(crate::memory::on_thread_park)
            .build()
            .map_err(|e| {
                cluster::NodeError::Config(format!("cannot start the Raft thread's runtime: {e}"))
            })?;
        let handle = std::thread::Builder::new()
            .name("raft".into())
            .spawn(move || {
                runtime.block_on(async move {
                    // On the heap: a future given to `block_on` lives in the thread's stack
                    // frame for the thread's whole life, and the node's start is a large one
                    // (see `memory::release_own_stack`, which gives back only what is below).
                    let started = Box::pin(start()).await;
                    let ok = started.is_ok();
                    if started_tx.send(started).is_err() || !ok {
                        return;
                    }
                    // The node's tasks run while this waits.
                    let _ = ended.await;
                });
            })
            .map_err(|e| {
                cluster::NodeError::Config(format!("cannot start the Raft thread: {e}"))
            })?;
        match started_rx.await {
            Ok(Ok(value)) => Ok((RaftThread { end, handle }, value)),
            Ok(Err(e)) => {
                join(handle).await;
                Err(e)
            }
            Err(_) => Err(cluster::NodeError::Config(
                "the Raft thread ended while the node started".into(),
            )),
        }
    }

    /// Ends the thread (after the node has stopped) and waits for it.
    async fn end(self) {
        let _ = self.end.send(());
        join(self.handle).await;
    }
}

/// Waits for the Raft thread off the runtime's workers (a join blocks).
async fn join(handle: std::thread::JoinHandle<()>) {
    if !matches!(
        tokio::task::spawn_blocking(move || handle.join()).await,
        Ok(Ok(()))
    ) {
        tracing::warn!("the Raft thread did not end cleanly");
    }
}

/// Publishes the statistics `figures` to the event sinks that want them.
fn publish_statistics(
    stats: &stats::Statistics,
    sinks: &events::Sinks,
    figures: Vec<stats::Compiled>,
) {
    if figures.is_empty() || !sinks.wanted() {
        return;
    }
    let now = stats.now_monotonic();
    for figure in figures {
        let header = match figure {
            stats::Compiled::Host(_) => events::Header::HostStatistics,
            stats::Compiled::Process(_) => events::Header::ProcessStatistics,
        };
        sinks.send(events::Event {
            header,
            body: figure.to_json(now),
        });
    }
}

/// Statistics: this instance's samples, taken every collecting period, compiled here and
/// sent to the other instances; theirs, received by the node, compiled and published here.
fn start_statistics(
    statistics: Arc<stats::Statistics>,
    node: &cluster::Node,
    supervisor: &procman::Supervisor,
    local_identifier: String,
    sinks: events::Sinks,
    stop: CancellationToken,
) {
    {
        let (statistics, sinks) = (statistics.clone(), sinks.clone());
        node.set_stats_receiver(Arc::new(move |from: &str, sample: stats::Sample| {
            let figures = statistics.receive(from, &sample);
            publish_statistics(&statistics, &sinks, figures);
        }));
    }
    let collector = match stats::Collector::start() {
        Ok(collector) => collector,
        Err(e) => {
            tracing::warn!(error = %e, "no statistics: the collector cannot start");
            return;
        }
    };
    let running = {
        let supervisor = supervisor.clone();
        move || {
            let supervisor = supervisor.clone();
            async move {
                use procman::SupervisorApi;
                supervisor
                    .all_process_info()
                    .await
                    .into_iter()
                    .filter(|p| p.pid > 0 && p.state == model::ProcessState::Running)
                    .filter_map(|p| {
                        let pid = u32::try_from(p.pid).ok()?;
                        Some((model::make_namespec(&p.group, &p.name), pid))
                    })
                    .collect()
            }
        }
    };
    let deliver = {
        let (statistics, node) = (statistics.clone(), node.clone());
        move |sample: &stats::Sample, figures: Vec<stats::Compiled>| {
            publish_statistics(&statistics, &sinks, figures);
            let (node, sample) = (node.clone(), sample.clone());
            tokio::spawn(async move { node.broadcast_stats(&sample).await });
        }
    };
    tokio::spawn(stats::collect(
        statistics,
        collector,
        local_identifier,
        running,
        deliver,
        stop,
    ));
}

impl Cluster {
    /// Starts the node (its planner and fence policy read the commander of `view`), lets
    /// procman autostart once the Raft log is replayed, and builds the `supvisors` namespace,
    /// which shares `view` and feeds the events, from the replica, to the event port's
    /// `transport` if the config has one and to the HTTP port's hub, until `events_stop`.
    async fn start(
        spec: SupvisorsSpec,
        view: watch::Sender<supvisors::ConfigView>,
        supervisor: &procman::Supervisor,
        logging: &Logging,
        transport: Option<events::Transport>,
        events_stop: CancellationToken,
    ) -> Result<(Cluster, Arc<dyn web::Namespace>), cluster::NodeError> {
        let planner: cluster::Planner = {
            let view = view.subscribe();
            Arc::new(move |state, clock| view::commander(&view).plan_at(state, clock))
        };
        let shutdown = CancellationToken::new();
        let (thread, (node, task)) = {
            let (spec, supervisor, shutdown) = (spec.clone(), supervisor.clone(), shutdown.clone());
            RaftThread::start(move || {
                cluster::Node::start_with(spec, supervisor, shutdown, Some(planner))
            })
            .await?
        };
        tracing::info!(identifier = %spec.local_identifier, internal = %node.internal_addr(), "cluster node started");
        if !node.wait_replayed(Duration::from_secs(2)).await {
            tracing::warn!(
                "the Raft log was not replayed within 2 s: autostarting with the replica as it is"
            );
        }
        {
            let view = view.subscribe();
            node.set_fence_policy(Arc::new(move |state, instance, live| {
                view::commander(&view).fence_policy(state, instance, live)
            }));
        }
        supervisor.autostart_now().await;
        #[cfg(debug_assertions)]
        inject_core_end(&node);
        let statistics = Arc::new(stats::Statistics::new(&spec.stats));
        let local_identifier = spec.local_identifier.clone();
        let namespace = supvisors::SupvisorsNamespace::new(
            node.clone(),
            supervisor.clone(),
            spec,
            logging.level_setter(),
        )
        .with_incarnation(node.incarnation())
        .with_statistics(statistics.clone())
        .sharing(view);
        let namespace = Arc::new(namespace);
        let hub = events::Hub::default();
        let zmq = match transport {
            Some(events::Transport::Zmq(publisher)) => Some(publisher),
            Some(events::Transport::Ws(listener)) => {
                tokio::spawn(events::ws::serve(
                    listener,
                    hub.clone(),
                    events_stop.clone(),
                ));
                None
            }
            None => None,
        };
        let sampler: Sampler = {
            let (ns, hub, zmq) = (namespace.clone(), hub.clone(), zmq.clone());
            Arc::new(move || {
                let mut sample = ns.metrics_sample();
                sample.events = Some(metrics::EventsSample {
                    subscribers: hub.subscribers() as u64,
                    subscribers_dropped: hub.dropped(),
                    zmq_published: zmq.as_ref().map(|z| z.stats().published()),
                    zmq_dropped: zmq.as_ref().map(|z| z.stats().dropped()),
                });
                Box::pin(std::future::ready(sample))
            })
        };
        {
            use cluster::ClusterApi;
            let ns = namespace.clone();
            let sinks = events::Sinks {
                zmq,
                hub: Some(hub.clone()),
            };
            tokio::spawn(events::feed(
                move || ns.event_snapshot(),
                node.replica(),
                sinks.clone(),
                events_stop.clone(),
            ));
            start_statistics(
                statistics,
                &node,
                supervisor,
                local_identifier,
                sinks,
                events_stop.clone(),
            );
        }
        let cluster = Cluster {
            node,
            task,
            shutdown,
            thread,
            events_stop,
            hub,
            sampler,
        };
        Ok((cluster, namespace))
    }

    /// The cluster's events for `GET /events`: one subscription of the hub per call.
    fn event_source(&self) -> web::EventSource {
        let hub = self.hub.clone();
        Arc::new(move || {
            use futures_util::StreamExt;
            hub.subscribe().boxed()
        })
    }

    /// Once procman has stopped: the node outlives procman's stop so the final process states
    /// reach the other replicas — a last full batch (every process STOPPED) is committed before
    /// the node goes, so that a cluster started again does not find this run's processes
    /// RUNNING in its stored state.
    async fn stop(self) {
        if !self.node.sync_processes(Duration::from_millis(500)).await {
            tracing::info!(
                "the final process states were not committed (no leader, or it is stopping too)"
            );
        }
        self.events_stop.cancel();
        self.shutdown.cancel();
        self.task.wait().await;
        self.thread.end().await;
    }
}

/// Gives back, now and then, the memory only start-up or a burst of work needed
/// ([`memory::release`] when [`memory::Schedule`] says so), until `stop`.
async fn release_memory(stop: CancellationToken) {
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
}

/// Debug builds only, for the end-to-end tests: when the environment names a file in
/// `RAFTVISOR_TEST_END_RAFT_CORE_WHEN`, the Raft core is shut down as soon as that file
/// exists, to inject the fault "the Raft core has ended". Release builds ignore the variable.
#[cfg(debug_assertions)]
fn inject_core_end(node: &cluster::Node) {
    let Some(trigger) = std::env::var_os("RAFTVISOR_TEST_END_RAFT_CORE_WHEN") else {
        return;
    };
    let trigger = std::path::PathBuf::from(trigger);
    tracing::warn!(trigger = %trigger.display(), "fault injection armed: the Raft core ends when this file exists");
    let node = node.clone();
    tokio::spawn(async move {
        while !trigger.exists() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        node.end_raft_core_for_test().await;
    });
}

/// Binds the public port. Without credentials, a port reachable beyond loopback (judged on
/// the address bound, so a host name counts as what it resolved to) is refused unless the
/// config sets `allow_unauthenticated`: through `supvisors.*` anyone reaching it could stop
/// the whole cluster. Supervisor only warns; the warning stays for a port opened on purpose.
async fn bind_inet(
    inet: &model::spec::InetServerSpec,
    source: &Path,
) -> Result<tokio::net::TcpListener, Error> {
    let host = match inet.host.as_str() {
        "" | "*" => "0.0.0.0",
        h => h,
    };
    let bind_failed = |source| Error::BindInet {
        addr: model::net::HostPort::new(host, inet.port),
        source,
    };
    let listener = tokio::net::TcpListener::bind((host, inet.port))
        .await
        .map_err(bind_failed)?;
    if inet.credentials.is_none() {
        let addr = listener.local_addr().map_err(bind_failed)?;
        if !addr.ip().is_loopback() {
            if !inet.allow_unauthenticated {
                return Err(Error::OpenInet {
                    file: source.to_path_buf(),
                    addr,
                });
            }
            tracing::warn!(%addr, "inet_http_server has no username/password and listens beyond loopback (allow_unauthenticated = true): the API is open to anyone who can reach the port");
        }
    }
    Ok(listener)
}

/// Switches the whole process (glibc applies setgid/setuid to every thread) to `user`: its
/// supplementary groups, its group, then its uid. Nothing to do when already that user; an
/// error when not root, as supervisord's "Can't drop privilege as nonroot user".
fn drop_privileges(user: &str) -> Result<(), Error> {
    use nix::unistd::{initgroups, setgid, setuid, Uid, User};
    let failed = |reason: String| Error::DropPrivileges {
        user: user.to_string(),
        reason,
    };
    let entry = match user.parse::<u32>() {
        Ok(uid) => User::from_uid(Uid::from_raw(uid)),
        Err(_) => User::from_name(user),
    }
    .map_err(|e| failed(format!("looking the user up: {e}")))?
    .ok_or_else(|| failed("no such user".into()))?;
    let current = Uid::effective();
    if current == entry.uid {
        return Ok(());
    }
    if !current.is_root() {
        return Err(failed(format!(
            "running as uid {current}, not root: only root can switch users"
        )));
    }
    let name = std::ffi::CString::new(entry.name.as_str())
        .map_err(|e| failed(format!("bad user name: {e}")))?;
    initgroups(&name, entry.gid).map_err(|e| failed(format!("initgroups: {e}")))?;
    setgid(entry.gid).map_err(|e| failed(format!("setgid({}): {e}", entry.gid)))?;
    setuid(entry.uid).map_err(|e| failed(format!("setuid({}): {e}", entry.uid)))?;
    tracing::info!(
        user,
        uid = entry.uid.as_raw(),
        gid = entry.gid.as_raw(),
        "dropped privileges"
    );
    Ok(())
}

fn bind_unix(path: &Path, mode: u32) -> Result<tokio::net::UnixListener, Error> {
    use std::os::unix::fs::PermissionsExt;
    let failed = |action, source| Error::UnixSocket {
        action,
        path: path.to_path_buf(),
        source,
    };
    if path.exists() {
        // A socket left by a previous run: refuse if something still answers on it.
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(Error::UnixInUse {
                path: path.to_path_buf(),
            });
        }
        std::fs::remove_file(path).map_err(|e| failed("cannot remove stale socket", e))?;
    }
    let listener = tokio::net::UnixListener::bind(path)
        .map_err(|e| failed("cannot bind unix_http_server", e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| failed("cannot chmod", e))?;
    Ok(listener)
}

/// Says, once the config is loaded, how long the majority waits before restarting the
/// programs of an instance it lost without proof that its daemon died, and why: the bound
/// the cut-off side's fence keeps to (`SupvisorsSpec::fence_bound`).
fn log_fence_bound(spec: &model::supvisors::SupvisorsSpec) {
    let ms = |d: Duration| d.as_millis() as u64;
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

/// `SUPERVISOR_SERVER_URL` for children: the first unix server, else the inet server
/// (`https://` when it serves TLS).
fn server_url(config: &Config) -> Option<String> {
    if let Some(unix) = &config.unix_http_server {
        return Some(format!("unix://{}", unix.file.display()));
    }
    config.inet_http_server.as_ref().map(|inet| {
        let host = match inet.host.as_str() {
            "" | "*" => "localhost",
            h => h,
        };
        let scheme = if inet.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", model::net::HostPort::new(host, inet.port))
    })
}
