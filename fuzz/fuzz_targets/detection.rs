//! Any bytes as the head of a file: detection picks grammars or says none
//! fits (naming the nearest and where lines leave it), never a panic; and
//! the chosen grammars parse every sampled line without one.
#![no_main]
use libfuzzer_sys::fuzz_target;
use logspike::parse::LineParser;

fuzz_target!(|data: &[u8]| {
    let Some(d) = logspike::detect::detect(data, logspike::grammar::builtin::all()) else {
        return;
    };
    assert!(!d.reason.is_empty());
    let _ = logspike::detect::count_fields(data);
    let mut parser = LineParser::new(&d.grammars);
    for line in data.split(|&b| b == b'\n') {
        if let logspike::parse::Outcome::Rejected(reject) = parser.parse(line) {
            let _ = parser.describe(&reject, line);
        }
    }
    if let Ok(name) = std::str::from_utf8(data) {
        let _ = logspike::grammar::server::is_rotation_of(name, "access.log");
    }
});
