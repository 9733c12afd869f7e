//! The data path of a job: structure → full data → incremental, each phase
//! reading from a [`source::Source`] and writing through a [`sink::Sink`].
//! The phases are written once; `crate::connectors` implements the traits
//! for each engine family (MySQL family, PostgreSQL), in any pairing.

mod canal_json;
mod dts_avro;
mod capture;
pub(crate) use capture::log_dir as change_log_dir;
mod full_load;
mod incremental;
mod progress;
mod retry;
pub(crate) mod sink;
pub(crate) mod source;
mod structure;

use crate::connectors;
use crate::engine::Engine;
use crate::worker::{update, Superseded};
use opendts_core::dblist::{DbList, DbListContext};
use opendts_core::endpoint::{EngineFamily, Endpoint};
use opendts_core::job::Job;
use opendts_core::status::{JobStatus, JobType};
use opendts_core::timefmt::now_millis;

/// Tunables of the data path.
#[derive(Debug, Clone, Copy)]
pub struct PipelineConfig {
    /// Chunks copied at the same time during the full load.
    pub full_load_workers: usize,
    /// Rows per chunk (the unit of resume).
    pub chunk_rows: u64,
    /// Rows per write statement (bounds memory: workers × 3 batches).
    pub batch_rows: usize,
    /// How long a subscription's change log keeps records (whole segments
    /// older than this are dropped).
    pub change_log_retention_hours: u32,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig { full_load_workers: 4, chunk_rows: 20_000, batch_rows: 1_000, change_log_retention_hours: 24 }
    }
}

/// A database failure in a connector, reduced to what the pipeline decides on.
#[derive(Debug, Clone)]
pub(crate) struct DbError {
    /// A connection problem worth retrying within the retry window.
    pub retryable: bool,
    pub message: String,
}

impl DbError {
    /// A failure that retrying cannot fix.
    pub fn fatal(message: impl Into<String>) -> DbError {
        DbError { retryable: false, message: message.into() }
    }
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub(crate) type DbResult<T> = Result<T, DbError>;

/// One statement of the schema migration.
#[derive(Debug, Clone)]
pub(crate) struct DdlStep {
    /// What it creates, for progress logs and errors ("table shop.orders").
    pub what: String,
    pub sql: String,
    /// The database or schema the statement must run in, when it is not qualified.
    pub default_schema: Option<String>,
}

/// Why the data path stopped.
#[derive(Debug)]
pub(crate) enum PipelineError {
    /// The user changed the job meanwhile; stop quietly.
    Superseded(Superseded),
    /// A database error; retried when it is a connection problem.
    Database(DbError),
    /// Something the user must fix (configuration, unsupported feature).
    Fatal(String),
}

impl From<Superseded> for PipelineError {
    fn from(s: Superseded) -> Self {
        PipelineError::Superseded(s)
    }
}

impl From<DbError> for PipelineError {
    fn from(e: DbError) -> Self {
        PipelineError::Database(e)
    }
}

pub(crate) fn family_name(f: EngineFamily) -> &'static str {
    match f {
        EngineFamily::MySql => "MySQL",
        EngineFamily::PostgreSql => "PostgreSQL",
        EngineFamily::Unsupported => "an unsupported engine",
    }
}

fn endpoints(job: &Job) -> Result<(&Endpoint, &Endpoint), PipelineError> {
    let missing = || PipelineError::Fatal("the task has no source or destination configured".into());
    Ok((source_endpoint(job)?, job.destination.as_ref().ok_or_else(missing)?))
}

fn source_endpoint(job: &Job) -> Result<&Endpoint, PipelineError> {
    job.source.as_ref().ok_or_else(|| PipelineError::Fatal("the task has no source configured".into()))
}

/// What is not built yet for this job, if anything.
fn unsupported(job: &Job) -> Option<String> {
    let src = job.source.as_ref().map_or(EngineFamily::Unsupported, |e| e.family());
    let dest = job.destination.as_ref().map_or(EngineFamily::Unsupported, |e| e.family());
    if job.job_type == JobType::Subscribe {
        return (src == EngineFamily::Unsupported)
            .then(|| format!("change tracking from {} is not supported by this OpenDTS version", family_name(src)));
    }
    if src == EngineFamily::Unsupported || dest == EngineFamily::Unsupported {
        return Some(format!(
            "the data path {} -> {} is not supported by this OpenDTS version (supported: MySQL and PostgreSQL)",
            family_name(src),
            family_name(dest)
        ));
    }
    None
}

/// Runs the job's data path from where its checkpoints say it stands.
pub(crate) async fn run(engine: &Engine, job: &Job) -> Result<(), Superseded> {
    if let Some(what) = unsupported(job) {
        return fail(engine, job, &format!("DTS-10001: {what}. Nothing was written to the destination."));
    }
    let needs_init = job.migration_mode.structure_initialization || job.migration_mode.data_initialization;
    let running = JobStatus::running_for(job.job_type, needs_init);
    update(engine, &job.job_id, job.epoch, |j| {
        j.status = running;
        j.error_message.clear();
    })?;
    match retry::with_retries(engine, job, running, || phases(engine, job)).await {
        Ok(()) => Ok(()),
        Err(PipelineError::Superseded(s)) => Err(s),
        Err(PipelineError::Fatal(message)) => fail(engine, job, &message),
        Err(PipelineError::Database(e)) => fail(engine, job, &format!("DTS-10003: {e}")),
    }
}

async fn phases(engine: &Engine, job: &Job) -> Result<(), PipelineError> {
    let context = if job.job_type == JobType::Subscribe { DbListContext::Subscription } else { DbListContext::Migration };
    let db_list_text = job.db_list.as_deref().unwrap_or("{}");
    let db_list = DbList::parse(db_list_text, context)
        .map_err(|e| PipelineError::Fatal(format!("DTS-10002: the stored DbList is not valid: {e}")))?;
    if job.job_type == JobType::Subscribe {
        let mut source = connectors::open_source(source_endpoint(job)?, &db_list, &job.job_id).await?;
        // Runs until the user suspends, stops or deletes the task.
        return capture::run(engine, job, &db_list, source.as_mut()).await;
    }
    let (source_ep, dest_ep) = endpoints(job)?;
    let config = engine.pipeline_config();
    let mut source = connectors::open_source(source_ep, &db_list, &job.job_id).await?;
    let mut sink = connectors::open_sink(dest_ep, job).await?;
    if job.migration_mode.data_synchronization {
        incremental::remember_start(engine, job, source.as_mut()).await?;
    }
    if job.migration_mode.structure_initialization {
        structure::before_data(engine, job, source.as_mut(), sink.as_mut()).await?;
    }
    if job.migration_mode.data_initialization {
        full_load::run(engine, job, source.as_mut(), sink.as_mut(), &config).await?;
    }
    source.full_load_done();
    if job.migration_mode.structure_initialization {
        structure::after_data(engine, job, source.as_mut(), sink.as_mut()).await?;
    }
    if job.migration_mode.data_synchronization {
        // Runs until the user suspends, stops or deletes the task.
        return incremental::run(engine, job, &db_list, source.as_mut(), sink.as_mut()).await;
    }
    update(engine, &job.job_id, job.epoch, |j| {
        j.status = JobStatus::Finished;
        j.finish_time_ms = Some(now_millis());
    })?;
    tracing::info!(job_id = %job.job_id, "job finished");
    Ok(())
}

fn fail(engine: &Engine, job: &Job, message: &str) -> Result<(), Superseded> {
    tracing::warn!(job_id = %job.job_id, "{message}");
    update(engine, &job.job_id, job.epoch, |j| {
        j.status = JobStatus::failed_for(j.job_type);
        j.error_message = message.to_string();
        j.finish_time_ms = Some(now_millis());
        let phase = if j.structure.status == "Migrating" || (j.migration_mode.structure_initialization && j.structure.status == "NotStarted") {
            &mut j.structure
        } else if j.full_data.status == "Migrating" || (j.migration_mode.data_initialization && j.full_data.status == "NotStarted") {
            &mut j.full_data
        } else {
            &mut j.incremental
        };
        phase.status = "Failed".into();
        phase.error_message = message.to_string();
    })
}
