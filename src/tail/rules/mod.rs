//! Alert rules and their sliding windows.
//!
//! A rule counts matching responses in a window that slides on the log's
//! own clock, per key when it is split `by upstream` or `by path`:
//!
//! ```text
//! 503 >= 50 in 30s
//! 5xx >= 100 in 1m by path
//! 5xx rate > 5% over 1m min 100
//! 503 rate >= 20% over 30s min 50 by upstream
//! ```
//!
//! Windows are kept as one bucket per second of log time. A key fires the
//! moment its window breaks the rule and resolves only once the window has
//! kept to the rule for the settle time (log seconds): that hysteresis
//! keeps a value hovering at the threshold, or lines arriving a little out
//! of order, from flapping the alert.

use std::collections::VecDeque;

mod text;

pub use text::{
    parse_all, Compare, Dimension, Measure, Rule, SpikeRule, StatusMatch, DEFAULT_RULES,
};

use crate::analysis::{HashMap, OTHER};

/// Most keys one rule tracks; the rest share [`OTHER`].
const MAX_KEYS: usize = 2000;
/// Offending lines are kept to this many bytes.
pub const MAX_LINE_TEXT: usize = 2048;
/// Entries in the `top_upstreams` and `top_paths` of an alert.
const TOP: usize = 5;
/// Distinct upstreams or paths one bucket counts before "(other)".
const BUCKET_KEYS: usize = 32;
/// Distinct (bucket, upstream or path) entries one rule holds in all its
/// keys' buckets: a `by path` rule with many paths firing and a new
/// upstream on every line would otherwise hold 2,000 keys × its window ×
/// 64 names. Past it, new names count under "(other)".
const MAX_TALLY_ENTRIES: usize = 50_000;

/// Where an offending line was read.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LineRef {
    pub file: String,
    /// Byte offset of the line in that file.
    pub offset: u64,
    pub text: String,
}

/// One response, as the rules see it.
pub struct Hit<'a> {
    /// Log time in whole seconds (UTC).
    pub second: i64,
    pub status: u16,
    /// Upstream attempts: address and the status it answered.
    pub upstreams: &'a [(&'a str, u16)],
    pub path: &'a str,
    /// Fills in the line; called only when it offends a rule.
    pub line: &'a dyn Fn(&mut LineRef),
}

/// A small counter map for one bucket.
#[derive(Debug, Default, Clone)]
struct Tally(Vec<(Box<str>, u64)>);

impl Tally {
    /// Counts `n` for `key`; a new name takes one of the rule's `budget`
    /// of entries, or counts as "(other)" when none is left.
    fn add(&mut self, key: &str, n: u64, budget: &mut usize) {
        if let Some(e) = self.0.iter_mut().find(|e| &*e.0 == key) {
            e.1 += n;
        } else if self.0.len() < BUCKET_KEYS && *budget > 0 {
            *budget -= 1;
            self.0.push((key.into(), n));
        } else {
            self.add_other(n, budget);
        }
    }

    /// "(other)" takes an entry too; with none left the count is only in
    /// the window's totals, not in its top lists.
    fn add_other(&mut self, n: u64, budget: &mut usize) {
        match self.0.iter_mut().find(|e| &*e.0 == OTHER) {
            Some(e) => e.1 += n,
            None if *budget > 0 => {
                *budget -= 1;
                self.0.push((OTHER.into(), n));
            }
            None => {}
        }
    }
}

#[derive(Debug, Default)]
struct Bucket {
    second: i64,
    hits: u64,
    total: u64,
    upstreams: Tally,
    paths: Tally,
    /// The first offending line of this second.
    first: Option<LineRef>,
}

/// One key's window and alert state.
#[derive(Debug, Default)]
struct KeyState {
    buckets: VecDeque<Bucket>,
    hits: u64,
    total: u64,
    last: Option<LineRef>,
    firing: Option<Episode>,
}

#[derive(Debug)]
struct Episode {
    first: Option<LineRef>,
    peak: u64,
    /// Log second since which the window has kept to the rule.
    calm_since: Option<i64>,
}

impl KeyState {
    fn bucket(&mut self, second: i64) -> Option<&mut Bucket> {
        // Out-of-order lines go to their own second; most land in the last.
        let pos = self
            .buckets
            .iter()
            .rposition(|b| b.second <= second)
            .map(|i| i + 1)
            .unwrap_or(0);
        if pos > 0 && self.buckets[pos - 1].second == second {
            return self.buckets.get_mut(pos - 1);
        }
        self.buckets.insert(
            pos,
            Bucket {
                second,
                ..Bucket::default()
            },
        );
        self.buckets.get_mut(pos)
    }

    /// Drops the buckets before `oldest`; gives back their tally entries
    /// to the rule's budget.
    fn expire(&mut self, oldest: i64, budget: &mut usize) {
        while self.buckets.front().is_some_and(|b| b.second < oldest) {
            if let Some(b) = self.buckets.pop_front() {
                self.hits -= b.hits;
                self.total -= b.total;
                *budget += b.upstreams.0.len() + b.paths.0.len();
            }
        }
    }

    fn top(&self, pick: fn(&Bucket) -> &Tally) -> Vec<Top> {
        let mut sums: Vec<(Box<str>, u64)> = Vec::new();
        for b in &self.buckets {
            for (k, n) in &pick(b).0 {
                match sums.iter_mut().find(|e| e.0 == *k) {
                    Some(e) => e.1 += n,
                    None => sums.push((k.clone(), *n)),
                }
            }
        }
        sums.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        sums.into_iter()
            .take(TOP)
            .map(|(key, count)| Top {
                key: key.into(),
                count,
            })
            .collect()
    }

    fn rate(&self) -> Option<f64> {
        (self.total > 0).then(|| self.hits as f64 / self.total as f64)
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Top {
    pub key: String,
    pub count: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Firing,
    Resolved,
}

/// An alert firing or resolving: what every sink writes.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Alert {
    pub rule: String,
    pub state: AlertState,
    /// The upstream or path of a rule split by one; null otherwise.
    pub key: Option<String>,
    /// What `key` is, `upstream` or `path`, for a rule split by one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<&'static str>,
    /// The window, RFC 3339 UTC: from its first second to the end of its last.
    pub window_start: String,
    pub window_end: String,
    /// Matching responses in the window.
    pub count: u64,
    /// All responses in the window (of the key, for a split rule).
    pub total: u64,
    /// `count / total`, from 0 to 1 (as `error_rate` in the report's JSON);
    /// null when the window is empty.
    pub rate: Option<f64>,
    /// The most matching responses one window of this alert held.
    pub peak: u64,
    pub top_upstreams: Vec<Top>,
    pub top_paths: Vec<Top>,
    pub first_line: Option<LineRef>,
    pub last_line: Option<LineRef>,
    /// For a `spike` alert: the incident's scope, its baseline rate,
    /// what the fields say happened and what is different about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attribution: Vec<Differs>,
}

/// One value over-represented among an incident's 5xx.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Differs {
    pub dimension: String,
    pub key: String,
    /// Of the incident's 5xx.
    pub share: f64,
    /// Of the traffic outside it (of the 5xx outside it, for `status`).
    pub normal_share: f64,
}

/// A rule with its keys.
struct Tracker {
    rule: Rule,
    text: String,
    keys: HashMap<String, KeyState>,
    /// Tally entries it may still add (see [`MAX_TALLY_ENTRIES`]).
    budget: usize,
}

/// One key's window and alert, as kept in the state file so a restart
/// neither forgets a burst in progress nor announces it twice. Per-second
/// top lists are not kept: after a restart they cover new lines only.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedKey {
    pub rule: String,
    pub key: String,
    /// `[second, matching, all]` per second of the window.
    pub buckets: Vec<(i64, u64, u64)>,
    pub firing: Option<SavedEpisode>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedEpisode {
    pub peak: u64,
    pub calm_since: Option<i64>,
    pub first_line: Option<LineRef>,
}

/// All rules, fed line by line and ticked on log time.
pub struct Rules {
    trackers: Vec<Tracker>,
    /// Log seconds an alert stays firing after its window keeps to the rule.
    settle: i64,
}

fn rfc3339(second: i64) -> String {
    chrono::DateTime::from_timestamp(second, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn key_state<'a>(keys: &'a mut HashMap<String, KeyState>, key: &str) -> &'a mut KeyState {
    let key = if keys.contains_key(key) || keys.len() < MAX_KEYS {
        key
    } else {
        OTHER
    };
    if !keys.contains_key(key) {
        keys.insert(key.to_string(), KeyState::default());
    }
    keys.get_mut(key).expect("inserted above")
}

impl Rules {
    pub fn new(rules: Vec<Rule>, settle: i64) -> Rules {
        Rules {
            trackers: rules
                .into_iter()
                .map(|rule| Tracker {
                    text: rule.to_string(),
                    rule,
                    keys: HashMap::default(),
                    budget: MAX_TALLY_ENTRIES,
                })
                .collect(),
            settle: settle.max(0),
        }
    }

    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.trackers.iter().map(|t| &t.rule)
    }

    /// Counts one response into every rule. `now` is the current log
    /// second: a line older than a rule's window counts nowhere.
    pub fn add(&mut self, hit: &Hit, now: i64) {
        for t in &mut self.trackers {
            if hit.second <= now - t.rule.window {
                continue;
            }
            match t.rule.by {
                Dimension::None => add_to(t, "", hit, hit.status),
                Dimension::Path => add_to(t, hit.path, hit, hit.status),
                Dimension::Upstream => {
                    if hit.upstreams.is_empty() {
                        add_to(t, "-", hit, hit.status);
                    }
                    for &(addr, status) in hit.upstreams {
                        add_to(t, addr, hit, status);
                    }
                }
            }
        }
    }

    /// Slides every window to end at log second `now` and returns the
    /// alerts that start or end.
    pub fn tick(&mut self, now: i64) -> Vec<Alert> {
        let mut out = Vec::new();
        for t in &mut self.trackers {
            let oldest = now - t.rule.window + 1;
            let rule = &t.rule;
            let budget = &mut t.budget;
            t.keys.retain(|key, state| {
                state.expire(oldest, budget);
                let breached = rule.breached(state.hits, state.total);
                if state.firing.is_none() {
                    if breached {
                        let first = state.buckets.iter().find_map(|b| b.first.clone());
                        state.firing = Some(Episode {
                            first,
                            peak: state.hits,
                            calm_since: None,
                        });
                        out.push(alert(&t.text, rule, key, state, AlertState::Firing, now));
                    }
                } else {
                    let mut resolve = false;
                    if let Some(e) = state.firing.as_mut() {
                        e.peak = e.peak.max(state.hits);
                        if breached {
                            e.calm_since = None;
                        } else {
                            let since = *e.calm_since.get_or_insert(now);
                            resolve = now - since >= self.settle;
                        }
                    }
                    if resolve {
                        out.push(alert(&t.text, rule, key, state, AlertState::Resolved, now));
                        state.firing = None;
                    }
                }
                state.firing.is_some() || !state.buckets.is_empty()
            });
        }
        out
    }

    /// Every key's window and alert state, to save.
    pub fn snapshot(&self) -> Vec<SavedKey> {
        let mut out = Vec::new();
        for t in &self.trackers {
            for (key, state) in &t.keys {
                out.push(SavedKey {
                    rule: t.text.clone(),
                    key: key.clone(),
                    buckets: state
                        .buckets
                        .iter()
                        .map(|b| (b.second, b.hits, b.total))
                        .collect(),
                    firing: state.firing.as_ref().map(|e| SavedEpisode {
                        peak: e.peak,
                        calm_since: e.calm_since,
                        first_line: e.first.clone(),
                    }),
                });
            }
        }
        out.sort_by(|a, b| (&a.rule, &a.key).cmp(&(&b.rule, &b.key)));
        out
    }

    /// Takes back saved windows and alerts, for the rules that are still
    /// the same (by their text); others are dropped.
    pub fn restore(&mut self, saved: Vec<SavedKey>) {
        for s in saved {
            let Some(t) = self.trackers.iter_mut().find(|t| t.text == s.rule) else {
                continue;
            };
            let state = key_state(&mut t.keys, &s.key);
            for (second, hits, total) in s.buckets {
                if let Some(b) = state.bucket(second) {
                    b.hits += hits;
                    b.total += total;
                }
                state.hits += hits;
                state.total += total;
            }
            if let Some(e) = s.firing {
                state.firing = Some(Episode {
                    first: e.first_line,
                    peak: e.peak,
                    calm_since: e.calm_since,
                });
            }
        }
    }

    /// Keys firing now: (rule text, key), sorted.
    /// The alerts firing now, as they would be raised (for destinations
    /// that must be told again after a restart, such as Alertmanager).
    pub fn firing(&self, now: i64) -> Vec<Alert> {
        let mut out = Vec::new();
        for t in &self.trackers {
            for (key, state) in &t.keys {
                if state.firing.is_some() {
                    out.push(alert(&t.text, &t.rule, key, state, AlertState::Firing, now));
                }
            }
        }
        out
    }

    pub fn active(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .trackers
            .iter()
            .flat_map(|t| {
                t.keys
                    .iter()
                    .filter(|(_, s)| s.firing.is_some())
                    .map(|(k, _)| (t.text.clone(), k.clone()))
            })
            .collect();
        v.sort_unstable();
        v
    }
}

fn add_to(t: &mut Tracker, key: &str, hit: &Hit, status: u16) {
    let matches = t.rule.statuses.matches(status);
    let state = key_state(&mut t.keys, key);
    let budget = &mut t.budget;
    let Some(b) = state.bucket(hit.second) else {
        return;
    };
    b.total += 1;
    if matches {
        b.hits += 1;
        if hit.upstreams.is_empty() {
            b.upstreams.add("-", 1, budget);
        }
        for &(addr, s) in hit.upstreams {
            if t.rule.statuses.matches(s) || t.rule.by != Dimension::Upstream {
                b.upstreams.add(addr, 1, budget);
            }
        }
        b.paths.add(hit.path, 1, budget);
        if b.first.is_none() {
            let mut first = LineRef::default();
            (hit.line)(&mut first);
            b.first = Some(first);
        }
        // The last line reuses its buffer: no allocation per offending line.
        (hit.line)(state.last.get_or_insert_with(LineRef::default));
        state.hits += 1;
    }
    state.total += 1;
}

fn alert(
    text: &str,
    rule: &Rule,
    key: &str,
    state: &KeyState,
    status: AlertState,
    now: i64,
) -> Alert {
    let episode = state.firing.as_ref();
    Alert {
        rule: text.to_string(),
        state: status,
        key: (rule.by != Dimension::None).then(|| key.to_string()),
        by: match rule.by {
            Dimension::None => None,
            Dimension::Upstream => Some("upstream"),
            Dimension::Path => Some("path"),
        },
        window_start: rfc3339(now - rule.window + 1),
        window_end: rfc3339(now + 1),
        count: state.hits,
        total: state.total,
        rate: state.rate(),
        peak: episode.map_or(state.hits, |e| e.peak.max(state.hits)),
        top_upstreams: state.top(|b| &b.upstreams),
        top_paths: state.top(|b| &b.paths),
        first_line: episode
            .and_then(|e| e.first.clone())
            .or_else(|| state.buckets.iter().find_map(|b| b.first.clone())),
        last_line: state.last.clone(),
        scope: None,
        baseline_rate: None,
        diagnosis: None,
        attribution: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(l: &mut LineRef) {
        l.file.clear();
        l.file.push_str("a.log");
        l.text.clear();
        l.text.push_str("line");
    }

    fn hit(rules: &mut Rules, second: i64, status: u16, upstream: &str, now: i64) {
        let ups = [(upstream, status)];
        rules.add(
            &Hit {
                second,
                status,
                upstreams: &ups,
                path: "/p",
                line: &fill,
            },
            now,
        );
    }

    #[test]
    fn parses_and_prints_rules() {
        for (text, shown) in [
            ("503 >= 50 in 30s", "503 >= 50 in 30s"),
            ("5xx >= 100 in 1m by path", "5xx >= 100 in 1m by path"),
            (
                "5xx rate > 5% over 1m min 100",
                "5xx rate > 5% over 1m min 100",
            ),
            ("503>=50 in 90s by upstream", "503 >= 50 in 90s by upstream"),
            (
                "5XX RATE >= 2.5% OVER 2m",
                "5xx rate >= 2.5% over 2m min 20",
            ),
        ] {
            let rule = Rule::parse(text).unwrap();
            assert_eq!(rule.to_string(), shown);
            assert_eq!(Rule::parse(shown).unwrap(), rule);
        }
        for (text, why) in [
            ("503 >= fifty in 30s", "`fifty` is not a count"),
            ("5xx >= 5 in", "expected a duration at the end"),
            ("5xx >= 5 in 0s", "longer than zero"),
            ("5xx >= 5 in 2d", "from 1s to 24h"),
            ("700 >= 5 in 1m", "not a status"),
            ("5xx rate > 120% over 1m", "not a percentage"),
            ("5xx >= 5 in 1m by host", "not `host`"),
            ("5xx >= 5 in 1m min 3", "unexpected `min`"),
            ("503 = 5 in 1m", "expected `>=` or `>`"),
        ] {
            let err = Rule::parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
        for text in DEFAULT_RULES {
            match SpikeRule::parse(text) {
                Some(spike) => assert_eq!(spike.unwrap().to_string(), text),
                None => assert_eq!(Rule::parse(text).unwrap().to_string(), text),
            }
        }
        assert_eq!(
            SpikeRule::parse("spike over 2h").unwrap().unwrap(),
            SpikeRule { horizon: 7200 }
        );
        for (text, why) in [
            ("spike over 1m", "from 10m to 24h"),
            ("spike now", "unexpected words"),
            ("spike over x", "not a duration"),
        ] {
            let err = SpikeRule::parse(text).unwrap().unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn fires_once_and_resolves_once_after_settling() {
        let rule = Rule::parse("503 >= 5 in 10s by upstream").unwrap();
        let mut rules = Rules::new(vec![rule], 3);
        let mut events = Vec::new();
        for s in 100..200 {
            // A burst at 110..=112 from `b`; a trickle of one 503 every
            // third second from `c` (4 in 10 s at most).
            if (110..=112).contains(&s) {
                for _ in 0..4 {
                    hit(&mut rules, s, 503, "b", s);
                }
            }
            if s % 3 == 0 {
                hit(&mut rules, s, 503, "c", s);
            }
            hit(&mut rules, s, 200, "b", s);
            events.extend(rules.tick(s));
        }
        let shown: Vec<(AlertState, Option<&str>, i64)> = events
            .iter()
            .map(|a| {
                let end = chrono::DateTime::parse_from_rfc3339(&a.window_end).unwrap();
                (a.state, a.key.as_deref(), end.timestamp() - 1)
            })
            .collect();
        // Fires the second the fifth 503 arrives; from 121 the window holds
        // only 112's four, below the rule, and it stays so for 3 s.
        assert_eq!(
            shown,
            vec![
                (AlertState::Firing, Some("b"), 111),
                (AlertState::Resolved, Some("b"), 124)
            ]
        );
        assert_eq!(events[0].count, 8);
        assert_eq!(events[1].peak, 12);
        assert_eq!(events[0].top_upstreams[0].key, "b");
        assert_eq!(events[0].first_line.as_ref().unwrap().file, "a.log");
    }

    #[test]
    fn hovering_at_the_threshold_does_not_flap() {
        let rule = Rule::parse("5xx >= 10 in 5s").unwrap();
        let mut rules = Rules::new(vec![rule], 5);
        let mut events = Vec::new();
        // 2 a second is exactly 10 per 5 s; every sixth second has one
        // fewer: each window that holds it (5 in a row) dips just below.
        for s in 0..60 {
            let n = if s % 6 == 3 { 1 } else { 2 };
            for _ in 0..n {
                hit(&mut rules, s, 500, "a", s);
            }
            events.extend(rules.tick(s));
        }
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].state, AlertState::Firing);
    }

    #[test]
    fn rate_needs_its_minimum_of_requests() {
        let rule = Rule::parse("5xx rate > 5% over 1m min 100").unwrap();
        let mut rules = Rules::new(vec![rule], 1);
        // A quiet night: one request, and it failed: 100%, but 1 < 100.
        hit(&mut rules, 10, 503, "a", 10);
        assert!(rules.tick(10).is_empty());
        for i in 0..95 {
            hit(&mut rules, 20, if i < 5 { 500 } else { 200 }, "a", 20);
        }
        // 101 requests, 7 errors: 6.9% > 5%.
        hit(&mut rules, 21, 502, "a", 21);
        hit(&mut rules, 21, 200, "a", 21);
        hit(&mut rules, 21, 200, "a", 21);
        hit(&mut rules, 21, 200, "a", 21);
        hit(&mut rules, 21, 200, "a", 21);
        let events = rules.tick(21);
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].count, events[0].total), (7, 101));
        assert!((events[0].rate.unwrap() - 0.0693).abs() < 0.0001);
        assert_eq!(events[0].key, None);
    }

    /// Many `by path` alerts firing with a new upstream on every line grew
    /// the tail's memory (27 to 58 MB over 1 to 3 M lines): the names kept
    /// in the windows' top lists are bounded per rule, and given back as
    /// the window slides.
    #[test]
    fn top_lists_stay_bounded_with_a_new_upstream_on_every_line() {
        let rule = Rule::parse("5xx >= 1 in 60s by path").unwrap();
        let mut rules = Rules::new(vec![rule], 5);
        let mut n = 0u64;
        let entries = |rules: &Rules| -> usize {
            rules.trackers[0]
                .keys
                .values()
                .flat_map(|k| k.buckets.iter())
                .map(|b| b.upstreams.0.len() + b.paths.0.len())
                .sum()
        };
        for second in 0..90 {
            for p in 0..1500 {
                n += 1;
                let upstream = format!("10.{}.{}.{}:80", n >> 16, (n >> 8) & 255, n & 255);
                let path = format!("/p{p}");
                let ups = [(upstream.as_str(), 503)];
                rules.add(
                    &Hit {
                        second,
                        status: 503,
                        upstreams: &ups,
                        path: &path,
                        line: &fill,
                    },
                    second,
                );
            }
            rules.tick(second);
            let held = entries(&rules);
            assert!(held <= MAX_TALLY_ENTRIES, "{held} at {second}");
            assert_eq!(held + rules.trackers[0].budget, MAX_TALLY_ENTRIES);
        }
        // Still counted, under "(other)" where the names ran out.
        let counted: u64 = rules.trackers[0].keys.values().map(|k| k.hits).sum();
        assert_eq!(counted, 60 * 1500);
    }

    #[test]
    fn late_lines_count_in_their_own_second() {
        let rule = Rule::parse("503 >= 3 in 10s").unwrap();
        let mut rules = Rules::new(vec![rule], 1);
        hit(&mut rules, 50, 503, "a", 50);
        hit(&mut rules, 50, 503, "a", 50);
        // Written late, stamped earlier but within the window: counts.
        hit(&mut rules, 45, 503, "a", 50);
        assert_eq!(rules.tick(50).len(), 1);
        // Stamped before the window: counts nowhere.
        let mut rules = Rules::new(vec![Rule::parse("503 >= 1 in 10s").unwrap()], 1);
        hit(&mut rules, 40, 503, "a", 50);
        assert!(rules.tick(50).is_empty());
    }
}
