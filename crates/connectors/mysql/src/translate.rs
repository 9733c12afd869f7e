//! Cross-engine schema migration, MySQL side.
//!
//! - As a source: [`table_defs`] reads the selected tables' catalog into
//!   engine-neutral [`TableDef`]s (already renamed for the destination), which
//!   the PostgreSQL connector turns into its DDL.
//! - As a destination: [`plan_from_postgres`] turns the [`TableDef`]s a
//!   PostgreSQL source describes into MySQL DDL, through
//!   [`opendts_core::typemap::pg_to_mysql`].
//!
//! Same-engine copies do not come here: they copy `SHOW CREATE TABLE`
//! (see [`crate::schema::table_ddl`]).

use crate::error::{Context, MySqlError};
use crate::schema::TableMapping;
use crate::session::quote_ident;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use opendts_core::endpoint::EngineFamily;
use opendts_core::row::TableId;
use opendts_core::tabledef::{ColumnSpec, DdlPlan, DdlStep, IndexSpec, TableDef};
use opendts_core::typemap::{pg_to_mysql, MappedColumn, SourceColumn, Unmappable};
use std::collections::HashSet;

// ---------------------------------------------------------------------------
// Source side: the catalog → TableDef.

/// A COLUMNS row: name, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA.
type ColumnRow = (Vec<u8>, Vec<u8>, Vec<u8>, Option<Vec<u8>>, Vec<u8>);

/// A STATISTICS row: INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME
/// (NULL for an expression part), SUB_PART, INDEX_TYPE.
type IndexRow = (Vec<u8>, i64, u64, Option<Vec<u8>>, Option<u64>, Vec<u8>);

/// The definitions of the selected source tables (`tables` from
/// [`crate::schema::selected_tables`]), renamed for the destination, for a
/// destination of another engine.
///
/// Every copied column is described (destination and source name,
/// `COLUMN_TYPE`, nullability, `COLUMN_DEFAULT` as printed, AUTO_INCREMENT,
/// `EXTRA`, and MariaDB JSON: a `longtext` with a `json_valid` CHECK). Keys:
/// the primary key and the secondary indexes on plain columns. An index that
/// uses a column the DbList leaves out, an expression (MySQL 8 functional
/// index), or that is FULLTEXT/SPATIAL (no plain-index counterpart) is left out
/// with a warning naming it; a prefix index (`KEY (name(10))`) becomes a
/// whole-column index, which holds every source row (values unique by their
/// prefix are unique whole).
pub async fn table_defs(conn: &mut Conn, tables: &[TableMapping]) -> Result<Vec<TableDef>, MySqlError> {
    let version: Option<Vec<u8>> =
        conn.query_first("SELECT VERSION()").await.context(|| "read the source server version".into())?;
    let mariadb = version.is_some_and(|v| text(&v).contains("MariaDB"));
    let mut out = Vec::with_capacity(tables.len());
    for m in tables {
        out.push(table_def(conn, m, mariadb).await?);
    }
    Ok(out)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn table_def(conn: &mut Conn, m: &TableMapping, mariadb: bool) -> Result<TableDef, MySqlError> {
    let id = &m.source;
    let rows: Vec<ColumnRow> = conn
        .exec(
            "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA FROM information_schema.COLUMNS
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (&id.schema, &id.table),
        )
        .await
        .context(|| format!("read columns of {id}"))?;
    let json = if mariadb { json_columns(conn, id).await? } else { HashSet::new() };
    let mut columns = Vec::with_capacity(m.columns.len());
    for c in &m.columns {
        let Some((_, ty, nullable, default, extra)) = rows.iter().find(|r| r.0 == c.source.as_bytes()) else {
            return Err(MySqlError::other(
                format!("read columns of {id}"),
                format!("column {} no longer exists (the table changed while the job started)", c.source),
            ));
        };
        let source_type = text(ty);
        let extra = text(extra);
        columns.push(ColumnSpec {
            name: c.dest.clone(),
            source_name: c.source.clone(),
            nullable: nullable.as_slice() == b"YES",
            default: default.as_deref().map(text),
            auto_increment: extra.to_ascii_lowercase().contains("auto_increment"),
            is_json: source_type.trim().eq_ignore_ascii_case("longtext") && json.contains(&c.source),
            extra,
            enum_labels: None,
            source_type,
        });
    }
    let (primary_key, indexes) = read_indexes(conn, m).await?;
    Ok(TableDef { family: EngineFamily::MySql, mariadb, source: id.clone(), dest: m.dest.clone(), columns, primary_key, indexes })
}

/// MariaDB: the columns of `id` holding JSON. MariaDB's `JSON` is an alias of
/// `LONGTEXT` plus the CHECK `json_valid(`col`)`, the only trace of it in the
/// catalog. A table-level CHECK with exactly that body means the same.
async fn json_columns(conn: &mut Conn, id: &TableId) -> Result<HashSet<String>, MySqlError> {
    let clauses: Result<Vec<Vec<u8>>, _> = conn
        .exec(
            "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?",
            (&id.schema, &id.table),
        )
        .await;
    let clauses = match clauses {
        Ok(c) => c,
        // MariaDB before 10.2.22/10.3.10 has no CHECK_CONSTRAINTS (nor JSON checks).
        Err(mysql_async::Error::Server(e)) if e.code == 1109 => return Ok(HashSet::new()),
        Err(e) => return Err(e).context(|| format!("read check constraints of {id}")),
    };
    Ok(clauses.iter().filter_map(|c| json_valid_column(&text(c))).collect())
}

/// The column of a `json_valid(`col`)` CHECK body.
fn json_valid_column(clause: &str) -> Option<String> {
    let inner = clause.trim().strip_prefix("json_valid(")?.strip_suffix(')')?.trim();
    let quoted = inner.strip_prefix('`')?.strip_suffix('`')?;
    // Inside, a backquote is doubled; a lone one means another expression.
    let name = quoted.replace("``", "`");
    (quote_ident(&name) == inner).then_some(name)
}

/// An index as STATISTICS lists it.
struct RawIndex {
    name: String,
    unique: bool,
    /// INDEX_TYPE: BTREE, HASH, FULLTEXT, SPATIAL.
    kind: String,
    /// (column, or `None` for an expression; prefix length)
    parts: Vec<(Option<String>, Option<u64>)>,
}

/// The primary key and the secondary indexes of `m`, in destination names.
async fn read_indexes(conn: &mut Conn, m: &TableMapping) -> Result<(Vec<String>, Vec<IndexSpec>), MySqlError> {
    let id = &m.source;
    let rows: Vec<IndexRow> = conn
        .exec(
            "SELECT INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, SUB_PART, INDEX_TYPE
             FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?
             ORDER BY INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX",
            (&id.schema, &id.table),
        )
        .await
        .context(|| format!("read indexes of {id}"))?;
    Ok(keys_of(m, rows))
}

/// Groups STATISTICS rows (ordered by index, then position) into the primary
/// key and the secondary indexes that can be carried over.
fn keys_of(m: &TableMapping, rows: Vec<IndexRow>) -> (Vec<String>, Vec<IndexSpec>) {
    let id = &m.source;
    let mut raw: Vec<RawIndex> = Vec::new();
    for (name, non_unique, _, column, sub_part, kind) in rows {
        let (name, column) = (text(&name), column.as_deref().map(text));
        match raw.last_mut() {
            Some(last) if last.name == name => last.parts.push((column, sub_part)),
            _ => raw.push(RawIndex { name, unique: non_unique == 0, kind: text(&kind), parts: vec![(column, sub_part)] }),
        }
    }
    let mut primary_key = Vec::new();
    let mut indexes = Vec::new();
    'index: for RawIndex { name, unique, kind, parts } in raw {
        let what = if name == "PRIMARY" { "the primary key".to_string() } else { format!("index {name}") };
        if kind.eq_ignore_ascii_case("FULLTEXT") || kind.eq_ignore_ascii_case("SPATIAL") {
            tracing::warn!(table = %id, "{what} is a {kind} index, which has no counterpart on the destination: it is not created");
            continue;
        }
        let mut columns = Vec::with_capacity(parts.len());
        for (column, sub_part) in parts {
            let Some(column) = column else {
                tracing::warn!(table = %id, "{what} indexes an expression, which is not carried to another engine: it is not created");
                continue 'index;
            };
            let Some(dest) = m.columns.iter().find(|c| c.source == column) else {
                tracing::warn!(table = %id, "{what} uses the column {column}, which the DbList does not copy: it is not created");
                continue 'index;
            };
            if let Some(n) = sub_part {
                tracing::info!(table = %id, "{what} indexes the first {n} characters of {column}: the destination indexes the whole column");
            }
            columns.push(dest.dest.clone());
        }
        if name == "PRIMARY" {
            primary_key = columns;
        } else {
            indexes.push(IndexSpec { name, columns, unique });
        }
    }
    (primary_key, indexes)
}

// ---------------------------------------------------------------------------
// Destination side: TableDefs of a PostgreSQL source → MySQL DDL.

/// InnoDB's longest index key, in bytes (DYNAMIC/COMPRESSED row format, 16K pages).
const MAX_KEY_BYTES: u64 = 3072;

/// The longest MySQL identifier, in characters.
const MAX_IDENT_CHARS: usize = 64;

/// The table options of every created table.
///
/// The collation is binary (`utf8mb4_bin`): PostgreSQL compares text
/// case-sensitively always, and byte-wise in its default C collation (other
/// deterministic collations still never call two different strings equal).
/// MySQL's default collations (`utf8mb4_0900_ai_ci`, `utf8mb4_general_ci`)
/// ignore case, accents and (for PAD SPACE collations) trailing spaces, so a
/// unique key on text would reject rows PostgreSQL holds side by side (`Anna`
/// and `anna`), and comparisons and grouping would change meaning.
const TABLE_OPTIONS: &str = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";

/// DDL creating tables described by a PostgreSQL source
/// (`defs[i].family == PostgreSql`) on a MySQL destination.
///
/// `before_data`: one `CREATE DATABASE IF NOT EXISTS` per destination schema
/// (utf8mb4, binary collation), then one `CREATE TABLE IF NOT EXISTS` per
/// table with its columns, primary key, indexes and CHECK constraints.
///
/// `after_data` is empty: the secondary indexes are KEY clauses of the CREATE
/// TABLE. MySQL 8 has no `CREATE INDEX IF NOT EXISTS` (MariaDB has), so an
/// index created after the data would make a resumed job fail with a
/// duplicate key name; inside the CREATE TABLE it is created exactly once with
/// the table. The cost is a slower full load for tables with many indexes.
///
/// Refusals (all collected, each naming `schema.table.column` of the source):
/// a column `pg_to_mysql` cannot map; a primary or unique key over a column
/// MySQL can only index by a prefix (TEXT/BLOB) or not at all (JSON), or
/// longer than InnoDB's 3072 bytes, since a shorter key would refuse rows
/// PostgreSQL accepts; an identifier MySQL cannot hold (over 64 characters,
/// ending in a space, outside the BMP) or a duplicate column name (MySQL
/// compares them case-insensitively).
///
/// Adjusted with a warning, never refused: a non-unique index is created over
/// prefixes when its columns are unbounded strings or exceed 3072 bytes (the
/// same rows match, only selectivity changes), and is left out when it uses a
/// JSON column (MySQL indexes JSON only through generated columns); only one
/// column keeps AUTO_INCREMENT when PostgreSQL has several identity/serial
/// columns (MySQL allows one; the key's own is preferred, the others keep
/// their copied values but no longer generate new ones). An AUTO_INCREMENT
/// column that does not lead a key gets its own `KEY`, as MySQL requires.
pub fn plan_from_postgres(defs: &[TableDef]) -> Result<DdlPlan, Vec<Unmappable>> {
    let mut problems = Vec::new();
    let mut plan = DdlPlan::default();
    let mut schemas: Vec<(&str, &TableId)> = Vec::new();
    for def in defs {
        if !schemas.iter().any(|(s, _)| *s == def.dest.schema) {
            schemas.push((&def.dest.schema, &def.source));
        }
    }
    for (schema, source) in schemas {
        if let Some(reason) = bad_identifier(schema) {
            problems.push(Unmappable {
                column: source.schema.clone(),
                source_type: "schema".into(),
                reason: format!("the destination database name {schema:?} {reason}"),
            });
            continue;
        }
        plan.before_data.push(DdlStep {
            what: format!("database {schema}"),
            sql: format!("CREATE DATABASE IF NOT EXISTS {} DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", quote_ident(schema)),
        });
    }
    for def in defs {
        match create_table(def) {
            Ok(step) => plan.before_data.push(step),
            Err(mut p) => problems.append(&mut p),
        }
    }
    if problems.is_empty() { Ok(plan) } else { Err(problems) }
}

/// Why MySQL cannot hold `name` as an identifier, or `None`.
fn bad_identifier(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("is empty".into())
    } else if name.chars().count() > MAX_IDENT_CHARS {
        Some(format!("is longer than MySQL's {MAX_IDENT_CHARS} characters; rename it in the DbList"))
    } else if name.ends_with(' ') {
        Some("ends with a space, which MySQL does not allow; rename it in the DbList".into())
    } else if name.chars().any(|c| c == '\0' || u32::from(c) > 0xFFFF) {
        Some("holds a character outside the Unicode BMP (such as an emoji), which MySQL identifiers cannot; rename it in the DbList".into())
    } else {
        None
    }
}

/// How a destination column takes part in an index key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyPart {
    /// A fixed number of bytes.
    Fixed(u64),
    /// `char(n)`/`varchar(n)`: n characters of up to 4 bytes.
    Chars(u64),
    /// TEXT/BLOB: only a prefix can be indexed.
    Unbounded,
    /// JSON: not indexable.
    Json,
}

/// The key part of a MySQL column type (the types `pg_to_mysql` produces).
fn key_part(dest_type: &str) -> KeyPart {
    let t = dest_type.trim().to_ascii_lowercase();
    let (base, args) = match t.split_once('(') {
        Some((b, rest)) => (b.trim().to_string(), rest.split(')').next().unwrap_or("").to_string()),
        None => (t.split_whitespace().next().unwrap_or("").to_string(), String::new()),
    };
    let nums: Vec<u64> = args.split(',').filter_map(|a| a.trim().parse().ok()).collect();
    let frac = |p: u64| p.div_ceil(2);
    match base.as_str() {
        "tinytext" | "text" | "mediumtext" | "longtext" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
            KeyPart::Unbounded
        }
        "json" => KeyPart::Json,
        "char" | "varchar" => KeyPart::Chars(nums.first().copied().unwrap_or(1)),
        "binary" | "varbinary" => KeyPart::Fixed(nums.first().copied().unwrap_or(1)),
        "tinyint" | "year" => KeyPart::Fixed(1),
        "smallint" | "enum" => KeyPart::Fixed(2),
        "mediumint" | "date" => KeyPart::Fixed(3),
        "int" | "integer" | "float" => KeyPart::Fixed(4),
        "bigint" | "double" => KeyPart::Fixed(8),
        "datetime" => KeyPart::Fixed(5 + frac(nums.first().copied().unwrap_or(0))),
        "timestamp" => KeyPart::Fixed(4 + frac(nums.first().copied().unwrap_or(0))),
        "time" => KeyPart::Fixed(3 + frac(nums.first().copied().unwrap_or(0))),
        "decimal" => {
            let (p, s) = (nums.first().copied().unwrap_or(10), nums.get(1).copied().unwrap_or(0));
            KeyPart::Fixed(decimal_bytes(p.saturating_sub(s)) + decimal_bytes(s))
        }
        // Not produced by pg_to_mysql; a generous size.
        _ => KeyPart::Fixed(16),
    }
}

/// Bytes MySQL stores `digits` decimal digits in (9 digits per 4 bytes).
fn decimal_bytes(digits: u64) -> u64 {
    const REST: [u64; 9] = [0, 1, 1, 2, 2, 3, 3, 4, 4];
    digits / 9 * 4 + REST[(digits % 9) as usize]
}

/// A column of the table being planned.
struct Col<'a> {
    spec: &'a ColumnSpec,
    mapped: Option<MappedColumn>,
    /// Whether this column keeps AUTO_INCREMENT.
    identity: bool,
}

fn create_table(def: &TableDef) -> Result<DdlStep, Vec<Unmappable>> {
    let table = &def.source;
    let problem = |column: &str, source_type: &str, reason: String| Unmappable {
        column: format!("{table}.{column}"),
        source_type: source_type.to_string(),
        reason,
    };
    if def.family != EngineFamily::PostgreSql {
        return Err(vec![Unmappable {
            column: table.to_string(),
            source_type: "table".into(),
            reason: format!("the table is described for a {:?} source, not PostgreSQL", def.family),
        }]);
    }
    let mut problems = Vec::new();
    if let Some(reason) = bad_identifier(&def.dest.table) {
        problems.push(Unmappable {
            column: table.to_string(),
            source_type: "table".into(),
            reason: format!("the destination table name {:?} {reason}", def.dest.table),
        });
    }

    // Columns.
    let mut cols: Vec<Col> = Vec::with_capacity(def.columns.len());
    let mut names = HashSet::new();
    for spec in &def.columns {
        if let Some(reason) = bad_identifier(&spec.name) {
            problems.push(problem(&spec.source_name, &spec.source_type, format!("the destination column name {:?} {reason}", spec.name)));
        } else if !names.insert(spec.name.to_lowercase()) {
            problems.push(problem(
                &spec.source_name,
                &spec.source_type,
                format!("MySQL compares column names case-insensitively: {:?} clashes with another column; rename one in the DbList", spec.name),
            ));
        }
        let labels: Option<Vec<&str>> = spec.enum_labels.as_ref().map(|l| l.iter().map(String::as_str).collect());
        let source = SourceColumn {
            name: &spec.source_name,
            source_type: &spec.source_type,
            nullable: spec.nullable,
            default: spec.default.as_deref(),
            auto_increment: spec.auto_increment,
            is_json: spec.is_json,
            extra: &spec.extra,
            mariadb: false,
            enum_labels: labels.as_deref(),
        };
        let mapped = match pg_to_mysql(&source) {
            Ok(m) => {
                for note in &m.notes {
                    tracing::debug!(table = %table, column = %spec.source_name, "{note}");
                }
                Some(m)
            }
            Err(u) => {
                problems.push(problem(&u.column, &u.source_type, u.reason));
                None
            }
        };
        cols.push(Col { spec, mapped, identity: false });
    }

    // MySQL allows one AUTO_INCREMENT column: one of the primary key's, else the first.
    let identities: Vec<usize> = (0..cols.len())
        .filter(|&i| cols[i].mapped.as_ref().is_some_and(|m| m.identity.is_some()))
        .collect();
    let keeper = identities
        .iter()
        .copied()
        .find(|&i| def.primary_key.contains(&cols[i].spec.name))
        .or(identities.first().copied());
    for &i in &identities {
        if Some(i) == keeper {
            cols[i].identity = true;
        } else {
            tracing::warn!(
                table = %table,
                "column {} is an identity/serial column, but MySQL allows one AUTO_INCREMENT column per table: \
                 it is created as a plain integer (copied values are kept, new rows get no generated value)",
                cols[i].spec.source_name
            );
        }
    }

    let mut lines = Vec::new();
    let mut checks = Vec::new();
    for c in &cols {
        let Some(m) = &c.mapped else { continue };
        let q = quote_ident(&c.spec.name);
        let mut line = format!("  {q} {}", m.dest_type);
        if !c.spec.nullable {
            line.push_str(" NOT NULL");
        }
        if let Some(d) = &m.default {
            line.push_str(&format!(" DEFAULT {d}"));
        }
        if c.identity {
            line.push_str(" AUTO_INCREMENT");
        }
        lines.push(line);
        if let Some(check) = m.check_for(&q) {
            checks.push(format!("  CHECK ({check})"));
        }
    }

    // Keys. `leading` collects the first column of every created key.
    let mut leading: Vec<&str> = Vec::new();
    let find = |name: &str| cols.iter().find(|c| c.spec.name == name);
    if !def.primary_key.is_empty() {
        match unique_key(&def.primary_key, "the primary key", &cols, &problem) {
            Ok(list) => {
                lines.push(format!("  PRIMARY KEY ({list})"));
                leading.push(&def.primary_key[0]);
            }
            Err(mut p) => problems.append(&mut p),
        }
    }
    let mut index_names = HashSet::new();
    for index in &def.indexes {
        let what = format!("the {}index {}", if index.unique { "unique " } else { "" }, index.name);
        let first = index.columns.first().and_then(|c| find(c));
        let context = first.map_or(("", ""), |c| (c.spec.source_name.as_str(), c.spec.source_type.as_str()));
        let name_problem = if let Some(reason) = bad_identifier(&index.name) {
            Some(format!("the index name {:?} {reason}", index.name))
        } else if index.name.eq_ignore_ascii_case("PRIMARY") {
            Some("MySQL reserves the index name PRIMARY for the primary key; rename the index on the source".into())
        } else if !index_names.insert(index.name.to_lowercase()) {
            Some(format!("MySQL compares index names case-insensitively: {:?} clashes with another index", index.name))
        } else {
            None
        };
        if let Some(reason) = name_problem {
            problems.push(problem(context.0, context.1, reason));
            continue;
        }
        let list = if index.unique {
            unique_key(&index.columns, &what, &cols, &problem).map(Some)
        } else {
            plain_key(&index.columns, &what, &cols, table, &problem)
        };
        match list {
            Ok(Some(list)) => {
                let kind = if index.unique { "UNIQUE KEY" } else { "KEY" };
                lines.push(format!("  {kind} {} ({list})", quote_ident(&index.name)));
                leading.push(&index.columns[0]);
            }
            Ok(None) => {}
            Err(mut p) => problems.append(&mut p),
        }
    }
    // MySQL requires an AUTO_INCREMENT column to lead a key. The KEY is left
    // unnamed (and last) so MySQL picks a name no other key uses.
    if let Some(c) = cols.iter().find(|c| c.identity) {
        if !leading.contains(&c.spec.name.as_str()) {
            lines.push(format!("  KEY ({})", quote_ident(&c.spec.name)));
        }
    }
    lines.extend(checks);

    if !problems.is_empty() {
        return Err(problems);
    }
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {}.{} (\n{}\n) {TABLE_OPTIONS}",
        quote_ident(&def.dest.schema),
        quote_ident(&def.dest.table),
        lines.join(",\n")
    );
    Ok(DdlStep { what: format!("table {}", def.dest), sql })
}

type Problem<'p> = dyn Fn(&str, &str, String) -> Unmappable + 'p;

/// The columns of `key`, looked up in `cols`; `None` for an unknown or
/// unmapped column (an unknown one is reported, an unmapped one already was).
fn key_columns<'c, 'a>(
    key: &[String],
    what: &str,
    cols: &'c [Col<'a>],
    problem: &Problem,
    problems: &mut Vec<Unmappable>,
) -> Option<Vec<(&'c Col<'a>, &'c MappedColumn)>> {
    let mut out = Vec::with_capacity(key.len());
    let mut complete = true;
    for name in key {
        match cols.iter().find(|c| &c.spec.name == name) {
            Some(c) => match &c.mapped {
                Some(m) => out.push((c, m)),
                None => complete = false,
            },
            None => {
                problems.push(problem(name, "", format!("{what} uses the column {name:?}, which the table does not copy")));
                complete = false;
            }
        }
    }
    complete.then_some(out)
}

/// The column list of a primary or unique key, which must index every value
/// whole: a prefix key would refuse rows PostgreSQL accepts.
fn unique_key(key: &[String], what: &str, cols: &[Col], problem: &Problem) -> Result<String, Vec<Unmappable>> {
    let mut problems = Vec::new();
    let Some(parts) = key_columns(key, what, cols, problem, &mut problems) else {
        return Err(problems);
    };
    let mut bytes = 0;
    for (c, m) in &parts {
        let reason = match key_part(&m.dest_type) {
            KeyPart::Fixed(n) => {
                bytes += n;
                None
            }
            KeyPart::Chars(n) => {
                bytes += 4 * n;
                None
            }
            KeyPart::Unbounded => Some(format!(
                "{what} cannot be created: the column becomes {} on MySQL, which MySQL indexes only by a prefix, \
                 and a key on prefixes refuses rows PostgreSQL accepts; create the table on MySQL yourself with a \
                 VARCHAR (or VARBINARY) column for the key, or leave the key's table out",
                m.dest_type
            )),
            KeyPart::Json => Some(format!(
                "{what} cannot be created: the column becomes json on MySQL, which MySQL cannot index; create the \
                 table on MySQL yourself, or leave the key's table out"
            )),
        };
        if let Some(reason) = reason {
            problems.push(problem(&c.spec.source_name, &c.spec.source_type, reason));
        }
    }
    if problems.is_empty() && bytes > MAX_KEY_BYTES {
        let (c, _) = parts[0];
        problems.push(problem(
            &c.spec.source_name,
            &c.spec.source_type,
            format!(
                "{what} ({}) needs up to {bytes} bytes in utf8mb4, more than InnoDB's {MAX_KEY_BYTES}; a key on \
                 prefixes would refuse rows PostgreSQL accepts: shorten the columns on the source or create the \
                 table on MySQL yourself",
                key.join(", ")
            ),
        ));
    }
    if problems.is_empty() { Ok(column_list(&parts, &[])) } else { Err(problems) }
}

/// The column list of a non-unique index: unbounded strings, and strings that
/// do not fit InnoDB's key length, are indexed by their leading characters
/// (the same rows match; only the index's selectivity changes). `None` when
/// the index uses a JSON column and is left out.
fn plain_key(
    key: &[String],
    what: &str,
    cols: &[Col],
    table: &TableId,
    problem: &Problem,
) -> Result<Option<String>, Vec<Unmappable>> {
    let mut problems = Vec::new();
    let Some(parts) = key_columns(key, what, cols, problem, &mut problems) else {
        return Err(problems);
    };
    let kinds: Vec<KeyPart> = parts.iter().map(|(_, m)| key_part(&m.dest_type)).collect();
    if let Some(i) = kinds.iter().position(|k| *k == KeyPart::Json) {
        tracing::warn!(
            table = %table,
            "{what} uses the column {}, which becomes json on MySQL and cannot be indexed: the index is not created",
            parts[i].0.spec.source_name
        );
        return Ok(None);
    }
    let fixed: u64 = kinds.iter().map(|k| if let KeyPart::Fixed(n) = k { *n } else { 0 }).sum();
    let strings = kinds.iter().filter(|k| matches!(k, KeyPart::Chars(_) | KeyPart::Unbounded)).count() as u64;
    let whole: Option<u64> = kinds
        .iter()
        .map(|k| match k {
            KeyPart::Fixed(_) | KeyPart::Json => Some(0),
            KeyPart::Chars(n) => Some(4 * n),
            KeyPart::Unbounded => None,
        })
        .sum();
    if whole.is_some_and(|w| fixed + w <= MAX_KEY_BYTES) {
        return Ok(Some(column_list(&parts, &[])));
    }
    // Share the room left by the fixed parts among the string parts.
    let share = MAX_KEY_BYTES.saturating_sub(fixed) / 4 / strings.max(1);
    if share == 0 {
        tracing::warn!(table = %table, "{what} does not fit InnoDB's {MAX_KEY_BYTES}-byte keys: the index is not created");
        return Ok(None);
    }
    let prefixes: Vec<Option<u64>> = kinds
        .iter()
        .map(|k| match k {
            KeyPart::Unbounded => Some(share),
            KeyPart::Chars(n) if *n > share => Some(share),
            _ => None,
        })
        .collect();
    tracing::info!(table = %table, "{what} indexes leading characters of its string columns on MySQL");
    Ok(Some(column_list(&parts, &prefixes)))
}

/// `` `a`,`b`(191) ``.
fn column_list(parts: &[(&Col, &MappedColumn)], prefixes: &[Option<u64>]) -> String {
    parts
        .iter()
        .enumerate()
        .map(|(i, (c, _))| match prefixes.get(i).copied().flatten() {
            Some(n) => format!("{}({n})", quote_ident(&c.spec.name)),
            None => quote_ident(&c.spec.name),
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, ty: &str) -> ColumnSpec {
        ColumnSpec { name: name.into(), source_name: name.into(), source_type: ty.into(), nullable: true, ..ColumnSpec::default() }
    }

    fn not_null(c: ColumnSpec) -> ColumnSpec {
        ColumnSpec { nullable: false, ..c }
    }

    fn with_default(c: ColumnSpec, d: &str) -> ColumnSpec {
        ColumnSpec { default: Some(d.into()), ..c }
    }

    fn pg_table(table: &str, columns: Vec<ColumnSpec>, primary_key: &[&str], indexes: Vec<IndexSpec>) -> TableDef {
        TableDef {
            family: EngineFamily::PostgreSql,
            mariadb: false,
            source: TableId::new("public", table),
            dest: TableId::new("shop", table),
            columns,
            primary_key: primary_key.iter().map(|c| c.to_string()).collect(),
            indexes,
        }
    }

    fn index(name: &str, columns: &[&str], unique: bool) -> IndexSpec {
        IndexSpec { name: name.into(), columns: columns.iter().map(|c| c.to_string()).collect(), unique }
    }

    fn items() -> TableDef {
        let id = ColumnSpec {
            auto_increment: true,
            ..with_default(not_null(col("id", "integer")), "nextval('items_id_seq'::regclass)")
        };
        let mood = ColumnSpec {
            enum_labels: Some(vec!["sad".into(), "ok".into(), "happy".into()]),
            ..with_default(col("mood", "mood"), "'ok'::mood")
        };
        pg_table(
            "items",
            vec![
                id,
                with_default(not_null(col("name", "character varying(40)")), "'x'::character varying"),
                with_default(col("price", "numeric(10,2)"), "0"),
                with_default(not_null(col("active", "boolean")), "true"),
                with_default(not_null(col("created", "timestamp with time zone")), "now()"),
                col("doc", "jsonb"),
                col("data", "bytea"),
                col("uid", "uuid"),
                col("tags", "text[]"),
                mood,
                col("qty", "integer"),
                col("flags", "bit(3)"),
            ],
            &["id"],
            vec![index("items_name_qty_key", &["name", "qty"], true), index("items_created_idx", &["created"], false)],
        )
    }

    #[test]
    fn a_postgres_table_becomes_one_create_table() {
        let plan = plan_from_postgres(&[items()]).unwrap();
        assert!(plan.after_data.is_empty());
        assert_eq!(plan.before_data.len(), 2);
        assert_eq!(plan.before_data[0].what, "database shop");
        assert_eq!(
            plan.before_data[0].sql,
            "CREATE DATABASE IF NOT EXISTS `shop` DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        );
        assert_eq!(plan.before_data[1].what, "table shop.items");
        assert_eq!(
            plan.before_data[1].sql,
            "CREATE TABLE IF NOT EXISTS `shop`.`items` (
  `id` int NOT NULL AUTO_INCREMENT,
  `name` varchar(40) NOT NULL DEFAULT 'x',
  `price` decimal(10,2) DEFAULT 0,
  `active` tinyint(1) NOT NULL DEFAULT 1,
  `created` datetime(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  `doc` json,
  `data` longblob,
  `uid` char(36),
  `tags` longtext,
  `mood` enum('sad','ok','happy') DEFAULT 'ok',
  `qty` int,
  `flags` varchar(3),
  PRIMARY KEY (`id`),
  UNIQUE KEY `items_name_qty_key` (`name`,`qty`),
  KEY `items_created_idx` (`created`),
  CHECK (`flags` REGEXP '^[01]{3}$')
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
        );
    }

    #[test]
    fn one_database_step_per_destination_schema() {
        let mut other = pg_table("b", vec![not_null(col("id", "bigint"))], &["id"], vec![]);
        other.dest = TableId::new("sh`op2", "b");
        let plan = plan_from_postgres(&[items(), pg_table("a", vec![col("x", "text")], &[], vec![]), other]).unwrap();
        let what: Vec<&str> = plan.before_data.iter().map(|s| s.what.as_str()).collect();
        assert_eq!(what, ["database shop", "database sh`op2", "table shop.items", "table shop.a", "table sh`op2.b"]);
        assert!(plan.before_data[1].sql.contains("`sh``op2`"));
        assert_eq!(
            plan.before_data[3].sql,
            "CREATE TABLE IF NOT EXISTS `shop`.`a` (\n  `x` longtext\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let t = pg_table(
            "orders",
            vec![
                not_null(col("id", "bigint")),
                col("total", "numeric"),
                col("note", "text"),
                col("fee", "money"),
                col("qty", "integer"),
            ],
            &["id"],
            vec![index("orders_note_key", &["note"], true), index("orders_qty_idx", &["qty"], false)],
        );
        let errs = plan_from_postgres(&[t]).unwrap_err();
        let cols: Vec<(&str, &str)> = errs.iter().map(|e| (e.column.as_str(), e.source_type.as_str())).collect();
        assert_eq!(cols, [("public.orders.total", "numeric"), ("public.orders.fee", "money"), ("public.orders.note", "text")]);
        assert!(errs[0].reason.contains("without a precision"), "{}", errs[0]);
        assert!(errs[1].reason.contains("lc_monetary"), "{}", errs[1]);
        assert!(errs[2].reason.contains("the unique index orders_note_key") && errs[2].reason.contains("VARCHAR"), "{}", errs[2]);
        assert_eq!(
            errs[0].to_string(),
            format!("column public.orders.total (numeric): {}", errs[0].reason)
        );
    }

    #[test]
    fn keys_mysql_cannot_hold_whole_are_refused() {
        let t = pg_table(
            "k",
            vec![
                not_null(col("doc", "jsonb")),
                col("a", "character varying(500)"),
                col("b", "character varying(300)"),
                col("c", "character varying(768)"),
            ],
            &["doc"],
            vec![index("k_ab", &["a", "b"], true), index("k_c", &["c"], true), index("k_missing", &["zz"], true)],
        );
        let errs = plan_from_postgres(&[t]).unwrap_err();
        let cols: Vec<&str> = errs.iter().map(|e| e.column.as_str()).collect();
        // varchar(768) is exactly 3072 bytes: allowed.
        assert_eq!(cols, ["public.k.doc", "public.k.a", "public.k.zz"]);
        assert!(errs[0].reason.contains("the primary key") && errs[0].reason.contains("json"), "{}", errs[0]);
        assert!(errs[1].reason.contains("3200 bytes"), "{}", errs[1]);
        assert!(errs[2].reason.contains("does not copy"), "{}", errs[2]);
    }

    #[test]
    fn plain_indexes_use_prefixes_or_are_left_out() {
        let t = pg_table(
            "p",
            vec![
                not_null(col("id", "bigint")),
                col("body", "text"),
                col("a", "character varying(1000)"),
                col("b", "character varying(10)"),
                col("doc", "jsonb"),
            ],
            &["id"],
            vec![
                index("p_body", &["body"], false),
                index("p_id_body", &["id", "body"], false),
                index("p_ab", &["a", "b"], false),
                index("p_doc", &["doc"], false),
            ],
        );
        let plan = plan_from_postgres(&[t]).unwrap();
        let sql = &plan.before_data[1].sql;
        assert!(sql.contains("  KEY `p_body` (`body`(768)),\n"), "{sql}");
        assert!(sql.contains("  KEY `p_id_body` (`id`,`body`(766)),\n"), "{sql}");
        assert!(sql.contains("  KEY `p_ab` (`a`(384),`b`)\n"), "{sql}");
        assert!(!sql.contains("p_doc"), "{sql}");
    }

    #[test]
    fn auto_increment_leads_a_key_and_only_one_is_kept() {
        let serial = |name: &str| ColumnSpec {
            auto_increment: true,
            ..with_default(not_null(col(name, "bigint")), &format!("nextval('t_{name}_seq'::regclass)"))
        };
        let t = pg_table(
            "t",
            vec![not_null(col("tenant", "integer")), serial("seq"), serial("id")],
            &["tenant", "id"],
            vec![],
        );
        let plan = plan_from_postgres(&[t]).unwrap();
        assert_eq!(
            plan.before_data[1].sql,
            "CREATE TABLE IF NOT EXISTS `shop`.`t` (
  `tenant` int NOT NULL,
  `seq` bigint NOT NULL,
  `id` bigint NOT NULL AUTO_INCREMENT,
  PRIMARY KEY (`tenant`,`id`),
  KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
        );
        // Without one in the primary key, the first; an index it leads is enough.
        let t = pg_table("u", vec![serial("seq"), serial("id")], &[], vec![index("u_seq", &["seq"], false)]);
        let sql = plan_from_postgres(&[t]).unwrap().before_data[1].sql.clone();
        assert!(sql.contains("`seq` bigint NOT NULL AUTO_INCREMENT,\n  `id` bigint NOT NULL,"), "{sql}");
        assert!(!sql.contains("  KEY (`"), "{sql}");
    }

    #[test]
    fn identifiers_mysql_cannot_hold() {
        let long = "x".repeat(65);
        let mut t = pg_table(
            "n",
            vec![col(&long, "integer"), col("Name", "text"), col("name", "text"), col("ok ", "integer")],
            &[],
            vec![index("primary", &["Name"], false)],
        );
        t.dest.table = "y".repeat(64);
        assert!(plan_from_postgres(&[t.clone()]).is_err());
        let errs = plan_from_postgres(&[t]).unwrap_err();
        let reasons: Vec<&str> = errs.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(errs.len(), 4, "{reasons:#?}");
        assert!(reasons[0].contains("longer than MySQL's 64"));
        assert!(reasons[1].contains("case-insensitively"));
        assert!(reasons[2].contains("ends with a space"));
        assert!(reasons[3].contains("PRIMARY"));
        assert_eq!(bad_identifier(&"é".repeat(64)), None);
        assert!(bad_identifier("a😀").is_some());
    }

    #[test]
    fn only_postgres_descriptions_are_planned() {
        let mut t = items();
        t.family = EngineFamily::MySql;
        let errs = plan_from_postgres(&[t]).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].column, "public.items");
    }

    #[test]
    fn key_sizes() {
        assert_eq!(key_part("varchar(20)"), KeyPart::Chars(20));
        assert_eq!(key_part("char(36)"), KeyPart::Chars(36));
        assert_eq!(key_part("longtext"), KeyPart::Unbounded);
        assert_eq!(key_part("longblob"), KeyPart::Unbounded);
        assert_eq!(key_part("json"), KeyPart::Json);
        assert_eq!(key_part("int unsigned"), KeyPart::Fixed(4));
        assert_eq!(key_part("decimal(10,2)"), KeyPart::Fixed(5));
        assert_eq!(key_part("decimal(65,30)"), KeyPart::Fixed(30));
        assert_eq!(key_part("datetime(6)"), KeyPart::Fixed(8));
        assert_eq!(key_part("datetime"), KeyPart::Fixed(5));
        assert_eq!(key_part("enum('a','b')"), KeyPart::Fixed(2));
    }

    #[test]
    fn indexes_on_expressions_left_out_columns_and_fulltext_are_not_carried() {
        use crate::schema::ColumnMapping;
        use opendts_core::row::TableSchema;
        let m = TableMapping {
            source: TableId::new("shop", "t"),
            dest: TableId::new("shop2", "t2"),
            columns: [("id", "id"), ("a", "A2"), ("b", "b")]
                .iter()
                .map(|(s, d)| ColumnMapping { source: s.to_string(), dest: d.to_string() })
                .collect(),
            filter: None,
            create_sql: String::new(),
            schema: TableSchema { id: TableId::new("shop", "t"), columns: vec![], key: vec![] },
            estimated_rows: 0,
        };
        let row = |index: &str, non_unique: i64, seq: u64, column: Option<&str>, sub_part: Option<u64>, kind: &str| -> IndexRow {
            (index.into(), non_unique, seq, column.map(|c| c.as_bytes().to_vec()), sub_part, kind.into())
        };
        let rows = vec![
            row("PRIMARY", 0, 1, Some("id"), None, "BTREE"),
            row("f_lower", 1, 1, None, None, "BTREE"),
            row("ft", 1, 1, Some("b"), None, "FULLTEXT"),
            row("k_ab", 1, 1, Some("a"), Some(10), "BTREE"),
            row("k_ab", 1, 2, Some("b"), None, "BTREE"),
            row("k_ac", 1, 1, Some("a"), None, "BTREE"),
            row("k_ac", 1, 2, Some("c"), None, "BTREE"),
            row("u_b_expr", 0, 1, Some("b"), None, "BTREE"),
            row("u_b_expr", 0, 2, None, None, "BTREE"),
            row("u_ba", 0, 1, Some("b"), None, "BTREE"),
            row("u_ba", 0, 2, Some("a"), None, "BTREE"),
        ];
        let (pk, indexes) = keys_of(&m, rows);
        assert_eq!(pk, ["id"]);
        assert_eq!(
            indexes,
            [
                IndexSpec { name: "k_ab".into(), columns: vec!["A2".into(), "b".into()], unique: false },
                IndexSpec { name: "u_ba".into(), columns: vec!["b".into(), "A2".into()], unique: true },
            ]
        );
        // A primary key over a column that is not copied is left out too.
        let (pk, _) = keys_of(&m, vec![row("PRIMARY", 0, 1, Some("id"), None, "BTREE"), row("PRIMARY", 0, 2, Some("c"), None, "BTREE")]);
        assert!(pk.is_empty());
    }

    #[test]
    fn json_checks_name_their_column() {
        assert_eq!(json_valid_column("json_valid(`doc`)").as_deref(), Some("doc"));
        assert_eq!(json_valid_column("json_valid(`a``b`)").as_deref(), Some("a`b"));
        assert_eq!(json_valid_column("json_valid(`a`) and 1"), None);
        assert_eq!(json_valid_column("json_valid(`a` `b`)"), None);
        assert_eq!(json_valid_column("`a` > 0"), None);
    }
}
