//! Full-load reads from PostgreSQL: a table is cut into key ranges (chunks)
//! that are read independently, possibly in parallel, inside transactions
//! that all import the snapshot exported when the job's replication slot was
//! created (see [`crate::wal::SlotInfo`]), so the full load sees exactly the
//! data before the slot's consistent point and the WAL stream exactly what
//! came after.
//!
//! # Values
//! Rows are read with the simple query protocol, so every value arrives as
//! the text its type's output function prints, the same text pgoutput sends
//! in the WAL. It becomes a [`Cell`] by the same rules as the WAL source
//! (see [`crate::wal`]): int2/int4/int8 → `Int`, oid → `UInt`, bool →
//! `Int(1)`/`Int(0)`, float4/float8 → `Float`/`Double` (full precision:
//! `extra_float_digits = 3`), bytea → `Bytes` of the decoded value, date and
//! timestamp → `Date`, timestamptz → `Date` in UTC, time → `Time`,
//! infinity/BC values and every other type (numeric, text, json, uuid,
//! arrays, domains, ...) → `Bytes` of the text. [`begin_snapshot_read`] sets
//! `IntervalStyle = 'postgres'` for its transaction, as the WAL session does.
//!
//! Chunk bounds are written back into the SQL as escaped string literals that
//! the server parses with the key column's own input function, so any key
//! type the server can order works.
//! [`Chunk`] is core's key range, the same for every connector, so the
//! engine stores one plan format.

use crate::cell::{self, TextKind};
use crate::error::{guarded, guarded_next, Context, PgError};
use crate::schema::TableMapping;
use crate::sink::CopyFormat;
use crate::session::{qualified, quote_ident};
use crate::value::{decode, type_oid};
pub use opendts_core::row::Chunk;
use opendts_core::row::Cell;
use tokio_postgres::{Client, SimpleQueryMessage};

/// A string literal that reads the same whatever `standard_conforming_strings` says.
pub fn quote_str(s: &str) -> String {
    format!("E'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// Key columns of `m` as (quoted name, source type), in key order.
fn key_columns(m: &TableMapping) -> Vec<(String, String)> {
    m.schema
        .key
        .iter()
        .map(|&i| {
            let c = &m.schema.columns[i];
            (quote_ident(&c.name), c.source_type.clone())
        })
        .collect()
}

fn table_ref(m: &TableMapping) -> String {
    qualified(&m.source.schema, &m.source.table)
}

/// `("k1", "k2") >= (E'1', E'2')` (or `<` when `below`): a row comparison,
/// which PostgreSQL answers from a btree index on the key. Each literal is
/// parsed by its key column's input function.
fn bound_condition(keys: &[(String, String)], bound: &[Cell], below: bool) -> Result<String, PgError> {
    if bound.len() != keys.len() {
        return Err(PgError::other(
            "build a chunk condition",
            format!("the bound has {} values for a key of {} columns", bound.len(), keys.len()),
        ));
    }
    let mut literals = Vec::with_capacity(keys.len());
    for ((name, ty), cell) in keys.iter().zip(bound) {
        let text = cell::to_text(cell, TextKind::of(ty))
            .map_err(|e| PgError::other(format!("write a chunk bound of {name}"), e.0))?
            .ok_or_else(|| PgError::other(format!("write a chunk bound of {name}"), "a key value is NULL"))?;
        literals.push(quote_str(&text));
    }
    let names: Vec<&str> = keys.iter().map(|(n, _)| n.as_str()).collect();
    Ok(format!("(({}) {} ({}))", names.join(", "), if below { "<" } else { ">=" }, literals.join(", ")))
}

/// Runs a simple query and returns its rows as text.
async fn text_rows(client: &Client, sql: &str, what: impl Fn() -> String) -> Result<Vec<Vec<Option<String>>>, PgError> {
    let messages = guarded(client.simple_query(sql), &what).await?;
    Ok(messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect()),
            _ => None,
        })
        .collect())
}

/// Plans the chunks of a table. A key of one integer column whose values
/// are dense is cut into equal spans from its bounds alone
/// (`plan_integer_spans`); any other key gets boundaries every
/// `chunk_rows` keys, found on the key index by the server (only the
/// boundary keys cross the network). A table without a usable key is one
/// unbounded chunk.
pub async fn plan_chunks(client: &Client, m: &TableMapping, chunk_rows: u64) -> Result<Vec<Chunk>, PgError> {
    if m.schema.key.is_empty() {
        return Ok(vec![Chunk { index: 0, lower: None, upper: None }]);
    }
    if let Some(bounds) = plan_integer_spans(client, m, chunk_rows).await? {
        return Ok(chunks_between(bounds));
    }
    let keys = key_columns(m);
    let key_list: Vec<&str> = keys.iter().map(|(n, _)| n.as_str()).collect();
    let key_list = key_list.join(", ");
    // Aliased so that ORDER BY sorts by the columns, not by their text.
    let select_list: Vec<String> = keys.iter().enumerate().map(|(i, (n, _))| format!("{n} AS k{i}")).collect();
    let select_list = select_list.join(", ");
    let types: Vec<u32> = keys.iter().map(|(_, t)| type_oid(t)).collect();
    let offset = chunk_rows.max(1);
    let what = || format!("plan chunks of {}", m.source);
    let mut bounds: Vec<Vec<Cell>> = Vec::new();
    loop {
        let condition = match bounds.last() {
            Some(b) => format!("WHERE {}", bound_condition(&keys, b, false)?),
            None => String::new(),
        };
        let sql = format!(
            "SELECT {select_list} FROM {} t {condition} ORDER BY {key_list} LIMIT 1 OFFSET {offset}",
            table_ref(m)
        );
        let rows = text_rows(client, &sql, what).await?;
        let Some(row) = rows.into_iter().next() else { break };
        let cells = row
            .iter()
            .zip(&types)
            .map(|(v, &oid)| v.as_deref().map_or(Cell::Null, |s| decode(oid, s.as_bytes())))
            .collect();
        bounds.push(cells);
    }
    Ok(chunks_between(bounds))
}

/// Chunks from ascending boundaries: below the first, between neighbours,
/// from the last on.
fn chunks_between(bounds: Vec<Vec<Cell>>) -> Vec<Chunk> {
    let mut chunks = Vec::with_capacity(bounds.len() + 1);
    let mut lower = None;
    for (i, b) in bounds.into_iter().enumerate() {
        chunks.push(Chunk { index: i as u32, lower: lower.clone(), upper: Some(b.clone()) });
        lower = Some(b);
    }
    chunks.push(Chunk { index: chunks.len() as u32, lower, upper: None });
    chunks
}

/// How many possible key values per row an integer key may span and still
/// be cut into equal spans: at worst a chunk then holds this many times the
/// rows it should.
const DENSE_SPAN_PER_ROW: i128 = 4;

/// Boundaries for a key of one `smallint`/`integer`/`bigint` column: its
/// range (two index probes) cut into spans of about `chunk_rows` rows by the
/// table's estimated size. `None` when the key is not such a column, the
/// size is unknown (never analyzed), or the values are too sparse for equal
/// spans to hold similar row counts: the caller then walks the keys. Any
/// boundaries give a correct plan (the first and last chunks are open); these
/// only decide how even the chunks are.
async fn plan_integer_spans(client: &Client, m: &TableMapping, chunk_rows: u64) -> Result<Option<Vec<Vec<Cell>>>, PgError> {
    let keys = key_columns(m);
    let [(name, ty)] = keys.as_slice() else { return Ok(None) };
    if !matches!(ty.as_str(), "smallint" | "integer" | "bigint") || m.estimated_rows == 0 {
        return Ok(None);
    }
    let what = || format!("plan chunks of {}", m.source);
    let sql = format!("SELECT min({name})::text, max({name})::text FROM {}", table_ref(m));
    let rows = text_rows(client, &sql, what).await?;
    let bound = |i: usize| rows.first().and_then(|r| r.get(i).cloned().flatten()).and_then(|v| v.parse::<i64>().ok());
    let (Some(min), Some(max)) = (bound(0), bound(1)) else {
        return Ok(Some(Vec::new())); // no rows: one open chunk
    };
    let span = i128::from(max) - i128::from(min) + 1;
    let estimated = i128::from(m.estimated_rows);
    if span > estimated.saturating_mul(DENSE_SPAN_PER_ROW) {
        return Ok(None);
    }
    let chunks = (estimated / i128::from(chunk_rows.max(1))).max(1);
    let step = (span + chunks - 1) / chunks;
    let bounds = (1..chunks)
        .map(|i| i128::from(min) + step * i)
        .take_while(|&b| b <= i128::from(max))
        .filter_map(|b| i64::try_from(b).ok())
        .map(|b| vec![Cell::Int(b)])
        .collect();
    Ok(Some(bounds))
}

/// Starts a read-only REPEATABLE READ transaction on `client`, importing the
/// exported `snapshot` when given (it must still be held by the session that
/// exported it: keep the [`crate::wal::SlotInfo`] alive). Every chunk read in
/// it sees the same data. End it with [`end_snapshot_read`].
pub async fn begin_snapshot_read(client: &Client, snapshot: Option<&str>) -> Result<(), PgError> {
    let mut sql = String::from("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if let Some(name) = snapshot {
        sql.push_str(&format!("; SET TRANSACTION SNAPSHOT {}", crate::session::quote_literal(name)));
    }
    // Intervals in the WAL session's style, so both phases print them alike.
    sql.push_str("; SET LOCAL IntervalStyle = 'postgres'");
    let what = || match snapshot {
        Some(s) => format!("start a read of snapshot {s}"),
        None => "start a snapshot read".to_string(),
    };
    if let Err(e) = guarded(client.batch_execute(&sql), what).await {
        // Leave the session usable: the failed BEGIN block is rolled back.
        let _ = client.batch_execute("ROLLBACK").await;
        return Err(e);
    }
    Ok(())
}

/// Ends a transaction started by [`begin_snapshot_read`].
pub async fn end_snapshot_read(client: &Client) -> Result<(), PgError> {
    client.batch_execute("COMMIT").await.context(|| "end a snapshot read".into())
}

/// The SELECT of one chunk: the copied columns (in `m.columns` order) of the
/// rows in the chunk's key range that pass the table's filter.
pub fn chunk_query(m: &TableMapping, chunk: &Chunk) -> Result<String, PgError> {
    let columns: Vec<String> = m.columns.iter().map(|c| quote_ident(&c.source)).collect();
    let keys = key_columns(m);
    let mut conditions = Vec::new();
    if let Some(lower) = &chunk.lower {
        conditions.push(bound_condition(&keys, lower, false)?);
    }
    if let Some(upper) = &chunk.upper {
        conditions.push(bound_condition(&keys, upper, true)?);
    }
    if let Some(filter) = &m.filter {
        conditions.push(format!("({})", filter.to_sql(quote_ident, quote_str)));
    }
    let mut sql = format!("SELECT {} FROM {}", columns.join(", "), table_ref(m));
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    Ok(sql)
}

/// The source type (as `format_type` prints it) of each copied column.
fn column_types(m: &TableMapping) -> Vec<u32> {
    m.columns
        .iter()
        .map(|c| {
            m.pg_columns
                .iter()
                .find(|p| p.name == c.source)
                .map(|p| type_oid(&p.data_type))
                .unwrap_or(0)
        })
        .collect()
}

/// Reads one chunk, handing rows (cells in `m.columns` order) to `emit` in
/// batches of `batch_rows`; returns the number of rows read. The rows are
/// streamed (the driver stops reading from the server while `emit` runs), so
/// memory holds about one batch. `emit` returning false stops the read with
/// an error. Run it inside [`begin_snapshot_read`] for a consistent read.
pub async fn read_chunk<F, Fut>(
    client: &Client,
    m: &TableMapping,
    chunk: &Chunk,
    batch_rows: usize,
    mut emit: F,
) -> Result<u64, PgError>
where
    F: FnMut(Vec<Vec<Cell>>) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let batch_rows = batch_rows.max(1);
    let sql = chunk_query(m, chunk)?;
    let types = column_types(m);
    let what = || format!("read chunk {} of {}", chunk.index, m.source);
    let stream = guarded(client.simple_query_raw(&sql), what).await?;
    let mut stream = std::pin::pin!(stream);
    let mut batch = Vec::with_capacity(batch_rows);
    let mut total = 0u64;
    while let Some(message) = guarded_next(&mut stream, what).await? {
        let SimpleQueryMessage::Row(row) = message else { continue };
        if row.len() != types.len() {
            return Err(PgError::other(what(), format!("{} values for {} columns", row.len(), types.len())));
        }
        batch.push(types.iter().enumerate().map(|(i, &oid)| row.get(i).map_or(Cell::Null, |s| decode(oid, s.as_bytes()))).collect());
        if batch.len() >= batch_rows {
            total += batch.len() as u64;
            if !emit(std::mem::replace(&mut batch, Vec::with_capacity(batch_rows))).await {
                return Err(PgError::other(what(), "the writer stopped"));
            }
        }
    }
    if !batch.is_empty() {
        total += batch.len() as u64;
        if !emit(batch).await {
            return Err(PgError::other(what(), "the writer stopped"));
        }
    }
    Ok(total)
}

/// Reads one chunk as a COPY stream in `format` (`COPY (<chunk query>) TO
/// STDOUT`), handing `emit` pieces of about `piece_bytes`; returns the bytes
/// read. For a PostgreSQL destination, which takes the stream as it is:
/// nothing is decoded. `emit` returning false stops the read with an error.
pub async fn copy_chunk_out<F, Fut>(
    client: &Client,
    m: &TableMapping,
    chunk: &Chunk,
    format: CopyFormat,
    piece_bytes: usize,
    mut emit: F,
) -> Result<u64, PgError>
where
    F: FnMut(Vec<u8>) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let sql = format!("COPY ({}) TO STDOUT{}", chunk_query(m, chunk)?, format.options());
    let what = || format!("read chunk {} of {}", chunk.index, m.source);
    let stream = guarded(client.copy_out(&sql), what).await?;
    let mut stream = std::pin::pin!(stream);
    let mut piece = Vec::with_capacity(piece_bytes + 4096);
    let mut total = 0u64;
    // The server sends one row per message, so a piece always ends a row
    // (in binary, the header comes with the first row and the trailer alone).
    while let Some(data) = guarded_next(&mut stream, what).await? {
        piece.extend_from_slice(&data);
        if piece.len() >= piece_bytes {
            total += piece.len() as u64;
            if !emit(std::mem::replace(&mut piece, Vec::with_capacity(piece_bytes + 4096))).await {
                return Err(PgError::other(what(), "the writer stopped"));
            }
        }
    }
    if !piece.is_empty() {
        total += piece.len() as u64;
        if !emit(piece).await {
            return Err(PgError::other(what(), "the writer stopped"));
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_row_comparisons_of_literals() {
        let keys = vec![("\"a\"".to_string(), "integer".to_string()), ("\"b\"".to_string(), "text".to_string())];
        let sql = bound_condition(&keys, &[Cell::Int(1), Cell::Bytes(b"x'y\\".to_vec())], false).unwrap();
        assert_eq!(sql, "((\"a\", \"b\") >= (E'1', E'x''y\\\\'))");
        let sql = bound_condition(&keys, &[Cell::Int(1), Cell::Bytes(b"z".to_vec())], true).unwrap();
        assert_eq!(sql, "((\"a\", \"b\") < (E'1', E'z'))");
        assert!(bound_condition(&keys, &[Cell::Int(1)], true).is_err());
    }

    #[test]
    fn chunks_round_trip_through_json() {
        let c = Chunk { index: 3, lower: Some(vec![Cell::Int(5), Cell::Bytes(b"a".to_vec())]), upper: None };
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Chunk>(&text).unwrap(), c);
    }
}
