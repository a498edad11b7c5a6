//! `export --rollup 1m`: per-window sums any engine can add up exactly,
//! instead of one row per request (docs/parquet.md).
//!
//! Two tables, because a request and its upstream attempts are counted
//! apart (as the report counts them): `requests/` has one row per window,
//! host, method, normalized path, status sent to the client and the
//! upstream that answered last, with requests, bytes and request-time
//! bucket counts; `attempts/` one row per window, host, upstream and the
//! status that upstream answered, with attempts and upstream-time bucket
//! counts. The buckets have fixed bounds ([`BOUNDS`]), one column each and
//! not cumulative, so that `SUM` over any rows, of any hosts and runs, is
//! exact, and a percentile comes from the summed buckets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow_array::builder::{Float64Builder, StringBuilder, UInt16Builder, UInt64Builder};
use arrow_array::{ArrayRef, RecordBatch, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use super::{io_err, partition_dir, run_id, ExportError, ExportOptions, Partition};
use crate::analysis::{host_key, window_start, HashMap};
use crate::input::Source;
use crate::output::atomic;
use crate::parse::Record;
use crate::scan::{self, FileCheck, ScanOptions, Sink};

pub use crate::analysis::rolled::{bucket_names, BOUNDS, METADATA_KEY, SCHEMA};

/// Counts per bucket (a cell's counts fit in 32 bits: one key's
/// requests in one window), and the sum of the times.
#[derive(Debug, Default, Clone)]
struct Buckets {
    counts: [u32; BOUNDS.len() + 1],
    sum: f64,
}

impl Buckets {
    fn observe(&mut self, seconds: f64) {
        if seconds.is_finite() && seconds >= 0.0 {
            self.counts[BOUNDS.partition_point(|&b| b < seconds)] += 1;
            self.sum += seconds;
        }
    }

    fn add(&mut self, other: &Buckets) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.sum += other.sum;
    }
}

/// A host, method, path or upstream, held once per part however many
/// keys name it (a key holds its pointer: 16 bytes, no allocation per
/// line).
type Name = Arc<str>;

/// (window start, host, method, normalized path, status, last upstream)
type RequestKey = (
    i64,
    Option<Name>,
    Option<Name>,
    Name,
    Option<u16>,
    Option<Name>,
);

#[derive(Debug, Default, Clone)]
struct RequestCell {
    requests: u64,
    bytes: u64,
    /// Requests whose format logs a size: none, and `bytes` is unknown
    /// (null), not zero.
    sized: u64,
    attempts: u64,
    time: Buckets,
}

/// (window start, host, upstream, the status it answered)
type AttemptKey = (i64, Option<Name>, Name, Option<u16>);

#[derive(Debug, Default, Clone)]
struct AttemptCell {
    attempts: u64,
    time: Buckets,
}

#[derive(Default)]
struct Sums {
    requests: HashMap<RequestKey, RequestCell>,
    attempts: HashMap<AttemptKey, AttemptCell>,
    /// Every name the keys hold, once.
    names: std::collections::HashSet<Name, foldhash::fast::RandomState>,
    /// Requests without a time: in no window.
    untimed: u64,
    /// The newest window seen.
    newest: Option<i64>,
}

impl Sums {
    /// `text` as a shared name: allocated only the first time.
    fn name(&mut self, text: &str) -> Name {
        match self.names.get(text) {
            Some(n) => n.clone(),
            None => {
                let n: Name = text.into();
                self.names.insert(n.clone());
                n
            }
        }
    }

    fn add(&mut self, other: Sums) {
        for (k, v) in other.requests {
            let c = self.requests.entry(k).or_default();
            c.requests += v.requests;
            c.bytes += v.bytes;
            c.sized += v.sized;
            c.attempts += v.attempts;
            c.time.add(&v.time);
        }
        for (k, v) in other.attempts {
            let c = self.attempts.entry(k).or_default();
            c.attempts += v.attempts;
            c.time.add(&v.time);
        }
        self.untimed += other.untimed;
        self.newest = self.newest.max(other.newest);
    }
}

/// Rows held in memory before the windows that ended are written out.
const FLUSH_ROWS: usize = 100_000;

/// Sums held, and what writes the finished windows: a window two windows
/// older than the newest one read is done (nginx logs a request when it
/// ends, so lines come a little out of order). A line later still only
/// makes a second row for its key and window, which SUM adds up exactly.
struct Out<'o> {
    options: &'o ExportOptions,
    size: i64,
    sums: Sums,
    props: WriterProperties,
    run: String,
    seq: usize,
    summary: RollupSummary,
}

pub(super) struct Rolling<'a, 'o> {
    out: &'a Mutex<Out<'o>>,
}

pub(super) struct Part<'o> {
    options: &'o ExportOptions,
    size: i64,
    sums: Sums,
    buf: Vec<u8>,
    key: String,
}

impl<'o> Sink for Rolling<'_, 'o> {
    type Part = Part<'o>;
    type Error = ExportError;

    fn part(&self) -> Part<'o> {
        let out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        Part {
            options: out.options,
            size: out.size,
            sums: Sums::default(),
            buf: Vec::new(),
            key: String::new(),
        }
    }

    fn record(&self, part: &mut Part<'o>, record: &Record<'_>, _line: u64) {
        if !part.options.filter.is_empty() && !part.options.filter.keeps(record) {
            return;
        }
        let Some(time) = record.time() else {
            part.sums.untimed += 1;
            return;
        };
        let window = window_start(time.micros, part.size);
        part.sums.newest = part.sums.newest.max(Some(window));
        let sums = &mut part.sums;
        let host = record.host().map(|h| {
            host_key(&h.decode(), &mut part.key);
            sums.name(&part.key)
        });
        let request = record.request();
        let path = match request.path {
            Some(p) => {
                part.options.paths.normalize(&p.decode(), &mut part.buf);
                sums.name(&crate::text::lossy(&part.buf))
            }
            None => sums.name("(no path)"),
        };
        let mut last: Option<Name> = None;
        let mut attempts = 0;
        for a in record.upstreams() {
            let Some(addr) = a.addr else { continue };
            attempts += 1;
            let addr = sums.name(&crate::text::lossy(addr));
            let cell = sums
                .attempts
                .entry((window, host.clone(), addr.clone(), a.status))
                .or_default();
            cell.attempts += 1;
            if let Some(t) = a.response_time {
                cell.time.observe(t);
            }
            last = Some(addr);
        }
        let method = request.method.map(|m| sums.name(&crate::text::lossy(m)));
        let key = (window, host, method, path, record.status(), last);
        let cell = sums.requests.entry(key).or_default();
        cell.requests += 1;
        cell.bytes += record.bytes().unwrap_or(0);
        cell.sized += u64::from(record.layout().has_bytes());
        cell.attempts += attempts;
        if let Some(t) = record.request_time() {
            cell.time.observe(t);
        }
    }

    fn merge(&self, part: Part<'o>) -> Result<(), Self::Error> {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        out.sums.add(part.sums);
        if out.sums.requests.len() + out.sums.attempts.len() > FLUSH_ROWS {
            if let Some(newest) = out.sums.newest {
                let before = newest - 2 * out.size;
                out.flush(Some(before))?;
            }
        }
        Ok(())
    }
}

/// What a rollup export read and wrote.
#[derive(Debug, Default)]
pub struct RollupSummary {
    pub files: Vec<FileCheck>,
    pub requests: u64,
    /// Requests without a time, in no row.
    pub untimed: u64,
    pub request_rows: u64,
    pub attempt_rows: u64,
    pub written: Vec<PathBuf>,
    /// The run's manifest (see [`super::manifest`]).
    pub manifest: Option<PathBuf>,
}

impl RollupSummary {
    /// Per input: lines, rejected and any error; then what was written.
    pub fn write(&self, out: &mut dyn std::io::Write, dir: &Path) -> std::io::Result<()> {
        for f in &self.files {
            let error = f.error.as_ref().map(|e| format!("; {e}"));
            writeln!(
                out,
                "{}: {} lines, {} rejected{}",
                f.name,
                f.lines,
                f.rejected,
                error.unwrap_or_default()
            )?;
        }
        self.write_total(out, dir)
    }

    /// What was written, without the inputs (which the rows' summary
    /// lists when both were written).
    pub fn write_total(&self, out: &mut dyn std::io::Write, dir: &Path) -> std::io::Result<()> {
        if self.untimed > 0 {
            writeln!(
                out,
                "{} requests without a time are in no window",
                self.untimed
            )?;
        }
        writeln!(
            out,
            "wrote {} requests as {} request rows and {} attempt rows to {} Parquet files under {}",
            self.requests,
            self.request_rows,
            self.attempt_rows,
            self.written.len(),
            dir.display()
        )
    }
}

/// A rollup being written: the sink a scan feeds (alone, or beside the
/// per-request rows), and what writes its last windows and manifest.
pub struct Rollup<'o> {
    out: Mutex<Out<'o>>,
}

impl<'o> Rollup<'o> {
    /// Sums per window of `size` microseconds, written as `requests/` and
    /// `attempts/` under the export directory, partitioned as the options
    /// say; a file appears under its name only once whole.
    pub fn new(options: &'o ExportOptions, size: i64) -> Rollup<'o> {
        let props = WriterProperties::builder()
            .set_compression(options.compression.compression())
            .set_dictionary_enabled(true)
            .set_key_value_metadata(Some(vec![parquet::file::metadata::KeyValue::new(
                METADATA_KEY.to_string(),
                format!("{SCHEMA}; window_seconds={}", size / 1_000_000),
            )]))
            .set_created_by("logspike".to_string())
            .build();
        Rollup {
            out: Mutex::new(Out {
                options,
                size,
                sums: Sums::default(),
                props,
                run: run_id(),
                seq: 0,
                summary: RollupSummary::default(),
            }),
        }
    }

    /// The sink for one scan.
    pub(super) fn sink(&self) -> Rolling<'_, 'o> {
        Rolling { out: &self.out }
    }

    /// Writes what is still held, then the run's manifest (last, as for
    /// rows: the run is whole, and `--append` keeps its files). `files`
    /// are the scans' checks of `sources`.
    pub fn finish(
        self,
        files: Vec<FileCheck>,
        sources: &[Source],
    ) -> Result<RollupSummary, ExportError> {
        let mut out = self.out.into_inner().unwrap_or_else(|e| e.into_inner());
        out.flush(None)?;
        out.summary.files = files;
        out.summary.untimed = out.sums.untimed;
        let inputs = sources
            .iter()
            .filter_map(super::manifest::Input::of)
            .collect();
        out.summary.manifest = Some(super::manifest::write(
            &out.options.dir,
            super::manifest::Kind::Rollup,
            &out.run,
            out.summary.request_rows + out.summary.attempt_rows,
            &out.summary.written,
            inputs,
        )?);
        Ok(out.summary)
    }
}

/// Reads every source into a [`Rollup`] of windows of `size`
/// microseconds, and nothing else.
pub fn export_rollup(
    sources: &[Source],
    options: &ExportOptions,
    size: i64,
) -> Result<RollupSummary, ExportError> {
    let rollup = Rollup::new(options, size);
    let mut scan_options = ScanOptions::new(options.format.clone());
    scan_options.read_ahead(sources);
    let mut files = Vec::new();
    for source in sources {
        files.push(scan::scan(source, &mut scan_options, &rollup.sink())?);
    }
    rollup.finish(files, sources)
}

impl Out<'_> {
    /// Writes the windows before `before` (all with `None`), one file per
    /// table and partition.
    fn flush(&mut self, before: Option<i64>) -> Result<(), ExportError> {
        let done = |w: i64| before.is_none_or(|b| w < b);
        let partition = self.options.partition;
        let key = |w: i64| -> Option<i64> {
            Some(match partition {
                Partition::None => 0,
                Partition::Date => w.div_euclid(86_400_000_000),
                Partition::Hour => w.div_euclid(3_600_000_000),
            })
        };
        let (mut requests, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.sums.requests)
            .into_iter()
            .partition(|(k, _)| done(k.0));
        self.sums.requests = keep.into_iter().collect();
        let (mut attempts, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.sums.attempts)
            .into_iter()
            .partition(|(k, _)| done(k.0));
        self.sums.attempts = keep.into_iter().collect();
        // Sorted, so that files are the same from run to run.
        requests.sort_by(|a, b| a.0.cmp(&b.0));
        attempts.sort_by(|a, b| a.0.cmp(&b.0));
        self.summary.requests += requests.iter().map(|(_, c)| c.requests).sum::<u64>();
        self.summary.request_rows += requests.len() as u64;
        self.summary.attempt_rows += attempts.len() as u64;
        let size_s = (self.size / 1_000_000) as u64;
        let mut by_part: BTreeMap<Option<i64>, Vec<(RequestKey, RequestCell)>> = BTreeMap::new();
        for (k, v) in requests {
            by_part.entry(key(k.0)).or_default().push((k, v));
        }
        for (part, rows) in &by_part {
            let batch = request_batch(rows, size_s);
            self.write("requests", *part, &batch)?;
        }
        let mut by_part: BTreeMap<Option<i64>, Vec<(AttemptKey, AttemptCell)>> = BTreeMap::new();
        for (k, v) in attempts {
            by_part.entry(key(k.0)).or_default().push((k, v));
        }
        for (part, rows) in &by_part {
            let batch = attempt_batch(rows, size_s);
            self.write("attempts", *part, &batch)?;
        }
        Ok(())
    }

    fn write(
        &mut self,
        table: &str,
        part: Option<i64>,
        batch: &RecordBatch,
    ) -> Result<(), ExportError> {
        let dir = self
            .options
            .dir
            .join(table)
            .join(self.options.host.clone().unwrap_or_default())
            .join(partition_dir(self.options.partition, part));
        let name = format!("part-{}-{:05}.parquet", self.run, self.seq);
        self.seq += 1;
        let path = write(&dir, &name, batch, self.props.clone())?;
        self.summary.written.push(path);
        Ok(())
    }
}

fn write(
    dir: &Path,
    name: &str,
    batch: &RecordBatch,
    props: WriterProperties,
) -> Result<PathBuf, ExportError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let path = dir.join(name);
    let failed = |error| ExportError::Parquet {
        path: path.display().to_string(),
        error,
    };
    let (file, pending) = atomic::create(&path).map_err(io_err(&path))?;
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(failed)?;
    writer.write(batch).map_err(failed)?;
    writer.close().map_err(failed)?;
    pending.commit().map_err(io_err(&path))
}

fn time_field() -> Field {
    Field::new(
        "window_start",
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        false,
    )
}

fn buckets_columns(
    prefix: &str,
    cells: &[&Buckets],
    fields: &mut Vec<Field>,
    columns: &mut Vec<ArrayRef>,
) {
    for (i, name) in bucket_names(prefix).into_iter().enumerate() {
        fields.push(Field::new(name, DataType::UInt64, false));
        let mut b = UInt64Builder::with_capacity(cells.len());
        for c in cells {
            b.append_value(u64::from(c.counts[i]));
        }
        columns.push(Arc::new(b.finish()));
    }
    fields.push(Field::new(
        format!("{prefix}_sum"),
        DataType::Float64,
        false,
    ));
    let mut b = Float64Builder::with_capacity(cells.len());
    for c in cells {
        b.append_value(c.sum);
    }
    columns.push(Arc::new(b.finish()));
}

fn strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    let mut b = StringBuilder::new();
    for v in values {
        b.append_option(v);
    }
    Arc::new(b.finish())
}

/// The two columns every rollup row begins with: its window's start and
/// size.
fn window_columns(starts: impl ExactSizeIterator<Item = i64>, size: u64) -> (ArrayRef, ArrayRef) {
    let n = starts.len();
    (
        Arc::new(TimestampMicrosecondArray::from_iter_values(starts).with_timezone("UTC")),
        Arc::new(arrow_array::UInt64Array::from_iter_values(
            std::iter::repeat_n(size, n),
        )),
    )
}

fn request_batch(rows: &[(RequestKey, RequestCell)], size: u64) -> RecordBatch {
    let mut fields = vec![
        time_field(),
        Field::new("window_seconds", DataType::UInt64, false),
        Field::new("host", DataType::Utf8, true),
        Field::new("method", DataType::Utf8, true),
        Field::new("path_normalized", DataType::Utf8, false),
        Field::new("status", DataType::UInt16, true),
        Field::new("upstream", DataType::Utf8, true),
        Field::new("requests", DataType::UInt64, false),
        Field::new("bytes", DataType::UInt64, true),
        Field::new("upstream_attempts", DataType::UInt64, false),
    ];
    let mut status = UInt16Builder::new();
    for (k, _) in rows {
        status.append_option(k.4);
    }
    let u64s = |f: &dyn Fn(&RequestCell) -> u64| -> ArrayRef {
        Arc::new(arrow_array::UInt64Array::from_iter_values(
            rows.iter().map(|(_, c)| f(c)),
        ))
    };
    let (start, seconds) = window_columns(rows.iter().map(|(k, _)| k.0), size);
    let mut columns: Vec<ArrayRef> = vec![
        start,
        seconds,
        strings(rows.iter().map(|(k, _)| k.1.as_deref())),
        strings(rows.iter().map(|(k, _)| k.2.as_deref())),
        strings(rows.iter().map(|(k, _)| Some(&*k.3))),
        Arc::new(status.finish()),
        strings(rows.iter().map(|(k, _)| k.5.as_deref())),
        u64s(&|c| c.requests),
        Arc::new(arrow_array::UInt64Array::from_iter(
            rows.iter().map(|(_, c)| (c.sized > 0).then_some(c.bytes)),
        )),
        u64s(&|c| c.attempts),
    ];
    let cells: Vec<&Buckets> = rows.iter().map(|(_, c)| &c.time).collect();
    buckets_columns("request_time", &cells, &mut fields, &mut columns);
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .expect("columns match their fields")
}

fn attempt_batch(rows: &[(AttemptKey, AttemptCell)], size: u64) -> RecordBatch {
    let mut fields = vec![
        time_field(),
        Field::new("window_seconds", DataType::UInt64, false),
        Field::new("host", DataType::Utf8, true),
        Field::new("upstream", DataType::Utf8, false),
        Field::new("upstream_status", DataType::UInt16, true),
        Field::new("attempts", DataType::UInt64, false),
    ];
    let mut status = UInt16Builder::new();
    for (k, _) in rows {
        status.append_option(k.3);
    }
    let (start, seconds) = window_columns(rows.iter().map(|(k, _)| k.0), size);
    let mut columns: Vec<ArrayRef> = vec![
        start,
        seconds,
        strings(rows.iter().map(|(k, _)| k.1.as_deref())),
        strings(rows.iter().map(|(k, _)| Some(&*k.2))),
        Arc::new(status.finish()),
        Arc::new(arrow_array::UInt64Array::from_iter_values(
            rows.iter().map(|(_, c)| c.attempts),
        )),
    ];
    let cells: Vec<&Buckets> = rows.iter().map(|(_, c)| &c.time).collect();
    buckets_columns("upstream_time", &cells, &mut fields, &mut columns);
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .expect("columns match their fields")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_have_inclusive_upper_bounds_and_names() {
        let mut b = Buckets::default();
        for t in [0.0, 0.001, 0.0011, 60.0, 61.0, f64::NAN] {
            b.observe(t);
        }
        assert_eq!(b.counts[0], 2);
        assert_eq!(b.counts[1], 1);
        assert_eq!(b.counts[BOUNDS.len() - 1], 1);
        assert_eq!(b.counts[BOUNDS.len()], 1);
        let names = bucket_names("request_time");
        assert_eq!(names[0], "request_time_le_0_001");
        assert_eq!(names[1], "request_time_le_0_0025");
        assert_eq!(names[9], "request_time_le_1");
        assert_eq!(names[BOUNDS.len()], "request_time_le_inf");
    }
}
