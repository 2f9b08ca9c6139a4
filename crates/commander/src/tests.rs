//! Scenario tests of the planner: jobs run across planning rounds against a simulated cluster.

use crate::testkit::*;
use crate::{ApplicationState, Commander};
use data::{FailureKind, FinalAction, ItemState, JobKind, JobOp, Order, SupvisorsState};
use model::rules::{
    DistributionRule, RunningFailureStrategy as Rfs, StartingFailureStrategy as Sfs,
};
use model::supvisors::{ConciliationStrategy, StartingStrategy::*};
use model::{FaultCode, ProcessState::*};

/// Application `web` (start_sequence 1): `db` (seq 1, required, 40 %), `api` (seq 2,
/// required, 40 %), `tool` (seq 0).
fn web_app(rfs: Rfs) -> model::rules::ApplicationEntry {
    let mut a = sequenced_app("web", 1);
    a.programs.push(prog("db", opts(1, true, 40, rfs)));
    a.programs.push(prog("api", opts(2, true, 40, rfs)));
    a.programs.push(prog("tool", opts(0, false, 0, rfs)));
    a
}

fn web_world(instances: &[&str]) -> World {
    let mut w = World::new(instances);
    w.declare("web", &["db", "api", "tool"], instances);
    w
}

/// Application `svc`: each of `programs` RESTART_PROCESS, unsequenced, 10 %.
fn svc_app(programs: &[&str]) -> model::rules::ApplicationEntry {
    let mut a = app("svc");
    for name in programs {
        a.programs
            .push(prog(name, opts(0, false, 10, Rfs::RestartProcess)));
    }
    a
}

fn svc_world(instances: &[&str], programs: &[&str]) -> World {
    let mut w = World::new(instances);
    w.declare("svc", programs, instances);
    w
}

#[test]
fn start_application_follows_the_start_sequence_across_rounds() {
    let c = commander(&["a", "b"], vec![web_app(Rfs::Continue)]);
    let mut w = web_world(&["a", "b"]);
    let job = c
        .start_application(&w.state, LessLoaded, "web", "b", w.now)
        .unwrap();
    let id = w.create(job);
    // Round 1: db placed, api (step 2) untouched.
    let plan = w.step(&c);
    assert!(
        plan.orders.is_empty(),
        "orders only for committed placements"
    );
    let j = w.job(id);
    assert!(matches!(
        j.items
            .iter()
            .find(|i| i.namespec == "web:db")
            .unwrap()
            .state,
        ItemState::Placed { .. }
    ));
    assert_eq!(
        j.items
            .iter()
            .find(|i| i.namespec == "web:api")
            .unwrap()
            .state,
        ItemState::Pending
    );
    // Round 2: the order for db.
    let plan = w.step(&c);
    assert_eq!(plan.orders.len(), 1);
    assert!(matches!(&plan.orders[0], Order::Start { namespec, .. } if namespec == "web:db"));
    w.settle(&c);
    let j = w.job(id);
    let outcome = j.outcome.clone().unwrap();
    assert!(outcome.ok, "{outcome:?}");
    // LESS_LOADED: db on a (tie → first), api then on b (a has 40 %).
    assert_eq!(w.running_on("web:db"), vec!["a"]);
    assert_eq!(w.running_on("web:api"), vec!["b"]);
    assert_eq!(w.running_on("web:tool"), Vec::<String>::new());
    let starts: Vec<&str> = w
        .log
        .iter()
        .filter_map(|o| match o {
            Order::Start { namespec, .. } => Some(namespec.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(starts, vec!["web:db", "web:api"]);
    assert_eq!(
        c.application(&w.state, "web").unwrap().state,
        ApplicationState::Running
    );
}

#[test]
fn planning_is_idempotent_and_a_new_leader_resends_without_replacing() {
    let c = commander(&["a", "b"], vec![web_app(Rfs::Continue)]);
    let mut w = web_world(&["a", "b"]);
    w.deaf.insert("a".into());
    let job = c
        .start_application(&w.state, Config, "web", "", w.now)
        .unwrap();
    let id = w.create(job);
    w.step(&c); // placed on a
    let p1 = c.plan(&w.state, w.now);
    let p2 = c.plan(&w.state, w.now);
    assert_eq!(p1, p2);
    assert!(p1.ops.is_empty());
    // A fresh commander (new leader) on the same state re-emits the order to a.
    let c2 = commander(&["b", "a"], vec![web_app(Rfs::Continue)]);
    let p3 = c2.plan(&w.state, w.now);
    assert!(p3.ops.is_empty());
    assert_eq!(
        p3.orders,
        vec![Order::Start {
            instance: "a".into(),
            namespec: "web:db".into(),
            extra_args: String::new()
        }]
    );
    let _ = id;
}

#[test]
fn a_start_with_no_news_times_out_and_aborts_the_track() {
    let c = commander(&["a"], vec![web_app(Rfs::Continue)]);
    let mut w = web_world(&["a"]);
    w.deaf.insert("a".into());
    let id = w.create(
        c.start_application(&w.state, Config, "web", "", w.now)
            .unwrap(),
    );
    w.step(&c);
    w.now += super::plan::STARTING_TIMEOUT_MS + 1;
    w.settle(&c);
    let j = w.job(id);
    assert_eq!(
        j.items[j.items.iter().position(|i| i.namespec == "web:db").unwrap()].state,
        ItemState::Failed {
            reason: "process STARTING event not received in time".into()
        }
    );
    assert_eq!(
        j.items
            .iter()
            .find(|i| i.namespec == "web:api")
            .unwrap()
            .state,
        ItemState::Skipped
    );
    let o = j.outcome.clone().unwrap();
    assert!(!o.ok);
    assert_eq!(
        o.message,
        "application web not RUNNING: web:db: process STARTING event not received in time"
    );
}

#[test]
fn only_a_running_job_makes_a_plan_depend_on_the_clock() {
    let c = commander(&["a"], vec![web_app(Rfs::Continue)]);
    let mut w = web_world(&["a"]);
    let idle = c.plan(&w.state, w.now);
    assert!(idle.is_empty() && !idle.timed, "{idle:?}");
    w.deaf.insert("a".into());
    let id = w.create(
        c.start_application(&w.state, Config, "web", "", w.now)
            .unwrap(),
    );
    w.step(&c);
    let waiting = c.plan(&w.state, w.now);
    assert!(waiting.ops.is_empty() && waiting.timed, "{waiting:?}");
    // The same state plans differently later: that is what `timed` tells the leader.
    let later = c.plan(&w.state, w.now + super::plan::STARTING_TIMEOUT_MS + 1);
    assert!(!later.ops.is_empty(), "{later:?}");
    w.now += super::plan::STARTING_TIMEOUT_MS + 1;
    w.settle(&c);
    assert!(w.job(id).outcome.is_some());
    let idle = c.plan(&w.state, w.now);
    assert!(idle.is_empty() && !idle.timed, "{idle:?}");
    assert_eq!(c.plan(&w.state, w.now + 3_600_000), idle);
}

#[test]
fn a_new_leader_gives_an_inherited_start_its_whole_timeout() {
    let c = commander(&["a"], vec![web_app(Rfs::Continue)]);
    let mut w = web_world(&["a"]);
    w.deaf.insert("a".into());
    w.create(
        c.start_application(&w.state, Config, "web", "", w.now)
            .unwrap(),
    );
    w.step(&c);
    let late = w.now + super::plan::STARTING_TIMEOUT_MS + 1;
    // The leader that placed the start times it out ...
    let old = c.plan_at(&w.state, data::Clock::at(late));
    assert!(
        old.ops.iter().any(|op| matches!(
            op,
            JobOp::SetItem {
                state: ItemState::Failed { .. },
                ..
            }
        )),
        "{old:?}"
    );
    // ... one that took office since (its predecessor's orders may never have left) sends
    // the order again and waits the whole timeout from its own start.
    let since = late - 1_000;
    let clock = |now_ms| data::Clock {
        now_ms,
        leading_since_ms: since,
    };
    let fresh = c.plan_at(&w.state, clock(late));
    assert!(fresh.ops.is_empty(), "{fresh:?}");
    assert!(
        fresh
            .orders
            .iter()
            .any(|o| matches!(o, Order::Start { .. })),
        "{fresh:?}"
    );
    let expired = c.plan_at(
        &w.state,
        clock(since + super::plan::STARTING_TIMEOUT_MS + 1),
    );
    assert!(!expired.ops.is_empty(), "{expired:?}");
}

#[test]
fn a_process_stuck_starting_times_out_after_startsecs() {
    let c = commander(&["a"], vec![web_app(Rfs::Continue)]);
    let mut w = web_world(&["a"]);
    let id = w.create(
        c.start_process(&w.state, Config, "web:db", "", "", w.now)
            .unwrap(),
    );
    w.step(&c);
    w.report("a", "web", "db", Starting);
    w.step(&c);
    assert!(matches!(w.job(id).items[0].state, ItemState::Placed { .. }));
    w.now += 1_000 + super::plan::RUNNING_MARGIN_MS + 1;
    w.step(&c);
    assert_eq!(
        w.job(id).items[0].state,
        ItemState::Failed {
            reason: "process RUNNING event not received in time".into()
        }
    );
}

#[test]
fn a_fatal_start_is_a_failure_and_no_resource_fails_the_placement() {
    let c = commander(&["a"], vec![web_app(Rfs::Continue)]);
    let mut w = web_world(&["a"]);
    w.fail_start.insert("web:db".into());
    let id = w.create(
        c.start_process(&w.state, Config, "web:db", "", "", w.now)
            .unwrap(),
    );
    w.settle(&c);
    assert_eq!(
        w.job(id).items[0].state,
        ItemState::Failed {
            reason: "FATAL on a".into()
        }
    );
    assert!(!w.job(id).outcome.as_ref().unwrap().ok);
    // a is full: api (40 %) plus 70 % running elsewhere.
    let mut heavy = app("heavy");
    heavy
        .programs
        .push(prog("h", opts(0, false, 70, Rfs::Continue)));
    let c = commander(&["a"], vec![web_app(Rfs::Continue), heavy]);
    w.declare("heavy", &["h"], &["a"]);
    w.report("a", "heavy", "h", Running);
    let id = w.create(
        c.start_process(&w.state, Config, "web:api", "", "", w.now)
            .unwrap(),
    );
    w.settle(&c);
    let j = w.job(id);
    assert_eq!(
        j.items[0].state,
        ItemState::Failed {
            reason: "no resource available".into()
        }
    );
    assert_eq!(
        j.outcome.as_ref().unwrap().message,
        "web:api: no resource available"
    );
}

#[test]
fn starting_failure_strategies_abort_stop_or_continue() {
    for (sfs, api_state, stopped) in [
        (Sfs::Abort, ItemState::Skipped, false),
        (Sfs::Continue, ItemState::Done, false),
        (Sfs::Stop, ItemState::Skipped, true),
    ] {
        let c = commander(
            &["a"],
            vec![with_starting_failure(web_app(Rfs::Continue), sfs)],
        );
        let mut w = web_world(&["a"]);
        w.fail_start.insert("web:db".into());
        // tool runs: the STOP strategy must stop it.
        w.report("a", "web", "tool", Running);
        let id = w.create(
            c.restart_application(&w.state, Config, "web", "", w.now)
                .unwrap(),
        );
        // The restart's stop stage stops tool first; run it again so the start stage sees
        // a running process to stop afterwards.
        w.step(&c);
        w.step(&c);
        w.report("a", "web", "tool", Running);
        w.settle(&c);
        let j = w.job(id);
        assert_eq!(
            j.items
                .iter()
                .find(|i| i.namespec == "web:api"
                    && matches!(i.action, data::ItemAction::Start { .. }))
                .unwrap()
                .state,
            api_state,
            "{sfs:?}"
        );
        assert_eq!(
            w.state_of("a", "web:tool") == Some(Stopped),
            stopped,
            "{sfs:?}"
        );
        assert!(!j.outcome.as_ref().unwrap().ok);
    }
}

#[test]
fn single_instance_pins_the_whole_application_or_fails_it_all() {
    let mut a = with_distribution(web_app(Rfs::Continue), DistributionRule::SingleInstance);
    a.starting_strategy = Some(LessLoaded);
    let c = commander(&["a", "b"], vec![a.clone()]);
    let mut w = web_world(&["a", "b"]);
    let mut other = app("other");
    other
        .programs
        .push(prog("o", opts(0, false, 10, Rfs::Continue)));
    let c2 = commander(&["a", "b"], vec![a.clone(), other.clone()]);
    w.declare("other", &["o"], &["a"]);
    w.report("a", "other", "o", Running);
    let id = w.create(
        c2.start_application(&w.state, LessLoaded, "web", "", w.now)
            .unwrap(),
    );
    w.settle(&c2);
    assert!(w.job(id).outcome.as_ref().unwrap().ok);
    assert_eq!(w.job(id).tracks[0].pinned.as_deref(), Some("b"));
    assert_eq!(w.running_on("web:db"), vec!["b"]);
    assert_eq!(w.running_on("web:api"), vec!["b"]);
    // 80 % needed: no instance of a world where both hold 30 % can take it.
    let mut w = web_world(&["a", "b"]);
    let mut hog = app("hog");
    hog.programs
        .push(prog("h", opts(0, false, 30, Rfs::Continue)));
    let c3 = commander(&["a", "b"], vec![a, hog]);
    w.declare("hog", &["h"], &["a", "b"]);
    w.report("a", "hog", "h", Running);
    w.report("b", "hog", "h", Running);
    let id = w.create(
        c3.start_application(&w.state, Config, "web", "", w.now)
            .unwrap(),
    );
    w.settle(&c3);
    let j = w.job(id);
    assert!(j.items.iter().all(|i| i.state
        == ItemState::Failed {
            reason: "no resource available".into()
        }));
    let _ = c;
}

#[test]
fn single_instance_pins_where_the_application_already_runs() {
    // db runs on b (started there by a job a fault cut short; b is the more loaded one): the
    // deployment must put api there too, not on the less loaded a, which would split the
    // application (seen in the chaos suite's repeated leader kills: DEPLOYMENT after every
    // instance restarted, while a process the previous leader had started still ran).
    let deployed = |instances: &[&str], running: &[(&str, &str)]| {
        let mut a = with_distribution(web_app(Rfs::Continue), DistributionRule::SingleInstance);
        a.starting_strategy = Some(LessLoaded);
        let c = commander(instances, vec![a]);
        let mut w = web_world(instances);
        for (instance, name) in running {
            w.report(instance, "web", name, Running);
        }
        w.to(&[SupvisorsState::Conciliation, SupvisorsState::Initialization]);
        w.settle(&c);
        w.to(&[SupvisorsState::Deployment]);
        w.settle(&c);
        let deploy = (*w
            .jobs_where(|k| matches!(k, JobKind::Deployment { .. }))
            .last()
            .expect("a deployment"))
        .clone();
        (w, deploy)
    };
    let (w, deploy) = deployed(&["a", "b"], &[("b", "db")]);
    assert!(deploy.outcome.as_ref().unwrap().ok, "{deploy:?}");
    assert_eq!(deploy.tracks[0].pinned.as_deref(), Some("b"));
    assert_eq!(w.running_on("web:db"), vec!["b"]);
    assert_eq!(w.running_on("web:api"), vec!["b"]);
    // Live on two instances already (a conflict): no single place to keep, the strategy
    // chooses as before (c, the least loaded).
    let (w, deploy) = deployed(&["a", "b", "c"], &[("a", "db"), ("b", "db")]);
    assert_eq!(deploy.tracks[0].pinned.as_deref(), Some("c"));
    assert_eq!(w.running_on("web:api"), vec!["c"]);
}

#[test]
fn deployment_runs_applications_by_start_sequence_then_operation() {
    let mut first = sequenced_app("first", 1);
    first
        .programs
        .push(prog("f", opts(1, true, 0, Rfs::Continue)));
    let c = commander(
        &["a"],
        vec![web_app(Rfs::Continue), first, app("unmanaged")],
    );
    let mut w = World::new(&["a"]);
    w.declare("web", &["db", "api", "tool"], &["a"]);
    w.declare("first", &["f"], &["a"]);
    w.declare("unmanaged", &["u"], &["a"]);
    // A new life: INITIALIZATION marks it, DEPLOYMENT deploys.
    w.to(&[SupvisorsState::Conciliation, SupvisorsState::Initialization]);
    w.settle(&c);
    assert!(w.state.jobs().running().next().is_none());
    w.to(&[SupvisorsState::Deployment]);
    w.settle(&c);
    assert_eq!(w.state.supvisors_state(), SupvisorsState::Operation);
    let deploy = *w
        .jobs_where(|k| matches!(k, JobKind::Deployment { .. }))
        .last()
        .unwrap();
    assert!(deploy.outcome.as_ref().unwrap().ok);
    // web (start_sequence 1) and first (1) in the same stage; tool and u not started.
    assert_eq!(deploy.tracks.len(), 2);
    assert_eq!(w.running_on("first:f"), vec!["a"]);
    assert_eq!(w.running_on("web:api"), vec!["a"]);
    assert!(w.running_on("web:tool").is_empty());
    // A second life deploys again (the marker hides the previous deployment).
    w.to(&[SupvisorsState::Initialization]);
    w.settle(&c);
    w.to(&[SupvisorsState::Deployment]);
    let plan = w.step(&c);
    assert!(
        matches!(plan.ops.as_slice(), [JobOp::Create(j)] if matches!(j.kind, JobKind::Deployment { forced: false }))
    );
    w.settle(&c);
    assert_eq!(w.state.supvisors_state(), SupvisorsState::Operation);
}

#[test]
fn initialization_aborts_running_jobs() {
    let c = commander(&["a"], vec![web_app(Rfs::Continue)]);
    let mut w = web_world(&["a"]);
    w.deaf.insert("a".into());
    let id = w.create(
        c.start_application(&w.state, Config, "web", "", w.now)
            .unwrap(),
    );
    w.step(&c);
    w.to(&[SupvisorsState::Initialization]);
    w.settle(&c);
    let o = w.job(id).outcome.clone().unwrap();
    assert_eq!(o.message, super::plan::ABORTED_REINIT);
}

#[test]
fn instance_loss_restarts_the_process_elsewhere() {
    let c = commander(&["a", "b"], vec![svc_app(&["p"])]);
    let mut w = svc_world(&["a", "b"], &["p"]);
    w.report("b", "svc", "p", Running);
    w.lose("b");
    assert_eq!(
        w.state.jobs().failures().next().unwrap().kind,
        FailureKind::InstanceLost
    );
    let plan = w.step(&c);
    assert!(plan.ops.iter().any(
        |op| matches!(op, JobOp::Create(j) if matches!(j.kind, JobKind::RunningFailure { .. }))
    ));
    assert!(plan
        .ops
        .iter()
        .any(|op| matches!(op, JobOp::AckFailures { .. })));
    w.settle(&c);
    assert_eq!(w.running_on("svc:p"), vec!["a"]);
    assert_eq!(w.state.jobs().failures().count(), 0);
    // Exactly one job was created for it.
    assert_eq!(
        w.jobs_where(|k| matches!(k, JobKind::RunningFailure { .. }))
            .len(),
        1
    );
}

#[test]
fn a_crash_restarts_only_when_supervisor_will_not() {
    let a = svc_app(&["p"]);
    let c = commander(&["a", "b"], vec![a.clone()]);
    let mut w = svc_world(&["a", "b"], &["p"]);
    w.report("a", "svc", "p", Running);
    w.report("a", "svc", "p", Exited); // unexpected exit: autorestart handles it
    w.settle(&c);
    assert!(w.running_on("svc:p").is_empty());
    assert_eq!(w.state.jobs().failures().count(), 0);
    w.report("a", "svc", "p", Running);
    w.report("a", "svc", "p", Fatal);
    w.settle(&c);
    assert_eq!(w.running_on("svc:p"), vec!["a"]);
    // autorestart=false in the catalog: an unexpected exit is restarted too.
    let mut catalog = crate::Catalog::default();
    catalog.insert(entry("svc", "p", 0, false));
    let c = commander_with(&["a", "b"], vec![a], catalog, Default::default());
    w.report("a", "svc", "p", Exited);
    w.settle(&c);
    assert_eq!(w.running_on("svc:p"), vec!["a"]);
}

#[test]
fn stop_application_takes_precedence_over_restarts_in_one_application() {
    let mut a = sequenced_app("app", 1);
    a.programs
        .push(prog("x", opts(1, false, 0, Rfs::RestartProcess)));
    a.programs
        .push(prog("y", opts(1, false, 0, Rfs::StopApplication)));
    a.programs.push(prog("z", opts(1, false, 0, Rfs::Continue)));
    let c = commander(&["a", "b"], vec![a]);
    let mut w = World::new(&["a", "b"]);
    w.declare("app", &["x", "y", "z"], &["a", "b"]);
    w.report("b", "app", "x", Running);
    w.report("b", "app", "y", Running);
    w.report("a", "app", "z", Running);
    w.lose("b");
    let plan = w.step(&c);
    let created: Vec<&data::Job> = plan
        .ops
        .iter()
        .filter_map(|op| match op {
            JobOp::Create(j) => Some(j),
            _ => None,
        })
        .collect();
    assert_eq!(created.len(), 1);
    assert!(created[0]
        .items
        .iter()
        .all(|i| matches!(i.action, data::ItemAction::Stop { .. })));
    w.settle(&c);
    assert!(w.running_on("app:z").is_empty());
    assert!(w.running_on("app:x").is_empty());
}

#[test]
fn restart_process_is_promoted_when_the_application_is_fully_stopped() {
    let mut a = sequenced_app("app", 1);
    a.programs
        .push(prog("x", opts(1, true, 0, Rfs::RestartProcess)));
    a.programs.push(prog("y", opts(2, true, 0, Rfs::Continue)));
    let c = commander(&["a", "b"], vec![a]);
    let mut w = World::new(&["a", "b"]);
    w.declare("app", &["x", "y"], &["a", "b"]);
    w.report("b", "app", "x", Running);
    w.report("b", "app", "y", Running);
    w.lose("b");
    let plan = w.step(&c);
    let job = plan
        .ops
        .iter()
        .find_map(|op| match op {
            JobOp::Create(j) => Some(j),
            _ => None,
        })
        .unwrap();
    // Both x and y (the whole start sequence), not x alone.
    let mut names: Vec<&str> = job.items.iter().map(|i| i.namespec.as_str()).collect();
    names.sort();
    assert_eq!(names, vec!["app:x", "app:y"]);
    w.settle(&c);
    assert_eq!(w.running_on("app:y"), vec!["a"]);
}

#[test]
fn failures_of_an_application_with_a_running_job_wait_for_it() {
    let c = commander(&["a", "b"], vec![web_app(Rfs::RestartApplication)]);
    let mut w = web_world(&["a", "b"]);
    w.report("a", "web", "tool", Running);
    w.deaf.insert("a".into());
    w.deaf.insert("b".into());
    let id = w.create(
        c.start_process(&w.state, Config, "web:db", "", "", w.now)
            .unwrap(),
    );
    w.step(&c);
    w.report("a", "web", "tool", Fatal);
    let plan = w.step(&c);
    assert!(!plan
        .ops
        .iter()
        .any(|op| matches!(op, JobOp::AckFailures { .. } | JobOp::Create(_))));
    assert_eq!(w.state.jobs().failures().count(), 1);
    w.deaf.clear();
    w.settle(&c);
    assert!(w.job(id).outcome.is_some());
    assert_eq!(w.state.jobs().failures().count(), 0);
    assert_eq!(w.running_on("web:api").len(), 1);
}

#[test]
fn shutdown_strategy_runs_the_global_stop_then_final_orders_leader_last() {
    let mut a = app("svc");
    a.stop_sequence = Some(1);
    a.programs.push(prog("p", opts(0, false, 0, Rfs::Shutdown)));
    a.programs.push(prog("q", opts(0, false, 0, Rfs::Continue)));
    let c = commander(&["a", "b", "c"], vec![a]);
    let mut w = World::new(&["a", "b", "c"]);
    w.declare("svc", &["p", "q"], &["a", "b", "c"]);
    w.declare("loose", &["l"], &["c"]);
    w.report("b", "svc", "q", Running);
    w.report("c", "loose", "l", Running);
    w.report("c", "svc", "p", Running);
    w.report("c", "svc", "p", Fatal);
    let plan = w.step(&c);
    assert_eq!(plan.supvisors_state, Some(SupvisorsState::ShuttingDown));
    let mut finals = Vec::new();
    for _ in 0..50 {
        let plan = w.step(&c);
        if plan.supvisors_state == Some(SupvisorsState::Shutdown) {
            finals = plan.orders;
            break;
        }
    }
    assert_eq!(
        finals,
        ["b", "c", "a"]
            .iter()
            .map(|i| Order::Final {
                instance: i.to_string(),
                action: FinalAction::Shutdown
            })
            .collect::<Vec<_>>()
    );
    assert!(w.running_on("svc:q").is_empty() && w.running_on("loose:l").is_empty());
    // svc (stop_sequence 1) before the unmanaged loose (0).
    let stops: Vec<&str> = w
        .log
        .iter()
        .filter_map(|o| match o {
            Order::Stop { namespec, .. } => Some(namespec.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(stops, vec!["svc:q", "loose:l"]);
}

#[test]
fn a_stop_that_never_completes_times_out() {
    let c = commander(&["a"], vec![web_app(Rfs::Continue)]);
    let mut w = web_world(&["a"]);
    w.report("a", "web", "db", Running);
    w.deaf.insert("a".into());
    let id = w.create(c.stop_application(&w.state, "web", "", w.now).unwrap());
    let plan = w.step(&c);
    assert_eq!(
        plan.orders,
        vec![Order::Stop {
            instance: "a".into(),
            namespec: "web:db".into()
        }]
    );
    // Re-sent while stopping.
    assert_eq!(w.step(&c).orders.len(), 1);
    w.now += 10_000 + super::plan::STOPPED_MARGIN_MS + 1;
    w.settle(&c);
    assert_eq!(
        w.job(id).outcome.as_ref().unwrap().message,
        "web:db: process STOPPED event not received in time"
    );
}

#[test]
fn application_state_and_failure_flags() {
    let c = commander(&["a"], vec![web_app(Rfs::Continue)]);
    let mut w = web_world(&["a"]);
    w.declare("loose", &["l"], &["a"]);
    w.report("a", "loose", "l", Running);
    let st = |w: &World| c.application(&w.state, "web").unwrap();
    assert_eq!(st(&w).state, ApplicationState::Stopped);
    assert!(!st(&w).major_failure && !st(&w).minor_failure);
    w.report("a", "web", "db", Running);
    // api (required) merely stopped while the application runs: major.
    assert_eq!(st(&w).state, ApplicationState::Running);
    assert!(st(&w).major_failure);
    w.report("a", "web", "api", Starting);
    assert_eq!(st(&w).state, ApplicationState::Starting);
    assert!(!st(&w).major_failure);
    w.report("a", "web", "api", Running);
    // Outside the start sequence: never a failure (Supvisors 0.14 counts sequenced processes).
    w.report("a", "web", "tool", Running);
    w.report("a", "web", "tool", Exited);
    let s = st(&w);
    assert_eq!(
        (s.state, s.major_failure, s.minor_failure),
        (ApplicationState::Running, false, false)
    );
    // A required step that exited as expected (a `wait_exit` one-shot) is no failure either;
    // an unexpected exit of a required one is major.
    w.report_with("a", "web", "db", Exited, 1, true);
    assert!(!st(&w).major_failure);
    w.report_with("a", "web", "db", Exited, 1, false);
    assert!(st(&w).major_failure);
    w.report("a", "web", "db", Running);
    w.report("a", "web", "api", Stopping);
    assert_eq!(st(&w).state, ApplicationState::Stopping);
    let all = c.applications(&w.state);
    assert_eq!(
        all.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        vec!["loose", "web"]
    );
    assert!(!all[0].managed && all[0].state == ApplicationState::Stopped);
    assert_eq!(ApplicationState::Stopping.code(), 3);
    assert_eq!(ApplicationState::Starting.name(), "STARTING");
}

#[test]
fn builders_raise_supvisors_faults() {
    let c = commander(&["a", "b"], vec![web_app(Rfs::Continue)]);
    let mut w = web_world(&["a", "b"]);
    w.declare("loose", &["l"], &["a"]);
    let code = |r: Result<data::Job, model::Fault>| r.unwrap_err().code;
    assert_eq!(
        code(c.start_application(&w.state, Config, "nope", "a", 0)),
        FaultCode::BadName
    );
    assert_eq!(
        code(c.start_application(&w.state, Config, "loose", "a", 0)),
        FaultCode::NotManaged
    );
    assert_eq!(
        code(c.stop_application(&w.state, "web", "a", 0)),
        FaultCode::NotRunning
    );
    assert_eq!(
        code(c.stop_process(&w.state, "web:db", "a", 0)),
        FaultCode::NotRunning
    );
    assert_eq!(
        code(c.start_process(&w.state, Config, "web:nope", "", "a", 0)),
        FaultCode::BadName
    );
    assert_eq!(
        c.start_process(&w.state, Config, "web:nope", "", "a", 0)
            .unwrap_err()
            .fault_string(),
        "BAD_NAME: process=nope unknown in application=web"
    );
    w.report("b", "web", "db", Running);
    assert_eq!(
        code(c.start_application(&w.state, Config, "web", "a", 0)),
        FaultCode::AlreadyStarted
    );
    assert_eq!(
        code(c.start_process(&w.state, Config, "web:*", "", "a", 0)),
        FaultCode::AlreadyStarted
    );
    assert_eq!(
        code(c.start_args_local(&w.state, "web:db", "", "b", 0)),
        FaultCode::AlreadyStarted
    );
    assert_eq!(
        code(c.start_args_local(&w.state, "loose:l", "", "b", 0)),
        FaultCode::BadName
    );
    w.state.apply(&data::Command::Disable {
        target: data::Target::Instance("a".into()),
        program: "api".into(),
    });
    assert_eq!(
        code(c.start_args_local(&w.state, "web:api", "", "a", 0)),
        FaultCode::Disabled
    );
    assert!(c.stop_application(&w.state, "web", "a", 0).is_ok());
    assert!(c
        .restart_application(&w.state, Config, "web", "a", 0)
        .is_ok());
    // start_any_process: the first matching non-running process that can be placed.
    let (ns, job) = c
        .start_any_process(&w.state, Config, "web:(db|api)", "-x", "a", 0)
        .unwrap();
    assert_eq!(ns, "web:api");
    assert_eq!(job.items.len(), 1);
    assert_eq!(
        c.start_any_process(&w.state, Config, "^web:db$", "", "a", 0)
            .unwrap_err()
            .code,
        FaultCode::BadName
    );
}

#[test]
fn start_args_local_starts_on_the_requester_with_its_arguments() {
    let c = commander(&["a", "b"], vec![web_app(Rfs::Continue)]);
    let mut w = web_world(&["a", "b"]);
    let id = w.create(
        c.start_args_local(&w.state, "web:tool", "-v", "b", w.now)
            .unwrap(),
    );
    w.settle(&c);
    assert!(w.job(id).outcome.as_ref().unwrap().ok);
    assert_eq!(w.running_on("web:tool"), vec!["b"]);
    assert_eq!(w.state.jobs().extra_args("web:tool"), "-v");
    assert!(w.log.contains(&Order::Start {
        instance: "b".into(),
        namespec: "web:tool".into(),
        extra_args: "-v".into()
    }));
}

#[test]
fn disabled_programs_are_never_placed() {
    let c = commander(&["a", "b"], vec![web_app(Rfs::Continue)]);
    let mut w = web_world(&["a", "b"]);
    w.state.apply(&data::Command::Disable {
        target: data::Target::All,
        program: "tool".into(),
    });
    let id = w.create(
        c.start_process(&w.state, Config, "web:tool", "", "", w.now)
            .unwrap(),
    );
    w.settle(&c);
    assert_eq!(
        w.job(id).items[0].state,
        ItemState::Failed {
            reason: "no resource available".into()
        }
    );
    assert!(w.running_on("web:tool").is_empty());
}

fn conflict_world(c: &crate::Commander) -> World {
    let mut w = web_world(&["a", "b", "c"]);
    w.report_with("a", "web", "tool", Running, 100, true);
    w.report_with("b", "web", "tool", Running, 300, true);
    w.report_with("c", "web", "tool", Running, 200, true);
    assert_eq!(c.conflicts(&w.state).len(), 1);
    w
}

#[test]
fn conciliation_strategies_resolve_conflicts() {
    let mk = |s| {
        let mut c = commander(&["a", "b", "c"], vec![web_app(Rfs::RestartProcess)]);
        c.settings.conciliation_strategy = s;
        c
    };
    for (strategy, survivors) in [
        (ConciliationStrategy::Senicide, vec!["b"]),
        (ConciliationStrategy::Infanticide, vec!["a"]),
        (ConciliationStrategy::Stop, vec![]),
        (ConciliationStrategy::Restart, vec!["a"]),
        (ConciliationStrategy::RunningFailure, vec!["a"]),
    ] {
        let c = mk(strategy);
        let mut w = conflict_world(&c);
        let plan = w.step(&c);
        assert_eq!(
            plan.supvisors_state,
            Some(SupvisorsState::Conciliation),
            "{strategy:?}"
        );
        w.settle(&c);
        assert_eq!(
            w.state.supvisors_state(),
            SupvisorsState::Operation,
            "{strategy:?}"
        );
        assert_eq!(w.running_on("web:tool"), survivors, "{strategy:?}");
    }
    // USER: CONCILIATION and nothing else until someone acts.
    let c = mk(ConciliationStrategy::User);
    let mut w = conflict_world(&c);
    w.settle(&c);
    assert_eq!(w.state.supvisors_state(), SupvisorsState::Conciliation);
    assert_eq!(w.running_on("web:tool").len(), 3);
    assert!(c
        .conciliate(&w.state, ConciliationStrategy::User, "a", 0)
        .is_none());
    let job = c
        .conciliate(&w.state, ConciliationStrategy::Senicide, "a", w.now)
        .unwrap();
    w.create(job);
    w.settle(&c);
    assert_eq!(w.running_on("web:tool"), vec!["b"]);
    assert_eq!(w.state.supvisors_state(), SupvisorsState::Operation);
}

#[test]
fn unmanaged_conflicts_are_not_conflicts() {
    let c = commander(&["a", "b"], vec![]);
    let mut w = World::new(&["a", "b"]);
    w.declare("loose", &["l"], &["a", "b"]);
    w.report("a", "loose", "l", Running);
    w.report("b", "loose", "l", Running);
    assert!(c.conflicts(&w.state).is_empty());
    assert!(w.step(&c).is_empty());
}

#[test]
fn test_start_application_is_a_dry_run() {
    let c = commander(&["a", "b"], vec![web_app(Rfs::Continue)]);
    let mut w = web_world(&["a", "b"]);
    let mut hog = app("hog");
    hog.programs
        .push(prog("h", opts(0, false, 70, Rfs::Continue)));
    let c2 = commander(&["a", "b"], vec![web_app(Rfs::Continue), hog]);
    w.declare("hog", &["h"], &["a", "b"]);
    w.report("b", "hog", "h", Running);
    let t = c2.test_start_application(&w.state, Config, "web").unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(
        (t[0].process_name.as_str(), t[0].running_identifiers.clone()),
        ("db", vec!["a".to_string()])
    );
    // a has 40 % from db, b 70 %: api (40 %) still fits on a.
    assert_eq!(t[1].running_identifiers, vec!["a".to_string()]);
    w.report("a", "hog", "h", Running);
    let t = c2.test_start_application(&w.state, Config, "web").unwrap();
    assert!(t
        .iter()
        .all(|p| p.state == Fatal && p.forced_reason == "no resource available"));
    assert!(w.state.jobs().all().next().is_none());
    assert_eq!(
        c.test_start_application(&w.state, Config, "hog")
            .unwrap_err()
            .code,
        FaultCode::NotManaged
    );
}

#[test]
fn fence_policy_lists_what_the_majority_would_restart() {
    let mut a = app("svc");
    a.programs
        .push(prog("moves", opts(0, false, 0, Rfs::RestartProcess)));
    a.programs
        .push(prog("stays", opts(0, false, 0, Rfs::Continue)));
    let c = commander(&["a", "b"], vec![a]);
    let mut w = World::new(&["a", "b"]);
    w.declare("svc", &["moves", "stays"], &["a", "b"]);
    w.report("a", "svc", "moves", Running);
    w.report("a", "svc", "stays", Running);
    let live = ["svc:moves".to_string(), "svc:stays".to_string()];
    assert_eq!(
        c.fence_policy(&w.state, "a", &live),
        vec!["svc:moves".to_string()]
    );
    assert!(c.fence_policy(&w.state, "b", &[]).is_empty());
}

#[test]
fn restart_process_moves_a_running_process() {
    let c = commander(&["a", "b"], vec![web_app(Rfs::Continue)]);
    let mut w = web_world(&["a", "b"]);
    w.report("a", "web", "tool", Running);
    let id = w.create(
        c.restart_process(&w.state, LessLoaded, "web:tool", "", "", w.now)
            .unwrap(),
    );
    w.settle(&c);
    assert!(w.job(id).outcome.as_ref().unwrap().ok);
    assert_eq!(w.running_on("web:tool").len(), 1);
    let stop_pos = w
        .log
        .iter()
        .position(|o| matches!(o, Order::Stop { .. }))
        .unwrap();
    let start_pos = w
        .log
        .iter()
        .position(|o| matches!(o, Order::Start { .. }))
        .unwrap();
    assert!(stop_pos < start_pos);
}

#[test]
fn single_node_pins_a_node_and_places_each_process_on_its_instances() {
    let nodes: std::collections::BTreeMap<String, String> = [("a", "h1"), ("b", "h2"), ("c", "h2")]
        .iter()
        .map(|(i, n)| (i.to_string(), n.to_string()))
        .collect();
    let mut a = with_distribution(web_app(Rfs::Continue), DistributionRule::SingleNode);
    a.starting_strategy = Some(LessLoadedNode);
    let mut hog = app("hog");
    hog.programs
        .push(prog("h", opts(0, false, 50, Rfs::Continue)));
    let c = commander_with(&["a", "b", "c"], vec![a, hog], Default::default(), nodes);
    let mut w = web_world(&["a", "b", "c"]);
    w.declare("hog", &["h"], &["a"]);
    w.report("a", "hog", "h", Running);
    let id = w.create(
        c.start_application(&w.state, LessLoadedNode, "web", "", w.now)
            .unwrap(),
    );
    w.settle(&c);
    assert!(w.job(id).outcome.as_ref().unwrap().ok);
    // Node h2 (b, c) chosen; db and api spread over its instances (LESS_LOADED_NODE, then
    // the least loaded instance of the node).
    assert_eq!(w.running_on("web:db"), vec!["b"]);
    assert_eq!(w.running_on("web:api"), vec!["c"]);
}

#[test]
fn local_means_the_requester_for_users_and_the_leader_for_automatic_starts() {
    let c = commander(&["a", "b"], vec![web_app(Rfs::Continue)]);
    let mut w = web_world(&["a", "b"]);
    w.create(
        c.start_process(&w.state, Local, "web:tool", "", "b", w.now)
            .unwrap(),
    );
    w.create(
        c.start_process(&w.state, Local, "web:db", "", "", w.now)
            .unwrap(),
    );
    w.settle(&c);
    assert_eq!(w.running_on("web:tool"), vec!["b"]);
    assert_eq!(w.running_on("web:db"), vec!["a"]); // leader = settings.local = a
}

#[test]
fn wait_exit_items_are_done_on_an_expected_exit_only() {
    let mut a = sequenced_app("batch", 1);
    let mut o = opts(1, true, 0, Rfs::Continue);
    o.wait_exit = Some(true);
    a.programs.push(prog("init", o));
    a.programs
        .push(prog("run", opts(2, true, 0, Rfs::Continue)));
    let c = commander(&["a"], vec![a]);
    let mut w = World::new(&["a"]);
    w.declare("batch", &["init", "run"], &["a"]);
    let id = w.create(
        c.start_application(&w.state, Config, "batch", "", w.now)
            .unwrap(),
    );
    w.settle(&c);
    // init RUNNING: the sequence waits for its exit.
    assert_eq!(w.state_of("a", "batch:init"), Some(Running));
    assert_eq!(w.state_of("a", "batch:run"), Some(Stopped));
    assert!(w.job(id).outcome.is_none());
    w.report_with("a", "batch", "init", Exited, w.now / 1000, true);
    w.settle(&c);
    assert_eq!(w.state_of("a", "batch:run"), Some(Running));
    assert!(w.job(id).outcome.is_some());
}

#[test]
fn losing_the_instance_of_a_placed_start_fails_the_item() {
    let c = commander(&["a", "b"], vec![web_app(Rfs::Continue)]);
    let mut w = web_world(&["a", "b"]);
    w.deaf.insert("a".into());
    let id = w.create(
        c.start_process(&w.state, Config, "web:db", "", "", w.now)
            .unwrap(),
    );
    w.step(&c);
    // a stopped ticking after it got the order: SILENT, it may be cut off and starting
    // web:db until its fence stops it. Neither failed nor placed elsewhere meanwhile.
    w.go_silent("a");
    w.settle(&c);
    assert!(
        matches!(&w.job(id).items[0].state, ItemState::Placed { instance, .. } if instance == "a"),
        "{:?}",
        w.job(id).items[0].state
    );
    assert!(w.running_on("web:db").is_empty());
    // Declared lost: the item fails, as in Supvisors.
    w.lose("a");
    w.settle(&c);
    assert_eq!(
        w.job(id).items[0].state,
        ItemState::Failed {
            reason: "Supervisor a lost".into()
        }
    );
    // Not restarted by the job itself (Supvisors drops the job); the failure was acked.
    assert_eq!(w.state.jobs().failures().count(), 0);
}

#[test]
fn a_silent_instance_keeps_its_processes_until_declared_lost() {
    // p runs on c, which goes SILENT: no failure, no restart elsewhere (c may still run it);
    // once c is declared lost, RESTART_PROCESS starts it on another instance.
    let c = commander(&["a", "b", "c"], vec![svc_app(&["p"])]);
    let mut w = svc_world(&["a", "b", "c"], &["p"]);
    w.report("c", "svc", "p", Running);
    w.go_silent("c");
    w.settle(&c);
    assert_eq!(w.state.jobs().failures().count(), 0);
    assert!(!w
        .state
        .jobs()
        .all()
        .any(|j| matches!(j.kind, JobKind::RunningFailure { .. })));
    assert_eq!(w.running_on("svc:p"), vec!["c"]);
    w.lose("c");
    w.settle(&c);
    assert_eq!(w.running_on("svc:p"), vec!["a"]);
}

/// svc:p (RESTART_PROCESS) ran on `lost`, which is lost; the strategy's restart is placed on
/// `deaf` (first in CONFIG order), which gets its order and says nothing. Returns the world,
/// the commander and the running failure job.
fn restart_placed_on_a_silent_instance(
    instances: &[&str],
    lost: &str,
    deaf: &str,
) -> (World, Commander, data::JobId) {
    restart_placed_next_to(instances, lost, deaf, &[])
}

/// [`restart_placed_on_a_silent_instance`], with `others` (more RESTART_PROCESS programs of
/// svc) running on `deaf`.
fn restart_placed_next_to(
    instances: &[&str],
    lost: &str,
    deaf: &str,
    others: &[&str],
) -> (World, Commander, data::JobId) {
    let names: Vec<&str> = std::iter::once("p").chain(others.iter().copied()).collect();
    let c = commander(instances, vec![svc_app(&names)]);
    let mut w = svc_world(instances, &names);
    w.report(lost, "svc", "p", Running);
    for other in others {
        w.report(deaf, "svc", other, Running);
    }
    w.deaf.insert(deaf.into());
    w.lose(lost);
    w.step(&c);
    w.step(&c);
    let job = first_running_failure_job(&w);
    assert!(
        matches!(&w.job(job).items[0].state, ItemState::Placed { instance, .. } if instance == deaf),
        "{:?}",
        w.job(job).items
    );
    (w, c, job)
}

/// The oldest running failure job.
fn first_running_failure_job(w: &World) -> data::JobId {
    w.jobs_where(|k| matches!(k, JobKind::RunningFailure { .. }))
        .first()
        .expect("a running failure job")
        .id
}

/// `a`, deaf until now, answers again: the restart of svc:p runs there and its item is done.
fn a_answers_and_runs_the_restart(w: &mut World, c: &Commander, job: data::JobId) {
    w.deaf.remove("a");
    w.settle(c);
    assert_eq!(w.running_on("svc:p"), vec!["a"]);
    assert_eq!(w.job(job).items[0].state, ItemState::Done);
}

#[test]
fn a_running_failure_restart_whose_instance_is_lost_is_placed_again() {
    // p runs on c; c is lost, and the strategy's restart is placed on a, which never answers
    // and is lost in turn (a second fault during the restart): the restart goes to b instead
    // of failing, so the application is not left down.
    let (mut w, c, job) = restart_placed_on_a_silent_instance(&["a", "b", "c"], "c", "a");
    w.lose("a");
    w.settle(&c);
    assert_eq!(w.running_on("svc:p"), vec!["b"]);
    assert_eq!(w.job(job).items[0].state, ItemState::Done);
}

#[test]
fn a_running_failure_restart_fenced_on_its_instance_is_placed_again() {
    // The restart is placed on a, which is cut off from the quorum before it can report the
    // start: its fence stops the process, and it reports the fence when contact returns. The
    // start goes back to be placed (here on a again, back in touch) instead of waiting for
    // the STARTING timeout and failing.
    let (mut w, c, job) = restart_placed_on_a_silent_instance(&["a", "b"], "b", "a");
    let ItemState::Placed {
        at_ms: placed_at, ..
    } = w.job(job).items[0].state.clone()
    else {
        unreachable!("checked by the helper")
    };
    let losses = w.state.instance("a").expect("a").losses;
    w.state.apply(&data::Command::Fenced {
        instance: "a".into(),
        losses,
        stopped: runs_as_recorded(&w.state, "a", &["svc:p"]),
    });
    w.deaf.remove("a");
    // The next round places it anew (the executor sends a new placement's order once), not
    // the old placement waiting out its STARTING timeout.
    w.step(&c);
    w.step(&c);
    assert!(
        matches!(&w.job(job).items[0].state,
            ItemState::Placed { at_ms, .. } if *at_ms > placed_at),
        "{:?}",
        w.job(job).items[0].state
    );
    w.settle(&c);
    assert_eq!(w.running_on("svc:p"), vec!["a"]);
    assert_eq!(w.job(job).items[0].state, ItemState::Done);
}

/// The runs of `namespecs` on `instance` as the replica records them: what a fence that
/// stopped them now reports.
fn runs_as_recorded(
    state: &data::ClusterState,
    instance: &str,
    namespecs: &[&str],
) -> Vec<data::StoppedRun> {
    namespecs
        .iter()
        .map(|namespec| {
            let status = state.process(instance, namespec);
            data::StoppedRun {
                namespec: namespec.to_string(),
                pid: status.map_or(0, |s| s.pid),
                start: status.map_or(0, |s| s.start),
            }
        })
        .collect()
}

#[test]
fn a_fence_report_behind_a_held_failure_places_the_restart_again_once() {
    // a's fence stops q (not in the restart job) and p (the restart's start, placed on a).
    // q's failure waits for the job to end; p's, queued behind it, is dropped as its start
    // is placed again, instead of being found at every round (which placed p again for
    // ever, one commit every few milliseconds, seen in the chaos suite's packet loss).
    let (mut w, c, job) = restart_placed_next_to(&["a", "b"], "b", "a", &["q"]);
    let losses = w.state.instance("a").expect("a").losses;
    w.state.apply(&data::Command::Fenced {
        instance: "a".into(),
        losses,
        stopped: runs_as_recorded(&w.state, "a", &["svc:q", "svc:p"]),
    });
    a_answers_and_runs_the_restart(&mut w, &c, job);
    // q's failure, held while the job ran, is handled once it ended.
    assert_eq!(w.running_on("svc:q"), vec!["a"]);
    assert_eq!(w.state.jobs().failures().count(), 0);
}

#[test]
fn a_running_failure_restart_stopped_by_a_fence_is_placed_again() {
    // The restart runs on a, then a's fence stops it (a was cut off meanwhile, and the
    // majority declared it lost before its fence report could count): placed again, not a
    // starting failure ("STOPPED on a") that would leave the application down.
    let (mut w, c, job) = restart_placed_on_a_silent_instance(&["a", "b"], "b", "a");
    w.report("a", "svc", "p", Starting);
    w.report("a", "svc", "p", Stopped);
    a_answers_and_runs_the_restart(&mut w, &c, job);
}

#[test]
fn a_user_start_whose_instance_is_lost_fails_as_in_supvisors() {
    // The same loss under a start a user asked for: a starting failure (Supvisors'
    // on_nodes_invalidation), not placed again.
    let c = commander(&["a", "b"], vec![svc_app(&["p"])]);
    let mut w = svc_world(&["a", "b"], &["p"]);
    w.deaf.insert("a".into());
    let id = w.create(
        c.start_process(&w.state, Config, "svc:p", "", "", w.now)
            .unwrap(),
    );
    w.step(&c);
    w.lose("a");
    w.settle(&c);
    assert!(w.running_on("svc:p").is_empty());
    assert!(matches!(w.job(id).items[0].state, ItemState::Failed { .. }));
}

#[test]
fn a_restart_strategy_crash_and_a_shutdown_strategy_loss_stop_the_cluster() {
    let mut a = app("svc");
    a.programs.push(prog("p", opts(0, false, 0, Rfs::Restart)));
    let c = commander(&["a", "b"], vec![a]);
    let mut w = World::new(&["a", "b"]);
    w.declare("svc", &["p"], &["a", "b"]);
    w.report("b", "svc", "p", Running);
    w.report("b", "svc", "p", Exited);
    assert_eq!(w.step(&c).supvisors_state, Some(SupvisorsState::Restarting));
    w.settle(&c);
    assert_eq!(w.state.supvisors_state(), SupvisorsState::Restart);
    // Instance loss with SHUTDOWN: applied too (deliberate difference with Supvisors).
    let mut a = app("svc");
    a.programs.push(prog("p", opts(0, false, 0, Rfs::Shutdown)));
    let c = commander(&["a", "b"], vec![a]);
    let mut w = World::new(&["a", "b"]);
    w.declare("svc", &["p"], &["a", "b"]);
    w.report("b", "svc", "p", Running);
    w.lose("b");
    assert_eq!(
        w.step(&c).supvisors_state,
        Some(SupvisorsState::ShuttingDown)
    );
}

#[test]
fn global_stop_steps_follow_the_program_stop_sequence_greatest_first() {
    let mut a = app("svc");
    let mut first = opts(0, false, 0, Rfs::Continue);
    first.stop_sequence = Some(5);
    let mut last = opts(0, false, 0, Rfs::Continue);
    last.stop_sequence = Some(1);
    a.programs.push(prog("late", last));
    a.programs.push(prog("early", first));
    let c = commander(&["a"], vec![a]);
    let mut w = World::new(&["a"]);
    w.declare("svc", &["late", "early"], &["a"]);
    w.report("a", "svc", "late", Running);
    w.report("a", "svc", "early", Running);
    let job = c.global_stop(&w.state, FinalAction::Restart, "a", w.now);
    w.create(job);
    w.to(&[SupvisorsState::Restarting]);
    w.settle(&c);
    let stops: Vec<&str> = w
        .log
        .iter()
        .filter_map(|o| match o {
            Order::Stop { namespec, .. } => Some(namespec.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(stops, vec!["svc:early", "svc:late"]);
    assert_eq!(w.state.supvisors_state(), SupvisorsState::Restart);
    // The front end's job was used: no second global stop.
    assert_eq!(
        w.jobs_where(|k| matches!(k, JobKind::GlobalStop { .. }))
            .len(),
        1
    );
}

#[test]
fn conciliation_ends_when_a_user_resolves_the_conflict() {
    let c = commander(&["a", "b", "c"], vec![web_app(Rfs::Continue)]);
    let mut w = conflict_world(&c);
    w.settle(&c);
    assert_eq!(w.state.supvisors_state(), SupvisorsState::Conciliation);
    w.report("a", "web", "tool", Stopped);
    w.report("b", "web", "tool", Stopped);
    w.settle(&c);
    assert_eq!(w.state.supvisors_state(), SupvisorsState::Operation);
}

#[test]
fn fault_strings_follow_supvisors() {
    let c = commander(&["a"], vec![web_app(Rfs::Continue)]);
    let w = web_world(&["a"]);
    let s = |r: Result<data::Job, model::Fault>| r.unwrap_err().fault_string();
    assert_eq!(
        s(c.start_application(&w.state, Config, "x", "a", 0)),
        "BAD_NAME: x"
    );
    assert_eq!(
        s(c.restart_application(&w.state, Config, "x", "a", 0)),
        "BAD_NAME: application x unknown to Supvisors"
    );
    assert_eq!(
        s(c.stop_application(&w.state, "web", "a", 0)),
        "NOT_RUNNING: web"
    );
    assert_eq!(
        c.start_any_process(&w.state, Config, "zz", "", "a", 0)
            .unwrap_err()
            .fault_string(),
        "BAD_NAME: no candidate process matching \"zz\""
    );
}

#[test]
fn leaders_changing_every_round_never_start_a_process_twice() {
    let mut other = sequenced_app("other", 2);
    other
        .programs
        .push(prog("o1", opts(1, true, 20, Rfs::Continue)));
    other
        .programs
        .push(prog("o2", opts(2, false, 20, Rfs::Continue)));
    let apps = vec![web_app(Rfs::Continue), other];
    let leaders = [
        commander(&["a", "b", "c"], apps.clone()),
        commander(&["b", "c", "a"], apps.clone()),
        commander(&["c", "a", "b"], apps),
    ];
    let mut w = web_world(&["a", "b", "c"]);
    w.declare("other", &["o1", "o2"], &["a", "b", "c"]);
    w.to(&[SupvisorsState::Initialization]);
    for round in 0..300 {
        let c = &leaders[round % leaders.len()];
        // Sometimes a leader's plan is lost before it commits (it crashed).
        let plan = c.plan(&w.state, w.now);
        if round % 7 != 3 {
            w.commit(&plan);
            w.execute(&plan.orders);
        }
        w.now += 100;
        if round == 5 {
            w.to(&[SupvisorsState::Deployment]);
        }
        for ns in ["web:db", "web:api", "other:o1", "other:o2"] {
            assert!(w.running_on(ns).len() <= 1, "{ns} started twice");
        }
    }
    assert_eq!(w.state.supvisors_state(), SupvisorsState::Operation);
    for ns in ["web:db", "web:api", "other:o1", "other:o2"] {
        assert_eq!(w.running_on(ns).len(), 1, "{ns}");
    }
    // Each process was ordered to start on one instance only.
    let mut targets =
        std::collections::BTreeMap::<String, std::collections::BTreeSet<String>>::new();
    for o in &w.log {
        if let Order::Start {
            instance, namespec, ..
        } = o
        {
            targets
                .entry(namespec.clone())
                .or_default()
                .insert(instance.clone());
        }
    }
    assert!(targets.values().all(|s| s.len() == 1), "{targets:?}");
}

#[test]
fn two_jobs_starting_the_same_process_start_it_once() {
    let c = commander(&["a", "b"], vec![web_app(Rfs::Continue)]);
    let mut w = web_world(&["a", "b"]);
    // LOCAL: each request would land on its own requester.
    let first = c
        .start_process(&w.state, Local, "web:db", "", "a", w.now)
        .unwrap();
    let second = c
        .start_process(&w.state, Local, "web:db", "", "b", w.now)
        .unwrap();
    let (id1, id2) = (w.create(first), w.create(second));
    w.settle(&c);
    let starts = w
        .log
        .iter()
        .filter(|o| matches!(o, Order::Start { namespec, .. } if namespec == "web:db"))
        .count();
    assert_eq!(starts, 1, "{:?}", w.log);
    assert_eq!(w.running_on("web:db").len(), 1);
    for id in [id1, id2] {
        assert!(
            w.job(id).outcome.as_ref().is_some_and(|o| o.ok),
            "{:?}",
            w.job(id)
        );
    }
}

#[test]
fn an_instance_joining_repairs_the_applications_that_could_not_start() {
    let mut pinned = sequenced_app("pinned", 1);
    pinned
        .programs
        .push(prog("p", opts(1, true, 0, Rfs::Continue)));
    let mut idle = sequenced_app("idle", 1);
    idle.programs
        .push(prog("i", opts(1, true, 0, Rfs::Continue)));
    let c = commander(&["a", "b"], vec![pinned, idle]);
    // Only a is up: idle ran and was stopped by a user (it has a start time); pinned's only
    // host, b, is down.
    let mut w = World::new(&["a"]);
    w.report("a", "idle", "i", Stopped);
    w.settle(&c);
    assert!(w.state.jobs().all().next().is_none(), "no instance joined");
    assert!(!w.state.redeploy_pending());

    // b joins and reports pinned:p, never started.
    w.join("b");
    w.report_with("b", "pinned", "p", Stopped, 0, true);
    assert!(w.state.redeploy_pending());
    let plan = w.step(&c);
    assert_eq!(plan.supvisors_state, Some(SupvisorsState::Deployment));
    assert!(
        !w.state.redeploy_pending(),
        "the Deployment job clears the mark"
    );
    w.settle(&c);
    assert_eq!(w.state.supvisors_state(), SupvisorsState::Operation);
    assert_eq!(w.running_on("pinned:p"), vec!["b"]);
    assert!(
        w.running_on("idle:i").is_empty(),
        "a user-stopped application stays stopped"
    );

    // b leaves and comes back: nothing to repair, so no DEPLOYMENT, only the mark cleared.
    w.lose("b");
    w.settle(&c);
    w.join("b");
    w.report("b", "pinned", "p", Running);
    w.settle(&c);
    assert_eq!(w.state.supvisors_state(), SupvisorsState::Operation);
    assert!(!w.state.redeploy_pending());
    assert!(w.running_on("idle:i").is_empty());
}

#[test]
fn fence_policy_mirrors_what_losing_the_instance_restarts() {
    let mut part = app("part");
    part.programs
        .push(prog("p1", opts(0, false, 0, Rfs::RestartProcess)));
    part.programs
        .push(prog("p2", opts(1, false, 0, Rfs::Continue)));
    let mut seq = app("seq");
    for (n, name) in ["first", "second", "third"].iter().enumerate() {
        seq.programs
            .push(prog(name, opts(n as u8 + 1, false, 0, Rfs::RestartProcess)));
    }
    let mut whole = app("whole");
    whole
        .programs
        .push(prog("w1", opts(0, false, 0, Rfs::RestartApplication)));
    whole
        .programs
        .push(prog("w2", opts(0, false, 0, Rfs::Continue)));
    let c = commander(&["a", "b"], vec![part, seq, whole]);
    let mut w = World::new(&["a", "b"]);
    w.declare("part", &["p1", "p2"], &["a", "b"]);
    w.declare("seq", &["first", "second", "third"], &["a", "b"]);
    w.declare("whole", &["w1", "w2"], &["a", "b"]);
    // Only a knows this one: nothing could host it elsewhere.
    w.declare("whole", &["w3"], &["a"]);
    let live: Vec<String> = [
        "part:p1",
        "part:p2",
        "seq:first",
        "seq:second",
        "seq:third",
        "whole:w1",
        "whole:w2",
        "whole:w3",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // The replica has not seen seq:third start yet: what runs locally counts.
    for ns in &live[..live.len() - 2] {
        let (g, n) = ns.split_once(':').unwrap();
        if ns != "seq:third" {
            w.report("a", g, n, Running);
        }
    }
    // part:p2 also runs on b: part is not left empty, so p1 alone is restarted.
    w.report("b", "part", "p2", Running);
    let fenced = c.fence_policy(&w.state, "a", &live);
    assert_eq!(
        fenced,
        [
            "part:p1",
            "seq:first",
            "seq:second",
            "seq:third",
            "whole:w1",
            "whole:w2"
        ]
    );
    // With part:p2 gone from b and p1 in no start sequence: still p1 alone (no promotion).
    w.report("b", "part", "p2", Stopped);
    assert!(!c
        .fence_policy(&w.state, "a", &live)
        .contains(&"part:p2".to_string()));
    // Only live processes are candidates.
    assert_eq!(
        c.fence_policy(&w.state, "a", &["seq:first".to_string()]),
        ["seq:first"]
    );
    // RESTART anywhere: the cluster restarts and deploys everything again.
    let mut global = app("global");
    global
        .programs
        .push(prog("g", opts(0, false, 0, Rfs::Restart)));
    let mut keep = app("keep");
    keep.programs
        .push(prog("k", opts(0, false, 0, Rfs::Continue)));
    let c = commander(&["a", "b"], vec![global, keep]);
    let mut w = World::new(&["a", "b"]);
    w.declare("global", &["g"], &["a", "b"]);
    w.declare("keep", &["k"], &["a", "b"]);
    let live = ["global:g".to_string(), "keep:k".to_string()];
    assert_eq!(c.fence_policy(&w.state, "a", &live), ["global:g", "keep:k"]);
    assert!(c.fence_policy(&w.state, "a", &live[1..]).is_empty());
}

#[test]
fn fence_policy_promotes_to_the_whole_application_when_nothing_is_left() {
    let mut part = app("part");
    part.programs
        .push(prog("p1", opts(1, false, 0, Rfs::RestartProcess)));
    part.programs
        .push(prog("p2", opts(2, false, 0, Rfs::Continue)));
    let c = commander(&["a", "b"], vec![part]);
    let mut w = World::new(&["a", "b"]);
    w.declare("part", &["p1", "p2"], &["a", "b"]);
    w.report("a", "part", "p1", Running);
    w.report("a", "part", "p2", Running);
    let live = ["part:p1".to_string(), "part:p2".to_string()];
    assert_eq!(c.fence_policy(&w.state, "a", &live), ["part:p1", "part:p2"]);
    w.report("b", "part", "p2", Running);
    assert_eq!(c.fence_policy(&w.state, "a", &live), ["part:p1"]);
}

/// a and b deployed `web` (db then api, on a), in OPERATION.
fn deployed_web() -> (Commander, World) {
    let c = commander(&["a", "b"], vec![web_app(Rfs::Continue)]);
    let mut w = World::new(&["a", "b"]);
    w.declare("web", &["db", "api", "tool"], &["a", "b"]);
    w.to(&[SupvisorsState::Initialization]);
    w.settle(&c);
    w.to(&[SupvisorsState::Deployment]);
    w.settle(&c);
    assert_eq!(w.state.supvisors_state(), SupvisorsState::Operation);
    assert_eq!(w.running_on("web:db").len(), 1);
    (c, w)
}

#[test]
fn a_full_restart_runs_the_deployment_again_once() {
    let (c, mut w) = deployed_web();
    // Only a restarts: the life goes on (b never ran anything, but it did not restart).
    w.restart("a");
    w.settle(&c);
    assert_eq!(w.state.supvisors_state(), SupvisorsState::Operation);
    assert!(
        w.running_on("web:db").is_empty(),
        "a restart alone redeploys nothing"
    );
    // b restarts too: every deployed instance did, the state machine begins a new life.
    w.restart("b");
    assert_eq!(w.state.supvisors_state(), SupvisorsState::Initialization);
    w.settle(&c);
    w.to(&[SupvisorsState::Deployment]);
    w.settle(&c);
    assert_eq!(w.state.supvisors_state(), SupvisorsState::Operation);
    for ns in ["web:db", "web:api"] {
        assert_eq!(w.running_on(ns).len(), 1, "{ns} runs exactly once");
    }
    assert!(w.running_on("web:tool").is_empty());
    let starts = w
        .log
        .iter()
        .filter(|o| matches!(o, Order::Start { namespec, .. } if namespec == "web:db"))
        .count();
    assert_eq!(starts, 2, "once per life");
    // Nothing more happens once settled: no third deployment.
    w.settle(&c);
    assert_eq!(w.state.full_restarts(), 1);
}

#[test]
fn a_deployment_that_overtakes_initialization_still_deploys_and_drops_the_old_jobs() {
    let (c, mut w) = deployed_web();
    // A job of the old life is under way (deaf instances never stop anything).
    w.deaf.insert("a".into());
    w.deaf.insert("b".into());
    let old = w.create(c.stop_application(&w.state, "web", "", w.now).unwrap());
    w.step(&c);
    assert!(w.job(old).outcome.is_none());
    w.deaf.clear();
    w.restart("a");
    w.restart("b");
    assert_eq!(w.state.supvisors_state(), SupvisorsState::Initialization);
    // The liveness book moves on to DEPLOYMENT before the commander's INITIALIZATION round
    // was committed: the finished Deployment job of the old life must not end DEPLOYMENT,
    // and the old job must not go on.
    w.to(&[SupvisorsState::Deployment]);
    w.settle(&c);
    assert_eq!(w.state.supvisors_state(), SupvisorsState::Operation);
    assert_eq!(
        w.job(old).outcome.as_ref().map(|o| o.message.as_str()),
        Some(super::plan::ABORTED_REINIT)
    );
    for ns in ["web:db", "web:api"] {
        assert_eq!(w.running_on(ns).len(), 1, "{ns} runs exactly once");
    }
}

#[test]
fn a_snapshot_older_than_the_start_order_is_not_its_outcome() {
    // A joining instance's full snapshot, taken just before the start order reached it and
    // committed just after the order was placed, shows the process STOPPED as it was: the item
    // waits for the real outcome instead of failing ("STOPPED on a").
    let c = commander(&["a"], vec![web_app(Rfs::Continue)]);
    let mut w = web_world(&["a"]);
    w.now = 50_000;
    let id = w.create(
        c.start_process(&w.state, Config, "web:db", "", "", w.now)
            .unwrap(),
    );
    // The order is placed; a does not carry it out yet.
    w.deaf.insert("a".into());
    w.step(&c);
    assert!(matches!(w.job(id).items[0].state, ItemState::Placed { .. }));
    // The old snapshot: STOPPED, last started long before the order.
    w.report_with("a", "web", "db", Stopped, 10, true);
    w.step(&c);
    assert!(
        matches!(w.job(id).items[0].state, ItemState::Placed { .. }),
        "{:?}",
        w.job(id).items[0].state
    );
    // A STOPPED that follows a start at or after the order is its outcome.
    w.report_with("a", "web", "db", Stopped, w.now / 1000, true);
    w.step(&c);
    assert_eq!(
        w.job(id).items[0].state,
        ItemState::Failed {
            reason: "STOPPED on a".into()
        }
    );
}

#[test]
fn a_fenced_process_whose_restart_item_was_done_is_restarted_after_the_job() {
    // seq (first, second, third in sequence, RESTART_PROCESS) restarted on a after b's loss;
    // first is RUNNING (its item Done) while second's start waits on a; then a is cut off and
    // its fence stops first: its report comes while the job still runs. Once the job ends,
    // first must run again (seen in a chaos run under packet loss: it stayed stopped).
    let mut app = sequenced_app("seq", 1);
    for (i, name) in ["first", "second", "third"].iter().enumerate() {
        app.programs
            .push(prog(name, opts(i as u8 + 1, true, 0, Rfs::RestartProcess)));
    }
    let c = commander(&["a", "b"], vec![app]);
    let mut w = World::new(&["a", "b"]);
    w.declare("seq", &["first", "second", "third"], &["a", "b"]);
    for name in ["first", "second", "third"] {
        w.report("b", "seq", name, Running);
    }
    w.lose("b");
    let mut rounds = 0;
    while w.state_of("a", "seq:first") != Some(Running) {
        w.step(&c);
        rounds += 1;
        assert!(rounds < 50, "first never restarted on a");
    }
    w.deaf.insert("a".into());
    w.step(&c);
    w.step(&c);
    let job = w
        .jobs_where(|k| matches!(k, JobKind::RunningFailure { .. }))
        .last()
        .expect("the restart job")
        .id;
    assert!(w.job(job).outcome.is_none(), "the job still runs");
    let stopped = runs_as_recorded(&w.state, "a", &["seq:first"]);
    let losses = w.state.instance("a").expect("a").losses;
    let report = data::Command::Fenced {
        instance: "a".into(),
        losses,
        stopped,
    };
    // Its stop committed before the report (as the fence waits for), or after it.
    let mut after = w.clone();
    w.report("a", "seq", "first", Stopped);
    w.state.apply(&report);
    after.state.apply(&report);
    after.report("a", "seq", "first", Stopped);
    for mut w in [w, after] {
        w.deaf.remove("a");
        w.settle(&c);
        assert!(w.job(job).outcome.is_some(), "the job ended");
        assert_eq!(w.running_on("seq:first"), vec!["a"]);
        assert_eq!(w.running_on("seq:second"), vec!["a"]);
    }
}

#[test]
fn restarted_processes_of_a_single_instance_application_join_the_rest_of_it() {
    // `seq` (SINGLE_INSTANCE, LESS_LOADED) runs on b; two of its processes fail for good
    // while the third still runs there. Placed each on its own, the less loaded a would take
    // them and split the application over two instances: they must go back to b.
    let mut a = with_distribution(app("seq"), DistributionRule::SingleInstance);
    a.starting_strategy = Some(LessLoaded);
    for name in ["p1", "p2", "p3"] {
        a.programs
            .push(prog(name, opts(0, false, 20, Rfs::RestartProcess)));
    }
    let c = commander(&["a", "b"], vec![a]);
    let mut w = World::new(&["a", "b"]);
    w.declare("seq", &["p1", "p2", "p3"], &["a", "b"]);
    for name in ["p1", "p2", "p3"] {
        w.report("b", "seq", name, Running);
    }
    w.report("b", "seq", "p1", Fatal);
    w.report("b", "seq", "p2", Fatal);
    w.settle(&c);
    for name in ["seq:p1", "seq:p2", "seq:p3"] {
        assert_eq!(w.running_on(name), vec!["b"], "{name}");
    }
}

#[test]
fn a_running_failure_restart_whose_order_gets_no_answer_is_placed_again() {
    // The restart is placed on a, which stays RUNNING (its ticks get through) but never
    // answers the order (the leader's connections to it fail under packet loss). Failing
    // it at the STARTING timeout left the application down for good (chaos/ packet loss):
    // the start is placed again, and runs once a answers.
    let (mut w, c, job) = restart_placed_on_a_silent_instance(&["a", "b"], "b", "a");
    for _ in 0..(crate::plan::STARTING_TIMEOUT_MS / 100 + 20) {
        w.step(&c);
    }
    assert!(
        matches!(&w.job(job).items[0].state, ItemState::Placed { instance, .. } if instance == "a"),
        "{:?}",
        w.job(job).items[0].state
    );
    a_answers_and_runs_the_restart(&mut w, &c, job);
}

#[test]
fn a_pinned_restart_whose_instance_is_lost_is_pinned_again() {
    // seq (SINGLE_INSTANCE) ran on c; c is lost, and its restart is pinned to a (first in
    // CONFIG order), which never answers and is lost in turn: the track is pinned to b and
    // the application runs there, instead of its starts failing for want of a.
    let mut a = with_distribution(app("seq"), DistributionRule::SingleInstance);
    for name in ["p1", "p2"] {
        a.programs
            .push(prog(name, opts(0, false, 10, Rfs::RestartProcess)));
    }
    let c = commander(&["a", "b", "c"], vec![a]);
    let mut w = World::new(&["a", "b", "c"]);
    w.declare("seq", &["p1", "p2"], &["a", "b", "c"]);
    w.report("c", "seq", "p1", Running);
    w.report("c", "seq", "p2", Running);
    w.deaf.insert("a".into());
    w.lose("c");
    w.step(&c);
    w.step(&c);
    let job = first_running_failure_job(&w);
    assert_eq!(w.job(job).tracks[0].pinned.as_deref(), Some("a"));
    w.lose("a");
    w.settle(&c);
    assert_eq!(w.running_on("seq:p1"), vec!["b"]);
    assert_eq!(w.running_on("seq:p2"), vec!["b"]);
    assert!(w.job(job).outcome.as_ref().expect("ended").ok);
}

#[test]
fn a_user_start_of_a_single_instance_program_joins_the_rest_of_its_application() {
    // seq (SINGLE_INSTANCE) runs p1 on b; a user starts p2 with LESS_LOADED. Supvisors 0.14
    // places it by the application's distribution: on b, with the rest of seq, not on the
    // less loaded a. `start_args` stays on the instance that was asked.
    let mut a = with_distribution(app("seq"), DistributionRule::SingleInstance);
    for name in ["p1", "p2", "p3"] {
        a.programs
            .push(prog(name, opts(0, false, 20, Rfs::Continue)));
    }
    let c = commander(&["a", "b"], vec![a]);
    let mut w = World::new(&["a", "b"]);
    w.declare("seq", &["p1", "p2", "p3"], &["a", "b"]);
    w.report("b", "seq", "p1", Running);
    let id = w.create(
        c.start_process(&w.state, LessLoaded, "seq:p2", "", "", w.now)
            .unwrap(),
    );
    w.settle(&c);
    assert!(w.job(id).outcome.as_ref().expect("ended").ok);
    assert_eq!(w.running_on("seq:p2"), vec!["b"]);
    let id = w.create(
        c.start_args_local(&w.state, "seq:p3", "", "a", w.now)
            .unwrap(),
    );
    w.settle(&c);
    assert!(w.job(id).outcome.as_ref().expect("ended").ok);
    assert_eq!(w.running_on("seq:p3"), vec!["a"]);
}
