//! The incident finder on a stream, for `logspike tail`'s `spike` rule.
//!
//! It is the batch finder, run on the recent past: records fold into an
//! [`Aggregate`] exactly as in a report, and every log second that brought
//! new 5xx (and every few seconds while an incident is open) the finder
//! judges the last `horizon` of it, so each series' baseline is its own
//! rate over the recent past, the test and its correction are the batch
//! ones, and an incident has the same scope, attribution and diagnosis
//! as the report would give it.
//!
//! One incident is announced once: a found incident that overlaps an open
//! one (in time, give or take [`QUIET`]) is the same event, whatever
//! scope the finder now gives it; it ends once its last abnormal error is
//! [`QUIET`] old, the gap after which the finder itself parts two bursts.
//! Only incidents still going on are announced: one found after it ended
//! (more evidence arrived) is history, not an alert.
//!
//! Memory stays within the horizon: every ten minutes of log time the
//! aggregate is rebuilt from its own [`History`] since the horizon's
//! start, which also drops keys no longer seen. The same history, summed
//! into ten-minute cells, goes into the tail's state file, so a restart
//! in the middle of an incident judges it against the same past and
//! neither announces it again nor ends it early.

use serde::{Deserialize, Serialize};

use super::{incidents, Incident, Kind, SpikeConfig, SECOND};
use crate::analysis::{Aggregate, Config, History, Place};
use crate::parse::Record;

/// The quiet time that ends an incident: the finder joins abnormal
/// stretches less than a minute apart.
pub const QUIET: i64 = 60 * SECOND;
/// While an incident is open, it is looked at this often even without new
/// 5xx, so that it ends on time; a few new 5xx (fewer than an incident
/// holds) wait this long for company.
const LOOK_EVERY: i64 = 5;
const TRICKLE_EVERY: i64 = 10;
/// A look costs a few milliseconds per hundred thousand requests in the
/// horizon. Following a live log (its clock within two minutes of the
/// wall clock), at most this share of the wall clock goes to looking, and
/// a look is never put off by more than [`LONGEST_WAIT`] of log time. A
/// replay or a catch-up looks on the log's clock alone, so that what it
/// finds does not depend on the machine's speed.
const MAX_SHARE: f64 = 0.05;
const LONGEST_WAIT: i64 = 30;
/// The aggregate is rebuilt from its history this often (log time).
const REBUILD_EVERY: i64 = 600;
/// Buckets of the history saved in the state file, and most keys saved
/// per dimension (the busiest).
const SAVED_BUCKET: i64 = 600 * SECOND;
const SAVED_KEYS: usize = 2000;

#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// How much of the recent past the finder judges (microseconds).
    pub horizon: i64,
    pub spike: SpikeConfig,
    pub analysis: Config,
}

/// An incident as announced: what the alert says, and what a restart
/// keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spike {
    /// The scope it was announced under: the alert's key, kept to its end.
    pub announced: String,
    /// `upstream 10.0.0.3:8080`, `paths /a, /b`, `site-wide`, as now seen.
    pub scope: String,
    /// The scope's dimension (`site`, `upstream`, `path`, `host`) and keys.
    pub dimension: String,
    pub keys: Vec<String>,
    /// First and one past the last abnormal error (UTC microseconds).
    pub start: i64,
    pub end: i64,
    /// 5xx clients saw in scope, and the requests (attempts, for an
    /// upstream) in scope.
    pub errors: u64,
    pub requests: u64,
    pub error_rate: f64,
    pub baseline_rate: f64,
    /// Most 5xx in one minute.
    pub peak_errors: u64,
    pub diagnosis: String,
    /// `(dimension, value, share of the 5xx, normal share)`, most telling
    /// first.
    pub attribution: Vec<(String, String, f64, f64)>,
    pub upstreams: Vec<(String, u64)>,
    pub paths: Vec<(String, u64)>,
    /// Where its first 5xx was read: the file's index and byte offset.
    pub first: Option<Place>,
}

impl Spike {
    fn from_incident(inc: &Incident) -> Spike {
        Spike {
            announced: inc.scope(),
            scope: inc.scope(),
            dimension: inc.dim.name().to_string(),
            keys: inc.keys.clone(),
            start: inc.start,
            end: inc.end,
            errors: inc.errors,
            requests: inc.requests,
            error_rate: inc.error_rate,
            baseline_rate: inc.baseline_rate,
            peak_errors: inc.peak_errors,
            diagnosis: inc.diagnosis.clone(),
            attribution: inc
                .attribution
                .iter()
                .map(|a| {
                    (
                        a.dim.name().to_string(),
                        a.key.clone(),
                        a.share,
                        a.normal_share,
                    )
                })
                .collect(),
            upstreams: inc.upstreams.iter().take(5).cloned().collect(),
            paths: inc.paths.iter().take(5).cloned().collect(),
            first: inc.first_error,
        }
    }

    /// Takes the newest view of the same event: more evidence may narrow
    /// its scope (a deploy's routes first seen as the site's errors); it
    /// keeps the name it was announced under, its first error and start.
    fn update(&mut self, inc: &Incident) {
        let newer = Spike::from_incident(inc);
        // A narrower view of a site-wide event replaces it; a view of
        // another scope (the finder now sees a broader or different part)
        // only carries the end on.
        if newer.scope != self.scope && self.dimension != "site" {
            self.end = self.end.max(newer.end);
            self.peak_errors = self.peak_errors.max(newer.peak_errors);
            return;
        }
        let (announced, start, first) = (self.announced.clone(), self.start, self.first);
        let (end, peak) = (
            self.end.max(newer.end),
            self.peak_errors.max(newer.peak_errors),
        );
        *self = newer;
        self.announced = announced;
        self.start = start.min(self.start);
        self.first = first.or(self.first);
        self.end = end;
        self.peak_errors = peak;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Started,
    Ended,
}

/// What the live finder keeps across a restart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SavedLive {
    pub open: Vec<Spike>,
    /// `[start, end)` of incidents ended within the horizon.
    #[serde(default)]
    pub ended: Vec<(i64, i64)>,
    pub history: History,
}

pub struct Live {
    config: LiveConfig,
    aggregate: Aggregate,
    open: Vec<Spike>,
    /// `[start, end)` of the incidents ended within the horizon: the finder
    /// still sees them, and must not announce them again.
    ended: Vec<(i64, i64)>,
    /// 5xx folded in since the last look.
    fresh: u64,
    last_look: i64,
    last_rebuild: i64,
    /// The history as last saved, and when (log seconds): it changes
    /// little from one second to the next.
    saved: Option<(i64, History)>,
    /// When the last look ended on the wall clock, and what it cost.
    looked: Option<(std::time::Instant, std::time::Duration)>,
}

impl Live {
    pub fn new(config: LiveConfig) -> Live {
        Live {
            aggregate: Aggregate::new(&config.analysis),
            config,
            open: Vec::new(),
            ended: Vec::new(),
            fresh: 0,
            last_look: i64::MIN,
            last_rebuild: i64::MIN,
            saved: None,
            looked: None,
        }
    }

    /// Folds one record in; `file` and `offset` say where it was read.
    pub fn add(&mut self, record: &Record, file: u32, offset: u64) {
        if record.time().is_none() {
            return;
        }
        self.aggregate
            .add(record, file, offset, &self.config.analysis);
        if record.status().is_some_and(|s| (500..=599).contains(&s)) {
            self.fresh += 1;
        }
    }

    /// Incidents announced and not yet ended.
    pub fn open(&self) -> &[Spike] {
        &self.open
    }

    /// Judges the recent past once log second `now` is complete; returns
    /// the incidents that start or end.
    pub fn tick(&mut self, now: i64) -> Vec<(Change, Spike)> {
        let waited = now.saturating_sub(self.last_look);
        let due = if self.fresh >= self.config.spike.min_errors {
            waited >= 1
        } else if self.fresh > 0 {
            waited >= TRICKLE_EVERY || (!self.open.is_empty() && waited >= LOOK_EVERY)
        } else {
            !self.open.is_empty() && waited >= LOOK_EVERY
        };
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let busy = (wall - now).abs() <= 120
            && self.looked.is_some_and(|(at, cost)| {
                at.elapsed().as_secs_f64() * MAX_SHARE < cost.as_secs_f64()
            });
        if !due || (busy && waited < LONGEST_WAIT) {
            return Vec::new();
        }
        let began = std::time::Instant::now();
        if self.last_rebuild == i64::MIN {
            self.last_rebuild = now;
        } else if now - self.last_rebuild >= REBUILD_EVERY {
            self.rebuild(now);
        }
        self.last_look = now;
        self.fresh = 0;
        let now_us = (now + 1) * SECOND;
        let recent = |i: &Incident| i.kind == Kind::Errors && i.end >= now_us - QUIET;
        let found: Vec<Incident> = incidents(&self.aggregate, &self.config.spike)
            .into_iter()
            .filter(recent)
            .collect();
        let mut out = Vec::new();
        for inc in &found {
            // An ended incident, still in view: the same unless abnormal
            // errors came a quiet minute after its end.
            if self
                .ended
                .iter()
                .any(|&(s, e)| inc.start <= e + QUIET && inc.end <= e + QUIET && inc.end >= s)
            {
                continue;
            }
            let same = self
                .open
                .iter()
                .position(|o| inc.start <= o.end + QUIET && inc.end + QUIET >= o.start);
            match same {
                Some(j) => self.open[j].update(inc),
                None => {
                    let spike = Spike::from_incident(inc);
                    out.push((Change::Started, spike.clone()));
                    self.open.push(spike);
                }
            }
        }
        // An incident ends a quiet minute after its last abnormal error,
        // whether or not the finder still sees it.
        let (ended, open): (Vec<Spike>, Vec<Spike>) = std::mem::take(&mut self.open)
            .into_iter()
            .partition(|o| o.end <= now_us - QUIET);
        self.open = open;
        let horizon_start = now_us - self.config.horizon;
        self.ended.retain(|&(_, e)| e >= horizon_start);
        self.ended.extend(ended.iter().map(|s| (s.start, s.end)));
        out.extend(ended.into_iter().map(|s| (Change::Ended, s)));
        self.looked = Some((std::time::Instant::now(), began.elapsed()));
        out
    }

    /// A fresh aggregate holding only the horizon: bounded memory, and
    /// keys no longer seen are dropped.
    fn rebuild(&mut self, now: i64) {
        let since = (now + 1) * SECOND - self.config.horizon;
        let history = self.aggregate.history(since, 0, usize::MAX);
        let mut fresh = Aggregate::new(&self.config.analysis);
        fresh.restore_history(&history);
        self.aggregate = fresh;
        self.last_rebuild = now;
    }

    /// What a restart needs; the history is summed again at most once a
    /// minute of log time.
    pub fn snapshot(&mut self, now: i64) -> SavedLive {
        let stale = self.saved.as_ref().is_none_or(|(at, _)| now - at >= 60);
        if stale {
            let since = (now + 1) * SECOND - self.config.horizon;
            let history = self.aggregate.history(since, SAVED_BUCKET, SAVED_KEYS);
            self.saved = Some((now, history));
        }
        SavedLive {
            open: self.open.clone(),
            ended: self.ended.clone(),
            history: self.saved.as_ref().map(|s| s.1.clone()).unwrap_or_default(),
        }
    }

    /// Takes back what [`Live::snapshot`] saved.
    pub fn restore(&mut self, saved: SavedLive) {
        self.aggregate.restore_history(&saved.history);
        self.open = saved.open;
        self.ended = saved.ended;
    }
}
