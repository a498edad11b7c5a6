//! The `logspike` binary as a user runs it: exit codes, messages, and the
//! ugly inputs of the brief (empty, binary, NUL bytes, huge lines, CRLF,
//! invalid UTF-8, truncated gzip, unsupported compression).

use std::io::Write;

use crate::util::{logspike, run, samples, write};

const LINE: &str =
    r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.1" 503 12 "-" "curl/8""#;

#[test]
fn check_on_the_sample_logs() {
    let r = run(logspike().arg("check").arg(samples()));
    assert_eq!(r.code, 0, "{}", r.stderr);
    for expected in [
        "nginx/access.log.2.gz (gzip)",
        "format      nginx-upstream",
        "format      nginx-upstreaminfo",
        "format      apache-combined",
        "format      apache-vhost_combined",
        "iis (W3C, columns from each #Fields line)",
        "an nginx error-log line, not an access-log line",
        "total: 14 files",
        "format      traefik-common",
    ] {
        assert!(
            r.stdout.contains(expected),
            "missing {expected:?} in\n{}",
            r.stdout
        );
    }
}

#[test]
fn usage_errors_exit_2_before_any_work() {
    let r = run(logspike().args(["check", "/no/such/file.log"]));
    assert_eq!(r.code, 2);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr
            .contains("/no/such/file.log: no such file or directory"),
        "{}",
        r.stderr
    );

    let r = run(logspike()
        .args(["check", "--format", "nope"])
        .arg(samples()));
    assert_eq!(r.code, 2);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("unknown format"), "{}", r.stderr);
    assert!(r.stderr.contains("nginx-combined"), "{}", r.stderr);

    let r = run(logspike()
        .args(["check", "--log-format", "no fields"])
        .arg(samples()));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("a format needs"), "{}", r.stderr);
}

#[test]
fn min_coverage_sets_the_exit_status() {
    let file = samples().join("nginx/access.log");
    let r = run(logspike()
        .args(["check", "--min-coverage", "99.99"])
        .arg(&file));
    assert_eq!(r.code, 1, "{}", r.stdout);
    let r = run(logspike()
        .args(["check", "--min-coverage", "99"])
        .arg(&file));
    assert_eq!(r.code, 0, "{}", r.stdout);
    let r = run(logspike()
        .args(["check", "--min-coverage", "101"])
        .arg(&file));
    assert_eq!(r.code, 2);
}

#[test]
fn rejects_file_gets_every_rejected_line() {
    let dir = tempfile::tempdir().unwrap();
    let rejects = dir.path().join("rejects.txt");
    let r = run(logspike()
        .args(["check", "--show-rejects", "0", "--rejects"])
        .arg(&rejects)
        .arg(samples().join("nginx")));
    assert_eq!(r.code, 0);
    let text = std::fs::read_to_string(&rejects).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.lines().all(|l| l.contains("[error]")));
}

#[test]
fn ugly_inputs_are_counted_never_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let empty = write(d, "empty.log", b"");
    let mut junk = Vec::new();
    for i in 0..20_000u32 {
        junk.push((i.wrapping_mul(2_654_435_761) >> 13) as u8);
    }
    let junk = write(d, "junk.log", &junk);
    let mut huge = format!("{LINE}\n").into_bytes();
    huge.extend(std::iter::repeat_n(b'x', 3 << 20));
    huge.extend(format!("\n{LINE}").as_bytes()); // and no final newline
    let huge = write(d, "huge.log", &huge);
    let crlf = write(d, "crlf.log", format!("{LINE}\r\n{LINE}\r\n").as_bytes());
    let nul = write(
        d,
        "nul.log",
        format!("{LINE}\n\0\0\0\0\n{}\n", LINE.replace("/a", "/\u{0}\u{ff}")).as_bytes(),
    );
    let mut bad_utf8 = LINE.replace("curl/8", "cu\u{0}rl").into_bytes();
    bad_utf8.extend(b"\n1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET /\xff\xfe HTTP/1.1\" 200 1 \"-\" \"\xc3\x28\"\n");
    let bad_utf8 = write(d, "bad_utf8.log", &bad_utf8);

    let r = run(logspike()
        .args(["check", "--format", "nginx-combined"])
        .args([&empty, &junk, &huge, &crlf, &nul, &bad_utf8]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let section = |name: &str| {
        let start = r
            .stdout
            .find(name)
            .unwrap_or_else(|| panic!("{name} missing"));
        let rest = &r.stdout[start..];
        rest[..rest.find("\n\n").unwrap_or(rest.len())].to_string()
    };
    assert!(
        section("empty.log").contains("lines       0: parsed 0 (-)"),
        "{}",
        section("empty.log")
    );
    let s = section("junk.log");
    assert!(s.contains("parsed 0"), "{s}");
    assert!(!s.contains("rejected 0"), "{s}");
    let s = section("huge.log");
    assert!(s.contains("lines       3: parsed 2"), "{s}");
    assert!(s.contains("too long    1"), "{s}");
    assert!(
        s.contains("huge.log:2:1: line of 3145728 bytes is longer than the limit"),
        "{s}"
    );
    assert!(section("crlf.log").contains("lines       2: parsed 2 (100.00%)"));
    let s = section("nul.log");
    assert!(
        s.contains("lines       3: parsed 2 (66.67%), rejected 1"),
        "{s}"
    );
    assert!(s.contains("| \\x00\\x00\\x00\\x00"), "{s}");
    assert!(section("bad_utf8.log").contains("lines       2: parsed 2 (100.00%)"));
}

#[test]
fn large_plain_files_are_checked_in_parallel_with_exact_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..60_000 {
        match i {
            17 | 31_337 | 59_999 => text.push_str("junk line\n"),
            _ => {
                text.push_str(&LINE.replace("/a", &format!("/a{i}")));
                text.push('\n');
            }
        }
    }
    assert!(text.len() > 4 << 20, "must take the mapped path");
    let path = write(dir.path(), "big.log", text.as_bytes());
    for threads in ["1", "2"] {
        let r = run(logspike().args(["check", "--threads", threads]).arg(&path));
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(
            r.stdout.contains("lines       60,000: parsed 59,997"),
            "{}",
            r.stdout
        );
        for line in [18, 31_338, 60_000] {
            assert!(
                r.stdout.contains(&format!("big.log:{line}:1: ")),
                "{line}: {}",
                r.stdout
            );
        }
    }
}

#[test]
fn truncated_gzip_keeps_the_lines_before_the_damage() {
    let dir = tempfile::tempdir().unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for i in 0..5000 {
        writeln!(enc, "{}", LINE.replace("/a", &format!("/a{i}"))).unwrap();
    }
    let mut gz = enc.finish().unwrap();
    gz.truncate(gz.len() / 2);
    let path = write(dir.path(), "cut.log.gz", &gz);
    let other = write(dir.path(), "fine.log", format!("{LINE}\n").as_bytes());
    let r = run(logspike().arg("check").args([&path, &other]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let cut = &r.stdout[..r.stdout.find("fine.log").unwrap()];
    assert!(cut.contains("error       read error at byte"), "{cut}");
    assert!(
        cut.contains("rejected 0"),
        "the cut line is dropped, not rejected: {cut}"
    );
    // Everything before the cut was parsed, and nothing after it invented.
    let lines_row = cut.lines().find(|l| l.starts_with("  lines")).unwrap();
    let parsed: u64 = lines_row
        .split("parsed ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .replace(',', "")
        .parse()
        .unwrap();
    assert!(parsed > 1000 && parsed < 5000, "{parsed}\n{cut}");
    assert!(r.stdout.contains("fine.log\n  format"), "{}", r.stdout);
}

#[test]
fn corrupt_zstd_and_bzip2_are_reported_and_the_rest_runs() {
    let dir = tempfile::tempdir().unwrap();
    let body = format!("{LINE}\n").repeat(2000);
    let mut zst = zstd::encode_all(body.as_bytes(), 3).unwrap();
    zst.truncate(zst.len() - 8);
    let zst = write(dir.path(), "a.log.zst", &zst);
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    enc.write_all(body.as_bytes()).unwrap();
    let mut bz = enc.finish().unwrap();
    let middle = bz.len() / 2;
    bz[middle] ^= 0xff;
    let bz = write(dir.path(), "b.log.bz2", &bz);
    let fine = write(dir.path(), "c.log", format!("{LINE}\n").as_bytes());
    let r = run(logspike().arg("check").args([&zst, &bz, &fine]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("a.log.zst (zstd)"), "{}", r.stdout);
    assert!(r.stdout.contains("b.log.bz2 (bzip2)"), "{}", r.stdout);
    assert_eq!(
        r.stdout.matches("error       read error at byte").count(),
        2,
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("c.log\n  format"), "{}", r.stdout);
}

#[test]
fn stdin_and_inline_formats() {
    let r = run(logspike()
        .args(["check", "-"])
        .write_stdin(format!("{LINE}\n{LINE}\n")));
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("<stdin>"), "{}", r.stdout);
    assert!(r.stdout.contains("parsed 2 (100.00%)"), "{}", r.stdout);

    let r = run(logspike()
        .args([
            "check",
            "--log-format",
            r#"$remote_addr [$time_local] "$request" $status $request_length"#,
            "-",
        ])
        .write_stdin("1.2.3.4 [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 502 77\n"));
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("format      inline"), "{}", r.stdout);
    assert!(r.stdout.contains("parsed 1 (100.00%)"), "{}", r.stdout);
}

#[test]
fn server_configs_provide_named_formats() {
    let dir = tempfile::tempdir().unwrap();
    let nginx = write(
        dir.path(),
        "nginx.conf",
        b"http {\n  include mime.types;\n  log_format timed '$remote_addr [$time_local] \"$request\" '\n                   '$status rt=$request_time';\n}\n",
    );
    let log = write(
        dir.path(),
        "timed.log",
        b"1.2.3.4 [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 504 rt=60.001\n",
    );
    let r = run(logspike()
        .arg("check")
        .arg("--nginx-conf")
        .arg(&nginx)
        .arg(&log));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("format      timed"), "{}", r.stdout);
    assert!(
        r.stderr.contains("nginx.conf:2: `mime.types` (")
            && r.stderr.contains("does not exist; not followed"),
        "{}",
        r.stderr
    );
    let r = run(logspike()
        .args(["check", "--format", "timed", "--nginx-conf"])
        .arg(&nginx)
        .arg(&log));
    assert!(r.stdout.contains("named with --format"), "{}", r.stdout);

    let apache = write(
        dir.path(),
        "httpd.conf",
        b"LogFormat \"%h %t \\\"%r\\\" %>s %D\" withtime\n",
    );
    let log = write(
        dir.path(),
        "a.log",
        b"1.2.3.4 [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 500 1234\n",
    );
    let r = run(logspike()
        .args(["check", "--format", "withtime", "--apache-conf"])
        .arg(&apache)
        .arg(&log));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("parsed 1 (100.00%)"), "{}", r.stdout);

    let r = run(logspike().args(["formats", "--apache-conf"]).arg(&apache));
    assert_eq!(r.code, 0);
    assert!(r.stdout.starts_with("withtime"), "{}", r.stdout);
    assert!(r.stdout.contains("nginx-upstreaminfo"), "{}", r.stdout);
}

#[test]
fn every_builtin_grammar_has_a_sample_log() {
    use logspike::check::check_source;
    use logspike::detect::FormatChoice;
    use logspike::grammar::{builtin, Syntax};
    use logspike::input::{expand, Source};
    use logspike::scan::ScanOptions;

    let mut seen = std::collections::BTreeSet::new();
    for source in expand(&[samples()]).unwrap() {
        let mut options = ScanOptions::new(FormatChoice::Detect(builtin::all().to_vec()));
        options.max_samples = 0;
        let result = check_source(&source, &mut options);
        let Source::Path(path) = &source else {
            unreachable!()
        };
        assert!(
            result.coverage() > 99.0,
            "{}: {:.2}%",
            path.display(),
            result.coverage()
        );
        seen.extend(result.grammars.iter().cloned());
    }
    for g in builtin::all() {
        if g.syntax == Syntax::W3c {
            continue;
        }
        assert!(
            seen.contains(&g.name),
            "no sample log is detected as {}",
            g.name
        );
    }
    assert!(seen.iter().any(|n| n.starts_with("iis")), "{seen:?}");
}

/// A fixed `--window` over a span of decades once asked for 161 GB of
/// empty windows; the timeline is widened instead, and says so.
#[test]
fn a_small_window_over_a_wide_span_is_widened_not_allocated() {
    let dir = tempfile::tempdir().unwrap();
    let log = write(
        dir.path(),
        "wide.log",
        concat!(
            "1.2.3.4 - - [10/Oct/2024:13:55:36 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"c\"\n",
            "1.2.3.4 - - [10/Oct/2034:13:55:36 +0000] \"GET / HTTP/1.1\" 503 5 \"-\" \"c\"\n",
        )
        .as_bytes(),
    );
    let r = run(logspike()
        .args(["report", "--window", "1s", "--output", "json"])
        .arg(&log));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["summary"]["window_widened_from"], 1.0);
    assert_eq!(json["summary"]["window_seconds"], 3600.0);
    let windows = json["windows"].as_array().unwrap();
    assert!(windows.len() <= 100_000, "{}", windows.len());
    assert_eq!(
        windows
            .iter()
            .map(|w| w["requests"].as_u64().unwrap())
            .sum::<u64>(),
        2
    );
    let text = run(logspike().args(["report", "--window", "1s"]).arg(&log));
    assert!(
        text.stdout
            .contains("windows of 1s were asked for; the time span needs 1h"),
        "{}",
        text.stdout
    );
}

/// `--threads 10000` once took 43 s on a 4.5 MB file: it is capped, and
/// says so.
#[test]
fn threads_are_capped_with_a_word() {
    let dir = tempfile::tempdir().unwrap();
    let log = write(
        dir.path(),
        "a.log",
        format!("{LINE}\n").repeat(1000).as_bytes(),
    );
    let r = run(logspike().args(["check", "--threads", "10000"]).arg(&log));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("--threads 10000 capped at"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("parsed 1,000"), "{}", r.stdout);
}

/// Below a directory given as input, what cannot be read is said and
/// skipped like an unreadable file: a symlink loop, a symlink to a
/// directory, a second name for a file already read, and (as a user who
/// may not read it; needs root and setpriv) an unreadable subdirectory.
#[test]
fn what_a_directory_walk_leaves_out_is_said_and_the_rest_runs() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(logs.join("locked")).unwrap();
    std::fs::create_dir_all(logs.join("sub")).unwrap();
    write(
        &logs,
        "access.log",
        format!("{LINE}\n").repeat(3).as_bytes(),
    );
    write(&logs.join("sub"), "b.log", format!("{LINE}\n").as_bytes());
    write(
        &logs.join("locked"),
        "c.log",
        format!("{LINE}\n").as_bytes(),
    );
    symlink(logs.join("loop-a"), logs.join("loop-b")).unwrap();
    symlink(logs.join("loop-b"), logs.join("loop-a")).unwrap();
    symlink(logs.join("sub"), logs.join("sub-link")).unwrap();
    symlink(logs.join("access.log"), logs.join("current.log")).unwrap();
    for p in [&logs, &logs.join("sub")] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(
        logs.join("access.log"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::fs::set_permissions(
        logs.join("sub/b.log"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();

    let r = run(logspike().args(["report", "--output", "json"]).arg(&logs));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    // access.log (3), sub/b.log (1), locked/c.log (1, root may read it);
    // current.log is access.log again and is not read twice.
    assert_eq!(json["summary"]["requests"], 5, "{}", r.stderr);
    assert!(
        r.stderr.contains("loop-a") && r.stderr.contains("symlink skipped"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("a symlink to a directory, not followed"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("current.log: the same file as another input"),
        "{}",
        r.stderr
    );

    // As a user who may not enter `locked`.
    let root = std::process::Command::new("id").arg("-u").output().ok();
    let is_root = root.is_some_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !is_root
        || std::process::Command::new("setpriv")
            .arg("--version")
            .output()
            .is_err()
    {
        eprintln!("skipping the unreadable subdirectory: needs root and setpriv");
        return;
    }
    std::fs::set_permissions(logs.join("locked"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let bin = dir.path().join("logspike");
    if std::fs::hard_link(env!("CARGO_BIN_EXE_logspike"), &bin).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_logspike"), &bin).unwrap();
    }
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(["report", "--output", "json"])
        .arg(&logs)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("setpriv:") {
        eprintln!("skipping the unreadable subdirectory: setpriv cannot switch users here");
        return;
    }
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["summary"]["requests"], 4, "{stderr}");
    assert!(
        stderr.contains("locked: Permission denied") && stderr.contains("directory skipped"),
        "{stderr}"
    );
}

/// A named pipe given as a path was opened, closed unread and opened
/// again: the writer died of SIGPIPE and most lines were lost. It is read
/// once, as a stream, every line.
#[test]
fn a_named_pipe_is_read_once_and_whole() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("access.fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipping: mkfifo is not available");
        return;
    }
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            // Opening for writing waits for the reader; one write a line.
            let mut f = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            for _ in 0..20_000 {
                f.write_all(format!("{LINE}\n").as_bytes()).unwrap();
            }
        })
    };
    let r = run(logspike().args(["check"]).arg(&fifo));
    writer.join().expect("the writer was not cut off");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("parsed 20,000 (100.00%)"), "{}", r.stdout);
}

/// The batch jobs of this build, with their arguments.
fn jobs() -> Vec<Vec<&'static str>> {
    let mut jobs = vec![vec!["report"], vec!["check"]];
    if cfg!(feature = "parquet") {
        jobs.push(vec!["export", "--parquet", "out"]);
    }
    jobs
}

/// A large plain file truncated while `report`, `check` and `export` read
/// it (a copytruncate rotation during a cron run) killed them with SIGBUS
/// (exit 135, no message). Now the run ends normally and says the file
/// changed under it; `report` and `check` count it as it is now.
#[test]
fn a_file_truncated_while_being_read_is_said_never_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let line =
        "10.0.0.1 - - [28/Nov/2026:10:00:00 +0000] \"GET /a HTTP/1.1\" 200 512 \"-\" \"curl/8\"\n";
    let body = line.repeat(24 * (1 << 20) / line.len());
    let keep = 1000 * line.len();
    for (i, args) in jobs().into_iter().enumerate() {
        let path = dir.path().join(format!("big-{i}.log"));
        std::fs::write(&path, &body).unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_logspike"))
            .args(&args)
            .arg(&path)
            .arg("--format")
            .arg("nginx-combined")
            .current_dir(dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        std::thread::sleep(std::time::Duration::from_millis(150));
        // Truncated to a thousand lines while it reads, as copytruncate does.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(keep as u64)
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let elapsed = started.elapsed();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(0), "{args:?}: {text}");
        // A fast machine may finish before the truncation: then there is
        // nothing to say.
        if elapsed > std::time::Duration::from_millis(300) {
            assert!(
                text.contains("changed while being read"),
                "{args:?} took {elapsed:?} and said nothing: {text}"
            );
        }
        if args[0] == "check" && text.contains("changed while being read") {
            assert!(text.contains("1,000"), "counted as it is now: {text}");
        }
    }
}

/// `/dev/zero` given as a path was read for ever. A device or a socket is
/// said to be no log and skipped; the other inputs still run.
#[test]
fn a_device_is_said_to_be_no_log_and_the_rest_runs() {
    for args in jobs() {
        let dir = tempfile::tempdir().unwrap();
        let out = logspike()
            .current_dir(dir.path())
            .args(&args)
            .arg("/dev/zero")
            .arg(samples().join("nginx/access.log"))
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(0), "{args:?}: {text}");
        assert!(
            text.contains("/dev/zero: a character device, not a log file"),
            "{args:?}: {text}"
        );
        assert!(
            text.contains("4,29") || text.contains("429"),
            "{args:?}: the sample log ran: {text}"
        );
    }
}

/// `/dev/zero` as standard input (a device the path check cannot see, or
/// a pipe from it) was read for ever as one endless line. A stream with
/// no newline in 64 MiB is not a log: reading stops there and says so.
#[test]
fn an_endless_stdin_without_newlines_ends_with_a_reason() {
    for args in jobs() {
        let dir = tempfile::tempdir().unwrap();
        let zero = std::fs::File::open("/dev/zero").unwrap();
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("logspike"))
            .current_dir(dir.path())
            .args(&args)
            .arg("-")
            .stdin(zero)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > std::time::Duration::from_secs(60) {
                child.kill().unwrap();
                panic!("{args:?}: still reading /dev/zero after a minute");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("no newline in 64 MiB: not a line-oriented log"),
            "{args:?}: {text}"
        );
    }
}

/// Completions for each shell and the man page come from the same
/// definitions as `--help`: every subcommand and option is in them.
#[test]
fn completions_and_man_page() {
    for (shell, marker) in [
        ("bash", "_logspike()"),
        ("zsh", "#compdef logspike"),
        ("fish", "complete -c logspike"),
    ] {
        let r = run(logspike().args(["completions", shell])).ok();
        assert!(r.stdout.contains(marker), "{shell}: {}", r.stdout);
        // fish spells options without their dashes (`-l since`).
        for word in ["report", "tail", "since", "alert", "format"] {
            assert!(r.stdout.contains(word), "{shell} completes {word}");
        }
    }
    // The bash script loads and registers the command.
    let script = run(logspike().args(["completions", "bash"])).ok().stdout;
    let loaded = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("{script}\ncomplete -p logspike"))
        .output();
    match loaded {
        Ok(out) => assert!(
            String::from_utf8_lossy(&out.stdout).contains("-F _logspike logspike"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => eprintln!("skipping the bash load check: {e}"),
    }
    let man = run(logspike().arg("man")).ok().stdout;
    assert!(man.contains(".TH logspike 1"), "{man}");
    assert!(man.contains("report") && man.contains("tail"), "{man}");
    assert_eq!(run(logspike().args(["completions", "tcsh"])).code, 2);
}

/// `--output ndjson`: one JSON object per window and line, the same rows
/// as the JSON report's `windows`.
#[test]
fn ndjson_is_the_json_windows_one_per_line() {
    let log = samples().join("nginx/access.log");
    let json = crate::util::report_json(&["--window", "5m"], &[&log]);
    let lines = run(logspike()
        .args(["report", "--output", "ndjson", "--window", "5m"])
        .arg(&log))
    .ok()
    .stdout;
    let rows: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let windows = json["windows"].as_array().unwrap();
    assert!(windows.len() > 10);
    assert_eq!(&rows, windows);
    assert!(rows
        .iter()
        .any(|w| w["errors_5xx"].as_u64() > Some(0) && w["status"]["503"].as_u64() > Some(0)));
}

/// With no path, `report` and `check` read the access logs the installed
/// server's config names, rotated siblings included, and say which; with
/// no config that names one, the error says what to give.
#[test]
fn no_path_reads_the_logs_the_server_config_names() {
    let root = tempfile::tempdir().unwrap();
    let conf = root.path().join("etc/nginx");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("nginx.conf"),
        "http {\n  access_log /var/log/nginx/shop.log combined;\n}\n",
    )
    .unwrap();
    let logs = root.path().join("var/log/nginx");
    std::fs::create_dir_all(&logs).unwrap();
    let line = |status: u16| {
        format!("10.0.0.1 - - [28/Nov/2026:10:00:00 +0000] \"GET /a HTTP/1.1\" {status} 5 \"-\" \"t\"\n")
    };
    std::fs::write(logs.join("shop.log"), line(200).repeat(3)).unwrap();
    std::fs::write(logs.join("shop.log.1"), line(503).repeat(2)).unwrap();
    std::fs::write(logs.join("other.log"), line(404).repeat(7)).unwrap();
    let root_arg = root.path().to_str().unwrap();
    let json = run(logspike().args(["report", "--output", "json", "--server-root", root_arg])).ok();
    assert!(
        json.stderr
            .contains("reading the access logs the server config names")
            && json.stderr.contains("shop.log.1"),
        "{}",
        json.stderr
    );
    let report = json.json();
    assert_eq!(
        report["summary"]["requests"], 5,
        "shop.log and its rotation only"
    );
    assert_eq!(report["status"]["503"], 2);
    assert_eq!(report["status"]["404"], serde_json::Value::Null);
    let check = run(logspike().args(["check", "--server-root", root_arg])).ok();
    assert!(check.stdout.contains("shop.log"), "{}", check.stdout);
    let none = run(logspike().args(["report", "--no-server-config"]));
    assert_eq!(none.code, 2);
    assert!(none.stderr.contains("no log given"), "{}", none.stderr);
}
