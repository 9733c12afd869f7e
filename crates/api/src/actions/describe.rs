//! DescribeDtsJobs (seed 001) and DescribeDtsJobDetail (seed 004).

use super::{view, Ctx, Fields};
use crate::error::ApiError;
use crate::params::Params;
use opendts_core::status::{JobStatus, JobType};
use opendts_core::timefmt::{iso_seconds, now_millis};
use opendts_store::{JobOrder, JobQuery};
use serde_json::Value;

const DEFAULT_PAGE_SIZE: u64 = 20;
const MAX_PAGE_SIZE: u64 = 100;

/// `PageSize` / `PageNumber`: seed 001 allows 10, 20, 30 (default 20) and the
/// developer guide 30, 50, 100; any size from 1 to 100 is accepted.
pub fn paging(p: &Params, size_key: &str, number_key: &str, default_size: u64) -> Result<(u64, u64), ApiError> {
    let size = match p.opt_i64(size_key)? {
        None => default_size,
        Some(s) if (1..=MAX_PAGE_SIZE as i64).contains(&s) => s as u64,
        Some(_) => return Err(ApiError::invalid(size_key, format!("Must be between 1 and {MAX_PAGE_SIZE}."))),
    };
    let number = match p.opt_i64(number_key)? {
        None => 1,
        Some(n) if n >= 1 => n as u64,
        Some(_) => return Err(ApiError::invalid(number_key, "Must be 1 or more.")),
    };
    Ok((size, number))
}

/// `[{"key":"k","value":"v"}]`.
fn tag_filter(raw: &str) -> Result<Vec<(String, String)>, ApiError> {
    let bad = |why: &str| ApiError::invalid("Tags", format!("{why} Expected a JSON array like [{{\"key\":\"env\",\"value\":\"prod\"}}]."));
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(raw) else { return Err(bad("Not a JSON array.")) };
    items
        .iter()
        .map(|item| {
            let key = item.get("key").and_then(Value::as_str).filter(|k| !k.is_empty());
            let value = item.get("value").and_then(Value::as_str).unwrap_or_default();
            key.map(|k| (k.to_string(), value.to_string())).ok_or_else(|| bad("Each tag needs a non-empty \"key\"."))
        })
        .collect()
}

/// Reads the filters DescribeDtsJobs and CountJobByCondition share.
pub fn job_filters(ctx: &Ctx<'_>, p: &Params, q: &mut JobQuery) -> Result<(), ApiError> {
    q.owner = ctx.owner.clone();
    q.region = Some(p.first(&["Region", "RegionId"]).unwrap_or(&ctx.region).to_string());
    let job_type = p.opt_enum("JobType", &["MIGRATION", "SYNC", "SUBSCRIBE"])?.unwrap_or("MIGRATION");
    q.job_type = job_type.parse::<JobType>().ok();
    if let Some(status) = p.opt("Status") {
        let filter = status
            .parse::<JobStatus>()
            .map_err(|_| ApiError::invalid("Status", "Not a task status; see the Status values of DescribeDtsJobs."))?;
        q.statuses = JobStatus::ALL.iter().filter(|s| s.matches_filter(filter)).map(|s| s.as_str().to_string()).collect();
    }
    let search_type = p.opt_enum("Type", &["instance", "name", "srcRds", "rds"])?;
    if let (Some(kind), Some(value)) = (search_type, p.opt("Params")) {
        let value = value.trim().to_string();
        match kind {
            "instance" => q.instance_ids.push(value),
            "name" => q.name_contains = Some(value),
            "srcRds" => q.src_instance = Some(value),
            _ => q.dest_instance = Some(value),
        }
    }
    if let Some(group) = p.opt("GroupId") {
        q.job_ids.push(group.trim().to_string());
    }
    Ok(())
}

pub fn describe_dts_jobs(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    let region = p.first(&["Region", "RegionId"]).unwrap_or(&ctx.region).to_string();
    if !ctx.state.describe_throttle.allow(&ctx.owner, &region, now_millis()) {
        return Err(ApiError::new(400, "Throttling.User", "Request was denied due to user flow control."));
    }
    let mut q = JobQuery::default();
    job_filters(ctx, p, &mut q)?;
    q.job_ids.extend(p.opt_list("DtsJobId"));
    q.instance_ids.extend(p.opt_list("DtsInstanceId"));
    if let Some(raw) = p.opt("Tags") {
        q.tags = tag_filter(raw)?;
    }
    if let (Some(_), Some(id)) = (p.opt("InstanceType"), p.opt("InstanceId")) {
        q.any_instance = Some(id.trim().to_string());
    }
    q.order = match p.opt_enum("OrderColumn", &["CreateTime", "FinishTime", "duLimit"])? {
        Some("FinishTime") => JobOrder::FinishTime,
        _ => JobOrder::CreateTime,
    };
    q.descending = p.opt_enum("OrderDirection", &["ASC", "DESC"])? == Some("DESC");
    let (size, number) = paging(p, "PageSize", "PageNumber", DEFAULT_PAGE_SIZE)?;
    q.limit = size;
    q.offset = (number - 1).saturating_mul(size);
    // OpenDTS has no dedicated clusters, resource groups or zero-ETL tasks:
    // a filter on any of them matches nothing.
    let matches_nothing = p.opt("DedicatedClusterId").is_some()
        || p.opt("ResourceGroupId").is_some()
        || p.bool_or("ZeroEtlJob", false)?
        || p.opt_enum("DtsBisLabel", &["normal", "online"])? == Some("online");
    let with_db_list = !p.bool_or("WithoutDbList", false)?;

    let page = if matches_nothing { opendts_store::JobPage { total: 0, jobs: Vec::new() } } else { ctx.state.store.query_jobs(&q)? };
    let mut items = Vec::with_capacity(page.jobs.len());
    for job in &page.jobs {
        let tags = ctx.state.store.tags_of_instance(&ctx.owner, &job.instance_id)?;
        items.push(view::list_item(job, &tags, with_db_list));
    }
    Ok(super::fields([
        ("PageNumber", Value::from(number)),
        ("PageRecordCount", Value::from(items.len())),
        ("TotalRecordCount", Value::from(page.total)),
        ("DtsJobList", Value::Array(items)),
    ]))
}

pub fn describe_dts_job_detail(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    let id = p.first(&["DtsJobId", "DtsInstanceID", "DtsInstanceId"]).ok_or_else(|| ApiError::missing("DtsJobId"))?;
    if p.opt_enum("SynchronizationDirection", &["Forward", "Reverse"])? == Some("Reverse") {
        return Err(ApiError::invalid("SynchronizationDirection", "This task has no reverse link."));
    }
    let job = ctx.job(id)?;
    let mut fields = view::detail(&job);
    if job.job_type == JobType::Subscribe {
        if let Some(host) = &ctx.state.subscription_host {
            fields.insert("SubscriptionHost".into(), serde_json::json!({"PrivateHost": host, "PublicHost": host, "VpcHost": host}));
        }
        // As DTS: the topic is shown once the subscription has a consumer group.
        if ctx.state.store.consumer_groups(None, &job.job_id, 0, 1).is_ok_and(|(total, _)| total > 0) {
            fields.insert("SubscribeTopic".into(), Value::from(opendts_engine::consumers::topic_name(&job)));
        }
    }
    if let Some((begin, end)) = ctx.state.engine.change_log_range(&job.job_id) {
        // The data range the subscription keeps.
        fields.insert("BeginTimestamp".into(), Value::from(iso_seconds(begin)));
        fields.insert("EndTimestamp".into(), Value::from(iso_seconds(end)));
    }
    Ok(fields)
}
