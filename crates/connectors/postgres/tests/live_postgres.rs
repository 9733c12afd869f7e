//! Tests against a real PostgreSQL server. They run when OPENDTS_TEST_PG_PORT is
//! set (start one with `scripts/db/start-postgres.sh 54321`), and are skipped otherwise.
//! Env: OPENDTS_TEST_PG_PORT, OPENDTS_TEST_PG_PASSWORD (default `opendts-root`),
//! OPENDTS_TEST_PG_USER (default `postgres`, must be a superuser), OPENDTS_TEST_PG_HOST (default 127.0.0.1).

use opendts_connector_postgres::{check_privileges, driver_test_name, probe};
use opendts_core::endpoint::Endpoint;
use opendts_core::job::MigrationMode;
use opendts_core::probe::{EndpointRole, FailureKind};
use opendts_core::secret::Secret;
use std::time::Duration;

mod support;
use support::{admin, unique};

const T: Duration = Duration::from_secs(5);
const SYNC: MigrationMode =
    MigrationMode { structure_initialization: true, data_initialization: true, data_synchronization: true };
const MIGRATE: MigrationMode =
    MigrationMode { structure_initialization: true, data_initialization: true, data_synchronization: false };

/// Runs statements as the admin in database `db`.
async fn admin_sql(ep: &Endpoint, db: &str, stmts: &[String]) {
    let (client, conn) = tokio_postgres::Config::new()
        .host(ep.ip.clone())
        .port(ep.port_number().unwrap())
        .user(ep.user_name.clone())
        .password(ep.password.expose())
        .dbname(db)
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(conn);
    for s in stmts {
        client.batch_execute(s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    drop(client);
    let _ = task.await;
}

/// A fresh database with one table `public.items`, and a login role `user` with
/// `password` and the given extra statements (run in the new database; `{u}` and
/// `{db}` are replaced by the role and database names).
async fn setup(admin: &Endpoint, user: &str, db: &str, extra: &[&str]) -> Endpoint {
    admin_sql(admin, "postgres", &[format!("CREATE DATABASE {db}"), format!("CREATE ROLE {user} LOGIN PASSWORD 'Pg-pw-{user}'")])
        .await;
    let mut stmts = vec!["CREATE TABLE public.items (id int PRIMARY KEY, name text)".to_string()];
    stmts.extend(extra.iter().map(|s| s.replace("{u}", user).replace("{db}", db)));
    admin_sql(admin, db, &stmts).await;
    Endpoint {
        user_name: user.into(),
        password: Secret::new(format!("Pg-pw-{user}")),
        database_name: db.into(),
        ..admin.clone()
    }
}

async fn teardown(admin: &Endpoint, user: &str, db: &str) {
    admin_sql(
        admin,
        "postgres",
        &[format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"), format!("DROP ROLE IF EXISTS {user}")],
    )
    .await;
}

#[test]
fn driver_name() {
    assert_eq!(driver_test_name(), "PostgreSQL JDBC Connect");
}

#[tokio::test]
async fn probe_succeeds() {
    let Some(ep) = admin("probe_succeeds") else { return };
    let r = probe(&ep, T).await;
    assert!(r.passed(), "{r:?}");
    let login = r.login.unwrap();
    assert!(login.detail.contains("database \"postgres\""), "{login:?}");
    assert!(login.detail.contains("PostgreSQL 15") || login.detail.contains("PostgreSQL 1"), "{login:?}");
    assert!(!login.detail.contains(ep.password.expose()));
}

#[tokio::test]
async fn wrong_password_is_access_denied() {
    let Some(admin) = admin("wrong_password_is_access_denied") else { return };
    let ep = Endpoint { password: Secret::new("definitely-wrong-pw"), ..admin };
    let r = probe(&ep, T).await;
    assert!(r.tcp.passed);
    let login = r.login.unwrap();
    assert_eq!(login.failure, Some(FailureKind::AccessDenied), "{login:?}");
    assert!(login.detail.contains("28P01"), "{login:?}");
    assert!(login.detail.contains("password authentication failed"), "{login:?}");
    assert!(!login.detail.contains("definitely-wrong-pw"));
    let o = check_privileges(&ep, EndpointRole::Source, &SYNC, T).await;
    assert_eq!(o.failure, Some(FailureKind::AccessDenied), "{o:?}");
    // No password at all.
    let r = probe(&Endpoint { password: Secret::default(), ..ep }, T).await;
    assert_eq!(r.login.unwrap().failure, Some(FailureKind::AccessDenied));
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
}

#[tokio::test]
async fn unknown_database() {
    let Some(admin) = admin("unknown_database") else { return };
    let ep = Endpoint { database_name: unique("nodb"), ..admin };
    let r = probe(&ep, T).await;
    let login = r.login.unwrap();
    assert_eq!(login.failure, Some(FailureKind::UnknownDatabase), "{login:?}");
    assert!(login.detail.contains("3D000"), "{login:?}");
    assert!(login.detail.contains(&ep.database_name), "{login:?}");
}

#[tokio::test]
async fn silent_server_times_out_at_login() {
    let Some(admin) = admin("silent_server_times_out_at_login") else { return };
    // Accepts connections and never answers the startup message.
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
    assert_eq!(r.login.unwrap().failure, Some(FailureKind::Timeout));
    let o = check_privileges(&ep, EndpointRole::Destination, &MIGRATE, Duration::from_millis(500)).await;
    assert_eq!(o.failure, Some(FailureKind::Timeout), "{o:?}");
    server.abort();
}

#[tokio::test]
async fn invalid_endpoint_does_not_panic() {
    let Some(admin) = admin("invalid_endpoint_does_not_panic") else { return };
    let r = probe(&Endpoint { ip: " ".into(), ..admin.clone() }, T).await;
    assert_eq!(r.tcp.failure, Some(FailureKind::NotSupported));
    let r = probe(&Endpoint { port: "-5".into(), ..admin.clone() }, T).await;
    assert_eq!(r.tcp.failure, Some(FailureKind::Other));
    let r = probe(&Endpoint { ip: "opendts-no-such-host.invalid".into(), ..admin }, T).await;
    assert!(matches!(r.tcp.failure, Some(FailureKind::HostNotFound | FailureKind::Timeout)), "{r:?}");
}

#[tokio::test]
async fn select_only_role_misses_privileges() {
    let Some(admin) = admin("select_only_role_misses_privileges") else { return };
    let (user, db) = (unique("sel"), unique("db"));
    let ep = setup(&admin, &user, &db, &["GRANT SELECT ON public.items TO {u}"]).await;
    let probe_report = probe(&ep, T).await;
    let src_sync = check_privileges(&ep, EndpointRole::Source, &SYNC, T).await;
    let src_migrate = check_privileges(&ep, EndpointRole::Source, &MIGRATE, T).await;
    let dst = check_privileges(&ep, EndpointRole::Destination, &SYNC, T).await;
    teardown(&admin, &user, &db).await;

    assert!(probe_report.passed(), "{probe_report:?}");
    assert_eq!(src_sync.failure, Some(FailureKind::MissingPrivilege), "{src_sync:?}");
    assert!(src_sync.detail.contains("lacks privileges: REPLICATION attribute (or SUPERUSER)."), "{}", src_sync.detail);
    assert!(src_sync.detail.contains(&format!("ALTER ROLE \"{user}\" REPLICATION;")), "{}", src_sync.detail);
    assert!(src_migrate.passed, "{src_migrate:?}");
    assert_eq!(dst.failure, Some(FailureKind::MissingPrivilege), "{dst:?}");
    assert!(dst.detail.contains(&format!("lacks privileges: CREATE on database \"{db}\".")), "{}", dst.detail);
    assert!(dst.detail.contains(&format!("GRANT CREATE ON DATABASE \"{db}\" TO \"{user}\";")), "{}", dst.detail);
}

#[tokio::test]
async fn role_that_reads_nothing_misses_select() {
    let Some(admin) = admin("role_that_reads_nothing_misses_select") else { return };
    let (user, db) = (unique("nosel"), unique("db"));
    let ep = setup(&admin, &user, &db, &[]).await;
    let src = check_privileges(&ep, EndpointRole::Source, &MIGRATE, T).await;
    teardown(&admin, &user, &db).await;
    assert_eq!(src.failure, Some(FailureKind::MissingPrivilege), "{src:?}");
    assert!(src.detail.contains("none of the 1 tables"), "{}", src.detail);
    assert!(src.detail.contains("GRANT SELECT ON ALL TABLES IN SCHEMA \"public\""), "{}", src.detail);
}

#[tokio::test]
async fn role_without_connect_is_denied() {
    let Some(admin) = admin("role_without_connect_is_denied") else { return };
    let (user, db) = (unique("nocon"), unique("db"));
    let ep = setup(&admin, &user, &db, &["REVOKE CONNECT ON DATABASE {db} FROM PUBLIC"]).await;
    let r = probe(&ep, T).await;
    teardown(&admin, &user, &db).await;
    let login = r.login.unwrap();
    assert_eq!(login.failure, Some(FailureKind::AccessDenied), "{login:?}");
    assert!(login.detail.contains("42501"), "{login:?}");
}

#[tokio::test]
async fn fully_privileged_role_passes() {
    let Some(admin) = admin("fully_privileged_role_passes") else { return };
    let (user, db) = (unique("full"), unique("db"));
    let ep = setup(
        &admin,
        &user,
        &db,
        &["ALTER ROLE {u} REPLICATION", "GRANT CREATE ON DATABASE {db} TO {u}", "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {u}"],
    )
    .await;
    let src = check_privileges(&ep, EndpointRole::Source, &SYNC, T).await;
    let dst = check_privileges(&ep, EndpointRole::Destination, &SYNC, T).await;
    teardown(&admin, &user, &db).await;
    assert!(src.passed, "{src:?}");
    assert!(dst.passed, "{dst:?}");
    // And the superuser.
    let o = check_privileges(&admin, EndpointRole::Source, &SYNC, T).await;
    assert!(o.passed, "{o:?}");
    assert!(o.detail.contains("superuser"), "{o:?}");
}
