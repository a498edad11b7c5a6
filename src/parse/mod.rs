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
mod delimited;
mod describe;
mod search;
mod w3c;
use checks::{holds, is_count, is_status};
use delimited::match_delimited;
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
}

#[inline]
pub fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
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
