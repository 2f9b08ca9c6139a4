//! Supvisors' request checks and fault texts: state gating (`_check_state`), log levels
//! (`_get_logger_level`), and how a failed Raft write is reported to an XML-RPC client.

use cluster::{CommandResult, MembershipError, SupvisorsState, WriteError};
use model::{Fault, FaultCode, LogLevel};
use web::params::describe;
use xmlrpc::Value;

/// Which global states a method needs (Supvisors 0.14 `_check_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Answered in any state.
    Any,
    /// `_check_from_deployment`.
    FromDeployment,
    /// `_check_operating`.
    Operation,
    /// `_check_operating_conciliation`.
    OperationOrConciliation,
    /// `_check_conciliation`.
    Conciliation,
}

impl Gate {
    fn states(self) -> &'static [SupvisorsState] {
        use SupvisorsState::*;
        match self {
            Gate::Any => &SupvisorsState::ALL,
            Gate::FromDeployment => &[
                Deployment,
                Operation,
                Conciliation,
                Restarting,
                ShuttingDown,
            ],
            Gate::Operation => &[Operation],
            Gate::OperationOrConciliation => &[Operation, Conciliation],
            Gate::Conciliation => &[Conciliation],
        }
    }

    /// BAD_SUPVISORS_STATE with Supvisors' text, e.g. `Supvisors (state=INITIALIZATION) not in
    /// state ['OPERATION'] to perform request`.
    pub fn check(self, state: SupvisorsState) -> Result<(), Fault> {
        let allowed = self.states();
        if allowed.contains(&state) {
            return Ok(());
        }
        let names: Vec<String> = allowed.iter().map(|s| format!("'{}'", s.name())).collect();
        Err(Fault::with(
            FaultCode::BadSupvisorsState,
            format!(
                "Supvisors (state={}) not in state [{}] to perform request",
                state.name(),
                names.join(", ")
            ),
        ))
    }
}

/// A write that did not commit, as a fault the client can act on. Leadership problems are
/// BAD_SUPVISORS_STATE (retry later), like Supvisors' refusals outside OPERATION.
pub fn write_fault(error: &WriteError) -> Fault {
    let bad_state = |text: String| Fault::with(FaultCode::BadSupvisorsState, text);
    match error {
        WriteError::NoLeader => bad_state("no leader: election in progress".into()),
        WriteError::CutOff => bad_state("cut off: this instance cannot reach the quorum".into()),
        WriteError::Timeout(after) => bad_state(format!(
            "no leader answered within {:.1}s: election in progress or no quorum",
            after.as_secs_f64()
        )),
        WriteError::Forward { leader, reason } => {
            bad_state(format!("leader {leader} unreachable: {reason}"))
        }
        WriteError::Shutdown => Fault::new(FaultCode::ShutdownState),
        WriteError::Raft(reason) => Fault::with(FaultCode::Failed, format!("raft error: {reason}")),
    }
}

/// A refused or failed membership request (`get_raft_members`, `remove_member`,
/// `add_member`). A bad identifier is INCORRECT_PARAMETERS; a cluster that cannot do it now
/// (no leader, cut off, quorum at stake, instance not caught up) is BAD_SUPVISORS_STATE, like
/// Supvisors' refusals outside OPERATION; a Raft failure is FAILED. The text says why.
pub fn membership_fault(error: &MembershipError) -> Fault {
    let code = match error {
        MembershipError::Unknown(_)
        | MembershipError::NotMember(_)
        | MembershipError::AlreadyVoter(_) => FaultCode::IncorrectParameters,
        MembershipError::NoLeader
        | MembershipError::CutOff
        | MembershipError::QuorumLoss { .. }
        | MembershipError::LastVoter(_)
        | MembershipError::IsMaster(_)
        | MembershipError::NotCaughtUp { .. }
        | MembershipError::Forward { .. }
        | MembershipError::NotLeader { .. } => FaultCode::BadSupvisorsState,
        MembershipError::Raft(_) => FaultCode::Failed,
    };
    Fault::with(code, error.to_string())
}

/// A committed command the state machine refused (FAILED with the reason).
pub fn command_fault(result: &CommandResult) -> Option<Fault> {
    match result {
        CommandResult::Rejected(rejection) => {
            Some(Fault::with(FaultCode::Failed, rejection.to_string()))
        }
        CommandResult::Applied | CommandResult::Unchanged | CommandResult::JobsCreated(_) => None,
    }
}

/// Supervisor's `LevelsByDescription`, in declaration order, with `LevelsByName` numbers.
pub const LOG_LEVELS: [(&str, i32, LogLevel); 7] = [
    ("critical", 50, LogLevel::Critical),
    ("error", 40, LogLevel::Error),
    ("warn", 30, LogLevel::Warn),
    ("info", 20, LogLevel::Info),
    ("debug", 10, LogLevel::Debug),
    ("trace", 5, LogLevel::Trace),
    ("blather", 3, LogLevel::Blather),
];

fn level_number(number: i64) -> Result<LogLevel, Fault> {
    LOG_LEVELS
        .iter()
        .find(|(_, n, _)| i64::from(*n) == number)
        .map(|(_, _, level)| *level)
        .ok_or_else(|| {
            let numbers: Vec<String> = LOG_LEVELS.iter().map(|(_, n, _)| n.to_string()).collect();
            Fault::with(
                FaultCode::IncorrectParameters,
                format!(
                    "invalid logger level: {number} (integer expected in [{}])",
                    numbers.join(", ")
                ),
            )
        })
}

/// `change_log_level`'s parameter: a level description (exact, as `getattr` matches it) or its
/// number. INCORRECT_PARAMETERS with Supvisors' texts otherwise.
pub fn log_level(value: &Value) -> Result<LogLevel, Fault> {
    let incorrect = |text: String| Fault::with(FaultCode::IncorrectParameters, text);
    match value {
        Value::String(name) => LOG_LEVELS
            .iter()
            .find(|(desc, _, _)| desc == name)
            .map(|(_, _, level)| *level)
            .ok_or_else(|| {
                let names: Vec<String> = LOG_LEVELS
                    .iter()
                    .map(|(d, _, _)| format!("'{d}'"))
                    .collect();
                incorrect(format!(
                    "invalid logger level: {name} (string expected in [{}])",
                    names.join(", ")
                ))
            }),
        Value::Int(n) => level_number(i64::from(*n)),
        Value::I8(n) => level_number(*n),
        other => Err(incorrect(format!(
            "invalid logger level: {} (string or integer expected)",
            describe(other)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn gating_texts_match_supvisors() {
        assert!(Gate::Any.check(SupvisorsState::Off).is_ok());
        assert!(Gate::FromDeployment
            .check(SupvisorsState::ShuttingDown)
            .is_ok());
        let f = Gate::Operation
            .check(SupvisorsState::Initialization)
            .unwrap_err();
        assert_eq!(f.code.code(), 101);
        assert_eq!(
            f.fault_string(),
            "BAD_SUPVISORS_STATE: Supvisors (state=INITIALIZATION) not in state ['OPERATION'] to perform request"
        );
        let f = Gate::FromDeployment
            .check(SupvisorsState::Restart)
            .unwrap_err();
        assert_eq!(
            f.fault_string(),
            "BAD_SUPVISORS_STATE: Supvisors (state=RESTART) not in state ['DEPLOYMENT', 'OPERATION', 'CONCILIATION', 'RESTARTING', 'SHUTTING_DOWN'] to perform request"
        );
    }

    #[test]
    fn write_errors_become_clear_faults() {
        assert_eq!(
            write_fault(&WriteError::NoLeader).fault_string(),
            "BAD_SUPVISORS_STATE: no leader: election in progress"
        );
        assert_eq!(
            write_fault(&WriteError::CutOff).code,
            FaultCode::BadSupvisorsState
        );
        let f = write_fault(&WriteError::Timeout(Duration::from_millis(1500)));
        assert_eq!(f.code, FaultCode::BadSupvisorsState);
        assert!(f.fault_string().contains("1.5s"), "{}", f.fault_string());
        assert_eq!(
            write_fault(&WriteError::Shutdown).fault_string(),
            "SHUTDOWN_STATE"
        );
        assert_eq!(
            write_fault(&WriteError::Forward {
                leader: "b".into(),
                reason: "refused".into()
            })
            .fault_string(),
            "BAD_SUPVISORS_STATE: leader b unreachable: refused"
        );
        assert_eq!(
            write_fault(&WriteError::Raft("x".into())).code,
            FaultCode::Failed
        );
    }

    #[test]
    fn log_levels_by_name_or_number() {
        assert_eq!(
            log_level(&Value::String("debug".into())),
            Ok(LogLevel::Debug)
        );
        assert_eq!(log_level(&Value::Int(3)), Ok(LogLevel::Blather));
        assert_eq!(log_level(&Value::I8(50)), Ok(LogLevel::Critical));
        assert_eq!(
            log_level(&Value::String("DEBUG".into())).unwrap_err().fault_string(),
            "INCORRECT_PARAMETERS: invalid logger level: DEBUG (string expected in ['critical', 'error', 'warn', 'info', 'debug', 'trace', 'blather'])"
        );
        assert_eq!(
            log_level(&Value::Int(7)).unwrap_err().fault_string(),
            "INCORRECT_PARAMETERS: invalid logger level: 7 (integer expected in [50, 40, 30, 20, 10, 5, 3])"
        );
        assert_eq!(
            log_level(&Value::Bool(true)).unwrap_err().fault_string(),
            "INCORRECT_PARAMETERS: invalid logger level: True (string or integer expected)"
        );
    }
}
