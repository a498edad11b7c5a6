//! The report's tables as CSV (`report --output csv --table T`): one table
//! with a header row, quoted as RFC 4180 says. In `windows`, `incidents`,
//! `upstreams` and `paths` the status counts are one field of `code:count`
//! pairs separated by `;`; the long-form tables (`window_status`,
//! `incident_status`, `upstream_status`, `path_status`) give them one row
//! per key and status, for a spreadsheet or a data frame.

use std::io::{self, Write};

/// One CSV field, quoted when it must be (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv_row(out: &mut dyn Write, fields: &[String]) -> io::Result<()> {
    let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
    writeln!(out, "{}", row.join(","))
}

fn codes(map: &crate::report::StatusCounts) -> String {
    map.iter()
        .map(|(k, n)| format!("{k}:{n}"))
        .collect::<Vec<_>>()
        .join(";")
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.6}")).unwrap_or_default()
}

/// The tables a CSV export can hold.
pub const CSV_TABLES: [&str; 8] = [
    "windows",
    "incidents",
    "upstreams",
    "paths",
    "window_status",
    "incident_status",
    "upstream_status",
    "path_status",
];

/// A long-form table: one row per key and status code.
fn long_form<'r>(
    out: &mut dyn Write,
    key: &str,
    rows: impl Iterator<Item = (String, &'r crate::report::StatusCounts)>,
) -> io::Result<()> {
    csv_row(out, &[key.to_string(), "status".into(), "requests".into()])?;
    for (k, counts) in rows {
        for (code, n) in counts {
            csv_row(out, &[k.clone(), code.to_string(), n.to_string()])?;
        }
    }
    Ok(())
}

/// Writes one table of the report as CSV with a header row. Status counts
/// are one field of `code:count` pairs separated by `;`.
pub fn write_csv(out: &mut dyn Write, r: &crate::report::Report, table: &str) -> io::Result<()> {
    let s = |v: &dyn std::fmt::Display| v.to_string();
    match table {
        "window_status" => {
            return long_form(
                out,
                "start",
                r.windows.iter().map(|w| (w.start.to_string(), &w.status)),
            )
        }
        "incident_status" => {
            return long_form(
                out,
                "incident",
                r.incidents
                    .iter()
                    .enumerate()
                    .map(|(i, inc)| ((i + 1).to_string(), &inc.status)),
            )
        }
        "upstream_status" => {
            return long_form(
                out,
                "upstream",
                r.upstreams.iter().map(|u| (u.upstream.clone(), &u.status)),
            )
        }
        "path_status" => {
            return long_form(
                out,
                "path",
                r.paths.iter().map(|p| (p.path.clone(), &p.status)),
            )
        }
        "windows" => {
            csv_row(
                out,
                &[
                    "start",
                    "requests",
                    "errors_5xx",
                    "error_rate",
                    "bytes",
                    "status",
                    "request_time_p50",
                    "request_time_p90",
                    "request_time_p99",
                    "upstream_time_p50",
                    "upstream_time_p90",
                    "upstream_time_p99",
                ]
                .map(String::from),
            )?;
            for w in &r.windows {
                csv_row(
                    out,
                    &[
                        w.start.to_string(),
                        s(&w.requests),
                        s(&w.errors_5xx),
                        format!("{:.6}", w.error_rate),
                        w.bytes.map(|b| b.to_string()).unwrap_or_default(),
                        codes(&w.status),
                        opt(w.request_time.p50),
                        opt(w.request_time.p90),
                        opt(w.request_time.p99),
                        opt(w.upstream_time.p50),
                        opt(w.upstream_time.p90),
                        opt(w.upstream_time.p99),
                    ],
                )?;
            }
        }
        "incidents" => {
            csv_row(
                out,
                &[
                    "kind",
                    "scope",
                    "scope_dimension",
                    "start",
                    "end",
                    "duration_seconds",
                    "peak",
                    "peak_5xx",
                    "total_5xx",
                    "upstream_5xx",
                    "requests",
                    "error_rate",
                    "baseline_rate",
                    "expected_requests",
                    "diagnosis",
                    "status",
                    "top_upstream",
                    "top_upstream_share",
                    "top_path",
                    "top_path_share",
                    "first_error_file",
                    "first_error_line",
                    "differs_dimension",
                    "differs_key",
                    "differs_share",
                    "differs_normal_share",
                ]
                .map(String::from),
            )?;
            for i in &r.incidents {
                let up = i.upstreams.first();
                let path = i.paths.first();
                let differs = i.attribution.first();
                csv_row(
                    out,
                    &[
                        i.kind.to_string(),
                        i.scope.label.clone(),
                        i.scope.dimension.to_string(),
                        i.start.to_string(),
                        i.end.to_string(),
                        s(&i.duration_seconds),
                        i.peak.to_string(),
                        s(&i.peak_5xx),
                        s(&i.total_5xx),
                        i.upstream_5xx.map(|n| n.to_string()).unwrap_or_default(),
                        s(&i.requests),
                        format!("{:.6}", i.error_rate),
                        format!("{:.6}", i.baseline_rate),
                        i.expected_requests
                            .map(|n| format!("{n:.1}"))
                            .unwrap_or_default(),
                        i.diagnosis.clone(),
                        codes(&i.status),
                        up.map(|u| u.key.clone()).unwrap_or_default(),
                        up.map(|u| format!("{:.6}", u.share)).unwrap_or_default(),
                        path.map(|p| p.key.clone()).unwrap_or_default(),
                        path.map(|p| format!("{:.6}", p.share)).unwrap_or_default(),
                        i.first_error
                            .as_ref()
                            .map(|e| e.file.clone())
                            .unwrap_or_default(),
                        i.first_error
                            .as_ref()
                            .map(|e| s(&e.line))
                            .unwrap_or_default(),
                        differs.map(|a| a.dimension.to_string()).unwrap_or_default(),
                        differs.map(|a| a.key.clone()).unwrap_or_default(),
                        differs
                            .map(|a| format!("{:.6}", a.share))
                            .unwrap_or_default(),
                        differs
                            .map(|a| format!("{:.6}", a.normal_share))
                            .unwrap_or_default(),
                    ],
                )?;
            }
        }
        "upstreams" => {
            csv_row(
                out,
                &["upstream", "attempts", "errors_5xx", "status"].map(String::from),
            )?;
            for u in &r.upstreams {
                csv_row(
                    out,
                    &[
                        u.upstream.clone(),
                        s(&u.attempts),
                        s(&u.errors_5xx),
                        codes(&u.status),
                    ],
                )?;
            }
        }
        "paths" => {
            csv_row(
                out,
                &["path", "requests", "errors_5xx", "status"].map(String::from),
            )?;
            for p in &r.paths {
                csv_row(
                    out,
                    &[
                        p.path.clone(),
                        s(&p.requests),
                        s(&p.errors_5xx),
                        codes(&p.status),
                    ],
                )?;
            }
        }
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("no CSV table `{other}`; tables: {}", CSV_TABLES.join(", ")),
            ))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    }
}
