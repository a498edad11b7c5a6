//! Finding the incidents.
//!
//! Detection runs per series (the site, each upstream counted by attempts,
//! each normalized path, each host; see [`super::series`]) on the counts of
//! the whole run, at each dimension's fine resolution whatever window the
//! report shows, so the first minutes of a log are judged like the rest.
//!
//! - **Baseline.** A series' baseline 5xx rate starts as its rate without
//!   its busiest quarter of time blocks (an incident not yet found cannot
//!   inflate it much), then is its rate outside the runs found, again until
//!   it settles (three rounds). Times when a broader series broke (the
//!   site for upstreams; the site and upstreams for paths and hosts) never
//!   count: a path served by a failing upstream must not learn that failure
//!   as normal. A series with little traffic leans on the site's rate (200
//!   requests' worth of it). Real errors clump more than a binomial draw:
//!   the series' dispersion (variance over blocks of about five expected
//!   errors over the Poisson variance, its top quarter left out, at least
//!   1) scales the evidence down.
//! - **Stretches.** From each bucket with 5xx, the running sum of
//!   `k - min_lift * n * p0` marks where errors outrun the baseline; a
//!   stretch ends at its highest point once the sum has fallen a few errors
//!   below it, or after a minute without a new high, so normal traffic
//!   between two bursts parts them. Errors at a stretch's ends that stand
//!   apart from the rest (five times its median spacing) are trimmed off.
//! - **The test.** A stretch is abnormal when it holds `min_errors` 5xx at
//!   `min_lift` times the baseline or more, and its Poisson log-likelihood
//!   ratio `k ln(k/λ) - k + λ` (which bounds the tail probability from
//!   above), over the dispersion, exceeds `ln(M / false_alarm)`, M being
//!   the windows of 1, 2, 4, ... buckets (up to two hours) from every
//!   bucket with 5xx over every series: a Bonferroni correction, so that a
//!   day of noise raises nothing while a tripling at 0.3% on a busy route
//!   stands out. Abnormal stretches less than a minute apart are one run.
//!   A series abnormal over most of its traffic, again and again or over
//!   most of the log, has no incident: that is its normal (a route that
//!   lived only while it failed still has one).
//! - **One incident per event.** Runs of upstreams, paths and hosts that
//!   overlap by half or more are one event; a run of the site's series
//!   joins the events it overlaps, or is an event of its own. The scope is
//!   the upstream, paths (up to three) or host whose broken series carry
//!   three quarters of the excess 5xx of their dimension and of the site,
//!   the one with the highest error rate among those that do; otherwise
//!   the event is site-wide. Its start and end are the first and last
//!   error of the scope's runs, to the second.
//! - **Silence.** The site's requests per block (ten seconds where that
//!   holds thirty requests on average, else a minute or ten) are compared
//!   with the median of the three hours around each block; a stretch
//!   inside the log with at most a tenth of that, where at least 200
//!   requests were expected, and as unlikely as the 5xx test demands, is a
//!   traffic drop.

use super::explain::{self, Attribution, Facts};
use super::series::{Dim, Track};
use super::{Aggregate, Place, Statuses};

const SECOND: i64 = 1_000_000;

#[derive(Debug, Clone)]
pub struct SpikeConfig {
    /// Fewest 5xx an incident holds (a handful is never one on its own).
    pub min_errors: u64,
    /// The incident's 5xx rate is at least this multiple of the baseline.
    pub min_lift: f64,
    /// Chance of one false alarm in a report of pure noise.
    pub false_alarm: f64,
    /// A traffic drop keeps at most this share of the expected requests.
    pub drop_ratio: f64,
    /// Fewest requests a drop must miss to be one.
    pub min_drop_expected: f64,
}

impl Default for SpikeConfig {
    fn default() -> SpikeConfig {
        SpikeConfig {
            min_errors: 10,
            min_lift: 2.0,
            false_alarm: 0.01,
            drop_ratio: 0.1,
            min_drop_expected: 200.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// More 5xx than the baseline explains.
    Errors,
    /// Far fewer requests than usual.
    TrafficDrop,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Errors => "errors",
            Kind::TrafficDrop => "traffic_drop",
        }
    }
}

/// One incident, with its scope and its numbers within that scope.
#[derive(Debug, Clone)]
pub struct Incident {
    pub kind: Kind,
    /// What broke: [`Dim::Site`] for site-wide, else the dimension of
    /// `keys`.
    pub dim: Dim,
    pub keys: Vec<String>,
    /// First abnormal error, to the second (UTC microseconds).
    pub start: i64,
    /// The second after the last abnormal error.
    pub end: i64,
    /// Start of the busiest bucket of `peak_size` microseconds, its 5xx.
    pub peak: i64,
    pub peak_errors: u64,
    pub peak_size: i64,
    /// Requests in scope (attempts, for an upstream scope).
    pub requests: u64,
    /// 5xx that clients saw, in scope.
    pub errors: u64,
    /// 5xx answers of upstream attempts in scope, where the scope says
    /// (an upstream, or the site).
    pub upstream_errors: Option<u64>,
    /// The rate the detector judged: of attempts for an upstream scope,
    /// of requests otherwise.
    pub error_rate: f64,
    pub baseline_rate: f64,
    /// For a traffic drop: the requests the baseline expected.
    pub expected_requests: Option<f64>,
    /// 5xx codes in scope (attempts' codes for an upstream scope).
    pub status: Statuses,
    /// 5xx attempts per upstream and 5xx requests per path, in the
    /// incident's time range, most first.
    pub upstreams: Vec<(String, u64)>,
    pub paths: Vec<(String, u64)>,
    pub first_error: Option<Place>,
    /// Every series found abnormal in this event.
    pub series: Vec<(Dim, String)>,
    /// The values over-represented among its 5xx, most telling first.
    pub attribution: Vec<Attribution>,
    /// What the fields say happened, in plain words.
    pub diagnosis: String,
}

impl Incident {
    /// "upstream 10.0.0.3:8080", "paths /a, /b", "site-wide".
    pub fn scope(&self) -> String {
        Incident::label(self.dim, &self.keys)
    }

    fn label(dim: Dim, keys: &[String]) -> String {
        match (dim, keys.len()) {
            (Dim::Site, _) | (_, 0) => "site-wide".to_string(),
            (dim, 1) => format!("{} {}", dim.name(), keys[0]),
            (dim, _) => format!("{}s {}", dim.name(), keys.join(", ")),
        }
    }
}

/// Log-likelihood ratio of `k` events where `lambda` were expected
/// (Poisson); large when `k` is far from `lambda` either way.
fn llr(k: f64, lambda: f64) -> f64 {
    let lambda = lambda.max(1e-12);
    let klogk = if k > 0.0 { k * (k / lambda).ln() } else { 0.0 };
    (klogk - k + lambda).max(0.0)
}

/// One series and what the detector made of it.
struct Judged<'t> {
    dim: Dim,
    track: Track<'t>,
    p0: f64,
    runs: Vec<Run>,
}

#[derive(Debug, Clone, Copy)]
struct Run {
    /// Cell indices, `to` exclusive.
    from: usize,
    to: usize,
    start: i64,
    end: i64,
}

/// Scales in microseconds for a series of granularity `g` over `span`.
fn scales(g: i64, span: i64) -> Vec<i64> {
    let max = (2 * 3600 * SECOND).min(span.max(g));
    let mut out = vec![g];
    while out.last().unwrap() * 2 <= max {
        out.push(out.last().unwrap() * 2);
    }
    out
}

/// Requests and 5xx of the series outside `skip`, in blocks of time
/// holding about five errors at rate `p`.
fn blocks(track: &Track, p: f64, skip: &[bool]) -> Vec<(f64, f64)> {
    let g = track.series.granularity;
    let first = track.buckets[0];
    let buckets = (track.buckets[track.len() - 1] - first) / g + 1;
    let (n, _, _) = track.total();
    let per_bucket = n as f64 * p / buckets as f64;
    let block = ((5.0 / per_bucket.max(1e-9)).ceil() as i64).clamp(1, buckets) * g;
    let mut out: Vec<(f64, f64)> = Vec::new();
    let mut current = (i64::MIN, 0.0, 0.0);
    for (i, &skipped) in skip.iter().enumerate().take(track.len()) {
        if skipped {
            continue;
        }
        let b = (track.buckets[i] - first) / block;
        if b != current.0 {
            if current.0 != i64::MIN {
                out.push((current.1, current.2));
            }
            current = (b, 0.0, 0.0);
        }
        current.1 += track.cells[i].requests as f64;
        current.2 += track.cells[i].errors as f64;
    }
    if current.0 != i64::MIN {
        out.push((current.1, current.2));
    }
    out.retain(|&(n, _)| n > 0.0);
    out
}

/// A first baseline that an incident not yet found cannot inflate much:
/// the rate of the series outside `skip` without its busiest quarter of
/// blocks (by 5xx rate). It errs low; the rounds after it use every cell
/// outside the runs.
fn robust_rate(track: &Track, p: f64, skip: &[bool]) -> f64 {
    if track.is_empty() || p <= 0.0 {
        return p;
    }
    let mut b = blocks(track, p, skip);
    if b.len() < 8 {
        return p;
    }
    b.sort_by(|x, y| (x.1 / x.0).total_cmp(&(y.1 / y.0)));
    let kept = &b[..b.len() - b.len() / 4];
    let (n, k) = kept
        .iter()
        .fold((0.0, 0.0), |acc, x| (acc.0 + x.0, acc.1 + x.1));
    if n > 0.0 {
        k / n
    } else {
        p
    }
}

/// The series' dispersion outside `skip`: the variance of its 5xx over
/// blocks of about five expected errors, over the Poisson variance, from 1
/// to 25. The top quarter of the blocks is left out, so that an incident
/// the baseline has not yet set aside does not pass for dispersion; 0.368
/// is the mean of the lower three quarters of that statistic when the
/// counts are Poisson (0.366 to 0.374 for five to twenty expected).
fn dispersion(track: &Track, p0: f64, skip: &[bool]) -> f64 {
    if track.is_empty() || p0 <= 0.0 || p0 >= 1.0 {
        return 1.0;
    }
    let mut chi: Vec<f64> = blocks(track, p0, skip)
        .iter()
        .map(|&(n, k)| {
            let e = n * p0;
            (k - e).powi(2) / (e * (1.0 - p0))
        })
        .collect();
    if chi.len() < 10 {
        return 1.0;
    }
    chi.sort_by(|a, b| a.total_cmp(b));
    let kept = chi.len() - chi.len() / 4;
    let mean = chi[..kept].iter().sum::<f64>() / kept as f64;
    (mean / 0.368).clamp(1.0, 25.0)
}

/// The abnormal runs of a series at baseline `p0` and dispersion `phi`.
///
/// Stretches are cut where the errors outrun `min_lift` times the
/// baseline: the running sum of `k - min_lift * n * p0` from a bucket with
/// 5xx, ended at its highest point once it has fallen `DRAWDOWN` below
/// it (or to zero). A stretch of normal traffic between two bursts
/// therefore parts them, and a bout of noise before or after a burst does
/// not stretch it. Stretches of one series less than a minute apart join;
/// each that passes the test is a run.
fn scan(track: &Track, p0: f64, phi: f64, config: &SpikeConfig, threshold: f64) -> Vec<Run> {
    const DRAWDOWN: f64 = 5.0;
    let abnormal = |k: u64, n: u64| {
        let lambda = n as f64 * p0;
        k >= config.min_errors
            && k as f64 >= config.min_lift * lambda
            && llr(k as f64, lambda) / phi >= threshold
    };
    let x = |i: usize| {
        let c = &track.cells[i];
        c.errors as f64 - config.min_lift * c.requests as f64 * p0
    };
    let g = track.series.granularity;
    let gap = (60 * SECOND).max(2 * g);
    let mut stretches: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < track.len() {
        if track.cells[i].errors == 0 || x(i) <= 0.0 {
            i += 1;
            continue;
        }
        let (mut sum, mut best, mut best_end) = (0.0, f64::MIN, i);
        let mut errors = 0u64;
        for j in i..track.len() {
            // A quiet minute ends it, or five times its errors' mean
            // spacing so far on a quiet series, where a minute between two
            // errors of one incident is no surprise.
            let spacing = if errors >= 3 {
                5 * (track.buckets[best_end] - track.buckets[i]) / (errors as i64 - 1)
            } else {
                0
            };
            if track.buckets[j] - track.buckets[best_end] > gap.max(spacing) {
                break;
            }
            errors += track.cells[j].errors as u64;
            sum += x(j);
            if sum > best {
                best = sum;
                best_end = j;
            }
            if sum <= 0.0 || best - sum >= DRAWDOWN {
                break;
            }
        }
        stretches.push(trim(track, i, best_end + 1, config.min_errors));
        i = best_end + 1;
    }
    // Abnormal stretches less than a minute apart are one run: a burst
    // that dips for a moment is still one burst.
    let mut joined: Vec<(usize, usize)> = Vec::new();
    for (i, j) in stretches {
        let (n, k, _) = track.sums(i, j);
        if !abnormal(k, n) {
            continue;
        }
        match joined.last_mut() {
            Some((_, end)) if track.buckets[i] - track.buckets[*end - 1] <= gap => *end = j,
            _ => joined.push((i, j)),
        }
    }
    joined
        .into_iter()
        .filter_map(|(from, to)| {
            let first = track.errors(from)?;
            let last = track.errors(to - 1)?;
            Some(Run {
                from,
                to,
                start: first.first.time.div_euclid(SECOND) * SECOND,
                end: (last.last.div_euclid(SECOND) + 1) * SECOND,
            })
        })
        .collect()
}

/// A stretch without the errors at its ends that stand apart from the
/// rest: an error further from its neighbour than five times the
/// stretch's median spacing (and three buckets) is noise before or after
/// the burst, not its start or end.
fn trim(track: &Track, from: usize, to: usize, min_errors: u64) -> (usize, usize) {
    let errs: Vec<usize> = (from..to).filter(|&i| track.cells[i].errors > 0).collect();
    if errs.len() < 3 {
        return (from, to);
    }
    let mut gaps: Vec<i64> = errs
        .windows(2)
        .map(|w| track.buckets[w[1]] - track.buckets[w[0]])
        .collect();
    let mut sorted = gaps.clone();
    sorted.sort_unstable();
    let limit = (5 * sorted[sorted.len() / 2]).max(3 * track.series.granularity);
    let (mut a, mut b) = (0, errs.len() - 1);
    let left = |a: usize, b: usize| track.sums(errs[a], errs[b] + 1).1;
    while a < b && gaps[a] > limit && left(a + 1, b) >= min_errors {
        a += 1;
    }
    while b > a && gaps[b - 1] > limit && left(a, b - 1) >= min_errors {
        b -= 1;
    }
    gaps.clear();
    (errs[a], errs[b] + 1)
}

/// Baseline and runs of one series, the baseline found again without the
/// runs until it settles. Cells inside `exclude` (time ranges where
/// broader series broke, sorted) never count towards the baseline: a path
/// served by a failing upstream must not learn that failure as normal.
fn judge<'t>(
    dim: Dim,
    track: Track<'t>,
    site_rate: f64,
    exclude: &[(i64, i64)],
    log_span: i64,
    config: &SpikeConfig,
    threshold: f64,
) -> Judged<'t> {
    const PRIOR: f64 = 200.0;
    let (n, k, _) = track.total();
    let prior = if dim == Dim::Site { 0.0 } else { PRIOR };
    let rate = |n: f64, k: f64| ((k + prior * site_rate) / (n + prior)).max(1e-7);
    let g = track.series.granularity;
    let excluded: Vec<bool> = track
        .buckets
        .iter()
        .map(|&b| {
            let i = exclude.partition_point(|r| r.1 <= b);
            i < exclude.len() && exclude[i].0 < b + g
        })
        .collect();
    let base = |skip: &[bool]| {
        let (mut bn, mut bk) = (0u64, 0u64);
        for (i, c) in track.cells.iter().enumerate() {
            if !skip[i] {
                bn += c.requests as u64;
                bk += c.errors as u64;
            }
        }
        (bn, bk)
    };
    let mut skip = excluded.clone();
    let (bn, bk) = base(&skip);
    let start = robust_rate(&track, bk as f64 / bn.max(1) as f64, &skip);
    let mut p0 = rate(bn as f64, start * bn as f64);
    let mut phi = dispersion(&track, p0, &skip);
    let mut runs = if k == 0 {
        Vec::new()
    } else {
        scan(&track, p0, phi, config, threshold)
    };
    for round in 0..3 {
        if runs.is_empty() {
            break;
        }
        skip.copy_from_slice(&excluded);
        let mut rn = 0u64;
        for r in &runs {
            rn += track.sums(r.from, r.to).0;
            skip[r.from..r.to].iter_mut().for_each(|s| *s = true);
        }
        // Abnormal over most of its traffic, again and again or over most
        // of the log: that is its normal. One stretch of a series that
        // lived only then (a new route that failed) is still an incident.
        let lived = track.buckets[track.len() - 1] - track.buckets[0] + g;
        if rn * 2 > n && (runs.len() > 2 || lived * 4 >= log_span) {
            runs.clear();
            break;
        }
        let (bn, bk) = base(&skip);
        let next = rate(bn as f64, bk as f64);
        if round > 0 && (next - p0).abs() <= 1e-3 * p0 {
            break;
        }
        p0 = next;
        phi = dispersion(&track, p0, &skip);
        runs = scan(&track, p0, phi, config, threshold);
    }
    // The baseline the incidents are measured against: every cell outside
    // the runs and the broader series' incidents (the robust start errs
    // low and must not stay when nothing was found).
    skip.copy_from_slice(&excluded);
    for r in &runs {
        skip[r.from..r.to].iter_mut().for_each(|s| *s = true);
    }
    let (bn, bk) = base(&skip);
    let p0 = rate(bn as f64, bk as f64);
    Judged {
        dim,
        track,
        p0,
        runs,
    }
}

/// The time ranges of the runs of `judged`, sorted and joined.
fn ranges(judged: &[Judged]) -> Vec<(i64, i64)> {
    let mut all: Vec<(i64, i64)> = judged
        .iter()
        .flat_map(|j| j.runs.iter().map(|r| (r.start, r.end)))
        .collect();
    all.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::new();
    for (s, e) in all {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// A run of one series, for grouping.
#[derive(Debug, Clone, Copy)]
struct Flag {
    series: usize,
    start: i64,
    end: i64,
}

fn overlap(a: (i64, i64), b: (i64, i64)) -> f64 {
    // Short runs count as ten seconds long, so that a one-second run can
    // still overlap.
    let pad = |(s, e): (i64, i64)| (s, e.max(s + 10 * SECOND));
    let (a, b) = (pad(a), pad(b));
    let inter = (a.1.min(b.1) - a.0.max(b.0)).max(0) as f64;
    inter / ((a.1 - a.0).min(b.1 - b.0)) as f64
}

/// Counts of a set of series over a time range.
#[derive(Default, Clone, Copy)]
struct Sums {
    n: u64,
    k: u64,
    client: u64,
    expected: f64,
}

fn sums(judged: &[&Judged], start: i64, end: i64) -> Sums {
    let mut s = Sums::default();
    for j in judged {
        let (a, b) = j.track.range(start, end);
        let (n, k, c) = j.track.sums(a, b);
        s.n += n;
        s.k += k;
        s.client += c;
        s.expected += n as f64 * j.p0;
    }
    s
}

/// Finds the incidents in a run's series.
pub fn incidents(aggregate: &Aggregate, config: &SpikeConfig) -> Vec<Incident> {
    let set = aggregate.series.sealed();
    let site_tracks = set.site.tracks(aggregate.names(Dim::Site));
    let Some(site_track) = site_tracks.into_iter().next() else {
        return Vec::new();
    };
    let span = |t: &Track| {
        t.buckets.last().copied().unwrap_or(0) - t.buckets.first().copied().unwrap_or(0)
    };
    let mut tracks: Vec<(Dim, Track)> = vec![(Dim::Site, site_track)];
    for dim in [Dim::Upstream, Dim::Path, Dim::Host] {
        tracks.extend(
            set.get(dim)
                .tracks(aggregate.names(dim))
                .into_iter()
                .map(|t| (dim, t)),
        );
    }
    // M: every window the test looks at, over every series.
    let mut tested = 1.0;
    for (_, t) in &tracks {
        let s = scales(t.series.granularity, span(t)).len() as f64;
        tested += s * t.cells.iter().filter(|c| c.errors > 0).count() as f64;
    }
    let drop_blocks = (span(&tracks[0].1) / (10 * SECOND)).max(1) as f64;
    tested += drop_blocks;
    let threshold = (tested / config.false_alarm).ln();

    // The site first, then upstreams without the site's incidents in
    // their baseline, then paths and hosts without either's.
    let mut tracks = tracks.into_iter();
    let (_, site_track) = tracks.next().unwrap();
    let log_span = span(&site_track) + site_track.series.granularity;
    let site = judge(Dim::Site, site_track, 0.0, &[], log_span, config, threshold);
    let site_rate = site.p0;
    let mut judged: Vec<Judged> = vec![site];
    let mut exclude = ranges(&judged);
    let mut upstreams_done = false;
    for (dim, track) in tracks {
        if dim != Dim::Upstream && !upstreams_done {
            exclude = ranges(&judged);
            upstreams_done = true;
        }
        judged.push(judge(
            dim, track, site_rate, &exclude, log_span, config, threshold,
        ));
    }
    let mut out = group(&judged, config);
    out.extend(drops(&judged[0], config, threshold));
    out.sort_by_key(|i| (i.start, i.end));
    out
}

/// Groups the runs into events and describes each.
fn group(judged: &[Judged], config: &SpikeConfig) -> Vec<Incident> {
    let mut keyed: Vec<Flag> = Vec::new();
    let mut site: Vec<Flag> = Vec::new();
    for (s, j) in judged.iter().enumerate() {
        for run in &j.runs {
            let flag = Flag {
                series: s,
                start: run.start,
                end: run.end,
            };
            if j.dim == Dim::Site {
                site.push(flag);
            } else {
                keyed.push(flag);
            }
        }
    }
    keyed.sort_by_key(|f| (f.start, f.end, f.series));
    // Events: (span, members).
    let mut events: Vec<((i64, i64), Vec<Flag>)> = Vec::new();
    for flag in keyed {
        let best = events
            .iter()
            .enumerate()
            .map(|(i, (span, _))| (i, overlap(*span, (flag.start, flag.end))))
            .filter(|&(_, o)| o >= 0.5)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match best {
            Some((i, _)) => {
                let (span, members) = &mut events[i];
                span.0 = span.0.min(flag.start);
                span.1 = span.1.max(flag.end);
                members.push(flag);
            }
            None => events.push(((flag.start, flag.end), vec![flag])),
        }
    }
    for flag in site {
        let mut joined = false;
        for (span, members) in &mut events {
            if overlap(*span, (flag.start, flag.end)) >= 0.5 {
                members.push(flag);
                joined = true;
            }
        }
        if !joined {
            events.push(((flag.start, flag.end), vec![flag]));
        }
    }
    events
        .into_iter()
        .filter_map(|(span, members)| describe(judged, span, &members, config))
        .collect()
}

fn by_dim<'a, 't>(judged: &'a [Judged<'t>], dim: Dim) -> Vec<&'a Judged<'t>> {
    judged.iter().filter(|j| j.dim == dim).collect()
}

/// Scope and numbers of one event.
fn describe(
    judged: &[Judged],
    span: (i64, i64),
    members: &[Flag],
    config: &SpikeConfig,
) -> Option<Incident> {
    // The scope: per dimension, the broken series that carry most of the
    // dimension's excess in the event.
    let mut best: Option<(f64, Dim, Vec<usize>)> = None;
    for dim in [Dim::Upstream, Dim::Path, Dim::Host] {
        let all = by_dim(judged, dim);
        let mut broken: Vec<usize> = members
            .iter()
            .filter(|f| judged[f.series].dim == dim)
            .map(|f| f.series)
            .collect();
        broken.sort_unstable();
        broken.dedup();
        if broken.is_empty() {
            continue;
        }
        let total = sums(&all, span.0, span.1);
        let active = all
            .iter()
            .filter(|j| {
                let (a, b) = j.track.range(span.0, span.1);
                j.track.sums(a, b).0 > 0
            })
            .count();
        let excess = |s: &Sums| s.k as f64 - s.expected;
        // Every key of the dimension by its excess in the event: a second
        // route of a deploy may be too quiet to break on its own, yet carry
        // its share. The first must have broken.
        let mut ranked: Vec<(usize, f64)> = judged
            .iter()
            .enumerate()
            .filter(|(_, j)| j.dim == dim)
            .map(|(s, j)| (s, excess(&sums(&[j], span.0, span.1))))
            .filter(|&(_, e)| e > 0.0)
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        if ranked
            .first()
            .is_none_or(|(s, _)| broken.binary_search(s).is_err())
        {
            continue;
        }
        // A scope explains most of its dimension's excess and most of the
        // site's: a host field that only some lines carry is not the
        // scope of an event on all of them.
        // Both totals carry the noise of everything else in the event's
        // span: two standard deviations of it are allowed for.
        let site = sums(&[&judged[0]], span.0, span.1);
        let noise = |s: &Sums| 2.0 * s.expected.sqrt();
        let reference = (excess(&total) - noise(&total))
            .max(excess(&site) - noise(&site))
            .max(ranked[0].1);
        let mut cover = Vec::new();
        let mut carried = 0.0;
        for &(s, e) in ranked.iter().take(3) {
            // After the first, a key joins only when it broke too or is
            // elevated by as much as a run must be: noise on a busy route
            // is not part of the scope.
            if !cover.is_empty() && broken.binary_search(&s).is_err() {
                let one = sums(&[&judged[s]], span.0, span.1);
                if (one.k as f64) < config.min_lift * one.expected || e < 0.05 * reference {
                    break;
                }
            }
            cover.push(s);
            carried += e;
            if carried >= 0.75 * reference {
                break;
            }
        }
        if carried < 0.75 * reference {
            continue;
        }
        // Every key of the dimension broken is the site, not a scope; one
        // upstream behind a site is still the upstream that answered.
        if cover.len() >= active && !(dim == Dim::Upstream && active == 1) {
            continue;
        }
        // Nor is it a scope when the keys left out fail about as often:
        // two hosts of three carrying a failure of all three. Upstreams
        // get more room: retries of a failing upstream's requests fail on
        // the others too, less often.
        let rest: Vec<&Judged> = judged
            .iter()
            .enumerate()
            .filter(|(s, j)| j.dim == dim && !cover.contains(s))
            .map(|(_, j)| j)
            .collect();
        let left = sums(&rest, span.0, span.1);
        let held = sums(
            &cover.iter().map(|&s| &judged[s]).collect::<Vec<_>>(),
            span.0,
            span.1,
        );
        let rate_of = |s: &Sums| s.k as f64 / s.n.max(1) as f64;
        if left.k as f64 >= config.min_lift * left.expected
            && excess(&left) > noise(&left)
            && rate_of(&left) >= if dim == Dim::Upstream { 0.5 } else { 0.25 } * rate_of(&held)
        {
            continue;
        }
        let refs: Vec<&Judged> = cover.iter().map(|&s| &judged[s]).collect();
        let s = sums(&refs, span.0, span.1);
        let rate = s.k as f64 / s.n.max(1) as f64;
        if best.as_ref().is_none_or(|b| rate > b.0) {
            best = Some((rate, dim, cover));
        }
    }
    let (dim, cover): (Dim, Vec<usize>) = match best {
        Some((_, dim, cover)) => (dim, cover),
        None => (Dim::Site, vec![0]),
    };
    // Bounds from the scope's own runs (any member's, site-wide).
    let (mut start, mut end) = (i64::MAX, i64::MIN);
    for f in members {
        if dim == Dim::Site || cover.contains(&f.series) {
            start = start.min(f.start);
            end = end.max(f.end);
        }
    }
    if start > end {
        (start, end) = span;
    }
    let refs: Vec<&Judged> = cover.iter().map(|&s| &judged[s]).collect();
    let s = sums(&refs, start, end);
    if s.k < config.min_errors {
        return None;
    }
    let mut status = Statuses::default();
    let mut first_error: Option<Place> = None;
    let peak_size = (60 * SECOND).max(refs[0].track.series.granularity);
    let mut per_peak: std::collections::BTreeMap<i64, u64> = Default::default();
    for j in &refs {
        let (a, b) = j.track.range(start, end);
        for i in a..b {
            if let Some(e) = j.track.errors(i) {
                status.merge(&e.codes);
                first_error = Some(first_error.map_or(e.first, |f| f.min(e.first)));
                let bucket = j.track.buckets[i].div_euclid(peak_size) * peak_size;
                *per_peak.entry(bucket).or_default() += j.track.cells[i].errors as u64;
            }
        }
    }
    let (peak, peak_errors) = per_peak
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map_or((start, 0), |(&t, &n)| (t, n));
    let top = |dim: Dim| -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = by_dim(judged, dim)
            .iter()
            .filter_map(|j| {
                let (a, b) = j.track.range(start, end);
                let (_, k, _) = j.track.sums(a, b);
                (k > 0).then(|| (j.track.key.to_string(), k))
            })
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    };
    let upstreams = top(Dim::Upstream);
    let upstream_errors = match dim {
        Dim::Upstream => Some(s.k),
        Dim::Site => Some(upstreams.iter().map(|(_, n)| n).sum()),
        _ => None,
    };
    let mut series: Vec<(Dim, String)> = members
        .iter()
        .map(|f| (judged[f.series].dim, judged[f.series].track.key.to_string()))
        .collect();
    series.sort();
    series.dedup();
    let paths = top(Dim::Path);

    // What is different, and what the fields say.
    let mut attribution: Vec<Attribution> = [Dim::Upstream, Dim::Path, Dim::Host]
        .into_iter()
        .flat_map(|d| {
            let tracks: Vec<&Track> = by_dim(judged, d).iter().map(|j| &j.track).collect();
            explain::attribute(d, &tracks, start, end)
        })
        .collect();
    attribution.sort_by(|a, b| {
        (b.share - b.normal_share)
            .total_cmp(&(a.share - a.normal_share))
            .then(a.dim.cmp(&b.dim))
    });
    let mut facts = Facts::default();
    let mut attempted = 0u64;
    let faults = |j: &Judged, sum: &mut explain::Sum| {
        let (a, b) = j.track.range(start, end);
        for i in a..b {
            if let Some(e) = j.track.errors(i) {
                sum.add(j.track.cells[i].errors as u64, &e.fault);
            }
        }
    };
    for j in &refs {
        faults(j, &mut facts.scope);
    }
    for j in by_dim(judged, Dim::Upstream) {
        faults(j, &mut facts.attempts);
        let (a, b) = j.track.range(start, end);
        let (n, k, _) = j.track.sums(a, b);
        attempted += n;
        facts.active_upstreams += (n > 0) as usize;
        facts.failing_upstreams += (k > 0) as usize;
    }
    {
        let site = &judged[0].track;
        let (a, b) = site.range(start, end);
        let (n, k, _) = site.sums(a, b);
        facts.client_5xx = k;
        facts.bare = (a..b)
            .filter_map(|i| site.errors(i))
            .map(|e| e.fault.bare as u64)
            .sum();
        // Upstream fields say something only when most of the requests
        // of the time carry them (several files of several formats can
        // share the time); a 5xx with none in such a format counts too.
        facts.has_upstreams = (attempted + facts.bare) * 2 >= n;
    }
    if dim == Dim::Site {
        facts.scope = facts.attempts;
    }
    facts.scope_5xx = s.k;
    let label = Incident::label(
        dim,
        &refs
            .iter()
            .map(|j| j.track.key.to_string())
            .collect::<Vec<_>>(),
    );
    let codes: Vec<(u16, u64)> = status.iter().collect();
    let diagnosis = explain::diagnose(dim, &label, &codes, &facts, paths.len());
    Some(Incident {
        kind: Kind::Errors,
        dim,
        keys: if dim == Dim::Site {
            Vec::new()
        } else {
            refs.iter().map(|j| j.track.key.to_string()).collect()
        },
        start,
        end,
        peak,
        peak_errors,
        peak_size,
        requests: s.n,
        errors: if dim == Dim::Upstream { s.client } else { s.k },
        upstream_errors,
        error_rate: s.k as f64 / s.n.max(1) as f64,
        baseline_rate: if s.n > 0 {
            s.expected / s.n as f64
        } else {
            refs[0].p0
        },
        expected_requests: None,
        status,
        upstreams,
        paths,
        first_error,
        series,
        attribution,
        diagnosis,
    })
}

/// Stretches where the site went (nearly) silent.
fn drops(site: &Judged, config: &SpikeConfig, threshold: f64) -> Vec<Incident> {
    let t = &site.track;
    if t.len() < 3 {
        return Vec::new();
    }
    // Blocks of ten seconds where they hold thirty requests on average
    // (drops are then bounded to ten seconds), else a minute, else ten.
    let (total, _, _) = t.total();
    let span = (t.buckets[t.len() - 1] - t.buckets[0]).max(SECOND) as f64;
    let block = [10 * SECOND, 60 * SECOND, 600 * SECOND]
        .into_iter()
        .find(|&b| total as f64 * b as f64 / span >= 30.0)
        .unwrap_or(600 * SECOND)
        .max(t.series.granularity);
    let first = t.buckets[0].div_euclid(block) * block;
    let last = t.buckets[t.len() - 1].div_euclid(block) * block;
    let count = ((last - first) / block + 1) as usize;
    if !(5..=1_000_000).contains(&count) {
        return Vec::new();
    }
    let mut n = vec![0u64; count];
    for (i, c) in t.cells.iter().enumerate() {
        n[((t.buckets[i].div_euclid(block) * block - first) / block) as usize] += c.requests as u64;
    }
    // The median of the three hours around each block (itself left out).
    let reach = ((3 * 3600 * SECOND / 2) / block).max(2) as usize;
    let mut expected = vec![0.0; count];
    let mut scratch: Vec<u64> = Vec::new();
    for i in 0..count {
        scratch.clear();
        let (a, b) = (i.saturating_sub(reach), (i + reach + 1).min(count));
        scratch.extend(n[a..i].iter().chain(&n[i + 1..b]));
        let mid = scratch.len() / 2;
        scratch.select_nth_unstable(mid);
        expected[i] = scratch[mid] as f64;
    }
    let low = |i: usize| expected[i] >= 1.0 && (n[i] as f64) <= config.drop_ratio * expected[i];
    let mut out = Vec::new();
    let mut i = 1;
    while i + 1 < count {
        if !low(i) {
            i += 1;
            continue;
        }
        let from = i;
        // Up to three blocks of a little traffic between silent ones do
        // not part the drop.
        let trickle = |i: usize| (n[i] as f64) <= 0.5 * expected[i];
        let bridged =
            |i: usize| (1..=3).any(|k| i + k + 1 < count && (i..i + k).all(trickle) && low(i + k));
        while i + 1 < count && (low(i) || bridged(i)) {
            i += 1;
        }
        let to = i; // exclusive; a stretch that reaches the log's end is no drop
        if to + 1 >= count && low(to) {
            break;
        }
        let seen: u64 = n[from..to].iter().sum();
        let exp: f64 = expected[from..to].iter().sum();
        if exp >= config.min_drop_expected && llr(seen as f64, exp) >= threshold {
            out.push(Incident {
                kind: Kind::TrafficDrop,
                dim: Dim::Site,
                keys: Vec::new(),
                start: first + from as i64 * block,
                end: first + to as i64 * block,
                peak: first + from as i64 * block,
                peak_errors: 0,
                peak_size: block,
                requests: seen,
                errors: 0,
                upstream_errors: None,
                error_rate: 0.0,
                baseline_rate: site.p0,
                expected_requests: Some(exp),
                status: Statuses::default(),
                upstreams: Vec::new(),
                paths: Vec::new(),
                first_error: None,
                series: vec![(Dim::Site, String::new())],
                attribution: Vec::new(),
                diagnosis: format!(
                    "Requests fell to {:.0}% of the usual ({seen} where {exp:.0} were expected); the log cannot say why (an outage before the server, DNS, a load balancer, or the logging itself).",
                    seen as f64 * 100.0 / exp.max(1.0)
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A site of `rate` requests a second over `seconds`, every
    /// `every`-th request a 500, and perhaps a burst of 503 on one of its
    /// four upstreams.
    fn site(
        seconds: i64,
        rate: u64,
        every: u64,
        burst: Option<(i64, i64, &str, u64)>,
    ) -> Aggregate {
        let mut agg = Aggregate::new(&crate::analysis::Config::default());
        let mut line = 0u64;
        let ups = ["u1", "u2", "u3", "u4"];
        for s in 0..seconds {
            for r in 0..rate {
                line += 1;
                let up = ups[(line % 4) as usize];
                let mut status = if line.is_multiple_of(every) { 500 } else { 200 };
                if let Some((a, b, who, one_in)) = burst {
                    if (a..b).contains(&s) && up == who && r % one_in == 0 {
                        status = 503;
                    }
                }
                let place = Place {
                    time: 1_800_000_000 * SECOND + s * SECOND + r as i64 * (SECOND / rate as i64),
                    file: 0,
                    line,
                };
                agg.series.site.add(Some(0), place, status, status);
                let path = agg.paths.add(&format!("/p{}", line % 7), status);
                agg.series.paths.add(path, place, status, status);
                let up = agg.upstreams.add(up, status);
                agg.series.upstreams.add(up, place, status, status);
            }
        }
        agg
    }

    #[test]
    fn steady_noise_is_no_incident() {
        let found = incidents(&site(3600, 5, 333, None), &SpikeConfig::default());
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn a_burst_on_one_upstream_is_its_incident_to_the_second() {
        let set = site(3600, 5, 333, Some((600, 660, "u3", 1)));
        let found = incidents(&set, &SpikeConfig::default());
        assert_eq!(found.len(), 1, "{found:?}");
        let inc = &found[0];
        assert_eq!(inc.scope(), "upstream u3");
        let t0 = 1_800_000_000 * SECOND;
        assert!(
            (inc.start - (t0 + 600 * SECOND)).abs() <= 2 * SECOND,
            "{inc:?}"
        );
        assert!(
            (inc.end - (t0 + 660 * SECOND)).abs() <= 2 * SECOND,
            "{inc:?}"
        );
        assert_eq!(inc.status.get(503), 75);
        assert!(inc.first_error.is_some());
    }

    #[test]
    fn a_burst_in_the_first_minute_is_found() {
        let set = site(3600, 5, 333, Some((0, 40, "u2", 1)));
        let found = incidents(&set, &SpikeConfig::default());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].scope(), "upstream u2");
    }

    #[test]
    fn llr_is_zero_at_the_expectation_and_grows_away_from_it() {
        assert_eq!(llr(5.0, 5.0), 0.0);
        assert!(llr(20.0, 5.0) > llr(10.0, 5.0));
        assert!(llr(0.0, 50.0) > 40.0);
    }
}
