//! Daemons started in-process with `raftvisord::run`, on 127.0.0.1 with per-test ports and temp
//! dirs, driven with the XML-RPC client (`crates/client`) as any client would, then stopped by
//! cancelling the shutdown token: `run` returns `Ok` and no child outlives it.
//!
//! Every wait polls with a deadline; nothing here sleeps for a fixed time to let things happen.

use client::{ActionOutcome, Client, Value};
use raftvisord::{ConfigSource, Daemon, Logging, Overrides, Request};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(30);

/// One daemon running on the test's runtime.
struct Running {
    dir: tempfile::TempDir,
    shutdown: CancellationToken,
    /// Kept so that the daemon's request channel stays open, as with the binary's signals.
    _requests: mpsc::UnboundedSender<Request>,
    task: JoinHandle<Result<(), raftvisord::Error>>,
    client: Client,
}

impl Running {
    /// Writes `conf` (with `{dir}` replaced by the temp dir) and starts a daemon on it.
    fn start(dir: tempfile::TempDir, conf: &str, http_port: u16) -> Running {
        let path = dir.path().join("raftvisord.conf");
        std::fs::write(
            &path,
            conf.replace("{dir}", &dir.path().display().to_string()),
        )
        .expect("write the config");
        let source = ConfigSource::new(path, Overrides::default());
        let config = match source.load() {
            Ok(config) => config,
            Err(e) => panic!("the test config does not load: {e}"),
        };
        let shutdown = CancellationToken::new();
        let (requests, received) = mpsc::unbounded_channel();
        let daemon = Daemon {
            config,
            source,
            logging: Logging::none(),
        };
        let task = tokio::spawn(raftvisord::run(daemon, shutdown.clone(), received));
        let client = Client::builder(&format!("http://127.0.0.1:{http_port}"))
            .timeout(Duration::from_secs(10))
            .build()
            .expect("a client for the daemon");
        Running {
            dir,
            shutdown,
            _requests: requests,
            task,
            client,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Cancels the shutdown token and waits for `run` to return.
    async fn stop(self) -> (Result<(), raftvisord::Error>, tempfile::TempDir) {
        self.shutdown.cancel();
        let joined = tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("run returns once the shutdown token is cancelled");
        (joined.expect("the run task does not panic"), self.dir)
    }
}

/// Polls `probe` until it gives a value, or panics after [`DEADLINE`] naming `what`.
async fn wait_for<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let until = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether a process with this pid exists (a zombie counts: it is not reaped yet).
fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

async fn wait_gone(pid: i32) {
    wait_for(&format!("process {pid} to be gone"), || async move {
        (!alive(pid)).then_some(())
    })
    .await
}

/// The `RUNNING` process `namespec`'s pid, once the daemon reports it so.
async fn running_pid(client: &Client, namespec: &str) -> i32 {
    wait_for(&format!("{namespec} RUNNING"), || async {
        let info = client.get_process_info(namespec).await.ok()?;
        (info.statename == "RUNNING" && info.pid > 0).then_some(info.pid)
    })
    .await
}

fn supervisord_section(extra: &str) -> String {
    format!(
        "[supervisord]\n\
         logfile = {{dir}}/raftvisord.log\n\
         pidfile = {{dir}}/raftvisord.pid\n\
         childlogdir = {{dir}}\n\
         loglevel = info\n\
         {extra}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_xmlrpc_until_the_shutdown_token_is_cancelled() {
    let port = testkit::supervisord::free_port();
    let conf = format!(
        "{}\n[inet_http_server]\nport = 127.0.0.1:{port}\n\n\
         [program:sleeper]\ncommand = sleep 30\nautostart = false\nstartsecs = 0\n",
        supervisord_section("")
    );
    let daemon = Running::start(tempfile::tempdir().unwrap(), &conf, port);
    let client = &daemon.client;

    wait_for("supervisor.getState RUNNING", || async {
        let state = client.get_state().await.ok()?;
        (state.statename == "RUNNING").then_some(())
    })
    .await;
    assert!(daemon.path("raftvisord.pid").exists(), "pidfile written");

    let all = client.get_all_process_info().await.unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(
        (all[0].group.as_str(), all[0].name.as_str()),
        ("sleeper", "sleeper")
    );
    assert_eq!(all[0].statename, "STOPPED");

    assert!(matches!(
        client.start_process("sleeper", true).await.unwrap(),
        ActionOutcome::Single(true)
    ));
    let first = running_pid(client, "sleeper").await;
    assert!(alive(first));

    assert!(matches!(
        client.stop_process("sleeper", true).await.unwrap(),
        ActionOutcome::Single(true)
    ));
    assert_eq!(
        client.get_process_info("sleeper").await.unwrap().statename,
        "STOPPED"
    );
    wait_gone(first).await;

    // Running again when the daemon is told to stop: the stop takes it down.
    client.start_process("sleeper", true).await.unwrap();
    let second = running_pid(client, "sleeper").await;
    assert!(alive(second));

    let (result, dir) = daemon.stop().await;
    assert!(result.is_ok(), "run ended with {result:?}");
    assert!(!alive(second), "the child outlived run");
    assert!(
        !dir.path().join("raftvisord.pid").exists(),
        "pidfile removed"
    );
}

/// Waits until `supvisors.get_all_process_info` (the local replica) shows the process of the
/// one-program group `name` in `state`.
async fn in_replica(client: &Client, name: &str, state: &str) {
    wait_for(&format!("{name} {state} in the replica"), || async {
        let all = client
            .call("supvisors.get_all_process_info", &[])
            .await
            .ok()?;
        let found = all.as_array()?.iter().any(|p| {
            let field = |key| p.get(key).and_then(Value::as_str);
            field("application_name") == Some(name)
                && field("process_name") == Some(name)
                && field("statename") == Some(state)
        });
        found.then_some(())
    })
    .await
}

/// The `fsm_statename` of `supvisors.get_supvisors_state`.
async fn supvisors_state(client: &Client) -> Option<String> {
    let state = client
        .call("supvisors.get_supvisors_state", &[])
        .await
        .ok()?;
    state.get("fsm_statename")?.as_str().map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_one_supvisors_instance_reaches_operation_and_follows_a_reload() {
    let ports = testkit::supervisord::free_ports(2);
    let (http, internal) = (ports[0], ports[1]);
    let conf = format!(
        "{}\n[inet_http_server]\nport = 127.0.0.1:{http}\n\n\
         [rpcinterface:supvisors]\n\
         supervisor.rpcinterface_factory = supvisors.plugin:make_supvisors_rpcinterface\n\
         supvisors_list = <solo>127.0.0.1:{http}:{internal}\n\
         data_dir = {{dir}}/data\n\
         tick_interval_ms = 100\n\
         inactivity_timeout_ms = 1000\n\
         raft_heartbeat_ms = 50\n\
         raft_election_timeout_min_ms = 200\n\
         raft_election_timeout_max_ms = 400\n\n\
         [program:sleeper]\ncommand = sleep 30\nstartsecs = 0\n",
        supervisord_section("identifier = solo")
    );
    let daemon = Running::start(tempfile::tempdir().unwrap(), &conf, http);
    let client = &daemon.client;

    wait_for("supvisors OPERATION", || async {
        (supvisors_state(client).await? == "OPERATION").then_some(())
    })
    .await;
    assert_eq!(
        client
            .call("supvisors.get_master_identifier", &[])
            .await
            .unwrap(),
        Value::String("solo".into())
    );
    // The program autostarts once the node is up, and the replica shows it.
    let pid = running_pid(client, "sleeper").await;
    in_replica(client, "sleeper", "RUNNING").await;

    // A program added to the file: unknown until the config is re-read, then known to the
    // namespace (its program index) and to the commander that places it (the planner's).
    let s = |text: &str| Value::String(text.into());
    let unknown = client.call("supvisors.disable", &[s("extra")]).await;
    assert!(
        matches!(&unknown, Err(client::Error::Fault { string, .. }) if string.contains("extra")),
        "{unknown:?}"
    );
    let conf_path = daemon.path("raftvisord.conf");
    let mut text = std::fs::read_to_string(&conf_path).unwrap();
    text.push_str(
        "
[program:extra]
command = sleep 30
autostart = false
startsecs = 0
",
    );
    std::fs::write(&conf_path, text).unwrap();
    client.reload_config().await.unwrap();
    client.add_process_group("extra").await.unwrap();
    // The commander knows an application from the replica: wait for its process events.
    in_replica(client, "extra", "STOPPED").await;
    assert_eq!(
        client
            .call("supvisors.disable", &[s("extra"), Value::Bool(true)])
            .await
            .unwrap(),
        Value::Bool(true)
    );
    assert_eq!(
        client
            .call("supvisors.enable", &[s("extra"), Value::Bool(true)])
            .await
            .unwrap(),
        Value::Bool(true)
    );
    assert_eq!(
        client
            .call(
                "supvisors.start_process",
                &[s("CONFIG"), s("extra:extra"), s(""), Value::Bool(true)]
            )
            .await
            .unwrap(),
        Value::Bool(true)
    );
    let extra = running_pid(client, "extra").await;

    let (result, _dir) = daemon.stop().await;
    assert!(result.is_ok(), "run ended with {result:?}");
    assert!(!alive(pid), "the child outlived run");
    assert!(!alive(extra), "the child outlived run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_refuses_a_port_in_use_before_any_program_starts() {
    let port = testkit::supervisord::free_port();
    let _busy = std::net::TcpListener::bind(("127.0.0.1", port)).expect("hold the port");
    let conf = format!(
        "{}\n[inet_http_server]\nport = 127.0.0.1:{port}\n\n\
         [program:marker]\ncommand = sh -c 'touch {{dir}}/started; exec sleep 30'\nstartsecs = 0\n",
        supervisord_section("")
    );
    let daemon = Running::start(tempfile::tempdir().unwrap(), &conf, port);
    let joined = tokio::time::timeout(DEADLINE, daemon.task)
        .await
        .expect("run returns at once");
    let error = joined
        .expect("the run task does not panic")
        .expect_err("a port in use is refused");
    assert!(
        matches!(error, raftvisord::Error::BindInet { .. }),
        "{error:?}"
    );
    assert_eq!(error.exit_status(), 2);
    assert!(error.to_string().contains("cannot bind inet_http_server"));
    assert!(!daemon.dir.path().join("started").exists());
    assert!(!daemon.dir.path().join("raftvisord.pid").exists());
}
