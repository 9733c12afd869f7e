//! Applying change streams to a PostgreSQL destination.
//!
//! Row changes are applied idempotently, in source order, and each
//! destination transaction also records the source position reached
//! (`opendts_meta.incremental_checkpoint`), so after a crash the stream
//! resumes exactly after the last applied change: nothing is applied twice,
//! nothing is skipped. The caller confirms a position to the source (the WAL
//! LSN, the binlog offset) only after [`ChangeApplier::apply_rows`] returned.
//!
//! - Insert, and an update that lists every destination column: `INSERT ...
//!   ON CONFLICT (key) DO UPDATE SET` the listed columns.
//! - An update whose row omits columns (unchanged TOASTed values, see
//!   [`crate::wal`]): `UPDATE ... SET` only the listed columns `WHERE key =
//!   old key`; a row not found there is upserted instead.
//! - A key change with the whole row: delete the old key, upsert the new row.
//! - Delete: `DELETE ... WHERE key`.
//! - Tables without a key (no primary key, no unique index on NOT NULL
//!   columns): a delete removes one row equal to the old row in every listed
//!   column (`(tableoid, ctid)` of the first match); an insert is a plain
//!   INSERT; an update is both.
//!
//! Values travel as text ([`crate::cell`]) in `text[]` parameters, one array
//! per column, cast to the destination column's type on the server
//! (`unnest($1::text[], ...)` then `c0::<type>`), so every cell kind works
//! for every column type, and a statement's text does not depend on its row
//! count (statements are prepared once and cached). Consecutive changes of
//! the same table, kind and columns are merged into one statement, never
//! reordered; an upsert or update batch never holds the same key twice.

use crate::cell::{self, TextKind};
use crate::error::{guarded, Context, PgError};
use crate::session::{qualified, quote_ident};
use crate::wal::ddl;
use crate::sink::META_SCHEMA;
use opendts_core::change::{DdlChange, DdlKind, RowChange, RowOp, SourcePosition};
use opendts_core::dblist::filter::FilterValue;
use opendts_core::dblist::ops::DdlOps;
use opendts_core::dblist::{DbList, TableSelection};
use opendts_core::endpoint::Endpoint;
use opendts_core::row::{Cell, TableId};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement, Transaction};

/// Rows merged into one statement at most.
const MAX_MERGED: usize = 4000;

/// Upserts of a table's inserted rows after one of them existed on the
/// destination, before a plain INSERT is tried again (see [`execute`]).
const WARY_STATEMENTS: u32 = 100;

/// One column of a destination table.
#[derive(Debug)]
struct DestColumn {
    name: String,
    /// The type to cast text to (`format_type` without the modifier, so that
    /// the column's own length checks apply rather than a cast's truncation).
    cast: String,
    kind: TextKind,
    generated: bool,
    identity_always: bool,
}

/// What the destination table looks like (cached; dropped on DDL or error).
#[derive(Debug)]
struct DestTable {
    id: TableId,
    columns: Vec<DestColumn>,
    by_name: HashMap<String, usize>,
    /// Primary key, else a unique index on NOT NULL columns; empty when none.
    key: Vec<String>,
    /// Changes to different keys commute: the table has a key and no other
    /// unique index or exclusion constraint that a reordered batch could
    /// trip over (see [`push_merged`]).
    reorderable: bool,
}

impl DestTable {
    #[cfg(test)]
    fn clone_shape(&self) -> DestTable {
        DestTable {
            id: self.id.clone(),
            columns: self.columns.iter().map(|c| DestColumn { name: c.name.clone(), cast: c.cast.clone(), ..*c }).collect(),
            by_name: self.by_name.clone(),
            key: self.key.clone(),
            reorderable: self.reorderable,
        }
    }

    fn column(&self, name: &str) -> &DestColumn {
        &self.columns[self.by_name[name]]
    }
    fn cast(&self, name: &str) -> &str {
        &self.column(name).cast
    }
    fn writable(&self) -> impl Iterator<Item = &DestColumn> {
        self.columns.iter().filter(|c| !c.generated)
    }
    fn sql_name(&self) -> String {
        qualified(&self.id.schema, &self.id.table)
    }
}

type Text = Option<String>;
type TextRow = Vec<Text>;

/// One statement's worth of work on the destination.
#[derive(Debug)]
enum Op {
    /// Plain insert into a keyless table.
    Insert { table: Arc<DestTable>, columns: Arc<[String]>, rows: Vec<TextRow> },
    /// Insert or overwrite the listed columns, by key. `keys` maps the key
    /// of each row still to be written to its position in `rows` (a row whose
    /// key a later change of the batch decided is no longer listed). `fresh`:
    /// every row comes from an INSERT on the source, so the rows are most
    /// likely new on the destination (see [`execute`]).
    Upsert { table: Arc<DestTable>, columns: Arc<[String]>, rows: Vec<TextRow>, keys: HashMap<TextRow, usize>, fresh: bool },
    /// Set only the listed columns of the row with key `old_keys[i]`; rows not
    /// found are upserted.
    Update { table: Arc<DestTable>, columns: Arc<[String]>, old_keys: Vec<TextRow>, rows: Vec<TextRow>, keys: HashSet<TextRow> },
    /// Delete rows by key.
    Delete { table: Arc<DestTable>, keys: HashSet<TextRow> },
    /// Delete one row of a keyless table, matching every listed column.
    DeleteExact { table: Arc<DestTable>, columns: Arc<[String]>, row: TextRow },
}

impl Op {
    fn delete(table: Arc<DestTable>, keys: Vec<TextRow>) -> Op {
        Op::Delete { table, keys: keys.into_iter().collect() }
    }

    /// An upsert of rows whose keys sit at `key_pos` in each row.
    fn upsert(table: Arc<DestTable>, columns: Arc<[String]>, rows: Vec<TextRow>, key_pos: &[usize]) -> Op {
        let keys = rows.iter().enumerate().map(|(i, r)| (key_pos.iter().map(|&p| r[p].clone()).collect(), i)).collect();
        Op::Upsert { table, columns, rows, keys, fresh: false }
    }

    fn table(&self) -> &Arc<DestTable> {
        match self {
            Op::Insert { table, .. }
            | Op::Upsert { table, .. }
            | Op::Update { table, .. }
            | Op::Delete { table, .. }
            | Op::DeleteExact { table, .. } => table,
        }
    }
}

/// Statistics of one applied batch.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub rows: u64,
    pub bytes: u64,
}

/// Turns source row changes into destination statements ([`PlannedOps`]).
/// It reads the shapes of destination tables through the client it is given
/// and keeps them until [`Planner::forget_tables`] (call it after DDL), so a
/// pipeline can plan the next batch on a connection of its own while the
/// [`ChangeApplier`] runs the previous one.
pub struct Planner {
    /// Foreign keys are not checked by the applying session
    /// (`session_replication_role = replica`), so changes to different
    /// tables may be reordered.
    cross_tables: bool,
    tables: HashMap<TableId, Arc<DestTable>>,
    /// Per source table, within one batch: the column list of its last
    /// change, and how such changes are written (`None`: the DbList does not
    /// select the table).
    shapes: HashMap<TableId, Shape>,
}

/// A change's column list, and how changes with it are written.
type Shape = (Arc<[String]>, Option<Arc<ColumnPlan>>);

/// How changes of one source table with one column list are written.
#[derive(Debug)]
struct ColumnPlan {
    table: Arc<DestTable>,
    /// Position in the change and text kind of each written column.
    copied: Vec<(usize, TextKind)>,
    /// Destination names of the written columns.
    dest_columns: Arc<[String]>,
    /// Positions of the destination key in `dest_columns`.
    key_pos: Vec<usize>,
    /// Every column the destination can take is written.
    whole: bool,
    /// What `dml_op` lets through.
    insert: bool,
    update: bool,
    delete: bool,
    /// The DbList filters the table's rows.
    filtered: bool,
}

impl ColumnPlan {
    /// The written columns of `row` as text, values moved rather than copied.
    fn pick(&self, mut row: Vec<Cell>) -> Result<TextRow, PgError> {
        self.copied
            .iter()
            .zip(self.dest_columns.iter())
            .map(|(&(i, kind), name)| {
                let cell = row.get_mut(i).map(|c| std::mem::replace(c, Cell::Null)).unwrap_or(Cell::Null);
                cell::into_text(cell, kind)
                    .map_err(|e| PgError::other(format!("apply changes to {}", self.table.id), format!("column {name}: {e}")))
            })
            .collect()
    }
}

/// One batch of changes as destination statements, ready to apply.
#[derive(Debug)]
pub struct PlannedOps {
    ops: Vec<Op>,
    applied: Applied,
}

/// Writes changes to one PostgreSQL destination for one job.
pub struct ChangeApplier {
    client: Client,
    job_key: String,
    /// Plans the batches given to [`ChangeApplier::apply_rows`].
    planner: Planner,
    statements: HashMap<String, Statement>,
    /// See [`execute`].
    wary: HashMap<TableId, u32>,
}

fn filter_value(c: &Cell) -> Option<FilterValue> {
    match c {
        Cell::Null => None,
        Cell::Int(i) => Some(FilterValue::Int(*i as i128)),
        Cell::UInt(u) => Some(FilterValue::Int(*u as i128)),
        Cell::Float(f) => Some(FilterValue::Float(*f as f64)),
        Cell::Double(d) => Some(FilterValue::Float(*d)),
        Cell::Bytes(b) => Some(FilterValue::Str(String::from_utf8_lossy(b).into_owned())),
        other => cell::to_text(other, TextKind::Text).ok().flatten().map(FilterValue::Str),
    }
}

fn matches(sel: &TableSelection<'_>, columns: &[String], row: &[Cell]) -> bool {
    match sel.filter() {
        None => true,
        Some(f) => f.eval(&|name: &str| columns.iter().position(|c| c == name).and_then(|i| row.get(i)).and_then(filter_value)),
    }
}

impl ChangeApplier {
    /// Connects to the destination and creates the checkpoint table if needed.
    pub async fn connect(ep: &Endpoint, job_key: &str) -> Result<ChangeApplier, PgError> {
        let client = crate::session::sink(ep).await?;
        let sql = format!(
            "CREATE SCHEMA IF NOT EXISTS {META_SCHEMA};
             CREATE TABLE IF NOT EXISTS {META_SCHEMA}.incremental_checkpoint (
                job_id text NOT NULL PRIMARY KEY, position text NOT NULL,
                source_time bigint NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        );
        let what = || "create the incremental checkpoint table".to_string();
        // Concurrent creators may race in the catalog: retried once.
        match client.batch_execute(&sql).await.context(what) {
            Err(e) if matches!(e.sqlstate(), Some("23505" | "42P06" | "42P07")) => client.batch_execute(&sql).await.context(what)?,
            other => other?,
        }
        let planner = Planner::new(&client).await?;
        Ok(ChangeApplier { client, job_key: job_key.to_string(), planner, statements: HashMap::new(), wary: HashMap::new() })
    }

    /// The source position after the last change applied, and its source time.
    pub async fn checkpoint(&mut self) -> Result<Option<(SourcePosition, i64)>, PgError> {
        let what = || "read the incremental checkpoint".to_string();
        let row = self
            .client
            .query_opt(
                &format!("SELECT position, source_time FROM {META_SCHEMA}.incremental_checkpoint WHERE job_id = $1"),
                &[&self.job_key],
            )
            .await
            .context(what)?;
        let Some(row) = row else { return Ok(None) };
        let text: String = row.try_get(0).context(what)?;
        let time: i64 = row.try_get(1).context(what)?;
        serde_json::from_str(&text).map(|p| Some((p, time))).map_err(|e| PgError::other(what(), e.to_string()))
    }

}

impl Planner {
    /// A planner for changes applied through sessions like `client`'s.
    pub async fn new(client: &Client) -> Result<Planner, PgError> {
        let what = || "read session_replication_role".to_string();
        let role: String = client
            .query_one("SELECT current_setting('session_replication_role')", &[])
            .await
            .context(what)?
            .try_get(0)
            .context(what)?;
        Ok(Planner { cross_tables: role == "replica", tables: HashMap::new(), shapes: HashMap::new() })
    }

    async fn dest_table(&mut self, client: &Client, table: &TableId) -> Result<Arc<DestTable>, PgError> {
        if let Some(t) = self.tables.get(table) {
            return Ok(t.clone());
        }
        let what = || format!("read the destination table {table}");
        let name = qualified(&table.schema, &table.table);
        let oid: Option<u32> = client
            .query_one("SELECT to_regclass($1)::oid", &[&name])
            .await
            .context(what)?
            .try_get(0)
            .context(what)?;
        let Some(oid) = oid else {
            return Err(PgError::other(format!("apply changes to {table}"), "the destination table does not exist"));
        };
        let rows = client
            .query(
                // `bit` and `character` without a length mean bit(1) and char(1) in a
                // cast, which would cut longer values: cast to the unbounded
                // `bit varying` / `bpchar` and let the column check the length.
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod),
                        CASE a.atttypid WHEN 'bit'::regtype THEN 'bit varying' WHEN 'bpchar'::regtype THEN 'bpchar'
                             ELSE format_type(a.atttypid, NULL) END,
                        a.attgenerated <> '', a.attidentity = 'a'
                 FROM pg_catalog.pg_attribute a
                 WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                &[&oid],
            )
            .await
            .context(what)?;
        let mut columns = Vec::new();
        for r in rows {
            let full: String = r.try_get(1).context(what)?;
            columns.push(DestColumn {
                name: r.try_get(0).context(what)?,
                kind: TextKind::of(&full),
                cast: r.try_get(2).context(what)?,
                generated: r.try_get(3).context(what)?,
                identity_always: r.try_get(4).context(what)?,
            });
        }
        let indexes = client
            .query(
                "SELECT array_agg(a.attname::text ORDER BY k.ord), bool_and(a.attnotnull)
                 FROM pg_catalog.pg_index i
                 CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                 WHERE i.indrelid = $1 AND i.indisunique AND i.indisvalid AND i.indimmediate
                   AND i.indpred IS NULL AND i.indexprs IS NULL AND k.ord <= i.indnkeyatts
                 GROUP BY i.indexrelid, i.indisprimary
                 ORDER BY i.indisprimary DESC, count(*), i.indexrelid",
                &[&oid],
            )
            .await
            .context(|| format!("read the keys of {table}"))?;
        let mut key = Vec::new();
        for r in indexes {
            let not_null: bool = r.try_get(1).context(what)?;
            if not_null {
                key = r.try_get(0).context(what)?;
                break;
            }
        }
        let only_key: bool = client
            .query_one(
                "SELECT (SELECT count(*) FROM pg_catalog.pg_index WHERE indrelid = $1 AND indisunique) <= 1
                    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint WHERE conrelid = $1 AND contype = 'x')",
                &[&oid],
            )
            .await
            .context(what)?
            .try_get(0)
            .context(what)?;
        let reorderable = only_key && !key.is_empty();
        let by_name = columns.iter().enumerate().map(|(i, c)| (c.name.clone(), i)).collect();
        let t = Arc::new(DestTable { id: table.clone(), columns, by_name, key, reorderable });
        self.tables.insert(table.clone(), t.clone());
        Ok(t)
    }

    /// How the changes of one source table with one column list become
    /// destination rows: worked out once, then reused for every change of
    /// that shape (a batch is typically thousands of changes of a few shapes).
    fn column_plan(&mut self, db_list: &DbList, change: &RowChange) -> Result<Option<Arc<ColumnPlan>>, PgError> {
        if let Some((columns, plan)) = self.shapes.get(&change.table) {
            if Arc::ptr_eq(columns, &change.columns) || **columns == *change.columns {
                return Ok(plan.clone());
            }
        }
        let plan = match db_list.select_table(&change.table.schema, &change.table.table) {
            None => None,
            Some(sel) => {
                let dest = TableId::new(sel.dest_db.clone(), sel.dest_table.clone());
                let info = self.tables.get(&dest).cloned().ok_or_else(|| {
                    PgError::other(format!("apply changes to {dest}"), "the destination table was not read before planning")
                })?;
                // Copied columns: (position in the change, destination name). A
                // column the destination does not have (dropped by a DDL replayed
                // ahead of this older row) or computes itself is not written.
                let copied: Vec<(usize, &str)> = change
                    .columns
                    .iter()
                    .enumerate()
                    .filter_map(|(i, c)| sel.dest_column(c).map(|d| (i, d)))
                    .filter(|(_, d)| info.by_name.get(*d).is_some_and(|&i| !info.columns[i].generated))
                    .collect();
                let dest_columns: Arc<[String]> = copied.iter().map(|(_, d)| d.to_string()).collect();
                let key_pos = info
                    .key
                    .iter()
                    .map(|k| {
                        dest_columns.iter().position(|c| c == k).ok_or_else(|| {
                            PgError::other(format!("apply changes to {dest}"), format!("the key column {k} is not in the change"))
                        })
                    })
                    .collect::<Result<_, _>>()?;
                let whole = info.writable().all(|c| dest_columns.contains(&c.name));
                Some(Arc::new(ColumnPlan {
                    copied: copied.iter().map(|(i, d)| (*i, info.column(d).kind)).collect(),
                    whole,
                    dest_columns,
                    key_pos,
                    insert: sel.dml_ops.insert,
                    update: sel.dml_ops.update,
                    delete: sel.dml_ops.delete,
                    filtered: sel.filter().is_some(),
                    table: info,
                }))
            }
        };
        self.shapes.insert(change.table.clone(), (change.columns.clone(), plan.clone()));
        Ok(plan)
    }

    /// Turns source row changes into destination operations, honouring the
    /// DbList (selection, renames, column subsets, `filter`, `dml_op`).
    /// Returns the merged operations, and the row operations and bytes the
    /// changes amount to (a key change is a delete and an upsert).
    pub async fn plan(&mut self, client: &Client, db_list: &DbList, changes: Vec<RowChange>) -> Result<PlannedOps, PgError> {
        self.read_tables(client, db_list, &changes).await?;
        self.plan_read(db_list, changes)
    }

    /// Reads the shape of every destination table `changes` write that is
    /// not known yet (the only part of planning that talks to the server).
    pub async fn read_tables(&mut self, client: &Client, db_list: &DbList, changes: &[RowChange]) -> Result<(), PgError> {
        let mut last: Option<&TableId> = None;
        for change in changes {
            if last == Some(&change.table) {
                continue;
            }
            last = Some(&change.table);
            if let Some(sel) = db_list.select_table(&change.table.schema, &change.table.table) {
                let dest = TableId::new(sel.dest_db.clone(), sel.dest_table.clone());
                if !self.tables.contains_key(&dest) {
                    self.dest_table(client, &dest).await?;
                }
            }
        }
        Ok(())
    }

    /// [`Self::plan`] once [`Self::read_tables`] has read the tables: CPU
    /// work only, which a caller may run off its async runtime's threads.
    pub fn plan_read(&mut self, db_list: &DbList, changes: Vec<RowChange>) -> Result<PlannedOps, PgError> {
        let mut ops: Vec<Op> = Vec::new();
        let mut bytes = 0u64;
        let mut row_ops = 0u64;
        // Shapes hold the DbList's decisions: worked out afresh for every batch.
        self.shapes.clear();
        for change in changes {
            let Some(plan) = self.column_plan(db_list, &change)? else { continue };
            let allowed = match change.op {
                RowOp::Insert => plan.insert,
                RowOp::Update => plan.update,
                RowOp::Delete => plan.delete,
            };
            if !allowed {
                continue;
            }
            let info = &plan.table;
            let (before_in, after_in) = if plan.filtered {
                let sel = db_list.select_table(&change.table.schema, &change.table.table);
                let test = |row: Option<&Vec<Cell>>| match (&sel, row) {
                    (Some(sel), Some(r)) => matches(sel, &change.columns, r),
                    _ => false,
                };
                (test(change.before.as_ref()), test(change.after.as_ref()))
            } else {
                (change.before.is_some(), change.after.is_some())
            };
            let pick = |row: Vec<Cell>| -> Result<TextRow, PgError> { plan.pick(row) };
            let keyed = !info.key.is_empty();
            let key_of = |row: &TextRow| -> TextRow { plan.key_pos.iter().map(|&i| row[i].clone()).collect() };
            let weight = |row: &[Cell]| row.iter().map(|c| c.weight() as u64).sum::<u64>();
            let columns = &plan.dest_columns;
            let fresh = change.op == RowOp::Insert;
            let upsert = |row: TextRow| {
                if keyed {
                    let key = key_of(&row);
                    let keys = HashMap::from([(key, 0)]);
                    Op::Upsert { table: info.clone(), columns: columns.clone(), rows: vec![row], keys, fresh }
                } else {
                    Op::Insert { table: info.clone(), columns: columns.clone(), rows: vec![row] }
                }
            };
            let delete = |row: TextRow| {
                if keyed {
                    Op::delete(info.clone(), vec![key_of(&row)])
                } else {
                    Op::DeleteExact { table: info.clone(), columns: columns.clone(), row }
                }
            };
            let whole = plan.whole;
            let mut next = Vec::new();
            match (change.op, change.before, change.after) {
                (RowOp::Insert, _, Some(after)) if after_in => {
                    bytes += weight(&after);
                    next.push(upsert(pick(after)?));
                }
                // A keyed delete runs even when the old row does not match the
                // filter: pgoutput's old row may hold only the key (the other
                // cells Null), and deleting an absent key is harmless.
                (RowOp::Delete, Some(before), _) if before_in || keyed => next.push(delete(pick(before)?)),
                (RowOp::Update, None, Some(after)) if after_in => {
                    bytes += weight(&after);
                    let new = pick(after)?;
                    if keyed && !whole {
                        let key = key_of(&new);
                        next.push(Op::Update {
                            table: info.clone(),
                            columns: columns.clone(),
                            old_keys: vec![key.clone()],
                            rows: vec![new],
                            keys: HashSet::from([key]),
                        });
                    } else {
                        next.push(upsert(new));
                    }
                }
                (RowOp::Update, Some(before), Some(after)) => {
                    if after_in {
                        bytes += weight(&after);
                    }
                    let (old, new) = (pick(before)?, pick(after)?);
                    if keyed && !whole && after_in {
                        let (ok, nk) = (key_of(&old), key_of(&new));
                        next.push(Op::Update {
                            table: info.clone(),
                            columns: columns.clone(),
                            old_keys: vec![ok.clone()],
                            rows: vec![new],
                            keys: HashSet::from([ok, nk]),
                        });
                    } else {
                        let key_moved = !keyed || key_of(&old) != key_of(&new);
                        // Keyed: the old key goes whenever the row moved or
                        // left the filter (harmless when absent, see deletes).
                        if (before_in || keyed) && (key_moved || !after_in) {
                            next.push(delete(old));
                        }
                        if after_in {
                            next.push(upsert(new));
                        }
                    }
                }
                _ => {}
            }
            row_ops += next.len() as u64;
            for op in next {
                push_merged(&mut ops, op, self.cross_tables);
            }
        }
        Ok(PlannedOps { ops, applied: Applied { rows: row_ops, bytes } })
    }

    /// Forgets the destination tables' shapes (they may have changed).
    pub fn forget_tables(&mut self) {
        self.tables.clear();
        self.shapes.clear();
    }
}

impl PlannedOps {
    /// Statements the batch became.
    pub fn statements(&self) -> usize {
        self.ops.len()
    }
}

impl ChangeApplier {
    /// Applies row changes (several source transactions may be batched) and
    /// records `position` in the same destination transaction: either all of
    /// it is committed or none. Plans and applies in one call; a pipeline
    /// plans with a [`Planner`] of its own and calls [`Self::apply_planned`].
    pub async fn apply_rows(
        &mut self,
        db_list: &DbList,
        changes: &[RowChange],
        position: &SourcePosition,
        source_time: i64,
    ) -> Result<Applied, PgError> {
        let planned = match self.planner.plan(&self.client, db_list, changes.to_vec()).await {
            Ok(planned) => planned,
            Err(e) => {
                self.planner.forget_tables();
                return Err(e);
            }
        };
        self.apply_planned(planned, position, source_time).await
    }

    /// Applies a planned batch and records `position` in the same
    /// destination transaction: either all of it is committed or none.
    pub async fn apply_planned(&mut self, planned: PlannedOps, position: &SourcePosition, source_time: i64) -> Result<Applied, PgError> {
        let result = self.apply_planned_inner(planned, position, source_time).await;
        if result.is_err() {
            // The destination may have changed under the cached shapes.
            self.planner.forget_tables();
            self.statements.clear();
        }
        result
    }

    async fn apply_planned_inner(&mut self, planned: PlannedOps, position: &SourcePosition, source_time: i64) -> Result<Applied, PgError> {
        let ChangeApplier { client, job_key, statements, wary, .. } = self;
        let tx = guarded(client.transaction(), || "begin applying changes".into()).await?;
        // Every row operation counts as applied, including those a later
        // change of the batch made moot (merged away).
        for op in planned.ops {
            execute(&tx, statements, wary, op).await?;
        }
        record(&tx, statements, job_key, position, source_time).await?;
        guarded(tx.commit(), || "commit applied changes".into()).await?;
        Ok(planned.applied)
    }

    /// Applies a DDL change the DbList selects and its `ddl_op` allows, in
    /// the transaction that records the position (PostgreSQL's DDL is
    /// transactional, so a crash never applies it without its checkpoint).
    ///
    /// - TRUNCATE (from pgoutput, names its tables): each selected table that
    ///   exists on the destination is truncated under its destination name.
    /// - Captured DDL (see [`crate::wal::ddl`]): the statement runs with
    ///   `SET LOCAL search_path` set to the destination schema of
    ///   `ddl.schema`, with schema and table names the DbList renames
    ///   rewritten ([`rewrite_ddl`]); a statement that cannot be rewritten
    ///   safely is skipped with a warning. Errors meaning the destination is
    ///   already in the statement's end state ([`ALREADY_APPLIED`],
    ///   [`ALREADY_DROPPED`]) are
    ///   tolerated with a warning.
    ///
    /// Returns whether a statement ran.
    pub async fn apply_ddl(
        &mut self,
        db_list: &DbList,
        ddl: &DdlChange,
        position: &SourcePosition,
        source_time: i64,
    ) -> Result<bool, PgError> {
        let result = self.apply_ddl_inner(db_list, ddl, position, source_time).await;
        // Table shapes and prepared statements may not hold after DDL.
        self.planner.forget_tables();
        self.statements.clear();
        result
    }

    async fn apply_ddl_inner(
        &mut self,
        db_list: &DbList,
        ddl: &DdlChange,
        position: &SourcePosition,
        source_time: i64,
    ) -> Result<bool, PgError> {
        let statement = if ddl.kind == DdlKind::TruncateTable { None } else { replayable(db_list, ddl) };
        let ChangeApplier { client, job_key, statements, .. } = self;
        let tx = guarded(client.transaction(), || "begin applying DDL".into()).await?;
        let ran = match &statement {
            _ if ddl.kind == DdlKind::TruncateTable => truncate(&tx, db_list, ddl).await?,
            Some((schema, sql)) => run_ddl(&tx, schema, sql).await?,
            None => false,
        };
        record(&tx, statements, job_key, position, source_time).await?;
        guarded(tx.commit(), || "commit DDL".into()).await?;
        Ok(ran)
    }

    /// Records a position without changes (heartbeats, filtered transactions).
    pub async fn advance(&mut self, position: &SourcePosition, source_time: i64) -> Result<(), PgError> {
        let ChangeApplier { client, job_key, statements, .. } = self;
        let tx = guarded(client.transaction(), || "begin checkpoint".into()).await?;
        record(&tx, statements, job_key, position, source_time).await?;
        guarded(tx.commit(), || "commit checkpoint".into()).await
    }
}

/// SQLSTATEs meaning a DDL statement's end state is already there: duplicate
/// table (42P07), column (42701) or object (42710, e.g. an index or
/// constraint), and undefined table (42P01: a table renamed or dropped by a
/// later DDL the destination already has). Seen when a DDL replays over a
/// destination that already has it (structure copied after the DDL ran).
pub const ALREADY_APPLIED: &[&str] = &["42P07", "42701", "42710", "42P01"];

/// Undefined column (42703) or object (42704): "already applied" only for a
/// statement that drops or renames (42704 is also "type does not exist").
pub const ALREADY_DROPPED: &[&str] = &["42703", "42704"];

/// Whether error `code` of `sql` means its end state is already there.
fn already_applied(code: &str, sql: &str) -> bool {
    let drops = || ddl::tokenize(sql).is_ok_and(|t| t.iter().any(|t| t.is_kw("DROP") || t.is_kw("RENAME")));
    ALREADY_APPLIED.contains(&code) || (ALREADY_DROPPED.contains(&code) && drops())
}

/// Truncates the selected tables of a TRUNCATE that `ddl_op` allows.
async fn truncate(tx: &Transaction<'_>, db_list: &DbList, ddl: &DdlChange) -> Result<bool, PgError> {
    let mut targets: Vec<TableId> = Vec::new();
    for t in &ddl.tables {
        if let Some(sel) = db_list.select_table(&t.schema, &t.table) {
            let dest = TableId::new(sel.dest_db.clone(), sel.dest_table.clone());
            if sel.ddl_ops.truncate_table && !targets.contains(&dest) {
                targets.push(dest);
            }
        }
    }
    let mut ran = false;
    for dest in &targets {
        let name = qualified(&dest.schema, &dest.table);
        let exists: Option<u32> = tx
            .query_one("SELECT to_regclass($1)::oid", &[&name])
            .await
            .context(|| format!("look for {dest}"))?
            .try_get(0)
            .context(|| format!("look for {dest}"))?;
        if exists.is_none() {
            tracing::warn!(table = %dest, "TRUNCATE of a table missing on the destination; skipped");
            continue;
        }
        guarded(tx.batch_execute(&format!("TRUNCATE {name}")), || format!("truncate {dest}")).await?;
        ran = true;
    }
    Ok(ran)
}

/// Runs one rewritten statement in `schema`, inside a savepoint so that an
/// "already applied" error leaves the transaction (and its checkpoint) usable.
async fn run_ddl(tx: &Transaction<'_>, schema: &str, sql: &str) -> Result<bool, PgError> {
    let setup = format!("SET LOCAL search_path TO {}; SAVEPOINT opendts_ddl", quote_ident(schema));
    guarded(tx.batch_execute(&setup), || format!("prepare to apply DDL in {schema}")).await?;
    match guarded(tx.batch_execute(sql), || format!("apply DDL: {sql}")).await {
        Ok(()) => {
            guarded(tx.batch_execute("RELEASE SAVEPOINT opendts_ddl"), || "release the DDL savepoint".into()).await?;
            Ok(true)
        }
        Err(e) if e.sqlstate().is_some_and(|c| already_applied(c, sql)) => {
            tracing::warn!(statement = %sql, error = %e, "DDL already in effect on the destination; skipped");
            guarded(tx.batch_execute("ROLLBACK TO SAVEPOINT opendts_ddl"), || "roll back the DDL savepoint".into()).await?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// The destination schema and statement to replay for a captured DDL, or
/// `None` (skipped) when the DbList does not select its tables, `ddl_op`
/// excludes it, or it cannot be rewritten safely (warned).
fn replayable(db_list: &DbList, ddl: &DdlChange) -> Option<(String, String)> {
    let allowed = |ops: DdlOps| match ddl.kind {
        DdlKind::CreateTable => ops.create_table,
        DdlKind::AlterTable => ops.alter_table,
        DdlKind::DropTable => ops.drop_table,
        DdlKind::RenameTable => ops.rename_table,
        DdlKind::TruncateTable => ops.truncate_table,
        DdlKind::Other => false,
    };
    let db = db_list.select_database(&ddl.schema)?;
    if ddl.kind == DdlKind::Other {
        tracing::warn!(statement = %ddl.statement, "DDL of an unsupported kind is not replayed");
        return None;
    }
    if ddl.tables.is_empty() {
        return None;
    }
    for t in &ddl.tables {
        // A table that does not exist yet (CREATE, RENAME target) is selected
        // when its schema is selected whole.
        if !allowed(db_list.select_table(&t.schema, &t.table)?.ddl_ops) {
            return None;
        }
    }
    match rewrite_ddl(db_list, ddl) {
        Ok(sql) => Some((db.dest_name_for(&ddl.schema).to_string(), sql)),
        Err(reason) => {
            tracing::warn!(statement = %ddl.statement, %reason, "DDL not replayed: it cannot be rewritten for the destination safely");
            None
        }
    }
}

/// The statement with the schema and table names the DbList renames
/// replaced, or why that cannot be done safely:
/// - `schema.table` (and any `schema.object`): the schema when the DbList
///   maps it to another name, the table when its selection renames it;
/// - a single name after `SCHEMA` (SET SCHEMA) is a schema;
/// - an unqualified name of a table renamed in the default schema is
///   replaced only where it can only be a table (after `TABLE`, `ON`,
///   `REFERENCES`, `RENAME TO`, `LIKE`, `OF`, `INHERITS (` or in a DROP's
///   list); elsewhere it could be a column or another object: refused.
///
/// Refused too: several statements, names of three parts or more touching a
/// renamed name, and a table of the statement named like a renamed schema.
/// `CONCURRENTLY` is dropped (it cannot run in a transaction).
pub fn rewrite_ddl(db_list: &DbList, ddl: &DdlChange) -> Result<String, String> {
    let tokens = ddl::tokenize(&ddl.statement)?;
    if ddl::split_statements(&tokens).len() != 1 {
        return Err("not exactly one statement".into());
    }
    let schema_dest = |s: &str| db_list.select_database(s).map(|d| d.dest_name_for(s).to_string()).filter(|d| d != s);
    let table_dest = |s: &str, t: &str| db_list.select_table(s, t).map(|sel| sel.dest_table).filter(|d| d != t);
    if ddl.tables.iter().any(|t| schema_dest(&t.table).is_some() && db_list.select_database(&t.table).is_some()) {
        return Err("a table is named like a renamed schema".into());
    }
    let is_drop = tokens.first().is_some_and(|t| t.is_kw("DROP"));
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        if t.is_kw("CONCURRENTLY") {
            edits.push((t.start, t.end, String::new()));
            i += 1;
            continue;
        }
        let Some(first) = t.ident() else {
            i += 1;
            continue;
        };
        let mut parts = vec![(i, first)];
        let mut j = i + 1;
        while tokens.get(j).is_some_and(|t| t.is_punct('.')) {
            match tokens.get(j + 1).and_then(|t| t.ident()) {
                Some(p) => parts.push((j + 1, p)),
                None => break,
            }
            j += 2;
        }
        match parts.as_slice() {
            [(si, s), (ti, t)] => {
                if let Some(d) = schema_dest(s) {
                    edits.push((tokens[*si].start, tokens[*si].end, quote_ident(&d)));
                }
                if let Some(d) = table_dest(s, t) {
                    edits.push((tokens[*ti].start, tokens[*ti].end, quote_ident(&d)));
                }
            }
            [(ni, n)] => {
                let after_schema = i > 0 && tokens[i - 1].is_kw("SCHEMA");
                if let (true, Some(d)) = (after_schema, schema_dest(n)) {
                    edits.push((tokens[*ni].start, tokens[*ni].end, quote_ident(&d)));
                } else if let Some(d) = table_dest(&ddl.schema, n) {
                    if !table_position(&tokens, i, is_drop) {
                        return Err(format!("{n:?} may name a column or another object here"));
                    }
                    edits.push((tokens[*ni].start, tokens[*ni].end, quote_ident(&d)));
                }
            }
            longer => {
                if longer.iter().any(|(_, p)| schema_dest(p).is_some() || table_dest(&ddl.schema, p).is_some()) {
                    return Err("a name of three parts or more involves a renamed object".into());
                }
            }
        }
        i = j.max(i + 1);
    }
    let mut out = ddl.statement.clone();
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    for (start, end, text) in edits {
        out.replace_range(start..end, &text);
    }
    Ok(out)
}

/// Whether an unqualified name at `i` can only be a table.
fn table_position(tokens: &[ddl::Token], i: usize, is_drop: bool) -> bool {
    let mut k = i;
    while k > 0 && ["IF", "NOT", "EXISTS", "ONLY", "CONCURRENTLY"].iter().any(|w| tokens[k - 1].is_kw(w)) {
        k -= 1;
    }
    let Some(prev) = k.checked_sub(1).map(|p| &tokens[p]) else { return false };
    ["TABLE", "ON", "REFERENCES", "LIKE", "OF"].iter().any(|w| prev.is_kw(w))
        || (prev.is_kw("TO") && k >= 2 && tokens[k - 2].is_kw("RENAME"))
        || (prev.is_punct('(') && k >= 2 && tokens[k - 2].is_kw("INHERITS"))
        || (prev.is_punct(',') && is_drop)
}

async fn prepared(tx: &Transaction<'_>, cache: &mut HashMap<String, Statement>, sql: String) -> Result<Statement, PgError> {
    if let Some(s) = cache.get(&sql) {
        return Ok(s.clone());
    }
    let s = guarded(tx.prepare(&sql), || format!("prepare {sql}")).await?;
    cache.insert(sql, s.clone());
    Ok(s)
}

async fn record(
    tx: &Transaction<'_>,
    cache: &mut HashMap<String, Statement>,
    job_key: &str,
    position: &SourcePosition,
    source_time: i64,
) -> Result<(), PgError> {
    let text = serde_json::to_string(position).map_err(|e| PgError::other("record the checkpoint", e.to_string()))?;
    let sql = format!(
        "INSERT INTO {META_SCHEMA}.incremental_checkpoint (job_id, position, source_time, applied_at) VALUES ($1, $2, $3, now())
         ON CONFLICT (job_id) DO UPDATE SET position = EXCLUDED.position, source_time = EXCLUDED.source_time, applied_at = now()"
    );
    let st = prepared(tx, cache, sql).await?;
    guarded(tx.execute(&st, &[&job_key, &text, &source_time]), || "record the checkpoint".into()).await?;
    Ok(())
}

/// Appends `op`, merging it into the previous operation when both are of
/// the same kind, table and columns: order is kept because only neighbours
/// merge, and batches keyed by a conflict target never hold a key twice.
/// How far back an operation may move to join a group of its kind.
const LIFT_WINDOW: usize = 16;

/// Appends `op`, merged into an earlier operation of the same kind on the
/// same table when that gives the same result: with the immediately
/// preceding one as before, or further back when `op` may move ahead of the
/// operations in between — it touches none of their keys on its table
/// (changes to different keys commute), its table has no other unique
/// constraint that an order change could trip, and, between tables,
/// `cross_tables` says foreign keys are not checked (the session runs with
/// `session_replication_role = replica`). A batch of many small
/// transactions thus becomes a few statements per table.
fn push_merged(ops: &mut Vec<Op>, op: Op, cross_tables: bool) {
    let mut op = op;
    // Most changes join the operation before them: try that before working
    // out the keys the lift below needs.
    let Some(prev) = ops.last_mut() else {
        ops.push(op);
        return;
    };
    match prev.absorb(op) {
        None => return,
        Some(back) => op = back,
    }
    let keys = op.movable_keys();
    let last = ops.len() - 1;
    for i in (0..ops.len()).rev().take(LIFT_WINDOW) {
        if i != last {
            match ops[i].absorb(op) {
                None => return,
                Some(back) => op = back,
            }
        }
        let Some(keys) = &keys else { break };
        if ops[i].table().id != op.table().id {
            if !cross_tables {
                break;
            }
            continue;
        }
        if ops[i].touches(keys) {
            // A whole-row write or a delete decides its key's final state:
            // earlier writes of that key in the batch no longer matter.
            if !(op.decides_keys() && ops[i].forget(keys)) {
                break;
            }
            if let (Op::Delete { .. }, Op::Upsert { fresh, .. }) = (&ops[i], &mut op) {
                // The row it inserts again may still be there, its delete gone.
                *fresh = false;
            }
            match ops[i].absorb(op) {
                None => return,
                Some(back) => op = back,
            }
        }
    }
    ops.push(op);
}

impl Op {
    /// Whether the operation fixes the final state of its keys whatever came
    /// before: a whole-row upsert or a delete by key.
    fn decides_keys(&self) -> bool {
        matches!(self, Op::Upsert { .. } | Op::Delete { .. })
    }

    /// Drops this operation's writes of `keys` (a later operation decides
    /// them); false when it cannot (partial updates, keyless rows).
    fn forget(&mut self, keys: &HashSet<TextRow>) -> bool {
        match self {
            Op::Upsert { keys: live, .. } => {
                for k in keys {
                    live.remove(k);
                }
                true
            }
            Op::Delete { keys: live, .. } => {
                for k in keys {
                    live.remove(k);
                }
                true
            }
            Op::Insert { .. } | Op::Update { .. } | Op::DeleteExact { .. } => false,
        }
    }

    /// The keys this operation touches, when it may move ahead of others.
    fn movable_keys(&self) -> Option<HashSet<TextRow>> {
        if !self.table().reorderable {
            return None;
        }
        match self {
            Op::Upsert { keys, .. } => Some(keys.keys().cloned().collect()),
            Op::Update { keys, old_keys, .. } => Some(keys.iter().chain(old_keys).cloned().collect()),
            Op::Delete { keys, .. } => Some(keys.clone()),
            Op::Insert { .. } | Op::DeleteExact { .. } => None,
        }
    }

    /// Whether this operation touches any of `keys` (of its own table).
    fn touches(&self, keys: &HashSet<TextRow>) -> bool {
        match self {
            Op::Upsert { keys: k, .. } => keys.iter().any(|x| k.contains_key(x)),
            Op::Update { keys: k, old_keys, .. } => {
                !k.is_disjoint(keys) || old_keys.iter().any(|o| keys.contains(o))
            }
            Op::Delete { keys: k, .. } => !k.is_disjoint(keys),
            Op::Insert { .. } | Op::DeleteExact { .. } => true,
        }
    }

    /// Merges `op` into this one when they are one statement's worth of the
    /// same work; gives it back otherwise.
    fn absorb(&mut self, op: Op) -> Option<Op> {
        let same = |a: &Arc<DestTable>, b: &Arc<DestTable>| Arc::ptr_eq(a, b) || a.id == b.id;
        let same_columns = |a: &Arc<[String]>, b: &Arc<[String]>| Arc::ptr_eq(a, b) || a == b;
        match (self, op) {
            (Op::Insert { table, columns, rows }, Op::Insert { table: t, columns: c, rows: r })
                if same(table, &t) && same_columns(columns, &c) && rows.len() < MAX_MERGED =>
            {
                rows.extend(r);
                None
            }
            (Op::Upsert { table, columns, rows, keys, fresh }, Op::Upsert { table: t, columns: c, rows: r, keys: k, fresh: f })
                if same(table, &t)
                    && same_columns(columns, &c)
                    && *fresh == f
                    && rows.len() < MAX_MERGED
                    && k.keys().all(|x| !keys.contains_key(x)) =>
            {
                let base = rows.len();
                keys.extend(k.into_iter().map(|(key, i)| (key, base + i)));
                rows.extend(r);
                None
            }
            (
                Op::Update { table, columns, old_keys, rows, keys },
                Op::Update { table: t, columns: c, old_keys: o, rows: r, keys: k },
            ) if same(table, &t)
                && same_columns(columns, &c)
                && rows.len() < MAX_MERGED
                && k.is_disjoint(keys)
                // A key that moves twice needs two statements.
                && !o.iter().any(|x| keys.contains(x))
                && !old_keys.iter().any(|x| k.contains(x)) =>
            {
                old_keys.extend(o);
                rows.extend(r);
                keys.extend(k);
                None
            }
            (Op::Delete { table, keys }, Op::Delete { table: t, keys: k }) if same(table, &t) && keys.len() < MAX_MERGED => {
                keys.extend(k);
                None
            }
            (_, op) => Some(op),
        }
    }
}

/// Rows as one `text[]` per column.
fn by_column(rows: &[TextRow], width: usize) -> Vec<Vec<Text>> {
    (0..width).map(|i| rows.iter().map(|r| r[i].clone()).collect()).collect()
}

/// [`by_column`] moving the values rather than copying them.
fn into_columns(rows: Vec<TextRow>, width: usize) -> Vec<Vec<Text>> {
    let mut cols: Vec<Vec<Text>> = (0..width).map(|_| Vec::with_capacity(rows.len())).collect();
    for row in rows {
        for (col, value) in cols.iter_mut().zip(row) {
            col.push(value);
        }
    }
    cols
}

fn arrays(n: usize, first: usize) -> String {
    (0..n).map(|i| format!("${}::text[]", first + i)).collect::<Vec<_>>().join(", ")
}

fn aliases(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// `INSERT ... SELECT ... FROM unnest(...)`, with `ON CONFLICT` when keyed.
fn insert_sql(table: &DestTable, columns: &[String], upsert: bool) -> String {
    let cols: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let values: Vec<String> = columns.iter().enumerate().map(|(i, c)| format!("u.c{i}::{}", table.cast(c))).collect();
    let overriding =
        if columns.iter().any(|c| table.column(c).identity_always) { "OVERRIDING SYSTEM VALUE " } else { "" };
    let mut sql = format!(
        "INSERT INTO {} ({}) {overriding}SELECT {} FROM unnest({}) AS u({})",
        table.sql_name(),
        cols.join(", "),
        values.join(", "),
        arrays(columns.len(), 1),
        aliases("c", columns.len()).join(", ")
    );
    if upsert {
        let key: Vec<String> = table.key.iter().map(|c| quote_ident(c)).collect();
        let set: Vec<String> = columns
            .iter()
            .filter(|c| !table.key.contains(c) && !table.column(c).identity_always)
            .map(|c| format!("{0} = EXCLUDED.{0}", quote_ident(c)))
            .collect();
        if set.is_empty() {
            sql.push_str(&format!(" ON CONFLICT ({}) DO NOTHING", key.join(", ")));
        } else {
            sql.push_str(&format!(" ON CONFLICT ({}) DO UPDATE SET {}", key.join(", "), set.join(", ")));
        }
    }
    sql
}

/// `UPDATE ... SET <listed columns> FROM unnest(old keys, new values) WHERE
/// key = old key`, skipping rows whose new key belongs to another row (a
/// replayed batch), returning the ordinal of each row updated.
fn update_sql(table: &DestTable, columns: &[String]) -> String {
    let nk = table.key.len();
    let name = table.sql_name();
    let mut set: Vec<String> = columns
        .iter()
        .enumerate()
        .filter(|(_, c)| !table.column(c).identity_always)
        .map(|(i, c)| format!("{} = u.c{i}::{}", quote_ident(c), table.cast(c)))
        .collect();
    if set.is_empty() {
        set.push(format!("{0} = t.{0}", quote_ident(&columns[0])));
    }
    let new_key_pos: Vec<usize> = table.key.iter().map(|k| columns.iter().position(|c| c == k).unwrap_or(0)).collect();
    let at_old: Vec<String> =
        table.key.iter().enumerate().map(|(i, k)| format!("t.{} = u.o{i}::{}", quote_ident(k), table.cast(k))).collect();
    let at_new: Vec<String> = table
        .key
        .iter()
        .zip(&new_key_pos)
        .map(|(k, p)| format!("x.{} = u.c{p}::{}", quote_ident(k), table.cast(k)))
        .collect();
    let old_text: Vec<String> = aliases("u.o", nk);
    let new_text: Vec<String> = new_key_pos.iter().map(|p| format!("u.c{p}")).collect();
    format!(
        "UPDATE {name} AS t SET {} FROM unnest({}) WITH ORDINALITY AS u({}, {}, ord)
         WHERE {} AND (ROW({}) IS NOT DISTINCT FROM ROW({}) OR NOT EXISTS (SELECT 1 FROM {name} AS x WHERE {}))
         RETURNING u.ord",
        set.join(", "),
        arrays(nk + columns.len(), 1),
        aliases("o", nk).join(", "),
        aliases("c", columns.len()).join(", "),
        at_old.join(" AND "),
        old_text.join(", "),
        new_text.join(", "),
        at_new.join(" AND ")
    )
}

fn delete_sql(table: &DestTable) -> String {
    let conds: Vec<String> =
        table.key.iter().enumerate().map(|(i, k)| format!("t.{} = u.c{i}::{}", quote_ident(k), table.cast(k))).collect();
    format!(
        "DELETE FROM {} AS t USING unnest({}) AS u({}) WHERE {}",
        table.sql_name(),
        arrays(table.key.len(), 1),
        aliases("c", table.key.len()).join(", "),
        conds.join(" AND ")
    )
}

/// Deletes the first row equal to the given one in every listed column
/// (compared as text, so that types without equality work too).
fn delete_exact_sql(table: &DestTable, columns: &[String]) -> String {
    let name = table.sql_name();
    let conds: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("t.{}::text IS NOT DISTINCT FROM (${}::text::{})::text", quote_ident(c), i + 1, table.cast(c)))
        .collect();
    let conds = if conds.is_empty() { "true".to_string() } else { conds.join(" AND ") };
    format!("DELETE FROM {name} WHERE (tableoid, ctid) = (SELECT t.tableoid, t.ctid FROM {name} AS t WHERE {conds} LIMIT 1)")
}

async fn run(
    tx: &Transaction<'_>,
    cache: &mut HashMap<String, Statement>,
    sql: String,
    params: &[&(dyn ToSql + Sync)],
    table: &TableId,
) -> Result<u64, PgError> {
    let st = prepared(tx, cache, sql).await?;
    guarded(tx.execute(&st, params), || format!("apply changes to {table}")).await
}

/// Executes one operation; returns the number of changes it carried.
/// `wary`: tables whose inserted rows lately existed on the destination, with
/// the number of upserts left before plain INSERTs are tried again.
async fn execute(
    tx: &Transaction<'_>,
    cache: &mut HashMap<String, Statement>,
    wary: &mut HashMap<TableId, u32>,
    op: Op,
) -> Result<u64, PgError> {
    let emptied = match &op {
        Op::Insert { rows, .. } => rows.is_empty(),
        Op::Upsert { keys, .. } => keys.is_empty(),
        Op::Delete { keys, .. } => keys.is_empty(),
        Op::Update { .. } | Op::DeleteExact { .. } => false,
    };
    if emptied {
        // Every write of it was decided by a later operation of the batch.
        return Ok(0);
    }
    let table = op.table().clone();
    let id = &table.id;
    match op {
        Op::Insert { columns, rows, .. } => {
            let n = rows.len() as u64;
            let cols = into_columns(rows, columns.len());
            let params: Vec<&(dyn ToSql + Sync)> = cols.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
            run(tx, cache, insert_sql(&table, &columns, false), &params, id).await?;
            Ok(n)
        }
        Op::Upsert { columns, rows, keys, fresh, .. } => {
            // Rows a later change of the batch decided are left out.
            let rows = if keys.len() == rows.len() {
                rows
            } else {
                let mut at: Vec<usize> = keys.values().copied().collect();
                at.sort_unstable();
                let mut slots: Vec<Option<TextRow>> = rows.into_iter().map(Some).collect();
                at.into_iter().filter_map(|i| slots.get_mut(i).and_then(Option::take)).collect()
            };
            let n = rows.len() as u64;
            let cols = into_columns(rows, columns.len());
            let params: Vec<&(dyn ToSql + Sync)> = cols.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
            if fresh && wary.get(id).is_none_or(|left| *left == 0) {
                // Rows the source inserted are almost always new here: a plain
                // INSERT skips ON CONFLICT's per-row probe and tuple lock. A key
                // that exists after all (a source whose snapshot and log overlap,
                // rows written on the destination) rolls it back, and the upsert
                // runs instead; the table is then upserted for a while.
                guarded(tx.batch_execute("SAVEPOINT opendts_insert"), || format!("apply changes to {id}")).await?;
                match run(tx, cache, insert_sql(&table, &columns, false), &params, id).await {
                    Ok(_) => {
                        guarded(tx.batch_execute("RELEASE SAVEPOINT opendts_insert"), || format!("apply changes to {id}")).await?;
                        return Ok(n);
                    }
                    Err(e) if e.sqlstate() == Some("23505") => {
                        tracing::debug!(table = %id, "inserted rows exist on the destination: upserted instead");
                        guarded(tx.batch_execute("ROLLBACK TO SAVEPOINT opendts_insert"), || format!("apply changes to {id}")).await?;
                        wary.insert(id.clone(), WARY_STATEMENTS);
                    }
                    Err(e) => return Err(e),
                }
            } else if let Some(left) = wary.get_mut(id) {
                *left = left.saturating_sub(1);
            }
            run(tx, cache, insert_sql(&table, &columns, true), &params, id).await?;
            Ok(n)
        }
        Op::Delete { keys, .. } => {
            let n = keys.len() as u64;
            let cols = into_columns(keys.into_iter().collect(), table.key.len());
            let params: Vec<&(dyn ToSql + Sync)> = cols.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
            run(tx, cache, delete_sql(&table), &params, id).await?;
            Ok(n)
        }
        Op::DeleteExact { columns, row, .. } => {
            let params: Vec<&(dyn ToSql + Sync)> = row.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
            run(tx, cache, delete_exact_sql(&table, &columns), &params, id).await?;
            Ok(1)
        }
        Op::Update { columns, old_keys, rows, .. } => {
            let mut cols = by_column(&old_keys, table.key.len());
            cols.extend(by_column(&rows, columns.len()));
            let params: Vec<&(dyn ToSql + Sync)> = cols.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
            let st = prepared(tx, cache, update_sql(&table, &columns)).await?;
            let done = guarded(tx.query(&st, &params), || format!("apply changes to {id}")).await?;
            let mut updated = HashSet::new();
            for r in done {
                let ord: i64 = r.try_get(0).context(|| format!("apply changes to {id}"))?;
                updated.insert(ord as usize - 1);
            }
            // Rows not found by their old key: if the key moved, remove the
            // old key and try again by the new key (a replayed batch, the row
            // already moved); rows found by neither are inserted.
            let key_pos: Vec<usize> = table.key.iter().map(|k| columns.iter().position(|c| c == k).unwrap_or(0)).collect();
            let (mut deletes, mut retry_keys, mut retry, mut upserts) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for (i, (old, new)) in old_keys.iter().zip(&rows).enumerate() {
                if updated.contains(&i) {
                    continue;
                }
                let new_key: TextRow = key_pos.iter().map(|&p| new[p].clone()).collect();
                if *old != new_key {
                    deletes.push(old.clone());
                    retry_keys.push(new_key);
                    retry.push(new.clone());
                } else {
                    upserts.push(new.clone());
                }
            }
            if !deletes.is_empty() {
                Box::pin(execute(tx, cache, wary, Op::delete(table.clone(), deletes))).await?;
            }
            if !retry.is_empty() {
                let op = Op::Update { table: table.clone(), columns: columns.clone(), old_keys: retry_keys, rows: retry, keys: HashSet::new() };
                Box::pin(execute(tx, cache, wary, op)).await?;
            }
            if !upserts.is_empty() {
                let op = Op::upsert(table.clone(), columns.clone(), upserts, &key_pos);
                Box::pin(execute(tx, cache, wary, op)).await?;
            }
            Ok(rows.len() as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(key: &[&str]) -> Arc<DestTable> {
        let columns: Vec<DestColumn> = ["id", "v"]
            .iter()
            .map(|n| DestColumn {
                name: n.to_string(),
                cast: if *n == "id" { "integer".into() } else { "text".into() },
                kind: TextKind::Text,
                generated: false,
                identity_always: false,
            })
            .collect();
        let by_name = columns.iter().enumerate().map(|(i, c)| (c.name.clone(), i)).collect();
        let key: Vec<String> = key.iter().map(|k| k.to_string()).collect();
        Arc::new(DestTable { id: TableId::new("s", "t"), columns, by_name, reorderable: !key.is_empty(), key })
    }

    fn up(t: &Arc<DestTable>, id: &str) -> Op {
        let row = vec![Some(id.to_string()), None];
        Op::Upsert {
            table: t.clone(),
            columns: Arc::from(vec!["id".to_string(), "v".to_string()]),
            keys: HashMap::from([(vec![row[0].clone()], 0)]),
            rows: vec![row],
            fresh: false,
        }
    }

    /// The rows (key → value) after running `ops` in order on a table holding `start`.
    fn outcome(ops: &[Op], start: &[&str]) -> std::collections::BTreeMap<String, Option<String>> {
        let mut state: std::collections::BTreeMap<String, Option<String>> =
            start.iter().map(|s| (s.to_string(), Some("start".to_string()))).collect();
        for op in ops {
            match op {
                Op::Upsert { rows, keys, .. } => {
                    let mut at: Vec<usize> = keys.values().copied().collect();
                    at.sort_unstable();
                    for r in at.into_iter().map(|i| &rows[i]) {
                        state.insert(r[0].clone().unwrap_or_default(), r[1].clone());
                    }
                }
                Op::Delete { keys, .. } => {
                    for k in keys {
                        state.remove(k[0].as_deref().unwrap_or_default());
                    }
                }
                _ => {}
            }
        }
        state
    }

    /// Merges `ops` and checks the result is the same as running them one by one.
    fn merged_same(ops: Vec<Op>, cross_tables: bool) -> Vec<Op> {
        let start = ["1", "2", "8", "9"];
        let one_by_one = outcome(&ops, &start);
        let mut merged = Vec::new();
        for op in ops {
            push_merged(&mut merged, op, cross_tables);
        }
        assert_eq!(outcome(&merged, &start), one_by_one, "{merged:?}");
        merged
    }

    #[test]
    fn random_batches_merge_to_the_same_outcome() {
        let t = table(&["id"]);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..500 {
            let ops: Vec<Op> = (0..30)
                .map(|_| {
                    let key = (next() % 6).to_string();
                    if next() % 3 == 0 {
                        Op::delete(t.clone(), vec![vec![Some(key)]])
                    } else {
                        let row = vec![Some(key.clone()), Some(next().to_string())];
                        Op::Upsert {
                            table: t.clone(),
                            columns: Arc::from(vec!["id".to_string(), "v".to_string()]),
                            keys: HashMap::from([(vec![Some(key)], 0)]),
                            rows: vec![row],
                            fresh: false,
                        }
                    }
                })
                .collect();
            merged_same(ops, false);
        }
    }

    #[test]
    fn a_later_write_of_a_key_decides_it() {
        let t = table(&["id"]);
        let del = |id: &str| Op::delete(t.clone(), vec![vec![Some(id.to_string())]]);
        let ops = merged_same(vec![up(&t, "1"), del("9"), del("1"), up(&t, "9"), up(&t, "2"), del("2"), up(&t, "1")], false);
        assert!(ops.len() <= 2, "{ops:?}");
        let ops = merged_same(vec![del("1"), up(&t, "1"), del("1"), up(&t, "3"), del("3"), del("8")], false);
        assert!(ops.len() <= 2, "{ops:?}");
    }

    #[test]
    fn operations_move_ahead_only_past_other_keys() {
        let t = table(&["id"]);
        let del = |id: &str| Op::delete(t.clone(), vec![vec![Some(id.to_string())]]);
        let ops = merged_same(
            vec![up(&t, "1"), del("9"), up(&t, "2"), del("8"), up(&t, "3"), del("1"), up(&t, "4"), up(&t, "1")],
            false,
        );
        // One upsert and one delete: every change moved ahead to join its kind.
        assert_eq!(ops.len(), 2, "{ops:?}");

        // A table with another unique constraint keeps the order.
        let mut strict = (*table(&["id"])).clone_shape();
        strict.reorderable = false;
        let s = Arc::new(strict);
        let sdel = |id: &str| Op::delete(s.clone(), vec![vec![Some(id.to_string())]]);
        assert_eq!(merged_same(vec![up(&s, "1"), sdel("9"), up(&s, "2")], false).len(), 3);

        // Between tables only when foreign keys are off.
        let other = Arc::new({
            let mut o = (*table(&["id"])).clone_shape();
            o.id = TableId::new("s", "other");
            o
        });
        for (cross, expected) in [(false, 3), (true, 2)] {
            let mut ops = Vec::new();
            for op in [up(&t, "1"), up(&other, "1"), up(&t, "2")] {
                push_merged(&mut ops, op, cross);
            }
            assert_eq!(ops.len(), expected);
        }
    }

    #[test]
    fn neighbours_merge_without_repeating_a_key() {
        let t = table(&["id"]);
        let del = |id: &str| Op::delete(t.clone(), vec![vec![Some(id.to_string())]]);
        let ops = merged_same(vec![up(&t, "1"), up(&t, "2"), up(&t, "1"), del("1"), del("2"), up(&t, "1")], false);
        // Each key written points at its own row, so no statement names a key twice.
        for op in &ops {
            if let Op::Upsert { rows, keys, .. } = op {
                assert!(keys.iter().all(|(k, &i)| rows[i][0] == k[0]), "{ops:?}");
            }
        }
    }

    fn ddl(kind: DdlKind, schema: &str, sql: &str, tables: &[(&str, &str)]) -> DdlChange {
        DdlChange {
            schema: schema.into(),
            statement: sql.into(),
            kind,
            tables: tables.iter().map(|(s, t)| TableId::new(*s, *t)).collect(),
        }
    }

    #[test]
    fn ddl_is_rewritten_for_renamed_schemas_and_tables() {
        let list = DbList::parse(
            r#"{"shop":{"name":"shop2","all":true,"Table":{"orders":{"name":"orders2","all":true}}},"other":{"all":true}}"#,
            opendts_core::dblist::DbListContext::Migration,
        )
        .unwrap();
        let rw = |kind, sql: &str, tables: &[(&str, &str)]| rewrite_ddl(&list, &ddl(kind, "shop", sql, tables));
        assert_eq!(
            rw(DdlKind::AlterTable, "ALTER TABLE shop.items ADD c text DEFAULT 'shop.orders' -- shop.x", &[("shop", "items")]).unwrap(),
            "ALTER TABLE \"shop2\".items ADD c text DEFAULT 'shop.orders' -- shop.x"
        );
        assert_eq!(
            rw(DdlKind::AlterTable, "alter table only orders add constraint f foreign key (x) references \"shop\".orders (id)", &[("shop", "orders")])
                .unwrap(),
            "alter table only \"orders2\" add constraint f foreign key (x) references \"shop2\".\"orders2\" (id)"
        );
        assert_eq!(
            rw(DdlKind::RenameTable, "ALTER TABLE shop.items SET SCHEMA other", &[("shop", "items"), ("other", "items")]).unwrap(),
            "ALTER TABLE \"shop2\".items SET SCHEMA other"
        );
        assert_eq!(
            rw(DdlKind::AlterTable, "CREATE INDEX CONCURRENTLY i ON orders (x)", &[("shop", "orders")]).unwrap(),
            "CREATE INDEX  i ON \"orders2\" (x)"
        );
        // A column named like the renamed table: ambiguous.
        assert!(rw(DdlKind::AlterTable, "ALTER TABLE orders ADD orders int", &[("shop", "orders")]).is_err());
        assert!(rw(DdlKind::AlterTable, "ALTER TABLE a ADD x int; DROP TABLE b", &[("shop", "a")]).is_err());
        assert!(rw(DdlKind::AlterTable, "COMMENT ON COLUMN shop.orders.x IS ''", &[("shop", "orders")]).is_err());
        // ddl_op and selection.
        let none = DbList::parse(r#"{"shop":{"all":true,"ddl_op":"ct"}}"#, opendts_core::dblist::DbListContext::Migration).unwrap();
        assert!(replayable(&none, &ddl(DdlKind::AlterTable, "shop", "ALTER TABLE t ADD c int", &[("shop", "t")])).is_none());
        let (schema, sql) = replayable(&none, &ddl(DdlKind::CreateTable, "shop", "CREATE TABLE t (id int)", &[("shop", "t")])).unwrap();
        assert_eq!((schema.as_str(), sql.as_str()), ("shop", "CREATE TABLE t (id int)"));
        assert!(replayable(&none, &ddl(DdlKind::CreateTable, "else", "CREATE TABLE t (id int)", &[("else", "t")])).is_none());
        assert!(replayable(&list, &ddl(DdlKind::Other, "shop", "SELECT f()", &[("shop", "t")])).is_none());
    }

    #[test]
    fn statements_cast_text_arrays() {
        let t = table(&["id"]);
        assert_eq!(
            insert_sql(&t, &["id".into(), "v".into()], true),
            "INSERT INTO \"s\".\"t\" (\"id\", \"v\") SELECT u.c0::integer, u.c1::text FROM unnest($1::text[], $2::text[]) AS u(c0, c1) \
             ON CONFLICT (\"id\") DO UPDATE SET \"v\" = EXCLUDED.\"v\""
        );
        assert_eq!(
            delete_sql(&t),
            "DELETE FROM \"s\".\"t\" AS t USING unnest($1::text[]) AS u(c0) WHERE t.\"id\" = u.c0::integer"
        );
        assert!(update_sql(&t, &["id".into()]).contains("FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(o0, c0, ord)"));
        assert_eq!(
            delete_exact_sql(&table(&[]), &["v".into()]),
            "DELETE FROM \"s\".\"t\" WHERE (tableoid, ctid) = (SELECT t.tableoid, t.ctid FROM \"s\".\"t\" AS t \
             WHERE t.\"v\"::text IS NOT DISTINCT FROM ($1::text::text)::text LIMIT 1)"
        );
    }
}
