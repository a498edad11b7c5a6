//! `logspike export`: one Parquet row per request, typed, Hive-partitioned
//! by date (and hour), so that DuckDB, Spark and Trino prune by time.
//!
//! Rows go out in record batches as they are parsed, into one Parquet
//! writer per partition (and per set of extra columns, when files of
//! different formats share a partition); a writer buffers one row group at
//! most, so memory does not grow with the input. Every file is written
//! under a hidden temporary name and renamed when complete, so a reader
//! never sees a half-written file.

pub mod manifest;
pub mod remote;
pub mod rollup;
mod rows;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use crate::analysis::PathNormalizer;
use crate::detect::FormatChoice;
use crate::grammar::Grammar;
use crate::input::Source;
use crate::output::atomic::{self, Pending};
use crate::output::parquet::Codec;
use crate::parse::{Record, Timestamp};
use crate::scan::{self, FileCheck, ScanOptions, Sink};
use rows::{extra_fields, Extras, Rows, Sizes};

/// How rows are split into directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partition {
    None,
    Date,
    Hour,
}

/// `--partition server[,date|hour|none]`: the time partitioning, and
/// whether a `server=NAME/` level goes above it (for a fleet whose servers
/// export into one place). Not `host=`: the tables have a `host` column
/// (the virtual host), and engines reading Hive partitions let the
/// directory's value replace the column's without a word (DuckDB did).
pub fn parse_partitioning(text: &str) -> Result<(Partition, bool), String> {
    match text.split_once(',') {
        Some(("server", time)) => Ok((Partition::parse(time)?, true)),
        None if text == "server" => Ok((Partition::Date, true)),
        _ => Partition::parse(text).map(|p| (p, false)),
    }
}

/// The `server=NAME` directory for this machine's exports: `name`, or the
/// machine's host name; characters a path or a Hive value cannot hold
/// become `_`.
pub fn server_dir(name: Option<&str>) -> PathBuf {
    let name = match name {
        Some(n) => n.to_string(),
        None => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .ok()
            .filter(|s| !s.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "unknown".to_string()),
    };
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    PathBuf::from(format!("server={safe}"))
}

impl Partition {
    /// `date`, `hour` or `none`.
    pub fn parse(name: &str) -> Result<Partition, String> {
        match name {
            "date" => Ok(Partition::Date),
            "hour" => Ok(Partition::Hour),
            "none" => Ok(Partition::None),
            _ => Err(format!(
                "`{name}` is not a partitioning: date, hour or none, after server, if given (server,hour)"
            )),
        }
    }
}

/// What to do with an output directory that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Refuse an existing, non-empty directory.
    Create,
    /// Remove what is there first.
    Overwrite,
    /// Add new files beside the existing ones; never rewrite them.
    Append,
}

pub struct ExportOptions {
    pub dir: PathBuf,
    pub partition: Partition,
    /// A `server=NAME` level above the time partitions (see [`server_dir`]).
    pub host: Option<PathBuf>,
    pub compression: Codec,
    pub row_group_rows: usize,
    pub mode: Mode,
    pub paths: PathNormalizer,
    pub format: FormatChoice,
    /// Only the records it keeps become rows.
    pub filter: crate::analysis::Filter,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0} exists and is not empty; use --overwrite or --append")]
    Exists(String),
    /// An input a finished run of this directory exported already.
    #[error("{0}")]
    Exported(String),
    // The causes are part of the message, not a chain: the parquet
    // crate's External error repeats its cause, which a printed chain
    // showed three times ("No space left on device" thrice).
    #[error("{path}: {error}")]
    Io { path: String, error: io::Error },
    /// Object storage: the bucket and key, and what went wrong.
    #[error("{url}: {error}")]
    Remote { url: String, error: String },
    #[error("writing Parquet {path}: {}", parquet_text(error))]
    Parquet {
        path: String,
        error: parquet::errors::ParquetError,
    },
}

/// A Parquet error in words: an I/O error inside says just that.
fn parquet_text(e: &parquet::errors::ParquetError) -> String {
    match e {
        parquet::errors::ParquetError::External(inner) => inner.to_string(),
        other => other.to_string(),
    }
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> ExportError + '_ {
    move |error| ExportError::Io {
        path: path.display().to_string(),
        error,
    }
}

/// Prepares the output directory as the mode says; errors here come
/// before any input is read.
pub fn prepare(dir: &Path, mode: Mode) -> Result<(), ExportError> {
    let exists_with_content = dir.is_dir()
        && std::fs::read_dir(dir)
            .map_err(io_err(dir))?
            .next()
            .is_some();
    if exists_with_content {
        match mode {
            Mode::Create => return Err(ExportError::Exists(dir.display().to_string())),
            Mode::Overwrite => std::fs::remove_dir_all(dir).map_err(io_err(dir))?,
            Mode::Append => {}
        }
    }
    std::fs::create_dir_all(dir).map_err(io_err(dir))
}

/// An open Parquet file under its temporary name.
struct Output {
    writer: ArrowWriter<File>,
    pending: Pending,
    /// When it was last written to (a counter), to close the least recent.
    used: u64,
}

/// Parquet files a run keeps open at once: each holds a row group in
/// memory and a descriptor, so many partitions (a day each over years)
/// would exhaust both. The least recently used is closed, and a later row
/// for it starts a new part file.
const MAX_OPEN: usize = 64;

/// What an export wrote.
#[derive(Debug, Default)]
pub struct ExportSummary {
    pub files: Vec<FileCheck>,
    /// Rows written from each of `files` (its parsed records the filter
    /// kept).
    pub file_rows: Vec<u64>,
    pub rows: u64,
    pub written: Vec<PathBuf>,
    /// The run's manifest (see [`manifest`]).
    pub manifest: Option<PathBuf>,
}

impl ExportSummary {
    /// Per input: lines, rows written, rejected, and any error; then the
    /// total and where it went.
    pub fn write(&self, out: &mut dyn Write, dir: &Path) -> io::Result<()> {
        for (f, rows) in self.files.iter().zip(&self.file_rows) {
            let error = f.error.as_ref().map(|e| format!("; {e}"));
            writeln!(
                out,
                "{}: {} lines, {rows} rows, {} rejected{}",
                f.name,
                f.lines,
                f.rejected,
                error.unwrap_or_default()
            )?;
        }
        writeln!(
            out,
            "wrote {} rows to {} Parquet files under {}",
            self.rows,
            self.written.len(),
            dir.display()
        )
    }
}

/// The partition a row belongs to, as a number (days or hours since the
/// epoch), cheap to compute per row; `None` for a row without a time.
fn partition_key(partition: Partition, time: Option<Timestamp>) -> Option<i64> {
    let micros = time?.micros;
    Some(match partition {
        Partition::None => 0,
        Partition::Date => micros.div_euclid(86_400_000_000),
        Partition::Hour => micros.div_euclid(3_600_000_000),
    })
}

/// The directory of a partition key.
fn partition_dir(partition: Partition, key: Option<i64>) -> PathBuf {
    // Hive's name for a missing partition value.
    const NULL: &str = "__HIVE_DEFAULT_PARTITION__";
    let unit = match partition {
        Partition::None => return PathBuf::new(),
        Partition::Date => 86_400,
        Partition::Hour => 3600,
    };
    let dt = key.and_then(|k| chrono::DateTime::<chrono::Utc>::from_timestamp(k * unit, 0));
    match (partition, dt) {
        (Partition::Date, Some(t)) => PathBuf::from(format!("date={}", t.format("%Y-%m-%d"))),
        (Partition::Hour, Some(t)) => PathBuf::from(format!(
            "date={}/hour={}",
            t.format("%Y-%m-%d"),
            t.format("%H")
        )),
        (Partition::Date, None) => PathBuf::from(format!("date={NULL}")),
        _ => PathBuf::from(format!("date={NULL}/hour={NULL}")),
    }
}

/// A name no earlier run used: time and process id.
fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{:x}", std::process::id())
}

/// The open Parquet files of a run, one per (partition, column layout).
struct Writers<'o> {
    options: &'o ExportOptions,
    props: WriterProperties,
    run: String,
    seq: usize,
    outputs: BTreeMap<(Option<i64>, usize), Output>,
    layouts: Vec<Vec<(String, String)>>,
    /// Files closed and renamed so far.
    written: Vec<PathBuf>,
    uses: u64,
}

impl Writers<'_> {
    fn layout(&mut self, extras: Vec<(String, String)>) -> usize {
        match self.layouts.iter().position(|l| *l == extras) {
            Some(i) => i,
            None => {
                self.layouts.push(extras);
                self.layouts.len() - 1
            }
        }
    }

    /// The output for a key, opened under a temporary name on first use.
    fn output(&mut self, key: (Option<i64>, usize)) -> Result<&mut Output, ExportError> {
        self.uses += 1;
        if !self.outputs.contains_key(&key) && self.outputs.len() >= MAX_OPEN {
            let oldest = self
                .outputs
                .iter()
                .min_by_key(|(_, o)| o.used)
                .map(|(k, _)| *k)
                .expect("outputs are not empty");
            let output = self.outputs.remove(&oldest).expect("found above");
            let path = Writers::close(output)?;
            self.written.push(path);
        }
        if !self.outputs.contains_key(&key) {
            let dir = self
                .options
                .dir
                .join(self.options.host.clone().unwrap_or_default())
                .join(partition_dir(self.options.partition, key.0));
            std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
            let file_name = format!("part-{}-{:05}.parquet", self.run, self.seq);
            self.seq += 1;
            let path = dir.join(&file_name);
            let (file, pending) = atomic::create(&path).map_err(io_err(&path))?;
            let schema = rows::schema(&self.layouts[key.1]);
            let writer =
                ArrowWriter::try_new(file, schema, Some(self.props.clone())).map_err(|error| {
                    ExportError::Parquet {
                        path: path.display().to_string(),
                        error,
                    }
                })?;
            self.outputs.insert(
                key,
                Output {
                    writer,
                    pending,
                    used: 0,
                },
            );
        }
        let uses = self.uses;
        let output = self.outputs.get_mut(&key).expect("inserted above");
        output.used = uses;
        Ok(output)
    }

    /// Closes an output (its rows are written as each chunk merges) and
    /// gives it its final name (its temporary file is removed if that
    /// fails).
    fn close(output: Output) -> Result<PathBuf, ExportError> {
        output
            .writer
            .close()
            .map_err(|error| ExportError::Parquet {
                path: output.pending.path().display().to_string(),
                error,
            })?;
        let path = output.pending.path().to_path_buf();
        output.pending.commit().map_err(io_err(&path))
    }

    fn write(output: &mut Output, batch: &RecordBatch) -> Result<(), ExportError> {
        output
            .writer
            .write(batch)
            .map_err(|error| ExportError::Parquet {
                path: output.pending.path().display().to_string(),
                error,
            })
    }

    /// Closes every file and renames it to its final name. On an error
    /// the files not yet closed are dropped, and with them their
    /// temporary files.
    fn finish(mut self) -> Result<Vec<PathBuf>, ExportError> {
        while let Some((_, output)) = self.outputs.pop_first() {
            let path = Writers::close(output)?;
            self.written.push(path);
        }
        self.written.sort();
        Ok(std::mem::take(&mut self.written))
    }
}

/// The export's sink: each chunk's records become rows per partition,
/// written in input order as the chunks merge.
struct ToParquet<'a, 'o> {
    options: &'o ExportOptions,
    /// The input's name, in every row.
    name: &'a str,
    /// The column layout of the input (from its primary grammar) and its
    /// index among the run's layouts, set once the grammars are chosen.
    layout: Mutex<(usize, Arc<Extras>)>,
    out: Mutex<(&'a mut Writers<'o>, u64)>,
    /// The largest rows of a chunk so far.
    sizes: Mutex<Sizes>,
}

struct Chunk {
    rows: BTreeMap<Option<i64>, Rows>,
    extras: Arc<Extras>,
    layout: usize,
    buf: Vec<u8>,
    /// For the chunk's first rows (most chunks have one partition).
    sizes: Option<Sizes>,
}

impl Sink for ToParquet<'_, '_> {
    type Part = Chunk;
    type Error = ExportError;

    fn begin(&self, grammars: &[Arc<Grammar>]) {
        let extras = grammars
            .first()
            .map(|g| extra_fields(g))
            .unwrap_or_default();
        let index = lock(&self.out).0.layout(extras.clone());
        *lock(&self.layout) = (index, Arc::new(extras));
    }

    fn part(&self) -> Chunk {
        let (layout, extras) = lock(&self.layout).clone();
        Chunk {
            rows: BTreeMap::new(),
            extras,
            layout,
            buf: Vec::new(),
            sizes: Some(lock(&self.sizes).clone()),
        }
    }

    fn record(&self, part: &mut Chunk, record: &Record<'_>, line: u64) {
        if !self.options.filter.is_empty() && !self.options.filter.keeps(record) {
            return;
        }
        let key = partition_key(self.options.partition, record.time());
        let extras = &part.extras;
        let sizes = &mut part.sizes;
        part.rows
            .entry(key)
            .or_insert_with(|| Rows::with_sizes(extras, &sizes.take().unwrap_or_default()))
            .push(record, self.name, line, &self.options.paths, &mut part.buf);
    }

    fn merge(&self, part: Chunk) -> Result<(), ExportError> {
        let mut out = lock(&self.out);
        for (key, mut rows) in part.rows {
            lock(&self.sizes).max(&rows.sizes());
            out.1 += rows.len as u64;
            let batch = rows.finish();
            let output = out.0.output((key, part.layout))?;
            Writers::write(output, &batch)?;
        }
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Exports every source. Per-file problems are in the summary's files and
/// do not stop the others; only the output can fail the run.
/// With `rollup`, the same scan feeds it too (see [`rollup::Rollup`]),
/// which the caller then finishes.
pub fn export(
    sources: &[Source],
    options: &ExportOptions,
    rejects: Option<&mut (dyn Write + Send)>,
    rollup: Option<&rollup::Rollup>,
) -> Result<ExportSummary, ExportError> {
    let props = WriterProperties::builder()
        .set_compression(options.compression.compression())
        .set_max_row_group_size(options.row_group_rows)
        .set_dictionary_enabled(true)
        .set_statistics_enabled(parquet::file::properties::EnabledStatistics::Page)
        // Line numbers are unique and rise by one, and a log's times rise
        // or stay: a dictionary only costs hashing every one, where deltas
        // take almost nothing (and make the timestamps 1% smaller).
        .set_column_dictionary_enabled("source_line".into(), false)
        .set_column_encoding(
            "source_line".into(),
            parquet::basic::Encoding::DELTA_BINARY_PACKED,
        )
        .set_column_dictionary_enabled("timestamp".into(), false)
        .set_column_encoding(
            "timestamp".into(),
            parquet::basic::Encoding::DELTA_BINARY_PACKED,
        )
        .set_created_by("logspike".to_string())
        .build();
    let mut writers = Writers {
        options,
        props,
        run: run_id(),
        seq: 0,
        outputs: BTreeMap::new(),
        layouts: Vec::new(),
        written: Vec::new(),
        uses: 0,
    };
    let mut scan_options = ScanOptions::new(options.format.clone());
    scan_options.rejects = rejects;
    scan_options.read_ahead(sources);
    let mut summary = ExportSummary::default();
    for source in sources {
        let name = source.display();
        let sink = ToParquet {
            options,
            name: &name,
            layout: Mutex::new((0, Arc::new(Vec::new()))),
            out: Mutex::new((&mut writers, 0)),
            sizes: Mutex::new(Sizes::default()),
        };
        let check = match rollup {
            Some(r) => scan::scan(source, &mut scan_options, &scan::Both(&sink, &r.sink()))?,
            None => scan::scan(source, &mut scan_options, &sink)?,
        };
        let rows = lock(&sink.out).1;
        summary.rows += rows;
        summary.file_rows.push(rows);
        summary.files.push(check);
    }
    let run = writers.run.clone();
    summary.written = writers.finish()?;
    // Last, once every part file has its final name: the run is whole.
    let inputs = sources.iter().filter_map(manifest::Input::of).collect();
    summary.manifest = Some(manifest::write(
        &options.dir,
        manifest::Kind::Rows,
        &run,
        summary.rows,
        &summary.written,
        inputs,
    )?);
    Ok(summary)
}
