//! The precheck: the CHECK_* items of seed §10 that apply to the job, run in
//! order, each result written to the store as soon as it is known so that
//! DescribePreCheckStatus shows progress.

use crate::connectors::{check_privileges, probe_endpoint};
use crate::engine::Engine;
use crate::worker::{update, Superseded};
use opendts_core::endpoint::Endpoint;
use opendts_core::job::{Job, PrecheckItem, PrecheckState};
use opendts_core::probe::{EndpointRole, FailureKind, Outcome};
use opendts_core::status::{JobStatus, JobType};
use opendts_core::timefmt::now_millis;

/// A precheck item this version runs: its name, order and whether SkipPreCheck may skip it.
struct ItemDef {
    name: &'static str,
    order: u32,
    can_skip: bool,
    role: EndpointRole,
    kind: CheckKind,
}

#[derive(Clone, Copy)]
enum CheckKind {
    Connect,
    Authorize,
}

const ITEMS: &[ItemDef] = &[
    ItemDef { name: "CHECK_CONN_SRC", order: 10, can_skip: false, role: EndpointRole::Source, kind: CheckKind::Connect },
    ItemDef { name: "CHECK_AUTH_SRC", order: 15, can_skip: false, role: EndpointRole::Source, kind: CheckKind::Authorize },
    ItemDef { name: "CHECK_CONN_DEST", order: 20, can_skip: false, role: EndpointRole::Destination, kind: CheckKind::Connect },
    ItemDef { name: "CHECK_AUTH_DEST", order: 25, can_skip: false, role: EndpointRole::Destination, kind: CheckKind::Authorize },
];

/// Names of the items that SkipPreCheck may skip (seed §6.4.7), whether or not this version runs them.
pub const SKIPPABLE_PRECHECK_ITEMS: &[&str] = &["CHECK_SAME_OBJ", "CHECK_SAME_USER", "CHECK_SRC", "CHECK_TOPOLOGY", "CHECK_SERVER_ID"];

fn applies(def: &ItemDef, job: &Job) -> bool {
    // A change-tracking task has no destination database.
    !(job.job_type == JobType::Subscribe && def.role == EndpointRole::Destination)
}

/// The items of a job's precheck, all `NotStarted`.
pub fn planned_items(job: &Job) -> Vec<PrecheckItem> {
    ITEMS
        .iter()
        .filter(|d| applies(d, job))
        .map(|d| PrecheckItem {
            item: d.name.into(),
            order_num: d.order,
            can_skip: d.can_skip,
            skip: d.can_skip && job.precheck.skipped.iter().any(|s| s == d.name),
            state: "NotStarted".into(),
            failed_reason: String::new(),
            repair_method: String::new(),
            boot_time_ms: None,
            finish_time_ms: None,
        })
        .collect()
}

fn endpoint_of(job: &Job, role: EndpointRole) -> Option<&Endpoint> {
    match role {
        EndpointRole::Source => job.source.as_ref(),
        EndpointRole::Destination => job.destination.as_ref(),
    }
}

async fn check(def: &ItemDef, job: &Job, connect_failed: bool) -> Outcome {
    let Some(ep) = endpoint_of(job, def.role) else {
        return Outcome::fail(FailureKind::NotSupported, "The endpoint is not configured.");
    };
    match def.kind {
        CheckKind::Connect => {
            let report = probe_endpoint(ep).await;
            match report.failure() {
                None => Outcome::pass("connected and logged in"),
                Some(f) => f.clone(),
            }
        }
        CheckKind::Authorize if connect_failed => Outcome::fail(
            FailureKind::Other,
            "Not checked: the connection to this database failed (see the CHECK_CONN item).",
        ),
        CheckKind::Authorize => check_privileges(ep, def.role, &job.migration_mode).await,
    }
}

/// Runs the precheck. Returns whether it passed.
pub(crate) async fn run(engine: &Engine, job: &Job) -> Result<bool, Superseded> {
    let start = now_millis();
    let items = planned_items(job);
    let total = items.len() as u32;
    update(engine, &job.job_id, job.epoch, |j| {
        let skipped = std::mem::take(&mut j.precheck.skipped);
        j.precheck = PrecheckState {
            status: "Checking".into(),
            items: items.clone(),
            skipped,
            boot_time_ms: Some(start),
            ..PrecheckState::default()
        };
        j.error_message.clear();
    })?;

    let mut failed_items = Vec::new();
    let mut connect_failed = [false, false];
    for (index, def) in ITEMS.iter().filter(|d| applies(d, job)).enumerate() {
        let side = (def.role == EndpointRole::Destination) as usize;
        let began = now_millis();
        update(engine, &job.job_id, job.epoch, |j| {
            if let Some(it) = j.precheck.items.get_mut(index) {
                it.state = "Checking".into();
                it.boot_time_ms = Some(began);
            }
        })?;
        let outcome = check(def, job, connect_failed[side]).await;
        if !outcome.passed {
            if matches!(def.kind, CheckKind::Connect) {
                connect_failed[side] = true;
            }
            failed_items.push(def.name);
        }
        let done = now_millis();
        update(engine, &job.job_id, job.epoch, |j| {
            if let Some(it) = j.precheck.items.get_mut(index) {
                it.state = if outcome.passed { "Success" } else { "Failed" }.into();
                it.finish_time_ms = Some(done);
                if !outcome.passed {
                    it.failed_reason = outcome.detail.clone();
                    it.repair_method = outcome.failure.unwrap_or(FailureKind::Other).advice().into();
                }
            }
            j.precheck.percent = (index as u32 + 1) * 100 / total.max(1);
        })?;
    }

    let passed = failed_items.is_empty();
    let finished = now_millis();
    update(engine, &job.job_id, job.epoch, |j| {
        j.precheck.finish_time_ms = Some(finished);
        j.precheck.percent = 100;
        if passed {
            j.precheck.status = "Finished".into();
            j.status = JobStatus::PreCheckPass;
        } else {
            j.precheck.status = "Failed".into();
            j.precheck.error_message = format!("Precheck failed: {}.", failed_items.join(", "));
            j.error_message = j.precheck.error_message.clone();
            j.status = JobStatus::PrecheckFailed;
        }
    })?;
    tracing::info!(job_id = %job.job_id, passed, "precheck finished");
    Ok(passed)
}
