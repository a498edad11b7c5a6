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
use crate::framing::LineReader;
use crate::grammar::Grammar;
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
}

/// A rejected line kept to show.
#[derive(Debug, Clone)]
pub struct RejectSample {
    pub line: u64,
    /// 1-based column (byte) where parsing failed.
    pub column: u64,
    pub reason: String,
    /// The line, escaped for display and cut to a sane length.
    pub text: String,
}

/// The counts for one file.
#[derive(Debug, Clone, Default)]
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
}

/// Checks one input. I/O problems become [`FileCheck::error`], never a
/// panic and never a lost count.
pub fn check_source(source: &Source, options: &mut CheckOptions) -> FileCheck {
    let mut result = FileCheck {
        name: source.display(),
        ..FileCheck::default()
    };
    let opened = match input::open(source) {
        Ok(opened) => opened,
        Err(e) => {
            result.error = Some(e.to_string());
            return result;
        }
    };
    result.compression = Some(opened.compression.name());
    check_reader(opened.reader, options, &mut result);
    result
}

/// Checks lines from any reader; the result's name must be set by the caller.
pub fn check_reader(
    mut reader: Box<dyn BufRead + Send>,
    options: &mut CheckOptions,
    result: &mut FileCheck,
) {
    // Read the head for detection, then parse it and the rest as one stream.
    let mut head = Vec::new();
    let head_error = (&mut reader)
        .take(detect::SAMPLE_BYTES as u64)
        .read_to_end(&mut head)
        .err();
    let grammars = match &options.format {
        FormatChoice::Fixed(g) => {
            result.reason = "named with --format".into();
            vec![g.clone()]
        }
        FormatChoice::Detect(candidates) => match detect::detect(&head, candidates) {
            Some(Detection {
                grammars, reason, ..
            }) => {
                result.reason = reason;
                grammars
            }
            None => {
                result.reason = "no known format parses any sampled line; \
                                 name one with --format or --log-format"
                    .into();
                candidates.first().cloned().into_iter().collect()
            }
        },
    };
    result.grammars = grammar_names(&grammars);
    let mut parser = LineParser::new(&grammars);
    let stream: Box<dyn BufRead> = if head_error.is_some() {
        // The read failed inside the head: what follows the last newline
        // is a line cut by the damage, dropped as the streaming path does.
        let complete = head.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        head.truncate(complete);
        Box::new(io::Cursor::new(head))
    } else {
        Box::new(io::BufReader::new(io::Cursor::new(head).chain(reader)))
    };
    let mut lines = LineReader::new(stream);
    let mut counts: Vec<u64> = Vec::new();
    loop {
        let line = match lines.next_line() {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => {
                result.error = Some(format!(
                    "read error at byte {} of the decompressed stream, after line {}: {e}",
                    lines.offset(),
                    lines.lines_read()
                ));
                break;
            }
        };
        result.lines += 1;
        let rejected = if line.too_long.is_some() {
            result.too_long += 1;
            Some((
                0,
                format!(
                    "line of {} bytes is longer than the limit of {} bytes",
                    line.too_long.unwrap_or(0),
                    crate::parse::MAX_LINE
                ),
            ))
        } else {
            match parser.parse(line.bytes) {
                Outcome::Record(record) => {
                    result.parsed += 1;
                    if record.has_trailing() {
                        result.trailing += 1;
                        result.first_trailing.get_or_insert(line.number);
                    }
                    if let Some(t) = record.time() {
                        result.first_time = Some(result.first_time.map_or(t, |f| f.min(t)));
                        result.last_time = Some(result.last_time.map_or(t, |l| l.max(t)));
                    }
                    let layout = record.layout();
                    let index = parser_index(&grammars, layout.grammar());
                    if counts.len() <= index {
                        counts.resize(index + 1, 0);
                    }
                    counts[index] += 1;
                    None
                }
                Outcome::Directive => {
                    result.directives += 1;
                    None
                }
                Outcome::Blank => {
                    result.blank += 1;
                    None
                }
                Outcome::Rejected(reject) => {
                    let reason = if result.samples.len() < options.max_samples {
                        parser.describe(&reject, line.bytes)
                    } else {
                        String::new()
                    };
                    Some((reject.column as u64, reason))
                }
            }
        };
        if let Some((column, reason)) = rejected {
            result.rejected += 1;
            if result.samples.len() < options.max_samples {
                result.samples.push(RejectSample {
                    line: line.number,
                    column: column + 1,
                    reason,
                    text: crate::text::escape_truncated(line.bytes, 300),
                });
            }
            if let Some(out) = options.rejects.as_mut() {
                let written = out.write_all(line.bytes).and_then(|_| out.write_all(b"\n"));
                if let Err(e) = written {
                    result.error = Some(format!("writing rejected lines: {e}"));
                    options.rejects = None;
                }
            }
        }
    }
    if let (Some(e), None) = (head_error, &result.error) {
        result.error = Some(format!(
            "read error at byte {} of the decompressed stream, after line {}: {e}",
            lines.offset(),
            lines.lines_read()
        ));
    }
    let names = grammar_names(&grammars);
    result.by_grammar = counts
        .iter()
        .enumerate()
        .filter(|(_, &n)| n > 0)
        .map(|(i, &n)| (names.get(i).cloned().unwrap_or_default(), n))
        .collect();
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
fn grammar_names(grammars: &[Arc<Grammar>]) -> Vec<String> {
    match grammars.first() {
        Some(g) if g.syntax == crate::grammar::Syntax::W3c => {
            vec!["iis (W3C, columns from each #Fields line)".to_string()]
        }
        _ => grammars.iter().map(|g| g.name.clone()).collect(),
    }
}
