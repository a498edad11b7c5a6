//! An Apache `LogFormat` string: a grammar or an error, never a panic;
//! a grammar then parses any line without one.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (format, line) = split(data);
    if let Ok(g) = logspike::grammar::apache::parse_log_format("fuzz", format) {
        let mut parser = logspike::parse::LineParser::new(&[std::sync::Arc::new(g)]);
        let _ = parser.parse(line);
    }
});

/// The format up to the first newline, the line after it.
fn split(data: &[u8]) -> (&str, &[u8]) {
    let cut = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let format = std::str::from_utf8(&data[..cut]).unwrap_or("");
    (format, data.get(cut + 1..).unwrap_or(&[]))
}
