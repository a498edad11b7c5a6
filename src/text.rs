//! Showing bytes from a log to a person safely: control bytes, invalid
//! UTF-8 and terminal escapes come out as `\xHH`, so a hostile line cannot
//! repaint the terminal.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
