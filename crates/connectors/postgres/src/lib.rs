//! PostgreSQL connector: connectivity probes and privilege prechecks; later the
//! logical-replication source and the COPY sink.

pub mod apply;
pub mod cell;
pub mod error;
pub mod login;
pub mod objects;
pub mod precheck;
pub mod schema;
pub mod session;
pub mod sink;
pub mod snapshot;
pub mod translate;
pub mod value;
mod privileges;
mod probe;
pub mod wal;
pub use opendts_connector_common::tcp;

pub use privileges::{check_privileges, evaluate as evaluate_privileges, RoleFacts};
pub use probe::probe;

/// The `testName` of the driver login in DescribeConnectionStatus (`<Engine> JDBC Connect`).
pub fn driver_test_name() -> &'static str {
    "PostgreSQL JDBC Connect"
}
