//! The binlog change source: reads a MySQL or MariaDB binary log over the
//! replication protocol (COM_REGISTER_SLAVE + COM_BINLOG_DUMP from a file and
//! offset, with a server_id of its own) and turns it into [`ChangeEvent`]s in
//! commit order.
//!
//! # Events
//! - Row changes of one transaction become one [`ChangeEvent::Transaction`],
//!   emitted at its XID (or COMMIT / XA PREPARE) with the position *after*
//!   the commit and the commit event's timestamp. A transaction is held in
//!   memory until its commit arrives.
//! - QUERY events that are not transaction control become [`ChangeEvent::Ddl`]
//!   with the position after them. Statements the classifier does not
//!   recognise (CREATE DATABASE, GRANT, FLUSH, CREATE USER ...) are
//!   [`DdlKind::Other`]. Statement-based INSERT/UPDATE/DELETE (a session with
//!   binlog_format=STATEMENT) is an error: it cannot be replayed row by row.
//! - Rotations, server heartbeats and transactions without rows become
//!   [`ChangeEvent::Heartbeat`]. A heartbeat sent by an idle server carries
//!   the local clock as its timestamp, so the delay of an idle job is 0.
//!
//! # Positions
//! Every position returned is one to resume from: `file`/`pos` is the end of
//! the last event consumed, and `gtid` the GTID state after it: for MariaDB
//! the `domain-server-seq` list (seeded from the start position's gtid, or
//! from `BINLOG_GTID_POS(file, pos)` when it has none), for MySQL the
//! executed set (seeded from the start position's gtid, or from a file's
//! PREVIOUS_GTIDS when reading a file from its start). `None` when unknown.
//!
//! # Values
//! Row images are decoded into [`Cell`](opendts_core::row::Cell)s that equal
//! what `SELECT` returns over the binary protocol with `SET NAMES binary,
//! time_zone = '+00:00'` (with unsigned integers and YEAR as `UInt`):
//!
//! | column type | cell |
//! |---|---|
//! | TINYINT..BIGINT | `Int`, or `UInt` when UNSIGNED (TABLE_MAP signedness, else information_schema) |
//! | YEAR | `UInt(year)`, `UInt(0)` for the zero year |
//! | DECIMAL(p,s) | `Bytes` of its exact text: `-`, integer digits (at least one), `.` and exactly s digits |
//! | FLOAT / DOUBLE | `Float` / `Double`, bit for bit |
//! | DATE, DATETIME(n) | `Date`; zero dates (and zero parts) as 0 fields |
//! | TIMESTAMP(n) | `Date` in UTC, independent of any session time zone; 0 is the zero date |
//! | TIME(n) | `Time` (sign, days = hours / 24, hours % 24, ...), negative and > 24 h |
//! | CHAR, VARCHAR, TEXT (any charset) | `Bytes` as stored, no charset conversion (CHAR without trailing spaces, as SELECT) |
//! | BINARY(n) | `Bytes` padded back to n bytes with 0x00 (the binlog drops the padding) |
//! | VARBINARY, BLOB | `Bytes` as stored |
//! | ENUM / SET | `Bytes` of the member text (`'a'`, `'a,c'`; `''` for index 0 / empty set) |
//! | BIT(n) | `Bytes`, (n+7)/8 bytes big-endian |
//! | JSON | MySQL: binary JSON converted to JSON text (`{"a": 1}`); MariaDB: the stored text |
//! | GEOMETRY | `Bytes`: 4-byte SRID + WKB, as SELECT returns |
//! | NULL | `Null` |
//!
//! Row events must carry full images (binlog_row_image=FULL); others are an
//! [`BinlogError::Unsupported`] error. Column names, signedness, ENUM/SET
//! members and BINARY columns come from the TABLE_MAP optional metadata
//! (binlog_row_metadata=FULL on MariaDB 10.5+ / MySQL 8.0.1+), else from
//! information_schema.COLUMNS over a second connection, cached per table and
//! dropped when a DDL statement names the table. That fallback reads the
//! *current* definition: events older than a later ALTER of the same table
//! cannot be matched and fail with a clear error.
//!
//! # Errors and retries
//! Any error leaves the source unusable: drop it and [`BinlogSource::connect`]
//! again from the last position returned ([`BinlogError::is_retryable`] says
//! whether that can help). The stream is watched: if neither an event nor a
//! heartbeat arrives for three heartbeat periods plus 10 s, `next` returns
//! [`BinlogError::Lost`]. `next` is not cancellation-safe; a caller that
//! drops its future must reconnect from the last position as well.

mod bytes;
mod ddl;
mod error;
mod events;
mod gtid;
mod json;
mod meta;
mod position;
mod rows;
mod table_map;
mod value;

pub use error::BinlogError;
pub use position::{current_position, position_at_time};

use bytes::DecodeError;
use ddl::{SqlMode, Statement};
use events::Fde;
use gtid::GtidState;
use mysql_async::binlog::events::Event;
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStream, BinlogStreamRequest};
use opendts_core::change::{ChangeEvent, DdlChange, DdlKind, RowChange, RowOp, SourcePosition};
use opendts_core::endpoint::Endpoint;
use opendts_core::row::TableId;
use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::time::Duration;
use table_map::TableMap;

/// Where and how to read a binlog.
#[derive(Debug, Clone)]
pub struct BinlogSourceConfig {
    pub endpoint: Endpoint,
    /// Our replica id: unique among all replicas of the source (a second
    /// replica registering with the same id disconnects the first).
    pub server_id: u32,
    /// A [`SourcePosition::Binlog`] to start from: the position after a
    /// committed transaction (or the start of a file, pos 4).
    pub start: SourcePosition,
    /// Period of the server's heartbeats on an idle binlog.
    pub heartbeat: Duration,
    /// Which tables' row changes to decode; others are skipped before their
    /// values are read (a shared server's binlog carries every database).
    pub tables: Option<TableFilter>,
}

/// A predicate on tables, cheap to clone.
#[derive(Clone)]
pub struct TableFilter(pub std::sync::Arc<dyn Fn(&TableId) -> bool + Send + Sync>);

impl std::fmt::Debug for TableFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TableFilter")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    /// Between transactions.
    None,
    /// After a GTID event, before BEGIN or the first row event.
    Gtid { standalone: bool },
    /// Inside a transaction.
    Txn,
}

/// A binlog reader; see the module documentation.
pub struct BinlogSource {
    /// Tables whose row changes are decoded (all when `None`).
    filter: Option<TableFilter>,
    ep: Endpoint,
    connection_id: u32,
    stream: BinlogStream,
    /// An event read by `connect` (to surface a bad start position early).
    first: Option<Event>,
    mysql: bool,
    /// The server checksums events, so the fake ROTATE that opens the stream
    /// (sent before the FORMAT_DESCRIPTION that says so) ends with 4 checksum bytes.
    checksum: bool,
    fde: Fde,
    file: String,
    /// End of the last event consumed in `file`.
    pos: u64,
    /// End of the last complete transaction or standalone event.
    committed_pos: u64,
    gtid: Option<GtidState>,
    /// The stream has read the current file from its start, so its
    /// GTID_LIST / PREVIOUS_GTIDS event is the state at our position.
    from_file_start: bool,
    group: Group,
    rows: Vec<RowChange>,
    tables: HashMap<u64, TableMap>,
    info: meta::InfoCache,
    queue: VecDeque<ChangeEvent>,
    silence: Duration,
    /// End position of a MySQL TRANSACTION_PAYLOAD event whose inner events are being read.
    payload_end: Option<u64>,
    last_ts: u32,
}

/// Cap on cached table maps (they are also dropped at each rotation).
const MAX_TABLE_MAPS: usize = 4096;

impl BinlogSource {
    /// Logs in, registers as a replica with `cfg.server_id` and requests the
    /// binlog from `cfg.start`. Fails early (with [`BinlogError::Source`] 1236)
    /// when the start file is not on the server any more.
    pub async fn connect(cfg: BinlogSourceConfig) -> Result<BinlogSource, BinlogError> {
        let SourcePosition::Binlog { file, pos, gtid } = &cfg.start else {
            return Err(BinlogError::Invalid("a MySQL binlog source needs a Binlog start position".into()));
        };
        if cfg.server_id == 0 {
            return Err(BinlogError::Invalid("the replica server_id must not be 0".into()));
        }
        let ep = cfg.endpoint.clone();
        let heartbeat = cfg.heartbeat.clamp(Duration::from_millis(100), Duration::from_secs(3600));
        let mut conn = meta::open(&ep, meta::QUERY_TIMEOUT).await?;
        let mariadb = meta::is_mariadb(&mut conn, &ep).await?;
        let setup = format!("SET @master_heartbeat_period = {}", heartbeat.as_nanos());
        meta::timed(&ep, meta::QUERY_TIMEOUT, "setting the heartbeat period", conn.query_drop(setup)).await?;
        if mariadb {
            // Native GTID events instead of placeholder QUERY events.
            meta::timed(
                &ep,
                meta::QUERY_TIMEOUT,
                "declaring the replica capability",
                conn.query_drop("SET @mariadb_slave_capability = 4"),
            )
            .await?;
        }
        let checksum: Option<String> = meta::timed(
            &ep,
            meta::QUERY_TIMEOUT,
            "reading binlog_checksum",
            conn.query_first("SELECT @@GLOBAL.binlog_checksum"),
        )
        .await?;
        let checksum = checksum.is_some_and(|c| !c.eq_ignore_ascii_case("NONE"));
        let gtid = match gtid.as_deref().map(str::trim) {
            Some(text) if !text.is_empty() => Some(GtidState::parse(text, !mariadb).map_err(BinlogError::Invalid)?),
            _ if mariadb => {
                let q = conn.exec_first::<Option<String>, _, _>("SELECT BINLOG_GTID_POS(?, ?)", (file.as_str(), *pos));
                let text = meta::timed(&ep, meta::QUERY_TIMEOUT, "BINLOG_GTID_POS", q).await?.flatten();
                text.and_then(|t| GtidState::parse(&t, false).ok())
            }
            _ => None,
        };
        let connection_id = conn.id();
        let request = BinlogStreamRequest::new(cfg.server_id).with_filename(file.as_bytes()).with_pos(*pos);
        let mut stream =
            meta::timed(&ep, meta::QUERY_TIMEOUT, "requesting the binlog", conn.get_binlog_stream(request)).await?;
        let silence = heartbeat * 3 + Duration::from_secs(10);
        let first = next_event(&mut stream, silence, &ep).await?;
        tracing::debug!(file = %file, pos, server_id = cfg.server_id, mariadb, "binlog stream opened");
        Ok(BinlogSource {
            ep: ep.clone(),
            connection_id,
            stream,
            first: Some(first),
            mysql: !mariadb,
            checksum,
            fde: Fde { server_version: String::new(), post_header: Vec::new() },
            file: file.clone(),
            pos: *pos,
            committed_pos: *pos,
            gtid,
            from_file_start: *pos <= 4,
            group: Group::None,
            rows: Vec::new(),
            tables: HashMap::new(),
            info: meta::InfoCache::new(ep),
            queue: VecDeque::new(),
            silence,
            payload_end: None,
            last_ts: 0,
            filter: cfg.tables.clone(),
        })
    }

    /// The next event in commit order.
    pub async fn next(&mut self) -> Result<ChangeEvent, BinlogError> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Ok(e);
            }
            let ev = match self.first.take() {
                Some(ev) => ev,
                None => next_event(&mut self.stream, self.silence, &self.ep).await?,
            };
            self.handle(&ev).await?;
        }
    }

    /// The position after the last transaction or statement returned (or the start).
    pub fn position(&self) -> SourcePosition {
        self.position_at(self.committed_pos)
    }

    /// The server's id of the replication connection (its `Binlog Dump` thread in SHOW PROCESSLIST).
    pub fn connection_id(&self) -> u32 {
        self.connection_id
    }

    /// Closes the replication connection and the metadata connection.
    pub async fn close(mut self) {
        self.info.close().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.stream.close()).await;
    }

    fn position_at(&self, pos: u64) -> SourcePosition {
        SourcePosition::Binlog {
            file: self.file.clone(),
            pos,
            gtid: self.gtid.as_ref().map(|g| g.to_string()).filter(|s| !s.is_empty()),
        }
    }

    fn decode_err(&self, ty: u8, pos: u64, e: DecodeError) -> BinlogError {
        BinlogError::Decode { file: self.file.clone(), pos, event: events::name(ty), detail: e.0 }
    }

    fn post_header_len(&self, ty: u8, default: u8) -> u8 {
        self.fde.post_header_len(ty, default)
    }

    async fn handle(&mut self, ev: &Event) -> Result<(), BinlogError> {
        let h = ev.header();
        let ty = h.event_type_raw();
        let log_pos = u64::from(h.log_pos());
        let ts = h.timestamp();
        let artificial = h.flags_raw() & events::LOG_EVENT_ARTIFICIAL_F != 0 || log_pos == 0;
        let in_payload = self.payload_end.is_some();
        let data = ev.data();
        let de = |s: &Self, e: DecodeError| s.decode_err(ty, log_pos, e);
        match ty {
            events::FORMAT_DESCRIPTION => {
                self.fde = events::parse_fde(data).map_err(|e| de(self, e))?;
            }
            events::ROTATE => {
                let body = match data.len().checked_sub(4) {
                    Some(n) if artificial && self.checksum && self.fde.post_header.is_empty() && n >= 8 => &data[..n],
                    _ => data,
                };
                let (pos, name) = events::parse_rotate(body).map_err(|e| de(self, e))?;
                let name = String::from_utf8_lossy(name).into_owned();
                self.file = name;
                self.pos = pos;
                if !artificial {
                    // A new file: table ids start over and its GTID list is our state.
                    self.tables.clear();
                    self.from_file_start = true;
                }
                if self.group == Group::None {
                    self.committed_pos = pos;
                    // The fake ROTATE that opens the stream only confirms the start position.
                    if !artificial {
                        let timestamp = if ts != 0 { ts } else { self.last_ts };
                        self.queue.push_back(ChangeEvent::Heartbeat { position: self.position(), timestamp });
                    }
                }
                return Ok(());
            }
            events::HEARTBEAT | events::HEARTBEAT_V2 => {
                if self.group == Group::None && self.queue.is_empty() {
                    self.queue.push_back(ChangeEvent::Heartbeat { position: self.position(), timestamp: now() });
                }
                return Ok(());
            }
            events::MARIADB_GTID => {
                let g = gtid::parse_mariadb_gtid(data, h.server_id()).map_err(|e| de(self, e))?;
                if let Some(state) = &mut self.gtid {
                    state.add_mariadb(&g);
                }
                self.start_group(Group::Gtid { standalone: g.standalone() });
            }
            events::GTID => {
                let g = gtid::parse_mysql_gtid(data).map_err(|e| de(self, e))?;
                if let Some(state) = &mut self.gtid {
                    state.add_mysql(&g.sid, g.gno);
                }
                self.start_group(Group::Gtid { standalone: false });
            }
            events::ANONYMOUS_GTID => self.start_group(Group::Gtid { standalone: false }),
            events::GTID_TAGGED => {
                // Tagged GTIDs (MySQL 8.3+) are not decoded: the GTID state would go stale.
                self.gtid = None;
                self.start_group(Group::Gtid { standalone: false });
            }
            events::MARIADB_GTID_LIST if self.from_file_start && !self.mysql => {
                self.gtid = Some(GtidState::from_gtid_list(data).map_err(|e| de(self, e))?);
            }
            events::PREVIOUS_GTIDS if self.from_file_start && self.mysql => {
                self.gtid = GtidState::from_previous_gtids(data).ok();
            }
            events::QUERY => self.query(data, ts, log_pos).await?,
            events::XID | events::XA_PREPARE => self.commit(ts, log_pos),
            events::TABLE_MAP => self.table_map(data, log_pos).await?,
            events::WRITE_ROWS_V1..=events::DELETE_ROWS_V1 | events::WRITE_ROWS_V2..=events::DELETE_ROWS_V2 => {
                self.rows_event(ty, data, log_pos)?
            }
            events::TRANSACTION_PAYLOAD => {
                self.payload_end = Some(log_pos);
                return Ok(());
            }
            events::PARTIAL_UPDATE_ROWS => {
                return Err(BinlogError::Unsupported(
                    "the source logs partial JSON updates (binlog_row_value_options=PARTIAL_JSON): set \
                     binlog_row_value_options='' so updates carry full row images"
                        .into(),
                ))
            }
            events::MARIADB_QUERY_COMPRESSED..=events::MARIADB_DELETE_ROWS_COMPRESSED => {
                return Err(BinlogError::Unsupported(
                    "the source writes compressed binlog events (log_bin_compress=ON), which OpenDTS does not \
                     decode: set log_bin_compress=OFF and restart the synchronization"
                        .into(),
                ))
            }
            events::INCIDENT => {
                return Err(BinlogError::Unsupported(format!(
                    "the source logged an INCIDENT event at {}:{log_pos}: changes may be missing from its binlog, \
                     so the target can no longer be kept identical; start a new full load",
                    self.file
                )))
            }
            _ => {}
        }
        if ts != 0 && !artificial {
            self.last_ts = ts;
        }
        if !artificial && !in_payload && log_pos > self.pos {
            self.pos = log_pos;
            if self.group == Group::None {
                self.committed_pos = log_pos;
            }
        }
        Ok(())
    }

    fn start_group(&mut self, g: Group) {
        if self.group == Group::Txn && !self.rows.is_empty() {
            tracing::warn!(
                file = %self.file,
                pos = self.pos,
                rows = self.rows.len(),
                "a transaction in the binlog ended without COMMIT; its rows are dropped"
            );
            self.rows.clear();
        }
        self.group = g;
    }

    fn commit(&mut self, ts: u32, log_pos: u64) {
        let end = self.payload_end.take().unwrap_or(log_pos);
        self.pos = self.pos.max(end);
        self.committed_pos = self.pos;
        self.group = Group::None;
        let position = self.position();
        if self.rows.is_empty() {
            self.queue.push_back(ChangeEvent::Heartbeat { position, timestamp: ts });
        } else {
            let rows = std::mem::take(&mut self.rows);
            self.queue.push_back(ChangeEvent::Transaction { rows, position, timestamp: ts });
        }
    }

    async fn query(&mut self, data: &[u8], ts: u32, log_pos: u64) -> Result<(), BinlogError> {
        let q = events::parse_query(data, self.post_header_len(events::QUERY, 13))
            .map_err(|e| self.decode_err(events::QUERY, log_pos, e))?;
        let schema = String::from_utf8_lossy(q.schema);
        let sql = String::from_utf8_lossy(q.sql);
        let stmt = ddl::classify(&sql, &schema, SqlMode::from_bits(q.sql_mode.unwrap_or(0)));
        let in_txn = self.group == Group::Txn;
        match stmt {
            Statement::Begin | Statement::XaStart => self.group = Group::Txn,
            Statement::Commit | Statement::XaPrepare => self.commit(ts, log_pos),
            Statement::XaCommit if in_txn => self.commit(ts, log_pos),
            Statement::Rollback | Statement::XaRollback if in_txn => {
                // Only transactions that touched non-transactional tables are
                // logged with ROLLBACK; their transactional changes were undone.
                self.rows.clear();
                self.commit(ts, log_pos);
            }
            Statement::XaCommit | Statement::Rollback | Statement::XaRollback => {
                self.group = Group::None;
                self.queue.push_back(ChangeEvent::Heartbeat { position: self.position_at(log_pos), timestamp: ts });
            }
            Statement::XaEnd | Statement::Savepoint => {}
            Statement::Empty => {
                if let Group::Gtid { standalone: true } = self.group {
                    self.group = Group::None;
                }
            }
            Statement::Dml => {
                return Err(BinlogError::Unsupported(format!(
                    "statement-based change in the binlog at {}:{log_pos} ({:.200}): OpenDTS reads row events \
                     only. Set binlog_format=ROW on the source (globally and for the writing sessions) and \
                     start a new full load",
                    self.file, sql
                )))
            }
            Statement::Ddl(kind, tables) => {
                if in_txn && kind == DdlKind::Other {
                    return Ok(());
                }
                self.invalidate(kind, &tables);
                if !in_txn {
                    self.group = Group::None;
                    if log_pos > self.pos {
                        self.pos = log_pos;
                    }
                    self.committed_pos = self.pos;
                }
                let ddl = DdlChange { schema: schema.into_owned(), statement: sql.into_owned(), kind, tables };
                self.queue.push_back(ChangeEvent::Ddl { ddl, position: self.position_at(log_pos), timestamp: ts });
            }
        }
        Ok(())
    }

    /// A DDL statement may change the columns of the tables it names (any
    /// table for statements we do not parse): forget their metadata.
    fn invalidate(&mut self, kind: DdlKind, tables: &[TableId]) {
        if kind == DdlKind::Other && tables.is_empty() {
            self.info.clear();
            self.tables.clear();
        } else {
            self.info.invalidate(tables);
            self.tables.retain(|_, t| !tables.contains(&t.table));
        }
    }

    async fn table_map(&mut self, data: &[u8], log_pos: u64) -> Result<(), BinlogError> {
        let id_len = table_map::table_id_len(self.post_header_len(events::TABLE_MAP, 8));
        let id = match data.get(..id_len) {
            Some(b) => bytes::le(b),
            None => return Err(self.decode_err(events::TABLE_MAP, log_pos, DecodeError::new("truncated"))),
        };
        if self.tables.get(&id).is_some_and(|t| t.raw == data) {
            return Ok(());
        }
        let mut tm =
            table_map::parse(data, id_len, !self.mysql).map_err(|e| self.decode_err(events::TABLE_MAP, log_pos, e))?;
        if tm.needs_info() {
            let info = self.info.columns(&tm.table).await?;
            tm.apply_info(&info).map_err(BinlogError::Invalid)?;
        }
        if self.tables.len() >= MAX_TABLE_MAPS {
            self.tables.clear();
        }
        self.tables.insert(id, tm);
        Ok(())
    }

    fn rows_event(&mut self, ty: u8, data: &[u8], log_pos: u64) -> Result<(), BinlogError> {
        let v2 = ty >= events::WRITE_ROWS_V2;
        let op = match ty {
            events::WRITE_ROWS_V1 | events::WRITE_ROWS_V2 => RowOp::Insert,
            events::UPDATE_ROWS_V1 | events::UPDATE_ROWS_V2 => RowOp::Update,
            _ => RowOp::Delete,
        };
        let id_len = table_map::table_id_len(self.post_header_len(ty, if v2 { 10 } else { 8 }));
        let ev =
            rows::parse_header(data, id_len, v2, op == RowOp::Update).map_err(|e| self.decode_err(ty, log_pos, e))?;
        self.group = Group::Txn;
        let Some(tm) = self.tables.get(&ev.table_id) else {
            return Err(self.decode_err(
                ty,
                log_pos,
                DecodeError(format!(
                    "no TABLE_MAP for table id {} (the stream did not start at a transaction boundary?)",
                    ev.table_id
                )),
            ));
        };
        if self.filter.as_ref().is_some_and(|f| !(f.0)(&tm.table)) {
            return Ok(());
        }
        if ev.ncols != tm.columns.len() {
            let msg =
                format!("{} columns in the row event, {} in the TABLE_MAP of {}", ev.ncols, tm.columns.len(), tm.table);
            return Err(self.decode_err(ty, log_pos, DecodeError(msg)));
        }
        if !ev.is_full_image() {
            return Err(BinlogError::Unsupported(format!(
                "the source does not log full row images (binlog_row_image is not FULL): a row change of {} at \
                 {}:{log_pos} lacks columns. Set binlog_row_image=FULL on the source (globally and for the \
                 writing sessions) and start a new full load",
                tm.table, self.file
            )));
        }
        if let Err(e) = rows::decode(tm, &ev, op, &mut self.rows) {
            let e = DecodeError(format!("{}: {e}", tm.table));
            return Err(self.decode_err(ty, log_pos, e));
        }
        Ok(())
    }
}

/// Reads the next event, or fails when the stream ended, broke or stayed silent for `silence`.
async fn next_event(stream: &mut BinlogStream, silence: Duration, ep: &Endpoint) -> Result<Event, BinlogError> {
    use futures_core::Stream;
    let next = std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx));
    match tokio::time::timeout(silence, next).await {
        Err(_) => {
            Err(BinlogError::Lost(format!("no event and no heartbeat from the source for {} s", silence.as_secs())))
        }
        Ok(None) => Err(BinlogError::Lost("the source ended the binlog stream".into())),
        Ok(Some(Err(e))) => Err(BinlogError::from_driver(e, ep, "reading the binlog")),
        Ok(Some(Ok(ev))) => Ok(ev),
    }
}

fn now() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as u32).unwrap_or(0)
}
