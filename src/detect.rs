//! Picking a file's grammar from a sample of its lines.
//!
//! IIS W3C files announce themselves with `#Software:`, `#Version:` or
//! `#Fields:` directives. Otherwise every candidate parses the sample, and
//! the one that accepts the most lines (exact matches breaking ties) is the
//! primary grammar. Files that mix formats (two nginx `log_format`s writing
//! to one file, a vhost prefix on some lines) get secondary grammars, added
//! greedily while one of them parses sample lines the chosen set does not.

use std::path::PathBuf;
use std::sync::Arc;

use crate::grammar::builtin::Registry;
use crate::grammar::server::ServerFormats;
use crate::grammar::{apache, nginx, Grammar, GrammarError, Syntax};
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

/// Share of the sampled lines the chosen grammars must parse for the file
/// to be read with them. Below it the "fit" is a coincidence of layouts
/// (a host name taken for a client address, a status for a byte count),
/// and the numbers it would give are wrong.
const MIN_SHARE: f64 = 0.5;

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

/// How many fields text after a known layout holds: quoted strings,
/// bracketed groups and words each count once.
pub fn count_fields(extra: &[u8]) -> usize {
    let mut count = 0;
    let mut i = 0;
    while i < extra.len() {
        match extra[i] {
            b' ' | b'\t' => {
                i += 1;
                continue;
            }
            open @ (b'"' | b'[') => {
                let close = if open == b'"' { b'"' } else { b']' };
                let mut j = i + 1;
                while j < extra.len() && !(extra[j] == close && extra[j - 1] != b'\\') {
                    j += 1;
                }
                i = j + 1;
            }
            _ => {
                while i < extra.len() && extra[i] != b' ' {
                    i += 1;
                }
            }
        }
        count += 1;
    }
    count
}

/// Chooses grammars for a file from the first bytes of it. `None` when the
/// sample holds no line to judge by. When no candidate fits, the detection
/// has no grammars and its reason names the nearest one and where lines
/// leave it: the file's lines are then rejected, never read with a format
/// that only nearly fits.
pub fn detect(sample: &[u8], candidates: &[Arc<Grammar>]) -> Option<Detection> {
    detect_preferring(sample, candidates, None)
}

/// [`detect`], breaking exact ties between formats of the same layout in
/// favour of `prefer` (known from the file's path or the server installed).
pub fn detect_preferring(
    sample: &[u8],
    candidates: &[Arc<Grammar>],
    prefer: Option<Syntax>,
) -> Option<Detection> {
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
    let preferred = |i: usize| prefer.is_some_and(|p| groups[i][0].syntax == p);
    // `max_by_key` keeps the last of equals; reverse so the first wins.
    let primary = (0..groups.len())
        .rev()
        .max_by_key(|&i| (accepted(&scores[i]), exact(&scores[i]), preferred(i)))?;
    let sampled = lines.len();
    let name = |i: usize| {
        if groups[i][0].syntax == Syntax::W3c {
            "iis (no header; layout by value count)".to_string()
        } else {
            groups[i][0].name.clone()
        }
    };
    if (accepted(&scores[primary]) as f64) < MIN_SHARE * sampled as f64 {
        return Some(Detection {
            grammars: Vec::new(),
            sampled,
            parsed: 0,
            reason: nothing_fits(&lines, &groups, &scores, &name),
        });
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
    let fits = |i: usize| {
        let (all, exactly) = (accepted(&scores[i]), exact(&scores[i]));
        if all == exactly {
            format!("{all}")
        } else {
            format!("{all} ({exactly} exactly)")
        }
    };
    let mut reason = format!(
        "{} parsed {} of {} sampled lines",
        name(primary),
        fits(primary),
        sampled
    );
    if let Some(extra) = extra_fields(&lines, &groups[primary]) {
        reason.push_str(&extra);
    }
    // Another server's format that fits every line the same way: the
    // lines cannot say which one wrote them (nginx and Apache `combined`).
    let twin = (0..groups.len()).find(|&i| {
        i != primary
            && scores[i] == scores[primary]
            && groups[i][0].syntax != groups[primary][0].syntax
            && groups[i][0].syntax != Syntax::W3c
    });
    if let Some(twin) = twin {
        reason.push_str(&format!(
            " (the same layout as {}: the lines cannot tell which server wrote them)",
            name(twin)
        ));
    } else if let Some(runner_up) = (0..groups.len())
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

/// "; N lines carry K extra fields after it (not read)" when lines fit the
/// grammar only with text after its last field.
fn extra_fields(lines: &[&[u8]], group: &[Arc<Grammar>]) -> Option<String> {
    let mut parser = LineParser::new(group);
    let mut with = 0;
    let mut counts = std::collections::BTreeMap::new();
    for line in lines {
        if let Outcome::Record(r) = parser.parse(line) {
            if let Some(extra) = r.extra() {
                with += 1;
                *counts.entry(count_fields(extra)).or_insert(0usize) += 1;
            }
        }
    }
    if with == 0 {
        return None;
    }
    let (&common, _) = counts.iter().max_by_key(|(_, &n)| n)?;
    Some(format!(
        "; {with} of them go on after the format's last field ({}{common} extra field{}, not read: \
         name a format that has them to use them)",
        if counts.len() > 1 { "mostly " } else { "" },
        if common == 1 { "" } else { "s" }
    ))
}

/// Why no candidate fits: the nearest one (the most lines, then the
/// furthest a typical line gets), and where its first rejected line
/// leaves it.
fn nothing_fits(
    lines: &[&[u8]],
    groups: &[Vec<Arc<Grammar>>],
    scores: &[Vec<u8>],
    name: &dyn Fn(usize) -> String,
) -> String {
    let mut nearest: Option<(usize, usize, u32, String)> = None;
    for (i, group) in groups.iter().enumerate() {
        let mut parser = LineParser::new(group);
        let mut columns = Vec::new();
        let mut first = None;
        for line in lines {
            if let Outcome::Rejected(reject) = parser.parse(line) {
                columns.push(reject.column);
                if first.is_none() {
                    let column = reject.column + 1;
                    first = Some(format!(
                        "lines leave it at column {column}: {}",
                        parser.describe(&reject, line)
                    ));
                }
            }
        }
        columns.sort_unstable();
        let median = columns.get(columns.len() / 2).copied().unwrap_or(0);
        let fit = scores[i].iter().filter(|&&v| v > 0).count();
        let better = nearest
            .as_ref()
            .is_none_or(|(_, f, m, _)| (fit, median) > (*f, *m));
        if better {
            nearest = Some((i, fit, median, first.unwrap_or_default()));
        }
    }
    let Some((i, fit, _, leaves)) = nearest else {
        return "no known format fits; name one with --format or --log-format".into();
    };
    format!(
        "no known format fits (nearest {}: {fit} of {} sampled lines; {leaves}); \
         its lines are counted as rejected: name the format with --format or --log-format",
        name(i),
        lines.len()
    )
}

/// Where the formats of a run come from, as the command line gives them.
#[derive(Debug, Clone)]
pub struct FormatSources {
    /// A format named for every input.
    pub format: Option<String>,
    /// A format given inline, in nginx or Apache syntax.
    pub log_format: Option<String>,
    pub nginx_conf: Vec<PathBuf>,
    pub apache_conf: Vec<PathBuf>,
    /// Whether the installed server's own config is read (when no format
    /// is named).
    pub server_config: bool,
    /// Where that config is looked for (`/`, or a container's root).
    pub server_root: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum FormatsError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("in {path}: {source}")]
    Config { path: String, source: GrammarError },
    #[error(transparent)]
    Grammar(#[from] GrammarError),
}

/// The formats a run knows, how each input's is chosen, and what reading
/// the server configs had to say.
pub struct Formats {
    pub registry: Registry,
    pub choice: FormatChoice,
    pub warnings: Vec<String>,
}

impl FormatSources {
    /// Reads the configs and picks how formats are chosen. A config named
    /// on the command line must read (the error says why not); the
    /// installed server's are read as far as they can be, with warnings.
    pub fn resolve(&self) -> Result<Formats, FormatsError> {
        let mut registry = Registry::new();
        let mut server = ServerFormats::default();
        let named = self
            .nginx_conf
            .iter()
            .map(|p| (p, Syntax::Nginx))
            .chain(self.apache_conf.iter().map(|p| (p, Syntax::Apache)));
        for (path, syntax) in named {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| FormatsError::Read {
                path: shown.clone(),
                source,
            })?;
            match syntax {
                Syntax::Apache => apache::parse_conf(&text).map(drop),
                _ => nginx::parse_conf(&text).map(drop),
            }
            .map_err(|source| FormatsError::Config {
                path: shown,
                source,
            })?;
            server.merge(ServerFormats::read(syntax, path, &self.server_root));
        }
        let explicit = self.format.is_some() || self.log_format.is_some();
        if self.server_config && !explicit {
            server.merge(ServerFormats::discover(&self.server_root));
        }
        let warnings = std::mem::take(&mut server.warnings);
        for (g, _) in &server.grammars {
            registry.add(Grammar::clone(g));
        }
        let choice = if let Some(inline) = &self.log_format {
            registry.add(Grammar::from_format("inline", inline)?);
            FormatChoice::Fixed(registry.find("inline")?)
        } else if let Some(name) = &self.format {
            FormatChoice::Fixed(registry.find(name)?)
        } else if server.bound.is_empty() {
            FormatChoice::Detect(registry.candidates())
        } else {
            FormatChoice::Server {
                candidates: registry.candidates(),
                server: Arc::new(server),
            }
        };
        Ok(Formats {
            registry,
            choice,
            warnings,
        })
    }
}

/// How a file's grammar is chosen.
#[derive(Clone)]
pub enum FormatChoice {
    /// Detected per file among these candidates.
    Detect(Vec<Arc<Grammar>>),
    /// Named by the user: used for every file. A W3C grammar still follows
    /// the file's own `#Fields:` lines.
    Fixed(Arc<Grammar>),
    /// The format a server config names for the file (or for the file it
    /// was rotated from); detected among the candidates for the others.
    Server {
        candidates: Vec<Arc<Grammar>>,
        server: Arc<ServerFormats>,
    },
}

/// The grammars chosen for one input, and why, in words.
pub struct Chosen {
    pub grammars: Vec<Arc<Grammar>>,
    pub reason: String,
}

impl FormatChoice {
    /// The access logs the server configs name that exist here (with
    /// their rotated siblings unless `live`); none for another choice.
    pub fn server_logs(&self, live: bool) -> Vec<PathBuf> {
        match self {
            FormatChoice::Server { server, .. } => server.logs(live),
            _ => Vec::new(),
        }
    }

    /// Picks the grammars of the input called `name` from its first bytes.
    /// An empty list means nothing fits: its lines are then rejected.
    pub fn choose(&self, name: &str, head: &[u8]) -> Chosen {
        let detected = |candidates: &[Arc<Grammar>]| match detect_preferring(
            head,
            candidates,
            syntax_hint(name),
        ) {
            Some(Detection {
                grammars, reason, ..
            }) => Chosen { grammars, reason },
            None => Chosen {
                grammars: Vec::new(),
                reason: "no line to detect the format from".into(),
            },
        };
        match self {
            FormatChoice::Fixed(g) => Chosen {
                grammars: vec![g.clone()],
                reason: if g.name == "inline" {
                    "given with --log-format".into()
                } else {
                    "named with --format".into()
                },
            },
            FormatChoice::Detect(candidates) => detected(candidates),
            FormatChoice::Server { candidates, server } => {
                let Some(bound) = server.for_log(std::path::Path::new(name)) else {
                    return detected(candidates);
                };
                let grammars = vec![bound.grammar.clone()];
                let mut reason = bound.describe();
                if let Some(d) = detect(head, &grammars) {
                    if d.grammars.is_empty() || d.parsed * 2 < d.sampled {
                        // The config may be newer than the log: say so,
                        // and still never read the lines another way.
                        reason.push_str(&format!(
                            "; but it fits only {} of {} sampled lines (was the format changed after this log was written?)",
                            d.parsed, d.sampled
                        ));
                    }
                }
                Chosen { grammars, reason }
            }
        }
    }
}

/// The server a log's path names (`/var/log/apache2/`, `httpd/`,
/// `nginx/`), to tell apart formats whose lines are the same.
pub fn syntax_hint(path: &str) -> Option<Syntax> {
    let lower = path.to_ascii_lowercase();
    if lower.contains("apache") || lower.contains("httpd") {
        Some(Syntax::Apache)
    } else if lower.contains("nginx") {
        Some(Syntax::Nginx)
    } else {
        None
    }
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
        let d = detect_builtin("\u{0}\u{1}binary junk\nmore junk\n").unwrap();
        assert!(d.grammars.is_empty());
        assert!(d.reason.starts_with("no known format fits"), "{}", d.reason);
        assert!(detect_builtin("").is_none());
        assert!(detect_builtin("\n\n").is_none());
    }

    #[test]
    fn trailing_fields_are_extra_never_part_of_a_value() {
        // Traefik's common log format: combined, then a request count, the
        // router, the backend and the duration.
        let traefik = "10.0.0.9 - - [10/Oct/2024:13:55:36 +0000] \"GET /api HTTP/1.1\" 502 17 \"-\" \"curl/8.5.0\" 1 \"web-0@docker\" \"http://10.0.1.1:80\" 3ms\n";
        let d = detect_builtin(&traefik.repeat(4)).unwrap();
        assert_eq!(d.grammars[0].name, "traefik-common", "{}", d.reason);
        // Without the Traefik built-in it is combined with extra fields.
        let others: Vec<_> = builtin::all()
            .iter()
            .filter(|g| g.name != "traefik-common")
            .cloned()
            .collect();
        let d = detect(traefik.repeat(4).as_bytes(), &others).unwrap();
        assert_eq!(d.grammars[0].name, "nginx-combined", "{}", d.reason);
        assert!(d.reason.contains("4 extra fields"), "{}", d.reason);
        let mut parser = LineParser::new(&d.grammars);
        let Outcome::Record(r) = parser.parse(traefik.trim_end().as_bytes()) else {
            panic!("rejected")
        };
        assert_eq!(r.user_agent().unwrap().raw, b"curl/8.5.0");
        assert_eq!((r.status(), r.bytes()), (Some(502), Some(17)));
        // nginx-main would take `curl/8.5.0" 1 "web-0@docker` as the agent
        // and the backend as X-Forwarded-For: it rejects the line instead.
        let main = builtin::Registry::new().find("nginx-main").unwrap();
        let mut parser = LineParser::new(&[main]);
        let Outcome::Rejected(reject) = parser.parse(traefik.trim_end().as_bytes()) else {
            panic!("nginx-main took a Traefik line")
        };
        let why = parser.describe(&reject, traefik.as_bytes());
        assert!(why.contains("http_user_agent"), "{why}");
        assert_eq!(reject.column as usize, traefik.find("\" 1").unwrap());
    }

    #[test]
    fn a_layout_nothing_fits_is_said_not_guessed() {
        // Nginx Proxy Manager style: time first, then the host name, the
        // client and the request time. apache-ssl_request (`%t %h
        // %{SSL_PROTOCOL}x ...`) used to take it, statuses becoming bytes.
        let npm = "[10/Oct/2024:13:55:36 +0000] shop.example.com 203.0.113.7 0.031 \"GET /cart HTTP/1.1\" 503 1234 \"-\" \"curl/8\"\n";
        let d = detect_builtin(&npm.repeat(5)).unwrap();
        assert!(d.grammars.is_empty(), "{:?}", d.grammars);
        assert!(
            d.reason.contains("no known format fits (nearest"),
            "{}",
            d.reason
        );
        assert!(d.reason.contains("column"), "{}", d.reason);
    }

    #[test]
    fn words_in_numeric_and_address_fields_do_not_fit() {
        let line = "1.2.3.4 - - [10/Oct/2024:13:55:36 +0000] \"GET / HTTP/1.1\" 200 12 \"-\" \"ua\" slow \"edge -> core\" \"http://10.1.1.1:80\" later";
        let upstream = builtin::Registry::new().find("nginx-upstream").unwrap();
        let mut parser = LineParser::new(&[upstream]);
        let Outcome::Rejected(reject) = parser.parse(line.as_bytes()) else {
            panic!("nginx-upstream took words for numbers")
        };
        assert!(
            parser
                .describe(&reject, line.as_bytes())
                .contains("request_time"),
            "{}",
            parser.describe(&reject, line.as_bytes())
        );
        let d = detect_builtin(&format!("{line}\n").repeat(3)).unwrap();
        assert_eq!(d.grammars[0].name, "nginx-combined");
        let mut parser = LineParser::new(&d.grammars);
        let Outcome::Record(r) = parser.parse(line.as_bytes()) else {
            panic!()
        };
        assert_eq!(r.upstreams().count(), 0);
        assert_eq!(r.request_time(), None);
    }

    #[test]
    fn same_layout_of_two_servers_is_said_and_the_path_decides() {
        let d = detect_builtin(&COMBINED.repeat(3)).unwrap();
        assert!(
            d.reason.contains("the same layout as apache-combined"),
            "{}",
            d.reason
        );
        let d = detect_preferring(
            COMBINED.repeat(3).as_bytes(),
            builtin::all(),
            Some(Syntax::Apache),
        )
        .unwrap();
        assert_eq!(d.grammars[0].name, "apache-combined");
    }
}
