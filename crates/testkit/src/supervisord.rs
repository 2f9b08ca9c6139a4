//! Starts a real Python supervisord (from the workspace venv) on a free port with a temp config,
//! and guarantees it is gone when the guard drops.

use base64::Engine;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub const USER: &str = "user";
pub const PASS: &str = "s3cret";

/// The Python venv with the real Supervisor 4.3: `$RAFTVISOR_VENV`, else the workspace's
/// `.venv` (both made by `scripts/setup-python.sh`, which `scripts/test.sh` runs first).
pub fn venv_dir() -> PathBuf {
    match std::env::var_os("RAFTVISOR_VENV") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv"),
    }
}

/// `name` from the venv's `bin/`. A missing venv fails the test with what to run: a test that
/// cannot reach the reference implementation must not pass by skipping its checks.
pub fn venv_bin(name: &str) -> PathBuf {
    let p = venv_dir().join("bin").join(name);
    assert!(
        p.exists(),
        "{} not found: run scripts/setup-python.sh (or set RAFTVISOR_VENV to a venv with supervisor==4.3.0); \
         this test compares against the real Supervisor and cannot run without it",
        p.display()
    );
    p
}

/// The venv's supervisord; fails the test when it is missing (see [`venv_bin`]).
pub fn supervisord_bin() -> PathBuf {
    venv_bin("supervisord")
}

/// Ports [`free_port`] has handed out in this process: they stay free until their daemon binds
/// them, and the tests of one binary run in parallel drawing from the same start.
static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// `n` distinct ports, each as [`free_port`] gives them.
pub fn free_ports(n: usize) -> Vec<u16> {
    (0..n).map(|_| free_port()).collect()
}

/// A TCP port free on 127.0.0.1 right now, drawn at random outside the kernel's ephemeral range:
/// a port from bind(0) is one the kernel also gives to any process's next outgoing connection,
/// so it could be taken before the daemon binds it (the Python tests' harness does the same).
/// Never the same port twice in one process.
pub fn free_port() -> u16 {
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let port = pick_port(&handed_out);
    handed_out.insert(port);
    port
}

fn pick_port(handed_out: &std::collections::BTreeSet<u16>) -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let (lo, hi) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| {
            let mut it = t.split_whitespace().map(|n| n.parse::<u32>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32768, 60999));
    let pool: Vec<u16> = (10000u32..65536)
        .filter(|p| !(lo..=hi).contains(p))
        .filter_map(|p| u16::try_from(p).ok())
        .collect();
    if !pool.is_empty() {
        // RandomState is seeded per process: concurrent test binaries start at different ports.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        let start = (h.finish() % pool.len() as u64) as usize;
        for i in 0..pool.len() {
            let port = pool[(start + i * 7919) % pool.len()];
            if !handed_out.contains(&port)
                && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
            {
                return port;
            }
        }
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

pub struct Supervisord {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub url: String,
    pub socket: PathBuf,
}

pub const PROGRAMS: &str = r#"
[program:sleeper]
command=sleep 600
autostart=true
startsecs=0
stopwaitsecs=5

[program:manual]
command=sh -c "echo hello-out; echo hello-err >&2; exec sleep 600"
autostart=false
startsecs=1
stopwaitsecs=5

[program:quick]
command=sh -c "exit 3"
autostart=false
startsecs=1
startretries=0

[program:np]
command=sleep 600
numprocs=2
process_name=%(program_name)s_%(process_num)02d
autostart=false
startsecs=0
"#;

impl Supervisord {
    /// Writes the config (inet server with auth, unix server without) and starts the daemon
    /// in the foreground. Does not wait for it; call `wait_up`.
    pub fn start(bin: &Path) -> Supervisord {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let socket = dir.path().join("s.sock");
        let d = dir.path().display();
        let conf = format!(
            "[supervisord]\nnodaemon=true\nlogfile={d}/supervisord.log\npidfile={d}/supervisord.pid\n\
             childlogdir={d}\nidentifier=testsup\n\n\
             [inet_http_server]\nport=127.0.0.1:{port}\nusername={USER}\npassword={PASS}\n\n\
             [unix_http_server]\nfile={}\n\n\
             [rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n\
             [supervisorctl]\nserverurl=http://127.0.0.1:{port}\nusername={USER}\npassword={PASS}\n\
             {PROGRAMS}",
            socket.display()
        );
        let conf_path = dir.path().join("supervisord.conf");
        std::fs::write(&conf_path, conf).expect("write config");
        let child = Command::new(bin)
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn supervisord");
        Supervisord {
            child,
            dir,
            url: format!("http://127.0.0.1:{port}"),
            socket,
        }
    }

    pub fn conf_path(&self) -> PathBuf {
        self.dir.path().join("supervisord.conf")
    }

    /// Polls `getProcessInfo('sleeper')` over plain HTTP until it is RUNNING (a raw request, so
    /// this helper does not depend on the client crate under test).
    pub async fn wait_up(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("supervisord exited early: {status}");
            }
            if self.probe_sleeper_running() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "supervisord did not come up in 20 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn probe_sleeper_running(&self) -> bool {
        let Some(addr) = self.url.strip_prefix("http://") else {
            return false;
        };
        let Ok(mut stream) = TcpStream::connect(addr) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let body = "<?xml version='1.0'?><methodCall><methodName>supervisor.getProcessInfo</methodName>\
                    <params><param><value><string>sleeper</string></value></param></params></methodCall>";
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASS}"));
        let request = format!(
            "POST /RPC2 HTTP/1.0\r\nHost: {addr}\r\nContent-Type: text/xml\r\n\
             Authorization: Basic {auth}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let mut reply = String::new();
        stream.write_all(request.as_bytes()).is_ok()
            && stream.read_to_string(&mut reply).is_ok()
            && reply.contains("<string>RUNNING</string>")
    }

    /// Waits for the daemon to exit (after a shutdown request).
    pub fn wait_exit(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Supervisord {
    /// TERM first so supervisord stops its children, KILL if it does not exit in time.
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let pid = Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        if !self.wait_exit(Duration::from_secs(15)) {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}
