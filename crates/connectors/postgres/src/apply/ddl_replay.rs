//! Replaying captured DDL on the destination: which statements run, with
//! the DbList's renames, and which errors mean "already done".

use crate::error::{guarded, Context, PgError};
use crate::session::{qualified, quote_ident};
use crate::wal::ddl;
use opendts_core::change::{DdlChange, DdlKind};
use opendts_core::dblist::ops::DdlOps;
use opendts_core::dblist::DbList;
use opendts_core::row::TableId;
use tokio_postgres::Transaction;

/// SQLSTATEs meaning a DDL statement's end state is already there: duplicate
/// table (42P07), column (42701) or object (42710, e.g. an index or
/// constraint), and undefined table (42P01: a table renamed or dropped by a
/// later DDL the destination already has). Seen when a DDL replays over a
/// destination that already has it (structure copied after the DDL ran).
pub const ALREADY_APPLIED: &[&str] = &["42P07", "42701", "42710", "42P01"];

/// Undefined column (42703) or object (42704): "already applied" only for a
/// statement that drops or renames (42704 is also "type does not exist").
pub const ALREADY_DROPPED: &[&str] = &["42703", "42704"];

/// Whether error `code` of `sql` means its end state is already there.
fn already_applied(code: &str, sql: &str) -> bool {
    let drops = || ddl::tokenize(sql).is_ok_and(|t| t.iter().any(|t| t.is_kw("DROP") || t.is_kw("RENAME")));
    ALREADY_APPLIED.contains(&code) || (ALREADY_DROPPED.contains(&code) && drops())
}

/// Truncates the selected tables of a TRUNCATE that `ddl_op` allows.
pub(super) async fn truncate(tx: &Transaction<'_>, db_list: &DbList, ddl: &DdlChange) -> Result<bool, PgError> {
    let mut targets: Vec<TableId> = Vec::new();
    for t in &ddl.tables {
        if let Some(sel) = db_list.select_table(&t.schema, &t.table) {
            let dest = TableId::new(sel.dest_db.clone(), sel.dest_table.clone());
            if sel.ddl_ops.truncate_table && !targets.contains(&dest) {
                targets.push(dest);
            }
        }
    }
    let mut ran = false;
    for dest in &targets {
        let name = qualified(&dest.schema, &dest.table);
        let exists: Option<u32> = tx
            .query_one("SELECT to_regclass($1)::oid", &[&name])
            .await
            .context(|| format!("look for {dest}"))?
            .try_get(0)
            .context(|| format!("look for {dest}"))?;
        if exists.is_none() {
            tracing::warn!(table = %dest, "TRUNCATE of a table missing on the destination; skipped");
            continue;
        }
        guarded(tx.batch_execute(&format!("TRUNCATE {name}")), || format!("truncate {dest}")).await?;
        ran = true;
    }
    Ok(ran)
}

/// Runs one rewritten statement in `schema`, inside a savepoint so that an
/// "already applied" error leaves the transaction (and its checkpoint) usable.
pub(super) async fn run_ddl(tx: &Transaction<'_>, schema: &str, sql: &str) -> Result<bool, PgError> {
    let setup = format!("SET LOCAL search_path TO {}; SAVEPOINT opendts_ddl", quote_ident(schema));
    guarded(tx.batch_execute(&setup), || format!("prepare to apply DDL in {schema}")).await?;
    match guarded(tx.batch_execute(sql), || format!("apply DDL: {sql}")).await {
        Ok(()) => {
            guarded(tx.batch_execute("RELEASE SAVEPOINT opendts_ddl"), || "release the DDL savepoint".into()).await?;
            Ok(true)
        }
        Err(e) if e.sqlstate().is_some_and(|c| already_applied(c, sql)) => {
            tracing::warn!(statement = %sql, error = %e, "DDL already in effect on the destination; skipped");
            guarded(tx.batch_execute("ROLLBACK TO SAVEPOINT opendts_ddl"), || "roll back the DDL savepoint".into()).await?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// The destination schema and statement to replay for a captured DDL, or
/// `None` (skipped) when the DbList does not select its tables, `ddl_op`
/// excludes it, or it cannot be rewritten safely (warned).
pub(super) fn replayable(db_list: &DbList, ddl: &DdlChange) -> Option<(String, String)> {
    let allowed = |ops: DdlOps| match ddl.kind {
        DdlKind::CreateTable => ops.create_table,
        DdlKind::AlterTable => ops.alter_table,
        DdlKind::DropTable => ops.drop_table,
        DdlKind::RenameTable => ops.rename_table,
        DdlKind::TruncateTable => ops.truncate_table,
        DdlKind::Other => false,
    };
    let db = db_list.select_database(&ddl.schema)?;
    if ddl.kind == DdlKind::Other {
        tracing::warn!(statement = %ddl.statement, "DDL of an unsupported kind is not replayed");
        return None;
    }
    if ddl.tables.is_empty() {
        return None;
    }
    for t in &ddl.tables {
        // A table that does not exist yet (CREATE, RENAME target) is selected
        // when its schema is selected whole.
        if !allowed(db_list.select_table(&t.schema, &t.table)?.ddl_ops) {
            return None;
        }
    }
    match rewrite_ddl(db_list, ddl) {
        Ok(sql) => Some((db.dest_name_for(&ddl.schema).to_string(), sql)),
        Err(reason) => {
            tracing::warn!(statement = %ddl.statement, %reason, "DDL not replayed: it cannot be rewritten for the destination safely");
            None
        }
    }
}

/// The statement with the schema and table names the DbList renames
/// replaced, or why that cannot be done safely:
/// - `schema.table` (and any `schema.object`): the schema when the DbList
///   maps it to another name, the table when its selection renames it;
/// - a single name after `SCHEMA` (SET SCHEMA) is a schema;
/// - an unqualified name of a table renamed in the default schema is
///   replaced only where it can only be a table (after `TABLE`, `ON`,
///   `REFERENCES`, `RENAME TO`, `LIKE`, `OF`, `INHERITS (` or in a DROP's
///   list); elsewhere it could be a column or another object: refused.
///
/// Refused too: several statements, names of three parts or more touching a
/// renamed name, and a table of the statement named like a renamed schema.
/// `CONCURRENTLY` is dropped (it cannot run in a transaction).
pub fn rewrite_ddl(db_list: &DbList, ddl: &DdlChange) -> Result<String, String> {
    let tokens = ddl::tokenize(&ddl.statement)?;
    if ddl::split_statements(&tokens).len() != 1 {
        return Err("not exactly one statement".into());
    }
    let schema_dest = |s: &str| db_list.select_database(s).map(|d| d.dest_name_for(s).to_string()).filter(|d| d != s);
    let table_dest = |s: &str, t: &str| db_list.select_table(s, t).map(|sel| sel.dest_table).filter(|d| d != t);
    if ddl.tables.iter().any(|t| schema_dest(&t.table).is_some() && db_list.select_database(&t.table).is_some()) {
        return Err("a table is named like a renamed schema".into());
    }
    let is_drop = tokens.first().is_some_and(|t| t.is_kw("DROP"));
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        if t.is_kw("CONCURRENTLY") {
            edits.push((t.start, t.end, String::new()));
            i += 1;
            continue;
        }
        let Some(first) = t.ident() else {
            i += 1;
            continue;
        };
        let mut parts = vec![(i, first)];
        let mut j = i + 1;
        while tokens.get(j).is_some_and(|t| t.is_punct('.')) {
            match tokens.get(j + 1).and_then(|t| t.ident()) {
                Some(p) => parts.push((j + 1, p)),
                None => break,
            }
            j += 2;
        }
        match parts.as_slice() {
            [(si, s), (ti, t)] => {
                if let Some(d) = schema_dest(s) {
                    edits.push((tokens[*si].start, tokens[*si].end, quote_ident(&d)));
                }
                if let Some(d) = table_dest(s, t) {
                    edits.push((tokens[*ti].start, tokens[*ti].end, quote_ident(&d)));
                }
            }
            [(ni, n)] => {
                let after_schema = i > 0 && tokens[i - 1].is_kw("SCHEMA");
                if let (true, Some(d)) = (after_schema, schema_dest(n)) {
                    edits.push((tokens[*ni].start, tokens[*ni].end, quote_ident(&d)));
                } else if let Some(d) = table_dest(&ddl.schema, n) {
                    if !table_position(&tokens, i, is_drop) {
                        return Err(format!("{n:?} may name a column or another object here"));
                    }
                    edits.push((tokens[*ni].start, tokens[*ni].end, quote_ident(&d)));
                }
            }
            longer => {
                if longer.iter().any(|(_, p)| schema_dest(p).is_some() || table_dest(&ddl.schema, p).is_some()) {
                    return Err("a name of three parts or more involves a renamed object".into());
                }
            }
        }
        i = j.max(i + 1);
    }
    let mut out = ddl.statement.clone();
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    for (start, end, text) in edits {
        out.replace_range(start..end, &text);
    }
    Ok(out)
}

/// Whether an unqualified name at `i` can only be a table.
fn table_position(tokens: &[ddl::Token], i: usize, is_drop: bool) -> bool {
    let mut k = i;
    while k > 0 && ["IF", "NOT", "EXISTS", "ONLY", "CONCURRENTLY"].iter().any(|w| tokens[k - 1].is_kw(w)) {
        k -= 1;
    }
    let Some(prev) = k.checked_sub(1).map(|p| &tokens[p]) else { return false };
    ["TABLE", "ON", "REFERENCES", "LIKE", "OF"].iter().any(|w| prev.is_kw(w))
        || (prev.is_kw("TO") && k >= 2 && tokens[k - 2].is_kw("RENAME"))
        || (prev.is_punct('(') && k >= 2 && tokens[k - 2].is_kw("INHERITS"))
        || (prev.is_punct(',') && is_drop)
}


#[cfg(test)]
mod tests {
    use super::*;

    fn ddl(kind: DdlKind, schema: &str, sql: &str, tables: &[(&str, &str)]) -> DdlChange {
        DdlChange {
            schema: schema.into(),
            statement: sql.into(),
            kind,
            tables: tables.iter().map(|(s, t)| TableId::new(*s, *t)).collect(),
        }
    }

    #[test]
    fn ddl_is_rewritten_for_renamed_schemas_and_tables() {
        let list = DbList::parse(
            r#"{"shop":{"name":"shop2","all":true,"Table":{"orders":{"name":"orders2","all":true}}},"other":{"all":true}}"#,
            opendts_core::dblist::DbListContext::Migration,
        )
        .unwrap();
        let rw = |kind, sql: &str, tables: &[(&str, &str)]| rewrite_ddl(&list, &ddl(kind, "shop", sql, tables));
        assert_eq!(
            rw(DdlKind::AlterTable, "ALTER TABLE shop.items ADD c text DEFAULT 'shop.orders' -- shop.x", &[("shop", "items")]).unwrap(),
            "ALTER TABLE \"shop2\".items ADD c text DEFAULT 'shop.orders' -- shop.x"
        );
        assert_eq!(
            rw(DdlKind::AlterTable, "alter table only orders add constraint f foreign key (x) references \"shop\".orders (id)", &[("shop", "orders")])
                .unwrap(),
            "alter table only \"orders2\" add constraint f foreign key (x) references \"shop2\".\"orders2\" (id)"
        );
        assert_eq!(
            rw(DdlKind::RenameTable, "ALTER TABLE shop.items SET SCHEMA other", &[("shop", "items"), ("other", "items")]).unwrap(),
            "ALTER TABLE \"shop2\".items SET SCHEMA other"
        );
        assert_eq!(
            rw(DdlKind::AlterTable, "CREATE INDEX CONCURRENTLY i ON orders (x)", &[("shop", "orders")]).unwrap(),
            "CREATE INDEX  i ON \"orders2\" (x)"
        );
        // A column named like the renamed table: ambiguous.
        assert!(rw(DdlKind::AlterTable, "ALTER TABLE orders ADD orders int", &[("shop", "orders")]).is_err());
        assert!(rw(DdlKind::AlterTable, "ALTER TABLE a ADD x int; DROP TABLE b", &[("shop", "a")]).is_err());
        assert!(rw(DdlKind::AlterTable, "COMMENT ON COLUMN shop.orders.x IS ''", &[("shop", "orders")]).is_err());
        // ddl_op and selection.
        let none = DbList::parse(r#"{"shop":{"all":true,"ddl_op":"ct"}}"#, opendts_core::dblist::DbListContext::Migration).unwrap();
        assert!(replayable(&none, &ddl(DdlKind::AlterTable, "shop", "ALTER TABLE t ADD c int", &[("shop", "t")])).is_none());
        let (schema, sql) = replayable(&none, &ddl(DdlKind::CreateTable, "shop", "CREATE TABLE t (id int)", &[("shop", "t")])).unwrap();
        assert_eq!((schema.as_str(), sql.as_str()), ("shop", "CREATE TABLE t (id int)"));
        assert!(replayable(&none, &ddl(DdlKind::CreateTable, "else", "CREATE TABLE t (id int)", &[("else", "t")])).is_none());
        assert!(replayable(&list, &ddl(DdlKind::Other, "shop", "SELECT f()", &[("shop", "t")])).is_none());
    }

}
