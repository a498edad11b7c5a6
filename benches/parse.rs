//! Single-thread parse throughput per built-in grammar, all fields typed.
//!
//! `cargo bench` (or `cargo bench --bench parse -- --mb 1000` for a bigger
//! input). A deterministic log is generated for each grammar, held in
//! memory, and parsed line by line on one core; every record's time,
//! status, bytes, request line, client, referer, agent, request time and
//! upstream attempts are decoded. Reports the median of several runs in
//! MB/s and lines/s. For nginx `combined` the same bytes are also written to
//! `target/bench/combined.log` and timed with `wc -l` in the same run, the
//! yardstick the parse goal is set against. For nginx `combined` and
//! `upstream` the whole report pipeline is timed too, on one core, from a
//! file (as `logspike report --threads 1` reads one).

use std::hint::black_box;
use std::io::Write;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use logspike::grammar::builtin::Registry;
use logspike::grammar::Grammar;
use logspike::parse::{LineParser, Outcome};

/// A small deterministic generator (SplitMix64); no dependency needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const PATHS: &[&str] = &[
    "/",
    "/api/v1/users/{}",
    "/api/v1/users/{}/orders",
    "/static/js/app.{}.js",
    "/images/products/{}.jpg",
    "/search?q=shoes&page={}",
    "/checkout/cart?item={}",
    "/health",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "curl/8.5.0",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
];
const MONTHS: &[&str] = &["Nov"];

/// One line of `grammar` with realistic values; time advances slowly, as
/// in a real log, so consecutive lines share their second.
fn line(rng: &mut Rng, grammar: &str, n: u64, out: &mut Vec<u8>) {
    let secs = n / 40;
    let (h, m, s) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let day = 1 + secs / 86_400 % 28;
    let ip = format!(
        "{}.{}.{}.{}",
        rng.below(223) + 1,
        rng.below(256),
        rng.below(256),
        rng.below(254) + 1
    );
    let path = rng
        .pick(PATHS)
        .replace("{}", &rng.below(100_000).to_string());
    let method = if rng.below(10) < 8 { "GET" } else { "POST" };
    let status = [200, 200, 200, 200, 200, 200, 304, 404, 502, 503][rng.below(10) as usize];
    let bytes = rng.below(50_000);
    let referer = if rng.below(2) == 0 {
        "-"
    } else {
        "https://www.example.com/"
    };
    let agent = rng.pick(AGENTS);
    let clf = format!("{day:02}/{}/2026:{h:02}:{m:02}:{s:02} +0100", MONTHS[0]);
    let rt = rng.below(2000);
    let ups = format!("10.0.1.{}:8080", rng.below(4) + 1);
    let _ = match grammar {
        "nginx-combined" | "apache-combined" => writeln!(
            out,
            r#"{ip} - - [{clf}] "{method} {path} HTTP/1.1" {status} {bytes} "{referer}" "{agent}""#
        ),
        "nginx-main" => writeln!(
            out,
            r#"{ip} - - [{clf}] "{method} {path} HTTP/1.1" {status} {bytes} "{referer}" "{agent}" "-""#
        ),
        "nginx-upstream" => writeln!(
            out,
            r#"{ip} - - [{clf}] "{method} {path} HTTP/1.1" {status} {bytes} "{referer}" "{agent}" 0.{rt:03} {ups} {status} 0.{rt:03} 0.001 0.{rt:03}"#
        ),
        "nginx-upstreaminfo" => writeln!(
            out,
            r#"{ip} - - [{clf}] "{method} {path} HTTP/1.1" {status} {bytes} "{referer}" "{agent}" 512 0.{rt:03} [default-web-8080] [] {ups} {bytes} 0.{rt:03} {status} {:032x}"#,
            rng.next()
        ),
        "apache-common" => writeln!(
            out,
            r#"{ip} - - [{clf}] "{method} {path} HTTP/1.1" {status} {bytes}"#
        ),
        "apache-vhost_combined" => writeln!(
            out,
            r#"www.example.com:443 {ip} - - [{clf}] "{method} {path} HTTP/1.1" {status} {bytes} "{referer}" "{agent}""#
        ),
        "iis-w3c" => writeln!(
            out,
            "2026-11-{day:02} {h:02}:{m:02}:{s:02} 10.1.0.4 {method} {} {} 443 - {ip} {} - {status} 0 0 {rt}",
            path.split('?').next().unwrap_or("/"),
            path.split_once('?').map_or("-", |(_, q)| q),
            agent.replace(' ', "+")
        ),
        other => panic!("no generator for {other}"),
    };
}

fn generate(grammar: &str, target_bytes: usize) -> Vec<u8> {
    let mut rng = Rng(0x5EED_0000 ^ grammar.len() as u64);
    let mut out = Vec::with_capacity(target_bytes + 1024);
    if grammar == "iis-w3c" {
        out.extend_from_slice(b"#Software: Microsoft Internet Information Services 10.0\n#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\n");
    }
    let mut n = 0;
    while out.len() < target_bytes {
        line(&mut rng, grammar, n, &mut out);
        n += 1;
    }
    out
}

/// Parses every line and decodes every typed field; returns a checksum so
/// nothing is optimised away, and the number of records.
#[inline(never)]
fn parse_all(grammar: &Arc<Grammar>, data: &[u8]) -> (u64, u64) {
    let mut parser = LineParser::new(std::slice::from_ref(grammar));
    let mut sum = 0u64;
    let mut records = 0u64;
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', data) {
        let line = &data[start..end];
        start = end + 1;
        if let Outcome::Record(r) = parser.parse(line) {
            records += 1;
            sum = sum.wrapping_add(r.time().map_or(0, |t| t.micros as u64));
            sum = sum.wrapping_add(r.status().unwrap_or(0) as u64);
            sum = sum.wrapping_add(r.bytes().unwrap_or(0));
            let req = r.request();
            sum = sum.wrapping_add(req.method.map_or(0, |m| m.len() as u64));
            sum = sum.wrapping_add(req.path.map_or(0, |p| p.raw.len() as u64));
            sum = sum.wrapping_add(req.query.map_or(0, |q| q.raw.len() as u64));
            sum = sum.wrapping_add(req.protocol.map_or(0, |p| p.len() as u64));
            sum = sum.wrapping_add(r.remote_addr().map_or(0, |v| v.raw.len() as u64));
            sum = sum.wrapping_add(r.referer().map_or(0, |v| v.raw.len() as u64));
            sum = sum.wrapping_add(r.user_agent().map_or(0, |v| v.raw.len() as u64));
            sum = sum.wrapping_add(r.request_time().map_or(0, |t| (t * 1e6) as u64));
            for a in r.upstreams() {
                sum = sum.wrapping_add(a.status.unwrap_or(0) as u64);
                sum = sum.wrapping_add(a.response_time.map_or(0, |t| (t * 1e6) as u64));
                sum = sum.wrapping_add(a.addr.map_or(0, |x| x.len() as u64));
            }
        }
    }
    (sum, records)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mb: usize = args
        .iter()
        .position(|a| a == "--mb")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let runs: usize = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let only = args
        .iter()
        .position(|a| a == "--grammar")
        .and_then(|i| args.get(i + 1))
        .cloned();
    // `--write FILE`: only write the generated log (for benches/compare.sh).
    if let Some(path) = args
        .iter()
        .position(|a| a == "--write")
        .and_then(|i| args.get(i + 1))
    {
        let name = only.as_deref().unwrap_or("nginx-combined");
        let mut file =
            std::io::BufWriter::new(std::fs::File::create(path).expect("create the log"));
        let mut rng = Rng(0x5EED_0000 ^ name.len() as u64);
        let mut buf = Vec::with_capacity(1 << 20);
        let (mut written, mut n) = (0usize, 0u64);
        while written < mb << 20 {
            buf.clear();
            while buf.len() < 1 << 20 {
                line(&mut rng, name, n, &mut buf);
                n += 1;
            }
            file.write_all(&buf).expect("write the log");
            written += buf.len();
        }
        file.flush().expect("write the log");
        println!("wrote {} MB, {n} lines of {name} to {path}", written >> 20);
        return;
    }
    let registry = Registry::new();
    println!("single-thread parse, all fields typed, {mb} MB per grammar, median of {runs} runs");
    for name in [
        "nginx-combined",
        "nginx-main",
        "nginx-upstream",
        "nginx-upstreaminfo",
        "apache-common",
        "apache-combined",
        "apache-vhost_combined",
        "iis-w3c",
    ] {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let grammar = registry.find(name).expect("built-in grammar");
        let data = generate(name, mb << 20);
        let lines = memchr::memchr_iter(b'\n', &data).count() as f64;
        let mut secs = Vec::new();
        let mut records = 0;
        for _ in 0..runs {
            let t = Instant::now();
            let (sum, n) = parse_all(&grammar, black_box(&data));
            secs.push(t.elapsed().as_secs_f64());
            black_box(sum);
            records = n;
        }
        let s = median(secs);
        assert!(
            records as f64 >= lines - 2.0,
            "{name}: only {records} of {lines} lines parsed"
        );
        println!(
            "{name:<24} {:>8.0} MB/s {:>6.2} M lines/s  ({:.3} s for {:.0} MB, {} lines)",
            data.len() as f64 / s / 1e6,
            lines / s / 1e6,
            s,
            data.len() as f64 / 1e6,
            lines
        );
        if name == "nginx-combined" {
            wc_baseline(&data, runs);
        }
        if matches!(name, "nginx-combined" | "nginx-upstream") {
            report_pipeline(name, grammar.clone(), &data, runs);
        }
    }
}

/// Times the whole report on one core: the file mapped and scanned, every
/// line folded into windows, tables and the finder's series, the chunks
/// merged, incidents found and the report assembled (no output written).
fn report_pipeline(name: &str, grammar: Arc<Grammar>, data: &[u8], runs: usize) {
    use logspike::detect::FormatChoice;
    use logspike::input::Source;
    use logspike::report::ReportOptions;
    use logspike::scan::ScanOptions;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    let path = dir.join(format!("{name}.log"));
    if std::fs::create_dir_all(&dir).is_err() || std::fs::write(&path, data).is_err() {
        println!("  report, {name}: could not write {}", path.display());
        return;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a thread pool");
    let sources = [Source::Path(path.clone())];
    let options = ReportOptions::default();
    let lines = memchr::memchr_iter(b'\n', data).count() as f64;
    let mut secs = Vec::new();
    for _ in 0..runs {
        let mut scan = ScanOptions::new(FormatChoice::Fixed(grammar.clone()));
        let t = Instant::now();
        let report = pool.install(|| logspike::report::build(&sources, &mut scan, &options));
        secs.push(t.elapsed().as_secs_f64());
        assert_eq!(report.summary.requests as f64, lines, "{name}: requests");
    }
    let _ = std::fs::remove_file(&path);
    let s = median(secs);
    println!(
        "{:<24} {:>8.0} MB/s {:>6.2} M lines/s  ({:.3} s, whole report, one thread)",
        "  report (same bytes)",
        data.len() as f64 / s / 1e6,
        lines / s / 1e6,
        s
    );
}

/// Times `wc -l` on the same bytes from a file (page cache warm).
fn wc_baseline(data: &[u8], runs: usize) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let path = dir.join("combined.log");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let mut secs = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let ok = Command::new("wc")
            .arg("-l")
            .arg(&path)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            println!("{:<24} (wc not available)", "wc -l");
            return;
        }
        secs.push(t.elapsed().as_secs_f64());
    }
    let s = median(secs);
    println!(
        "{:<24} {:>8.0} MB/s               ({:.3} s, same bytes, from {})",
        "  wc -l (same run)",
        data.len() as f64 / s / 1e6,
        s,
        path.display()
    );
}
