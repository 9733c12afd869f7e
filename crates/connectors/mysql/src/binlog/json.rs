//! MySQL's binary JSON (the storage format of the JSON type, carried as is in
//! MySQL row events) to JSON text in the style `SELECT` prints it:
//! `{"a": 1, "b": [true, null]}`.
//!
//! Format: a type byte, then the value. Objects and arrays hold a count and a
//! size (2 bytes each in the small form, 4 in the large one), then for objects
//! one (offset, length) entry per key, then one (type, offset-or-inline value)
//! entry per value; offsets count from the start of the container. Scalars:
//! int16/uint16 (and int32/uint32 in large containers) and literals are
//! inlined in the value entry; strings carry a 7-bit variable-length size;
//! "opaque" values carry a MySQL field type and raw bytes (DECIMAL, temporal
//! values, binary strings).

use super::bytes::{DResult, DecodeError, Reader};
use super::value;
use opendts_core::row::Cell;

const SMALL_OBJECT: u8 = 0x00;
const LARGE_OBJECT: u8 = 0x01;
const SMALL_ARRAY: u8 = 0x02;
const LARGE_ARRAY: u8 = 0x03;
const LITERAL: u8 = 0x04;
const INT16: u8 = 0x05;
const UINT16: u8 = 0x06;
const INT32: u8 = 0x07;
const UINT32: u8 = 0x08;
const INT64: u8 = 0x09;
const UINT64: u8 = 0x0A;
const DOUBLE: u8 = 0x0B;
const STRING: u8 = 0x0C;
const OPAQUE: u8 = 0x0F;

/// Deeper documents than MySQL allows (100) are refused rather than recursed into.
const MAX_DEPTH: usize = 150;

/// Appends the JSON text of a binary JSON document. An empty document (which
/// MySQL writes for a JSON NULL literal in some paths) is `null`.
pub fn to_text(doc: &[u8], out: &mut Vec<u8>) -> DResult<()> {
    if doc.is_empty() {
        out.extend_from_slice(b"null");
        return Ok(());
    }
    value(doc[0], &doc[1..], out, 0)
}

fn err(msg: impl Into<String>) -> DecodeError {
    DecodeError(format!("binary JSON: {}", msg.into()))
}

fn slice(data: &[u8], at: usize, len: usize) -> DResult<&[u8]> {
    data.get(at..at.checked_add(len).ok_or_else(|| err("offset overflow"))?)
        .ok_or_else(|| err(format!("{len} bytes at offset {at} exceed the {}-byte value", data.len())))
}

fn value(ty: u8, data: &[u8], out: &mut Vec<u8>, depth: usize) -> DResult<()> {
    if depth > MAX_DEPTH {
        return Err(err("nesting too deep"));
    }
    match ty {
        SMALL_OBJECT | LARGE_OBJECT => container(data, ty == LARGE_OBJECT, true, out, depth),
        SMALL_ARRAY | LARGE_ARRAY => container(data, ty == LARGE_ARRAY, false, out, depth),
        LITERAL => literal(*data.first().ok_or_else(|| err("empty literal"))?, out),
        INT16 => push_int(out, i64::from(i16::from_le_bytes(fixed(data)?))),
        UINT16 => push_uint(out, u64::from(u16::from_le_bytes(fixed(data)?))),
        INT32 => push_int(out, i64::from(i32::from_le_bytes(fixed(data)?))),
        UINT32 => push_uint(out, u64::from(u32::from_le_bytes(fixed(data)?))),
        INT64 => push_int(out, i64::from_le_bytes(fixed(data)?)),
        UINT64 => push_uint(out, u64::from_le_bytes(fixed(data)?)),
        DOUBLE => push_double(out, f64::from_le_bytes(fixed(data)?)),
        STRING => {
            let mut r = Reader::new(data);
            let len = var_len(&mut r)?;
            let s = r.take(len).map_err(|e| err(e.0))?;
            push_string(out, s);
            Ok(())
        }
        OPAQUE => {
            let mut r = Reader::new(data);
            let field_type = r.u8().map_err(|e| err(e.0))?;
            let len = var_len(&mut r)?;
            let raw = r.take(len).map_err(|e| err(e.0))?;
            opaque(field_type, raw, out)
        }
        t => Err(err(format!("unknown value type 0x{t:02X}"))),
    }
}

fn fixed<const N: usize>(data: &[u8]) -> DResult<[u8; N]> {
    data.get(..N).and_then(|s| s.try_into().ok()).ok_or_else(|| err(format!("{N}-byte scalar truncated")))
}

fn literal(v: u8, out: &mut Vec<u8>) -> DResult<()> {
    out.extend_from_slice(match v {
        0 => b"null".as_slice(),
        1 => b"true",
        2 => b"false",
        _ => return Err(err(format!("unknown literal {v}"))),
    });
    Ok(())
}

/// The 7-bits-per-byte length of strings and opaque values (at most 5 bytes).
fn var_len(r: &mut Reader<'_>) -> DResult<usize> {
    let mut len: u64 = 0;
    for i in 0..5 {
        let b = r.u8().map_err(|e| err(e.0))?;
        len |= u64::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return usize::try_from(len).map_err(|_| err("length overflow"));
        }
    }
    Err(err("variable length longer than 5 bytes"))
}

fn container(data: &[u8], large: bool, object: bool, out: &mut Vec<u8>, depth: usize) -> DResult<()> {
    let w = if large { 4 } else { 2 };
    let read = |at: usize, n: usize| -> DResult<usize> { Ok(super::bytes::le(slice(data, at, n)?) as usize) };
    let count = read(0, w)?;
    let size = read(w, w)?;
    if size > data.len() {
        return Err(err(format!("container size {size} exceeds the {} bytes available", data.len())));
    }
    let data = &data[..size];
    let header = 2 * w;
    let key_entry = w + 2;
    let value_entry = 1 + w;
    let values_at = header + if object { count * key_entry } else { 0 };
    if values_at.saturating_add(count.saturating_mul(value_entry)) > size {
        return Err(err(format!("{count} entries do not fit in {size} bytes")));
    }
    out.push(if object { b'{' } else { b'[' });
    for i in 0..count {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        if object {
            let e = header + i * key_entry;
            let key_off = read(e, w)?;
            let key_len = read(e + w, 2)?;
            push_string(out, slice(data, key_off, key_len)?);
            out.extend_from_slice(b": ");
        }
        let e = values_at + i * value_entry;
        let ty = data[e];
        let inline = matches!(ty, LITERAL | INT16 | UINT16) || (large && matches!(ty, INT32 | UINT32));
        if inline {
            value(ty, slice(data, e + 1, w)?, out, depth + 1)?;
        } else {
            let off = read(e + 1, w)?;
            if off >= size {
                return Err(err(format!("value offset {off} outside the {size}-byte container")));
            }
            value(ty, &data[off..], out, depth + 1)?;
        }
    }
    out.push(if object { b'}' } else { b']' });
    Ok(())
}

fn push_int(out: &mut Vec<u8>, v: i64) -> DResult<()> {
    out.extend_from_slice(v.to_string().as_bytes());
    Ok(())
}

fn push_uint(out: &mut Vec<u8>, v: u64) -> DResult<()> {
    out.extend_from_slice(v.to_string().as_bytes());
    Ok(())
}

/// Doubles in their shortest round-trip form, always with a '.' or an exponent
/// so they read back as doubles (MySQL prints `3.0`, `1e100`, `0.1`).
fn push_double(out: &mut Vec<u8>, v: f64) -> DResult<()> {
    if !v.is_finite() {
        return Err(err("non-finite double"));
    }
    out.extend_from_slice(format!("{v:?}").as_bytes());
    Ok(())
}

/// A JSON string literal: `"` and `\` escaped, control characters as \b \f \n
/// \r \t or \u00XX, everything else (UTF-8 included) as is.
fn push_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0C => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1F => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 15)]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// Opaque scalars: DECIMAL as a number; DATE, DATETIME, TIMESTAMP and TIME as
/// quoted strings with six fraction digits (as MySQL prints them inside JSON);
/// anything else as MySQL's `"base64:typeN:..."`.
fn opaque(field_type: u8, raw: &[u8], out: &mut Vec<u8>) -> DResult<()> {
    match field_type {
        // NEWDECIMAL: precision, scale, then the binary decimal.
        246 => {
            if raw.len() < 2 {
                return Err(err("opaque DECIMAL truncated"));
            }
            value::decode_decimal(&raw[2..], raw[0], raw[1], out).map_err(|e| err(e.0))
        }
        // DATE, DATETIME, TIMESTAMP (and their '2' forms), TIME, TIME2: a packed i64.
        7 | 10 | 12 | 14 | 17 | 18 | 11 | 19 => {
            let packed = i64::from_le_bytes(fixed(raw)?);
            out.push(b'"');
            if matches!(field_type, 11 | 19) {
                if let Cell::Time { negative, days, hours, minutes, seconds, micros } = value::time_packed(packed) {
                    let h = days * 24 + u32::from(hours);
                    let sign = if negative { "-" } else { "" };
                    out.extend_from_slice(format!("{sign}{h:02}:{minutes:02}:{seconds:02}.{micros:06}").as_bytes());
                }
            } else {
                let int_part = (packed.unsigned_abs() >> 24) as u64;
                let micros = (packed.unsigned_abs() & 0xFF_FFFF) as u32;
                if let Cell::Date { year, month, day, hour, minute, second, micros } =
                    value::datetime2(int_part, micros)
                {
                    if matches!(field_type, 10 | 14) {
                        out.extend_from_slice(format!("{year:04}-{month:02}-{day:02}").as_bytes());
                    } else {
                        out.extend_from_slice(
                            format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}.{micros:06}")
                                .as_bytes(),
                        );
                    }
                }
            }
            out.push(b'"');
            Ok(())
        }
        _ => {
            out.extend_from_slice(format!("\"base64:type{field_type}:").as_bytes());
            base64(raw, out);
            out.push(b'"');
            Ok(())
        }
    }
}

fn base64(data: &[u8], out: &mut Vec<u8>) {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(doc: &[u8]) -> String {
        let mut out = Vec::new();
        to_text(doc, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn scalars() {
        assert_eq!(text(&[]), "null");
        assert_eq!(text(&[LITERAL, 1]), "true");
        assert_eq!(text(&[INT16, 0xFE, 0xFF]), "-2");
        assert_eq!(text(&[UINT64, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]), "18446744073709551615");
        let mut d = vec![DOUBLE];
        d.extend_from_slice(&3.0f64.to_le_bytes());
        assert_eq!(text(&d), "3.0");
        assert_eq!(text(&[STRING, 4, b'a', b'"', b'\n', 1]), r#""a\"\n\u0001""#);
        assert_eq!(text(&[STRING, 4, 0xF0, 0x9F, 0x98, 0x80]), "\"\u{1F600}\"");
    }

    #[test]
    fn containers() {
        // {"a": 1, "b": [true, "x"]} in the small format.
        // object: count=2, size, key entries (2 x 4 bytes), value entries (2 x 3 bytes), keys "a" "b", then the array.
        let mut obj: Vec<u8> = Vec::new();
        let header = 4;
        let keys_at = header + 2 * 4 + 2 * 3; // 18
        let arr_at = keys_at + 2; // 20
                                  // array: count=2, size, 2 value entries (3 bytes each), then the string "x" (len byte + 1)
        let arr: Vec<u8> = {
            let mut a = vec![2, 0, 0, 0];
            a.extend_from_slice(&[LITERAL, 1, 0]); // true inline
            a.extend_from_slice(&[STRING, 10, 0]); // string at offset 10
            a.extend_from_slice(&[1, b'x']);
            let size = a.len() as u16;
            a[2..4].copy_from_slice(&size.to_le_bytes());
            a
        };
        obj.extend_from_slice(&[2, 0, 0, 0]);
        obj.extend_from_slice(&[keys_at as u8, 0, 1, 0]);
        obj.extend_from_slice(&[keys_at as u8 + 1, 0, 1, 0]);
        obj.extend_from_slice(&[INT16, 1, 0]);
        obj.extend_from_slice(&[SMALL_ARRAY, arr_at as u8, 0]);
        obj.extend_from_slice(b"ab");
        obj.extend_from_slice(&arr);
        let size = obj.len() as u16;
        obj[2..4].copy_from_slice(&size.to_le_bytes());
        let mut doc = vec![SMALL_OBJECT];
        doc.extend_from_slice(&obj);
        assert_eq!(text(&doc), r#"{"a": 1, "b": [true, "x"]}"#);
        assert_eq!(text(&[SMALL_ARRAY, 0, 0, 4, 0]), "[]");
        // a truncated container is an error, not a panic
        assert!(to_text(&[SMALL_OBJECT, 5, 0, 200, 0], &mut Vec::new()).is_err());
        assert!(to_text(&[LARGE_ARRAY, 1, 0, 0, 0, 13, 0, 0, 0, OPAQUE, 200, 0, 0], &mut Vec::new()).is_err());
    }

    #[test]
    fn opaques() {
        // DECIMAL(4,2) 12.34
        assert_eq!(text(&[OPAQUE, 246, 4, 4, 2, 0x80 | 12, 34]), "12.34");
        // DATETIME 2020-01-02 03:04:05.000006
        let ym: u64 = 2020 * 13 + 1;
        let int_part = (((ym << 5) | 2) << 17) | (3 << 12) | (4 << 6) | 5;
        let packed = ((int_part << 24) | 6) as i64;
        let mut doc = vec![OPAQUE, 12, 8];
        doc.extend_from_slice(&packed.to_le_bytes());
        assert_eq!(text(&doc), "\"2020-01-02 03:04:05.000006\"");
        doc[1] = 10;
        assert_eq!(text(&doc), "\"2020-01-02\"");
        // TIME -01:02:03
        let packed = -(((1i64 << 12) | (2 << 6) | 3) << 24);
        let mut doc = vec![OPAQUE, 11, 8];
        doc.extend_from_slice(&packed.to_le_bytes());
        assert_eq!(text(&doc), "\"-01:02:03.000000\"");
        assert_eq!(text(&[OPAQUE, 252, 3, b'a', b'b', b'c']), "\"base64:type252:YWJj\"");
        let mut out = Vec::new();
        base64(b"ab", &mut out);
        assert_eq!(out, b"YWI=");
    }
}
