//! Change tracking: a subscription task captures the changes of the objects
//! its DbList selects (DML and/or DDL, as SubscriptionDataTypeDML/DDL say)
//! into its durable change log, `<data dir>/changelog/<job id>`, one record
//! per row change or DDL statement in the format Reserve `kafkaRecordFormat`
//! names: `dts_avro` (the default, as DTS delivers) or `canal_json`
//! (docs/record-formats.md). Consumers read the log by offset or by time.
//!
//! No loss, no duplicate: each source transaction is appended as one batch,
//! which the log keeps whole or not at all, and every record carries the
//! source position after its transaction. A restarted capture resumes from
//! the last record's position, so it neither skips nor repeats a transaction.
//! The source is told a position is consumed (a PostgreSQL slot may then
//! recycle WAL) only once the log has it on disk.

use super::incremental::{self, spawn_reader, Stats, START_KEY};
use super::source::Source;
use super::{canal_json, dts_avro, DbError, PipelineError};
use crate::engine::Engine;
use crate::worker::update;
use crate::engine::SharedLog;
use opendts_changelog::Record;
use opendts_core::change::{ChangeEvent, SourcePosition};
use opendts_core::dblist::DbList;
use opendts_core::endpoint::EngineFamily;
use opendts_core::reserve::{KafkaRecordFormat, Reserve};
use opendts_core::job::Job;
use opendts_core::row::{TableId, TableSchema};
use opendts_core::status::JobStatus;
use opendts_core::timefmt::now_millis;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;

/// How records are written.
#[derive(Debug, Clone, Copy)]
enum Format {
    DtsAvro(dts_avro::SourceKind),
    CanalJson,
}

fn format_of(job: &Job, source: EngineFamily) -> Result<Format, PipelineError> {
    let chosen = job.reserve.as_deref().and_then(|r| Reserve::parse(r).ok()).and_then(|r| r.kafka_record_format);
    match chosen {
        None | Some(KafkaRecordFormat::DtsAvro) => Ok(Format::DtsAvro(match source {
            EngineFamily::PostgreSql => dts_avro::SourceKind::PostgreSql,
            _ => dts_avro::SourceKind::MySql,
        })),
        Some(KafkaRecordFormat::CanalJson) => Ok(Format::CanalJson),
        Some(other) => Err(PipelineError::Fatal(format!(
            "DTS-10015: the record format {other:?} is not supported for change tracking (use dts_avro or canal_json)"
        ))),
    }
}

/// A source position as record text: `file:pos` of a binlog, or an LSN.
fn position_text(position: &SourcePosition) -> String {
    match position {
        SourcePosition::Binlog { file, pos, .. } => format!("{file}:{pos}"),
        SourcePosition::Lsn(lsn) => format!("{:X}/{:X}", lsn >> 32, lsn & 0xffff_ffff),
    }
}

/// Most records appended in one batch (several small transactions together).
const MAX_BATCH_RECORDS: usize = 5_000;

fn log_error(e: impl std::fmt::Display) -> PipelineError {
    PipelineError::Fatal(format!("DTS-10014: the change log cannot be written: {e}"))
}

/// Where a task's change log lives.
pub(crate) fn log_dir(engine: &Engine, job_id: &str) -> PathBuf {
    engine.store().data_dir().join("changelog").join(job_id)
}

/// How often old segments are dropped from the log (retention window).
const RETENTION_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Drops the segments older than the retention window.
async fn enforce_retention(log: &SharedLog) -> Result<(), PipelineError> {
    let writer = log.writer.clone();
    let dropped = tokio::task::spawn_blocking(move || {
        writer.lock().unwrap_or_else(|p| p.into_inner()).enforce_retention(now_millis())
    })
    .await
    .map_err(log_error)?
    .map_err(log_error)?;
    if dropped > 0 {
        tracing::info!(records = dropped, "change log records past the retention window dropped");
    }
    Ok(())
}

/// Appends a batch on a blocking thread (the log writes and fsyncs files).
async fn append(log: &SharedLog, records: Vec<Record>) -> Result<(), PipelineError> {
    let writer = log.writer.clone();
    tokio::task::spawn_blocking(move || writer.lock().unwrap_or_else(|p| p.into_inner()).append(&records).map(|_| ()))
        .await
        .map_err(log_error)?
        .map_err(log_error)?;
    log.appended.notify_waiters();
    Ok(())
}

pub(super) async fn run(engine: &Engine, job: &Job, db_list: &DbList, source: &mut dyn Source) -> Result<(), PipelineError> {
    let handle = engine.handle();
    let job_id = job.job_id.clone();
    let log = tokio::task::spawn_blocking(move || handle.upgrade().map(|e| e.change_log(&job_id)))
        .await
        .map_err(log_error)?
        .ok_or_else(|| log_error("the engine is shutting down"))?
        .map_err(log_error)?;
    let start = match log.reader.last_source_position() {
        Some(bytes) => serde_json::from_slice::<SourcePosition>(&bytes).map_err(log_error)?,
        None => {
            incremental::remember_start(engine, job, source).await?;
            let text = engine
                .store()
                .job_state(&job.job_id, START_KEY)
                .map_err(|e| PipelineError::Fatal(e.to_string()))?
                .ok_or_else(|| PipelineError::Fatal("DTS-10008: the capture start position was never recorded".into()))?;
            serde_json::from_str::<SourcePosition>(&text).map_err(|e| PipelineError::Fatal(e.to_string()))?
        }
    };
    tracing::info!(job_id = %job.job_id, ?start, end_offset = log.reader.end_offset(), "change capture starting");
    let format = format_of(job, source.family())?;
    let schemas: HashMap<TableId, Arc<TableSchema>> = source.tables().iter().map(|t| (t.source.clone(), t.schema.clone())).collect();
    let stream = source.changes(start).await?;
    let (confirm, confirmed) = watch::channel(None);
    let (_reader, mut rx) = spawn_reader(stream, confirmed);
    update(engine, &job.job_id, job.epoch, |j| {
        j.status = JobStatus::Normal;
        j.incremental.status = "Migrating".into();
    })?;

    let mut stats = Stats::new();
    let mut retained = std::time::Instant::now() - RETENTION_EVERY;
    loop {
        if retained.elapsed() >= RETENTION_EVERY {
            enforce_retention(&log).await?;
            retained = std::time::Instant::now();
        }
        let Some(first) = rx.recv().await else {
            return Err(DbError { retryable: true, message: "the change stream reader stopped".into() }.into());
        };
        let mut event = Some(first?);
        let mut records: Vec<Record> = Vec::new();
        // A record's id is the log offset it gets (one writer: the end offset now).
        let next_id = log.reader.end_offset() as i64;
        let mut last: Option<(SourcePosition, u32)> = None;
        // The source's idle point after everything read so far, if it sent one.
        let mut idle: Option<SourcePosition> = None;
        while let Some(ev) = event.take() {
            match ev {
                ChangeEvent::Transaction { rows, position, timestamp } => {
                    let at = serde_json::to_vec(&position).map_err(log_error)?;
                    let text = position_text(&position);
                    let (commit_ms, now) = (i64::from(timestamp) * 1000, now_millis());
                    for row in rows.iter().filter(|r| job.subscription_dml && db_list.select_table(&r.table.schema, &r.table.table).is_some()) {
                        let schema = schemas.get(&row.table).map(|s| s.as_ref());
                        let id = next_id + records.len() as i64;
                        let value = match format {
                            Format::CanalJson => canal_json::row_record(row, schema, commit_ms, now),
                            Format::DtsAvro(kind) => dts_avro::row_record(row, schema, kind, id, &text, i64::from(timestamp), now),
                        };
                        records.push(Record { timestamp_ms: commit_ms, key: None, value, source_position: at.clone() });
                    }
                    last = Some((position, timestamp));
                    idle = None;
                }
                ChangeEvent::Ddl { ddl, position, timestamp } => {
                    let selected = ddl.tables.iter().any(|t| db_list.select_table(&t.schema, &t.table).is_some())
                        || db_list.select_database(&ddl.schema).is_some();
                    if job.subscription_ddl && selected {
                        let at = serde_json::to_vec(&position).map_err(log_error)?;
                        let commit_ms = i64::from(timestamp) * 1000;
                        let id = next_id + records.len() as i64;
                        let value = match format {
                            Format::CanalJson => canal_json::ddl_record(&ddl, commit_ms, now_millis()),
                            Format::DtsAvro(kind) => {
                                dts_avro::ddl_record(&ddl, kind, id, &position_text(&position), i64::from(timestamp), now_millis())
                            }
                        };
                        records.push(Record { timestamp_ms: commit_ms, key: None, value, source_position: at });
                    }
                    last = Some((position, timestamp));
                    idle = None;
                }
                ChangeEvent::Heartbeat { position, timestamp } => {
                    stats.heartbeat(timestamp);
                    idle = Some(position);
                }
            }
            if records.len() < MAX_BATCH_RECORDS {
                if let Ok(next) = rx.try_recv() {
                    event = Some(next?);
                }
            }
        }
        let count = records.len() as u64;
        let bytes: u64 = records.iter().map(|r| r.value.len() as u64).sum();
        if !records.is_empty() {
            append(&log, records).await?;
        }
        // Transactions without a record (other tables, DML not subscribed)
        // move the checkpoint too.
        if let Some((position, ts)) = last {
            stats.applied(count, bytes, ts);
            // On disk now: the source may let go of what precedes it.
            confirm.send_replace(Some(position));
        }
        // Nothing for this job up to an idle point (it follows everything read
        // before it, now on disk): the source may let its log go up to there,
        // or a PostgreSQL slot would keep every other database's WAL while the
        // subscribed tables are quiet. A restart from the log's last record
        // skips nothing: the source has nothing for the job in between.
        if let Some(position) = idle {
            confirm.send_replace(Some(position));
        }
        if stats.due() {
            stats.report(engine, job)?;
        }
    }
}
