//! Finding the 5xx spikes.
//!
//! A window is abnormal when its 5xx count is at least `min_errors` and
//! both its 5xx count and its 5xx rate stand more than `threshold` robust
//! deviations above the baseline of the `baseline` windows before it. The
//! baseline is their median, the deviation their median absolute deviation
//! scaled to a standard deviation (×1.4826), with floors (1 error, 0.5% of
//! rate) so that a perfectly quiet history does not make every error an
//! incident. With fewer than `min_history` windows of history, a window is
//! abnormal only if it has `min_errors` and a 5xx rate of at least 20%.
//!
//! Abnormal windows at most one window apart merge into one incident: a
//! burst that dips for a window is still one incident.

use super::{HashMap, Place, Statuses, Window};

#[derive(Debug, Clone)]
pub struct SpikeConfig {
    /// Windows of history the baseline is taken from.
    pub baseline: usize,
    /// Robust deviations above the baseline.
    pub threshold: f64,
    /// Fewest 5xx in a window for it to count as abnormal.
    pub min_errors: u64,
    /// History needed before the baseline is trusted.
    pub min_history: usize,
}

impl Default for SpikeConfig {
    fn default() -> SpikeConfig {
        SpikeConfig {
            baseline: 30,
            threshold: 5.0,
            min_errors: 10,
            min_history: 5,
        }
    }
}

/// A run of abnormal windows.
#[derive(Debug, Clone)]
pub struct Incident {
    /// Start of the first window (UTC microseconds).
    pub start: i64,
    /// End of the last window.
    pub end: i64,
    /// Start of the window with the most 5xx, and that count.
    pub peak: i64,
    pub peak_errors: u64,
    pub requests: u64,
    pub errors: u64,
    /// The 5xx codes and their counts.
    pub status: Statuses,
    /// 5xx attempts per upstream, most first.
    pub upstreams: Vec<(String, u64)>,
    /// 5xx requests per normalized path, most first.
    pub paths: Vec<(String, u64)>,
    pub first_error: Option<Place>,
}

impl Incident {
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 / self.requests as f64
        }
    }
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// Median and scaled median absolute deviation.
fn robust(values: &[f64]) -> (f64, f64) {
    let mut v = values.to_vec();
    let m = median(&mut v);
    let mut dev: Vec<f64> = values.iter().map(|x| (x - m).abs()).collect();
    (m, median(&mut dev) * 1.4826)
}

fn rate(w: &Window) -> f64 {
    if w.requests == 0 {
        0.0
    } else {
        w.errors() as f64 / w.requests as f64
    }
}

/// Which windows of a contiguous timeline are abnormal.
pub fn abnormal(windows: &[(i64, Window)], config: &SpikeConfig) -> Vec<bool> {
    let counts: Vec<f64> = windows.iter().map(|(_, w)| w.errors() as f64).collect();
    let rates: Vec<f64> = windows.iter().map(|(_, w)| rate(w)).collect();
    (0..windows.len())
        .map(|i| {
            let errors = windows[i].1.errors();
            if errors < config.min_errors {
                return false;
            }
            let from = i.saturating_sub(config.baseline);
            if i - from < config.min_history {
                return rates[i] >= 0.2;
            }
            let (mc, dc) = robust(&counts[from..i]);
            let (mr, dr) = robust(&rates[from..i]);
            counts[i] > mc + config.threshold * dc.max(1.0)
                && rates[i] > mr + config.threshold * dr.max(0.005)
        })
        .collect()
}

fn ranked(counts: HashMap<String, u64>) -> Vec<(String, u64)> {
    let mut v: Vec<_> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// Incidents of a contiguous timeline of windows of `size` microseconds.
pub fn incidents(windows: &[(i64, Window)], size: i64, config: &SpikeConfig) -> Vec<Incident> {
    let flags = abnormal(windows, config);
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (i, &flag) in flags.iter().enumerate() {
        if !flag {
            continue;
        }
        match runs.last_mut() {
            Some((_, end)) if i - *end <= 2 => *end = i,
            _ => runs.push((i, i)),
        }
    }
    runs.into_iter()
        .map(|(first, last)| {
            let mut total = Window::default();
            let mut peak = (windows[first].0, 0);
            for (start, w) in &windows[first..=last] {
                total.merge(w);
                if w.errors() > peak.1 {
                    peak = (*start, w.errors());
                }
            }
            let mut status = Statuses::default();
            for (code, n) in total.status.errors_by_code() {
                status.add(code, n);
            }
            Incident {
                start: windows[first].0,
                end: windows[last].0 + size,
                peak: peak.0,
                peak_errors: peak.1,
                requests: total.requests,
                errors: total.errors(),
                status,
                upstreams: ranked(total.errors_by_upstream),
                paths: ranked(total.errors_by_path),
                first_error: total.first_error,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(requests: u64, errors: u64) -> Window {
        let mut w = Window {
            requests,
            ..Window::default()
        };
        w.status.add(200, requests - errors);
        w.status.add(503, errors);
        w
    }

    fn timeline(shape: &[(u64, u64)]) -> Vec<(i64, Window)> {
        shape
            .iter()
            .enumerate()
            .map(|(i, &(r, e))| (i as i64 * 60_000_000, window(r, e)))
            .collect()
    }

    #[test]
    fn a_burst_is_one_incident_with_its_bounds() {
        let mut shape = vec![(600, 2); 40];
        for (i, e) in [(20, 300), (21, 420), (22, 15), (23, 250)] {
            shape[i] = (600, e);
        }
        let windows = timeline(&shape);
        let found = incidents(&windows, 60_000_000, &SpikeConfig::default());
        assert_eq!(found.len(), 1, "{found:?}");
        let inc = &found[0];
        assert_eq!(inc.start, 20 * 60_000_000);
        assert_eq!(inc.end, 24 * 60_000_000);
        assert_eq!(inc.peak, 21 * 60_000_000);
        assert_eq!(inc.errors, 985);
        assert_eq!(inc.status.get(503), 985);
    }

    #[test]
    fn a_steady_trickle_is_no_incident() {
        let shape: Vec<(u64, u64)> = (0..200).map(|i| (600, 5 + (i % 7) as u64)).collect();
        assert!(incidents(&timeline(&shape), 60_000_000, &SpikeConfig::default()).is_empty());
        // Even a high steady error rate is the baseline, not a spike.
        let shape: Vec<(u64, u64)> = (0..200).map(|i| (600, 100 + (i % 9) as u64)).collect();
        assert!(incidents(&timeline(&shape), 60_000_000, &SpikeConfig::default()).is_empty());
    }

    #[test]
    fn small_counts_stay_below_the_floor() {
        let mut shape = vec![(50, 0); 30];
        shape[15] = (50, 9);
        assert!(incidents(&timeline(&shape), 60_000_000, &SpikeConfig::default()).is_empty());
        shape[15] = (50, 12);
        assert_eq!(
            incidents(&timeline(&shape), 60_000_000, &SpikeConfig::default()).len(),
            1
        );
    }
}
