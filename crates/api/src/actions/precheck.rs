//! DescribePreCheckStatus, SkipPreCheck and ShieldPrecheck.
//!
//! The precheck of a task is its sub-task `01`; its ID is the task's own ID,
//! so `JobId` in SkipPreCheck may be either.

use super::{describe::paging, fields, Ctx, Fields};
use crate::error::ApiError;
use crate::params::Params;
use opendts_core::job::{Job, PhaseState, PrecheckItem};
use opendts_core::status::JobStatus;
use opendts_core::timefmt::iso_millis_offset;
use opendts_engine::SKIPPABLE_PRECHECK_ITEMS;
use serde_json::{json, Value};

fn progress_item(job: &Job, it: &PrecheckItem) -> Value {
    json!({
        "BootTime": it.boot_time_ms.map(iso_millis_offset).unwrap_or_default(),
        "FinishTime": it.finish_time_ms.map(iso_millis_offset).unwrap_or_default(),
        "CanSkip": it.can_skip,
        "Skip": it.skip,
        "IgnoreFlag": if it.skip { "Y" } else { "N" },
        "Item": it.item,
        "Names": it.names(),
        "JobId": job.job_id,
        "OrderNum": it.order_num,
        "State": it.state,
        "ErrMsg": it.failed_reason,
        "RepairMethod": it.repair_method,
        "Sub": "[]",
        "Total": 1,
        "Logs": [],
    })
}

/// `State` of a phase sub-task (02, 03, 04).
fn phase_state(job: &Job, phase: &PhaseState) -> String {
    if job.status == JobStatus::Suspending && phase.status == "Migrating" {
        "Suspending".into()
    } else {
        phase.status.clone()
    }
}

pub fn describe_pre_check_status(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    let job = ctx.job(p.required("DtsJobId")?)?;
    let code = p.opt_enum("JobCode", &["01", "02", "03", "04"])?.ok_or_else(|| ApiError::missing("JobCode"))?;
    p.opt_enum("StructType", &["before", "after"])?;
    let (size, number) = paging(p, "PageSize", "PageNo", 20)?;
    let name_filter = p.opt("Name").map(str::to_ascii_lowercase);

    let (job_name, state, items): (&str, String, Vec<&PrecheckItem>) = match code {
        "01" => {
            let state = match job.precheck.status.as_str() {
                "" => "NotStarted".to_string(),
                s if job.status == JobStatus::Suspending && s == "Checking" => "Suspending".into(),
                s => s.to_string(),
            };
            let items = job
                .precheck
                .items
                .iter()
                .filter(|it| name_filter.as_ref().is_none_or(|n| it.item.to_ascii_lowercase().contains(n)))
                .collect();
            ("dts.step.precheck", state, items)
        }
        "02" => ("dts.step.struct.load", phase_state(&job, &job.structure), Vec::new()),
        "03" => ("dts.step.full.load", phase_state(&job, &job.full_data), Vec::new()),
        _ => ("dts.step.increment", phase_state(&job, &job.incremental), Vec::new()),
    };
    let total = items.len();
    let error_items = items.iter().filter(|it| it.state == "Failed").count();
    let page: Vec<Value> = items
        .iter()
        .skip(((number - 1) * size) as usize)
        .take(size as usize)
        .map(|it| progress_item(&job, it))
        .collect();
    Ok(fields([
        ("Code", json!(code)),
        ("JobName", json!(job_name)),
        ("State", json!(state)),
        ("ErrorItem", json!(error_items)),
        ("Total", json!(total)),
        ("JobId", json!(job.job_id)),
        ("PageNumber", json!(number)),
        ("PageRecordCount", json!(page.len())),
        ("TotalRecordCount", json!(total)),
        ("JobProgress", Value::Array(page)),
    ]))
}

/// Checks that every item is skippable; returns them normalised.
fn skippable_items(param: &str, items: &[String]) -> Result<Vec<String>, ApiError> {
    if items.is_empty() {
        return Err(ApiError::missing(param));
    }
    items
        .iter()
        .map(|it| {
            let it = it.trim().to_ascii_uppercase();
            if SKIPPABLE_PRECHECK_ITEMS.contains(&it.as_str()) {
                Ok(it)
            } else {
                Err(ApiError::invalid(
                    param,
                    format!("{it} cannot be skipped; only {} can.", SKIPPABLE_PRECHECK_ITEMS.join(", ")),
                ))
            }
        })
        .collect()
}

/// Records the skip choice on the job and on the items of its current precheck.
fn set_skipped(job: &mut Job, items: &[String], skip: bool) {
    for item in items {
        job.precheck.skipped.retain(|s| s != item);
        if skip {
            job.precheck.skipped.push(item.clone());
        }
        for it in job.precheck.items.iter_mut().filter(|it| &it.item == item) {
            it.skip = skip;
        }
    }
}

pub fn skip_pre_check(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    let id = p.first(&["JobId", "DtsJobId"]).ok_or_else(|| ApiError::missing("JobId"))?;
    let items = skippable_items("SkipPreCheckItems", &p.opt_list("SkipPreCheckItems"))?;
    let names = p.opt_list("SkipPreCheckNames");
    if !names.is_empty() {
        let expected: Vec<String> = items.iter().map(|i| format!("{i}_DETAIL")).collect();
        let given: Vec<String> = names.iter().map(|n| n.trim().to_ascii_uppercase()).collect();
        if given != expected {
            return Err(ApiError::invalid("SkipPreCheckNames", format!("Must name the same items in the same order: {}.", expected.join(","))));
        }
    }
    let skip = p.opt_bool("Skip")?.ok_or_else(|| ApiError::missing("Skip"))?;
    let job = ctx.job(id)?;
    ctx.state.store.modify_job(Some(&ctx.owner), &job.job_id, |j| -> Result<(), ApiError> {
        set_skipped(j, &items, skip);
        Ok(())
    })?;
    Ok(fields([
        ("MigrationJobId", json!(job.job_id)),
        ("ScheduleJobId", json!(job.job_id)),
        ("SkipItems", json!(items.join(","))),
        ("SkipNames", json!(items.iter().map(|i| format!("{i}_DETAIL")).collect::<Vec<_>>().join(","))),
    ]))
}

pub fn shield_precheck(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    let id = p.required("DtsInstanceId")?;
    p.required("PrecheckItems")?;
    let items = skippable_items("PrecheckItems", &p.opt_list("PrecheckItems"))?;
    let job = ctx.job(id)?;
    ctx.state.store.modify_job(Some(&ctx.owner), &job.job_id, |j| -> Result<(), ApiError> {
        set_skipped(j, &items, true);
        Ok(())
    })?;
    Ok(Fields::new())
}
