//! The tail's rule language: a rule or an error, never a panic; a rule
//! prints as text that parses to the same rule.
#![no_main]
use libfuzzer_sys::fuzz_target;
use logspike::tail::rules::{Rule, SpikeRule};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(Ok(s)) = SpikeRule::parse(text) {
        assert_eq!(SpikeRule::parse(&s.to_string()), Some(Ok(s)));
    }
    if let Ok(rule) = Rule::parse(text) {
        assert_eq!(
            Rule::parse(&rule.to_string()).as_ref(),
            Ok(&rule),
            "{text:?}"
        );
    }
});
