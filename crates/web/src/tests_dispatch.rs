//! Dispatcher tests at the `MethodCall`/`Value` level against the fake supervisor.

use crate::fake::FakeApi;
use crate::namespace::{MethodDef, Namespace};
use crate::rpc::{NamespaceError, Rpc};
use crate::supervisor_ns::METHODS;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use model::{Fault, FaultCode, SupervisorState};
use std::sync::Arc;
use xmlrpc::{MethodCall, Value};

fn s(text: &str) -> Value {
    Value::String(text.into())
}

fn st(members: &[(&str, Value)]) -> Value {
    Value::Struct(
        members
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

async fn call(rpc: &Rpc, name: &str, params: Vec<Value>) -> Result<Value, Fault> {
    rpc.call(MethodCall {
        name: name.into(),
        params,
    })
    .await
}

fn code(result: Result<Value, Fault>) -> FaultCode {
    match result {
        Ok(v) => panic!("expected a fault, got {v:?}"),
        Err(f) => f.code,
    }
}

fn member<'a>(value: &'a Value, key: &str) -> &'a Value {
    let Value::Struct(members) = value else {
        panic!("not a struct: {value:?}")
    };
    members
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no member {key} in {value:?}"))
}

fn fault_struct(code: i32, text: &str) -> Value {
    st(&[("faultCode", Value::Int(code)), ("faultString", s(text))])
}

fn result_struct(name: &str, group: &str) -> Value {
    st(&[
        ("name", s(name)),
        ("group", s(group)),
        ("status", Value::Int(80)),
        ("description", s("OK")),
    ])
}

fn setup() -> (FakeApi, Rpc) {
    let api = FakeApi::new();
    (api.clone(), Rpc::new(api))
}

#[tokio::test]
async fn method_names_must_be_exactly_ns_dot_public_method() {
    let (_, rpc) = setup();
    for name in [
        "supervisor._private",
        "supervisor._update",
        "a.b.c",
        "supervisor.getState.x",
        "nope.x",
        "supervisor.nope",
        "getState",
        "_supervisor.getState",
        "supervisor.",
        "system.nope",
        "system._listMethods",
        "",
    ] {
        assert_eq!(
            code(call(&rpc, name, vec![]).await),
            FaultCode::UnknownMethod,
            "{name}"
        );
    }
}

#[tokio::test]
async fn wrong_arity_is_incorrect_parameters() {
    let (_, rpc) = setup();
    assert_eq!(
        code(call(&rpc, "supervisor.getState", vec![s("x")]).await),
        FaultCode::IncorrectParameters
    );
    assert_eq!(
        code(call(&rpc, "supervisor.startProcess", vec![]).await),
        FaultCode::IncorrectParameters
    );
    assert_eq!(
        code(
            call(
                &rpc,
                "supervisor.startProcess",
                vec![s("g:a"), Value::Bool(true), s("x")]
            )
            .await
        ),
        FaultCode::IncorrectParameters
    );
    assert_eq!(
        code(call(&rpc, "system.multicall", vec![]).await),
        FaultCode::IncorrectParameters
    );
    // An unknown method is reported as such even with wrong arity (lookup comes first).
    assert_eq!(
        code(call(&rpc, "supervisor.nope", vec![s("x")]).await),
        FaultCode::UnknownMethod
    );
}

/// Plausible arguments of the right arity for a table entry.
fn sample_params(def: &MethodDef) -> Vec<Value> {
    def.params
        .iter()
        .map(|(ty, name)| match (*ty, *name) {
            ("int", _) => Value::Int(0),
            ("boolean", _) => Value::Bool(false),
            (_, "name") => s("g:a"),
            (_, "signal") => s("HUP"),
            _ => s("x"),
        })
        .collect()
}

#[tokio::test]
async fn every_published_method_is_answered() {
    for def in METHODS {
        let (_, rpc) = setup();
        let result = call(
            &rpc,
            &format!("supervisor.{}", def.name),
            sample_params(def),
        )
        .await;
        if let Err(fault) = &result {
            assert_ne!(
                fault.code,
                FaultCode::UnknownMethod,
                "{} fell through",
                def.name
            );
            assert_ne!(
                fault.code,
                FaultCode::IncorrectParameters,
                "{}: {fault}",
                def.name
            );
        }
    }
}

#[tokio::test]
async fn daemon_getters() {
    let (_, rpc) = setup();
    assert_eq!(
        call(&rpc, "supervisor.getAPIVersion", vec![]).await,
        Ok(s("3.0"))
    );
    assert_eq!(
        call(&rpc, "supervisor.getVersion", vec![]).await,
        Ok(s("3.0"))
    );
    assert_eq!(
        call(&rpc, "supervisor.getSupervisorVersion", vec![]).await,
        Ok(s("4.3.0"))
    );
    assert_eq!(
        call(&rpc, "supervisor.getIdentification", vec![]).await,
        Ok(s("supervisor"))
    );
    assert_eq!(
        call(&rpc, "supervisor.getPID", vec![]).await,
        Ok(Value::Int(4242))
    );
    assert_eq!(
        call(&rpc, "supervisor.getState", vec![]).await,
        Ok(st(&[
            ("statecode", Value::Int(1)),
            ("statename", s("RUNNING"))
        ]))
    );
}

#[tokio::test]
async fn main_log_reads_accept_ints_as_strings() {
    let (_, rpc) = setup();
    assert_eq!(
        call(&rpc, "supervisor.readLog", vec![s("5"), Value::Int(10)]).await,
        Ok(s("main 5 10"))
    );
    assert_eq!(
        call(
            &rpc,
            "supervisor.readMainLog",
            vec![Value::Int(-3), Value::Int(0)]
        )
        .await,
        Ok(s("main -3 0"))
    );
    assert_eq!(
        code(
            call(
                &rpc,
                "supervisor.readLog",
                vec![Value::Int(-3), Value::Int(2)]
            )
            .await
        ),
        FaultCode::BadArguments
    );
    assert_eq!(
        code(call(&rpc, "supervisor.readLog", vec![s("x"), Value::Int(0)]).await),
        FaultCode::IncorrectParameters
    );
    assert_eq!(
        call(&rpc, "supervisor.clearLog", vec![]).await,
        Ok(Value::Bool(true))
    );
}

#[tokio::test]
async fn start_stop_route_group_namespecs_to_group_calls() {
    let (api, rpc) = setup();
    assert_eq!(
        call(&rpc, "supervisor.startProcess", vec![s("g:*")]).await,
        Ok(Value::Array(vec![result_struct("a", "g")]))
    );
    assert_eq!(
        call(&rpc, "supervisor.stopProcess", vec![s("g:"), Value::Int(0)]).await,
        Ok(Value::Array(vec![
            result_struct("a", "g"),
            result_struct("b", "g")
        ]))
    );
    assert_eq!(
        call(
            &rpc,
            "supervisor.startProcess",
            vec![s("g:a"), Value::Bool(false)]
        )
        .await,
        Ok(Value::Bool(true))
    );
    assert_eq!(
        api.journal(),
        [
            "start_group g true",
            "stop_group g false",
            "start_process g:a false"
        ]
    );
    let err = call(&rpc, "supervisor.startProcess", vec![s("nope:*")])
        .await
        .unwrap_err();
    assert_eq!(err.fault_string(), "BAD_NAME: nope:*");
    let err = call(&rpc, "supervisor.startProcess", vec![s("cat")])
        .await
        .unwrap_err();
    assert_eq!(err.fault_string(), "ALREADY_STARTED: cat");
    let err = call(&rpc, "supervisor.stopProcess", vec![s("nope")])
        .await
        .unwrap_err();
    assert_eq!(err.fault_string(), "BAD_NAME: nope");
    assert_eq!(
        code(call(&rpc, "supervisor.startProcess", vec![Value::Int(3)]).await),
        FaultCode::IncorrectParameters
    );
}

#[tokio::test]
async fn group_and_all_variants_return_result_arrays() {
    let (api, rpc) = setup();
    assert_eq!(
        call(&rpc, "supervisor.startProcessGroup", vec![s("g")]).await,
        Ok(Value::Array(vec![result_struct("a", "g")]))
    );
    assert_eq!(
        call(&rpc, "supervisor.stopAllProcesses", vec![]).await,
        Ok(Value::Array(vec![
            result_struct("cat", "cat"),
            result_struct("a", "g"),
            result_struct("b", "g"),
        ]))
    );
    assert_eq!(
        call(
            &rpc,
            "supervisor.startAllProcesses",
            vec![Value::Bool(false)]
        )
        .await
        .map(|v| match v {
            Value::Array(a) => a.len(),
            _ => 0,
        }),
        Ok(3)
    );
    assert_eq!(
        code(call(&rpc, "supervisor.stopProcessGroup", vec![s("nope")]).await),
        FaultCode::BadName
    );
    assert_eq!(
        api.journal(),
        [
            "start_group g true",
            "stop_all true",
            "start_all false",
            "stop_group nope true"
        ]
    );
}

#[tokio::test]
async fn signals_by_name_or_number_and_group() {
    let (api, rpc) = setup();
    assert_eq!(
        call(
            &rpc,
            "supervisor.signalProcess",
            vec![s("cat"), Value::Int(9)]
        )
        .await,
        Ok(Value::Bool(true))
    );
    assert_eq!(
        call(&rpc, "supervisor.signalProcess", vec![s("g:*"), s("usr1")]).await,
        Ok(Value::Array(vec![result_struct("b", "g")]))
    );
    assert_eq!(
        call(
            &rpc,
            "supervisor.signalProcessGroup",
            vec![s("g"), s("HUP")]
        )
        .await,
        Ok(Value::Array(vec![result_struct("b", "g")]))
    );
    assert_eq!(
        call(&rpc, "supervisor.signalAllProcesses", vec![s("TERM")]).await,
        Ok(Value::Array(vec![
            result_struct("cat", "cat"),
            result_struct("b", "g")
        ]))
    );
    let err = call(&rpc, "supervisor.signalProcess", vec![s("cat"), s("BOGUS")])
        .await
        .unwrap_err();
    assert_eq!(err.fault_string(), "BAD_SIGNAL: BOGUS");
    assert_eq!(
        code(call(&rpc, "supervisor.signalProcess", vec![s("g:a"), s("HUP")]).await),
        FaultCode::NotRunning
    );
    assert_eq!(
        api.journal()[..2],
        ["signal_process cat 9", "signal_group g usr1"]
    );
}

#[tokio::test]
async fn process_info_shapes() {
    let (_, rpc) = setup();
    let info = call(&rpc, "supervisor.getProcessInfo", vec![s("g:b")])
        .await
        .unwrap();
    let Value::Struct(members) = &info else {
        panic!("not a struct")
    };
    assert_eq!(members.len(), 14);
    assert_eq!(member(&info, "name"), &s("b"));
    assert_eq!(member(&info, "group"), &s("g"));
    assert_eq!(member(&info, "state"), &Value::Int(20));
    assert_eq!(member(&info, "statename"), &s("RUNNING"));
    assert_eq!(member(&info, "pid"), &Value::Int(100));
    assert_eq!(member(&info, "now"), &Value::Int(1_700_000_000));
    assert_eq!(member(&info, "spawnerr"), &s(""));
    assert_eq!(
        code(call(&rpc, "supervisor.getProcessInfo", vec![s("g:*")]).await),
        FaultCode::BadName
    );
    let Ok(Value::Array(all)) = call(&rpc, "supervisor.getAllProcessInfo", vec![]).await else {
        panic!("not an array")
    };
    assert_eq!(all.len(), 3);
    assert_eq!(member(&all[1], "name"), &s("a"));

    let Ok(Value::Array(configs)) = call(&rpc, "supervisor.getAllConfigInfo", vec![]).await else {
        panic!("not an array")
    };
    assert_eq!(member(&configs[0], "autostart"), &Value::Bool(true));
    assert_eq!(
        member(&configs[0], "exitcodes"),
        &Value::Array(vec![Value::Int(0)])
    );
    assert_eq!(member(&configs[0], "uid"), &s("none"));
    assert_eq!(member(&configs[0], "startsecs"), &Value::Int(1));
}

#[tokio::test]
async fn process_logs_and_aliases() {
    let (api, rpc) = setup();
    let read = |name: &'static str, spec: &'static str| {
        let rpc = rpc.clone();
        async move { call(&rpc, name, vec![s(spec), s("0"), Value::Int(100)]).await }
    };
    assert_eq!(
        read("supervisor.readProcessStdoutLog", "cat").await,
        Ok(s("cat Stdout 0 100"))
    );
    assert_eq!(
        read("supervisor.readProcessLog", "cat").await,
        Ok(s("cat Stdout 0 100"))
    );
    assert_eq!(
        read("supervisor.readProcessStderrLog", "g:a").await,
        Ok(s("g:a Stderr 0 100"))
    );
    assert_eq!(
        read("supervisor.tailProcessLog", "cat").await,
        Ok(Value::Array(vec![
            s("cat Stdout"),
            Value::Int(100),
            Value::Bool(false)
        ]))
    );
    assert_eq!(
        call(
            &rpc,
            "supervisor.tailProcessStderrLog",
            vec![s("cat"), Value::Int(7), Value::Int(3)]
        )
        .await,
        Ok(Value::Array(vec![
            s("cat Stderr"),
            Value::Int(10),
            Value::Bool(true)
        ]))
    );
    assert_eq!(
        code(read("supervisor.tailProcessStdoutLog", "nope").await),
        FaultCode::BadName
    );
    assert_eq!(
        call(&rpc, "supervisor.clearProcessLog", vec![s("cat")]).await,
        Ok(Value::Bool(true))
    );
    assert_eq!(
        call(&rpc, "supervisor.clearProcessLogs", vec![s("g:a")]).await,
        Ok(Value::Bool(true))
    );
    assert_eq!(
        call(&rpc, "supervisor.clearAllProcessLogs", vec![]).await,
        Ok(Value::Array(vec![
            result_struct("cat", "cat"),
            result_struct("a", "g"),
            result_struct("b", "g"),
        ]))
    );
    assert_eq!(
        api.journal(),
        ["clear_process_logs cat", "clear_process_logs g:a"]
    );
}

#[tokio::test]
async fn stdin_and_remote_comm_events() {
    let (api, rpc) = setup();
    assert_eq!(
        call(
            &rpc,
            "supervisor.sendProcessStdin",
            vec![s("cat"), s("hello\n")]
        )
        .await,
        Ok(Value::Bool(true))
    );
    let err = call(
        &rpc,
        "supervisor.sendProcessStdin",
        vec![s("cat"), Value::Int(5)],
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, FaultCode::IncorrectParameters);
    assert_eq!(
        code(call(&rpc, "supervisor.sendProcessStdin", vec![s("g:a"), s("x")]).await),
        FaultCode::NotRunning
    );
    assert_eq!(
        call(&rpc, "supervisor.sendRemoteCommEvent", vec![s("t"), s("d")]).await,
        Ok(Value::Bool(true))
    );
    assert_eq!(
        api.journal(),
        [
            "send_process_stdin cat hello\n",
            "send_process_stdin g:a x",
            "send_remote_comm_event t d"
        ]
    );
}

#[tokio::test]
async fn config_reload_and_groups() {
    let (_, rpc) = setup();
    assert_eq!(
        call(&rpc, "supervisor.reloadConfig", vec![]).await,
        Ok(Value::Array(vec![Value::Array(vec![
            Value::Array(vec![s("new")]),
            Value::Array(vec![s("g")]),
            Value::Array(vec![]),
        ])]))
    );
    assert_eq!(
        call(&rpc, "supervisor.addProcessGroup", vec![s("new")]).await,
        Ok(Value::Bool(true))
    );
    assert_eq!(
        code(call(&rpc, "supervisor.addProcessGroup", vec![s("g")]).await),
        FaultCode::AlreadyAdded
    );
    assert_eq!(
        code(call(&rpc, "supervisor.addProcessGroup", vec![s("zz")]).await),
        FaultCode::BadName
    );
    assert_eq!(
        code(call(&rpc, "supervisor.removeProcessGroup", vec![s("g")]).await),
        FaultCode::StillRunning
    );
}

#[tokio::test]
async fn shutdown_returns_true_then_supervisor_calls_fail_except_remote_comm() {
    let (api, rpc) = setup();
    assert_eq!(
        call(&rpc, "supervisor.shutdown", vec![]).await,
        Ok(Value::Bool(true))
    );
    assert_eq!(api.lock().mood, SupervisorState::Shutdown);
    for name in [
        "getState",
        "getAPIVersion",
        "getAllProcessInfo",
        "shutdown",
        "restart",
    ] {
        let err = call(&rpc, &format!("supervisor.{name}"), vec![])
            .await
            .unwrap_err();
        assert_eq!(err.code, FaultCode::ShutdownState, "{name}");
        assert_eq!(err.fault_string(), "SHUTDOWN_STATE");
    }
    assert_eq!(
        call(&rpc, "supervisor.sendRemoteCommEvent", vec![s("t"), s("d")]).await,
        Ok(Value::Bool(true))
    );
    // system.* never checks the mood; arity is still checked first.
    assert!(call(&rpc, "system.listMethods", vec![]).await.is_ok());
    assert_eq!(
        code(call(&rpc, "supervisor.getState", vec![s("x")]).await),
        FaultCode::IncorrectParameters
    );

    let (api, rpc) = setup();
    assert_eq!(
        call(&rpc, "supervisor.restart", vec![]).await,
        Ok(Value::Bool(true))
    );
    assert_eq!(api.lock().mood, SupervisorState::Restarting);
    assert_eq!(
        code(call(&rpc, "supervisor.getPID", vec![]).await),
        FaultCode::ShutdownState
    );
}

#[tokio::test]
async fn introspection_agrees_with_the_tables() {
    let (_, rpc) = setup();
    let Ok(Value::Array(names)) = call(&rpc, "system.listMethods", vec![]).await else {
        panic!("not an array")
    };
    let names: Vec<String> = names
        .into_iter()
        .map(|v| match v {
            Value::String(s) => s,
            other => panic!("{other:?}"),
        })
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(names.len(), METHODS.len() + 4);
    for expected in [
        "supervisor.getVersion",
        "supervisor.readMainLog",
        "supervisor.readProcessLog",
        "supervisor.tailProcessLog",
        "supervisor.clearProcessLog",
        "supervisor.sendRemoteCommEvent",
        "system.listMethods",
        "system.methodHelp",
        "system.methodSignature",
        "system.multicall",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected}");
    }
    for name in &names {
        let sig = call(&rpc, "system.methodSignature", vec![s(name)]).await;
        assert!(
            matches!(sig, Ok(Value::Array(ref a)) if !a.is_empty()),
            "{name}"
        );
        let help = call(&rpc, "system.methodHelp", vec![s(name)]).await;
        assert!(
            matches!(help, Ok(Value::String(ref h)) if h.contains("@return")),
            "{name}"
        );
    }
    let strings = |list: &[&str]| Value::Array(list.iter().map(|x| s(x)).collect());
    assert_eq!(
        call(
            &rpc,
            "system.methodSignature",
            vec![s("supervisor.startProcess")]
        )
        .await,
        Ok(strings(&["boolean", "string", "boolean"]))
    );
    assert_eq!(
        call(
            &rpc,
            "system.methodSignature",
            vec![s("supervisor.getState")]
        )
        .await,
        Ok(strings(&["struct"]))
    );
    assert_eq!(
        call(
            &rpc,
            "system.methodSignature",
            vec![s("supervisor.readProcessStdoutLog")]
        )
        .await,
        Ok(strings(&["string", "string", "int", "int"]))
    );
    assert_eq!(
        call(&rpc, "system.methodSignature", vec![s("system.multicall")]).await,
        Ok(strings(&["array", "array"]))
    );
    for bad in ["supervisor.nope", "nope", "a.b.c", "supervisor._update"] {
        assert_eq!(
            code(call(&rpc, "system.methodSignature", vec![s(bad)]).await),
            FaultCode::SignatureUnsupported
        );
        assert_eq!(
            code(call(&rpc, "system.methodHelp", vec![s(bad)]).await),
            FaultCode::SignatureUnsupported
        );
    }
    assert_eq!(
        code(call(&rpc, "system.methodHelp", vec![Value::Int(1)]).await),
        FaultCode::SignatureUnsupported
    );
}

#[tokio::test]
async fn multicall_returns_bare_values_and_fault_structs_in_order() {
    let (api, rpc) = setup();
    let entry = |name: &str, params: Vec<Value>| {
        st(&[("methodName", s(name)), ("params", Value::Array(params))])
    };
    let calls = Value::Array(vec![
        entry("supervisor.getAPIVersion", vec![]),
        entry("nope.x", vec![]),
        st(&[("params", Value::Array(vec![]))]),
        entry("system.multicall", vec![Value::Array(vec![])]),
        entry("supervisor.getProcessInfo", vec![s("nope")]),
        entry("supervisor.startProcess", vec![s("g:a")]),
        entry("supervisor.stopProcess", vec![s("g:a")]),
        st(&[("methodName", s("supervisor.getPID"))]),
        entry("supervisor.getPID", vec![s("extra")]),
        s("not a struct"),
    ]);
    let result = call(&rpc, "system.multicall", vec![calls]).await;
    assert_eq!(
        result,
        Ok(Value::Array(vec![
            s("3.0"),
            fault_struct(1, "UNKNOWN_METHOD"),
            fault_struct(2, "INCORRECT_PARAMETERS: No methodName"),
            fault_struct(
                2,
                "INCORRECT_PARAMETERS: Recursive system.multicall forbidden"
            ),
            fault_struct(10, "BAD_NAME: nope"),
            Value::Bool(true),
            Value::Bool(true),
            Value::Int(4242),
            fault_struct(2, "INCORRECT_PARAMETERS"),
            fault_struct(30, "FAILED: multicall entry is not a struct"),
        ]))
    );
    // Each call finished before the next started.
    assert_eq!(
        api.journal(),
        ["start_process g:a true", "stop_process g:a true"]
    );
    assert_eq!(
        call(&rpc, "system.multicall", vec![Value::Array(vec![])]).await,
        Ok(Value::Array(vec![]))
    );
    assert_eq!(
        code(call(&rpc, "system.multicall", vec![s("x")]).await),
        FaultCode::IncorrectParameters
    );
}

/// A stand-in for the Supvisors namespace.
struct Extra;

static EXTRA_METHODS: &[MethodDef] = &[MethodDef {
    name: "echo",
    returns: "string",
    params: &[("string", "text")],
    optional: 0,
    summary: "Return the text",
}];

impl Namespace for Extra {
    fn name(&self) -> &str {
        "supvisors"
    }

    fn methods(&self) -> &[MethodDef] {
        EXTRA_METHODS
    }

    fn call<'a>(
        &'a self,
        method: &'a MethodDef,
        params: Vec<Value>,
    ) -> BoxFuture<'a, Result<Value, Fault>> {
        async move {
            match method.name {
                "echo" => Ok(params.into_iter().next().unwrap_or(Value::Nil)),
                _ => Err(Fault::new(FaultCode::UnknownMethod)),
            }
        }
        .boxed()
    }
}

#[tokio::test]
async fn extra_namespaces_are_dispatched_and_introspected() {
    let (_, rpc) = setup();
    let rpc = rpc.with_namespace(Arc::new(Extra)).unwrap();
    assert_eq!(
        call(&rpc, "supvisors.echo", vec![s("hi")]).await,
        Ok(s("hi"))
    );
    assert_eq!(
        code(call(&rpc, "supvisors.echo", vec![]).await),
        FaultCode::IncorrectParameters
    );
    assert_eq!(
        code(call(&rpc, "supvisors.nope", vec![]).await),
        FaultCode::UnknownMethod
    );
    assert!(rpc.list_methods().contains(&"supvisors.echo".to_string()));
    assert_eq!(
        call(&rpc, "system.methodSignature", vec![s("supvisors.echo")]).await,
        Ok(Value::Array(vec![s("string"), s("string")]))
    );
    let multi = Value::Array(vec![st(&[
        ("methodName", s("supvisors.echo")),
        ("params", Value::Array(vec![s("m")])),
    ])]);
    assert_eq!(
        call(&rpc, "system.multicall", vec![multi]).await,
        Ok(Value::Array(vec![s("m")]))
    );
    assert!(matches!(
        rpc.clone().with_namespace(Arc::new(Extra)),
        Err(NamespaceError::Duplicate(_))
    ));
}

struct Named(&'static str);

impl Namespace for Named {
    fn name(&self) -> &str {
        self.0
    }
    fn methods(&self) -> &[MethodDef] {
        &[]
    }
    fn call<'a>(&'a self, _: &'a MethodDef, _: Vec<Value>) -> BoxFuture<'a, Result<Value, Fault>> {
        async { Err(Fault::new(FaultCode::UnknownMethod)) }.boxed()
    }
}

#[test]
fn reserved_and_uncallable_namespace_names_are_refused() {
    let (_, rpc) = setup();
    for (name, duplicate) in [
        ("system", true),
        ("supervisor", true),
        ("a.b", false),
        ("_x", false),
        ("", false),
    ] {
        let err = rpc.clone().with_namespace(Arc::new(Named(name))).err();
        let expected = if duplicate {
            NamespaceError::Duplicate(name.into())
        } else {
            NamespaceError::InvalidName(name.into())
        };
        assert_eq!(err, Some(expected), "{name}");
        let err = crate::ServerOptions::default()
            .with_namespace(Arc::new(Named(name)))
            .err();
        assert!(err.is_some(), "{name}");
    }
}

#[tokio::test]
async fn free_dispatch_function() {
    let api = FakeApi::new();
    let result = crate::dispatch(
        &api,
        MethodCall {
            name: "supervisor.getVersion".into(),
            params: vec![],
        },
    )
    .await;
    assert_eq!(result, Ok(s("3.0")));
}

#[tokio::test]
async fn a_read_only_caller_reads_and_every_change_is_refused() {
    let (api, rpc) = setup();
    let as_viewer = |name: &str, params: Vec<Value>| {
        rpc.call_as(
            MethodCall {
                name: name.into(),
                params,
            },
            crate::Access::ReadOnly,
        )
    };
    assert_eq!(
        as_viewer("supervisor.getAPIVersion", vec![]).await,
        Ok(s("3.0"))
    );
    assert!(as_viewer("system.listMethods", vec![]).await.is_ok());
    assert!(
        as_viewer("supervisor.readLog", vec![Value::Int(0), Value::Int(0)])
            .await
            .is_ok()
    );
    let before = api.journal().len();
    for (name, params) in [
        ("supervisor.startProcess", vec![s("g:a")]),
        ("supervisor.clearLog", vec![]),
        ("supervisor.shutdown", vec![]),
        ("supervisor.sendProcessStdin", vec![s("g:a"), s("x")]),
    ] {
        let fault = as_viewer(name, params).await.expect_err(name);
        assert_eq!(fault.code, FaultCode::Failed, "{name}");
        assert!(
            fault
                .fault_string()
                .ends_with(&format!("{name}: refused to a read-only user")),
            "{fault:?}"
        );
    }
    let entry = |name: &str, params: Vec<Value>| {
        st(&[("methodName", s(name)), ("params", Value::Array(params))])
    };
    let calls = Value::Array(vec![
        entry("supervisor.getAPIVersion", vec![]),
        entry("supervisor.stopProcess", vec![s("g:a")]),
    ]);
    assert_eq!(
        as_viewer("system.multicall", vec![calls]).await,
        Ok(Value::Array(vec![
            s("3.0"),
            fault_struct(
                30,
                "FAILED: supervisor.stopProcess: refused to a read-only user"
            ),
        ]))
    );
    // Nothing reached the supervisor but the reads.
    assert!(
        api.journal()[before..]
            .iter()
            .all(|line| line.starts_with("read")),
        "{:?}",
        api.journal()
    );
    // The same calls with full access go through.
    assert_eq!(
        call(&rpc, "supervisor.startProcess", vec![s("g:a")]).await,
        Ok(Value::Bool(true))
    );
}
