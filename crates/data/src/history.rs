//! The cluster's history: who asked for what and when, and what the cluster did — user
//! commands with the instance and user that asked, leader elections, instance and cluster
//! state changes, failure strategies applied, jobs and how they ended.
//!
//! Why in the replicated state: every instance then holds the same entries in the same order,
//! with the same times and Raft indexes, and a new leader or a restarted instance has them
//! all. Each entry is derived, while a log entry is applied, from the entry's [`Stamp`] (when
//! and by whom it was written) and from what applying it changed; nothing reads a clock here,
//! so every replica derives exactly the same entries. Retention is bounded: the latest
//! [`HISTORY_KEPT`] entries.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::jobs::{ItemAction, Job, JobKind};

/// How many entries the state keeps (the oldest go first).
pub const HISTORY_KEPT: usize = 1000;

/// When, where and by whom a log entry was written: the instance whose front end took a
/// user's request (and the user its HTTP authentication named, empty without credentials),
/// or the leader for its own decisions. The leader stamps any entry that comes unstamped.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Stamp {
    /// Milliseconds since the epoch, on the writer's clock.
    pub at_ms: i64,
    pub instance: String,
    pub user: String,
}

/// Where the entry being applied sits in the Raft log (the store knows, the state does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPosition<'a> {
    pub index: u64,
    pub term: u64,
    /// The identifier of the leader that appended the entry.
    pub leader: &'a str,
}

/// What an entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HistoryKind {
    /// A user's request (`start_application`, `disable`, `update_numprocs`, `shutdown`…).
    Command,
    /// A new leader, seen at the first entry of its term.
    Election,
    /// An instance changed state (RUNNING, SILENT, ISOLATED…).
    Instance,
    /// The cluster changed state (DEPLOYMENT, OPERATION, CONCILIATION…).
    Cluster,
    /// A running failure strategy the leader applied, and what it does.
    Strategy,
    /// A job (a start or stop sequence) ended.
    Job,
}

impl HistoryKind {
    pub fn name(self) -> &'static str {
        match self {
            HistoryKind::Command => "command",
            HistoryKind::Election => "election",
            HistoryKind::Instance => "instance",
            HistoryKind::Cluster => "cluster",
            HistoryKind::Strategy => "strategy",
            HistoryKind::Job => "job",
        }
    }
}

/// One entry of the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Position in the history: grows by one per entry, never reused.
    pub seq: u64,
    /// The Raft index and term of the log entry it comes from.
    pub index: u64,
    pub term: u64,
    /// From the log entry's [`Stamp`].
    pub at_ms: i64,
    pub kind: HistoryKind,
    /// The instance that asked (a command), the one concerned (an instance change), the new
    /// leader (an election), or the leader that decided.
    pub instance: String,
    /// The user that asked, for a command ('' otherwise, or without credentials).
    pub user: String,
    /// What happened, in the words of the Supvisors method or state it concerns.
    pub text: String,
}

/// The kept entries, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct History {
    next_seq: u64,
    /// The term of the latest election recorded.
    term: u64,
    entries: VecDeque<HistoryEntry>,
}

impl History {
    /// Every kept entry, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = &HistoryEntry> {
        self.entries.iter()
    }

    /// The kept entries with `seq >= from`, oldest first.
    pub fn since(&self, from: u64) -> impl Iterator<Item = &HistoryEntry> {
        let skip = self.entries.partition_point(|e| e.seq < from);
        self.entries.iter().skip(skip)
    }

    /// The seq the next entry will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// An election entry when `at` is the first stamped entry of a newer term.
    pub(crate) fn note_term(&mut self, at: LogPosition<'_>, stamp: &Stamp) {
        if at.term > self.term {
            self.term = at.term;
            self.push(
                at,
                stamp.at_ms,
                HistoryKind::Election,
                at.leader,
                "",
                format!("leader {} (term {})", at.leader, at.term),
            );
        }
    }

    pub(crate) fn push(
        &mut self,
        at: LogPosition<'_>,
        at_ms: i64,
        kind: HistoryKind,
        instance: &str,
        user: &str,
        text: String,
    ) {
        self.entries.push_back(HistoryEntry {
            seq: self.next_seq,
            index: at.index,
            term: at.term,
            at_ms,
            kind,
            instance: instance.to_string(),
            user: user.to_string(),
            text,
        });
        self.next_seq += 1;
        while self.entries.len() > HISTORY_KEPT {
            self.entries.pop_front();
        }
    }
}

/// A job's kind in the words of the Supvisors method that makes it.
pub(crate) fn kind_text(kind: &JobKind) -> String {
    let args = |extra_args: &str| {
        if extra_args.is_empty() {
            String::new()
        } else {
            format!(" {extra_args:?}")
        }
    };
    match kind {
        JobKind::Deployment { forced: false } => "deployment".into(),
        JobKind::Deployment { forced: true } => "restart_sequence".into(),
        JobKind::StartApplication {
            application,
            strategy,
        } => format!("start_application {} {application}", strategy.name()),
        JobKind::StopApplication { application } => format!("stop_application {application}"),
        JobKind::RestartApplication {
            application,
            strategy,
        } => format!("restart_application {} {application}", strategy.name()),
        JobKind::StartProcess {
            namespec,
            strategy,
            extra_args,
        } => format!(
            "start_process {} {namespec}{}",
            strategy.name(),
            args(extra_args)
        ),
        JobKind::StopProcess { namespec } => format!("stop_process {namespec}"),
        JobKind::RestartProcess {
            namespec,
            strategy,
            extra_args,
        } => format!(
            "restart_process {} {namespec}{}",
            strategy.name(),
            args(extra_args)
        ),
        JobKind::GlobalStop {
            then: crate::jobs::FinalAction::Restart,
        } => "restart".into(),
        JobKind::GlobalStop {
            then: crate::jobs::FinalAction::Shutdown,
        } => "shutdown".into(),
        JobKind::Conciliate { strategy } => format!("conciliate {}", strategy.name()),
        JobKind::RunningFailure { application } => {
            format!("running failure strategy on {application}")
        }
    }
}

/// A created job: its kind, and for a failure strategy what it does to which processes.
pub(crate) fn describe_job(job: &Job) -> String {
    const SHOWN: usize = 8;
    let mut text = format!("job {}: {}", job.id, kind_text(&job.kind));
    if let JobKind::RunningFailure { .. } = job.kind {
        let actions: Vec<String> = job
            .items
            .iter()
            .map(|item| match &item.action {
                ItemAction::Start { .. } => format!("start {}", item.namespec),
                ItemAction::Stop { .. } => format!("stop {}", item.namespec),
            })
            .collect();
        let more = actions.len().saturating_sub(SHOWN);
        text.push_str(": ");
        text.push_str(&actions[..actions.len().min(SHOWN)].join(", "));
        if more > 0 {
            text.push_str(&format!(" and {more} more"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::{Job, JobKind, JobOp, JobOutcome};
    use crate::state::{ClusterState, Command, CommandResult, InstanceState, Target};
    use model::supvisors::StartingStrategy;

    fn stamped(instance: &str, user: &str, at_ms: i64, command: Command) -> Command {
        Command::Stamped {
            stamp: Stamp {
                at_ms,
                instance: instance.into(),
                user: user.into(),
            },
            command: Box::new(command),
        }
    }

    fn at(index: u64, term: u64, leader: &str) -> LogPosition<'_> {
        LogPosition {
            index,
            term,
            leader,
        }
    }

    fn texts(state: &ClusterState) -> Vec<(u64, &'static str, String, String, String)> {
        state
            .history()
            .entries()
            .map(|e| {
                let kind = e.kind.name();
                (
                    e.index,
                    kind,
                    e.instance.clone(),
                    e.user.clone(),
                    e.text.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn stamped_entries_record_elections_commands_state_changes_and_jobs() {
        let mut s = ClusterState::new();
        let checking = Command::InstanceState {
            instance: "s1".into(),
            state: InstanceState::Checking,
        };
        s.apply_logged(&stamped("s1", "", 1_000, checking), at(1, 1, "s1"));
        let disable = Command::Disable {
            target: Target::All,
            program: "web".into(),
        };
        s.apply_logged(&stamped("s2", "alice", 2_000, disable), at(2, 1, "s1"));
        let job = Job::new(
            JobKind::StartApplication {
                application: "shop".into(),
                strategy: StartingStrategy::Config,
            },
            "s2",
            3_000,
        );
        let create = Command::Jobs(vec![JobOp::Create(job)]);
        let CommandResult::JobsCreated(ids) =
            s.apply_logged(&stamped("s2", "alice", 3_000, create), at(3, 1, "s1"))
        else {
            panic!("the job is created");
        };
        let finish = Command::Jobs(vec![JobOp::Finish {
            job: ids[0],
            outcome: JobOutcome {
                ok: false,
                message: "no resource available".into(),
                at_ms: 4_000,
            },
        }]);
        // A new leader's first entry: its election comes first.
        s.apply_logged(&stamped("s3", "", 4_000, finish), at(5, 2, "s3"));
        // Unstamped entries are applied without a record.
        s.apply_logged(&Command::Noop, at(6, 2, "s3"));
        let id = ids[0];
        assert_eq!(
            texts(&s),
            [
                (
                    1,
                    "election",
                    "s1".into(),
                    "".into(),
                    "leader s1 (term 1)".into()
                ),
                (
                    1,
                    "instance",
                    "s1".into(),
                    "".into(),
                    "instance s1: CHECKING".into()
                ),
                (
                    2,
                    "command",
                    "s2".into(),
                    "alice".into(),
                    "disable web on every instance".into()
                ),
                (
                    3,
                    "command",
                    "s2".into(),
                    "alice".into(),
                    format!("job {id}: start_application CONFIG shop")
                ),
                (
                    5,
                    "election",
                    "s3".into(),
                    "".into(),
                    "leader s3 (term 2)".into()
                ),
                (
                    5,
                    "job",
                    "s3".into(),
                    "".into(),
                    format!(
                        "job {id} (start_application CONFIG shop) failed: no resource available"
                    )
                ),
            ]
        );
        let times: Vec<i64> = s.history().entries().map(|e| e.at_ms).collect();
        assert_eq!(times, [1_000, 1_000, 2_000, 3_000, 4_000, 4_000]);
        let seqs: Vec<u64> = s.history().since(4).map(|e| e.seq).collect();
        assert_eq!(seqs, [4, 5]);
    }

    #[test]
    fn a_loss_in_two_steps_is_recorded_in_two_lines() {
        let mut s = ClusterState::new();
        for (index, state) in [InstanceState::Checking, InstanceState::Silent]
            .into_iter()
            .enumerate()
        {
            let cmd = Command::InstanceState {
                instance: "s2".into(),
                state,
            };
            s.apply_logged(
                &stamped("s1", "", 1_000, cmd),
                at(index as u64 + 1, 1, "s1"),
            );
        }
        let lost = Command::InstanceLost {
            instance: "s2".into(),
        };
        s.apply_logged(&stamped("s1", "", 3_250, lost), at(3, 1, "s1"));
        let lines: Vec<String> = texts(&s).into_iter().map(|t| t.4).collect();
        assert_eq!(
            lines[1..],
            [
                "instance s2: CHECKING",
                "instance s2: SILENT",
                "instance s2: its processes declared lost"
            ]
        );
    }

    #[test]
    fn a_job_no_instance_asked_for_is_the_leaders_strategy_or_sequence() {
        use crate::jobs::{Item, ItemAction, ItemState};
        let mut s = ClusterState::new();
        let mut job = Job::new(
            JobKind::RunningFailure {
                application: "crunch".into(),
            },
            "",
            10,
        );
        for (namespec, action) in [
            ("crunch:w_0", ItemAction::Stop { on: None }),
            (
                "crunch:w_0",
                ItemAction::Start {
                    strategy: StartingStrategy::Config,
                    extra_args: String::new(),
                    wait_exit: false,
                    required: true,
                    expected_loading: 0,
                    on: None,
                },
            ),
        ] {
            job.items.push(Item {
                track: 0,
                step: 0,
                namespec: namespec.into(),
                action,
                state: ItemState::Pending,
            });
        }
        let deployment = Job::new(JobKind::Deployment { forced: false }, "", 10);
        let create = Command::Jobs(vec![JobOp::Create(job), JobOp::Create(deployment)]);
        s.apply_logged(&stamped("s1", "", 10, create), at(7, 3, "s1"));
        let found: Vec<(&str, String, String)> = s
            .history()
            .entries()
            .skip(1) // the election
            .map(|e| (e.kind.name(), e.instance.clone(), e.text.clone()))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "strategy",
                    "s1".to_string(),
                    "job 0: running failure strategy on crunch: stop crunch:w_0, start crunch:w_0"
                        .to_string()
                ),
                ("cluster", "s1".to_string(), "job 1: deployment".to_string()),
            ]
        );
    }

    #[test]
    fn a_refused_entry_records_nothing_and_the_oldest_entries_go_first() {
        let mut s = ClusterState::new();
        // RUNNING straight from UNKNOWN is refused: no record but the election.
        let running = Command::InstanceState {
            instance: "s1".into(),
            state: InstanceState::Running,
        };
        let result = s.apply_logged(&stamped("s1", "", 1, running), at(1, 1, "s1"));
        assert!(matches!(result, CommandResult::Rejected(_)), "{result:?}");
        assert_eq!(s.history().entries().count(), 1);
        let mut h = History::default();
        for n in 0..(HISTORY_KEPT as u64 + 10) {
            h.push(
                at(n, 1, "s1"),
                0,
                HistoryKind::Command,
                "s1",
                "",
                n.to_string(),
            );
        }
        assert_eq!(h.entries().count(), HISTORY_KEPT);
        assert_eq!(h.entries().next().map(|e| e.seq), Some(10));
        assert_eq!(h.next_seq(), HISTORY_KEPT as u64 + 10);
        assert_eq!(h.since(0).count(), HISTORY_KEPT);
    }
}
