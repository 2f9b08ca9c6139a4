//! What the local Supervisor configuration says of each process: the facts the rules file and
//! the replica do not carry (program name, process number for `#`, start/stop timeouts,
//! autorestart). Every instance is expected to share the same program definitions, so the
//! leader's catalog stands for all of them.

use model::{make_namespec, AutoRestart, Config};
use std::collections::BTreeMap;

/// Supervisor's defaults, used for a process the local configuration does not know.
const DEFAULT_STARTSECS: u32 = 1;
const DEFAULT_STOPWAITSECS: u32 = 10;

/// One process of the local configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    pub group: String,
    pub name: String,
    /// The `[program:x]` name: what `disable`/`enable` name.
    pub program: String,
    /// Index used by `#` identifiers (the process number within its program).
    pub process_index: Option<usize>,
    pub startsecs: u32,
    pub stopwaitsecs: u32,
    /// False only when `autorestart=false`: then nothing local restarts a crashed process.
    pub autorestart: bool,
}

/// The local catalog, keyed by namespec.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    entries: BTreeMap<String, CatalogEntry>,
}

impl Catalog {
    /// Every process of every group of `config` (event listener pools included). The
    /// process index is the 0-based position of the process in its program, by process
    /// number (Supvisors ignores `numprocs_start` for `#`).
    pub fn from_config(config: &Config) -> Self {
        let mut catalog = Catalog::default();
        for group in &config.groups {
            let mut nums: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
            for process in &group.processes {
                nums.entry(process.program.as_str())
                    .or_default()
                    .push(process.process_num);
            }
            for list in nums.values_mut() {
                list.sort_unstable();
            }
            for process in &group.processes {
                let index = nums
                    .get(process.program.as_str())
                    .and_then(|l| l.iter().position(|n| *n == process.process_num));
                catalog.insert(CatalogEntry {
                    group: process.group.clone(),
                    name: process.name.clone(),
                    program: process.program.clone(),
                    process_index: index,
                    startsecs: process.startsecs,
                    stopwaitsecs: process.stopwaitsecs,
                    autorestart: process.autorestart != AutoRestart::False,
                });
            }
        }
        catalog
    }

    /// Adds or replaces the entry of `group:name`.
    pub fn insert(&mut self, entry: CatalogEntry) {
        self.entries
            .insert(make_namespec(&entry.group, &entry.name), entry);
    }

    pub fn get(&self, namespec: &str) -> Option<&CatalogEntry> {
        self.entries.get(namespec)
    }

    /// The program name of `namespec`; the process name when unknown locally.
    pub(crate) fn program<'a>(&'a self, namespec: &str, name: &'a str) -> &'a str {
        self.get(namespec).map_or(name, |e| e.program.as_str())
    }

    pub(crate) fn process_index(&self, namespec: &str) -> Option<usize> {
        self.get(namespec).and_then(|e| e.process_index)
    }

    pub(crate) fn startsecs(&self, namespec: &str) -> u32 {
        self.get(namespec)
            .map_or(DEFAULT_STARTSECS, |e| e.startsecs)
    }

    pub(crate) fn stopwaitsecs(&self, namespec: &str) -> u32 {
        self.get(namespec)
            .map_or(DEFAULT_STOPWAITSECS, |e| e.stopwaitsecs)
    }

    /// Unknown processes count as autorestarting (Supervisor's default `unexpected`).
    pub(crate) fn autorestart(&self, namespec: &str) -> bool {
        self.get(namespec).is_none_or(|e| e.autorestart)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{GroupSpec, ProcessSpec};

    #[test]
    fn from_config_keys_by_namespec_and_keeps_timeouts() {
        let dir = std::env::temp_dir();
        let mut config = Config::new(&dir, model::SupervisordSpec::in_dir(&dir), Vec::new());
        let mut group = None::<GroupSpec>;
        for num in [5, 6] {
            let mut p = ProcessSpec::new(&format!("w_{num:02}"), vec!["true".into()]);
            p.group = "app".into();
            p.program = "w".into();
            p.process_num = num; // numprocs_start = 5
            p.startsecs = 7;
            p.autorestart = AutoRestart::False;
            match group.as_mut() {
                None => group = Some(GroupSpec::single(p)),
                Some(g) => g.processes.push(p),
            }
        }
        config.groups.extend(group);
        let c = Catalog::from_config(&config);
        let e = c.get("app:w_06").unwrap();
        assert_eq!((e.program.as_str(), e.process_index), ("w", Some(1)));
        assert_eq!(c.process_index("app:w_05"), Some(0));
        assert_eq!(c.startsecs("app:w_05"), 7);
        assert!(!c.autorestart("app:w_05"));
        assert_eq!(c.program("zz", "zz"), "zz");
        assert_eq!(c.stopwaitsecs("zz"), 10);
        assert!(c.autorestart("zz"));
    }
}
