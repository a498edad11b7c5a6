//! The cells of a time window: status counts, latency sketches, and
//! where an error was seen. [`super::Aggregate::add`] fills them for every
//! record, so their per-record methods are `#[inline]`.

use sketches_ddsketch::DDSketch;

/// Counts per status code; code 0 stands for a status the log did not
/// have (`-`). A handful of codes is typical, so a sorted vector beats a
/// tree or a hash map here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Statuses(Vec<(u16, u64)>);

impl Statuses {
    #[inline]
    pub fn add(&mut self, code: u16, n: u64) {
        match self.0.iter().position(|&(c, _)| c >= code) {
            Some(i) if self.0[i].0 == code => self.0[i].1 += n,
            Some(i) => self.0.insert(i, (code, n)),
            None => self.0.push((code, n)),
        }
    }

    pub fn merge(&mut self, other: &Statuses) {
        for &(code, n) in &other.0 {
            self.add(code, n);
        }
    }

    pub fn get(&self, code: u16) -> u64 {
        self.0
            .iter()
            .find(|&&(c, _)| c == code)
            .map_or(0, |&(_, n)| n)
    }

    /// Codes and counts, ascending by code.
    pub fn iter(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.0.iter().copied()
    }

    pub fn total(&self) -> u64 {
        self.0.iter().map(|&(_, n)| n).sum()
    }

    /// Requests with a status from `lo` to `hi` inclusive.
    pub fn range(&self, lo: u16, hi: u16) -> u64 {
        self.0
            .iter()
            .filter(|&&(c, _)| (lo..=hi).contains(&c))
            .map(|&(_, n)| n)
            .sum()
    }

    pub fn errors(&self) -> u64 {
        self.range(500, 599)
    }

    /// Each 5xx code with its count.
    pub fn errors_by_code(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.iter().filter(|&(c, _)| (500..=599).contains(&c))
    }
}

/// A mergeable latency sketch (DDSketch, 1% relative error), in seconds.
#[derive(Clone, Default)]
pub struct Sketch(pub(super) DDSketch);

impl Sketch {
    #[inline]
    pub fn add(&mut self, seconds: f64) {
        self.0.add(seconds);
    }

    pub fn merge(&mut self, other: &Sketch) {
        // Sketches built with the same configuration always merge.
        let _ = self.0.merge(&other.0);
    }

    pub fn count(&self) -> usize {
        self.0.count()
    }

    /// A quantile, `None` when the sketch is empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.0.quantile(q).ok().flatten()
    }
}

impl std::fmt::Debug for Sketch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sketch({} values)", self.count())
    }
}

/// Where an error was seen, ordered by time, then file and line.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Place {
    pub time: i64,
    /// Index of the input file.
    pub file: u32,
    pub line: u64,
}

/// One time window.
#[derive(Debug, Clone, Default)]
pub struct Window {
    pub requests: u64,
    pub status: Statuses,
    pub bytes: u64,
    /// Request time in seconds.
    pub request_time: Sketch,
    /// Each upstream attempt's response time in seconds.
    pub upstream_time: Sketch,
}

impl Window {
    pub fn merge(&mut self, other: &Window) {
        self.requests += other.requests;
        self.status.merge(&other.status);
        self.bytes += other.bytes;
        self.request_time.merge(&other.request_time);
        self.upstream_time.merge(&other.upstream_time);
    }

    pub fn errors(&self) -> u64 {
        self.status.errors()
    }
}
