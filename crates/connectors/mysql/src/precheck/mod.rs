//! The MySQL-family precheck items of the data path (seed §10): the binlog
//! items of a data synchronization, the storage engines and version of the
//! source, and, with a MySQL-family destination, existing target objects,
//! `sql_mode` and version compatibility. The connection and privilege items
//! (CHECK_CONN_*, CHECK_AUTH_*) live in [`crate::probe`] and
//! [`crate::check_privileges`].
//!
//! Each item reads what it needs over its own connections and hands it to a
//! pure judge (in the submodules, unit-tested without a server). Every
//! [`Outcome`] says what was checked; a failed one says how to fix it, and its
//! [`FailureKind`] becomes the item's `RepairMethod`, so `MissingPrivilege`
//! is used only for missing privileges and `Other` (whose advice points to the
//! detail) for everything that has no kind of its own.

pub mod binlog;
pub mod catalog;
pub mod engine;
pub mod same_obj;
pub mod sql_mode;
pub mod version;

mod sql;

use crate::login;
use catalog::Selection;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use opendts_core::endpoint::{EngineFamily, Endpoint};
use opendts_core::job::MigrationMode;
use opendts_core::probe::{FailureKind, Outcome};
use sql::{bounded, text, Side};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

pub const CHECK_BINLOG_ON: &str = "CHECK_BINLOG_ON";
pub const CHECK_BINLOG_MODE: &str = "CHECK_BINLOG_MODE";
pub const CHECK_BINLOG_ROW_IMAGE: &str = "CHECK_BINLOG_ROW_IMAGE";
pub const CHECK_SERVER_ID: &str = "CHECK_SERVER_ID";
pub const CHECK_BINLOG_EXIST: &str = "CHECK_BINLOG_EXIST";
pub const CHECK_ENGINE: &str = "CHECK_ENGINE";
pub const CHECK_SRC: &str = "CHECK_SRC";
pub const CHECK_SAME_OBJ: &str = "CHECK_SAME_OBJ";
pub const CHECK_SQL_MODE: &str = "CHECK_SQL_MODE";
pub const CHECK_TOPOLOGY: &str = "CHECK_TOPOLOGY";

pub use opendts_core::precheck::{ItemSpec, PrecheckInput};

/// Every item of this module, in the seed's order.
pub const ITEMS: [ItemSpec; 10] = [
    ItemSpec { name: CHECK_BINLOG_ON, order: 30, can_skip: false },
    ItemSpec { name: CHECK_BINLOG_MODE, order: 40, can_skip: false },
    ItemSpec { name: CHECK_BINLOG_ROW_IMAGE, order: 50, can_skip: false },
    ItemSpec { name: CHECK_SERVER_ID, order: 60, can_skip: true },
    ItemSpec { name: CHECK_BINLOG_EXIST, order: 70, can_skip: false },
    ItemSpec { name: CHECK_ENGINE, order: 80, can_skip: false },
    ItemSpec { name: CHECK_SRC, order: 100, can_skip: true },
    ItemSpec { name: CHECK_SAME_OBJ, order: 110, can_skip: true },
    ItemSpec { name: CHECK_SQL_MODE, order: 140, can_skip: false },
    ItemSpec { name: CHECK_TOPOLOGY, order: 220, can_skip: true },
];

/// The steps a mode runs; a mode with no step selected counts as all steps
/// (as [`crate::required_privileges`] does).
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

fn applies(name: &str, steps: Steps, has_mysql_destination: bool) -> bool {
    match name {
        CHECK_BINLOG_ON | CHECK_BINLOG_MODE | CHECK_BINLOG_ROW_IMAGE | CHECK_SERVER_ID | CHECK_BINLOG_EXIST => steps.incremental,
        CHECK_ENGINE | CHECK_SRC => true,
        CHECK_SAME_OBJ => has_mysql_destination && (steps.structure || steps.full),
        CHECK_SQL_MODE | CHECK_TOPOLOGY => has_mysql_destination,
        _ => false,
    }
}

/// The items that apply to a job, in order:
///
/// * the binlog items (CHECK_BINLOG_ON, _MODE, _ROW_IMAGE, CHECK_SERVER_ID,
///   CHECK_BINLOG_EXIST) only with data synchronization;
/// * CHECK_ENGINE and CHECK_SRC always;
/// * CHECK_SAME_OBJ with a MySQL-family destination and structure or data
///   initialization (synchronization alone writes into existing tables);
/// * CHECK_SQL_MODE and CHECK_TOPOLOGY with a MySQL-family destination.
///
/// A mode with no step selected counts as all three steps.
pub fn data_path_items(mode: &MigrationMode, has_mysql_destination: bool) -> Vec<ItemSpec> {
    let steps = Steps::of(mode);
    ITEMS.iter().filter(|i| applies(i.name, steps, has_mysql_destination)).copied().collect()
}

/// Runs one item (by its seed name) against the job's servers.
///
/// Never panics on what the input or a server returns: every problem,
/// including an unknown item name or an unusable endpoint, is a failed
/// [`Outcome`] whose detail says what was checked and how to fix it.
pub async fn run_item(name: &str, input: &PrecheckInput<'_>) -> Outcome {
    let Some(spec) = ITEMS.iter().find(|i| i.name == name) else {
        let known: Vec<&str> = ITEMS.iter().map(|i| i.name).collect();
        return Outcome::fail(
            FailureKind::NotSupported,
            format!("{name:?} is not a MySQL-family data-path precheck item (known: {}).", known.join(", ")),
        );
    };
    if input.source.family() != EngineFamily::MySql {
        return Outcome::fail(
            FailureKind::NotSupported,
            format!("{name} checks a MySQL-family source, but the source engine is {:?}.", input.source.engine_name),
        );
    }
    let result = match spec.name {
        CHECK_BINLOG_ON | CHECK_BINLOG_MODE | CHECK_BINLOG_ROW_IMAGE | CHECK_SERVER_ID | CHECK_BINLOG_EXIST => {
            check_binlog(spec.name, input).await
        }
        CHECK_ENGINE => check_engine(input).await,
        CHECK_SRC => check_src(input).await,
        CHECK_SAME_OBJ => check_same_obj(input).await,
        CHECK_SQL_MODE => check_sql_mode(input).await,
        _ => check_topology(input).await,
    };
    let outcome = result.unwrap_or_else(|o| o);
    tracing::debug!(item = name, passed = outcome.passed, failure = ?outcome.failure, "mysql precheck item done");
    outcome
}

// ---------------------------------------------------------------------------
// The items.

async fn check_binlog(name: &str, input: &PrecheckInput<'_>) -> Result<Outcome, Outcome> {
    let (src, t) = (input.source, input.timeout);
    let mut conn = sql::open(src, Side::Source, t).await?;
    let read = bounded(src, Side::Source, "the binlog settings", t, read_vars(&mut conn)).await;
    let vars = match read {
        Ok(v) => v,
        Err(o) => {
            login::close(conn).await;
            return Err(o);
        }
    };
    if name != CHECK_BINLOG_EXIST {
        login::close(conn).await;
        return Ok(match name {
            CHECK_BINLOG_ON => binlog::judge_binlog_on(&vars),
            CHECK_BINLOG_MODE => binlog::judge_binlog_mode(&vars),
            CHECK_BINLOG_ROW_IMAGE => binlog::judge_row_image(&vars),
            _ => binlog::judge_server_id(&vars),
        });
    }
    if !binlog::judge_binlog_on(&vars).passed {
        login::close(conn).await;
        return Ok(Outcome::fail(
            FailureKind::Other,
            "Binary logging is disabled on the source, so there are no binlog files. Fix: enable it (see CHECK_BINLOG_ON).",
        ));
    }
    let listing = bounded(src, Side::Source, "the binlog files (SHOW BINARY LOGS)", t, read_binlog_files(&mut conn)).await;
    login::close(conn).await;
    Ok(binlog::judge_binlog_exist(&listing?, &vars))
}

async fn read_vars(conn: &mut Conn) -> Result<binlog::Vars, mysql_async::Error> {
    let names: Vec<String> = binlog::VARIABLES.iter().map(|v| format!("'{v}'")).collect();
    let sql = format!("SHOW GLOBAL VARIABLES WHERE Variable_name IN ({})", names.join(", "));
    let rows: Vec<Row> = conn.query(sql).await?;
    let mut vars = binlog::Vars::default();
    for row in &rows {
        if let (Some(k), Some(v)) = (text(row, 0), text(row, 1)) {
            vars.0.insert(k.to_ascii_lowercase(), v);
        }
    }
    Ok(vars)
}

/// `SHOW BINARY LOGS`, then the first event of the oldest and of the current
/// file. A read error that is a privilege error is returned as an error (the
/// item then reports the missing privilege); others are recorded per file.
async fn read_binlog_files(conn: &mut Conn) -> Result<binlog::BinlogListing, mysql_async::Error> {
    let rows: Vec<Row> = conn.query("SHOW BINARY LOGS").await?;
    let mut listing = binlog::BinlogListing::default();
    for row in &rows {
        if let Some(name) = text(row, 0) {
            let size = text(row, 1).and_then(|s| s.parse().ok()).unwrap_or(0);
            listing.files.push(binlog::BinlogFile { name, size });
        }
    }
    let mut probe: Vec<String> = listing.files.first().map(|f| f.name.clone()).into_iter().collect();
    if let Some(last) = listing.files.last() {
        if !probe.contains(&last.name) {
            probe.push(last.name.clone());
        }
    }
    for name in probe {
        // File names come from the server; refuse anything that would need escaping.
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/')) {
            listing.unreadable.push((name, "the file name has unexpected characters; not read".into()));
            continue;
        }
        match conn.query::<Row, _>(format!("SHOW BINLOG EVENTS IN '{name}' LIMIT 1")).await {
            Ok(_) => {}
            Err(mysql_async::Error::Server(s)) if matches!(s.code, 1227 | 1044 | 1142) => {
                return Err(mysql_async::Error::Server(s));
            }
            Err(e) => listing.unreadable.push((name, login::classify(&e).1)),
        }
    }
    Ok(listing)
}

/// Reads the source catalog and resolves the DbList against it.
async fn source_selection(input: &PrecheckInput<'_>, conn: &mut Conn, with_columns: bool) -> Result<Selection, Outcome> {
    let what = if with_columns { "the tables and columns selected by the DbList" } else { "the tables selected by the DbList" };
    let catalog = bounded(
        input.source,
        Side::Source,
        what,
        input.timeout,
        catalog::read_catalog(conn, input.db_list, with_columns),
    )
    .await?;
    Ok(catalog::resolve(input.db_list, &catalog))
}

async fn check_engine(input: &PrecheckInput<'_>) -> Result<Outcome, Outcome> {
    let mut conn = sql::open(input.source, Side::Source, input.timeout).await?;
    let sel = source_selection(input, &mut conn, false).await;
    login::close(conn).await;
    Ok(engine::judge_engines(&sel?))
}

async fn read_version(ep: &Endpoint, side: Side, t: Duration, conn: &mut Conn) -> Result<version::ServerVersion, Outcome> {
    let row: Option<Row> = bounded(ep, side, "the server version", t, conn.query_first("SELECT VERSION(), @@version_comment")).await?;
    let (v, comment) = row.map(|r| (text(&r, 0).unwrap_or_default(), text(&r, 1).unwrap_or_default())).unwrap_or_default();
    version::ServerVersion::parse(&v, &comment).ok_or_else(|| {
        Outcome::fail(
            FailureKind::NotSupported,
            format!(
                "The {} database reports the version {v:?} ({comment:?}), which OpenDTS cannot interpret; it supports {}.",
                side.name(),
                version::SUPPORTED_TEXT
            ),
        )
    })
}

async fn check_src(input: &PrecheckInput<'_>) -> Result<Outcome, Outcome> {
    let mut conn = sql::open(input.source, Side::Source, input.timeout).await?;
    let v = read_version(input.source, Side::Source, input.timeout, &mut conn).await;
    login::close(conn).await;
    Ok(version::judge_source_version(&v?))
}

/// The destination of an item that compares with it, or why there is none.
fn destination<'a>(name: &str, input: &PrecheckInput<'a>) -> Result<&'a Endpoint, Outcome> {
    match input.destination {
        None => Err(Outcome::fail(
            FailureKind::NotSupported,
            format!("{name} compares the source with a destination database, and this job has none."),
        )),
        Some(d) if d.family() != EngineFamily::MySql => Err(Outcome::fail(
            FailureKind::NotSupported,
            format!("{name} compares two MySQL-family databases, but the destination engine is {:?}.", d.engine_name),
        )),
        Some(d) => Ok(d),
    }
}

/// `@@lower_case_table_names`, and an identity of the server (host name, port,
/// data directory, server_id, and MySQL's server_uuid when there is one) to
/// tell whether source and destination are the same server.
async fn server_identity(conn: &mut Conn) -> Result<(Option<String>, String), mysql_async::Error> {
    let row: Option<Row> =
        conn.query_first("SELECT @@lower_case_table_names, @@hostname, @@port, @@datadir, @@server_id").await?;
    let row = row.map(|r| (0..5).map(|i| text(&r, i).unwrap_or_default()).collect::<Vec<_>>()).unwrap_or_default();
    let mut identity = row.get(1..).map(|r| r.join("|")).unwrap_or_default();
    // MariaDB has no server_uuid: the error just leaves it out.
    if let Ok(Some(uuid)) = conn.query_first::<Row, _>("SELECT @@server_uuid").await.map(|r| r.and_then(|r| text(&r, 0))) {
        identity.push('|');
        identity.push_str(&uuid);
    }
    Ok((row.first().cloned(), identity))
}

async fn read_dest_objects(
    conn: &mut Conn,
    wanted: &HashSet<String>,
    case_insensitive: bool,
) -> Result<Vec<same_obj::DestObject>, mysql_async::Error> {
    let norm = |s: &str| if case_insensitive { s.to_lowercase() } else { s.to_string() };
    let rows: Vec<Row> = conn.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA").await?;
    let mut out = Vec::new();
    for row in &rows {
        let Some(db) = text(row, 0) else { continue };
        if !wanted.contains(&norm(&db)) {
            continue;
        }
        let tables: Vec<Row> = conn
            .exec("SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", (db.as_str(),))
            .await?;
        for t in &tables {
            if let Some(name) = text(t, 0) {
                out.push(same_obj::DestObject { db: db.clone(), name, table_type: text(t, 1).unwrap_or_default() });
            }
        }
    }
    Ok(out)
}

async fn check_same_obj(input: &PrecheckInput<'_>) -> Result<Outcome, Outcome> {
    let dest = destination(CHECK_SAME_OBJ, input)?;
    let t = input.timeout;
    let mut src = sql::open(input.source, Side::Source, t).await?;
    let read = async {
        let sel = source_selection(input, &mut src, false).await?;
        let (_, src_identity) = bounded(input.source, Side::Source, "the server identity", t, server_identity(&mut src)).await?;
        Ok::<_, Outcome>((sel, src_identity))
    }
    .await;
    login::close(src).await;
    let (sel, src_identity) = read?;

    let mut dst = sql::open(dest, Side::Destination, t).await?;
    let read = async {
        let (lctn, dst_identity) = bounded(dest, Side::Destination, "the server identity", t, server_identity(&mut dst)).await?;
        let case_insensitive = lctn.as_deref().is_some_and(|v| v.trim() != "0");
        let wanted: HashSet<String> = sel
            .objects
            .iter()
            .map(|o| if case_insensitive { o.dest_db.to_lowercase() } else { o.dest_db.clone() })
            .collect();
        let existing = bounded(
            dest,
            Side::Destination,
            "the existing tables",
            t,
            read_dest_objects(&mut dst, &wanted, case_insensitive),
        )
        .await?;
        Ok::<_, Outcome>((existing, case_insensitive, dst_identity))
    }
    .await;
    login::close(dst).await;
    let (existing, case_insensitive, dst_identity) = read?;

    if sel.objects.is_empty() {
        return Ok(Outcome::pass(
            "The DbList selects no table on the source (see CHECK_ENGINE), so no destination name can be taken.",
        ));
    }
    let same_server = !src_identity.is_empty() && src_identity == dst_identity;
    Ok(same_obj::judge_same_obj(&sel.objects, &existing, case_insensitive, same_server, input.target_table_mode))
}

async fn global_sql_mode(ep: &Endpoint, side: Side, t: Duration, conn: &mut Conn) -> Result<sql_mode::SqlMode, Outcome> {
    let row: Option<Row> = bounded(ep, side, "the global sql_mode", t, conn.query_first("SELECT @@GLOBAL.sql_mode")).await?;
    Ok(sql_mode::SqlMode::parse(&row.and_then(|r| text(&r, 0)).unwrap_or_default()))
}

fn mode_sensitive_columns(sel: &Selection) -> sql_mode::ModeSensitiveColumns {
    let mut out = sql_mode::ModeSensitiveColumns::default();
    for c in &sel.columns {
        match c.data_type.as_str() {
            "date" | "datetime" | "timestamp" => out.temporal.push(c.qualified()),
            "char" => out.fixed_char.push(c.qualified()),
            _ => {}
        }
    }
    out
}

async fn check_sql_mode(input: &PrecheckInput<'_>) -> Result<Outcome, Outcome> {
    let dest = destination(CHECK_SQL_MODE, input)?;
    let t = input.timeout;
    let mut src = sql::open(input.source, Side::Source, t).await?;
    let read = async {
        let mode = global_sql_mode(input.source, Side::Source, t, &mut src).await?;
        let sel = source_selection(input, &mut src, true).await?;
        Ok::<_, Outcome>((mode, sel))
    }
    .await;
    login::close(src).await;
    let (src_mode, sel) = read?;

    let mut dst = sql::open(dest, Side::Destination, t).await?;
    let dst_mode = global_sql_mode(dest, Side::Destination, t, &mut dst).await;
    login::close(dst).await;
    Ok(sql_mode::judge_sql_modes(&src_mode, &dst_mode?, &mode_sensitive_columns(&sel)))
}

async fn read_collations(conn: &mut Conn) -> Result<HashSet<String>, mysql_async::Error> {
    let mut out = HashSet::new();
    let rows: Vec<Row> = conn.query("SELECT COLLATION_NAME FROM information_schema.COLLATIONS").await?;
    out.extend(rows.iter().filter_map(|r| text(r, 0)).map(|c| version::normalize_collation(&c)));
    // MariaDB 10.10+ names its charset-independent collations (uca1400_ai_ci)
    // per character set only here; older servers lack the column.
    if let Ok(rows) = conn
        .query::<Row, _>("SELECT FULL_COLLATION_NAME FROM information_schema.COLLATION_CHARACTER_SET_APPLICABILITY")
        .await
    {
        out.extend(rows.iter().filter_map(|r| text(r, 0)).map(|c| version::normalize_collation(&c)));
    }
    Ok(out)
}

/// Collations and version-dependent column types the selection uses.
fn collation_and_type_uses(sel: &Selection) -> (Vec<version::CollationUse>, Vec<version::TypeUse>) {
    let mut by_collation: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in &sel.databases {
        if let Some(c) = &d.default_collation {
            by_collation.entry(c.clone()).or_default().push(quote_ident(&d.name));
        }
    }
    for o in sel.tables() {
        if let Some(c) = &o.object.collation {
            by_collation.entry(c.clone()).or_default().push(qualified(&o.object.db, &o.object.name));
        }
    }
    for c in &sel.columns {
        if let Some(coll) = &c.collation {
            by_collation.entry(coll.clone()).or_default().push(c.qualified());
        }
    }
    let collations = by_collation.into_iter().map(|(collation, used_by)| version::CollationUse { collation, used_by }).collect();
    let types = sel
        .columns
        .iter()
        .filter(|c| {
            matches!(c.data_type.as_str(), "json" | "inet6" | "inet4" | "uuid" | "vector" | "time" | "datetime" | "timestamp")
        })
        .map(|c| version::TypeUse { column: c.qualified(), data_type: c.data_type.clone(), column_type: c.column_type.clone() })
        .collect();
    (collations, types)
}

async fn check_topology(input: &PrecheckInput<'_>) -> Result<Outcome, Outcome> {
    let dest = destination(CHECK_TOPOLOGY, input)?;
    let t = input.timeout;
    let creates_structure = Steps::of(input.mode).structure;
    let mut src = sql::open(input.source, Side::Source, t).await?;
    let read = async {
        let v = read_version(input.source, Side::Source, t, &mut src).await?;
        let sel = if creates_structure { Some(source_selection(input, &mut src, true).await?) } else { None };
        Ok::<_, Outcome>((v, sel))
    }
    .await;
    login::close(src).await;
    let (src_version, sel) = read?;

    let mut dst = sql::open(dest, Side::Destination, t).await?;
    let read = async {
        let v = read_version(dest, Side::Destination, t, &mut dst).await?;
        let collations = if creates_structure {
            bounded(dest, Side::Destination, "the collations", t, read_collations(&mut dst)).await?
        } else {
            HashSet::new()
        };
        Ok::<_, Outcome>((v, collations))
    }
    .await;
    login::close(dst).await;
    let (dst_version, dest_collations) = read?;

    let (collations, types) = sel.as_ref().map(collation_and_type_uses).unwrap_or_default();
    Ok(version::judge_topology(&version::TopologyFacts {
        source: &src_version,
        dest: &dst_version,
        creates_structure,
        collations: &collations,
        types: &types,
        dest_collations: &dest_collations,
    }))
}

// ---------------------------------------------------------------------------
// Text helpers shared by the judges.

/// `` `name` `` with backticks doubled, as MySQL quotes identifiers.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `` `db`.`table` ``.
pub fn qualified(db: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(db), quote_ident(name))
}

/// `a, b, c and 7 more`: at most `max` names.
pub(crate) fn list_names<S: AsRef<str>>(names: impl Iterator<Item = S>, max: usize) -> String {
    let all: Vec<S> = names.collect();
    let shown: Vec<&str> = all.iter().take(max).map(AsRef::as_ref).collect();
    let mut out = shown.join(", ");
    if all.len() > max {
        out.push_str(&format!(" and {} more", all.len() - max));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(mode: MigrationMode, dest: bool) -> Vec<&'static str> {
        data_path_items(&mode, dest).into_iter().map(|i| i.name).collect()
    }

    #[test]
    fn items_follow_steps() {
        let sync = MigrationMode { structure_initialization: true, data_initialization: true, data_synchronization: true };
        assert_eq!(names(sync, true).len(), 10);
        let orders: Vec<u32> = data_path_items(&sync, true).iter().map(|i| i.order).collect();
        assert_eq!(orders, [30, 40, 50, 60, 70, 80, 100, 110, 140, 220]);
        let skippable: Vec<&str> = ITEMS.iter().filter(|i| i.can_skip).map(|i| i.name).collect();
        assert_eq!(skippable, [CHECK_SERVER_ID, CHECK_SRC, CHECK_SAME_OBJ, CHECK_TOPOLOGY]);

        let migrate = MigrationMode { structure_initialization: true, data_initialization: true, data_synchronization: false };
        assert_eq!(names(migrate, true), [CHECK_ENGINE, CHECK_SRC, CHECK_SAME_OBJ, CHECK_SQL_MODE, CHECK_TOPOLOGY]);
        // Subscription: incremental only, no destination.
        let track = MigrationMode { data_synchronization: true, ..Default::default() };
        assert_eq!(
            names(track, false),
            [CHECK_BINLOG_ON, CHECK_BINLOG_MODE, CHECK_BINLOG_ROW_IMAGE, CHECK_SERVER_ID, CHECK_BINLOG_EXIST, CHECK_ENGINE, CHECK_SRC]
        );
        // Synchronization alone into a MySQL destination writes into existing tables.
        assert!(!names(track, true).contains(&CHECK_SAME_OBJ));
        assert!(names(track, true).contains(&CHECK_SQL_MODE));
        // Nothing selected counts as everything.
        assert_eq!(names(MigrationMode::default(), true).len(), 10);
    }

    #[test]
    fn text_helpers() {
        assert_eq!(quote_ident("a`b"), "`a``b`");
        assert_eq!(qualified("d", "t"), "`d`.`t`");
        assert_eq!(list_names(["a", "b", "c"].iter(), 2), "a, b and 1 more");
        assert_eq!(list_names(["a"].iter(), 2), "a");
        assert_eq!(list_names(Vec::<String>::new().iter(), 2), "");
    }

    #[tokio::test]
    async fn unknown_item_and_foreign_engines() {
        let ep = Endpoint { engine_name: "MySQL".into(), ..Default::default() };
        let pg = Endpoint { engine_name: "PostgreSQL".into(), ..Default::default() };
        let list = opendts_core::dblist::DbList::parse(r#"{"a": {"all": true}}"#, opendts_core::dblist::DbListContext::Migration).unwrap();
        let mode = MigrationMode::default();
        let input = PrecheckInput {
            source: &ep,
            destination: Some(&pg),
            mode: &mode,
            db_list: &list,
            target_table_mode: opendts_core::reserve::TargetTableMode::Block,
            timeout: Duration::from_millis(200),
        };
        let o = run_item("CHECK_NOPE", &input).await;
        assert_eq!(o.failure, Some(FailureKind::NotSupported));
        assert!(o.detail.contains("CHECK_BINLOG_ON"), "{}", o.detail);
        let o = run_item(CHECK_SQL_MODE, &input).await;
        assert_eq!(o.failure, Some(FailureKind::NotSupported));
        assert!(o.detail.contains("PostgreSQL"), "{}", o.detail);
        let o = run_item(CHECK_TOPOLOGY, &PrecheckInput { destination: None, ..input }).await;
        assert_eq!(o.failure, Some(FailureKind::NotSupported));
        // An endpoint without an address fails without touching the network.
        let o = run_item(CHECK_SRC, &input).await;
        assert_eq!(o.failure, Some(FailureKind::NotSupported), "{o:?}");
        assert!(o.detail.starts_with("Could not reach the source database"), "{}", o.detail);
        let o = run_item(CHECK_ENGINE, &PrecheckInput { source: &pg, ..input }).await;
        assert_eq!(o.failure, Some(FailureKind::NotSupported));
    }
}
