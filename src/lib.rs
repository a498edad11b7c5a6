//! logspike: fast analysis of Nginx, Apache and IIS access logs.
//!
//! Data flows one way, and the modules follow it:
//! [`input`] (open, decompress) → [`framing`] (complete lines) →
//! [`grammar`] (format strings → field plans) and [`detect`] (which plan fits
//! a file) → [`parse`] (one line → a typed record) → [`scan`] (the engine:
//! an input's lines parsed on all cores and merged in order into a job's
//! [`scan::Sink`]) → [`analysis`] (windows, keys, incidents) → [`report`]
//! (typed numbers) → [`output`] (text, JSON, CSV, HTML, Parquet tables;
//! every file written atomically). [`check`] and `export` (Parquet rows,
//! with the `parquet` feature) are jobs on the engine, as the report is.
//! [`tail`] follows live files along the same path: lines → records →
//! alert windows → alerts and metrics. `docs/architecture.md` draws it.
//!
//! ```
//! use logspike::grammar::builtin::Registry;
//! use logspike::parse::{LineParser, Outcome};
//!
//! let grammar = Registry::new().find("nginx-combined").unwrap();
//! let mut parser = LineParser::new(&[grammar]);
//! let line = br#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /a?b=1 HTTP/1.1" 503 12 "-" "curl/8""#;
//! let Outcome::Record(record) = parser.parse(line) else { panic!() };
//! assert_eq!(record.status(), Some(503));
//! assert_eq!(record.request().path.unwrap().raw, b"/a");
//! assert_eq!(record.time().unwrap().to_rfc3339_utc(), "2000-10-10T20:55:36Z");
//! ```

pub mod analysis;
pub mod check;
pub mod config;
pub mod detect;
#[cfg(feature = "parquet")]
pub mod export;
pub mod framing;
pub mod grammar;
pub mod input;
pub mod output;
pub mod parse;
pub mod report;
pub mod scan;
pub mod tail;
pub mod text;

/// Helpers for unit tests.
#[cfg(test)]
pub(crate) mod testing {
    /// The next number of a xorshift sequence: inputs that vary as random
    /// ones would, and the same on every run.
    pub fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }
}
