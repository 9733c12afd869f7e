//! PostgreSQL as a pipeline source and sink.
//!
//! As a source, a job owns a publication and a pgoutput slot named after it.
//! The slot is created with an exported snapshot, and every full-load read
//! imports that snapshot: the copy holds exactly the data before the slot's
//! start, and the slot streams exactly what came after. The snapshot lives as
//! long as the session that created the slot, which the source keeps open
//! until the full load is done.

use crate::pipeline::sink::{ChangeApplier, ChangePlanner, ChunkCheckpoint, ChunkData, ChunkWriter, NativeFormat, PlannedBatch, Sink};
use crate::pipeline::source::{ChangeStream, ChunkReader, SchemaPlan, Source, SourceTable};
use crate::pipeline::{DbError, DbResult, DdlStep};
use crate::BoxFuture;
use opendts_connector_postgres::error::PgError;
use super::selection::{self, mapping, Selection};
use opendts_connector_postgres::schema::{self, TableMapping};
use opendts_connector_postgres::sink::OnConflict;
use opendts_connector_postgres::wal::{self, SlotInfo, WalError, WalSource, WalSourceConfig};
use opendts_connector_postgres::{apply, objects, session, sink, snapshot, translate};
use opendts_core::change::{ChangeEvent, RowChange, SourcePosition};
use opendts_core::dblist::DbList;
use opendts_core::endpoint::{EngineFamily, Endpoint};
use opendts_core::row::{Chunk, TableId};
use opendts_core::tabledef::TableDef;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_postgres::Client;

impl From<PgError> for DbError {
    fn from(e: PgError) -> DbError {
        DbError { retryable: e.is_retryable(), message: e.to_string() }
    }
}

fn wal_error(e: WalError) -> DbError {
    DbError { retryable: e.is_retryable(), message: format!("cannot read the source's logical replication slot: {e}") }
}

type Mappings = selection::Mappings<TableMapping>;

selection::selected_table!(TableMapping);

/// Bytes of COPY text per piece sent to a PostgreSQL destination.
const COPY_PIECE_BYTES: usize = 1 << 20;


/// A PostgreSQL source (one database: the endpoint's).
pub(crate) struct PgSource {
    endpoint: Endpoint,
    job_id: String,
    client: Client,
    db_list: DbList,
    selection: Selection<TableMapping>,
    /// The slot created by this run, holding its exported snapshot open.
    slot: Option<SlotInfo>,
}

impl PgSource {
    pub(crate) async fn open(endpoint: &Endpoint, db_list: &DbList, job_id: &str) -> DbResult<PgSource> {
        let client = session::source(endpoint).await?;
        let selection = Selection::new(schema::selected_tables(&client, db_list).await?);
        Ok(PgSource { endpoint: endpoint.clone(), job_id: job_id.to_string(), client, db_list: db_list.clone(), selection, slot: None })
    }

    /// Reads the selected tables again as the slot's snapshot sees them, so
    /// that the full load's column lists match the data it reads there (a
    /// column added between opening and creating the slot comes with the copy).
    async fn reread_tables_in(&mut self, snapshot_name: &str) -> DbResult<()> {
        snapshot::begin_snapshot_read(&self.client, Some(snapshot_name)).await?;
        let selected = schema::selected_tables(&self.client, &self.db_list).await;
        snapshot::end_snapshot_read(&self.client).await?;
        self.selection = Selection::new(selected?);
        Ok(())
    }

    fn snapshot_name(&self) -> Option<String> {
        self.slot.as_ref().and_then(|s| s.snapshot.clone())
    }

    /// Schemas, sequences, tables, keys and constraints before the data;
    /// indexes, foreign keys, views and sequence values after it.
    async fn pg_schema_plan(&self) -> DbResult<SchemaPlan> {
        let tables = self.selection.sorted();
        let plan = objects::schema_plan(&self.client, &self.db_list, &tables).await?;
        let sequences = objects::sequence_values(&self.client, &self.db_list, &tables).await?;
        let step = |s: objects::DdlStep| DdlStep { what: s.what, sql: s.sql, default_schema: None };
        Ok(SchemaPlan {
            before_data: plan.before_data.into_iter().map(step).collect(),
            after_data: plan.after_data.into_iter().chain(sequences).map(step).collect(),
        })
    }

    /// What the job's publication carries: the selected tables, and, when the
    /// DDL capture triggers can be installed (superuser), the DDL log and the
    /// schemas selected whole (tables created there later join it).
    async fn publication_spec(&self) -> DbResult<wal::PublicationSpec> {
        let ids: Vec<TableId> = self.selection.tables().iter().map(|t| t.source.clone()).collect();
        let capture = match wal::install_ddl_capture(&self.endpoint).await {
            Ok(_) => true,
            Err(WalError::DdlCaptureDenied(why)) => {
                tracing::warn!(job_id = %self.job_id, %why, "DDL will not be synchronized");
                false
            }
            Err(e) => return Err(wal_error(e)),
        };
        Ok(wal::PublicationSpec {
            follow_schemas: if capture { wal::whole_schemas(&self.db_list, &ids) } else { Vec::new() },
            tables: ids,
            ddl_log: capture,
        })
    }
}

impl Source for PgSource {
    fn family(&self) -> EngineFamily {
        EngineFamily::PostgreSql
    }

    fn tables(&self) -> &[SourceTable] {
        self.selection.tables()
    }

    fn retain_tables(&mut self, keep: &HashSet<TableId>) {
        self.selection.retain(keep);
    }

    fn native_schema_plan(&mut self) -> BoxFuture<'_, DbResult<SchemaPlan>> {
        Box::pin(self.pg_schema_plan())
    }

    fn table_defs(&mut self) -> BoxFuture<'_, DbResult<Vec<TableDef>>> {
        Box::pin(async move {
            let tables = self.selection.sorted();
            Ok(translate::table_defs(&self.client, &tables).await?)
        })
    }

    fn plan_chunks<'a>(&'a mut self, table: &'a SourceTable, chunk_rows: u64) -> BoxFuture<'a, DbResult<Vec<Chunk>>> {
        Box::pin(async move {
            let m = mapping(self.selection.mappings(), table)?.clone();
            Ok(snapshot::plan_chunks(&self.client, &m, chunk_rows).await?)
        })
    }

    fn start_capture(&mut self, since: Option<i64>) -> BoxFuture<'_, DbResult<SourcePosition>> {
        Box::pin(async move {
            if since.is_some() {
                return Err(DbError::fatal(
                    "a PostgreSQL source cannot start from a point in time (Checkpoint): its log is read through a \
                     replication slot, which starts when it is created; configure the task without Checkpoint",
                ));
            }
            let spec = self.publication_spec().await?;
            let mut info = wal::ensure_slot_and_publication_with(&self.endpoint, &self.job_id, &spec).await.map_err(wal_error)?;
            if !info.created {
                // Left by an attempt that stopped before recording its start: its
                // snapshot is gone, so start over with a fresh slot.
                tracing::info!(job_id = %self.job_id, slot = %info.slot, "replacing a slot whose start was never recorded");
                drop(info);
                wal::drop_slot_and_publication(&self.endpoint, &self.job_id).await.map_err(wal_error)?;
                info = wal::ensure_slot_and_publication_with(&self.endpoint, &self.job_id, &spec).await.map_err(wal_error)?;
            }
            tracing::info!(job_id = %self.job_id, ?info, "replication slot created");
            if let Some(name) = info.snapshot.clone() {
                self.reread_tables_in(&name).await?;
            }
            let position = SourcePosition::Lsn(info.consistent_lsn);
            self.slot = Some(info);
            Ok(position)
        })
    }

    fn produces(&self, format: NativeFormat) -> bool {
        matches!(format, NativeFormat::PostgresCopyText | NativeFormat::PostgresCopyBinary)
    }

    fn reader(&self) -> BoxFuture<'_, DbResult<Box<dyn ChunkReader>>> {
        Box::pin(async move {
            let client = session::source(&self.endpoint).await?;
            let reader = PgReader {
                client,
                endpoint: self.endpoint.clone(),
                job_id: self.job_id.clone(),
                mappings: self.selection.mappings().clone(),
                snapshot: self.snapshot_name(),
                own_snapshot: None,
                in_txn: false,
            };
            Ok(Box::new(reader) as Box<dyn ChunkReader>)
        })
    }

    fn full_load_done(&mut self) {
        if let Some(slot) = self.slot.as_mut() {
            slot.release_snapshot();
        }
    }

    fn changes(&self, start: SourcePosition) -> BoxFuture<'_, DbResult<Box<dyn ChangeStream>>> {
        Box::pin(async move {
            let SourcePosition::Lsn(lsn) = start else {
                return Err(DbError::fatal(format!("a PostgreSQL source cannot start at {start:?}")));
            };
            let name = wal::object_name(&self.job_id);
            let mut cfg = WalSourceConfig::new(self.endpoint.clone(), name.clone(), name, lsn);
            cfg.heartbeat = Duration::from_secs(1);
            // Applied positions reach the server within this: it lets the
            // slot (and its WAL) go that much sooner, and a stream stopped
            // right after catching up does not leave its last batches to be
            // decoded again.
            cfg.status_interval = Duration::from_millis(200);
            let stream = WalSource::connect(cfg).await.map_err(wal_error)?;
            Ok(Box::new(WalStream(stream)) as Box<dyn ChangeStream>)
        })
    }
}

/// Full-load reads on one source connection, each chunk in its own
/// repeatable-read transaction that imports the slot's snapshot when there is one.
struct PgReader {
    client: Client,
    endpoint: Endpoint,
    job_id: String,
    mappings: Mappings,
    /// The job slot's exported snapshot, while this run holds it.
    snapshot: Option<String>,
    /// A snapshot exported for one exact read when the slot's is gone.
    own_snapshot: Option<wal::ExportedSnapshot>,
    in_txn: bool,
}

impl ChunkReader for PgReader {
    fn begin<'a>(&'a mut self, table: &'a SourceTable, exact: bool) -> BoxFuture<'a, DbResult<Option<SourcePosition>>> {
        Box::pin(async move {
            if exact && self.snapshot.is_none() {
                // The slot's snapshot is gone (a resumed full load): read this
                // keyless table in a snapshot of its own whose WAL position is
                // known, and let the incremental phase skip what it holds.
                tracing::debug!(table = %table.source, "exporting a snapshot for an exact read");
                let own = wal::export_snapshot(&self.endpoint, &self.job_id).await.map_err(wal_error)?;
                snapshot::begin_snapshot_read(&self.client, Some(&own.name)).await?;
                self.in_txn = true;
                let position = SourcePosition::Lsn(own.lsn);
                self.own_snapshot = Some(own);
                return Ok(Some(position));
            }
            snapshot::begin_snapshot_read(&self.client, self.snapshot.as_deref()).await?;
            self.in_txn = true;
            // Reads in the slot's snapshot line up with where streaming starts.
            Ok(None)
        })
    }

    fn read<'a>(
        &'a mut self,
        table: &'a SourceTable,
        chunk: &'a Chunk,
        batch_rows: usize,
        native: Option<NativeFormat>,
        rows: mpsc::Sender<ChunkData>,
    ) -> BoxFuture<'a, DbResult<()>> {
        Box::pin(async move {
            let m = mapping(&self.mappings, table)?.clone();
            if let Some(native) = native {
                snapshot::copy_chunk_out(&self.client, &m, chunk, copy_format(native), COPY_PIECE_BYTES, |piece| {
                    let rows = rows.clone();
                    async move { rows.send(ChunkData::Native(native, piece)).await.is_ok() }
                })
                .await?;
                return Ok(());
            }
            snapshot::read_chunk(&self.client, &m, chunk, batch_rows, |batch| {
                let rows = rows.clone();
                async move { rows.send(ChunkData::Rows(batch)).await.is_ok() }
            })
            .await?;
            Ok(())
        })
    }

    fn end(&mut self) -> BoxFuture<'_, DbResult<()>> {
        Box::pin(async move {
            if std::mem::take(&mut self.in_txn) {
                snapshot::end_snapshot_read(&self.client).await?;
            }
            self.own_snapshot = None;
            Ok(())
        })
    }
}

struct WalStream(WalSource);

impl ChangeStream for WalStream {
    fn next(&mut self) -> BoxFuture<'_, DbResult<ChangeEvent>> {
        Box::pin(async move { self.0.next().await.map_err(wal_error) })
    }

    /// Lets the server advance the slot and recycle WAL up to `position`.
    fn confirm(&mut self, position: &SourcePosition) {
        if let SourcePosition::Lsn(lsn) = position {
            self.0.confirm(*lsn);
        }
    }
}

/// A PostgreSQL destination (one database: the endpoint's).
pub(crate) struct PgSink {
    endpoint: Endpoint,
    client: Client,
    on_conflict: OnConflict,
}

impl PgSink {
    /// `keep_existing`: rows whose key already exists are kept rather than
    /// failing the chunk (Reserve targetTableMode "2", existing tables).
    pub(crate) async fn open(endpoint: &Endpoint, keep_existing: bool) -> DbResult<PgSink> {
        let on_conflict = if keep_existing { OnConflict::KeepExisting } else { OnConflict::Fail };
        Ok(PgSink { endpoint: endpoint.clone(), client: session::sink(endpoint).await?, on_conflict })
    }
}

impl Sink for PgSink {
    fn family(&self) -> EngineFamily {
        EngineFamily::PostgreSql
    }

    /// Concurrent COPYs into one PostgreSQL table queue on its relation
    /// extension lock (before version 16 the heap grows a page at a time):
    /// past two writers a table loads no faster (bench/pg-full-load.sh), and
    /// the extra backends only take CPU from the ones that work.
    fn writers_per_table(&self) -> Option<usize> {
        Some(2)
    }

    fn native_formats<'a>(&'a mut self, table: &'a SourceTable) -> BoxFuture<'a, DbResult<Vec<NativeFormat>>> {
        Box::pin(async move {
            let source_types: Vec<String> = table.schema.columns.iter().map(|c| c.source_type.clone()).collect();
            let binary = table.schema.columns.len() == table.dest_columns.len()
                && sink::binary_copy_fits(&self.client, &table.dest, &table.dest_columns, &source_types).await?;
            let mut formats = vec![NativeFormat::PostgresCopyText];
            if binary {
                formats.insert(0, NativeFormat::PostgresCopyBinary);
            }
            Ok(formats)
        })
    }

    fn execute_ddl<'a>(&'a mut self, step: &'a DdlStep) -> BoxFuture<'a, DbResult<()>> {
        Box::pin(async move {
            let sql = match &step.default_schema {
                Some(s) => format!("SET search_path TO {}; {}", session::quote_ident(s), step.sql),
                None => step.sql.clone(),
            };
            Ok(sink::execute_ddl(&self.client, &sql, &step.what).await?)
        })
    }

    fn existing_tables<'a>(&'a mut self, tables: &'a [TableId]) -> BoxFuture<'a, DbResult<HashSet<TableId>>> {
        Box::pin(async move { Ok(sink::existing_tables(&self.client, tables.iter()).await?) })
    }

    fn columns<'a>(&'a mut self, table: &'a TableId) -> BoxFuture<'a, DbResult<Vec<String>>> {
        Box::pin(async move { Ok(sink::column_types(&self.client, table).await?.into_keys().collect()) })
    }

    fn prepare_meta(&mut self) -> BoxFuture<'_, DbResult<()>> {
        Box::pin(async move { Ok(sink::prepare_meta(&self.client).await?) })
    }

    fn done_chunks<'a>(&'a mut self, key: &'a str, table: &'a TableId) -> BoxFuture<'a, DbResult<HashSet<u32>>> {
        Box::pin(async move { Ok(sink::done_chunks(&self.client, key, table).await?) })
    }

    fn done_rows<'a>(&'a mut self, key: &'a str) -> BoxFuture<'a, DbResult<u64>> {
        Box::pin(async move { Ok(sink::done_rows(&self.client, key).await?) })
    }

    fn snapshot_positions<'a>(&'a mut self, key: &'a str) -> BoxFuture<'a, DbResult<Vec<(TableId, SourcePosition)>>> {
        Box::pin(async move {
            sink::prepare_meta(&self.client).await?;
            Ok(sink::snapshot_positions(&self.client, key).await?)
        })
    }

    fn chunk_writer(&self) -> BoxFuture<'_, DbResult<Box<dyn ChunkWriter>>> {
        Box::pin(async move {
            let client = session::sink(&self.endpoint).await?;
            let writer = PgChunkWriter { client, on_conflict: self.on_conflict, types: HashMap::new() };
            Ok(Box::new(writer) as Box<dyn ChunkWriter>)
        })
    }

    fn applier<'a>(&'a self, job_key: &'a str) -> BoxFuture<'a, DbResult<Box<dyn ChangeApplier>>> {
        Box::pin(async move {
            let applier = apply::ChangeApplier::connect(&self.endpoint, job_key).await?;
            Ok(Box::new(PgApplier(applier)) as Box<dyn ChangeApplier>)
        })
    }

    fn planner<'a>(&'a self, _job_key: &'a str) -> BoxFuture<'a, DbResult<Box<dyn ChangePlanner>>> {
        Box::pin(async move {
            let client = session::sink(&self.endpoint).await?;
            let planner = apply::Planner::new(&client).await?;
            Ok(Box::new(PgPlanner { client, planner }) as Box<dyn ChangePlanner>)
        })
    }
}

struct PgChunkWriter {
    client: Client,
    on_conflict: OnConflict,
    /// Destination column types per table, read once.
    types: HashMap<TableId, Vec<String>>,
}

impl PgChunkWriter {
    async fn dest_types(&mut self, table: &SourceTable) -> DbResult<Vec<String>> {
        if let Some(t) = self.types.get(&table.dest) {
            return Ok(t.clone());
        }
        let by_name = sink::column_types(&self.client, &table.dest).await?;
        let mut types = Vec::with_capacity(table.dest_columns.len());
        for c in &table.dest_columns {
            let t = by_name.get(c).ok_or_else(|| {
                DbError::fatal(format!("the destination table {} has no column {c}", table.dest))
            })?;
            types.push(t.clone());
        }
        self.types.insert(table.dest.clone(), types.clone());
        Ok(types)
    }
}

impl ChunkWriter for PgChunkWriter {
    fn write_chunk<'a>(
        &'a mut self,
        table: &'a SourceTable,
        mut rows: mpsc::Receiver<ChunkData>,
        checkpoint: ChunkCheckpoint<'a>,
    ) -> BoxFuture<'a, DbResult<u64>> {
        Box::pin(async move {
            let types = self.dest_types(table).await?;
            let mut w =
                sink::ChunkWriter::begin_with(&mut self.client, &table.dest, &table.dest_columns, &types, self.on_conflict).await?;
            while let Some(data) = rows.recv().await {
                match data {
                    ChunkData::Rows(batch) => w.write(&batch).await?,
                    ChunkData::Native(format, piece) => w.write_native(copy_format(format), piece).await?,
                    ChunkData::Complete => return Ok(w.commit(checkpoint.key, checkpoint.chunk, checkpoint.snapshot).await?),
                }
            }
            // Dropping the writer rolls the chunk back.
            Err(DbError::fatal(format!("the read of chunk {} of {} stopped early", checkpoint.chunk, table.source)))
        })
    }
}

fn copy_format(format: NativeFormat) -> sink::CopyFormat {
    match format {
        NativeFormat::PostgresCopyText => sink::CopyFormat::Text,
        NativeFormat::PostgresCopyBinary => sink::CopyFormat::Binary,
    }
}

/// The connector's applier, behind the pipeline's trait.
struct PgApplier(apply::ChangeApplier);

super::change_applier_adapter!(PgApplier, |applier, _db_list, ops: apply::PlannedOps, position, time| {
    applier.apply_planned(ops, position, time)
});

/// Plans batches for [`PgApplier`] on a connection of its own.
struct PgPlanner {
    client: Client,
    planner: apply::Planner,
}

impl ChangePlanner for PgPlanner {
    fn plan<'a>(&'a mut self, db_list: &'a DbList, rows: Vec<RowChange>) -> BoxFuture<'a, DbResult<PlannedBatch>> {
        Box::pin(async move {
            let changes = rows.len();
            let PgPlanner { client, planner } = self;
            let planned = match planner.read_tables(client, db_list, &rows).await {
                // Planning thousands of changes takes milliseconds of CPU: off
                // the runtime's worker threads, so that the applier's and the
                // reader's tasks keep running meanwhile.
                Ok(()) => crate::run_cpu_bound(|| planner.plan_read(db_list, rows)),
                Err(e) => Err(e),
            };
            if planned.is_err() {
                planner.forget_tables();
            }
            Ok(PlannedBatch::new(changes, planned?))
        })
    }

    fn forget_tables(&mut self) {
        self.planner.forget_tables();
    }
}

/// Drops a deleted job's slot and publication, retrying while its reader
/// still holds the slot.
pub(crate) async fn release_capture(endpoint: &Endpoint, job_id: &str) {
    for attempt in 1..=5u32 {
        match wal::drop_slot_and_publication(endpoint, job_id).await {
            Ok(()) => {
                tracing::info!(job_id, "replication slot and publication dropped");
                return;
            }
            Err(e) => {
                tracing::warn!(job_id, attempt, error = %e, "cannot drop the replication slot yet");
                tokio::time::sleep(Duration::from_secs(2 * attempt as u64)).await;
            }
        }
    }
    tracing::error!(job_id, slot = %wal::object_name(job_id), "the replication slot was not dropped: drop it by hand \
        (SELECT pg_drop_replication_slot(...)) or the source keeps its WAL");
}
