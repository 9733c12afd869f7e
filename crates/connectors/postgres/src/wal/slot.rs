//! The publication and logical replication slot of a job.

use super::{replication_config, WalError};
use crate::{login, tcp};
use opendts_core::dblist::DbList;
use opendts_core::endpoint::Endpoint;
use opendts_core::row::TableId;
use pgwire_replication::ReplicationClient;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

/// The name of a job's slot and publication: `opendts_<job>`, lower-cased,
/// with characters other than `[a-z0-9_]` replaced by `_`, at most 63 bytes.
pub fn object_name(job_id: &str) -> String {
    let mut s: String = format!("opendts_{job_id}")
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' { c } else { '_' })
        .collect();
    s.truncate(63);
    s
}

/// What [`ensure_slot_and_publication`] found or created.
///
/// When the slot was created by this call, `snapshot` names the snapshot
/// exported at its consistent point: a full load that runs
/// `BEGIN ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION SNAPSHOT '<name>'`
/// sees exactly the data before `consistent_lsn`, and streaming from
/// `consistent_lsn` yields exactly what came after. The snapshot lives only
/// as long as the replication session that created it: this value holds that
/// session open until [`SlotInfo::release_snapshot`] or drop, so keep it
/// until every full-load transaction has imported the snapshot.
///
/// When the slot already existed, `created` is false, `snapshot` is `None`
/// (a snapshot cannot be exported again) and `consistent_lsn` is the slot's
/// `confirmed_flush_lsn`, the point streaming resumes from.
pub struct SlotInfo {
    pub slot: String,
    pub publication: String,
    pub consistent_lsn: u64,
    pub snapshot: Option<String>,
    pub created: bool,
    holder: Option<ReplicationClient>,
}

impl SlotInfo {
    /// Ends the session that keeps the exported snapshot importable.
    pub fn release_snapshot(&mut self) {
        self.holder = None;
    }
}

impl std::fmt::Debug for SlotInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotInfo")
            .field("slot", &self.slot)
            .field("publication", &self.publication)
            .field("consistent_lsn", &super::lsn_text(self.consistent_lsn))
            .field("snapshot", &self.snapshot)
            .field("created", &self.created)
            .field("snapshot_held", &self.holder.is_some())
            .finish()
    }
}

/// The state of a replication slot, from `pg_replication_slots`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotState {
    pub active: bool,
    pub confirmed_flush_lsn: Option<u64>,
    pub restart_lsn: Option<u64>,
    /// `pg_current_wal_lsn() - confirmed_flush_lsn` in bytes (the slot lag).
    pub lag_bytes: Option<u64>,
}

pub(super) async fn sql_client(ep: &Endpoint) -> Result<tokio_postgres::Client, WalError> {
    let t = tcp::target(ep).map_err(|o| WalError::Connect(o.detail))?;
    login::connect(ep, &t, TIMEOUT).await.map_err(|o| WalError::Connect(o.detail))
}

pub(super) fn sql_err(what: &str, e: tokio_postgres::Error) -> WalError {
    WalError::Sql(format!("{what}: {}", login::classify(&e).1))
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// What a job's publication carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicationSpec {
    /// The selected tables.
    pub tables: Vec<TableId>,
    /// Schemas the DbList selects whole ([`whole_schemas`]): tables created
    /// in (or moved into) them later join the publication, from the DDL
    /// capture trigger, in the transaction that created them. Needs `ddl_log`.
    pub follow_schemas: Vec<String>,
    /// Also publish `opendts_meta.ddl_log`, so that captured DDL reaches the
    /// WAL source. [`install_ddl_capture`](super::install_ddl_capture) first.
    pub ddl_log: bool,
}

/// The schemas `db_list` selects whole (`all: true`): those named literally,
/// and those a pattern matches among the schemas of `tables`.
pub fn whole_schemas(db_list: &DbList, tables: &[TableId]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let literal = db_list.databases().iter().filter(|d| d.all && !d.source.is_pattern()).map(|d| d.source.as_str().to_string());
    let matched = tables.iter().filter(|t| db_list.select_database(&t.schema).is_some_and(|d| d.all)).map(|t| t.schema.clone());
    for s in literal.chain(matched) {
        if !out.contains(&s) && !crate::schema::is_system(&s) {
            out.push(s);
        }
    }
    out
}

/// Creates (or brings up to date) the job's publication for exactly `tables`
/// and creates its pgoutput slot with an exported snapshot when it does not
/// exist yet. Idempotent: a second call sets the publication's table list to
/// `tables` and reports the existing slot. The publication and the slot live
/// in the endpoint's database (`postgres` when none).
pub async fn ensure_slot_and_publication(ep: &Endpoint, job_id: &str, tables: &[TableId]) -> Result<SlotInfo, WalError> {
    let spec = PublicationSpec { tables: tables.to_vec(), ..Default::default() };
    ensure_slot_and_publication_with(ep, job_id, &spec).await
}

/// [`ensure_slot_and_publication`] with DDL capture: the publication also
/// carries `opendts_meta.ddl_log` and keeps the tables that joined it
/// since (those of `follow_schemas`), and `follow_schemas` are registered
/// for the capture trigger.
pub async fn ensure_slot_and_publication_with(ep: &Endpoint, job_id: &str, spec: &PublicationSpec) -> Result<SlotInfo, WalError> {
    if spec.tables.is_empty() && !spec.ddl_log {
        return Err(WalError::InvalidArgument("a publication needs at least one table".into()));
    }
    if !spec.follow_schemas.is_empty() && !spec.ddl_log {
        return Err(WalError::InvalidArgument("following schemas needs the DDL capture (ddl_log)".into()));
    }
    let name = object_name(job_id);
    let client = sql_client(ep).await?;
    publish(&client, &name, spec).await?;
    if let Some(state) = slot_state_with(&client, &name).await? {
        return Ok(existing(name, state));
    }
    let mut session = ReplicationClient::connect_gated(replication_config(ep, &name, &name, 0)?)
        .await
        .map_err(|e| WalError::Replication(e.to_string()))?;
    let cmd = format!("CREATE_REPLICATION_SLOT {} LOGICAL pgoutput EXPORT_SNAPSHOT", quote_ident(&name));
    match session.simple_query(&cmd).await {
        Ok(rows) => {
            let row = rows.into_iter().next().ok_or_else(|| WalError::Protocol(format!("{cmd}: no row")))?;
            let col = |i: usize| row.get(i).and_then(|v| v.as_ref()).map(|b| String::from_utf8_lossy(b).into_owned());
            let lsn = col(1).ok_or_else(|| WalError::Protocol(format!("{cmd}: no consistent_point")))?;
            Ok(SlotInfo {
                slot: name.clone(),
                publication: name,
                consistent_lsn: super::parse_lsn(&lsn)?,
                snapshot: col(2),
                created: true,
                holder: Some(session),
            })
        }
        Err(e) => {
            drop(session);
            // Created concurrently by another caller: report it.
            match slot_state_with(&client, &name).await? {
                Some(state) => Ok(existing(name, state)),
                None => Err(WalError::Replication(format!("{cmd}: {e}"))),
            }
        }
    }
}

/// A snapshot exported by a temporary slot: a transaction that imports
/// `name` sees exactly the transactions whose commit the slot would not
/// stream, i.e. those ending at or before `lsn`. The temporary slot (and the
/// snapshot) live as long as this value.
pub struct ExportedSnapshot {
    pub name: String,
    pub lsn: u64,
    _holder: ReplicationClient,
}

impl std::fmt::Debug for ExportedSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportedSnapshot").field("name", &self.name).field("lsn", &super::lsn_text(self.lsn)).finish()
    }
}

/// Exports a snapshot whose position in the WAL is known, through a
/// temporary slot of the job (dropped by the server when the value goes).
/// Used to read a table consistently with a known position after the job's
/// own slot snapshot is gone (a resumed full load).
pub async fn export_snapshot(ep: &Endpoint, job_id: &str) -> Result<ExportedSnapshot, WalError> {
    let mut suffix = [0u8; 4];
    getrandom::fill(&mut suffix).map_err(|e| WalError::Replication(format!("no randomness for a slot name: {e}")))?;
    let mut name = object_name(job_id);
    name.truncate(50);
    name.push_str(&format!("_s{}", suffix.iter().map(|b| format!("{b:02x}")).collect::<String>()));
    let mut session = ReplicationClient::connect_gated(replication_config(ep, &name, &name, 0)?)
        .await
        .map_err(|e| WalError::Replication(e.to_string()))?;
    let cmd = format!("CREATE_REPLICATION_SLOT {} TEMPORARY LOGICAL pgoutput EXPORT_SNAPSHOT", quote_ident(&name));
    let rows = session.simple_query(&cmd).await.map_err(|e| WalError::Replication(format!("{cmd}: {e}")))?;
    let row = rows.into_iter().next().ok_or_else(|| WalError::Protocol(format!("{cmd}: no row")))?;
    let col = |i: usize| row.get(i).and_then(|v| v.as_ref()).map(|b| String::from_utf8_lossy(b).into_owned());
    let lsn = super::parse_lsn(&col(1).ok_or_else(|| WalError::Protocol(format!("{cmd}: no consistent_point")))?)?;
    let snapshot = col(2).ok_or_else(|| WalError::Protocol(format!("{cmd}: no snapshot name")))?;
    Ok(ExportedSnapshot { name: snapshot, lsn, _holder: session })
}

/// Creates or updates the publication, and the capture's registry of the
/// schemas it follows.
async fn publish(client: &tokio_postgres::Client, name: &str, spec: &PublicationSpec) -> Result<(), WalError> {
    let mut tables = spec.tables.clone();
    if spec.ddl_log {
        tables.push(TableId::new(super::CAPTURE_SCHEMA, super::LOG_TABLE));
        // Tables the trigger added since: keep them.
        let rows = client
            .query(
                "SELECT schemaname::text, tablename::text FROM pg_catalog.pg_publication_tables WHERE pubname = $1 AND schemaname = ANY($2)",
                &[&name, &spec.follow_schemas],
            )
            .await
            .map_err(|e| sql_err("reading pg_publication_tables", e))?;
        tables.extend(rows.iter().map(|r| TableId::new(r.get::<_, String>(0), r.get::<_, String>(1))));
    }
    let mut list: Vec<String> = tables.iter().map(|t| format!("{}.{}", quote_ident(&t.schema), quote_ident(&t.table))).collect();
    list.sort();
    list.dedup();
    let list = list.join(", ");
    let exists = client
        .query_opt("SELECT 1 FROM pg_publication WHERE pubname = $1", &[&name])
        .await
        .map_err(|e| sql_err("reading pg_publication", e))?
        .is_some();
    let stmt = if exists {
        format!("ALTER PUBLICATION {} SET TABLE {list}", quote_ident(name))
    } else {
        format!("CREATE PUBLICATION {} FOR TABLE {list}", quote_ident(name))
    };
    client.batch_execute(&stmt).await.map_err(|e| sql_err(&stmt, e))?;
    if spec.ddl_log {
        let what = "registering the schemas the publication follows";
        client
            .execute(
                "DELETE FROM opendts_meta.ddl_publications WHERE publication = $1 AND NOT (schema_name = ANY($2))",
                &[&name, &spec.follow_schemas],
            )
            .await
            .map_err(|e| sql_err(what, e))?;
        client
            .execute(
                "INSERT INTO opendts_meta.ddl_publications (publication, schema_name) SELECT $1, unnest($2::text[])
                 ON CONFLICT DO NOTHING",
                &[&name, &spec.follow_schemas],
            )
            .await
            .map_err(|e| sql_err(what, e))?;
    }
    Ok(())
}

fn existing(name: String, state: SlotState) -> SlotInfo {
    SlotInfo {
        slot: name.clone(),
        publication: name,
        consistent_lsn: state.confirmed_flush_lsn.unwrap_or(0),
        snapshot: None,
        created: false,
        holder: None,
    }
}

async fn slot_state_with(client: &tokio_postgres::Client, slot: &str) -> Result<Option<SlotState>, WalError> {
    let row = client
        .query_opt(
            "SELECT active, confirmed_flush_lsn::text, restart_lsn::text, \
             (pg_current_wal_lsn() - confirmed_flush_lsn)::text \
             FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .await
        .map_err(|e| sql_err("reading pg_replication_slots", e))?;
    let Some(row) = row else { return Ok(None) };
    let lsn = |i: usize| -> Result<Option<u64>, WalError> {
        row.get::<_, Option<String>>(i).map(|s| super::parse_lsn(&s)).transpose()
    };
    Ok(Some(SlotState {
        active: row.get(0),
        confirmed_flush_lsn: lsn(1)?,
        restart_lsn: lsn(2)?,
        lag_bytes: row.get::<_, Option<String>>(3).and_then(|s| s.parse::<f64>().ok()).map(|v| v.max(0.0) as u64),
    }))
}

/// The state of slot `slot`, or `None` when it does not exist.
pub async fn slot_state(ep: &Endpoint, slot: &str) -> Result<Option<SlotState>, WalError> {
    slot_state_with(&sql_client(ep).await?, slot).await
}

/// Drops the job's slot and publication when they exist (used on
/// DeleteDtsJob). A slot still held by a session (a reader that has not
/// stopped yet) is freed by terminating that session's backend first.
pub async fn drop_slot_and_publication(ep: &Endpoint, job_id: &str) -> Result<(), WalError> {
    let name = object_name(job_id);
    let client = sql_client(ep).await?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let row = client
            .query_opt("SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1", &[&name])
            .await
            .map_err(|e| sql_err("reading pg_replication_slots", e))?;
        let Some(row) = row else { break };
        if let Some(pid) = row.get::<_, Option<i32>>(0) {
            let _ = client.execute("SELECT pg_terminate_backend($1)", &[&pid]).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        match client.execute("SELECT pg_drop_replication_slot($1)", &[&name]).await {
            Ok(_) => break,
            Err(e) if attempt < 10 => {
                tracing::debug!(slot = %name, error = %login::classify(&e).1, "dropping the slot failed, retrying");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => return Err(sql_err("pg_drop_replication_slot", e)),
        }
    }
    let stmt = format!("DROP PUBLICATION IF EXISTS {}", quote_ident(&name));
    client.batch_execute(&stmt).await.map_err(|e| sql_err(&stmt, e))?;
    let registry = client
        .query_one("SELECT to_regclass('opendts_meta.ddl_publications') IS NOT NULL", &[])
        .await
        .map_err(|e| sql_err("looking for the DDL capture registry", e))?;
    if registry.get::<_, bool>(0) {
        client
            .execute("DELETE FROM opendts_meta.ddl_publications WHERE publication = $1", &[&name])
            .await
            .map_err(|e| sql_err("unregistering the publication from DDL capture", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_valid_slot_names() {
        assert_eq!(super::object_name("dtsAB-12.x"), "opendts_dtsab_12_x");
        assert_eq!(super::object_name(&"x".repeat(100)).len(), 63);
    }
}
