//! The WAL change source: reads a PostgreSQL logical replication slot with the
//! `pgoutput` plugin (protocol version 1, over pgwire-replication) and turns
//! it into [`ChangeEvent`]s in commit order.
//!
//! # Slot and publication
//! Each job has a publication and a logical slot, both named
//! [`object_name`]`(job_id)` = `opendts_<job>`, in the endpoint's database.
//! [`ensure_slot_and_publication`] creates them (the slot with an exported
//! snapshot for the full load, see [`SlotInfo`]) and is idempotent;
//! [`ensure_slot_and_publication_with`] does the same with DDL capture (the
//! publication also carries `opendts_meta.ddl_log`, and schemas selected
//! whole are followed: see [`ddl`], installed by [`install_ddl_capture`]);
//! [`drop_slot_and_publication`] removes both. [`slot_state`] reads
//! `pg_replication_slots` (confirmed LSN and lag in bytes, for Delay).
//!
//! # Events
//! - Row changes between Begin and Commit become one
//!   [`ChangeEvent::Transaction`] with `SourcePosition::Lsn(commit end LSN)`
//!   and the commit time. A transaction is held in memory until its commit.
//! - TRUNCATE (published by default) becomes [`ChangeEvent::Ddl`] of kind
//!   `TruncateTable` in its place inside the transaction: the rows before it
//!   and the TRUNCATE are emitted with `Lsn(commit LSN)` (the start of the
//!   commit record: resuming there replays the whole transaction), the last
//!   piece with the commit end LSN.
//! - Inserts into `opendts_meta.ddl_log` (see [`ddl`]: DDL captured by an
//!   event trigger) become [`ChangeEvent::Ddl`] in their place inside the
//!   transaction, positioned like TRUNCATE; other changes of that table
//!   (purges) are ignored.
//! - Transactions without published rows, server keepalives (outside a
//!   transaction) and `heartbeat` periods without any message become
//!   [`ChangeEvent::Heartbeat`] at the furthest position known safe to resume
//!   from, with the local clock as timestamp.
//!
//! # Rows
//! `columns` are the Relation message's column names. `after` is the new row.
//! `before` holds what pgoutput sends of the old row: with REPLICA IDENTITY
//! FULL the whole old row; otherwise only the replica identity (primary key
//! or index) columns are meaningful and the others are `Cell::Null` — for an
//! UPDATE that did not change the key, pgoutput sends no old row and the key
//! is taken from the new row. Use the table's key to locate rows.
//!
//! ## Unchanged TOASTed values
//! An UPDATE that does not touch a TOASTed (large, out-of-line) column sends
//! it as "unchanged" without its value. When the old row carries it
//! (REPLICA IDENTITY FULL) the value is taken from there. Otherwise the
//! column is **left out of that RowChange**: `columns`, `before` and `after`
//! all omit it, so an UPDATE's `columns` may be a subset of the table's
//! columns, and the applier must set only the columns listed (leaving the
//! others untouched), matching cells to columns by name, never by position
//! in the table.
//!
//! # Values
//! Values arrive in text format; the session pins `TimeZone=UTC`,
//! `DateStyle=ISO`, `IntervalStyle=postgres`, `extra_float_digits=3`,
//! `bytea_output=hex`. Mapping by type OID:
//!
//! | type | cell |
//! |---|---|
//! | int2, int4, int8 | `Int` |
//! | oid | `UInt` |
//! | bool | `Int(1)` / `Int(0)` (as MySQL's TINYINT(1)) |
//! | float4 / float8 | `Float` / `Double` (NaN, ±Infinity included) |
//! | numeric | `Bytes` of its text (`NaN` included) |
//! | bytea | `Bytes` of the decoded value |
//! | date, timestamp | `Date` |
//! | timestamptz | `Date` in UTC |
//! | time | `Time` |
//! | infinity / BC dates and timestamps | `Bytes` of the text |
//! | everything else (text, varchar, char, json, jsonb, uuid, inet, timetz, interval, arrays, enums, ...) | `Bytes` of the text |
//! | NULL | `Null` |
//!
//! # Acknowledgement
//! Nothing is acknowledged to the server by reading: [`WalSource::confirm`]
//! raises the LSN reported as written/flushed/applied in standby status
//! updates (sent every `status_interval`), which lets the server advance the
//! slot's `confirmed_flush_lsn` and recycle WAL. Call it only with positions
//! whose changes the target has durably committed.
//!
//! # Errors
//! Any error leaves the source unusable: drop it and connect again from the
//! last position confirmed. `next` is not cancellation-safe.

pub(crate) mod ddl;
mod pgoutput;
mod slot;

pub use ddl::{check_ddl_capture, install_ddl_capture, DdlCapture, CAPTURE_SCHEMA, LOG_TABLE};
pub use pgoutput::{RelColumn, Relation};
pub use slot::{
    drop_slot_and_publication, ensure_slot_and_publication, ensure_slot_and_publication_with, export_snapshot, object_name,
    slot_state, whole_schemas, ExportedSnapshot, PublicationSpec, SlotInfo, SlotState,
};

use crate::{login, tcp};
use opendts_core::change::{ChangeEvent, DdlChange, DdlKind, RowChange, RowOp, SourcePosition};
use opendts_core::endpoint::Endpoint;
use opendts_core::row::{Cell, TableId};
use pgoutput::{Datum, Message};
use pgwire_replication::{Lsn, ReplicationClient, ReplicationConfig, ReplicationEvent, TlsConfig};
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// Errors of the WAL source and of slot management.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("connecting to PostgreSQL failed: {0}")]
    Connect(String),
    #[error("{0}")]
    Sql(String),
    #[error("replication stream: {0}")]
    Replication(String),
    #[error("undecodable replication data: {0}")]
    Protocol(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("the replication stream ended")]
    Closed,
    /// DDL capture cannot be installed (the role is not a superuser): the
    /// job can run, but DDL will not be synchronized.
    #[error("DDL will not be synchronized: {0}")]
    DdlCaptureDenied(String),
}

impl WalError {
    /// Whether connecting again may help (network and server-side stream errors).
    pub fn is_retryable(&self) -> bool {
        matches!(self, WalError::Connect(_) | WalError::Replication(_) | WalError::Closed)
    }
}

/// Formats an LSN as PostgreSQL does (`16/B374D848`).
pub fn lsn_text(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)
}

/// Parses PostgreSQL's `X/Y` LSN text.
pub fn parse_lsn(s: &str) -> Result<u64, WalError> {
    let bad = || WalError::Protocol(format!("invalid LSN {s:?}"));
    let (hi, lo) = s.trim().split_once('/').ok_or_else(bad)?;
    Ok((u64::from_str_radix(hi, 16).map_err(|_| bad())? << 32) | u64::from_str_radix(lo, 16).map_err(|_| bad())?)
}

/// The session settings that make text values stable.
const SESSION_OPTIONS: &str =
    "-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=postgres -c extra_float_digits=3 -c bytea_output=hex";

pub(crate) fn replication_config(ep: &Endpoint, slot: &str, publication: &str, start: u64) -> Result<ReplicationConfig, WalError> {
    let t = tcp::target(ep).map_err(|o| WalError::Connect(o.detail))?;
    Ok(ReplicationConfig::new(t.host, ep.user_name.clone(), ep.password.expose(), login::database(ep), slot, publication)
        .with_port(t.port)
        .with_tls(TlsConfig::disabled())
        .with_start_lsn(Lsn(start))
        .with_options(SESSION_OPTIONS)
        .with_application_name("opendts"))
}

/// Where and how to read.
#[derive(Debug, Clone)]
pub struct WalSourceConfig {
    pub endpoint: Endpoint,
    pub slot: String,
    pub publication: String,
    /// Where to resume: the last confirmed position (0 = the slot's
    /// `confirmed_flush_lsn`). The server never goes back before the slot's
    /// confirmed position.
    pub start_lsn: u64,
    /// A Heartbeat is emitted after this long without any message.
    pub heartbeat: Duration,
    /// How often confirmed positions are reported to the server.
    pub status_interval: Duration,
}

impl WalSourceConfig {
    pub fn new(endpoint: Endpoint, slot: impl Into<String>, publication: impl Into<String>, start_lsn: u64) -> WalSourceConfig {
        WalSourceConfig {
            endpoint,
            slot: slot.into(),
            publication: publication.into(),
            start_lsn,
            heartbeat: Duration::from_secs(10),
            status_interval: Duration::from_secs(1),
        }
    }
}

enum Item {
    Row(RowChange),
    Ddl(DdlChange),
}

/// A running logical replication stream.
pub struct WalSource {
    client: ReplicationClient,
    heartbeat: Duration,
    relations: HashMap<u32, Relation>,
    /// Resume position: end of the last commit or keepalive seen outside a transaction.
    position: u64,
    confirmed: u64,
    in_txn: bool,
    items: Vec<Item>,
    pending: VecDeque<ChangeEvent>,
}

fn now() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as u32).unwrap_or(0)
}

/// PostgreSQL timestamps count microseconds from 2000-01-01.
fn unix_seconds(pg_micros: i64) -> u32 {
    (pg_micros.div_euclid(1_000_000) + 946_684_800).clamp(0, u32::MAX as i64) as u32
}

impl WalSource {
    /// Starts streaming slot `cfg.slot` for `cfg.publication` from
    /// `cfg.start_lsn`. Fails when the slot or publication does not exist or
    /// the slot is in use by another session.
    pub async fn connect(cfg: WalSourceConfig) -> Result<WalSource, WalError> {
        let rc = replication_config(&cfg.endpoint, &cfg.slot, &cfg.publication, cfg.start_lsn)?
            .with_status_interval(cfg.status_interval)
            .with_wakeup_interval(cfg.status_interval);
        let mut client = ReplicationClient::connect_gated(rc).await.map_err(|e| WalError::Replication(e.to_string()))?;
        client.start().await.map_err(|e| WalError::Replication(e.to_string()))?;
        client.wait_started().await.map_err(|e| WalError::Replication(e.to_string()))?;
        Ok(WalSource {
            client,
            heartbeat: cfg.heartbeat,
            relations: HashMap::new(),
            position: cfg.start_lsn,
            confirmed: cfg.start_lsn,
            in_txn: false,
            items: Vec::new(),
            pending: VecDeque::new(),
        })
    }

    /// The position to resume from after everything returned so far.
    pub fn position(&self) -> SourcePosition {
        SourcePosition::Lsn(self.position)
    }

    /// The last LSN passed to [`confirm`](Self::confirm) (or the start LSN).
    pub fn confirmed(&self) -> u64 {
        self.confirmed
    }

    /// The last Relation message of a table (columns, types, replica identity key).
    pub fn relation(&self, table: &TableId) -> Option<&Relation> {
        self.relations.values().find(|r| r.schema == table.schema && r.table == table.table)
    }

    /// Declares every change up to `lsn` durably applied: the server may
    /// advance the slot to it and recycle older WAL. Monotonic; reported in
    /// the next standby status update.
    pub fn confirm(&mut self, lsn: u64) {
        if lsn > self.confirmed {
            self.confirmed = lsn;
            self.client.update_applied_lsn(Lsn(lsn));
        }
    }

    /// Stops the stream cleanly (CopyDone) and releases the slot.
    pub async fn close(mut self) -> Result<(), WalError> {
        self.client.shutdown().await.map_err(|e| WalError::Replication(e.to_string()))
    }

    /// The next event.
    pub async fn next(&mut self) -> Result<ChangeEvent, WalError> {
        // One heartbeat timer per call, not per message: a transaction is
        // many messages, and arming a timer costs about as much as one.
        let quiet = tokio::time::sleep(self.heartbeat);
        let mut quiet = std::pin::pin!(quiet);
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Ok(ev);
            }
            let received = tokio::select! {
                biased;
                received = self.client.recv() => Some(received),
                () = &mut quiet => None,
            };
            let ev = match received {
                None => {
                    if self.in_txn {
                        quiet.as_mut().reset(tokio::time::Instant::now() + self.heartbeat);
                        continue;
                    }
                    return Ok(ChangeEvent::Heartbeat { position: self.position(), timestamp: now() });
                }
                Some(Err(e)) => return Err(WalError::Replication(e.to_string())),
                Some(Ok(None)) => return Err(WalError::Closed),
                Some(Ok(Some(ev))) => ev,
            };
            match ev {
                ReplicationEvent::Begin { .. } => {
                    self.in_txn = true;
                    self.items.clear();
                }
                ReplicationEvent::XLogData { data, .. } => {
                    let msg = pgoutput::parse(&data).map_err(WalError::Protocol)?;
                    self.on_message(msg)?;
                }
                ReplicationEvent::Commit { lsn, end_lsn, commit_time_micros } => {
                    self.in_txn = false;
                    self.position = self.position.max(end_lsn.0);
                    let timestamp = unix_seconds(commit_time_micros);
                    let items = std::mem::take(&mut self.items);
                    let n_items = items.len();
                    let mut rows = Vec::new();
                    for (i, item) in items.into_iter().enumerate() {
                        match item {
                            Item::Row(r) => rows.push(r),
                            Item::Ddl(ddl) => {
                                let mid = SourcePosition::Lsn(lsn.0);
                                if !rows.is_empty() {
                                    let rows = std::mem::take(&mut rows);
                                    self.pending.push_back(ChangeEvent::Transaction { rows, position: mid.clone(), timestamp });
                                }
                                let position = if i + 1 == n_items { self.position() } else { mid };
                                self.pending.push_back(ChangeEvent::Ddl { ddl, position, timestamp });
                            }
                        }
                    }
                    if !rows.is_empty() {
                        self.pending.push_back(ChangeEvent::Transaction { rows, position: self.position(), timestamp });
                    }
                    if self.pending.is_empty() {
                        return Ok(ChangeEvent::Heartbeat { position: self.position(), timestamp });
                    }
                }
                ReplicationEvent::KeepAlive { wal_end, .. } if !self.in_txn => {
                    self.position = self.position.max(wal_end.0);
                    return Ok(ChangeEvent::Heartbeat { position: self.position(), timestamp: now() });
                }
                ReplicationEvent::StoppedAt { .. } => return Err(WalError::Closed),
                _ => {}
            }
        }
    }

    fn rel(&self, oid: u32) -> Result<&Relation, WalError> {
        self.relations.get(&oid).ok_or_else(|| WalError::Protocol(format!("change for relation {oid} before its Relation message")))
    }

    fn on_message(&mut self, msg: Message) -> Result<(), WalError> {
        let change = match msg {
            Message::Relation(r) => {
                self.relations.insert(r.oid, r);
                return Ok(());
            }
            Message::Insert { rel, new } => {
                let r = self.rel(rel)?;
                check_len(r, &new)?;
                if is_ddl_log(r) {
                    if let Some(ddl) = ddl::change_from_log(&log_row(r, &new)?)? {
                        self.items.push(Item::Ddl(ddl));
                    }
                    return Ok(());
                }
                if new.contains(&Datum::Unchanged) {
                    return Err(WalError::Protocol(format!("INSERT into {}.{} with an unchanged value", r.schema, r.table)));
                }
                let keep = vec![true; r.columns.len()];
                RowChange {
                    table: TableId::new(&r.schema, &r.table),
                    op: RowOp::Insert,
                    columns: names(r, &keep),
                    before: None,
                    after: Some(cells(r, new, &keep)?),
                }
            }
            Message::Update { rel, .. } | Message::Delete { rel, .. } if self.rel(rel).is_ok_and(is_ddl_log) => return Ok(()),
            Message::Update { rel, old, old_full, new } => {
                let r = self.rel(rel)?;
                check_len(r, &new)?;
                if let Some(o) = &old {
                    check_len(r, o)?;
                }
                let mut new = new;
                let mut keep = vec![true; r.columns.len()];
                for i in 0..new.len() {
                    if new[i] == Datum::Unchanged {
                        match old.as_ref().map(|o| &o[i]) {
                            Some(d @ (Datum::Text(_) | Datum::Binary(_) | Datum::Null)) if old_full => new[i] = d.clone(),
                            _ => keep[i] = false,
                        }
                    }
                }
                // The old row: full, key-only, or (key unchanged) the key from the new row.
                let before: Vec<Datum> = match old {
                    Some(o) if old_full => o,
                    Some(o) => key_only(r, o),
                    None => key_of(r, &new),
                };
                for (i, d) in before.iter().enumerate() {
                    if *d == Datum::Unchanged {
                        keep[i] = false;
                    }
                }
                RowChange {
                    table: TableId::new(&r.schema, &r.table),
                    op: RowOp::Update,
                    columns: names(r, &keep),
                    before: Some(cells(r, before, &keep)?),
                    after: Some(cells(r, new, &keep)?),
                }
            }
            Message::Delete { rel, old, old_full } => {
                let r = self.rel(rel)?;
                check_len(r, &old)?;
                let old = if old_full { old } else { key_only(r, old) };
                let keep: Vec<bool> = old.iter().map(|d| *d != Datum::Unchanged).collect();
                RowChange {
                    table: TableId::new(&r.schema, &r.table),
                    op: RowOp::Delete,
                    columns: names(r, &keep),
                    before: Some(cells(r, old, &keep)?),
                    after: None,
                }
            }
            Message::Truncate { rels, cascade, restart_identity } => {
                let tables = rels.iter().map(|o| self.rel(*o).map(|r| TableId::new(&r.schema, &r.table))).collect::<Result<Vec<_>, _>>()?;
                let list = tables.iter().map(|t| format!("\"{}\".\"{}\"", t.schema.replace('"', "\"\""), t.table.replace('"', "\"\""))).collect::<Vec<_>>().join(", ");
                let mut statement = format!("TRUNCATE TABLE {list}");
                if restart_identity {
                    statement.push_str(" RESTART IDENTITY");
                }
                if cascade {
                    statement.push_str(" CASCADE");
                }
                self.items.push(Item::Ddl(DdlChange {
                    schema: tables.first().map(|t| t.schema.clone()).unwrap_or_default(),
                    statement,
                    kind: DdlKind::TruncateTable,
                    tables,
                }));
                return Ok(());
            }
            Message::Other(_) => return Ok(()),
        };
        self.items.push(Item::Row(change));
        Ok(())
    }
}

fn is_ddl_log(r: &Relation) -> bool {
    r.schema == CAPTURE_SCHEMA && r.table == LOG_TABLE
}

/// The columns of a `ddl_log` row the WAL source needs, by name.
fn log_row(r: &Relation, t: &[Datum]) -> Result<ddl::LogRow, WalError> {
    let text = |name: &str| -> Result<String, WalError> {
        let i = r.columns.iter().position(|c| c.name == name);
        match i.and_then(|i| t.get(i)) {
            Some(Datum::Text(v)) => Ok(String::from_utf8_lossy(v).into_owned()),
            Some(Datum::Null) => Ok(String::new()),
            _ => Err(WalError::Protocol(format!("ddl_log row without a value for {name}"))),
        }
    };
    let ordinal = text("ordinal")?;
    Ok(ddl::LogRow {
        query: text("query")?,
        command_tag: text("command_tag")?,
        ordinal: ordinal.parse().map_err(|_| WalError::Protocol(format!("ddl_log.ordinal {ordinal:?}")))?,
        objects: text("objects")?,
        search_path: text("search_path")?,
        username: text("username")?,
    })
}

fn check_len(r: &Relation, t: &[Datum]) -> Result<(), WalError> {
    if t.len() != r.columns.len() {
        return Err(WalError::Protocol(format!(
            "{}.{}: tuple has {} columns, Relation has {}",
            r.schema,
            r.table,
            t.len(),
            r.columns.len()
        )));
    }
    Ok(())
}

/// Keeps the replica identity columns, `Null` elsewhere.
fn key_only(r: &Relation, mut t: Vec<Datum>) -> Vec<Datum> {
    for (d, c) in t.iter_mut().zip(&r.columns) {
        if !c.key {
            *d = Datum::Null;
        }
    }
    t
}

/// [`key_only`] of a row that stays whole: only the key's values are copied.
fn key_of(r: &Relation, t: &[Datum]) -> Vec<Datum> {
    t.iter().zip(&r.columns).map(|(d, c)| if c.key { d.clone() } else { Datum::Null }).collect()
}

fn names(r: &Relation, keep: &[bool]) -> std::sync::Arc<[String]> {
    if keep.iter().all(|k| *k) {
        return r.names.clone();
    }
    r.columns.iter().zip(keep).filter(|(_, k)| **k).map(|(c, _)| c.name.clone()).collect()
}

fn cells(r: &Relation, t: Vec<Datum>, keep: &[bool]) -> Result<Vec<Cell>, WalError> {
    let mut out = Vec::with_capacity(t.len());
    for ((d, c), k) in t.into_iter().zip(&r.columns).zip(keep) {
        if !*k {
            continue;
        }
        out.push(match d {
            Datum::Null => Cell::Null,
            Datum::Text(v) => crate::value::decode_owned(c.type_oid, v),
            Datum::Binary(v) => Cell::Bytes(v),
            Datum::Unchanged => {
                return Err(WalError::Protocol(format!("{}.{}: unchanged value of {} kept", r.schema, r.table, c.name)))
            }
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_text_round_trips() {
        assert_eq!(parse_lsn("16/B374D848").unwrap(), 0x16_B374_D848);
        assert_eq!(lsn_text(0x16_B374_D848), "16/B374D848");
        assert!(parse_lsn("nope").is_err());
        assert_eq!(unix_seconds(0), 946_684_800);
    }
}
