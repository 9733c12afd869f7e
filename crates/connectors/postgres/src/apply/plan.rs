//! Planning: a batch of source row changes becomes destination operations
//! ([`PlannedOps`]), honouring the DbList.

use super::dest::{DestColumn, DestTable, TextRow};
use super::ops::{push_merged, Op};
use super::Applied;
use crate::cell::{self, TextKind};
use crate::error::{Context, PgError};
use crate::session::qualified;
use opendts_core::change::{RowChange, RowOp};
use opendts_core::dblist::{DbList, TableSelection};
use opendts_core::row::{Cell, TableId};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio_postgres::Client;

/// Turns source row changes into destination statements ([`PlannedOps`]).
/// It reads the shapes of destination tables through the client it is given
/// and keeps them until [`Planner::forget_tables`] (call it after DDL), so a
/// pipeline can plan the next batch on a connection of its own while the
/// [`ChangeApplier`](super::ChangeApplier) runs the previous one.
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
    pub(super) ops: Vec<Op>,
    pub(super) applied: Applied,
}

/// Whether a row passes the table's filter; dates and times compare in
/// PostgreSQL's text form.
fn matches(sel: &TableSelection<'_>, columns: &[String], row: &[Cell]) -> bool {
    sel.row_matches(columns, row, |c| cell::to_text(c, TextKind::Text).ok().flatten())
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

