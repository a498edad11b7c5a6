//! The report read from rollups (`export --rollup`) instead of logs: every
//! row of the `requests/` and `attempts/` tables is counted into one
//! aggregate (see [`crate::analysis::rolled`]) and assembled as the report
//! of the logs would be. Counts are exact; latencies are known to their
//! bucket; the inputs' lines and rejects are not in rollups, so the
//! report's lines are the requests.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{TimestampMicrosecondType, UInt16Type, UInt64Type};
use arrow_array::{Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{assemble, Report, ReportOptions};
use crate::analysis::rolled::{
    bucket_names, RolledAttempts, RolledRequests, BUCKETS, METADATA_KEY as KEY, SCHEMA,
};
use crate::analysis::Aggregate;
use crate::scan::FileCheck;

/// Whether `path` is a directory `export --rollup` wrote: `requests/`,
/// and `attempts/` or the run manifests (logs without upstream fields
/// have no attempts).
pub fn is_rollup(path: &Path) -> bool {
    path.join("requests").is_dir()
        && (path.join("attempts").is_dir() || path.join("_logspike").is_dir())
}

/// The Parquet files under `dir`, sorted; hidden and `_` names (temporary
/// files, manifests) left out.
fn parquet_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", d.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if name.ends_with(".parquet") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A rollup file opened: its window size (microseconds) and reader.
fn open(path: &Path) -> Result<(i64, ParquetRecordBatchReaderBuilder<File>), String> {
    let shown = path.display();
    let file = File::open(path).map_err(|e| format!("{shown}: {e}"))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| format!("{shown}: {e}"))?;
    let meta = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == KEY))
        .and_then(|k| k.value.clone())
        .ok_or_else(|| format!("{shown}: not a logspike rollup (no `{KEY}` in its metadata)"))?;
    let (schema, rest) = meta.split_once(';').unwrap_or((&meta, ""));
    if schema.trim() != SCHEMA {
        return Err(format!(
            "{shown}: a rollup of schema {}, and this logspike reads {SCHEMA}",
            schema.trim()
        ));
    }
    let seconds = rest
        .trim()
        .strip_prefix("window_seconds=")
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|&s| s > 0)
        .ok_or_else(|| format!("{shown}: no window size in its `{KEY}` metadata"))?;
    Ok((seconds * 1_000_000, builder))
}

/// The columns of a batch by name, typed; a missing or mistyped column
/// is an error naming the file.
struct Columns<'b> {
    batch: &'b RecordBatch,
    path: &'b Path,
}

impl<'b> Columns<'b> {
    fn get(&self, name: &str) -> Result<&'b dyn Array, String> {
        self.batch
            .column_by_name(name)
            .map(|c| c.as_ref())
            .ok_or_else(|| format!("{}: no column `{name}`", self.path.display()))
    }

    fn u64(&self, name: &str) -> Result<&'b arrow_array::UInt64Array, String> {
        self.get(name)?
            .as_primitive_opt::<UInt64Type>()
            .ok_or_else(|| format!("{}: `{name}` is not UInt64", self.path.display()))
    }

    fn u16(&self, name: &str) -> Result<&'b arrow_array::UInt16Array, String> {
        self.get(name)?
            .as_primitive_opt::<UInt16Type>()
            .ok_or_else(|| format!("{}: `{name}` is not UInt16", self.path.display()))
    }

    fn text(&self, name: &str) -> Result<&'b arrow_array::StringArray, String> {
        self.get(name)?
            .as_string_opt::<i32>()
            .ok_or_else(|| format!("{}: `{name}` is not text", self.path.display()))
    }

    fn start(&self) -> Result<&'b arrow_array::TimestampMicrosecondArray, String> {
        self.get("window_start")?
            .as_primitive_opt::<TimestampMicrosecondType>()
            .ok_or_else(|| format!("{}: `window_start` is not a timestamp", self.path.display()))
    }

    /// The time bucket columns of `prefix`, in bound order.
    fn buckets(&self, prefix: &str) -> Result<Vec<&'b arrow_array::UInt64Array>, String> {
        bucket_names(prefix)
            .iter()
            .map(|name| self.u64(name))
            .collect()
    }
}

fn text_at(a: &arrow_array::StringArray, i: usize) -> Option<&str> {
    (!a.is_null(i)).then(|| a.value(i))
}

fn times(buckets: &[&arrow_array::UInt64Array], i: usize) -> [u64; BUCKETS] {
    let mut out = [0; BUCKETS];
    for (o, b) in out.iter_mut().zip(buckets) {
        *o = b.value(i);
    }
    out
}

/// Reads every batch of every file, handing each to `each`; errors name
/// the file.
fn each_batch(
    files: Vec<(PathBuf, ParquetRecordBatchReaderBuilder<File>)>,
    mut each: impl FnMut(&Columns) -> Result<(), String>,
) -> Result<(), String> {
    for (path, reader) in files {
        let failed = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        for batch in reader.build().map_err(|e| failed(&e))? {
            let batch = batch.map_err(|e| failed(&e))?;
            each(&Columns {
                batch: &batch,
                path: &path,
            })?;
        }
    }
    Ok(())
}

/// One rollup directory's files, opened.
struct Tables {
    requests: Vec<(PathBuf, ParquetRecordBatchReaderBuilder<File>)>,
    attempts: Vec<(PathBuf, ParquetRecordBatchReaderBuilder<File>)>,
}

/// Builds the report of the rollups in `dirs` (each an `export --rollup`
/// output directory, with the name to show for it). Errors name the file.
pub fn build(dirs: &[(PathBuf, String)], options: &ReportOptions) -> Result<Report, String> {
    let mut size = None;
    let mut tables = Vec::new();
    for (dir, _) in dirs {
        let mut t = Tables {
            requests: Vec::new(),
            attempts: Vec::new(),
        };
        for (table, list) in [("requests", &mut t.requests), ("attempts", &mut t.attempts)] {
            let under = dir.join(table);
            if !under.is_dir() {
                continue;
            }
            for path in parquet_files(&under)? {
                let (s, reader) = open(&path)?;
                match size {
                    None => size = Some((s, path.clone())),
                    Some((known, ref first)) if known != s => {
                        return Err(format!(
                            "{} has windows of {} s and {} of {} s: report rollups of one size at a time",
                            first.display(),
                            known / 1_000_000,
                            path.display(),
                            s / 1_000_000
                        ))
                    }
                    Some(_) => {}
                }
                list.push((path, reader));
            }
        }
        tables.push(t);
    }
    let Some((size, _)) = size else {
        return Err(format!(
            "no rollup files under {}",
            dirs.iter()
                .map(|(_, name)| name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    };
    let config = &options.analysis;
    let mut aggregate = Aggregate::for_rollups(config, size).ok_or_else(|| {
        format!(
            "--window must be a multiple of the rollups' window ({} s)",
            size / 1_000_000
        )
    })?;
    let logs_upstreams = tables
        .iter()
        .flat_map(|t| &t.attempts)
        .any(|(_, r)| r.metadata().file_metadata().num_rows() > 0);
    let mut checks = Vec::new();
    for (index, ((_, name), t)) in dirs.iter().zip(tables).enumerate() {
        let file = index as u32;
        let before = aggregate.requests + aggregate.filtered;
        each_batch(t.requests, |c| {
            let (start, host, method, route) = (
                c.start()?,
                c.text("host")?,
                c.text("method")?,
                c.text("path_normalized")?,
            );
            let (status, requests, bytes, attempts) = (
                c.u16("status")?,
                c.u64("requests")?,
                c.u64("bytes")?,
                c.u64("upstream_attempts")?,
            );
            let buckets = c.buckets("request_time")?;
            for i in 0..c.batch.num_rows() {
                let row = RolledRequests {
                    start: start.value(i),
                    size,
                    host: text_at(host, i),
                    method: text_at(method, i),
                    path: route.value(i),
                    status: if status.is_null(i) {
                        0
                    } else {
                        status.value(i)
                    },
                    requests: requests.value(i),
                    bytes: (!bytes.is_null(i)).then(|| bytes.value(i)),
                    attempts: attempts.value(i),
                    times: times(&buckets, i),
                };
                aggregate.add_rolled_requests(&row, file, logs_upstreams, config);
            }
            Ok(())
        })?;
        each_batch(t.attempts, |c| {
            let (start, upstream, status, attempts) = (
                c.start()?,
                c.text("upstream")?,
                c.u16("upstream_status")?,
                c.u64("attempts")?,
            );
            let buckets = c.buckets("upstream_time")?;
            for i in 0..c.batch.num_rows() {
                let row = RolledAttempts {
                    start: start.value(i),
                    size,
                    upstream: upstream.value(i),
                    status: if status.is_null(i) {
                        0
                    } else {
                        status.value(i)
                    },
                    attempts: attempts.value(i),
                    times: times(&buckets, i),
                };
                aggregate.add_rolled_attempts(&row, file, config);
            }
            Ok(())
        })?;
        let requests = aggregate.requests + aggregate.filtered - before;
        checks.push(FileCheck {
            name: name.clone(),
            grammars: vec![SCHEMA.to_string()],
            reason: format!(
                "rollups of {} s windows (export --rollup)",
                size / 1_000_000
            ),
            lines: requests,
            parsed: requests,
            by_grammar: vec![(SCHEMA.to_string(), requests)],
            first_time: None,
            last_time: None,
            ..FileCheck::default()
        });
    }
    Ok(assemble(&aggregate, &checks, options))
}
