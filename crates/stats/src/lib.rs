//! Host and process statistics, as Supvisors keeps them (`../shared/spec/supvisors.md` §9):
//! every instance samples its own host and processes every `stats_collecting_period`, sends
//! the raw sample to every other instance (not through the Raft log: statistics are not
//! state), and compiles every instance's samples into figures per period, which it publishes
//! (`hstats`/`pstats` events) and serves (XML-RPC, REST, the dashboard).
//!
//! ```text
//!  collect() loop ── every collecting period ──► Collector (sysinfo, own thread) ──► Sample
//!      │                                                                               │
//!      └── deliver(sample, figures) ◄── Statistics::receive (Compiler, per period) ◄──┤
//!            ├─► events (hstats / pstats)                                               │
//!            └─► the other instances ──► their Statistics::receive ─► their events      │
//! ```
//!
//! [`compile`] is pure; [`collect`] is the only module that reads the system.

pub mod collect;
pub mod compile;
pub mod sample;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use collect::{Collector, Running};
pub use compile::{Compiled, Compiler, HostStats, ProcessPoint, ProcessStats, Settings};
use model::supvisors::StatsOptions;
pub use sample::{HostSample, ProcessSample, Sample};

/// Why statistics cannot be collected or a setting was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    #[error("{0}")]
    Start(String),
    #[error("collecting period {0} is not in 1..3600 seconds")]
    Period(f64),
}

/// What is collected, and how often (the XML-RPC methods change it at run time, as
/// Supvisors 0.18's do, for the local instance only).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Status {
    pub host: bool,
    pub process: bool,
    /// Seconds between two samples.
    pub collecting_period: f64,
}

/// One instance's statistics: its collection settings and every instance's figures.
#[derive(Debug)]
pub struct Statistics {
    status: tokio::sync::watch::Sender<Status>,
    compiler: Mutex<Compiler>,
    irix_mode: bool,
    /// The `now_monotonic` of published figures counts from here.
    started: Instant,
}

impl Statistics {
    pub fn new(options: &StatsOptions) -> Self {
        Statistics {
            status: tokio::sync::watch::Sender::new(Status {
                host: options.host,
                process: options.process,
                collecting_period: options.collecting_period,
            }),
            compiler: Mutex::new(Compiler::new(Settings {
                periods: options.periods.clone(),
                depth: options.histo,
            })),
            irix_mode: options.irix_mode,
            started: Instant::now(),
        }
    }

    pub fn status(&self) -> Status {
        *self.status.borrow()
    }

    pub fn enable_host(&self, on: bool) {
        self.status.send_modify(|s| s.host = on);
    }

    pub fn enable_process(&self, on: bool) {
        self.status.send_modify(|s| s.process = on);
    }

    /// Seconds between two samples: Supvisors' option range (1 to 3600).
    pub fn set_collecting_period(&self, secs: f64) -> Result<(), StatsError> {
        if !(1.0..=3600.0).contains(&secs) {
            return Err(StatsError::Period(secs));
        }
        self.status.send_modify(|s| s.collecting_period = secs);
        Ok(())
    }

    pub fn irix_mode(&self) -> bool {
        self.irix_mode
    }

    /// What a process's IRIX CPU figure is divided by when shown on this instance: 1 in IRIX
    /// mode, else the core count of the host it runs on (`compiler`: the one held, see
    /// [`Statistics::compiler`]).
    pub fn cpu_factor(&self, compiler: &Compiler, identifier: &str) -> f64 {
        if self.irix_mode {
            1.0
        } else {
            f64::from(compiler.nb_cores(identifier).max(1))
        }
    }

    /// Compiles `identifier`'s sample; returns the figures it completed.
    pub fn receive(&self, identifier: &str, sample: &Sample) -> Vec<Compiled> {
        self.compiler().push(identifier, sample)
    }

    /// The compiler, to read figures from (held briefly: samples wait for it).
    pub fn compiler(&self) -> MutexGuard<'_, Compiler> {
        // A panic while compiling leaves figures, not broken invariants: keep going.
        self.compiler.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Seconds since this instance's statistics started (published as `now_monotonic`).
    pub fn now_monotonic(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

impl Compiled {
    /// The event header it is published under.
    pub fn header(&self) -> &'static str {
        match self {
            Compiled::Host(_) => "hstats",
            Compiled::Process(_) => "pstats",
        }
    }

    /// The event body, as Supvisors 0.19 publishes it.
    pub fn to_json(&self, now_monotonic: f64) -> serde_json::Value {
        let mut body = match self {
            Compiled::Host(h) => serde_json::to_value(h),
            Compiled::Process(p) => serde_json::to_value(p),
        }
        .unwrap_or_default();
        if let Some(object) = body.as_object_mut() {
            object.insert("now_monotonic".into(), now_monotonic.into());
        }
        body
    }
}

/// Samples this instance every collecting period, until `stop`, and hands each sample and
/// the figures it completed to `deliver` (which publishes them and sends the sample to the
/// other instances). `running` lists the local processes to sample (RUNNING ones, with
/// their pid). Nothing wakes while both kinds are off.
pub async fn collect<R, F>(
    stats: Arc<Statistics>,
    collector: Collector,
    local_identifier: String,
    running: R,
    deliver: impl Fn(&Sample, Vec<Compiled>),
    stop: tokio_util::sync::CancellationToken,
) where
    R: Fn() -> F,
    F: std::future::Future<Output = Vec<Running>>,
{
    let mut changes = stats.status.subscribe();
    let mut due = tokio::time::Instant::now();
    loop {
        let status = *changes.borrow_and_update();
        if status.host || status.process {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = changes.changed() => continue,
                _ = tokio::time::sleep_until(due) => {}
            }
            let processes = if status.process {
                Some(running().await)
            } else {
                None
            };
            let Some(sample) = collector.sample(status.host, processes).await else {
                tracing::warn!("the statistics thread has ended: no more statistics");
                return;
            };
            let figures = stats.receive(&local_identifier, &sample);
            deliver(&sample, figures);
            due = tokio::time::Instant::now()
                + Duration::from_secs_f64(status.collecting_period.max(1.0));
        } else {
            // Off: the figures of this instance are forgotten everywhere at the next sample
            // (it says neither kind), so send that sample once.
            let sample = Sample {
                now: stats.now_monotonic(),
                nb_cores: stats.compiler().nb_cores(&local_identifier),
                host: None,
                processes: None,
            };
            let figures = stats.receive(&local_identifier, &sample);
            deliver(&sample, figures);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = changes.changed() => due = tokio::time::Instant::now(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_collecting_period_is_checked_and_the_status_follows_the_methods() {
        let stats = Statistics::new(&StatsOptions::default());
        assert_eq!(
            stats.status(),
            Status {
                host: true,
                process: true,
                collecting_period: 5.0
            }
        );
        stats.enable_host(false);
        assert_eq!(
            stats.set_collecting_period(0.5),
            Err(StatsError::Period(0.5))
        );
        assert_eq!(stats.set_collecting_period(2.0), Ok(()));
        assert_eq!(
            stats.status(),
            Status {
                host: false,
                process: true,
                collecting_period: 2.0
            }
        );
    }

    #[test]
    fn solaris_mode_divides_by_the_cores_of_the_host_where_the_process_runs() {
        let mut options = StatsOptions::default();
        let stats = Statistics::new(&options);
        let sample = Sample {
            now: 0.0,
            nb_cores: 4,
            host: None,
            processes: None,
        };
        stats.receive("s2", &sample);
        assert_eq!(stats.cpu_factor(&stats.compiler(), "s2"), 4.0);
        assert_eq!(stats.cpu_factor(&stats.compiler(), "unknown"), 1.0);
        options.irix_mode = true;
        let irix = Statistics::new(&options);
        irix.receive("s2", &sample);
        assert_eq!(irix.cpu_factor(&irix.compiler(), "s2"), 1.0);
    }

    #[test]
    fn figures_are_published_with_supvisors_fields() {
        let p = Compiled::Process(ProcessStats {
            namespec: "a:x".into(),
            identifier: "s1".into(),
            pid: 7,
            target_period: 10.0,
            period: (0.0, 10.0),
            cpu: 12.5,
            mem: 1.0,
        });
        assert_eq!(p.header(), "pstats");
        assert_eq!(
            p.to_json(3.5),
            serde_json::json!({"namespec": "a:x", "identifier": "s1", "pid": 7,
                "target_period": 10.0, "period": [0.0, 10.0], "cpu": 12.5, "mem": 1.0,
                "now_monotonic": 3.5})
        );
    }
}
