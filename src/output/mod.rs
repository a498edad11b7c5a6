//! Every way a result leaves logspike: the `check` summary and the
//! terminal report (here and `incident`), JSON (serde), CSV tables
//! ([`csv`](write_csv)), the HTML page ([`html`]) and the report's
//! Parquet tables (`parquet`, with the feature), chosen by [`Format`].
//! Every file is written through [`atomic`]: whole, or not at all.

pub mod atomic;
mod csv;
pub mod html;
mod incident;
#[cfg(feature = "parquet")]
pub mod parquet;

pub use csv::{write_csv, CSV_TABLES};

pub use incident::incident_windows;
use incident::write_incident;

use std::io::{self, Write};

use crate::report::rate;
use crate::scan::FileCheck;
use crate::text::thousands;

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".to_string()
    } else {
        format!("{:.2}%", part as f64 * 100.0 / whole as f64)
    }
}

/// Writes the per-file summary of `logspike check`.
pub fn write_check(out: &mut dyn Write, files: &[FileCheck]) -> io::Result<()> {
    for (i, f) in files.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        let compression = match f.compression {
            Some("plain") | None => String::new(),
            Some(kind) => format!(" ({kind})"),
        };
        writeln!(out, "{}{compression}", f.name)?;
        if !f.grammars.is_empty() {
            writeln!(out, "  format      {}", f.grammars.join(" + "))?;
        } else if f.lines > 0 {
            writeln!(out, "  format      none")?;
        }
        if !f.reason.is_empty() && f.lines > 0 {
            writeln!(out, "  why         {}", f.reason)?;
        }
        let data = f.parsed + f.rejected;
        writeln!(
            out,
            "  lines       {}: parsed {} ({}), rejected {}, directives {}, blank {}",
            thousands(f.lines),
            thousands(f.parsed),
            percent(f.parsed, data),
            thousands(f.rejected),
            thousands(f.directives),
            thousands(f.blank),
        )?;
        if f.by_grammar.len() > 1 {
            let parts: Vec<String> = f
                .by_grammar
                .iter()
                .map(|(name, n)| format!("{name} {}", thousands(*n)))
                .collect();
            writeln!(out, "  by format   {}", parts.join(", "))?;
        }
        if f.trailing > 0 {
            writeln!(
                out,
                "  note        {} parsed lines carry extra fields after the format's last one \
                 (the first: line {})",
                thousands(f.trailing),
                f.first_trailing.unwrap_or(0)
            )?;
        }
        if f.too_long > 0 {
            writeln!(out, "  too long    {}", thousands(f.too_long))?;
        }
        match (f.first_time, f.last_time) {
            (Some(first), Some(last)) => writeln!(out, "  time        {first} .. {last}")?,
            _ if f.parsed > 0 => writeln!(out, "  time        (the format has no timestamp)")?,
            _ => {}
        }
        if let Some(error) = &f.error {
            writeln!(out, "  error       {error}")?;
        }
        for s in &f.samples {
            writeln!(
                out,
                "  rejected    {}:{}:{}: {}",
                f.name, s.line, s.column, s.reason
            )?;
            writeln!(out, "              | {}", s.text)?;
        }
        if f.rejected > f.samples.len() as u64 && !f.samples.is_empty() {
            writeln!(
                out,
                "              ... and {} more rejected lines (--rejects FILE writes them all)",
                thousands(f.rejected - f.samples.len() as u64)
            )?;
        }
    }
    if files.len() > 1 {
        let lines: u64 = files.iter().map(|f| f.lines).sum();
        let parsed: u64 = files.iter().map(|f| f.parsed).sum();
        let rejected: u64 = files.iter().map(|f| f.rejected).sum();
        let errors = files.iter().filter(|f| f.error.is_some()).count();
        writeln!(out)?;
        writeln!(
            out,
            "total: {} files, {} lines, parsed {} ({}), rejected {}{}",
            files.len(),
            thousands(lines),
            thousands(parsed),
            percent(parsed, parsed + rejected),
            thousands(rejected),
            if errors > 0 {
                format!(", {errors} with errors")
            } else {
                String::new()
            }
        )?;
    }
    Ok(())
}

/// How the terminal report looks.
#[derive(Debug, Clone)]
pub struct Style {
    /// ANSI colour: only on a terminal, never with `NO_COLOR`.
    pub color: bool,
    /// Where the times shown are read (`--tz`).
    pub zone: crate::config::Zone,
}

impl Default for Style {
    fn default() -> Style {
        Style {
            color: false,
            zone: crate::config::Zone::utc(),
        }
    }
}

impl Style {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset or empty.
    pub fn for_stdout(zone: crate::config::Zone) -> Style {
        use std::io::IsTerminal;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            color: io::stdout().is_terminal() && !no_color,
            zone,
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    fn red(&self, text: &str) -> String {
        self.paint("1;31", text)
    }

    /// A time shown in the report's zone, as `2026-11-28 08:40:00`.
    fn when(&self, t: &crate::report::Utc) -> String {
        t.local(self.zone.offset_at(t.micros()))
    }

    fn zone(&self) -> String {
        self.zone.name().to_string()
    }
}

/// A share as a percentage with one decimal: `12.5%`.
pub(crate) fn pct(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

/// A window's length as the CLI takes it: `30s`, `5m`, `1h`, `1d`, `1w`.
pub(crate) fn window_label(seconds: f64) -> String {
    let s = seconds as u64;
    match s {
        s if s % 604_800 == 0 => format!("{}w", s / 604_800),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// A progress bar on stderr for long runs, only when stderr is a terminal.
pub fn progress_bar(sources: &[crate::input::Source]) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    let total: u64 = sources
        .iter()
        .filter_map(|s| match s {
            crate::input::Source::Path(p) => std::fs::metadata(p).ok().map(|m| m.len()),
            crate::input::Source::Stdin => None,
        })
        .sum();
    // Small inputs finish before a bar would be worth drawing.
    if !io::stderr().is_terminal() || total < 64 << 20 {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    Some(bar)
}

/// How a report leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// For people, in a terminal or a file.
    Text,
    /// For programs (docs/report-json.md).
    Json,
    /// One JSON object per window, one per line, for `jq` and log
    /// pipelines: the JSON report's `windows` rows.
    Ndjson,
    /// One table, with a header row.
    Csv,
    /// One self-contained page.
    Html,
    /// The report's tables as Parquet files in a directory.
    Parquet,
}

impl Format {
    pub const NAMES: [&'static str; 6] = ["text", "json", "ndjson", "csv", "html", "parquet"];

    pub fn parse(name: &str) -> Result<Format, String> {
        Ok(match name {
            "text" => Format::Text,
            "json" => Format::Json,
            "ndjson" => Format::Ndjson,
            "csv" => Format::Csv,
            "html" => Format::Html,
            "parquet" => Format::Parquet,
            _ => {
                return Err(format!(
                    "`{name}` is not an output: {}",
                    Format::NAMES.join(", ")
                ))
            }
        })
    }
}

/// Writes the report as `format` says, to a stream; `table` is the one
/// CSV holds. Parquet is a directory of files, written by
/// `output::parquet::write_report_tables` instead.
pub fn write(
    out: &mut dyn Write,
    report: &crate::report::Report,
    format: Format,
    table: &str,
    style: &Style,
) -> io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            writeln!(out)
        }
        Format::Ndjson => {
            for w in &report.windows {
                serde_json::to_writer(&mut *out, w)?;
                writeln!(out)?;
            }
            Ok(())
        }
        Format::Csv => write_csv(out, report, table),
        Format::Html => html::write_html(out, report),
        Format::Text => write_report(out, report, style),
        Format::Parquet => Err(io::Error::other(
            "Parquet is written as a directory of tables, not to a stream",
        )),
    }
}

/// The known formats, one per line: name, syntax, where it came from.
pub fn write_formats<'g>(
    out: &mut dyn Write,
    grammars: impl Iterator<Item = &'g crate::grammar::Grammar>,
) -> io::Result<()> {
    for g in grammars {
        writeln!(
            out,
            "{:<24} {:<7} {}",
            g.name,
            g.syntax.to_string(),
            g.source
        )?;
    }
    Ok(())
}

/// Writes a `--by host` report: the run's summary, a table of hosts, then
/// per host its own timeline, incidents and tables. JSON is one object
/// (`logspike.report-by/1`); the other formats are one host at a time
/// (`--host NAME`).
pub fn write_by_host(
    out: &mut dyn Write,
    by: &crate::report::ByHost,
    format: Format,
    style: &Style,
) -> io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, by)?;
            return writeln!(out);
        }
        Format::Text => {}
        _ => {
            return Err(io::Error::other(
                "--by host writes text or json; for one host in another format, use --host NAME",
            ))
        }
    }
    write_report_header(out, &by.overview, style)?;
    writeln!(out)?;
    writeln!(out, "Hosts by requests (each has its section below)")?;
    writeln!(
        out,
        "  {:<40} {:>10} {:>8} {:>7} {:>9}",
        "host", "requests", "5xx", "rate", "incidents"
    )?;
    for section in &by.sections {
        let s = &section.report.summary;
        writeln!(
            out,
            "  {:<40} {:>10} {:>8} {:>7} {:>9}",
            crate::text::escape_bytes(section.host.as_bytes()),
            thousands(s.requests),
            thousands(s.errors_5xx),
            pct(s.error_rate),
            section.report.incidents.len()
        )?;
    }
    let more = &by.more;
    if more.requests > 0 {
        writeln!(
            out,
            "  {} more hosts: {} requests, {} 5xx (one of them: --host NAME)",
            thousands(more.hosts as u64),
            thousands(more.requests),
            thousands(more.errors_5xx)
        )?;
    }
    if more.without_host > 0 {
        writeln!(
            out,
            "  {} requests without a host (the format logs none, or `-`)",
            thousands(more.without_host)
        )?;
    }
    for section in &by.sections {
        let r = &section.report;
        let s = &r.summary;
        writeln!(out)?;
        writeln!(
            out,
            "{}",
            style.bold(&format!(
                "══ host {} ══",
                crate::text::escape_bytes(section.host.as_bytes())
            ))
        )?;
        writeln!(
            out,
            "{} requests, {} 5xx ({}), {} windows of {}",
            thousands(s.requests),
            thousands(s.errors_5xx),
            pct(s.error_rate),
            r.windows.len(),
            window_label(s.window_seconds)
        )?;
        write_report_body(out, r, style)?;
    }
    Ok(())
}

/// Writes the terminal report: summary, 5xx timeline, incidents, top
/// upstreams and paths, status mix. Times are UTC.
pub fn write_report(
    out: &mut dyn Write,
    r: &crate::report::Report,
    style: &Style,
) -> io::Result<()> {
    write_report_header(out, r, style)?;
    write_report_body(out, r, style)
}

/// The report's summary: files, span, requests, windows, filters, files
/// not read whole.
fn write_report_header(
    out: &mut dyn Write,
    r: &crate::report::Report,
    style: &Style,
) -> io::Result<()> {
    let when = |t: &crate::report::Utc| style.when(t);
    let s = &r.summary;
    let span = match (&s.start, &s.end) {
        (Some(a), Some(b)) => format!("{} .. {} {}", when(a), when(b), style.zone()),
        _ => "no timestamps".to_string(),
    };
    let rollups = !r.files.is_empty()
        && r.files
            .iter()
            .all(|f| f.format == crate::analysis::rolled::SCHEMA);
    if rollups {
        // Rollups hold requests, not lines: nothing was parsed or rejected.
        let noun = if s.files == 1 {
            "directory"
        } else {
            "directories"
        };
        writeln!(out, "{} rollup {noun}; {span}", s.files)?;
    } else {
        writeln!(
            out,
            "{} files, {} lines, {:.2}% parsed; {span}",
            s.files,
            thousands(s.lines),
            s.coverage
        )?;
    }
    let days_from = match &s.days_from {
        Some(zone) => format!(", from midnight {zone}"),
        None if s.window_seconds % 86_400.0 == 0.0 && !style.zone.is_utc() => format!(
            ", from midnight UTC (the log's times were kept too coarse to cut at {}'s)",
            style.zone.name()
        ),
        None => String::new(),
    };
    writeln!(
        out,
        "{} requests, {} 5xx ({}), {} windows of {}{days_from}",
        thousands(s.requests),
        thousands(s.errors_5xx),
        pct(s.error_rate),
        r.windows.len(),
        window_label(s.window_seconds)
    )?;
    if let Some(asked) = s.window_widened_from {
        writeln!(
            out,
            "windows of {} were asked for; the time span needs {} to stay within {} windows",
            window_label(asked),
            window_label(s.window_seconds),
            thousands(crate::report::MAX_TIMELINE as u64)
        )?;
    }
    if !s.not_logged.is_empty() {
        writeln!(
            out,
            "not in these logs: {} (n/a: empty in CSV, null in JSON, never zero)",
            s.not_logged
                .iter()
                .map(|f| f.replace('_', " "))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    if s.since.is_some() || s.until.is_some() {
        writeln!(
            out,
            "only requests from {} to {} {} (--since/--until)",
            s.since.as_ref().map_or("the start".into(), &when),
            s.until.as_ref().map_or("the end".into(), &when),
            style.zone()
        )?;
    }
    if let Some(filter) = &s.filter {
        writeln!(out, "only requests where {filter}")?;
    }
    if s.filtered > 0 || s.untimed > 0 {
        writeln!(
            out,
            "{} requests left out (--since/--until, filters), {} without a timestamp",
            thousands(s.filtered),
            thousands(s.untimed)
        )?;
    }
    for f in &r.files {
        if f.error.is_some() || f.coverage < 100.0 {
            writeln!(
                out,
                "  {}: {:.2}% of {} lines parsed{}",
                f.name,
                f.coverage,
                thousands(f.lines),
                f.error
                    .as_ref()
                    .map(|e| format!("; {e}"))
                    .unwrap_or_default()
            )?;
            if f.format.is_empty() && f.lines > 0 {
                writeln!(out, "    {}", f.format_reason)?;
            } else {
                for rejection in f.first_rejections.iter().take(1) {
                    writeln!(out, "    first rejected: {rejection}")?;
                }
            }
        }
    }
    Ok(())
}

/// The report's timeline, incidents and tables, after its summary.
fn write_report_body(
    out: &mut dyn Write,
    r: &crate::report::Report,
    style: &Style,
) -> io::Result<()> {
    let when = |t: &crate::report::Utc| style.when(t);
    let s = &r.summary;
    writeln!(out)?;
    let max = r.windows.iter().map(|w| w.errors_5xx).max().unwrap_or(0);
    if max == 0 {
        writeln!(
            out,
            "5xx per {} window (each mark one window; no window had a 5xx)",
            window_label(s.window_seconds)
        )?;
    } else {
        writeln!(
            out,
            "5xx per {} window (each mark one window; full block = {})",
            window_label(s.window_seconds),
            thousands(max)
        )?;
    }
    const BARS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    // Windows that overlap an incident are marked in red.
    let marked = incident_windows(r);
    for (n, row) in r.windows.chunks(60).enumerate() {
        let marks: String = row
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let mark = if w.errors_5xx == 0 || max == 0 {
                    '·'
                } else {
                    BARS[(1 + (w.errors_5xx * 7).div_ceil(max) as usize).min(8)]
                };
                if marked[n * 60 + i] {
                    style.red(&mark.to_string())
                } else {
                    mark.to_string()
                }
            })
            .collect();
        writeln!(out, "  {}  {marks}", when(&row[0].start))?;
    }

    writeln!(out)?;
    if r.incidents.is_empty() {
        writeln!(
            out,
            "No incidents: no series' 5xx stood out from its baseline, and traffic never dropped."
        )?;
    } else {
        writeln!(out, "{}", style.bold("Incidents"))?;
    }
    for (i, inc) in r.incidents.iter().enumerate() {
        write_incident(out, i, inc, style)?;
    }

    if !r.upstreams.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{}",
            style.bold("Upstreams by 5xx (every attempt counts)")
        )?;
        writeln!(
            out,
            "  {:<32} {:>10} {:>8} {:>7}",
            "upstream", "attempts", "5xx", "rate"
        )?;
        for u in &r.upstreams {
            writeln!(
                out,
                "  {:<32} {:>10} {:>8} {:>7}",
                crate::text::escape_bytes(u.upstream.as_bytes()),
                thousands(u.attempts),
                thousands(u.errors_5xx),
                pct(rate(u.errors_5xx, u.attempts))
            )?;
        }
        if r.upstreams_other.keys > 0 {
            writeln!(
                out,
                "  ... {} more upstreams: {} attempts, {} 5xx",
                thousands(r.upstreams_other.keys),
                thousands(r.upstreams_other.requests),
                thousands(r.upstreams_other.errors_5xx)
            )?;
        }
    }

    writeln!(out)?;
    writeln!(out, "{}", style.bold("Paths by 5xx (normalized)"))?;
    writeln!(
        out,
        "  {:<40} {:>10} {:>8} {:>7}",
        "path", "requests", "5xx", "rate"
    )?;
    for p in &r.paths {
        writeln!(
            out,
            "  {:<40} {:>10} {:>8} {:>7}",
            crate::text::escape_bytes(p.path.as_bytes()),
            thousands(p.requests),
            thousands(p.errors_5xx),
            pct(rate(p.errors_5xx, p.requests))
        )?;
    }
    if r.paths_other.keys > 0 {
        writeln!(
            out,
            "  ... {} more paths: {} requests, {} 5xx",
            thousands(r.paths_other.keys),
            thousands(r.paths_other.requests),
            thousands(r.paths_other.errors_5xx)
        )?;
    }

    writeln!(out)?;
    let total: u64 = r.status.values().sum();
    let class = |c: u16| -> u64 {
        r.status
            .iter()
            .filter(|(k, _)| k.0 / 100 == c)
            .map(|(_, n)| n)
            .sum()
    };
    let mix: Vec<String> = [1, 2, 3, 4, 5]
        .iter()
        .map(|&c| format!("{c}xx {}", pct(rate(class(c), total))))
        .collect();
    writeln!(out, "Status mix  {}", mix.join("  "))?;
    let fives: Vec<String> = r
        .status
        .iter()
        .filter(|(k, _)| k.is_5xx())
        .map(|(k, n)| format!("{k} x{}", thousands(*n)))
        .collect();
    if !fives.is_empty() {
        writeln!(out, "5xx codes   {}", fives.join(", "))?;
    }
    Ok(())
}
