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

#[tokio::test(flavor = "multi_thread")]
async fn a_passing_precheck_ends_in_an_honest_failure_of_the_missing_data_path() {
    let Some(port) = mysql_port() else { return };
    let store = store("pass");
    store.insert_job(&prechecking_job("pass1", &port, "")).unwrap();
    let engine = Engine::new(store.clone());
    engine.job_changed("pass1");
    let job = wait_until(&store, "pass1", |j| j.status == JobStatus::Failed).await;
    let states: Vec<(&str, &str)> = job.precheck.items.iter().map(|i| (i.item.as_str(), i.state.as_str())).collect();
    assert_eq!(
        states,
        [("CHECK_CONN_SRC", "Success"), ("CHECK_AUTH_SRC", "Success"), ("CHECK_CONN_DEST", "Success"), ("CHECK_AUTH_DEST", "Success")]
    );
    assert_eq!(job.precheck.status, "Finished");
    assert!(job.error_message.contains("MySQL -> MySQL"), "{}", job.error_message);
    assert!(job.error_message.contains("not supported"), "{}", job.error_message);
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
    wait_until(&store, "res1", |j| j.status == JobStatus::Failed).await;
}
