//! What a scan counts of one input, the same for every job.

use crate::parse::Timestamp;

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

/// The counts for one input.
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
    /// A problem that stopped reading this input (the counts cover what
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

/// Adds the counts of the part that follows.
pub(super) fn absorb(a: &mut FileCheck, b: FileCheck, max_samples: usize) {
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
    let room = max_samples.saturating_sub(a.samples.len());
    a.samples.extend(b.samples.into_iter().take(room));
}
