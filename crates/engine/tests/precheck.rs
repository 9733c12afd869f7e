//! The engine's precheck against a real MariaDB (OPENDTS_TEST_MYSQL_PORT; skipped when unset).

use opendts_core::endpoint::Endpoint;
use opendts_core::job::{Job, MigrationMode};
use opendts_core::secret::Secret;
use opendts_core::status::{JobStatus, JobType};
use opendts_engine::{Engine, JobControl};
use opendts_store::Store;
use std::sync::Arc;
use std::time::Duration;

fn mysql_port() -> Option<String> {
    let port = std::env::var("OPENDTS_TEST_MYSQL_PORT").ok();
    if port.is_none() {
        eprintln!("skipped: OPENDTS_TEST_MYSQL_PORT is not set");
    }
    port
}

fn endpoint(port: &str, password: &str) -> Endpoint {
    Endpoint {
        instance_type: "OTHER".into(),
        engine_name: "MySQL".into(),
        ip: "127.0.0.1".into(),
        port: port.into(),
        user_name: "root".into(),
        password: Secret::new(password),
        ..Endpoint::default()
    }
}

fn store(tag: &str) -> Arc<Store> {
    let dir = std::env::temp_dir().join(format!("opendts-engine-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Arc::new(Store::open(&dir).unwrap())
}

fn prechecking_job(id: &str, port: &str, dest_password: &str) -> Job {
    let mut job = Job::new(id.into(), "ak".into(), "cn-hangzhou".into(), JobType::Sync, 1);
    let root = std::env::var("OPENDTS_TEST_MYSQL_PASSWORD").unwrap_or_else(|_| "opendts-root".into());
    job.source = Some(endpoint(port, &root));
    job.destination = Some(endpoint(port, if dest_password.is_empty() { &root } else { dest_password }));
    job.migration_mode = MigrationMode { structure_initialization: true, data_initialization: true, data_synchronization: true };
    job.status = JobStatus::Prechecking;
    job.epoch = 1;
    job
}

async fn wait_until(store: &Store, id: &str, done: impl Fn(&Job) -> bool) -> Job {
    for _ in 0..200 {
        let job = store.get_job(None, id).unwrap().unwrap();
        if done(&job) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} did not reach the expected state");
}

async fn sql(port: &str, statements: &str) {
    use mysql_async::prelude::Queryable;
    let password = std::env::var("OPENDTS_TEST_MYSQL_PASSWORD").unwrap_or_else(|_| "opendts-root".into());
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port.parse().unwrap())
        .user(Some("root"))
        .pass(Some(password))
        .prefer_socket(false);
    let mut conn = mysql_async::Conn::new(opts).await.unwrap();
    conn.query_drop(statements).await.unwrap();
    conn.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_passing_precheck_runs_schema_and_full_load_to_the_end() {
    let Some(port) = mysql_port() else { return };
    let db = format!("eng_{}", std::process::id());
    sql(&port, &format!(
        "DROP DATABASE IF EXISTS {db}; DROP DATABASE IF EXISTS {db}_copy; CREATE DATABASE {db};
         CREATE TABLE {db}.t (id INT PRIMARY KEY, v VARCHAR(10)); INSERT INTO {db}.t SELECT seq, 'v' FROM {db}.seq_1_to_250;"
    ))
    .await;
    let store = store("pass");
    let mut job = prechecking_job("pass1", &port, "");
    job.job_type = JobType::Migration;
    job.migration_mode.data_synchronization = false;
    job.db_list = Some(format!(r#"{{"{db}":{{"name":"{db}_copy","all":true}}}}"#));
    store.insert_job(&job).unwrap();
    let engine = Engine::new(store.clone());
    engine.job_changed("pass1");
    let job = wait_until(&store, "pass1", |j| j.status == JobStatus::Finished || j.status.is_failed()).await;
    assert_eq!(job.status, JobStatus::Finished, "{}", job.error_message);
    let states: Vec<(&str, &str)> = job.precheck.items.iter().map(|i| (i.item.as_str(), i.state.as_str())).collect();
    assert_eq!(
        states,
        [
            ("CHECK_CONN_SRC", "Success"),
            ("CHECK_AUTH_SRC", "Success"),
            ("CHECK_CONN_DEST", "Success"),
            ("CHECK_AUTH_DEST", "Success"),
            ("CHECK_ENGINE", "Success"),
            ("CHECK_SRC", "Success"),
            ("CHECK_SAME_OBJ", "Success"),
            ("CHECK_SQL_MODE", "Success"),
            ("CHECK_TOPOLOGY", "Success"),
        ]
    );
    // One database and one table.
    assert_eq!((job.structure.status.as_str(), job.structure.progress.as_str()), ("Finished", "2/2"));
    assert_eq!((job.full_data.status.as_str(), job.full_data.progress.as_str()), ("Finished", "250"));
    sql(&port, &format!("DROP DATABASE {db}; DROP DATABASE {db}_copy;")).await;
}

async fn count(port: &str, query: &str) -> i64 {
    use mysql_async::prelude::Queryable;
    let password = std::env::var("OPENDTS_TEST_MYSQL_PASSWORD").unwrap_or_else(|_| "opendts-root".into());
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port.parse().unwrap())
        .user(Some("root"))
        .pass(Some(password))
        .prefer_socket(false);
    let mut conn = mysql_async::Conn::new(opts).await.unwrap();
    let n: Option<i64> = conn.query_first(query).await.unwrap();
    conn.disconnect().await.unwrap();
    n.unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread")]
async fn incremental_sync_follows_the_source_after_the_full_load() {
    let Some(port) = mysql_port() else { return };
    let db = format!("inc_{}", std::process::id());
    sql(&port, &format!(
        "DROP DATABASE IF EXISTS {db}; DROP DATABASE IF EXISTS {db}_copy; CREATE DATABASE {db};
         CREATE TABLE {db}.t (id INT PRIMARY KEY, v INT); INSERT INTO {db}.t SELECT seq, seq FROM {db}.seq_1_to_100;"
    ))
    .await;
    let store = store("inc");
    let mut job = prechecking_job("inc1", &port, "");
    job.db_list = Some(format!(r#"{{"{db}":{{"name":"{db}_copy","all":true}}}}"#));
    store.insert_job(&job).unwrap();
    let engine = Engine::new(store.clone());
    engine.job_changed("inc1");
    wait_until(&store, "inc1", |j| j.status == JobStatus::Synchronizing || j.status.is_failed()).await;
    sql(&port, &format!("INSERT INTO {db}.t VALUES (1000, 1); UPDATE {db}.t SET v = -v WHERE id <= 10; DELETE FROM {db}.t WHERE id > 90 AND id <= 100;")).await;
    let expected = count(&port, &format!("SELECT SUM(v) * 1000 + COUNT(*) FROM {db}.t")).await;
    let mut got = 0;
    // Generous: the shared test server may be busy with other tests' binlog traffic.
    for _ in 0..600 {
        got = count(&port, &format!("SELECT SUM(v) * 1000 + COUNT(*) FROM {db}_copy.t")).await;
        if got == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let state = store.get_job(None, "inc1").unwrap().unwrap();
    assert_eq!(got, expected, "the destination did not catch up: {:?} {}", state.status, state.error_message);
    let job = store.get_job(None, "inc1").unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Synchronizing, "{}", job.error_message);
    engine.shutdown();
    sql(&port, &format!("DROP DATABASE {db}; DROP DATABASE {db}_copy;")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_destination_password_fails_the_precheck_with_advice() {
    let Some(port) = mysql_port() else { return };
    let store = store("wrongpw");
    store.insert_job(&prechecking_job("bad1", &port, "definitely-wrong")).unwrap();
    let engine = Engine::new(store.clone());
    engine.job_changed("bad1");
    let job = wait_until(&store, "bad1", |j| j.status == JobStatus::PrecheckFailed).await;
    let conn_dest = job.precheck.items.iter().find(|i| i.item == "CHECK_CONN_DEST").unwrap();
    assert_eq!(conn_dest.state, "Failed");
    assert!(conn_dest.failed_reason.contains("Access denied"), "{}", conn_dest.failed_reason);
    assert!(conn_dest.repair_method.contains("password"), "{}", conn_dest.repair_method);
    assert!(!conn_dest.failed_reason.contains("definitely-wrong"));
    assert_eq!(job.precheck.items.iter().find(|i| i.item == "CHECK_CONN_SRC").unwrap().state, "Success");
}

#[tokio::test(flavor = "multi_thread")]
async fn work_for_a_superseded_epoch_never_overwrites_the_user() {
    let Some(port) = mysql_port() else { return };
    // A destination that accepts connections but never answers keeps the
    // worker busy in CHECK_CONN_DEST until the probe times out.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port().to_string();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = silent.accept().await {
            held.push(sock);
        }
    });
    let store = store("epoch");
    let mut job = prechecking_job("ep1", &port, "");
    job.destination = Some(endpoint(&silent_port, "x"));
    store.insert_job(&job).unwrap();
    let engine = Engine::new(store.clone());
    engine.job_changed("ep1");
    wait_until(&store, "ep1", |j| j.precheck.items.iter().any(|i| i.item == "CHECK_CONN_DEST" && i.state == "Checking")).await;
    // The user suspends meanwhile (the store alone: the worker is not told).
    store
        .modify_job(None, "ep1", |j| -> Result<(), opendts_store::StoreError> {
            j.status = JobStatus::Suspending;
            j.epoch += 1;
            Ok(())
        })
        .unwrap();
    // Let the probe time out and the worker try to write its result.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let job = store.get_job(None, "ep1").unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Suspending);
    let dest = job.precheck.items.iter().find(|i| i.item == "CHECK_CONN_DEST").unwrap();
    assert_eq!(dest.state, "Checking", "a stale worker wrote its result");
    hold.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn active_jobs_resume_after_a_restart() {
    let Some(port) = mysql_port() else { return };
    let store = store("resume");
    store.insert_job(&prechecking_job("res1", &port, "")).unwrap();
    let engine = Engine::new(store.clone());
    assert_eq!(engine.resume_all().unwrap(), 1);
    // No DbList: the precheck runs again and says what is missing.
    let job = wait_until(&store, "res1", |j| j.status == JobStatus::PrecheckFailed).await;
    let engine_item = job.precheck.items.iter().find(|i| i.item == "CHECK_ENGINE").unwrap();
    assert!(engine_item.failed_reason.contains("DbList"), "{}", engine_item.failed_reason);
}
