//! Stretches where the site went (nearly) silent: traffic drops.

use super::*;

/// Stretches where the site went (nearly) silent.
pub(super) fn drops(site: &Judged, config: &SpikeConfig, threshold: f64) -> Vec<Incident> {
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
