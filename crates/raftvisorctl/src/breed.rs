//! `raftvisorctl breed`: Supvisors 0.14's `supvisors_breed` tool. Supervisor has no notion of
//! an application run N times, so this duplicates each template `[group:app]` of a config tree
//! into `[group:app_01]` … `[group:app_NN]` (same `programs`), removes the template, and writes
//! the whole tree to another folder; with `-x` each new group goes to a file of its own
//! (`group_app_01.ini` beside the template's file).
//!
//! ```text
//!   -t template_dir ──glob(-p)──▶ parse (ConfigParser) ──breed(-b app=N)──▶ write under -d
//! ```
//!
//! Differences from the Python tool: the files of a folder are taken in name order (Python
//! follows the directory listing order), and the current directory is never changed.

mod configparser;

use std::path::{Path, PathBuf};

pub use configparser::{Config, ParseError};

/// The command line of `supvisors_breed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub template: PathBuf,
    pub pattern: String,
    pub destination: PathBuf,
    /// `app=N` pairs in argument order (a repeated app keeps its first place, last count).
    pub breed: Vec<(String, u32)>,
    pub extra: bool,
    pub verbose: bool,
}

const USAGE: &str = "usage: raftvisorctl breed [-h] -t TEMPLATE [-p PATTERN] -d DESTINATION -b app=nb [app=nb ...] [-x] [-v]";

const HELP: &str = "
Duplicate the application definitions

options:
  -h, --help            show this help message and exit
  -t TEMPLATE, --template TEMPLATE
                        the template folder
  -p PATTERN, --pattern PATTERN
                        the search pattern from the template folder
  -d DESTINATION, --destination DESTINATION
                        the destination folder
  -b app=nb [app=nb ...], --breed app=nb [app=nb ...]
                        the applications to breed
  -x, --extra           create new files
  -v, --verbose         activate logs";

/// What `parse_args` wants printed instead of running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgsOutcome {
    Run(Args),
    /// `-h`: print and exit 0.
    Help(String),
    /// argparse's error: print to stderr and exit 2.
    Error(String),
}

fn arg_error(msg: &str) -> ArgsOutcome {
    ArgsOutcome::Error(format!("{USAGE}\nraftvisorctl breed: error: {msg}"))
}

/// `KeyValue`: `app=N`, N a strictly positive integer.
fn key_value(word: &str) -> Result<(String, u32), String> {
    let Some((key, value)) = word.split_once('=') else {
        return Err("breed format must be: key=value".into());
    };
    if value.contains('=') {
        return Err("breed format must be: key=value".into());
    }
    if value.is_empty() || !value.chars().all(|c| c.is_ascii_digit()) {
        return Err("breed value must be an integer".into());
    }
    match value.parse::<u32>() {
        Ok(n) if n >= 1 => Ok((key.to_string(), n)),
        Ok(_) => Err("breed value must be strictly positive".into()),
        Err(_) => Err("breed value must be an integer".into()),
    }
}

/// Parses the arguments after `breed`, with argparse's option forms (`-t X`, `-tX`,
/// `--template X`, `--template=X`; `-b` takes every following word up to the next option).
/// `is_dir` checks the template folder (argparse checks it while parsing).
pub fn parse_args(argv: &[String], is_dir: &dyn Fn(&Path) -> bool) -> ArgsOutcome {
    let mut template = None;
    let mut pattern = "**/*.ini".to_string();
    let mut destination = None;
    let mut breed: Option<Vec<(String, u32)>> = None;
    let (mut extra, mut verbose) = (false, false);
    let mut i = 0;
    while i < argv.len() {
        let word = argv[i].as_str();
        i += 1;
        let (name, inline): (&str, Option<String>) = if let Some(long) = word.strip_prefix("--") {
            match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            }
        } else if let Some(short) = word.strip_prefix('-').filter(|s| !s.is_empty()) {
            let (n, rest) = short.split_at(short.chars().next().map_or(0, char::len_utf8));
            (n, (!rest.is_empty()).then(|| rest.to_string()))
        } else {
            return arg_error(&format!("unrecognized arguments: {word}"));
        };
        let long = match name {
            "h" | "help" => return ArgsOutcome::Help(format!("{USAGE}\n{HELP}")),
            "t" | "template" => "template",
            "p" | "pattern" => "pattern",
            "d" | "destination" => "destination",
            "b" | "breed" => "breed",
            "x" | "extra" => "extra",
            "v" | "verbose" => "verbose",
            _ => return arg_error(&format!("unrecognized arguments: {word}")),
        };
        match long {
            "extra" | "verbose" => {
                if inline.is_some() {
                    return arg_error(&format!(
                        "argument {}: ignored explicit argument",
                        flag(long)
                    ));
                }
                if long == "extra" {
                    extra = true;
                } else {
                    verbose = true;
                }
            }
            "breed" => {
                let mut words: Vec<String> = inline.into_iter().collect();
                while i < argv.len() && !argv[i].starts_with('-') {
                    words.push(argv[i].clone());
                    i += 1;
                }
                if words.is_empty() {
                    return arg_error("argument -b/--breed: expected at least one argument");
                }
                let mut pairs: Vec<(String, u32)> = Vec::new();
                for w in &words {
                    match key_value(w) {
                        Ok((k, n)) => match pairs.iter_mut().find(|(key, _)| *key == k) {
                            Some(p) => p.1 = n,
                            None => pairs.push((k, n)),
                        },
                        Err(msg) => return arg_error(&msg),
                    }
                }
                breed = Some(pairs);
            }
            _ => {
                let value = match inline {
                    Some(v) => v,
                    None if i < argv.len() && !argv[i].starts_with('-') => {
                        i += 1;
                        argv[i - 1].clone()
                    }
                    None => {
                        return arg_error(&format!(
                            "argument {}: expected one argument",
                            flag(long)
                        ))
                    }
                };
                match long {
                    "template" => {
                        if !is_dir(Path::new(&value)) {
                            return arg_error(&format!("The folder \"{value}\" does not exist"));
                        }
                        template = Some(PathBuf::from(value));
                    }
                    "pattern" => pattern = value,
                    _ => destination = Some(PathBuf::from(value)),
                }
            }
        }
    }
    let mut missing = Vec::new();
    if template.is_none() {
        missing.push("-t/--template");
    }
    if destination.is_none() {
        missing.push("-d/--destination");
    }
    if breed.is_none() {
        missing.push("-b/--breed");
    }
    match (template, destination, breed) {
        (Some(template), Some(destination), Some(breed)) => ArgsOutcome::Run(Args {
            template,
            pattern,
            destination,
            breed,
            extra,
            verbose,
        }),
        _ => arg_error(&format!(
            "the following arguments are required: {}",
            missing.join(", ")
        )),
    }
}

fn flag(long: &str) -> String {
    format!("-{}/--{long}", &long[..1])
}

/// Why breeding failed (after argument parsing).
#[derive(Debug, thiserror::Error)]
pub enum BreedError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse { path: PathBuf, source: ParseError },
    #[error("[{group}] has no programs option (in {path})")]
    NoPrograms { group: String, path: PathBuf },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One glob component (`fnmatch` without case folding): `*`, `?`, `[...]`, `[!...]`.
fn component_matches(pattern: &[char], name: &[char]) -> bool {
    match pattern.first() {
        None => name.is_empty(),
        Some('*') => (0..=name.len()).any(|k| component_matches(&pattern[1..], &name[k..])),
        Some('?') => !name.is_empty() && component_matches(&pattern[1..], &name[1..]),
        Some('[') => {
            let Some(close) = pattern
                .iter()
                .skip(2)
                .position(|c| *c == ']')
                .map(|p| p + 2)
            else {
                return name.first() == Some(&'[') && component_matches(&pattern[1..], &name[1..]);
            };
            let Some(c) = name.first() else { return false };
            let set = &pattern[1..close];
            let (negate, set) = match set.first() {
                Some('!') => (true, &set[1..]),
                _ => (false, set),
            };
            let mut hit = false;
            let mut k = 0;
            while k < set.len() {
                if k + 2 < set.len() && set[k + 1] == '-' {
                    hit |= set[k] <= *c && *c <= set[k + 2];
                    k += 3;
                } else {
                    hit |= set[k] == *c;
                    k += 1;
                }
            }
            hit != negate && component_matches(&pattern[close + 1..], &name[1..])
        }
        Some(p) => name.first() == Some(p) && component_matches(&pattern[1..], &name[1..]),
    }
}

/// `Path.glob(pattern)` on a relative path given as components; `**` = any number of folders.
pub fn glob_matches(pattern: &[&str], path: &[&str]) -> bool {
    match pattern.first() {
        None => path.is_empty(),
        Some(&"**") => (0..=path.len()).any(|k| glob_matches(&pattern[1..], &path[k..])),
        Some(p) => {
            let Some(first) = path.first() else {
                return false;
            };
            let p: Vec<char> = p.chars().collect();
            let n: Vec<char> = first.chars().collect();
            component_matches(&p, &n) && glob_matches(&pattern[1..], &path[1..])
        }
    }
}

/// Every file under `root` matching `pattern`, as relative paths in `Path.glob`'s order for
/// `**` patterns: a folder's files before its subfolders (each sorted by name, where Python
/// follows the directory listing order).
pub fn find_files(root: &Path, pattern: &str) -> Result<Vec<PathBuf>, BreedError> {
    let parts: Vec<&str> = pattern
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let mut found = Vec::new();
    walk(root, PathBuf::new(), &parts, &mut found)?;
    Ok(found)
}

fn walk(
    root: &Path,
    rel: PathBuf,
    parts: &[&str],
    found: &mut Vec<PathBuf>,
) -> Result<(), BreedError> {
    let dir = root.join(&rel);
    let entries = std::fs::read_dir(&dir).map_err(|source| BreedError::Read {
        path: dir.clone(),
        source,
    })?;
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() || (kind.is_symlink() && entry.path().is_dir()) {
            dirs.push(entry.file_name());
        } else {
            files.push(entry.file_name());
        }
    }
    files.sort();
    dirs.sort();
    for name in files {
        let rel_path = rel.join(name);
        let comps: Vec<String> = rel_path
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let comps: Vec<&str> = comps.iter().map(String::as_str).collect();
        if glob_matches(parts, &comps) {
            found.push(rel_path);
        }
    }
    for name in dirs {
        walk(root, rel.join(name), parts, found)?;
    }
    Ok(())
}

/// The parsed template files, by relative path, in processing order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    pub files: Vec<(PathBuf, Config)>,
}

impl Tree {
    /// The file holding `[section]` (the last one read, as `config_map` keeps it).
    fn owner(&self, section: &str) -> Option<usize> {
        self.files
            .iter()
            .rposition(|(_, c)| c.section(section).is_some())
    }

    /// `Breed.breed_groups`: each `group:app` → `group:app_01..NN`, template removed. Returns
    /// the verbose log lines (`New File: …`, `New […]`).
    pub fn breed(
        &mut self,
        groups: &[(String, u32)],
        new_files: bool,
    ) -> Result<Vec<String>, BreedError> {
        let mut log = Vec::new();
        for (app, count) in groups {
            let group = format!("group:{app}");
            let Some(owner) = self.owner(&group) else {
                continue;
            };
            let programs = self.files[owner]
                .1
                .section(&group)
                .and_then(|s| s.options.iter().find(|(k, _)| k == "programs"))
                .map(|(_, v)| v.clone())
                .ok_or_else(|| BreedError::NoPrograms {
                    group: group.clone(),
                    path: self.files[owner].0.clone(),
                })?;
            for idx in 1..=*count {
                let section = format!("{group}_{idx:02}");
                let options = vec![("programs".to_string(), programs.clone())];
                if new_files {
                    let dir = self.files[owner]
                        .0
                        .parent()
                        .map(Path::to_path_buf)
                        .unwrap_or_default();
                    let path = dir.join(format!("{}.ini", section.replace(':', "_")));
                    log.push(format!("New File: {}", path.display()));
                    let mut config = Config::default();
                    config.set_section(&section, options);
                    match self.files.iter_mut().find(|(p, _)| *p == path) {
                        Some(slot) => slot.1 = config,
                        None => self.files.push((path, config)),
                    }
                } else {
                    self.files[owner].1.set_section(&section, options);
                }
                log.push(format!("New [{section}]"));
            }
            self.files[owner].1.remove_section(&group);
        }
        Ok(log)
    }
}

/// Python's repr of the parsed arguments, for the verbose log.
fn namespace_repr(a: &Args) -> String {
    use crate::supvisors_format::py_repr;
    let breed: Vec<String> = a
        .breed
        .iter()
        .map(|(k, v)| format!("{}: {v}", py_repr(k)))
        .collect();
    let py_bool = |b: bool| if b { "True" } else { "False" };
    format!(
        "Namespace(template={}, pattern={}, destination={}, breed={{{}}}, extra={}, verbose={})",
        py_repr(&a.template.to_string_lossy()),
        py_repr(&a.pattern),
        py_repr(&a.destination.to_string_lossy()),
        breed.join(", "),
        py_bool(a.extra),
        py_bool(a.verbose)
    )
}

/// Runs the tool; returns the exit status (0 also when no file was found, as the original).
pub fn run(args: &Args) -> Result<i32, BreedError> {
    let say = |line: &str| {
        if args.verbose {
            println!("{line}");
        }
    };
    say(&format!("ArgumentParser: {}", namespace_repr(args)));
    let mut tree = Tree::default();
    for rel in find_files(&args.template, &args.pattern)? {
        let path = args.template.join(&rel);
        let text = std::fs::read_to_string(&path).map_err(|source| BreedError::Read {
            path: path.clone(),
            source,
        })?;
        let config = Config::parse(&text).map_err(|source| BreedError::Parse { path, source })?;
        tree.files.push((rel, config));
    }
    let files: Vec<String> = tree
        .files
        .iter()
        .map(|(p, _)| p.display().to_string())
        .collect();
    say(&format!(
        "Configuration files found:\n\t{}",
        files.join("\n\t")
    ));
    // `config_map`'s keys: every `group:` section, in first-seen order.
    let mut group_names: Vec<String> = Vec::new();
    for (_, c) in &tree.files {
        for s in c.sections.iter().filter(|s| s.name.starts_with("group:")) {
            if !group_names.contains(&s.name) {
                group_names.push(s.name.clone());
            }
        }
    }
    say(&format!(
        "Template group elements found:\n\t{}",
        group_names.join("\n\t")
    ));
    if tree.files.is_empty() {
        println!("No configuration files found");
        return Ok(0);
    }
    for line in tree.breed(&args.breed, args.extra)? {
        say(&line);
    }
    for (rel, config) in &tree.files {
        if !config.has_sections() {
            say(&format!("Empty sections for file: {}", rel.display()));
            continue;
        }
        let path = args.destination.join(rel);
        say(&format!("Writing file: {}", path.display()));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| BreedError::Write {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(&path, config.to_string()).map_err(|source| BreedError::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(0)
}

/// `raftvisorctl breed …`: parse, run, map to an exit status.
pub fn main(argv: &[String]) -> i32 {
    match parse_args(argv, &|p| p.is_dir()) {
        ArgsOutcome::Help(text) => {
            println!("{text}");
            0
        }
        ArgsOutcome::Error(text) => {
            eprintln!("{text}");
            2
        }
        ArgsOutcome::Run(args) => match run(&args) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e}");
                1
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn arguments_like_argparse() {
        let yes = |_: &Path| true;
        let ArgsOutcome::Run(a) = parse_args(&words("-t tpl -d out -b app=2 db=1 -x"), &yes) else {
            panic!("not parsed");
        };
        assert_eq!(a.template, PathBuf::from("tpl"));
        assert_eq!(a.pattern, "**/*.ini");
        assert_eq!(a.breed, vec![("app".into(), 2), ("db".into(), 1)]);
        assert!(a.extra && !a.verbose);
        let ArgsOutcome::Run(a) = parse_args(
            &words("--template=tpl -pconf/*.ini --destination out --breed a=3 -v"),
            &yes,
        ) else {
            panic!("not parsed");
        };
        assert_eq!((a.pattern.as_str(), a.verbose), ("conf/*.ini", true));
        let err = |s: &str| match parse_args(&words(s), &yes) {
            ArgsOutcome::Error(e) => e.lines().last().unwrap_or("").to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            err("-t t -d d -b app"),
            "raftvisorctl breed: error: breed format must be: key=value"
        );
        assert_eq!(
            err("-t t -d d -b app=x"),
            "raftvisorctl breed: error: breed value must be an integer"
        );
        assert_eq!(
            err("-t t -d d -b app=0"),
            "raftvisorctl breed: error: breed value must be strictly positive"
        );
        assert_eq!(
            err("-d d"),
            "raftvisorctl breed: error: the following arguments are required: -t/--template, -b/--breed"
        );
        match parse_args(&words("-t nowhere -d d -b a=1"), &|_| false) {
            ArgsOutcome::Error(e) => {
                assert!(e.ends_with("error: The folder \"nowhere\" does not exist"))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_args(&words("-h"), &yes),
            ArgsOutcome::Help(_)
        ));
    }

    #[test]
    fn glob_patterns() {
        let m = |p: &str, path: &str| {
            let pp: Vec<&str> = p.split('/').collect();
            let cc: Vec<&str> = path.split('/').collect();
            glob_matches(&pp, &cc)
        };
        assert!(m("**/*.ini", "a.ini"));
        assert!(m("**/*.ini", "x/y/a.ini"));
        assert!(!m("**/*.ini", "x/a.conf"));
        assert!(m("conf/[ab]?.ini", "conf/b1.ini"));
        assert!(!m("conf/[!ab]?.ini", "conf/b1.ini"));
        assert!(!m("*.ini", "x/a.ini"));
    }

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn args(tpl: &Path, dst: &Path, extra: bool) -> Args {
        Args {
            template: tpl.to_path_buf(),
            pattern: "**/*.ini".into(),
            destination: dst.to_path_buf(),
            breed: vec![("app".into(), 2), ("absent".into(), 3)],
            extra,
            verbose: false,
        }
    }

    const APP: &str = "[group:app]\nprograms = p1,p2\n\n[program:p1]\ncommand = sleep 10\n";

    #[test]
    fn breeds_groups_in_place() {
        let tpl = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        write(tpl.path(), "etc/app.ini", APP);
        write(tpl.path(), "etc/empty.ini", "; nothing\n");
        write(tpl.path(), "other.conf", "[group:app]\nprograms=x\n");
        assert_eq!(run(&args(tpl.path(), dst.path(), false)).unwrap(), 0);
        let out = std::fs::read_to_string(dst.path().join("etc/app.ini")).unwrap();
        assert_eq!(
            out,
            "[program:p1]\ncommand = sleep 10\n\n[group:app_01]\nprograms = p1,p2\n\n[group:app_02]\nprograms = p1,p2\n\n"
        );
        // Files without sections and files not matching the pattern are not written.
        assert!(!dst.path().join("etc/empty.ini").exists());
        assert!(!dst.path().join("other.conf").exists());
    }

    #[test]
    fn breeds_groups_into_new_files() {
        let tpl = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        write(tpl.path(), "etc/app.ini", "[group:app]\nprograms = p1\n");
        run(&args(tpl.path(), dst.path(), true)).unwrap();
        // The template file is left without sections: not written.
        assert!(!dst.path().join("etc/app.ini").exists());
        for i in ["01", "02"] {
            assert_eq!(
                std::fs::read_to_string(dst.path().join(format!("etc/group_app_{i}.ini"))).unwrap(),
                format!("[group:app_{i}]\nprograms = p1\n\n")
            );
        }
    }

    #[test]
    fn no_files_is_not_an_error() {
        let tpl = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        assert_eq!(run(&args(tpl.path(), dst.path(), false)).unwrap(), 0);
        assert_eq!(std::fs::read_dir(dst.path()).unwrap().count(), 0);
    }

    #[test]
    fn group_without_programs_is_reported() {
        let mut tree = Tree {
            files: vec![(
                PathBuf::from("a.ini"),
                Config::parse("[group:app]\nx=1\n").unwrap(),
            )],
        };
        assert!(matches!(
            tree.breed(&[("app".into(), 1)], false),
            Err(BreedError::NoPrograms { .. })
        ));
    }
}
