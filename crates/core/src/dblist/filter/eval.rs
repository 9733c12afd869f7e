//! In-memory evaluation of filters, for rows read from a binlog or WAL.
//!
//! Evaluation follows SQL three-valued logic: a comparison involving NULL,
//! or a value that cannot be compared with the literal, is *unknown*; a row
//! passes the filter only when the whole condition is *true*.
//!
//! Known differences from a database evaluating the same WHERE clause:
//! string comparisons and LIKE are case-sensitive and compare code points
//! (MySQL's default collations ignore case), and a non-numeric string
//! compared with a number is unknown (MySQL would read it as 0).

use std::cmp::Ordering;

use super::{CompareOp, FilterExpr, Literal};

/// A column value handed to [`super::Filter::eval`].
#[derive(Debug, Clone, PartialEq)]
pub enum FilterValue {
    Null,
    Int(i128),
    Float(f64),
    /// Exact decimal text such as `-12.50`, as DECIMAL columns arrive.
    Decimal(String),
    Str(String),
}

pub(super) fn eval(expr: &FilterExpr, row: &dyn Fn(&str) -> Option<FilterValue>) -> Option<bool> {
    let value = |column: &str| row(column).unwrap_or(FilterValue::Null);
    match expr {
        FilterExpr::Compare { column, op, value: literal } => {
            compare(&value(column), literal).map(|ord| op.holds(ord))
        }
        FilterExpr::IsNull { column, negated } => {
            Some((value(column) == FilterValue::Null) != *negated)
        }
        FilterExpr::InList { column, negated, values } => {
            let v = value(column);
            let mut result = Some(false);
            for literal in values {
                match compare(&v, literal) {
                    Some(Ordering::Equal) => {
                        result = Some(true);
                        break;
                    }
                    Some(_) => {}
                    None => result = None,
                }
            }
            result.map(|found| found != *negated)
        }
        FilterExpr::Between { column, negated, low, high } => {
            let v = value(column);
            let above = compare(&v, low).map(|o| o != Ordering::Less);
            let below = compare(&v, high).map(|o| o != Ordering::Greater);
            and(above, below).map(|inside| inside != *negated)
        }
        FilterExpr::Like { column, negated, pattern } => {
            as_text(&value(column)).map(|text| like(&text, pattern) != *negated)
        }
        FilterExpr::And(items) => {
            let mut acc = Some(true);
            for item in items {
                acc = and(acc, eval(item, row));
                if acc == Some(false) {
                    break;
                }
            }
            acc
        }
        FilterExpr::Or(items) => {
            let mut acc = Some(false);
            for item in items {
                acc = or(acc, eval(item, row));
                if acc == Some(true) {
                    break;
                }
            }
            acc
        }
        FilterExpr::Not(inner) => eval(inner, row).map(|b| !b),
    }
}

fn and(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

fn or(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    }
}

impl CompareOp {
    fn holds(self, ord: Ordering) -> bool {
        match self {
            CompareOp::Eq => ord == Ordering::Equal,
            CompareOp::Ne => ord != Ordering::Equal,
            CompareOp::Lt => ord == Ordering::Less,
            CompareOp::Le => ord != Ordering::Greater,
            CompareOp::Gt => ord == Ordering::Greater,
            CompareOp::Ge => ord != Ordering::Less,
        }
    }
}

/// Orders a column value against a literal; `None` means unknown.
fn compare(value: &FilterValue, literal: &Literal) -> Option<Ordering> {
    match (value, literal) {
        (FilterValue::Null, _) => None,
        (FilterValue::Str(s), Literal::Str(l)) => Some(s.as_str().cmp(l.as_str())),
        (FilterValue::Float(f), lit) => {
            f.partial_cmp(&literal_text(lit).trim().parse::<f64>().ok()?)
        }
        (value, lit) => {
            let left = match value {
                FilterValue::Int(i) => Decimal::parse(&i.to_string())?,
                FilterValue::Decimal(d) | FilterValue::Str(d) => Decimal::parse(d.trim())?,
                FilterValue::Null | FilterValue::Float(_) => return None,
            };
            Some(left.cmp(&Decimal::parse(literal_text(lit).trim())?))
        }
    }
}

fn literal_text(literal: &Literal) -> &str {
    match literal {
        Literal::Number(n) | Literal::Str(n) => n,
    }
}

/// The text LIKE sees for a value (numbers match by their decimal text).
fn as_text(value: &FilterValue) -> Option<String> {
    match value {
        FilterValue::Null => None,
        FilterValue::Int(i) => Some(i.to_string()),
        FilterValue::Float(f) => Some(f.to_string()),
        FilterValue::Decimal(s) | FilterValue::Str(s) => Some(s.clone()),
    }
}

/// An exact decimal number, compared digit by digit so that neither large
/// integers nor long fractions lose precision.
#[derive(Debug, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    /// Integer digits without leading zeros (empty for zero).
    int: String,
    /// Fraction digits without trailing zeros.
    frac: String,
}

impl Decimal {
    /// Parses `[+-]digits[.digits]` (either side of the point may be empty,
    /// not both).
    fn parse(text: &str) -> Option<Decimal> {
        let (negative, body) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.len() + frac.len() == 0 || !all_digits(int) || !all_digits(frac) {
            return None;
        }
        let int = int.trim_start_matches('0').to_owned();
        let frac = frac.trim_end_matches('0').to_owned();
        let negative = negative && !(int.is_empty() && frac.is_empty());
        Some(Decimal { negative, int, frac })
    }

    fn cmp_magnitude(&self, other: &Decimal) -> Ordering {
        self.int
            .len()
            .cmp(&other.int.len())
            .then_with(|| self.int.cmp(&other.int))
            .then_with(|| self.frac.cmp(&other.frac))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.cmp_magnitude(other),
            (true, true) => other.cmp_magnitude(self),
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// One element of a LIKE pattern.
#[derive(Clone, Copy, PartialEq)]
enum LikeTok {
    /// `%`: any run of characters.
    Many,
    /// `_`: exactly one character.
    One,
    Char(char),
}

/// SQL LIKE with `\` as the escape character (the default of both MySQL and
/// PostgreSQL). Greedy matching with backtracking to the last `%`.
fn like(text: &str, pattern: &str) -> bool {
    let mut toks = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        toks.push(match c {
            '%' => LikeTok::Many,
            '_' => LikeTok::One,
            '\\' => LikeTok::Char(chars.next().unwrap_or('\\')),
            c => LikeTok::Char(c),
        });
    }
    let text: Vec<char> = text.chars().collect();
    let (mut t, mut p) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match toks.get(p) {
            Some(LikeTok::Many) => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(LikeTok::One) => {
                t += 1;
                p += 1;
            }
            Some(LikeTok::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            _ => match backtrack {
                Some((star_p, star_t)) => {
                    backtrack = Some((star_p, star_t + 1));
                    p = star_p + 1;
                    t = star_t + 1;
                }
                None => return false,
            },
        }
    }
    toks[p.min(toks.len())..].iter().all(|tok| *tok == LikeTok::Many)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_compare_exactly() {
        let d = |s: &str| Decimal::parse(s).unwrap();
        assert_eq!(d("10").cmp(&d("9.99")), Ordering::Greater);
        assert_eq!(d("0010.50").cmp(&d("10.5")), Ordering::Equal);
        assert_eq!(d("-0").cmp(&d("0.000")), Ordering::Equal);
        assert_eq!(d("-2").cmp(&d("-10")), Ordering::Greater);
        assert_eq!(d("0.5").cmp(&d("0.45")), Ordering::Greater);
        assert_eq!(d("0.5").cmp(&d("0.51")), Ordering::Less);
        assert_eq!(d(".5").cmp(&d("0.5")), Ordering::Equal);
        assert_eq!(
            d("123456789012345678901234567890.000000000000000000001")
                .cmp(&d("123456789012345678901234567890")),
            Ordering::Greater
        );
        for bad in ["", "-", ".", "1a", "1.2.3", "--1", "1e5", " 1"] {
            assert!(Decimal::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn values_compare_with_literals() {
        let num = |n: &str| Literal::Number(n.into());
        let s = |v: &str| Literal::Str(v.into());
        assert_eq!(compare(&FilterValue::Int(11), &num("10")), Some(Ordering::Greater));
        assert_eq!(compare(&FilterValue::Int(10), &num("10.0")), Some(Ordering::Equal));
        assert_eq!(compare(&FilterValue::Decimal("9.5".into()), &num("10")), Some(Ordering::Less));
        assert_eq!(compare(&FilterValue::Float(2.5), &num("2.5")), Some(Ordering::Equal));
        assert_eq!(compare(&FilterValue::Float(f64::NAN), &num("1")), None);
        assert_eq!(compare(&FilterValue::Str("b".into()), &s("a")), Some(Ordering::Greater));
        // Mixed kinds convert the text side to a number when it is one.
        assert_eq!(compare(&FilterValue::Str(" 42 ".into()), &num("42")), Some(Ordering::Equal));
        assert_eq!(compare(&FilterValue::Int(42), &s("42")), Some(Ordering::Equal));
        assert_eq!(compare(&FilterValue::Float(1.0), &s("x")), None);
        assert_eq!(compare(&FilterValue::Str("abc".into()), &num("1")), None);
        assert_eq!(compare(&FilterValue::Null, &num("1")), None);
    }

    #[test]
    fn like_patterns() {
        assert!(like("hangzhou", "hang%"));
        assert!(like("hangzhou", "%zhou"));
        assert!(like("hangzhou", "%ngz%"));
        assert!(like("hangzhou", "h_ngzhou"));
        assert!(like("", "%"));
        assert!(!like("", "_"));
        assert!(!like("hangzhou", "hang"));
        assert!(!like("Hangzhou", "hang%"));
        assert!(like("100%", "100\\%"));
        assert!(!like("1000", "100\\%"));
        assert!(like("a_b", "a\\_b"));
        assert!(!like("axb", "a\\_b"));
        assert!(like("aXbXc", "a%b%c"));
        assert!(like("abcabd", "%abd"));
        assert!(like("x\\", "x\\"));
    }
}
