//! Applying change streams to a MySQL-family destination.
//!
//! Row changes are applied idempotently (an insert or update writes the whole
//! after-image with an upsert; a delete removes by key), in source order, and
//! each destination transaction also records the source position reached, so
//! after a crash the stream resumes exactly after the last applied change:
//! nothing is applied twice, nothing is skipped.

use crate::cell;
use crate::error::{guarded, Context, MySqlError};
use crate::session::{self, quote_ident};
use crate::sink::META_SCHEMA;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, TxOpts, Value};
use opendts_core::change::{DdlChange, DdlKind, RowChange, RowOp, SourcePosition};
use opendts_core::dblist::{DbList, TableSelection};
use opendts_core::endpoint::Endpoint;
use opendts_core::row::{Cell, TableId};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// What the destination table looks like (cached; dropped on DDL).
#[derive(Debug)]
struct DestTable {
    /// Every column of the destination table.
    columns: HashSet<String>,
    generated: HashSet<String>,
    /// Primary key, else a unique key on NOT NULL columns; empty when none.
    key: Vec<String>,
}

/// One statement's worth of work on the destination.
#[derive(Debug, Clone, PartialEq)]
enum Op {
    /// Insert or overwrite whole rows (same table, same columns).
    Upsert { table: TableId, columns: Vec<String>, rows: Vec<Vec<Cell>> },
    /// Delete rows by key.
    Delete { table: TableId, key: Vec<String>, keys: Vec<Vec<Cell>> },
    /// Delete one row of a keyless table, matching every column.
    DeleteExact { table: TableId, columns: Vec<String>, row: Vec<Cell> },
}

/// Errors meaning a DDL statement's effect is already there: table exists
/// (1050), unknown table (1051), duplicate column (1060) or key (1061), cannot
/// drop a missing column or key (1091), table does not exist (1146).
const ALREADY_APPLIED: &[u16] = &[1050, 1051, 1060, 1061, 1091, 1146];

/// Statistics of one applied batch.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub rows: u64,
    pub bytes: u64,
}

/// Writes changes to one destination for one job.
pub struct ChangeApplier {
    conn: Conn,
    job_key: String,
    tables: HashMap<TableId, Arc<DestTable>>,
}

fn matches(sel: &TableSelection<'_>, columns: &[String], row: &[Cell]) -> bool {
    sel.row_matches(columns, row, |other| Some(format!("{other:?}")))
}

impl ChangeApplier {
    pub async fn connect(ep: &Endpoint, job_key: &str) -> Result<ChangeApplier, MySqlError> {
        let mut conn = session::sink(ep).await?;
        let what = || "create the incremental checkpoint table".to_string();
        conn.query_drop(format!("CREATE DATABASE IF NOT EXISTS {META_SCHEMA}")).await.context(what)?;
        conn.query_drop(format!(
            "CREATE TABLE IF NOT EXISTS {META_SCHEMA}.incremental_checkpoint (
                job_id VARCHAR(64) NOT NULL PRIMARY KEY, position TEXT NOT NULL,
                source_time BIGINT NOT NULL, applied_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                ON UPDATE CURRENT_TIMESTAMP(6)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        ))
        .await
        .context(what)?;
        Ok(ChangeApplier { conn, job_key: job_key.to_string(), tables: HashMap::new() })
    }

    /// Rejects values the destination would otherwise adjust (changes from
    /// another engine), see [`session::make_strict`].
    pub async fn make_strict(&mut self) -> Result<(), MySqlError> {
        session::make_strict(&mut self.conn).await
    }

    /// The source position after the last change applied, if any.
    pub async fn checkpoint(&mut self) -> Result<Option<(SourcePosition, i64)>, MySqlError> {
        let row: Option<(String, i64)> = self
            .conn
            .exec_first(
                format!("SELECT position, source_time FROM {META_SCHEMA}.incremental_checkpoint WHERE job_id = ?"),
                (&self.job_key,),
            )
            .await
            .context(|| "read the incremental checkpoint".into())?;
        match row {
            None => Ok(None),
            Some((text, time)) => serde_json::from_str(&text)
                .map(|p| Some((p, time)))
                .map_err(|e| MySqlError::other("read the incremental checkpoint", e.to_string())),
        }
    }

    async fn dest_table(&mut self, table: &TableId) -> Result<Arc<DestTable>, MySqlError> {
        if let Some(t) = self.tables.get(table) {
            return Ok(t.clone());
        }
        let cols: Vec<(Vec<u8>, Vec<u8>)> = self
            .conn
            .exec(
                "SELECT COLUMN_NAME, EXTRA FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                (&table.schema, &table.table),
            )
            .await
            .context(|| format!("read the destination table {table}"))?;
        if cols.is_empty() {
            return Err(MySqlError::other(format!("apply changes to {table}"), "the destination table does not exist"));
        }
        let columns = cols.iter().map(|(name, _)| String::from_utf8_lossy(name).into_owned()).collect();
        let generated = cols
            .into_iter()
            .filter(|(_, extra)| {
                let e = String::from_utf8_lossy(extra).to_ascii_uppercase();
                e.contains("GENERATED") && !e.contains("DEFAULT_GENERATED")
            })
            .map(|(name, _)| String::from_utf8_lossy(&name).into_owned())
            .collect();
        let keys: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = self
            .conn
            .exec(
                "SELECT s.INDEX_NAME, s.COLUMN_NAME, c.IS_NULLABLE FROM information_schema.STATISTICS s
                 JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = s.TABLE_SCHEMA AND c.TABLE_NAME = s.TABLE_NAME
                   AND c.COLUMN_NAME = s.COLUMN_NAME
                 WHERE s.TABLE_SCHEMA = ? AND s.TABLE_NAME = ? AND s.NON_UNIQUE = 0
                 ORDER BY s.INDEX_NAME = 'PRIMARY' DESC, s.INDEX_NAME, s.SEQ_IN_INDEX",
                (&table.schema, &table.table),
            )
            .await
            .context(|| format!("read the keys of {table}"))?;
        let mut indexes: Vec<(Vec<u8>, Vec<String>, bool)> = Vec::new();
        for (index, column, nullable) in keys {
            let column = String::from_utf8_lossy(&column).into_owned();
            match indexes.last_mut() {
                Some((name, cols, ok)) if *name == index => {
                    cols.push(column);
                    *ok &= nullable == b"NO";
                }
                _ => indexes.push((index, vec![column], nullable == b"NO")),
            }
        }
        let key = indexes.into_iter().find(|(_, _, ok)| *ok).map(|(_, cols, _)| cols).unwrap_or_default();
        let t = Arc::new(DestTable { columns, generated, key });
        self.tables.insert(table.clone(), t.clone());
        Ok(t)
    }

    /// Turns source row changes into destination operations, honouring the
    /// DbList (selection, renames, column subsets, `filter`, `dml_op`).
    async fn plan(&mut self, db_list: &DbList, changes: &[RowChange]) -> Result<Vec<Op>, MySqlError> {
        let mut ops: Vec<Op> = Vec::new();
        for change in changes {
            let Some(sel) = db_list.select_table(&change.table.schema, &change.table.table) else { continue };
            let allowed = match change.op {
                RowOp::Insert => sel.dml_ops.insert,
                RowOp::Update => sel.dml_ops.update,
                RowOp::Delete => sel.dml_ops.delete,
            };
            if !allowed {
                continue;
            }
            let dest = TableId::new(sel.dest_db.clone(), sel.dest_table.clone());
            let info = self.dest_table(&dest).await?;
            // Copied columns: (position in the change, destination name).
            let copied: Vec<(usize, String)> = change
                .columns
                .iter()
                .enumerate()
                .filter_map(|(i, c)| sel.dest_column(c).map(|d| (i, d.to_string())))
                // A column the destination does not have (dropped by a DDL
                // replayed ahead of this older row event) cannot be written.
                .filter(|(_, d)| info.columns.contains(d) && !info.generated.contains(d))
                .collect();
            let pick = |row: &[Cell]| copied.iter().map(|(i, _)| row.get(*i).cloned().unwrap_or(Cell::Null)).collect::<Vec<_>>();
            let dest_columns: Vec<String> = copied.iter().map(|(_, d)| d.clone()).collect();
            let before_in = change.before.as_deref().map(|r| matches(&sel, &change.columns, r)).unwrap_or(false);
            let after_in = change.after.as_deref().map(|r| matches(&sel, &change.columns, r)).unwrap_or(false);
            let key_of = |row: &[Cell]| -> Vec<Cell> {
                info.key
                    .iter()
                    .map(|k| dest_columns.iter().position(|c| c == k).and_then(|i| row.get(i)).cloned().unwrap_or(Cell::Null))
                    .collect()
            };
            let delete = |row: Vec<Cell>| {
                if info.key.is_empty() {
                    Op::DeleteExact { table: dest.clone(), columns: dest_columns.clone(), row }
                } else {
                    Op::Delete { table: dest.clone(), key: info.key.clone(), keys: vec![key_of(&row)] }
                }
            };
            let mut next = Vec::new();
            match (change.op, change.before.as_deref(), change.after.as_deref()) {
                (RowOp::Insert, _, Some(after)) if after_in => next.push(Op::Upsert {
                    table: dest.clone(),
                    columns: dest_columns.clone(),
                    rows: vec![pick(after)],
                }),
                (RowOp::Delete, Some(before), _) if before_in => next.push(delete(pick(before))),
                (RowOp::Update, Some(before), Some(after)) => {
                    let (old, new) = (pick(before), pick(after));
                    let key_moved = info.key.is_empty() || key_of(&old) != key_of(&new);
                    if before_in && (key_moved || !after_in) {
                        next.push(delete(old));
                    }
                    if after_in {
                        next.push(Op::Upsert { table: dest.clone(), columns: dest_columns.clone(), rows: vec![new] });
                    }
                }
                _ => {}
            }
            for op in next {
                push_merged(&mut ops, op);
            }
        }
        Ok(ops)
    }

    /// Applies row changes (several source transactions may be batched) and
    /// records `position` in the same destination transaction.
    pub async fn apply_rows(
        &mut self,
        db_list: &DbList,
        changes: &[RowChange],
        position: &SourcePosition,
        source_time: i64,
    ) -> Result<Applied, MySqlError> {
        let ops = self.plan(db_list, changes).await?;
        let mut applied = Applied::default();
        let job_key = self.job_key.clone();
        let mut tx = self.conn.start_transaction(TxOpts::default()).await.context(|| "begin applying changes".into())?;
        for op in &ops {
            let (sql, params, rows, bytes) = statement(op);
            guarded(tx.exec_drop(sql, Params::Positional(params)), || format!("apply changes to {}", op_table(op))).await?;
            applied.rows += rows;
            applied.bytes += bytes;
        }
        record(&mut tx, &job_key, position, source_time).await?;
        guarded(tx.commit(), || "commit applied changes".into()).await?;
        Ok(applied)
    }

    /// Applies a DDL statement if `ddl_op` allows it, then records the position.
    /// MySQL commits DDL on its own: should the process die between the two, the
    /// statement runs again on resume, which the destination refuses or
    /// ignores (`IF [NOT] EXISTS`) but never applies twice in effect.
    pub async fn apply_ddl(
        &mut self,
        db_list: &DbList,
        ddl: &DdlChange,
        position: &SourcePosition,
        source_time: i64,
    ) -> Result<bool, MySqlError> {
        let rewritten = rewrite_ddl(db_list, ddl);
        if let Some((dest_schema, sql)) = &rewritten {
            if !dest_schema.is_empty() {
                self.conn
                    .query_drop(format!("USE {}", quote_ident(dest_schema)))
                    .await
                    .context(|| format!("switch to {dest_schema}"))?;
            }
            match self.conn.query_drop(sql.as_str()).await.context(|| format!("apply DDL: {sql}")) {
                Ok(()) => {}
                // The destination is already in the state the statement leads
                // to: a DDL replayed from before the end of the full load.
                Err(MySqlError::Server { code, message, .. }) if ALREADY_APPLIED.contains(&code) => {
                    tracing::warn!(statement = %sql, code, %message, "DDL already in effect on the destination; skipped");
                }
                Err(e) => return Err(e),
            }
            self.tables.clear();
        }
        let job_key = self.job_key.clone();
        let mut tx = self.conn.start_transaction(TxOpts::default()).await.context(|| "begin checkpoint".into())?;
        record(&mut tx, &job_key, position, source_time).await?;
        tx.commit().await.context(|| "commit checkpoint".into())?;
        Ok(rewritten.is_some())
    }

    /// Records a position without changes (heartbeats, filtered transactions).
    pub async fn advance(&mut self, position: &SourcePosition, source_time: i64) -> Result<(), MySqlError> {
        let job_key = self.job_key.clone();
        let mut tx = self.conn.start_transaction(TxOpts::default()).await.context(|| "begin checkpoint".into())?;
        record(&mut tx, &job_key, position, source_time).await?;
        tx.commit().await.context(|| "commit checkpoint".into())
    }
}

async fn record(tx: &mut mysql_async::Transaction<'_>, job_key: &str, position: &SourcePosition, source_time: i64) -> Result<(), MySqlError> {
    let text = serde_json::to_string(position).map_err(|e| MySqlError::other("record the checkpoint", e.to_string()))?;
    tx.exec_drop(
        format!(
            "INSERT INTO {META_SCHEMA}.incremental_checkpoint (job_id, position, source_time) VALUES (?, ?, ?)
             ON DUPLICATE KEY UPDATE position = VALUES(position), source_time = VALUES(source_time)"
        ),
        (job_key, text, source_time),
    )
    .await
    .context(|| "record the checkpoint".into())
}

/// Appends `op`, merging it into the previous operation when both are
/// upserts (or key deletes) of the same table and columns: order is kept
/// because only neighbours merge.
fn push_merged(ops: &mut Vec<Op>, op: Op) {
    const MAX_MERGED: usize = 500;
    match (ops.last_mut(), op) {
        (Some(Op::Upsert { table, columns, rows }), Op::Upsert { table: t, columns: c, rows: r })
            if *table == t && *columns == c && rows.len() < MAX_MERGED =>
        {
            rows.extend(r)
        }
        (Some(Op::Delete { table, key, keys }), Op::Delete { table: t, key: k, keys: ks })
            if *table == t && *key == k && keys.len() < MAX_MERGED =>
        {
            keys.extend(ks)
        }
        (_, op) => ops.push(op),
    }
}

fn op_table(op: &Op) -> &TableId {
    match op {
        Op::Upsert { table, .. } | Op::Delete { table, .. } | Op::DeleteExact { table, .. } => table,
    }
}

fn table_ref(t: &TableId) -> String {
    format!("{}.{}", quote_ident(&t.schema), quote_ident(&t.table))
}

/// SQL, parameters, row count and byte count of an operation.
fn statement(op: &Op) -> (String, Vec<Value>, u64, u64) {
    match op {
        Op::Upsert { table, columns, rows } => {
            let cols: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
            let one = format!("({})", vec!["?"; cols.len()].join(","));
            let updates: Vec<String> = cols.iter().map(|c| format!("{c} = VALUES({c})")).collect();
            let sql = format!(
                "INSERT INTO {} ({}) VALUES {} ON DUPLICATE KEY UPDATE {}",
                table_ref(table),
                cols.join(","),
                vec![one.as_str(); rows.len()].join(","),
                updates.join(", ")
            );
            let bytes = rows.iter().flatten().map(|c| c.weight() as u64).sum();
            (sql, rows.iter().flatten().map(cell::to_value).collect(), rows.len() as u64, bytes)
        }
        Op::Delete { table, key, keys } => {
            let cols: Vec<String> = key.iter().map(|c| quote_ident(c)).collect();
            let one = format!("({})", vec!["?"; cols.len()].join(","));
            let sql = format!(
                "DELETE FROM {} WHERE ({}) IN ({})",
                table_ref(table),
                cols.join(","),
                vec![one.as_str(); keys.len()].join(",")
            );
            (sql, keys.iter().flatten().map(cell::to_value).collect(), keys.len() as u64, 0)
        }
        Op::DeleteExact { table, columns, row } => {
            let conds: Vec<String> = columns.iter().map(|c| format!("{} <=> ?", quote_ident(c))).collect();
            let sql = format!("DELETE FROM {} WHERE {} LIMIT 1", table_ref(table), conds.join(" AND "));
            (sql, row.iter().map(cell::to_value).collect(), 1, 0)
        }
    }
}

/// The destination form of a DDL statement, or `None` when the DbList does not
/// select its tables or its `ddl_op` excludes it. Returns the destination
/// default schema and the statement, with schema and table names renamed.
fn rewrite_ddl(db_list: &DbList, ddl: &DdlChange) -> Option<(String, String)> {
    let db = db_list.select_database(&ddl.schema).or_else(|| ddl.tables.first().and_then(|t| db_list.select_database(&t.schema)))?;
    if ddl.kind == DdlKind::Other {
        return None;
    }
    let mut renames: Vec<(String, String)> = Vec::new();
    for t in &ddl.tables {
        // A table that does not exist yet (CREATE, RENAME target) is selected
        // when its database is selected whole.
        let sel = db_list.select_table(&t.schema, &t.table)?;
        let allowed = match ddl.kind {
            DdlKind::CreateTable => sel.ddl_ops.create_table,
            DdlKind::AlterTable => sel.ddl_ops.alter_table,
            DdlKind::DropTable => sel.ddl_ops.drop_table,
            DdlKind::RenameTable => sel.ddl_ops.rename_table,
            DdlKind::TruncateTable => sel.ddl_ops.truncate_table,
            DdlKind::Other => false,
        };
        if !allowed {
            return None;
        }
        if sel.dest_db != t.schema {
            renames.push((t.schema.clone(), sel.dest_db.clone()));
        }
        if sel.dest_table != t.table {
            renames.push((t.table.clone(), sel.dest_table.clone()));
        }
    }
    let dest_schema = db.dest_name_for(&ddl.schema).to_string();
    Some((dest_schema, rename_identifiers(&ddl.statement, &renames)))
}

/// Replaces whole identifiers (quoted or not) outside string literals and comments.
fn rename_identifiers(sql: &str, renames: &[(String, String)]) -> String {
    if renames.is_empty() {
        return sql.to_string();
    }
    let lookup = |name: &str| renames.iter().find(|(from, _)| from == name).map(|(_, to)| to.clone());
    let mut out = String::with_capacity(sql.len());
    let chars: Vec<char> = sql.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' || c == '"' {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i = (i + 1).min(chars.len());
            out.extend(&chars[start..i]);
        } else if c == '`' {
            let mut name = String::new();
            i += 1;
            while i < chars.len() {
                if chars[i] == '`' {
                    if chars.get(i + 1) == Some(&'`') {
                        name.push('`');
                        i += 2;
                        continue;
                    }
                    break;
                }
                name.push(chars[i]);
                i += 1;
            }
            i += 1;
            out.push_str(&quote_ident(&lookup(&name).unwrap_or(name)));
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            match lookup(&word) {
                Some(to) => out.push_str(&quote_ident(&to)),
                None => out.push_str(&word),
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use opendts_core::dblist::DbListContext;

    #[test]
    fn neighbours_merge_and_order_is_kept() {
        let t = TableId::new("d", "t");
        let up = |v: i64| Op::Upsert { table: t.clone(), columns: vec!["id".into()], rows: vec![vec![Cell::Int(v)]] };
        let del = |v: i64| Op::Delete { table: t.clone(), key: vec!["id".into()], keys: vec![vec![Cell::Int(v)]] };
        let mut ops = Vec::new();
        for op in [up(1), up(2), del(1), up(1)] {
            push_merged(&mut ops, op);
        }
        assert_eq!(ops.len(), 3);
        assert!(matches!(&ops[0], Op::Upsert { rows, .. } if rows.len() == 2));
        assert!(matches!(&ops[1], Op::Delete { .. }));
    }

    #[test]
    fn statements_are_parameterised() {
        let t = TableId::new("d", "t");
        let (sql, params, rows, _) = statement(&Op::Delete { table: t.clone(), key: vec!["a".into(), "b".into()], keys: vec![vec![Cell::Int(1), Cell::Int(2)]] });
        assert_eq!(sql, "DELETE FROM `d`.`t` WHERE (`a`,`b`) IN ((?,?))");
        assert_eq!((params.len(), rows), (2, 1));
        let (sql, ..) = statement(&Op::Upsert { table: t, columns: vec!["a".into()], rows: vec![vec![Cell::Int(1)]] });
        assert_eq!(sql, "INSERT INTO `d`.`t` (`a`) VALUES (?) ON DUPLICATE KEY UPDATE `a` = VALUES(`a`)");
    }

    #[test]
    fn ddl_follows_renames_and_ddl_op() {
        let list = DbList::parse(r#"{"shop":{"name":"shop2","all":true,"ddl_op":"ct,at"}}"#, DbListContext::Migration).unwrap();
        let ddl = |kind, sql: &str| DdlChange {
            schema: "shop".into(),
            statement: sql.into(),
            kind,
            tables: vec![TableId::new("shop", "orders")],
        };
        let (schema, sql) = rewrite_ddl(&list, &ddl(DdlKind::AlterTable, "ALTER TABLE shop.orders ADD c INT DEFAULT 'shop'")).unwrap();
        assert_eq!(schema, "shop2");
        assert_eq!(sql, "ALTER TABLE `shop2`.orders ADD c INT DEFAULT 'shop'");
        assert!(rewrite_ddl(&list, &ddl(DdlKind::DropTable, "DROP TABLE orders")).is_none());
    }
}
