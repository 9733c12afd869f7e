//! What to copy: the source tables a DbList selects, their columns and keys,
//! and the DDL that recreates them (renamed, column subsets) on a MySQL destination.

use crate::error::{Context, MySqlError};
use crate::session::quote_ident;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use opendts_core::dblist::filter::Filter;
use opendts_core::dblist::DbList;
use opendts_core::row::{ColumnDef, TableId, TableSchema};
use std::collections::HashMap;

/// Schemas of the server itself, never copied.
const SYSTEM_SCHEMAS: &[&str] = &["mysql", "information_schema", "performance_schema", "sys", "opendts_meta"];

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
    pub dest: TableId,
    /// Copied columns in source order. Generated columns are never listed:
    /// the destination computes them.
    pub columns: Vec<ColumnMapping>,
    pub filter: Option<Filter>,
    /// The source's definition (`SHOW CREATE TABLE`).
    pub create_sql: String,
    /// Columns and key of the source table, restricted to the copied columns.
    pub schema: TableSchema,
    /// The server's row estimate, for progress.
    pub estimated_rows: u64,
}

/// Four text columns of an information_schema or SHOW row, as bytes.
type Row4 = (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>);

fn is_system(schema: &str) -> bool {
    SYSTEM_SCHEMAS.iter().any(|s| s.eq_ignore_ascii_case(schema))
}

/// The base tables of the source that the DbList selects, in name order.
pub async fn selected_tables(conn: &mut Conn, db_list: &DbList) -> Result<Vec<TableMapping>, MySqlError> {
    let tables: Vec<(Vec<u8>, Vec<u8>, Option<u64>)> = conn
        .query(
            "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES
             WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_SCHEMA, TABLE_NAME",
        )
        .await
        .context(|| "list source tables".into())?;
    let mut out = Vec::new();
    for (schema, table, rows) in tables {
        let (schema, table) = (text(schema), text(table));
        if is_system(&schema) {
            continue;
        }
        let Some(sel) = db_list.select_table(&schema, &table) else { continue };
        let id = TableId::new(&schema, &table);
        let columns = read_columns(conn, &id).await?;
        let mut mapping = Vec::new();
        let mut defs = Vec::new();
        for col in &columns {
            if col.generated {
                continue;
            }
            if let Some(dest) = sel.dest_column(&col.def.name) {
                mapping.push(ColumnMapping { source: col.def.name.clone(), dest: dest.to_string() });
                defs.push(col.def.clone());
            }
        }
        if mapping.is_empty() {
            return Err(MySqlError::other(format!("table {id}"), "the DbList selects none of its columns"));
        }
        let key = read_key(conn, &id, &defs).await?;
        let create_sql = show_create_table(conn, &id).await?;
        out.push(TableMapping {
            dest: TableId::new(sel.dest_db.clone(), sel.dest_table.clone()),
            source: id.clone(),
            columns: mapping,
            filter: sel.filter().cloned(),
            create_sql,
            schema: TableSchema { id, columns: defs, key },
            estimated_rows: rows.unwrap_or(0),
        });
    }
    Ok(out)
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

struct SourceColumn {
    def: ColumnDef,
    generated: bool,
}

async fn read_columns(conn: &mut Conn, id: &TableId) -> Result<Vec<SourceColumn>, MySqlError> {
    let rows: Vec<Row4> = conn
        .exec(
            "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, EXTRA FROM information_schema.COLUMNS
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (&id.schema, &id.table),
        )
        .await
        .context(|| format!("read columns of {id}"))?;
    Ok(rows
        .into_iter()
        .map(|(name, ty, nullable, extra)| {
            let extra = text(extra).to_ascii_uppercase();
            SourceColumn {
                def: ColumnDef { name: text(name), source_type: text(ty), nullable: nullable == b"YES" },
                generated: extra.contains("GENERATED") && !extra.contains("DEFAULT_GENERATED"),
            }
        })
        .collect())
}

/// Positions (in `columns`) of the primary key, else of the first unique key
/// whose columns are all copied and NOT NULL; empty when there is none.
async fn read_key(conn: &mut Conn, id: &TableId, columns: &[ColumnDef]) -> Result<Vec<usize>, MySqlError> {
    let rows: Vec<(Vec<u8>, Vec<u8>, u32)> = conn
        .exec(
            "SELECT INDEX_NAME, COLUMN_NAME, SEQ_IN_INDEX FROM information_schema.STATISTICS
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0 AND SUB_PART IS NULL
             ORDER BY INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX",
            (&id.schema, &id.table),
        )
        .await
        .context(|| format!("read keys of {id}"))?;
    let mut indexes: Vec<(String, Vec<String>)> = Vec::new();
    for (index, column, _) in rows {
        let (index, column) = (text(index), text(column));
        match indexes.last_mut() {
            Some((name, cols)) if *name == index => cols.push(column),
            _ => indexes.push((index, vec![column])),
        }
    }
    for (_, cols) in indexes {
        let positions: Option<Vec<usize>> = cols
            .iter()
            .map(|c| columns.iter().position(|d| &d.name == c && !d.nullable))
            .collect();
        if let Some(p) = positions {
            return Ok(p);
        }
    }
    Ok(Vec::new())
}

async fn show_create_table(conn: &mut Conn, id: &TableId) -> Result<String, MySqlError> {
    let sql = format!("SHOW CREATE TABLE {}.{}", quote_ident(&id.schema), quote_ident(&id.table));
    let row: Option<(Vec<u8>, Vec<u8>)> = conn.query_first(sql).await.context(|| format!("read definition of {id}"))?;
    row.map(|(_, ddl)| text(ddl))
        .ok_or_else(|| MySqlError::other(format!("read definition of {id}"), "SHOW CREATE TABLE returned nothing"))
}

/// `CREATE DATABASE IF NOT EXISTS` for the destination of `source_db`, with
/// the source's default character set and collation.
pub async fn create_database_sql(conn: &mut Conn, source_db: &str, dest_db: &str) -> Result<String, MySqlError> {
    let row: Option<(Vec<u8>, Vec<u8>)> = conn
        .exec_first(
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            (source_db,),
        )
        .await
        .context(|| format!("read database {source_db}"))?;
    let mut sql = format!("CREATE DATABASE IF NOT EXISTS {}", quote_ident(dest_db));
    if let Some((charset, collation)) = row {
        sql.push_str(&format!(" DEFAULT CHARACTER SET {} COLLATE {}", text(charset), text(collation)));
    }
    Ok(sql)
}

/// The views of the source databases selected whole (`all: true`), as
/// (source view, destination view, definition) in name order.
pub async fn selected_views(conn: &mut Conn, db_list: &DbList) -> Result<Vec<(TableId, TableId, String)>, MySqlError> {
    let views: Vec<(Vec<u8>, Vec<u8>)> = conn
        .query("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.VIEWS ORDER BY TABLE_SCHEMA, TABLE_NAME")
        .await
        .context(|| "list source views".into())?;
    let mut out = Vec::new();
    for (schema, name) in views {
        let (schema, name) = (text(schema), text(name));
        let Some(db) = db_list.select_database(&schema) else { continue };
        if is_system(&schema) || !db.all {
            continue;
        }
        let dest_db = db.dest_name_for(&schema).to_string();
        let sql = format!("SHOW CREATE VIEW {}.{}", quote_ident(&schema), quote_ident(&name));
        let row: Option<Row4> =
            conn.query_first(sql).await.context(|| format!("read view {schema}.{name}"))?;
        if let Some((_, ddl, _, _)) = row {
            let ddl = view_ddl(&text(ddl), &schema, &dest_db);
            out.push((TableId::new(&schema, &name), TableId::new(dest_db, name), ddl));
        }
    }
    Ok(out)
}

/// Rewrites `SHOW CREATE VIEW` for the destination: no DEFINER (the copy runs
/// as the destination account), and references to the source database
/// pointed at the destination database.
pub fn view_ddl(source_ddl: &str, source_db: &str, dest_db: &str) -> String {
    let mut ddl = source_ddl.to_string();
    if let (Some(start), Some(end)) = (ddl.find("DEFINER="), ddl.find(" SQL SECURITY")) {
        if start < end {
            ddl.replace_range(start..end + 1, "");
        }
    }
    let ddl = ddl.replacen("CREATE ", "CREATE OR REPLACE ", 1);
    ddl.replace(&format!("{}.", quote_ident(source_db)), &format!("{}.", quote_ident(dest_db)))
}

/// Rewrites a source `SHOW CREATE TABLE` for the destination: the destination
/// name, renamed columns, and only the copied columns (indexes and
/// constraints on columns that are not copied are left out).
/// `renamed_tables` maps source table names of the same database to their
/// destination names, for foreign key references.
pub fn table_ddl(m: &TableMapping, renamed_tables: &HashMap<String, String>) -> Result<String, MySqlError> {
    let context = || format!("rewrite the definition of {}", m.source);
    let renames: HashMap<&str, &str> = m.columns.iter().map(|c| (c.source.as_str(), c.dest.as_str())).collect();
    let mut lines = m.create_sql.lines();
    let header = lines.next().ok_or_else(|| MySqlError::other(context(), "empty definition"))?;
    if !header.starts_with("CREATE TABLE") {
        return Err(MySqlError::other(context(), "unexpected SHOW CREATE TABLE output"));
    }
    let mut out = vec![format!(
        "CREATE TABLE IF NOT EXISTS {}.{} (",
        quote_ident(&m.dest.schema),
        quote_ident(&m.dest.table)
    )];
    let mut body = Vec::new();
    let mut tail = Vec::new();
    for line in lines {
        if !tail.is_empty() || line.starts_with(')') {
            tail.push(line.to_string());
            continue;
        }
        let def = line.trim().trim_end_matches(',');
        if let Some(rest) = def.strip_prefix('`') {
            // A column: `name` type ...
            let (name, after) = split_ident(rest).ok_or_else(|| MySqlError::other(context(), format!("cannot read {def}")))?;
            match renames.get(name.as_str()) {
                Some(dest) => body.push(format!("  {}{}", quote_ident(dest), after)),
                None if is_generated(after) => body.push(format!("  {def}")),
                None => {}
            }
            continue;
        }
        if def.contains(" CHECK ") || def.starts_with("CHECK") {
            let touches_changed = m.schema.columns.iter().any(|c| {
                renames.get(c.name.as_str()).is_some_and(|d| *d != c.name) && def.contains(&c.name)
            });
            if touches_changed {
                return Err(MySqlError::other(context(), format!("a renamed column is used by the constraint {def}")));
            }
            body.push(format!("  {def}"));
            continue;
        }
        if let Some(rewritten) = rewrite_key_line(def, &renames, renamed_tables) {
            body.push(format!("  {rewritten}"));
        }
    }
    let n = body.len();
    for (i, line) in body.into_iter().enumerate() {
        out.push(if i + 1 < n { format!("{line},") } else { line });
    }
    out.extend(tail);
    Ok(out.join("\n"))
}

fn is_generated(after_name: &str) -> bool {
    after_name.contains(" GENERATED ALWAYS ") || after_name.contains(" AS (")
}

/// Splits a backquoted identifier (opening quote already consumed) from the rest.
fn split_ident(s: &str) -> Option<(String, &str)> {
    let mut name = String::new();
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '`' {
            if chars.peek().map(|(_, n)| *n) == Some('`') {
                name.push('`');
                chars.next();
            } else {
                return Some((name, &s[i + 1..]));
            }
        } else {
            name.push(c);
        }
    }
    None
}

/// Rewrites the column lists of an index or foreign key line; `None` when it
/// uses a column that is not copied.
fn rewrite_key_line(def: &str, renames: &HashMap<&str, &str>, renamed_tables: &HashMap<String, String>) -> Option<String> {
    let is_fk = def.contains("FOREIGN KEY");
    let mut out = String::with_capacity(def.len());
    let mut rest = def;
    let mut depth = 0usize;
    let mut list_index = 0usize; // which parenthesised list we are in (0 = first)
    let mut after_references = false;
    while let Some(c) = rest.chars().next() {
        match c {
            '(' => {
                depth += 1;
                out.push(c);
                rest = &rest[1..];
            }
            ')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    list_index += 1;
                }
                out.push(c);
                rest = &rest[1..];
            }
            '`' => {
                let (name, after) = split_ident(&rest[1..])?;
                let in_local_list = depth > 0 && list_index == 0;
                if in_local_list {
                    out.push_str(&quote_ident(renames.get(name.as_str())?));
                } else if is_fk && after_references && depth == 0 {
                    let table = renamed_tables.get(&name).cloned().unwrap_or(name);
                    out.push_str(&quote_ident(&table));
                } else {
                    out.push_str(&quote_ident(&name));
                }
                rest = after;
            }
            _ => {
                if rest.starts_with("REFERENCES") {
                    after_references = true;
                }
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(create: &str, cols: &[(&str, &str)]) -> TableMapping {
        TableMapping {
            source: TableId::new("shop", "orders"),
            dest: TableId::new("shop2", "orders_copy"),
            columns: cols.iter().map(|(s, d)| ColumnMapping { source: s.to_string(), dest: d.to_string() }).collect(),
            filter: None,
            create_sql: create.into(),
            schema: TableSchema {
                id: TableId::new("shop", "orders"),
                columns: cols
                    .iter()
                    .map(|(s, _)| ColumnDef { name: s.to_string(), source_type: "int".into(), nullable: false })
                    .collect(),
                key: vec![0],
            },
            estimated_rows: 0,
        }
    }

    const CREATE: &str = "CREATE TABLE `orders` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  `user` int(11) NOT NULL,\n  `note` varchar(20) DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  UNIQUE KEY `u_note` (`note`(10)),\n  KEY `k_user` (`user`,`id`),\n  CONSTRAINT `fk_user` FOREIGN KEY (`user`) REFERENCES `users` (`id`)\n) ENGINE=InnoDB AUTO_INCREMENT=7 DEFAULT CHARSET=utf8mb4";

    #[test]
    fn renames_the_table_columns_and_references() {
        let m = mapping(CREATE, &[("id", "id"), ("user", "customer"), ("note", "note")]);
        let tables = HashMap::from([("users".to_string(), "people".to_string())]);
        let ddl = table_ddl(&m, &tables).unwrap();
        assert_eq!(
            ddl,
            "CREATE TABLE IF NOT EXISTS `shop2`.`orders_copy` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  `customer` int(11) NOT NULL,\n  `note` varchar(20) DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  UNIQUE KEY `u_note` (`note`(10)),\n  KEY `k_user` (`customer`,`id`),\n  CONSTRAINT `fk_user` FOREIGN KEY (`customer`) REFERENCES `people` (`id`)\n) ENGINE=InnoDB AUTO_INCREMENT=7 DEFAULT CHARSET=utf8mb4"
        );
    }

    #[test]
    fn a_column_subset_drops_its_indexes() {
        let m = mapping(CREATE, &[("id", "id"), ("user", "user")]);
        let ddl = table_ddl(&m, &HashMap::new()).unwrap();
        assert!(!ddl.contains("note"), "{ddl}");
        assert!(ddl.contains("KEY `k_user` (`user`,`id`)"));
        assert!(ddl.contains("REFERENCES `users` (`id`)\n)"), "{ddl}");
    }

    #[test]
    fn views_lose_their_definer_and_follow_the_database_rename() {
        let src = "CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`%` SQL SECURITY DEFINER VIEW `v` AS select `shop`.`t`.`a` AS `a` from `shop`.`t`";
        assert_eq!(
            view_ddl(src, "shop", "shop2"),
            "CREATE OR REPLACE ALGORITHM=UNDEFINED SQL SECURITY DEFINER VIEW `v` AS select `shop2`.`t`.`a` AS `a` from `shop2`.`t`"
        );
    }

    #[test]
    fn identifiers_with_backquotes_split() {
        assert_eq!(split_ident("a``b` int"), Some(("a`b".into(), " int")));
        assert_eq!(split_ident("open"), None);
    }
}
