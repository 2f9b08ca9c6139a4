//! Whole-file tests: temp dirs with real config files, loaded with a fixed [`Context`].

use crate::{
    load_with, load_with_numprocs, load_with_warnings, ConfigError, Context, NumprocsOverrides,
};
use model::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn ctx() -> Context {
    Context {
        env: BTreeMap::from([
            ("HOME".to_string(), "/home/tester".to_string()),
            ("APP_PORT".to_string(), "8080".to_string()),
        ]),
        host_node_name: "node1".to_string(),
    }
}

/// Writes `files` (relative name, text) into a fresh temp dir; returns it and the first path.
fn write(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
    }
    let main = dir.path().join(files[0].0);
    (dir, main)
}

fn load_text(text: &str) -> Result<Config, ConfigError> {
    let (_dir, main) = write(&[("s.conf", text)]);
    load_with(&main, &ctx())
}

fn ok(text: &str) -> Config {
    match load_text(text) {
        Ok(c) => c,
        Err(e) => panic!("unexpected errors:\n{e}"),
    }
}

/// The error text, with the temp dir replaced by `DIR` so expectations can be exact.
fn err(text: &str) -> String {
    let (dir, main) = write(&[("s.conf", text)]);
    let e = load_with(&main, &ctx()).expect_err("expected a config error");
    e.to_string()
        .replace(&dir.path().display().to_string(), "DIR")
}

fn proc_of<'a>(c: &'a Config, group: &str, name: &str) -> &'a ProcessSpec {
    c.group(group)
        .and_then(|g| g.processes.iter().find(|p| p.name == name))
        .unwrap_or_else(|| panic!("no process {group}:{name}"))
}

const SD: &str = "[supervisord]\n";

#[test]
fn realistic_full_config_field_by_field() {
    let main = r#"; main file
[unix_http_server]
file = %(here)s/supervisor.sock
chmod = 0770
chown = root:root

[inet_http_server]
port = 127.0.0.1:9001
username = admin
password = {SHA}82ab876d1387bfafe46cc1c8a2ef074eae50cb1d

[supervisord]
logfile = %(here)s/logs/supervisord.log
logfile_maxbytes = 1MB
logfile_backups = 3
loglevel = debug
pidfile = %(here)s/supervisord.pid
nodaemon = true
identifier = node-%(host_node_name)s
childlogdir = %(here)s/logs
environment = LANG="C.UTF-8",TIER=prod

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[rpcinterface:supvisors]
supervisor.rpcinterface_factory = supvisors.plugin:make_supvisors_rpcinterface
supvisors_list = node1,node2
event_port = %(ENV_APP_PORT)s
odd = 100%

[supervisorctl]
serverurl = unix://%(here)s/supervisor.sock
prompt = mysup

[program:web]
command = /usr/bin/python3 -m http.server %(ENV_APP_PORT)s --bind "127.0.0.1"
priority = 10
autorestart = true
startsecs = 2
stopsignal = INT
stopasgroup = true
environment = MODE="a,b",TIER_COPY="%(ENV_TIER)s"
stdout_logfile = %(here)s/logs/%(program_name)s.out
redirect_stderr = true

[program:worker]
command = /bin/worker --id %(process_num)d --of %(numprocs)d --mode %(ENV_MODE)s
process_name = %(program_name)s_%(process_num)02d
numprocs = 3
numprocs_start = 1
environment = MODE=fast
stdout_logfile = NONE
exitcodes = 0,2

[group:backend]
programs = worker
priority = 50

[eventlistener:watch]
command = /bin/listener
events = PROCESS_STATE,TICK_60
buffer_size = 25

[include]
files = conf.d/*.ini missing/*.conf
"#;
    let extra =
        "[program:cron]\ncommand = /bin/sh -c 'echo %(here)s'\npriority = 10\nautostart = false\n";
    let (dir, path) = write(&[
        ("etc/supervisord.conf", main),
        ("etc/conf.d/cron.ini", extra),
        ("etc/logs/.keep", ""),
    ]);
    let etc = dir.path().join("etc");
    let (c, warnings) = load_with_warnings(&path, &ctx()).unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(c.source, path);
    // [supervisord]
    let sd = &c.supervisord;
    assert_eq!(sd.logfile, etc.join("logs/supervisord.log"));
    assert!(!sd.logfile_syslog);
    assert_eq!(sd.logfile_maxbytes, 1 << 20);
    assert_eq!(sd.logfile_backups, 3);
    assert_eq!(sd.loglevel, LogLevel::Debug);
    assert_eq!(sd.pidfile, etc.join("supervisord.pid"));
    assert!(sd.nodaemon);
    assert_eq!(sd.identifier, "node-node1");
    assert_eq!(sd.childlogdir, etc.join("logs"));
    assert_eq!(
        sd.environment,
        vec![
            ("LANG".into(), "C.UTF-8".into()),
            ("TIER".into(), "prod".into())
        ]
    );
    // servers and ctl
    let unix = c.unix_http_server.as_ref().unwrap();
    assert_eq!(unix.file, etc.join("supervisor.sock"));
    assert_eq!(unix.chmod, 0o770);
    assert_eq!(unix.chown.as_deref(), Some("root:root"));
    assert_eq!(unix.credentials, None);
    let inet = c.inet_http_server.as_ref().unwrap();
    assert_eq!((inet.host.as_str(), inet.port), ("127.0.0.1", 9001));
    assert_eq!(
        inet.credentials,
        Some(Credentials {
            username: "admin".into(),
            password: Password::Sha1Hex("82ab876d1387bfafe46cc1c8a2ef074eae50cb1d".into()),
        })
    );
    assert_eq!(
        c.supervisorctl.serverurl,
        format!("unix://{}", etc.join("supervisor.sock").display())
    );
    assert_eq!(c.supervisorctl.prompt, "mysup");
    // extra sections: expanded where possible, raw otherwise; rpcinterface:supervisor not kept.
    assert_eq!(c.extra_sections.len(), 1);
    let sv = c.extra_section("rpcinterface:supvisors").unwrap();
    assert_eq!(sv.file, path);
    let opts: Vec<(&str, &str)> = sv
        .options
        .iter()
        .map(|o| (o.key.as_str(), o.value.as_str()))
        .collect();
    assert_eq!(
        opts,
        [
            (
                "supervisor.rpcinterface_factory",
                "supvisors.plugin:make_supvisors_rpcinterface"
            ),
            ("supvisors_list", "node1,node2"),
            ("event_port", "8080"),
            ("odd", "100%"),
        ]
    );

    // groups in (priority, name) order: watch(-1), cron(10), web(10), backend(50)
    let names: Vec<&str> = c.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["watch", "cron", "web", "backend"]);
    assert!(
        c.group("worker").is_none(),
        "grouped programs lose their own group"
    );

    let web = proc_of(&c, "web", "web");
    assert_eq!(
        web.argv,
        [
            "/usr/bin/python3",
            "-m",
            "http.server",
            "8080",
            "--bind",
            "127.0.0.1"
        ]
    );
    assert_eq!(
        web.command,
        "/usr/bin/python3 -m http.server 8080 --bind \"127.0.0.1\""
    );
    assert_eq!(web.priority, 10);
    assert_eq!(web.autorestart, AutoRestart::True);
    assert_eq!(web.startsecs, 2);
    assert_eq!(web.stopsignal, 2);
    assert!(web.stopasgroup && web.killasgroup);
    assert_eq!(
        web.environment,
        vec![
            ("MODE".into(), "a,b".into()),
            ("TIER_COPY".into(), "prod".into())
        ]
    );
    assert_eq!(web.stdout.target, LogTarget::Path(etc.join("logs/web.out")));
    assert!(web.redirect_stderr);
    assert_eq!(web.stderr.target, LogTarget::None);
    assert_eq!(web.listener, None);

    let backend = c.group("backend").unwrap();
    assert_eq!(backend.kind, GroupKind::Heterogeneous);
    assert_eq!(backend.priority, 50);
    let workers: Vec<(&str, u32)> = backend
        .processes
        .iter()
        .map(|p| (p.name.as_str(), p.process_num))
        .collect();
    assert_eq!(
        workers,
        [("worker_01", 1), ("worker_02", 2), ("worker_03", 3)]
    );
    let w2 = proc_of(&c, "backend", "worker_02");
    assert_eq!(w2.group, "backend");
    assert_eq!(w2.program, "worker");
    assert_eq!(
        w2.argv,
        ["/bin/worker", "--id", "2", "--of", "3", "--mode", "fast"]
    );
    assert_eq!(w2.stdout.target, LogTarget::None);
    assert_eq!(w2.stderr.target, LogTarget::Auto);
    assert_eq!(w2.exitcodes, [0, 2]);

    let watch = c.group("watch").unwrap();
    assert_eq!(watch.kind, GroupKind::EventListenerPool);
    assert_eq!(watch.priority, -1);
    let l = watch.processes[0].listener.as_ref().unwrap();
    assert_eq!(l.events, ["PROCESS_STATE", "TICK_60"]);
    assert_eq!(l.buffer_size, 25);
    assert_eq!(l.result_handler, "supervisor.dispatchers:default_handler");

    // from the included file: here = the included file's directory
    let cron = proc_of(&c, "cron", "cron");
    assert_eq!(
        cron.argv,
        [
            "/bin/sh",
            "-c",
            &format!("echo {}", etc.join("conf.d").display())
        ]
    );
    assert!(!cron.autostart);

    // the glob that matched nothing is only a warning
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].message.contains("no file matches"));
}

#[test]
fn supervisord_defaults() {
    let c = ok(SD);
    let sd = &c.supervisord;
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(sd.logfile, cwd.join("supervisord.log"));
    assert!(!sd.logfile_syslog);
    assert_eq!(sd.logfile_maxbytes, 50 * 1024 * 1024);
    assert_eq!(sd.logfile_backups, 10);
    assert_eq!(sd.loglevel, LogLevel::Info);
    assert_eq!(sd.pidfile, cwd.join("supervisord.pid"));
    assert_eq!(sd.umask, 0o22);
    assert!(!sd.nodaemon && !sd.silent && !sd.nocleanup && !sd.strip_ansi);
    assert_eq!((sd.minfds, sd.minprocs), (1024, 200));
    assert_eq!(sd.childlogdir, std::env::temp_dir());
    assert_eq!(sd.user, None);
    assert_eq!(sd.directory, None);
    assert!(sd.environment.is_empty());
    assert_eq!(sd.identifier, "supervisor");
    assert!(c.inet_http_server.is_none() && c.unix_http_server.is_none());
    assert_eq!(
        c.supervisorctl,
        CtlSpec {
            serverurl: "http://localhost:9001".into(),
            username: None,
            password: None,
            prompt: "supervisor".into(),
            history_file: None,
            tls_ca: None,
        }
    );
    assert!(c.groups.is_empty() && c.extra_sections.is_empty());
}

#[test]
fn supervisord_every_key() {
    let c = ok("[supervisord]\nlogfile=syslog\nloglevel=WARNING\numask=077\nsilent=yes\nminfds=4096\nminprocs=10\nnocleanup=on\nchildlogdir=/tmp\nuser=root\ndirectory=/\nstrip_ansi=1\npidfile=/tmp/x.pid\nlogfile_backups=0\nlogfile_maxbytes=0\n");
    let sd = &c.supervisord;
    assert!(sd.logfile_syslog);
    assert_eq!(sd.loglevel, LogLevel::Warn);
    assert_eq!(sd.umask, 0o77);
    assert!(sd.silent && sd.nocleanup && sd.strip_ansi);
    assert_eq!((sd.minfds, sd.minprocs), (4096, 10));
    assert_eq!(sd.childlogdir, PathBuf::from("/tmp"));
    assert_eq!(sd.user.as_deref(), Some("root"));
    assert_eq!(sd.directory, Some(PathBuf::from("/")));
    assert_eq!(sd.pidfile, PathBuf::from("/tmp/x.pid"));
    assert_eq!((sd.logfile_backups, sd.logfile_maxbytes), (0, 0));

    let e = err("[supervisord]\nloglevel=loud\nchildlogdir=/no/such/dir\nuser=no_such_user_zz\npidfile=/no/such/dir/x.pid\n");
    assert_eq!(e.lines().count(), 4, "{e}");
    assert!(
        e.contains("DIR/s.conf:2: [supervisord] loglevel: \"loud\" is not a log level"),
        "{e}"
    );
    assert!(
        e.contains("DIR/s.conf:3: [supervisord] childlogdir:"),
        "{e}"
    );
    assert!(
        e.contains("DIR/s.conf:4: [supervisord] user: no such user"),
        "{e}"
    );
    assert!(
        e.contains(
            "DIR/s.conf:5: [supervisord] pidfile: the directory /no/such/dir does not exist"
        ),
        "{e}"
    );
}

#[test]
fn inet_server_port_forms_and_credentials() {
    for (port, host, num) in [
        ("localhost:9001", "localhost", 9001),
        (":9002", "", 9002),
        ("*:9003", "", 9003),
        ("9004", "", 9004),
        ("[::1]:9005", "::1", 9005),
    ] {
        let c = ok(&format!("{SD}[inet_http_server]\nport = {port}\n"));
        let inet = c.inet_http_server.unwrap();
        assert_eq!((inet.host.as_str(), inet.port), (host, num));
        assert_eq!(inet.credentials, None);
    }
    let c = ok(&format!(
        "{SD}[inet_http_server]\nport=9001\nusername=u\npassword=p\n"
    ));
    assert_eq!(
        c.inet_http_server.unwrap().credentials.unwrap().password,
        Password::Plain("p".into())
    );
    let e = err(&format!("{SD}[inet_http_server]\nusername=u\n"));
    assert!(
        e.contains("DIR/s.conf:2: [inet_http_server] incomplete authentication"),
        "{e}"
    );
    assert!(
        e.contains("DIR/s.conf:2: [inet_http_server] port: required"),
        "{e}"
    );
    let e = err(&format!("{SD}[inet_http_server]\nport=99999\n"));
    assert!(
        e.contains("DIR/s.conf:3: [inet_http_server] port: port 99999 is not in 1..65535"),
        "{e}"
    );
}

#[test]
fn http_servers_read_only_user_and_bounds() {
    let c = ok(&format!(
        "{SD}[inet_http_server]\nport=9001\nusername=u\npassword=p\n\
         readonly_username=v\nreadonly_password={{SHA}}82ab876d1387bfafe46cc1c8a2ef074eae50cb1d\n\
         max_connections=8\nrequest_timeout=3\n"
    ));
    let inet = c.inet_http_server.unwrap();
    let viewer = inet.read_only.unwrap();
    assert_eq!(viewer.username, "v");
    assert!(matches!(viewer.password, Password::Sha1Hex(_)));
    assert_eq!(
        inet.limits,
        model::HttpLimits {
            max_connections: 8,
            request_timeout_secs: 3
        }
    );
    let c = ok(&format!("{SD}[inet_http_server]\nport=9001\n"));
    let inet = c.inet_http_server.unwrap();
    assert_eq!(
        (inet.read_only, inet.limits),
        (None, model::HttpLimits::default())
    );
    for (extra, want) in [
        (
            "readonly_username=v\n",
            "incomplete authentication: readonly_username and",
        ),
        (
            "readonly_username=u\nreadonly_password=x\n",
            "readonly_username must differ from username",
        ),
        ("max_connections=0\n", "max_connections: 0 is out of range"),
        (
            "request_timeout=-1\n",
            "request_timeout: -1 is out of range",
        ),
    ] {
        let e = err(&format!(
            "{SD}[inet_http_server]\nport=9001\nusername=u\npassword=p\n{extra}"
        ));
        assert!(e.contains(want), "{extra}: {e}");
    }
    let e = err(&format!(
        "{SD}[inet_http_server]\nport=9001\nreadonly_username=v\nreadonly_password=w\n"
    ));
    assert!(
        e.contains("readonly_username needs username and password"),
        "{e}"
    );
}

#[test]
fn tls_on_the_inet_server_and_for_supervisorctl() {
    let c = ok(&format!(
        "{SD}[inet_http_server]\nport=9001\ntls_certificate=%(here)s/c.pem\ntls_key=k.pem\n\
         [supervisorctl]\nserverurl=https://h:9001\ntls_ca=%(here)s/ca.pem\n"
    ));
    let tls = c.inet_http_server.unwrap().tls.unwrap();
    assert!(tls.certificate.is_absolute() && tls.certificate.ends_with("c.pem"));
    assert!(tls.key.is_absolute() && tls.key.ends_with("k.pem"));
    assert_eq!(c.supervisorctl.serverurl, "https://h:9001");
    assert!(c.supervisorctl.tls_ca.unwrap().ends_with("ca.pem"));
    assert_eq!(
        ok(&format!("{SD}[inet_http_server]\nport=9001\n"))
            .inet_http_server
            .unwrap()
            .tls,
        None
    );
    for (extra, want) in [
        ("tls_certificate=c.pem\n", "tls_certificate needs tls_key"),
        ("tls_key=k.pem\n", "tls_key needs tls_certificate"),
    ] {
        let e = err(&format!("{SD}[inet_http_server]\nport=9001\n{extra}"));
        assert!(
            e.contains(&format!("[inet_http_server] {want}")),
            "{extra}: {e}"
        );
    }
}

#[test]
fn unix_server_and_supervisorctl() {
    let c = ok(&format!("{SD}[unix_http_server]\nfile=/tmp/a/../s.sock\nusername=u\npassword=p\n[supervisorctl]\nserverurl=http://h:1\nusername=u\npassword=p\nhistory_file=~/.hist\n"));
    let unix = c.unix_http_server.unwrap();
    assert_eq!(unix.file, PathBuf::from("/tmp/s.sock"));
    assert_eq!(unix.chmod, 0o700);
    assert_eq!(unix.chown, None);
    assert_eq!(unix.credentials.unwrap().username, "u");
    assert_eq!(c.supervisorctl.serverurl, "http://h:1");
    assert_eq!(c.supervisorctl.username.as_deref(), Some("u"));
    assert_eq!(
        c.supervisorctl.password.as_ref().map(model::Secret::expose),
        Some("p")
    );
    assert_eq!(
        c.supervisorctl.history_file,
        Some(PathBuf::from("/home/tester/.hist"))
    );

    let e = err(&format!(
        "{SD}[unix_http_server]\nchmod=999\nchown=nobody_zz\n[supervisorctl]\nserverurl=ftp://x\n"
    ));
    assert!(e.contains("[unix_http_server] file: required"), "{e}");
    assert!(e.contains("DIR/s.conf:3: [unix_http_server] chmod:"), "{e}");
    assert!(
        e.contains("DIR/s.conf:4: [unix_http_server] chown: no such user"),
        "{e}"
    );
    assert!(
        e.contains("DIR/s.conf:6: [supervisorctl] serverurl:"),
        "{e}"
    );
}

#[test]
fn program_defaults() {
    let c = ok(&format!("{SD}[program:cat]\ncommand=/bin/cat\n"));
    let g = c.group("cat").unwrap();
    assert_eq!((g.priority, &g.kind), (999, &GroupKind::Program));
    let expected_log = LogSpec {
        target: LogTarget::Auto,
        maxbytes: 50 << 20,
        backups: 10,
        capture_maxbytes: 0,
        events_enabled: false,
        syslog: false,
    };
    let expected = ProcessSpec {
        name: "cat".into(),
        group: "cat".into(),
        program: "cat".into(),
        command: "/bin/cat".into(),
        argv: vec!["/bin/cat".into()],
        process_num: 0,
        priority: 999,
        autostart: true,
        startsecs: 1,
        startretries: 3,
        autorestart: AutoRestart::Unexpected,
        exitcodes: vec![0],
        stopsignal: 15,
        stopwaitsecs: 10,
        stopasgroup: false,
        killasgroup: false,
        user: None,
        redirect_stderr: false,
        stdout: expected_log.clone(),
        stderr: expected_log,
        environment: vec![],
        directory: None,
        umask: None,
        serverurl: None,
        listener: None,
        survive_daemon: false,
    };
    assert_eq!(g.processes, vec![expected]);
}

#[test]
fn program_every_key() {
    let c = ok(&format!(
        "{SD}[program:p]\ncommand=/bin/p\nautostart=false\nstartretries=7\nautorestart=false\nexitcodes=1, 3\n\
         stopsignal=SIGHUP\nstopwaitsecs=30\nkillasgroup=true\nuser=root\nstdout_logfile_maxbytes=1KB\n\
         stdout_logfile_backups=2\nstdout_capture_maxbytes=1MB\nstdout_events_enabled=true\nstdout_syslog=true\n\
         stderr_logfile=off\nstderr_logfile_maxbytes=0\nstderr_logfile_backups=0\nstderr_capture_maxbytes=2KB\n\
         stderr_events_enabled=yes\nstderr_syslog=no\ndirectory=/tmp\numask=002\nserverurl=http://other:9\n"
    ));
    let p = proc_of(&c, "p", "p");
    assert!(!p.autostart);
    assert_eq!(p.startretries, 7);
    assert_eq!(p.autorestart, AutoRestart::False);
    assert_eq!(p.exitcodes, [1, 3]);
    assert_eq!(p.stopsignal, 1);
    assert_eq!(p.stopwaitsecs, 30);
    assert!(!p.stopasgroup && p.killasgroup);
    assert_eq!(p.user.as_deref(), Some("root"));
    assert_eq!(
        p.stdout,
        LogSpec {
            target: LogTarget::Auto,
            maxbytes: 1024,
            backups: 2,
            capture_maxbytes: 1 << 20,
            events_enabled: true,
            syslog: true
        }
    );
    assert_eq!(
        p.stderr,
        LogSpec {
            target: LogTarget::None,
            maxbytes: 0,
            backups: 0,
            capture_maxbytes: 2048,
            events_enabled: true,
            syslog: false
        }
    );
    assert_eq!(p.directory, Some(PathBuf::from("/tmp")));
    assert_eq!(p.umask, Some(0o2));
    assert_eq!(p.serverurl.as_deref(), Some("http://other:9"));

    let c = ok(&format!("{SD}[program:p]\ncommand=x\nserverurl=AUTO\n"));
    assert_eq!(proc_of(&c, "p", "p").serverurl, None);
}

#[test]
fn numprocs_expansion_and_process_name_rule() {
    let c = ok(&format!("{SD}[program:np]\ncommand=/bin/np %(process_num)d\nprocess_name=%(program_name)s_%(process_num)02d\nnumprocs=2\nstdout_logfile=/tmp/np-%(process_num)d.log\ndirectory=/tmp/%(process_num)d\n"));
    let g = c.group("np").unwrap();
    let got: Vec<(&str, &str, u32)> = g
        .processes
        .iter()
        .map(|p| (p.name.as_str(), p.argv[1].as_str(), p.process_num))
        .collect();
    assert_eq!(got, [("np_00", "0", 0), ("np_01", "1", 1)]);
    assert_eq!(
        g.processes[1].stdout.target,
        LogTarget::Path("/tmp/np-1.log".into())
    );
    assert_eq!(g.processes[1].directory, Some(PathBuf::from("/tmp/1")));

    let e = err(&format!("{SD}[program:np]\ncommand=x\nnumprocs=2\n"));
    assert!(e.contains("DIR/s.conf:2: [program:np] process_name: must contain %(process_num) when numprocs > 1"), "{e}");
    // Options read once per section cannot use process_num.
    let e = err(&format!(
        "{SD}[program:np]\ncommand=x\npriority=%(process_num)d\n"
    ));
    assert!(
        e.contains("DIR/s.conf:4: [program:np] priority: %(process_num) cannot be expanded"),
        "{e}"
    );
}

fn load_overridden(text: &str, overrides: &[(&str, u32)]) -> Result<Config, String> {
    let (dir, main) = write(&[("s.conf", text)]);
    let overrides: NumprocsOverrides = overrides.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    load_with_numprocs(&main, &ctx(), &overrides).map_err(|e| {
        e.to_string()
            .replace(&dir.path().display().to_string(), "DIR")
    })
}

fn names(c: &Config, group: &str) -> Vec<String> {
    c.group(group)
        .map(|g| g.processes.iter().map(|p| p.name.clone()).collect())
        .unwrap_or_default()
}

#[test]
fn numprocs_override_expands_more_or_fewer_processes_in_every_group_using_the_program() {
    let text = format!(
        "{SD}[program:w]\ncommand=/bin/w %(process_num)d of %(numprocs)d\nprocess_name=w_%(process_num)d\n\
         numprocs=2\nnumprocs_start=5\nstdout_logfile=/tmp/w-%(process_num)d.log\n\
         [program:solo]\ncommand=/bin/solo\n\
         [eventlistener:l]\ncommand=/bin/l\nevents=TICK_5\nprocess_name=l%(process_num)d\n"
    );
    let c = load_overridden(&text, &[("w", 4), ("l", 3)]).unwrap();
    assert_eq!(names(&c, "w"), ["w_5", "w_6", "w_7", "w_8"]);
    let last = proc_of(&c, "w", "w_8");
    assert_eq!(
        (last.process_num, last.command.as_str()),
        (8, "/bin/w 8 of 4")
    );
    assert_eq!(last.stdout.target, LogTarget::Path("/tmp/w-8.log".into()));
    assert_eq!(names(&c, "l"), ["l0", "l1", "l2"]);
    assert!(c
        .group("l")
        .unwrap()
        .processes
        .iter()
        .all(|p| p.listener.is_some()));
    assert_eq!(names(&c, "solo"), ["solo"]);

    // decrease keeps the lowest numbers; a heterogeneous group follows too
    let grouped = format!("{text}[group:g]\nprograms=w,solo\n");
    let c = load_overridden(&grouped, &[("w", 1)]).unwrap();
    assert_eq!(names(&c, "g"), ["solo", "w_5"]);
    assert!(c.group("w").is_none());

    // no override, or one for a program no section defines: the file's value
    let c = load_overridden(&text, &[("gone", 7)]).unwrap();
    assert_eq!(names(&c, "w"), ["w_5", "w_6"]);
}

#[test]
fn numprocs_override_above_one_needs_process_num_in_process_name() {
    let text = format!("{SD}[program:solo]\ncommand=/bin/solo\n");
    let e = load_overridden(&text, &[("solo", 2)]).unwrap_err();
    assert!(
        e.contains("DIR/s.conf:2: [program:solo] process_name: must contain %(process_num) when numprocs > 1"),
        "{e}"
    );
    let c = load_overridden(&text, &[("solo", 1)]).unwrap();
    assert_eq!(names(&c, "solo"), ["solo"]);
}

/// A typo such as `numprocs = 1397575180` (found by the INI fuzzer) built process
/// configurations for minutes before memory ran out: it is an error naming the line, at once.
#[test]
fn numprocs_above_the_limit_is_refused_in_the_file_and_as_an_override() {
    let text = format!(
        "{SD}[program:w]\ncommand=/bin/w\nprocess_name=w_%(process_num)d\nnumprocs=1397575180\n"
    );
    let started = std::time::Instant::now();
    let e = err(&text);
    assert!(
        e.contains("DIR/s.conf:5: [program:w] numprocs: 1397575180 is more than raftvisord's limit of 10000 processes per program"),
        "{e}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    let at_limit = text.replace("1397575180", "10000");
    let c = ok(&at_limit);
    assert_eq!(c.group("w").map(|g| g.processes.len()), Some(10_000));

    let e = load_overridden(&at_limit, &[("w", 10_001)]).unwrap_err();
    assert!(
        e.contains("[program:w] numprocs: 10001 is more than raftvisord's limit"),
        "{e}"
    );
}

#[test]
fn stopasgroup_implies_killasgroup_and_refuses_false() {
    let c = ok(&format!("{SD}[program:p]\ncommand=x\nstopasgroup=true\n"));
    let p = proc_of(&c, "p", "p");
    assert!(p.stopasgroup && p.killasgroup);
    let e = err(&format!(
        "{SD}[program:p]\ncommand=x\nstopasgroup=true\nkillasgroup=false\n"
    ));
    assert_eq!(
        e,
        "DIR/s.conf:5: [program:p] killasgroup: cannot be false when stopasgroup is true"
    );
}

#[test]
fn survive_daemon_is_a_per_program_boolean_off_by_default() {
    let c = ok(&format!(
        "{SD}[program:p]\ncommand=x\nsurvive_daemon=true\n[program:q]\ncommand=y\n\
         [eventlistener:l]\ncommand=z\nevents=TICK_5\nsurvive_daemon=yes\n"
    ));
    assert!(proc_of(&c, "p", "p").survive_daemon);
    assert!(!proc_of(&c, "q", "q").survive_daemon);
    assert!(proc_of(&c, "l", "l").survive_daemon);
    let e = err(&format!(
        "{SD}[program:p]\ncommand=x\nsurvive_daemon=sometimes\n"
    ));
    assert_eq!(
        e,
        "DIR/s.conf:4: [program:p] survive_daemon: \"sometimes\" is not a boolean \
         (use true/false, yes/no, on/off or 1/0)"
    );
}

#[test]
fn bad_values_are_all_reported_with_file_line_and_option() {
    let e = err(&format!(
        "{SD}[program:web]\ncommand=/bin/web\nstartsecs=abc\nexitcodes=0,300\nstopsignal=BOGUS\nautorestart=maybe\numask=9\nstdout_logfile_maxbytes=5TB\n"
    ));
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(
        lines,
        [
            "DIR/s.conf:7: [program:web] autorestart: \"maybe\" is not valid (use true, false or unexpected)",
            "DIR/s.conf:4: [program:web] startsecs: \"abc\" is not an integer",
            "DIR/s.conf:5: [program:web] exitcodes: exit code 300 is not in 0..255",
            "DIR/s.conf:6: [program:web] stopsignal: \"BOGUS\" is not a valid signal",
            "DIR/s.conf:8: [program:web] umask: \"9\" is not an octal number (e.g. 022)",
            "DIR/s.conf:9: [program:web] stdout_logfile_maxbytes: \"5TB\" is not a byte size (e.g. 1024, 50KB, 50MB, 1GB)",
        ]
    );
}

#[test]
fn log_targets() {
    let c = ok(&format!(
        "{SD}[program:a]\ncommand=x\nstdout_logfile=AUTO\nstderr_logfile=NONE\n\
         [program:b]\ncommand=x\nstdout_logfile=off\nstderr_logfile=~root/b.err\n\
         [program:c]\ncommand=x\nstdout_logfile=syslog\nstderr_logfile=/tmp/c.err\nredirect_stderr=true\n"
    ));
    let a = proc_of(&c, "a", "a");
    assert_eq!(
        (&a.stdout.target, &a.stderr.target),
        (&LogTarget::Auto, &LogTarget::None)
    );
    let b = proc_of(&c, "b", "b");
    assert_eq!(b.stdout.target, LogTarget::None);
    assert_eq!(b.stderr.target, LogTarget::Path("/root/b.err".into()));
    let cp = proc_of(&c, "c", "c");
    assert_eq!(cp.stdout.target, LogTarget::Syslog);
    assert!(cp.stdout.syslog);
    assert_eq!(
        cp.stderr.target,
        LogTarget::None,
        "redirect_stderr drops the stderr file"
    );

    let e = err(&format!(
        "{SD}[program:a]\ncommand=x\nstdout_logfile=/no/such/dir/a.log\n"
    ));
    assert_eq!(
        e,
        "DIR/s.conf:4: [program:a] stdout_logfile: the directory /no/such/dir does not exist"
    );
}

#[test]
fn environment_quotes_and_env_expansions() {
    let c = ok(
        "[supervisord]\nenvironment=GLOBAL=\"g1\",PORT_COPY=%(ENV_APP_PORT)s\n\
         [program:p]\ncommand=/bin/echo %(ENV_OWN)s %(ENV_GLOBAL)s %(ENV_HOME)s 100%%\n\
         environment=OWN=\"x,y\",\n  SECOND='two words'\n",
    );
    assert_eq!(
        c.supervisord.environment,
        vec![
            ("GLOBAL".into(), "g1".into()),
            ("PORT_COPY".into(), "8080".into())
        ]
    );
    let p = proc_of(&c, "p", "p");
    assert_eq!(
        p.environment,
        vec![
            ("OWN".into(), "x,y".into()),
            ("SECOND".into(), "two words".into())
        ]
    );
    assert_eq!(p.argv, ["/bin/echo", "x,y", "g1", "/home/tester", "100%"]);

    let e = err(&format!("{SD}[program:p]\ncommand=x\nenvironment=A=x@y\n"));
    assert!(
        e.starts_with("DIR/s.conf:4: [program:p] environment: unexpected end of key/value pairs"),
        "{e}"
    );
}

#[test]
fn unknown_expansion_name_lists_available_names() {
    let e = err(&format!("{SD}[program:p]\ncommand=/bin/%(ENV_NOPE)s\n"));
    assert_eq!(
        e,
        "DIR/s.conf:3: [program:p] command: %(ENV_NOPE) cannot be expanded; available names: \
         ENV_APP_PORT, ENV_HOME, group_name, here, host_node_name, numprocs, process_num, program_name"
    );
}

#[test]
fn program_and_group_names_and_host_expansion() {
    let c = ok(&format!("{SD}[group:g]\nprograms=p\n[program:p]\ncommand=/bin/%(group_name)s-%(program_name)s-%(host_node_name)s\n"));
    assert_eq!(proc_of(&c, "g", "p").argv, ["/bin/g-p-node1"]);
    for bad in [
        "[program:a b]",
        "[program:a/b]",
        "[program:]",
        "[group:x:y]",
    ] {
        let e = err(&format!("{SD}{bad}\ncommand=x\nprograms=a\n"));
        assert!(e.contains("DIR/s.conf:2: "), "{bad}: {e}");
    }
    let e = err(&format!("{SD}[program:p]\ncommand=x\nprocess_name=a b\n"));
    assert!(
        e.contains("[program:p] process_name: invalid name \"a b\""),
        "{e}"
    );
}

#[test]
fn heterogeneous_groups() {
    let c = ok(&format!(
        "{SD}[group:g]\nprograms=b, a\npriority=5\n[program:a]\ncommand=x\npriority=2\n[program:b]\ncommand=x\npriority=1\n[program:c]\ncommand=x\n"
    ));
    let names: Vec<&str> = c.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["g", "c"]);
    let g = c.group("g").unwrap();
    assert_eq!((g.priority, &g.kind), (5, &GroupKind::Heterogeneous));
    let procs: Vec<(&str, &str)> = g
        .processes
        .iter()
        .map(|p| (p.name.as_str(), p.group.as_str()))
        .collect();
    assert_eq!(procs, [("b", "g"), ("a", "g")]);

    let e = err(&format!(
        "{SD}[group:g]\nprograms=a,zz\n[program:a]\ncommand=x\n"
    ));
    assert_eq!(
        e,
        "DIR/s.conf:3: [group:g] programs: names unknown program or fcgi-program zz"
    );
    let e = err(&format!("{SD}[group:g]\npriority=1\n"));
    assert_eq!(
        e,
        "DIR/s.conf:2: [group:g] programs: required (a comma-separated list of [program:x] names)"
    );
    let e = err(&format!(
        "{SD}[group:a]\nprograms=b\n[program:a]\ncommand=x\n[program:b]\ncommand=y\n"
    ));
    assert!(
        e.contains("another section already defines the group \"a\""),
        "{e}"
    );
}

#[test]
fn eventlisteners() {
    let c = ok(&format!("{SD}[eventlistener:l]\ncommand=/bin/l\nevents=tick_5,PROCESS_LOG,EVENT\nresult_handler=my.mod:handler\nnumprocs=2\nprocess_name=l%(process_num)d\n"));
    let g = c.group("l").unwrap();
    assert_eq!(
        (&g.kind, g.priority, g.processes.len()),
        (&GroupKind::EventListenerPool, -1, 2)
    );
    // The pool starts first (-1) but its processes keep the usual 999, as in Supervisor.
    assert_eq!(g.processes[0].priority, 999);
    let l = g.processes[0].listener.clone().unwrap();
    assert_eq!(
        l,
        ListenerSpec {
            events: vec!["TICK_5".into(), "PROCESS_LOG".into(), "EVENT".into()],
            buffer_size: 10,
            result_handler: "my.mod:handler".into()
        }
    );

    let e = err(&format!(
        "{SD}[eventlistener:l]\ncommand=x\nevents=TICK_7\nbuffer_size=0\nredirect_stderr=true\n"
    ));
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 3, "{e}");
    assert!(
        lines[0].starts_with("DIR/s.conf:6: [eventlistener:l] redirect_stderr: is not allowed"),
        "{e}"
    );
    assert!(
        lines[1]
            .starts_with("DIR/s.conf:4: [eventlistener:l] events: unknown event type \"TICK_7\""),
        "{e}"
    );
    assert_eq!(
        lines[2],
        "DIR/s.conf:5: [eventlistener:l] buffer_size: 0 is out of range (1 or more)"
    );
    let e = err(&format!("{SD}[eventlistener:l]\ncommand=x\n"));
    assert_eq!(
        e,
        "DIR/s.conf:2: [eventlistener:l] events: required (e.g. events = PROCESS_STATE)"
    );
    let e = err(&format!("{SD}[program:p]\ncommand=x\nevents=TICK_5\n"));
    assert_eq!(
        e,
        "DIR/s.conf:4: [program:p] events: only valid in an [eventlistener:x] section"
    );
}

#[test]
fn includes_are_relative_sorted_and_not_nested() {
    let main = "[supervisord]\n[include]\nfiles = conf.d/*.conf %(ENV_APP_PORT)s.none\n";
    let (dir, path) = write(&[
        ("s.conf", main),
        ("conf.d/b.conf", "[program:p]\ncommand=/bin/b\n"),
        (
            "conf.d/a.conf",
            "[program:p]\ncommand=/bin/a\npriority=3\n[include]\nfiles=../nested/*.conf\n",
        ),
        ("conf.d/.hidden.conf", "[program:hidden]\ncommand=x\n"),
        ("nested/n.conf", "[program:nested]\ncommand=x\n"),
    ]);
    let (c, warnings) = load_with_warnings(&path, &ctx()).unwrap();
    // a.conf then b.conf: b's command wins, a's priority stays.
    let p = proc_of(&c, "p", "p");
    assert_eq!((p.command.as_str(), p.priority), ("/bin/b", 3));
    assert!(c.group("nested").is_none() && c.group("hidden").is_none());
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].file, path);
    assert_eq!(warnings[0].line, 3);
    assert!(warnings[0]
        .message
        .contains(&dir.path().join("8080.none").display().to_string()));

    // An error in an included file names that file and line.
    let (dir, path) = write(&[
        ("s.conf", "[supervisord]\n[include]\nfiles=x.ini\n"),
        ("x.ini", "[program:x]\ncommand=x\nbogus=1\n"),
    ]);
    let e = load_with(&path, &ctx()).unwrap_err();
    assert_eq!(e.problems.len(), 1);
    assert_eq!(e.problems[0].file, dir.path().join("x.ini"));
    assert_eq!(e.problems[0].line, 3);
    let e = err("[supervisord]\n[include]\n");
    assert_eq!(
        e,
        "DIR/s.conf:2: [include] files: required (whitespace-separated file globs)"
    );
}

#[test]
fn plugin_and_unknown_sections() {
    let c = ok(&format!(
        "{SD}[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\
         [ctlplugin:x]\nsupervisor.ctl_factory = x.ctl:make\npath=%(here)s/x\n[whatever]\nkey=%(nope)s\n"
    ));
    let names: Vec<&str> = c.extra_sections.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["ctlplugin:x", "whatever"]);
    let w = c.extra_section("whatever").unwrap();
    assert_eq!(
        (w.line, w.options[0].value.as_str(), w.options[0].line),
        (7, "%(nope)s", 8)
    );
    assert!(c.extra_section("ctlplugin:x").unwrap().options[1]
        .value
        .ends_with("/x"));

    let e = err(&format!("{SD}[rpcinterface:supervisor]\nfoo=1\n[rpcinterface:other]\nx=1\n[fcgi-program:f]\ncommand=x\n"));
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 4, "{e}");
    assert!(
        lines[0].starts_with("DIR/s.conf:3: [rpcinterface:supervisor] foo: unknown option"),
        "{e}"
    );
    assert_eq!(lines[1], "DIR/s.conf:2: [rpcinterface:supervisor] supervisor.rpcinterface_factory: required (package.module:callable)");
    assert_eq!(lines[2], "DIR/s.conf:4: [rpcinterface:other] supervisor.rpcinterface_factory: required (package.module:callable)");
    assert_eq!(
        lines[3],
        "DIR/s.conf:6: [fcgi-program:f] section requires a \"socket\" line"
    );
}

#[test]
fn unknown_keys_are_errors_but_defaults_are_not() {
    let e = err("[supervisord]\nlogfle=x\n[program:p]\ncommand=x\nautostrat=true\n");
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines[0].starts_with("DIR/s.conf:2: [supervisord] logfle: unknown option (known: logfile,"),
        "{e}"
    );
    assert!(
        lines[1].starts_with("DIR/s.conf:5: [program:p] autostrat: unknown option"),
        "{e}"
    );
    // [DEFAULT] keys are fallbacks for every section, never "unknown".
    let c = ok("[DEFAULT]\nautostart=false\n[supervisord]\n[program:p]\ncommand=x\n");
    assert!(!proc_of(&c, "p", "p").autostart);
}

#[test]
fn ini_syntax_end_to_end() {
    let c = ok("[supervisord]\nidentifier: a;b ;comment\n\n[program:p]\nCOMMAND = /bin/sh -c\n  'echo hi'\ncommand = /bin/true\n");
    assert_eq!(c.supervisord.identifier, "a;b");
    assert_eq!(proc_of(&c, "p", "p").argv, ["/bin/true"]);
    let c = ok("[supervisord]\n[program:p]\ncommand = /bin/sh -c\n  'echo hi'\n");
    assert_eq!(proc_of(&c, "p", "p").argv, ["/bin/sh", "-c", "echo hi"]);
}

#[test]
fn missing_unreadable_and_sectionless_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.conf");
    let e = load_with(&missing, &ctx()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}: could not find config file", missing.display())
    );
    let e = load_with(dir.path(), &ctx()).unwrap_err();
    assert!(
        e.to_string().starts_with(&format!(
            "{}: could not read config file",
            dir.path().display()
        )),
        "{e}"
    );
    let e = err("[program:p]\ncommand=x\n");
    assert_eq!(e, "DIR/s.conf: the [supervisord] section is missing");
}

#[test]
fn relative_paths_resolve_against_cwd_not_config() {
    // `here` is the way to be relative to the config file.
    let (dir, path) = write(&[("s.conf", "[supervisord]\npidfile=%(here)s/x.pid\n")]);
    let c = load_with(&path, &ctx()).unwrap();
    assert_eq!(c.supervisord.pidfile, dir.path().join("x.pid"));
    assert!(Path::new(&c.supervisord.logfile).is_absolute());
}

#[test]
fn fcgi_programs_are_programs_with_a_socket() {
    let c = ok(&format!(
        "{SD}[fcgi-program:web]\ncommand=/bin/web\nsocket=tcp://LOCALHOST:%(ENV_APP_PORT)s\nsocket_backlog=5\nnumprocs=2\nprocess_name=%(program_name)s_%(process_num)d\npriority=7\n\
         [fcgi-program:u]\ncommand=/bin/u\nsocket=unix:///tmp/%(program_name)s.sock\nsocket_mode=0666\nsocket_owner=0:0\n"
    ));
    let web = c.group("web").unwrap();
    assert_eq!(
        web.kind,
        GroupKind::FastCgi(model::FcgiSocket {
            endpoint: model::SocketEndpoint::Tcp {
                host: "localhost".into(),
                port: 8080
            },
            backlog: Some(5),
        })
    );
    assert_eq!(web.priority, 7);
    let names: Vec<&str> = web.processes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["web_0", "web_1"]);
    assert_eq!(web.processes[0].argv, ["/bin/web"]);
    let GroupKind::FastCgi(u) = &c.group("u").unwrap().kind else {
        panic!("u is not an fcgi group");
    };
    assert_eq!(u.url(), "unix:///tmp/u.sock");
    assert_eq!(
        u.endpoint,
        model::SocketEndpoint::Unix {
            path: "/tmp/u.sock".into(),
            uid: Some(0),
            gid: Some(0),
            mode: 0o666
        }
    );
    assert_eq!(u.backlog, None);
}

#[test]
fn fcgi_unix_socket_belongs_to_the_program_user_unless_that_is_the_daemons() {
    use nix::unistd::{getuid, User};
    let owner_with = |user: &str| {
        let c = ok(&format!(
            "{SD}[fcgi-program:u]\ncommand=/bin/u\nuser={user}\nsocket=unix:///tmp/u.sock\n"
        ));
        match &c.group("u").unwrap().kind {
            GroupKind::FastCgi(FcgiSocket {
                endpoint: SocketEndpoint::Unix { uid, gid, mode, .. },
                ..
            }) => (*uid, *gid, *mode),
            other => panic!("not an fcgi unix socket: {other:?}"),
        }
    };
    let me = User::from_uid(getuid())
        .unwrap()
        .expect("the test's own user");
    assert_eq!(owner_with(&me.name), (None, None, 0o700));
    let other = if getuid().is_root() { "nobody" } else { "root" };
    let them = User::from_name(other).unwrap().expect("a second user");
    assert_eq!(
        owner_with(other),
        (Some(them.uid.as_raw()), Some(them.gid.as_raw()), 0o700)
    );
}

#[test]
fn fcgi_socket_errors_are_supervisors() {
    let e = err(&format!(
        "{SD}[fcgi-program:a]\ncommand=x\nsocket=tcp://h:1\nsocket_mode=0600\n\
         [fcgi-program:b]\ncommand=x\nsocket=unix://rel.sock\nsocket_backlog=0\nsocket_owner=no_such_user_zz\n\
         [fcgi-program:c]\ncommand=x\nsocket=http://h:1\nsocket_mode=9\n\
         [program:p]\ncommand=x\nsocket=tcp://h:1\n"
    ));
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(
        lines,
        [
            "DIR/s.conf:4: [fcgi-program:a] socket: socket_owner and socket_mode params should only be used with a Unix domain socket",
            "DIR/s.conf:9: [fcgi-program:b] socket_backlog: Invalid socket_backlog value 0",
            "DIR/s.conf:10: [fcgi-program:b] socket_owner: Invalid socket_owner value no_such_user_zz",
            "DIR/s.conf:8: [fcgi-program:b] socket: Unix socket path rel.sock is not an absolute path",
            "DIR/s.conf:14: [fcgi-program:c] socket_mode: Invalid socket_mode value 9",
            "DIR/s.conf:13: [fcgi-program:c] socket: Bad socket format http://h:1",
            "DIR/s.conf:17: [program:p] socket: only valid in an [fcgi-program:x] section",
        ],
        "{e}"
    );
    let e = err(&format!(
        "{SD}[fcgi-program:c]\ncommand=x\nsocket=http://h:1\n"
    ));
    assert_eq!(
        e,
        "DIR/s.conf:4: [fcgi-program:c] socket: Bad socket format http://h:1"
    );
    let e = err(&format!(
        "{SD}[fcgi-program:b]\ncommand=x\nsocket=unix://rel.sock\n"
    ));
    assert_eq!(
        e,
        "DIR/s.conf:4: [fcgi-program:b] socket: Unix socket path rel.sock is not an absolute path"
    );
}

#[test]
fn fcgi_programs_in_a_group_are_plain_programs_of_it() {
    let c = ok(&format!(
        "{SD}[group:g]\nprograms=f,p\n[fcgi-program:f]\ncommand=x\nsocket=tcp://h:1\n[program:p]\ncommand=y\n"
    ));
    let names: Vec<&str> = c.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["g"]);
    let g = c.group("g").unwrap();
    assert_eq!(g.kind, GroupKind::Heterogeneous);
    assert_eq!(g.processes.len(), 2);
    let e = err(&format!(
        "{SD}[group:g]\nprograms=f\n[fcgi-program:f]\ncommand=x\nsocket=tcp://h:1\n[program:f]\ncommand=y\n"
    ));
    assert!(
        e.starts_with(
            "DIR/s.conf:3: [group:g] programs: name f is ambiguous (exists as program and fcgi-program)\n"
        ),
        "{e}"
    );
}
