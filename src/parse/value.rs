//! Typed views of a [`Record`]'s fields, decoded on demand.
//!
//! `-` is a missing value: every accessor returns `None` for it, never a
//! zero. Text values borrow the line and are unescaped only when asked
//! ([`Value::decode`]), so bytes that are not UTF-8 survive untouched.

use std::borrow::Cow;

use super::Record;
use crate::grammar::{Escape, Role, Unit};

/// A field's text as the server wrote it, with the escaping it used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Value<'a> {
    pub raw: &'a [u8],
    pub escape: Escape,
}

impl<'a> Value<'a> {
    /// `None` for the server's "no value" mark `-`.
    #[inline]
    pub fn new(raw: &'a [u8], escape: Escape) -> Option<Value<'a>> {
        (raw != b"-").then_some(Value { raw, escape })
    }

    /// The text with the server's escaping undone: `\xHH`, `\"` and `\\`
    /// for nginx and Apache, JSON escapes for nginx `escape=json`, `+` for a
    /// space in IIS. Borrows when there is nothing to undo.
    pub fn decode(&self) -> Cow<'a, [u8]> {
        match self.escape {
            Escape::Backslash => unescape_backslash(self.raw),
            Escape::Json => unescape_json(self.raw),
            Escape::Plus if super::find_byte(self.raw, b'+').is_some() => Cow::Owned(
                self.raw
                    .iter()
                    .map(|&b| if b == b'+' { b' ' } else { b })
                    .collect(),
            ),
            _ => Cow::Borrowed(self.raw),
        }
    }

    /// The decoded text, with bytes that are not UTF-8 replaced for display.
    pub fn to_string_lossy(&self) -> String {
        String::from_utf8_lossy(&self.decode()).into_owned()
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn unescape_backslash(raw: &[u8]) -> Cow<'_, [u8]> {
    if super::find_byte(raw, b'\\').is_none() {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == b'\\' && i + 1 < raw.len() {
            match raw[i + 1] {
                b'x' | b'X' => {
                    if let (Some(h), Some(l)) = (
                        raw.get(i + 2).copied().and_then(hex),
                        raw.get(i + 3).copied().and_then(hex),
                    ) {
                        out.push(h << 4 | l);
                        i += 4;
                        continue;
                    }
                }
                c @ (b'"' | b'\\') => {
                    out.push(c);
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        out.push(b);
        i += 1;
    }
    Cow::Owned(out)
}

fn unescape_json(raw: &[u8]) -> Cow<'_, [u8]> {
    if super::find_byte(raw, b'\\').is_none() {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' && i + 1 < raw.len() {
            let simple = match raw[i + 1] {
                b'"' => Some(b'"'),
                b'\\' => Some(b'\\'),
                b'/' => Some(b'/'),
                b'n' => Some(b'\n'),
                b't' => Some(b'\t'),
                b'r' => Some(b'\r'),
                b'b' => Some(8),
                b'f' => Some(12),
                _ => None,
            };
            if let Some(c) = simple {
                out.push(c);
                i += 2;
                continue;
            }
            if raw[i + 1] == b'u' && i + 6 <= raw.len() {
                let code = raw[i + 2..i + 6]
                    .iter()
                    .try_fold(0u32, |acc, &b| hex(b).map(|d| acc * 16 + d as u32));
                if let Some(c) = code.and_then(char::from_u32) {
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    i += 6;
                    continue;
                }
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    Cow::Owned(out)
}

fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 {
        return None;
    }
    b.iter().try_fold(0u64, |acc, &c| {
        let d = c.wrapping_sub(b'0');
        (d <= 9).then(|| acc * 10 + d as u64)
    })
}

/// A duration in seconds from text in `unit` (`0.250`, `1500`).
///
/// `digits.digits` is read as one integer over a power of ten, a single
/// correctly rounded division, so the result equals what `str::parse`
/// gives, at a fraction of the cost.
fn parse_seconds(b: &[u8], unit: Unit) -> Option<f64> {
    // At most 15 digits: one pass, the exact integer and the division.
    if b.len() > 15 {
        return parse_long_seconds(b, unit);
    }
    let (mut scaled, mut dot) = (0u64, None);
    for (i, &c) in b.iter().enumerate() {
        let d = c.wrapping_sub(b'0');
        if d <= 9 {
            scaled = scaled * 10 + u64::from(d);
        } else if c == b'.' && dot.is_none() {
            dot = Some(i);
        } else {
            return None;
        }
    }
    // Nothing, or a lone `.`.
    if b.len() == usize::from(dot.is_some()) {
        return None;
    }
    let frac = dot.map_or(0, |at| b.len() - at - 1);
    Some(to_seconds(scaled as f64 / POW10[frac], unit))
}

/// [`parse_seconds`] for longer text.
fn parse_long_seconds(b: &[u8], unit: Unit) -> Option<f64> {
    let dot = b.iter().position(|&c| c == b'.').unwrap_or(b.len());
    let (int, frac) = (&b[..dot], b.get(dot + 1..).unwrap_or_default());
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut scaled: u64 = 0;
    let digits = int.len() + frac.len();
    if digits > 15 {
        let v: f64 = std::str::from_utf8(b).ok()?.parse().ok()?;
        return Some(to_seconds(v, unit));
    }
    for &c in int.iter().chain(frac) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        scaled = scaled * 10 + d as u64;
    }
    let v = scaled as f64 / POW10[frac.len()];
    Some(to_seconds(v, unit))
}

const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

fn to_seconds(v: f64, unit: Unit) -> f64 {
    match unit {
        Unit::Seconds => v,
        Unit::Millis => v / 1e3,
        Unit::Micros => v / 1e6,
    }
}

/// The parts of the request line. Every part is `None` when the server
/// logged no usable request (`""`, `-`, TLS handshake bytes, `hello`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Request<'a> {
    pub method: Option<&'a [u8]>,
    /// The request target as sent: origin form (`/a?b`) or absolute form.
    pub target: Option<Value<'a>>,
    /// The target's path. For an absolute-form target
    /// (`http://host/a`) this is `/a`: the path the server routed on.
    pub path: Option<Value<'a>>,
    /// Text after the first `?`, without it; `None` when there is no `?`.
    pub query: Option<Value<'a>>,
    pub protocol: Option<&'a [u8]>,
}

fn is_method(b: &[u8]) -> bool {
    !b.is_empty()
        && b.len() <= 32
        && b.iter()
            .all(|c| c.is_ascii_alphabetic() || *c == b'-' || *c == b'_')
}

fn split_target<'a>(target: Value<'a>) -> (Option<Value<'a>>, Option<Value<'a>>) {
    let raw = target.raw;
    let (path, query) = match super::find_byte(raw, b'?') {
        Some(q) => (&raw[..q], Some(&raw[q + 1..])),
        None => (raw, None),
    };
    let mut path = path;
    // Origin form (`/a/b`) is the rule; only look for a scheme otherwise.
    let absolute = path.first().is_some_and(|&b| b != b'/');
    if let Some(scheme_end) = absolute
        .then(|| memchr::memmem::find(path, b"://"))
        .flatten()
    {
        let scheme = &path[..scheme_end];
        if !scheme.is_empty() && scheme.iter().all(u8::is_ascii_alphabetic) {
            let authority = &path[scheme_end + 3..];
            path = match memchr::memchr(b'/', authority) {
                Some(slash) => &authority[slash..],
                None => b"/",
            };
        }
    }
    let escape = target.escape;
    (
        Some(Value { raw: path, escape }),
        query.map(|q| Value { raw: q, escape }),
    )
}

/// `HTTP/` in any case at the start of `b`: four letters compared at once
/// (setting bit 5 lower-cases a letter and maps no other byte onto `h`,
/// `t` or `p`).
#[inline]
fn starts_http(b: &[u8]) -> bool {
    b.len() >= 5
        && (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) | 0x2020_2020)
            == u32::from_le_bytes(*b"http")
        && b[4] == b'/'
}

/// Splits a request line (`GET /a?b HTTP/1.1`). Tolerant of garbage: a
/// line that does not start with a method-like word yields no parts; a
/// missing protocol (HTTP/0.9) yields a target without one; spaces inside
/// the target are kept.
pub fn parse_request_line<'a>(raw: &'a [u8], escape: crate::grammar::Escape) -> Request<'a> {
    let Some(space) = super::find_byte(raw, b' ') else {
        return Request::default();
    };
    let method = &raw[..space];
    if !is_method(method) {
        return Request::default();
    }
    let mut rest = raw[space + 1..].trim_ascii();
    let mut protocol = None;
    if starts_http(rest) && !rest.contains(&b' ') {
        // `GET  HTTP/1.1`: the target is missing, not `HTTP/1.1`.
        return Request {
            method: Some(method),
            protocol: Some(rest),
            ..Request::default()
        };
    }
    // Nearly every request ends in ` HTTP/x.y`: check that before searching.
    let last_space = match rest.len().checked_sub(9) {
        Some(at) if rest[at] == b' ' && starts_http(&rest[at + 1..]) => Some(at),
        _ => memchr::memrchr(b' ', rest),
    };
    if let Some(last) = last_space {
        let candidate = &rest[last + 1..];
        if starts_http(candidate) {
            protocol = Some(candidate);
            rest = rest[..last].trim_ascii_end();
        }
    }
    if rest.is_empty() {
        return Request {
            method: Some(method),
            protocol,
            ..Request::default()
        };
    }
    let target = Value { raw: rest, escape };
    let (path, query) = split_target(target);
    Request {
        method: Some(method),
        target: Some(target),
        path,
        query,
        protocol,
    }
}

/// One try of a request at an upstream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attempt<'a> {
    pub addr: Option<&'a [u8]>,
    pub status: Option<u16>,
    /// Seconds.
    pub response_time: Option<f64>,
    /// The connect and header times as logged, read when asked for: most
    /// jobs read neither.
    connect: Option<&'a [u8]>,
    header: Option<&'a [u8]>,
    /// Which upstream group: nginx separates groups (after an internal
    /// redirect) with ` : ` and tries within a group with `, `.
    pub group: u16,
}

impl Attempt<'_> {
    /// Seconds to connect to the upstream.
    pub fn connect_time(&self) -> Option<f64> {
        parse_seconds(self.connect?, Unit::Seconds)
    }

    /// Seconds to the upstream's response header.
    pub fn header_time(&self) -> Option<f64> {
        parse_seconds(self.header?, Unit::Seconds)
    }
}

/// Walks an nginx upstream list, yielding entries and their group.
#[derive(Clone, Default)]
struct ListIter<'a> {
    rest: Option<&'a [u8]>,
    group: u16,
}

impl<'a> ListIter<'a> {
    fn new(raw: Option<&'a [u8]>) -> ListIter<'a> {
        ListIter {
            rest: raw.filter(|r| !r.is_empty()),
            group: 0,
        }
    }

    /// Whether the list is one entry (or none): a separator always holds
    /// a space.
    fn is_single(&self) -> bool {
        self.rest
            .is_none_or(|r| super::find_byte(r, b' ').is_none())
    }

    /// [`Iterator::next`] for a list that [`ListIter::is_single`]: the
    /// whole of it, without looking for separators again.
    fn whole(&mut self) -> Option<(Option<&'a [u8]>, u16)> {
        self.rest.take().map(|r| (entry(r), self.group))
    }
}

impl<'a> Iterator for ListIter<'a> {
    /// (entry, group); the entry is `None` for `-`.
    type Item = (Option<&'a [u8]>, u16);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest?;
        let group = self.group;
        let mut from = 0;
        loop {
            match super::find_byte(&rest[from..], b' ').map(|i| from + i) {
                Some(at) if at > 0 && rest[at - 1] == b',' => {
                    self.rest = Some(&rest[at + 1..]);
                    return Some((entry(&rest[..at - 1]), group));
                }
                Some(at) if rest[at..].starts_with(b" : ") => {
                    self.rest = Some(&rest[at + 3..]);
                    self.group += 1;
                    return Some((entry(&rest[..at]), group));
                }
                Some(at) => from = at + 1,
                None => {
                    self.rest = None;
                    return Some((entry(rest), group));
                }
            }
        }
    }
}

fn entry(b: &[u8]) -> Option<&[u8]> {
    let b = b.trim_ascii();
    (!b.is_empty() && b != b"-").then_some(b)
}

/// The attempts of one request, zipping the address, status and time lists
/// by position. A list shorter than the others yields `None` for the rest.
#[derive(Clone, Default)]
pub struct Attempts<'a> {
    addr: ListIter<'a>,
    status: ListIter<'a>,
    response: ListIter<'a>,
    connect: ListIter<'a>,
    header: ListIter<'a>,
    /// The response's status, for a format that names the one backend
    /// but logs no upstream status (Traefik): that backend's answer is the
    /// response.
    answered: Option<u16>,
    /// Every list is one entry (or none), as most are: one attempt.
    single: bool,
}

impl<'a> Iterator for Attempts<'a> {
    type Item = Attempt<'a>;

    #[inline]
    fn next(&mut self) -> Option<Attempt<'a>> {
        if self.addr.rest.is_none() && self.status.rest.is_none() && self.response.rest.is_none() {
            return None;
        }
        let [addr, status, response, connect, header] = if self.single {
            [
                self.addr.whole(),
                self.status.whole(),
                self.response.whole(),
                self.connect.whole(),
                self.header.whole(),
            ]
        } else {
            [
                self.addr.next(),
                self.status.next(),
                self.response.next(),
                self.connect.next(),
                self.header.next(),
            ]
        };
        if addr.is_none() && status.is_none() && response.is_none() {
            return None;
        }
        let group = addr.or(status).or(response).map_or(0, |(_, g)| g);
        let secs = |e: Option<(Option<&[u8]>, u16)>| {
            e.and_then(|(v, _)| v)
                .and_then(|v| parse_seconds(v, Unit::Seconds))
        };
        Some(Attempt {
            addr: addr.and_then(|(v, _)| v),
            status: status
                .and_then(|(v, _)| v)
                .and_then(parse_u64)
                .and_then(|s| u16::try_from(s).ok())
                .or(self.answered.take()),
            response_time: secs(response),
            connect: connect.and_then(|(v, _)| v),
            header: header.and_then(|(v, _)| v),
            group,
        })
    }
}

impl<'a> Record<'a> {
    #[inline]
    fn raw_role(&self, role: Role) -> Option<&'a [u8]> {
        self.get(role).map(|v| v.raw)
    }

    #[inline]
    pub fn status(&self) -> Option<u16> {
        parse_u64(self.raw_role(Role::Status)?).and_then(|s| u16::try_from(s).ok())
    }

    /// Response size: body bytes where the format has them, else all bytes
    /// sent (IIS `sc-bytes`, Apache `%O`).
    #[inline]
    pub fn bytes(&self) -> Option<u64> {
        let slot = self
            .layout
            .slot(Role::BodyBytes)
            .or_else(|| self.layout.slot(Role::BytesSent))?;
        Value::new(self.raw(slot), self.layout.fields[slot].escape).and_then(|v| parse_u64(v.raw))
    }

    /// Request time in seconds, whatever unit the format logs it in.
    #[inline]
    pub fn request_time(&self) -> Option<f64> {
        let slot = self.layout.slot(Role::RequestTime)?;
        let unit = self.layout.fields[slot].unit.unwrap_or(Unit::Seconds);
        Value::new(self.raw(slot), self.layout.fields[slot].escape)
            .and_then(|v| parse_seconds(v.raw, unit))
    }

    #[inline]
    pub fn remote_addr(&self) -> Option<Value<'a>> {
        self.get(Role::RemoteAddr)
    }

    #[inline]
    pub fn remote_user(&self) -> Option<Value<'a>> {
        self.get(Role::RemoteUser)
    }

    #[inline]
    pub fn host(&self) -> Option<Value<'a>> {
        self.get(Role::Host)
    }

    #[inline]
    pub fn referer(&self) -> Option<Value<'a>> {
        self.get(Role::Referer)
    }

    #[inline]
    pub fn user_agent(&self) -> Option<Value<'a>> {
        self.get(Role::UserAgent)
    }

    /// The request, from the request line or from separate method, URI,
    /// path, query and protocol fields.
    pub fn request(&self) -> Request<'a> {
        if let Some(slot) = self.layout.slot(Role::Request) {
            let raw = self.raw(slot);
            if raw == b"-" {
                return Request::default();
            }
            return parse_request_line(raw, self.layout.fields[slot].escape);
        }
        let mut request = Request {
            method: self.raw_role(Role::Method),
            protocol: self.raw_role(Role::Protocol),
            ..Request::default()
        };
        if let Some(uri) = self.get(Role::Uri) {
            request.target = Some(uri);
            (request.path, request.query) = split_target(uri);
        }
        if let Some(path) = self.get(Role::Path) {
            request.path = Some(path);
        }
        if let Some(query) = self.get(Role::Query) {
            // Apache `%q` logs the `?` too.
            let raw = query.raw.strip_prefix(b"?").unwrap_or(query.raw);
            request.query = Some(Value { raw, ..query });
        }
        request
    }

    /// Each try at an upstream, in order. Empty when the format has no
    /// upstream fields or the request never reached one.
    #[inline]
    pub fn upstreams(&self) -> Attempts<'a> {
        if !self.layout.has_upstreams() {
            return Attempts::default();
        }
        let answered = if self.layout.slot(Role::UpstreamStatus).is_none() {
            self.status()
        } else {
            None
        };
        let mut attempts = Attempts {
            answered,
            addr: ListIter::new(self.raw_role(Role::UpstreamAddr)),
            status: ListIter::new(self.raw_role(Role::UpstreamStatus)),
            response: ListIter::new(self.raw_role(Role::UpstreamResponseTime)),
            connect: ListIter::new(self.raw_role(Role::UpstreamConnectTime)),
            header: ListIter::new(self.raw_role(Role::UpstreamHeaderTime)),
            single: false,
        };
        attempts.single = [
            &attempts.addr,
            &attempts.status,
            &attempts.response,
            &attempts.connect,
            &attempts.header,
        ]
        .iter()
        .all(|list| list.is_single());
        attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line whose lists are each one entry takes them whole; the
    /// attempts must be those that walking the lists gives, whatever the
    /// lists hold (a `-`, a comma without a space, nothing).
    #[test]
    fn whole_lists_give_the_attempts_that_walking_them_gives() {
        let pool: [&[u8]; 10] = [
            b"10.0.0.1:80",
            b"-",
            b"",
            b"10.0.0.1:80,10.0.0.2:80",
            b"10.0.0.1:80, 10.0.0.2:80",
            b"10.0.0.1:80 : 10.0.0.2:80",
            b"502",
            b"0.123",
            b"0.1, 0.2",
            b"504, - : 200",
        ];
        let mut state = 7;
        for _ in 0..20_000 {
            let mut pick = || {
                let i = crate::testing::xorshift(&mut state) % (pool.len() as u64 + 1);
                pool.get(i as usize).copied()
            };
            let lists = [pick(), pick(), pick(), pick(), pick()];
            let answered = crate::testing::xorshift(&mut state)
                .is_multiple_of(2)
                .then_some(503);
            let build = |single: Option<bool>| {
                let mut a = Attempts {
                    addr: ListIter::new(lists[0]),
                    status: ListIter::new(lists[1]),
                    response: ListIter::new(lists[2]),
                    connect: ListIter::new(lists[3]),
                    header: ListIter::new(lists[4]),
                    answered,
                    single: false,
                };
                a.single = single.unwrap_or_else(|| {
                    [&a.addr, &a.status, &a.response, &a.connect, &a.header]
                        .iter()
                        .all(|l| l.is_single())
                });
                a
            };
            let walked: Vec<_> = build(Some(false)).collect();
            let taken: Vec<_> = build(None).collect();
            assert_eq!(taken, walked, "{lists:?}");
        }
    }

    /// Each byte is compared on its own, so one byte changed at a time,
    /// every value at every place, covers it.
    #[test]
    fn http_is_found_in_any_case_and_nothing_else() {
        for at in 0..6 {
            for byte in 0..=255u8 {
                let mut b = *b"HTTP/1";
                b[at] = byte;
                let want = b[..5].eq_ignore_ascii_case(b"HTTP/");
                assert_eq!(starts_http(&b), want, "{:?}", String::from_utf8_lossy(&b));
            }
        }
        assert!(starts_http(b"http/"));
        assert!(!starts_http(b"HTTP"));
        assert!(!starts_http(b""));
    }

    #[test]
    fn seconds_match_the_standard_parser() {
        for text in [
            "0.100",
            "60.001",
            "0.004",
            "1500",
            "12.5",
            ".5",
            "5.",
            "0.000",
            "123456.789012",
        ] {
            let want: f64 = text.parse().unwrap();
            assert_eq!(
                parse_seconds(text.as_bytes(), Unit::Seconds),
                Some(want),
                "{text}"
            );
        }
        assert_eq!(parse_seconds(b"1500", Unit::Millis), Some(1.5));
        assert_eq!(parse_seconds(b"1500000", Unit::Micros), Some(1.5));
        // The one-pass reading agrees with the two-part one it replaced
        // (kept for long text) on any short text of digits, dots and others.
        let mut state = 0x853c_49e6_748f_ea9bu64;
        for _ in 0..100_000 {
            crate::testing::xorshift(&mut state);
            let len = (state % 16) as usize;
            let text: Vec<u8> = (0..len)
                .map(|i| b"0123456789..-e9"[(state >> (4 + 4 * i % 60)) as usize % 15])
                .collect();
            for unit in [Unit::Seconds, Unit::Millis] {
                assert_eq!(
                    parse_seconds(&text, unit),
                    parse_long_seconds(&text, unit),
                    "{}",
                    String::from_utf8_lossy(&text)
                );
            }
        }
        for bad in [&b""[..], b".", b"1.2.3", b"-1", b"1e3", b"abc"] {
            assert_eq!(
                parse_seconds(bad, Unit::Seconds),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
