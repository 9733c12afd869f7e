//! The `dts_avro` record format (Reserve `kafkaRecordFormat`), the format DTS
//! change tracking delivers: one Avro-binary record per row change or DDL,
//! laid out by `com.alibaba.dts.formats.avro.Record` (published in
//! `docs/dts_avro.avsc`, every field described in `docs/record-formats.md`),
//! so consumer code written for DTS decodes it with that schema.
//!
//! Records are written without a container header (the Kafka value is the
//! bare datum, as DTS sends it). Column values become the schema's typed
//! values by the column's source type: integers `Integer`, strings
//! `Character`, DECIMAL `Decimal`, FLOAT/DOUBLE `Float`, DATE/DATETIME/TIME/
//! YEAR `DateTime`, MySQL TIMESTAMP `Timestamp`, PostgreSQL timestamptz
//! `TimestampWithTimeZone`, JSON `TextObject`, BLOB/BINARY/BIT
//! `BinaryObject`, GEOMETRY `BinaryGeometry`, NULL the union's null branch.
//! The `millis` fields hold the fraction of the second in microseconds
//! (0..=999999), so DATETIME(6) loses nothing.
//!
//! The Avro binary encoding is written here (zigzag varints, length-prefixed
//! bytes, union branch index, blocked arrays/maps, enums by index).

use opendts_core::change::{DdlChange, RowChange, RowOp};
use opendts_core::row::{Cell, TableSchema};

/// The `version` every record carries.
const RECORD_VERSION: i32 = 1;

/// The source engine, as `Source.sourceType` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SourceKind {
    MySql,
    PostgreSql,
}

impl SourceKind {
    /// Index in the `SourceType` enum (MySQL, Oracle, SQLServer, PostgreSQL, ...).
    fn symbol_index(self) -> i64 {
        match self {
            SourceKind::MySql => 0,
            SourceKind::PostgreSql => 3,
        }
    }
}

/// Indexes in the `Operation` enum.
mod operation {
    pub const INSERT: i64 = 0;
    pub const UPDATE: i64 = 1;
    pub const DELETE: i64 = 2;
    pub const DDL: i64 = 3;
}

/// One row change as a dts_avro record. `schema` describes the table when
/// known (column types and key); without it values are typed by the cell.
pub(crate) fn row_record(
    change: &RowChange,
    schema: Option<&TableSchema>,
    source: SourceKind,
    id: i64,
    position: &str,
    commit_secs: i64,
    now_ms: i64,
) -> Vec<u8> {
    let op = match change.op {
        RowOp::Insert => operation::INSERT,
        RowOp::Update => operation::UPDATE,
        RowOp::Delete => operation::DELETE,
    };
    let columns: Vec<Column> = change
        .columns
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let source_type = schema.and_then(|s| s.columns.iter().find(|c| &c.name == name)).map(|c| c.source_type.as_str());
            let sample = [change.after.as_deref(), change.before.as_deref()]
                .into_iter()
                .flatten()
                .filter_map(|row| row.get(i))
                .find(|c| **c != Cell::Null);
            Column::new(name, source_type, source, sample)
        })
        .collect();
    let mut tags: Vec<(String, String)> = Vec::new();
    if let Some(s) = schema.filter(|s| !s.key.is_empty()) {
        let key: Vec<&str> = s.key.iter().filter_map(|&i| s.columns.get(i)).map(|c| c.name.as_str()).collect();
        tags.push(("pk_uk_info".into(), serde_json::json!({ "PRIMARY": key }).to_string()));
    }
    let before = if change.op == RowOp::Insert { None } else { change.before.as_deref() };
    let after = if change.op == RowOp::Delete { None } else { change.after.as_deref() };

    let mut w = Writer::default();
    header(&mut w, source, id, position, commit_secs, now_ms, op, Some(&change.table.to_string()), &tags);
    // fields: union {null, string, array<Field>}
    w.long(2);
    w.block_count(columns.len());
    for c in &columns {
        w.string(&c.name);
        w.int(c.type_number);
    }
    w.end_blocks(columns.len());
    for image in [before, after] {
        match image {
            None => w.long(0),
            Some(cells) => {
                w.long(2);
                w.block_count(cells.len());
                for (c, cell) in columns.iter().zip(cells) {
                    write_value(&mut w, &c.value(cell));
                }
                w.end_blocks(cells.len());
            }
        }
    }
    w.long(commit_secs.saturating_mul(1000));
    w.buf
}

/// A DDL statement as a dts_avro record: `afterImages` holds its text.
pub(crate) fn ddl_record(ddl: &DdlChange, source: SourceKind, id: i64, position: &str, commit_secs: i64, now_ms: i64) -> Vec<u8> {
    let object = match ddl.tables.first() {
        Some(t) => t.to_string(),
        None => ddl.schema.clone(),
    };
    let mut w = Writer::default();
    header(&mut w, source, id, position, commit_secs, now_ms, operation::DDL, Some(&object), &[]);
    w.long(0); // fields: null
    w.long(0); // beforeImages: null
    w.long(1); // afterImages: the statement
    w.string(&ddl.statement);
    w.long(commit_secs.saturating_mul(1000));
    w.buf
}

/// The fields every record starts with, `version` to `tags`.
#[allow(clippy::too_many_arguments)]
fn header(
    w: &mut Writer,
    source: SourceKind,
    id: i64,
    position: &str,
    commit_secs: i64,
    now_ms: i64,
    op: i64,
    object: Option<&str>,
    tags: &[(String, String)],
) {
    w.int(RECORD_VERSION);
    w.long(id);
    w.long(commit_secs);
    w.string(position); // sourcePosition
    w.string(position); // safeSourcePosition: records carry the position after their transaction
    w.string(""); // sourceTxid
    w.long(source.symbol_index());
    w.string(""); // source.version
    w.long(op);
    match object {
        Some(o) => {
            w.long(1);
            w.string(o);
        }
        None => w.long(0),
    }
    // processTimestamps: [capture time]
    w.long(1);
    w.block_count(1);
    w.long(now_ms);
    w.end_blocks(1);
    w.block_count(tags.len());
    for (k, v) in tags {
        w.string(k);
        w.string(v);
    }
    w.end_blocks(tags.len());
}

// ---------------------------------------------------------------------------
// Avro binary encoding

/// An Avro binary encoder.
#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// `long` (and `int`, enum index, union branch, lengths): zigzag varint.
    fn long(&mut self, v: i64) {
        let mut n = ((v << 1) ^ (v >> 63)) as u64;
        while n >= 0x80 {
            self.buf.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        self.buf.push(n as u8);
    }

    fn int(&mut self, v: i32) {
        self.long(i64::from(v));
    }

    fn bytes(&mut self, b: &[u8]) {
        self.long(b.len() as i64);
        self.buf.extend_from_slice(b);
    }

    fn string(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    /// `double`: IEEE 754, little-endian.
    fn double(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// Starts an array or map of `n` items as one block (nothing when empty:
    /// `end_blocks` writes the terminator).
    fn block_count(&mut self, n: usize) {
        if n > 0 {
            self.long(n as i64);
        }
    }

    /// Ends an array or map: the zero-length block.
    fn end_blocks(&mut self, _n: usize) {
        self.long(0);
    }

    /// `["null", "int"]`.
    fn opt_int(&mut self, v: Option<i32>) {
        match v {
            None => self.long(0),
            Some(v) => {
                self.long(1);
                self.int(v);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Typed values

/// `DateTime`: each part optional (a DATE has no time, a TIME no date).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct DateTimeParts {
    year: Option<i32>,
    month: Option<i32>,
    day: Option<i32>,
    hour: Option<i32>,
    minute: Option<i32>,
    second: Option<i32>,
    /// The fraction of the second in microseconds.
    millis: Option<i32>,
}

/// One element of an image: a branch of the item union.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Integer { precision: i32, value: String },
    Character { charset: String, value: Vec<u8> },
    Decimal { value: String, precision: i32, scale: i32 },
    Float { value: f64, precision: i32, scale: i32 },
    Timestamp { seconds: i64, micros: i32 },
    DateTime(DateTimeParts),
    TimestampWithTimeZone(DateTimeParts, String),
    BinaryGeometry { kind: String, value: Vec<u8> },
    TextGeometry { kind: String, value: String },
    BinaryObject { kind: String, value: Vec<u8> },
    TextObject { kind: String, value: String },
}

fn write_date_time(w: &mut Writer, d: &DateTimeParts) {
    for part in [d.year, d.month, d.day, d.hour, d.minute, d.second, d.millis] {
        w.opt_int(part);
    }
}

/// Writes one item of an image: its union branch, then its fields.
fn write_value(w: &mut Writer, v: &Value) {
    match v {
        Value::Null => w.long(0),
        Value::Integer { precision, value } => {
            w.long(1);
            w.int(*precision);
            w.string(value);
        }
        Value::Character { charset, value } => {
            w.long(2);
            w.string(charset);
            w.bytes(value);
        }
        Value::Decimal { value, precision, scale } => {
            w.long(3);
            w.string(value);
            w.int(*precision);
            w.int(*scale);
        }
        Value::Float { value, precision, scale } => {
            w.long(4);
            w.double(*value);
            w.int(*precision);
            w.int(*scale);
        }
        Value::Timestamp { seconds, micros } => {
            w.long(5);
            w.long(*seconds);
            w.int(*micros);
        }
        Value::DateTime(d) => {
            w.long(6);
            write_date_time(w, d);
        }
        Value::TimestampWithTimeZone(d, tz) => {
            w.long(7);
            write_date_time(w, d);
            w.string(tz);
        }
        Value::BinaryGeometry { kind, value } => {
            w.long(8);
            w.string(kind);
            w.bytes(value);
        }
        Value::TextGeometry { kind, value } => {
            w.long(9);
            w.string(kind);
            w.string(value);
        }
        Value::BinaryObject { kind, value } => {
            w.long(10);
            w.string(kind);
            w.bytes(value);
        }
        Value::TextObject { kind, value } => {
            w.long(11);
            w.string(kind);
            w.string(value);
        }
    }
}

/// How a column's values are written.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// Integer of this many bits (1 for a boolean).
    Integer(i32),
    Decimal { precision: Option<i32>, scale: Option<i32> },
    Float { precision: i32, scale: i32 },
    Character(String),
    TextObject(String),
    BinaryObject(String),
    BinaryGeometry(String),
    TextGeometry(String),
    /// DATE: year, month, day.
    Date,
    /// DATETIME / timestamp without time zone: every part.
    DateTime,
    /// TIME: hour, minute, second, fraction.
    Time,
    /// YEAR: the year alone.
    Year,
    /// MySQL TIMESTAMP: seconds since the epoch.
    Timestamp,
    /// PostgreSQL timestamptz (UTC).
    TimestampTz,
    /// No schema, or a type not listed: typed by the cell.
    ByCell,
}

struct Column {
    name: String,
    kind: Kind,
    type_number: i32,
}

impl Column {
    fn new(name: &str, source_type: Option<&str>, source: SourceKind, sample: Option<&Cell>) -> Column {
        let (kind, type_number) = match (source_type, source) {
            (Some(t), SourceKind::MySql) => mysql_kind(t),
            (Some(t), SourceKind::PostgreSql) => postgres_kind(t),
            (None, _) => (Kind::ByCell, 0),
        };
        let type_number = if kind == Kind::ByCell && source_type.is_none() { cell_type_number(sample, source) } else { type_number };
        Column { name: name.to_string(), kind, type_number }
    }

    fn value(&self, cell: &Cell) -> Value {
        if *cell == Cell::Null {
            return Value::Null;
        }
        match &self.kind {
            Kind::Integer(bits) => Value::Integer { precision: *bits, value: text(cell) },
            Kind::Decimal { precision, scale } => {
                let value = text(cell);
                let (p, s) = decimal_digits(&value);
                Value::Decimal { precision: precision.unwrap_or(p), scale: scale.unwrap_or(s), value }
            }
            Kind::Float { precision, scale } => match float_of(cell) {
                Some(value) => Value::Float { value, precision: *precision, scale: *scale },
                None => Value::TextObject { kind: "FLOAT".into(), value: text(cell) },
            },
            Kind::Character(charset) => Value::Character { charset: charset.clone(), value: raw(cell) },
            Kind::TextObject(k) => Value::TextObject { kind: k.clone(), value: text(cell) },
            Kind::BinaryObject(k) => Value::BinaryObject { kind: k.clone(), value: raw(cell) },
            Kind::BinaryGeometry(k) => Value::BinaryGeometry { kind: k.clone(), value: raw(cell) },
            Kind::TextGeometry(k) => Value::TextGeometry { kind: k.clone(), value: text(cell) },
            Kind::Date => match cell {
                Cell::Date { year, month, day, .. } => Value::DateTime(DateTimeParts {
                    year: Some(i32::from(*year)),
                    month: Some(i32::from(*month)),
                    day: Some(i32::from(*day)),
                    ..DateTimeParts::default()
                }),
                _ => by_cell(cell),
            },
            Kind::DateTime => by_cell(cell),
            Kind::Time => by_cell(cell),
            Kind::Year => match cell {
                Cell::Int(y) => Value::DateTime(DateTimeParts { year: i32::try_from(*y).ok(), ..DateTimeParts::default() }),
                Cell::UInt(y) => Value::DateTime(DateTimeParts { year: i32::try_from(*y).ok(), ..DateTimeParts::default() }),
                _ => by_cell(cell),
            },
            Kind::Timestamp => match cell {
                Cell::Date { year, month, day, hour, minute, second, micros } => {
                    let seconds = if *year == 0 && *month == 0 && *day == 0 {
                        0
                    } else {
                        days_from_civil(i64::from(*year), i64::from(*month), i64::from(*day)) * 86_400
                            + i64::from(*hour) * 3_600
                            + i64::from(*minute) * 60
                            + i64::from(*second)
                    };
                    Value::Timestamp { seconds, micros: i32::try_from(*micros).unwrap_or(0) }
                }
                _ => by_cell(cell),
            },
            Kind::TimestampTz => match by_cell(cell) {
                Value::DateTime(d) => Value::TimestampWithTimeZone(d, "+00:00".into()),
                other => other,
            },
            Kind::ByCell => by_cell(cell),
        }
    }
}

/// A value typed by its cell alone.
fn by_cell(cell: &Cell) -> Value {
    match cell {
        Cell::Null => Value::Null,
        Cell::Int(i) => Value::Integer { precision: 64, value: i.to_string() },
        Cell::UInt(u) => Value::Integer { precision: 64, value: u.to_string() },
        Cell::Float(_) => Value::Float { value: float_of(cell).unwrap_or(0.0), precision: 12, scale: 0 },
        Cell::Double(d) => Value::Float { value: *d, precision: 22, scale: 0 },
        Cell::Bytes(b) => match std::str::from_utf8(b) {
            Ok(_) => Value::Character { charset: "utf8mb4".into(), value: b.clone() },
            Err(_) => Value::BinaryObject { kind: "BINARY".into(), value: b.clone() },
        },
        Cell::Date { year, month, day, hour, minute, second, micros } => Value::DateTime(DateTimeParts {
            year: Some(i32::from(*year)),
            month: Some(i32::from(*month)),
            day: Some(i32::from(*day)),
            hour: Some(i32::from(*hour)),
            minute: Some(i32::from(*minute)),
            second: Some(i32::from(*second)),
            millis: Some(i32::try_from(*micros).unwrap_or(0)),
        }),
        Cell::Time { negative, days, hours, minutes, seconds, micros } => {
            let sign = if *negative { -1 } else { 1 };
            let h = i32::try_from(u64::from(*days) * 24 + u64::from(*hours)).unwrap_or(i32::MAX);
            Value::DateTime(DateTimeParts {
                hour: Some(sign * h),
                minute: Some(sign * i32::from(*minutes)),
                second: Some(sign * i32::from(*seconds)),
                millis: Some(sign * i32::try_from(*micros).unwrap_or(0)),
                ..DateTimeParts::default()
            })
        }
    }
}

/// A cell's text (canal_json's rendering): numbers as written, bytes as
/// UTF-8 (lossy), temporal values ISO.
fn text(cell: &Cell) -> String {
    match cell {
        Cell::Null => String::new(),
        Cell::Int(i) => i.to_string(),
        Cell::UInt(u) => u.to_string(),
        Cell::Float(f) => f.to_string(),
        Cell::Double(d) => d.to_string(),
        Cell::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Cell::Date { year, month, day, hour, minute, second, micros } => {
            let mut s = format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}");
            if *micros != 0 {
                s.push_str(&format!(".{micros:06}"));
            }
            s
        }
        Cell::Time { negative, days, hours, minutes, seconds, micros } => {
            let h = u64::from(*days) * 24 + u64::from(*hours);
            let mut s = format!("{}{h:02}:{minutes:02}:{seconds:02}", if *negative { "-" } else { "" });
            if *micros != 0 {
                s.push_str(&format!(".{micros:06}"));
            }
            s
        }
    }
}

/// A cell's bytes: `Bytes` as stored, an unsigned integer (BIT read as a
/// number) big-endian without leading zero bytes, anything else its text.
fn raw(cell: &Cell) -> Vec<u8> {
    match cell {
        Cell::Bytes(b) => b.clone(),
        Cell::UInt(u) => {
            let be = u.to_be_bytes();
            let first = be.iter().position(|&b| b != 0).unwrap_or(be.len() - 1);
            be[first..].to_vec()
        }
        other => text(other).into_bytes(),
    }
}

/// A float cell as a double; a FLOAT goes through its shortest decimal form,
/// so 0.1f32 reads 0.1, not 0.10000000149011612.
fn float_of(cell: &Cell) -> Option<f64> {
    match cell {
        Cell::Float(f) => f.to_string().parse().ok().or(Some(f64::from(*f))),
        Cell::Double(d) => Some(*d),
        Cell::Int(i) => Some(*i as f64),
        Cell::UInt(u) => Some(*u as f64),
        Cell::Bytes(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
        _ => None,
    }
}

/// Digits in total and after the point of a decimal text (`-12.340` → (5, 3)).
fn decimal_digits(value: &str) -> (i32, i32) {
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    let count = |s: &str| i32::try_from(s.chars().filter(char::is_ascii_digit).count()).unwrap_or(i32::MAX);
    (count(int) + count(frac), count(frac))
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The numbers in a type's parentheses: `decimal(10,2)` → [10, 2].
fn type_params(t: &str) -> Vec<i32> {
    match (t.find('('), t.find(')')) {
        (Some(a), Some(b)) if a < b => t[a + 1..b].split(',').filter_map(|p| p.trim().parse().ok()).collect(),
        _ => Vec::new(),
    }
}

/// The charset a MySQL column type names (`... CHARACTER SET latin1`), else utf8mb4.
fn mysql_charset(t: &str) -> String {
    let words: Vec<&str> = t.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        let next = match (*w, words.get(i + 1)) {
            ("charset", Some(n)) => Some(*n),
            ("character", Some(&"set")) => words.get(i + 2).copied(),
            _ => None,
        };
        if let Some(cs) = next {
            return cs.to_string();
        }
    }
    "utf8mb4".into()
}

/// A MySQL column type's value kind and binlog type code.
fn mysql_kind(source_type: &str) -> (Kind, i32) {
    let t = source_type.trim().to_ascii_lowercase();
    let base = t.split(['(', ' ']).next().unwrap_or("");
    let params = type_params(&t);
    let upper = base.to_ascii_uppercase();
    match base {
        "tinyint" | "bool" | "boolean" => (Kind::Integer(8), 1),
        "smallint" => (Kind::Integer(16), 2),
        "mediumint" => (Kind::Integer(24), 9),
        "int" | "integer" => (Kind::Integer(32), 3),
        "bigint" => (Kind::Integer(64), 8),
        "float" => (Kind::Float { precision: params.first().copied().unwrap_or(12), scale: params.get(1).copied().unwrap_or(0) }, 4),
        "double" | "real" => (Kind::Float { precision: params.first().copied().unwrap_or(22), scale: params.get(1).copied().unwrap_or(0) }, 5),
        "decimal" | "numeric" | "dec" | "fixed" => (
            Kind::Decimal { precision: Some(params.first().copied().unwrap_or(10)), scale: Some(params.get(1).copied().unwrap_or(0)) },
            246,
        ),
        "timestamp" => (Kind::Timestamp, 7),
        "date" => (Kind::Date, 10),
        "time" => (Kind::Time, 11),
        "datetime" => (Kind::DateTime, 12),
        "year" => (Kind::Year, 13),
        "varchar" => (Kind::Character(mysql_charset(&t)), 15),
        "char" => (Kind::Character(mysql_charset(&t)), 254),
        "tinytext" | "text" | "mediumtext" | "longtext" => (Kind::Character(mysql_charset(&t)), 252),
        "varbinary" => (Kind::BinaryObject(upper), 15),
        "binary" => (Kind::BinaryObject(upper), 254),
        "tinyblob" | "blob" | "mediumblob" | "longblob" => (Kind::BinaryObject(upper), 252),
        "bit" => (Kind::BinaryObject("BIT".into()), 16),
        "json" => (Kind::TextObject("JSON".into()), 245),
        "enum" => (Kind::TextObject("ENUM".into()), 247),
        "set" => (Kind::TextObject("SET".into()), 248),
        "geometry" | "point" | "linestring" | "polygon" | "multipoint" | "multilinestring" | "multipolygon"
        | "geometrycollection" | "geomcollection" => (Kind::BinaryGeometry(upper), 255),
        _ => (Kind::ByCell, 253),
    }
}

/// A PostgreSQL column type (as `format_type` prints it) and its type OID.
fn postgres_kind(source_type: &str) -> (Kind, i32) {
    let t = source_type.trim().to_ascii_lowercase();
    let params = type_params(&t);
    // Drop the modifier: `timestamp(3) with time zone` → `timestamp with time zone`.
    let base = match (t.find('('), t.find(')')) {
        (Some(a), Some(b)) if a < b => format!("{}{}", t[..a].trim_end(), &t[b + 1..]),
        _ => t.clone(),
    };
    let base = base.trim();
    if base.ends_with("[]") {
        return (Kind::TextObject("ARRAY".into()), 0);
    }
    let utf8 = || Kind::Character("UTF8".into());
    let text_object = |k: &str| Kind::TextObject(k.to_ascii_uppercase());
    match base {
        "boolean" | "bool" => (Kind::Integer(1), 16),
        "smallint" | "int2" | "smallserial" => (Kind::Integer(16), 21),
        "integer" | "int" | "int4" | "serial" => (Kind::Integer(32), 23),
        "bigint" | "int8" | "bigserial" => (Kind::Integer(64), 20),
        "oid" => (Kind::Integer(32), 26),
        "real" | "float4" => (Kind::Float { precision: 24, scale: 0 }, 700),
        "double precision" | "float8" => (Kind::Float { precision: 53, scale: 0 }, 701),
        "numeric" | "decimal" => (Kind::Decimal { precision: params.first().copied(), scale: params.first().map(|_| params.get(1).copied().unwrap_or(0)) }, 1700),
        "text" => (utf8(), 25),
        "character varying" | "varchar" => (utf8(), 1043),
        "character" | "char" | "bpchar" => (utf8(), 1042),
        "\"char\"" => (utf8(), 18),
        "name" => (utf8(), 19),
        "bytea" => (Kind::BinaryObject("BYTEA".into()), 17),
        "bit" => (Kind::BinaryObject("BIT".into()), 1560),
        "bit varying" | "varbit" => (Kind::BinaryObject("BIT".into()), 1562),
        "json" => (Kind::TextObject("JSON".into()), 114),
        "jsonb" => (Kind::TextObject("JSONB".into()), 3802),
        "xml" => (text_object("xml"), 142),
        "uuid" => (text_object("uuid"), 2950),
        "interval" => (text_object("interval"), 1186),
        "money" => (text_object("money"), 790),
        "inet" => (text_object("inet"), 869),
        "cidr" => (text_object("cidr"), 650),
        "macaddr" => (text_object("macaddr"), 829),
        "time with time zone" | "timetz" => (text_object("timetz"), 1266),
        "date" => (Kind::Date, 1082),
        "time without time zone" | "time" => (Kind::Time, 1083),
        "timestamp without time zone" | "timestamp" => (Kind::DateTime, 1114),
        "timestamp with time zone" | "timestamptz" => (Kind::TimestampTz, 1184),
        "point" => (Kind::TextGeometry("POINT".into()), 600),
        "lseg" => (Kind::TextGeometry("LSEG".into()), 601),
        "path" => (Kind::TextGeometry("PATH".into()), 602),
        "box" => (Kind::TextGeometry("BOX".into()), 603),
        "polygon" => (Kind::TextGeometry("POLYGON".into()), 604),
        "line" => (Kind::TextGeometry("LINE".into()), 628),
        "circle" => (Kind::TextGeometry("CIRCLE".into()), 718),
        _ => (Kind::ByCell, 0),
    }
}

/// The type number of a column without a schema, by its first non-NULL value.
fn cell_type_number(sample: Option<&Cell>, source: SourceKind) -> i32 {
    let mysql = source == SourceKind::MySql;
    match sample {
        Some(Cell::Int(_) | Cell::UInt(_)) => if mysql { 8 } else { 20 },
        Some(Cell::Float(_)) => if mysql { 4 } else { 700 },
        Some(Cell::Double(_)) => if mysql { 5 } else { 701 },
        Some(Cell::Date { .. }) => if mysql { 12 } else { 1114 },
        Some(Cell::Time { .. }) => if mysql { 11 } else { 1083 },
        Some(Cell::Bytes(b)) if std::str::from_utf8(b).is_err() => if mysql { 252 } else { 17 },
        _ => if mysql { 253 } else { 25 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opendts_core::change::DdlKind;
    use opendts_core::row::{ColumnDef, TableId};

    fn enc(f: impl FnOnce(&mut Writer)) -> Vec<u8> {
        let mut w = Writer::default();
        f(&mut w);
        w.buf
    }

    // --- primitives, against the Avro specification's examples ------------

    #[test]
    fn longs_are_zigzag_varints() {
        // The spec's table: 0 → 00, -1 → 01, 1 → 02, -2 → 03, 2 → 04, -64 → 7f, 64 → 80 01.
        for (v, bytes) in [
            (0i64, vec![0x00]),
            (-1, vec![0x01]),
            (1, vec![0x02]),
            (-2, vec![0x03]),
            (2, vec![0x04]),
            (-64, vec![0x7f]),
            (64, vec![0x80, 0x01]),
            (8192, vec![0x80, 0x80, 0x01]),
            (i64::MAX, vec![0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
            (i64::MIN, vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
        ] {
            assert_eq!(enc(|w| w.long(v)), bytes, "{v}");
        }
        assert_eq!(enc(|w| w.int(-64)), vec![0x7f]);
    }

    #[test]
    fn strings_bytes_and_doubles() {
        // The spec: "foo" → 06 66 6f 6f.
        assert_eq!(enc(|w| w.string("foo")), vec![0x06, 0x66, 0x6f, 0x6f]);
        assert_eq!(enc(|w| w.string("")), vec![0x00]);
        assert_eq!(enc(|w| w.bytes(&[0xff, 0x00])), vec![0x04, 0xff, 0x00]);
        assert_eq!(enc(|w| w.double(1.0)), vec![0, 0, 0, 0, 0, 0, 0xf0, 0x3f]);
    }

    #[test]
    fn arrays_maps_unions_and_enums() {
        // The spec: the array {3, 27} of longs → 04 06 36 00.
        let array = enc(|w| {
            w.block_count(2);
            w.long(3);
            w.long(27);
            w.end_blocks(2);
        });
        assert_eq!(array, vec![0x04, 0x06, 0x36, 0x00]);
        // An empty array or map is the terminator alone.
        assert_eq!(enc(|w| { w.block_count(0); w.end_blocks(0) }), vec![0x00]);
        // A map {"a": "b"}.
        let map = enc(|w| {
            w.block_count(1);
            w.string("a");
            w.string("b");
            w.end_blocks(1);
        });
        assert_eq!(map, vec![0x02, 0x02, b'a', 0x02, b'b', 0x00]);
        // The spec: ["null","string"] null → 00, "a" → 02 02 61.
        assert_eq!(enc(|w| w.opt_int(None)), vec![0x00]);
        assert_eq!(enc(|w| w.opt_int(Some(2))), vec![0x02, 0x04]);
        assert_eq!(enc(|w| write_value(w, &Value::Null)), vec![0x00]);
        // An enum is its index: Source.sourceType PostgreSQL → 3 → 06.
        assert_eq!(enc(|w| w.long(SourceKind::PostgreSql.symbol_index())), vec![0x06]);
        // Integer{precision 32, value "7"}: branch 1, 32, "7".
        assert_eq!(
            enc(|w| write_value(w, &Value::Integer { precision: 32, value: "7".into() })),
            vec![0x02, 0x40, 0x02, b'7']
        );
    }

    #[test]
    fn dates_become_epoch_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2026, 11, 23) * 86_400, 1_795_392_000);
    }

    // --- a small decoder for whole records ----------------------------------

    struct Reader<'a> {
        b: &'a [u8],
        at: usize,
    }

    #[derive(Debug, PartialEq)]
    enum Images {
        Null,
        Text(String),
        Values(Vec<Value>),
    }

    #[derive(Debug)]
    struct Decoded {
        version: i32,
        id: i64,
        source_timestamp: i64,
        source_position: String,
        safe_source_position: String,
        source_txid: String,
        source_type: i64,
        source_version: String,
        operation: i64,
        object_name: Option<String>,
        process_timestamps: Option<Vec<i64>>,
        tags: Vec<(String, String)>,
        fields: Option<Vec<(String, i32)>>,
        before: Images,
        after: Images,
        born_timestamp: i64,
    }

    impl<'a> Reader<'a> {
        fn long(&mut self) -> i64 {
            let mut n: u64 = 0;
            let mut shift = 0;
            loop {
                let byte = self.b[self.at];
                self.at += 1;
                n |= u64::from(byte & 0x7f) << shift;
                if byte & 0x80 == 0 {
                    break;
                }
                shift += 7;
            }
            ((n >> 1) as i64) ^ -((n & 1) as i64)
        }
        fn int(&mut self) -> i32 {
            i32::try_from(self.long()).unwrap()
        }
        fn bytes(&mut self) -> Vec<u8> {
            let n = usize::try_from(self.long()).unwrap();
            let out = self.b[self.at..self.at + n].to_vec();
            self.at += n;
            out
        }
        fn string(&mut self) -> String {
            String::from_utf8(self.bytes()).unwrap()
        }
        fn double(&mut self) -> f64 {
            let v = f64::from_le_bytes(self.b[self.at..self.at + 8].try_into().unwrap());
            self.at += 8;
            v
        }
        fn opt_int(&mut self) -> Option<i32> {
            match self.long() {
                0 => None,
                1 => Some(self.int()),
                b => panic!("branch {b}"),
            }
        }
        fn blocks<T>(&mut self, mut item: impl FnMut(&mut Self) -> T) -> Vec<T> {
            let mut out = Vec::new();
            loop {
                let n = self.long();
                assert!(n >= 0, "negative block counts are not written");
                if n == 0 {
                    return out;
                }
                for _ in 0..n {
                    out.push(item(self));
                }
            }
        }
        fn date_time(&mut self) -> DateTimeParts {
            DateTimeParts {
                year: self.opt_int(),
                month: self.opt_int(),
                day: self.opt_int(),
                hour: self.opt_int(),
                minute: self.opt_int(),
                second: self.opt_int(),
                millis: self.opt_int(),
            }
        }
        fn value(&mut self) -> Value {
            match self.long() {
                0 => Value::Null,
                1 => Value::Integer { precision: self.int(), value: self.string() },
                2 => Value::Character { charset: self.string(), value: self.bytes() },
                3 => Value::Decimal { value: self.string(), precision: self.int(), scale: self.int() },
                4 => Value::Float { value: self.double(), precision: self.int(), scale: self.int() },
                5 => Value::Timestamp { seconds: self.long(), micros: self.int() },
                6 => Value::DateTime(self.date_time()),
                7 => Value::TimestampWithTimeZone(self.date_time(), self.string()),
                8 => Value::BinaryGeometry { kind: self.string(), value: self.bytes() },
                9 => Value::TextGeometry { kind: self.string(), value: self.string() },
                10 => Value::BinaryObject { kind: self.string(), value: self.bytes() },
                11 => Value::TextObject { kind: self.string(), value: self.string() },
                b => panic!("item branch {b}"),
            }
        }
        fn images(&mut self) -> Images {
            match self.long() {
                0 => Images::Null,
                1 => Images::Text(self.string()),
                2 => Images::Values(self.blocks(|r| r.value())),
                b => panic!("images branch {b}"),
            }
        }
    }

    fn decode(b: &[u8]) -> Decoded {
        let mut r = Reader { b, at: 0 };
        let d = Decoded {
            version: r.int(),
            id: r.long(),
            source_timestamp: r.long(),
            source_position: r.string(),
            safe_source_position: r.string(),
            source_txid: r.string(),
            source_type: r.long(),
            source_version: r.string(),
            operation: r.long(),
            object_name: match r.long() {
                0 => None,
                _ => Some(r.string()),
            },
            process_timestamps: match r.long() {
                0 => None,
                _ => Some(r.blocks(|r| r.long())),
            },
            tags: r.blocks(|r| (r.string(), r.string())),
            fields: match r.long() {
                0 => None,
                2 => Some(r.blocks(|r| (r.string(), r.int()))),
                b => panic!("fields branch {b}"),
            },
            before: r.images(),
            after: r.images(),
            born_timestamp: r.long(),
        };
        assert_eq!(r.at, b.len(), "trailing bytes");
        d
    }

    // --- sample records (also written for the Python check) -----------------

    fn col(name: &str, ty: &str) -> ColumnDef {
        ColumnDef { name: name.into(), source_type: ty.into(), nullable: true }
    }

    fn mysql_schema() -> TableSchema {
        TableSchema {
            id: TableId::new("shop", "items"),
            columns: vec![
                col("id", "int(10) unsigned"),
                col("tiny", "tinyint(4)"),
                col("big", "bigint(20)"),
                col("name", "varchar(20)"),
                col("price", "decimal(10,2)"),
                col("ratio", "float"),
                col("score", "double"),
                col("born", "date"),
                col("seen", "datetime(6)"),
                col("stamp", "timestamp(3)"),
                col("dur", "time"),
                col("yr", "year(4)"),
                col("doc", "json"),
                col("raw", "blob"),
                col("flags", "bit(12)"),
                col("shape", "geometry"),
                col("color", "enum('red','green')"),
                col("note", "text"),
            ],
            key: vec![0],
        }
    }

    fn mysql_row(name: &[u8], price: &str) -> Vec<Cell> {
        vec![
            Cell::UInt(4_000_000_000),
            Cell::Int(-128),
            Cell::Int(i64::MIN),
            Cell::Bytes(name.to_vec()),
            Cell::Bytes(price.as_bytes().to_vec()),
            Cell::Float(0.1),
            Cell::Double(-2.5e300),
            Cell::Date { year: 2026, month: 11, day: 23, hour: 0, minute: 0, second: 0, micros: 0 },
            Cell::Date { year: 2026, month: 11, day: 23, hour: 13, minute: 14, second: 15, micros: 123_456 },
            Cell::Date { year: 2026, month: 11, day: 23, hour: 0, minute: 0, second: 1, micros: 500_000 },
            Cell::Time { negative: true, days: 1, hours: 2, minutes: 3, seconds: 4, micros: 0 },
            Cell::Int(2026),
            Cell::Bytes(br#"{"a": [1, 2]}"#.to_vec()),
            Cell::Bytes(vec![0x00, 0xff, 0x10]),
            Cell::Bytes(vec![0x0a, 0xbc]),
            Cell::Bytes(vec![0, 0, 0, 0, 1, 1, 0, 0, 0]),
            Cell::Bytes(b"green".to_vec()),
            Cell::Null,
        ]
    }

    fn mysql_change(op: RowOp) -> RowChange {
        let columns = mysql_schema().columns.iter().map(|c| c.name.clone()).collect();
        let before = Some(mysql_row("älter".as_bytes(), "9.99"));
        let after = Some(mysql_row(b"new", "-12345678.90"));
        let (before, after) = match op {
            RowOp::Insert => (None, after),
            RowOp::Update => (before, after),
            RowOp::Delete => (before, None),
        };
        RowChange { table: TableId::new("shop", "items"), op, columns, before, after }
    }

    fn pg_schema() -> TableSchema {
        TableSchema {
            id: TableId::new("public", "events"),
            columns: vec![
                col("id", "bigint"),
                col("ok", "boolean"),
                col("title", "character varying(40)"),
                col("amount", "numeric"),
                col("at", "timestamp(3) with time zone"),
                col("local", "timestamp without time zone"),
                col("payload", "jsonb"),
                col("blob", "bytea"),
            ],
            key: vec![0],
        }
    }

    fn pg_change() -> RowChange {
        RowChange {
            table: TableId::new("public", "events"),
            op: RowOp::Insert,
            columns: pg_schema().columns.iter().map(|c| c.name.clone()).collect(),
            before: None,
            after: Some(vec![
                Cell::Int(42),
                Cell::Int(1),
                Cell::Bytes(b"hello".to_vec()),
                Cell::Bytes(b"-0.0500".to_vec()),
                Cell::Date { year: 2026, month: 1, day: 2, hour: 3, minute: 4, second: 5, micros: 6_000 },
                Cell::Date { year: 1999, month: 12, day: 31, hour: 23, minute: 59, second: 59, micros: 0 },
                Cell::Bytes(br#"{"k": "v"}"#.to_vec()),
                Cell::Bytes(vec![0xde, 0xad]),
            ]),
        }
    }

    fn ddl() -> DdlChange {
        DdlChange {
            schema: "shop".into(),
            statement: "ALTER TABLE items ADD COLUMN extra INT".into(),
            kind: DdlKind::AlterTable,
            tables: vec![TableId::new("shop", "items")],
        }
    }

    const COMMIT: i64 = 1_795_437_255;
    const NOW: i64 = 1_795_437_255_321;

    fn samples() -> Vec<(&'static str, Vec<u8>)> {
        let s = mysql_schema();
        let pos = "mysql-bin.000003:1234";
        vec![
            ("insert", row_record(&mysql_change(RowOp::Insert), Some(&s), SourceKind::MySql, 10, pos, COMMIT, NOW)),
            ("update", row_record(&mysql_change(RowOp::Update), Some(&s), SourceKind::MySql, 11, pos, COMMIT, NOW)),
            ("delete", row_record(&mysql_change(RowOp::Delete), Some(&s), SourceKind::MySql, 12, pos, COMMIT, NOW)),
            ("ddl", ddl_record(&ddl(), SourceKind::MySql, 13, "mysql-bin.000003:2000", COMMIT, NOW)),
            ("pg_insert", row_record(&pg_change(), Some(&pg_schema()), SourceKind::PostgreSql, 14, "0/16B3748", COMMIT, NOW)),
        ]
    }

    fn expected_mysql_after() -> Vec<Value> {
        let ch = |s: &[u8]| Value::Character { charset: "utf8mb4".into(), value: s.to_vec() };
        vec![
            Value::Integer { precision: 32, value: "4000000000".into() },
            Value::Integer { precision: 8, value: "-128".into() },
            Value::Integer { precision: 64, value: i64::MIN.to_string() },
            ch(b"new"),
            Value::Decimal { value: "-12345678.90".into(), precision: 10, scale: 2 },
            Value::Float { value: 0.1, precision: 12, scale: 0 },
            Value::Float { value: -2.5e300, precision: 22, scale: 0 },
            Value::DateTime(DateTimeParts { year: Some(2026), month: Some(11), day: Some(23), ..Default::default() }),
            Value::DateTime(DateTimeParts {
                year: Some(2026),
                month: Some(11),
                day: Some(23),
                hour: Some(13),
                minute: Some(14),
                second: Some(15),
                millis: Some(123_456),
            }),
            Value::Timestamp { seconds: 1_795_392_001, micros: 500_000 },
            Value::DateTime(DateTimeParts { hour: Some(-26), minute: Some(-3), second: Some(-4), millis: Some(0), ..Default::default() }),
            Value::DateTime(DateTimeParts { year: Some(2026), ..Default::default() }),
            Value::TextObject { kind: "JSON".into(), value: r#"{"a": [1, 2]}"#.into() },
            Value::BinaryObject { kind: "BLOB".into(), value: vec![0x00, 0xff, 0x10] },
            Value::BinaryObject { kind: "BIT".into(), value: vec![0x0a, 0xbc] },
            Value::BinaryGeometry { kind: "GEOMETRY".into(), value: vec![0, 0, 0, 0, 1, 1, 0, 0, 0] },
            Value::TextObject { kind: "ENUM".into(), value: "green".into() },
            Value::Null,
        ]
    }

    #[test]
    fn an_update_decodes_back_field_by_field() {
        let d = decode(&samples()[1].1);
        assert_eq!((d.version, d.id, d.source_timestamp, d.born_timestamp), (1, 11, COMMIT, COMMIT * 1000));
        assert_eq!((d.source_position.as_str(), d.safe_source_position.as_str(), d.source_txid.as_str()), ("mysql-bin.000003:1234", "mysql-bin.000003:1234", ""));
        assert_eq!((d.source_type, d.source_version.as_str(), d.operation), (0, "", operation::UPDATE));
        assert_eq!(d.object_name.as_deref(), Some("shop.items"));
        assert_eq!(d.process_timestamps, Some(vec![NOW]));
        assert_eq!(d.tags, vec![("pk_uk_info".to_string(), r#"{"PRIMARY":["id"]}"#.to_string())]);
        let numbers: Vec<i32> = d.fields.unwrap().into_iter().map(|(_, n)| n).collect();
        assert_eq!(numbers, vec![3, 1, 8, 15, 246, 4, 5, 10, 12, 7, 11, 13, 245, 252, 16, 255, 247, 252]);
        assert_eq!(d.after, Images::Values(expected_mysql_after()));
        let Images::Values(before) = d.before else { panic!("no before image") };
        assert_eq!(before[3], Value::Character { charset: "utf8mb4".into(), value: "älter".as_bytes().to_vec() });
        assert_eq!(before[4], Value::Decimal { value: "9.99".into(), precision: 10, scale: 2 });
    }

    #[test]
    fn inserts_and_deletes_carry_one_image() {
        let s = samples();
        let ins = decode(&s[0].1);
        assert_eq!((ins.operation, ins.before), (operation::INSERT, Images::Null));
        assert_eq!(ins.after, Images::Values(expected_mysql_after()));
        let del = decode(&s[2].1);
        assert_eq!((del.operation, del.after), (operation::DELETE, Images::Null));
        assert!(matches!(del.before, Images::Values(ref v) if v.len() == 18));
    }

    #[test]
    fn a_ddl_carries_its_statement_as_the_after_image() {
        let d = decode(&samples()[3].1);
        assert_eq!((d.operation, d.id), (operation::DDL, 13));
        assert_eq!(d.object_name.as_deref(), Some("shop.items"));
        assert_eq!(d.fields, None);
        assert_eq!(d.before, Images::Null);
        assert_eq!(d.after, Images::Text("ALTER TABLE items ADD COLUMN extra INT".into()));
        assert!(d.tags.is_empty());
    }

    #[test]
    fn postgresql_types_and_oids() {
        let d = decode(&samples()[4].1);
        assert_eq!((d.source_type, d.source_position.as_str()), (3, "0/16B3748"));
        assert_eq!(d.object_name.as_deref(), Some("public.events"));
        let numbers: Vec<i32> = d.fields.unwrap().into_iter().map(|(_, n)| n).collect();
        assert_eq!(numbers, vec![20, 16, 1043, 1700, 1184, 1114, 3802, 17]);
        let at = DateTimeParts { year: Some(2026), month: Some(1), day: Some(2), hour: Some(3), minute: Some(4), second: Some(5), millis: Some(6_000) };
        let local = DateTimeParts { year: Some(1999), month: Some(12), day: Some(31), hour: Some(23), minute: Some(59), second: Some(59), millis: Some(0) };
        assert_eq!(
            d.after,
            Images::Values(vec![
                Value::Integer { precision: 64, value: "42".into() },
                Value::Integer { precision: 1, value: "1".into() },
                Value::Character { charset: "UTF8".into(), value: b"hello".to_vec() },
                Value::Decimal { value: "-0.0500".into(), precision: 5, scale: 4 },
                Value::TimestampWithTimeZone(at, "+00:00".into()),
                Value::DateTime(local),
                Value::TextObject { kind: "JSONB".into(), value: r#"{"k": "v"}"#.into() },
                Value::BinaryObject { kind: "BYTEA".into(), value: vec![0xde, 0xad] },
            ])
        );
    }

    #[test]
    fn without_a_schema_cells_type_themselves() {
        let change = RowChange {
            table: TableId::new("shop", "t"),
            op: RowOp::Insert,
            columns: ["a", "b", "c"].map(String::from).into(),
            before: None,
            after: Some(vec![Cell::Int(5), Cell::Bytes(vec![0xff]), Cell::Null]),
        };
        let d = decode(&row_record(&change, None, SourceKind::MySql, 1, "p", 2, 3));
        assert_eq!(d.fields, Some(vec![("a".into(), 8), ("b".into(), 252), ("c".into(), 253)]));
        assert!(d.tags.is_empty());
        assert_eq!(
            d.after,
            Images::Values(vec![
                Value::Integer { precision: 64, value: "5".into() },
                Value::BinaryObject { kind: "BINARY".into(), value: vec![0xff] },
                Value::Null,
            ])
        );
    }

    #[test]
    fn type_details() {
        assert_eq!(mysql_kind("varchar(10) CHARACTER SET latin1").0, Kind::Character("latin1".into()));
        assert_eq!(mysql_kind("decimal(65,30)").0, Kind::Decimal { precision: Some(65), scale: Some(30) });
        assert_eq!(mysql_kind("float(7,3)").0, Kind::Float { precision: 7, scale: 3 });
        assert_eq!(postgres_kind("numeric(12,3)").0, Kind::Decimal { precision: Some(12), scale: Some(3) });
        assert_eq!(postgres_kind("integer[]"), (Kind::TextObject("ARRAY".into()), 0));
        assert_eq!(raw(&Cell::UInt(0x0abc)), vec![0x0a, 0xbc]);
        assert_eq!(raw(&Cell::UInt(0)), vec![0x00]);
        let zero = Cell::Date { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0, micros: 0 };
        let c = Column::new("z", Some("timestamp"), SourceKind::MySql, None);
        assert_eq!(c.value(&zero), Value::Timestamp { seconds: 0, micros: 0 });
    }

    /// Writes the sample records for `tests/py/test_dts_avro.py` into
    /// `$DTS_AVRO_SAMPLES_DIR` (skipped when unset).
    #[test]
    fn write_samples_for_the_python_check() {
        let Some(dir) = std::env::var_os("DTS_AVRO_SAMPLES_DIR") else { return };
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in samples() {
            std::fs::write(dir.join(format!("{name}.avro")), bytes).unwrap();
        }
    }
}
