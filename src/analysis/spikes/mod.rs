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
//!   errors over the Poisson variance, its top quarter left out, at
//!   least 1) scales the evidence down. It is measured with the runs of
//!   the round before set aside; the first round takes it as 1.
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

mod drops;
mod events;
pub mod live;

use super::explain::{llr, Attribution};
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
    // The first scan takes the counts as Poisson: a dispersion measured
    // before any run is set aside is inflated by the runs themselves (a
    // log dense with incidents hid the smaller ones), and at a coarse
    // resolution (a rollup's minute) enough blocks exist to measure it.
    // Every later scan measures it with the runs found set aside.
    let mut phi = 1.0;
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

/// Finds the incidents in a run's series.
pub fn incidents(aggregate: &Aggregate, config: &SpikeConfig) -> Vec<Incident> {
    // The judged dimensions now; the explaining ones only when something
    // was found (most looks of a live finder find nothing).
    let sealed: Vec<super::series::Series> = Dim::JUDGED
        .iter()
        .map(|&d| aggregate.series.get(d).sealed())
        .collect();
    let names: Vec<_> = Dim::JUDGED.iter().map(|&d| aggregate.names(d)).collect();
    let site_tracks = sealed[0].tracks(&names[0]);
    let Some(site_track) = site_tracks.into_iter().next() else {
        return Vec::new();
    };
    let span = |t: &Track| {
        t.buckets.last().copied().unwrap_or(0) - t.buckets.first().copied().unwrap_or(0)
    };
    let mut tracks: Vec<(Dim, Track)> = vec![(Dim::Site, site_track)];
    for (i, dim) in Dim::JUDGED.into_iter().enumerate().skip(1) {
        tracks.extend(sealed[i].tracks(&names[i]).into_iter().map(|t| (dim, t)));
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
    // Dimensions kept only to explain: methods, client networks, agents.
    let found = judged.iter().any(|j| !j.runs.is_empty());
    let explaining_sealed: Vec<(Dim, super::series::Series, _)> = Dim::EXPLAINING
        .into_iter()
        .filter(|_| found)
        .map(|dim| {
            (
                dim,
                aggregate.series.get(dim).sealed(),
                aggregate.names(dim),
            )
        })
        .collect();
    let explaining: Vec<(Dim, Vec<Track>)> = explaining_sealed
        .iter()
        .map(|(dim, s, names)| (*dim, s.tracks(names)))
        .collect();
    let mut out = events::group(&judged, &explaining, config);
    out.extend(drops::drops(&judged[0], config, threshold));
    out.sort_by_key(|i| (i.start, i.end));
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
