//! Which records a run looks at (`--status`, `--host`, `--upstream`,
//! `--path-prefix`, `--where`).

mod expr;
mod tokens;

pub use expr::Expr;
pub use tokens::ExprError;

use crate::parse::Record;

/// Which records a run looks at: one host, one upstream, one status or
/// class, one path family. Every condition given must hold; the records
/// left out are counted as filtered, like those outside `--since`.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// The `Host` header or virtual host, any case.
    pub host: Option<String>,
    /// An upstream address among the request's attempts.
    pub upstream: Option<String>,
    /// A status code (`503`) or class (`5` for `5xx`).
    pub status: Option<StatusFilter>,
    /// The raw request path starts with this.
    pub path_prefix: Option<String>,
    /// A `--where` expression.
    pub expr: Option<Expr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Code(u16),
    Class(u16),
}

impl StatusFilter {
    /// `503`, or `5xx` for a class.
    pub fn parse(text: &str) -> Result<StatusFilter, String> {
        let bad = || format!("`{text}` is not a status: a code like 503, or a class like 5xx");
        match text.to_ascii_lowercase().strip_suffix("xx") {
            Some(class) => match class.parse::<u16>() {
                Ok(c @ 1..=5) => Ok(StatusFilter::Class(c)),
                _ => Err(bad()),
            },
            None => match text.parse::<u16>() {
                Ok(c @ 100..=599) => Ok(StatusFilter::Code(c)),
                _ => Err(bad()),
            },
        }
    }
}

/// A host as filters and `--by host` compare it: without its port
/// (`example.com:8080` is `example.com`, `[::1]:80` is `[::1]`), as
/// nginx's `$host` and Apache's `%v` give it. A bare IPv6 address keeps
/// its colons.
pub fn host_name(raw: &[u8]) -> &[u8] {
    let Some(colon) = raw.iter().rposition(|&b| b == b':') else {
        return raw;
    };
    let port = &raw[colon + 1..];
    let before = &raw[..colon];
    let one_colon = !before.contains(&b':');
    let bracketed = before.first() == Some(&b'[') && before.last() == Some(&b']');
    if !port.is_empty() && port.iter().all(u8::is_ascii_digit) && (one_colon || bracketed) {
        before
    } else {
        raw
    }
}

/// A host as the report's tables, `--by host` and rollups name it:
/// [`host_name`], in lower case (nginx's `$host`), written into `buf`.
pub fn host_key(raw: &[u8], buf: &mut String) {
    let mut bytes = std::mem::take(buf).into_bytes();
    host_key_bytes(raw, &mut bytes);
    *buf = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
}

/// [`host_key`] as bytes, for a table that reads them as text only when
/// they are new to it (lower-casing ASCII and replacing invalid UTF-8
/// commute, so both orders give the same key).
pub fn host_key_bytes(raw: &[u8], buf: &mut Vec<u8>) {
    buf.clear();
    buf.extend_from_slice(host_name(raw));
    buf.make_ascii_lowercase();
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.host.is_none()
            && self.upstream.is_none()
            && self.status.is_none()
            && self.path_prefix.is_none()
            && self.expr.is_none()
    }

    /// Every condition as one `--where` expression (`host = "a" and
    /// status = 5xx`), for the report to say what it looked at; `None`
    /// without a filter.
    pub fn describe(&self) -> Option<String> {
        let text = |v: &str| expr::quoted(v.as_bytes());
        let mut parts = Vec::new();
        if let Some(h) = &self.host {
            parts.push(format!("host = {}", text(h)));
        }
        if let Some(u) = &self.upstream {
            parts.push(format!("upstream = {}", text(u)));
        }
        match self.status {
            Some(StatusFilter::Code(c)) => parts.push(format!("status = {c}")),
            Some(StatusFilter::Class(c)) => parts.push(format!("status = {c}xx")),
            None => {}
        }
        if let Some(p) = &self.path_prefix {
            parts.push(format!("path ^= {}", text(p)));
        }
        if let Some(e) = &self.expr {
            parts.push(match e {
                Expr::Or(..) if !parts.is_empty() => format!("({e})"),
                _ => e.to_string(),
            });
        }
        (!parts.is_empty()).then(|| parts.join(" and "))
    }

    /// Whether `record` is looked at.
    pub fn keeps(&self, record: &Record) -> bool {
        if let Some(want) = &self.status {
            let status = record.status().unwrap_or(0);
            let ok = match *want {
                StatusFilter::Code(c) => status == c,
                StatusFilter::Class(c) => status / 100 == c,
            };
            if !ok {
                return false;
            }
        }
        if let Some(want) = &self.host {
            let want = host_name(want.as_bytes());
            let ok = record
                .host()
                .is_some_and(|h| host_name(&h.decode()).eq_ignore_ascii_case(want));
            if !ok {
                return false;
            }
        }
        if let Some(want) = &self.path_prefix {
            let ok = record
                .request()
                .path
                .is_some_and(|p| p.raw.starts_with(want.as_bytes()));
            if !ok {
                return false;
            }
        }
        if let Some(want) = &self.upstream {
            let ok = record
                .upstreams()
                .any(|a| a.addr.is_some_and(|addr| addr == want.as_bytes()));
            if !ok {
                return false;
            }
        }
        self.expr.as_ref().is_none_or(|e| e.holds(record))
    }
}

#[cfg(test)]
mod tests {
    use super::host_name;

    #[test]
    fn a_host_is_compared_without_its_port() {
        for (raw, name) in [
            ("example.com", "example.com"),
            ("example.com:80", "example.com"),
            ("Example.com:8443", "Example.com"),
            ("1.2.3.4:80", "1.2.3.4"),
            ("[::1]:8080", "[::1]"),
            ("[::1]", "[::1]"),
            ("::1", "::1"),
            ("2001:db8::1", "2001:db8::1"),
            ("example.com:", "example.com:"),
            ("example.com:http", "example.com:http"),
            ("", ""),
        ] {
            assert_eq!(host_name(raw.as_bytes()), name.as_bytes(), "{raw}");
        }
    }
}
