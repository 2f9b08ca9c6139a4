//! Who may talk on the internal port: every request carries the sender's identifier, a config
//! fingerprint and a token derived from the cluster secret. Pure functions, no I/O.
//!
//! Choice of token: `HMAC-SHA1(secret, "raftvisor-internal-v1\n" + identifier + "\n" +
//! fingerprint)`, hex. The raw secret never travels, and a token is bound to one sender and one
//! configuration (a token sniffed from instance A cannot be replayed as instance B). It is
//! static per sender, so it does not protect against replay by someone who can read the
//! traffic: the internal network is a trusted LAN (or loopback) — the same trust model as
//! Supvisors' internal ports; put TLS/a VPN in front for anything else. SHA-1 is used because it
//! is already in the workspace; HMAC-SHA1 remains a sound MAC (RFC 6151 §2).
//!
//! No secret configured (allowed only for loopback clusters) means every peer with the right
//! fingerprint and a known identifier is accepted, provided it connects from a loopback address.

use model::supvisors::SupvisorsSpec;
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::net::IpAddr;

/// Header carrying the sender's identifier.
pub const HEADER_FROM: &str = "x-raftvisor-from";
/// Header carrying the sender's config fingerprint.
pub const HEADER_FINGERPRINT: &str = "x-raftvisor-fingerprint";
/// Header carrying the sender's token (hex HMAC, empty without a secret).
pub const HEADER_TOKEN: &str = "x-raftvisor-token";

const TOKEN_CONTEXT: &str = "raftvisor-internal-v1";

/// FNV-1a 64 of the parts of the config every instance must agree on: the sorted voter set and
/// the sorted instance list with their addresses, whether a secret is in use, and the fence
/// (`no_quorum_policy` and its bound). Two instances with different fingerprints would compute
/// different Raft memberships (split brain on `initialize`), or one would restart another's
/// programs before that one's fence has stopped them, so they refuse each other before
/// anything else happens.
pub fn fingerprint(spec: &SupvisorsSpec) -> String {
    let mut voters: Vec<&str> = spec.voters.iter().map(String::as_str).collect();
    voters.sort_unstable();
    let mut instances: Vec<String> = spec
        .instances
        .iter()
        .map(|i| {
            format!(
                "{}={}:{}:{}",
                i.identifier, i.host, i.http_port, i.internal_port
            )
        })
        .collect();
    instances.sort_unstable();
    let fence = spec
        .fence_bound()
        .map_or(0, |b| u64::try_from(b.as_millis()).unwrap_or(u64::MAX));
    let text = format!(
        "voters={}\ninstances={}\nsecret={}\nfence={}/{fence}",
        voters.join(","),
        instances.join(","),
        spec.cluster_secret.is_some(),
        spec.no_quorum_policy.name(),
    );
    format!("{:016x}", crate::types::node_id(&text))
}

/// HMAC-SHA1 (RFC 2104) of `message` under `key`.
pub fn hmac_sha1(key: &[u8], message: &[u8]) -> [u8; 20] {
    const BLOCK: usize = 64;
    let mut block_key = [0u8; BLOCK];
    if key.len() > BLOCK {
        block_key[..20].copy_from_slice(&Sha1::digest(key));
    } else {
        block_key[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha1::new();
    inner.update(block_key.map(|b| b ^ 0x36));
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = Sha1::new();
    outer.update(block_key.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The token `identifier` sends with `fingerprint`; empty when there is no secret.
pub fn token(secret: Option<&str>, identifier: &str, fingerprint: &str) -> String {
    match secret {
        None => String::new(),
        Some(secret) => {
            let message = format!("{TOKEN_CONTEXT}\n{identifier}\n{fingerprint}");
            hex(&hmac_sha1(secret.as_bytes(), message.as_bytes()))
        }
    }
}

/// Equality whose duration does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why a request was refused; maps to an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("unknown instance {0:?} (not in supvisors_list)")]
    UnknownSender(String),
    #[error(
        "config fingerprint {theirs} differs from ours {ours} (voters or instance list differ)"
    )]
    Fingerprint { theirs: String, ours: String },
    #[error("bad cluster secret token")]
    BadToken,
    #[error("no cluster secret configured and the peer {0} is not on a loopback address")]
    NotLoopback(IpAddr),
}

impl Refusal {
    /// 401 for authentication failures, 403 for peers that are known not to belong.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::MissingHeader(_) | Refusal::BadToken => 401,
            _ => 403,
        }
    }
}

/// What a receiver checks, computed once from its spec: the fingerprint and the token each
/// known instance must send (tokens are static per sender, so no request computes an HMAC).
/// Its `Debug` names the senders, never their tokens (credentials).
#[derive(Clone)]
pub struct Gate {
    secret: Option<model::Secret>,
    fingerprint: String,
    /// Each instance of the config and the token it sends (empty without a secret).
    known: HashMap<String, String>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut senders: Vec<&String> = self.known.keys().collect();
        senders.sort();
        f.debug_struct("Gate")
            .field("secret", &self.secret)
            .field("fingerprint", &self.fingerprint)
            .field("senders", &senders)
            .finish()
    }
}

impl Gate {
    pub fn new(spec: &SupvisorsSpec) -> Self {
        let fingerprint = fingerprint(spec);
        let secret = spec.cluster_secret.clone();
        let known = spec
            .instances
            .iter()
            .map(|i| {
                let expected = token(
                    secret.as_ref().map(model::Secret::expose),
                    &i.identifier,
                    &fingerprint,
                );
                (i.identifier.clone(), expected)
            })
            .collect();
        Gate {
            secret,
            fingerprint,
            known,
        }
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The token this instance sends as `identifier`.
    pub fn token_for(&self, identifier: &str) -> String {
        token(
            self.secret.as_ref().map(model::Secret::expose),
            identifier,
            &self.fingerprint,
        )
    }

    /// Checks one request's headers (`None` = header absent) and the peer's address. Returns
    /// the sender's identifier when accepted.
    pub fn check(
        &self,
        from: Option<&str>,
        fingerprint: Option<&str>,
        token: Option<&str>,
        remote: Option<IpAddr>,
    ) -> Result<String, Refusal> {
        let from = from.ok_or(Refusal::MissingHeader(HEADER_FROM))?;
        let theirs = fingerprint.ok_or(Refusal::MissingHeader(HEADER_FINGERPRINT))?;
        let Some(expected) = self.known.get(from) else {
            return Err(Refusal::UnknownSender(from.to_string()));
        };
        if theirs != self.fingerprint {
            return Err(Refusal::Fingerprint {
                theirs: theirs.to_string(),
                ours: self.fingerprint.clone(),
            });
        }
        match &self.secret {
            Some(_) => {
                let token = token.ok_or(Refusal::MissingHeader(HEADER_TOKEN))?;
                if !constant_time_eq(token.as_bytes(), expected.as_bytes()) {
                    return Err(Refusal::BadToken);
                }
            }
            None => {
                if let Some(ip) = remote {
                    if !ip.is_loopback() {
                        return Err(Refusal::NotLoopback(ip));
                    }
                }
            }
        }
        Ok(from.to_string())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use model::supvisors::*;
    use std::time::Duration;

    pub(crate) fn spec(ids: &[&str], secret: Option<&str>) -> SupvisorsSpec {
        SupvisorsSpec {
            instances: ids
                .iter()
                .enumerate()
                .map(|(n, id)| InstanceAddr {
                    identifier: id.to_string(),
                    host: "127.0.0.1".into(),
                    http_port: 9000 + n as u16,
                    internal_port: 9100 + n as u16,
                })
                .collect(),
            local_identifier: ids[0].to_string(),
            voters: ids.iter().map(|s| s.to_string()).collect(),
            core_identifiers_explicit: false,
            rules_files: vec![],
            auto_fence: false,
            no_quorum_policy: NoQuorumPolicy::StopMovable,
            fence_stop_timeout: Duration::from_secs(1),
            synchro_timeout: Duration::from_secs(10),
            inactivity_timeout: Duration::from_secs(1),
            fencing_timeout: Duration::from_millis(800),
            tick_interval: Duration::from_millis(100),
            disabilities_file: None,
            starting_strategy: StartingStrategy::Config,
            conciliation_strategy: ConciliationStrategy::User,
            cluster_secret: secret.map(model::Secret::new),
            data_dir: "/tmp".into(),
            raft: RaftTimings {
                heartbeat: Duration::from_millis(50),
                election_timeout_min: Duration::from_millis(150),
                election_timeout_max: Duration::from_millis(300),
            },
            event_interface: None,
            stats: Default::default(),
            notes: vec![],
        }
    }

    #[test]
    fn hmac_sha1_matches_rfc_2202() {
        // RFC 2202 test cases 1 and 2.
        assert_eq!(
            hex(&hmac_sha1(&[0x0b; 20], b"Hi There")),
            "b617318655057264e28bc0b6fb378c8ef146be00"
        );
        assert_eq!(
            hex(&hmac_sha1(b"Jefe", b"what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        // Case 6: a key longer than the block is hashed first.
        assert_eq!(
            hex(&hmac_sha1(
                &[0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "aa4ae5e15272d00e95705637ce8a3b55ed402112"
        );
    }

    #[test]
    fn fingerprint_ignores_declaration_order_but_not_content() {
        let a = spec(&["a", "b", "c"], Some("s"));
        let mut b = a.clone();
        b.instances.reverse();
        b.voters.reverse();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        let mut c = a.clone();
        c.voters.pop();
        assert_ne!(fingerprint(&a), fingerprint(&c));
        let mut d = a.clone();
        d.instances[1].internal_port += 1;
        assert_ne!(fingerprint(&a), fingerprint(&d));
        let mut e = a.clone();
        e.no_quorum_policy = NoQuorumPolicy::Ignore;
        assert_ne!(fingerprint(&a), fingerprint(&e));
        let mut f = a.clone();
        f.fence_stop_timeout += std::time::Duration::from_millis(1);
        assert_ne!(fingerprint(&a), fingerprint(&f));
    }

    #[test]
    fn gate_accepts_the_right_token_and_refuses_the_rest() {
        let s = spec(&["a", "b"], Some("secret"));
        let gate = Gate::new(&s);
        let fp = gate.fingerprint().to_string();
        let good = gate.token_for("b");
        let lo = Some("127.0.0.1".parse().unwrap());
        assert_eq!(
            gate.check(Some("b"), Some(&fp), Some(&good), lo),
            Ok("b".into())
        );
        // A's token does not authenticate B.
        let a_token = gate.token_for("a");
        assert_eq!(
            gate.check(Some("b"), Some(&fp), Some(&a_token), lo),
            Err(Refusal::BadToken)
        );
        assert_eq!(
            gate.check(Some("b"), Some(&fp), None, lo),
            Err(Refusal::MissingHeader(HEADER_TOKEN))
        );
        assert!(matches!(
            gate.check(Some("z"), Some(&fp), Some(&good), lo),
            Err(Refusal::UnknownSender(_))
        ));
        assert!(matches!(
            gate.check(Some("b"), Some("0"), Some(&good), lo),
            Err(Refusal::Fingerprint { .. })
        ));
        // Another secret gives another token.
        let other = Gate::new(&spec(&["a", "b"], Some("other")));
        assert_ne!(other.token_for("b"), good);
    }

    #[test]
    fn debug_shows_neither_the_secret_nor_the_tokens() {
        let s = spec(&["a", "b"], Some("hunter2"));
        let gate = Gate::new(&s);
        let shown = format!("{gate:?} {s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains(&gate.token_for("a")), "{shown}");
        assert!(shown.contains("senders: [\"a\", \"b\"]"), "{shown}");
    }

    #[test]
    fn without_secret_only_loopback_peers_pass() {
        let gate = Gate::new(&spec(&["a", "b"], None));
        let fp = gate.fingerprint().to_string();
        assert!(gate
            .check(
                Some("a"),
                Some(&fp),
                None,
                Some("127.0.0.1".parse().unwrap())
            )
            .is_ok());
        assert!(matches!(
            gate.check(
                Some("a"),
                Some(&fp),
                None,
                Some("10.0.0.1".parse().unwrap())
            ),
            Err(Refusal::NotLoopback(_))
        ));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
