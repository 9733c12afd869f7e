//! OpenDTS cells as PostgreSQL text: the input the destination column's type
//! parses (`COPY ... FROM STDIN` text format, or a text parameter).
//!
//! PostgreSQL parses text input with the destination column's own input
//! function, so most cells need no knowledge of the destination type:
//! integers print as integers (`1`/`0` are valid `boolean` input), floats with
//! the shortest text that reads back as the same value, DECIMAL as its decimal
//! text, temporal values field by field (`timestamptz` reads them as UTC on a
//! session with `TIME ZONE 'UTC'`, see [`crate::session`]). Only bytes depend
//! on the destination: `bytea` takes them as hex, `bit` as a string of bits,
//! everything else as UTF-8 text. A value PostgreSQL cannot hold (a zero date,
//! bytes that are not UTF-8 for a text column, a NUL character) is an error
//! naming the value, never a silent change.

use opendts_core::row::Cell;

/// How the bytes of a [`Cell::Bytes`] are written for a destination type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// Any type read from its text form: the bytes must be UTF-8.
    Text,
    /// `bytea`: `\x` and hex digits.
    Bytea,
    /// `bit(n)`: the bytes (big-endian) as `0`/`1`, the rightmost `n` bits
    /// when `n` is known — or the bit string itself (see [`bit_text`]).
    Bit(Option<u32>),
    /// `bit varying(n)`: as [`TextKind::Bit`].
    VarBit(Option<u32>),
}

impl TextKind {
    /// The kind for a destination type as `format_type` prints it
    /// (`bytea`, `bit(10)`, `bit varying(64)`, `text`, ...).
    pub fn of(pg_type: &str) -> TextKind {
        let t = pg_type.trim().to_ascii_lowercase();
        if t == "bytea" {
            return TextKind::Bytea;
        }
        let n = || t.split_once('(').and_then(|(_, r)| r.trim_end_matches(')').trim().parse().ok());
        if t.starts_with("bit varying") || t.starts_with("varbit") {
            return TextKind::VarBit(n());
        }
        if t == "bit" || t.starts_with("bit(") {
            // `bit` without a length is bit(1).
            return TextKind::Bit(if t == "bit" { Some(1) } else { n() });
        }
        TextKind::Text
    }
}

/// A value that cannot be written to PostgreSQL as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CellError(pub String);

/// The text form of `cell` for a column of kind `kind`; `None` for NULL.
/// [`to_text`] taking the cell: text already in a text column's form keeps
/// its buffer instead of being copied.
pub fn into_text(cell: Cell, kind: TextKind) -> Result<Option<String>, CellError> {
    match cell {
        Cell::Bytes(b) if kind == TextKind::Text => match String::from_utf8(b) {
            Ok(s) if !s.contains('\0') => Ok(Some(s)),
            Ok(s) => to_text(&Cell::Bytes(s.into_bytes()), kind),
            Err(e) => to_text(&Cell::Bytes(e.into_bytes()), kind),
        },
        other => to_text(&other, kind),
    }
}

pub fn to_text(cell: &Cell, kind: TextKind) -> Result<Option<String>, CellError> {
    Ok(Some(match cell {
        Cell::Null => return Ok(None),
        Cell::Int(i) => i.to_string(),
        Cell::UInt(u) => u.to_string(),
        Cell::Float(f) => float_text(*f as f64, f.is_finite().then(|| short_float(*f))),
        Cell::Double(d) => float_text(*d, d.is_finite().then(|| short_double(*d))),
        Cell::Bytes(b) => bytes_text(b, kind)?,
        Cell::Date { year, month, day, hour, minute, second, micros } => {
            if *year == 0 || *month == 0 || *day == 0 {
                return Err(CellError(format!(
                    "the date {year:04}-{month:02}-{day:02} has a zero year, month or day, which PostgreSQL cannot store"
                )));
            }
            let mut s = format!("{year:04}-{month:02}-{day:02}");
            if *hour != 0 || *minute != 0 || *second != 0 || *micros != 0 {
                s.push_str(&format!(" {hour:02}:{minute:02}:{second:02}"));
                push_micros(&mut s, *micros);
            }
            s
        }
        Cell::Time { negative, days, hours, minutes, seconds, micros } => {
            let total_hours = u64::from(*days) * 24 + u64::from(*hours);
            let mut s = format!("{}{total_hours:02}:{minutes:02}:{seconds:02}", if *negative { "-" } else { "" });
            push_micros(&mut s, *micros);
            s
        }
    }))
}

fn push_micros(s: &mut String, micros: u32) {
    if micros != 0 {
        let digits = format!("{micros:06}");
        s.push('.');
        s.push_str(digits.trim_end_matches('0'));
    }
}

/// Non-finite values in PostgreSQL's spelling, finite ones as given.
fn float_text(v: f64, finite: Option<String>) -> String {
    match finite {
        Some(s) => s,
        None if v.is_nan() => "NaN".into(),
        None if v > 0.0 => "Infinity".into(),
        None => "-Infinity".into(),
    }
}

/// Shortest round-trip text: Rust's formatting prints the fewest digits that
/// read back as the same value; exponent form keeps huge and tiny values short.
fn short_double(d: f64) -> String {
    let a = d.abs();
    if a == 0.0 || (1e-5..1e16).contains(&a) { format!("{d}") } else { format!("{d:e}") }
}

fn short_float(f: f32) -> String {
    let a = f.abs();
    if a == 0.0 || (1e-5..1e16).contains(&a) { format!("{f}") } else { format!("{f:e}") }
}

fn bytes_text(b: &[u8], kind: TextKind) -> Result<String, CellError> {
    match kind {
        TextKind::Bytea => {
            let mut s = String::with_capacity(2 + b.len() * 2);
            s.push_str("\\x");
            for byte in b {
                s.push(char::from(HEX[usize::from(byte >> 4)]));
                s.push(char::from(HEX[usize::from(byte & 15)]));
            }
            Ok(s)
        }
        TextKind::Bit(n) | TextKind::VarBit(n) if bit_text(b, kind, n) => {
            // Already the bit string (a PostgreSQL source).
            Ok(String::from_utf8_lossy(b).into_owned())
        }
        TextKind::Bit(n) | TextKind::VarBit(n) => {
            let all: String = b.iter().map(|byte| format!("{byte:08b}")).collect();
            let Some(n) = n.map(|n| n as usize).filter(|n| *n < all.len()) else {
                return Ok(if n.is_some_and(|n| n as usize > all.len()) {
                    format!("{all:0>width$}", width = n.unwrap_or(0) as usize)
                } else {
                    all
                });
            };
            let (dropped, kept) = all.split_at(all.len() - n);
            if dropped.contains('1') {
                return Err(CellError(format!("the bit value {all} does not fit in {n} bits")));
            }
            Ok(kept.to_string())
        }
        TextKind::Text => {
            let s = std::str::from_utf8(b).map_err(|e| {
                CellError(format!(
                    "the value is not valid UTF-8 (at byte {}), which a PostgreSQL text column cannot store; map the \
                     column to bytea",
                    e.valid_up_to()
                ))
            })?;
            if s.contains('\0') {
                return Err(CellError("the value contains a NUL character, which PostgreSQL text cannot store".into()));
            }
            Ok(s.to_string())
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Whether the bytes of a bit value are the bit string's text (`0101`, as a
/// PostgreSQL source reads it) rather than its bytes (MySQL's BIT, big-endian).
/// The two cannot be confused for `bit(n)`: the text has exactly `n`
/// characters, the bytes `ceil(n / 8)`, fewer for n ≥ 2, and for n = 1 the
/// byte is 0x00/0x01, never the characters `0`/`1`. A `bit varying` column
/// only takes bytes from a table the user created for a MySQL BIT column,
/// whose bytes are then read as text only if every byte is `0` or `1`.
fn bit_text(b: &[u8], kind: TextKind, n: Option<u32>) -> bool {
    let digits = !b.is_empty() && b.iter().all(|c| *c == b'0' || *c == b'1');
    match (kind, n) {
        (TextKind::Bit(_), Some(n)) => digits && b.len() == n as usize,
        _ => digits,
    }
}

/// Appends `cell` as one field of a COPY text-format row: `\N` for NULL,
/// otherwise the text with backslash, tab, newline and carriage return escaped.
pub fn write_copy_field(cell: &Cell, kind: TextKind, out: &mut Vec<u8>) -> Result<(), CellError> {
    match to_text(cell, kind)? {
        None => out.extend_from_slice(b"\\N"),
        Some(s) => {
            for &byte in s.as_bytes() {
                match byte {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    other => out.push(other),
                }
            }
        }
    }
    Ok(())
}

/// Appends one COPY text-format row (fields separated by tabs, ending in a
/// newline). On error, `out` is left as it was and the error names the column
/// position.
pub fn write_copy_row(row: &[Cell], kinds: &[TextKind], out: &mut Vec<u8>) -> Result<(), (usize, CellError)> {
    let start = out.len();
    if row.len() != kinds.len() {
        return Err((row.len().min(kinds.len()), CellError(format!("the row has {} values for {} columns", row.len(), kinds.len()))));
    }
    for (i, (cell, kind)) in row.iter().zip(kinds).enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        if let Err(e) = write_copy_field(cell, *kind, out) {
            out.truncate(start);
            return Err((i, e));
        }
    }
    out.push(b'\n');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(c: Cell) -> Option<String> {
        to_text(&c, TextKind::Text).unwrap()
    }

    #[test]
    fn kinds() {
        assert_eq!(TextKind::of("bytea"), TextKind::Bytea);
        assert_eq!(TextKind::of("bit(10)"), TextKind::Bit(Some(10)));
        assert_eq!(TextKind::of("bit"), TextKind::Bit(Some(1)));
        assert_eq!(TextKind::of("bit varying"), TextKind::VarBit(None));
        assert_eq!(TextKind::of("bit varying(64)"), TextKind::VarBit(Some(64)));
        assert_eq!(TextKind::of("character varying(3)"), TextKind::Text);
    }

    #[test]
    fn numbers() {
        assert_eq!(text(Cell::Null), None);
        assert_eq!(text(Cell::Int(i64::MIN)).unwrap(), "-9223372036854775808");
        assert_eq!(text(Cell::UInt(u64::MAX)).unwrap(), "18446744073709551615");
        assert_eq!(text(Cell::Double(0.1)).unwrap(), "0.1");
        assert_eq!(text(Cell::Double(-0.0)).unwrap(), "-0");
        assert_eq!(text(Cell::Double(1e300)).unwrap(), "1e300");
        assert_eq!(text(Cell::Double(f64::MIN_POSITIVE)).unwrap(), "2.2250738585072014e-308");
        assert_eq!(text(Cell::Double(f64::NAN)).unwrap(), "NaN");
        assert_eq!(text(Cell::Double(f64::NEG_INFINITY)).unwrap(), "-Infinity");
        assert_eq!(text(Cell::Float(0.1)).unwrap(), "0.1");
        assert_eq!(text(Cell::Float(f32::MAX)).unwrap(), "3.4028235e38");
        for d in [0.1, 1.0 / 3.0, 123_456_789.123_456_78, 5e-324, f64::MAX, 1e15 + 0.3] {
            assert_eq!(text(Cell::Double(d)).unwrap().parse::<f64>().unwrap(), d);
        }
        assert_eq!(text(Cell::Bytes(b"-12345678901234567890.000000000001".to_vec())).unwrap(), "-12345678901234567890.000000000001");
    }

    #[test]
    fn temporal() {
        let date = |year, month, day, hour, minute, second, micros| Cell::Date { year, month, day, hour, minute, second, micros };
        assert_eq!(text(date(2024, 2, 29, 0, 0, 0, 0)).unwrap(), "2024-02-29");
        assert_eq!(text(date(1, 1, 1, 23, 59, 59, 500)).unwrap(), "0001-01-01 23:59:59.0005");
        assert!(to_text(&date(0, 0, 0, 0, 0, 0, 0), TextKind::Text).unwrap_err().0.contains("zero"));
        assert!(to_text(&date(2024, 0, 1, 0, 0, 0, 0), TextKind::Text).is_err());
        let time = Cell::Time { negative: true, days: 34, hours: 22, minutes: 59, seconds: 58, micros: 120_000 };
        assert_eq!(text(time).unwrap(), "-838:59:58.12");
        let time = Cell::Time { negative: false, days: 0, hours: 1, minutes: 2, seconds: 3, micros: 0 };
        assert_eq!(text(time).unwrap(), "01:02:03");
    }

    #[test]
    fn bit_strings_pass_as_they_are() {
        let bits = |s: &str| Cell::Bytes(s.as_bytes().to_vec());
        // A PostgreSQL source's bit text, into bit(n) and bit varying(n).
        assert_eq!(to_text(&bits("101010"), TextKind::Bit(Some(6))).unwrap().unwrap(), "101010");
        assert_eq!(to_text(&bits("0010"), TextKind::VarBit(Some(8))).unwrap().unwrap(), "0010");
        assert_eq!(to_text(&bits("1"), TextKind::Bit(Some(1))).unwrap().unwrap(), "1");
        // MySQL's BIT bytes: never mistaken for text.
        assert_eq!(to_text(&Cell::Bytes(vec![0x01]), TextKind::Bit(Some(1))).unwrap().unwrap(), "1");
        assert_eq!(to_text(&Cell::Bytes(vec![0x30, 0x31]), TextKind::Bit(Some(16))).unwrap().unwrap(), "0011000000110001");
        assert_eq!(to_text(&Cell::Bytes(vec![0x05]), TextKind::Bit(Some(5))).unwrap().unwrap(), "00101");
    }

    #[test]
    fn bytes_by_kind() {
        let b = Cell::Bytes(vec![0x00, 0xff, 0x5c]);
        assert_eq!(to_text(&b, TextKind::Bytea).unwrap().unwrap(), "\\x00ff5c");
        assert!(to_text(&b, TextKind::Text).unwrap_err().0.contains("UTF-8"));
        assert!(to_text(&Cell::Bytes(b"a\0b".to_vec()), TextKind::Text).is_err());
        let bits = Cell::Bytes(vec![0x02, 0x05]);
        assert_eq!(to_text(&bits, TextKind::Bit(Some(10))).unwrap().unwrap(), "1000000101");
        assert_eq!(to_text(&bits, TextKind::Bit(None)).unwrap().unwrap(), "0000001000000101");
        assert_eq!(to_text(&Cell::Bytes(vec![1]), TextKind::Bit(Some(12))).unwrap().unwrap(), "000000000001");
        assert!(to_text(&Cell::Bytes(vec![0xff]), TextKind::Bit(Some(4))).is_err());
    }

    #[test]
    fn copy_escaping() {
        let mut out = Vec::new();
        let row = vec![Cell::Int(1), Cell::Null, Cell::Bytes(b"a\tb\nc\\d\re".to_vec()), Cell::Bytes(vec![0x5c])];
        write_copy_row(&row, &[TextKind::Text, TextKind::Text, TextKind::Text, TextKind::Bytea], &mut out).unwrap();
        assert_eq!(out, b"1\t\\N\ta\\tb\\nc\\\\d\\re\t\\\\x5c\n");
        let bad = vec![Cell::Int(2), Cell::Bytes(vec![0xff])];
        let (pos, _) = write_copy_row(&bad, &[TextKind::Text, TextKind::Text], &mut out).unwrap_err();
        assert_eq!(pos, 1);
        assert_eq!(out, b"1\t\\N\ta\\tb\\nc\\\\d\\re\t\\\\x5c\n", "a failed row leaves nothing behind");
    }
}
