//! Retries of connection failures within the job's retry window (Reserve
//! `maxRetryTime`, 12 hours by default, as DTS does).

use super::PipelineError;
use crate::engine::Engine;
use crate::worker::update;
use opendts_core::job::Job;
use opendts_core::reserve::{Reserve, DEFAULT_MAX_RETRY_SECONDS};
use opendts_core::status::JobStatus;
use opendts_core::timefmt::now_millis;
use std::future::Future;
use std::time::Duration;

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

fn max_retry_seconds(job: &Job) -> u64 {
    job.reserve
        .as_deref()
        .and_then(|r| Reserve::parse(r).ok())
        .map(|r| r.max_retry_seconds())
        .unwrap_or(DEFAULT_MAX_RETRY_SECONDS) as u64
}

/// Runs `attempt` until it succeeds, fails for good, or connection failures
/// outlast the retry window. While waiting, the job shows `Retrying` and its
/// RetryState; when an attempt starts again it returns to its running status.
pub(super) async fn with_retries<F, Fut>(engine: &Engine, job: &Job, running: JobStatus, mut attempt: F) -> Result<(), PipelineError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), PipelineError>>,
{
    let window_ms = max_retry_seconds(job).saturating_mul(1000) as i64;
    let mut first_failure: Option<i64> = None;
    let mut backoff = FIRST_BACKOFF;
    let mut count = 0u32;
    loop {
        let error = match attempt().await {
            Err(PipelineError::Database(e)) if e.retryable => e,
            other => return other,
        };
        let now = now_millis();
        let since = *first_failure.get_or_insert(now);
        if now - since >= window_ms {
            return Err(PipelineError::Fatal(format!(
                "DTS-10006: gave up after retrying for {} s (Reserve maxRetryTime): {error}. Check that both \
                 databases are reachable, then start the task again: it resumes from its last checkpoint.",
                window_ms / 1000
            )));
        }
        count += 1;
        let message = error.to_string();
        tracing::warn!(job_id = %job.job_id, retry = count, error = %message, "retrying after a connection failure");
        update(engine, &job.job_id, job.epoch, |j| {
            j.status = JobStatus::Retrying;
            j.retry.retrying = true;
            j.retry.count = count;
            j.retry.error = message.clone();
            j.retry.since_ms = since;
            j.retry.max_seconds = window_ms / 1000;
        })?;
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
        update(engine, &job.job_id, job.epoch, |j| {
            j.status = running;
            j.retry.retrying = false;
        })?;
    }
}
