//! Bytes to complete lines, with bounded memory.
//!
//! A line longer than the limit is not kept whole: its first bytes are kept
//! for display and the rest is skipped up to the next newline, so a file
//! with no newline at all cannot exhaust memory. A last line without a
//! newline is still a line.

use std::io::{self, BufRead};

use crate::parse::MAX_LINE;

/// How much of an over-long line is kept to show in a rejection.
pub const KEEP_OF_LONG_LINE: usize = 4096;

pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    max: usize,
    line_no: u64,
    offset: u64,
    line_offset: u64,
    too_long: Option<u64>,
}

/// One line: its bytes without the newline, or, for an over-long line, the
/// first bytes and the full length.
pub struct Line<'a> {
    pub bytes: &'a [u8],
    /// 1-based.
    pub number: u64,
    /// Byte offset of the line's start in the (decompressed) stream.
    pub offset: u64,
    /// Set when the line was longer than the limit: its full length.
    pub too_long: Option<u64>,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(inner: R) -> LineReader<R> {
        LineReader::with_limit(inner, MAX_LINE)
    }

    pub fn with_limit(inner: R, max: usize) -> LineReader<R> {
        LineReader {
            inner,
            buf: Vec::with_capacity(64 * 1024),
            max,
            line_no: 0,
            offset: 0,
            line_offset: 0,
            too_long: None,
        }
    }

    /// Bytes consumed so far: where the next line starts.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn lines_read(&self) -> u64 {
        self.line_no
    }

    /// The next line, `None` at the end. An I/O error (a corrupt gzip
    /// member, say) leaves the lines before it delivered; the partial line
    /// in progress is dropped and [`LineReader::offset`] tells where.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        self.buf.clear();
        self.too_long = None;
        self.line_offset = self.offset;
        let mut len: u64 = 0;
        let mut ended_with_newline = false;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                if len == 0 {
                    return Ok(None);
                }
                break;
            }
            let (take, done) = match memchr::memchr(b'\n', available) {
                Some(i) => (i + 1, true),
                None => (available.len(), false),
            };
            let room = if self.too_long.is_some() {
                KEEP_OF_LONG_LINE
            } else {
                self.max + 2
            };
            let keep = take.min(room.saturating_sub(self.buf.len()));
            self.buf.extend_from_slice(&available[..keep]);
            len += take as u64;
            self.inner.consume(take);
            self.offset += take as u64;
            if self.buf.len() > self.max + 2 && self.too_long.is_none() {
                self.too_long = Some(0);
                self.buf.truncate(KEEP_OF_LONG_LINE);
            }
            if done {
                ended_with_newline = true;
                break;
            }
        }
        self.line_no += 1;
        // The limit is on the line's content, without its newline.
        let content = len - u64::from(ended_with_newline);
        if self.too_long.is_none() && content > self.max as u64 {
            self.too_long = Some(0);
            self.buf.truncate(KEEP_OF_LONG_LINE);
        }
        let too_long = self.too_long.map(|_| content);
        let bytes = if too_long.is_some() {
            &self.buf[..]
        } else {
            crate::parse::strip_eol(&self.buf)
        };
        Ok(Some(Line {
            bytes,
            number: self.line_no,
            offset: self.line_offset,
            too_long,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &[u8], max: usize) -> Vec<(Vec<u8>, Option<u64>)> {
        let mut reader = LineReader::with_limit(io::BufReader::with_capacity(7, input), max);
        let mut out = Vec::new();
        while let Some(line) = reader.next_line().unwrap() {
            out.push((line.bytes.to_vec(), line.too_long));
        }
        out
    }

    #[test]
    fn crlf_missing_newline_and_empty_lines() {
        let lines = collect(b"a\r\n\nbc\r\nlast", 100);
        let texts: Vec<_> = lines.iter().map(|(b, _)| b.as_slice()).collect();
        assert_eq!(texts, [&b"a"[..], b"", b"bc", b"last"]);
        assert!(collect(b"", 100).is_empty());
    }

    #[test]
    fn huge_lines_are_cut_and_counted_not_kept() {
        let mut input = vec![b'x'; 10_000];
        input.extend_from_slice(b"\nok\n");
        let lines = collect(&input, 100);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].1, Some(10_000));
        assert!(lines[0].0.len() <= KEEP_OF_LONG_LINE);
        assert_eq!(lines[1], (b"ok".to_vec(), None));
    }

    #[test]
    fn offsets_and_numbers() {
        let mut reader = LineReader::new(&b"ab\ncd\n"[..]);
        let first = reader.next_line().unwrap().unwrap();
        assert_eq!((first.number, first.offset), (1, 0));
        let second = reader.next_line().unwrap().unwrap();
        assert_eq!((second.number, second.offset), (2, 3));
        assert!(reader.next_line().unwrap().is_none());
        assert_eq!(reader.offset(), 6);
    }
}

/// Splits `data` into ranges of about `target` bytes that end just after a
/// newline (or at the end), so no line is cut between two chunks.
pub fn chunks(data: &[u8], target: usize) -> Vec<std::ops::Range<usize>> {
    let target = target.max(1);
    let mut out = Vec::with_capacity(data.len() / target + 1);
    let mut start = 0;
    while start < data.len() {
        let want = (start + target).min(data.len());
        let end = match memchr::memchr(b'\n', &data[want - 1..]) {
            Some(i) => want + i,
            None => data.len(),
        };
        out.push(start..end);
        start = end;
    }
    out
}

/// Offsets of the lines that start with `prefix`.
pub fn line_starts_with(data: &[u8], prefix: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    if data.starts_with(prefix) {
        out.push(0);
    }
    let mut needle = Vec::with_capacity(prefix.len() + 1);
    needle.push(b'\n');
    needle.extend_from_slice(prefix);
    out.extend(memchr::memmem::find_iter(data, &needle).map(|i| i + 1));
    out
}

#[cfg(test)]
mod chunk_tests {
    use super::*;

    #[test]
    fn chunks_end_on_newlines_and_cover_everything() {
        let data = b"aa\nbbbb\nc\n\ndddddd";
        for target in 1..=data.len() + 2 {
            let ranges = chunks(data, target);
            assert_eq!(ranges.first().map(|r| r.start), Some(0));
            assert_eq!(ranges.last().map(|r| r.end), Some(data.len()));
            for pair in ranges.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
                assert_eq!(data[pair[0].end - 1], b'\n', "target {target}");
            }
        }
        assert!(chunks(b"", 8).is_empty());
    }

    #[test]
    fn finds_directive_lines() {
        assert_eq!(
            line_starts_with(b"#Fields: a\nx\n#Fields: b\n#F", b"#Fields:"),
            [0, 13]
        );
    }
}
