//! From lines to alerts: each parsed line is counted, fed to the rules
//! on the log's clock (its newest timestamp, carried on by the wall clock)
//! and to the live incident finder; what they raise becomes alerts.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::analysis::spikes::live::{Change, Live, Spike};
use crate::analysis::PathNormalizer;
use crate::parse::{strip_eol, LineParser, Outcome};

use super::follow::LineSink;
use super::metrics::Metrics;
use super::rules::{Alert, AlertState, Differs, Hit, LineRef, Rules, Top};
use super::{Summary, FUTURE_SLACK};

/// Rejected lines shown per file.
pub(super) const SHOW_REJECTS: u64 = 5;
/// Upstream attempts of one line the rules look at.
pub(super) const MAX_ATTEMPTS: usize = 8;

pub(super) fn wall_seconds() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The log's clock: newest timestamp, carried on by the wall clock.
#[derive(Default)]
pub(super) struct Clock {
    pub(super) newest: Option<(i64, Instant)>,
}

impl Clock {
    /// Takes a line's second; returns the time the clock showed before when
    /// this second moves it on (that second is then complete).
    pub(super) fn see(&mut self, second: i64) -> Option<i64> {
        if self.newest.is_some_and(|(s, _)| second <= s) {
            return None;
        }
        let before = self.now();
        self.newest = Some((second, Instant::now()));
        before.filter(|&b| second > b)
    }

    pub(super) fn now(&self) -> Option<i64> {
        self.newest.map(|(s, at)| s + at.elapsed().as_secs() as i64)
    }
}

/// Lines in, counts and alerts out.
pub(super) struct Engine {
    pub(super) rules: Rules,
    pub(super) spike: Option<Live>,
    /// Followed files' names by index, for a spike's first line.
    pub(super) names: crate::analysis::HashMap<u32, Arc<str>>,
    pub(super) longest_window: i64,
    pub(super) clock: Clock,
    /// The wall clock in Unix seconds, read once per look at the files.
    pub(super) wall: i64,
    pub(super) summary: Summary,
    pub(super) paths: PathNormalizer,
    pub(super) filter: crate::analysis::Filter,
    pub(super) path_buf: Vec<u8>,
    /// Rejected lines per file index.
    pub(super) rejects: crate::analysis::HashMap<usize, u64>,
    pub(super) notes: Vec<String>,
    /// Alerts raised while reading, sent once the read is done.
    pub(super) alerts: Vec<Alert>,
}

impl Engine {
    /// Lets the spike rule judge up to log second `now`; its alerts join
    /// the others.
    pub(super) fn tick_spike(&mut self, now: i64) {
        let Some(live) = self.spike.as_mut() else {
            return;
        };
        for (change, spike) in live.tick(now) {
            self.alerts.push(spike_alert(change, &spike, &self.names));
        }
    }

    /// Rules firing now, the spike's open incidents among them.
    pub(super) fn active(&self) -> Vec<(String, String)> {
        let mut v = self.rules.active();
        if let Some(live) = &self.spike {
            v.extend(
                live.open()
                    .iter()
                    .map(|s| ("spike".to_string(), s.announced.clone())),
            );
        }
        v
    }

    /// Counts a rejected line; the first few per file are shown.
    pub(super) fn reject(
        &mut self,
        m: &mut Metrics,
        file: usize,
        describe: impl FnOnce() -> String,
    ) {
        self.summary.rejected += 1;
        m.rejected += 1;
        let n = {
            let n = self.rejects.entry(file).or_default();
            *n += 1;
            *n
        };
        if n <= SHOW_REJECTS {
            let more = if n == SHOW_REJECTS {
                " (further rejections of this file are only counted)"
            } else {
                ""
            };
            self.notes.push(format!("{}{more}", describe()));
        }
    }
}

/// The engine and the metrics, locked for one poll.
pub(super) struct Handler<'a> {
    pub(super) engine: &'a mut Engine,
    pub(super) metrics: &'a mut Metrics,
}

impl LineSink for Handler<'_> {
    fn line(
        &mut self,
        file: usize,
        name: &Arc<str>,
        parser: &mut LineParser,
        line: &[u8],
        offset: u64,
    ) {
        let e = &mut *self.engine;
        let m = &mut *self.metrics;
        e.summary.lines += 1;
        m.lines += 1;
        m.bytes += line.len() as u64;
        match parser.parse(line) {
            Outcome::Record(r) => {
                e.summary.parsed += 1;
                m.parsed += 1;
                let second = r
                    .time()
                    .map(|t| t.micros.div_euclid(1_000_000))
                    .filter(|&s| s <= e.wall + FUTURE_SLACK);
                if let Some(s) = second {
                    // Each second of log time is judged when the next one
                    // begins, so a burst inside a large read (a replay, a
                    // catch-up after a restart) is not slid past unseen.
                    if let Some(done) = e.clock.see(s) {
                        let alerts = e.rules.tick(done);
                        e.alerts.extend(alerts);
                        e.tick_spike(done);
                    }
                    m.log_time = Some(m.log_time.map_or(s, |t| t.max(s)));
                }
                // A record left out still moved the log clock on above, so
                // windows close on time when the filter keeps few lines.
                if !e.filter.keeps(&r) {
                    e.summary.filtered += 1;
                    m.filtered += 1;
                    return;
                }
                let status = r.status().unwrap_or(0);
                *e.summary.statuses.entry(status).or_default() += 1;
                *m.requests.entry(status).or_default() += 1;
                let mut ups: [(&str, u16); MAX_ATTEMPTS] = [("", 0); MAX_ATTEMPTS];
                let mut n = 0;
                let attempts = r.upstreams().count();
                for (i, a) in r.upstreams().enumerate() {
                    let Some(addr) = a.addr else { continue };
                    let addr = std::str::from_utf8(addr).unwrap_or("(not UTF-8)");
                    let code = a.status.unwrap_or(0);
                    m.upstream(addr, code);
                    // The request's time belongs to the attempt that answered.
                    let last = i + 1 == attempts;
                    m.latency(addr, r.request_time().filter(|_| last), a.response_time);
                    if n < MAX_ATTEMPTS {
                        ups[n] = (addr, code);
                        n += 1;
                    }
                }
                if let Some(live) = e.spike.as_mut() {
                    // Standard input is file usize::MAX: u32::MAX here.
                    let index = file.min(u32::MAX as usize) as u32;
                    e.names.entry(index).or_insert_with(|| name.clone());
                    live.add(&r, index, offset);
                }
                let Some(now) = e.clock.now() else { return };
                let second = second.unwrap_or(now);
                if second <= now - e.longest_window {
                    e.summary.late += 1;
                    m.late += 1;
                    return;
                }
                let request = r.request();
                match request.path {
                    Some(p) => e.paths.normalize(&p.decode(), &mut e.path_buf),
                    None => {
                        e.path_buf.clear();
                        e.path_buf.extend_from_slice(b"(no path)");
                    }
                }
                let path = String::from_utf8_lossy(&e.path_buf);
                let fill = |l: &mut LineRef| {
                    l.file.clear();
                    l.file.push_str(name);
                    l.offset = offset;
                    l.text.clear();
                    let text = strip_eol(line);
                    let text = &text[..text.len().min(super::rules::MAX_LINE_TEXT)];
                    l.text.push_str(&String::from_utf8_lossy(text));
                };
                e.rules.add(
                    &Hit {
                        second,
                        status,
                        upstreams: &ups[..n],
                        path: &path,
                        line: &fill,
                    },
                    now,
                );
            }
            Outcome::Rejected(reject) => {
                e.reject(m, file, || {
                    let text = strip_eol(line);
                    format!(
                        "{name}@{offset}: rejected: {}\n  | {}",
                        parser.describe(&reject, line),
                        crate::text::escape_bytes(&text[..text.len().min(300)])
                    )
                });
            }
            Outcome::Directive | Outcome::Blank => {}
        }
    }

    fn too_long(&mut self, file: usize, name: &Arc<str>, offset: u64) {
        self.engine.summary.lines += 1;
        self.metrics.lines += 1;
        self.engine.reject(self.metrics, file, || {
            format!(
                "{name}@{offset}: rejected: longer than {} bytes",
                crate::parse::MAX_LINE
            )
        });
    }

    fn note(&mut self, message: String) {
        self.engine.notes.push(message);
    }
}

pub(super) fn rfc3339_micros(t: i64) -> String {
    crate::parse::Timestamp {
        micros: t,
        offset_secs: 0,
    }
    .to_rfc3339_utc()
}

/// A spike incident starting or ending, as an alert every sink knows.
pub(super) fn spike_alert(
    change: Change,
    spike: &Spike,
    names: &crate::analysis::HashMap<u32, Arc<str>>,
) -> Alert {
    let top = |v: &[(String, u64)]| -> Vec<Top> {
        v.iter()
            .map(|(key, count)| Top {
                key: key.clone(),
                count: *count,
            })
            .collect()
    };
    let first_line = spike.first.map(|p| LineRef {
        file: names
            .get(&p.file)
            .map_or_else(String::new, |n| n.to_string()),
        offset: p.line,
        text: String::new(),
    });
    Alert {
        rule: "spike".to_string(),
        state: match change {
            Change::Started => AlertState::Firing,
            Change::Ended => AlertState::Resolved,
        },
        key: Some(spike.announced.clone()),
        by: None,
        window_start: rfc3339_micros(spike.start),
        window_end: rfc3339_micros(spike.end),
        count: spike.errors,
        total: spike.requests,
        rate: Some(spike.error_rate),
        peak: spike.peak_errors,
        top_upstreams: top(&spike.upstreams),
        top_paths: top(&spike.paths),
        first_line,
        last_line: None,
        scope: Some(spike.scope.clone()),
        baseline_rate: Some(spike.baseline_rate),
        diagnosis: Some(spike.diagnosis.clone()),
        attribution: spike
            .attribution
            .iter()
            .map(|(dimension, key, share, normal_share)| Differs {
                dimension: dimension.clone(),
                key: key.clone(),
                share: *share,
                normal_share: *normal_share,
            })
            .collect(),
    }
}
