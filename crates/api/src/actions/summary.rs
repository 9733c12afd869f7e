//! SummaryJobDetail and CountJobByCondition.

use super::{describe::job_filters, fields, Ctx, Fields};
use crate::error::ApiError;
use crate::params::Params;
use opendts_core::endpoint::Endpoint;
use opendts_core::job::PhaseState;
use opendts_store::JobQuery;
use serde_json::{json, Value};

/// `State` codes of SummaryJobDetail: 0 finished, 1 caught up, 2 init, 3 running, 4 warning, 5 failed.
fn state_code(phase: &PhaseState) -> i64 {
    match phase.status.as_str() {
        "Finished" => 0,
        "Catched" => 1,
        "Migrating" => 3,
        "Failed" => 5,
        _ => 2,
    }
}

/// Objects migrated by type. Only tables are migrated so far, and the
/// number of tables is known once schema migration has listed them.
pub fn summary_job_detail(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    let id = p.first(&["DtsJobId", "DtsInstanceId"]).ok_or_else(|| ApiError::missing("DtsJobId"))?;
    let code = p.opt_enum("JobCode", &["02", "03"])?.ok_or_else(|| ApiError::missing("JobCode"))?;
    let direction = p
        .opt_enum("SynchronizationDirection", &["Forward", "Reverse"])?
        .ok_or_else(|| ApiError::missing("SynchronizationDirection"))?;
    if direction == "Reverse" {
        return Err(ApiError::invalid("SynchronizationDirection", "This task has no reverse link."));
    }
    let job = ctx.job(id)?;
    let phase = if code == "02" { &job.structure } else { &job.incremental };
    let tables: i64 = phase.progress.split('/').next().and_then(|n| n.trim().parse().ok()).unwrap_or(0);
    let details = vec![json!({"Key": "Table", "State": state_code(phase), "TotalCount": tables})];
    Ok(fields([("JobId", json!(job.job_id)), ("ProgressSummaryDetails", Value::Array(details))]))
}

fn engine_matches(ep: Option<&Endpoint>, wanted: Option<&str>) -> bool {
    match wanted {
        None => true,
        Some(w) => ep.is_some_and(|e| e.engine_name.eq_ignore_ascii_case(w.trim())),
    }
}

pub fn count_job_by_condition(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    let mut q = JobQuery::default();
    job_filters(ctx, p, &mut q)?;
    let (src, dest) = (p.opt("SrcDbType"), p.opt("DestDbType"));
    let total = if src.is_none() && dest.is_none() {
        q.limit = 0;
        ctx.state.store.query_jobs(&q)?.total
    } else {
        q.limit = u64::MAX;
        let page = ctx.state.store.query_jobs(&q)?;
        page.jobs
            .iter()
            .filter(|j| engine_matches(j.source.as_ref(), src) && engine_matches(j.destination.as_ref(), dest))
            .count() as u64
    };
    Ok(fields([("TotalRecordCount", json!(total))]))
}
