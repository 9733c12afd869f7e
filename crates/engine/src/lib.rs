//! The OpenDTS engine: does the work the control plane asks for.
//!
//! The store is the source of truth. The control plane records what the user
//! asked for (a job moved to `Prechecking`, `Suspending`, ...) and calls
//! [`JobControl::job_changed`]; the engine then starts, keeps or cancels the
//! job's worker so that the running work matches the stored status. After a
//! restart, [`Engine::resume_all`] picks up every job that was active.

mod connectors;
pub mod consumers;
mod engine;
mod pipeline;
mod precheck;
mod worker;

pub use connectors::{driver_test_name, probe_endpoint};
pub use precheck::SKIPPABLE_PRECHECK_ITEMS;
pub use engine::Engine;
pub use pipeline::PipelineConfig;

use opendts_core::endpoint::Endpoint;
use opendts_core::job::Job;
use opendts_core::probe::ProbeReport;
use std::future::Future;
use std::pin::Pin;

/// A future the engine hands back to the control plane.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the control plane needs from the engine.
pub trait JobControl: Send + Sync + 'static {
    /// The stored status of a job changed (or the job was deleted): bring its
    /// running work in line.
    fn job_changed(&self, job_id: &str);

    /// The job no longer needs what it holds on its databases (it was
    /// stopped, reset or deleted): release it, e.g. a PostgreSQL source's
    /// replication slot, which keeps WAL until dropped. With `discard`
    /// (reset, delete) the data the job kept itself goes too (a
    /// subscription's change log). `job` is the job as it was configured
    /// before the change.
    fn release_capture(&self, job: Job, discard: bool);

    /// The first and last record times (Unix ms) of a subscription's change
    /// log, while its capture runs; `None` otherwise or when it is empty.
    fn change_log_range(&self, job_id: &str) -> Option<(i64, i64)>;

    /// Probes one endpoint now (DescribeConnectionStatus).
    fn probe<'a>(&'a self, endpoint: &'a Endpoint) -> BoxFuture<'a, ProbeReport>;
}

/// Runs CPU-heavy work (milliseconds) from async code without holding up the
/// other tasks: on a multi-threaded runtime the worker thread hands its queued
/// tasks to another and runs `work` in place; elsewhere (a single-threaded
/// test runtime) `work` simply runs.
pub(crate) fn run_cpu_bound<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}
