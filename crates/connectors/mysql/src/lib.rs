//! MySQL family connector (MySQL 5.7/8.0, MariaDB): connectivity probes and
//! privilege prechecks; later the binlog source and the row sink.

pub mod apply;
pub mod binlog;
pub mod cell;
mod error;
pub mod grants;
pub mod login;
pub mod precheck;
mod privileges;
pub mod schema;
pub mod session;
pub mod sink;
pub mod snapshot;
pub mod translate;
mod probe;
pub use opendts_connector_common::tcp;

pub use privileges::{check_privileges, evaluate as evaluate_grants, required as required_privileges};
pub use error::MySqlError;
pub use probe::probe;

/// The `testName` of the driver login in DescribeConnectionStatus (`<Engine> JDBC Connect`).
pub fn driver_test_name() -> &'static str {
    "MySQL JDBC Connect"
}
