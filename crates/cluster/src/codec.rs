//! The one way bytes are persisted by this crate: a format-version byte, then bincode 2
//! (serde API, `config::standard()`). bincode has no schema evolution, so the version byte is
//! what lets a later release recognise (and migrate or refuse) data written by an older one
//! instead of decoding garbage. Every decode is size-limited, so a corrupt length prefix cannot
//! make us allocate gigabytes.

use bincode::config;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Format version of every blob this crate writes (log entries, vote, snapshots…). Bump it
/// whenever the shape of anything persisted or sent changes, so old data is refused by name
/// ([`CodecError::UnknownVersion`]) instead of decoded as garbage.
///
/// * 1 — first format.
/// * 2 — ticks carry the sender's tick counter and both clocks (`Command::Tick { stamp }`,
///   `InstanceRecord::last_tick`, `TickRequest::{counter, sent_at}`). Version-1 data is not
///   migrated (nothing was deployed with it): a version-1 data dir must be wiped.
/// * 3 — the commander's jobs and pending failures in the state (`Command::Jobs`).
/// * 4 — the redeploy mark in the state (`ClusterState::redeploy_pending`).
/// * 5 — fence reports: `Command::Fenced` and `InstanceRecord::losses`.
/// * 6 — full batches of process events (`Command::ProcessEvents { full }`), the sender's
///   incarnation in ticks (`Command::Tick { incarnation }`), the removed processes (`ClusterState::deleted`), the deployed incarnations, the first job of the life
///   and the count of full restarts in the state.
/// * 7 — stamped entries (`Command::Stamped`) and the history in the state
///   (`ClusterState::history`).
/// * 8 — a silent instance's loss in two steps: `Command::InstanceLost` and
///   `InstanceRecord::pending_loss`.
/// * 9 — a fence report names the runs it stopped (`Command::Fenced { stopped }`: namespec,
///   pid and start time), not only their namespecs.
pub const FORMAT_VERSION: u8 = 9;

/// Largest blob we accept when decoding (64 MiB): far above a real cluster state, far below
/// what a corrupted length could claim.
pub const MAX_BLOB_BYTES: usize = 64 << 20;

/// Why a persisted blob could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("empty blob: no format version byte")]
    Empty,
    #[error("unsupported format version {found} (this build reads version {expected})")]
    UnknownVersion { found: u8, expected: u8 },
    #[error("blob has {extra} trailing byte(s) after the value")]
    TrailingBytes { extra: usize },
    #[error("bincode decode: {0}")]
    Decode(#[from] bincode::error::DecodeError),
    #[error("bincode encode: {0}")]
    Encode(#[from] bincode::error::EncodeError),
}

/// `FORMAT_VERSION` followed by the bincode encoding of `value`.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    let body = bincode::serde::encode_to_vec(value, config::standard())?;
    let mut out = Vec::with_capacity(body.len() + 1);
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&body);
    Ok(out)
}

/// Reverse of [`encode`]: checks the version byte, decodes with a [`MAX_BLOB_BYTES`] limit and
/// refuses trailing bytes (a truncated or concatenated blob is corruption, not data).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (&version, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    if version != FORMAT_VERSION {
        return Err(CodecError::UnknownVersion {
            found: version,
            expected: FORMAT_VERSION,
        });
    }
    let cfg = config::standard().with_limit::<MAX_BLOB_BYTES>();
    let (value, read) = bincode::serde::decode_from_slice::<T, _>(body, cfg)?;
    if read != body.len() {
        return Err(CodecError::TrailingBytes {
            extra: body.len() - read,
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_value_and_prefixes_version() {
        let v = (7u64, String::from("abc"), vec![1u32, 2, 3]);
        let bytes = encode(&v).unwrap();
        assert_eq!(bytes[0], FORMAT_VERSION);
        assert_eq!(decode::<(u64, String, Vec<u32>)>(&bytes).unwrap(), v);
    }

    #[test]
    fn wrong_version_empty_and_trailing_bytes_are_refused() {
        let mut bytes = encode(&5u32).unwrap();
        assert!(matches!(decode::<u32>(&[]), Err(CodecError::Empty)));
        bytes.push(0);
        assert!(matches!(
            decode::<u32>(&bytes),
            Err(CodecError::TrailingBytes { extra: 1 })
        ));
        bytes.pop();
        bytes[0] = FORMAT_VERSION + 1;
        assert!(matches!(
            decode::<u32>(&bytes),
            Err(CodecError::UnknownVersion { .. })
        ));
    }

    #[test]
    fn absurd_length_prefix_is_refused_by_the_limit() {
        // A Vec<u8> claiming u64::MAX/2 elements (varint 0xFD + 8 bytes) must not allocate.
        let mut bytes = vec![FORMAT_VERSION, 0xFD];
        bytes.extend_from_slice(&(u64::MAX / 2).to_le_bytes());
        assert!(matches!(
            decode::<Vec<u8>>(&bytes),
            Err(CodecError::Decode(_))
        ));
    }
}
