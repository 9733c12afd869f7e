//! Schema migration: databases, then tables, then views, on the destination.
//! Progress is counted in objects; re-running it is harmless (IF NOT EXISTS /
//! OR REPLACE), so a resumed job simply runs it again.

use super::PipelineError;
use crate::engine::Engine;
use crate::worker::update;
use opendts_connector_mysql::{schema, session, sink};
use opendts_core::dblist::DbList;
use opendts_core::endpoint::Endpoint;
use opendts_core::job::Job;
use std::collections::{BTreeMap, HashMap};

pub(super) async fn run(engine: &Engine, job: &Job, db_list: &DbList, source: &Endpoint, dest: &Endpoint) -> Result<(), PipelineError> {
    if job.structure.status == "Finished" {
        return Ok(());
    }
    let mut src = session::source(source).await?;
    let mut out = session::sink(dest).await?;
    let tables = schema::selected_tables(&mut src, db_list).await?;
    let views = schema::selected_views(&mut src, db_list).await?;
    let total = tables.len() + views.len();
    update(engine, &job.job_id, job.epoch, |j| {
        j.structure.status = "Migrating".into();
        j.structure.progress = format!("0/{total}");
        j.structure.percent = 0;
    })?;

    // Databases first, once each.
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
            schema::create_database_sql(&mut src, source_db, dest_db).await?
        };
        sink::execute_ddl(&mut out, &sql, &format!("database {dest_db}")).await?;
    }

    // Foreign keys follow table renames within a database.
    let mut renamed: HashMap<String, HashMap<String, String>> = HashMap::new();
    for t in &tables {
        renamed.entry(t.source.schema.clone()).or_default().insert(t.source.table.clone(), t.dest.table.clone());
    }
    let no_renames = HashMap::new();
    let mut done = 0usize;
    for t in &tables {
        let ddl = schema::table_ddl(t, renamed.get(&t.source.schema).unwrap_or(&no_renames))?;
        sink::execute_ddl(&mut out, &ddl, &format!("table {}", t.dest)).await?;
        done += 1;
        report(engine, job, done, total)?;
    }
    for (_, dest_view, ddl) in &views {
        let use_db = format!("USE {}", session::quote_ident(&dest_view.schema));
        sink::execute_ddl(&mut out, &use_db, &format!("view {dest_view}")).await?;
        sink::execute_ddl(&mut out, ddl, &format!("view {dest_view}")).await?;
        done += 1;
        report(engine, job, done, total)?;
    }
    update(engine, &job.job_id, job.epoch, |j| {
        j.structure.status = "Finished".into();
        j.structure.percent = 100;
        j.structure.progress = format!("{total}/{total}");
    })?;
    tracing::info!(job_id = %job.job_id, tables = tables.len(), views = views.len(), "schema migration finished");
    Ok(())
}

fn report(engine: &Engine, job: &Job, done: usize, total: usize) -> Result<(), PipelineError> {
    update(engine, &job.job_id, job.epoch, |j| {
        j.structure.progress = format!("{done}/{total}");
        j.structure.percent = (done * 100 / total.max(1)) as u32;
    })?;
    Ok(())
}
