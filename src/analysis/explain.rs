//! What is different about an incident, and what its fields say happened.
//!
//! Attribution: for each dimension the series carry (upstream, path,
//! host), the values over-represented among the incident's 5xx compared
//! with normal traffic: their share of the incident's 5xx, their share of
//! the requests outside it, and the lift (one over the other). The most
//! telling come first: the largest excess of share.
//!
//! Diagnosis: a sentence that states only what the fields show, after what
//! each code means behind a proxy. 503 answered by one upstream, or by the
//! proxy itself with no upstream tried; 502 from attempts that never
//! connected (no connect time: refused or reset), and how many nginx
//! retried elsewhere; 504 whose upstream times sit at one ceiling (the
//! proxy's timeout, named with its value); 500 spread over the upstreams
//! and concentrated on a few paths (an application fault). Formats without
//! upstream fields say that which upstream answered is unknown.

use super::series::{Dim, Fault, Track};
use super::Statuses;

/// One over-represented value.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribution {
    pub dim: Dim,
    pub key: String,
    /// Of the incident's 5xx (5xx attempts, for upstreams).
    pub share: f64,
    /// Of the requests (attempts) outside the incident.
    pub normal_share: f64,
    /// `share / normal_share`; infinite for a value unseen outside it.
    pub lift: f64,
}

/// Values of one dimension over-represented among the 5xx of
/// `[start, end)`: at least 5% of them, 1.5 times their normal share, and
/// more than chance would put there.
pub fn attribute(dim: Dim, tracks: &[&Track], start: i64, end: i64) -> Vec<Attribution> {
    let mut rows: Vec<(&str, u64, u64)> = Vec::new();
    let (mut errors, mut normal) = (0u64, 0u64);
    for t in tracks {
        let (a, b) = t.range(start, end);
        let (n_in, k, _) = t.sums(a, b);
        let (n_all, _, _) = t.total();
        let outside = n_all - n_in;
        errors += k;
        normal += outside;
        if k > 0 {
            rows.push((t.key, k, outside));
        }
    }
    let rows = rows
        .into_iter()
        .map(|(key, k, outside)| (key.to_string(), k, outside))
        .collect();
    rank(dim, rows, errors, normal)
}

/// The 5xx codes over-represented among the incident's 5xx compared with
/// the 5xx outside it (for this dimension `normal_share` is of the 5xx
/// outside, not of all requests: a 503 burst on a site whose usual errors
/// are 500s says "503, 4% of 5xx normally").
pub fn attribute_status(site: &Track, start: i64, end: i64) -> Vec<Attribution> {
    let (a, b) = site.range(start, end);
    let (mut inside, mut outside) = (Statuses::default(), Statuses::default());
    for i in 0..site.len() {
        if let Some(e) = site.errors(i) {
            if (a..b).contains(&i) {
                inside.merge(&e.codes);
            } else {
                outside.merge(&e.codes);
            }
        }
    }
    let (errors, normal) = (inside.total(), outside.total());
    let rows: Vec<(String, u64, u64)> = inside
        .iter()
        .map(|(code, k)| (code.to_string(), k, outside.get(code)))
        .collect();
    rank(Dim::Status, rows, errors, normal)
}

/// Rows of `(key, 5xx in the incident, count outside)` as attributions:
/// only the telling ones, most telling first, three at most.
fn rank(dim: Dim, rows: Vec<(String, u64, u64)>, errors: u64, normal: u64) -> Vec<Attribution> {
    if errors == 0 {
        return Vec::new();
    }
    let mut out: Vec<Attribution> = rows
        .into_iter()
        .map(|(key, k, outside)| {
            let share = k as f64 / errors as f64;
            let normal_share = if normal > 0 {
                outside as f64 / normal as f64
            } else {
                0.0
            };
            Attribution {
                dim,
                key,
                share,
                normal_share,
                lift: if normal_share > 0.0 {
                    share / normal_share
                } else {
                    f64::INFINITY
                },
            }
        })
        // Telling, not noise: a few errors on a rare path (or a share a
        // little above normal) is what chance gives when errors fall on
        // requests at random. Five errors at least, and a count the normal
        // share would give less than once in about 20,000 times.
        .filter(|a| {
            let k = a.share * errors as f64;
            let expected = a.normal_share * errors as f64;
            a.share >= 0.05 && a.lift >= 1.5 && k >= 5.0 && llr(k, expected) >= 10.0
        })
        .collect();
    out.sort_by(|a, b| {
        (b.share - b.normal_share)
            .total_cmp(&(a.share - a.normal_share))
            .then(a.key.cmp(&b.key))
    });
    out.truncate(3);
    out
}

/// What the fields of an incident's 5xx add up to.
#[derive(Debug, Clone, Copy, Default)]
pub struct Facts {
    /// The format logs upstream attempts at all.
    pub has_upstreams: bool,
    /// The 5xx of the incident's scope, and of every upstream's attempts
    /// in its time range.
    pub scope: Sum,
    pub attempts: Sum,
    /// 5xx the proxy answered itself (no upstream tried), site-wide.
    pub bare: u64,
    /// 5xx clients saw in the time range, site-wide.
    pub client_5xx: u64,
    /// Upstreams with 5xx attempts in the time range.
    pub failing_upstreams: usize,
    /// Upstreams with attempts in the time range.
    pub active_upstreams: usize,
    /// 5xx of the scope (clients', or attempts' for an upstream scope).
    pub scope_5xx: u64,
}

/// Fault fields summed over cells.
#[derive(Debug, Clone, Copy)]
pub struct Sum {
    pub errors: u64,
    pub no_connect: u64,
    pub retried: u64,
    /// The 504s with a response time, their sum and the slowest.
    pub timed: u64,
    pub time_sum: f64,
    pub slowest: f32,
}

impl Default for Sum {
    fn default() -> Sum {
        Sum {
            errors: 0,
            no_connect: 0,
            retried: 0,
            timed: 0,
            time_sum: 0.0,
            slowest: -1.0,
        }
    }
}

impl Sum {
    pub fn add(&mut self, errors: u64, f: &Fault) {
        self.errors += errors;
        self.no_connect += f.no_connect as u64;
        self.retried += f.retried as u64;
        self.timed += f.timed as u64;
        self.time_sum += f.time_sum as f64;
        self.slowest = self.slowest.max(f.slowest);
    }
}

/// The dominant 5xx code and its share.
fn dominant(codes: &[(u16, u64)]) -> Option<(u16, f64)> {
    let total: u64 = codes.iter().map(|c| c.1).sum();
    let (code, n) = codes.iter().max_by_key(|c| (c.1, std::cmp::Reverse(c.0)))?;
    Some((*code, *n as f64 / total.max(1) as f64))
}

fn seconds(s: f32) -> String {
    if s >= 10.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

/// The diagnosis in plain words. `scope` is the incident's scope in words
/// (`upstream 10.0.0.3:8080`), `paths` how many paths carried its 5xx.
pub fn diagnose(
    dim: Dim,
    scope: &str,
    codes: &[(u16, u64)],
    facts: &Facts,
    top_paths: usize,
) -> String {
    let Some((code, share)) = dominant(codes) else {
        return String::new();
    };
    let mostly = if share >= 0.95 {
        String::new()
    } else {
        format!(" ({:.0}% of them)", share * 100.0)
    };
    // No upstream fields, or none logged with these errors (several
    // files of several formats can share the time): say so, no more.
    let unlogged = facts.attempts.errors * 2 < facts.scope_5xx && facts.bare * 2 < facts.scope_5xx;
    if !facts.has_upstreams || (dim != Dim::Upstream && unlogged) {
        let what = match code {
            500 => "an application error",
            502 => "a bad gateway",
            503 => "service unavailable",
            504 => "a gateway timeout",
            _ => "a server error",
        };
        return format!(
            "Mostly {code}{mostly}, {what}; no upstream fields were logged with these errors, so which upstream answered (or whether the proxy answered itself) is unknown."
        );
    }
    let s = &facts.scope;
    let a = &facts.attempts;
    let bare_share = facts.bare as f64 / facts.client_5xx.max(1) as f64;
    let who = if dim == Dim::Upstream {
        scope
    } else {
        "the upstreams"
    };
    let mut out = match code {
        503 if dim == Dim::Upstream => format!(
            "503{mostly} answered by {scope}: it was overloaded or refusing work."
        ),
        503 if bare_share < 0.5 && facts.failing_upstreams >= 2 => format!(
            "503{mostly} answered by {} of {} upstreams: several were overloaded or refusing at once.",
            facts.failing_upstreams, facts.active_upstreams
        ),
        503 if bare_share >= 0.5 => format!(
            "503{mostly} answered by the proxy itself: {:.0}% of the 5xx reached no upstream (rate limiting, maintenance, or every upstream down).",
            bare_share * 100.0
        ),
        502 => {
            let refused = if s.errors > 0 && s.no_connect * 2 >= s.errors {
                format!(
                    "; {:.0}% of the failed attempts have no connect time: connections refused or reset",
                    s.no_connect as f64 * 100.0 / s.errors as f64
                )
            } else {
                String::new()
            };
            format!("502{mostly} from {who}{refused}.")
        }
        504 => {
            // Pinned at a ceiling: their mean is within a tenth of the
            // slowest (a few quick 504s of another cause do not hide it).
            let mean = s.time_sum / s.timed.max(1) as f64;
            let ceiling = if s.slowest >= 1.0 && mean >= 0.9 * s.slowest as f64 {
                format!(
                    "; the 504s took {} on average, {} at most: a timeout ceiling, most likely the proxy's read timeout of about {}",
                    seconds(mean as f32),
                    seconds(s.slowest),
                    seconds(s.slowest.round())
                )
            } else if s.slowest >= 0.0 {
                format!("; the 504s took up to {}", seconds(s.slowest))
            } else {
                String::new()
            };
            format!("504{mostly}: {who} did not answer in time{ceiling}.")
        }
        500 if dim == Dim::Path && facts.failing_upstreams >= 2 => format!(
            "500{mostly} on {scope} from {} of {} upstreams: an application fault on those paths (often a deploy), not one failing upstream.",
            facts.failing_upstreams, facts.active_upstreams
        ),
        500 if dim == Dim::Upstream => format!("500{mostly} from {scope} alone: that upstream's application is failing."),
        500 if facts.failing_upstreams >= 2 && top_paths > 0 => format!(
            "500{mostly} from {} of {} upstreams: an application fault, not one failing upstream.",
            facts.failing_upstreams, facts.active_upstreams
        ),
        code => format!("Mostly {code}{mostly}."),
    };
    // What the proxy did about it.
    if a.retried > 0 && a.errors > 0 {
        out.push_str(&format!(
            " nginx retried {} of {} failed attempts on another upstream; meanwhile clients saw {} 5xx site-wide.",
            a.retried, a.errors, facts.client_5xx
        ));
    }
    out
}

/// A sentence when most of the 5xx went to one client network that
/// usually sends a small part of the traffic: one client's load, not the
/// service's. With the proxy answering itself that is rate limiting's
/// signature.
pub fn one_client(attribution: &[Attribution], facts: &Facts) -> Option<String> {
    let a = attribution
        .iter()
        .find(|a| a.dim == Dim::Client && a.share >= 0.5 && a.lift >= 5.0)?;
    let bare = facts.has_upstreams && facts.bare * 2 >= facts.client_5xx.max(1);
    Some(format!(
        " {:.0}% of the 5xx went to client network {} ({:.1}% of the usual traffic): one client's load{}.",
        a.share * 100.0,
        a.key,
        a.normal_share * 100.0,
        if bare {
            ", refused by the proxy itself (rate limiting, most likely)"
        } else {
            " (a bot or a scraper, most likely)"
        }
    ))
}

/// Log-likelihood ratio of `k` events where `lambda` were expected
/// (Poisson); large when `k` is far from `lambda` either way.
pub(crate) fn llr(k: f64, lambda: f64) -> f64 {
    let lambda = lambda.max(1e-12);
    let klogk = if k > 0.0 { k * (k / lambda).ln() } else { 0.0 };
    (klogk - k + lambda).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(scope: Sum) -> Facts {
        Facts {
            has_upstreams: true,
            scope,
            attempts: scope,
            bare: 0,
            client_5xx: scope.errors,
            failing_upstreams: 1,
            active_upstreams: 6,
            scope_5xx: scope.errors,
        }
    }

    #[test]
    fn each_code_gets_its_reading_and_only_what_the_fields_show() {
        let up = "upstream 10.0.0.3:8080";
        let d = diagnose(
            Dim::Upstream,
            up,
            &[(503, 90)],
            &facts(Sum {
                errors: 90,
                ..Sum::default()
            }),
            3,
        );
        assert!(
            d.starts_with("503 answered by upstream 10.0.0.3:8080"),
            "{d}"
        );

        let mut f = facts(Sum::default());
        f.bare = 95;
        f.client_5xx = 100;
        f.scope_5xx = 100;
        let d = diagnose(Dim::Site, "site-wide", &[(503, 100)], &f, 3);
        assert!(d.contains("answered by the proxy itself: 95%"), "{d}");

        let s = Sum {
            errors: 80,
            no_connect: 80,
            retried: 76,
            ..Sum::default()
        };
        let mut f = facts(s);
        f.client_5xx = 4;
        let d = diagnose(Dim::Upstream, up, &[(502, 80)], &f, 3);
        assert!(
            d.contains("100% of the failed attempts have no connect time"),
            "{d}"
        );
        assert!(
            d.contains("retried 76 of 80 failed attempts")
                && d.contains("clients saw 4 5xx site-wide"),
            "{d}"
        );

        let s = Sum {
            errors: 50,
            timed: 50,
            time_sum: 50.0 * 59.9,
            slowest: 60.002,
            ..Sum::default()
        };
        let d = diagnose(Dim::Upstream, up, &[(504, 50)], &facts(s), 3);
        assert!(d.contains("proxy's read timeout of about 60 s"), "{d}");

        let mut f = facts(Sum {
            errors: 40,
            ..Sum::default()
        });
        f.failing_upstreams = 6;
        let d = diagnose(Dim::Path, "paths /a, /b", &[(500, 40)], &f, 2);
        assert!(
            d.contains("from 6 of 6 upstreams: an application fault"),
            "{d}"
        );

        let mut f = facts(Sum {
            errors: 40,
            ..Sum::default()
        });
        f.has_upstreams = false;
        let d = diagnose(Dim::Site, "site-wide", &[(503, 40)], &f, 2);
        assert!(
            d.contains("no upstream fields were logged") && !d.contains("answered by"),
            "{d}"
        );
    }
}
