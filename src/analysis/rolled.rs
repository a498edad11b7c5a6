//! Rollup rows (`export --rollup`) into an [`Aggregate`], so that the
//! report reads a fleet's rollups as it reads logs.
//!
//! A rollup row is many requests (or attempts) alike: same window, host,
//! method, normalized path and status. Each is counted as that many
//! requests at the window's start, so every count the report shows (per
//! window, status, upstream, path, host and method) is exact. What the
//! rows do not hold is approximated and documented: latencies are known to
//! their bucket (a bucket's requests are placed at its middle), the finder
//! sees the series at the rollup's resolution, an upstream's 5xx count as
//! 5xx its clients saw, and the client networks and user agents that
//! explain an incident are absent.

use super::{capped, series, window_start, Aggregate, Config, Place, LADDER};
use crate::parse::Timestamp;

/// The rollup tables' schema version, in each file's key-value metadata
/// under [`METADATA_KEY`] (with the window size); also the "format" a
/// report read from rollups gives its inputs.
pub const SCHEMA: &str = "logspike.rollup/1";
pub const METADATA_KEY: &str = "logspike.rollup";

/// Upper bounds of the time buckets, in seconds; a last bucket holds the
/// rest. Finer than OpenTelemetry's defaults below a second, where web
/// latencies are.
pub const BOUNDS: [f64; 15] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Buckets per time column set: [`BOUNDS`] and the rest.
pub const BUCKETS: usize = BOUNDS.len() + 1;

/// The columns of a set of buckets: `request_time_le_0_001`, ...,
/// `request_time_le_inf`.
pub fn bucket_names(prefix: &str) -> Vec<String> {
    BOUNDS
        .iter()
        .map(|b| format!("{prefix}_le_{}", b.to_string().replace('.', "_")))
        .chain(std::iter::once(format!("{prefix}_le_inf")))
        .collect()
}

/// Where a bucket's values are taken to be: the middle of its bounds; for
/// the last, unbounded one, its lower bound.
fn representative(i: usize) -> f64 {
    match i {
        0 => BOUNDS[0] / 2.0,
        i if i < BOUNDS.len() => (BOUNDS[i - 1] + BOUNDS[i]) / 2.0,
        _ => BOUNDS[BOUNDS.len() - 1],
    }
}

/// A set of bucket counts into a sketch, each at its bucket's middle.
fn add_buckets(sketch: &mut super::Sketch, times: &[u64; BUCKETS]) {
    for (i, &c) in times.iter().enumerate() {
        if c > 0 {
            sketch.0.add_with_count(representative(i), c);
        }
    }
}

/// One row of a rollup's `requests` table.
#[derive(Debug, Clone, Copy)]
pub struct RolledRequests<'a> {
    /// The window's start (UTC microseconds) and size.
    pub start: i64,
    pub size: i64,
    pub host: Option<&'a str>,
    pub method: Option<&'a str>,
    pub path: &'a str,
    /// 0 for `-`, as in the report.
    pub status: u16,
    pub requests: u64,
    /// `None` where the logs had no size field.
    pub bytes: Option<u64>,
    pub attempts: u64,
    pub times: [u64; BUCKETS],
}

/// One row of a rollup's `attempts` table.
#[derive(Debug, Clone, Copy)]
pub struct RolledAttempts<'a> {
    pub start: i64,
    pub size: i64,
    pub upstream: &'a str,
    pub status: u16,
    pub attempts: u64,
    pub times: [u64; BUCKETS],
}

impl Aggregate {
    /// An empty aggregate for rollups of windows of `size` (microseconds):
    /// its windows and series no finer than that. `None` when a fixed
    /// `--window` is not a multiple of it.
    pub fn for_rollups(config: &Config, size: i64) -> Option<Aggregate> {
        let mut a = Aggregate::new(config);
        if a.fixed && a.granularity % size != 0 {
            return None;
        }
        let step = LADDER
            .iter()
            .copied()
            .find(|&g| g >= size && g % size == 0)
            .unwrap_or(size);
        if !a.fixed {
            a.coarsen(step);
        }
        for dim in series::Dim::JUDGED
            .into_iter()
            .chain(series::Dim::EXPLAINING)
        {
            a.series.get_mut(dim).coarsen(step);
        }
        Some(a)
    }

    fn rolled_in_range(&mut self, start: i64, size: i64, n: u64, config: &Config) -> bool {
        if config.since.is_some_and(|s| start < s) || config.until.is_some_and(|u| start >= u) {
            self.filtered += n;
            return false;
        }
        let first = Timestamp::utc(start);
        let last = Timestamp::utc(start + size - 1);
        self.first_time = Some(self.first_time.map_or(first, |f| f.min(first)));
        self.last_time = Some(self.last_time.map_or(last, |l| l.max(last)));
        true
    }

    /// Counts a `requests` row. `file` names the rollup for the places of
    /// errors; `logs_upstreams` says whether its logs had upstream fields
    /// (a 5xx with no attempt was then the proxy's own answer).
    pub fn add_rolled_requests(
        &mut self,
        r: &RolledRequests,
        file: u32,
        logs_upstreams: bool,
        config: &Config,
    ) {
        if r.requests == 0 || !self.rolled_in_range(r.start, r.size, r.requests, config) {
            return;
        }
        let (n, status) = (r.requests, r.status);
        let timed: u64 = r.times.iter().sum();
        let bytes = r.bytes.unwrap_or(0);
        self.requests += n;
        self.bytes += bytes;
        self.with_bytes += if r.bytes.is_some() { n } else { 0 };
        self.with_request_time += timed;
        self.status.add(status, n);
        let path_id = match self.paths.index.get(r.path.as_bytes()) {
            Some(&id) => {
                self.paths.stats[id as usize].add(status, n);
                Some(id)
            }
            None => {
                let key = capped(&self.paths, &mut self.path_children, r.path);
                self.paths.add_n(&key, status, n)
            }
        };
        let method_id = r.method.map(|m| self.methods.add_n(m, status, n));
        let host_id = r.host.and_then(|h| self.hosts.add_n(h, status, n));
        let w = self
            .windows
            .entry(window_start(r.start, self.granularity))
            .or_default();
        w.requests += n;
        w.bytes += bytes;
        w.status.add(status, n);
        add_buckets(&mut w.request_time, &r.times);
        let place = Place {
            time: r.start,
            file,
            line: 0,
        };
        let count = u32::try_from(n).unwrap_or(u32::MAX);
        let bare = (500..=599).contains(&status) && logs_upstreams && r.attempts == 0;
        let detail = series::Detail {
            bare,
            ..series::Detail::default()
        };
        let plain = series::Detail::default();
        self.series
            .site
            .add_many(Some(0), place, status, status, detail, count);
        self.series
            .paths
            .add_many(path_id, place, status, status, plain, count);
        if host_id.is_some() {
            self.series
                .hosts
                .add_many(host_id, place, status, status, plain, count);
        }
        if let Some(id) = method_id {
            self.series
                .methods
                .add_many(id, place, status, status, plain, count);
        }
        self.bound_windows();
    }

    /// Counts an `attempts` row.
    pub fn add_rolled_attempts(&mut self, r: &RolledAttempts, file: u32, config: &Config) {
        if r.attempts == 0 || !self.rolled_in_range(r.start, r.size, 0, config) {
            return;
        }
        let id = self.upstreams.add_n(r.upstream, r.status, r.attempts);
        let w = self
            .windows
            .entry(window_start(r.start, self.granularity))
            .or_default();
        add_buckets(&mut w.upstream_time, &r.times);
        let place = Place {
            time: r.start,
            file,
            line: 0,
        };
        // The 504s' times, for the timeout diagnosis: the middle of
        // their buckets.
        let time = (r.status == 504)
            .then(|| {
                let (sum, n) = r
                    .times
                    .iter()
                    .enumerate()
                    .fold((0.0, 0u64), |(s, k), (i, &c)| {
                        (s + representative(i) * c as f64, k + c)
                    });
                (n > 0).then(|| sum / n as f64)
            })
            .flatten();
        let detail = series::Detail {
            time,
            ..series::Detail::default()
        };
        let count = u32::try_from(r.attempts).unwrap_or(u32::MAX);
        self.series
            .upstreams
            .add_many(id, place, r.status, r.status, detail, count);
        self.bound_windows();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bucket_is_represented_inside_its_bounds() {
        for i in 0..BUCKETS {
            let v = representative(i);
            let lo = if i == 0 { 0.0 } else { BOUNDS[i - 1] };
            let hi = BOUNDS.get(i).copied().unwrap_or(f64::INFINITY);
            assert!(v >= lo && v <= hi, "bucket {i}: {v}");
        }
    }

    #[test]
    fn rows_count_as_their_requests() {
        let config = Config::default();
        let mut a = Aggregate::for_rollups(&config, 60_000_000).unwrap();
        let mut times = [0u64; BUCKETS];
        times[6] = 7;
        let row = RolledRequests {
            start: 120_000_000,
            size: 60_000_000,
            host: Some("a.example"),
            method: Some("GET"),
            path: "/x/:id",
            status: 503,
            requests: 7,
            bytes: Some(700),
            attempts: 7,
            times,
        };
        a.add_rolled_requests(&row, 0, true, &config);
        a.add_rolled_requests(
            &RolledRequests {
                status: 200,
                requests: 3,
                ..row
            },
            0,
            true,
            &config,
        );
        assert_eq!(a.requests, 10);
        assert_eq!(a.bytes, 1400);
        assert_eq!(a.status.errors(), 7);
        assert_eq!(a.windows.len(), 1);
        assert_eq!(a.windows[&120_000_000].requests, 10);
        assert_eq!(a.granularity, 60_000_000);
        let p = a.windows[&120_000_000].request_time.quantile(0.5).unwrap();
        assert!(p > 0.05 && p <= 0.1, "{p}");
        assert_eq!(a.last_time.unwrap().micros, 180_000_000 - 1);
    }
}
