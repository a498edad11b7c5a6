//! IIS W3C extended log format: the `#Fields:` directive names the columns.
//!
//! Values are separated by single spaces; IIS writes `+` for a space inside
//! a header value and `-` for a missing one. Dates and times are UTC.

use super::{Escape, Field, Grammar, GrammarError, Item, Role, Syntax, TimeFormat, Unit};

/// Maps one W3C field identifier to a field.
pub fn field_for(id: &str) -> Field {
    use Role::*;
    let lower = id.to_ascii_lowercase();
    let field = match lower.as_str() {
        "date" | "date-local" => Field::new(id, Date).with_time(TimeFormat::W3cDate),
        "time" | "time-local" => Field::new(id, TimeOfDay).with_time(TimeFormat::W3cTime),
        "c-ip" => Field::new(id, RemoteAddr),
        "cs-username" => Field::new(id, RemoteUser),
        "cs-method" => Field::new(id, Method),
        "cs-uri-stem" => Field::new(id, Path),
        "cs-uri-query" => Field::new(id, Query),
        "cs-uri" => Field::new(id, Uri),
        "cs-version" => Field::new(id, Protocol),
        "sc-status" => Field::new(id, Status),
        "sc-bytes" => Field::new(id, BytesSent),
        "cs-bytes" => Field::new(id, BytesReceived),
        "time-taken" | "timetakenms" => Field::new(id, RequestTime).with_unit(Unit::Millis),
        "cs-host" | "cs(host)" => Field::new(id, Host),
        "s-port" => Field::new(id, ServerPort),
        "cs(referer)" => Field::new(id, Referer),
        "cs(user-agent)" => Field::new(id, UserAgent),
        "x-forwarded-for" | "cs(x-forwarded-for)" | "x-forwarded-for-ip" => {
            Field::new(id, XForwardedFor)
        }
        _ => Field::new(id, Other),
    };
    // IIS writes `+` for spaces in header values and free text, never in
    // the URI stem or query, where `+` is a real character.
    let escape = if lower.starts_with("cs(") || lower.starts_with("sc(") || lower.starts_with("s(")
    {
        Escape::Plus
    } else {
        Escape::None
    };
    field.with_escape(escape)
}

/// Builds a grammar from a list of W3C field identifiers.
pub fn grammar_from_ids<'a>(
    name: &str,
    ids: impl IntoIterator<Item = &'a str>,
) -> Result<Grammar, GrammarError> {
    let mut items = Vec::new();
    let mut source = String::from("#Fields:");
    for id in ids {
        if !items.is_empty() {
            items.push(Item::Literal(b" ".to_vec()));
        }
        items.push(Item::Field(field_for(id)));
        source.push(' ');
        source.push_str(id);
    }
    Grammar {
        name: name.to_string(),
        syntax: Syntax::W3c,
        source,
        items,
    }
    .validate()
}

/// Parses a `#Fields: a b c` directive line. Runs of spaces between
/// identifiers are accepted (IIS Advanced Logging writes them).
pub fn parse_fields_directive(name: &str, line: &str) -> Result<Grammar, GrammarError> {
    let Some(list) = line.trim_end().strip_prefix("#Fields:") else {
        return Err(GrammarError::new(
            name,
            "a W3C format starts with `#Fields:`",
        ));
    };
    grammar_from_ids(name, list.split_ascii_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_directive_maps_roles_and_escapes() {
        let g = parse_fields_directive(
            "iis",
            "#Fields:   date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username \
             c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken X-Forwarded-For",
        )
        .unwrap();
        let fields: Vec<_> = g.fields().collect();
        assert_eq!(fields.len(), 16);
        assert_eq!(fields[0].role, Role::Date);
        assert_eq!(fields[9].role, Role::UserAgent);
        assert_eq!(fields[9].escape, Escape::Plus);
        assert_eq!(fields[4].escape, Escape::None);
        assert_eq!(fields[14].unit, Some(Unit::Millis));
        assert_eq!(fields[15].role, Role::XForwardedFor);
        assert_eq!(fields[12].role, Role::Other);
        assert!(parse_fields_directive("x", "#Fields:").is_err());
    }
}
