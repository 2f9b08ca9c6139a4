//! Choice of an instance for a process or an application (docs/supvisors.md, 'Starting
//! strategies and placement' and 'Distribution').
//!
//! Loads are Supvisors' *expected* loads, not measured ones: the sum of the `expected_loading`
//! of the processes running-like on an instance, plus the processes placed there by a running
//! job and not running yet (pending), plus what the current planning round placed already.

use crate::Commander;
use data::{ClusterState, ItemAction, ItemState};
use model::supvisors::StartingStrategy;
use std::collections::BTreeMap;

/// Expected load per instance (percent, may exceed 100 when rules changed).
pub(crate) type Loads = BTreeMap<String, u32>;

impl Commander {
    /// Current expected loads, pending placements included.
    pub(crate) fn loads(&self, state: &ClusterState) -> Loads {
        let mut loads = Loads::new();
        for (id, record) in state.instances() {
            let load = record
                .processes
                .values()
                .filter(|p| p.status.state.is_running())
                .map(|p| {
                    u32::from(
                        self.rules
                            .program_rules(&p.status.group, &p.status.name)
                            .expected_loading,
                    )
                })
                .sum();
            loads.insert(id.to_string(), load);
        }
        for job in state.jobs().running() {
            for item in &job.items {
                if let (
                    ItemState::Placed { instance, .. },
                    ItemAction::Start {
                        expected_loading, ..
                    },
                ) = (&item.state, &item.action)
                {
                    let running = state
                        .process(instance, &item.namespec)
                        .is_some_and(|p| p.state.is_running());
                    if !running {
                        *loads.entry(instance.clone()).or_default() += u32::from(*expected_loading);
                    }
                }
            }
        }
        loads
    }

    /// Supvisors' `loading` of each instance (`get_instance_info`): the expected loading of
    /// what runs there, plus what a running job has placed there and not started yet.
    pub fn expected_loads(&self, state: &ClusterState) -> BTreeMap<String, u32> {
        self.loads(state)
    }

    pub(crate) fn node_of<'a>(&'a self, instance: &'a str) -> &'a str {
        self.settings
            .nodes
            .get(instance)
            .map_or(instance, String::as_str)
    }

    fn node_load(&self, loads: &Loads, instance: &str) -> u32 {
        let node = self.node_of(instance);
        loads
            .iter()
            .filter(|(id, _)| self.node_of(id) == node)
            .map(|(_, l)| *l)
            .sum()
    }

    /// The candidates of one process (docs/supvisors.md, 'Starting strategies and placement'): rule
    /// identifiers (`#` resolved with the catalog's process index) that are RUNNING, know the
    /// process and do not disable it, in rule order.
    pub(crate) fn process_candidates(
        &self,
        state: &ClusterState,
        namespec: &str,
        group: &str,
        name: &str,
    ) -> Vec<String> {
        self.rules
            .program_rules(group, name)
            .candidates(
                &self.settings.instances,
                self.catalog.process_index(namespec),
            )
            .into_iter()
            .filter(|c| self.can_host(state, c, namespec, name))
            .collect()
    }

    /// The instance `strategy` picks among `candidates` (in preference order) for a load of
    /// `expected`, `None` when no candidate can take it within 100 % of its own load. `local`
    /// is the instance LOCAL means. Ties keep candidate order.
    ///
    /// Deliberate difference with Supvisors, whose limit is the *node's* load (all instances
    /// of one host together): here each instance may reach 100 %, so several instances on one
    /// host (a loopback test cluster) each get their share. Node loads still order the *_NODE
    /// strategies (docs/supvisors.md, 'Differences from Supvisors 0.14').
    pub(crate) fn choose(
        &self,
        strategy: StartingStrategy,
        candidates: &[String],
        loads: &Loads,
        expected: u32,
        local: &str,
    ) -> Option<String> {
        let valid: Vec<(&String, u32, u32)> = candidates
            .iter()
            .map(|c| {
                let own = loads.get(c).copied().unwrap_or(0);
                (c, own, self.node_load(loads, c))
            })
            .filter(|(_, own, _)| own + expected <= 100)
            .collect();
        let pick = |better: &dyn Fn((u32, u32), (u32, u32)) -> bool| {
            let mut best: Option<(&String, u32, u32)> = None;
            for &(c, own, node) in &valid {
                if best.is_none_or(|(_, bo, bn)| better((own, node), (bo, bn))) {
                    best = Some((c, own, node));
                }
            }
            best.map(|(c, _, _)| c.clone())
        };
        match strategy {
            StartingStrategy::Config => valid.first().map(|(c, _, _)| (*c).clone()),
            StartingStrategy::Local => valid
                .iter()
                .find(|(c, _, _)| c.as_str() == local)
                .map(|(c, _, _)| (*c).clone()),
            StartingStrategy::LessLoaded => pick(&|(o, n), (bo, bn)| (o, n) < (bo, bn)),
            StartingStrategy::MostLoaded => pick(&|(o, n), (bo, bn)| (o, n) > (bo, bn)),
            StartingStrategy::LessLoadedNode => pick(&|(o, n), (bo, bn)| (n, o) < (bn, bo)),
            StartingStrategy::MostLoadedNode => pick(&|(o, n), (bo, bn)| (n, o) > (bn, bo)),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testkit::*;
    use model::rules::{Identifiers, RunningFailureStrategy::Continue};
    use model::supvisors::StartingStrategy::*;
    use model::ProcessState;
    use std::collections::BTreeMap;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn loads(v: &[(&str, u32)]) -> super::Loads {
        v.iter().map(|(k, l)| (k.to_string(), *l)).collect()
    }

    #[test]
    fn strategies_pick_by_load_with_ties_in_candidate_order() {
        let c = commander(&["a", "b", "c"], vec![]);
        let all = ids(&["a", "b", "c"]);
        let l = loads(&[("a", 30), ("b", 10), ("c", 10)]);
        assert_eq!(c.choose(Config, &all, &l, 10, "a").as_deref(), Some("a"));
        assert_eq!(
            c.choose(LessLoaded, &all, &l, 10, "a").as_deref(),
            Some("b")
        );
        assert_eq!(
            c.choose(MostLoaded, &all, &l, 10, "a").as_deref(),
            Some("a")
        );
        assert_eq!(c.choose(Local, &all, &l, 10, "c").as_deref(), Some("c"));
        assert_eq!(c.choose(Local, &ids(&["a"]), &l, 10, "c"), None);
        let l = loads(&[("a", 10), ("b", 10), ("c", 10)]);
        assert_eq!(
            c.choose(MostLoaded, &all, &l, 10, "a").as_deref(),
            Some("a")
        );
        assert_eq!(
            c.choose(LessLoaded, &ids(&["c", "b"]), &l, 10, "a")
                .as_deref(),
            Some("c")
        );
    }

    #[test]
    fn the_100_percent_limit_excludes_full_instances() {
        let c = commander(&["a", "b"], vec![]);
        let all = ids(&["a", "b"]);
        let l = loads(&[("a", 90), ("b", 50)]);
        assert_eq!(c.choose(Config, &all, &l, 10, "a").as_deref(), Some("a"));
        assert_eq!(c.choose(Config, &all, &l, 11, "a").as_deref(), Some("b"));
        assert_eq!(
            c.choose(MostLoaded, &all, &l, 11, "a").as_deref(),
            Some("b")
        );
        assert_eq!(c.choose(Local, &all, &l, 11, "a"), None);
        assert_eq!(c.choose(Config, &all, &l, 51, "a"), None);
    }

    #[test]
    fn node_strategies_sum_the_instances_of_a_node() {
        let nodes: BTreeMap<String, String> = [("a", "h1"), ("b", "h1"), ("c", "h2")]
            .iter()
            .map(|(i, n)| (i.to_string(), n.to_string()))
            .collect();
        let c = commander_with(&["a", "b", "c"], vec![], Default::default(), nodes);
        let all = ids(&["a", "b", "c"]);
        // Node h1 = 40 (a 10 + b 30), node h2 = 20.
        let l = loads(&[("a", 10), ("b", 30), ("c", 20)]);
        assert_eq!(c.choose(LessLoaded, &all, &l, 5, "a").as_deref(), Some("a"));
        assert_eq!(
            c.choose(LessLoadedNode, &all, &l, 5, "a").as_deref(),
            Some("c")
        );
        assert_eq!(
            c.choose(MostLoadedNode, &all, &l, 5, "a").as_deref(),
            Some("b")
        );
        assert_eq!(c.choose(MostLoaded, &all, &l, 5, "a").as_deref(), Some("b"));
        // The limit is each instance's own load: a (10 %) takes 61 % although its node
        // holds 40 %; b (30 %) cannot take 75 %.
        assert_eq!(c.choose(Config, &all, &l, 61, "a").as_deref(), Some("a"));
        assert_eq!(
            c.choose(Config, &ids(&["b", "c"]), &l, 75, "a").as_deref(),
            Some("c")
        );
    }

    #[test]
    fn candidates_need_running_knowing_not_disabled_instances_in_rule_order() {
        let p = prog(
            "p",
            with_ids(
                opts(1, false, 0, Continue),
                Identifiers::List(ids(&["c", "b", "a"])),
            ),
        );
        let mut a = app("g");
        a.programs.push(p);
        let c = commander(&["a", "b", "c", "d"], vec![a]);
        let mut w = World::new(&["a", "b", "c", "d"]);
        w.declare("g", &["p"], &["a", "b", "d"]);
        assert_eq!(
            c.process_candidates(&w.state, "g:p", "g", "p"),
            ids(&["b", "a"])
        );
        w.state.apply(&data::Command::Disable {
            target: data::Target::Instance("b".into()),
            program: "p".into(),
        });
        assert_eq!(c.process_candidates(&w.state, "g:p", "g", "p"), ids(&["a"]));
        w.lose("a");
        assert!(c.process_candidates(&w.state, "g:p", "g", "p").is_empty());
    }

    #[test]
    fn hash_identifiers_use_the_catalog_process_index() {
        let p = prog(
            "w_",
            with_ids(
                opts(1, false, 0, Continue),
                Identifiers::Hash(ids(&["a", "b"])),
            ),
        );
        let mut a = app("g");
        a.programs.push(model::rules::ProgramEntry {
            matcher: model::rules::NameMatch::Name("w_1".into()),
            ..p
        });
        let mut catalog = crate::Catalog::default();
        catalog.insert(entry("g", "w_1", 1, true));
        let c = commander_with(&["a", "b"], vec![a], catalog, BTreeMap::new());
        let mut w = World::new(&["a", "b"]);
        w.declare("g", &["w_1"], &["a", "b"]);
        assert_eq!(
            c.process_candidates(&w.state, "g:w_1", "g", "w_1"),
            ids(&["b"])
        );
    }

    #[test]
    fn loads_count_running_processes_and_pending_placements() {
        let mut a = app("g");
        a.programs.push(prog("p", opts(1, false, 30, Continue)));
        a.programs.push(prog("q", opts(1, false, 20, Continue)));
        let c = commander(&["a", "b"], vec![a]);
        let mut w = World::new(&["a", "b"]);
        w.declare("g", &["p", "q"], &["a", "b"]);
        w.report("a", "g", "p", ProcessState::Running);
        assert_eq!(c.loads(&w.state), loads(&[("a", 30), ("b", 0)]));
        let job = c
            .start_process(&w.state, Config, "g:q", "", "", w.now)
            .unwrap();
        w.create(job);
        let plan = c.plan(&w.state, w.now);
        w.commit(&plan);
        // q placed on a (CONFIG), not running yet: pending.
        assert_eq!(c.loads(&w.state), loads(&[("a", 50), ("b", 0)]));
    }
}
