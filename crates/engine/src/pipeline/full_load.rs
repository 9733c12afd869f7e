//! Full data load: tables cut into key-range chunks, copied by parallel
//! workers, each chunk committed on the destination together with its
//! checkpoint. A resumed job skips the chunks its destination already holds.

use super::progress::Progress;
use super::sink::{ChunkCheckpoint, ChunkData, ChunkWriter, NativeFormat, Sink};
use super::source::{ChunkReader, Source, SourceTable};
use super::{DbError, PipelineConfig, PipelineError};
use crate::engine::Engine;
use crate::worker::update;
use opendts_core::change::SourcePosition;
use opendts_core::job::Job;
use opendts_core::row::{Cell, Chunk, TableId};
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
    /// The destination columns the table had when planned (absent in plans
    /// of older versions): a column the source gains later comes through the
    /// change stream, not the copy.
    #[serde(default)]
    columns: Option<Vec<String>>,
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
    source: &mut dyn Source,
    sink: &mut dyn Sink,
    config: &PipelineConfig,
) -> Result<Plan, PipelineError> {
    if let Some(text) = engine.store().job_state(&job.job_id, PLAN_KEY).map_err(|e| PipelineError::Fatal(e.to_string()))? {
        if let Ok(plan) = serde_json::from_str::<Plan>(&text) {
            return Ok(plan);
        }
        tracing::warn!(job_id = %job.job_id, "stored full-load plan unreadable; planning again");
    }
    let tables: Vec<SourceTable> = source.tables().to_vec();
    let dests: Vec<TableId> = tables.iter().map(|t| t.dest.clone()).collect();
    let existing = sink.existing_tables(&dests).await?;
    let mut planned = Vec::with_capacity(tables.len());
    let mut estimated_rows = 0;
    for t in &tables {
        if !existing.contains(&t.dest) {
            if job.migration_mode.structure_initialization {
                // Created on the source after the schema phase: its CREATE TABLE and
                // rows come through the change stream (or, without sync, after the task started).
                tracing::info!(job_id = %job.job_id, table = %t.source, "table created after the schema phase; not in the full load");
                continue;
            }
            return Err(PipelineError::Fatal(format!(
                "DTS-10009: the destination table {} does not exist: create it, or enable StructureInitialization",
                t.dest
            )));
        }
        let chunks = source.plan_chunks(t, config.chunk_rows).await?;
        planned.push(PlannedTable { source: t.source.clone(), chunks, columns: Some(t.dest_columns.clone()) });
        estimated_rows += t.estimated_rows;
    }
    let plan = Plan { id: new_plan_id(), tables: planned, estimated_rows };
    let text = serde_json::to_string(&plan).map_err(|e| PipelineError::Fatal(e.to_string()))?;
    engine.store().put_job_state(&job.job_id, PLAN_KEY, &text).map_err(|e| PipelineError::Fatal(e.to_string()))?;
    tracing::info!(job_id = %job.job_id, tables = plan.tables.len(), chunks = plan.tables.iter().map(|t| t.chunks.len()).sum::<usize>(), "full load planned");
    Ok(plan)
}

/// One unit of work: a chunk of a table.
struct Task {
    /// The table as the destination receives it (see [`fit_to_destination`]).
    table: Arc<SourceTable>,
    /// Positions of the read columns the destination receives, when it does not take them all.
    projection: Option<Arc<Vec<usize>>>,
    /// The bulk format both sides speak for this table, if any.
    native: Option<NativeFormat>,
    chunk: Chunk,
}

/// Restricts a table's copy to the columns its destination has, when the
/// missing ones are columns the source gained after the full load was planned
/// (an `ALTER TABLE ... ADD` while it runs, seen by a resumed run): the change
/// stream replays that ALTER and every later change, so their values arrive
/// that way. Any other missing column is an error, never a silent gap, and so
/// is a gained column without a change stream to bring it.
async fn fit_to_destination(
    sink: &mut dyn Sink,
    table: &SourceTable,
    planned_columns: Option<&[String]>,
    sync_follows: bool,
) -> Result<(SourceTable, Option<Arc<Vec<usize>>>), PipelineError> {
    let present = sink.columns(&table.dest).await?;
    let keep: Vec<usize> = (0..table.dest_columns.len()).filter(|&i| present.contains(&table.dest_columns[i])).collect();
    if keep.len() == table.dest_columns.len() {
        return Ok((table.clone(), None));
    }
    let missing: Vec<&str> =
        table.dest_columns.iter().filter(|c| !present.contains(c)).map(String::as_str).collect();
    let gained_later = planned_columns.is_some_and(|planned| missing.iter().all(|m| !planned.iter().any(|p| p == m)));
    if !gained_later || !sync_follows || keep.is_empty() {
        return Err(PipelineError::Fatal(format!(
            "DTS-10013: the destination table {} has no column {}: add it, or copy the schema again",
            table.dest,
            missing.join(", ")
        )));
    }
    tracing::warn!(table = %table.dest, missing = ?missing, "columns added on the source during the full load: \
        the change stream brings them");
    let mut fitted = table.clone();
    fitted.dest_columns = keep.iter().map(|&i| table.dest_columns[i].clone()).collect();
    Ok((fitted, Some(Arc::new(keep))))
}

pub(super) async fn run(
    engine: &Engine,
    job: &Job,
    source: &mut dyn Source,
    sink: &mut dyn Sink,
    config: &PipelineConfig,
) -> Result<(), PipelineError> {
    if job.full_data.status == "Finished" {
        return Ok(());
    }
    let plan = load_or_make_plan(engine, job, source, sink, config).await?;
    let key = plan.checkpoint_key(&job.job_id);

    let mut queue = VecDeque::new();
    sink.prepare_meta().await?;
    for planned in &plan.tables {
        let Some(table) = source.tables().iter().find(|t| t.source == planned.source) else {
            return Err(PipelineError::Fatal(format!(
                "DTS-10005: the source table {} disappeared during the full load",
                planned.source
            )));
        };
        let done = sink.done_chunks(&key, &table.dest).await?;
        if done.len() == planned.chunks.len() {
            continue;
        }
        let planned_columns = planned.columns.as_deref();
        let (table, projection) =
            fit_to_destination(sink, table, planned_columns, job.migration_mode.data_synchronization).await?;
        // Same-engine copies pass rows in the destination's own bulk format;
        // rows that must be fitted to the destination's columns travel as cells.
        let native = match projection {
            Some(_) => None,
            None => sink.native_formats(&table).await?.into_iter().find(|f| source.produces(*f)),
        };
        let table = Arc::new(table);
        for chunk in &planned.chunks {
            if !done.contains(&chunk.index) {
                queue.push_back(Task { table: table.clone(), projection: projection.clone(), native, chunk: chunk.clone() });
            }
        }
    }
    let done_rows = sink.done_rows(&key).await?;

    let rows = Arc::new(AtomicU64::new(done_rows));
    let progress = Progress::start(engine, job, rows.clone(), plan.estimated_rows);
    update(engine, &job.job_id, job.epoch, |j| j.full_data.status = "Migrating".into())?;
    tracing::info!(job_id = %job.job_id, chunks_left = queue.len(), rows_done = done_rows, "full load running");

    let settings = Arc::new(CopySettings {
        key: key.clone(),
        batch_rows: config.batch_rows,
        sync_follows: job.migration_mode.data_synchronization,
    });
    let worker_count = worker_count(&queue, config.full_load_workers, sink.writers_per_table());
    let queue = Arc::new(Mutex::new(queue));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..worker_count {
        let reader = source.reader().await?;
        let writer = sink.chunk_writer().await?;
        let (queue, rows, settings) = (queue.clone(), rows.clone(), settings.clone());
        workers.spawn(async move { copy_chunks(reader, writer, &queue, &rows, &settings).await });
    }
    let mut failure = None;
    while let Some(result) = workers.join_next().await {
        let outcome = match result {
            Ok(r) => r,
            Err(e) => Err(DbError::fatal(format!("a full-load worker stopped: {e}"))),
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

/// How many workers copy the queued chunks: the configured number, but no
/// more per table than the sink takes well at once (every worker may end up
/// on the last table), and no more than there are chunks.
fn worker_count(queue: &VecDeque<Task>, configured: usize, per_table: Option<usize>) -> usize {
    let mut chunks_per_table: Vec<(&TableId, usize)> = Vec::new();
    for task in queue {
        match chunks_per_table.iter_mut().find(|(t, _)| **t == task.table.dest) {
            Some((_, n)) => *n += 1,
            None => chunks_per_table.push((&task.table.dest, 1)),
        }
    }
    let useful: usize = chunks_per_table.iter().map(|(_, n)| per_table.map_or(*n, |cap| (*n).min(cap))).sum();
    configured.min(useful).max(1)
}

/// What every full-load worker does the same way.
struct CopySettings {
    /// The plan's checkpoint key.
    key: String,
    batch_rows: usize,
    /// An incremental phase follows (tables without a key need exact reads).
    sync_follows: bool,
}

/// A worker: takes chunks off the queue until it is empty.
async fn copy_chunks(
    mut reader: Box<dyn ChunkReader>,
    mut writer: Box<dyn ChunkWriter>,
    queue: &Mutex<VecDeque<Task>>,
    rows: &AtomicU64,
    settings: &CopySettings,
) -> Result<(), DbError> {
    let CopySettings { key, batch_rows, sync_follows } = settings;
    let (batch_rows, sync_follows) = (*batch_rows, *sync_follows);
    loop {
        let task = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
        let Some(task) = task else { return Ok(()) };
        // A table without a key cannot absorb a replayed change (it would
        // duplicate a row): it is read consistently with a known position so
        // that the incremental phase skips exactly what the copy holds.
        let exact = sync_follows && task.table.keyless();
        let snapshot = reader.begin(&task.table, exact).await?;
        tracing::debug!(table = %task.table.source, chunk = task.chunk.index, exact, native = ?task.native, "copying chunk");
        let copied = copy_chunk(reader.as_mut(), writer.as_mut(), &task, key, batch_rows, snapshot.as_ref()).await;
        tracing::debug!(table = %task.table.source, chunk = task.chunk.index, ok = copied.is_ok(), "chunk copied");
        reader.end().await?;
        rows.fetch_add(copied?, Ordering::Relaxed);
    }
}

/// Keeps the `keep` positions of every row passing from `rows` to `out`.
async fn project(mut rows: mpsc::Receiver<ChunkData>, out: mpsc::Sender<ChunkData>, keep: Arc<Vec<usize>>) {
    while let Some(data) = rows.recv().await {
        let data = match data {
            ChunkData::Rows(batch) => ChunkData::Rows(
                batch.into_iter().map(|row| keep.iter().map(|&i| row.get(i).cloned().unwrap_or(Cell::Null)).collect()).collect(),
            ),
            other => other,
        };
        if out.send(data).await.is_err() {
            return;
        }
    }
}

/// Reads and writes one chunk concurrently: the reader streams batches into a
/// channel of two, the writer writes them in one transaction and commits once
/// the reader has sent the whole chunk.
async fn copy_chunk(
    reader: &mut dyn ChunkReader,
    writer: &mut dyn ChunkWriter,
    task: &Task,
    key: &str,
    batch_rows: usize,
    snapshot: Option<&SourcePosition>,
) -> Result<u64, DbError> {
    let (tx, rx) = mpsc::channel::<ChunkData>(2);
    let (rx, projecting) = match &task.projection {
        None => (rx, None),
        Some(keep) => {
            let (ptx, prx) = mpsc::channel::<ChunkData>(2);
            (prx, Some(project(rx, ptx, keep.clone())))
        }
    };
    let read = async {
        let result = reader.read(&task.table, &task.chunk, batch_rows, task.native, tx.clone()).await;
        // A closed channel means the writer stopped first: its error is the cause.
        let writer_gone = tx.is_closed();
        if result.is_ok() {
            // Only a whole read lets the writer commit.
            let _ = tx.send(ChunkData::Complete).await;
        }
        drop(tx);
        (result, writer_gone)
    };
    let checkpoint = ChunkCheckpoint { key, chunk: task.chunk.index, snapshot };
    let write = writer.write_chunk(&task.table, rx, checkpoint);
    let project = async {
        if let Some(p) = projecting {
            p.await;
        }
    };
    let ((read, writer_gone), written, ()) = tokio::join!(read, write, project);
    match read {
        Ok(_) => written,
        Err(e) if writer_gone => written.and(Err(e)),
        // The read failed on its own; the writer rolled back for that reason.
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opendts_core::row::TableSchema;

    fn tasks(chunks_per_table: &[usize]) -> VecDeque<Task> {
        let mut queue = VecDeque::new();
        for (t, &n) in chunks_per_table.iter().enumerate() {
            let id = TableId::new("s", format!("t{t}"));
            let schema = Arc::new(TableSchema { id: id.clone(), columns: Vec::new(), key: Vec::new() });
            let table = Arc::new(SourceTable { source: id.clone(), dest: id, dest_columns: Vec::new(), schema, estimated_rows: 0 });
            for index in 0..n as u32 {
                queue.push_back(Task { table: table.clone(), projection: None, native: None, chunk: Chunk { index, lower: None, upper: None } });
            }
        }
        queue
    }

    #[test]
    fn workers_are_capped_per_table_and_by_chunks() {
        // One big table into a sink that takes two writers per table.
        assert_eq!(worker_count(&tasks(&[100]), 4, Some(2)), 2);
        // Several tables: the configured number.
        assert_eq!(worker_count(&tasks(&[100, 50, 3]), 4, Some(2)), 4);
        // A table of one chunk and one of many.
        assert_eq!(worker_count(&tasks(&[1, 100]), 4, Some(2)), 3);
        // No cap: as configured, but never more than the chunks, never none.
        assert_eq!(worker_count(&tasks(&[100]), 4, None), 4);
        assert_eq!(worker_count(&tasks(&[2]), 4, None), 2);
        assert_eq!(worker_count(&tasks(&[]), 4, None), 1);
    }
}
