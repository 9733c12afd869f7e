//! Helpers the live PostgreSQL tests share: the server under test (skipped
//! when OPENDTS_TEST_PG_PORT is unset), unique names, fresh databases.
//! Each test binary uses a subset of them.
#![allow(dead_code)]

use opendts_core::dblist::{DbList, DbListContext};
use opendts_core::endpoint::Endpoint;
use opendts_core::secret::Secret;
use std::sync::atomic::{AtomicU32, Ordering};

pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
}

pub fn admin(test: &str) -> Option<Endpoint> {
    let Ok(port) = std::env::var("OPENDTS_TEST_PG_PORT") else {
        eprintln!("skipping {test}: OPENDTS_TEST_PG_PORT is not set (start a server with scripts/db/start-postgres.sh)");
        return None;
    };
    Some(Endpoint {
        engine_name: "PostgreSQL".into(),
        ip: env_or("OPENDTS_TEST_PG_HOST", "127.0.0.1"),
        port,
        user_name: env_or("OPENDTS_TEST_PG_USER", "postgres"),
        password: Secret::new(env_or("OPENDTS_TEST_PG_PASSWORD", "opendts-root")),
        ..Default::default()
    })
}

pub fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("odts_{tag}_{}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed), nanos % 100_000)
}

pub async fn client(ep: &Endpoint, db: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::Config::new()
        .host(ep.ip.clone())
        .port(ep.port_number().unwrap())
        .user(ep.user_name.clone())
        .password(ep.password.expose())
        .dbname(db)
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

/// A fresh database (dropped by [`drop_db`]) and its endpoint, after running `stmts` in it.
pub async fn fresh_db(admin: &Endpoint, tag: &str, stmts: &[&str]) -> Endpoint {
    let db = unique(tag);
    client(admin, "postgres").await.batch_execute(&format!("CREATE DATABASE {db}")).await.unwrap();
    let c = client(admin, &db).await;
    for s in stmts {
        c.batch_execute(s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    Endpoint { database_name: db, ..admin.clone() }
}

pub async fn drop_db(admin: &Endpoint, ep: &Endpoint) {
    let _ = client(admin, "postgres")
        .await
        .batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", ep.database_name))
        .await;
}

pub fn list(json: &str) -> DbList {
    DbList::parse(json, DbListContext::Migration).unwrap()
}
