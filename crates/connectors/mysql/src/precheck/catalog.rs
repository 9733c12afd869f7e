//! The source objects a DbList selects: read from `information_schema`, then
//! matched against the DbList with [`DbList::select_table`] (pure, so tested
//! without a server).

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use opendts_core::dblist::{DbList, DbSpec};
use std::collections::{HashMap, HashSet};

use super::sql::text;
use super::{list_names, qualified, quote_ident};

/// Databases OpenDTS never migrates, whatever a DbList pattern matches.
pub const SYSTEM_DATABASES: [&str; 4] = ["mysql", "information_schema", "performance_schema", "sys"];

pub fn is_system_database(name: &str) -> bool {
    SYSTEM_DATABASES.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// One database of the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceDatabase {
    pub name: String,
    pub default_collation: Option<String>,
}

/// One row of `information_schema.TABLES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceObject {
    pub db: String,
    pub name: String,
    /// `BASE TABLE`, `VIEW`, `SYSTEM VERSIONED`, `SEQUENCE`, ...
    pub table_type: String,
    pub engine: Option<String>,
    pub collation: Option<String>,
}

impl SourceObject {
    /// A table holding rows (not a view or a sequence).
    pub fn is_table(&self) -> bool {
        let t = self.table_type.to_ascii_uppercase();
        t == "BASE TABLE" || t == "SYSTEM VERSIONED"
    }

    pub fn is_view(&self) -> bool {
        self.table_type.eq_ignore_ascii_case("VIEW")
    }
}

/// One row of `information_schema.COLUMNS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceColumn {
    pub db: String,
    pub table: String,
    pub column: String,
    /// `DATA_TYPE`, lower case.
    pub data_type: String,
    /// `COLUMN_TYPE`, lower case.
    pub column_type: String,
    pub collation: Option<String>,
}

impl SourceColumn {
    pub fn qualified(&self) -> String {
        format!("{}.{}", qualified(&self.db, &self.table), quote_ident(&self.column))
    }
}

/// What was read from the source. `databases` lists every database;
/// `objects` and `columns` only those of the databases the DbList selects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceCatalog {
    pub databases: Vec<SourceDatabase>,
    pub objects: Vec<SourceObject>,
    pub columns: Vec<SourceColumn>,
}

/// A selected source object and its destination name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedObject {
    pub object: SourceObject,
    pub dest_db: String,
    pub dest_name: String,
}

/// The result of matching a DbList against a source catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Selected tables and views, in catalog order.
    pub objects: Vec<SelectedObject>,
    /// Copied columns of the selected tables.
    pub columns: Vec<SourceColumn>,
    /// Selected source databases that exist.
    pub databases: Vec<SourceDatabase>,
    /// Names the DbList gives literally that the source does not have, as
    /// sentences ("database `shop` does not exist ...").
    pub missing: Vec<String>,
    /// Things worth saying that are not errors (a pattern matching nothing).
    pub notes: Vec<String>,
}

impl Selection {
    /// Whether the DbList selects nothing at all on the source.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty() && self.databases.is_empty()
    }

    pub fn tables(&self) -> impl Iterator<Item = &SelectedObject> {
        self.objects.iter().filter(|o| o.object.is_table())
    }
}

/// " (the server has `Shop`; names are case-sensitive)" when a name differs only in case.
fn case_hint<'a>(wanted: &str, mut names: impl Iterator<Item = &'a str>) -> String {
    match names.find(|n| n.eq_ignore_ascii_case(wanted)) {
        Some(n) => format!(" (the server has {}; DbList names are case-sensitive)", quote_ident(n)),
        None => String::new(),
    }
}

/// The account only sees objects it has privileges on.
const VISIBILITY: &str = "or the account cannot see it";

/// Matches a DbList against the source: which objects and columns are
/// selected (with their destination names), and which names the DbList
/// gives that do not exist.
///
/// A literal database or table name that the source lacks is `missing`
/// (a typo, a case mistake, or an object the account cannot see). A pattern
/// that matches nothing is only a note, unless nothing at all is selected.
/// System databases are never selected.
pub fn resolve(db_list: &DbList, catalog: &SourceCatalog) -> Selection {
    let mut sel = Selection::default();
    let mut by_db: HashMap<&str, Vec<&SourceObject>> = HashMap::new();
    for o in &catalog.objects {
        by_db.entry(o.db.as_str()).or_default().push(o);
    }
    let objects_of = |db: &str| by_db.get(db).map(Vec::as_slice).unwrap_or_default();
    let user_dbs: Vec<&SourceDatabase> = catalog.databases.iter().filter(|d| !is_system_database(&d.name)).collect();
    let governed_by = |spec: &DbSpec| -> Vec<&SourceDatabase> {
        user_dbs
            .iter()
            .copied()
            .filter(|d| db_list.select_database(&d.name).is_some_and(|s| std::ptr::eq(s, spec)))
            .collect()
    };

    for spec in db_list.databases() {
        let name = spec.source.as_str();
        let matched = governed_by(spec);
        if !spec.source.is_pattern() {
            if is_system_database(name) {
                sel.missing.push(format!(
                    "database {} is a system database, which OpenDTS does not migrate",
                    quote_ident(name)
                ));
                continue;
            }
            if matched.is_empty() {
                sel.missing.push(format!(
                    "database {} does not exist ({VISIBILITY}){}",
                    quote_ident(name),
                    case_hint(name, catalog.databases.iter().map(|d| d.name.as_str()))
                ));
                continue;
            }
        } else if matched.is_empty() {
            sel.notes.push(format!("the database pattern {} matches no database", quote_ident(name)));
            continue;
        }
        for table in &spec.tables {
            let tname = table.source.as_str();
            let found = matched.iter().any(|d| objects_of(&d.name).iter().any(|o| table.source.matches(&o.name)));
            if found {
                continue;
            }
            if table.source.is_pattern() {
                sel.notes.push(format!("the table pattern {} matches no table in {}", quote_ident(tname), quote_ident(name)));
            } else if spec.source.is_pattern() {
                sel.missing.push(format!(
                    "table {} exists in none of the databases matched by {} ({VISIBILITY})",
                    quote_ident(tname),
                    quote_ident(name)
                ));
            } else {
                let hint = case_hint(tname, objects_of(name).iter().map(|o| o.name.as_str()));
                sel.missing.push(format!("table {} does not exist ({VISIBILITY}){hint}", qualified(name, tname)));
            }
        }
    }

    for d in &user_dbs {
        if db_list.select_database(&d.name).is_some() {
            sel.databases.push((*d).clone());
        }
    }
    for o in &catalog.objects {
        if is_system_database(&o.db) {
            continue;
        }
        if let Some(s) = db_list.select_table(&o.db, &o.name) {
            sel.objects.push(SelectedObject { object: o.clone(), dest_db: s.dest_db, dest_name: s.dest_table });
        }
    }
    let selected_tables: HashSet<(&str, &str)> = sel
        .objects
        .iter()
        .filter(|o| o.object.is_table())
        .map(|o| (o.object.db.as_str(), o.object.name.as_str()))
        .collect();
    let columns: Vec<SourceColumn> = catalog
        .columns
        .iter()
        .filter(|c| selected_tables.contains(&(c.db.as_str(), c.table.as_str())))
        .filter(|c| db_list.select_table(&c.db, &c.table).is_some_and(|s| s.dest_column(&c.column).is_some()))
        .cloned()
        .collect();
    sel.columns = columns;

    if sel.databases.is_empty() && sel.missing.is_empty() {
        let named: Vec<String> = db_list.databases().iter().map(|s| quote_ident(s.source.as_str())).collect();
        sel.missing.push(format!("no source database matches the DbList (it names {})", list_names(named.iter(), 10)));
    } else if sel.objects.is_empty() && sel.missing.is_empty() {
        let dbs: Vec<String> = sel.databases.iter().map(|d| quote_ident(&d.name)).collect();
        sel.notes.push(format!(
            "the selected database(s) {} contain no selected table yet: only the databases themselves are migrated",
            list_names(dbs.iter(), 10)
        ));
    }
    sel
}

/// Reads the catalog of the databases `db_list` selects. Columns only when
/// `with_columns`. Parameters are bound, never pasted into SQL.
pub async fn read_catalog(conn: &mut Conn, db_list: &DbList, with_columns: bool) -> Result<SourceCatalog, mysql_async::Error> {
    let mut catalog = SourceCatalog::default();
    let rows: Vec<mysql_async::Row> =
        conn.query("SELECT SCHEMA_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME").await?;
    for row in &rows {
        if let Some(name) = text(row, 0) {
            catalog.databases.push(SourceDatabase { name, default_collation: text(row, 1) });
        }
    }
    let selected: Vec<String> = catalog
        .databases
        .iter()
        .filter(|d| !is_system_database(&d.name) && db_list.select_database(&d.name).is_some())
        .map(|d| d.name.clone())
        .collect();
    for db in &selected {
        let rows: Vec<mysql_async::Row> = conn
            .exec(
                "SELECT TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_COLLATION FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME",
                (db.as_str(),),
            )
            .await?;
        for row in &rows {
            let Some(name) = text(row, 0) else { continue };
            catalog.objects.push(SourceObject {
                db: db.clone(),
                name,
                table_type: text(row, 1).unwrap_or_default(),
                engine: text(row, 2),
                collation: text(row, 3),
            });
        }
        if with_columns {
            let rows: Vec<mysql_async::Row> = conn
                .exec(
                    "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, COLLATION_NAME FROM information_schema.COLUMNS \
                     WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION",
                    (db.as_str(),),
                )
                .await?;
            for row in &rows {
                let (Some(table), Some(column)) = (text(row, 0), text(row, 1)) else { continue };
                catalog.columns.push(SourceColumn {
                    db: db.clone(),
                    table,
                    column,
                    data_type: text(row, 2).unwrap_or_default().to_ascii_lowercase(),
                    column_type: text(row, 3).unwrap_or_default().to_ascii_lowercase(),
                    collation: text(row, 4),
                });
            }
        }
    }
    Ok(catalog)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use opendts_core::dblist::DbListContext;

    pub fn db(name: &str) -> SourceDatabase {
        SourceDatabase { name: name.into(), default_collation: Some("utf8mb4_general_ci".into()) }
    }

    pub fn table(db: &str, name: &str, engine: &str) -> SourceObject {
        SourceObject {
            db: db.into(),
            name: name.into(),
            table_type: "BASE TABLE".into(),
            engine: Some(engine.into()),
            collation: Some("utf8mb4_general_ci".into()),
        }
    }

    pub fn view(db: &str, name: &str) -> SourceObject {
        SourceObject { db: db.into(), name: name.into(), table_type: "VIEW".into(), engine: None, collation: None }
    }

    pub fn column(db: &str, table: &str, column: &str, column_type: &str) -> SourceColumn {
        SourceColumn {
            db: db.into(),
            table: table.into(),
            column: column.into(),
            data_type: column_type.split('(').next().unwrap_or_default().into(),
            column_type: column_type.into(),
            collation: None,
        }
    }

    pub fn list(json: &str) -> DbList {
        DbList::parse(json, DbListContext::Migration).unwrap()
    }

    pub fn catalog() -> SourceCatalog {
        SourceCatalog {
            databases: vec![db("mysql"), db("shop"), db("Logs"), db("shop_1"), db("shop_2")],
            objects: vec![
                table("shop", "orders", "InnoDB"),
                table("shop", "customer", "InnoDB"),
                view("shop", "v_orders"),
                table("Logs", "events", "MyISAM"),
                table("shop_1", "orders", "InnoDB"),
                table("shop_2", "orders", "InnoDB"),
                table("mysql", "user", "Aria"),
            ],
            columns: vec![
                column("shop", "orders", "id", "int(11)"),
                column("shop", "orders", "created", "datetime"),
                column("shop", "customer", "name", "char(20)"),
                column("shop", "v_orders", "created", "datetime"),
            ],
        }
    }

    fn names(sel: &Selection) -> Vec<String> {
        sel.objects
            .iter()
            .map(|o| format!("{}.{}->{}.{}", o.object.db, o.object.name, o.dest_db, o.dest_name))
            .collect()
    }

    #[test]
    fn whole_database_with_rename() {
        let sel = resolve(&list(r#"{"shop": {"name": "shop_new", "all": true, "Table": {"orders": {"name": "orders_new", "all": true}}}}"#), &catalog());
        assert_eq!(
            names(&sel),
            ["shop.orders->shop_new.orders_new", "shop.customer->shop_new.customer", "shop.v_orders->shop_new.v_orders"]
        );
        assert!(sel.missing.is_empty() && sel.notes.is_empty(), "{sel:?}");
        assert_eq!(sel.tables().count(), 2);
        // Columns of views are not copied as data.
        assert_eq!(sel.columns.len(), 3);
    }

    #[test]
    fn table_list_and_column_subset() {
        let json = r#"{"shop": {"name": "shop", "all": false, "Table": {
            "orders": {"name": "orders", "all": false, "column": {"id": {"key": "PRI", "name": "id"}}}}}}"#;
        let sel = resolve(&list(json), &catalog());
        assert_eq!(names(&sel), ["shop.orders->shop.orders"]);
        assert_eq!(sel.columns.len(), 1);
        assert_eq!(sel.columns[0].column, "id");
    }

    #[test]
    fn missing_names_are_reported_with_case_hints() {
        let json = r#"{"logs": {"name": "logs", "all": true}, "shop": {"name": "shop", "all": false, "Table": {"Orders": {"name": "Orders", "all": true}}}}"#;
        let sel = resolve(&list(json), &catalog());
        assert!(sel.objects.is_empty(), "{sel:?}");
        assert_eq!(sel.missing.len(), 2, "{sel:?}");
        assert!(sel.missing[0].contains("database `logs` does not exist"), "{:?}", sel.missing);
        assert!(sel.missing[0].contains("the server has `Logs`"), "{:?}", sel.missing);
        assert!(sel.missing[1].contains("table `shop`.`Orders` does not exist"), "{:?}", sel.missing);
        assert!(sel.missing[1].contains("the server has `orders`"), "{:?}", sel.missing);
    }

    #[test]
    fn patterns_and_system_databases() {
        let sel = resolve(&list(r#"{"shop_[0-9]": {"all": true}}"#), &catalog());
        assert_eq!(names(&sel), ["shop_1.orders->shop_1.orders", "shop_2.orders->shop_2.orders"]);
        // A pattern matching everything still skips the system databases.
        let sel = resolve(&list(r#"{".*": {"all": true}}"#), &catalog());
        assert!(sel.objects.iter().all(|o| o.object.db != "mysql"));
        assert_eq!(sel.objects.len(), 6);
        // Naming one is an error.
        let sel = resolve(&list(r#"{"mysql": {"all": true}}"#), &catalog());
        assert!(sel.missing[0].contains("system database"), "{sel:?}");
        // A pattern that matches nothing, alone: nothing is selected.
        let sel = resolve(&list(r#"{"nope_.*": {"all": true}}"#), &catalog());
        assert!(sel.is_empty());
        assert!(sel.notes[0].contains("matches no database"), "{sel:?}");
        assert!(sel.missing[0].contains("no source database matches the DbList"), "{sel:?}");
        // Beside a real selection it is only a note.
        let sel = resolve(&list(r#"{"nope_.*": {"all": true}, "shop": {"all": true}}"#), &catalog());
        assert!(sel.missing.is_empty() && sel.notes.len() == 1, "{sel:?}");
        // A literal table under a pattern database missing everywhere.
        let sel = resolve(&list(r#"{"shop_.*": {"all": false, "Table": {"items": {"all": true}}}}"#), &catalog());
        assert!(sel.missing[0].contains("table `items` exists in none of the databases matched by `shop_.*`"), "{sel:?}");
    }

    #[test]
    fn empty_database_is_a_note() {
        let mut c = catalog();
        c.databases.push(db("empty"));
        let sel = resolve(&list(r#"{"empty": {"all": true}}"#), &c);
        assert!(sel.missing.is_empty() && !sel.is_empty(), "{sel:?}");
        assert!(sel.notes[0].contains("contain no selected table yet"), "{sel:?}");
    }
}
