//! `--where`: a small expression language over a record's fields.
//!
//! ```text
//! status >= 500 and host = api.example.com
//! path ^= /api/ and not method in (GET, HEAD)
//! upstream ~ "^10\.0\.0\.[34]:" or status = 5xx
//! ```
//!
//! A condition is a field, an operator and a value. Text fields (`host`,
//! `path`, `query`, `method`, `protocol`, `upstream`, `client`, `user`,
//! `agent`, `referer`) take `=`, `!=`, `^=` (starts with), `~` and `!~`
//! (regular expression, anywhere in the text) and `in (a, b)`; `host`
//! is compared without its port, and in any case but by a regex. Number fields (`status`, `upstream_status`,
//! `bytes`, `request_time` in seconds) take `=`, `!=`, `<`, `<=`, `>`,
//! `>=` and `in`; a status also matches a class (`5xx`). Conditions combine
//! with `and`, `or`, `not` and parentheses (`and` binds tighter). A value
//! is a word, or quoted (`"..."` or `'...'`) when it holds spaces, commas,
//! parentheses or quotes.
//!
//! A record without the field (not in the format, or logged as `-`) fails
//! every condition on it, and so passes its negation (`!=`, `!~`, `not`).
//! `upstream` and `upstream_status` hold each attempt of a request: a
//! condition holds when any attempt satisfies it, and `!=` is true when
//! none is equal.

use regex::bytes::Regex;

use super::tokens::{tokenize, ExprError, Kind, Token};
use crate::parse::Record;

/// A parsed `--where` expression.
#[derive(Debug, Clone)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Text {
        field: TextField,
        test: TextTest,
    },
    Number {
        field: NumberField,
        test: NumberTest,
    },
}

/// The expression in a canonical form that parses back to the same
/// expression: every value quoted, parentheses where `or` sits under `and`
/// or `not`, `!=` and `!~` written as `not`.
impl std::fmt::Display for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let grouped = |e: &Expr, f: &mut std::fmt::Formatter<'_>, or_only: bool| match e {
            Expr::Or(..) => write!(f, "({e})"),
            Expr::And(..) if !or_only => write!(f, "({e})"),
            _ => write!(f, "{e}"),
        };
        match self {
            Expr::And(a, b) => {
                grouped(a, f, true)?;
                f.write_str(" and ")?;
                grouped(b, f, true)
            }
            Expr::Or(a, b) => write!(f, "{a} or {b}"),
            Expr::Not(a) => {
                f.write_str("not ")?;
                grouped(a, f, false)
            }
            Expr::Text { field, test } => {
                let name = field.name();
                match test {
                    TextTest::OneOf(values) if values.len() == 1 => {
                        write!(f, "{name} = {}", quoted(&values[0]))
                    }
                    TextTest::OneOf(values) => {
                        let list: Vec<String> = values.iter().map(|v| quoted(v)).collect();
                        write!(f, "{name} in ({})", list.join(", "))
                    }
                    TextTest::Prefix(p) => write!(f, "{name} ^= {}", quoted(p)),
                    TextTest::Matches(re) => {
                        write!(f, "{name} ~ {}", quoted(re.as_str().as_bytes()))
                    }
                }
            }
            Expr::Number { field, test } => {
                let name = field.name();
                match test {
                    NumberTest::Compare(how, n) => {
                        let op = match how {
                            Compare::Lt => "<",
                            Compare::Le => "<=",
                            Compare::Gt => ">",
                            Compare::Ge => ">=",
                        };
                        write!(f, "{name} {op} {n}")
                    }
                    NumberTest::OneOf { numbers, classes } => {
                        let list: Vec<String> = (numbers.iter().map(|n| n.to_string()))
                            .chain(classes.iter().map(|c| format!("{c}xx")))
                            .collect();
                        match list.as_slice() {
                            [one] => write!(f, "{name} = {one}"),
                            _ => write!(f, "{name} in ({})", list.join(", ")),
                        }
                    }
                }
            }
        }
    }
}

/// A value as the canonical form writes it: in double quotes, `"` and `\`
/// escaped.
pub(super) fn quoted(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextField {
    Host,
    Path,
    Query,
    Method,
    Protocol,
    Upstream,
    Client,
    User,
    Agent,
    Referer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberField {
    Status,
    UpstreamStatus,
    Bytes,
    RequestTime,
}

impl TextField {
    fn name(self) -> &'static str {
        match self {
            TextField::Host => "host",
            TextField::Path => "path",
            TextField::Query => "query",
            TextField::Method => "method",
            TextField::Protocol => "protocol",
            TextField::Upstream => "upstream",
            TextField::Client => "client",
            TextField::User => "user",
            TextField::Agent => "agent",
            TextField::Referer => "referer",
        }
    }
}

impl NumberField {
    fn name(self) -> &'static str {
        match self {
            NumberField::Status => "status",
            NumberField::UpstreamStatus => "upstream_status",
            NumberField::Bytes => "bytes",
            NumberField::RequestTime => "request_time",
        }
    }
}

#[derive(Debug, Clone)]
pub enum TextTest {
    /// Equal to one of these.
    OneOf(Vec<Vec<u8>>),
    Prefix(Vec<u8>),
    Matches(Regex),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Compare {
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NumberTest {
    Compare(Compare, f64),
    /// Equal to one of these numbers, or in one of these status classes
    /// (`5` for `5xx`).
    OneOf {
        numbers: Vec<f64>,
        classes: Vec<u16>,
    },
}

const FIELDS: &str =
    "host, path, query, method, protocol, upstream, client, user, agent, referer, \
                      status, upstream_status, bytes, request_time";

impl Expr {
    /// Parses an expression; the error names the column and shows it.
    pub fn parse(text: &str) -> Result<Expr, String> {
        Expr::parse_at(text).map_err(|e| {
            let caret = " ".repeat(e.column.saturating_sub(1));
            format!("{e}\n  {text}\n  {caret}^")
        })
    }

    fn parse_at(text: &str) -> Result<Expr, ExprError> {
        let tokens = tokenize(text)?;
        let mut parser = Parser {
            tokens: &tokens,
            at: 0,
            end: text.chars().count() + 1,
        };
        let expr = parser.or()?;
        match parser.peek() {
            None => Ok(expr),
            Some(t) => Err(t.error(format!(
                "expected `and`, `or` or the end, found {}",
                t.kind.describe()
            ))),
        }
    }

    /// Whether `record` satisfies the expression.
    pub fn holds(&self, record: &Record) -> bool {
        match self {
            Expr::And(a, b) => a.holds(record) && b.holds(record),
            Expr::Or(a, b) => a.holds(record) || b.holds(record),
            Expr::Not(a) => !a.holds(record),
            Expr::Text { field, test } => text_holds(*field, test, record),
            Expr::Number { field, test } => number_holds(*field, test, record),
        }
    }
}

fn text_holds(field: TextField, test: &TextTest, record: &Record) -> bool {
    let check = |value: &[u8]| match test {
        TextTest::OneOf(wanted) if field == TextField::Host => {
            wanted.iter().any(|w| w.eq_ignore_ascii_case(value))
        }
        TextTest::OneOf(wanted) => wanted.iter().any(|w| w == value),
        TextTest::Prefix(p) if field == TextField::Host => {
            value.len() >= p.len() && value[..p.len()].eq_ignore_ascii_case(p)
        }
        TextTest::Prefix(p) => value.starts_with(p),
        TextTest::Matches(re) => re.is_match(value),
    };
    let one = |v: Option<crate::parse::Value>| v.is_some_and(|v| check(&v.decode()));
    match field {
        TextField::Host => record
            .host()
            .is_some_and(|v| check(super::host_name(&v.decode()))),
        TextField::Path => one(record.request().path),
        TextField::Query => one(record.request().query),
        TextField::Method => record.request().method.is_some_and(check),
        TextField::Protocol => record.request().protocol.is_some_and(check),
        TextField::Upstream => record.upstreams().any(|a| a.addr.is_some_and(check)),
        TextField::Client => one(record.remote_addr()),
        TextField::User => one(record.remote_user()),
        TextField::Agent => one(record.user_agent()),
        TextField::Referer => one(record.referer()),
    }
}

fn number_holds(field: NumberField, test: &NumberTest, record: &Record) -> bool {
    let check = |value: f64| match test {
        NumberTest::Compare(how, bound) => match how {
            Compare::Lt => value < *bound,
            Compare::Le => value <= *bound,
            Compare::Gt => value > *bound,
            Compare::Ge => value >= *bound,
        },
        NumberTest::OneOf { numbers, classes } => {
            numbers.contains(&value)
                || classes
                    .iter()
                    .any(|&c| (value / 100.0).floor() == f64::from(c) && value < 1000.0)
        }
    };
    match field {
        NumberField::Status => record.status().is_some_and(|s| check(f64::from(s))),
        NumberField::UpstreamStatus => record
            .upstreams()
            .any(|a| a.status.is_some_and(|s| check(f64::from(s)))),
        NumberField::Bytes => record.bytes().is_some_and(|b| check(b as f64)),
        NumberField::RequestTime => record.request_time().is_some_and(check),
    }
}

struct Parser<'t> {
    tokens: &'t [Token],
    at: usize,
    /// The column just past the text, for "expected ... at the end".
    end: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self, wanted: &str) -> Result<&Token, ExprError> {
        let end = self.end;
        let token = self.tokens.get(self.at).ok_or_else(|| ExprError {
            column: end,
            message: format!("expected {wanted}, found the end"),
        })?;
        self.at += 1;
        Ok(token)
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.and()?;
        while self.peek().is_some_and(|t| t.keyword("or")) {
            self.at += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.unary()?;
        while self.peek().is_some_and(|t| t.keyword("and")) {
            self.at += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        let token = self.next("a condition such as `status >= 500`")?.clone();
        if token.keyword("not") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if token.kind == Kind::Open {
            let inner = self.or()?;
            let close = self.next("`)`")?;
            if close.kind != Kind::Close {
                return Err(close.error(format!("expected `)`, found {}", close.kind.describe())));
            }
            return Ok(inner);
        }
        let Kind::Word(name) = &token.kind else {
            return Err(token.error(format!(
                "expected a field ({FIELDS}), found {}",
                token.kind.describe()
            )));
        };
        self.condition(name, &token)
    }

    fn condition(&mut self, name: &str, at: &Token) -> Result<Expr, ExprError> {
        let field = field(name)
            .ok_or_else(|| at.error(format!("`{name}` is not a field; the fields: {FIELDS}")))?;
        let op_token = self.next("an operator such as `=`")?.clone();
        let op = match &op_token.kind {
            Kind::Op(op) => *op,
            _ if op_token.keyword("in") => "in",
            other => {
                return Err(op_token.error(format!(
                    "expected an operator (=, !=, ^=, ~, !~, <, <=, >, >=, in), found {}",
                    other.describe()
                )))
            }
        };
        let values = if op == "in" {
            self.list()?
        } else {
            vec![self.value()?]
        };
        match field {
            Field::Text(field) => {
                let first = &values[0];
                let test = match op {
                    "=" | "!=" | "in" => TextTest::OneOf(
                        (values.iter())
                            .map(|(v, _)| match field {
                                TextField::Host => super::host_name(v.as_bytes()).to_vec(),
                                _ => v.clone().into_bytes(),
                            })
                            .collect(),
                    ),
                    "^=" => TextTest::Prefix(first.0.clone().into_bytes()),
                    "~" | "!~" => TextTest::Matches(Regex::new(&first.0).map_err(|e| {
                        ExprError {
                            column: first.1,
                            message: format!("bad regular expression: {e}"),
                        }
                    })?),
                    _ => {
                        return Err(op_token.error(format!(
                            "`{op}` compares numbers, and `{name}` is text (use =, !=, ^=, ~, !~ or in)"
                        )))
                    }
                };
                let expr = Expr::Text { field, test };
                Ok(if op.starts_with('!') {
                    Expr::Not(Box::new(expr))
                } else {
                    expr
                })
            }
            Field::Number(field) => {
                let test = match op {
                    "=" | "!=" | "in" => {
                        let (mut numbers, mut classes) = (Vec::new(), Vec::new());
                        for (text, column) in &values {
                            match number_or_class(text, field) {
                                Some(Ok(n)) => numbers.push(n),
                                Some(Err(c)) => classes.push(c),
                                None => return Err(not_a_number(text, *column, name, field)),
                            }
                        }
                        NumberTest::OneOf { numbers, classes }
                    }
                    "<" | "<=" | ">" | ">=" => {
                        let (text, column) = &values[0];
                        let Some(Ok(n)) = number_or_class(text, NumberField::Bytes) else {
                            return Err(not_a_number(text, *column, name, NumberField::Bytes));
                        };
                        let how = match op {
                            "<" => Compare::Lt,
                            "<=" => Compare::Le,
                            ">" => Compare::Gt,
                            _ => Compare::Ge,
                        };
                        NumberTest::Compare(how, n)
                    }
                    _ => {
                        return Err(op_token.error(format!(
                            "`{op}` is for text, and `{name}` is a number (use =, !=, <, <=, >, >= or in)"
                        )))
                    }
                };
                let expr = Expr::Number { field, test };
                Ok(if op == "!=" {
                    Expr::Not(Box::new(expr))
                } else {
                    expr
                })
            }
        }
    }

    /// A value and its column.
    fn value(&mut self) -> Result<(String, usize), ExprError> {
        let token = self.next("a value")?;
        match &token.kind {
            Kind::Word(w) | Kind::Quoted(w) => Ok((w.clone(), token.column)),
            other => Err(token.error(format!(
                "expected a value, found {} (quote a value that holds one)",
                other.describe()
            ))),
        }
    }

    /// `(a, b, ...)`.
    fn list(&mut self) -> Result<Vec<(String, usize)>, ExprError> {
        let open = self.next("`(`")?;
        if open.kind != Kind::Open {
            return Err(open.error(format!(
                "`in` takes a list in parentheses: (a, b); found {}",
                open.kind.describe()
            )));
        }
        let mut values = vec![self.value()?];
        loop {
            let token = self.next("`,` or `)`")?;
            match token.kind {
                Kind::Comma => values.push(self.value()?),
                Kind::Close => return Ok(values),
                ref other => {
                    return Err(
                        token.error(format!("expected `,` or `)`, found {}", other.describe()))
                    )
                }
            }
        }
    }
}

enum Field {
    Text(TextField),
    Number(NumberField),
}

fn field(name: &str) -> Option<Field> {
    use NumberField as N;
    use TextField as T;
    Some(match name.to_ascii_lowercase().as_str() {
        "host" | "vhost" => Field::Text(T::Host),
        "path" => Field::Text(T::Path),
        "query" => Field::Text(T::Query),
        "method" => Field::Text(T::Method),
        "protocol" => Field::Text(T::Protocol),
        "upstream" => Field::Text(T::Upstream),
        "client" => Field::Text(T::Client),
        "user" => Field::Text(T::User),
        "agent" | "user_agent" => Field::Text(T::Agent),
        "referer" | "referrer" => Field::Text(T::Referer),
        "status" => Field::Number(N::Status),
        "upstream_status" => Field::Number(N::UpstreamStatus),
        "bytes" => Field::Number(N::Bytes),
        "request_time" => Field::Number(N::RequestTime),
        _ => return None,
    })
}

/// A number (`Ok`), a status class such as `5xx` for a status field
/// (`Err(5)`), or neither.
fn number_or_class(text: &str, field: NumberField) -> Option<Result<f64, u16>> {
    let status = matches!(field, NumberField::Status | NumberField::UpstreamStatus);
    if status {
        if let Some(class) = text.to_ascii_lowercase().strip_suffix("xx") {
            return match class.parse::<u16>() {
                Ok(c @ 1..=5) => Some(Err(c)),
                _ => None,
            };
        }
    }
    text.parse::<f64>().ok().filter(|n| n.is_finite()).map(Ok)
}

/// `as_field` says whether a class is allowed: a status compared for
/// equality takes one, an ordering comparison does not.
fn not_a_number(text: &str, column: usize, name: &str, as_field: NumberField) -> ExprError {
    let class = if matches!(as_field, NumberField::Status | NumberField::UpstreamStatus) {
        " or a class like 5xx"
    } else {
        ""
    };
    ExprError {
        column,
        message: format!("`{name}` takes a number{class}; `{text}` is not one"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grammar::builtin::Registry;
    use crate::parse::{LineParser, Outcome};

    const UPSTREAM: &str = r#"10.1.2.3 - alice [10/Oct/2026:13:55:36 +0000] "POST /api/v1/orders?id=7 HTTP/1.1" 502 1234 "https://shop.example/" "curl/8.5.0" 0.250 10.0.0.3:8080, 10.0.0.4:8080 502, 200 0.100, 0.150 0.001, 0.001 0.090, 0.140"#;

    /// A line without most optional fields.
    const BARE: &str =
        r#"10.1.2.3 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "-""#;

    fn holds(expr: &str, line: &str, grammar: &str) -> bool {
        let g = Registry::new().find(grammar).unwrap();
        let mut parser = LineParser::new(&[g]);
        let Outcome::Record(record) = parser.parse(line.as_bytes()) else {
            panic!("{line} does not parse as {grammar}");
        };
        Expr::parse(expr).unwrap().holds(&record)
    }

    #[test]
    fn each_operator_on_each_kind_of_field() {
        let line = UPSTREAM;
        let g = "nginx-upstream";
        for (expr, want) in [
            ("status = 502", true),
            ("status = 5xx", true),
            ("status != 5xx", false),
            ("status >= 500", true),
            ("status < 500", false),
            ("status>=500", true),
            ("status in (500, 503)", false),
            ("status in (4xx, 502)", true),
            ("bytes > 1000", true),
            ("bytes <= 1233", false),
            ("request_time > 0.2", true),
            ("request_time >= 0.3", false),
            ("upstream_status = 200", true),
            ("upstream_status = 503", false),
            ("upstream = 10.0.0.4:8080", true),
            ("upstream != 10.0.0.4:8080", false),
            ("upstream in (10.0.0.9:80, 10.0.0.3:8080)", true),
            (r#"upstream ~ "^10\.0\.0\.[34]:""#, true),
            ("path = /api/v1/orders", true),
            ("path ^= /api/", true),
            ("path ^= /static/", false),
            ("path ~ orders$", true),
            ("path !~ orders", false),
            ("query = id=7", true),
            ("query = \"id=7\"", true),
            ("query ^= id=", true),
            ("path ~ ^/api/v[0-9]+/", true),
            ("path ~ ^/API", false),
            (r#"path ~ "(?i)^/API""#, true),
            ("method = POST", true),
            ("method in (GET, HEAD)", false),
            ("protocol = HTTP/1.1", true),
            ("client ^= 10.1.", true),
            ("user = alice", true),
            ("agent ~ ^curl/", true),
            ("referer = 'https://shop.example/'", true),
            ("host = api.example.com", false),
            ("host != api.example.com", true),
        ] {
            assert_eq!(holds(expr, line, g), want, "{expr}");
        }
    }

    #[test]
    fn and_binds_tighter_than_or_and_not_negates() {
        let line = UPSTREAM;
        let g = "nginx-upstream";
        for (expr, want) in [
            ("status = 200 or status = 502 and method = POST", true),
            ("(status = 200 or status = 502) and method = GET", false),
            ("status = 200 or status = 502 and method = GET", false),
            ("not status = 200", true),
            ("not (status = 502 and method = POST)", false),
            ("NOT status = 502 OR path ^= /api", true),
            ("status = 5xx and not upstream = 10.0.0.9:80", true),
        ] {
            assert_eq!(holds(expr, line, g), want, "{expr}");
        }
    }

    #[test]
    fn host_compares_in_any_case_and_a_missing_field_fails() {
        let line = BARE;
        assert!(!holds("agent = x", line, "nginx-combined"));
        assert!(holds("agent != x", line, "nginx-combined"));
        assert!(!holds("referer ~ .", line, "nginx-combined"));
        assert!(!holds("upstream = x", line, "nginx-combined"));
        assert!(!holds("request_time >= 0", line, "nginx-combined"));
        let vhost = r#"Shop.Example.com:443 10.1.2.3 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "-""#;
        assert!(holds(
            "host = shop.example.com",
            vhost,
            "apache-vhost_combined"
        ));
        assert!(holds(
            "vhost in (a, SHOP.EXAMPLE.COM)",
            vhost,
            "apache-vhost_combined"
        ));
        // Without the port, on either side.
        let g = "nginx-vhost_combined";
        let ported = r#"Shop.Example.com:8443 10.1.2.3 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "-""#;
        assert!(holds("host = shop.example.com", ported, g));
        assert!(holds("host = shop.example.com:80", ported, g));
        assert!(holds("host ~ com$", ported, g));
        assert!(holds("host ^= shop.EXAMPLE", ported, g));
        assert!(
            !holds("host ~ ^shop", ported, g),
            "a regex says its own case"
        );
    }

    #[test]
    fn bad_expressions_name_the_column() {
        for (expr, column, says) in [
            ("", 1, "expected a condition"),
            ("status", 7, "expected an operator"),
            ("status >=", 10, "expected a value"),
            ("stauts = 500", 1, "`stauts` is not a field"),
            ("status = abc", 10, "or a class like 5xx"),
            ("status ~ 5", 8, "is a number"),
            ("host > 3", 6, "is text"),
            ("path ~ \"(\"", 8, "bad regular expression"),
            ("status = 500 and", 17, "expected a condition"),
            ("status = 500 status = 502", 14, "expected `and`, `or`"),
            ("(status = 500", 14, "expected `)`"),
            ("method in GET", 11, "takes a list"),
            ("method in (GET HEAD)", 16, "expected `,` or `)`"),
            ("agent = \"curl", 9, "never closed"),
            ("bytes = 6xx", 9, "takes a number;"),
            ("status ! 5", 8, "unexpected `!`"),
            ("^status = 5", 1, "unexpected `^`"),
        ] {
            let e = Expr::parse_at(expr).expect_err(expr);
            assert_eq!(e.column, column, "{expr}: {e}");
            assert!(e.message.contains(says), "{expr}: {e}");
        }
        let shown = Expr::parse("status >= x").unwrap_err();
        assert_eq!(
            shown,
            "at column 11: `status` takes a number; `x` is not one\n  status >= x\n            ^"
        );
    }

    #[test]
    fn the_canonical_form_parses_back_to_the_same_expression() {
        for (expr, shown) in [
            ("status>=500", "status >= 500"),
            ("status != 5xx", "not status = 5xx"),
            ("status in (500, 4xx)", "status in (500, 4xx)"),
            (
                "path ^= /api/ and (method = GET or method = HEAD)",
                "path ^= \"/api/\" and (method = \"GET\" or method = \"HEAD\")",
            ),
            (
                "not (status = 500 and bytes < 10)",
                "not (status = 500 and bytes < 10)",
            ),
            (r#"agent ~ "a\"b\\.c""#, r#"agent ~ "a\"b\\.c""#),
            ("upstream in (x, 'y z')", "upstream in (\"x\", \"y z\")"),
            (
                "request_time > 0.25 and not referer !~ x",
                "request_time > 0.25 and not not referer ~ \"x\"",
            ),
        ] {
            let parsed = Expr::parse(expr).unwrap();
            let once = parsed.to_string();
            assert_eq!(once, shown, "{expr}");
            let again = Expr::parse(&once).unwrap_or_else(|e| panic!("{once}: {e}"));
            assert_eq!(again.to_string(), once);
            for (line, grammar) in [(UPSTREAM, "nginx-upstream"), (BARE, "nginx-combined")] {
                assert_eq!(
                    holds(expr, line, grammar),
                    holds(&once, line, grammar),
                    "{expr}"
                );
            }
        }
    }

    proptest::proptest! {
        /// Any text gives an expression, whose canonical form parses back
        /// to itself, or an error with a column inside the text (or just
        /// past it); never a panic.
        #[test]
        fn any_text_parses_or_names_a_column(
            text in "(status|path|host|not|and|or|in|[()=!<>^~,\"' ]|5xx|500|/a|x){0,12}"
        ) {
            match Expr::parse_at(&text) {
                Err(e) => proptest::prop_assert!(
                    e.column >= 1 && e.column <= text.chars().count() + 1,
                    "{text}: {e}"
                ),
                Ok(expr) => {
                    let shown = expr.to_string();
                    let again = Expr::parse(&shown);
                    proptest::prop_assert!(again.is_ok(), "{text} -> {shown}: {again:?}");
                    proptest::prop_assert_eq!(again.unwrap().to_string(), shown);
                }
            }
        }
    }
}
