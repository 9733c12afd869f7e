//! Cross-engine schema migration on a real PostgreSQL server: the TableDefs a
//! PostgreSQL source describes, and the DDL plan for a MySQL source executed on
//! a PostgreSQL destination. Run when OPENDTS_TEST_PG_PORT is set, skipped otherwise.
//! Env: OPENDTS_TEST_PG_PORT, OPENDTS_TEST_PG_PASSWORD (default `opendts-root`),
//! OPENDTS_TEST_PG_USER (default `postgres`, a superuser), OPENDTS_TEST_PG_HOST (default 127.0.0.1).

use opendts_connector_postgres::{schema, session, sink, translate};
use opendts_core::endpoint::EngineFamily;
use opendts_core::row::TableId;
use opendts_core::tabledef::{ColumnSpec, DdlPlan, IndexSpec, TableDef};

mod support;
use support::{admin, fresh_db, drop_db, list};

fn spec(name: &str, source: &str, ty: &str, nullable: bool, default: Option<&str>, auto: bool, labels: Option<&[&str]>) -> ColumnSpec {
    ColumnSpec {
        name: name.into(),
        source_name: source.into(),
        source_type: ty.into(),
        nullable,
        default: default.map(Into::into),
        auto_increment: auto,
        is_json: false,
        extra: String::new(),
        enum_labels: labels.map(|l| l.iter().map(|s| s.to_string()).collect()),
    }
}

fn index(name: &str, columns: &[&str], unique: bool) -> IndexSpec {
    IndexSpec { name: name.into(), columns: columns.iter().map(|c| c.to_string()).collect(), unique }
}

#[tokio::test]
async fn translate_table_defs_of_a_postgres_source() {
    let Some(admin) = admin("translate_table_defs_of_a_postgres_source") else { return };
    let src = fresh_db(
        &admin,
        "tr_src",
        &[
            "CREATE SCHEMA app",
            "CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy')",
            "ALTER TYPE app.mood ADD VALUE 'meh' BEFORE 'ok'",
            "CREATE DOMAIN app.code AS varchar(8) NOT NULL DEFAULT 'none' CHECK (VALUE <> '')",
            "CREATE TABLE app.items (
                id serial PRIMARY KEY,
                seq bigint GENERATED ALWAYS AS IDENTITY,
                name varchar(20) NOT NULL DEFAULT 'x',
                price numeric(10,2) DEFAULT 0,
                active boolean NOT NULL DEFAULT true,
                at timestamptz(3) DEFAULT now(),
                doc jsonb,
                raw bytea,
                uid uuid,
                nums integer[],
                mood app.mood DEFAULT 'ok',
                code app.code,
                secret text,
                \"Old Name\" text,
                total numeric GENERATED ALWAYS AS (price * 2) STORED)",
            "CREATE UNIQUE INDEX items_name_mood ON app.items (name, mood)",
            "CREATE INDEX items_at ON app.items (at)",
            "CREATE INDEX items_lower ON app.items (lower(name))",
            "CREATE INDEX items_partial ON app.items (price) WHERE active",
            "CREATE INDEX items_secret ON app.items (at, secret)",
            "CREATE INDEX items_old ON app.items (\"Old Name\") INCLUDE (price)",
            "CREATE INDEX items_gin ON app.items USING gin (nums)",
            "CREATE TABLE app.plain (k int)",
        ],
    )
    .await;
    let db_list = list(
        r#"{"app": {"name": "app_copy", "all": true, "Table": {"items": {"name": "goods", "all": false, "column": {
            "id": {"name": "id"}, "seq": {"name": "seq"}, "name": {"name": "name"}, "price": {"name": "price"},
            "active": {"name": "active"}, "at": {"name": "at"}, "doc": {"name": "doc"}, "raw": {"name": "raw"},
            "uid": {"name": "uid"}, "nums": {"name": "nums"}, "mood": {"name": "mood"}, "code": {"name": "code"},
            "Old Name": {"name": "new_name"}, "total": {"name": "total"}}}}}}"#,
    );
    let c = session::source(&src).await.unwrap();
    let tables = schema::selected_tables(&c, &db_list).await.unwrap();
    let defs = translate::table_defs(&c, &tables).await.unwrap();
    let mood: &[&str] = &["sad", "meh", "ok", "happy"];
    let items = TableDef {
        family: EngineFamily::PostgreSql,
        mariadb: false,
        source: TableId::new("app", "items"),
        dest: TableId::new("app_copy", "goods"),
        columns: vec![
            spec("id", "id", "integer", false, Some("nextval('app.items_id_seq'::regclass)"), true, None),
            spec("seq", "seq", "bigint", false, None, true, None),
            spec("name", "name", "character varying(20)", false, Some("'x'::character varying"), false, None),
            spec("price", "price", "numeric(10,2)", true, Some("0"), false, None),
            spec("active", "active", "boolean", false, Some("true"), false, None),
            spec("at", "at", "timestamp(3) with time zone", true, Some("now()"), false, None),
            spec("doc", "doc", "jsonb", true, None, false, None),
            spec("raw", "raw", "bytea", true, None, false, None),
            spec("uid", "uid", "uuid", true, None, false, None),
            spec("nums", "nums", "integer[]", true, None, false, None),
            spec("mood", "mood", "app.mood", true, Some("'ok'::app.mood"), false, Some(mood)),
            // The domain's base type, NOT NULL and default.
            spec("code", "code", "character varying(8)", false, Some("'none'::character varying"), false, None),
            spec("new_name", "Old Name", "text", true, None, false, None),
        ],
        primary_key: vec!["id".into()],
        // By name; not items_pkey (the key), items_lower (expression), items_partial
        // (WHERE), items_secret (a left-out column), items_gin (GIN).
        indexes: vec![
            index("items_at", &["at"], false),
            index("items_name_mood", &["name", "mood"], true),
            index("items_old", &["new_name"], false),
        ],
    };
    let plain = TableDef {
        family: EngineFamily::PostgreSql,
        mariadb: false,
        source: TableId::new("app", "plain"),
        dest: TableId::new("app_copy", "plain"),
        columns: vec![spec("k", "k", "integer", true, None, false, None)],
        primary_key: vec![],
        indexes: vec![],
    };
    assert_eq!(defs, vec![items, plain]);
    drop(c);
    drop_db(&admin, &src).await;
}

/// A table as MariaDB describes it (COLUMN_TYPE, COLUMN_DEFAULT, EXTRA).
fn mysql_orders() -> TableDef {
    let my = |name: &str, ty: &str, nullable: bool, default: Option<&str>| ColumnSpec {
        name: name.into(),
        source_name: name.into(),
        source_type: ty.into(),
        nullable,
        default: default.map(Into::into),
        ..ColumnSpec::default()
    };
    let mut id = my("id", "int(10) unsigned", false, None);
    id.auto_increment = true;
    id.extra = "auto_increment".into();
    let mut doc = my("doc", "longtext", true, None);
    doc.is_json = true;
    TableDef {
        family: EngineFamily::MySql,
        mariadb: true,
        source: TableId::new("shop", "Orders"),
        dest: TableId::new("Shop", "Orders"),
        columns: vec![
            id,
            my("qty", "int(10) unsigned", false, Some("0")),
            my("state", "enum('new','paid')", false, Some("'new'")),
            my("tags", "set('x','y')", true, Some("NULL")),
            my("created", "datetime(3)", true, Some("current_timestamp(3)")),
            my("dur", "time", true, None),
            my("yr", "year(4)", true, None),
            my("bits", "bit(5)", true, Some("b'101'")),
            my("price", "decimal(10,2)", true, None),
            doc,
            my("token", "varbinary(16)", true, None),
            my("flag", "tinyint(1)", false, Some("0")),
            my("Code", "varchar(20)", true, None),
        ],
        primary_key: vec!["id".into()],
        indexes: vec![
            IndexSpec { name: "uq_code".into(), columns: vec!["Code".into(), "state".into()], unique: true },
            IndexSpec { name: "ix_created".into(), columns: vec!["created".into()], unique: false },
        ],
    }
}

fn mysql_counter(table: &str, ty: &str) -> TableDef {
    TableDef {
        family: EngineFamily::MySql,
        mariadb: true,
        source: TableId::new("shop", table),
        dest: TableId::new("Shop", table),
        columns: vec![
            ColumnSpec {
                name: "id".into(),
                source_name: "id".into(),
                source_type: ty.into(),
                auto_increment: true,
                extra: "auto_increment".into(),
                ..ColumnSpec::default()
            },
            ColumnSpec { name: "v".into(), source_name: "v".into(), source_type: "int(11)".into(), nullable: true, ..ColumnSpec::default() },
        ],
        primary_key: vec!["id".into()],
        indexes: vec![],
    }
}

async fn run(c: &tokio_postgres::Client, plan: &DdlPlan, before: bool) {
    let steps = if before { &plan.before_data } else { &plan.after_data };
    for s in steps {
        sink::execute_ddl(c, &s.sql, &s.what).await.unwrap_or_else(|e| panic!("{}: {e}\n{}", s.what, s.sql));
    }
}

async fn next_id(c: &tokio_postgres::Client, table: &str, values: &str) -> Result<i64, tokio_postgres::Error> {
    let row = c.query_one(&format!("INSERT INTO \"Shop\".{table} VALUES {values} RETURNING id::int8"), &[]).await?;
    Ok(row.get(0))
}

fn sqlstate(e: &tokio_postgres::Error) -> String {
    e.as_db_error().map(|d| d.code().code().to_string()).unwrap_or_else(|| e.to_string())
}

#[tokio::test]
async fn translate_mysql_plan_runs_on_postgres() {
    let Some(admin) = admin("translate_mysql_plan_runs_on_postgres") else { return };
    let dst = fresh_db(&admin, "tr_dst", &[]).await;
    let defs = vec![
        mysql_orders(),
        mysql_counter("small", "smallint(6)"),
        mysql_counter("full_small", "smallint(5) unsigned"),
        mysql_counter("tiny_full", "tinyint(3) unsigned"),
        mysql_counter("empty_one", "bigint(20) unsigned"),
    ];
    let plan = translate::plan_from_mysql(&defs).unwrap();
    let c = session::sink(&dst).await.unwrap();
    run(&c, &plan, true).await;
    run(&c, &plan, true).await; // idempotent

    // The copy writes the source's ids.
    c.batch_execute(
        "INSERT INTO \"Shop\".\"Orders\" (id, qty, state, tags, created, dur, yr, bits, price, doc, token, flag, \"Code\") VALUES
           (1, 4294967295, 'new', 'x,y', '2024-01-02 03:04:05.678', '-838:59:59', 1901, B'00101', 12.50, '{\"a\": 1}', '\\x00ff', -128, 'A'),
           (5, 0, 'paid', '', NULL, '838:59:59', 0, NULL, NULL, NULL, NULL, 127, 'B'),
           (42, 7, '', NULL, NULL, NULL, 2155, NULL, NULL, NULL, NULL, 1, NULL);
         INSERT INTO \"Shop\".small VALUES (3, 0), (10, 0);
         INSERT INTO \"Shop\".full_small VALUES (65535, 0);
         INSERT INTO \"Shop\".tiny_full VALUES (255, 0);",
    )
    .await
    .unwrap();
    run(&c, &plan, false).await;

    // New rows continue after the copied ids.
    let orders = "\"Orders\" (qty, state, flag)";
    assert_eq!(next_id(&c, orders, "(1, 'new', 0)").await.unwrap(), 43);
    assert_eq!(next_id(&c, "small (v)", "(1)").await.unwrap(), 11);
    assert_eq!(next_id(&c, "empty_one (v)", "(1)").await.unwrap(), 1, "an empty table starts at 1");
    // Ids at the top of MySQL's range: setval succeeded, and the next value is
    // refused by the range CHECK, as MySQL refuses a full AUTO_INCREMENT.
    let e = next_id(&c, "tiny_full (v)", "(1)").await.unwrap_err();
    assert_eq!(sqlstate(&e), "23514", "tinyint unsigned keeps its 0..255 CHECK: {e}");
    let e = next_id(&c, "full_small (v)", "(1)").await.unwrap_err();
    assert_eq!(sqlstate(&e), "23514", "smallint unsigned became integer with a 0..65535 CHECK: {e}");

    // The CHECK constraints keep MySQL's domains.
    for (values, what) in [
        ("(-1, 'new', 0)", "-1 in a former unsigned column"),
        ("(4294967296, 'new', 0)", "above int unsigned"),
        ("(0, 'z', 0)", "'z' in a former enum"),
        ("(0, 'new', 128)", "128 in a former tinyint"),
    ] {
        let e = next_id(&c, "\"Orders\" (qty, state, flag)", values).await.unwrap_err();
        assert_eq!(sqlstate(&e), "23514", "{what}: {e}");
    }
    for (cols, values, what) in [
        ("(qty, state, flag, tags)", "(0, 'new', 0, 'x,z')", "a member outside the set"),
        ("(qty, state, flag, yr)", "(0, 'new', 0, 1900)", "a year outside 1901..2155"),
        ("(qty, state, flag, dur)", "(0, 'new', 0, '839:00:00')", "a time past 838:59:59"),
        ("(qty, state, flag, token)", "(0, 'new', 0, '\\x000102030405060708090a0b0c0d0e0f10')", "17 bytes in varbinary(16)"),
    ] {
        let e = next_id(&c, &format!("\"Orders\" {cols}"), values).await.unwrap_err();
        assert_eq!(sqlstate(&e), "23514", "{what}: {e}");
    }
    // The unique composite index.
    let e = next_id(&c, "\"Orders\" (qty, state, flag, \"Code\")", "(0, 'new', 0, 'A')").await.unwrap_err();
    assert_eq!(sqlstate(&e), "23505", "{e}");
    // Defaults carried over.
    let row = c
        .query_one("SELECT qty, state, bits::text, created IS NOT NULL FROM \"Shop\".\"Orders\" WHERE id = 43", &[])
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, i64>(0), row.get::<_, String>(1), row.get::<_, String>(2), row.get::<_, bool>(3)),
        (1, "new".to_string(), "00101".to_string(), true)
    );

    let indexes: Vec<String> = c
        .query("SELECT indexname::text FROM pg_indexes WHERE schemaname = 'Shop' ORDER BY 1", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        indexes,
        ["Orders_ix_created", "Orders_pkey", "Orders_uq_code", "empty_one_pkey", "full_small_pkey", "small_pkey", "tiny_full_pkey"]
    );

    // The whole plan again (a resumed job): nothing fails, nothing changes, ids go on.
    run(&c, &plan, true).await;
    run(&c, &plan, false).await;
    assert_eq!(next_id(&c, orders, "(1, 'new', 0)").await.unwrap(), 44);
    assert_eq!(next_id(&c, "empty_one (v)", "(1)").await.unwrap(), 2);
    let count: i64 = c.query_one("SELECT count(*) FROM \"Shop\".\"Orders\"", &[]).await.unwrap().get(0);
    assert_eq!(count, 5);

    drop(c);
    drop_db(&admin, &dst).await;
}

#[tokio::test]
async fn translate_smallint_identity_at_its_maximum() {
    let Some(admin) = admin("translate_smallint_identity_at_its_maximum") else { return };
    let dst = fresh_db(&admin, "tr_small", &[]).await;
    let defs = vec![mysql_counter("s", "smallint(6)")];
    let plan = translate::plan_from_mysql(&defs).unwrap();
    let c = session::sink(&dst).await.unwrap();
    run(&c, &plan, true).await;
    c.batch_execute("INSERT INTO \"Shop\".s VALUES (-5, 0), (32767, 0)").await.unwrap();
    // MAX + 1 would be out of the sequence's range: setval must still succeed.
    run(&c, &plan, false).await;
    let e = next_id(&c, "s (v)", "(1)").await.unwrap_err();
    assert_eq!(sqlstate(&e), "2200H", "the sequence is exhausted, as MySQL's AUTO_INCREMENT would be: {e}");
    // Only negative ids: the next is 1.
    c.batch_execute("DELETE FROM \"Shop\".s WHERE id > 0").await.unwrap();
    run(&c, &plan, false).await;
    assert_eq!(next_id(&c, "s (v)", "(1)").await.unwrap(), 1);
    drop(c);
    drop_db(&admin, &dst).await;
}
