//! Changes read from a source's log (MySQL binlog, PostgreSQL WAL), in commit order.

use crate::row::{Cell, TableId};
use serde::{Deserialize, Serialize};

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
    pub columns: Vec<String>,
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
