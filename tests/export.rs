//! `logspike export --parquet`: read back with the `parquet` crate against
//! the parser's own records, queried by DuckDB against `report --output
//! json`, and stopped half-way without leaving a file under a final name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{TimestampMicrosecondType, UInt16Type, UInt64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use assert_cmd::Command;
use logspike::grammar::builtin::Registry;
use logspike::parse::{LineParser, Outcome};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::util::{logspike, run};

fn export(args: &[&str], out: &Path, inputs: &[&Path]) -> String {
    let cmd = &mut logspike();
    run(cmd
        .args(["export", "--parquet"])
        .arg(out)
        .args(args)
        .args(inputs))
    .ok()
    .stdout
}

pub(crate) fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

pub(crate) fn read(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

fn sample_log(dir: &Path) -> PathBuf {
    let path = dir.join("access.log");
    let lines = [
        r#"1.2.3.4 - - [28/Nov/2026:10:00:01 +0100] "GET /a/1?x=1 HTTP/1.1" 200 512 "-" "curl" 0.010 10.0.0.1:80 200 0.009 0.001 0.008"#,
        r#"1.2.3.4 - bob [28/Nov/2026:10:00:02 +0100] "POST /a/2 HTTP/1.1" 502 0 "https://r/" "ua" 0.200 10.0.0.1:80, 10.0.0.2:80 502, 502 0.100, 0.100 0.001, 0.001 -, -"#,
        r#"1.2.3.4 - - [28/Nov/2026:23:30:00 -0100] "GET / HTTP/1.1" 304 0 "-" "-" 0.001 - - - - -"#,
        "2026/11/28 10:41:07 [error] 1#1: *1 not an access line",
        r#"5.6.7.8 - - [28/Nov/2026:10:00:03 +0100] "\x16\x03\x01" 400 0 "-" "-" 0.000 - - - - -"#,
    ];
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[test]
fn rows_read_back_with_the_parsers_values() {
    let dir = tempfile::tempdir().unwrap();
    let log = sample_log(dir.path());
    let out = dir.path().join("out");
    let rejects = dir.path().join("rejects.txt");
    let printed = export(
        &[
            "--format",
            "nginx-upstream",
            "--rejects",
            rejects.to_str().unwrap(),
        ],
        &out,
        &[&log],
    );
    assert!(printed.contains("5 lines, 4 rows, 1 rejected"), "{printed}");
    assert!(std::fs::read_to_string(&rejects)
        .unwrap()
        .contains("[error]"));

    let files = parquet_files(&out);
    // 23:30 -01:00 is the next day in UTC: two date partitions.
    let dirs: Vec<String> = files
        .iter()
        .map(|f| {
            f.parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(dirs, ["date=2026-11-28", "date=2026-11-29"]);

    let grammar = Registry::new().find("nginx-upstream").unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    let mut rows = 0;
    for file in &files {
        for batch in read(file) {
            let schema = batch.schema();
            assert_eq!(
                schema.field_with_name("timestamp").unwrap().data_type(),
                &DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC")))
            );
            assert_eq!(
                schema.field_with_name("status").unwrap().data_type(),
                &DataType::UInt16
            );
            assert_eq!(
                schema.field_with_name("bytes").unwrap().data_type(),
                &DataType::UInt64
            );
            assert_eq!(
                schema.field_with_name("request_time").unwrap().data_type(),
                &DataType::Float64
            );
            assert!(matches!(
                schema
                    .field_with_name("upstream_statuses")
                    .unwrap()
                    .data_type(),
                DataType::List(_)
            ));
            let col = |name: &str| batch.column(schema.index_of(name).unwrap()).clone();
            let lines = col("source_line");
            let lines = lines.as_primitive::<UInt64Type>();
            let times = col("timestamp");
            let times = times.as_primitive::<TimestampMicrosecondType>();
            let statuses = col("status");
            let statuses = statuses.as_primitive::<UInt16Type>();
            let paths = col("path");
            let paths = paths.as_string::<i32>();
            let users = col("remote_user");
            let users = users.as_string::<i32>();
            let methods = col("method");
            let methods = methods.as_string::<i32>();
            let normalized = col("path_normalized");
            let normalized = normalized.as_string::<i32>();
            let up = col("upstream_statuses");
            let up = up.as_list::<i32>();
            for i in 0..batch.num_rows() {
                rows += 1;
                let n = lines.value(i) as usize;
                let line = text.lines().nth(n - 1).unwrap();
                let mut parser = LineParser::new(std::slice::from_ref(&grammar));
                let Outcome::Record(r) = parser.parse(line.as_bytes()) else {
                    panic!("line {n} was exported but does not parse")
                };
                assert_eq!(Some(times.value(i)), r.time().map(|t| t.micros), "line {n}");
                assert_eq!(Some(statuses.value(i)), r.status(), "line {n}");
                let req = r.request();
                assert_eq!(
                    paths.is_null(i),
                    req.path.is_none(),
                    "line {n}: `-`/no path is null"
                );
                assert_eq!(methods.is_null(i), req.method.is_none(), "line {n}");
                if let Some(p) = req.path {
                    assert_eq!(paths.value(i), p.to_string_lossy());
                }
                assert_eq!(
                    users.is_null(i),
                    r.remote_user().is_none(),
                    "line {n}: `-` is null, not text"
                );
                if n == 2 {
                    assert_eq!(normalized.value(i), "/a/:id");
                    let tries = up.value(i);
                    let tries = tries.as_primitive::<UInt16Type>();
                    assert_eq!(tries.values().to_vec(), [502, 502], "every attempt kept");
                }
                if n == 3 {
                    assert!(up.is_null(i), "no upstream attempts: null list");
                }
            }
        }
    }
    assert_eq!(rows, 4);
}

#[test]
fn existing_output_is_refused_unless_told_and_append_adds() {
    let dir = tempfile::tempdir().unwrap();
    let log = sample_log(dir.path());
    let out = dir.path().join("out");
    export(&["--partition", "none"], &out, &[&log]);
    let first = parquet_files(&out);
    assert_eq!(first.len(), 1);
    let refused = Command::cargo_bin("logspike")
        .unwrap()
        .args(["export", "--parquet"])
        .arg(&out)
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--overwrite or --append"));
    // Another log appends; the same log again would count its rows twice.
    let other = dir.path().join("other.log");
    std::fs::write(&other, std::fs::read(&log).unwrap()).unwrap();
    export(&["--partition", "none", "--append"], &out, &[&other]);
    let both = parquet_files(&out);
    assert_eq!(both.len(), 2);
    assert!(both.contains(&first[0]), "append never rewrites");
    let again = Command::cargo_bin("logspike")
        .unwrap()
        .args(["export", "--partition", "none", "--append", "--parquet"])
        .arg(&out)
        .arg(&log)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(2), "{said}");
    assert!(said.contains("was exported already by run"), "{said}");
    assert_eq!(parquet_files(&out).len(), 2, "nothing written");
    export(&["--partition", "none", "--overwrite"], &out, &[&log]);
    assert_eq!(parquet_files(&out).len(), 1);
}

/// `export --append` after a killed run duplicated its rows (5.3 M rows
/// for 4.7 M lines): the killed run's part files stayed beside the new
/// ones. Each finished run now writes a manifest; `--append` removes the
/// part and temporary files no manifest names, and says so.
#[test]
fn append_after_a_killed_run_removes_its_remnants() {
    let dir = tempfile::tempdir().unwrap();
    let log = sample_log(dir.path());
    let out = dir.path().join("out");
    export(&["--partition", "none"], &out, &[&log]);
    let first = parquet_files(&out);
    let manifests: Vec<PathBuf> = std::fs::read_dir(out.join("_logspike"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(manifests.len(), 1);
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifests[0]).unwrap()).unwrap();
    assert_eq!(m["files"].as_array().unwrap().len(), 1);
    assert_eq!(
        m["inputs"][0]["size"],
        std::fs::metadata(&log).unwrap().len()
    );
    // What a run killed half way leaves: a finished part and a temporary.
    let killed = out.join("part-0123abc-99-00000.parquet");
    std::fs::copy(&first[0], &killed).unwrap();
    std::fs::write(out.join(".part-0123abc-99-00001.parquet.tmp"), b"half").unwrap();
    let other = dir.path().join("other.log");
    std::fs::write(&other, std::fs::read(&log).unwrap()).unwrap();
    let result = Command::cargo_bin("logspike")
        .unwrap()
        .args(["export", "--partition", "none", "--append", "--parquet"])
        .arg(&out)
        .arg(&other)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{said}");
    assert!(
        said.contains("removed 2 files an interrupted export left"),
        "{said}"
    );
    let now = parquet_files(&out);
    assert_eq!(now.len(), 2, "{now:?}");
    assert!(!now.contains(&killed));
    let rows: usize = now.iter().flat_map(|p| read(p)).map(|b| b.num_rows()).sum();
    let once: usize = read(&first[0]).iter().map(|b| b.num_rows()).sum();
    assert_eq!(once, 4);
    assert_eq!(rows, 2 * once, "each log's rows once");
}

#[test]
fn a_writer_stopped_half_way_leaves_no_file_under_a_final_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..400_000 {
        text.push_str(&format!(
            "1.2.3.4 - - [28/Nov/2026:10:{:02}:{:02} +0000] \"GET /item/{i} HTTP/1.1\" 200 {i} \"-\" \"curl\"\n",
            (i / 60) % 60,
            i % 60
        ));
    }
    let log = dir.path().join("big.log");
    std::fs::write(&log, text).unwrap();
    let out = dir.path().join("out");
    let bin = assert_cmd::cargo::cargo_bin("logspike");
    let mut child = std::process::Command::new(bin)
        .args(["export", "--parquet"])
        .arg(&out)
        .arg(&log)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until it has started writing, then stop it hard.
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(20) {
        let writing = out.join("date=2026-11-28");
        if writing.is_dir() && std::fs::read_dir(&writing).unwrap().next().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    if status.success() {
        eprintln!("the export finished before it could be stopped; nothing to check");
        return;
    }
    assert!(parquet_files(&out).is_empty(), "{:?}", parquet_files(&out));
}

/// DuckDB reads the exported directory (Hive partitioning on) and agrees
/// with `logspike report --output json` on rows, 5xx per minute and
/// attempts per upstream and status.
#[test]
fn duckdb_queries_agree_with_the_report() {
    if !crate::util::python_has("duckdb", "the DuckDB test") {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let samples = root.join("sample-logs");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pq");
    export(&["--partition", "hour"], &out, &[&samples]);
    let report = Command::cargo_bin("logspike")
        .unwrap()
        .args([
            "report", "--output", "json", "--window", "1m", "--top", "1000",
        ])
        .arg(&samples)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();

    let script = format!(
        r#"
import duckdb, json
src = "read_parquet('{dir}/**/*.parquet', hive_partitioning=true, union_by_name=true)"
con = duckdb.connect()
rows = con.sql(f"select count(*) from {{src}}").fetchall()[0][0]
per_minute = con.sql(f"select strftime(date_trunc('minute', timestamp at time zone 'UTC'), '%Y-%m-%dT%H:%M:%SZ'), count(*) from {{src}} where status between 500 and 599 group by 1").fetchall()
attempts = con.sql(f"select u, s, count(*) from (select unnest(upstream_addrs) u, unnest(upstream_statuses) s from {{src}}) where u is not null group by all").fetchall()
partitions = con.sql(f"select distinct date from {{src}}").fetchall()
print(json.dumps({{"rows": rows, "per_minute": per_minute, "attempts": attempts, "partitions": [str(p[0]) for p in partitions]}}))
"#,
        dir = out.display()
    );
    let duck: serde_json::Value = crate::util::python_json(&script);

    assert_eq!(duck["rows"], json["summary"]["requests"]);
    let from_duck: BTreeMap<String, u64> = crate::util::pairs(&duck["per_minute"]);
    let from_report = crate::util::errors_by(&json, "windows", "start");
    assert_eq!(from_duck, from_report, "5xx per minute");
    let mut duck_attempts: BTreeMap<(String, u64), u64> = BTreeMap::new();
    for r in duck["attempts"].as_array().unwrap() {
        let status = r[1].as_u64().unwrap_or(0);
        *duck_attempts
            .entry((r[0].as_str().unwrap().to_string(), status))
            .or_default() += r[2].as_u64().unwrap();
    }
    let mut report_attempts: BTreeMap<(String, u64), u64> = BTreeMap::new();
    for u in json["upstreams"].as_array().unwrap() {
        for (code, n) in u["status"].as_object().unwrap() {
            let code = code.parse().unwrap_or(0);
            report_attempts.insert(
                (u["upstream"].as_str().unwrap().to_string(), code),
                n.as_u64().unwrap(),
            );
        }
    }
    assert_eq!(
        duck_attempts, report_attempts,
        "attempts per upstream and status"
    );
    assert_eq!(duck["partitions"], serde_json::json!(["2026-11-28"]));
}

/// Spark (local mode, the machine's Java) reads the same directory: the
/// timestamp is a Spark timestamp, `date` a partition column, and the 5xx
/// attempts per upstream equal the report's; Spark SQL over the rollups of
/// the same logs gives the same requests, 5xx and attempts. Skips, saying
/// why, where Java or pyspark is missing.
#[test]
fn spark_reads_the_export() {
    let has = |cmd: &str, args: &[&str]| {
        std::process::Command::new(cmd)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !has("java", &["-version"]) {
        eprintln!("skipping the Spark test: no java on PATH");
        return;
    }
    if !has("python3", &["-c", "import pyspark"]) {
        eprintln!("skipping the Spark test: pyspark is not installed (scripts/test installs it)");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let samples = root.join("sample-logs");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pq");
    export(&[], &out, &[&samples]);
    let rollup = dir.path().join("rollup");
    export(&["--rollup", "1m"], &rollup, &[&samples]);
    let report = Command::cargo_bin("logspike")
        .unwrap()
        .args(["report", "--output", "json", "--top", "1000"])
        .arg(&samples)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    let result = std::process::Command::new("python3")
        .arg(root.join("tests/spark/read_export.py"))
        .arg(&out)
        .arg(&rollup)
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let stdout = String::from_utf8_lossy(&result.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .expect("JSON from the Spark script");
    let spark: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(spark["timestamp_is_timestamp"], true);
    assert_eq!(spark["has_date"], true);
    assert_eq!(spark["rows"], json["summary"]["requests"]);
    let from_report = crate::util::upstream_errors(&json);
    let from_spark: BTreeMap<String, u64> = crate::util::counts(&spark["errors_by_upstream"]);
    assert_eq!(from_spark, from_report);
    // Each file's rows, last line and sum of line numbers, as written.
    let mut lines: BTreeMap<String, [u64; 3]> = BTreeMap::new();
    for batch in parquet_files(&out).iter().flat_map(|f| read(f)) {
        let files = batch["source_file"].as_string::<i32>();
        let numbers = batch["source_line"].as_primitive::<UInt64Type>();
        for (file, n) in files.iter().zip(numbers.iter()) {
            let e = lines.entry(file.unwrap().to_string()).or_default();
            e[0] += 1;
            e[1] = e[1].max(n.unwrap());
            e[2] += n.unwrap();
        }
    }
    let from_spark: BTreeMap<String, [u64; 3]> =
        serde_json::from_value(spark["source_lines"].clone()).unwrap();
    assert_eq!(from_spark, lines);
    assert!(lines.len() > 5 && lines.values().all(|l| l[1] >= l[0]));
    // The rollups, summed by Spark SQL, give the same.
    assert_eq!(spark["rollup_has_date"], true);
    assert_eq!(spark["rollup_requests"], json["summary"]["requests"]);
    assert_eq!(spark["rollup_errors_5xx"], json["summary"]["errors_5xx"]);
    assert_eq!(
        crate::util::counts(&spark["rollup_errors_by_upstream"]),
        from_report
    );
}

#[test]
fn report_tables_as_parquet_match_the_json_report() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let samples = root.join("sample-logs");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tables");
    let run = |args: &[&str]| {
        Command::cargo_bin("logspike")
            .unwrap()
            .args(["report", "--window", "1m"])
            .args(args)
            .arg(&samples)
            .output()
            .unwrap()
    };
    assert!(run(&["--output", "parquet", "-o", out.to_str().unwrap()])
        .status
        .success());
    let json: serde_json::Value =
        serde_json::from_slice(&run(&["--output", "json"]).stdout).unwrap();
    let rows = |name: &str| -> usize {
        read(&out.join(format!("{name}.parquet")))
            .iter()
            .map(|b| b.num_rows())
            .sum()
    };
    for (table, key) in [
        ("windows", "windows"),
        ("incidents", "incidents"),
        ("upstreams", "upstreams"),
        ("paths", "paths"),
    ] {
        assert_eq!(rows(table), json[key].as_array().unwrap().len(), "{table}");
    }
    let errors: u64 = read(&out.join("windows.parquet"))
        .iter()
        .map(|b| {
            let col = b.column(b.schema().index_of("errors_5xx").unwrap()).clone();
            col.as_primitive::<UInt64Type>()
                .values()
                .iter()
                .sum::<u64>()
        })
        .sum();
    assert_eq!(Some(errors), json["summary"]["errors_5xx"].as_u64());
    let refused = run(&["--output", "parquet"]);
    assert_eq!(refused.status.code(), Some(2), "parquet needs -o DIR");
}

/// A large plain file is exported on all cores in chunks; the rows must be
/// the same as a single-threaded export of the same bytes from stdin.
#[test]
fn parallel_export_equals_the_streamed_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..70_000u32 {
        let status = [200, 200, 502, 404, 503][(i % 5) as usize];
        text.push_str(&format!(
            "10.0.{}.{} - - [28/Nov/2026:{:02}:{:02}:{:02} +0100] \"GET /users/{i}/x HTTP/1.1\" {status} {i} \"-\" \"ua {i}\" 0.010 10.0.0.{}:80 {status} 0.009 0.001 0.008\n",
            i % 200,
            i % 250,
            i / 3600 % 24,
            i / 60 % 60,
            i % 60,
            i % 3
        ));
    }
    assert!(text.len() > 4 << 20, "must take the mapped path");
    let log = dir.path().join("big.log");
    std::fs::write(&log, &text).unwrap();
    let mapped = dir.path().join("mapped");
    export(&["--format", "nginx-upstream"], &mapped, &[&log]);
    let streamed = dir.path().join("streamed");
    let out = Command::cargo_bin("logspike")
        .unwrap()
        .args(["export", "--format", "nginx-upstream", "--parquet"])
        .arg(&streamed)
        .arg("-")
        .write_stdin(text)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = |dir: &Path| {
        let mut rows = Vec::new();
        for file in parquet_files(dir) {
            for batch in read(&file) {
                let col = |n: &str| batch.column(batch.schema().index_of(n).unwrap()).clone();
                let lines = col("source_line");
                let lines = lines.as_primitive::<UInt64Type>();
                let status = col("status");
                let status = status.as_primitive::<UInt16Type>();
                let times = col("timestamp");
                let times = times.as_primitive::<TimestampMicrosecondType>();
                let norm = col("path_normalized");
                let norm = norm.as_string::<i32>();
                let up = col("upstream_addr");
                let up = up.as_string::<i32>();
                for i in 0..batch.num_rows() {
                    rows.push((
                        lines.value(i),
                        status.value(i),
                        times.value(i),
                        norm.value(i).to_string(),
                        up.value(i).to_string(),
                    ));
                }
            }
        }
        rows.sort();
        rows
    };
    let a = rows(&mapped);
    assert_eq!(a.len(), 70_000);
    assert_eq!(a, rows(&streamed));
}

/// Every file below `dir`, hidden ones included.
fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// 300 one-line days with at most 128 descriptors: every partition file
/// was kept open at once, so the export stopped with "Too many open
/// files" and left its `.tmp` files. Now the least recently used are
/// closed, and every row is read back.
#[test]
fn many_partitions_with_few_descriptors() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let mut log = String::new();
    for day in 0..300i64 {
        let t = chrono::DateTime::from_timestamp(1_700_000_000 + day * 86_400, 0).unwrap();
        log.push_str(&format!(
            "10.0.0.1 - - [{}] \"GET /d/{day} HTTP/1.1\" 200 {day} \"-\" \"curl/8\"\n",
            t.format("%d/%b/%Y:%H:%M:%S +0000")
        ));
    }
    let input = dir.path().join("days.log");
    std::fs::write(&input, log).unwrap();
    let out = dir.path().join("out");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_logspike"));
    cmd.args(["export", "--format", "nginx-combined", "--parquet"])
        .arg(&out)
        .arg(&input);
    // SAFETY: setrlimit is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 128,
                rlim_max: 128,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let result = cmd.output().unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let files = all_files(&out);
    assert!(files.iter().all(|f| !f.to_string_lossy().ends_with(".tmp")));
    let parquet = parquet_files(&out);
    assert_eq!(parquet.len(), 300, "one file per day");
    let mut bytes: Vec<u64> = Vec::new();
    for p in &parquet {
        for batch in read(p) {
            let col = batch.column_by_name("bytes").unwrap();
            bytes.extend(col.as_primitive::<UInt64Type>().values().iter());
        }
    }
    bytes.sort_unstable();
    assert_eq!(
        bytes,
        (0..300).collect::<Vec<u64>>(),
        "every row, its own value"
    );
}

/// A full disk: the export stopped, left its `.tmp` (keeping the disk
/// full) and said "No space left on device" three times. Now one message
/// names the file and nothing partial stays. Needs a small tmpfs (root).
#[test]
fn a_full_disk_leaves_no_temporary_file_and_says_so_once() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=512k", "tmpfs"])
        .arg(&small)
        .output()
        .is_ok_and(|o| o.status.success());
    if !mounted {
        eprintln!("skipping the full-disk test: cannot mount a small tmpfs (needs root)");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(small.clone());
    // Paths that do not compress: more Parquet than the disk holds.
    let mut log = String::new();
    let mut x: u64 = 7;
    for i in 0..60_000u64 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        log.push_str(&format!(
            "10.0.{}.{} - - [28/Nov/2026:10:{:02}:{:02} +0000] \"GET /p/{x:x} HTTP/1.1\" 200 {} \"-\" \"curl/8\"\n",
            i % 200,
            i % 250,
            (i / 60) % 60,
            i % 60,
            x % 100_000
        ));
    }
    let input = dir.path().join("big.log");
    std::fs::write(&input, log).unwrap();
    let out = small.join("out");
    let result = Command::cargo_bin("logspike")
        .unwrap()
        .args(["export", "--format", "nginx-combined", "--parquet"])
        .arg(&out)
        .arg(&input)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.matches("No space left on device").count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains("/part-") && stderr.contains(".parquet: No space"),
        "names the file: {stderr}"
    );
    let left: Vec<PathBuf> = all_files(&out)
        .into_iter()
        .filter(|f| f.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// `export --rollup 1m` of a log split across three "hosts", each exported
/// on its own: DuckDB summing the three equals `report --output json` on
/// the whole log: requests, bytes and 5xx per minute, every upstream's
/// attempts by status, and each busy window's p99 inside the bucket the
/// summed buckets name.
#[test]
fn rollups_of_three_hosts_sum_to_the_report() {
    if !crate::util::python_has("duckdb", "the rollup test") {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let mut whole = String::new();
    for name in ["access.log.1", "access.log"] {
        whole += &std::fs::read_to_string(root.join("sample-logs/nginx").join(name)).unwrap();
    }
    let mut parts = [String::new(), String::new(), String::new()];
    for (i, line) in whole.lines().enumerate() {
        parts[i % 3].push_str(line);
        parts[i % 3].push('\n');
    }
    let whole_path = dir.path().join("whole.log");
    std::fs::write(&whole_path, &whole).unwrap();
    let mut globs = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let log = dir.path().join(format!("host{i}.log"));
        std::fs::write(&log, part).unwrap();
        let out = dir.path().join(format!("host{i}"));
        export(
            &["--rollup", "1m", "--format", "nginx-upstream"],
            &out,
            &[&log],
        );
        globs.push(format!("'{}/{{table}}/**/*.parquet'", out.display()));
    }
    let json: serde_json::Value = serde_json::from_slice(
        &Command::cargo_bin("logspike")
            .unwrap()
            .args([
                "report", "--output", "json", "--window", "1m", "--top", "1000",
            ])
            .args(["--format", "nginx-upstream"])
            .arg(&whole_path)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let script = format!(
        r#"
import duckdb, json
globs = [{globs}]
src = lambda t: "read_parquet([" + ", ".join("'" + g.replace("{{table}}", t) + "'" for g in globs) + "], hive_partitioning=true)"
con = duckdb.connect()
total = con.sql(f"select sum(requests)::bigint, sum(bytes)::bigint from {{src('requests')}}").fetchall()[0]
per_minute = con.sql(f"select strftime(window_start at time zone 'UTC', '%Y-%m-%dT%H:%M:%SZ'), sum(requests)::bigint from {{src('requests')}} where status between 500 and 599 group by 1").fetchall()
attempts = con.sql(f"select upstream, upstream_status, sum(attempts)::bigint from {{src('attempts')}} group by all").fetchall()
cols = [c for c in con.sql(f"select * from {{src('requests')}} limit 0").columns if c.startswith('request_time_le_')]
buckets = con.sql(f"select strftime(window_start at time zone 'UTC', '%Y-%m-%dT%H:%M:%SZ'), " + ", ".join(f"sum({{c}})::bigint" for c in cols) + f" from {{src('requests')}} group by 1").fetchall()
print(json.dumps({{"total": total, "per_minute": per_minute, "attempts": attempts, "cols": cols, "buckets": buckets}}))
"#,
        globs = globs.join(", ")
    );
    let got: serde_json::Value = crate::util::python_json(&script);
    assert_eq!(got["total"][0], json["summary"]["requests"]);
    assert_eq!(got["total"][1], json["summary"]["bytes"]);
    let per_minute: BTreeMap<String, u64> = crate::util::pairs(&got["per_minute"]);
    let want: BTreeMap<String, u64> = json["windows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["errors_5xx"].as_u64().unwrap() > 0)
        .map(|w| {
            (
                w["start"].as_str().unwrap().to_string(),
                w["errors_5xx"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(!want.is_empty());
    assert_eq!(per_minute, want);
    let mut attempts: BTreeMap<(String, String), u64> = BTreeMap::new();
    for r in got["attempts"].as_array().unwrap() {
        let status = r[1].as_u64().map_or("-".to_string(), |s| s.to_string());
        attempts.insert(
            (r[0].as_str().unwrap().to_string(), status),
            r[2].as_u64().unwrap(),
        );
    }
    let mut want = BTreeMap::new();
    for u in json["upstreams"].as_array().unwrap() {
        for (status, n) in u["status"].as_object().unwrap() {
            want.insert(
                (u["upstream"].as_str().unwrap().to_string(), status.clone()),
                n.as_u64().unwrap(),
            );
        }
    }
    assert_eq!(attempts, want);
    // Each busy window's p99 lies in the bucket the summed counts name
    // (with the report's 1% sketch error).
    let bounds: Vec<f64> = got["cols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let b = c.as_str().unwrap().trim_start_matches("request_time_le_");
            if b == "inf" {
                f64::INFINITY
            } else {
                b.replace('_', ".").parse().unwrap()
            }
        })
        .collect();
    let windows: BTreeMap<&str, &serde_json::Value> = json["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["start"].as_str().unwrap(), w))
        .collect();
    let mut checked = 0;
    for row in got["buckets"].as_array().unwrap() {
        let w = windows[row[0].as_str().unwrap()];
        let counts: Vec<u64> = row.as_array().unwrap()[1..]
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        let n: u64 = counts.iter().sum();
        let Some(p99) = w["request_time"]["p99"].as_f64() else {
            continue;
        };
        if n < 50 {
            continue;
        }
        // The sketch's rank: the value at 0-based q * (n - 1).
        let rank = (0.99 * (n - 1) as f64).floor() as u64 + 1;
        let mut seen = 0;
        let i = counts
            .iter()
            .position(|c| {
                seen += c;
                seen >= rank
            })
            .unwrap();
        let lo = if i == 0 { 0.0 } else { bounds[i - 1] };
        assert!(
            p99 >= lo * 0.99 && p99 <= bounds[i] * 1.01,
            "{}: p99 {p99} outside ({lo}, {}]",
            row[0],
            bounds[i]
        );
        checked += 1;
    }
    assert!(checked > 10, "{checked} windows checked");
}

/// Past 100,000 rows in memory, the windows that ended are written out
/// while reading: a long log of distinct paths still sums exactly, window
/// by window, read back with the parquet crate.
#[test]
fn rollups_flush_finished_windows_and_still_sum_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let start = 1_795_000_000i64;
    let mut text = String::new();
    let mut want: BTreeMap<i64, u64> = BTreeMap::new();
    for i in 0..150_000i64 {
        // 2,500 requests a minute, each its own path: one row each.
        let t = start + i * 60 / 2_500;
        let stamp = chrono::DateTime::from_timestamp(t, 0)
            .unwrap()
            .format("%d/%b/%Y:%H:%M:%S +0000");
        text += &format!("10.0.0.1 - - [{stamp}] \"GET /p{i} HTTP/1.1\" 200 5 \"-\" \"t\"\n");
        *want.entry(t / 60 * 60 * 1_000_000).or_default() += 1;
    }
    let log = dir.path().join("long.log");
    std::fs::write(&log, text).unwrap();
    let out = dir.path().join("rollup");
    let said = export(
        &[
            "--rollup",
            "1m",
            "--format",
            "nginx-combined",
            "--partition",
            "none",
        ],
        &out,
        &[&log],
    );
    assert!(said.contains("wrote 150000 requests"), "{said}");
    let files = parquet_files(&out.join("requests"));
    assert!(files.len() > 1, "written in more than one go: {files:?}");
    let mut got: BTreeMap<i64, u64> = BTreeMap::new();
    for file in files {
        for batch in read(&file) {
            let col = |n: &str| batch.column(batch.schema().index_of(n).unwrap()).clone();
            let starts = col("window_start");
            let starts = starts.as_primitive::<TimestampMicrosecondType>();
            let requests = col("requests");
            let requests = requests.as_primitive::<UInt64Type>();
            for i in 0..batch.num_rows() {
                *got.entry(starts.value(i)).or_default() += requests.value(i);
            }
        }
    }
    assert_eq!(got, want);
}

/// `--partition server`: two servers export into one directory (the second
/// with `--append`); DuckDB reads `server` from the directories and the
/// virtual hosts from the rows, neither hiding the other.
#[test]
fn two_servers_export_into_one_place() {
    if !crate::util::python_has("duckdb", "the server partition test") {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let log = root.join("sample-logs/apache/other_vhosts_access.log");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fleet");
    let copy = dir.path().join("copy.log");
    std::fs::copy(&log, &copy).unwrap();
    export(
        &["--partition", "server", "--server-name", "web1"],
        &out,
        &[&log],
    );
    export(
        &[
            "--partition",
            "server",
            "--server-name",
            "web/2",
            "--append",
        ],
        &out,
        &[&copy],
    );
    let script = format!(
        r#"
import duckdb, json
rows = duckdb.sql("select server, host, count(*) from read_parquet('{}/**/*.parquet', hive_partitioning=true, union_by_name=true) group by all order by all").fetchall()
print(json.dumps(rows))
"#,
        out.display()
    );
    let rows: serde_json::Value = crate::util::python_json(&script);
    assert_eq!(
        rows,
        serde_json::json!([
            ["web1", "api.example.org", 141],
            ["web1", "www.example.org", 159],
            ["web_2", "api.example.org", 141],
            ["web_2", "www.example.org", 159],
        ])
    );
}

/// Which rollup bucket holds `v` seconds; `None` past the last bound.
fn bucket(v: f64) -> usize {
    logspike::export::rollup::BOUNDS.partition_point(|&b| b < v)
}

/// `report` on the rollups of the sample logs, exported as three "hosts",
/// equals `report` on the logs: every count of the summary, each window,
/// status, upstream, path, host and method; each window's percentiles in
/// the bucket the logs' value is in (allowing the sketch's 1% where a
/// value sits on a bound); and its incidents are the logs' incidents (8
/// here), to two of the rollup's minutes.
#[test]
fn the_report_of_rollups_equals_the_report_of_the_logs() {
    let samples = crate::util::samples();
    let dir = tempfile::tempdir().unwrap();
    let groups: [&[&str]; 3] = [
        &["nginx"],
        &["apache", "formats"],
        &["iis", "ingress-nginx"],
    ];
    let mut outs = Vec::new();
    for (i, group) in groups.iter().enumerate() {
        let out = dir.path().join(format!("host{i}"));
        let inputs: Vec<PathBuf> = group.iter().map(|g| samples.join(g)).collect();
        let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
        export(&["--rollup", "1m"], &out, &inputs);
        outs.push(out);
    }
    let args = ["--window", "5m", "--top", "1000"];
    let logs = crate::util::report_json(&args, &[&samples]);
    let outs: Vec<&Path> = outs.iter().map(PathBuf::as_path).collect();
    let rolled = crate::util::report_json(&args, &outs);

    for key in ["requests", "errors_5xx", "bytes", "window_seconds", "start"] {
        assert_eq!(rolled["summary"][key], logs["summary"][key], "{key}");
    }
    assert_eq!(rolled["status"], logs["status"]);
    for table in ["hosts", "methods"] {
        assert_eq!(rolled[table], logs[table], "{table}");
    }
    let by = |v: &serde_json::Value, field: &str| -> BTreeMap<String, serde_json::Value> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| (r[field].as_str().unwrap().to_string(), r.clone()))
            .collect()
    };
    assert_eq!(by(&rolled["paths"], "path"), by(&logs["paths"], "path"));
    let (ru, lu) = (
        by(&rolled["upstreams"], "upstream"),
        by(&logs["upstreams"], "upstream"),
    );
    assert_eq!(ru.keys().collect::<Vec<_>>(), lu.keys().collect::<Vec<_>>());
    for (k, l) in &lu {
        for field in ["attempts", "errors_5xx", "status"] {
            assert_eq!(ru[k][field], l[field], "{k} {field}");
        }
    }

    let (rw, lw) = (
        rolled["windows"].as_array().unwrap(),
        logs["windows"].as_array().unwrap(),
    );
    assert_eq!(rw.len(), lw.len());
    let mut checked = 0;
    for (r, l) in rw.iter().zip(lw) {
        for field in ["start", "requests", "status", "errors_5xx", "bytes"] {
            assert_eq!(r[field], l[field], "{} {field}", l["start"]);
        }
        for times in ["request_time", "upstream_time"] {
            for q in ["p50", "p90", "p99"] {
                let (Some(want), Some(got)) = (l[times][q].as_f64(), r[times][q].as_f64()) else {
                    assert_eq!(l[times][q], r[times][q], "{} {times} {q}", l["start"]);
                    continue;
                };
                let ok = [want * 0.99, want, want * 1.01]
                    .iter()
                    .any(|&w| bucket(w) == bucket(got * 0.99) || bucket(w) == bucket(got * 1.01));
                assert!(ok, "{} {times} {q}: logs {want}, rollups {got}", l["start"]);
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "{checked} percentiles compared");

    // Incidents: the same, same scopes, each starting within two of the
    // rollup's windows (a bucket's first 5xx may be one the logs' finder
    // trims off as standing apart).
    let scope = |i: &serde_json::Value| i["scope"]["label"].as_str().unwrap().to_string();
    let start = |i: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(i["start"].as_str().unwrap())
            .unwrap()
            .timestamp()
    };
    let (ri, li) = (
        rolled["incidents"].as_array().unwrap(),
        logs["incidents"].as_array().unwrap(),
    );
    for r in ri {
        assert!(
            li.iter()
                .any(|l| scope(l) == scope(r) && (start(l) - start(r)).abs() <= 120),
            "{} at {} is not one of the logs' incidents",
            scope(r),
            r["start"]
        );
    }
    assert!(
        ri.len() + 1 >= li.len(),
        "{} of {} incidents",
        ri.len(),
        li.len()
    );
}

/// `--rollup 1m --rows`: one reading writes the per-request rows (under
/// date=...) and the rollups (requests/, attempts/) beside them, each with
/// its manifest; the rows are every request and the report of the
/// rollups counts them all; a second run with --append is refused for
/// both kinds.
#[test]
fn rows_and_rollups_from_one_reading() {
    let samples = crate::util::samples().join("nginx");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("both");
    let printed = export(&["--rollup", "1m", "--rows"], &out, &[&samples]);
    let logs = crate::util::report_json(&[], &[&samples]);
    let requests = logs["summary"]["requests"].as_u64().unwrap();
    assert!(
        printed.contains(&format!("wrote {requests} rows"))
            && printed.contains(&format!("wrote {requests} requests as")),
        "{printed}"
    );
    let rows: usize = parquet_files(&out.join("date=2026-11-28"))
        .iter()
        .flat_map(|f| read(f))
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows as u64, requests);
    let manifests = std::fs::read_dir(out.join("_logspike")).unwrap().count();
    assert_eq!(manifests, 2);
    let rolled = crate::util::report_json(&[], &[&out]);
    assert_eq!(rolled["summary"]["requests"], requests);
    assert_eq!(rolled["status"], logs["status"]);
    let text = run(logspike().arg("report").arg(&out)).ok().stdout;
    assert!(text.starts_with("1 rollup directory; 2026-11-28"), "{text}");
    // Rollups are sums: a filter cannot be applied to them, and says so.
    let filtered = run(logspike().args(["report", "--host", "x"]).arg(&out));
    assert_eq!(filtered.code, 2);
    assert!(
        filtered
            .stderr
            .contains("filters and --by apply to logs only"),
        "{}",
        filtered.stderr
    );
    for args in [&["--rollup", "1m"][..], &[], &["--rollup", "1m", "--rows"]] {
        let mut a = args.to_vec();
        a.push("--append");
        let again = run(logspike()
            .args(["export", "--parquet"])
            .arg(&out)
            .args(&a)
            .arg(&samples));
        assert_eq!(again.code, 2, "{args:?}: {}", again.text());
        assert!(
            again.stderr.contains("exported already"),
            "{}",
            again.stderr
        );
    }
}
