//! Counts per series and time bucket, for the incident finder.
//!
//! A series is the whole site, one upstream (counted by attempts), one
//! normalized path or one host. For each it keeps, per bucket of its
//! granularity, the requests, the 5xx among them and the 5xx clients saw,
//! and for buckets with 5xx the first error's place, the last error's time
//! and the 5xx codes. Buckets are sparse: an empty bucket costs nothing.
//!
//! Each dimension has its own granularity on [`LADDER`], starting at one
//! second and coarsening to the next step when it holds more than its cap
//! of cells, so memory is bounded whatever the keys and the span. A
//! partial never holds more cells than the whole input would at the same
//! granularity, so the granularity reached after merging does not depend
//! on how the input was split: the detector sees the same counts for any
//! threads or chunk sizes. Keys beyond `max_keys` are not tracked; their
//! requests are counted in [`Series::untracked`].

use super::{HashMap, Place, Statuses, LADDER};

/// What a series is a series of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dim {
    Site,
    Upstream,
    Path,
    Host,
}

impl Dim {
    pub fn name(self) -> &'static str {
        match self {
            Dim::Site => "site",
            Dim::Upstream => "upstream",
            Dim::Path => "path",
            Dim::Host => "host",
        }
    }
}

/// One bucket of one series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cell {
    /// Requests (attempts, for an upstream).
    pub requests: u32,
    /// 5xx among them (5xx answers, for an upstream).
    pub errors: u32,
    /// Requests whose final status, as the client saw it, was a 5xx.
    pub client_errors: u32,
}

impl Cell {
    fn merge(&mut self, other: &Cell) {
        self.requests = self.requests.saturating_add(other.requests);
        self.errors = self.errors.saturating_add(other.errors);
        self.client_errors = self.client_errors.saturating_add(other.client_errors);
    }
}

/// The 5xx of one bucket of one series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Errors {
    pub first: Place,
    /// Time of the last 5xx (UTC microseconds).
    pub last: i64,
    pub codes: Statuses,
}

impl Errors {
    fn merge(&mut self, other: &Errors) {
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
        self.codes.merge(&other.codes);
    }
}

/// The series of one dimension.
#[derive(Debug, Clone)]
pub struct Series {
    pub dim: Dim,
    /// Bucket size in microseconds.
    pub granularity: i64,
    max_cells: usize,
    max_keys: usize,
    ids: HashMap<String, u32>,
    names: Vec<String>,
    cells: HashMap<(u32, i64), Cell>,
    errors: HashMap<(u32, i64), Errors>,
    /// Requests (attempts) of keys beyond the key cap: in no series.
    pub untracked: u64,
}

/// Most cells a dimension holds before it coarsens. About 32 bytes each:
/// some 10 MB per dimension and partial at the cap.
const MAX_CELLS: usize = 300_000;
/// The site's series holds one cell per bucket: 20,000 one-second buckets
/// cover five and a half hours, one-minute buckets two weeks.
const MAX_SITE_BUCKETS: usize = 20_000;

impl Series {
    pub fn new(dim: Dim, max_keys: usize) -> Series {
        Series {
            dim,
            granularity: LADDER[0],
            max_cells: if dim == Dim::Site {
                MAX_SITE_BUCKETS
            } else {
                MAX_CELLS
            },
            max_keys: if dim == Dim::Site { 1 } else { max_keys },
            ids: HashMap::default(),
            names: Vec::new(),
            cells: HashMap::default(),
            errors: HashMap::default(),
            untracked: 0,
        }
    }

    fn id(&mut self, key: &str) -> Option<u32> {
        if let Some(&id) = self.ids.get(key) {
            return Some(id);
        }
        if self.names.len() >= self.max_keys {
            return None;
        }
        let id = self.names.len() as u32;
        self.ids.insert(key.to_string(), id);
        self.names.push(key.to_string());
        Some(id)
    }

    /// Counts one request (or attempt) of `key` at `place`: `status` is
    /// the series' own status (the attempt's, for an upstream), `client`
    /// the request's final status.
    #[inline]
    pub fn add(&mut self, key: &str, place: Place, status: u16, client: u16) {
        match self.id(key) {
            Some(id) => self.add_at(id, place, status, client),
            None => self.untracked += 1,
        }
    }

    /// Counts one request of the site's series (its only key).
    #[inline]
    pub fn add_site(&mut self, place: Place, status: u16) {
        if self.names.is_empty() {
            self.id("");
        }
        self.add_at(0, place, status, status);
    }

    #[inline]
    fn add_at(&mut self, id: u32, place: Place, status: u16, client: u16) {
        let bucket = place.time.div_euclid(self.granularity) * self.granularity;
        let is_error = (500..=599).contains(&status);
        let cell = self.cells.entry((id, bucket)).or_default();
        cell.requests = cell.requests.saturating_add(1);
        cell.errors = cell.errors.saturating_add(is_error as u32);
        cell.client_errors = cell
            .client_errors
            .saturating_add((500..=599).contains(&client) as u32);
        if is_error {
            let mut codes = Statuses::default();
            codes.add(status, 1);
            let add = Errors {
                first: place,
                last: place.time,
                codes,
            };
            match self.errors.get_mut(&(id, bucket)) {
                Some(e) => e.merge(&add),
                None => {
                    self.errors.insert((id, bucket), add);
                }
            }
        }
        if self.cells.len() > self.max_cells {
            self.bound();
        }
    }

    fn bound(&mut self) {
        while self.cells.len() > self.max_cells {
            match LADDER.iter().find(|&&g| g > self.granularity) {
                Some(&next) => self.coarsen(next),
                None => break,
            }
        }
    }

    /// Re-buckets to a coarser granularity (a multiple of the current one).
    pub fn coarsen(&mut self, granularity: i64) {
        if granularity <= self.granularity {
            return;
        }
        let rebucket = |b: i64| b.div_euclid(granularity) * granularity;
        let mut cells: HashMap<(u32, i64), Cell> = HashMap::default();
        for ((id, b), c) in self.cells.drain() {
            cells.entry((id, rebucket(b))).or_default().merge(&c);
        }
        let mut errors: HashMap<(u32, i64), Errors> = HashMap::default();
        for ((id, b), e) in self.errors.drain() {
            match errors.get_mut(&(id, rebucket(b))) {
                Some(mine) => mine.merge(&e),
                None => {
                    errors.insert((id, rebucket(b)), e);
                }
            }
        }
        self.cells = cells;
        self.errors = errors;
        self.granularity = granularity;
    }

    /// Combines two partials of the same input set.
    pub fn merge(&mut self, mut other: Series) {
        let g = self.granularity.max(other.granularity);
        self.coarsen(g);
        other.coarsen(g);
        let map: Vec<Option<u32>> = other.names.iter().map(|name| self.id(name)).collect();
        for ((id, b), c) in other.cells {
            match map[id as usize] {
                Some(mine) => self.cells.entry((mine, b)).or_default().merge(&c),
                None => self.untracked += c.requests as u64,
            }
        }
        for ((id, b), e) in other.errors {
            let Some(mine) = map[id as usize] else {
                continue;
            };
            match self.errors.get_mut(&(mine, b)) {
                Some(m) => m.merge(&e),
                None => {
                    self.errors.insert((mine, b), e);
                }
            }
        }
        self.untracked += other.untracked;
        self.bound();
    }

    /// Number of keys tracked.
    pub fn keys(&self) -> usize {
        self.names.len()
    }

    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }

    /// Every series of this dimension, its cells sorted by bucket, keys in
    /// name order (so that the detector's output has one order).
    pub fn tracks(&self) -> Vec<Track<'_>> {
        let mut by_key: Vec<Vec<(i64, Cell)>> = vec![Vec::new(); self.names.len()];
        for (&(id, b), &c) in &self.cells {
            by_key[id as usize].push((b, c));
        }
        let mut tracks: Vec<Track> = by_key
            .into_iter()
            .enumerate()
            .filter(|(_, cells)| !cells.is_empty())
            .map(|(id, mut cells)| {
                cells.sort_unstable_by_key(|&(b, _)| b);
                Track::new(self, id as u32, cells)
            })
            .collect();
        tracks.sort_by(|a, b| a.key.cmp(b.key));
        tracks
    }

    pub fn errors_at(&self, id: u32, bucket: i64) -> Option<&Errors> {
        self.errors.get(&(id, bucket))
    }

    /// Each key with its buckets and totals, for comparing partials.
    #[cfg(test)]
    pub(crate) fn digest(&self) -> Vec<Digest> {
        self.tracks()
            .iter()
            .map(|t| Digest {
                key: t.key.to_string(),
                buckets: t.buckets.clone(),
                totals: t.total(),
            })
            .collect()
    }
}

#[cfg(test)]
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Digest {
    key: String,
    buckets: Vec<i64>,
    totals: (u64, u64, u64),
}

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
}

impl<'s> Track<'s> {
    fn new(series: &'s Series, id: u32, cells: Vec<(i64, Cell)>) -> Track<'s> {
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
            key: series.name(id),
            buckets: cells.iter().map(|&(b, _)| b).collect(),
            cells: cells.into_iter().map(|(_, c)| c).collect(),
            sum_requests,
            sum_errors,
            sum_client,
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

    pub fn errors(&self, index: usize) -> Option<&'s Errors> {
        self.series.errors_at(self.id, self.buckets[index])
    }
}

/// The four dimensions together.
#[derive(Debug, Clone)]
pub struct SeriesSet {
    pub site: Series,
    pub upstreams: Series,
    pub paths: Series,
    pub hosts: Series,
}

impl SeriesSet {
    pub fn new(max_keys: usize) -> SeriesSet {
        SeriesSet {
            site: Series::new(Dim::Site, 1),
            upstreams: Series::new(Dim::Upstream, max_keys),
            paths: Series::new(Dim::Path, max_keys),
            hosts: Series::new(Dim::Host, max_keys),
        }
    }

    pub fn merge(&mut self, other: SeriesSet) {
        self.site.merge(other.site);
        self.upstreams.merge(other.upstreams);
        self.paths.merge(other.paths);
        self.hosts.merge(other.hosts);
    }

    pub fn get(&self, dim: Dim) -> &Series {
        match dim {
            Dim::Site => &self.site,
            Dim::Upstream => &self.upstreams,
            Dim::Path => &self.paths,
            Dim::Host => &self.hosts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(second: i64, line: u64) -> Place {
        Place {
            time: second * 1_000_000,
            file: 0,
            line,
        }
    }

    #[test]
    fn cells_count_requests_and_errors_per_bucket() {
        let mut s = Series::new(Dim::Upstream, 10);
        s.add("a", place(0, 1), 200, 200);
        s.add("a", place(0, 2), 502, 200);
        s.add("a", place(1, 3), 503, 503);
        s.add("b", place(1, 4), 200, 200);
        let tracks = s.tracks();
        assert_eq!(tracks.len(), 2);
        let a = &tracks[0];
        assert_eq!(a.key, "a");
        assert_eq!(a.buckets, [0, 1_000_000]);
        assert_eq!(a.total(), (3, 2, 1));
        let e = a.errors(0).unwrap();
        assert_eq!((e.first.line, e.codes.get(502)), (2, 1));
    }

    #[test]
    fn a_split_input_merges_to_the_same_cells_and_granularity() {
        let mut whole = Series::new(Dim::Path, 100);
        let mut parts = [Series::new(Dim::Path, 100), Series::new(Dim::Path, 100)];
        whole.max_cells = 50;
        for p in &mut parts {
            p.max_cells = 50;
        }
        for i in 0..200i64 {
            let key = format!("/p{}", i % 3);
            let status = if i % 7 == 0 { 500 } else { 200 };
            whole.add(&key, place(i * 5, i as u64), status, status);
            parts[(i >= 120) as usize].add(&key, place(i * 5, i as u64), status, status);
        }
        let [mut a, b] = parts;
        a.merge(b);
        assert_eq!(a.granularity, whole.granularity);
        assert_eq!(a.digest(), whole.digest());
    }

    #[test]
    fn keys_beyond_the_cap_are_counted_as_untracked() {
        let mut s = Series::new(Dim::Host, 2);
        for (i, k) in ["a", "b", "c", "c"].iter().enumerate() {
            s.add(k, place(i as i64, 1), 200, 200);
        }
        assert_eq!((s.keys(), s.untracked), (2, 2));
    }
}
