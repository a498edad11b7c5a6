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

mod charts;

use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};

use super::{pct, window_label};
use crate::report::{rate, IncidentRow, Report, Share, StatusCode, Utc};
use crate::text::thousands;
use charts::{bands, latency, timeline, upstream_strips};

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
