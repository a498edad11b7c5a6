//! Prometheus text metrics for `--metrics ADDR`.
//!
//! The follower updates one [`Metrics`] behind a mutex once per chunk of
//! lines; the server thread renders it per scrape, in the text exposition
//! format (version 0.0.4).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

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
    pub requests: BTreeMap<u16, u64>,
    upstreams: HashMap<String, BTreeMap<u16, u64>>,
    pub fired: BTreeMap<String, u64>,
    pub active: Vec<(String, String)>,
    pub files: usize,
    /// Newest log second seen.
    pub log_time: Option<i64>,
    pub exec_failures: u64,
}

impl Metrics {
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
pub fn serve(addr: &str, metrics: Arc<Mutex<Metrics>>) -> Result<SocketAddr, String> {
    let server = tiny_http::Server::http(addr)
        .map_err(|e| format!("--metrics {addr}: cannot listen: {e}"))?;
    let bound = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| format!("--metrics {addr}: not an IP address"))?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for request in server.incoming_requests() {
                let url = request.url().split('?').next().unwrap_or("");
                let response = if url == "/metrics" || url == "/" {
                    let body = match metrics.lock() {
                        Ok(m) => m.render(),
                        Err(poisoned) => poisoned.into_inner().render(),
                    };
                    tiny_http::Response::from_string(body).with_header(
                        tiny_http::Header::from_bytes(
                            &b"Content-Type"[..],
                            &b"text/plain; version=0.0.4; charset=utf-8"[..],
                        )
                        .expect("a valid header"),
                    )
                } else {
                    tiny_http::Response::from_string("not found; metrics are at /metrics\n")
                        .with_status_code(404)
                };
                // A client that went away is its own problem.
                let _ = request.respond(response);
            }
        })
        .map_err(|e| format!("--metrics: cannot start its thread: {e}"))?;
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

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
