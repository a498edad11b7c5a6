//! Values as people write them on a command line: durations, offsets,
//! times and shares, each checked, with a message that says what was
//! expected. One duration type, [`std::time::Duration`], leaves here; the
//! tail's rules read their windows with [`seconds`] too.

use std::time::Duration;

/// `90s`, `5m`, `1h`, `1d` (or a bare number of seconds) -> seconds, more
/// than zero.
pub fn seconds(text: &str) -> Result<i64, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().map_err(|_| {
        format!("`{text}` is not a duration: a number and a unit, like 10s, 5m, 1h")
    })?;
    let seconds = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{text}`: the unit is s, m, h or d")),
    };
    match n.checked_mul(seconds) {
        Some(s) if s > 0 && s < i64::MAX / 1_000_000 => Ok(s),
        _ => Err(format!(
            "`{text}`: a duration is longer than zero and shorter than ages"
        )),
    }
}

/// `90s`, `5m`, `1h`, `1d`.
pub fn duration(text: &str) -> Result<Duration, String> {
    seconds(text).map(|s| Duration::from_secs(s as u64))
}

/// A duration that may also be under a second: `250ms`, `1s`.
pub fn duration_ms(text: &str) -> Result<Duration, String> {
    match text.strip_suffix("ms") {
        Some(ms) => ms
            .parse::<u64>()
            .ok()
            .filter(|&n| n > 0)
            .map(Duration::from_millis)
            .ok_or_else(|| format!("`{text}` is not a duration like 250ms or 1s")),
        None => duration(text),
    }
}

/// A number more than zero.
pub fn positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!("`{text}` is not a positive number")),
    }
}

/// A probability strictly between 0 and 1.
pub fn probability(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x > 0.0 && x < 1.0 => Ok(x),
        _ => Err(format!("`{text}` is not a probability between 0 and 1")),
    }
}

/// `UTC`, `Z`, `+01:00`, `-0530` -> seconds east of UTC.
pub fn offset(text: &str) -> Result<i32, String> {
    if matches!(text, "UTC" | "utc" | "Z" | "z") {
        return Ok(0);
    }
    let bad = || format!("`{text}` is not an offset: use UTC, +01:00 or -0530");
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'+') => (1, &text[1..]),
        Some(b'-') => (-1, &text[1..]),
        _ => return Err(bad()),
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let (h, m): (i32, i32) = (
        digits[..2].parse().map_err(|_| bad())?,
        digits[2..].parse().map_err(|_| bad())?,
    );
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(sign * (h * 3600 + m * 60))
}

/// RFC 3339, or `YYYY-MM-DD HH:MM:SS` / `YYYY-MM-DD` in UTC -> microseconds
/// since the epoch.
pub fn time(text: &str) -> Result<i64, String> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_micros());
    }
    for pattern in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, pattern) {
            return Ok(t.and_utc().timestamp_micros());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc()
            .timestamp_micros());
    }
    Err(format!(
        "`{text}` is not a time: use RFC 3339 or YYYY-MM-DD HH:MM:SS (UTC)"
    ))
}

/// Where people read times: UTC, a fixed offset, or a zone with its
/// daylight saving rules (the zone database is built in, so a minimal
/// container without `/usr/share/zoneinfo` knows `Europe/Berlin` too).
#[derive(Debug, Clone)]
pub struct Zone {
    tz: jiff::tz::TimeZone,
    name: String,
}

impl Zone {
    pub fn utc() -> Zone {
        Zone {
            tz: jiff::tz::TimeZone::UTC,
            name: "UTC".into(),
        }
    }

    /// Seconds east of UTC at a moment (microseconds since the epoch).
    pub fn offset_at(&self, micros: i64) -> i32 {
        jiff::Timestamp::from_microsecond(micros).map_or(0, |t| self.tz.to_offset(t).seconds())
    }

    /// `UTC`, `UTC+01:00`, `Europe/Berlin`.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn is_utc(&self) -> bool {
        self.name == "UTC"
    }

    /// Midnight starting the day `days` from today (0 today, -1 yesterday)
    /// in this zone, for `now`; daylight saving days are as long as they
    /// are.
    pub fn midnight(&self, now_micros: i64, days: i64) -> i64 {
        let day = || -> Result<i64, jiff::Error> {
            let today = jiff::Timestamp::from_microsecond(now_micros)?
                .to_zoned_datetime(self.tz.clone())
                .date();
            let date = today.checked_add(jiff::Span::new().days(days))?;
            Ok(date
                .to_zoned_datetime(self.tz.clone())?
                .timestamp()
                .as_microsecond())
        };
        day().unwrap_or(now_micros)
    }

    /// The start of the period of `days` local days that holds `t`: a local
    /// midnight, counted in whole periods from 1970-01-01 (from Monday
    /// 1970-01-05 for whole weeks, as UTC windows are); `None` where the
    /// zone database cannot place `t`.
    pub fn day_start(&self, t: i64, days: i64) -> Option<i64> {
        let date = jiff::Timestamp::from_microsecond(t)
            .ok()?
            .to_zoned_datetime(self.tz.clone())
            .date();
        let number = date
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .ok()?
            .timestamp()
            .as_second()
            .div_euclid(86_400);
        let from = if days % 7 == 0 { 4 } else { 0 };
        let aligned = (number - from).div_euclid(days) * days + from;
        let first = date
            .checked_sub(jiff::Span::new().days(number - aligned))
            .ok()?;
        Some(
            first
                .to_zoned_datetime(self.tz.clone())
                .ok()?
                .timestamp()
                .as_microsecond(),
        )
    }

    /// The local midnight `days` days after the local midnight `start`: 23
    /// or 25 hours a day later across a daylight saving change.
    pub fn days_after(&self, start: i64, days: i64) -> Option<i64> {
        let date = jiff::Timestamp::from_microsecond(start)
            .ok()?
            .to_zoned_datetime(self.tz.clone())
            .date()
            .checked_add(jiff::Span::new().days(days))
            .ok()?;
        Some(
            date.to_zoned_datetime(self.tz.clone())
                .ok()?
                .timestamp()
                .as_microsecond(),
        )
    }
}

/// `UTC`, an offset (`+01:00`, `-0530`), an IANA zone (`Europe/Berlin`) or
/// `local` (this machine's zone).
pub fn zone(text: &str) -> Result<Zone, String> {
    if let Ok(seconds) = offset(text) {
        if seconds == 0 {
            return Ok(Zone::utc());
        }
        let fixed = jiff::tz::Offset::from_seconds(seconds).map_err(|e| e.to_string())?;
        let sign = if seconds < 0 { '-' } else { '+' };
        let m = seconds.abs() / 60;
        return Ok(Zone {
            tz: jiff::tz::TimeZone::fixed(fixed),
            name: format!("UTC{sign}{:02}:{:02}", m / 60, m % 60),
        });
    }
    if text == "local" {
        let tz = jiff::tz::TimeZone::system();
        let name = tz.iana_name().unwrap_or("local").to_string();
        return Ok(Zone { tz, name });
    }
    match jiff::tz::TimeZone::get(text) {
        Ok(tz) => Ok(Zone {
            tz,
            name: text.to_string(),
        }),
        Err(_) => Err(format!(
            "`{text}` is not a time zone: use UTC, an offset like +01:00, a zone like Europe/Berlin, or local"
        )),
    }
}

/// A time as `--since` and `--until` take it: a moment, a span back from
/// now, or the start of a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeArg {
    /// Microseconds since the epoch.
    At(i64),
    /// This long before now.
    Ago(Duration),
    /// Midnight of today (0) or of a day before it (-1: yesterday), in the
    /// report's offset.
    Day(i64),
}

/// RFC 3339, `YYYY-MM-DD[ HH:MM[:SS]]` (UTC), a span back from now (`2h`,
/// `90m`, `1d`, `2h ago`, `1 hour ago`, `30 minutes ago`), `today` or
/// `yesterday`.
pub fn time_arg(text: &str) -> Result<TimeArg, String> {
    if let Ok(t) = time(text) {
        return Ok(TimeArg::At(t));
    }
    let words = text.trim().to_ascii_lowercase();
    match words.as_str() {
        "today" => return Ok(TimeArg::Day(0)),
        "yesterday" => return Ok(TimeArg::Day(-1)),
        _ => {}
    }
    let span = words.strip_suffix(" ago").unwrap_or(&words).trim();
    let compact = match span.split_once(' ') {
        Some((n, unit)) => {
            let unit = match unit.trim().trim_end_matches('s') {
                "s" | "sec" | "second" => "s",
                "m" | "min" | "minute" => "m",
                "h" | "hour" => "h",
                "d" | "day" => "d",
                _ => "?",
            };
            format!("{n}{unit}")
        }
        None => span.to_string(),
    };
    duration(&compact).map(TimeArg::Ago).map_err(|_| {
        format!(
            "`{text}` is not a time: use RFC 3339, YYYY-MM-DD HH:MM:SS (UTC), a span back from now (2h, 90m, 1d, `2 hours ago`), today or yesterday"
        )
    })
}

impl TimeArg {
    /// The moment, given now and the report's zone.
    pub fn resolve(self, now_micros: i64, zone: &Zone) -> i64 {
        match self {
            TimeArg::At(t) => t,
            TimeArg::Ago(d) => now_micros.saturating_sub(d.as_micros() as i64),
            TimeArg::Day(days) => zone.midnight(now_micros, days),
        }
    }

    /// Whether it depends on when the run happens.
    pub fn is_relative(self) -> bool {
        !matches!(self, TimeArg::At(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_as_written() {
        assert_eq!(seconds("90s"), Ok(90));
        assert_eq!(seconds("5m"), Ok(300));
        assert!(seconds("0s").is_err() && seconds("5x").is_err() && seconds("").is_err());
        assert_eq!(duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(duration_ms("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration_ms("2s"), Ok(Duration::from_secs(2)));
        assert!(duration_ms("0ms").is_err());
        assert_eq!(offset("+01:00"), Ok(3600));
        assert_eq!(offset("-0530"), Ok(-(5 * 3600 + 30 * 60)));
        assert!(offset("+2400").is_err() && offset("1:00").is_err());
        assert_eq!(time("1970-01-01 00:00:01"), Ok(1_000_000));
        assert_eq!(time("1970-01-02"), Ok(86_400_000_000));
        assert_eq!(time("1970-01-01T01:00:00+01:00"), Ok(0));
        assert!(time("yesterday").is_err());
        assert!(positive("0").is_err() && positive("NaN").is_err());
        assert!(probability("1").is_err() && probability("0.5").is_ok());
    }

    #[test]
    fn times_as_people_say_them() {
        let hour = Duration::from_secs(3600);
        assert_eq!(time_arg("2h"), Ok(TimeArg::Ago(2 * hour)));
        assert_eq!(time_arg("2h ago"), Ok(TimeArg::Ago(2 * hour)));
        assert_eq!(time_arg("1 hour ago"), Ok(TimeArg::Ago(hour)));
        assert_eq!(time_arg("30 minutes ago"), Ok(TimeArg::Ago(hour / 2)));
        assert_eq!(time_arg("90m"), Ok(TimeArg::Ago(hour * 3 / 2)));
        assert_eq!(time_arg("Yesterday"), Ok(TimeArg::Day(-1)));
        assert_eq!(time_arg("1970-01-01 00:00:01"), Ok(TimeArg::At(1_000_000)));
        assert!(time_arg("soon").is_err() && time_arg("2 fortnights ago").is_err());
        // 2026-11-28 10:30:00 UTC.
        let now = 1_795_861_800 * 1_000_000;
        let day = 86_400 * 1_000_000;
        let utc_midnight = 1_795_824_000 * 1_000_000;
        let utc = Zone::utc();
        assert_eq!(TimeArg::Day(0).resolve(now, &utc), utc_midnight);
        assert_eq!(TimeArg::Day(-1).resolve(now, &utc), utc_midnight - day);
        // At +14:00 it is already the 29th: its midnight is 14 h before
        // the next UTC midnight.
        assert_eq!(
            TimeArg::Day(0).resolve(now, &zone("+14:00").unwrap()),
            utc_midnight + day - 14 * 3_600_000_000
        );
        assert_eq!(TimeArg::Ago(hour).resolve(now, &utc), now - 3_600_000_000);
        // Berlin on the day summer time ends (2026-10-25): midnight is at
        // +02:00, and the day is 25 hours long.
        let berlin = zone("Europe/Berlin").unwrap();
        let noon_25th = 1_792_929_600 * 1_000_000; // 2026-10-25 12:00 UTC
        let midnight_25th = 1_792_879_200 * 1_000_000; // 2026-10-24 22:00 UTC
        assert_eq!(TimeArg::Day(0).resolve(noon_25th, &berlin), midnight_25th);
        assert_eq!(
            berlin.midnight(noon_25th, 1) - midnight_25th,
            25 * 3_600_000_000
        );
        assert_eq!(berlin.offset_at(noon_25th), 3600);
        assert_eq!(berlin.offset_at(midnight_25th), 7200);
        assert!(zone("Mars/Olympus").is_err());
        assert_eq!(zone("+01:00").unwrap().name(), "UTC+01:00");
        assert!(zone("Z").unwrap().is_utc());
    }
}
