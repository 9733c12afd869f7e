//! The MySQL family (MySQL, MariaDB) as a pipeline source and sink.

use crate::pipeline::sink::{ChangeApplier, ChunkCheckpoint, ChunkData, ChunkWriter, NativeFormat, Sink};
use crate::pipeline::source::{ChangeStream, ChunkReader, SchemaPlan, Source, SourceTable};
use crate::pipeline::{DbError, DbResult, DdlStep};
use crate::BoxFuture;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use opendts_connector_mysql::binlog::{self, BinlogError, BinlogSource, BinlogSourceConfig, TableFilter};
use super::selection::{self, mapping, Selection};
use opendts_connector_mysql::schema::{self, TableMapping};
use opendts_connector_mysql::{apply, session, sink, snapshot, translate, MySqlError};
use opendts_core::change::{ChangeEvent, SourcePosition};
use opendts_core::dblist::DbList;
use opendts_core::endpoint::{EngineFamily, Endpoint};
use opendts_core::row::{Chunk, TableId};
use opendts_core::tabledef::TableDef;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long finding the current binlog position may take.
const POSITION_TIMEOUT: Duration = Duration::from_secs(15);

impl From<MySqlError> for DbError {
    fn from(e: MySqlError) -> DbError {
        DbError { retryable: e.is_retryable(), message: e.to_string() }
    }
}

fn binlog_error(e: BinlogError) -> DbError {
    DbError { retryable: e.is_retryable(), message: format!("cannot read the source binlog: {e}") }
}

/// The replica server_id OpenDTS uses for a job: stable, and far from the
/// small IDs people give their servers.
fn server_id(job_id: &str) -> u32 {
    let hash = job_id.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ b as u32).wrapping_mul(0x0100_0193));
    0x4000_0000 | (hash & 0x3fff_ffff)
}

type Mappings = selection::Mappings<TableMapping>;

selection::selected_table!(TableMapping);

/// A MySQL-family source.
pub(crate) struct MySqlSource {
    endpoint: Endpoint,
    job_id: String,
    db_list: Arc<DbList>,
    conn: Conn,
    selection: Selection<TableMapping>,
}

impl MySqlSource {
    pub(crate) async fn open(endpoint: &Endpoint, db_list: &DbList, job_id: &str) -> DbResult<MySqlSource> {
        let mut conn = session::source(endpoint).await?;
        let selection = Selection::new(schema::selected_tables(&mut conn, db_list).await?);
        Ok(MySqlSource { endpoint: endpoint.clone(), job_id: job_id.to_string(), db_list: Arc::new(db_list.clone()), conn, selection })
    }

    /// Databases, then tables (with keys, indexes and foreign keys: the
    /// destination session does not check foreign keys), then views.
    async fn mysql_schema_plan(&mut self) -> DbResult<SchemaPlan> {
        let mut plan = SchemaPlan::default();
        let views = schema::selected_views(&mut self.conn, &self.db_list).await?;
        let tables = self.selection.sorted();

        let mut databases: BTreeMap<String, String> = BTreeMap::new();
        for t in &tables {
            databases.entry(t.dest.schema.clone()).or_insert_with(|| t.source.schema.clone());
        }
        for (_, dest_view, _) in &views {
            databases.entry(dest_view.schema.clone()).or_default();
        }
        for (dest_db, source_db) in &databases {
            let sql = if source_db.is_empty() {
                format!("CREATE DATABASE IF NOT EXISTS {}", session::quote_ident(dest_db))
            } else {
                schema::create_database_sql(&mut self.conn, source_db, dest_db).await?
            };
            plan.before_data.push(DdlStep { what: format!("database {dest_db}"), sql, default_schema: None });
        }
        // Foreign keys follow table renames within a database.
        let mut renamed: HashMap<String, HashMap<String, String>> = HashMap::new();
        for t in &tables {
            renamed.entry(t.source.schema.clone()).or_default().insert(t.source.table.clone(), t.dest.table.clone());
        }
        let no_renames = HashMap::new();
        for t in &tables {
            let sql = schema::table_ddl(t, renamed.get(&t.source.schema).unwrap_or(&no_renames))?;
            plan.before_data.push(DdlStep { what: format!("table {}", t.dest), sql, default_schema: None });
        }
        for (_, dest_view, sql) in views {
            let step = DdlStep { what: format!("view {dest_view}"), sql, default_schema: Some(dest_view.schema.clone()) };
            plan.before_data.push(step);
        }
        Ok(plan)
    }
}

impl Source for MySqlSource {
    fn family(&self) -> EngineFamily {
        EngineFamily::MySql
    }

    fn tables(&self) -> &[SourceTable] {
        self.selection.tables()
    }

    fn retain_tables(&mut self, keep: &HashSet<TableId>) {
        self.selection.retain(keep);
    }

    fn native_schema_plan(&mut self) -> BoxFuture<'_, DbResult<SchemaPlan>> {
        Box::pin(self.mysql_schema_plan())
    }

    fn table_defs(&mut self) -> BoxFuture<'_, DbResult<Vec<TableDef>>> {
        Box::pin(async move {
            let tables = self.selection.sorted();
            Ok(translate::table_defs(&mut self.conn, &tables).await?)
        })
    }

    fn plan_chunks<'a>(&'a mut self, table: &'a SourceTable, chunk_rows: u64) -> BoxFuture<'a, DbResult<Vec<Chunk>>> {
        Box::pin(async move {
            let m = mapping(self.selection.mappings(), table)?.clone();
            Ok(snapshot::plan_chunks(&mut self.conn, &m, chunk_rows).await?)
        })
    }

    fn start_capture(&mut self, since: Option<i64>) -> BoxFuture<'_, DbResult<SourcePosition>> {
        Box::pin(async move {
            let position = match since {
                Some(at) => binlog::position_at_time(&self.endpoint, at, POSITION_TIMEOUT).await,
                None => binlog::current_position(&self.endpoint, POSITION_TIMEOUT).await,
            };
            position.map_err(binlog_error)
        })
    }

    /// Rows always travel as cells.
    fn produces(&self, _format: NativeFormat) -> bool {
        false
    }

    fn reader(&self) -> BoxFuture<'_, DbResult<Box<dyn ChunkReader>>> {
        Box::pin(async move {
            let conn = session::source(&self.endpoint).await?;
            Ok(Box::new(MySqlReader { conn, mappings: self.selection.mappings().clone(), in_snapshot: false }) as Box<dyn ChunkReader>)
        })
    }

    fn full_load_done(&mut self) {}

    fn changes(&self, start: SourcePosition) -> BoxFuture<'_, DbResult<Box<dyn ChangeStream>>> {
        Box::pin(async move {
            let list = self.db_list.clone();
            let cfg = BinlogSourceConfig {
                endpoint: self.endpoint.clone(),
                server_id: server_id(&self.job_id),
                start,
                heartbeat: Duration::from_secs(1),
                tables: Some(TableFilter(Arc::new(move |t: &TableId| list.select_table(&t.schema, &t.table).is_some()))),
            };
            let stream = BinlogSource::connect(cfg).await.map_err(binlog_error)?;
            Ok(Box::new(BinlogStream(stream)) as Box<dyn ChangeStream>)
        })
    }
}

/// Full-load reads on one source connection.
struct MySqlReader {
    conn: Conn,
    mappings: Mappings,
    in_snapshot: bool,
}

impl ChunkReader for MySqlReader {
    fn begin<'a>(&'a mut self, table: &'a SourceTable, exact: bool) -> BoxFuture<'a, DbResult<Option<SourcePosition>>> {
        Box::pin(async move {
            if !exact {
                return Ok(None);
            }
            let m = mapping(&self.mappings, table)?.clone();
            let position = snapshot::begin_consistent_read(&mut self.conn, &m).await?;
            self.in_snapshot = true;
            Ok(Some(position))
        })
    }

    fn read<'a>(
        &'a mut self,
        table: &'a SourceTable,
        chunk: &'a Chunk,
        batch_rows: usize,
        _native: Option<NativeFormat>,
        rows: mpsc::Sender<ChunkData>,
    ) -> BoxFuture<'a, DbResult<()>> {
        Box::pin(async move {
            let m = mapping(&self.mappings, table)?.clone();
            let read = snapshot::read_chunk(&mut self.conn, &m, chunk, batch_rows, |batch| {
                let rows = rows.clone();
                async move { rows.send(ChunkData::Rows(batch)).await.is_ok() }
            });
            read.await?;
            Ok(())
        })
    }

    fn end(&mut self) -> BoxFuture<'_, DbResult<()>> {
        Box::pin(async move {
            if std::mem::take(&mut self.in_snapshot) {
                snapshot::end_consistent_read(&mut self.conn).await?;
            }
            Ok(())
        })
    }
}

struct BinlogStream(BinlogSource);

impl ChangeStream for BinlogStream {
    fn next(&mut self) -> BoxFuture<'_, DbResult<ChangeEvent>> {
        Box::pin(async move { self.0.next().await.map_err(binlog_error) })
    }

    /// The binlog is the server's, not ours to release.
    fn confirm(&mut self, _position: &SourcePosition) {}
}

/// A MySQL-family destination.
pub(crate) struct MySqlSink {
    endpoint: Endpoint,
    conn: Conn,
    /// Fed by another engine: writes run in strict mode.
    strict: bool,
}

impl MySqlSink {
    pub(crate) async fn open(endpoint: &Endpoint, source: EngineFamily) -> DbResult<MySqlSink> {
        let strict = source != EngineFamily::MySql;
        Ok(MySqlSink { endpoint: endpoint.clone(), conn: session::sink(endpoint).await?, strict })
    }

    async fn writer_session(&self) -> DbResult<Conn> {
        let mut conn = session::sink(&self.endpoint).await?;
        if self.strict {
            session::make_strict(&mut conn).await?;
        }
        Ok(conn)
    }
}

impl Sink for MySqlSink {
    fn family(&self) -> EngineFamily {
        EngineFamily::MySql
    }

    fn native_formats<'a>(&'a mut self, _table: &'a SourceTable) -> BoxFuture<'a, DbResult<Vec<NativeFormat>>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn execute_ddl<'a>(&'a mut self, step: &'a DdlStep) -> BoxFuture<'a, DbResult<()>> {
        Box::pin(async move {
            if let Some(db) = &step.default_schema {
                let use_db = format!("USE {}", session::quote_ident(db));
                self.conn.query_drop(use_db).await.map_err(|e| DbError::from(MySqlError::other(step.what.clone(), e.to_string())))?;
            }
            Ok(sink::execute_ddl(&mut self.conn, &step.sql, &step.what).await?)
        })
    }

    fn existing_tables<'a>(&'a mut self, tables: &'a [TableId]) -> BoxFuture<'a, DbResult<HashSet<TableId>>> {
        Box::pin(async move { Ok(sink::existing_tables(&mut self.conn, tables.iter()).await?) })
    }

    fn columns<'a>(&'a mut self, table: &'a TableId) -> BoxFuture<'a, DbResult<Vec<String>>> {
        Box::pin(async move { Ok(sink::columns(&mut self.conn, table).await?) })
    }

    fn prepare_meta(&mut self) -> BoxFuture<'_, DbResult<()>> {
        Box::pin(async move { Ok(sink::prepare_meta(&mut self.conn).await?) })
    }

    fn done_chunks<'a>(&'a mut self, key: &'a str, table: &'a TableId) -> BoxFuture<'a, DbResult<HashSet<u32>>> {
        Box::pin(async move { Ok(sink::done_chunks(&mut self.conn, key, table).await?) })
    }

    fn done_rows<'a>(&'a mut self, key: &'a str) -> BoxFuture<'a, DbResult<u64>> {
        Box::pin(async move { Ok(sink::done_rows(&mut self.conn, key).await?) })
    }

    fn snapshot_positions<'a>(&'a mut self, key: &'a str) -> BoxFuture<'a, DbResult<Vec<(TableId, SourcePosition)>>> {
        Box::pin(async move {
            sink::prepare_meta(&mut self.conn).await?;
            Ok(sink::snapshot_positions(&mut self.conn, key).await?)
        })
    }

    fn chunk_writer(&self) -> BoxFuture<'_, DbResult<Box<dyn ChunkWriter>>> {
        Box::pin(async move { Ok(Box::new(MySqlChunkWriter { conn: self.writer_session().await? }) as Box<dyn ChunkWriter>) })
    }

    fn applier<'a>(&'a self, job_key: &'a str) -> BoxFuture<'a, DbResult<Box<dyn ChangeApplier>>> {
        Box::pin(async move {
            let mut applier = apply::ChangeApplier::connect(&self.endpoint, job_key).await?;
            if self.strict {
                applier.make_strict().await?;
            }
            Ok(Box::new(MySqlApplier(applier)) as Box<dyn ChangeApplier>)
        })
    }
}

struct MySqlChunkWriter {
    conn: Conn,
}

impl ChunkWriter for MySqlChunkWriter {
    fn write_chunk<'a>(
        &'a mut self,
        table: &'a SourceTable,
        mut rows: mpsc::Receiver<ChunkData>,
        checkpoint: ChunkCheckpoint<'a>,
    ) -> BoxFuture<'a, DbResult<u64>> {
        Box::pin(async move {
            let mut w = sink::ChunkWriter::begin(&mut self.conn, &table.dest, &table.dest_columns).await?;
            while let Some(data) = rows.recv().await {
                match data {
                    ChunkData::Rows(batch) => w.write(&batch).await?,
                    ChunkData::Native(..) => return Err(DbError::fatal("a MySQL destination takes rows as cells only")),
                    ChunkData::Complete => return Ok(w.commit(checkpoint.key, checkpoint.chunk, checkpoint.snapshot).await?),
                }
            }
            // Dropping the writer rolls the chunk back.
            Err(DbError::fatal(format!("the read of chunk {} of {} stopped early", checkpoint.chunk, table.source)))
        })
    }
}

/// The connector's applier, behind the pipeline's trait.
struct MySqlApplier(apply::ChangeApplier);

// MySQL plans as it applies: its batches come from the default planner, unplanned.
super::change_applier_adapter!(MySqlApplier, |applier, db_list, rows: Vec<opendts_core::change::RowChange>, position, time| {
    applier.apply_rows(db_list, &rows, position, time)
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_ids_are_stable_and_high() {
        assert_eq!(server_id("abc"), server_id("abc"));
        assert_ne!(server_id("abc"), server_id("abd"));
        assert!(server_id("abc") >= 0x4000_0000);
    }
}
