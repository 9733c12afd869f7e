//! PostgreSQL column types → MySQL/MariaDB.

use super::{
    check_datetime_literal, check_time_literal, is_decimal, is_integer, is_number, mysql_literal, MappedColumn,
    SourceColumn, TypeName, Unmappable,
};

/// MySQL auto-increment clause.
pub const MYSQL_IDENTITY: &str = "AUTO_INCREMENT";

/// The longest `varchar(n)` created; longer or unbounded strings become
/// `longtext` (16383 utf8mb4 characters fill MySQL's 65535-byte row limit).
const MAX_VARCHAR: i64 = 16383;

/// What kind of literal a destination column takes as default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Decimal,
    Float,
    Bool,
    /// char/varchar/enum: a plain quoted literal.
    Text,
    /// longtext/json: MySQL only takes a literal as a parenthesised expression.
    LongText,
    Bytes,
    Date,
    Datetime(u8),
    Time,
}

/// Maps one PostgreSQL column to its MySQL definition.
pub fn pg_to_mysql(col: &SourceColumn) -> Result<MappedColumn, Unmappable> {
    let raw = col.source_type.trim();
    let (name, array) = match raw.strip_suffix("[]") {
        Some(elem) => (elem.trim_end().trim_end_matches("[]"), true),
        None => (raw, false),
    };
    let t = TypeName::parse(name)
        .ok_or_else(|| Unmappable::new(col, "the type cannot be parsed (unbalanced parentheses or quotes)"))?;
    let full = t.full();
    let full = full.strip_prefix("pg_catalog.").unwrap_or(&full).to_string();
    // `_int4` is the catalog name of `integer[]`.
    let internal_array = full.strip_prefix('_').is_some_and(|e| canonical(e).is_some());
    if array || internal_array {
        let mut m = MappedColumn::of("longtext");
        m.note("arrays are stored as PostgreSQL's array text literal, e.g. {1,2,NULL} or {\"a b\",c}, not as JSON");
        return finish(col, m, Kind::LongText);
    }
    let Some(canon) = canonical(&full) else {
        return if col.enum_labels.is_some() { enum_col(col) } else { Err(unknown(col, &full)) };
    };
    let bad_args = || Unmappable::new(col, "the type's length or precision cannot be read");
    let arg = |i: usize| -> Result<Option<i64>, Unmappable> {
        match t.num(i) {
            None => Ok(None),
            Some(Ok(n)) => Ok(Some(n)),
            Some(Err(())) => Err(bad_args()),
        }
    };
    let precision = || -> Result<u8, Unmappable> {
        match arg(0)? {
            None => Ok(6),
            Some(p @ 0..=6) => Ok(p as u8),
            Some(_) => Err(bad_args()),
        }
    };

    let (m, kind) = match canon {
        "smallint" | "integer" | "bigint" => {
            (MappedColumn::of(if canon == "integer" { "int" } else { canon }), Kind::Int)
        }
        "smallserial" | "serial" | "bigserial" => {
            let ty = match canon {
                "smallserial" => "smallint",
                "serial" => "int",
                _ => "bigint",
            };
            let mut m = MappedColumn::of(ty);
            m.identity = Some(MYSQL_IDENTITY);
            return Ok(m);
        }
        "oid" => (MappedColumn::of("int unsigned"), Kind::Int),
        "numeric" => (MappedColumn::of(decimal(col, arg(0)?, arg(1)?)?), Kind::Decimal),
        "real" => (float_col("float"), Kind::Float),
        "double precision" => (float_col("double"), Kind::Float),
        "boolean" => (MappedColumn::of("tinyint(1)"), Kind::Bool),
        "character" => {
            // `character` alone is character(1); `bpchar` alone is unbounded.
            let n = match arg(0)? {
                Some(n) => Some(n),
                None if full == "bpchar" => None,
                None => Some(1),
            };
            match n {
                Some(n @ 1..=255) => (MappedColumn::of(format!("char({n})")), Kind::Text),
                n => string(n),
            }
        }
        "character varying" => string(arg(0)?),
        "text" | "xml" => (MappedColumn::of("longtext"), Kind::LongText),
        "citext" => {
            let mut m = MappedColumn::of("longtext");
            m.note("citext is compared case-insensitively on PostgreSQL; on MySQL that depends on the table collation");
            (m, Kind::LongText)
        }
        "name" => (MappedColumn::of("varchar(63)"), Kind::Text),
        "bytea" => (MappedColumn::of("longblob"), Kind::Bytes),
        "date" => {
            let mut m = MappedColumn::of("date");
            m.note(OUT_OF_RANGE_DATES);
            (m, Kind::Date)
        }
        "timestamp without time zone" => {
            let p = precision()?;
            let mut m = MappedColumn::of(datetime(p));
            m.note(OUT_OF_RANGE_DATES);
            (m, Kind::Datetime(p))
        }
        "timestamp with time zone" => {
            let p = precision()?;
            let mut m = MappedColumn::of(datetime(p));
            m.note("timestamptz is stored as a datetime holding the UTC time");
            m.note(OUT_OF_RANGE_DATES);
            (m, Kind::Datetime(p))
        }
        "time without time zone" => {
            let p = precision()?;
            (MappedColumn::of(if p == 0 { "time".to_string() } else { format!("time({p})") }), Kind::Time)
        }
        "time with time zone" => {
            precision()?;
            let mut m = MappedColumn::of("varchar(30)");
            m.note("timetz has no MySQL counterpart: stored as its PostgreSQL text, e.g. 12:30:00+02");
            (m, Kind::Text)
        }
        "interval" => {
            let mut m = MappedColumn::of("varchar(100)");
            m.note("interval has no MySQL counterpart: stored as its PostgreSQL text, e.g. 1 year 2 mons 3 days 04:05:06");
            (m, Kind::Text)
        }
        "uuid" => (MappedColumn::of("char(36)"), Kind::Text),
        "inet" | "cidr" => (MappedColumn::of("varchar(43)"), Kind::Text),
        "macaddr" => (MappedColumn::of("varchar(17)"), Kind::Text),
        "macaddr8" => (MappedColumn::of("varchar(23)"), Kind::Text),
        "json" | "jsonb" => {
            let mut m = MappedColumn::of("json");
            m.note("MySQL JSON normalises documents (key order, duplicate keys) and stores numbers as 64-bit integers \
                    or doubles: numbers beyond that precision are rounded");
            (m, Kind::LongText)
        }
        "bit" | "bit varying" => {
            let n = match arg(0)? {
                Some(n) if n >= 1 => Some(n),
                Some(_) => return Err(bad_args()),
                None if canon == "bit" => Some(1),
                None => None,
            };
            let (mut m, kind) = string(n);
            m.check = Some(if canon == "bit" {
                // bit(n) values always have exactly n bits.
                format!("{{col}} REGEXP '^[01]{{{}}}$'", n.unwrap_or(1))
            } else {
                "{col} REGEXP '^[01]*$'".to_string()
            });
            m.note("bit strings are stored as their text of 0s and 1s, which keeps the length of bit varying values");
            (m, kind)
        }
        "money" => {
            return Err(Unmappable::new(
                col,
                "money prints in the server's lc_monetary format (e.g. $1,234.56) and its scale depends on that \
                 locale; convert the column to numeric(p,s) on the source or exclude it",
            ))
        }
        "tsvector" | "tsquery" => {
            return Err(Unmappable::new(col, "full-text search types have no MySQL counterpart; exclude the column"))
        }
        "geometric" => {
            return Err(Unmappable::new(
                col,
                "PostgreSQL geometric types have no exact MySQL counterpart (MySQL spatial types are another model); \
                 exclude the column",
            ))
        }
        "range" => {
            return Err(Unmappable::new(
                col,
                "range types (bounds and inclusivity) have no MySQL counterpart; exclude the column",
            ))
        }
        _ => return Err(unknown(col, &full)),
    };
    finish(col, m, kind)
}

const OUT_OF_RANGE_DATES: &str = "MySQL holds years 1000 to 9999 only: infinity, BC dates and years past 9999 \
                                  cannot be copied (the load must refuse the row, see docs/type-mapping.md)";

/// The canonical name of a known type, `enum` for a user type with labels; `None` when unknown.
fn canonical(name: &str) -> Option<&'static str> {
    Some(match name {
        "smallint" | "int2" => "smallint",
        "integer" | "int" | "int4" => "integer",
        "bigint" | "int8" => "bigint",
        "smallserial" | "serial2" => "smallserial",
        "serial" | "serial4" => "serial",
        "bigserial" | "serial8" => "bigserial",
        "oid" => "oid",
        "numeric" | "decimal" => "numeric",
        "real" | "float4" => "real",
        "double precision" | "float8" | "float" => "double precision",
        "boolean" | "bool" => "boolean",
        "character" | "char" | "bpchar" => "character",
        "character varying" | "varchar" => "character varying",
        "text" => "text",
        "xml" => "xml",
        "citext" => "citext",
        "name" => "name",
        "bytea" => "bytea",
        "date" => "date",
        "timestamp" | "timestamp without time zone" => "timestamp without time zone",
        "timestamptz" | "timestamp with time zone" => "timestamp with time zone",
        "time" | "time without time zone" => "time without time zone",
        "timetz" | "time with time zone" => "time with time zone",
        "uuid" => "uuid",
        "inet" => "inet",
        "cidr" => "cidr",
        "macaddr" => "macaddr",
        "macaddr8" => "macaddr8",
        "json" => "json",
        "jsonb" => "jsonb",
        "bit" => "bit",
        "bit varying" | "varbit" => "bit varying",
        "money" => "money",
        "tsvector" => "tsvector",
        "tsquery" => "tsquery",
        "point" | "line" | "lseg" | "box" | "path" | "polygon" | "circle" => "geometric",
        "int4range" | "int8range" | "numrange" | "tsrange" | "tstzrange" | "daterange" | "int4multirange"
        | "int8multirange" | "nummultirange" | "tsmultirange" | "tstzmultirange" | "datemultirange" => "range",
        n if n.starts_with("interval") => "interval",
        _ => return None,
    })
}

fn unknown(col: &SourceColumn, name: &str) -> Unmappable {
    Unmappable::new(
        col,
        format!(
            "OpenDTS has no MySQL mapping for `{name}` (a domain should be passed as its base type; composite and \
             extension types are not supported)"
        ),
    )
}

fn float_col(ty: &str) -> MappedColumn {
    let mut m = MappedColumn::of(ty);
    m.note("MySQL floats cannot hold NaN or Infinity: such values cannot be copied (the load must refuse the row)");
    m
}

fn datetime(p: u8) -> String {
    if p == 0 { "datetime".into() } else { format!("datetime({p})") }
}

/// `varchar(n)` up to [`MAX_VARCHAR`] characters, else `longtext`.
fn string(n: Option<i64>) -> (MappedColumn, Kind) {
    match n {
        Some(n @ 1..=MAX_VARCHAR) => (MappedColumn::of(format!("varchar({n})")), Kind::Text),
        _ => (MappedColumn::of("longtext"), Kind::LongText),
    }
}

/// numeric(p,s) → decimal, keeping every value the column can hold.
fn decimal(col: &SourceColumn, p: Option<i64>, s: Option<i64>) -> Result<String, Unmappable> {
    let Some(p) = p else {
        return Err(Unmappable::new(
            col,
            "numeric without a precision holds up to 131072 digits (and NaN), which no MySQL DECIMAL holds; \
             declare numeric(p,s) on the source (p <= 65, s <= 30) or exclude the column",
        ));
    };
    let s = s.unwrap_or(0);
    // PostgreSQL 15 allows a negative scale (rounding to tens, hundreds...) and a scale above the precision.
    let (mp, ms) = if s < 0 { (p - s, 0) } else { (p.max(s), s) };
    if !(1..=65).contains(&mp) || ms > 30 {
        return Err(Unmappable::new(
            col,
            format!("MySQL DECIMAL holds at most 65 digits with 30 after the point; numeric({p},{s}) needs decimal({mp},{ms})"),
        ));
    }
    Ok(format!("decimal({mp},{ms})"))
}

fn enum_col(col: &SourceColumn) -> Result<MappedColumn, Unmappable> {
    let labels = col.enum_labels.unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    let quoted: Option<Vec<String>> = labels
        .iter()
        .map(|l| {
            // MySQL drops trailing spaces of ENUM labels and compares them case-insensitively.
            let fits = !l.is_empty() && !l.ends_with(' ') && seen.insert(l.to_lowercase());
            fits.then(|| mysql_literal(l)).flatten()
        })
        .collect();
    let mut m = match quoted {
        Some(q) if !q.is_empty() => MappedColumn::of(format!("enum({})", q.join(","))),
        _ => {
            let width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0).max(1);
            let mut m = MappedColumn::of(format!("varchar({width})"));
            m.note("the enum's labels cannot be a MySQL ENUM (empty, trailing space, case-insensitive duplicate or \
                    backslash): stored as varchar, labels not enforced");
            m
        }
    };
    if let Some(d) = col.default {
        default(col, d, Kind::Text, &mut m);
    }
    if col.auto_increment {
        m.note("auto-increment is kept only on integer columns");
    }
    Ok(m)
}

fn finish(col: &SourceColumn, mut m: MappedColumn, kind: Kind) -> Result<MappedColumn, Unmappable> {
    if col.auto_increment {
        if kind == Kind::Int {
            m.identity = Some(MYSQL_IDENTITY);
            m.note("MySQL requires an AUTO_INCREMENT column to be the first column of a key");
        } else {
            m.note("auto-increment is kept only on integer columns");
        }
        return Ok(m);
    }
    if let Some(d) = col.default {
        default(col, d, kind, &mut m);
    }
    Ok(m)
}

/// What a `pg_get_expr` default means.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PgDefault {
    Null,
    Bool(bool),
    /// An unquoted number.
    Number(String),
    /// A quoted literal's value, with any cast dropped.
    Str(String),
    Now,
    Other,
}

fn parse_default(expr: &str) -> PgDefault {
    let mut e = expr.trim();
    while let Some(inner) = e.strip_prefix('(').and_then(|x| x.strip_suffix(')')) {
        e = inner.trim();
    }
    let lower = e.to_ascii_lowercase();
    if lower == "null" || lower.starts_with("null::") {
        return PgDefault::Null;
    }
    match lower.as_str() {
        "true" => return PgDefault::Bool(true),
        "false" => return PgDefault::Bool(false),
        "now()" | "current_timestamp" | "transaction_timestamp()" | "localtimestamp" => return PgDefault::Now,
        _ => {}
    }
    for f in ["current_timestamp(", "localtimestamp("] {
        if let Some(p) = lower.strip_prefix(f).and_then(|r| r.strip_suffix(')')) {
            if !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()) {
                return PgDefault::Now;
            }
        }
    }
    if is_number(e) {
        return PgDefault::Number(e.to_string());
    }
    let (body, escapes) = match e.strip_prefix("E'").or_else(|| e.strip_prefix("e'")) {
        Some(b) => (b, true),
        None => match e.strip_prefix('\'') {
            Some(b) => (b, false),
            None => return PgDefault::Other,
        },
    };
    let mut value = String::new();
    let mut it = body.char_indices();
    let rest = loop {
        let Some((i, c)) = it.next() else { return PgDefault::Other };
        match c {
            '\'' if body[i + 1..].starts_with('\'') => {
                value.push('\'');
                it.next();
            }
            '\'' => break &body[i + 1..],
            '\\' if escapes => match it.next() {
                Some((_, '\\')) => value.push('\\'),
                Some((_, '\'')) => value.push('\''),
                _ => return PgDefault::Other,
            },
            other => value.push(other),
        }
    };
    // Only casts may follow: `'a'::character varying`, `'{}'::integer[]`.
    let rest = rest.trim();
    let cast_only = rest.is_empty()
        || (rest.starts_with("::")
            && rest.chars().all(|c| c.is_alphanumeric() || " _.:\"[](),".contains(c)));
    if cast_only { PgDefault::Str(value) } else { PgDefault::Other }
}

fn default(col: &SourceColumn, raw: &str, kind: Kind, m: &mut MappedColumn) {
    let parsed = parse_default(raw);
    let num = |v: &str, ok: fn(&str) -> bool| ok(v).then(|| v.to_string());
    let carried = match (&parsed, kind) {
        (PgDefault::Null, _) => return,
        (PgDefault::Now, Kind::Datetime(0)) => Some("CURRENT_TIMESTAMP".to_string()),
        // MySQL wants the precision of CURRENT_TIMESTAMP to match the column's.
        (PgDefault::Now, Kind::Datetime(p)) => Some(format!("CURRENT_TIMESTAMP({p})")),
        (PgDefault::Bool(b), Kind::Bool) => Some(if *b { "1" } else { "0" }.to_string()),
        (PgDefault::Number(v) | PgDefault::Str(v), Kind::Int) => num(v, is_integer),
        (PgDefault::Number(v) | PgDefault::Str(v), Kind::Decimal) => num(v, is_decimal),
        (PgDefault::Number(v) | PgDefault::Str(v), Kind::Float) => num(v, is_number),
        (PgDefault::Str(v), Kind::Text) => mysql_literal(v),
        (PgDefault::Number(v), Kind::Text) => mysql_literal(v),
        (PgDefault::Str(v), Kind::LongText) => mysql_literal(v).map(|l| format!("({l})")),
        (PgDefault::Str(v), Kind::Date) => (check_datetime_literal(v, false) == Some(true)).then(|| mysql_literal(v)).flatten(),
        (PgDefault::Str(v), Kind::Datetime(_)) => {
            // pg_get_expr prints a timestamptz constant in the reading session's zone, which OpenDTS pins to UTC.
            let local = v.strip_suffix("+00:00").or_else(|| v.strip_suffix("+00")).unwrap_or(v);
            (check_datetime_literal(local, true) == Some(true)).then(|| mysql_literal(local)).flatten()
        }
        (PgDefault::Str(v), Kind::Time) => check_time_literal(v, false).and_then(|()| mysql_literal(v)),
        _ => None,
    };
    match carried {
        Some(d) => m.default = Some(d),
        None if raw.to_ascii_lowercase().starts_with("nextval(") && !col.auto_increment => {
            m.note(format!("the default {raw} uses a sequence, which MySQL has not; it is dropped"))
        }
        None => m.note(format!("the default {raw} is not carried over: only constants and now()/CURRENT_TIMESTAMP are")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(ty: &str) -> MappedColumn {
        pg_to_mysql(&SourceColumn::new("c", ty)).unwrap()
    }

    /// (source type, destination type)
    const ROWS: &[(&str, &str)] = &[
        ("smallint", "smallint"),
        ("integer", "int"),
        ("bigint", "bigint"),
        ("int4", "int"),
        ("int8", "bigint"),
        ("oid", "int unsigned"),
        ("numeric(10,2)", "decimal(10,2)"),
        ("numeric(65,30)", "decimal(65,30)"),
        ("numeric(5)", "decimal(5,0)"),
        ("numeric(5,-2)", "decimal(7,0)"),
        ("numeric(3,5)", "decimal(5,5)"),
        ("decimal(12,4)", "decimal(12,4)"),
        ("real", "float"),
        ("double precision", "double"),
        ("float8", "double"),
        ("boolean", "tinyint(1)"),
        ("character(1)", "char(1)"),
        ("character", "char(1)"),
        ("character(255)", "char(255)"),
        ("character(256)", "varchar(256)"),
        ("bpchar", "longtext"),
        ("character varying(20)", "varchar(20)"),
        ("character varying(16383)", "varchar(16383)"),
        ("character varying(16384)", "longtext"),
        ("character varying", "longtext"),
        ("varchar(5)", "varchar(5)"),
        ("text", "longtext"),
        ("xml", "longtext"),
        ("citext", "longtext"),
        ("name", "varchar(63)"),
        ("bytea", "longblob"),
        ("date", "date"),
        ("timestamp without time zone", "datetime(6)"),
        ("timestamp(0) without time zone", "datetime"),
        ("timestamp(3) without time zone", "datetime(3)"),
        ("timestamp with time zone", "datetime(6)"),
        ("timestamp(3) with time zone", "datetime(3)"),
        ("timestamptz", "datetime(6)"),
        ("time without time zone", "time(6)"),
        ("time(0) without time zone", "time"),
        ("time(2) without time zone", "time(2)"),
        ("time with time zone", "varchar(30)"),
        ("timetz", "varchar(30)"),
        ("interval", "varchar(100)"),
        ("interval(3)", "varchar(100)"),
        ("interval day to second(3)", "varchar(100)"),
        ("interval year to month", "varchar(100)"),
        ("uuid", "char(36)"),
        ("inet", "varchar(43)"),
        ("cidr", "varchar(43)"),
        ("macaddr", "varchar(17)"),
        ("macaddr8", "varchar(23)"),
        ("json", "json"),
        ("jsonb", "json"),
        ("bit(1)", "varchar(1)"),
        ("bit", "varchar(1)"),
        ("bit(10)", "varchar(10)"),
        ("bit varying(64)", "varchar(64)"),
        ("bit varying", "longtext"),
        ("integer[]", "longtext"),
        ("character varying(20)[]", "longtext"),
        ("text[][]", "longtext"),
        ("_int4", "longtext"),
        ("_text", "longtext"),
    ];

    #[test]
    fn every_row_of_the_map() {
        for (src, dest) in ROWS {
            let m = map(src);
            assert_eq!(m.dest_type, *dest, "{src}");
            assert_eq!((m.identity, m.default.as_deref()), (None, None), "{src}");
        }
        assert_eq!(map("bit(10)").check.as_deref(), Some("{col} REGEXP '^[01]{10}$'"));
        assert_eq!(map("bit varying(3)").check.as_deref(), Some("{col} REGEXP '^[01]*$'"));
        assert!(map("integer[]").notes.iter().any(|n| n.contains("{1,2,NULL}")));
        assert!(map("timestamp with time zone").notes.iter().any(|n| n.contains("UTC")));
    }

    #[test]
    fn type_strings_are_read_robustly() {
        assert_eq!(map("  Character   Varying( 20 ) ").dest_type, "varchar(20)");
        assert_eq!(map("TIMESTAMP(3) WITH TIME ZONE").dest_type, "datetime(3)");
        assert_eq!(map("pg_catalog.int4").dest_type, "int");
        assert_eq!(map("integer []").dest_type, "longtext");
        assert_eq!(map("Double Precision").dest_type, "double");
        assert_eq!(map("NUMERIC(10, 2)").dest_type, "decimal(10,2)");
    }

    #[test]
    fn unmappable() {
        let cases: &[(&str, &str)] = &[
            ("numeric", "without a precision"),
            ("numeric(66,2)", "65 digits"),
            ("numeric(40,31)", "30 after"),
            ("money", "lc_monetary"),
            ("tsvector", "full-text"),
            ("tsquery", "full-text"),
            ("point", "geometric"),
            ("polygon", "geometric"),
            ("circle", "geometric"),
            ("int4range", "range"),
            ("tstzrange", "range"),
            ("datemultirange", "range"),
            ("mood", "no MySQL mapping"),
            ("public.address", "no MySQL mapping"),
            ("_mood", "no MySQL mapping"),
            ("timestamp(7) without time zone", "precision"),
            ("numeric(a,b)", "precision"),
            ("character varying(20", "parsed"),
        ];
        for (ty, reason) in cases {
            let e = pg_to_mysql(&SourceColumn::new("col1", ty)).unwrap_err();
            assert_eq!((e.column.as_str(), e.source_type.as_str()), ("col1", *ty));
            assert!(e.reason.contains(reason), "{ty}: {}", e.reason);
        }
    }

    #[test]
    fn enums_with_labels() {
        let labels = ["sad", "ok", "it's"];
        let col = SourceColumn { enum_labels: Some(&labels), default: Some("'ok'::mood"), ..SourceColumn::new("m", "mood") };
        let m = pg_to_mysql(&col).unwrap();
        assert_eq!(m.dest_type, "enum('sad','ok','it''s')");
        assert_eq!(m.default.as_deref(), Some("'ok'"));
        for bad in [&["a", "A"][..], &["a "][..], &["a\\b"][..], &[][..]] {
            let col = SourceColumn { enum_labels: Some(bad), ..SourceColumn::new("m", "\"Mood\"") };
            let m = pg_to_mysql(&col).unwrap();
            assert!(m.dest_type.starts_with("varchar("), "{bad:?}");
            assert!(m.notes.iter().any(|n| n.contains("not enforced")));
        }
    }

    #[test]
    fn serial_and_identity() {
        for (ty, dest) in [("integer", "int"), ("bigint", "bigint"), ("smallint", "smallint"), ("serial", "int"), ("bigserial", "bigint")] {
            let col = SourceColumn {
                auto_increment: true,
                default: Some("nextval('t_id_seq'::regclass)"),
                ..SourceColumn::new("id", ty)
            };
            let m = pg_to_mysql(&col).unwrap();
            assert_eq!((m.dest_type.as_str(), m.identity, m.default.as_deref()), (dest, Some(MYSQL_IDENTITY), None), "{ty}");
        }
        let col = SourceColumn { default: Some("nextval('shared_seq'::regclass)"), ..SourceColumn::new("n", "bigint") };
        let m = pg_to_mysql(&col).unwrap();
        assert_eq!((m.identity, m.default.as_deref()), (None, None));
        assert!(m.notes.iter().any(|n| n.contains("sequence")));
    }

    #[test]
    fn defaults() {
        // (type, pg_get_expr, expected MySQL default)
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("integer", "0", Some("0")),
            ("integer", "'-1'::integer", Some("-1")),
            ("bigint", "(42)", Some("42")),
            ("numeric(10,2)", "12.50", Some("12.50")),
            ("numeric(10,2)", "'-1.5'::numeric", Some("-1.5")),
            ("double precision", "'1e10'::double precision", Some("1e10")),
            ("double precision", "'NaN'::double precision", None),
            ("boolean", "true", Some("1")),
            ("boolean", "false", Some("0")),
            ("character varying(10)", "'it''s'::character varying", Some("'it''s'")),
            ("character varying(10)", "E'a\\\\b'::character varying", None),
            ("character varying(10)", "NULL::character varying", None),
            ("character varying(10)", "('a'::text || 'b'::text)", None),
            ("character(2)", "'ab'::bpchar", Some("'ab'")),
            ("text", "''::text", Some("('')")),
            ("jsonb", "'{}'::jsonb", Some("('{}')")),
            ("integer[]", "'{}'::integer[]", Some("('{}')")),
            ("uuid", "gen_random_uuid()", None),
            ("uuid", "'00000000-0000-0000-0000-000000000000'::uuid", Some("'00000000-0000-0000-0000-000000000000'")),
            ("bytea", "'\\x'::bytea", None),
            ("date", "'2024-01-02'::date", Some("'2024-01-02'")),
            ("date", "CURRENT_DATE", None),
            ("date", "'infinity'::date", None),
            ("timestamp without time zone", "now()", Some("CURRENT_TIMESTAMP(6)")),
            ("timestamp(0) without time zone", "CURRENT_TIMESTAMP", Some("CURRENT_TIMESTAMP")),
            ("timestamp(3) with time zone", "CURRENT_TIMESTAMP(3)", Some("CURRENT_TIMESTAMP(3)")),
            ("timestamp with time zone", "transaction_timestamp()", Some("CURRENT_TIMESTAMP(6)")),
            ("timestamp with time zone", "clock_timestamp()", None),
            ("timestamp with time zone", "(now() + '1 day'::interval)", None),
            ("timestamp without time zone", "'2020-01-01 10:00:00'::timestamp without time zone", Some("'2020-01-01 10:00:00'")),
            ("timestamp with time zone", "'2020-01-01 10:00:00+00'::timestamp with time zone", Some("'2020-01-01 10:00:00'")),
            ("timestamp with time zone", "'2020-01-01 10:00:00+02'::timestamp with time zone", None),
            ("time without time zone", "'12:30:00'::time without time zone", Some("'12:30:00'")),
            ("time without time zone", "now()", None),
            ("interval", "'1 day'::interval", Some("'1 day'")),
            ("smallint", "'abc'", None),
        ];
        for (ty, d, expected) in cases {
            let m = pg_to_mysql(&SourceColumn { default: Some(d), ..SourceColumn::new("c", ty) }).unwrap();
            assert_eq!(m.default.as_deref(), *expected, "{ty} DEFAULT {d}");
            if expected.is_none() && !d.starts_with("NULL") {
                assert!(m.notes.iter().any(|n| n.contains(d)), "{ty} DEFAULT {d}: the dropped default is noted");
            }
        }
    }
}
