//! Full data load: tables cut into key-range chunks, copied by parallel
//! workers, each chunk committed on the destination together with its
//! checkpoint. A resumed job skips the chunks its destination already holds.

use super::progress::Progress;
use super::{PipelineConfig, PipelineError};
use crate::engine::Engine;
use crate::worker::update;
use opendts_connector_mysql::schema::{self, TableMapping};
use opendts_connector_mysql::sink::{self, ChunkWriter};
use opendts_connector_mysql::snapshot::{self, Chunk};
use opendts_connector_mysql::{session, MySqlError};
use opendts_core::change::SourcePosition;
use opendts_core::dblist::DbList;
use opendts_core::endpoint::Endpoint;
use opendts_core::job::Job;
use opendts_core::row::{Cell, TableId};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Key of the plan in the job's working state.
const PLAN_KEY: &str = "full_load_plan";

/// The chunks of every table, fixed when the full load first starts so that a
/// resumed run finds the same chunks the destination has checkpoints for.
#[derive(Debug, Serialize, Deserialize)]
struct Plan {
    /// Distinguishes this plan's checkpoints from those of an earlier configuration.
    id: String,
    tables: Vec<PlannedTable>,
    estimated_rows: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct PlannedTable {
    source: TableId,
    chunks: Vec<Chunk>,
}

impl Plan {
    fn checkpoint_key(&self, job_id: &str) -> String {
        format!("{job_id}/{}", self.id)
    }
}

/// Once the full load has been planned: the key its chunks are checkpointed
/// under on the destination, and the source tables it copies.
pub(super) fn planned(engine: &Engine, job: &Job) -> Option<(String, Vec<TableId>)> {
    let text = engine.store().job_state(&job.job_id, PLAN_KEY).ok()??;
    let plan: Plan = serde_json::from_str(&text).ok()?;
    let key = plan.checkpoint_key(&job.job_id);
    Some((key, plan.tables.into_iter().map(|t| t.source).collect()))
}

fn new_plan_id() -> String {
    let mut b = [0u8; 8];
    // Uniqueness, not secrecy, is needed: the time is a fine fallback.
    if getrandom::fill(&mut b).is_err() {
        b = opendts_core::timefmt::now_millis().to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn load_or_make_plan(
    engine: &Engine,
    job: &Job,
    tables: &[TableMapping],
    source: &Endpoint,
    dest: &Endpoint,
    config: &PipelineConfig,
) -> Result<Plan, PipelineError> {
    if let Some(text) = engine.store().job_state(&job.job_id, PLAN_KEY).map_err(|e| PipelineError::Fatal(e.to_string()))? {
        if let Ok(plan) = serde_json::from_str::<Plan>(&text) {
            return Ok(plan);
        }
        tracing::warn!(job_id = %job.job_id, "stored full-load plan unreadable; planning again");
    }
    let mut conn = session::source(source).await?;
    let existing = {
        let mut out = session::sink(dest).await?;
        sink::existing_tables(&mut out, tables.iter().map(|t| &t.dest)).await?
    };
    let mut planned = Vec::with_capacity(tables.len());
    for t in tables {
        if !existing.contains(&t.dest) {
            if job.migration_mode.structure_initialization {
                // Created on the source after the schema phase: its CREATE TABLE and
                // rows come through the binlog (or, without sync, after the task started).
                tracing::info!(job_id = %job.job_id, table = %t.source, "table created after the schema phase; not in the full load");
                continue;
            }
            return Err(PipelineError::Fatal(format!(
                "DTS-10009: the destination table {} does not exist: create it, or enable StructureInitialization",
                t.dest
            )));
        }
        planned.push(PlannedTable { source: t.source.clone(), chunks: snapshot::plan_chunks(&mut conn, t, config.chunk_rows).await? });
    }
    let estimated_rows = tables.iter().filter(|t| planned.iter().any(|p| p.source == t.source)).map(|t| t.estimated_rows).sum();
    let plan = Plan { id: new_plan_id(), tables: planned, estimated_rows };
    let text = serde_json::to_string(&plan).map_err(|e| PipelineError::Fatal(e.to_string()))?;
    engine.store().put_job_state(&job.job_id, PLAN_KEY, &text).map_err(|e| PipelineError::Fatal(e.to_string()))?;
    tracing::info!(job_id = %job.job_id, tables = plan.tables.len(), chunks = plan.tables.iter().map(|t| t.chunks.len()).sum::<usize>(), "full load planned");
    Ok(plan)
}

/// One unit of work: a chunk of a table.
struct Task {
    table: Arc<TableMapping>,
    chunk: Chunk,
}

pub(super) async fn run(
    engine: &Engine,
    job: &Job,
    db_list: &DbList,
    source: &Endpoint,
    dest: &Endpoint,
    config: &PipelineConfig,
) -> Result<(), PipelineError> {
    if job.full_data.status == "Finished" {
        return Ok(());
    }
    let tables = {
        let mut conn = session::source(source).await?;
        schema::selected_tables(&mut conn, db_list).await?
    };
    let plan = load_or_make_plan(engine, job, &tables, source, dest, config).await?;
    let key = plan.checkpoint_key(&job.job_id);

    let mut queue = VecDeque::new();
    let done_rows = {
        let mut out = session::sink(dest).await?;
        sink::prepare_meta(&mut out).await?;
        for planned in &plan.tables {
            let Some(mapping) = tables.iter().find(|t| t.source == planned.source) else {
                return Err(PipelineError::Fatal(format!(
                    "DTS-10005: the source table {} disappeared during the full load",
                    planned.source
                )));
            };
            let mapping = Arc::new(mapping.clone());
            let done = sink::done_chunks(&mut out, &key, &mapping.dest).await?;
            for chunk in &planned.chunks {
                if !done.contains(&chunk.index) {
                    queue.push_back(Task { table: mapping.clone(), chunk: chunk.clone() });
                }
            }
        }
        sink::done_rows(&mut out, &key).await?
    };

    let rows = Arc::new(AtomicU64::new(done_rows));
    let progress = Progress::start(engine, job, rows.clone(), plan.estimated_rows);
    update(engine, &job.job_id, job.epoch, |j| j.full_data.status = "Migrating".into())?;
    tracing::info!(job_id = %job.job_id, chunks_left = queue.len(), rows_done = done_rows, "full load running");

    let queue = Arc::new(Mutex::new(queue));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..config.full_load_workers.max(1) {
        let (queue, rows, source, dest, key) = (queue.clone(), rows.clone(), source.clone(), dest.clone(), key.clone());
        let batch_rows = config.batch_rows;
        let snapshots = job.migration_mode.data_synchronization;
        workers.spawn(async move { copy_chunks(&queue, &rows, &source, &dest, &key, batch_rows, snapshots).await });
    }
    let mut failure = None;
    while let Some(result) = workers.join_next().await {
        let outcome = match result {
            Ok(r) => r,
            Err(e) => Err(MySqlError::other("full-load worker", e.to_string())),
        };
        if let Err(e) = outcome {
            failure.get_or_insert(e);
            workers.abort_all();
        }
    }
    progress.stop().await;
    if let Some(e) = failure {
        return Err(e.into());
    }
    let total = rows.load(Ordering::Relaxed);
    update(engine, &job.job_id, job.epoch, |j| {
        j.full_data.status = "Finished".into();
        j.full_data.percent = 100;
        j.full_data.progress = total.to_string();
    })?;
    tracing::info!(job_id = %job.job_id, rows = total, "full load finished");
    Ok(())
}

/// A worker: takes chunks off the queue until it is empty.
async fn copy_chunks(
    queue: &Mutex<VecDeque<Task>>,
    rows: &AtomicU64,
    source: &Endpoint,
    dest: &Endpoint,
    key: &str,
    batch_rows: usize,
    snapshots: bool,
) -> Result<(), MySqlError> {
    let mut src = session::source(source).await?;
    let mut out = session::sink(dest).await?;
    loop {
        let task = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
        let Some(task) = task else { return Ok(()) };
        // A table without a key cannot absorb a replayed change (it would
        // duplicate a row): read it at a known position so that the
        // incremental phase skips exactly what the copy already holds.
        let snapshot = if snapshots && task.table.schema.key.is_empty() {
            Some(snapshot::begin_consistent_read(&mut src, &task.table).await?)
        } else {
            None
        };
        tracing::debug!(table = %task.table.source, chunk = task.chunk.index, snapshot = snapshot.is_some(), "copying chunk");
        let copied = copy_chunk(&mut src, &mut out, &task, key, batch_rows, snapshot.as_ref()).await;
        tracing::debug!(table = %task.table.source, chunk = task.chunk.index, ok = copied.is_ok(), "chunk copied");
        if snapshot.is_some() {
            snapshot::end_consistent_read(&mut src).await?;
        }
        let copied = copied?;
        rows.fetch_add(copied, Ordering::Relaxed);
    }
}

/// Reads and writes one chunk concurrently: the reader streams batches into a
/// channel of two, the writer inserts them in one transaction.
async fn copy_chunk(
    src: &mut mysql_async::Conn,
    out: &mut mysql_async::Conn,
    task: &Task,
    key: &str,
    batch_rows: usize,
    snapshot: Option<&SourcePosition>,
) -> Result<u64, MySqlError> {
    let (tx, mut rx) = mpsc::channel::<Vec<Vec<Cell>>>(2);
    let columns: Vec<String> = task.table.columns.iter().map(|c| c.dest.clone()).collect();
    let reader = async {
        let result = snapshot::read_chunk(src, &task.table, &task.chunk, batch_rows, |batch| {
            let tx = tx.clone();
            async move { tx.send(batch).await.is_ok() }
        })
        .await;
        drop(tx);
        result
    };
    let writer = async {
        let mut w = ChunkWriter::begin(out, &task.table.dest, &columns).await?;
        while let Some(batch) = rx.recv().await {
            w.write(&batch).await?;
        }
        Ok::<_, MySqlError>(w)
    };
    let (read, written) = tokio::join!(reader, writer);
    // A writer error closes the channel, which stops the reader: report the writer's.
    let w = written?;
    read?;
    w.commit(key, task.chunk.index, snapshot).await
}
