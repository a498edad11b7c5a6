//! Reading one open file: the offset after the last complete line handed
//! on, a partial last line held until its newline arrives, and the parser
//! chosen from the file's head.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::detect;
use crate::detect::FormatChoice;
use crate::grammar::{Grammar, Syntax};
use crate::parse::{LineParser, MAX_LINE};

use super::identity::{open_nonblocking, read_full_at, Fingerprint, Identity, FINGERPRINT_BYTES};
use super::state::Entry;

/// Most bytes read from one file before the others get a turn.
pub(super) const READ_BYTES: usize = 1 << 20;
/// Where lines and news from the follower go.
pub trait LineSink {
    /// One complete line (with its newline) of file `file` (the index of
    /// its [`Watched`](super::follow::Watched)), read from `name` at byte `offset`.
    fn line(
        &mut self,
        file: usize,
        name: &Arc<str>,
        parser: &mut LineParser,
        line: &[u8],
        offset: u64,
    );
    /// A line over the length limit, dropped.
    fn too_long(&mut self, file: usize, name: &Arc<str>, offset: u64);
    /// Something the user should know (rotation seen, file unreadable).
    fn note(&mut self, message: String);
}

/// One open file being read.
pub struct Cursor {
    pub(super) name: Arc<str>,
    pub(super) file: File,
    pub id: Identity,
    pub fingerprint: Fingerprint,
    /// After the last complete line handed on.
    pub offset: u64,
    /// Bytes after `offset` read so far: the start of a line.
    pub(super) pending: Vec<u8>,
    /// The pending line passed the line limit: its bytes are dropped up to
    /// its newline.
    pub(super) overflow: bool,
    pub(super) parser: Option<LineParser>,
    /// Size at the last look, and when it last grew.
    pub(super) size: u64,
    pub(super) grew: Instant,
}

impl Cursor {
    pub(super) fn open(path: &Path) -> io::Result<(Cursor, fs::Metadata)> {
        Cursor::of_file(path, open_nonblocking(path)?)
    }

    /// A cursor on a file opened already; `path` is the name it had then.
    pub(super) fn of_file(path: &Path, file: File) -> io::Result<(Cursor, fs::Metadata)> {
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::other("not a regular file"));
        }
        let fingerprint = Fingerprint::of_file(&file)?;
        Ok((
            Cursor {
                name: path.display().to_string().into(),
                file,
                id: Identity::of(&meta),
                fingerprint,
                offset: 0,
                pending: Vec::new(),
                overflow: false,
                parser: None,
                size: meta.len(),
                grew: Instant::now(),
            },
            meta,
        ))
    }

    pub fn entry(&self, path: &Path) -> Entry {
        Entry {
            path: path.to_path_buf(),
            dev: self.id.dev,
            ino: self.id.ino,
            fingerprint: self.fingerprint,
            offset: self.offset,
            closed: false,
        }
    }

    /// Moves to just after the last newline before `end`, so that a line
    /// being written when following starts is read whole once complete.
    pub(super) fn seek_to_line_after(&mut self, end: u64) -> io::Result<()> {
        let mut pos = end;
        let mut buf = vec![0; 64 * 1024];
        while pos > 0 {
            let start = pos.saturating_sub(buf.len() as u64);
            let n = read_full_at(&self.file, &mut buf[..(pos - start) as usize], start)?;
            if let Some(i) = memchr::memrchr(b'\n', &buf[..n]) {
                self.offset = start + i as u64 + 1;
                return Ok(());
            }
            pos = start;
        }
        self.offset = 0;
        Ok(())
    }

    pub(super) fn read_pos(&self) -> u64 {
        self.offset + self.pending.len() as u64
    }

    /// Updates the fingerprint while the file is shorter than its span.
    pub(super) fn grow_fingerprint(&mut self) -> io::Result<()> {
        if (self.fingerprint.len as usize) < FINGERPRINT_BYTES
            && self.size > u64::from(self.fingerprint.len)
        {
            self.fingerprint = Fingerprint::of_file(&self.file)?;
        }
        Ok(())
    }

    /// Whether there are complete lines to parse; picks the grammar from
    /// the file's head first if none is known.
    pub(super) fn ready(
        &mut self,
        grammars: &mut Option<Vec<Arc<Grammar>>>,
        format: &FormatChoice,
        sink: &mut dyn LineSink,
    ) -> io::Result<bool> {
        if self.parser.is_some() {
            return Ok(true);
        }
        if grammars.is_none() {
            let named = matches!(format, FormatChoice::Fixed(_));
            let mut head = Vec::new();
            if !named {
                head = vec![0; detect::SAMPLE_BYTES.min(self.size as usize)];
                let n = read_full_at(&self.file, &mut head, 0)?;
                head.truncate(n);
                if memchr::memchr(b'\n', &head).is_none() {
                    // Not one complete line yet: wait for it.
                    return Ok(false);
                }
            }
            *grammars = Some(choose(&self.name, &head, format, sink));
        }
        match grammars.as_deref() {
            Some(g) => {
                let mut parser = LineParser::new(g);
                if self.offset > 0 && g.first().is_some_and(|g| g.syntax == Syntax::W3c) {
                    self.prime_w3c(&mut parser, sink);
                }
                self.parser = Some(parser);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// An IIS file read from the middle: its columns are those of the last
    /// `#Fields:` line before that point, found by reading backwards.
    fn prime_w3c(&self, parser: &mut LineParser, sink: &mut dyn LineSink) {
        const BLOCK: u64 = 1 << 16;
        const MOST: u64 = 1 << 30;
        let finder = memchr::memmem::FinderRev::new(b"\n#Fields:");
        let mut end = self.offset;
        let mut buf = vec![0u8; (BLOCK + 16) as usize];
        while end > 0 && self.offset - end < MOST {
            let start = end.saturating_sub(BLOCK);
            // Overlap so a directive cut by the block edge is still seen.
            let len = ((end - start) as usize + 16).min((self.offset - start) as usize);
            let Ok(n) = read_full_at(&self.file, &mut buf[..len], start) else {
                return;
            };
            let block = &buf[..n];
            let at = finder
                .rfind(block)
                .map(|i| i + 1)
                .or_else(|| (start == 0 && block.starts_with(b"#Fields:")).then_some(0));
            if let Some(i) = at {
                let mut line = vec![0u8; 64 * 1024];
                let from = start + i as u64;
                let Ok(n) = read_full_at(&self.file, &mut line, from) else {
                    return;
                };
                let line = &line[..n];
                let line = &line[..memchr::memchr(b'\n', line).unwrap_or(line.len())];
                let _ = parser.parse(line);
                return;
            }
            end = start;
        }
        sink.note(format!(
            "{}: no #Fields line before byte {}; its columns are guessed from their count",
            self.name, self.offset
        ));
    }

    /// Reads up to [`READ_BYTES`] and hands on the complete lines.
    /// Returns the bytes read (0 at the end of the file).
    pub(super) fn read(
        &mut self,
        file_index: usize,
        buf_limit: usize,
        sink: &mut dyn LineSink,
    ) -> io::Result<usize> {
        let Some(parser) = self.parser.as_mut() else {
            return Ok(0);
        };
        let start = self.pending.len();
        self.pending.resize(start + buf_limit, 0);
        let n = loop {
            match self
                .file
                .read_at(&mut self.pending[start..], self.offset + start as u64)
            {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.pending.truncate(start);
                    return Err(e);
                }
            }
        };
        self.pending.truncate(start + n);
        if n == 0 {
            return Ok(0);
        }
        let mut done = 0;
        let mut from = start;
        while let Some(i) = memchr::memchr(b'\n', &self.pending[from..]) {
            let end = from + i + 1;
            if self.overflow {
                self.overflow = false;
            } else {
                sink.line(
                    file_index,
                    &self.name,
                    parser,
                    &self.pending[done..end],
                    self.offset + done as u64,
                );
            }
            done = end;
            from = end;
        }
        if self.pending.len() - done > MAX_LINE {
            if !self.overflow {
                sink.too_long(file_index, &self.name, self.offset + done as u64);
                self.overflow = true;
            }
            done = self.pending.len();
        }
        self.pending.drain(..done);
        // A catch-up read leaves a megabyte of capacity; with many files
        // followed that adds up, so it goes back once the file is quiet.
        if self.pending.capacity() > 256 * 1024 && self.pending.len() < 64 * 1024 {
            self.pending.shrink_to(64 * 1024);
        }
        self.offset += done as u64;
        Ok(n)
    }

    /// Reads everything there is now, and notes whether the file grew.
    pub(super) fn read_all(
        &mut self,
        file_index: usize,
        grammars: &mut Option<Vec<Arc<Grammar>>>,
        format: &FormatChoice,
        sink: &mut dyn LineSink,
    ) -> io::Result<usize> {
        if !self.ready(grammars, format, sink)? {
            return Ok(0);
        }
        // A bounded turn, so one busy file cannot starve the others or
        // hold off the alert check for long.
        let mut total = 0;
        while total < 16 * READ_BYTES {
            // Asking the size first reads no more than is there: the buffer
            // is not zeroed a megabyte at a time for a few new lines.
            let size = self.file.metadata()?.len();
            let want = size.saturating_sub(self.read_pos()).min(READ_BYTES as u64) as usize;
            if want == 0 {
                break;
            }
            let n = self.read(file_index, want, sink)?;
            if n == 0 {
                break;
            }
            total += n;
        }
        if total > 0 {
            self.grew = Instant::now();
            self.size = self.size.max(self.read_pos());
            self.grow_fingerprint()?;
        }
        Ok(total)
    }
}

/// Picks the grammars of `name` from its first bytes, saying which and
/// why; none when nothing fits (its lines are then rejected).
pub fn choose(
    name: &str,
    head: &[u8],
    format: &FormatChoice,
    sink: &mut dyn LineSink,
) -> Vec<Arc<Grammar>> {
    if let FormatChoice::Fixed(g) = format {
        // Named by the user: nothing to say.
        return vec![g.clone()];
    }
    let chosen = format.choose(name, head);
    if chosen.grammars.is_empty() {
        // The reason says what becomes of the lines.
        sink.note(format!("{name}: {}", chosen.reason));
    } else {
        sink.note(format!(
            "{name}: format {} ({})",
            crate::scan::grammar_names(&chosen.grammars).join(" + "),
            chosen.reason
        ));
    }
    chosen.grammars
}
