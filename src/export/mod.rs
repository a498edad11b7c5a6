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

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow_array::builder::{
    Float64Builder, ListBuilder, StringBuilder, TimestampMicrosecondBuilder, UInt16Builder,
    UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use crate::analysis::PathNormalizer;
use crate::detect::FormatChoice;
use crate::grammar::{Grammar, Role};
use crate::input::Source;
use crate::output::atomic::{self, Pending};
use crate::output::parquet::Codec;
use crate::parse::{Record, Timestamp};
use crate::scan::{self, FileCheck, ScanOptions, Sink};

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

/// The columns every export has, in order.
fn base_fields() -> Vec<Field> {
    let list = |item: DataType| DataType::List(Arc::new(Field::new("item", item, true)));
    vec![
        Field::new(
            "timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("status", DataType::UInt16, true),
        Field::new("method", DataType::Utf8, true),
        Field::new("path", DataType::Utf8, true),
        Field::new("path_normalized", DataType::Utf8, true),
        Field::new("query", DataType::Utf8, true),
        Field::new("protocol", DataType::Utf8, true),
        Field::new("host", DataType::Utf8, true),
        Field::new("remote_addr", DataType::Utf8, true),
        Field::new("remote_user", DataType::Utf8, true),
        Field::new("bytes", DataType::UInt64, true),
        Field::new("referer", DataType::Utf8, true),
        Field::new("user_agent", DataType::Utf8, true),
        Field::new("request_time", DataType::Float64, true),
        Field::new("upstream_addr", DataType::Utf8, true),
        Field::new("upstream_status", DataType::UInt16, true),
        Field::new("upstream_response_time", DataType::Float64, true),
        Field::new("upstream_addrs", list(DataType::Utf8), true),
        Field::new("upstream_statuses", list(DataType::UInt16), true),
        Field::new("upstream_response_times", list(DataType::Float64), true),
        Field::new("source_file", DataType::Utf8, false),
        Field::new("source_line", DataType::UInt64, false),
    ]
}

/// A field name as a column name: `%{X-Trace}i` -> `x_trace_i`.
fn column_name(field: &str) -> String {
    let name: String = field
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    name.trim_matches('_').to_string()
}

/// The grammar's fields that have no typed column, kept as text columns.
fn extra_fields(grammar: &Grammar) -> Vec<(String, String)> {
    let has_body = grammar.fields().any(|f| f.role == Role::BodyBytes);
    let base = base_fields();
    let mut out: Vec<(String, String)> = Vec::new();
    for f in grammar.fields() {
        let extra = match f.role {
            Role::Other
            | Role::Ident
            | Role::BytesReceived
            | Role::ServerPort
            | Role::XForwardedFor
            | Role::UpstreamConnectTime
            | Role::UpstreamHeaderTime => true,
            Role::BytesSent => has_body,
            _ => false,
        };
        let column = match f.role {
            Role::Ident => "ident".to_string(),
            Role::BytesReceived => "bytes_received".to_string(),
            Role::BytesSent => "bytes_sent".to_string(),
            Role::ServerPort => "server_port".to_string(),
            Role::XForwardedFor => "x_forwarded_for".to_string(),
            Role::UpstreamConnectTime => "upstream_connect_time".to_string(),
            Role::UpstreamHeaderTime => "upstream_header_time".to_string(),
            _ => column_name(&f.name),
        };
        if extra
            && !column.is_empty()
            && !out.iter().any(|(c, _)| *c == column)
            && !base.iter().any(|b| b.name() == &column)
        {
            out.push((column, f.name.clone()));
        }
    }
    out
}

/// Builds one record batch, column by column.
struct Rows {
    schema: Arc<Schema>,
    /// (column name, field name in the grammar)
    extras: Vec<(String, String)>,
    timestamp: TimestampMicrosecondBuilder,
    status: UInt16Builder,
    text: Vec<StringBuilder>,
    bytes: UInt64Builder,
    request_time: Float64Builder,
    upstream_status: UInt16Builder,
    upstream_time: Float64Builder,
    addrs: ListBuilder<StringBuilder>,
    statuses: ListBuilder<UInt16Builder>,
    times: ListBuilder<Float64Builder>,
    source_file: StringBuilder,
    source_line: UInt64Builder,
    extra: Vec<StringBuilder>,
    len: usize,
}

/// Text columns of the base schema, in order: method, path,
/// path_normalized, query, protocol, host, remote_addr, remote_user,
/// referer, user_agent, upstream_addr.
const TEXT_COLUMNS: usize = 11;

/// How much a chunk's rows held: the next chunk's builders start that big
/// instead of doubling their way up to it (reallocating and copying their
/// buffers as they grew was 4% of building the rows).
#[derive(Debug, Clone, Default)]
struct Sizes {
    rows: usize,
    /// Bytes of each text column.
    text: [usize; TEXT_COLUMNS],
    /// Upstream attempts, and the bytes of their addresses.
    attempts: usize,
    addr_bytes: usize,
    source_file: usize,
    extra: Vec<usize>,
}

impl Sizes {
    /// The larger of the two, column by column.
    fn max(&mut self, other: &Sizes) {
        self.rows = self.rows.max(other.rows);
        for (a, b) in self.text.iter_mut().zip(&other.text) {
            *a = (*a).max(*b);
        }
        self.attempts = self.attempts.max(other.attempts);
        self.addr_bytes = self.addr_bytes.max(other.addr_bytes);
        self.source_file = self.source_file.max(other.source_file);
        self.extra
            .resize(other.extra.len().max(self.extra.len()), 0);
        for (a, b) in self.extra.iter_mut().zip(&other.extra) {
            *a = (*a).max(*b);
        }
    }
}

impl Rows {
    fn new(extras: &[(String, String)]) -> Rows {
        Rows::with_sizes(extras, &Sizes::default())
    }

    fn with_sizes(extras: &[(String, String)], sizes: &Sizes) -> Rows {
        let mut fields = base_fields();
        fields.extend(
            extras
                .iter()
                .map(|(n, _)| Field::new(n.as_str(), DataType::Utf8, true)),
        );
        let rows = sizes.rows;
        Rows {
            schema: Arc::new(Schema::new(fields)),
            extras: extras.to_vec(),
            timestamp: TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC"),
            status: UInt16Builder::with_capacity(rows),
            text: sizes
                .text
                .iter()
                .map(|&bytes| StringBuilder::with_capacity(rows, bytes))
                .collect(),
            bytes: UInt64Builder::with_capacity(rows),
            request_time: Float64Builder::with_capacity(rows),
            upstream_status: UInt16Builder::with_capacity(rows),
            upstream_time: Float64Builder::with_capacity(rows),
            addrs: ListBuilder::with_capacity(
                StringBuilder::with_capacity(sizes.attempts, sizes.addr_bytes),
                rows,
            ),
            statuses: ListBuilder::with_capacity(
                UInt16Builder::with_capacity(sizes.attempts),
                rows,
            ),
            times: ListBuilder::with_capacity(Float64Builder::with_capacity(sizes.attempts), rows),
            source_file: StringBuilder::with_capacity(rows, sizes.source_file),
            source_line: UInt64Builder::with_capacity(rows),
            extra: (0..extras.len())
                .map(|i| {
                    StringBuilder::with_capacity(rows, sizes.extra.get(i).copied().unwrap_or(0))
                })
                .collect(),
            len: 0,
        }
    }

    fn push(
        &mut self,
        r: &Record,
        file: &str,
        line: u64,
        paths: &PathNormalizer,
        buf: &mut Vec<u8>,
    ) {
        let text = crate::text::LineText::of(r.line());
        self.timestamp.append_option(r.time().map(|t| t.micros));
        self.status.append_option(r.status());
        let req = r.request();
        let normalized = match req.path {
            Some(p) => {
                paths.normalize(&p.decode(), buf);
                Some(&buf[..])
            }
            None => None,
        };
        let mut attempts = r.upstreams();
        let mut last = None;
        let mut any = false;
        for a in attempts.by_ref() {
            any = true;
            self.addrs
                .values()
                .append_option(a.addr.map(|a| text.field(a)));
            self.statuses.values().append_option(a.status);
            self.times.values().append_option(a.response_time);
            last = Some(a);
        }
        self.addrs.append(any);
        self.statuses.append(any);
        self.times.append(any);
        // Text goes into the builders borrowed where it is UTF-8 and needs
        // no unescaping: no allocation per field.
        fn decoded<'a>(v: Option<crate::parse::Value<'a>>) -> Option<std::borrow::Cow<'a, [u8]>> {
            v.map(|v| v.decode())
        }
        let texts: [Option<std::borrow::Cow<[u8]>>; TEXT_COLUMNS] = [
            req.method.map(std::borrow::Cow::Borrowed),
            decoded(req.path),
            normalized.map(std::borrow::Cow::Borrowed),
            decoded(req.query),
            req.protocol.map(std::borrow::Cow::Borrowed),
            decoded(r.host()),
            decoded(r.remote_addr()),
            decoded(r.remote_user()),
            decoded(r.referer()),
            decoded(r.user_agent()),
            last.and_then(|a| a.addr).map(std::borrow::Cow::Borrowed),
        ];
        for (builder, value) in self.text.iter_mut().zip(texts) {
            builder.append_option(value.as_deref().map(|v| text.field(v)));
        }
        self.bytes.append_option(r.bytes());
        self.request_time.append_option(r.request_time());
        self.upstream_status
            .append_option(last.and_then(|a| a.status));
        self.upstream_time
            .append_option(last.and_then(|a| a.response_time));
        self.source_file.append_value(file);
        self.source_line.append_value(line);
        for ((_, field), builder) in self.extras.iter().zip(self.extra.iter_mut()) {
            builder.append_option(r.field(field).map(|v| v.to_string_lossy()));
        }
        self.len += 1;
    }

    fn sizes(&self) -> Sizes {
        Sizes {
            rows: self.len,
            text: std::array::from_fn(|i| self.text[i].values_slice().len()),
            attempts: arrow_array::builder::ArrayBuilder::len(self.addrs.values_ref()),
            addr_bytes: self.addrs.values_ref().values_slice().len(),
            source_file: self.source_file.values_slice().len(),
            extra: self.extra.iter().map(|b| b.values_slice().len()).collect(),
        }
    }

    fn finish(&mut self) -> RecordBatch {
        let text: Vec<ArrayRef> = self
            .text
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        // In schema order; `text` holds method .. remote_user (0..8),
        // referer (8), user_agent (9) and upstream_addr (10).
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.timestamp.finish()),
            Arc::new(self.status.finish()),
        ];
        columns.extend(text[..8].iter().cloned());
        columns.push(Arc::new(self.bytes.finish()));
        columns.push(text[8].clone());
        columns.push(text[9].clone());
        columns.push(Arc::new(self.request_time.finish()));
        columns.push(text[10].clone());
        columns.push(Arc::new(self.upstream_status.finish()));
        columns.push(Arc::new(self.upstream_time.finish()));
        columns.push(Arc::new(self.addrs.finish()));
        columns.push(Arc::new(self.statuses.finish()));
        columns.push(Arc::new(self.times.finish()));
        columns.push(Arc::new(self.source_file.finish()));
        columns.push(Arc::new(self.source_line.finish()));
        for b in &mut self.extra {
            columns.push(Arc::new(b.finish()));
        }
        self.len = 0;
        RecordBatch::try_new(self.schema.clone(), columns).expect("columns match the schema")
    }
}

/// An open Parquet file under its temporary name.
struct Output {
    writer: ArrowWriter<File>,
    pending: Pending,
    rows: Rows,
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
            let rows = Rows::new(&self.layouts[key.1]);
            let writer = ArrowWriter::try_new(file, rows.schema.clone(), Some(self.props.clone()))
                .map_err(|error| ExportError::Parquet {
                    path: path.display().to_string(),
                    error,
                })?;
            self.outputs.insert(
                key,
                Output {
                    writer,
                    pending,
                    rows,
                    used: 0,
                },
            );
        }
        let uses = self.uses;
        let output = self.outputs.get_mut(&key).expect("inserted above");
        output.used = uses;
        Ok(output)
    }

    /// Writes an output's last rows, closes it and gives it its final
    /// name (its temporary file is removed if any of that fails).
    fn close(mut output: Output) -> Result<PathBuf, ExportError> {
        if output.rows.len > 0 {
            let batch = output.rows.finish();
            Writers::write(&mut output, &batch)?;
        }
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

/// Extra columns of a layout: (column name, field name in the grammar).
type Extras = Vec<(String, String)>;

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
