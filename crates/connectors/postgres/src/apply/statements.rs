//! The SQL of each operation, and running it in the applier's transaction.

use super::dest::{DestTable, Text, TextRow};
use super::ops::Op;
use crate::error::{guarded, Context, PgError};
use crate::session::quote_ident;
use opendts_core::row::TableId;
use std::collections::{HashMap, HashSet};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Statement, Transaction};

/// Upserts of a table's inserted rows after one of them existed on the
/// destination, before a plain INSERT is tried again (see [`execute`]).
const WARY_STATEMENTS: u32 = 100;

pub(super) async fn prepared(tx: &Transaction<'_>, cache: &mut HashMap<String, Statement>, sql: String) -> Result<Statement, PgError> {
    if let Some(s) = cache.get(&sql) {
        return Ok(s.clone());
    }
    let s = guarded(tx.prepare(&sql), || format!("prepare {sql}")).await?;
    cache.insert(sql, s.clone());
    Ok(s)
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
pub(super) async fn execute(
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
                        guarded(tx.batch_execute("ROLLBACK TO SAVEPOINT opendts_insert; RELEASE SAVEPOINT opendts_insert"), || format!("apply changes to {id}")).await?;
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
    use crate::apply::dest::test_table as table;

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
