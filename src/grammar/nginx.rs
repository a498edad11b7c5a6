//! nginx `log_format` strings and `nginx.conf` files.
//!
//! A format is text with `$name` or `${name}` variables. Every variable
//! becomes a field; the ones logspike understands get a [`Role`], the rest
//! keep their name as [`Role::Other`]. `escape=` decides how quoted values
//! are decoded later.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while1};
use nom::sequence::delimited;
use nom::{IResult, Parser};

use super::{
    push_literal, read_quoted, ConfigFormats, ConfigWarning, Escape, Field, Grammar, GrammarError,
    Item, LogDirective, Role, Syntax, TimeFormat, Unit,
};

fn is_var_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `$name` or `${name}`.
fn variable(input: &str) -> IResult<&str, &str> {
    let braced = delimited(tag("${"), take_while1(is_var_char), tag("}"));
    let bare = nom::sequence::preceded(tag("$"), take_while1(is_var_char));
    alt((braced, bare)).parse(input)
}

/// Maps an nginx variable to a field.
pub fn field_for(var: &str, escape: Escape) -> Field {
    use Role::*;
    let (role, time, unit) = match var {
        "remote_addr" | "realip_remote_addr" => (RemoteAddr, None, None),
        "remote_user" => (RemoteUser, None, None),
        "time_local" => (Time, Some(TimeFormat::Clf), None),
        "time_iso8601" => (Time, Some(TimeFormat::Iso8601), None),
        "msec" => (Time, Some(TimeFormat::EpochSeconds), None),
        "request" => (Request, None, None),
        "request_method" => (Method, None, None),
        "request_uri" => (Uri, None, None),
        "uri" | "document_uri" => (Path, None, None),
        "args" | "query_string" => (Query, None, None),
        "server_protocol" => (Protocol, None, None),
        "status" => (Status, None, None),
        "body_bytes_sent" => (BodyBytes, None, None),
        "bytes_sent" => (BytesSent, None, None),
        "request_length" => (BytesReceived, None, None),
        "request_time" => (RequestTime, None, Some(Unit::Seconds)),
        "host" | "http_host" | "server_name" => (Host, None, None),
        "server_port" => (ServerPort, None, None),
        "http_referer" => (Referer, None, None),
        "http_user_agent" => (UserAgent, None, None),
        "http_x_forwarded_for" => (XForwardedFor, None, None),
        "upstream_addr" => (UpstreamAddr, None, None),
        "upstream_status" => (UpstreamStatus, None, None),
        "upstream_response_time" => (UpstreamResponseTime, None, Some(Unit::Seconds)),
        "upstream_connect_time" => (UpstreamConnectTime, None, Some(Unit::Seconds)),
        "upstream_header_time" => (UpstreamHeaderTime, None, Some(Unit::Seconds)),
        _ => (Other, None, None),
    };
    let mut field = Field::new(var, role).with_escape(escape);
    field.time = time;
    field.unit = unit;
    field
}

/// Compiles one `log_format` string (the concatenated quoted parts, already
/// unquoted) with `escape=default`.
pub fn parse_log_format(name: &str, format: &str) -> Result<Grammar, GrammarError> {
    parse_log_format_with(name, format, Escape::Backslash)
}

pub fn parse_log_format_with(
    name: &str,
    format: &str,
    escape: Escape,
) -> Result<Grammar, GrammarError> {
    let mut items = Vec::new();
    let mut rest = format;
    while !rest.is_empty() {
        match variable(rest) {
            Ok((after, var)) => {
                items.push(Item::Field(field_for(var, escape)));
                rest = after;
            }
            Err(_) => {
                // A lone `$` (or `${` without a closing brace) is literal text,
                // as nginx itself prints it.
                // Past the first character, which may take several bytes.
                let first = rest.chars().next().map_or(1, char::len_utf8);
                let next = rest[first..].find('$').map_or(rest.len(), |i| i + first);
                push_literal(&mut items, &rest.as_bytes()[..next]);
                rest = &rest[next..];
            }
        }
    }
    Grammar {
        name: name.to_string(),
        syntax: Syntax::Nginx,
        source: format.to_string(),
        items,
    }
    .validate()
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Semicolon,
    Open,
    Close,
}

/// Splits nginx configuration text into tokens with their line numbers.
/// Comments run from `#` to the end of the line outside quotes.
fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, ConfigWarning> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(&c) = chars.peek() {
        match c {
            '\n' => {
                line += 1;
                chars.next();
            }
            c if c.is_whitespace() => {
                chars.next();
            }
            '#' => {
                while let Some(&c) = chars.peek() {
                    if c == '\n' {
                        break;
                    }
                    chars.next();
                }
            }
            ';' => {
                tokens.push((line, Token::Semicolon));
                chars.next();
            }
            '{' => {
                tokens.push((line, Token::Open));
                chars.next();
            }
            '}' => {
                tokens.push((line, Token::Close));
                chars.next();
            }
            '"' | '\'' => {
                chars.next();
                let Some((value, newlines)) = read_quoted(&mut chars, c) else {
                    return Err(ConfigWarning {
                        line,
                        message: "a quoted string is never closed".into(),
                    });
                };
                tokens.push((line, Token::Quoted(value)));
                line += newlines;
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, ';' | '{' | '}' | '"' | '\'') {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push((line, Token::Word(word)));
            }
        }
    }
    Ok(tokens)
}

/// Reads the `log_format`, `include` and `access_log` directives of one
/// nginx configuration file; [`super::server`] follows the includes.
pub fn parse_conf(text: &str) -> Result<ConfigFormats, GrammarError> {
    let tokens = tokenize(text)
        .map_err(|w| GrammarError::new("nginx.conf", format!("line {}: {}", w.line, w.message)))?;
    let mut out = ConfigFormats::default();
    let mut i = 0;
    while i < tokens.len() {
        let (line, token) = &tokens[i];
        let Token::Word(word) = token else {
            i += 1;
            continue;
        };
        let end = tokens[i..]
            .iter()
            .position(|(_, t)| matches!(t, Token::Semicolon | Token::Open | Token::Close))
            .map_or(tokens.len(), |p| i + p);
        let args: Vec<&str> = tokens[i + 1..end]
            .iter()
            .filter_map(|(_, t)| match t {
                Token::Word(s) | Token::Quoted(s) => Some(s.as_str()),
                _ => None,
            })
            .collect();
        match word.as_str() {
            "log_format" => {
                let Some((&name, mut parts)) = args.split_first() else {
                    return Err(GrammarError::new(
                        "nginx.conf",
                        format!("line {line}: log_format without a name"),
                    ));
                };
                let mut escape = Escape::Backslash;
                if let Some(value) = parts.first().and_then(|p| p.strip_prefix("escape=")) {
                    escape = match value {
                        "default" => Escape::Backslash,
                        "json" => Escape::Json,
                        "none" => Escape::None,
                        other => {
                            return Err(GrammarError::new(
                                name,
                                format!("line {line}: unknown escape={other}"),
                            ))
                        }
                    };
                    parts = &parts[1..];
                }
                let format: String = parts.concat();
                let grammar = parse_log_format_with(name, &format, escape)
                    .map_err(|e| GrammarError::new(name, format!("line {line}: {}", e.message)))?;
                out.grammars.push(grammar);
                out.lines.push(*line);
            }
            "include" => {
                for arg in &args {
                    out.includes.push((*line, arg.to_string()));
                }
            }
            "access_log" => match args.first() {
                Some(&"off") | None => {}
                Some(path) => out.logs.push(LogDirective {
                    line: *line,
                    path: path.to_string(),
                    format: args
                        .get(1)
                        .filter(|a| !a.contains('='))
                        .map(|a| a.to_string()),
                }),
            },
            _ => {}
        }
        // Step into blocks (`http {`) rather than over them.
        i = if matches!(tokens.get(end), Some((_, Token::Open))) || end == i {
            end + 1
        } else {
            end.max(i + 1)
        };
    }
    Ok(out)
}

#[cfg(test)]
mod tests {

    /// Found by fuzzing: literal text that starts with a character of
    /// several bytes panicked (a byte index inside it).
    #[test]
    fn literal_text_of_multibyte_characters_is_no_panic() {
        let g = parse_log_format("x", "ܗ$status é$body_bytes_sent ü").unwrap();
        let mut parser = crate::parse::LineParser::new(&[std::sync::Arc::new(g)]);
        let line = "ܗ503 é12 ü".as_bytes();
        let crate::parse::Outcome::Record(r) = parser.parse(line) else {
            panic!("the line fits its format");
        };
        assert_eq!((r.status(), r.bytes()), (Some(503), Some(12)));
    }

    use super::*;

    fn roles(g: &Grammar) -> Vec<Role> {
        g.fields().map(|f| f.role).collect()
    }

    #[test]
    fn combined_compiles_to_literals_and_fields() {
        let g = parse_log_format(
            "combined",
            r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#,
        )
        .unwrap();
        use Role::*;
        assert_eq!(
            roles(&g),
            [RemoteAddr, RemoteUser, Time, Request, Status, BodyBytes, Referer, UserAgent]
        );
        assert_eq!(g.items[1], Item::Literal(b" - ".to_vec()));
        assert_eq!(g.items[3], Item::Literal(b" [".to_vec()));
    }

    #[test]
    fn braced_and_unknown_variables() {
        let g = parse_log_format("x", "${status}x $my_custom_var $ end").unwrap();
        let fields: Vec<_> = g.fields().collect();
        assert_eq!(fields[0].role, Role::Status);
        assert_eq!(fields[1].role, Role::Other);
        assert_eq!(fields[1].name, "my_custom_var");
        assert_eq!(g.items.last(), Some(&Item::Literal(b" $ end".to_vec())));
    }

    #[test]
    fn conf_with_multiline_strings_escape_comments_and_include() {
        let conf = r#"
            # a comment with log_format 'not this';
            http {
                include mime.types;
                log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                                  '$status $body_bytes_sent "$http_referer" '   # trailing comment
                                  '"$http_user_agent" "$http_x_forwarded_for"';
                log_format json_fmt escape=json '{"status":"$status","t":"$time_iso8601"}';
                server { listen 80; access_log /var/log/nginx/access.log main; }
            }
        "#;
        let out = parse_conf(conf).unwrap();
        let names: Vec<_> = out.grammars.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["main", "json_fmt"]);
        assert_eq!(out.grammars[0].fields().count(), 9);
        assert!(out.grammars[0].source.contains("\"$request\" $status"));
        assert_eq!(
            out.grammars[1].fields().next().unwrap().escape,
            Escape::Json
        );
        assert_eq!(out.includes, [(4, "mime.types".to_string())]);
        assert_eq!(
            out.logs,
            [LogDirective {
                line: 9,
                path: "/var/log/nginx/access.log".into(),
                format: Some("main".into())
            }]
        );
        assert_eq!(out.lines, [5, 8]);
    }

    #[test]
    fn conf_errors_name_the_line() {
        let err = parse_conf("http {\n log_format x escape=bogus '$status';\n}").unwrap_err();
        assert!(err.message.contains("line 2"), "{err}");
        assert!(parse_conf("log_format x 'unterminated").is_err());
    }
}
