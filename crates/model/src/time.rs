//! The wall clock as Supvisors' messages carry it (epoch milliseconds: `remote_time`,
//! `local_time`, `now`), one definition for every crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch on this host's wall clock; 0 for a clock set before the
/// epoch, `i64::MAX` past the year 292 million.
pub fn epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn epoch_ms_is_after_2020() {
        assert!(super::epoch_ms() > 1_577_836_800_000);
    }
}
