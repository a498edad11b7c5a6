//! The in-order merge: each worker parses a chunk into a part of its
//! own, and whichever worker finds the next part in input order ready
//! merges it, so the total reads as if one thread had read the input.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use super::counts::absorb;
use super::{grammar_names, FileCheck, RejectSample, ScanOptions, Sink};
use crate::framing;
use crate::grammar::{Grammar, Syntax};
use crate::parse::{LineParser, Outcome};

/// Counts and the sink's part for one chunk.
pub(super) struct Part<P> {
    pub(super) counts: FileCheck,
    /// Parsed lines per grammar index (see [`parser_index`]).
    per_grammar: Vec<u64>,
    /// The chunk's rejected lines, when they are being written.
    rejects: Vec<u8>,
    sink: P,
}

/// Finished parts waiting for their turn to merge.
struct Waiting<P> {
    /// Index of the part to merge next.
    next: usize,
    parts: BTreeMap<usize, Part<P>>,
}

/// What has been merged so far, in input order.
struct Total<'w, E> {
    counts: FileCheck,
    per_grammar: Vec<u64>,
    rejects: Option<&'w mut (dyn Write + Send)>,
    rejects_error: Option<String>,
    error: Option<E>,
}

/// One scan's shared state: what every worker reads, the parts waiting
/// for their turn, and the total they merge into.
pub(super) struct Engine<'a, 'w, S: Sink> {
    grammars: &'a [Arc<Grammar>],
    sink: &'a S,
    max_samples: usize,
    keep_rejects: bool,
    waiting: Mutex<Waiting<S::Part>>,
    /// How many chunks past the next to merge a worker may start: a sink
    /// that merges slower than the workers parse (export writing Parquet,
    /// more so to a slow disk) would otherwise hold every chunk parsed.
    ahead: usize,
    /// Told when the next part to merge changes, or the scan stops.
    turn: Condvar,
    total: Mutex<Total<'w, S::Error>>,
    /// Set when a merge failed: the chunks still to come are skipped.
    stopped: AtomicBool,
}

impl<'a, 'w, S: Sink> Engine<'a, 'w, S> {
    pub(super) fn new(
        grammars: &'a [Arc<Grammar>],
        options: &mut ScanOptions<'w>,
        sink: &'a S,
    ) -> Engine<'a, 'w, S> {
        let rejects = options.rejects.take();
        Engine {
            grammars,
            sink,
            max_samples: options.max_samples,
            keep_rejects: rejects.is_some(),
            waiting: Mutex::new(Waiting {
                next: 0,
                parts: BTreeMap::new(),
            }),
            ahead: 2 * rayon::current_num_threads().max(1),
            turn: Condvar::new(),
            total: Mutex::new(Total {
                counts: FileCheck::default(),
                per_grammar: Vec::new(),
                rejects,
                rejects_error: None,
                error: None,
            }),
            stopped: AtomicBool::new(false),
        }
    }

    /// Parses the lines of `data` (newline-separated), numbered from
    /// `first`, after replaying `replay` (directives in force). A line is
    /// over-long when it is longer than the limit, or when `long` lists it
    /// (a stream keeps only the start of such lines).
    pub(super) fn chunk<'d>(
        &self,
        replay: impl Iterator<Item = &'d [u8]>,
        data: &[u8],
        first: u64,
        long: &[(u64, u64)],
    ) -> Option<Part<S::Part>> {
        if self.stopped.load(Ordering::Relaxed) {
            return None;
        }
        let mut parser = LineParser::new(self.grammars);
        for line in replay {
            let _ = parser.parse(line);
        }
        let mut part = Part {
            counts: FileCheck::default(),
            per_grammar: Vec::new(),
            rejects: Vec::new(),
            sink: self.sink.part(),
        };
        let mut number = first;
        let mut from = 0;
        let mut long = long.iter().peekable();
        while from < data.len() {
            let end = memchr::memchr(b'\n', &data[from..]).map_or(data.len(), |e| from + e);
            let line = &data[from..end];
            let listed = long.next_if(|(n, _)| *n == number).map(|&(_, len)| len);
            let too_long =
                listed.or((line.len() > crate::parse::MAX_LINE).then_some(line.len() as u64));
            let shown = &line[..line.len().min(if too_long.is_some() {
                framing::KEEP_OF_LONG_LINE
            } else {
                usize::MAX
            })];
            if self.line(&mut parser, &mut part, shown, number, too_long) && self.keep_rejects {
                part.rejects.extend_from_slice(shown);
                part.rejects.push(b'\n');
            }
            number += 1;
            from = end + 1;
        }
        Some(part)
    }

    /// Counts one line; true when it was rejected.
    fn line(
        &self,
        parser: &mut LineParser,
        part: &mut Part<S::Part>,
        bytes: &[u8],
        number: u64,
        too_long: Option<u64>,
    ) -> bool {
        let counts = &mut part.counts;
        counts.lines += 1;
        let rejected = if let Some(len) = too_long {
            counts.too_long += 1;
            Some((
                0,
                format!(
                    "line of {len} bytes is longer than the limit of {} bytes",
                    crate::parse::MAX_LINE
                ),
            ))
        } else {
            match parser.parse(bytes) {
                Outcome::Record(record) => {
                    counts.parsed += 1;
                    if record.has_trailing() {
                        counts.trailing += 1;
                        counts.first_trailing.get_or_insert(number);
                    }
                    if let Some(t) = record.time() {
                        counts.first_time = Some(counts.first_time.map_or(t, |f| f.min(t)));
                        counts.last_time = Some(counts.last_time.map_or(t, |l| l.max(t)));
                    }
                    let index = parser_index(self.grammars, record.layout().grammar());
                    if part.per_grammar.len() <= index {
                        part.per_grammar.resize(index + 1, 0);
                    }
                    part.per_grammar[index] += 1;
                    self.sink.record(&mut part.sink, &record, number);
                    None
                }
                Outcome::Directive => {
                    counts.directives += 1;
                    None
                }
                Outcome::Blank => {
                    counts.blank += 1;
                    None
                }
                Outcome::Rejected(reject) => {
                    let reason = if counts.samples.len() < self.max_samples {
                        parser.describe(&reject, bytes)
                    } else {
                        String::new()
                    };
                    Some((reject.column as u64, reason))
                }
            }
        };
        let Some((column, reason)) = rejected else {
            return false;
        };
        counts.rejected += 1;
        if counts.samples.len() < self.max_samples {
            counts.samples.push(RejectSample {
                line: number,
                column: column + 1,
                reason,
                text: crate::text::escape_truncated(bytes, 300),
            });
        }
        true
    }

    /// Waits until chunk `index` is near enough the merge to be parsed.
    /// The worker with the next chunk to merge never waits, so the merge
    /// always goes on.
    pub(super) fn admit(&self, index: usize) {
        let mut waiting = lock(&self.waiting);
        while index >= waiting.next + self.ahead && !self.stopped.load(Ordering::Relaxed) {
            waiting = self.turn.wait(waiting).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Hands in chunk `index`'s part; whoever finds the next part ready
    /// merges it (and any that follow), while the others go on parsing.
    pub(super) fn offer(&self, index: usize, part: Option<Part<S::Part>>) {
        let Some(part) = part else { return };
        lock(&self.waiting).parts.insert(index, part);
        loop {
            let Ok(mut total) = self.total.try_lock() else {
                // Another worker is merging; it looks again when done.
                return;
            };
            while let Some(part) = self.next_ready() {
                self.merge(&mut total, part);
            }
            drop(total);
            // A part that arrived after the last look, while the merge
            // lock was still held, found it taken: look once more.
            let waiting = lock(&self.waiting);
            if !waiting.parts.contains_key(&waiting.next) {
                return;
            }
        }
    }

    fn next_ready(&self) -> Option<Part<S::Part>> {
        let mut waiting = lock(&self.waiting);
        let next = waiting.next;
        let part = waiting.parts.remove(&next)?;
        waiting.next += 1;
        self.turn.notify_all();
        Some(part)
    }

    fn merge(&self, total: &mut Total<'w, S::Error>, part: Part<S::Part>) {
        if total.error.is_some() {
            return;
        }
        absorb(&mut total.counts, part.counts, self.max_samples);
        if total.per_grammar.len() < part.per_grammar.len() {
            total.per_grammar.resize(part.per_grammar.len(), 0);
        }
        for (x, y) in total.per_grammar.iter_mut().zip(part.per_grammar) {
            *x += y;
        }
        if let Some(out) = total.rejects.as_mut() {
            if let Err(e) = out.write_all(&part.rejects) {
                total.rejects_error = Some(format!("writing rejected lines: {e}"));
                total.rejects = None;
            }
        }
        if let Err(e) = self.sink.merge(part.sink) {
            total.error = Some(e);
            self.stopped.store(true, Ordering::Relaxed);
            // Under the lock the waiters check it in: none misses this.
            let _waiting = lock(&self.waiting);
            self.turn.notify_all();
        }
    }

    /// Merges what is left and writes the counts into `result`, which
    /// holds the name and grammars; the rejects writer goes back to the
    /// options for the next input.
    pub(super) fn finish(
        self,
        result: &mut FileCheck,
        options: &mut ScanOptions<'w>,
    ) -> Result<(), S::Error> {
        {
            // Each part was merged by the worker that found it ready; a
            // part left behind would be merged here, not lost.
            let mut total = lock(&self.total);
            while let Some(part) = self.next_ready() {
                self.merge(&mut total, part);
            }
        }
        let mut total = self.total.into_inner().unwrap_or_else(|e| e.into_inner());
        options.rejects = total.rejects.take();
        if let Some(e) = total.error {
            return Err(e);
        }
        let names = grammar_names(self.grammars);
        let counts = total.counts;
        result.lines = counts.lines;
        result.parsed = counts.parsed;
        result.rejected = counts.rejected;
        result.directives = counts.directives;
        result.blank = counts.blank;
        result.trailing = counts.trailing;
        result.first_trailing = counts.first_trailing;
        result.too_long = counts.too_long;
        result.first_time = counts.first_time;
        result.last_time = counts.last_time;
        result.samples = counts.samples;
        result.by_grammar = total
            .per_grammar
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(i, &n)| (names.get(i).cloned().unwrap_or_default(), n))
            .collect();
        if result.error.is_none() {
            result.error = total.rejects_error;
        }
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Index for counting which grammar parsed a line: the given grammars by
/// position, any layout a W3C file defined itself after them.
fn parser_index(grammars: &[Arc<Grammar>], grammar: &Arc<Grammar>) -> usize {
    if grammar.syntax == Syntax::W3c {
        return 0;
    }
    grammars
        .iter()
        .position(|g| Arc::ptr_eq(g, grammar))
        .unwrap_or(0)
}
