//! Writing to a PostgreSQL destination: schema objects, full-load chunks
//! (COPY FROM STDIN, text or binary format) and their checkpoints.
//!
//! A chunk's rows and the row recording that the chunk is done are committed
//! in one transaction on the destination, so a chunk is applied exactly once
//! however often the job is interrupted: on resume, a chunk recorded there is
//! skipped and any other chunk left no trace. The checkpoint table is
//! `opendts_meta.full_load_chunks` in the destination database, with the same
//! columns as on a MySQL destination.

use crate::cell::{self, TextKind};
use crate::error::{guarded, Context, PgError};
use crate::session::{qualified, quote_ident};
use bytes::Bytes;
use futures_util::SinkExt;
use opendts_core::change::SourcePosition;
use opendts_core::row::{Cell, TableId};
use std::collections::HashSet;
use std::pin::Pin;
use tokio_postgres::{Client, CopyInSink, Transaction};

/// The schema OpenDTS keeps its checkpoints in, on the destination.
pub const META_SCHEMA: &str = "opendts_meta";

/// COPY data is sent in pieces of about this size.
const COPY_PIECE: usize = 1 << 20;

/// Creates the checkpoint table if needed. Concurrent callers may race on
/// `CREATE ... IF NOT EXISTS` (a unique violation in the catalog): that is retried once.
pub async fn prepare_meta(client: &Client) -> Result<(), PgError> {
    let sql = format!(
        "CREATE SCHEMA IF NOT EXISTS {META_SCHEMA};
         CREATE TABLE IF NOT EXISTS {META_SCHEMA}.full_load_chunks (
            job_id varchar(64) NOT NULL, table_name varchar(600) NOT NULL, chunk int8 NOT NULL,
            row_count int8 NOT NULL, done_at timestamptz NOT NULL DEFAULT now(),
            snapshot_position text NULL,
            PRIMARY KEY (job_id, table_name, chunk))"
    );
    let what = || "create the checkpoint tables on the destination".to_string();
    match client.batch_execute(&sql).await.context(what) {
        Err(e) if matches!(e.sqlstate(), Some("23505" | "42P06" | "42P07")) => {
            client.batch_execute(&sql).await.context(what)
        }
        other => other,
    }
}

fn table_key(t: &TableId) -> String {
    format!("{}.{}", t.schema, t.table)
}

/// Chunks of a destination table already committed by this job.
pub async fn done_chunks(client: &Client, job_id: &str, table: &TableId) -> Result<HashSet<u32>, PgError> {
    let what = || format!("read the checkpoints of {table}");
    let rows = client
        .query(
            &format!("SELECT chunk FROM {META_SCHEMA}.full_load_chunks WHERE job_id = $1 AND table_name = $2"),
            &[&job_id, &table_key(table)],
        )
        .await
        .context(what)?;
    let mut out = HashSet::new();
    for r in rows {
        let chunk: i64 = r.try_get(0).context(what)?;
        out.insert(u32::try_from(chunk).map_err(|_| PgError::other(what(), format!("chunk number {chunk} out of range")))?);
    }
    Ok(out)
}

/// Rows already copied by this job (for progress after a resume).
pub async fn done_rows(client: &Client, job_id: &str) -> Result<u64, PgError> {
    let what = || "read the full-load checkpoints".to_string();
    let row = client
        .query_one(
            &format!("SELECT coalesce(sum(row_count), 0)::int8 FROM {META_SCHEMA}.full_load_chunks WHERE job_id = $1"),
            &[&job_id],
        )
        .await
        .context(what)?;
    let n: i64 = row.try_get(0).context(what)?;
    Ok(n.max(0) as u64)
}

/// Destination tables whose rows were read at a known source position, and
/// that position: changes at or before it are already in the destination.
pub async fn snapshot_positions(client: &Client, job_id: &str) -> Result<Vec<(TableId, SourcePosition)>, PgError> {
    let what = || "read the snapshot positions".to_string();
    let rows = client
        .query(
            &format!(
                "SELECT table_name::text, snapshot_position FROM {META_SCHEMA}.full_load_chunks
                 WHERE job_id = $1 AND snapshot_position IS NOT NULL"
            ),
            &[&job_id],
        )
        .await
        .context(what)?;
    let mut out = Vec::new();
    for r in rows {
        let table: String = r.try_get(0).context(what)?;
        let position: String = r.try_get(1).context(what)?;
        let Some((schema, name)) = table.split_once('.') else { continue };
        let position = serde_json::from_str(&position).map_err(|e| PgError::other(what(), e.to_string()))?;
        out.push((TableId::new(schema, name), position));
    }
    Ok(out)
}

/// Which of `tables` exist on the destination (any relation kind).
pub async fn existing_tables<'t>(
    client: &Client,
    tables: impl Iterator<Item = &'t TableId>,
) -> Result<HashSet<TableId>, PgError> {
    let mut out = HashSet::new();
    for t in tables {
        let found = client
            .query_opt(
                "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = $1 AND c.relname = $2",
                &[&t.schema, &t.table],
            )
            .await
            .context(|| format!("look for {t} on the destination"))?;
        if found.is_some() {
            out.insert(t.clone());
        }
    }
    Ok(out)
}

/// The type of each column of a destination table (as `format_type` prints
/// it), by column name: what [`ChunkWriter::begin`] needs to write values.
pub async fn column_types(client: &Client, table: &TableId) -> Result<std::collections::HashMap<String, String>, PgError> {
    let rows = client
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
            &[&qualified(&table.schema, &table.table)],
        )
        .await
        .context(|| format!("read the columns of {table} on the destination"))?;
    let mut out = std::collections::HashMap::new();
    for row in rows {
        let name: String = row.try_get(0).context(|| format!("read the columns of {table}"))?;
        let ty: String = row.try_get(1).context(|| format!("read the columns of {table}"))?;
        out.insert(name, ty);
    }
    Ok(out)
}

/// Runs a DDL statement (CREATE SCHEMA / TABLE / ...).
pub async fn execute_ddl(client: &Client, sql: &str, what: &str) -> Result<(), PgError> {
    client.batch_execute(sql).await.context(|| format!("create {what} on the destination"))
}

/// `COPY "s"."t" ("a", "b") FROM STDIN`.
pub fn copy_sql(table: &TableId, columns: &[String]) -> String {
    let cols: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    format!("COPY {} ({}) FROM STDIN", qualified(&table.schema, &table.table), cols.join(", "))
}

/// The two formats of PostgreSQL's COPY that pass between servers untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyFormat {
    /// Text: every type has it, and it is the same on every server version.
    Text,
    /// Binary: about a quarter cheaper for both servers (no text parsing or
    /// formatting), but only between columns of the same built-in types,
    /// whose binary forms every server shares (see [`binary_copy_fits`]).
    Binary,
}

impl CopyFormat {
    /// The option list to append to a COPY statement.
    pub fn options(self) -> &'static str {
        match self {
            CopyFormat::Text => "",
            CopyFormat::Binary => " (FORMAT binary)",
        }
    }
}

/// Types with an OID below this one come with the server (`FirstNormalObjectId`):
/// their binary forms do not depend on the database.
const FIRST_USER_OID: u32 = 16_384;

/// Whether rows of `source_types` (as `format_type` prints them, one per
/// column) can be copied in binary into `columns` of the destination `table`:
/// every column there has exactly the source's type, and that type is built
/// in. Binary input is not checked the way text is (bytes of one type can be
/// read as another), and user-defined types (enums, domains, composites, their
/// arrays) carry database-specific OIDs, so anything else goes as text.
pub async fn binary_copy_fits(client: &Client, table: &TableId, columns: &[String], source_types: &[String]) -> Result<bool, PgError> {
    if columns.len() != source_types.len() {
        return Ok(false);
    }
    let what = || format!("read the column types of {table} on the destination");
    let rows = client
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.atttypid
             FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
            &[&qualified(&table.schema, &table.table)],
        )
        .await
        .context(what)?;
    let mut dest = std::collections::HashMap::new();
    for row in rows {
        let name: String = row.try_get(0).context(what)?;
        let ty: String = row.try_get(1).context(what)?;
        let oid: u32 = row.try_get(2).context(what)?;
        dest.insert(name, (ty, oid));
    }
    Ok(columns.iter().zip(source_types).all(|(c, source_type)| {
        dest.get(c).is_some_and(|(ty, oid)| *oid < FIRST_USER_OID && ty == source_type)
    }))
}

/// What a chunk does with a row whose key already exists on the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    /// COPY straight into the table: the duplicate fails the chunk (fastest;
    /// right for tables the job created, where no such row can exist).
    Fail,
    /// COPY into a temporary table, then `INSERT ... SELECT ... ON CONFLICT DO
    /// NOTHING`: the destination's row is kept (Reserve targetTableMode 2,
    /// writing into existing tables). Every other error stays an error.
    KeepExisting,
}

/// The temporary table of [`OnConflict::KeepExisting`] (dropped at the end of the transaction).
const STAGE: &str = "pg_temp.opendts_chunk_stage";

/// Writes the rows of one chunk with COPY inside one transaction.
pub struct ChunkWriter<'c> {
    tx: Transaction<'c>,
    table: TableId,
    columns: Vec<String>,
    kinds: Vec<TextKind>,
    copy_sql: String,
    /// The `INSERT ... ON CONFLICT DO NOTHING` of [`OnConflict::KeepExisting`].
    merge_sql: Option<String>,
    rows: u64,
    buf: Vec<u8>,
    /// The COPY that [`Self::write_native`] streams into, open until commit.
    native: Option<(CopyFormat, Pin<Box<CopyInSink<Bytes>>>)>,
}

impl<'c> ChunkWriter<'c> {
    /// Begins the chunk's transaction. `dest_types` are the destination
    /// column types (as `format_type` prints them), one per column: they
    /// decide how bytes are written (see [`crate::cell`]).
    pub async fn begin(
        client: &'c mut Client,
        table: &TableId,
        columns: &[String],
        dest_types: &[String],
    ) -> Result<ChunkWriter<'c>, PgError> {
        Self::begin_with(client, table, columns, dest_types, OnConflict::Fail).await
    }

    /// [`Self::begin`] with a choice of what happens to rows whose key exists.
    pub async fn begin_with(
        client: &'c mut Client,
        table: &TableId,
        columns: &[String],
        dest_types: &[String],
        on_conflict: OnConflict,
    ) -> Result<ChunkWriter<'c>, PgError> {
        if columns.len() != dest_types.len() || columns.is_empty() {
            return Err(PgError::other(
                format!("begin writing {table}"),
                format!("{} columns but {} column types", columns.len(), dest_types.len()),
            ));
        }
        let tx = guarded(client.transaction(), || format!("begin writing {table}")).await?;
        let (copy, merge_sql) = match on_conflict {
            OnConflict::Fail => (copy_sql(table, columns), None),
            OnConflict::KeepExisting => {
                let cols: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
                let cols = cols.join(", ");
                let target = qualified(&table.schema, &table.table);
                guarded(
                    tx.batch_execute(&format!(
                        "CREATE TEMPORARY TABLE IF NOT EXISTS {} ON COMMIT DROP AS SELECT {cols} FROM {target} WITH NO DATA",
                        STAGE.trim_start_matches("pg_temp.")
                    )),
                    || format!("prepare a staging table for {table}"),
                )
                .await?;
                let merge = format!(
                    "INSERT INTO {target} ({cols}) SELECT {cols} FROM {STAGE} ON CONFLICT DO NOTHING; TRUNCATE {STAGE}"
                );
                (format!("COPY {STAGE} ({cols}) FROM STDIN"), Some(merge))
            }
        };
        Ok(ChunkWriter {
            tx,
            table: table.clone(),
            columns: columns.to_vec(),
            kinds: dest_types.iter().map(|t| TextKind::of(t)).collect(),
            copy_sql: copy,
            merge_sql,
            rows: 0,
            buf: Vec::with_capacity(COPY_PIECE + 4096),
            native: None,
        })
    }

    /// Copies `rows` (one COPY statement). A value the destination cannot hold
    /// is an error naming the row and column; a row whose key already exists
    /// on the destination fails the chunk, or is skipped with
    /// [`OnConflict::KeepExisting`].
    pub async fn write(&mut self, rows: &[Vec<Cell>]) -> Result<(), PgError> {
        if rows.is_empty() {
            return Ok(());
        }
        self.finish_native().await?;
        let table = self.table.clone();
        let sink = guarded(self.tx.copy_in::<_, Bytes>(self.copy_sql.as_str()), || format!("start copying into {table}")).await?;
        futures_util::pin_mut!(sink);
        self.buf.clear();
        for (n, row) in rows.iter().enumerate() {
            if let Err((col, e)) = cell::write_copy_row(row, &self.kinds, &mut self.buf) {
                let column = self.columns.get(col).map(String::as_str).unwrap_or("?");
                return Err(PgError::other(
                    format!("write row {} of {} rows into {table}", n + 1, rows.len()),
                    format!("column {}: {e}", quote_ident(column)),
                ));
            }
            if self.buf.len() >= COPY_PIECE {
                let piece = Bytes::from(std::mem::take(&mut self.buf));
                guarded(sink.send(piece), || format!("copy rows into {table}")).await?;
                self.buf.reserve(COPY_PIECE + 4096);
            }
        }
        if !self.buf.is_empty() {
            let piece = Bytes::from(std::mem::take(&mut self.buf));
            guarded(sink.send(piece), || format!("copy rows into {table}")).await?;
        }
        let copied = guarded(sink.as_mut().finish(), || format!("copy {} rows into {table}", rows.len())).await?;
        if let Some(merge) = &self.merge_sql {
            guarded(self.tx.batch_execute(merge), || format!("write {copied} rows into {table}")).await?;
        }
        self.rows += copied;
        Ok(())
    }

    /// Streams a piece of a COPY stream in `format` (from a PostgreSQL
    /// source's `COPY ... TO STDOUT`, whole rows in this writer's column
    /// order, the binary header and trailer included): no value is decoded
    /// or re-encoded, which is as fast as a copy can be. The pieces of one
    /// chunk go into one COPY statement, so they may split rows anywhere;
    /// [`Self::commit`] ends it.
    pub async fn write_native(&mut self, format: CopyFormat, data: Vec<u8>) -> Result<(), PgError> {
        let table = &self.table;
        if self.native.as_ref().is_some_and(|(f, _)| *f != format) {
            return Err(PgError::other(format!("copy rows into {table}"), "one chunk arrived in two COPY formats"));
        }
        if self.native.is_none() {
            let sql = format!("{}{}", self.copy_sql, format.options());
            let sink = guarded(self.tx.copy_in::<_, Bytes>(sql.as_str()), || format!("start copying into {table}")).await?;
            self.native = Some((format, Box::pin(sink)));
        }
        if let Some((_, sink)) = self.native.as_mut() {
            guarded(sink.send(Bytes::from(data)), || format!("copy rows into {table}")).await?;
        }
        Ok(())
    }

    /// Ends the COPY of [`Self::write_native`], if one is open.
    async fn finish_native(&mut self) -> Result<(), PgError> {
        let Some((_, mut sink)) = self.native.take() else { return Ok(()) };
        let table = &self.table;
        let copied = guarded(sink.as_mut().finish(), || format!("copy rows into {table}")).await?;
        if let Some(merge) = &self.merge_sql {
            guarded(self.tx.batch_execute(merge), || format!("write {copied} rows into {table}")).await?;
        }
        self.rows += copied;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Records the chunk as done and commits rows and record together.
    /// `snapshot` is the source position the chunk's rows were read at, when known.
    pub async fn commit(mut self, job_id: &str, chunk: u32, snapshot: Option<&SourcePosition>) -> Result<u64, PgError> {
        self.finish_native().await?;
        let table = self.table.clone();
        let position = snapshot
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| PgError::other("record a chunk", e.to_string()))?;
        let rows = i64::try_from(self.rows).unwrap_or(i64::MAX);
        guarded(
            self.tx.execute(
                &format!(
                    "INSERT INTO {META_SCHEMA}.full_load_chunks (job_id, table_name, chunk, row_count, snapshot_position)
                     VALUES ($1, $2, $3, $4, $5)"
                ),
                &[&job_id, &table_key(&table), &i64::from(chunk), &rows, &position],
            ),
            || format!("checkpoint chunk {chunk} of {table}"),
        )
        .await?;
        guarded(self.tx.commit(), || format!("commit chunk {chunk} of {table}")).await?;
        Ok(self.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_statement() {
        assert_eq!(
            copy_sql(&TableId::new("s", "T"), &["a".into(), "b\"c".into()]),
            "COPY \"s\".\"T\" (\"a\", \"b\"\"c\") FROM STDIN"
        );
    }
}
