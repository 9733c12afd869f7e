//! Dispatch from an endpoint's engine family to its connector crate, and
//! each family's implementation of the pipeline's source and sink traits.

/// Implements the pipeline's `ChangeApplier` for a newtype around a
/// connector's applier, whose methods have the same shapes in every
/// connector but for applying a planned batch: the closure-like part says
/// how, given the batch's work as the sink's planner made it.
macro_rules! change_applier_adapter {
    ($wrapper:ident, |$applier:ident, $db_list:ident, $work:ident: $planned:ty, $position:ident, $time:ident| $apply:expr) => {
        impl $crate::pipeline::sink::ChangeApplier for $wrapper {
            fn checkpoint(&mut self) -> $crate::BoxFuture<'_, $crate::pipeline::DbResult<Option<::opendts_core::change::SourcePosition>>> {
                Box::pin(async move { Ok(self.0.checkpoint().await?.map(|(position, _)| position)) })
            }

            fn apply_batch<'a>(
                &'a mut self,
                db_list: &'a ::opendts_core::dblist::DbList,
                batch: $crate::pipeline::sink::PlannedBatch,
                position: &'a ::opendts_core::change::SourcePosition,
                source_time: i64,
            ) -> $crate::BoxFuture<'a, $crate::pipeline::DbResult<$crate::pipeline::sink::Applied>> {
                Box::pin(async move {
                    let $work: $planned = batch.into_work()?;
                    let ($applier, $db_list, $position, $time) = (&mut self.0, db_list, position, source_time);
                    let a = $apply.await?;
                    Ok($crate::pipeline::sink::Applied { rows: a.rows, bytes: a.bytes })
                })
            }

            fn apply_ddl<'a>(
                &'a mut self,
                db_list: &'a ::opendts_core::dblist::DbList,
                ddl: &'a ::opendts_core::change::DdlChange,
                position: &'a ::opendts_core::change::SourcePosition,
                source_time: i64,
            ) -> $crate::BoxFuture<'a, $crate::pipeline::DbResult<bool>> {
                Box::pin(async move { Ok(self.0.apply_ddl(db_list, ddl, position, source_time).await?) })
            }

            fn advance<'a>(
                &'a mut self,
                position: &'a ::opendts_core::change::SourcePosition,
                source_time: i64,
            ) -> $crate::BoxFuture<'a, $crate::pipeline::DbResult<()>> {
                Box::pin(async move { Ok(self.0.advance(position, source_time).await?) })
            }
        }
    };
}
use change_applier_adapter;

mod mysql;
mod postgres;
mod selection;

use crate::pipeline::sink::Sink;
use crate::pipeline::source::Source;
use crate::pipeline::{DbError, DbResult};
use opendts_core::dblist::DbList;
use opendts_core::endpoint::{EngineFamily, Endpoint};
use opendts_core::job::{Job, MigrationMode};
use opendts_core::status::JobType;
use opendts_core::reserve::{Reserve, TargetTableMode};
use opendts_core::tabledef::{DdlPlan, TableDef};
use opendts_core::typemap::Unmappable;
use opendts_core::probe::{EndpointRole, FailureKind, Outcome, ProbeReport};
use std::time::Duration;

/// How long one connectivity check may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

fn unsupported(ep: &Endpoint) -> Outcome {
    Outcome::fail(
        FailureKind::NotSupported,
        format!("OpenDTS cannot connect to {} databases yet (supported: MySQL, MariaDB, PostgreSQL).", display_engine(ep)),
    )
}

fn display_engine(ep: &Endpoint) -> &str {
    if ep.engine_name.is_empty() { "unnamed" } else { &ep.engine_name }
}

/// TCP reachability and driver login of one endpoint.
pub async fn probe_endpoint(ep: &Endpoint) -> ProbeReport {
    match ep.family() {
        EngineFamily::MySql => opendts_connector_mysql::probe(ep, PROBE_TIMEOUT).await,
        EngineFamily::PostgreSql => opendts_connector_postgres::probe(ep, PROBE_TIMEOUT).await,
        EngineFamily::Unsupported => ProbeReport { tcp: unsupported(ep), login: None },
    }
}

/// Whether the account has the privileges the chosen steps need.
pub async fn check_privileges(ep: &Endpoint, role: EndpointRole, mode: &MigrationMode) -> Outcome {
    match ep.family() {
        EngineFamily::MySql => opendts_connector_mysql::check_privileges(ep, role, mode, PROBE_TIMEOUT).await,
        EngineFamily::PostgreSql => {
            opendts_connector_postgres::check_privileges(ep, role, mode, PROBE_TIMEOUT).await
        }
        EngineFamily::Unsupported => unsupported(ep),
    }
}

/// The `testName` of the driver-login step, e.g. `MySQL JDBC Connect`.
pub fn driver_test_name(ep: &Endpoint) -> String {
    match ep.family() {
        EngineFamily::MySql => opendts_connector_mysql::driver_test_name().to_string(),
        EngineFamily::PostgreSql => opendts_connector_postgres::driver_test_name().to_string(),
        EngineFamily::Unsupported => format!("{} JDBC Connect", display_engine(ep)),
    }
}

/// Opens the job's source for the data path.
pub(crate) async fn open_source(ep: &Endpoint, db_list: &DbList, job_id: &str) -> DbResult<Box<dyn Source>> {
    match ep.family() {
        EngineFamily::MySql => Ok(Box::new(mysql::MySqlSource::open(ep, db_list, job_id).await?)),
        EngineFamily::PostgreSql => Ok(Box::new(postgres::PgSource::open(ep, db_list, job_id).await?)),
        EngineFamily::Unsupported => Err(DbError::fatal(format!("{} is not a supported source", display_engine(ep)))),
    }
}

/// Opens the job's destination for the data path.
pub(crate) async fn open_sink(ep: &Endpoint, job: &Job) -> DbResult<Box<dyn Sink>> {
    match ep.family() {
        EngineFamily::MySql => {
            let source = job.source.as_ref().map_or(EngineFamily::Unsupported, |s| s.family());
            Ok(Box::new(mysql::MySqlSink::open(ep, source).await?))
        }
        EngineFamily::PostgreSql => {
            let keep_existing = job
                .reserve
                .as_deref()
                .and_then(|r| Reserve::parse(r).ok())
                .is_some_and(|r| r.target_table_mode == Some(TargetTableMode::Ignore));
            Ok(Box::new(postgres::PgSink::open(ep, keep_existing).await?))
        }
        EngineFamily::Unsupported => Err(DbError::fatal(format!("{} is not a supported destination", display_engine(ep)))),
    }
}

/// Releases what change capture holds on a deleted job's source (a
/// PostgreSQL replication slot keeps WAL until it is dropped).
pub(crate) async fn release_capture(job: &Job) {
    let Some(source) = job.source.as_ref() else { return };
    let captures = job.migration_mode.data_synchronization || job.job_type == JobType::Subscribe;
    if source.family() == EngineFamily::PostgreSql && captures {
        postgres::release_capture(source, &job.job_id).await;
    }
}

/// The DDL creating tables a source of another engine described, in the
/// destination's dialect; every column that cannot be copied faithfully is
/// listed (for the precheck).
pub(crate) fn translate_schema(dest: EngineFamily, defs: &[TableDef]) -> Result<DdlPlan, Vec<Unmappable>> {
    match dest {
        EngineFamily::MySql => opendts_connector_mysql::translate::plan_from_postgres(defs),
        EngineFamily::PostgreSql => opendts_connector_postgres::translate::plan_from_mysql(defs),
        EngineFamily::Unsupported => Ok(DdlPlan::default()),
    }
}
