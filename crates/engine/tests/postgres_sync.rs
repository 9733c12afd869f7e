//! A PostgreSQL → PostgreSQL job through the engine against a real server
//! (OPENDTS_TEST_PG_PORT; skipped when unset): the PostgreSQL precheck items
//! run, then schema, full load and incremental sync; deleting the job drops
//! its replication slot.

use opendts_core::endpoint::Endpoint;
use opendts_core::job::{Job, MigrationMode};
use opendts_core::secret::Secret;
use opendts_core::status::{JobStatus, JobType};
use opendts_engine::{Engine, JobControl};
use opendts_store::Store;
use std::sync::Arc;
use std::time::Duration;

fn password() -> String {
    std::env::var("OPENDTS_TEST_PG_PASSWORD").unwrap_or_else(|_| "opendts-root".into())
}

async fn connect(port: &str) -> tokio_postgres::Client {
    let config = format!("host=127.0.0.1 port={port} user=postgres password={} dbname=postgres", password());
    let (client, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

async fn sql(port: &str, statements: &str) {
    connect(port).await.batch_execute(statements).await.unwrap();
}

/// `(id, v)` rows of a table, in key order, as text.
async fn rows(port: &str, table: &str) -> Vec<(i32, Option<String>)> {
    let c = connect(port).await;
    c.query(&format!("SELECT id, v FROM {table} ORDER BY id"), &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect()
}

async fn slot_exists(port: &str, job_id: &str) -> bool {
    let c = connect(port).await;
    let name = format!("opendts_{job_id}");
    c.query_opt("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", &[&name]).await.unwrap().is_some()
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_to_postgres_sync_and_slot_cleanup() {
    let Ok(port) = std::env::var("OPENDTS_TEST_PG_PORT") else {
        eprintln!("skipped: OPENDTS_TEST_PG_PORT is not set");
        return;
    };
    let schema = format!("engpg_{}", std::process::id());
    sql(&port, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; CREATE TABLE {schema}.t (id int PRIMARY KEY, v text); \
         INSERT INTO {schema}.t SELECT g, 'row ' || g FROM generate_series(1, 500) g;")).await;
    let dir = std::env::temp_dir().join(format!("opendts-engine-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Arc::new(Store::open(&dir).unwrap());
    let ep = Endpoint {
        instance_type: "OTHER".into(),
        engine_name: "PostgreSQL".into(),
        ip: "127.0.0.1".into(),
        port: port.clone(),
        database_name: "postgres".into(),
        user_name: "postgres".into(),
        password: Secret::new(password()),
        ..Endpoint::default()
    };
    let mut job = Job::new("pgeng1".into(), "ak".into(), "cn-hangzhou".into(), JobType::Sync, 1);
    job.source = Some(ep.clone());
    job.destination = Some(ep);
    job.migration_mode = MigrationMode { structure_initialization: true, data_initialization: true, data_synchronization: true };
    job.db_list = Some(format!(r#"{{"{schema}":{{"name":"{schema}_copy","all":true}}}}"#));
    job.status = JobStatus::Prechecking;
    job.epoch = 1;
    store.insert_job(&job).unwrap();
    let engine = Engine::new(store.clone());
    engine.job_changed("pgeng1");
    let job = wait_for(&store, "pgeng1", |j| j.status.is_failed() || j.incremental.status == "Catched").await;
    let items: Vec<(&str, &str)> = job.precheck.items.iter().map(|i| (i.item.as_str(), i.state.as_str())).collect();
    for name in ["CHECK_CONN_SRC", "CHECK_AUTH_SRC", "CHECK_PG_WAL_LEVEL", "CHECK_PG_REPLICATION_SLOTS", "CHECK_SRC", "CHECK_SAME_OBJ"] {
        assert!(items.contains(&(name, "Success")), "{name} missing or failed: {items:?}");
    }
    assert_eq!(job.status, JobStatus::Synchronizing, "{items:?} {}", job.error_message);
    assert_eq!(job.full_data.progress, "500");
    let copy = format!("{schema}_copy.t");
    assert_eq!(rows(&port, &copy).await, rows(&port, &format!("{schema}.t")).await);

    sql(&port, &format!("INSERT INTO {schema}.t VALUES (501, 'new'); UPDATE {schema}.t SET v = NULL WHERE id = 7; DELETE FROM {schema}.t WHERE id = 9;")).await;
    let source = rows(&port, &format!("{schema}.t")).await;
    let mut same = false;
    for _ in 0..100 {
        if rows(&port, &copy).await == source {
            same = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(same, "the changes did not arrive");
    assert!(slot_exists(&port, "pgeng1").await);

    let job = store.get_job(None, "pgeng1").unwrap().unwrap();
    store.delete_job(None, "pgeng1").unwrap();
    engine.job_changed("pgeng1");
    engine.release_capture(job, true);
    let mut gone = false;
    for _ in 0..100 {
        if !slot_exists(&port, "pgeng1").await {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the replication slot outlived DeleteDtsJob");
    sql(&port, &format!("DROP SCHEMA {schema} CASCADE; DROP SCHEMA {schema}_copy CASCADE;")).await;
    let _ = std::fs::remove_dir_all(&dir);
}

async fn wait_for(store: &Store, id: &str, done: impl Fn(&Job) -> bool) -> Job {
    let mut job = store.get_job(None, id).unwrap().unwrap();
    for _ in 0..600 {
        if done(&job) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        job = store.get_job(None, id).unwrap().unwrap();
    }
    job
}
