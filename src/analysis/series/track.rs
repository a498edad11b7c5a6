//! A series read back for the detector.

use super::{Cell, Errors, Series};

/// One series, ready for the detector: buckets in time order with prefix
/// sums, so that any range of buckets costs two lookups.
pub struct Track<'s> {
    pub series: &'s Series,
    pub id: u32,
    pub key: &'s str,
    pub buckets: Vec<i64>,
    pub cells: Vec<Cell>,
    /// `sum_requests[i]` is the sum over `cells[..i]`; likewise errors.
    sum_requests: Vec<u64>,
    sum_errors: Vec<u64>,
    sum_client: Vec<u64>,
    /// Per cell, its index in the series' faults (`u32::MAX`: none).
    marks: Vec<u32>,
}

impl<'s> Track<'s> {
    pub(super) fn new(
        series: &'s Series,
        id: u32,
        key: &'s str,
        cells: Vec<(i64, Cell)>,
        marks: Vec<u32>,
    ) -> Track<'s> {
        let mut sum_requests = Vec::with_capacity(cells.len() + 1);
        let mut sum_errors = Vec::with_capacity(cells.len() + 1);
        let mut sum_client = Vec::with_capacity(cells.len() + 1);
        let (mut n, mut k, mut c) = (0u64, 0u64, 0u64);
        sum_requests.push(0);
        sum_errors.push(0);
        sum_client.push(0);
        for (_, cell) in &cells {
            n += cell.requests as u64;
            k += cell.errors as u64;
            c += cell.client_errors as u64;
            sum_requests.push(n);
            sum_errors.push(k);
            sum_client.push(c);
        }
        Track {
            series,
            id,
            key,
            buckets: cells.iter().map(|&(b, _)| b).collect(),
            cells: cells.into_iter().map(|(_, c)| c).collect(),
            sum_requests,
            sum_errors,
            sum_client,
            marks,
        }
    }

    pub fn len(&self) -> usize {
        self.cells.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Requests, errors and client errors of cells `from..to`.
    #[inline]
    pub fn sums(&self, from: usize, to: usize) -> (u64, u64, u64) {
        (
            self.sum_requests[to] - self.sum_requests[from],
            self.sum_errors[to] - self.sum_errors[from],
            self.sum_client[to] - self.sum_client[from],
        )
    }

    pub fn total(&self) -> (u64, u64, u64) {
        self.sums(0, self.len())
    }

    /// Index of the first cell at or after `time`.
    pub fn index_at(&self, time: i64) -> usize {
        self.buckets.partition_point(|&b| b < time)
    }

    /// Cells whose bucket lies in `[start, end)` (times in microseconds,
    /// the start rounded down to its bucket).
    pub fn range(&self, start: i64, end: i64) -> (usize, usize) {
        let g = self.series.granularity;
        let from = self.index_at(start.div_euclid(g) * g);
        (from, self.index_at(end).max(from))
    }

    /// The 5xx of cell `index`: first place, last time, codes.
    pub fn errors(&self, index: usize) -> Option<Errors> {
        self.series.errors_of(self.marks[index])
    }
}
