//! Alerts over HTTP: Prometheus Alertmanager's API v2 (`--alertmanager`)
//! and webhooks (`--webhook`).
//!
//! Each destination has a thread of its own and a bounded queue: the reader
//! hands an alert over without waiting, and an alert that finds the queue
//! full is dropped and counted (`logspike_alert_deliveries_total{result=
//! "dropped"}`), never waited for. A failed request is tried again with a
//! growing pause (0.5 s doubling to 30 s).
//!
//! Alertmanager forgets an alert that is not sent again: each destination
//! keeps the alerts firing and sends all of them whenever one changes and
//! every `--alertmanager-resend` besides, with `endsAt` four resends ahead
//! (so that alerts of a tail that died resolve on their own); a recovery is
//! sent with `endsAt` now, until one request carrying it succeeds. An
//! Alertmanager that was down gets the current state once it is back: an
//! alert that fired meanwhile is not lost.

use crate::tail::log::say;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::rules::{Alert, AlertState};

/// Alerts waiting for one destination, at most.
const QUEUE: usize = 256;
const FIRST_PAUSE: Duration = Duration::from_millis(500);
const LONGEST_PAUSE: Duration = Duration::from_secs(30);
/// A webhook alert is given up after this many failed tries.
const WEBHOOK_TRIES: u32 = 8;

/// Counts per destination, for the metrics.
#[derive(Debug, Default)]
pub struct Counts {
    pub sent: AtomicU64,
    /// Requests that failed (each try).
    pub failed: AtomicU64,
    /// Alerts a full queue turned away.
    pub dropped: AtomicU64,
    /// Webhook alerts given up after every try failed.
    pub abandoned: AtomicU64,
}

/// Where alerts go over HTTP.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpSinks {
    pub alertmanagers: Vec<String>,
    /// Extra labels for Alertmanager, `(name, value)`.
    pub labels: Vec<(String, String)>,
    pub generator_url: Option<String>,
    /// How often firing alerts are sent to Alertmanager again.
    pub resend: Duration,
    pub webhooks: Vec<String>,
    /// A header for the webhooks (`Authorization: Bearer ...`), read from
    /// a file so that the token is not on the command line.
    pub webhook_header: Option<(String, String)>,
    pub webhook_template: Template,
    /// Each request's limit.
    pub timeout: Duration,
}

/// The body a webhook receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Template {
    /// The alert as `--output json` writes it.
    #[default]
    Json,
    /// `{"text": "..."}`: the text line, for Slack and the chat services
    /// that take its incoming-webhook shape (Mattermost, Rocket.Chat...).
    Slack,
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, String> {
        match text {
            "json" => Ok(Template::Json),
            "slack" => Ok(Template::Slack),
            _ => Err(format!("`{text}` is not a webhook template: json or slack")),
        }
    }
}

/// Reads `Name: value` from a file (one line; surrounding white space and
/// a final newline ignored).
pub fn header_from_file(path: &std::path::Path) -> Result<(String, String), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("reading the webhook header file {}: {e}", path.display()))?;
    let line = text.trim();
    match line.split_once(':') {
        Some((name, value))
            if !name.trim().is_empty()
                && !line.contains('\n')
                && name.trim().bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok((name.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(format!(
            "{}: expected one line `Name: value` (such as `Authorization: Bearer TOKEN`)",
            path.display()
        )),
    }
}

/// An `http://` or `https://` URL with a host, checked before the tail
/// starts (a typo would otherwise only show as failed deliveries).
pub fn url(text: &str) -> Result<String, String> {
    let bad = |why: &str| format!("`{text}` is not a URL to send alerts to: {why}");
    let uri: ureq::http::Uri = text.parse().map_err(|e| bad(&format!("{e}")))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(bad("it must start with http:// or https://")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("it names no host"));
    }
    Ok(text.to_string())
}

/// `NAME=VALUE`, a label name as Prometheus allows.
pub fn label(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not a label: NAME=VALUE"))?;
    let valid = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid {
        return Err(format!(
            "`{name}` is not a label name: letters, digits and _, not starting with a digit"
        ));
    }
    Ok((name.to_string(), value.to_string()))
}

struct Destination {
    name: String,
    /// Alertmanager (told the firing alerts again after a restart), or a
    /// webhook (told each alert once).
    keeps_state: bool,
    tx: Option<SyncSender<Alert>>,
    counts: Arc<Counts>,
    thread: Option<JoinHandle<()>>,
}

/// The running destinations.
pub struct Delivery {
    destinations: Vec<Destination>,
}

impl Delivery {
    pub fn start(sinks: &HttpSinks) -> Delivery {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(sinks.timeout))
            .http_status_as_error(true)
            .build()
            .into();
        let mut destinations = Vec::new();
        for url in &sinks.alertmanagers {
            let endpoint = format!("{}/api/v2/alerts", url.trim_end_matches('/'));
            let (tx, rx) = mpsc::sync_channel(QUEUE);
            let counts = Arc::new(Counts::default());
            let am = Alertmanager {
                endpoint,
                agent: agent.clone(),
                labels: sinks.labels.clone(),
                generator_url: sinks.generator_url.clone(),
                resend: sinks.resend,
                counts: counts.clone(),
                firing: BTreeMap::new(),
                resolved: Vec::new(),
            };
            let thread = std::thread::Builder::new()
                .name("alertmanager".into())
                .spawn(move || am.run(rx))
                .ok();
            destinations.push(Destination {
                keeps_state: true,
                name: format!("alertmanager {url}"),
                tx: Some(tx),
                counts,
                thread,
            });
        }
        for url in &sinks.webhooks {
            let (tx, rx) = mpsc::sync_channel(QUEUE);
            let counts = Arc::new(Counts::default());
            let hook = Webhook {
                url: url.clone(),
                agent: agent.clone(),
                header: sinks.webhook_header.clone(),
                template: sinks.webhook_template,
                counts: counts.clone(),
            };
            let thread = std::thread::Builder::new()
                .name("webhook".into())
                .spawn(move || hook.run(rx))
                .ok();
            destinations.push(Destination {
                keeps_state: false,
                name: format!("webhook {url}"),
                tx: Some(tx),
                counts,
                thread,
            });
        }
        Delivery { destinations }
    }

    /// Hands `alert` to every destination, never waiting.
    pub fn send(&self, alert: &Alert) {
        self.hand(alert, false);
    }

    /// Tells the destinations that keep state (Alertmanager) of an alert
    /// firing since before this process started; webhooks heard it then.
    pub fn remind(&self, alert: &Alert) {
        self.hand(alert, true);
    }

    fn hand(&self, alert: &Alert, reminder: bool) {
        for d in self
            .destinations
            .iter()
            .filter(|d| d.keeps_state || !reminder)
        {
            let Some(tx) = &d.tx else { continue };
            match tx.try_send(alert.clone()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    if d.counts.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                        say!(Warning, "{}: the alert queue is full; alerts are dropped (counted in the metrics)",
                            d.name
                        );
                    }
                }
            }
        }
    }

    /// Per destination: its name and counts.
    pub fn counts(&self) -> Vec<(String, Arc<Counts>)> {
        self.destinations
            .iter()
            .map(|d| (d.name.clone(), d.counts.clone()))
            .collect()
    }

    /// Closes the queues and gives each destination up to `grace` to send
    /// what it holds.
    pub fn shutdown(mut self, grace: Duration) {
        for d in &mut self.destinations {
            d.tx = None;
        }
        let deadline = Instant::now() + grace;
        for d in &mut self.destinations {
            let Some(thread) = d.thread.take() else {
                continue;
            };
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if thread.is_finished() {
                let _ = thread.join();
            } else {
                say!(
                    Error,
                    "{}: stopped before every alert was delivered",
                    d.name
                );
            }
        }
    }
}

/// The next pause after a failure.
fn longer(pause: Duration) -> Duration {
    (pause * 2).min(LONGEST_PAUSE)
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

struct Alertmanager {
    endpoint: String,
    agent: ureq::Agent,
    labels: Vec<(String, String)>,
    generator_url: Option<String>,
    resend: Duration,
    counts: Arc<Counts>,
    /// Firing alerts by rule and key: labels, annotations, start.
    firing: BTreeMap<(String, String), serde_json::Value>,
    /// Recoveries not delivered yet.
    resolved: Vec<serde_json::Value>,
}

impl Alertmanager {
    fn run(mut self, rx: Receiver<Alert>) {
        let mut pause = FIRST_PAUSE;
        // Something to send: the state changed, or it is time to resend.
        let mut due = false;
        // While failing: not before then.
        let mut retry_at: Option<Instant> = None;
        let mut next_resend = Instant::now() + self.resend;
        loop {
            let wake = match retry_at {
                Some(t) if due => t.min(next_resend),
                _ => next_resend,
            };
            match rx.recv_timeout(wake.saturating_duration_since(Instant::now())) {
                Ok(alert) => {
                    self.apply(&alert);
                    // The alerts of one read go in one request.
                    while let Ok(more) = rx.try_recv() {
                        self.apply(&more);
                    }
                    due = true;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    if due {
                        self.post();
                    }
                    return;
                }
            }
            let now = Instant::now();
            if now >= next_resend {
                next_resend = now + self.resend;
                due |= !self.firing.is_empty();
            }
            if due && retry_at.is_none_or(|t| now >= t) {
                if self.post() {
                    due = false;
                    retry_at = None;
                    pause = FIRST_PAUSE;
                } else {
                    retry_at = Some(now + pause);
                    pause = longer(pause);
                }
            }
        }
    }

    fn apply(&mut self, alert: &Alert) {
        let id = (alert.rule.clone(), alert.key.clone().unwrap_or_default());
        match alert.state {
            AlertState::Firing => {
                let doc = self.document(alert, self.firing.get(&id));
                self.firing.insert(id, doc);
            }
            AlertState::Resolved => {
                let mut doc = self.document(alert, self.firing.get(&id));
                self.firing.remove(&id);
                doc["endsAt"] = now_rfc3339().into();
                self.resolved.push(doc);
            }
        }
    }

    /// The alert as Alertmanager takes it; a firing alert keeps the
    /// `startsAt` and labels it was first sent with.
    fn document(&self, alert: &Alert, before: Option<&serde_json::Value>) -> serde_json::Value {
        let mut labels = serde_json::Map::new();
        let name = if alert.rule == "spike" {
            "LogspikeIncident"
        } else {
            "Logspike5xxBurst"
        };
        labels.insert("alertname".into(), name.into());
        labels.insert("rule".into(), alert.rule.clone().into());
        labels.insert("severity".into(), "warning".into());
        match (&alert.by, &alert.key) {
            (Some(by), Some(key)) => {
                labels.insert("scope".into(), format!("{by} {key}").into());
                labels.insert((*by).into(), key.clone().into());
            }
            (None, Some(key)) => {
                labels.insert("scope".into(), key.clone().into());
            }
            _ => {
                labels.insert("scope".into(), "site-wide".into());
            }
        }
        for (k, v) in &self.labels {
            labels.insert(k.clone(), v.clone().into());
        }
        let text = super::sink::text(alert);
        let (summary, details) = text.split_once('\n').unwrap_or((&text, ""));
        let mut annotations = serde_json::Map::new();
        annotations.insert("summary".into(), summary.into());
        if !details.is_empty() {
            annotations.insert("description".into(), details.trim().into());
        }
        annotations.insert("count".into(), alert.count.to_string().into());
        annotations.insert("requests".into(), alert.total.to_string().into());
        if let Some(r) = alert.rate {
            annotations.insert("rate".into(), format!("{:.4}", r).into());
        }
        annotations.insert(
            "window".into(),
            format!("{} .. {}", alert.window_start, alert.window_end).into(),
        );
        if let Some(first) = &alert.first_line {
            annotations.insert(
                "first_line".into(),
                format!("{}@{}", first.file, first.offset).into(),
            );
        }
        let starts = before
            .and_then(|b| b["startsAt"].as_str().map(String::from))
            .unwrap_or_else(now_rfc3339);
        let labels = match before {
            Some(b) => b["labels"].clone(),
            None => labels.into(),
        };
        let mut doc = serde_json::json!({
            "labels": labels,
            "annotations": annotations,
            "startsAt": starts,
        });
        if let Some(url) = &self.generator_url {
            doc["generatorURL"] = url.clone().into();
        }
        doc
    }

    /// Sends every firing alert and every recovery not delivered yet;
    /// true when Alertmanager took them.
    fn post(&mut self) -> bool {
        let ends = (chrono::Utc::now()
            + chrono::Duration::from_std(self.resend * 4).unwrap_or_default())
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut batch: Vec<serde_json::Value> = self
            .firing
            .values()
            .map(|a| {
                let mut a = a.clone();
                a["endsAt"] = ends.clone().into();
                a
            })
            .collect();
        batch.extend(self.resolved.iter().cloned());
        if batch.is_empty() {
            return true;
        }
        let body = serde_json::Value::Array(batch).to_string();
        match self
            .agent
            .post(&self.endpoint)
            .header("Content-Type", "application/json")
            .send(&body)
        {
            Ok(_) => {
                self.counts.sent.fetch_add(1, Ordering::Relaxed);
                self.resolved.clear();
                true
            }
            Err(e) => {
                if self
                    .counts
                    .failed
                    .fetch_add(1, Ordering::Relaxed)
                    .is_multiple_of(20)
                {
                    say!(Warning, "alertmanager {}: {e}; trying again", self.endpoint);
                }
                false
            }
        }
    }
}

struct Webhook {
    url: String,
    agent: ureq::Agent,
    header: Option<(String, String)>,
    template: Template,
    counts: Arc<Counts>,
}

impl Webhook {
    fn run(self, rx: Receiver<Alert>) {
        while let Ok(alert) = rx.recv() {
            let body = match self.template {
                Template::Json => super::sink::json(&alert),
                Template::Slack => {
                    serde_json::json!({ "text": super::sink::text(&alert) }).to_string()
                }
            };
            let mut pause = FIRST_PAUSE;
            for attempt in 1..=WEBHOOK_TRIES {
                let mut request = self
                    .agent
                    .post(&self.url)
                    .header("Content-Type", "application/json");
                if let Some((name, value)) = &self.header {
                    request = request.header(name.as_str(), value.as_str());
                }
                match request.send(&body) {
                    Ok(_) => {
                        self.counts.sent.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    Err(e) => {
                        self.counts.failed.fetch_add(1, Ordering::Relaxed);
                        if attempt == WEBHOOK_TRIES {
                            self.counts.abandoned.fetch_add(1, Ordering::Relaxed);
                            say!(
                                Error,
                                "webhook {}: {e}; gave up on an alert after {WEBHOOK_TRIES} tries",
                                self.url
                            );
                        } else {
                            std::thread::sleep(pause);
                            pause = longer(pause);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_headers_are_checked() {
        assert_eq!(label("team=web").unwrap(), ("team".into(), "web".into()));
        assert_eq!(label("env=a=b").unwrap(), ("env".into(), "a=b".into()));
        assert!(label("team").is_err());
        assert!(label("1x=a").unwrap_err().contains("not a label name"));
        assert!(label("a-b=c").is_err());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("h");
        std::fs::write(&file, "Authorization: Bearer s3cr3t\n").unwrap();
        assert_eq!(
            header_from_file(&file).unwrap(),
            ("Authorization".into(), "Bearer s3cr3t".into())
        );
        std::fs::write(&file, "no colon").unwrap();
        assert!(header_from_file(&file).is_err());
        std::fs::write(&file, "A: b\nC: d").unwrap();
        assert!(header_from_file(&file).is_err());
        assert_eq!(Template::parse("slack"), Ok(Template::Slack));
        assert!(url("http://127.0.0.1:9093").is_ok());
        assert!(url("https://hooks.example.com/services/T0/B0/x").is_ok());
        assert!(url("127.0.0.1:9093").unwrap_err().contains("http://"));
        assert!(url("ftp://x/").is_err());
        assert!(url("http://").is_err());
        assert!(url("http://a b/").is_err());
        assert!(Template::parse("teams").is_err());
    }
}
