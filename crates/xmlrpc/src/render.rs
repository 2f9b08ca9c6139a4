//! Encoding, byte-compatible with Python's `xmlrpc.client.dumps` (what supervisord and
//! supervisorctl emit), so that a body produced here is indistinguishable from the original.
//!
//! The layout is Python's `Marshaller`: every `<value>…</value>` is followed by a newline
//! (except `<nil/>`, a Python quirk kept on purpose), containers open on the same line as their
//! `<value>` and close on their own line, member names are on their own line.

use base64::Engine as _;

use crate::Value;

/// Python's declaration for the default (UTF-8) encoding: single quotes, no `encoding=`.
const DECLARATION: &str = "<?xml version='1.0'?>\n";

/// Width of a base64 line, as `base64.encodebytes` wraps it.
const BASE64_LINE: usize = 76;

/// A successful `methodResponse` carrying `value` as its single param.
pub fn render_response(value: &Value) -> String {
    let mut out = String::with_capacity(128);
    out.push_str(DECLARATION);
    out.push_str("<methodResponse>\n<params>\n<param>\n");
    write_value(&mut out, value);
    out.push_str("</param>\n</params>\n</methodResponse>\n");
    out
}

/// A `<fault>` response: a struct of `faultCode` (int) then `faultString` (string).
pub fn render_fault(code: i32, fault_string: &str) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(DECLARATION);
    out.push_str("<methodResponse>\n<fault>\n");
    out.push_str("<value><struct>\n<member>\n<name>faultCode</name>\n");
    write_value(&mut out, &Value::Int(code));
    out.push_str("</member>\n<member>\n<name>faultString</name>\n");
    write_string(&mut out, fault_string);
    out.push_str("</member>\n</struct></value>\n");
    out.push_str("</fault>\n</methodResponse>\n");
    out
}

/// [`render_fault`] for one of Supervisor's own faults (`NAME` or `NAME: extra`).
pub fn render_model_fault(fault: &model::Fault) -> String {
    render_fault(fault.code.code(), &fault.fault_string())
}

/// A `methodCall` as Python's `ServerProxy` sends it, `<params>` present even when empty.
///
/// Unlike Python, the method name is escaped: Python writes it raw, which only matters for
/// names containing `& < >`, and those are invalid everywhere anyway.
pub fn render_method_call(name: &str, params: &[Value]) -> String {
    let mut out = String::with_capacity(128);
    out.push_str(DECLARATION);
    out.push_str("<methodCall>\n<methodName>");
    escape_into(&mut out, name);
    out.push_str("</methodName>\n<params>\n");
    for param in params {
        out.push_str("<param>\n");
        write_value(&mut out, param);
        out.push_str("</param>\n");
    }
    out.push_str("</params>\n</methodCall>\n");
    out
}

impl Value {
    /// The `<value>…</value>` fragment of `self` as the renderers write it inside a param, to
    /// be kept in a [`Value::Raw`] and sent again without rebuilding or re-rendering the value.
    pub fn render_fragment(&self) -> String {
        let mut out = String::with_capacity(128);
        write_value(&mut out, self);
        out
    }
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Int(i) => {
            out.push_str("<value><int>");
            out.push_str(&i.to_string());
            out.push_str("</int></value>\n");
        }
        Value::I8(i) => {
            out.push_str("<value><i8>");
            out.push_str(&i.to_string());
            out.push_str("</i8></value>\n");
        }
        Value::Bool(b) => {
            out.push_str(if *b {
                "<value><boolean>1</boolean></value>\n"
            } else {
                "<value><boolean>0</boolean></value>\n"
            });
        }
        Value::String(s) => write_string(out, s),
        Value::Double(d) => {
            out.push_str("<value><double>");
            out.push_str(&python_float_repr(*d));
            out.push_str("</double></value>\n");
        }
        Value::DateTime(text) => {
            out.push_str("<value><dateTime.iso8601>");
            escape_into(out, text);
            out.push_str("</dateTime.iso8601></value>\n");
        }
        Value::Base64(bytes) => {
            out.push_str("<value><base64>\n");
            write_base64_lines(out, bytes);
            out.push_str("</base64></value>\n");
        }
        Value::Array(items) => {
            out.push_str("<value><array><data>\n");
            for item in items {
                write_value(out, item);
            }
            out.push_str("</data></array></value>\n");
        }
        Value::Struct(members) => {
            out.push_str("<value><struct>\n");
            for (name, member) in members {
                out.push_str("<member>\n<name>");
                escape_into(out, name);
                out.push_str("</name>\n");
                write_value(out, member);
                out.push_str("</member>\n");
            }
            out.push_str("</struct></value>\n");
        }
        // Python's `dump_nil` writes no newline after it.
        Value::Nil => out.push_str("<value><nil/></value>"),
        Value::Raw(fragment) => out.push_str(fragment),
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push_str("<value><string>");
    escape_into(out, s);
    out.push_str("</string></value>\n");
}

/// Python's `xmlrpc.client.escape`: `&`, `<`, `>` only. Quotes need no escaping in text, and
/// `\r` is left raw (so a receiver's XML parser turns it into `\n`, as with supervisord).
fn escape_into(out: &mut String, s: &str) {
    let mut rest = s;
    while let Some(i) = rest.find(['&', '<', '>']) {
        out.push_str(&rest[..i]);
        out.push_str(match rest.as_bytes()[i] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            _ => "&gt;",
        });
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
}

/// `base64.encodebytes`: standard alphabet, 76-character lines, each ending with `\n`; nothing
/// at all for empty input.
fn write_base64_lines(out: &mut String, bytes: &[u8]) {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    // The encoding is pure ASCII, so byte chunks are valid char boundaries.
    for line in encoded.as_bytes().chunks(BASE64_LINE) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
}

/// Python's `repr(float)`: the shortest round-tripping digits, positional notation for
/// decimal exponents in `-4..16`, otherwise `d.ddde±XX` with at least two exponent digits;
/// `inf`, `-inf`, `nan` for the specials.
pub(crate) fn python_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    // Rust's `{:e}` yields the shortest round-tripping digits, e.g. `-1.25e-7`, `0e0`.
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut out = String::from(sign);
    if (-4..16).contains(&exp) {
        // Position of the decimal point relative to the first digit.
        let point = exp + 1;
        if point <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', point.unsigned_abs() as usize));
            out.push_str(&digits);
        } else {
            let point = point as usize;
            if point >= digits.len() {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', point - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..point]);
                out.push('.');
                out.push_str(&digits[point..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.unsigned_abs()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_layout_matches_supervisor_spec() {
        let v = Value::structure([
            ("statecode", Value::Int(1)),
            ("statename", "RUNNING".into()),
        ]);
        assert_eq!(
            render_response(&v),
            "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><struct>\n\
             <member>\n<name>statecode</name>\n<value><int>1</int></value>\n</member>\n\
             <member>\n<name>statename</name>\n<value><string>RUNNING</string></value>\n\
             </member>\n</struct></value>\n</param>\n</params>\n</methodResponse>\n"
        );
    }

    #[test]
    fn fault_layout_matches_supervisor_spec() {
        assert_eq!(
            render_fault(10, "BAD_NAME: nope"),
            "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n<member>\n\
             <name>faultCode</name>\n<value><int>10</int></value>\n</member>\n<member>\n\
             <name>faultString</name>\n<value><string>BAD_NAME: nope</string></value>\n\
             </member>\n</struct></value>\n</fault>\n</methodResponse>\n"
        );
        let fault = model::Fault::with(model::FaultCode::BadName, "nope");
        assert_eq!(
            render_model_fault(&fault),
            render_fault(10, "BAD_NAME: nope")
        );
    }

    #[test]
    fn escaping_touches_only_amp_lt_gt() {
        let mut out = String::new();
        escape_into(&mut out, "a&b<c>d\"e'f\r\né&&");
        assert_eq!(out, "a&amp;b&lt;c&gt;d\"e'f\r\né&amp;&amp;");
    }

    #[test]
    fn empty_values() {
        assert_eq!(
            render_response(&Value::from("")),
            "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n\
             <value><string></string></value>\n</param>\n</params>\n</methodResponse>\n"
        );
        let mut out = String::new();
        write_value(&mut out, &Value::Array(vec![]));
        write_value(&mut out, &Value::Struct(vec![]));
        write_value(&mut out, &Value::Base64(vec![]));
        assert_eq!(
            out,
            "<value><array><data>\n</data></array></value>\n<value><struct>\n</struct></value>\n\
             <value><base64>\n</base64></value>\n"
        );
    }

    #[test]
    fn method_call_escapes_name_and_keeps_empty_params() {
        assert_eq!(
            render_method_call("a&b", &[]),
            "<?xml version='1.0'?>\n<methodCall>\n<methodName>a&amp;b</methodName>\n\
             <params>\n</params>\n</methodCall>\n"
        );
    }

    #[test]
    fn raw_fragment_renders_like_the_original_value() {
        let v = Value::Array(vec![
            Value::structure([
                ("name", Value::from("a&b<c>")),
                ("pid", Value::Int(-4)),
                ("ok", Value::Bool(true)),
                ("load", Value::Double(0.25)),
            ]),
            Value::Nil,
            Value::Base64(vec![0, 1, 2]),
            Value::Array(vec![]),
        ]);
        let raw = Value::Raw(v.render_fragment().into());
        assert_eq!(render_response(&raw), render_response(&v));
        let nested = Value::Array(vec![raw.clone(), Value::Int(1)]);
        let plain = Value::Array(vec![v.clone(), Value::Int(1)]);
        assert_eq!(render_response(&nested), render_response(&plain));
        assert_eq!(
            render_method_call("m", std::slice::from_ref(&raw)),
            render_method_call("m", std::slice::from_ref(&v))
        );
        // What a client reads back is the original value, never a Raw.
        let back = crate::parse_response(render_response(&raw).as_bytes());
        assert!(matches!(back, Ok(Ok(ref got)) if *got == v), "{back:?}");
    }

    #[test]
    fn float_repr_like_python() {
        for (x, want) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (1.5, "1.5"),
            (0.1, "0.1"),
            (-2.5e-7, "-2.5e-07"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (123456789.125, "123456789.125"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
        ] {
            assert_eq!(python_float_repr(x), want, "{x:e}");
        }
    }
}
