//! Knowing a file again: its identity (device and inode) and a
//! fingerprint of its first bytes, since an inode number is reused once
//! its file is deleted; for a compressed rotated file, the fingerprint of
//! its content's start.

use std::fs::{self, File};
use std::io::{self, Read, Seek};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

use crate::input::{self, Compression};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Identity {
    pub dev: u64,
    pub ino: u64,
}

impl Identity {
    pub fn of(meta: &fs::Metadata) -> Identity {
        Identity {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

pub use crate::input::{Fingerprint, FINGERPRINT_BYTES};

impl Fingerprint {
    /// Of the first [`FINGERPRINT_BYTES`] of `file` (fewer if shorter).
    pub fn of_file(file: &File) -> io::Result<Fingerprint> {
        let mut head = vec![0; FINGERPRINT_BYTES];
        let n = read_full_at(file, &mut head, 0)?;
        Ok(Fingerprint::of(&head[..n]))
    }

    /// Whether `file` still starts with the bytes this was taken from.
    pub fn matches_file(&self, file: &File) -> io::Result<bool> {
        let mut head = vec![0; self.len as usize];
        let n = read_full_at(file, &mut head, 0)?;
        Ok(n == head.len() && Fingerprint::of(&head) == *self)
    }
}

/// Opens for reading without blocking: a named pipe put where a log was
/// expected would otherwise hang the open until a writer appears. Regular
/// files ignore the flag.
pub fn open_nonblocking(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

/// Whether the file starts like gzip, zstd or bzip2.
pub fn is_compressed(file: &File) -> bool {
    let mut head = [0u8; 8];
    read_full_at(file, &mut head, 0).is_ok() && Compression::sniff(&head) != Compression::None
}

pub fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// The first `len` bytes of a compressed file's content, read through a
/// second descriptor; the file is left at its start for the real read.
pub fn stream_head(file: &File, len: u64) -> Option<Vec<u8>> {
    let mut clone = file.try_clone().ok()?;
    clone.seek(io::SeekFrom::Start(0)).ok()?;
    let opened = input::open_file("rotated file", clone.try_clone().ok()?).ok()?;
    let mut head = Vec::new();
    let read = opened.reader.take(len).read_to_end(&mut head);
    // The descriptors share one position: back to the start.
    clone.seek(io::SeekFrom::Start(0)).ok()?;
    read.ok()?;
    Some(head)
}

pub fn stream_head_matches(file: &File, fingerprint: &Fingerprint) -> bool {
    stream_head(file, u64::from(fingerprint.len)).is_some_and(|head| {
        head.len() == fingerprint.len as usize && Fingerprint::of(&head) == *fingerprint
    })
}
