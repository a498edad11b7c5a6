//! The report as data: the rows the terminal, JSON, CSV, HTML and Parquet
//! outputs render (its JSON form is `docs/report-json.md`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::values::{StatusCounts, Utc};

#[derive(Debug, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub summary: Summary,
    pub windows: Vec<WindowRow>,
    pub incidents: Vec<IncidentRow>,
    /// How the incident finder saw each dimension.
    pub detection: Vec<DimensionDetection>,
    pub upstreams: Vec<UpstreamRow>,
    /// Attempts and 5xx per window of the busiest upstreams by 5xx, on
    /// the timeline's windows: the failing one stands out.
    pub upstream_timelines: Vec<UpstreamTimeline>,
    pub upstreams_other: Rest,
    pub paths: Vec<PathRow>,
    pub paths_other: Rest,
    pub hosts: Vec<KeyRow>,
    pub methods: Vec<KeyRow>,
    /// Requests per status code (`-` for a line without one).
    pub status: StatusCounts,
    pub files: Vec<FileRow>,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub files: usize,
    pub lines: u64,
    pub parsed: u64,
    pub rejected: u64,
    /// Percent of data lines parsed.
    pub coverage: f64,
    /// First and last request time, RFC 3339 UTC.
    pub start: Option<Utc>,
    pub end: Option<Utc>,
    pub requests: u64,
    pub errors_5xx: u64,
    pub error_rate: f64,
    /// Response bytes of the requests whose format logs a size; null when
    /// no format read logs one (unknown, not zero).
    pub bytes: Option<u64>,
    /// Fields logspike uses that no parsed line carried, because the
    /// formats read do not log them: `bytes`, `request_time`, `upstream`.
    pub not_logged: Vec<&'static str>,
    pub window_seconds: f64,
    /// The window asked for, when the span needed a wider one (at most
    /// 100,000 windows in a timeline); null otherwise.
    pub window_widened_from: Option<f64>,
    /// The zone whose midnights start windows of whole days (`--tz`); null
    /// when windows are counted from UTC (shorter than a day, UTC asked,
    /// or a log kept too coarse to cut at that zone's midnight). A day
    /// there is 23 or 25 hours long across a daylight saving change.
    pub days_from: Option<String>,
    /// Requests without a timestamp (in the totals, in no window).
    pub untimed: u64,
    /// Requests left out by `--since`/`--until` and the filters (not
    /// counted).
    pub filtered: u64,
    /// The range `--since` and `--until` gave (relative ones resolved when
    /// the run started); null when not given.
    pub since: Option<Utc>,
    pub until: Option<Utc>,
    /// The filters given (`--where`, `--host`, ...) as one expression in
    /// `--where`'s syntax; null when none.
    pub filter: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Percentiles {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct WindowRow {
    pub start: Utc,
    pub requests: u64,
    pub status: StatusCounts,
    /// Requests per status class, `1xx` to `5xx` (all five, zeros too).
    pub classes: BTreeMap<String, u64>,
    pub errors_5xx: u64,
    pub error_rate: f64,
    /// Null when no format read logs a size.
    pub bytes: Option<u64>,
    pub request_time: Percentiles,
    pub upstream_time: Percentiles,
}

#[derive(Debug, Serialize)]
pub struct Share {
    pub key: String,
    pub count: u64,
    /// Of the incident's 5xx (paths) or 5xx attempts (upstreams).
    pub share: f64,
}

#[derive(Debug, Serialize)]
pub struct ErrorPlace {
    pub file: String,
    pub line: u64,
    pub time: Utc,
}

#[derive(Debug, Serialize)]
pub struct Scope {
    /// `site`, `upstream`, `path` or `host`.
    pub dimension: &'static str,
    /// The upstream, paths or host; empty for the site.
    pub keys: Vec<String>,
    /// In words: `upstream 10.0.0.3:8080`, `paths /a, /b`, `site-wide`.
    pub label: String,
}

#[derive(Debug, Serialize)]
pub struct SeriesRef {
    pub dimension: &'static str,
    pub key: String,
}

#[derive(Debug, Serialize)]
pub struct IncidentRow {
    /// `errors` (more 5xx than the baseline explains) or `traffic_drop`.
    pub kind: &'static str,
    pub scope: Scope,
    /// First abnormal error, to the second.
    pub start: Utc,
    /// The second after the last abnormal error.
    pub end: Utc,
    pub duration_seconds: f64,
    /// The busiest `peak_window_seconds` and its 5xx.
    pub peak: Utc,
    pub peak_5xx: u64,
    pub peak_window_seconds: f64,
    /// 5xx clients saw, in scope.
    pub total_5xx: u64,
    /// 5xx answers of upstream attempts in scope (upstream or site scope).
    pub upstream_5xx: Option<u64>,
    /// Requests in scope (attempts, for an upstream scope).
    pub requests: u64,
    /// The judged rate in scope: 5xx attempts per attempt for an upstream,
    /// 5xx per request otherwise.
    pub error_rate: f64,
    /// The same rate outside incidents.
    pub baseline_rate: f64,
    /// Traffic drops: the requests the baseline expected.
    pub expected_requests: Option<f64>,
    /// 5xx codes and counts in scope.
    pub status: StatusCounts,
    pub upstreams: Vec<Share>,
    pub paths: Vec<Share>,
    pub first_error: Option<ErrorPlace>,
    /// Every series found abnormal in this event.
    pub series: Vec<SeriesRef>,
    /// What the fields say happened, in plain words.
    pub diagnosis: String,
    /// Values over-represented among its 5xx, most telling first.
    pub attribution: Vec<AttributionRow>,
}

#[derive(Debug, Serialize)]
pub struct AttributionRow {
    pub dimension: &'static str,
    pub key: String,
    /// Of the incident's 5xx (5xx attempts, for upstreams).
    pub share: f64,
    /// Of the requests (attempts) outside the incident.
    pub normal_share: f64,
    /// `share / normal_share`; null for a value never seen outside it.
    pub lift: Option<f64>,
}

impl AttributionRow {
    /// What `normal_share` is a share of, in words.
    pub fn normally(&self) -> &'static str {
        if self.dimension == "status" {
            "of the usual 5xx"
        } else {
            "normally"
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DimensionDetection {
    pub dimension: &'static str,
    /// Bucket size the finder judged this dimension at.
    pub resolution_seconds: f64,
    pub series: usize,
    /// Requests (attempts) of keys beyond the key cap: judged in no series.
    pub untracked: u64,
}

#[derive(Debug, Serialize)]
pub struct UpstreamRow {
    pub upstream: String,
    /// Every attempt at this upstream, retries included.
    pub attempts: u64,
    pub errors_5xx: u64,
    pub status: StatusCounts,
}

#[derive(Debug, Serialize)]
pub struct UpstreamTimeline {
    pub upstream: String,
    /// One entry per window of `windows`.
    pub attempts: Vec<u64>,
    pub errors_5xx: Vec<u64>,
}

#[derive(Debug, Serialize)]
pub struct PathRow {
    /// Normalized.
    pub path: String,
    pub requests: u64,
    pub errors_5xx: u64,
    pub status: StatusCounts,
}

#[derive(Debug, Serialize)]
pub struct KeyRow {
    pub key: String,
    pub requests: u64,
    pub errors_5xx: u64,
}

/// What a top table left out.
#[derive(Debug, Serialize, Default)]
pub struct Rest {
    pub keys: u64,
    pub requests: u64,
    pub errors_5xx: u64,
}

#[derive(Debug, Serialize)]
pub struct FileRow {
    pub name: String,
    /// Grammar names joined by ` + `; empty when no known format fits.
    pub format: String,
    /// Why that format, or why none: a sentence for the user.
    pub format_reason: String,
    pub lines: u64,
    pub parsed: u64,
    pub rejected: u64,
    pub coverage: f64,
    pub first_rejections: Vec<String>,
    pub error: Option<String>,
}
