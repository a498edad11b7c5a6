//! The page's charts as inline SVG: the timeline (5xx stacked by code
//! over requests, incident windows shaded, a tooltip per window), a strip
//! per upstream and the latency percentiles. Built from the report's rows
//! only, with every log-derived label escaped by the page's [`escape`].

use std::fmt::Write as _;

use super::{code_colour, escape, when};
use crate::output::pct;
use crate::report::{Report, WindowRow};
use crate::text::thousands;

const W: f64 = 1000.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 48.0;

/// The timeline: 5xx per window stacked by code with the 5xx rate on a
/// second axis (top panel), requests per window (bottom panel), incident
/// windows shaded. One `<g class="window">` per window.
pub(super) fn timeline(r: &Report) -> String {
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
pub(super) fn bands(r: &Report) -> Vec<(usize, (usize, usize))> {
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
pub(super) fn upstream_strips(r: &Report) -> String {
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
pub(super) fn latency(windows: &[WindowRow]) -> String {
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
