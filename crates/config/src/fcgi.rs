//! The socket options of an `[fcgi-program:x]` section (`socket`, `socket_backlog`,
//! `socket_owner`, `socket_mode`) → [`FcgiSocket`], with Supervisor's rules and words
//! (`parse_fcgi_socket` in its `options.py`): `unix://` paths must be absolute, owner and mode
//! are for Unix sockets only, a Unix socket's mode defaults to 0700 and its owner to the
//! program's `user` when that is not the daemon's user.
//!
//! The rest of the section is read as a `[program:x]` section is, by `programs`.

use crate::error::Problems;
use crate::expand::Vars;
use crate::reader::{Reported, Sect};
use crate::system;
use crate::values::{parse_int, parse_octal};
use model::{FcgiSocket, SocketEndpoint};
use std::path::Path;

/// The options only an `[fcgi-program:x]` section may have.
pub(crate) const FCGI_ONLY: [&str; 4] = ["socket", "socket_backlog", "socket_owner", "socket_mode"];

/// Reads the socket of fcgi section `s`; `None` once a problem is recorded. `vars` must hold
/// `program_name` (the only `%(...)` expansion Supervisor offers in `socket` besides `here`
/// and `ENV_*`); `user` is the section's `user` option.
pub(crate) fn socket(
    s: Sect<'_>,
    vars: &Vars,
    user: Option<&str>,
    p: &mut Problems,
) -> Option<FcgiSocket> {
    let backlog = s
        .parse(p, vars, "socket_backlog", |t| {
            let n = parse_int(t)?;
            u32::try_from(n)
                .ok()
                .filter(|n| (1..=65535).contains(n))
                .ok_or_else(|| format!("Invalid socket_backlog value {n}"))
        })
        .map_err(|Reported| ());
    let owner = s
        .parse(p, vars, "socket_owner", |t| {
            system::user_group_ids(t).map_err(|_| format!("Invalid socket_owner value {t}"))
        })
        .map_err(|Reported| ());
    let mode = s
        .parse(p, vars, "socket_mode", |t| {
            parse_octal(t).map_err(|_| format!("Invalid socket_mode value {t}"))
        })
        .map_err(|Reported| ());
    let url = match s.text(p, vars, "socket") {
        Ok(Some(t)) if !t.is_empty() => Some(t),
        Ok(_) => {
            s.section_error(p, "section requires a \"socket\" line");
            None
        }
        Err(Reported) => None,
    };
    // Supervisor gives a Unix socket to the program's user when that is not the daemon's.
    let user_ids = user
        .and_then(|u| system::user_ids(u).ok())
        .filter(|(uid, _)| *uid != system::current_uid());
    // the socket itself is checked even when another option was wrong: all problems at once
    let endpoint = endpoint(&url?, owner.ok().flatten(), mode.ok().flatten(), user_ids)
        .map_err(|e| s.key_error(p, "socket", e))
        .ok()?;
    let (backlog, _, _) = (backlog.ok()?, owner.ok()?, mode.ok()?);
    Some(FcgiSocket { endpoint, backlog })
}

/// Supervisor's `parse_fcgi_socket` on the expanded `socket` value: `unix:///abs/path`
/// (normalised) or `tcp://host:port`. `owner` and `mode` are the explicit options,
/// `user_ids` the program user's `(uid, gid)` when it differs from the daemon's.
pub(crate) fn endpoint(
    url: &str,
    owner: Option<(u32, Option<u32>)>,
    mode: Option<u32>,
    user_ids: Option<(u32, u32)>,
) -> Result<SocketEndpoint, String> {
    if let Some(path) = url.strip_prefix("unix://") {
        if !Path::new(path).is_absolute() {
            return Err(format!("Unix socket path {path} is not an absolute path"));
        }
        let (uid, gid) = match (owner, user_ids) {
            (Some((uid, gid)), _) => (Some(uid), gid),
            (None, Some((uid, gid))) => (Some(uid), Some(gid)),
            (None, None) => (None, None),
        };
        return Ok(SocketEndpoint::Unix {
            path: system::absolute(Path::new(path)),
            uid,
            gid,
            mode: mode.unwrap_or(0o700),
        });
    }
    if owner.is_some() || mode.is_some() {
        return Err(
            "socket_owner and socket_mode params should only be used with a Unix domain socket"
                .to_string(),
        );
    }
    let bad = || format!("Bad socket format {url}");
    let (host, port) = url
        .strip_prefix("tcp://")
        .and_then(|rest| rest.rsplit_once(':'))
        .ok_or_else(bad)?;
    let host_ok = !host.is_empty() && !host.contains(|c: char| c == ':' || c.is_whitespace());
    if !host_ok || port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let port = match port.parse::<u32>() {
        Ok(0) => return Err("0 is below lower bound (1)".to_string()),
        Ok(n) => u16::try_from(n).map_err(|_| format!("{n} is above upper bound (65535)"))?,
        Err(_) => return Err(format!("{port} is above upper bound (65535)")),
    };
    Ok(SocketEndpoint::Tcp {
        host: host.to_lowercase(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn tcp_sockets() {
        assert_eq!(
            endpoint("tcp://LocalHost:9000", None, None, None),
            Ok(SocketEndpoint::Tcp {
                host: "localhost".into(),
                port: 9000
            })
        );
        for bad in [
            "tcp://:9000",
            "tcp://host",
            "tcp://h:90x",
            "tcp://a b:1",
            "udp://h:1",
            "x",
        ] {
            assert_eq!(
                endpoint(bad, None, None, None),
                Err(format!("Bad socket format {bad}")),
                "{bad}"
            );
        }
        assert_eq!(
            endpoint("tcp://h:0", None, None, None),
            Err("0 is below lower bound (1)".into())
        );
        assert_eq!(
            endpoint("tcp://h:70000", None, None, None),
            Err("70000 is above upper bound (65535)".into())
        );
        assert_eq!(
            endpoint("tcp://h:1", None, Some(0o600), None),
            Err(
                "socket_owner and socket_mode params should only be used with a Unix domain socket"
                    .into()
            )
        );
    }

    #[test]
    fn unix_sockets() {
        assert_eq!(
            endpoint("unix:///run/../tmp/./x.sock", None, None, None),
            Ok(SocketEndpoint::Unix {
                path: PathBuf::from("/tmp/x.sock"),
                uid: None,
                gid: None,
                mode: 0o700
            })
        );
        assert_eq!(
            endpoint("unix://rel/x.sock", None, None, None),
            Err("Unix socket path rel/x.sock is not an absolute path".into())
        );
        // the program's user owns it unless socket_owner says otherwise
        let owned = |owner| match endpoint("unix:///x", owner, Some(0o666), Some((7, 8))) {
            Ok(SocketEndpoint::Unix { uid, gid, mode, .. }) => (uid, gid, mode),
            other => panic!("{other:?}"),
        };
        assert_eq!(owned(None), (Some(7), Some(8), 0o666));
        assert_eq!(owned(Some((1, None))), (Some(1), None, 0o666));
        assert_eq!(owned(Some((1, Some(2)))), (Some(1), Some(2), 0o666));
    }
}
