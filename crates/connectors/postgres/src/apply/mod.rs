//! Applying change streams to a PostgreSQL destination, in two steps that a
//! pipeline may overlap: a [`Planner`] turns a batch of source row changes
//! into a few statements ([`PlannedOps`]); the [`ChangeApplier`] runs them
//! and records the source position reached in the same destination
//! transaction (`opendts_meta.incremental_checkpoint`), so after a crash the
//! stream resumes exactly after the last applied change: nothing is applied
//! twice, nothing is skipped. The caller confirms a position to the source
//! (the WAL LSN, the binlog offset) only after the batch was applied.
//!
//! - Insert, and an update that lists every destination column: `INSERT ...
//!   ON CONFLICT (key) DO UPDATE SET` the listed columns (rows the source
//!   inserted first try a plain INSERT, see `statements.rs`).
//! - An update whose row omits columns (unchanged TOASTed values, see
//!   [`crate::wal`]): `UPDATE ... SET` only the listed columns `WHERE key =
//!   old key`; a row not found there is upserted instead.
//! - A key change with the whole row: delete the old key, upsert the new row.
//! - Delete: `DELETE ... WHERE key`.
//! - Tables without a key (no primary key, no unique index on NOT NULL
//!   columns): a delete removes one row equal to the old row in every listed
//!   column (`(tableoid, ctid)` of the first match); an insert is a plain
//!   INSERT; an update is both.
//!
//! Values travel as text ([`crate::cell`]) in `text[]` parameters, one array
//! per column, cast to the destination column's type on the server
//! (`unnest($1::text[], ...)` then `c0::<type>`), so every cell kind works
//! for every column type, and a statement's text does not depend on its row
//! count (statements are prepared once and cached). Changes are merged into
//! few statements per table where that gives the same result (`ops.rs`).
//!
//! Files: `dest.rs` (the destination table's shape), `ops.rs` (operations
//! and how they merge), `plan.rs` (changes → operations), `statements.rs`
//! (SQL and execution), `ddl_replay.rs` (captured DDL on the destination).

mod ddl_replay;
mod dest;
mod ops;
mod plan;
mod statements;

pub use ddl_replay::{rewrite_ddl, ALREADY_APPLIED, ALREADY_DROPPED};
pub use plan::{PlannedOps, Planner};

use crate::error::{guarded, Context, PgError};
use crate::sink::META_SCHEMA;
use ddl_replay::{replayable, run_ddl, truncate};
use opendts_core::change::{DdlChange, DdlKind, RowChange, SourcePosition};
use opendts_core::dblist::DbList;
use opendts_core::endpoint::Endpoint;
use opendts_core::row::TableId;
use statements::{execute, prepared};
use std::collections::HashMap;
use tokio_postgres::{Client, Statement, Transaction};

/// Statistics of one applied batch.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub rows: u64,
    pub bytes: u64,
}


/// Writes changes to one PostgreSQL destination for one job.
pub struct ChangeApplier {
    client: Client,
    job_key: String,
    /// Plans the batches given to [`ChangeApplier::apply_rows`].
    planner: Planner,
    statements: HashMap<String, Statement>,
    /// See [`execute`](statements::execute).
    wary: HashMap<TableId, u32>,
}

impl ChangeApplier {
    /// Connects to the destination and creates the checkpoint table if needed.
    pub async fn connect(ep: &Endpoint, job_key: &str) -> Result<ChangeApplier, PgError> {
        let client = crate::session::sink(ep).await?;
        let sql = format!(
            "CREATE SCHEMA IF NOT EXISTS {META_SCHEMA};
             CREATE TABLE IF NOT EXISTS {META_SCHEMA}.incremental_checkpoint (
                job_id text NOT NULL PRIMARY KEY, position text NOT NULL,
                source_time bigint NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        );
        let what = || "create the incremental checkpoint table".to_string();
        // Concurrent creators may race in the catalog: retried once.
        match client.batch_execute(&sql).await.context(what) {
            Err(e) if matches!(e.sqlstate(), Some("23505" | "42P06" | "42P07")) => client.batch_execute(&sql).await.context(what)?,
            other => other?,
        }
        let planner = Planner::new(&client).await?;
        Ok(ChangeApplier { client, job_key: job_key.to_string(), planner, statements: HashMap::new(), wary: HashMap::new() })
    }

    /// The source position after the last change applied, and its source time.
    pub async fn checkpoint(&mut self) -> Result<Option<(SourcePosition, i64)>, PgError> {
        let what = || "read the incremental checkpoint".to_string();
        let row = self
            .client
            .query_opt(
                &format!("SELECT position, source_time FROM {META_SCHEMA}.incremental_checkpoint WHERE job_id = $1"),
                &[&self.job_key],
            )
            .await
            .context(what)?;
        let Some(row) = row else { return Ok(None) };
        let text: String = row.try_get(0).context(what)?;
        let time: i64 = row.try_get(1).context(what)?;
        serde_json::from_str(&text).map(|p| Some((p, time))).map_err(|e| PgError::other(what(), e.to_string()))
    }

}


impl ChangeApplier {
    /// Applies row changes (several source transactions may be batched) and
    /// records `position` in the same destination transaction: either all of
    /// it is committed or none. Plans and applies in one call; a pipeline
    /// plans with a [`Planner`] of its own and calls [`Self::apply_planned`].
    pub async fn apply_rows(
        &mut self,
        db_list: &DbList,
        changes: &[RowChange],
        position: &SourcePosition,
        source_time: i64,
    ) -> Result<Applied, PgError> {
        let planned = match self.planner.plan(&self.client, db_list, changes.to_vec()).await {
            Ok(planned) => planned,
            Err(e) => {
                self.planner.forget_tables();
                return Err(e);
            }
        };
        self.apply_planned(planned, position, source_time).await
    }

    /// Applies a planned batch and records `position` in the same
    /// destination transaction: either all of it is committed or none.
    pub async fn apply_planned(&mut self, planned: PlannedOps, position: &SourcePosition, source_time: i64) -> Result<Applied, PgError> {
        let result = self.apply_planned_inner(planned, position, source_time).await;
        if result.is_err() {
            // The destination may have changed under the cached shapes.
            self.planner.forget_tables();
            self.statements.clear();
        }
        result
    }

    async fn apply_planned_inner(&mut self, planned: PlannedOps, position: &SourcePosition, source_time: i64) -> Result<Applied, PgError> {
        let ChangeApplier { client, job_key, statements, wary, .. } = self;
        let tx = guarded(client.transaction(), || "begin applying changes".into()).await?;
        // Every row operation counts as applied, including those a later
        // change of the batch made moot (merged away).
        for op in planned.ops {
            execute(&tx, statements, wary, op).await?;
        }
        record(&tx, statements, job_key, position, source_time).await?;
        guarded(tx.commit(), || "commit applied changes".into()).await?;
        Ok(planned.applied)
    }

    /// Applies a DDL change the DbList selects and its `ddl_op` allows, in
    /// the transaction that records the position (PostgreSQL's DDL is
    /// transactional, so a crash never applies it without its checkpoint).
    ///
    /// - TRUNCATE (from pgoutput, names its tables): each selected table that
    ///   exists on the destination is truncated under its destination name.
    /// - Captured DDL (see [`crate::wal::ddl`]): the statement runs with
    ///   `SET LOCAL search_path` set to the destination schema of
    ///   `ddl.schema`, with schema and table names the DbList renames
    ///   rewritten ([`rewrite_ddl`]); a statement that cannot be rewritten
    ///   safely is skipped with a warning. Errors meaning the destination is
    ///   already in the statement's end state ([`ALREADY_APPLIED`],
    ///   [`ALREADY_DROPPED`]) are
    ///   tolerated with a warning.
    ///
    /// Returns whether a statement ran.
    pub async fn apply_ddl(
        &mut self,
        db_list: &DbList,
        ddl: &DdlChange,
        position: &SourcePosition,
        source_time: i64,
    ) -> Result<bool, PgError> {
        let result = self.apply_ddl_inner(db_list, ddl, position, source_time).await;
        // Table shapes and prepared statements may not hold after DDL.
        self.planner.forget_tables();
        self.statements.clear();
        result
    }

    async fn apply_ddl_inner(
        &mut self,
        db_list: &DbList,
        ddl: &DdlChange,
        position: &SourcePosition,
        source_time: i64,
    ) -> Result<bool, PgError> {
        let statement = if ddl.kind == DdlKind::TruncateTable { None } else { replayable(db_list, ddl) };
        let ChangeApplier { client, job_key, statements, .. } = self;
        let tx = guarded(client.transaction(), || "begin applying DDL".into()).await?;
        let ran = match &statement {
            _ if ddl.kind == DdlKind::TruncateTable => truncate(&tx, db_list, ddl).await?,
            Some((schema, sql)) => run_ddl(&tx, schema, sql).await?,
            None => false,
        };
        record(&tx, statements, job_key, position, source_time).await?;
        guarded(tx.commit(), || "commit DDL".into()).await?;
        Ok(ran)
    }

    /// Records a position without changes (heartbeats, filtered transactions).
    pub async fn advance(&mut self, position: &SourcePosition, source_time: i64) -> Result<(), PgError> {
        let ChangeApplier { client, job_key, statements, .. } = self;
        let tx = guarded(client.transaction(), || "begin checkpoint".into()).await?;
        record(&tx, statements, job_key, position, source_time).await?;
        guarded(tx.commit(), || "commit checkpoint".into()).await
    }
}


async fn record(
    tx: &Transaction<'_>,
    cache: &mut HashMap<String, Statement>,
    job_key: &str,
    position: &SourcePosition,
    source_time: i64,
) -> Result<(), PgError> {
    let text = serde_json::to_string(position).map_err(|e| PgError::other("record the checkpoint", e.to_string()))?;
    let sql = format!(
        "INSERT INTO {META_SCHEMA}.incremental_checkpoint (job_id, position, source_time, applied_at) VALUES ($1, $2, $3, now())
         ON CONFLICT (job_id) DO UPDATE SET position = EXCLUDED.position, source_time = EXCLUDED.source_time, applied_at = now()"
    );
    let st = prepared(tx, cache, sql).await?;
    guarded(tx.execute(&st, &[&job_key, &text, &source_time]), || "record the checkpoint".into()).await?;
    Ok(())
}

