//! Connections of the data path, set up so that values pass through unchanged.

use crate::error::{Context, MySqlError};
use crate::{login, tcp};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};
use opendts_core::endpoint::Endpoint;
use std::time::Duration;

/// How long a data-path connection may take to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Session settings of every data-path connection:
/// - `NAMES binary`: strings travel as the bytes stored, whatever the column's
///   character set, in both directions (no conversion can alter them);
/// - `time_zone = '+00:00'`: TIMESTAMP values are read and written in UTC, so a
///   source and a destination in different time zones agree;
/// - `sql_mode`: `NO_AUTO_VALUE_ON_ZERO` so an explicit 0 in an AUTO_INCREMENT
///   column stays 0, and no strict/zero-date modes so zero dates copy as they are.
const SESSION_SETUP: &str = "SET NAMES binary, time_zone = '+00:00', sql_mode = 'NO_AUTO_VALUE_ON_ZERO', \
     SESSION group_concat_max_len = 1048576";

/// A destination session also skips foreign key and unique checks during bulk
/// writes (the source already enforced them).
const SINK_SETUP: &str = "SET foreign_key_checks = 0, unique_checks = 0";

/// A destination fed by another engine rejects, rather than adjusts, a value
/// its column cannot hold (a PostgreSQL `infinity` date, an over-long string):
/// the error names the value, nothing is silently changed. (MySQL sources
/// need no such mode: their values fit the same column definitions.)
const STRICT_SETUP: &str = "SET sql_mode = 'STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO'";

/// Switches a destination session to strict mode (see [`STRICT_SETUP`]).
pub async fn make_strict(conn: &mut Conn) -> Result<(), MySqlError> {
    conn.query_drop(STRICT_SETUP).await.context(|| "set up a strict destination session".into())
}

fn options(ep: &Endpoint) -> Result<Opts, MySqlError> {
    let target = tcp::target(ep)?;
    Ok(login::opts(ep, &target).stmt_cache_size(64).into())
}

async fn open(ep: &Endpoint, role: &str) -> Result<Conn, MySqlError> {
    let opts = options(ep)?;
    let mut conn = match tokio::time::timeout(CONNECT_TIMEOUT, Conn::new(opts)).await {
        Ok(r) => r.context(|| format!("connect to {role} {}:{}", ep.ip, ep.port))?,
        Err(_) => {
            return Err(MySqlError::Connection {
                context: format!("connect to {role} {}:{}", ep.ip, ep.port),
                message: format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
            })
        }
    };
    conn.query_drop(SESSION_SETUP).await.context(|| format!("set up {role} session"))?;
    Ok(conn)
}

/// A connection to read from a source.
pub async fn source(ep: &Endpoint) -> Result<Conn, MySqlError> {
    open(ep, "source").await
}

/// A connection to write to a destination.
pub async fn sink(ep: &Endpoint) -> Result<Conn, MySqlError> {
    let mut conn = open(ep, "destination").await?;
    conn.query_drop(SINK_SETUP).await.context(|| "set up destination session".into())?;
    Ok(conn)
}

/// Quotes an identifier with backquotes.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("a`b"), "`a``b`");
    }
}
