//! `export --parquet s3://...` against a local S3 server (moto, started and
//! stopped here), read back through boto3 and DuckDB (tests/s3/s3.py).
//! Skips, saying why, where moto, boto3 or DuckDB is missing.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{free_port, logspike, root, run, samples, Run};

fn wait_for(port: u16, what: &str) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what} did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A process stopped when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// moto's S3 server on a free loopback port, with one bucket, `logs`.
struct S3 {
    _server: Server,
    port: u16,
    endpoint: String,
}

impl S3 {
    fn start() -> Option<S3> {
        if !crate::util::python_has("moto.server", "the object storage tests")
            || !crate::util::python_has("boto3", "the object storage tests")
            || !crate::util::python_has("duckdb", "the object storage tests")
        {
            return None;
        }
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Server(child);
        wait_for(port, "moto");
        let s3 = S3 {
            _server: server,
            port,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        s3.script(&["mkbucket", &s3.endpoint, "logs"]);
        Some(s3)
    }

    fn script(&self, args: &[&str]) -> String {
        let out = python(args);
        assert!(
            out.status.success(),
            "s3.py {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// What is under `prefix`, read back.
    fn read(&self, prefix: &str) -> Value {
        let out = self.script(&["read", &self.endpoint, "logs", prefix]);
        serde_json::from_str(out.lines().last().unwrap()).unwrap()
    }
}

fn python(args: &[&str]) -> std::process::Output {
    Command::new("python3")
        .arg(root().join("tests/s3/s3.py"))
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap()
}

/// `logspike export` to `url` with the credentials and endpoint in the
/// environment, and no AWS profile of this machine's.
fn export(endpoint: &str, url: &str, args: &[&str], inputs: &[&Path]) -> Run {
    run(logspike()
        .args(["export", "--parquet", url])
        .args(args)
        .args(inputs)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"))
}

fn manifests(keys: &Value) -> usize {
    keys.as_array()
        .unwrap()
        .iter()
        .filter(|k| {
            let k = k.as_str().unwrap();
            k.contains("/_logspike/run-") && k.ends_with(".json")
        })
        .count()
}

/// Rows and rollups go up with their Hive layout and manifests, and read
/// back (DuckDB) as the report counts: every status, the bytes, the 5xx
/// attempts per upstream. Credentials and the endpoint come from an AWS
/// profile here; the modes behave as for a directory.
#[test]
fn export_to_s3_reads_back_as_the_report_counts() {
    let Some(s3) = S3::start() else { return };
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("credentials"),
        "[default]\naws_access_key_id = nope\n[ci]\naws_access_key_id = test\naws_secret_access_key = test\n",
    )
    .unwrap();
    std::fs::write(
        home.path().join("config"),
        format!(
            "[profile ci]\nregion = us-east-1\nendpoint_url = {}\n",
            s3.endpoint
        ),
    )
    .unwrap();
    let samples = samples();
    let out = run(logspike()
        .args(["export", "--parquet", "s3://logs/fleet/"])
        .arg(&samples)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_REGION")
        .env("AWS_PROFILE", "ci")
        .env("AWS_CONFIG_FILE", home.path().join("config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("credentials"),
        ))
    .ok();
    assert!(
        out.stdout.contains("under s3://logs/fleet/") && out.stdout.contains("uploaded "),
        "{}",
        out.stdout
    );
    export(
        &s3.endpoint,
        "s3://logs/fleet",
        &[
            "--rollup",
            "1m",
            "--append",
            "--partition",
            "server,hour",
            "--server-name",
            "web1",
        ],
        &[&samples],
    )
    .ok();

    let report = crate::util::report_json(&["--top", "1000"], &[&samples]);
    let back = s3.read("fleet/");
    assert_eq!(back["pending_uploads"], 0);
    assert_eq!(manifests(&back["keys"]), 2, "{}", back["keys"]);
    assert!(back["keys"].as_array().unwrap().iter().any(|k| k
        .as_str()
        .unwrap()
        .starts_with("fleet/requests/server=web1/date=2026-11-28/hour=")));
    assert_eq!(back["rows"], report["summary"]["requests"]);
    assert_eq!(back["rollup_requests"], report["summary"]["requests"]);
    assert_eq!(back["dates"], serde_json::json!(["2026-11-28"]));
    assert_eq!(back["types"]["status"], "USMALLINT");
    assert_eq!(back["types"]["bytes"], "UBIGINT");
    assert!(
        back["types"]["timestamp"]
            .as_str()
            .unwrap()
            .starts_with("TIMESTAMP"),
        "{}",
        back["types"]
    );
    let mut statuses = crate::util::counts(&report["status"]);
    // `-` (no status) is a null in the rows, which the query leaves out.
    statuses.remove("-");
    assert_eq!(crate::util::counts(&back["status"]), statuses);
    let errors = crate::util::upstream_errors(&report);
    assert!(!errors.is_empty());
    assert_eq!(crate::util::counts(&back["errors_by_upstream"]), errors);

    // The report reads the rollups straight from the bucket.
    let from_s3 = run(logspike()
        .args([
            "report",
            "--output",
            "json",
            "--top",
            "1000",
            "s3://logs/fleet/",
        ])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", &s3.endpoint)
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"))
    .ok()
    .json();
    for key in ["requests", "errors_5xx", "bytes"] {
        assert_eq!(from_s3["summary"][key], report["summary"][key], "{key}");
    }
    assert_eq!(from_s3["status"], report["status"]);
    assert_eq!(from_s3["files"][0]["name"], "s3://logs/fleet/");

    // A prefix with objects is refused without --append or --overwrite;
    // --append refuses inputs exported already, naming the manifest.
    let refused = export(&s3.endpoint, "s3://logs/fleet/", &[], &[&samples]);
    assert_eq!(refused.code, 2);
    assert!(
        refused
            .stderr
            .contains("s3://logs/fleet/ exists and is not empty"),
        "{}",
        refused.stderr
    );
    let again = export(&s3.endpoint, "s3://logs/fleet/", &["--append"], &[&samples]);
    assert_eq!(again.code, 2);
    assert!(
        again.stderr.contains("exported already")
            && again.stderr.contains("s3://logs/fleet/_logspike/run-"),
        "{}",
        again.stderr
    );
    // --overwrite empties the prefix first.
    export(
        &s3.endpoint,
        "s3://logs/fleet/",
        &["--overwrite"],
        &[&samples],
    )
    .ok();
    let back = s3.read("fleet/");
    assert_eq!(manifests(&back["keys"]), 1);
    assert!(back.get("rollup_requests").is_none(), "rollups removed");
    assert_eq!(back["rows"], report["summary"]["requests"]);

    // A bucket that does not exist: an error naming it, nothing else.
    let missing = export(&s3.endpoint, "s3://no-such-bucket/x/", &[], &[&samples]);
    assert_ne!(missing.code, 0);
    assert!(
        missing.stderr.contains("s3://no-such-bucket/x"),
        "{}",
        missing.stderr
    );
}

/// A log whose one day makes a Parquet file larger than the part size.
fn big_log(dir: &Path) -> (PathBuf, u64) {
    use std::io::Write;
    let path = dir.join("big.log");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    // One line on the 27th, so that a small file goes up first.
    writeln!(
        w,
        r#"10.0.0.9 - - [27/Nov/2026:23:59:59 +0000] "GET /first HTTP/1.1" 200 1 "-" "curl""#
    )
    .unwrap();
    let n = 120_000u64;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..n {
        // Distinct paths and agents, so that no dictionary shrinks them.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        writeln!(
            w,
            r#"10.{}.{}.{} - - [28/Nov/2026:{:02}:{:02}:{:02} +0000] "GET /item/{x:016x}/{i} HTTP/1.1" {} {} "-" "agent/{:x}""#,
            i % 200,
            (i / 200) % 250,
            i % 251,
            (i / 3600) % 24,
            (i / 60) % 60,
            i % 60,
            [200, 200, 404, 503][(x % 4) as usize],
            x % 100_000,
            x.rotate_left(17),
        )
        .unwrap();
    }
    w.flush().unwrap();
    (path, n + 1)
}

/// A file larger than `--upload-part-mib` goes up in parts and reads back
/// whole; when a part keeps failing (a proxy answers 500 to every second
/// part), the export fails naming the object, aborts the upload and
/// removes what it had uploaded: nothing is visible, nothing is pending.
#[test]
fn large_files_go_up_in_parts_and_a_failed_upload_leaves_nothing() {
    let Some(s3) = S3::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (log, lines) = big_log(dir.path());
    let part = ["--upload-part-mib", "5", "--compression", "none"];
    let out = export(&s3.endpoint, "s3://logs/big/", &part, &[&log]).ok();
    assert!(
        out.stdout.contains(&format!("{lines} rows")),
        "{}",
        out.stdout
    );
    let back = s3.read("big/");
    assert!(
        back["largest"].as_u64().unwrap() > 5 << 20,
        "a file larger than a part: {back}"
    );
    assert_eq!(back["rows"], lines);
    assert_eq!(
        back["dates"],
        serde_json::json!(["2026-11-27", "2026-11-28"])
    );
    assert_eq!(back["pending_uploads"], 0);

    let proxy_port = free_port();
    let proxy = Server(
        Command::new("python3")
            .arg(root().join("tests/s3/s3.py"))
            .args(["proxy", &proxy_port.to_string(), &s3.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(proxy_port, "the proxy");
    let mut args = part.to_vec();
    args.extend(["--upload-timeout", "2s"]);
    let failed = export(
        &format!("http://127.0.0.1:{proxy_port}"),
        "s3://logs/broken/",
        &args,
        &[&log],
    );
    drop(proxy);
    assert_ne!(failed.code, 0, "{}", failed.text());
    assert!(
        failed
            .stderr
            .contains("s3://logs/broken/date=2026-11-28/part-")
            && failed
                .stderr
                .contains("removed what this run had uploaded (1 objects)"),
        "{}",
        failed.stderr
    );
    let back = s3.read("broken/");
    assert_eq!(back["keys"], serde_json::json!([]), "nothing visible");
    assert_eq!(back["pending_uploads"], 0, "the multipart upload aborted");
}

/// Two servers exporting into one prefix at once, each with --append:
/// every row of both is there, under two manifests.
#[test]
fn two_concurrent_exports_to_one_prefix_lose_nothing() {
    let Some(s3) = S3::start() else { return };
    let samples = samples();
    let a = samples.join("nginx");
    let b = samples.join("apache");
    let spawn = |input: &Path, name: &str| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_logspike"));
        cmd.args([
            "export",
            "--append",
            "--partition",
            "server",
            "--server-name",
            name,
        ])
        .args(["--parquet", "s3://logs/shared/"])
        .arg(input)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", &s3.endpoint)
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        cmd.spawn().unwrap()
    };
    let (first, second) = (spawn(&a, "a"), spawn(&b, "b"));
    for child in [first, second] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let expect = |p: &Path| {
        crate::util::report_json(&[], &[p])["summary"]["requests"]
            .as_u64()
            .unwrap()
    };
    let back = s3.read("shared/");
    assert_eq!(manifests(&back["keys"]), 2);
    assert_eq!(back["rows"], expect(&a) + expect(&b));
}
