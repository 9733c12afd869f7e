//! What the pipeline needs from a source database, whatever its engine.
//!
//! Each engine family implements these traits in `crate::connectors`; the
//! phases in this folder are written once against them. Values cross the
//! boundary in core's engine-neutral types (`Cell`, `RowChange`,
//! `SourcePosition`), so any source can feed any sink.

use super::sink::{ChunkData, NativeFormat};
use super::{DbResult, DdlStep};
use crate::BoxFuture;
use opendts_core::change::{ChangeEvent, SourcePosition};
use opendts_core::endpoint::EngineFamily;
use opendts_core::row::{Chunk, TableId, TableSchema};
use opendts_core::tabledef::TableDef;
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::mpsc;

/// A selected source table and where it goes.
#[derive(Debug, Clone)]
pub(crate) struct SourceTable {
    pub source: TableId,
    pub dest: TableId,
    /// Destination names of the copied columns, in the order rows carry them.
    pub dest_columns: Vec<String>,
    /// The copied source columns (with their source types) and the key.
    pub schema: Arc<TableSchema>,
    /// The server's row estimate, for progress.
    pub estimated_rows: u64,
}

impl SourceTable {
    /// A table without a primary key or unique NOT NULL key: a change replayed
    /// onto it would duplicate a row, so it needs an exact handover.
    pub fn keyless(&self) -> bool {
        self.schema.key.is_empty()
    }
}

/// The schema migration, as DDL in the destination's dialect.
#[derive(Debug, Default)]
pub(crate) struct SchemaPlan {
    /// Run before the full load: databases/schemas, tables with their keys.
    pub before_data: Vec<DdlStep>,
    /// Run after the full load: secondary indexes, foreign keys, views,
    /// sequence values.
    pub after_data: Vec<DdlStep>,
}

/// One connection's worth of access to the source's tables and log.
pub(crate) trait Source: Send {
    fn family(&self) -> EngineFamily;

    /// The tables the job's DbList selects, read when the source was opened.
    fn tables(&self) -> &[SourceTable];

    /// Forgets the selected tables not in `keep` (source names), e.g. tables
    /// created on the source after the schema was copied, which the change
    /// stream creates on the destination.
    fn retain_tables(&mut self, keep: &HashSet<TableId>);

    /// The DDL that recreates the selected objects on a destination of the
    /// same engine family, from the source's own definitions.
    fn native_schema_plan(&mut self) -> BoxFuture<'_, DbResult<SchemaPlan>>;

    /// The selected tables described for a destination of another engine.
    fn table_defs(&mut self) -> BoxFuture<'_, DbResult<Vec<TableDef>>>;

    /// Cuts a table into key ranges of about `chunk_rows` rows.
    fn plan_chunks<'a>(&'a mut self, table: &'a SourceTable, chunk_rows: u64) -> BoxFuture<'a, DbResult<Vec<Chunk>>>;

    /// Prepares change capture and returns where it starts: now, or at
    /// `since` (Unix seconds) when given. Called once per job, before the full
    /// load reads anything, so no change made during the load is missed.
    fn start_capture(&mut self, since: Option<i64>) -> BoxFuture<'_, DbResult<SourcePosition>>;

    /// Whether the readers can produce rows in `format`.
    fn produces(&self, format: NativeFormat) -> bool;

    /// Opens a reader for the full load (one per worker).
    fn reader(&self) -> BoxFuture<'_, DbResult<Box<dyn ChunkReader>>>;

    /// The full load is over: resources held for its consistency (an
    /// exported snapshot) can go.
    fn full_load_done(&mut self);

    /// Streams the changes committed after `start`, for the selected tables.
    fn changes(&self, start: SourcePosition) -> BoxFuture<'_, DbResult<Box<dyn ChangeStream>>>;
}

/// Reads full-load chunks on one connection.
pub(crate) trait ChunkReader: Send {
    /// Starts reading a chunk of `table`. With `exact`, the read must be
    /// consistent with a known log position, which is returned when the
    /// incremental phase needs it to skip changes the copy already holds
    /// (`None` when the source's reads are already aligned with where its
    /// change capture starts).
    fn begin<'a>(&'a mut self, table: &'a SourceTable, exact: bool) -> BoxFuture<'a, DbResult<Option<SourcePosition>>>;

    /// Sends the chunk's rows to `rows` as [`ChunkData::Rows`] in batches of
    /// `batch_rows`, or as [`ChunkData::Native`] pieces when `native` is given
    /// (only a format [`Source::produces`]). Stops with an error when the
    /// receiver is gone.
    fn read<'a>(
        &'a mut self,
        table: &'a SourceTable,
        chunk: &'a Chunk,
        batch_rows: usize,
        native: Option<NativeFormat>,
        rows: mpsc::Sender<ChunkData>,
    ) -> BoxFuture<'a, DbResult<()>>;

    /// Ends what `begin` started.
    fn end(&mut self) -> BoxFuture<'_, DbResult<()>>;
}

/// A source's change log, in commit order.
pub(crate) trait ChangeStream: Send {
    /// The next event. Not cancellation-safe: drop the stream after an error.
    fn next(&mut self) -> BoxFuture<'_, DbResult<ChangeEvent>>;

    /// Everything up to `position` is committed on the destination: the
    /// source may release its log up to there.
    fn confirm(&mut self, position: &SourcePosition);
}
