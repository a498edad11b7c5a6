//! Log formats as data: a [`Grammar`] is a sequence of literals and typed
//! fields, compiled from a server's own format syntax.
//!
//! Three front ends produce the same model: [`nginx`] (`log_format` strings and
//! whole `nginx.conf` files), [`apache`] (`LogFormat` strings and `httpd.conf`
//! files) and [`w3c`] (IIS `#Fields:` lists). A variable logspike does not know
//! becomes a field with [`Role::Other`] and its own name, never an error.
//! Built-in grammars live in `grammars/` and are embedded by [`builtin`].

pub mod apache;
pub mod builtin;
pub mod nginx;
pub mod server;
pub mod w3c;

use std::fmt;

/// Most fields one grammar may have; records keep their spans in a fixed
/// array of this size so that parsing a line allocates nothing.
pub const MAX_FIELDS: usize = 64;

/// What a field means to logspike. Fields with the same role are
/// interchangeable for the typed accessors; the first one in a grammar wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Role {
    RemoteAddr,
    Ident,
    RemoteUser,
    Time,
    /// IIS `date`; combined with [`Role::TimeOfDay`] into the timestamp.
    Date,
    /// IIS `time`.
    TimeOfDay,
    Request,
    Method,
    /// The request target with its query (`$request_uri`).
    Uri,
    Path,
    Query,
    Protocol,
    Status,
    /// Response body bytes (`$body_bytes_sent`, `%b`, `%B`).
    BodyBytes,
    /// Bytes sent including headers (`$bytes_sent`, `%O`, IIS `sc-bytes`).
    BytesSent,
    BytesReceived,
    RequestTime,
    Host,
    ServerPort,
    Referer,
    UserAgent,
    XForwardedFor,
    UpstreamAddr,
    UpstreamStatus,
    UpstreamResponseTime,
    UpstreamConnectTime,
    UpstreamHeaderTime,
    Other,
}

/// Number of [`Role`] variants, for role-indexed tables.
pub const ROLE_COUNT: usize = Role::Other as usize + 1;

/// How a time field is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeFormat {
    /// `10/Oct/2000:13:55:36 -0700` (nginx `$time_local`, Apache `%t`).
    Clf,
    /// `2000-10-10T13:55:36-07:00` (nginx `$time_iso8601`).
    Iso8601,
    /// Seconds since the epoch with a fraction (nginx `$msec`).
    EpochSeconds,
    EpochMillis,
    EpochMicros,
    /// A strftime pattern (Apache `%{...}t`).
    Strftime(String),
    /// IIS `date` (`2018-01-01`), UTC.
    W3cDate,
    /// IIS `time` (`08:09:10` or `08:09:10.123`), UTC.
    W3cTime,
}

/// The unit a duration field is written in; values are reported in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Millis,
    Micros,
}

/// How a field's text is escaped by the server that wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// nginx `escape=default` and Apache: `\xHH`, `\"`, `\\`.
    Backslash,
    /// nginx `escape=json`: `\"`, `\\`, `\uXXXX`, `\n` ...
    Json,
    /// IIS W3C: `+` stands for a space.
    Plus,
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The name in the server's own syntax: `time_local`, `%>s`, `cs-uri-stem`.
    pub name: String,
    pub role: Role,
    pub time: Option<TimeFormat>,
    pub unit: Option<Unit>,
    pub escape: Escape,
}

impl Field {
    pub fn new(name: impl Into<String>, role: Role) -> Field {
        Field {
            name: name.into(),
            role,
            time: None,
            unit: None,
            escape: Escape::Backslash,
        }
    }

    pub fn with_time(mut self, time: TimeFormat) -> Field {
        self.time = Some(time);
        self
    }

    pub fn with_unit(mut self, unit: Unit) -> Field {
        self.unit = Some(unit);
        self
    }

    pub fn with_escape(mut self, escape: Escape) -> Field {
        self.escape = escape;
        self
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Literal(Vec<u8>),
    Field(Field),
}

/// Where a grammar came from, which decides how its lines are split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Nginx,
    Apache,
    /// IIS W3C extended: space-separated values driven by `#Fields:`.
    W3c,
}

impl fmt::Display for Syntax {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Syntax::Nginx => "nginx",
            Syntax::Apache => "apache",
            Syntax::W3c => "iis",
        })
    }
}

/// A named log format: literals and fields in line order.
#[derive(Debug, Clone, PartialEq)]
pub struct Grammar {
    pub name: String,
    pub syntax: Syntax,
    /// The format text as the user or the server config gave it.
    pub source: String,
    pub items: Vec<Item>,
}

impl Grammar {
    pub fn fields(&self) -> impl Iterator<Item = &Field> {
        self.items.iter().filter_map(|item| match item {
            Item::Field(field) => Some(field),
            Item::Literal(_) => None,
        })
    }

    /// Compiles a format string, telling nginx (`$var`) from Apache (`%x`)
    /// syntax by which sigil it uses.
    pub fn from_format(name: &str, format: &str) -> Result<Grammar, GrammarError> {
        let trimmed = format.trim_start();
        if trimmed.starts_with("#Fields:") {
            return w3c::parse_fields_directive(name, trimmed);
        }
        let dollars = format.matches('$').count();
        let percents = format.matches('%').count();
        if dollars == 0 && percents == 0 {
            return Err(GrammarError::new(
                name,
                "a format needs nginx `$variables` or Apache `%directives`",
            ));
        }
        if dollars >= percents {
            nginx::parse_log_format(name, format)
        } else {
            apache::parse_log_format(name, format)
        }
    }

    /// Checks what every front end must guarantee before a parser is built.
    pub(crate) fn validate(self) -> Result<Grammar, GrammarError> {
        let count = self.fields().count();
        if count == 0 {
            return Err(GrammarError::new(&self.name, "the format has no fields"));
        }
        if count > MAX_FIELDS {
            return Err(GrammarError::new(
                &self.name,
                format!("the format has {count} fields; at most {MAX_FIELDS} are supported"),
            ));
        }
        if self.syntax != Syntax::W3c {
            for pair in self.items.windows(2) {
                if let [Item::Field(a), Item::Field(b)] = pair {
                    return Err(GrammarError::new(
                        &self.name,
                        format!(
                            "fields `{}` and `{}` follow each other with nothing between them, \
                             so a line cannot be split between them",
                            a.name, b.name
                        ),
                    ));
                }
            }
        }
        Ok(self)
    }
}

/// Reads a quoted string of a server config after its opening `quote`:
/// `\n`, `\t`, `\r`, `\"`, `\'` and `\\` are unescaped, any other
/// backslash is kept. Returns the value and how many newlines it spans, or
/// `None` when the string is never closed.
pub(crate) fn read_quoted(
    chars: &mut std::iter::Peekable<std::str::Chars>,
    quote: char,
) -> Option<(String, usize)> {
    let mut value = String::new();
    let mut newlines = 0;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                'r' => value.push('\r'),
                other @ ('"' | '\'' | '\\') => value.push(other),
                other => {
                    value.push('\\');
                    value.push(other);
                }
            },
            c if c == quote => return Some((value, newlines)),
            c => {
                newlines += usize::from(c == '\n');
                value.push(c);
            }
        }
    }
    None
}

/// Appends a literal, merging it with a literal just before it.
pub(crate) fn push_literal(items: &mut Vec<Item>, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    if let Some(Item::Literal(last)) = items.last_mut() {
        last.extend_from_slice(bytes);
    } else {
        items.push(Item::Literal(bytes.to_vec()));
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("format `{name}`: {message}")]
pub struct GrammarError {
    pub name: String,
    pub message: String,
}

impl GrammarError {
    pub fn new(name: &str, message: impl Into<String>) -> GrammarError {
        GrammarError {
            name: name.to_string(),
            message: message.into(),
        }
    }
}

/// A warning met while reading a server config, such as an `include` that
/// is not followed. Reading goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    pub line: usize,
    pub message: String,
}

/// What logspike reads from one server config file: its formats, and the
/// directives that lead to other files (includes) and name a log's format.
#[derive(Debug, Default)]
pub struct ConfigFormats {
    pub grammars: Vec<Grammar>,
    /// The line of each grammar's directive, in the same order.
    pub lines: Vec<usize>,
    pub warnings: Vec<ConfigWarning>,
    /// `include` (nginx) and `Include`/`IncludeOptional` (Apache)
    /// arguments, with their lines.
    pub includes: Vec<(usize, String)>,
    /// `access_log` (nginx) and `CustomLog` (Apache) directives.
    pub logs: Vec<LogDirective>,
    /// Apache `ServerRoot`, which relative paths start from.
    pub server_root: Option<String>,
    /// Apache `Define NAME VALUE`, for `${NAME}` in later paths.
    pub defines: Vec<(String, String)>,
}

/// A log file and the format a server config names for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogDirective {
    pub line: usize,
    /// As written (variables not yet expanded).
    pub path: String,
    /// A format's name, or for Apache an inline format string; `None` for
    /// nginx's default (`combined`).
    pub format: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigil_decides_the_front_end() {
        let g = Grammar::from_format("x", "$remote_addr [$time_local] \"$request\"").unwrap();
        assert_eq!(g.syntax, Syntax::Nginx);
        let g = Grammar::from_format("x", "%h %l %u %t \"%r\" %>s %b").unwrap();
        assert_eq!(g.syntax, Syntax::Apache);
        let g = Grammar::from_format("x", "#Fields: date time c-ip").unwrap();
        assert_eq!(g.syntax, Syntax::W3c);
        assert!(Grammar::from_format("x", "no fields here").is_err());
    }

    #[test]
    fn adjacent_fields_are_refused_with_their_names() {
        let err = Grammar::from_format("x", "$status$body_bytes_sent").unwrap_err();
        assert!(
            err.message.contains("`status` and `body_bytes_sent`"),
            "{err}"
        );
    }
}
