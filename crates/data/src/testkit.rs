//! Builders of process reports for tests: the state's own unit tests and, through the
//! `testkit` feature, those of the crates built on it (cluster's book and liveness), so no test
//! spells out a whole [`ProcessStatus`] literal again.

use model::ProcessState;

use crate::state::{BatchSeq, Command, ProcessStatus, StoppedRun};

/// A process of `group` named `name` in `state` with `pid`, started at a fixed time.
pub fn status(group: &str, name: &str, state: ProcessState, pid: i32) -> ProcessStatus {
    ProcessStatus {
        group: group.into(),
        name: name.into(),
        state,
        pid,
        start: 1_700_000_000,
        stop: 0,
        exitstatus: 0,
        expected: true,
        spawnerr: String::new(),
        description: format!("pid {pid}"),
        stdout_logfile: String::new(),
        stderr_logfile: String::new(),
    }
}

/// The run of `namespec` with `pid` that [`status`] describes (its start time), as a fence
/// reports it stopped.
pub fn stopped_run(namespec: &str, pid: i32) -> StoppedRun {
    StoppedRun {
        namespec: namespec.into(),
        pid,
        start: 1_700_000_000,
    }
}

/// A partial batch `ev` of `instance`'s daemon `incarnation`, numbered `counter`.
pub fn events(instance: &str, incarnation: u64, counter: u64, ev: Vec<ProcessStatus>) -> Command {
    Command::ProcessEvents {
        instance: instance.into(),
        seq: BatchSeq::new(incarnation, counter),
        full: false,
        events: ev,
    }
}
