//! Keeps one worker task per active job.

use crate::pipeline::PipelineConfig;
use crate::{worker, BoxFuture, JobControl};
use opendts_changelog::{ChangeLog, LogError, LogOptions, LogReader};
use opendts_core::endpoint::Endpoint;
use opendts_core::job::Job;
use opendts_core::probe::ProbeReport;
use opendts_core::status::{JobStatus, JobType};
use opendts_store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::task::JoinHandle;

/// A subscription's change log: its one writer and a reader for everyone else.
#[derive(Clone)]
pub(crate) struct SharedLog {
    pub writer: Arc<Mutex<ChangeLog>>,
    pub reader: LogReader,
    /// Woken after every append (consumers waiting for new records).
    pub appended: Arc<tokio::sync::Notify>,
}

/// The engine. Create it with [`Engine::new`] inside a Tokio runtime.
pub struct Engine {
    store: Arc<Store>,
    config: PipelineConfig,
    workers: Mutex<HashMap<String, JoinHandle<()>>>,
    /// The open change logs of subscriptions, one per task (a log has a
    /// single writer: the task's capture; readers share it).
    change_logs: Mutex<HashMap<String, SharedLog>>,
    me: Weak<Engine>,
}

impl Engine {
    pub fn new(store: Arc<Store>) -> Arc<Engine> {
        Engine::with_config(store, PipelineConfig::default())
    }

    pub fn with_config(store: Arc<Store>, config: PipelineConfig) -> Arc<Engine> {
        Arc::new_cyclic(|me| Engine {
            store,
            config,
            workers: Mutex::new(HashMap::new()),
            change_logs: Mutex::new(HashMap::new()),
            me: me.clone(),
        })
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub(crate) fn pipeline_config(&self) -> PipelineConfig {
        self.config
    }

    /// A weak handle for background tasks that must not keep the engine alive.
    pub(crate) fn handle(&self) -> Weak<Engine> {
        self.me.clone()
    }

    /// Restarts the work of every job that was active when the server stopped.
    pub fn resume_all(&self) -> Result<usize, opendts_store::StoreError> {
        let active: Vec<&str> = JobStatus::ALL.iter().filter(|s| s.is_active()).map(|s| s.as_str()).collect();
        let jobs = self.store.jobs_in_statuses(&active)?;
        for job in &jobs {
            tracing::info!(job_id = %job.job_id, status = %job.status, "resuming job after restart");
            self.job_changed(&job.job_id);
        }
        Ok(jobs.len())
    }

    /// Cancels every worker (graceful shutdown). Stored statuses stay as they
    /// are, so the work resumes at the next start.
    pub fn shutdown(&self) {
        let mut workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        for (_, handle) in workers.drain() {
            handle.abort();
        }
    }

    /// The change log of a subscription, opened (and recovered) on first
    /// use. Blocking: call it from a blocking context.
    pub(crate) fn change_log(&self, job_id: &str) -> Result<SharedLog, LogError> {
        let mut logs = self.change_logs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(log) = logs.get(job_id) {
            return Ok(log.clone());
        }
        let dir = crate::pipeline::change_log_dir(self, job_id);
        let retention_ms = i64::from(self.config.change_log_retention_hours) * 3_600_000;
        let log = ChangeLog::open(&dir, LogOptions { retention_ms: Some(retention_ms), ..LogOptions::default() })?;
        let shared = SharedLog {
            reader: log.reader(),
            writer: Arc::new(Mutex::new(log)),
            appended: Arc::new(tokio::sync::Notify::new()),
        };
        logs.insert(job_id.to_string(), shared.clone());
        Ok(shared)
    }

    /// Called by a worker when it ends by itself.
    pub(crate) fn worker_done(&self, job_id: &str) {
        let mut workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        if workers.get(job_id).is_some_and(|h| h.is_finished()) {
            workers.remove(job_id);
        }
    }
}

impl JobControl for Engine {
    fn job_changed(&self, job_id: &str) {
        let job = match self.store.get_job(None, job_id) {
            Ok(job) => job,
            Err(e) => {
                tracing::error!(job_id, error = %e, "cannot read job");
                return;
            }
        };
        let mut workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        // Any running worker works for an older epoch: stop it first.
        if let Some(handle) = workers.remove(job_id) {
            if !handle.is_finished() {
                tracing::info!(job_id, "stopping the job's running worker");
            }
            handle.abort();
        }
        let (Some(job), Some(engine)) = (job, self.me.upgrade()) else { return };
        if job.status.is_active() {
            tracing::info!(job_id, status = %job.status, epoch = job.epoch, "starting the job's worker");
            let id = job.job_id.clone();
            let handle = tokio::spawn(async move {
                worker::run(&engine, job).await;
                engine.worker_done(&id);
            });
            workers.insert(job_id.to_string(), handle);
        }
    }

    fn release_capture(&self, job: Job, discard: bool) {
        if discard {
            self.change_logs.lock().unwrap_or_else(|p| p.into_inner()).remove(&job.job_id);
        }
        if discard && job.job_type == JobType::Subscribe {
            let dir = crate::pipeline::change_log_dir(self, &job.job_id);
            // The worker was aborted; a blocking append may still finish first.
            tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&dir) {
                Ok(()) => tracing::info!(dir = %dir.display(), "change log removed"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "cannot remove the change log"),
            });
        }
        tokio::spawn(async move { crate::connectors::release_capture(&job).await });
    }

    fn change_log_range(&self, job_id: &str) -> Option<(i64, i64)> {
        let logs = self.change_logs.lock().unwrap_or_else(|p| p.into_inner());
        let log = &logs.get(job_id)?.reader;
        Some((log.begin_timestamp()?, log.end_timestamp()?))
    }

    fn probe<'a>(&'a self, endpoint: &'a Endpoint) -> BoxFuture<'a, ProbeReport> {
        Box::pin(crate::connectors::probe_endpoint(endpoint))
    }
}
