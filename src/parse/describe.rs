//! Saying why a line was rejected, in the grammar's own words.

use super::*;

impl LineParser {
    /// A one-line explanation of a rejection, naming fields and literals.
    pub fn describe(&self, reject: &Reject, line: &[u8]) -> String {
        let line = strip_eol(line);
        if let Some(kind) = error_log_kind(line) {
            return format!("an {kind} error-log line, not an access-log line");
        }
        let layout = self.layouts.get(reject.layout as usize);
        let field_name = |slot: u8| {
            layout
                .and_then(|l| l.fields.get(slot as usize))
                .map_or("?".to_string(), |f| f.name.clone())
        };
        // The literal that ends a field, as the grammar has it.
        let ending = |slot: u8| {
            layout
                .and_then(|l| {
                    l.steps.iter().find_map(|s| match s {
                        Step::Field {
                            slot: s2,
                            until: Until::Literal { lit, .. },
                            ..
                        } if *s2 == slot => Some(crate::text::escape_bytes(lit)),
                        _ => None,
                    })
                })
                .unwrap_or_default()
        };
        let at = (reject.column as usize).min(line.len());
        let found = crate::text::escape_bytes(&line[at..(at + 16).min(line.len())]);
        match reject.kind {
            RejectKind::Literal { step } => {
                let lit = layout.and_then(|l| match l.steps.get(step as usize) {
                    Some(Step::Literal(lit)) => Some(crate::text::escape_bytes(lit)),
                    _ => None,
                });
                let after = layout
                    .and_then(|l| {
                        l.steps[..step as usize].iter().rev().find_map(|s| match s {
                            Step::Field { slot, .. } => Some(*slot),
                            Step::Literal(_) => None,
                        })
                    })
                    .map(|slot| format!(" after field `{}`", field_name(slot)))
                    .unwrap_or_default();
                format!(
                    "expected `{}`{after}, found `{found}`",
                    lit.unwrap_or_default()
                )
            }
            RejectKind::Unterminated { slot } => {
                let next = ending(slot);
                format!(
                    "field `{}` never ends: no `{next}` after it",
                    field_name(slot)
                )
            }
            RejectKind::BadValue { slot, len } => {
                let end = (at + (len as usize).min(40)).min(line.len());
                let value = crate::text::escape_bytes(&line[at..end]);
                format!(
                    "field `{}` has an invalid value `{value}`",
                    field_name(slot)
                )
            }
            RejectKind::StrayQuote { slot } => {
                let next = ending(slot);
                format!(
                    "field `{}` closes with a quote followed by `{found}`, where the format has `{next}`: \
                     the line has other fields here",
                    field_name(slot)
                )
            }
            RejectKind::NoFormat => "no known format fits this input".into(),
            RejectKind::Trailing => format!("unexpected text after the last field: `{found}`"),
            RejectKind::TooLong => format!("line longer than {} bytes", MAX_LINE),
            RejectKind::FieldCount { got, expected } => format!(
                "{got} values where the last #Fields directive declares {expected}, \
                 and no earlier #Fields of this file has {got}"
            ),
            RejectKind::NoFieldsDirective { got } => format!(
                "{got} values before any #Fields directive, and no built-in IIS layout has {got}"
            ),
            RejectKind::BadFieldsDirective => "a #Fields directive that cannot be read".into(),
        }
    }
}

/// Error-log lines often end up in access logs (a shared `error_log` and
/// `access_log` path, or `2>&1`); naming them saves a puzzled look.
fn error_log_kind(line: &[u8]) -> Option<&'static str> {
    let digits = |r: std::ops::Range<usize>| {
        line.get(r)
            .is_some_and(|b| b.iter().all(u8::is_ascii_digit))
    };
    // nginx: `2021/12/01 13:53:33 [error] 31#31: ...`
    if line.len() > 21
        && digits(0..4)
        && line[4] == b'/'
        && line[7] == b'/'
        && line[19..].starts_with(b" [")
    {
        return Some("nginx");
    }
    // Apache 2.4: `[Thu Oct 13 09:12:01.123456 2016] [core:error] ...`
    if line.starts_with(b"[")
        && memchr::memmem::find(line, b"] [").is_some()
        && memchr::memmem::find(line, b":error]")
            .or_else(|| memchr::memmem::find(line, b":warn]"))
            .or_else(|| memchr::memmem::find(line, b":notice]"))
            .is_some()
    {
        return Some("Apache");
    }
    None
}
