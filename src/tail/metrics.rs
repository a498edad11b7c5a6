//! Prometheus text metrics for `--metrics ADDR`.
//!
//! The follower updates one [`Metrics`] behind a mutex once per chunk of
//! lines; the server thread renders it per scrape, in the text exposition
//! format (version 0.0.4). The server is a small loop of its own (see
//! [`serve`]): it must keep answering with idle clients and few
//! descriptors, which a thread per connection did not.

use super::TailError;
use crate::tail::log::say;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::analysis::{HashMap, OTHER};

/// Most upstreams labelled; the rest are counted as `(other)`.
const MAX_UPSTREAMS: usize = 1000;

#[derive(Debug, Default)]
pub struct Metrics {
    pub lines: u64,
    pub parsed: u64,
    pub rejected: u64,
    pub bytes: u64,
    /// Parsed lines with a time older than every rule's window.
    pub late: u64,
    /// Parsed lines a filter left out.
    pub filtered: u64,
    pub requests: BTreeMap<u16, u64>,
    upstreams: HashMap<String, BTreeMap<u16, u64>>,
    pub fired: BTreeMap<String, u64>,
    pub active: Vec<(String, String)>,
    pub files: usize,
    /// Newest log second seen.
    pub log_time: Option<i64>,
    pub exec_failures: u64,
    /// Per `--alertmanager` and `--webhook` destination: sent, failed,
    /// dropped, abandoned.
    pub deliveries: Vec<(String, [u64; 4])>,
    /// Per upstream (under the same cap as `upstreams`): the request time
    /// of the requests it answered last, and its own response times.
    latency: HashMap<String, (Histogram, Histogram)>,
}

/// Prometheus's default bucket bounds, in seconds: fixed, so that
/// histograms of many tails and many scrapes add up.
pub const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Counts per bucket (not cumulative; the `+Inf` one last), sum, count.
#[derive(Debug, Default, Clone)]
pub struct Histogram {
    buckets: [u64; BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Histogram {
    pub fn observe(&mut self, seconds: f64) {
        if !seconds.is_finite() || seconds < 0.0 {
            return;
        }
        let i = BUCKETS.partition_point(|&b| b < seconds);
        self.buckets[i] += 1;
        self.sum += seconds;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, upstream: &str) {
        let mut cumulative = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            cumulative += n;
            let le = BUCKETS.get(i).map_or("+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(
                out,
                "{name}_bucket{{upstream=\"{upstream}\",le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(out, "{name}_sum{{upstream=\"{upstream}\"}} {}", self.sum);
        let _ = writeln!(
            out,
            "{name}_count{{upstream=\"{upstream}\"}} {}",
            self.count
        );
    }
}

impl Metrics {
    /// An attempt's response time (`response`) and, for the attempt that
    /// answered the client, the request's time (`request`).
    pub fn latency(&mut self, addr: &str, request: Option<f64>, response: Option<f64>) {
        if request.is_none() && response.is_none() {
            return;
        }
        let key = if self.latency.contains_key(addr) || self.latency.len() < MAX_UPSTREAMS {
            addr
        } else {
            OTHER
        };
        if !self.latency.contains_key(key) {
            self.latency.insert(key.to_string(), Default::default());
        }
        if let Some(h) = self.latency.get_mut(key) {
            if let Some(t) = request {
                h.0.observe(t);
            }
            if let Some(t) = response {
                h.1.observe(t);
            }
        }
    }

    pub fn upstream(&mut self, addr: &str, status: u16) {
        let key = if self.upstreams.contains_key(addr) || self.upstreams.len() < MAX_UPSTREAMS {
            addr
        } else {
            OTHER
        };
        match self.upstreams.get_mut(key) {
            Some(m) => *m.entry(status).or_default() += 1,
            None => {
                self.upstreams
                    .insert(key.to_string(), BTreeMap::from([(status, 1)]));
            }
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let mut family = |name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            name.to_string()
        };
        let lines = family(
            "logspike_lines_total",
            "counter",
            "Lines read, by what they turned out to be.",
        );
        let mut body = String::new();
        for (result, n) in [("parsed", self.parsed), ("rejected", self.rejected)] {
            let _ = writeln!(body, "{lines}{{result=\"{result}\"}} {n}");
        }
        let _ = writeln!(
            body,
            "{lines}{{result=\"other\"}} {}",
            self.lines.saturating_sub(self.parsed + self.rejected)
        );
        out.push_str(&body);
        let simple = |out: &mut String, name: &str, kind: &str, help: &str, v: String| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        };
        simple(
            &mut out,
            "logspike_read_bytes_total",
            "counter",
            "Bytes read from followed files.",
            self.bytes.to_string(),
        );
        simple(
            &mut out,
            "logspike_late_lines_total",
            "counter",
            "Parsed lines older than every alert window when they arrived.",
            self.late.to_string(),
        );
        simple(
            &mut out,
            "logspike_filtered_lines_total",
            "counter",
            "Parsed lines that --where, --host, --upstream, --status or --path-prefix left out.",
            self.filtered.to_string(),
        );
        simple(
            &mut out,
            "logspike_files",
            "gauge",
            "Paths followed.",
            self.files.to_string(),
        );
        simple(
            &mut out,
            "logspike_exec_failures_total",
            "counter",
            "--exec commands that failed or timed out.",
            self.exec_failures.to_string(),
        );
        if let Some(t) = self.log_time {
            simple(
                &mut out,
                "logspike_log_time_seconds",
                "gauge",
                "Newest log timestamp seen (Unix seconds).",
                t.to_string(),
            );
        }

        let _ = writeln!(
            out,
            "# HELP logspike_requests_total Requests by response status.\n\
             # TYPE logspike_requests_total counter"
        );
        for (status, n) in &self.requests {
            let _ = writeln!(
                out,
                "logspike_requests_total{{status=\"{}\"}} {n}",
                status_label(*status)
            );
        }

        if !self.deliveries.is_empty() {
            let _ = writeln!(
                out,
                "# HELP logspike_alert_deliveries_total Alert requests to --alertmanager and --webhook destinations: sent, failed (each try), dropped (queue full), abandoned (every try failed).\n\
                 # TYPE logspike_alert_deliveries_total counter"
            );
            for (name, counts) in &self.deliveries {
                for (result, n) in ["sent", "failed", "dropped", "abandoned"]
                    .iter()
                    .zip(counts)
                {
                    let _ = writeln!(
                        out,
                        "logspike_alert_deliveries_total{{destination=\"{}\",result=\"{result}\"}} {n}",
                        escape(name)
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP logspike_upstream_responses_total Upstream attempts by upstream and the status it answered.\n\
             # TYPE logspike_upstream_responses_total counter"
        );
        let mut upstreams: Vec<_> = self.upstreams.iter().collect();
        upstreams.sort_by(|a, b| a.0.cmp(b.0));
        for (addr, statuses) in &upstreams {
            for (status, n) in statuses.iter() {
                let _ = writeln!(
                    out,
                    "logspike_upstream_responses_total{{upstream=\"{}\",status=\"{}\"}} {n}",
                    escape(addr),
                    status_label(*status)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP logspike_upstream_5xx_total Upstream attempts answered with a 5xx, by upstream.\n\
             # TYPE logspike_upstream_5xx_total counter"
        );
        for (addr, statuses) in &upstreams {
            let n: u64 = statuses.range(500..600).map(|(_, n)| n).sum();
            let _ = writeln!(
                out,
                "logspike_upstream_5xx_total{{upstream=\"{}\"}} {n}",
                escape(addr)
            );
        }

        let mut latency: Vec<_> = self.latency.iter().collect();
        latency.sort_by(|a, b| a.0.cmp(b.0));
        for (name, help, pick) in [
            (
                "logspike_request_duration_seconds",
                "Request time of the requests each upstream answered last (the client's wait).",
                0,
            ),
            (
                "logspike_upstream_response_seconds",
                "Each upstream attempt's response time.",
                1,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
            for (addr, h) in &latency {
                let h = if pick == 0 { &h.0 } else { &h.1 };
                if h.count > 0 {
                    h.render(&mut out, name, &escape(addr));
                }
            }
        }

        let _ = writeln!(
            out,
            "# HELP logspike_alerts_fired_total Alerts fired, by rule.\n\
             # TYPE logspike_alerts_fired_total counter"
        );
        for (rule, n) in &self.fired {
            let _ = writeln!(
                out,
                "logspike_alerts_fired_total{{rule=\"{}\"}} {n}",
                escape(rule)
            );
        }
        let _ = writeln!(
            out,
            "# HELP logspike_alert_active Alerts firing now, by rule and key (1 while firing).\n\
             # TYPE logspike_alert_active gauge"
        );
        for (rule, key) in &self.active {
            let _ = writeln!(
                out,
                "logspike_alert_active{{rule=\"{}\",key=\"{}\"}} 1",
                escape(rule),
                escape(key)
            );
        }
        out
    }
}

/// `-` (a status the log did not have) is status 0 inside.
fn status_label(code: u16) -> String {
    if code == 0 {
        "-".into()
    } else {
        code.to_string()
    }
}

/// Label values escape backslash, double quote and newline, as the format
/// says; other control characters (a NUL from a hostile log line) are
/// written as the text `\xNN`, which some parsers would otherwise refuse.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\\\x{:02X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// Serves `/metrics` on `addr` from a thread of its own; returns the
/// address bound (port 0 picks a free one).
/// Connections held at once. A scrape is one short request; more than
/// this many open at once are idle or hostile, and the oldest is closed to
/// let a new one in.
pub const MAX_CONNECTIONS: usize = 64;
/// A connection that has not sent a whole request by then is closed.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest request head read.
const MAX_REQUEST: usize = 8192;

/// One client: its socket, what it sent so far, and since when.
struct Connection {
    stream: TcpStream,
    request: Vec<u8>,
    since: Instant,
}

/// Serves `/metrics` on `addr` from a thread of its own; returns the
/// address bound (a port of 0 picks one).
///
/// One thread and non-blocking sockets: at most [`MAX_CONNECTIONS`] at
/// once (the oldest is dropped for a new one), each closed after
/// [`REQUEST_TIMEOUT`] without a whole request, so idle or slow clients
/// cannot hold scrapes off. When descriptors run out, accepting pauses and
/// resumes once they free up (said on stderr once per episode); a thread
/// per connection used to die there for good.
pub fn serve(addr: &str, metrics: Arc<Mutex<Metrics>>) -> Result<SocketAddr, TailError> {
    let listener = TcpListener::bind(addr).map_err(|source| TailError::Listen {
        addr: addr.to_string(),
        source,
    })?;
    let failed = |source| TailError::Metrics {
        addr: addr.to_string(),
        source,
    };
    listener.set_nonblocking(true).map_err(failed)?;
    let bound = listener.local_addr().map_err(failed)?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || serve_loop(listener, metrics))
        .map_err(|source| TailError::Thread {
            what: "metrics",
            source,
        })?;
    Ok(bound)
}

fn serve_loop(listener: TcpListener, metrics: Arc<Mutex<Metrics>>) {
    let mut open: Vec<Connection> = Vec::new();
    let mut starved = false;
    loop {
        let mut busy = false;
        // Take every waiting connection.
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    busy = true;
                    if starved {
                        say!(Info, "metrics: accepting connections again");
                        starved = false;
                    }
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    if open.len() >= MAX_CONNECTIONS {
                        open.remove(0);
                    }
                    open.push(Connection {
                        stream,
                        request: Vec::new(),
                        since: Instant::now(),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors (EMFILE, ENFILE) or another
                    // passing fault: let the open connections finish and
                    // try again shortly.
                    if !starved {
                        say!(Warning, "metrics: cannot accept ({e}); retrying");
                        starved = true;
                    }
                    // Connections idle for a second are the likeliest
                    // hogs: closing them frees descriptors for scrapes.
                    open.retain(|c| c.since.elapsed() < Duration::from_secs(1));
                    break;
                }
            }
        }
        // Read what each has sent; answer a whole request.
        open.retain_mut(|c| {
            let mut buf = [0u8; 2048];
            loop {
                match c.stream.read(&mut buf) {
                    Ok(0) => return false,
                    Ok(n) => {
                        busy = true;
                        c.request.extend_from_slice(&buf[..n]);
                        if c.request.len() > MAX_REQUEST {
                            return false;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return false,
                }
            }
            if memchr::memmem::find(&c.request, b"\r\n\r\n").is_some()
                || memchr::memmem::find(&c.request, b"\n\n").is_some()
            {
                respond(&mut c.stream, &c.request, &metrics);
                return false;
            }
            c.since.elapsed() < REQUEST_TIMEOUT
        });
        if !busy {
            std::thread::sleep(Duration::from_millis(if starved { 100 } else { 10 }));
        }
    }
}

/// Answers one request and lets the connection close.
fn respond(stream: &mut TcpStream, request: &[u8], metrics: &Mutex<Metrics>) {
    let line = request.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut words = line.split(|&b| b == b' ');
    let method = words.next().unwrap_or_default();
    let target = words.next().unwrap_or_default();
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    let (status, kind, body) = if method != b"GET" && method != b"HEAD" {
        (
            "405 Method Not Allowed",
            "text/plain",
            "only GET\n".to_string(),
        )
    } else if path == b"/metrics" || path == b"/" {
        let body = match metrics.lock() {
            Ok(m) => m.render(),
            Err(poisoned) => poisoned.into_inner().render(),
        };
        ("200 OK", "text/plain; version=0.0.4; charset=utf-8", body)
    } else {
        (
            "404 Not Found",
            "text/plain",
            "not found; metrics are at /metrics\n".to_string(),
        )
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    // A slow reader gets a second to take the answer; one that went away
    // is its own problem.
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = stream.write_all(head.as_bytes());
    if method != b"HEAD" {
        let _ = stream.write_all(body.as_bytes());
    }
    let _ = stream.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_use_fixed_inclusive_bounds_and_stay_bounded() {
        let mut h = Histogram::default();
        for t in [0.0, 0.005, 0.0051, 10.0, 11.0, f64::NAN, -1.0] {
            h.observe(t);
        }
        assert_eq!(h.count, 5, "NaN and negative times are not times");
        assert_eq!(h.buckets[0], 2, "0 and 0.005 are le=0.005");
        assert_eq!(h.buckets[1], 1);
        assert_eq!(h.buckets[BUCKETS.len() - 1], 1, "10 is le=10");
        assert_eq!(h.buckets[BUCKETS.len()], 1, "11 is +Inf only");
        let mut out = String::new();
        h.render(&mut out, "x", "u");
        assert!(
            out.contains("x_bucket{upstream=\"u\",le=\"0.01\"} 3\n"),
            "{out}"
        );
        assert!(
            out.contains("x_bucket{upstream=\"u\",le=\"+Inf\"} 5\n"),
            "{out}"
        );

        let mut m = Metrics::default();
        for i in 0..MAX_UPSTREAMS + 50 {
            m.latency(
                &format!("10.0.{}.{}:80", i / 250, i % 250),
                Some(0.1),
                Some(0.1),
            );
        }
        assert_eq!(m.latency.len(), MAX_UPSTREAMS + 1);
        assert_eq!(m.latency[OTHER].0.count, 50);
    }

    #[test]
    fn renders_labels_escaped() {
        let mut m = Metrics::default();
        m.requests.insert(503, 2);
        m.upstream("a\"b", 503);
        m.active.push(("503 >= 1 in 1s".into(), "x\\y".into()));
        m.active.push(("503 >= 1 in 1s".into(), "nul\0".into()));
        let text = m.render();
        assert!(text.contains("logspike_requests_total{status=\"503\"} 2"));
        assert!(text.contains("upstream=\"a\\\"b\",status=\"503\"} 1"));
        assert!(text.contains("logspike_upstream_5xx_total{upstream=\"a\\\"b\"} 1"));
        assert!(text.contains("key=\"x\\\\y\"} 1"));
        assert!(text.contains("key=\"nul\\\\x00\"} 1"), "{text}");
    }
}
