use super::*;
use crate::supervisor_ns::METHODS;

const SUPVISORS: &[MethodDef] = &[
    MethodDef::new(
        "get_process_info",
        "array",
        &[("string", "namespec")],
        0,
        "info",
    ),
    MethodDef::new(
        "start_process",
        "boolean",
        &[
            ("string", "strategy"),
            ("string", "namespec"),
            ("string", "extra_args"),
            ("boolean", "wait"),
        ],
        2,
        "start",
    ),
    MethodDef::new("end_sync", "boolean", &[("string", "identifier")], 1, "end"),
    MethodDef::new(
        "takes_a_list",
        "boolean",
        &[("array", "items")],
        0,
        "no REST form",
    ),
];

fn all() -> Vec<Route> {
    routes([("supervisor", METHODS), ("supvisors", SUPVISORS)])
}

fn call(verb: Verb, path: &str, query: &str) -> MethodCall {
    match resolve(&all(), verb.as_str(), path, query) {
        Some(Resolved::Call(call)) => call,
        other => panic!("{verb:?} {path}?{query}: {other:?}"),
    }
}

fn reply(verb: Verb, path: &str, query: &str) -> (StatusCode, Json) {
    match resolve(&all(), verb.as_str(), path, query) {
        Some(Resolved::Reply(status, body)) => (status, body),
        Some(Resolved::WrongVerb(..)) => (StatusCode::METHOD_NOT_ALLOWED, Json::Null),
        other => panic!("{verb:?} {path}?{query}: {other:?}"),
    }
}

fn s(text: &str) -> Value {
    Value::String(text.into())
}

#[test]
fn routes_are_named_and_verbed_as_supvisorsflask_does() {
    let routes = all();
    let find = |base: &str| routes.iter().find(|r| r.base() == base);
    assert_eq!(find("/supervisor/getState").unwrap().verb, Verb::Get);
    assert_eq!(find("/supervisor/readLog").unwrap().verb, Verb::Get);
    assert_eq!(
        find("/supervisor/tailProcessStdoutLog").unwrap().verb,
        Verb::Get
    );
    assert_eq!(find("/supervisor/startProcess").unwrap().verb, Verb::Post);
    assert_eq!(find("/supervisor/clearLog").unwrap().verb, Verb::Post);
    assert_eq!(find("/system/listMethods").unwrap().verb, Verb::Get);
    assert_eq!(find("/system/methodHelp").unwrap().verb, Verb::Get);
    // supvisors drops `get_`; multicall and array parameters have no REST form.
    assert_eq!(find("/supvisors/process_info").unwrap().verb, Verb::Get);
    assert_eq!(find("/supvisors/start_process").unwrap().verb, Verb::Post);
    assert!(find("/supvisors/get_process_info").is_none());
    assert!(find("/system/multicall").is_none());
    assert!(find("/supvisors/takes_a_list").is_none());
}

#[test]
fn path_segments_and_query_parameters_make_the_call() {
    assert_eq!(
        call(Verb::Post, "/supervisor/startProcess/hello", "wait=false"),
        MethodCall {
            name: "supervisor.startProcess".into(),
            params: vec![s("hello"), Value::Bool(false)],
        }
    );
    // wait defaults to true, as in supvisorsflask.
    assert_eq!(
        call(Verb::Post, "/supervisor/startProcess/hello", "").params,
        [s("hello"), Value::Bool(true)]
    );
    assert_eq!(
        call(
            Verb::Post,
            "/supvisors/start_process/CONFIG/web%3Aapi_0",
            "extra_args=-x%202&wait=0"
        )
        .params,
        [s("CONFIG"), s("web:api_0"), s("-x 2"), Value::Bool(false)]
    );
    assert_eq!(
        call(Verb::Get, "/supervisor/readLog/-100/0", "").params,
        [Value::Int(-100), Value::Int(0)]
    );
    assert_eq!(
        call(Verb::Get, "/supvisors/process_info/web:*", "").params,
        [s("web:*")]
    );
    // An optional path parameter may be left out.
    assert_eq!(call(Verb::Post, "/supvisors/end_sync", "").params, []);
    assert_eq!(
        call(Verb::Post, "/supvisors/end_sync/s1", "").params,
        [s("s1")]
    );
    assert_eq!(
        call(Verb::Get, "/system/listMethods", "").name,
        "system.listMethods"
    );
}

#[test]
fn a_wrong_route_verb_or_parameter_is_answered_without_a_call() {
    assert_eq!(
        reply(Verb::Get, "/supervisor/startProcess/hello", "").0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        reply(Verb::Get, "/supervisor/nosuch", "").0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        reply(Verb::Post, "/supervisor/startProcess", "").0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        reply(Verb::Post, "/supervisor/startProcess/a/b", "").0,
        StatusCode::NOT_FOUND
    );
    let (status, body) = reply(Verb::Get, "/supervisor/readLog/x/0", "");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"message": "INCORRECT_PARAMETERS: offset: \"x\" is not an integer", "code": 2})
    );
    let (status, _) = reply(Verb::Post, "/supervisor/startProcess/hello", "wait=maybe");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // A misspelt query parameter is refused rather than ignored.
    let (status, body) = reply(Verb::Post, "/supervisor/startProcess/hello", "wiat=false");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["message"],
        "INCORRECT_PARAMETERS: unknown query parameter \"wiat\" (/supervisor/startProcess takes wait)"
    );
    // Other HTTP methods on a route: 405, naming the route's verb.
    match resolve(&all(), "DELETE", "/supervisor/getState", "") {
        Some(Resolved::WrongVerb(Verb::Get, _)) => {}
        other => panic!("{other:?}"),
    }
    // Not a REST path: the other handlers' (or nothing).
    for path in ["/RPC2", "/", "/nsx/method", "/logtail/x", "/supervisor"] {
        assert!(resolve(&all(), "GET", path, "").is_none(), "{path}");
    }
}

#[test]
fn results_are_json_and_faults_keep_their_name_code_and_status() {
    assert_eq!(
        result_reply(&Ok(Value::Struct(vec![(
            "statecode".into(),
            Value::Int(1)
        )]))),
        (StatusCode::OK, json!({"statecode": 1}))
    );
    for (code, status) in [
        (FaultCode::BadName, StatusCode::NOT_FOUND),
        (FaultCode::AlreadyStarted, StatusCode::CONFLICT),
        (FaultCode::BadSupvisorsState, StatusCode::CONFLICT),
        (FaultCode::SpawnError, StatusCode::INTERNAL_SERVER_ERROR),
        (FaultCode::IncorrectParameters, StatusCode::BAD_REQUEST),
    ] {
        let fault = Fault::with(code, "x");
        assert_eq!(
            result_reply(&Err(fault)),
            (
                status,
                json!({"message": format!("{}: x", code.name()), "code": code.code()})
            )
        );
    }
}

#[test]
fn the_openapi_document_has_one_path_per_route_and_arity() {
    let doc = openapi(&all(), "1.0", true);
    let paths = doc["paths"].as_object().unwrap();
    let start = &paths["/supervisor/startProcess/{name}"]["post"];
    assert_eq!(start["operationId"], "supervisor.startProcess");
    let names: Vec<&str> = start["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["name", "wait"]);
    assert!(paths["/supervisor/getState"]["get"].is_object());
    assert!(paths.contains_key("/supvisors/end_sync"));
    assert!(paths.contains_key("/supvisors/end_sync/{identifier}"));
    assert!(!paths.keys().any(|p| p.contains("multicall")));
    assert_eq!(doc["security"], json!([{"basicAuth": []}]));
    assert!(openapi(&all(), "1.0", false).get("security").is_none());
    // Every route is on the API page.
    let page = api_page(&all());
    assert!(page.contains("<code>/supervisor/startProcess/&lt;name&gt;</code>"));
    assert!(page.contains("<code>/supvisors/end_sync[/&lt;identifier&gt;]</code>"));
}
