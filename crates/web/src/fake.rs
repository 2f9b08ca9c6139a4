//! An in-memory [`SupervisorApi`] for the tests of this crate: three processes (`cat` alone in
//! its group, `g:a` stopped and `g:b` running), simple state changes, and a journal of the
//! calls it received so tests can check how the web layer routed a request.

use model::{signal_number, split_namespec, Fault, FaultCode, ProcessState, SupervisorState};
use procman::{
    Channel, ConfigDiff, ConfigInfo, ConfigValue, ProcResult, ProcessInfo, SupervisorApi,
};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

pub struct FakeState {
    pub mood: SupervisorState,
    pub journal: Vec<String>,
    pub processes: Vec<ProcessInfo>,
    /// `(namespec, channel, path)` of the log files `log_path` reports.
    pub logs: Vec<(String, Channel, PathBuf)>,
    pub main_log: Option<PathBuf>,
}

#[derive(Clone)]
pub struct FakeApi {
    state: Arc<Mutex<FakeState>>,
}

fn info(group: &str, name: &str, state: ProcessState) -> ProcessInfo {
    ProcessInfo {
        name: name.into(),
        group: group.into(),
        description: String::new(),
        start: 0,
        stop: 0,
        now: 1_700_000_000,
        state,
        spawnerr: String::new(),
        exitstatus: 0,
        logfile: String::new(),
        stdout_logfile: String::new(),
        stderr_logfile: String::new(),
        pid: if state == ProcessState::Running {
            100
        } else {
            0
        },
    }
}

impl FakeApi {
    pub fn new() -> Self {
        FakeApi {
            state: Arc::new(Mutex::new(FakeState {
                mood: SupervisorState::Running,
                journal: Vec::new(),
                processes: vec![
                    info("cat", "cat", ProcessState::Running),
                    info("g", "a", ProcessState::Stopped),
                    info("g", "b", ProcessState::Running),
                ],
                logs: Vec::new(),
                main_log: None,
            })),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn journal(&self) -> Vec<String> {
        self.lock().journal.clone()
    }

    fn note(&self, entry: String) {
        self.lock().journal.push(entry);
    }

    fn find(&self, namespec: &str) -> Result<usize, Fault> {
        let (group, name) = split_namespec(namespec);
        let name = name.ok_or_else(|| Fault::with(FaultCode::BadName, namespec))?;
        self.lock()
            .processes
            .iter()
            .position(|p| p.group == group && p.name == name)
            .ok_or_else(|| Fault::with(FaultCode::BadName, namespec))
    }

    fn group_members(&self, group: Option<&str>) -> Result<Vec<usize>, Fault> {
        let st = self.lock();
        let members: Vec<usize> = (0..st.processes.len())
            .filter(|&i| group.is_none_or(|g| st.processes[i].group == g))
            .collect();
        match group {
            Some(g) if members.is_empty() => Err(Fault::with(FaultCode::BadName, g)),
            _ => Ok(members),
        }
    }

    fn set_state(&self, index: usize, state: ProcessState) {
        self.lock().processes[index].state = state;
    }

    fn result(&self, index: usize, outcome: Result<(), Fault>) -> ProcResult {
        let st = self.lock();
        ProcResult {
            name: st.processes[index].name.clone(),
            group: st.processes[index].group.clone(),
            outcome,
        }
    }

    fn state_of(&self, index: usize) -> ProcessState {
        self.lock().processes[index].state
    }

    fn start_many(&self, members: Vec<usize>) -> Vec<ProcResult> {
        members
            .into_iter()
            .filter(|&i| !self.state_of(i).is_running())
            .map(|i| {
                self.set_state(i, ProcessState::Running);
                self.result(i, Ok(()))
            })
            .collect()
    }

    fn stop_many(&self, members: Vec<usize>) -> Vec<ProcResult> {
        members
            .into_iter()
            .filter(|&i| self.state_of(i).is_running())
            .map(|i| {
                self.set_state(i, ProcessState::Stopped);
                self.result(i, Ok(()))
            })
            .collect()
    }

    fn signal_many(&self, members: Vec<usize>, signal: &str) -> Result<Vec<ProcResult>, Fault> {
        signal_number(signal).ok_or_else(|| Fault::with(FaultCode::BadSignal, signal))?;
        Ok(members
            .into_iter()
            .filter(|&i| self.state_of(i).is_signallable())
            .map(|i| self.result(i, Ok(())))
            .collect())
    }
}

impl SupervisorApi for FakeApi {
    fn state(&self) -> SupervisorState {
        self.lock().mood
    }

    fn identification(&self) -> String {
        "supervisor".into()
    }

    fn pid(&self) -> i32 {
        4242
    }

    async fn read_main_log(&self, offset: i64, length: i64) -> Result<String, Fault> {
        if (offset < 0 && length != 0) || length < 0 {
            return Err(Fault::new(FaultCode::BadArguments));
        }
        self.note(format!("read_main_log {offset} {length}"));
        Ok(format!("main {offset} {length}"))
    }

    async fn clear_main_log(&self) -> Result<(), Fault> {
        self.note("clear_main_log".into());
        Ok(())
    }

    async fn process_info(&self, namespec: &str) -> Result<ProcessInfo, Fault> {
        let i = self.find(namespec)?;
        Ok(self.lock().processes[i].clone())
    }

    async fn all_process_info(&self) -> Vec<ProcessInfo> {
        self.lock().processes.clone()
    }

    async fn all_config_info(&self) -> Vec<ConfigInfo> {
        vec![vec![
            ("autostart", ConfigValue::Bool(true)),
            ("exitcodes", ConfigValue::IntList(vec![0])),
            ("name", ConfigValue::Str("cat".into())),
            ("uid", ConfigValue::Str("none".into())),
            ("startsecs", ConfigValue::Int(1)),
        ]]
    }

    async fn start_process(&self, namespec: &str, wait: bool) -> Result<(), Fault> {
        self.note(format!("start_process {namespec} {wait}"));
        let i = self.find(namespec)?;
        if self.state_of(i).is_running() {
            return Err(Fault::with(FaultCode::AlreadyStarted, namespec));
        }
        self.set_state(i, ProcessState::Running);
        Ok(())
    }

    async fn start_group(&self, group: &str, wait: bool) -> Result<Vec<ProcResult>, Fault> {
        self.note(format!("start_group {group} {wait}"));
        let members = self.group_members(Some(group))?;
        Ok(self.start_many(members))
    }

    async fn start_all(&self, wait: bool) -> Result<Vec<ProcResult>, Fault> {
        self.note(format!("start_all {wait}"));
        let members = self.group_members(None)?;
        Ok(self.start_many(members))
    }

    async fn stop_process(&self, namespec: &str, wait: bool) -> Result<(), Fault> {
        self.note(format!("stop_process {namespec} {wait}"));
        let i = self.find(namespec)?;
        if !self.state_of(i).is_running() {
            return Err(Fault::with(FaultCode::NotRunning, namespec));
        }
        self.set_state(i, ProcessState::Stopped);
        Ok(())
    }

    async fn stop_group(&self, group: &str, wait: bool) -> Result<Vec<ProcResult>, Fault> {
        self.note(format!("stop_group {group} {wait}"));
        let members = self.group_members(Some(group))?;
        Ok(self.stop_many(members))
    }

    async fn stop_all(&self, wait: bool) -> Result<Vec<ProcResult>, Fault> {
        self.note(format!("stop_all {wait}"));
        let members = self.group_members(None)?;
        Ok(self.stop_many(members))
    }

    async fn signal_process(&self, namespec: &str, signal: &str) -> Result<(), Fault> {
        self.note(format!("signal_process {namespec} {signal}"));
        let i = self.find(namespec)?;
        signal_number(signal).ok_or_else(|| Fault::with(FaultCode::BadSignal, signal))?;
        if !self.state_of(i).is_signallable() {
            return Err(Fault::with(FaultCode::NotRunning, namespec));
        }
        Ok(())
    }

    async fn signal_group(&self, group: &str, signal: &str) -> Result<Vec<ProcResult>, Fault> {
        self.note(format!("signal_group {group} {signal}"));
        let members = self.group_members(Some(group))?;
        self.signal_many(members, signal)
    }

    async fn signal_all(&self, signal: &str) -> Result<Vec<ProcResult>, Fault> {
        self.note(format!("signal_all {signal}"));
        let members = self.group_members(None)?;
        self.signal_many(members, signal)
    }

    async fn read_process_log(
        &self,
        namespec: &str,
        channel: Channel,
        offset: i64,
        length: i64,
    ) -> Result<String, Fault> {
        self.find(namespec)?;
        Ok(format!("{namespec} {channel:?} {offset} {length}"))
    }

    async fn tail_process_log(
        &self,
        namespec: &str,
        channel: Channel,
        offset: i64,
        length: i64,
    ) -> Result<(String, i64, bool), Fault> {
        self.find(namespec)?;
        Ok((
            format!("{namespec} {channel:?}"),
            offset + length,
            length < 5,
        ))
    }

    async fn clear_process_logs(&self, namespec: &str) -> Result<(), Fault> {
        self.note(format!("clear_process_logs {namespec}"));
        self.find(namespec).map(|_| ())
    }

    async fn clear_all_process_logs(&self) -> Result<Vec<ProcResult>, Fault> {
        let members = self.group_members(None)?;
        Ok(members
            .into_iter()
            .map(|i| self.result(i, Ok(())))
            .collect())
    }

    async fn log_path(&self, namespec: &str, channel: Channel) -> Result<PathBuf, Fault> {
        let i = self.find(namespec)?;
        let st = self.lock();
        let p = &st.processes[i];
        let spec = model::make_namespec(&p.group, &p.name);
        st.logs
            .iter()
            .find(|(n, c, _)| *n == spec && *c == channel)
            .map(|(_, _, path)| path.clone())
            .ok_or_else(|| Fault::with(FaultCode::NoFile, namespec))
    }

    fn main_log_path(&self) -> Result<PathBuf, Fault> {
        self.lock()
            .main_log
            .clone()
            .ok_or_else(|| Fault::new(FaultCode::NoFile))
    }

    async fn send_process_stdin(&self, namespec: &str, chars: &str) -> Result<(), Fault> {
        self.note(format!("send_process_stdin {namespec} {chars}"));
        let i = self.find(namespec)?;
        if self.state_of(i) != ProcessState::Running {
            return Err(Fault::with(FaultCode::NotRunning, namespec));
        }
        Ok(())
    }

    async fn send_remote_comm_event(&self, kind: &str, data: &str) -> Result<(), Fault> {
        self.note(format!("send_remote_comm_event {kind} {data}"));
        Ok(())
    }

    async fn reload_config(&self) -> Result<ConfigDiff, Fault> {
        Ok(ConfigDiff {
            added: vec!["new".into()],
            changed: vec!["g".into()],
            removed: vec![],
        })
    }

    async fn add_process_group(&self, name: &str) -> Result<(), Fault> {
        match name {
            "new" => Ok(()),
            "g" | "cat" => Err(Fault::with(FaultCode::AlreadyAdded, name)),
            _ => Err(Fault::with(FaultCode::BadName, name)),
        }
    }

    async fn remove_process_group(&self, name: &str) -> Result<(), Fault> {
        match name {
            "g" | "cat" => Err(Fault::with(FaultCode::StillRunning, name)),
            _ => Err(Fault::with(FaultCode::BadName, name)),
        }
    }

    fn shutdown(&self) -> Result<(), Fault> {
        self.lock().mood = SupervisorState::Shutdown;
        Ok(())
    }

    fn restart(&self) -> Result<(), Fault> {
        self.lock().mood = SupervisorState::Restarting;
        Ok(())
    }
}
