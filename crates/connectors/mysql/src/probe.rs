//! DescribeConnectionStatus and CHECK_CONN_*: a TCP test, then a driver login.

use crate::{login, tcp};
use mysql_async::prelude::Queryable;
use opendts_core::endpoint::Endpoint;
use opendts_core::probe::{Outcome, ProbeReport};
use std::time::Duration;

/// Probes a MySQL-family endpoint: first a plain TCP connection (the "Telnet"
/// test), then a real login with the endpoint's user, password and database,
/// each bounded by `timeout`. The login is skipped when TCP fails.
pub async fn probe(ep: &Endpoint, timeout: Duration) -> ProbeReport {
    let t = match tcp::target(ep) {
        Ok(t) => t,
        Err(outcome) => return ProbeReport { tcp: outcome, login: None },
    };
    let tcp = tcp::connect_test(&t, timeout).await;
    if !tcp.passed {
        return ProbeReport { tcp, login: None };
    }
    let login = match login::connect(ep, &t, timeout).await {
        Err(outcome) => outcome,
        Ok(mut conn) => {
            let version = tokio::time::timeout(timeout, conn.query_first::<String, _>("SELECT VERSION()"))
                .await
                .ok()
                .and_then(Result::ok)
                .flatten()
                .unwrap_or_else(|| "unknown version".to_string());
            login::close(conn).await;
            let db = ep.database_name.trim();
            let db = if db.is_empty() { String::new() } else { format!(", database {db:?}") };
            Outcome::pass(format!("Logged in to {} as {:?}{db}: server {version}.", t.display(), ep.user_name))
        }
    };
    tracing::debug!(target = %t.display(), passed = login.passed, "mysql probe done");
    ProbeReport { tcp, login: Some(login) }
}
