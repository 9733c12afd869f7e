//! Recursive-descent parser for filter conditions.
//!
//! ```text
//! or        := and ("OR" and)*
//! and       := not ("AND" not)*
//! not       := "NOT" not | "(" or ")" | predicate
//! predicate := column cmp literal | literal cmp column
//!            | column "IS" ["NOT"] "NULL"
//!            | column ["NOT"] "IN" "(" literal ("," literal)* ")"
//!            | column ["NOT"] "BETWEEN" literal "AND" literal
//!            | column ["NOT"] "LIKE" string
//! literal   := ["-"] number | string
//! ```

use super::lexer::{Tok, Token};
use super::{FilterExpr, Literal};

/// Deepest accepted nesting of parentheses and NOTs, so hostile input cannot
/// exhaust the stack.
const MAX_DEPTH: usize = 64;

const KEYWORDS: [&str; 8] = ["AND", "OR", "NOT", "IN", "IS", "NULL", "BETWEEN", "LIKE"];

pub(super) fn parse(tokens: &[Token], text_chars: usize) -> Result<FilterExpr, String> {
    let mut parser = Parser { tokens, next: 0, depth: 0, end_pos: text_chars + 1 };
    let expr = parser.or()?;
    match parser.peek() {
        None => Ok(expr),
        Some(t) => Err(format!("at character {}: unexpected {}", t.pos, describe(&t.tok))),
    }
}

struct Parser<'t> {
    tokens: &'t [Token],
    next: usize,
    depth: usize,
    /// Position reported for "unexpected end of condition".
    end_pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    fn advance(&mut self) -> Option<&Token> {
        let token = self.tokens.get(self.next);
        self.next += 1;
        token
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Word(w), .. }) if w.eq_ignore_ascii_case(keyword))
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = self.peek_keyword(keyword);
        if found {
            self.next += 1;
        }
        found
    }

    fn expect_keyword(&mut self, keyword: &str, context: &str) -> Result<(), String> {
        if self.eat_keyword(keyword) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("expected {keyword} {context}")))
        }
    }

    fn expect(&mut self, tok: &Tok, context: &str) -> Result<(), String> {
        if self.peek().map(|t| &t.tok) == Some(tok) {
            self.next += 1;
            Ok(())
        } else {
            Err(self.unexpected(&format!("expected {} {context}", describe(tok))))
        }
    }

    /// An error at the current token, or at the end of the condition.
    fn unexpected(&self, wanted: &str) -> String {
        match self.peek() {
            Some(t) => format!("at character {}: {wanted}, found {}", t.pos, describe(&t.tok)),
            None => {
                format!("at character {}: {wanted}, found the end of the condition", self.end_pos)
            }
        }
    }

    fn or(&mut self) -> Result<FilterExpr, String> {
        let mut items = vec![self.and()?];
        while self.eat_keyword("OR") {
            items.push(self.and()?);
        }
        Ok(join_or(items))
    }

    fn and(&mut self) -> Result<FilterExpr, String> {
        let mut items = vec![self.not()?];
        while self.eat_keyword("AND") {
            items.push(self.not()?);
        }
        Ok(join_and(items))
    }

    fn not(&mut self) -> Result<FilterExpr, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("is nested more than {MAX_DEPTH} levels deep"));
        }
        let expr = if self.eat_keyword("NOT") {
            FilterExpr::Not(Box::new(self.not()?))
        } else if self.peek().map(|t| &t.tok) == Some(&Tok::LParen) {
            self.next += 1;
            let inner = self.or()?;
            self.expect(&Tok::RParen, "to close '('")?;
            inner
        } else {
            self.predicate()?
        };
        self.depth -= 1;
        Ok(expr)
    }

    fn predicate(&mut self) -> Result<FilterExpr, String> {
        if let Some(value) = self.try_literal()? {
            return self.reversed_comparison(value);
        }
        let column = self.column()?;
        if let Some(Token { tok: Tok::Op(op), .. }) = self.peek() {
            let op = *op;
            self.next += 1;
            let value = self.comparison_literal()?;
            return Ok(FilterExpr::Compare { column, op, value });
        }
        if self.eat_keyword("IS") {
            let negated = self.eat_keyword("NOT");
            self.expect_keyword("NULL", "after IS")?;
            return Ok(FilterExpr::IsNull { column, negated });
        }
        let negated = self.eat_keyword("NOT");
        if self.eat_keyword("IN") {
            return Ok(FilterExpr::InList { column, negated, values: self.in_list()? });
        }
        if self.eat_keyword("BETWEEN") {
            let low = self.comparison_literal()?;
            self.expect_keyword("AND", "between the BETWEEN bounds")?;
            let high = self.comparison_literal()?;
            return Ok(FilterExpr::Between { column, negated, low, high });
        }
        if self.eat_keyword("LIKE") {
            let pattern = match self.peek().map(|t| &t.tok) {
                Some(Tok::Str(pattern)) => pattern.clone(),
                _ => return Err(self.unexpected("LIKE needs a quoted string pattern")),
            };
            self.next += 1;
            return Ok(FilterExpr::Like { column, negated, pattern });
        }
        let wanted = if negated {
            "expected IN, BETWEEN or LIKE after NOT"
        } else {
            "expected a comparison operator, IS, IN, BETWEEN or LIKE after the column"
        };
        Err(self.unexpected(wanted))
    }

    /// Error about the token just consumed (or the end, when nothing was).
    fn unexpected_previous(&mut self, wanted: &str) -> String {
        self.next = self.next.saturating_sub(1);
        self.unexpected(wanted)
    }

    /// `10 < id` is read as `id > 10`.
    fn reversed_comparison(&mut self, value: Literal) -> Result<FilterExpr, String> {
        let op = match self.peek() {
            Some(Token { tok: Tok::Op(op), .. }) => *op,
            _ => return Err(self.unexpected("expected a comparison operator after the value")),
        };
        self.next += 1;
        let column = match self.peek().map(|t| &t.tok) {
            Some(Tok::Word(_) | Tok::QuotedIdent(_)) => self.column()?,
            _ => return Err(self.unexpected("a comparison needs a column on one side")),
        };
        Ok(FilterExpr::Compare { column, op: op.reversed(), value })
    }

    fn column(&mut self) -> Result<String, String> {
        let (name, pos, bare) = match self.peek() {
            Some(Token { tok: Tok::Word(w), pos }) => (w.clone(), *pos, true),
            Some(Token { tok: Tok::QuotedIdent(w), pos }) => (w.clone(), *pos, false),
            _ => return Err(self.unexpected("expected a column name")),
        };
        if bare && KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(&name)) {
            return Err(format!(
                "at character {pos}: expected a column name, found keyword {}; backquote a \
                 column with that name",
                name.to_ascii_uppercase()
            ));
        }
        self.next += 1;
        if bare && self.peek().map(|t| &t.tok) == Some(&Tok::LParen) {
            return Err(format!(
                "at character {pos}: function calls such as {name}(...) are not supported"
            ));
        }
        Ok(name)
    }

    /// A literal on the right of `=`, `<`, BETWEEN...: NULL gets a hint.
    fn comparison_literal(&mut self) -> Result<Literal, String> {
        if self.peek_keyword("NULL") {
            return Err(self.unexpected("NULL cannot be compared; use IS NULL or IS NOT NULL"));
        }
        match self.try_literal()? {
            Some(value) => Ok(value),
            None => match self.peek().map(|t| &t.tok) {
                Some(Tok::Word(_) | Tok::QuotedIdent(_)) => Err(self.unexpected(
                    "expected a number or 'string' (comparing two columns is not supported)",
                )),
                _ => Err(self.unexpected("expected a number or 'string'")),
            },
        }
    }

    /// Consumes a literal if one starts here.
    fn try_literal(&mut self) -> Result<Option<Literal>, String> {
        let literal = match self.peek().map(|t| &t.tok) {
            Some(Tok::Number(n)) => Literal::Number(n.clone()),
            Some(Tok::Str(s)) => Literal::Str(s.clone()),
            Some(Tok::Minus) => {
                self.next += 1;
                return match self.advance().map(|t| &t.tok) {
                    Some(Tok::Number(n)) => Ok(Some(Literal::Number(format!("-{n}")))),
                    _ => Err(self.unexpected_previous("'-' must be followed by a number")),
                };
            }
            _ => return Ok(None),
        };
        self.next += 1;
        Ok(Some(literal))
    }

    fn in_list(&mut self) -> Result<Vec<Literal>, String> {
        self.expect(&Tok::LParen, "after IN")?;
        let mut values = Vec::new();
        loop {
            if self.peek_keyword("NULL") {
                return Err(self.unexpected("IN lists cannot contain NULL; use IS NULL"));
            }
            match self.try_literal()? {
                Some(value) => values.push(value),
                None => {
                    return Err(self.unexpected("IN lists may only contain numbers and 'strings'"))
                }
            }
            match self.advance().map(|t| &t.tok) {
                Some(Tok::Comma) => continue,
                Some(Tok::RParen) => return Ok(values),
                _ => return Err(self.unexpected_previous("expected ',' or ')' in the IN list")),
            }
        }
    }
}

/// Builds an AND node, flattening nested ANDs so that `a AND (b AND c)`
/// and `a AND b AND c` give the same tree.
fn join_and(mut items: Vec<FilterExpr>) -> FilterExpr {
    if items.len() == 1 {
        if let Some(only) = items.pop() {
            return only;
        }
    }
    let mut flat = Vec::with_capacity(items.len());
    for item in items {
        match item {
            FilterExpr::And(inner) => flat.extend(inner),
            other => flat.push(other),
        }
    }
    FilterExpr::And(flat)
}

/// Builds an OR node, flattening nested ORs like [`join_and`].
fn join_or(mut items: Vec<FilterExpr>) -> FilterExpr {
    if items.len() == 1 {
        if let Some(only) = items.pop() {
            return only;
        }
    }
    let mut flat = Vec::with_capacity(items.len());
    for item in items {
        match item {
            FilterExpr::Or(inner) => flat.extend(inner),
            other => flat.push(other),
        }
    }
    FilterExpr::Or(flat)
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Word(w) if KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(w)) => {
            format!("keyword {}", w.to_ascii_uppercase())
        }
        Tok::Word(w) => format!("'{w}'"),
        Tok::QuotedIdent(w) => format!("`{w}`"),
        Tok::Number(n) => format!("number {n}"),
        Tok::Str(_) => "a string".into(),
        Tok::Op(op) => format!("'{}'", op.as_sql()),
        Tok::Minus => "'-'".into(),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::Comma => "','".into(),
    }
}
