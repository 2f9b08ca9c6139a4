//! Parser tests: accepted shapes, rejected input, and no-panic checks on mangled documents.

use crate::*;

fn call(params_xml: &str) -> String {
    format!("<?xml version='1.0'?>\n<methodCall>\n<methodName>m.x</methodName>\n<params>\n{params_xml}</params>\n</methodCall>\n")
}

/// Parses a call with a single `<param><value>…</value></param>` and returns that value.
fn one(value_xml: &str) -> Result<Value, ParseError> {
    let body = call(&format!("<param>\n<value>{value_xml}</value>\n</param>\n"));
    let mut c = parse_method_call(body.as_bytes())?;
    assert_eq!(c.params.len(), 1);
    Ok(c.params.remove(0))
}

fn s(x: &str) -> Value {
    Value::String(x.to_string())
}

#[test]
fn python_style_call_with_no_params() {
    let body = "<?xml version='1.0'?>\n<methodCall>\n<methodName>system.listMethods</methodName>\n<params>\n</params>\n</methodCall>\n";
    let c = parse_method_call(body.as_bytes()).unwrap();
    assert_eq!(c.name, "system.listMethods");
    assert!(c.params.is_empty());
}

#[test]
fn missing_params_element_means_zero_params() {
    for body in [
        "<methodCall><methodName>supervisor.getState</methodName></methodCall>",
        "<methodCall><methodName>supervisor.getState</methodName><params/></methodCall>",
    ] {
        let c = parse_method_call(body.as_bytes()).unwrap();
        assert_eq!(c.name, "supervisor.getState");
        assert!(c.params.is_empty());
    }
}

#[test]
fn method_name_missing_or_empty_is_an_error() {
    for body in [
        "<methodCall><params/></methodCall>",
        "<methodCall><methodName></methodName></methodCall>",
        "<methodCall><methodName/></methodCall>",
    ] {
        assert!(parse_method_call(body.as_bytes()).is_err(), "{body}");
    }
    // Kept verbatim otherwise: deciding what a valid name is belongs to the dispatcher.
    let c =
        parse_method_call(b"<methodCall><methodName>a&amp;b</methodName></methodCall>").unwrap();
    assert_eq!(c.name, "a&b");
}

#[test]
fn strings_keep_whitespace_entities_cdata_and_unicode() {
    assert_eq!(
        one("<string>  two  spaces  </string>").unwrap(),
        s("  two  spaces  ")
    );
    assert_eq!(
        one("<string>a &lt; b &amp;&amp; c &gt; d</string>").unwrap(),
        s("a < b && c > d")
    );
    assert_eq!(one("<string>&quot;&apos;</string>").unwrap(), s("\"'"));
    assert_eq!(
        one("<string>caf&#233; &#x1F600;</string>").unwrap(),
        s("café 😀")
    );
    assert_eq!(
        one("<string>x<![CDATA[<&>]]>y</string>").unwrap(),
        s("x<&>y")
    );
    assert_eq!(one("<string>ü€😀</string>").unwrap(), s("ü€😀"));
    assert_eq!(one("<string>a<!-- c -->b</string>").unwrap(), s("ab"));
    // XML end-of-line normalisation applies; a character reference preserves a CR.
    assert_eq!(
        one("<string>a\r\nb\rc&#13;</string>").unwrap(),
        s("a\nb\nc\r")
    );
}

#[test]
fn empty_strings_in_every_spelling() {
    assert_eq!(one("<string></string>").unwrap(), s(""));
    assert_eq!(one("<string/>").unwrap(), s(""));
    assert_eq!(one("").unwrap(), s(""));
    let c = parse_method_call(
        b"<methodCall><methodName>m</methodName><params><param><value/></param></params></methodCall>",
    )
    .unwrap();
    assert_eq!(c.params, vec![s("")]);
}

#[test]
fn untyped_value_is_a_verbatim_string() {
    assert_eq!(one("abc").unwrap(), s("abc"));
    assert_eq!(one(" a b ").unwrap(), s(" a b "));
    assert_eq!(one("x &amp; y").unwrap(), s("x & y"));
    // Whitespace around a typed element is layout, not content.
    assert_eq!(one("\n  <int>5</int>\n ").unwrap(), Value::Int(5));
    assert!(one("abc<int>5</int>").is_err());
    assert!(one("<int>5</int>abc").is_err());
}

#[test]
fn integers_and_their_limits() {
    assert_eq!(one("<int>2147483647</int>").unwrap(), Value::Int(i32::MAX));
    assert_eq!(one("<i4>-2147483648</i4>").unwrap(), Value::Int(i32::MIN));
    assert_eq!(one("<int> +7 </int>").unwrap(), Value::Int(7));
    assert_eq!(one("<i4>0</i4>").unwrap(), Value::Int(0));
    assert!(one("<int>2147483648</int>").is_err());
    assert!(one("<i4>-2147483649</i4>").is_err());
    assert!(one("<int>12a</int>").is_err());
    assert!(one("<int></int>").is_err());
    assert!(one("<int>1.0</int>").is_err());
    assert_eq!(
        one("<i8>9223372036854775807</i8>").unwrap(),
        Value::I8(i64::MAX)
    );
    assert_eq!(one("<ex:i8>-5</ex:i8>").unwrap(), Value::I8(-5));
    assert!(one("<i8>9223372036854775808</i8>").is_err());
}

#[test]
fn booleans_are_zero_or_one_only() {
    assert_eq!(one("<boolean>1</boolean>").unwrap(), Value::Bool(true));
    assert_eq!(one("<boolean>0</boolean>").unwrap(), Value::Bool(false));
    for bad in ["true", "2", "", " 1", "yes"] {
        let err = one(&format!("<boolean>{bad}</boolean>")).unwrap_err();
        assert!(err.reason.contains("boolean"), "{err}");
    }
}

#[test]
fn doubles_datetimes_base64_nil() {
    assert_eq!(one("<double>1.5</double>").unwrap(), Value::Double(1.5));
    assert_eq!(
        one("<double>-1e+16</double>").unwrap(),
        Value::Double(-1e16)
    );
    assert_eq!(
        one("<double>inf</double>").unwrap(),
        Value::Double(f64::INFINITY)
    );
    assert!(one("<double>1.5x</double>").is_err());
    assert_eq!(
        one("<dateTime.iso8601>20260101T10:00:00</dateTime.iso8601>").unwrap(),
        Value::DateTime("20260101T10:00:00".into())
    );
    assert_eq!(
        one("<base64>\naGVs\nbG8g\r\nd29y bGQ=\n</base64>").unwrap(),
        Value::Base64(b"hello world".to_vec())
    );
    assert_eq!(
        one("<base64>aGk</base64>").unwrap(),
        Value::Base64(b"hi".to_vec())
    );
    assert_eq!(one("<base64>\n</base64>").unwrap(), Value::Base64(vec![]));
    assert_eq!(one("<base64/>").unwrap(), Value::Base64(vec![]));
    assert!(one("<base64>a!b=</base64>").is_err());
    assert_eq!(one("<nil/>").unwrap(), Value::Nil);
    assert_eq!(one("<ex:nil/>").unwrap(), Value::Nil);
    assert!(one("<nil>x</nil>").is_err());
}

#[test]
fn arrays_and_structs() {
    assert_eq!(
        one("<array><data>\n</data></array>").unwrap(),
        Value::Array(vec![])
    );
    assert_eq!(one("<array><data/></array>").unwrap(), Value::Array(vec![]));
    assert_eq!(one("<struct>\n</struct>").unwrap(), Value::Struct(vec![]));
    assert_eq!(one("<struct/>").unwrap(), Value::Struct(vec![]));
    let v = one(
        "<struct>\n<member>\n<name> k &amp; </name>\n<value><array><data>\n\
         <value><i4>1</i4></value>\n<value>u</value>\n<value><struct/></value>\n\
         </data></array></value>\n</member>\n<member><name/><value/></member></struct>",
    )
    .unwrap();
    assert_eq!(
        v,
        Value::Struct(vec![
            (
                " k & ".into(),
                Value::Array(vec![Value::Int(1), s("u"), Value::Struct(vec![])])
            ),
            (String::new(), s("")),
        ])
    );
    assert!(
        one("<array><value>1</value></array>").is_err(),
        "missing <data>"
    );
    assert!(
        one("<array><data>x</data></array>").is_err(),
        "text in <data>"
    );
    assert!(one("<struct><member><value>1</value></member></struct>").is_err());
    assert!(one("<struct><member><name>a</name></member></struct>").is_err());
}

fn nested_arrays(depth: usize) -> String {
    let open = "<array><data><value>".repeat(depth);
    let close = "</value></data></array>".repeat(depth);
    format!("{open}<int>1</int>{close}")
}

#[test]
fn nesting_is_bounded() {
    assert!(one(&nested_arrays(MAX_NESTING)).is_ok());
    let err = one(&nested_arrays(MAX_NESTING + 1)).unwrap_err();
    assert!(err.reason.contains("nested"), "{err}");
    // Far deeper input fails the same way without exhausting the stack.
    assert!(one(&nested_arrays(100_000)).is_err());
    let mut v = String::from("<int>1</int>");
    for _ in 0..(MAX_NESTING + 1) {
        v = format!("<struct><member><name>a</name><value>{v}</value></member></struct>");
    }
    assert!(one(&v).is_err());
}

#[test]
fn dtd_and_unknown_entities_are_refused() {
    let bomb = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<methodCall><methodName>m</methodName><params><param><value><string>&lol3;</string></value></param></params></methodCall>"#;
    let err = parse_method_call(bomb.as_bytes()).unwrap_err();
    assert!(err.reason.contains("DOCTYPE"), "{err}");
    assert!(parse_response(bomb.as_bytes()).is_err());

    let xxe = r#"<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]><methodCall><methodName>&x;</methodName></methodCall>"#;
    assert!(parse_method_call(xxe.as_bytes()).is_err());

    let err = one("<string>&lol;</string>").unwrap_err();
    assert!(err.reason.contains("unknown entity"), "{err}");
    assert!(one("<string>a & b</string>").is_err(), "dangling ampersand");
    assert!(one("<string>&#0;</string>").is_err());
}

#[test]
fn malformed_documents_are_errors_with_positions() {
    let cases: &[&[u8]] = &[
        b"",
        b"   ",
        b"not xml",
        b"<methodCall>",
        b"<methodCall><methodName>m</methodName></methodCall><methodCall/>",
        b"<methodCall><methodName>m</methodName></methodCall>trailing",
        b"<methodCall><methodName>m</methodName><params><param><value><int>1</i4></value></param></params></methodCall>",
        b"<methodResponse/>",
        b"<methodCall><methodName>m</methodName><foo/></methodCall>",
        b"<methodCall><methodName>m</methodName><params><param><value><foo/></value></param></params></methodCall>",
        b"<methodCall><methodName>m</methodName><params><param><value><params/></value></param></params></methodCall>",
        b"<methodCall><methodName>m</methodName><params><param></param></params></methodCall>",
        b"<methodCall><methodName>m</methodName><params>junk</params></methodCall>",
        b"<methodCall><methodName>m</methodName><params><param><value>1</value><value>2</value></param></params></methodCall>",
    ];
    for body in cases {
        let err = parse_method_call(body).unwrap_err();
        assert!(err.position <= body.len() as u64, "{err}");
        assert!(!err.reason.is_empty());
    }
    // The position points at the offending element.
    let body = b"<methodCall><methodName>m</methodName><foo/></methodCall>";
    assert_eq!(parse_method_call(body).unwrap_err().position, 38);
    let bad_utf8 = b"<methodCall><methodName>m\xff</methodName></methodCall>";
    assert_eq!(parse_method_call(bad_utf8).unwrap_err().position, 25);
}

#[test]
fn bom_and_attributes_are_tolerated() {
    let body = "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><methodCall a=\"b\"><methodName>m</methodName></methodCall>";
    assert_eq!(parse_method_call(body.as_bytes()).unwrap().name, "m");
}

#[test]
fn responses_values_and_faults() {
    let v = Value::structure([("a", Value::from(1)), ("b", Value::from("x"))]);
    assert_eq!(
        parse_response(render_response(&v).as_bytes()).unwrap(),
        Ok(v)
    );
    assert_eq!(
        parse_response(render_fault(10, "BAD_NAME: nope").as_bytes()).unwrap(),
        Err(FaultResponse {
            code: 10,
            string: "BAD_NAME: nope".into()
        })
    );
    // Other servers send <i4> codes and omit the declaration.
    let fault = "<methodResponse><fault><value><struct><member><name>faultString</name><value>oops</value></member><member><name>faultCode</name><value><i4>3</i4></value></member></struct></value></fault></methodResponse>";
    assert_eq!(
        parse_response(fault.as_bytes()).unwrap(),
        Err(FaultResponse {
            code: 3,
            string: "oops".into()
        })
    );
    for bad in [
        "<methodResponse><params></params></methodResponse>",
        "<methodResponse><params><param><value>1</value></param><param><value>2</value></param></params></methodResponse>",
        "<methodResponse><fault><value><int>1</int></value></fault></methodResponse>",
        "<methodResponse><fault><value><struct><member><name>faultCode</name><value><string>1</string></value></member><member><name>faultString</name><value>x</value></member></struct></value></fault></methodResponse>",
        "<methodCall><methodName>m</methodName></methodCall>",
    ] {
        assert!(parse_response(bad.as_bytes()).is_err(), "{bad}");
    }
}

fn tricky_values() -> Vec<Value> {
    vec![
        s(""),
        s("  a & b < c > d \"q\" 'a'  "),
        s("ünïcødé 😀\n\ttab"),
        Value::Int(i32::MAX),
        Value::Int(i32::MIN),
        Value::I8(i64::MIN),
        Value::Bool(true),
        Value::Bool(false),
        Value::Double(-0.1),
        Value::Double(1e300),
        Value::DateTime("20260101T10:00:00".into()),
        Value::Base64((0..=255u8).collect()),
        Value::Base64(vec![]),
        Value::Nil,
        Value::Array(vec![]),
        Value::Struct(vec![]),
        Value::Array(vec![
            Value::Array(vec![Value::Int(1), Value::Nil, s("x")]),
            Value::structure([("k<>", Value::Struct(vec![])), ("", s(""))]),
        ]),
    ]
}

#[test]
fn our_rendering_round_trips_through_our_parser() {
    let params = tricky_values();
    let c = parse_method_call(render_method_call("ns.m", &params).as_bytes()).unwrap();
    assert_eq!(c.name, "ns.m");
    assert_eq!(c.params, params);
    for v in params {
        assert_eq!(
            parse_response(render_response(&v).as_bytes()).unwrap(),
            Ok(v)
        );
    }
}

/// Tiny deterministic PRNG (xorshift64*) so the mutation test needs no extra crate.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn sample_documents() -> Vec<Vec<u8>> {
    let params = tricky_values();
    vec![
        render_method_call("supervisor.startProcess", &params).into_bytes(),
        render_response(&Value::Array(params)).into_bytes(),
        render_fault(10, "BAD_NAME: a&b").into_bytes(),
        b"<methodCall><methodName>m</methodName><params><param><value>x&amp;<![CDATA[y]]>&#233;</value></param></params></methodCall>".to_vec(),
    ]
}

#[test]
fn every_truncation_fails_cleanly() {
    for doc in sample_documents() {
        // Cutting inside the final newline still leaves a complete document.
        let complete = doc.len() - 1;
        for cut in 0..complete {
            let prefix = &doc[..cut];
            let call = parse_method_call(prefix);
            let resp = parse_response(prefix);
            assert!(
                call.is_err() && resp.is_err(),
                "prefix of {cut} bytes accepted"
            );
            for e in [call.err(), resp.err()].into_iter().flatten() {
                assert!(e.position <= cut as u64, "{e} beyond {cut}");
            }
        }
    }
}

#[test]
fn random_mutations_never_panic() {
    const ALPHABET: &[u8] = b"<>/&;#x=\"' \n!?[]-abcdefilmnprstuvxyz0123456789\xc3\xa9\xff\x00";
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let docs = sample_documents();
    for round in 0..4000 {
        let mut doc = docs[round % docs.len()].clone();
        for _ in 0..=rng.below(4) {
            let at = rng.below(doc.len());
            match rng.below(4) {
                0 => doc[at] = ALPHABET[rng.below(ALPHABET.len())],
                1 => doc.insert(at, ALPHABET[rng.below(ALPHABET.len())]),
                2 => {
                    doc.remove(at);
                }
                _ => doc[at] = rng.next() as u8,
            }
            if doc.is_empty() {
                break;
            }
        }
        // Only the absence of a panic matters; any result is fine.
        let _ = parse_method_call(&doc);
        let _ = parse_response(&doc);
    }
}
