//! The fault table of Supervisor's XML-RPC API (`supervisor.xmlrpc.Faults`) plus the codes that
//! Supvisors registers. A `Fault` renders as Supervisor does: `NAME` or `NAME: extra`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FaultCode {
    UnknownMethod,
    IncorrectParameters,
    BadArguments,
    SignatureUnsupported,
    ShutdownState,
    BadName,
    BadSignal,
    NoFile,
    NotExecutable,
    Failed,
    AbnormalTermination,
    SpawnError,
    AlreadyStarted,
    NotRunning,
    Success,
    AlreadyAdded,
    StillRunning,
    CantReread,
    SupvisorsConfError,
    BadSupvisorsState,
    NotManaged,
    Disabled,
    NotApplicable,
    NotInstalled,
}

impl FaultCode {
    pub const ALL: [FaultCode; 24] = [
        FaultCode::UnknownMethod,
        FaultCode::IncorrectParameters,
        FaultCode::BadArguments,
        FaultCode::SignatureUnsupported,
        FaultCode::ShutdownState,
        FaultCode::BadName,
        FaultCode::BadSignal,
        FaultCode::NoFile,
        FaultCode::NotExecutable,
        FaultCode::Failed,
        FaultCode::AbnormalTermination,
        FaultCode::SpawnError,
        FaultCode::AlreadyStarted,
        FaultCode::NotRunning,
        FaultCode::Success,
        FaultCode::AlreadyAdded,
        FaultCode::StillRunning,
        FaultCode::CantReread,
        FaultCode::SupvisorsConfError,
        FaultCode::BadSupvisorsState,
        FaultCode::NotManaged,
        FaultCode::Disabled,
        FaultCode::NotApplicable,
        FaultCode::NotInstalled,
    ];

    pub fn code(self) -> i32 {
        match self {
            FaultCode::UnknownMethod => 1,
            FaultCode::IncorrectParameters => 2,
            FaultCode::BadArguments => 3,
            FaultCode::SignatureUnsupported => 4,
            FaultCode::ShutdownState => 6,
            FaultCode::BadName => 10,
            FaultCode::BadSignal => 11,
            FaultCode::NoFile => 20,
            FaultCode::NotExecutable => 21,
            FaultCode::Failed => 30,
            FaultCode::AbnormalTermination => 40,
            FaultCode::SpawnError => 50,
            FaultCode::AlreadyStarted => 60,
            FaultCode::NotRunning => 70,
            FaultCode::Success => 80,
            FaultCode::AlreadyAdded => 90,
            FaultCode::StillRunning => 91,
            FaultCode::CantReread => 92,
            FaultCode::SupvisorsConfError => 100,
            FaultCode::BadSupvisorsState => 101,
            FaultCode::NotManaged => 102,
            FaultCode::Disabled => 103,
            FaultCode::NotApplicable => 104,
            FaultCode::NotInstalled => 105,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FaultCode::UnknownMethod => "UNKNOWN_METHOD",
            FaultCode::IncorrectParameters => "INCORRECT_PARAMETERS",
            FaultCode::BadArguments => "BAD_ARGUMENTS",
            FaultCode::SignatureUnsupported => "SIGNATURE_UNSUPPORTED",
            FaultCode::ShutdownState => "SHUTDOWN_STATE",
            FaultCode::BadName => "BAD_NAME",
            FaultCode::BadSignal => "BAD_SIGNAL",
            FaultCode::NoFile => "NO_FILE",
            FaultCode::NotExecutable => "NOT_EXECUTABLE",
            FaultCode::Failed => "FAILED",
            FaultCode::AbnormalTermination => "ABNORMAL_TERMINATION",
            FaultCode::SpawnError => "SPAWN_ERROR",
            FaultCode::AlreadyStarted => "ALREADY_STARTED",
            FaultCode::NotRunning => "NOT_RUNNING",
            FaultCode::Success => "SUCCESS",
            FaultCode::AlreadyAdded => "ALREADY_ADDED",
            FaultCode::StillRunning => "STILL_RUNNING",
            FaultCode::CantReread => "CANT_REREAD",
            FaultCode::SupvisorsConfError => "SUPVISORS_CONF_ERROR",
            FaultCode::BadSupvisorsState => "BAD_SUPVISORS_STATE",
            FaultCode::NotManaged => "NOT_MANAGED",
            FaultCode::Disabled => "DISABLED",
            FaultCode::NotApplicable => "NOT_APPLICABLE",
            FaultCode::NotInstalled => "NOT_INSTALLED",
        }
    }

    pub fn from_code(code: i32) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.code() == code)
    }
}

/// An XML-RPC fault as Supervisor raises it: a code and an optional extra text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{}", self.fault_string())]
pub struct Fault {
    pub code: FaultCode,
    pub extra: Option<String>,
}

impl Fault {
    pub fn new(code: FaultCode) -> Self {
        Fault { code, extra: None }
    }

    pub fn with(code: FaultCode, extra: impl Into<String>) -> Self {
        Fault {
            code,
            extra: Some(extra.into()),
        }
    }

    /// `NAME` or `NAME: extra`, exactly as Supervisor's `RPCError.__str__`.
    pub fn fault_string(&self) -> String {
        match &self.extra {
            Some(extra) => format!("{}: {}", self.code.name(), extra),
            None => self.code.name().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_strings_match_supervisor() {
        assert_eq!(
            Fault::with(FaultCode::BadName, "nope").fault_string(),
            "BAD_NAME: nope"
        );
        assert_eq!(
            Fault::new(FaultCode::NotRunning).fault_string(),
            "NOT_RUNNING"
        );
        for f in FaultCode::ALL {
            assert_eq!(FaultCode::from_code(f.code()), Some(f));
        }
    }
}
