//! The statistics commands: supvisorsctl 0.18's `stats_status`, `enable_stats`,
//! `disable_stats` and `stats_period` (same words, same output), and raftvisor's `hstats` and
//! `pstats`, which print the figures that Supvisors shows only in its web pages.

use super::{output, CmdResult, Ctl, Flow};
use crate::supvisors_format::{self, py_str};
use client::Value;

/// Which kinds `enable_stats`/`disable_stats` name: none named is both; an unknown word is
/// returned as the error.
pub(crate) fn stats_kinds(arg: &str) -> Result<(bool, bool), String> {
    let words: Vec<String> = arg.split_whitespace().map(str::to_lowercase).collect();
    if words.is_empty() {
        return Ok((true, true));
    }
    let (mut host, mut process) = (false, false);
    for word in words {
        match word.as_str() {
            "host" => host = true,
            "process" => process = true,
            "all" => (host, process) = (true, true),
            other => return Err(other.to_string()),
        }
    }
    Ok((host, process))
}

fn member<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Struct(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
        _ => None,
    }
}

fn number(v: Option<&Value>) -> f64 {
    match v {
        Some(Value::Double(d)) => *d,
        Some(Value::Int(n)) => f64::from(*n),
        Some(Value::I8(n)) => *n as f64,
        _ => 0.0,
    }
}

fn text(v: Option<&Value>) -> String {
    v.map(py_str).unwrap_or_default()
}

/// `hstats`: one block per instance, its latest figures over the period.
pub(crate) fn hstats_lines(identifier: &str, figures: &Value) -> Vec<String> {
    let Value::Array(list) = figures else {
        return vec![format!("{identifier}: no figures")];
    };
    let Some(last) = list.last() else {
        return vec![format!("{identifier}: no host statistics yet")];
    };
    let mut lines = vec![format!(
        "{identifier}  (period {}s, {} kept)",
        number(member(last, "target_period")),
        list.len()
    )];
    if let Some(Value::Array(cpu)) = member(last, "cpu") {
        let cores: Vec<String> = cpu
            .iter()
            .skip(1)
            .map(|c| format!("{:.1}%", number(Some(c))))
            .collect();
        lines.push(format!(
            "  cpu      {:.1}%  (cores: {})",
            number(cpu.first()),
            cores.join(" ")
        ));
    }
    lines.push(format!("  mem      {:.1}%", number(member(last, "mem"))));
    for (key, title, unit) in [
        ("net_io", "net", "kbit/s recv/sent"),
        ("disk_io", "disk io", "kbit/s read/write"),
    ] {
        if let Some(Value::Struct(rows)) = member(last, key) {
            for (name, pair) in rows {
                if let Value::Array(v) = pair {
                    lines.push(format!(
                        "  {title:<8} {name}: {:.1} / {:.1} {unit}",
                        number(v.first()),
                        number(v.get(1))
                    ));
                }
            }
        }
    }
    if let Some(Value::Struct(rows)) = member(last, "disk_usage") {
        for (name, used) in rows {
            lines.push(format!(
                "  disk     {name}: {:.1}% used",
                number(Some(used))
            ));
        }
    }
    lines
}

/// `pstats`: a table of the processes' latest figures.
pub(crate) fn pstats_lines(rows: &[Value], wanted: &[&str]) -> Vec<String> {
    let mut table: Vec<[String; 5]> = rows
        .iter()
        .filter(|r| {
            let namespec = text(member(r, "namespec"));
            wanted.is_empty()
                || wanted.iter().any(|w| {
                    *w == namespec
                        || w.strip_suffix(":*")
                            .is_some_and(|g| namespec.starts_with(&format!("{g}:")))
                })
        })
        .map(|r| {
            [
                text(member(r, "namespec")),
                text(member(r, "identifier")),
                text(member(r, "pid")),
                format!("{:.1}%", number(member(r, "cpu"))),
                format!("{:.1}%", number(member(r, "mem"))),
            ]
        })
        .collect();
    table.sort();
    let titles = ["Namespec", "Instance", "PID", "CPU", "MEM"];
    let widths: Vec<usize> = (0..5)
        .map(|i| {
            table
                .iter()
                .map(|r| r[i].len())
                .chain([titles[i].len()])
                .max()
                .unwrap_or(0)
                + 2
        })
        .collect();
    let line = |cells: [&str; 5]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<String>()
            .trim_end()
            .to_string()
    };
    let mut lines = vec![line(titles)];
    lines.extend(table.iter().map(|r| {
        line([
            r[0].as_str(),
            r[1].as_str(),
            r[2].as_str(),
            r[3].as_str(),
            r[4].as_str(),
        ])
    }));
    lines
}

impl Ctl {
    pub(super) async fn dispatch_statistics(&mut self, cmd: &str, arg: &str) -> Option<CmdResult> {
        Some(match cmd {
            "stats_status" => self.do_stats_status().await,
            "enable_stats" | "disable_stats" => self.do_enable_stats(cmd, arg).await,
            "stats_period" => self.do_stats_period(arg).await,
            "hstats" => self.do_hstats(arg).await,
            "pstats" => self.do_pstats(arg).await,
            _ => return None,
        })
    }

    async fn do_stats_status(&mut self) -> CmdResult {
        let v = self.s_call("get_statistics_status", &[]).await;
        self.show(v, |v| {
            Ok(vec![
                format!(
                    "Collecting Host statistics:    {}",
                    text(member(&v, "host_stats"))
                ),
                format!(
                    "Collecting Process statistics: {}",
                    text(member(&v, "process_stats"))
                ),
                format!(
                    "Collecting statistics period:  {}",
                    text(member(&v, "collecting_period"))
                ),
            ])
        })
        .await
    }

    async fn do_enable_stats(&mut self, cmd: &str, arg: &str) -> CmdResult {
        let on = cmd == "enable_stats";
        let (host, process) = match stats_kinds(arg) {
            Ok(kinds) => kinds,
            Err(word) => {
                return self.usage_error(cmd, &format!("ERROR: invalid statistics type {word}"))
            }
        };
        let done = if on { "enabled" } else { "disabled" };
        for (wanted, method, title) in [
            (host, "enable_host_statistics", "Host"),
            (process, "enable_process_statistics", "Process"),
        ] {
            if !wanted {
                continue;
            }
            match self.s_call(method, &[Value::Bool(on)]).await {
                Ok(v) => output(&format!("{title} statistics {done}: {}", py_str(&v))),
                Err(e) => self.fault_or_raise(e, "")?,
            }
        }
        Ok(Flow::Continue)
    }

    async fn do_stats_period(&mut self, arg: &str) -> CmdResult {
        let Some(word) = arg.split_whitespace().next() else {
            return self.usage_error("stats_period", "ERROR: stats_period requires a period");
        };
        let period = match word.parse::<f64>() {
            Ok(p) if p > 0.0 => p,
            _ => {
                return self.usage_error(
                    "stats_period",
                    "ERROR: stats_period requires a strictly positive period",
                )
            }
        };
        match self
            .s_call("update_collecting_period", &[Value::Double(period)])
            .await
        {
            Ok(v) => output(&format!("Statistics period updated: {}", py_str(&v))),
            Err(e) => self.fault_or_raise(e, "")?,
        }
        Ok(Flow::Continue)
    }

    async fn do_hstats(&mut self, arg: &str) -> CmdResult {
        let mut identifiers: Vec<String> = arg.split_whitespace().map(String::from).collect();
        if identifiers.is_empty() {
            match self.s_call("get_all_instances_info", &[]).await {
                Ok(Value::Array(list)) => {
                    identifiers = list.iter().map(|i| text(member(i, "identifier"))).collect();
                }
                Ok(_) => {}
                Err(e) => {
                    self.fault_or_raise(e, "")?;
                    return Ok(Flow::Continue);
                }
            }
        }
        for identifier in identifiers {
            match self
                .s_call("get_host_statistics", &[Value::String(identifier.clone())])
                .await
            {
                Ok(v) => hstats_lines(&identifier, &v).iter().for_each(|l| output(l)),
                Err(e) => self.fault_or_raise(e, "")?,
            }
        }
        Ok(Flow::Continue)
    }

    async fn do_pstats(&mut self, arg: &str) -> CmdResult {
        let wanted: Vec<&str> = arg.split_whitespace().collect();
        let v = self.s_call("get_all_process_statistics", &[]).await;
        self.show(v, |v| {
            Ok(pstats_lines(supvisors_format::items(&v)?, &wanted))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::String(x.into())
    }

    #[test]
    fn kinds_are_read_as_supvisorsctl_reads_them() {
        assert_eq!(stats_kinds(""), Ok((true, true)));
        assert_eq!(stats_kinds("host"), Ok((true, false)));
        assert_eq!(stats_kinds("PROCESS"), Ok((false, true)));
        assert_eq!(stats_kinds("host all"), Ok((true, true)));
        assert_eq!(stats_kinds("disk"), Err("disk".into()));
    }

    #[test]
    fn process_figures_make_a_table_filtered_by_name_or_group() {
        let row = |ns: &str, cpu: f64| {
            Value::Struct(vec![
                ("namespec".into(), s(ns)),
                ("identifier".into(), s("s1")),
                ("pid".into(), Value::Int(42)),
                ("cpu".into(), Value::Double(cpu)),
                ("mem".into(), Value::Double(0.25)),
            ])
        };
        let rows = [row("web:api", 12.34), row("db:main", 100.0)];
        assert_eq!(
            pstats_lines(&rows, &[]),
            [
                "Namespec  Instance  PID  CPU     MEM",
                "db:main   s1        42   100.0%  0.2%",
                "web:api   s1        42   12.3%   0.2%",
            ]
        );
        assert_eq!(pstats_lines(&rows, &["web:*"]).len(), 2);
    }

    #[test]
    fn host_figures_show_the_latest_of_the_period() {
        let figure = Value::Struct(vec![
            ("target_period".into(), Value::Double(10.0)),
            (
                "cpu".into(),
                Value::Array(vec![
                    Value::Double(50.0),
                    Value::Double(40.0),
                    Value::Double(60.0),
                ]),
            ),
            ("mem".into(), Value::Double(33.3)),
            (
                "net_io".into(),
                Value::Struct(vec![(
                    "lo".into(),
                    Value::Array(vec![Value::Double(1.0), Value::Double(2.0)]),
                )]),
            ),
            (
                "disk_usage".into(),
                Value::Struct(vec![("/".into(), Value::Double(70.0))]),
            ),
        ]);
        assert_eq!(
            hstats_lines("s1", &Value::Array(vec![figure])),
            [
                "s1  (period 10s, 1 kept)",
                "  cpu      50.0%  (cores: 40.0% 60.0%)",
                "  mem      33.3%",
                "  net      lo: 1.0 / 2.0 kbit/s recv/sent",
                "  disk     /: 70.0% used",
            ]
        );
        assert_eq!(
            hstats_lines("s2", &Value::Array(vec![])),
            ["s2: no host statistics yet"]
        );
    }
}
