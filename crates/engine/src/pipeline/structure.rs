//! Schema migration: the selected objects as DDL in the destination's dialect
//! ([`SchemaPlan`]), which this phase runs. Between databases of one engine
//! family the source recreates its own definitions; across families the
//! source describes its tables ([`TableDef`]) and the destination's connector
//! translates them through the type map (docs/type-mapping.md).
//!
//! [`TableDef`]: opendts_core::tabledef::TableDef Tables and
//! keys come before the full load; secondary indexes, foreign keys, views
//! and sequence values after it (faster to build, and sequences must reflect
//! the copied data). Every statement is safe to run again, so a resumed job
//! simply runs the plan again; the after-data part runs once per job.

use super::sink::Sink;
use super::source::{SchemaPlan, Source};
use super::{DdlStep, PipelineError};
use crate::connectors;
use crate::engine::Engine;
use crate::worker::update;
use opendts_core::job::Job;

/// Key of the "after-data objects are created" mark in the job's working state.
const AFTER_DATA_KEY: &str = "schema_after_data";

pub(super) async fn before_data(engine: &Engine, job: &Job, source: &mut dyn Source, sink: &mut dyn Sink) -> Result<(), PipelineError> {
    if job.structure.status == "Finished" {
        return Ok(());
    }
    let plan = schema_plan(source, sink).await?;
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
    // Tables created on the source after the schema was copied are created
    // by the change stream, with their keys and indexes: not here.
    let dests: Vec<_> = source.tables().iter().map(|t| t.dest.clone()).collect();
    let existing = sink.existing_tables(&dests).await?;
    let keep = source.tables().iter().filter(|t| existing.contains(&t.dest)).map(|t| t.source.clone()).collect();
    source.retain_tables(&keep);
    let plan = schema_plan(source, sink).await?;
    for step in &plan.after_data {
        execute(sink, step).await?;
    }
    store.put_job_state(&job.job_id, AFTER_DATA_KEY, "done").map_err(|e| PipelineError::Fatal(e.to_string()))?;
    tracing::info!(job_id = %job.job_id, statements = plan.after_data.len(), "schema migration finished (after data)");
    Ok(())
}

async fn schema_plan(source: &mut dyn Source, sink: &mut dyn Sink) -> Result<SchemaPlan, PipelineError> {
    if source.family() == sink.family() {
        return Ok(source.native_schema_plan().await?);
    }
    let defs = source.table_defs().await?;
    let plan = connectors::translate_schema(sink.family(), &defs).map_err(|problems| {
        let list: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        PipelineError::Fatal(format!("DTS-10012: columns that cannot be copied faithfully: {}", list.join("; ")))
    })?;
    let step = |s: opendts_core::tabledef::DdlStep| DdlStep { what: s.what, sql: s.sql, default_schema: None };
    Ok(SchemaPlan {
        before_data: plan.before_data.into_iter().map(step).collect(),
        after_data: plan.after_data.into_iter().map(step).collect(),
    })
}

async fn execute(sink: &mut dyn Sink, step: &DdlStep) -> Result<(), PipelineError> {
    tracing::debug!(what = %step.what, "schema migration step");
    sink.execute_ddl(step).await?;
    Ok(())
}
