//! How a job looks in DescribeDtsJobs (`DtsJobList` items) and DescribeDtsJobDetail.

use super::Fields;
use opendts_core::endpoint::Endpoint;
use opendts_core::job::{Job, PhaseState};
use opendts_core::status::{JobStatus, JobType};
use opendts_core::timefmt::iso_seconds;
use opendts_store::TagRow;
use serde_json::{json, Map, Value};

/// `Reserved` keys every job reports, overridden by the user's `Reserve`.
fn reserved(job: &Job) -> String {
    let mut out = Map::new();
    out.insert("maxRetryTime".into(), json!(43200));
    out.insert("srcSSL".into(), json!("0"));
    out.insert("destSSL".into(), json!("0"));
    out.insert("dbListCaseChangeMode".into(), json!("default"));
    if let Some(Ok(Value::Object(user))) = job.reserve.as_deref().map(serde_json::from_str::<Value>) {
        out.extend(user);
    }
    Value::Object(out).to_string()
}

fn endpoint(ep: Option<&Endpoint>, source: bool) -> Value {
    let Some(ep) = ep else { return json!({}) };
    let mut m = Map::new();
    m.insert("DatabaseName".into(), json!(ep.database_name));
    m.insert("EngineName".into(), json!(ep.engine_name));
    m.insert("InstanceID".into(), json!(ep.instance_id));
    m.insert("InstanceType".into(), json!(ep.instance_type));
    m.insert("Ip".into(), json!(ep.ip));
    if !ep.oracle_sid.is_empty() {
        m.insert("OracleSID".into(), json!(ep.oracle_sid));
    }
    m.insert("Port".into(), json!(ep.port));
    m.insert("Region".into(), json!(ep.region));
    m.insert("SslSolutionEnum".into(), json!("DISABLE"));
    m.insert("UserName".into(), json!(ep.user_name));
    if source {
        m.insert("AliyunUid".into(), json!(ep.owner_id));
        m.insert("RoleName".into(), json!(ep.role));
    }
    Value::Object(m)
}

fn phase(p: &PhaseState, with_upgrade: bool) -> Value {
    let mut m = Map::new();
    m.insert("Status".into(), json!(p.status));
    m.insert("Percent".into(), json!(p.percent.to_string()));
    m.insert("Progress".into(), json!(p.progress));
    m.insert("ErrorMessage".into(), json!(p.error_message));
    if with_upgrade {
        m.insert("NeedUpgrade".into(), json!(false));
    }
    Value::Object(m)
}

fn precheck(job: &Job) -> Value {
    let p = &job.precheck;
    if p.status.is_empty() {
        return json!({});
    }
    let detail: Vec<Value> = p
        .items
        .iter()
        .map(|it| {
            let mut m = Map::new();
            m.insert("CheckItem".into(), json!(it.item));
            m.insert("CheckItemDescription".into(), json!(it.names()));
            m.insert("CheckResult".into(), json!(check_result(&it.state)));
            if it.state == "Failed" {
                m.insert("FailedReason".into(), json!(it.failed_reason));
                m.insert("RepairMethod".into(), json!(it.repair_method));
            }
            Value::Object(m)
        })
        .collect();
    json!({"Status": p.status, "Percent": p.percent.to_string(), "ErrorMessage": p.error_message, "Detail": detail})
}

/// Item results are `Success` or `Failed`; an item not run yet has no result.
fn check_result(state: &str) -> &str {
    match state {
        "Success" | "Failed" => state,
        _ => "",
    }
}

/// `Delay`: milliseconds for migration tasks, seconds for the others (seed 004).
fn delay(job: &Job) -> i64 {
    match job.job_type {
        JobType::Migration => job.delay_ms,
        _ => job.delay_ms / 1000,
    }
}

fn is_running(status: JobStatus) -> bool {
    matches!(status, JobStatus::Migrating | JobStatus::Initializing | JobStatus::Synchronizing | JobStatus::Normal)
}

fn retry_state(job: &Job) -> Value {
    let r = &job.retry;
    let spent = if r.retrying { ((opendts_core::timefmt::now_millis() - r.since_ms) / 1000).max(0) } else { 0 };
    json!({
        "Retrying": r.retrying,
        "RetryCount": r.count,
        "RetryTime": spent,
        "MaxRetryTime": r.max_seconds,
        "ErrMessage": r.error,
        "RetryTarget": if r.error.contains("destination") { "destDB" } else { "srcDB" },
        "JobId": job.job_id,
    })
}

/// The fields both views share.
fn common(job: &Job) -> Fields {
    let mut m = Map::new();
    m.insert("DtsJobId".into(), json!(job.job_id));
    m.insert("DtsInstanceID".into(), json!(job.instance_id));
    m.insert("DtsJobName".into(), json!(job.name));
    m.insert("DtsJobClass".into(), json!(job.instance_class));
    m.insert("DtsJobDirection".into(), json!("Forward"));
    m.insert("Status".into(), json!(job.status.as_str()));
    m.insert("PayType".into(), json!(job.pay_type));
    m.insert("CreateTime".into(), json!(iso_seconds(job.create_time_ms)));
    if let Some(finish) = job.finish_time_ms {
        m.insert("FinishTime".into(), json!(iso_seconds(finish)));
    }
    m.insert("Delay".into(), json!(delay(job)));
    m.insert("Checkpoint".into(), json!(job.checkpoint.map(|c| c.to_string()).unwrap_or_default()));
    m.insert("ErrorMessage".into(), json!(job.error_message));
    m.insert("DbObject".into(), json!(job.db_list.clone().unwrap_or_default()));
    m.insert("Reserved".into(), json!(reserved(job)));
    m.insert(
        "MigrationMode".into(),
        json!({
            "DataInitialization": job.migration_mode.data_initialization,
            "DataSynchronization": job.migration_mode.data_synchronization,
            "StructureInitialization": job.migration_mode.structure_initialization,
        }),
    );
    m.insert("PrecheckStatus".into(), precheck(job));
    m.insert("StructureInitializationStatus".into(), phase(&job.structure, false));
    m.insert("DataInitializationStatus".into(), phase(&job.full_data, false));
    m.insert("DataSynchronizationStatus".into(), phase(&job.incremental, true));
    let performance = if is_running(job.status) {
        json!({"Rps": format!("{:.0}", job.performance.rps), "Flow": format!("{:.2}", job.performance.flow_mbps)})
    } else {
        json!({})
    };
    m.insert("Performance".into(), performance);
    m.insert("RetryState".into(), retry_state(job));
    m.insert("DestinationEndpoint".into(), endpoint(job.destination.as_ref(), false));
    m.insert("SourceEndpoint".into(), endpoint(job.source.as_ref(), true));
    if job.job_type == JobType::Subscribe {
        m.insert("SubscriptionDataType".into(), json!({"Ddl": job.subscription_ddl, "Dml": job.subscription_dml}));
    }
    m
}

/// An item of `DtsJobList`.
pub fn list_item(job: &Job, tags: &[TagRow], with_db_list: bool) -> Value {
    let mut m = common(job);
    m.insert("JobType".into(), json!(job.job_type.as_item()));
    m.insert("OriginType".into(), json!("DTS task"));
    if !with_db_list {
        m.shift_remove("DbObject");
    }
    let tag_list: Vec<Value> = tags.iter().map(|t| json!({"TagKey": t.key, "TagValue": t.value})).collect();
    m.insert("TagList".into(), Value::Array(tag_list));
    Value::Object(m)
}

/// The body of DescribeDtsJobDetail.
pub fn detail(job: &Job) -> Fields {
    let mut m = common(job);
    m.insert("GroupId".into(), json!(job.job_id));
    m.insert("SynchronizationDirection".into(), json!("Forward"));
    m
}
