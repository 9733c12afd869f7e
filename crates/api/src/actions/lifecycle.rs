//! Start, suspend, stop, reset and delete: one job or a comma-separated batch.

use super::{Ctx, Fields};
use crate::error::ApiError;
use crate::params::Params;
use opendts_core::job::Job;
use opendts_core::status::{transition, JobStatus, Lifecycle};
use opendts_core::timefmt::now_millis;

fn one_id(p: &Params) -> Result<String, ApiError> {
    forward_only(p)?;
    Ok(p.first(&["DtsJobId", "DtsInstanceId", "DtsInstanceID"]).ok_or_else(|| ApiError::missing("DtsJobId"))?.to_string())
}

fn many_ids(p: &Params) -> Result<Vec<String>, ApiError> {
    p.required("DtsJobIds")?;
    let ids = p.opt_list("DtsJobIds");
    if ids.is_empty() {
        return Err(ApiError::invalid("DtsJobIds", "Give one or more task IDs separated by commas."));
    }
    Ok(ids)
}

fn forward_only(p: &Params) -> Result<(), ApiError> {
    if p.opt_enum("SynchronizationDirection", &["Forward", "Reverse"])? == Some("Reverse") {
        return Err(ApiError::invalid("SynchronizationDirection", "This task has no reverse link: two-way synchronization is not supported by OpenDTS yet."));
    }
    Ok(())
}

/// What the action does to a job besides changing its status.
fn apply(job: &mut Job, action: Lifecycle) -> Result<(), ApiError> {
    let next = transition(job.job_type, job.status, action, job.suspended_from)?;
    match action {
        Lifecycle::Suspend => job.suspended_from = Some(job.status),
        Lifecycle::Start => {
            if job.status != JobStatus::Suspending {
                job.clear_results();
            }
            job.suspended_from = None;
        }
        Lifecycle::Stop => {
            job.finish_time_ms = Some(now_millis());
            job.suspended_from = None;
        }
        Lifecycle::Reset => job.reset(),
        Lifecycle::Configure | Lifecycle::Delete => {}
    }
    job.status = next;
    job.epoch += 1;
    Ok(())
}

/// Applies `action` to every job, after checking that it is allowed for all
/// of them: a batch with one bad ID changes nothing.
fn run(ctx: &Ctx<'_>, ids: &[String], action: Lifecycle) -> Result<Fields, ApiError> {
    let mut jobs = Vec::with_capacity(ids.len());
    for id in ids {
        let job = ctx.job(id)?;
        if action != Lifecycle::Delete {
            transition(job.job_type, job.status, action, job.suspended_from)
                .map_err(|e| ApiError::from(e).with_dynamic(id))?;
        }
        jobs.push(job);
    }
    for job in &jobs {
        if action == Lifecycle::Delete {
            ctx.state.store.delete_job(Some(&ctx.owner), &job.job_id)?;
            tracing::info!(job_id = %job.job_id, "job deleted");
        } else {
            ctx.state.store.modify_job(Some(&ctx.owner), &job.job_id, |j| apply(j, action))?;
            if action == Lifecycle::Reset {
                ctx.state.store.clear_job_state(&job.job_id)?;
                // The change log goes (see release_capture below): offsets into it too.
                ctx.state.store.reset_consumption(&job.job_id)?;
            }
            tracing::info!(job_id = %job.job_id, action = action.action_name(), "job changed");
        }
        ctx.notify(&job.job_id);
        // A stopped, reset or deleted task never reads its change log again.
        if matches!(action, Lifecycle::Delete | Lifecycle::Stop | Lifecycle::Reset) {
            ctx.state.engine.release_capture(job.clone(), action != Lifecycle::Stop);
        }
    }
    Ok(Fields::new())
}

pub fn start_one(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    run(ctx, &[one_id(p)?], Lifecycle::Start)
}
pub fn start_many(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    run(ctx, &many_ids(p)?, Lifecycle::Start)
}
pub fn suspend_one(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    run(ctx, &[one_id(p)?], Lifecycle::Suspend)
}
pub fn suspend_many(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    run(ctx, &many_ids(p)?, Lifecycle::Suspend)
}
pub fn stop_one(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    run(ctx, &[one_id(p)?], Lifecycle::Stop)
}
pub fn stop_many(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    run(ctx, &many_ids(p)?, Lifecycle::Stop)
}
pub fn reset_one(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    run(ctx, &[one_id(p)?], Lifecycle::Reset)
}
pub fn delete_one(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    run(ctx, &[one_id(p)?], Lifecycle::Delete)
}
pub fn delete_many(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    run(ctx, &many_ids(p)?, Lifecycle::Delete)
}
