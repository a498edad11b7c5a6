//! Reading the next compressed file of a run ahead of time.
//!
//! A compressed file is scanned as a stream: one thread decompresses while
//! the workers parse. Each file starts with the workers idle until the first
//! batch is decompressed and ends with the decompressor idle while the
//! workers finish the last batches. In a rotated set of many `.gz` files
//! both waits add up (a set of four read a fifth slower than the same
//! lines in one file). So when one file has been read to its end, the next
//! compressed file is opened and decompressed on a thread of its own into a
//! bounded queue, during the wait, and its scan starts from what is queued.

use std::io::{self, BufRead, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Mutex;

use super::{open_counted, Compression, InputError, Opened, Source};

/// Bytes per block handed from the read-ahead thread.
const BLOCK: usize = 1 << 20;
/// Blocks queued ahead at most: one batch of the scan's streams.
const QUEUED: usize = 8;

/// The sources of a run in order, and the one opened ahead, if any.
pub struct ReadAhead {
    sources: Vec<Source>,
    state: Mutex<State>,
    /// Inputs handed to their scans opened ahead.
    served: AtomicUsize,
}

#[derive(Default)]
struct State {
    /// Index (in `sources`) of the input scanned last.
    at: Option<usize>,
    /// The input opened ahead: its index and what opening it gave.
    ready: Option<(usize, Result<Opened, InputError>)>,
}

impl ReadAhead {
    pub fn new(sources: &[Source]) -> ReadAhead {
        ReadAhead {
            sources: sources.to_vec(),
            state: Mutex::new(State::default()),
            served: AtomicUsize::new(0),
        }
    }

    /// How many inputs their scans got opened ahead.
    pub fn served(&self) -> usize {
        self.served.load(Ordering::Relaxed)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes that `source` is scanned now, and gives it opened if it was
    /// opened ahead. A run may scan its sources more than once (the
    /// report's second pass): the search starts after the last one.
    pub fn take(&self, source: &Source) -> Option<Result<Opened, InputError>> {
        let mut state = self.state();
        let start = state.at.map_or(0, |a| a + 1);
        let n = self.sources.len();
        let index = (0..n)
            .map(|i| (start + i) % n)
            .find(|&i| self.sources[i] == *source);
        state.at = index;
        match state.ready.take() {
            Some((i, opened)) if Some(i) == index => {
                self.served.fetch_add(1, Ordering::Relaxed);
                Some(opened)
            }
            // Opened for a scan that did not come: dropping it closes the
            // file and stops its thread.
            _ => None,
        }
    }

    /// Called once the input scanned now has been read to its end: opens
    /// the next one and starts decompressing it, if it is a compressed
    /// regular file (a plain file is mapped or streamed by its own scan,
    /// and a named pipe must be opened only by the scan that reads it).
    pub fn read_next(&self, progress: Option<indicatif::ProgressBar>) {
        let mut state = self.state();
        let Some(next) = state.at.map(|a| a + 1).filter(|&n| n < self.sources.len()) else {
            return;
        };
        if state.ready.as_ref().is_some_and(|(i, _)| *i == next) {
            return;
        }
        let source = &self.sources[next];
        let Source::Path(path) = source else {
            return;
        };
        if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
            return;
        }
        state.ready = match open_counted(source, progress) {
            Ok(opened) if opened.compression == Compression::None => None,
            Ok(opened) => Some((
                next,
                Ok(Opened {
                    reader: Box::new(Queued::start(opened.reader)),
                    compression: opened.compression,
                }),
            )),
            // The scan of that file says so, in its turn.
            Err(e) => Some((next, Err(e))),
        };
    }
}

enum Block {
    Data(Vec<u8>),
    Error(io::Error),
    End,
}

/// A reader fed by a thread that reads (decompresses) its input ahead.
struct Queued {
    blocks: Receiver<Block>,
    block: Vec<u8>,
    pos: usize,
    done: bool,
}

impl Queued {
    fn start(mut reader: Box<dyn BufRead + Send>) -> Queued {
        let (send, blocks) = mpsc::sync_channel(QUEUED);
        std::thread::spawn(move || loop {
            let mut block = vec![0; BLOCK];
            let mut filled = 0;
            let end = loop {
                match reader.read(&mut block[filled..]) {
                    Ok(0) => break Some(Block::End),
                    Ok(n) => {
                        filled += n;
                        if filled == block.len() {
                            break None;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => break Some(Block::Error(e)),
                }
            };
            block.truncate(filled);
            // A failed send means the reader was dropped: stop.
            if !block.is_empty() && send.send(Block::Data(block)).is_err() {
                return;
            }
            if let Some(end) = end {
                let _ = send.send(end);
                return;
            }
        });
        Queued {
            blocks,
            block: Vec::new(),
            pos: 0,
            done: false,
        }
    }
}

impl Read for Queued {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Queued {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.block.len() && !self.done {
            match self.blocks.recv() {
                Ok(Block::Data(block)) => {
                    self.block = block;
                    self.pos = 0;
                }
                Ok(Block::End) => self.done = true,
                Ok(Block::Error(e)) => {
                    self.done = true;
                    return Err(e);
                }
                // The thread ended without saying so (it panicked): the
                // rest of the input is not there, which is not its end.
                Err(_) => {
                    self.done = true;
                    return Err(io::Error::other("reading ahead stopped before the end"));
                }
            }
        }
        Ok(&self.block[self.pos..])
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.block.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(text: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(text).unwrap();
        enc.finish().unwrap()
    }

    fn read_all(opened: Opened) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut reader = opened.reader;
        reader.read_to_end(&mut out)?;
        Ok(out)
    }

    /// Every byte of a file read ahead arrives, in order, across blocks.
    #[test]
    fn the_next_gzip_file_is_read_ahead_whole() {
        let dir = tempfile::tempdir().unwrap();
        let text: Vec<u8> = (0..300_000u32)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        assert!(text.len() > 2 * BLOCK);
        let (a, b) = (dir.path().join("a.log.1.gz"), dir.path().join("a.log.2.gz"));
        std::fs::write(&a, gz(b"first\n")).unwrap();
        std::fs::write(&b, gz(&text)).unwrap();
        let sources = [Source::Path(a.clone()), Source::Path(b.clone())];
        let ahead = ReadAhead::new(&sources);
        assert!(
            ahead.take(&sources[0]).is_none(),
            "nothing is read ahead of the first"
        );
        ahead.read_next(None);
        let opened = ahead
            .take(&sources[1])
            .expect("the second was read ahead")
            .unwrap();
        assert_eq!(opened.compression, Compression::Gzip);
        assert_eq!(read_all(opened).unwrap(), text);
        // Nothing follows the last.
        ahead.read_next(None);
        assert!(ahead.state().ready.is_none());
    }

    /// A plain file and a named pipe are left to their own scans.
    #[test]
    fn plain_files_and_pipes_are_not_opened_ahead() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.gz"), dir.path().join("b.log"));
        std::fs::write(&a, gz(b"x\n")).unwrap();
        std::fs::write(&b, b"plain\n").unwrap();
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        let mut sources = vec![Source::Path(a), Source::Path(b)];
        if made.is_ok_and(|s| s.success()) {
            sources.insert(1, Source::Path(fifo));
        }
        let ahead = ReadAhead::new(&sources);
        for source in &sources {
            assert!(ahead.take(source).is_none());
            ahead.read_next(None);
        }
    }

    /// A truncated file read ahead ends in an error, not a quiet end.
    #[test]
    fn a_damaged_file_read_ahead_reports_its_error() {
        let dir = tempfile::tempdir().unwrap();
        let text: Vec<u8> = (0..100_000u32)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        let mut bytes = gz(&text);
        bytes.truncate(bytes.len() / 2);
        let (a, b) = (dir.path().join("a.gz"), dir.path().join("b.gz"));
        std::fs::write(&a, gz(b"x\n")).unwrap();
        std::fs::write(&b, bytes).unwrap();
        let sources = [Source::Path(a), Source::Path(b)];
        let ahead = ReadAhead::new(&sources);
        ahead.take(&sources[0]);
        ahead.read_next(None);
        let opened = ahead.take(&sources[1]).unwrap().unwrap();
        assert!(read_all(opened).is_err());
    }

    /// A scan that skips the file read ahead gets nothing stale.
    #[test]
    fn a_file_read_ahead_goes_only_to_its_own_scan() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<_> = (0..3).map(|i| dir.path().join(format!("{i}.gz"))).collect();
        for (i, p) in paths.iter().enumerate() {
            std::fs::write(p, gz(format!("{i}\n").as_bytes())).unwrap();
        }
        let sources: Vec<_> = paths.into_iter().map(Source::Path).collect();
        let ahead = ReadAhead::new(&sources);
        ahead.take(&sources[0]);
        ahead.read_next(None);
        assert!(ahead.take(&sources[2]).is_none());
        // A second pass starts over.
        assert!(ahead.take(&sources[0]).is_none());
        ahead.read_next(None);
        let opened = ahead.take(&sources[1]).unwrap().unwrap();
        assert_eq!(read_all(opened).unwrap(), b"1\n");
    }
}
