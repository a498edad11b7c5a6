//! `logspike tail`: follows live logs and raises alerts on 5xx bursts.
//!
//! One thread reads: it wakes on a file system event (inotify through the
//! `notify` crate, watching the directories of the followed paths) or
//! after the poll interval, looks at every followed file ([`follow`]: each
//! known by its [`identity`], read through a [`cursor`], found again after
//! a rotation), feeds new lines to the engine (counts, the alert
//! [`rules`], the live incident finder, the [`metrics`]), then slides the
//! windows and hands alerts to the sinks ([`sink`]); positions are kept in
//! the [`state`] file. Standard input is read by a thread of its own. Without inotify it polls. `--exec` commands and the metrics
//! server run on threads of their own, so neither can hold up reading.
//!
//! The rules' clock is the log's: the newest timestamp read, carried on by
//! the wall clock while the log is quiet (so an alert resolves when a
//! burst stops even if nothing more is written). A line stamped more than
//! [`FUTURE_SLACK`] ahead of the wall clock does not move that clock.

pub mod cursor;
pub mod deliver;
mod engine;
pub mod follow;
pub mod identity;
pub mod log;
pub mod metrics;
mod rotation;
pub mod rules;
pub mod sink;
pub mod state;
mod stdin;
mod watch;

use crate::tail::log::say;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::analysis::PathNormalizer;
use crate::detect::FormatChoice;

use crate::analysis::spikes::live::{Live, LiveConfig};
use engine::{wall_seconds, Clock, Engine, Handler};
use follow::Follower;
use metrics::Metrics;
use rules::{Alert, AlertState, Rule, Rules, SpikeRule};
use stdin::{read_stdin, take, StdinSource, Wake};
use watch::{expand, watch_dir, watch_dirs, WatchedDirs};

/// A line this far ahead of the wall clock has a broken timestamp.
pub const FUTURE_SLACK: i64 = 300;
pub struct TailOptions {
    /// Files or globs.
    pub paths: Vec<PathBuf>,
    pub format: FormatChoice,
    /// `--format-for PATTERN=NAME`.
    pub format_for: Vec<(glob::Pattern, Arc<crate::grammar::Grammar>)>,
    pub from_start: bool,
    pub state: Option<PathBuf>,
    pub rules: Vec<Rule>,
    /// The batch incident finder on the recent past (`--alert spike`).
    pub spike: Option<SpikeRule>,
    /// Its options (`--min-5xx`, `--min-lift`, `--false-alarm`).
    pub spike_config: crate::analysis::spikes::SpikeConfig,
    /// Log seconds a firing alert's window must keep to its rule before it
    /// resolves.
    pub settle: i64,
    pub json: bool,
    pub exec: Option<(String, Duration)>,
    /// Alertmanager and webhook destinations.
    pub http: deliver::HttpSinks,
    pub metrics: Option<String>,
    /// Poll at this interval instead of waiting for inotify.
    pub poll: Option<Duration>,
    /// How long a rotated or deleted file stays open after its last growth.
    pub grace: Duration,
    pub paths_normalizer: PathNormalizer,
    /// Only the records this keeps count towards rules and metrics of
    /// requests; the others only move the log clock on.
    pub filter: crate::analysis::Filter,
    /// How often the state file is written while running.
    pub state_every: Duration,
}

/// What one run read, for the summary at exit.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub lines: u64,
    pub parsed: u64,
    pub rejected: u64,
    pub late: u64,
    /// Parsed records a filter left out.
    pub filtered: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub fired: u64,
    pub resolved: u64,
}

impl Summary {
    /// Adds another run's counts (a run before a SIGHUP reload).
    pub fn add(&mut self, other: &Summary) {
        self.lines += other.lines;
        self.parsed += other.parsed;
        self.rejected += other.rejected;
        self.late += other.late;
        self.filtered += other.filtered;
        for (s, n) in &other.statuses {
            *self.statuses.entry(*s).or_default() += n;
        }
        self.fired += other.fired;
        self.resolved += other.resolved;
    }

    /// One line, stable enough for scripts: `N lines: P parsed, R rejected,
    /// L late; status 200=..., 503=...; A alerts, B recoveries`, with
    /// `F filtered out` after the rejected count when a filter left any
    /// out.
    pub fn line(&self) -> String {
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| {
                if *s == 0 {
                    format!("-={n}")
                } else {
                    format!("{s}={n}")
                }
            })
            .collect();
        let filtered = if self.filtered > 0 {
            format!(", {} filtered out", self.filtered)
        } else {
            String::new()
        };
        format!(
            "{} lines: {} parsed, {} rejected{filtered}, {} late; status {}; {} alerts, {} recoveries",
            self.lines,
            self.parsed,
            self.rejected,
            self.late,
            if statuses.is_empty() {
                "none".to_string()
            } else {
                statuses.join(", ")
            },
            self.fired,
            self.resolved
        )
    }
}

fn current_state(follower: &Follower, engine: &mut Engine) -> state::State {
    let clock = engine.clock.newest.map(|(s, _)| s);
    state::State {
        files: follower.entries(),
        clock,
        alerts: engine.rules.snapshot(),
        spike: engine
            .spike
            .as_mut()
            .map(|l| l.snapshot(clock.unwrap_or(0))),
    }
}

/// What stops the tail before or while it follows.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error("reading state file {path}: {source}")]
    ReadState {
        path: String,
        source: std::io::Error,
    },
    #[error("state file {path}: {message}")]
    BadState { path: String, message: String },
    #[error("cannot handle signals: {0}")]
    Signals(std::io::Error),
    #[error("cannot start the {what} thread: {source}")]
    Thread {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("--metrics {addr}: cannot listen: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("--metrics {addr}: {source}")]
    Metrics {
        addr: String,
        source: std::io::Error,
    },
    /// Standard output closed (the reader of a pipe went away) or failed.
    #[error("writing alerts: {0}")]
    Output(std::io::Error),
}

/// What outlives one [`run`] when SIGHUP reloads the configuration: the
/// signal handling, the metrics and their server (counters go on), and
/// the Alertmanager and webhook destinations (which remember the alerts
/// firing, to send them again).
pub struct Session {
    /// Set by SIGINT and SIGTERM (and SIGHUP, with `reload`).
    pub stop: Arc<AtomicBool>,
    /// Set by SIGHUP: [`run`] returns [`Ended::Reload`].
    pub reload: Arc<AtomicBool>,
    metrics: Arc<Mutex<Metrics>>,
    /// The address the metrics server listens on.
    served: Option<String>,
    http: Option<(deliver::HttpSinks, deliver::Delivery)>,
    /// The running loop's wake-up channel, for the signal thread.
    wake: Arc<Mutex<Option<mpsc::Sender<Wake>>>>,
}

impl Session {
    /// Handles SIGINT, SIGTERM and SIGHUP from now on.
    pub fn new() -> Result<Session, TailError> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let stop = Arc::new(AtomicBool::new(false));
        let reload = Arc::new(AtomicBool::new(false));
        let wake: Arc<Mutex<Option<mpsc::Sender<Wake>>>> = Arc::default();
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
            .map_err(TailError::Signals)?;
        {
            let (stop, reload, wake) = (stop.clone(), reload.clone(), wake.clone());
            std::thread::Builder::new()
                .name("signals".into())
                .spawn(move || {
                    for signal in signals.forever() {
                        if signal == SIGHUP {
                            reload.store(true, Ordering::SeqCst);
                        }
                        stop.store(true, Ordering::SeqCst);
                        if let Some(tx) = wake.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                            let _ = tx.send(Wake::Stop);
                        }
                    }
                })
                .map_err(|source| TailError::Thread {
                    what: "signal",
                    source,
                })?;
        }
        Ok(Session {
            stop,
            reload,
            metrics: Arc::default(),
            served: None,
            http: None,
            wake,
        })
    }

    /// Starts the metrics server and the HTTP destinations `options` asks
    /// for, keeping those that run already; true when the destinations
    /// are new (and do not know the alerts firing yet).
    fn prepare(&mut self, options: &TailOptions) -> Result<bool, TailError> {
        if let Some(addr) = &options.metrics {
            match &self.served {
                None => {
                    let bound = metrics::serve(addr, self.metrics.clone())?;
                    say!(Info, "metrics at http://{bound}/metrics");
                    self.served = Some(addr.clone());
                }
                Some(running) if running != addr => say!(
                    Warning,
                    "metrics stay at {running}: a new --metrics address takes a restart"
                ),
                Some(_) => {}
            }
        }
        let wanted = &options.http;
        let none = wanted.alertmanagers.is_empty() && wanted.webhooks.is_empty();
        if self.http.as_ref().is_some_and(|(had, _)| had != wanted) || none {
            if let Some((_, old)) = self.http.take() {
                old.shutdown(Duration::from_secs(3));
            }
        }
        if self.http.is_none() && !none {
            self.http = Some((wanted.clone(), deliver::Delivery::start(wanted)));
            return Ok(true);
        }
        Ok(false)
    }

    /// Gives the HTTP destinations up to 3 s to send what they hold.
    pub fn finish(mut self) {
        if let Some((_, http)) = self.http.take() {
            http.shutdown(Duration::from_secs(3));
        }
    }
}

/// How [`run`] ended.
pub enum Ended {
    /// SIGINT, SIGTERM, or standard input closed.
    Stopped(Summary),
    /// SIGHUP: what was read, and the state to go on from (positions,
    /// alerts firing, the spike finder's past).
    Reload(Summary, state::State),
}

/// Follows until SIGINT or SIGTERM (or `stop` is set), writing alerts to
/// `out`; returns what was read. A SIGHUP ends it with the state to go on
/// from (`resume`). Notes for the user go to stderr.
pub fn run(
    options: TailOptions,
    resume: Option<state::State>,
    out: &mut dyn Write,
    session: &mut Session,
) -> Result<Ended, TailError> {
    let saved = match (resume, &options.state) {
        (Some(state), _) => state,
        (None, Some(p)) => state::load(p)?,
        (None, None) => state::State::default(),
    };
    let (tx, rx) = mpsc::channel::<Wake>();
    *session.wake.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx.clone());
    let stop = session.stop.clone();
    let fresh_destinations = session.prepare(&options)?;
    let metrics = session.metrics.clone();
    let exec = options
        .exec
        .as_ref()
        .map(|(cmd, timeout)| sink::Exec::new(cmd.clone(), *timeout));
    let http = session.http.as_ref().map(|(_, d)| d);

    let mut watcher: Option<notify::RecommendedWatcher> = match options.poll {
        Some(_) => None,
        None => {
            let tx = tx.clone();
            match notify::recommended_watcher(move |_: notify::Result<notify::Event>| {
                let _ = tx.send(Wake::Fs);
            }) {
                Ok(w) => Some(w),
                Err(e) => {
                    say!(Warning, "no file system events ({e}); polling instead");
                    None
                }
            }
        }
    };
    let wait = match (&watcher, options.poll) {
        (_, Some(p)) => p,
        // Events wake the loop at once; the timeout only slides the
        // windows while the logs are quiet, and catches a missed event.
        (Some(_), None) => Duration::from_millis(500),
        (None, None) => Duration::from_millis(250),
    };
    let mut watched_dirs = WatchedDirs::default();
    let dirs: Vec<PathBuf> = {
        let mut d: Vec<PathBuf> = options
            .paths
            .iter()
            .filter(|p| *p != Path::new("-"))
            .map(|p| if p.is_dir() { p.clone() } else { watch_dir(p) })
            .collect();
        d.sort();
        d.dedup();
        d
    };

    let mut rules = Rules::new(options.rules.clone(), options.settle);
    rules.restore(saved.alerts);
    let mut clock = Clock::default();
    if let Some(second) = saved.clock {
        clock.see(second);
    }
    let longest_window = options.rules.iter().map(|r| r.window).max().unwrap_or(60);
    let spike = options.spike.map(|rule| {
        let mut live = Live::new(LiveConfig {
            horizon: rule.horizon * 1_000_000,
            spike: options.spike_config.clone(),
            analysis: crate::analysis::Config {
                paths: options.paths_normalizer.clone(),
                ..crate::analysis::Config::default()
            },
        });
        if let Some(saved) = saved.spike.clone() {
            live.restore(saved);
        }
        live
    });
    let mut engine = Engine {
        rules,
        spike,
        names: Default::default(),
        longest_window,
        clock,
        wall: wall_seconds(),
        summary: Summary::default(),
        paths: options.paths_normalizer.clone(),
        filter: options.filter.clone(),
        path_buf: Vec::new(),
        rejects: Default::default(),
        notes: Vec::new(),
        alerts: Vec::new(),
    };
    let dash = Path::new("-");
    let only_stdin = options.paths.iter().all(|p| p == dash);
    let mut stdin = if options.paths.iter().any(|p| p == dash) {
        read_stdin(tx.clone());
        Some(StdinSource {
            name: "<stdin>".into(),
            format: options.format.clone(),
            parser: None,
            chunks: Default::default(),
            offset: 0,
            ended: false,
        })
    } else {
        None
    };
    let patterns: Vec<PathBuf> = options
        .paths
        .iter()
        .filter(|p| *p != dash)
        .cloned()
        .collect();
    let mut follower = Follower::new(
        follow::Options {
            from_start: options.from_start,
            format: options.format.clone(),
            format_for: options.format_for.clone(),
            grace: options.grace,
        },
        saved.files,
    );
    for p in expand(&patterns) {
        follower.add(p, true);
    }

    if let Some(w) = watcher.as_mut() {
        watch_dirs(w, &dirs, &mut watched_dirs);
    }
    let mut last_expand = Instant::now();
    let mut last_save = Instant::now();
    let mut saved_state = current_state(&follower, &mut engine);
    // Alerts firing when the last run stopped are firing still; new
    // destinations are told (Alertmanager would otherwise let them lapse
    // and resolve them while they still fire).
    metrics.lock().unwrap_or_else(|p| p.into_inner()).active = engine.active();
    if let (true, Some(h), Some(now)) = (fresh_destinations, http, engine.clock.now()) {
        for a in engine.rules.firing(now) {
            h.remind(&a);
        }
    }
    let mut announced = false;
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        if last_expand.elapsed() >= Duration::from_millis(500) {
            last_expand = Instant::now();
            if let Some(w) = watcher.as_mut() {
                watch_dirs(w, &dirs, &mut watched_dirs);
            }
            for p in expand(&patterns) {
                follower.add(p, false);
            }
        }

        engine.wall = wall_seconds();
        let read = {
            let mut m = metrics.lock().unwrap_or_else(|p| p.into_inner());
            m.files = follower.watched.len();
            let mut handler = Handler {
                engine: &mut engine,
                metrics: &mut m,
            };
            let mut read = follower.poll(&mut handler);
            if let Some(s) = stdin.as_mut() {
                read += s.feed(&mut handler);
            }
            read
        };
        for note in engine.notes.drain(..) {
            say!(Warning, "{note}");
        }
        if !announced {
            announced = true;
            say!(
                Info,
                "following {} file(s){} ({}); rules: {}",
                follower.watched.len(),
                if stdin.is_some() {
                    " and standard input"
                } else {
                    ""
                },
                if watcher.is_some() {
                    "inotify".to_string()
                } else {
                    format!("polling every {wait:?}")
                },
                engine
                    .rules
                    .rules()
                    .map(|r| r.to_string())
                    .chain(options.spike.map(|r| r.to_string()))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }

        if let Some(now) = engine.clock.now() {
            let ticked = engine.rules.tick(now);
            engine.alerts.extend(ticked);
            engine.tick_spike(now);
        }
        let alerts = std::mem::take(&mut engine.alerts);
        {
            if !alerts.is_empty() {
                emit(
                    &alerts,
                    options.json,
                    out,
                    exec.as_ref(),
                    http,
                    &mut engine.summary,
                )?;
                let mut m = metrics.lock().unwrap_or_else(|p| p.into_inner());
                for a in &alerts {
                    if a.state == AlertState::Firing {
                        *m.fired.entry(a.rule.clone()).or_default() += 1;
                    }
                }
                m.active = engine.active();
            }
        }
        if let Some(x) = &exec {
            let mut m = metrics.lock().unwrap_or_else(|p| p.into_inner());
            m.exec_failures = x.failures.load(Ordering::SeqCst);
        }
        if let Some(h) = http {
            let mut m = metrics.lock().unwrap_or_else(|p| p.into_inner());
            m.deliveries = h
                .counts()
                .into_iter()
                .map(|(name, c)| {
                    let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
                    (
                        name,
                        [n(&c.sent), n(&c.failed), n(&c.dropped), n(&c.abandoned)],
                    )
                })
                .collect();
        }

        if let Some(path) = &options.state {
            if stopping || last_save.elapsed() >= options.state_every {
                let state = current_state(&follower, &mut engine);
                if state != saved_state || stopping {
                    if let Err(e) = state::save(path, &state) {
                        say!(Error, "writing state file {}: {e}", path.display());
                    } else {
                        saved_state = state;
                    }
                }
                last_save = Instant::now();
            }
        }
        if stopping {
            break;
        }
        if stdin
            .as_ref()
            .is_some_and(|s| s.ended && s.chunks.is_empty())
            && only_stdin
        {
            // Nothing but a pipe to follow, and it closed.
            if let Some(path) = &options.state {
                if let Err(e) = state::save(path, &current_state(&follower, &mut engine)) {
                    say!(Error, "writing state file {}: {e}", path.display());
                }
            }
            break;
        }
        if read > 0 {
            // More may be waiting: look again before sleeping.
            while let Ok(w) = rx.try_recv() {
                take(w, &mut stdin, &stop);
            }
            continue;
        }
        match rx.recv_timeout(wait) {
            Ok(w) => take(w, &mut stdin, &stop),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        // Many events arrive for one write burst; one look serves them all.
        while let Ok(w) = rx.try_recv() {
            take(w, &mut stdin, &stop);
        }
    }
    if let Some(x) = &exec {
        x.shutdown();
    }
    if session.reload.swap(false, Ordering::SeqCst) && stdin.is_none() {
        session.stop.store(false, Ordering::SeqCst);
        let state = current_state(&follower, &mut engine);
        return Ok(Ended::Reload(engine.summary, state));
    }
    Ok(Ended::Stopped(engine.summary))
}

fn emit(
    alerts: &[Alert],
    json: bool,
    out: &mut dyn Write,
    exec: Option<&sink::Exec>,
    http: Option<&deliver::Delivery>,
    summary: &mut Summary,
) -> Result<(), TailError> {
    for a in alerts {
        match a.state {
            AlertState::Firing => summary.fired += 1,
            AlertState::Resolved => summary.resolved += 1,
        }
        let line = if json { sink::json(a) } else { sink::text(a) };
        // A closed stdout (the reader of a pipe went away) ends the run.
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(TailError::Output)?;
        if let Some(x) = exec {
            x.run(a);
        }
        if let Some(h) = http {
            h.send(a);
        }
    }
    Ok(())
}
