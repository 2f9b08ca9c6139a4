//! Small text formats that clients parse or show, kept identical to Supervisor's Python output.

/// Python's `str(datetime.timedelta(seconds=n))`: `0:00:35`, `1 day, 2:03:04`, `3 days, 0:00:00`.
pub fn format_uptime(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let days = seconds / 86_400;
    let rest = seconds % 86_400;
    let hms = format!("{}:{:02}:{:02}", rest / 3600, (rest % 3600) / 60, rest % 60);
    match days {
        0 => hms,
        1 => format!("1 day, {hms}"),
        d => format!("{d} days, {hms}"),
    }
}

/// Supervisor's `capped_int`: XML-RPC ints are 32-bit, so larger values are clamped.
pub fn capped_int(value: i64) -> i32 {
    value.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_matches_python_timedelta() {
        assert_eq!(format_uptime(35), "0:00:35");
        assert_eq!(format_uptime(3600 + 62), "1:01:02");
        assert_eq!(format_uptime(86_400 + 7), "1 day, 0:00:07");
        assert_eq!(format_uptime(3 * 86_400), "3 days, 0:00:00");
        assert_eq!(format_uptime(-4), "0:00:00");
    }

    #[test]
    fn capped_int_clamps_to_i32() {
        assert_eq!(capped_int(5), 5);
        assert_eq!(capped_int(1 << 40), i32::MAX);
        assert_eq!(capped_int(-(1 << 40)), i32::MIN);
    }
}
