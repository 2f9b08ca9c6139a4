//! Which item of `supvisors_list` is this instance, and which hosts are loopback.
//!
//! Supvisors 0.14 (`SupvisorsMapper.find_local_identifier`) takes the item whose identifier is
//! `[supervisord] identifier`, else the unique item whose host is one of the names/addresses that
//! `gethostbyaddr(gethostname())` returns. raftvisor does the same without any DNS query (a
//! resolver that hangs must not stall the daemon's start): the host name, its first label, and
//! the addresses of the local interfaces. Two refinements allow several instances per host:
//! the item's http_port must be the local `[inet_http_server]` port, and loopback names
//! (`localhost`, 127.0.0.0/8, ::1) count only when no other local name matches, so that a
//! config listing both `node1` and `localhost` picks `node1`.

use model::supvisors::InstanceAddr;
use std::net::IpAddr;

/// What this machine is called: the inputs of local-instance detection, fixed in tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalHost {
    /// `gethostname()`; also the default `supvisors_list`.
    pub host_name: String,
    /// Addresses of the local interfaces (loopback ones included; they are told apart).
    pub addresses: Vec<IpAddr>,
}

impl LocalHost {
    /// The host name and interface addresses of this machine. An unreadable interface list
    /// leaves `addresses` empty (items must then name the host or use an identifier).
    pub fn from_system() -> LocalHost {
        let addresses = nix::ifaddrs::getifaddrs()
            .map(|ifs| {
                let mut out: Vec<IpAddr> = Vec::new();
                for a in ifs.filter_map(|i| i.address) {
                    let ip = if let Some(v4) = a.as_sockaddr_in() {
                        IpAddr::V4(v4.ip())
                    } else if let Some(v6) = a.as_sockaddr_in6() {
                        IpAddr::V6(v6.ip())
                    } else {
                        continue;
                    };
                    if !out.contains(&ip) {
                        out.push(ip);
                    }
                }
                out
            })
            .unwrap_or_default();
        LocalHost {
            host_name: crate::system::host_node_name(),
            addresses,
        }
    }

    /// True when `host` names this machine other than through loopback.
    fn is_this_host(&self, host: &str) -> bool {
        if is_loopback(host) {
            return false;
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.addresses.contains(&ip);
        }
        let me = self.host_name.to_lowercase();
        let host = host.to_lowercase();
        if me.is_empty() || is_loopback(&me) {
            return false;
        }
        let first_label = |s: &str| s.split('.').next().unwrap_or_default().to_string();
        host == me
            || (!me.contains('.') && first_label(&host) == me)
            || (!host.contains('.') && first_label(&me) == host)
    }
}

/// `localhost`, or an address in 127.0.0.0/8 or `::1`.
pub(crate) fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The identifier of the local instance, or why it cannot be told.
pub(crate) fn find_local(
    instances: &[InstanceAddr],
    supervisord_identifier: &str,
    local_http_port: u16,
    me: &LocalHost,
) -> Result<String, String> {
    if let Some(i) = instances
        .iter()
        .find(|i| i.identifier == supervisord_identifier)
    {
        return Ok(i.identifier.clone());
    }
    let pick = |matches: &dyn Fn(&str) -> bool| -> Vec<&InstanceAddr> {
        instances
            .iter()
            .filter(|i| i.http_port == local_http_port && matches(&i.host))
            .collect()
    };
    let mut found = pick(&|h| me.is_this_host(h));
    if found.is_empty() {
        found = pick(&|h| is_loopback(h));
    }
    match found.as_slice() {
        [one] => Ok(one.identifier.clone()),
        [] => Err(format!(
            "this instance is not in supvisors_list: no item is named {supervisord_identifier:?} \
             (the [supervisord] identifier), and no item has a host of this machine ({}) with \
             http_port {local_http_port} (the [inet_http_server] port)",
            describe(me)
        )),
        many => Err(format!(
            "this instance is ambiguous in supvisors_list: {} all name this machine with \
             http_port {local_http_port}; set [supervisord] identifier to one of them",
            many.iter()
                .map(|i| i.identifier.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn describe(me: &LocalHost) -> String {
    let mut names: Vec<String> = Vec::new();
    if !me.host_name.is_empty() {
        names.push(me.host_name.clone());
    }
    names.extend(me.addresses.iter().map(IpAddr::to_string));
    if !names.iter().any(|n| n == "localhost") {
        names.push("localhost".to_string());
    }
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> LocalHost {
        LocalHost {
            host_name: "node1".to_string(),
            addresses: vec![
                "127.0.0.1".parse().unwrap(),
                "10.0.0.1".parse().unwrap(),
                "::1".parse().unwrap(),
            ],
        }
    }

    fn inst(id: &str, host: &str, http: u16) -> InstanceAddr {
        InstanceAddr {
            identifier: id.to_string(),
            host: host.to_string(),
            http_port: http,
            internal_port: http + 1,
        }
    }

    #[test]
    fn loopback_forms() {
        for h in ["localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "::1"] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["10.0.0.1", "node1", "::2", "localhost2"] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn host_names_match_by_name_first_label_or_address() {
        let m = me();
        assert!(m.is_this_host("node1"));
        assert!(m.is_this_host("NODE1.example.com"));
        assert!(m.is_this_host("10.0.0.1"));
        assert!(
            !m.is_this_host("127.0.0.1"),
            "loopback only in the second pass"
        );
        assert!(!m.is_this_host("node2"));
        assert!(!m.is_this_host("10.0.0.2"));
        let fq = LocalHost {
            host_name: "node1.example.com".to_string(),
            addresses: vec![],
        };
        assert!(fq.is_this_host("node1"));
        assert!(fq.is_this_host("node1.example.com"));
        assert!(!fq.is_this_host("node1.other.org"));
    }

    #[test]
    fn supervisord_identifier_wins() {
        let list = [inst("a", "node2", 60000), inst("b", "node1", 60000)];
        assert_eq!(find_local(&list, "a", 60000, &me()), Ok("a".to_string()));
        assert_eq!(
            find_local(&list, "supervisor", 60000, &me()),
            Ok("b".to_string())
        );
    }

    #[test]
    fn http_port_tells_instances_of_one_host_apart() {
        let list = [
            inst("a", "127.0.0.1", 60000),
            inst("b", "127.0.0.1", 60010),
            inst("c", "127.0.0.1", 60020),
        ];
        assert_eq!(
            find_local(&list, "supervisor", 60010, &me()),
            Ok("b".to_string())
        );
    }

    #[test]
    fn loopback_counts_only_when_nothing_else_matches() {
        let list = [inst("lo", "localhost", 60000), inst("n", "node1", 60000)];
        assert_eq!(
            find_local(&list, "supervisor", 60000, &me()),
            Ok("n".to_string())
        );
    }

    #[test]
    fn absent_or_ambiguous_is_an_error() {
        let list = [inst("x", "node2", 60000)];
        let e = find_local(&list, "supervisor", 60000, &me()).unwrap_err();
        assert!(
            e.starts_with("this instance is not in supvisors_list"),
            "{e}"
        );
        assert!(
            e.contains("node1, 127.0.0.1, 10.0.0.1, ::1, localhost"),
            "{e}"
        );
        // Right host, wrong port.
        let list = [inst("x", "node1", 60010)];
        assert!(find_local(&list, "supervisor", 60000, &me()).is_err());
        let list = [inst("x", "node1", 60000), inst("y", "10.0.0.1", 60000)];
        let e = find_local(&list, "supervisor", 60000, &me()).unwrap_err();
        assert!(e.contains("ambiguous") && e.contains("x, y"), "{e}");
    }
}
