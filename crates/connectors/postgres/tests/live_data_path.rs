//! The PostgreSQL data path against a real server: precheck items, the
//! catalog reader and DDL, and the COPY chunk writer with a round trip of
//! every common type. Run when OPENDTS_TEST_PG_PORT is set, skipped otherwise.
//! Env: OPENDTS_TEST_PG_PORT, OPENDTS_TEST_PG_PASSWORD (default `opendts-root`),
//! OPENDTS_TEST_PG_USER (default `postgres`, a superuser), OPENDTS_TEST_PG_HOST (default 127.0.0.1).

use opendts_connector_postgres::precheck::{self, PrecheckInput};
use opendts_connector_postgres::{schema, session, sink};
use opendts_core::change::SourcePosition;
use opendts_core::dblist::{DbList, DbListContext};
use opendts_core::endpoint::Endpoint;
use opendts_core::job::MigrationMode;
use opendts_core::reserve::TargetTableMode;
use opendts_core::row::{Cell, TableId};
use opendts_core::secret::Secret;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
}

fn admin(test: &str) -> Option<Endpoint> {
    let Ok(port) = std::env::var("OPENDTS_TEST_PG_PORT") else {
        eprintln!("skipping {test}: OPENDTS_TEST_PG_PORT is not set (start a server with scripts/db/start-postgres.sh)");
        return None;
    };
    Some(Endpoint {
        engine_name: "PostgreSQL".into(),
        ip: env_or("OPENDTS_TEST_PG_HOST", "127.0.0.1"),
        port,
        user_name: env_or("OPENDTS_TEST_PG_USER", "postgres"),
        password: Secret::new(env_or("OPENDTS_TEST_PG_PASSWORD", "opendts-root")),
        ..Default::default()
    })
}

fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("odts_{tag}_{}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed), nanos % 100_000)
}

async fn client(ep: &Endpoint, db: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::Config::new()
        .host(ep.ip.clone())
        .port(ep.port_number().unwrap())
        .user(ep.user_name.clone())
        .password(ep.password.expose())
        .dbname(db)
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

/// A fresh database (dropped by [`drop_db`]) and its endpoint, after running `stmts` in it.
async fn fresh_db(admin: &Endpoint, tag: &str, stmts: &[&str]) -> Endpoint {
    let db = unique(tag);
    client(admin, "postgres").await.batch_execute(&format!("CREATE DATABASE {db}")).await.unwrap();
    let c = client(admin, &db).await;
    for s in stmts {
        c.batch_execute(s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    Endpoint { database_name: db, ..admin.clone() }
}

async fn drop_db(admin: &Endpoint, ep: &Endpoint) {
    let _ = client(admin, "postgres")
        .await
        .batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", ep.database_name))
        .await;
}

fn list(json: &str) -> DbList {
    DbList::parse(json, DbListContext::Migration).unwrap()
}

const SYNC: MigrationMode =
    MigrationMode { structure_initialization: true, data_initialization: true, data_synchronization: true };

#[tokio::test]
async fn precheck_items_on_a_live_server() {
    let Some(admin) = admin("precheck_items_on_a_live_server") else { return };
    let src = fresh_db(
        &admin,
        "pre_src",
        &[
            "CREATE SCHEMA app",
            "CREATE TABLE app.with_pk (id int PRIMARY KEY, v text)",
            "CREATE TABLE app.no_pk (v text)",
            "CREATE TABLE app.logged (v text)",
            "ALTER TABLE app.logged REPLICA IDENTITY FULL",
            "CREATE SCHEMA other",
            "CREATE TABLE other.x (v text)",
        ],
    )
    .await;
    let dst = fresh_db(&admin, "pre_dst", &["CREATE SCHEMA app_copy", "CREATE TABLE app_copy.with_pk (id int)"]).await;
    let db_list = list(r#"{"app": {"name": "app_copy", "all": true}}"#);
    let input = PrecheckInput {
        source: &src,
        destination: Some(&dst),
        mode: &SYNC,
        db_list: &db_list,
        target_table_mode: TargetTableMode::Block,
        timeout: Duration::from_secs(10),
    };

    let o = precheck::run_item(precheck::CHECK_PG_WAL_LEVEL, &input).await;
    assert!(o.passed, "{o:?}");
    for item in [precheck::CHECK_PG_REPLICATION_SLOTS, precheck::CHECK_PG_WAL_SENDERS] {
        let o = precheck::run_item(item, &input).await;
        assert!(o.passed, "{item}: {o:?}");
        assert!(o.detail.contains("free, the job needs 1"), "{}", o.detail);
    }
    let o = precheck::run_item(precheck::CHECK_SRC, &input).await;
    assert!(o.passed && o.detail.contains("PostgreSQL 15"), "{o:?}");

    let o = precheck::run_item(precheck::CHECK_PG_REPLICA_IDENTITY, &input).await;
    assert!(!o.passed, "{o:?}");
    assert!(o.detail.contains("3 selected table(s)"), "{}", o.detail);
    assert!(o.detail.contains("ALTER TABLE \"app\".\"no_pk\" REPLICA IDENTITY FULL;"), "{}", o.detail);
    assert!(!o.detail.contains("logged") && !o.detail.contains("\"other\""), "{}", o.detail);

    let o = precheck::run_item(precheck::CHECK_SAME_OBJ, &input).await;
    assert!(!o.passed, "{o:?}");
    assert!(o.detail.contains("\"app_copy\".\"with_pk\" (from \"app\".\"with_pk\")"), "{}", o.detail);
    let o = precheck::run_item(precheck::CHECK_SAME_OBJ, &PrecheckInput { target_table_mode: TargetTableMode::Ignore, ..input })
        .await;
    assert!(o.passed, "{o:?}");

    // Source and destination the same database, names unchanged: copied onto itself.
    let same = list(r#"{"app": {"all": true}}"#);
    let o = precheck::run_item(
        precheck::CHECK_SAME_OBJ,
        &PrecheckInput { destination: Some(&src), db_list: &same, target_table_mode: TargetTableMode::Ignore, ..input },
    )
    .await;
    assert!(!o.passed && o.detail.contains("copied onto"), "{o:?}");

    drop_db(&admin, &src).await;
    drop_db(&admin, &dst).await;
}

#[tokio::test]
async fn catalog_and_ddl_recreate_a_table() {
    let Some(admin) = admin("catalog_and_ddl_recreate_a_table") else { return };
    let src = fresh_db(
        &admin,
        "sch_src",
        &[
            "CREATE SCHEMA app",
            "CREATE TABLE app.orders (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, \"Note\" varchar(20) DEFAULT 'n/a', \
             amount numeric(12,3) NOT NULL DEFAULT 0, tags text[], secret text, at timestamptz DEFAULT now(), \
             total numeric GENERATED ALWAYS AS (amount * 2) STORED)",
            "CREATE TABLE app.events (seq serial, payload jsonb NOT NULL, UNIQUE (seq))",
            "INSERT INTO app.events (payload) SELECT '{}' FROM generate_series(1, 50)",
            "ANALYZE app.events",
        ],
    )
    .await;
    let db_list = list(
        r#"{"app": {"name": "app2", "all": true, "Table": {"orders": {"name": "orders_v2", "all": false,
            "column": {"id": {"name": "id"}, "Note": {"name": "note"}, "amount": {"name": "amount"}, "tags": {"name": "tags"}}}}}}"#,
    );
    let c = session::source(&src).await.unwrap();
    let tables = schema::selected_tables(&c, &db_list).await.unwrap();
    assert_eq!(tables.len(), 2, "{tables:?}");
    let events = &tables[0];
    assert_eq!(events.source, TableId::new("app", "events"));
    assert_eq!(events.estimated_rows, 50);
    assert!(events.primary_key.is_empty());
    assert_eq!(events.schema.key, vec![0], "the unique NOT NULL serial column is the row key");
    let orders = &tables[1];
    assert_eq!(orders.dest, TableId::new("app2", "orders_v2"));
    let copied: Vec<(&str, &str)> = orders.columns.iter().map(|c| (c.source.as_str(), c.dest.as_str())).collect();
    assert_eq!(copied, [("id", "id"), ("Note", "note"), ("amount", "amount"), ("tags", "tags")]);
    assert_eq!(orders.dest_types(), ["bigint", "character varying(20)", "numeric(12,3)", "text[]"]);
    assert_eq!(orders.primary_key, ["id"]);

    // A column subset with renames: the generated column `total` could refer to a
    // column that is renamed or left out, so it is refused rather than changed.
    let err = schema::table_ddl(orders).unwrap_err().to_string();
    assert!(err.contains("generated column \"total\""), "{err}");

    let dst = fresh_db(&admin, "sch_dst", &[]).await;
    let d = session::sink(&dst).await.unwrap();
    sink::execute_ddl(&d, &schema::create_schema_sql("app2"), "schema app2").await.unwrap();
    let ddl = schema::table_ddl(events).unwrap();
    assert!(!ddl.contains("nextval"), "{ddl}");
    sink::execute_ddl(&d, &ddl, "table events").await.unwrap();
    // Idempotent.
    sink::execute_ddl(&d, &ddl, "table events").await.unwrap();
    let rows = d
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull FROM pg_attribute a
             WHERE a.attrelid = 'app2.events'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(String, String, bool)> = rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    assert_eq!(got, [("seq".into(), "integer".into(), true), ("payload".into(), "jsonb".into(), true)]);
    let deferred = schema::deferred_defaults(events);
    assert_eq!(deferred.len(), 1, "{deferred:?}");
    assert!(deferred[0].contains("nextval("), "{deferred:?}");

    drop(c);
    drop(d);
    drop_db(&admin, &src).await;
    drop_db(&admin, &dst).await;
}

#[tokio::test]
async fn copy_chunks_round_trip_every_common_type() {
    let Some(admin) = admin("copy_chunks_round_trip_every_common_type") else { return };
    let dst = fresh_db(
        &admin,
        "sink",
        &["CREATE SCHEMA s",
          "CREATE TABLE s.rt (id int8 PRIMARY KEY, i2 smallint, i4 int, f4 real, f8 double precision, num numeric(38,10), \
           t text, b bytea, d date, ts timestamp(6), tstz timestamptz, tm time(6), iv interval, bo boolean, j json, jb jsonb, \
           bits bit(10), u uuid, n text)",
          "CREATE TABLE s.big (id int8 PRIMARY KEY, v text)"],
    )
    .await;
    let mut c = session::sink(&dst).await.unwrap();
    sink::prepare_meta(&c).await.unwrap();
    sink::prepare_meta(&c).await.unwrap();
    let table = TableId::new("s", "rt");
    let cols: Vec<String> =
        "id i2 i4 f4 f8 num t b d ts tstz tm iv bo j jb bits u n".split(' ').map(String::from).collect();
    let types: Vec<String> = [
        "bigint", "smallint", "integer", "real", "double precision", "numeric(38,10)", "text", "bytea", "date",
        "timestamp(6) without time zone", "timestamp with time zone", "time(6) without time zone", "interval", "boolean",
        "json", "jsonb", "bit(10)", "uuid", "text",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let bytes = |s: &str| Cell::Bytes(s.as_bytes().to_vec());
    let date = |year, month, day, hour, minute, second, micros| Cell::Date { year, month, day, hour, minute, second, micros };
    let rows = vec![
        vec![
            Cell::Int(1),
            Cell::Int(-32768),
            Cell::Int(i32::MIN.into()),
            Cell::Float(0.1),
            Cell::Double(0.1),
            bytes("-12345678901234567890.0123456789"),
            bytes("tab\tnl\ncr\rbs\\ 'q' \u{fc}"),
            Cell::Bytes(vec![0, 255, 92, 10, 9]),
            date(2024, 2, 29, 0, 0, 0, 0),
            date(2024, 2, 29, 23, 59, 59, 123_456),
            date(2000, 1, 1, 12, 0, 0, 0),
            Cell::Time { negative: false, days: 0, hours: 13, minutes: 14, seconds: 15, micros: 500_000 },
            Cell::Time { negative: true, days: 34, hours: 22, minutes: 59, seconds: 59, micros: 0 },
            Cell::Int(1),
            bytes(r#"{"a": [1, 2.50]}"#),
            bytes(r#"{"b":1}"#),
            Cell::Bytes(vec![0x02, 0x05]),
            bytes("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            Cell::Null,
        ],
        vec![
            Cell::UInt(2),
            Cell::Int(32767),
            Cell::Int(i32::MAX.into()),
            Cell::Float(f32::MIN_POSITIVE),
            Cell::Double(f64::MAX),
            bytes("0.0000000001"),
            bytes(""),
            Cell::Bytes(vec![]),
            date(1, 1, 1, 0, 0, 0, 0),
            date(9999, 12, 31, 23, 59, 59, 999_999),
            date(1970, 1, 1, 0, 0, 0, 1),
            Cell::Time { negative: false, days: 0, hours: 0, minutes: 0, seconds: 0, micros: 1 },
            Cell::Time { negative: false, days: 0, hours: 0, minutes: 0, seconds: 0, micros: 0 },
            Cell::Int(0),
            bytes("null"),
            bytes(r#"[1, "x", null]"#),
            Cell::Bytes(vec![0x00, 0x00]),
            bytes("00000000-0000-0000-0000-000000000000"),
            Cell::Double(f64::NEG_INFINITY),
        ],
    ];

    // A value PostgreSQL cannot hold fails the chunk, naming the column, and leaves nothing behind.
    {
        let mut w = sink::ChunkWriter::begin(&mut c, &table, &cols, &types).await.unwrap();
        let mut bad = rows[0].clone();
        bad[8] = date(0, 0, 0, 0, 0, 0, 0);
        let e = w.write(&[rows[1].clone(), bad]).await.unwrap_err().to_string();
        assert!(e.contains("row 2 of 2") && e.contains("column \"d\"") && e.contains("zero"), "{e}");
    }

    let mut w = sink::ChunkWriter::begin(&mut c, &table, &cols, &types).await.unwrap();
    w.write(&rows).await.unwrap();
    assert_eq!(w.rows(), 2);
    assert_eq!(w.commit("job-1", 0, Some(&SourcePosition::Lsn(42))).await.unwrap(), 2);

    let got = c
        .query(
            "SELECT id::text, i2::text, i4::text, f4::text, f8::text, num::text, t, b::text, d::text, ts::text,
                    extract(epoch from tstz)::text, tm::text, iv::text, bo::text, j::text, jb::text, bits::text, u::text, n
             FROM s.rt ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    let text = |r: &tokio_postgres::Row| (0..19).map(|i| r.get::<_, Option<String>>(i)).collect::<Vec<_>>();
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        text(&got[0]),
        vec![
            s("1"), s("-32768"), s("-2147483648"), s("0.1"), s("0.1"), s("-12345678901234567890.0123456789"),
            s("tab\tnl\ncr\rbs\\ 'q' \u{fc}"), s("\\x00ff5c0a09"), s("2024-02-29"), s("2024-02-29 23:59:59.123456"),
            s("946728000.000000"), s("13:14:15.5"), s("PT-838H-59M-59S"), s("true"), s(r#"{"a": [1, 2.50]}"#), s(r#"{"b": 1}"#),
            s("1000000101"), s("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), None,
        ]
    );
    assert_eq!(
        text(&got[1]),
        vec![
            s("2"), s("32767"), s("2147483647"), s("1.1754944e-38"), s("1.7976931348623157e+308"), s("0.0000000001"), s(""),
            s("\\x"), s("0001-01-01"), s("9999-12-31 23:59:59.999999"), s("0.000001"), s("00:00:00.000001"), s("PT0S"),
            s("false"), s("null"), s(r#"[1, "x", null]"#), s("0000000000"), s("00000000-0000-0000-0000-000000000000"),
            s("-Infinity"),
        ]
    );

    // A larger chunk, sent in several COPY pieces.
    let big = TableId::new("s", "big");
    let filler = "x".repeat(100);
    let many: Vec<Vec<Cell>> = (0..20_000).map(|i| vec![Cell::Int(i), Cell::Bytes(format!("{i}{filler}").into_bytes())]).collect();
    let mut w = sink::ChunkWriter::begin(&mut c, &big, &["id".into(), "v".into()], &["bigint".into(), "text".into()]).await.unwrap();
    w.write(&many[..10_000]).await.unwrap();
    w.write(&many[10_000..]).await.unwrap();
    assert_eq!(w.commit("job-1", 7, None).await.unwrap(), 20_000);
    let n: i64 = c.query_one("SELECT count(*) FROM s.big WHERE v = id::text || repeat('x', 100)", &[]).await.unwrap().get(0);
    assert_eq!(n, 20_000);

    // A chunk whose rows exist already fails as a whole.
    let mut w = sink::ChunkWriter::begin(&mut c, &big, &["id".into(), "v".into()], &["bigint".into(), "text".into()]).await.unwrap();
    let e = w.write(&many[..1]).await.unwrap_err();
    assert_eq!(e.sqlstate(), Some("23505"), "{e}");
    drop(w);
    // With KeepExisting, existing rows stay as they are and new ones are added.
    let mut w = sink::ChunkWriter::begin_with(
        &mut c,
        &big,
        &["id".into(), "v".into()],
        &["bigint".into(), "text".into()],
        sink::OnConflict::KeepExisting,
    )
    .await
    .unwrap();
    w.write(&[vec![Cell::Int(0), bytes("changed")], vec![Cell::Int(-1), bytes("new")]]).await.unwrap();
    w.write(&[vec![Cell::Int(-2), bytes("newer")]]).await.unwrap();
    assert_eq!(w.commit("job-2", 0, None).await.unwrap(), 3);
    let kept: String = c.query_one("SELECT v FROM s.big WHERE id = 0", &[]).await.unwrap().get(0);
    assert_eq!(kept, format!("0{filler}"));
    let n: i64 = c.query_one("SELECT count(*) FROM s.big", &[]).await.unwrap().get(0);
    assert_eq!(n, 20_002);

    assert_eq!(sink::done_chunks(&c, "job-1", &table).await.unwrap(), [0].into_iter().collect());
    assert_eq!(sink::done_chunks(&c, "job-1", &big).await.unwrap(), [7].into_iter().collect());
    assert_eq!(sink::done_rows(&c, "job-1").await.unwrap(), 20_002);
    assert_eq!(sink::done_rows(&c, "job-2").await.unwrap(), 3);
    assert_eq!(sink::snapshot_positions(&c, "job-1").await.unwrap(), vec![(table.clone(), SourcePosition::Lsn(42))]);
    let found = sink::existing_tables(&c, [table.clone(), TableId::new("s", "nope")].iter()).await.unwrap();
    assert_eq!(found, [table].into_iter().collect());

    drop(c);
    drop_db(&admin, &dst).await;
}
