//! Bytes from a log as text. Shown to a person safely: control bytes,
//! invalid UTF-8 and terminal escapes come out as `\xHH`, so a hostile line
//! cannot repaint the terminal. Kept as keys and columns: borrowed where
//! they are UTF-8, replaced where not.

use std::fmt::Write;

/// The first `most` paths, comma-separated, and how many more.
pub fn some_paths(paths: &[std::path::PathBuf], most: usize) -> String {
    let shown: Vec<String> = paths
        .iter()
        .take(most)
        .map(|p| p.display().to_string())
        .collect();
    match paths.len().saturating_sub(shown.len()) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// Printable ASCII and valid non-control UTF-8 as they are, backslashes
/// included (a line shows as it is in the file, `\x22` of nginx too);
/// everything else as `\xHH`. The exact bytes are what `--rejects` writes.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                c if c.is_control() => {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        let _ = write!(out, "\\x{b:02X}");
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02X}");
        }
    }
    out
}

/// [`escape_bytes`] cut to about `max` characters, marking the cut.
pub fn escape_truncated(bytes: &[u8], max: usize) -> String {
    let cut = bytes.len() > max;
    let mut out = escape_bytes(&bytes[..bytes.len().min(max)]);
    if cut {
        let _ = write!(out, "... ({} bytes)", bytes.len());
    }
    out
}

/// `1234567` -> `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Text of a key or a column: borrowed when it is UTF-8 (checked by the
/// standard library's fast validator), replaced only where it is not.
#[inline]
pub fn lossy(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// A line checked as UTF-8 once, so that its fields are sliced from it as
/// text instead of being checked one by one (a dozen short checks a line
/// cost more than one long one).
pub struct LineText<'a> {
    bytes: &'a [u8],
    text: Option<&'a str>,
}

impl<'a> LineText<'a> {
    pub fn of(bytes: &'a [u8]) -> LineText<'a> {
        LineText {
            bytes,
            text: std::str::from_utf8(bytes).ok(),
        }
    }

    /// [`lossy`] of `field`, without checking it again when it lies in the
    /// line (a decoded field does not: it is checked).
    pub fn field<'f>(&self, field: &'f [u8]) -> std::borrow::Cow<'f, str>
    where
        'a: 'f,
    {
        let start = (field.as_ptr() as usize).wrapping_sub(self.bytes.as_ptr() as usize);
        let inside = start
            .checked_add(field.len())
            .filter(|&end| end <= self.bytes.len())
            .and_then(|end| self.text?.get(start..end));
        match inside {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => lossy(field),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn hostile_bytes_are_escaped() {
        assert_eq!(
            escape_bytes(b"GET /a\x1b[2J\x00\xff"),
            "GET /a\\x1B[2J\\x00\\xFF"
        );
        assert_eq!(escape_bytes("caf\u{e9} \\".as_bytes()), "caf\u{e9} \\");
        assert_eq!(escape_bytes(br#"GET /\x22"#), r#"GET /\x22"#);
        assert_eq!(escape_truncated(b"abcdef", 3), "abc... (6 bytes)");
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn fields_of_a_line_are_its_text_and_others_are_checked() {
        let line = "GET /caf\u{e9} \"agent\"".as_bytes();
        let text = LineText::of(line);
        assert!(matches!(
            text.field(&line[4..10]),
            Cow::Borrowed("/caf\u{e9}")
        ));
        assert_eq!(text.field(&line[..0]), "");
        assert_eq!(text.field(&line[line.len()..]), "");
        // A decoded field lives elsewhere: checked, and replaced where bad.
        let decoded = b"/a\xffb".to_vec();
        assert_eq!(text.field(&decoded), "/a\u{fffd}b");
        // A line that is not UTF-8: each field on its own.
        let bad = b"GET /ok \xfe\"agent\"";
        let text = LineText::of(bad);
        assert!(matches!(text.field(&bad[4..7]), Cow::Borrowed("/ok")));
        assert_eq!(text.field(&bad[8..]), "\u{fffd}\"agent\"");
        // A slice cut inside a character is not taken from the line.
        let text = LineText::of(line);
        assert_eq!(text.field(&line[4..9]), "/caf\u{fffd}");
    }
}
