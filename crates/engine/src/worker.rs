//! The work of one job: precheck, then its data path.

use crate::engine::Engine;
use crate::precheck;
use opendts_core::endpoint::EngineFamily;
use opendts_core::job::Job;
use opendts_core::status::{JobStatus, JobType};
use opendts_core::timefmt::now_millis;
use opendts_store::StoreError;

/// Why a write of the worker was not applied.
#[derive(Debug)]
pub(crate) enum Superseded {
    /// The user changed the job (suspend, stop, reset, delete) meanwhile.
    Stale,
    Store(StoreError),
}

impl From<StoreError> for Superseded {
    fn from(e: StoreError) -> Self {
        Superseded::Store(e)
    }
}

/// Applies `change` to the job if nobody changed it since `epoch`.
pub(crate) fn update(engine: &Engine, job_id: &str, epoch: u64, change: impl FnOnce(&mut Job)) -> Result<(), Superseded> {
    engine.store().modify_job(None, job_id, |job| {
        if job.epoch != epoch {
            return Err(Superseded::Stale);
        }
        change(job);
        Ok(())
    })
}

pub(crate) async fn run(engine: &Engine, job: Job) {
    let id = job.job_id.clone();
    let result = match job.status {
        JobStatus::Prechecking => match precheck::run(engine, &job).await {
            Ok(true) => start_data_path(engine, &job),
            Ok(false) => Ok(()),
            Err(e) => Err(e),
        },
        _ => start_data_path(engine, &job),
    };
    match result {
        Ok(()) | Err(Superseded::Stale) => {}
        Err(Superseded::Store(StoreError::NotFound)) => {}
        Err(Superseded::Store(e)) => tracing::error!(job_id = %id, error = %e, "job worker cannot write its state"),
    }
}

fn family_name(f: Option<EngineFamily>) -> &'static str {
    match f {
        Some(EngineFamily::MySql) => "MySQL",
        Some(EngineFamily::PostgreSql) => "PostgreSQL",
        Some(EngineFamily::Unsupported) | None => "unsupported engine",
    }
}

/// Moves the job into its running status and starts its data path. No data
/// path is built yet for any engine pair: the job fails honestly, saying so.
fn start_data_path(engine: &Engine, job: &Job) -> Result<(), Superseded> {
    let src = job.source.as_ref().map(|e| e.family());
    let dest = job.destination.as_ref().map(|e| e.family());
    let what = match job.job_type {
        JobType::Subscribe => format!("change tracking from {}", family_name(src)),
        _ => format!("{} -> {}", family_name(src), family_name(dest)),
    };
    let message = format!(
        "DTS-10001: the data path {what} is not supported by this OpenDTS version yet: \
         connectivity checks and the precheck work, but schema migration, full data load and \
         incremental sync are not implemented. Nothing was written to the destination."
    );
    tracing::warn!(job_id = %job.job_id, "{message}");
    update(engine, &job.job_id, job.epoch, |j| {
        j.status = JobStatus::failed_for(j.job_type);
        j.error_message = message.clone();
        j.finish_time_ms = Some(now_millis());
        let phase = if j.migration_mode.structure_initialization {
            &mut j.structure
        } else if j.migration_mode.data_initialization {
            &mut j.full_data
        } else {
            &mut j.incremental
        };
        phase.status = "Failed".into();
        phase.error_message = message.clone();
    })
}
