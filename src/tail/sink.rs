//! Where alerts go: a line of text or JSON on stdout, and `--exec`.
//!
//! `--exec CMD` runs `sh -c CMD` per alert with the alert's JSON line on
//! its stdin (and `LOGSPIKE_RULE`, `LOGSPIKE_STATE`, `LOGSPIKE_KEY` in its
//! environment). Each command runs on a thread of its own so a slow one
//! never holds up reading; one that outlives its timeout is killed, and a
//! failure is reported on stderr. At most 16 run at once;
//! alerts beyond that are reported and not run. A command's stdout is
//! discarded (logspike's own stdout is the alert stream, and `yes` once
//! wrote 6 GB into it); its stderr is passed on to logspike's, escaped,
//! at most 20 lines of 300 bytes per run.

use crate::tail::log::say;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::rules::{Alert, AlertState, LineRef};
use crate::text::escape_bytes;

/// Commands running at once.
const MAX_RUNNING: usize = 16;

pub fn json(alert: &Alert) -> String {
    serde_json::to_string(alert).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// One line for people.
pub fn text(alert: &Alert) -> String {
    let mut s = String::new();
    let state = match alert.state {
        AlertState::Firing => "FIRING",
        AlertState::Resolved => "RESOLVED",
    };
    s.push_str(&format!("{state} {}", alert.rule));
    // Keys, paths and lines come from the log: escaped, so a hostile line
    // cannot repaint the terminal.
    let safe = |t: &str| escape_bytes(t.as_bytes());
    if let Some(k) = &alert.key {
        s.push_str(&format!(" [{}]", safe(k)));
    }
    let window = format!(
        "{} to {}",
        alert.window_start.trim_end_matches('Z').replace('T', " "),
        alert.window_end.trim_end_matches('Z').replace('T', " ")
    );
    s.push_str(&format!(": {} of {} requests", alert.count, alert.total));
    if let Some(r) = alert.rate {
        s.push_str(&format!(" ({:.1}%)", r * 100.0));
    }
    s.push_str(&format!(" in {window} UTC"));
    if alert.state == AlertState::Resolved {
        s.push_str(&format!("; peak {}", alert.peak));
    }
    let tops = |label: &str, v: &[super::rules::Top]| -> String {
        if v.is_empty() {
            return String::new();
        }
        let items: Vec<String> = v
            .iter()
            .map(|t| format!("{} ({})", safe(&t.key), t.count))
            .collect();
        format!("; {label} {}", items.join(", "))
    };
    s.push_str(&tops("upstreams", &alert.top_upstreams));
    s.push_str(&tops("paths", &alert.top_paths));
    let show = |label: &str, l: &Option<LineRef>| -> String {
        match l {
            // A spike's first line is known by its place only.
            Some(l) if l.text.is_empty() => {
                format!("\n  {label} {}@{}", safe(&l.file), l.offset)
            }
            Some(l) => format!(
                "\n  {label} {}@{}: {}",
                safe(&l.file),
                l.offset,
                safe(&l.text)
            ),
            None => String::new(),
        }
    };
    // A spike says what it is now seen as, why, and what differs.
    if let Some(scope) = alert
        .scope
        .as_deref()
        .filter(|s| Some(*s) != alert.key.as_deref())
    {
        s.push_str(&format!("; now seen as {}", safe(scope)));
    }
    if let Some(d) = alert.diagnosis.as_deref().filter(|d| !d.is_empty()) {
        s.push_str(&format!("\n  why   {}", safe(d)));
    }
    for a in alert.attribution.iter().take(3) {
        s.push_str(&format!(
            "\n  differs {} {}: {:.1}% of 5xx, {:.1}% {}",
            a.dimension,
            safe(&a.key),
            a.share * 100.0,
            a.normal_share * 100.0,
            if a.dimension == "status" {
                "of the usual 5xx"
            } else {
                "normally"
            }
        ));
    }
    s.push_str(&show("first", &alert.first_line));
    if alert.last_line != alert.first_line {
        s.push_str(&show("last ", &alert.last_line));
    }
    s
}

/// Runs `--exec` commands without ever blocking the caller.
pub struct Exec {
    command: String,
    timeout: Duration,
    running: Arc<AtomicUsize>,
    pub failures: Arc<AtomicU64>,
    /// Set when logspike stops: commands still running are killed.
    quit: Arc<AtomicBool>,
}

impl Exec {
    pub fn new(command: String, timeout: Duration) -> Exec {
        Exec {
            command,
            timeout,
            running: Arc::new(AtomicUsize::new(0)),
            failures: Arc::new(AtomicU64::new(0)),
            quit: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Kills the commands still running (they would outlive logspike) and
    /// waits a moment for their threads to see it.
    pub fn shutdown(&self) {
        self.quit.store(true, Ordering::SeqCst);
        let start = Instant::now();
        while self.running.load(Ordering::SeqCst) > 0 && start.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn run(&self, alert: &Alert) {
        if self.running.load(Ordering::SeqCst) >= MAX_RUNNING {
            self.failures.fetch_add(1, Ordering::SeqCst);
            say!(
                Warning,
                "--exec: {MAX_RUNNING} commands still running; not running it for {} {}",
                alert.rule,
                alert.key.as_deref().unwrap_or("")
            );
            return;
        }
        self.running.fetch_add(1, Ordering::SeqCst);
        let mut payload = json(alert);
        payload.push('\n');
        let command = self.command.clone();
        let timeout = self.timeout;
        let running = self.running.clone();
        let failures = self.failures.clone();
        let quit = self.quit.clone();
        let state = match alert.state {
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        };
        let env = [
            ("LOGSPIKE_RULE", alert.rule.clone()),
            ("LOGSPIKE_STATE", state.to_string()),
            ("LOGSPIKE_KEY", alert.key.clone().unwrap_or_default()),
        ];
        let spawned = std::thread::Builder::new()
            .name("exec".into())
            .spawn(move || {
                if let Err(e) = run_one(&command, &payload, &env, timeout, &quit) {
                    failures.fetch_add(1, Ordering::SeqCst);
                    say!(Warning, "--exec `{command}`: {e}");
                }
                running.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            self.running.fetch_sub(1, Ordering::SeqCst);
            self.failures.fetch_add(1, Ordering::SeqCst);
            say!(Warning, "--exec: cannot start a thread: {e}");
        }
    }
}

fn run_one(
    command: &str,
    payload: &str,
    env: &[(&str, String)],
    timeout: Duration,
    quit: &AtomicBool,
) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new("sh")
        // A group of its own, so a timeout kills what the shell started too.
        .process_group(0)
        .arg("-c")
        .arg(command)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run it: {e}"))?;
    if let Some(stderr) = child.stderr.take() {
        std::thread::spawn(move || pass_on(stderr));
    }
    // Written from another thread: a command that never reads its stdin
    // must not block the wait below once the pipe is full.
    if let Some(mut stdin) = child.stdin.take() {
        let payload = payload.to_string();
        std::thread::spawn(move || {
            let _ = stdin.write_all(payload.as_bytes());
        });
    }
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("it failed ({status})")),
            Ok(None) if started.elapsed() >= timeout => {
                kill_group(&mut child);
                return Err(format!("still running after {timeout:?}; killed it"));
            }
            Ok(None) if quit.load(Ordering::SeqCst) => {
                kill_group(&mut child);
                return Err("still running when logspike stopped; killed it".into());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("cannot wait for it: {e}")),
        }
    }
}

/// A command's stderr, to logspike's: the first lines, escaped and cut
/// short, then drained unread so the command never blocks on it.
fn pass_on(stderr: std::process::ChildStderr) {
    use std::io::BufRead;
    const LINES: usize = 20;
    const BYTES: usize = 300;
    let mut reader = std::io::BufReader::new(stderr);
    let mut line = Vec::new();
    let mut shown = 0;
    let mut left_out = 0u64;
    loop {
        line.clear();
        // Reads at most a buffer's worth past the cap before cutting, so
        // a command writing one endless line holds no memory.
        match std::io::Read::take(&mut reader, 64 << 10).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if shown < LINES {
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            let cut = &text[..text.len().min(BYTES)];
            say!(Warning, "--exec: {}", escape_bytes(cut));
            shown += 1;
        } else {
            left_out += 1;
        }
    }
    if left_out > 0 {
        say!(
            Warning,
            "--exec: {left_out} more lines of its stderr not shown"
        );
    }
}

fn kill_group(child: &mut std::process::Child) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) with a negative pid signals the process group the
        // child leads (made with `process_group(0)`); it touches no memory.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tail::rules::Top;

    #[test]
    fn text_escapes_what_comes_from_the_log() {
        let hostile = "/a\u{1b}[2J\0b";
        let line = LineRef {
            file: "x.log".into(),
            offset: 0,
            text: format!("GET {hostile}"),
        };
        let alert = Alert {
            rule: "503 >= 1 in 1m by path".into(),
            state: AlertState::Firing,
            key: Some(hostile.into()),
            by: Some("path"),
            window_start: "2026-11-29T00:00:00Z".into(),
            window_end: "2026-11-29T00:01:00Z".into(),
            count: 1,
            total: 1,
            rate: Some(1.0),
            peak: 1,
            top_upstreams: vec![Top {
                key: hostile.into(),
                count: 1,
            }],
            top_paths: vec![Top {
                key: hostile.into(),
                count: 1,
            }],
            first_line: Some(line.clone()),
            last_line: Some(line),
            scope: Some(hostile.into()),
            baseline_rate: Some(0.001),
            diagnosis: Some(format!("503 answered by upstream {hostile}")),
            attribution: vec![super::super::rules::Differs {
                dimension: "user_agent".into(),
                key: hostile.into(),
                share: 0.9,
                normal_share: 0.01,
            }],
        };
        let shown = text(&alert);
        assert!(
            !shown.chars().any(|c| c.is_control() && c != '\n'),
            "{shown:?}"
        );
        // Key, upstreams, paths, the line, the diagnosis and what differs.
        assert_eq!(shown.matches("\\x1B").count(), 6, "{shown}");
    }
}
