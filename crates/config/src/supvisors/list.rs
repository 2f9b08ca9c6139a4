//! `supvisors_list` items: `<identifier>host:http_port:internal_port` and its shorter forms,
//! parsed, completed with default ports and checked for clashes. Pure.
//!
//! Accepted item forms (Supvisors 0.14 `SupvisorsInstanceId.PATTERN`, plus the 0.18+
//! `host:http_port` form and bracketed IPv6 literals):
//!
//! ```text
//! [<identifier>]host                          ports deduced
//! [<identifier>]host:[http_port]:[internal_port]   both colons, either port may be empty
//! [<identifier>]host:http_port                0.18+ form, internal port deduced
//! host = [\w.-]+ (not starting with `.` or `-`) | [IPv6 literal]
//! ```

use model::supvisors::InstanceAddr;

/// One item as written, before defaults are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Item {
    pub identifier: Option<String>,
    /// Without brackets for an IPv6 literal.
    pub host: String,
    /// True when the host was written as `[v6 literal]` (the deduced name keeps the brackets).
    pub bracketed: bool,
    pub http_port: Option<u16>,
    pub internal_port: Option<u16>,
}

impl Item {
    /// Supvisors' deduced name: `<identifier>` if given, else the host, followed by
    /// `:http_port` only when that port was written.
    pub fn deduced_name(&self) -> String {
        if let Some(id) = &self.identifier {
            return id.clone();
        }
        let host = if self.bracketed {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.http_port {
            Some(port) => format!("{host}:{port}"),
            None => host,
        }
    }
}

/// Supvisors' `list_of_strings` + `filter(None, …)` + `OrderedDict.fromkeys`: split on commas,
/// trim, drop empty items and later duplicates (order kept, it is the CONFIG strategy order).
pub(crate) fn split_list(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !out.iter().any(|o| o == item) {
            out.push(item.to_string());
        }
    }
    out
}

/// Python's `[\w-]+` (Unicode word characters and `-`): the identifier syntax of Supvisors.
pub(crate) fn is_identifier(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

/// Python's `[\w.-]+`, minus names starting with `.` or `-` (no resolver accepts those, and
/// Supvisors would fail on them at `gethostbyaddr`).
fn is_host_name(text: &str) -> bool {
    !text.is_empty()
        && !text.starts_with(['.', '-'])
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '.')
}

const SYNTAX: &str = "expected <identifier>host, host:http_port:internal_port (either port may \
                      be empty, both colons present) or <identifier>host:http_port";

/// Parses one item. The error says what is wrong with it and which forms are accepted.
pub(crate) fn parse_item(text: &str) -> Result<Item, String> {
    let bad = |why: String| format!("bad item {text:?}: {why}; {SYNTAX}");
    let (identifier, rest) = match text.strip_prefix('<') {
        Some(r) => {
            let Some((id, rest)) = r.split_once('>') else {
                return Err(bad("`<` without a closing `>`".to_string()));
            };
            if !is_identifier(id) {
                return Err(bad(format!(
                    "the identifier {id:?} must be letters, digits, `_` or `-`"
                )));
            }
            (Some(id.to_string()), rest)
        }
        None => (None, text),
    };
    let (host, bracketed, ports) = if let Some(r) = rest.strip_prefix('[') {
        let Some((v6, after)) = r.split_once(']') else {
            return Err(bad("`[` without a closing `]`".to_string()));
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad(format!("{v6:?} is not an IPv6 address")));
        }
        (v6.to_string(), true, after)
    } else {
        let (h, after) = match rest.find(':') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if !is_host_name(h) {
            return Err(bad(format!(
                "{h:?} is not a host name or address (letters, digits, `_`, `-`, `.`)"
            )));
        }
        (h.to_string(), false, after)
    };
    let (http_port, internal_port) = if ports.is_empty() {
        (None, None)
    } else {
        let Some(ports) = ports.strip_prefix(':') else {
            return Err(bad(format!("unexpected {ports:?} after the host")));
        };
        let parts: Vec<&str> = ports.split(':').collect();
        match parts.as_slice() {
            [http] => {
                if http.is_empty() {
                    return Err(bad("the port after `:` is missing".to_string()));
                }
                (Some(parse_port(http).map_err(bad)?), None)
            }
            [http, internal] => (
                opt_port(http).map_err(bad)?,
                opt_port(internal).map_err(bad)?,
            ),
            _ => return Err(bad("too many `:`".to_string())),
        }
    };
    Ok(Item {
        identifier,
        host,
        bracketed,
        http_port,
        internal_port,
    })
}

fn opt_port(text: &str) -> Result<Option<u16>, String> {
    if text.is_empty() {
        Ok(None)
    } else {
        parse_port(text).map(Some)
    }
}

/// A port written in an item: decimal digits, 1..65535.
fn parse_port(text: &str) -> Result<u16, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{text:?} is not a port number"));
    }
    text.parse::<u16>()
        .ok()
        .filter(|p| *p >= 1)
        .ok_or_else(|| format!("port {text} is not in 1..65535"))
}

/// Applies the defaults of Supvisors' `check_values`: a missing http_port is the local
/// `[inet_http_server]` port; a missing internal_port is the `internal_port` option if set,
/// else http_port + 1.
pub(crate) fn complete(
    item: &Item,
    local_http_port: u16,
    internal_port_option: Option<u16>,
) -> Result<InstanceAddr, String> {
    let http_port = item.http_port.unwrap_or(local_http_port);
    let internal_port = match item.internal_port.or(internal_port_option) {
        Some(p) => p,
        None => http_port.checked_add(1).ok_or_else(|| {
            format!(
                "{}: the internal port defaults to http_port + 1, which is beyond 65535; \
                 write it explicitly",
                item.deduced_name()
            )
        })?,
    };
    Ok(InstanceAddr {
        identifier: item.deduced_name(),
        host: item.host.clone(),
        http_port,
        internal_port,
    })
}

/// Clashes that would make two instances indistinguishable or make one unable to bind: the same
/// deduced name twice, or one port used twice on the same host (compared as written: names are
/// not resolved here).
pub(crate) fn clashes(instances: &[InstanceAddr]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, a) in instances.iter().enumerate() {
        if a.http_port == a.internal_port {
            out.push(format!(
                "instance {} uses port {} for both HTTP and the internal network",
                a.identifier, a.http_port
            ));
        }
        for b in &instances[..i] {
            if a.identifier == b.identifier {
                out.push(format!(
                    "two items have the same identifier {:?}; give them distinct <identifier>s \
                     or explicit ports",
                    a.identifier
                ));
                continue;
            }
            if !a.host.eq_ignore_ascii_case(&b.host) {
                continue;
            }
            let ports_a = [a.http_port, a.internal_port];
            let ports_b = [b.http_port, b.internal_port];
            if let Some(port) = ports_a.iter().find(|p| ports_b.contains(p)) {
                out.push(format!(
                    "instances {} and {} are both on host {} and both use port {port}",
                    b.identifier, a.identifier, a.host
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(text: &str) -> Item {
        match parse_item(text) {
            Ok(i) => i,
            Err(e) => panic!("{text}: {e}"),
        }
    }

    fn addr(text: &str, local: u16, opt: Option<u16>) -> InstanceAddr {
        complete(&item(text), local, opt).unwrap()
    }

    #[test]
    fn split_drops_empty_items_and_later_duplicates() {
        assert_eq!(split_list(" a, b ,,a, c,"), ["a", "b", "c"]);
        assert!(split_list(" , ").is_empty());
    }

    #[test]
    fn item_forms_and_deduced_names() {
        type Case<'a> = (&'a str, &'a str, &'a str, Option<u16>, Option<u16>);
        let cases: [Case<'_>; 10] = [
            ("node1", "node1", "node1", None, None),
            ("<sv01>10.0.0.1:8888:", "sv01", "10.0.0.1", Some(8888), None),
            ("10.0.0.1", "10.0.0.1", "10.0.0.1", None, None),
            (
                "10.0.0.1:8888:8889",
                "10.0.0.1:8888",
                "10.0.0.1",
                Some(8888),
                Some(8889),
            ),
            ("host::60001", "host", "host", None, Some(60001)),
            ("host::", "host", "host", None, None),
            ("<a-b_c>host", "a-b_c", "host", None, None),
            ("<nick>host:7000", "nick", "host", Some(7000), None),
            ("host:7000", "host:7000", "host", Some(7000), None),
            (
                "[::1]:7000:7100",
                "[::1]:7000",
                "::1",
                Some(7000),
                Some(7100),
            ),
        ];
        for (text, name, host, http, internal) in cases {
            let i = item(text);
            assert_eq!(i.deduced_name(), name, "{text}");
            assert_eq!(i.host, host, "{text}");
            assert_eq!((i.http_port, i.internal_port), (http, internal), "{text}");
        }
        assert_eq!(item("<n>[fe80::1]").deduced_name(), "n");
        assert_eq!(item("[fe80::1]").deduced_name(), "[fe80::1]");
    }

    #[test]
    fn bad_items_say_why() {
        for (text, why) in [
            ("<a b>host", "identifier"),
            ("<>host", "identifier"),
            ("<id host", "closing `>`"),
            ("host:", "missing"),
            ("host:1:2:3", "too many"),
            ("host:x:", "not a port number"),
            ("host:0:", "not in 1..65535"),
            ("host:70000:", "not in 1..65535"),
            ("ho st", "not a host name"),
            (".host", "not a host name"),
            ("", "not a host name"),
            ("[::1", "closing `]`"),
            ("[zz]", "not an IPv6 address"),
            ("[::1]x", "unexpected"),
        ] {
            let e = parse_item(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
            assert!(e.contains("expected <identifier>host"), "{text}: {e}");
        }
    }

    #[test]
    fn default_ports() {
        // No port: the local HTTP port, internal = http + 1.
        let a = addr("node1", 60000, None);
        assert_eq!((a.http_port, a.internal_port), (60000, 60001));
        // The internal_port option fills a missing internal port.
        let a = addr("node1:7000:", 60000, Some(9999));
        assert_eq!((a.http_port, a.internal_port), (7000, 9999));
        // An explicit internal port wins over the option.
        let a = addr("node1::5555", 60000, Some(9999));
        assert_eq!((a.http_port, a.internal_port), (60000, 5555));
        // 0.18+ form: internal = http + 1.
        let a = addr("<n>node1:7000", 60000, None);
        assert_eq!(
            (a.identifier.as_str(), a.http_port, a.internal_port),
            ("n", 7000, 7001)
        );
        assert!(complete(&item("h:65535:"), 1, None)
            .unwrap_err()
            .contains("beyond 65535"));
    }

    #[test]
    fn clashes_found() {
        let list = |items: &[&str]| -> Vec<InstanceAddr> {
            items.iter().map(|t| addr(t, 60000, None)).collect()
        };
        assert!(clashes(&list(&["a", "b", "c"])).is_empty());
        assert!(clashes(&list(&["h:60000:", "h:60010:"])).is_empty());
        let c = clashes(&list(&["<x>a", "<x>b"]));
        assert!(c[0].contains("same identifier \"x\""), "{c:?}");
        let c = clashes(&list(&["h:60000:", "H:60001:"]));
        assert!(c[0].contains("both use port 60001"), "{c:?}");
        let c = clashes(&list(&["h:60000:60000"]));
        assert!(c[0].contains("both HTTP and the internal"), "{c:?}");
        // Same name deduced twice: `h` and `h::60010` are both named `h`.
        let c = clashes(&list(&["h", "h::60010"]));
        assert!(c[0].contains("same identifier"), "{c:?}");
    }
}
