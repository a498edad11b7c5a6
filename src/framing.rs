//! Bytes to complete lines, with bounded memory.
//!
//! A line longer than the limit is not kept whole: its first bytes are kept
//! for display and the rest is skipped up to the next newline, so a file
//! with no newline at all cannot exhaust memory. A last line without a
//! newline is still a line.

use std::io::{self, BufRead};
use std::sync::Arc;

use crate::parse::MAX_LINE;

/// How much of an over-long line is kept to show in a rejection.
pub const KEEP_OF_LONG_LINE: usize = 4096;

/// A stream with no newline in this many bytes is not a line-oriented log
/// (binary data, or an endless device such as `/dev/zero` given as
/// standard input): reading it stops there, with an error, rather than
/// skipping one "line" for ever.
pub const NOT_A_LOG: u64 = 64 << 20;

fn not_a_log() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "no newline in {} MiB: not a line-oriented log (binary data, or an endless device such as /dev/zero?)",
            NOT_A_LOG >> 20
        ),
    )
}

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
            if !done && len > NOT_A_LOG {
                return Err(not_a_log());
            }
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

    /// An endless stream with no newline is not read for ever.
    #[test]
    fn no_newline_in_a_long_way_is_not_a_log() {
        use std::io::Read;
        let endless = io::BufReader::new(io::repeat(0).take(NOT_A_LOG + (1 << 20)));
        let mut reader = LineReader::new(endless);
        let e = reader.next_line().err().expect("an error");
        assert!(e.to_string().contains("not a line-oriented log"), "{e}");
    }

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

/// Complete lines of a stream, gathered for one parallel task.
pub struct Batch {
    /// Whole lines, newline-separated (an over-long line cut short).
    pub data: Vec<u8>,
    /// Number of the first line.
    pub first: u64,
    /// Over-long lines: (line number, full length).
    pub long: Vec<(u64, u64)>,
    /// W3C `#Fields:` lines before this batch, to replay.
    pub fields: Arc<Vec<Vec<u8>>>,
}

/// The next buffered bytes of a reader, `None` at the end; interrupted
/// reads are retried.
fn next_bytes<R: BufRead>(reader: &mut R) -> io::Result<Option<&[u8]>> {
    loop {
        match reader.fill_buf() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
            Ok(_) => break,
        }
    }
    // Filled: asking again returns the same buffer without reading.
    match reader.fill_buf() {
        Ok([]) => Ok(None),
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) => Err(e),
    }
}

/// The next buffered bytes, or none once the stream ended, noting in `end`
/// how it ended (cleanly, or with the error).
fn next_or_end<'r, R: BufRead>(
    reader: &'r mut R,
    end: &mut Option<Option<io::Error>>,
) -> Option<&'r [u8]> {
    match next_bytes(reader) {
        Ok(Some(bytes)) => Some(bytes),
        Ok(None) => {
            *end = Some(None);
            None
        }
        Err(e) => {
            *end = Some(Some(e));
            None
        }
    }
}

/// Where the reader stopped: the error, if any, bytes consumed, lines read.
pub type ReadEnd = (Option<io::Error>, u64, u64);

/// Frames a stream into batches of whole lines on the calling thread,
/// block by block (no per-line work but a newline count), and sends them
/// on. A line with no newline within a block longer than a batch is cut to
/// its first bytes and listed as over-long. After a read error the lines
/// before it are sent and the cut line is dropped.
pub fn read_batches<R: BufRead>(
    mut reader: R,
    batch_bytes: usize,
    w3c: bool,
    send: std::sync::mpsc::SyncSender<(usize, Batch)>,
) -> ReadEnd {
    let batch_bytes = batch_bytes.max(crate::parse::MAX_LINE + 2);
    let mut fields: Arc<Vec<Vec<u8>>> = Arc::new(Vec::new());
    let mut carry: Vec<u8> = Vec::new();
    let (mut offset, mut lines, mut index) = (0u64, 0u64, 0usize);
    loop {
        let mut data = std::mem::take(&mut carry);
        data.reserve(batch_bytes.saturating_sub(data.len()));
        let mut end: Option<Option<io::Error>> = None;
        while data.len() < batch_bytes {
            let Some(available) = next_or_end(&mut reader, &mut end) else {
                break;
            };
            let take = available.len().min(batch_bytes - data.len());
            data.extend_from_slice(&available[..take]);
            reader.consume(take);
            offset += take as u64;
        }
        let mut long = Vec::new();
        match (&end, memchr::memrchr(b'\n', &data)) {
            // At the end of the stream the last line needs no newline.
            (Some(None), _) => {}
            // A read error: the line it cut is dropped.
            (Some(Some(_)), cut) => data.truncate(cut.map_or(0, |c| c + 1)),
            (None, Some(cut)) => carry = data.split_off(cut + 1),
            (None, None) => {
                // A whole batch without a newline: an over-long line. Keep
                // its start and skip the rest of it.
                let mut len = data.len() as u64;
                data.truncate(KEEP_OF_LONG_LINE);
                while let Some(available) = next_or_end(&mut reader, &mut end) {
                    let (take, done) = match memchr::memchr(b'\n', available) {
                        Some(i) => (i + 1, true),
                        None => (available.len(), false),
                    };
                    len += (take - usize::from(done)) as u64;
                    reader.consume(take);
                    offset += take as u64;
                    if done {
                        break;
                    }
                    if len > NOT_A_LOG {
                        end = Some(Some(not_a_log()));
                        break;
                    }
                }
                if matches!(end, Some(Some(_))) {
                    data.clear();
                } else {
                    long.push((lines + 1, len));
                    data.push(b'\n');
                }
            }
        }
        let count = memchr::memchr_iter(b'\n', &data).count() as u64
            + u64::from(data.last().is_some_and(|&b| b != b'\n'));
        if !data.is_empty() {
            let batch = Batch {
                data,
                first: lines + 1,
                long,
                fields: fields.clone(),
            };
            if w3c {
                for start in line_starts_with(&batch.data, b"#Fields:") {
                    let line_end = memchr::memchr(b'\n', &batch.data[start..])
                        .map_or(batch.data.len(), |e| start + e);
                    Arc::make_mut(&mut fields).push(batch.data[start..line_end].to_vec());
                }
            }
            if send.send((index, batch)).is_err() {
                return (None, offset, lines);
            }
            index += 1;
        }
        lines += count;
        if let Some(error) = end {
            return (error, offset, lines);
        }
    }
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
