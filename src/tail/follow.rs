//! Following files through appends, rotations and restarts.
//!
//! Each path given (or matched by a glob) is a [`Watched`] entry. Its
//! current file is read through a [`Cursor`]: an open descriptor, the
//! offset after the last complete line handed on, and the bytes of a
//! partial last line, held until its newline arrives. A file is known by
//! its identity: device, inode and a fingerprint of its first bytes (an
//! inode number alone is reused once a file is deleted).
//!
//! - Rename rotation: the path now names another file. The old cursor
//!   keeps its descriptor and is read to its end (a server writes to it
//!   until it reopens its log) before it is closed; the new file is read
//!   from its start.
//! - copytruncate: the file shrank, or its first bytes changed. Lines
//!   written before the truncation that were not read yet are in the copy,
//!   found in the same directory by the fingerprint; the rest of the copy
//!   is read, then the file from its start.
//! - Deleted or missing: the open file is read to its end; the path is
//!   watched until a file appears, which is read from its start.
//! - Restart with state: a file whose identity is in the state resumes at
//!   its offset; a file rotated meanwhile is found by identity (or by
//!   fingerprint, once compressed) and finished first.

use std::fs::{self, File};
use std::io::{self, BufRead};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::detect;
use crate::detect::FormatChoice;
use crate::grammar::{Grammar, Syntax};
use crate::input;
use crate::parse::{LineParser, MAX_LINE};

use super::identity::{
    is_compressed, open_nonblocking, read_full_at, stream_head, stream_head_matches,
};
pub use super::identity::{Fingerprint, Identity, FINGERPRINT_BYTES};
use super::state::Entry;

/// Most bytes read from one file before the others get a turn.
const READ_BYTES: usize = 1 << 20;
/// Positions of closed files remembered, so a glob that later matches a
/// rotated file resumes it instead of reading it again.
const KNOWN_CLOSED: usize = 256;

/// Where lines and news from the follower go.
pub trait LineSink {
    /// One complete line (with its newline) of file `file` (the index of
    /// its [`Watched`]), read from `name` at byte `offset`.
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
    name: Arc<str>,
    file: File,
    pub id: Identity,
    pub fingerprint: Fingerprint,
    /// After the last complete line handed on.
    pub offset: u64,
    /// Bytes after `offset` read so far: the start of a line.
    pending: Vec<u8>,
    /// The pending line passed the line limit: its bytes are dropped up to
    /// its newline.
    overflow: bool,
    parser: Option<LineParser>,
    /// Size at the last look, and when it last grew.
    size: u64,
    grew: Instant,
}

impl Cursor {
    fn open(path: &Path) -> io::Result<(Cursor, fs::Metadata)> {
        Cursor::of_file(path, open_nonblocking(path)?)
    }

    /// A cursor on a file opened already; `path` is the name it had then.
    fn of_file(path: &Path, file: File) -> io::Result<(Cursor, fs::Metadata)> {
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
    fn seek_to_line_after(&mut self, end: u64) -> io::Result<()> {
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

    fn read_pos(&self) -> u64 {
        self.offset + self.pending.len() as u64
    }

    /// Updates the fingerprint while the file is shorter than its span.
    fn grow_fingerprint(&mut self) -> io::Result<()> {
        if (self.fingerprint.len as usize) < FINGERPRINT_BYTES
            && self.size > u64::from(self.fingerprint.len)
        {
            self.fingerprint = Fingerprint::of_file(&self.file)?;
        }
        Ok(())
    }

    /// Whether there are complete lines to parse; picks the grammar from
    /// the file's head first if none is known.
    fn ready(
        &mut self,
        grammars: &mut Option<Vec<Arc<Grammar>>>,
        format: &FormatChoice,
        sink: &mut dyn LineSink,
    ) -> io::Result<bool> {
        if self.parser.is_some() {
            return Ok(true);
        }
        if grammars.is_none() {
            *grammars = match format {
                FormatChoice::Fixed(g) => Some(vec![g.clone()]),
                _ => {
                    let mut head = vec![0; detect::SAMPLE_BYTES.min(self.size as usize)];
                    let n = read_full_at(&self.file, &mut head, 0)?;
                    head.truncate(n);
                    if memchr::memchr(b'\n', &head).is_none() {
                        // Not one complete line yet: wait for it.
                        return Ok(false);
                    }
                    Some(choose(&self.name, &head, format, sink))
                }
            };
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
    fn read(
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
    fn read_all(
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

/// A path followed: its current file and rotated files still being read.
pub struct Watched {
    pub path: PathBuf,
    pub index: usize,
    current: Option<Cursor>,
    draining: Vec<Cursor>,
    grammars: Option<Vec<Arc<Grammar>>>,
    format: FormatChoice,
    /// The first look starts at the end of an existing file (unless
    /// `--from-start` or a saved position says otherwise).
    first_look: bool,
    /// The last error reported, so one fault is reported once.
    error: Option<String>,
    /// Said when it was added, shown at the first look.
    notes: Vec<String>,
    /// Compressed rotated files to finish, found at startup or on a
    /// copytruncate: read once, from the offset given. Held open from the
    /// moment they are found, so that a rotation before they are read
    /// (which renames them) cannot put another file under their name.
    streams: Vec<(Stream, u64)>,
}

impl Watched {
    pub fn new(path: PathBuf, index: usize, first_look: bool, format: FormatChoice) -> Watched {
        Watched {
            path,
            index,
            format,
            current: None,
            draining: Vec::new(),
            grammars: None,
            first_look,
            error: None,
            notes: Vec::new(),
            streams: Vec::new(),
        }
    }

    pub fn cursors(&self) -> impl Iterator<Item = &Cursor> {
        self.draining.iter().chain(self.current.iter())
    }

    fn report(&mut self, sink: &mut dyn LineSink, what: &str, e: &io::Error) {
        let text = format!("{}: {what}: {e}", self.path.display());
        if self.error.as_deref() != Some(text.as_str()) {
            sink.note(format!("{text} (retrying)"));
            self.error = Some(text);
        }
    }

    fn recovered(&mut self, sink: &mut dyn LineSink) {
        if self.error.take().is_some() {
            sink.note(format!("{}: readable again", self.path.display()));
        }
    }
}

pub struct Options {
    pub from_start: bool,
    pub format: FormatChoice,
    /// Formats for the paths matching a pattern (`--format-for`).
    pub format_for: Vec<(glob::Pattern, Arc<Grammar>)>,
    /// How long a rotated-away or deleted file is kept open after its last
    /// growth, for a server that has not reopened its log yet.
    pub grace: Duration,
}

/// All followed files.
pub struct Follower {
    pub watched: Vec<Watched>,
    options: Options,
    /// Positions of files by identity: from the state file at startup, and
    /// of files closed since.
    known: Vec<Entry>,
    /// Paths the state file knew: a file found there that the state does
    /// not know was created meanwhile, so it is read from its start.
    restored: Vec<PathBuf>,
}

impl Follower {
    pub fn new(options: Options, state: Vec<Entry>) -> Follower {
        let restored = state.iter().map(|e| e.path.clone()).collect();
        Follower {
            watched: Vec::new(),
            options,
            known: state,
            restored,
        }
    }

    /// Adds a path to follow (from the command line, or a new glob match).
    pub fn add(&mut self, path: PathBuf, first_look: bool) -> usize {
        if let Some(w) = self.watched.iter().find(|w| w.path == path) {
            return w.index;
        }
        let index = self.watched.len();
        let format = match self
            .options
            .format_for
            .iter()
            .find(|(p, _)| p.matches_path(&path))
        {
            Some((_, g)) => FormatChoice::Fixed(g.clone()),
            None => self.options.format.clone(),
        };
        let mut w = Watched::new(path, index, first_look, format);
        // Files of this path that the state knows but that no longer sit at
        // it were rotated while we were not running: finish them first.
        // An inode number is reused once its file is deleted (a rotated
        // file compressed, say): the fingerprint tells files apart.
        let here = open_nonblocking(&w.path)
            .ok()
            .filter(|f| f.metadata().is_ok_and(|m| m.is_file()))
            .and_then(|f| Some((Identity::of(&f.metadata().ok()?), f)));
        let still_here = |e: &Entry| {
            here.as_ref()
                .is_some_and(|(id, f)| *id == e.identity() && e.fingerprint_matches(f))
        };
        let lost: Vec<Entry> = self
            .known
            .iter()
            .filter(|e| e.path == w.path && !still_here(e))
            .cloned()
            .collect();
        // Every file the state knew, whichever entry is being dealt with:
        // none of them is a newer file to read whole.
        let all_known = self.known.clone();
        let mut read_already: Vec<Entry> = Vec::new();
        for entry in lost {
            let found = find_rotated(&w.path, &entry, None);
            // The file followed when we stopped, found rotated: the files
            // rotated after it (a second rotation while stopped) hold lines
            // written after it, and are read whole, oldest first.
            let newer = match (&found, entry.closed) {
                (Some(f), false) => {
                    let at = match f {
                        Found::Plain(c) => c.file.metadata().ok(),
                        Found::Compressed(s) => s.file.metadata().ok(),
                    };
                    at.map(|m| {
                        let here = here.as_ref().map(|(id, _)| *id);
                        newer_siblings(&w.path, &m, here, &all_known)
                    })
                    .unwrap_or_default()
                }
                _ => Vec::new(),
            };
            match found {
                Some(Found::Plain(mut c)) => {
                    if !entry.closed {
                        w.notes.push(format!(
                            "{}: finishing {} (rotated while stopped) from byte {}",
                            w.path.display(),
                            c.name,
                            entry.offset
                        ));
                    }
                    c.offset = entry.offset;
                    w.draining.push(*c);
                }
                Some(Found::Compressed(stream)) => {
                    // A compressed file does not grow: one read to its end
                    // is enough. It stays known (closed), so that a later
                    // restart neither reads it again nor takes it for a
                    // newer file.
                    if !entry.closed {
                        w.streams.push((stream, entry.offset));
                    }
                    read_already.push(Entry {
                        closed: true,
                        ..entry.clone()
                    });
                }
                None if !entry.closed => w.notes.push(format!(
                    "{}: the file followed there before (inode {}) is gone, and no rotated \
                     file beside it starts with its lines; lines written to it after byte {} \
                     were not read",
                    w.path.display(),
                    entry.ino,
                    entry.offset
                )),
                None => {}
            }
            for (p, c) in newer {
                // Two entries (a file being finished and the current one)
                // can find the same newer file: it is read once.
                let scheduled = w.streams.iter().any(|(s, _)| s.id == c.id)
                    || w.draining.iter().any(|d| d.id == c.id);
                if scheduled {
                    continue;
                }
                w.notes.push(format!(
                    "{}: reading {} whole (rotated while stopped, after the file followed)",
                    w.path.display(),
                    p.display()
                ));
                if is_compressed(&c.file) {
                    let stream = Stream {
                        path: p,
                        id: c.id,
                        file: c.file,
                    };
                    if let Some(e) = stream_entry(&w.path, &stream) {
                        read_already.push(e);
                    }
                    w.streams.push((stream, 0));
                } else {
                    w.draining.push(c);
                }
            }
            // Dealt with: a file found again is read through its cursor or
            // stream (a cursor is remembered anew when it closes), a lost
            // one was reported. Keeping the old position would make the
            // next restart read the same rest again.
            self.known.retain(|k| *k != entry);
        }
        for e in read_already {
            self.remember(e);
        }
        self.watched.push(w);
        if let Some((_, file)) = here {
            // The file that was at the path when the rotated ones were
            // sorted out is the one to follow, through the descriptor
            // taken then: a rotation meanwhile, or before the first read,
            // renames it, and it is then finished as the old file instead
            // of being passed over for the new one.
            let mut notes = Notes::default();
            let path = self.watched[index].path.clone();
            self.open_current_from(index, Cursor::of_file(&path, file), &mut notes);
            self.watched[index].notes.extend(notes.0);
        }
        index
    }

    /// Whether a file with this identity is open already (a glob that
    /// matches a rotated file must not read it twice).
    fn is_open(&self, id: Identity) -> bool {
        self.watched.iter().any(|w| w.cursors().any(|c| c.id == id))
    }

    /// Entries for the state file: every open file, and recently closed ones.
    pub fn entries(&self) -> Vec<Entry> {
        let mut out: Vec<Entry> = self
            .watched
            .iter()
            .flat_map(|w| w.cursors().map(|c| c.entry(&w.path)))
            .collect();
        for e in &self.known {
            if !out.iter().any(|o| o.identity() == e.identity()) {
                out.push(e.clone());
            }
        }
        out
    }

    fn remember(&mut self, entry: Entry) {
        self.known.retain(|e| e.identity() != entry.identity());
        self.known.push(entry);
        if self.known.len() > KNOWN_CLOSED {
            self.known.remove(0);
        }
    }

    /// Looks at every followed file once and reads what is new. Returns the
    /// bytes read.
    pub fn poll(&mut self, sink: &mut dyn LineSink) -> usize {
        let mut total = 0;
        for i in 0..self.watched.len() {
            total += self.poll_one(i, sink);
        }
        total
    }

    fn poll_one(&mut self, i: usize, sink: &mut dyn LineSink) -> usize {
        let mut total = 0;
        let format = self.watched[i].format.clone();
        for note in std::mem::take(&mut self.watched[i].notes) {
            sink.note(note);
        }
        // Compressed leftovers first: they are older than anything open.
        let streams = std::mem::take(&mut self.watched[i].streams);
        for (stream, offset) in streams {
            let w = &mut self.watched[i];
            let path = stream.path.clone();
            match read_stream(stream, offset, w.index, &mut w.grammars, &format, sink) {
                Ok(0) => {}
                Ok(n) => {
                    total += n as usize;
                    sink.note(format!(
                        "{}: read {n} bytes of rotated lines from {}",
                        w.path.display(),
                        path.display()
                    ));
                }
                // The lines before the damage were handed on; the error
                // says where reading stopped.
                Err(e) => sink.note(format!("{}: {e}; the rest of it is lost", path.display())),
            }
        }

        // Rotated files to their ends, then closed once quiet.
        let mut closed = Vec::new();
        {
            let w = &mut self.watched[i];
            let mut keep = Vec::new();
            for mut c in std::mem::take(&mut w.draining) {
                match c.read_all(w.index, &mut w.grammars, &format, sink) {
                    Ok(n) => {
                        total += n;
                        if n == 0 && c.grew.elapsed() >= self.options.grace {
                            closed.push(c.entry(&w.path));
                            continue;
                        }
                    }
                    Err(e) => {
                        sink.note(format!("{}: {e}; closing it", c.name));
                        closed.push(c.entry(&w.path));
                        continue;
                    }
                }
                keep.push(c);
            }
            w.draining = keep;
        }
        for mut e in closed {
            e.closed = true;
            self.remember(e);
        }

        let path = self.watched[i].path.clone();
        match fs::metadata(&path) {
            Ok(meta) if meta.is_file() => {
                let id = Identity::of(&meta);
                let same = self.watched[i].current.as_ref().is_some_and(|c| c.id == id);
                if same {
                    self.check_truncated(i, &meta, sink);
                } else if !self.is_open(id) || self.watched[i].current.is_some() {
                    if let Some(old) = self.watched[i].current.take() {
                        sink.note(format!(
                            "{}: rotated; finishing the old file, then reading the new one",
                            path.display()
                        ));
                        self.watched[i].draining.push(old);
                        // The old file is read to its end before the new one.
                        let w = &mut self.watched[i];
                        for c in &mut w.draining {
                            if let Ok(n) = c.read_all(w.index, &mut w.grammars, &format, sink) {
                                total += n;
                            }
                        }
                    }
                    if !self.is_open(id) {
                        self.open_current(i, sink);
                    }
                }
            }
            Ok(_) => {
                let e = io::Error::other("not a regular file");
                self.watched[i].report(sink, "cannot follow", &e);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let w = &mut self.watched[i];
                w.first_look = false;
                if let Some(old) = w.current.take() {
                    sink.note(format!(
                        "{}: gone; finishing the open file and waiting for a new one",
                        path.display()
                    ));
                    w.draining.push(old);
                }
            }
            Err(e) => self.watched[i].report(sink, "cannot look at it", &e),
        }

        let w = &mut self.watched[i];
        // Only what a file held at the very first look is skipped; a file
        // that appears (or becomes readable) later is read from its start.
        w.first_look = false;
        if let Some(c) = w.current.as_mut() {
            match c.read_all(w.index, &mut w.grammars, &format, sink) {
                Ok(n) => {
                    total += n;
                    w.recovered(sink);
                }
                Err(e) => w.report(sink, "cannot read", &e),
            }
        }
        total
    }

    fn open_current(&mut self, i: usize, sink: &mut dyn LineSink) {
        let path = self.watched[i].path.clone();
        self.open_current_from(i, Cursor::open(&path), sink);
    }

    fn open_current_from(
        &mut self,
        i: usize,
        opened: io::Result<(Cursor, fs::Metadata)>,
        sink: &mut dyn LineSink,
    ) {
        let path = self.watched[i].path.clone();
        let (mut c, meta) = match opened {
            Ok(x) => x,
            Err(e) => {
                self.watched[i].report(sink, "cannot open", &e);
                return;
            }
        };
        self.watched[i].recovered(sink);
        // A compressed file at a followed path is not a live log.
        if is_compressed(&c.file) {
            let e = io::Error::other("compressed; only plain files are followed");
            self.watched[i].report(sink, "skipped", &e);
            return;
        }
        let known = self
            .known
            .iter()
            .position(|e| e.identity() == c.id && e.fingerprint_matches(&c.file));
        let w = &mut self.watched[i];
        if let Some(k) = known {
            let entry = self.known.remove(k);
            c.offset = entry.offset.min(meta.len());
        } else if w.first_look && !self.options.from_start && !self.restored.contains(&path) {
            if let Err(e) = c.seek_to_line_after(meta.len()) {
                w.report(sink, "cannot read", &e);
                return;
            }
        } else {
            c.offset = 0;
        }
        let w = &mut self.watched[i];
        w.first_look = false;
        w.current = Some(c);
    }

    /// A shrunk file, or one whose head changed, was truncated (and maybe
    /// written again since): finish the copy, then read from the start.
    fn check_truncated(&mut self, i: usize, meta: &fs::Metadata, sink: &mut dyn LineSink) {
        let format = self.watched[i].format.clone();
        let w = &mut self.watched[i];
        let Some(c) = w.current.as_mut() else { return };
        let size = meta.len();
        let changed = size != c.size;
        c.size = size;
        if !changed {
            return;
        }
        let shrank = size < c.read_pos();
        let rewritten = !shrank
            && c.fingerprint.len > 0
            && !c.fingerprint.matches_file(&c.file).unwrap_or(true);
        if !shrank && !rewritten {
            return;
        }
        sink.note(format!(
            "{}: truncated (copytruncate?); reading it again from the start",
            w.path.display()
        ));
        let entry = c.entry(&w.path);
        match find_rotated(&w.path, &entry, Some(c.id)) {
            Some(Found::Plain(mut copy)) => {
                copy.offset = entry.offset;
                copy.parser = c.parser.take();
                if copy.parser.is_none() {
                    copy.parser = w.grammars.as_deref().map(LineParser::new);
                }
                let mut taken = 0;
                while let Ok(n) = copy.read(w.index, READ_BYTES, sink) {
                    if n == 0 {
                        break;
                    }
                    taken += n;
                }
                if taken > 0 {
                    sink.note(format!(
                        "{}: read {taken} bytes it had not read yet from its copy {}",
                        w.path.display(),
                        copy.name
                    ));
                }
            }
            Some(Found::Compressed(stream)) => {
                let p = stream.path.clone();
                match read_stream(
                    stream,
                    entry.offset,
                    w.index,
                    &mut w.grammars,
                    &format,
                    sink,
                ) {
                    Ok(0) => {}
                    Ok(n) => sink.note(format!(
                        "{}: read {n} bytes it had not read yet from its copy {}",
                        w.path.display(),
                        p.display()
                    )),
                    Err(e) => sink.note(format!("{}: {e}", p.display())),
                }
            }
            None => {}
        }
        let Some(c) = w.current.as_mut() else { return };
        c.offset = 0;
        c.pending.clear();
        c.overflow = false;
        c.parser = None;
        c.fingerprint = Fingerprint::of_file(&c.file).unwrap_or_else(|_| Fingerprint::of(&[]));
    }
}

/// What opening a file has to say before there is a sink to say it to.
#[derive(Default)]
struct Notes(Vec<String>);

impl LineSink for Notes {
    fn line(&mut self, _: usize, _: &Arc<str>, _: &mut LineParser, _: &[u8], _: u64) {}
    fn too_long(&mut self, _: usize, _: &Arc<str>, _: u64) {}
    fn note(&mut self, message: String) {
        self.0.push(message);
    }
}

enum Found {
    Plain(Box<Cursor>),
    Compressed(Stream),
}

/// A compressed rotated file, open.
struct Stream {
    /// The name it had when found, to show.
    path: PathBuf,
    id: Identity,
    file: File,
}

/// Looks in `path`'s directory for the file `entry` describes, under
/// another name (`access.log.1`, `access.log-20261129.gz`): the same
/// identity, or (for a copy, or once compressed) the same first bytes and
/// at least `entry.offset` bytes. `not` excludes the file being followed.
fn find_rotated(path: &Path, entry: &Entry, not: Option<Identity>) -> Option<Found> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let base = path.file_name()?.to_string_lossy().into_owned();
    let mut candidates: Vec<(PathBuf, fs::Metadata)> = fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name != base && name.starts_with(base.as_str())
        })
        .filter_map(|e| Some((e.path(), e.metadata().ok()?)))
        .filter(|(_, m)| m.is_file())
        .collect();
    // Newest first: the most recent rotation is the likeliest.
    candidates.sort_by_key(|(_, m)| std::cmp::Reverse(m.mtime()));
    for (p, meta) in &candidates {
        let id = Identity::of(meta);
        if Some(id) == not {
            continue;
        }
        let Ok((c, _)) = Cursor::open(p) else {
            continue;
        };
        if is_compressed(&c.file) {
            if stream_head_matches(&c.file, &entry.fingerprint) {
                return Some(Found::Compressed(Stream {
                    path: p.clone(),
                    id,
                    file: c.file,
                }));
            }
        } else if (id == entry.identity() || meta.len() >= entry.offset)
            && entry.fingerprint.matches_file(&c.file).unwrap_or(false)
        {
            return Some(Found::Plain(Box::new(c)));
        }
    }
    None
}

/// The rotated siblings of `path` last written after `than` was (so
/// rotated after it), oldest first, leaving out the file at `path`
/// (`here`) and files the state knows (read already): each with a cursor
/// at its start (a compressed one is read as a stream through its file).
fn newer_siblings(
    path: &Path,
    than: &fs::Metadata,
    here: Option<Identity>,
    known: &[Entry],
) -> Vec<(PathBuf, Cursor)> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Some(base) = path.file_name().map(|b| b.to_string_lossy().into_owned()) else {
        return Vec::new();
    };
    let after = (than.mtime(), than.mtime_nsec());
    let mut out: Vec<((i64, i64), PathBuf, Cursor)> = Vec::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == base || !name.starts_with(base.as_str()) {
            continue;
        }
        let Ok(meta) = e.metadata() else { continue };
        let id = Identity::of(&meta);
        let when = (meta.mtime(), meta.mtime_nsec());
        if !meta.is_file() || when <= after || Some(id) == here || id == Identity::of(than) {
            continue;
        }
        let Ok((c, _)) = Cursor::open(&e.path()) else {
            continue;
        };
        // A file the state knows, or a copy or compressed form of one (a
        // file open when we stopped, being finished, is one too): its own
        // entry finishes it from its offset.
        let compressed = is_compressed(&c.file);
        let knows = |k: &Entry| {
            if compressed {
                stream_head_matches(&c.file, &k.fingerprint)
            } else {
                k.fingerprint_matches(&c.file)
            }
        };
        if known.iter().any(knows) {
            continue;
        }
        out.push((when, e.path(), c));
    }
    out.sort_by_key(|(when, _, _)| *when);
    out.into_iter().map(|(_, p, c)| (p, c)).collect()
}

/// A closed entry for a compressed file read whole: its identity, and the
/// fingerprint of its content's start (which [`stream_head_matches`]
/// compares).
fn stream_entry(followed: &Path, stream: &Stream) -> Option<Entry> {
    let head = stream_head(&stream.file, FINGERPRINT_BYTES as u64)?;
    Some(Entry {
        path: followed.to_path_buf(),
        dev: stream.id.dev,
        ino: stream.id.ino,
        fingerprint: Fingerprint::of(&head),
        offset: 0,
        closed: true,
    })
}

/// Reads a compressed rotated file from byte `skip` of its content.
fn read_stream(
    stream: Stream,
    skip: u64,
    index: usize,
    grammars: &mut Option<Vec<Arc<Grammar>>>,
    format: &FormatChoice,
    sink: &mut dyn LineSink,
) -> Result<u64, String> {
    let name: Arc<str> = stream.path.display().to_string().into();
    let opened = input::open_file(&name, stream.file).map_err(|e| e.to_string())?;
    let mut reader = opened.reader;
    if grammars.is_none() {
        *grammars = match format {
            FormatChoice::Fixed(g) => Some(vec![g.clone()]),
            _ => {
                let head = reader.fill_buf().map_err(|e| e.to_string())?;
                Some(format.choose(&name, head).grammars)
            }
        };
    }
    let Some(g) = grammars.as_deref() else {
        return Err("no format chosen".into());
    };
    let mut parser = LineParser::new(g);
    let mut lines = crate::framing::LineReader::with_limit(reader, MAX_LINE);
    let mut offset = skip;
    loop {
        match lines.next_line() {
            // Lines before `skip` were handed on before; only an IIS
            // `#Fields:` among them matters, for the columns after it.
            Ok(Some(line)) if line.offset < skip => {
                if line.bytes.starts_with(b"#") {
                    let _ = parser.parse(line.bytes);
                }
            }
            Ok(Some(line)) => {
                if line.too_long.is_some() {
                    sink.too_long(index, &name, line.offset);
                } else {
                    sink.line(index, &name, &mut parser, line.bytes, line.offset);
                }
                offset = lines.offset();
            }
            Ok(None) => break,
            Err(e) => return Err(format!("at byte {}: {e}", lines.offset())),
        }
    }
    Ok(offset - skip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The sequence numbers of the lines handed on, in order.
    #[derive(Default)]
    struct Seen(Vec<u64>, Vec<String>);

    impl LineSink for Seen {
        fn line(&mut self, _: usize, _: &Arc<str>, _: &mut LineParser, line: &[u8], _: u64) {
            let text = String::from_utf8_lossy(line);
            let n = text.split("/seq/").nth(1).and_then(|r| r.split(' ').next());
            self.0.push(n.and_then(|n| n.parse().ok()).unwrap_or(0));
        }
        fn too_long(&mut self, _: usize, _: &Arc<str>, _: u64) {}
        fn note(&mut self, message: String) {
            self.1.push(message);
        }
    }

    fn append(path: &Path, seqs: std::ops::RangeInclusive<u64>) {
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        for n in seqs {
            writeln!(
                f,
                "10.0.0.1 - - [28/Nov/2026:10:00:00 +0000] \"GET /seq/{n} HTTP/1.1\" 200 5 \"-\" \"t\""
            )
            .unwrap();
        }
    }

    fn gzip(from: &Path, to: &Path) {
        let mut out =
            flate2::write::GzEncoder::new(File::create(to).unwrap(), flate2::Compression::fast());
        out.write_all(&fs::read(from).unwrap()).unwrap();
        out.finish().unwrap();
        fs::remove_file(from).unwrap();
    }

    fn follower(state: Vec<Entry>) -> Follower {
        let grammar = crate::grammar::builtin::Registry::new()
            .find("nginx-combined")
            .unwrap();
        Follower::new(
            Options {
                from_start: true,
                format: FormatChoice::Fixed(grammar),
                format_for: Vec::new(),
                grace: Duration::from_secs(60),
            },
            state,
        )
    }

    /// A rotation between a restart's first look at the directory and its
    /// first read renamed the files it had found: the compressed rest of
    /// the remembered file was then read under a name that now held
    /// another file (and nothing was said), and the live file was passed
    /// over for the new one. Seen by the soak under logrotate, 30,000
    /// lines at a time.
    #[test]
    fn a_rotation_between_startup_and_the_first_read_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str| dir.path().join(name);
        let log = at("access.log");
        append(&log, 1..=10);
        let mut f = follower(Vec::new());
        f.add(log.clone(), true);
        let mut seen = Seen::default();
        f.poll(&mut seen);
        let state = f.entries();
        drop(f);

        // Stopped: lines it did not read, a rotation compressing them,
        // lines in the new file.
        append(&log, 11..=15);
        fs::rename(&log, at("access.log.1")).unwrap();
        gzip(&at("access.log.1"), &at("access.log.1.gz"));
        append(&log, 16..=20);

        let mut f = follower(state);
        f.add(log.clone(), true);
        // Another rotation before the first read: every name moves on.
        fs::rename(at("access.log.1.gz"), at("access.log.2.gz")).unwrap();
        fs::rename(&log, at("access.log.1")).unwrap();
        gzip(&at("access.log.1"), &at("access.log.1.gz"));
        append(&log, 21..=25);
        for _ in 0..3 {
            f.poll(&mut seen);
        }
        assert_eq!(seen.0, (1..=25).collect::<Vec<_>>(), "{:?}", seen.1);
    }
}
