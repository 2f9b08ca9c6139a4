//! The few questions the loader asks the machine: the host name, whether users, groups and
//! directories exist, the home directory for `~`, the current directory for relative paths.
//! Kept apart so the rest of the crate stays pure.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// Python's `platform.node()`; empty if the host name cannot be read.
pub(crate) fn host_node_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default()
}

/// Supervisor's `name_to_uid`: a user name or a numeric uid that must exist.
pub(crate) fn check_user(name: &str) -> Result<(), String> {
    user_ids(name).map(|_| ())
}

/// The `(uid, primary gid)` of a user name or numeric uid that must exist.
pub(crate) fn user_ids(name: &str) -> Result<(u32, u32), String> {
    let found = match name.parse::<u32>() {
        Ok(uid) => nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)),
        Err(_) => nix::unistd::User::from_name(name),
    };
    match found {
        Ok(Some(u)) => Ok((u.uid.as_raw(), u.gid.as_raw())),
        _ => Err(format!("no such user {name:?}")),
    }
}

/// Supervisor's `name_to_gid`.
pub(crate) fn check_group(name: &str) -> Result<(), String> {
    group_id(name).map(|_| ())
}

fn group_id(name: &str) -> Result<u32, String> {
    let found = match name.parse::<u32>() {
        Ok(gid) => nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid)),
        Err(_) => nix::unistd::Group::from_name(name),
    };
    match found {
        Ok(Some(g)) => Ok(g.gid.as_raw()),
        _ => Err(format!("no such group {name:?}")),
    }
}

/// `colon_separated_user_group` resolved: `user` gives `(uid, None)` (the group is left
/// alone), `user:group` gives both ids. Both must exist.
pub(crate) fn user_group_ids(text: &str) -> Result<(u32, Option<u32>), String> {
    match text.split_once(':') {
        Some((user, group)) => Ok((user_ids(user)?.0, Some(group_id(group)?))),
        None => Ok((user_ids(text)?.0, None)),
    }
}

/// The uid the daemon runs as.
pub(crate) fn current_uid() -> u32 {
    nix::unistd::getuid().as_raw()
}

/// `user` or `user:group`, both of which must exist (`colon_separated_user_group`).
pub(crate) fn check_user_group(text: &str) -> Result<(), String> {
    match text.split_once(':') {
        Some((user, group)) => {
            check_user(user)?;
            check_group(group)
        }
        None => check_user(text),
    }
}

/// Python's `os.path.expanduser`: `~` and `~/x` use `HOME` from `env` (else the passwd entry),
/// `~user/x` that user's home. Anything else, or an unknown user, is returned unchanged.
pub(crate) fn expand_user(path: &str, env: &BTreeMap<String, String>) -> String {
    let Some(rest) = path.strip_prefix('~') else {
        return path.to_string();
    };
    let (user, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let home = if user.is_empty() {
        env.get("HOME").cloned().or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.dir.to_string_lossy().into_owned())
        })
    } else {
        nix::unistd::User::from_name(user)
            .ok()
            .flatten()
            .map(|u| u.dir.to_string_lossy().into_owned())
    };
    match home {
        Some(h) => {
            let joined = format!("{}{tail}", h.trim_end_matches('/'));
            if joined.is_empty() {
                "/".to_string()
            } else {
                joined
            }
        }
        None => path.to_string(),
    }
}

/// Python's `os.path.normpath(os.path.abspath(p))`: absolute against the current directory, with
/// `.` and `..` resolved lexically (symlinks are not followed).
pub(crate) fn absolute(path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        match std::env::current_dir() {
            Ok(cwd) => cwd.join(path),
            Err(_) => path.to_path_buf(),
        }
    };
    let mut out = PathBuf::new();
    for comp in joined.components() {
        match comp {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Supervisor's `existing_dirpath`: the directory part, if any, must exist.
pub(crate) fn check_parent_dir(path: &Path) -> Result<(), String> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => {
            Err(format!("the directory {} does not exist", dir.display()))
        }
        _ => Ok(()),
    }
}

/// Supervisor's `existing_directory`.
pub(crate) fn check_dir(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        Ok(())
    } else {
        Err(format!("{} is not an existing directory", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_is_lexical() {
        assert_eq!(absolute(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert!(absolute(Path::new("x.log")).is_absolute());
    }

    #[test]
    fn expand_user_uses_home_from_env() {
        let env = BTreeMap::from([("HOME".to_string(), "/home/me".to_string())]);
        assert_eq!(expand_user("~/log/x", &env), "/home/me/log/x");
        assert_eq!(expand_user("~", &env), "/home/me");
        assert_eq!(expand_user("/tmp/~x", &env), "/tmp/~x");
        assert_eq!(expand_user("~nosuchuser_zz/x", &env), "~nosuchuser_zz/x");
        assert_eq!(expand_user("~root/x", &env), "/root/x");
    }

    #[test]
    fn users_and_dirs() {
        assert!(check_user("root").is_ok());
        assert!(check_user("0").is_ok());
        assert!(check_user("no_such_user_zz").is_err());
        assert!(check_user_group("root:root").is_ok());
        assert!(check_user_group("root:no_such_group_zz").is_err());
        assert_eq!(user_group_ids("root"), Ok((0, None)));
        assert_eq!(user_group_ids("0:0"), Ok((0, Some(0))));
        assert!(user_group_ids("root:no_such_group_zz").is_err());
        assert_eq!(user_ids("root"), Ok((0, 0)));
        assert!(check_parent_dir(Path::new("relative.log")).is_ok());
        assert!(check_parent_dir(Path::new("/no/such/dir/x.log")).is_err());
        assert!(check_dir(Path::new("/")).is_ok());
    }
}
