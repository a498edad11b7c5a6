//! The report's values: numbers, made text only at the edge (serde and
//! `Display`), so no output parses a time or a status back.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::parse::Timestamp;

/// A time in UTC, in microseconds since the epoch. The report holds
/// numbers; the text (`2026-11-28T08:40:00Z`) is made at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Utc(pub i64);

impl Utc {
    pub fn micros(self) -> i64 {
        self.0
    }

    /// In an offset east of UTC (seconds), as `2026-11-28 09:40:00`.
    pub fn local(self, offset: i32) -> String {
        let t = chrono::DateTime::from_timestamp_micros(self.0).unwrap_or_default();
        match chrono::FixedOffset::east_opt(offset) {
            Some(zone) => t
                .with_timezone(&zone)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
            None => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        }
    }
}

impl std::fmt::Display for Utc {
    /// RFC 3339 in UTC.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&Timestamp::utc(self.0).to_rfc3339_utc())
    }
}

impl Serialize for Utc {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An HTTP status code; 0 for a line that logged none (shown `-`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StatusCode(pub u16);

impl StatusCode {
    pub fn is_5xx(self) -> bool {
        self.0 / 100 == 5
    }

    /// The code, or none for a line without one.
    pub fn get(self) -> Option<u16> {
        (self.0 != 0).then_some(self.0)
    }
}

impl std::fmt::Display for StatusCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            0 => f.write_str("-"),
            code => write!(f, "{code}"),
        }
    }
}

impl Serialize for StatusCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Requests per status code.
pub type StatusCounts = BTreeMap<StatusCode, u64>;
