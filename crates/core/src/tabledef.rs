//! A table described independently of any engine's DDL, for schema migration
//! between engine families (MySQL → PostgreSQL, PostgreSQL → MySQL).
//!
//! The source connector reads its catalog into a [`TableDef`] (already
//! renamed as the DbList says: destination table and column names); the
//! destination connector turns it into its own DDL through [`crate::typemap`].
//! Same-family copies do not use it: they copy the source's own DDL, which
//! keeps every detail.

use crate::endpoint::EngineFamily;
use crate::row::TableId;

/// A column of the source table, under its destination name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ColumnSpec {
    /// The destination column name.
    pub name: String,
    /// The source column name (for messages).
    pub source_name: String,
    /// MySQL `COLUMN_TYPE` (`int(10) unsigned`) or PostgreSQL `format_type` (`character varying(20)`).
    pub source_type: String,
    pub nullable: bool,
    /// The default as the source catalog prints it.
    pub default: Option<String>,
    /// MySQL AUTO_INCREMENT, PostgreSQL identity or serial.
    pub auto_increment: bool,
    /// MariaDB JSON (a LONGTEXT with a `json_valid` CHECK).
    pub is_json: bool,
    /// MySQL `COLUMNS.EXTRA` (`DEFAULT_GENERATED`, `on update CURRENT_TIMESTAMP`, ...).
    pub extra: String,
    /// The labels of a PostgreSQL enum type, in order.
    pub enum_labels: Option<Vec<String>>,
}

/// An index on plain columns (expression and partial indexes are not carried
/// between engines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    /// The source index name.
    pub name: String,
    /// Destination column names, in index order.
    pub columns: Vec<String>,
    pub unique: bool,
}

/// A source table, renamed for the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDef {
    /// The engine family the types and defaults are spelled for.
    pub family: EngineFamily,
    /// The source is MariaDB (its catalog quotes literal defaults).
    pub mariadb: bool,
    pub source: TableId,
    pub dest: TableId,
    /// The copied columns, in source order.
    pub columns: Vec<ColumnSpec>,
    /// Destination names of the primary key columns (empty without one).
    pub primary_key: Vec<String>,
    /// Secondary indexes (the primary key's index is not listed).
    pub indexes: Vec<IndexSpec>,
}

/// One statement of a schema migration, and what it creates ("table shop.orders").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DdlStep {
    pub what: String,
    pub sql: String,
}

/// The DDL that creates tables on a destination: tables and keys before the
/// full load, secondary indexes and sequence/identity positions after it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DdlPlan {
    pub before_data: Vec<DdlStep>,
    pub after_data: Vec<DdlStep>,
}
