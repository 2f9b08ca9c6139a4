//! All files' elements → [`ApplicationEntry`]s: aliases expanded, `identifiers` checked against
//! `supvisors_list`, model references followed and merged, patterns compiled.
//!
//! Aliases and models are global: one declared in any file may be used in any other, as in
//! Supvisors (which merges them before any lookup). Where Supvisors 0.14 picks a winner or
//! drops something, this does the same and says so in a note at the line concerned: a name
//! declared twice (the first application or program by name wins, the last pattern, alias or
//! model wins), an identifier that is not in `supvisors_list` (dropped), an unknown model in
//! `<reference>` (ignored), a reference chain longer than 0.14 follows (cut there). A rules
//! file that 0.14 accepts therefore loads unchanged.

use super::parse::{describe, At, RawAlias, RawFile, RawProgramBody};
use crate::error::Problems;
use model::rules::{
    ApplicationEntry, DistributionRule, Identifiers, NameMatch, ProgramEntry, ProgramOptions,
    Source,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Supvisors' `Parser.LOOP_CHECK` (3 levels counting the program) leaves room for two models;
/// a cycle is cut at the same depth, as 0.14 does.
const MAX_MODEL_DEPTH: usize = 2;

struct Alias<'a> {
    raw: &'a RawAlias,
    file: &'a Path,
}

struct Model<'a> {
    name: &'a str,
    file: &'a Path,
    line: usize,
    body: &'a RawProgramBody,
    /// The model's own options, identifiers resolved.
    options: ProgramOptions,
}

/// Resolves every file's elements; errors and notes go to `problems`.
pub(crate) fn resolve(
    files: &[(PathBuf, RawFile)],
    instances: &[String],
    problems: &mut Problems,
) -> Vec<ApplicationEntry> {
    let aliases = collect_aliases(files, instances, problems);
    let ctx = Resolver { aliases, instances };
    let models = ctx.collect_models(files, problems);
    let mut applications: Vec<ApplicationEntry> = Vec::new();
    for (file, raw) in files {
        for app in &raw.applications {
            let source = Source {
                file: file.clone(),
                line: app.line,
            };
            let what = describe("application", &app.matcher);
            let earlier = applications.iter().position(|a| a.matcher == app.matcher);
            if let (Some(first), NameMatch::Name(_)) = (earlier, &app.matcher) {
                problems.warn(
                    file,
                    app.line,
                    format!(
                        "{what} already declared at {}: ignored (the first one wins, as in Supvisors 0.14)",
                        at(&applications[first].source)
                    ),
                );
                continue;
            }
            if let Some(first) = earlier {
                problems.warn(
                    file,
                    app.line,
                    format!(
                        "{what} replaces the one declared at {} (the last pattern wins, as in Supvisors 0.14)",
                        at(&applications[first].source)
                    ),
                );
            }
            check_pattern(&app.matcher, file, app.line, problems);
            let o = &app.options;
            let identifiers = ctx.identifiers(o.identifiers.as_ref(), file, &what, problems);
            if let (Some(Identifiers::Hash(_)), NameMatch::Name(name)) =
                (&identifiers, &app.matcher)
            {
                if model::rules::application_index(name).is_none() {
                    problems.warn(
                        file,
                        app.line,
                        format!("{what}: '#' needs a name ending with -N or _N (N ≥ 1): it will not be started"),
                    );
                }
            }
            let mut distribution = o.distribution;
            if let Some(flag) = &o.distributed {
                let note = if distribution.is_some() {
                    "ignored, <distribution> is given"
                } else {
                    distribution = Some(if flag.value {
                        DistributionRule::AllInstances
                    } else {
                        DistributionRule::SingleInstance
                    });
                    "use <distribution>"
                };
                problems.warn(
                    file,
                    flag.line,
                    format!(
                        "{what}: <distributed> is deprecated (removed in Supvisors 0.13): {note}"
                    ),
                );
            }
            let mut programs: Vec<ProgramEntry> = Vec::new();
            for prg in &app.programs {
                let pwhat = format!("{what}: {}", describe("program", &prg.matcher));
                let earlier = programs.iter().position(|p| p.matcher == prg.matcher);
                if let (Some(first), NameMatch::Name(_)) = (earlier, &prg.matcher) {
                    problems.warn(
                        file,
                        prg.line,
                        format!(
                            "{pwhat} already declared at line {}: ignored (the first one wins, as in Supvisors 0.14)",
                            programs[first].source.line
                        ),
                    );
                    continue;
                }
                if let Some(first) = earlier {
                    problems.warn(
                        file,
                        prg.line,
                        format!(
                            "{pwhat} replaces the one declared at line {} (the last pattern wins, as in Supvisors 0.14)",
                            programs[first].source.line
                        ),
                    );
                }
                check_pattern(&prg.matcher, file, prg.line, problems);
                let own = ctx.body_options(&prg.body, file, &pwhat, &models, problems);
                let options = ctx.merge(&own, prg.body.reference.as_ref(), file, &models, problems);
                if options.required == Some(true) && options.start_sequence.unwrap_or(0) == 0 {
                    problems.warn(
                        file,
                        prg.line,
                        format!(
                            "{pwhat}: required forced to false because it has no start_sequence"
                        ),
                    );
                }
                let entry = ProgramEntry {
                    matcher: prg.matcher.clone(),
                    reference: prg.body.reference.as_ref().map(|r| r.value.clone()),
                    options,
                    source: Source {
                        file: file.clone(),
                        line: prg.line,
                    },
                };
                match earlier {
                    Some(first) => programs[first] = entry,
                    None => programs.push(entry),
                }
            }
            let entry = ApplicationEntry {
                matcher: app.matcher.clone(),
                distribution,
                identifiers,
                start_sequence: o.start_sequence,
                stop_sequence: o.stop_sequence,
                starting_strategy: o.starting_strategy,
                starting_failure_strategy: o.starting_failure_strategy,
                running_failure_strategy: o.running_failure_strategy,
                programs,
                source,
            };
            match earlier {
                Some(first) => applications[first] = entry,
                None => applications.push(entry),
            }
        }
    }
    applications
}

fn at(source: &Source) -> String {
    format!("{}:{}", source.file.display(), source.line)
}

/// Compiles a pattern as Supvisors' `re.search` would use it; the message is the regex crate's
/// last line (its summary), as the full text draws a multi-line diagram.
pub(crate) fn compile(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(pattern).map_err(|e| {
        let text = e.to_string();
        let summary = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .trim_start_matches("error: ")
            .to_string();
        summary
    })
}

fn check_pattern(m: &NameMatch, file: &Path, line: usize, problems: &mut Problems) {
    if let NameMatch::Pattern(p) = m {
        if let Err(e) = compile(p) {
            problems.error(
                file,
                line,
                format!("pattern {p:?} is not a valid regular expression: {e}"),
            );
        }
    }
}

/// All aliases in declaration order (files in order), as 0.14's `dict.update` merges them: a
/// name declared again replaces the members and keeps the first one's place. Members that
/// will be dropped when the alias is used are noted here.
fn collect_aliases<'a>(
    files: &'a [(PathBuf, RawFile)],
    instances: &[String],
    problems: &mut Problems,
) -> Vec<Alias<'a>> {
    let mut aliases: Vec<Alias<'a>> = Vec::new();
    for (file, raw) in files {
        for alias in &raw.aliases {
            let name = alias.name.as_str();
            if instances.iter().any(|i| i == name) {
                problems.warn(
                    file,
                    alias.line,
                    format!("alias {name:?} has the name of an instance of supvisors_list: the alias is expanded in its place"),
                );
            }
            if let Some(first) = aliases.iter_mut().find(|a| a.raw.name == name) {
                problems.warn(
                    file,
                    alias.line,
                    format!(
                        "alias {name:?} already declared at {}:{}: this one replaces it (as in Supvisors 0.14)",
                        first.file.display(),
                        first.raw.line
                    ),
                );
                *first = Alias { raw: alias, file };
                continue;
            }
            aliases.push(Alias { raw: alias, file });
        }
    }
    // Supvisors expands aliases one after the other in declaration order, so an alias can only
    // use the ones declared after it; any other name not in supvisors_list is dropped on use.
    for (i, alias) in aliases.iter().enumerate() {
        for member in &alias.raw.members {
            let m = member.as_str();
            if m == "*" || m == "#" || instances.iter().any(|x| x == m) {
                continue;
            }
            let message = match aliases.iter().position(|a| a.raw.name == m) {
                Some(j) if j > i => continue,
                Some(j) if j == i => format!(
                    "alias {:?} refers to itself: that member is dropped",
                    alias.raw.name
                ),
                Some(_) => format!(
                    "alias {:?}: {m:?} is an alias declared before it, so it is not expanded and is dropped (aliases are expanded in declaration order)",
                    alias.raw.name
                ),
                None => format!(
                    "alias {:?}: {m:?} is neither in supvisors_list nor an alias: dropped",
                    alias.raw.name
                ),
            };
            problems.warn(alias.file, alias.raw.line, message);
        }
    }
    aliases
}

struct Resolver<'a> {
    aliases: Vec<Alias<'a>>,
    instances: &'a [String],
}

impl<'a> Resolver<'a> {
    /// Every model (files in order), own identifiers resolved, references checked.
    fn collect_models(
        &self,
        files: &'a [(PathBuf, RawFile)],
        problems: &mut Problems,
    ) -> HashMap<&'a str, Model<'a>> {
        let mut models: HashMap<&'a str, Model<'a>> = HashMap::new();
        for (file, raw) in files {
            for m in &raw.models {
                if let Some(first) = models.get(m.name.as_str()) {
                    problems.warn(
                        file,
                        m.line,
                        format!(
                            "model {:?} already declared at {}:{}: this one replaces it (as in Supvisors 0.14)",
                            m.name,
                            first.file.display(),
                            first.line
                        ),
                    );
                }
                let what = format!("model {:?}", m.name);
                let options = ProgramOptions {
                    identifiers: self.identifiers(
                        m.body.identifiers.as_ref(),
                        file,
                        &what,
                        problems,
                    ),
                    ..m.body.options.clone()
                };
                models.insert(
                    &m.name,
                    Model {
                        name: &m.name,
                        file,
                        line: m.line,
                        body: &m.body,
                        options,
                    },
                );
            }
        }
        for model in models.values() {
            if let Some(r) = &model.body.reference {
                if !models.contains_key(r.value.as_str()) {
                    problems.warn(
                        model.file,
                        r.line,
                        format!(
                            "model {:?}: unknown model {:?} in <reference>: ignored, as Supvisors 0.14 does",
                            model.name, r.value
                        ),
                    );
                }
            }
        }
        models
    }

    /// A program's own options, identifiers resolved, its reference checked.
    fn body_options(
        &self,
        body: &RawProgramBody,
        file: &Path,
        what: &str,
        models: &HashMap<&str, Model<'_>>,
        problems: &mut Problems,
    ) -> ProgramOptions {
        if let Some(r) = &body.reference {
            if !models.contains_key(r.value.as_str()) {
                problems.warn(
                    file,
                    r.line,
                    format!(
                        "{what}: unknown model {:?} in <reference>: ignored, as Supvisors 0.14 does",
                        r.value
                    ),
                );
            }
        }
        ProgramOptions {
            identifiers: self.identifiers(body.identifiers.as_ref(), file, what, problems),
            ..body.options.clone()
        }
    }

    /// The referenced models' options (deepest first) overlaid with `own`, as Supvisors'
    /// `load_model_rules` does; a chain longer than 0.14 follows (a cycle included) is cut
    /// there, with a note.
    fn merge(
        &self,
        own: &ProgramOptions,
        reference: Option<&At<String>>,
        file: &Path,
        models: &HashMap<&str, Model<'_>>,
        problems: &mut Problems,
    ) -> ProgramOptions {
        let mut chain: Vec<&Model<'_>> = Vec::new();
        let mut next = reference.map(|r| (r, file));
        while let Some((r, from)) = next {
            let Some(model) = models.get(r.value.as_str()) else {
                break; // reported where the reference is written
            };
            if chain.len() == MAX_MODEL_DEPTH {
                let cycle = if chain.iter().any(|m| m.name == model.name) {
                    " (a reference cycle)"
                } else {
                    ""
                };
                problems.warn(
                    from,
                    r.line,
                    format!(
                        "reference to model {:?} is too deep{cycle}: ignored, as Supvisors 0.14 follows at most program → model → model",
                        model.name
                    ),
                );
                break;
            }
            chain.push(model);
            next = model.body.reference.as_ref().map(|r| (r, model.file));
        }
        let base = chain
            .iter()
            .rev()
            .fold(ProgramOptions::default(), |acc, m| acc.overlay(&m.options));
        base.overlay(own)
    }

    /// Resolves an `identifiers` element, noting the dropped names at its line.
    fn identifiers(
        &self,
        given: Option<&At<String>>,
        file: &Path,
        what: &str,
        problems: &mut Problems,
    ) -> Option<Identifiers> {
        let given = given?;
        let (ids, dropped) = resolve_identifiers(&given.value, &self.aliases, self.instances);
        for m in dropped {
            problems.warn(file, given.line, format!("{what}: identifiers: {m}"));
        }
        Some(ids)
    }
}

/// Supvisors' `check_identifier_list` + `load_identifiers`: the identifiers, and a message for
/// each name dropped because it is not in `supvisors_list` (0.14's `SupvisorsMapper.filter`).
fn resolve_identifiers(
    text: &str,
    aliases: &[Alias<'_>],
    instances: &[String],
) -> (Identifiers, Vec<String>) {
    // (token, written directly here rather than coming from an alias)
    let mut tokens: Vec<(String, bool)> = super::parse::split_list(text)
        .into_iter()
        .map(|t| (t, true))
        .collect();
    if tokens.is_empty() {
        return (
            Identifiers::List(Vec::new()),
            vec!["no identifier given: runs nowhere".into()],
        );
    }
    // Each alias replaces its first occurrence, in declaration order.
    for alias in aliases {
        if let Some(pos) = tokens.iter().position(|(t, _)| *t == alias.raw.name) {
            let members = alias.raw.members.iter().map(|m| (m.clone(), false));
            tokens.splice(pos..=pos, members);
        }
    }
    let hash = tokens.iter().any(|(t, _)| t == "#");
    let star = tokens.iter().any(|(t, _)| t == "*");
    let mut errors = Vec::new();
    let mut list: Vec<String> = Vec::new();
    for (t, direct) in &tokens {
        if t == "#" || t == "*" {
            continue;
        }
        if instances.iter().any(|i| i == t) {
            if !list.contains(t) {
                list.push(t.clone());
            }
        } else if *direct && !aliases.iter().any(|a| a.raw.name == *t) {
            // Names coming from an alias are reported at the alias; an alias named twice is
            // only expanded once, which changes nothing.
            errors.push(if t.starts_with('@') {
                format!("{t:?}: '@' (Supvisors 0.17+) is not supported: dropped")
            } else {
                format!("{t:?} is neither in supvisors_list nor an alias: dropped")
            });
        }
    }
    let ids = if hash {
        if star || list.is_empty() {
            Identifiers::Hash(instances.to_vec())
        } else {
            Identifiers::Hash(list)
        }
    } else if star {
        Identifiers::All
    } else {
        Identifiers::List(list)
    };
    (ids, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alias(name: &str, members: &[&str]) -> RawAlias {
        RawAlias {
            name: name.into(),
            members: members.iter().map(|m| m.to_string()).collect(),
            line: 1,
        }
    }

    fn inst() -> Vec<String> {
        ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect()
    }

    /// The identifiers when nothing is dropped, the dropped names' messages otherwise.
    fn run(text: &str, raws: &[RawAlias]) -> Result<Identifiers, Vec<String>> {
        let file = PathBuf::from("f");
        let aliases: Vec<Alias<'_>> = raws.iter().map(|raw| Alias { raw, file: &file }).collect();
        match resolve_identifiers(text, &aliases, &inst()) {
            (ids, dropped) if dropped.is_empty() => Ok(ids),
            (_, dropped) => Err(dropped),
        }
    }

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn plain_lists_keep_order_and_drop_duplicates() {
        assert_eq!(run("c, a,c", &[]), Ok(Identifiers::List(list(&["c", "a"]))));
        assert_eq!(run("a,*", &[]), Ok(Identifiers::All));
        assert_eq!(run("*", &[]), Ok(Identifiers::All));
    }

    #[test]
    fn hash_forms() {
        assert_eq!(run("#", &[]), Ok(Identifiers::Hash(inst())));
        assert_eq!(run("#,*", &[]), Ok(Identifiers::Hash(inst())));
        assert_eq!(run("#,d,b", &[]), Ok(Identifiers::Hash(list(&["d", "b"]))));
        assert_eq!(run("b,#", &[]), Ok(Identifiers::Hash(list(&["b"]))));
    }

    #[test]
    fn aliases_expand_in_declaration_order() {
        let raws = [alias("outer", &["inner", "a"]), alias("inner", &["c", "d"])];
        assert_eq!(
            run("b,outer", &raws),
            Ok(Identifiers::List(list(&["b", "c", "d", "a"])))
        );
        // named twice: expanded once, the second mention is dropped
        assert_eq!(
            run("inner,a,inner", &raws),
            Ok(Identifiers::List(list(&["c", "d", "a"])))
        );
        let raws = [alias("all", &["*"]), alias("h", &["#", "b", "a"])];
        assert_eq!(run("all", &raws), Ok(Identifiers::All));
        assert_eq!(run("h", &raws), Ok(Identifiers::Hash(list(&["b", "a"]))));
    }

    /// As 0.14's `SupvisorsMapper.filter`: unknown names are dropped (and said so).
    #[test]
    fn unknown_names_are_dropped() {
        let file = PathBuf::from("f");
        let (ids, dropped) = resolve_identifiers("a,zz,#", &[], &inst());
        assert_eq!(ids, Identifiers::Hash(list(&["a"])));
        assert_eq!(
            dropped,
            vec!["\"zz\" is neither in supvisors_list nor an alias: dropped".to_string()]
        );
        let (ids, dropped) = resolve_identifiers("zz", &[], &inst());
        assert_eq!(ids, Identifiers::List(Vec::new()));
        assert_eq!(dropped.len(), 1);
        // '#' alone after the filter: every instance, as 0.14's hash_identifiers ['*'].
        assert_eq!(
            resolve_identifiers("#,zz", &[], &inst()).0,
            Identifiers::Hash(inst())
        );
        let e = run("@,a", &[]).unwrap_err();
        assert!(e[0].contains("not supported"), "{e:?}");
        assert_eq!(
            run(",", &[]),
            Err(vec!["no identifier given: runs nowhere".to_string()])
        );
        let _ = file;
    }

    #[test]
    fn pattern_compile_messages_are_one_line() {
        let e = compile("worker_(").unwrap_err();
        assert!(!e.contains('\n'), "{e}");
        assert!(e.contains("unclosed group"), "{e}");
        assert!(compile(r"worker_\d+").is_ok());
    }
}
