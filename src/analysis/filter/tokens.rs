//! The words of a `--where` expression: field names and values (quoted
//! or not), operators, parentheses and commas, each with its column for
//! the error that names it.

/// A bad expression: what is wrong, and where (1-based column). It lives
/// with the tokenizer, which meets the first errors; the parser's are the
/// same kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for ExprError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at column {}: {}", self.column, self.message)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Kind {
    Word(String),
    /// A quoted value: never a keyword or a field.
    Quoted(String),
    Op(&'static str),
    Open,
    Close,
    Comma,
}

impl Kind {
    pub(super) fn describe(&self) -> String {
        match self {
            Kind::Word(w) => format!("`{w}`"),
            Kind::Quoted(q) => format!("\"{q}\""),
            Kind::Op(o) => format!("`{o}`"),
            Kind::Open => "`(`".into(),
            Kind::Close => "`)`".into(),
            Kind::Comma => "`,`".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub(super) kind: Kind,
    /// 1-based column of its first character.
    pub(super) column: usize,
}

impl Token {
    pub(super) fn error(&self, message: String) -> ExprError {
        ExprError {
            column: self.column,
            message,
        }
    }

    pub(super) fn keyword(&self, word: &str) -> bool {
        matches!(&self.kind, Kind::Word(w) if w.eq_ignore_ascii_case(word))
    }
}

/// Longest first, so that `<=` is not read as `<` then `=`.
const OPERATORS: [&str; 9] = ["!=", "<=", ">=", "^=", "!~", "=", "<", ">", "~"];

pub(super) fn tokenize(text: &str) -> Result<Vec<Token>, ExprError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let kind = match c {
            '(' => Kind::Open,
            ')' => Kind::Close,
            ',' => Kind::Comma,
            '"' | '\'' => {
                let mut value = String::new();
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => {
                            return Err(ExprError {
                                column,
                                message: format!("this {c} quote is never closed"),
                            })
                        }
                        Some('\\') if chars.get(j + 1).is_some_and(|&n| n == c || n == '\\') => {
                            value.push(chars[j + 1]);
                            j += 2;
                        }
                        Some(&q) if q == c => break,
                        Some(&other) => {
                            value.push(other);
                            j += 1;
                        }
                    }
                }
                tokens.push(Token {
                    kind: Kind::Quoted(value),
                    column,
                });
                i = j + 1;
                continue;
            }
            _ => {
                // A value (after an operator, or in an `in` list) runs to a
                // space, a comma or a closing parenthesis, so `query = id=7`
                // and `agent ~ ^curl/` need no quotes.
                let value = match tokens.last().map(|t: &Token| &t.kind) {
                    Some(Kind::Op(_) | Kind::Comma) => true,
                    Some(Kind::Open) => tokens.len() >= 2 && tokens[tokens.len() - 2].keyword("in"),
                    _ => false,
                };
                let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
                if !value {
                    if let Some(op) = OPERATORS.iter().find(|op| rest.starts_with(**op)) {
                        i += op.len();
                        tokens.push(Token {
                            kind: Kind::Op(op),
                            column,
                        });
                        continue;
                    }
                }
                // A field or keyword runs to a space, a parenthesis, a
                // comma, a quote or an operator (`status>=500` is three
                // tokens).
                let ends = |c: char| {
                    c.is_whitespace()
                        || matches!(c, ')' | ',')
                        || (!value
                            && matches!(c, '(' | '"' | '\'' | '=' | '!' | '<' | '>' | '^' | '~'))
                };
                let mut j = i;
                while j < chars.len() && !ends(chars[j]) {
                    j += 1;
                }
                if j == i {
                    return Err(ExprError {
                        column,
                        message: format!("unexpected `{c}`"),
                    });
                }
                let word: String = chars[i..j].iter().collect();
                i = j;
                tokens.push(Token {
                    kind: Kind::Word(word),
                    column,
                });
                continue;
            }
        };
        tokens.push(Token { kind, column });
        i += 1;
    }
    Ok(tokens)
}
