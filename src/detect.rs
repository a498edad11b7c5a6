//! Picking a file's grammar from a sample of its lines.
//!
//! IIS W3C files announce themselves with `#Software:`, `#Version:` or
//! `#Fields:` directives. Otherwise every candidate parses the sample, and
//! the one that accepts the most lines (exact matches breaking ties) is the
//! primary grammar. Files that mix formats (two nginx `log_format`s writing
//! to one file, a vhost prefix on some lines) get secondary grammars, added
//! greedily while one of them parses sample lines the chosen set does not.

use std::sync::Arc;

use crate::grammar::{Grammar, Syntax};
use crate::parse::{LineParser, Outcome};

/// Lines sampled from the head of a file.
pub const SAMPLE_LINES: usize = 1000;
/// Bytes sampled from the head of a file.
pub const SAMPLE_BYTES: usize = 1 << 20;
/// Most grammars one file is parsed with.
const MAX_GRAMMARS: usize = 4;

#[derive(Debug, Clone)]
pub struct Detection {
    /// Primary first. For W3C files: the built-in IIS layouts, used for
    /// lines before the file's first `#Fields:`.
    pub grammars: Vec<Arc<Grammar>>,
    /// Data lines sampled (not blank, not `#` directives of W3C files).
    pub sampled: usize,
    /// Of those, how many the chosen grammars parse.
    pub parsed: usize,
    /// Why: a sentence for the user.
    pub reason: String,
}

impl Detection {
    pub fn share(&self) -> f64 {
        if self.sampled == 0 {
            100.0
        } else {
            self.parsed as f64 * 100.0 / self.sampled as f64
        }
    }
}

/// 0: rejected, else [`crate::parse::Record::fit`].
fn score(parser: &mut LineParser, line: &[u8]) -> u8 {
    match parser.parse(line) {
        Outcome::Record(r) => r.fit(),
        _ => 0,
    }
}

fn sample_lines(sample: &[u8]) -> Vec<&[u8]> {
    let sample = &sample[..sample.len().min(SAMPLE_BYTES)];
    let mut lines: Vec<&[u8]> = sample.split(|&b| b == b'\n').collect();
    // A cut last line is not evidence of anything.
    if sample.len() == SAMPLE_BYTES && lines.len() > 1 {
        lines.pop();
    }
    lines
        .into_iter()
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .take(SAMPLE_LINES)
        .collect()
}

fn is_w3c_header(line: &[u8]) -> bool {
    ["#Fields:", "#Software:", "#Version:", "#Date:"]
        .iter()
        .any(|d| line.starts_with(d.as_bytes()))
}

/// Chooses grammars for a file from the first bytes of it. `None` when no
/// candidate parses a single sampled line (or the sample has no lines).
pub fn detect(sample: &[u8], candidates: &[Arc<Grammar>]) -> Option<Detection> {
    let lines = sample_lines(sample);
    let w3c: Vec<Arc<Grammar>> = candidates
        .iter()
        .filter(|g| g.syntax == Syntax::W3c)
        .cloned()
        .collect();
    if let Some(at) = lines.iter().take(50).position(|l| is_w3c_header(l)) {
        if w3c.is_empty() {
            return None;
        }
        let mut parser = LineParser::new(&w3c);
        let mut sampled = 0;
        let mut parsed = 0;
        for line in &lines {
            match parser.parse(line) {
                Outcome::Directive | Outcome::Blank => {}
                Outcome::Record(_) => {
                    sampled += 1;
                    parsed += 1;
                }
                Outcome::Rejected(_) => sampled += 1,
            }
        }
        let reason = format!(
            "IIS W3C: a `{}` directive on line {} of the sample; columns follow each #Fields line",
            String::from_utf8_lossy(lines[at].split(|&b| b == b':').next().unwrap_or(b"#")),
            at + 1
        );
        return Some(Detection {
            grammars: w3c,
            sampled,
            parsed,
            reason,
        });
    }
    if lines.is_empty() {
        return None;
    }

    // Candidates: each delimited grammar alone, and the W3C layouts as one
    // (a headerless IIS file picks its layout by value count).
    let mut groups: Vec<Vec<Arc<Grammar>>> = candidates
        .iter()
        .filter(|g| g.syntax != Syntax::W3c)
        .map(|g| vec![g.clone()])
        .collect();
    if !w3c.is_empty() {
        groups.push(w3c);
    }
    let scores: Vec<Vec<u8>> = groups
        .iter()
        .map(|group| {
            let mut parser = LineParser::new(group);
            lines.iter().map(|l| score(&mut parser, l)).collect()
        })
        .collect();
    let accepted = |s: &Vec<u8>| s.iter().filter(|&&v| v > 0).count();
    let exact = |s: &Vec<u8>| s.iter().filter(|&&v| v == 3).count();
    // `max_by_key` keeps the last of equals; reverse so the first wins.
    let primary = (0..groups.len())
        .rev()
        .max_by_key(|&i| (accepted(&scores[i]), exact(&scores[i])))?;
    if accepted(&scores[primary]) == 0 {
        return None;
    }
    let primary_is_w3c = groups[primary][0].syntax == Syntax::W3c;
    let mut chosen = vec![primary];
    let mut best: Vec<u8> = scores[primary].clone();
    while chosen.len() < MAX_GRAMMARS && !primary_is_w3c {
        let gain = |i: usize| scores[i].iter().zip(&best).filter(|(s, b)| s > b).count();
        let primary_syntax = groups[primary][0].syntax;
        let Some(next) = (0..groups.len())
            .filter(|i| !chosen.contains(i) && groups[*i][0].syntax != Syntax::W3c)
            .rev()
            .max_by_key(|&i| (gain(i), groups[i][0].syntax == primary_syntax))
            .filter(|&i| gain(i) > 0)
        else {
            break;
        };
        for (b, s) in best.iter_mut().zip(&scores[next]) {
            *b = (*b).max(*s);
        }
        chosen.push(next);
    }
    let parsed = best.iter().filter(|&&v| v > 0).count();
    let sampled = lines.len();
    let name = |i: usize| {
        if groups[i][0].syntax == Syntax::W3c {
            "iis (no header; layout by value count)".to_string()
        } else {
            groups[i][0].name.clone()
        }
    };
    let fits = |i: usize| {
        let (all, exactly) = (accepted(&scores[i]), exact(&scores[i]));
        if all == exactly {
            format!("{all}")
        } else {
            format!("{all} ({exactly} exactly, the rest with extra or odd fields)")
        }
    };
    let mut reason = format!(
        "{} parsed {} of {} sampled lines",
        name(primary),
        fits(primary),
        sampled
    );
    if let Some(runner_up) = (0..groups.len())
        .filter(|&i| i != primary)
        .rev()
        .max_by_key(|&i| (accepted(&scores[i]), exact(&scores[i])))
        .filter(|&i| accepted(&scores[i]) > 0)
    {
        reason.push_str(&format!(
            "; next best {} parsed {}",
            name(runner_up),
            fits(runner_up)
        ));
    }
    for &extra in &chosen[1..] {
        reason.push_str(&format!(
            "; mixed file: {} added for lines the others miss",
            name(extra)
        ));
    }
    Some(Detection {
        grammars: chosen
            .iter()
            .flat_map(|&i| groups[i].iter().cloned())
            .collect(),
        sampled,
        parsed,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grammar::builtin;

    fn detect_builtin(text: &str) -> Option<Detection> {
        detect(text.as_bytes(), builtin::all())
    }

    const COMBINED: &str =
        "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET /a HTTP/1.1\" 200 2326 \"-\" \"curl/8\"\n";

    #[test]
    fn picks_combined_for_combined_lines() {
        let d = detect_builtin(&COMBINED.repeat(5)).unwrap();
        assert_eq!(d.grammars[0].name, "nginx-combined");
        assert_eq!(d.grammars.len(), 1);
        assert_eq!((d.sampled, d.parsed), (5, 5));
        assert!(d.reason.contains("parsed 5 of 5"), "{}", d.reason);
    }

    #[test]
    fn extra_field_prefers_the_format_that_has_it() {
        let line = "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET /a HTTP/1.1\" 200 2326 \"-\" \"curl/8\" \"10.0.0.1\"\n";
        let d = detect_builtin(&line.repeat(3)).unwrap();
        assert_eq!(d.grammars[0].name, "nginx-main");
    }

    #[test]
    fn mixed_files_get_a_secondary_grammar() {
        let vhost = "example.com:80 1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET /b HTTP/1.1\" 404 12 \"-\" \"curl/8\"\n";
        let d = detect_builtin(&format!("{}{}", COMBINED.repeat(4), vhost)).unwrap();
        assert_eq!(d.grammars.len(), 2, "{}", d.reason);
        assert_eq!(d.parsed, 5);
        // Apache's `%h %l %u` takes the vhost line too, as a host and an
        // ident, but the vhost grammar fits it exactly and wins.
        let mut parser = LineParser::new(&d.grammars);
        let Outcome::Record(r) = parser.parse(vhost.trim_end().as_bytes()) else {
            panic!("vhost line rejected")
        };
        assert!(
            r.grammar().name.ends_with("vhost_combined"),
            "{}",
            r.grammar().name
        );
        assert_eq!(r.remote_addr().unwrap().raw, b"1.2.3.4");
    }

    #[test]
    fn iis_by_header_and_headerless_by_count() {
        let iis = "#Software: Microsoft Internet Information Services 10.0\n#Fields: date time c-ip sc-status\n2018-01-01 08:09:10 1.2.3.4 200\n";
        let d = detect_builtin(iis).unwrap();
        assert_eq!(d.grammars[0].syntax, Syntax::W3c);
        assert_eq!((d.sampled, d.parsed), (1, 1));
        let headerless = "2018-01-01 08:09:10 127.0.0.1 GET / q=100 80 - 81.2.69.143 Mozilla/5.0 - 200 0 0 123\n";
        let d = detect_builtin(headerless).unwrap();
        assert_eq!(d.grammars[0].syntax, Syntax::W3c);
        assert_eq!(d.parsed, 1);
    }

    #[test]
    fn nothing_fits_junk() {
        assert!(detect_builtin("\u{0}\u{1}binary junk\nmore junk\n").is_none());
        assert!(detect_builtin("").is_none());
        assert!(detect_builtin("\n\n").is_none());
    }
}
