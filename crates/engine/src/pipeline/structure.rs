//! Schema migration: the source describes its selected objects as DDL in the
//! destination's dialect ([`SchemaPlan`]); this phase runs it. Tables and
//! keys come before the full load; secondary indexes, foreign keys, views
//! and sequence values after it (faster to build, and sequences must reflect
//! the copied data). Every statement is safe to run again, so a resumed job
//! simply runs the plan again; the after-data part runs once per job.

use super::sink::Sink;
use super::source::Source;
use super::{DdlStep, PipelineError};
use crate::engine::Engine;
use crate::worker::update;
use opendts_core::job::Job;

/// Key of the "after-data objects are created" mark in the job's working state.
const AFTER_DATA_KEY: &str = "schema_after_data";

pub(super) async fn before_data(engine: &Engine, job: &Job, source: &mut dyn Source, sink: &mut dyn Sink) -> Result<(), PipelineError> {
    if job.structure.status == "Finished" {
        return Ok(());
    }
    let plan = source.schema_plan(sink.family()).await?;
    let total = plan.before_data.len();
    update(engine, &job.job_id, job.epoch, |j| {
        j.structure.status = "Migrating".into();
        j.structure.progress = format!("0/{total}");
        j.structure.percent = 0;
    })?;
    for (done, step) in plan.before_data.iter().enumerate() {
        execute(sink, step).await?;
        update(engine, &job.job_id, job.epoch, |j| {
            j.structure.progress = format!("{}/{total}", done + 1);
            j.structure.percent = ((done + 1) * 100 / total.max(1)) as u32;
        })?;
    }
    update(engine, &job.job_id, job.epoch, |j| {
        j.structure.status = "Finished".into();
        j.structure.percent = 100;
        j.structure.progress = format!("{total}/{total}");
    })?;
    tracing::info!(job_id = %job.job_id, statements = total, "schema migration finished (before data)");
    Ok(())
}

pub(super) async fn after_data(engine: &Engine, job: &Job, source: &mut dyn Source, sink: &mut dyn Sink) -> Result<(), PipelineError> {
    let store = engine.store();
    if store.job_state(&job.job_id, AFTER_DATA_KEY).map_err(|e| PipelineError::Fatal(e.to_string()))?.is_some() {
        return Ok(());
    }
    let plan = source.schema_plan(sink.family()).await?;
    for step in &plan.after_data {
        execute(sink, step).await?;
    }
    store.put_job_state(&job.job_id, AFTER_DATA_KEY, "done").map_err(|e| PipelineError::Fatal(e.to_string()))?;
    tracing::info!(job_id = %job.job_id, statements = plan.after_data.len(), "schema migration finished (after data)");
    Ok(())
}

async fn execute(sink: &mut dyn Sink, step: &DdlStep) -> Result<(), PipelineError> {
    tracing::debug!(what = %step.what, "schema migration step");
    sink.execute_ddl(step).await?;
    Ok(())
}
