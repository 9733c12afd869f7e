//! The whole schema migration of a PostgreSQL → PostgreSQL job, as an ordered
//! plan of DDL statements for the destination: schemas, sequences, tables and
//! their sequence defaults, unique and CHECK constraints before the full load;
//! non-unique indexes, foreign keys, exclusion constraints and views after it.
//!
//! ## Renames
//!
//! The DbList maps source schemas, tables and columns to destination names
//! ([`TableMapping`]). Column lists (index keys, constraint columns, foreign
//! key columns and their referenced table) are rebuilt from the catalog with
//! the destination names. Expressions (index expressions and predicates, CHECK
//! constraints, view definitions) are copied as the server deparses them, so
//! they are only accepted when every column they use keeps its name and every
//! schema-qualified name they contain is still right on the destination;
//! otherwise the plan is refused with an error naming the object and the
//! column or schema. An object is never created silently different.
//!
//! Expressions are deparsed with `search_path` set to `pg_catalog` alone, so
//! any user object an expression names (a function, a type, an operator) is
//! printed schema-qualified and a qualifier naming a renamed schema can be
//! seen. View definitions are deparsed with `search_path` set to the view's own
//! schema and recreated with `search_path` set to its destination schema, so
//! unqualified names move with the schema.
//!
//! ## Re-running
//!
//! A resumed job runs the plan again, so every statement tolerates its object
//! existing: `IF NOT EXISTS`, `CREATE OR REPLACE VIEW`, and `ADD CONSTRAINT`
//! inside a `DO` block that ignores `duplicate_object` (42710: a constraint of
//! that name exists on the table) and `duplicate_table` (42P07: a relation of
//! that name exists, raised for the index of a UNIQUE or EXCLUDE constraint).

use crate::error::{Context, PgError};
use crate::schema::{self, is_system, TableMapping};
use crate::session::{qualified, quote_ident, quote_literal};
use opendts_core::dblist::DbList;
use opendts_core::row::TableId;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use tokio_postgres::types::FromSql;
use tokio_postgres::{Client, Row};

/// One statement of the schema migration, and what it creates (for logs and errors, e.g. "index shop.orders_by_day").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DdlStep {
    pub what: String,
    pub sql: String,
}

impl DdlStep {
    fn new(what: impl Into<String>, sql: impl Into<String>) -> DdlStep {
        DdlStep { what: what.into(), sql: sql.into() }
    }
}

/// The DDL that recreates the selected objects on a PostgreSQL destination.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaPlan {
    /// Before the full load: schemas, sequences, tables (schema::table_ddl), sequence defaults
    /// (schema::deferred_defaults, with sequence names mapped to the destination schema), unique constraints
    /// and CHECK constraints.
    pub before_data: Vec<DdlStep>,
    /// After the full load: non-unique indexes (faster to build after a bulk load), foreign keys, views.
    pub after_data: Vec<DdlStep>,
}

/// Reads the source catalog (`client` is connected to the source database) and builds the plan for `tables`
/// (as returned by `schema::selected_tables(client, db_list)`). `db_list` tells which schemas are selected
/// whole (entries with "all": true), whose views and standalone sequences are included too.
///
/// The session's `search_path` is changed while expressions are deparsed and
/// restored before returning, also on error.
pub async fn schema_plan(client: &Client, db_list: &DbList, tables: &[TableMapping]) -> Result<SchemaPlan, PgError> {
    let saved = current_search_path(client).await?;
    let plan = build_plan(client, db_list, tables).await;
    let restored = set_search_path(client, &saved).await;
    let plan = plan?;
    restored?;
    Ok(plan)
}

/// Statements that set every migrated sequence (standalone, serial-owned, and identity sequences of the
/// migrated tables) on the destination to the source's current value: `SELECT setval(...)` with the
/// source's last_value and is_called. Read at call time (the engine calls it after the full load).
pub async fn sequence_values(client: &Client, db_list: &DbList, tables: &[TableMapping]) -> Result<Vec<DdlStep>, PgError> {
    let names = Names::read(client, db_list, tables).await?;
    let oids = table_oids(client, tables).await?;
    let mut used = Vec::new();
    for (m, oid) in tables.iter().zip(&oids) {
        used.extend(sequence_defaults(client, m, *oid).await?.into_iter().flat_map(|d| d.sequences).map(|s| s.oid));
    }
    let sequences = planned_sequences(client, &names, &used, &oids).await?;
    let mut out = Vec::with_capacity(sequences.len());
    for s in &sequences {
        let what = || format!("read the current value of sequence {}", s.source);
        let row = client
            .query_one(&format!("SELECT last_value, is_called FROM {}", qualified(&s.source.schema, &s.source.table)), &[])
            .await
            .context(what)?;
        let last_value: i64 = get(&row, 0, &what())?;
        let is_called: bool = get(&row, 1, &what())?;
        out.push(setval_step(s, last_value, is_called));
    }
    Ok(out)
}

async fn build_plan(client: &Client, db_list: &DbList, tables: &[TableMapping]) -> Result<SchemaPlan, PgError> {
    let version = schema::server_version_num(client).await?;
    if version < 100_000 {
        return Err(PgError::other("plan the schema migration", "the source must be PostgreSQL 10 or later (pg_sequence)"));
    }
    let names = Names::read(client, db_list, tables).await?;
    set_search_path(client, "pg_catalog").await?;
    let oids = table_oids(client, tables).await?;
    let mut defaults = Vec::with_capacity(tables.len());
    for (m, oid) in tables.iter().zip(&oids) {
        defaults.push(sequence_defaults(client, m, *oid).await?);
    }
    let used: Vec<u32> = defaults.iter().flatten().flat_map(|d| &d.sequences).map(|s| s.oid).collect();
    let sequences = planned_sequences(client, &names, &used, &oids).await?;

    let mut plan = SchemaPlan::default();
    let dest_schemas: BTreeSet<String> =
        tables.iter().map(|m| m.dest.schema.clone()).chain(names.whole.iter().filter_map(|s| names.dest_schema(s))).collect();
    for s in &dest_schemas {
        plan.before_data.push(DdlStep::new(format!("schema {s}"), schema::create_schema_sql(s)));
    }
    plan.before_data.extend(user_type_steps(client, &oids).await?);
    for s in sequences.iter().filter(|s| s.identity.is_none()) {
        plan.before_data.push(create_sequence_step(s));
    }
    for m in tables {
        let (table, key) = schema::table_ddl_key_after(m)?;
        plan.before_data.push(DdlStep::new(format!("table {}", m.dest), table));
        if let Some(key) = key {
            plan.after_data.push(DdlStep::new(format!("primary key of {}", m.dest), key));
        }
    }
    for (m, d) in tables.iter().zip(&defaults) {
        plan.before_data.extend(default_steps(m, d, &sequences)?);
    }
    for s in &sequences {
        plan.before_data.extend(owner_step(s));
    }
    for (m, oid) in tables.iter().zip(&oids) {
        let constraints = read_constraints(client, *oid, version, m).await?;
        for c in &constraints {
            if let Some((step, after)) = constraint_step(c, m, &names)? {
                if after { plan.after_data.push(step) } else { plan.before_data.push(step) }
            }
        }
        for ix in read_indexes(client, *oid, version, m).await? {
            if let Some(step) = index_step(&ix, m, &names)? {
                if ix.unique { plan.before_data.push(step) } else { plan.after_data.push(step) }
            }
        }
    }
    // Primary keys first, foreign keys after every index: they need the referenced unique index.
    plan.after_data.sort_by_key(|s| (!s.what.starts_with("primary key"), s.what.starts_with("foreign key")));
    let views = read_views(client, &names).await?;
    let planned_views: HashSet<TableId> = views.iter().map(|v| v.source.clone()).collect();
    let planned_seqs: HashSet<TableId> = sequences.iter().map(|s| s.source.clone()).collect();
    for v in order_views(&views)? {
        plan.after_data.push(view_step(v, &names, &planned_views, &planned_seqs)?);
    }
    Ok(plan)
}

// ---------------------------------------------------------------------------
// User-defined types

/// Enums, domains and composite types the tables' columns use (directly, as
/// array elements, under a domain or inside a composite), created before the
/// tables in the schema of the same name as on the source: that is how the
/// columns' types name them (qualified by that schema, or unqualified when it
/// is `public`, found through the destination's default `search_path`).
/// Enums come first, then the others in the order the source created them,
/// which is an order their dependencies allow. A type that exists already is kept.
async fn user_type_steps(client: &Client, table_oids: &[u32]) -> Result<Vec<DdlStep>, PgError> {
    let what = "read the user-defined types of the tables";
    let rows = client
        .query(
            "WITH RECURSIVE used(oid) AS (
                 SELECT a.atttypid FROM pg_catalog.pg_attribute a
                 WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped
               UNION
                 SELECT v.x FROM used u JOIN pg_catalog.pg_type t ON t.oid = u.oid,
                   LATERAL (SELECT NULLIF(t.typelem, 0) UNION ALL SELECT NULLIF(t.typbasetype, 0)
                            UNION ALL SELECT a.atttypid FROM pg_catalog.pg_attribute a
                            WHERE t.typtype = 'c' AND a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) AS v(x)
                 WHERE v.x IS NOT NULL)
             SELECT n.nspname::text, t.typname::text, t.typtype::text,
                    CASE WHEN t.typtype = 'd' THEN pg_catalog.format_type(t.typbasetype, t.typtypmod) END,
                    t.typnotnull, pg_catalog.pg_get_expr(t.typdefaultbin, 0),
                    ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder),
                    ARRAY(SELECT 'CONSTRAINT ' || pg_catalog.quote_ident(c.conname) || ' ' || pg_catalog.pg_get_constraintdef(c.oid)
                          FROM pg_catalog.pg_constraint c WHERE c.contypid = t.oid AND c.contype = 'c' ORDER BY c.conname),
                    ARRAY(SELECT pg_catalog.quote_ident(a.attname) || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod)
                                 || coalesce((SELECT ' COLLATE ' || pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname)
                                              FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
                                              JOIN pg_catalog.pg_type at ON at.oid = a.atttypid
                                              WHERE co.oid = a.attcollation AND a.attcollation <> at.typcollation), '')
                          FROM pg_catalog.pg_attribute a
                          WHERE t.typtype = 'c' AND a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum)
             FROM (SELECT DISTINCT oid FROM used) u
             JOIN pg_catalog.pg_type t ON t.oid = u.oid
             JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
             LEFT JOIN pg_catalog.pg_class r ON r.oid = t.typrelid
             WHERE t.oid >= 16384 AND (t.typtype IN ('e', 'd') OR (t.typtype = 'c' AND r.relkind = 'c'))
             ORDER BY t.typtype <> 'e', t.oid",
            &[&table_oids],
        )
        .await
        .context(|| what.to_string())?;
    let mut steps = Vec::new();
    let mut schemas = BTreeSet::new();
    for row in &rows {
        let (nsp, name, kind): (String, String, String) = (get(row, 0, what)?, get(row, 1, what)?, get(row, 2, what)?);
        if schemas.insert(nsp.clone()) {
            steps.push(DdlStep::new(format!("schema {nsp}"), schema::create_schema_sql(&nsp)));
        }
        let type_name = qualified(&nsp, &name);
        if kind == "e" {
            let labels: Vec<String> = get(row, 6, what)?;
            let labels: Vec<String> = labels.iter().map(|l| quote_literal(l)).collect();
            let sql = format!("CREATE TYPE {type_name} AS ENUM ({})", labels.join(", "));
            steps.push(DdlStep::new(format!("enum {nsp}.{name}"), tolerate_existing(&sql)));
        } else if kind == "c" {
            let attributes: Vec<String> = get(row, 8, what)?;
            let sql = format!("CREATE TYPE {type_name} AS ({})", attributes.join(", "));
            steps.push(DdlStep::new(format!("composite type {nsp}.{name}"), tolerate_existing(&sql)));
        } else {
            let base: String = get(row, 3, what)?;
            let mut sql = format!("CREATE DOMAIN {type_name} AS {base}");
            if let Some(default) = get::<Option<String>>(row, 5, what)? {
                sql.push_str(&format!(" DEFAULT {default}"));
            }
            if get::<bool>(row, 4, what)? {
                sql.push_str(" NOT NULL");
            }
            for check in get::<Vec<String>>(row, 7, what)? {
                sql.push(' ');
                sql.push_str(&check);
            }
            steps.push(DdlStep::new(format!("domain {nsp}.{name}"), tolerate_existing(&sql)));
        }
    }
    Ok(steps)
}

// ---------------------------------------------------------------------------
// Names

/// How source names map to destination names: the DbList's schemas and the selected tables.
struct Names<'a> {
    db_list: &'a DbList,
    /// Selected tables by source name.
    tables: HashMap<TableId, &'a TableMapping>,
    /// Selected source schemas whose destination name differs: source → destination.
    renamed: BTreeMap<String, String>,
    /// Source schemas the DbList selects whole, in name order.
    whole: Vec<String>,
}

impl<'a> Names<'a> {
    /// `schemas` are the source database's schemas.
    fn new(db_list: &'a DbList, tables: &'a [TableMapping], schemas: &[String]) -> Names<'a> {
        let mut renamed = BTreeMap::new();
        let mut whole = Vec::new();
        for s in schemas.iter().filter(|s| !is_system(s)) {
            let Some(spec) = db_list.select_database(s) else { continue };
            let dest = spec.dest_name_for(s);
            if dest != s {
                renamed.insert(s.clone(), dest.to_string());
            }
            if spec.all {
                whole.push(s.clone());
            }
        }
        for m in tables.iter().filter(|m| m.source.schema != m.dest.schema) {
            renamed.insert(m.source.schema.clone(), m.dest.schema.clone());
        }
        Names { db_list, tables: tables.iter().map(|m| (m.source.clone(), m)).collect(), renamed, whole }
    }

    async fn read(client: &Client, db_list: &'a DbList, tables: &'a [TableMapping]) -> Result<Names<'a>, PgError> {
        let what = "list the source schemas";
        let rows = client
            .query("SELECT nspname::text FROM pg_catalog.pg_namespace ORDER BY 1", &[])
            .await
            .context(|| what.into())?;
        let schemas = rows.iter().map(|r| get::<String>(r, 0, what)).collect::<Result<Vec<_>, _>>()?;
        Ok(Names::new(db_list, tables, &schemas))
    }

    /// The destination schema of a selected source schema.
    fn dest_schema(&self, source: &str) -> Option<String> {
        if let Some(dest) = self.renamed.get(source) {
            return Some(dest.clone());
        }
        self.db_list.select_database(source).map(|d| d.dest_name_for(source).to_string())
    }

    fn table(&self, id: &TableId) -> Option<&'a TableMapping> {
        self.tables.get(id).copied()
    }
}

// ---------------------------------------------------------------------------
// Catalog access

fn get<'r, T: FromSql<'r>>(row: &'r Row, idx: usize, what: &str) -> Result<T, PgError> {
    row.try_get(idx).context(|| what.to_string())
}

async fn current_search_path(client: &Client) -> Result<String, PgError> {
    let what = "read search_path";
    let row = client.query_one("SELECT pg_catalog.current_setting('search_path')", &[]).await.context(|| what.into())?;
    get(&row, 0, what)
}

/// Sets the session's `search_path`, which decides how the server qualifies names when it deparses.
async fn set_search_path(client: &Client, path: &str) -> Result<(), PgError> {
    client
        .execute("SELECT pg_catalog.set_config('search_path', $1, false)", &[&path])
        .await
        .context(|| format!("set search_path to {path}"))?;
    Ok(())
}

/// The oids of the source tables, in the order of `tables`.
async fn table_oids(client: &Client, tables: &[TableMapping]) -> Result<Vec<u32>, PgError> {
    let mut out = Vec::with_capacity(tables.len());
    for m in tables {
        let what = || format!("find table {}", m.source);
        let row = client
            .query_opt(
                "SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = $1 AND c.relname = $2",
                &[&m.source.schema, &m.source.table],
            )
            .await
            .context(what)?
            .ok_or_else(|| PgError::other(what(), "the table no longer exists"))?;
        out.push(get(&row, 0, &what())?);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Sequences

/// The options of a sequence, from `pg_sequence`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SequenceOptions {
    data_type: String,
    start: i64,
    increment: i64,
    min: i64,
    max: i64,
    cache: i64,
    cycle: bool,
}

impl SequenceOptions {
    /// The option list of `CREATE SEQUENCE`.
    fn create_clauses(&self) -> String {
        format!(
            "AS {} INCREMENT BY {} MINVALUE {} MAXVALUE {} START WITH {} CACHE {} {}",
            self.data_type,
            self.increment,
            self.min,
            self.max,
            self.start,
            self.cache,
            if self.cycle { "CYCLE" } else { "NO CYCLE" }
        )
    }

    /// The same options for an identity column (`ALTER COLUMN ... SET ...`): the
    /// identity clause of `table_ddl` creates the sequence with the defaults.
    fn identity_clauses(&self) -> String {
        format!(
            "SET INCREMENT BY {} SET MINVALUE {} SET MAXVALUE {} SET START WITH {} SET CACHE {} SET {}",
            self.increment,
            self.min,
            self.max,
            self.start,
            self.cache,
            if self.cycle { "CYCLE" } else { "NO CYCLE" }
        )
    }
}

/// A sequence the job migrates.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PlannedSequence {
    oid: u32,
    source: TableId,
    /// The same name in the destination schema (unused for identity sequences).
    dest: TableId,
    options: SequenceOptions,
    /// For an identity sequence, the destination table and column: the
    /// destination names the sequence itself, so it is found with `pg_get_serial_sequence`.
    identity: Option<(TableId, String)>,
    /// The destination table and column that own a serial sequence (`OWNED BY`), when migrated.
    owner: Option<(TableId, String)>,
}

/// Standalone sequences of whole-selected schemas, sequences that defaults of
/// the migrated tables draw from (`used`), and identity sequences of the
/// migrated tables (`table_oids`) whose column is copied.
async fn planned_sequences(
    client: &Client,
    names: &Names<'_>,
    used: &[u32],
    table_oids: &[u32],
) -> Result<Vec<PlannedSequence>, PgError> {
    let what = "read the source sequences";
    let rows = client
        .query(
            "SELECT n.nspname::text, s.relname::text, pg_catalog.format_type(q.seqtypid, NULL), q.seqstart, q.seqincrement,
                    q.seqmin, q.seqmax, q.seqcache, q.seqcycle, own.deptype::text, own_n.nspname::text, own_c.relname::text,
                    own_a.attname::text, s.oid = ANY($2::oid[]), s.oid
             FROM pg_catalog.pg_class s
             JOIN pg_catalog.pg_namespace n ON n.oid = s.relnamespace
             JOIN pg_catalog.pg_sequence q ON q.seqrelid = s.oid
             LEFT JOIN pg_catalog.pg_depend own ON own.classid = 'pg_catalog.pg_class'::regclass AND own.objid = s.oid
                  AND own.refclassid = 'pg_catalog.pg_class'::regclass AND own.deptype IN ('a', 'i') AND own.refobjsubid > 0
             LEFT JOIN pg_catalog.pg_class own_c ON own_c.oid = own.refobjid
             LEFT JOIN pg_catalog.pg_namespace own_n ON own_n.oid = own_c.relnamespace
             LEFT JOIN pg_catalog.pg_attribute own_a ON own_a.attrelid = own.refobjid AND own_a.attnum = own.refobjsubid
             WHERE s.relkind = 'S' AND (n.nspname = ANY($1) OR s.oid = ANY($2::oid[]) OR own_c.oid = ANY($3::oid[]))
             ORDER BY 1, 2",
            &[&names.whole, &used, &table_oids],
        )
        .await
        .context(|| what.into())?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let source = TableId::new(get::<String>(r, 0, what)?, get::<String>(r, 1, what)?);
        let options = SequenceOptions {
            data_type: get(r, 2, what)?,
            start: get(r, 3, what)?,
            increment: get(r, 4, what)?,
            min: get(r, 5, what)?,
            max: get(r, 6, what)?,
            cache: get(r, 7, what)?,
            cycle: get(r, 8, what)?,
        };
        let deptype: Option<String> = get(r, 9, what)?;
        let owner_table = match (get::<Option<String>>(r, 10, what)?, get::<Option<String>>(r, 11, what)?) {
            (Some(s), Some(t)) => Some(TableId::new(s, t)),
            _ => None,
        };
        let owner_column: Option<String> = get(r, 12, what)?;
        let is_used: bool = get(r, 13, what)?;
        let oid: u32 = get(r, 14, what)?;
        // The destination of the owning column, when its table is migrated and the column copied.
        let owner = owner_table.as_ref().and_then(|t| names.table(t)).and_then(|m| {
            let column = m.dest_column(owner_column.as_deref()?)?;
            Some((m.dest.clone(), column.to_string()))
        });
        if deptype.as_deref() == Some("i") {
            // Identity: created by the table's identity clause; only migrated with its column.
            if let Some(owner) = owner {
                out.push(PlannedSequence { oid, dest: source.clone(), source, options, identity: Some(owner), owner: None });
            }
            continue;
        }
        let dest_schema = names
            .dest_schema(&source.schema)
            .or_else(|| if is_used { user_dest_schema(names, &source, owner.as_ref()) } else { None });
        let Some(dest_schema) = dest_schema else { continue };
        out.push(PlannedSequence { oid, dest: TableId::new(dest_schema, source.table.clone()), source, options, identity: None, owner });
    }
    Ok(out)
}

/// The destination schema of a used sequence in a schema the DbList does not
/// select: that of the table that owns it, else of a table in its schema.
fn user_dest_schema(names: &Names<'_>, seq: &TableId, owner: Option<&(TableId, String)>) -> Option<String> {
    if let Some((t, _)) = owner {
        return Some(t.schema.clone());
    }
    let mut dests: Vec<&String> = names.tables.values().map(|m| &m.dest.schema).collect();
    dests.sort();
    tracing::debug!(sequence = %seq, "sequence outside the selected schemas; created beside the first table using it");
    dests.first().map(|s| (*s).clone())
}

fn create_sequence_step(s: &PlannedSequence) -> DdlStep {
    DdlStep::new(
        format!("sequence {}", s.dest),
        format!("CREATE SEQUENCE IF NOT EXISTS {} {}", qualified(&s.dest.schema, &s.dest.table), s.options.create_clauses()),
    )
}

/// `ALTER SEQUENCE ... OWNED BY` for a serial sequence, or the options of an
/// identity column's sequence; `None` for a sequence without an owner.
fn owner_step(s: &PlannedSequence) -> Option<DdlStep> {
    if let Some((table, column)) = &s.identity {
        return Some(DdlStep::new(
            format!("identity options of {table}.{column}"),
            format!(
                "ALTER TABLE {} ALTER COLUMN {} {}",
                qualified(&table.schema, &table.table),
                quote_ident(column),
                s.options.identity_clauses()
            ),
        ));
    }
    let (table, column) = s.owner.as_ref()?;
    Some(DdlStep::new(
        format!("owner of sequence {}", s.dest),
        format!(
            "ALTER SEQUENCE {} OWNED BY {}.{}",
            qualified(&s.dest.schema, &s.dest.table),
            qualified(&table.schema, &table.table),
            quote_ident(column)
        ),
    ))
}

/// `SELECT setval(...)` for the destination of `s`.
fn setval_step(s: &PlannedSequence, last_value: i64, is_called: bool) -> DdlStep {
    let target = match &s.identity {
        Some((table, column)) => format!(
            "pg_catalog.pg_get_serial_sequence({}, {})",
            quote_literal(&qualified(&table.schema, &table.table)),
            quote_literal(column)
        ),
        None => quote_literal(&qualified(&s.dest.schema, &s.dest.table)),
    };
    let what = match &s.identity {
        Some((table, column)) => format!("value of the identity sequence of {table}.{column}"),
        None => format!("value of sequence {}", s.dest),
    };
    DdlStep::new(what, format!("SELECT pg_catalog.setval({target}, {last_value}, {is_called})"))
}

/// A sequence a column default draws from, and how the deparsed default names it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DefaultSequence {
    oid: u32,
    /// `quote_literal(oid::regclass::text)` under the deparsing search_path, e.g. `'app.t_id_seq'`.
    literal: String,
}

/// A sequence default of a copied column, deparsed, with the sequences it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SequenceDefault {
    column: String,
    expression: String,
    sequences: Vec<DefaultSequence>,
}

/// The defaults [`schema::deferred_defaults`] emits for `m` (copied,
/// non-identity columns whose default calls `nextval`), with the sequences
/// they depend on.
async fn sequence_defaults(client: &Client, m: &TableMapping, oid: u32) -> Result<Vec<SequenceDefault>, PgError> {
    let what = format!("read the sequence defaults of {}", m.source);
    let rows = client
        .query(
            "SELECT a.attname::text, pg_catalog.pg_get_expr(d.adbin, d.adrelid), s.oid,
                    pg_catalog.quote_literal(s.oid::regclass::text)
             FROM pg_catalog.pg_attrdef d
             JOIN pg_catalog.pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
             LEFT JOIN pg_catalog.pg_depend dep ON dep.classid = 'pg_catalog.pg_attrdef'::regclass AND dep.objid = d.oid
                  AND dep.refclassid = 'pg_catalog.pg_class'::regclass
             LEFT JOIN pg_catalog.pg_class s ON s.oid = dep.refobjid AND s.relkind = 'S'
             WHERE d.adrelid = $1
             ORDER BY a.attnum, 3",
            &[&oid],
        )
        .await
        .context(|| what.clone())?;
    let mut out: Vec<SequenceDefault> = Vec::new();
    for r in &rows {
        let column: String = get(r, 0, &what)?;
        let wanted = m.pg_columns.iter().any(|c| {
            c.name == column && c.identity.is_none() && c.generated.is_none() && c.default_uses_sequence()
        }) && m.dest_column(&column).is_some();
        if !wanted {
            continue;
        }
        let sequence = match (get::<Option<u32>>(r, 2, &what)?, get::<Option<String>>(r, 3, &what)?) {
            (Some(oid), Some(literal)) => Some(DefaultSequence { oid, literal }),
            _ => None,
        };
        match out.last_mut().filter(|d| d.column == column) {
            Some(d) => d.sequences.extend(sequence),
            None => out.push(SequenceDefault {
                column,
                expression: get(r, 1, &what)?,
                sequences: sequence.into_iter().collect(),
            }),
        }
    }
    Ok(out)
}

/// `schema::deferred_defaults` of `m`, with every sequence the defaults name
/// replaced by its destination.
fn default_steps(m: &TableMapping, defaults: &[SequenceDefault], sequences: &[PlannedSequence]) -> Result<Vec<DdlStep>, PgError> {
    let mut rewritten = m.clone();
    for d in defaults {
        let context = || format!("default of column {}.{}", m.source, quote_ident(&d.column));
        if d.sequences.is_empty() {
            return Err(PgError::other(
                context(),
                format!("{} names its sequence as text, not regclass; it cannot be mapped to the destination", d.expression),
            ));
        }
        let mut replacements = Vec::new();
        for s in &d.sequences {
            let dest = sequences
                .iter()
                .find(|p| p.identity.is_none() && p.oid == s.oid)
                .map(|p| &p.dest)
                .ok_or_else(|| PgError::other(context(), format!("the sequence {} is not migrated", s.literal)))?;
            replacements.push((s.literal.clone(), quote_literal(&qualified(&dest.schema, &dest.table))));
        }
        let expression = rewrite_sequence_literals(&d.expression, &replacements).map_err(|e| PgError::other(context(), e))?;
        for c in rewritten.pg_columns.iter_mut().filter(|c| c.name == d.column) {
            c.default = Some(expression.clone());
        }
    }
    Ok(schema::deferred_defaults(&rewritten)
        .into_iter()
        .map(|sql| DdlStep::new(format!("sequence default of {}", m.dest), sql))
        .collect())
}

/// Replaces each `'source'::regclass` literal by its destination literal; every
/// literal must be found, or the default would keep naming the source sequence.
fn rewrite_sequence_literals(expression: &str, replacements: &[(String, String)]) -> Result<String, String> {
    let mut out = expression.to_string();
    for (from, to) in replacements {
        let needle = format!("{from}::regclass");
        if !out.contains(&needle) {
            return Err(format!("{expression} does not name the sequence as {needle}; it cannot be mapped"));
        }
        out = out.replace(&needle, &format!("{to}::regclass"));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// SQL text: just enough tokenizing to find identifiers and qualifiers

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// An identifier, as the server folds it (unquoted names lower-cased, quotes removed).
    Ident(String),
    Dot,
    /// Literals, numbers, operators, punctuation.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    kind: Tok,
    start: usize,
    end: usize,
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_char(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

/// Splits deparsed SQL into tokens, skipping string literals, dollar quotes and comments.
fn tokenize(sql: &str) -> Vec<Token> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let kind = if c == b'\'' {
            i = skip_string(b, i, false);
            Tok::Other
        } else if (c == b'E' || c == b'e') && b.get(i + 1) == Some(&b'\'') {
            i = skip_string(b, i + 1, true);
            Tok::Other
        } else if c == b'"' {
            let mut value = Vec::new();
            i += 1;
            while i < b.len() {
                if b[i] == b'"' {
                    if b.get(i + 1) == Some(&b'"') {
                        value.push(b'"');
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                value.push(b[i]);
                i += 1;
            }
            Tok::Ident(String::from_utf8_lossy(&value).into_owned())
        } else if c == b'$' {
            i = skip_dollar(b, i);
            Tok::Other
        } else if c == b'-' && b.get(i + 1) == Some(&b'-') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                i += 1;
            }
            i = (i + 2).min(b.len());
            continue;
        } else if is_ident_start(c) {
            while i < b.len() && is_ident_char(b[i]) {
                i += 1;
            }
            Tok::Ident(sql[start..i].to_ascii_lowercase())
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_') {
                i += 1;
            }
            Tok::Other
        } else if c == b'.' {
            i += 1;
            Tok::Dot
        } else {
            i += 1;
            Tok::Other
        };
        out.push(Token { kind, start, end: i });
    }
    out
}

/// The end of the string literal whose opening quote is at `i`.
fn skip_string(b: &[u8], mut i: usize, backslash_escapes: bool) -> usize {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' if backslash_escapes => i += 2,
            b'\'' if b.get(i + 1) == Some(&b'\'') => i += 2,
            b'\'' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// The end of a dollar-quoted string at `i` (or of a `$1` parameter).
fn skip_dollar(b: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    while j < b.len() && is_ident_char(b[j]) && b[j] != b'$' {
        j += 1;
    }
    if b.get(j) != Some(&b'$') || b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        return j.max(i + 1);
    }
    let tag = &b[i..=j];
    let mut k = j + 1;
    while k + tag.len() <= b.len() {
        if &b[k..k + tag.len()] == tag {
            return k + tag.len();
        }
        k += 1;
    }
    b.len()
}

/// The first qualifier (`x` in `x.y`) of `sql` that is a schema the DbList renames:
/// such a name would still point at the source schema's name on the destination.
fn renamed_qualifier<'r>(sql: &str, renamed: &'r BTreeMap<String, String>) -> Option<&'r str> {
    let tokens = tokenize(sql);
    tokens.windows(2).find_map(|w| match (&w[0].kind, &w[1].kind) {
        (Tok::Ident(name), Tok::Dot) => renamed.get_key_value(name).map(|(k, _)| k.as_str()),
        _ => None,
    })
}

/// Whether `sql` contains the identifier `name` (a column name, for instance).
fn mentions(sql: &str, name: &str) -> bool {
    tokenize(sql).iter().any(|t| matches!(&t.kind, Tok::Ident(n) if n == name))
}

// ---------------------------------------------------------------------------
// Constraints

/// A constraint of a source table (not the primary key), from `pg_constraint`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SourceConstraint {
    name: String,
    /// `u`, `c`, `f` or `x`.
    kind: char,
    deferrable: bool,
    deferred: bool,
    validated: bool,
    columns: Vec<String>,
    /// Foreign keys: the referenced table and columns.
    references: Option<TableId>,
    ref_columns: Vec<String>,
    /// Foreign keys: `confupdtype`, `confdeltype`, `confmatchtype`.
    on_update: char,
    on_delete: char,
    match_type: char,
    /// Foreign keys: the columns of `ON DELETE SET NULL/DEFAULT (...)`.
    delete_set_columns: Vec<String>,
    /// `pg_get_constraintdef`, for CHECK and EXCLUDE.
    definition: String,
    /// Unique: the INCLUDE columns and NULLS NOT DISTINCT of its index.
    include: Vec<String>,
    nulls_not_distinct: bool,
}

async fn read_constraints(client: &Client, oid: u32, version: i32, m: &TableMapping) -> Result<Vec<SourceConstraint>, PgError> {
    let cols = |key: &str, rel: &str| {
        format!(
            "ARRAY(SELECT a.attname::text FROM unnest(c.{key}) WITH ORDINALITY AS k(n, o)
                   JOIN pg_catalog.pg_attribute a ON a.attrelid = c.{rel} AND a.attnum = k.n ORDER BY k.o)"
        )
    };
    let (nnd, delset) = if version >= 150_000 {
        (
            "COALESCE((SELECT i.indnullsnotdistinct FROM pg_catalog.pg_index i WHERE i.indexrelid = c.conindid), false)".to_string(),
            cols("confdelsetcols", "conrelid"),
        )
    } else {
        ("false".to_string(), "ARRAY[]::text[]".to_string())
    };
    let parent = if version >= 110_000 { "AND c.conparentid = 0" } else { "" };
    let sql = format!(
        "SELECT c.conname::text, c.contype::text, c.condeferrable, c.condeferred, c.convalidated, {conkey},
                fn.nspname::text, fc.relname::text, {confkey}, c.confupdtype::text, c.confdeltype::text,
                c.confmatchtype::text, pg_catalog.pg_get_constraintdef(c.oid, true),
                ARRAY(SELECT a.attname::text FROM pg_catalog.pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(n, o)
                      JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n
                      WHERE i.indexrelid = c.conindid AND c.contype = 'u' AND k.o > i.indnkeyatts ORDER BY k.o),
                CASE WHEN c.contype = 'u' THEN {nnd} ELSE false END, {delset}
         FROM pg_catalog.pg_constraint c
         LEFT JOIN pg_catalog.pg_class fc ON fc.oid = c.confrelid
         LEFT JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace
         WHERE c.conrelid = $1 AND c.contype IN ('u', 'c', 'f', 'x') AND c.conislocal {parent}
         ORDER BY c.contype DESC, c.conname",
        conkey = cols("conkey", "conrelid"),
        confkey = cols("confkey", "confrelid"),
    );
    let what = format!("read the constraints of {}", m.source);
    let rows = client.query(&sql, &[&oid]).await.context(|| what.clone())?;
    let ch = |s: String| s.chars().next().unwrap_or(' ');
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let references = match (get::<Option<String>>(r, 6, &what)?, get::<Option<String>>(r, 7, &what)?) {
            (Some(s), Some(t)) => Some(TableId::new(s, t)),
            _ => None,
        };
        out.push(SourceConstraint {
            name: get(r, 0, &what)?,
            kind: ch(get(r, 1, &what)?),
            deferrable: get(r, 2, &what)?,
            deferred: get(r, 3, &what)?,
            validated: get(r, 4, &what)?,
            columns: get(r, 5, &what)?,
            references,
            ref_columns: get(r, 8, &what)?,
            on_update: ch(get(r, 9, &what)?),
            on_delete: ch(get(r, 10, &what)?),
            match_type: ch(get(r, 11, &what)?),
            definition: get(r, 12, &what)?,
            include: get(r, 13, &what)?,
            nulls_not_distinct: get(r, 14, &what)?,
            delete_set_columns: get(r, 15, &what)?,
        });
    }
    Ok(out)
}

/// Wraps `ALTER TABLE ... ADD CONSTRAINT` so that running it again is a no-op:
/// 42710 (duplicate_object) is raised when the table has a constraint of that
/// name, 42P07 (duplicate_table) when a UNIQUE/EXCLUDE constraint's index name is taken.
fn tolerate_existing(statement: &str) -> String {
    let mut tag = "$odts$".to_string();
    let mut n = 0;
    while statement.contains(&tag) {
        n += 1;
        tag = format!("$odts{n}$");
    }
    format!("DO {tag} BEGIN {statement}; EXCEPTION WHEN duplicate_object OR duplicate_table THEN NULL; END {tag}")
}

/// The destination names of `columns` of `m`, or the first one that is not copied.
fn dest_columns(m: &TableMapping, columns: &[String]) -> Result<Vec<String>, String> {
    columns.iter().map(|c| m.dest_column(c).map(quote_ident).ok_or_else(|| c.clone())).collect()
}

/// The `DEFERRABLE` clause of a constraint.
fn deferrable_clause(deferrable: bool, deferred: bool) -> &'static str {
    match (deferrable, deferred) {
        (true, true) => " DEFERRABLE INITIALLY DEFERRED",
        (true, false) => " DEFERRABLE",
        _ => "",
    }
}

/// The DDL of a constraint on the destination, and whether it belongs after the
/// full load; `None` (with a warning) when it cannot exist there because a
/// column it lists is left out or the table it references is not migrated.
fn constraint_step(c: &SourceConstraint, m: &TableMapping, names: &Names<'_>) -> Result<Option<(DdlStep, bool)>, PgError> {
    let table = qualified(&m.dest.schema, &m.dest.table);
    let what = match c.kind {
        'u' => "unique constraint",
        'c' => "check constraint",
        'f' => "foreign key",
        _ => "exclusion constraint",
    };
    let label = format!("{what} {}.{} on {}", m.dest.schema, c.name, m.dest.table);
    let source_label = || format!("{what} {} of {}", quote_ident(&c.name), m.source);
    let skip = |column: &str, table: &TableId| {
        tracing::warn!(constraint = %c.name, table = %table, column, "{what} left out: the DbList does not copy its column");
        Ok(None)
    };
    let body = match c.kind {
        'c' | 'x' => {
            expression_columns_kept(m, &c.columns).map_err(|col| {
                PgError::other(
                    source_label(),
                    format!("its expression uses column {}, which the DbList renames or leaves out", quote_ident(&col)),
                )
            })?;
            refuse_renamed_qualifier(&c.definition, names, source_label)?;
            c.definition.clone()
        }
        'u' => {
            let cols = match dest_columns(m, &c.columns) {
                Ok(cols) => cols,
                Err(col) => return skip(&col, &m.source),
            };
            let include = match dest_columns(m, &c.include) {
                Ok(cols) => cols,
                Err(col) => return skip(&col, &m.source),
            };
            let mut body = format!("UNIQUE{} ({})", if c.nulls_not_distinct { " NULLS NOT DISTINCT" } else { "" }, cols.join(", "));
            if !include.is_empty() {
                body.push_str(&format!(" INCLUDE ({})", include.join(", ")));
            }
            body.push_str(deferrable_clause(c.deferrable, c.deferred));
            body
        }
        _ => {
            let Some(ref_id) = &c.references else {
                return Err(PgError::other(source_label(), "the referenced table is not in the catalog"));
            };
            let Some(target) = names.table(ref_id) else {
                tracing::warn!(constraint = %c.name, table = %m.source, references = %ref_id,
                    "foreign key left out: the table it references is not migrated");
                return Ok(None);
            };
            let cols = match dest_columns(m, &c.columns) {
                Ok(cols) => cols,
                Err(col) => return skip(&col, &m.source),
            };
            let ref_cols = match dest_columns(target, &c.ref_columns) {
                Ok(cols) => cols,
                Err(col) => return skip(&col, ref_id),
            };
            let set_cols = match dest_columns(m, &c.delete_set_columns) {
                Ok(cols) => cols,
                Err(col) => return skip(&col, &m.source),
            };
            foreign_key_body(c, &cols, &target.dest, &ref_cols, &set_cols)
        }
    };
    let sql = tolerate_existing(&format!("ALTER TABLE {table} ADD CONSTRAINT {} {body}", quote_ident(&c.name)));
    Ok(Some((DdlStep::new(label, sql), matches!(c.kind, 'f' | 'x'))))
}

/// `FOREIGN KEY (...) REFERENCES ... [MATCH FULL] [ON UPDATE ...] [ON DELETE ...] [DEFERRABLE ...] [NOT VALID]`.
fn foreign_key_body(c: &SourceConstraint, cols: &[String], target: &TableId, ref_cols: &[String], set_cols: &[String]) -> String {
    let action = |code: char, set_cols: &[String]| {
        let columns = if set_cols.is_empty() { String::new() } else { format!(" ({})", set_cols.join(", ")) };
        match code {
            'r' => Some("RESTRICT".to_string()),
            'c' => Some("CASCADE".to_string()),
            'n' => Some(format!("SET NULL{columns}")),
            'd' => Some(format!("SET DEFAULT{columns}")),
            _ => None,
        }
    };
    let mut body = format!(
        "FOREIGN KEY ({}) REFERENCES {} ({})",
        cols.join(", "),
        qualified(&target.schema, &target.table),
        ref_cols.join(", ")
    );
    match c.match_type {
        'f' => body.push_str(" MATCH FULL"),
        'p' => body.push_str(" MATCH PARTIAL"),
        _ => {}
    }
    if let Some(a) = action(c.on_update, &[]) {
        body.push_str(&format!(" ON UPDATE {a}"));
    }
    if let Some(a) = action(c.on_delete, set_cols) {
        body.push_str(&format!(" ON DELETE {a}"));
    }
    body.push_str(deferrable_clause(c.deferrable, c.deferred));
    if !c.validated {
        body.push_str(" NOT VALID");
    }
    body
}

/// Checks that every column an expression uses is copied under its own name,
/// else returns the first that is not.
fn expression_columns_kept(m: &TableMapping, columns: &[String]) -> Result<(), String> {
    match columns.iter().find(|c| m.dest_column(c) != Some(c.as_str())) {
        Some(c) => Err(c.clone()),
        None => Ok(()),
    }
}

/// Refuses deparsed SQL that names an object in a renamed schema: the
/// qualifier would still say the source schema on the destination.
fn refuse_renamed_qualifier(sql: &str, names: &Names<'_>, label: impl FnOnce() -> String) -> Result<(), PgError> {
    match renamed_qualifier(sql, &names.renamed) {
        Some(schema) => Err(PgError::other(
            label(),
            format!(
                "{sql} names an object of schema {}, which the DbList renames to {}; it cannot be rewritten safely",
                quote_ident(schema),
                quote_ident(names.renamed.get(schema).map(String::as_str).unwrap_or_default())
            ),
        )),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------
// Indexes

/// One key or INCLUDE column of an index.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IndexKey {
    /// The table column, or `None` for an expression.
    column: Option<String>,
    /// The expression as `pg_get_indexdef(index, n, true)` prints it.
    expression: String,
    /// An INCLUDE column rather than a key.
    include: bool,
    /// `indoption`: bit 1 DESC, bit 2 NULLS FIRST.
    option: i32,
    /// A non-default operator class (schema, name) and its options (`siglen=32`).
    opclass: Option<(String, String)>,
    opclass_options: Option<String>,
    /// The key's collation (schema, name), when it must be spelled out.
    collation: Option<(String, String)>,
}

/// An index of a source table that is neither the primary key nor a constraint's.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SourceIndex {
    name: String,
    method: String,
    unique: bool,
    valid: bool,
    can_order: bool,
    keys: Vec<IndexKey>,
    predicate: Option<String>,
    /// `reloptions`, e.g. `fillfactor=70`.
    options: String,
    nulls_not_distinct: bool,
    /// Every table column the index depends on (keys, expressions, predicate).
    uses: Vec<String>,
}

async fn read_indexes(client: &Client, oid: u32, version: i32, m: &TableMapping) -> Result<Vec<SourceIndex>, PgError> {
    let nnd = if version >= 150_000 { "i.indnullsnotdistinct" } else { "false" };
    let sql = format!(
        "SELECT ic.oid, ic.relname::text, am.amname::text, i.indisunique, i.indisvalid,
                pg_catalog.pg_indexam_has_property(am.oid, 'can_order'),
                pg_catalog.pg_get_expr(i.indpred, i.indrelid, true),
                COALESCE(array_to_string(ic.reloptions, ', '), ''), {nnd},
                ARRAY(SELECT DISTINCT a.attname::text FROM pg_catalog.pg_depend d
                      JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                      WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = i.indexrelid
                        AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = i.indrelid AND d.refobjsubid > 0)
         FROM pg_catalog.pg_index i
         JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
         JOIN pg_catalog.pg_am am ON am.oid = ic.relam
         WHERE i.indrelid = $1 AND NOT i.indisprimary
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
                           WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x'))
         ORDER BY 2"
    );
    let what = format!("read the indexes of {}", m.source);
    let rows = client.query(&sql, &[&oid]).await.context(|| what.clone())?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let index_oid: u32 = get(r, 0, &what)?;
        out.push(SourceIndex {
            name: get(r, 1, &what)?,
            method: get(r, 2, &what)?,
            unique: get(r, 3, &what)?,
            valid: get(r, 4, &what)?,
            can_order: get::<Option<bool>>(r, 5, &what)?.unwrap_or(false),
            keys: read_index_keys(client, index_oid, version, &what).await?,
            predicate: get(r, 6, &what)?,
            options: get(r, 7, &what)?,
            nulls_not_distinct: get(r, 8, &what)?,
            uses: get(r, 9, &what)?,
        });
    }
    Ok(out)
}

async fn read_index_keys(client: &Client, index: u32, version: i32, what: &str) -> Result<Vec<IndexKey>, PgError> {
    let attoptions = if version >= 130_000 {
        "(SELECT array_to_string(ia.attoptions, ', ') FROM pg_catalog.pg_attribute ia
          WHERE ia.attrelid = i.indexrelid AND ia.attnum = k.o)"
    } else {
        "NULL::text"
    };
    // An operator class is spelled out unless it is the default for the key's
    // type; a collation unless it is the default one on a plain column of the
    // default collation (table_ddl does not copy column collations, so any
    // other collation is written on the index itself).
    let sql = format!(
        "SELECT a.attname::text, pg_catalog.pg_get_indexdef(i.indexrelid, k.o::int4, true), k.o > i.indnkeyatts,
                COALESCE(i.indoption[(k.o - 1)::int4], 0)::int4,
                opcn.nspname::text, opc.opcname::text,
                (opc.oid IS NOT NULL AND (NOT opc.opcdefault OR (a.atttypid IS NOT NULL AND opc.opcintype <> a.atttypid
                   AND EXISTS (SELECT 1 FROM pg_catalog.pg_opclass d
                               WHERE d.opcmethod = opc.opcmethod AND d.opcdefault AND d.opcintype = a.atttypid)))),
                {attoptions},
                colln.nspname::text, coll.collname::text,
                (coll.oid IS NOT NULL AND NOT (a.attnum IS NOT NULL AND coll.oid = a.attcollation AND coll.oid = 100))
         FROM pg_catalog.pg_index i
         CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, o)
         LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND k.attnum <> 0
         LEFT JOIN pg_catalog.pg_opclass opc ON k.o <= i.indnkeyatts AND opc.oid = i.indclass[(k.o - 1)::int4]
         LEFT JOIN pg_catalog.pg_namespace opcn ON opcn.oid = opc.opcnamespace
         LEFT JOIN pg_catalog.pg_collation coll ON k.o <= i.indnkeyatts AND coll.oid = i.indcollation[(k.o - 1)::int4]
         LEFT JOIN pg_catalog.pg_namespace colln ON colln.oid = coll.collnamespace
         WHERE i.indexrelid = $1
         ORDER BY k.o"
    );
    let rows = client.query(&sql, &[&index]).await.context(|| what.to_string())?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let pair = |a: usize, b: usize| -> Result<Option<(String, String)>, PgError> {
            Ok(match (get::<Option<String>>(r, a, what)?, get::<Option<String>>(r, b, what)?) {
                (Some(s), Some(n)) => Some((s, n)),
                _ => None,
            })
        };
        let explicit_opclass: bool = get(r, 6, what)?;
        let explicit_collation: bool = get(r, 10, what)?;
        out.push(IndexKey {
            column: get(r, 0, what)?,
            expression: get(r, 1, what)?,
            include: get(r, 2, what)?,
            option: get(r, 3, what)?,
            opclass: if explicit_opclass { pair(4, 5)? } else { None },
            opclass_options: get::<Option<String>>(r, 7, what)?.filter(|s| !s.is_empty()),
            collation: if explicit_collation { pair(8, 9)? } else { None },
        });
    }
    Ok(out)
}

/// The table columns an index's expressions or predicate use: the columns it
/// depends on that are not plain keys, and plain keys whose name also appears
/// in an expression or the predicate.
fn index_expression_columns(ix: &SourceIndex) -> Vec<String> {
    let texts: Vec<&str> =
        ix.keys.iter().filter(|k| k.column.is_none()).map(|k| k.expression.as_str()).chain(ix.predicate.as_deref()).collect();
    ix.uses
        .iter()
        .filter(|c| {
            let plain = ix.keys.iter().any(|k| k.column.as_deref() == Some(c.as_str()));
            !plain || texts.iter().any(|t| mentions(t, c))
        })
        .cloned()
        .collect()
}

/// `CREATE [UNIQUE] INDEX IF NOT EXISTS` for the destination of `m`; `None`
/// (with a warning) for an invalid index or one over a column that is left out.
fn index_step(ix: &SourceIndex, m: &TableMapping, names: &Names<'_>) -> Result<Option<DdlStep>, PgError> {
    let label = || format!("index {} of {}", quote_ident(&ix.name), m.source);
    if !ix.valid {
        tracing::warn!(index = %ix.name, table = %m.source, "index left out: it is invalid on the source (a failed concurrent build)");
        return Ok(None);
    }
    expression_columns_kept(m, &index_expression_columns(ix)).map_err(|col| {
        PgError::other(
            label(),
            format!("its expression or predicate uses column {}, which the DbList renames or leaves out", quote_ident(&col)),
        )
    })?;
    for text in ix.keys.iter().filter(|k| k.column.is_none()).map(|k| k.expression.as_str()).chain(ix.predicate.as_deref()) {
        refuse_renamed_qualifier(text, names, label)?;
    }
    let schema_of = |k: &IndexKey| k.opclass.as_ref().map(|o| o.0.clone()).into_iter().chain(k.collation.as_ref().map(|c| c.0.clone()));
    if let Some(schema) = ix.keys.iter().flat_map(schema_of).find(|s| names.renamed.contains_key(s)) {
        return Err(PgError::other(
            label(),
            format!("it uses an operator class or collation of schema {}, which the DbList renames", quote_ident(&schema)),
        ));
    }
    let mut keys = Vec::new();
    let mut include = Vec::new();
    for k in &ix.keys {
        let text = match &k.column {
            Some(c) => match m.dest_column(c) {
                Some(dest) => quote_ident(dest),
                None => {
                    tracing::warn!(index = %ix.name, table = %m.source, column = %c, "index left out: the DbList does not copy its column");
                    return Ok(None);
                }
            },
            None => format!("({})", k.expression),
        };
        if k.include {
            include.push(text);
        } else {
            keys.push(key_text(text, k, ix.can_order));
        }
    }
    let mut sql = format!(
        "CREATE {}INDEX IF NOT EXISTS {} ON {} USING {} ({})",
        if ix.unique { "UNIQUE " } else { "" },
        quote_ident(&ix.name),
        qualified(&m.dest.schema, &m.dest.table),
        quote_ident(&ix.method),
        keys.join(", ")
    );
    if !include.is_empty() {
        sql.push_str(&format!(" INCLUDE ({})", include.join(", ")));
    }
    if ix.nulls_not_distinct {
        sql.push_str(" NULLS NOT DISTINCT");
    }
    if !ix.options.is_empty() {
        sql.push_str(&format!(" WITH ({})", ix.options));
    }
    if let Some(p) = &ix.predicate {
        sql.push_str(&format!(" WHERE {p}"));
    }
    Ok(Some(DdlStep::new(format!("index {}.{}", m.dest.schema, ix.name), sql)))
}

/// One key of `CREATE INDEX`: the column or expression, collation, operator class and order.
fn key_text(mut text: String, k: &IndexKey, can_order: bool) -> String {
    if let Some((schema, name)) = &k.collation {
        text.push_str(&format!(" COLLATE {}", qualified(schema, name)));
    }
    if let Some((schema, name)) = &k.opclass {
        text.push_str(&format!(" {}", qualified(schema, name)));
        if let Some(options) = &k.opclass_options {
            text.push_str(&format!(" ({options})"));
        }
    }
    if can_order {
        let desc = k.option & 1 != 0;
        let nulls_first = k.option & 2 != 0;
        match (desc, nulls_first) {
            (true, true) => text.push_str(" DESC"),
            (true, false) => text.push_str(" DESC NULLS LAST"),
            (false, true) => text.push_str(" NULLS FIRST"),
            (false, false) => {}
        }
    }
    text
}

// ---------------------------------------------------------------------------
// Views

/// A relation a view reads, and the column when the dependency is on one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ViewDependency {
    relation: TableId,
    /// `relkind`: `r`, `p`, `v`, `m`, `S`, `f`.
    kind: char,
    column: Option<String>,
}

/// A view of a whole-selected schema.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SourceView {
    source: TableId,
    /// `reloptions`, e.g. `check_option=local, security_barrier=true`.
    options: String,
    /// `pg_get_viewdef(oid, true)` with `search_path` = the view's schema, without the final `;`.
    definition: String,
    dependencies: Vec<ViewDependency>,
}

async fn read_views(client: &Client, names: &Names<'_>) -> Result<Vec<SourceView>, PgError> {
    let what = "list the source views";
    let rows = client
        .query(
            "SELECT c.oid, n.nspname::text, c.relname::text, COALESCE(array_to_string(c.reloptions, ', '), '')
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind = 'v' AND n.nspname = ANY($1)
             ORDER BY 2, 3",
            &[&names.whole],
        )
        .await
        .context(|| what.into())?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let oid: u32 = get(r, 0, what)?;
        let source = TableId::new(get::<String>(r, 1, what)?, get::<String>(r, 2, what)?);
        set_search_path(client, &quote_ident(&source.schema)).await?;
        let what = format!("read the definition of view {source}");
        let row = client
            .query_one("SELECT pg_catalog.pg_get_viewdef($1::oid, true)", &[&oid])
            .await
            .context(|| what.clone())?;
        let definition: String = get(&row, 0, &what)?;
        out.push(SourceView {
            options: get(r, 3, &what)?,
            definition: definition.trim().trim_end_matches(';').trim_end().to_string(),
            dependencies: read_view_dependencies(client, oid, &what).await?,
            source,
        });
    }
    Ok(out)
}

async fn read_view_dependencies(client: &Client, view: u32, what: &str) -> Result<Vec<ViewDependency>, PgError> {
    let rows = client
        .query(
            "SELECT DISTINCT rn.nspname::text, rc.relname::text, rc.relkind::text, a.attname::text
             FROM pg_catalog.pg_rewrite r
             JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
             JOIN pg_catalog.pg_class rc ON rc.oid = d.refobjid
             JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
             LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid AND d.refobjsubid > 0
             WHERE r.ev_class = $1 AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid <> r.ev_class
             ORDER BY 1, 2, 4",
            &[&view],
        )
        .await
        .context(|| what.to_string())?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(ViewDependency {
            relation: TableId::new(get::<String>(r, 0, what)?, get::<String>(r, 1, what)?),
            kind: get::<String>(r, 2, what)?.chars().next().unwrap_or(' '),
            column: get(r, 3, what)?,
        });
    }
    Ok(out)
}

/// The views in an order where every view comes after the views it reads.
fn order_views(views: &[SourceView]) -> Result<Vec<&SourceView>, PgError> {
    let mut done: HashSet<&TableId> = HashSet::new();
    let mut out = Vec::with_capacity(views.len());
    while out.len() < views.len() {
        let before = out.len();
        for v in views {
            let ready = !done.contains(&v.source)
                && v
                    .dependencies
                    .iter()
                    .filter(|d| d.kind == 'v' && d.relation != v.source)
                    .all(|d| done.contains(&d.relation) || !views.iter().any(|o| o.source == d.relation));
            if ready {
                done.insert(&v.source);
                out.push(v);
            }
        }
        if out.len() == before {
            let left: Vec<String> = views.iter().filter(|v| !done.contains(&v.source)).map(|v| v.source.to_string()).collect();
            return Err(PgError::other("order the views", format!("circular dependencies between {}", left.join(", "))));
        }
    }
    Ok(out)
}

/// `CREATE OR REPLACE VIEW` for the destination of `v`, run with `search_path`
/// set to the destination schema (for that statement's transaction only) so
/// its unqualified names resolve there. Every relation it reads must be
/// migrated under its own name, with the columns it reads under their own names.
fn view_step(
    v: &SourceView,
    names: &Names<'_>,
    views: &HashSet<TableId>,
    sequences: &HashSet<TableId>,
) -> Result<DdlStep, PgError> {
    let label = || format!("view {}", v.source);
    let dest_schema = names.dest_schema(&v.source.schema).unwrap_or_else(|| v.source.schema.clone());
    for d in &v.dependencies {
        check_view_dependency(d, v, names, views, sequences).map_err(|e| PgError::other(label(), e))?;
    }
    let relations: HashSet<TableId> = v.dependencies.iter().map(|d| d.relation.clone()).collect();
    let definition = rewrite_view_schemas(&v.definition, &names.renamed, &relations).map_err(|e| PgError::other(label(), e))?;
    let options = if v.options.is_empty() { String::new() } else { format!(" WITH ({})", v.options) };
    Ok(DdlStep::new(
        format!("view {dest_schema}.{}", v.source.table),
        format!(
            "SELECT pg_catalog.set_config('search_path', {}, true);\nCREATE OR REPLACE VIEW {}{options} AS\n{definition}",
            quote_literal(&quote_ident(&dest_schema)),
            qualified(&dest_schema, &v.source.table)
        ),
    ))
}

/// Why a view cannot read `d` on the destination, if it cannot.
fn check_view_dependency(
    d: &ViewDependency,
    v: &SourceView,
    names: &Names<'_>,
    views: &HashSet<TableId>,
    sequences: &HashSet<TableId>,
) -> Result<(), String> {
    let rel = &d.relation;
    match d.kind {
        'r' | 'p' => {
            let m = names.table(rel).ok_or_else(|| format!("it reads table {rel}, which the DbList does not migrate"))?;
            if m.dest.table != rel.table {
                return Err(format!("it reads table {rel}, which the DbList renames to {}", m.dest));
            }
            match &d.column {
                Some(c) if m.dest_column(c) != Some(c.as_str()) => Err(format!(
                    "it reads column {} of {rel}, which the DbList renames or leaves out",
                    quote_ident(c)
                )),
                _ => Ok(()),
            }
        }
        'v' if views.contains(rel) => Ok(()),
        'v' => Err(format!("it reads view {rel}, which is not migrated (its schema is not selected whole)")),
        'S' if sequences.contains(rel) && rel.schema == v.source.schema => Ok(()),
        _ => Err(format!("it reads {rel}, which is not migrated (only tables, views and sequences of its schema are)")),
    }
}

/// Replaces the schema of every qualified relation name `s.r` of a view
/// definition whose schema `s` the DbList renames. Any other use of a renamed
/// schema as a qualifier (a function, a type, or a table alias spelled like the
/// schema) cannot be told apart safely, so it is refused, as is a renamed schema
/// whose name is also the name of a relation the view reads.
fn rewrite_view_schemas(
    definition: &str,
    renamed: &BTreeMap<String, String>,
    relations: &HashSet<TableId>,
) -> Result<String, String> {
    let tokens = tokenize(definition);
    let mut out = String::with_capacity(definition.len());
    let mut copied = 0;
    for (i, t) in tokens.iter().enumerate() {
        let Tok::Ident(schema) = &t.kind else { continue };
        let Some(dest) = renamed.get(schema) else { continue };
        if tokens.get(i + 1).map(|n| &n.kind) != Some(&Tok::Dot) {
            continue;
        }
        let name = match tokens.get(i + 2).map(|n| &n.kind) {
            Some(Tok::Ident(name)) => name,
            _ => return Err(format!("it names an object of schema {}, which the DbList renames", quote_ident(schema))),
        };
        if !relations.contains(&TableId::new(schema.clone(), name.clone())) {
            return Err(format!(
                "it names {}.{}, which is not a relation it reads, in schema {} that the DbList renames; it cannot be rewritten safely",
                quote_ident(schema),
                quote_ident(name),
                quote_ident(schema)
            ));
        }
        if relations.iter().any(|r| &r.table == schema) {
            return Err(format!(
                "it reads a relation named like the renamed schema {}, so its qualified names are ambiguous",
                quote_ident(schema)
            ));
        }
        out.push_str(&definition[copied..t.start]);
        out.push_str(&quote_ident(dest));
        copied = t.end;
    }
    out.push_str(&definition[copied..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ColumnMapping, PgColumn, ReplicaIdentity};
    use opendts_core::dblist::DbListContext;
    use opendts_core::row::TableSchema;

    fn mapping(source: (&str, &str), dest: (&str, &str), columns: &[(&str, &str)], all: &[&str]) -> TableMapping {
        TableMapping {
            source: TableId::new(source.0, source.1),
            dest: TableId::new(dest.0, dest.1),
            columns: columns.iter().map(|(s, d)| ColumnMapping { source: s.to_string(), dest: d.to_string() }).collect(),
            filter: None,
            pg_columns: all
                .iter()
                .map(|n| PgColumn {
                    name: n.to_string(),
                    data_type: "integer".into(),
                    nullable: true,
                    default: None,
                    identity: None,
                    generated: None,
                })
                .collect(),
            primary_key: Vec::new(),
            replica_identity: ReplicaIdentity::Default,
            schema: TableSchema { id: TableId::new(source.0, source.1), columns: Vec::new(), key: Vec::new() },
            estimated_rows: 0,
        }
    }

    fn list(json: &str) -> DbList {
        DbList::parse(json, DbListContext::Migration).unwrap()
    }

    fn key(column: Option<&str>, expression: &str) -> IndexKey {
        IndexKey {
            column: column.map(Into::into),
            expression: expression.into(),
            include: false,
            option: 0,
            opclass: None,
            opclass_options: None,
            collation: None,
        }
    }

    fn index(name: &str, keys: Vec<IndexKey>, uses: &[&str]) -> SourceIndex {
        SourceIndex {
            name: name.into(),
            method: "btree".into(),
            unique: false,
            valid: true,
            can_order: true,
            keys,
            predicate: None,
            options: String::new(),
            nulls_not_distinct: false,
            uses: uses.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn tokens_skip_literals_and_fold_names() {
        let t = tokenize("lower(\"Email\") || 'src.x' || E'\\'a.b' || $q$s.t$q$ || src . t -- s.c\n 1.5");
        let idents: Vec<&str> = t.iter().filter_map(|t| if let Tok::Ident(n) = &t.kind { Some(n.as_str()) } else { None }).collect();
        assert_eq!(idents, ["lower", "Email", "src", "t"]);
        let renamed: BTreeMap<String, String> = [("src".to_string(), "dst".to_string())].into();
        assert_eq!(renamed_qualifier("src.f(x) > 0", &renamed), Some("src"));
        assert_eq!(renamed_qualifier("(x)::\"src\".mytype", &renamed), Some("src"));
        assert_eq!(renamed_qualifier("f(src) > 'src.x'::text AND (src).a = 1", &renamed), None);
        assert!(mentions("(lower(email) <> ''::text)", "email"));
        assert!(!mentions("(lower(email2) <> 'email'::text)", "email"));
    }

    #[test]
    fn sequence_literals_are_mapped_or_refused() {
        let got = rewrite_sequence_literals(
            "nextval('src.t_id_seq'::regclass)",
            &[("'src.t_id_seq'".into(), "'\"dst\".\"t_id_seq\"'".into())],
        );
        assert_eq!(got.unwrap(), "nextval('\"dst\".\"t_id_seq\"'::regclass)");
        let err = rewrite_sequence_literals("nextval('other'::regclass)", &[("'src.s'".into(), "'x'".into())]).unwrap_err();
        assert!(err.contains("'src.s'::regclass"), "{err}");
    }

    #[test]
    fn sequence_statements() {
        let options = SequenceOptions { data_type: "bigint".into(), start: 5, increment: 2, min: 1, max: 99, cache: 1, cycle: true };
        let s = PlannedSequence {
            oid: 1,
            source: TableId::new("src", "s"),
            dest: TableId::new("dst", "s"),
            options: options.clone(),
            identity: None,
            owner: Some((TableId::new("dst", "t"), "Id".into())),
        };
        assert_eq!(
            create_sequence_step(&s).sql,
            "CREATE SEQUENCE IF NOT EXISTS \"dst\".\"s\" AS bigint INCREMENT BY 2 MINVALUE 1 MAXVALUE 99 START WITH 5 CACHE 1 CYCLE"
        );
        assert_eq!(owner_step(&s).unwrap().sql, "ALTER SEQUENCE \"dst\".\"s\" OWNED BY \"dst\".\"t\".\"Id\"");
        assert_eq!(setval_step(&s, 42, true).sql, "SELECT pg_catalog.setval('\"dst\".\"s\"', 42, true)");
        let id = PlannedSequence { identity: Some((TableId::new("dst", "it's"), "Id".into())), owner: None, ..s };
        assert_eq!(
            setval_step(&id, 7, false).sql,
            "SELECT pg_catalog.setval(pg_catalog.pg_get_serial_sequence('\"dst\".\"it''s\"', 'Id'), 7, false)"
        );
        assert!(owner_step(&id).unwrap().sql.ends_with("ALTER COLUMN \"Id\" SET INCREMENT BY 2 SET MINVALUE 1 SET MAXVALUE 99 SET START WITH 5 SET CACHE 1 SET CYCLE"));
    }

    #[test]
    fn index_with_renames_order_include_and_predicate() {
        let db = list(r#"{"src": {"name": "dst", "all": true}}"#);
        let m = mapping(("src", "t"), ("dst", "t2"), &[("a", "A"), ("b", "b"), ("c", "c")], &["a", "b", "c"]);
        let tables = [m.clone()];
        let names = Names::new(&db, &tables, &["src".into()]);
        let mut desc = key(Some("a"), "a");
        desc.option = 1;
        let mut nulls = key(Some("b"), "b");
        nulls.option = 2;
        nulls.opclass = Some(("pg_catalog".into(), "int4_ops".into()));
        let mut inc = key(Some("c"), "c");
        inc.include = true;
        let mut ix = index("t_idx", vec![desc, nulls, inc], &["a", "b", "c"]);
        ix.predicate = Some("b > 0".into());
        ix.options = "fillfactor=70".into();
        let step = index_step(&ix, &m, &names).unwrap().unwrap();
        assert_eq!(step.what, "index dst.t_idx");
        assert_eq!(
            step.sql,
            "CREATE INDEX IF NOT EXISTS \"t_idx\" ON \"dst\".\"t2\" USING \"btree\" (\"A\" DESC NULLS LAST, \"b\" \"pg_catalog\".\"int4_ops\" NULLS FIRST) \
             INCLUDE (\"c\") WITH (fillfactor=70) WHERE b > 0"
        );
        let mut k = key(Some("a"), "a");
        k.option = 3;
        assert_eq!(key_text("a".into(), &k, true), "a DESC");
        assert_eq!(key_text("a".into(), &k, false), "a", "only ordered methods take DESC");
        // The predicate uses the renamed column: refused, naming index and column.
        ix.predicate = Some("a > 0".into());
        let e = index_step(&ix, &m, &names).unwrap_err().to_string();
        assert!(e.contains("\"t_idx\"") && e.contains("column \"a\""), "{e}");
        // An expression calling a function of the renamed schema: refused.
        let ix = index("f_idx", vec![key(None, "src.f(b)")], &["b"]);
        let e = index_step(&ix, &m, &names).unwrap_err().to_string();
        assert!(e.contains("\"f_idx\"") && e.contains("schema \"src\""), "{e}");
        // A plain key over a column left out: the index is left out.
        let m2 = mapping(("src", "t"), ("dst", "t"), &[("b", "b")], &["a", "b"]);
        assert_eq!(index_step(&index("x", vec![key(Some("a"), "a")], &["a"]), &m2, &names).unwrap(), None);
        let e = index_step(&index("y", vec![key(None, "lower(a)")], &["a"]), &m2, &names).unwrap_err().to_string();
        assert!(e.contains("\"y\"") && e.contains("column \"a\""), "{e}");
    }

    #[test]
    fn constraints_are_rebuilt_and_tolerate_reruns() {
        let db = list(r#"{"src": {"name": "dst", "all": true}}"#);
        let child = mapping(("src", "child"), ("dst", "child"), &[("id", "id"), ("pid", "parent_id")], &["id", "pid"]);
        let parent = mapping(("src", "parent"), ("dst", "parents"), &[("id", "pk")], &["id"]);
        let tables = [child.clone(), parent];
        let names = Names::new(&db, &tables, &["src".into()]);
        let fk = SourceConstraint {
            name: "child_fk".into(),
            kind: 'f',
            deferrable: true,
            deferred: false,
            validated: true,
            columns: vec!["pid".into()],
            references: Some(TableId::new("src", "parent")),
            ref_columns: vec!["id".into()],
            on_update: 'a',
            on_delete: 'c',
            match_type: 's',
            delete_set_columns: Vec::new(),
            definition: String::new(),
            include: Vec::new(),
            nulls_not_distinct: false,
        };
        let (step, after) = constraint_step(&fk, &child, &names).unwrap().unwrap();
        assert!(after);
        assert_eq!(
            step.sql,
            "DO $odts$ BEGIN ALTER TABLE \"dst\".\"child\" ADD CONSTRAINT \"child_fk\" FOREIGN KEY (\"parent_id\") \
             REFERENCES \"dst\".\"parents\" (\"pk\") ON DELETE CASCADE DEFERRABLE; \
             EXCEPTION WHEN duplicate_object OR duplicate_table THEN NULL; END $odts$"
        );
        // The referenced table is not migrated: left out.
        let other = SourceConstraint { references: Some(TableId::new("src", "gone")), ..fk.clone() };
        assert_eq!(constraint_step(&other, &child, &names).unwrap(), None);
        let check = SourceConstraint { kind: 'c', columns: vec!["pid".into()], definition: "CHECK (pid > 0)".into(), ..fk.clone() };
        let e = constraint_step(&check, &child, &names).unwrap_err().to_string();
        assert!(e.contains("\"child_fk\"") && e.contains("column \"pid\""), "{e}");
        let check = SourceConstraint { columns: vec!["id".into()], definition: "CHECK (id > 0)".into(), ..check };
        let (step, after) = constraint_step(&check, &child, &names).unwrap().unwrap();
        assert!(!after && step.sql.contains("ADD CONSTRAINT \"child_fk\" CHECK (id > 0);"), "{}", step.sql);
        let unique = SourceConstraint { kind: 'u', columns: vec!["id".into(), "pid".into()], nulls_not_distinct: true, ..fk };
        let (step, _) = constraint_step(&unique, &child, &names).unwrap().unwrap();
        assert!(step.sql.contains("UNIQUE NULLS NOT DISTINCT (\"id\", \"parent_id\") DEFERRABLE;"), "{}", step.sql);
        assert_eq!(tolerate_existing("SELECT '$odts$'"), "DO $odts1$ BEGIN SELECT '$odts$'; EXCEPTION WHEN duplicate_object OR duplicate_table THEN NULL; END $odts1$");
    }

    fn view(schema: &str, name: &str, definition: &str, deps: &[(&str, &str, char, Option<&str>)]) -> SourceView {
        SourceView {
            source: TableId::new(schema, name),
            options: String::new(),
            definition: definition.into(),
            dependencies: deps
                .iter()
                .map(|(s, t, k, c)| ViewDependency { relation: TableId::new(*s, *t), kind: *k, column: c.map(Into::into) })
                .collect(),
        }
    }

    #[test]
    fn views_are_ordered_mapped_or_refused() {
        let db = list(r#"{"src": {"name": "dst", "all": true}, "lib": {"name": "lib2", "all": true}}"#);
        let t = mapping(("src", "t"), ("dst", "t"), &[("a", "a"), ("b", "bee")], &["a", "b"]);
        let l = mapping(("lib", "codes"), ("lib2", "codes"), &[("c", "c")], &["c"]);
        let tables = [t, l];
        let names = Names::new(&db, &tables, &["src".into(), "lib".into()]);
        let v2 = view("src", "v2", "SELECT a FROM v1", &[("src", "v1", 'v', None)]);
        let v1 = view(
            "src",
            "v1",
            "SELECT t.a, codes.c FROM t JOIN lib.codes ON codes.c = t.a",
            &[("src", "t", 'r', Some("a")), ("lib", "codes", 'r', Some("c"))],
        );
        let views = vec![v2.clone(), v1.clone()];
        let order: Vec<&str> = order_views(&views).unwrap().iter().map(|v| v.source.table.as_str()).collect();
        assert_eq!(order, ["v1", "v2"]);
        let planned: HashSet<TableId> = views.iter().map(|v| v.source.clone()).collect();
        let step = view_step(&v1, &names, &planned, &HashSet::new()).unwrap();
        assert_eq!(
            step.sql,
            "SELECT pg_catalog.set_config('search_path', '\"dst\"', true);\nCREATE OR REPLACE VIEW \"dst\".\"v1\" AS\n\
             SELECT t.a, codes.c FROM t JOIN \"lib2\".codes ON codes.c = t.a"
        );
        // A renamed column.
        let bad = view("src", "vb", "SELECT b FROM t", &[("src", "t", 'r', Some("b"))]);
        let e = view_step(&bad, &names, &planned, &HashSet::new()).unwrap_err().to_string();
        assert!(e.contains("view src.vb") && e.contains("column \"b\""), "{e}");
        // A function of a renamed schema.
        let bad = view("src", "vf", "SELECT lib.f(a) FROM t", &[("src", "t", 'r', Some("a"))]);
        let e = view_step(&bad, &names, &planned, &HashSet::new()).unwrap_err().to_string();
        assert!(e.contains("view src.vf") && e.contains("\"lib\".\"f\""), "{e}");
        // A table that is not migrated.
        let bad = view("src", "vx", "SELECT 1 FROM other.x", &[("other", "x", 'r', None)]);
        let e = view_step(&bad, &names, &planned, &HashSet::new()).unwrap_err().to_string();
        assert!(e.contains("other.x") && e.contains("does not migrate"), "{e}");
    }
}
