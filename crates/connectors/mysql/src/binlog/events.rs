//! Event type codes and the small fixed-layout events: FORMAT_DESCRIPTION,
//! ROTATE and QUERY.

use super::bytes::{DResult, DecodeError, Reader};

pub const QUERY: u8 = 2;
pub const ROTATE: u8 = 4;
pub const FORMAT_DESCRIPTION: u8 = 15;
pub const XID: u8 = 16;
pub const TABLE_MAP: u8 = 19;
pub const WRITE_ROWS_V1: u8 = 23;
pub const UPDATE_ROWS_V1: u8 = 24;
pub const DELETE_ROWS_V1: u8 = 25;
pub const INCIDENT: u8 = 26;
pub const HEARTBEAT: u8 = 27;
pub const WRITE_ROWS_V2: u8 = 30;
pub const UPDATE_ROWS_V2: u8 = 31;
pub const DELETE_ROWS_V2: u8 = 32;
pub const GTID: u8 = 33;
pub const ANONYMOUS_GTID: u8 = 34;
pub const PREVIOUS_GTIDS: u8 = 35;
pub const XA_PREPARE: u8 = 38;
pub const PARTIAL_UPDATE_ROWS: u8 = 39;
pub const TRANSACTION_PAYLOAD: u8 = 40;
pub const HEARTBEAT_V2: u8 = 41;
pub const GTID_TAGGED: u8 = 42;
// MariaDB
pub const MARIADB_GTID: u8 = 162;
pub const MARIADB_GTID_LIST: u8 = 163;
/// MariaDB's compressed events: QUERY_COMPRESSED (165) .. DELETE_ROWS_COMPRESSED_EVENT (171).
pub const MARIADB_QUERY_COMPRESSED: u8 = 165;
pub const MARIADB_DELETE_ROWS_COMPRESSED: u8 = 171;

/// Header flag of events the server made up for the stream (fake ROTATE ...).
pub const LOG_EVENT_ARTIFICIAL_F: u16 = 0x20;

pub fn name(ty: u8) -> String {
    let s = match ty {
        QUERY => "QUERY",
        ROTATE => "ROTATE",
        FORMAT_DESCRIPTION => "FORMAT_DESCRIPTION",
        XID => "XID",
        TABLE_MAP => "TABLE_MAP",
        WRITE_ROWS_V1 | WRITE_ROWS_V2 => "WRITE_ROWS",
        UPDATE_ROWS_V1 | UPDATE_ROWS_V2 => "UPDATE_ROWS",
        DELETE_ROWS_V1 | DELETE_ROWS_V2 => "DELETE_ROWS",
        GTID => "GTID",
        ANONYMOUS_GTID => "ANONYMOUS_GTID",
        PREVIOUS_GTIDS => "PREVIOUS_GTIDS",
        MARIADB_GTID => "MariaDB GTID",
        MARIADB_GTID_LIST => "MariaDB GTID_LIST",
        _ => return format!("type-{ty}"),
    };
    s.to_string()
}

/// What a FORMAT_DESCRIPTION event says about the events after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fde {
    pub server_version: String,
    /// Post-header length of each event type, indexed by type - 1.
    pub post_header: Vec<u8>,
}

impl Fde {
    /// The post-header length of `ty`, or `default` when the FDE does not list it.
    pub fn post_header_len(&self, ty: u8, default: u8) -> u8 {
        usize::from(ty).checked_sub(1).and_then(|i| self.post_header.get(i)).copied().unwrap_or(default)
    }
}

/// Body: binlog_version u16, server_version [50], create_timestamp u32,
/// common header length u8, then one post-header length per event type (the
/// checksum algorithm byte is already cut off by the driver).
pub fn parse_fde(body: &[u8]) -> DResult<Fde> {
    let mut r = Reader::new(body);
    let _binlog_version = r.u16_le()?;
    let v = r.take(50)?;
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    let server_version = String::from_utf8_lossy(&v[..end]).into_owned();
    let _created = r.u32_le()?;
    let header_len = r.u8()?;
    if header_len != 19 {
        return Err(DecodeError(format!("unsupported common header length {header_len}")));
    }
    Ok(Fde { server_version, post_header: r.rest().to_vec() })
}

/// ROTATE body: the position in the next file (u64) and its name.
pub fn parse_rotate(body: &[u8]) -> DResult<(u64, &[u8])> {
    let mut r = Reader::new(body);
    let pos = r.u64_le()?;
    Ok((pos, r.rest()))
}

/// A QUERY event's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query<'a> {
    pub schema: &'a [u8],
    pub sql: &'a [u8],
    pub sql_mode: Option<u64>,
    pub error_code: u16,
}

/// QUERY: thread_id u32, exec_time u32, schema length u8, error_code u16,
/// status-variables length u16 (post-header of `post_header_len` bytes), then
/// the status variables, the schema, a NUL and the statement.
pub fn parse_query(body: &[u8], post_header_len: u8) -> DResult<Query<'_>> {
    let mut r = Reader::new(body);
    let _thread = r.u32_le()?;
    let _exec_time = r.u32_le()?;
    let schema_len = usize::from(r.u8()?);
    let error_code = r.u16_le()?;
    let status_len = if post_header_len >= 13 { usize::from(r.u16_le()?) } else { 0 };
    r.skip(usize::from(post_header_len.saturating_sub(13)))?;
    let status = r.take(status_len)?;
    let schema = r.take(schema_len)?;
    r.skip(1)?;
    Ok(Query { schema, sql: r.rest(), sql_mode: sql_mode(status), error_code })
}

/// Finds Q_SQL_MODE_CODE among the status variables. Walks the variables
/// whose sizes are known and stops at the first unknown one.
fn sql_mode(status: &[u8]) -> Option<u64> {
    let mut r = Reader::new(status);
    while !r.is_empty() {
        let code = r.u8().ok()?;
        let skip = match code {
            0 => 4,                             // Q_FLAGS2_CODE
            1 => return r.u64_le().ok(),        // Q_SQL_MODE_CODE
            2 => usize::from(r.u8().ok()?) + 1, // Q_CATALOG_CODE (NUL-terminated)
            3 => 4,                             // Q_AUTO_INCREMENT
            4 => 6,                             // Q_CHARSET_CODE
            5 | 6 => usize::from(r.u8().ok()?), // Q_TIME_ZONE_CODE, Q_CATALOG_NZ_CODE
            7 | 8 => 2,                         // Q_LC_TIME_NAMES_CODE, Q_CHARSET_DATABASE_CODE
            9 => 8,                             // Q_TABLE_MAP_FOR_UPDATE_CODE
            10 => 4,                            // Q_MASTER_DATA_WRITTEN_CODE
            11 => {
                // Q_INVOKER: user and host, each with a 1-byte length
                let u = usize::from(r.u8().ok()?);
                r.skip(u).ok()?;
                usize::from(r.u8().ok()?)
            }
            _ => return None,
        };
        r.skip(skip).ok()?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_event() {
        let mut b = Vec::new();
        b.extend_from_slice(&7u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.push(2);
        b.extend_from_slice(&0u16.to_le_bytes());
        let status = [0u8, 0, 0, 0, 0, 1, 4, 0, 0, 0, 0, 0, 0, 0];
        b.extend_from_slice(&(status.len() as u16).to_le_bytes());
        b.extend_from_slice(&status);
        b.extend_from_slice(b"db\0CREATE TABLE t (a int)");
        let q = parse_query(&b, 13).unwrap();
        assert_eq!(q.schema, b"db");
        assert_eq!(q.sql, b"CREATE TABLE t (a int)");
        assert_eq!(q.sql_mode, Some(4));
        assert!(parse_query(&b[..20], 13).is_err());
    }

    #[test]
    fn fde_and_rotate() {
        let mut b = vec![4, 0];
        let mut v = b"10.11.6-MariaDB-log".to_vec();
        v.resize(50, 0);
        b.extend_from_slice(&v);
        b.extend_from_slice(&[0, 0, 0, 0, 19, 56, 13, 0, 8]);
        let f = parse_fde(&b).unwrap();
        assert_eq!(f.server_version, "10.11.6-MariaDB-log");
        assert_eq!(f.post_header_len(QUERY, 0), 13);
        assert_eq!(f.post_header_len(200, 9), 9);
        let mut r = 4u64.to_le_bytes().to_vec();
        r.extend_from_slice(b"mysql-bin.000002");
        assert_eq!(parse_rotate(&r).unwrap(), (4, &b"mysql-bin.000002"[..]));
    }
}
