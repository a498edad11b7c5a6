//! One incident of the terminal report: scope, bounds, why, numbers,
//! what differs, what broke with it; and which timeline windows it marks.

use std::io::{self, Write};

use super::{pct, thousands, window_label, Style};

/// For each window of the report, whether it overlaps an incident.
/// Times are RFC 3339 UTC strings of one layout, which order as times.
pub fn incident_windows(r: &crate::report::Report) -> Vec<bool> {
    let mut marked = vec![false; r.windows.len()];
    for inc in &r.incidents {
        // The window holding the start, through the last one starting
        // before the end.
        let first = r
            .windows
            .iter()
            .rposition(|w| w.start <= inc.start)
            .unwrap_or(0);
        for (i, w) in r.windows.iter().enumerate().skip(first) {
            if w.start >= inc.end {
                break;
            }
            marked[i] = true;
        }
    }
    marked
}

/// A rate as a percentage, with more digits below 1%.
fn pct_fine(rate: f64) -> String {
    if rate > 0.0 && rate < 0.01 {
        format!("{:.2}%", rate * 100.0)
    } else {
        pct(rate)
    }
}

/// `4m 0s`, `1h 2m`, `35s`.
fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        s if s >= 86_400 => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
        s if s >= 3600 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

pub(super) fn write_incident(
    out: &mut dyn Write,
    i: usize,
    inc: &crate::report::IncidentRow,
    style: &Style,
) -> io::Result<()> {
    let when = |t: &crate::report::Utc| style.when(t);
    let what = if inc.kind == "traffic_drop" {
        "traffic drop".to_string()
    } else {
        crate::text::escape_bytes(inc.scope.label.as_bytes())
    };
    let head = format!(
        "{:>3}. {what}  {} .. {} ({})",
        i + 1,
        when(&inc.start),
        when(&inc.end),
        duration(inc.duration_seconds)
    );
    writeln!(out, "{}", style.red(&head))?;
    if inc.kind == "traffic_drop" {
        writeln!(
            out,
            "     {} requests where {} were expected ({} of normal)",
            thousands(inc.requests),
            thousands(inc.expected_requests.unwrap_or(0.0).round() as u64),
            pct(inc.requests as f64 / inc.expected_requests.unwrap_or(1.0).max(1.0)),
        )?;
        return Ok(());
    }
    let codes: Vec<String> = inc
        .status
        .iter()
        .map(|(c, n)| format!("{c} x{}", thousands(*n)))
        .collect();
    if !inc.diagnosis.is_empty() {
        writeln!(
            out,
            "     why        {}",
            crate::text::escape_bytes(inc.diagnosis.as_bytes())
        )?;
    }
    let judged = if inc.scope.dimension == "upstream" {
        format!(
            "{} of {} attempts failed ({}; baseline {}); clients saw {} 5xx",
            thousands(inc.upstream_5xx.unwrap_or(0)),
            thousands(inc.requests),
            pct(inc.error_rate),
            pct_fine(inc.baseline_rate),
            thousands(inc.total_5xx),
        )
    } else {
        let attempts = match inc.upstream_5xx {
            Some(n) if n > 0 => format!("; {} 5xx upstream attempts", thousands(n)),
            _ => String::new(),
        };
        format!(
            "{} 5xx of {} requests ({}; baseline {}){attempts}",
            thousands(inc.total_5xx),
            thousands(inc.requests),
            pct(inc.error_rate),
            pct_fine(inc.baseline_rate),
        )
    };
    writeln!(out, "     {judged}")?;
    writeln!(
        out,
        "     codes      {}; peak {} per {} at {}",
        codes.join(", "),
        thousands(inc.peak_5xx),
        window_label(inc.peak_window_seconds),
        when(&inc.peak)
    )?;
    let list = |rows: &[crate::report::Share]| {
        rows.iter()
            .take(3)
            .map(|s| {
                format!(
                    "{} {} ({})",
                    crate::text::escape_bytes(s.key.as_bytes()),
                    thousands(s.count),
                    pct(s.share)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !inc.upstreams.is_empty() {
        writeln!(out, "     upstreams  {}", list(&inc.upstreams))?;
    }
    if !inc.paths.is_empty() {
        writeln!(out, "     paths      {}", list(&inc.paths))?;
    }
    // One value a line, the most telling first; the status (last when
    // there) only when the rest leave room.
    for (n, a) in inc.attribution.iter().take(4).enumerate() {
        let lift = a
            .lift
            .map_or("only then".to_string(), |l| format!("{l:.1}x"));
        writeln!(
            out,
            "     {:<10} {} {}: {} of 5xx, {} {} ({lift})",
            if n == 0 { "differs" } else { "" },
            a.dimension,
            crate::text::escape_bytes(a.key.as_bytes()),
            pct(a.share),
            pct(a.normal_share),
            a.normally()
        )?;
    }
    // What broke with it, by dimension: names when few, a count when many.
    let mut broke: Vec<String> = Vec::new();
    for dim in ["upstream", "host", "path"] {
        let keys: Vec<String> = inc
            .series
            .iter()
            .filter(|s| s.dimension == dim)
            .map(|s| format!("{dim} {}", crate::text::escape_bytes(s.key.as_bytes())))
            .collect();
        if keys.len() > 3 {
            broke.push(format!("{} {dim}s", keys.len()));
        } else {
            broke.extend(keys);
        }
    }
    if !broke.is_empty() {
        writeln!(out, "     broke      {}", broke.join(", "))?;
    }
    if let Some(p) = &inc.first_error {
        writeln!(out, "     first 5xx  {}:{}", p.file, p.line)?;
    }
    Ok(())
}
