//! One rules file's element tree → typed, still unresolved, elements (aliases, models and
//! identifiers are resolved across all files by `resolve`).
//!
//! Every element and value is checked against Supvisors 0.14's `rules.xsd` (what Supvisors
//! validates with `lxml`): unknown elements or attributes, repeated options, malformed values
//! are errors, each at the line of its element, and parsing goes on to report everything at
//! once. What the schema accepts loads as 0.14's parser reads it, with a note where 0.14
//! ignores something: an empty `<identifiers>` or `<reference>`, a negative sequence, an
//! element with neither `name` nor `pattern`, a `<model>` without a name. An empty `pattern`
//! is a pattern like any other (`re.search("")` matches every name), and an element with both
//! `name` and `pattern` is found by both, as 0.14 registers it in both lookups.

use super::xml::Element;
use model::rules::{
    DistributionRule, NameMatch, ProgramOptions, RunningFailureStrategy, StartingFailureStrategy,
};
use model::supvisors::StartingStrategy;

/// A value and the line of the element it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct At<T> {
    pub value: T,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawAlias {
    pub name: String,
    pub members: Vec<String>,
    pub line: usize,
}

/// The body shared by `<program>` and `<model>`: typed options, plus what needs resolving.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RawProgramBody {
    pub reference: Option<At<String>>,
    pub identifiers: Option<At<String>>,
    /// Everything but `identifiers` (left `None` here).
    pub options: ProgramOptions,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawModel {
    pub name: String,
    pub line: usize,
    pub body: RawProgramBody,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawProgram {
    pub matcher: NameMatch,
    pub line: usize,
    pub body: RawProgramBody,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RawApplicationOptions {
    pub distribution: Option<DistributionRule>,
    /// The legacy flag, kept apart so that `resolve` can note it and let `distribution` win.
    pub distributed: Option<At<bool>>,
    pub identifiers: Option<At<String>>,
    pub start_sequence: Option<u8>,
    pub stop_sequence: Option<u8>,
    pub starting_strategy: Option<StartingStrategy>,
    pub starting_failure_strategy: Option<StartingFailureStrategy>,
    pub running_failure_strategy: Option<RunningFailureStrategy>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawApplication {
    pub matcher: NameMatch,
    pub line: usize,
    pub options: RawApplicationOptions,
    pub programs: Vec<RawProgram>,
}

/// The elements of one file, in document order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RawFile {
    pub aliases: Vec<RawAlias>,
    pub models: Vec<RawModel>,
    pub applications: Vec<RawApplication>,
}

/// `(line, message)` pairs found in one file; the caller adds the file. `errors` refuse the
/// file; `notes` are what Supvisors 0.14 accepts but ignores (logged as warnings).
#[derive(Debug, Default)]
pub(crate) struct Errors {
    pub errors: Vec<(usize, String)>,
    pub notes: Vec<(usize, String)>,
}

impl Errors {
    fn push(&mut self, error: (usize, String)) {
        self.errors.push(error);
    }

    fn note(&mut self, line: usize, message: String) {
        self.notes.push((line, message));
    }
}

const APPLICATION_OPTIONS: [&str; 9] = [
    "distribution",
    "distributed",
    "identifiers",
    "start_sequence",
    "stop_sequence",
    "starting_strategy",
    "starting_failure_strategy",
    "running_failure_strategy",
    "programs",
];

const PROGRAM_OPTIONS: [&str; 9] = [
    "reference",
    "identifiers",
    "start_sequence",
    "stop_sequence",
    "required",
    "wait_exit",
    "expected_loading",
    "starting_failure_strategy",
    "running_failure_strategy",
];

/// Interprets the root element of one file.
pub(crate) fn parse_root(root: &Element, errors: &mut Errors) -> RawFile {
    let mut file = RawFile::default();
    if root.name != "root" {
        errors.push((
            root.line,
            format!("the root element must be <root>, not <{}>", root.name),
        ));
        return file;
    }
    for (name, _) in &root.attributes {
        // Schema declarations are harmless; anything else is a mistake.
        if !(name.starts_with("xmlns") || name.starts_with("xsi:")) {
            errors.push((root.line, format!("<root>: unknown attribute {name:?}")));
        }
    }
    no_text(root, "<root>", errors);
    for child in &root.children {
        match child.name.as_str() {
            "alias" => {
                if let Some(a) = parse_alias(child, errors) {
                    file.aliases.push(a);
                }
            }
            "model" => {
                if let Some(m) = parse_model(child, errors) {
                    file.models.push(m);
                }
            }
            "application" => file.applications.extend(parse_application(child, errors)),
            other => errors.push((
                child.line,
                format!("unknown element <{other}> in <root> (expected <alias>, <model> or <application>)"),
            )),
        }
    }
    file
}

fn parse_alias(e: &Element, errors: &mut Errors) -> Option<RawAlias> {
    let name = only_name(e, "alias", errors)?;
    let what = format!("alias {name:?}");
    for child in &e.children {
        errors.push((
            child.line,
            format!("{what}: unexpected element <{}>", child.name),
        ));
    }
    let members = split_list(&e.text);
    if members.is_empty() {
        // The schema's alias is an xs:string: empty is valid, and 0.14 skips it.
        errors.note(
            e.line,
            format!("{what}: empty alias: ignored, as Supvisors 0.14 does"),
        );
        return None;
    }
    Some(RawAlias {
        name,
        members,
        line: e.line,
    })
}

fn parse_model(e: &Element, errors: &mut Errors) -> Option<RawModel> {
    for (name, _) in &e.attributes {
        if name != "name" && name != "pattern" {
            errors.push((e.line, format!("<model>: unknown attribute {name:?}")));
        }
    }
    // The schema gives <model> the program's attributes; 0.14 looks models up by name only.
    let Some(name) = e.attribute("name").map(str::trim).filter(|n| !n.is_empty()) else {
        errors.note(
            e.line,
            "<model> without a name: no <reference> can use it (ignored, as Supvisors 0.14 does)"
                .to_string(),
        );
        return None;
    };
    let name = name.to_string();
    let body = parse_program_body(e, &format!("model {name:?}"), errors);
    Some(RawModel {
        name,
        line: e.line,
        body,
    })
}

/// One entry per way the element is found (none, one, or both a name and a pattern).
fn parse_application(e: &Element, errors: &mut Errors) -> Vec<RawApplication> {
    let matchers = name_or_pattern(e, "application", errors);
    let Some(matcher) = matchers.first().cloned() else {
        return Vec::new();
    };
    let what = describe("application", &matcher);
    no_text(e, &what, errors);
    let mut o = RawApplicationOptions::default();
    let mut programs = Vec::new();
    let mut seen = Seen::default();
    for child in &e.children {
        let tag = child.name.as_str();
        if tag == "program" {
            errors.push((
                child.line,
                format!("{what}: <program> must be inside <programs> (Supvisors 0.13+)"),
            ));
            continue;
        }
        if !APPLICATION_OPTIONS.contains(&tag) {
            errors.push((child.line, format!("{what}: unknown element <{tag}>")));
            continue;
        }
        if !seen.first(child, &what, errors) {
            continue;
        }
        if tag == "programs" {
            programs = parse_programs(child, &what, errors);
            continue;
        }
        let Some(text) = leaf_text(child, &what, errors) else {
            continue;
        };
        let ctx = Ctx {
            what: &what,
            tag,
            line: child.line,
            errors: &mut *errors,
        };
        match tag {
            "distribution" => {
                o.distribution = ctx.value(DistributionRule::from_name(text), text, &dist_names())
            }
            "distributed" => {
                o.distributed = ctx.boolean(text).map(|value| At {
                    value,
                    line: child.line,
                })
            }
            "identifiers" => {
                o.identifiers = Some(At {
                    value: text.to_string(),
                    line: child.line,
                })
            }
            "start_sequence" => o.start_sequence = ctx.sequence(text),
            "stop_sequence" => o.stop_sequence = ctx.sequence(text),
            "starting_strategy" => {
                let found = StartingStrategy::ALL.into_iter().find(|s| s.name() == text);
                let names: Vec<&str> = StartingStrategy::ALL.iter().map(|s| s.name()).collect();
                o.starting_strategy = ctx.value(found, text, &names);
            }
            "starting_failure_strategy" => o.starting_failure_strategy = ctx.starting_failure(text),
            "running_failure_strategy" => o.running_failure_strategy = ctx.running_failure(text),
            _ => unreachable_tag(child, &what, errors),
        }
    }
    matchers
        .into_iter()
        .map(|matcher| RawApplication {
            matcher,
            line: e.line,
            options: o.clone(),
            programs: programs.clone(),
        })
        .collect()
}

fn parse_programs(e: &Element, app: &str, errors: &mut Errors) -> Vec<RawProgram> {
    let mut programs = Vec::new();
    for (name, _) in &e.attributes {
        errors.push((
            e.line,
            format!("{app}: <programs>: unknown attribute {name:?}"),
        ));
    }
    no_text(e, &format!("{app}: <programs>"), errors);
    for child in &e.children {
        if child.name != "program" {
            errors.push((
                child.line,
                format!("{app}: unknown element <{}> in <programs>", child.name),
            ));
            continue;
        }
        let matchers = name_or_pattern(child, "program", errors);
        let Some(first) = matchers.first() else {
            continue;
        };
        let what = format!("{app}: {}", describe("program", first));
        let body = parse_program_body(child, &what, errors);
        for matcher in matchers {
            programs.push(RawProgram {
                matcher,
                line: child.line,
                body: body.clone(),
            });
        }
    }
    programs
}

fn parse_program_body(e: &Element, what: &str, errors: &mut Errors) -> RawProgramBody {
    no_text(e, what, errors);
    let mut body = RawProgramBody::default();
    let mut seen = Seen::default();
    for child in &e.children {
        let tag = child.name.as_str();
        if !PROGRAM_OPTIONS.contains(&tag) {
            errors.push((child.line, format!("{what}: unknown element <{tag}>")));
            continue;
        }
        if !seen.first(child, what, errors) {
            continue;
        }
        let Some(text) = leaf_text(child, what, errors) else {
            continue;
        };
        let at = |value: &str| At {
            value: value.to_string(),
            line: child.line,
        };
        let ctx = Ctx {
            what,
            tag,
            line: child.line,
            errors: &mut *errors,
        };
        let o = &mut body.options;
        match tag {
            "reference" => body.reference = Some(at(text)),
            "identifiers" => body.identifiers = Some(at(text)),
            "start_sequence" => o.start_sequence = ctx.sequence(text),
            "stop_sequence" => o.stop_sequence = ctx.sequence(text),
            "required" => o.required = ctx.boolean(text),
            "wait_exit" => o.wait_exit = ctx.boolean(text),
            "expected_loading" => o.expected_loading = ctx.loading(text),
            "starting_failure_strategy" => o.starting_failure_strategy = ctx.starting_failure(text),
            "running_failure_strategy" => o.running_failure_strategy = ctx.running_failure(text),
            _ => unreachable_tag(child, what, errors),
        }
    }
    body
}

/// Only reached if the tag lists and the matches disagree: reported rather than ignored.
fn unreachable_tag(child: &Element, what: &str, errors: &mut Errors) {
    errors.push((
        child.line,
        format!("{what}: element <{}> not handled", child.name),
    ));
}

/// Where a value is being read, to word its errors.
struct Ctx<'a> {
    what: &'a str,
    tag: &'a str,
    line: usize,
    errors: &'a mut Errors,
}

impl Ctx<'_> {
    fn fail<T>(self, message: String) -> Option<T> {
        self.errors
            .push((self.line, format!("{}: {}: {message}", self.what, self.tag)));
        None
    }

    /// A value the schema accepts but 0.14's parser logs and ignores.
    fn ignore<T>(self, message: String) -> Option<T> {
        self.errors.note(
            self.line,
            format!(
                "{}: {}: {message}: ignored, as Supvisors 0.14 does",
                self.what, self.tag
            ),
        );
        None
    }

    fn value<T>(self, found: Option<T>, text: &str, names: &[&str]) -> Option<T> {
        match found {
            Some(v) => Some(v),
            None => self.fail(format!("{text:?} is not one of {}", names.join(", "))),
        }
    }

    /// An `xs:byte`, as the schema declares the sequences; 0.14 ignores a negative one.
    fn sequence(self, text: &str) -> Option<u8> {
        match parse_integer(text) {
            Some(v) if (0..=127).contains(&v) => u8::try_from(v).ok(),
            Some(v) if (-128..0).contains(&v) => self.ignore(format!("{v} is negative")),
            Some(v) if v < 0 => self.fail(format!("{v} is too small (expected 0..127)")),
            Some(v) => self.fail(format!("{v} is too large (expected 0..127)")),
            None => self.fail(format!("{text:?} is not an integer")),
        }
    }

    fn loading(self, text: &str) -> Option<u8> {
        match parse_integer(text) {
            Some(v) if (0..=100).contains(&v) => u8::try_from(v).ok(),
            Some(v) => self.fail(format!("{v} is out of range (expected 0..100)")),
            None => self.fail(format!("{text:?} is not an integer")),
        }
    }

    /// `xs:boolean` and everything Python's `strtobool` accepts (Supvisors without lxml).
    fn boolean(self, text: &str) -> Option<bool> {
        match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "y" | "t" | "on" => Some(true),
            "false" | "0" | "no" | "n" | "f" | "off" => Some(false),
            _ => self.fail(format!("{text:?} is not a boolean (use true or false)")),
        }
    }

    fn starting_failure(self, text: &str) -> Option<StartingFailureStrategy> {
        let names: Vec<&str> = StartingFailureStrategy::ALL
            .iter()
            .map(|s| s.name())
            .collect();
        self.value(StartingFailureStrategy::from_name(text), text, &names)
    }

    fn running_failure(self, text: &str) -> Option<RunningFailureStrategy> {
        let names: Vec<&str> = RunningFailureStrategy::ALL
            .iter()
            .map(|s| s.name())
            .collect();
        self.value(RunningFailureStrategy::from_name(text), text, &names)
    }
}

fn dist_names() -> Vec<&'static str> {
    DistributionRule::ALL.iter().map(|s| s.name()).collect()
}

/// An `xs:int` lexical value: optional sign, decimal digits.
fn parse_integer(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('+').unwrap_or(text);
    let unsigned = digits.strip_prefix('-').unwrap_or(digits);
    if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Remembers the options already given in one element: the schema's `xs:all` allows each once.
#[derive(Default)]
struct Seen(Vec<(String, usize)>);

impl Seen {
    fn first(&mut self, child: &Element, what: &str, errors: &mut Errors) -> bool {
        if let Some((_, line)) = self.0.iter().find(|(n, _)| *n == child.name) {
            errors.push((
                child.line,
                format!(
                    "{what}: <{}> given twice (first at line {line})",
                    child.name
                ),
            ));
            return false;
        }
        self.0.push((child.name.clone(), child.line));
        true
    }
}

/// The trimmed text of an option element, which must have no attribute, no child and some text
/// (`<identifiers>` and `<reference>` are `xs:string`: empty is valid, and 0.14 ignores it).
fn leaf_text<'e>(e: &'e Element, what: &str, errors: &mut Errors) -> Option<&'e str> {
    let mut ok = true;
    for (name, _) in &e.attributes {
        errors.push((
            e.line,
            format!("{what}: <{}>: unknown attribute {name:?}", e.name),
        ));
        ok = false;
    }
    for child in &e.children {
        errors.push((
            child.line,
            format!("{what}: <{}>: unexpected element <{}>", e.name, child.name),
        ));
        ok = false;
    }
    let text = e.text.trim();
    if text.is_empty() && matches!(e.name.as_str(), "identifiers" | "reference") {
        errors.note(
            e.line,
            format!(
                "{what}: <{}> is empty: ignored, as Supvisors 0.14 does",
                e.name
            ),
        );
        return None;
    }
    if text.is_empty() {
        errors.push((e.line, format!("{what}: <{}> is empty", e.name)));
        return None;
    }
    ok.then_some(text)
}

fn no_text(e: &Element, what: &str, errors: &mut Errors) {
    if !e.text.trim().is_empty() {
        errors.push((
            e.line,
            format!("{what}: unexpected text {:?}", e.text.trim()),
        ));
    }
}

/// `<alias>`: a non-empty `name` attribute and nothing else.
fn only_name(e: &Element, tag: &str, errors: &mut Errors) -> Option<String> {
    for (name, _) in &e.attributes {
        if name != "name" {
            errors.push((e.line, format!("<{tag}>: unknown attribute {name:?}")));
        }
    }
    match e.attribute("name").map(str::trim) {
        Some(n) if !n.is_empty() => Some(n.to_string()),
        _ => {
            errors.push((e.line, format!("<{tag}> needs a non-empty name attribute")));
            None
        }
    }
}

/// `<application>` and `<program>`: how 0.14 finds the element — by its `name` (exact) and by
/// its `pattern` (`re.search`, so an empty pattern matches every name). Both attributes give
/// both lookups; neither, or an empty name alone, gives none (noted: the element is unused).
fn name_or_pattern(e: &Element, tag: &str, errors: &mut Errors) -> Vec<NameMatch> {
    for (name, _) in &e.attributes {
        if name != "name" && name != "pattern" {
            errors.push((e.line, format!("<{tag}>: unknown attribute {name:?}")));
        }
    }
    let mut matchers = Vec::new();
    if let Some(n) = e.attribute("name").map(str::trim).filter(|n| !n.is_empty()) {
        matchers.push(NameMatch::Name(n.to_string()));
    }
    // A pattern is taken as written: spaces may be meant.
    if let Some(p) = e.attribute("pattern") {
        matchers.push(NameMatch::Pattern(p.to_string()));
    }
    if matchers.is_empty() {
        errors.note(
            e.line,
            format!("<{tag}> has no name or pattern: it matches nothing (ignored, as Supvisors 0.14 does)"),
        );
    }
    matchers
}

/// `application "x"` / `application pattern "x"`, for messages.
pub(crate) fn describe(tag: &str, m: &NameMatch) -> String {
    match m {
        NameMatch::Name(n) => format!("{tag} {n:?}"),
        NameMatch::Pattern(p) => format!("{tag} pattern {p:?}"),
    }
}

/// Supervisor's `list_of_strings`: comma-separated, each item trimmed; empty items dropped.
pub(crate) fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::xml::parse_document;
    use super::*;

    /// The file and its errors; the notes must be empty.
    fn parse(doc: &str) -> (RawFile, Vec<(usize, String)>) {
        let (file, found) = parse_with_notes(doc);
        assert!(found.notes.is_empty(), "{:?}", found.notes);
        (file, found.errors)
    }

    fn parse_with_notes(doc: &str) -> (RawFile, Errors) {
        let root = parse_document(doc).unwrap();
        let mut found = Errors::default();
        let file = parse_root(&root, &mut found);
        (file, found)
    }

    fn errors_of(doc: &str) -> Vec<(usize, String)> {
        parse_with_notes(doc).1.errors
    }

    #[test]
    fn every_application_option() {
        let (f, e) = parse(
            r#"<root>
  <application name="a">
    <distribution>SINGLE_NODE</distribution>
    <identifiers> x, y </identifiers>
    <start_sequence>+3</start_sequence>
    <stop_sequence>127</stop_sequence>
    <starting_strategy>MOST_LOADED_NODE</starting_strategy>
    <starting_failure_strategy>CONTINUE</starting_failure_strategy>
    <running_failure_strategy>RESTART</running_failure_strategy>
    <programs/>
  </application>
</root>"#,
        );
        assert!(e.is_empty(), "{e:?}");
        let a = &f.applications[0];
        assert_eq!(a.matcher, NameMatch::Name("a".into()));
        assert_eq!(a.line, 2);
        let o = &a.options;
        assert_eq!(o.distribution, Some(DistributionRule::SingleNode));
        assert_eq!(
            o.identifiers,
            Some(At {
                value: "x, y".into(),
                line: 4
            })
        );
        assert_eq!(o.start_sequence, Some(3));
        assert_eq!(o.stop_sequence, Some(127));
        assert_eq!(o.starting_strategy, Some(StartingStrategy::MostLoadedNode));
        assert_eq!(
            o.starting_failure_strategy,
            Some(StartingFailureStrategy::Continue)
        );
        assert_eq!(
            o.running_failure_strategy,
            Some(RunningFailureStrategy::Restart)
        );
        assert!(a.programs.is_empty());
    }

    #[test]
    fn every_program_option() {
        let (f, e) = parse(
            r#"<root>
  <application pattern="^a">
    <programs>
      <program pattern="p\d">
        <reference>m</reference>
        <identifiers>#,x</identifiers>
        <start_sequence>0</start_sequence>
        <stop_sequence>5</stop_sequence>
        <required>yes</required>
        <wait_exit>False</wait_exit>
        <expected_loading>100</expected_loading>
        <starting_failure_strategy>STOP</starting_failure_strategy>
        <running_failure_strategy>STOP_APPLICATION</running_failure_strategy>
      </program>
    </programs>
  </application>
</root>"#,
        );
        assert!(e.is_empty(), "{e:?}");
        let a = &f.applications[0];
        assert_eq!(a.matcher, NameMatch::Pattern("^a".into()));
        let p = &a.programs[0];
        assert_eq!(p.matcher, NameMatch::Pattern(r"p\d".into()));
        assert_eq!(p.line, 4);
        assert_eq!(
            p.body
                .reference
                .as_ref()
                .map(|r| (r.value.as_str(), r.line)),
            Some(("m", 5))
        );
        assert_eq!(
            p.body.identifiers.as_ref().map(|r| r.value.as_str()),
            Some("#,x")
        );
        let o = &p.body.options;
        assert_eq!(o.start_sequence, Some(0));
        assert_eq!(o.stop_sequence, Some(5));
        assert_eq!(o.required, Some(true));
        assert_eq!(o.wait_exit, Some(false));
        assert_eq!(o.expected_loading, Some(100));
        assert_eq!(
            o.starting_failure_strategy,
            Some(StartingFailureStrategy::Stop)
        );
        assert_eq!(
            o.running_failure_strategy,
            Some(RunningFailureStrategy::StopApplication)
        );
        assert_eq!(o.identifiers, None);
    }

    #[test]
    fn aliases_and_models() {
        let (f, e) = parse(
            "<root>\n<alias name=\"s\"> a , b,,c </alias>\n<model name=\"m\"><required>1</required></model>\n</root>",
        );
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(
            f.aliases,
            vec![RawAlias {
                name: "s".into(),
                members: vec!["a".into(), "b".into(), "c".into()],
                line: 2
            }]
        );
        assert_eq!(f.models[0].name, "m");
        assert_eq!(f.models[0].line, 3);
        assert_eq!(f.models[0].body.options.required, Some(true));
    }

    #[test]
    fn legacy_distributed_flag_is_read() {
        let (f, e) = parse(
            "<root><application name=\"a\">\n<distributed>false</distributed></application></root>",
        );
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(
            f.applications[0].options.distributed,
            Some(At {
                value: false,
                line: 2
            })
        );
    }

    #[test]
    fn structural_errors_with_lines() {
        let doc = r#"<root foo="1">
  <bogus/>
  <alias>a</alias>
  <alias name="e" kind="x">b</alias>
  <model color="x"/>
  <application/>
  <application name="a" pattern="b"/>
  <application name="c" color="red">
    <program name="p"/>
    <color>red</color>
    <programs>
      <prog/>
      <program name="q">
        <start_sequence>1</start_sequence>
        <start_sequence>2</start_sequence>
        <weight>3</weight>
        <required><x/>true</required>
        <wait_exit/>
      </program>
    </programs>
    text
  </application>
</root>"#;
        let e = errors_of(doc);
        let expect: Vec<(usize, &str)> = vec![
            (1, "<root>: unknown attribute \"foo\""),
            (2, "unknown element <bogus> in <root>"),
            (3, "<alias> needs a non-empty name attribute"),
            (4, "<alias>: unknown attribute \"kind\""),
            (5, "<model>: unknown attribute \"color\""),
            (8, "<application>: unknown attribute \"color\""),
            (8, "application \"c\": unexpected text \"text\""),
            (9, "application \"c\": <program> must be inside <programs>"),
            (10, "application \"c\": unknown element <color>"),
            (
                12,
                "application \"c\": unknown element <prog> in <programs>",
            ),
            (15, "<start_sequence> given twice (first at line 14)"),
            (16, "program \"q\": unknown element <weight>"),
            (17, "<required>: unexpected element <x>"),
            (18, "<wait_exit> is empty"),
        ];
        for (line, text) in &expect {
            assert!(
                e.iter().any(|(l, m)| l == line && m.contains(text)),
                "missing {line}: {text} in {e:#?}"
            );
        }
        assert_eq!(e.len(), expect.len(), "{e:#?}");
    }

    #[test]
    fn value_errors_with_lines() {
        let doc = r#"<root>
  <application name="a">
    <distribution>EVERYWHERE</distribution>
    <start_sequence>-129</start_sequence>
    <stop_sequence>128</stop_sequence>
    <starting_strategy>config</starting_strategy>
    <starting_failure_strategy>RETRY</starting_failure_strategy>
    <running_failure_strategy>REBOOT</running_failure_strategy>
    <distributed>maybe</distributed>
    <programs>
      <program name="p">
        <start_sequence>one</start_sequence>
        <expected_loading>101</expected_loading>
        <wait_exit>2</wait_exit>
      </program>
      <program name="q">
        <expected_loading>1.5</expected_loading>
        <stop_sequence>0x1</stop_sequence>
      </program>
    </programs>
  </application>
</root>"#;
        let e = errors_of(doc);
        let expect: Vec<(usize, &str)> = vec![
            (3, "distribution: \"EVERYWHERE\" is not one of ALL_INSTANCES, SINGLE_INSTANCE, SINGLE_NODE"),
            (4, "start_sequence: -129 is too small"),
            (5, "stop_sequence: 128 is too large"),
            (6, "starting_strategy: \"config\" is not one of CONFIG, LESS_LOADED"),
            (7, "starting_failure_strategy: \"RETRY\" is not one of ABORT, STOP, CONTINUE"),
            (8, "running_failure_strategy: \"REBOOT\" is not one of CONTINUE, RESTART_PROCESS"),
            (9, "distributed: \"maybe\" is not a boolean"),
            (12, "application \"a\": program \"p\": start_sequence: \"one\" is not an integer"),
            (13, "expected_loading: 101 is out of range (expected 0..100)"),
            (14, "wait_exit: \"2\" is not a boolean"),
            (17, "expected_loading: \"1.5\" is not an integer"),
            (18, "stop_sequence: \"0x1\" is not an integer"),
        ];
        for (line, text) in &expect {
            assert!(
                e.iter().any(|(l, m)| l == line && m.contains(text)),
                "missing {line}: {text} in {e:#?}"
            );
        }
        assert_eq!(e.len(), expect.len(), "{e:#?}");
    }

    /// What the schema accepts but 0.14 reads its own way: loaded as 0.14 does, with notes.
    #[test]
    fn what_supvisors_accepts_loads_with_notes() {
        let (f, found) = parse_with_notes(
            r#"<root>
  <model pattern="m"/><alias name="none"> , </alias>
  <application/>
  <application name="">
    <start_sequence>-1</start_sequence>
  </application>
  <application name="a" pattern="b">
    <start_sequence>-1</start_sequence>
    <programs>
      <program pattern="">
        <reference></reference>
        <identifiers/>
        <stop_sequence>-128</stop_sequence>
      </program>
      <program/>
    </programs>
  </application>
</root>"#,
        );
        assert!(found.errors.is_empty(), "{:?}", found.errors);
        let notes: Vec<(usize, &str)> = found.notes.iter().map(|(l, m)| (*l, m.as_str())).collect();
        let expect: Vec<(usize, &str)> = vec![
            (2, "<model> without a name"),
            (2, "alias \"none\": empty alias: ignored"),
            (3, "<application> has no name or pattern"),
            (4, "<application> has no name or pattern"),
            (
                8,
                "application \"a\": start_sequence: -1 is negative: ignored",
            ),
            (11, "<reference> is empty: ignored"),
            (12, "<identifiers> is empty: ignored"),
            (13, "stop_sequence: -128 is negative: ignored"),
            (15, "<program> has no name or pattern"),
        ];
        for (line, text) in &expect {
            assert!(
                notes.iter().any(|(l, m)| l == line && m.contains(text)),
                "missing {line}: {text} in {notes:#?}"
            );
        }
        assert_eq!(notes.len(), expect.len(), "{notes:#?}");
        // Both attributes: found by name and by pattern, same options and programs.
        let matchers: Vec<&NameMatch> = f.applications.iter().map(|a| &a.matcher).collect();
        assert_eq!(
            matchers,
            [
                &NameMatch::Name("a".into()),
                &NameMatch::Pattern("b".into())
            ]
        );
        for a in &f.applications {
            assert_eq!(a.options.start_sequence, None);
            assert_eq!(a.programs.len(), 1);
            let p = &a.programs[0];
            assert_eq!(p.matcher, NameMatch::Pattern(String::new()));
            assert_eq!(p.body.reference, None);
            assert_eq!(p.body.identifiers, None);
            assert_eq!(p.body.options.stop_sequence, None);
        }
    }

    #[test]
    fn wrong_root() {
        let e = errors_of("<rules/>");
        assert_eq!(
            e,
            vec![(
                1,
                "the root element must be <root>, not <rules>".to_string()
            )]
        );
    }

    #[test]
    fn integers_and_lists() {
        assert_eq!(parse_integer("12"), Some(12));
        assert_eq!(parse_integer("+12"), Some(12));
        assert_eq!(parse_integer("-3"), Some(-3));
        assert_eq!(parse_integer("-"), None);
        assert_eq!(parse_integer("1e3"), None);
        assert_eq!(parse_integer("99999999999999999999999"), None);
        assert_eq!(split_list(" a,, b ,"), vec!["a", "b"]);
    }
}
