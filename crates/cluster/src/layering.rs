//! Keeps cluster's modules free of import circles (tests only): every module's code — comments
//! and its `#[cfg(test)] mod tests` left out — names other modules as `crate::module`; those
//! references must form no cycle, so that each module can be read, and changed, knowing only
//! the ones below it. The node's shared core (`inner`) knows none of the tasks; the carrier
//! reaches the leading node through a trait (`carry::LeaderSide`); a task reaches another only
//! through what it starts (leadership: leader, executor) or a part below both (the leader
//! loop's `mailbox`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The `crate::…` modules each module's code refers to, by file stem.
fn edges(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(src).expect("crates/cluster/src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            let stem = path.file_stem().unwrap_or_default().to_string_lossy();
            let text = std::fs::read_to_string(&path).expect("a source file is readable");
            files.insert(stem.into_owned(), text);
        }
    }
    let modules: BTreeSet<String> = files.keys().cloned().collect();
    files
        .iter()
        .map(|(module, text)| {
            let text = text
                .split("#[cfg(test)]\nmod tests")
                .next()
                .unwrap_or_default();
            let mut refs = BTreeSet::new();
            for line in text.lines() {
                let code = line.split("//").next().unwrap_or_default();
                for (i, _) in code.match_indices("crate::") {
                    let rest = &code[i + "crate::".len()..];
                    let names: Vec<&str> = match rest.strip_prefix('{') {
                        // `crate::{a, b::c}`: on one line, as rustfmt writes short ones.
                        Some(group) => group
                            .split('}')
                            .next()
                            .unwrap_or_default()
                            .split(',')
                            .collect(),
                        None => vec![rest],
                    };
                    for name in names {
                        let name: String = name
                            .trim()
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        if modules.contains(&name) && name != *module {
                            refs.insert(name);
                        }
                    }
                }
            }
            (module.clone(), refs)
        })
        .collect()
}

/// A cycle of `edges`, if any (depth-first search).
fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut Vec::new(), &mut done))
}

#[test]
fn no_import_circle_between_the_modules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = edges(&src);
    assert!(edges["ticker"].contains("cutoff"), "the parser sees uses");
    assert!(edges["node"].contains("leadership"), "and paths in code");
    assert!(!edges["inner"].contains("node"), "comments are not code");
    if let Some(cycle) = cycle(&edges) {
        panic!("import circle: {}", cycle.join(" -> "));
    }
}

/// The node's tasks, each started by `node` with a context of what it uses.
const TASKS: [&str; 8] = [
    "bootstrap",
    "executor",
    "feed",
    "fence",
    "leader",
    "leadership",
    "server",
    "ticker",
];

#[test]
fn a_task_reaches_only_the_tasks_it_runs_or_answers_for() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = edges(&src);
    // The leadership watcher runs the leader loop and the commander, and fences when the
    // Raft core ends; the ticker fences when cut off and answers the leader's own tick; the
    // server answers ticks and runs orders.
    let allowed = [
        ("leadership", "executor"),
        ("leadership", "fence"),
        ("leadership", "leader"),
        ("ticker", "fence"),
        ("ticker", "leader"),
        ("server", "executor"),
        ("server", "leader"),
    ];
    for task in TASKS {
        for other in edges[task].iter().filter(|m| TASKS.contains(&m.as_str())) {
            assert!(
                allowed.contains(&(task, other.as_str())),
                "{task} reaches the task {other}: give it the part it needs in its context"
            );
        }
        assert!(!edges[task].contains("node"), "{task} reaches the node");
        assert!(
            !edges["inner"].contains(task),
            "the core knows the task {task}"
        );
        assert!(
            edges["node"].contains(task),
            "{task} is started by the node"
        );
    }
}

#[test]
fn a_cycle_is_found() {
    let graph = |pairs: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in pairs {
            g.entry(a.to_string()).or_default().insert(b.to_string());
            g.entry(b.to_string()).or_default();
        }
        g
    };
    assert_eq!(cycle(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])), None);
    assert_eq!(
        cycle(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}
