//! Interoperability with the reference implementation: Python's `xmlrpc.client`, which is what
//! supervisord and supervisorctl use. Each test runs one `python3 -c` script (`$RAFTVISOR_PYTHON`
//! when set); without python3 the tests fail and say so: interoperability is not checked
//! otherwise, and a test that cannot check must not pass.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::*;

/// One value as a Python expression and as our [`Value`], plus what our parser must return for
/// Python's encoding of it (differs only where XML normalises the text, e.g. `\r`).
struct Case {
    py: &'static str,
    value: Value,
    parsed: Value,
}

fn case(py: &'static str, value: Value) -> Case {
    Case {
        py,
        parsed: value.clone(),
        value,
    }
}

fn s(x: &str) -> Value {
    Value::String(x.to_string())
}

fn cases() -> Vec<Case> {
    vec![
        case("''", s("")),
        case(r#"' two  spaces '"#, s(" two  spaces ")),
        case(
            r#"'a & b < c > d "q" \'a\' &amp;'"#,
            s("a & b < c > d \"q\" 'a' &amp;"),
        ),
        case(r"'ünïcødé 😀 €'", s("ünïcødé 😀 €")),
        case(r"'line1\nline2\ttab'", s("line1\nline2\ttab")),
        Case {
            py: r"'cr\r\nlf\r'",
            value: s("cr\r\nlf\r"),
            parsed: s("cr\nlf\n"),
        },
        case("2147483647", Value::Int(i32::MAX)),
        case("-2147483648", Value::Int(i32::MIN)),
        case("0", Value::Int(0)),
        case("-42", Value::Int(-42)),
        case("True", Value::Bool(true)),
        case("False", Value::Bool(false)),
        case("1.5", Value::Double(1.5)),
        case("-0.1", Value::Double(-0.1)),
        case("-0.0", Value::Double(-0.0)),
        case("1e300", Value::Double(1e300)),
        case("1e16", Value::Double(1e16)),
        case("1e-05", Value::Double(1e-5)),
        case("123456.789", Value::Double(123456.789)),
        case("float('inf')", Value::Double(f64::INFINITY)),
        case("float('nan')", Value::Double(f64::NAN)),
        case(
            "xmlrpc.client.DateTime('20260101T10:00:00')",
            Value::DateTime("20260101T10:00:00".into()),
        ),
        case("bytes(range(256))", Value::Base64((0..=255u8).collect())),
        case("b''", Value::Base64(vec![])),
        case("b'hi'", Value::Base64(b"hi".to_vec())),
        case("None", Value::Nil),
        case("[]", Value::Array(vec![])),
        case("{}", Value::Struct(vec![])),
        case(
            "[[1, None, 'x', []], {'k<&>': {}, '': ''}]",
            Value::Array(vec![
                Value::Array(vec![
                    Value::Int(1),
                    Value::Nil,
                    s("x"),
                    Value::Array(vec![]),
                ]),
                Value::structure([("k<&>", Value::Struct(vec![])), ("", s(""))]),
            ]),
        ),
        case(
            "{'name': 'cat', 'group': 'cat', 'state': 20, 'statename': 'RUNNING', \
             'description': 'pid 123, uptime 0:00:01', 'exitstatus': 0, 'ok': True}",
            Value::structure([
                ("name", s("cat")),
                ("group", s("cat")),
                ("state", Value::Int(20)),
                ("statename", s("RUNNING")),
                ("description", s("pid 123, uptime 0:00:01")),
                ("exitstatus", Value::Int(0)),
                ("ok", Value::Bool(true)),
            ]),
        ),
    ]
}

const FAULTS: &[(i32, &str)] = &[
    (10, "BAD_NAME: nope"),
    (2, "INCORRECT_PARAMETERS: a&b <c>"),
    (1, ""),
    (-1, "ünï 😀"),
    (i32::MAX, "x"),
];

/// Equality that also holds between two NaNs, for comparing decoded doubles.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Double(x), Value::Double(y)) => x == y || (x.is_nan() && y.is_nan()),
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same(x, y))
        }
        (Value::Struct(xs), Value::Struct(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .zip(ys)
                    .all(|((kx, x), (ky, y))| kx == ky && same(x, y))
        }
        _ => a == b,
    }
}

/// Runs `python3 -c script` with `input` on stdin and returns stdout split on NUL. A missing
/// python3, like any Python failure, fails the test with the reason.
fn python(script: &str, input: &[u8]) -> Vec<String> {
    let exe = std::env::var("RAFTVISOR_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let child = Command::new(&exe)
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("{exe} not found: install python3 (or set RAFTVISOR_PYTHON); the interoperability check with Python's xmlrpc.client cannot run without it")
        }
        Err(e) => panic!("cannot start python3: {e}"),
    };
    // The scripts read all of stdin before writing anything, so no deadlock; a write error
    // means Python died early, which its stderr below explains.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    let out = child.wait_with_output().expect("waiting for python3");
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("python output is UTF-8");
    text.split('\0').map(str::to_string).collect()
}

fn py_cases_list(cases: &[Case]) -> String {
    let exprs: Vec<&str> = cases.iter().map(|c| c.py).collect();
    format!("[{}]", exprs.join(",\n"))
}

const PY_PRELUDE: &str = "import sys, xmlrpc.client\nx = xmlrpc.client\n\
    def emit(items):\n    sys.stdout.buffer.write('\\0'.join(items).encode('utf-8'))\n";

#[test]
fn python_encodings_parse_with_ours() {
    let cases = cases();
    let script = format!(
        "{PY_PRELUDE}cases = {}\nfaults = {:?}\n\
         sys.stdin.read()\n\
         items = [x.dumps(tuple(cases), 'supervisor.doIt', allow_none=True)]\n\
         items += [x.dumps((c,), methodresponse=True, allow_none=True) for c in cases]\n\
         items += [x.dumps(x.Fault(c, s), methodresponse=True) for c, s in faults]\n\
         items += [x.dumps((), 'system.listMethods')]\n\
         emit(items)\n",
        py_cases_list(&cases),
        FAULTS.iter().map(|(c, s)| (*c, *s)).collect::<Vec<_>>(),
    );
    let out = python(&script, b"");
    assert_eq!(out.len(), 1 + cases.len() + FAULTS.len() + 1);

    let call = parse_method_call(out[0].as_bytes()).unwrap();
    assert_eq!(call.name, "supervisor.doIt");
    assert_eq!(call.params.len(), cases.len());
    for (got, c) in call.params.iter().zip(&cases) {
        assert!(same(got, &c.parsed), "{}: got {got:?}", c.py);
    }
    for (body, c) in out[1..].iter().zip(&cases) {
        let got = parse_response(body.as_bytes()).unwrap().unwrap();
        assert!(same(&got, &c.parsed), "{}: got {got:?}", c.py);
    }
    for (body, (code, string)) in out[1 + cases.len()..].iter().zip(FAULTS) {
        let fault = parse_response(body.as_bytes()).unwrap().unwrap_err();
        assert_eq!((fault.code, fault.string.as_str()), (*code, *string));
    }
    let empty = parse_method_call(out[out.len() - 1].as_bytes()).unwrap();
    assert_eq!(empty.name, "system.listMethods");
    assert!(empty.params.is_empty());
}

#[test]
fn our_responses_are_byte_identical_to_python_and_load_there() {
    let cases = cases();
    let mut input: Vec<String> = cases.iter().map(|c| render_response(&c.value)).collect();
    input.extend(FAULTS.iter().map(|(c, s)| render_fault(*c, s)));
    let script = format!(
        "{PY_PRELUDE}cases = {}\nfaults = {:?}\n\
         ours = sys.stdin.buffer.read().decode('utf-8').split('\\0')\n\
         items = []\n\
         for c, body in zip(cases, ours):\n\
         \x20   py = x.dumps((c,), methodresponse=True, allow_none=True)\n\
         \x20   items += [py, repr(x.loads(body, use_builtin_types=True)),\n\
         \x20             repr(x.loads(py, use_builtin_types=True))]\n\
         for (c, s), body in zip(faults, ours[len(cases):]):\n\
         \x20   py = x.dumps(x.Fault(c, s), methodresponse=True)\n\
         \x20   try:\n\
         \x20       x.loads(body)\n\
         \x20       got = 'no fault'\n\
         \x20   except x.Fault as f:\n\
         \x20       got = repr((f.faultCode, f.faultString))\n\
         \x20   items += [py, got, repr((c, s))]\n\
         emit(items)\n",
        py_cases_list(&cases),
        FAULTS.iter().map(|(c, s)| (*c, *s)).collect::<Vec<_>>(),
    );
    let out = python(&script, input.join("\0").as_bytes());
    assert_eq!(out.len(), 3 * input.len());
    let labels = cases
        .iter()
        .map(|c| c.py.to_string())
        .chain(FAULTS.iter().map(|(c, s)| format!("fault {c} {s}")));
    for ((ours, py_out), label) in input.iter().zip(out.chunks(3)).zip(labels) {
        assert_eq!(ours, &py_out[0], "bytes differ for {label}");
        assert_eq!(
            py_out[1], py_out[2],
            "Python decodes ours differently for {label}"
        );
    }
    // One literal expectation, so the comparison above cannot pass by both sides being empty.
    assert_eq!(out[1], "(('',), None)");
}

#[test]
fn our_method_calls_load_in_python() {
    let cases = cases();
    let values: Vec<Value> = cases.iter().map(|c| c.value.clone()).collect();
    let input = [
        render_method_call("supervisor.doIt", &values),
        render_method_call("system.listMethods", &[]),
        render_method_call("ns.big", &[Value::I8(1 << 40), Value::I8(-5)]),
    ];
    let script = format!(
        "{PY_PRELUDE}cases = {}\n\
         ours = sys.stdin.buffer.read().decode('utf-8').split('\\0')\n\
         py = x.dumps(tuple(cases), 'supervisor.doIt', allow_none=True)\n\
         items = [py, repr(x.loads(ours[0], use_builtin_types=True)),\n\
         \x20        repr(x.loads(py, use_builtin_types=True))]\n\
         items += [x.dumps((), 'system.listMethods'), repr(x.loads(ours[1]))]\n\
         items += [repr(x.loads(ours[2]))]\n\
         emit(items)\n",
        py_cases_list(&cases),
    );
    let out = python(&script, input.join("\0").as_bytes());
    assert_eq!(out.len(), 6);
    assert_eq!(input[0], out[0], "method call bytes differ");
    assert_eq!(out[1], out[2]);
    assert_eq!(input[1], out[3]);
    assert_eq!(out[4], "((), 'system.listMethods')");
    assert_eq!(out[5], "((1099511627776, -5), 'ns.big')");
}

#[test]
fn float_repr_matches_python_on_many_values() {
    let mut values = vec![
        0.1,
        0.2,
        0.3,
        1.0 / 3.0,
        2.0 / 3.0,
        1e22,
        1e21,
        9007199254740993.0,
    ];
    let mut x = 1.234_567_890_123e-310_f64;
    while x < 1e300 {
        values.push(x);
        values.push(-x * 0.777);
        x *= 13.37;
    }
    for e in -8..20 {
        values.push(10f64.powi(e));
        values.push(1.5 * 10f64.powi(e));
    }
    let literals: Vec<String> = values.iter().map(|v| format!("{v:e}")).collect();
    let script = format!(
        "{PY_PRELUDE}vals = [{}]\nsys.stdin.read()\nemit([repr(v) for v in vals])\n",
        literals.join(",")
    );
    let out = python(&script, b"");
    assert_eq!(out.len(), values.len());
    for (v, py) in values.iter().zip(&out) {
        assert_eq!(&render::python_float_repr(*v), py, "{v:e}");
    }
}
