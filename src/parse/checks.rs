//! Whether a field's value holds what its type asks for: a shifted line
//! must never hand one field's text to another.

use super::{Check, ListItem};

/// Whether a value holds what its check asks for (the checks that mark
/// lines unusual or decode the time are handled by the caller).
pub(super) fn holds(check: &Check, value: &[u8]) -> bool {
    match check {
        Check::Any | Check::Ident | Check::User | Check::Time(_) => true,
        Check::Status => is_status(value),
        Check::Count { .. } => is_count(value),
        Check::Duration => is_duration(value),
        Check::Port => value == b"-" || (1..=5).contains(&value.len()) && all_digits(value),
        Check::Token => is_token(value),
        Check::Tls => {
            value == b"-"
                || [&b"TLS"[..], b"SSL", b"DTLS"]
                    .iter()
                    .any(|p| value.starts_with(p))
                    && is_token(value)
        }
        // Client-supplied text (an empty `X-Forwarded-For:` header is
        // logged as `""`) is split, not checked.
        Check::List(ListItem::Any) => true,
        Check::List(item) => {
            !value.is_empty()
                && match item {
                    ListItem::Address => list_items(value, address_item),
                    ListItem::Status => list_items(value, status_item),
                    ListItem::Count => list_items(value, count_item),
                    ListItem::Duration => list_items(value, duration_item),
                    ListItem::Token => list_items(value, |v, i| is_token(run(v, i))),
                    ListItem::Any => true,
                }
        }
    }
}

/// Whether a list value (`a, b : c`) is items that `item` accepts, with
/// separators between them. `item` starts at an item's first byte and
/// moves past it, or says no. One pass with no splitting: this runs on
/// every list field of every line.
#[inline(always)]
pub(super) fn list_items(value: &[u8], item: impl Fn(&[u8], &mut usize) -> bool) -> bool {
    let n = value.len();
    let mut i = 0;
    loop {
        if !item(value, &mut i) {
            return false;
        }
        if i == n {
            return true;
        }
        // `, ` between tries, ` : ` between groups (the field finder has
        // already made sure every space belongs to one of these).
        match value[i] {
            b',' => i += 1 + usize::from(value.get(i + 1) == Some(&b' ')),
            b' ' if value[i + 1..].starts_with(b": ") => i += 3,
            _ => return false,
        }
        if i >= n {
            return false;
        }
    }
}

/// Digits from `*i`, at most `max`; how many.
#[inline(always)]
pub(super) fn digits(v: &[u8], i: &mut usize, max: usize) -> usize {
    let start = *i;
    *i += v[start..]
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(v.len() - start);
    if *i - start > max {
        0
    } else {
        *i - start
    }
}

#[inline(always)]
pub(super) fn dash(v: &[u8], i: &mut usize) -> bool {
    if v[*i] == b'-' {
        *i += 1;
        true
    } else {
        false
    }
}

#[inline(always)]
pub(super) fn status_item(v: &[u8], i: &mut usize) -> bool {
    dash(v, i) || digits(v, i, 3) == 3
}

#[inline(always)]
pub(super) fn count_item(v: &[u8], i: &mut usize) -> bool {
    dash(v, i) || digits(v, i, 20) > 0
}

#[inline(always)]
pub(super) fn duration_item(v: &[u8], i: &mut usize) -> bool {
    if dash(v, i) {
        return true;
    }
    if digits(v, i, 20) == 0 {
        return false;
    }
    if *i < v.len() && v[*i] == b'.' {
        *i += 1;
        return digits(v, i, 9) > 0;
    }
    true
}

/// An address in one pass over its bytes; a socket path or a URL (whose
/// `/` is no address byte) goes the long way.
#[inline(always)]
pub(super) fn address_item(v: &[u8], i: &mut usize) -> bool {
    let start = *i;
    *i += v[start..]
        .iter()
        .position(|&c| !ADDRESS[c as usize])
        .unwrap_or(v.len() - start);
    if *i > start && (*i == v.len() || v[*i] == b' ' || v[*i] == b',') {
        return true;
    }
    *i = start;
    is_address(run(v, i))
}

/// The rest of an item: up to `,` or a space.
#[inline(always)]
pub(super) fn run<'v>(v: &'v [u8], i: &mut usize) -> &'v [u8] {
    let start = *i;
    while *i < v.len() && v[*i] != b' ' && v[*i] != b',' {
        *i += 1;
    }
    &v[start..*i]
}

#[inline]
pub(super) fn all_digits(b: &[u8]) -> bool {
    b.iter().all(u8::is_ascii_digit)
}

#[inline]
pub(super) fn is_status(b: &[u8]) -> bool {
    b == b"-" || (b.len() == 3 && all_digits(b))
}

/// Digits with an optional fraction (`0.123`, `15`), or `-`.
#[inline]
pub(super) fn is_duration(b: &[u8]) -> bool {
    if b == b"-" {
        return true;
    }
    let (whole, fraction) = match b.iter().position(|&c| c == b'.') {
        Some(dot) => (&b[..dot], Some(&b[dot + 1..])),
        None => (b, None),
    };
    !whole.is_empty()
        && whole.len() <= 20
        && all_digits(whole)
        && fraction.is_none_or(|f| !f.is_empty() && f.len() <= 9 && all_digits(f))
}

/// One word: not empty, no space, no quote.
#[inline]
pub(super) fn is_token(b: &[u8]) -> bool {
    !b.is_empty() && !b.iter().any(|&c| matches!(c, b' ' | b'"' | b'\t'))
}

/// An IP address (v4, v6 with or without brackets and zone), a host name,
/// `unix:PATH`, an nginx upstream group name, a backend URL (Traefik's
/// `http://10.0.0.1:80`, `h2c://app:8080`), or `-`.
pub(super) fn is_address(b: &[u8]) -> bool {
    // Most addresses start with a digit: no prefix to look for.
    if b.first().is_some_and(|c| c.is_ascii_digit()) {
        return b.iter().all(|&c| ADDRESS[c as usize]);
    }
    // A backend URL: `http://`, `https://`, `h2c://` and the like.
    if let Some(at) = memchr::memmem::find(b, b"://") {
        let (scheme, rest) = (&b[..at], &b[at + 3..]);
        let host = rest.split(|&c| c == b'/').next().unwrap_or_default();
        return !scheme.is_empty()
            && scheme
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
            && is_address(host)
            && host != b"-"
            && is_token(rest);
    }
    if let Some(path) = b.strip_prefix(b"unix:") {
        // nginx writes a client on a unix socket as `unix:` alone.
        return path.is_empty() || is_token(path);
    }
    !b.is_empty() && b.iter().all(|&c| ADDRESS[c as usize])
}

/// Bytes of IP addresses, host names and upstream group names.
pub(super) static ADDRESS: [bool; 256] = {
    let mut table = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        table[c] = b.is_ascii_alphanumeric()
            || matches!(b, b'.' | b':' | b'-' | b'_' | b'%' | b'[' | b']');
        c += 1;
    }
    table
};

#[inline]
pub(super) fn is_count(b: &[u8]) -> bool {
    b == b"-" || (!b.is_empty() && b.len() <= 20 && all_digits(b))
}
