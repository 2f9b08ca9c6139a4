//! The Supvisors rules files (XML, `rules_files` option), loaded into [`model::rules::Rules`].
//!
//! The format is Supvisors 0.14's (`rules.xsd`; docs/supvisors.md, 'Rules file'): `<alias>`,
//! `<model>` and `<application name|pattern>` elements under `<root>`, programs in `<programs>`,
//! plus the legacy `<distributed>` flag (noted, mapped onto `distribution`). Supvisors validates
//! with the schema when `lxml` is there. raftvisor refuses what the schema refuses, and reports
//! every problem at once, as `file:line: message`: malformed XML, unknown elements or attributes,
//! repeated options, bad integers, booleans or enum names, plus invalid regular expressions.
//! Everything the schema accepts loads as 0.14's parser reads it (an empty `pattern` matches
//! every name; unknown identifiers and models are dropped; a reference chain is cut where 0.14
//! cuts it; the first application or program declared by name wins…), and what 0.14 would log
//! becomes [`Rules::notes`](model::rules::Rules::notes), logged as warnings at start-up.
//! `tests/supvisors_014_rules.rs` loads Supvisors' own test rules file to hold this.
//!
//! ```text
//! file ──xml (event reader, line of every element)──▶ tree ──parse──▶ typed elements
//! all files' elements ──resolve (aliases, identifiers, models, patterns)──▶ Rules + RegexMatcher
//! ```
//!
//! Reading the files is the only I/O; [`from_sources`] is the same thing on texts. [`apply_to`]
//! is the rules' one effect on the Supervisor configuration (autorestart off where the
//! application reacts), pure too.

mod parse;
mod resolve;
mod xml;

#[cfg(test)]
mod tests;

use crate::error::{ConfigError, Problem, Problems};
use model::rules::{NameMatch, PatternMatcher, Rules};
use model::spec::AutoRestart;
use model::Config;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Reads and merges the rules files, in order. `instances` are the `supvisors_list`
/// identifiers in declaration order (what `*` and `#` mean, what `identifiers` may name).
/// No file at all gives rules where no application is managed.
///
/// The application default `starting_strategy` is left at `CONFIG`: copy the option into
/// [`Rules::default_starting_strategy`].
pub fn load(paths: &[PathBuf], instances: &[String]) -> Result<Rules, ConfigError> {
    let mut problems = Problems::default();
    let mut sources = Vec::new();
    for path in paths {
        match std::fs::read(path) {
            Err(e) => problems.error(path, 0, format!("cannot read rules file: {e}")),
            Ok(bytes) => match String::from_utf8(bytes) {
                Err(_) => problems.error(path, 0, "rules file is not valid UTF-8"),
                Ok(text) => sources.push((path.clone(), text)),
            },
        }
    }
    build(&sources, instances, problems, paths)
}

/// [`load`] on file contents already read: `(path used in messages, text)`.
pub fn from_sources(
    sources: &[(PathBuf, String)],
    instances: &[String],
) -> Result<Rules, ConfigError> {
    let order: Vec<PathBuf> = sources.iter().map(|(p, _)| p.clone()).collect();
    build(sources, instances, Problems::default(), &order)
}

/// Supvisors' side effect of the rules on the local configuration: the processes whose running
/// failure strategy is STOP_APPLICATION or RESTART_APPLICATION lose Supervisor's `autorestart`,
/// so that the application-level reaction is not pre-empted by a local restart. Applied to
/// every configuration read (at start-up and at each re-read), since the rules outlive them.
///
/// Returns the namespecs whose `autorestart` it turned off, in configuration order, for the
/// caller to log; a process already at `autorestart=false` is not listed.
pub fn apply_to(config: &mut Config, rules: &Rules) -> Vec<String> {
    let mut disabled = Vec::new();
    for group in &mut config.groups {
        for process in &mut group.processes {
            if rules
                .program_rules(&group.name, &process.name)
                .disables_autorestart()
                && process.autorestart != AutoRestart::False
            {
                process.autorestart = AutoRestart::False;
                disabled.push(model::make_namespec(&group.name, &process.name));
            }
        }
    }
    disabled
}

/// Compiles the patterns of `rules` and attaches the matcher that makes them match (needed
/// after deserializing a [`Rules`]; [`load`] does it already).
pub fn attach_matcher(rules: &mut Rules) -> Result<(), ConfigError> {
    let mut regexes = HashMap::new();
    let mut problems = Vec::new();
    let entries = rules.applications.iter().flat_map(|a| {
        std::iter::once((&a.matcher, &a.source))
            .chain(a.programs.iter().map(|p| (&p.matcher, &p.source)))
    });
    for (m, source) in entries {
        let NameMatch::Pattern(p) = m else { continue };
        match resolve::compile(p) {
            Ok(re) => {
                regexes.insert(p.clone(), re);
            }
            Err(e) => problems.push(Problem {
                file: source.file.clone(),
                line: source.line,
                message: format!("pattern {p:?} is not a valid regular expression: {e}"),
            }),
        }
    }
    if !problems.is_empty() {
        return Err(ConfigError { problems });
    }
    rules.set_matcher(Arc::new(RegexMatcher { regexes }));
    Ok(())
}

/// Rust's `regex` standing in for Python's `re.search`: same leftmost-first match for the
/// syntax both share (look-around and back-references are refused when compiling).
struct RegexMatcher {
    regexes: HashMap<String, regex::Regex>,
}

impl PatternMatcher for RegexMatcher {
    fn matched_len(&self, pattern: &str, text: &str) -> Option<usize> {
        let m = self.regexes.get(pattern)?.find(text)?;
        Some(m.as_str().chars().count())
    }
}

fn build(
    sources: &[(PathBuf, String)],
    instances: &[String],
    mut problems: Problems,
    order: &[PathBuf],
) -> Result<Rules, ConfigError> {
    let mut files = Vec::new();
    for (path, text) in sources {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        match xml::parse_document(text) {
            Err(e) => problems.error(path, e.line, e.message),
            Ok(root) => {
                let mut found = parse::Errors::default();
                let raw = parse::parse_root(&root, &mut found);
                for (line, message) in found.errors {
                    problems.error(path, line, message);
                }
                for (line, message) in found.notes {
                    problems.warn(path, line, message);
                }
                files.push((path.clone(), raw));
            }
        }
    }
    let applications = resolve::resolve(&files, instances, &mut problems);
    let errors = sorted(problems.errors, order);
    if !errors.is_empty() {
        return Err(ConfigError { problems: errors });
    }
    let mut rules = Rules::new(instances.to_vec(), applications);
    rules.notes = sorted(problems.warnings, order)
        .iter()
        .map(ToString::to_string)
        .collect();
    attach_matcher(&mut rules)?;
    Ok(rules)
}

/// Files in the order given, lines in order, duplicates (one model reached from several
/// programs) reported once.
fn sorted(mut problems: Vec<Problem>, order: &[PathBuf]) -> Vec<Problem> {
    let rank = |p: &Path| order.iter().position(|o| o == p).unwrap_or(usize::MAX);
    problems.sort_by_key(|p| (rank(&p.file), p.line));
    let mut out: Vec<Problem> = Vec::new();
    for p in problems {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}
