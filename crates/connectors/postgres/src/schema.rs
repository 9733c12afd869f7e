//! What to copy from a PostgreSQL source: the tables a DbList selects, their
//! columns and keys, and the DDL that recreates them (renamed, column
//! subsets) on a PostgreSQL destination.
//!
//! ## How a DbList maps onto PostgreSQL
//!
//! A job reads one PostgreSQL *database*: the one the source endpoint names
//! (`SourceEndpointDatabaseName`, `postgres` when empty). A DbList key is a
//! *schema* of that database, and its `name` the destination schema (in the
//! database the destination endpoint names); `Table` entries are tables of
//! that schema. So `{"public": {"name": "shop", "all": true}}` copies every
//! table of `public` into the destination schema `shop`.
//!
//! Ordinary and partitioned tables are selected; partitions are not listed on
//! their own (their rows are read through the partitioned parent). The
//! system schemas (`pg_catalog`, `information_schema`, `pg_toast*`,
//! `pg_temp*`) and OpenDTS's own `opendts_meta` are never selected.

use crate::error::{Context, PgError};
use crate::session::{qualified, quote_ident};
use opendts_core::dblist::filter::Filter;
use opendts_core::dblist::DbList;
use opendts_core::row::{ColumnDef, TableId, TableSchema};
use tokio_postgres::Client;

/// Schemas never copied (besides the `pg_toast*` and `pg_temp*` families).
pub const SYSTEM_SCHEMAS: &[&str] = &["pg_catalog", "information_schema", "opendts_meta"];

/// Whether `schema` belongs to the server (or to OpenDTS) rather than to the user.
pub fn is_system(schema: &str) -> bool {
    SYSTEM_SCHEMAS.contains(&schema)
        || schema.starts_with("pg_toast")
        || schema.starts_with("pg_temp")
}

/// `pg_class.relreplident`: what an UPDATE or DELETE writes of the old row into the WAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaIdentity {
    /// `d`: the primary key columns (nothing when there is no primary key).
    Default,
    /// `n`: nothing.
    Nothing,
    /// `f`: the whole old row.
    Full,
    /// `i`: the columns of a chosen unique index.
    Index,
}

impl ReplicaIdentity {
    pub fn from_code(code: &str) -> ReplicaIdentity {
        match code {
            "n" => ReplicaIdentity::Nothing,
            "f" => ReplicaIdentity::Full,
            "i" => ReplicaIdentity::Index,
            _ => ReplicaIdentity::Default,
        }
    }

    pub fn as_sql(self) -> &'static str {
        match self {
            ReplicaIdentity::Default => "DEFAULT",
            ReplicaIdentity::Nothing => "NOTHING",
            ReplicaIdentity::Full => "FULL",
            ReplicaIdentity::Index => "USING INDEX",
        }
    }

    /// Whether logical replication can identify the old row of an UPDATE or
    /// DELETE on a table with (`has_primary_key`) or without a primary key.
    pub fn identifies_rows(self, has_primary_key: bool) -> bool {
        match self {
            ReplicaIdentity::Default => has_primary_key,
            ReplicaIdentity::Nothing => false,
            ReplicaIdentity::Full | ReplicaIdentity::Index => true,
        }
    }
}

/// A user table of the source database, as the catalog lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogTable {
    pub id: TableId,
    pub oid: u32,
    /// `relkind = 'p'`.
    pub partitioned: bool,
    pub replica_identity: ReplicaIdentity,
    pub has_primary_key: bool,
    /// `pg_class.reltuples` (0 when never analyzed).
    pub estimated_rows: u64,
}

/// Every ordinary and partitioned table (partitions excluded) outside the
/// system schemas, in schema and name order.
pub async fn catalog_tables(client: &Client) -> Result<Vec<CatalogTable>, PgError> {
    let rows = client
        .query(
            "SELECT n.nspname::text, c.relname::text, c.oid, c.relkind = 'p', c.relreplident::text,
                    EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisprimary),
                    GREATEST(c.reltuples, 0)::int8
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
             ORDER BY 1, 2",
            &[],
        )
        .await
        .context(|| "list source tables".into())?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let schema: String = r.try_get(0).context(|| "read the table list".into())?;
        if is_system(&schema) {
            continue;
        }
        let ident: String = r.try_get(4).context(|| "read the table list".into())?;
        let rows: i64 = r.try_get(6).context(|| "read the table list".into())?;
        out.push(CatalogTable {
            id: TableId::new(schema, r.try_get::<_, String>(1).context(|| "read the table list".into())?),
            oid: r.try_get(2).context(|| "read the table list".into())?,
            partitioned: r.try_get(3).context(|| "read the table list".into())?,
            replica_identity: ReplicaIdentity::from_code(&ident),
            has_primary_key: r.try_get(5).context(|| "read the table list".into())?,
            estimated_rows: rows.max(0) as u64,
        });
    }
    Ok(out)
}

/// The tables of `tables` that `db_list` selects (keys are schemas, see the module doc).
pub fn select<'t>(db_list: &DbList, tables: &'t [CatalogTable]) -> Vec<&'t CatalogTable> {
    tables.iter().filter(|t| db_list.select_table(&t.id.schema, &t.id.table).is_some()).collect()
}

/// A column of a source table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgColumn {
    pub name: String,
    /// `format_type(atttypid, atttypmod)`, e.g. `character varying(20)`, `numeric(10,2)`, `integer[]`.
    pub data_type: String,
    pub nullable: bool,
    /// `pg_get_expr(adbin)` of a default (not of a generated column).
    pub default: Option<String>,
    /// `attidentity`: `a` (ALWAYS), `d` (BY DEFAULT) or `None`.
    pub identity: Option<char>,
    /// The expression of a stored generated column.
    pub generated: Option<String>,
}

impl PgColumn {
    /// Whether the default takes its values from a sequence (`serial` columns).
    pub fn default_uses_sequence(&self) -> bool {
        self.default.as_deref().is_some_and(|d| d.contains("nextval("))
    }
}

/// A source column that is copied, and its name on the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMapping {
    pub source: String,
    pub dest: String,
}

/// One selected source table and where it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct TableMapping {
    pub source: TableId,
    /// Destination schema (the DbList key's `name`) and table.
    pub dest: TableId,
    /// Copied columns in source order. Generated columns are never listed:
    /// the destination computes them.
    pub columns: Vec<ColumnMapping>,
    pub filter: Option<Filter>,
    /// Every column of the source table (generated ones included), in order.
    pub pg_columns: Vec<PgColumn>,
    /// Source names of the primary key columns, in key order (empty without one).
    pub primary_key: Vec<String>,
    pub replica_identity: ReplicaIdentity,
    /// Columns and key of the source table, restricted to the copied columns.
    pub schema: TableSchema,
    /// `pg_class.reltuples`, for progress.
    pub estimated_rows: u64,
}

impl TableMapping {
    fn column(&self, name: &str) -> Option<&PgColumn> {
        self.pg_columns.iter().find(|c| c.name == name)
    }

    /// The destination name of a source column, if it is copied.
    pub fn dest_column(&self, source: &str) -> Option<&str> {
        self.columns.iter().find(|c| c.source == source).map(|c| c.dest.as_str())
    }

    /// The destination types of the copied columns, in copy order.
    pub fn dest_types(&self) -> Vec<String> {
        self.columns.iter().map(|c| self.column(&c.source).map(|p| p.data_type.clone()).unwrap_or_default()).collect()
    }
}

/// The tables the DbList selects, with their columns and keys, in name order.
pub async fn selected_tables(client: &Client, db_list: &DbList) -> Result<Vec<TableMapping>, PgError> {
    let tables = catalog_tables(client).await?;
    let generated_column = server_version_num(client).await? >= 120_000;
    let mut out = Vec::new();
    for t in select(db_list, &tables) {
        let Some(sel) = db_list.select_table(&t.id.schema, &t.id.table) else { continue };
        let pg_columns = read_columns(client, t, generated_column).await?;
        let mut columns = Vec::new();
        let mut defs = Vec::new();
        for col in &pg_columns {
            if col.generated.is_some() {
                continue;
            }
            if let Some(dest) = sel.dest_column(&col.name) {
                columns.push(ColumnMapping { source: col.name.clone(), dest: dest.to_string() });
                defs.push(ColumnDef { name: col.name.clone(), source_type: col.data_type.clone(), nullable: col.nullable });
            }
        }
        if columns.is_empty() {
            return Err(PgError::other(format!("table {}", t.id), "the DbList selects none of its columns"));
        }
        let indexes = read_unique_indexes(client, t).await?;
        let primary_key = indexes.iter().find(|i| i.primary).map(|i| i.columns.clone()).unwrap_or_default();
        let key = choose_key(&indexes, &defs);
        out.push(TableMapping {
            source: t.id.clone(),
            dest: TableId::new(sel.dest_db.clone(), sel.dest_table.clone()),
            columns,
            filter: sel.filter().cloned(),
            pg_columns,
            primary_key,
            replica_identity: t.replica_identity,
            schema: TableSchema { id: t.id.clone(), columns: defs, key },
            estimated_rows: t.estimated_rows,
        });
    }
    Ok(out)
}

/// `server_version_num`, e.g. 150004.
pub async fn server_version_num(client: &Client) -> Result<i32, PgError> {
    let row = client
        .query_one("SELECT current_setting('server_version_num')::int4", &[])
        .await
        .context(|| "read the server version".into())?;
    row.try_get(0).context(|| "read the server version".into())
}

async fn read_columns(client: &Client, t: &CatalogTable, generated_column: bool) -> Result<Vec<PgColumn>, PgError> {
    let generated = if generated_column { "a.attgenerated::text" } else { "''::text" };
    let sql = format!(
        "SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
                pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, {generated}
         FROM pg_catalog.pg_attribute a
         LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY a.attnum"
    );
    let what = || format!("read columns of {}", t.id);
    let rows = client.query(&sql, &[&t.oid]).await.context(what)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let expr: Option<String> = r.try_get(3).context(what)?;
        let identity: String = r.try_get(4).context(what)?;
        let generated: String = r.try_get(5).context(what)?;
        let is_generated = generated == "s";
        out.push(PgColumn {
            name: r.try_get(0).context(what)?,
            data_type: r.try_get(1).context(what)?,
            nullable: r.try_get(2).context(what)?,
            default: if is_generated { None } else { expr.clone() },
            identity: identity.chars().next().filter(|c| *c == 'a' || *c == 'd'),
            generated: if is_generated { expr } else { None },
        });
    }
    Ok(out)
}

/// A unique index usable as a row key: no expression, no predicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueIndex {
    pub primary: bool,
    pub replica_identity: bool,
    pub columns: Vec<String>,
}

async fn read_unique_indexes(client: &Client, t: &CatalogTable) -> Result<Vec<UniqueIndex>, PgError> {
    let what = || format!("read keys of {}", t.id);
    let rows = client
        .query(
            "SELECT i.indisprimary, i.indisreplident,
                    ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                          JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                          ORDER BY k.ord)
             FROM pg_catalog.pg_index i
             WHERE i.indrelid = $1 AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
             ORDER BY i.indisprimary DESC, i.indisreplident DESC, i.indexrelid::regclass::text",
            &[&t.oid],
        )
        .await
        .context(what)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(UniqueIndex {
            primary: r.try_get(0).context(what)?,
            replica_identity: r.try_get(1).context(what)?,
            columns: r.try_get(2).context(what)?,
        });
    }
    Ok(out)
}

/// Positions (in `columns`) of the primary key, else of the replica identity
/// index, else of the first unique index whose columns are all copied and
/// NOT NULL; empty when there is none. `indexes` come primary first.
pub fn choose_key(indexes: &[UniqueIndex], columns: &[ColumnDef]) -> Vec<usize> {
    for index in indexes {
        let positions: Option<Vec<usize>> = index
            .columns
            .iter()
            .map(|c| columns.iter().position(|d| &d.name == c && !d.nullable))
            .collect();
        if let Some(p) = positions.filter(|p| !p.is_empty()) {
            return p;
        }
    }
    Vec::new()
}

/// `CREATE SCHEMA IF NOT EXISTS` for a destination schema.
pub fn create_schema_sql(dest_schema: &str) -> String {
    format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(dest_schema))
}

/// `CREATE TABLE IF NOT EXISTS` for the destination of `m`: the destination
/// name, renamed columns, only the copied columns, their types (as
/// `format_type` prints them), NOT NULL, defaults and identity, and the
/// primary key when all its columns are copied.
///
/// Defaults that draw from a sequence (`nextval(...)`, i.e. `serial`) are left
/// out: the sequence may not exist on the destination yet. They are in
/// [`deferred_defaults`], to run once the sequences are migrated.
/// Stored generated columns are recreated when every column is copied under
/// its own name; with renames or a column subset their expression may refer to
/// a column that no longer exists under that name, so that is an error
/// naming the column rather than a silent change.
pub fn table_ddl(m: &TableMapping) -> Result<String, PgError> {
    table_ddl_with(m, true)
}

/// [`table_ddl`] without the primary key, and the statement that adds it
/// once the rows are in: building the key's index once is faster than
/// maintaining it row by row during the load (pg_dump does the same). The
/// statement is safe to run again (it adds the key only when the table has none).
pub fn table_ddl_key_after(m: &TableMapping) -> Result<(String, Option<String>), PgError> {
    let table = table_ddl_with(m, false)?;
    let key = dest_primary_key(m).map(|cols| {
        let name = qualified(&m.dest.schema, &m.dest.table);
        format!(
            "DO $opendts$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint WHERE conrelid = {}::regclass \
             AND contype = 'p') THEN ALTER TABLE {name} ADD PRIMARY KEY ({}); END IF; END $opendts$",
            crate::session::quote_literal(&name),
            cols.join(", ")
        )
    });
    Ok((table, key))
}

/// The destination names of the primary key columns, quoted, when every one is copied.
fn dest_primary_key(m: &TableMapping) -> Option<Vec<String>> {
    if m.primary_key.is_empty() {
        return None;
    }
    m.primary_key.iter().map(|c| m.dest_column(c).map(quote_ident)).collect()
}

fn table_ddl_with(m: &TableMapping, with_key: bool) -> Result<String, PgError> {
    let context = || format!("rewrite the definition of {}", m.source);
    let identity_mapping = m.columns.iter().all(|c| c.source == c.dest)
        && m.pg_columns.iter().filter(|c| c.generated.is_none()).count() == m.columns.len();
    let mut body = Vec::new();
    for col in &m.pg_columns {
        if let Some(expr) = &col.generated {
            if !identity_mapping {
                return Err(PgError::other(
                    context(),
                    format!(
                        "the generated column {} is computed from other columns, and the DbList renames or leaves out \
                         columns of this table; copy the table whole or drop the generated column from the selection's \
                         destination",
                        quote_ident(&col.name)
                    ),
                ));
            }
            body.push(format!(
                "  {} {} GENERATED ALWAYS AS ({expr}) STORED",
                quote_ident(&col.name),
                col.data_type
            ));
            continue;
        }
        let Some(dest) = m.dest_column(&col.name) else { continue };
        let mut line = format!("  {} {}", quote_ident(dest), col.data_type);
        match col.identity {
            Some('a') => line.push_str(" GENERATED ALWAYS AS IDENTITY"),
            Some('d') => line.push_str(" GENERATED BY DEFAULT AS IDENTITY"),
            _ => {
                if let Some(default) = col.default.as_ref().filter(|_| !col.default_uses_sequence()) {
                    line.push_str(&format!(" DEFAULT {default}"));
                }
            }
        }
        if !col.nullable {
            line.push_str(" NOT NULL");
        }
        body.push(line);
    }
    if let Some(pk) = dest_primary_key(m).filter(|_| with_key) {
        body.push(format!("  PRIMARY KEY ({})", pk.join(", ")));
    }
    Ok(format!(
        "CREATE TABLE IF NOT EXISTS {} (\n{}\n)",
        qualified(&m.dest.schema, &m.dest.table),
        body.join(",\n")
    ))
}

/// `ALTER TABLE ... ALTER COLUMN ... SET DEFAULT nextval(...)` for the
/// sequence defaults [`table_ddl`] leaves out, with the expression as the
/// source has it (a sequence in a renamed schema must be renamed by the caller).
pub fn deferred_defaults(m: &TableMapping) -> Vec<String> {
    m.pg_columns
        .iter()
        .filter(|c| c.identity.is_none() && c.generated.is_none() && c.default_uses_sequence())
        .filter_map(|c| {
            let dest = m.dest_column(&c.name)?;
            Some(format!(
                "ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}",
                qualified(&m.dest.schema, &m.dest.table),
                quote_ident(dest),
                c.default.as_deref().unwrap_or_default()
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, ty: &str, nullable: bool, default: Option<&str>) -> PgColumn {
        PgColumn {
            name: name.into(),
            data_type: ty.into(),
            nullable,
            default: default.map(Into::into),
            identity: None,
            generated: None,
        }
    }

    fn mapping(cols: Vec<PgColumn>, copied: &[(&str, &str)], pk: &[&str]) -> TableMapping {
        let defs: Vec<ColumnDef> = copied
            .iter()
            .filter_map(|(s, _)| cols.iter().find(|c| c.name == *s))
            .map(|c| ColumnDef { name: c.name.clone(), source_type: c.data_type.clone(), nullable: c.nullable })
            .collect();
        TableMapping {
            source: TableId::new("public", "orders"),
            dest: TableId::new("shop", "orders_copy"),
            columns: copied.iter().map(|(s, d)| ColumnMapping { source: s.to_string(), dest: d.to_string() }).collect(),
            filter: None,
            pg_columns: cols,
            primary_key: pk.iter().map(|s| s.to_string()).collect(),
            replica_identity: ReplicaIdentity::Default,
            schema: TableSchema { id: TableId::new("public", "orders"), columns: defs, key: vec![0] },
            estimated_rows: 0,
        }
    }

    #[test]
    fn ddl_with_renames_subset_defaults_and_key() {
        let mut id = col("id", "bigint", false, None);
        id.identity = Some('d');
        let cols = vec![
            id,
            col("Note", "character varying(20)", true, Some("'x'::character varying")),
            col("secret", "text", true, None),
            col("amount", "numeric(10,2)", false, Some("0")),
        ];
        let m = mapping(cols, &[("id", "id"), ("Note", "note"), ("amount", "amount")], &["id"]);
        assert_eq!(
            table_ddl(&m).unwrap(),
            "CREATE TABLE IF NOT EXISTS \"shop\".\"orders_copy\" (\n  \"id\" bigint GENERATED BY DEFAULT AS IDENTITY NOT NULL,\n  \
             \"note\" character varying(20) DEFAULT 'x'::character varying,\n  \"amount\" numeric(10,2) DEFAULT 0 NOT NULL,\n  \
             PRIMARY KEY (\"id\")\n)"
        );
    }

    #[test]
    fn primary_key_renamed_or_dropped() {
        let cols = vec![col("a", "integer", false, None), col("b", "integer", false, None), col("c", "text", true, None)];
        let m = mapping(cols.clone(), &[("a", "x"), ("b", "b"), ("c", "c")], &["a", "b"]);
        assert!(table_ddl(&m).unwrap().contains("PRIMARY KEY (\"x\", \"b\")"));
        // A key column that is not copied: no primary key rather than a wrong one.
        let m = mapping(cols, &[("b", "b"), ("c", "c")], &["a", "b"]);
        let ddl = table_ddl(&m).unwrap();
        assert!(!ddl.contains("PRIMARY KEY"), "{ddl}");
        assert!(!ddl.contains("\"a\""), "{ddl}");
    }

    #[test]
    fn primary_key_after_the_data() {
        let cols = vec![col("a", "integer", false, None), col("b", "text", true, None)];
        let m = mapping(cols, &[("a", "x"), ("b", "b")], &["a"]);
        let (table, key) = table_ddl_key_after(&m).unwrap();
        assert!(!table.contains("PRIMARY KEY"), "{table}");
        let key = key.unwrap();
        assert!(key.contains("ALTER TABLE \"shop\".\"orders_copy\" ADD PRIMARY KEY (\"x\")"), "{key}");
        assert!(key.contains("contype = 'p'"), "{key}");
    }

    #[test]
    fn serial_defaults_are_deferred() {
        let cols = vec![col("id", "integer", false, Some("nextval('orders_id_seq'::regclass)")), col("v", "text", true, None)];
        let m = mapping(cols, &[("id", "id"), ("v", "v")], &["id"]);
        let ddl = table_ddl(&m).unwrap();
        assert!(!ddl.contains("nextval"), "{ddl}");
        assert!(ddl.contains("\"id\" integer NOT NULL"), "{ddl}");
        assert_eq!(
            deferred_defaults(&m),
            ["ALTER TABLE \"shop\".\"orders_copy\" ALTER COLUMN \"id\" SET DEFAULT nextval('orders_id_seq'::regclass)"]
        );
    }

    #[test]
    fn generated_columns_and_quoting() {
        let mut g = col("total", "numeric", true, None);
        g.generated = Some("(price * 2)".into());
        let cols = vec![col("price", "numeric", true, None), g, col("we\"ird", "text", true, None)];
        let m = mapping(cols.clone(), &[("price", "price"), ("we\"ird", "we\"ird")], &[]);
        let ddl = table_ddl(&m).unwrap();
        assert!(ddl.contains("  \"total\" numeric GENERATED ALWAYS AS ((price * 2)) STORED"), "{ddl}");
        assert!(ddl.contains("\"we\"\"ird\" text"), "{ddl}");
        let m = mapping(cols, &[("price", "cost"), ("we\"ird", "we\"ird")], &[]);
        let e = table_ddl(&m).unwrap_err().to_string();
        assert!(e.contains("generated column \"total\""), "{e}");
    }

    #[test]
    fn keys_and_identity() {
        let defs = vec![
            ColumnDef { name: "a".into(), source_type: "int".into(), nullable: true },
            ColumnDef { name: "b".into(), source_type: "int".into(), nullable: false },
        ];
        let idx = |cols: &[&str]| UniqueIndex { primary: false, replica_identity: false, columns: cols.iter().map(|s| s.to_string()).collect() };
        assert_eq!(choose_key(&[idx(&["a"]), idx(&["b"])], &defs), vec![1]);
        assert!(choose_key(&[idx(&["a", "b"])], &defs).is_empty());
        assert!(ReplicaIdentity::Default.identifies_rows(true));
        assert!(!ReplicaIdentity::Default.identifies_rows(false));
        assert!(!ReplicaIdentity::Nothing.identifies_rows(true));
        assert!(ReplicaIdentity::from_code("f").identifies_rows(false));
        assert!(is_system("pg_toast_temp_1") && is_system("opendts_meta") && !is_system("public"));
    }
}
