//! Who may talk on the internal port: every request carries the sender's identifier, a config
//! fingerprint and a token that signs this one request under the cluster secret. Pure
//! functions and data, no I/O; the receiver's memory of the nonces it accepted
//! ([`ReplayGuard`]) is kept by the server.
//!
//! The token (`x-raftvisor-token`) is `{at_ms}.{nonce}.{digest}.{mac}`: the sender's clock
//! (epoch ms), a nonce it never repeats, the SHA-1 of the body, and
//! `HMAC-SHA1(secret, "raftvisor-internal-v2" \n from \n fingerprint \n path \n at_ms \n nonce
//! \n digest)`, hex. The raw secret never travels; a token is bound to one sender, one
//! configuration, one path and one body, so a sniffed token cannot be replayed as another
//! instance, to another endpoint or with another body. The receiver checks all of it from the
//! request head (a stranger's body is never read), refuses a clock more than [`MAX_SKEW`] away
//! from its own and a nonce it already accepted within that window ([`ReplayGuard`]), then
//! compares the body with its digest once read. The append stream's frames are each sealed
//! under a key derived from the token that opened it, with a sequence number per direction
//! ([`FrameSeal`]): a frame cannot be forged, replayed, reordered or moved to another stream.
//! Hosts' clocks must agree within [`MAX_SKEW`] (NTP): past it, a host's requests are refused
//! and logged ("clock ... away"). Confidentiality is not provided: the internal traffic is in
//! clear (the same as Supvisors'); put a VPN or an encrypted network under it where that
//! matters.
//!
//! No secret configured (allowed only for loopback clusters) means every peer with the right
//! fingerprint and a known identifier is accepted, provided it connects from a loopback address.

use hmac::{Hmac, Mac};
use model::supvisors::SupvisorsSpec;
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

/// Header carrying the sender's identifier.
pub const HEADER_FROM: &str = "x-raftvisor-from";
/// Header carrying the sender's config fingerprint.
pub const HEADER_FINGERPRINT: &str = "x-raftvisor-fingerprint";
/// Header carrying the request's token (empty without a secret).
pub const HEADER_TOKEN: &str = "x-raftvisor-token";

const TOKEN_CONTEXT: &str = "raftvisor-internal-v2";
const STREAM_CONTEXT: &str = "raftvisor-stream-v1";

/// How far a request's clock may be from the receiver's, either way; also how long the
/// receiver remembers a nonce.
pub const MAX_SKEW_MS: i64 = 30_000;

/// The length of a frame's seal (an HMAC-SHA1).
pub const SEAL_LEN: usize = 20;

type HmacSha1 = Hmac<Sha1>;

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
    hmac_parts(key, &[message])
}

fn hmac_parts(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    // HMAC takes keys of any length: `new_from_slice` cannot fail.
    let mut mac = <HmacSha1 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The request's MAC over everything but the body, whose digest stands for it.
fn request_mac(
    secret: &[u8],
    from: &str,
    fingerprint: &str,
    path: &str,
    at_ms: i64,
    nonce: u64,
    digest: &str,
) -> [u8; 20] {
    let message =
        format!("{TOKEN_CONTEXT}\n{from}\n{fingerprint}\n{path}\n{at_ms}\n{nonce:016x}\n{digest}");
    hmac_sha1(secret, message.as_bytes())
}

/// The token of one request: see the module doc.
pub fn sign(
    secret: &str,
    from: &str,
    fingerprint: &str,
    path: &str,
    at_ms: i64,
    nonce: u64,
    body: &[u8],
) -> String {
    let digest = hex(&Sha1::digest(body));
    let mac = request_mac(
        secret.as_bytes(),
        from,
        fingerprint,
        path,
        at_ms,
        nonce,
        &digest,
    );
    format!("{at_ms}.{nonce:016x}.{digest}.{}", hex(&mac))
}

/// Signs this instance's requests: a secret (or none), who it is, its fingerprint, and
/// nonces that never repeat within its life (a random start, then one more per request).
pub struct Signer {
    secret: Option<model::Secret>,
    from: String,
    fingerprint: String,
    nonce: AtomicU64,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("secret", &self.secret)
            .field("from", &self.from)
            .finish()
    }
}

impl Signer {
    pub fn new(secret: Option<model::Secret>, from: String, fingerprint: String) -> Self {
        let mut seed = [0u8; 8];
        // Without the OS's randomness, the clock: nonces need to be unique, not secret.
        if getrandom::getrandom(&mut seed).is_err() {
            seed = model::time::epoch_ms().to_le_bytes();
        }
        Signer {
            secret,
            from,
            fingerprint,
            nonce: AtomicU64::new(u64::from_le_bytes(seed)),
        }
    }

    pub fn from(&self) -> &str {
        &self.from
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The token of a request to `path` with `body`, at `at_ms`; empty without a secret.
    pub fn token(&self, path: &str, body: &[u8], at_ms: i64) -> String {
        let Some(secret) = &self.secret else {
            return String::new();
        };
        let nonce = self.nonce.fetch_add(1, Ordering::Relaxed);
        sign(
            secret.expose(),
            &self.from,
            &self.fingerprint,
            path,
            at_ms,
            nonce,
            body,
        )
    }

    /// The seal of the stream that `token` opened, this end being the client.
    pub fn stream_seal(&self, token: &str) -> FrameSeal {
        FrameSeal::new(self.secret.as_ref(), token, true)
    }
}

/// A request whose head passed the gate: who sent it, and what its body must hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub from: String,
    /// The body's SHA-1, hex (`None` without a secret: nothing to compare).
    digest: Option<String>,
    /// The token, for [`FrameSeal`] when the request opens a stream.
    token: Option<String>,
    /// `(at_ms, nonce)`, for the [`ReplayGuard`].
    stamp: Option<(i64, u64)>,
}

impl Admitted {
    /// Whether `body` is the one the token signed.
    pub fn check_body(&self, body: &[u8]) -> Result<(), Refusal> {
        match &self.digest {
            Some(digest) if *digest != hex(&Sha1::digest(body)) => Err(Refusal::BodyMismatch),
            _ => Ok(()),
        }
    }

    pub fn stamp(&self) -> Option<(i64, u64)> {
        self.stamp
    }

    /// The seal of the stream this request opens, this end being the server.
    pub fn stream_seal(&self, secret: Option<&model::Secret>) -> FrameSeal {
        FrameSeal::new(secret, self.token.as_deref().unwrap_or_default(), false)
    }
}

/// The nonces a receiver accepted, per sender, for as long as their clock is inside the window:
/// a request seen once is refused the next time; an older one is refused by the window.
#[derive(Debug, Default)]
pub struct ReplayGuard {
    seen: HashMap<(String, u64), i64>,
    pruned_at: i64,
}

impl ReplayGuard {
    /// Accepts `(at_ms, nonce)` of `from` once.
    pub fn admit(&mut self, from: &str, stamp: (i64, u64), now_ms: i64) -> Result<(), Refusal> {
        if now_ms - self.pruned_at > 1_000 {
            // Past the window, the clock check refuses them anyway.
            self.seen.retain(|_, at| now_ms - *at <= MAX_SKEW_MS);
            self.pruned_at = now_ms;
        }
        let (at_ms, nonce) = stamp;
        match self.seen.entry((from.to_string(), nonce)) {
            std::collections::hash_map::Entry::Occupied(_) => Err(Refusal::Replayed),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(at_ms);
                Ok(())
            }
        }
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// Seals and opens the frames of one append stream: each frame is its body and
/// `HMAC-SHA1(key, direction, sequence number, body)`, the key derived from the token that
/// opened the stream. Without a secret, frames go as they are.
#[derive(Debug)]
pub struct FrameSeal {
    key: Option<[u8; 20]>,
    client: bool,
    sent: u64,
    received: u64,
}

impl FrameSeal {
    fn new(secret: Option<&model::Secret>, token: &str, client: bool) -> Self {
        let key = secret.map(|s| {
            hmac_sha1(
                s.expose().as_bytes(),
                format!("{STREAM_CONTEXT}\n{token}").as_bytes(),
            )
        });
        FrameSeal {
            key,
            client,
            sent: 0,
            received: 0,
        }
    }

    fn mac(key: &[u8; 20], from_client: bool, seq: u64, body: &[u8]) -> [u8; 20] {
        hmac_parts(key, &[&[u8::from(from_client)], &seq.to_be_bytes(), body])
    }

    /// The frame to send for `body`.
    pub fn seal(&mut self, body: &[u8]) -> Vec<u8> {
        let mut frame = body.to_vec();
        if let Some(key) = &self.key {
            frame.extend_from_slice(&Self::mac(key, self.client, self.sent, body));
            self.sent += 1;
        }
        frame
    }

    /// The body of a received frame, or why it is refused (the stream must then close).
    pub fn open<'a>(&mut self, frame: &'a [u8]) -> Result<&'a [u8], Refusal> {
        let Some(key) = &self.key else {
            return Ok(frame);
        };
        let Some(split) = frame.len().checked_sub(SEAL_LEN) else {
            return Err(Refusal::BadToken);
        };
        let (body, seal) = frame.split_at(split);
        if !constant_time_eq(seal, &Self::mac(key, !self.client, self.received, body)) {
            return Err(Refusal::BadToken);
        }
        self.received += 1;
        Ok(body)
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
    #[error("clock {skew_ms} ms away from ours (more than {MAX_SKEW_MS} ms): check NTP")]
    Skew { skew_ms: i64 },
    #[error("replayed request (its nonce was already accepted)")]
    Replayed,
    #[error("the body does not match its signature")]
    BodyMismatch,
    #[error("no cluster secret configured and the peer {0} is not on a loopback address")]
    NotLoopback(IpAddr),
}

impl Refusal {
    /// 401 for authentication failures, 403 for peers that are known not to belong.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::MissingHeader(_)
            | Refusal::BadToken
            | Refusal::Skew { .. }
            | Refusal::Replayed
            | Refusal::BodyMismatch => 401,
            _ => 403,
        }
    }
}

/// What a receiver checks: the fingerprint, the senders it knows and the secret their tokens
/// are signed with. Its `Debug` names the senders, never the secret.
#[derive(Clone)]
pub struct Gate {
    secret: Option<model::Secret>,
    fingerprint: String,
    known: std::collections::HashSet<String>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut senders: Vec<&String> = self.known.iter().collect();
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
        Gate {
            secret: spec.cluster_secret.clone(),
            fingerprint: fingerprint(spec),
            known: spec
                .instances
                .iter()
                .map(|i| i.identifier.clone())
                .collect(),
        }
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn secret(&self) -> Option<&model::Secret> {
        self.secret.as_ref()
    }

    /// The signer of this instance's requests, as `identifier`.
    pub fn signer(&self, identifier: &str) -> Signer {
        Signer::new(
            self.secret.clone(),
            identifier.to_string(),
            self.fingerprint.clone(),
        )
    }

    /// Checks one request's head (`None` = header absent), to `path`, from `remote`, at the
    /// receiver's `now_ms`. The nonce is for the caller's [`ReplayGuard`], the body for
    /// [`Admitted::check_body`].
    pub fn check(
        &self,
        from: Option<&str>,
        fingerprint: Option<&str>,
        token: Option<&str>,
        remote: Option<IpAddr>,
        path: &str,
        now_ms: i64,
    ) -> Result<Admitted, Refusal> {
        let from = from.ok_or(Refusal::MissingHeader(HEADER_FROM))?;
        let theirs = fingerprint.ok_or(Refusal::MissingHeader(HEADER_FINGERPRINT))?;
        if !self.known.contains(from) {
            return Err(Refusal::UnknownSender(from.to_string()));
        }
        if theirs != self.fingerprint {
            return Err(Refusal::Fingerprint {
                theirs: theirs.to_string(),
                ours: self.fingerprint.clone(),
            });
        }
        let Some(secret) = &self.secret else {
            if let Some(ip) = remote {
                if !ip.is_loopback() {
                    return Err(Refusal::NotLoopback(ip));
                }
            }
            return Ok(Admitted {
                from: from.to_string(),
                digest: None,
                token: None,
                stamp: None,
            });
        };
        let token = token.ok_or(Refusal::MissingHeader(HEADER_TOKEN))?;
        let mut parts = token.split('.');
        let (Some(at), Some(nonce), Some(digest), Some(mac), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(Refusal::BadToken);
        };
        let at_ms: i64 = at.parse().map_err(|_| Refusal::BadToken)?;
        let nonce = u64::from_str_radix(nonce, 16).map_err(|_| Refusal::BadToken)?;
        let expected = request_mac(
            secret.expose().as_bytes(),
            from,
            &self.fingerprint,
            path,
            at_ms,
            nonce,
            digest,
        );
        if !constant_time_eq(mac.as_bytes(), hex(&expected).as_bytes()) {
            return Err(Refusal::BadToken);
        }
        // After the MAC: a stranger learns nothing of our clock.
        let skew_ms = now_ms.saturating_sub(at_ms);
        if skew_ms.abs() > MAX_SKEW_MS {
            return Err(Refusal::Skew { skew_ms });
        }
        Ok(Admitted {
            from: from.to_string(),
            digest: Some(digest.to_string()),
            token: Some(token.to_string()),
            stamp: Some((at_ms, nonce)),
        })
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

    const NOW: i64 = 1_800_000_000_000;
    const LO: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    #[test]
    fn gate_admits_a_signed_request_once_and_refuses_the_rest() {
        let s = spec(&["a", "b"], Some("secret"));
        let gate = Gate::new(&s);
        let fp = gate.fingerprint().to_string();
        let b = gate.signer("b");
        let token = b.token("/ctl/write", b"body", NOW);
        let check = |from: &str, token: Option<&str>, path: &str, now: i64| {
            gate.check(Some(from), Some(&fp), token, LO, path, now)
        };
        let admitted = check("b", Some(&token), "/ctl/write", NOW + 5).unwrap();
        assert_eq!(admitted.from, "b");
        assert_eq!(admitted.check_body(b"body"), Ok(()));
        assert_eq!(admitted.check_body(b"bodY"), Err(Refusal::BodyMismatch));
        let mut guard = ReplayGuard::default();
        let stamp = admitted.stamp().unwrap();
        assert_eq!(guard.admit("b", stamp, NOW), Ok(()));
        assert_eq!(guard.admit("b", stamp, NOW + 10), Err(Refusal::Replayed));
        // The next request of b has another nonce.
        let next = b.token("/ctl/write", b"body", NOW);
        let next = check("b", Some(&next), "/ctl/write", NOW).unwrap();
        assert_eq!(guard.admit("b", next.stamp().unwrap(), NOW), Ok(()));
        // Bound to its sender, its path, the secret; within the clock window.
        assert_eq!(
            check("a", Some(&token), "/ctl/write", NOW),
            Err(Refusal::BadToken)
        );
        assert_eq!(
            check("b", Some(&token), "/ctl/orders", NOW),
            Err(Refusal::BadToken)
        );
        let other = Gate::new(&spec(&["a", "b"], Some("other"))).signer("b");
        let forged = other.token("/ctl/write", b"body", NOW);
        assert_eq!(
            check("b", Some(&forged), "/ctl/write", NOW),
            Err(Refusal::BadToken)
        );
        assert_eq!(
            check("b", Some(&token), "/ctl/write", NOW + MAX_SKEW_MS + 1),
            Err(Refusal::Skew {
                skew_ms: MAX_SKEW_MS + 1
            })
        );
        assert!(check("b", Some(&token), "/ctl/write", NOW - MAX_SKEW_MS).is_ok());
        for bad in ["", "x", "1.2.3", "1.zz.ab.cd", "1.2.3.4.5"] {
            assert_eq!(
                check("b", Some(bad), "/ctl/write", NOW),
                Err(Refusal::BadToken)
            );
        }
        assert_eq!(
            check("b", None, "/ctl/write", NOW),
            Err(Refusal::MissingHeader(HEADER_TOKEN))
        );
        assert!(matches!(
            check("z", Some(&token), "/ctl/write", NOW),
            Err(Refusal::UnknownSender(_))
        ));
        assert!(matches!(
            gate.check(Some("b"), Some("0"), Some(&token), LO, "/ctl/write", NOW),
            Err(Refusal::Fingerprint { .. })
        ));
    }

    #[test]
    fn the_replay_guard_forgets_what_the_clock_window_refuses() {
        let mut guard = ReplayGuard::default();
        for nonce in 0..100 {
            guard.admit("a", (NOW, nonce), NOW).unwrap();
        }
        assert_eq!(guard.len(), 100);
        assert_eq!(guard.admit("b", (NOW, 1), NOW), Ok(()), "per sender");
        guard.admit("a", (NOW + 60_000, 500), NOW + 60_000).unwrap();
        assert_eq!(guard.len(), 1);
    }

    #[test]
    fn stream_frames_are_sealed_in_order_and_in_one_direction() {
        let s = spec(&["a", "b"], Some("secret"));
        let gate = Gate::new(&s);
        let signer = gate.signer("a");
        let token = signer.token("/raft/stream", b"", NOW);
        let admitted = gate
            .check(
                Some("a"),
                Some(gate.fingerprint()),
                Some(&token),
                LO,
                "/raft/stream",
                NOW,
            )
            .unwrap();
        let mut client = signer.stream_seal(&token);
        let mut server = admitted.stream_seal(gate.secret());
        let first = client.seal(b"heartbeat");
        let second = client.seal(b"entries");
        assert_eq!(server.open(&first), Ok(&b"heartbeat"[..]));
        // Replayed, or out of order: refused.
        assert_eq!(server.open(&first), Err(Refusal::BadToken));
        assert_eq!(server.open(&second), Ok(&b"entries"[..]));
        let answer = server.seal(b"ok");
        // A client's own frame sent back to it is not an answer.
        let mut echo = signer.stream_seal(&token);
        let own = echo.seal(b"x");
        assert_eq!(client.open(&own), Err(Refusal::BadToken));
        assert_eq!(client.open(&answer), Ok(&b"ok"[..]));
        // Tampered, or from another stream's key.
        let mut tampered = client.seal(b"third");
        tampered[0] ^= 1;
        assert_eq!(server.open(&tampered), Err(Refusal::BadToken));
        let mut elsewhere = signer.stream_seal(&signer.token("/raft/stream", b"", NOW));
        let mut fresh = admitted.stream_seal(gate.secret());
        assert_eq!(fresh.open(&elsewhere.seal(b"x")), Err(Refusal::BadToken));
        assert_eq!(server.open(b"short"), Err(Refusal::BadToken));
        // Without a secret, frames go as they are.
        let mut plain = FrameSeal::new(None, "", true);
        assert_eq!(plain.seal(b"x"), b"x".to_vec());
        assert_eq!(plain.open(b"y"), Ok(&b"y"[..]));
    }

    #[test]
    fn debug_shows_neither_the_secret_nor_the_tokens() {
        let s = spec(&["a", "b"], Some("hunter2"));
        let gate = Gate::new(&s);
        let signer = gate.signer("a");
        let shown = format!("{gate:?} {s:?} {signer:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("senders: [\"a\", \"b\"]"), "{shown}");
    }

    #[test]
    fn without_secret_only_loopback_peers_pass() {
        let gate = Gate::new(&spec(&["a", "b"], None));
        let fp = gate.fingerprint().to_string();
        assert_eq!(gate.signer("a").token("/ctl/write", b"", NOW), "");
        let admitted = gate
            .check(Some("a"), Some(&fp), None, LO, "/ctl/write", NOW)
            .unwrap();
        assert_eq!(admitted.check_body(b"anything"), Ok(()));
        assert_eq!(admitted.stamp(), None);
        assert!(matches!(
            gate.check(
                Some("a"),
                Some(&fp),
                None,
                Some("10.0.0.1".parse().unwrap()),
                "/ctl/write",
                NOW
            ),
            Err(Refusal::NotLoopback(_))
        ));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
