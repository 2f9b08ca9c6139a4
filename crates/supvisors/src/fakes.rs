//! Test doubles: a cluster node whose replica and write outcomes the test controls, and a local
//! supervisor holding a fixed process table.

use cluster::api::RaftStatus;
use cluster::{
    ClusterApi, Command, CommandResult, LeaderView, MembershipChange, MembershipError, RaftMember,
    Replica, WriteError,
};
use model::{make_namespec, Fault, FaultCode, ProcessState, SupervisorState};
use procman::{
    Channel, ConfigDiff, ConfigInfo, ConfigValue, ProcResult, ProcessInfo, SupervisorApi,
};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// What the next writes do.
#[derive(Debug, Clone)]
pub enum WriteMode {
    /// Apply to the replica and return the result.
    Apply,
    /// Commit "on the leader" but never show it in the local replica.
    ApplyElsewhere,
    Fail(WriteError),
    /// Never return.
    Hang,
}

struct ClusterInner {
    local: String,
    replica: watch::Sender<Replica>,
    leader: Mutex<LeaderView>,
    raft: Mutex<RaftStatus>,
    mode: Mutex<WriteMode>,
    writes: Mutex<Vec<Command>>,
    members: Mutex<Result<Vec<RaftMember>, MembershipError>>,
    /// What the next membership changes return.
    membership_outcome: Mutex<Result<(), MembershipError>>,
    membership_changes: Mutex<Vec<MembershipChange>>,
    local_calls: Mutex<Vec<(String, cluster::LocalCall)>>,
}

#[derive(Clone)]
pub struct FakeCluster(Arc<ClusterInner>);

/// Moves `last_applied` to the next log index, as applying one entry does.
fn advance(replica: &mut Replica) {
    let mut id = replica.last_applied.unwrap_or_default();
    id.index += 1;
    replica.last_applied = Some(id);
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FakeCluster {
    pub fn new(local: &str) -> Self {
        let (tx, _) = watch::channel(Replica::default());
        FakeCluster(Arc::new(ClusterInner {
            local: local.into(),
            replica: tx,
            leader: Mutex::new(LeaderView::default()),
            raft: Mutex::new(RaftStatus::default()),
            mode: Mutex::new(WriteMode::Apply),
            writes: Mutex::new(Vec::new()),
            members: Mutex::new(Ok(Vec::new())),
            membership_outcome: Mutex::new(Ok(())),
            membership_changes: Mutex::new(Vec::new()),
            local_calls: Mutex::new(Vec::new()),
        }))
    }

    /// Applies commands directly to the replica (test setup, not recorded as writes), one log
    /// entry each, as the state machine does.
    pub fn apply(&self, cmds: &[Command]) {
        self.0.replica.send_modify(|r| {
            for cmd in cmds {
                advance(r);
                r.state.apply(cmd);
            }
        });
    }

    /// Runs `f` on the current replica state.
    pub fn with_state<T>(&self, f: impl FnOnce(&cluster::ClusterState) -> T) -> T {
        f(&self.0.replica.borrow().state)
    }

    /// Applies an entry that changes nothing (a blank or membership entry): the replica moves
    /// on without any change to its state.
    pub fn apply_blank(&self) {
        self.0.replica.send_modify(advance);
    }

    pub fn set_leader(&self, leader: Option<&str>) {
        lock(&self.0.leader).leader = leader.map(String::from);
    }

    pub fn set_raft_status(&self, status: RaftStatus) {
        *lock(&self.0.raft) = status;
    }

    pub fn set_mode(&self, mode: WriteMode) {
        *lock(&self.0.mode) = mode;
    }

    /// The commands written, without their stamps.
    pub fn writes(&self) -> Vec<Command> {
        self.stamped_writes()
            .into_iter()
            .map(|cmd| match cmd {
                Command::Stamped { command, .. } => *command,
                cmd => cmd,
            })
            .collect()
    }

    /// The commands written, as written.
    pub fn stamped_writes(&self) -> Vec<Command> {
        lock(&self.0.writes).clone()
    }

    pub fn set_members(&self, members: Result<Vec<RaftMember>, MembershipError>) {
        *lock(&self.0.members) = members;
    }

    pub fn set_membership_outcome(&self, outcome: Result<(), MembershipError>) {
        *lock(&self.0.membership_outcome) = outcome;
    }

    /// The membership changes asked so far.
    pub fn local_calls(&self) -> Vec<(String, cluster::LocalCall)> {
        lock(&self.0.local_calls).clone()
    }

    pub fn membership_changes(&self) -> Vec<MembershipChange> {
        lock(&self.0.membership_changes).clone()
    }
}

impl ClusterApi for FakeCluster {
    fn local_identifier(&self) -> String {
        self.0.local.clone()
    }

    fn replica(&self) -> watch::Receiver<Replica> {
        self.0.replica.subscribe()
    }

    fn leader_view(&self) -> LeaderView {
        lock(&self.0.leader).clone()
    }

    fn raft_status(&self) -> RaftStatus {
        lock(&self.0.raft).clone()
    }

    fn write(
        &self,
        cmd: Command,
    ) -> impl Future<Output = Result<CommandResult, WriteError>> + Send {
        let this = self.clone();
        async move {
            lock(&this.0.writes).push(cmd.clone());
            let mode = lock(&this.0.mode).clone();
            match mode {
                WriteMode::Apply => {
                    let mut result = CommandResult::Unchanged;
                    this.0.replica.send_modify(|r| {
                        advance(r);
                        result = r.state.apply(&cmd);
                    });
                    Ok(result)
                }
                WriteMode::ApplyElsewhere => Ok(CommandResult::Applied),
                WriteMode::Fail(e) => Err(e),
                WriteMode::Hang => std::future::pending().await,
            }
        }
    }

    fn raft_members(
        &self,
    ) -> impl Future<Output = Result<Vec<RaftMember>, MembershipError>> + Send {
        let members = lock(&self.0.members).clone();
        async move { members }
    }

    fn change_membership(
        &self,
        change: MembershipChange,
    ) -> impl Future<Output = Result<(), MembershipError>> + Send {
        lock(&self.0.membership_changes).push(change);
        let outcome = lock(&self.0.membership_outcome).clone();
        async move { outcome }
    }

    fn local_call(
        &self,
        identifier: &str,
        call: cluster::LocalCall,
    ) -> impl Future<Output = Result<cluster::LocalAnswer, Fault>> + Send {
        lock(&self.0.local_calls).push((identifier.to_string(), call.clone()));
        let answer = match call {
            cluster::LocalCall::Tail { offset, .. } => cluster::LocalAnswer::Tail {
                text: "log".into(),
                offset: offset + 3,
                overflow: false,
            },
            _ => cluster::LocalAnswer::Done,
        };
        async move { Ok(answer) }
    }
}

/// One configured local process: its info and its program options.
#[derive(Debug, Clone)]
pub struct FakeProcess {
    pub info: ProcessInfo,
    pub startsecs: i64,
    pub stopwaitsecs: i64,
}

#[derive(Default)]
struct SupervisorInner {
    processes: Mutex<Vec<FakeProcess>>,
    stops: Mutex<Vec<(String, bool)>>,
    /// Namespecs whose stop fails with ABNORMAL_TERMINATION.
    unstoppable: Mutex<Vec<String>>,
}

#[derive(Clone, Default)]
pub struct FakeSupervisor(Arc<SupervisorInner>);

pub fn info(group: &str, name: &str, state: ProcessState, pid: i32) -> ProcessInfo {
    ProcessInfo {
        name: name.into(),
        group: group.into(),
        description: if pid > 0 {
            format!("pid {pid}, uptime 0:01:40")
        } else {
            "Not started".into()
        },
        start: if pid > 0 { 1_700_000_000 } else { 0 },
        stop: 0,
        now: 1_700_000_100,
        state,
        spawnerr: String::new(),
        exitstatus: 0,
        logfile: String::new(),
        stdout_logfile: String::new(),
        stderr_logfile: String::new(),
        pid,
    }
}

impl FakeSupervisor {
    pub fn new(processes: Vec<FakeProcess>) -> Self {
        let s = FakeSupervisor::default();
        *lock(&s.0.processes) = processes;
        s
    }

    pub fn stops(&self) -> Vec<(String, bool)> {
        lock(&self.0.stops).clone()
    }

    pub fn make_unstoppable(&self, namespec: &str) {
        lock(&self.0.unstoppable).push(namespec.into());
    }

    pub fn state_of(&self, namespec: &str) -> Option<ProcessState> {
        lock(&self.0.processes)
            .iter()
            .find(|p| make_namespec(&p.info.group, &p.info.name) == namespec)
            .map(|p| p.info.state)
    }
}

fn unused<T>() -> Result<T, Fault> {
    Err(Fault::with(
        FaultCode::Failed,
        "not used by the supvisors namespace",
    ))
}

impl SupervisorApi for FakeSupervisor {
    fn state(&self) -> SupervisorState {
        SupervisorState::Running
    }
    fn identification(&self) -> String {
        "supervisor".into()
    }
    fn pid(&self) -> i32 {
        1
    }
    async fn read_main_log(&self, _: i64, _: i64) -> Result<String, Fault> {
        unused()
    }
    async fn clear_main_log(&self) -> Result<(), Fault> {
        unused()
    }
    async fn process_info(&self, namespec: &str) -> Result<ProcessInfo, Fault> {
        lock(&self.0.processes)
            .iter()
            .find(|p| make_namespec(&p.info.group, &p.info.name) == namespec)
            .map(|p| p.info.clone())
            .ok_or_else(|| Fault::with(FaultCode::BadName, namespec))
    }
    async fn all_process_info(&self) -> Vec<ProcessInfo> {
        let mut all: Vec<ProcessInfo> = lock(&self.0.processes)
            .iter()
            .map(|p| p.info.clone())
            .collect();
        all.sort_by(|a, b| (&a.group, &a.name).cmp(&(&b.group, &b.name)));
        all
    }
    async fn all_config_info(&self) -> Vec<ConfigInfo> {
        lock(&self.0.processes)
            .iter()
            .map(|p| {
                vec![
                    ("autostart", ConfigValue::Bool(true)),
                    ("group", ConfigValue::Str(p.info.group.clone())),
                    ("name", ConfigValue::Str(p.info.name.clone())),
                    ("startsecs", ConfigValue::Int(p.startsecs)),
                    ("stopwaitsecs", ConfigValue::Int(p.stopwaitsecs)),
                ]
            })
            .collect()
    }
    async fn start_process(&self, _: &str, _: bool) -> Result<(), Fault> {
        unused()
    }
    async fn start_group(&self, _: &str, _: bool) -> Result<Vec<ProcResult>, Fault> {
        unused()
    }
    async fn start_all(&self, _: bool) -> Result<Vec<ProcResult>, Fault> {
        unused()
    }
    async fn stop_process(&self, namespec: &str, wait: bool) -> Result<(), Fault> {
        lock(&self.0.stops).push((namespec.into(), wait));
        if lock(&self.0.unstoppable).iter().any(|n| n == namespec) {
            return Err(Fault::with(FaultCode::AbnormalTermination, namespec));
        }
        let mut processes = lock(&self.0.processes);
        let p = processes
            .iter_mut()
            .find(|p| make_namespec(&p.info.group, &p.info.name) == namespec)
            .ok_or_else(|| Fault::with(FaultCode::BadName, namespec))?;
        if !p.info.state.is_running() {
            return Err(Fault::with(FaultCode::NotRunning, namespec));
        }
        p.info.state = ProcessState::Stopped;
        p.info.pid = 0;
        Ok(())
    }
    async fn stop_group(&self, _: &str, _: bool) -> Result<Vec<ProcResult>, Fault> {
        unused()
    }
    async fn stop_all(&self, _: bool) -> Result<Vec<ProcResult>, Fault> {
        unused()
    }
    async fn signal_process(&self, _: &str, _: &str) -> Result<(), Fault> {
        unused()
    }
    async fn signal_group(&self, _: &str, _: &str) -> Result<Vec<ProcResult>, Fault> {
        unused()
    }
    async fn signal_all(&self, _: &str) -> Result<Vec<ProcResult>, Fault> {
        unused()
    }
    async fn read_process_log(&self, _: &str, _: Channel, _: i64, _: i64) -> Result<String, Fault> {
        unused()
    }
    async fn tail_process_log(
        &self,
        _: &str,
        _: Channel,
        _: i64,
        _: i64,
    ) -> Result<(String, i64, bool), Fault> {
        unused()
    }
    async fn clear_process_logs(&self, _: &str) -> Result<(), Fault> {
        unused()
    }
    async fn clear_all_process_logs(&self) -> Result<Vec<ProcResult>, Fault> {
        unused()
    }
    async fn log_path(&self, _: &str, _: Channel) -> Result<PathBuf, Fault> {
        unused()
    }
    fn main_log_path(&self) -> Result<PathBuf, Fault> {
        unused()
    }
    async fn send_process_stdin(&self, _: &str, _: &str) -> Result<(), Fault> {
        unused()
    }
    async fn send_remote_comm_event(&self, _: &str, _: &str) -> Result<(), Fault> {
        unused()
    }
    async fn reload_config(&self) -> Result<ConfigDiff, Fault> {
        unused()
    }
    async fn add_process_group(&self, _: &str) -> Result<(), Fault> {
        unused()
    }
    async fn remove_process_group(&self, _: &str) -> Result<(), Fault> {
        unused()
    }
    fn shutdown(&self) -> Result<(), Fault> {
        unused()
    }
    fn restart(&self) -> Result<(), Fault> {
        unused()
    }
}
