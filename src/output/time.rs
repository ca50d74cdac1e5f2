//! Timestamps for people and programs: RFC 3339 with microseconds in UTC, and the short clock
//! form used in lists and ladders. Capture times are nanoseconds since the Unix epoch.

use std::cell::Cell;

use jiff::Timestamp;

fn ts(ns: i64) -> Option<Timestamp> {
    Timestamp::from_nanosecond(i128::from(ns)).ok()
}

/// `2023-11-14T22:13:20.123456Z`.
pub fn rfc3339_micros(ns: i64) -> String {
    match rfc3339_micros_bytes(ns) {
        Some(b) => ascii_string(&b),
        None => slow_rfc3339_micros(ns),
    }
}

/// [`rfc3339_micros`] through jiff: the reference, and the form of times no 4-digit year
/// can hold (none fits in an `i64` of nanoseconds, but the answer stays defined).
fn slow_rfc3339_micros(ns: i64) -> String {
    match ts(ns) {
        Some(t) => t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        None => format!("@{ns}ns"),
    }
}

/// The 27 ASCII bytes of [`rfc3339_micros`], computed without allocating or going through a
/// format string (one timestamp per exported message). `None` outside years 0 to 9999.
pub fn rfc3339_micros_bytes(ns: i64) -> Option<[u8; 27]> {
    const NS_PER_S: i64 = 1_000_000_000;
    let secs = ns.div_euclid(NS_PER_S);
    let micros = ns.rem_euclid(NS_PER_S) / 1000;
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let date = date_bytes(days)?;
    let mut out = *b"0000-00-00T00:00:00.000000Z";
    out[..10].copy_from_slice(&date);
    put_digits(&mut out[11..13], of_day / 3600);
    put_digits(&mut out[14..16], of_day % 3600 / 60);
    put_digits(&mut out[17..19], of_day % 60);
    put_digits(&mut out[20..26], micros);
    Some(out)
}

/// `2023-11-14`, the date of a day counted from 1970-01-01; `None` outside years 0 to 9999.
/// The last date written on this thread is kept: a capture's times mostly fall on one day,
/// and the calendar arithmetic is a third of a timestamp's cost.
fn date_bytes(days: i64) -> Option<[u8; 10]> {
    thread_local! {
        static LAST: Cell<Option<(i64, [u8; 10])>> = const { Cell::new(None) };
    }
    if let Some((last, date)) = LAST.with(Cell::get) {
        if last == days {
            return Some(date);
        }
    }
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        return None;
    }
    let mut out = *b"0000-00-00";
    put_digits(&mut out[0..4], year);
    put_digits(&mut out[5..7], month);
    put_digits(&mut out[8..10], day);
    LAST.with(|c| c.set(Some((days, out))));
    Some(out)
}

/// Writes `n` (not negative, small enough) as decimal digits filling `slot`, zero-padded.
fn put_digits(slot: &mut [u8], n: i64) {
    // Unsigned division by ten is cheaper than signed.
    let mut n = n.unsigned_abs();
    for d in slot.iter_mut().rev() {
        // n % 10 is 0..=9: the cast cannot truncate.
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Year, month (1-12) and day (1-31) of a day counted from 1970-01-01 in the proleptic
/// Gregorian calendar: the days are shifted to count from 0000-03-01, so that leap days fall
/// at the end of each year, then split into 400-year eras of 146,097 days each.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months from March: 0 = March ... 11 = February.
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `2023-11-14T22:13:20.123Z`: [`rfc3339_micros_bytes`] cut after the milliseconds (as
/// jiff's `%.3f` cuts; the tests compare both).
pub fn rfc3339_millis(ns: i64) -> String {
    match rfc3339_millis_bytes(ns) {
        Some(b) => ascii_string(&b),
        None => slow_rfc3339_millis(ns),
    }
}

/// The 24 ASCII bytes of [`rfc3339_millis`], without allocating. `None` outside years 0 to
/// 9999.
pub fn rfc3339_millis_bytes(ns: i64) -> Option<[u8; 24]> {
    let b = rfc3339_micros_bytes(ns)?;
    let mut out = [b'Z'; 24];
    out[..23].copy_from_slice(&b[..23]);
    Some(out)
}

/// ASCII bytes as a `String`, in one copy (collecting them as characters took about 25
/// instructions a byte).
fn ascii_string(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// [`rfc3339_millis`] through jiff: the reference, and the form of times outside years 0 to
/// 9999.
fn slow_rfc3339_millis(ns: i64) -> String {
    match ts(ns) {
        Some(t) => t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => format!("@{ns}ns"),
    }
}

/// `22:13:20.123` (UTC). Written by hand (one per call in lists and diagnoses); only the
/// time of day is needed, so every `i64` of nanoseconds has one.
pub fn clock_millis(ns: i64) -> String {
    ascii_string(&clock_millis_bytes(ns))
}

/// The 12 ASCII bytes of [`clock_millis`], without allocating.
pub fn clock_millis_bytes(ns: i64) -> [u8; 12] {
    const NS_PER_S: i64 = 1_000_000_000;
    let of_day = ns.div_euclid(NS_PER_S).rem_euclid(86_400);
    let millis = ns.rem_euclid(NS_PER_S) / 1_000_000;
    let mut out = *b"00:00:00.000";
    put_digits(&mut out[0..2], of_day / 3600);
    put_digits(&mut out[3..5], of_day % 3600 / 60);
    put_digits(&mut out[6..8], of_day % 60);
    put_digits(&mut out[9..12], millis);
    out
}

/// [`clock_millis`] through jiff: the reference the tests compare with.
#[cfg(test)]
fn slow_clock_millis(ns: i64) -> String {
    match ts(ns) {
        Some(t) => t.strftime("%H:%M:%S%.3f").to_string(),
        None => "??:??:??.???".to_string(),
    }
}

/// `2023-11-14 22:13:20.123` (UTC).
pub fn date_clock_millis(ns: i64) -> String {
    match date_clock_millis_bytes(ns) {
        Some(b) => ascii_string(&b),
        None => slow_date_clock_millis(ns),
    }
}

/// The 23 ASCII bytes of [`date_clock_millis`]: [`rfc3339_micros_bytes`] with a space for
/// the `T`, cut after the milliseconds. `None` outside years 0 to 9999.
pub fn date_clock_millis_bytes(ns: i64) -> Option<[u8; 23]> {
    let b = rfc3339_micros_bytes(ns)?;
    let mut out = [b' '; 23];
    out[..10].copy_from_slice(&b[..10]);
    out[11..].copy_from_slice(&b[11..23]);
    Some(out)
}

/// [`date_clock_millis`] through jiff: the reference, and the form of times outside years 0
/// to 9999.
fn slow_date_clock_millis(ns: i64) -> String {
    match ts(ns) {
        Some(t) => t.strftime("%Y-%m-%d %H:%M:%S%.3f").to_string(),
        None => "????-??-?? ??:??:??.???".to_string(),
    }
}

/// A duration for people: `12.345s` under a minute, `m:ss` under an hour, `h:mm:ss` beyond.
pub fn duration(ns: i64) -> String {
    let mut text = String::new();
    push_duration(&mut text, ns);
    text
}

/// [`duration`], appended to `out`; under a minute (the common case) written by hand.
pub fn push_duration(out: &mut String, ns: i64) {
    use std::fmt::Write;
    let ns = ns.max(0);
    let secs = ns / 1_000_000_000;
    if secs < 60 {
        // secs is 0..=59 and millis 0..=999: each digit is 0..=9, no cast truncates.
        let millis = ns % 1_000_000_000 / 1_000_000;
        let digit = |n: i64| char::from(b'0' + (n % 10) as u8);
        if secs >= 10 {
            out.push(digit(secs / 10));
        }
        out.push(digit(secs));
        out.push('.');
        out.push(digit(millis / 100));
        out.push(digit(millis / 10));
        out.push(digit(millis));
        out.push('s');
        return;
    }
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    // Writing to a String cannot fail.
    let _ = if h > 0 {
        write!(out, "{h}:{m:02}:{s:02}")
    } else {
        write!(out, "{m}:{s:02}")
    };
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

    /// The hand-written clock reads as jiff writes it, before 1970 and at the ends of the
    /// range too.
    #[test]
    fn clock_as_jiff_writes_it() {
        let mut cases = vec![i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            cases.push(x as i64);
            // Near now, with round seconds and milliseconds.
            let near = 1_700_000_000_000_000_000 + (x % 100_000_000_000_000_000) as i64;
            cases.extend([near, near - near % 1_000_000_000, near - near % 1_000_000]);
            cases.push(-near);
        }
        for ns in cases {
            assert_eq!(clock_millis(ns), slow_clock_millis(ns), "{ns}");
        }
    }

    /// The hand-written short form reads as the formatting it replaced, the long forms too.
    #[test]
    fn durations_as_formatted() {
        let reference = |ns: i64| {
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
        };
        let mut cases = vec![i64::MIN, -1, 0, 1, 999_999, 1_000_000, i64::MAX];
        for secs in [0i64, 1, 9, 10, 59, 60, 61, 3599, 3600, 86_400, 1_000_000] {
            for extra in [
                0i64,
                1_000_000,
                9_000_000,
                10_000_000,
                99_000_000,
                100_000_000,
            ] {
                for sub in [0i64, 999_999] {
                    cases.push(secs * 1_000_000_000 + extra * 9 + sub);
                    cases.push(secs * 1_000_000_000 + extra + sub);
                }
            }
        }
        for ns in cases {
            assert_eq!(duration(ns), reference(ns), "{ns}");
        }
    }

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
        assert_eq!(rfc3339_micros(-1), "1969-12-31T23:59:59.999999Z");
        // Extreme times do not panic.
        let _ = (
            clock_millis(i64::MIN),
            date_clock_millis(i64::MAX),
            rfc3339_micros(i64::MIN),
        );
    }

    /// The kept date is only reused for the same day: times switching between days and
    /// back, across midnight and the epoch, read as jiff writes them.
    #[test]
    fn the_kept_date_follows_the_day() {
        let day: i64 = 86_400_000_000_000;
        let t = 1_700_000_000_000_000_000i64;
        for ns in [
            t,
            t + 1,
            t - day,
            t,
            t + day - 1,
            t + day,
            -1,
            0,
            -1,
            -day,
            0,
            t,
        ] {
            assert_eq!(rfc3339_micros(ns), slow_rfc3339_micros(ns), "{ns}");
            assert_eq!(date_clock_millis(ns), slow_date_clock_millis(ns), "{ns}");
        }
    }

    /// The hand-written RFC 3339 printer against jiff: every day of several centuries at
    /// awkward times of day, leap days and century years, negative and extreme epochs.
    #[test]
    fn rfc3339_micros_and_millis_match_jiff() {
        let mut values = vec![
            0,
            -1,
            1,
            999,
            -999,
            -1000,
            1000,
            i64::MIN,
            i64::MIN + 1,
            i64::MAX,
            i64::MAX - 1,
            951_782_400_000_000_000,    // 2000-02-29
            4_107_542_399_999_999_999,  // 2100-02-28T23:59:59.999999999
            -2_208_988_800_000_000_000, // 1900-01-01
        ];
        let day: i64 = 86_400_000_000_000;
        let odd = 45_296_789_123_457; // 12:34:56.789123457
        let mut t = i64::MIN / day * day;
        let last = i64::MAX / day * day - 8 * day;
        while t < last {
            values.extend([t, t + odd, t - 1, t + day - 1]);
            t += day * 7 + 1;
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(x as i64);
        }
        for ns in values {
            assert_eq!(rfc3339_micros(ns), slow_rfc3339_micros(ns), "at {ns} ns");
            assert_eq!(rfc3339_millis(ns), slow_rfc3339_millis(ns), "at {ns} ns");
            assert_eq!(
                date_clock_millis(ns),
                slow_date_clock_millis(ns),
                "at {ns} ns"
            );
            assert_eq!(
                clock_millis_bytes(ns)[..],
                slow_clock_millis(ns).as_bytes()[..],
                "at {ns} ns"
            );
        }
    }
}
