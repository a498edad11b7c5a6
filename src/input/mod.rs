//! Opening inputs: paths, directories and `-`, with compression detected
//! by content rather than by name.
//!
//! gzip, zstd and bzip2 are decompressed here, each including files of
//! several members or frames (`cat a.gz b.gz`, pigz, pbzip2, zstd's
//! multi-frame output), which are read to their end.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::bufread::MultiGzDecoder;

mod ahead;
pub use ahead::ReadAhead;

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: no such file or directory")]
    NotFound { path: String },
    #[error("{pattern}: no file matches")]
    NoMatch { pattern: String },
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path}: a {what}, not a log file: not read")]
    NotALog { path: String, what: &'static str },
}

/// What a path is when it cannot be a log: a device (`/dev/zero` and
/// `/dev/urandom` never end) or a socket. Regular files, named pipes and
/// directories (expanded elsewhere) are logs or hold them.
fn not_a_log(path: &Path) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let kind = std::fs::metadata(path).ok()?.file_type();
    if kind.is_char_device() {
        Some("character device")
    } else if kind.is_block_device() {
        Some("block device")
    } else if kind.is_socket() {
        Some("socket")
    } else {
        None
    }
}

/// How an input's bytes are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    Bzip2,
}

impl Compression {
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else if head.starts_with(b"BZh") && head.len() >= 4 && head[3].is_ascii_digit() {
            Compression::Bzip2
        } else {
            Compression::None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "plain",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Bzip2 => "bzip2",
        }
    }
}

/// One input to read: a file or standard input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Path(PathBuf),
    Stdin,
}

impl Source {
    pub fn display(&self) -> String {
        match self {
            Source::Path(p) => p.display().to_string(),
            Source::Stdin => "<stdin>".to_string(),
        }
    }
}

/// Expands the user's paths: a directory becomes the files below it (not
/// hidden ones), a glob the shell left quoted becomes the files it
/// matches, rotated sets oldest first (see [`rotation_key`]), `-` is
/// standard input. A
/// path that does not exist is an error before any work starts.
pub fn expand(paths: &[PathBuf]) -> Result<Expanded, InputError> {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            out.push(Source::Stdin);
            continue;
        }
        let text = path.to_string_lossy();
        if !path.exists() && text.contains(['*', '?', '[']) {
            // A quoted glob (the shell did not expand it): expand it here.
            let pattern = glob::glob(&text).map_err(|e| InputError::Io {
                path: text.to_string(),
                source: io::Error::new(io::ErrorKind::InvalidInput, e.to_string()),
            })?;
            let mut files: Vec<PathBuf> = pattern
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .collect();
            if files.is_empty() {
                return Err(InputError::NoMatch {
                    pattern: text.to_string(),
                });
            }
            files.sort_by_cached_key(|p| rotation_key(p));
            out.extend(files.into_iter().map(Source::Path));
            continue;
        }
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => InputError::NotFound {
                path: path.display().to_string(),
            },
            _ => InputError::Io {
                path: path.display().to_string(),
                source: e,
            },
        })?;
        if meta.is_dir() {
            let mut files = Vec::new();
            walk(path, &mut files, &mut skipped, true)?;
            // A symlink beside the file it names (`current.log ->
            // access.log`) must not count its lines twice.
            let mut seen = std::collections::HashSet::new();
            files.sort_by_key(|f| {
                f.symlink_metadata()
                    .is_ok_and(|m| m.file_type().is_symlink())
            });
            files.retain(|f| {
                use std::os::unix::fs::MetadataExt;
                match std::fs::metadata(f) {
                    Ok(m) if !seen.insert((m.dev(), m.ino())) => {
                        skipped.push(format!("{}: the same file as another input", f.display()));
                        false
                    }
                    _ => true,
                }
            });
            files.sort_by_cached_key(|p| rotation_key(p));
            out.extend(files.into_iter().map(Source::Path));
        } else {
            out.push(Source::Path(path.clone()));
        }
    }
    Ok(Expanded {
        sources: out,
        skipped,
    })
}

/// The inputs a list of paths names, and what was left out below the
/// directories given (an unreadable subdirectory, a symlink loop), said
/// in words: those never stop the run.
#[derive(Debug, Default)]
pub struct Expanded {
    pub sources: Vec<Source>,
    pub skipped: Vec<String>,
}

impl std::ops::Deref for Expanded {
    type Target = [Source];
    fn deref(&self) -> &[Source] {
        &self.sources
    }
}

impl IntoIterator for Expanded {
    type Item = Source;
    type IntoIter = std::vec::IntoIter<Source>;
    fn into_iter(self) -> Self::IntoIter {
        self.sources.into_iter()
    }
}

/// Name endings of compressed rotated logs (`access.log.2.gz`).
pub const COMPRESSED_EXTENSIONS: [&str; 6] = ["gz", "zst", "zstd", "bz2", "xz", "zip"];

/// Whether a file's name says it is a compressed rotated log.
pub fn compressed_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| COMPRESSED_EXTENSIONS.contains(&e))
}

/// A file name without its compression ending: `access.log.2.gz` ->
/// `access.log.2`.
pub fn without_compression(name: &str) -> &str {
    match name.rsplit_once('.') {
        Some((base, ext)) if COMPRESSED_EXTENSIONS.contains(&ext) => base,
        _ => name,
    }
}

/// Orders rotated logs oldest first: `access.log.3.gz`, `access.log.2.gz`,
/// `access.log.1`, `access.log`; dated ones (`access.log-20261127.gz`) by
/// date, before the live file. Files of different names sort by name.
pub fn rotation_key(path: &Path) -> (PathBuf, String, u8, i64, String) {
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let base = without_compression(&name);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some((stem, n)) = base
        .rsplit_once('.')
        .filter(|(_, n)| digits(n) && n.len() <= 4)
    {
        let n: i64 = n.parse().unwrap_or(0);
        return (dir, stem.to_string(), 1, -n, name.clone());
    }
    if let Some((stem, date)) = base
        .rsplit_once('-')
        .filter(|(_, d)| digits(d) && d.len() == 8)
    {
        let date: i64 = date.parse().unwrap_or(0);
        return (dir, stem.to_string(), 0, date, name.clone());
    }
    (dir, base.to_string(), 2, 0, name.clone())
}

/// Collects the regular files below `dir`, skipping hidden entries. A
/// subdirectory that cannot be read is noted in `skipped` and the walk
/// goes on, as an unreadable file is counted and the others still run;
/// only the directory the user named (`top`) is an error. Symlinks to
/// files are followed; symlinks to directories are not (no loops), and a
/// broken or looping one is noted.
fn walk(
    dir: &Path,
    files: &mut Vec<PathBuf>,
    skipped: &mut Vec<String>,
    top: bool,
) -> Result<(), InputError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if !top => {
            skipped.push(format!("{}: {e} (directory skipped)", dir.display()));
            return Ok(());
        }
        Err(e) => {
            return Err(InputError::Io {
                path: dir.display().to_string(),
                source: e,
            })
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                skipped.push(format!("{}: {e} (entry skipped)", dir.display()));
                continue;
            }
        };
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, files, skipped, false)?,
            Ok(t) if t.is_file() => files.push(path),
            Ok(t) if t.is_symlink() => match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => files.push(path),
                Ok(m) if m.is_dir() => skipped.push(format!(
                    "{}: a symlink to a directory, not followed",
                    path.display()
                )),
                Ok(_) => {}
                Err(e) => skipped.push(format!("{}: {e} (symlink skipped)", path.display())),
            },
            _ => {}
        }
    }
    Ok(())
}

/// An opened input, decompressed, with what it was.
pub struct Opened {
    pub reader: Box<dyn BufRead + Send>,
    pub compression: Compression,
}

fn open_reader(name: &str, raw: Box<dyn Read + Send>) -> Result<Opened, InputError> {
    let mut buffered = BufReader::with_capacity(256 * 1024, raw);
    let head = buffered.fill_buf().map_err(|e| InputError::Io {
        path: name.to_string(),
        source: e,
    })?;
    let compression = Compression::sniff(head);
    let reader: Box<dyn BufRead + Send> = match compression {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(BufReader::with_capacity(
            256 * 1024,
            MultiGzDecoder::new(buffered),
        )),
        Compression::Zstd => Box::new(BufReader::with_capacity(
            256 * 1024,
            zstd::stream::read::Decoder::with_buffer(buffered).map_err(|e| InputError::Io {
                path: name.to_string(),
                source: e,
            })?,
        )),
        Compression::Bzip2 => Box::new(BufReader::with_capacity(
            256 * 1024,
            bzip2::bufread::MultiBzDecoder::new(buffered),
        )),
    };
    Ok(Opened {
        reader,
        compression,
    })
}

/// Bytes of a file's start that identify it: enough to tell two logs
/// apart by their first lines.
pub const FINGERPRINT_BYTES: usize = 1024;

/// A hash of a file's first bytes (up to [`FINGERPRINT_BYTES`]): FNV-1a,
/// fixed so that state files and export manifests stay valid across
/// versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fingerprint {
    pub len: u32,
    pub hash: u64,
}

impl Fingerprint {
    pub fn of(head: &[u8]) -> Fingerprint {
        let head = &head[..head.len().min(FINGERPRINT_BYTES)];
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in head {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        Fingerprint {
            len: head.len() as u32,
            hash,
        }
    }
}

/// A plain file mapped into memory that survives being truncated while it
/// is read: the pages past the new end read as zeros instead of raising
/// SIGBUS, and [`Mapped::shrank`] says it happened, so the caller can read
/// the file again as it now is, or say what it missed.
pub struct Mapped {
    map: memmap2::Mmap,
    slot: usize,
    file: File,
}

impl std::ops::Deref for Mapped {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.map
    }
}

impl Mapped {
    /// `(mapped length, length now)` when the file shrank under the map
    /// and a read went past its new end.
    pub fn shrank(&self) -> Option<(u64, u64)> {
        guard::hit(self.slot).then(|| {
            let now = self.file.metadata().map_or(0, |m| m.len());
            (self.map.len() as u64, now)
        })
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        guard::unregister(self.slot);
    }
}

/// The SIGBUS guard for mapped files. A read of a mapped page past the
/// end of a file that shrank raises SIGBUS, which would kill the run. The
/// handler looks up the faulting address among the registered maps; for
/// one of them it maps anonymous zero pages over the rest of that map and
/// returns, so the read goes on (seeing zeros), and marks the map. A fault
/// anywhere else restores the default action, so the process dies as it
/// would have.
mod guard {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    const SLOTS: usize = 64;
    static CLAIMED: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];
    static START: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
    static LEN: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
    static HIT: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];
    static PAGE: AtomicUsize = AtomicUsize::new(4096);
    static INSTALL: std::sync::Once = std::sync::Once::new();

    extern "C" fn on_sigbus(
        _signal: libc::c_int,
        info: *mut libc::siginfo_t,
        _context: *mut libc::c_void,
    ) {
        // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO
        // handler; for SIGBUS, si_addr is the faulting address.
        let addr = unsafe { (*info).si_addr() } as usize;
        let page = PAGE.load(Ordering::Relaxed);
        for i in 0..SLOTS {
            let len = LEN[i].load(Ordering::Acquire);
            let start = START[i].load(Ordering::Acquire);
            if len == 0 || addr < start || addr >= start + len {
                continue;
            }
            let from = addr / page * page;
            let end = (start + len).div_ceil(page) * page;
            // SAFETY: `from..end` lies within a live read-only mapping of
            // ours (registered until it is unmapped); replacing its pages
            // with anonymous zero pages changes what reads of it see, not
            // whether they are valid. mmap is a plain system call, safe to
            // make in a signal handler.
            let p = unsafe {
                libc::mmap(
                    from as *mut libc::c_void,
                    end - from,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if p != libc::MAP_FAILED {
                HIT[i].store(true, Ordering::Release);
                return;
            }
        }
        // Not ours, or no remedy: the default action when the faulting
        // instruction runs again.
        // SAFETY: resetting a signal's disposition is async-signal-safe.
        unsafe {
            libc::signal(libc::SIGBUS, libc::SIG_DFL);
        }
    }

    fn install() {
        INSTALL.call_once(|| {
            // SAFETY: sysconf and sigaction with a zeroed, then filled,
            // struct; the handler is an extern "C" fn for the process's
            // life.
            unsafe {
                let page = libc::sysconf(libc::_SC_PAGESIZE);
                if page > 0 {
                    PAGE.store(page as usize, Ordering::Relaxed);
                }
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_sigbus as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
            }
        });
    }

    /// A slot for the map at `start` of `len` bytes; `None` when all are
    /// taken (the file is then streamed).
    pub fn register(start: usize, len: usize) -> Option<usize> {
        install();
        let slot = (0..SLOTS).find(|&i| {
            CLAIMED[i]
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        })?;
        HIT[slot].store(false, Ordering::Release);
        START[slot].store(start, Ordering::Release);
        LEN[slot].store(len, Ordering::Release);
        Some(slot)
    }

    pub fn unregister(slot: usize) {
        LEN[slot].store(0, Ordering::Release);
        START[slot].store(0, Ordering::Release);
        CLAIMED[slot].store(false, Ordering::Release);
    }

    pub fn hit(slot: usize) -> bool {
        HIT[slot].load(Ordering::Acquire)
    }
}

/// Maps a plain (uncompressed) regular file of at least `min_bytes` into
/// memory; `None` for anything else (small, compressed, not a regular
/// file), which is then streamed.
pub fn map_plain(path: &Path, min_bytes: u64) -> Result<Option<Mapped>, InputError> {
    let io_err = |e| InputError::Io {
        path: path.display().to_string(),
        source: e,
    };
    // Looked at before it is opened: opening a named pipe to find out it
    // is one, then closing it, would lose what the writer had sent (and
    // kill it with SIGPIPE); it must be opened once, as a stream.
    let meta = std::fs::metadata(path).map_err(io_err)?;
    if !meta.is_file() || meta.len() < min_bytes.max(1) {
        return Ok(None);
    }
    let file = File::open(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() || meta.len() < min_bytes.max(1) {
        return Ok(None);
    }
    // SAFETY: the map is read-only and lives as long as the check of this
    // file. If another process truncates the file meanwhile (copytruncate
    // rotation), a read past the new end would raise SIGBUS: the guard
    // registered below turns those pages into zeros and tells.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io_err)?;
    let Some(slot) = guard::register(map.as_ptr() as usize, map.len()) else {
        return Ok(None);
    };
    let map = Mapped { map, slot, file };
    if Compression::sniff(&map[..map.len().min(8)]) != Compression::None {
        return Ok(None);
    }
    // Read-ahead suits chunks taken in order; failure only costs speed.
    let _ = map.map.advise(memmap2::Advice::Sequential);
    Ok(Some(map))
}

/// Drops the pages of `range` from this process's memory once parsed, so
/// resident memory stays flat however large the mapped file. Pages that
/// `range` shares with its neighbours are kept.
pub fn release(map: &Mapped, range: std::ops::Range<usize>) {
    const PAGE: usize = 4096;
    let start = range.start.div_ceil(PAGE) * PAGE;
    let end = range.end / PAGE * PAGE;
    if end <= start {
        return;
    }
    // SAFETY: the map is a read-only shared mapping of a file. MADV_DONTNEED
    // on it only unmaps the pages from this process; a later read would
    // fault them in again from the file, so no data can be lost (a worker
    // may still count the lines of a released range: it reads them again).
    let _ = unsafe {
        map.map
            .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start)
    };
}

pub fn open(source: &Source) -> Result<Opened, InputError> {
    open_counted(source, None)
}

/// Counts the raw bytes read through it on a progress bar.
struct Counted<R> {
    inner: R,
    bar: indicatif::ProgressBar,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// Opens an input whose raw (still compressed) bytes advance `progress`.
pub fn open_counted(
    source: &Source,
    progress: Option<indicatif::ProgressBar>,
) -> Result<Opened, InputError> {
    let (name, raw): (String, Box<dyn Read + Send>) = match source {
        Source::Stdin => ("<stdin>".to_string(), Box::new(io::stdin())),
        Source::Path(path) => {
            if let Some(what) = not_a_log(path) {
                return Err(InputError::NotALog {
                    path: path.display().to_string(),
                    what,
                });
            }
            let file = File::open(path).map_err(|e| InputError::Io {
                path: path.display().to_string(),
                source: e,
            })?;
            (path.display().to_string(), Box::new(file))
        }
    };
    match progress {
        Some(bar) => open_reader(&name, Box::new(Counted { inner: raw, bar })),
        None => open_reader(&name, raw),
    }
}

/// Opens a file already open (read from its current position),
/// decompressing it if it is compressed; `name` is for messages.
pub fn open_file(name: &str, file: File) -> Result<Opened, InputError> {
    open_reader(name, Box::new(file))
}

pub fn open_path(path: &Path) -> Result<Opened, InputError> {
    open_counted(&Source::Path(path.to_path_buf()), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Mapping is for regular files: a named pipe must not even be opened
    /// to find out (opening one blocks until a writer comes, and closing it
    /// again loses what the writer sent).
    #[test]
    fn a_named_pipe_is_not_opened_to_be_mapped() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("p");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("skipping: mkfifo is not available");
            return;
        }
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = send.send(map_plain(&fifo, 1).map(|m| m.is_none()));
        });
        let answer = receive.recv_timeout(std::time::Duration::from_secs(5));
        assert!(
            matches!(answer, Ok(Ok(true))),
            "map_plain blocked on (or mapped) a named pipe: {answer:?}"
        );
    }

    #[test]
    fn sniffs_by_content() {
        assert_eq!(Compression::sniff(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(
            Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        assert_eq!(Compression::sniff(b"BZh9"), Compression::Bzip2);
        assert_eq!(Compression::sniff(b"1.2.3.4 - -"), Compression::None);
        assert_eq!(Compression::sniff(b""), Compression::None);
    }

    #[test]
    fn multi_member_gzip_reads_every_member() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.1");
        let mut bytes = Vec::new();
        for part in [&b"one\n"[..], b"two\n"] {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(part).unwrap();
            bytes.extend(enc.finish().unwrap());
        }
        std::fs::write(&path, bytes).unwrap();
        let mut opened = open_path(&path).unwrap();
        assert_eq!(opened.compression, Compression::Gzip);
        let mut text = String::new();
        opened.reader.read_to_string(&mut text).unwrap();
        assert_eq!(text, "one\ntwo\n");
    }

    fn read_back(name: &str, bytes: &[u8]) -> (Compression, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let mut opened = open_path(&path).unwrap();
        let mut text = String::new();
        opened.reader.read_to_string(&mut text).unwrap();
        (opened.compression, text)
    }

    #[test]
    fn zstd_frames_and_bzip2_streams_are_all_read() {
        let mut zst = zstd::encode_all(&b"one\n"[..], 3).unwrap();
        zst.extend(zstd::encode_all(&b"two\n"[..], 3).unwrap());
        // Named like a plain log: the content decides.
        assert_eq!(
            read_back("access.log", &zst),
            (Compression::Zstd, "one\ntwo\n".into())
        );
        let mut bz = Vec::new();
        for part in [&b"one\n"[..], b"two\n"] {
            let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            enc.write_all(part).unwrap();
            bz.extend(enc.finish().unwrap());
        }
        assert_eq!(
            read_back("x.gz", &bz),
            (Compression::Bzip2, "one\ntwo\n".into())
        );
    }

    #[test]
    fn rotated_sets_sort_oldest_first() {
        let mut names = vec![
            "access.log",
            "access.log.1",
            "access.log.10.gz",
            "access.log.2.gz",
            "error.log",
            "other.log-20261128.gz",
            "other.log",
            "other.log-20261127",
        ];
        names.sort_by_cached_key(|n| rotation_key(Path::new(n)));
        assert_eq!(
            names,
            [
                "access.log.10.gz",
                "access.log.2.gz",
                "access.log.1",
                "access.log",
                "error.log",
                "other.log-20261127",
                "other.log-20261128.gz",
                "other.log",
            ]
        );
    }

    #[test]
    fn quoted_globs_expand_in_rotation_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["access.log", "access.log.1", "access.log.2.gz", "other.txt"] {
            std::fs::write(dir.path().join(name), b"x\n").unwrap();
        }
        let pattern = dir.path().join("access.log*");
        let got: Vec<String> = expand(&[pattern])
            .unwrap()
            .iter()
            .map(|s| s.display().rsplit('/').next().unwrap().to_string())
            .collect();
        assert_eq!(got, ["access.log.2.gz", "access.log.1", "access.log"]);
        let err = expand(&[dir.path().join("nothing*")]).unwrap_err();
        assert!(
            err.to_string().ends_with("nothing*: no file matches"),
            "{err}"
        );
    }

    #[test]
    fn missing_path_is_named() {
        let err = expand(&[PathBuf::from("/no/such/log")]).unwrap_err();
        assert_eq!(err.to_string(), "/no/such/log: no such file or directory");
    }
}
