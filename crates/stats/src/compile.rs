//! Samples compiled into figures, per instance and per period, as Supvisors' statistics
//! compiler does: each period (`stats_periods`) takes a reference sample and, once the period
//! has passed, gives the CPU, memory and I/O rates between the reference and the latest
//! sample, keeps the last `stats_histo` figures for the charts, and takes the latest sample as
//! its next reference. Pure: samples in, figures out.
//!
//! Process CPU is in IRIX mode here (100 % = one core fully used); Solaris mode divides by the
//! host's core count when the figures are shown ([`crate::Statistics::cpu_factor`]).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde::Serialize;

use crate::sample::{HostSample, ProcessSample, Sample};

/// A period is over once this share of it has passed: samples come every collecting period
/// on a timer that may fire a little early, and a 10 s period sampled every 5 s must not
/// wait for a third sample because the second came at 9.99 s.
const PERIOD_SLACK: f64 = 0.95;

/// The periods to compile (seconds) and how many figures each keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub periods: Vec<f64>,
    pub depth: usize,
}

/// A host's figures over one period: Supvisors' `hstats` event body (without
/// `now_monotonic`, added when published).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostStats {
    pub identifier: String,
    pub target_period: f64,
    /// Start and end of the period, in seconds since the first sample of this host.
    pub period: (f64, f64),
    /// CPU use in %: the average over the cores, then each core.
    pub cpu: Vec<f64>,
    /// Memory in use, in %.
    pub mem: f64,
    /// Per interface: received and sent, in kbit/s.
    pub net_io: BTreeMap<String, [f64; 2]>,
    /// Per disk: read and written, in kbit/s (Supvisors' unit for both).
    pub disk_io: BTreeMap<String, [f64; 2]>,
    /// Per partition: space used, in %.
    pub disk_usage: BTreeMap<String, f64>,
}

/// A process's figures over one period: Supvisors' `pstats` event body (without
/// `now_monotonic`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessStats {
    pub namespec: String,
    pub identifier: String,
    pub pid: u32,
    pub target_period: f64,
    /// Start and end of the period, in seconds since the first sample of this process.
    pub period: (f64, f64),
    /// CPU use in % of one core (IRIX mode), children included.
    pub cpu: f64,
    /// Resident memory in % of the host's, children included.
    pub mem: f64,
}

/// One figure that a sample completed.
#[derive(Debug, Clone, PartialEq)]
pub enum Compiled {
    Host(HostStats),
    Process(ProcessStats),
}

/// A process figure as the history keeps it: end of its period (seconds since the
/// process's first sample), CPU % (IRIX), memory %. Small, as a thousand processes keep
/// `depth` of them each.
pub type ProcessPoint = [f32; 3];

/// The figures of every instance's host and processes, for every period.
#[derive(Debug)]
pub struct Compiler {
    settings: Settings,
    hosts: BTreeMap<String, Vec<HostSeries>>,
    /// By namespec, then instance (a process may run on several in a conflict).
    processes: BTreeMap<String, BTreeMap<String, ProcessEntry>>,
    cores: BTreeMap<String, u32>,
}

#[derive(Debug)]
struct HostSeries {
    period: f64,
    /// The sender's clock at its first sample.
    start: f64,
    reference: HostReference,
    /// The previous sample's time: each sample's CPU covers the time since then.
    last: f64,
    /// CPU % × seconds since the reference, per column, and the seconds.
    cpu_area: Vec<f64>,
    cpu_secs: f64,
    history: VecDeque<HostPoint>,
}

/// What a kept host figure's numbers are: its cores, interfaces, disks and partitions. They
/// rarely change, so the figures of a history share one layout, and a kept figure is its
/// numbers only. A [`HostStats`] with its names and maps took ~1.7 KiB; a history of 200
/// figures for each of 3 instances was 1 MiB of an idle daemon's 8 (measured with heaptrack
/// on the demo cluster).
#[derive(Debug, PartialEq)]
struct HostLayout {
    cpus: usize,
    net_io: Vec<String>,
    disk_io: Vec<String>,
    disk_usage: Vec<String>,
}

impl HostLayout {
    fn fits(&self, stats: &HostStats) -> bool {
        self.cpus == stats.cpu.len()
            && self.net_io.iter().eq(stats.net_io.keys())
            && self.disk_io.iter().eq(stats.disk_io.keys())
            && self.disk_usage.iter().eq(stats.disk_usage.keys())
    }

    fn of(stats: &HostStats) -> Self {
        HostLayout {
            cpus: stats.cpu.len(),
            net_io: stats.net_io.keys().cloned().collect(),
            disk_io: stats.disk_io.keys().cloned().collect(),
            disk_usage: stats.disk_usage.keys().cloned().collect(),
        }
    }
}

/// A host figure as the history keeps it: the numbers of a [`HostStats`] in its layout's
/// order (CPU columns, then received and sent per interface, read and written per disk,
/// used per partition).
#[derive(Debug)]
struct HostPoint {
    period: (f64, f64),
    mem: f64,
    values: Box<[f64]>,
    layout: Arc<HostLayout>,
}

impl HostPoint {
    fn new(stats: &HostStats, layout: Arc<HostLayout>) -> Self {
        let values = stats
            .cpu
            .iter()
            .copied()
            .chain(stats.net_io.values().flatten().copied())
            .chain(stats.disk_io.values().flatten().copied())
            .chain(stats.disk_usage.values().copied())
            .collect();
        HostPoint {
            period: stats.period,
            mem: stats.mem,
            values,
            layout,
        }
    }

    fn stats(&self, identifier: &str, target_period: f64) -> HostStats {
        let l = &*self.layout;
        let (cpu, rest) = self.values.split_at(l.cpus.min(self.values.len()));
        let (net, rest) = rest.split_at((2 * l.net_io.len()).min(rest.len()));
        let (disk, usage) = rest.split_at((2 * l.disk_io.len()).min(rest.len()));
        let pairs = |names: &[String], values: &[f64]| {
            names
                .iter()
                .cloned()
                .zip(values.chunks_exact(2).map(|v| [v[0], v[1]]))
                .collect()
        };
        HostStats {
            identifier: identifier.to_string(),
            target_period,
            period: self.period,
            cpu: cpu.to_vec(),
            mem: self.mem,
            net_io: pairs(&l.net_io, net),
            disk_io: pairs(&l.disk_io, disk),
            disk_usage: l
                .disk_usage
                .iter()
                .cloned()
                .zip(usage.iter().copied())
                .collect(),
        }
    }
}

#[derive(Debug)]
struct HostReference {
    now: f64,
    net_io: BTreeMap<String, (u64, u64)>,
    disk_io: BTreeMap<String, (u64, u64)>,
}

#[derive(Debug)]
struct ProcessEntry {
    pid: u32,
    series: Vec<ProcessSeries>,
}

#[derive(Debug)]
struct ProcessSeries {
    period: f64,
    start: f64,
    ref_now: f64,
    ref_cpu_ms: u64,
    latest: Option<ProcessStats>,
    history: VecDeque<ProcessPoint>,
}

fn counters(list: &[(String, u64, u64)]) -> BTreeMap<String, (u64, u64)> {
    list.iter().map(|(n, a, b)| (n.clone(), (*a, *b))).collect()
}

/// kbit/s between two counter sets, for the names in both whose counters did not go back
/// (a counter that went back was reset: no figure this time).
fn rates(
    latest: &BTreeMap<String, (u64, u64)>,
    reference: &BTreeMap<String, (u64, u64)>,
    secs: f64,
) -> BTreeMap<String, [f64; 2]> {
    latest
        .iter()
        .filter_map(|(name, &(a, b))| {
            let &(ra, rb) = reference.get(name)?;
            (a >= ra && b >= rb).then(|| {
                let kbits = |bytes: u64| bytes as f64 * 8.0 / 1024.0 / secs;
                (name.clone(), [kbits(a - ra), kbits(b - rb)])
            })
        })
        .collect()
}

impl HostSeries {
    fn new(period: f64, now: f64, host: &HostSample) -> Self {
        HostSeries {
            period,
            start: now,
            reference: HostReference {
                now,
                net_io: counters(&host.net_io),
                disk_io: counters(&host.disk_io),
            },
            last: now,
            cpu_area: vec![0.0; host.cpu.len()],
            cpu_secs: 0.0,
            history: VecDeque::new(),
        }
    }

    fn push(
        &mut self,
        identifier: &str,
        now: f64,
        host: &HostSample,
        depth: usize,
    ) -> Option<HostStats> {
        let dt = now - self.last;
        if dt <= 0.0 {
            return None; // a repeated or late sample
        }
        if self.cpu_area.len() != host.cpu.len() {
            // Cores came or went: the sums so far do not add up with the new columns.
            self.cpu_area = vec![0.0; host.cpu.len()];
            self.cpu_secs = 0.0;
        }
        for (area, cpu) in self.cpu_area.iter_mut().zip(&host.cpu) {
            *area += f64::from(*cpu) * dt;
        }
        self.cpu_secs += dt;
        self.last = now;
        let elapsed = now - self.reference.now;
        if elapsed < self.period * PERIOD_SLACK || self.cpu_secs <= 0.0 {
            return None;
        }
        let latest = HostReference {
            now,
            net_io: counters(&host.net_io),
            disk_io: counters(&host.disk_io),
        };
        let stats = HostStats {
            identifier: identifier.to_string(),
            target_period: self.period,
            period: (self.reference.now - self.start, now - self.start),
            cpu: self.cpu_area.iter().map(|a| a / self.cpu_secs).collect(),
            mem: f64::from(host.mem),
            net_io: rates(&latest.net_io, &self.reference.net_io, elapsed),
            disk_io: rates(&latest.disk_io, &self.reference.disk_io, elapsed),
            disk_usage: host
                .disk_usage
                .iter()
                .map(|(n, u)| (n.clone(), f64::from(*u)))
                .collect(),
        };
        self.reference = latest;
        self.cpu_area.iter_mut().for_each(|a| *a = 0.0);
        self.cpu_secs = 0.0;
        // The latest figure's layout, shared while it holds.
        let layout = match self.history.back() {
            Some(last) if last.layout.fits(&stats) => Arc::clone(&last.layout),
            _ => Arc::new(HostLayout::of(&stats)),
        };
        self.history.push_back(HostPoint::new(&stats, layout));
        while self.history.len() > depth {
            self.history.pop_front();
        }
        Some(stats)
    }
}

impl ProcessSeries {
    fn new(period: f64, now: f64, process: &ProcessSample) -> Self {
        ProcessSeries {
            period,
            start: now,
            ref_now: now,
            ref_cpu_ms: process.cpu_ms,
            latest: None,
            history: VecDeque::new(),
        }
    }

    fn push(
        &mut self,
        identifier: &str,
        now: f64,
        process: &ProcessSample,
        depth: usize,
    ) -> Option<ProcessStats> {
        let elapsed = now - self.ref_now;
        if elapsed <= 0.0 || elapsed < self.period * PERIOD_SLACK {
            return None;
        }
        // A descendant that ended takes its CPU time with it: the sum may go back.
        let cpu_ms = process.cpu_ms.saturating_sub(self.ref_cpu_ms);
        let stats = ProcessStats {
            namespec: process.namespec.clone(),
            identifier: identifier.to_string(),
            pid: process.pid,
            target_period: self.period,
            period: (self.ref_now - self.start, now - self.start),
            cpu: cpu_ms as f64 / 1000.0 / elapsed * 100.0,
            mem: f64::from(process.mem),
        };
        self.ref_now = now;
        self.ref_cpu_ms = process.cpu_ms;
        self.history
            .push_back([stats.period.1 as f32, stats.cpu as f32, stats.mem as f32]);
        while self.history.len() > depth {
            self.history.pop_front();
        }
        self.latest = Some(stats.clone());
        Some(stats)
    }
}

impl Compiler {
    pub fn new(settings: Settings) -> Self {
        Compiler {
            settings,
            hosts: BTreeMap::new(),
            processes: BTreeMap::new(),
            cores: BTreeMap::new(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Takes `identifier`'s sample and returns the figures it completed. A host or process
    /// list the sample does not carry (collection off there) forgets that instance's
    /// figures; a process missing from the list has stopped, one whose pid changed was
    /// restarted: both start again from nothing, as in Supvisors.
    pub fn push(&mut self, identifier: &str, sample: &Sample) -> Vec<Compiled> {
        let mut out = Vec::new();
        self.cores.insert(identifier.to_string(), sample.nb_cores);
        let depth = self.settings.depth;
        match &sample.host {
            None => {
                self.hosts.remove(identifier);
            }
            Some(host) => match self.hosts.get_mut(identifier) {
                None => {
                    let series = self
                        .settings
                        .periods
                        .iter()
                        .map(|&p| HostSeries::new(p, sample.now, host))
                        .collect();
                    self.hosts.insert(identifier.to_string(), series);
                }
                Some(series) => out.extend(
                    series
                        .iter_mut()
                        .filter_map(|s| s.push(identifier, sample.now, host, depth))
                        .map(Compiled::Host),
                ),
            },
        }
        let running: &[ProcessSample] = sample.processes.as_deref().unwrap_or_default();
        let names: std::collections::HashSet<&str> =
            running.iter().map(|p| p.namespec.as_str()).collect();
        // Stopped here (or collection off): forgotten.
        self.processes.retain(|namespec, by_instance| {
            if by_instance.contains_key(identifier) && !names.contains(namespec.as_str()) {
                by_instance.remove(identifier);
            }
            !by_instance.is_empty()
        });
        for process in running {
            let by_instance = self.processes.entry(process.namespec.clone()).or_default();
            match by_instance.get_mut(identifier) {
                Some(entry) if entry.pid == process.pid => out.extend(
                    entry
                        .series
                        .iter_mut()
                        .filter_map(|s| s.push(identifier, sample.now, process, depth))
                        .map(Compiled::Process),
                ),
                _ => {
                    let entry = ProcessEntry {
                        pid: process.pid,
                        series: self
                            .settings
                            .periods
                            .iter()
                            .map(|&p| ProcessSeries::new(p, sample.now, process))
                            .collect(),
                    };
                    by_instance.insert(identifier.to_string(), entry);
                }
            }
        }
        out
    }

    /// The logical cores of `identifier`'s host, as its last sample said (0: no sample yet).
    pub fn nb_cores(&self, identifier: &str) -> u32 {
        self.cores.get(identifier).copied().unwrap_or(0)
    }

    /// The host figures of `identifier` for `period`, oldest first (the last is the latest).
    pub fn host_history(&self, identifier: &str, period: f64) -> Option<Vec<HostStats>> {
        let series = self
            .hosts
            .get(identifier)?
            .iter()
            .find(|s| s.period == period)?;
        Some(
            series
                .history
                .iter()
                .map(|point| point.stats(identifier, period))
                .collect(),
        )
    }

    /// Every instance that sent a sample, with its host's logical cores.
    pub fn cores(&self) -> impl Iterator<Item = (&str, u32)> {
        self.cores.iter().map(|(id, n)| (id.as_str(), *n))
    }

    /// The instances whose host figures are kept.
    pub fn host_identifiers(&self) -> impl Iterator<Item = &str> {
        self.hosts.keys().map(String::as_str)
    }

    /// The latest figures of every process on every instance for `period` (those with one
    /// period over at least).
    pub fn latest_processes(&self, period: f64) -> impl Iterator<Item = &ProcessStats> {
        self.processes
            .values()
            .flat_map(|by_instance| by_instance.values())
            .filter_map(move |entry| {
                entry
                    .series
                    .iter()
                    .find(|s| s.period == period)
                    .and_then(|s| s.latest.as_ref())
            })
    }

    /// `namespec`'s figures on each instance where it runs, for `period`: its latest figure
    /// and its history (oldest first), and its pid.
    pub fn process_history(
        &self,
        namespec: &str,
        period: f64,
    ) -> Vec<(&str, u32, Option<&ProcessStats>, &VecDeque<ProcessPoint>)> {
        let Some(by_instance) = self.processes.get(namespec) else {
            return Vec::new();
        };
        by_instance
            .iter()
            .filter_map(|(identifier, entry)| {
                let series = entry.series.iter().find(|s| s.period == period)?;
                Some((
                    identifier.as_str(),
                    entry.pid,
                    series.latest.as_ref(),
                    &series.history,
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(cpu: &[f32], net: (u64, u64)) -> HostSample {
        HostSample {
            cpu: cpu.to_vec(),
            mem: 42.5,
            net_io: vec![("eth0".into(), net.0, net.1)],
            disk_io: vec![("sda".into(), 0, 0)],
            disk_usage: vec![("/".into(), 61.0)],
        }
    }

    fn process(namespec: &str, pid: u32, cpu_ms: u64) -> ProcessSample {
        ProcessSample {
            namespec: namespec.into(),
            pid,
            cpu_ms,
            mem: 1.5,
        }
    }

    fn sample(now: f64, host_: Option<HostSample>, procs: Option<Vec<ProcessSample>>) -> Sample {
        Sample {
            now,
            nb_cores: 2,
            host: host_,
            processes: procs,
        }
    }

    fn compiler(periods: &[f64], depth: usize) -> Compiler {
        Compiler::new(Settings {
            periods: periods.to_vec(),
            depth,
        })
    }

    #[test]
    fn host_cpu_is_the_time_weighted_mean_and_io_a_rate_over_the_period() {
        let mut c = compiler(&[10.0], 200);
        assert!(c
            .push(
                "s1",
                &sample(100.0, Some(host(&[0., 0., 0.], (0, 0))), None)
            )
            .is_empty());
        // 5 s at 20 % then 5 s at 60 %: a mean of 40 %, once 10 s have passed.
        assert!(c
            .push(
                "s1",
                &sample(105.0, Some(host(&[20., 10., 30.], (0, 0))), None)
            )
            .is_empty());
        let out = c.push(
            "s1",
            &sample(110.0, Some(host(&[60., 50., 70.], (12_800, 1_280))), None),
        );
        let [Compiled::Host(stats)] = out.as_slice() else {
            panic!("one host figure expected: {out:?}");
        };
        assert_eq!(stats.cpu, vec![40.0, 30.0, 50.0]);
        assert_eq!(stats.period, (0.0, 10.0));
        assert_eq!(stats.mem, 42.5);
        // 12,800 bytes in 10 s = 10.0 kbit/s.
        assert_eq!(stats.net_io["eth0"], [10.0, 1.0]);
        assert_eq!(stats.disk_usage["/"], 61.0);
        assert_eq!(c.host_history("s1", 10.0).map(|h| h.len()), Some(1));
        assert!(c.host_history("s1", 60.0).is_none());
    }

    #[test]
    fn a_counter_that_goes_back_gives_no_rate_and_the_history_keeps_depth_figures() {
        let mut c = compiler(&[5.0], 2);
        c.push("s1", &sample(0.0, Some(host(&[1.0], (1000, 1000))), None));
        let out = c.push("s1", &sample(5.0, Some(host(&[1.0], (10, 2000))), None));
        let [Compiled::Host(stats)] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert!(stats.net_io.is_empty(), "reset counter: {:?}", stats.net_io);
        for t in [10.0, 15.0, 20.0] {
            c.push("s1", &sample(t, Some(host(&[1.0], (10, 2000))), None));
        }
        let history = c.host_history("s1", 5.0).expect("kept");
        assert_eq!(history.len(), 2);
        assert_eq!(history.last().map(|h| h.period), Some((15.0, 20.0)));
    }

    /// The history keeps numbers and a shared layout: what it gives back is, figure for
    /// figure, what the samples completed, across an interface that comes and a counter
    /// reset that drops one for a period.
    #[test]
    fn the_history_gives_back_the_figures_as_completed_while_sharing_their_layout() {
        let mut c = compiler(&[5.0], 10);
        let with = |cpu: &[f32], eth0: u64, wlan0: Option<u64>| {
            let mut h = host(cpu, (eth0, eth0 / 2));
            h.net_io
                .extend(wlan0.map(|w| ("wlan0".to_string(), w, 3 * w)));
            h.disk_io.push(("sdb".into(), eth0 * 3, eth0));
            h.disk_usage.push(("/var".into(), 12.25));
            h
        };
        let samples = [
            with(&[1.0, 2.0], 0, None),
            with(&[3.0, 4.0], 1000, None),
            with(&[5.0, 6.0], 3000, Some(10)),
            with(&[7.0, 8.0], 6000, Some(50)),
            with(&[9.0, 1.0], 100, Some(90)), // eth0 went back: no rate for it
            with(&[2.0, 3.0, 4.0], 900, Some(130)), // a core came
        ];
        let mut completed = Vec::new();
        for (k, h) in samples.into_iter().enumerate() {
            for figure in c.push("s1", &sample(5.0 * k as f64, Some(h), None)) {
                let Compiled::Host(stats) = figure else {
                    panic!("{figure:?}")
                };
                completed.push(stats);
            }
        }
        assert_eq!(completed.len(), 5);
        // wlan0 has a rate once it is in the reference too
        assert!(!completed[1].net_io.contains_key("wlan0"));
        assert_eq!(
            completed[2].net_io["wlan0"],
            [40.0 * 8.0 / 1024.0 / 5.0, 120.0 * 8.0 / 1024.0 / 5.0]
        );
        assert!(!completed[3].net_io.contains_key("eth0"));
        assert_eq!(c.host_history("s1", 5.0), Some(completed));

        let series = &c.hosts["s1"][0];
        let layouts: Vec<_> = series
            .history
            .iter()
            .map(|p| Arc::as_ptr(&p.layout))
            .collect();
        assert_eq!(layouts[0], layouts[1], "an unchanged layout is shared");
        assert_ne!(layouts[1], layouts[3]);
    }

    #[test]
    fn a_sample_slightly_early_still_ends_the_period() {
        let mut c = compiler(&[10.0], 10);
        c.push("s1", &sample(0.0, None, Some(vec![process("a:x", 7, 0)])));
        c.push(
            "s1",
            &sample(4.99, None, Some(vec![process("a:x", 7, 100)])),
        );
        let out = c.push(
            "s1",
            &sample(9.98, None, Some(vec![process("a:x", 7, 9_980)])),
        );
        let [Compiled::Process(p)] = out.as_slice() else {
            panic!("{out:?}")
        };
        // 9.98 s of CPU in 9.98 s: one core, 100 % in IRIX mode.
        assert!((p.cpu - 100.0).abs() < 1e-9, "{}", p.cpu);
        assert_eq!((p.pid, p.mem), (7, 1.5));
    }

    #[test]
    fn processes_restart_stop_and_run_on_several_instances_independently() {
        let mut c = compiler(&[5.0, 10.0], 10);
        c.push("s1", &sample(0.0, None, Some(vec![process("a:x", 7, 0)])));
        c.push("s2", &sample(50.0, None, Some(vec![process("a:x", 9, 0)])));
        let out = c.push(
            "s1",
            &sample(5.0, None, Some(vec![process("a:x", 7, 2_500)])),
        );
        assert_eq!(out.len(), 1, "only the 5 s period is over: {out:?}");
        let out = c.push(
            "s2",
            &sample(55.0, None, Some(vec![process("a:x", 9, 5_000)])),
        );
        let [Compiled::Process(p)] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!((p.identifier.as_str(), p.cpu), ("s2", 100.0));
        let both = c.process_history("a:x", 5.0);
        assert_eq!(both.len(), 2);
        assert_eq!(c.latest_processes(5.0).count(), 2);
        // Restarted on s1 (new pid): starts again, no figure from the old reference.
        let out = c.push("s1", &sample(10.0, None, Some(vec![process("a:x", 8, 0)])));
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(c.latest_processes(5.0).count(), 1, "s1's figures are gone");
        // Stopped on s2: forgotten there only.
        c.push("s2", &sample(60.0, None, Some(vec![])));
        let left = c.process_history("a:x", 5.0);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].0, "s1");
        // Process collection off on s1: all its processes forgotten.
        c.push("s1", &sample(15.0, None, None));
        assert!(c.process_history("a:x", 5.0).is_empty());
        assert_eq!(c.nb_cores("s1"), 2);
        assert_eq!(c.nb_cores("s9"), 0);
    }

    #[test]
    fn a_child_that_ended_gives_zero_not_a_negative_cpu() {
        let mut c = compiler(&[5.0], 10);
        c.push(
            "s1",
            &sample(0.0, None, Some(vec![process("a:x", 7, 9_000)])),
        );
        let out = c.push(
            "s1",
            &sample(5.0, None, Some(vec![process("a:x", 7, 1_000)])),
        );
        let [Compiled::Process(p)] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!(p.cpu, 0.0);
    }
}
