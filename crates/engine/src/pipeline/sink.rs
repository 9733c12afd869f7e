//! What the pipeline needs from a destination database, whatever its engine.
//!
//! A sink keeps the job's checkpoints next to the data (in its
//! `opendts_meta` schema) and commits each with the data it describes, which
//! is what makes every phase resumable without loss or duplication.

use super::source::SourceTable;
use super::{DbResult, DdlStep};
use crate::BoxFuture;
use opendts_core::change::{DdlChange, RowChange, SourcePosition};
use opendts_core::dblist::DbList;
use opendts_core::endpoint::EngineFamily;
use opendts_core::row::{Cell, TableId};
use std::any::Any;
use std::collections::HashSet;
use tokio::sync::mpsc;

/// A bulk format a destination takes as it is, and a source of the same
/// engine can produce: rows then pass without being decoded or re-encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NativeFormat {
    /// PostgreSQL's COPY text format (`COPY ... TO STDOUT` → `COPY ... FROM STDIN`).
    PostgresCopyText,
    /// PostgreSQL's COPY binary format: cheaper for both servers than text,
    /// for tables whose columns have the same built-in types on both sides.
    PostgresCopyBinary,
}

/// A batch of a chunk's rows, or the end of a chunk that was read whole.
#[derive(Debug)]
pub(crate) enum ChunkData {
    Rows(Vec<Vec<Cell>>),
    /// A piece of a stream of whole rows in a [`NativeFormat`], in the
    /// table's column order (pieces need not end on a row).
    Native(NativeFormat, Vec<u8>),
    /// The source finished the chunk: the writer may commit. A channel that
    /// closes without it means the read failed, and nothing is committed.
    Complete,
}

/// Where a chunk's checkpoint goes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChunkCheckpoint<'a> {
    /// The job's plan (checkpoints of an earlier plan are ignored).
    pub key: &'a str,
    pub chunk: u32,
    /// The source position the chunk was read at, for tables without a key.
    pub snapshot: Option<&'a SourcePosition>,
}

/// What one applied batch of changes weighed.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Applied {
    pub rows: u64,
    pub bytes: u64,
}

/// One connection to the destination for the schema and bookkeeping work.
pub(crate) trait Sink: Send {
    fn family(&self) -> EngineFamily;

    /// The bulk formats in which this destination takes `table`'s rows as
    /// they are, best first (none: rows come as cells).
    fn native_formats<'a>(&'a mut self, table: &'a SourceTable) -> BoxFuture<'a, DbResult<Vec<NativeFormat>>>;

    /// How many full-load writers one destination table takes well at once
    /// (`None`: as many as configured).
    fn writers_per_table(&self) -> Option<usize> {
        None
    }

    /// Runs one schema migration statement.
    fn execute_ddl<'a>(&'a mut self, step: &'a DdlStep) -> BoxFuture<'a, DbResult<()>>;

    /// Which of `tables` exist on the destination.
    fn existing_tables<'a>(&'a mut self, tables: &'a [TableId]) -> BoxFuture<'a, DbResult<HashSet<TableId>>>;

    /// The column names of a destination table.
    fn columns<'a>(&'a mut self, table: &'a TableId) -> BoxFuture<'a, DbResult<Vec<String>>>;

    /// Creates the checkpoint tables if needed.
    fn prepare_meta(&mut self) -> BoxFuture<'_, DbResult<()>>;

    /// Chunks of a destination table committed under `key`.
    fn done_chunks<'a>(&'a mut self, key: &'a str, table: &'a TableId) -> BoxFuture<'a, DbResult<HashSet<u32>>>;

    /// Rows committed under `key`, for progress after a resume.
    fn done_rows<'a>(&'a mut self, key: &'a str) -> BoxFuture<'a, DbResult<u64>>;

    /// Destination tables whose rows were read at a known source position.
    fn snapshot_positions<'a>(&'a mut self, key: &'a str) -> BoxFuture<'a, DbResult<Vec<(TableId, SourcePosition)>>>;

    /// Opens a writer for the full load (one per worker).
    fn chunk_writer(&self) -> BoxFuture<'_, DbResult<Box<dyn ChunkWriter>>>;

    /// Opens the applier of the job's change stream.
    fn applier<'a>(&'a self, job_key: &'a str) -> BoxFuture<'a, DbResult<Box<dyn ChangeApplier>>>;

    /// Opens the planner that prepares batches for the job's applier (by
    /// default, rows pass unplanned and the applier plans as it applies).
    fn planner<'a>(&'a self, _job_key: &'a str) -> BoxFuture<'a, DbResult<Box<dyn ChangePlanner>>> {
        Box::pin(async { Ok(Box::new(UnplannedRows) as Box<dyn ChangePlanner>) })
    }
}

/// Writes full-load chunks on one connection.
pub(crate) trait ChunkWriter: Send {
    /// Writes the rows received for one chunk of `table` and, once the
    /// source says the chunk is complete, commits them together with the
    /// chunk's checkpoint. Returns the rows written.
    fn write_chunk<'a>(
        &'a mut self,
        table: &'a SourceTable,
        rows: mpsc::Receiver<ChunkData>,
        checkpoint: ChunkCheckpoint<'a>,
    ) -> BoxFuture<'a, DbResult<u64>>;
}

/// A batch of row changes made ready for one destination by its
/// [`ChangePlanner`], for that destination's [`ChangeApplier`].
pub(crate) struct PlannedBatch {
    /// Source row changes in the batch.
    pub changes: usize,
    work: Box<dyn Any + Send>,
}

impl PlannedBatch {
    pub(crate) fn new<T: Any + Send>(changes: usize, work: T) -> PlannedBatch {
        PlannedBatch { changes, work: Box::new(work) }
    }

    /// The planner's work, as the applier of the same sink expects it.
    pub(crate) fn into_work<T: Any>(self) -> DbResult<T> {
        self.work
            .downcast::<T>()
            .map(|w| *w)
            .map_err(|_| super::DbError::fatal("a batch planned for another kind of destination reached this applier"))
    }
}

/// Turns batches of row changes into a destination's work (its statements)
/// on a connection of its own, so that the next batch is planned while the
/// applier runs the previous one. It may remember the destination's tables:
/// [`Self::forget_tables`] after a DDL.
pub(crate) trait ChangePlanner: Send {
    fn plan<'a>(&'a mut self, db_list: &'a DbList, rows: Vec<RowChange>) -> BoxFuture<'a, DbResult<PlannedBatch>>;

    /// A DDL has been applied: what was read of the destination's tables may be stale.
    fn forget_tables(&mut self);
}

/// The planner of appliers that plan as they apply: rows pass as they are.
pub(crate) struct UnplannedRows;

impl ChangePlanner for UnplannedRows {
    fn plan<'a>(&'a mut self, _db_list: &'a DbList, rows: Vec<RowChange>) -> BoxFuture<'a, DbResult<PlannedBatch>> {
        Box::pin(async move { Ok(PlannedBatch::new(rows.len(), rows)) })
    }

    fn forget_tables(&mut self) {}
}

/// Applies a change stream, recording the source position in the same
/// destination transaction as the changes it covers.
pub(crate) trait ChangeApplier: Send {
    /// The position after the last applied change, if any.
    fn checkpoint(&mut self) -> BoxFuture<'_, DbResult<Option<SourcePosition>>>;

    /// Applies a batch of one or more source transactions from this sink's
    /// planner, then records `position`, in one destination transaction.
    fn apply_batch<'a>(
        &'a mut self,
        db_list: &'a DbList,
        batch: PlannedBatch,
        position: &'a SourcePosition,
        source_time: i64,
    ) -> BoxFuture<'a, DbResult<Applied>>;

    /// Applies a DDL change if the DbList allows it; returns whether it ran.
    fn apply_ddl<'a>(
        &'a mut self,
        db_list: &'a DbList,
        ddl: &'a DdlChange,
        position: &'a SourcePosition,
        source_time: i64,
    ) -> BoxFuture<'a, DbResult<bool>>;

    /// Records a position without changes (idle source).
    fn advance<'a>(&'a mut self, position: &'a SourcePosition, source_time: i64) -> BoxFuture<'a, DbResult<()>>;
}
