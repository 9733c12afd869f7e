//! CreateDtsInstance: buys an instance; its task starts out `NotConfigured`.

use super::{fields, Ctx, Fields};
use crate::error::ApiError;
use crate::params::Params;
use opendts_core::ids;
use opendts_core::job::Job;
use opendts_core::status::JobType;
use opendts_core::timefmt::now_millis;
use serde_json::Value;

const MIGRATION_CLASSES: &[&str] = &["xxlarge", "xlarge", "large", "medium", "small"];
const SYNC_CLASSES: &[&str] = &["large", "medium", "small", "micro"];

fn random_byte() -> u8 {
    let mut b = [0u8; 1];
    // Without randomness there is no safe ID; the zero byte keeps the
    // function total and the store's UNIQUE constraint catches a collision.
    let _ = getrandom::fill(&mut b);
    b[0]
}

pub fn create_dts_instance(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    let job_type = p
        .opt_enum("Type", &["MIGRATION", "SYNC", "SUBSCRIBE"])?
        .and_then(|t| t.parse::<JobType>().ok())
        .unwrap_or(JobType::Migration);
    let pay_type = p.opt_enum("PayType", &["PrePaid", "PostPaid"])?.unwrap_or("PostPaid");
    if pay_type == "PrePaid" {
        p.opt_enum("Period", &["Year", "Month"])?.ok_or_else(|| ApiError::missing("Period"))?;
        let used = p.opt_i64("UsedTime")?.ok_or_else(|| ApiError::missing("UsedTime"))?;
        if used < 1 {
            return Err(ApiError::invalid("UsedTime", "Must be a positive number."));
        }
    }
    let classes = if job_type == JobType::Migration { MIGRATION_CLASSES } else { SYNC_CLASSES };
    let class = p.opt_enum("InstanceClass", classes)?.unwrap_or(if job_type == JobType::Migration { "large" } else { "medium" });
    let architecture = p.opt_enum("SyncArchitecture", &["oneway", "bidirectional"])?.unwrap_or("oneway");
    if architecture == "bidirectional" {
        return Err(ApiError::invalid("SyncArchitecture", "Two-way synchronization is not supported by OpenDTS yet; use oneway."));
    }
    if let Some(q) = p.opt_i64("Quantity")? {
        if q != 1 {
            return Err(ApiError::invalid("Quantity", "Only 1 is supported."));
        }
    }
    if let Some(cu) = p.opt_i64("ComputeUnit")? {
        if cu < 2 {
            return Err(ApiError::invalid("ComputeUnit", "Must be an integer of at least 2."));
        }
    }
    p.opt_bool("AutoPay")?;
    let auto_start = p.bool_or("AutoStart", false)?;

    let job_id = ids::new_job_id(&mut random_byte);
    let mut job = Job::new(job_id, ctx.owner.clone(), ctx.region.clone(), job_type, now_millis());
    job.instance_class = class.into();
    job.pay_type = pay_type.into();
    job.sync_architecture = architecture.into();
    job.source_engine_hint = p.opt_string("SourceEndpointEngineName");
    job.destination_engine_hint = p.opt_string("DestinationEndpointEngineName");
    job.source_region_hint = p.opt_string("SourceRegion");
    job.destination_region_hint = p.opt_string("DestinationRegion");
    job.auto_start = auto_start;
    ctx.state.store.insert_job(&job)?;
    tracing::info!(job_id = %job.job_id, job_type = job_type.as_param(), "instance created");
    Ok(fields([
        ("InstanceId", Value::String(job.instance_id.clone())),
        ("JobId", Value::String(job.job_id.clone())),
        ("Success", Value::String("true".into())),
    ]))
}
