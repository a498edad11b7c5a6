//! What a person reads: the `check` summary.

use std::io::{self, Write};

use crate::check::FileCheck;
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
