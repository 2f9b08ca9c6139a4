//! The listening socket of an `[fcgi-program:x]` group. Every process of the group gets it as
//! its stdin (file descriptor 0) and accepts connections on it itself; the daemon only
//! creates it and holds it. As Supervisor's socket manager does, the socket is reference
//! counted by the processes that hold it: created when the first one spawns, closed when the
//! last one is reaped (or its spawn failed), created again by the next spawn.

use super::Actor;
use model::{Config, FcgiSocket, GroupKind, SocketEndpoint};
use socket2::{Domain, SockAddr, Socket, Type};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;

/// One group's socket and how many of its processes hold it.
pub(super) struct SharedSocket {
    spec: FcgiSocket,
    open: Option<OwnedFd>,
    holders: usize,
}

impl SharedSocket {
    pub(super) fn new(spec: FcgiSocket) -> SharedSocket {
        SharedSocket {
            spec,
            open: None,
            holders: 0,
        }
    }

    /// The socket of a group being added: as Supervisor does when it creates the group, the
    /// socket is created and closed at once, so a socket that cannot be created refuses the
    /// group rather than fail every spawn (a Unix socket's file stays, with its mode).
    pub(super) fn checked(spec: &FcgiSocket) -> Result<SharedSocket, String> {
        let mut socket = SharedSocket::new(spec.clone());
        socket.acquire()?;
        socket.release();
        Ok(socket)
    }

    pub(super) fn url(&self) -> String {
        self.spec.url()
    }

    /// Whether the socket exists now (some process holds it).
    #[cfg(test)]
    fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// A descriptor of the socket for one more holder, creating the socket for the first.
    /// The descriptor is close-on-exec: the spawner makes it the child's fd 0, which clears
    /// that flag for the child alone. On error nothing is held.
    pub(super) fn acquire(&mut self) -> Result<OwnedFd, String> {
        let failed = |e: io::Error| format!("Could not create FastCGI socket {}: {e}", self.url());
        let fd = match &self.open {
            Some(fd) => fd.try_clone().map_err(failed)?,
            None => {
                tracing::info!("Creating socket {}", self.url());
                let fd = create(&self.spec).map_err(failed)?;
                let child = fd.try_clone().map_err(failed)?;
                self.open = Some(fd);
                child
            }
        };
        self.holders += 1;
        Ok(fd)
    }

    /// One holder is gone; the last one closes the socket (a Unix socket's file stays, as
    /// Supervisor leaves it: a client then gets "connection refused").
    pub(super) fn release(&mut self) {
        self.holders = self.holders.saturating_sub(1);
        if self.holders == 0 && self.open.take().is_some() {
            tracing::info!("Closing socket {}", self.url());
        }
    }
}

impl Actor {
    /// A descriptor of the socket of process `id`'s group for its spawn, `None` when the group
    /// is not an fcgi-program's. The process holds the socket until
    /// [`Actor::release_socket`].
    pub(super) fn socket_for_spawn(&mut self, id: u64) -> Result<Option<OwnedFd>, String> {
        let Some(p) = self.procs.get_mut(&id) else {
            return Ok(None);
        };
        let Some(socket) = self
            .groups
            .iter_mut()
            .find(|g| g.spec.name == p.spec.group)
            .and_then(|g| g.socket.as_mut())
        else {
            return Ok(None);
        };
        if std::mem::take(&mut p.holds_socket) {
            socket.release(); // not expected: a process spawns again only once reaped
        }
        let fd = socket.acquire()?;
        p.holds_socket = true;
        Ok(Some(fd))
    }

    /// Process `id` no longer holds its group's socket (reaped, or its spawn failed); the
    /// last holder closes it.
    pub(super) fn release_socket(&mut self, id: u64) {
        let Some(p) = self.procs.get_mut(&id) else {
            return;
        };
        if !std::mem::take(&mut p.holds_socket) {
            return;
        }
        if let Some(socket) = self
            .groups
            .iter_mut()
            .find(|g| g.spec.name == p.spec.group)
            .and_then(|g| g.socket.as_mut())
        {
            socket.release();
        }
    }
}

/// Creates and closes the socket of every `[fcgi-program:x]` group of `config`: the check
/// Supervisor makes when it starts (it exits when one fails).
pub(crate) fn check_all(config: &Config) -> Result<(), String> {
    for g in &config.groups {
        if let GroupKind::FastCgi(spec) = &g.kind {
            SharedSocket::checked(spec)?;
        }
    }
    Ok(())
}

/// Creates, binds and listens: `SO_REUSEADDR` for TCP; for a Unix socket, an existing file is
/// removed first, then the new one gets its owner and mode (removed again on failure).
fn create(spec: &FcgiSocket) -> io::Result<OwnedFd> {
    let backlog = spec
        .backlog
        .and_then(|b| i32::try_from(b).ok())
        .unwrap_or(libc::SOMAXCONN);
    let socket = match &spec.endpoint {
        SocketEndpoint::Tcp { host, port } => {
            let addr = ipv4_of(host, *port)?;
            let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
            socket.set_reuse_address(true)?;
            socket.bind(&SockAddr::from(addr))?;
            socket
        }
        SocketEndpoint::Unix {
            path,
            uid,
            gid,
            mode,
        } => {
            if path.symlink_metadata().is_ok() {
                std::fs::remove_file(path)?;
            }
            let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
            let made = socket.bind(&SockAddr::unix(path)?).and_then(|()| {
                if uid.is_some() || gid.is_some() {
                    nix::unistd::chown(
                        path,
                        uid.map(nix::unistd::Uid::from_raw),
                        gid.map(nix::unistd::Gid::from_raw),
                    )?;
                }
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode))
            });
            if let Err(e) = made {
                let _ = std::fs::remove_file(path);
                return Err(e);
            }
            socket
        }
    };
    socket.listen(backlog)?;
    Ok(socket.into())
}

/// The first IPv4 address of `host` (a name is resolved, as Python's `bind` does for an
/// `AF_INET` socket; rare enough, and Supervisor blocks on it too).
fn ipv4_of(host: &str, port: u16) -> io::Result<SocketAddr> {
    (host, port)
        .to_socket_addrs()?
        .find(SocketAddr::is_ipv4)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no IPv4 address for {host}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};
    use std::os::unix::fs::FileTypeExt;

    fn free_port() -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    }

    #[test]
    fn tcp_socket_lives_while_held() {
        let port = free_port();
        let mut s = SharedSocket::new(FcgiSocket {
            endpoint: SocketEndpoint::Tcp {
                host: "127.0.0.1".into(),
                port,
            },
            backlog: Some(4),
        });
        let refused = || TcpStream::connect(("127.0.0.1", port)).is_err();
        assert!(refused());
        let a = s.acquire().expect("first holder creates it");
        let b = s.acquire().expect("second holder shares it");
        assert!(s.is_open());
        assert!(!refused());
        drop((a, b)); // the children's copies; the daemon's own stays until released
        s.release();
        assert!(s.is_open());
        assert!(!refused());
        s.release();
        assert!(!s.is_open());
        assert!(refused());
        // created again by the next holder
        let c = s.acquire().expect("created again");
        assert!(!refused());
        drop(c);
        s.release();
        assert!(refused());
    }

    #[test]
    fn unix_socket_replaces_the_file_with_its_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.sock");
        std::fs::write(&path, b"stale").expect("write");
        let mut s = SharedSocket::new(FcgiSocket {
            endpoint: SocketEndpoint::Unix {
                path: path.clone(),
                uid: None,
                gid: None,
                mode: 0o640,
            },
            backlog: None,
        });
        let fd = s.acquire().expect("created");
        let meta = std::fs::metadata(&path).expect("socket file");
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o640);
        assert!(std::os::unix::net::UnixStream::connect(&path).is_ok());
        drop(fd);
        s.release();
        // the file stays, nobody listens
        assert!(path.exists());
        assert!(std::os::unix::net::UnixStream::connect(&path).is_err());
    }

    #[test]
    fn a_failed_creation_holds_nothing() {
        let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = taken.local_addr().expect("addr").port();
        let mut s = SharedSocket::new(FcgiSocket {
            endpoint: SocketEndpoint::Tcp {
                host: "127.0.0.1".into(),
                port,
            },
            backlog: None,
        });
        let e = s.acquire().expect_err("port in use");
        assert!(
            e.starts_with(&format!(
                "Could not create FastCGI socket tcp://127.0.0.1:{port}: "
            )),
            "{e}"
        );
        assert!(!s.is_open());
        drop(taken);
        s.acquire().expect("free now");
        assert!(s.is_open());
    }
}
