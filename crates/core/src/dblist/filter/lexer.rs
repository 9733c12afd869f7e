//! Splits a filter condition into tokens. Anything that is not part of the
//! small filter language (comments, semicolons, double quotes, stray
//! punctuation) is rejected here with a targeted message.

use super::CompareOp;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    /// A bare word: a column name or a keyword (decided by the parser).
    Word(String),
    /// A backquoted column name, always a column even if it spells a keyword.
    QuotedIdent(String),
    /// Unsigned number text: digits with an optional fractional part.
    Number(String),
    Str(String),
    Op(CompareOp),
    Minus,
    LParen,
    RParen,
    Comma,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token {
    pub tok: Tok,
    /// 1-based character position, for messages.
    pub pos: usize,
}

pub(super) fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let pos = i + 1;
        let next = chars.get(i + 1).copied();
        let (tok, len) = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '\'' => read_quoted(&chars, i, '\'', "string").map(|(s, len)| (Tok::Str(s), len))?,
            '`' => {
                let (name, len) = read_quoted(&chars, i, '`', "column name")?;
                if name.is_empty() {
                    return Err(format!("at character {pos}: empty column name ``"));
                }
                (Tok::QuotedIdent(name), len)
            }
            '"' => {
                return Err(format!(
                    "at character {pos}: double quotes are not supported; use 'single quotes' \
                     for strings and `backquotes` for column names"
                ))
            }
            c if c.is_ascii_digit() => read_number(&chars, i)?,
            c if c.is_alphabetic() || c == '_' => {
                let len = chars[i..]
                    .iter()
                    .take_while(|c| c.is_alphanumeric() || **c == '_' || **c == '$')
                    .count();
                (Tok::Word(chars[i..i + len].iter().collect()), len)
            }
            '-' if next == Some('-') => return Err(comment_error(pos)),
            '#' => return Err(comment_error(pos)),
            '/' if next == Some('*') => return Err(comment_error(pos)),
            ';' => {
                return Err(format!(
                    "at character {pos}: ';' is not allowed; a filter is a single condition"
                ))
            }
            '-' => (Tok::Minus, 1),
            '(' => (Tok::LParen, 1),
            ')' => (Tok::RParen, 1),
            ',' => (Tok::Comma, 1),
            '=' => (Tok::Op(CompareOp::Eq), 1),
            '!' if next == Some('=') => (Tok::Op(CompareOp::Ne), 2),
            '<' if next == Some('>') => (Tok::Op(CompareOp::Ne), 2),
            '<' if next == Some('=') => (Tok::Op(CompareOp::Le), 2),
            '<' => (Tok::Op(CompareOp::Lt), 1),
            '>' if next == Some('=') => (Tok::Op(CompareOp::Ge), 2),
            '>' => (Tok::Op(CompareOp::Gt), 1),
            other => return Err(format!("at character {pos}: unexpected character '{other}'")),
        };
        tokens.push(Token { tok, pos });
        i += len;
    }
    Ok(tokens)
}

fn comment_error(pos: usize) -> String {
    format!("at character {pos}: comments are not allowed")
}

/// Reads a quoted run starting at `chars[start] == quote`, where a doubled
/// quote stands for one. Returns the content and the consumed length.
fn read_quoted(
    chars: &[char],
    start: usize,
    quote: char,
    what: &str,
) -> Result<(String, usize), String> {
    let mut out = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => return Err(format!("at character {}: unterminated {what}", start + 1)),
            Some(&c) if c == quote => {
                if chars.get(i + 1) == Some(&quote) {
                    out.push(quote);
                    i += 2;
                } else {
                    return Ok((out, i + 1 - start));
                }
            }
            Some(&c) => {
                out.push(c);
                i += 1;
            }
        }
    }
}

/// Reads `digits[.digits]`. A number glued to letters (`1e5`, `10abc`) or a
/// dangling point (`5.`) is refused rather than guessed at.
fn read_number(chars: &[char], start: usize) -> Result<(Tok, usize), String> {
    let digits = |from: usize| chars[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut end = start + digits(start);
    if chars.get(end) == Some(&'.') {
        let frac = digits(end + 1);
        if frac == 0 {
            return Err(format!(
                "at character {}: a decimal point must be followed by digits",
                end + 1
            ));
        }
        end += 1 + frac;
    }
    if chars.get(end).is_some_and(|c| c.is_alphanumeric() || *c == '_' || *c == '.') {
        return Err(format!("at character {}: malformed number", start + 1));
    }
    Ok((Tok::Number(chars[start..end].iter().collect()), end - start))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<Tok> {
        tokenize(text).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn splits_a_condition() {
        assert_eq!(
            toks("id>=10 AND `my col`<>'it''s'"),
            vec![
                Tok::Word("id".into()),
                Tok::Op(CompareOp::Ge),
                Tok::Number("10".into()),
                Tok::Word("AND".into()),
                Tok::QuotedIdent("my col".into()),
                Tok::Op(CompareOp::Ne),
                Tok::Str("it's".into()),
            ]
        );
        assert_eq!(
            toks("a!=-1.50,(b)"),
            vec![
                Tok::Word("a".into()),
                Tok::Op(CompareOp::Ne),
                Tok::Minus,
                Tok::Number("1.50".into()),
                Tok::Comma,
                Tok::LParen,
                Tok::Word("b".into()),
                Tok::RParen,
            ]
        );
        assert_eq!(toks("`a``b`"), vec![Tok::QuotedIdent("a`b".into())]);
        assert_eq!(
            toks("<= < >"),
            vec![Tok::Op(CompareOp::Le), Tok::Op(CompareOp::Lt), Tok::Op(CompareOp::Gt)]
        );
    }

    #[test]
    fn positions_are_one_based_characters() {
        let tokens = tokenize("é = 'x'").unwrap();
        assert_eq!(tokens.iter().map(|t| t.pos).collect::<Vec<_>>(), vec![1, 3, 5]);
    }

    #[test]
    fn rejects_what_is_not_in_the_language() {
        let err = |t: &str| tokenize(t).unwrap_err();
        assert!(err("id=1; DROP TABLE t").contains("';' is not allowed"));
        assert!(err("id=1 -- x").contains("comments"));
        assert!(err("id=1 # x").contains("comments"));
        assert!(err("id=1 /* x */").contains("comments"));
        assert!(err("name=\"x\"").contains("double quotes"));
        assert!(err("name='x").contains("unterminated string"));
        assert!(err("`name=1").contains("unterminated column name"));
        assert!(err("`` = 1").contains("empty column name"));
        assert!(err("id=1e5").contains("malformed number"));
        assert!(err("id=5.").contains("decimal point"));
        assert!(err("id=1.2.3").contains("malformed number"));
        assert!(err("id+1=2").contains("unexpected character '+'"));
        assert!(err("a!b").contains("unexpected character '!'"));
    }
}
