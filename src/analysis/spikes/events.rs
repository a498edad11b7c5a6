//! Runs of several series into events: which broke together, what the
//! event's scope is, and its numbers, attribution and diagnosis.

use super::*;
use crate::analysis::explain::{self, Facts};

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

/// Groups the runs into events and describes each.
pub(super) fn group(
    judged: &[Judged],
    explaining: &[(Dim, Vec<Track>)],
    config: &SpikeConfig,
) -> Vec<Incident> {
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
        .filter_map(|(span, members)| describe(judged, explaining, span, &members, config))
        .collect()
}

fn by_dim<'a, 't>(judged: &'a [Judged<'t>], dim: Dim) -> Vec<&'a Judged<'t>> {
    judged.iter().filter(|j| j.dim == dim).collect()
}

/// Scope and numbers of one event.
fn describe(
    judged: &[Judged],
    explaining: &[(Dim, Vec<Track>)],
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
        .chain(explaining.iter().flat_map(|(d, tracks)| {
            explain::attribute(*d, &tracks.iter().collect::<Vec<_>>(), start, end)
        }))
        .chain(explain::attribute_status(&judged[0].track, start, end))
        .collect();
    // The status last: its normal share is of the usual 5xx, not of the
    // traffic, so its excess does not compare with the others'; and the
    // codes are shown on their own.
    attribution.sort_by(|a, b| {
        (a.dim == Dim::Status)
            .cmp(&(b.dim == Dim::Status))
            .then((b.share - b.normal_share).total_cmp(&(a.share - a.normal_share)))
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
    let mut diagnosis = explain::diagnose(dim, &label, &codes, &facts, paths.len());
    if let Some(note) = explain::one_client(&attribution, &facts) {
        diagnosis.push_str(&note);
    }
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
