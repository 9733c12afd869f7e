//! `DbList`: the objects a job migrates, synchronizes or tracks (seed
//! §6.4.19.1, catalogue §8.1), and `DbObject`, its echo in responses.
//!
//! The value is a JSON object keyed by source database name. Each database
//! may carry a `Table` map keyed by source table name, and each table a
//! `column` map keyed by source column name. Keys are case-sensitive
//! (`Table` has a capital T) and unknown keys are rejected, except the
//! response-only flags `state` and `edit`, which are accepted and ignored so
//! that a `DbObject` can be sent back as a `DbList`.
//!
//! ## What `all` means
//!
//! `all: true` selects every table of a database (every column of a table).
//! A `Table` (`column`) map may still be given: its entries then only adjust
//! the listed objects (renames, filters, operations), which is how seed
//! example 3 renames the column `valid time` of a table with `all: true`.
//! `all: false` selects only the listed objects, so the map is then required
//! and must not be empty. When `all` is absent it is `false` if the map is
//! present and `true` otherwise.
//!
//! ## Names and patterns
//!
//! Source database and table names may be the restricted regular expressions
//! of [`pattern`]. A pattern cannot be renamed. When a name is matched, an
//! exact key wins over patterns, and among patterns the first in document
//! order wins; the chosen database alone then decides which tables are
//! selected. Column names are always literal. All matching is case-sensitive.

pub mod filter;
pub mod ops;
pub mod pattern;

mod parse;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

use crate::param::ParamError;
use filter::Filter;
use ops::{DdlOps, DmlOps};
use pattern::NamePattern;

/// Where a DbList is used; subscriptions do not allow `filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbListContext {
    Migration,
    Subscription,
}

/// A validated DbList.
#[derive(Debug, Clone, PartialEq)]
pub struct DbList {
    /// The JSON exactly as the user sent it (key order kept), for echoing
    /// it back as `DbObject`.
    pub raw: Value,
    databases: Vec<DbSpec>,
}

/// One source database (or database pattern) and its settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DbSpec {
    pub source: NamePattern,
    /// `name`: the destination database name (the source name by default).
    pub dest_name: String,
    pub all: bool,
    pub dml_op: Option<DmlOps>,
    pub ddl_op: Option<DdlOps>,
    /// The `Table` map, in document order.
    pub tables: Vec<TableSpec>,
}

/// One source table (or table pattern) and its settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSpec {
    pub source: NamePattern,
    /// `name`: the destination table name (the source name by default).
    pub dest_name: String,
    /// `true`: every column; `false`: only those in `columns`.
    pub all: bool,
    pub filter: Option<Filter>,
    /// `None` inherits the database's setting.
    pub dml_op: Option<DmlOps>,
    /// `None` inherits the database's setting.
    pub ddl_op: Option<DdlOps>,
    /// Kafka destinations: number of partitions.
    pub shard: Option<u32>,
    /// AnalyticDB destinations: primary-key columns.
    pub primary_key: Option<Vec<String>>,
    /// AnalyticDB destinations: partition-key columns.
    pub part_key: Option<Vec<String>>,
    /// AnalyticDB destinations: `type`.
    pub table_type: Option<TableType>,
    /// The `column` map, in document order.
    pub columns: Vec<ColumnSpec>,
}

/// AnalyticDB table type (table-level `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableType {
    Partition,
    Dimension,
}

impl TableType {
    pub fn as_str(self) -> &'static str {
        match self {
            TableType::Partition => "partition",
            TableType::Dimension => "dimension",
        }
    }
}

/// One entry of a `column` map.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    /// The source column name (literal, never a pattern).
    pub source: String,
    /// `name`: the destination column name (the source name by default).
    pub dest_name: String,
    /// `key: "PRI"`.
    pub primary_key: bool,
    /// `type`: the column's data type as the console reports it, e.g. `int(11)`.
    pub data_type: Option<String>,
    /// `sharedKey`: Kafka destinations' sharding key.
    pub shared_key: Option<bool>,
    /// `state`: only `"checked"` is accepted; kept to echo it.
    pub state: Option<String>,
}

/// What a DbList says about one source table: whether and how to copy it.
///
/// Returned by [`DbList::select_table`]; this is what full load and
/// incremental sync consult for every table they see.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSelection<'a> {
    pub db: &'a DbSpec,
    /// The matching `Table` entry, if any (`None` when the table is selected
    /// only through the database's `all: true`).
    pub table: Option<&'a TableSpec>,
    pub dest_db: String,
    pub dest_table: String,
    /// The table's `dml_op`, else the database's, else all.
    pub dml_ops: DmlOps,
    /// The table's `ddl_op`, else the database's, else all.
    pub ddl_ops: DdlOps,
}

impl DbList {
    /// Parses and validates a DbList (or a `DbObject` echoed back).
    pub fn parse(json: &str, ctx: DbListContext) -> Result<DbList, ParamError> {
        let raw: Value = serde_json::from_str(json)
            .map_err(|e| ParamError::new("DbList", format!("is not valid JSON: {e}")))?;
        let databases = parse::databases(&raw, ctx)?;
        Ok(DbList { raw, databases })
    }

    /// The databases in document order.
    pub fn databases(&self) -> &[DbSpec] {
        &self.databases
    }

    /// The entry that governs source database `db`, if it is selected.
    pub fn select_database(&self, db: &str) -> Option<&DbSpec> {
        find(&self.databases, db, |spec| &spec.source)
    }

    /// Whether source table `db`.`table` is selected, and if so everything
    /// needed to copy it.
    pub fn select_table(&self, db: &str, table: &str) -> Option<TableSelection<'_>> {
        self.select_database(db)?.select_table(db, table)
    }

    /// The normalized form for echoing as `DbObject`: the user's keys and
    /// values with defaults filled in (`name`, `all`) and operation lists,
    /// booleans and numbers in canonical form. Use [`DbList::raw`] to echo
    /// the exact input instead.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        for db in &self.databases {
            out.insert(db.source.as_str().to_owned(), db.to_json());
        }
        Value::Object(out)
    }
}

/// The spec whose name matches: an exact name first, then the first pattern.
fn find<'s, T>(specs: &'s [T], name: &str, source: impl Fn(&T) -> &NamePattern) -> Option<&'s T> {
    specs
        .iter()
        .find(|s| !source(s).is_pattern() && source(s).as_str() == name)
        .or_else(|| specs.iter().find(|s| source(s).is_pattern() && source(s).matches(name)))
}

impl DbSpec {
    /// The `Table` entry that governs source table `table`, if any.
    pub fn find_table(&self, table: &str) -> Option<&TableSpec> {
        find(&self.tables, table, |spec| &spec.source)
    }

    /// The destination name of source database `source` (which this spec
    /// matches): a pattern keeps the matched name.
    pub fn dest_name_for<'n>(&'n self, source: &'n str) -> &'n str {
        if self.source.is_pattern() {
            source
        } else {
            &self.dest_name
        }
    }

    /// The DML operations replicated for `table` (a `Table` entry of this
    /// database, or `None` for a table selected through `all`).
    pub fn effective_dml_ops(&self, table: Option<&TableSpec>) -> DmlOps {
        table.and_then(|t| t.dml_op).or(self.dml_op).unwrap_or_default()
    }

    /// The DDL operations replicated for `table`, like [`Self::effective_dml_ops`].
    pub fn effective_ddl_ops(&self, table: Option<&TableSpec>) -> DdlOps {
        table.and_then(|t| t.ddl_op).or(self.ddl_op).unwrap_or_default()
    }

    /// [`DbList::select_table`] within this database; `db` is the source
    /// database name this spec was selected for.
    pub fn select_table(&self, db: &str, table: &str) -> Option<TableSelection<'_>> {
        let spec = self.find_table(table);
        if spec.is_none() && !self.all {
            return None;
        }
        Some(TableSelection {
            db: self,
            table: spec,
            dest_db: self.dest_name_for(db).to_owned(),
            dest_table: spec.map_or(table, |s| s.dest_name_for(table)).to_owned(),
            dml_ops: self.effective_dml_ops(spec),
            ddl_ops: self.effective_ddl_ops(spec),
        })
    }

    fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("name".into(), self.dest_name.clone().into());
        out.insert("all".into(), self.all.into());
        insert_ops(&mut out, self.dml_op, self.ddl_op);
        if !self.tables.is_empty() {
            let tables = self.tables.iter().map(|t| (t.source.as_str().to_owned(), t.to_json()));
            out.insert("Table".into(), Value::Object(tables.collect()));
        }
        Value::Object(out)
    }
}

impl TableSpec {
    /// The destination name of source table `source` (which this spec
    /// matches): a pattern keeps the matched name.
    pub fn dest_name_for<'n>(&'n self, source: &'n str) -> &'n str {
        if self.source.is_pattern() {
            source
        } else {
            &self.dest_name
        }
    }

    fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("name".into(), self.dest_name.clone().into());
        out.insert("all".into(), self.all.into());
        if let Some(filter) = &self.filter {
            out.insert("filter".into(), filter.text().into());
        }
        insert_ops(&mut out, self.dml_op, self.ddl_op);
        if let Some(shard) = self.shard {
            out.insert("shard".into(), shard.into());
        }
        if let Some(columns) = &self.primary_key {
            out.insert("primary_key".into(), columns.join(",").into());
        }
        if let Some(columns) = &self.part_key {
            out.insert("part_key".into(), columns.join(",").into());
        }
        if let Some(table_type) = self.table_type {
            out.insert("type".into(), table_type.as_str().into());
        }
        if !self.columns.is_empty() {
            let columns = self.columns.iter().map(|c| (c.source.clone(), c.to_json()));
            out.insert("column".into(), Value::Object(columns.collect()));
        }
        Value::Object(out)
    }
}

impl ColumnSpec {
    fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("key".into(), if self.primary_key { "PRI" } else { "" }.into());
        out.insert("name".into(), self.dest_name.clone().into());
        if let Some(data_type) = &self.data_type {
            out.insert("type".into(), data_type.clone().into());
        }
        if let Some(shared_key) = self.shared_key {
            out.insert("sharedKey".into(), shared_key.into());
        }
        if let Some(state) = &self.state {
            out.insert("state".into(), state.clone().into());
        }
        Value::Object(out)
    }
}

fn insert_ops(out: &mut Map<String, Value>, dml: Option<DmlOps>, ddl: Option<DdlOps>) {
    if let Some(ops) = dml {
        out.insert("dml_op".into(), ops.to_op_string().into());
    }
    if let Some(ops) = ddl {
        out.insert("ddl_op".into(), ops.to_op_string().into());
    }
}

impl<'a> TableSelection<'a> {
    /// The row filter, if the table has one.
    pub fn filter(&self) -> Option<&'a Filter> {
        self.table.and_then(|t| t.filter.as_ref())
    }

    /// Whether a row (cells in the order of `columns`) passes the table's
    /// filter; every row passes without one. Numbers and bytes compare as
    /// such; `text_of` gives the text of any other cell (dates, times), as
    /// the connector spells it.
    pub fn row_matches(&self, columns: &[String], row: &[crate::row::Cell], text_of: impl Fn(&crate::row::Cell) -> Option<String>) -> bool {
        use crate::row::Cell;
        use filter::FilterValue;
        let value = |c: &Cell| match c {
            Cell::Null => None,
            Cell::Int(i) => Some(FilterValue::Int(*i as i128)),
            Cell::UInt(u) => Some(FilterValue::Int(*u as i128)),
            Cell::Float(f) => Some(FilterValue::Float(*f as f64)),
            Cell::Double(d) => Some(FilterValue::Float(*d)),
            Cell::Bytes(b) => Some(FilterValue::Str(String::from_utf8_lossy(b).into_owned())),
            other => text_of(other).map(FilterValue::Str),
        };
        match self.filter() {
            None => true,
            Some(f) => f.eval(&|name: &str| columns.iter().position(|c| c == name).and_then(|i| row.get(i)).and_then(value)),
        }
    }

    /// Whether every column is copied (otherwise only [`Self::columns`]).
    pub fn all_columns(&self) -> bool {
        self.table.is_none_or(|t| t.all)
    }

    /// The listed columns: the subset to copy when not
    /// [`Self::all_columns`], otherwise the columns with explicit settings.
    pub fn columns(&self) -> &'a [ColumnSpec] {
        self.table.map_or(&[], |t| &t.columns)
    }

    /// The destination name of source column `column`, or `None` when the
    /// column is not copied.
    pub fn dest_column<'n>(&self, column: &'n str) -> Option<&'n str>
    where
        'a: 'n,
    {
        match self.columns().iter().find(|c| c.source == column) {
            Some(spec) => Some(&spec.dest_name),
            None if self.all_columns() => Some(column),
            None => None,
        }
    }
}
