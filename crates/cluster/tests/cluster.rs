//! Real nodes in one test process: 127.0.0.1, distinct free ports, temp data dirs, tiny procman
//! supervisors. Every wait polls with a deadline.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster::{
    auth, codec, ClusterApi, Command, CommandResult, InstanceState, Node, NodeTask, SupvisorsState,
    Target,
};
use model::supvisors::*;
use model::*;
use procman::{Completion, Options, Supervisor, SupervisorApi};
use tokio_util::sync::CancellationToken;

/// The nodes of one test share 2 cores with the other tests: run the tests one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const SECRET: &str = "s3cret";

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn spec(ids: &[&str], voters: &[&str], local: &str, ports: &[u16], dir: &Path) -> SupvisorsSpec {
    SupvisorsSpec {
        instances: ids
            .iter()
            .zip(ports)
            .map(|(id, port)| InstanceAddr {
                identifier: id.to_string(),
                host: "127.0.0.1".into(),
                http_port: 1,
                internal_port: *port,
            })
            .collect(),
        local_identifier: local.into(),
        voters: voters.iter().map(|s| s.to_string()).collect(),
        core_identifiers_explicit: true,
        rules_files: vec![],
        auto_fence: false,
        no_quorum_policy: NoQuorumPolicy::StopMovable,
        fence_stop_timeout: Duration::from_secs(1),
        synchro_timeout: Duration::from_secs(10),
        inactivity_timeout: Duration::from_secs(1),
        fencing_timeout: Duration::from_secs(1),
        tick_interval: Duration::from_millis(100),
        disabilities_file: None,
        starting_strategy: StartingStrategy::Config,
        conciliation_strategy: ConciliationStrategy::User,
        cluster_secret: Some(SECRET.into()),
        data_dir: dir.join(local),
        raft: RaftTimings {
            heartbeat: Duration::from_millis(50),
            election_timeout_min: Duration::from_millis(150),
            election_timeout_max: Duration::from_millis(300),
        },
        event_interface: None,
        stats: Default::default(),
        notes: vec![],
    }
}

fn sleeper() -> GroupSpec {
    sleeper_autostart(false)
}

fn sleeper_autostart(autostart: bool) -> GroupSpec {
    let log = LogSpec {
        maxbytes: 1024 * 1024,
        backups: 1,
        ..LogSpec::new(LogTarget::None)
    };
    GroupSpec::single(ProcessSpec {
        autostart,
        startsecs: 0,
        startretries: 0,
        autorestart: AutoRestart::False,
        stopwaitsecs: 5,
        stdout: log.clone(),
        stderr: log,
        ..ProcessSpec::new("sleeper", vec!["sleep".into(), "60".into()])
    })
}

fn procman_config(dir: &Path, sleeper: GroupSpec) -> Config {
    let supervisord = SupervisordSpec {
        logfile_maxbytes: 0,
        logfile_backups: 0,
        nodaemon: true,
        silent: true,
        identifier: "test".into(),
        ..SupervisordSpec::in_dir(dir)
    };
    Config::new(dir, supervisord, vec![sleeper])
}

/// One instance: its supervisor (kept across node restarts) and its node.
struct Inst {
    spec: SupvisorsSpec,
    sup: Supervisor,
    sup_done: Option<Completion>,
    node: Option<Node>,
    task: Option<NodeTask>,
    token: CancellationToken,
}

impl Inst {
    async fn start(spec: SupvisorsSpec) -> Inst {
        Inst::start_with(spec, sleeper(), false).await
    }

    /// Like [`Inst::start`], with this `sleeper` group and `Options::defer_autostart`.
    async fn start_with(spec: SupvisorsSpec, sleeper: GroupSpec, defer_autostart: bool) -> Inst {
        let dir = spec.data_dir.join("procman");
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = procman_config(&dir, sleeper);
        let again = cfg.clone();
        let opts = Options {
            reloader: Arc::new(move || Ok(again.clone())),
            main_log: None,
            server_url: None,
            shutdown: CancellationToken::new(),
            defer_autostart,
        };
        let (sup, sup_done) = Supervisor::start(cfg, opts).unwrap();
        let mut inst = Inst {
            spec,
            sup,
            sup_done: Some(sup_done),
            node: None,
            task: None,
            token: CancellationToken::new(),
        };
        inst.start_node().await;
        inst
    }

    async fn start_node(&mut self) {
        self.token = CancellationToken::new();
        let (node, task) = Node::start(self.spec.clone(), self.sup.clone(), self.token.clone())
            .await
            .expect("node starts");
        self.node = Some(node);
        self.task = Some(task);
    }

    async fn stop_node(&mut self) {
        self.token.cancel();
        self.node = None;
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task.wait())
                .await
                .expect("node tasks end after shutdown");
        }
    }

    async fn stop(mut self) {
        self.stop_node().await;
        let _ = self.sup.shutdown();
        if let Some(done) = self.sup_done.take() {
            tokio::time::timeout(Duration::from_secs(10), done.wait())
                .await
                .expect("supervisor ends");
        }
    }

    fn node(&self) -> &Node {
        self.node.as_ref().expect("node running")
    }

    fn id(&self) -> &str {
        &self.spec.local_identifier
    }
}

async fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if f() {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "timed out after {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn instance_state(node: &Node, id: &str) -> InstanceState {
    node.replica()
        .borrow()
        .state
        .instance(id)
        .map_or(InstanceState::Unknown, |r| r.state)
}

fn operational(nodes: &[&Node], ids: &[&str]) -> bool {
    nodes.iter().all(|n| {
        let r = n.replica();
        let r = r.borrow();
        r.state.supvisors_state() == SupvisorsState::Operation
            && ids
                .iter()
                .all(|id| r.state.instance(id).map(|i| i.state) == Some(InstanceState::Running))
    })
}

/// The leader every running node agrees on, if they do.
fn agreed_leader(nodes: &[&Node]) -> Option<String> {
    let first = nodes.first()?.leader_view().leader?;
    nodes
        .iter()
        .all(|n| n.leader_view().leader.as_deref() == Some(first.as_str()))
        .then_some(first)
}

async fn start_cluster(ids: &[&str], voters: &[&str], dir: &Path) -> Vec<Inst> {
    let ports: Vec<u16> = ids.iter().map(|_| free_port()).collect();
    let mut out = Vec::new();
    for id in ids {
        out.push(Inst::start(spec(ids, voters, id, &ports, dir)).await);
    }
    out
}

/// A raw POST on an instance's internal port, with the given headers.
async fn raw_post(addr: &str, path: &str, headers: &[(&str, String)], body: Vec<u8>) -> u16 {
    use http_body_util::Full;
    use hyper_util::client::legacy::Client;
    let client: Client<_, Full<bytes::Bytes>> =
        Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let mut req = hyper::Request::post(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let req = req.body(Full::new(bytes::Bytes::from(body))).unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(2), client.request(req))
        .await
        .expect("answer in time")
        .expect("http ok");
    resp.status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_voters_form_operate_forward_and_fail_over() {
    let _serial = SERIAL.lock().await;
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let ids = ["a", "b", "c"];
    let started = Instant::now();
    let mut insts = start_cluster(&ids, &ids, dir.path()).await;
    let nodes = |insts: &[Inst]| {
        insts
            .iter()
            .filter_map(|i| i.node.clone())
            .collect::<Vec<_>>()
    };

    // One leader, known by all; everyone RUNNING and the cluster in OPERATION.
    let ns = nodes(&insts);
    let refs: Vec<&Node> = ns.iter().collect();
    wait_for("a leader known by all", Duration::from_secs(5), || {
        agreed_leader(&refs).is_some()
    })
    .await;
    let took = wait_for(
        "all RUNNING and OPERATION everywhere",
        Duration::from_secs(5),
        || operational(&refs, &ids),
    )
    .await;
    eprintln!(
        "formed and OPERATION after {:?}",
        started.elapsed().max(took)
    );
    let leader = agreed_leader(&refs).unwrap();
    assert_eq!(
        refs.iter()
            .filter(|n| n.metrics().borrow().state == openraft::ServerState::Leader)
            .count(),
        1
    );

    // A write sent to a follower lands on every replica.
    let follower = insts.iter().find(|i| i.id() != leader).unwrap();
    let result = follower
        .node()
        .write(Command::SetNumprocs {
            program: "web".into(),
            numprocs: 4,
        })
        .await
        .expect("forwarded write commits");
    assert_eq!(result, CommandResult::Applied);
    wait_for("numprocs everywhere", Duration::from_secs(2), || {
        refs.iter()
            .all(|n| n.replica().borrow().state.numprocs("web") == Some(4))
    })
    .await;

    // A process state change in one instance's procman reaches every replica.
    let fi = insts.iter().position(|i| i.id() != leader).unwrap();
    let fid = insts[fi].id().to_string();
    insts[fi].sup.start_process("sleeper", true).await.unwrap();
    wait_for(
        "sleeper RUNNING on the follower in every replica",
        Duration::from_secs(3),
        || {
            refs.iter().all(|n| {
                n.replica()
                    .borrow()
                    .state
                    .process(&fid, "sleeper")
                    .is_some_and(|p| p.state == ProcessState::Running && p.pid > 0)
            })
        },
    )
    .await;

    // The follower's committed ticks carry its load (one running process, counted from
    // procman's events), its own tick counter and both clocks.
    wait_for(
        "the follower's load and tick counter in every replica",
        Duration::from_secs(4),
        || {
            refs.iter().all(|n| {
                n.replica().borrow().state.instance(&fid).is_some_and(|r| {
                    r.load == 1
                        && r.last_tick.is_some_and(|t| {
                            t.counter > 1
                                && t.remote_at > 1_600_000_000_000
                                && t.received_at > 1_600_000_000_000
                        })
                })
            })
        },
    )
    .await;

    // A program disabled for an instance cannot be started there (Supvisors' DISABLED), and
    // can again once enabled.
    let li = insts.iter().position(|i| i.id() == leader).unwrap();
    let set_disabled = |disabled: bool| {
        let program = "sleeper".to_string();
        let target = Target::Instance(leader.clone());
        if disabled {
            Command::Disable { target, program }
        } else {
            Command::Enable { target, program }
        }
    };
    insts[li].node().write(set_disabled(true)).await.unwrap();
    let on_leader = insts[li].node().replica();
    wait_for(
        "sleeper disabled on the leader",
        Duration::from_secs(2),
        || on_leader.borrow().state.is_disabled(&leader, "sleeper"),
    )
    .await;
    let refused = insts[li]
        .sup
        .start_process("sleeper", true)
        .await
        .unwrap_err();
    assert_eq!(refused.code, FaultCode::Disabled);
    assert_eq!(refused.fault_string(), "DISABLED: sleeper");
    insts[li].node().write(set_disabled(false)).await.unwrap();
    wait_for(
        "sleeper enabled on the leader",
        Duration::from_secs(2),
        || !on_leader.borrow().state.is_disabled(&leader, "sleeper"),
    )
    .await;
    insts[li].sup.start_process("sleeper", true).await.unwrap();
    insts[li].sup.stop_process("sleeper", true).await.unwrap();

    // Requests without the secret, from strangers, with another config, or garbage: refused.
    let addr = insts[0].node().internal_addr().to_string();
    let fp = auth::fingerprint(&insts[0].spec);
    let now = model::time::epoch_ms();
    // Each request is signed for its path and body, with its own nonce (auth::sign).
    let mut nonce = 0u64;
    let mut sign = |secret: &str, from: &str, path: &str, body: &[u8]| {
        nonce += 1;
        auth::sign(secret, from, &fp, path, now, nonce, body)
    };
    let tick_body = codec::encode(&cluster::wire::TickRequest {
        identifier: "b".into(),
        load: 0,
        counter: 1,
        sent_at: 0,
        incarnation: 1,
        full_sync: None,
    })
    .unwrap();
    let hdr = |from: &str, fp: &str, token: &str| {
        vec![
            (auth::HEADER_FROM, from.to_string()),
            (auth::HEADER_FINGERPRINT, fp.to_string()),
            (auth::HEADER_TOKEN, token.to_string()),
        ]
    };
    assert_eq!(
        raw_post(&addr, "/ctl/tick", &[], tick_body.clone()).await,
        401
    );
    assert_eq!(
        raw_post(&addr, "/ctl/tick", &hdr("b", &fp, "bad"), tick_body.clone()).await,
        401
    );
    let wrong_secret = sign("guess", "b", "/raft/vote", &tick_body);
    assert_eq!(
        raw_post(
            &addr,
            "/raft/vote",
            &hdr("b", &fp, &wrong_secret),
            tick_body.clone()
        )
        .await,
        401
    );
    let stranger = sign(SECRET, "zz", "/ctl/tick", &tick_body);
    assert_eq!(
        raw_post(
            &addr,
            "/ctl/tick",
            &hdr("zz", &fp, &stranger),
            tick_body.clone()
        )
        .await,
        403
    );
    assert_eq!(
        raw_post(
            &addr,
            "/ctl/tick",
            &hdr("b", "0123", &sign(SECRET, "b", "/ctl/tick", &tick_body)),
            tick_body.clone()
        )
        .await,
        403
    );
    assert_eq!(
        raw_post(
            &addr,
            "/raft/append",
            &hdr("b", &fp, &sign(SECRET, "b", "/raft/append", b"\x01garbage")),
            b"\x01garbage".to_vec()
        )
        .await,
        400
    );
    assert_eq!(
        raw_post(
            &addr,
            "/ctl/write",
            &hdr("b", &fp, &sign(SECRET, "b", "/ctl/write", &[0xff; 3])),
            vec![0xff; 3]
        )
        .await,
        400
    );
    // Nothing was lost: the cluster still works.
    assert!(operational(&refs, &ids));
    drop(refs);
    drop(ns);

    // Shutting down a follower: SILENT on the others, its process FATAL; back RUNNING after
    // a restart with the same data dir.
    insts[fi].stop_node().await;
    let ns = nodes(&insts);
    let refs: Vec<&Node> = ns.iter().collect();
    let took = wait_for(
        "follower SILENT on the others",
        Duration::from_secs(3),
        || {
            refs.iter()
                .all(|n| instance_state(n, &fid) == InstanceState::Silent)
        },
    )
    .await;
    eprintln!("follower {fid} SILENT everywhere after {took:?}");
    let r = refs[0].replica();
    let p = r.borrow().state.process(&fid, "sleeper").cloned().unwrap();
    assert_eq!(p.state, ProcessState::Fatal);
    assert_eq!(p.spawnerr, format!("Supervisor {fid} lost"));
    insts[fi].start_node().await;
    let ns = nodes(&insts);
    let refs: Vec<&Node> = ns.iter().collect();
    wait_for(
        "restarted follower RUNNING everywhere",
        Duration::from_secs(5),
        || operational(&refs, &ids),
    )
    .await;
    wait_for("its process RUNNING again", Duration::from_secs(3), || {
        refs.iter().all(|n| {
            n.replica()
                .borrow()
                .state
                .process(&fid, "sleeper")
                .is_some_and(|p| p.state == ProcessState::Running)
        })
    })
    .await;
    drop(refs);
    drop(ns);

    // Shutting down the leader: the survivors agree on a new one, the old one goes SILENT.
    let li = insts.iter().position(|i| i.id() == leader).unwrap();
    insts[li].stop_node().await;
    let ns = nodes(&insts);
    let refs: Vec<&Node> = ns.iter().collect();
    let took = wait_for(
        "a new leader known by the survivors",
        Duration::from_secs(5),
        || agreed_leader(&refs).is_some_and(|l| l != leader),
    )
    .await;
    eprintln!("new leader after {took:?}");
    wait_for("old leader SILENT", Duration::from_secs(4), || {
        refs.iter()
            .all(|n| instance_state(n, &leader) == InstanceState::Silent)
    })
    .await;
    // Still OPERATION (a leader change does not restart the Supvisors FSM), writes work.
    assert!(refs
        .iter()
        .all(|n| n.replica().borrow().state.supvisors_state() == SupvisorsState::Operation));
    refs[0]
        .write(Command::SetNumprocs {
            program: "web".into(),
            numprocs: 5,
        })
        .await
        .expect("write after failover");
    drop(refs);
    drop(ns);

    for inst in insts {
        inst.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_voters_two_learners_and_a_lost_learner_does_not_block_writes() {
    let _serial = SERIAL.lock().await;
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let ids = ["v1", "v2", "v3", "l1", "l2"];
    let voters = ["v1", "v2", "v3"];
    let mut insts = start_cluster(&ids, &voters, dir.path()).await;
    let ns: Vec<Node> = insts.iter().filter_map(|i| i.node.clone()).collect();
    let refs: Vec<&Node> = ns.iter().collect();
    wait_for(
        "5 instances RUNNING and OPERATION",
        Duration::from_secs(8),
        || operational(&refs, &ids),
    )
    .await;
    wait_for("learners are Raft members", Duration::from_secs(3), || {
        let m = refs[0].metrics();
        let m = m.borrow();
        let membership = m.membership_config.membership();
        ["l1", "l2"]
            .iter()
            .all(|l| membership.get_node(&cluster::node_id(l)).is_some())
            && membership.voter_ids().count() == 3
    })
    .await;
    drop(refs);
    drop(ns);

    insts[4].stop_node().await;
    let ns: Vec<Node> = insts.iter().filter_map(|i| i.node.clone()).collect();
    let refs: Vec<&Node> = ns.iter().collect();
    wait_for("l2 SILENT", Duration::from_secs(3), || {
        refs.iter()
            .all(|n| instance_state(n, "l2") == InstanceState::Silent)
    })
    .await;
    // Writes from a learner and from a voter still commit.
    for n in [refs[3], refs[1]] {
        let r = tokio::time::timeout(
            Duration::from_secs(3),
            n.write(Command::Disable {
                target: cluster::Target::Instance("v1".into()),
                program: format!("p-{}", n.local_identifier()),
            }),
        )
        .await
        .expect("write does not hang");
        assert_eq!(r, Ok(CommandResult::Applied));
    }
    wait_for("disables everywhere", Duration::from_secs(2), || {
        refs.iter().all(|n| {
            let r = n.replica();
            let r = r.borrow();
            r.state.is_disabled("v1", "p-l1") && r.state.is_disabled("v1", "p-v2")
        })
    })
    .await;
    drop(refs);
    drop(ns);
    for inst in insts {
        inst.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_voter_without_quorum_fails_writes_fast_and_knows_it_is_cut_off() {
    let _serial = SERIAL.lock().await;
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let ids = ["a", "b", "c"];
    let ports: Vec<u16> = ids.iter().map(|_| free_port()).collect();
    let inst = Inst::start(spec(&ids, &ids, "a", &ports, dir.path())).await;
    let node = inst.node().clone();
    let t = Instant::now();
    let r = node.write(Command::Noop).await;
    assert!(r.is_err(), "{r:?}");
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "failed fast: {:?}",
        t.elapsed()
    );
    wait_for("cut off", Duration::from_secs(3), || {
        node.leader_view().cut_off
    })
    .await;
    assert_eq!(
        node.write(Command::Noop).await,
        Err(cluster::WriteError::CutOff)
    );
    drop(node);
    inst.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_replays_its_log_before_the_deferred_autostart() {
    let _serial = SERIAL.lock().await;
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let ids = ["solo"];
    let ports = [free_port()];
    let inst = Inst::start(spec(&ids, &ids, "solo", &ports, dir.path())).await;
    // A fresh node has nothing committed to replay.
    let t = Instant::now();
    assert!(inst.node().wait_replayed(Duration::from_secs(5)).await);
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    let node = inst.node().clone();
    wait_for("leader", Duration::from_secs(5), || {
        node.leader_view().leader.as_deref() == Some("solo")
    })
    .await;
    let disable = Command::Disable {
        target: Target::Instance("solo".into()),
        program: "sleeper".into(),
    };
    node.write(disable).await.unwrap();
    let replica = node.replica();
    wait_for("sleeper disabled", Duration::from_secs(2), || {
        replica.borrow().state.is_disabled("solo", "sleeper")
    })
    .await;
    drop((node, replica));
    inst.stop().await;

    // Restart on the same data dir, the program now autostarted, the autostart deferred.
    let ports = [free_port()];
    let inst = Inst::start_with(
        spec(&ids, &ids, "solo", &ports, dir.path()),
        sleeper_autostart(true),
        true,
    )
    .await;
    assert!(inst.node().wait_replayed(Duration::from_secs(5)).await);
    assert!(
        inst.node()
            .replica()
            .borrow()
            .state
            .is_disabled("solo", "sleeper"),
        "the replayed replica shows the program disabled"
    );
    inst.sup.autostart_now().await;
    let info = inst.sup.process_info("sleeper").await.unwrap();
    assert_eq!(info.state, ProcessState::Stopped);
    assert_eq!(info.start, 0, "never spawned");
    inst.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_final_process_states_are_committed_before_the_node_stops() {
    let _serial = SERIAL.lock().await;
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let ids = ["solo"];
    let ports = [free_port()];
    let mut inst = Inst::start(spec(&ids, &ids, "solo", &ports, dir.path())).await;
    let node = inst.node().clone();
    wait_for("leader", Duration::from_secs(5), || {
        node.leader_view().leader.as_deref() == Some("solo")
    })
    .await;
    inst.sup.start_process("sleeper", true).await.unwrap();
    let replica = node.replica();
    let state_of = |r: &tokio::sync::watch::Receiver<cluster::Replica>| {
        r.borrow().state.process("solo", "sleeper").map(|p| p.state)
    };
    wait_for(
        "sleeper RUNNING in the replica",
        Duration::from_secs(5),
        || state_of(&replica) == Some(ProcessState::Running),
    )
    .await;
    // The daemon's end: procman stops everything, then the node goes at once. The last full
    // batch is committed first.
    let _ = inst.sup.shutdown();
    if let Some(done) = inst.sup_done.take() {
        done.wait().await;
    }
    assert!(node.sync_processes(Duration::from_secs(2)).await);
    assert_eq!(state_of(&replica), Some(ProcessState::Stopped));
    inst.stop_node().await;
    // Without a leader there is nothing to wait for.
    assert!(!node.sync_processes(Duration::from_secs(2)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ended_raft_core_stops_the_ticks_and_tells_the_owner() {
    let _serial = SERIAL.lock().await;
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let ids = ["a", "b", "c"];
    let insts = start_cluster(&ids, &ids, dir.path()).await;
    let ns: Vec<Node> = insts.iter().filter_map(|i| i.node.clone()).collect();
    let refs: Vec<&Node> = ns.iter().collect();
    wait_for("all RUNNING and OPERATION", Duration::from_secs(8), || {
        operational(&refs, &ids)
    })
    .await;
    wait_for("a common leader", Duration::from_secs(3), || {
        agreed_leader(&refs).is_some()
    })
    .await;
    let leader = agreed_leader(&refs).unwrap();
    let victim = refs
        .iter()
        .find(|n| n.local_identifier() != leader)
        .copied()
        .unwrap();
    let name = victim.local_identifier();
    let others: Vec<&Node> = refs
        .iter()
        .filter(|n| n.local_identifier() != name)
        .copied()
        .collect();

    victim.end_raft_core_for_test().await;
    let end = tokio::time::timeout(Duration::from_secs(3), victim.core_ended())
        .await
        .expect("the owner is told");
    assert_eq!(end, cluster::CoreEnd::RaftStopped);
    // The node runs on, but its ticks stop and, once fenced, it closes its internal port:
    // the leader's probe of the late instance finds it refused and declares it lost within
    // the inactivity timeout (1 s), without waiting out the fence bound.
    let took = wait_for("the victim SILENT", Duration::from_secs(3), || {
        others
            .iter()
            .all(|n| instance_state(n, &name) == InstanceState::Silent)
    })
    .await;
    assert!(took < Duration::from_millis(2500), "SILENT after {took:?}");
    let view = victim.leader_view();
    assert_eq!(view.leader, None);
    assert!(view.cut_off);
    assert_eq!(
        victim.write(Command::Noop).await,
        Err(cluster::WriteError::CutOff)
    );
    assert_eq!(agreed_leader(&others).as_deref(), Some(leader.as_str()));
    drop(others);
    drop(refs);
    drop(ns);
    for inst in insts {
        inst.stop().await;
    }
}
