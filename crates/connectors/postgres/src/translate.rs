//! Cross-engine schema migration, PostgreSQL side.
//!
//! - As a source: [`table_defs`] describes the selected tables engine-neutrally
//!   ([`TableDef`]) for a destination of another engine (MySQL/MariaDB), which
//!   turns them into its DDL through `opendts_core::typemap::pg_to_mysql`.
//! - As a destination: [`plan_from_mysql`] turns the [`TableDef`]s a MySQL or
//!   MariaDB source reads into PostgreSQL DDL through
//!   `opendts_core::typemap::mysql_to_pg` (see `docs/type-mapping.md`).
//!
//! Same-engine copies do not come here: they copy the source's own DDL
//! (`schema.rs`, `objects.rs`).

use crate::error::{Context, PgError};
use crate::schema::TableMapping;
use crate::session::{qualified, quote_ident, quote_literal};
use opendts_core::endpoint::EngineFamily;
use opendts_core::row::TableId;
use opendts_core::tabledef::{ColumnSpec, DdlPlan, DdlStep, IndexSpec, TableDef};
use opendts_core::typemap::{mysql_to_pg, SourceColumn, Unmappable};
use std::collections::{BTreeMap, BTreeSet};
use tokio_postgres::Client;

/// The longest PostgreSQL identifier, in bytes (`NAMEDATALEN - 1`).
pub const MAX_IDENTIFIER_BYTES: usize = 63;

// ---------------------------------------------------------------------------
// PostgreSQL as the source: TableDefs.

/// The definitions of the selected source tables (`tables` from
/// [`crate::schema::selected_tables`]), renamed for the destination, for a
/// destination of another engine.
///
/// - Every copied column, under its destination name: `format_type` of its
///   type (of the base type for a domain, with the domain's NOT NULL and its
///   default when the column has none; domain CHECK constraints are not
///   carried, with a warning), nullability, default, `auto_increment` for an
///   identity or a `nextval(...)` default, and the labels of an enum type
///   (directly or through a domain) in `enumsortorder`.
/// - The primary key in destination names; empty (with a warning) when the
///   DbList leaves out one of its columns.
/// - Secondary indexes whose keys are plain columns that are all copied.
///   Skipped with a warning: expression and partial indexes, indexes over a
///   column the DbList leaves out, invalid indexes, and indexes of a method
///   other than btree/hash (GIN, GiST, BRIN, SP-GiST index values other
///   engines cannot index the same way). INCLUDE columns are dropped (a
///   warning says so); the key columns are kept.
///
/// `family = PostgreSql`, `mariadb = false`.
pub async fn table_defs(client: &Client, tables: &[TableMapping]) -> Result<Vec<TableDef>, PgError> {
    let mut out = Vec::with_capacity(tables.len());
    for m in tables {
        let oid = table_oid(client, &m.source).await?;
        let types = read_column_types(client, oid, &m.source).await?;
        let mut columns = Vec::with_capacity(m.columns.len());
        for c in &m.columns {
            let what = || format!("describe column {} of {}", quote_ident(&c.source), m.source);
            let pg = m
                .pg_columns
                .iter()
                .find(|p| p.name == c.source)
                .ok_or_else(|| PgError::other(what(), "the column is missing from the catalog read"))?;
            let ty = types
                .iter()
                .find(|t| t.name == c.source)
                .ok_or_else(|| PgError::other(what(), "the column no longer exists"))?;
            if ty.domain_checks > 0 {
                tracing::warn!(
                    table = %m.source, column = %c.source, domain = %pg.data_type,
                    "the CHECK constraints of the column's domain are not carried to the other engine; the base type is"
                );
            }
            columns.push(ColumnSpec {
                name: c.dest.clone(),
                source_name: c.source.clone(),
                source_type: ty.base_type.clone(),
                nullable: pg.nullable && !ty.domain_not_null,
                default: pg.default.clone().or_else(|| ty.domain_default.clone()),
                auto_increment: pg.identity.is_some() || pg.default_uses_sequence(),
                is_json: false,
                extra: String::new(),
                enum_labels: ty.enum_labels.clone(),
            });
        }
        let primary_key: Option<Vec<String>> =
            m.primary_key.iter().map(|c| m.dest_column(c).map(str::to_string)).collect();
        let primary_key = primary_key.unwrap_or_else(|| {
            tracing::warn!(
                table = %m.source, key = ?m.primary_key,
                "primary key left out: the DbList leaves out one of its columns"
            );
            Vec::new()
        });
        let indexes = read_secondary_indexes(client, oid, m).await?;
        out.push(TableDef {
            family: EngineFamily::PostgreSql,
            mariadb: false,
            source: m.source.clone(),
            dest: m.dest.clone(),
            columns,
            primary_key,
            indexes,
        });
    }
    Ok(out)
}

async fn table_oid(client: &Client, id: &TableId) -> Result<u32, PgError> {
    let what = || format!("find table {id}");
    let row = client
        .query_opt(
            "SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relname = $2",
            &[&id.schema, &id.table],
        )
        .await
        .context(what)?
        .ok_or_else(|| PgError::other(what(), "the table no longer exists"))?;
    row.try_get(0).context(what)
}

/// A column's type with domains resolved.
#[derive(Debug)]
struct ColumnType {
    name: String,
    /// `format_type` of the type, or of a domain's base type (with the domain's typmod).
    base_type: String,
    /// Some domain of the chain is NOT NULL.
    domain_not_null: bool,
    /// The innermost-first default of the domain chain (the outermost domain's wins).
    domain_default: Option<String>,
    /// How many CHECK constraints the domain chain has.
    domain_checks: i64,
    /// The labels of the (base) type when it is an enum.
    enum_labels: Option<Vec<String>>,
}

/// Every column's type, following domains (`pg_type.typbasetype`) down to
/// their base type, with the enum labels of an enum base.
async fn read_column_types(client: &Client, oid: u32, table: &TableId) -> Result<Vec<ColumnType>, PgError> {
    // A domain's typmod (`varchar(10)`) is on the domain (`typtypmod`), not on the column.
    let sql = "SELECT a.attname::text, pg_catalog.format_type(b.base, b.typmod), b.nn, b.dflt, b.nchecks,
                      CASE WHEN bt.typtype = 'e' THEN
                        ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e
                              WHERE e.enumtypid = bt.oid ORDER BY e.enumsortorder)
                      END
               FROM pg_catalog.pg_attribute a
               CROSS JOIN LATERAL (
                 WITH RECURSIVE chain(oid, typmod, depth, nn, dflt, nchecks) AS (
                   SELECT a.atttypid, a.atttypmod, 0, false, NULL::text COLLATE \"C\", 0::int8
                   UNION ALL
                   SELECT t.typbasetype, CASE WHEN t.typtypmod <> -1 THEN t.typtypmod ELSE c.typmod END, c.depth + 1,
                          c.nn OR t.typnotnull,
                          COALESCE(c.dflt, pg_catalog.pg_get_expr(t.typdefaultbin, 0)) COLLATE \"C\",
                          c.nchecks + (SELECT count(*) FROM pg_catalog.pg_constraint k
                                       WHERE k.contypid = t.oid AND k.contype = 'c')
                   FROM chain c JOIN pg_catalog.pg_type t ON t.oid = c.oid
                   WHERE t.typtype = 'd'
                 )
                 SELECT oid AS base, typmod, nn, dflt::text AS dflt, nchecks FROM chain ORDER BY depth DESC LIMIT 1
               ) b
               JOIN pg_catalog.pg_type bt ON bt.oid = b.base
               WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
               ORDER BY a.attnum";
    let what = || format!("read the column types of {table}");
    let rows = client.query(sql, &[&oid]).await.context(what)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(ColumnType {
            name: r.try_get(0).context(what)?,
            base_type: r.try_get(1).context(what)?,
            domain_not_null: r.try_get(2).context(what)?,
            domain_default: r.try_get(3).context(what)?,
            domain_checks: r.try_get(4).context(what)?,
            enum_labels: r.try_get(5).context(what)?,
        });
    }
    Ok(out)
}

/// The secondary indexes of `m` that another engine can create (see [`table_defs`]), by name.
async fn read_secondary_indexes(client: &Client, oid: u32, m: &TableMapping) -> Result<Vec<IndexSpec>, PgError> {
    let what = || format!("read the indexes of {}", m.source);
    let rows = client
        .query(
            "SELECT ic.relname::text, i.indisunique, i.indisvalid, am.amname::text,
                    i.indexprs IS NOT NULL OR 0 = ANY (i.indkey::int2[]), i.indpred IS NOT NULL,
                    ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, o)
                          JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                          WHERE k.o <= i.indnkeyatts ORDER BY k.o),
                    ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, o)
                          JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                          WHERE k.o > i.indnkeyatts ORDER BY k.o)
             FROM pg_catalog.pg_index i
             JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
             JOIN pg_catalog.pg_am am ON am.oid = ic.relam
             WHERE i.indrelid = $1 AND NOT i.indisprimary
             ORDER BY 1",
            &[&oid],
        )
        .await
        .context(what)?;
    let mut out = Vec::new();
    for r in &rows {
        let name: String = r.try_get(0).context(what)?;
        let unique: bool = r.try_get(1).context(what)?;
        let valid: bool = r.try_get(2).context(what)?;
        let method: String = r.try_get(3).context(what)?;
        let expression: bool = r.try_get(4).context(what)?;
        let partial: bool = r.try_get(5).context(what)?;
        let keys: Vec<String> = r.try_get(6).context(what)?;
        let include: Vec<String> = r.try_get(7).context(what)?;
        let skip = |why: &str| tracing::warn!(index = %name, table = %m.source, "index left out: {why}");
        if !valid {
            skip("it is invalid on the source (a failed concurrent build)");
            continue;
        }
        if expression {
            skip("it indexes an expression; only indexes on plain columns are carried to another engine");
            continue;
        }
        if partial {
            skip("it is a partial index (WHERE ...); only whole-table indexes are carried to another engine");
            continue;
        }
        if !matches!(method.as_str(), "btree" | "hash") {
            skip(&format!("its method {method} has no counterpart on another engine"));
            continue;
        }
        let columns: Option<Vec<String>> = keys.iter().map(|c| m.dest_column(c).map(str::to_string)).collect();
        let Some(columns) = columns.filter(|c| !c.is_empty()) else {
            let left_out: Vec<&String> = keys.iter().filter(|c| m.dest_column(c).is_none()).collect();
            skip(&format!("it uses columns the DbList leaves out: {left_out:?}"));
            continue;
        };
        if !include.is_empty() {
            tracing::warn!(
                index = %name, table = %m.source, include = ?include,
                "the index's INCLUDE columns are left out; its key columns are kept"
            );
        }
        out.push(IndexSpec { name, columns, unique });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// PostgreSQL as the destination of a MySQL source: DDL.

/// DDL creating tables described by a MySQL/MariaDB source
/// (`defs[i].family == MySql`) on this PostgreSQL destination, through
/// `opendts_core::typemap::mysql_to_pg`.
///
/// `before_data`: `CREATE SCHEMA IF NOT EXISTS` per destination schema (in
/// order of first use), then per table `CREATE TABLE IF NOT EXISTS` (columns
/// with type, identity, default, NOT NULL; the primary key; one CHECK per
/// column whose type is wider than MySQL's) followed by its unique indexes.
/// `after_data`: the non-unique indexes, then per identity column a `setval`
/// moving its sequence past the copied values.
///
/// Index names are per schema in PostgreSQL (per table in MySQL): an index is
/// named `<table>_<index>`, cut to 63 bytes on a character boundary with a
/// short hash appended when cut or when the name is already used in the
/// schema (by another index, a table, a primary key's `<table>_pkey` or an
/// identity's `<table>_<column>_seq`).
///
/// Every column that cannot be created faithfully is returned at once:
/// types `mysql_to_pg` refuses, names longer than 63 bytes (never truncated),
/// duplicate destination column names, key or index columns that are not
/// among the columns. A problem with a table itself (its name, its family)
/// names the table. Columns are named `schema.table.column` with the source
/// names.
pub fn plan_from_mysql(defs: &[TableDef]) -> Result<DdlPlan, Vec<Unmappable>> {
    let mut problems = Vec::new();
    let mut plan = DdlPlan::default();
    let mut schemas: Vec<&str> = Vec::new();
    for d in defs {
        if !schemas.contains(&d.dest.schema.as_str()) {
            schemas.push(&d.dest.schema);
        }
    }
    for s in &schemas {
        if let Err(reason) = check_identifier("schema", s) {
            problems.push(Unmappable { column: s.to_string(), source_type: "schema".into(), reason });
        }
        plan.before_data.push(DdlStep { what: format!("schema {s}"), sql: format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(s)) });
    }
    let mut names = IndexNames::new(defs);
    let mut after_indexes = Vec::new();
    let mut setvals = Vec::new();
    for d in defs {
        match table_plan(d, &mut names) {
            Ok(t) => {
                plan.before_data.push(t.create);
                plan.before_data.extend(t.unique_indexes);
                after_indexes.extend(t.indexes);
                setvals.extend(t.setvals);
            }
            Err(mut p) => problems.append(&mut p),
        }
    }
    plan.after_data.extend(after_indexes);
    plan.after_data.extend(setvals);
    if problems.is_empty() {
        Ok(plan)
    } else {
        Err(problems)
    }
}

/// The statements of one table.
struct TablePlan {
    create: DdlStep,
    unique_indexes: Vec<DdlStep>,
    indexes: Vec<DdlStep>,
    setvals: Vec<DdlStep>,
}

fn table_plan(d: &TableDef, names: &mut IndexNames) -> Result<TablePlan, Vec<Unmappable>> {
    let mut problems = Vec::new();
    let table_label = d.source.to_string();
    let table_problem = |reason: String| Unmappable { column: table_label.clone(), source_type: "table".into(), reason };
    let column_label = |c: &ColumnSpec| format!("{}.{}.{}", d.source.schema, d.source.table, c.source_name);
    if d.family != EngineFamily::MySql {
        return Err(vec![table_problem(format!(
            "the table is described for {:?}, not for a MySQL source; it cannot be created through the MySQL type map",
            d.family
        ))]);
    }
    if let Err(reason) = check_identifier("table", &d.dest.table) {
        problems.push(table_problem(reason));
    }
    let table = qualified(&d.dest.schema, &d.dest.table);
    let mut lines = Vec::with_capacity(d.columns.len() + 2);
    let mut checks = Vec::new();
    let mut identities = Vec::new();
    let mut seen = BTreeSet::new();
    for c in &d.columns {
        let fail = |reason: String| Unmappable { column: column_label(c), source_type: c.source_type.clone(), reason };
        if let Err(reason) = check_identifier("column", &c.name) {
            problems.push(fail(reason));
        }
        if !seen.insert(c.name.as_str()) {
            problems.push(fail(format!("another column of the table is also named `{}` on the destination", c.name)));
        }
        let src = SourceColumn {
            name: &c.name,
            source_type: &c.source_type,
            nullable: c.nullable,
            default: c.default.as_deref(),
            auto_increment: c.auto_increment,
            is_json: c.is_json,
            extra: &c.extra,
            mariadb: d.mariadb,
            enum_labels: None,
        };
        let mapped = match mysql_to_pg(&src) {
            Ok(m) => m,
            Err(e) => {
                problems.push(Unmappable { column: column_label(c), ..e });
                continue;
            }
        };
        for note in &mapped.notes {
            tracing::info!(table = %d.source, column = %c.source_name, "{note}");
        }
        let col = quote_ident(&c.name);
        let mut line = format!("  {col} {}", mapped.dest_type);
        if let Some(identity) = mapped.identity {
            line.push(' ');
            line.push_str(identity);
            identities.push(c.name.clone());
        } else if let Some(default) = &mapped.default {
            line.push_str(" DEFAULT ");
            line.push_str(default);
        }
        if !c.nullable {
            line.push_str(" NOT NULL");
        }
        lines.push(line);
        if let Some(check) = mapped.check_for(&col) {
            checks.push(format!("  CHECK ({check})"));
        }
    }
    let has_column = |name: &str| d.columns.iter().any(|c| c.name == name);
    if !d.primary_key.is_empty() {
        for k in d.primary_key.iter().filter(|k| !has_column(k)) {
            problems.push(table_problem(format!("the primary key column `{k}` is not among the copied columns")));
        }
        let pk: Vec<String> = d.primary_key.iter().map(|c| quote_ident(c)).collect();
        lines.push(format!("  PRIMARY KEY ({})", pk.join(", ")));
    }
    lines.extend(checks);
    let create = DdlStep {
        what: format!("table {}.{}", d.dest.schema, d.dest.table),
        sql: format!("CREATE TABLE IF NOT EXISTS {table} (\n{}\n)", lines.join(",\n")),
    };

    let mut unique_indexes = Vec::new();
    let mut indexes = Vec::new();
    for ix in &d.indexes {
        let missing: Vec<&String> = ix.columns.iter().filter(|c| !has_column(c)).collect();
        if ix.columns.is_empty() || !missing.is_empty() {
            problems.push(table_problem(format!(
                "the index `{}` uses columns that are not among the copied columns: {missing:?}",
                ix.name
            )));
            continue;
        }
        let name = names.choose(&d.dest, &ix.name);
        let cols: Vec<String> = ix.columns.iter().map(|c| quote_ident(c)).collect();
        let step = DdlStep {
            what: format!("index {}.{} on {}.{}", d.dest.schema, name, d.dest.schema, d.dest.table),
            sql: format!(
                "CREATE {}INDEX IF NOT EXISTS {} ON {table} ({})",
                if ix.unique { "UNIQUE " } else { "" },
                quote_ident(&name),
                cols.join(", ")
            ),
        };
        if ix.unique {
            unique_indexes.push(step);
        } else {
            indexes.push(step);
        }
    }

    let setvals = identities
        .iter()
        .map(|c| DdlStep { what: format!("identity {}.{}.{}", d.dest.schema, d.dest.table, c), sql: setval_sql(&d.dest, c) })
        .collect();
    if problems.is_empty() {
        Ok(TablePlan { create, unique_indexes, indexes, setvals })
    } else {
        Err(problems)
    }
}

/// Moves the identity sequence of `column` past the copied values: the next
/// value is `MAX + 1`, or 1 for an empty table (or one holding only ids below 1).
///
/// `setval(seq, MAX, true)` rather than `setval(seq, MAX + 1, false)`, so that a
/// column already at its type's maximum (32767 for a smallint identity) is
/// accepted: the sequence is then exhausted, as MySQL's AUTO_INCREMENT would be.
pub fn setval_sql(table: &TableId, column: &str) -> String {
    let col = quote_ident(column);
    let qualified_table = qualified(&table.schema, &table.table);
    format!(
        "SELECT setval(pg_get_serial_sequence({}, {}), GREATEST(COALESCE(MAX({col}), 0), 1), COALESCE(MAX({col}) >= 1, false)) \
         FROM {qualified_table}",
        quote_literal(&qualified_table),
        quote_literal(column),
    )
}

/// `Err(reason)` when `name` cannot be a PostgreSQL identifier as it is.
fn check_identifier(kind: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("the destination {kind} name is empty"));
    }
    if name.contains('\0') {
        return Err(format!("the destination {kind} name `{name}` holds a NUL character, which PostgreSQL refuses"));
    }
    if name.len() > MAX_IDENTIFIER_BYTES {
        return Err(format!(
            "the destination {kind} name `{name}` is {} bytes; PostgreSQL identifiers are at most {MAX_IDENTIFIER_BYTES} \
             bytes and OpenDTS does not shorten names (rename it in the DbList)",
            name.len()
        ));
    }
    Ok(())
}

/// Index names, distinct per destination schema.
struct IndexNames {
    /// Per schema: names taken by tables, primary keys, identity sequences and chosen indexes.
    used: BTreeMap<String, BTreeSet<String>>,
}

impl IndexNames {
    fn new(defs: &[TableDef]) -> IndexNames {
        let mut used: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for d in defs {
            let set = used.entry(d.dest.schema.clone()).or_default();
            set.insert(d.dest.table.clone());
            if !d.primary_key.is_empty() {
                set.insert(format!("{}_pkey", d.dest.table));
            }
            for c in d.columns.iter().filter(|c| c.auto_increment) {
                set.insert(format!("{}_{}_seq", d.dest.table, c.name));
            }
        }
        IndexNames { used }
    }

    /// `<table>_<index>`, at most 63 bytes, not yet used in the schema.
    fn choose(&mut self, table: &TableId, index: &str) -> String {
        let used = self.used.entry(table.schema.clone()).or_default();
        let plain = format!("{}_{}", table.table, index);
        let name = if plain.len() <= MAX_IDENTIFIER_BYTES && !used.contains(&plain) {
            plain
        } else {
            // The hash is of the pair, so `a_b` + `c` and `a` + `b_c` differ.
            let mut salt = 0u32;
            loop {
                let hash = fnv1a(&[table.table.as_bytes(), b"\0", index.as_bytes(), &salt.to_le_bytes()]);
                let suffix = format!("_{:08x}", hash as u32);
                let candidate = format!("{}{suffix}", cut(&plain, MAX_IDENTIFIER_BYTES - suffix.len()));
                if !used.contains(&candidate) {
                    break candidate;
                }
                salt += 1;
            }
        };
        used.insert(name.clone());
        name
    }
}

/// The longest prefix of `s` of at most `max` bytes ending on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// FNV-1a, 64 bits: stable across runs and builds (the names must not change
/// when the plan is made again).
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in parts.iter().flat_map(|p| p.iter()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, ty: &str, nullable: bool, default: Option<&str>) -> ColumnSpec {
        ColumnSpec {
            name: name.into(),
            source_name: name.into(),
            source_type: ty.into(),
            nullable,
            default: default.map(Into::into),
            ..ColumnSpec::default()
        }
    }

    fn index(name: &str, columns: &[&str], unique: bool) -> IndexSpec {
        IndexSpec { name: name.into(), columns: columns.iter().map(|c| c.to_string()).collect(), unique }
    }

    fn table(dest: (&str, &str), columns: Vec<ColumnSpec>, pk: &[&str], indexes: Vec<IndexSpec>) -> TableDef {
        TableDef {
            family: EngineFamily::MySql,
            mariadb: true,
            source: TableId::new("shop", "Orders"),
            dest: TableId::new(dest.0, dest.1),
            columns,
            primary_key: pk.iter().map(|c| c.to_string()).collect(),
            indexes,
        }
    }

    /// A table as MariaDB's information_schema describes it.
    fn orders() -> TableDef {
        let mut id = col("id", "int(10) unsigned", false, None);
        id.auto_increment = true;
        id.extra = "auto_increment".into();
        let mut doc = col("doc", "longtext", true, Some("'{}'"));
        doc.is_json = true;
        let mut updated = col("Updated", "timestamp", false, Some("current_timestamp()"));
        updated.extra = "on update current_timestamp()".into();
        table(
            ("shop_pg", "Orders"),
            vec![
                id,
                col("flag", "tinyint(1)", false, Some("0")),
                col("state", "enum('a','b')", false, Some("'a'")),
                col("tags", "set('x','y')", true, Some("NULL")),
                col("created", "datetime(3)", true, Some("current_timestamp(3)")),
                updated,
                col("dur", "time", true, Some("'-01:30:00'")),
                col("yr", "year(4)", true, Some("2024")),
                col("bits", "bit(5)", true, Some("b'101'")),
                col("price", "decimal(10,2)", false, Some("12.50")),
                doc,
                col("token", "varbinary(16)", true, None),
                col("note", "varchar(20)", true, Some("'it''s'")),
            ],
            &["id"],
            vec![index("uq_state_price", &["state", "price"], true), index("ix_created", &["created"], false)],
        )
    }

    #[test]
    fn mariadb_table_to_postgres_ddl() {
        let plan = plan_from_mysql(&[orders()]).unwrap();
        let sql: Vec<&str> = plan.before_data.iter().map(|s| s.sql.as_str()).collect();
        assert_eq!(
            sql,
            [
                "CREATE SCHEMA IF NOT EXISTS \"shop_pg\"",
                "CREATE TABLE IF NOT EXISTS \"shop_pg\".\"Orders\" (\n  \
                 \"id\" bigint GENERATED BY DEFAULT AS IDENTITY NOT NULL,\n  \
                 \"flag\" smallint DEFAULT 0 NOT NULL,\n  \
                 \"state\" character varying(1) DEFAULT 'a' NOT NULL,\n  \
                 \"tags\" character varying(3),\n  \
                 \"created\" timestamp(3) without time zone DEFAULT CURRENT_TIMESTAMP,\n  \
                 \"Updated\" timestamp(0) with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,\n  \
                 \"dur\" interval(0) DEFAULT '-01:30:00',\n  \
                 \"yr\" smallint DEFAULT 2024,\n  \
                 \"bits\" bit(5) DEFAULT B'00101',\n  \
                 \"price\" numeric(10,2) DEFAULT 12.50 NOT NULL,\n  \
                 \"doc\" jsonb DEFAULT '{}',\n  \
                 \"token\" bytea,\n  \
                 \"note\" character varying(20) DEFAULT 'it''s',\n  \
                 PRIMARY KEY (\"id\"),\n  \
                 CHECK (\"id\" BETWEEN 0 AND 4294967295),\n  \
                 CHECK (\"flag\" BETWEEN -128 AND 127),\n  \
                 CHECK (\"state\" IN ('', 'a', 'b')),\n  \
                 CHECK (string_to_array(\"tags\", ',') <@ ARRAY['x', 'y']::text[]),\n  \
                 CHECK (\"dur\" BETWEEN interval '-838:59:59' AND interval '838:59:59'),\n  \
                 CHECK (\"yr\" = 0 OR \"yr\" BETWEEN 1901 AND 2155),\n  \
                 CHECK (octet_length(\"token\") <= 16)\n)",
                "CREATE UNIQUE INDEX IF NOT EXISTS \"Orders_uq_state_price\" ON \"shop_pg\".\"Orders\" (\"state\", \"price\")",
            ]
        );
        let after: Vec<&str> = plan.after_data.iter().map(|s| s.sql.as_str()).collect();
        assert_eq!(
            after,
            [
                "CREATE INDEX IF NOT EXISTS \"Orders_ix_created\" ON \"shop_pg\".\"Orders\" (\"created\")",
                "SELECT setval(pg_get_serial_sequence('\"shop_pg\".\"Orders\"', 'id'), GREATEST(COALESCE(MAX(\"id\"), 0), 1), \
                 COALESCE(MAX(\"id\") >= 1, false)) FROM \"shop_pg\".\"Orders\"",
            ]
        );
        let what: Vec<&str> = plan.before_data.iter().chain(&plan.after_data).map(|s| s.what.as_str()).collect();
        assert_eq!(
            what,
            [
                "schema shop_pg",
                "table shop_pg.Orders",
                "index shop_pg.Orders_uq_state_price on shop_pg.Orders",
                "index shop_pg.Orders_ix_created on shop_pg.Orders",
                "identity shop_pg.Orders.id",
            ]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let long = "c".repeat(64);
        let mut t = table(
            ("s", "t"),
            vec![
                col("id", "int(11)", false, None),
                col("shape", "geometry", true, None),
                col("vec", "vector(3)", true, None),
                col(&long, "int(11)", true, None),
                col("ok", "varchar(10)", true, None),
            ],
            &["id"],
            vec![],
        );
        t.source = TableId::new("src", "t");
        t.columns[3].source_name = "long_src".into();
        let other = table(("s", &"T".repeat(64)), vec![col("a", "point", true, None)], &[], vec![]);
        let e = plan_from_mysql(&[t, other]).unwrap_err();
        let named: Vec<(&str, &str)> = e.iter().map(|u| (u.column.as_str(), u.source_type.as_str())).collect();
        assert_eq!(
            named,
            [
                ("src.t.shape", "geometry"),
                ("src.t.vec", "vector(3)"),
                ("src.t.long_src", "int(11)"),
                ("shop.Orders", "table"),
                ("shop.Orders.a", "point"),
            ]
        );
        assert!(e[0].reason.contains("spatial"), "{}", e[0]);
        assert!(e[2].reason.contains("64 bytes") && e[2].reason.contains("at most 63"), "{}", e[2]);
        assert!(e[3].reason.contains("table name"), "{}", e[3]);
        assert_eq!(e[0].to_string().split(':').next(), Some("column src.t.shape (geometry)"));
    }

    #[test]
    fn structural_problems() {
        let t = table(
            ("s", "t"),
            vec![col("a", "int", false, None), col("a", "int", true, None)],
            &["missing"],
            vec![index("ix", &["nope"], false)],
        );
        let e = plan_from_mysql(&[t]).unwrap_err();
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].reason.contains("also named `a`"), "{}", e[0]);
        assert!(e[1].reason.contains("primary key column `missing`"), "{}", e[1]);
        assert!(e[2].reason.contains("index `ix`"), "{}", e[2]);
        let mut pg = table(("s", "t"), vec![col("a", "integer", true, None)], &[], vec![]);
        pg.family = EngineFamily::PostgreSql;
        let e = plan_from_mysql(&[pg]).unwrap_err();
        assert!(e[0].reason.contains("not for a MySQL source"), "{}", e[0]);
    }

    #[test]
    fn identifiers_are_quoted_and_index_names_kept_distinct() {
        let mut id = col("I\"d", "smallint(6)", false, None);
        id.auto_increment = true;
        let long_index = "é".repeat(40); // 80 bytes
        let t = table(
            ("My\"Schema", "t"),
            vec![id, col("v", "int", true, None)],
            &["I\"d"],
            vec![
                index(&long_index, &["v"], false),
                index(&format!("{long_index}x"), &["v"], false),
                index("pkey", &["v"], true),
            ],
        );
        // `a_b` + `c` and `a` + `b_c` meet at the same plain name.
        let a = table(("My\"Schema", "a_b"), vec![col("v", "int", true, None)], &[], vec![index("c", &["v"], false)]);
        let b = table(("My\"Schema", "a"), vec![col("v", "int", true, None)], &[], vec![index("b_c", &["v"], false)]);
        let plan = plan_from_mysql(&[t, a, b]).unwrap();
        assert_eq!(plan.before_data[0].sql, "CREATE SCHEMA IF NOT EXISTS \"My\"\"Schema\"");
        assert!(plan.before_data[1].sql.contains("\"I\"\"d\" smallint GENERATED BY DEFAULT AS IDENTITY NOT NULL"));
        assert!(plan.before_data[1].sql.contains("PRIMARY KEY (\"I\"\"d\")"));
        let names: Vec<String> = plan
            .before_data
            .iter()
            .chain(&plan.after_data)
            .filter_map(|s| s.sql.split("INDEX IF NOT EXISTS \"").nth(1))
            .map(|rest| rest.split("\" ON").next().unwrap_or_default().to_string())
            .collect();
        assert_eq!(names.len(), 5, "{names:?}");
        for n in &names {
            assert!(n.len() <= 63, "{n}");
        }
        // The unique `pkey` index would meet the primary key's own index name `t_pkey`.
        assert!(names[0].starts_with("t_pkey_") && names[0].len() == "t_pkey_".len() + 8, "{names:?}");
        assert!(names[1].starts_with(&format!("t_{}", "é".repeat(26))), "{names:?}");
        assert_ne!(names[1], names[2]);
        assert_eq!(names[3], "a_b_c");
        assert!(names[4].starts_with("a_b_c_") && names[4] != "a_b_c", "{names:?}");
        // The same input gives the same names (the plan can be made again).
        assert_eq!(plan_from_mysql(&[orders()]).unwrap(), plan_from_mysql(&[orders()]).unwrap());
        assert_eq!(
            plan.after_data.last().map(|s| s.sql.as_str()),
            Some("SELECT setval(pg_get_serial_sequence('\"My\"\"Schema\".\"t\"', 'I\"d'), GREATEST(COALESCE(MAX(\"I\"\"d\"), 0), 1), \
                  COALESCE(MAX(\"I\"\"d\") >= 1, false)) FROM \"My\"\"Schema\".\"t\"")
        );
    }

    #[test]
    fn cut_on_char_boundary() {
        assert_eq!(cut("abc", 5), "abc");
        assert_eq!(cut("aé", 2), "a");
        assert_eq!(cut("aé", 3), "aé");
        assert_ne!(fnv1a(&[b"a_b", b"\0", b"c"]), fnv1a(&[b"a", b"\0", b"b_c"]));
    }
}
