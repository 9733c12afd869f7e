//! Reports full-load progress to the store about once a second.

use crate::engine::Engine;
use crate::worker::update;
use opendts_core::job::Job;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const INTERVAL: Duration = Duration::from_secs(1);

pub(super) struct Progress {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Progress {
    /// Starts reporting `rows` against an estimate of `total` rows.
    pub(super) fn start(engine: &Engine, job: &Job, rows: Arc<AtomicU64>, total: u64) -> Progress {
        let (stop, mut stopped) = oneshot::channel();
        let (engine, job_id, epoch) = (engine.handle(), job.job_id.clone(), job.epoch);
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut stopped => return,
                    _ = tokio::time::sleep(INTERVAL) => {}
                }
                let Some(engine) = engine.upgrade() else { return };
                let done = rows.load(Ordering::Relaxed);
                // The estimate comes from table statistics and may be short: never claim 100 % early.
                let percent = done.saturating_mul(100).checked_div(total).map_or(0, |p| p.min(99) as u32);
                let written = update(&engine, &job_id, epoch, |j| {
                    j.full_data.progress = done.to_string();
                    j.full_data.percent = percent;
                });
                if written.is_err() {
                    return;
                }
            }
        });
        Progress { stop, task }
    }

    pub(super) async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}
