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

mod set;
mod sorted;
mod track;
pub use set::SeriesSet;
use sorted::{by_id, merge_sorted, sum_by_bucket};
pub use track::Track;

/// What a series is a series of. The site, upstreams, paths and hosts
/// are judged for incidents; methods, client networks and user agents are
/// kept only to say what is different about an incident, and the status
/// is read from the site's 5xx codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dim {
    Site,
    Upstream,
    Path,
    Host,
    Method,
    /// The client's network: its /24 (IPv4) or /64 (IPv6).
    Client,
    Agent,
    Status,
}

impl Dim {
    pub fn name(self) -> &'static str {
        match self {
            Dim::Site => "site",
            Dim::Upstream => "upstream",
            Dim::Path => "path",
            Dim::Host => "host",
            Dim::Method => "method",
            Dim::Client => "client",
            Dim::Agent => "user_agent",
            Dim::Status => "status",
        }
    }

    /// The dimensions whose series the finder judges.
    pub const JUDGED: [Dim; 4] = [Dim::Site, Dim::Upstream, Dim::Path, Dim::Host];
    /// The dimensions kept only to explain an incident.
    pub const EXPLAINING: [Dim; 3] = [Dim::Method, Dim::Client, Dim::Agent];
}

/// One bucket of one series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// The 5xx codes counted apart; any other 5xx code is rare and kept in a
/// small map beside.
const CODES: [u16; 4] = [500, 502, 503, 504];

/// The 5xx of one bucket of one series: where the first was, when the
/// last was, and their codes.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Fault {
    pub first: Place,
    /// Time of the last 5xx (UTC microseconds).
    pub last: i64,
    codes: [u32; 4],
    /// 5xx with a code not in [`CODES`].
    others: u32,
    /// What the fields say about them (see [`Detail`]).
    pub bare: u32,
    pub no_connect: u32,
    pub retried: u32,
    /// The 504s' upstream response times: how many had one, their sum
    /// and the slowest (seconds; `-1` when none had).
    pub timed: u32,
    pub time_sum: f32,
    pub slowest: f32,
}

/// What a request or attempt's other fields say, for the diagnosis.
#[derive(Debug, Clone, Copy, Default)]
pub struct Detail {
    /// A 5xx request that reached no upstream, in a format that logs
    /// upstreams: the proxy answered it itself.
    pub bare: bool,
    /// An attempt logged without a connect time: it never connected.
    pub no_connect: bool,
    /// An attempt another one followed: nginx retried elsewhere.
    pub retried: bool,
    /// The upstream's response time of a 504, seconds.
    pub time: Option<f64>,
}

impl Default for Fault {
    fn default() -> Fault {
        Fault {
            first: Place {
                time: i64::MAX,
                file: u32::MAX,
                line: u64::MAX,
            },
            last: i64::MIN,
            codes: [0; 4],
            others: 0,
            bare: 0,
            no_connect: 0,
            retried: 0,
            timed: 0,
            time_sum: 0.0,
            slowest: -1.0,
        }
    }
}

impl Fault {
    fn is_empty(&self) -> bool {
        self.last == i64::MIN
    }

    fn merge(&mut self, other: &Fault) {
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
        for (a, b) in self.codes.iter_mut().zip(other.codes) {
            *a = a.saturating_add(b);
        }
        self.others = self.others.saturating_add(other.others);
        self.bare = self.bare.saturating_add(other.bare);
        self.no_connect = self.no_connect.saturating_add(other.no_connect);
        self.retried = self.retried.saturating_add(other.retried);
        self.timed = self.timed.saturating_add(other.timed);
        self.time_sum += other.time_sum;
        self.slowest = self.slowest.max(other.slowest);
    }

    fn note(&mut self, detail: Detail, n: u32) {
        self.bare = self.bare.saturating_add(detail.bare as u32 * n);
        self.no_connect = self.no_connect.saturating_add(detail.no_connect as u32 * n);
        self.retried = self.retried.saturating_add(detail.retried as u32 * n);
        if let Some(t) = detail.time {
            self.timed = self.timed.saturating_add(n);
            self.time_sum += t as f32 * n as f32;
            self.slowest = self.slowest.max(t as f32);
        }
    }
}

/// A cell as saved: its bucket, counts and 5xx.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedCell {
    pub bucket: i64,
    pub cell: Cell,
    pub fault: Option<Fault>,
}

/// The 5xx of one bucket, for reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Errors {
    pub first: Place,
    pub last: i64,
    pub codes: Statuses,
    pub fault: Fault,
}

#[derive(Debug, Clone, Copy)]
struct FaultEntry {
    id: u32,
    bucket: i64,
    fault: Fault,
}

/// One cell in storage: a key's id, its bucket and counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    id: u32,
    bucket: i64,
    cell: Cell,
}

/// The series of one dimension.
///
/// Records arrive mostly in time order, so the counts of the bucket being
/// filled sit in a dense vector indexed by key id (no hashing per line);
/// when the bucket changes they are appended to `cold`, which is sorted
/// and summed now and then, and always before it is read or merged.
#[derive(Debug, Clone)]
pub struct Series {
    pub dim: Dim,
    /// Bucket size in microseconds.
    pub granularity: i64,
    max_cells: usize,
    current: i64,
    hot: Vec<Cell>,
    touched: Vec<u32>,
    cold: Vec<Entry>,
    /// `cold[..compacted]` is sorted by id and bucket, one entry each.
    compacted: usize,
    /// The 5xx of the bucket being filled (slots given out in order of
    /// arrival), and of the others, kept as the counts are (`faults`
    /// beside `cold`).
    hot_faults: Vec<Fault>,
    /// Per key id, its slot in `hot_faults` (`u32::MAX`: none yet).
    fault_slot: Vec<u32>,
    faults: Vec<FaultEntry>,
    /// Codes outside [`CODES`], by id and bucket.
    rare: HashMap<(u32, i64), Statuses>,
    /// Requests (attempts) of keys beyond the key cap: in no series.
    pub untracked: u64,
    /// Sorted by id rather than bucket: a sealed copy, for reading.
    by_key: bool,
}

/// Most cells a dimension holds before it coarsens: 24 bytes each (and
/// 72 for one with 5xx), some 5 to 20 MB per dimension and partial at
/// the cap.
const MAX_CELLS: usize = 200_000;
/// The site's series holds one cell per bucket: 20,000 one-second buckets
/// cover five and a half hours, one-minute buckets two weeks.
const MAX_SITE_BUCKETS: usize = 20_000;
/// The name of the site's only key.
pub static SITE_KEY: std::sync::LazyLock<[std::sync::Arc<str>; 1]> =
    std::sync::LazyLock::new(|| ["".into()]);

impl Series {
    pub fn new(dim: Dim) -> Series {
        Series {
            dim,
            // Attribution needs the incident's span, not its seconds: ten
            // seconds keep the many clients and agents of a busy site in
            // fewer cells.
            granularity: if Dim::EXPLAINING.contains(&dim) {
                LADDER[1]
            } else {
                LADDER[0]
            },
            max_cells: if dim == Dim::Site {
                MAX_SITE_BUCKETS
            } else {
                MAX_CELLS
            },
            current: i64::MIN,
            hot: Vec::new(),
            touched: Vec::new(),
            cold: Vec::new(),
            compacted: 0,
            hot_faults: Vec::new(),
            fault_slot: Vec::new(),
            faults: Vec::new(),
            rare: HashMap::default(),
            untracked: 0,
            by_key: false,
        }
    }

    /// Counts one request (or attempt) of key `id` at `place` (`None`: a
    /// key beyond the cap). `status` is the series' own status (the
    /// attempt's, for an upstream), `client` the request's final status.
    #[inline]
    pub fn add(&mut self, id: Option<u32>, place: Place, status: u16, client: u16) {
        self.add_detailed(id, place, status, client, Detail::default());
    }

    /// [`Series::add`] with what the other fields say of a 5xx.
    #[inline]
    pub fn add_detailed(
        &mut self,
        id: Option<u32>,
        place: Place,
        status: u16,
        client: u16,
        detail: Detail,
    ) {
        self.add_many(id, place, status, client, detail, 1);
    }

    /// [`Series::add_detailed`] for `n` alike requests (or attempts) at
    /// once: a rollup's row.
    #[inline(always)]
    pub fn add_many(
        &mut self,
        id: Option<u32>,
        place: Place,
        status: u16,
        client: u16,
        detail: Detail,
        n: u32,
    ) {
        let Some(id) = id else {
            self.untracked += u64::from(n);
            return;
        };
        if n == 0 {
            return;
        }
        // Most lines fall in the bucket being filled: two comparisons,
        // where finding a bucket costs a 64-bit division.
        if place.time < self.current || place.time.saturating_sub(self.current) >= self.granularity
        {
            self.flush();
            self.current = place.time.div_euclid(self.granularity) * self.granularity;
        }
        let bucket = self.current;
        let i = id as usize;
        // New keys arrive one by one: growing to a power of two makes
        // that a handful of calls, not one per key.
        if i >= self.hot.len() {
            self.hot
                .resize((i + 1).next_power_of_two(), Cell::default());
        }
        let cell = &mut self.hot[i];
        if cell.requests == 0 {
            self.touched.push(id);
        }
        let is_error = (500..=599).contains(&status);
        cell.requests = cell.requests.saturating_add(n);
        cell.errors = cell.errors.saturating_add(is_error as u32 * n);
        cell.client_errors = cell
            .client_errors
            .saturating_add((500..=599).contains(&client) as u32 * n);
        if is_error {
            if i >= self.fault_slot.len() {
                self.fault_slot
                    .resize((i + 1).next_power_of_two(), u32::MAX);
            }
            if self.fault_slot[i] == u32::MAX {
                self.fault_slot[i] = self.hot_faults.len() as u32;
                self.hot_faults.push(Fault::default());
            }
            let f = &mut self.hot_faults[self.fault_slot[i] as usize];
            if f.is_empty() {
                f.first = place;
            }
            f.last = f.last.max(place.time);
            f.first = f.first.min(place);
            f.note(detail, n);
            match CODES.iter().position(|&c| c == status) {
                Some(c) => f.codes[c] = f.codes[c].saturating_add(n),
                None => {
                    f.others = f.others.saturating_add(n);
                    self.rare
                        .entry((id, bucket))
                        .or_default()
                        .add(status, u64::from(n));
                }
            }
        }
    }

    /// True for a series nothing was counted in yet.
    pub fn holds_nothing(&self) -> bool {
        self.touched.is_empty()
            && self.cold.is_empty()
            && self.faults.is_empty()
            && self.rare.is_empty()
            && self.untracked == 0
    }

    /// Moves the bucket being filled to `cold`.
    fn flush(&mut self) {
        // In id order, so that `cold` stays sorted by bucket and id while
        // time moves forward, and sorting it again costs a linear pass.
        self.touched.sort_unstable();
        for &id in &self.touched {
            let cell = std::mem::take(&mut self.hot[id as usize]);
            if cell.errors > 0 {
                let slot = std::mem::replace(&mut self.fault_slot[id as usize], u32::MAX);
                let fault = self.hot_faults[slot as usize];
                self.faults.push(FaultEntry {
                    id,
                    bucket: self.current,
                    fault,
                });
            }
            self.cold.push(Entry {
                id,
                bucket: self.current,
                cell,
            });
        }
        self.touched.clear();
        self.hot_faults.clear();
        if self.cold.len() > 2 * self.compacted + 65_536 {
            self.compact();
        }
    }

    /// Sorts and sums `cold` and `faults` (by bucket, then id), then
    /// coarsens while they hold too many cells. Most of both is in order
    /// already (flushes in time order, a merge appending one partial to
    /// another), which the sort finds.
    fn compact(&mut self) {
        sum_by_bucket(
            &mut self.cold,
            |e| (e.bucket, e.id),
            |k, n| k.cell.merge(&n.cell),
        );
        sum_by_bucket(
            &mut self.faults,
            |e| (e.bucket, e.id),
            |k, n| k.fault.merge(&n.fault),
        );
        self.compacted = self.cold.len();
        while self.cold.len() > self.max_cells {
            match LADDER.iter().find(|&&g| g > self.granularity) {
                Some(&next) => self.coarsen(next),
                None => break,
            }
        }
    }

    /// Everything in `cold`, sorted and summed, within the cap.
    fn seal(&mut self) {
        self.flush();
        self.current = i64::MIN;
        // Nothing came in since the last compaction (a running total
        // between merges): `cold` is sorted and summed already, and
        // sorting it again on every merge made merging quadratic.
        if self.cold.len() != self.compacted {
            self.compact();
        }
    }

    /// Re-buckets to a coarser granularity (a multiple of the current one).
    pub fn coarsen(&mut self, granularity: i64) {
        if granularity <= self.granularity {
            return;
        }
        self.flush();
        self.current = i64::MIN;
        let rebucket = |b: i64| b.div_euclid(granularity) * granularity;
        for e in &mut self.cold {
            e.bucket = rebucket(e.bucket);
        }
        for e in &mut self.faults {
            e.bucket = rebucket(e.bucket);
        }
        if !self.rare.is_empty() {
            let mut rare: HashMap<(u32, i64), Statuses> = HashMap::default();
            for ((id, b), codes) in self.rare.drain() {
                rare.entry((id, rebucket(b))).or_default().merge(&codes);
            }
            self.rare = rare;
        }
        self.granularity = granularity;
        self.compacted = 0;
        self.compact();
    }

    /// Combines two partials of the same input set; `map` gives, for each
    /// of `other`'s key ids, the id of that key here (from the key tables'
    /// merge), `None` for a key beyond the cap.
    pub fn merge(&mut self, mut other: Series, map: &[Option<u32>]) {
        self.seal();
        other.seal();
        let g = self.granularity.max(other.granularity);
        self.coarsen(g);
        other.coarsen(g);
        // Both sides are sorted by bucket and id; renumbering `other`'s
        // keys only unsorts them within a bucket, so a sort of each
        // bucket's few entries and one linear merge do, where sorting the
        // whole again cost most of a merge.
        let mut theirs: Vec<Entry> = Vec::with_capacity(other.cold.len());
        for e in other.cold {
            match map.get(e.id as usize).copied().flatten() {
                Some(id) => theirs.push(Entry { id, ..e }),
                None => self.untracked += e.cell.requests as u64,
            }
        }
        let mut faults: Vec<FaultEntry> = other
            .faults
            .into_iter()
            .filter_map(|e| {
                let id = map.get(e.id as usize).copied().flatten()?;
                Some(FaultEntry { id, ..e })
            })
            .collect();
        theirs
            .chunk_by_mut(|a, b| a.bucket == b.bucket)
            .for_each(|c| c.sort_unstable_by_key(|e| e.id));
        faults
            .chunk_by_mut(|a, b| a.bucket == b.bucket)
            .for_each(|c| c.sort_unstable_by_key(|e| e.id));
        merge_sorted(
            &mut self.cold,
            theirs,
            |e| (e.bucket, e.id),
            |a, b| a.cell.merge(&b.cell),
        );
        merge_sorted(
            &mut self.faults,
            faults,
            |e| (e.bucket, e.id),
            |a, b| a.fault.merge(&b.fault),
        );
        for ((id, b), codes) in other.rare {
            if let Some(mine) = map.get(id as usize).copied().flatten() {
                self.rare.entry((mine, b)).or_default().merge(&codes);
            }
        }
        self.untracked += other.untracked;
        self.compacted = self.cold.len();
        while self.cold.len() > self.max_cells {
            match LADDER.iter().find(|&&g| g > self.granularity) {
                Some(&next) => self.coarsen(next),
                None => break,
            }
        }
    }

    /// Each key's cells from `since` on, summed into buckets of
    /// `granularity` (the series' own when finer), with their 5xx: what a
    /// live finder keeps of its past across a restart or a clean-up.
    pub fn export(&self, since: i64, granularity: i64) -> Vec<(u32, Vec<SavedCell>)> {
        let sealed = self.sealed();
        let g = granularity.max(sealed.granularity);
        let mut faults = sealed.faults.iter().peekable();
        let mut out: Vec<(u32, Vec<SavedCell>)> = Vec::new();
        for e in &sealed.cold {
            while faults
                .peek()
                .is_some_and(|f| (f.id, f.bucket) < (e.id, e.bucket))
            {
                faults.next();
            }
            let fault = faults
                .next_if(|f| (f.id, f.bucket) == (e.id, e.bucket))
                .map(|f| f.fault);
            if e.bucket < since {
                continue;
            }
            let bucket = e.bucket.div_euclid(g) * g;
            if out.last().is_none_or(|(id, _)| *id != e.id) {
                out.push((e.id, Vec::new()));
            }
            let cells = &mut out.last_mut().expect("pushed above").1;
            match cells.last_mut() {
                Some(c) if c.bucket == bucket => {
                    c.cell.merge(&e.cell);
                    match (&mut c.fault, fault) {
                        (Some(a), Some(b)) => a.merge(&b),
                        (a @ None, b) => *a = b,
                        _ => {}
                    }
                }
                _ => cells.push(SavedCell {
                    bucket,
                    cell: e.cell,
                    fault,
                }),
            }
        }
        out
    }

    /// Takes back cells of key `id` that [`Series::export`] gave.
    pub fn import(&mut self, id: u32, cells: &[SavedCell]) {
        self.flush();
        self.current = i64::MIN;
        for c in cells {
            self.cold.push(Entry {
                id,
                bucket: c.bucket,
                cell: c.cell,
            });
            if let Some(fault) = c.fault {
                self.faults.push(FaultEntry {
                    id,
                    bucket: c.bucket,
                    fault,
                });
            }
        }
        // Sorted once all keys are in: see [`Series::tidy`].
        self.compacted = 0;
    }

    /// Sorts and sums the cells after [`Series::import`]s.
    pub fn tidy(&mut self) {
        self.compact();
    }

    /// A copy with every count in place, for reading: sorted by id, then
    /// bucket, so that each key's cells lie together.
    pub fn sealed(&self) -> Series {
        let mut s = self.clone();
        s.seal();
        // Sealed, both are sorted by bucket and id, one entry each: placed
        // by id in that order, each key's entries stay in bucket order. A
        // linear pass where a sort cost a tenth of a small report.
        s.cold = by_id(&s.cold, |e| e.id);
        s.faults = by_id(&s.faults, |e| e.id);
        s.by_key = true;
        s
    }

    /// Every series of this dimension (sealed: see [`Series::sealed`]),
    /// its cells sorted by bucket, in the order of their names. `names`
    /// are the keys by id.
    pub fn tracks<'s>(&'s self, names: &'s [std::sync::Arc<str>]) -> Vec<Track<'s>> {
        assert!(self.by_key, "tracks are read from a sealed copy");
        let mut faults = self.faults.iter().enumerate().peekable();
        let mut tracks: Vec<Track> = self
            .cold
            .chunk_by(|a, b| a.id == b.id)
            .map(|run| {
                let cells: Vec<(i64, Cell)> = run.iter().map(|e| (e.bucket, e.cell)).collect();
                // Both are sorted by id and bucket: walk them together.
                let marks: Vec<u32> = run
                    .iter()
                    .map(|e| {
                        while faults
                            .peek()
                            .is_some_and(|(_, f)| (f.id, f.bucket) < (e.id, e.bucket))
                        {
                            faults.next();
                        }
                        match faults.peek() {
                            Some(&(i, f)) if (f.id, f.bucket) == (e.id, e.bucket) => i as u32,
                            _ => u32::MAX,
                        }
                    })
                    .collect();
                Track::new(self, run[0].id, &names[run[0].id as usize], cells, marks)
            })
            .collect();
        tracks.sort_by(|a, b| a.key.cmp(b.key));
        tracks
    }

    /// The 5xx of a cell, by its index in `faults`.
    fn errors_of(&self, index: u32) -> Option<Errors> {
        let e = self.faults.get(index as usize)?;
        let mut codes = Statuses::default();
        for (c, &n) in CODES.iter().zip(&e.fault.codes) {
            if n > 0 {
                codes.add(*c, n as u64);
            }
        }
        if e.fault.others > 0 {
            if let Some(rare) = self.rare.get(&(e.id, e.bucket)) {
                codes.merge(rare);
            }
        }
        Some(Errors {
            first: e.fault.first,
            last: e.fault.last,
            codes,
            fault: e.fault,
        })
    }

    /// Each key with its buckets and totals, for comparing partials.
    #[cfg(test)]
    pub(crate) fn digest(&self, names: &[std::sync::Arc<str>]) -> Vec<Digest> {
        let sealed = self.sealed();
        sealed
            .tracks(names)
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

    fn names(n: usize) -> Vec<std::sync::Arc<str>> {
        (0..n).map(|i| format!("k{i}").into()).collect()
    }

    #[test]
    fn cells_count_requests_and_errors_per_bucket() {
        let mut s = Series::new(Dim::Upstream);
        s.add(Some(0), place(0, 1), 200, 200);
        s.add(Some(0), place(0, 2), 502, 200);
        s.add(Some(1), place(1, 4), 200, 200);
        s.add(Some(0), place(1, 3), 503, 503);
        s.add(None, place(1, 5), 200, 200);
        let names = names(2);
        let sealed = s.sealed();
        let tracks = sealed.tracks(&names);
        assert_eq!(tracks.len(), 2);
        let a = &tracks[0];
        assert_eq!(a.key, "k0");
        assert_eq!(a.buckets, [0, 1_000_000]);
        assert_eq!(a.total(), (3, 2, 1));
        let e = a.errors(0).unwrap();
        assert_eq!((e.first.line, e.codes.get(502)), (2, 1));
        assert_eq!(sealed.untracked, 1);
    }

    #[test]
    fn a_split_input_merges_to_the_same_cells_and_granularity() {
        let mut whole = Series::new(Dim::Path);
        let mut parts = [Series::new(Dim::Path), Series::new(Dim::Path)];
        whole.max_cells = 50;
        for p in &mut parts {
            p.max_cells = 50;
        }
        for i in 0..200i64 {
            let key = (i % 3) as u32;
            let status = if i % 7 == 0 { 500 } else { 200 };
            whole.add(Some(key), place(i * 5, i as u64), status, status);
            // The second part numbers its keys the other way round.
            let (part, id) = if i < 120 { (0, key) } else { (1, 2 - key) };
            parts[part].add(Some(id), place(i * 5, i as u64), status, status);
        }
        let [mut a, b] = parts;
        a.merge(b, &[Some(2), Some(1), Some(0)]);
        let names = names(3);
        assert_eq!(a.sealed().granularity, whole.sealed().granularity);
        assert!(whole.sealed().granularity > 1_000_000, "it coarsened");
        assert_eq!(a.digest(&names), whole.digest(&names));
    }

    /// Placing entries sorted by bucket and id by their id sorts them by
    /// id and bucket, as a sort would.
    #[test]
    fn placing_by_id_sorts_by_id_then_bucket() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for size in [0, 1, 2, 17, 1000] {
            let mut pairs: Vec<(i64, u32)> = (0..size)
                .map(|_| {
                    crate::testing::xorshift(&mut state);
                    ((state % 50) as i64 * 1_000_000, (state >> 20) as u32 % 40)
                })
                .collect();
            pairs.sort_unstable();
            pairs.dedup();
            let mut want = pairs.clone();
            want.sort_unstable_by_key(|&(bucket, id)| (id, bucket));
            assert_eq!(by_id(&pairs, |p| p.1), want, "{size}");
        }
    }

    /// A flush that coarsens (too many cells) must not leave the line that
    /// caused it in a bucket of the old size.
    #[test]
    fn a_line_after_coarsening_goes_to_a_bucket_of_the_new_size() {
        let mut s = Series::new(Dim::Path);
        s.max_cells = 1000;
        for id in 0..70_000 {
            s.add(Some(id), place(0, 1), 200, 200);
        }
        s.add(Some(0), place(1, 2), 500, 500);
        s.add(Some(1), place(2, 3), 200, 200);
        let sealed = s.sealed();
        assert!(sealed.granularity > 1_000_000, "it coarsened");
        let names = names(70_000);
        let tracks = sealed.tracks(&names);
        assert_eq!(tracks.len(), 70_000);
        for t in &tracks {
            for b in &t.buckets {
                assert_eq!(b % sealed.granularity, 0, "{} at {b}", t.key);
            }
        }
        assert_eq!(tracks[0].buckets.len(), 1);
        assert_eq!(tracks[0].total(), (2, 1, 1));
    }

    /// Lists merged in any order of their keys (a later chunk first, one
    /// inside the other, overlapping, disjoint) sum like one map.
    #[test]
    fn merging_sorted_lists_in_any_order_sums_each_key_once() {
        let lists: [&[(i64, u32)]; 6] = [
            &[],
            &[(1, 1), (1, 2), (3, 1)],
            &[(0, 5), (1, 2), (2, 2), (9, 9)],
            &[(3, 1), (4, 4)],
            &[(9, 9), (10, 1)],
            &[(-5, 0)],
        ];
        for a in lists {
            for b in lists {
                let mut merged: Vec<(i64, u32, u32)> = a.iter().map(|&(k, v)| (k, v, 1)).collect();
                let theirs = b.iter().map(|&(k, v)| (k, v, 1)).collect();
                merge_sorted(&mut merged, theirs, |e| (e.0, e.1), |x, y| x.2 += y.2);
                let mut expected = std::collections::BTreeMap::new();
                for &(k, v) in a.iter().chain(b) {
                    *expected.entry((k, v)).or_insert(0) += 1;
                }
                let expected: Vec<_> = expected.into_iter().map(|((k, v), n)| (k, v, n)).collect();
                assert_eq!(merged, expected, "{a:?} with {b:?}");
            }
        }
    }
}
