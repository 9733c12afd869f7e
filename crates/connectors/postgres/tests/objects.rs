//! The PostgreSQL → PostgreSQL schema plan (`objects`) against a real server:
//! a schema with sequences, identity, constraints, indexes of several kinds,
//! a foreign key and dependent views is migrated into a renamed schema of
//! another database, and the destination catalog is compared with the
//! source's. Run when OPENDTS_TEST_PG_PORT is set, skipped otherwise.
//! Env: OPENDTS_TEST_PG_PORT, OPENDTS_TEST_PG_PASSWORD (default `opendts-root`),
//! OPENDTS_TEST_PG_USER (default `postgres`, a superuser), OPENDTS_TEST_PG_HOST (default 127.0.0.1).

use opendts_connector_postgres::objects::{self, DdlStep};
use opendts_connector_postgres::{schema, session, sink};

mod support;
use support::{admin, fresh_db, drop_db, list};

/// The source schema: every kind of object the plan recreates.
const SOURCE: &[&str] = &[
    "CREATE SCHEMA src",
    "CREATE TABLE src.customers (id serial PRIMARY KEY, email text NOT NULL, region text, tier int,
        CONSTRAINT customers_email_region_key UNIQUE (email, region),
        CONSTRAINT customers_tier_check CHECK (tier BETWEEN 0 AND 5))",
    "CREATE TABLE src.orders (id bigint GENERATED ALWAYS AS IDENTITY (START WITH 100 INCREMENT BY 5) PRIMARY KEY,
        customer_id int NOT NULL, placed_at timestamptz NOT NULL DEFAULT now(), amount numeric(10,2), status text, data jsonb,
        CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES src.customers (id) ON DELETE CASCADE)",
    "CREATE INDEX orders_customer_day ON src.orders (customer_id, placed_at DESC)",
    "CREATE INDEX orders_open ON src.orders (placed_at) WHERE status = 'open'",
    "CREATE INDEX customers_lower_email ON src.customers (lower(email))",
    "CREATE INDEX orders_data ON src.orders USING gin (data jsonb_path_ops)",
    "CREATE UNIQUE INDEX orders_status_once ON src.orders (customer_id, status) WHERE status = 'draft'",
    "CREATE SEQUENCE src.invoice_no AS integer START WITH 1000 INCREMENT BY 10 CACHE 2",
    "CREATE VIEW src.big_orders AS SELECT id, customer_id, amount FROM src.orders WHERE amount > 100",
    // Named so that it sorts before the view it reads.
    "CREATE VIEW src.big_customers AS SELECT DISTINCT c.id, c.email FROM src.customers c JOIN src.big_orders b ON b.customer_id = c.id",
    "INSERT INTO src.customers (email, region, tier) VALUES ('a@x', 'eu', 1), ('b@x', 'us', 5), ('c@x', NULL, 0)",
    "INSERT INTO src.orders (customer_id, amount, status, data) VALUES
        (1, 50, 'open', '{\"k\": 1}'), (1, 150, 'paid', '{}'), (2, 500, 'draft', NULL), (3, 101, 'open', '[1]')",
    "SELECT nextval('src.invoice_no'), nextval('src.invoice_no')",
];

async fn run(d: &tokio_postgres::Client, steps: &[DdlStep]) {
    for s in steps {
        sink::execute_ddl(d, &s.sql, &s.what).await.unwrap_or_else(|e| panic!("{}: {e}\n{}", s.what, s.sql));
    }
}

/// Copies every row of `tables` (source names; the destination schema is `dst`), keeping identity values.
async fn copy_rows(c: &tokio_postgres::Client, d: &tokio_postgres::Client, tables: &[&str]) {
    for t in tables {
        let rows = c.query(&format!("SELECT to_jsonb(t)::text FROM src.{t} t"), &[]).await.unwrap();
        for r in rows {
            let json: String = r.get(0);
            d.execute(
                &format!("INSERT INTO dst.{t} OVERRIDING SYSTEM VALUE SELECT * FROM jsonb_populate_record(NULL::dst.{t}, $1::text::jsonb)"),
                &[&json],
            )
            .await
            .unwrap();
        }
    }
}

/// One text column of every row of `sql` (with `$1` the schema name).
async fn texts(c: &tokio_postgres::Client, sql: &str, schema: &str) -> Vec<String> {
    c.query(sql, &[&schema]).await.unwrap().iter().map(|r| r.get::<_, String>(0)).collect()
}

const INDEXES: &str = "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 ORDER BY c.relname";
const CONSTRAINTS: &str = "SELECT t.relname || ' ' || c.conname || ' ' || pg_get_constraintdef(c.oid) FROM pg_constraint c
    JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = $1 ORDER BY 1";
const SEQUENCES: &str = "SELECT s.relname || ' ' || format_type(q.seqtypid, NULL) || ' ' || concat_ws(' ', q.seqstart, q.seqincrement,
    q.seqmin, q.seqmax, q.seqcache, q.seqcycle) FROM pg_sequence q JOIN pg_class s ON s.oid = q.seqrelid
    JOIN pg_namespace n ON n.oid = s.relnamespace WHERE n.nspname = $1 ORDER BY 1";

#[tokio::test]
async fn schema_plan_recreates_every_object_in_a_renamed_schema() {
    let Some(admin) = admin("schema_plan_recreates_every_object_in_a_renamed_schema") else { return };
    let src = fresh_db(&admin, "obj_src", SOURCE).await;
    let dst = fresh_db(&admin, "obj_dst", &[]).await;
    let db_list = list(r#"{"src": {"name": "dst", "all": true}}"#);
    let c = session::source(&src).await.unwrap();
    let d = session::sink(&dst).await.unwrap();
    let tables = schema::selected_tables(&c, &db_list).await.unwrap();
    let search_path_before = texts(&c, "SELECT current_setting('search_path') WHERE $1 <> ''", "x").await;
    let plan = objects::schema_plan(&c, &db_list, &tables).await.unwrap();
    assert_eq!(texts(&c, "SELECT current_setting('search_path') WHERE $1 <> ''", "x").await, search_path_before);

    for s in plan.before_data.iter().chain(&plan.after_data) { eprintln!("-- {}\n{};", s.what, s.sql); }
    // Where each object goes.
    let what = |steps: &[DdlStep]| steps.iter().map(|s| s.what.clone()).collect::<Vec<_>>();
    let before = what(&plan.before_data);
    let after = what(&plan.after_data);
    assert!(before.iter().any(|w| w == "sequence dst.invoice_no"), "{before:?}");
    assert!(before.iter().any(|w| w == "index dst.orders_status_once"), "unique indexes before the load: {before:?}");
    assert!(after.iter().any(|w| w == "index dst.orders_customer_day"), "{after:?}");
    let pos = |w: &str| after.iter().position(|a| a == w).unwrap_or_else(|| panic!("{w} missing from {after:?}"));
    assert!(pos("view dst.big_orders") < pos("view dst.big_customers"), "{after:?}");
    assert!(!before.iter().chain(&after).any(|w| w.contains("pkey")), "the primary key comes with the table");

    run(&d, &plan.before_data).await;
    copy_rows(&c, &d, &["customers", "orders"]).await;
    run(&d, &plan.after_data).await;
    run(&d, &objects::sequence_values(&c, &db_list, &tables).await.unwrap()).await;

    // The same indexes and constraints, with the schema renamed.
    let renamed = |v: Vec<String>| v.into_iter().map(|s| s.replace("src.", "dst.")).collect::<Vec<_>>();
    let src_indexes = renamed(texts(&c, INDEXES, "src").await);
    assert_eq!(src_indexes.len(), 8, "{src_indexes:?}");
    assert_eq!(texts(&d, INDEXES, "dst").await, src_indexes);
    let src_constraints = renamed(texts(&c, CONSTRAINTS, "src").await);
    assert_eq!(src_constraints.len(), 5, "{src_constraints:?}");
    assert_eq!(texts(&d, CONSTRAINTS, "dst").await, src_constraints);
    // The identity sequence has another name on the destination; compare the options of the others.
    let src_seqs = texts(&c, SEQUENCES, "src").await;
    let dst_seqs = texts(&d, SEQUENCES, "dst").await;
    assert_eq!(src_seqs, dst_seqs);
    let identity_options = "SELECT format_type(q.seqtypid, NULL) || ' ' || concat_ws(' ', q.seqstart, q.seqincrement, q.seqcycle)
        FROM pg_sequence q WHERE q.seqrelid = pg_get_serial_sequence($1 || '.orders', 'id')::regclass";
    assert_eq!(texts(&d, identity_options, "dst").await, texts(&c, identity_options, "src").await);

    // The views return the same rows.
    for v in ["big_orders", "big_customers"] {
        let sql = format!("SELECT to_jsonb(v)::text FROM {{}}.{v} v WHERE $1 <> '' ORDER BY 1");
        let rows = texts(&c, &sql.replace("{}", "src"), "x").await;
        assert!(!rows.is_empty(), "{v}");
        assert_eq!(texts(&d, &sql.replace("{}", "dst"), "x").await, rows, "{v}");
    }

    // Every sequence continues from the source's value.
    for s in [
        "SELECT nextval('{}.invoice_no')::text WHERE $1 <> ''",
        "INSERT INTO {}.customers (email) VALUES ($1) RETURNING id::text",
        "INSERT INTO {}.orders (customer_id) VALUES (length($1)) RETURNING id::text",
    ] {
        let from_source = texts(&c, &s.replace("{}", "src"), "z@x").await;
        assert_eq!(texts(&d, &s.replace("{}", "dst"), "z@x").await, from_source, "{s}");
    }
    assert_eq!(texts(&d, "SELECT nextval('dst.invoice_no')::text WHERE $1 <> ''", "x").await, ["1030"]);

    // A resumed job runs the whole plan again: nothing fails, nothing is duplicated.
    run(&d, &plan.before_data).await;
    run(&d, &plan.after_data).await;
    run(&d, &objects::sequence_values(&c, &db_list, &tables).await.unwrap()).await;
    assert_eq!(texts(&d, INDEXES, "dst").await, src_indexes);
    assert_eq!(texts(&d, CONSTRAINTS, "dst").await, src_constraints);

    drop(c);
    drop(d);
    drop_db(&admin, &src).await;
    drop_db(&admin, &dst).await;
}

#[tokio::test]
async fn renamed_column_under_an_expression_index_is_refused() {
    let Some(admin) = admin("renamed_column_under_an_expression_index_is_refused") else { return };
    let src = fresh_db(&admin, "obj_ren", SOURCE).await;
    let db_list = list(
        r#"{"src": {"name": "dst", "all": true, "Table": {"customers": {"name": "customers", "all": true,
            "column": {"email": {"name": "mail"}}}}}}"#,
    );
    let c = session::source(&src).await.unwrap();
    let tables = schema::selected_tables(&c, &db_list).await.unwrap();
    let err = objects::schema_plan(&c, &db_list, &tables).await.unwrap_err().to_string();
    assert!(err.contains("customers_lower_email") && err.contains("column \"email\""), "{err}");

    // Renaming a column only plain indexes and constraints list is rewritten instead.
    let db_list = list(
        r#"{"src": {"name": "dst", "all": true, "Table": {"customers": {"name": "clients", "all": true,
            "column": {"region": {"name": "area"}}}}}}"#,
    );
    let tables = schema::selected_tables(&c, &db_list).await.unwrap();
    let err = objects::schema_plan(&c, &db_list, &tables).await.unwrap_err().to_string();
    // The view big_customers reads the renamed table: refused, naming the view and the table.
    assert!(err.contains("view src.big_customers") && err.contains("src.customers"), "{err}");

    drop(c);
    drop_db(&admin, &src).await;
}
