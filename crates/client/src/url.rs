//! Server URLs as supervisorctl accepts them, `http://host:port[/path]` and `unix:///path`, and
//! raftvisor's `https://host:port[/path]` (a port with `tls_certificate`).

use std::path::PathBuf;

/// Where the server listens, and the path XML-RPC requests go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    pub endpoint: Endpoint,
    /// Path for XML-RPC POSTs: the URL's own path if it has one, else `/RPC2`.
    pub rpc_path: String,
    /// The URL as given, kept for messages like `<url> refused connection`.
    pub original: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `host:port` to connect to; also the `Host` header. `tls`: an `https://` URL.
    Tcp { host: String, port: u16, tls: bool },
    /// HTTP over a Unix stream socket; the `Host` header is `localhost` (as supervisorctl sends).
    Unix(PathBuf),
}

impl ServerUrl {
    /// Parses a server URL. `http://host` without a port means port 80, as in Python's client
    /// (`https://host`: 443).
    pub fn parse(url: &str) -> Result<ServerUrl, String> {
        if let Some(path) = url.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(format!("{url}: unix URL without a socket path"));
            }
            return Ok(ServerUrl {
                endpoint: Endpoint::Unix(PathBuf::from(path)),
                rpc_path: "/RPC2".into(),
                original: url.into(),
            });
        }
        let (rest, tls) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
            (Some(rest), _) => (rest, false),
            (None, Some(rest)) => (rest, true),
            (None, None) => {
                return Err(format!(
                    "{url}: URL must start with http://, https:// or unix://"
                ))
            }
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        // Credentials in the URL are not supported by supervisorctl either; refuse them rather
        // than leak them into the Host header.
        if authority.contains('@') {
            return Err(format!(
                "{url}: credentials in the URL are not supported, use username/password"
            ));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6
                .find(']')
                .ok_or_else(|| format!("{url}: bad IPv6 host"))?;
            let after = &v6[end + 1..];
            (&authority[..end + 2], after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(format!("{url}: no host"));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| format!("{url}: bad port {p:?}"))?,
            None if tls => 443,
            None => 80,
        };
        let rpc_path = if path.is_empty() || path == "/" {
            "/RPC2".to_string()
        } else {
            path.to_string()
        };
        Ok(ServerUrl {
            endpoint: Endpoint::Tcp {
                host: host.to_string(),
                port,
                tls,
            },
            rpc_path,
            original: url.into(),
        })
    }

    /// The `Host` header value.
    pub fn host_header(&self) -> String {
        match &self.endpoint {
            Endpoint::Tcp { host, port, .. } => format!("{host}:{port}"),
            Endpoint::Unix(_) => "localhost".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_supervisorctl_forms() {
        let u = ServerUrl::parse("http://127.0.0.1:9001").unwrap();
        assert_eq!(
            u.endpoint,
            Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 9001,
                tls: false
            }
        );
        assert_eq!(u.rpc_path, "/RPC2");
        assert_eq!(u.host_header(), "127.0.0.1:9001");
        let u = ServerUrl::parse("http://localhost:9001/RPC2").unwrap();
        assert_eq!(u.rpc_path, "/RPC2");
        let u = ServerUrl::parse("http://h").unwrap();
        assert_eq!(
            u.endpoint,
            Endpoint::Tcp {
                host: "h".into(),
                port: 80,
                tls: false
            }
        );
        let u = ServerUrl::parse("https://h").unwrap();
        assert_eq!(
            u.endpoint,
            Endpoint::Tcp {
                host: "h".into(),
                port: 443,
                tls: true
            }
        );
        assert_eq!(
            ServerUrl::parse("https://[::1]:9443/RPC2")
                .unwrap()
                .endpoint,
            Endpoint::Tcp {
                host: "[::1]".into(),
                port: 9443,
                tls: true
            }
        );
        let u = ServerUrl::parse("unix:///tmp/s.sock").unwrap();
        assert_eq!(u.endpoint, Endpoint::Unix("/tmp/s.sock".into()));
        assert_eq!(u.host_header(), "localhost");
        let u = ServerUrl::parse("http://[::1]:9001").unwrap();
        assert_eq!(
            u.endpoint,
            Endpoint::Tcp {
                host: "[::1]".into(),
                port: 9001,
                tls: false
            }
        );
    }

    #[test]
    fn rejects_bad_urls() {
        assert!(ServerUrl::parse("ftp://x").is_err());
        assert!(ServerUrl::parse("http://:9001").is_err());
        assert!(ServerUrl::parse("http://h:notaport").is_err());
        assert!(ServerUrl::parse("unix://").is_err());
        assert!(ServerUrl::parse("http://u:p@h:1").is_err());
    }
}
