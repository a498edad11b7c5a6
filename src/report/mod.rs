//! The batch report: every input scanned (in parallel chunks where it
//! can), partial aggregates merged, windows rolled up to a display size,
//! incidents found. The [`Report`] is plain data: the terminal and JSON
//! outputs render it, and its JSON form is documented in
//! `docs/report-json.md`.

use std::collections::BTreeMap;

use crate::analysis::spikes::{self, Incident, SpikeConfig};
use crate::analysis::{self, Aggregate, Dim, Statuses, Table};
use crate::config::Zone;
use crate::input::Source;
use crate::scan::{self, FileCheck, ScanOptions, Sink};

mod by;
#[cfg(feature = "parquet")]
pub mod rollups;

pub use by::{build_by_host, ByHost, MoreHosts, Section, MAX_SECTIONS};

mod values;

pub use values::{StatusCode, StatusCounts, Utc};

mod rows;

pub use rows::{
    AttributionRow, DimensionDetection, ErrorPlace, FileRow, IncidentRow, KeyRow, PathRow,
    Percentiles, Report, Rest, Scope, SeriesRef, Share, Summary, UpstreamRow, UpstreamTimeline,
    WindowRow,
};

/// The JSON schema version; bump on any incompatible change.
pub const SCHEMA: &str = "logspike.report/4";

#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub analysis: analysis::Config,
    pub spikes: SpikeConfig,
    /// Rows in each top table.
    pub top: usize,
    /// About how many windows the timeline should have when no window
    /// size was given.
    pub target_windows: usize,
    /// The window size asked for (`--window`); see [`ReportOptions::set_window`].
    pub window: Option<i64>,
    /// Windows of whole days start at this zone's midnights.
    pub zone: Zone,
}

impl ReportOptions {
    /// Asks for windows of `size` (none: chosen from the span), whole days
    /// of them starting at midnight in `zone`. Such days are gathered from
    /// hours (quarter hours where the zone's offset is not whole hours),
    /// since a UTC day cannot be cut at another zone's midnight.
    pub fn set_window(&mut self, size: Option<i64>, zone: Zone) {
        self.window = size;
        let now = chrono::Utc::now().timestamp_micros();
        let offsets = |unit: i64| {
            [now, now - 182 * DAY]
                .iter()
                .all(|&t| i64::from(zone.offset_at(t)) % unit == 0)
        };
        self.analysis.window = match size {
            Some(s) if s % DAY == 0 && !zone.is_utc() => {
                Some(if offsets(3600) { 3600 } else { 900 } * 1_000_000)
            }
            other => other,
        };
        // Windows chosen from the span may become days: they must not be
        // coarsened past an hour, which fits in that zone's days. A zone of
        // half-hour offsets would need ten minutes, too many windows over
        // a long log (a year of them took 90 MB more): past 35 days its
        // days stay UTC's, and the report says so.
        self.analysis.coarsest =
            (size.is_none() && !zone.is_utc() && offsets(3600)).then_some(3600 * 1_000_000);
        self.zone = zone;
    }
}

const DAY: i64 = 86_400 * 1_000_000;

/// Windows of `days` local days: each a local midnight to the next, so a
/// daylight saving day is 23 or 25 hours long. `None` when an aggregate
/// window of `granularity` straddles a local midnight (the log was kept
/// too coarse to be cut there) or the zone cannot place a time.
fn local_days(
    windows: &BTreeMap<i64, analysis::Window>,
    granularity: i64,
    days: i64,
    zone: &Zone,
) -> Option<Vec<(i64, analysis::Window)>> {
    let mut rolled: BTreeMap<i64, analysis::Window> = BTreeMap::new();
    for (&start, w) in windows {
        let day = zone.day_start(start, days)?;
        if zone.day_start(start + granularity - 1, days)? != day {
            return None;
        }
        rolled.entry(day).or_default().merge(w);
    }
    let (Some(&first), Some(&last)) = (rolled.keys().next(), rolled.keys().next_back()) else {
        return Some(Vec::new());
    };
    let mut out = Vec::new();
    let mut t = first;
    while t <= last {
        out.push((t, rolled.remove(&t).unwrap_or_default()));
        t = zone.days_after(t, days)?;
    }
    Some(out)
}

impl Default for ReportOptions {
    fn default() -> ReportOptions {
        ReportOptions {
            analysis: analysis::Config::default(),
            spikes: SpikeConfig::default(),
            top: 10,
            target_windows: 240,
            window: None,
            zone: Zone::utc(),
        }
    }
}

/// Upstreams drawn over time, at most.
const TIMELINE_UPSTREAMS: usize = 8;
/// Past this many windows, no upstream timelines (a fixed small window
/// over a long span would make them larger than the report).
const TIMELINE_MAX_WINDOWS: usize = 20_000;

/// Each of the busiest `keys` upstreams' attempts and 5xx per window; the
/// windows start at `starts` (the last one ends at `end`).
fn upstream_timelines(
    aggregate: &Aggregate,
    keys: &[&str],
    starts: &[i64],
    end: i64,
) -> Vec<UpstreamTimeline> {
    let count = starts.len();
    if keys.is_empty() || count == 0 || count > TIMELINE_MAX_WINDOWS {
        return Vec::new();
    }
    let sealed = aggregate.series.upstreams.sealed();
    let names = aggregate.names(Dim::Upstream);
    let tracks = sealed.tracks(&names);
    keys.iter()
        .map(|&key| {
            let mut row = UpstreamTimeline {
                upstream: key.to_string(),
                attempts: vec![0; count],
                errors_5xx: vec![0; count],
            };
            if let Some(t) = tracks.iter().find(|t| t.key == key) {
                for (&b, cell) in t.buckets.iter().zip(&t.cells) {
                    let i = starts.partition_point(|&s| s <= b).checked_sub(1);
                    if let Some(i) = i.filter(|_| b < end) {
                        row.attempts[i] += cell.requests as u64;
                        row.errors_5xx[i] += cell.errors as u64;
                    }
                }
            }
            row
        })
        .collect()
}

fn status_map(s: &Statuses) -> StatusCounts {
    s.iter().map(|(code, n)| (StatusCode(code), n)).collect()
}

/// `errors` as a share of `total`; zero of nothing.
pub fn rate(errors: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        errors as f64 / total as f64
    }
}

fn percentiles(s: &analysis::Sketch) -> Percentiles {
    Percentiles {
        p50: s.quantile(0.5),
        p90: s.quantile(0.9),
        p99: s.quantile(0.99),
    }
}

fn shares(rows: &[(String, u64)], total: u64, top: usize) -> Vec<Share> {
    rows.iter()
        .take(top)
        .map(|(k, n)| Share {
            key: k.clone(),
            count: *n,
            share: rate(*n, total),
        })
        .collect()
}

fn rest(table: &Table, shown: usize) -> Rest {
    let (keys, requests, errors_5xx) = table.rest(shown);
    Rest {
        keys,
        requests,
        errors_5xx,
    }
}

/// Scans every source and builds the report. Per-file problems (a file
/// that cannot be read, a damaged stream) are in [`Report::files`]; they
/// never stop the other files.
pub fn build(sources: &[Source], scan: &mut ScanOptions, options: &ReportOptions) -> Report {
    let (total, checks) = gather(sources, scan, options);
    assemble(&total, &checks, options)
}

/// Scans every input into one aggregate, with each input's checks.
fn gather(
    sources: &[Source],
    scan: &mut ScanOptions,
    options: &ReportOptions,
) -> (Aggregate, Vec<FileCheck>) {
    scan.read_ahead(sources);
    if let Some(bar) = &scan.progress {
        let total: u64 = sources
            .iter()
            .filter_map(|s| match s {
                Source::Path(p) => std::fs::metadata(p).ok().map(|m| m.len()),
                Source::Stdin => None,
            })
            .sum();
        bar.set_length(total);
    }
    let mut checks: Vec<FileCheck> = Vec::new();
    let mut total = Aggregate::new(&options.analysis);
    for (index, source) in sources.iter().enumerate() {
        let sink = Aggregating {
            config: &options.analysis,
            file: index as u32,
            total: std::sync::Mutex::new(Aggregate::new(&options.analysis)),
            sizes: Default::default(),
        };
        let file_check = match scan::scan(source, scan, &sink) {
            Ok(c) => c,
            Err(never) => match never {},
        };
        checks.push(file_check);
        total.merge(sink.total.into_inner().unwrap_or_else(|e| e.into_inner()));
    }
    if let Some(bar) = &scan.progress {
        bar.finish_and_clear();
    }
    (total, checks)
}

/// The report's sink: each chunk folds its records into an aggregate,
/// merged into the input's in order.
struct Aggregating<'a> {
    config: &'a analysis::Config,
    /// The input's index, for the places of errors.
    file: u32,
    total: std::sync::Mutex<Aggregate>,
    /// What the last merged part grew to: the next starts with that room.
    sizes: std::sync::Mutex<analysis::Sizes>,
}

impl Sink for Aggregating<'_> {
    type Part = Aggregate;
    type Error = std::convert::Infallible;

    fn part(&self) -> Aggregate {
        let sizes = *self.sizes.lock().unwrap_or_else(|e| e.into_inner());
        Aggregate::with_room(self.config, &sizes)
    }

    fn record(&self, part: &mut Aggregate, record: &crate::parse::Record<'_>, line: u64) {
        part.add(record, self.file, line, self.config);
    }

    fn merge(&self, part: Aggregate) -> Result<(), Self::Error> {
        *self.sizes.lock().unwrap_or_else(|e| e.into_inner()) = part.sizes();
        self.total
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .merge(part);
        Ok(())
    }

    fn restart(&self) -> bool {
        *self.total.lock().unwrap_or_else(|e| e.into_inner()) = Aggregate::new(self.config);
        true
    }
}

/// Turns merged aggregates and per-file counts into a report.
/// Most windows a timeline holds: a fixed `--window` over a span this
/// many times longer is widened (and the summary says so), so that one
/// stray line years away cannot ask for billions of empty windows.
pub const MAX_TIMELINE: i64 = 100_000;

pub fn assemble(aggregate: &Aggregate, checks: &[FileCheck], options: &ReportOptions) -> Report {
    let asked = options
        .window
        .unwrap_or_else(|| aggregate.display_window(options.target_windows));
    let span = match (aggregate.first_time, aggregate.last_time) {
        (Some(a), Some(b)) => b.micros.div_euclid(asked) - a.micros.div_euclid(asked) + 1,
        _ => 1,
    };
    // A multiple of the asked size is a multiple of the granularity; a
    // readable one (a minute, an hour, a day, a week...) where there is.
    let least = asked * ((span + MAX_TIMELINE - 1) / MAX_TIMELINE).max(1);
    let size = if least == asked {
        asked
    } else {
        [60, 600, 3600, 86_400, 604_800, 2_419_200, 31_449_600]
            .map(|s| s * 1_000_000)
            .into_iter()
            .find(|&s| s >= least && s % asked == 0)
            .unwrap_or(least)
    };
    let zone = &options.zone;
    let local = (size % DAY == 0 && !zone.is_utc())
        .then(|| local_days(&aggregate.windows, aggregate.granularity, size / DAY, zone))
        .flatten();
    let days_from = local.is_some().then(|| zone.name().to_string());
    let timeline = local.unwrap_or_else(|| analysis::contiguous(&aggregate.windows, size));
    let timeline_end = timeline.last().map_or(0, |&(start, _)| match &days_from {
        Some(_) => zone.days_after(start, size / DAY).unwrap_or(start + size),
        None => start + size,
    });
    let incidents = spikes::incidents(aggregate, &options.spikes);
    let file_name = |index: u32| {
        checks
            .get(index as usize)
            .map_or_else(|| format!("#{index}"), |c| c.name.clone())
    };
    let lines: u64 = checks.iter().map(|c| c.lines).sum();
    let parsed: u64 = checks.iter().map(|c| c.parsed).sum();
    let rejected: u64 = checks.iter().map(|c| c.rejected).sum();
    let errors = aggregate.status.errors();
    let top = options.top;
    let drawn: Vec<&str> = aggregate
        .upstreams
        .top(top.min(TIMELINE_UPSTREAMS))
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let starts: Vec<i64> = timeline.iter().map(|w| w.0).collect();
    let upstream_timelines = upstream_timelines(aggregate, &drawn, &starts, timeline_end);
    Report {
        schema: SCHEMA,
        summary: Summary {
            files: checks.len(),
            lines,
            parsed,
            rejected,
            coverage: if parsed + rejected == 0 {
                100.0
            } else {
                parsed as f64 * 100.0 / (parsed + rejected) as f64
            },
            start: aggregate.first_time.map(|t| Utc(t.micros)),
            end: aggregate.last_time.map(|t| Utc(t.micros)),
            requests: aggregate.requests,
            errors_5xx: errors,
            error_rate: rate(errors, aggregate.requests),
            bytes: (aggregate.with_bytes > 0).then_some(aggregate.bytes),
            not_logged: [
                ("bytes", aggregate.with_bytes > 0),
                ("request_time", aggregate.with_request_time > 0),
                (
                    "upstream",
                    !aggregate.upstreams.is_empty() || aggregate.upstreams.other.total() > 0,
                ),
            ]
            .into_iter()
            .filter(|(_, logged)| !logged && aggregate.requests > 0)
            .map(|(name, _)| name)
            .collect(),
            window_seconds: size as f64 / 1e6,
            window_widened_from: (size != asked).then(|| asked as f64 / 1e6),
            days_from,
            untimed: aggregate.untimed,
            filtered: aggregate.filtered,
            since: options.analysis.since.map(Utc),
            until: options.analysis.until.map(Utc),
            filter: options.analysis.filter.describe(),
        },
        windows: timeline
            .iter()
            .map(|(start, w)| WindowRow {
                start: Utc(*start),
                requests: w.requests,
                status: status_map(&w.status),
                classes: (1..=5u16)
                    .map(|c| (format!("{c}xx"), w.status.range(c * 100, c * 100 + 99)))
                    .collect(),
                errors_5xx: w.errors(),
                error_rate: rate(w.errors(), w.requests),
                bytes: (aggregate.with_bytes > 0).then_some(w.bytes),
                request_time: percentiles(&w.request_time),
                upstream_time: percentiles(&w.upstream_time),
            })
            .collect(),
        incidents: incidents
            .iter()
            .map(|inc| incident_row(inc, top, &file_name))
            .collect(),
        detection: [Dim::Site, Dim::Upstream, Dim::Path, Dim::Host]
            .into_iter()
            .map(|dim| {
                let series = aggregate.series.get(dim);
                DimensionDetection {
                    dimension: dim.name(),
                    resolution_seconds: series.granularity as f64 / 1e6,
                    series: aggregate.names(dim).len(),
                    untracked: series.untracked,
                }
            })
            .collect(),
        upstreams: aggregate
            .upstreams
            .top(top)
            .into_iter()
            .map(|(k, s)| UpstreamRow {
                upstream: k.to_string(),
                attempts: s.total(),
                errors_5xx: s.errors(),
                status: status_map(s),
            })
            .collect(),
        upstream_timelines,
        upstreams_other: rest(&aggregate.upstreams, top),
        paths: aggregate
            .paths
            .top(top)
            .into_iter()
            .map(|(k, s)| PathRow {
                path: k.to_string(),
                requests: s.total(),
                errors_5xx: s.errors(),
                status: status_map(s),
            })
            .collect(),
        paths_other: rest(&aggregate.paths, top),
        hosts: key_rows(&aggregate.hosts, top),
        methods: key_rows(&aggregate.methods, top),
        status: status_map(&aggregate.status),
        files: checks
            .iter()
            .map(|c| FileRow {
                name: c.name.clone(),
                format: c.grammars.join(" + "),
                format_reason: c.reason.clone(),
                lines: c.lines,
                parsed: c.parsed,
                rejected: c.rejected,
                coverage: c.coverage(),
                first_rejections: c
                    .samples
                    .iter()
                    .map(|s| format!("{}:{}:{}: {}", c.name, s.line, s.column, s.reason))
                    .collect(),
                error: c.error.clone(),
            })
            .collect(),
    }
}

fn incident_row(inc: &Incident, top: usize, file_name: &dyn Fn(u32) -> String) -> IncidentRow {
    let attempts_5xx: u64 = inc.upstreams.iter().map(|(_, n)| n).sum();
    let path_5xx: u64 = inc.paths.iter().map(|(_, n)| n).sum();
    IncidentRow {
        kind: inc.kind.name(),
        scope: Scope {
            dimension: inc.dim.name(),
            keys: inc.keys.clone(),
            label: inc.scope(),
        },
        start: Utc(inc.start),
        end: Utc(inc.end),
        duration_seconds: (inc.end - inc.start) as f64 / 1e6,
        peak: Utc(inc.peak),
        peak_5xx: inc.peak_errors,
        peak_window_seconds: inc.peak_size as f64 / 1e6,
        total_5xx: inc.errors,
        upstream_5xx: inc.upstream_errors,
        requests: inc.requests,
        error_rate: inc.error_rate,
        baseline_rate: inc.baseline_rate,
        expected_requests: inc.expected_requests,
        status: status_map(&inc.status),
        upstreams: shares(&inc.upstreams, attempts_5xx, top),
        paths: shares(&inc.paths, path_5xx, top),
        first_error: inc.first_error.map(|p| ErrorPlace {
            file: file_name(p.file),
            line: p.line,
            time: Utc(p.time),
        }),
        series: inc
            .series
            .iter()
            .map(|(dim, key)| SeriesRef {
                dimension: dim.name(),
                key: key.clone(),
            })
            .collect(),
        diagnosis: inc.diagnosis.clone(),
        attribution: inc
            .attribution
            .iter()
            .map(|a| AttributionRow {
                dimension: a.dim.name(),
                key: a.key.clone(),
                share: a.share,
                normal_share: a.normal_share,
                lift: a.lift.is_finite().then_some(a.lift),
            })
            .collect(),
    }
}

fn key_rows(table: &Table, top: usize) -> Vec<KeyRow> {
    table
        .top(top)
        .into_iter()
        .map(|(k, s)| KeyRow {
            key: k.to_string(),
            requests: s.total(),
            errors_5xx: s.errors(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::FormatChoice;
    use crate::grammar::builtin;

    /// The incidents do not depend on how the input was cut: one stream,
    /// or mapped chunks down to a few hundred bytes (a partial for every
    /// line or two, merged in order).
    #[test]
    fn incidents_are_the_same_for_any_chunking() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs/nginx");
        let sources = vec![
            Source::Path(dir.join("access.log.1")),
            Source::Path(dir.join("access.log")),
        ];
        let options = ReportOptions::default();
        let run = |parallel_min_bytes: u64, chunk_bytes: usize| {
            let mut check = ScanOptions::new(FormatChoice::Detect(builtin::all().to_vec()));
            check.parallel_min_bytes = parallel_min_bytes;
            check.chunk_bytes = chunk_bytes;
            let report = build(&sources, &mut check, &options);
            serde_json::to_value(&report.incidents).unwrap()
        };
        let streamed = run(u64::MAX, 8 << 20);
        assert_eq!(streamed.as_array().unwrap().len(), 2, "{streamed}");
        for chunk in [1 << 20, 64 << 10, 300] {
            assert_eq!(run(0, chunk), streamed, "chunks of {chunk} bytes");
        }
    }
}
