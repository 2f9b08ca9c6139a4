//! Rules files that Supvisors 0.14 accepts load unchanged, and mean what they mean in 0.14.
//!
//! The first test loads the valid file of Supvisors 0.14's own parser tests (`XmlTest` of
//! `supvisors/tests/configurations.py`, checked by `test_sparser.py::check_valid`), read at test
//! time from the real `supvisors==0.14` package that `scripts/setup-supvisors.sh` installs
//! (`$RAFTVISOR_SUPVISORS_VENV`, else the workspace's `.venv-supvisors`): nothing of it is copied
//! here. The expected values below are those assertions, translated
//! (`identifiers=[]` + `hash_identifiers` → [`Identifiers::Hash`], `stop_sequence` defaulting to
//! `start_sequence`, `required` forced to false without a `start_sequence`). One more
//! translation: 0.14 keeps a program's own `running_failure_strategy` (default CONTINUE) apart
//! from its application's, which "defines the default strategy" and which the program's
//! "supersedes"; [`ProgramRules`] holds the strategy in effect, so a program without one of
//! its own shows its application's.

use std::path::{Path, PathBuf};

use model::rules::{
    DistributionRule, Identifiers, ProgramRules, Rules, RunningFailureStrategy,
    StartingFailureStrategy,
};
use model::supvisors::StartingStrategy;

fn file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/supvisors-0.14")
        .join(name)
}

fn names(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// `XmlTest` from the installed Supvisors 0.14 package, written to a file of `dir`. Fails (never
/// skips) when the venv is missing, naming the script that installs it.
fn supvisors_xml_test(dir: &Path) -> PathBuf {
    let venv = std::env::var_os("RAFTVISOR_SUPVISORS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-supvisors"));
    let python = venv.join("bin/python");
    let out = std::process::Command::new(&python)
        .args([
            "-c",
            "import sys; from supvisors.tests.configurations import XmlTest; \
             sys.stdout.buffer.write(XmlTest if isinstance(XmlTest, bytes) else XmlTest.encode())",
        ])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{} cannot run ({e}): run scripts/setup-supvisors.sh (or set \
                 RAFTVISOR_SUPVISORS_VENV to a venv with supvisors==0.14)",
                python.display()
            )
        });
    assert!(
        out.status.success() && !out.stdout.is_empty(),
        "{} could not give supvisors.tests.configurations.XmlTest: {}",
        python.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let path = dir.join("supvisors_0.14_XmlTest.xml");
    std::fs::write(&path, &out.stdout).expect("write the rules file");
    path
}

fn load(name: &str, instances: &[&str]) -> Rules {
    load_path(&file(name), instances)
}

fn load_path(path: &Path, instances: &[&str]) -> Rules {
    let name = path.display();
    match config::rules::load(&[path.to_path_buf()], &names(instances)) {
        Ok(rules) => rules,
        Err(e) => panic!("Supvisors 0.14 accepts {name}; raftvisor refused it:\n{e}"),
    }
}

/// (identifiers, start, stop, required, wait_exit, expected_loading, running failure strategy)
fn program(r: &ProgramRules) -> (Identifiers, u8, u8, bool, bool, u8, RunningFailureStrategy) {
    (
        r.identifiers.clone(),
        r.start_sequence,
        r.stop_sequence,
        r.required,
        r.wait_exit,
        r.expected_loading,
        r.running_failure_strategy,
    )
}

#[test]
fn supvisors_own_parser_test_file_loads_as_supvisors_reads_it() {
    let ips = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"];
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = load_path(&supvisors_xml_test(dir.path()), &ips);
    let all = Identifiers::Hash(names(&ips));
    use DistributionRule::*;
    use RunningFailureStrategy::*;

    // Applications.
    assert!(rules.application_rules("dummy_application_X").is_none());
    let app = |name: &str| {
        let a = rules
            .application_rules(name)
            .unwrap_or_else(|| panic!("{name} is managed"));
        (
            a.distribution,
            a.identifiers,
            a.start_sequence,
            a.stop_sequence,
            a.starting_strategy,
            a.starting_failure_strategy,
            a.running_failure_strategy,
        )
    };
    assert_eq!(
        app("dummy_application_A"),
        (
            AllInstances,
            Identifiers::All,
            0,
            0,
            StartingStrategy::Config,
            StartingFailureStrategy::Abort,
            Continue
        )
    );
    assert_eq!(
        app("dummy_application_B"),
        (
            SingleNode,
            Identifiers::All,
            1,
            4,
            StartingStrategy::Config,
            StartingFailureStrategy::Stop,
            RestartProcess
        )
    );
    assert_eq!(
        app("dummy_application_C"),
        (
            AllInstances,
            Identifiers::All,
            20,
            0,
            StartingStrategy::Local,
            StartingFailureStrategy::Abort,
            StopApplication
        )
    );
    // A pattern; <start_sequence>-1</start_sequence> is ignored.
    assert_eq!(
        app("dummy_application_D"),
        (
            SingleInstance,
            Identifiers::List(names(&["10.0.0.1", "10.0.0.5"])),
            0,
            100,
            StartingStrategy::LessLoaded,
            StartingFailureStrategy::Continue,
            Shutdown
        )
    );
    assert_eq!(app("dummy_application_E").4, StartingStrategy::MostLoaded);

    // Programs.
    let p = |a: &str, n: &str| program(&rules.program_rules(a, n));
    let default = (Identifiers::All, 0, 0, false, false, 0, Continue);
    assert_eq!(p("dummy_application_X", "dummy_program_X0"), default);
    assert_eq!(p("dummy_application_A", "dummy_program_A0"), default);
    assert_eq!(p("dummy_application_A", "dummy_program_B1"), default);
    assert_eq!(
        p("dummy_application_B", "dummy_program_B0"),
        (Identifiers::All, 0, 0, false, false, 0, RestartProcess)
    );
    assert_eq!(
        p("dummy_application_B", "dummy_program_B1"),
        (all.clone(), 3, 50, true, false, 5, Continue)
    );
    assert_eq!(
        p("dummy_application_B", "dummy_program_B2"),
        (
            Identifiers::List(names(&["10.0.0.3"])),
            0,
            0,
            false,
            false,
            0,
            RestartProcess
        )
    );
    assert_eq!(
        p("dummy_application_B", "dummy_program_B3"),
        (Identifiers::All, 0, 0, false, false, 100, StopApplication)
    );
    assert_eq!(
        p("dummy_application_B", "dummy_program_B4"),
        (
            Identifiers::List(names(&["10.0.0.3", "10.0.0.1", "10.0.0.5"])),
            0,
            0,
            false,
            false,
            0,
            RestartApplication
        )
    );
    // Empty and unknown references are ignored.
    let c_default = (Identifiers::All, 0, 0, false, false, 0, StopApplication);
    assert_eq!(p("dummy_application_C", "dummy_program_C0"), c_default);
    assert_eq!(p("dummy_application_C", "dummy_program_C1"), c_default);
    assert_eq!(
        p("dummy_application_C", "dummy_program_C2"),
        (Identifiers::All, 0, 0, false, false, 25, StopApplication)
    );
    assert_eq!(
        p("dummy_application_C", "dummy_program_C3"),
        (all.clone(), 1, 1, true, true, 0, StopApplication)
    );
    // Program patterns: the longest match wins.
    assert_eq!(
        p("dummy_application_D", "dummies_any"),
        (
            Identifiers::List(names(&["10.0.0.4", "10.0.0.2"])),
            50,
            100,
            false,
            false,
            10,
            Shutdown
        )
    );
    assert_eq!(
        p("dummy_application_D", "dummies_01_any"),
        (
            Identifiers::Hash(names(&["10.0.0.1", "10.0.0.5"])),
            1,
            1,
            false,
            true,
            75,
            Shutdown
        )
    );
    assert_eq!(
        p("dummy_application_D", "any_dummies_02_"),
        (Identifiers::All, 0, 0, false, false, 20, StopApplication)
    );
    // program → model_05 → model_04 → model_01: the third level is not read.
    assert_eq!(
        p("dummy_application_E", "dummy_program_E"),
        (Identifiers::All, 0, 0, false, false, 15, Continue)
    );

    // What 0.14 logs, raftvisor notes.
    let notes = rules.notes.join("\n");
    for wanted in [
        "alias \"not used\": \"nodes_appli_D\" is an alias declared before it",
        "program \"dummy_program_C0\": <reference> is empty: ignored",
        "program \"dummy_program_C1\": unknown model \"unknown\" in <reference>: ignored",
        "application pattern \"application_D\": start_sequence: -1 is negative: ignored",
        "reference to model \"dummy_model_01\" is too deep",
    ] {
        assert!(
            notes.contains(wanted),
            "missing note {wanted:?} in\n{notes}"
        );
    }
}

#[test]
fn documentation_style_rules_load_with_the_empty_pattern_matching_every_program() {
    let ids = ["supv-01", "supv-02", "supv-03", "supv-04"];
    let rules = load("documentation_style.xml", &ids);
    assert!(rules.notes.is_empty(), "{:?}", rules.notes);
    let p = |a: &str, n: &str| rules.program_rules(a, n);

    let manager = p("my_movies", "manager");
    assert_eq!(
        (
            manager.identifiers,
            manager.start_sequence,
            manager.stop_sequence,
            manager.required
        ),
        (Identifiers::All, 1, 3, true)
    );
    assert_eq!(
        p("my_movies", "web_server").identifiers,
        Identifiers::List(names(&["supv-03", "supv-04"]))
    );
    // Models through patterns, with a reference to another model.
    let disk = p("my_movies", "disk_01_a");
    assert_eq!(
        (disk.identifiers, disk.expected_loading),
        (Identifiers::List(names(&["supv-01"])), 5)
    );
    let disk = p("my_movies", "disk_02_a");
    assert_eq!(
        (disk.identifiers, disk.expected_loading),
        (Identifiers::List(names(&["supv-02"])), 5)
    );
    let conv = p("my_movies", "converter_07");
    assert_eq!(
        (conv.identifiers, conv.running_failure_strategy),
        (Identifiers::All, RunningFailureStrategy::RestartProcess)
    );
    // pattern="": every other program of the application.
    for name in ["hmi", "x", "anything_else"] {
        let r = p("my_movies", name);
        assert_eq!(
            (r.identifiers, r.start_sequence, r.expected_loading),
            (Identifiers::List(names(&["supv-01", "supv-02"])), 3, 2),
            "{name}"
        );
    }
    // An application pattern whose empty program pattern places every program with #.
    let player = rules
        .application_rules("player_03")
        .expect("player_03 is managed");
    assert_eq!(player.distribution, DistributionRule::SingleInstance);
    assert_eq!(player.starting_strategy, StartingStrategy::LessLoaded);
    let r = p("player_03", "video");
    assert_eq!(
        (r.identifiers, r.start_sequence, r.expected_loading),
        (Identifiers::Hash(names(&ids)), 1, 10)
    );
    // Applications no pattern matches stay unmanaged.
    assert!(rules.application_rules("tools").is_none());
}
