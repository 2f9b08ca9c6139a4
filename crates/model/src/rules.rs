//! The Supvisors rules file, loaded: which Supervisor groups are *managed* applications and how
//! their processes are placed, sequenced and handled on failure (Supvisors 0.14; see
//! docs/supvisors.md, 'Rules file' and 'Strategies').
//!
//! `config::rules::load` reads the XML files, checks them and produces [`Rules`]: one
//! [`ApplicationEntry`] per `<application>` element, in file order, with aliases expanded,
//! `identifiers` resolved against `supvisors_list` and `<model>` references already merged into
//! each [`ProgramEntry`]. The lookups below then answer the questions Supvisors asks of its parser,
//! with the same precedence: an exact `name` first, then the `pattern` whose match is the longest
//! (ties: the first declared). Defaults (docs/supvisors.md, 'Rules file') are applied by the
//! lookups, not stored, so that a missing option and an explicit default stay distinguishable for
//! display.
//!
//! Patterns are regular expressions, but this crate has no regex engine: matching goes through a
//! [`PatternMatcher`] that the loader attaches ([`Rules::set_matcher`]). It is not serialized;
//! after deserializing a [`Rules`], attach one again (`config::rules::attach_matcher`), otherwise
//! pattern entries match nothing.

use crate::supvisors::StartingStrategy;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// How the processes of an application are spread over the instances (docs/supvisors.md,
/// 'Distribution').
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DistributionRule {
    /// Each process placed on its own, within its program `identifiers`.
    AllInstances,
    /// The whole application on one instance chosen among the application `identifiers`.
    SingleInstance,
    /// The whole application on one node (all instances sharing an address).
    SingleNode,
}

impl DistributionRule {
    pub const ALL: [DistributionRule; 3] = [
        DistributionRule::AllInstances,
        DistributionRule::SingleInstance,
        DistributionRule::SingleNode,
    ];
    /// Supvisors 0.14 `DistributionRules` value.
    pub fn code(self) -> i32 {
        self as i32
    }
    pub fn name(self) -> &'static str {
        match self {
            DistributionRule::AllInstances => "ALL_INSTANCES",
            DistributionRule::SingleInstance => "SINGLE_INSTANCE",
            DistributionRule::SingleNode => "SINGLE_NODE",
        }
    }
    /// Exact enum name, as the rules file schema requires.
    pub fn from_name(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == text)
    }
}

/// What an application start does when a *required* process fails to start (docs/supvisors.md,
/// 'Starting failure strategies').
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StartingFailureStrategy {
    /// Drop the ranks not started yet; jobs in progress complete.
    Abort,
    /// As `Abort`, then stop the application.
    Stop,
    /// Ignore the failure and go on with the next ranks.
    Continue,
}

impl StartingFailureStrategy {
    pub const ALL: [StartingFailureStrategy; 3] = [
        StartingFailureStrategy::Abort,
        StartingFailureStrategy::Stop,
        StartingFailureStrategy::Continue,
    ];
    /// Supvisors 0.14 `StartingFailureStrategies` value.
    pub fn code(self) -> i32 {
        self as i32
    }
    pub fn name(self) -> &'static str {
        match self {
            StartingFailureStrategy::Abort => "ABORT",
            StartingFailureStrategy::Stop => "STOP",
            StartingFailureStrategy::Continue => "CONTINUE",
        }
    }
    /// Exact enum name, as the rules file schema requires.
    pub fn from_name(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == text)
    }
}

/// What the Master does when a process of a running application crashes (docs/supvisors.md,
/// 'Running failure strategies').
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunningFailureStrategy {
    Continue,
    RestartProcess,
    StopApplication,
    RestartApplication,
    /// Supvisors-wide shutdown.
    Shutdown,
    /// Supvisors-wide restart.
    Restart,
}

impl RunningFailureStrategy {
    pub const ALL: [RunningFailureStrategy; 6] = [
        RunningFailureStrategy::Continue,
        RunningFailureStrategy::RestartProcess,
        RunningFailureStrategy::StopApplication,
        RunningFailureStrategy::RestartApplication,
        RunningFailureStrategy::Shutdown,
        RunningFailureStrategy::Restart,
    ];
    /// Supvisors 0.14 `RunningFailureStrategies` value.
    pub fn code(self) -> i32 {
        self as i32
    }
    pub fn name(self) -> &'static str {
        match self {
            RunningFailureStrategy::Continue => "CONTINUE",
            RunningFailureStrategy::RestartProcess => "RESTART_PROCESS",
            RunningFailureStrategy::StopApplication => "STOP_APPLICATION",
            RunningFailureStrategy::RestartApplication => "RESTART_APPLICATION",
            RunningFailureStrategy::Shutdown => "SHUTDOWN",
            RunningFailureStrategy::Restart => "RESTART",
        }
    }
    /// Exact enum name, as the rules file schema requires.
    pub fn from_name(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == text)
    }
}

/// Where an application or a process may run, resolved against `supvisors_list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Identifiers {
    /// `*`: every instance, in `supvisors_list` order.
    All,
    /// These instances, in the order written (aliases expanded, duplicates removed).
    List(Vec<String>),
    /// `#`: exactly one instance of this reference list, picked by index (process number in its
    /// program, or the `-N`/`_N` suffix of the application name), rolling over. `#` alone or with
    /// `*` makes the reference list the whole `supvisors_list`.
    Hash(Vec<String>),
}

impl Identifiers {
    /// The candidate instances, in preference order. `process_index` is only used by `Hash`;
    /// `None` there (index unknown) yields no candidate, which is what Supvisors does for a
    /// program its local Supervisor does not know.
    pub fn candidates(&self, all: &[String], process_index: Option<usize>) -> Vec<String> {
        match self {
            Identifiers::All => all.to_vec(),
            Identifiers::List(list) => list.clone(),
            Identifiers::Hash(refs) => match process_index {
                Some(i) if !refs.is_empty() => vec![refs[i % refs.len()].clone()],
                _ => Vec::new(),
            },
        }
    }

    /// The list as Supvisors' `get_*_rules` XML-RPCs show it (`["*"]` for all instances).
    pub fn display(&self) -> Vec<String> {
        match self {
            Identifiers::All => vec!["*".to_string()],
            Identifiers::List(list) => list.clone(),
            Identifiers::Hash(refs) => {
                let mut v = vec!["#".to_string()];
                v.extend(refs.iter().cloned());
                v
            }
        }
    }
}

/// How an `<application>` or `<program>` element designates what it applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NameMatch {
    /// `name="x"`: exactly this name.
    Name(String),
    /// `pattern="re"`: any name in which the regular expression finds a match (Python
    /// `re.search`, substring semantics).
    Pattern(String),
}

/// Where an element was declared, for messages and display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub file: PathBuf,
    /// 1-based line of the element's start tag.
    pub line: usize,
}

/// The options of a `<program>` or `<model>` element as written (`None` = not given), with
/// `identifiers` already resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramOptions {
    pub identifiers: Option<Identifiers>,
    pub start_sequence: Option<u8>,
    pub stop_sequence: Option<u8>,
    pub required: Option<bool>,
    pub wait_exit: Option<bool>,
    /// 0..=100.
    pub expected_loading: Option<u8>,
    pub starting_failure_strategy: Option<StartingFailureStrategy>,
    pub running_failure_strategy: Option<RunningFailureStrategy>,
}

impl ProgramOptions {
    /// `self` with every option given in `over` replaced: how a `<program>` overrides the model
    /// it references.
    pub fn overlay(&self, over: &ProgramOptions) -> ProgramOptions {
        ProgramOptions {
            identifiers: over
                .identifiers
                .clone()
                .or_else(|| self.identifiers.clone()),
            start_sequence: over.start_sequence.or(self.start_sequence),
            stop_sequence: over.stop_sequence.or(self.stop_sequence),
            required: over.required.or(self.required),
            wait_exit: over.wait_exit.or(self.wait_exit),
            expected_loading: over.expected_loading.or(self.expected_loading),
            starting_failure_strategy: over
                .starting_failure_strategy
                .or(self.starting_failure_strategy),
            running_failure_strategy: over
                .running_failure_strategy
                .or(self.running_failure_strategy),
        }
    }
}

/// One `<program>` element of an application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramEntry {
    pub matcher: NameMatch,
    /// The `<reference>` written in the element, if any (already merged into `options`).
    pub reference: Option<String>,
    /// The referenced models' options overlaid with the element's own.
    pub options: ProgramOptions,
    pub source: Source,
}

/// One `<application>` element, as written (`None` = not given).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationEntry {
    pub matcher: NameMatch,
    /// From `<distribution>`, or from the legacy `<distributed>` flag when only that is given
    /// (`true` → `AllInstances`, `false` → `SingleInstance`).
    pub distribution: Option<DistributionRule>,
    pub identifiers: Option<Identifiers>,
    pub start_sequence: Option<u8>,
    pub stop_sequence: Option<u8>,
    pub starting_strategy: Option<StartingStrategy>,
    pub starting_failure_strategy: Option<StartingFailureStrategy>,
    pub running_failure_strategy: Option<RunningFailureStrategy>,
    /// In file order.
    pub programs: Vec<ProgramEntry>,
    pub source: Source,
}

/// The effective rules of a managed application (defaults applied, `#` resolved).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationRules {
    pub distribution: DistributionRule,
    /// Candidate instances; only meaningful when `distribution` is not `AllInstances`. Never
    /// `Hash`: the application name's `-N`/`_N` suffix has picked one instance (or none, when
    /// the name has no such suffix; `start_sequence` is then 0 as in Supvisors).
    pub identifiers: Identifiers,
    /// 0 = never started automatically.
    pub start_sequence: u8,
    pub stop_sequence: u8,
    pub starting_strategy: StartingStrategy,
    /// Default for the programs that do not set theirs.
    pub starting_failure_strategy: StartingFailureStrategy,
    /// Default for the programs that do not set theirs.
    pub running_failure_strategy: RunningFailureStrategy,
}

/// The effective rules of one process (defaults applied, models merged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramRules {
    /// May be `Hash`: resolve with [`ProgramRules::candidates`] and the process number.
    pub identifiers: Identifiers,
    /// Rank in the application start; 0 = not started with the application.
    pub start_sequence: u8,
    pub stop_sequence: u8,
    /// Failure is major (not minor). Always false when `start_sequence` is 0.
    pub required: bool,
    pub wait_exit: bool,
    /// 0..=100: the share of an instance the process is expected to take.
    pub expected_loading: u8,
    pub starting_failure_strategy: StartingFailureStrategy,
    pub running_failure_strategy: RunningFailureStrategy,
}

impl Default for ProgramRules {
    /// Supvisors 0.14's defaults: identifiers `*`, sequences 0, not required, no wait, loading 0,
    /// ABORT, CONTINUE (docs/supvisors.md, 'Rules file').
    fn default() -> Self {
        ProgramRules {
            identifiers: Identifiers::All,
            start_sequence: 0,
            stop_sequence: 0,
            required: false,
            wait_exit: false,
            expected_loading: 0,
            starting_failure_strategy: StartingFailureStrategy::Abort,
            running_failure_strategy: RunningFailureStrategy::Continue,
        }
    }
}

impl ProgramRules {
    /// See [`Identifiers::candidates`].
    pub fn candidates(&self, all: &[String], process_index: Option<usize>) -> Vec<String> {
        self.identifiers.candidates(all, process_index)
    }

    /// Supvisors disables Supervisor's `autorestart` for these processes, so that the
    /// application-level reaction is not pre-empted by a local restart.
    pub fn disables_autorestart(&self) -> bool {
        matches!(
            self.running_failure_strategy,
            RunningFailureStrategy::StopApplication | RunningFailureStrategy::RestartApplication
        )
    }
}

/// Regular-expression matching, provided by the loader (this crate has no regex engine).
pub trait PatternMatcher: Send + Sync {
    /// Length in characters of the first match of `pattern` in `text` (Python `re.search`),
    /// `None` when it does not match or the pattern is unknown to the matcher.
    fn matched_len(&self, pattern: &str, text: &str) -> Option<usize>;
}

/// The attached [`PatternMatcher`]; never serialized, compares equal whatever it holds.
#[derive(Clone, Default)]
pub struct Matcher(Option<Arc<dyn PatternMatcher>>);

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Matcher(attached)"
        } else {
            "Matcher(none)"
        })
    }
}

impl PartialEq for Matcher {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Every rules file, merged in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rules {
    /// `supvisors_list` identifiers, in order: what `*` and `#` refer to.
    pub instances: Vec<String>,
    /// The `starting_strategy` option, used by applications that do not set theirs. `load`
    /// sets `CONFIG`; the caller copies the option in.
    pub default_starting_strategy: StartingStrategy,
    /// Every `<application>` element, files in order, then document order.
    pub applications: Vec<ApplicationEntry>,
    /// What Supvisors would have logged as a warning (deprecated elements, `required` forced
    /// to false…), as `file:line: message`.
    pub notes: Vec<String>,
    #[serde(skip)]
    matcher: Matcher,
}

impl Rules {
    /// Rules without any pattern matcher attached; see [`Rules::set_matcher`].
    pub fn new(instances: Vec<String>, applications: Vec<ApplicationEntry>) -> Self {
        Rules {
            instances,
            default_starting_strategy: StartingStrategy::Config,
            applications,
            notes: Vec::new(),
            matcher: Matcher::default(),
        }
    }

    pub fn set_matcher(&mut self, matcher: Arc<dyn PatternMatcher>) {
        self.matcher = Matcher(Some(matcher));
    }

    pub fn has_matcher(&self) -> bool {
        self.matcher.0.is_some()
    }

    /// The element whose rules apply to `application`: the first with that exact `name`, else
    /// the `pattern` with the longest match (ties: the first declared), else none (unmanaged).
    pub fn application_entry(&self, application: &str) -> Option<&ApplicationEntry> {
        if let Some(entry) = self
            .applications
            .iter()
            .find(|a| matches!(&a.matcher, NameMatch::Name(n) if n == application))
        {
            return Some(entry);
        }
        self.best_pattern(
            application,
            self.applications.iter().map(|a| (&a.matcher, a)),
        )
    }

    /// An application is managed iff some `<application>` element applies to it.
    pub fn is_managed(&self, application: &str) -> bool {
        self.application_entry(application).is_some()
    }

    /// The effective rules of a managed application, `None` when it is not managed.
    pub fn application_rules(&self, application: &str) -> Option<ApplicationRules> {
        let entry = self.application_entry(application)?;
        let start_sequence = entry.start_sequence.unwrap_or(0);
        let mut rules = ApplicationRules {
            distribution: entry.distribution.unwrap_or(DistributionRule::AllInstances),
            identifiers: entry.identifiers.clone().unwrap_or(Identifiers::All),
            start_sequence,
            stop_sequence: entry.stop_sequence.unwrap_or(start_sequence),
            starting_strategy: entry
                .starting_strategy
                .unwrap_or(self.default_starting_strategy),
            starting_failure_strategy: entry
                .starting_failure_strategy
                .unwrap_or(StartingFailureStrategy::Abort),
            running_failure_strategy: entry
                .running_failure_strategy
                .unwrap_or(RunningFailureStrategy::Continue),
        };
        if let Identifiers::Hash(refs) = &rules.identifiers {
            // Supvisors checks the stop sequence before the hash, so a failed hash leaves the
            // stop sequence at the start sequence written.
            match application_index(application) {
                Some(index) if !refs.is_empty() => {
                    rules.identifiers = Identifiers::List(vec![refs[index % refs.len()].clone()]);
                }
                _ => {
                    rules.identifiers = Identifiers::List(Vec::new());
                    rules.start_sequence = 0;
                }
            }
        }
        Some(rules)
    }

    /// The effective rules of process `program` of `application` (Supvisors matches the
    /// *process* name, e.g. `worker_01` for a program with `numprocs`). Defaults when the
    /// application is unmanaged or no `<program>` applies; the failure strategies default to
    /// the application's.
    pub fn program_rules(&self, application: &str, program: &str) -> ProgramRules {
        let mut rules = ProgramRules::default();
        let Some(app) = self.application_entry(application) else {
            return rules;
        };
        if let Some(s) = app.starting_failure_strategy {
            rules.starting_failure_strategy = s;
        }
        if let Some(s) = app.running_failure_strategy {
            rules.running_failure_strategy = s;
        }
        let entry = app
            .programs
            .iter()
            .find(|p| matches!(&p.matcher, NameMatch::Name(n) if n == program))
            .or_else(|| self.best_pattern(program, app.programs.iter().map(|p| (&p.matcher, p))));
        if let Some(entry) = entry {
            let o = &entry.options;
            if let Some(ids) = &o.identifiers {
                rules.identifiers = ids.clone();
            }
            rules.start_sequence = o.start_sequence.unwrap_or(0);
            rules.stop_sequence = o.stop_sequence.unwrap_or(rules.start_sequence);
            rules.required = o.required.unwrap_or(false) && rules.start_sequence > 0;
            rules.wait_exit = o.wait_exit.unwrap_or(false);
            rules.expected_loading = o.expected_loading.unwrap_or(0);
            if let Some(s) = o.starting_failure_strategy {
                rules.starting_failure_strategy = s;
            }
            if let Some(s) = o.running_failure_strategy {
                rules.running_failure_strategy = s;
            }
        }
        rules
    }

    /// Among the `Pattern` items, the one with the longest match in `name`; ties → first.
    fn best_pattern<'a, T>(
        &self,
        name: &str,
        items: impl Iterator<Item = (&'a NameMatch, T)>,
    ) -> Option<T> {
        let matcher = self.matcher.0.as_ref()?;
        let mut best: Option<(usize, T)> = None;
        for (m, item) in items {
            let NameMatch::Pattern(pattern) = m else {
                continue;
            };
            if let Some(len) = matcher.matched_len(pattern, name) {
                if best.as_ref().is_none_or(|(l, _)| len > *l) {
                    best = Some((len, item));
                }
            }
        }
        best.map(|(_, item)| item)
    }
}

/// The 0-based index Supvisors derives from an application name for `#`: the name must end
/// with `-N` or `_N`, N ≥ 1 (leading zeros allowed), giving N − 1, which callers reduce modulo
/// their reference list. A name whose N does not fit in `usize` gets no index.
pub fn application_index(name: &str) -> Option<usize> {
    let digits_start = name
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_digit())
        .last()
        .map(|(i, _)| i)?;
    let (head, digits) = name.split_at(digits_start);
    if !(head.ends_with('-') || head.ends_with('_')) {
        return None;
    }
    let n: usize = digits.parse().ok()?;
    n.checked_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Substring matcher: enough to test the precedence logic without a regex engine.
    struct Substring;
    impl PatternMatcher for Substring {
        fn matched_len(&self, pattern: &str, text: &str) -> Option<usize> {
            text.contains(pattern).then(|| pattern.chars().count())
        }
    }

    fn src() -> Source {
        Source {
            file: "r.xml".into(),
            line: 1,
        }
    }

    fn app(matcher: NameMatch) -> ApplicationEntry {
        ApplicationEntry {
            matcher,
            distribution: None,
            identifiers: None,
            start_sequence: None,
            stop_sequence: None,
            starting_strategy: None,
            starting_failure_strategy: None,
            running_failure_strategy: None,
            programs: Vec::new(),
            source: src(),
        }
    }

    fn prog(matcher: NameMatch, options: ProgramOptions) -> ProgramEntry {
        ProgramEntry {
            matcher,
            reference: None,
            options,
            source: src(),
        }
    }

    fn rules(apps: Vec<ApplicationEntry>) -> Rules {
        let mut r = Rules::new(vec!["a".into(), "b".into(), "c".into()], apps);
        r.set_matcher(Arc::new(Substring));
        r
    }

    #[test]
    fn enum_codes_are_supvisors_0_14() {
        assert_eq!(DistributionRule::SingleNode.code(), 2);
        assert_eq!(StartingFailureStrategy::Continue.code(), 2);
        assert_eq!(RunningFailureStrategy::Restart.code(), 5);
        assert_eq!(RunningFailureStrategy::RestartApplication.code(), 3);
        for s in RunningFailureStrategy::ALL {
            assert_eq!(RunningFailureStrategy::from_name(s.name()), Some(s));
        }
        assert_eq!(StartingFailureStrategy::from_name("abort"), None);
    }

    #[test]
    fn name_wins_over_pattern_then_longest_match_then_first() {
        let mut by_name = app(NameMatch::Name("web_1".into()));
        by_name.start_sequence = Some(9);
        let mut short = app(NameMatch::Pattern("web".into()));
        short.start_sequence = Some(1);
        let mut long = app(NameMatch::Pattern("web_".into()));
        long.start_sequence = Some(2);
        let mut tie = app(NameMatch::Pattern("eb_".into()));
        tie.start_sequence = Some(3);
        let mut long2 = app(NameMatch::Pattern("b_2".into()));
        long2.start_sequence = Some(4);
        let r = rules(vec![short, long, by_name, tie, long2]);
        assert_eq!(r.application_rules("web_1").unwrap().start_sequence, 9);
        // "web_" (4) beats "web" (3) and "eb_" (3)
        assert_eq!(r.application_rules("web_3").unwrap().start_sequence, 2);
        // "web_" and "b_2"… "web_" is 4, "b_2" is 3
        assert_eq!(r.application_rules("xweb_2").unwrap().start_sequence, 2);
        // tie between "eb_" (3) and "b_2" (3) when "web" absent: first declared wins
        assert_eq!(r.application_rules("eb_2").unwrap().start_sequence, 3);
        assert!(r.application_rules("other").is_none());
        assert!(!r.is_managed("other"));
        assert!(r.is_managed("web"));
    }

    #[test]
    fn patterns_match_nothing_without_a_matcher() {
        let mut r = rules(vec![app(NameMatch::Pattern("web".into()))]);
        r.matcher = Matcher::default();
        assert!(!r.has_matcher());
        assert!(!r.is_managed("web"));
    }

    #[test]
    fn application_defaults() {
        let mut r = rules(vec![app(NameMatch::Name("x".into()))]);
        r.default_starting_strategy = StartingStrategy::LessLoaded;
        let a = r.application_rules("x").unwrap();
        assert_eq!(
            a,
            ApplicationRules {
                distribution: DistributionRule::AllInstances,
                identifiers: Identifiers::All,
                start_sequence: 0,
                stop_sequence: 0,
                starting_strategy: StartingStrategy::LessLoaded,
                starting_failure_strategy: StartingFailureStrategy::Abort,
                running_failure_strategy: RunningFailureStrategy::Continue,
            }
        );
    }

    #[test]
    fn application_stop_sequence_defaults_to_start_sequence() {
        let mut e = app(NameMatch::Name("x".into()));
        e.start_sequence = Some(4);
        let r = rules(vec![e]);
        assert_eq!(r.application_rules("x").unwrap().stop_sequence, 4);
    }

    #[test]
    fn application_hash_uses_name_suffix() {
        let mut e = app(NameMatch::Pattern("hmi".into()));
        e.identifiers = Some(Identifiers::Hash(vec!["b".into(), "c".into()]));
        e.start_sequence = Some(2);
        let r = rules(vec![e]);
        let pick = |n: &str| r.application_rules(n).unwrap();
        assert_eq!(
            pick("hmi_1").identifiers,
            Identifiers::List(vec!["b".into()])
        );
        assert_eq!(
            pick("hmi-02").identifiers,
            Identifiers::List(vec!["c".into()])
        );
        assert_eq!(
            pick("hmi_3").identifiers,
            Identifiers::List(vec!["b".into()])
        );
        let bad = pick("hmi");
        assert_eq!(bad.identifiers, Identifiers::List(vec![]));
        assert_eq!((bad.start_sequence, bad.stop_sequence), (0, 2));
        assert_eq!(pick("hmi_0").start_sequence, 0);
    }

    #[test]
    fn application_index_rules() {
        assert_eq!(application_index("a_1"), Some(0));
        assert_eq!(application_index("a-010"), Some(9));
        assert_eq!(application_index("a_1_2"), Some(1));
        assert_eq!(application_index("a1"), None);
        assert_eq!(application_index("a_"), None);
        assert_eq!(application_index("a_0"), None);
        assert_eq!(application_index("_7"), Some(6));
        assert_eq!(application_index("7"), None);
        assert_eq!(application_index("a_99999999999999999999999999"), None);
    }

    #[test]
    fn program_rules_defaults_and_inheritance() {
        let mut e = app(NameMatch::Name("x".into()));
        e.running_failure_strategy = Some(RunningFailureStrategy::RestartApplication);
        e.starting_failure_strategy = Some(StartingFailureStrategy::Continue);
        e.programs.push(prog(
            NameMatch::Name("p".into()),
            ProgramOptions {
                start_sequence: Some(3),
                required: Some(true),
                expected_loading: Some(25),
                running_failure_strategy: Some(RunningFailureStrategy::Shutdown),
                ..Default::default()
            },
        ));
        e.programs.push(prog(
            NameMatch::Pattern("q".into()),
            ProgramOptions {
                required: Some(true),
                stop_sequence: Some(7),
                identifiers: Some(Identifiers::Hash(vec!["a".into(), "c".into()])),
                ..Default::default()
            },
        ));
        let r = rules(vec![e]);
        // unmanaged application: plain defaults
        assert_eq!(r.program_rules("nope", "p"), ProgramRules::default());
        // no program element: application failure strategies
        let d = r.program_rules("x", "zzz");
        assert_eq!(
            d.running_failure_strategy,
            RunningFailureStrategy::RestartApplication
        );
        assert_eq!(
            d.starting_failure_strategy,
            StartingFailureStrategy::Continue
        );
        assert!(d.disables_autorestart());
        let p = r.program_rules("x", "p");
        assert_eq!((p.start_sequence, p.stop_sequence), (3, 3));
        assert!(p.required);
        assert_eq!(p.expected_loading, 25);
        assert_eq!(p.running_failure_strategy, RunningFailureStrategy::Shutdown);
        assert_eq!(
            p.starting_failure_strategy,
            StartingFailureStrategy::Continue
        );
        assert!(!p.disables_autorestart());
        let q = r.program_rules("x", "q_01");
        // required without a start sequence is forced to false
        assert!(!q.required);
        assert_eq!((q.start_sequence, q.stop_sequence), (0, 7));
        let all = r.instances.clone();
        assert_eq!(q.candidates(&all, Some(0)), vec!["a".to_string()]);
        assert_eq!(q.candidates(&all, Some(3)), vec!["c".to_string()]);
        assert!(q.candidates(&all, None).is_empty());
    }

    #[test]
    fn identifiers_candidates_and_display() {
        let all: Vec<String> = vec!["a".into(), "b".into()];
        assert_eq!(Identifiers::All.candidates(&all, None), all);
        assert_eq!(Identifiers::All.display(), vec!["*"]);
        let h = Identifiers::Hash(vec!["b".into()]);
        assert_eq!(h.display(), vec!["#", "b"]);
        assert_eq!(h.candidates(&all, Some(5)), vec!["b".to_string()]);
        let l = Identifiers::List(vec!["b".into()]);
        assert_eq!(l.candidates(&all, Some(1)), vec!["b".to_string()]);
    }

    #[test]
    fn overlay_keeps_unset_options() {
        let model = ProgramOptions {
            required: Some(true),
            expected_loading: Some(10),
            ..Default::default()
        };
        let own = ProgramOptions {
            expected_loading: Some(30),
            start_sequence: Some(2),
            ..Default::default()
        };
        let merged = model.overlay(&own);
        assert_eq!(merged.required, Some(true));
        assert_eq!(merged.expected_loading, Some(30));
        assert_eq!(merged.start_sequence, Some(2));
    }
}
