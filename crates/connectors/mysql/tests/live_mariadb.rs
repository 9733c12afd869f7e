//! Tests against a real MySQL-family server. They run when OPENDTS_TEST_MYSQL_PORT
//! is set (start one with `scripts/db/start-mariadb.sh 33061`), and are skipped otherwise.
//! Env: OPENDTS_TEST_MYSQL_PORT, OPENDTS_TEST_MYSQL_PASSWORD (default `opendts-root`),
//! OPENDTS_TEST_MYSQL_USER (default `root`), OPENDTS_TEST_MYSQL_HOST (default 127.0.0.1).

use mysql_async::prelude::Queryable;
use opendts_connector_mysql::{check_privileges, driver_test_name, probe};
use opendts_core::endpoint::Endpoint;
use opendts_core::job::MigrationMode;
use opendts_core::probe::{EndpointRole, FailureKind};
use opendts_core::secret::Secret;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

mod support;
use support::admin;

const T: Duration = Duration::from_secs(5);
const SYNC: MigrationMode =
    MigrationMode { structure_initialization: true, data_initialization: true, data_synchronization: true };
const MIGRATE: MigrationMode =
    MigrationMode { structure_initialization: true, data_initialization: true, data_synchronization: false };

/// A name no other test (or test run) uses.
fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("odts_{tag}_{}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed), nanos % 100_000)
}

async fn admin_sql(ep: &Endpoint, stmts: &[String]) {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(ep.ip.clone())
        .tcp_port(ep.port_number().unwrap())
        .user(Some(ep.user_name.clone()))
        .pass(Some(ep.password.expose().to_string()))
        .prefer_socket(false);
    let mut conn = mysql_async::Conn::new(opts).await.unwrap();
    for s in stmts {
        conn.query_drop(s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    conn.disconnect().await.unwrap();
}

/// Creates `user`@`%` with `password` and the given GRANT clauses (`SELECT ON *.*`, ...).
async fn create_user(admin: &Endpoint, user: &str, password: &str, grants: &[&str]) -> Endpoint {
    let mut stmts = vec![
        format!("DROP USER IF EXISTS '{user}'@'%'"),
        format!("CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'"),
    ];
    stmts.extend(grants.iter().map(|g| format!("GRANT {g} TO '{user}'@'%'")));
    admin_sql(admin, &stmts).await;
    Endpoint { user_name: user.into(), password: Secret::new(password), ..admin.clone() }
}

async fn drop_user(admin: &Endpoint, user: &str) {
    admin_sql(admin, &[format!("DROP USER IF EXISTS '{user}'@'%'")]).await;
}

#[test]
fn driver_name() {
    assert_eq!(driver_test_name(), "MySQL JDBC Connect");
}

#[tokio::test]
async fn probe_succeeds() {
    let Some(ep) = admin("probe_succeeds") else { return };
    let r = probe(&ep, T).await;
    assert!(r.passed(), "{r:?}");
    assert!(r.tcp.detail.contains("succeeded"), "{r:?}");
    let login = r.login.unwrap();
    assert!(login.detail.contains("Logged in"), "{login:?}");
    assert!(!login.detail.contains(ep.password.expose()));
}

#[tokio::test]
async fn probe_with_existing_database() {
    let Some(admin) = admin("probe_with_existing_database") else { return };
    let db = unique("db");
    admin_sql(&admin, &[format!("CREATE DATABASE `{db}`")]).await;
    let r = probe(&Endpoint { database_name: db.clone(), ..admin.clone() }, T).await;
    admin_sql(&admin, &[format!("DROP DATABASE `{db}`")]).await;
    assert!(r.passed(), "{r:?}");
}

#[tokio::test]
async fn wrong_password_is_access_denied() {
    let Some(admin) = admin("wrong_password_is_access_denied") else { return };
    let ep = Endpoint { password: Secret::new("definitely-wrong-pw"), ..admin };
    let r = probe(&ep, T).await;
    assert!(r.tcp.passed);
    let login = r.login.unwrap();
    assert_eq!(login.failure, Some(FailureKind::AccessDenied), "{login:?}");
    assert!(login.detail.contains("Access denied"), "{login:?}");
    assert!(login.detail.contains("1045"), "{login:?}");
    assert!(!login.detail.contains("definitely-wrong-pw"));
    // The privilege check reports the login failure too.
    let o = check_privileges(&ep, EndpointRole::Source, &SYNC, T).await;
    assert_eq!(o.failure, Some(FailureKind::AccessDenied), "{o:?}");
}

#[tokio::test]
async fn closed_port_is_refused() {
    let Some(admin) = admin("closed_port_is_refused") else { return };
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let r = probe(&Endpoint { port: port.to_string(), ..admin }, T).await;
    assert_eq!(r.tcp.failure, Some(FailureKind::ConnectionRefused), "{r:?}");
    assert!(r.login.is_none());
    assert_eq!(r.failure().and_then(|f| f.failure), Some(FailureKind::ConnectionRefused));
}

#[tokio::test]
async fn unknown_database() {
    let Some(admin) = admin("unknown_database") else { return };
    let ep = Endpoint { database_name: unique("nodb"), ..admin };
    let r = probe(&ep, T).await;
    let login = r.login.unwrap();
    assert_eq!(login.failure, Some(FailureKind::UnknownDatabase), "{login:?}");
    assert!(login.detail.contains(&ep.database_name), "{login:?}");
}

#[tokio::test]
async fn silent_server_times_out_at_login() {
    let Some(admin) = admin("silent_server_times_out_at_login") else { return };
    // Accepts connections and never sends the MySQL greeting.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    let ep = Endpoint { port: port.to_string(), ..admin };
    let started = std::time::Instant::now();
    let r = probe(&ep, Duration::from_millis(800)).await;
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(r.tcp.passed, "{r:?}");
    let login = r.login.unwrap();
    assert_eq!(login.failure, Some(FailureKind::Timeout), "{login:?}");
    let o = check_privileges(&ep, EndpointRole::Destination, &MIGRATE, Duration::from_millis(500)).await;
    assert_eq!(o.failure, Some(FailureKind::Timeout), "{o:?}");
    server.abort();
}

#[tokio::test]
async fn invalid_endpoint_does_not_panic() {
    let Some(admin) = admin("invalid_endpoint_does_not_panic") else { return };
    let r = probe(&Endpoint { ip: String::new(), ..admin.clone() }, T).await;
    assert_eq!(r.tcp.failure, Some(FailureKind::NotSupported));
    let r = probe(&Endpoint { port: "33x".into(), ..admin.clone() }, T).await;
    assert_eq!(r.tcp.failure, Some(FailureKind::Other));
    assert!(r.tcp.detail.contains("33x"));
    let o = check_privileges(&Endpoint { port: String::new(), ..admin }, EndpointRole::Source, &SYNC, T).await;
    assert_eq!(o.failure, Some(FailureKind::NotSupported));
}

#[tokio::test]
async fn select_only_user_misses_privileges() {
    let Some(admin) = admin("select_only_user_misses_privileges") else { return };
    let user = unique("sel");
    let ep = create_user(&admin, &user, "Sel-pw-123", &["SELECT ON *.*"]).await;
    let probe_report = probe(&ep, T).await;
    let src_sync = check_privileges(&ep, EndpointRole::Source, &SYNC, T).await;
    let src_migrate = check_privileges(&ep, EndpointRole::Source, &MIGRATE, T).await;
    let dst = check_privileges(&ep, EndpointRole::Destination, &SYNC, T).await;
    drop_user(&admin, &user).await;

    assert!(probe_report.passed(), "{probe_report:?}");
    assert_eq!(src_sync.failure, Some(FailureKind::MissingPrivilege), "{src_sync:?}");
    assert!(src_sync.detail.contains("lacks privileges: REPLICATION SLAVE"), "{}", src_sync.detail);
    assert!(src_sync.detail.contains("REPLICATION CLIENT"), "{}", src_sync.detail);
    assert!(src_sync.detail.contains(&format!("GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '{user}'@'%';")));
    assert!(src_migrate.passed, "{src_migrate:?}");
    assert_eq!(dst.failure, Some(FailureKind::MissingPrivilege), "{dst:?}");
    assert!(
        dst.detail.contains("lacks privileges: CREATE, ALTER, INDEX, DROP, INSERT, UPDATE, DELETE."),
        "{}",
        dst.detail
    );
    assert!(dst.detail.contains("GRANT CREATE, ALTER, INDEX, DROP, INSERT, UPDATE, DELETE ON *.*"), "{}", dst.detail);
}

#[tokio::test]
async fn replication_user_passes_as_source() {
    let Some(admin) = admin("replication_user_passes_as_source") else { return };
    let user = unique("repl");
    // MariaDB 10.5+ shows REPLICATION CLIENT back as BINLOG MONITOR.
    let ep = create_user(&admin, &user, "Repl-pw-123", &["SELECT, REPLICATION SLAVE, REPLICATION CLIENT ON *.*"]).await;
    let src = check_privileges(&ep, EndpointRole::Source, &SYNC, T).await;
    drop_user(&admin, &user).await;
    assert!(src.passed, "{src:?}");
}

#[tokio::test]
async fn database_level_grants_are_enough() {
    let Some(admin) = admin("database_level_grants_are_enough") else { return };
    let user = unique("dbl");
    let db = unique("shop");
    admin_sql(&admin, &[format!("CREATE DATABASE `{db}`")]).await;
    let ep = create_user(&admin, &user, "Dbl-pw-123", &[&format!("ALL PRIVILEGES ON `{db}`.*")]).await;
    let ep = Endpoint { database_name: db.clone(), ..ep };
    let dst = check_privileges(&ep, EndpointRole::Destination, &SYNC, T).await;
    let src = check_privileges(&ep, EndpointRole::Source, &SYNC, T).await;
    drop_user(&admin, &user).await;
    admin_sql(&admin, &[format!("DROP DATABASE `{db}`")]).await;
    assert!(dst.passed, "{dst:?}");
    assert_eq!(src.failure, Some(FailureKind::MissingPrivilege), "{src:?}");
    assert!(!src.detail.contains("lacks privileges: SELECT"), "{}", src.detail);
}

#[tokio::test]
async fn fully_privileged_user_passes() {
    let Some(admin) = admin("fully_privileged_user_passes") else { return };
    let user = unique("all");
    let ep = create_user(&admin, &user, "All-pw-123", &["ALL PRIVILEGES ON *.*"]).await;
    let src = check_privileges(&ep, EndpointRole::Source, &SYNC, T).await;
    let dst = check_privileges(&ep, EndpointRole::Destination, &SYNC, T).await;
    drop_user(&admin, &user).await;
    assert!(src.passed, "{src:?}");
    assert!(dst.passed, "{dst:?}");
    // And the administrator.
    assert!(check_privileges(&admin, EndpointRole::Source, &SYNC, T).await.passed);
}

#[tokio::test]
async fn user_without_database_right_is_denied() {
    let Some(admin) = admin("user_without_database_right_is_denied") else { return };
    let user = unique("nodbr");
    let db = unique("priv");
    admin_sql(&admin, &[format!("CREATE DATABASE `{db}`")]).await;
    let ep = create_user(&admin, &user, "Nodb-pw-123", &[]).await;
    let r = probe(&Endpoint { database_name: db.clone(), ..ep }, T).await;
    drop_user(&admin, &user).await;
    admin_sql(&admin, &[format!("DROP DATABASE `{db}`")]).await;
    let login = r.login.unwrap();
    assert_eq!(login.failure, Some(FailureKind::AccessDenied), "{login:?}");
    assert!(login.detail.contains("1044"), "{login:?}");
}
