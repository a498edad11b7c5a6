//! `logspike check`: how well each file parses, and why lines do not.
//!
//! Each input is scanned once with no sink but the engine's counts: the
//! head is sampled for detection (unless a grammar was named), then every
//! line is parsed and counted. Lines that do not parse are counted, the
//! first few kept with a reason, and all of them can be copied to a
//! rejects file. A read error mid-file (a truncated gzip member) ends that
//! file with an error that names the offset; the lines before it still
//! count.

use crate::input::Source;
use crate::scan::{self, Count, FileCheck, ScanOptions};

/// Checks one input.
pub fn check_source(source: &Source, options: &mut ScanOptions) -> FileCheck {
    match scan::scan(source, options, &Count) {
        Ok(result) => result,
        Err(never) => match never {},
    }
}
