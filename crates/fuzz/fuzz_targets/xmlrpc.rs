//! The XML-RPC parser, on any request or response body: it must refuse what it cannot read
//! without panicking, and what it accepts must survive round trips through the renderer (the
//! server answers with what it parsed, a client re-reads what the server rendered). The first
//! round trip may normalise (a `\r` is rendered raw, as supervisord does, and read back as
//! `\n`); from then on the text must be stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fn call_round_trip(text: &str) -> String {
    let call = xmlrpc::parse_method_call(text.as_bytes())
        .unwrap_or_else(|e| panic!("a rendered call does not parse: {e}\n{text}"));
    xmlrpc::render_method_call(&call.name, &call.params)
}

fn response_round_trip(text: &str) -> String {
    match xmlrpc::parse_response(text.as_bytes()) {
        Ok(Ok(value)) => xmlrpc::render_response(&value),
        other => panic!("a rendered response does not parse back: {other:?}\n{text}"),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(call) = xmlrpc::parse_method_call(data) {
        let once = call_round_trip(&xmlrpc::render_method_call(&call.name, &call.params));
        assert_eq!(
            call_round_trip(&once),
            once,
            "a call changed in a round trip"
        );
    }
    if let Ok(Ok(value)) = xmlrpc::parse_response(data) {
        let once = response_round_trip(&xmlrpc::render_response(&value));
        assert_eq!(
            response_round_trip(&once),
            once,
            "a response changed in a round trip"
        );
    }
});
