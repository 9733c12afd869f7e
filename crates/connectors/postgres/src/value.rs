//! Text values (as a type's output function prints them: pgoutput's text
//! format, simple-query results) to [`Cell`]s, by type OID. The WAL source
//! and the full-load reader share these rules, so both describe a value the
//! same way.
//!
//! The replication session pins `TimeZone=UTC`, `DateStyle=ISO`,
//! `IntervalStyle=postgres`, `extra_float_digits=3` and `bytea_output=hex`, so
//! the text is stable; timestamptz offsets are still parsed and normalised.

use opendts_core::row::Cell;

pub const BOOL: u32 = 16;
pub const BYTEA: u32 = 17;
pub const INT8: u32 = 20;
pub const INT2: u32 = 21;
pub const INT4: u32 = 23;
pub const OID: u32 = 26;
pub const FLOAT4: u32 = 700;
pub const FLOAT8: u32 = 701;
pub const DATE: u32 = 1082;
pub const TIME: u32 = 1083;
pub const TIMESTAMP: u32 = 1114;
pub const TIMESTAMPTZ: u32 = 1184;

/// The built-in type OID of a type as `format_type` prints it (`integer`,
/// `timestamp(3) with time zone`, ...); 0 for every type decoded as text
/// (including domains and arrays, which pgoutput also sends under their own OID).
pub fn type_oid(format_type: &str) -> u32 {
    let t = format_type.trim();
    // Drop a type modifier: `timestamp(3) without time zone` → `timestamp without time zone`.
    let base = match (t.find('('), t.find(')')) {
        (Some(a), Some(b)) if a < b && !t.ends_with("[]") => format!("{}{}", &t[..a], &t[b + 1..]),
        _ => t.to_string(),
    };
    match base.as_str() {
        "boolean" => BOOL,
        "bytea" => BYTEA,
        "bigint" => INT8,
        "smallint" => INT2,
        "integer" => INT4,
        "oid" => OID,
        "real" => FLOAT4,
        "double precision" => FLOAT8,
        "date" => DATE,
        "time without time zone" => TIME,
        "timestamp without time zone" => TIMESTAMP,
        "timestamp with time zone" => TIMESTAMPTZ,
        _ => 0,
    }
}

/// Decodes one text value of a column of type `oid`. Values a typed cell
/// cannot hold (`infinity`, BC dates, years past 65535, NaN never fails)
/// fall back to `Bytes` of the text, as do all types not listed.
/// [`decode`] taking the bytes: text kept as bytes keeps its buffer.
pub fn decode_owned(oid: u32, text: Vec<u8>) -> Cell {
    match decode_typed(oid, &text) {
        Some(cell) => cell,
        None => Cell::Bytes(text),
    }
}

pub fn decode(oid: u32, text: &[u8]) -> Cell {
    decode_typed(oid, text).unwrap_or_else(|| Cell::Bytes(text.to_vec()))
}

/// The typed cell of a value whose type has one; `None` for the rest
/// (kept as bytes) and for text that is not UTF-8.
fn decode_typed(oid: u32, text: &[u8]) -> Option<Cell> {
    if !matches!(oid, BOOL | INT2 | INT4 | INT8 | OID | FLOAT4 | FLOAT8 | BYTEA | DATE | TIME | TIMESTAMP | TIMESTAMPTZ) {
        return None;
    }
    let s = std::str::from_utf8(text).ok()?;
    match oid {
        BOOL => match s {
            "t" | "true" => Some(Cell::Int(1)),
            "f" | "false" => Some(Cell::Int(0)),
            _ => None,
        },
        INT2 | INT4 | INT8 => s.parse::<i64>().ok().map(Cell::Int),
        OID => s.parse::<u64>().ok().map(Cell::UInt),
        FLOAT4 => parse_float(s).map(|f| Cell::Float(f as f32)),
        FLOAT8 => parse_float(s).map(Cell::Double),
        BYTEA => s.strip_prefix("\\x").and_then(hex).map(Cell::Bytes),
        DATE => parse_date(s).map(|(year, month, day)| Cell::Date {
            year,
            month,
            day,
            hour: 0,
            minute: 0,
            second: 0,
            micros: 0,
        }),
        TIME => parse_time(s).map(|(hours, minutes, seconds, micros)| Cell::Time {
            negative: false,
            days: 0,
            hours,
            minutes,
            seconds,
            micros,
        }),
        TIMESTAMP => parse_timestamp(s, false),
        TIMESTAMPTZ => parse_timestamp(s, true),
        _ => None,
    }
}

fn parse_float(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

fn hex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    let nib = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    b.chunks(2).map(|p| Some(nib(p[0])? << 4 | nib(p[1])?)).collect()
}

/// `YYYY-MM-DD` (4+ digit year, no BC).
fn parse_date(s: &str) -> Option<(u16, u8, u8)> {
    let mut it = s.splitn(3, '-');
    let y = it.next()?;
    let m = it.next()?;
    let d = it.next()?;
    if y.is_empty() || !y.bytes().all(|c| c.is_ascii_digit()) || m.len() != 2 || d.len() != 2 {
        return None;
    }
    Some((y.parse().ok()?, m.parse().ok()?, d.parse().ok()?))
}

/// `HH:MM:SS[.ffffff]` (24:00:00 allowed).
fn parse_time(s: &str) -> Option<(u8, u8, u8, u32)> {
    let (hms, frac) = match s.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let mut it = hms.split(':');
    let h: u8 = it.next()?.parse().ok()?;
    let m: u8 = it.next()?.parse().ok()?;
    let sec: u8 = it.next()?.parse().ok()?;
    if it.next().is_some() {
        return None;
    }
    let micros = match frac {
        None => 0,
        Some(f) if !f.is_empty() && f.len() <= 6 && f.bytes().all(|c| c.is_ascii_digit()) => {
            f.parse::<u32>().ok()? * 10u32.pow(6 - f.len() as u32)
        }
        Some(_) => return None,
    };
    Some((h, m, sec, micros))
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff][(+|-)HH[:MM[:SS]]]`; with `tz` the offset is
/// required and the result is in UTC.
fn parse_timestamp(s: &str, tz: bool) -> Option<Cell> {
    let (date, rest) = s.split_once(' ')?;
    let (year, month, day) = parse_date(date)?;
    let (time, offset) = if tz {
        let at = rest.rfind(['+', '-'])?;
        let (t, off) = rest.split_at(at);
        let sign: i64 = if off.starts_with('-') { -1 } else { 1 };
        let mut secs = 0i64;
        for (i, part) in off[1..].split(':').enumerate() {
            let v: i64 = part.parse().ok()?;
            secs += v * [3600, 60, 1].get(i)?;
        }
        (t, sign * secs)
    } else {
        (rest, 0)
    };
    let (hour, minute, second, micros) = parse_time(time)?;
    let (mut year, mut month, mut day, mut hour, mut minute, mut second) =
        (year as i64, month as i64, day as i64, hour as i64, minute as i64, second as i64);
    if offset != 0 {
        // local - offset = UTC
        let days = days_from_civil(year, month, day);
        let total = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
        let d = total.div_euclid(86_400);
        let rem = total.rem_euclid(86_400);
        (year, month, day) = civil_from_days(d);
        hour = rem / 3600;
        minute = rem / 60 % 60;
        second = rem % 60;
    }
    if !(0..=65_535).contains(&year) {
        return None;
    }
    Some(Cell::Date {
        year: year as u16,
        month: month as u8,
        day: day as u8,
        hour: hour as u8,
        minute: minute as u8,
        second: second as u8,
        micros,
    })
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_map_to_oids() {
        assert_eq!(type_oid("integer"), INT4);
        assert_eq!(type_oid("timestamp(3) with time zone"), TIMESTAMPTZ);
        assert_eq!(type_oid("time(0) without time zone"), TIME);
        assert_eq!(type_oid("numeric(10,2)"), 0);
        assert_eq!(type_oid("integer[]"), 0);
        assert_eq!(type_oid("character varying(20)"), 0);
    }

    #[test]
    fn simple_query_text_decodes_like_pgoutput_text() {
        assert_eq!(decode(BOOL, b"t"), Cell::Int(1));
        assert_eq!(decode(BOOL, b"f"), Cell::Int(0));
        assert_eq!(decode(INT8, b"-9223372036854775808"), Cell::Int(i64::MIN));
        assert_eq!(decode(FLOAT8, b"0.1"), Cell::Double(0.1));
        assert_eq!(decode(BYTEA, b"\\x00ff"), Cell::Bytes(vec![0, 255]));
        assert_eq!(decode(0, b"12.50"), Cell::Bytes(b"12.50".to_vec()));
        assert_eq!(
            decode(TIMESTAMPTZ, b"2024-01-01 01:30:00.25+05:30"),
            Cell::Date { year: 2023, month: 12, day: 31, hour: 20, minute: 0, second: 0, micros: 250_000 }
        );
        assert_eq!(decode(DATE, b"infinity"), Cell::Bytes(b"infinity".to_vec()));
    }

    fn date(year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8, micros: u32) -> Cell {
        Cell::Date { year, month, day, hour, minute, second, micros }
    }

    #[test]
    fn scalars() {
        assert_eq!(decode(INT4, b"-42"), Cell::Int(-42));
        assert_eq!(decode(INT8, b"9223372036854775807"), Cell::Int(i64::MAX));
        assert_eq!(decode(BOOL, b"t"), Cell::Int(1));
        assert_eq!(decode(BOOL, b"f"), Cell::Int(0));
        assert_eq!(decode(FLOAT4, b"1.5"), Cell::Float(1.5));
        assert_eq!(decode(FLOAT8, b"-Infinity"), Cell::Double(f64::NEG_INFINITY));
        assert_eq!(decode(1700, b"12.3400"), Cell::Bytes(b"12.3400".to_vec()));
        assert_eq!(decode(BYTEA, b"\\x00ff10"), Cell::Bytes(vec![0, 255, 16]));
        assert_eq!(decode(3802, b"{\"a\": 1}"), Cell::Bytes(b"{\"a\": 1}".to_vec()));
    }

    #[test]
    fn temporal() {
        assert_eq!(decode(DATE, b"2024-02-29"), date(2024, 2, 29, 0, 0, 0, 0));
        assert_eq!(decode(DATE, b"infinity"), Cell::Bytes(b"infinity".to_vec()));
        assert_eq!(decode(DATE, b"0044-03-15 BC"), Cell::Bytes(b"0044-03-15 BC".to_vec()));
        assert_eq!(
            decode(TIME, b"23:59:59.5"),
            Cell::Time { negative: false, days: 0, hours: 23, minutes: 59, seconds: 59, micros: 500_000 }
        );
        assert_eq!(decode(TIMESTAMP, b"2024-01-02 03:04:05.000123"), date(2024, 1, 2, 3, 4, 5, 123));
        assert_eq!(decode(TIMESTAMPTZ, b"2024-01-02 03:04:05+00"), date(2024, 1, 2, 3, 4, 5, 0));
        assert_eq!(decode(TIMESTAMPTZ, b"2024-01-01 01:30:00.25+05:30"), date(2023, 12, 31, 20, 0, 0, 250_000));
        assert_eq!(decode(TIMESTAMPTZ, b"2024-12-31 23:00:00-02"), date(2025, 1, 1, 1, 0, 0, 0));
    }
}
