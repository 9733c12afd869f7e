//! Writing to a MySQL-family destination: schema objects, full-load chunks
//! and their checkpoints.
//!
//! A chunk's rows and the row recording that the chunk is done are committed
//! in one transaction on the destination, so a chunk is applied exactly once
//! however often the job is interrupted: on resume, a chunk recorded there is
//! skipped and any other chunk left no trace.

use crate::cell;
use crate::error::{guarded, Context, MySqlError};
use crate::session::quote_ident;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, TxOpts, Value};
use opendts_core::change::SourcePosition;
use opendts_core::row::{Cell, TableId};
use std::collections::HashSet;

/// The schema OpenDTS keeps its checkpoints in, on the destination.
pub const META_SCHEMA: &str = "opendts_meta";

/// Most placeholders one statement may carry (the protocol's limit is 65,535).
const MAX_PLACEHOLDERS: usize = 60_000;

/// Creates the checkpoint tables if needed.
pub async fn prepare_meta(conn: &mut Conn) -> Result<(), MySqlError> {
    let what = || "create the checkpoint tables on the destination".to_string();
    conn.query_drop(format!("CREATE DATABASE IF NOT EXISTS {META_SCHEMA}")).await.context(what)?;
    conn.query_drop(format!(
        "CREATE TABLE IF NOT EXISTS {META_SCHEMA}.full_load_chunks (
            job_id VARCHAR(64) NOT NULL, table_name VARCHAR(600) NOT NULL, chunk INT UNSIGNED NOT NULL,
            row_count BIGINT UNSIGNED NOT NULL, done_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            snapshot_position TEXT NULL,
            PRIMARY KEY (job_id, table_name, chunk)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
    ))
    .await
    .context(what)?;
    Ok(())
}

fn table_key(t: &TableId) -> String {
    format!("{}.{}", t.schema, t.table)
}

/// Chunks of a destination table already committed by this job, with their row counts.
pub async fn done_chunks(conn: &mut Conn, job_id: &str, table: &TableId) -> Result<HashSet<u32>, MySqlError> {
    let rows: Vec<u32> = conn
        .exec(
            format!("SELECT chunk FROM {META_SCHEMA}.full_load_chunks WHERE job_id = ? AND table_name = ?"),
            (job_id, table_key(table)),
        )
        .await
        .context(|| format!("read the checkpoints of {table}"))?;
    Ok(rows.into_iter().collect())
}

/// Rows already copied into a destination table by this job (for progress after a resume).
pub async fn done_rows(conn: &mut Conn, job_id: &str) -> Result<u64, MySqlError> {
    let n: Option<Option<u64>> = conn
        .exec_first(
            format!("SELECT CAST(SUM(row_count) AS UNSIGNED) FROM {META_SCHEMA}.full_load_chunks WHERE job_id = ?"),
            (job_id,),
        )
        .await
        .context(|| "read the full-load checkpoints".into())?;
    Ok(n.flatten().unwrap_or(0))
}

/// Destination tables whose rows were read at a known source position, and
/// that position: changes at or before it are already in the destination.
pub async fn snapshot_positions(conn: &mut Conn, job_id: &str) -> Result<Vec<(TableId, SourcePosition)>, MySqlError> {
    let rows: Vec<(String, String)> = conn
        .exec(
            format!(
                "SELECT table_name, snapshot_position FROM {META_SCHEMA}.full_load_chunks
                 WHERE job_id = ? AND snapshot_position IS NOT NULL"
            ),
            (job_id,),
        )
        .await
        .context(|| "read the snapshot positions".into())?;
    let mut out = Vec::new();
    for (table, position) in rows {
        let Some((schema, name)) = table.split_once('.') else { continue };
        let position = serde_json::from_str(&position).map_err(|e| MySqlError::other("read the snapshot positions", e.to_string()))?;
        out.push((TableId::new(schema, name), position));
    }
    Ok(out)
}

/// The column names of a destination table, in order.
pub async fn columns(conn: &mut Conn, table: &TableId) -> Result<Vec<String>, MySqlError> {
    let names: Vec<Vec<u8>> = conn
        .exec(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (&table.schema, &table.table),
        )
        .await
        .context(|| format!("read the columns of {table} on the destination"))?;
    Ok(names.into_iter().map(|n| String::from_utf8_lossy(&n).into_owned()).collect())
}

/// Which of `tables` exist on the destination.
pub async fn existing_tables<'t>(
    conn: &mut Conn,
    tables: impl Iterator<Item = &'t TableId>,
) -> Result<HashSet<TableId>, MySqlError> {
    let mut out = HashSet::new();
    for t in tables {
        let found: Option<u8> = conn
            .exec_first(
                "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                (&t.schema, &t.table),
            )
            .await
            .context(|| format!("look for {t} on the destination"))?;
        if found.is_some() {
            out.insert(t.clone());
        }
    }
    Ok(out)
}

/// Runs a DDL statement (CREATE DATABASE / TABLE / VIEW).
pub async fn execute_ddl(conn: &mut Conn, sql: &str, what: &str) -> Result<(), MySqlError> {
    conn.query_drop(sql).await.context(|| format!("create {what} on the destination"))
}

/// Writes the rows of one chunk in batches inside one transaction.
pub struct ChunkWriter<'c> {
    tx: mysql_async::Transaction<'c>,
    table: TableId,
    columns: Vec<String>,
    rows: u64,
}

impl<'c> ChunkWriter<'c> {
    pub async fn begin(conn: &'c mut Conn, table: &TableId, columns: &[String]) -> Result<ChunkWriter<'c>, MySqlError> {
        let tx = guarded(conn.start_transaction(TxOpts::default()), || format!("begin writing {table}")).await?;
        Ok(ChunkWriter { tx, table: table.clone(), columns: columns.to_vec(), rows: 0 })
    }

    /// Inserts rows. A row whose key already exists on the destination is left
    /// as it is (Reserve targetTableMode 2: "keep the destination's row"); every
    /// other error stays an error, so no value is silently altered.
    pub async fn write(&mut self, rows: &[Vec<Cell>]) -> Result<(), MySqlError> {
        let per_statement = (MAX_PLACEHOLDERS / self.columns.len().max(1)).max(1);
        for part in rows.chunks(per_statement) {
            let sql = insert_sql(&self.table, &self.columns, part.len());
            let params: Vec<Value> = part.iter().flat_map(|r| r.iter().map(cell::to_value)).collect();
            let n = part.len();
            guarded(self.tx.exec_drop(sql, Params::Positional(params)), || format!("write {n} rows into {}", self.table)).await?;
            self.rows += part.len() as u64;
        }
        Ok(())
    }

    /// Records the chunk as done and commits rows and record together.
    /// `snapshot` is the source position the chunk's rows were read at, when
    /// known (tables without a key): the incremental phase skips older changes.
    pub async fn commit(mut self, job_id: &str, chunk: u32, snapshot: Option<&SourcePosition>) -> Result<u64, MySqlError> {
        let table = self.table.clone();
        let position = snapshot
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| MySqlError::other("record a chunk", e.to_string()))?;
        self.tx
            .exec_drop(
                format!(
                    "INSERT INTO {META_SCHEMA}.full_load_chunks (job_id, table_name, chunk, row_count, snapshot_position)
                     VALUES (?, ?, ?, ?, ?)"
                ),
                (job_id, table_key(&table), chunk, self.rows, position),
            )
            .await
            .context(|| format!("checkpoint chunk {chunk} of {table}"))?;
        guarded(self.tx.commit(), || format!("commit chunk {chunk} of {table}")).await?;
        Ok(self.rows)
    }
}

fn insert_sql(table: &TableId, columns: &[String], rows: usize) -> String {
    let cols: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let one = format!("({})", vec!["?"; columns.len()].join(","));
    let mut sql = format!(
        "INSERT INTO {}.{} ({}) VALUES ",
        quote_ident(&table.schema),
        quote_ident(&table.table),
        cols.join(",")
    );
    sql.push_str(&vec![one.as_str(); rows].join(","));
    let first = cols.first().map(String::as_str).unwrap_or("``");
    sql.push_str(&format!(" ON DUPLICATE KEY UPDATE {first} = {first}"));
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_keeps_existing_rows_without_ignoring_errors() {
        let sql = insert_sql(&TableId::new("d", "t"), &["a".into(), "b".into()], 2);
        assert_eq!(sql, "INSERT INTO `d`.`t` (`a`,`b`) VALUES (?,?),(?,?) ON DUPLICATE KEY UPDATE `a` = `a`");
        assert!(!sql.contains("IGNORE"));
    }
}
