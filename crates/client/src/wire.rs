//! The client side of the XML-RPC codec: render a `<methodCall>`, parse a `<methodResponse>`.
//!
//! The one place where the client touches the wire format; everything else works on
//! [`xmlrpc::Value`]. The codec itself lives in the shared `xmlrpc` crate (Python-compatible
//! rendering, whitespace-preserving parsing).

pub use xmlrpc::{parse_response, render_method_call};

#[cfg(test)]
mod tests {
    use super::*;
    use xmlrpc::{FaultResponse, Value};

    #[test]
    fn python_style_response_and_fault_decode() {
        let body = "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><struct>\n<member>\n<name>statecode</name>\n<value><int>1</int></value>\n</member>\n<member>\n<name>statename</name>\n<value><string>RUNNING</string></value>\n</member>\n</struct></value>\n</param>\n</params>\n</methodResponse>\n";
        assert_eq!(
            parse_response(body.as_bytes()).unwrap().unwrap(),
            Value::Struct(vec![
                ("statecode".into(), Value::Int(1)),
                ("statename".into(), Value::String("RUNNING".into())),
            ])
        );
        let body = "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n<member>\n<name>faultCode</name>\n<value><int>10</int></value>\n</member>\n<member>\n<name>faultString</name>\n<value><string>BAD_NAME: nope</string></value>\n</member>\n</struct></value>\n</fault>\n</methodResponse>\n";
        assert_eq!(
            parse_response(body.as_bytes()).unwrap().unwrap_err(),
            FaultResponse {
                code: 10,
                string: "BAD_NAME: nope".into()
            }
        );
    }

    #[test]
    fn renders_string_params() {
        let s = render_method_call("supervisor.getProcessInfo", &[Value::String("a&b".into())]);
        assert!(
            s.contains("<methodName>supervisor.getProcessInfo</methodName>"),
            "{s}"
        );
        assert!(s.contains("a&amp;b"), "{s}");
    }
}
