//! An IIS `#Fields:` directive: a grammar or an error, never a panic; a
//! grammar then parses any line without one.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cut = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let directive = std::str::from_utf8(&data[..cut]).unwrap_or("");
    let line = data.get(cut + 1..).unwrap_or(&[]);
    if let Ok(g) = logspike::grammar::w3c::parse_fields_directive("fuzz", directive) {
        let mut parser = logspike::parse::LineParser::new(&[std::sync::Arc::new(g)]);
        let _ = parser.parse(line);
    }
});
