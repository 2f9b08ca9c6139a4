//! The `[rpcinterface:supvisors]` section, resolved into [`SupvisorsSpec`]: the cluster layer's
//! configuration.
//!
//! The loader keeps that section verbatim in [`Config::extra_sections`] (values already expanded
//! for `%(here)s`, `%(host_node_name)s` and `%(ENV_X)s`); [`resolve`] interprets it. A Supvisors
//! 0.14 file loads unchanged: every 0.14 option and the later ones are accepted; those that make
//! no sense with Raft become [`SupvisorsSpec::notes`] saying why, never silently misread.
//! raftvisor adds its own options (secret, data directory, Raft and liveness timings).
//! `crates/config/SUPVISORS_OPTIONS.md` documents every option.
//!
//! ```text
//! RawSection ──▶ supvisors_list items ──▶ instances (ports completed, clashes checked)
//!                                          ├─▶ local instance (identifier, else host + http port)
//!                                          ├─▶ voters (core_identifiers, else first 5)
//!                                          └─▶ secret rule (loopback-only clusters may omit it)
//!            ──▶ timings, strategies, files, ignored options (notes) ──▶ SupvisorsSpec
//! ```
//!
//! The only I/O: interface addresses and host name ([`LocalHost::from_system`], used by
//! [`resolve`]), expanding `rules_files` globs, reading `cluster_secret_file`, and checking that
//! the directory of `disabilities_file` exists (checked as Supvisors does, then unused: a note
//! says so). The rules files themselves are not read here.

mod compat;
mod list;
mod local;
mod section;
#[cfg(test)]
mod tests;

pub use local::LocalHost;

use crate::error::{ConfigError, Problems};
use crate::reader::Reported;
use crate::system;
use crate::values::{parse_bool, parse_int};
use model::supvisors::{
    ConciliationStrategy, EventInterface, EventLink, InstanceAddr, NoQuorumPolicy, RaftTimings,
    StartingStrategy, StatsOptions, SupvisorsSpec,
};
use model::Config;
use section::Opts;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The name of the section in `Config::extra_sections`.
pub const SECTION: &str = "rpcinterface:supvisors";

/// More voters make every commit wait for more acknowledgements without adding useful
/// availability: 7 voters already survive 3 failures.
pub const MAX_VOTERS: usize = 7;
/// Voters chosen when `core_identifiers` is not set: the first ones declared.
pub const DEFAULT_VOTERS: usize = 5;

const FACTORY: &str = "supervisor.rpcinterface_factory";

/// Options this module interprets (the ignored ones are in `compat::IGNORED`).
const HONOURED: [&str; 29] = [
    FACTORY,
    "supvisors_list",
    "rules_files",
    "auto_fence",
    "internal_port",
    "synchro_timeout",
    "inactivity_ticks",
    "core_identifiers",
    "disabilities_file",
    "starting_strategy",
    "conciliation_strategy",
    "cluster_secret",
    "cluster_secret_file",
    "data_dir",
    "raft_heartbeat_ms",
    "raft_election_timeout_min_ms",
    "raft_election_timeout_max_ms",
    "inactivity_timeout_ms",
    "fencing_timeout_ms",
    "tick_interval_ms",
    "no_quorum_policy",
    "fence_stop_timeout_ms",
    "event_port",
    "event_link",
    "stats_enabled",
    "stats_periods",
    "stats_histo",
    "stats_irix_mode",
    "stats_collecting_period",
];

/// Resolves `[rpcinterface:supvisors]` for this machine. See [`resolve_with`].
pub fn resolve(config: &Config) -> Result<Option<SupvisorsSpec>, ConfigError> {
    resolve_with(config, &LocalHost::from_system())
}

/// Resolves `[rpcinterface:supvisors]` with `me` as the local host (fixed in tests).
///
/// Returns `Ok(None)` when the section is absent (plain supervisord mode). Fails with every
/// problem found, each as `file:line: [rpcinterface:supvisors] option: message`: unknown
/// options, bad values or ranges, a malformed `supvisors_list`, an instance that cannot be told
/// to be this one, unknown or too many voters, inconsistent timings, a missing secret when some
/// instance is not on loopback.
pub fn resolve_with(config: &Config, me: &LocalHost) -> Result<Option<SupvisorsSpec>, ConfigError> {
    let Some(sec) = config.extra_section(SECTION) else {
        return Ok(None);
    };
    let o = Opts { sec };
    let mut p = Problems::default();
    let mut notes = Vec::new();

    check_keys(o, &mut p);
    if !o.has(FACTORY) {
        o.section_error(
            &mut p,
            format!("{FACTORY}: required (supvisors.plugin:make_supvisors_rpcinterface)"),
        );
    }
    let instances = instances(o, &mut p, config, me);
    let local_identifier = instances.as_ref().and_then(|list| {
        let port = config.inet_http_server.as_ref()?.port;
        let found = local::find_local(list, &config.supervisord.identifier, port, me);
        found.map_err(|e| o.error(&mut p, "supvisors_list", e)).ok()
    });
    if let (Some(list), Some(id)) = (&instances, &local_identifier) {
        note_port_mismatch(o, config, list, id, &mut notes);
    }
    let (voters, core_explicit) = match &instances {
        Some(list) => voters(o, &mut p, list, &mut notes),
        None => (Vec::new(), false),
    };
    let rules_files = rules_files(o, &mut p, &mut notes);
    let auto_fence = o.parse_or(&mut p, "auto_fence", false, parse_bool);
    let no_quorum_policy = o.parse_or(
        &mut p,
        "no_quorum_policy",
        NoQuorumPolicy::StopMovable,
        |t| {
            NoQuorumPolicy::parse(t)
                .ok_or_else(|| unknown_name(t, NoQuorumPolicy::ALL.iter().map(|p| p.name())))
        },
    );
    let synchro_timeout = o.parse_or(&mut p, "synchro_timeout", 15, |t| int_in(t, 15, 1200));
    let timings = timings(o, &mut p, &mut notes);
    let disabilities_file = o
        .parse(&mut p, "disabilities_file", |t| {
            let path = system::absolute(Path::new(&expand_user(t)));
            system::check_parent_dir(&path).map(|()| path)
        })
        .ok()
        .flatten();
    if disabilities_file.is_some() {
        notes.push(format!(
            "{}: accepted but not used: disabled programs are kept in the replicated state \
             (persisted in data_dir, they survive a full-cluster restart); this file is \
             neither read nor written",
            o.at("disabilities_file")
        ));
    }
    let starting_strategy =
        o.parse_or(&mut p, "starting_strategy", StartingStrategy::Config, |t| {
            StartingStrategy::parse(t)
                .ok_or_else(|| unknown_name(t, StartingStrategy::ALL.iter().map(|s| s.name())))
        });
    let conciliation_strategy = o.parse_or(
        &mut p,
        "conciliation_strategy",
        ConciliationStrategy::User,
        |t| {
            ConciliationStrategy::parse(t)
                .ok_or_else(|| unknown_name(t, ConciliationStrategy::ALL.iter().map(|s| s.name())))
        },
    );
    ignored_options(o, &mut p, &mut notes);
    let local_addr = instances.as_deref().and_then(|list| {
        list.iter()
            .find(|i| Some(&i.identifier) == local_identifier.as_ref())
    });
    let stats = stats_options(o, &mut p);
    let event_interface = event_interface(o, &mut p, local_addr);
    let cluster_secret = secret(o, &mut p, instances.as_deref(), &mut notes);
    let data_dir = data_dir(o, config, local_identifier.as_deref());

    if !p.errors.is_empty() {
        return Err(ConfigError { problems: p.errors });
    }
    // Every value below is Some when no error was recorded; a None here would be a bug in the
    // bookkeeping above, reported rather than panicking.
    let missing = || ConfigError {
        problems: vec![crate::Problem {
            file: sec.file.clone(),
            line: sec.line,
            message: format!(
                "[{SECTION}] internal error: a value was neither resolved nor reported"
            ),
        }],
    };
    let (Some(instances), Some(local_identifier), Some(data_dir), Some(t), Some(stats)) =
        (instances, local_identifier, data_dir, timings, stats)
    else {
        return Err(missing());
    };
    Ok(Some(SupvisorsSpec {
        instances,
        local_identifier,
        voters,
        core_identifiers_explicit: core_explicit,
        rules_files,
        auto_fence: auto_fence.ok_or_else(missing)?,
        no_quorum_policy: no_quorum_policy.ok_or_else(missing)?,
        fence_stop_timeout: t.fence_stop,
        synchro_timeout: Duration::from_secs(synchro_timeout.ok_or_else(missing)?),
        inactivity_timeout: t.inactivity,
        fencing_timeout: t.fencing,
        tick_interval: t.tick,
        disabilities_file,
        starting_strategy: starting_strategy.ok_or_else(missing)?,
        conciliation_strategy: conciliation_strategy.ok_or_else(missing)?,
        cluster_secret: cluster_secret.map(Into::into),
        data_dir,
        raft: t.raft,
        event_interface,
        stats,
        notes,
    }))
}

/// The `stats_*` options, checked as Supvisors checks them, with its defaults
/// ([`StatsOptions::default`]): `stats_enabled` is 0.14's boolean or 0.16's
/// `OFF|HOST|PROCESS|ALL`, `stats_periods` 0.14's integers or 0.16's decimals.
fn stats_options(o: Opts<'_>, p: &mut Problems) -> Option<StatsOptions> {
    let d = StatsOptions::default();
    let enabled = o.parse_or(p, "stats_enabled", (d.host, d.process), |t| {
        compat::stats_enabled(t)?;
        Ok(match parse_bool(t) {
            Ok(on) => (on, on),
            Err(_) => match t.trim().to_ascii_uppercase().as_str() {
                "HOST" => (true, false),
                "PROCESS" => (false, true),
                "ALL" => (true, true),
                _ => (false, false),
            },
        })
    });
    let periods = o.parse_or(p, "stats_periods", d.periods.clone(), |t| {
        compat::stats_periods(t)?;
        let mut periods: Vec<f64> = crate::values::list_of_strings(t)
            .iter()
            .filter_map(|i| i.trim().parse::<f64>().ok())
            .collect();
        periods.sort_by(f64::total_cmp);
        periods.dedup();
        Ok(periods)
    });
    let histo = o.parse_or(p, "stats_histo", d.histo, |t| {
        compat::stats_histo(t)?;
        usize::try_from(parse_int(t)?).map_err(|e| e.to_string())
    });
    let irix_mode = o.parse_or(p, "stats_irix_mode", d.irix_mode, parse_bool);
    let collecting_period = o.parse_or(p, "stats_collecting_period", d.collecting_period, |t| {
        compat::collecting_period(t)?;
        t.trim().parse::<f64>().map_err(|e| e.to_string())
    });
    let ((host, process), periods, histo, irix_mode, collecting_period) =
        (enabled?, periods?, histo?, irix_mode?, collecting_period?);
    Some(StatsOptions {
        host,
        process,
        periods,
        histo,
        irix_mode,
        collecting_period,
    })
}

/// `event_port` and `event_link`: where and how the event interface publishes, `None` for
/// nowhere.
///
/// Supvisors 0.14 always published, on `event_port` (default: the HTTP port + 2) bound to
/// 127.0.0.1; 0.15 added `event_link` (default `NONE`: no event interface), 0.16 added `WS`
/// and bound on every interface, and 0.18 made `event_port` default to the HTTP port + 1.
/// raftvisord publishes only when the file asks, so that it never binds a port the file does
/// not name or ask for (0.14's default would be another instance's HTTP port in a cluster on
/// consecutive ports): `event_port` alone publishes as 0.14 did (127.0.0.1, ZeroMQ),
/// `event_link = ZMQ` or `WS` as 0.16+ does (every interface, `event_port` or the HTTP port
/// + 1), `event_link = NONE` or `event_port = 0` not at all.
fn event_interface(
    o: Opts<'_>,
    p: &mut Problems,
    local: Option<&InstanceAddr>,
) -> Option<EventInterface> {
    use std::net::{Ipv4Addr, SocketAddr};
    let port = o
        .parse(p, "event_port", |t| int_in(t, 0, 65535))
        .ok()?
        .and_then(|n| u16::try_from(n).ok());
    let link = o
        .parse(p, "event_link", |t| {
            compat::event_link(t)?;
            Ok(t.trim().to_ascii_uppercase())
        })
        .ok()?;
    let link = match (link.as_deref(), port) {
        (None, None) | (Some("NONE"), _) | (_, Some(0)) => return None,
        (None, Some(port)) => {
            return Some(EventInterface {
                addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                link: EventLink::Zmq,
            })
        }
        (Some("WS"), _) => EventLink::Ws,
        (Some(_), _) => EventLink::Zmq,
    };
    let port = port.or_else(|| local.map(|l| l.http_port.saturating_add(1)))?;
    Some(EventInterface {
        addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
        link,
    })
}

fn check_keys(o: Opts<'_>, p: &mut Problems) {
    let known = || {
        HONOURED
            .iter()
            .copied()
            .chain(compat::IGNORED.iter().map(|i| i.key))
    };
    for opt in &o.sec.options {
        if !known().any(|k| k == opt.key) {
            let list: Vec<&str> = known().collect();
            o.error(
                p,
                &opt.key,
                format!("unknown option (known: {})", list.join(", ")),
            );
        }
    }
}

fn int_in(text: &str, lo: u64, hi: u64) -> Result<u64, String> {
    let n = parse_int(text)?;
    u64::try_from(n)
        .ok()
        .filter(|n| (lo..=hi).contains(n))
        .ok_or_else(|| format!("{n} is not in {lo}..{hi}"))
}

fn unknown_name<'a>(text: &str, names: impl Iterator<Item = &'a str>) -> String {
    format!(
        "{text:?} is not one of {}",
        names.collect::<Vec<_>>().join(", ")
    )
}

/// `~` as Python's `expanduser` with the process's `HOME` (Supervisor's `existing_dirpath`).
fn expand_user(text: &str) -> String {
    let env = std::env::var("HOME")
        .map(|h| std::collections::BTreeMap::from([("HOME".to_string(), h)]))
        .unwrap_or_default();
    system::expand_user(text, &env)
}

/// `supvisors_list` (default: the host name) → instances with completed ports; `None` when the
/// list could not be resolved (the problems are recorded).
fn instances(
    o: Opts<'_>,
    p: &mut Problems,
    config: &Config,
    me: &LocalHost,
) -> Option<Vec<InstanceAddr>> {
    let internal_option = o
        .parse(p, "internal_port", |t| {
            compat::port_or_zero(t)?;
            Ok(u16::try_from(parse_int(t)?).ok().filter(|p| *p != 0))
        })
        .map(Option::flatten);
    let text = match o.value("supvisors_list") {
        Some(t) => t.to_string(),
        None if me.host_name.is_empty() => {
            o.error(p, "supvisors_list", "required: the host name is unknown");
            return None;
        }
        None => me.host_name.clone(),
    };
    let mut items = Vec::new();
    let mut bad = false;
    for text in list::split_list(&text) {
        match list::parse_item(&text) {
            Ok(item) => items.push(item),
            Err(e) => {
                o.error(p, "supvisors_list", e);
                bad = true;
            }
        }
    }
    let Some(inet) = &config.inet_http_server else {
        o.section_error(
            p,
            "Supvisors needs an [inet_http_server] section: instances reach each other over \
             HTTP, and items without an explicit http_port use its port",
        );
        return None;
    };
    let internal_option = internal_option.ok()?;
    if bad {
        return None;
    }
    if items.is_empty() {
        o.error(p, "supvisors_list", "no instance listed");
        return None;
    }
    let mut instances = Vec::new();
    for item in &items {
        match list::complete(item, inet.port, internal_option) {
            Ok(i) => instances.push(i),
            Err(e) => {
                o.error(p, "supvisors_list", e);
                bad = true;
            }
        }
    }
    let clashes = list::clashes(&instances);
    for c in &clashes {
        o.error(p, "supvisors_list", c);
    }
    (!bad && clashes.is_empty()).then_some(instances)
}

/// The local item found by identifier declares another HTTP port than the one this instance
/// listens on: the others would call the wrong port. Only a note: NAT or a proxy may explain it.
fn note_port_mismatch(
    o: Opts<'_>,
    config: &Config,
    list: &[InstanceAddr],
    id: &str,
    notes: &mut Vec<String>,
) {
    let (Some(inet), Some(me)) = (
        &config.inet_http_server,
        list.iter().find(|i| i.identifier == id),
    ) else {
        return;
    };
    if me.http_port != inet.port {
        notes.push(format!(
            "{}: the local instance {id} is declared with http_port {}, but [inet_http_server] \
             listens on {}; the other instances will call {}",
            o.at("supvisors_list"),
            me.http_port,
            inet.port,
            me.http_port
        ));
    }
}

/// An instance named by its identifier, or by `host:http_port` (accepted everywhere from
/// Supvisors 0.18; an IPv6 host in brackets, `[::1]:9001`).
fn find_instance<'a>(list: &'a [InstanceAddr], name: &str) -> Option<&'a InstanceAddr> {
    list.iter().find(|i| i.identifier == name).or_else(|| {
        let wanted = model::net::HostPort::parse(name).ok()?;
        list.iter().find(|i| i.http_addr() == wanted)
    })
}

/// Raft voters, in declaration order: `core_identifiers`, else all instances when ≤ 5, else
/// the first 5. Returns (voters, explicit).
fn voters(
    o: Opts<'_>,
    p: &mut Problems,
    list: &[InstanceAddr],
    notes: &mut Vec<String>,
) -> (Vec<String>, bool) {
    let key = "core_identifiers";
    let names = list::split_list(o.value(key).unwrap_or_default());
    let explicit = !names.is_empty();
    let voters: Vec<String> = if explicit {
        let mut chosen: Vec<&str> = Vec::new();
        for name in &names {
            match find_instance(list, name) {
                Some(i) => chosen.push(&i.identifier),
                None => {
                    let hint = if o.has("stereotypes") {
                        " (stereotypes are not supported: use identifiers)"
                    } else {
                        ""
                    };
                    o.error(
                        p,
                        key,
                        format!(
                            "{name:?} is not in supvisors_list (identifiers: {}){hint}",
                            identifiers(list)
                        ),
                    );
                }
            }
        }
        list.iter()
            .filter(|i| chosen.contains(&i.identifier.as_str()))
            .map(|i| i.identifier.clone())
            .collect()
    } else {
        let v: Vec<String> = list
            .iter()
            .take(DEFAULT_VOTERS)
            .map(|i| i.identifier.clone())
            .collect();
        if list.len() > DEFAULT_VOTERS {
            notes.push(format!(
                "{}: not set; with {} instances the first {DEFAULT_VOTERS} are the Raft voters \
                 ({}), the others join as learners",
                o.at(key),
                list.len(),
                v.join(", ")
            ));
        }
        v
    };
    if voters.len() > MAX_VOTERS {
        o.error(
            p,
            key,
            format!(
                "{} voters, at most {MAX_VOTERS}: every Raft commit waits for a majority of the \
                 voters, so more voters slow every cluster decision, and 7 already survive 3 \
                 failures; list at most {MAX_VOTERS} here, the other instances join as learners \
                 (they still run programs and serve reads)",
                voters.len()
            ),
        );
    } else if voters.len().is_multiple_of(2) && !voters.is_empty() {
        let n = voters.len();
        notes.push(format!(
            "{}: {n} Raft voters ({}): a majority is {}, so the cluster survives {} voter \
             failure(s), no more than with {} voters",
            o.at(key),
            voters.join(", "),
            n / 2 + 1,
            (n - 1) / 2,
            n - 1
        ));
    }
    (voters, explicit)
}

fn identifiers(list: &[InstanceAddr]) -> String {
    list.iter()
        .map(|i| i.identifier.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `rules_files`: whitespace-separated globs (relative ones against the current directory, as
/// Supvisors' `glob.glob`), matched files only, absolute, sorted, without duplicates. A glob
/// matching nothing is a note, as Supervisor's `[include]` warns; a plain file name (no `*`,
/// `?` or `[`) that does not exist is an error: it was named on purpose, and running without
/// its applications would be a silent surprise.
fn rules_files(o: Opts<'_>, p: &mut Problems, notes: &mut Vec<String>) -> Vec<PathBuf> {
    let key = "rules_files";
    let Some(text) = o.value(key) else {
        return Vec::new();
    };
    if text.contains("%(") {
        o.error(
            p,
            key,
            format!(
                "{text:?} could not be expanded (available: here, host_node_name, ENV_*; \
                 write %% for a literal %)"
            ),
        );
        return Vec::new();
    }
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    let mut files: Vec<PathBuf> = Vec::new();
    for pattern in text.split_whitespace() {
        let full = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            std::env::current_dir()
                .map(|d| d.join(pattern))
                .unwrap_or_else(|_| PathBuf::from(pattern))
        };
        let full_text = full.to_string_lossy();
        let paths = match glob::glob_with(&full_text, options) {
            Ok(paths) => paths,
            Err(e) => {
                o.error(p, key, format!("bad glob {pattern:?}: {e}"));
                continue;
            }
        };
        let mut matched = 0;
        for entry in paths {
            match entry {
                Ok(path) if path.is_dir() => {}
                Ok(path) => {
                    matched += 1;
                    let path = system::absolute(&path);
                    if !files.contains(&path) {
                        files.push(path);
                    }
                }
                Err(e) => o.error(p, key, format!("cannot read {}: {e}", e.path().display())),
            }
        }
        if matched == 0 && glob::Pattern::escape(pattern) == pattern {
            o.error(p, key, format!("rules file {full_text:?} does not exist"));
        } else if matched == 0 {
            notes.push(format!("{}: no file matches {full_text:?}", o.at(key)));
        }
    }
    files.sort();
    files
}

/// Raft and liveness timings, each in milliseconds.
struct Timings {
    raft: RaftTimings,
    inactivity: Duration,
    fencing: Duration,
    tick: Duration,
    fence_stop: Duration,
}

/// Bounds shared by every `*_ms` option: below 10 ms timers fire faster than the network
/// answers; above an hour the value is surely a unit mistake.
const MS_MIN: u64 = 10;
const MS_MAX: u64 = 3_600_000;

/// Reads the timing options and checks how they relate. `None` when one is wrong (reported).
fn timings(o: Opts<'_>, p: &mut Problems, notes: &mut Vec<String>) -> Option<Timings> {
    let ms = |p: &mut Problems, key: &str, default: u64| {
        o.parse_or(p, key, default, |t| int_in(t, MS_MIN, MS_MAX))
    };
    let heartbeat = ms(p, "raft_heartbeat_ms", 125);
    let emin = ms(p, "raft_election_timeout_min_ms", 200);
    let emax = ms(p, "raft_election_timeout_max_ms", 300);
    let inactivity = ms(p, "inactivity_timeout_ms", 800);
    let fencing = match (inactivity, emax, heartbeat) {
        // Default: just under the inactivity timeout, and never below a normal failover
        // (about 1.75 × raft_election_timeout_max_ms) plus a heartbeat, so that an election
        // does not look like a cut: a short inactivity timeout (a fast SILENT) does not make
        // the cut-off side fence sooner.
        (Some(i), Some(hi), Some(h)) => ms(
            p,
            "fencing_timeout_ms",
            i.saturating_sub(150).max(hi * 7 / 4 + h).max(1),
        ),
        _ => None,
    };
    let tick = ms(p, "tick_interval_ms", 100);
    let fence_stop = ms(p, "fence_stop_timeout_ms", 1000);
    let ticks = o.parse(p, "inactivity_ticks", |t| int_in(t, 2, 720));
    if let (Ok(Some(n)), Some(i), Some(t)) = (ticks, inactivity, tick) {
        notes.push(format!(
            "{}: {n} ticks is replaced by a time-based timeout: an instance not heard from for \
             inactivity_timeout_ms = {i} ms is SILENT (instances tick every tick_interval_ms = \
             {t} ms instead of Supvisors' 5 s)",
            o.at("inactivity_ticks")
        ));
    }
    // Whichever of two related options was written is the one to blame.
    let blame = |a: &'static str, b: &'static str| if o.has(a) || !o.has(b) { a } else { b };
    let mut ok = true;
    let mut relate = |p: &mut Problems, holds: bool, key: &str, message: String| {
        if !holds {
            o.error(p, key, message);
            ok = false;
        }
    };
    if let (Some(h), Some(lo)) = (heartbeat, emin) {
        relate(
            p,
            lo > h,
            blame("raft_election_timeout_min_ms", "raft_heartbeat_ms"),
            format!(
                "raft_election_timeout_min_ms ({lo}) must be greater than raft_heartbeat_ms \
                 ({h}), or followers start elections while the leader is alive"
            ),
        );
    }
    if let (Some(lo), Some(hi)) = (emin, emax) {
        relate(
            p,
            hi > lo,
            blame(
                "raft_election_timeout_max_ms",
                "raft_election_timeout_min_ms",
            ),
            format!(
                "raft_election_timeout_max_ms ({hi}) must be greater than \
                 raft_election_timeout_min_ms ({lo}): elections draw a random timeout between them"
            ),
        );
    }
    // No order between the fencing and inactivity timeouts: SILENT only shows the instance
    // lost, its processes are declared lost after the fence bound, which counts the fencing
    // timeout. A short inactivity timeout only risks showing a late instance SILENT for a
    // moment: said when it leaves room for fewer than three of openraft's heartbeats (one
    // every 1.5 raft_heartbeat_ms), each of which carries a tick.
    if let (Some(i), Some(h)) = (inactivity, heartbeat) {
        let beats = h * 3 / 2;
        if i < beats * 3 {
            notes.push(format!(
                "{}: inactivity_timeout_ms ({i}) leaves room for fewer than three heartbeats \
                 (one every 1.5 × raft_heartbeat_ms = {beats} ms): an instance whose answer \
                 is late by a heartbeat is shown SILENT for a moment (nothing is restarted \
                 before the fence bound)",
                o.at("inactivity_timeout_ms")
            ));
        }
    }
    if let (Some(f), Some(hi)) = (fencing, emax) {
        if f * 4 < hi * 7 {
            notes.push(format!(
                "{}: fencing_timeout_ms ({f}) is below a normal Raft failover (about 1.75 × \
                 raft_election_timeout_max_ms = {} ms): followers may see themselves cut off \
                 during an ordinary election",
                o.at("fencing_timeout_ms"),
                hi * 7 / 4
            ));
        }
    }
    if let (Some(i), Some(t)) = (inactivity, tick) {
        relate(
            p,
            t * 2 < i,
            blame("tick_interval_ms", "inactivity_timeout_ms"),
            format!(
                "tick_interval_ms ({t}) must be less than half of inactivity_timeout_ms ({i}), \
                 so that one lost tick does not make an instance SILENT"
            ),
        );
    }
    let ms = Duration::from_millis;
    match (
        heartbeat, emin, emax, inactivity, fencing, tick, fence_stop, ok,
    ) {
        (Some(h), Some(lo), Some(hi), Some(i), Some(f), Some(t), Some(fs), true) => Some(Timings {
            raft: RaftTimings {
                heartbeat: ms(h),
                election_timeout_min: ms(lo),
                election_timeout_max: ms(hi),
            },
            inactivity: ms(i),
            fencing: ms(f),
            tick: ms(t),
            fence_stop: ms(fs),
        }),
        _ => None,
    }
}

/// Options kept for compatibility: value checked, then a note saying why it does not apply.
fn ignored_options(o: Opts<'_>, p: &mut Problems, notes: &mut Vec<String>) {
    for ignored in compat::IGNORED {
        if let Ok(Some(())) = o.parse(p, ignored.key, ignored.check) {
            notes.push(format!(
                "{}: accepted but not used: {}",
                o.at(ignored.key),
                ignored.why
            ));
        }
    }
}

/// `cluster_secret` or `cluster_secret_file` (trimmed, non-empty). Without one, only a cluster
/// whose every instance is on loopback is accepted (with a note): the internal port carries Raft
/// and control RPCs that can start and stop programs.
fn secret(
    o: Opts<'_>,
    p: &mut Problems,
    instances: Option<&[InstanceAddr]>,
    notes: &mut Vec<String>,
) -> Option<String> {
    let (inline, file) = ("cluster_secret", "cluster_secret_file");
    if o.has(inline) && o.has(file) {
        o.error(
            p,
            file,
            "set cluster_secret or cluster_secret_file, not both",
        );
        return None;
    }
    let from_inline = o.parse(p, inline, |t| non_empty(t, "the secret is empty"));
    let from_file = o.parse(p, file, |t| {
        let path = system::absolute(Path::new(&expand_user(t)));
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if is_readable_by_others(&path) {
            notes.push(format!(
                "{}: {} is readable by other users; chmod 600 it",
                o.at(file),
                path.display()
            ));
        }
        non_empty(&text, &format!("{} is empty", path.display()))
    });
    match (from_inline, from_file) {
        (Ok(Some(s)), _) | (_, Ok(Some(s))) => Some(s),
        (Err(Reported), _) | (_, Err(Reported)) => None,
        (Ok(None), Ok(None)) => {
            let list = instances?;
            let exposed: Vec<String> = list
                .iter()
                .filter(|i| !local::is_loopback(&i.host))
                .map(|i| format!("{} ({})", i.identifier, i.host))
                .collect();
            if exposed.is_empty() {
                notes.push(format!(
                    "{}: not set: the internal ports accept unauthenticated Raft and control \
                     RPCs; allowed only because every instance is on a loopback address",
                    o.at(inline)
                ));
            } else {
                o.section_error(
                    p,
                    format!(
                        "cluster_secret or cluster_secret_file is required: the internal port \
                         carries Raft and control RPCs (which start and stop programs), and \
                         these instances are reachable from the network: {}",
                        exposed.join(", ")
                    ),
                );
            }
            None
        }
    }
}

fn non_empty(text: &str, message: &str) -> Result<String, String> {
    let t = text.trim();
    if t.is_empty() {
        Err(message.to_string())
    } else {
        Ok(t.to_string())
    }
}

fn is_readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o004 != 0)
}

/// `data_dir`, or `<dir of the main config file>/raftvisor-data/<local identifier>` (per
/// instance, so several instances sharing one config directory do not share a Raft log).
fn data_dir(o: Opts<'_>, config: &Config, local: Option<&str>) -> Option<PathBuf> {
    if let Some(t) = o.value("data_dir") {
        return Some(system::absolute(Path::new(&expand_user(t))));
    }
    let dir = config.source.parent().unwrap_or(Path::new("/"));
    Some(dir.join("raftvisor-data").join(local?))
}
