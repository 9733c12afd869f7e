//! Changes read from a source's log (MySQL binlog, PostgreSQL WAL), in commit order.

use crate::row::{Cell, TableId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Where a source's log stands, in the source's own terms. Stored as the
/// job's checkpoint and handed back to the source to resume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SourcePosition {
    /// A MySQL/MariaDB binlog file and offset, with the GTID set when known
    /// (`domain-server-seq` list for MariaDB, `uuid:interval` set for MySQL).
    Binlog { file: String, pos: u64, gtid: Option<String> },
    /// A PostgreSQL log sequence number.
    Lsn(u64),
}

impl SourcePosition {
    /// Whether this position is at or before `other` in the same log, or
    /// `None` when the two cannot be compared (different kinds, or binlog
    /// files whose names do not end in a sequence number).
    pub fn at_or_before(&self, other: &SourcePosition) -> Option<bool> {
        match (self, other) {
            (SourcePosition::Binlog { file: f1, pos: p1, .. }, SourcePosition::Binlog { file: f2, pos: p2, .. }) => {
                Some((binlog_sequence(f1)?, *p1) <= (binlog_sequence(f2)?, *p2))
            }
            (SourcePosition::Lsn(a), SourcePosition::Lsn(b)) => Some(a <= b),
            _ => None,
        }
    }
}

/// The sequence number of a binlog file name (`mysql-bin.000012` → 12).
fn binlog_sequence(file: &str) -> Option<u64> {
    file.rsplit('.').next()?.parse().ok()
}

/// The kind of a row change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RowOp {
    Insert,
    Update,
    Delete,
}

/// One changed row. `before` is set for updates and deletes, `after` for
/// inserts and updates; cells are in the order of `columns`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowChange {
    pub table: TableId,
    pub op: RowOp,
    /// Shared by the changes of a table with the same columns (a source
    /// decodes millions of rows of a few shapes).
    pub columns: Arc<[String]>,
    pub before: Option<Vec<Cell>>,
    pub after: Option<Vec<Cell>>,
}

/// The DDL operations DbList `ddl_op` distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DdlKind {
    CreateTable,
    AlterTable,
    DropTable,
    RenameTable,
    TruncateTable,
    /// Any other statement (CREATE DATABASE, CREATE VIEW, GRANT ...).
    Other,
}

/// A schema change, as the statement the source ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DdlChange {
    /// The default schema the statement ran in.
    pub schema: String,
    pub statement: String,
    pub kind: DdlKind,
    /// Tables the statement touches (for RENAME: old then new names).
    pub tables: Vec<TableId>,
}

/// An event of a source's change stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ChangeEvent {
    /// Row changes of one committed transaction, in order, and where the log
    /// stands after its commit. `timestamp` is the commit time (Unix seconds).
    Transaction { rows: Vec<RowChange>, position: SourcePosition, timestamp: u32 },
    /// A DDL statement (MySQL commits DDL on its own) and the position after it.
    Ddl { ddl: DdlChange, position: SourcePosition, timestamp: u32 },
    /// Nothing happened but the log moved (rotation, heartbeat, filtered events):
    /// lets the checkpoint and the delay advance on an idle source.
    Heartbeat { position: SourcePosition, timestamp: u32 },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(file: &str, pos: u64) -> SourcePosition {
        SourcePosition::Binlog { file: file.into(), pos, gtid: None }
    }

    #[test]
    fn binlog_positions_order_by_file_then_offset() {
        assert_eq!(at("bin.000002", 4).at_or_before(&at("bin.000010", 4)), Some(true));
        assert_eq!(at("bin.000010", 500).at_or_before(&at("bin.000010", 400)), Some(false));
        assert_eq!(at("bin.000010", 400).at_or_before(&at("bin.000010", 400)), Some(true));
        assert_eq!(at("weird", 1).at_or_before(&at("bin.000001", 1)), None);
        assert_eq!(SourcePosition::Lsn(1).at_or_before(&at("bin.000001", 1)), None);
    }
}
