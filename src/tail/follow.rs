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

use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::detect::FormatChoice;
use crate::grammar::Grammar;
use crate::parse::LineParser;

use super::cursor::READ_BYTES;
pub use super::cursor::{choose, Cursor, LineSink};
use super::identity::{is_compressed, open_nonblocking};
pub use super::identity::{Fingerprint, Identity, FINGERPRINT_BYTES};
use super::rotation::{find_rotated, newer_siblings, read_stream, stream_entry, Found, Stream};
use super::state::Entry;

/// Positions of closed files remembered, so a glob that later matches a
/// rotated file resumes it instead of reading it again.
const KNOWN_CLOSED: usize = 256;

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::Write;
    use std::path::Path;

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
