//! What one instance measures of its host and of its processes at one moment: the raw sample
//! that it compiles itself and sends to every other instance (Supvisors' STATISTICS message),
//! so that each instance compiles the whole cluster's figures. Counters are sent as they are
//! (totals since boot, CPU time since start), never as rates: a receiver may drop a sample
//! without skewing the next figure, and each period takes its own differences.

use serde::{Deserialize, Serialize};

/// One collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// When it was taken, in seconds on the sender's monotonic clock (only differences
    /// between two samples of one sender are used).
    pub now: f64,
    /// The sender's logical cores (Solaris mode divides a process's CPU by it).
    pub nb_cores: u32,
    /// `None` when the sender collects no host statistics.
    pub host: Option<HostSample>,
    /// `None` when the sender collects no process statistics; otherwise every process it runs
    /// (one missing from a list has stopped).
    pub processes: Option<Vec<ProcessSample>>,
}

/// A host's resources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostSample {
    /// CPU use since the sender's previous host sample, in %: the average over the cores
    /// first, then each core (sysinfo measures use between two refreshes, not jiffies).
    pub cpu: Vec<f32>,
    /// Memory in use (total minus available), in % of the total.
    pub mem: f32,
    /// Per network interface: bytes received and sent since boot.
    pub net_io: Vec<(String, u64, u64)>,
    /// Per disk: bytes read and written since boot.
    pub disk_io: Vec<(String, u64, u64)>,
    /// Per mounted partition: space used, in %.
    pub disk_usage: Vec<(String, f32)>,
}

/// A running process and its descendants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessSample {
    pub namespec: String,
    pub pid: u32,
    /// CPU time (user + system) of the process and of its living descendants, in ms.
    pub cpu_ms: u64,
    /// Resident memory of the process and of its living descendants, in % of the host's.
    pub mem: f32,
}
