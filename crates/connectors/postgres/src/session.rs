//! Connections of the data path, and quoting of identifiers and literals.

use crate::error::{Context, PgError};
use crate::{login, tcp};
use opendts_core::endpoint::Endpoint;
use std::time::Duration;
use tokio_postgres::Client;

/// How long a data-path connection may take to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Session settings of every data-path connection: UTC (`timestamptz` values
/// are read and written as UTC text), ISO dates, floats with their exact
/// (shortest round-trip) representation, UTF-8, hex `bytea`, and no statement
/// timeout inherited from the role.
pub const SESSION_SETUP: &str = "SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'iso_8601'; \
     SET extra_float_digits = 3; SET client_encoding = 'UTF8'; SET bytea_output = 'hex'; SET statement_timeout = 0";

/// A destination session does not fire the destination's own triggers or
/// foreign key checks during bulk writes (the source already enforced them);
/// this needs superuser or a role allowed to set it, so it is best-effort.
pub const SINK_SETUP: &str = "SET session_replication_role = replica";

async fn open(ep: &Endpoint, role: &str) -> Result<Client, PgError> {
    let target = tcp::target(ep)?;
    let client = login::connect(ep, &target, CONNECT_TIMEOUT).await?;
    client.batch_execute(SESSION_SETUP).await.context(|| format!("set up {role} session"))?;
    Ok(client)
}

/// A connection to read from a source.
pub async fn source(ep: &Endpoint) -> Result<Client, PgError> {
    open(ep, "source").await
}

/// A connection to write to a destination. Triggers and foreign keys are
/// disabled for the session when the role may do so.
pub async fn sink(ep: &Endpoint) -> Result<Client, PgError> {
    let client = open(ep, "destination").await?;
    if let Err(e) = client.batch_execute(SINK_SETUP).await {
        tracing::debug!(error = %e, "session_replication_role not set; destination triggers stay active");
    }
    Ok(client)
}

/// Quotes an identifier with double quotes.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `"schema"."table"`.
pub fn qualified(schema: &str, table: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(table))
}

/// Quotes a string literal (standard_conforming_strings on, the default since 9.1).
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(qualified("s", "T"), "\"s\".\"T\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
