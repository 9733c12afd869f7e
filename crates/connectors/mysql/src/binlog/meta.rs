//! Connections for the binlog code and the information_schema fallback for
//! column names, signedness and ENUM/SET members.

use super::error::BinlogError;
use super::table_map::{parse_enum_set_values, InfoColumn};
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use opendts_core::endpoint::Endpoint;
use opendts_core::row::TableId;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Time allowed for a login or a metadata query.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens a TCP connection to the endpoint within `timeout`.
pub async fn open(ep: &Endpoint, timeout: Duration) -> Result<Conn, BinlogError> {
    let t = crate::tcp::target(ep).map_err(|o| BinlogError::Connect(o.detail))?;
    crate::login::connect(ep, &t, timeout).await.map_err(|o| BinlogError::Connect(o.detail))
}

/// Runs a query future within `timeout`, mapping driver errors.
pub async fn timed<T>(
    ep: &Endpoint,
    timeout: Duration,
    what: &str,
    fut: impl std::future::Future<Output = mysql_async::Result<T>>,
) -> Result<T, BinlogError> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r.map_err(|e| BinlogError::from_driver(e, ep, what)),
        Err(_) => Err(BinlogError::Lost(format!("{what}: no answer within {} s", timeout.as_secs()))),
    }
}

/// True for MariaDB, false for MySQL (and MySQL-compatible servers).
pub async fn is_mariadb(conn: &mut Conn, ep: &Endpoint) -> Result<bool, BinlogError> {
    let v: Option<String> = timed(ep, QUERY_TIMEOUT, "SELECT VERSION()", conn.query_first("SELECT VERSION()")).await?;
    Ok(v.unwrap_or_default().to_ascii_lowercase().contains("mariadb"))
}

/// Columns of tables as information_schema describes them, cached per table
/// until a DDL statement touches the table.
pub struct InfoCache {
    ep: Endpoint,
    conn: Option<Conn>,
    cache: HashMap<TableId, Arc<Vec<InfoColumn>>>,
}

impl InfoCache {
    pub fn new(ep: Endpoint) -> InfoCache {
        InfoCache { ep, conn: None, cache: HashMap::new() }
    }

    pub async fn columns(&mut self, t: &TableId) -> Result<Arc<Vec<InfoColumn>>, BinlogError> {
        if let Some(c) = self.cache.get(t) {
            return Ok(c.clone());
        }
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => open(&self.ep, QUERY_TIMEOUT).await?,
        };
        let rows: Vec<(Vec<u8>, Vec<u8>)> = timed(
            &self.ep,
            QUERY_TIMEOUT,
            "reading column metadata from information_schema",
            conn.exec(
                "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                (t.schema.as_str(), t.table.as_str()),
            ),
        )
        .await?;
        // Keep the connection only when it worked.
        self.conn = Some(conn);
        if rows.is_empty() {
            return Err(BinlogError::Invalid(format!(
                "table {t} appears in the binlog without column names, and information_schema no longer has it \
                 (dropped or renamed since): set binlog_row_metadata=FULL on the source so the binlog carries \
                 the column names, or start from a position after the change"
            )));
        }
        let cols: Vec<InfoColumn> = rows
            .into_iter()
            .map(|(name, ty)| {
                let ty = String::from_utf8_lossy(&ty).into_owned();
                InfoColumn {
                    name: String::from_utf8_lossy(&name).into_owned(),
                    unsigned: ty.to_ascii_lowercase().contains(" unsigned"),
                    binary_fixed: ty.to_ascii_lowercase().starts_with("binary("),
                    values: parse_enum_set_values(&ty),
                }
            })
            .collect();
        let cols = Arc::new(cols);
        self.cache.insert(t.clone(), cols.clone());
        Ok(cols)
    }

    pub fn invalidate(&mut self, tables: &[TableId]) {
        for t in tables {
            self.cache.remove(t);
        }
    }

    pub fn clear(&mut self) {
        self.cache.clear();
    }

    pub async fn close(&mut self) {
        if let Some(c) = self.conn.take() {
            crate::login::close(c).await;
        }
    }
}
