//! The scan engine: one input's lines parsed on all cores, in order.
//!
//! An input is cut into chunks: a large plain file is memory-mapped and cut
//! on line boundaries; anything else (compressed files, pipes, standard
//! input, small files) is read on a thread of its own and framed into
//! batches of whole lines ([`framing::read_batches`]). Each chunk is parsed
//! by a worker with its own [`LineParser`] (a W3C chunk first replays the
//! `#Fields:` lines before it), counted, and fed to a [`Sink`]; finished
//! chunks are merged in input order, so counts, line numbers, rejected
//! lines and whatever the sink writes come out as if one thread had read
//! the input from start to end. Workers claim chunks in order, so only a
//! few parts wait to be merged at any time: memory does not grow with the
//! input.
//!
//! The engine always counts (a [`FileCheck`]); a job adds a sink: `check`
//! none ([`Count`]), `report` the analysis aggregate, `export` Parquet
//! rows.

use std::io::{self, BufRead, Read, Write};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use crate::detect::{self, Chosen, FormatChoice};
use crate::framing::{self, Batch};
use crate::grammar::{Grammar, Syntax};
use crate::input::{self, Source};
use crate::parse::Record;

mod counts;
mod engine;

pub use counts::{FileCheck, RejectSample};
use engine::Engine;

/// What a job does with the records of one input.
///
/// `part` and `record` run on many threads at once, one part per chunk;
/// `merge` takes the parts one at a time, in input order.
pub trait Sink: Sync {
    /// What one chunk builds.
    type Part: Send;
    /// Why a merge failed (the output could not be written): the scan
    /// stops there.
    type Error: Send;
    /// Told the grammars chosen for the input, before its first part.
    fn begin(&self, grammars: &[Arc<Grammar>]) {
        let _ = grammars;
    }
    fn part(&self) -> Self::Part;
    /// A parsed record of the chunk; `line` is its 1-based number in the
    /// input.
    fn record(&self, part: &mut Self::Part, record: &Record<'_>, line: u64);
    /// Takes the next part of the input.
    fn merge(&self, part: Self::Part) -> Result<(), Self::Error>;
    /// Forgets everything merged, so that the input can be read again from
    /// its start (it shrank while being read); false when what was merged
    /// is out of reach already (written to files).
    fn restart(&self) -> bool {
        false
    }
}

/// Two sinks fed by one scan (the rows and the rollups of one export):
/// each record goes to both, each part merges into both, the first error
/// stops the scan. It restarts only if both can.
pub struct Both<'s, A, B>(pub &'s A, pub &'s B);

impl<A: Sink, B: Sink<Error = A::Error>> Sink for Both<'_, A, B> {
    type Part = (A::Part, B::Part);
    type Error = A::Error;

    fn begin(&self, grammars: &[Arc<Grammar>]) {
        self.0.begin(grammars);
        self.1.begin(grammars);
    }

    fn part(&self) -> Self::Part {
        (self.0.part(), self.1.part())
    }

    fn record(&self, part: &mut Self::Part, record: &Record<'_>, line: u64) {
        self.0.record(&mut part.0, record, line);
        self.1.record(&mut part.1, record, line);
    }

    fn merge(&self, part: Self::Part) -> Result<(), Self::Error> {
        self.0.merge(part.0)?;
        self.1.merge(part.1)
    }

    fn restart(&self) -> bool {
        self.0.restart() && self.1.restart()
    }
}

/// The sink of a job that only counts.
pub struct Count;

impl Sink for Count {
    type Part = ();
    type Error = std::convert::Infallible;
    fn part(&self) {}
    fn record(&self, _: &mut (), _: &Record<'_>, _: u64) {}
    fn merge(&self, _: ()) -> Result<(), Self::Error> {
        Ok(())
    }
    fn restart(&self) -> bool {
        true
    }
}

/// How inputs are scanned, whatever the job.
pub struct ScanOptions<'w> {
    pub format: FormatChoice,
    /// How many rejected lines to keep per input.
    pub max_samples: usize,
    /// Every rejected line is copied here, as it was read, in input order.
    pub rejects: Option<&'w mut (dyn Write + Send)>,
    /// Plain files of at least this size are mapped; smaller ones are
    /// streamed.
    pub parallel_min_bytes: u64,
    /// Size of the chunks (of a mapped file) and batches (of a stream).
    pub chunk_bytes: usize,
    /// Advanced by input bytes as they are parsed (raw bytes for
    /// compressed files), when a progress bar is shown.
    pub progress: Option<indicatif::ProgressBar>,
    /// The run's sources, for reading the next compressed one ahead (see
    /// [`input::ReadAhead`]); set with [`ScanOptions::read_ahead`].
    pub ahead: Option<Arc<input::ReadAhead>>,
}

impl<'w> ScanOptions<'w> {
    pub fn new(format: FormatChoice) -> ScanOptions<'w> {
        ScanOptions {
            format,
            max_samples: 5,
            rejects: None,
            parallel_min_bytes: 4 << 20,
            chunk_bytes: 8 << 20,
            progress: None,
            ahead: None,
        }
    }

    /// Reads the next compressed file of `sources` ahead while one ends,
    /// for a run that scans them in this order.
    pub fn read_ahead(&mut self, sources: &[Source]) {
        if sources.len() > 1 {
            self.ahead = Some(Arc::new(input::ReadAhead::new(sources)));
        }
    }
}

/// Scans one input into `sink`. I/O problems become [`FileCheck::error`],
/// never a panic and never a lost count; the error of a failed merge ends
/// the scan and is returned.
pub fn scan<S: Sink>(
    source: &Source,
    options: &mut ScanOptions,
    sink: &S,
) -> Result<FileCheck, S::Error> {
    let mut result = FileCheck {
        name: source.display(),
        ..FileCheck::default()
    };
    let mut changed = None;
    let ahead = options.ahead.as_ref().and_then(|a| a.take(source));
    if let (Source::Path(path), None) = (source, &ahead) {
        match input::map_plain(path, options.parallel_min_bytes) {
            Ok(Some(map)) => {
                result.compression = Some(input::Compression::None.name());
                let release = |range| input::release(&map, range);
                scan_mapped(&map, options, sink, &mut result, &release)?;
                let Some((was, now)) = map.shrank() else {
                    return Ok(result);
                };
                let what = format!(
                    "changed while being read: it shrank from {was} to {now} bytes (truncated, as a copytruncate rotation does)"
                );
                if !sink.restart() {
                    // What was merged stays; the end read as zeros was
                    // counted as rejected.
                    result.error = Some(format!(
                        "{what}; what was read before is kept, the end read as zeros is counted as rejected"
                    ));
                    return Ok(result);
                }
                // What was read past the new end is gone: read the file
                // again as it is now, and say so.
                changed = Some(format!("{what}; counted as it is now"));
                result = FileCheck {
                    name: source.display(),
                    ..FileCheck::default()
                };
            }
            Ok(None) => {}
            Err(e) => {
                result.error = Some(e.to_string());
                return Ok(result);
            }
        }
    }
    let opened =
        match ahead.unwrap_or_else(|| input::open_counted(source, options.progress.clone())) {
            Ok(opened) => opened,
            Err(e) => {
                result.error = Some(e.to_string());
                return Ok(result);
            }
        };
    result.compression = Some(opened.compression.name());
    scan_reader(opened.reader, options, sink, &mut result)?;
    if result.error.is_none() {
        result.error = changed;
    }
    Ok(result)
}

/// Picks the grammars for an input from its head, noting why in `result`.
fn choose_grammars(
    head: &[u8],
    format: &FormatChoice,
    result: &mut FileCheck,
) -> Vec<Arc<Grammar>> {
    let Chosen { grammars, reason } = format.choose(&result.name, head);
    result.reason = reason;
    result.grammars = grammar_names(&grammars);
    grammars
}

/// Scans lines from any reader (decompressed already); the result's name
/// must be set by the caller.
pub fn scan_reader<S: Sink>(
    mut reader: Box<dyn BufRead + Send>,
    options: &mut ScanOptions,
    sink: &S,
    result: &mut FileCheck,
) -> Result<(), S::Error> {
    // The head is read for detection, then parsed with the rest.
    let mut head = Vec::new();
    let head_error = (&mut reader)
        .take(detect::SAMPLE_BYTES as u64)
        .read_to_end(&mut head)
        .err();
    let grammars = choose_grammars(&head, &options.format, result);
    let stream: Box<dyn BufRead + Send> = if head_error.is_some() {
        // The read failed inside the head: what follows the last newline
        // is a line cut by the damage, dropped as for any read error.
        let complete = head.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        head.truncate(complete);
        Box::new(io::Cursor::new(head))
    } else {
        Box::new(io::BufReader::new(io::Cursor::new(head).chain(reader)))
    };
    let w3c = is_w3c(&grammars);
    sink.begin(&grammars);
    let engine = Engine::new(&grammars, options, sink);
    let (send, receive) = std::sync::mpsc::sync_channel::<(usize, Batch)>(2);
    let chunk_bytes = options.chunk_bytes;
    let (ahead, progress) = (options.ahead.clone(), options.progress.clone());
    let (error, offset, read) = std::thread::scope(|threads| {
        let reader = threads.spawn(move || {
            let end = framing::read_batches(stream, chunk_bytes, w3c, send);
            // The workers are finishing this input's last batches: a core
            // is free to start on the next input.
            if let Some(ahead) = ahead {
                ahead.read_next(progress);
            }
            end
        });
        receive.into_iter().par_bridge().for_each(|(index, batch)| {
            engine.admit(index);
            let replay = batch.fields.iter().map(|l| l.as_slice());
            let part = engine.chunk(replay, &batch.data, batch.first, &batch.long);
            engine.offer(index, part);
        });
        reader.join().unwrap_or((None, 0, 0))
    });
    let outcome = engine.finish(result, options);
    if let (Some(e), None) = (error.or(head_error), &result.error) {
        result.error = Some(format!(
            "read error at byte {offset} of the decompressed stream, after line {read}: {e}"
        ));
    }
    outcome
}

/// Scans a whole file held in memory, in chunks cut on line boundaries;
/// the answer equals [`scan_reader`]'s on the same bytes, whatever the
/// chunk size or thread count. `release` is told of each range once it has
/// been read (a mapped file gives its pages back).
pub fn scan_mapped<S: Sink>(
    data: &[u8],
    options: &mut ScanOptions,
    sink: &S,
    result: &mut FileCheck,
    release: &(dyn Fn(std::ops::Range<usize>) + Sync),
) -> Result<(), S::Error> {
    let head = &data[..data.len().min(detect::SAMPLE_BYTES)];
    let grammars = choose_grammars(head, &options.format, result);
    // A W3C chunk must start with the columns in force where it starts: the
    // `#Fields:` lines before it are replayed into its parser.
    let fields_lines: Vec<usize> = if is_w3c(&grammars) {
        framing::line_starts_with(data, b"#Fields:")
    } else {
        Vec::new()
    };
    let line_at = |start: usize| {
        let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |e| start + e);
        &data[start..end]
    };
    let chunks = framing::chunks(data, options.chunk_bytes);
    // Records and rejections carry absolute line numbers: a chunk's first
    // line is the sum of the line counts of the chunks before it.
    let count = |index: usize| {
        let chunk = &data[chunks[index].clone()];
        memchr::memchr_iter(b'\n', chunk).count() as u64
            + u64::from(chunk.last().is_some_and(|&b| b != b'\n'))
    };
    let lines = Lines::new(chunks.len());
    let progress = options.progress.clone();
    sink.begin(&grammars);
    let engine = Engine::new(&grammars, options, sink);
    // Workers claim chunks in file order and wait when too far ahead of
    // the merge (see `Engine::admit`), so the parts waiting to be merged
    // are few whatever the file's size and however slow the sink.
    let next = AtomicUsize::new(0);
    let workers = rayon::current_num_threads().clamp(1, chunks.len().max(1));
    (0..workers).into_par_iter().for_each(|_| loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let Some(range) = chunks.get(index) else {
            break;
        };
        engine.admit(index);
        let chunk = &data[range.clone()];
        let first = lines.first(index, count);
        let replay = fields_lines
            .iter()
            .take_while(|&&s| s < range.start)
            .map(|&s| line_at(s));
        let part = engine.chunk(replay, chunk, first + 1, &[]);
        match &part {
            Some(part) => lines.counted(index, part.counts.lines),
            None => lines.counted(index, count(index)),
        }
        release(range.clone());
        if let Some(bar) = &progress {
            bar.inc(range.len() as u64);
        }
        engine.offer(index, part);
    });
    engine.finish(result, options)
}

/// A chunk whose lines are not counted yet.
const NOT_YET: u64 = u64::MAX;

/// The chunks' line counts, and each chunk's first line. The worker of a
/// chunk gives its count once it has parsed it. A worker whose chunk's
/// first line is not known yet counts the chunks before it that nobody
/// has counted (as fast as `wc -l`) instead of waiting for their parse:
/// on one thread no chunk is counted apart from its parse, on more each
/// is counted at most once or twice, and no worker ever waits.
struct Lines {
    counts: Vec<AtomicU64>,
    /// The first chunk whose count the cursor has not added, and the
    /// lines before it.
    cursor: Mutex<(usize, u64)>,
}

impl Lines {
    fn new(chunks: usize) -> Lines {
        Lines {
            counts: (0..chunks).map(|_| AtomicU64::new(NOT_YET)).collect(),
            cursor: Mutex::new((0, 0)),
        }
    }

    fn counted(&self, index: usize, lines: u64) {
        self.counts[index].store(lines, Ordering::Release);
    }

    /// The lines before chunk `index`; `count` counts a chunk's lines.
    fn first(&self, index: usize, count: impl Fn(usize) -> u64) -> u64 {
        let (mut upto, mut lines) = *self.cursor.lock().unwrap_or_else(|e| e.into_inner());
        // A worker slow to get here after claiming its chunk can find the
        // cursor past it (a later chunk's worker moved it): it sums from
        // the start, every count before its chunk being in by then.
        if upto > index {
            (upto, lines) = (0, 0);
        }
        // Summed outside the lock: counting a chunk takes a while, and
        // another worker may be summing the same counts; both agree.
        while upto < index {
            let mut n = self.counts[upto].load(Ordering::Acquire);
            if n == NOT_YET {
                n = count(upto);
                self.counted(upto, n);
            }
            lines += n;
            upto += 1;
        }
        let mut cursor = self.cursor.lock().unwrap_or_else(|e| e.into_inner());
        if cursor.0 < upto {
            *cursor = (upto, lines);
        }
        lines
    }
}

/// More workers than this many per core only add switching: `--threads
/// 10000` once took 43 s on a 4.5 MB file.
pub const THREADS_PER_CORE: usize = 4;

/// Sets the number of workers when one is asked for, at most
/// [`THREADS_PER_CORE`] per core; says so when it capped the number.
pub fn use_threads(threads: Option<usize>) -> Result<Option<String>, rayon::ThreadPoolBuildError> {
    let Some(asked) = threads else {
        return Ok(None);
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let most = cores * THREADS_PER_CORE;
    let threads = asked.min(most);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()?;
    Ok((threads < asked).then(|| {
        format!(
            "--threads {asked} capped at {threads} ({THREADS_PER_CORE} per core on {cores} cores)"
        )
    }))
}

fn is_w3c(grammars: &[Arc<Grammar>]) -> bool {
    grammars.first().is_some_and(|g| g.syntax == Syntax::W3c)
}

/// Names to show. A W3C file is parsed with whatever its `#Fields:` lines
/// say, so it is shown as one grammar.
pub fn grammar_names(grammars: &[Arc<Grammar>]) -> Vec<String> {
    match grammars.first() {
        Some(g) if g.syntax == Syntax::W3c => {
            vec!["iis (W3C, columns from each #Fields line)".to_string()]
        }
        _ => grammars.iter().map(|g| g.name.clone()).collect(),
    }
}

#[cfg(test)]
mod tests;
