//! Network endpoints as the configuration names them: a host (a name, an IPv4 address or an
//! IPv6 address) and a port.
//!
//! Why a type and not a `"{host}:{port}"` string: an IPv6 address contains `:` itself, so the
//! string form must bracket it (`[::1]:9001`, RFC 3986 §3.2.2) and every reader must un-bracket
//! it again. [`HostPort`] keeps the two parts apart (the host always unbracketed) and writes the
//! bracketed form only where text is needed: URLs, `Host` headers, messages.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// A host (unbracketed: `::1`, `10.0.0.1`, `node1`) and a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    host: String,
    port: u16,
}

impl HostPort {
    /// `host` may be written with or without IPv6 brackets.
    pub fn new(host: &str, port: u16) -> HostPort {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        HostPort {
            host: host.to_string(),
            port,
        }
    }

    /// Parses `host:port` or `[ipv6]:port`. An unbracketed host containing `:` is refused: it
    /// cannot be told from its port.
    pub fn parse(text: &str) -> Result<HostPort, String> {
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (v6, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("{text:?}: `[` without a closing `]`"))?;
            if v6.parse::<Ipv6Addr>().is_err() {
                return Err(format!("{text:?}: {v6:?} is not an IPv6 address"));
            }
            let port = after
                .strip_prefix(':')
                .ok_or_else(|| format!("{text:?}: no `:port` after the IPv6 address"))?;
            (v6, port)
        } else {
            let (host, port) = text
                .rsplit_once(':')
                .ok_or_else(|| format!("{text:?}: no `:port`"))?;
            if host.contains(':') {
                return Err(format!(
                    "{text:?}: an IPv6 address must be written in brackets, e.g. [::1]:9001"
                ));
            }
            (host, port)
        };
        if host.is_empty() {
            return Err(format!("{text:?}: no host"));
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("{text:?}: {port:?} is not a port in 1..65535"))?;
        Ok(HostPort {
            host: host.to_string(),
            port,
        })
    }

    /// The host, unbracketed (what resolvers and `(host, port)` socket APIs take).
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The socket address when the host is an IP address (no resolution), else `None`.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        self.host
            .parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, self.port))
    }
}

/// `host:port`, with an IPv6 host in brackets: the form of URLs and `Host` headers.
impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl From<SocketAddr> for HostPort {
    fn from(addr: SocketAddr) -> HostPort {
        HostPort {
            host: addr.ip().to_string(),
            port: addr.port(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_hosts_are_bracketed_in_text_only() {
        let v6 = HostPort::new("::1", 9001);
        assert_eq!(v6.host(), "::1");
        assert_eq!(v6.to_string(), "[::1]:9001");
        assert_eq!(HostPort::new("[::1]", 9001), v6);
        assert_eq!(v6.socket_addr(), Some("[::1]:9001".parse().unwrap()));
        let v4 = HostPort::new("127.0.0.1", 9001);
        assert_eq!(v4.to_string(), "127.0.0.1:9001");
        let name = HostPort::new("node1", 80);
        assert_eq!(name.to_string(), "node1:80");
        assert_eq!(name.socket_addr(), None);
        let from: HostPort = "[fe80::1]:7".parse::<SocketAddr>().unwrap().into();
        assert_eq!(from.to_string(), "[fe80::1]:7");
    }

    #[test]
    fn parse_round_trips_and_names_what_is_wrong() {
        for text in [
            "[::1]:9001",
            "127.0.0.1:1",
            "node1:65535",
            "[2001:db8::2]:80",
        ] {
            assert_eq!(HostPort::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(HostPort::parse("[::1]:9001").unwrap().host(), "::1");
        for (bad, why) in [
            ("::1:9001", "brackets"),
            ("[::1]9001", "no `:port`"),
            ("[::1:9001", "closing"),
            ("[nope]:1", "not an IPv6"),
            ("h:0", "not a port"),
            ("h:x", "not a port"),
            (":80", "no host"),
            ("h", "no `:port`"),
        ] {
            let err = HostPort::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
