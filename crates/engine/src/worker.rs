//! The work of one job: precheck, then its data path.

use crate::engine::Engine;
use crate::{pipeline, precheck};
use opendts_core::job::Job;
use opendts_core::status::JobStatus;
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
            Ok(true) => pipeline::run(engine, &job).await,
            Ok(false) => Ok(()),
            Err(e) => Err(e),
        },
        _ => pipeline::run(engine, &job).await,
    };
    match result {
        Ok(()) | Err(Superseded::Stale) => {}
        Err(Superseded::Store(StoreError::NotFound)) => {}
        Err(Superseded::Store(e)) => tracing::error!(job_id = %id, error = %e, "job worker cannot write its state"),
    }
}

