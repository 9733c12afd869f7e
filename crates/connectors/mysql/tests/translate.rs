//! Cross-engine schema migration against a real MySQL-family server: the
//! catalog read into TableDefs (MySQL as a source), and the DDL planned for a
//! PostgreSQL source executed (MySQL as a destination). They run when
//! OPENDTS_TEST_MYSQL_PORT is set (`scripts/db/start-mariadb.sh 33061`) and
//! are skipped otherwise. Env: OPENDTS_TEST_MYSQL_PORT,
//! OPENDTS_TEST_MYSQL_PASSWORD (default `opendts-root`),
//! OPENDTS_TEST_MYSQL_USER (default `root`), OPENDTS_TEST_MYSQL_HOST (default
//! 127.0.0.1).
//!
//! Each test creates its own uniquely named databases and drops them.

use mysql_async::prelude::Queryable;
use opendts_connector_mysql::translate::{plan_from_postgres, table_defs};
use opendts_connector_mysql::{schema, session, sink};
use opendts_core::dblist::{DbList, DbListContext};
use opendts_core::endpoint::{EngineFamily, Endpoint};
use opendts_core::row::TableId;
use opendts_core::tabledef::{ColumnSpec, IndexSpec, TableDef};
use std::sync::atomic::{AtomicU32, Ordering};

mod support;
use support::{admin, admin_conn, Databases};

/// A name no other test (or test run) uses.
fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("odts_tr_{tag}_{}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed), nanos % 100_000)
}

async fn is_mariadb(ep: &Endpoint) -> bool {
    let mut conn = admin_conn(ep).await;
    let v: Option<String> = conn.query_first("SELECT VERSION()").await.unwrap();
    conn.disconnect().await.unwrap();
    v.unwrap_or_default().contains("MariaDB")
}

fn col(name: &str, source_name: &str, ty: &str, nullable: bool, default: Option<&str>, extra: &str) -> ColumnSpec {
    ColumnSpec {
        name: name.into(),
        source_name: source_name.into(),
        source_type: ty.into(),
        nullable,
        default: default.map(String::from),
        auto_increment: extra.contains("auto_increment"),
        is_json: false,
        extra: extra.into(),
        enum_labels: None,
    }
}

#[tokio::test]
async fn translate_reads_the_catalog_into_table_defs() {
    let Some(admin) = admin("translate_reads_the_catalog_into_table_defs") else { return };
    if !is_mariadb(&admin).await {
        eprintln!("skipping translate_reads_the_catalog_into_table_defs: the expected catalog text is MariaDB's");
        return;
    }
    let (src, dst) = (unique("src"), unique("dst"));
    let _dbs = Databases::create(
        &admin,
        &[&src],
        &[format!(
            "CREATE TABLE `{src}`.orders (
               id INT UNSIGNED NOT NULL AUTO_INCREMENT,
               flag TINYINT(1) NOT NULL DEFAULT 1,
               status ENUM('new','paid','it''s') NOT NULL DEFAULT 'new',
               tags SET('a','b') DEFAULT NULL,
               doc JSON,
               created DATETIME(3) NOT NULL,
               updated TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
               amount DECIMAL(12,2) NOT NULL DEFAULT 0.00,
               code VARCHAR(32) NOT NULL,
               note VARCHAR(200) DEFAULT 'n/a',
               secret VARCHAR(20),
               `customer id` INT NOT NULL,
               total INT AS (`customer id` + 1) VIRTUAL,
               PRIMARY KEY (id),
               KEY idx_code (code),
               KEY idx_note_prefix (note(10)),
               UNIQUE KEY uk_customer_code (`customer id`, code),
               KEY idx_secret (secret),
               KEY idx_code_secret (code, secret),
               KEY idx_total (total),
               FULLTEXT KEY ft_note (note)
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        )],
    )
    .await;
    // `secret` is left out, `customer id` renamed.
    let copied = ["id", "flag", "status", "tags", "doc", "created", "updated", "amount", "code", "note"];
    let mut columns: Vec<String> = copied.iter().map(|c| format!(r#""{c}": {{"name": "{c}"}}"#)).collect();
    columns.push(r#""customer id": {"name": "customer_id"}"#.into());
    let list = DbList::parse(
        &format!(
            r#"{{"{src}": {{"name": "{dst}", "all": false, "Table": {{"orders": {{"name": "orders2", "all": false,
                "column": {{{}}}}}}}}}}}"#,
            columns.join(", ")
        ),
        DbListContext::Migration,
    )
    .unwrap();

    let mut conn = session::source(&admin).await.unwrap();
    let tables = schema::selected_tables(&mut conn, &list).await.unwrap();
    assert_eq!(tables.len(), 1);
    let defs = table_defs(&mut conn, &tables).await.unwrap();
    conn.disconnect().await.unwrap();

    let expected = TableDef {
        family: EngineFamily::MySql,
        mariadb: true,
        source: TableId::new(&src, "orders"),
        dest: TableId::new(&dst, "orders2"),
        columns: vec![
            col("id", "id", "int(10) unsigned", false, None, "auto_increment"),
            col("flag", "flag", "tinyint(1)", false, Some("1"), ""),
            col("status", "status", "enum('new','paid','it''s')", false, Some("'new'"), ""),
            col("tags", "tags", "set('a','b')", true, Some("NULL"), ""),
            ColumnSpec { is_json: true, ..col("doc", "doc", "longtext", true, Some("NULL"), "") },
            col("created", "created", "datetime(3)", false, None, ""),
            col("updated", "updated", "timestamp", false, Some("current_timestamp()"), "on update current_timestamp()"),
            col("amount", "amount", "decimal(12,2)", false, Some("0.00"), ""),
            col("code", "code", "varchar(32)", false, None, ""),
            col("note", "note", "varchar(200)", true, Some("'n/a'"), ""),
            col("customer_id", "customer id", "int(11)", false, None, ""),
        ],
        primary_key: vec!["id".into()],
        indexes: vec![
            // ft_note (FULLTEXT), idx_code_secret and idx_secret (`secret` is not copied) and
            // idx_total (a generated column, never copied) are left out.
            IndexSpec { name: "idx_code".into(), columns: vec!["code".into()], unique: false },
            // The prefix index covers the whole column.
            IndexSpec { name: "idx_note_prefix".into(), columns: vec!["note".into()], unique: false },
            IndexSpec { name: "uk_customer_code".into(), columns: vec!["customer_id".into(), "code".into()], unique: true },
        ],
    };
    assert_eq!(defs, vec![expected]);
}

/// A table as the PostgreSQL connector describes it (format_type, pg_get_expr).
fn pg_def(db: &str) -> TableDef {
    let c = |name: &str, ty: &str, nullable: bool, default: Option<&str>| ColumnSpec {
        name: name.into(),
        source_name: name.into(),
        source_type: ty.into(),
        nullable,
        default: default.map(String::from),
        ..ColumnSpec::default()
    };
    TableDef {
        family: EngineFamily::PostgreSql,
        mariadb: false,
        source: TableId::new("public", "Accounts"),
        dest: TableId::new(db, "Accounts"),
        columns: vec![
            ColumnSpec { auto_increment: true, ..c("id", "bigint", false, Some("nextval('\"Accounts_id_seq\"'::regclass)")) },
            c("Email", "character varying(100)", false, None),
            c("tenant", "integer", false, Some("0")),
            c("balance", "numeric(12,2)", true, Some("0.00")),
            c("active", "boolean", false, Some("true")),
            c("created", "timestamp(3) with time zone", false, Some("CURRENT_TIMESTAMP(3)")),
            c("profile", "jsonb", true, Some("'{}'::jsonb")),
            c("avatar", "bytea", true, None),
            c("ref", "uuid", true, None),
            c("tags", "text[]", true, None),
            ColumnSpec {
                enum_labels: Some(vec!["basic".into(), "pro".into()]),
                ..c("plan", "plan_kind", false, Some("'basic'::plan_kind"))
            },
            c("flags", "bit(4)", true, None),
            c("bio", "text", true, None),
            c("odd`name", "smallint", true, None),
        ],
        primary_key: vec!["tenant".into(), "id".into()],
        indexes: vec![
            IndexSpec { name: "Accounts_Email_tenant_key".into(), columns: vec!["Email".into(), "tenant".into()], unique: true },
            IndexSpec { name: "accounts_created_idx".into(), columns: vec!["created".into()], unique: false },
            IndexSpec { name: "accounts_bio_idx".into(), columns: vec!["bio".into()], unique: false },
        ],
    }
}

#[tokio::test]
async fn translate_creates_a_postgres_table_idempotently() {
    let Some(admin) = admin("translate_creates_a_postgres_table_idempotently") else { return };
    let db = unique("pg");
    // Registered for the drop; the plan creates the database itself.
    let _dbs = Databases { admin: admin.clone(), names: vec![db.clone()] };
    let plan = plan_from_postgres(&[pg_def(&db)]).unwrap();
    assert!(plan.after_data.is_empty());

    let mut conn = session::sink(&admin).await.unwrap();
    let mut created = Vec::new();
    for round in 0..2 {
        for step in &plan.before_data {
            sink::execute_ddl(&mut conn, &step.sql, &step.what).await.unwrap_or_else(|e| panic!("round {round}: {e}\n{}", step.sql));
        }
        let row: Option<(String, String)> =
            conn.query_first(format!("SHOW CREATE TABLE `{db}`.`Accounts`")).await.unwrap();
        created.push(row.unwrap().1);
    }
    assert_eq!(created[0], created[1], "the second run changed the table");
    let ddl = &created[0];
    eprintln!("{ddl}");

    if is_mariadb(&admin).await {
        assert_eq!(
            ddl,
            "CREATE TABLE `Accounts` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `Email` varchar(100) NOT NULL,
  `tenant` int(11) NOT NULL DEFAULT 0,
  `balance` decimal(12,2) DEFAULT 0.00,
  `active` tinyint(1) NOT NULL DEFAULT 1,
  `created` datetime(3) NOT NULL DEFAULT current_timestamp(3),
  `profile` longtext DEFAULT '{}' CHECK (json_valid(`profile`)),
  `avatar` longblob DEFAULT NULL,
  `ref` char(36) DEFAULT NULL,
  `tags` longtext DEFAULT NULL,
  `plan` enum('basic','pro') NOT NULL DEFAULT 'basic',
  `flags` varchar(4) DEFAULT NULL,
  `bio` longtext DEFAULT NULL,
  `odd``name` smallint(6) DEFAULT NULL,
  PRIMARY KEY (`tenant`,`id`),
  UNIQUE KEY `Accounts_Email_tenant_key` (`Email`,`tenant`),
  KEY `accounts_created_idx` (`created`),
  KEY `accounts_bio_idx` (`bio`(768)),
  KEY `id` (`id`),
  CONSTRAINT `CONSTRAINT_1` CHECK (`flags` regexp '^[01]{4}$')
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
        );
    } else {
        for part in ["PRIMARY KEY (`tenant`,`id`)", "KEY `id` (`id`)", "COLLATE=utf8mb4_bin", "`bio`(768)"] {
            assert!(ddl.contains(part), "{part}: {ddl}");
        }
    }

    // The binary collation keeps PostgreSQL's case-sensitive uniqueness, and the CHECK its bit domain.
    conn.query_drop(format!(
        "INSERT INTO `{db}`.`Accounts` (Email, tenant, created) VALUES ('anna@x', 1, NOW(3)), ('Anna@x', 1, NOW(3))"
    ))
    .await
    .unwrap();
    let bad = conn.query_drop(format!("INSERT INTO `{db}`.`Accounts` (Email, created, flags) VALUES ('b', NOW(3), '0102')")).await;
    assert!(bad.is_err(), "the bit(4) CHECK let a non-bit string in");
    let ids: Vec<u64> = conn.query(format!("SELECT id FROM `{db}`.`Accounts` ORDER BY id")).await.unwrap();
    assert_eq!(ids, vec![1, 2]);
    conn.disconnect().await.unwrap();
}
