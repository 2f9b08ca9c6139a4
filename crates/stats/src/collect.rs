//! Taking samples with sysinfo, on a thread of its own: reading `/proc` blocks, and the
//! daemon's async workers must stay free for its clients and its processes.
//!
//! ```text
//!  Collector::sample(host?, processes?) ──request──► "stats" thread (owns sysinfo's state)
//!            ▲                                            │ refresh what is asked
//!            └───────────── oneshot: Sample ◄─────────────┘
//! ```
//!
//! Only what a sample needs is refreshed: the CPU and memory counters, the interfaces and
//! disks for a host sample; for processes, the programs' pids and their descendants, found
//! through `/proc/<pid>/task/<tid>/children` rather than by reading every process of the host.

use std::collections::HashSet;
use std::path::Path;
use std::sync::mpsc;
use std::time::Instant;

use sysinfo::{
    CpuRefreshKind, DiskRefreshKind, Disks, MemoryRefreshKind, Networks, Pid, ProcessRefreshKind,
    ProcessesToUpdate, System,
};

use crate::sample::{HostSample, ProcessSample, Sample};
use crate::StatsError;

/// A process to sample: its namespec and pid.
pub type Running = (String, u32);

struct Request {
    host: bool,
    processes: Option<Vec<Running>>,
    reply: tokio::sync::oneshot::Sender<Sample>,
}

/// The handle on the collecting thread; the thread ends when the handle is dropped.
#[derive(Debug)]
pub struct Collector {
    requests: mpsc::Sender<Request>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request").field("host", &self.host).finish()
    }
}

impl Collector {
    /// Starts the thread.
    pub fn start() -> Result<Collector, StatsError> {
        let mut probe = Probe::new()?;
        let (requests, incoming) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("stats".into())
            .spawn(move || {
                while let Ok(request) = incoming.recv() {
                    let sample = probe.sample(request.host, request.processes.as_deref());
                    let _ = request.reply.send(sample);
                }
            })
            .map_err(|e| StatsError::Start(format!("cannot start the statistics thread: {e}")))?;
        Ok(Collector { requests })
    }

    /// A sample of the host (if `host`) and of `processes` (if given), taken on the thread.
    /// `None` if the thread has ended.
    pub async fn sample(&self, host: bool, processes: Option<Vec<Running>>) -> Option<Sample> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.requests
            .send(Request {
                host,
                processes,
                reply,
            })
            .ok()?;
        answer.await.ok()
    }
}

/// sysinfo's state between two samples (CPU use is measured between two refreshes).
struct Probe {
    /// The host's CPU and memory.
    system: System,
    /// The processes sampled (a table of its own, see [`Probe::processes`]).
    process_table: System,
    networks: Networks,
    disks: Disks,
    started: Instant,
    nb_cores: u32,
    total_memory: u64,
}

impl Probe {
    fn new() -> Result<Probe, StatsError> {
        let error = |what: &str, e: sysinfo::Error| StatsError::Start(format!("{what}: {e}"));
        let mut system = System::new().map_err(|e| error("sysinfo", e))?;
        system.refresh_cpu_specifics(CpuRefreshKind::nothing().with_usage());
        system.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        let nb_cores = u32::try_from(system.cpus().len())
            .unwrap_or(u32::MAX)
            .max(1);
        let total_memory = system.total_memory();
        Ok(Probe {
            system,
            process_table: System::new().map_err(|e| error("sysinfo", e))?,
            networks: Networks::new().map_err(|e| error("network interfaces", e))?,
            disks: Disks::new().map_err(|e| error("disks", e))?,
            started: Instant::now(),
            nb_cores,
            total_memory,
        })
    }

    fn sample(&mut self, host: bool, processes: Option<&[Running]>) -> Sample {
        let now = self.started.elapsed().as_secs_f64();
        let host = host.then(|| self.host());
        let processes = processes.map(|list| self.processes(list));
        Sample {
            now,
            nb_cores: self.nb_cores,
            host,
            processes,
        }
    }

    fn host(&mut self) -> HostSample {
        self.system
            .refresh_cpu_specifics(CpuRefreshKind::nothing().with_usage());
        self.system
            .refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        self.networks.refresh(true);
        self.disks.refresh_specifics(
            true,
            DiskRefreshKind::nothing().with_storage().with_io_usage(),
        );
        let mut cpu = vec![self.system.global_cpu_usage()];
        cpu.extend(self.system.cpus().iter().map(|c| c.usage()));
        let total = self.system.total_memory();
        let mem = if total == 0 {
            0.0
        } else {
            let used = total.saturating_sub(self.system.available_memory());
            (used as f64 * 100.0 / total as f64) as f32
        };
        let mut net_io: Vec<_> = self
            .networks
            .iter()
            .map(|(name, data)| {
                (
                    name.to_string_lossy().into_owned(),
                    data.total_received(),
                    data.total_transmitted(),
                )
            })
            .collect();
        net_io.sort();
        let mut disk_io = Vec::new();
        let mut disk_usage = Vec::new();
        let mut devices = HashSet::new();
        for disk in self.disks.iter() {
            let device = disk.name().to_string_lossy();
            let device = device.rsplit('/').next().unwrap_or_default().to_string();
            let usage = disk.usage();
            // One device may be mounted more than once (bind mounts): its I/O once.
            if !device.is_empty() && devices.insert(device.clone()) {
                disk_io.push((device, usage.total_read_bytes, usage.total_written_bytes));
            }
            let space = disk.total_space();
            if space > 0 {
                let used = space.saturating_sub(disk.available_space());
                disk_usage.push((
                    disk.mount_point().to_string_lossy().into_owned(),
                    (used as f64 * 100.0 / space as f64) as f32,
                ));
            }
        }
        HostSample {
            cpu,
            mem,
            net_io,
            disk_io,
            disk_usage,
        }
    }

    fn processes(&mut self, list: &[Running]) -> Vec<ProcessSample> {
        // sysinfo keeps every process it was asked about, gone or not asked again (a
        // program's former pid, a child that ended): start afresh when they outnumber the
        // living ones, so that restarts do not grow the daemon. Nothing is lost: CPU times
        // are read whole from /proc, not as differences.
        if self.process_table.processes().len() > 2 * list.len() + 64 {
            if let Ok(fresh) = System::new() {
                self.process_table = fresh;
            }
        }
        let families: Vec<(usize, Vec<Pid>)> = list
            .iter()
            .enumerate()
            .map(|(i, (_, pid))| (i, family(*pid)))
            .collect();
        let pids: Vec<Pid> = families
            .iter()
            .flat_map(|(_, f)| f.iter().copied())
            .collect();
        self.process_table.refresh_processes_specifics(
            ProcessesToUpdate::Some(&pids),
            true,
            ProcessRefreshKind::nothing().with_cpu().with_memory(),
        );
        families
            .into_iter()
            .filter_map(|(i, family)| {
                let (namespec, pid) = &list[i];
                // The program itself gone between the list and the refresh: no sample.
                self.process_table.process(Pid::from_u32(*pid))?;
                let (cpu_ms, rss) = family
                    .iter()
                    .filter_map(|p| self.process_table.process(*p))
                    .fold((0u64, 0u64), |(c, m), p| {
                        (c + p.accumulated_cpu_time(), m + p.memory())
                    });
                let mem = if self.total_memory == 0 {
                    0.0
                } else {
                    (rss as f64 * 100.0 / self.total_memory as f64) as f32
                };
                Some(ProcessSample {
                    namespec: namespec.clone(),
                    pid: *pid,
                    cpu_ms,
                    mem,
                })
            })
            .collect()
    }
}

/// `pid` and its descendants, from the kernel's per-thread children lists (a kernel without
/// them gives the process alone).
fn family(pid: u32) -> Vec<Pid> {
    let mut out = vec![Pid::from_u32(pid)];
    let mut next = 0;
    while next < out.len() && out.len() < 4096 {
        let parent = out[next].as_u32();
        next += 1;
        let tasks = Path::new("/proc").join(parent.to_string()).join("task");
        let Ok(entries) = std::fs::read_dir(&tasks) else {
            continue;
        };
        for task in entries.flatten() {
            let Ok(text) = std::fs::read_to_string(task.path().join("children")) else {
                continue;
            };
            out.extend(
                text.split_ascii_whitespace()
                    .filter_map(|t| t.parse::<u32>().ok())
                    .map(Pid::from_u32),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_busy_child_counts_for_its_parent_and_the_host_is_measured() {
        // A shell whose child spins: the shell itself uses nothing.
        let mut shell = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done & wait"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("sh");
        let pid = shell.id();
        let collector = Collector::start().expect("collector");
        let running = vec![("busy:shell".to_string(), pid)];
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        let first = loop {
            let s = collector
                .sample(true, Some(running.clone()))
                .await
                .expect("a sample");
            // The child may not exist yet right after the spawn.
            if family(pid).len() > 1 || Instant::now() > deadline {
                break s;
            }
        };
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        let second = collector
            .sample(true, Some(running.clone()))
            .await
            .expect("a sample");
        // The child first: once the shell is gone it would be nobody's.
        let pids: Vec<String> = family(pid).iter().map(|p| p.to_string()).collect();
        let _ = std::process::Command::new("kill")
            .arg("-9")
            .args(&pids)
            .status();
        let _ = shell.wait();
        let p0 = &first.processes.as_ref().expect("processes")[0];
        let p1 = &second.processes.as_ref().expect("processes")[0];
        let cpu_secs = (p1.cpu_ms - p0.cpu_ms) as f64 / 1000.0;
        let secs = second.now - first.now;
        // The spinning child used about one core the whole time (the machine may be busy).
        assert!(
            cpu_secs > secs * 0.3 && cpu_secs < secs * 1.2,
            "cpu {cpu_secs} s in {secs} s"
        );
        assert!(p1.mem > 0.0);
        let host = second.host.expect("host");
        assert_eq!(host.cpu.len() as u32, second.nb_cores + 1);
        assert!(host.cpu[0] > 0.0, "{:?}", host.cpu);
        assert!(host.mem > 0.0 && host.mem < 100.0);
        assert!(
            host.net_io.iter().any(|(n, _, _)| n == "lo"),
            "{:?}",
            host.net_io
        );
        // A process that is gone gives no sample.
        let gone = collector
            .sample(false, Some(vec![("x:y".into(), 999_999_999)]))
            .await
            .expect("a sample");
        assert_eq!(gone.processes, Some(vec![]));
        assert!(gone.host.is_none());
    }
}
