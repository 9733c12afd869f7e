//! The PostgreSQL precheck items of the data path (issue 4, in the style of
//! the seed's CHECK_* items): the logical-replication settings a data
//! synchronization needs (`wal_level`, a free replication slot, a free WAL
//! sender, a replica identity on every selected table), the source version,
//! and, with a PostgreSQL destination, tables already present on it
//! (Reserve `targetTableMode`). The connection and privilege items
//! (CHECK_CONN_*, CHECK_AUTH_*) live in [`crate::probe`] and
//! [`crate::check_privileges`].
//!
//! DbList keys are *schemas* of the database the source endpoint names (see
//! [`crate::schema`]); their `name` is a schema of the database the
//! destination endpoint names.
//!
//! Each item reads what it needs over its own connection and hands it to a
//! pure judge (`judge_*`, unit-tested without a server). Every [`Outcome`]
//! says what was checked; a failed one says how to fix it.

use crate::schema::{self, CatalogTable};
use crate::session::qualified;
use crate::{login, tcp};
use opendts_core::endpoint::{EngineFamily, Endpoint};
use opendts_core::job::MigrationMode;
use opendts_core::probe::{FailureKind, Outcome};
use opendts_core::reserve::TargetTableMode;
use opendts_core::row::TableId;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::Duration;
use tokio_postgres::Client;

pub const CHECK_PG_WAL_LEVEL: &str = "CHECK_PG_WAL_LEVEL";
pub const CHECK_PG_REPLICATION_SLOTS: &str = "CHECK_PG_REPLICATION_SLOTS";
pub const CHECK_PG_WAL_SENDERS: &str = "CHECK_PG_WAL_SENDERS";
pub const CHECK_PG_REPLICA_IDENTITY: &str = "CHECK_PG_REPLICA_IDENTITY";
pub const CHECK_SRC: &str = "CHECK_SRC";
pub const CHECK_SAME_OBJ: &str = "CHECK_SAME_OBJ";

/// Oldest supported source (`server_version_num`): logical replication with
/// pgoutput and publications appeared in PostgreSQL 10.
pub const MIN_VERSION_NUM: i32 = 100_000;
/// Newest major version OpenDTS was tested with; newer ones pass with a note.
pub const TESTED_MAJOR: i32 = 15;

pub use opendts_core::precheck::{ItemSpec, PrecheckInput};

/// Every item of this module, in order.
pub const ITEMS: [ItemSpec; 6] = [
    ItemSpec { name: CHECK_PG_WAL_LEVEL, order: 30, can_skip: false },
    ItemSpec { name: CHECK_PG_REPLICATION_SLOTS, order: 40, can_skip: false },
    ItemSpec { name: CHECK_PG_WAL_SENDERS, order: 50, can_skip: false },
    ItemSpec { name: CHECK_PG_REPLICA_IDENTITY, order: 90, can_skip: true },
    ItemSpec { name: CHECK_SRC, order: 100, can_skip: true },
    ItemSpec { name: CHECK_SAME_OBJ, order: 110, can_skip: true },
];

#[derive(Debug, Clone, Copy)]
struct Steps {
    structure: bool,
    full: bool,
    incremental: bool,
}

impl Steps {
    fn of(mode: &MigrationMode) -> Steps {
        let none = !mode.structure_initialization && !mode.data_initialization && !mode.data_synchronization;
        Steps {
            structure: mode.structure_initialization || none,
            full: mode.data_initialization || none,
            incremental: mode.data_synchronization || none,
        }
    }
}

fn applies(name: &str, steps: Steps, has_pg_destination: bool) -> bool {
    match name {
        CHECK_PG_WAL_LEVEL | CHECK_PG_REPLICATION_SLOTS | CHECK_PG_WAL_SENDERS | CHECK_PG_REPLICA_IDENTITY => {
            steps.incremental
        }
        CHECK_SRC => true,
        CHECK_SAME_OBJ => has_pg_destination && (steps.structure || steps.full),
        _ => false,
    }
}

/// The items that apply to a job with a PostgreSQL source, in order:
///
/// * CHECK_PG_WAL_LEVEL, CHECK_PG_REPLICATION_SLOTS, CHECK_PG_WAL_SENDERS and
///   CHECK_PG_REPLICA_IDENTITY only with data synchronization;
/// * CHECK_SRC always;
/// * CHECK_SAME_OBJ with a PostgreSQL destination and structure or data
///   initialization (synchronization alone writes into existing tables).
///
/// A mode with no step selected counts as all three steps.
pub fn data_path_items(mode: &MigrationMode, has_pg_destination: bool) -> Vec<ItemSpec> {
    let steps = Steps::of(mode);
    ITEMS.iter().filter(|i| applies(i.name, steps, has_pg_destination)).copied().collect()
}

/// Runs one item (by name) against the job's servers.
///
/// Never panics on what the input or a server returns: every problem,
/// including an unknown item name or an unusable endpoint, is a failed
/// [`Outcome`] whose detail says what was checked and how to fix it.
pub async fn run_item(name: &str, input: &PrecheckInput<'_>) -> Outcome {
    let Some(spec) = ITEMS.iter().find(|i| i.name == name) else {
        let known: Vec<&str> = ITEMS.iter().map(|i| i.name).collect();
        return Outcome::fail(
            FailureKind::NotSupported,
            format!("{name:?} is not a PostgreSQL data-path precheck item (known: {}).", known.join(", ")),
        );
    };
    if input.source.family() != EngineFamily::PostgreSql {
        return Outcome::fail(
            FailureKind::NotSupported,
            format!("{name} checks a PostgreSQL source, but the source engine is {:?}.", input.source.engine_name),
        );
    }
    let result = match spec.name {
        CHECK_PG_WAL_LEVEL | CHECK_PG_REPLICATION_SLOTS | CHECK_PG_WAL_SENDERS => check_settings(spec.name, input).await,
        CHECK_PG_REPLICA_IDENTITY => check_replica_identity(input).await,
        CHECK_SRC => check_src(input).await,
        _ => check_same_obj(input).await,
    };
    let outcome = result.unwrap_or_else(|o| o);
    tracing::debug!(item = name, passed = outcome.passed, failure = ?outcome.failure, "postgres precheck item done");
    outcome
}

// ---------------------------------------------------------------------------
// Connections and statements.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Source,
    Destination,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Destination => "destination",
        }
    }
}

async fn open(ep: &Endpoint, side: Side, timeout: Duration) -> Result<Client, Outcome> {
    let prefixed = |o: Outcome| Outcome { detail: format!("Could not reach the {} database: {}", side.name(), o.detail), ..o };
    let target = tcp::target(ep).map_err(prefixed)?;
    login::connect(ep, &target, timeout).await.map_err(prefixed)
}

/// Runs `fut` within `timeout`, turning errors into failed outcomes that say what was being read.
async fn bounded<T>(
    ep: &Endpoint,
    side: Side,
    what: &str,
    timeout: Duration,
    fut: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, Outcome> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            let (_, text) = login::classify(&e);
            let denied = e.as_db_error().is_some_and(|d| d.code().code() == "42501");
            let (kind, advice) = if denied {
                (FailureKind::MissingPrivilege, " Grant the account the privilege the error names.")
            } else {
                (FailureKind::Other, "")
            };
            Err(Outcome::fail(
                kind,
                login::scrub(&format!("Reading {what} from the {} database failed: {text}.{advice}", side.name()), ep),
            ))
        }
        Err(_) => Err(Outcome::fail(
            FailureKind::Other,
            format!(
                "Reading {what} from the {} database did not finish within {} ms: the server is overloaded or the \
                 catalog is very large. Fix: run the precheck again when the server is less busy.",
                side.name(),
                timeout.as_millis()
            ),
        )),
    }
}

/// The replication settings and their use, as read from the source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicationSettings {
    pub wal_level: String,
    pub max_replication_slots: i64,
    /// Rows of `pg_replication_slots`.
    pub used_slots: i64,
    pub max_wal_senders: i64,
    /// WAL sender processes running now (`pg_stat_replication`).
    pub active_senders: i64,
}

async fn read_settings(client: &Client) -> Result<ReplicationSettings, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT current_setting('wal_level'),
                    current_setting('max_replication_slots')::int8,
                    (SELECT count(*) FROM pg_catalog.pg_replication_slots)::int8,
                    current_setting('max_wal_senders')::int8,
                    (SELECT count(*) FROM pg_catalog.pg_stat_replication)::int8",
            &[],
        )
        .await?;
    Ok(ReplicationSettings {
        wal_level: row.try_get(0)?,
        max_replication_slots: row.try_get(1)?,
        used_slots: row.try_get(2)?,
        max_wal_senders: row.try_get(3)?,
        active_senders: row.try_get(4)?,
    })
}

// ---------------------------------------------------------------------------
// Judges.

/// CHECK_PG_WAL_LEVEL: logical decoding needs `wal_level = logical`.
pub fn judge_wal_level(s: &ReplicationSettings) -> Outcome {
    if s.wal_level.eq_ignore_ascii_case("logical") {
        return Outcome::pass("The source's wal_level is logical: row changes can be decoded from the WAL.");
    }
    Outcome::fail(
        FailureKind::Other,
        format!(
            "The source's wal_level is {:?}; data synchronization decodes row changes from the WAL, which needs \
             wal_level = logical. Fix: run ALTER SYSTEM SET wal_level = logical; (or set it in postgresql.conf) and \
             restart the PostgreSQL server.",
            s.wal_level
        ),
    )
}

/// CHECK_PG_REPLICATION_SLOTS: the job creates one logical replication slot.
pub fn judge_replication_slots(s: &ReplicationSettings) -> Outcome {
    let free = s.max_replication_slots - s.used_slots;
    if free >= 1 {
        return Outcome::pass(format!(
            "The source allows {} replication slots and {} are in use: {free} free, the job needs 1.",
            s.max_replication_slots, s.used_slots
        ));
    }
    Outcome::fail(
        FailureKind::Other,
        format!(
            "The source allows {} replication slots (max_replication_slots) and {} are in use, so the job cannot create \
             its logical replication slot. Fix: drop unused slots (SELECT slot_name, active FROM pg_replication_slots; \
             then SELECT pg_drop_replication_slot('name');) or raise max_replication_slots (ALTER SYSTEM SET \
             max_replication_slots = {}; and restart the server).",
            s.max_replication_slots,
            s.used_slots,
            s.used_slots + 1
        ),
    )
}

/// CHECK_PG_WAL_SENDERS: the job streams the WAL over one replication connection.
pub fn judge_wal_senders(s: &ReplicationSettings) -> Outcome {
    let free = s.max_wal_senders - s.active_senders;
    if free >= 1 {
        return Outcome::pass(format!(
            "The source allows {} WAL senders and {} are running: {free} free, the job needs 1.",
            s.max_wal_senders, s.active_senders
        ));
    }
    Outcome::fail(
        FailureKind::Other,
        format!(
            "The source allows {} WAL senders (max_wal_senders) and {} are running, so the job cannot open its \
             replication connection. Fix: raise max_wal_senders (ALTER SYSTEM SET max_wal_senders = {}; and restart the \
             server) or stop unused replication clients (see pg_stat_replication).",
            s.max_wal_senders,
            s.active_senders,
            s.active_senders + 1
        ),
    )
}

/// CHECK_SRC: the source's `server_version_num` and `server_version`.
pub fn judge_source_version(version_num: i32, version: &str) -> Outcome {
    let major = if version_num >= 100_000 { version_num / 10_000 } else { version_num / 100 };
    if version_num < MIN_VERSION_NUM {
        return Outcome::fail(
            FailureKind::NotSupported,
            format!(
                "The source runs PostgreSQL {version} (server_version_num {version_num}); OpenDTS supports PostgreSQL 10 \
                 and later, which have logical replication with pgoutput. Fix: upgrade the source to PostgreSQL 10 or later."
            ),
        );
    }
    if major > TESTED_MAJOR {
        return Outcome::pass(format!(
            "The source runs PostgreSQL {version}, newer than the versions OpenDTS was tested with (10 to {TESTED_MAJOR}); \
             it is expected to work."
        ));
    }
    Outcome::pass(format!("The source runs PostgreSQL {version}, which is supported (10 and later)."))
}

/// CHECK_PG_REPLICA_IDENTITY over the selected tables. A table whose UPDATE
/// and DELETE carry no old key (no primary key with REPLICA IDENTITY DEFAULT,
/// or REPLICA IDENTITY NOTHING) fails the item, naming the tables and the fix.
/// The item may be skipped: inserts still replicate, and PostgreSQL itself
/// refuses UPDATE and DELETE on such a table once it is in the job's publication.
pub fn judge_replica_identity(selected: &[&CatalogTable]) -> Outcome {
    let bad: Vec<&CatalogTable> =
        selected.iter().copied().filter(|t| !t.replica_identity.identifies_rows(t.has_primary_key)).collect();
    let checked = format!("Checked the replica identity of the {} selected table(s)", selected.len());
    if bad.is_empty() {
        return Outcome::pass(format!("{checked}: every one identifies the old row of an UPDATE or DELETE."));
    }
    let names: Vec<String> = bad
        .iter()
        .map(|t| {
            let why = if t.has_primary_key { "REPLICA IDENTITY NOTHING" } else { "no primary key" };
            format!("{} ({why})", qualified(&t.id.schema, &t.id.table))
        })
        .collect();
    let fixes: Vec<String> = bad
        .iter()
        .take(20)
        .map(|t| format!("ALTER TABLE {} REPLICA IDENTITY FULL;", qualified(&t.id.schema, &t.id.table)))
        .collect();
    Outcome::fail(
        FailureKind::Other,
        format!(
            "{checked}: {} cannot be synchronized for UPDATE and DELETE, because their changes carry no old key: {}. \
             Fix: add a primary key, or run {}{} (FULL logs the whole old row, which makes the WAL larger). \
             Skip this item to synchronize only their inserts.",
            bad.len(),
            list_names(names.iter(), 20),
            fixes.join(" "),
            if bad.len() > fixes.len() { " and the same for the others" } else { "" }
        ),
    )
}

/// A table that exists on the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestObject {
    pub id: TableId,
    /// `pg_class.relkind`: `r`, `p`, `v`, `m` or `f`.
    pub kind: String,
}

/// CHECK_SAME_OBJ: `selected` are (source table, destination table) pairs.
///
/// * A table copied onto itself (`same_database`: source and destination are
///   one database, and the destination name is the source name) always fails.
/// * Other existing tables fail with [`TargetTableMode::Block`] (Reserve
///   `targetTableMode` `"0"`, the default), naming them, and pass with
///   [`TargetTableMode::Ignore`] (`"2"`), saying which will be written into.
pub fn judge_same_obj(
    selected: &[(TableId, TableId)],
    existing: &[DestObject],
    same_database: bool,
    mode: TargetTableMode,
) -> Outcome {
    let by_name: HashMap<&TableId, &DestObject> = existing.iter().map(|d| (&d.id, d)).collect();
    let describe = |src: &TableId, d: &DestObject| {
        let kind = match d.kind.as_str() {
            "v" => " (a view)",
            "m" => " (a materialized view)",
            "f" => " (a foreign table)",
            _ => "",
        };
        let dest = qualified(&d.id.schema, &d.id.table);
        if d.id == *src {
            format!("{dest}{kind}")
        } else {
            format!("{dest}{kind} (from {})", qualified(&src.schema, &src.table))
        }
    };
    let found: Vec<(&TableId, &DestObject)> =
        selected.iter().filter_map(|(s, d)| by_name.get(d).map(|e| (s, *e))).collect();
    let onto_itself: Vec<String> =
        found.iter().filter(|(s, d)| same_database && **s == d.id).map(|(s, d)| describe(s, d)).collect();
    if !onto_itself.is_empty() {
        return Outcome::fail(
            FailureKind::Other,
            format!(
                "The source and the destination are the same database and {} would be copied onto {}. Fix: give the \
                 schemas (or tables) other destination names in DbList (\"name\"), or use another destination.",
                list_names(onto_itself.iter(), 20),
                if onto_itself.len() == 1 { "itself" } else { "themselves" }
            ),
        );
    }
    let checked = format!("Checked the destination names of the {} selected table(s)", selected.len());
    if found.is_empty() {
        return Outcome::pass(format!("{checked}: none exists on the destination yet."));
    }
    let names: Vec<String> = found.iter().map(|(s, d)| describe(s, d)).collect();
    let listed = list_names(names.iter(), 20);
    match mode {
        TargetTableMode::Block => Outcome::fail(
            FailureKind::Other,
            format!(
                "{checked}: {} already exist on the destination: {listed}. Reserve targetTableMode is \"0\", which stops \
                 the job when destination objects exist. Fix: drop or rename them on the destination, map the source \
                 tables to other names in DbList, or pass Reserve {{\"targetTableMode\":\"2\"}} to write into the \
                 existing tables.",
                found.len()
            ),
        ),
        TargetTableMode::Ignore => Outcome::pass(format!(
            "{checked}: {} already exist on the destination and will be written into as they are (Reserve \
             targetTableMode \"2\"): {listed}. Make sure their columns and keys match the source: a row whose key \
             already exists there stops the full load of its table.",
            found.len()
        )),
    }
}

/// `a, b, c and 7 more`: at most `max` names.
fn list_names<S: AsRef<str>>(names: impl Iterator<Item = S>, max: usize) -> String {
    let all: Vec<S> = names.collect();
    let shown: Vec<&str> = all.iter().take(max).map(AsRef::as_ref).collect();
    let mut out = shown.join(", ");
    if all.len() > max {
        out.push_str(&format!(" and {} more", all.len() - max));
    }
    out
}

// ---------------------------------------------------------------------------
// The items.

async fn check_settings(name: &str, input: &PrecheckInput<'_>) -> Result<Outcome, Outcome> {
    let client = open(input.source, Side::Source, input.timeout).await?;
    let s = bounded(input.source, Side::Source, "the replication settings", input.timeout, read_settings(&client)).await?;
    Ok(match name {
        CHECK_PG_WAL_LEVEL => judge_wal_level(&s),
        CHECK_PG_REPLICATION_SLOTS => judge_replication_slots(&s),
        _ => judge_wal_senders(&s),
    })
}

async fn check_src(input: &PrecheckInput<'_>) -> Result<Outcome, Outcome> {
    let client = open(input.source, Side::Source, input.timeout).await?;
    let row = bounded(
        input.source,
        Side::Source,
        "the server version",
        input.timeout,
        client.query_one("SELECT current_setting('server_version_num')::int4, current_setting('server_version')", &[]),
    )
    .await?;
    let (num, text): (Option<i32>, Option<String>) = (row.try_get(0).ok(), row.try_get(1).ok());
    match num {
        Some(num) => Ok(judge_source_version(num, text.as_deref().unwrap_or("?"))),
        None => Ok(Outcome::fail(
            FailureKind::NotSupported,
            format!("The source reports the version {text:?}, which OpenDTS cannot interpret; it supports PostgreSQL 10 and later."),
        )),
    }
}

async fn selected_catalog(input: &PrecheckInput<'_>, client: &Client) -> Result<Vec<CatalogTable>, Outcome> {
    let what = "the tables selected by the DbList";
    let tables = match tokio::time::timeout(input.timeout, schema::catalog_tables(client)).await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => {
            let kind = if e.sqlstate() == Some("42501") { FailureKind::MissingPrivilege } else { FailureKind::Other };
            return Err(Outcome::fail(
                kind,
                login::scrub(&format!("Reading {what} from the source database failed: {e}."), input.source),
            ));
        }
        Err(_) => {
            return Err(Outcome::fail(
                FailureKind::Other,
                format!(
                    "Reading {what} from the source database did not finish within {} ms. Fix: run the precheck again \
                     when the server is less busy.",
                    input.timeout.as_millis()
                ),
            ))
        }
    };
    Ok(schema::select(input.db_list, &tables).into_iter().cloned().collect())
}

async fn check_replica_identity(input: &PrecheckInput<'_>) -> Result<Outcome, Outcome> {
    let client = open(input.source, Side::Source, input.timeout).await?;
    let selected = selected_catalog(input, &client).await?;
    let refs: Vec<&CatalogTable> = selected.iter().collect();
    Ok(judge_replica_identity(&refs))
}

/// An identity of a database: the cluster's system identifier (when the role
/// may read it) or the server address and data directory, and the database name.
async fn database_identity(client: &Client) -> Option<String> {
    let row = client
        .query_one(
            "SELECT coalesce(inet_server_addr()::text, 'local') || ':' || current_setting('port') || '/' || current_database()",
            &[],
        )
        .await
        .ok()?;
    let base: String = row.try_get(0).ok()?;
    let system = client
        .query_one("SELECT system_identifier::text FROM pg_catalog.pg_control_system()", &[])
        .await
        .ok()
        .and_then(|r| r.try_get::<_, String>(0).ok());
    Some(match system {
        Some(id) => format!("{id}/{}", base.rsplit('/').next().unwrap_or_default()),
        None => base,
    })
}

async fn read_dest_objects(client: &Client, schemas: &[String]) -> Result<Vec<DestObject>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT n.nspname::text, c.relname::text, c.relkind::text
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname = ANY($1)",
            &[&schemas],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(DestObject { id: TableId::new(r.try_get::<_, String>(0)?, r.try_get::<_, String>(1)?), kind: r.try_get(2)? });
    }
    Ok(out)
}

async fn check_same_obj(input: &PrecheckInput<'_>) -> Result<Outcome, Outcome> {
    let dest = match input.destination {
        None => {
            return Err(Outcome::fail(
                FailureKind::NotSupported,
                format!("{CHECK_SAME_OBJ} compares the source with a destination database, and this job has none."),
            ))
        }
        Some(d) if d.family() != EngineFamily::PostgreSql => {
            return Err(Outcome::fail(
                FailureKind::NotSupported,
                format!(
                    "This {CHECK_SAME_OBJ} looks for existing tables on a PostgreSQL destination, but the destination \
                     engine is {:?}.",
                    d.engine_name
                ),
            ))
        }
        Some(d) => d,
    };
    let src = open(input.source, Side::Source, input.timeout).await?;
    let selected = selected_catalog(input, &src).await?;
    let src_identity = database_identity(&src).await;
    drop(src);
    let pairs: Vec<(TableId, TableId)> = selected
        .iter()
        .filter_map(|t| {
            let sel = input.db_list.select_table(&t.id.schema, &t.id.table)?;
            Some((t.id.clone(), TableId::new(sel.dest_db, sel.dest_table)))
        })
        .collect();
    if pairs.is_empty() {
        return Ok(Outcome::pass("The DbList selects no table on the source, so no destination name can be taken."));
    }
    let schemas: Vec<String> = pairs.iter().map(|(_, d)| d.schema.clone()).collect::<HashSet<_>>().into_iter().collect();
    let dst = open(dest, Side::Destination, input.timeout).await?;
    let existing =
        bounded(dest, Side::Destination, "the existing tables", input.timeout, read_dest_objects(&dst, &schemas)).await?;
    let dst_identity = database_identity(&dst).await;
    drop(dst);
    let same_database = src_identity.is_some() && src_identity == dst_identity;
    Ok(judge_same_obj(&pairs, &existing, same_database, input.target_table_mode))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ReplicaIdentity;

    const SYNC: MigrationMode =
        MigrationMode { structure_initialization: false, data_initialization: false, data_synchronization: true };
    const MIGRATE: MigrationMode =
        MigrationMode { structure_initialization: true, data_initialization: true, data_synchronization: false };

    fn names(mode: MigrationMode, dest: bool) -> Vec<&'static str> {
        data_path_items(&mode, dest).iter().map(|i| i.name).collect()
    }

    #[test]
    fn items_per_mode() {
        assert_eq!(
            names(SYNC, true),
            [CHECK_PG_WAL_LEVEL, CHECK_PG_REPLICATION_SLOTS, CHECK_PG_WAL_SENDERS, CHECK_PG_REPLICA_IDENTITY, CHECK_SRC]
        );
        assert_eq!(names(MIGRATE, true), [CHECK_SRC, CHECK_SAME_OBJ]);
        assert_eq!(names(MIGRATE, false), [CHECK_SRC]);
        assert_eq!(names(MigrationMode::default(), true).len(), 6);
        let orders: Vec<u32> = ITEMS.iter().map(|i| i.order).collect();
        assert!(orders.windows(2).all(|w| w[0] < w[1]));
    }

    fn settings(level: &str, slots: (i64, i64), senders: (i64, i64)) -> ReplicationSettings {
        ReplicationSettings {
            wal_level: level.into(),
            max_replication_slots: slots.0,
            used_slots: slots.1,
            max_wal_senders: senders.0,
            active_senders: senders.1,
        }
    }

    #[test]
    fn replication_settings() {
        let ok = settings("logical", (10, 2), (10, 9));
        assert!(judge_wal_level(&ok).passed);
        assert!(judge_replication_slots(&ok).detail.contains("8 free"));
        assert!(judge_wal_senders(&ok).passed);
        let bad = settings("replica", (4, 4), (2, 2));
        let o = judge_wal_level(&bad);
        assert_eq!(o.failure, Some(FailureKind::Other));
        assert!(o.detail.contains("\"replica\"") && o.detail.contains("ALTER SYSTEM SET wal_level = logical"), "{}", o.detail);
        let o = judge_replication_slots(&bad);
        assert!(!o.passed && o.detail.contains("max_replication_slots = 5"), "{}", o.detail);
        let o = judge_wal_senders(&bad);
        assert!(!o.passed && o.detail.contains("max_wal_senders = 3"), "{}", o.detail);
        assert!(!judge_replication_slots(&settings("logical", (0, 0), (1, 0))).passed);
    }

    #[test]
    fn versions() {
        assert!(judge_source_version(150004, "15.4").passed);
        assert!(judge_source_version(100023, "10.23").passed);
        let o = judge_source_version(90624, "9.6.24");
        assert_eq!(o.failure, Some(FailureKind::NotSupported));
        assert!(o.detail.contains("PostgreSQL 10 and later"), "{}", o.detail);
        assert!(judge_source_version(180000, "18.0").detail.contains("newer than"));
    }

    fn table(schema: &str, name: &str, ri: ReplicaIdentity, pk: bool) -> CatalogTable {
        CatalogTable {
            id: TableId::new(schema, name),
            oid: 1,
            partitioned: false,
            replica_identity: ri,
            has_primary_key: pk,
            estimated_rows: 0,
        }
    }

    #[test]
    fn replica_identity() {
        let a = table("public", "a", ReplicaIdentity::Default, true);
        let b = table("public", "log", ReplicaIdentity::Default, false);
        let c = table("s", "c", ReplicaIdentity::Nothing, true);
        let d = table("s", "d", ReplicaIdentity::Full, false);
        assert!(judge_replica_identity(&[&a, &d]).passed);
        let o = judge_replica_identity(&[&a, &b, &c, &d]);
        assert_eq!(o.failure, Some(FailureKind::Other));
        assert!(o.detail.contains("2 cannot be synchronized"), "{}", o.detail);
        assert!(o.detail.contains("\"public\".\"log\" (no primary key)"), "{}", o.detail);
        assert!(o.detail.contains("\"s\".\"c\" (REPLICA IDENTITY NOTHING)"), "{}", o.detail);
        assert!(o.detail.contains("ALTER TABLE \"public\".\"log\" REPLICA IDENTITY FULL;"), "{}", o.detail);
    }

    #[test]
    fn same_obj() {
        let pairs = vec![
            (TableId::new("public", "a"), TableId::new("shop", "a")),
            (TableId::new("public", "b"), TableId::new("shop", "b2")),
        ];
        let existing = vec![
            DestObject { id: TableId::new("shop", "b2"), kind: "r".into() },
            DestObject { id: TableId::new("shop", "b"), kind: "v".into() },
        ];
        let o = judge_same_obj(&pairs, &existing, false, TargetTableMode::Block);
        assert!(!o.passed, "{o:?}");
        assert!(o.detail.contains("1 already exist on the destination: \"shop\".\"b2\" (from \"public\".\"b\")"), "{}", o.detail);
        assert!(o.detail.contains(r#"Reserve {"targetTableMode":"2"}"#), "{}", o.detail);
        let o = judge_same_obj(&pairs, &existing, false, TargetTableMode::Ignore);
        assert!(o.passed && o.detail.contains("will be written into"), "{o:?}");
        assert!(judge_same_obj(&pairs, &[], false, TargetTableMode::Block).passed);
        let onto = vec![(TableId::new("public", "a"), TableId::new("public", "a"))];
        let ex = vec![DestObject { id: TableId::new("public", "a"), kind: "r".into() }];
        let o = judge_same_obj(&onto, &ex, true, TargetTableMode::Ignore);
        assert!(!o.passed && o.detail.contains("copied onto itself"), "{o:?}");
        assert!(judge_same_obj(&onto, &ex, false, TargetTableMode::Ignore).passed);
    }

    #[tokio::test]
    async fn unknown_item_and_foreign_engines() {
        let my = Endpoint { engine_name: "MySQL".into(), ..Default::default() };
        let pg = Endpoint { engine_name: "PostgreSQL".into(), ..Default::default() };
        let list = opendts_core::dblist::DbList::parse(r#"{"public": {"all": true}}"#, opendts_core::dblist::DbListContext::Migration).unwrap();
        let mode = MigrationMode::default();
        let input = PrecheckInput {
            source: &pg,
            destination: Some(&my),
            mode: &mode,
            db_list: &list,
            target_table_mode: TargetTableMode::Block,
            timeout: Duration::from_millis(200),
        };
        let o = run_item("CHECK_NOPE", &input).await;
        assert_eq!(o.failure, Some(FailureKind::NotSupported));
        assert!(o.detail.contains(CHECK_PG_WAL_LEVEL), "{}", o.detail);
        let o = run_item(CHECK_SAME_OBJ, &input).await;
        assert!(o.detail.contains("destination engine is \"MySQL\""), "{}", o.detail);
        let o = run_item(CHECK_SAME_OBJ, &PrecheckInput { destination: None, ..input }).await;
        assert_eq!(o.failure, Some(FailureKind::NotSupported));
        let o = run_item(CHECK_SRC, &input).await;
        assert!(o.detail.starts_with("Could not reach the source database"), "{}", o.detail);
        let o = run_item(CHECK_SRC, &PrecheckInput { source: &my, ..input }).await;
        assert!(o.detail.contains("source engine is \"MySQL\""), "{}", o.detail);
    }
}
