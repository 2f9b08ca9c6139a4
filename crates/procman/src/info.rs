//! The read-only views: `getProcessInfo`'s `description` text and `getAllConfigInfo`'s structs.

use crate::api::{ConfigInfo, ConfigValue};
use model::{LogTarget, ProcessSpec, ProcessState};
use std::path::Path;

/// Supervisor's `_interpretProcessInfo` description.
pub fn description(
    state: ProcessState,
    name: &str,
    pid: i32,
    start: i64,
    stop: i64,
    now: i64,
    spawnerr: &str,
) -> String {
    match state {
        ProcessState::Running => {
            format!(
                "pid {pid}, uptime {}",
                model::text::format_uptime(now - start)
            )
        }
        ProcessState::Fatal | ProcessState::Backoff => {
            if spawnerr.is_empty() {
                format!("unknown error (try \"tail {name}\")")
            } else {
                spawnerr.to_string()
            }
        }
        ProcessState::Stopped | ProcessState::Exited => {
            if start == 0 {
                "Not started".into()
            } else {
                use chrono::TimeZone;
                match chrono::Local.timestamp_opt(stop, 0).single() {
                    Some(t) => t.format("%b %d %I:%M %p").to_string(),
                    None => String::new(),
                }
            }
        }
        _ => String::new(),
    }
}

fn logfile_value(target: &LogTarget, resolved: Option<&Path>) -> ConfigValue {
    match (resolved, target) {
        (Some(p), _) => ConfigValue::Str(p.display().to_string()),
        (None, LogTarget::Auto) => ConfigValue::Str("auto".into()),
        (None, LogTarget::Path(p)) => ConfigValue::Str(p.display().to_string()),
        (None, LogTarget::None | LogTarget::Syslog) => ConfigValue::Str("none".into()),
    }
}

fn uid_of(user: Option<&str>) -> ConfigValue {
    let uid = user.and_then(|u| match u.parse::<u32>() {
        Ok(n) => Some(n),
        Err(_) => nix::unistd::User::from_name(u)
            .ok()
            .flatten()
            .map(|u| u.uid.as_raw()),
    });
    match uid {
        Some(n) => ConfigValue::Int(i64::from(n)),
        None => ConfigValue::Str("none".into()),
    }
}

/// One `getAllConfigInfo` struct. `stdout`/`stderr` are the resolved paths of an active process
/// (AUTO names exist only once the group is active).
pub fn config_info(
    spec: &ProcessSpec,
    group_prio: i32,
    inuse: bool,
    stdout: Option<&Path>,
    stderr: Option<&Path>,
) -> ConfigInfo {
    use ConfigValue::*;
    let stderr_target = if spec.redirect_stderr {
        &LogTarget::None
    } else {
        &spec.stderr.target
    };
    vec![
        ("autostart", Bool(spec.autostart)),
        (
            "directory",
            Str(spec
                .directory
                .as_ref()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|| "none".into())),
        ),
        ("uid", uid_of(spec.user.as_deref())),
        ("command", Str(spec.command.clone())),
        ("exitcodes", IntList(spec.exitcodes.clone())),
        ("group", Str(spec.group.clone())),
        ("group_prio", Int(i64::from(group_prio))),
        ("inuse", Bool(inuse)),
        ("killasgroup", Bool(spec.killasgroup)),
        ("name", Str(spec.name.clone())),
        ("process_prio", Int(i64::from(spec.priority))),
        ("redirect_stderr", Bool(spec.redirect_stderr)),
        ("startretries", Int(i64::from(spec.startretries))),
        ("startsecs", Int(i64::from(spec.startsecs))),
        (
            "stdout_capture_maxbytes",
            Int(spec.stdout.capture_maxbytes as i64),
        ),
        ("stdout_events_enabled", Bool(spec.stdout.events_enabled)),
        ("stdout_logfile", logfile_value(&spec.stdout.target, stdout)),
        (
            "stdout_logfile_backups",
            Int(i64::from(spec.stdout.backups)),
        ),
        ("stdout_logfile_maxbytes", Int(spec.stdout.maxbytes as i64)),
        ("stdout_syslog", Bool(spec.stdout.syslog)),
        ("stopsignal", Int(i64::from(spec.stopsignal))),
        ("stopwaitsecs", Int(i64::from(spec.stopwaitsecs))),
        (
            "stderr_capture_maxbytes",
            Int(spec.stderr.capture_maxbytes as i64),
        ),
        ("stderr_events_enabled", Bool(spec.stderr.events_enabled)),
        ("stderr_logfile", logfile_value(stderr_target, stderr)),
        (
            "stderr_logfile_backups",
            Int(i64::from(spec.stderr.backups)),
        ),
        ("stderr_logfile_maxbytes", Int(spec.stderr.maxbytes as i64)),
        ("stderr_syslog", Bool(spec.stderr.syslog)),
        (
            "serverurl",
            Str(spec.serverurl.clone().unwrap_or_else(|| "none".into())),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions() {
        assert_eq!(
            description(ProcessState::Running, "a", 10721, 100, 135, 135, ""),
            "pid 10721, uptime 0:00:35"
        );
        assert_eq!(
            description(ProcessState::Fatal, "a", 0, 100, 0, 135, ""),
            "unknown error (try \"tail a\")"
        );
        assert_eq!(
            description(
                ProcessState::Backoff,
                "a",
                0,
                100,
                0,
                135,
                "Exited too quickly (process log may have details)"
            ),
            "Exited too quickly (process log may have details)"
        );
        assert_eq!(
            description(ProcessState::Stopped, "a", 0, 0, 0, 135, ""),
            "Not started"
        );
        let d = description(ProcessState::Exited, "a", 0, 100, 1_700_000_000, 135, "");
        assert!(d.ends_with("AM") || d.ends_with("PM"), "{d}");
        assert_eq!(description(ProcessState::Stopping, "a", 1, 1, 0, 5, ""), "");
    }
}
