//! Timestamps for people and programs: RFC 3339 with microseconds in UTC, and the short clock
//! form used in lists and ladders. Capture times are nanoseconds since the Unix epoch.

use jiff::Timestamp;

fn ts(ns: i64) -> Option<Timestamp> {
    Timestamp::from_nanosecond(i128::from(ns)).ok()
}

/// `2023-11-14T22:13:20.123456Z`.
pub fn rfc3339_micros(ns: i64) -> String {
    match ts(ns) {
        Some(t) => t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        None => format!("@{ns}ns"),
    }
}

/// `2023-11-14T22:13:20.123Z`.
pub fn rfc3339_millis(ns: i64) -> String {
    match ts(ns) {
        Some(t) => t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => format!("@{ns}ns"),
    }
}

/// `22:13:20.123` (UTC).
pub fn clock_millis(ns: i64) -> String {
    match ts(ns) {
        Some(t) => t.strftime("%H:%M:%S%.3f").to_string(),
        None => "??:??:??.???".to_string(),
    }
}

/// `2023-11-14 22:13:20.123` (UTC).
pub fn date_clock_millis(ns: i64) -> String {
    match ts(ns) {
        Some(t) => t.strftime("%Y-%m-%d %H:%M:%S%.3f").to_string(),
        None => "????-??-?? ??:??:??.???".to_string(),
    }
}

/// A duration for people: `12.345s` under a minute, `m:ss` under an hour, `h:mm:ss` beyond.
pub fn duration(ns: i64) -> String {
    let ns = ns.max(0);
    let secs = ns / 1_000_000_000;
    if secs < 60 {
        return format!("{}.{:03}s", secs, ns % 1_000_000_000 / 1_000_000);
    }
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// Reads a time given on the command line: RFC 3339 (`2023-11-14T22:13:20Z`, offsets allowed)
/// or seconds since the epoch (`1700000000.5`). Returns nanoseconds since the epoch.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(t) = s.parse::<Timestamp>() {
        return i64::try_from(t.as_nanosecond()).map_err(|_| format!("time out of range: {s}"));
    }
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() && secs.abs() < 9.0e9 {
            return Ok((secs * 1e9).round() as i64);
        }
    }
    Err(format!(
        "`{}` is not a time: use RFC 3339 (2023-11-14T22:13:20Z) or epoch seconds",
        super::escape_str(s)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        let ns = 1_700_000_000_123_456_789;
        assert_eq!(rfc3339_micros(ns), "2023-11-14T22:13:20.123456Z");
        assert_eq!(clock_millis(ns), "22:13:20.123");
        assert_eq!(parse_time("2023-11-14T22:13:20.123456789Z"), Ok(ns));
        assert_eq!(parse_time("1700000000"), Ok(1_700_000_000_000_000_000));
        assert!(parse_time("yesterday").is_err());
        assert_eq!(duration(1_500_000_000), "1.500s");
        assert_eq!(duration(61_000_000_000), "1:01");
        assert_eq!(duration(3_725_000_000_000), "1:02:05");
        assert_eq!(clock_millis(-1_000_000), "23:59:59.999");
        assert_eq!(
            date_clock_millis(90_000_000_000_000),
            "1970-01-02 01:00:00.000"
        );
        // Extreme times do not panic.
        let _ = (
            clock_millis(i64::MIN),
            date_clock_millis(i64::MAX),
            rfc3339_micros(i64::MIN),
        );
    }
}
