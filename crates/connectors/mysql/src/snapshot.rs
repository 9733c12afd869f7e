//! Full-load reads: a table is cut into key ranges (chunks) that are read independently.

use crate::cell;
use crate::error::{guarded, Context, MySqlError};
use crate::schema::TableMapping;
use crate::session::quote_ident;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Value};
use opendts_core::change::SourcePosition;
pub use opendts_core::row::Chunk;
use opendts_core::row::Cell;


fn key_columns(m: &TableMapping) -> Vec<String> {
    m.schema.key.iter().map(|&i| quote_ident(&m.schema.columns[i].name)).collect()
}

fn table_ref(m: &TableMapping) -> String {
    format!("{}.{}", quote_ident(&m.source.schema), quote_ident(&m.source.table))
}

/// `(k1, k2) >= (?, ?)` (or `<` when `below`), spelled out so that every
/// server's range optimizer uses the key: `k1 > ? OR (k1 = ? AND k2 >= ?)`.
/// Returns the SQL and the parameter values in order.
fn bound_condition(keys: &[String], bound: &[Cell], below: bool) -> (String, Vec<Value>) {
    let mut alternatives = Vec::new();
    let mut params = Vec::new();
    for i in 0..keys.len() {
        let last = i + 1 == keys.len();
        let op = match (below, last) {
            (false, true) => ">=",
            (false, false) => ">",
            (true, _) => "<",
        };
        let mut terms = Vec::new();
        for j in 0..i {
            terms.push(format!("{} = ?", keys[j]));
            params.push(cell::to_value(&bound[j]));
        }
        terms.push(format!("{} {op} ?", keys[i]));
        params.push(cell::to_value(&bound[i]));
        alternatives.push(format!("({})", terms.join(" AND ")));
    }
    (format!("({})", alternatives.join(" OR ")), params)
}

/// Plans the chunks of a table: boundaries every `chunk_rows` keys, found on
/// the key index by the server (no rows cross the network).
pub async fn plan_chunks(conn: &mut Conn, m: &TableMapping, chunk_rows: u64) -> Result<Vec<Chunk>, MySqlError> {
    if m.schema.key.is_empty() {
        return Ok(vec![Chunk { index: 0, lower: None, upper: None }]);
    }
    let keys = key_columns(m);
    let key_list = keys.join(", ");
    let mut bounds: Vec<Vec<Cell>> = Vec::new();
    loop {
        let (condition, params) = match bounds.last() {
            Some(b) => {
                let (sql, params) = bound_condition(&keys, b, false);
                (format!("WHERE {sql}"), params)
            }
            None => (String::new(), Vec::new()),
        };
        // The boundary `chunk_rows` keys after the previous one (or after the start).
        let offset = chunk_rows.max(1);
        let sql = format!(
            "SELECT {key_list} FROM {} {condition} ORDER BY {key_list} LIMIT 1 OFFSET {offset}",
            table_ref(m)
        );
        let row: Option<mysql_async::Row> = conn
            .exec_first(sql, Params::Positional(params))
            .await
            .context(|| format!("plan chunks of {}", m.source))?;
        match row {
            Some(row) => bounds.push(row.unwrap().into_iter().map(cell::from_value).collect()),
            None => break,
        }
    }
    let mut chunks = Vec::with_capacity(bounds.len() + 1);
    let mut lower = None;
    for (i, b) in bounds.into_iter().enumerate() {
        chunks.push(Chunk { index: i as u32, lower: lower.clone(), upper: Some(b.clone()) });
        lower = Some(b);
    }
    chunks.push(Chunk { index: chunks.len() as u32, lower, upper: None });
    Ok(chunks)
}

fn quote_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// The SELECT of one chunk and its parameters.
pub fn chunk_query(m: &TableMapping, chunk: &Chunk) -> (String, Vec<Value>) {
    let columns: Vec<String> = m.columns.iter().map(|c| quote_ident(&c.source)).collect();
    let keys = key_columns(m);
    let mut conditions = Vec::new();
    let mut params = Vec::new();
    if let Some(lower) = &chunk.lower {
        let (sql, p) = bound_condition(&keys, lower, false);
        conditions.push(sql);
        params.extend(p);
    }
    if let Some(upper) = &chunk.upper {
        let (sql, p) = bound_condition(&keys, upper, true);
        conditions.push(sql);
        params.extend(p);
    }
    if let Some(filter) = &m.filter {
        conditions.push(format!("({})", filter.to_sql(quote_ident, quote_str)));
    }
    let mut sql = format!("SELECT {} FROM {}", columns.join(", "), table_ref(m));
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    (sql, params)
}

/// A row as cells. The driver reports unsigned integers that fit in i64 as
/// signed; the column's UNSIGNED flag turns them back into unsigned cells, so
/// the full load and the binlog describe a value the same way.
fn row_cells(row: mysql_async::Row) -> Vec<Cell> {
    let unsigned: Vec<bool> =
        row.columns_ref().iter().map(|c| c.flags().contains(mysql_async::consts::ColumnFlags::UNSIGNED_FLAG)).collect();
    row.unwrap()
        .into_iter()
        .enumerate()
        .map(|(i, v)| match (v, unsigned.get(i).copied().unwrap_or(false)) {
            (Value::Int(n), true) if n >= 0 => Cell::UInt(n as u64),
            (v, _) => cell::from_value(v),
        })
        .collect()
}

/// Reads one chunk, handing rows to `emit` in batches of `batch_rows`. The
/// driver streams the result, so memory holds one batch at a time.
pub async fn read_chunk<F, Fut>(
    conn: &mut Conn,
    m: &TableMapping,
    chunk: &Chunk,
    batch_rows: usize,
    mut emit: F,
) -> Result<u64, MySqlError>
where
    F: FnMut(Vec<Vec<Cell>>) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let (sql, params) = chunk_query(m, chunk);
    let what = || format!("read chunk {} of {}", chunk.index, m.source);
    let mut result = guarded(conn.exec_iter(sql, Params::Positional(params)), what).await?;
    let mut batch = Vec::with_capacity(batch_rows);
    let mut total = 0u64;
    while let Some(row) = guarded(result.next(), what).await? {
        batch.push(row_cells(row));
        if batch.len() >= batch_rows {
            total += batch.len() as u64;
            if !emit(std::mem::replace(&mut batch, Vec::with_capacity(batch_rows))).await {
                return Err(MySqlError::other(what(), "the writer stopped"));
            }
        }
    }
    if !batch.is_empty() {
        total += batch.len() as u64;
        if !emit(batch).await {
            return Err(MySqlError::other(what(), "the writer stopped"));
        }
    }
    Ok(total)
}

/// Starts a consistent snapshot on `conn` and returns the binlog position it
/// corresponds to, so that the incremental phase can skip exactly the changes
/// the snapshot already contains. Used for tables without a key, where
/// replaying a change twice would duplicate a row.
///
/// MariaDB reports the position of its snapshot (`binlog_snapshot_file/position`)
/// without any lock. MySQL has no such report: the table is briefly locked
/// for reading so that no transaction touching it commits between reading the
/// position and starting the snapshot.
pub async fn begin_consistent_read(conn: &mut Conn, m: &TableMapping) -> Result<SourcePosition, MySqlError> {
    let what = || format!("start a consistent read of {}", m.source);
    let version: Option<String> = conn.query_first("SELECT VERSION()").await.context(what)?;
    if version.unwrap_or_default().contains("MariaDB") {
        conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT").await.context(what)?;
        let rows: Vec<(String, String)> = conn
            .query("SHOW STATUS WHERE Variable_name IN ('binlog_snapshot_file', 'binlog_snapshot_position')")
            .await
            .context(what)?;
        let get = |name: &str| rows.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
        let file = get("binlog_snapshot_file").filter(|f| !f.is_empty());
        let pos = get("binlog_snapshot_position").and_then(|p| p.parse::<u64>().ok());
        return match (file, pos) {
            (Some(file), Some(pos)) => Ok(SourcePosition::Binlog { file, pos, gtid: None }),
            _ => Err(MySqlError::other(what(), "the server reports no binlog snapshot position (is log_bin on?)")),
        };
    }
    conn.query_drop(format!("FLUSH TABLES {} WITH READ LOCK", table_ref(m))).await.context(what)?;
    let status: Option<mysql_async::Row> = conn.query_first("SHOW MASTER STATUS").await.context(what)?;
    let position = status.and_then(|row| {
        let file: Option<String> = row.get(0);
        let pos: Option<u64> = row.get(1);
        Some(SourcePosition::Binlog { file: file?, pos: pos?, gtid: None })
    });
    conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT").await.context(what)?;
    conn.query_drop("UNLOCK TABLES").await.context(what)?;
    position.ok_or_else(|| MySqlError::other(what(), "SHOW MASTER STATUS returned nothing (is log_bin on?)"))
}

/// Ends a consistent read started by [`begin_consistent_read`].
pub async fn end_consistent_read(conn: &mut Conn) -> Result<(), MySqlError> {
    conn.query_drop("COMMIT").await.context(|| "end a consistent read".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_bounds_are_spelled_out() {
        let keys = vec!["`a`".to_string(), "`b`".to_string()];
        let (sql, params) = bound_condition(&keys, &[Cell::Int(1), Cell::Int(2)], false);
        assert_eq!(sql, "((`a` > ?) OR (`a` = ? AND `b` >= ?))");
        assert_eq!(params, vec![Value::Int(1), Value::Int(1), Value::Int(2)]);
        let (sql, _) = bound_condition(&keys, &[Cell::Int(1), Cell::Int(2)], true);
        assert_eq!(sql, "((`a` < ?) OR (`a` = ? AND `b` < ?))");
    }

    #[test]
    fn strings_in_filters_are_escaped() {
        assert_eq!(quote_str("a'b\\c"), "'a''b\\\\c'");
    }
}
