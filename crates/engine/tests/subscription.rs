//! A change-tracking (subscription) task through the engine against a real
//! MariaDB (OPENDTS_TEST_MYSQL_PORT; skipped when unset): the changes of the
//! selected table land in the task's change log as canal_json records, in
//! order; the task stopped and started again continues without losing or
//! repeating a change; DDL is captured; other tables are not.

use opendts_changelog::{ChangeLog, LogOptions};
use opendts_core::endpoint::Endpoint;
use opendts_core::job::Job;
use opendts_core::secret::Secret;
use opendts_core::status::{JobStatus, JobType};
use opendts_engine::{Engine, JobControl};
use opendts_store::Store;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

fn password() -> String {
    std::env::var("OPENDTS_TEST_MYSQL_PASSWORD").unwrap_or_else(|_| "opendts-root".into())
}

async fn sql(port: &str, statements: &str) {
    use mysql_async::prelude::Queryable;
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port.parse().unwrap())
        .user(Some("root"))
        .pass(Some(password()))
        .prefer_socket(false);
    let mut conn = mysql_async::Conn::new(opts).await.unwrap();
    conn.query_drop(statements).await.unwrap();
    conn.disconnect().await.unwrap();
}

async fn wait_for(store: &Store, id: &str, done: impl Fn(&Job) -> bool) -> Job {
    for _ in 0..400 {
        let job = store.get_job(None, id).unwrap().unwrap();
        if done(&job) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} did not reach the expected state: {:?}", store.get_job(None, id).unwrap().unwrap().status);
}

/// The records of a stopped task's log: (type, table, data, old).
fn records(dir: &std::path::Path) -> Vec<Value> {
    let log = ChangeLog::open(dir, LogOptions::default()).unwrap();
    let mut out = Vec::new();
    let mut at = log.begin_offset();
    while at < log.end_offset() {
        let batch = log.read(at, 1 << 20).unwrap();
        at = batch.last().unwrap().offset + 1;
        out.extend(batch.into_iter().map(|r| serde_json::from_slice::<Value>(&r.value).unwrap()));
    }
    out
}

fn summary(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            if r["isDdl"] == true {
                format!("DDL {}", r["sql"].as_str().unwrap_or(""))
            } else {
                format!("{} {} {} old={}", r["type"].as_str().unwrap(), r["table"].as_str().unwrap(), r["data"][0], r["old"])
            }
        })
        .collect()
}

/// What SuspendDtsJob / StartDtsJob do to the stored job.
fn set_status(store: &Store, id: &str, status: JobStatus) {
    store
        .modify_job(None, id, |j| {
            j.status = status;
            j.epoch += 1;
            Ok::<_, opendts_store::StoreError>(())
        })
        .unwrap();
}

async fn wait_records(dir: &std::path::Path, engine: &Engine, store: &Store, id: &str, n: usize) -> Vec<Value> {
    // Stop the worker (as a suspend would) to read the log without a writer, then go on.
    for _ in 0..100 {
        set_status(store, id, JobStatus::Suspending);
        engine.job_changed(id);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let got = records(dir);
        if got.len() >= n {
            return got;
        }
        set_status(store, id, JobStatus::Normal);
        engine.job_changed(id);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    records(dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_land_in_the_change_log_once_and_in_order() {
    let Ok(port) = std::env::var("OPENDTS_TEST_MYSQL_PORT") else {
        eprintln!("skipped: OPENDTS_TEST_MYSQL_PORT is not set");
        return;
    };
    let db = format!("sub_{}", std::process::id());
    sql(&port, &format!(
        "DROP DATABASE IF EXISTS {db}; CREATE DATABASE {db}; CREATE TABLE {db}.t (id INT PRIMARY KEY, v VARCHAR(20)); \
         CREATE TABLE {db}.other (id INT PRIMARY KEY); INSERT INTO {db}.t VALUES (0, 'before');"
    ))
    .await;
    let dir = std::env::temp_dir().join(format!("opendts-engine-sub-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Arc::new(Store::open(&dir).unwrap());
    let mut job = Job::new("sub1".into(), "ak".into(), "cn-hangzhou".into(), JobType::Subscribe, 1);
    job.source = Some(Endpoint {
        instance_type: "OTHER".into(),
        engine_name: "MySQL".into(),
        ip: "127.0.0.1".into(),
        port: port.clone(),
        user_name: "root".into(),
        password: Secret::new(password()),
        ..Endpoint::default()
    });
    job.db_list = Some(format!(r#"{{"{db}":{{"name":"{db}","Table":{{"t":{{"name":"t","all":true}}}}}}}}"#));
    job.reserve = Some(r#"{"kafkaRecordFormat":"canal_json"}"#.into());
    job.status = JobStatus::Prechecking;
    job.epoch = 1;
    store.insert_job(&job).unwrap();
    let engine = Engine::new(store.clone());
    engine.job_changed("sub1");
    let job = wait_for(&store, "sub1", |j| j.status == JobStatus::Normal || j.status.is_failed()).await;
    assert_eq!(job.status, JobStatus::Normal, "{}", job.error_message);

    sql(&port, &format!(
        "INSERT INTO {db}.t VALUES (1, 'one'); UPDATE {db}.t SET v = 'uno' WHERE id = 1; INSERT INTO {db}.other VALUES (5); \
         DELETE FROM {db}.t WHERE id = 0;"
    ))
    .await;
    let log_dir = dir.join("changelog").join("sub1");
    let first = wait_records(&log_dir, &engine, &store, "sub1", 3).await;
    // The task is running again; more changes, including DDL, while it restarts.
    sql(&port, &format!("INSERT INTO {db}.t VALUES (2, 'two'); ALTER TABLE {db}.t ADD COLUMN w INT;"))
        .await;
    let all = wait_records(&log_dir, &engine, &store, "sub1", 5).await;
    assert_eq!(&all[..first.len()], &first[..], "records are never rewritten");
    assert_eq!(
        summary(&all),
        [
            r#"INSERT t {"id":"1","v":"one"} old=null"#.to_string(),
            r#"UPDATE t {"id":"1","v":"uno"} old=[{"v":"one"}]"#.to_string(),
            r#"DELETE t {"id":"0","v":"before"} old=null"#.to_string(),
            r#"INSERT t {"id":"2","v":"two"} old=null"#.to_string(),
            format!("DDL ALTER TABLE {db}.t ADD COLUMN w INT"),
        ]
    );
    assert_eq!(all[0]["database"], db.as_str());
    assert_eq!(all[0]["pkNames"], serde_json::json!(["id"]));

    let job = store.get_job(None, "sub1").unwrap().unwrap();
    store.delete_job(None, "sub1").unwrap();
    engine.job_changed("sub1");
    engine.release_capture(job, true);
    for _ in 0..50 {
        if !log_dir.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!log_dir.exists(), "the change log outlived DeleteDtsJob");
    sql(&port, &format!("DROP DATABASE {db}")).await;
    let _ = std::fs::remove_dir_all(&dir);
}
