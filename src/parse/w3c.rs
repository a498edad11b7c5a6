//! W3C (IIS) lines: values split by spaces, columns named by the last
//! `#Fields:` directive.

use super::*;

impl LineParser {
    pub(super) fn parse_w3c<'a>(&'a mut self, line: &'a [u8]) -> Outcome<'a> {
        let LineParser {
            layouts,
            w3c,
            spans,
            ..
        } = self;
        let state = w3c.as_mut().expect("checked by the caller");
        if line[0] == b'#' {
            if let Some(list) = line.strip_prefix(b"#Fields:") {
                let text = String::from_utf8_lossy(list);
                let name = format!("{}#{}", layouts[0].grammar.name, state.seen.len() + 1);
                match crate::grammar::w3c::grammar_from_ids(&name, text.split_ascii_whitespace()) {
                    Ok(grammar) => {
                        layouts.push(Layout::new(Arc::new(grammar)));
                        state.seen.push(layouts.len() - 1);
                        state.current = Some(layouts.len() - 1);
                    }
                    Err(_) => {
                        return Outcome::Rejected(Reject {
                            kind: RejectKind::BadFieldsDirective,
                            column: 8,
                            layout: 0,
                        })
                    }
                }
            }
            return Outcome::Directive;
        }
        let count = split_w3c(line, &mut spans[0]);
        let spans: &'a [Span; MAX_FIELDS] = &spans[0];
        let fits = |i: &usize| layouts[*i].fields.len() == count;
        let chosen = match state.current {
            Some(current) if fits(&current) => Some(current),
            Some(_) => state.seen.iter().rev().copied().find(fits),
            None => state.defaults.iter().copied().find(fits),
        };
        let Some(index) = chosen else {
            let kind = match state.current {
                Some(current) => RejectKind::FieldCount {
                    got: count as u16,
                    expected: layouts[current].fields.len() as u16,
                },
                None => RejectKind::NoFieldsDirective { got: count as u16 },
            };
            return Outcome::Rejected(Reject {
                kind,
                column: 0,
                layout: state.current.unwrap_or(0) as u16,
            });
        };
        let layout = &layouts[index];
        let value = |role| {
            layout.slot(role).map(|s| {
                let span = spans[s];
                &line[span.start as usize..span.end as usize]
            })
        };
        let used = count.min(layout.fields.len());
        if let Some(slot) = (0..used).find(|&slot| {
            let span = spans[slot];
            !holds(
                &layout.checks[slot],
                &line[span.start as usize..span.end as usize],
            )
        }) {
            return Outcome::Rejected(Reject {
                kind: RejectKind::BadValue {
                    slot: slot as u8,
                    len: (spans[slot].end - spans[slot].start).min(u16::MAX as u32) as u16,
                },
                column: spans[slot].start,
                layout: index as u16,
            });
        }
        let time = match (value(Role::Date), value(Role::TimeOfDay)) {
            (Some(date), Some(tod)) => match time::parse_w3c(date, tod) {
                Some(t) => Some(t),
                None => {
                    let slot = layout.slot(Role::Date).unwrap() as u8;
                    return Outcome::Rejected(Reject {
                        kind: RejectKind::BadValue {
                            slot,
                            len: (spans[slot as usize].end - spans[slot as usize].start)
                                .min(u16::MAX as u32) as u16,
                        },
                        column: spans[slot as usize].start,
                        layout: index as u16,
                    });
                }
            },
            _ => None,
        };
        Outcome::Record(Record {
            line,
            layout,
            spans,
            time,
            trailing: false,
            extra_at: 0,
            unusual: false,
        })
    }
}

/// Splits a W3C data line into values. IIS separates values by one space;
/// IIS Advanced Logging and some other writers use runs of spaces and quote
/// values that hold spaces, so both are accepted. Returns the value count,
/// which may exceed [`MAX_FIELDS`] (extra values are counted, not stored).
fn split_w3c(line: &[u8], spans: &mut [Span; MAX_FIELDS]) -> usize {
    let mut count = 0;
    let mut pos = 0;
    while pos < line.len() {
        if line[pos] == b' ' || line[pos] == b'\t' {
            pos += 1;
            continue;
        }
        let (start, end, next) = if line[pos] == b'"' {
            // `""` inside a quoted value is an escaped quote.
            let mut i = pos + 1;
            loop {
                match memchr::memchr(b'"', &line[i..]) {
                    Some(q) if line.get(i + q + 1) == Some(&b'"') => i += q + 2,
                    Some(q) => break (pos + 1, i + q, i + q + 1),
                    None => break (pos + 1, line.len(), line.len()),
                }
            }
        } else {
            let end = memchr::memchr2(b' ', b'\t', &line[pos..]).map_or(line.len(), |e| pos + e);
            (pos, end, end)
        };
        if count < MAX_FIELDS {
            spans[count] = Span {
                start: start as u32,
                end: end as u32,
            };
        }
        count += 1;
        pos = next;
    }
    count
}
