//! Finding a file again after it was rotated: under another name beside
//! it (by identity, or by its first bytes once copied or compressed), the
//! files rotated after it, and reading a compressed one.

use std::fs::{self, File};
use std::io::BufRead;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::detect::FormatChoice;
use crate::grammar::Grammar;
use crate::input;
use crate::parse::{LineParser, MAX_LINE};

use super::cursor::{choose, Cursor, LineSink};
use super::identity::{
    is_compressed, stream_head, stream_head_matches, Fingerprint, Identity, FINGERPRINT_BYTES,
};
use super::state::Entry;

pub(super) enum Found {
    Plain(Box<Cursor>),
    Compressed(Stream),
}

/// A compressed rotated file, open.
pub(super) struct Stream {
    /// The name it had when found, to show.
    pub(super) path: PathBuf,
    pub(super) id: Identity,
    pub(super) file: File,
}

/// Looks in `path`'s directory for the file `entry` describes, under
/// another name (`access.log.1`, `access.log-20261129.gz`): the same
/// identity, or (for a copy, or once compressed) the same first bytes and
/// at least `entry.offset` bytes. `not` excludes the file being followed.
pub(super) fn find_rotated(path: &Path, entry: &Entry, not: Option<Identity>) -> Option<Found> {
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
pub(super) fn newer_siblings(
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
pub(super) fn stream_entry(followed: &Path, stream: &Stream) -> Option<Entry> {
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
pub(super) fn read_stream(
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
        let head = reader.fill_buf().map_err(|e| e.to_string())?;
        *grammars = Some(choose(&name, head, format, sink));
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
