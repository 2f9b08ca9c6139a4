//! Whole-file tests: a complete example file, merging, models, aliases and every error with its
//! line.

use super::*;
use model::rules::{
    ApplicationRules, DistributionRule, Identifiers, ProgramRules, RunningFailureStrategy,
    StartingFailureStrategy,
};
use model::supvisors::StartingStrategy;

fn instances() -> Vec<String> {
    ["srv01", "srv02", "cons01", "cons02", "cons03"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn one(text: &str) -> Result<Rules, ConfigError> {
    from_sources(&[("r.xml".into(), text.to_string())], &instances())
}

fn ok(text: &str) -> Rules {
    match one(text) {
        Ok(r) => r,
        Err(e) => panic!("unexpected errors:\n{e}"),
    }
}

/// Every problem, as `line: message`, for files named `r.xml`.
fn errors(text: &str) -> Vec<String> {
    match one(text) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e
            .problems
            .iter()
            .map(|p| {
                assert_eq!(p.file, PathBuf::from("r.xml"));
                format!("{}: {}", p.line, p.message)
            })
            .collect(),
    }
}

fn ids(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

const EXAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<root>
    <alias name="servers">srv01,srv02</alias>
    <alias name="consoles">cons01,cons02,cons03</alias>

    <model name="service">
        <identifiers>servers</identifiers>
        <required>true</required>
        <expected_loading>10</expected_loading>
        <running_failure_strategy>RESTART_PROCESS</running_failure_strategy>
    </model>

    <application name="backend">
        <start_sequence>1</start_sequence>
        <stop_sequence>2</stop_sequence>
        <starting_strategy>LESS_LOADED</starting_strategy>
        <starting_failure_strategy>STOP</starting_failure_strategy>
        <programs>
            <program name="db_init">
                <identifiers>srv01</identifiers>
                <start_sequence>1</start_sequence>
                <required>true</required>
                <wait_exit>true</wait_exit>
            </program>
            <program name="database">
                <reference>service</reference>
                <start_sequence>2</start_sequence>
                <expected_loading>30</expected_loading>
            </program>
            <program pattern="worker_\d+">
                <reference>service</reference>
                <identifiers>#,srv02,srv01</identifiers>
                <start_sequence>3</start_sequence>
                <required>false</required>
            </program>
        </programs>
    </application>

    <application pattern="hmi_">
        <distribution>SINGLE_INSTANCE</distribution>
        <identifiers>#,consoles</identifiers>
        <start_sequence>2</start_sequence>
        <stop_sequence>1</stop_sequence>
        <running_failure_strategy>STOP_APPLICATION</running_failure_strategy>
        <programs>
            <program pattern=".*">
                <start_sequence>1</start_sequence>
                <expected_loading>5</expected_loading>
            </program>
        </programs>
    </application>
</root>
"#;

#[test]
fn spec_example_field_by_field() {
    let rules = ok(EXAMPLE);
    assert!(rules.notes.is_empty(), "{:?}", rules.notes);
    assert_eq!(rules.applications.len(), 2);
    assert_eq!(rules.applications[0].source.line, 13);
    assert_eq!(rules.applications[1].source.line, 39);
    assert_eq!(rules.applications[0].programs[2].source.line, 30);

    assert_eq!(
        rules.application_rules("backend"),
        Some(ApplicationRules {
            distribution: DistributionRule::AllInstances,
            identifiers: Identifiers::All,
            start_sequence: 1,
            stop_sequence: 2,
            starting_strategy: StartingStrategy::LessLoaded,
            starting_failure_strategy: StartingFailureStrategy::Stop,
            running_failure_strategy: RunningFailureStrategy::Continue,
        })
    );
    assert_eq!(
        rules.program_rules("backend", "db_init"),
        ProgramRules {
            identifiers: Identifiers::List(ids(&["srv01"])),
            start_sequence: 1,
            stop_sequence: 1,
            required: true,
            wait_exit: true,
            expected_loading: 0,
            starting_failure_strategy: StartingFailureStrategy::Stop,
            running_failure_strategy: RunningFailureStrategy::Continue,
        }
    );
    // the model gives identifiers, required, running failure; the program its sequence/loading
    assert_eq!(
        rules.program_rules("backend", "database"),
        ProgramRules {
            identifiers: Identifiers::List(ids(&["srv01", "srv02"])),
            start_sequence: 2,
            stop_sequence: 2,
            required: true,
            wait_exit: false,
            expected_loading: 30,
            starting_failure_strategy: StartingFailureStrategy::Stop,
            running_failure_strategy: RunningFailureStrategy::RestartProcess,
        }
    );
    let worker = rules.program_rules("backend", "worker_1");
    assert_eq!(
        worker,
        ProgramRules {
            identifiers: Identifiers::Hash(ids(&["srv02", "srv01"])),
            start_sequence: 3,
            stop_sequence: 3,
            required: false,
            wait_exit: false,
            expected_loading: 10,
            starting_failure_strategy: StartingFailureStrategy::Stop,
            running_failure_strategy: RunningFailureStrategy::RestartProcess,
        }
    );
    let all = rules.instances.clone();
    assert_eq!(worker.candidates(&all, Some(0)), ids(&["srv02"]));
    assert_eq!(worker.candidates(&all, Some(1)), ids(&["srv01"]));
    assert_eq!(worker.candidates(&all, Some(2)), ids(&["srv02"]));
    // a backend process no element names: defaults with the application's failure strategies
    assert_eq!(
        rules.program_rules("backend", "other"),
        ProgramRules {
            starting_failure_strategy: StartingFailureStrategy::Stop,
            ..ProgramRules::default()
        }
    );
    // "worker_" alone does not match worker_\d+
    assert_eq!(rules.program_rules("backend", "worker_").start_sequence, 0);

    for (n, console) in [(1, "cons01"), (2, "cons02"), (3, "cons03"), (4, "cons01")] {
        let hmi = rules.application_rules(&format!("hmi_{n}")).unwrap();
        assert_eq!(
            hmi,
            ApplicationRules {
                distribution: DistributionRule::SingleInstance,
                identifiers: Identifiers::List(ids(&[console])),
                start_sequence: 2,
                stop_sequence: 1,
                starting_strategy: StartingStrategy::Config,
                starting_failure_strategy: StartingFailureStrategy::Abort,
                running_failure_strategy: RunningFailureStrategy::StopApplication,
            }
        );
    }
    let p = rules.program_rules("hmi_2", "display");
    assert_eq!(
        p,
        ProgramRules {
            identifiers: Identifiers::All,
            start_sequence: 1,
            stop_sequence: 1,
            required: false,
            wait_exit: false,
            expected_loading: 5,
            starting_failure_strategy: StartingFailureStrategy::Abort,
            running_failure_strategy: RunningFailureStrategy::StopApplication,
        }
    );
    assert!(p.disables_autorestart());
    // substring semantics: the pattern "hmi_" also manages "old_hmi_x"
    assert!(rules.is_managed("old_hmi_x"));
    let no_index = rules.application_rules("old_hmi_x").unwrap();
    assert_eq!(no_index.identifiers, Identifiers::List(vec![]));
    assert_eq!((no_index.start_sequence, no_index.stop_sequence), (0, 1));
    assert!(!rules.is_managed("frontend"));
    assert!(rules.application_rules("frontend").is_none());
    assert_eq!(
        rules.program_rules("frontend", "x"),
        ProgramRules::default()
    );
}

#[test]
fn default_starting_strategy_comes_from_the_option() {
    let mut rules = ok(EXAMPLE);
    rules.default_starting_strategy = StartingStrategy::MostLoaded;
    assert_eq!(
        rules.application_rules("hmi_1").unwrap().starting_strategy,
        StartingStrategy::MostLoaded
    );
    assert_eq!(
        rules
            .application_rules("backend")
            .unwrap()
            .starting_strategy,
        StartingStrategy::LessLoaded
    );
}

#[test]
fn bare_application_is_managed_with_defaults() {
    let rules = ok(r#"<root><application name="a"/></root>"#);
    assert_eq!(
        rules.application_rules("a"),
        Some(ApplicationRules {
            distribution: DistributionRule::AllInstances,
            identifiers: Identifiers::All,
            start_sequence: 0,
            stop_sequence: 0,
            starting_strategy: StartingStrategy::Config,
            starting_failure_strategy: StartingFailureStrategy::Abort,
            running_failure_strategy: RunningFailureStrategy::Continue,
        })
    );
    assert_eq!(rules.program_rules("a", "p"), ProgramRules::default());
}

#[test]
fn application_name_beats_patterns_and_longest_match_wins() {
    let rules = ok(r#"<root>
  <application pattern="prg"><start_sequence>1</start_sequence></application>
  <application pattern="prg_\d"><start_sequence>2</start_sequence></application>
  <application name="dummy_prg_2"><start_sequence>3</start_sequence></application>
  <application pattern="y_prg"><start_sequence>4</start_sequence></application>
</root>"#);
    let seq = |n: &str| rules.application_rules(n).map(|a| a.start_sequence);
    assert_eq!(seq("dummy_prg_2"), Some(3));
    // "prg_1" (5 chars) beats "prg" (3) and "y_prg" (5, declared later)
    assert_eq!(seq("dummy_prg_1"), Some(2));
    assert_eq!(seq("xy_prg"), Some(4));
    assert_eq!(seq("prg"), Some(1));
    assert_eq!(seq("other"), None);
}

#[test]
fn program_name_beats_patterns_within_its_application() {
    let rules = ok(r#"<root>
  <application pattern="^app">
    <programs>
      <program pattern="^w"><start_sequence>1</start_sequence></program>
      <program pattern="^w_\d+$"><start_sequence>2</start_sequence></program>
      <program name="w_7"><start_sequence>3</start_sequence></program>
    </programs>
  </application>
  <application name="other">
    <programs><program pattern="."><start_sequence>9</start_sequence></program></programs>
  </application>
</root>"#);
    let seq = |a: &str, p: &str| rules.program_rules(a, p).start_sequence;
    assert_eq!(seq("app1", "w_7"), 3);
    assert_eq!(seq("app1", "w_12"), 2);
    assert_eq!(seq("app1", "w_x"), 1);
    assert_eq!(seq("app1", "z"), 0);
    // patterns are scoped to their application
    assert_eq!(seq("other", "w_7"), 9);
}

#[test]
fn models_chain_and_override() {
    let rules = ok(r#"<root>
  <model name="base">
    <identifiers>srv01</identifiers>
    <start_sequence>5</start_sequence>
    <wait_exit>true</wait_exit>
    <starting_failure_strategy>CONTINUE</starting_failure_strategy>
  </model>
  <model name="mid">
    <reference>base</reference>
    <start_sequence>6</start_sequence>
    <expected_loading>20</expected_loading>
  </model>
  <application name="a">
    <programs>
      <program name="p">
        <reference>mid</reference>
        <expected_loading>40</expected_loading>
        <stop_sequence>1</stop_sequence>
      </program>
      <program name="q"><reference>base</reference><identifiers>*</identifiers></program>
    </programs>
  </application>
</root>"#);
    let p = rules.program_rules("a", "p");
    assert_eq!(p.identifiers, Identifiers::List(ids(&["srv01"])));
    assert_eq!((p.start_sequence, p.stop_sequence), (6, 1));
    assert!(p.wait_exit);
    assert_eq!(p.expected_loading, 40);
    assert_eq!(
        p.starting_failure_strategy,
        StartingFailureStrategy::Continue
    );
    assert_eq!(
        rules.applications[0].programs[0].reference.as_deref(),
        Some("mid")
    );
    let q = rules.program_rules("a", "q");
    assert_eq!(q.identifiers, Identifiers::All);
    assert_eq!(q.start_sequence, 5);
}

/// Supvisors 0.14 follows program → model → model and ignores what is beyond, or unknown.
#[test]
fn model_references_load_as_supvisors_reads_them() {
    let rules = ok(r#"<root>
  <model name="m1"><reference>m2</reference></model>
  <model name="m2"><reference>m3</reference></model>
  <model name="m3"><start_sequence>1</start_sequence></model>
  <model name="loop"><reference>loop</reference></model>
  <model name="bad"><reference>ghost</reference></model>
  <application name="a">
    <programs>
      <program name="deep"><reference>m1</reference></program>
      <program name="ok"><reference>m2</reference></program>
      <program name="cycle"><reference>loop</reference></program>
      <program name="unknown"><reference>nothing</reference></program>
    </programs>
  </application>
</root>"#);
    assert_eq!(
        rules.notes,
        vec![
            "r.xml:3: reference to model \"m3\" is too deep: ignored, as Supvisors 0.14 follows at most program → model → model",
            "r.xml:5: reference to model \"loop\" is too deep (a reference cycle): ignored, as Supvisors 0.14 follows at most program → model → model",
            "r.xml:6: model \"bad\": unknown model \"ghost\" in <reference>: ignored, as Supvisors 0.14 does",
            "r.xml:12: application \"a\": program \"unknown\": unknown model \"nothing\" in <reference>: ignored, as Supvisors 0.14 does",
        ]
    );
    // m3 (third level) is not read through `deep`, but is through `ok`.
    assert_eq!(rules.program_rules("a", "deep").start_sequence, 0);
    assert_eq!(rules.program_rules("a", "ok").start_sequence, 1);
}

#[test]
fn aliases_across_files_and_errors() {
    let f1 = (
        PathBuf::from("one.xml"),
        r#"<root>
  <application name="a"><distribution>SINGLE_INSTANCE</distribution><identifiers>later</identifiers></application>
</root>"#
            .to_string(),
    );
    let f2 = (
        PathBuf::from("two.xml"),
        r#"<root><alias name="later">cons03, srv01</alias></root>"#.to_string(),
    );
    let rules = from_sources(&[f1, f2], &instances()).unwrap();
    assert_eq!(
        rules.application_rules("a").unwrap().identifiers,
        Identifiers::List(ids(&["cons03", "srv01"]))
    );

    let rules = ok(r#"<root>
  <alias name="first">second,srv01</alias>
  <alias name="second">cons01</alias>
  <alias name="third">first,ghost</alias>
  <alias name="me">me</alias>
  <alias name="srv02">srv01</alias>
  <alias name="first">srv02</alias>
  <application name="a">
    <identifiers>third, nobody, @x</identifiers>
  </application>
  <application name="b">
    <identifiers>srv02,cons02</identifiers>
  </application>
</root>"#);
    assert_eq!(
        rules.notes,
        vec![
            "r.xml:4: alias \"third\": \"first\" is an alias declared before it, so it is not expanded and is dropped (aliases are expanded in declaration order)",
            "r.xml:4: alias \"third\": \"ghost\" is neither in supvisors_list nor an alias: dropped",
            "r.xml:5: alias \"me\" refers to itself: that member is dropped",
            "r.xml:6: alias \"srv02\" has the name of an instance of supvisors_list: the alias is expanded in its place",
            "r.xml:7: alias \"first\" already declared at r.xml:2: this one replaces it (as in Supvisors 0.14)",
            "r.xml:9: application \"a\": identifiers: \"nobody\" is neither in supvisors_list nor an alias: dropped",
            "r.xml:9: application \"a\": identifiers: \"@x\": '@' (Supvisors 0.17+) is not supported: dropped",
        ]
    );
    // third = first(not expanded, dropped), ghost(dropped): nothing is left.
    assert_eq!(
        rules.application_rules("a").unwrap().identifiers,
        Identifiers::List(Vec::new())
    );
    // srv02 is the alias (→ srv01), as in 0.14.
    assert_eq!(
        rules.application_rules("b").unwrap().identifiers,
        Identifiers::List(ids(&["srv01", "cons02"]))
    );
}

#[test]
fn legacy_distributed_flag() {
    let rules = ok(r#"<root>
  <application name="single"><distributed>false</distributed></application>
  <application name="all"><distributed>true</distributed></application>
  <application name="both">
    <distributed>false</distributed>
    <distribution>SINGLE_NODE</distribution>
  </application>
</root>"#);
    let d = |n: &str| rules.application_rules(n).unwrap().distribution;
    assert_eq!(d("single"), DistributionRule::SingleInstance);
    assert_eq!(d("all"), DistributionRule::AllInstances);
    assert_eq!(d("both"), DistributionRule::SingleNode);
    assert_eq!(
        rules.notes,
        vec![
            "r.xml:2: application \"single\": <distributed> is deprecated (removed in Supvisors 0.13): use <distribution>",
            "r.xml:3: application \"all\": <distributed> is deprecated (removed in Supvisors 0.13): use <distribution>",
            "r.xml:5: application \"both\": <distributed> is deprecated (removed in Supvisors 0.13): ignored, <distribution> is given",
        ]
    );
}

#[test]
fn warnings_become_notes() {
    let rules = ok(r#"<root>
  <model name="m"><required>true</required></model>
  <application name="plain">
    <identifiers>#,srv01</identifiers>
    <programs>
      <program name="p"><reference>m</reference></program>
      <program name="q"><required>true</required><start_sequence>1</start_sequence></program>
    </programs>
  </application>
</root>"#);
    assert_eq!(
        rules.notes,
        vec![
            "r.xml:3: application \"plain\": '#' needs a name ending with -N or _N (N ≥ 1): it will not be started",
            "r.xml:6: application \"plain\": program \"p\": required forced to false because it has no start_sequence",
        ]
    );
    assert!(!rules.program_rules("plain", "p").required);
    assert!(rules.program_rules("plain", "q").required);
}

/// Names declared twice: the first application or program by name wins (0.14's `find`), the
/// last pattern or model wins (its dicts); invalid regular expressions are errors.
#[test]
fn duplicates_and_regex_errors() {
    let doc = r#"<root>
  <application name="a"><start_sequence>1</start_sequence></application>
  <application name="a"><start_sequence>2</start_sequence></application>
  <application pattern="x("/>
  <application pattern="x+"><start_sequence>3</start_sequence></application>
  <application pattern="x+"><start_sequence>4</start_sequence></application>
  <application pattern="(?=look)"/>
  <model name="m"><expected_loading>5</expected_loading></model>
  <model name="m"><expected_loading>6</expected_loading></model>
  <application name="b">
    <programs>
      <program name="p"><reference>m</reference></program>
      <program name="p"><start_sequence>9</start_sequence></program>
      <program pattern="[z"/>
    </programs>
  </application>
</root>"#;
    let e = errors(doc);
    assert_eq!(e.len(), 3, "{e:#?}");
    assert!(
        e[0].starts_with("4: pattern \"x(\" is not a valid regular expression: "),
        "{}",
        e[0]
    );
    assert!(
        e[1].starts_with("7: pattern \"(?=look)\" is not a valid regular expression: "),
        "{}",
        e[1]
    );
    assert!(
        e[2].starts_with("14: pattern \"[z\" is not a valid regular expression: "),
        "{}",
        e[2]
    );
    let valid: String = doc
        .lines()
        .filter(|l| !l.contains("x(") && !l.contains("look") && !l.contains("[z"))
        .collect::<Vec<_>>()
        .join("\n");
    let rules = ok(&valid);
    assert_eq!(
        rules.notes,
        vec![
            "r.xml:3: application \"a\" already declared at r.xml:2: ignored (the first one wins, as in Supvisors 0.14)",
            "r.xml:5: application pattern \"x+\" replaces the one declared at r.xml:4 (the last pattern wins, as in Supvisors 0.14)",
            "r.xml:7: model \"m\" already declared at r.xml:6: this one replaces it (as in Supvisors 0.14)",
            "r.xml:11: application \"b\": program \"p\" already declared at line 10: ignored (the first one wins, as in Supvisors 0.14)",
        ]
    );
    assert_eq!(rules.application_rules("a").unwrap().start_sequence, 1);
    assert_eq!(rules.application_rules("xx").unwrap().start_sequence, 4);
    let p = rules.program_rules("b", "p");
    assert_eq!((p.start_sequence, p.expected_loading), (0, 6));
}

#[test]
fn all_problems_of_all_files_at_once_in_order() {
    let sources = vec![
        (
            PathBuf::from("b.xml"),
            "<root>\n<application name=\"x\">\n<start_sequence>x</start_sequence>\n</application>\n</root>"
                .to_string(),
        ),
        (PathBuf::from("a.xml"), "<root>\n<oops/>\n<application name=\"x\"/>\n</root>".to_string()),
        (PathBuf::from("c.xml"), "<root>\n<alias name=\"a\">b\n</root>".to_string()),
    ];
    let e = from_sources(&sources, &instances()).unwrap_err();
    let text = e.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(
        lines[0],
        "b.xml:3: application \"x\": start_sequence: \"x\" is not an integer"
    );
    assert_eq!(
        lines[1],
        "a.xml:2: unknown element <oops> in <root> (expected <alias>, <model> or <application>)"
    );
    assert!(lines[2].starts_with("c.xml:"), "{text}");
    assert!(lines[2].contains("XML syntax error"), "{text}");
}

#[test]
fn syntax_error_line() {
    let e = errors("<root>\n  <application name=\"a\">\n  </applicatio>\n</root>");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("3: XML syntax error"), "{e:?}");
}

#[test]
fn load_reads_files_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.xml");
    let second = dir.path().join("second.xml");
    std::fs::write(
        &first,
        "<root><application pattern=\"web\"><start_sequence>1</start_sequence></application></root>",
    )
    .unwrap();
    std::fs::write(
        &second,
        "<root>\n<application name=\"web_1\"><start_sequence>2</start_sequence></application>\n<application pattern=\"web_\"><start_sequence>3</start_sequence></application></root>",
    )
    .unwrap();
    let rules = load(&[first.clone(), second.clone()], &instances()).unwrap();
    let seq = |n: &str| rules.application_rules(n).map(|a| a.start_sequence);
    // the exact name of the second file beats the patterns of the first
    assert_eq!(seq("web_1"), Some(2));
    // patterns of all files compete: the longest match wins
    assert_eq!(seq("web_2"), Some(3));
    assert_eq!(seq("web"), Some(1));
    assert_eq!(rules.applications[1].source.file, second);
    assert_eq!(rules.applications[1].source.line, 2);

    let missing = dir.path().join("missing.xml");
    let e = load(&[first, missing.clone()], &instances()).unwrap_err();
    assert_eq!(e.problems.len(), 1);
    assert_eq!(e.problems[0].file, missing);
    assert_eq!(e.problems[0].line, 0);
    assert!(e.problems[0].message.starts_with("cannot read rules file"));

    let none = load(&[], &instances()).unwrap();
    assert!(none.applications.is_empty());
    assert!(!none.is_managed("web"));
}

#[test]
fn attach_matcher_restores_patterns() {
    let rules = ok(EXAMPLE);
    let mut copy = Rules::new(rules.instances.clone(), rules.applications.clone());
    assert!(!copy.is_managed("hmi_1"));
    attach_matcher(&mut copy).unwrap();
    assert!(copy.is_managed("hmi_1"));
    assert_eq!(copy.program_rules("backend", "worker_3").start_sequence, 3);
}

#[test]
fn bom_and_entities() {
    let rules = ok("\u{feff}<root><application name=\"a&amp;b\"><identifiers>srv01&#44;srv02</identifiers><distribution>SINGLE_NODE</distribution></application></root>");
    assert_eq!(
        rules.application_rules("a&b").unwrap().identifiers,
        Identifiers::List(ids(&["srv01", "srv02"]))
    );
}

/// The INI file of the `apply_to` tests: `web` (one program), `db` (a group of two), `batch`
/// already without autorestart.
const APPLY_CONF: &str = "[supervisord]\n\
[program:web]\ncommand = /bin/true\n\
[program:batch]\ncommand = /bin/true\nautorestart = false\n\
[program:backup]\ncommand = /bin/true\nautorestart = true\n\
[program:server]\ncommand = /bin/true\n\
[group:db]\nprograms = backup,server\n";

fn apply_config() -> (tempfile::TempDir, model::Config) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.conf");
    std::fs::write(&path, APPLY_CONF).unwrap();
    let ctx = crate::Context {
        env: Default::default(),
        host_node_name: "node1".to_string(),
    };
    let config = crate::load_with(&path, &ctx).unwrap();
    (dir, config)
}

fn autorestart_of(config: &model::Config, group: &str, name: &str) -> AutoRestart {
    config
        .group(group)
        .and_then(|g| g.processes.iter().find(|p| p.name == name))
        .map(|p| p.autorestart)
        .unwrap_or_else(|| panic!("no process {group}:{name}"))
}

#[test]
fn apply_to_turns_autorestart_off_where_the_application_reacts() {
    let rules = ok(r#"<root>
        <application name="web">
            <running_failure_strategy>RESTART_APPLICATION</running_failure_strategy>
        </application>
        <application name="batch">
            <running_failure_strategy>STOP_APPLICATION</running_failure_strategy>
        </application>
        <application name="db">
            <programs>
                <program name="backup">
                    <running_failure_strategy>STOP_APPLICATION</running_failure_strategy>
                </program>
                <program name="server">
                    <running_failure_strategy>RESTART_PROCESS</running_failure_strategy>
                </program>
            </programs>
        </application>
    </root>"#);
    let (_dir, mut config) = apply_config();
    assert_eq!(
        autorestart_of(&config, "web", "web"),
        AutoRestart::Unexpected
    );

    let disabled = apply_to(&mut config, &rules);
    // `batch` was off already: not reported; `db:server` restarts itself: untouched.
    assert_eq!(disabled, ids(&["db:backup", "web"]));
    assert_eq!(autorestart_of(&config, "web", "web"), AutoRestart::False);
    assert_eq!(autorestart_of(&config, "db", "backup"), AutoRestart::False);
    assert_eq!(
        autorestart_of(&config, "batch", "batch"),
        AutoRestart::False
    );
    assert_eq!(
        autorestart_of(&config, "db", "server"),
        AutoRestart::Unexpected
    );

    // Idempotent: a second pass (the same rules on a config already adjusted) changes nothing.
    assert!(apply_to(&mut config, &rules).is_empty());
}

#[test]
fn apply_to_leaves_unmanaged_applications_alone() {
    let rules = load(&[], &instances()).unwrap();
    let (_dir, mut config) = apply_config();
    let before = config.clone();
    assert!(apply_to(&mut config, &rules).is_empty());
    assert_eq!(config, before);
}
