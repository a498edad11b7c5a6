//! The HTML report in a real browser: headless Chromium with no network,
//! failing on any console message or any request but the page itself;
//! charts hold one mark per window, incidents are listed, and log lines
//! crafted to inject script run nothing and show as text. A screenshot is
//! saved to `target/html-report.png` for people to look at.
//!
//! `scripts/test` installs Debian's `chromium` where it can; where no
//! Chromium is found the test says so and skips.

use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// Runs headless Chromium on a file with networking off; returns the DOM
/// after load and the browser's log.
fn browse(browser: &Path, page: &Path, extra: &[&str]) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=1",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--no-pings",
            "--disable-domain-reliability",
            "--disable-client-side-phishing-detection",
            "--disable-default-apps",
            "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication,NetworkTimeServiceQuerying",
            "--metrics-recording-only",
            "--no-default-browser-check",
            "--window-size=1280,2400",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Chromium's own services, which it calls whatever the page is (and which
/// fail here: the host resolver maps every name to nothing).
fn browser_service(line: &str) -> bool {
    [
        "google.com/",
        "googleapis.com/",
        "gstatic.com/",
        "gvt1.com/",
    ]
    .iter()
    .any(|host| line.contains(host))
}

/// Console messages and requests other than the page itself.
fn problems(log: &str, page: &Path) -> Vec<String> {
    let me = format!("file://{}", page.display());
    log.lines()
        .filter(|l| {
            l.contains(":CONSOLE")
                || (l.contains("NotifyBeforeURLRequest")
                    && !l.trim_end().ends_with(&me)
                    && !browser_service(l))
        })
        .map(String::from)
        .collect()
}

fn report(args: &[&str], input: &Path, out: &Path) {
    let cmd = &mut crate::util::logspike();
    crate::util::run(
        cmd.args(["report", "--window", "1m"])
            .args(args)
            .arg("-o")
            .arg(out)
            .arg(input),
    )
    .ok();
}

#[test]
fn html_report_renders_in_a_browser_with_no_network() {
    let Some(browser) = chromium() else {
        eprintln!("skipping the browser test: no chromium on PATH (scripts/test installs it with apt-get)");
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("report.html");
    let json = dir.path().join("report.json");
    let samples = root.join("sample-logs");
    report(&["--output", "html"], &samples, &html);
    report(&["--output", "json"], &samples, &json);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let size = std::fs::metadata(&html).unwrap().len();
    assert!(size < 2 << 20, "{size} bytes");

    let (dom, log) = browse(&browser, &html, &["--dump-dom"]);
    assert_eq!(
        problems(&log, &html),
        Vec::<String>::new(),
        "console messages or requests"
    );
    let windows = json["windows"].as_array().unwrap().len();
    assert!(windows > 100);
    assert_eq!(dom.matches(r#"<g class="window""#).count(), windows);
    let incidents = json["incidents"].as_array().unwrap().len();
    assert!(incidents > 0);
    assert_eq!(dom.matches(r#"<li class="incident""#).count(), incidents);
    assert_eq!(
        dom.matches(r#"class="latency""#).count(),
        6,
        "p50/p90/p99 of request and upstream time"
    );
    assert!(
        dom.contains("10.0.1.12:8080"),
        "the 503 burst's upstream is named"
    );
    // Every incident shaded on the timeline with its number and scope.
    assert_eq!(
        dom.matches(r#"<g class="incident-shade""#).count(),
        incidents
    );
    for (i, inc) in json["incidents"].as_array().unwrap().iter().enumerate() {
        let label = format!(
            "#{} {}</text>",
            i + 1,
            inc["scope"]["label"].as_str().unwrap()
        );
        assert!(dom.contains(&label), "{label}");
    }
    // A strip per drawn upstream, one 5xx bar per window with 5xx, on the
    // timeline's windows; the 503 burst's upstream has the tallest bar.
    let strips = json["upstream_timelines"].as_array().unwrap();
    assert!(strips.len() >= 3, "{}", strips.len());
    assert_eq!(dom.matches(r#"<svg class="strip""#).count(), strips.len());
    let bars: usize = strips
        .iter()
        .map(|u| {
            let e = u["errors_5xx"].as_array().unwrap();
            assert_eq!(e.len(), windows);
            e.iter().filter(|n| n.as_u64().unwrap() > 0).count()
        })
        .sum();
    assert_eq!(dom.matches(r#"<rect class="strip-bar""#).count(), bars);
    let peak = |u: &serde_json::Value| {
        u["errors_5xx"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .max()
            .unwrap()
    };
    let tallest = strips.iter().max_by_key(|u| peak(u)).unwrap();
    let burst = strips
        .iter()
        .find(|u| u["upstream"] == "10.0.1.12:8080")
        .unwrap();
    assert!(peak(burst) * 2 > peak(tallest), "{burst}");

    let shot = root.join("target/html-report.png");
    let _ = std::fs::create_dir_all(root.join("target"));
    let (_, log) = browse(
        &browser,
        &html,
        &[&format!("--screenshot={}", shot.display())],
    );
    assert!(problems(&log, &html).is_empty());
    assert!(
        std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0) > 10_000,
        "screenshot at {}",
        shot.display()
    );
}

/// nginx-upstream behind the virtual host.
const HOSTED: &str = "$host $remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\" $request_time $upstream_addr $upstream_status $upstream_response_time $upstream_connect_time $upstream_header_time";

#[test]
fn html_report_shows_hostile_log_text_and_runs_none_of_it() {
    let Some(browser) = chromium() else {
        eprintln!("skipping the XSS browser test: no chromium on PATH");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let payloads = [
        "/<script>document.title='PWNED'</script>",
        // nginx writes a quote in the request as `\x22`; shown decoded.
        r"/\x22><img src=x onerror=\x22document.title='PWNED'\x22>",
        "/</style><script>document.body.dataset.pwned=1</script>",
        "/javascript:alert(1)",
        "/<svg/onload=document.title='PWNED'>",
    ];
    // Hostile text goes where logs carry text: the request, the referer,
    // the agent, and the virtual host (one word, so a tag without spaces).
    // An upstream must be an address: a payload there rejects the line.
    let hostile_host = "<svg/onload=document.title='PWNED'>";
    let mut log = String::new();
    for minute in 0..40 {
        for i in 0..20 {
            let bad = minute == 30 && i < 15;
            let path = if bad {
                payloads[i % payloads.len()]
            } else {
                "/ok"
            };
            let status = if bad { 503 } else { 200 };
            let host = if bad { hostile_host } else { "www.example.org" };
            let upstream = 1 + i % 2;
            log.push_str(&format!(
                "{host} 1.2.3.4 - - [28/Nov/2026:10:{minute:02}:{i:02} +0000] \"GET {path} HTTP/1.1\" {status} 10 \"javascript:alert(1)\" \"<script>alert(1)</script>\" 0.010 10.0.0.{upstream}:80 {status} 0.010 0.001 0.009\n"
            ));
        }
    }
    let input = dir.path().join("hostile.log");
    std::fs::write(&input, log).unwrap();
    let html = dir.path().join("hostile.html");
    report(&["--output", "html", "--log-format", HOSTED], &input, &html);
    let (dom, log) = browse(&browser, &html, &["--dump-dom"]);
    assert_eq!(problems(&log, &html), Vec::<String>::new());
    assert!(
        dom.contains("<title>logspike report</title>"),
        "no script changed the title"
    );
    assert!(!dom.contains("PWNED</title>"));
    assert!(!dom.contains("data-pwned"));
    assert!(!dom.contains("<img"), "no element was injected");
    assert!(!dom.contains("<svg/onload"));
    assert!(
        dom.contains("&lt;script&gt;document.title='PWNED'&lt;"),
        "payload text is shown literally"
    );
    assert!(
        dom.contains("&lt;svg/onload=document.title='PWNED'&gt;"),
        "host name shown literally"
    );
    assert!(
        // Hosts are named in lower case, as nginx's `$host` gives them.
        dom.contains("host <code>&lt;svg/onload=document.title='pwned'&gt;</code>"),
        "the incident's attribution names the host literally"
    );
    assert!(
        dom.contains(r#"<li class="incident""#),
        "the burst is an incident"
    );

    // Hovered, walked and zoomed, the hostile page still runs nothing.
    let page = dir.path().join("explore.html");
    std::fs::write(
        &page,
        EXPLORE
            .replace("REPORT", "hostile.html")
            .replace("INDEX", "0")
            .replace(
                "document.getElementById('out').textContent = JSON.stringify(out);",
                "out.title = d.title; out.pwned = !!d.body.dataset.pwned || !!d.querySelector('img'); document.getElementById('out').textContent = JSON.stringify(out);",
            ),
    )
    .unwrap();
    let (dom, log) = browse(
        &browser,
        &page,
        &[
            "--dump-dom",
            "--allow-file-access-from-files",
            "--virtual-time-budget=10000",
        ],
    );
    assert!(dom.contains(r#""title":"logspike report""#), "{dom}\n{log}");
    assert!(dom.contains(r#""pwned":false"#), "{dom}");
    assert!(dom.contains(r#""buttonShown":true"#), "{dom}");
    assert!(!dom.contains(r#""error""#), "{dom}");
}

#[test]
fn a_day_of_one_minute_windows_stays_under_two_megabytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = String::new();
    for minute in 0..1440 {
        for (i, status) in [200, 200, 503, 502].iter().enumerate() {
            log.push_str(&format!(
                "1.2.3.4 - - [28/Nov/2026:{:02}:{:02}:{:02} +0000] \"GET /api/items/{} HTTP/1.1\" {status} 10 \"-\" \"curl\" 0.0{i}1 10.0.0.{}:80 {status} 0.0{i}1 0.001 0.0{i}1\n",
                minute / 60,
                minute % 60,
                i * 10,
                minute,
                i + 1
            ));
        }
    }
    let input = dir.path().join("day.log");
    std::fs::write(&input, log).unwrap();
    let html = dir.path().join("day.html");
    report(
        &["--output", "html", "--format", "nginx-upstream"],
        &input,
        &html,
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(page.matches(r#"<g class="window""#).count(), 1440);
    assert!(page.len() < 2 << 20, "{} bytes", page.len());
}

/// A page that loads the report in a frame, then hovers a window, walks the
/// windows with the keyboard and zooms to the first incident, as a person
/// would, and writes what the report showed into its own DOM as JSON.
const EXPLORE: &str = r#"<!doctype html><html><body>
<iframe id="f" src="REPORT" width="1200" height="2000"></iframe><pre id="out">pending</pre>
<script>
var f = document.getElementById('f');
f.addEventListener('load', function () {
  var d = f.contentDocument, out = {};
  try {
    var chart = d.querySelector('svg.chart'), tip = d.getElementById('tip');
    var wins = d.querySelectorAll('g.window');
    out.tipHiddenAtFirst = tip.hidden;
    wins[INDEX].querySelector('rect.hit').dispatchEvent(
      new PointerEvent('pointerover', { bubbles: true, clientX: 300, clientY: 100 }));
    out.hover = tip.hidden ? null : tip.textContent;
    out.marked = d.querySelectorAll('g.window.on').length;
    chart.dispatchEvent(new PointerEvent('pointerleave'));
    out.hiddenAfterLeave = tip.hidden;
    chart.focus();
    out.focus = tip.textContent;
    chart.dispatchEvent(new KeyboardEvent('keydown', { key: 'Home', bubbles: true }));
    out.home = tip.textContent;
    chart.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowRight', bubbles: true }));
    out.right = tip.textContent;
    var button = d.querySelector('li.incident button.zoom-to');
    out.buttonShown = !!button && !button.hidden;
    out.full = chart.getAttribute('viewBox');
    button.click();
    out.zoomed = chart.getAttribute('viewBox');
    out.first = d.querySelector('li.incident').dataset.from;
    d.getElementById('zoom-out').click();
    out.unzoomed = chart.getAttribute('viewBox');
  } catch (e) { out.error = String(e); }
  document.getElementById('out').textContent = JSON.stringify(out);
});
</script></body></html>"#;

/// The tooltip a window's hover and focus show: its time, requests, 5xx,
/// rate, codes and percentiles, as in the JSON report.
fn expected_tip(w: &serde_json::Value) -> Vec<String> {
    let sep = |n: u64| {
        let s = n.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    let start = chrono::DateTime::parse_from_rfc3339(w["start"].as_str().unwrap()).unwrap();
    let mut parts = vec![
        format!("{} UTC", start.format("%Y-%m-%d %H:%M:%S")),
        format!(
            "{} requests · {} 5xx",
            sep(w["requests"].as_u64().unwrap()),
            sep(w["errors_5xx"].as_u64().unwrap())
        ),
    ];
    for (code, n) in w["status"].as_object().unwrap() {
        if code.starts_with('5') {
            parts.push(format!("{code} ×{}", sep(n.as_u64().unwrap())));
        }
    }
    if let Some(p50) = w["request_time"]["p50"].as_f64() {
        parts.push(format!("request time p50 {p50:.3} s"));
    }
    parts
}

#[test]
fn html_timeline_answers_hover_keys_and_zoom() {
    let Some(browser) = chromium() else {
        eprintln!("skipping the browser test: no chromium on PATH (scripts/test installs it with apt-get)");
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("report.html");
    let json = dir.path().join("report.json");
    let samples = root.join("sample-logs").join("nginx");
    report(&["--output", "html"], &samples, &html);
    report(&["--output", "json"], &samples, &json);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let windows = json["windows"].as_array().unwrap();
    // The window with the most 5xx, and the first and second.
    let busiest = (0..windows.len())
        .max_by_key(|&i| windows[i]["errors_5xx"].as_u64().unwrap())
        .unwrap();
    let page = dir.path().join("explore.html");
    std::fs::write(
        &page,
        EXPLORE
            .replace("REPORT", "report.html")
            .replace("INDEX", &busiest.to_string()),
    )
    .unwrap();
    let (dom, log) = browse(
        &browser,
        &page,
        &[
            "--dump-dom",
            "--allow-file-access-from-files",
            "--virtual-time-budget=10000",
        ],
    );
    let text = dom
        .split_once(r#"<pre id="out">"#)
        .and_then(|(_, rest)| rest.split_once("</pre>"))
        .map(|(t, _)| {
            t.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&")
        })
        .unwrap_or_else(|| panic!("no result in {dom}\n{log}"));
    let out: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}\n{log}"));
    assert!(out["error"].is_null(), "{out}");
    assert_eq!(out["tipHiddenAtFirst"], true);
    let hover = out["hover"].as_str().unwrap_or_else(|| panic!("{out}"));
    for part in expected_tip(&windows[busiest]) {
        assert!(
            hover.contains(&part),
            "`{part}` not in the tooltip `{hover}`"
        );
    }
    assert_eq!(out["marked"], 1, "the hovered window is marked");
    assert_eq!(out["hiddenAfterLeave"], true);
    // Focus starts at the window last looked at; Home goes to the first,
    // → to the second.
    for (key, i) in [("focus", busiest), ("home", 0), ("right", 1)] {
        let shown = out[key].as_str().unwrap();
        for part in expected_tip(&windows[i]) {
            assert!(shown.contains(&part), "{key}: `{part}` not in `{shown}`");
        }
    }
    assert_eq!(
        out["buttonShown"], true,
        "the script shows the zoom buttons"
    );
    let width = |vb: &serde_json::Value| {
        vb.as_str()
            .unwrap()
            .split(' ')
            .nth(2)
            .unwrap()
            .parse::<f64>()
            .unwrap()
    };
    assert!(width(&out["zoomed"]) < width(&out["full"]) / 2.0, "{out}");
    assert_eq!(out["unzoomed"], out["full"]);

    // Scripts off (headless Chromium dumps no DOM then, so the page as
    // written): every window titled for the browser's own tooltip, the zoom
    // buttons and the script's tooltip hidden.
    let dom = std::fs::read_to_string(&html).unwrap();
    assert_eq!(dom.matches(r#"<g class="window""#).count(), windows.len());
    for w in windows {
        let start = chrono::DateTime::parse_from_rfc3339(w["start"].as_str().unwrap()).unwrap();
        let title = format!("<title>{} UTC · ", start.format("%Y-%m-%d %H:%M:%S"));
        assert!(dom.contains(&title), "{title}");
    }
    assert!(dom.contains(r#"class="zoom-to" hidden"#));
    assert!(dom.contains(r#"id="tip" class="tip" role="status" aria-live="polite" hidden"#));
}
