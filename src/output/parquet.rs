//! The report's tables as Parquet (`report --output parquet`): one file
//! per table, `windows`, `incidents`, `upstreams` and `paths`, for an
//! analytics engine to join with the request rows `export` writes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder, UInt16Builder, UInt64Builder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::atomic;

/// How Parquet pages are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Zstd,
    Snappy,
    None,
}

impl Codec {
    /// `zstd`, `snappy` or `none`.
    pub fn parse(name: &str) -> Result<Codec, String> {
        match name {
            "zstd" => Ok(Codec::Zstd),
            "snappy" => Ok(Codec::Snappy),
            "none" => Ok(Codec::None),
            _ => Err(format!(
                "`{name}` is not a compression: zstd, snappy or none"
            )),
        }
    }

    pub fn compression(self) -> Compression {
        match self {
            Codec::Zstd => Compression::ZSTD(parquet::basic::ZstdLevel::default()),
            Codec::Snappy => Compression::SNAPPY,
            Codec::None => Compression::UNCOMPRESSED,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TablesError {
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("writing Parquet {path}: {error}")]
    Parquet {
        path: String,
        error: parquet::errors::ParquetError,
    },
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> TablesError + '_ {
    move |error| TablesError::Io {
        path: path.display().to_string(),
        error,
    }
}

/// Writes the report's tables (`windows`, `incidents`, `upstreams`,
/// `paths`) as Parquet files in `dir`, each under a temporary name renamed
/// when complete. Status counts are two parallel list columns,
/// `status_codes` and `status_counts`.
pub fn write_report_tables(
    report: &crate::report::Report,
    dir: &Path,
    codec: Codec,
) -> Result<Vec<PathBuf>, TablesError> {
    use arrow_array::{Float64Array, StringArray, TimestampMicrosecondArray, UInt64Array};
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let micros = |t: &crate::report::Utc| Some(t.micros());
    let ts = |v: Vec<Option<i64>>| -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC"))
    };
    let u64s = |v: Vec<u64>| -> ArrayRef { Arc::new(UInt64Array::from(v)) };
    let f64s = |v: Vec<Option<f64>>| -> ArrayRef { Arc::new(Float64Array::from(v)) };
    let strs = |v: Vec<Option<String>>| -> ArrayRef { Arc::new(StringArray::from(v)) };
    let statuses = |maps: Vec<&crate::report::StatusCounts>| -> (ArrayRef, ArrayRef) {
        let mut codes = ListBuilder::new(UInt16Builder::new());
        let mut counts = ListBuilder::new(UInt64Builder::new());
        for map in maps {
            for (code, n) in map {
                codes.values().append_option(code.get());
                counts.values().append_value(*n);
            }
            codes.append(true);
            counts.append(true);
        }
        (Arc::new(codes.finish()), Arc::new(counts.finish()))
    };
    let ts_type = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let list = |item: DataType| DataType::List(Arc::new(Field::new("item", item, true)));
    let status_fields = || {
        vec![
            Field::new("status_codes", list(DataType::UInt16), true),
            Field::new("status_counts", list(DataType::UInt64), true),
        ]
    };

    let w = &report.windows;
    let (codes, counts) = statuses(w.iter().map(|w| &w.status).collect());
    let mut fields = vec![
        Field::new("start", ts_type.clone(), true),
        Field::new("requests", DataType::UInt64, false),
        Field::new("errors_5xx", DataType::UInt64, false),
        Field::new("error_rate", DataType::Float64, true),
        Field::new("bytes", DataType::UInt64, true),
        Field::new("request_time_p50", DataType::Float64, true),
        Field::new("request_time_p90", DataType::Float64, true),
        Field::new("request_time_p99", DataType::Float64, true),
        Field::new("upstream_time_p50", DataType::Float64, true),
        Field::new("upstream_time_p90", DataType::Float64, true),
        Field::new("upstream_time_p99", DataType::Float64, true),
    ];
    fields.extend(status_fields());
    let windows = RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        vec![
            ts(w.iter().map(|w| micros(&w.start)).collect()),
            u64s(w.iter().map(|w| w.requests).collect()),
            u64s(w.iter().map(|w| w.errors_5xx).collect()),
            f64s(w.iter().map(|w| Some(w.error_rate)).collect()),
            Arc::new(UInt64Array::from(
                w.iter().map(|w| w.bytes).collect::<Vec<_>>(),
            )) as ArrayRef,
            f64s(w.iter().map(|w| w.request_time.p50).collect()),
            f64s(w.iter().map(|w| w.request_time.p90).collect()),
            f64s(w.iter().map(|w| w.request_time.p99).collect()),
            f64s(w.iter().map(|w| w.upstream_time.p50).collect()),
            f64s(w.iter().map(|w| w.upstream_time.p90).collect()),
            f64s(w.iter().map(|w| w.upstream_time.p99).collect()),
            codes,
            counts,
        ],
    );

    let inc = &report.incidents;
    let (codes, counts) = statuses(inc.iter().map(|i| &i.status).collect());
    let top = |rows: &[crate::report::Share]| rows.first().map(|s| (s.key.clone(), s.share));
    let mut fields = vec![
        Field::new("kind", DataType::Utf8, false),
        Field::new("scope", DataType::Utf8, false),
        Field::new("scope_dimension", DataType::Utf8, false),
        Field::new(
            "scope_keys",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            false,
        ),
        Field::new("start", ts_type.clone(), true),
        Field::new("end", ts_type.clone(), true),
        Field::new("duration_seconds", DataType::Float64, false),
        Field::new("peak", ts_type.clone(), true),
        Field::new("peak_5xx", DataType::UInt64, false),
        Field::new("peak_window_seconds", DataType::Float64, false),
        Field::new("total_5xx", DataType::UInt64, false),
        Field::new("upstream_5xx", DataType::UInt64, true),
        Field::new("requests", DataType::UInt64, false),
        Field::new("error_rate", DataType::Float64, true),
        Field::new("baseline_rate", DataType::Float64, true),
        Field::new("expected_requests", DataType::Float64, true),
        Field::new("diagnosis", DataType::Utf8, false),
        Field::new("top_upstream", DataType::Utf8, true),
        Field::new("top_upstream_share", DataType::Float64, true),
        Field::new("top_path", DataType::Utf8, true),
        Field::new("top_path_share", DataType::Float64, true),
        Field::new("first_error_file", DataType::Utf8, true),
        Field::new("first_error_line", DataType::UInt64, true),
        // The most telling value of what differs about its 5xx.
        Field::new("differs_dimension", DataType::Utf8, true),
        Field::new("differs_key", DataType::Utf8, true),
        Field::new("differs_share", DataType::Float64, true),
        Field::new("differs_normal_share", DataType::Float64, true),
    ];
    fields.extend(status_fields());
    let incidents = RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        vec![
            Arc::new(StringArray::from(
                inc.iter().map(|i| i.kind).collect::<Vec<_>>(),
            )) as ArrayRef,
            Arc::new(StringArray::from(
                inc.iter()
                    .map(|i| i.scope.label.as_str())
                    .collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                inc.iter().map(|i| i.scope.dimension).collect::<Vec<_>>(),
            )),
            {
                let mut keys = ListBuilder::new(StringBuilder::new());
                for i in inc {
                    for k in &i.scope.keys {
                        keys.values().append_value(k);
                    }
                    keys.append(true);
                }
                Arc::new(keys.finish())
            },
            ts(inc.iter().map(|i| micros(&i.start)).collect()),
            ts(inc.iter().map(|i| micros(&i.end)).collect()),
            Arc::new(Float64Array::from(
                inc.iter().map(|i| i.duration_seconds).collect::<Vec<_>>(),
            )),
            ts(inc.iter().map(|i| micros(&i.peak)).collect()),
            u64s(inc.iter().map(|i| i.peak_5xx).collect()),
            Arc::new(Float64Array::from(
                inc.iter()
                    .map(|i| i.peak_window_seconds)
                    .collect::<Vec<_>>(),
            )),
            u64s(inc.iter().map(|i| i.total_5xx).collect()),
            Arc::new(UInt64Array::from(
                inc.iter().map(|i| i.upstream_5xx).collect::<Vec<_>>(),
            )),
            u64s(inc.iter().map(|i| i.requests).collect()),
            f64s(inc.iter().map(|i| Some(i.error_rate)).collect()),
            f64s(inc.iter().map(|i| Some(i.baseline_rate)).collect()),
            f64s(inc.iter().map(|i| i.expected_requests).collect()),
            Arc::new(StringArray::from(
                inc.iter().map(|i| i.diagnosis.as_str()).collect::<Vec<_>>(),
            )),
            strs(inc.iter().map(|i| top(&i.upstreams).map(|t| t.0)).collect()),
            f64s(inc.iter().map(|i| top(&i.upstreams).map(|t| t.1)).collect()),
            strs(inc.iter().map(|i| top(&i.paths).map(|t| t.0)).collect()),
            f64s(inc.iter().map(|i| top(&i.paths).map(|t| t.1)).collect()),
            strs(
                inc.iter()
                    .map(|i| i.first_error.as_ref().map(|e| e.file.clone()))
                    .collect(),
            ),
            Arc::new(UInt64Array::from(
                inc.iter()
                    .map(|i| i.first_error.as_ref().map(|e| e.line))
                    .collect::<Vec<_>>(),
            )),
            strs(
                inc.iter()
                    .map(|i| i.attribution.first().map(|a| a.dimension.to_string()))
                    .collect(),
            ),
            strs(
                inc.iter()
                    .map(|i| i.attribution.first().map(|a| a.key.clone()))
                    .collect(),
            ),
            f64s(
                inc.iter()
                    .map(|i| i.attribution.first().map(|a| a.share))
                    .collect(),
            ),
            f64s(
                inc.iter()
                    .map(|i| i.attribution.first().map(|a| a.normal_share))
                    .collect(),
            ),
            codes,
            counts,
        ],
    );

    let key_table = |name: &str,
                     keys: Vec<String>,
                     totals: Vec<u64>,
                     errors: Vec<u64>,
                     maps: Vec<&crate::report::StatusCounts>| {
        let (codes, counts) = statuses(maps);
        let mut fields = vec![
            Field::new(name, DataType::Utf8, false),
            Field::new(
                if name == "upstream" {
                    "attempts"
                } else {
                    "requests"
                },
                DataType::UInt64,
                false,
            ),
            Field::new("errors_5xx", DataType::UInt64, false),
        ];
        fields.extend(status_fields());
        RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            vec![
                Arc::new(StringArray::from(keys)) as ArrayRef,
                u64s(totals),
                u64s(errors),
                codes,
                counts,
            ],
        )
    };
    let u = &report.upstreams;
    let upstreams = key_table(
        "upstream",
        u.iter().map(|r| r.upstream.clone()).collect(),
        u.iter().map(|r| r.attempts).collect(),
        u.iter().map(|r| r.errors_5xx).collect(),
        u.iter().map(|r| &r.status).collect(),
    );
    let p = &report.paths;
    let paths = key_table(
        "path",
        p.iter().map(|r| r.path.clone()).collect(),
        p.iter().map(|r| r.requests).collect(),
        p.iter().map(|r| r.errors_5xx).collect(),
        p.iter().map(|r| &r.status).collect(),
    );

    let props = WriterProperties::builder()
        .set_compression(codec.compression())
        .set_created_by("logspike".to_string())
        .build();
    let mut written = Vec::new();
    for (name, batch) in [
        ("windows", windows),
        ("incidents", incidents),
        ("upstreams", upstreams),
        ("paths", paths),
    ] {
        let path = dir.join(format!("{name}.parquet"));
        let batch = batch.map_err(|e| TablesError::Parquet {
            path: path.display().to_string(),
            error: parquet::errors::ParquetError::ArrowError(e.to_string()),
        })?;
        let parquet_err = |error| TablesError::Parquet {
            path: path.display().to_string(),
            error,
        };
        let (file, pending) = atomic::create(&path).map_err(io_err(&path))?;
        let mut writer =
            ArrowWriter::try_new(file, batch.schema(), Some(props.clone())).map_err(parquet_err)?;
        writer.write(&batch).map_err(parquet_err)?;
        writer.close().map_err(parquet_err)?;
        pending.commit().map_err(io_err(&path))?;
        written.push(path);
    }
    Ok(written)
}
