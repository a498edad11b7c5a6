//! Path normalization: `/users/123/orders/9f8e...` groups as
//! `/users/:id/orders/:id`, so that a route's errors add up.
//!
//! Built-in rules work per path segment: a segment of digits, a UUID, a
//! long hex string, or a long opaque token (letters and digits mixed, 20
//! characters or more, as base64 and random ids are) becomes `:id`, but a
//! slug of words stays (`/linux/installing-gitlab-on-centos-6`: a page,
//! not an id, and the route users ask about); a hex
//! hash of 8 or more characters between dots inside a segment
//! (`app.3b0477c5.js`) becomes `:hash`, and one of 3 or more digits
//! (`12345.jpg`) becomes `:id`. The query is not part of the path.
//! User rules (`--path-rule REGEX=REPLACEMENT`) run first, in order.

use regex::bytes::Regex;

#[derive(Debug, Clone)]
pub struct PathRule {
    pub pattern: Regex,
    pub replacement: String,
}

impl PathRule {
    /// Parses `REGEX=REPLACEMENT`; the last `=` not inside the regex
    /// separates them, so `=` may appear in the pattern.
    pub fn parse(text: &str) -> Result<PathRule, String> {
        let Some((pattern, replacement)) = text.rsplit_once('=') else {
            return Err(format!(
                "path rule `{text}` needs the form REGEX=REPLACEMENT"
            ));
        };
        let pattern =
            Regex::new(pattern).map_err(|e| format!("path rule `{text}`: bad regex: {e}"))?;
        Ok(PathRule {
            pattern,
            replacement: replacement.to_string(),
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct PathNormalizer {
    rules: Vec<PathRule>,
}

fn is_hex(b: &[u8]) -> bool {
    b.iter().all(u8::is_ascii_hexdigit)
}

fn is_uuid(s: &[u8]) -> bool {
    s.len() == 36
        && s.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn is_id(seg: &[u8]) -> bool {
    if seg.is_empty() {
        return false;
    }
    if seg.iter().all(u8::is_ascii_digit) || is_uuid(seg) {
        return true;
    }
    let has_digit = seg.iter().any(u8::is_ascii_digit);
    if seg.len() >= 16 && is_hex(seg) && has_digit {
        return true;
    }
    seg.len() >= 20
        && has_digit
        && seg.iter().any(u8::is_ascii_alphabetic)
        && seg
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'=' | b'+' | b'.'))
        && !is_slug(seg)
}

/// Words joined by `-`, `_` or `.` (`installing-gitlab-on-centos-6`,
/// `fedora-linux-via-pxe-x86-64`): most of its letters stand in parts that
/// are all letters, as words do, where a random token mixes letters and
/// digits in every part.
fn is_slug(seg: &[u8]) -> bool {
    let parts = seg
        .split(|&b| matches!(b, b'-' | b'_' | b'.'))
        .filter(|p| !p.is_empty());
    let (mut letters, mut in_words, mut count) = (0, 0, 0);
    for part in parts {
        count += 1;
        let alpha = part.iter().filter(|c| c.is_ascii_alphabetic()).count();
        letters += alpha;
        if alpha == part.len() && part.len() >= 2 {
            in_words += alpha;
        }
    }
    count >= 2 && in_words * 4 >= letters * 3
}

impl PathNormalizer {
    /// With the user's rules as written (`REGEX=REPLACEMENT`), before the
    /// built-in ones.
    pub fn from_texts(rules: &[String]) -> Result<PathNormalizer, String> {
        let rules = rules
            .iter()
            .map(|r| PathRule::parse(r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PathNormalizer::new(rules))
    }

    pub fn new(rules: Vec<PathRule>) -> PathNormalizer {
        PathNormalizer { rules }
    }

    /// The normalized form of a path (bytes as logged, query excluded).
    pub fn normalize(&self, path: &[u8], out: &mut Vec<u8>) {
        if self.rules.is_empty() {
            return self.segments(path, out);
        }
        let mut current = path.to_vec();
        for rule in &self.rules {
            current = rule
                .pattern
                .replace_all(&current, rule.replacement.as_bytes())
                .into_owned();
        }
        self.segments(&current, out);
    }

    /// Copies `path` with its ids and hashes replaced. Most segments are
    /// words: without a digit, only a UUID's length can make one an id or
    /// hold a hash. One pass finds the others, and the text between them
    /// is copied in runs, not segment by segment.
    fn segments(&self, path: &[u8], out: &mut Vec<u8>) {
        out.clear();
        // Copied up to here; the current segment starts at `start`.
        let (mut copied, mut start, mut digit) = (0, 0, false);
        for (i, &b) in path.iter().enumerate() {
            if b == b'/' {
                if digit || i - start == 36 {
                    out.extend_from_slice(&path[copied..start]);
                    segment(&path[start..i], out);
                    copied = i;
                }
                (start, digit) = (i + 1, false);
            } else {
                digit |= b.is_ascii_digit();
            }
        }
        if digit || path.len() - start == 36 {
            out.extend_from_slice(&path[copied..start]);
            segment(&path[start..], out);
        } else {
            out.extend_from_slice(&path[copied..]);
        }
    }
}

/// One segment that holds a digit or is as long as a UUID.
fn segment(seg: &[u8], out: &mut Vec<u8>) {
    if is_id(seg) {
        out.extend_from_slice(b":id");
        return;
    }
    // Hashes inside a file name: `app.3b0477c5.js`.
    for (j, part) in seg.split(|&b| b == b'.').enumerate() {
        if j > 0 {
            out.push(b'.');
        }
        if part.len() >= 3 && part.iter().all(u8::is_ascii_digit) {
            // `12345.jpg`, but not the `1.2` of a version.
            out.extend_from_slice(b":id");
        } else if part.len() >= 8 && is_hex(part) && part.iter().any(u8::is_ascii_digit) {
            out.extend_from_slice(b":hash");
        } else {
            out.extend_from_slice(part);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(n: &PathNormalizer, p: &str) -> String {
        let mut out = Vec::new();
        n.normalize(p.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn ids_uuids_hex_and_tokens_collapse() {
        let n = PathNormalizer::default();
        for (path, want) in [
            (
                "/users/123/orders/9f8e7d6c5b4a39281706f5e4d3c2b1a0",
                "/users/:id/orders/:id",
            ),
            (
                "/api/v1/items/550e8400-e29b-41d4-a716-446655440000",
                "/api/v1/items/:id",
            ),
            ("/static/app.3b0477c5.js", "/static/app.:hash.js"),
            ("/t/aGVsbG8gd29ybGQgZm9vYmFyMTIz", "/t/:id"),
            ("/", "/"),
            ("/health", "/health"),
            ("/v2/some", "/v2/some"),
            ("/a//b/", "/a//b/"),
            ("/reports/2026", "/reports/:id"),
            ("/deadbeef", "/deadbeef"),
            // A UUID of letters only.
            ("/k/abcdefab-abcd-abcd-abcd-abcdefabcdef", "/k/:id"),
            ("/a.b.c/x.y", "/a.b.c/x.y"),
            ("/images/products/12345.jpg", "/images/products/:id.jpg"),
            ("/static/jquery-1.2.js", "/static/jquery-1.2.js"),
            // Slugs of words stay, digits and all; random tokens do not.
            (
                "/linux/installing-fedora-linux-via-pxe-x86-64",
                "/linux/installing-fedora-linux-via-pxe-x86-64",
            ),
            (
                "/linux/installing-gitlab-on-centos-6",
                "/linux/installing-gitlab-on-centos-6",
            ),
            (
                "/blog/2024-10-10-release-notes-v2",
                "/blog/2024-10-10-release-notes-v2",
            ),
            ("/s/Xk9-pQ2z_Lm4Rt8vWb3nYc7", "/s/:id"),
            ("/dl/a1b2c3d4e5-f6a7b8c9d0-e1f2a3b4c5", "/dl/:id"),
        ] {
            assert_eq!(norm(&n, path), want, "{path}");
        }
    }

    /// The one-pass copy agrees with normalizing segment by segment.
    #[test]
    fn runs_of_words_are_copied_as_each_segment_would_be() {
        fn by_segment(path: &[u8]) -> Vec<u8> {
            let mut out = Vec::new();
            for (i, seg) in path.split(|&b| b == b'/').enumerate() {
                if i > 0 {
                    out.push(b'/');
                }
                segment(seg, &mut out);
            }
            out
        }
        let pieces: [&[u8]; 14] = [
            b"",
            b"api",
            b"v1",
            b"72241",
            b"orders",
            b"550e8400-e29b-41d4-a716-446655440000",
            b"abcdefghij-abcdefghij-abcdefghij-abc",
            b"app.3b0477c5.js",
            b"12345.jpg",
            b"caf\xc3\xa9",
            b"\xff\xfe",
            b"aGVsbG8gd29ybGQgZm9vYmFyMTIz",
            b"installing-gitlab-on-centos-6",
            b"x.y",
        ];
        let n = PathNormalizer::default();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut out = Vec::new();
        for _ in 0..20_000 {
            let mut path = Vec::new();
            for _ in 0..(state % 6) {
                crate::testing::xorshift(&mut state);
                if !state.is_multiple_of(5) {
                    path.push(b'/');
                }
                path.extend_from_slice(pieces[(state >> 8) as usize % pieces.len()]);
            }
            state = state.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(1);
            n.normalize(&path, &mut out);
            assert_eq!(out, by_segment(&path), "{}", String::from_utf8_lossy(&path));
        }
    }

    #[test]
    fn user_rules_run_first() {
        let rule = PathRule::parse("^/shop/[a-z-]+/=/shop/:slug/").unwrap();
        let n = PathNormalizer::new(vec![rule]);
        assert_eq!(norm(&n, "/shop/red-shoes/42"), "/shop/:slug/:id");
        assert!(PathRule::parse("no-equals").is_err());
        assert!(PathRule::parse("([=x").is_err());
    }
}
