//! HTTP basic authentication as Supervisor's `supervisor_auth_handler`: one user, a plain or
//! `{SHA}` (hex SHA-1) password, realm `default`.

use base64::Engine;
use model::{Credentials, Password};
use sha1::{Digest, Sha1};

/// The `WWW-Authenticate` value sent with every 401.
pub const CHALLENGE: &str = "Basic realm=\"default\"";

/// What an authenticated request may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Everything (the server's `username`, or a server without credentials).
    Full,
    /// Reads only (the server's `readonly_username`): no method that changes anything.
    ReadOnly,
}

/// What an `Authorization` header value grants, and the user it names ('' without
/// credentials configured); `None`: nothing (401). The read-only user is only checked when
/// the full one does not match.
pub fn access(
    full: Option<&Credentials>,
    read_only: Option<&Credentials>,
    header: Option<&[u8]>,
) -> Option<(Access, String)> {
    let Some(credentials) = full else {
        return Some((Access::Full, String::new()));
    };
    if authorized(Some(credentials), header) {
        return Some((Access::Full, credentials.username.clone()));
    }
    read_only
        .filter(|c| authorized(Some(c), header))
        .map(|c| (Access::ReadOnly, c.username.clone()))
}

/// Whether an `Authorization` header value grants access. No credentials configured → always.
pub fn authorized(credentials: Option<&Credentials>, header: Option<&[u8]>) -> bool {
    let Some(credentials) = credentials else {
        return true;
    };
    let Some((user, password)) = header.and_then(decode_basic) else {
        return false;
    };
    // Evaluate both comparisons so a wrong user name costs the same time as a wrong password.
    let user_ok = constant_time_eq(user.as_bytes(), credentials.username.as_bytes());
    let password_ok = match &credentials.password {
        Password::Plain(expected) => {
            constant_time_eq(password.as_bytes(), expected.expose().as_bytes())
        }
        Password::Sha1Hex(expected_hex) => {
            let digest = hex(&Sha1::digest(password.as_bytes()));
            constant_time_eq(
                digest.as_bytes(),
                expected_hex.expose().to_ascii_lowercase().as_bytes(),
            )
        }
    };
    user_ok & password_ok
}

/// `Basic base64(user:pass)` → `(user, pass)`. The scheme is case-insensitive; anything
/// undecodable is simply not a credential.
fn decode_basic(header: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(header).ok()?.trim();
    let (scheme, payload) = text.split_once(char::is_whitespace)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(payload.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares without an early exit on the first differing byte (the length still leaks, which
/// is fine for a password check).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_pass: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
        .into_bytes()
    }

    fn creds(password: Password) -> Credentials {
        Credentials {
            username: "user".into(),
            password,
        }
    }

    #[test]
    fn no_credentials_means_open() {
        assert!(authorized(None, None));
    }

    #[test]
    fn plain_password() {
        let c = creds(Password::Plain("123".into()));
        assert!(authorized(Some(&c), Some(&basic("user:123"))));
        assert!(!authorized(Some(&c), Some(&basic("user:124"))));
        assert!(!authorized(Some(&c), Some(&basic("other:123"))));
        assert!(!authorized(Some(&c), Some(b"Basic !!!")));
        assert!(!authorized(Some(&c), Some(b"Bearer abc")));
        assert!(!authorized(Some(&c), None));
        // Passwords may contain ':'; only the first one separates the user.
        let c = creds(Password::Plain("a:b".into()));
        assert!(authorized(Some(&c), Some(&basic("user:a:b"))));
    }

    #[test]
    fn the_read_only_user_gets_read_only_access() {
        let full = creds(Password::Plain("123".into()));
        let viewer = Credentials {
            username: "viewer".into(),
            password: Password::Plain("look".into()),
        };
        let grant = |h: &str| access(Some(&full), Some(&viewer), Some(&basic(h)));
        assert_eq!(grant("user:123"), Some((Access::Full, "user".into())));
        assert_eq!(
            grant("viewer:look"),
            Some((Access::ReadOnly, "viewer".into()))
        );
        assert_eq!(grant("viewer:123"), None);
        assert_eq!(grant("user:look"), None);
        assert_eq!(access(Some(&full), None, Some(&basic("viewer:look"))), None);
        assert_eq!(
            access(None, None, None),
            Some((Access::Full, String::new()))
        );
    }

    #[test]
    fn sha_password() {
        // sha1("thepassword")
        let c = creds(Password::Sha1Hex(
            "82ab876d1387bfafe46cc1c8a2ef074eae50cb1d".into(),
        ));
        assert!(authorized(Some(&c), Some(&basic("user:thepassword"))));
        assert!(!authorized(Some(&c), Some(&basic("user:wrong"))));
        let upper = creds(Password::Sha1Hex(
            "82AB876D1387BFAFE46CC1C8A2EF074EAE50CB1D".into(),
        ));
        assert!(authorized(Some(&upper), Some(&basic("user:thepassword"))));
    }
}
