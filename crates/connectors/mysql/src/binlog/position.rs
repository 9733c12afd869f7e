//! Where a source's binlog stands: now, or at a point in time.

use super::ddl::{self, SqlMode, Statement};
use super::error::BinlogError;
use super::events;
use super::gtid::{self, GtidState};
use super::meta::{self, timed};
use mysql_async::binlog::events::Event;
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStream, BinlogStreamRequest, Conn, Row};
use opendts_core::change::SourcePosition;
use opendts_core::endpoint::Endpoint;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The end of the source's binlog now: `SHOW MASTER STATUS` (`SHOW BINARY LOG
/// STATUS` on MySQL 8.4+), with the GTID state at exactly that position:
/// `BINLOG_GTID_POS(file, pos)` on MariaDB, the `Executed_Gtid_Set` column of
/// the same result on MySQL (`None` when GTIDs are off or empty).
pub async fn current_position(ep: &Endpoint, timeout: Duration) -> Result<SourcePosition, BinlogError> {
    let fut = async {
        let mut conn = meta::open(ep, timeout).await?;
        let r = current_on(&mut conn, ep, timeout).await;
        crate::login::close(conn).await;
        r
    };
    tokio::time::timeout(timeout, fut).await.unwrap_or_else(|_| {
        Err(BinlogError::Lost(format!("reading the binlog position took more than {} s", timeout.as_secs())))
    })
}

async fn current_on(conn: &mut Conn, ep: &Endpoint, timeout: Duration) -> Result<SourcePosition, BinlogError> {
    let mariadb = meta::is_mariadb(conn, ep).await?;
    let row: Option<Row> = match timed(ep, timeout, "SHOW MASTER STATUS", conn.query_first("SHOW MASTER STATUS")).await
    {
        // MySQL 8.4 removed SHOW MASTER STATUS.
        Err(BinlogError::Source { code: 1064, .. }) => {
            timed(ep, timeout, "SHOW BINARY LOG STATUS", conn.query_first("SHOW BINARY LOG STATUS")).await?
        }
        r => r?,
    };
    let Some(row) = row else {
        return Err(BinlogError::Unsupported(
            "binary logging is off on the source (log_bin=OFF): enable log_bin with binlog_format=ROW and \
             binlog_row_image=FULL for incremental synchronization"
                .into(),
        ));
    };
    let file = text(&row, 0).unwrap_or_default();
    let pos: u64 = text(&row, 1).and_then(|p| p.trim().parse().ok()).unwrap_or(0);
    if file.is_empty() || pos == 0 {
        return Err(BinlogError::Invalid("SHOW MASTER STATUS returned no file or position".into()));
    }
    let gtid = if mariadb {
        let q = conn.exec_first::<Option<String>, _, _>("SELECT BINLOG_GTID_POS(?, ?)", (file.as_str(), pos));
        timed(ep, timeout, "BINLOG_GTID_POS", q).await?.flatten()
    } else {
        let idx = row.columns_ref().iter().position(|c| c.name_str().eq_ignore_ascii_case("Executed_Gtid_Set"));
        idx.and_then(|i| text(&row, i)).map(|s| s.chars().filter(|c| !c.is_whitespace()).collect())
    };
    Ok(SourcePosition::Binlog { file, pos, gtid: gtid.filter(|g: &String| !g.is_empty()) })
}

fn text(row: &Row, i: usize) -> Option<String> {
    match row.as_ref(i)? {
        mysql_async::Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        mysql_async::Value::Int(v) => Some(v.to_string()),
        mysql_async::Value::UInt(v) => Some(v.to_string()),
        _ => None,
    }
}

/// The position of the first transaction (or DDL) whose commit is at or after
/// `unix_seconds`: reading from it, the first Transaction/Ddl event has a
/// timestamp ≥ `unix_seconds` and every earlier one in the log is older. When
/// no such transaction exists yet, the end of the binlog.
///
/// Method: `SHOW BINARY LOGS` lists the files; a binary search over them reads
/// each probed file's FORMAT_DESCRIPTION event (its timestamp is the file's
/// creation time) to find the last file created at or before the time; then
/// that file and the following ones are read (non-blocking binlog dumps, so
/// the reads end at the end of the log) until the first commit event (XID,
/// COMMIT or a DDL statement) with a timestamp at or after it. The GTID state
/// at the returned position comes from the file's GTID_LIST (MariaDB) or
/// PREVIOUS_GTIDS (MySQL) event plus the transactions before it. The reads
/// register as replicas with temporary server ids in 0x3F000000..=0x3FFFFFFF
/// (outside the 0x40000000.. range the engine derives job replica ids from).
pub async fn position_at_time(
    ep: &Endpoint,
    unix_seconds: i64,
    timeout: Duration,
) -> Result<SourcePosition, BinlogError> {
    let fut = async {
        let mut conn = meta::open(ep, timeout).await?;
        let r = async {
            let mariadb = meta::is_mariadb(&mut conn, ep).await?;
            let rows: Vec<Row> = timed(ep, timeout, "SHOW BINARY LOGS", conn.query("SHOW BINARY LOGS")).await?;
            let files: Vec<String> = rows.iter().filter_map(|r| text(r, 0)).collect();
            Ok::<_, BinlogError>((mariadb, files))
        }
        .await;
        crate::login::close(conn).await;
        let (mariadb, files) = r?;
        if files.is_empty() {
            return Err(BinlogError::Unsupported("the source has no binary logs (log_bin=OFF?)".into()));
        }
        // Last file created at or before the time (or the first file).
        let (mut lo, mut hi, mut start) = (0usize, files.len(), 0usize);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let created = file_created(ep, &files[mid], mariadb, timeout).await?;
            if i64::from(created) <= unix_seconds {
                start = mid;
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        scan(ep, &files[start], mariadb, unix_seconds, timeout).await
    };
    tokio::time::timeout(timeout, fut).await.unwrap_or_else(|_| {
        Err(BinlogError::Lost(format!("searching the binlog by time took more than {} s", timeout.as_secs())))
    })
}

fn scan_server_id() -> u32 {
    static N: AtomicU32 = AtomicU32::new(0);
    let salt = std::process::id().wrapping_mul(2_654_435_761) ^ N.fetch_add(1, Ordering::Relaxed).wrapping_mul(40_503);
    0x3F00_0000 | (salt & 0x00FF_FFFF)
}

async fn dump(ep: &Endpoint, file: &str, mariadb: bool, timeout: Duration) -> Result<BinlogStream, BinlogError> {
    let mut conn = meta::open(ep, timeout).await?;
    if mariadb {
        timed(ep, timeout, "declaring the replica capability", conn.query_drop("SET @mariadb_slave_capability = 4"))
            .await?;
    }
    let req = BinlogStreamRequest::new(scan_server_id()).with_filename(file.as_bytes()).with_pos(4).with_non_blocking();
    timed(ep, timeout, "requesting the binlog", conn.get_binlog_stream(req)).await
}

/// The next event of a non-blocking dump; `None` at the end of the log.
async fn next(stream: &mut BinlogStream, ep: &Endpoint, timeout: Duration) -> Result<Option<Event>, BinlogError> {
    use futures_core::Stream;
    let fut = std::future::poll_fn(|cx| std::pin::Pin::new(&mut *stream).poll_next(cx));
    match tokio::time::timeout(timeout, fut).await {
        Err(_) => Err(BinlogError::Lost("the source stopped sending the binlog".into())),
        Ok(None) => Ok(None),
        Ok(Some(Err(e))) => Err(BinlogError::from_driver(e, ep, "reading the binlog")),
        Ok(Some(Ok(ev))) => Ok(Some(ev)),
    }
}

/// The creation time of a binlog file: its FORMAT_DESCRIPTION event's timestamp.
async fn file_created(ep: &Endpoint, file: &str, mariadb: bool, timeout: Duration) -> Result<u32, BinlogError> {
    let mut stream = dump(ep, file, mariadb, timeout).await?;
    let mut found = None;
    while let Some(ev) = next(&mut stream, ep, timeout).await? {
        if ev.header().event_type_raw() == events::FORMAT_DESCRIPTION {
            found = Some(ev.header().timestamp());
            break;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.close()).await;
    found.ok_or_else(|| BinlogError::Invalid(format!("binlog file {file} has no FORMAT_DESCRIPTION event")))
}

/// A transaction's pending GTID, applied to the state once it is known to be older than the target time.
enum Pending {
    None,
    Maria(gtid::MariaGtid),
    MySql([u8; 16], i64),
}

async fn scan(
    ep: &Endpoint,
    first_file: &str,
    mariadb: bool,
    unix_seconds: i64,
    timeout: Duration,
) -> Result<SourcePosition, BinlogError> {
    let mut stream = dump(ep, first_file, mariadb, timeout).await?;
    let mut file = first_file.to_string();
    let mut end: u64 = 4; // end of the last event read in `file`
    let mut post_header: Option<events::Fde> = None;
    let mut state: Option<GtidState> = None;
    let mut group_start: Option<u64> = None;
    let mut in_txn = false;
    let mut pending = Pending::None;
    let result = loop {
        let Some(ev) = next(&mut stream, ep, timeout).await? else {
            break SourcePosition::Binlog { file, pos: end, gtid: render(&state) };
        };
        let h = ev.header();
        let ty = h.event_type_raw();
        let log_pos = u64::from(h.log_pos());
        let before = end;
        let mut commit = false;
        match ty {
            events::ROTATE => {
                // The fake ROTATE opening the dump names the file we asked for (and may
                // carry a checksum the driver does not strip); real ones name the next file.
                let artificial = h.flags_raw() & events::LOG_EVENT_ARTIFICIAL_F != 0 || log_pos == 0;
                if artificial {
                    continue;
                }
                if let Ok((pos, name)) = events::parse_rotate(ev.data()) {
                    file = String::from_utf8_lossy(name).into_owned();
                    end = pos;
                }
                continue;
            }
            events::FORMAT_DESCRIPTION => post_header = events::parse_fde(ev.data()).ok(),
            events::MARIADB_GTID_LIST if mariadb => state = GtidState::from_gtid_list(ev.data()).ok(),
            events::PREVIOUS_GTIDS if !mariadb => state = GtidState::from_previous_gtids(ev.data()).ok(),
            events::MARIADB_GTID => {
                group_start = Some(before);
                in_txn = false;
                if let Ok(g) = gtid::parse_mariadb_gtid(ev.data(), h.server_id()) {
                    pending = Pending::Maria(g);
                }
            }
            events::GTID | events::ANONYMOUS_GTID | events::GTID_TAGGED => {
                group_start = Some(before);
                in_txn = false;
                pending = match (ty, gtid::parse_mysql_gtid(ev.data())) {
                    (events::GTID, Ok(g)) => Pending::MySql(g.sid, g.gno),
                    _ => Pending::None,
                };
            }
            events::QUERY => {
                let phl = post_header.as_ref().map_or(13, |f| f.post_header_len(events::QUERY, 13));
                if let Ok(q) = events::parse_query(ev.data(), phl) {
                    let sql = String::from_utf8_lossy(q.sql);
                    let schema = String::from_utf8_lossy(q.schema);
                    match ddl::classify(&sql, &schema, SqlMode::from_bits(q.sql_mode.unwrap_or(0))) {
                        Statement::Begin | Statement::XaStart => {
                            group_start.get_or_insert(before);
                            in_txn = true;
                        }
                        Statement::Commit | Statement::XaPrepare | Statement::Rollback => commit = true,
                        Statement::XaCommit | Statement::XaRollback => commit = true,
                        Statement::Ddl(_, _) if !in_txn => {
                            group_start.get_or_insert(before);
                            commit = true;
                        }
                        _ => {}
                    }
                }
            }
            events::TABLE_MAP
            | events::WRITE_ROWS_V1..=events::DELETE_ROWS_V1
            | events::WRITE_ROWS_V2..=events::DELETE_ROWS_V2 => {
                group_start.get_or_insert(before);
                in_txn = true;
            }
            events::XID | events::XA_PREPARE => commit = true,
            _ => {}
        }
        if log_pos > end {
            end = log_pos;
        }
        if commit {
            let start = group_start.take().unwrap_or(before);
            in_txn = false;
            if i64::from(h.timestamp()) >= unix_seconds {
                break SourcePosition::Binlog { file, pos: start, gtid: render(&state) };
            }
            match std::mem::replace(&mut pending, Pending::None) {
                Pending::Maria(g) => {
                    if let Some(s) = &mut state {
                        s.add_mariadb(&g)
                    }
                }
                Pending::MySql(sid, gno) => {
                    if let Some(s) = &mut state {
                        s.add_mysql(&sid, gno)
                    }
                }
                Pending::None => {}
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.close()).await;
    Ok(result)
}

fn render(state: &Option<GtidState>) -> Option<String> {
    state.as_ref().map(|s| s.to_string()).filter(|s| !s.is_empty())
}
