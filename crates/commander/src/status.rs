//! Application state and failure flags (docs/supvisors.md, 'Application state'), recomputed from
//! the synthetic process states of the replica.

use crate::synth::SyntheticProcess;
use model::rules::Rules;
use model::ProcessState;

/// Supvisors 0.14 `ApplicationStates`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApplicationState {
    Stopped,
    Starting,
    Running,
    Stopping,
}

impl ApplicationState {
    /// The wire code (`statecode`).
    pub fn code(self) -> i32 {
        match self {
            ApplicationState::Stopped => 0,
            ApplicationState::Starting => 1,
            ApplicationState::Running => 2,
            ApplicationState::Stopping => 3,
        }
    }

    /// The wire name (`statename`).
    pub fn name(self) -> &'static str {
        match self {
            ApplicationState::Stopped => "STOPPED",
            ApplicationState::Starting => "STARTING",
            ApplicationState::Running => "RUNNING",
            ApplicationState::Stopping => "STOPPING",
        }
    }
}

impl std::fmt::Display for ApplicationState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One application as `get_application_info` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationStatus {
    pub name: String,
    pub managed: bool,
    pub state: ApplicationState,
    pub major_failure: bool,
    pub minor_failure: bool,
}

/// Supvisors' `ApplicationStatus.update_status` over the processes of `name`. Unmanaged
/// applications are always STOPPED without failure.
pub(crate) fn evaluate(
    rules: &Rules,
    name: &str,
    processes: &[&SyntheticProcess],
) -> ApplicationStatus {
    let managed = rules.is_managed(name);
    let mut status = ApplicationStatus {
        name: name.to_string(),
        managed,
        state: ApplicationState::Stopped,
        major_failure: false,
        minor_failure: false,
    };
    if !managed {
        return status;
    }
    let (mut starting, mut running, mut stopping) = (false, false, false);
    let mut required_stopped = false;
    // As Supvisors 0.14: only the processes of the start sequence count, and an expected
    // exit (a `wait_exit` step that did its job) is neither a failure nor a stop.
    for p in processes {
        let rules = rules.program_rules(name, &p.process_name);
        if rules.start_sequence == 0 {
            continue;
        }
        let required = rules.required;
        match p.state {
            ProcessState::Running => running = true,
            ProcessState::Starting | ProcessState::Backoff => starting = true,
            ProcessState::Stopping => stopping = true,
            ProcessState::Fatal | ProcessState::Unknown => {
                set_failure(&mut status, required);
            }
            ProcessState::Exited if !p.expected_exit => set_failure(&mut status, required),
            ProcessState::Exited => {}
            ProcessState::Stopped => required_stopped |= required,
        }
    }
    status.state = if stopping {
        ApplicationState::Stopping
    } else if starting {
        ApplicationState::Starting
    } else if running {
        ApplicationState::Running
    } else {
        ApplicationState::Stopped
    };
    // A required process merely stopped only matters while the application is not stopped.
    if required_stopped && status.state != ApplicationState::Stopped {
        status.major_failure = true;
    }
    status
}

fn set_failure(status: &mut ApplicationStatus, required: bool) {
    if required {
        status.major_failure = true;
    } else {
        status.minor_failure = true;
    }
}
