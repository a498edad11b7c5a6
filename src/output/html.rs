//! The report as one self-contained HTML file: inline CSS, inline SVG
//! charts and one small inline script (sortable tables, the timeline's
//! tooltips and zoom). Nothing is loaded from the network; a
//! Content-Security-Policy forbids it, and allows only the page's own
//! script by nonce, so an inline handler smuggled in by a log line could
//! not run even if escaping failed. Everything that came from a
//! log is HTML-escaped, and no log text is ever placed in a URL, a style or
//! a script.
//!
//! Colours are the Okabe–Ito palette, readable with the common kinds of
//! colour blindness; light and dark follow `prefers-color-scheme`.

use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};

use super::{pct, window_label};
use crate::report::{rate, IncidentRow, Report, Share, StatusCode, Utc, WindowRow};
use crate::text::thousands;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters would be invisible or break the page.
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Colour of a 5xx code (Okabe–Ito), and of everything else.
fn code_colour(code: &StatusCode) -> &'static str {
    match code.0 {
        500 => "#E69F00",
        502 => "#56B4E9",
        503 => "#009E73",
        504 => "#CC79A7",
        _ => "#0072B2",
    }
}

/// The page shows UTC: `2026-11-28 08:40:00`.
fn when(t: &Utc) -> String {
    t.local(0)
}

/// A random nonce for the page's script, so the CSP admits only it.
fn nonce() -> String {
    let state = foldhash::fast::RandomState::default();
    let mut h = state.build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!(
        "{:016x}{:016x}",
        h.finish(),
        state.hash_one(std::process::id())
    )
}

const W: f64 = 1000.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 48.0;

/// The timeline: 5xx per window stacked by code with the 5xx rate on a
/// second axis (top panel), requests per window (bottom panel), incident
/// windows shaded. One `<g class="window">` per window.
fn timeline(r: &Report) -> String {
    let n = r.windows.len().max(1) as f64;
    let plot = W - LEFT - RIGHT;
    let step = plot / n;
    let (top_h, gap, bottom_h) = (180.0, 30.0, 70.0);
    let max_err = r
        .windows
        .iter()
        .map(|w| w.errors_5xx)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let max_req = r
        .windows
        .iter()
        .map(|w| w.requests)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let max_rate = r
        .windows
        .iter()
        .map(|w| w.error_rate)
        .fold(0.0f64, f64::max)
        .max(0.01);
    let height = top_h + gap + bottom_h + 30.0;
    let mut svg = format!(
        r#"<svg class="chart" viewBox="0 0 {W} {height}" role="img" tabindex="0" aria-label="5xx and requests per window; with a script, hover a window or use the arrow keys for its numbers">"#
    );
    // Incident shading first, under the bars, each with its number and
    // scope.
    for (i, (a, b)) in bands(r) {
        let inc = &r.incidents[i];
        let x = LEFT + a as f64 * step;
        let zoom = format!(r#" data-from="{a}" data-to="{b}""#);
        let width = (b + 1 - a) as f64 * step;
        // Labels on the right half end at their band, so none runs off.
        let (label_x, anchor) = if x > W / 2.0 {
            (x + width - 2.0, "end")
        } else {
            (x + 2.0, "start")
        };
        let _ = write!(
            svg,
            r#"<g class="incident-shade"{zoom}><rect class="incident-band" x="{x:.1}" y="0" width="{width:.1}" height="{}"><title>#{} {scope}: {} .. {}</title></rect><text class="band-label" x="{label_x:.1}" y="{:.1}" text-anchor="{anchor}">#{} {scope}</text></g>"#,
            top_h + gap + bottom_h,
            i + 1,
            escape(&when(&inc.start)),
            escape(&when(&inc.end)),
            24.0 + 12.0 * (i % 3) as f64,
            i + 1,
            scope = escape(&inc.scope.label),
        );
    }
    let mut rate_points = String::new();
    for (i, w) in r.windows.iter().enumerate() {
        let x = LEFT + i as f64 * step;
        // The whole panel's height answers the pointer, not only the
        // bars, so a window without 5xx has its numbers too.
        let tip = escape(&window_tip(w));
        let _ = write!(
            svg,
            r#"<g class="window" data-start="{}" data-5xx="{}" data-requests="{}"><title>{tip}</title><rect class="hit" x="{x:.1}" y="0" width="{step:.2}" height="{}"/>"#,
            w.start,
            w.errors_5xx,
            w.requests,
            top_h + gap + bottom_h,
        );
        let mut y = top_h;
        for (code, &count) in w.status.iter().filter(|(c, _)| c.is_5xx()) {
            let h = count as f64 / max_err * top_h;
            y -= h;
            let _ = write!(
                svg,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{:.2}" height="{h:.1}" fill="{}"/>"#,
                (step * 0.85).max(0.5),
                code_colour(code)
            );
        }
        let h = w.requests as f64 / max_req * bottom_h;
        let _ = write!(
            svg,
            r#"<rect class="req" x="{x:.1}" y="{:.1}" width="{:.2}" height="{h:.1}"/></g>"#,
            top_h + gap + bottom_h - h,
            (step * 0.85).max(0.5)
        );
        let _ = write!(
            rate_points,
            "{:.1},{:.1} ",
            x + step / 2.0,
            top_h - w.error_rate / max_rate * top_h
        );
    }
    let _ = write!(
        svg,
        r#"<polyline class="rate" points="{}"/>"#,
        rate_points.trim_end()
    );
    // Axes and labels.
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{LEFT}" y1="{top_h}" x2="{}" y2="{top_h}"/><text class="label" x="{}" y="12" text-anchor="end">{}</text><text class="label" x="{}" y="{top_h}" text-anchor="end">0</text><text class="label rate-label" x="{}" y="12">{}</text><text class="label" x="{}" y="{}" text-anchor="end">{}</text><text class="label" x="{LEFT}" y="{}">requests</text>"#,
        W - RIGHT,
        LEFT - 4.0,
        thousands(max_err as u64),
        LEFT - 4.0,
        W - RIGHT + 4.0,
        pct(max_rate),
        LEFT - 4.0,
        top_h + gap + 10.0,
        thousands(max_req as u64),
        top_h + gap - 4.0,
    );
    if let (Some(first), Some(last)) = (r.windows.first(), r.windows.last()) {
        let _ = write!(
            svg,
            r#"<text class="label" x="{LEFT}" y="{}">{}</text><text class="label" x="{}" y="{}" text-anchor="end">{}</text>"#,
            height - 6.0,
            escape(&when(&first.start)),
            W - RIGHT,
            height - 6.0,
            escape(&when(&last.start))
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A window's numbers for its tooltip: time, requests, 5xx and rate, the
/// 5xx codes, and the percentiles of request and upstream time.
fn window_tip(w: &crate::report::WindowRow) -> String {
    let mut tip = format!(
        "{} UTC · {} requests · {} 5xx ({})",
        when(&w.start),
        thousands(w.requests),
        thousands(w.errors_5xx),
        pct(w.error_rate)
    );
    let codes: Vec<String> = (w.status.iter())
        .filter(|(c, _)| c.is_5xx())
        .map(|(c, n)| format!("{c} ×{}", thousands(*n)))
        .collect();
    if !codes.is_empty() {
        let _ = write!(tip, " · {}", codes.join(", "));
    }
    for (name, p) in [
        ("request time", &w.request_time),
        ("upstream time", &w.upstream_time),
    ] {
        if let (Some(p50), Some(p90), Some(p99)) = (p.p50, p.p90, p.p99) {
            let _ = write!(
                tip,
                " · {name} p50 {p50:.3} s, p90 {p90:.3} s, p99 {p99:.3} s"
            );
        }
    }
    tip
}

/// The windows each incident covers: (incident, first, last).
fn bands(r: &Report) -> Vec<(usize, (usize, usize))> {
    r.incidents
        .iter()
        .enumerate()
        .filter_map(|(i, inc)| {
            let first = r.windows.iter().rposition(|w| w.start <= inc.start)?;
            let last = r.windows.iter().rposition(|w| w.start < inc.end)?;
            Some((i, (first, last.max(first))))
        })
        .collect()
}

/// Small multiples: one strip per busy upstream, its 5xx attempts per
/// window on one scale shared by all strips (so the failing one stands
/// out), on the timeline's x axis, with the incidents shaded.
fn upstream_strips(r: &Report) -> String {
    if r.upstream_timelines.is_empty() {
        return r#"<p class="none">No upstream fields were logged.</p>"#.to_string();
    }
    let n = r.windows.len().max(1) as f64;
    let step = (W - LEFT - RIGHT) / n;
    let h = 28.0;
    let max = r
        .upstream_timelines
        .iter()
        .flat_map(|u| u.errors_5xx.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let bands = bands(r);
    let mut out = String::new();
    for u in &r.upstream_timelines {
        let total: u64 = u.errors_5xx.iter().sum();
        let attempts: u64 = u.attempts.iter().sum();
        let _ = write!(
            out,
            r#"<div class="strip-row"><div class="strip-name"><code>{}</code> <span class="none">{} 5xx of {} attempts</span></div><svg class="strip" viewBox="0 0 {W} {h}" preserveAspectRatio="none" role="img"><title>5xx of upstream {} per window</title>"#,
            escape(&u.upstream),
            crate::text::thousands(total),
            crate::text::thousands(attempts),
            escape(&u.upstream),
        );
        for (_, (a, b)) in &bands {
            let _ = write!(
                out,
                r#"<rect class="incident-band" x="{:.1}" y="0" width="{:.1}" height="{h}"/>"#,
                LEFT + *a as f64 * step,
                (b + 1 - a) as f64 * step
            );
        }
        let _ = write!(
            out,
            r#"<line class="axis" x1="{LEFT}" y1="{h}" x2="{}" y2="{h}"/>"#,
            W - RIGHT
        );
        // Only windows with 5xx are drawn: a day of minutes stays small.
        for (i, &e) in u.errors_5xx.iter().enumerate().filter(|(_, &e)| e > 0) {
            let bar = (e as f64 / max * (h - 2.0)).max(1.0);
            let _ = write!(
                out,
                r#"<rect class="strip-bar" x="{:.1}" y="{:.1}" width="{:.2}" height="{bar:.1}"><title>{} UTC: {} 5xx of {} attempts</title></rect>"#,
                LEFT + i as f64 * step,
                h - bar,
                (step * 0.85).max(0.5),
                escape(&when(&r.windows[i].start)),
                thousands(e),
                thousands(u.attempts[i])
            );
        }
        out.push_str("</svg></div>");
    }
    out
}

/// p50/p90/p99 of request time and upstream time per window, one
/// polyline each, on a shared seconds axis.
fn latency(windows: &[WindowRow]) -> String {
    let n = windows.len().max(1) as f64;
    let plot = W - LEFT - RIGHT;
    let step = plot / n;
    let h = 160.0;
    type Series = (&'static str, &'static str, fn(&WindowRow) -> Option<f64>);
    let series: [Series; 6] = [
        ("request p50", "#0072B2", |w| w.request_time.p50),
        ("request p90", "#56B4E9", |w| w.request_time.p90),
        ("request p99", "#009E73", |w| w.request_time.p99),
        ("upstream p50", "#D55E00", |w| w.upstream_time.p50),
        ("upstream p90", "#E69F00", |w| w.upstream_time.p90),
        ("upstream p99", "#CC79A7", |w| w.upstream_time.p99),
    ];
    let max = windows
        .iter()
        .flat_map(|w| series.iter().filter_map(move |(_, _, f)| f(w)))
        .fold(0.0f64, f64::max)
        .max(0.001);
    let mut svg = format!(
        r#"<svg class="chart" viewBox="0 0 {W} {}" role="img" aria-label="latency percentiles per window">"#,
        h + 30.0
    );
    let mut legend = String::new();
    for (name, colour, f) in &series {
        let points: Vec<String> = windows
            .iter()
            .enumerate()
            .filter_map(|(i, w)| {
                f(w).map(|v| {
                    format!(
                        "{:.1},{:.1}",
                        LEFT + (i as f64 + 0.5) * step,
                        h - v / max * h
                    )
                })
            })
            .collect();
        if points.is_empty() {
            continue;
        }
        let _ = write!(
            svg,
            r#"<polyline class="latency" data-series="{name}" stroke="{colour}" points="{}"/>"#,
            points.join(" ")
        );
        let _ = write!(
            legend,
            r#"<span class="key" style="--c:{colour}">{name}</span> "#
        );
    }
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{LEFT}" y1="{h}" x2="{}" y2="{h}"/><text class="label" x="{}" y="12" text-anchor="end">{:.3}s</text><text class="label" x="{}" y="{h}" text-anchor="end">0</text></svg>"#,
        W - RIGHT,
        LEFT - 4.0,
        max,
        LEFT - 4.0
    );
    format!("{svg}<p class=\"legend\">{legend}</p>")
}

fn share_table(title: &str, rows: &[Share]) -> String {
    if rows.is_empty() {
        return format!("<p class=\"none\">No {title} data: the format logs none.</p>");
    }
    let mut t = format!(
        "<table class=\"shares\"><thead><tr><th>{title}</th><th>5xx</th><th>share</th></tr></thead><tbody>"
    );
    for s in rows.iter().take(5) {
        let _ = write!(
            t,
            r#"<tr><td class="key">{}</td><td class="num">{}</td><td class="num"><span class="bar" style="width:{:.0}%"></span>{}</td></tr>"#,
            escape(&s.key),
            thousands(s.count),
            (s.share * 100.0).clamp(0.0, 100.0),
            pct(s.share)
        );
    }
    t.push_str("</tbody></table>");
    t
}

/// One incident; `band` is its first and last window on the timeline,
/// for the button that zooms there (shown only by the script).
fn incident(i: usize, inc: &IncidentRow, band: Option<(usize, usize)>) -> String {
    let (zoom, button) = match band {
        Some((a, b)) => (
            format!(r#" data-from="{a}" data-to="{b}""#),
            format!(
                r#"<p><button type="button" class="zoom-to" hidden>Zoom the timeline to #{}</button></p>"#,
                i + 1
            ),
        ),
        None => (String::new(), String::new()),
    };
    let codes: Vec<String> = inc
        .status
        .iter()
        .map(|(code, n)| {
            format!(
                r#"<span class="key" style="--c:{}">{} ×{}</span>"#,
                code_colour(code),
                code,
                thousands(*n)
            )
        })
        .collect();
    let first = inc
        .first_error
        .as_ref()
        .map(|p| {
            format!(
                "<p>First 5xx: <code>{}:{}</code></p>",
                escape(&p.file),
                p.line
            )
        })
        .unwrap_or_default();
    if inc.kind == "traffic_drop" {
        return format!(
            r#"<li class="incident"{zoom}><h3>#{} traffic drop, {} – {}</h3><p><b>{}</b> requests where {} were expected</p><p class="why">{}</p>{button}</li>"#,
            i + 1,
            escape(&when(&inc.start)),
            escape(&when(&inc.end)),
            thousands(inc.requests),
            thousands(inc.expected_requests.unwrap_or(0.0).round() as u64),
            escape(&inc.diagnosis),
        );
    }
    let judged = if inc.scope.dimension == "upstream" {
        format!(
            "<b>{}</b> of {} attempts failed ({}; baseline {}); clients saw {} 5xx",
            thousands(inc.upstream_5xx.unwrap_or(0)),
            thousands(inc.requests),
            pct(inc.error_rate),
            pct(inc.baseline_rate),
            thousands(inc.total_5xx)
        )
    } else {
        format!(
            "<b>{}</b> 5xx of {} requests ({}; baseline {})",
            thousands(inc.total_5xx),
            thousands(inc.requests),
            pct(inc.error_rate),
            pct(inc.baseline_rate)
        )
    };
    let differs: Vec<String> = inc
        .attribution
        .iter()
        .take(4)
        .map(|a| {
            format!(
                "{} <code>{}</code>: {} of the 5xx, {} {}",
                a.dimension,
                escape(&a.key),
                pct(a.share),
                pct(a.normal_share),
                a.normally()
            )
        })
        .collect();
    let differs = if differs.is_empty() {
        String::new()
    } else {
        format!(
            "<p class=\"differs\">What is different: {}</p>",
            differs.join("; ")
        )
    };
    format!(
        r#"<li class="incident"{zoom}><h3>#{} {}, {} – {}</h3><p class="why">{}</p><p>{judged}; peak {} at {}</p>{differs}<p class="codes">{}</p><div class="pair">{}{}</div>{}{button}</li>"#,
        i + 1,
        escape(&inc.scope.label),
        escape(&when(&inc.start)),
        escape(&when(&inc.end)),
        escape(&inc.diagnosis),
        thousands(inc.peak_5xx),
        escape(&when(&inc.peak)),
        codes.join(" "),
        share_table("upstream", &inc.upstreams),
        share_table("path", &inc.paths),
        first
    )
}

/// A table whose columns sort on click: each cell is (escaped HTML, sort
/// key), the first column by text, the others by number.
fn sortable<T>(
    id: &str,
    head: &[&str],
    rows: &[T],
    cells: impl Fn(&T) -> Vec<(String, String)>,
) -> String {
    let mut t = format!(r#"<table class="sortable" id="{id}"><thead><tr>"#);
    for (i, h) in head.iter().enumerate() {
        let _ = write!(t, r#"<th data-col="{i}" tabindex="0">{h}</th>"#);
    }
    t.push_str("</tr></thead><tbody>");
    for row in rows {
        t.push_str("<tr>");
        for (i, (text, sort)) in cells(row).into_iter().enumerate() {
            let class = if i == 0 { "key" } else { "num" };
            let _ = write!(t, r#"<td class="{class}" data-sort="{sort}">{text}</td>"#);
        }
        t.push_str("</tr>");
    }
    t.push_str("</tbody></table>");
    t
}

const STYLE: &str = r#"
:root { --bg:#fff; --fg:#1b1b1b; --muted:#666; --grid:#ddd; --band:rgba(204,121,167,.18); --req:#bbb; --rate:#D55E00; }
@media (prefers-color-scheme: dark) {
  :root { --bg:#111; --fg:#e8e8e8; --muted:#9a9a9a; --grid:#333; --band:rgba(204,121,167,.28); --req:#555; --rate:#FF8A3D; }
}
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1100px; padding: 16px; background: var(--bg); color: var(--fg);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
h1 { font-size: 1.5em; margin: .2em 0; } h2 { font-size: 1.2em; margin-top: 1.6em; } h3 { font-size: 1em; margin: 0 0 .3em; }
.summary { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 8px; margin: 0; }
.summary div { border: 1px solid var(--grid); border-radius: 6px; padding: 6px 10px; }
.summary dt { color: var(--muted); font-size: .85em; } .summary dd { margin: 0; font-weight: 600; }
svg.chart { width: 100%; height: auto; display: block; }
svg.chart:focus-visible { outline: 2px solid var(--rate); outline-offset: 2px; }
svg .hit { fill: transparent; pointer-events: all; } svg g.window.on .hit { fill: rgba(127,127,127,.18); }
svg.zoomed text { display: none; }
#timeline { position: relative; }
.tip { position: absolute; z-index: 2; pointer-events: none; max-width: 360px; padding: 4px 8px; font-size: .85em;
  background: var(--bg); border: 1px solid var(--grid); border-radius: 4px; box-shadow: 0 2px 6px rgba(0,0,0,.2); }
svg .axis { stroke: var(--grid); } svg .label { fill: var(--muted); font-size: 11px; }
svg .rate-label { fill: var(--rate); } svg .req { fill: var(--req); }
svg .rate { fill: none; stroke: var(--rate); stroke-width: 1.5; }
svg .latency { fill: none; stroke-width: 1.5; } svg .incident-band { fill: var(--band); }
svg .band-label { fill: var(--muted); font-size: 11px; }
.strip-row { margin: 2px 0; } .strip-name { font-size: .85em; }
svg.strip { width: 100%; height: 28px; display: block; } svg .strip-bar { fill: var(--rate); }
.legend { color: var(--muted); font-size: .85em; }
.key { white-space: nowrap; } span.key::before { content: ""; display: inline-block; width: .8em; height: .8em; margin-right: .3em; background: var(--c); border-radius: 2px; }
.incidents { padding-left: 0; list-style: none; }
.incident { border-left: 4px solid var(--rate); padding: 6px 12px; margin: 12px 0; }
.incident .why { font-weight: 600; }
.pair { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; } .pair > * { flex: 1 1 300px; }
table { border-collapse: collapse; width: 100%; font-size: .9em; }
th, td { padding: 3px 6px; border-bottom: 1px solid var(--grid); text-align: left; }
td.num, th:not(:first-child) { text-align: right; font-variant-numeric: tabular-nums; }
td.key { word-break: break-all; }
table.sortable th { cursor: pointer; user-select: none; } table.sortable th:hover { text-decoration: underline; }
.bar { display: inline-block; height: .7em; background: var(--rate); opacity: .5; margin-right: 4px; vertical-align: middle; max-width: 60px; }
code { font-size: .9em; word-break: break-all; }
.none { color: var(--muted); }
"#;

/// Sorts a table by the clicked column, numbers by their `data-sort`.
const SCRIPT: &str = r#"
document.querySelectorAll('table.sortable th').forEach(function (th) {
  function sort() {
    var table = th.closest('table'), body = table.tBodies[0], col = +th.dataset.col;
    var desc = th.dataset.dir !== 'desc';
    table.querySelectorAll('th').forEach(function (h) { delete h.dataset.dir; });
    th.dataset.dir = desc ? 'desc' : 'asc';
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.sort, y = b.cells[col].dataset.sort;
      var r = col === 0 ? x.localeCompare(y) : (+x) - (+y);
      return desc ? -r : r;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  th.addEventListener('click', sort);
  th.addEventListener('keydown', function (e) { if (e.key === 'Enter') sort(); });
});
// The timeline: a window's numbers on hover, or on focus with the arrow
// keys; an incident's button (or its band) zooms the timeline to it.
(function () {
  var chart = document.querySelector('svg.chart'), tip = document.getElementById('tip');
  if (!chart || !tip) return;
  var box = chart.parentNode, wins = chart.querySelectorAll('g.window'), full = chart.getAttribute('viewBox');
  var index = new Map(), current = -1;
  wins.forEach(function (g, i) { index.set(g, i); });
  function show(i, x, y) {
    if (!wins.length) return;
    i = Math.max(0, Math.min(wins.length - 1, i));
    if (current >= 0) wins[current].classList.remove('on');
    current = i;
    var g = wins[i], hit = g.querySelector('rect.hit').getBoundingClientRect(), b = box.getBoundingClientRect();
    g.classList.add('on');
    tip.textContent = g.querySelector('title').textContent;
    tip.hidden = false;
    if (x === undefined) { x = hit.left + hit.width / 2; y = hit.top + 24; }
    tip.style.left = Math.max(0, Math.min(x - b.left + 12, b.width - tip.offsetWidth - 4)) + 'px';
    tip.style.top = (y - b.top + 12) + 'px';
  }
  function hide() {
    tip.hidden = true;
    if (current >= 0) wins[current].classList.remove('on');
  }
  chart.addEventListener('pointerover', function (e) {
    var g = e.target.closest('g.window');
    if (g) show(index.get(g), e.clientX, e.clientY);
  });
  chart.addEventListener('pointerleave', hide);
  chart.addEventListener('focus', function () { show(current >= 0 ? current : wins.length - 1); });
  chart.addEventListener('blur', hide);
  chart.addEventListener('keydown', function (e) {
    var at = current >= 0 ? current : wins.length - 1;
    var to = { ArrowLeft: at - 1, ArrowRight: at + 1, Home: 0, End: wins.length - 1 }[e.key];
    if (e.key === 'Escape') hide();
    if (to === undefined) return;
    e.preventDefault();
    show(to);
  });
  var out = document.getElementById('zoom-out');
  function zoom(from, to) {
    var a = wins[from] && wins[from].querySelector('rect.hit'), b = wins[to] && wins[to].querySelector('rect.hit');
    if (!a || !b) return;
    var x0 = +a.getAttribute('x'), x1 = +b.getAttribute('x') + +b.getAttribute('width');
    var pad = Math.max((x1 - x0) / 2, 8), vb = full.split(' ');
    chart.style.height = chart.getBoundingClientRect().height + 'px';
    chart.setAttribute('viewBox', [x0 - pad, vb[1], x1 - x0 + 2 * pad, vb[3]].join(' '));
    chart.setAttribute('preserveAspectRatio', 'none');
    chart.classList.add('zoomed');
    out.parentNode.hidden = false;
    chart.scrollIntoView({ block: 'nearest' });
  }
  out.addEventListener('click', function () {
    chart.setAttribute('viewBox', full);
    chart.removeAttribute('preserveAspectRatio');
    chart.classList.remove('zoomed');
    chart.style.height = '';
    out.parentNode.hidden = true;
  });
  document.querySelectorAll('li.incident[data-from]').forEach(function (li) {
    var button = li.querySelector('button.zoom-to');
    button.hidden = false;
    button.addEventListener('click', function () { zoom(+li.dataset.from, +li.dataset.to); });
  });
  // A click on a window inside an incident's band zooms to that incident.
  var bands = chart.querySelectorAll('g.incident-shade[data-from]');
  chart.addEventListener('click', function (e) {
    var g = e.target.closest('g.window'), i = g ? index.get(g) : -1;
    bands.forEach(function (band) {
      if (i >= +band.dataset.from && i <= +band.dataset.to) zoom(+band.dataset.from, +band.dataset.to);
    });
  });
})();
"#;

/// Writes the whole page.
pub fn write_html(out: &mut dyn Write, r: &Report) -> io::Result<()> {
    let s = &r.summary;
    let nonce = nonce();
    let span = match (&s.start, &s.end) {
        (Some(a), Some(b)) => format!("{} – {} UTC", when(a), when(b)),
        _ => "no timestamps".to_string(),
    };
    let mut cards = vec![
        ("files", thousands(s.files as u64)),
        ("lines", thousands(s.lines)),
        ("parsed", format!("{:.2}%", s.coverage)),
        ("time span", span),
        ("requests", thousands(s.requests)),
        (
            "5xx",
            format!("{} ({})", thousands(s.errors_5xx), pct(s.error_rate)),
        ),
        ("window", window_label(s.window_seconds)),
        ("incidents", r.incidents.len().to_string()),
    ];
    if let Some(filter) = &s.filter {
        cards.push(("only requests where", filter.clone()));
    }
    let mut summary = String::new();
    for (k, v) in cards {
        let _ = write!(summary, "<div><dt>{k}</dt><dd>{}</dd></div>", escape(&v));
    }
    let mut legend = String::new();
    for c in r.status.keys().filter(|c| c.is_5xx()) {
        let _ = write!(
            legend,
            r#"<span class="key" style="--c:{}">{c}</span> "#,
            code_colour(c),
        );
    }
    let incidents = if r.incidents.is_empty() {
        "<p class=\"none\">No incidents: no series' 5xx stood out from its baseline, and traffic never dropped.</p>"
            .to_string()
    } else {
        let bands: std::collections::HashMap<usize, (usize, usize)> =
            bands(r).into_iter().collect();
        let items: Vec<String> = r
            .incidents
            .iter()
            .enumerate()
            .map(|(i, inc)| incident(i, inc, bands.get(&i).copied()))
            .collect();
        format!("<ol class=\"incidents\">{}</ol>", items.join(""))
    };
    let row = |key: &str, total: u64, errors: u64| {
        let r = rate(errors, total);
        vec![
            (escape(key), escape(key)),
            (thousands(total), total.to_string()),
            (thousands(errors), errors.to_string()),
            (pct(r), r.to_string()),
        ]
    };
    let upstreams = sortable(
        "upstreams",
        &["upstream", "attempts", "5xx", "rate"],
        &r.upstreams,
        |u| row(&u.upstream, u.attempts, u.errors_5xx),
    );
    let paths = sortable(
        "paths",
        &["path", "requests", "5xx", "rate"],
        &r.paths,
        |p| row(&p.path, p.requests, p.errors_5xx),
    );
    let total: u64 = r.status.values().sum();
    let mut mix = String::new();
    for (code, n) in &r.status {
        let _ = write!(
            mix,
            "<tr><td class=\"key\">{code}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            thousands(*n),
            pct(rate(*n, total))
        );
    }
    write!(
        out,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; img-src data:; base-uri 'none'; form-action 'none'">
<title>logspike report</title><style>{STYLE}</style></head>
<body>
<header><h1>logspike report</h1><dl class="summary">{summary}</dl></header>
<section id="timeline"><h2>5xx and requests per window</h2>{timeline}<div id="tip" class="tip" role="status" aria-live="polite" hidden></div><p class="zoom" hidden><button type="button" id="zoom-out">Show the whole timeline</button></p><p class="legend">{legend}<span class="key" style="--c:var(--rate)">5xx rate (right axis)</span> <span class="key" style="--c:var(--req)">requests (lower panel)</span> <span class="key" style="--c:var(--band)">incident</span></p></section>
<section id="upstream-strips"><h2>5xx per upstream <small class="none">(one scale for all; incidents shaded)</small></h2>{strips}</section>
<section id="incidents-section"><h2>Incidents</h2>{incidents}</section>
<section id="latency"><h2>Latency per window</h2>{latency}</section>
<section id="upstreams-section"><h2>Upstreams by 5xx <small class="none">(every attempt counts; click a heading to sort)</small></h2>{upstreams}</section>
<section id="paths-section"><h2>Paths by 5xx <small class="none">(normalized)</small></h2>{paths}</section>
<section id="status"><h2>Status mix</h2><table><thead><tr><th>status</th><th>requests</th><th>share</th></tr></thead><tbody>{mix}</tbody></table></section>
<script nonce="{nonce}">{SCRIPT}</script>
</body></html>
"#,
        timeline = timeline(r),
        strips = upstream_strips(r),
        latency = latency(&r.windows),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_every_context_we_use() {
        assert_eq!(
            escape(r#"<script>"x" & 'y'</script>"#),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
        assert_eq!(escape("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
    }
}
