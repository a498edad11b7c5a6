//! Every line of `../shared/corpus` against the peers' normalized results.
//!
//! A line a peer accepts must be accepted with the same status, instant,
//! method, path, query, bytes and upstream lists, or differ in a way named
//! in [`DIFFERENCES`] (and explained in `docs/parsing.md`). Agreement is
//! printed per source. Skips with a message when `../shared` is absent, as
//! it is in a user's clone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use logspike::detect;
use logspike::grammar::builtin::{self, Registry};
use logspike::grammar::Grammar;
use logspike::parse::{LineParser, Outcome};
use serde_json::Value as Json;

fn corpus_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    dir.join("MANIFEST.md").exists().then_some(dir)
}

/// What logspike made of one line, owned so files can be parsed up front.
#[derive(Debug, Default, Clone)]
struct Got {
    accepted: bool,
    grammar: String,
    status: Option<u16>,
    time: Option<i64>,
    method: Option<String>,
    path: Option<String>,
    path_raw: Option<String>,
    query: Option<String>,
    bytes: Option<u64>,
    up_addr: Vec<Option<String>>,
    up_status: Vec<Option<u16>>,
    up_time: Vec<Option<f64>>,
    reason: String,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn got(parser: &mut LineParser, line: &[u8]) -> Got {
    let mut describe = None;
    let g = match parser.parse(line) {
        Outcome::Record(r) => {
            let req = r.request();
            let ups: Vec<_> = r.upstreams().collect();
            Got {
                accepted: true,
                grammar: r.grammar().name.clone(),
                status: r.status(),
                time: r.time().map(|t| t.micros),
                method: req.method.map(lossy),
                path: req.path.map(|p| lossy(&p.decode())),
                path_raw: req.path.map(|p| lossy(p.raw)),
                query: req.query.map(|q| lossy(&q.decode())),
                bytes: r.bytes(),
                up_addr: ups.iter().map(|a| a.addr.map(lossy)).collect(),
                up_status: ups.iter().map(|a| a.status).collect(),
                up_time: ups.iter().map(|a| a.response_time).collect(),
                ..Got::default()
            }
        }
        Outcome::Directive | Outcome::Blank => Got::default(),
        Outcome::Rejected(reject) => {
            describe = Some(reject);
            Got::default()
        }
    };
    match describe {
        Some(reject) => Got {
            reason: parser.describe(&reject, line),
            ..g
        },
        None => g,
    }
}

/// Parses a whole corpus file the way `logspike check` does: detection
/// over its head, then every line in order (W3C state carries over).
fn parse_file(path: &Path) -> Vec<Got> {
    let bytes = std::fs::read(path).unwrap();
    let detection = detect::detect(&bytes, builtin::all())
        .unwrap_or_else(|| panic!("no grammar detected for {}", path.display()));
    let mut parser = LineParser::new(&detection.grammars);
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.iter().map(|l| got(&mut parser, l)).collect()
}

/// The grammars an inline peer case names.
fn grammars_for_case(format: &str, line: &str) -> Option<Vec<Arc<Grammar>>> {
    let reg = Registry::new();
    let named = |n: &str| Some(vec![reg.find(n).unwrap()]);
    match format {
        "nginx_combined" => named("nginx-combined"),
        "nginx_main" => named("nginx-main"),
        "nginx_ingress_upstreaminfo" => named("nginx-upstreaminfo"),
        "apache_common" | "log_format: common" => named("apache-common"),
        "apache_combined" => named("apache-combined"),
        f if f.ends_with("_error") => None,
        f if f.starts_with("log_format: ") => Some(vec![Arc::new(
            Grammar::from_format("case", &f["log_format: ".len()..]).unwrap(),
        )]),
        // fluentd's nginx parser takes combined with an optional XFF field.
        _ => detect::detect(line.as_bytes(), builtin::all()).map(|d| d.grammars),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Differences between logspike and a peer that are choices, not bugs.
/// Each names the rule; `docs/parsing.md` says why logspike behaves so.
const DIFFERENCES: &[&str] = &[
    "peer-percent-decodes-query",
    "peer-keeps-backslash-escapes",
    "peer-accepts-dash-only-line",
    "peer-keeps-dash-as-value",
    "peer-accepts-unquoted-dash-in-quoted-field",
    "peer-accepts-non-address-client",
];

/// Which named difference explains a mismatch on `key`, if any.
fn explain(key: &str, expected: &Json, got: &Got, row: &Json) -> Option<&'static str> {
    if let Some(list) = expected.as_array() {
        let all_dash = list.iter().all(|e| e.as_str() == Some("-"));
        return (key == "upstream_addr" && all_dash && got.up_addr.is_empty())
            .then_some("peer-keeps-dash-as-value");
    }
    let exp = expected.as_str()?;
    if exp == "-" {
        let ours_missing = match key {
            "query" => got.query.is_none(),
            "path" => got.path.is_none(),
            "method" => got.method.is_none(),
            _ => false,
        };
        return ours_missing.then_some("peer-keeps-dash-as-value");
    }
    match key {
        "query" => {
            let ours = got.query.as_deref()?;
            (percent_decode(ours) == exp).then_some("peer-percent-decodes-query")
        }
        "path" => {
            if got.path_raw.as_deref() == Some(exp) && row["line"].as_str()?.contains('\\') {
                return Some("peer-keeps-backslash-escapes");
            }
            None
        }
        _ => None,
    }
}

fn compare(row: &Json, got: &Got) -> Vec<(String, Option<&'static str>)> {
    let mut out = Vec::new();
    let mut check = |key: &str, ok: bool| {
        if !ok {
            let why = explain(key, &row[key], got, row);
            out.push((
                format!(
                    "{key}: peer {} logspike {}",
                    row[key],
                    match key {
                        "status" => format!("{:?}", got.status),
                        "time" => format!("{:?}", got.time),
                        "method" => format!("{:?}", got.method),
                        "path" => format!("{:?}", got.path),
                        "query" => format!("{:?}", got.query),
                        "bytes" => format!("{:?}", got.bytes),
                        "upstream_addr" => format!("{:?}", got.up_addr),
                        "upstream_status" => format!("{:?}", got.up_status),
                        _ => format!("{:?}", got.up_time),
                    }
                ),
                why,
            ));
        }
    };
    let obj = row.as_object().unwrap();
    if let Some(v) = obj.get("status") {
        check("status", v.as_u64().map(|s| s as u16) == got.status);
    }
    if let Some(v) = obj.get("time") {
        let exp = chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .timestamp_micros();
        check("time", Some(exp) == got.time);
    }
    if let Some(v) = obj.get("method") {
        check("method", v.as_str().map(String::from) == got.method);
    }
    if let Some(v) = obj.get("path") {
        check("path", v.as_str().map(String::from) == got.path);
    }
    if let Some(v) = obj.get("query") {
        check("query", v.as_str().map(String::from) == got.query);
    }
    if let Some(v) = obj.get("bytes") {
        check("bytes", v.as_u64() == got.bytes);
    }
    if let Some(v) = obj.get("upstream_addr") {
        let exp: Vec<Option<String>> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().filter(|s| *s != "-").map(String::from))
            .collect();
        check("upstream_addr", exp == got.up_addr);
    }
    if let Some(v) = obj.get("upstream_status") {
        let exp: Vec<Option<u16>> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_u64().map(|s| s as u16))
            .collect();
        check("upstream_status", exp == got.up_status);
    }
    if let Some(v) = obj.get("upstream_response_time") {
        let exp: Vec<Option<f64>> = v.as_array().unwrap().iter().map(|e| e.as_f64()).collect();
        let same = exp.len() == got.up_time.len()
            && exp.iter().zip(&got.up_time).all(|(a, b)| match (a, b) {
                (Some(a), Some(b)) => (a - b).abs() < 1e-9,
                (None, None) => true,
                _ => false,
            });
        check("upstream_response_time", same);
    }
    out
}

#[derive(Default)]
struct Tally {
    lines: usize,
    peer_accepts: usize,
    agree: usize,
    named: BTreeMap<&'static str, usize>,
    unexplained: Vec<String>,
    peer_rejects_we_accept: usize,
    skipped: usize,
}

#[test]
fn corpus_agrees_with_peers() {
    let Some(dir) = corpus_dir() else {
        eprintln!("skipping corpus comparison: ../shared/corpus is not present");
        return;
    };
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let sources = [
        "beats",
        "vrl",
        "fluentd",
        "basjes-logparser",
        "logstash-patterns-core",
    ];
    for source in sources {
        let text = std::fs::read_to_string(dir.join(source).join("expected.jsonl")).unwrap();
        let tally = tallies.entry(source.to_string()).or_default();
        let mut files: BTreeMap<String, Vec<Got>> = BTreeMap::new();
        for line in text.lines() {
            let row: Json = serde_json::from_str(line).unwrap();
            tally.lines += 1;
            let file = row["source_file"].as_str().unwrap().to_string();
            let raw = row["line"].as_str().unwrap_or_default();
            let flag = |k: &str| row.get(k).and_then(Json::as_bool).unwrap_or(false);
            if flag("directive") || flag("empty_line") || flag("not_access_log") {
                tally.skipped += 1;
                continue;
            }
            if row.get("peer_args").is_some() {
                // The peer was configured differently from any built-in.
                tally.skipped += 1;
                continue;
            }
            let format = row["format"].as_str().unwrap_or_default();
            let got = if source == "beats" {
                let gots = files
                    .entry(file.clone())
                    .or_insert_with(|| parse_file(&dir.join("beats").join(&file)));
                let n = row["line_no"].as_u64().unwrap() as usize;
                gots[n - 1].clone()
            } else {
                let Some(grammars) = grammars_for_case(format, raw) else {
                    tally.skipped += 1;
                    continue;
                };
                let mut parser = LineParser::new(&grammars);
                got(&mut parser, raw.as_bytes())
            };
            if flag("no_peer_expectation") {
                tally.skipped += 1;
                continue;
            }
            let where_ = format!(
                "{source}/{file}:{}",
                row.get("line_no")
                    .or(row.get("case"))
                    .map(|v| v.to_string())
                    .unwrap_or_default()
            );
            if flag("error") {
                if got.accepted {
                    tally.peer_rejects_we_accept += 1;
                }
                continue;
            }
            tally.peer_accepts += 1;
            if !got.accepted {
                if flag("peer_returned_empty_object") {
                    *tally
                        .named
                        .entry("peer-accepts-dash-only-line")
                        .or_default() += 1;
                } else if raw.ends_with(" - -") && format.ends_with("combined") {
                    // Apache writes `"-"` for a missing referer or agent.
                    *tally
                        .named
                        .entry("peer-accepts-unquoted-dash-in-quoted-field")
                        .or_default() += 1;
                } else if ["%h", "c-ip", "remote_addr"].iter().any(|f| {
                    got.reason
                        .contains(&format!("field `{f}` has an invalid value"))
                }) {
                    // A quoted address list or a markdown link where the
                    // client address stands: no built-in format has it, and
                    // taking it would shift the real address into `%l`.
                    *tally
                        .named
                        .entry("peer-accepts-non-address-client")
                        .or_default() += 1;
                } else {
                    tally
                        .unexplained
                        .push(format!("{where_}: rejected ({}): {raw}", got.reason));
                }
                continue;
            }
            let diffs = compare(&row, &got);
            if diffs.is_empty() {
                tally.agree += 1;
            } else if diffs.iter().all(|(_, why)| why.is_some()) {
                for (_, why) in diffs {
                    *tally.named.entry(why.unwrap()).or_default() += 1;
                }
            } else {
                for (diff, why) in diffs.into_iter().filter(|(_, w)| w.is_none()) {
                    let _ = why;
                    tally
                        .unexplained
                        .push(format!("{where_} [{}]: {diff}", got.grammar));
                }
            }
        }
    }
    let mut failures = Vec::new();
    eprintln!("corpus agreement (lines a peer accepts):");
    for (source, t) in &tallies {
        eprintln!(
            "  {source:<24} rows {:>4}, peer accepts {:>4}: agree {:>4}, named differences {:>3} {:?}, unexplained {:>3}; peer rejects but logspike parses {}; skipped {}",
            t.lines,
            t.peer_accepts,
            t.agree,
            t.named.values().sum::<usize>(),
            t.named,
            t.unexplained.len(),
            t.peer_rejects_we_accept,
            t.skipped
        );
        for name in t.named.keys() {
            assert!(
                DIFFERENCES.contains(name),
                "{name} is not a documented difference"
            );
        }
        failures.extend(t.unexplained.iter().cloned());
    }
    assert!(
        failures.is_empty(),
        "{} unexplained disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The real logs of the corpus that no peer annotated: how much of each
/// logspike parses, with every rejection accounted for.
#[test]
fn real_logs_parse_fully() {
    use logspike::check::check_source;
    use logspike::detect::FormatChoice;
    use logspike::input::Source;
    use logspike::scan::ScanOptions;

    let Some(dir) = corpus_dir() else {
        eprintln!("skipping real-log coverage: ../shared/corpus is not present");
        return;
    };
    let gonx = Grammar::from_format(
        "gonx",
        r#"$remote_addr [$time_local] "$request" $status $request_length $body_bytes_sent $request_time "$t_size" $read_time $gen_time"#,
    )
    .unwrap();
    // (file, format or None to detect, lines, parsed, rejected line numbers)
    type Case<'a> = (&'a str, Option<Arc<Grammar>>, u64, u64, &'a [u64]);
    let cases: &[Case] = &[
        ("nasa-http/apache.access.log_small", None, 3432, 3432, &[]),
        // Line 8,899 ends inside its user agent: the file was cut there.
        (
            "elastic-examples/apache_logs/apache_logs",
            None,
            10_000,
            9_999,
            &[8899],
        ),
        ("lnav/logfile_shop_access_log.0", None, 1000, 1000, &[]),
        ("gonx/access.log", Some(Arc::new(gonx)), 1000, 1000, &[]),
        ("lnav/logfile_w3c_big.0", None, 254, 210, &[]),
        ("brianary-scripts/u_ex100815.log", None, 56, 16, &[]),
        // Line 2 lacks the ident and user fields; lnav rejects it too.
        ("lnav/logfile_bad_access_log.0", None, 3, 2, &[2]),
    ];
    for (file, format, lines, parsed, rejected) in cases {
        let mut options = ScanOptions::new(match format {
            Some(g) => FormatChoice::Fixed(g.clone()),
            None => FormatChoice::Detect(builtin::all().to_vec()),
        });
        options.max_samples = 10;
        let result = check_source(&Source::Path(dir.join(file)), &mut options);
        eprintln!(
            "  {file:<44} {} lines, parsed {} ({:.2}%) with {}",
            result.lines,
            result.parsed,
            result.coverage(),
            result.grammars.join(" + ")
        );
        assert_eq!(result.error, None, "{file}");
        assert_eq!(
            (result.lines, result.parsed),
            (*lines, *parsed),
            "{file}: {:?}",
            result.samples
        );
        let got: Vec<u64> = result.samples.iter().map(|s| s.line).collect();
        assert_eq!(got, *rejected, "{file}: {:?}", result.samples);
    }
}
