//! Helpers the live MariaDB tests share: the server under test (skipped when
//! OPENDTS_TEST_MYSQL_PORT is unset), an admin connection, databases dropped
//! at the end of a test. Each test binary uses a subset of them.
#![allow(dead_code)]

use mysql_async::prelude::Queryable;
use opendts_core::endpoint::Endpoint;
use opendts_core::secret::Secret;

pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
}

/// The admin endpoint, or None (with a note) when no server is configured.
pub fn admin(test: &str) -> Option<Endpoint> {
    let Ok(port) = std::env::var("OPENDTS_TEST_MYSQL_PORT") else {
        eprintln!("skipping {test}: OPENDTS_TEST_MYSQL_PORT is not set (start a server with scripts/db/start-mariadb.sh)");
        return None;
    };
    Some(Endpoint {
        engine_name: "MySQL".into(),
        ip: env_or("OPENDTS_TEST_MYSQL_HOST", "127.0.0.1"),
        port,
        user_name: env_or("OPENDTS_TEST_MYSQL_USER", "root"),
        password: Secret::new(env_or("OPENDTS_TEST_MYSQL_PASSWORD", "opendts-root")),
        ..Default::default()
    })
}

pub async fn admin_conn(ep: &Endpoint) -> mysql_async::Conn {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(ep.ip.clone())
        .tcp_port(ep.port_number().unwrap())
        .user(Some(ep.user_name.clone()))
        .pass(Some(ep.password.expose().to_string()))
        .prefer_socket(false);
    mysql_async::Conn::new(opts).await.unwrap()
}

pub async fn admin_sql(ep: &Endpoint, stmts: &[String]) {
    let mut conn = admin_conn(ep).await;
    for s in stmts {
        conn.query_drop(s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    conn.disconnect().await.unwrap();
}

/// Drops the databases when dropped, even if the test panicked.
pub struct Databases {
    pub admin: Endpoint,
    pub names: Vec<String>,
}

impl Databases {
    pub async fn create(admin: &Endpoint, names: &[&String], stmts: &[String]) -> Databases {
        let mut all: Vec<String> = names.iter().map(|n| format!("CREATE DATABASE `{n}`")).collect();
        all.extend(stmts.iter().cloned());
        let dbs = Databases { admin: admin.clone(), names: names.iter().map(|n| n.to_string()).collect() };
        admin_sql(admin, &all).await;
        dbs
    }
}

impl Drop for Databases {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let stmts: Vec<String> = self.names.iter().map(|n| format!("DROP DATABASE IF EXISTS `{n}`")).collect();
        // Drop runs inside the test's runtime: do the cleanup on a thread of its own.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                rt.block_on(admin_sql(&admin, &stmts));
            }
        })
        .join();
    }
}
