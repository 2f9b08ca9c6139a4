//! Supvisors' `update_numprocs` (Supervisor issue #177, dynamic numprocs): the pure part.
//! Given the processes a program has in the running groups and a configuration re-read with
//! the new `numprocs` forced, [`plan`] says which processes each group gains and which become
//! obsolete; the actor then adds, stops and removes them.
//!
//! The configuration itself is expanded by the daemon's [`NumprocsReloader`] (the config
//! crate's `load_with_numprocs`): procman does not read files.

use model::{Config, Fault, FaultCode, GroupSpec, ProcessSpec};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Program name → forced `numprocs`, as kept by the supervisor after `update_numprocs`.
pub type NumprocsOverrides = BTreeMap<String, u32>;

/// Re-reads the configuration with the `numprocs` of some programs forced (see
/// [`crate::Supervisor::set_numprocs_reloader`]). Once installed it replaces
/// `Options::reloader` for `reloadConfig` and restarts, so the overrides survive them.
pub type NumprocsReloader = Arc<dyn Fn(&NumprocsOverrides) -> Result<Config, String> + Send + Sync>;

/// The overrides and the reloader that applies them, shared between the handles (which run
/// the reloader off the actor) and the actor (which alone changes the overrides).
#[derive(Default)]
pub struct NumprocsState {
    pub reloader: Option<NumprocsReloader>,
    pub overrides: NumprocsOverrides,
}

/// What `update_numprocs` did: the namespecs of the processes added (then autostarted when
/// their `autostart` is true) and of those stopped and removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NumprocsChange {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// The change of one running group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupPlan {
    pub group: String,
    /// New processes, from the re-read configuration.
    pub add: Vec<ProcessSpec>,
    /// Names of the processes the re-read configuration no longer has.
    pub obsolete: Vec<String>,
}

/// SUPVISORS_CONF_ERROR with Supvisors' prefix.
pub fn not_applicable(why: impl std::fmt::Display) -> Fault {
    Fault::with(
        FaultCode::SupvisorsConfError,
        format!("numprocs not applicable: {why}"),
    )
}

/// The processes of `program` in one group, in the group's order.
pub fn of_program<'a>(group: &'a GroupSpec, program: &str) -> Vec<&'a ProcessSpec> {
    group
        .processes
        .iter()
        .filter(|p| p.program == program)
        .collect()
}

/// Plans the change of every running group that uses `program` (`running`: their specs).
/// Fails with SUPVISORS_CONF_ERROR when `reloaded` does not have exactly `numprocs`
/// processes of the program in one of these groups (the group or the program left the
/// files, or the reloader did not apply the override): nothing is changed then.
pub fn plan(
    program: &str,
    numprocs: u32,
    running: &[&GroupSpec],
    reloaded: &Config,
) -> Result<Vec<GroupPlan>, Fault> {
    let mut plans = Vec::new();
    for group in running {
        let current = of_program(group, program);
        if current.is_empty() {
            continue;
        }
        let desired = reloaded
            .group(&group.name)
            .map(|g| of_program(g, program))
            .unwrap_or_default();
        if desired.len() != numprocs as usize {
            return Err(not_applicable(format!(
                "the configuration re-read gives {} process(es) of program {program} to group {}, not {numprocs}",
                desired.len(),
                group.name
            )));
        }
        let add = desired
            .iter()
            .filter(|d| !current.iter().any(|c| c.name == d.name))
            .map(|d| (*d).clone())
            .collect();
        let obsolete = current
            .iter()
            .filter(|c| !desired.iter().any(|d| d.name == c.name))
            .map(|c| c.name.clone())
            .collect();
        plans.push(GroupPlan {
            group: group.name.clone(),
            add,
            obsolete,
        });
    }
    Ok(plans)
}

/// Replaces the processes of `program` in `group` by `desired`, keeping Supervisor's order
/// (priority, then name).
pub fn replace_program(group: &mut GroupSpec, program: &str, desired: &[ProcessSpec]) {
    group.processes.retain(|p| p.program != program);
    group.processes.extend(desired.iter().cloned());
    sort(&mut group.processes);
}

/// Supervisor's start order within a group.
pub fn sort(processes: &mut [ProcessSpec]) {
    processes.sort_by(|a, b| (a.priority, &a.name).cmp(&(b.priority, &b.name)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{GroupKind, SupervisordSpec};

    fn proc(group: &str, program: &str, num: u32) -> ProcessSpec {
        ProcessSpec {
            group: group.into(),
            program: program.into(),
            process_num: num,
            ..ProcessSpec::new(&format!("{program}_{num}"), vec!["sleep".into()])
        }
    }

    fn group(name: &str, processes: Vec<ProcessSpec>) -> GroupSpec {
        GroupSpec {
            name: name.into(),
            priority: 999,
            kind: GroupKind::Heterogeneous,
            processes,
        }
    }

    fn config(groups: Vec<GroupSpec>) -> Config {
        let dir = std::path::Path::new("/tmp");
        Config::new(dir, SupervisordSpec::in_dir(dir), groups)
    }

    fn names(ps: &[ProcessSpec]) -> Vec<&str> {
        ps.iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn increase_adds_the_new_numbers_in_every_group_using_the_program() {
        let g = group("g", vec![proc("g", "w", 0), proc("g", "other", 0)]);
        let w = group("w", vec![proc("w", "w", 0)]);
        let reloaded = config(vec![
            group(
                "g",
                vec![proc("g", "w", 0), proc("g", "w", 1), proc("g", "w", 2)],
            ),
            group(
                "w",
                vec![proc("w", "w", 0), proc("w", "w", 1), proc("w", "w", 2)],
            ),
        ]);
        let plans = plan("w", 3, &[&g, &w], &reloaded).unwrap();
        assert_eq!(plans.len(), 2);
        assert_eq!(names(&plans[0].add), ["w_1", "w_2"]);
        assert!(plans[0].obsolete.is_empty());
        assert_eq!(plans[1].group, "w");
        assert_eq!(names(&plans[1].add), ["w_1", "w_2"]);
    }

    #[test]
    fn decrease_makes_the_highest_numbers_obsolete_and_skips_groups_without_the_program() {
        let w = group(
            "w",
            vec![proc("w", "w", 0), proc("w", "w", 1), proc("w", "w", 2)],
        );
        let x = group("x", vec![proc("x", "x", 0)]);
        let reloaded = config(vec![group("w", vec![proc("w", "w", 0)])]);
        let plans = plan("w", 1, &[&w, &x], &reloaded).unwrap();
        assert_eq!(plans.len(), 1);
        assert!(plans[0].add.is_empty());
        assert_eq!(plans[0].obsolete, ["w_1", "w_2"]);
    }

    #[test]
    fn a_reloaded_config_without_the_right_count_is_not_applicable() {
        let w = group("w", vec![proc("w", "w", 0)]);
        let same = config(vec![group("w", vec![proc("w", "w", 0)])]);
        let e = plan("w", 2, &[&w], &same).unwrap_err();
        assert_eq!(e.code, FaultCode::SupvisorsConfError);
        assert_eq!(
            e.fault_string(),
            "SUPVISORS_CONF_ERROR: numprocs not applicable: the configuration re-read gives 1 process(es) of program w to group w, not 2"
        );
        let gone = config(vec![]);
        assert!(plan("w", 2, &[&w], &gone).is_err());
    }

    #[test]
    fn replace_program_keeps_priority_then_name_order() {
        let mut first = proc("g", "w", 1);
        first.priority = 1;
        let mut g = group("g", vec![proc("g", "a", 0), proc("g", "w", 0)]);
        replace_program(&mut g, "w", &[proc("g", "w", 0), first, proc("g", "w", 2)]);
        assert_eq!(names(&g.processes), ["w_1", "a_0", "w_0", "w_2"]);
    }
}
