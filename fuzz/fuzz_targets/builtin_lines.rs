//! Any bytes as a line of any built-in grammar (the first byte picks it),
//! every field decoded: never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use logspike::parse::{LineParser, Outcome};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, line)) = data.split_first() else {
        return;
    };
    let all = logspike::grammar::builtin::all();
    let grammar = all[pick as usize % all.len()].clone();
    let mut parser = LineParser::new(&[grammar]);
    if let Outcome::Record(r) = parser.parse(line) {
        let _ = (r.time(), r.status(), r.bytes(), r.request_time(), r.host());
        let request = r.request();
        if let Some(p) = request.path {
            let _ = p.decode();
        }
        for a in r.upstreams() {
            let _ = (a.addr, a.status, a.response_time, a.connect_time(), a.header_time());
        }
        for (_, value) in r.fields() {
            if let Some(v) = value {
                let _ = v.to_string_lossy();
            }
        }
    }
});
