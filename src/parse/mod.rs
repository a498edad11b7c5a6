//! One line in, one typed [`Record`] or a cheap [`Reject`] out.
//!
//! A [`Grammar`] is compiled once into a [`Layout`]: a list of steps that
//! either match a literal or take a field up to the next literal. Matching
//! uses `memchr`/`memmem`, allocates nothing, and records each field as a
//! byte span of the line; typed values (status, time, request line,
//! upstream attempts) are decoded from the spans, the time eagerly because
//! every consumer needs it, the rest on demand.
//!
//! Field boundaries follow what servers actually write:
//! - a quoted field ends at the first unescaped closing literal, so `\"`
//!   inside Apache and nginx values does not end it;
//! - address and upstream lists (`a, b : c`) run over their `, ` and ` : `
//!   separators even where the grammar separates fields with a space;
//! - text after the last field that starts with a space is accepted and
//!   flagged ([`Record::has_trailing`]): people append fields to a known
//!   format more often than they rename it.
//!
//! IIS W3C lines are split on spaces instead and driven by the latest
//! `#Fields:` directive; see [`LineParser`].
//!
//! One file on purpose, over the house's 700 lines: the matcher
//! ([`LineParser::parse`]), the field checks and the byte search are the
//! inner loop of every job. rustc places a module's items in one codegen
//! unit and inlines them into each other there; split across modules,
//! each small helper would need an `#[inline]` to stay in the loop. A
//! split is to be weighed with `cargo bench --bench parse`. Time formats
//! ([`time`]) and value decoding ([`value`]), off that loop, have files of
//! their own.

pub mod time;
pub mod value;

use std::sync::Arc;

use crate::grammar::{Field, Grammar, Item, Role, Syntax, TimeFormat, MAX_FIELDS, ROLE_COUNT};
use time::TimeCache;
pub use time::Timestamp;
pub use value::{Attempt, Request, Value};

mod checks;
mod search;
use checks::{holds, is_count, is_status};
pub(crate) use search::find_byte;

/// Longest line parsed; longer lines are rejected as [`RejectKind::TooLong`].
pub const MAX_LINE: usize = 1 << 20;

const NO_SLOT: u8 = u8::MAX;

/// A field's byte range in its line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

#[derive(Debug)]
enum Until {
    /// Up to the next occurrence of a literal (for the last field: a
    /// space, or the end of the line).
    Literal {
        lit: Box<[u8]>,
        /// The field sits between quotes: skip `\"`.
        quoted: bool,
        /// The server escapes quotes in this field, so its first unescaped
        /// quote closes it: a line that goes on otherwise there has more
        /// (or other) fields than the grammar, and is not folded into one.
        closes: bool,
        /// The field holds a list (`a, b : c`): skip its separators.
        list: bool,
        /// The value itself holds this many spaces (a time such as
        /// `10/Oct/2000:13:55:36 -0700`), so that many matches of a
        /// literal starting with a space are inside it.
        inner_spaces: u8,
        /// The last field: the literal is a space that ends the value
        /// and is not consumed; no space means the value runs to the end.
        last: bool,
    },
    /// The last field: to the end of the line.
    Rest,
}

/// Spaces a time value contains, from its format.
fn time_spaces(field: &Field) -> u8 {
    match &field.time {
        Some(TimeFormat::Clf) => 1,
        Some(TimeFormat::Strftime(pattern)) => {
            let expanded = pattern
                .replace("%c", "a b d T Y")
                .replace("%r", "I:M:S p")
                .replace("%+", "a b d T Z Y");
            expanded.bytes().filter(|&b| b == b' ').count().min(255) as u8
        }
        _ => 0,
    }
}

#[derive(Debug)]
enum Step {
    /// A literal the line must continue with (only where no field precedes
    /// it: a field step consumes the literal that ends it).
    Literal(Box<[u8]>),
    Field {
        slot: u8,
        until: Until,
        check: Check,
        /// Spaces inside the value must be list separators.
        list: bool,
    },
}

/// What a field's value must look like, decided at compile time so the
/// hot loop does not consult the field's description. A value that does
/// not hold its type rejects the line at that field: a shifted line must
/// never hand one field's text to another.
#[derive(Debug, Clone)]
enum Check {
    Any,
    /// Three digits, or `-`.
    Status,
    /// A byte count; `nginx` marks `-` as unusual (nginx writes numbers).
    Count {
        nginx: bool,
    },
    /// Seconds (or another unit) as digits with an optional fraction.
    Duration,
    /// A TCP port.
    Port,
    /// One word: no space, no quote (a host name, a method, a protocol).
    Token,
    /// A TLS protocol name (`TLSv1.2`).
    Tls,
    /// `-` in real logs; anything else is unusual.
    Ident,
    /// A user name: one word as a rule.
    User,
    Time(TimeFormat),
    /// A list (`a, b : c`) whose items are each checked.
    List(ListItem),
}

/// What each item of a list field holds.
#[derive(Debug, Clone, Copy)]
enum ListItem {
    /// An IP address, a host name, `unix:PATH` or an nginx upstream
    /// group name.
    Address,
    Status,
    Count,
    Duration,
    /// One word per item (`$upstream_cache_status`).
    Token,
    /// Client-supplied text (`X-Forwarded-For`): split, not checked.
    Any,
}

/// The check for a field, from its role and, for fields logspike has no
/// role for, from its name when that name says what it holds.
fn check_for(field: &Field, syntax: Syntax) -> Check {
    let nginx = syntax == Syntax::Nginx;
    match field.role {
        Role::Status => Check::Status,
        Role::BodyBytes | Role::BytesSent | Role::BytesReceived => Check::Count { nginx },
        Role::RequestTime => Check::Duration,
        Role::ServerPort => Check::Port,
        Role::Host | Role::Method | Role::Protocol => Check::Token,
        Role::Ident => Check::Ident,
        Role::RemoteUser => Check::User,
        Role::Time => match &field.time {
            Some(format) => Check::Time(format.clone()),
            None => Check::Any,
        },
        Role::RemoteAddr | Role::UpstreamAddr => Check::List(ListItem::Address),
        Role::XForwardedFor => Check::List(ListItem::Any),
        Role::UpstreamStatus => Check::List(ListItem::Status),
        Role::UpstreamResponseTime | Role::UpstreamConnectTime | Role::UpstreamHeaderTime => {
            Check::List(ListItem::Duration)
        }
        _ => {
            let name = field.name.as_str();
            if name.eq_ignore_ascii_case("ssl_protocol") || name == "%{SSL_PROTOCOL}x" {
                Check::Tls
            } else if name.starts_with("upstream_") {
                Check::List(if name.contains("length") || name.contains("bytes") {
                    ListItem::Count
                } else if name.ends_with("_time") {
                    ListItem::Duration
                } else if name.ends_with("_status") {
                    ListItem::Token
                } else {
                    ListItem::Any
                })
            } else if nginx && matches!(name, "connection" | "connection_requests" | "pid") {
                Check::Count { nginx }
            } else {
                Check::Any
            }
        }
    }
}

/// A grammar compiled for matching.
#[derive(Debug)]
pub struct Layout {
    grammar: Arc<Grammar>,
    fields: Vec<Field>,
    steps: Vec<Step>,
    /// Per slot, for W3C lines (delimited grammars keep theirs in `steps`).
    checks: Vec<Check>,
    roles: [u8; ROLE_COUNT],
}

/// Fields whose value may be a list with `, ` or ` : ` inside: client
/// address chains and every nginx `$upstream_*` variable.
fn is_list(field: &Field) -> bool {
    matches!(
        field.role,
        Role::RemoteAddr
            | Role::XForwardedFor
            | Role::UpstreamAddr
            | Role::UpstreamStatus
            | Role::UpstreamResponseTime
            | Role::UpstreamConnectTime
            | Role::UpstreamHeaderTime
    ) || field.name.starts_with("upstream_")
}

impl Layout {
    pub fn new(grammar: Arc<Grammar>) -> Layout {
        let fields: Vec<Field> = grammar.fields().cloned().collect();
        let mut roles = [NO_SLOT; ROLE_COUNT];
        for (slot, field) in fields.iter().enumerate() {
            let entry = &mut roles[field.role as usize];
            if *entry == NO_SLOT {
                *entry = slot as u8;
            }
        }
        let mut steps = Vec::new();
        let mut slot = 0u8;
        let items = &grammar.items;
        for (i, item) in items.iter().enumerate() {
            match item {
                Item::Literal(lit) => {
                    // A literal right after a field is consumed by it.
                    if !matches!(i.checked_sub(1).map(|p| &items[p]), Some(Item::Field(_))) {
                        steps.push(Step::Literal(lit.clone().into_boxed_slice()));
                    }
                }
                Item::Field(field) => {
                    let quoted = matches!(i.checked_sub(1).map(|p| &items[p]),
                        Some(Item::Literal(l)) if l.ends_with(b"\""));
                    let until = match items.get(i + 1) {
                        Some(Item::Literal(next)) => Until::Literal {
                            lit: next.clone().into_boxed_slice(),
                            quoted: quoted && next.starts_with(b"\""),
                            closes: quoted
                                && next.starts_with(b"\"")
                                && field.escape != crate::grammar::Escape::None,
                            list: is_list(field),
                            inner_spaces: if next.starts_with(b" ") {
                                time_spaces(field)
                            } else {
                                0
                            },
                            last: false,
                        },
                        _ if matches!(
                            field.role,
                            Role::Request
                                | Role::Referer
                                | Role::UserAgent
                                | Role::Uri
                                | Role::Path
                                | Role::Query
                        ) =>
                        {
                            Until::Rest
                        }
                        _ => Until::Literal {
                            lit: Box::new(*b" "),
                            quoted: false,
                            closes: false,
                            list: is_list(field),
                            inner_spaces: time_spaces(field),
                            last: true,
                        },
                    };
                    let check = check_for(field, grammar.syntax);
                    steps.push(Step::Field {
                        slot,
                        until,
                        check,
                        list: is_list(field),
                    });
                    slot += 1;
                }
            }
        }
        let checks = fields
            .iter()
            .map(|f| check_for(f, grammar.syntax))
            .collect();
        Layout {
            grammar,
            fields,
            steps,
            checks,
            roles,
        }
    }

    pub fn grammar(&self) -> &Arc<Grammar> {
        &self.grammar
    }

    /// The grammar logs upstream attempts.
    #[inline]
    pub fn has_upstreams(&self) -> bool {
        self.slot(Role::UpstreamAddr).is_some()
            || self.slot(Role::UpstreamStatus).is_some()
            || self.slot(Role::UpstreamResponseTime).is_some()
    }

    /// The grammar logs a response size.
    #[inline]
    pub fn has_bytes(&self) -> bool {
        self.slot(Role::BodyBytes).is_some() || self.slot(Role::BytesSent).is_some()
    }

    /// The grammar logs upstream connect times (so a missing one means
    /// the attempt never connected).
    #[inline]
    pub fn has_connect_time(&self) -> bool {
        self.slot(Role::UpstreamConnectTime).is_some()
    }

    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The slot of the first field with this role.
    #[inline]
    pub fn slot(&self, role: Role) -> Option<usize> {
        let slot = self.roles[role as usize];
        (slot != NO_SLOT).then_some(slot as usize)
    }
}

/// Why a line was not parsed. Small and allocation-free: the message is
/// built by [`LineParser::describe`] only when a rejection is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectKind {
    /// A literal of the grammar is not where it should be.
    Literal {
        step: u16,
    },
    /// No closing literal was found for a field.
    Unterminated {
        slot: u8,
    },
    /// A field holds a value of the wrong shape (a status that is not a
    /// number, a time that is not a time).
    BadValue {
        slot: u8,
        /// Length of the value, to show it whole.
        len: u16,
    },
    /// A quoted field's closing quote is followed by something other than
    /// what the grammar has next.
    StrayQuote {
        slot: u8,
    },
    /// The line goes on after the last field without a space.
    Trailing,
    /// No format was chosen for this input: nothing fits it.
    NoFormat,
    TooLong,
    /// W3C: the number of values does not match `#Fields:`.
    FieldCount {
        got: u16,
        expected: u16,
    },
    /// W3C: a data line before any `#Fields:` that no built-in layout fits.
    NoFieldsDirective {
        got: u16,
    },
    /// W3C: a `#Fields:` directive that cannot be compiled.
    BadFieldsDirective,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reject {
    pub kind: RejectKind,
    /// Byte offset in the line where matching failed.
    pub column: u32,
    /// Which of the parser's layouts the reason refers to.
    layout: u16,
}

/// What one line turned out to be.
pub enum Outcome<'a> {
    Record(Record<'a>),
    /// A W3C `#` directive.
    Directive,
    /// An empty line (or only white space).
    Blank,
    Rejected(Reject),
}

/// A parsed line: spans into the line plus the decoded time.
#[derive(Clone)]
pub struct Record<'a> {
    line: &'a [u8],
    layout: &'a Layout,
    spans: &'a [Span; MAX_FIELDS],
    time: Option<Timestamp>,
    trailing: bool,
    /// Where the text after the last field starts, when there is some.
    extra_at: u32,
    /// Matched, but with a value real logs almost never hold (an ident
    /// other than `-`): another grammar that matches exactly is preferred.
    unusual: bool,
}

impl<'a> Record<'a> {
    #[inline]
    pub fn line(&self) -> &'a [u8] {
        self.line
    }

    pub fn layout(&self) -> &'a Layout {
        self.layout
    }

    /// The grammar that matched this line.
    pub fn grammar(&self) -> &'a Grammar {
        &self.layout.grammar
    }

    /// The line went on after the last field.
    #[inline]
    pub fn has_trailing(&self) -> bool {
        self.trailing
    }

    /// The text after the last field (with its leading space), if any.
    pub fn extra(&self) -> Option<&'a [u8]> {
        self.trailing.then(|| &self.line[self.extra_at as usize..])
    }

    /// Matched with no trailing text and no unusual values.
    #[inline]
    pub fn is_exact(&self) -> bool {
        !self.trailing && !self.unusual
    }

    /// How well the grammar fits the line: 3 exactly, 2 with trailing
    /// text, 1 with unusual values. Detection and mixed-format parsing
    /// prefer the grammar with the best fit.
    pub fn fit(&self) -> u8 {
        fit(self.trailing, self.unusual)
    }

    #[inline]
    pub fn time(&self) -> Option<Timestamp> {
        self.time
    }

    /// The raw bytes of a field slot, `-` included.
    #[inline]
    pub fn raw(&self, slot: usize) -> &'a [u8] {
        let span = self.spans[slot];
        &self.line[span.start as usize..span.end as usize]
    }

    /// The value of the first field with this role; `None` when the grammar
    /// has no such field or the server wrote `-`.
    #[inline]
    pub fn get(&self, role: Role) -> Option<Value<'a>> {
        let slot = self.layout.slot(role)?;
        Value::new(self.raw(slot), self.layout.fields[slot].escape)
    }

    /// The value of a field by its name in the grammar (`http_x_request_id`,
    /// `%{X-Request-Id}i`, `cs(Cookie)`).
    pub fn field(&self, name: &str) -> Option<Value<'a>> {
        let slot = self.layout.fields.iter().position(|f| f.name == name)?;
        Value::new(self.raw(slot), self.layout.fields[slot].escape)
    }

    /// Every field with its value (`None` for `-`).
    pub fn fields(&self) -> impl Iterator<Item = (&'a Field, Option<Value<'a>>)> + '_ {
        self.layout
            .fields
            .iter()
            .enumerate()
            .map(|(slot, f)| (f, Value::new(self.raw(slot), f.escape)))
    }
}

/// Matches lines of one input against its grammars.
///
/// Delimited grammars (nginx, Apache) are tried in order; a line that one
/// matches exactly wins over one that another matches with trailing text.
/// A W3C parser follows `#Fields:` directives: a new one switches the
/// columns from there on. A data line whose value count does not fit is
/// tried against earlier layouts of the same file with that count (IIS
/// writes a new header on restart, and merged files interleave them), and,
/// before any header, against the built-in IIS layouts.
pub struct LineParser {
    layouts: Vec<Layout>,
    w3c: Option<W3cState>,
    cache: TimeCache,
    /// Field spans of the line being parsed, two sets so that a partial
    /// fit can be kept while another grammar is tried. Records borrow them,
    /// which keeps a record small and parsing free of copies.
    spans: Box<[[Span; MAX_FIELDS]; 2]>,
}

/// What matching a delimited grammar found, besides the spans.
struct Match {
    time: Option<Timestamp>,
    trailing: bool,
    extra_at: u32,
    unusual: bool,
}

impl Match {
    fn fit(&self) -> u8 {
        fit(self.trailing, self.unusual)
    }
}

fn fit(trailing: bool, unusual: bool) -> u8 {
    match (trailing, unusual) {
        (false, false) => 3,
        (true, false) => 2,
        _ => 1,
    }
}

struct W3cState {
    /// Index into `layouts` of the layout in force, if any.
    current: Option<usize>,
    /// Layouts from the file's own `#Fields:` lines, newest last.
    seen: Vec<usize>,
    /// Built-in layouts for lines before any header.
    defaults: Vec<usize>,
}

impl LineParser {
    /// `grammars` must not be empty; the first is the primary one, whose
    /// syntax decides whether this is a W3C parser.
    pub fn new(grammars: &[Arc<Grammar>]) -> LineParser {
        let layouts: Vec<Layout> = grammars.iter().cloned().map(Layout::new).collect();
        let w3c = grammars
            .first()
            .filter(|g| g.syntax == Syntax::W3c)
            .map(|_| W3cState {
                current: None,
                seen: Vec::new(),
                defaults: (0..layouts.len())
                    .filter(|&i| layouts[i].grammar.syntax == Syntax::W3c)
                    .collect(),
            });
        LineParser {
            layouts,
            w3c,
            cache: TimeCache::default(),
            spans: Box::new([[Span::default(); MAX_FIELDS]; 2]),
        }
    }

    pub fn layouts(&self) -> &[Layout] {
        &self.layouts
    }

    /// Parses one line. A final `\n` or `\r\n` is ignored.
    pub fn parse<'a>(&'a mut self, line: &'a [u8]) -> Outcome<'a> {
        let line = strip_eol(line);
        if line.len() > MAX_LINE {
            return Outcome::Rejected(Reject {
                kind: RejectKind::TooLong,
                column: MAX_LINE as u32,
                layout: 0,
            });
        }
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            return Outcome::Blank;
        }
        if self.w3c.is_some() {
            return self.parse_w3c(line);
        }
        let LineParser {
            layouts,
            cache,
            spans,
            ..
        } = self;
        let mut first_reject = None;
        let mut best: Option<(usize, Match, usize)> = None;
        let mut scratch = 0;
        for (index, layout) in layouts.iter().enumerate() {
            match match_delimited(layout, line, cache, &mut spans[scratch]) {
                Ok(found) if found.fit() == 3 => {
                    best = Some((index, found, scratch));
                    break;
                }
                Ok(found) => {
                    if best.as_ref().is_none_or(|(_, b, _)| found.fit() > b.fit()) {
                        best = Some((index, found, scratch));
                        scratch = 1 - scratch;
                    }
                }
                Err(mut reject) => {
                    if first_reject.is_none() {
                        reject.layout = index as u16;
                        first_reject = Some(reject);
                    }
                }
            }
        }
        let spans: &'a [[Span; MAX_FIELDS]; 2] = spans;
        match (best, first_reject) {
            (Some((index, found, buffer)), _) => Outcome::Record(Record {
                line,
                layout: &layouts[index],
                spans: &spans[buffer],
                time: found.time,
                trailing: found.trailing,
                extra_at: found.extra_at,
                unusual: found.unusual,
            }),
            (None, Some(reject)) => Outcome::Rejected(reject),
            (None, None) => Outcome::Rejected(Reject {
                kind: RejectKind::NoFormat,
                column: 0,
                layout: 0,
            }),
        }
    }

    fn parse_w3c<'a>(&'a mut self, line: &'a [u8]) -> Outcome<'a> {
        let LineParser {
            layouts,
            w3c,
            spans,
            ..
        } = self;
        let state = w3c.as_mut().expect("checked by the caller");
        if line[0] == b'#' {
            if let Some(list) = line.strip_prefix(b"#Fields:") {
                let text = String::from_utf8_lossy(list);
                let name = format!("{}#{}", layouts[0].grammar.name, state.seen.len() + 1);
                match crate::grammar::w3c::grammar_from_ids(&name, text.split_ascii_whitespace()) {
                    Ok(grammar) => {
                        layouts.push(Layout::new(Arc::new(grammar)));
                        state.seen.push(layouts.len() - 1);
                        state.current = Some(layouts.len() - 1);
                    }
                    Err(_) => {
                        return Outcome::Rejected(Reject {
                            kind: RejectKind::BadFieldsDirective,
                            column: 8,
                            layout: 0,
                        })
                    }
                }
            }
            return Outcome::Directive;
        }
        let count = split_w3c(line, &mut spans[0]);
        let spans: &'a [Span; MAX_FIELDS] = &spans[0];
        let fits = |i: &usize| layouts[*i].fields.len() == count;
        let chosen = match state.current {
            Some(current) if fits(&current) => Some(current),
            Some(_) => state.seen.iter().rev().copied().find(fits),
            None => state.defaults.iter().copied().find(fits),
        };
        let Some(index) = chosen else {
            let kind = match state.current {
                Some(current) => RejectKind::FieldCount {
                    got: count as u16,
                    expected: layouts[current].fields.len() as u16,
                },
                None => RejectKind::NoFieldsDirective { got: count as u16 },
            };
            return Outcome::Rejected(Reject {
                kind,
                column: 0,
                layout: state.current.unwrap_or(0) as u16,
            });
        };
        let layout = &layouts[index];
        let value = |role| {
            layout.slot(role).map(|s| {
                let span = spans[s];
                &line[span.start as usize..span.end as usize]
            })
        };
        let used = count.min(layout.fields.len());
        if let Some(slot) = (0..used).find(|&slot| {
            let span = spans[slot];
            !holds(
                &layout.checks[slot],
                &line[span.start as usize..span.end as usize],
            )
        }) {
            return Outcome::Rejected(Reject {
                kind: RejectKind::BadValue {
                    slot: slot as u8,
                    len: (spans[slot].end - spans[slot].start).min(u16::MAX as u32) as u16,
                },
                column: spans[slot].start,
                layout: index as u16,
            });
        }
        let time = match (value(Role::Date), value(Role::TimeOfDay)) {
            (Some(date), Some(tod)) => match time::parse_w3c(date, tod) {
                Some(t) => Some(t),
                None => {
                    let slot = layout.slot(Role::Date).unwrap() as u8;
                    return Outcome::Rejected(Reject {
                        kind: RejectKind::BadValue {
                            slot,
                            len: (spans[slot as usize].end - spans[slot as usize].start)
                                .min(u16::MAX as u32) as u16,
                        },
                        column: spans[slot as usize].start,
                        layout: index as u16,
                    });
                }
            },
            _ => None,
        };
        Outcome::Record(Record {
            line,
            layout,
            spans,
            time,
            trailing: false,
            extra_at: 0,
            unusual: false,
        })
    }

    /// A one-line explanation of a rejection, naming fields and literals.
    pub fn describe(&self, reject: &Reject, line: &[u8]) -> String {
        let line = strip_eol(line);
        if let Some(kind) = error_log_kind(line) {
            return format!("an {kind} error-log line, not an access-log line");
        }
        let layout = self.layouts.get(reject.layout as usize);
        let field_name = |slot: u8| {
            layout
                .and_then(|l| l.fields.get(slot as usize))
                .map_or("?".to_string(), |f| f.name.clone())
        };
        // The literal that ends a field, as the grammar has it.
        let ending = |slot: u8| {
            layout
                .and_then(|l| {
                    l.steps.iter().find_map(|s| match s {
                        Step::Field {
                            slot: s2,
                            until: Until::Literal { lit, .. },
                            ..
                        } if *s2 == slot => Some(crate::text::escape_bytes(lit)),
                        _ => None,
                    })
                })
                .unwrap_or_default()
        };
        let at = (reject.column as usize).min(line.len());
        let found = crate::text::escape_bytes(&line[at..(at + 16).min(line.len())]);
        match reject.kind {
            RejectKind::Literal { step } => {
                let lit = layout.and_then(|l| match l.steps.get(step as usize) {
                    Some(Step::Literal(lit)) => Some(crate::text::escape_bytes(lit)),
                    _ => None,
                });
                let after = layout
                    .and_then(|l| {
                        l.steps[..step as usize].iter().rev().find_map(|s| match s {
                            Step::Field { slot, .. } => Some(*slot),
                            Step::Literal(_) => None,
                        })
                    })
                    .map(|slot| format!(" after field `{}`", field_name(slot)))
                    .unwrap_or_default();
                format!(
                    "expected `{}`{after}, found `{found}`",
                    lit.unwrap_or_default()
                )
            }
            RejectKind::Unterminated { slot } => {
                let next = ending(slot);
                format!(
                    "field `{}` never ends: no `{next}` after it",
                    field_name(slot)
                )
            }
            RejectKind::BadValue { slot, len } => {
                let end = (at + (len as usize).min(40)).min(line.len());
                let value = crate::text::escape_bytes(&line[at..end]);
                format!(
                    "field `{}` has an invalid value `{value}`",
                    field_name(slot)
                )
            }
            RejectKind::StrayQuote { slot } => {
                let next = ending(slot);
                format!(
                    "field `{}` closes with a quote followed by `{found}`, where the format has `{next}`: \
                     the line has other fields here",
                    field_name(slot)
                )
            }
            RejectKind::NoFormat => "no known format fits this input".into(),
            RejectKind::Trailing => format!("unexpected text after the last field: `{found}`"),
            RejectKind::TooLong => format!("line longer than {} bytes", MAX_LINE),
            RejectKind::FieldCount { got, expected } => format!(
                "{got} values where the last #Fields directive declares {expected}, \
                 and no earlier #Fields of this file has {got}"
            ),
            RejectKind::NoFieldsDirective { got } => format!(
                "{got} values before any #Fields directive, and no built-in IIS layout has {got}"
            ),
            RejectKind::BadFieldsDirective => "a #Fields directive that cannot be read".into(),
        }
    }
}

/// Error-log lines often end up in access logs (a shared `error_log` and
/// `access_log` path, or `2>&1`); naming them saves a puzzled look.
fn error_log_kind(line: &[u8]) -> Option<&'static str> {
    let digits = |r: std::ops::Range<usize>| {
        line.get(r)
            .is_some_and(|b| b.iter().all(u8::is_ascii_digit))
    };
    // nginx: `2021/12/01 13:53:33 [error] 31#31: ...`
    if line.len() > 21
        && digits(0..4)
        && line[4] == b'/'
        && line[7] == b'/'
        && line[19..].starts_with(b" [")
    {
        return Some("nginx");
    }
    // Apache 2.4: `[Thu Oct 13 09:12:01.123456 2016] [core:error] ...`
    if line.starts_with(b"[")
        && memchr::memmem::find(line, b"] [").is_some()
        && memchr::memmem::find(line, b":error]")
            .or_else(|| memchr::memmem::find(line, b":warn]"))
            .or_else(|| memchr::memmem::find(line, b":notice]"))
            .is_some()
    {
        return Some("Apache");
    }
    None
}

#[inline]
pub fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// A space inside a list value (`a, b` or `a : b`) rather than after it.
#[inline]
fn continues_list(hay: &[u8], at: usize) -> bool {
    (at > 0 && hay[at - 1] == b',')
        || hay[at..].starts_with(b" : ")
        || (at >= 2 && hay[at - 1] == b':' && hay[at - 2] == b' ')
}

/// Every space in the value belongs to a `, ` or ` : ` separator.
fn is_clean_list(value: &[u8]) -> bool {
    memchr::memchr_iter(b' ', value).all(|i| continues_list(value, i))
}

#[inline]
fn is_escaped(hay: &[u8], at: usize) -> bool {
    // Most quotes follow no backslash: one comparison.
    if at == 0 || hay[at - 1] != b'\\' {
        return false;
    }
    let backslashes = hay[..at].iter().rev().take_while(|&&b| b == b'\\').count();
    backslashes % 2 == 1
}

/// `hay.starts_with(prefix)` for the short literals of a grammar, where a
/// call into libc's memcmp costs more than the comparison.
#[inline(always)]
fn starts_with(hay: &[u8], prefix: &[u8]) -> bool {
    hay.len() >= prefix.len() && hay.iter().zip(prefix).all(|(a, b)| a == b)
}

/// Where a field ends, or why it does not.
enum End {
    At(usize),
    /// No closing literal at all.
    Missing,
    /// A closing quote at this offset is followed by something other than
    /// the rest of the literal.
    StrayQuote(usize),
}

#[inline]
fn find_until(
    hay: &[u8],
    lit: &[u8],
    quoted: bool,
    closes: bool,
    list: bool,
    mut inner_spaces: u8,
) -> End {
    let Some((&first, rest)) = lit.split_first() else {
        return End::Missing;
    };
    let mut from = 0;
    loop {
        let Some(found) = find_byte(&hay[from..], first) else {
            return End::Missing;
        };
        let at = from + found;
        if quoted && is_escaped(hay, at) {
            from = at + 1;
            continue;
        }
        if !starts_with(&hay[at + 1..], rest) {
            if closes {
                return End::StrayQuote(at);
            }
            from = at + 1;
            continue;
        }
        from = at + 1;
        if list && continues_list(hay, at) {
            continue;
        }
        if inner_spaces > 0 {
            inner_spaces -= 1;
            continue;
        }
        return End::At(at);
    }
}

fn match_delimited(
    layout: &Layout,
    line: &[u8],
    cache: &mut TimeCache,
    spans: &mut [Span; MAX_FIELDS],
) -> Result<Match, Reject> {
    let mut time = None;
    let mut unusual = false;
    let mut pos = 0usize;
    let reject = |kind, column: usize| Reject {
        kind,
        column: column as u32,
        layout: 0,
    };
    let mut time_seen = false;
    for (index, step) in layout.steps.iter().enumerate() {
        match step {
            Step::Literal(lit) => {
                if !starts_with(&line[pos..], lit) {
                    return Err(reject(RejectKind::Literal { step: index as u16 }, pos));
                }
                pos += lit.len();
            }
            Step::Field {
                slot,
                until,
                check,
                list,
            } => {
                let rest = &line[pos..];
                let (len, skip) = match until {
                    Until::Literal {
                        lit,
                        quoted,
                        closes,
                        list,
                        inner_spaces,
                        last,
                    } => match find_until(rest, lit, *quoted, *closes, *list, *inner_spaces) {
                        End::At(len) if *last => (len, 0),
                        End::At(len) => (len, lit.len()),
                        End::Missing if *last => (rest.len(), 0),
                        End::Missing => {
                            return Err(reject(RejectKind::Unterminated { slot: *slot }, pos))
                        }
                        End::StrayQuote(at) => {
                            return Err(reject(RejectKind::StrayQuote { slot: *slot }, pos + at))
                        }
                    },
                    Until::Rest => (rest.len(), 0),
                };
                let value = &rest[..len];
                // `vhost 1.2.3.4` is not an address list: a grammar without
                // the vhost must not swallow it into `$remote_addr`. A list
                // whose items are checked is walked item by item below,
                // which rejects such a space the same way.
                let walked = matches!(check, Check::List(item) if !matches!(item, ListItem::Any));
                if *list && !walked && find_byte(value, b' ').is_some() && !is_clean_list(value) {
                    return Err(reject(
                        RejectKind::BadValue {
                            slot: *slot,
                            len: len.min(u16::MAX as usize) as u16,
                        },
                        pos,
                    ));
                }
                let valid = match check {
                    Check::Count { nginx } => {
                        // nginx always writes a number here; `-` is Apache's
                        // `%b` for an empty body, evidence for Apache.
                        unusual |= *nginx && value == b"-";
                        is_count(value)
                    }
                    // Servers write `-` for no ident and no user: an empty
                    // one, or a user one of whose words is a lone `-`, is
                    // the mark of a line with a field too many before it
                    // (`a a - - [...]`). A user name with a space
                    // (`John Smith`) is only unusual.
                    Check::Ident => {
                        unusual |= value != b"-";
                        !value.is_empty()
                    }
                    Check::User => {
                        let spaced = find_byte(value, b' ').is_some();
                        unusual |= spaced;
                        let shifted = spaced && value.split(|&c| c == b' ').any(|w| w == b"-");
                        !value.is_empty() && !shifted
                    }
                    Check::Time(format) if !time_seen => {
                        time_seen = true;
                        time = cache.get(format, value);
                        time.is_some()
                    }
                    // Free text (the request, referer, agent) and the
                    // status, on every line: no call.
                    Check::Any => true,
                    Check::Status => is_status(value),
                    other => holds(other, value),
                };
                if !valid {
                    return Err(reject(
                        RejectKind::BadValue {
                            slot: *slot,
                            len: len.min(u16::MAX as usize) as u16,
                        },
                        pos,
                    ));
                }
                spans[*slot as usize] = Span {
                    start: pos as u32,
                    end: (pos + len) as u32,
                };
                pos += len + skip;
            }
        }
    }
    let trailing = pos < line.len();
    if trailing && line[pos] != b' ' {
        return Err(reject(RejectKind::Trailing, pos));
    }
    Ok(Match {
        time,
        trailing,
        extra_at: pos as u32,
        unusual,
    })
}

/// Splits a W3C data line into values. IIS separates values by one space;
/// IIS Advanced Logging and some other writers use runs of spaces and quote
/// values that hold spaces, so both are accepted. Returns the value count,
/// which may exceed [`MAX_FIELDS`] (extra values are counted, not stored).
fn split_w3c(line: &[u8], spans: &mut [Span; MAX_FIELDS]) -> usize {
    let mut count = 0;
    let mut pos = 0;
    while pos < line.len() {
        if line[pos] == b' ' || line[pos] == b'\t' {
            pos += 1;
            continue;
        }
        let (start, end, next) = if line[pos] == b'"' {
            // `""` inside a quoted value is an escaped quote.
            let mut i = pos + 1;
            loop {
                match memchr::memchr(b'"', &line[i..]) {
                    Some(q) if line.get(i + q + 1) == Some(&b'"') => i += q + 2,
                    Some(q) => break (pos + 1, i + q, i + q + 1),
                    None => break (pos + 1, line.len(), line.len()),
                }
            }
        } else {
            let end = memchr::memchr2(b' ', b'\t', &line[pos..]).map_or(line.len(), |e| pos + e);
            (pos, end, end)
        };
        if count < MAX_FIELDS {
            spans[count] = Span {
                start: start as u32,
                end: end as u32,
            };
        }
        count += 1;
        pos = next;
    }
    count
}

/// The time format of a grammar's time field, if it has one.
pub fn time_format(grammar: &Grammar) -> Option<&TimeFormat> {
    grammar
        .fields()
        .find(|f| f.role == Role::Time)
        .and_then(|f| f.time.as_ref())
}

#[cfg(test)]
mod tests;
