//! Incremental synchronization: the source's change stream applied to the
//! destination in commit order, batched, with the source position recorded
//! in the same destination transaction as the changes it covers.
//!
//! Three stages, each a task, in order: the reader pulls events from the
//! source's change stream into a bounded channel; the planner drains
//! whatever is ready into one batch (several source transactions, up to a
//! row limit) and has the sink's [`ChangePlanner`] turn it into the
//! destination's statements; the applier runs each planned batch and records
//! the position after its last transaction in the same destination
//! transaction, then lets the source release its log up to there. Planning
//! batch N+1 overlaps applying batch N. DDL is applied on its own, in order,
//! and the planner waits for it before planning anything after it.

use super::sink::{ChangeApplier, ChangePlanner, PlannedBatch, Sink};
use super::source::{ChangeStream, Source};
use super::{DbError, PipelineError};
use crate::engine::Engine;
use crate::worker::update;
use opendts_core::change::{ChangeEvent, DdlChange, DdlKind, RowChange, SourcePosition};
use opendts_core::endpoint::EngineFamily;
use opendts_core::dblist::DbList;
use opendts_core::job::{Job, Performance};
use opendts_core::row::TableId;
use opendts_core::status::{JobStatus, JobType};
use opendts_core::timefmt::now_millis;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

/// Key of the incremental start position in the job's working state.
pub(super) const START_KEY: &str = "incremental_start";
/// Most row changes applied in one destination transaction.
const MAX_BATCH_ROWS: usize = 8_000;
/// Events read ahead of the applier.
const READ_AHEAD: usize = 1_024;
/// How often progress (delay, checkpoint, throughput) is written to the store.
const REPORT_EVERY: Duration = Duration::from_secs(1);
/// How often an idle stream records its position on the destination.
const IDLE_CHECKPOINT_EVERY: Duration = Duration::from_secs(5);
/// A delay below this counts as caught up (`Catched`).
const CAUGHT_UP_MS: i64 = 2_000;

/// Records where the incremental phase must start, once, before the full
/// load reads anything: changes made during the load are replayed from there
/// (idempotently), so none is lost.
pub(super) async fn remember_start(engine: &Engine, job: &Job, source: &mut dyn Source) -> Result<(), PipelineError> {
    let store = engine.store();
    let known = store.job_state(&job.job_id, START_KEY).map_err(|e| PipelineError::Fatal(e.to_string()))?;
    if known.is_some() {
        return Ok(());
    }
    // ConfigureDtsJob Checkpoint: start from that time (only meaningful without a full load).
    let since = job.checkpoint.filter(|_| !job.migration_mode.data_initialization);
    let position = source.start_capture(since).await?;
    let text = serde_json::to_string(&position).map_err(|e| PipelineError::Fatal(e.to_string()))?;
    store.put_job_state(&job.job_id, START_KEY, &text).map_err(|e| PipelineError::Fatal(e.to_string()))?;
    tracing::info!(job_id = %job.job_id, ?position, "incremental start position recorded");
    Ok(())
}

/// Source tables that the full load read at a known position (tables without
/// a key), with that position.
async fn snapshot_positions(
    engine: &Engine,
    job: &Job,
    db_list: &DbList,
    sink: &mut dyn Sink,
) -> Result<Vec<(TableId, SourcePosition)>, PipelineError> {
    let Some((key, sources)) = super::full_load::planned(engine, job) else { return Ok(Vec::new()) };
    let by_dest = sink.snapshot_positions(&key).await?;
    // Map destination tables back to the planned source tables the DbList sends there.
    let dest_of = |t: &TableId| db_list.select_table(&t.schema, &t.table).map(|s| TableId::new(s.dest_db, s.dest_table));
    let mut out = Vec::new();
    for (dest_table, position) in by_dest {
        for source in sources.iter().filter(|t| dest_of(t).as_ref() == Some(&dest_table)) {
            out.push((source.clone(), position.clone()));
        }
    }
    Ok(out)
}

/// Whether a change is already in the destination because the full load read
/// its table after the change was committed.
fn already_copied(snapshots: &[(TableId, SourcePosition)], row: &RowChange, position: &SourcePosition) -> bool {
    snapshots
        .iter()
        .any(|(table, snapshot)| *table == row.table && position.at_or_before(snapshot).unwrap_or(false))
}

/// Aborts a stage's task when the stage after it stops for any reason.
pub(super) struct TaskGuard(tokio::task::JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reads the change stream ahead of the applier, and passes the applier's
/// confirmations back to the source between reads.
pub(super) fn spawn_reader(
    mut stream: Box<dyn ChangeStream>,
    mut confirmed: watch::Receiver<Option<SourcePosition>>,
) -> (TaskGuard, mpsc::Receiver<Result<ChangeEvent, DbError>>) {
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    let task = tokio::spawn(async move {
        loop {
            if confirmed.has_changed().unwrap_or(false) {
                if let Some(position) = confirmed.borrow_and_update().clone() {
                    stream.confirm(&position);
                }
            }
            let event = stream.next().await;
            let failed = event.is_err();
            if tx.send(event).await.is_err() || failed {
                return;
            }
        }
    });
    (TaskGuard(task), rx)
}

/// What the planner hands the applier, in source order.
enum Work {
    /// Row changes of one or more source transactions, planned for the destination.
    Rows { batch: PlannedBatch, position: SourcePosition, timestamp: u32 },
    /// A DDL, applied on its own. The planner plans nothing after it until
    /// `applied` fires: the destination's tables may change.
    Ddl { ddl: DdlChange, position: SourcePosition, timestamp: u32, applied: oneshot::Sender<()> },
    /// The source is idle at `position`.
    Heartbeat { position: SourcePosition, timestamp: u32 },
}

/// Plans batches of the reader's events ahead of the applier (one planned
/// batch waits while the applier runs another).
fn spawn_planner(
    mut planner: Box<dyn ChangePlanner>,
    mut events: mpsc::Receiver<Result<ChangeEvent, DbError>>,
    db_list: DbList,
    snapshots: Vec<(TableId, SourcePosition)>,
) -> (TaskGuard, mpsc::Receiver<Result<Work, DbError>>) {
    let (tx, rx) = mpsc::channel(1);
    let task = tokio::spawn(async move {
        if let Err(e) = plan_batches(planner.as_mut(), &mut events, &db_list, &snapshots, &tx).await {
            let _ = tx.send(Err(e)).await;
        }
    });
    (TaskGuard(task), rx)
}

/// The planner's loop: drains whatever events are ready into one batch (up
/// to [`MAX_BATCH_ROWS`] rows), plans it and passes it on. Returns when the
/// applier is gone, or with the error the applier is to report.
async fn plan_batches(
    planner: &mut dyn ChangePlanner,
    events: &mut mpsc::Receiver<Result<ChangeEvent, DbError>>,
    db_list: &DbList,
    snapshots: &[(TableId, SourcePosition)],
    out: &mpsc::Sender<Result<Work, DbError>>,
) -> Result<(), DbError> {
    loop {
        let Some(first) = events.recv().await else {
            return Err(DbError { retryable: true, message: "the change stream reader stopped".into() });
        };
        let mut event = Some(first?);
        let mut rows: Vec<RowChange> = Vec::new();
        let mut batch_end: Option<(SourcePosition, u32)> = None;
        while let Some(ev) = event.take() {
            match ev {
                ChangeEvent::Transaction { rows: tx_rows, position, timestamp } => {
                    rows.extend(tx_rows.into_iter().filter(|r| !already_copied(snapshots, r, &position)));
                    batch_end = Some((position, timestamp));
                    if rows.len() < MAX_BATCH_ROWS {
                        if let Ok(next) = events.try_recv() {
                            event = Some(next?);
                        }
                    }
                }
                ChangeEvent::Ddl { ddl, position, timestamp } => {
                    if let Some((pos, ts)) = batch_end.take() {
                        let batch = plan(planner, db_list, std::mem::take(&mut rows)).await?;
                        if out.send(Ok(Work::Rows { batch, position: pos, timestamp: ts })).await.is_err() {
                            return Ok(());
                        }
                    }
                    let (applied, done) = oneshot::channel();
                    if out.send(Ok(Work::Ddl { ddl, position, timestamp, applied })).await.is_err() || done.await.is_err() {
                        return Ok(());
                    }
                    planner.forget_tables();
                }
                ChangeEvent::Heartbeat { position, timestamp } => {
                    if batch_end.is_none() && out.send(Ok(Work::Heartbeat { position, timestamp })).await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
        if let Some((position, timestamp)) = batch_end {
            let batch = plan(planner, db_list, rows).await?;
            if out.send(Ok(Work::Rows { batch, position, timestamp })).await.is_err() {
                return Ok(());
            }
        }
    }
}

async fn plan(planner: &mut dyn ChangePlanner, db_list: &DbList, rows: Vec<RowChange>) -> Result<PlannedBatch, DbError> {
    let started = Instant::now();
    let changes = rows.len();
    let batch = planner.plan(db_list, rows).await?;
    tracing::debug!(changes, us = started.elapsed().as_micros() as u64, "batch planned");
    Ok(batch)
}

pub(super) async fn run(
    engine: &Engine,
    job: &Job,
    db_list: &DbList,
    source: &mut dyn Source,
    sink: &mut dyn Sink,
) -> Result<(), PipelineError> {
    let mut applier = sink.applier(&job.job_id).await?;
    let planner = sink.planner(&job.job_id).await?;
    let snapshots = snapshot_positions(engine, job, db_list, sink).await?;
    let start = match applier.checkpoint().await? {
        Some(position) => position,
        None => {
            let text = engine
                .store()
                .job_state(&job.job_id, START_KEY)
                .map_err(|e| PipelineError::Fatal(e.to_string()))?
                .ok_or_else(|| PipelineError::Fatal("DTS-10008: the incremental start position was never recorded".into()))?;
            serde_json::from_str::<SourcePosition>(&text).map_err(|e| PipelineError::Fatal(e.to_string()))?
        }
    };
    tracing::info!(job_id = %job.job_id, ?start, "incremental sync starting");
    let stream = source.changes(start).await?;
    let (confirm, confirmed) = watch::channel(None);
    let (_reader, events) = spawn_reader(stream, confirmed);
    let (_planner, mut work) = spawn_planner(planner, events, db_list.clone(), snapshots);

    update(engine, &job.job_id, job.epoch, |j| {
        if j.job_type == JobType::Sync {
            j.status = JobStatus::Synchronizing;
        }
        j.incremental.status = "Migrating".into();
    })?;

    let families = (source.family(), sink.family());
    let mut stats = Stats::new();
    let mut last_idle_checkpoint = Instant::now();
    loop {
        let Some(next) = work.recv().await else {
            return Err(DbError { retryable: true, message: "the change planner stopped".into() }.into());
        };
        match next? {
            Work::Rows { batch, position, timestamp } => {
                apply_batch(applier.as_mut(), db_list, batch, &position, timestamp, &mut stats).await?;
                last_idle_checkpoint = Instant::now();
                confirm.send_replace(Some(position));
            }
            Work::Ddl { ddl, position, timestamp, applied } => {
                let statements = translate_ddl(ddl, families);
                if statements.is_empty() {
                    applier.advance(&position, timestamp as i64).await?;
                }
                for ddl in &statements {
                    if applier.apply_ddl(db_list, ddl, &position, timestamp as i64).await? {
                        tracing::info!(job_id = %job.job_id, statement = %ddl.statement, "DDL applied");
                    }
                }
                stats.applied(0, 0, timestamp);
                confirm.send_replace(Some(position));
                let _ = applied.send(());
            }
            Work::Heartbeat { position, timestamp } => {
                stats.heartbeat(timestamp);
                if last_idle_checkpoint.elapsed() >= IDLE_CHECKPOINT_EVERY {
                    applier.advance(&position, timestamp as i64).await?;
                    last_idle_checkpoint = Instant::now();
                }
                // Everything the source sent before an idle point is applied
                // (work arrives in order), and nothing after the last applied
                // transaction concerns this job up to it: the source may let its
                // log go up to there now, not only at the next checkpoint. A
                // restart from the older checkpoint skips nothing, because the
                // source has nothing for the job in between. (Without this, a
                // PostgreSQL slot's confirmed position trails the server's WAL
                // by everything other databases wrote, and a resumed stream
                // decodes all of that again.)
                confirm.send_replace(Some(position));
            }
        }
        if stats.due() {
            stats.report(engine, job)?;
        }
    }
}

/// The DDL to replay on the destination for a source DDL. Statements are in
/// the source's dialect, so between engine families only TRUNCATE (which
/// names its tables) is replayed, rebuilt for the destination; other DDL is
/// left out with a warning (documented in docs/type-mapping.md).
fn translate_ddl(ddl: DdlChange, (source, dest): (EngineFamily, EngineFamily)) -> Vec<DdlChange> {
    if source == dest {
        return vec![ddl];
    }
    if ddl.kind != DdlKind::TruncateTable {
        tracing::warn!(statement = %ddl.statement, "DDL is not replayed between different database engines; skipped");
        return Vec::new();
    }
    ddl.tables
        .iter()
        .map(|t| {
            let statement = match dest {
                EngineFamily::MySql => format!("TRUNCATE TABLE `{}`.`{}`", t.schema.replace('`', "``"), t.table.replace('`', "``")),
                _ => format!("TRUNCATE TABLE \"{}\".\"{}\"", t.schema.replace('"', "\"\""), t.table.replace('"', "\"\"")),
            };
            DdlChange { schema: t.schema.clone(), statement, kind: DdlKind::TruncateTable, tables: vec![t.clone()] }
        })
        .collect()
}

async fn apply_batch(
    applier: &mut dyn ChangeApplier,
    db_list: &DbList,
    batch: PlannedBatch,
    position: &SourcePosition,
    timestamp: u32,
    stats: &mut Stats,
) -> Result<(), PipelineError> {
    let started = Instant::now();
    let changes = batch.changes;
    let applied = applier.apply_batch(db_list, batch, position, timestamp as i64).await?;
    tracing::debug!(changes, applied = applied.rows, ms = started.elapsed().as_millis() as u64, "batch applied");
    stats.applied(applied.rows, applied.bytes, timestamp);
    Ok(())
}

/// Delay, checkpoint and throughput, reported about once a second.
pub(super) struct Stats {
    last_report: Instant,
    rows: u64,
    bytes: u64,
    /// Commit time (Unix seconds) of the last applied source transaction.
    checkpoint: Option<u32>,
    /// Source time of the newest event seen (an idle source's heartbeats count).
    caught_up_to: Option<u32>,
}

impl Stats {
    pub(super) fn new() -> Stats {
        Stats { last_report: Instant::now(), rows: 0, bytes: 0, checkpoint: None, caught_up_to: None }
    }

    pub(super) fn applied(&mut self, rows: u64, bytes: u64, ts: u32) {
        self.rows += rows;
        self.bytes += bytes;
        if ts > 0 {
            self.checkpoint = Some(ts);
            self.caught_up_to = Some(ts);
        }
    }

    pub(super) fn heartbeat(&mut self, _ts: u32) {
        // A heartbeat means everything up to now was read and applied.
        self.caught_up_to = Some((now_millis() / 1000) as u32);
    }

    pub(super) fn due(&self) -> bool {
        self.last_report.elapsed() >= REPORT_EVERY
    }

    pub(super) fn report(&mut self, engine: &Engine, job: &Job) -> Result<(), PipelineError> {
        let secs = self.last_report.elapsed().as_secs_f64().max(0.001);
        let performance = Performance { rps: self.rows as f64 / secs, flow_mbps: self.bytes as f64 / secs / 1_048_576.0 };
        let now = now_millis();
        let delay_ms = self.caught_up_to.map(|t| (now - t as i64 * 1000).max(0)).unwrap_or(0);
        let checkpoint = self.checkpoint;
        update(engine, &job.job_id, job.epoch, |j| {
            j.performance = performance;
            j.delay_ms = delay_ms;
            if let Some(c) = checkpoint {
                j.checkpoint = Some(c as i64);
            }
            j.incremental.status = if delay_ms < CAUGHT_UP_MS { "Catched" } else { "Migrating" }.into();
            j.incremental.percent = if delay_ms < CAUGHT_UP_MS { 100 } else { 95 };
            j.incremental.progress = format!("{}", delay_ms / 1000);
        })?;
        self.rows = 0;
        self.bytes = 0;
        self.last_report = Instant::now();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ddl(kind: DdlKind, statement: &str) -> DdlChange {
        DdlChange { schema: "s".into(), statement: statement.into(), kind, tables: vec![TableId::new("s", "a"), TableId::new("s", "b")] }
    }

    #[test]
    fn ddl_crosses_engines_only_as_truncate() {
        let same = translate_ddl(ddl(DdlKind::AlterTable, "ALTER TABLE a ADD c int"), (EngineFamily::MySql, EngineFamily::MySql));
        assert_eq!(same.len(), 1);
        let across = (EngineFamily::PostgreSql, EngineFamily::MySql);
        assert!(translate_ddl(ddl(DdlKind::AlterTable, "ALTER TABLE a ADD c int"), across).is_empty());
        let truncates = translate_ddl(ddl(DdlKind::TruncateTable, "TRUNCATE TABLE \"s\".\"a\", \"s\".\"b\""), across);
        let statements: Vec<&str> = truncates.iter().map(|d| d.statement.as_str()).collect();
        assert_eq!(statements, ["TRUNCATE TABLE `s`.`a`", "TRUNCATE TABLE `s`.`b`"]);
        assert!(truncates.iter().all(|d| d.tables.len() == 1 && d.kind == DdlKind::TruncateTable));
    }
}
