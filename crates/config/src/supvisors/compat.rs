//! Supvisors options that raftvisor accepts so that existing files load unchanged, but that do
//! not change its behaviour. Each is checked as Supvisors would check it (a wrong value is still
//! an error: the same file must keep working with Supvisors) and produces a note saying why it
//! does not apply. Pure.

use crate::values::{list_of_strings, parse_bool, parse_bytes, parse_int, parse_loglevel};

/// An accepted-but-unused option: its name, why it does not apply, and its value check.
pub(crate) struct Ignored {
    pub key: &'static str,
    pub why: &'static str,
    pub check: fn(&str) -> Result<(), String>,
}

const LOG: &str = "raftvisor logs the cluster layer to the supervisord log ([supervisord] \
                   logfile, logfile_maxbytes, logfile_backups, loglevel)";
const MULTICAST: &str = "raftvisor has no discovery mode: Raft needs a fixed voter set, so every \
                         instance must be listed in supvisors_list";
const UI: &str = "raftvisor's dashboard is its own (a live page served at / with no style, \
                  name or tail length to configure), so this Supvisors web UI setting has \
                  nothing to configure";

pub(crate) const IGNORED: &[Ignored] = &[
    Ignored {
        key: "logfile",
        why: LOG,
        check: any,
    },
    Ignored {
        key: "logfile_maxbytes",
        why: LOG,
        check: bytes,
    },
    Ignored {
        key: "logfile_backups",
        why: LOG,
        check: non_negative,
    },
    Ignored {
        key: "loglevel",
        why: LOG,
        check: loglevel,
    },
    Ignored {
        key: "tail_limit",
        why: UI,
        check: bytes,
    },
    Ignored {
        key: "tailf_limit",
        why: UI,
        check: bytes,
    },
    Ignored {
        key: "software_name",
        why: UI,
        check: any,
    },
    Ignored {
        key: "software_icon",
        why: UI,
        check: any,
    },
    Ignored {
        key: "css_files",
        why: UI,
        check: any,
    },
    Ignored {
        key: "multicast_group",
        why: MULTICAST,
        check: multicast_group,
    },
    Ignored {
        key: "multicast_interface",
        why: MULTICAST,
        check: any,
    },
    Ignored {
        key: "multicast_ttl",
        why: MULTICAST,
        check: ttl,
    },
    Ignored {
        key: "stereotypes",
        why: "stereotypes are not supported: name instances by their identifier in \
              core_identifiers and in rules files",
        check: any,
    },
    Ignored {
        key: "synchro_options",
        why: "synchronization is driven by Raft (a leader with a quorum), not by the \
              STRICT/LIST/TIMEOUT/CORE/USER conditions",
        check: synchro_options,
    },
    Ignored {
        key: "supvisors_failure_strategy",
        why: "losing the quorum is handled by Raft and fencing (fencing_timeout_ms), not by \
              CONTINUE/RESYNC/SHUTDOWN",
        check: failure_strategy,
    },
];

fn any(_: &str) -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
fn boolean(t: &str) -> Result<(), String> {
    parse_bool(t).map(drop)
}

fn bytes(t: &str) -> Result<(), String> {
    parse_bytes(t).map(drop)
}

fn loglevel(t: &str) -> Result<(), String> {
    parse_loglevel(t).map(drop)
}

fn int_in(t: &str, lo: i64, hi: i64) -> Result<(), String> {
    let n = parse_int(t)?;
    if (lo..=hi).contains(&n) {
        Ok(())
    } else {
        Err(format!("{n} is not in {lo}..{hi}"))
    }
}

fn non_negative(t: &str) -> Result<(), String> {
    int_in(t, 0, i64::MAX)
}

/// Supvisors' `to_port_num`: 0 (= derive from the HTTP port) to 65535.
pub(crate) fn port_or_zero(t: &str) -> Result<(), String> {
    int_in(t, 0, 65535)
}

pub(crate) fn stats_histo(t: &str) -> Result<(), String> {
    int_in(t, 10, 1500)
}

fn ttl(t: &str) -> Result<(), String> {
    int_in(t, 0, 255)
}

/// A number (integer or, from 0.16, decimal) in `lo..=hi`.
fn number_in(t: &str, lo: f64, hi: f64) -> Result<(), String> {
    match t.trim().parse::<f64>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(()),
        Ok(_) => Err(format!("{t:?} is not in {lo}..{hi}")),
        Err(_) => Err(format!("{t:?} is not a number")),
    }
}

pub(crate) fn collecting_period(t: &str) -> Result<(), String> {
    number_in(t, 1.0, 3600.0)
}

/// 0.14: 1 to 3 integers; 0.16+: 1 to 3 numbers in 1..3600 (the looser rule is checked).
pub(crate) fn stats_periods(t: &str) -> Result<(), String> {
    let items = list_of_strings(t);
    if items.is_empty() || items.len() > 3 {
        return Err(format!("{t:?} must be 1 to 3 periods"));
    }
    items.iter().try_for_each(|i| number_in(i, 1.0, 3600.0))
}

fn one_of(t: &str, names: &[&str]) -> Result<(), String> {
    if names.iter().any(|n| n.eq_ignore_ascii_case(t.trim())) {
        Ok(())
    } else {
        Err(format!("{t:?} is not one of {}", names.join(", ")))
    }
}

/// 0.14 boolean, or 0.16+ `OFF|HOST|PROCESS|ALL`.
pub(crate) fn stats_enabled(t: &str) -> Result<(), String> {
    parse_bool(t)
        .map(drop)
        .or_else(|_| one_of(t, &["OFF", "HOST", "PROCESS", "ALL"]))
        .map_err(|_| format!("{t:?} is not a boolean nor one of OFF, HOST, PROCESS, ALL"))
}

pub(crate) fn event_link(t: &str) -> Result<(), String> {
    one_of(t, &["NONE", "ZMQ", "WS"])
}

fn failure_strategy(t: &str) -> Result<(), String> {
    one_of(t, &["CONTINUE", "RESYNC", "SHUTDOWN"])
}

fn synchro_options(t: &str) -> Result<(), String> {
    list_of_strings(t)
        .iter()
        .filter(|s| !s.is_empty())
        .try_for_each(|s| one_of(s, &["STRICT", "LIST", "TIMEOUT", "CORE", "USER"]))
}

/// `ip:port` with a multicast IPv4 address.
fn multicast_group(t: &str) -> Result<(), String> {
    let bad = || format!("{t:?} is not a multicast ip:port (e.g. 239.0.0.1:7777)");
    let (ip, port) = t.trim().rsplit_once(':').ok_or_else(bad)?;
    let ip: std::net::Ipv4Addr = ip.parse().map_err(|_| bad())?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if ip.is_multicast() && port > 0 {
        Ok(())
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(key: &str, value: &str) -> Result<(), String> {
        let honoured: fn(&str) -> Result<(), String> = match key {
            "stats_enabled" => stats_enabled,
            "stats_periods" => stats_periods,
            "stats_histo" => stats_histo,
            "stats_irix_mode" => boolean,
            "stats_collecting_period" => collecting_period,
            _ => IGNORED
                .iter()
                .find(|i| i.key == key)
                .map_or(any, |i| i.check),
        };
        honoured(value)
    }

    #[test]
    fn values_are_checked_like_supvisors() {
        // Honoured since the event interface and the statistics, but checked here as before.
        assert!(port_or_zero("0").is_ok() && port_or_zero("65536").is_err());
        assert!(event_link("ws").is_ok() && event_link("HTTP").is_err());
        for (key, good, bad) in [
            ("stats_enabled", "PROCESS", "sometimes"),
            ("stats_enabled", "false", "2"),
            ("stats_periods", "5, 60, 600", "5,10,20,30"),
            ("stats_periods", "2.5", "0"),
            ("stats_histo", "200", "5"),
            ("stats_irix_mode", "yes", "irix"),
            ("stats_collecting_period", "5", "3601"),
            ("logfile_maxbytes", "10MB", "ten"),
            ("logfile_backups", "0", "-1"),
            ("loglevel", "debug", "loud"),
            ("tail_limit", "1KB", "1TB"),
            ("multicast_group", "239.0.0.1:7777", "10.0.0.1:7777"),
            ("multicast_ttl", "1", "256"),
            ("synchro_options", "STRICT,timeout", "FAST"),
            ("supvisors_failure_strategy", "RESYNC", "PANIC"),
        ] {
            assert_eq!(check(key, good), Ok(()), "{key}={good}");
            assert!(check(key, bad).is_err(), "{key}={bad}");
        }
        assert_eq!(check("logfile", "AUTO"), Ok(()));
    }

    #[test]
    fn every_ignored_option_says_why() {
        for i in IGNORED {
            assert!(i.why.len() > 20, "{}", i.key);
        }
    }
}
