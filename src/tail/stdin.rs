//! Standard input (`-`) followed as a stream: read on a thread of its
//! own, handed over in chunks of complete lines.

use crate::tail::log::say;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

use crate::detect::FormatChoice;
use crate::parse::LineParser;

use super::follow::LineSink;

pub(super) enum Wake {
    Fs,
    Stop,
    /// Complete lines from standard input.
    Stdin(Vec<u8>),
    /// Standard input ended (or failed: the message says how).
    StdinEnd(Option<String>),
}

/// The file index of standard input in counts and notes.
pub(super) const STDIN: usize = usize::MAX;

/// Standard input (`-`): a pipe, read by a thread of its own and handed
/// over in chunks of complete lines. It has no identity and no state: it
/// is read from where the pipe is, and ends when the pipe closes.
pub(super) struct StdinSource {
    pub(super) name: Arc<str>,
    pub(super) format: FormatChoice,
    pub(super) parser: Option<LineParser>,
    pub(super) chunks: std::collections::VecDeque<Vec<u8>>,
    pub(super) offset: u64,
    pub(super) ended: bool,
}

impl StdinSource {
    pub(super) fn feed(&mut self, sink: &mut dyn LineSink) -> usize {
        let mut total = 0;
        while let Some(chunk) = self.chunks.pop_front() {
            let parser = match &mut self.parser {
                Some(p) => p,
                None => {
                    let grammars = super::follow::choose(&self.name, &chunk, &self.format, sink);
                    self.parser.insert(LineParser::new(&grammars))
                }
            };
            let mut start = 0;
            for end in memchr::memchr_iter(b'\n', &chunk) {
                sink.line(
                    STDIN,
                    &self.name,
                    parser,
                    &chunk[start..=end],
                    self.offset + start as u64,
                );
                start = end + 1;
            }
            if start < chunk.len() {
                // The last line of a pipe that closed without a newline.
                sink.line(
                    STDIN,
                    &self.name,
                    parser,
                    &chunk[start..],
                    self.offset + start as u64,
                );
            }
            self.offset += chunk.len() as u64;
            total += chunk.len();
        }
        total
    }
}

/// Reads standard input on a thread, sending complete lines. A line over
/// the limit is sent cut (the parser rejects it as too long) and the rest
/// of it dropped.
pub(super) fn read_stdin(tx: mpsc::Sender<Wake>) {
    use std::io::Read;
    let spawned = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
            let mut block = vec![0u8; 1 << 16];
            let mut skipping = false;
            loop {
                let n = match stdin.read(&mut block) {
                    Ok(0) => {
                        if !buf.is_empty() && !skipping {
                            let _ = tx.send(Wake::Stdin(std::mem::take(&mut buf)));
                        }
                        let _ = tx.send(Wake::StdinEnd(None));
                        return;
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let _ = tx.send(Wake::StdinEnd(Some(e.to_string())));
                        return;
                    }
                };
                let mut data = &block[..n];
                if skipping {
                    match memchr::memchr(b'\n', data) {
                        Some(i) => {
                            skipping = false;
                            data = &data[i + 1..];
                        }
                        None => continue,
                    }
                }
                buf.extend_from_slice(data);
                if let Some(i) = memchr::memrchr(b'\n', &buf) {
                    let rest = buf.split_off(i + 1);
                    let _ = tx.send(Wake::Stdin(std::mem::replace(&mut buf, rest)));
                } else if buf.len() > crate::parse::MAX_LINE {
                    buf.push(b'\n');
                    let _ = tx.send(Wake::Stdin(std::mem::take(&mut buf)));
                    skipping = true;
                }
            }
        });
    if let Err(e) = spawned {
        say!(Error, "cannot read standard input: {e}");
    }
}

/// Handles one message from the channel.
pub(super) fn take(wake: Wake, stdin: &mut Option<StdinSource>, stop: &AtomicBool) {
    match wake {
        Wake::Fs => {}
        Wake::Stop => stop.store(true, Ordering::SeqCst),
        Wake::Stdin(chunk) => {
            if let Some(s) = stdin.as_mut() {
                s.chunks.push_back(chunk);
            }
        }
        Wake::StdinEnd(error) => {
            if let Some(e) = error {
                say!(Error, "reading standard input: {e}");
            }
            if let Some(s) = stdin.as_mut() {
                s.ended = true;
            }
        }
    }
}
