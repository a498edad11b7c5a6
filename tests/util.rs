//! What the integration tests share: the binary as a user runs it, the
//! repository's files, runs that fail with everything needed to see why,
//! and files to write.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

/// The `logspike` binary, with no colour setting inherited from here.
pub fn logspike() -> Command {
    let mut cmd = Command::cargo_bin("logspike").unwrap();
    cmd.env_remove("NO_COLOR");
    cmd
}

/// The repository.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// The bundled sample logs.
pub fn samples() -> PathBuf {
    root().join("sample-logs")
}

/// A finished run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The command, to say in a failure.
    what: String,
}

/// Runs `cmd` to its end.
pub fn run(cmd: &mut Command) -> Run {
    let what = format!("{cmd:?}");
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        what,
    }
}

impl Run {
    /// Standard output then standard error, as a terminal shows them.
    pub fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// The run, which must have succeeded; otherwise the failure shows
    /// the command, its exit status and both outputs.
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "{} exited {}\n--- stdout\n{}\n--- stderr\n{}",
            self.what, self.code, self.stdout, self.stderr
        );
        self
    }

    /// Standard output as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "{}: stdout is not JSON ({e}):\n{}\n--- stderr\n{}",
                self.what, self.stdout, self.stderr
            )
        })
    }
}

/// `logspike report --output json ARGS INPUTS`, which must succeed.
pub fn report_json(args: &[&str], inputs: &[&Path]) -> Value {
    run(logspike()
        .args(["report", "--output", "json"])
        .args(args)
        .args(inputs))
    .ok()
    .json()
}

pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A JSON object of counts (`{"200": 5, "503": 2}`) as a map.
pub fn counts(v: &serde_json::Value) -> std::collections::BTreeMap<String, u64> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .iter()
        .map(|(k, n)| (k.clone(), n.as_u64().unwrap()))
        .collect()
}

/// Rows of `[key, count]` (a query's result) as a map.
pub fn pairs(v: &serde_json::Value) -> std::collections::BTreeMap<String, u64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_u64().unwrap()))
        .collect()
}

/// Whether python3 can import `module`; when not, says that `test` skips
/// (scripts/test installs what the tests need where it can).
pub fn python_has(module: &str, test: &str) -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!(
            "skipping {test}: python3 with {module} is not installed (scripts/test installs it)"
        );
    }
    ok
}

/// The 5xx answers per upstream in a JSON report, where there were any.
pub fn upstream_errors(report: &Value) -> std::collections::BTreeMap<String, u64> {
    errors_by(report, "upstreams", "upstream")
}

/// The 5xx of each row of a JSON report's `table`, named by its `key`
/// field, where there were any.
pub fn errors_by(
    report: &Value,
    table: &str,
    key: &str,
) -> std::collections::BTreeMap<String, u64> {
    report[table]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["errors_5xx"].as_u64() != Some(0))
        .map(|u| {
            (
                u[key].as_str().unwrap().to_string(),
                u["errors_5xx"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// A loopback port nothing listens on (free when asked).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `script` with `python3 -c`, which must succeed (else its standard
/// error is the failure), and reads the JSON it prints.
pub fn python_json(script: &str) -> Value {
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
