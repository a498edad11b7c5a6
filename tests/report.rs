//! `logspike report` against logs with planted incidents and known truth:
//! exact per-window status counts and per-upstream attempt counts, on every
//! input path (plain mapped in parallel, one thread, gzip, zstd, bzip2, a
//! rotated set), and every planted incident found.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

use crate::util::{gzip, report_json, write};

/// A tiny seeded generator, so the logs are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() % 1_000_000) as f64 / 1e6 < p
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const UPSTREAMS: [&str; 3] = ["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"];
const START: i64 = 1_795_000_000; // 2026-11-18T... UTC, a minute boundary
const MINUTES: i64 = 120;

/// (first minute, last minute exclusive, what)
const PLANTED: [(i64, i64, &str); 4] = [
    (30, 34, "503 burst on 10.0.0.2"),
    (60, 63, "502 episode with retries"),
    (80, 83, "500 deploy spike on two paths"),
    (100, 102, "504 episode on 10.0.0.1"),
];

#[derive(Default)]
struct Truth {
    /// minute start (seconds) -> status -> requests
    windows: BTreeMap<i64, BTreeMap<u16, u64>>,
    /// upstream -> status -> attempts
    upstreams: BTreeMap<String, BTreeMap<u16, u64>>,
    lines: Vec<String>,
}

fn clf(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap()
        .format("%d/%b/%Y:%H:%M:%S +0000")
        .to_string()
}

fn generate(seed: u64, incidents: bool) -> Truth {
    let mut rng = Rng(seed);
    let mut truth = Truth::default();
    for second in 0..MINUTES * 60 {
        let minute = second / 60;
        let planted = if incidents {
            PLANTED
                .iter()
                .position(|(a, b, _)| (*a..*b).contains(&minute))
        } else {
            None
        };
        for _ in 0..(3 + rng.next() % 5) {
            let mut path = rng
                .pick(&[
                    "/api/users/{}",
                    "/api/search",
                    "/",
                    "/static/app.js",
                    "/login",
                ])
                .replace("{}", &(rng.next() % 1000).to_string());
            let mut attempts: Vec<(&str, u16)> = vec![(rng.pick(&UPSTREAMS), 200)];
            let mut status = 200;
            if rng.chance(0.003) {
                status = [500, 502, 503][(rng.next() % 3) as usize];
                attempts[0].1 = status;
            } else if rng.chance(0.05) {
                status = 404;
                attempts[0].1 = 404;
            }
            match planted {
                Some(0) if rng.chance(0.6) => {
                    status = 503;
                    attempts = vec![("10.0.0.2:8080", 503)];
                }
                Some(1) if rng.chance(0.6) => {
                    let second_try = if rng.chance(0.5) { 502 } else { 200 };
                    status = second_try;
                    attempts = vec![("10.0.0.3:8080", 502), ("10.0.0.1:8080", second_try)];
                }
                Some(2) if rng.chance(0.7) => {
                    path = rng.pick(&["/checkout", "/api/cart"]).to_string();
                    status = 500;
                    attempts = vec![(rng.pick(&UPSTREAMS), 500)];
                }
                Some(3) if rng.chance(0.6) => {
                    status = 504;
                    attempts = vec![("10.0.0.1:8080", 504)];
                }
                _ => {}
            }
            let t = START + second;
            *truth
                .windows
                .entry(t / 60 * 60)
                .or_default()
                .entry(status)
                .or_default() += 1;
            for (u, s) in &attempts {
                *truth
                    .upstreams
                    .entry(u.to_string())
                    .or_default()
                    .entry(*s)
                    .or_default() += 1;
            }
            let join = |f: &dyn Fn(&(&str, u16)) -> String| {
                attempts.iter().map(f).collect::<Vec<_>>().join(", ")
            };
            truth.lines.push(format!(
                r#"10.9.{}.{} - - [{}] "GET {path} HTTP/1.1" {status} {} "-" "curl/8" 0.{:03} {} {} {} {} {}"#,
                rng.next() % 256,
                rng.next() % 256,
                clf(t),
                rng.next() % 5000,
                rng.next() % 1000,
                join(&|a| a.0.to_string()),
                join(&|a| a.1.to_string()),
                join(&|_| "0.010".to_string()),
                join(&|_| "0.001".to_string()),
                join(&|_| "0.009".to_string()),
            ));
        }
    }
    truth
}

/// The JSON report with one-minute windows and every key shown.
fn report(args: &[&str], paths: &[&Path]) -> Value {
    let mut all = vec!["--window", "1m", "--top", "100"];
    all.extend_from_slice(args);
    report_json(&all, paths)
}

fn windows_of(json: &Value) -> BTreeMap<i64, BTreeMap<u16, u64>> {
    json["windows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["requests"].as_u64() != Some(0))
        .map(|w| {
            let start = chrono::DateTime::parse_from_rfc3339(w["start"].as_str().unwrap())
                .unwrap()
                .timestamp();
            let status = w["status"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.parse().unwrap(), v.as_u64().unwrap()))
                .collect();
            (start, status)
        })
        .collect()
}

fn upstreams_of(json: &Value) -> BTreeMap<String, BTreeMap<u16, u64>> {
    json["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let status = u["status"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.parse().unwrap(), v.as_u64().unwrap()))
                .collect();
            (u["upstream"].as_str().unwrap().to_string(), status)
        })
        .collect()
}

#[test]
fn exact_counts_on_every_input_path() {
    let truth = generate(7, true);
    let text = truth.lines.join("\n") + "\n";
    assert!(
        text.len() > 4 << 20,
        "the plain file must take the parallel path"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let plain = write(d, "access.log", text.as_bytes());
    let gz = write(d, "a.log.gz", &gzip(text.as_bytes()));
    let zst = write(d, "b.log", &zstd::encode_all(text.as_bytes(), 3).unwrap());
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    bz.write_all(text.as_bytes()).unwrap();
    let bz = write(d, "c.log", &bz.finish().unwrap());
    // The same log rotated: oldest third gzipped, middle third, newest third.
    let rotated = d.join("rotated");
    std::fs::create_dir(&rotated).unwrap();
    let third = truth.lines.len() / 3;
    let part = |lines: &[String]| lines.join("\n") + "\n";
    write(
        &rotated,
        "access.log.2.gz",
        &gzip(part(&truth.lines[..third]).as_bytes()),
    );
    write(
        &rotated,
        "access.log.1",
        part(&truth.lines[third..2 * third]).as_bytes(),
    );
    write(
        &rotated,
        "access.log",
        part(&truth.lines[2 * third..]).as_bytes(),
    );

    let cases: [(&str, Vec<&str>, &Path); 6] = [
        ("plain, all cores", vec![], &plain),
        ("plain, one thread", vec!["--threads", "1"], &plain),
        ("gzip", vec![], &gz),
        ("zstd", vec![], &zst),
        ("bzip2", vec![], &bz),
        ("rotated set", vec![], &rotated),
    ];
    let mut all_incidents: Vec<Value> = Vec::new();
    for (name, args, path) in cases {
        let json = report(&args, &[path]);
        assert_eq!(json["schema"], "logspike.report/4");
        for w in json["windows"].as_array().unwrap() {
            let classes: u64 = w["classes"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_u64().unwrap())
                .sum();
            assert_eq!(
                Some(classes),
                w["requests"].as_u64(),
                "{name}: classes add up"
            );
        }
        assert_eq!(
            json["summary"]["requests"].as_u64(),
            Some(truth.lines.len() as u64),
            "{name}"
        );
        assert_eq!(
            windows_of(&json),
            truth.windows,
            "{name}: per-window status counts"
        );
        assert_eq!(
            upstreams_of(&json),
            truth.upstreams,
            "{name}: per-upstream attempts"
        );
        // The same incidents on every path, to the second and the count
        // (the first error's file name differs between the cases; its line
        // does not, except in the rotated set, which numbers each file).
        let mut incidents = json["incidents"].clone();
        for inc in incidents.as_array_mut().unwrap() {
            inc["first_error"]["file"] = Value::Null;
            if name == "rotated set" {
                inc["first_error"]["line"] = Value::Null;
            }
        }
        let mut reference = all_incidents.first().cloned().unwrap_or(incidents.clone());
        if name == "rotated set" {
            for inc in reference.as_array_mut().unwrap() {
                inc["first_error"]["line"] = Value::Null;
            }
        }
        assert_eq!(incidents, reference, "{name}: incidents");
        assert_eq!(incidents.as_array().unwrap().len(), PLANTED.len(), "{name}");
        all_incidents.push(incidents);
    }
}

#[test]
fn every_planted_incident_is_found_and_a_quiet_log_has_none() {
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(11, true);
    let path = write(
        dir.path(),
        "incidents.log",
        (truth.lines.join("\n") + "\n").as_bytes(),
    );
    let json = report(&[], &[&path]);
    let found: Vec<(i64, i64)> = json["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let t = |k: &str| {
                chrono::DateTime::parse_from_rfc3339(i[k].as_str().unwrap())
                    .unwrap()
                    .timestamp()
            };
            ((t("start") - START) / 60, (t("end") - START) / 60)
        })
        .collect();
    assert_eq!(found.len(), PLANTED.len(), "found {found:?}");
    for ((start, end, what), (s, e)) in PLANTED.iter().zip(&found) {
        assert!(
            (start - s).abs() <= 1 && (end - e).abs() <= 1,
            "{what}: planted {start}..{end}, found {s}..{e}"
        );
    }
    let incidents = json["incidents"].as_array().unwrap();
    assert_eq!(incidents[0]["upstreams"][0]["key"], "10.0.0.2:8080");
    assert_eq!(incidents[1]["upstreams"][0]["key"], "10.0.0.3:8080");
    let deploy_paths: Vec<&str> = incidents[2]["paths"]
        .as_array()
        .unwrap()
        .iter()
        .take(2)
        .map(|p| p["key"].as_str().unwrap())
        .collect();
    assert_eq!(deploy_paths.len(), 2);
    assert!(
        deploy_paths.contains(&"/checkout") && deploy_paths.contains(&"/api/cart"),
        "{deploy_paths:?}"
    );
    assert_eq!(incidents[3]["upstreams"][0]["key"], "10.0.0.1:8080");
    assert!(incidents[0]["first_error"]["line"].as_u64().is_some());

    let quiet = generate(11, false);
    let path = write(
        dir.path(),
        "quiet.log",
        (quiet.lines.join("\n") + "\n").as_bytes(),
    );
    let json = report(&[], &[&path]);
    assert!(
        json["summary"]["errors_5xx"].as_u64().unwrap() > 0,
        "the trickle is there"
    );
    assert_eq!(
        json["incidents"].as_array().unwrap().len(),
        0,
        "{}",
        json["incidents"]
    );

    let status = Command::cargo_bin("logspike")
        .unwrap()
        .args(["--fail-on-incident"])
        .arg(dir.path().join("incidents.log"))
        .output()
        .unwrap()
        .status;
    assert_eq!(
        status.code(),
        Some(1),
        "report is the default command; an incident exits 1"
    );
}

fn run(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let r = crate::util::run(crate::util::logspike().args(args));
    (r.code, r.stdout, r.stderr)
}

#[test]
fn bad_input_is_reported_and_the_rest_still_counts() {
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(3, false);
    let text = truth.lines[..5000].join("\n") + "\n";
    let mut gz = gzip(text.as_bytes());
    gz.truncate(gz.len() * 2 / 3);
    let cut = write(dir.path(), "cut.log.gz", &gz);
    let mut junk = truth.lines[..100].join("\n").into_bytes();
    junk.extend_from_slice(
        b"\n\x00\x01 binary junk \xff\n2026/11/28 10:41:07 [error] 1#1: *1 oops\n",
    );
    let junk = write(dir.path(), "junk.log", &junk);
    let empty = write(dir.path(), "empty.log", b"");
    // Linux: a regular file whose read fails with EIO.
    let unreadable = Path::new("/proc/self/mem");
    let json = report(&[], &[&cut, &junk, &empty, unreadable]);
    let files = json["files"].as_array().unwrap();
    let by_name = |suffix: &str| {
        files
            .iter()
            .find(|f| f["name"].as_str().unwrap().ends_with(suffix))
            .unwrap()
    };

    let cut_file = by_name("cut.log.gz");
    assert!(
        cut_file["error"]
            .as_str()
            .unwrap()
            .contains("read error at byte"),
        "{cut_file}"
    );
    let before_damage = cut_file["parsed"].as_u64().unwrap();
    assert!(before_damage > 500 && before_damage < 5000, "{cut_file}");
    assert_eq!(
        cut_file["rejected"], 0,
        "the cut line is dropped, not rejected"
    );

    let junk_file = by_name("junk.log");
    assert_eq!(
        (junk_file["parsed"].as_u64(), junk_file["rejected"].as_u64()),
        (Some(100), Some(2))
    );
    let first = junk_file["first_rejections"].as_array().unwrap();
    assert!(
        first[0].as_str().unwrap().contains("junk.log:101:"),
        "{first:?}"
    );
    assert!(
        first[1]
            .as_str()
            .unwrap()
            .contains("an nginx error-log line"),
        "{first:?}"
    );

    assert_eq!(by_name("empty.log")["lines"], 0);
    assert!(by_name("/proc/self/mem")["error"].as_str().is_some());
    assert_eq!(
        json["summary"]["requests"].as_u64(),
        Some(before_damage + 100)
    );

    let missing = dir.path().join("missing.log");
    let (code, stdout, stderr) = run(&["report".as_ref(), missing.as_os_str()]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("missing.log: no such file or directory"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&[
        "report".as_ref(),
        "--format".as_ref(),
        "nope".as_ref(),
        junk.as_os_str(),
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("unknown format"), "{stderr}");
    let (code, _, stderr) = run(&[
        "report".as_ref(),
        "--window".as_ref(),
        "5x".as_ref(),
        junk.as_os_str(),
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("the unit is s, m, h or d"), "{stderr}");
}

#[test]
fn text_report_without_a_terminal_has_no_colour_and_honours_tz() {
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(11, true);
    let path = write(
        dir.path(),
        "a.log",
        (truth.lines.join("\n") + "\n").as_bytes(),
    );
    let (code, text, _) = run(&["--tz".as_ref(), "+02:00".as_ref(), path.as_os_str()]);
    assert_eq!(code, 0);
    assert!(!text.contains('\x1b'), "colour only on a terminal");
    assert!(text.contains("UTC+02:00"), "{text}");
    assert!(text.contains("Incidents"), "{text}");
    let (code, _, stderr) = run(&["--tz".as_ref(), "Mars".as_ref(), path.as_os_str()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("is not a time zone"), "{stderr}");
}

/// `--since 1h`, `--since '90 minutes ago'`: spans back from now; the report
/// says the range it used.
#[test]
fn relative_since_counts_from_now_and_says_the_range() {
    let dir = tempfile::tempdir().unwrap();
    let now = chrono::Utc::now().timestamp();
    let mut text = String::new();
    for (ago, n, status) in [(3 * 3600, 100, 200), (30 * 60, 50, 503)] {
        let t = chrono::DateTime::from_timestamp(now - ago, 0).unwrap();
        for _ in 0..n {
            text.push_str(&format!(
                "10.0.0.1 - - [{}] \"GET /a HTTP/1.1\" {status} 5 \"-\" \"t\"\n",
                t.format("%d/%b/%Y:%H:%M:%S +0000")
            ));
        }
    }
    let log = write(dir.path(), "access.log", text.as_bytes());
    for since in ["1h", "90 minutes ago", "2h ago"] {
        let json = report_json(&["--since", since], &[&log]);
        let s = &json["summary"];
        assert_eq!(s["requests"], 50, "{since}: {s}");
        assert_eq!(s["errors_5xx"], 50, "{since}");
        assert_eq!(s["filtered"], 100, "{since}");
        let from = chrono::DateTime::parse_from_rfc3339(s["since"].as_str().unwrap())
            .unwrap()
            .timestamp();
        // `now` was read here in whole seconds before the run, which
        // reads its own clock later: a second boundary in between makes
        // an hour look like 3599 s.
        let back = now - from;
        assert!((3599..=7300).contains(&back), "{since}: {back} s back");
        assert!(s["until"].is_null());
    }
    let r = crate::util::run(
        crate::util::logspike()
            .args(["report", "--since", "soon"])
            .arg(&log),
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("a span back from now"), "{}", r.stderr);
}

/// `--tz Europe/Berlin` reads each time with the offset of its moment:
/// across the end of summer time two hours of UTC are one hour of wall
/// clock; a fixed offset does not follow it.
#[test]
fn iana_zones_follow_daylight_saving() {
    let dir = tempfile::tempdir().unwrap();
    let line = |t: &str| format!("10.0.0.1 - - [{t}] \"GET /a HTTP/1.1\" 200 5 \"-\" \"t\"\n");
    let text = line("25/Oct/2026:00:30:00 +0000") + &line("25/Oct/2026:02:30:00 +0000");
    let log = write(dir.path(), "access.log", text.as_bytes());
    let first_line = |tz: &str| {
        let r = crate::util::run(
            crate::util::logspike()
                .args(["report", "--tz", tz])
                .arg(&log),
        )
        .ok();
        r.stdout.lines().next().unwrap().to_string()
    };
    let berlin = first_line("Europe/Berlin");
    assert!(
        berlin.ends_with("2026-10-25 02:30:00 .. 2026-10-25 03:30:00 Europe/Berlin"),
        "{berlin}"
    );
    let fixed = first_line("+02:00");
    assert!(
        fixed.ends_with("2026-10-25 02:30:00 .. 2026-10-25 04:30:00 UTC+02:00"),
        "{fixed}"
    );
    // A negative offset is a value, not an option.
    let west = first_line("-04:00");
    assert!(
        west.ends_with("2026-10-24 20:30:00 .. 2026-10-24 22:30:00 UTC-04:00"),
        "{west}"
    );
    let bad = crate::util::run(
        crate::util::logspike()
            .args(["report", "--tz", "Mars/Base"])
            .arg(&log),
    );
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("is not a time zone"), "{}", bad.stderr);
}

/// The long-form CSV tables hold one row per key and status, and add up to
/// the JSON report's counts.
#[test]
fn long_form_csv_adds_up_to_the_json() {
    let log = crate::util::samples().join("nginx");
    let json = report_json(&["--window", "5m"], &[&log]);
    let csv = |table: &str| {
        crate::util::run(
            crate::util::logspike()
                .args([
                    "report", "--output", "csv", "--window", "5m", "--table", table,
                ])
                .arg(&log),
        )
        .ok()
        .stdout
    };
    let windows = csv("window_status");
    let mut lines = windows.lines();
    assert_eq!(lines.next(), Some("start,status,requests"));
    let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
    let mut rows = 0;
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), 3, "{line}");
        *by_status.entry(fields[1].to_string()).or_default() += fields[2].parse::<u64>().unwrap();
        rows += 1;
    }
    assert!(
        rows > json["windows"].as_array().unwrap().len(),
        "one row per window and status"
    );
    let want: BTreeMap<String, u64> = crate::util::counts(&json["status"]);
    assert_eq!(by_status, want);
    let upstreams = csv("upstream_status");
    assert!(upstreams.starts_with("upstream,status,requests\n"));
    let first = &json["upstreams"][0];
    let five = first["status"]["503"].as_u64().unwrap_or(0);
    if five > 0 {
        let row = format!("{},503,{five}", first["upstream"].as_str().unwrap());
        assert!(upstreams.lines().any(|l| l == row), "{row} in\n{upstreams}");
    }
    assert!(csv("incident_status").starts_with("incident,status,requests\n"));
    assert!(csv("path_status").starts_with("path,status,requests\n"));
}

/// `--status`, `--host`, `--path-prefix` and `--upstream` keep only the
/// requests they name: the counts equal the unfiltered report's for that
/// status, host, path family; the rest is counted as left out.
#[test]
fn filters_keep_what_they_name() {
    let logs = crate::util::samples();
    let all = report_json(&["--top", "100000"], &[&logs]);
    let total = all["summary"]["requests"].as_u64().unwrap();
    let only = |args: &[&str]| {
        let mut a = vec!["--top", "100000"];
        a.extend_from_slice(args);
        let r = report_json(&a, &[&logs]);
        let s = &r["summary"];
        assert_eq!(
            s["requests"].as_u64().unwrap() + s["filtered"].as_u64().unwrap(),
            total,
            "{args:?}: kept and left out make the whole"
        );
        r
    };
    let r = only(&["--status", "503"]);
    assert_eq!(r["summary"]["requests"], all["status"]["503"]);
    assert_eq!(r["status"].as_object().unwrap().len(), 1);
    let r = only(&["--status", "5xx"]);
    assert_eq!(r["summary"]["requests"], all["summary"]["errors_5xx"]);

    let host = &all["hosts"][0];
    let r = only(&["--host", &host["key"].as_str().unwrap().to_uppercase()]);
    assert_eq!(r["summary"]["requests"], host["requests"], "any case");

    let api: u64 = all["paths"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["path"].as_str().unwrap().starts_with("/api/"))
        .map(|p| p["requests"].as_u64().unwrap())
        .sum();
    assert!(api > 0);
    let r = only(&["--path-prefix", "/api/"]);
    assert_eq!(r["summary"]["requests"], api);

    let up = all["upstreams"][0]["upstream"]
        .as_str()
        .unwrap()
        .to_string();
    let r = only(&["--upstream", &up]);
    let tried = r["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["upstream"] == up.as_str())
        .unwrap();
    assert_eq!(tried["attempts"], all["upstreams"][0]["attempts"]);
}

/// One generated line of the `upstream` format and what it holds, for
/// `--where` to be checked against a predicate written here.
struct Req {
    client: String,
    method: &'static str,
    path: String,
    query: Option<String>,
    protocol: &'static str,
    status: u16,
    bytes: u64,
    request_time: f64,
    agent: &'static str,
    attempts: Vec<(&'static str, u16)>,
}

fn varied_requests(seed: u64, n: usize) -> (Vec<Req>, String) {
    let mut rng = Rng(seed);
    let mut reqs = Vec::new();
    let mut text = String::new();
    for i in 0..n {
        let path = rng
            .pick(&[
                "/api/users/7",
                "/api/search",
                "/",
                "/login",
                "/static/a.js",
                "/apix",
            ])
            .to_string();
        let query = rng
            .chance(0.3)
            .then(|| rng.pick(&["id=7", "q=a,b", "id=70"]).to_string());
        let status = *[200, 200, 200, 201, 301, 404, 500, 502, 503, 504]
            .get((rng.next() % 10) as usize)
            .unwrap();
        let mut attempts = vec![(rng.pick(&UPSTREAMS), status)];
        // A retry: the first attempt failed, the second gave the status.
        if matches!(status, 200 | 502) && rng.chance(0.3) {
            attempts.insert(0, (rng.pick(&UPSTREAMS), 502));
        }
        let r = Req {
            client: format!("10.9.{}.{}", rng.next() % 4, rng.next() % 256),
            method: rng.pick(&["GET", "GET", "POST", "HEAD", "DELETE"]),
            path,
            query,
            protocol: rng.pick(&["HTTP/1.1", "HTTP/2.0"]),
            status,
            bytes: rng.next() % 2000,
            request_time: (rng.next() % 1000) as f64 / 1000.0,
            agent: rng.pick(&["curl/8", "Googlebot/2.1", "Mozilla/5.0 (X11)", "MyBOT"]),
            attempts,
        };
        let join = |f: &dyn Fn(&(&str, u16)) -> String| {
            r.attempts.iter().map(f).collect::<Vec<_>>().join(", ")
        };
        let target = match &r.query {
            Some(q) => format!("{}?{q}", r.path),
            None => r.path.clone(),
        };
        text += &format!(
            "{} - - [{}] \"{} {target} {}\" {} {} \"-\" \"{}\" {:.3} {} {} {} {} {}\n",
            r.client,
            clf(START + i as i64 / 5),
            r.method,
            r.protocol,
            r.status,
            r.bytes,
            r.agent,
            r.request_time,
            join(&|a| a.0.to_string()),
            join(&|a| a.1.to_string()),
            join(&|_| "0.010".to_string()),
            join(&|_| "0.001".to_string()),
            join(&|_| "0.009".to_string()),
        );
        reqs.push(r);
    }
    (reqs, text)
}

/// Each `--where` operator keeps exactly the requests a predicate written
/// here keeps: the same count and the same count per status, in `report`
/// and in `export` (rows read back from Parquet).
#[test]
fn where_keeps_what_each_operator_says() {
    type Keep = fn(&Req) -> bool;
    let (reqs, text) = varied_requests(23, 3000);
    let dir = tempfile::tempdir().unwrap();
    let log = write(dir.path(), "up.log", text.as_bytes());
    let cases: &[(&str, Keep)] = &[
        ("status >= 500", |r| r.status >= 500),
        ("status = 5xx and method != GET", |r| {
            r.status / 100 == 5 && r.method != "GET"
        }),
        ("status in (404, 503) or path = /login", |r| {
            [404, 503].contains(&r.status) || r.path == "/login"
        }),
        ("path ^= /api/ and not method in (GET, HEAD)", |r| {
            r.path.starts_with("/api/") && !["GET", "HEAD"].contains(&r.method)
        }),
        ("upstream in (10.0.0.1:8080, 10.0.0.3:8080)", |r| {
            r.attempts
                .iter()
                .any(|a| a.0 == "10.0.0.1:8080" || a.0 == "10.0.0.3:8080")
        }),
        ("upstream != 10.0.0.2:8080", |r| {
            r.attempts.iter().all(|a| a.0 != "10.0.0.2:8080")
        }),
        ("upstream_status = 502 and status != 502", |r| {
            r.attempts.iter().any(|a| a.1 == 502) && r.status != 502
        }),
        ("bytes < 100 or request_time > 0.9", |r| {
            r.bytes < 100 || r.request_time > 0.9
        }),
        ("bytes <= 100 and request_time >= 0.5", |r| {
            r.bytes <= 100 && r.request_time >= 0.5
        }),
        ("agent ~ bot", |r| r.agent.contains("bot")),
        (r#"agent !~ "(?i)bot""#, |r| {
            !r.agent.to_lowercase().contains("bot")
        }),
        ("query = id=7", |r| r.query.as_deref() == Some("id=7")),
        ("query ^= id=7", |r| {
            r.query.as_deref().is_some_and(|q| q.starts_with("id=7"))
        }),
        ("query = 'q=a,b' or not query ~ .", |r| {
            r.query.as_deref().is_none_or(|q| q == "q=a,b")
        }),
        ("client ^= 10.9.1. and protocol = HTTP/2.0", |r| {
            r.client.starts_with("10.9.1.") && r.protocol == "HTTP/2.0"
        }),
        ("path = /apix or (status = 200 and method = HEAD)", |r| {
            r.path == "/apix" || (r.status == 200 && r.method == "HEAD")
        }),
    ];
    for (expr, keep) in cases {
        let mut want: BTreeMap<String, u64> = BTreeMap::new();
        for r in reqs.iter().filter(|r| keep(r)) {
            *want.entry(r.status.to_string()).or_default() += 1;
        }
        let kept: u64 = want.values().sum();
        assert!(kept > 0 && kept < reqs.len() as u64, "{expr} keeps {kept}");
        let json = report_json(
            &["--format", "nginx-upstream", "--where", expr],
            &[log.as_path()],
        );
        let s = &json["summary"];
        assert_eq!(s["requests"].as_u64(), Some(kept), "{expr}");
        assert_eq!(
            s["filtered"].as_u64(),
            Some(reqs.len() as u64 - kept),
            "{expr}"
        );
        let got: BTreeMap<String, u64> = crate::util::counts(&json["status"]);
        assert_eq!(got, want, "{expr}");
        assert!(
            s["filter"].as_str().is_some(),
            "{expr}: the report says its filter"
        );

        #[cfg(feature = "parquet")]
        exported_lines_are(dir.path(), &log, expr, &want_lines(&reqs, *keep));
    }
}

/// A bad expression stops the run before any work, naming the column.
#[test]
fn a_bad_where_names_its_column() {
    let logs = crate::util::samples();
    for (expr, column) in [("status >= x", 11), ("pth = /", 1), ("method in (GET", 15)] {
        let out = Command::cargo_bin("logspike")
            .unwrap()
            .args(["report", "--where", expr])
            .arg(&logs)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{expr}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("at column {column}:")),
            "{expr}: {err}"
        );
        assert!(err.contains(&format!("\n  {expr}\n")), "{expr}: {err}");
        assert!(out.stdout.is_empty(), "{expr}");
    }
}

#[cfg(feature = "parquet")]
fn want_lines(reqs: &[Req], keep: fn(&Req) -> bool) -> Vec<u64> {
    (reqs.iter().enumerate())
        .filter(|(_, r)| keep(r))
        .map(|(i, _)| i as u64 + 1)
        .collect()
}

/// `export --where` writes the rows of exactly these lines.
#[cfg(feature = "parquet")]
fn exported_lines_are(dir: &Path, log: &Path, expr: &str, want: &[u64]) {
    use arrow_array::cast::AsArray;
    let out = dir.join(format!("parquet-{}", expr.len()));
    let _ = std::fs::remove_dir_all(&out);
    crate::util::run(
        crate::util::logspike()
            .args([
                "export",
                "--format",
                "nginx-upstream",
                "--where",
                expr,
                "--parquet",
            ])
            .arg(&out)
            .arg(log),
    )
    .ok();
    let mut lines = Vec::new();
    for file in crate::export::parquet_files(&out) {
        for batch in crate::export::read(&file) {
            let col = batch.column(batch.schema().index_of("source_line").unwrap());
            let col = col.as_primitive::<arrow_array::types::UInt64Type>();
            lines.extend(col.values().iter().copied());
        }
    }
    lines.sort_unstable();
    assert_eq!(lines, want, "{expr}: the exported lines");
}

/// Windows of a day or more start at midnight in `--tz`: Berlin's last
/// Sunday of October has 25 hours and its last Sunday of March 23, and
/// each request lands in the local day it was made on; the upstream
/// timeline follows the same windows.
#[test]
fn day_windows_start_at_local_midnight_across_daylight_saving() {
    let dir = tempfile::tempdir().unwrap();
    // (UTC time, local day in Berlin)
    let times = [
        ("2026-03-28T22:59:59", "2026-03-28"), // 23:59:59 CET
        ("2026-03-28T23:00:00", "2026-03-29"), // midnight CET
        ("2026-03-29T21:59:59", "2026-03-29"), // 23:59:59 CEST: a 23-hour day
        ("2026-03-29T22:00:00", "2026-03-30"),
        ("2026-10-24T21:59:59", "2026-10-24"), // 23:59:59 CEST
        ("2026-10-24T22:00:00", "2026-10-25"), // midnight CEST
        ("2026-10-25T01:30:00", "2026-10-25"), // 02:30 CET, after the change
        ("2026-10-25T22:59:59", "2026-10-25"), // 23:59:59 CET: a 25-hour day
        ("2026-10-25T23:00:00", "2026-10-26"),
    ];
    let mut text = String::new();
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for (i, (utc, day)) in times.iter().enumerate() {
        let t = chrono::NaiveDateTime::parse_from_str(utc, "%Y-%m-%dT%H:%M:%S")
            .unwrap()
            .and_utc();
        let status = if i % 2 == 0 { 503 } else { 200 };
        text += &format!(
            "10.0.0.1 - - [{}] \"GET /a HTTP/1.1\" {status} 5 \"-\" \"t\" 0.010 10.0.0.9:80 {status} 0.010 0.001 0.009\n",
            clf(t.timestamp())
        );
        *want.entry(day.to_string()).or_default() += 1;
    }
    let log = write(dir.path(), "dst.log", text.as_bytes());
    let json = report_json(
        &[
            "--window",
            "1d",
            "--tz",
            "Europe/Berlin",
            "--format",
            "nginx-upstream",
        ],
        &[&log],
    );
    assert_eq!(json["summary"]["days_from"], "Europe/Berlin");
    // Berlin in 2026, by the EU rule: CEST from 01:00 UTC on the last
    // Sunday of March to 01:00 UTC on the last Sunday of October.
    let summer = (
        chrono::DateTime::parse_from_rfc3339("2026-03-29T01:00:00Z")
            .unwrap()
            .timestamp(),
        chrono::DateTime::parse_from_rfc3339("2026-10-25T01:00:00Z")
            .unwrap()
            .timestamp(),
    );
    let berlin_local = |t: i64| {
        let offset = if (summer.0..summer.1).contains(&t) {
            7200
        } else {
            3600
        };
        chrono::DateTime::from_timestamp(t + offset, 0)
            .unwrap()
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    let mut got: BTreeMap<String, u64> = BTreeMap::new();
    let windows = json["windows"].as_array().unwrap();
    for w in windows {
        let start = chrono::DateTime::parse_from_rfc3339(w["start"].as_str().unwrap()).unwrap();
        let local = berlin_local(start.timestamp());
        assert_eq!(&local[11..], "00:00:00", "{start} is not a Berlin midnight");
        if w["requests"].as_u64().unwrap() > 0 {
            got.insert(local[..10].to_string(), w["requests"].as_u64().unwrap());
        }
    }
    assert_eq!(got, want);
    // Every day from the first to the last, none skipped or doubled.
    assert_eq!(windows.len(), 213, "2026-03-28 .. 2026-10-26");
    let up = &json["upstream_timelines"][0];
    let attempts: u64 = up["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(attempts, times.len() as u64);
    for (i, w) in windows.iter().enumerate() {
        assert_eq!(up["attempts"][i], w["requests"], "window {i}");
    }

    // Without --tz, UTC days; with a zone of 45-minute offset, its own.
    let utc = report_json(&["--window", "1d", "--format", "nginx-upstream"], &[&log]);
    assert!(utc["summary"]["days_from"].is_null());
    assert!(utc["windows"][0]["start"]
        .as_str()
        .unwrap()
        .ends_with("T00:00:00Z"));
    let nepal = report_json(
        &[
            "--window",
            "1d",
            "--tz",
            "Asia/Kathmandu",
            "--format",
            "nginx-upstream",
        ],
        &[&log],
    );
    assert!(nepal["windows"][0]["start"]
        .as_str()
        .unwrap()
        .ends_with("T18:15:00Z"));
    let text = crate::util::run(
        crate::util::logspike()
            .args(["report", "--window", "1d", "--tz", "Europe/Berlin"])
            .arg(&log),
    )
    .ok()
    .stdout;
    assert!(
        text.contains("windows of 1d, from midnight Europe/Berlin"),
        "{text}"
    );

    // Windows chosen from the span (weeks, over 300 days of an hourly log,
    // more hours than a partial keeps) start at Berlin's Monday midnights.
    let hourly: String = (0..300 * 24)
        .map(|h| {
            format!(
                "10.0.0.1 - - [{}] \"GET /a HTTP/1.1\" 200 5 \"-\" \"t\"\n",
                clf(START - 300 * 86_400 + h * 3600)
            )
        })
        .collect();
    let log = write(dir.path(), "hourly.log", hourly.as_bytes());
    let json = report_json(&["--tz", "Europe/Berlin"], &[&log]);
    assert_eq!(
        json["summary"]["days_from"], "Europe/Berlin",
        "{}",
        json["summary"]
    );
    assert_eq!(json["summary"]["window_seconds"], 604_800.0);
    for w in json["windows"].as_array().unwrap() {
        let start = chrono::DateTime::parse_from_rfc3339(w["start"].as_str().unwrap()).unwrap();
        let local = berlin_local(start.timestamp());
        let day = chrono::NaiveDate::parse_from_str(&local[..10], "%Y-%m-%d").unwrap();
        assert_eq!(&local[11..], "00:00:00", "{start}");
        assert_eq!(
            chrono::Datelike::weekday(&day),
            chrono::Weekday::Mon,
            "{start}"
        );
    }
}

/// `--by host`: a section per host (names in any case are one host), each
/// with exactly the counts of `--host NAME` and its own incidents; the
/// busiest 20 have sections, the rest and the requests without a host are
/// counted.
#[test]
fn by_host_gives_each_host_its_own_report() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(5);
    let mut lines: Vec<(i64, String)> = Vec::new();
    let mut want: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut add = |host: &str, t: i64, status: u16, lines: &mut Vec<(i64, String)>| {
        lines.push((
            t,
            format!(
                "{host}:443 10.0.0.{} - - [{}] \"GET /p{} HTTP/1.1\" {status} 5 \"-\" \"t\"",
                t % 200,
                clf(t),
                t % 7
            ),
        ));
        *want
            .entry(host.to_ascii_lowercase())
            .or_default()
            .entry(status.to_string())
            .or_default() += 1;
    };
    for i in 0..3000 {
        let t = START + i;
        // api: a 503 burst from minute 20 to 23.
        let burst = (1200..1380).contains(&i) && rng.chance(0.6);
        let status = if burst {
            503
        } else if rng.chance(0.002) {
            500
        } else {
            200
        };
        add("api.example.com", t, status, &mut lines);
        if i % 3 != 0 {
            let host = if i % 2 == 0 {
                "WWW.example.com"
            } else {
                "www.example.com"
            };
            add(
                host,
                t,
                if rng.chance(0.002) { 502 } else { 200 },
                &mut lines,
            );
        }
        if i % 6 == 0 {
            add("static.example.com", t, 200, &mut lines);
        }
    }
    for h in 1..=22 {
        for k in 0..10 {
            add(
                &format!("h{h:02}.example.com"),
                START + k * 60 + h,
                200,
                &mut lines,
            );
        }
    }
    lines.sort();
    let text: String = lines.iter().map(|(_, l)| format!("{l}\n")).collect();
    let vhosts = write(dir.path(), "vhosts.log", text.as_bytes());
    let plain: String = (0..40)
        .map(|i| {
            format!(
                "10.0.0.1 - - [{}] \"GET / HTTP/1.1\" 200 5 \"-\" \"t\"\n",
                clf(START + i)
            )
        })
        .collect();
    let plain = write(dir.path(), "plain.log", plain.as_bytes());

    let by = report_json(&["--by", "host", "--window", "1m"], &[&vhosts, &plain]);
    assert_eq!(by["schema"], "logspike.report-by/1");
    let sections = by["sections"].as_array().unwrap();
    assert_eq!(sections.len(), 20);
    let names: Vec<&str> = sections
        .iter()
        .map(|s| s["host"].as_str().unwrap())
        .collect();
    assert_eq!(
        names[..5],
        [
            "api.example.com",
            "www.example.com",
            "static.example.com",
            "h01.example.com",
            "h02.example.com"
        ]
    );
    assert_eq!(by["more"]["hosts"], 5, "h18 .. h22");
    assert_eq!(by["more"]["requests"], 50);
    assert_eq!(by["more"]["without_host"], 40);
    let overview = &by["overview"]["summary"]["requests"];
    assert_eq!(overview.as_u64(), Some(lines.len() as u64 + 40));

    for section in sections {
        let host = section["host"].as_str().unwrap();
        let r = &section["report"];
        let status: BTreeMap<String, u64> = crate::util::counts(&r["status"]);
        assert_eq!(&status, &want[host], "{host}");
        // The same as asking for that host alone, window for window.
        let alone = report_json(&["--host", host, "--window", "1m"], &[&vhosts, &plain]);
        assert_eq!(r["windows"], alone["windows"], "{host}");
        assert_eq!(
            r["incidents"].as_array().unwrap().len(),
            alone["incidents"].as_array().unwrap().len(),
            "{host}"
        );
    }
    let api = &sections[0]["report"]["incidents"];
    assert!(!api.as_array().unwrap().is_empty(), "the burst on api");
    assert!(api[0]["status"]["503"].as_u64().unwrap() > 50, "{api}");
    let start = chrono::DateTime::parse_from_rfc3339(api[0]["start"].as_str().unwrap()).unwrap();
    assert!(
        (START + 1200..START + 1380).contains(&start.timestamp()),
        "{start}"
    );
    for s in &sections[1..] {
        assert_eq!(
            s["report"]["incidents"],
            serde_json::json!([]),
            "{}",
            s["host"]
        );
    }

    let text = crate::util::run(
        crate::util::logspike()
            .args(["report", "--by", "host"])
            .arg(&vhosts)
            .arg(&plain),
    )
    .ok()
    .stdout;
    assert!(text.contains("══ host api.example.com ══"), "{text}");
    assert!(text.contains("5 more hosts: 50 requests, 0 5xx"), "{text}");
    assert!(text.contains("40 requests without a host"), "{text}");

    for (args, says) in [
        (&["--by", "host", "--output", "csv"][..], "text or json"),
        (&["--by", "host", "-"], "twice"),
    ] {
        let r = crate::util::run(
            crate::util::logspike()
                .arg("report")
                .args(args)
                .arg(&vhosts),
        );
        assert_eq!(r.code, 2, "{args:?}");
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
    }
}

/// The long-form CSV tables read by DuckDB with no options: its sniffer
/// finds the header and the types, and a path holding a comma or a quote
/// stays one value; the sums are the JSON report's.
#[test]
fn long_form_csv_reads_into_duckdb_without_help() {
    if !crate::util::python_has("duckdb", "the DuckDB CSV test") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..600 {
        let path = ["/a,b", "/q\\x22uote", "/plain", "/x y"][i % 4];
        let status = [200, 503, 200, 404, 502][i % 5];
        text += &format!(
            "10.0.0.1 - - [{}] \"GET {path} HTTP/1.1\" {status} 5 \"-\" \"t\"\n",
            clf(START + i as i64)
        );
    }
    let log = write(dir.path(), "odd.log", text.as_bytes());
    let json = report_json(&["--window", "1m", "--top", "1000"], &[&log]);
    for table in ["window_status", "path_status"] {
        let out = crate::util::run(
            crate::util::logspike()
                .args([
                    "report", "--output", "csv", "--window", "1m", "--top", "1000",
                ])
                .args(["--table", table, "-o"])
                .arg(dir.path().join(format!("{table}.csv")))
                .arg(&log),
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    let script = format!(
        r#"
import duckdb, json
con = duckdb.connect()
w = con.sql("select * from read_csv('{dir}/window_status.csv')")
types = dict(zip(w.columns, [str(t) for t in w.types]))
status = con.sql("select status::varchar, sum(requests)::bigint from read_csv('{dir}/window_status.csv') group by 1").fetchall()
paths = con.sql("select path, sum(requests)::bigint from read_csv('{dir}/path_status.csv') group by 1").fetchall()
print(json.dumps({{"types": types, "status": status, "paths": paths}}))
"#,
        dir = dir.path().display()
    );
    let got: Value = crate::util::python_json(&script);
    assert_eq!(got["types"]["start"], "TIMESTAMP WITH TIME ZONE", "{got}");
    assert_eq!(got["types"]["requests"], "BIGINT", "{got}");
    let status: BTreeMap<String, u64> = crate::util::pairs(&got["status"]);
    let want: BTreeMap<String, u64> = crate::util::counts(&json["status"]);
    assert_eq!(status, want);
    let paths: BTreeMap<String, u64> = crate::util::pairs(&got["paths"]);
    let want: BTreeMap<String, u64> = json["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["path"].as_str().unwrap().to_string(),
                p["requests"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(paths, want);
    assert!(paths.contains_key("/a,b"), "{paths:?}");
    assert!(paths.contains_key("/q\"uote"), "{paths:?}");
}
