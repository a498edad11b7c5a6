//! `logspike check`: how well each file parses, and why lines do not.
//!
//! Reads each input once: the head is sampled for detection (unless a
//! grammar was named), then every line is parsed and counted. Lines that do
//! not parse are counted, the first few kept with a reason, and all of them
//! can be copied to a rejects file. A read error mid-file (a truncated gzip
//! member) ends that file with an error that names the offset; the lines
//! before it still count.

use std::io::{self, BufRead, Read, Write};
use std::sync::Arc;

use crate::detect::{self, Detection};
use rayon::prelude::*;

use crate::analysis::{self, Aggregate};
use crate::framing::{self, LineReader};
use crate::grammar::server::ServerFormats;
use crate::grammar::{Grammar, Syntax};
use crate::input::{self, Source};
use crate::parse::{LineParser, Outcome, Timestamp};

/// How a file's grammar is chosen.
#[derive(Clone)]
pub enum FormatChoice {
    /// Detected per file among these candidates.
    Detect(Vec<Arc<Grammar>>),
    /// Named by the user: used for every file. A W3C grammar still follows
    /// the file's own `#Fields:` lines.
    Fixed(Arc<Grammar>),
    /// The format a server config names for the file (or for the file it
    /// was rotated from); detected among the candidates for the others.
    Server {
        candidates: Vec<Arc<Grammar>>,
        server: Arc<ServerFormats>,
    },
}

/// The grammars chosen for one input, and why, in words.
pub struct Chosen {
    pub grammars: Vec<Arc<Grammar>>,
    pub reason: String,
}

impl FormatChoice {
    /// Picks the grammars of the input called `name` from its first bytes.
    /// An empty list means nothing fits: its lines are then rejected.
    pub fn choose(&self, name: &str, head: &[u8]) -> Chosen {
        let detect = |candidates: &[Arc<Grammar>]| match detect::detect_preferring(
            head,
            candidates,
            syntax_hint(name),
        ) {
            Some(Detection {
                grammars, reason, ..
            }) => Chosen { grammars, reason },
            None => Chosen {
                grammars: Vec::new(),
                reason: "no line to detect the format from".into(),
            },
        };
        match self {
            FormatChoice::Fixed(g) => Chosen {
                grammars: vec![g.clone()],
                reason: if g.name == "inline" {
                    "given with --log-format".into()
                } else {
                    "named with --format".into()
                },
            },
            FormatChoice::Detect(candidates) => detect(candidates),
            FormatChoice::Server { candidates, server } => {
                let Some(bound) = server.for_log(std::path::Path::new(name)) else {
                    return detect(candidates);
                };
                let grammars = vec![bound.grammar.clone()];
                let mut reason = bound.describe();
                if let Some(d) = detect::detect(head, &grammars) {
                    if d.grammars.is_empty() || d.parsed * 2 < d.sampled {
                        // The config may be newer than the log: say so,
                        // and still never read the lines another way.
                        reason.push_str(&format!(
                            "; but it fits only {} of {} sampled lines (was the format changed after this log was written?)",
                            d.parsed, d.sampled
                        ));
                    }
                }
                Chosen { grammars, reason }
            }
        }
    }
}

/// A rejected line kept to show.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectSample {
    pub line: u64,
    /// 1-based column (byte) where parsing failed.
    pub column: u64,
    pub reason: String,
    /// The line, escaped for display and cut to a sane length.
    pub text: String,
}

/// The counts for one file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileCheck {
    pub name: String,
    pub compression: Option<&'static str>,
    /// Grammar names, primary first.
    pub grammars: Vec<String>,
    /// Why these grammars.
    pub reason: String,
    pub lines: u64,
    pub parsed: u64,
    pub rejected: u64,
    pub directives: u64,
    pub blank: u64,
    /// Parsed lines that went on after the last field.
    pub trailing: u64,
    /// The first of them, to look at.
    pub first_trailing: Option<u64>,
    /// Rejected because longer than the line limit.
    pub too_long: u64,
    /// Parsed lines per grammar that parsed them, in first-use order.
    pub by_grammar: Vec<(String, u64)>,
    pub first_time: Option<Timestamp>,
    pub last_time: Option<Timestamp>,
    pub samples: Vec<RejectSample>,
    /// A problem that stopped reading this file (the counts cover what
    /// came before it).
    pub error: Option<String>,
}

impl FileCheck {
    /// Parsed share of the lines that should hold data (not blank, not
    /// directives), in percent. An empty file is fully covered.
    pub fn coverage(&self) -> f64 {
        let data = self.parsed + self.rejected;
        if data == 0 {
            if self.error.is_some() {
                0.0
            } else {
                100.0
            }
        } else {
            self.parsed as f64 * 100.0 / data as f64
        }
    }
}

pub struct CheckOptions<'w> {
    pub format: FormatChoice,
    /// How many rejected lines to keep per file.
    pub max_samples: usize,
    /// Every rejected line is copied here, as it was read.
    pub rejects: Option<&'w mut dyn Write>,
    /// Plain files of at least this size are mapped and checked in
    /// parallel chunks.
    pub parallel_min_bytes: u64,
    /// Size of those chunks.
    pub chunk_bytes: usize,
    /// Advanced by input bytes as they are parsed (raw bytes for
    /// compressed files), when a progress bar is shown.
    pub progress: Option<indicatif::ProgressBar>,
}

impl<'w> CheckOptions<'w> {
    pub fn new(format: FormatChoice) -> CheckOptions<'w> {
        CheckOptions {
            format,
            max_samples: 5,
            rejects: None,
            parallel_min_bytes: 4 << 20,
            chunk_bytes: 8 << 20,
            progress: None,
        }
    }
}

/// Checks one input. I/O problems become [`FileCheck::error`], never a
/// panic and never a lost count. A large plain file is memory-mapped and
/// checked in chunks on all cores (unless rejected lines are being written,
/// which must come out in file order); everything else is streamed.
pub fn check_source(source: &Source, options: &mut CheckOptions) -> FileCheck {
    scan_source(source, options, 0, None).0
}

/// What a scan of one input does besides counting.
struct Scan<'a> {
    max_samples: usize,
    analysis: Option<&'a analysis::Config>,
    file: u32,
}

/// Checks one input and, with an analysis configuration, aggregates its
/// records too; `file` is the input's index for error places.
pub fn scan_source(
    source: &Source,
    options: &mut CheckOptions,
    file: u32,
    analysis: Option<&analysis::Config>,
) -> (FileCheck, Option<Aggregate>) {
    let mut result = FileCheck {
        name: source.display(),
        ..FileCheck::default()
    };
    let scan = Scan {
        max_samples: options.max_samples,
        analysis,
        file,
    };
    let mut changed = None;
    if let (Source::Path(path), None) = (source, &options.rejects) {
        match input::map_plain(path, options.parallel_min_bytes) {
            Ok(Some(map)) => {
                result.compression = Some(input::Compression::None.name());
                let release = |range| input::release(&map, range);
                let aggregate = scan_mapped(&map, options, &scan, &mut result, &release);
                let Some((was, now)) = map.shrank() else {
                    return (result, aggregate);
                };
                // What was read past the new end is gone: count the file
                // again as it is now, and say so.
                changed = Some(format!(
                    "changed while being read: it shrank from {was} to {now} bytes (truncated, as a copytruncate rotation does); counted as it is now"
                ));
                result = FileCheck {
                    name: source.display(),
                    ..FileCheck::default()
                };
            }
            Ok(None) => {}
            Err(e) => {
                result.error = Some(e.to_string());
                return (result, analysis.map(Aggregate::new));
            }
        }
    }
    let opened = match input::open_counted(source, options.progress.clone()) {
        Ok(opened) => opened,
        Err(e) => {
            result.error = Some(e.to_string());
            return (result, analysis.map(Aggregate::new));
        }
    };
    result.compression = Some(opened.compression.name());
    let aggregate = scan_reader(opened.reader, options, &scan, &mut result);
    if result.error.is_none() {
        result.error = changed;
    }
    (result, aggregate)
}

/// Picks the grammars for an input from its head, noting why in `result`.
pub(crate) fn choose_grammars(
    head: &[u8],
    format: &FormatChoice,
    result: &mut FileCheck,
) -> Vec<Arc<Grammar>> {
    let Chosen { grammars, reason } = format.choose(&result.name, head);
    result.reason = reason;
    result.grammars = grammar_names(&grammars);
    grammars
}

/// The server a log's path names (`/var/log/apache2/`, `httpd/`,
/// `nginx/`), to tell apart formats whose lines are the same.
pub(crate) fn syntax_hint(path: &str) -> Option<Syntax> {
    let lower = path.to_ascii_lowercase();
    if lower.contains("apache") || lower.contains("httpd") {
        Some(Syntax::Apache)
    } else if lower.contains("nginx") {
        Some(Syntax::Nginx)
    } else {
        None
    }
}

/// Counts lines into a [`FileCheck`]: one per stream, or one per chunk of a
/// mapped file with chunk-relative line numbers, merged afterwards.
struct Counter<'g> {
    grammars: &'g [Arc<Grammar>],
    parser: LineParser,
    /// Parsed lines per grammar index (see [`parser_index`]).
    per_grammar: Vec<u64>,
    part: FileCheck,
    max_samples: usize,
    /// Records also fold into an aggregate when a report is wanted.
    analysis: Option<(&'g analysis::Config, Aggregate)>,
    /// Index of the input, for the places of errors.
    file: u32,
}

impl<'g> Counter<'g> {
    fn new(grammars: &'g [Arc<Grammar>], scan: &Scan<'g>) -> Counter<'g> {
        Counter {
            grammars,
            parser: LineParser::new(grammars),
            per_grammar: Vec::new(),
            part: FileCheck::default(),
            max_samples: scan.max_samples,
            analysis: scan.analysis.map(|c| (c, Aggregate::new(c))),
            file: scan.file,
        }
    }

    /// Counts one line; true when it was rejected.
    fn line(&mut self, bytes: &[u8], number: u64, too_long: Option<u64>) -> bool {
        let part = &mut self.part;
        part.lines += 1;
        let rejected = if let Some(len) = too_long {
            part.too_long += 1;
            Some((
                0,
                format!(
                    "line of {len} bytes is longer than the limit of {} bytes",
                    crate::parse::MAX_LINE
                ),
            ))
        } else {
            match self.parser.parse(bytes) {
                Outcome::Record(record) => {
                    part.parsed += 1;
                    if record.has_trailing() {
                        part.trailing += 1;
                        part.first_trailing.get_or_insert(number);
                    }
                    if let Some(t) = record.time() {
                        part.first_time = Some(part.first_time.map_or(t, |f| f.min(t)));
                        part.last_time = Some(part.last_time.map_or(t, |l| l.max(t)));
                    }
                    let index = parser_index(self.grammars, record.layout().grammar());
                    if self.per_grammar.len() <= index {
                        self.per_grammar.resize(index + 1, 0);
                    }
                    self.per_grammar[index] += 1;
                    if let Some((config, aggregate)) = self.analysis.as_mut() {
                        aggregate.add(&record, self.file, number, config);
                    }
                    None
                }
                Outcome::Directive => {
                    part.directives += 1;
                    None
                }
                Outcome::Blank => {
                    part.blank += 1;
                    None
                }
                Outcome::Rejected(reject) => {
                    let reason = if part.samples.len() < self.max_samples {
                        self.parser.describe(&reject, bytes)
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
        part.rejected += 1;
        if part.samples.len() < self.max_samples {
            part.samples.push(RejectSample {
                line: number,
                column: column + 1,
                reason,
                text: crate::text::escape_truncated(bytes, 300),
            });
        }
        true
    }

    /// Adds the counts of the part that follows this one.
    fn absorb(&mut self, other: Counter) {
        let (a, b) = (&mut self.part, other.part);
        a.lines += b.lines;
        a.parsed += b.parsed;
        a.rejected += b.rejected;
        a.directives += b.directives;
        a.blank += b.blank;
        a.trailing += b.trailing;
        a.too_long += b.too_long;
        a.first_trailing = a.first_trailing.or(b.first_trailing);
        a.first_time = a.first_time.into_iter().chain(b.first_time).min();
        a.last_time = a.last_time.into_iter().chain(b.last_time).max();
        let room = self.max_samples.saturating_sub(a.samples.len());
        a.samples.extend(b.samples.into_iter().take(room));
        if self.per_grammar.len() < other.per_grammar.len() {
            self.per_grammar.resize(other.per_grammar.len(), 0);
        }
        for (x, y) in self.per_grammar.iter_mut().zip(other.per_grammar) {
            *x += y;
        }
        if let (Some((_, mine)), Some((_, theirs))) = (self.analysis.as_mut(), other.analysis) {
            mine.merge(theirs);
        }
    }

    /// Writes the counts into `result`, which holds the name and grammars,
    /// and returns the aggregate if there is one.
    fn finish(self, result: &mut FileCheck) -> Option<Aggregate> {
        let names = grammar_names(self.grammars);
        let part = self.part;
        result.lines = part.lines;
        result.parsed = part.parsed;
        result.rejected = part.rejected;
        result.directives = part.directives;
        result.blank = part.blank;
        result.trailing = part.trailing;
        result.first_trailing = part.first_trailing;
        result.too_long = part.too_long;
        result.first_time = part.first_time;
        result.last_time = part.last_time;
        result.samples = part.samples;
        result.by_grammar = self
            .per_grammar
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(i, &n)| (names.get(i).cloned().unwrap_or_default(), n))
            .collect();
        self.analysis.map(|(_, aggregate)| aggregate)
    }
}

/// Checks lines from any reader; the result's name must be set by the caller.
pub fn check_reader(
    reader: Box<dyn BufRead + Send>,
    options: &mut CheckOptions,
    result: &mut FileCheck,
) {
    let scan = Scan {
        max_samples: options.max_samples,
        analysis: None,
        file: 0,
    };
    scan_reader(reader, options, &scan, result);
}

fn scan_reader(
    mut reader: Box<dyn BufRead + Send>,
    options: &mut CheckOptions,
    scan: &Scan,
    result: &mut FileCheck,
) -> Option<Aggregate> {
    // Read the head for detection, then parse it and the rest as one stream.
    let mut head = Vec::new();
    let head_error = (&mut reader)
        .take(detect::SAMPLE_BYTES as u64)
        .read_to_end(&mut head)
        .err();
    let grammars = choose_grammars(&head, &options.format, result);
    let stream: Box<dyn BufRead + Send> = if head_error.is_some() {
        // The read failed inside the head: what follows the last newline
        // is a line cut by the damage, dropped as the streaming path does.
        let complete = head.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        head.truncate(complete);
        Box::new(io::Cursor::new(head))
    } else {
        Box::new(io::BufReader::new(io::Cursor::new(head).chain(reader)))
    };
    let (counter, error, offset, read) = if options.rejects.is_some() {
        // Rejected lines are written in file order: one thread.
        let mut lines = LineReader::new(stream);
        let mut counter = Counter::new(&grammars, scan);
        let mut error = None;
        loop {
            let line = match lines.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            };
            let rejected = counter.line(line.bytes, line.number, line.too_long);
            if let (true, Some(out)) = (rejected, options.rejects.as_mut()) {
                let written = out.write_all(line.bytes).and_then(|_| out.write_all(b"\n"));
                if let Err(e) = written {
                    result.error = Some(format!("writing rejected lines: {e}"));
                    options.rejects = None;
                }
            }
        }
        (counter, error, lines.offset(), lines.lines_read())
    } else {
        scan_batches(stream, &grammars, scan, options.chunk_bytes)
    };
    if let (Some(e), None) = (error.or(head_error), &result.error) {
        result.error = Some(format!(
            "read error at byte {offset} of the decompressed stream, after line {read}: {e}"
        ));
    }
    counter.finish(result)
}

/// Complete lines of a stream, gathered for one parallel task.
struct Batch {
    /// Whole lines, newline-separated (an over-long line cut short).
    data: Vec<u8>,
    /// Number of the first line.
    first: u64,
    /// Over-long lines: (line number, full length).
    long: Vec<(u64, u64)>,
    /// W3C `#Fields:` lines before this batch, to replay.
    fields: Arc<Vec<Vec<u8>>>,
}

/// The next buffered bytes of a reader, `None` at the end; interrupted
/// reads are retried.
fn next_bytes<R: BufRead>(reader: &mut R) -> io::Result<Option<&[u8]>> {
    loop {
        match reader.fill_buf() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
            Ok(_) => break,
        }
    }
    // Filled: asking again returns the same buffer without reading.
    match reader.fill_buf() {
        Ok([]) => Ok(None),
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) => Err(e),
    }
}

/// Where the reader stopped: the error, if any, bytes consumed, lines read.
type ReadEnd = (Option<io::Error>, u64, u64);

/// Frames a stream into batches of whole lines on the calling thread,
/// block by block (no per-line work but a newline count), and sends them
/// on. A line with no newline within a block longer than a batch is cut to
/// its first bytes and listed as over-long. After a read error the lines
/// before it are sent and the cut line is dropped.
fn read_batches<R: BufRead>(
    mut reader: R,
    batch_bytes: usize,
    w3c: bool,
    send: std::sync::mpsc::SyncSender<(usize, Batch)>,
) -> ReadEnd {
    let batch_bytes = batch_bytes.max(crate::parse::MAX_LINE + 2);
    let mut fields: Arc<Vec<Vec<u8>>> = Arc::new(Vec::new());
    let mut carry: Vec<u8> = Vec::new();
    let (mut offset, mut lines, mut index) = (0u64, 0u64, 0usize);
    loop {
        let mut data = std::mem::take(&mut carry);
        data.reserve(batch_bytes.saturating_sub(data.len()));
        let mut end: Option<Option<io::Error>> = None;
        while data.len() < batch_bytes {
            let available = match next_bytes(&mut reader) {
                Ok(Some(b)) => b,
                Ok(None) => {
                    end = Some(None);
                    break;
                }
                Err(e) => {
                    end = Some(Some(e));
                    break;
                }
            };
            let take = available.len().min(batch_bytes - data.len());
            data.extend_from_slice(&available[..take]);
            reader.consume(take);
            offset += take as u64;
        }
        let mut long = Vec::new();
        match (&end, memchr::memrchr(b'\n', &data)) {
            // At the end of the stream the last line needs no newline.
            (Some(None), _) => {}
            // A read error: the line it cut is dropped.
            (Some(Some(_)), cut) => data.truncate(cut.map_or(0, |c| c + 1)),
            (None, Some(cut)) => carry = data.split_off(cut + 1),
            (None, None) => {
                // A whole batch without a newline: an over-long line. Keep
                // its start and skip the rest of it.
                let mut len = data.len() as u64;
                data.truncate(framing::KEEP_OF_LONG_LINE);
                loop {
                    let available = match next_bytes(&mut reader) {
                        Ok(Some(b)) => b,
                        Ok(None) => {
                            end = Some(None);
                            break;
                        }
                        Err(e) => {
                            end = Some(Some(e));
                            break;
                        }
                    };
                    let (take, done) = match memchr::memchr(b'\n', available) {
                        Some(i) => (i + 1, true),
                        None => (available.len(), false),
                    };
                    len += (take - usize::from(done)) as u64;
                    reader.consume(take);
                    offset += take as u64;
                    if done {
                        break;
                    }
                }
                if matches!(end, Some(Some(_))) {
                    data.clear();
                } else {
                    long.push((lines + 1, len));
                    data.push(b'\n');
                }
            }
        }
        let count = memchr::memchr_iter(b'\n', &data).count() as u64
            + u64::from(data.last().is_some_and(|&b| b != b'\n'));
        if !data.is_empty() {
            let batch = Batch {
                data,
                first: lines + 1,
                long,
                fields: fields.clone(),
            };
            if w3c {
                for start in framing::line_starts_with(&batch.data, b"#Fields:") {
                    let line_end = memchr::memchr(b'\n', &batch.data[start..])
                        .map_or(batch.data.len(), |e| start + e);
                    Arc::make_mut(&mut fields).push(batch.data[start..line_end].to_vec());
                }
            }
            if send.send((index, batch)).is_err() {
                return (None, offset, lines);
            }
            index += 1;
        }
        lines += count;
        if let Some(error) = end {
            return (error, offset, lines);
        }
    }
}

/// Parts finished out of order, absorbed into the total in stream order
/// as soon as they can be, so few are held at once.
struct InOrder<'g> {
    next: usize,
    waiting: std::collections::BTreeMap<usize, Counter<'g>>,
    total: Counter<'g>,
}

/// Parses a stream on all cores: a reader thread decompresses and frames
/// batches of lines ahead of the parsers, a bounded queue keeps memory
/// flat, and the parts merge in stream order as they finish.
fn scan_batches<'g, R: BufRead + Send>(
    stream: R,
    grammars: &'g [Arc<Grammar>],
    scan: &Scan<'g>,
    batch_bytes: usize,
) -> (Counter<'g>, Option<io::Error>, u64, u64) {
    let w3c = grammars
        .first()
        .is_some_and(|g| g.syntax == crate::grammar::Syntax::W3c);
    let (send, receive) = std::sync::mpsc::sync_channel::<(usize, Batch)>(2);
    let merged = std::sync::Mutex::new(InOrder {
        next: 0,
        waiting: std::collections::BTreeMap::new(),
        total: Counter::new(grammars, scan),
    });
    let (error, offset, read) = std::thread::scope(|threads| {
        let reader = threads.spawn(move || read_batches(stream, batch_bytes, w3c, send));
        receive.into_iter().par_bridge().for_each(|(index, batch)| {
            let mut counter = Counter::new(grammars, scan);
            for line in batch.fields.iter() {
                let _ = counter.parser.parse(line);
            }
            feed(&mut counter, &batch.data, batch.first, &batch.long);
            let mut merged = merged.lock().unwrap_or_else(|e| e.into_inner());
            merged.waiting.insert(index, counter);
            loop {
                let next = merged.next;
                let Some(part) = merged.waiting.remove(&next) else {
                    break;
                };
                merged.total.absorb(part);
                merged.next += 1;
            }
        });
        reader.join().unwrap_or((None, 0, 0))
    });
    let merged = merged.into_inner().unwrap_or_else(|e| e.into_inner());
    (merged.total, error, offset, read)
}

/// Counts the lines of `data` (newline-separated), numbered from `first`.
/// A line is over-long when it is longer than the limit, or when `long`
/// lists it (a stream keeps only the start of such lines).
fn feed(counter: &mut Counter, data: &[u8], first: u64, long: &[(u64, u64)]) {
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
        counter.line(shown, number, too_long);
        number += 1;
        from = end + 1;
    }
}

/// Checks a whole file held in memory, in chunks cut on line boundaries,
/// in parallel; the counts equal [`check_reader`]'s on the same bytes,
/// whatever the chunk size or thread count.
pub fn check_mapped(data: &[u8], options: &CheckOptions, result: &mut FileCheck) {
    let scan = Scan {
        max_samples: options.max_samples,
        analysis: None,
        file: 0,
    };
    scan_mapped(data, options, &scan, result, &|_| {});
}

fn scan_mapped(
    data: &[u8],
    options: &CheckOptions,
    scan: &Scan,
    result: &mut FileCheck,
    release: &(dyn Fn(std::ops::Range<usize>) + Sync),
) -> Option<Aggregate> {
    let head = &data[..data.len().min(detect::SAMPLE_BYTES)];
    let grammars = choose_grammars(head, &options.format, result);
    let w3c = grammars
        .first()
        .is_some_and(|g| g.syntax == crate::grammar::Syntax::W3c);
    // A W3C chunk must start with the columns in force where it starts: the
    // `#Fields:` lines before it are replayed into its parser.
    let fields_lines: Vec<usize> = if w3c {
        framing::line_starts_with(data, b"#Fields:")
    } else {
        Vec::new()
    };
    let chunks = framing::chunks(data, options.chunk_bytes);
    let progress = options.progress.clone();
    // Each chunk's first line number, from a newline count (as fast as
    // `wc -l`), so that records and rejections carry absolute numbers.
    let line_counts: Vec<u64> = chunks
        .par_iter()
        .map(|r| {
            let chunk = &data[r.clone()];
            let lines = memchr::memchr_iter(b'\n', chunk).count() as u64
                + u64::from(chunk.last().is_some_and(|&b| b != b'\n'));
            // Keep resident memory flat: the parse pass maps pages again.
            release(r.clone());
            lines
        })
        .collect();
    let firsts: Vec<u64> = line_counts
        .iter()
        .scan(0, |seen, n| {
            let first = *seen;
            *seen += n;
            Some(first)
        })
        .collect();
    // Chunks go in groups of a few per worker: `reduce` combines
    // neighbours in order within a group, and each group then merges into
    // the total in order. One reduce over every chunk would hold a
    // partial per level of its tree on each worker, so memory would grow
    // with the file.
    let group = 16 * rayon::current_num_threads().max(1);
    let mut total = Counter::new(&grammars, scan);
    for (ranges, starts) in chunks.chunks(group).zip(firsts.chunks(group)) {
        let part = scan_group(
            data,
            ranges,
            starts,
            &grammars,
            &fields_lines,
            scan,
            &progress,
            release,
        );
        total.absorb(part);
    }
    total.finish(result)
}

/// One group of chunks of a mapped file, parsed on all cores and merged
/// in order.
#[allow(clippy::too_many_arguments)]
fn scan_group<'g>(
    data: &[u8],
    chunks: &[std::ops::Range<usize>],
    firsts: &[u64],
    grammars: &'g [Arc<Grammar>],
    fields_lines: &[usize],
    scan: &Scan<'g>,
    progress: &Option<indicatif::ProgressBar>,
    release: &(dyn Fn(std::ops::Range<usize>) + Sync),
) -> Counter<'g> {
    chunks
        .par_iter()
        .zip(firsts.par_iter())
        .map(|(range, &first)| {
            let mut counter = Counter::new(grammars, scan);
            for &start in fields_lines.iter().take_while(|&&s| s < range.start) {
                let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |e| start + e);
                let _ = counter.parser.parse(&data[start..end]);
            }
            feed(&mut counter, &data[range.clone()], first + 1, &[]);
            release(range.clone());
            if let Some(bar) = &progress {
                bar.inc(range.len() as u64);
            }
            counter
        })
        .reduce(
            || Counter::new(grammars, scan),
            |mut a, b| {
                a.absorb(b);
                a
            },
        )
}

/// Index for counting which grammar parsed a line: the given grammars by
/// position, any layout a W3C file defined itself after them.
fn parser_index(grammars: &[Arc<Grammar>], grammar: &Arc<Grammar>) -> usize {
    if grammar.syntax == crate::grammar::Syntax::W3c {
        return 0;
    }
    grammars
        .iter()
        .position(|g| Arc::ptr_eq(g, grammar))
        .unwrap_or(0)
}

/// Names to show. A W3C file is parsed with whatever its `#Fields:` lines
/// say, so it is shown as one grammar.
pub fn grammar_names(grammars: &[Arc<Grammar>]) -> Vec<String> {
    match grammars.first() {
        Some(g) if g.syntax == crate::grammar::Syntax::W3c => {
            vec!["iis (W3C, columns from each #Fields line)".to_string()]
        }
        _ => grammars.iter().map(|g| g.name.clone()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grammar::builtin;

    fn streamed(data: &[u8], format: &FormatChoice) -> FileCheck {
        let mut options = CheckOptions::new(format.clone());
        let mut result = FileCheck::default();
        check_reader(
            Box::new(io::Cursor::new(data.to_vec())),
            &mut options,
            &mut result,
        );
        result
    }

    fn mapped(data: &[u8], format: &FormatChoice, chunk_bytes: usize) -> FileCheck {
        let mut options = CheckOptions::new(format.clone());
        options.chunk_bytes = chunk_bytes;
        let mut result = FileCheck::default();
        check_mapped(data, &options, &mut result);
        result
    }

    /// Streams are framed into batches of about a megabyte at least; a
    /// few megabytes of input make several, parsed out of order and merged
    /// in order. W3C `#Fields:` lines must carry across batch boundaries.
    #[test]
    fn streamed_batches_equal_one_mapped_pass() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
        let detect = FormatChoice::Detect(builtin::all().to_vec());
        for name in ["iis/u_ex261128.log", "formats/nginx-combined.log"] {
            let one = std::fs::read(dir.join(name)).unwrap();
            let data: Vec<u8> = one.repeat((3 << 20) / one.len() + 1);
            let want = mapped(&data, &detect, usize::MAX / 2);
            let mut options = CheckOptions::new(detect.clone());
            options.chunk_bytes = 1;
            let mut got = FileCheck::default();
            check_reader(
                Box::new(io::Cursor::new(data.clone())),
                &mut options,
                &mut got,
            );
            assert_eq!(got, want, "{name}");
            assert!(got.parsed > 10_000, "{name}: {}", got.parsed);
        }
    }

    /// The same answer on every path: streamed, or mapped in chunks of any
    /// size (down to one byte, which puts a boundary after every line).
    #[test]
    fn chunked_check_equals_streamed_check() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
        let mut inputs: Vec<Vec<u8>> = vec![
            std::fs::read(dir.join("nginx/access.log")).unwrap(),
            std::fs::read(dir.join("iis/u_ex261128.log")).unwrap(),
            std::fs::read(dir.join("apache/access_log")).unwrap(),
        ];
        let mut ugly = std::fs::read(dir.join("formats/nginx-combined.log")).unwrap();
        ugly.extend_from_slice(b"\n\r\n\0\0junk\xff\n");
        ugly.extend(std::iter::repeat_n(b'x', crate::parse::MAX_LINE + 5));
        ugly.extend_from_slice(b"\nlast line without newline");
        inputs.push(ugly);
        let detect = FormatChoice::Detect(builtin::all().to_vec());
        for data in &inputs {
            let want = streamed(data, &detect);
            assert!(want.lines > 0);
            for chunk in [1, 7, 1000, 64 << 10, usize::MAX / 2] {
                assert_eq!(mapped(data, &detect, chunk), want, "chunk {chunk}");
            }
        }
    }
}
