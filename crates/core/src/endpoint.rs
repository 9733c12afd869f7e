//! Source and destination databases of a job.

use crate::secret::Secret;
use serde::{Deserialize, Serialize};

/// The database families OpenDTS knows how to reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EngineFamily {
    /// MySQL and MariaDB (and MySQL-compatible engines such as PolarDB MySQL).
    MySql,
    PostgreSql,
    /// An engine the API accepts but OpenDTS cannot connect to yet.
    Unsupported,
}

/// Maps an `*EndpointEngineName` value (any of the seeds' spellings) to a family.
pub fn engine_family(engine_name: &str) -> EngineFamily {
    match engine_name.to_ascii_lowercase().as_str() {
        "mysql" | "mariadb" | "polardb" | "drds" | "polardbx20" | "tidb" => EngineFamily::MySql,
        "postgresql" | "postgres" | "polardb_pg" | "greenplum" => EngineFamily::PostgreSql,
        _ => EngineFamily::Unsupported,
    }
}

/// One side of a job, as ConfigureDtsJob describes it.
///
/// The password is a [`Secret`] and is skipped by serde: the store keeps it
/// encrypted in its own column, never inside the JSON document of the job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub instance_type: String,
    pub engine_name: String,
    pub instance_id: String,
    pub region: String,
    pub ip: String,
    pub port: String,
    pub database_name: String,
    pub user_name: String,
    pub oracle_sid: String,
    pub owner_id: String,
    pub role: String,
    #[serde(skip)]
    pub password: Secret,
}

impl Endpoint {
    pub fn family(&self) -> EngineFamily {
        engine_family(&self.engine_name)
    }

    /// The port as a number, if it is one.
    pub fn port_number(&self) -> Option<u16> {
        self.port.trim().parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_names_map_to_families() {
        assert_eq!(engine_family("MYSQL"), EngineFamily::MySql);
        assert_eq!(engine_family("MySQL"), EngineFamily::MySql);
        assert_eq!(engine_family("PostgreSQL"), EngineFamily::PostgreSql);
        assert_eq!(engine_family("ORACLE"), EngineFamily::Unsupported);
    }

    #[test]
    fn password_is_not_serialized() {
        let ep = Endpoint { password: Secret::new("s3cret!"), ..Default::default() };
        let json = serde_json::to_string(&ep).unwrap_or_default();
        assert!(!json.contains("s3cret"));
    }
}
