//! nginx.conf and httpd.conf readers: formats or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = logspike::grammar::nginx::parse_conf(&text);
    let _ = logspike::grammar::apache::parse_conf(&text);
});
