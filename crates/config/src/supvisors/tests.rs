//! Whole-section tests: real config files in temp dirs, loaded by the crate's loader, then
//! resolved with a fixed [`LocalHost`].

use super::{resolve_with, LocalHost, SECTION};
use crate::{load_with, ConfigError, Context};
use model::supvisors::*;
use model::Config;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

fn me() -> LocalHost {
    LocalHost {
        host_name: "node1".to_string(),
        addresses: vec![
            "127.0.0.1".parse().unwrap(),
            "10.0.0.1".parse().unwrap(),
            "::1".parse().unwrap(),
        ],
    }
}

struct Loaded {
    dir: tempfile::TempDir,
    config: Config,
}

impl Loaded {
    fn resolve(&self) -> Result<Option<SupvisorsSpec>, ConfigError> {
        resolve_with(&self.config, &me())
    }

    fn ok(&self) -> SupvisorsSpec {
        match self.resolve() {
            Ok(Some(s)) => s,
            Ok(None) => panic!("no supvisors section"),
            Err(e) => panic!("unexpected errors:\n{e}"),
        }
    }

    /// The error text with the temp dir replaced by `DIR`.
    fn err(&self) -> String {
        let e = self.resolve().expect_err("expected an error");
        e.to_string()
            .replace(&self.dir.path().display().to_string(), "DIR")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Writes `s.conf` = `head` + `[rpcinterface:supvisors]` with the factory + `body`, plus
/// `extra` files, and loads it. The section header is on line `head.lines().count() + 1`.
fn load_files(head: &str, body: &str, extra: &[(&str, &str)]) -> Loaded {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in extra {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
    }
    let text = format!(
        "{head}[{SECTION}]\nsupervisor.rpcinterface_factory = supvisors.plugin:make_supvisors_rpcinterface\n{body}"
    );
    let main = dir.path().join("s.conf");
    std::fs::write(&main, text).unwrap();
    let ctx = Context {
        env: BTreeMap::from([("RULES".to_string(), "rules".to_string())]),
        host_node_name: "node1".to_string(),
    };
    let config = match load_with(&main, &ctx) {
        Ok(c) => c,
        Err(e) => panic!("loader errors:\n{e}"),
    };
    Loaded { dir, config }
}

/// Three lines of head: `[supervisord]`, `[inet_http_server]`, port 60000. The section header
/// is line 4, the factory line 5, `body` starts on line 6.
const HEAD: &str = "[supervisord]\n[inet_http_server]\nport = :60000\n";

fn load(body: &str) -> Loaded {
    load_files(HEAD, body, &[])
}

fn with_id(identifier: &str, port: u16) -> String {
    format!("[supervisord]\nidentifier = {identifier}\n[inet_http_server]\nport = :{port}\n")
}

fn ids(spec: &SupvisorsSpec) -> Vec<&str> {
    spec.instances
        .iter()
        .map(|i| i.identifier.as_str())
        .collect()
}

const SECRET: &str = "cluster_secret = s3cret\n";

#[test]
fn debug_of_a_config_and_its_spec_shows_no_secret() {
    let head = "[supervisord]\n[inet_http_server]\nport = :60000\nusername = u\n\
                password = pw-in\n[unix_http_server]\nfile = /tmp/x.sock\nusername = u\n\
                password = {SHA}0123456789abcdef0123456789abcdef01234567\n\
                [supervisorctl]\npassword = pw-ctl\n";
    let l = load_files(head, SECRET, &[]);
    let spec = l.ok();
    let shown = format!("{:?} {spec:?}", l.config);
    for secret in ["pw-in", "0123456789abcdef", "pw-ctl", "s3cret"] {
        assert!(!shown.contains(secret), "{secret} shown in {shown}");
    }
    assert!(shown.contains("Secret(<redacted>)"), "{shown}");
}

#[test]
fn absent_section_is_plain_supervisord() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("s.conf");
    std::fs::write(&main, "[supervisord]\n").unwrap();
    let config = load_with(&main, &Context::default()).unwrap();
    assert_eq!(resolve_with(&config, &me()), Ok(None));
}

#[test]
fn defaults_for_a_minimal_section() {
    let l = load(SECRET);
    let s = l.ok();
    assert_eq!(
        s.instances,
        [InstanceAddr {
            identifier: "node1".into(),
            host: "node1".into(),
            http_port: 60000,
            internal_port: 60001,
        }]
    );
    assert_eq!(s.local_identifier, "node1");
    assert_eq!(s.local().unwrap().host, "node1");
    assert_eq!(s.voters, ["node1"]);
    assert!(!s.core_identifiers_explicit);
    assert!(s.rules_files.is_empty());
    assert!(!s.auto_fence);
    assert_eq!(s.no_quorum_policy, NoQuorumPolicy::StopMovable);
    assert_eq!(s.fence_stop_timeout, Duration::from_millis(1000));
    // 2 × 100 (the tick's answer, then its timeout) + 650 + 100 + 50 (one ticker pass) + 1000
    // (stop, then SIGKILL) + 250 (margin).
    assert_eq!(s.fence_bound(), Some(Duration::from_millis(2250)));
    assert_eq!(s.silent_restart_after(), Duration::from_millis(2250));
    assert_eq!(s.synchro_timeout, Duration::from_secs(15));
    assert_eq!(s.inactivity_timeout, Duration::from_millis(800));
    assert_eq!(s.fencing_timeout, Duration::from_millis(650));
    assert_eq!(s.tick_interval, Duration::from_millis(100));
    assert_eq!(
        s.raft,
        RaftTimings {
            heartbeat: Duration::from_millis(125),
            election_timeout_min: Duration::from_millis(200),
            election_timeout_max: Duration::from_millis(300),
        }
    );
    assert_eq!(s.disabilities_file, None);
    assert_eq!(s.starting_strategy, StartingStrategy::Config);
    assert_eq!(s.conciliation_strategy, ConciliationStrategy::User);
    assert_eq!(
        s.cluster_secret.as_ref().map(model::Secret::expose),
        Some("s3cret")
    );
    assert_eq!(s.data_dir, l.path("raftvisor-data/node1"));
    assert!(s.notes.is_empty(), "{:?}", s.notes);
}

#[test]
fn list_syntax_variants_and_deduced_names() {
    let l = load(&format!(
        "{SECRET}supvisors_list = <a>10.0.0.5:7000:7100, 10.0.0.6, 10.0.0.7:8000:, \
         node1::61000, <e>host5:9000, host6:9100, host7::, [fe80::1]:9200:\n"
    ));
    let s = l.ok();
    let got: Vec<(&str, &str, u16, u16)> = s
        .instances
        .iter()
        .map(|i| {
            (
                i.identifier.as_str(),
                i.host.as_str(),
                i.http_port,
                i.internal_port,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("a", "10.0.0.5", 7000, 7100),
            ("10.0.0.6", "10.0.0.6", 60000, 60001),
            ("10.0.0.7:8000", "10.0.0.7", 8000, 8001),
            ("node1", "node1", 60000, 61000),
            ("e", "host5", 9000, 9001),
            ("host6:9100", "host6", 9100, 9101),
            ("host7", "host7", 60000, 60001),
            ("[fe80::1]:9200", "fe80::1", 9200, 9201),
        ]
    );
    assert_eq!(s.local_identifier, "node1");
}

#[test]
fn internal_port_option_fills_missing_internal_ports() {
    let s = load(&format!(
        "{SECRET}internal_port = 65000\nsupvisors_list = node1, node2::65100, node3:7000\n"
    ))
    .ok();
    let ports: Vec<u16> = s.instances.iter().map(|i| i.internal_port).collect();
    assert_eq!(ports, [65000, 65100, 65000]);
    // 0 means "not set", as in Supvisors.
    let s = load(&format!("{SECRET}internal_port = 0\n")).ok();
    assert_eq!(s.instances[0].internal_port, 60001);
}

#[test]
fn duplicates_are_removed_keeping_order() {
    let s = load(&format!(
        "{SECRET}supvisors_list = node2, node1,, node2 ,node3,node1\n"
    ))
    .ok();
    assert_eq!(ids(&s), ["node2", "node1", "node3"]);
}

#[test]
fn list_errors_are_all_reported() {
    let l = load(&format!(
        "{SECRET}supvisors_list = <bad id>h, h:1:2:3, ok\ncore_identifiers = nope\n"
    ));
    let e = l.err();
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 2, "{e}");
    assert!(
        lines[0].starts_with(
            "DIR/s.conf:7: [rpcinterface:supvisors] supvisors_list: bad item \"<bad id>h\""
        ),
        "{e}"
    );
    assert!(
        lines[1].contains("bad item \"h:1:2:3\": too many `:`"),
        "{e}"
    );
    // Clashes: same deduced name, same port on one host.
    let e = load(&format!("{SECRET}supvisors_list = node1, node1::61000\n")).err();
    assert!(e.contains("same identifier \"node1\""), "{e}");
    let e = load(&format!(
        "{SECRET}supvisors_list = node1, <b>node1:60001:\n"
    ))
    .err();
    assert!(e.contains("both use port 60001"), "{e}");
}

#[test]
fn inet_http_server_is_required() {
    let l = load_files("[supervisord]\n", SECRET, &[]);
    assert_eq!(
        l.err(),
        "DIR/s.conf:2: [rpcinterface:supvisors] Supvisors needs an [inet_http_server] section: \
         instances reach each other over HTTP, and items without an explicit http_port use its port"
    );
}

#[test]
fn local_instance_by_supervisord_identifier() {
    let l = load_files(
        &with_id("two", 60000),
        &format!("{SECRET}supvisors_list = <one>node1, <two>node1:60010:\n"),
        &[],
    );
    let s = l.ok();
    assert_eq!(s.local_identifier, "two");
    // Declared with 60010, listening on 60000: a note, not an error (the second note is
    // about the even number of voters).
    assert_eq!(s.notes.len(), 2, "{:?}", s.notes);
    assert!(
        s.notes[0].contains("declared with http_port 60010"),
        "{:?}",
        s.notes
    );
}

#[test]
fn local_instance_by_host_and_http_port() {
    let list = "supvisors_list = 127.0.0.1:60000:, 127.0.0.1:60010:, 127.0.0.1:60020:\n";
    let l = load_files(&with_id("supervisor", 60010), list, &[]);
    let s = l.ok();
    assert_eq!(s.local_identifier, "127.0.0.1:60010");
    // Interface address, and loopback only when nothing else matches.
    let s = load(&format!("{SECRET}supvisors_list = localhost, 10.0.0.1\n")).ok();
    assert_eq!(s.local_identifier, "10.0.0.1");
}

#[test]
fn local_instance_absent_or_ambiguous() {
    let e = load(&format!("{SECRET}supvisors_list = node2, node3\n")).err();
    assert!(
        e.starts_with(
            "DIR/s.conf:7: [rpcinterface:supvisors] supvisors_list: this instance is not in supvisors_list"
        ),
        "{e}"
    );
    let e = load(&format!("{SECRET}supvisors_list = node1, 10.0.0.1\n")).err();
    assert!(
        e.contains("ambiguous") && e.contains("node1, 10.0.0.1"),
        "{e}"
    );
}

#[test]
fn voters_default_to_all_of_three() {
    let s = load(&format!("{SECRET}supvisors_list = node1, node2, node3\n")).ok();
    assert_eq!(s.voters, ["node1", "node2", "node3"]);
    assert!(!s.core_identifiers_explicit);
    assert!(s.notes.is_empty(), "{:?}", s.notes);
}

#[test]
fn voters_default_to_first_five_of_six() {
    let s = load(&format!(
        "{SECRET}supvisors_list = n6, n5, node1, n3, n2, n4\n"
    ))
    .ok();
    assert_eq!(s.voters, ["n6", "n5", "node1", "n3", "n2"]);
    assert_eq!(s.notes.len(), 1, "{:?}", s.notes);
    assert!(
        s.notes[0].contains("with 6 instances the first 5 are the Raft voters"),
        "{:?}",
        s.notes
    );
}

#[test]
fn explicit_core_identifiers_in_declaration_order() {
    let s = load(&format!(
        "{SECRET}supvisors_list = node1, node2, <x>node3, node4\ncore_identifiers = x, node2:60000, node1, x\n"
    ))
    .ok();
    assert_eq!(s.voters, ["node1", "node2", "x"]);
    assert!(s.core_identifiers_explicit);
    // An even voter count is allowed, with a note.
    let s = load(&format!(
        "{SECRET}supvisors_list = node1, node2, node3\ncore_identifiers = node1, node2\n"
    ))
    .ok();
    assert_eq!(s.voters, ["node1", "node2"]);
    assert!(s.notes[0].contains("2 Raft voters"), "{:?}", s.notes);
    // IPv6 instances named by `[host]:http_port`.
    let s = load(&format!(
        "{SECRET}supvisors_list = <a>[::1]:60000:, <b>[::1]:60010:, <c>[::1]:60020:\n\
         core_identifiers = [::1]:60010, a, [::1]:60020\n"
    ))
    .ok();
    assert_eq!(s.voters, ["a", "b", "c"]);
}

#[test]
fn unknown_core_identifier_is_an_error() {
    let e = load(&format!(
        "{SECRET}supvisors_list = node1, node2\ncore_identifiers = node1, ghost\n"
    ))
    .err();
    assert_eq!(
        e,
        "DIR/s.conf:8: [rpcinterface:supvisors] core_identifiers: \"ghost\" is not in \
         supvisors_list (identifiers: node1, node2)"
    );
}

#[test]
fn more_than_seven_voters_is_an_error() {
    let list: Vec<String> = (1..=8).map(|i| format!("node{i}")).collect();
    let e = load(&format!(
        "{SECRET}supvisors_list = {0}\ncore_identifiers = {0}\n",
        list.join(",")
    ))
    .err();
    assert!(
        e.starts_with(
            "DIR/s.conf:8: [rpcinterface:supvisors] core_identifiers: 8 voters, at most 7"
        ),
        "{e}"
    );
    // Eight instances without core_identifiers: 5 voters, fine.
    let s = load(&format!("{SECRET}supvisors_list = {}\n", list.join(","))).ok();
    assert_eq!(s.voters.len(), 5);
}

#[test]
fn bad_values_and_ranges_all_at_once() {
    let e = load(&format!(
        "{SECRET}synchro_timeout = 10\ninactivity_ticks = 1\nauto_fence = maybe\n\
         starting_strategy = FASTEST\nconciliation_strategy = 9\ninternal_port = 70000\n\
         raft_heartbeat_ms = 5\ndisabilities_file = /no/such/dir/d.json\n"
    ))
    .err();
    let lines: Vec<&str> = e.lines().collect();
    let expect = [
        "DIR/s.conf:12: [rpcinterface:supvisors] internal_port: 70000 is not in 0..65535",
        "DIR/s.conf:9: [rpcinterface:supvisors] auto_fence: \"maybe\" is not a boolean",
        "DIR/s.conf:7: [rpcinterface:supvisors] synchro_timeout: 10 is not in 15..1200",
        "DIR/s.conf:13: [rpcinterface:supvisors] raft_heartbeat_ms: 5 is not in 10..3600000",
        "DIR/s.conf:8: [rpcinterface:supvisors] inactivity_ticks: 1 is not in 2..720",
        "DIR/s.conf:14: [rpcinterface:supvisors] disabilities_file: the directory /no/such/dir does not exist",
        "DIR/s.conf:10: [rpcinterface:supvisors] starting_strategy: \"FASTEST\" is not one of CONFIG, LESS_LOADED, MOST_LOADED, LOCAL, LESS_LOADED_NODE, MOST_LOADED_NODE",
        "DIR/s.conf:11: [rpcinterface:supvisors] conciliation_strategy: \"9\" is not one of SENICIDE, INFANTICIDE, USER, STOP, RESTART, RUNNING_FAILURE",
    ];
    assert_eq!(lines.len(), expect.len(), "{e}");
    for (line, want) in lines.iter().zip(expect) {
        assert!(line.starts_with(want), "{line}\n  wanted {want}");
    }
}

#[test]
fn honoured_values_are_read() {
    let l = load_files(
        HEAD,
        &format!(
            "{SECRET}auto_fence = on\nsynchro_timeout = 1200\ninactivity_ticks = 720\n\
             starting_strategy = less_loaded\nconciliation_strategy = 5\n\
             disabilities_file = %(here)s/disab.json\ndata_dir = %(here)s/data\n"
        ),
        &[],
    );
    let s = l.ok();
    assert!(s.auto_fence);
    assert_eq!(s.synchro_timeout, Duration::from_secs(1200));
    assert_eq!(s.starting_strategy, StartingStrategy::LessLoaded);
    assert_eq!(
        s.conciliation_strategy,
        ConciliationStrategy::RunningFailure
    );
    assert_eq!(s.disabilities_file, Some(l.path("disab.json")));
    assert_eq!(s.data_dir, l.path("data"));
    // disabilities_file is checked but not used: a note says so.
    let (disab, notes): (Vec<String>, Vec<String>) = s
        .notes
        .iter()
        .cloned()
        .partition(|n| n.contains("disabilities_file"));
    assert_eq!(disab.len(), 1, "{:?}", s.notes);
    assert!(
        disab[0].contains("accepted but not used") && disab[0].contains("neither read nor written"),
        "{disab:?}"
    );
    let s = SupvisorsSpec { notes, ..s };
    // inactivity_ticks is replaced by the time-based timeout: a note says so.
    assert_eq!(s.notes.len(), 1, "{:?}", s.notes);
    assert!(
        s.notes[0].contains("inactivity_ticks: 720 ticks is replaced by a time-based timeout")
            && s.notes[0].contains("800 ms")
            && s.notes[0].contains("100 ms"),
        "{:?}",
        s.notes
    );
}

#[test]
fn strategy_codes_match_supvisors_0_14() {
    // ttypes.py 0.14: CONFIG, LESS_LOADED, MOST_LOADED, LOCAL, LESS_LOADED_NODE,
    // MOST_LOADED_NODE = range(6); SENICIDE, INFANTICIDE, USER, STOP, RESTART,
    // RUNNING_FAILURE = range(6).
    let starting: Vec<(&str, i32)> = StartingStrategy::ALL
        .iter()
        .map(|s| (s.name(), s.code()))
        .collect();
    assert_eq!(
        starting,
        [
            ("CONFIG", 0),
            ("LESS_LOADED", 1),
            ("MOST_LOADED", 2),
            ("LOCAL", 3),
            ("LESS_LOADED_NODE", 4),
            ("MOST_LOADED_NODE", 5)
        ]
    );
    let conciliation: Vec<(&str, i32)> = ConciliationStrategy::ALL
        .iter()
        .map(|s| (s.name(), s.code()))
        .collect();
    assert_eq!(
        conciliation,
        [
            ("SENICIDE", 0),
            ("INFANTICIDE", 1),
            ("USER", 2),
            ("STOP", 3),
            ("RESTART", 4),
            ("RUNNING_FAILURE", 5)
        ]
    );
}

#[test]
fn custom_timings() {
    let s = load(&format!(
        "{SECRET}raft_heartbeat_ms = 100\nraft_election_timeout_min_ms = 300\n\
         raft_election_timeout_max_ms = 600\ninactivity_timeout_ms = 3000\n\
         fencing_timeout_ms = 2000\ntick_interval_ms = 500\n"
    ))
    .ok();
    assert_eq!(s.raft.heartbeat, Duration::from_millis(100));
    assert_eq!(s.raft.election_timeout_min, Duration::from_millis(300));
    assert_eq!(s.raft.election_timeout_max, Duration::from_millis(600));
    assert_eq!(s.inactivity_timeout, Duration::from_millis(3000));
    assert_eq!(s.fencing_timeout, Duration::from_millis(2000));
    assert_eq!(s.tick_interval, Duration::from_millis(500));
    // fencing defaults to 150 ms under the inactivity timeout.
    let s = load(&format!("{SECRET}inactivity_timeout_ms = 4000\n")).ok();
    assert_eq!(s.fencing_timeout, Duration::from_millis(3850));
    assert!(s.notes.is_empty(), "{:?}", s.notes);
    // ... but never under a normal failover and a heartbeat (1.75 × 300 + 125): a fast
    // SILENT does not make the cut-off side fence sooner, and needs no order between the
    // two; room for fewer than three heartbeats gets a note.
    let s = load(&format!("{SECRET}inactivity_timeout_ms = 400\n")).ok();
    assert_eq!(s.inactivity_timeout, Duration::from_millis(400));
    assert_eq!(s.fencing_timeout, Duration::from_millis(650));
    assert!(
        s.notes.iter().any(|n| n
            .contains("inactivity_timeout_ms (400) leaves room for fewer than three heartbeats")),
        "{:?}",
        s.notes
    );
    let s = load(&format!(
        "{SECRET}inactivity_timeout_ms = 500\nfencing_timeout_ms = 900\nraft_heartbeat_ms = 100\n"
    ))
    .ok();
    assert_eq!(s.fencing_timeout, Duration::from_millis(900));
    assert!(s.notes.is_empty(), "{:?}", s.notes);
    // A fencing timeout shorter than a normal failover gets a note.
    let s = load(&format!("{SECRET}fencing_timeout_ms = 200\n")).ok();
    assert!(
        s.notes
            .iter()
            .any(|n| n.contains("below a normal Raft failover")),
        "{:?}",
        s.notes
    );
}

#[test]
fn no_quorum_policy_and_the_fence_bound() {
    let s = load(&format!(
        "{SECRET}no_quorum_policy = STOP_ALL\nfence_stop_timeout_ms = 3000\n\
         inactivity_timeout_ms = 10000\n"
    ))
    .ok();
    assert_eq!(s.no_quorum_policy, NoQuorumPolicy::StopAll);
    assert_eq!(s.fence_stop_timeout, Duration::from_millis(3000));
    // fencing 9850 + 200 + 150 + 3000 + 250.
    assert_eq!(s.fence_bound(), Some(Duration::from_millis(13450)));
    assert_eq!(s.silent_restart_after(), Duration::from_millis(13450));
    // Without a fence the majority restarts after the inactivity timeout alone.
    let s = load(&format!("{SECRET}no_quorum_policy = ignore\n")).ok();
    assert_eq!(s.no_quorum_policy, NoQuorumPolicy::Ignore);
    assert_eq!(s.fence_bound(), None);
    assert_eq!(s.silent_restart_after(), Duration::from_millis(800));
    // A long inactivity timeout is not shortened by a short bound.
    let s = load(&format!(
        "{SECRET}inactivity_timeout_ms = 60000\nfencing_timeout_ms = 700\n"
    ))
    .ok();
    assert_eq!(s.silent_restart_after(), Duration::from_millis(60000));
    let e = load(&format!(
        "{SECRET}no_quorum_policy = freeze\nfence_stop_timeout_ms = 0\n"
    ))
    .err();
    assert!(e.contains("s.conf:7: [rpcinterface:supvisors] no_quorum_policy: \"freeze\" is not one of stop_movable, stop_all, ignore"), "{e}");
    assert!(
        e.contains(
            "s.conf:8: [rpcinterface:supvisors] fence_stop_timeout_ms: 0 is not in 10..3600000"
        ),
        "{e}"
    );
}

#[test]
fn timing_relations_are_checked() {
    let e = load(&format!(
        "{SECRET}raft_heartbeat_ms = 250\nraft_election_timeout_max_ms = 150\n\
         inactivity_timeout_ms = 1000\nfencing_timeout_ms = 1000\n"
    ))
    .err();
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 2, "{e}");
    // min is a default, heartbeat was written: the heartbeat line is blamed.
    assert!(lines[0].starts_with("DIR/s.conf:7: [rpcinterface:supvisors] raft_heartbeat_ms: raft_election_timeout_min_ms (200) must be greater than raft_heartbeat_ms (250)"), "{e}");
    assert!(lines[1].starts_with("DIR/s.conf:8: [rpcinterface:supvisors] raft_election_timeout_max_ms: raft_election_timeout_max_ms (150) must be greater"), "{e}");
    // The default tick (100 ms) against a short inactivity timeout: the written option is blamed.
    let e = load(&format!("{SECRET}inactivity_timeout_ms = 200\n")).err();
    assert!(e.starts_with("DIR/s.conf:7: [rpcinterface:supvisors] inactivity_timeout_ms: tick_interval_ms (100) must be less than half of inactivity_timeout_ms (200)"), "{e}");
}

#[test]
fn secret_from_file_is_trimmed() {
    let l = load_files(
        HEAD,
        "cluster_secret_file = %(here)s/secret\n",
        &[("secret", "  abc123\n\n")],
    );
    std::fs::set_permissions(
        l.path("secret"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let s = l.ok();
    assert_eq!(
        s.cluster_secret.as_ref().map(model::Secret::expose),
        Some("abc123")
    );
    assert!(s.notes.is_empty(), "{:?}", s.notes);
    // Readable by others: accepted, with a note.
    std::fs::set_permissions(
        l.path("secret"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let s = l.ok();
    assert_eq!(s.notes.len(), 1, "{:?}", s.notes);
    assert!(
        s.notes[0].contains("readable by other users"),
        "{:?}",
        s.notes
    );
}

#[test]
fn local_host_from_system_reads_this_machine() {
    let me = LocalHost::from_system();
    assert_eq!(me.host_name, crate::system::host_node_name());
}

#[test]
fn secret_errors() {
    let e = load("cluster_secret = x\ncluster_secret_file = /x\n").err();
    assert_eq!(
        e,
        "DIR/s.conf:7: [rpcinterface:supvisors] cluster_secret_file: set cluster_secret or \
         cluster_secret_file, not both"
    );
    let l = load_files(
        HEAD,
        "cluster_secret_file = %(here)s/empty\n",
        &[("empty", " \n")],
    );
    assert_eq!(
        l.err(),
        "DIR/s.conf:6: [rpcinterface:supvisors] cluster_secret_file: DIR/empty is empty"
    );
    let e = load("cluster_secret_file = /no/such/secret\n").err();
    assert!(e.contains("cannot read /no/such/secret"), "{e}");
    let e = load("cluster_secret =\n").err();
    assert!(e.ends_with("cluster_secret: the secret is empty"), "{e}");
}

#[test]
fn secret_required_off_loopback() {
    let e = load("supvisors_list = node1, 127.0.0.1:7000:, node2\n").err();
    assert_eq!(
        e,
        "DIR/s.conf:4: [rpcinterface:supvisors] cluster_secret or cluster_secret_file is \
         required: the internal port carries Raft and control RPCs (which start and stop \
         programs), and these instances are reachable from the network: node1 (node1), node2 (node2)"
    );
}

#[test]
fn loopback_cluster_may_omit_the_secret_with_a_note() {
    let l = load_files(
        &with_id("b", 60010),
        "supvisors_list = <a>127.0.0.1:60000:, <b>localhost:60010:, <c>127.0.0.2:60020:, \
         <d>[::1]:60030:\n",
        &[],
    );
    let s = l.ok();
    assert_eq!(s.local_identifier, "b");
    assert_eq!(s.cluster_secret, None);
    assert_eq!(s.notes.len(), 2, "{:?}", s.notes);
    assert!(
        s.notes[1].contains("cluster_secret: not set") && s.notes[1].contains("loopback"),
        "{:?}",
        s.notes
    );
    assert_eq!(s.data_dir, l.path("raftvisor-data/b"));
}

#[test]
fn ignored_options_get_notes_and_are_still_checked() {
    let l = load(&format!(
        "{SECRET}event_port = 60002\nlogfile = AUTO\nloglevel = debug\nstats_periods = 5,60\n\
         multicast_group = 239.0.0.1:7777\nstereotypes = web\n"
    ));
    let s = l.ok();
    let keys: Vec<&str> = s
        .notes
        .iter()
        .map(|n| n.split("] ").nth(1).unwrap().split(':').next().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["logfile", "loglevel", "multicast_group", "stereotypes"]
    );
    let dir = l.dir.path().display().to_string();
    assert_eq!(
        s.notes[0],
        format!(
            "{dir}/s.conf:8: [rpcinterface:supvisors] logfile: accepted but not used: raftvisor \
             logs the cluster layer to the supervisord log ([supervisord] logfile, \
             logfile_maxbytes, logfile_backups, loglevel)"
        )
    );
    let e = load(&format!("{SECRET}stats_histo = 5\nevent_link = HTTP\n")).err();
    assert_eq!(
        e,
        "DIR/s.conf:7: [rpcinterface:supvisors] stats_histo: 5 is not in 10..1500\n\
         DIR/s.conf:8: [rpcinterface:supvisors] event_link: \"HTTP\" is not one of NONE, ZMQ, WS"
    );
}

#[test]
fn the_statistics_options_take_both_supvisors_forms() {
    use model::supvisors::StatsOptions;
    let stats = |extra: &str| load(&format!("{SECRET}{extra}")).ok().stats;
    assert_eq!(stats(""), StatsOptions::default());
    let s = stats(
        "stats_enabled = PROCESS\nstats_periods = 60, 5.5\nstats_histo = 50\n\
         stats_irix_mode = true\nstats_collecting_period = 2.5\n",
    );
    assert_eq!(
        s,
        StatsOptions {
            host: false,
            process: true,
            periods: vec![5.5, 60.0],
            histo: 50,
            irix_mode: true,
            collecting_period: 2.5,
        }
    );
    let off = stats("stats_enabled = false\n");
    assert!(!off.host && !off.process);
    let host = stats("stats_enabled = host\n");
    assert!(host.host && !host.process);
    let e = load(&format!("{SECRET}stats_enabled = sometimes\n")).err();
    assert!(
        e.contains("stats_enabled: \"sometimes\" is not a boolean nor one of"),
        "{e}"
    );
}

#[test]
fn the_event_interface_publishes_only_when_the_file_asks() {
    use model::supvisors::{EventInterface, EventLink};
    let interface = |extra: &str| load(&format!("{SECRET}{extra}")).ok().event_interface;
    let at = |text: &str, link| {
        Some(EventInterface {
            addr: text.parse().unwrap(),
            link,
        })
    };
    // Nothing asked: nothing bound (Supvisors 0.14 would bind the HTTP port + 2).
    assert_eq!(interface(""), None);
    // 0.14: event_port alone publishes on the loopback, over ZeroMQ.
    assert_eq!(
        interface("event_port = 60002\n"),
        at("127.0.0.1:60002", EventLink::Zmq)
    );
    assert_eq!(interface("event_port = 0\n"), None);
    // 0.15+: event_link says whether and how; 0.16+ binds every interface, 0.18's default
    // port is the HTTP port + 1.
    assert_eq!(interface("event_port = 60002\nevent_link = NONE\n"), None);
    assert_eq!(
        interface("event_port = 60002\nevent_link = zmq\n"),
        at("0.0.0.0:60002", EventLink::Zmq)
    );
    assert_eq!(
        interface("event_port = 60002\nevent_link = WS\n"),
        at("0.0.0.0:60002", EventLink::Ws)
    );
    let http_plus_one = interface("event_link = ZMQ\n").unwrap();
    assert_eq!(http_plus_one.addr.ip().to_string(), "0.0.0.0");
    let l = load(&format!("{SECRET}event_link = ws\n"));
    let s = l.ok();
    let ws = s.event_interface.unwrap();
    assert_eq!(ws.link, EventLink::Ws);
    assert_eq!(ws.addr.port(), http_plus_one.addr.port());
    assert!(s.notes.is_empty(), "{:?}", s.notes);
}

#[test]
fn unknown_option_names_file_and_line() {
    let e = load(&format!("{SECRET}\nsupvisor_list = node1\n")).err();
    assert!(
        e.starts_with(
            "DIR/s.conf:8: [rpcinterface:supvisors] supvisor_list: unknown option (known: \
             supervisor.rpcinterface_factory, supvisors_list,"
        ),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1);
}

#[test]
fn factory_is_required() {
    let mut l = load(SECRET);
    l.config.extra_sections[0]
        .options
        .retain(|o| o.key != "supervisor.rpcinterface_factory");
    assert_eq!(
        l.err(),
        "DIR/s.conf:4: [rpcinterface:supvisors] supervisor.rpcinterface_factory: required \
         (supvisors.plugin:make_supvisors_rpcinterface)"
    );
}

#[test]
fn rules_files_are_expanded_globbed_sorted() {
    let l = load_files(
        HEAD,
        &format!(
            "{SECRET}rules_files = %(here)s/%(ENV_RULES)s/*.xml %(here)s/one.xml \
             %(here)s/none/*.xml %(here)s/%(ENV_RULES)s/b.xml\n"
        ),
        &[
            ("rules/b.xml", "<root/>"),
            ("rules/a.xml", "<root/>"),
            ("rules/dir.xml/x", ""),
            ("rules/.hidden.xml", ""),
            ("one.xml", "<root/>"),
        ],
    );
    let s = l.ok();
    assert_eq!(
        s.rules_files,
        [
            l.path("one.xml"),
            l.path("rules/a.xml"),
            l.path("rules/b.xml")
        ]
    );
    assert_eq!(s.notes.len(), 1, "{:?}", s.notes);
    assert!(
        s.notes[0].contains("rules_files: no file matches") && s.notes[0].contains("none/*.xml"),
        "{:?}",
        s.notes
    );
    let e = load_files(
        HEAD,
        &format!("{SECRET}rules_files = %(here)s/one.xml %(here)s/missing.xml\n"),
        &[("one.xml", "<root/>")],
    )
    .err();
    assert!(
        e.contains("rules_files: rules file") && e.contains("missing.xml\" does not exist"),
        "{e}"
    );
    let e = load(&format!("{SECRET}rules_files = %(ENV_NOPE)s/r.xml\n")).err();
    assert!(
        e.contains("rules_files: \"%(ENV_NOPE)s/r.xml\" could not be expanded"),
        "{e}"
    );
}
