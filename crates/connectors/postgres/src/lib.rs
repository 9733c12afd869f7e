//! PostgreSQL connector: connectivity probes and privilege prechecks; later the
//! logical-replication source and the COPY sink.

pub mod login;
mod privileges;
mod probe;
pub use opendts_connector_common::tcp;

pub use privileges::{check_privileges, evaluate as evaluate_privileges, RoleFacts};
pub use probe::probe;

/// The `testName` of the driver login in DescribeConnectionStatus (`<Engine> JDBC Connect`).
pub fn driver_test_name() -> &'static str {
    "PostgreSQL JDBC Connect"
}
