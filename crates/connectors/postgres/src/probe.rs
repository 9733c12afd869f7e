//! DescribeConnectionStatus and CHECK_CONN_*: a TCP test, then a driver login.

use crate::{login, tcp};
use opendts_core::endpoint::Endpoint;
use opendts_core::probe::{Outcome, ProbeReport};
use std::time::Duration;

/// Probes a PostgreSQL endpoint: first a plain TCP connection (the "Telnet"
/// test), then a real login (no TLS) with the endpoint's user and password to
/// its database (`postgres` when none is given), each bounded by `timeout`.
/// The login is skipped when TCP fails.
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
        Ok(client) => {
            let version = tokio::time::timeout(timeout, client.query_one("SELECT current_setting('server_version')", &[]))
                .await
                .ok()
                .and_then(Result::ok)
                .and_then(|row| row.try_get::<_, String>(0).ok())
                .unwrap_or_else(|| "unknown".to_string());
            drop(client);
            Outcome::pass(format!(
                "Logged in to {} as {:?}, database {:?}: PostgreSQL {version}.",
                t.display(),
                ep.user_name,
                login::database(ep)
            ))
        }
    };
    tracing::debug!(target = %t.display(), passed = login.passed, "postgres probe done");
    ProbeReport { tcp, login: Some(login) }
}
