//! Records to aggregates: per time window, per upstream, path, host,
//! method and status, in mergeable partials.
//!
//! Each chunk of input folds its records into an [`Aggregate`]; partials
//! combine with [`Aggregate::merge`], which is associative and commutative,
//! so the answer does not depend on the number of threads or chunks.
//!
//! Windows are kept at a granularity from a ladder (1 s, 10 s, 1 min,
//! 10 min, 1 h, 1 day) where each step divides the next and windows start
//! at multiples of the step since the epoch (UTC). A partial that holds too
//! many windows coarsens itself to the next step; merging takes the coarser
//! of two granularities. Reports roll windows up to a display size that is
//! a multiple of the granularity. With `--window` the granularity is fixed.
//!
//! Memory depends on the number of windows and keys, never on lines: each
//! key table holds at most `max_keys` keys per partial, and requests for
//! keys beyond that are counted under "other".
//!
//! [`Aggregate::add`] runs for every record; the cells it fills live in
//! [`window`] ([`Statuses`], [`Sketch`], [`Window`]) and [`table`]
//! ([`Table`]), and their per-record methods are `#[inline]` so that they
//! inline into it across modules. The incident finder ([`spikes`]), its
//! explanations ([`explain`]), per-series cells ([`series`]) and path
//! normalization ([`paths`]) run after it.

pub mod explain;
mod filter;
pub mod networks;
pub mod paths;
pub mod rolled;
pub mod series;
pub mod spikes;
mod table;
mod window;

use std::collections::BTreeMap;

use crate::parse::{Record, Timestamp};
use crate::text::lossy as text;
pub use filter::{host_key, host_key_bytes, host_name, Expr, ExprError, Filter, StatusFilter};
pub use paths::{PathNormalizer, PathRule};
pub use series::{Dim, SeriesSet};
use table::capped;
pub use table::Table;
pub use window::{Place, Sketch, Statuses, Window};

/// Hash maps keyed by text from logs: foldhash is several times faster
/// than the standard SipHash on short keys and keeps a random seed, so
/// crafted keys cannot force collisions.
pub type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

const SECOND: i64 = 1_000_000;
/// Granularities a partial may hold, each dividing the next.
pub const LADDER: [i64; 9] = [
    SECOND,
    10 * SECOND,
    60 * SECOND,
    600 * SECOND,
    3600 * SECOND,
    86_400 * SECOND,
    // A stray line years older than the rest must not make a timeline of
    // thousands of days: weeks, four weeks, 52 weeks.
    7 * 86_400 * SECOND,
    28 * 86_400 * SECOND,
    364 * 86_400 * SECOND,
];
const WEEK: i64 = 7 * 86_400 * SECOND;
/// 1970-01-05, the first Monday after the epoch (a Thursday).
const FIRST_MONDAY: i64 = 4 * 86_400 * SECOND;

/// The start of the window of `size` that holds `t` (UTC microseconds).
/// Windows of whole weeks start on Mondays, as ISO weeks do; shorter ones
/// at multiples of their size from the epoch. Each window of one size lies
/// inside one window of any larger size of the ladder.
#[inline]
pub fn window_start(t: i64, size: i64) -> i64 {
    if size % WEEK == 0 {
        (t - FIRST_MONDAY).div_euclid(size) * size + FIRST_MONDAY
    } else {
        t.div_euclid(size) * size
    }
}

/// A partial with more windows than this coarsens to the next step.
const MAX_WINDOWS: usize = 5000;
/// The key for counts beyond a cap.
pub const OTHER: &str = "(other)";
/// Distinct paths kept under one prefix (`/blog/`); later new ones count
/// as `prefix/*`, so that a site of slugs (pages, files, user names) keeps
/// its routes in view and its memory bounded.
pub const MAX_CHILDREN: u32 = 1000;

/// What to aggregate and how.
#[derive(Debug, Clone)]
pub struct Config {
    /// A fixed window size in microseconds (`--window`).
    pub window: Option<i64>,
    /// Only records at or after this instant (UTC microseconds).
    pub since: Option<i64>,
    /// Only records before this instant.
    pub until: Option<i64>,
    pub paths: PathNormalizer,
    /// Only records these keep (`--host`, `--upstream`, `--status`,
    /// `--path-prefix`).
    pub filter: Filter,
    /// Most distinct keys per table and partial.
    pub max_keys: usize,
    /// Windows are never coarsened past this: a report whose days start
    /// at another zone's midnight keeps windows that fit in its days.
    pub coarsest: Option<i64>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            window: None,
            since: None,
            until: None,
            paths: PathNormalizer::default(),
            filter: Filter::default(),
            max_keys: 100_000,
            coarsest: None,
        }
    }
}

/// How big a chunk's aggregate grew, for the next chunk's to start that
/// big: growing by doubling copied what the big vectors held over and over.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sizes {
    clients: usize,
    cells: [usize; 7],
}

/// Everything the batch report needs, mergeable.
#[derive(Debug, Clone)]
pub struct Aggregate {
    /// Window granularity in microseconds.
    pub granularity: i64,
    fixed: bool,
    coarsest: Option<i64>,
    /// By window start (UTC microseconds).
    pub windows: BTreeMap<i64, Window>,
    pub requests: u64,
    pub bytes: u64,
    /// Requests whose format logs a size: `bytes` sums these only, and no
    /// such request at all means the size is unknown, not zero.
    pub with_bytes: u64,
    /// Requests whose format logs a request time.
    pub with_request_time: u64,
    pub status: Statuses,
    /// Every upstream attempt, by upstream address.
    pub upstreams: Table,
    /// Requests by normalized path.
    pub paths: Table,
    pub hosts: Table,
    pub methods: Table,
    /// Requests by client network (/24 or /64) and by user agent, for
    /// saying what is different about an incident.
    pub clients: networks::Networks,
    pub agents: Table,
    /// Records without a timestamp: in the totals, in no window.
    pub untimed: u64,
    /// Records outside `--since`/`--until`: not counted anywhere else.
    pub filtered: u64,
    pub first_time: Option<Timestamp>,
    pub last_time: Option<Timestamp>,
    /// Per-series counts at a fine resolution, for the incident finder.
    pub series: SeriesSet,
    path_buf: Vec<u8>,
    /// Paths kept per prefix, for [`MAX_CHILDREN`].
    path_children: HashMap<Box<str>, u32>,
    key_buf: Vec<u8>,
}

impl Aggregate {
    pub fn new(config: &Config) -> Aggregate {
        Aggregate {
            granularity: config.window.unwrap_or(LADDER[0]),
            fixed: config.window.is_some(),
            coarsest: config.coarsest,
            windows: BTreeMap::new(),
            requests: 0,
            bytes: 0,
            with_bytes: 0,
            with_request_time: 0,
            status: Statuses::default(),
            upstreams: Table::new(config.max_keys),
            paths: Table::new(config.max_keys),
            hosts: Table::new(config.max_keys),
            methods: Table::new(config.max_keys),
            clients: networks::Networks::new(config.max_keys),
            agents: Table::new(config.max_keys),
            untimed: 0,
            filtered: 0,
            first_time: None,
            last_time: None,
            series: SeriesSet::new(),
            path_buf: Vec::new(),
            path_children: HashMap::default(),
            key_buf: Vec::new(),
        }
    }

    /// What this aggregate grew to (see [`Sizes`]).
    pub fn sizes(&self) -> Sizes {
        Sizes {
            clients: self.clients.len(),
            cells: self.series.capacities(),
        }
    }

    /// An empty aggregate with room for what another grew to.
    pub fn with_room(config: &Config, sizes: &Sizes) -> Aggregate {
        let mut a = Aggregate::new(config);
        a.clients.reserve(sizes.clients);
        a.series.reserve(&sizes.cells);
        a
    }

    /// Folds one parsed line in. `file` and `line` locate it for the
    /// incident's first error.
    pub fn add(&mut self, record: &Record, file: u32, line: u64, config: &Config) {
        if !config.filter.is_empty() && !config.filter.keeps(record) {
            self.filtered += 1;
            return;
        }
        let time = record.time();
        if let Some(t) = time {
            if config.since.is_some_and(|s| t.micros < s)
                || config.until.is_some_and(|u| t.micros >= u)
            {
                self.filtered += 1;
                return;
            }
            self.first_time = Some(self.first_time.map_or(t, |f| f.min(t)));
            self.last_time = Some(self.last_time.map_or(t, |l| l.max(t)));
        } else if config.since.is_some() || config.until.is_some() {
            // A time filter cannot place a line without a time.
            self.filtered += 1;
            return;
        }
        let status = record.status().unwrap_or(0);
        // `-` in a size field is Apache's zero; a format without one is
        // what makes the size unknown.
        let bytes = record.bytes().unwrap_or(0);
        let layout = record.layout();
        self.with_bytes += u64::from(layout.has_bytes());
        self.with_request_time +=
            u64::from(layout.slot(crate::grammar::Role::RequestTime).is_some());
        self.requests += 1;
        self.bytes += bytes;
        self.status.add(status, 1);

        let request = record.request();
        // The buffer is taken out of `self` so the path can be borrowed
        // while other fields are updated; no allocation per line.
        let mut path_buf = std::mem::take(&mut self.path_buf);
        match request.path {
            Some(p) => config.paths.normalize(&p.decode(), &mut path_buf),
            None => {
                path_buf.clear();
                path_buf.extend_from_slice(b"(no path)");
            }
        }
        // A path seen before costs one lookup; only a new one is capped.
        let path_id = match self.paths.count_existing(&path_buf, status) {
            Some(id) => Some(id),
            None => {
                let path = text(&path_buf);
                let key = capped(&self.paths, &mut self.path_children, &path);
                self.paths.add(&key, status)
            }
        };
        let method_id = request
            .method
            .map(|method| self.methods.add_raw(method, status));
        let mut key_buf = std::mem::take(&mut self.key_buf);
        // A host as `--host` and `--by host` name it: without its port, in
        // lower case (nginx's `$host`), so that `Example.com:443` and
        // `example.com` are one row and one series.
        let host_id = record.host().and_then(|h| {
            host_key_bytes(&h.decode(), &mut key_buf);
            self.hosts.add_raw(&key_buf, status)
        });
        let client_id = record
            .remote_addr()
            .map(|a| self.clients.intern(networks::Network::of(a.raw)));
        let agent_id = record
            .user_agent()
            .map(|a| self.agents.intern_raw(agent(&a.decode())));
        self.key_buf = key_buf;

        let place = time.map(|t| Place {
            time: t.micros,
            file,
            line,
        });
        let mut window = match time {
            Some(t) => {
                // Lines come in time order, mostly to the last window:
                // found down the tree's right edge, without comparing keys
                // or dividing.
                let g = self.granularity;
                Some(match self.windows.last_entry() {
                    Some(last)
                        if t.micros >= *last.key() && t.micros.saturating_sub(*last.key()) < g =>
                    {
                        last.into_mut()
                    }
                    _ => self.windows.entry(window_start(t.micros, g)).or_default(),
                })
            }
            None => {
                self.untimed += 1;
                None
            }
        };
        if let Some(w) = window.as_deref_mut() {
            w.requests += 1;
            w.bytes += bytes;
            w.status.add(status, 1);
            if let Some(rt) = record.request_time() {
                w.request_time.add(rt);
            }
        }
        // A 5xx that reached no upstream in a format that logs them was
        // answered by the proxy itself.
        let attempts = record.upstreams();
        let bare = (500..=599).contains(&status)
            && record.layout().has_upstreams()
            && attempts.clone().all(|a| a.addr.is_none());
        if let Some(place) = place {
            let detail = series::Detail {
                bare,
                ..series::Detail::default()
            };
            self.series
                .site
                .add_detailed(Some(0), place, status, status, detail);
            self.series.paths.add(path_id, place, status, status);
            if host_id.is_some() {
                self.series.hosts.add(host_id, place, status, status);
            }
            if let Some(id) = method_id {
                self.series.methods.add(id, place, status, status);
            }
            if let Some(id) = client_id {
                self.series.clients.add(id, place, status, status);
            }
            if let Some(id) = agent_id {
                self.series.agents.add(id, place, status, status);
            }
        }
        let mut attempts = attempts.peekable();
        while let Some(attempt) = attempts.next() {
            let Some(addr) = attempt.addr else { continue };
            let code = attempt.status.unwrap_or(0);
            let id = self.upstreams.add_raw(addr, code);
            if let Some(w) = window.as_deref_mut() {
                if let Some(t) = attempt.response_time {
                    w.upstream_time.add(t);
                }
            }
            if let Some(place) = place {
                let detail = series::Detail {
                    // Only a 5xx's detail is kept (see `Fault`).
                    no_connect: (500..=599).contains(&code)
                        && record.layout().has_connect_time()
                        && attempt.connect_time().is_none(),
                    retried: attempts.peek().is_some(),
                    // Only the 504s' times: their ceiling is the timeout.
                    time: attempt.response_time.filter(|_| code == 504),
                    bare: false,
                };
                self.series
                    .upstreams
                    .add_detailed(id, place, code, status, detail);
            }
        }
        self.path_buf = path_buf;
        self.bound_windows();
    }

    /// The keys of a dimension's series, by id (client networks are
    /// named when asked).
    pub fn names(&self, dim: Dim) -> std::borrow::Cow<'_, [std::sync::Arc<str>]> {
        use std::borrow::Cow;
        match dim {
            Dim::Site | Dim::Status => Cow::Borrowed(&series::SITE_KEY[..]),
            Dim::Upstream => Cow::Borrowed(self.upstreams.keys()),
            Dim::Path => Cow::Borrowed(self.paths.keys()),
            Dim::Host => Cow::Borrowed(self.hosts.keys()),
            Dim::Method => Cow::Borrowed(self.methods.keys()),
            Dim::Client => Cow::Owned(self.clients.names()),
            Dim::Agent => Cow::Borrowed(self.agents.keys()),
        }
    }

    /// The id of a dimension's key, added when new (`None`: beyond the
    /// cap). The site and the status have one key, id 0.
    fn intern(&mut self, dim: Dim, key: &str) -> Option<u32> {
        match dim {
            Dim::Site | Dim::Status => Some(0),
            Dim::Upstream => self.upstreams.intern(key),
            Dim::Path => self.paths.intern(key),
            Dim::Host => self.hosts.intern(key),
            Dim::Method => self.methods.intern(key),
            Dim::Client => self.clients.intern(networks::Network::from_name(key)),
            Dim::Agent => self.agents.intern(key),
        }
    }

    /// The finder's series from `since` on, in buckets of `granularity` or
    /// finer, at most `max_keys` keys per dimension (the busiest): what a
    /// live finder keeps of its past.
    pub fn history(&self, since: i64, granularity: i64, max_keys: usize) -> History {
        let mut dims = Vec::new();
        for dim in Dim::JUDGED.into_iter().chain(Dim::EXPLAINING) {
            let names = self.names(dim);
            let mut keys: Vec<HistoryKey> = self
                .series
                .get(dim)
                .export(since, granularity)
                .into_iter()
                .map(|(id, cells)| HistoryKey {
                    key: names[id as usize].to_string(),
                    cells,
                })
                .collect();
            if keys.len() > max_keys {
                let weight = |k: &HistoryKey| -> u64 {
                    k.cells.iter().map(|c| c.cell.requests as u64).sum()
                };
                keys.sort_by_key(|k| std::cmp::Reverse(weight(k)));
                keys.truncate(max_keys);
            }
            dims.push(HistoryDim {
                dim: dim.name().to_string(),
                keys,
            });
        }
        History { dims }
    }

    /// Takes back a [`History`] into a fresh aggregate's series.
    pub fn restore_history(&mut self, history: &History) {
        for d in &history.dims {
            let Some(dim) = Dim::JUDGED
                .into_iter()
                .chain(Dim::EXPLAINING)
                .find(|x| x.name() == d.dim)
            else {
                continue;
            };
            for k in &d.keys {
                if let Some(id) = self.intern(dim, &k.key) {
                    self.series.get_mut(dim).import(id, &k.cells);
                }
            }
            self.series.get_mut(dim).tidy();
        }
    }

    /// Forgets the windows before `since` (the series are rebuilt from
    /// their [`History`] instead: key tables only grow).
    pub fn forget_windows_before(&mut self, since: i64) {
        self.windows = self.windows.split_off(&since);
    }

    /// Coarsens until at most [`MAX_WINDOWS`] windows are held (unless the
    /// window size was fixed by the user).
    fn bound_windows(&mut self) {
        while !self.fixed && self.windows.len() > MAX_WINDOWS {
            let allowed = |g: i64| self.coarsest.is_none_or(|c| g <= c);
            match LADDER.iter().find(|&&g| g > self.granularity && allowed(g)) {
                Some(&next) => self.coarsen(next),
                None => break,
            }
        }
    }

    /// Re-buckets windows to a coarser granularity that is a multiple of
    /// the current one.
    pub fn coarsen(&mut self, granularity: i64) {
        if granularity <= self.granularity {
            return;
        }
        self.windows = rollup(&self.windows, granularity);
        self.granularity = granularity;
    }

    /// True for an aggregate nothing was added to yet.
    fn holds_nothing(&self) -> bool {
        self.requests == 0
            && self.filtered == 0
            && self.windows.is_empty()
            && [
                &self.upstreams,
                &self.paths,
                &self.hosts,
                &self.methods,
                &self.agents,
            ]
            .iter()
            .all(|t| t.is_empty() && t.other.total() == 0)
            && self.clients.is_empty()
            && self.series.hold_nothing()
    }

    /// Combines two partials of the same input set.
    pub fn merge(&mut self, mut other: Aggregate) {
        // The first part of an input, and the first input of a run, go
        // into an empty total: taken as they are, where a merge would
        // cost as much as merging two full parts.
        if self.holds_nothing()
            && self.fixed == other.fixed
            && self.granularity <= other.granularity
        {
            *self = other;
            return;
        }
        let g = self.granularity.max(other.granularity);
        self.coarsen(g);
        other.coarsen(g);
        for (start, w) in other.windows {
            match self.windows.get_mut(&start) {
                Some(mine) => mine.merge(&w),
                None => {
                    self.windows.insert(start, w);
                }
            }
        }
        self.requests += other.requests;
        self.bytes += other.bytes;
        self.with_bytes += other.with_bytes;
        self.with_request_time += other.with_request_time;
        self.status.merge(&other.status);
        let maps = [
            vec![Some(0)],
            self.upstreams.merge(&other.upstreams),
            {
                // Folded as adding the other's paths in order would fold
                // them: its keys are in its input order.
                let mut map = Vec::with_capacity(other.paths.keys.len());
                for (k, v) in other.paths.keys.iter().zip(&other.paths.stats) {
                    let key = capped(&self.paths, &mut self.path_children, k);
                    let key: std::sync::Arc<str> = match key {
                        std::borrow::Cow::Borrowed(_) => k.clone(),
                        std::borrow::Cow::Owned(folded) => folded.into(),
                    };
                    map.push(self.paths.add_counts(&key, v));
                }
                self.paths.other.merge(&other.paths.other);
                map
            },
            self.hosts.merge(&other.hosts),
            self.methods.merge(&other.methods),
            self.clients.merge(&other.clients),
            self.agents.merge(&other.agents),
        ];
        self.untimed += other.untimed;
        self.filtered += other.filtered;
        self.first_time = self.first_time.into_iter().chain(other.first_time).min();
        self.last_time = self.last_time.into_iter().chain(other.last_time).max();
        self.series.merge(other.series, &maps);
        // Two partials of different hours can hold twice the windows.
        self.bound_windows();
    }

    /// A display window size: the configured one, or about `target`
    /// windows over the time span, rounded up to a readable size that is a
    /// multiple of the granularity.
    pub fn display_window(&self, target: usize) -> i64 {
        if self.fixed {
            return self.granularity;
        }
        let span = match (self.first_time, self.last_time) {
            (Some(a), Some(b)) => b.micros - a.micros,
            _ => 0,
        };
        const NICE: [i64; 17] = [
            1, 5, 10, 30, 60, 300, 600, 900, 1800, 3600, 10_800, 21_600, 43_200, 86_400, 604_800,
            2_419_200, 31_449_600,
        ];
        NICE.iter()
            .map(|s| s * SECOND)
            .filter(|w| w % self.granularity == 0)
            .find(|w| span / w < target as i64)
            .unwrap_or(LADDER[LADDER.len() - 1].max(self.granularity))
    }
}

/// A user agent, cut to [`MAX_KEY_TEXT`] bytes: past that, agents differ
/// in build numbers, not in who they are.
fn agent(raw: &[u8]) -> &[u8] {
    let mut cut = raw.len().min(MAX_KEY_TEXT);
    // Never inside a UTF-8 sequence.
    while cut < raw.len() && cut > 0 && (raw[cut] & 0xC0) == 0x80 {
        cut -= 1;
    }
    &raw[..cut]
}

/// Longest client or agent key kept, in bytes.
const MAX_KEY_TEXT: usize = 160;

/// Per-series cells of the recent past, by dimension name and key.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct History {
    pub dims: Vec<HistoryDim>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HistoryDim {
    pub dim: String,
    pub keys: Vec<HistoryKey>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HistoryKey {
    pub key: String,
    pub cells: Vec<series::SavedCell>,
}

/// Windows summed into buckets of `size` (a multiple of their granularity).
pub fn rollup(windows: &BTreeMap<i64, Window>, size: i64) -> BTreeMap<i64, Window> {
    let mut out: BTreeMap<i64, Window> = BTreeMap::new();
    for (&start, w) in windows {
        out.entry(window_start(start, size)).or_default().merge(w);
    }
    out
}

/// Windows of `size` from the first to the last, empty ones included, so
/// that a timeline has no holes.
pub fn contiguous(windows: &BTreeMap<i64, Window>, size: i64) -> Vec<(i64, Window)> {
    let rolled = rollup(windows, size);
    let (Some(&first), Some(&last)) = (rolled.keys().next(), rolled.keys().next_back()) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(((last - first) / size + 1) as usize);
    let mut rolled = rolled;
    let mut t = first;
    while t <= last {
        out.push((t, rolled.remove(&t).unwrap_or_default()));
        t += size;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grammar::builtin::Registry;
    use crate::parse::{LineParser, Outcome};

    #[test]
    fn weekly_windows_start_on_mondays() {
        let day = 86_400 * SECOND;
        // Thursday 2024-10-10 12:00 UTC is in the week of Monday 2024-10-07.
        let thursday = 20_006 * day + day / 2;
        assert_eq!(window_start(thursday, WEEK), 20_003 * day);
        // Sunday night is still that week; Monday midnight starts the next.
        assert_eq!(window_start(20_010 * day - 1, WEEK), 20_003 * day);
        assert_eq!(window_start(20_010 * day, WEEK), 20_010 * day);
        // Before the epoch too, and for the longer steps of the ladder.
        assert_eq!(window_start(-day, WEEK), -3 * day);
        for size in [4 * WEEK, 52 * WEEK] {
            let start = window_start(thursday, size);
            assert_eq!((start / day + 3).rem_euclid(7), 0, "a Monday");
            assert!(start <= thursday && thursday < start + size);
        }
        // A day window of the week lies inside its week window.
        assert_eq!(
            window_start(window_start(thursday, day), WEEK),
            20_003 * day
        );
        assert_eq!(window_start(thursday, day), 20_006 * day);
    }

    fn aggregate(lines: &[&str], config: &Config) -> Aggregate {
        aggregate_from(lines, 1, config)
    }

    fn aggregate_from(lines: &[&str], first_line: u64, config: &Config) -> Aggregate {
        let grammar = Registry::new().find("nginx-upstream").unwrap();
        let mut parser = LineParser::new(&[grammar]);
        let mut agg = Aggregate::new(config);
        for (i, line) in lines.iter().enumerate() {
            let Outcome::Record(r) = parser.parse(line.as_bytes()) else {
                panic!("{line}")
            };
            agg.add(&r, 0, first_line + i as u64, config);
        }
        agg
    }

    fn line(time: &str, status: u16, path: &str, ups: &str, ustatus: &str) -> String {
        format!(
            r#"1.2.3.4 - - [{time} +0000] "GET {path} HTTP/1.1" {status} 100 "-" "ua" 0.100 {ups} {ustatus} 0.050 0.001 0.040"#
        )
    }

    #[test]
    fn every_attempt_counts_for_its_upstream() {
        let lines = [
            line(
                "10/Oct/2000:13:55:01",
                200,
                "/a/1",
                "u1:80, u2:80",
                "502, 200",
            ),
            line("10/Oct/2000:13:55:02", 502, "/a/2", "u1:80", "502"),
            line("10/Oct/2000:13:56:03", 200, "/b", "u2:80", "200"),
        ];
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let agg = aggregate(&refs, &Config::default());
        assert_eq!(agg.requests, 3);
        assert_eq!(
            agg.upstreams
                .get("u1:80")
                .unwrap()
                .iter()
                .collect::<Vec<_>>(),
            [(502, 2)]
        );
        assert_eq!(
            agg.upstreams
                .get("u2:80")
                .unwrap()
                .iter()
                .collect::<Vec<_>>(),
            [(200, 2)]
        );
        assert_eq!(agg.paths.get("/a/:id").unwrap().total(), 2);
        assert_eq!(agg.status.errors(), 1);
        let minute = rollup(&agg.windows, 60 * SECOND);
        let w = minute.values().next().unwrap();
        assert_eq!(w.requests, 2);
        let sealed = agg.series.sealed();
        let names = agg.names(Dim::Upstream);
        let ups = sealed.upstreams.tracks(&names);
        assert_eq!(ups[0].key, "u1:80");
        assert_eq!(ups[0].total(), (2, 2, 1), "attempts, 5xx, 5xx clients saw");
        let names = agg.names(Dim::Path);
        let paths = sealed.paths.tracks(&names);
        assert_eq!((paths[0].key, paths[0].total()), ("/a/:id", (2, 1, 1)));
        assert_eq!(paths[0].errors(1).unwrap().first.line, 2);
    }

    #[test]
    fn merge_equals_one_pass_whatever_the_split() {
        let mut lines = Vec::new();
        for i in 0..300 {
            let status = [200, 502, 503, 404][i % 4];
            lines.push(line(
                &format!(
                    "10/Oct/2000:{:02}:{:02}:{:02}",
                    10 + i / 120,
                    (i / 2) % 60,
                    i % 60
                ),
                status as u16,
                &format!("/p/{i}"),
                "u1:80",
                &status.to_string(),
            ));
        }
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let config = Config::default();
        let whole = aggregate(&refs, &config);
        for split in [1, 7, 150, 299] {
            let mut a = aggregate(&refs[..split], &config);
            let b = aggregate_from(&refs[split..], split as u64 + 1, &config);
            a.merge(b);
            assert_eq!(a.requests, whole.requests);
            assert_eq!(a.status, whole.status);
            for dim in Dim::JUDGED.into_iter().chain(Dim::EXPLAINING) {
                assert_eq!(
                    a.series.get(dim).digest(&a.names(dim)),
                    whole.series.get(dim).digest(&whole.names(dim)),
                    "{dim:?} split at {split}"
                );
            }
            let size = 60 * SECOND;
            let left = rollup(&a.windows, size);
            let right = rollup(&whole.windows, size);
            assert_eq!(left.len(), right.len());
            for ((s1, w1), (s2, w2)) in left.iter().zip(&right) {
                assert_eq!((s1, w1.requests, &w1.status), (s2, w2.requests, &w2.status));
                assert_eq!(w1.request_time.count(), w2.request_time.count());
            }
        }
    }

    #[test]
    fn a_stray_old_line_does_not_make_thousands_of_windows() {
        let lines = [
            line("10/Oct/2000:13:55:01", 200, "/", "-", "-"),
            line("28/Nov/2026:10:00:01", 503, "/", "-", "-"),
        ];
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let agg = aggregate(&refs, &Config::default());
        let size = agg.display_window(240);
        assert!(
            contiguous(&agg.windows, size).len() <= 240,
            "window of {size} us"
        );
    }

    #[test]
    fn slugs_under_one_prefix_fold_past_the_cap_and_merges_agree() {
        let config = Config::default();
        let n = MAX_CHILDREN as usize + 300;
        let lines: Vec<String> = (0..n)
            .flat_map(|i| {
                // A route seen throughout keeps its row; slugs fold.
                [
                    line("10/Oct/2000:13:55:01", 200, "/blog/about", "u:1", "200"),
                    line(
                        "10/Oct/2000:13:55:01",
                        if i % 3 == 0 { 502 } else { 200 },
                        &format!("/blog/post-about-topic-{i}"),
                        "u:1",
                        "200",
                    ),
                ]
            })
            .collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let whole = aggregate(&refs, &config);
        assert_eq!(whole.paths.get("/blog/about").unwrap().total(), n as u64);
        // `/blog/about` and MAX_CHILDREN - 1 slugs have rows; the rest fold.
        let folded = whole.paths.get("/blog/*").unwrap();
        assert_eq!(folded.total(), 301);
        assert_eq!(whole.paths.len(), MAX_CHILDREN as usize + 1);
        assert!(whole.paths.get("/blog/post-about-topic-998").is_some());
        assert!(whole.paths.get("/blog/post-about-topic-999").is_none());
        // In two parts merged in order, each under the cap: the same rows.
        let (a, b) = refs.split_at(refs.len() / 2);
        let mut merged = aggregate(a, &config);
        merged.merge(aggregate_from(b, a.len() as u64 + 1, &config));
        let rows = |agg: &Aggregate| {
            let mut rows: Vec<(String, u64, u64)> = agg
                .paths
                .iter()
                .map(|(k, s)| (k.to_string(), s.total(), s.errors()))
                .collect();
            rows.sort();
            rows
        };
        assert_eq!(rows(&merged), rows(&whole));
        // Other prefixes have their own budget.
        assert!(whole.paths.get("/blog/about").is_some());
    }

    #[test]
    fn key_tables_stay_bounded_across_merges() {
        let config = Config {
            max_keys: 10,
            ..Config::default()
        };
        let mut total = Aggregate::new(&config);
        for part in 0..5 {
            let lines: Vec<String> = (0..20)
                .map(|i| {
                    line(
                        "10/Oct/2000:13:55:01",
                        500,
                        &format!("/p{part}x{i}"),
                        "u:1",
                        "500",
                    )
                })
                .collect();
            let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            total.merge(aggregate(&refs, &config));
        }
        assert_eq!(total.paths.len(), 10);
        assert_eq!(total.paths.other.total(), 90);
        assert_eq!(total.requests, 100);
    }

    #[test]
    fn keys_from_bytes_are_their_text() {
        let mut table = Table::new(3);
        // Valid text is found by its bytes and by its text alike.
        let a = table.add_raw("/caf\u{e9}".as_bytes(), 200);
        assert_eq!(table.add("/caf\u{e9}", 502), a);
        // Two spellings that are not UTF-8 read as the same text: one key.
        let b = table.add_raw(b"/x\xff", 500);
        assert_eq!(table.add_raw(b"/x\xfe", 503), b);
        assert_eq!(table.intern_raw(b"/x\xc3"), b);
        assert_eq!(table.key(b.unwrap()), "/x\u{fffd}");
        assert_eq!(table.add("/x\u{fffd}", 200), b);
        let counts = table.get("/x\u{fffd}").unwrap();
        assert_eq!((counts.total(), counts.errors()), (3, 2));
        assert_eq!(table.get("/caf\u{e9}").unwrap().total(), 2);
        // Past the cap new bytes count as other, whatever their spelling.
        assert!(table.add_raw(b"/y", 200).is_some());
        assert_eq!(table.add_raw(b"/z\xff", 500), None);
        assert_eq!(table.add_raw(b"/z", 200), None);
        assert_eq!(table.other.total(), 2);
        assert_eq!(table.len(), 3);
    }
    #[test]
    fn many_windows_coarsen_and_time_filters_apply() {
        let mut lines = Vec::new();
        for i in 0..6000 {
            lines.push(line(
                &format!(
                    "10/Oct/2000:{:02}:{:02}:{:02}",
                    i / 3600,
                    (i / 60) % 60,
                    i % 60
                ),
                200,
                "/",
                "-",
                "-",
            ));
        }
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let agg = aggregate(&refs, &Config::default());
        assert_eq!(agg.granularity, 10 * SECOND);
        assert_eq!(agg.windows.values().map(|w| w.requests).sum::<u64>(), 6000);
        // 6,000 s: 30 s windows make 200, under the target of 240.
        assert_eq!(agg.display_window(240), 30 * SECOND);
        let start = agg.first_time.unwrap().micros;
        let config = Config {
            since: Some(start + 100 * SECOND),
            until: Some(start + 200 * SECOND),
            ..Config::default()
        };
        let agg = aggregate(&refs, &config);
        assert_eq!((agg.requests, agg.filtered), (100, 5900));
    }
}
