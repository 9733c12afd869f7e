//! Rows as they travel from a source to a sink.
//!
//! A [`Cell`] keeps a value in the most exact form the source gave it: integers
//! as integers (signed or unsigned), DECIMAL as its decimal text, temporal
//! values field by field, everything else as bytes. Nothing is rounded or
//! re-encoded on the way, which is what makes a MySQL → MySQL copy bit-exact;
//! a sink for another engine interprets cells with the column's source type.

use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One value of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Cell {
    Null,
    Int(i64),
    UInt(u64),
    Float(f32),
    Double(f64),
    /// Strings, DECIMAL text, JSON text, BLOBs, BIT, ENUM/SET, GEOMETRY: the bytes as stored.
    Bytes(Vec<u8>),
    /// DATE, DATETIME, TIMESTAMP (zero dates included: all fields 0).
    Date { year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8, micros: u32 },
    /// TIME, which may be negative and longer than a day.
    Time { negative: bool, days: u32, hours: u8, minutes: u8, seconds: u8, micros: u32 },
}

impl Cell {
    /// Approximate size in bytes, for memory accounting and MB/s figures.
    pub fn weight(&self) -> usize {
        match self {
            Cell::Bytes(b) => b.len() + 8,
            _ => 8,
        }
    }
}

/// A table on one side of a job.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TableId {
    pub schema: String,
    pub table: String,
}

impl TableId {
    pub fn new(schema: impl Into<String>, table: impl Into<String>) -> TableId {
        TableId { schema: schema.into(), table: table.into() }
    }
}

impl std::fmt::Display for TableId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.table)
    }
}

/// A column as the source describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnDef {
    pub name: String,
    /// The source's full type, e.g. `int(10) unsigned`, `varchar(20)`, `decimal(65,30)`.
    pub source_type: String,
    pub nullable: bool,
}

/// The columns of a table and which of them form its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSchema {
    pub id: TableId,
    pub columns: Vec<ColumnDef>,
    /// Positions (in `columns`) of the primary key, or of a unique key on NOT
    /// NULL columns when there is no primary key; empty when neither exists.
    pub key: Vec<usize>,
}

impl TableSchema {
    pub fn column_names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }
}

/// A key range `[lower, upper)` of a table, the unit of a full load and of
/// its resume; `None` is unbounded. A table without a usable key is one
/// chunk with both bounds unbounded. Bounds are key values in key order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    pub index: u32,
    pub lower: Option<Vec<Cell>>,
    pub upper: Option<Vec<Cell>>,
}

/// A batch of rows of one table, in the table's column order.
#[derive(Debug, Clone)]
pub struct RowBatch {
    pub schema: Arc<TableSchema>,
    pub rows: Vec<Vec<Cell>>,
}

impl RowBatch {
    /// Approximate size in bytes.
    pub fn weight(&self) -> usize {
        self.rows.iter().map(|r| r.iter().map(Cell::weight).sum::<usize>()).sum()
    }
}
