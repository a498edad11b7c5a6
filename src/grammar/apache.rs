//! Apache `LogFormat` strings (mod_log_config) and `httpd.conf` files.
//!
//! A directive is `%`, optional modifiers (`<`, `>`, `!`, status lists such
//! as `400,501`), an optional `{argument}` and a letter. Modifiers that only
//! decide *whether* a value is logged do not change its shape, so they are
//! parsed and dropped. `%t` carries its own brackets in Apache, so it
//! compiles to `[`, a time field, `]`.

use nom::bytes::complete::{take_till, take_while};
use nom::character::complete::{anychar, char};
use nom::combinator::opt;
use nom::sequence::delimited;
use nom::{IResult, Parser};

use super::{
    push_literal, read_quoted, ConfigFormats, Escape, Field, Grammar, GrammarError, Item,
    LogDirective, Role, Syntax, TimeFormat, Unit,
};

struct Directive<'a> {
    text: &'a str,
    arg: Option<&'a str>,
    letter: char,
}

/// Parses what follows a `%`: modifiers, `{arg}`, letter.
fn directive(input: &str) -> IResult<&str, (Option<&str>, char)> {
    let modifiers = take_while(|c: char| matches!(c, '<' | '>' | '!' | ',') || c.is_ascii_digit());
    let arg = opt(delimited(char('{'), take_till(|c| c == '}'), char('}')));
    // `%{VAR}^ti` / `%{VAR}^to`: trailers, two letters after the caret.
    let (rest, (_, arg, letter)) = (modifiers, arg, anychar).parse(input)?;
    if letter == '^' {
        let (rest, (_, second)) = (anychar, anychar).parse(rest)?;
        return Ok((rest, (arg, second)));
    }
    Ok((rest, (arg, letter)))
}

fn header_field(name: String, header: &str) -> Field {
    let role = match header.to_ascii_lowercase().as_str() {
        "referer" | "referrer" => Role::Referer,
        "user-agent" => Role::UserAgent,
        "x-forwarded-for" => Role::XForwardedFor,
        "host" => Role::Host,
        _ => Role::Other,
    };
    Field::new(name, role)
}

fn time_field(name: String, arg: Option<&str>) -> Field {
    let Some(arg) = arg else {
        return Field::new(name, Role::Time).with_time(TimeFormat::Clf);
    };
    let arg = arg
        .strip_prefix("begin:")
        .or_else(|| arg.strip_prefix("end:"))
        .unwrap_or(arg);
    let format = match arg {
        "sec" => TimeFormat::EpochSeconds,
        "msec" => TimeFormat::EpochMillis,
        "usec" => TimeFormat::EpochMicros,
        // Only the fraction of a second: not a timestamp on its own.
        "msec_frac" | "usec_frac" => return Field::new(name, Role::Other),
        pattern => TimeFormat::Strftime(pattern.to_string()),
    };
    Field::new(name, Role::Time).with_time(format)
}

fn field_for(d: &Directive) -> Field {
    use Role::*;
    let name = d.text.to_string();
    match (d.letter, d.arg) {
        ('h' | 'a', _) => Field::new(name, RemoteAddr),
        ('l', _) => Field::new(name, Ident),
        ('u', _) => Field::new(name, RemoteUser),
        ('t', arg) => time_field(name, arg),
        ('r', _) => Field::new(name, Request),
        ('m', _) => Field::new(name, Method),
        ('U', _) => Field::new(name, Path),
        ('q', _) => Field::new(name, Query),
        ('H', _) => Field::new(name, Protocol),
        ('s', _) => Field::new(name, Status),
        ('b' | 'B', _) => Field::new(name, BodyBytes),
        ('O', _) => Field::new(name, BytesSent),
        ('I', _) => Field::new(name, BytesReceived),
        ('D', _) => Field::new(name, RequestTime).with_unit(Unit::Micros),
        ('T', Some("ms")) => Field::new(name, RequestTime).with_unit(Unit::Millis),
        ('T', Some("us")) => Field::new(name, RequestTime).with_unit(Unit::Micros),
        ('T', _) => Field::new(name, RequestTime).with_unit(Unit::Seconds),
        ('v' | 'V', _) => Field::new(name, Host),
        ('p', _) => Field::new(name, ServerPort),
        ('i', Some(header)) => header_field(name, header),
        _ => Field::new(name, Other),
    }
}

/// Compiles one `LogFormat` string (already unquoted).
pub fn parse_log_format(name: &str, format: &str) -> Result<Grammar, GrammarError> {
    let mut items = Vec::new();
    let mut rest = format;
    while let Some(at) = rest.find('%') {
        push_literal(&mut items, &rest.as_bytes()[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('%') {
            push_literal(&mut items, b"%");
            rest = tail;
            continue;
        }
        let Ok((tail, (arg, letter))) = directive(after) else {
            return Err(GrammarError::new(
                name,
                format!("`%` at byte {at} is not followed by a directive"),
            ));
        };
        let text = &rest[at..rest.len() - tail.len()];
        let field = field_for(&Directive { text, arg, letter });
        if letter == 't' && arg.is_none() {
            push_literal(&mut items, b"[");
            items.push(Item::Field(field));
            push_literal(&mut items, b"]");
        } else {
            items.push(Item::Field(field.with_escape(Escape::Backslash)));
        }
        rest = tail;
    }
    push_literal(&mut items, rest.as_bytes());
    merge_path_and_query(&mut items);
    Grammar {
        name: name.to_string(),
        syntax: Syntax::Apache,
        source: format.to_string(),
        items,
    }
    .validate()
}

/// `%U%q` is the usual way to log the request target; `%q` is empty or
/// starts with `?`, so the pair is one URI field rather than two fields
/// with nothing between them.
fn merge_path_and_query(items: &mut Vec<Item>) {
    let mut i = 0;
    while i + 1 < items.len() {
        if let (Item::Field(a), Item::Field(b)) = (&items[i], &items[i + 1]) {
            if a.role == Role::Path && b.role == Role::Query {
                let name = format!("{}{}", a.name, b.name);
                items[i] = Item::Field(Field::new(name, Role::Uri));
                items.remove(i + 1);
            }
        }
        i += 1;
    }
}

/// Splits a config line into words, honouring `"..."` with `\"` inside.
fn words(line: &str) -> Result<Vec<String>, &'static str> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '#' && out.is_empty() {
            break;
        } else if c == '"' {
            chars.next();
            let (value, _) =
                read_quoted(&mut chars, '"').ok_or("a quoted string is never closed")?;
            out.push(value);
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
            out.push(word);
        }
    }
    Ok(out)
}

/// Reads the `LogFormat`, `Include`, `CustomLog`, `ServerRoot` and
/// `Define` directives of one Apache configuration file (lines ending in
/// `\` continue on the next); [`super::server`] follows the includes.
pub fn parse_conf(text: &str) -> Result<ConfigFormats, GrammarError> {
    let mut out = ConfigFormats::default();
    let mut logical = String::new();
    let mut start_line = 0;
    for (index, raw) in text.lines().enumerate() {
        if logical.is_empty() {
            start_line = index + 1;
        }
        if let Some(head) = raw.strip_suffix('\\') {
            logical.push_str(head);
            continue;
        }
        logical.push_str(raw);
        let line = std::mem::take(&mut logical);
        let words = words(&line).map_err(|message| {
            GrammarError::new("httpd.conf", format!("line {start_line}: {message}"))
        })?;
        let Some(keyword) = words.first() else {
            continue;
        };
        if keyword.eq_ignore_ascii_case("LogFormat") {
            let (format, name) = match &words[1..] {
                [format] => (format, "default"),
                [format, name, ..] => (format, name.as_str()),
                [] => {
                    return Err(GrammarError::new(
                        "httpd.conf",
                        format!("line {start_line}: LogFormat without a format"),
                    ))
                }
            };
            let grammar = parse_log_format(name, format).map_err(|e| {
                GrammarError::new(name, format!("line {start_line}: {}", e.message))
            })?;
            out.grammars.push(grammar);
            out.lines.push(start_line);
        } else if keyword.eq_ignore_ascii_case("Include")
            || keyword.eq_ignore_ascii_case("IncludeOptional")
        {
            if let Some(arg) = words.get(1) {
                out.includes.push((start_line, arg.clone()));
            }
        } else if keyword.eq_ignore_ascii_case("CustomLog") {
            // A piped log (`"|rotatelogs ..."`) has no file to match.
            if let Some(path) = words.get(1).filter(|p| !p.starts_with('|')) {
                out.logs.push(LogDirective {
                    line: start_line,
                    path: path.clone(),
                    format: Some(words.get(2).cloned().unwrap_or_else(|| "common".into())),
                });
            }
        } else if keyword.eq_ignore_ascii_case("ServerRoot") {
            out.server_root = words.get(1).cloned();
        } else if keyword.eq_ignore_ascii_case("Define") {
            if let Some(name) = words.get(1) {
                out.defines
                    .push((name.clone(), words.get(2).cloned().unwrap_or_default()));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(g: &Grammar) -> Vec<(&str, Role)> {
        g.fields().map(|f| (f.name.as_str(), f.role)).collect()
    }

    #[test]
    fn combined_with_modifiers() {
        let g = parse_log_format(
            "combined",
            r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i""#,
        )
        .unwrap();
        use Role::*;
        assert_eq!(
            names(&g),
            [
                ("%h", RemoteAddr),
                ("%l", Ident),
                ("%u", RemoteUser),
                ("%t", Time),
                ("%r", Request),
                ("%>s", Status),
                ("%b", BodyBytes),
                ("%{Referer}i", Referer),
                ("%{User-agent}i", UserAgent)
            ]
        );
        // %t brings its brackets with it.
        assert_eq!(g.items[5], Item::Literal(b" [".to_vec()));
        assert_eq!(g.items[7], Item::Literal(b"] \"".to_vec()));
    }

    #[test]
    fn every_mod_log_config_directive_compiles() {
        let format = "%a %{c}a %A %B %b %{Foo}C %D %{HOME}e %f %h %H %{X-Up}i %k %l %L %m \
                      %{note}n %{Content-Type}o %p %{remote}p %P %{tid}P %q %r %R %s %<s %>s \
                      %!200,304s %400,501{User-agent}i %t %{%d/%b/%Y:%H:%M:%S %z}t %{msec}t \
                      %{end:usec_frac}t %T %{ms}T %{us}T %u %U %v %V %X %I %O %S %{VARNAME}^ti %%";
        let g = parse_log_format("all", format).unwrap();
        assert_eq!(g.fields().count(), 46);
        let by_name = |n: &str| g.fields().find(|f| f.name == n).unwrap().clone();
        assert_eq!(by_name("%D").unit, Some(Unit::Micros));
        assert_eq!(by_name("%{ms}T").unit, Some(Unit::Millis));
        assert_eq!(by_name("%!200,304s").role, Role::Status);
        assert_eq!(by_name("%400,501{User-agent}i").role, Role::UserAgent);
        assert_eq!(by_name("%{msec}t").time, Some(TimeFormat::EpochMillis));
        assert_eq!(by_name("%{end:usec_frac}t").role, Role::Other);
        assert_eq!(
            by_name("%{%d/%b/%Y:%H:%M:%S %z}t").time,
            Some(TimeFormat::Strftime("%d/%b/%Y:%H:%M:%S %z".into()))
        );
        assert_eq!(g.items.last(), Some(&Item::Literal(b" %".to_vec())));
    }

    #[test]
    fn path_and_query_merge_into_one_uri() {
        let g = parse_log_format("x", "%m %U%q %H").unwrap();
        assert_eq!(
            names(&g),
            [
                ("%m", Role::Method),
                ("%U%q", Role::Uri),
                ("%H", Role::Protocol)
            ]
        );
    }

    #[test]
    fn dangling_percent_is_an_error() {
        assert!(parse_log_format("x", "%h %").is_err());
    }

    #[test]
    fn conf_reads_logformats_with_continuations_includes_and_customlogs() {
        let conf = "# LogFormat \"%h\" commented\n\
            LogFormat \"%h %l %u %t \\\"%r\\\" %>s %b \\\"%{Referer}i\\\" \\\"%{User-Agent}i\\\"\" combined\n\
            LogFormat \"%v:%p %h %l %u %t \\\"%r\\\" \\\n   %>s %O\" vhost_io\n\
            Include conf.d/*.conf\n\
            CustomLog logs/access_log combined\n";
        let out = parse_conf(conf).unwrap();
        let names: Vec<_> = out.grammars.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["combined", "vhost_io"]);
        assert_eq!(out.grammars[0].fields().count(), 9);
        assert!(out.grammars[0].source.contains("\"%r\""));
        assert_eq!(out.grammars[1].fields().count(), 9);
        assert_eq!(out.lines, [2, 3]);
        assert_eq!(out.includes, [(5, "conf.d/*.conf".to_string())]);
        assert_eq!(
            out.logs,
            [LogDirective {
                line: 6,
                path: "logs/access_log".into(),
                format: Some("combined".into())
            }]
        );
    }
}
