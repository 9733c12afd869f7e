//! The precheck: the CHECK_* items of seed §10 that apply to the job, run in
//! order, each result written to the store as soon as it is known so that
//! DescribePreCheckStatus shows progress.

use crate::connectors::{check_privileges, open_source, probe_endpoint, translate_schema, PROBE_TIMEOUT};
use crate::engine::Engine;
use crate::worker::{update, Superseded};
use opendts_connector_mysql::precheck as mysql_precheck;
use opendts_connector_postgres::precheck as pg_precheck;
use opendts_core::dblist::{DbList, DbListContext};
use opendts_core::endpoint::{Endpoint, EngineFamily};
use opendts_core::reserve::{Reserve, TargetTableMode};
use opendts_core::job::{Job, PrecheckItem, PrecheckState};
use opendts_core::precheck::PrecheckInput;
use opendts_core::probe::{EndpointRole, FailureKind, Outcome};
use opendts_core::status::{JobStatus, JobType};
use opendts_core::timefmt::now_millis;

/// A precheck item of a job: its name, order and whether SkipPreCheck may skip it.
struct ItemDef {
    name: &'static str,
    order: u32,
    can_skip: bool,
    role: EndpointRole,
    kind: CheckKind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum CheckKind {
    Connect,
    Authorize,
    /// An item of the source's data path (binlog settings, engines, versions...).
    DataPath,
    /// Every selected column has a faithful type on the other engine.
    ColumnTypes,
}

/// The item of a cross-engine schema migration (an OpenDTS addition in the
/// seeds' naming style): every selected column maps to a destination type
/// that holds its values unchanged (docs/type-mapping.md).
const CHECK_COLUMN_TYPE: &str = "CHECK_COLUMN_TYPE";

const CONNECTION_ITEMS: &[ItemDef] = &[
    ItemDef { name: "CHECK_CONN_SRC", order: 10, can_skip: false, role: EndpointRole::Source, kind: CheckKind::Connect },
    ItemDef { name: "CHECK_AUTH_SRC", order: 15, can_skip: false, role: EndpointRole::Source, kind: CheckKind::Authorize },
    ItemDef { name: "CHECK_CONN_DEST", order: 20, can_skip: false, role: EndpointRole::Destination, kind: CheckKind::Connect },
    ItemDef { name: "CHECK_AUTH_DEST", order: 25, can_skip: false, role: EndpointRole::Destination, kind: CheckKind::Authorize },
];

/// The items that apply to a job, in order.
fn plan(job: &Job) -> Vec<ItemDef> {
    // A change-tracking task has no destination database.
    let subscribe = job.job_type == JobType::Subscribe;
    let mut items: Vec<ItemDef> = CONNECTION_ITEMS
        .iter()
        .filter(|d| !(subscribe && d.role == EndpointRole::Destination))
        .map(|d| ItemDef { ..*d })
        .collect();
    let dest_family = job.destination.as_ref().map(|e| e.family()).filter(|_| !subscribe);
    let data_path = match job.source.as_ref().map(|e| e.family()) {
        Some(EngineFamily::MySql) => {
            mysql_precheck::data_path_items(&job.migration_mode, dest_family == Some(EngineFamily::MySql))
        }
        Some(EngineFamily::PostgreSql) => {
            pg_precheck::data_path_items(&job.migration_mode, dest_family == Some(EngineFamily::PostgreSql))
        }
        _ => Vec::new(),
    };
    for spec in data_path {
        items.push(ItemDef {
            name: spec.name,
            order: spec.order,
            can_skip: spec.can_skip,
            role: EndpointRole::Source,
            kind: CheckKind::DataPath,
        });
    }
    let source_family = job.source.as_ref().map(|e| e.family());
    if job.migration_mode.structure_initialization && dest_family.is_some() && source_family != dest_family {
        items.push(ItemDef {
            name: CHECK_COLUMN_TYPE,
            order: 115,
            can_skip: false,
            role: EndpointRole::Source,
            kind: CheckKind::ColumnTypes,
        });
    }
    items.sort_by_key(|d| d.order);
    items
}

/// Names of the items that SkipPreCheck may skip (seed §6.4.7), whether or not this version runs them.
pub const SKIPPABLE_PRECHECK_ITEMS: &[&str] = &["CHECK_SAME_OBJ", "CHECK_SAME_USER", "CHECK_SRC", "CHECK_TOPOLOGY", "CHECK_SERVER_ID"];

/// The items of a job's precheck, all `NotStarted`.
fn planned_items(defs: &[ItemDef], job: &Job) -> Vec<PrecheckItem> {
    defs.iter()
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
        CheckKind::DataPath if connect_failed => Outcome::fail(
            FailureKind::Other,
            "Not checked: the connection to the source failed (see CHECK_CONN_SRC).",
        ),
        CheckKind::DataPath => data_path_check(def, job, ep).await,
        CheckKind::ColumnTypes if connect_failed => Outcome::fail(
            FailureKind::Other,
            "Not checked: the connection to the source failed (see CHECK_CONN_SRC).",
        ),
        CheckKind::ColumnTypes => column_types_check(job, ep).await,
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

async fn data_path_check(def: &ItemDef, job: &Job, source: &Endpoint) -> Outcome {
    let db_list = match job.db_list.as_deref().map(|t| DbList::parse(t, DbListContext::Migration)) {
        Some(Ok(list)) => list,
        Some(Err(e)) => return Outcome::fail(FailureKind::Other, format!("The DbList is not valid: {e}")),
        None => return Outcome::fail(FailureKind::Other, "The task has no DbList: configure the objects to copy."),
    };
    let target_table_mode = job
        .reserve
        .as_deref()
        .and_then(|r| Reserve::parse(r).ok())
        .and_then(|r| r.target_table_mode)
        .unwrap_or(TargetTableMode::Block);
    let input = PrecheckInput {
        source,
        destination: job.destination.as_ref(),
        mode: &job.migration_mode,
        db_list: &db_list,
        target_table_mode,
        timeout: PROBE_TIMEOUT,
    };
    match source.family() {
        EngineFamily::PostgreSql => pg_precheck::run_item(def.name, &input).await,
        _ => mysql_precheck::run_item(def.name, &input).await,
    }
}

/// Runs the precheck. Returns whether it passed.
/// Reads the selected tables and translates them for the destination's
/// engine; every column that would not keep its values is named.
async fn column_types_check(job: &Job, source: &Endpoint) -> Outcome {
    let Some(dest) = job.destination.as_ref() else {
        return Outcome::fail(FailureKind::NotSupported, "The destination is not configured.");
    };
    let db_list = match job.db_list.as_deref().map(|t| DbList::parse(t, DbListContext::Migration)) {
        Some(Ok(list)) => list,
        Some(Err(e)) => return Outcome::fail(FailureKind::Other, format!("The DbList is not valid: {e}")),
        None => return Outcome::fail(FailureKind::Other, "The task has no DbList: configure the objects to copy."),
    };
    let defs = match open_source(source, &db_list, &job.job_id).await {
        Ok(mut s) => s.table_defs().await,
        Err(e) => Err(e),
    };
    let defs = match defs {
        Ok(d) => d,
        Err(e) => return Outcome::fail(FailureKind::Other, format!("Cannot read the source tables: {e}")),
    };
    match translate_schema(dest.family(), &defs) {
        Ok(_) => Outcome::pass(format!("{} tables have a faithful definition on the destination", defs.len())),
        Err(problems) => {
            let list: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            Outcome::fail(
                FailureKind::NotSupported,
                format!(
                    "These columns cannot be copied without changing their values: {}. Leave them out of the DbList, \
                     or create the destination tables yourself and configure the task without \
                     StructureInitialization.",
                    list.join("; ")
                ),
            )
        }
    }
}

pub(crate) async fn run(engine: &Engine, job: &Job) -> Result<bool, Superseded> {
    let start = now_millis();
    let defs = plan(job);
    let items = planned_items(&defs, job);
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
    for (index, def) in defs.iter().enumerate() {
        let side = (def.role == EndpointRole::Destination) as usize;
        let began = now_millis();
        update(engine, &job.job_id, job.epoch, |j| {
            if let Some(it) = j.precheck.items.get_mut(index) {
                it.state = "Checking".into();
                it.boot_time_ms = Some(began);
            }
        })?;
        let outcome = check(def, job, connect_failed[side]).await;
        // A failed item the user chose to skip is only a warning.
        let skipped = def.can_skip && job.precheck.skipped.iter().any(|s| s == def.name);
        if !outcome.passed {
            if def.kind == CheckKind::Connect {
                connect_failed[side] = true;
            }
            if !skipped {
                failed_items.push(def.name);
            }
        }
        let done = now_millis();
        update(engine, &job.job_id, job.epoch, |j| {
            if let Some(it) = j.precheck.items.get_mut(index) {
                it.state = match (outcome.passed, skipped) {
                    (true, _) => "Success",
                    (false, true) => "Warning",
                    (false, false) => "Failed",
                }
                .into();
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
