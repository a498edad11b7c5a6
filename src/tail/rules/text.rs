//! The rule language: `STATUS >= N in DURATION [by upstream|path]`,
//! `STATUS rate > P% over DURATION [min N] [by ...]` and `spike [over
//! DURATION]`, parsed and printed back the same.

use std::fmt;

/// The rules used when `--alert` is not given. `spike` is among them: on
/// replays of the scenario suite's quiet logs (2 to 300 requests a second,
/// 0.05% to 5% 5xx, up to a day) it raised nothing.
pub const DEFAULT_RULES: [&str; 4] = [
    "503 >= 50 in 30s by upstream",
    "502 >= 50 in 30s by path",
    "5xx rate > 5% over 1m min 100",
    "spike",
];

/// The `spike` rule: the batch incident finder on the recent past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpikeRule {
    /// Seconds of the recent past the finder judges.
    pub horizon: i64,
}

impl SpikeRule {
    /// `spike` or `spike over DURATION` (10 minutes to a day; one hour
    /// by default). `None` when the text is another kind of rule.
    pub fn parse(text: &str) -> Option<Result<SpikeRule, String>> {
        let lower = text.to_ascii_lowercase();
        let words: Vec<&str> = lower.split_whitespace().collect();
        if words.first() != Some(&"spike") {
            return None;
        }
        let fail =
            |why: String| format!("alert rule `{text}`: {why} (write `spike` or `spike over 2h`)");
        Some(match words[1..] {
            [] => Ok(SpikeRule { horizon: 3600 }),
            ["over", d] => match crate::config::seconds(d) {
                Ok(s) if (600..=86_400).contains(&s) => Ok(SpikeRule { horizon: s }),
                Ok(_) => Err(fail(format!("`{d}`: the past judged is from 10m to 24h"))),
                Err(e) => Err(fail(e)),
            },
            _ => Err(fail("unexpected words after `spike`".to_string())),
        })
    }
}

impl fmt::Display for SpikeRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.horizon == 3600 {
            write!(f, "spike")
        } else {
            write!(f, "spike over {}", duration_text(self.horizon))
        }
    }
}

/// The rules of `--alert` texts, the defaults when there are none: the
/// counting rules, and the spike rule when one is among them.
pub fn parse_all(texts: &[String]) -> Result<(Vec<Rule>, Option<SpikeRule>), String> {
    let defaults: Vec<String>;
    let texts = if texts.is_empty() {
        defaults = DEFAULT_RULES.iter().map(|s| s.to_string()).collect();
        &defaults
    } else {
        texts
    };
    let mut rules = Vec::new();
    let mut spike = None;
    for t in texts {
        match SpikeRule::parse(t) {
            Some(s) => spike = Some(s?),
            None => rules.push(Rule::parse(t)?),
        }
    }
    Ok((rules, spike))
}

/// Which statuses a rule counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMatch {
    Code(u16),
    /// `5xx`: 500 to 599.
    Class(u16),
}

impl StatusMatch {
    pub(super) fn matches(self, code: u16) -> bool {
        match self {
            StatusMatch::Code(c) => code == c,
            StatusMatch::Class(c) => code / 100 == c,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    AtLeast,
    Above,
}

impl Compare {
    fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Compare::AtLeast => value >= limit,
            Compare::Above => value > limit,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Compare::AtLeast => ">=",
            Compare::Above => ">",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measure {
    /// Matching responses in the window.
    Count { compare: Compare, limit: u64 },
    /// Matching responses as a percentage of all, when there are at least
    /// `min` responses in the window.
    Rate {
        compare: Compare,
        percent: f64,
        min: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    None,
    /// Each upstream attempt, with the status that upstream answered; a
    /// response no upstream took part in counts under `-`.
    Upstream,
    /// The normalized request path.
    Path,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub statuses: StatusMatch,
    pub measure: Measure,
    /// Whole seconds.
    pub window: i64,
    pub by: Dimension,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.statuses {
            StatusMatch::Code(c) => write!(f, "{c}")?,
            StatusMatch::Class(c) => write!(f, "{c}xx")?,
        }
        let window = duration_text(self.window);
        match self.measure {
            Measure::Count { compare, limit } => {
                write!(f, " {} {limit} in {window}", compare.symbol())?
            }
            Measure::Rate {
                compare,
                percent,
                min,
            } => write!(
                f,
                " rate {} {percent}% over {window} min {min}",
                compare.symbol()
            )?,
        }
        match self.by {
            Dimension::None => Ok(()),
            Dimension::Upstream => write!(f, " by upstream"),
            Dimension::Path => write!(f, " by path"),
        }
    }
}

fn duration_text(seconds: i64) -> String {
    for (unit, size) in [("h", 3600), ("m", 60)] {
        if seconds % size == 0 {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

/// Splits on white space and around `>=` and `>`, which may be written
/// without spaces (`503>=50`).
fn tokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        let mut rest = word;
        while !rest.is_empty() {
            match rest.find('>') {
                Some(0) => {
                    let len = if rest.starts_with(">=") { 2 } else { 1 };
                    out.push(&rest[..len]);
                    rest = &rest[len..];
                }
                Some(i) => {
                    out.push(&rest[..i]);
                    rest = &rest[i..];
                }
                None => {
                    out.push(rest);
                    rest = "";
                }
            }
        }
    }
    out
}

fn window_seconds(text: &str) -> Result<i64, String> {
    match crate::config::seconds(text)? {
        s if s <= 86_400 => Ok(s),
        _ => Err(format!("`{text}`: a window is from 1s to 24h")),
    }
}

impl Rule {
    /// Parses `STATUS >= N in DURATION [by upstream|path]` or
    /// `STATUS rate > P% over DURATION [min N] [by upstream|path]`.
    pub fn parse(text: &str) -> Result<Rule, String> {
        let fail = |why: String| {
            format!(
                "alert rule `{text}`: {why} (rules look like `503 >= 50 in 30s`, \
                 `5xx rate > 5% over 1m min 100`, optionally `by upstream` or `by path`)"
            )
        };
        let lower = text.to_ascii_lowercase();
        let words = tokens(&lower);
        let mut at = 0;
        let next = |at: &mut usize, what: &str| -> Result<&str, String> {
            let w = words
                .get(*at)
                .copied()
                .ok_or_else(|| fail(format!("expected {what} at the end")))?;
            *at += 1;
            Ok(w)
        };

        let status = next(&mut at, "a status")?;
        let statuses = if let Some(class) = status.strip_suffix("xx") {
            match class.parse::<u16>() {
                Ok(c @ 1..=5) => StatusMatch::Class(c),
                _ => return Err(fail(format!("`{status}` is not a status class like 5xx"))),
            }
        } else {
            match status.parse::<u16>() {
                Ok(c @ 100..=599) => StatusMatch::Code(c),
                _ => return Err(fail(format!("`{status}` is not a status like 503 or 5xx"))),
            }
        };
        let mut word = next(&mut at, "`>=`, `>` or `rate`")?;
        let rate = word == "rate";
        if rate {
            word = next(&mut at, "`>=` or `>`")?;
        }
        let compare = match word {
            ">=" => Compare::AtLeast,
            ">" => Compare::Above,
            _ => return Err(fail(format!("expected `>=` or `>`, found `{word}`"))),
        };
        let limit = next(&mut at, "a number")?;
        let (measure_limit, percent) = if rate {
            let p = limit.strip_suffix('%').unwrap_or(limit);
            let p: f64 = p
                .parse()
                .ok()
                .filter(|p: &f64| (0.0..=100.0).contains(p))
                .ok_or_else(|| fail(format!("`{limit}` is not a percentage")))?;
            (0, p)
        } else {
            let n: u64 = limit
                .parse()
                .map_err(|_| fail(format!("`{limit}` is not a count")))?;
            (n, 0.0)
        };
        match next(&mut at, "`in` or `over`")? {
            "in" | "over" => {}
            w => return Err(fail(format!("expected `in` or `over`, found `{w}`"))),
        }
        let window = window_seconds(next(&mut at, "a duration")?).map_err(fail)?;
        let mut min = None;
        let mut by = Dimension::None;
        while at < words.len() {
            match next(&mut at, "more")? {
                "min" if rate => {
                    let n = next(&mut at, "a count")?;
                    min = Some(
                        n.parse::<u64>()
                            .map_err(|_| fail(format!("`{n}` is not a count")))?,
                    );
                }
                "by" => {
                    by = match next(&mut at, "`upstream` or `path`")? {
                        "upstream" => Dimension::Upstream,
                        "path" => Dimension::Path,
                        w => {
                            return Err(fail(format!(
                                "can split by `upstream` or `path`, not `{w}`"
                            )))
                        }
                    }
                }
                w => return Err(fail(format!("unexpected `{w}`"))),
            }
        }
        let measure = if rate {
            Measure::Rate {
                compare,
                percent,
                // Without a guard one error in a quiet minute is 100%.
                min: min.unwrap_or(20),
            }
        } else {
            Measure::Count {
                compare,
                limit: measure_limit,
            }
        };
        Ok(Rule {
            statuses,
            measure,
            window,
            by,
        })
    }

    /// Whether the window's counts break the rule.
    pub(super) fn breached(&self, hits: u64, total: u64) -> bool {
        match self.measure {
            Measure::Count { compare, limit } => compare.holds(hits as f64, limit as f64),
            Measure::Rate {
                compare,
                percent,
                min,
            } => total >= min.max(1) && compare.holds(hits as f64 * 100.0 / total as f64, percent),
        }
    }
}
