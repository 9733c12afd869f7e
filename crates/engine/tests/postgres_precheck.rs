//! The precheck of a PostgreSQL job against a real server (OPENDTS_TEST_PG_PORT; skipped when unset):
//! the PostgreSQL data-path items run, and the missing data path then fails honestly.

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

async fn sql(port: &str, statements: &str) {
    let config = format!("host=127.0.0.1 port={port} user=postgres password={} dbname=postgres", password());
    let (client, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls).await.unwrap();
    let task = tokio::spawn(connection);
    client.batch_execute(statements).await.unwrap();
    drop(client);
    let _ = task.await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_jobs_run_the_postgres_precheck_items() {
    let Ok(port) = std::env::var("OPENDTS_TEST_PG_PORT") else {
        eprintln!("skipped: OPENDTS_TEST_PG_PORT is not set");
        return;
    };
    let schema = format!("engpg_{}", std::process::id());
    sql(&port, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; CREATE TABLE {schema}.t (id int PRIMARY KEY, v text);")).await;
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
    let mut job = Job::new("pg1".into(), "ak".into(), "cn-hangzhou".into(), JobType::Sync, 1);
    job.source = Some(ep.clone());
    job.destination = Some(ep);
    job.migration_mode = MigrationMode { structure_initialization: true, data_initialization: true, data_synchronization: true };
    job.db_list = Some(format!(r#"{{"{schema}":{{"name":"{schema}_copy","all":true}}}}"#));
    job.status = JobStatus::Prechecking;
    job.epoch = 1;
    store.insert_job(&job).unwrap();
    let engine = Engine::new(store.clone());
    engine.job_changed("pg1");
    let mut job = store.get_job(None, "pg1").unwrap().unwrap();
    for _ in 0..200 {
        if job.status.is_failed() || job.status == JobStatus::Finished {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        job = store.get_job(None, "pg1").unwrap().unwrap();
    }
    let items: Vec<(&str, &str)> = job.precheck.items.iter().map(|i| (i.item.as_str(), i.state.as_str())).collect();
    for name in ["CHECK_CONN_SRC", "CHECK_AUTH_SRC", "CHECK_PG_WAL_LEVEL", "CHECK_PG_REPLICATION_SLOTS", "CHECK_SRC", "CHECK_SAME_OBJ"] {
        assert!(items.contains(&(name, "Success")), "{name} missing or failed: {items:?}");
    }
    assert_eq!(job.status, JobStatus::Failed, "{items:?} {}", job.error_message);
    assert!(job.error_message.contains("PostgreSQL -> PostgreSQL"), "{}", job.error_message);
    sql(&port, &format!("DROP SCHEMA {schema} CASCADE;")).await;
    let _ = std::fs::remove_dir_all(&dir);
}
