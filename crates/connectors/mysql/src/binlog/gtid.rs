//! GTID events of both families and the GTID position kept in
//! `SourcePosition::Binlog::gtid`.
//!
//! - MariaDB GTID event (type 162), body: seq_no u64, domain_id u32, flags u8;
//!   with FL_GROUP_COMMIT_ID (2) a commit_id u64 follows; with the XA flags
//!   (FL_PREPARED_XA 64, FL_COMPLETED_XA 128) an XID follows. The server_id
//!   part of the GTID is the event header's server_id.
//! - MariaDB GTID_LIST event (type 163): count u32 (low 28 bits), then count
//!   times (domain_id u32, server_id u32, seq_no u64).
//! - MySQL GTID_LOG_EVENT (type 33) and ANONYMOUS_GTID_LOG_EVENT (34): flags
//!   u8, SID (16-byte UUID), GNO i64, then (5.7+) a logical-timestamp type
//!   code (2), last_committed i64 and sequence_number i64, then (8.0+) the
//!   immediate commit timestamp (7 bytes, µs; its top bit says an original
//!   commit timestamp of 7 bytes follows), the transaction length (packed
//!   integer) and the server versions. All integers little-endian.
//! - MySQL PREVIOUS_GTIDS_LOG_EVENT (type 35): n_sids u64, then per SID the
//!   UUID, n_intervals u64 and that many (start, end-exclusive) i64 pairs.

use super::bytes::{DResult, DecodeError, Reader};
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub const FL_STANDALONE: u8 = 1;
pub const FL_GROUP_COMMIT_ID: u8 = 2;

/// A MariaDB GTID event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MariaGtid {
    pub domain: u32,
    pub server_id: u32,
    pub seq: u64,
    pub flags: u8,
    pub commit_id: Option<u64>,
}

impl MariaGtid {
    /// A DDL or other statement logged without BEGIN/COMMIT.
    pub fn standalone(&self) -> bool {
        self.flags & FL_STANDALONE != 0
    }
}

/// Decodes a MariaDB GTID event body; `server_id` comes from the event header.
pub fn parse_mariadb_gtid(body: &[u8], server_id: u32) -> DResult<MariaGtid> {
    let mut r = Reader::new(body);
    let seq = r.u64_le()?;
    let domain = r.u32_le()?;
    let flags = r.u8()?;
    let commit_id = if flags & FL_GROUP_COMMIT_ID != 0 { Some(r.u64_le()?) } else { None };
    Ok(MariaGtid { domain, server_id, seq, flags, commit_id })
}

/// A MySQL GTID (or anonymous GTID) event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MysqlGtid {
    pub flags: u8,
    pub sid: [u8; 16],
    pub gno: i64,
    pub last_committed: Option<i64>,
    pub sequence_number: Option<i64>,
    /// Microseconds since the epoch, when the server wrote them (8.0.1+).
    pub immediate_commit_us: Option<u64>,
    pub original_commit_us: Option<u64>,
    pub transaction_length: Option<u64>,
}

pub fn parse_mysql_gtid(body: &[u8]) -> DResult<MysqlGtid> {
    let mut r = Reader::new(body);
    let flags = r.u8()?;
    let mut sid = [0u8; 16];
    sid.copy_from_slice(r.take(16)?);
    let gno = r.u64_le()? as i64;
    let mut g = MysqlGtid {
        flags,
        sid,
        gno,
        last_committed: None,
        sequence_number: None,
        immediate_commit_us: None,
        original_commit_us: None,
        transaction_length: None,
    };
    if r.is_empty() {
        return Ok(g); // 5.6: no logical timestamps
    }
    let typecode = r.u8()?;
    if typecode != 2 {
        return Err(DecodeError(format!("GTID event: unknown logical timestamp type code {typecode}")));
    }
    g.last_committed = Some(r.u64_le()? as i64);
    g.sequence_number = Some(r.u64_le()? as i64);
    if r.remaining() >= 7 {
        let raw = r.uint_le(7)?;
        let immediate = raw & !(1u64 << 55);
        g.immediate_commit_us = Some(immediate);
        g.original_commit_us = Some(if raw & (1u64 << 55) != 0 { r.uint_le(7)? } else { immediate });
        if !r.is_empty() {
            g.transaction_length = Some(r.packed()?);
        }
    }
    Ok(g)
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, lowercase.
pub fn uuid_text(sid: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, b) in sid.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let hex: Vec<u8> = text.bytes().filter(|&b| b != b'-').collect();
    if hex.len() != 32 || text.len() != 36 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

/// The GTID position of a reader: per MariaDB domain the last GTID, or the
/// MySQL executed set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GtidState {
    /// domain → (server_id, seq_no); printed `domain-server-seq,...` by domain.
    MariaDb(BTreeMap<u32, (u32, u64)>),
    /// SID → sorted, disjoint, inclusive intervals; printed `uuid:1-5:7,...`.
    MySql(BTreeMap<[u8; 16], Vec<(u64, u64)>>),
}

impl GtidState {
    /// Parses `0-1-100,1-2-7` (MariaDB) or `uuid:1-5:7,uuid2:3` (MySQL); the
    /// empty string is an empty MariaDB/MySQL state as `mysql` says.
    pub fn parse(text: &str, mysql: bool) -> Result<GtidState, String> {
        let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if mysql {
            let mut map: BTreeMap<[u8; 16], Vec<(u64, u64)>> = BTreeMap::new();
            for part in text.split(',').filter(|p| !p.is_empty()) {
                let mut it = part.split(':');
                let uuid = it.next().unwrap_or_default();
                let sid = parse_uuid(uuid).ok_or_else(|| format!("invalid server UUID {uuid:?} in GTID set"))?;
                let intervals = map.entry(sid).or_default();
                for iv in it {
                    let (a, b) = match iv.split_once('-') {
                        Some((a, b)) => (a, b),
                        None => (iv, iv),
                    };
                    let a: u64 = a
                        .parse()
                        .map_err(|_| format!("invalid GTID interval {iv:?} (tagged GTIDs are not supported)"))?;
                    let b: u64 = b.parse().map_err(|_| format!("invalid GTID interval {iv:?}"))?;
                    if a == 0 || b < a {
                        return Err(format!("invalid GTID interval {iv:?}"));
                    }
                    add_interval(intervals, a, b);
                }
            }
            Ok(GtidState::MySql(map))
        } else {
            let mut map = BTreeMap::new();
            for part in text.split(',').filter(|p| !p.is_empty()) {
                let mut it = part.split('-');
                let mut num = || -> Option<u64> { it.next()?.parse().ok() };
                match (num(), num(), num()) {
                    (Some(d), Some(s), Some(n)) if d <= u64::from(u32::MAX) && s <= u64::from(u32::MAX) => {
                        map.insert(d as u32, (s as u32, n));
                    }
                    _ => return Err(format!("invalid MariaDB GTID {part:?} (expected domain-server-seq)")),
                }
            }
            Ok(GtidState::MariaDb(map))
        }
    }

    pub fn add_mariadb(&mut self, g: &MariaGtid) {
        if let GtidState::MariaDb(map) = self {
            map.insert(g.domain, (g.server_id, g.seq));
        }
    }

    pub fn add_mysql(&mut self, sid: &[u8; 16], gno: i64) {
        if let GtidState::MySql(map) = self {
            if gno > 0 {
                add_interval(map.entry(*sid).or_default(), gno as u64, gno as u64);
            }
        }
    }

    /// The binlog state a MariaDB GTID_LIST event records (the last seq_no of each domain).
    pub fn from_gtid_list(body: &[u8]) -> DResult<GtidState> {
        let mut r = Reader::new(body);
        let count = r.u32_le()? & 0x0FFF_FFFF;
        let mut map: BTreeMap<u32, (u32, u64)> = BTreeMap::new();
        for _ in 0..count {
            let domain = r.u32_le()?;
            let server = r.u32_le()?;
            let seq = r.u64_le()?;
            match map.get(&domain) {
                Some(&(_, s)) if s >= seq => {}
                _ => {
                    map.insert(domain, (server, seq));
                }
            }
        }
        Ok(GtidState::MariaDb(map))
    }

    /// The executed set a MySQL PREVIOUS_GTIDS event records.
    pub fn from_previous_gtids(body: &[u8]) -> DResult<GtidState> {
        let mut r = Reader::new(body);
        let n_sids = r.u64_le()?;
        if n_sids >> 56 != 0 {
            return Err(DecodeError("PREVIOUS_GTIDS in the tagged-GTID format is not supported".into()));
        }
        let mut map = BTreeMap::new();
        for _ in 0..n_sids {
            let mut sid = [0u8; 16];
            sid.copy_from_slice(r.take(16)?);
            let n = r.u64_le()?;
            let intervals: &mut Vec<(u64, u64)> = map.entry(sid).or_default();
            for _ in 0..n {
                let start = r.u64_le()?;
                let end = r.u64_le()?;
                if start == 0 || end <= start {
                    return Err(DecodeError(format!("invalid GTID interval [{start}, {end})")));
                }
                add_interval(intervals, start, end - 1);
            }
        }
        Ok(GtidState::MySql(map))
    }
}

impl std::fmt::Display for GtidState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GtidState::MariaDb(map) => {
                for (i, (d, (s, n))) in map.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{d}-{s}-{n}")?;
                }
            }
            GtidState::MySql(map) => {
                let mut first = true;
                for (sid, ivs) in map.iter().filter(|(_, v)| !v.is_empty()) {
                    if !first {
                        f.write_str(",")?;
                    }
                    first = false;
                    f.write_str(&uuid_text(sid))?;
                    for &(a, b) in ivs {
                        if a == b {
                            write!(f, ":{a}")?;
                        } else {
                            write!(f, ":{a}-{b}")?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Adds the inclusive interval [a, b], merging with neighbours it touches.
fn add_interval(v: &mut Vec<(u64, u64)>, a: u64, b: u64) {
    // First interval that ends at or after a-1 (could touch or overlap).
    let i = v.partition_point(|&(_, e)| e.saturating_add(1) < a);
    let mut lo = a;
    let mut hi = b;
    let mut j = i;
    while j < v.len() && v[j].0 <= hi.saturating_add(1) {
        lo = lo.min(v[j].0);
        hi = hi.max(v[j].1);
        j += 1;
    }
    v.splice(i..j, std::iter::once((lo, hi)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mariadb_gtid_event() {
        // seq 0x0102 (258), domain 7, flags FL_STANDALONE|FL_TRANSACTIONAL? (1|4)
        let body = [0x02, 0x01, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 5];
        let g = parse_mariadb_gtid(&body, 3).unwrap();
        assert_eq!(g, MariaGtid { domain: 7, server_id: 3, seq: 258, flags: 5, commit_id: None });
        assert!(g.standalone());
        // 19-byte body as the server pads it (6 unused bytes)
        let mut b19 = body.to_vec();
        b19[12] = 4 | 8; // transactional, allow parallel
        b19.extend_from_slice(&[0; 6]);
        let g = parse_mariadb_gtid(&b19, 1).unwrap();
        assert!(!g.standalone());
        assert_eq!((g.domain, g.seq), (7, 258));
        // with a group commit id
        let mut gc = body.to_vec();
        gc[12] = FL_GROUP_COMMIT_ID;
        gc.extend_from_slice(&99u64.to_le_bytes());
        assert_eq!(parse_mariadb_gtid(&gc, 1).unwrap().commit_id, Some(99));
        assert!(parse_mariadb_gtid(&body[..10], 1).is_err());
        let mut short = body.to_vec();
        short[12] = FL_GROUP_COMMIT_ID;
        assert!(parse_mariadb_gtid(&short, 1).is_err());
    }

    fn sid() -> [u8; 16] {
        [0x3E, 0x11, 0xFA, 0x47, 0x71, 0xCA, 0x11, 0xE1, 0x9E, 0x33, 0xC8, 0x0A, 0xA9, 0x42, 0x95, 0x62]
    }

    #[test]
    fn mysql_gtid_event() {
        // MySQL 8.0 layout: flags, SID, GNO, typecode 2, last_committed, sequence_number,
        // immediate_commit_timestamp (7 bytes, top bit = original follows), original (7),
        // transaction_length (packed), original_server_version (4), immediate_server_version (4).
        let mut b = vec![0x00];
        b.extend_from_slice(&sid());
        b.extend_from_slice(&23u64.to_le_bytes());
        b.push(2);
        b.extend_from_slice(&11u64.to_le_bytes());
        b.extend_from_slice(&12u64.to_le_bytes());
        let immediate: u64 = 1_700_000_000_123_456;
        let mut ts = (immediate | (1 << 55)).to_le_bytes()[..7].to_vec();
        b.append(&mut ts);
        b.extend_from_slice(&(immediate - 5).to_le_bytes()[..7]);
        b.extend_from_slice(&[0xFC, 0x10, 0x01]); // 272 bytes
        b.extend_from_slice(&80_035u32.to_le_bytes());
        b.extend_from_slice(&80_035u32.to_le_bytes());
        let g = parse_mysql_gtid(&b).unwrap();
        assert_eq!(g.flags, 0);
        assert_eq!(g.sid, sid());
        assert_eq!(g.gno, 23);
        assert_eq!(g.last_committed, Some(11));
        assert_eq!(g.sequence_number, Some(12));
        assert_eq!(g.immediate_commit_us, Some(immediate));
        assert_eq!(g.original_commit_us, Some(immediate - 5));
        assert_eq!(g.transaction_length, Some(272));
        assert_eq!(uuid_text(&g.sid), "3e11fa47-71ca-11e1-9e33-c80aa9429562");
        // MySQL 5.7: no commit timestamps; 5.6: no logical timestamps.
        assert_eq!(parse_mysql_gtid(&b[..42]).unwrap().sequence_number, Some(12));
        let g56 = parse_mysql_gtid(&b[..25]).unwrap();
        assert_eq!((g56.gno, g56.last_committed), (23, None));
        // immediate timestamp without an original one
        let mut b2 = b[..42].to_vec();
        b2.extend_from_slice(&immediate.to_le_bytes()[..7]);
        let g = parse_mysql_gtid(&b2).unwrap();
        assert_eq!(g.original_commit_us, Some(immediate));
        let mut bad = b[..42].to_vec();
        bad[25] = 9;
        assert!(parse_mysql_gtid(&bad).is_err());
        assert!(parse_mysql_gtid(&b[..20]).is_err());
    }

    #[test]
    fn states() {
        let mut m = GtidState::parse("0-1-100, 2-5-7", false).unwrap();
        m.add_mariadb(&MariaGtid { domain: 0, server_id: 2, seq: 101, flags: 0, commit_id: None });
        m.add_mariadb(&MariaGtid { domain: 1, server_id: 1, seq: 1, flags: 0, commit_id: None });
        assert_eq!(m.to_string(), "0-2-101,1-1-1,2-5-7");
        assert!(GtidState::parse("0-1", false).is_err());
        assert_eq!(GtidState::parse("", false).unwrap().to_string(), "");

        let u = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
        let mut s = GtidState::parse(&format!("{u}:1-5:7,\n{u}:9"), true).unwrap();
        assert_eq!(s.to_string(), format!("{u}:1-5:7:9"));
        s.add_mysql(&sid(), 6);
        assert_eq!(s.to_string(), format!("{u}:1-7:9"));
        s.add_mysql(&sid(), 8);
        assert_eq!(s.to_string(), format!("{u}:1-9"));
        s.add_mysql(&sid(), 20);
        s.add_mysql(&sid(), 3);
        assert_eq!(s.to_string(), format!("{u}:1-9:20"));
        assert!(GtidState::parse("nope:1-2", true).is_err());
        assert!(GtidState::parse(&format!("{u}:tag:1-2"), true).is_err());

        // GTID_LIST: 2 entries of domain 0 (the higher seq wins) and one of domain 1.
        let mut gl = 3u32.to_le_bytes().to_vec();
        for (d, s, n) in [(0u32, 1u32, 10u64), (0, 2, 12), (1, 1, 4)] {
            gl.extend_from_slice(&d.to_le_bytes());
            gl.extend_from_slice(&s.to_le_bytes());
            gl.extend_from_slice(&n.to_le_bytes());
        }
        assert_eq!(GtidState::from_gtid_list(&gl).unwrap().to_string(), "0-2-12,1-1-4");
        // PREVIOUS_GTIDS: one SID with [1,6) and [8,9)
        let mut pg = 1u64.to_le_bytes().to_vec();
        pg.extend_from_slice(&sid());
        pg.extend_from_slice(&2u64.to_le_bytes());
        for v in [1u64, 6, 8, 9] {
            pg.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(GtidState::from_previous_gtids(&pg).unwrap().to_string(), format!("{u}:1-5:8"));
        assert!(GtidState::from_previous_gtids(&pg[..30]).is_err());
    }
}
