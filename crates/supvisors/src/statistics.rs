//! The statistics methods: Supvisors 0.18's four (`get_statistics_status`,
//! `enable_host_statistics`, `enable_process_statistics`, `update_collecting_period`, which
//! change the local instance's collection only, as in Supvisors), and raftvisor's reads of
//! the figures, which Supvisors shows only in its web pages: `get_host_statistics`,
//! `get_process_statistics`, `get_all_process_statistics`.
//!
//! The reads give process CPU as this instance shows it (`stats_irix_mode`: Solaris mode
//! divides by the core count of the process's host); the `pstats` events give it in IRIX
//! mode, as Supvisors publishes it. `get_statistics_status` gives what a client needs to
//! convert: the mode and each host's cores.

use model::{Fault, FaultCode};
use stats::Statistics;
use web::params;
use xmlrpc::Value;

/// Whether `method` is one of this module's.
pub(crate) fn is_method(method: &str) -> bool {
    matches!(
        method,
        "get_statistics_status"
            | "enable_host_statistics"
            | "enable_process_statistics"
            | "update_collecting_period"
            | "get_host_statistics"
            | "get_process_statistics"
            | "get_all_process_statistics"
    )
}

fn number(value: &Value, what: &str) -> Result<f64, Fault> {
    match value {
        Value::Double(d) => Ok(*d),
        Value::Int(_) | Value::I8(_) => params::int(value, what).map(|n| n as f64),
        Value::String(s) => s.trim().parse().map_err(|_| bad(what, value)),
        other => Err(bad(what, other)),
    }
}

fn bad(what: &str, value: &Value) -> Fault {
    Fault::with(
        FaultCode::IncorrectParameters,
        format!("{what}: {} is not a number", params::describe(value)),
    )
}

fn boolean(value: &Value, what: &str) -> Result<bool, Fault> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Int(n) => Ok(*n != 0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(not_boolean(what, value)),
        },
        other => Err(not_boolean(what, other)),
    }
}

fn not_boolean(what: &str, value: &Value) -> Fault {
    Fault::with(
        FaultCode::IncorrectParameters,
        format!("{what}: {} is not a boolean", params::describe(value)),
    )
}

/// The period asked for (one of `stats_periods`), or the first.
fn period(stats: &Statistics, p: &[Value], index: usize) -> Result<f64, Fault> {
    let compiler = stats.compiler();
    let periods = &compiler.settings().periods;
    let Some(asked) = p.get(index) else {
        return periods
            .first()
            .copied()
            .ok_or_else(|| Fault::with(FaultCode::BadName, "no statistics period".to_string()));
    };
    let asked = number(asked, "period")?;
    periods
        .iter()
        .copied()
        .find(|&known| (known - asked).abs() < 1e-9)
        .ok_or_else(|| {
            let list: Vec<String> = periods.iter().map(f64::to_string).collect();
            Fault::with(
                FaultCode::IncorrectParameters,
                format!(
                    "period {asked} is not one of stats_periods ({})",
                    list.join(", ")
                ),
            )
        })
}

/// Answers `method` if it is a statistics method (`None` otherwise). `known` tells whether an
/// instance identifier is declared.
pub(crate) fn run(
    stats: &Statistics,
    method: &str,
    p: &[Value],
    known: impl Fn(&str) -> bool,
) -> Option<Result<Value, Fault>> {
    let arg = |i: usize| p.get(i).ok_or(Fault::new(FaultCode::IncorrectParameters));
    let result = match method {
        "get_statistics_status" => Ok(status(stats)),
        "enable_host_statistics" => arg(0).and_then(|v| boolean(v, "enable_host")).map(|on| {
            stats.enable_host(on);
            Value::Bool(true)
        }),
        "enable_process_statistics" => {
            arg(0).and_then(|v| boolean(v, "enable_process")).map(|on| {
                stats.enable_process(on);
                Value::Bool(true)
            })
        }
        "update_collecting_period" => arg(0)
            .and_then(|v| number(v, "collecting_period"))
            .and_then(|secs| {
                stats
                    .set_collecting_period(secs)
                    .map(|()| Value::Bool(true))
                    .map_err(|e| Fault::with(FaultCode::IncorrectParameters, e.to_string()))
            }),
        "get_host_statistics" => (|| {
            let identifier = params::string(arg(0)?, "identifier")?;
            if !known(&identifier) {
                return Err(Fault::with(
                    FaultCode::BadName,
                    format!("identifier={identifier} is unknown to Supvisors"),
                ));
            }
            let period = period(stats, p, 1)?;
            let compiler = stats.compiler();
            let figures = compiler
                .host_history(&identifier, period)
                .map(|h| h.iter().map(json_value).collect())
                .unwrap_or_default();
            Ok(Value::Array(figures))
        })(),
        "get_process_statistics" => (|| {
            let namespec = params::string(arg(0)?, "namespec")?;
            let period = period(stats, p, 1)?;
            let compiler = stats.compiler();
            let rows = compiler
                .process_history(&namespec, period)
                .into_iter()
                .map(|(identifier, pid, _, history)| {
                    let factor = stats.cpu_factor(&compiler, identifier);
                    let points = history
                        .iter()
                        .map(|[end, cpu, mem]| {
                            Value::Array(vec![
                                Value::Double(f64::from(*end)),
                                Value::Double(f64::from(*cpu) / factor),
                                Value::Double(f64::from(*mem)),
                            ])
                        })
                        .collect();
                    let last = history.back();
                    Value::Struct(vec![
                        ("namespec".into(), Value::String(namespec.clone())),
                        ("identifier".into(), Value::String(identifier.into())),
                        ("pid".into(), Value::Int(i32::try_from(pid).unwrap_or(0))),
                        ("target_period".into(), Value::Double(period)),
                        (
                            "cpu".into(),
                            Value::Double(last.map_or(0.0, |p| f64::from(p[1])) / factor),
                        ),
                        (
                            "mem".into(),
                            Value::Double(last.map_or(0.0, |p| f64::from(p[2]))),
                        ),
                        ("history".into(), Value::Array(points)),
                    ])
                })
                .collect();
            Ok(Value::Array(rows))
        })(),
        "get_all_process_statistics" => (|| {
            let period = period(stats, p, 0)?;
            let compiler = stats.compiler();
            let rows = compiler
                .latest_processes(period)
                .map(|figure| {
                    let mut shown = figure.clone();
                    shown.cpu /= stats.cpu_factor(&compiler, &figure.identifier);
                    json_value(&shown)
                })
                .collect();
            Ok(Value::Array(rows))
        })(),
        _ => return None,
    };
    Some(result)
}

fn json_value(figure: &impl serde::Serialize) -> Value {
    xmlrpc::from_json(&serde_json::to_value(figure).unwrap_or_default())
}

fn status(stats: &Statistics) -> Value {
    let status = stats.status();
    let compiler = stats.compiler();
    let periods = compiler
        .settings()
        .periods
        .iter()
        .map(|p| Value::Double(*p))
        .collect();
    let cores = compiler
        .cores()
        .map(|(id, n)| {
            (
                id.to_string(),
                Value::Int(i32::try_from(n).unwrap_or(i32::MAX)),
            )
        })
        .collect();
    Value::Struct(vec![
        ("host_stats".into(), Value::Bool(status.host)),
        ("process_stats".into(), Value::Bool(status.process)),
        (
            "collecting_period".into(),
            Value::Double(status.collecting_period),
        ),
        ("periods".into(), Value::Array(periods)),
        ("irix_mode".into(), Value::Bool(stats.irix_mode())),
        ("nb_cores".into(), Value::Struct(cores)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::supvisors::StatsOptions;
    use stats::{ProcessSample, Sample};

    fn sample(now: f64, cpu_ms: u64) -> Sample {
        Sample {
            now,
            nb_cores: 4,
            host: None,
            processes: Some(vec![ProcessSample {
                namespec: "app:busy".into(),
                pid: 42,
                cpu_ms,
                mem: 2.0,
            }]),
        }
    }

    fn call(stats: &Statistics, method: &str, p: &[Value]) -> Result<Value, Fault> {
        run(stats, method, p, |id| id == "s1").expect("a statistics method")
    }

    fn member<'a>(v: &'a Value, key: &str) -> &'a Value {
        match v {
            Value::Struct(m) => &m.iter().find(|(k, _)| k == key).expect(key).1,
            other => panic!("not a struct: {other:?}"),
        }
    }

    #[test]
    fn status_and_settings_follow_the_methods() {
        let stats = Statistics::new(&StatsOptions::default());
        assert_eq!(
            call(&stats, "enable_process_statistics", &[Value::Bool(false)]),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            call(&stats, "update_collecting_period", &[Value::Double(2.5)]),
            Ok(Value::Bool(true))
        );
        let status = call(&stats, "get_statistics_status", &[]).expect("status");
        assert_eq!(member(&status, "host_stats"), &Value::Bool(true));
        assert_eq!(member(&status, "process_stats"), &Value::Bool(false));
        assert_eq!(member(&status, "collecting_period"), &Value::Double(2.5));
        let refused = call(&stats, "update_collecting_period", &[Value::Int(0)]);
        assert_eq!(
            refused.map_err(|f| f.code),
            Err(FaultCode::IncorrectParameters)
        );
        assert!(run(&stats, "get_api_version", &[], |_| true).is_none());
    }

    #[test]
    fn process_figures_are_shown_in_solaris_mode_by_default() {
        let stats = Statistics::new(&StatsOptions::default());
        stats.receive("s1", &sample(0.0, 0));
        // 10 s of CPU in 10 s: one core of four.
        stats.receive("s1", &sample(10.0, 10_000));
        let all = call(&stats, "get_all_process_statistics", &[]).expect("figures");
        let Value::Array(rows) = all else {
            panic!("{all:?}")
        };
        assert_eq!(member(&rows[0], "cpu"), &Value::Double(25.0));
        let one = call(
            &stats,
            "get_process_statistics",
            &[Value::String("app:busy".into())],
        )
        .expect("figures");
        let Value::Array(rows) = one else {
            panic!("{one:?}")
        };
        assert_eq!(member(&rows[0], "pid"), &Value::Int(42));
        assert_eq!(member(&rows[0], "cpu"), &Value::Double(25.0));
        let status = call(&stats, "get_statistics_status", &[]).expect("status");
        assert_eq!(
            member(&status, "nb_cores"),
            &Value::Struct(vec![("s1".into(), Value::Int(4))])
        );
        let wrong = call(&stats, "get_all_process_statistics", &[Value::Int(60)]);
        assert_eq!(
            wrong.map_err(|f| f.code),
            Err(FaultCode::IncorrectParameters)
        );
        let unknown = call(&stats, "get_host_statistics", &[Value::String("s9".into())]);
        assert_eq!(unknown.map_err(|f| f.code), Err(FaultCode::BadName));
        assert_eq!(
            call(&stats, "get_host_statistics", &[Value::String("s1".into())]),
            Ok(Value::Array(vec![]))
        );
    }
}
