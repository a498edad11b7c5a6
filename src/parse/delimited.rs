//! Matching a line against a delimited grammar (nginx, Apache): each
//! field up to the literal that ends it, each value checked.

use super::*;

/// A space inside a list value (`a, b` or `a : b`) rather than after it.
#[inline]
pub(super) fn continues_list(hay: &[u8], at: usize) -> bool {
    (at > 0 && hay[at - 1] == b',')
        || hay[at..].starts_with(b" : ")
        || (at >= 2 && hay[at - 1] == b':' && hay[at - 2] == b' ')
}

/// Every space in the value belongs to a `, ` or ` : ` separator.
pub(super) fn is_clean_list(value: &[u8]) -> bool {
    memchr::memchr_iter(b' ', value).all(|i| continues_list(value, i))
}

#[inline]
pub(super) fn is_escaped(hay: &[u8], at: usize) -> bool {
    // Most quotes follow no backslash: one comparison.
    if at == 0 || hay[at - 1] != b'\\' {
        return false;
    }
    let backslashes = hay[..at].iter().rev().take_while(|&&b| b == b'\\').count();
    backslashes % 2 == 1
}

/// `hay.starts_with(prefix)` for the short literals of a grammar, where a
/// call into libc's memcmp costs more than the comparison.
#[inline(always)]
pub(super) fn starts_with(hay: &[u8], prefix: &[u8]) -> bool {
    hay.len() >= prefix.len() && hay.iter().zip(prefix).all(|(a, b)| a == b)
}

/// Where a field ends, or why it does not.
pub(super) enum End {
    At(usize),
    /// No closing literal at all.
    Missing,
    /// A closing quote at this offset is followed by something other than
    /// the rest of the literal.
    StrayQuote(usize),
}

#[inline]
pub(super) fn find_until(
    hay: &[u8],
    lit: &[u8],
    quoted: bool,
    closes: bool,
    list: bool,
    mut inner_spaces: u8,
) -> End {
    let Some((&first, rest)) = lit.split_first() else {
        return End::Missing;
    };
    let mut from = 0;
    loop {
        let Some(found) = find_byte(&hay[from..], first) else {
            return End::Missing;
        };
        let at = from + found;
        if quoted && is_escaped(hay, at) {
            from = at + 1;
            continue;
        }
        if !starts_with(&hay[at + 1..], rest) {
            if closes {
                return End::StrayQuote(at);
            }
            from = at + 1;
            continue;
        }
        from = at + 1;
        if list && continues_list(hay, at) {
            continue;
        }
        if inner_spaces > 0 {
            inner_spaces -= 1;
            continue;
        }
        return End::At(at);
    }
}

#[inline]
pub(super) fn match_delimited(
    layout: &Layout,
    line: &[u8],
    cache: &mut TimeCache,
    spans: &mut [Span; MAX_FIELDS],
) -> Result<Match, Reject> {
    let mut time = None;
    let mut unusual = false;
    let mut pos = 0usize;
    let reject = |kind, column: usize| Reject {
        kind,
        column: column as u32,
        layout: 0,
    };
    let mut time_seen = false;
    for (index, step) in layout.steps.iter().enumerate() {
        match step {
            Step::Literal(lit) => {
                if !starts_with(&line[pos..], lit) {
                    return Err(reject(RejectKind::Literal { step: index as u16 }, pos));
                }
                pos += lit.len();
            }
            Step::Field {
                slot,
                until,
                check,
                list,
            } => {
                let rest = &line[pos..];
                let (len, skip) = match until {
                    Until::Literal {
                        lit,
                        quoted,
                        closes,
                        list,
                        inner_spaces,
                        last,
                    } => match find_until(rest, lit, *quoted, *closes, *list, *inner_spaces) {
                        End::At(len) if *last => (len, 0),
                        End::At(len) => (len, lit.len()),
                        End::Missing if *last => (rest.len(), 0),
                        End::Missing => {
                            return Err(reject(RejectKind::Unterminated { slot: *slot }, pos))
                        }
                        End::StrayQuote(at) => {
                            return Err(reject(RejectKind::StrayQuote { slot: *slot }, pos + at))
                        }
                    },
                    Until::Rest => (rest.len(), 0),
                };
                let value = &rest[..len];
                // `vhost 1.2.3.4` is not an address list: a grammar without
                // the vhost must not swallow it into `$remote_addr`. A list
                // whose items are checked is walked item by item below,
                // which rejects such a space the same way.
                let walked = matches!(check, Check::List(item) if !matches!(item, ListItem::Any));
                if *list && !walked && find_byte(value, b' ').is_some() && !is_clean_list(value) {
                    return Err(reject(
                        RejectKind::BadValue {
                            slot: *slot,
                            len: len.min(u16::MAX as usize) as u16,
                        },
                        pos,
                    ));
                }
                let valid = match check {
                    Check::Count { nginx } => {
                        // nginx always writes a number here; `-` is Apache's
                        // `%b` for an empty body, evidence for Apache.
                        unusual |= *nginx && value == b"-";
                        is_count(value)
                    }
                    // Servers write `-` for no ident and no user: an empty
                    // one, or a user one of whose words is a lone `-`, is
                    // the mark of a line with a field too many before it
                    // (`a a - - [...]`). A user name with a space
                    // (`John Smith`) is only unusual.
                    Check::Ident => {
                        unusual |= value != b"-";
                        !value.is_empty()
                    }
                    Check::User => {
                        let spaced = find_byte(value, b' ').is_some();
                        unusual |= spaced;
                        let shifted = spaced && value.split(|&c| c == b' ').any(|w| w == b"-");
                        !value.is_empty() && !shifted
                    }
                    Check::Time(format) if !time_seen => {
                        time_seen = true;
                        time = cache.get(format, value);
                        time.is_some()
                    }
                    // Free text (the request, referer, agent) and the
                    // status, on every line: no call.
                    Check::Any => true,
                    Check::Status => is_status(value),
                    other => holds(other, value),
                };
                if !valid {
                    return Err(reject(
                        RejectKind::BadValue {
                            slot: *slot,
                            len: len.min(u16::MAX as usize) as u16,
                        },
                        pos,
                    ));
                }
                spans[*slot as usize] = Span {
                    start: pos as u32,
                    end: (pos + len) as u32,
                };
                pos += len + skip;
            }
        }
    }
    let trailing = pos < line.len();
    if trailing && line[pos] != b' ' {
        return Err(reject(RejectKind::Trailing, pos));
    }
    Ok(Match {
        time,
        trailing,
        extra_at: pos as u32,
        unusual,
    })
}
