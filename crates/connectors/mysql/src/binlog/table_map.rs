//! TABLE_MAP events: which table a table id stands for, its column types and
//! their metadata, and (MySQL 8 / MariaDB 10.5+ with binlog_row_metadata)
//! the optional metadata: signedness, column names, ENUM/SET strings.
//!
//! Body: table_id (6 bytes; 4 on servers whose FDE gives this event a 6-byte
//! post-header), flags u16, schema (u8 length, bytes, NUL), table (u8 length,
//! bytes, NUL), column count (packed), one type byte per column, metadata
//! (packed length, then per column 0, 1 or 2 bytes by type), the NULL-able
//! bitmap, then optional metadata as (type u8, packed length, value) fields.

use super::bytes::{DResult, DecodeError, Reader};
use opendts_core::row::TableId;

pub const T_DECIMAL: u8 = 0;
pub const T_TINY: u8 = 1;
pub const T_SHORT: u8 = 2;
pub const T_LONG: u8 = 3;
pub const T_FLOAT: u8 = 4;
pub const T_DOUBLE: u8 = 5;
pub const T_NULL: u8 = 6;
pub const T_TIMESTAMP: u8 = 7;
pub const T_LONGLONG: u8 = 8;
pub const T_INT24: u8 = 9;
pub const T_DATE: u8 = 10;
pub const T_TIME: u8 = 11;
pub const T_DATETIME: u8 = 12;
pub const T_YEAR: u8 = 13;
pub const T_NEWDATE: u8 = 14;
pub const T_VARCHAR: u8 = 15;
pub const T_BIT: u8 = 16;
pub const T_TIMESTAMP2: u8 = 17;
pub const T_DATETIME2: u8 = 18;
pub const T_TIME2: u8 = 19;
pub const T_VECTOR: u8 = 242;
pub const T_JSON: u8 = 245;
pub const T_NEWDECIMAL: u8 = 246;
pub const T_ENUM: u8 = 247;
pub const T_SET: u8 = 248;
pub const T_TINY_BLOB: u8 = 249;
pub const T_MEDIUM_BLOB: u8 = 250;
pub const T_LONG_BLOB: u8 = 251;
pub const T_BLOB: u8 = 252;
pub const T_VAR_STRING: u8 = 253;
pub const T_STRING: u8 = 254;
pub const T_GEOMETRY: u8 = 255;

// Optional metadata field types.
const OM_SIGNEDNESS: u8 = 1;
const OM_DEFAULT_CHARSET: u8 = 2;
const OM_COLUMN_CHARSET: u8 = 3;
const OM_COLUMN_NAME: u8 = 4;
const OM_SET_STR_VALUE: u8 = 5;
const OM_ENUM_STR_VALUE: u8 = 6;

/// How a column's value is laid out in a row image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Null,
    Tiny,
    Short,
    Int24,
    Long,
    LongLong,
    Float,
    Double,
    Year,
    Decimal {
        precision: u8,
        scale: u8,
    },
    Date,
    Time,
    Time2 {
        fsp: u8,
    },
    DateTime,
    DateTime2 {
        fsp: u8,
    },
    Timestamp,
    Timestamp2 {
        fsp: u8,
    },
    Bit {
        len: u16,
    },
    /// VARCHAR/VARBINARY: a 1- or 2-byte length, then the bytes.
    Str {
        len_bytes: u8,
    },
    /// CHAR/BINARY(max bytes): like `Str`, with trailing spaces (CHAR) or
    /// zero bytes (BINARY) left out by the server.
    Char {
        len_bytes: u8,
        max: u16,
    },
    /// BLOB/TEXT/GEOMETRY/VECTOR: a 1..4-byte length, then the bytes.
    Blob {
        len_bytes: u8,
    },
    /// MySQL's binary JSON behind a 1..4-byte length.
    Json {
        len_bytes: u8,
    },
    Enum {
        pack: u8,
    },
    Set {
        pack: u8,
    },
}

impl Kind {
    /// Integer kinds whose signedness the optional metadata (or information_schema) gives.
    pub fn is_integer(self) -> bool {
        matches!(self, Kind::Tiny | Kind::Short | Kind::Int24 | Kind::Long | Kind::LongLong)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub kind: Kind,
    pub unsigned: bool,
    /// A BINARY(n) column: values are padded back to n bytes with 0x00, as stored and as SELECT returns them.
    pub pad: bool,
    /// ENUM or SET member strings, in definition order.
    pub values: Vec<Vec<u8>>,
}

/// What a column looks like in information_schema.COLUMNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoColumn {
    pub name: String,
    pub unsigned: bool,
    /// COLUMN_TYPE is `binary(n)`.
    pub binary_fixed: bool,
    pub values: Option<Vec<Vec<u8>>>,
}

/// A decoded TABLE_MAP, kept per table id while row events refer to it.
#[derive(Debug, Clone, PartialEq)]
pub struct TableMap {
    pub table_id: u64,
    pub table: TableId,
    pub columns: Vec<Column>,
    /// Shared with every row change decoded through this map.
    pub names: std::sync::Arc<[String]>,
    /// The event body, to recognise an identical TABLE_MAP without decoding it again.
    pub raw: Vec<u8>,
    has_names: bool,
    has_signedness: bool,
    has_enum_set_values: bool,
    has_charsets: bool,
}

impl TableMap {
    /// True when information_schema must fill in what the optional metadata lacked.
    pub fn needs_info(&self) -> bool {
        !self.has_names
            || (!self.has_signedness && self.columns.iter().any(|c| c.kind.is_integer()))
            || (!self.has_enum_set_values
                && self.columns.iter().any(|c| matches!(c.kind, Kind::Enum { .. } | Kind::Set { .. })))
            || (!self.has_charsets && self.columns.iter().any(|c| matches!(c.kind, Kind::Char { .. })))
    }

    /// Fills names, signedness and ENUM/SET strings from information_schema.
    pub fn apply_info(&mut self, info: &[InfoColumn]) -> Result<(), String> {
        if info.len() != self.columns.len() {
            return Err(format!(
                "table {} has {} columns in information_schema but {} in the binlog: its definition changed \
                 after these events were written, so the columns cannot be matched (set binlog_row_metadata=FULL \
                 on the source, or start from a position after the change)",
                self.table,
                info.len(),
                self.columns.len()
            ));
        }
        if !self.has_names {
            self.names = info.iter().map(|ic| ic.name.clone()).collect();
        }
        for (col, ic) in self.columns.iter_mut().zip(info) {
            if !self.has_signedness {
                col.unsigned = ic.unsigned;
            }
            if !self.has_charsets {
                col.pad = ic.binary_fixed && matches!(col.kind, Kind::Char { .. });
            }
            if !self.has_enum_set_values && matches!(col.kind, Kind::Enum { .. } | Kind::Set { .. }) {
                match &ic.values {
                    Some(v) => col.values = v.clone(),
                    None => {
                        return Err(format!(
                            "column {} of {} is ENUM/SET in the binlog but not in information_schema: \
                             the table changed after these events were written",
                            ic.name, self.table
                        ))
                    }
                }
            }
        }
        self.has_names = true;
        self.has_signedness = true;
        self.has_enum_set_values = true;
        self.has_charsets = true;
        Ok(())
    }
}

/// Width of table ids given the event's post-header length (6 → 4-byte ids).
pub fn table_id_len(post_header_len: u8) -> usize {
    if post_header_len == 6 {
        4
    } else {
        6
    }
}

/// `mariadb`: the source is MariaDB, which lists GEOMETRY columns among the
/// character columns of the charset fields (MySQL does not).
pub fn parse(body: &[u8], id_len: usize, mariadb: bool) -> DResult<TableMap> {
    let mut r = Reader::new(body);
    let table_id = r.uint_le(id_len)?;
    let _flags = r.u16_le()?;
    let schema_len = usize::from(r.u8()?);
    let schema = r.take(schema_len)?;
    r.skip(1)?;
    let table_len = usize::from(r.u8()?);
    let table = r.take(table_len)?;
    r.skip(1)?;
    let n = r.packed_len()?;
    let types = r.take(n)?;
    let meta_len = r.packed_len()?;
    let mut meta = Reader::new(r.take(meta_len)?);
    let mut columns = Vec::with_capacity(n);
    for &ty in types {
        columns.push(Column { kind: kind_of(ty, &mut meta)?, unsigned: false, pad: false, values: Vec::new() });
    }
    let _nullable = r.take(n.div_ceil(8))?;
    let mut names: Vec<String> = Vec::new();
    let mut has_signedness = false;
    let mut collations: Option<Vec<u64>> = None;
    let mut enum_values: Option<Vec<Vec<Vec<u8>>>> = None;
    let mut set_values: Option<Vec<Vec<Vec<u8>>>> = None;
    while !r.is_empty() {
        let field = r.u8()?;
        let value = r.packed_bytes()?;
        match field {
            OM_SIGNEDNESS => {
                // One bit per numeric column, most significant bit first.
                let mut k = 0usize;
                for (col, &ty) in columns.iter_mut().zip(types) {
                    if is_numeric_type(ty) {
                        let byte = value.get(k / 8).copied().unwrap_or(0);
                        col.unsigned = byte & (0x80 >> (k % 8)) != 0;
                        k += 1;
                    }
                }
                has_signedness = true;
            }
            OM_COLUMN_NAME => {
                let mut v = Reader::new(value);
                while !v.is_empty() {
                    names.push(String::from_utf8_lossy(v.packed_bytes()?).into_owned());
                }
                if names.len() != n {
                    return Err(DecodeError(format!("{} column names for {n} columns", names.len())));
                }
            }
            OM_DEFAULT_CHARSET => {
                // The default collation, then (index, collation) pairs for the
                // character columns that differ from it.
                let mut v = Reader::new(value);
                let default = v.packed()?;
                let n_char = columns.iter().zip(types).filter(|(c, &t)| is_character(c.kind, t, mariadb)).count();
                let mut list = vec![default; n_char];
                while !v.is_empty() {
                    let idx = v.packed()? as usize;
                    let coll = v.packed()?;
                    if let Some(slot) = list.get_mut(idx) {
                        *slot = coll;
                    }
                }
                collations = Some(list);
            }
            OM_COLUMN_CHARSET => {
                let mut v = Reader::new(value);
                let mut list = Vec::new();
                while !v.is_empty() {
                    list.push(v.packed()?);
                }
                collations = Some(list);
            }
            OM_ENUM_STR_VALUE => enum_values = Some(str_values(value)?),
            OM_SET_STR_VALUE => set_values = Some(str_values(value)?),
            _ => {}
        }
    }
    let n_enum = columns.iter().filter(|c| matches!(c.kind, Kind::Enum { .. })).count();
    let n_set = columns.iter().filter(|c| matches!(c.kind, Kind::Set { .. })).count();
    let enum_ok = n_enum == 0 || enum_values.as_ref().is_some_and(|v| v.len() == n_enum);
    let set_ok = n_set == 0 || set_values.as_ref().is_some_and(|v| v.len() == n_set);
    let has_enum_set_values = enum_ok && set_ok;
    if has_enum_set_values {
        let mut e = enum_values.unwrap_or_default().into_iter();
        let mut s = set_values.unwrap_or_default().into_iter();
        for col in &mut columns {
            match col.kind {
                Kind::Enum { .. } => col.values = e.next().unwrap_or_default(),
                Kind::Set { .. } => col.values = s.next().unwrap_or_default(),
                _ => {}
            }
        }
    }
    let has_charsets = collations.is_some();
    if let Some(list) = collations {
        // Trust the list's length over the flavour when they disagree.
        let count = |g: bool| columns.iter().zip(types).filter(|(c, &t)| is_character(c.kind, t, g)).count();
        let geometry = if list.len() == count(mariadb) { mariadb } else { list.len() == count(true) };
        let mut k = 0usize;
        for (col, &ty) in columns.iter_mut().zip(types) {
            if is_character(col.kind, ty, geometry) {
                col.pad = matches!(col.kind, Kind::Char { .. }) && list.get(k) == Some(&BINARY_COLLATION);
                k += 1;
            }
        }
    }
    let has_names = !names.is_empty() || n == 0;
    if !has_names {
        names = vec![String::new(); n];
    }
    Ok(TableMap {
        table_id,
        table: TableId::new(String::from_utf8_lossy(schema), String::from_utf8_lossy(table)),
        columns,
        names: names.into(),
        raw: body.to_vec(),
        has_names,
        has_signedness,
        has_enum_set_values,
        has_charsets,
    })
}

/// The `binary` collation (BINARY, VARBINARY, BLOB columns).
const BINARY_COLLATION: u64 = 63;

/// Columns that get an entry in the DEFAULT_CHARSET / COLUMN_CHARSET fields:
/// CHAR, VARCHAR and the BLOB/TEXT family (not ENUM, SET or JSON), and on
/// MariaDB GEOMETRY too.
fn is_character(kind: Kind, ty: u8, geometry: bool) -> bool {
    match ty {
        T_STRING => matches!(kind, Kind::Char { .. }),
        T_VARCHAR | T_VAR_STRING | T_TINY_BLOB | T_MEDIUM_BLOB | T_LONG_BLOB | T_BLOB => true,
        T_GEOMETRY => geometry,
        _ => false,
    }
}

/// Columns that get a bit in the SIGNEDNESS field.
fn is_numeric_type(ty: u8) -> bool {
    matches!(ty, T_TINY | T_SHORT | T_INT24 | T_LONG | T_LONGLONG | T_NEWDECIMAL | T_FLOAT | T_DOUBLE)
}

/// For each ENUM (or SET) column: a packed count, then that many packed strings.
fn str_values(value: &[u8]) -> DResult<Vec<Vec<Vec<u8>>>> {
    let mut v = Reader::new(value);
    let mut out = Vec::new();
    while !v.is_empty() {
        let count = v.packed_len()?;
        let mut col = Vec::with_capacity(count);
        for _ in 0..count {
            col.push(v.packed_bytes()?.to_vec());
        }
        out.push(col);
    }
    Ok(out)
}

fn kind_of(ty: u8, meta: &mut Reader<'_>) -> DResult<Kind> {
    Ok(match ty {
        T_TINY => Kind::Tiny,
        T_SHORT => Kind::Short,
        T_INT24 => Kind::Int24,
        T_LONG => Kind::Long,
        T_LONGLONG => Kind::LongLong,
        T_FLOAT => {
            meta.skip(1)?;
            Kind::Float
        }
        T_DOUBLE => {
            meta.skip(1)?;
            Kind::Double
        }
        T_NULL => Kind::Null,
        T_YEAR => Kind::Year,
        T_DATE | T_NEWDATE => Kind::Date,
        T_TIME => Kind::Time,
        T_DATETIME => Kind::DateTime,
        T_TIMESTAMP => Kind::Timestamp,
        T_TIME2 => Kind::Time2 { fsp: fsp(meta)? },
        T_DATETIME2 => Kind::DateTime2 { fsp: fsp(meta)? },
        T_TIMESTAMP2 => Kind::Timestamp2 { fsp: fsp(meta)? },
        T_NEWDECIMAL => {
            let precision = meta.u8()?;
            let scale = meta.u8()?;
            super::value::decimal_len(precision, scale)?;
            Kind::Decimal { precision, scale }
        }
        T_BIT => {
            let bits = u16::from(meta.u8()?);
            let bytes = u16::from(meta.u8()?);
            Kind::Bit { len: bytes + u16::from(bits > 0) }
        }
        T_VARCHAR | T_VAR_STRING => {
            let max = meta.u16_le()?;
            Kind::Str { len_bytes: if max > 255 { 2 } else { 1 } }
        }
        T_STRING => {
            let b0 = meta.u8()?;
            let b1 = meta.u8()?;
            // CHAR columns longer than 255 bytes keep two high bits of the
            // length in the type byte (with the 0x30 bits flipped).
            let (real, max) = if b0 != 0 && (b0 & 0x30) != 0x30 {
                (b0 | 0x30, u16::from(b1) | (u16::from((b0 & 0x30) ^ 0x30) << 4))
            } else {
                (b0, u16::from(b1))
            };
            match real {
                T_ENUM => Kind::Enum { pack: pack_len(b1, 2)? },
                T_SET => Kind::Set { pack: pack_len(b1, 8)? },
                _ => Kind::Char { len_bytes: if max > 255 { 2 } else { 1 }, max },
            }
        }
        T_TINY_BLOB | T_MEDIUM_BLOB | T_LONG_BLOB | T_BLOB | T_GEOMETRY | T_VECTOR => {
            Kind::Blob { len_bytes: pack_len(meta.u8()?, 4)? }
        }
        T_JSON => Kind::Json { len_bytes: pack_len(meta.u8()?, 4)? },
        T_ENUM | T_SET => {
            let _real = meta.u8()?;
            let pack = meta.u8()?;
            if ty == T_ENUM {
                Kind::Enum { pack: pack_len(pack, 2)? }
            } else {
                Kind::Set { pack: pack_len(pack, 8)? }
            }
        }
        T_DECIMAL => return Err(DecodeError("pre-5.0 DECIMAL columns are not supported".into())),
        other => return Err(DecodeError(format!("unsupported column type {other} in TABLE_MAP"))),
    })
}

fn fsp(meta: &mut Reader<'_>) -> DResult<u8> {
    let f = meta.u8()?;
    if f > 6 {
        return Err(DecodeError(format!("invalid fractional seconds precision {f}")));
    }
    Ok(f)
}

fn pack_len(v: u8, max: u8) -> DResult<u8> {
    if v == 0 || v > max {
        return Err(DecodeError(format!("invalid length size {v}")));
    }
    Ok(v)
}

/// Parses `enum('a','b''c')` / `set(...)` from information_schema COLUMN_TYPE.
pub fn parse_enum_set_values(column_type: &str) -> Option<Vec<Vec<u8>>> {
    let lower = column_type.get(..5).map(|s| s.to_ascii_lowercase()).unwrap_or_default();
    let open = if lower.starts_with("enum(") {
        5
    } else if lower.starts_with("set(") {
        4
    } else {
        return None;
    };
    let b = column_type.as_bytes();
    let mut out = Vec::new();
    let mut i = open;
    loop {
        while i < b.len() && (b[i] == b' ' || b[i] == b',') {
            i += 1;
        }
        if i >= b.len() || b[i] == b')' {
            break;
        }
        if b[i] != b'\'' {
            return None;
        }
        i += 1;
        let mut v = Vec::new();
        loop {
            match b.get(i) {
                None => return None,
                Some(b'\'') if b.get(i + 1) == Some(&b'\'') => {
                    v.push(b'\'');
                    i += 2;
                }
                Some(b'\'') => {
                    i += 1;
                    break;
                }
                Some(b'\\') if i + 1 < b.len() => {
                    v.push(match b[i + 1] {
                        b'n' => b'\n',
                        b't' => b'\t',
                        b'r' => b'\r',
                        b'0' => 0,
                        b'Z' => 0x1A,
                        c => c,
                    });
                    i += 2;
                }
                Some(&c) => {
                    v.push(c);
                    i += 1;
                }
            }
        }
        out.push(v);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed_str(out: &mut Vec<u8>, s: &[u8]) {
        out.push(s.len() as u8);
        out.extend_from_slice(s);
    }

    /// A TABLE_MAP body for `db.t (id INT UNSIGNED, c CHAR(100) utf8mb4, e ENUM('x','y'), d DECIMAL(10,2), j JSON)`.
    fn body(with_meta: bool) -> Vec<u8> {
        let mut b = vec![0x2A, 0, 0, 0, 0, 0, 1, 0];
        b.push(2);
        b.extend_from_slice(b"db\0");
        b.push(1);
        b.extend_from_slice(b"t\0");
        b.push(5);
        b.extend_from_slice(&[T_LONG, T_STRING, T_STRING, T_NEWDECIMAL, T_JSON]);
        // CHAR(100) utf8mb4 = 400 bytes: 400 = 0x190 -> b0 = 0xFE ^ ((0x190 >> 4) & 0x30) = 0xFE ^ 0x10 = 0xEE, b1 = 0x90
        let meta = [0xEE, 0x90, T_ENUM, 1, 10, 2, 4];
        b.push(meta.len() as u8);
        b.extend_from_slice(&meta);
        b.push(0b11110);
        if with_meta {
            // SIGNEDNESS: numeric columns are id and d -> bits 1,0 (MSB first)
            b.extend_from_slice(&[OM_SIGNEDNESS, 1, 0b1000_0000]);
            let mut names = Vec::new();
            for n in ["id", "c", "e", "d", "j"] {
                packed_str(&mut names, n.as_bytes());
            }
            b.push(OM_COLUMN_NAME);
            b.push(names.len() as u8);
            b.extend_from_slice(&names);
            let mut ev = vec![2];
            packed_str(&mut ev, b"x");
            packed_str(&mut ev, b"y");
            b.push(OM_ENUM_STR_VALUE);
            b.push(ev.len() as u8);
            b.extend_from_slice(&ev);
            // COLUMN_CHARSET: the only character column (c) is binary, i.e. BINARY(400)
            b.extend_from_slice(&[OM_COLUMN_CHARSET, 1, 63]);
            // an unknown field is skipped
            b.extend_from_slice(&[99, 2, 0, 0]);
        }
        b
    }

    #[test]
    fn full_metadata() {
        let t = parse(&body(true), 6, false).unwrap();
        assert_eq!(t.table_id, 42);
        assert_eq!(t.table, TableId::new("db", "t"));
        assert_eq!(*t.names, ["id", "c", "e", "d", "j"]);
        assert_eq!(t.columns[0].kind, Kind::Long);
        assert!(t.columns[0].unsigned);
        assert_eq!(t.columns[1].kind, Kind::Char { len_bytes: 2, max: 400 });
        assert!(t.columns[1].pad);
        // DEFAULT_CHARSET utf8mb4 with no exceptions: no padding.
        let mut b = body(true);
        let at = b.windows(3).position(|w| w == [OM_COLUMN_CHARSET, 1, 63]).unwrap();
        b[at..at + 3].copy_from_slice(&[OM_DEFAULT_CHARSET, 1, 45]);
        let t2 = parse(&b, 6, false).unwrap();
        assert!(!t2.columns[1].pad && !t2.needs_info());
        // DEFAULT_CHARSET utf8mb4 with column 0 (c) binary.
        b[at..at + 3].copy_from_slice(&[OM_DEFAULT_CHARSET, 3, 45]);
        b.splice(at + 3..at + 3, [0u8, 63]);
        assert!(parse(&b, 6, false).unwrap().columns[1].pad);
        assert_eq!(t.columns[2].kind, Kind::Enum { pack: 1 });
        assert_eq!(t.columns[2].values, vec![b"x".to_vec(), b"y".to_vec()]);
        assert_eq!(t.columns[3].kind, Kind::Decimal { precision: 10, scale: 2 });
        assert!(!t.columns[3].unsigned);
        assert_eq!(t.columns[4].kind, Kind::Json { len_bytes: 4 });
        assert!(!t.needs_info());
    }

    #[test]
    fn minimal_metadata_needs_information_schema() {
        let mut t = parse(&body(false), 6, false).unwrap();
        assert!(t.needs_info());
        let info: Vec<InfoColumn> = ["id", "c", "e", "d", "j"]
            .iter()
            .map(|n| InfoColumn {
                name: n.to_string(),
                unsigned: *n == "id",
                binary_fixed: false,
                values: (*n == "e").then(|| vec![b"x".to_vec(), b"y".to_vec()]),
            })
            .collect();
        assert!(t.apply_info(&info[..4]).is_err());
        t.apply_info(&info).unwrap();
        assert!(!t.needs_info());
        assert!(t.columns[0].unsigned);
        assert_eq!(t.names[4], "j");
        assert_eq!(t.columns[2].values.len(), 2);
    }

    #[test]
    fn truncated_is_an_error() {
        let b = body(true);
        for cut in [3, 10, 20, 28, 32] {
            assert!(parse(&b[..cut], 6, false).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn enum_set_from_column_type() {
        assert_eq!(
            parse_enum_set_values("enum('a','b''c','d,e')").unwrap(),
            vec![b"a".to_vec(), b"b'c".to_vec(), b"d,e".to_vec()]
        );
        assert_eq!(parse_enum_set_values("set('x','y')").unwrap().len(), 2);
        assert_eq!(parse_enum_set_values("SET('')").unwrap(), vec![Vec::<u8>::new()]);
        assert!(parse_enum_set_values("int(11)").is_none());
        assert!(parse_enum_set_values("enum('a").is_none());
    }
}
