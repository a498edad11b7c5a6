//! Timestamps: every format logspike reads becomes UTC microseconds plus
//! the offset the line was written in.
//!
//! The common formats (CLF, ISO 8601, epoch, W3C) are decoded by hand: they
//! are on the hot path and chrono's generic parser is several times slower.
//! Apache `%{...}t` strftime patterns go through chrono.

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};

use crate::grammar::TimeFormat;

/// An instant in UTC microseconds and the UTC offset it was logged with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    pub micros: i64,
    pub offset_secs: i32,
}

impl Timestamp {
    pub fn utc(micros: i64) -> Timestamp {
        Timestamp {
            micros,
            offset_secs: 0,
        }
    }

    /// The instant as a chrono value in its original offset.
    pub fn to_datetime(self) -> Option<DateTime<FixedOffset>> {
        let offset = FixedOffset::east_opt(self.offset_secs)?;
        let utc = DateTime::<Utc>::from_timestamp_micros(self.micros)?;
        Some(utc.with_timezone(&offset))
    }

    /// RFC 3339 in UTC, the form used in every machine-readable output.
    pub fn to_rfc3339_utc(self) -> String {
        match DateTime::<Utc>::from_timestamp_micros(self.micros) {
            Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            None => format!("@{}us", self.micros),
        }
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in the offset the line was logged with.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_datetime() {
            Some(t) => write!(
                f,
                "{}",
                t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
            ),
            None => write!(f, "@{}us", self.micros),
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

#[inline]
fn digits(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() {
        return None;
    }
    let mut value = 0u32;
    for &b in bytes {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        value = value * 10 + d as u32;
    }
    Some(value)
}

/// Microseconds since the epoch of a validated civil date and time.
fn civil_micros(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32, frac_us: u32) -> Option<i64> {
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60
    {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + (h * 3600 + mi * 60 + s) as i64;
    Some(secs * 1_000_000 + frac_us as i64)
}

fn month_from_abbrev(m: &[u8]) -> Option<u32> {
    let lower = [
        m[0].to_ascii_lowercase(),
        m[1].to_ascii_lowercase(),
        m[2].to_ascii_lowercase(),
    ];
    Some(match &lower {
        b"jan" => 1,
        b"feb" => 2,
        b"mar" => 3,
        b"apr" => 4,
        b"may" => 5,
        b"jun" => 6,
        b"jul" => 7,
        b"aug" => 8,
        b"sep" => 9,
        b"oct" => 10,
        b"nov" => 11,
        b"dec" => 12,
        _ => return None,
    })
}

/// `+hhmm`, `-hhmm`, `+hh:mm`, `Z` -> seconds east of UTC.
fn offset(bytes: &[u8]) -> Option<i32> {
    let (sign, rest) = match bytes.first()? {
        b'Z' | b'z' if bytes.len() == 1 => return Some(0),
        b'+' => (1, &bytes[1..]),
        b'-' => (-1, &bytes[1..]),
        _ => return None,
    };
    let (h, m) = match rest.len() {
        4 => (digits(&rest[..2])?, digits(&rest[2..])?),
        5 if rest[2] == b':' => (digits(&rest[..2])?, digits(&rest[3..])?),
        2 => (digits(rest)?, 0),
        _ => return None,
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * (h as i32 * 3600 + m as i32 * 60))
}

/// `.123` or `,123456` -> microseconds; more digits are truncated.
fn fraction(bytes: &[u8]) -> Option<u32> {
    if bytes.len() < 2 || !matches!(bytes[0], b'.' | b',') {
        return None;
    }
    let mut us = 0u32;
    let mut scale = 100_000u32;
    for &b in &bytes[1..] {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        us += d as u32 * scale;
        scale /= 10;
    }
    Some(us)
}

/// `10/Oct/2000:13:55:36 -0700`.
pub fn parse_clf(b: &[u8]) -> Option<Timestamp> {
    if b.len() < 26 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[20] != b' ' {
        return None;
    }
    let d = digits(&b[0..2])?;
    let mo = month_from_abbrev(&b[3..6])?;
    let y = digits(&b[7..11])? as i64;
    if b[14] != b':' || b[17] != b':' {
        return None;
    }
    let h = digits(&b[12..14])?;
    let mi = digits(&b[15..17])?;
    let s = digits(&b[18..20])?;
    let off = offset(&b[21..])?;
    let local = civil_micros(y, mo, d, h, mi, s, 0)?;
    Some(Timestamp {
        micros: local - off as i64 * 1_000_000,
        offset_secs: off,
    })
}

/// `2000-10-10T13:55:36-07:00`, with an optional fraction; `T` or a space.
pub fn parse_iso8601(b: &[u8]) -> Option<Timestamp> {
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let y = digits(&b[0..4])? as i64;
    let mo = digits(&b[5..7])?;
    let d = digits(&b[8..10])?;
    let h = digits(&b[11..13])?;
    let mi = digits(&b[14..16])?;
    let s = digits(&b[17..19])?;
    let rest = &b[19..];
    let zone_at = rest
        .iter()
        .position(|&c| matches!(c, b'+' | b'-' | b'Z' | b'z'))
        .unwrap_or(rest.len());
    let frac = if zone_at > 0 {
        fraction(&rest[..zone_at])?
    } else {
        0
    };
    let off = if zone_at < rest.len() {
        offset(&rest[zone_at..])?
    } else {
        0
    };
    let local = civil_micros(y, mo, d, h, mi, s, frac)?;
    Some(Timestamp {
        micros: local - off as i64 * 1_000_000,
        offset_secs: off,
    })
}

/// Seconds since the epoch, optionally with a fraction (`1472203200.123`),
/// scaled by `unit_us` microseconds per unit.
pub fn parse_epoch(b: &[u8], unit_us: i64) -> Option<Timestamp> {
    let dot = b.iter().position(|&c| c == b'.').unwrap_or(b.len());
    if dot == 0 || dot > 16 {
        return None;
    }
    let whole = b[..dot].iter().try_fold(0i64, |acc, &c| {
        let d = c.wrapping_sub(b'0');
        (d <= 9).then(|| acc * 10 + d as i64)
    })?;
    let frac_us = if dot < b.len() {
        fraction(&b[dot..])? as i64
    } else {
        0
    };
    Some(Timestamp::utc(
        whole * unit_us + frac_us * unit_us / 1_000_000,
    ))
}

/// IIS `date` (`2018-01-01`) and `time` (`08:09:10` or `08:09:10.123`), UTC.
pub fn parse_w3c(date: &[u8], time: &[u8]) -> Option<Timestamp> {
    if date.len() != 10 || date[4] != b'-' || date[7] != b'-' {
        return None;
    }
    if time.len() < 8 || time[2] != b':' || time[5] != b':' {
        return None;
    }
    let y = digits(&date[0..4])? as i64;
    let mo = digits(&date[5..7])?;
    let d = digits(&date[8..10])?;
    let h = digits(&time[0..2])?;
    let mi = digits(&time[3..5])?;
    let s = digits(&time[6..8])?;
    let frac = if time.len() > 8 {
        fraction(&time[8..])?
    } else {
        0
    };
    Some(Timestamp::utc(civil_micros(y, mo, d, h, mi, s, frac)?))
}

/// A strftime pattern, through chrono. Without `%z` the time is taken as UTC.
pub fn parse_strftime(b: &[u8], pattern: &str) -> Option<Timestamp> {
    let text = std::str::from_utf8(b).ok()?;
    if let Ok(t) = DateTime::parse_from_str(text, pattern) {
        return Some(Timestamp {
            micros: t.timestamp_micros(),
            offset_secs: t.offset().local_minus_utc(),
        });
    }
    let naive = NaiveDateTime::parse_from_str(text, pattern).ok()?;
    Some(Timestamp::utc(
        Utc.from_utc_datetime(&naive).timestamp_micros(),
    ))
}

/// Decodes one time field. W3C date and time come in pairs and are decoded
/// by [`parse_w3c`] instead.
pub fn parse(format: &TimeFormat, b: &[u8]) -> Option<Timestamp> {
    match format {
        TimeFormat::Clf => parse_clf(b),
        TimeFormat::Iso8601 => parse_iso8601(b),
        TimeFormat::EpochSeconds => parse_epoch(b, 1_000_000),
        TimeFormat::EpochMillis => parse_epoch(b, 1_000),
        TimeFormat::EpochMicros => parse_epoch(b, 1),
        TimeFormat::Strftime(pattern) => parse_strftime(b, pattern),
        TimeFormat::W3cDate | TimeFormat::W3cTime => None,
    }
}

/// Equality of two short equal-length slices, a word at a time.
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        if u64::from_le_bytes(x.try_into().unwrap()) != u64::from_le_bytes(y.try_into().unwrap()) {
            return false;
        }
    }
    ca.remainder() == cb.remainder()
}

/// Remembers the last decoded time text: consecutive log lines mostly share
/// their second, so most lines skip the decoding.
#[derive(Default)]
pub struct TimeCache {
    text: [u8; 32],
    len: usize,
    value: Option<Timestamp>,
}

impl TimeCache {
    #[inline]
    pub fn get(&mut self, format: &TimeFormat, b: &[u8]) -> Option<Timestamp> {
        if b.len() == self.len && same_bytes(b, &self.text[..self.len]) {
            return self.value;
        }
        let value = parse(format, b);
        if b.len() <= self.text.len() {
            self.text[..b.len()].copy_from_slice(b);
            self.len = b.len();
            self.value = value;
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_micros()
    }

    #[test]
    fn clf_keeps_the_instant_and_the_offset() {
        let t = parse_clf(b"10/Oct/2000:13:55:36 -0700").unwrap();
        assert_eq!(t.micros, utc("2000-10-10T20:55:36Z"));
        assert_eq!(t.offset_secs, -7 * 3600);
        assert_eq!(t.to_string(), "2000-10-10T13:55:36-07:00");
        assert_eq!(t.to_rfc3339_utc(), "2000-10-10T20:55:36Z");
        let t = parse_clf(b"26/Feb/2019:15:39:42 +0330").unwrap();
        assert_eq!(t.micros, utc("2019-02-26T12:09:42Z"));
    }

    #[test]
    fn clf_rejects_impossible_dates() {
        for bad in [
            &b"31/Feb/2019:15:39:42 +0000"[..],
            b"10/Foo/2000:13:55:36 -0700",
            b"10/Oct/2000:25:55:36 -0700",
            b"10/Oct/2000:13:55:36 +9999",
            b"10/Oct/2000:13:55:36",
            b"",
            b"-",
        ] {
            assert_eq!(parse_clf(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        assert!(parse_clf(b"29/Feb/2020:00:00:00 +0000").is_some());
    }

    #[test]
    fn iso8601_forms() {
        let t = parse_iso8601(b"2016-10-25T14:49:33+02:00").unwrap();
        assert_eq!(t.micros, utc("2016-10-25T12:49:33Z"));
        assert_eq!(t.offset_secs, 7200);
        let t = parse_iso8601(b"2016-10-25T14:49:33.250Z").unwrap();
        assert_eq!(t.micros, utc("2016-10-25T14:49:33.25Z"));
        assert!(parse_iso8601(b"2016-10-25T14:49:33").is_some());
        assert!(parse_iso8601(b"2016-13-25T14:49:33Z").is_none());
    }

    #[test]
    fn epoch_units() {
        assert_eq!(
            parse_epoch(b"1472203200.123", 1_000_000).unwrap().micros,
            1_472_203_200_123_000
        );
        assert_eq!(
            parse_epoch(b"1472203200123", 1_000).unwrap().micros,
            1_472_203_200_123_000
        );
        assert!(parse_epoch(b"12a", 1).is_none());
        assert!(parse_epoch(b"", 1).is_none());
    }

    #[test]
    fn w3c_date_and_time_are_utc() {
        let t = parse_w3c(b"2018-01-01", b"08:09:10").unwrap();
        assert_eq!(t.micros, utc("2018-01-01T08:09:10Z"));
        let t = parse_w3c(b"2012-08-15", b"17:00:00.363").unwrap();
        assert_eq!(t.micros, utc("2012-08-15T17:00:00.363Z"));
        assert!(parse_w3c(b"03/20/01", b"7:55:20").is_none());
    }

    #[test]
    fn strftime_through_chrono() {
        let t = parse_strftime(b"2019-02-26 15:39:42 +0100", "%Y-%m-%d %H:%M:%S %z").unwrap();
        assert_eq!(t.micros, utc("2019-02-26T14:39:42Z"));
        let t = parse_strftime(b"26.02.2019 15:39:42", "%d.%m.%Y %H:%M:%S").unwrap();
        assert_eq!(t.micros, utc("2019-02-26T15:39:42Z"));
    }

    #[test]
    fn cache_returns_the_same_answer() {
        let mut cache = TimeCache::default();
        let a = cache.get(&TimeFormat::Clf, b"10/Oct/2000:13:55:36 -0700");
        let b = cache.get(&TimeFormat::Clf, b"10/Oct/2000:13:55:36 -0700");
        assert_eq!(a, b);
        assert_eq!(cache.get(&TimeFormat::Clf, b"nonsense"), None);
    }
}
