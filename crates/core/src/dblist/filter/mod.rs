//! Table-level row filters (`filter` in a DbList, for example `id>10`).
//!
//! The seed describes the filter as a WHERE condition. Pasting user text into
//! SQL would be an injection hole, so the text is parsed into a small typed
//! AST and only that AST is ever rendered back to SQL, with the caller's
//! dialect-specific quoting. The language is deliberately tiny: comparisons
//! of one column with one literal, `IS [NOT] NULL`, `[NOT] IN (...)`,
//! `[NOT] BETWEEN ... AND ...`, `[NOT] LIKE '...'`, `AND`, `OR`, `NOT` and
//! parentheses. Keywords are case-insensitive.

mod eval;
mod lexer;
mod parser;

pub use eval::FilterValue;

/// Longest accepted filter text, in characters.
pub const MAX_FILTER_CHARS: usize = 4096;

/// A comparison operator. `!=` and `<>` both parse to [`CompareOp::Ne`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CompareOp {
    pub fn as_sql(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "<>",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }

    /// The operator with its operands swapped: `10 < id` is `id > 10`.
    fn reversed(self) -> CompareOp {
        match self {
            CompareOp::Lt => CompareOp::Gt,
            CompareOp::Le => CompareOp::Ge,
            CompareOp::Gt => CompareOp::Lt,
            CompareOp::Ge => CompareOp::Le,
            same => same,
        }
    }
}

/// A constant in a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// Validated number text: optional `-`, digits, optional `.digits`.
    Number(String),
    /// The string's value, with `''` already turned into `'`.
    Str(String),
}

/// The parsed condition. Column names are as written (without backquotes).
#[derive(Debug, Clone, PartialEq)]
pub enum FilterExpr {
    Compare {
        column: String,
        op: CompareOp,
        value: Literal,
    },
    IsNull {
        column: String,
        negated: bool,
    },
    InList {
        column: String,
        negated: bool,
        values: Vec<Literal>,
    },
    Between {
        column: String,
        negated: bool,
        low: Literal,
        high: Literal,
    },
    /// `%` and `_` are wildcards and `\` escapes them.
    Like {
        column: String,
        negated: bool,
        pattern: String,
    },
    And(Vec<FilterExpr>),
    Or(Vec<FilterExpr>),
    Not(Box<FilterExpr>),
}

/// A validated filter: the user's text (kept only to echo it back) and the
/// expression every consumer must use.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    text: String,
    expr: FilterExpr,
}

impl Filter {
    /// Parses and validates a filter; the error is a reason without the
    /// field path, mentioning the character position when there is one.
    pub fn parse(text: &str) -> Result<Filter, String> {
        let chars = text.chars().count();
        if chars > MAX_FILTER_CHARS {
            return Err(format!("is longer than {MAX_FILTER_CHARS} characters"));
        }
        let tokens = lexer::tokenize(text)?;
        if tokens.is_empty() {
            return Err("must not be empty; omit filter to copy every row".into());
        }
        let expr = parser::parse(&tokens, chars)?;
        Ok(Filter { text: text.to_owned(), expr })
    }

    /// The text as the user sent it. Never put this into SQL: use
    /// [`Filter::to_sql`].
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn expr(&self) -> &FilterExpr {
        &self.expr
    }

    /// The distinct column names the filter reads, in order of appearance.
    pub fn columns(&self) -> Vec<&str> {
        let mut out = Vec::new();
        collect_columns(&self.expr, &mut out);
        out
    }

    /// Renders the condition for a WHERE clause. Identifiers go through
    /// `quote_ident` and strings (including LIKE patterns) through
    /// `quote_str`, so the caller decides the dialect's escaping; numbers are
    /// validated digits and are written as they are.
    pub fn to_sql(
        &self,
        quote_ident: impl Fn(&str) -> String,
        quote_str: impl Fn(&str) -> String,
    ) -> String {
        render(&self.expr, &Quoting { ident: &quote_ident, string: &quote_str })
    }

    /// Whether a row passes the filter. `row` returns a column's value;
    /// `None` (unknown column) is treated as NULL. See [`FilterValue`] for
    /// how values compare.
    pub fn eval(&self, row: &dyn Fn(&str) -> Option<FilterValue>) -> bool {
        eval::eval(&self.expr, row) == Some(true)
    }
}

fn collect_columns<'a>(expr: &'a FilterExpr, out: &mut Vec<&'a str>) {
    match expr {
        FilterExpr::Compare { column, .. }
        | FilterExpr::IsNull { column, .. }
        | FilterExpr::InList { column, .. }
        | FilterExpr::Between { column, .. }
        | FilterExpr::Like { column, .. } => {
            if !out.contains(&column.as_str()) {
                out.push(column);
            }
        }
        FilterExpr::And(items) | FilterExpr::Or(items) => {
            items.iter().for_each(|item| collect_columns(item, out))
        }
        FilterExpr::Not(inner) => collect_columns(inner, out),
    }
}

struct Quoting<'q> {
    ident: &'q dyn Fn(&str) -> String,
    string: &'q dyn Fn(&str) -> String,
}

impl Quoting<'_> {
    fn literal(&self, literal: &Literal) -> String {
        match literal {
            Literal::Number(n) => n.clone(),
            Literal::Str(s) => (self.string)(s),
        }
    }
}

fn not_kw(negated: bool) -> &'static str {
    if negated {
        "NOT "
    } else {
        ""
    }
}

fn render(expr: &FilterExpr, q: &Quoting) -> String {
    match expr {
        FilterExpr::Compare { column, op, value } => {
            format!("{} {} {}", (q.ident)(column), op.as_sql(), q.literal(value))
        }
        FilterExpr::IsNull { column, negated } => {
            format!("{} IS {}NULL", (q.ident)(column), not_kw(*negated))
        }
        FilterExpr::InList { column, negated, values } => {
            let list: Vec<String> = values.iter().map(|v| q.literal(v)).collect();
            format!("{} {}IN ({})", (q.ident)(column), not_kw(*negated), list.join(", "))
        }
        FilterExpr::Between { column, negated, low, high } => format!(
            "{} {}BETWEEN {} AND {}",
            (q.ident)(column),
            not_kw(*negated),
            q.literal(low),
            q.literal(high)
        ),
        FilterExpr::Like { column, negated, pattern } => {
            format!("{} {}LIKE {}", (q.ident)(column), not_kw(*negated), (q.string)(pattern))
        }
        FilterExpr::And(items) => render_joined(items, " AND ", q),
        FilterExpr::Or(items) => render_joined(items, " OR ", q),
        FilterExpr::Not(inner) => format!("NOT ({})", render(inner, q)),
    }
}

/// Joins AND/OR operands, parenthesizing nested AND/OR so that precedence
/// never depends on the reader.
fn render_joined(items: &[FilterExpr], separator: &str, q: &Quoting) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|item| match item {
            FilterExpr::And(_) | FilterExpr::Or(_) => format!("({})", render(item, q)),
            _ => render(item, q),
        })
        .collect();
    parts.join(separator)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mysql_ident(name: &str) -> String {
        format!("`{}`", name.replace('`', "``"))
    }

    fn mysql_str(value: &str) -> String {
        format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
    }

    fn sql(text: &str) -> String {
        Filter::parse(text).unwrap().to_sql(mysql_ident, mysql_str)
    }

    fn err(text: &str) -> String {
        Filter::parse(text).unwrap_err()
    }

    #[test]
    fn seed_examples_parse() {
        assert_eq!(sql("id>10"), "`id` > 10");
        assert_eq!(sql("id > 100"), "`id` > 100");
        assert_eq!(
            sql("address in('hangzhou','shanghai')"),
            "`address` IN ('hangzhou', 'shanghai')"
        );
    }

    #[test]
    fn the_whole_language_renders() {
        assert_eq!(
            sql("a = 1 and (b <> 'x' or not c is null) AND d between -1.5 and 2"),
            "`a` = 1 AND (`b` <> 'x' OR NOT (`c` IS NULL)) AND `d` BETWEEN -1.5 AND 2"
        );
        assert_eq!(sql("a != 1"), "`a` <> 1");
        assert_eq!(sql("a<=1 OR a>=2 or a<3"), "`a` <= 1 OR `a` >= 2 OR `a` < 3");
        assert_eq!(sql("x IS NOT NULL"), "`x` IS NOT NULL");
        assert_eq!(sql("x not in (1, -2)"), "`x` NOT IN (1, -2)");
        assert_eq!(sql("x NOT between 1 and 2"), "`x` NOT BETWEEN 1 AND 2");
        assert_eq!(
            sql("name like 'a%' or name NOT LIKE '%\\_z'"),
            "`name` LIKE 'a%' OR `name` NOT LIKE '%\\\\_z'"
        );
        assert_eq!(sql("`order` = 'it''s'"), "`order` = 'it''s'");
        assert_eq!(sql("`and` = 1"), "`and` = 1");
        assert_eq!(sql("10 < id"), "`id` > 10");
        assert_eq!(sql("'x' = name"), "`name` = 'x'");
        assert_eq!(sql("((a = 1))"), "`a` = 1");
        assert_eq!(sql("(a=1 AND b=2) AND c=3"), "`a` = 1 AND `b` = 2 AND `c` = 3");
        assert_eq!(sql("a=1 OR (b=2 OR c=3)"), "`a` = 1 OR `b` = 2 OR `c` = 3");
    }

    #[test]
    fn rendering_uses_the_callers_quoting() {
        let f = Filter::parse("`we\"ird` = 'a''b'").unwrap();
        let pg = f.to_sql(
            |i| format!("\"{}\"", i.replace('"', "\"\"")),
            |s| format!("'{}'", s.replace('\'', "''")),
        );
        assert_eq!(pg, "\"we\"\"ird\" = 'a''b'");
    }

    #[test]
    fn injection_attempts_stay_inside_literals() {
        assert_eq!(sql("name = 'x'' OR 1=1 --'"), "`name` = 'x'' OR 1=1 --'");
        assert_eq!(sql("`a`` OR 1=1` = 1"), "`a`` OR 1=1` = 1");
    }

    #[test]
    fn columns_are_listed_once() {
        let f = Filter::parse("a = 1 OR (b = 2 AND a < 5) OR NOT c LIKE 'x'").unwrap();
        assert_eq!(f.columns(), vec!["a", "b", "c"]);
        assert_eq!(f.text(), "a = 1 OR (b = 2 AND a < 5) OR NOT c LIKE 'x'");
        assert!(matches!(f.expr(), FilterExpr::Or(items) if items.len() == 3));
    }

    #[test]
    fn rejects_everything_else() {
        assert!(err("").contains("must not be empty"));
        assert!(err("   ").contains("must not be empty"));
        assert!(err("id > 1; drop table t").contains("';' is not allowed"));
        assert!(err("id > 1 -- c").contains("comments"));
        assert!(err("upper(name) = 'A'").contains("function calls"));
        assert!(err("id in (select id from t)").contains("IN lists may only contain"));
        assert!(err("exists (select 1)").contains("function calls"));
        assert!(err("a = b").contains("comparing two columns"));
        assert!(err("1 = 1").contains("column on one side"));
        assert!(err("a = NULL").contains("use IS NULL"));
        assert!(err("a in (1, NULL)").contains("cannot contain NULL"));
        assert!(err("a in ()").contains("IN lists may only contain"));
        assert!(err("a in (1 2)").contains("expected ',' or ')'"));
        assert!(err("a in 1").contains("expected '(' after IN"));
        assert!(err("a like 5").contains("quoted string pattern, found number 5"));
        assert!(err("a like").contains("quoted string pattern, found the end"));
        assert!(err("a = -").contains("'-' must be followed by a number, found the end"));
        assert!(err("a = -b").contains("'-' must be followed by a number, found 'b'"));
        assert!(err("a in (1,")
            .contains("IN lists may only contain numbers and 'strings', found the end"));
        assert!(err("a in (1 ;").contains("';' is not allowed"));
        assert!(err("a in (1 2)").contains("found number 2"));
        assert!(err("a between 1 or 2").contains("expected AND"));
        assert!(err("a is 1").contains("expected NULL after IS"));
        assert!(err("a not = 1").contains("expected IN, BETWEEN or LIKE after NOT"));
        assert!(err("a").contains("found the end of the condition"));
        assert!(err("a = 1 b = 2").contains("unexpected 'b'"));
        assert!(err("(a = 1").contains("to close '('"));
        assert!(err("a = 1)").contains("unexpected ')'"));
        assert!(err("and = 1").contains("found keyword AND"));
        assert!(err("a = -'x'").contains("'-' must be followed by a number"));
        assert!(err("a = 1 AND").contains("expected a column name"));
        assert!(err("a == 1").contains("expected a number"));
        assert!(err("a > 1 +").contains("unexpected character '+'"));
    }

    #[test]
    fn error_positions_point_at_the_problem() {
        assert!(err("a = 1 b = 2").starts_with("at character 7:"));
        assert!(err("a").starts_with("at character 2:"));
    }

    #[test]
    fn limits_are_enforced() {
        let deep = format!("{}a = 1{}", "(".repeat(100), ")".repeat(100));
        assert!(err(&deep).contains("nested more than"));
        let nots = format!("{}a = 1", "NOT ".repeat(100));
        assert!(err(&nots).contains("nested more than"));
        let long = format!("a IN ({})", vec!["1"; MAX_FILTER_CHARS].join(","));
        assert!(err(&long).contains("longer than"));
        let ok = format!("{}a = 1{}", "(".repeat(30), ")".repeat(30));
        assert!(Filter::parse(&ok).is_ok());
    }

    fn passes(filter: &str, values: &[(&str, FilterValue)]) -> bool {
        let row = |name: &str| values.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone());
        Filter::parse(filter).unwrap().eval(&row)
    }

    #[test]
    fn evaluates_rows() {
        use FilterValue::*;
        assert!(passes("id>10", &[("id", Int(11))]));
        assert!(!passes("id>10", &[("id", Int(10))]));
        assert!(passes(
            "address in('hangzhou','shanghai')",
            &[("address", Str("shanghai".into()))]
        ));
        assert!(!passes(
            "address in('hangzhou','shanghai')",
            &[("address", Str("beijing".into()))]
        ));
        assert!(passes("p between 1 and 2.5", &[("p", Decimal("2.50".into()))]));
        assert!(!passes("p not between 1 and 2.5", &[("p", Decimal("2.50".into()))]));
        assert!(passes("f >= -1", &[("f", Float(-0.5))]));
        assert!(passes("name like 'han%'", &[("name", Str("hangzhou".into()))]));
        assert!(passes("id like '1%'", &[("id", Int(15))]));
        assert!(passes(
            "a = 1 and not (b = 2 or c = 3)",
            &[("a", Int(1)), ("b", Int(0)), ("c", Int(0))]
        ));
        assert!(passes("x is null", &[("x", Null)]));
        assert!(passes("missing is null", &[]));
        assert!(passes("x is not null", &[("x", Int(0))]));
    }

    #[test]
    fn null_follows_three_valued_logic() {
        use FilterValue::*;
        let null = [("x", Null), ("y", Int(1))];
        assert!(!passes("x = 1", &null));
        assert!(!passes("x <> 1", &null));
        assert!(!passes("NOT x = 1", &null));
        assert!(!passes("x in (1, 2)", &null));
        assert!(!passes("x not in (1, 2)", &null));
        assert!(!passes("x between 1 and 2", &null));
        assert!(!passes("x like '%'", &null));
        assert!(!passes("x not like '%'", &null));
        // Unknown OR true is true; unknown AND false is false, and NOT false is true.
        assert!(passes("x = 1 OR y = 1", &null));
        assert!(passes("NOT (x = 1 AND y = 2)", &null));
        assert!(!passes("NOT (x = 1 AND y = 1)", &null));
        // A NOT IN list with an incomparable member is unknown unless it matches.
        assert!(!passes("y not in (2, 'abc')", &null));
        assert!(passes("y in (1, 'abc')", &null));
        // BETWEEN is false when one bound alone rules the value out.
        assert!(!passes("y between 2 and 'abc'", &null));
        assert!(passes("y not between 2 and 'abc'", &null));
    }
}
