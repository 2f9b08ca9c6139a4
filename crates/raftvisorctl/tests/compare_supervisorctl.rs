//! raftvisorctl against the real supervisorctl, both talking to the same real Python
//! supervisord: same stdout (after masking pids, uptimes and dates) and same exit status.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use testkit::supervisord::{supervisord_bin, venv_bin, Supervisord, PASS, USER};

/// Runs a client with `args` and returns (stdout, exit status). stdin is closed so an
/// unexpected interactive prompt ends at once instead of hanging the test.
fn run(bin: &Path, args: &[String]) -> (String, i32) {
    let out = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run client");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

/// Masks what legitimately differs between two runs a moment apart.
fn normalize(s: &str) -> String {
    s.lines()
        .map(|line| {
            if !line.is_empty() && line.chars().all(|c| c.is_ascii_digit()) {
                return "<N>".to_string();
            }
            // Python appends where an exception was raised: `...: file: /path.py line: 539`.
            let line = match (line.starts_with("error: "), line.rfind(": file: ")) {
                (true, Some(i)) => &line[..i],
                _ => line,
            };
            let mut out = String::new();
            let mut rest = line;
            while let Some(i) = rest.find("pid ") {
                out.push_str(&rest[..i]);
                let tail = &rest[i..];
                // "pid 123, uptime 0:00:01"
                match tail.find(", uptime ") {
                    Some(j) if tail[4..j].chars().all(|c| c.is_ascii_digit()) => {
                        let after = &tail[j + 9..];
                        let end = after
                            .find(|c: char| {
                                !(c.is_ascii_digit()
                                    || c == ':'
                                    || c == ','
                                    || c == ' '
                                    || c.is_ascii_alphabetic())
                            })
                            .unwrap_or(after.len());
                        out.push_str("pid <N>, uptime <U>");
                        rest = &after[end..];
                    }
                    _ => {
                        out.push_str("pid ");
                        rest = &tail[4..];
                    }
                }
            }
            out.push_str(rest);
            mask_date(&out)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `Nov 25 04:34 PM` → `<DATE>`.
fn mask_date(line: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    for m in MONTHS {
        if let Some(i) = line.find(&format!("{m} ")) {
            let tail = &line[i..];
            if tail.len() >= 15 && (tail.ends_with(" AM") || tail.ends_with(" PM")) {
                return format!("{}<DATE>", &line[..i]);
            }
        }
    }
    line.to_string()
}

#[test]
fn normalize_masks_volatile_parts() {
    assert_eq!(
        normalize("sleeper                          RUNNING   pid 4242, uptime 0:00:03\n4242\nmanual                           STOPPED   Nov 25 04:34 PM"),
        "sleeper                          RUNNING   pid <N>, uptime <U>\n<N>\nmanual                           STOPPED   <DATE>"
    );
}

#[tokio::test]
async fn output_and_exit_status_match_supervisorctl() {
    let (sd, real) = (supervisord_bin(), venv_bin("supervisorctl"));
    let ours = PathBuf::from(env!("CARGO_BIN_EXE_raftvisorctl"));
    let mut sup = Supervisord::start(&sd);
    sup.wait_up().await;
    let conf = sup.conf_path().display().to_string();
    let c = client::Client::builder(&sup.url)
        .credentials(USER, PASS)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    // Give `manual` some log output for the tail comparisons.
    c.start_process("manual", true).await.unwrap();

    let with_conf = |cmd: &[&str]| -> Vec<String> {
        let mut v = vec!["-c".to_string(), conf.clone()];
        v.extend(cmd.iter().map(|s| s.to_string()));
        v
    };
    let mut mismatches = Vec::new();
    let mut compare = |args: Vec<String>, reset: &dyn Fn()| {
        let (real_out, real_rc) = run(&real, &args);
        reset();
        let (our_out, our_rc) = run(&ours, &args);
        reset();
        let (a, b) = (normalize(&real_out), normalize(&our_out));
        if a != b || real_rc != our_rc {
            mismatches.push(format!(
                "args {args:?}\n--- supervisorctl (rc {real_rc})\n{real_out}\n--- raftvisorctl (rc {our_rc})\n{our_out}"
            ));
        }
    };
    let none = || {};
    // Resets use the Python supervisorctl so they never depend on the code under test.
    let ctl = |cmd: &[&str]| {
        let _ = run(&real, &with_conf(cmd));
    };

    for cmd in [
        vec!["status"],
        vec!["status", "all"],
        vec!["status", "sleeper"],
        vec!["status", "sleeper", "manual"],
        vec!["status", "np:*"],
        vec!["status", "nosuch"],
        vec!["status", "nosuch:*"],
        vec!["status", "np:nosuch"],
        vec!["pid"],
        vec!["pid", "sleeper"],
        vec!["pid", "quick"],
        vec!["pid", "all"],
        vec!["pid", "nosuch"],
        vec!["avail"],
        vec!["reread"],
        vec!["update"],
        vec!["version"],
        vec!["version", "x"],
        vec!["tail", "manual"],
        vec!["tail", "manual", "stderr"],
        vec!["tail", "-5", "manual"],
        vec!["tail", "nosuch"],
        vec!["tail", "manual", "bogus"],
        vec!["tail"],
        vec!["tail", "-x", "manual"],
        vec!["signal", "CONT", "sleeper"],
        vec!["signal", "BOGUS", "sleeper"],
        vec!["signal", "CONT", "quick"],
        vec!["signal", "CONT", "nosuch"],
        vec!["signal", "CONT", "nosuch:*"],
        vec!["signal", "CONT"],
        vec!["start"],
        vec!["start", "nosuch"],
        vec!["start", "nosuch:*"],
        vec!["start", "manual"],
        vec!["start", "quick"],
        vec!["stop", "quick"],
        vec!["stop", "nosuch"],
        vec!["restart", "sleeper"],
        vec!["help"],
        vec!["help", "tail"],
        vec!["help", "nosuch"],
        vec!["nosuch"],
        vec!["clear", "manual"],
        // `fg`'s refusals (its foreground mode is compared in tests/test_differential.py).
        vec!["fg"],
        vec!["fg", "sleeper", "manual"],
        vec!["fg", "nosuch"],
        vec!["fg", "quick"],
        vec!["help", "fg"],
    ] {
        compare(with_conf(&cmd), &none);
    }
    // Commands that change state: reset between the two runs so both start from the same state.
    compare(with_conf(&["stop", "sleeper"]), &|| {
        ctl(&["start", "sleeper"])
    });
    compare(with_conf(&["start", "np:*"]), &|| ctl(&["stop", "np:*"]));
    compare(with_conf(&["start", "np:np_00", "manual"]), &|| {
        ctl(&["stop", "np:np_00"])
    });
    compare(with_conf(&["stop", "manual"]), &|| {
        ctl(&["start", "manual"])
    });

    // URL and credentials from the command line; unix socket; refused connection; 401.
    let unix = format!("unix://{}", sup.socket.display());
    compare(
        vec!["-s".into(), unix.clone(), "status".into(), "sleeper".into()],
        &none,
    );
    compare(
        vec![
            "-s".into(),
            sup.url.clone(),
            "-u".into(),
            USER.into(),
            "-p".into(),
            PASS.into(),
            "pid".into(),
            "nosuch".into(),
        ],
        &none,
    );
    compare(vec!["-s".into(), sup.url.clone(), "status".into()], &none);
    compare(
        vec![
            "-s".into(),
            sup.url.clone(),
            "start".into(),
            "manual".into(),
        ],
        &none,
    );
    let refused = format!("http://127.0.0.1:{}", testkit::supervisord::free_port());
    compare(vec!["-s".into(), refused.clone(), "status".into()], &none);
    compare(
        vec!["-s".into(), refused.clone(), "start".into(), "x".into()],
        &none,
    );
    compare(vec!["-s".into(), refused, "shutdown".into()], &none);

    // Interactive shell on a closed stdin: status first, then the prompt and EOF.
    compare(with_conf(&[]), &none);

    // Sanity: the comparisons above talked to a live daemon.
    let (out, rc) = run(&ours, &with_conf(&["status", "sleeper"]));
    assert!(
        out.starts_with("sleeper ") && out.contains("RUNNING   pid "),
        "{out}"
    );
    assert_eq!(rc, 0);

    // tail -f streams the log until interrupted.
    let mut follow = Command::new(&ours)
        .args(with_conf(&["tail", "-f", "manual"]))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn tail -f");
    let mut stdout = follow.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&seen).contains("hello-out") {
                break;
            }
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !reader.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(follow.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = follow.wait();
    let seen = reader.join().expect("reader thread");
    assert!(
        seen.starts_with("==> Press Ctrl-C to exit <==\n") && seen.contains("hello-out"),
        "{seen:?}"
    );

    // Finally shutdown through raftvisorctl itself.
    let (out, rc) = run(&ours, &with_conf(&["shutdown"]));
    assert_eq!((out.as_str(), rc), ("Shut down\n", 0));
    assert!(
        sup.wait_exit(Duration::from_secs(20)),
        "supervisord still running after shutdown"
    );

    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n\n{}",
        mismatches.len(),
        mismatches.join("\n\n")
    );
}
