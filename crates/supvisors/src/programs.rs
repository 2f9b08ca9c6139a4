//! Which local processes belong to which `[program:x]` section.
//!
//! Supvisors' `enable`/`disable` take a *program* name and act on all its processes, in every
//! group that uses it; `get_local_process_info` reports whether the process's program is
//! disabled. Supervisor's XML-RPC API never says which program a process came from (a
//! `[group:x]` mixes programs, `process_name` renames processes), so the index is built from the
//! resolved configuration, which knows (`ProcessSpec::program`).

use model::Config;
use std::collections::{BTreeMap, HashMap};

/// Program name ⇄ `(group, process name)` of the local configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgramIndex {
    by_program: BTreeMap<String, Vec<(String, String)>>,
    by_process: HashMap<(String, String), String>,
}

impl ProgramIndex {
    /// Every process of every group of `config` (event listener pools included: Supvisors'
    /// `program_processes` covers them too).
    pub fn from_config(config: &Config) -> Self {
        Self::from_processes(config.groups.iter().flat_map(|group| {
            group
                .processes
                .iter()
                .map(|p| (p.program.as_str(), group.name.as_str(), p.name.as_str()))
        }))
    }

    /// From `(program, group, process name)` triples.
    pub fn from_processes<'a>(
        triples: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
    ) -> Self {
        let mut index = ProgramIndex::default();
        for (program, group, name) in triples {
            index
                .by_program
                .entry(program.to_string())
                .or_default()
                .push((group.to_string(), name.to_string()));
            index
                .by_process
                .insert((group.to_string(), name.to_string()), program.to_string());
        }
        index
    }

    /// The index after `update_numprocs` changed the processes of `program`: `added` and
    /// `removed` are namespecs (`group:name`).
    pub fn with_numprocs_change(
        &self,
        program: &str,
        added: &[String],
        removed: &[String],
    ) -> Self {
        let split = |namespec: &str| {
            let (group, name) = model::split_namespec(namespec);
            let name = name.unwrap_or_else(|| group.clone());
            (group, name)
        };
        let mut index = self.clone();
        for namespec in removed {
            let key = split(namespec);
            index.by_process.remove(&key);
            if let Some(list) = index.by_program.get_mut(program) {
                list.retain(|p| *p != key);
            }
        }
        for namespec in added {
            let key = split(namespec);
            index.by_process.insert(key.clone(), program.to_string());
            index
                .by_program
                .entry(program.to_string())
                .or_default()
                .push(key);
        }
        index
    }

    pub fn contains(&self, program: &str) -> bool {
        self.by_program.contains_key(program)
    }

    /// `(group, name)` of the processes of `program`, in configuration order.
    pub fn processes_of(&self, program: &str) -> &[(String, String)] {
        self.by_program.get(program).map_or(&[], Vec::as_slice)
    }

    /// The program a local process comes from, if the index knows it.
    pub fn program_of(&self, group: &str, name: &str) -> Option<&str> {
        self.by_process
            .get(&(group.to_string(), name.to_string()))
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_both_ways_across_groups() {
        let index = ProgramIndex::from_processes([
            ("web", "web", "web"),
            ("worker", "back", "worker_00"),
            ("worker", "back", "worker_01"),
            ("worker", "other", "worker_00"),
        ]);
        assert!(index.contains("worker"));
        assert!(!index.contains("back"));
        assert_eq!(index.processes_of("worker").len(), 3);
        assert!(index.processes_of("nope").is_empty());
        assert_eq!(index.program_of("back", "worker_01"), Some("worker"));
        assert_eq!(index.program_of("web", "web"), Some("web"));
        assert_eq!(index.program_of("web", "x"), None);
        let grown = index.with_numprocs_change(
            "worker",
            &["back:worker_02".to_string()],
            &["other:worker_00".to_string()],
        );
        assert_eq!(grown.processes_of("worker").len(), 3);
        assert_eq!(grown.program_of("back", "worker_02"), Some("worker"));
        assert_eq!(grown.program_of("other", "worker_00"), None);
    }
}
