//! Dispatch from an endpoint's engine family to its connector crate.

use opendts_core::endpoint::{EngineFamily, Endpoint};
use opendts_core::job::MigrationMode;
use opendts_core::probe::{EndpointRole, FailureKind, Outcome, ProbeReport};
use std::time::Duration;

/// How long one connectivity check may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

fn unsupported(ep: &Endpoint) -> Outcome {
    Outcome::fail(
        FailureKind::NotSupported,
        format!("OpenDTS cannot connect to {} databases yet (supported: MySQL, MariaDB, PostgreSQL).", display_engine(ep)),
    )
}

fn display_engine(ep: &Endpoint) -> &str {
    if ep.engine_name.is_empty() { "unnamed" } else { &ep.engine_name }
}

/// TCP reachability and driver login of one endpoint.
pub async fn probe_endpoint(ep: &Endpoint) -> ProbeReport {
    match ep.family() {
        EngineFamily::MySql => opendts_connector_mysql::probe(ep, PROBE_TIMEOUT).await,
        EngineFamily::PostgreSql => opendts_connector_postgres::probe(ep, PROBE_TIMEOUT).await,
        EngineFamily::Unsupported => ProbeReport { tcp: unsupported(ep), login: None },
    }
}

/// Whether the account has the privileges the chosen steps need.
pub async fn check_privileges(ep: &Endpoint, role: EndpointRole, mode: &MigrationMode) -> Outcome {
    match ep.family() {
        EngineFamily::MySql => opendts_connector_mysql::check_privileges(ep, role, mode, PROBE_TIMEOUT).await,
        EngineFamily::PostgreSql => {
            opendts_connector_postgres::check_privileges(ep, role, mode, PROBE_TIMEOUT).await
        }
        EngineFamily::Unsupported => unsupported(ep),
    }
}

/// The `testName` of the driver-login step, e.g. `MySQL JDBC Connect`.
pub fn driver_test_name(ep: &Endpoint) -> String {
    match ep.family() {
        EngineFamily::MySql => opendts_connector_mysql::driver_test_name().to_string(),
        EngineFamily::PostgreSql => opendts_connector_postgres::driver_test_name().to_string(),
        EngineFamily::Unsupported => format!("{} JDBC Connect", display_engine(ep)),
    }
}
