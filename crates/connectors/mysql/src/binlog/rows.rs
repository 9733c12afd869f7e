//! WRITE/UPDATE/DELETE_ROWS events, version 1 (types 23-25, MariaDB and
//! MySQL 5.5) and version 2 (types 30-32, MySQL 5.6+), decoded into cells.
//!
//! Body: table_id (6 bytes, or 4), flags u16; version 2 then carries
//! extra_data_len u16 (counting its own two bytes) and that many bytes minus
//! two of extra data (NDB info, partition ids) that we skip. Then the column
//! count (packed), the columns-present bitmap ((n+7)/8 bytes; UPDATE has a
//! second one for the after image) and the rows: per image a NULL bitmap over
//! the present columns, then the non-NULL values in column order.

use super::bytes::{bit, le, DResult, DecodeError, Reader};
use super::table_map::{Column, Kind, TableMap};
use super::{json, value};
use opendts_core::change::{RowChange, RowOp};
use opendts_core::row::Cell;

/// Flag of the last rows event of a statement.
#[cfg(test)]
const STMT_END_F: u16 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowsEvent<'a> {
    pub table_id: u64,
    pub flags: u16,
    /// Version-2 extra data (without its length field).
    pub extra: &'a [u8],
    pub ncols: usize,
    pub present: &'a [u8],
    pub present_after: Option<&'a [u8]>,
    pub rows: &'a [u8],
}

impl RowsEvent<'_> {
    /// True when every column is in the image(s): binlog_row_image=FULL.
    pub fn is_full_image(&self) -> bool {
        let full = |b: &[u8]| (0..self.ncols).all(|i| bit(b, i));
        full(self.present) && self.present_after.is_none_or(full)
    }
}

pub fn parse_header(body: &[u8], id_len: usize, v2: bool, update: bool) -> DResult<RowsEvent<'_>> {
    let mut r = Reader::new(body);
    let table_id = r.uint_le(id_len)?;
    let flags = r.u16_le()?;
    let extra = if v2 {
        let len = usize::from(r.u16_le()?);
        if len < 2 {
            return Err(DecodeError(format!("extra data length {len} is below its own size")));
        }
        r.take(len - 2)?
    } else {
        &[]
    };
    let ncols = r.packed()?;
    if ncols > 65_535 {
        return Err(DecodeError(format!("implausible column count {ncols}")));
    }
    let ncols = ncols as usize;
    let width = ncols.div_ceil(8);
    let present = r.take(width)?;
    let present_after = if update { Some(r.take(width)?) } else { None };
    Ok(RowsEvent { table_id, flags, extra, ncols, present, present_after, rows: r.rest() })
}

/// Decodes every row of `ev` against its table map and appends them to `out`.
pub fn decode(tm: &TableMap, ev: &RowsEvent<'_>, op: RowOp, out: &mut Vec<RowChange>) -> DResult<()> {
    let mut r = Reader::new(ev.rows);
    while !r.is_empty() {
        let (before, after) = match op {
            RowOp::Insert => (None, Some(image(&mut r, &tm.columns)?)),
            RowOp::Delete => (Some(image(&mut r, &tm.columns)?), None),
            RowOp::Update => {
                let b = image(&mut r, &tm.columns)?;
                (Some(b), Some(image(&mut r, &tm.columns)?))
            }
        };
        out.push(RowChange { table: tm.table.clone(), op, columns: tm.names.clone(), before, after });
    }
    Ok(())
}

/// One row image of a full-image event.
pub fn image(r: &mut Reader<'_>, columns: &[Column]) -> DResult<Vec<Cell>> {
    let nulls = r.take(columns.len().div_ceil(8))?;
    let mut cells = Vec::with_capacity(columns.len());
    for (i, col) in columns.iter().enumerate() {
        if bit(nulls, i) {
            cells.push(Cell::Null);
        } else {
            cells.push(cell(r, col).map_err(|e| DecodeError(format!("column {}: {e}", i + 1)))?);
        }
    }
    Ok(cells)
}

fn int(unsigned: bool, raw: u64, bits: u32) -> Cell {
    if unsigned {
        Cell::UInt(raw)
    } else {
        let shift = 64 - bits;
        Cell::Int(((raw << shift) as i64) >> shift)
    }
}

fn cell(r: &mut Reader<'_>, col: &Column) -> DResult<Cell> {
    Ok(match col.kind {
        Kind::Null => Cell::Null,
        Kind::Tiny => int(col.unsigned, r.uint_le(1)?, 8),
        Kind::Short => int(col.unsigned, r.uint_le(2)?, 16),
        Kind::Int24 => int(col.unsigned, r.uint_le(3)?, 24),
        Kind::Long => int(col.unsigned, r.uint_le(4)?, 32),
        Kind::LongLong => int(col.unsigned, r.uint_le(8)?, 64),
        Kind::Float => Cell::Float(f32::from_bits(r.u32_le()?)),
        Kind::Double => Cell::Double(f64::from_bits(r.u64_le()?)),
        Kind::Year => {
            let y = r.u8()?;
            Cell::UInt(if y == 0 { 0 } else { 1900 + u64::from(y) })
        }
        Kind::Decimal { precision, scale } => {
            let raw = r.take(value::decimal_len(precision, scale)?)?;
            let mut text = Vec::with_capacity(usize::from(precision) + 3);
            value::decode_decimal(raw, precision, scale, &mut text)?;
            Cell::Bytes(text)
        }
        Kind::Date => value::date(r.uint_le(3)? as u32),
        Kind::Time => value::time_v1(r.uint_le(3)? as u32),
        Kind::Time2 { fsp } => value::time2(r, fsp)?,
        Kind::DateTime => value::datetime_v1(r.u64_le()?),
        Kind::DateTime2 { fsp } => {
            let int_part = r.uint_be(5)?.wrapping_sub(0x80_0000_0000) & 0xFF_FFFF_FFFF;
            let micros = value::read_frac(r, fsp)?;
            value::datetime2(int_part, micros)
        }
        Kind::Timestamp => value::timestamp(u64::from(r.u32_le()?), 0),
        Kind::Timestamp2 { fsp } => {
            let secs = r.uint_be(4)?;
            let micros = value::read_frac(r, fsp)?;
            value::timestamp(secs, micros)
        }
        Kind::Bit { len } => Cell::Bytes(r.take(usize::from(len))?.to_vec()),
        Kind::Str { len_bytes } | Kind::Blob { len_bytes } => {
            let n = r.uint_le(usize::from(len_bytes))? as usize;
            Cell::Bytes(r.take(n)?.to_vec())
        }
        Kind::Char { len_bytes, max } => {
            let n = r.uint_le(usize::from(len_bytes))? as usize;
            let raw = r.take(n)?;
            if col.pad && raw.len() < usize::from(max) {
                let mut v = Vec::with_capacity(usize::from(max));
                v.extend_from_slice(raw);
                v.resize(usize::from(max), 0);
                Cell::Bytes(v)
            } else {
                Cell::Bytes(raw.to_vec())
            }
        }
        Kind::Json { len_bytes } => {
            let n = r.uint_le(usize::from(len_bytes))? as usize;
            let doc = r.take(n)?;
            let mut text = Vec::with_capacity(doc.len() + 16);
            json::to_text(doc, &mut text)?;
            Cell::Bytes(text)
        }
        Kind::Enum { pack } => {
            let idx = r.uint_le(usize::from(pack))? as usize;
            if idx == 0 {
                // The "invalid value" member that SELECT shows as ''.
                Cell::Bytes(Vec::new())
            } else {
                let v = col
                    .values
                    .get(idx - 1)
                    .ok_or_else(|| DecodeError(format!("ENUM index {idx} beyond the {} members", col.values.len())))?;
                Cell::Bytes(v.clone())
            }
        }
        Kind::Set { pack } => {
            let raw = r.take(usize::from(pack))?;
            let mask = le(raw);
            if col.values.len() < 64 && mask >> col.values.len() != 0 {
                return Err(DecodeError(format!("SET bits 0x{mask:X} beyond the {} members", col.values.len())));
            }
            let mut text = Vec::new();
            let mut first = true;
            for (i, v) in col.values.iter().enumerate().take(64) {
                if mask & (1u64 << i) != 0 {
                    if !first {
                        text.push(b',');
                    }
                    first = false;
                    text.extend_from_slice(v);
                }
            }
            Cell::Bytes(text)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use opendts_core::row::TableId;

    #[test]
    fn v1_and_v2_headers() {
        // v1 WRITE_ROWS: table id 0x0102, flags STMT_END_F, 3 columns, all present, then rows.
        let v1 = [0x02, 0x01, 0, 0, 0, 0, 0x01, 0x00, 3, 0b111, 0xAA];
        let h = parse_header(&v1, 6, false, false).unwrap();
        assert_eq!((h.table_id, h.flags, h.ncols), (0x0102, STMT_END_F, 3));
        assert!(h.extra.is_empty() && h.is_full_image());
        assert_eq!(h.rows, &[0xAA]);

        // v2 with no extra data: extra_data_len = 2 (just itself).
        let v2 = [0x02, 0x01, 0, 0, 0, 0, 0x01, 0x00, 0x02, 0x00, 3, 0b111, 0xAA];
        let h2 = parse_header(&v2, 6, true, false).unwrap();
        assert_eq!(h2, RowsEvent { extra: &[], ..h.clone() });

        // v2 with partition info extra data: type 1, partition id 5 (2 bytes) -> len 2 + 3.
        let v2p = [0x02, 0x01, 0, 0, 0, 0, 0x01, 0x00, 0x05, 0x00, 0x01, 0x05, 0x00, 3, 0b111, 0xAA];
        let h3 = parse_header(&v2p, 6, true, false).unwrap();
        assert_eq!(h3.extra, &[1, 5, 0]);
        assert_eq!(h3.rows, &[0xAA]);
        assert_eq!(h3.ncols, 3);

        // v2 UPDATE: two present bitmaps; the after image lacks column 2 (MINIMAL).
        let v2u = [0x02, 0x01, 0, 0, 0, 0, 0x01, 0x00, 0x02, 0x00, 3, 0b111, 0b011];
        let hu = parse_header(&v2u, 6, true, true).unwrap();
        assert_eq!(hu.present_after, Some(&[0b011u8][..]));
        assert!(!hu.is_full_image());

        // a 4-byte table id (post-header length 6)
        let old = [0x02, 0x01, 0, 0, 0x01, 0x00, 3, 0b111];
        assert_eq!(parse_header(&old, 4, false, false).unwrap().table_id, 0x0102);

        // errors instead of panics
        assert!(parse_header(&v2[..9], 6, true, false).is_err());
        assert!(parse_header(&[0x02, 0x01, 0, 0, 0, 0, 0x01, 0x00, 0x01, 0x00, 3, 7], 6, true, false).is_err());
        assert!(parse_header(&[0x02, 0x01, 0, 0, 0, 0, 0x01, 0x00, 0x40, 0x00, 3, 7], 6, true, false).is_err());
    }

    fn table(columns: Vec<Column>) -> TableMap {
        let n = columns.len();
        let mut tm =
            super::super::table_map::parse(&[1, 0, 0, 0, 0, 0, 0, 0, 1, b'd', 0, 1, b't', 0, 0, 0], 6, false).unwrap();
        tm.table = TableId::new("d", "t");
        tm.columns = columns;
        tm.names = (0..n).map(|i| format!("c{i}")).collect();
        tm
    }

    fn col(kind: Kind, unsigned: bool) -> Column {
        Column { kind, unsigned, pad: false, values: Vec::new() }
    }

    #[test]
    fn values() {
        let tm = table(vec![
            col(Kind::Tiny, true),
            col(Kind::Tiny, false),
            col(Kind::LongLong, true),
            col(Kind::Int24, false),
            col(Kind::Year, false),
            col(Kind::Str { len_bytes: 1 }, false),
            Column {
                kind: Kind::Enum { pack: 1 },
                unsigned: false,
                pad: false,
                values: vec![b"a".to_vec(), b"b".to_vec()],
            },
            Column {
                kind: Kind::Set { pack: 1 },
                unsigned: false,
                pad: false,
                values: vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()],
            },
            col(Kind::Double, false),
            col(Kind::DateTime2 { fsp: 6 }, false),
        ]);
        let mut row = vec![0b0000_0000, 0b00]; // null bitmap, 10 columns
        row.push(255);
        row.push(255);
        row.extend_from_slice(&[0xFF; 8]);
        row.extend_from_slice(&[0xFF, 0xFF, 0xFF]);
        row.push(124);
        row.extend_from_slice(&[2, b'h', b'i']);
        row.push(2);
        row.push(0b101);
        row.extend_from_slice(&1.5f64.to_le_bytes());
        let ym: u64 = 2024 * 13 + 2;
        let int_part = (((ym << 5) | 29) << 17) | (23 << 12) | (59 << 6) | 58;
        row.extend_from_slice(&(int_part + 0x80_0000_0000).to_be_bytes()[3..]);
        row.extend_from_slice(&123_456u32.to_be_bytes()[1..]);
        let ev = RowsEvent {
            table_id: 0,
            flags: 0,
            extra: &[],
            ncols: 10,
            present: &[0xFF, 0x03],
            present_after: None,
            rows: &row,
        };
        let mut out = Vec::new();
        decode(&tm, &ev, RowOp::Insert, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        let cells = out[0].after.as_ref().unwrap();
        assert_eq!(
            cells,
            &vec![
                Cell::UInt(255),
                Cell::Int(-1),
                Cell::UInt(u64::MAX),
                Cell::Int(-1),
                Cell::UInt(2024),
                Cell::Bytes(b"hi".to_vec()),
                Cell::Bytes(b"b".to_vec()),
                Cell::Bytes(b"a,c".to_vec()),
                Cell::Double(1.5),
                Cell::Date { year: 2024, month: 2, day: 29, hour: 23, minute: 59, second: 58, micros: 123_456 },
            ]
        );
        assert_eq!(out[0].columns[9], "c9");
        // all NULL
        let nulls = [0xFF, 0x03];
        let ev = RowsEvent { rows: &nulls, ..ev };
        let mut out = Vec::new();
        decode(&tm, &ev, RowOp::Delete, &mut out).unwrap();
        assert!(out[0].before.as_ref().unwrap().iter().all(|c| *c == Cell::Null));
        // truncated row
        let ev = RowsEvent { rows: &row[..12], ..ev };
        assert!(decode(&tm, &ev, RowOp::Insert, &mut Vec::new()).is_err());
    }
}
