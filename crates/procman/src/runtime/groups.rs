//! The table of running groups and their processes: adding and removing groups (with the
//! `PROCESS_GROUP_*` events), finding processes by namespec, resolving AUTO log paths, and the
//! read-only views of it (`getProcessInfo`, `getAllConfigInfo`, the reread diff).

use super::listeners::Pool;
use super::sockets::SharedSocket;
use super::{epoch_now, fault, Actor, Group, Proc, ProcSinks, Selection};
use crate::api::{Channel, ConfigDiff, ConfigInfo, ProcessInfo};
use crate::events;
use crate::machine::ProcState;
use model::{Config, Fault, FaultCode, GroupKind, GroupSpec, LogTarget, ProcessSpec};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// Supervisor's equality of group configurations (`reloadConfig`'s "changed"): an fcgi
/// group's socket compares by its URL alone, so a new `socket_backlog`, `socket_owner` or
/// `socket_mode` is not a change (it applies when the group is added again).
fn same_config(running: &GroupSpec, new: &GroupSpec) -> bool {
    match (&running.kind, &new.kind) {
        (GroupKind::FastCgi(a), GroupKind::FastCgi(b)) => {
            a.url() == b.url()
                && running.name == new.name
                && running.priority == new.priority
                && running.processes == new.processes
        }
        _ => running == new,
    }
}

fn random_suffix(seed: u64) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(seed);
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    let mut v = h.finish();
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_";
    (0..8)
        .map(|_| {
            let c = ALPHABET[(v % ALPHABET.len() as u64) as usize] as char;
            v /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

impl Actor {
    /// Removes AUTO logs of a previous run (`nocleanup = false`).
    pub(super) fn clear_auto_logs(&self) {
        let sd = &self.config.supervisord;
        if sd.nocleanup {
            return;
        }
        let marker = format!("---{}-", sd.identifier);
        let Ok(entries) = std::fs::read_dir(&sd.childlogdir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.contains(&marker) && name.contains(".log") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    fn resolve_log(&self, spec: &ProcessSpec, stdout: bool) -> Option<PathBuf> {
        let target = if stdout {
            &spec.stdout.target
        } else if spec.redirect_stderr {
            return None;
        } else {
            &spec.stderr.target
        };
        match target {
            LogTarget::Path(p) => Some(p.clone()),
            LogTarget::None | LogTarget::Syslog => None,
            LogTarget::Auto => {
                let sd = &self.config.supervisord;
                let channel = if stdout { "stdout" } else { "stderr" };
                for attempt in 0..16u64 {
                    let p = sd.childlogdir.join(format!(
                        "{}-{channel}---{}-{}.log",
                        spec.name,
                        sd.identifier,
                        random_suffix(self.next_id * 31 + attempt)
                    ));
                    match std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&p)
                    {
                        Ok(_) => return Some(p),
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                        Err(e) => {
                            tracing::warn!(path = %p.display(), error = %e, "cannot create AUTO log");
                            return None;
                        }
                    }
                }
                None
            }
        }
    }

    /// A new process (STOPPED, never started) for `spec`, with its AUTO log paths resolved.
    pub(super) fn new_proc(&mut self, spec: ProcessSpec) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let out_path = self.resolve_log(&spec, true);
        let err_path = self.resolve_log(&spec, false);
        self.procs.insert(
            id,
            Box::new(Proc {
                spec,
                st: ProcState::default(),
                out_path,
                err_path,
                out_sink: Arc::new(Mutex::new(None)),
                err_sink: Arc::new(Mutex::new(None)),
                out_tail: Arc::default(),
                err_tail: Arc::default(),
                stdin: None,
                start_waiters: Vec::new(),
                stop_waiters: Vec::new(),
                proto: None,
                in_flight: None,
                extra_argv: Vec::new(),
                holds_socket: false,
            }),
        );
        self.shared.layout.send_modify(|n| *n += 1);
        id
    }

    /// The running group `gi` as a whole: its settings and its processes' specs, in the
    /// group's order (what the config said when it was added, as changed by update_numprocs).
    pub(super) fn running_spec(&self, gi: usize) -> GroupSpec {
        let g = &self.groups[gi];
        GroupSpec {
            processes: g
                .procs
                .iter()
                .filter_map(|id| self.procs.get(id))
                .map(|p| p.spec.clone())
                .collect(),
            ..g.spec.clone()
        }
    }

    /// Adds group `spec` (its processes STOPPED), or refuses it when it is an fcgi-program's
    /// whose socket cannot be created (the error, worded as Supervisor's).
    pub(super) fn add_group(&mut self, mut spec: GroupSpec) -> Result<(), String> {
        let socket = match &spec.kind {
            GroupKind::FastCgi(socket) => Some(SharedSocket::checked(socket)?),
            _ => None,
        };
        let processes = std::mem::take(&mut spec.processes);
        let pool = if spec.kind == GroupKind::EventListenerPool {
            processes
                .first()
                .and_then(|p| p.listener.as_ref())
                .map(|l| Pool::new(l.events.clone(), l.buffer_size))
        } else {
            None
        };
        let procs = processes.into_iter().map(|p| self.new_proc(p)).collect();
        let name = spec.name.clone();
        self.groups.push(Group {
            spec,
            procs,
            pool,
            socket,
            config_current: true,
        });
        self.groups
            .sort_by(|a, b| (a.spec.priority, &a.spec.name).cmp(&(b.spec.priority, &b.spec.name)));
        self.notify(events::group_payload(&name, true));
        Ok(())
    }

    pub(super) fn group_index(&self, name: &str) -> Option<usize> {
        self.groups.iter().position(|g| g.spec.name == name)
    }

    pub(super) fn find(&self, namespec: &str) -> Result<u64, Fault> {
        let (group, name) = model::split_namespec(namespec);
        let bad = || fault(FaultCode::BadName, namespec);
        let name = name.ok_or_else(bad)?;
        let g = self.group_index(&group).ok_or_else(bad)?;
        self.groups[g]
            .procs
            .iter()
            .copied()
            .find(|id| self.procs.get(id).is_some_and(|p| p.spec.name == name))
            .ok_or_else(bad)
    }

    /// The processes of a selection in priority order (BAD_NAME for unknown names).
    pub(super) fn select(&self, sel: &Selection) -> Result<Vec<u64>, Fault> {
        match sel {
            Selection::One(ns) => Ok(vec![self.find(ns)?]),
            Selection::Group(g) => {
                let i = self
                    .group_index(g)
                    .ok_or_else(|| fault(FaultCode::BadName, g))?;
                Ok(self.groups[i].procs.clone())
            }
            Selection::All => Ok(self.groups.iter().flat_map(|g| g.procs.clone()).collect()),
        }
    }

    pub(super) fn namespec(&self, id: u64) -> (String, String, String) {
        match self.procs.get(&id) {
            Some(p) => (
                model::make_namespec(&p.spec.group, &p.spec.name),
                p.spec.name.clone(),
                p.spec.group.clone(),
            ),
            None => Default::default(),
        }
    }

    pub(super) fn info(&self, id: u64) -> Option<ProcessInfo> {
        let p = self.procs.get(&id)?;
        let now = epoch_now() as i64;
        let start = p.st.laststart as i64;
        let stop = p.st.laststop as i64;
        let spawnerr = p.st.spawnerr.clone().unwrap_or_default();
        let path = |x: &Option<PathBuf>| {
            x.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        Some(ProcessInfo {
            name: p.spec.name.clone(),
            group: p.spec.group.clone(),
            description: crate::info::description(
                p.st.state,
                &p.spec.name,
                p.st.pid,
                start,
                stop,
                now,
                &spawnerr,
            ),
            start,
            stop,
            now,
            state: p.st.state,
            spawnerr,
            exitstatus: p.st.exitstatus.unwrap_or(0),
            logfile: path(&p.out_path),
            stdout_logfile: path(&p.out_path),
            stderr_logfile: path(&p.err_path),
            pid: p.st.pid,
        })
    }

    /// `getProcessInfo`.
    pub(super) fn process_info(&self, ns: &str) -> Result<ProcessInfo, Fault> {
        self.find(ns)
            .and_then(|id| self.info(id).ok_or_else(|| fault(FaultCode::BadName, ns)))
    }

    /// `getAllProcessInfo`: sorted by group, then name.
    pub(super) fn all_info(&self) -> Vec<ProcessInfo> {
        let mut v: Vec<ProcessInfo> = self.procs.keys().filter_map(|id| self.info(*id)).collect();
        v.sort_by(|a, b| (&a.group, &a.name).cmp(&(&b.group, &b.name)));
        v
    }

    /// The log file of one channel of `ns`, `None` when it has none.
    pub(super) fn log_path(&self, ns: &str, ch: Channel) -> Result<Option<PathBuf>, Fault> {
        self.find(ns).map(|id| {
            self.procs.get(&id).and_then(|p| match ch {
                Channel::Stdout => p.out_path.clone(),
                Channel::Stderr => p.err_path.clone(),
            })
        })
    }

    /// The in-memory tail of one channel of `ns` (the dashboard's last words of a process).
    pub(super) fn recent_output(&self, ns: &str, ch: Channel) -> Result<Vec<u8>, Fault> {
        self.find(ns).map(|id| {
            self.procs
                .get(&id)
                .and_then(|p| {
                    let tail = match ch {
                        Channel::Stdout => &p.out_tail,
                        Channel::Stderr => &p.err_tail,
                    };
                    tail.lock().ok().map(|t| t.contents())
                })
                .unwrap_or_default()
        })
    }

    /// The log sinks of `ns`, or of every process, for clearing logs outside the actor.
    pub(super) fn sinks(&self, ns: Option<&str>) -> Result<ProcSinks, Fault> {
        let ids = match ns {
            Some(ns) => vec![self.find(ns)?],
            None => self.groups.iter().flat_map(|g| g.procs.clone()).collect(),
        };
        Ok(ids
            .into_iter()
            .filter_map(|id| self.procs.get(&id))
            .map(|p| {
                (
                    p.spec.name.clone(),
                    p.spec.group.clone(),
                    vec![p.out_sink.clone(), p.err_sink.clone()],
                )
            })
            .collect())
    }

    pub(super) fn all_config(&self) -> Vec<ConfigInfo> {
        let mut out = Vec::new();
        for g in &self.config.groups {
            let active = self.group_index(&g.name);
            let current = active.filter(|&i| self.groups[i].config_current);
            for spec in &g.processes {
                let live = current.and_then(|i| {
                    self.groups[i]
                        .procs
                        .iter()
                        .filter_map(|id| self.procs.get(id))
                        .find(|p| p.spec.name == spec.name)
                });
                out.push((
                    spec.name.clone(),
                    crate::info::config_info(
                        spec,
                        g.priority,
                        active.is_some(),
                        live.and_then(|p| p.out_path.as_deref()),
                        live.and_then(|p| p.err_path.as_deref()),
                    ),
                ));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.into_iter().map(|(_, c)| c).collect()
    }

    pub(super) fn reread(&mut self, new: Config) -> ConfigDiff {
        let mut diff = ConfigDiff::default();
        for g in &new.groups {
            match self.group_index(&g.name) {
                None => diff.added.push(g.name.clone()),
                Some(i) if !same_config(&self.running_spec(i), g) => {
                    diff.changed.push(g.name.clone())
                }
                Some(_) => {}
            }
        }
        for g in &self.groups {
            if new.group(&g.spec.name).is_none() {
                diff.removed.push(g.spec.name.clone());
            }
        }
        self.config = new;
        for g in &mut self.groups {
            g.config_current = false;
        }
        diff
    }

    pub(super) async fn add_group_request(&mut self, name: &str) -> Result<(), Fault> {
        if self.group_index(name).is_some() {
            return Err(fault(FaultCode::AlreadyAdded, name));
        }
        let spec = self
            .config
            .group(name)
            .cloned()
            .ok_or_else(|| fault(FaultCode::BadName, name))?;
        self.add_group(spec)
            .map_err(|e| fault(FaultCode::Failed, &e))?;
        self.autostart_group(name).await;
        Ok(())
    }

    pub(super) fn remove_group(&mut self, name: &str) -> Result<(), Fault> {
        let i = self
            .group_index(name)
            .ok_or_else(|| fault(FaultCode::BadName, name))?;
        let busy = self.groups[i]
            .procs
            .iter()
            .any(|id| self.procs.get(id).is_some_and(|p| !p.st.state.is_stopped()));
        if busy {
            return Err(fault(FaultCode::StillRunning, name));
        }
        let g = self.groups.remove(i);
        for id in g.procs {
            self.procs.remove(&id);
        }
        self.shared.layout.send_modify(|n| *n += 1);
        if let Ok(mut extra) = self.shared.extra_args.lock() {
            extra.retain(|(group, _), _| group != name);
        }
        self.notify(events::group_payload(name, false));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::same_config;
    use model::{FcgiSocket, GroupKind, GroupSpec, SocketEndpoint};

    fn unix(mode: u32, backlog: Option<u32>, path: &str) -> GroupSpec {
        GroupSpec {
            name: "u".into(),
            priority: 1,
            kind: GroupKind::FastCgi(FcgiSocket {
                endpoint: SocketEndpoint::Unix {
                    path: path.into(),
                    uid: None,
                    gid: None,
                    mode,
                },
                backlog,
            }),
            processes: Vec::new(),
        }
    }

    #[test]
    fn an_fcgi_socket_compares_by_url_as_in_supervisor() {
        let a = unix(0o700, None, "/tmp/a.sock");
        assert!(same_config(&a, &unix(0o600, Some(5), "/tmp/a.sock")));
        assert!(!same_config(&a, &unix(0o700, None, "/tmp/b.sock")));
        assert!(!same_config(
            &a,
            &GroupSpec {
                priority: 2,
                ..a.clone()
            }
        ));
        assert!(!same_config(
            &a,
            &GroupSpec {
                kind: GroupKind::Program,
                ..a.clone()
            }
        ));
    }
}
