//! The PostgreSQL change applier against a real server: each test works in
//! its own schema of the `postgres` database. Run when OPENDTS_TEST_PG_PORT is
//! set, skipped otherwise.
//! Env: OPENDTS_TEST_PG_PORT, OPENDTS_TEST_PG_PASSWORD (default `opendts-root`),
//! OPENDTS_TEST_PG_USER (default `postgres`, a superuser), OPENDTS_TEST_PG_HOST (default 127.0.0.1).

use opendts_connector_postgres::apply::{Applied, ChangeApplier};
use opendts_core::change::{DdlChange, DdlKind, RowChange, RowOp, SourcePosition};
use opendts_core::endpoint::Endpoint;
use opendts_core::row::{Cell, TableId};
use std::sync::atomic::{AtomicU32, Ordering};

mod support;
use support::{admin, list};

fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("odts_ap_{tag}_{}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed), nanos % 100_000)
}

async fn client(ep: &Endpoint) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::Config::new()
        .host(ep.ip.clone())
        .port(ep.port_number().unwrap())
        .user(ep.user_name.clone())
        .password(ep.password.expose())
        .dbname("postgres")
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

/// A fresh schema holding the tables `stmts` create (`{s}` is the schema).
async fn fresh_schema(ep: &Endpoint, tag: &str, stmts: &[&str]) -> (tokio_postgres::Client, String) {
    let schema = unique(tag);
    let c = client(ep).await;
    c.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    for s in stmts {
        let s = s.replace("{s}", &schema);
        c.batch_execute(&s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    (c, schema)
}

async fn drop_schema(c: &tokio_postgres::Client, schema: &str) {
    let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
    let _ = c.execute("DELETE FROM opendts_meta.incremental_checkpoint WHERE job_id = $1", &[&format!("job-{schema}")]).await;
}

fn text(s: &str) -> Cell {
    Cell::Bytes(s.as_bytes().to_vec())
}

fn change(schema: &str, table: &str, op: RowOp, columns: &[&str], before: Option<Vec<Cell>>, after: Option<Vec<Cell>>) -> RowChange {
    RowChange { table: TableId::new(schema, table), op, columns: columns.iter().map(|c| c.to_string()).collect(), before, after }
}

async fn rows(c: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    c.query(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}")).iter().map(|r| r.get::<_, String>(0)).collect()
}

#[tokio::test]
async fn rows_apply_in_order_and_idempotently() {
    let Some(ep) = admin("rows_apply_in_order_and_idempotently") else { return };
    let (c, s) = fresh_schema(
        &ep,
        "rows",
        &["CREATE TABLE {s}.orders (id int PRIMARY KEY, name varchar(20), amount numeric(12,2), at timestamptz,
             day date, data bytea, flag boolean, ratio float8, doc jsonb, tags text[], gen int GENERATED ALWAYS AS (id * 2) STORED)"],
    )
    .await;
    // Source schema `src`, table `o`, column `title` → destination `name`.
    let db_list = list(&format!(
        r#"{{"src": {{"name": "{s}", "all": false, "Table": {{"o": {{"name": "orders", "all": true,
            "column": {{"title": {{"name": "name"}}}}}}}}}}}}"#
    ));
    let cols = ["id", "title", "amount", "at", "day", "data", "flag", "ratio", "doc", "tags"];
    let row = |id: i64, name: &str| {
        vec![
            Cell::Int(id),
            text(name),
            text("12.50"),
            Cell::Date { year: 2024, month: 2, day: 29, hour: 13, minute: 4, second: 5, micros: 250_000 },
            Cell::Date { year: 2024, month: 1, day: 2, hour: 0, minute: 0, second: 0, micros: 0 },
            Cell::Bytes(vec![0, 0xff, b'\\']),
            Cell::Int(1),
            Cell::Double(0.1),
            text(r#"{"a": [1, 2]}"#),
            text("{x,\"y z\"}"),
        ]
    };
    let ins = |id, name| change("src", "o", RowOp::Insert, &cols, None, Some(row(id, name)));
    let upd = |old, new, name| change("src", "o", RowOp::Update, &cols, Some(row(old, "before")), Some(row(new, name)));
    let del = |id| change("src", "o", RowOp::Delete, &cols, Some(row(id, "gone")), None);
    let batch = vec![
        ins(1, "one"),
        ins(2, "two"),
        ins(3, "three"),
        ins(4, "four"),
        upd(2, 2, "two again"),
        upd(3, 30, "thirty"),
        del(1),
        ins(1, "one back"),
        upd(1, 1, "one final"),
        del(4),
        change("src", "other", RowOp::Insert, &["id"], None, Some(vec![Cell::Int(9)])),
    ];
    let mut applier = ChangeApplier::connect(&ep, &format!("job-{s}")).await.unwrap();
    assert_eq!(applier.checkpoint().await.unwrap(), None);
    let applied: Applied = applier.apply_rows(&db_list, &batch, &SourcePosition::Lsn(100), 1_700_000_000).await.unwrap();
    assert_eq!(applied.rows, 11, "10 selected changes; a key change is a delete and an upsert");
    assert!(applied.bytes > 0);
    let q = format!(
        "SELECT concat_ws('|', id, name, amount, at, day, encode(data, 'hex'), flag, ratio, doc::text, tags::text, gen)
         FROM {s}.orders ORDER BY id"
    );
    let expected = vec![
        "1|one final|12.50|2024-02-29 13:04:05.25+00|2024-01-02|00ff5c|t|0.1|{\"a\": [1, 2]}|{x,\"y z\"}|2".to_string(),
        "2|two again|12.50|2024-02-29 13:04:05.25+00|2024-01-02|00ff5c|t|0.1|{\"a\": [1, 2]}|{x,\"y z\"}|4".to_string(),
        "30|thirty|12.50|2024-02-29 13:04:05.25+00|2024-01-02|00ff5c|t|0.1|{\"a\": [1, 2]}|{x,\"y z\"}|60".to_string(),
    ];
    c.batch_execute("SET TIME ZONE 'UTC'").await.unwrap();
    assert_eq!(rows(&c, &q).await, expected);
    assert_eq!(applier.checkpoint().await.unwrap(), Some((SourcePosition::Lsn(100), 1_700_000_000)));
    // The same batch again (a resume from an older checkpoint): same result.
    applier.apply_rows(&db_list, &batch, &SourcePosition::Lsn(100), 1_700_000_000).await.unwrap();
    assert_eq!(rows(&c, &q).await, expected);
    // A fresh applier for the same job reads the same checkpoint.
    let mut again = ChangeApplier::connect(&ep, &format!("job-{s}")).await.unwrap();
    assert_eq!(again.checkpoint().await.unwrap(), Some((SourcePosition::Lsn(100), 1_700_000_000)));
    again.advance(&SourcePosition::Lsn(200), 1_700_000_100).await.unwrap();
    assert_eq!(applier.checkpoint().await.unwrap(), Some((SourcePosition::Lsn(200), 1_700_000_100)));

    // dml_op without deletes, and a filter.
    let no_delete = list(&format!(
        r#"{{"src": {{"name": "{s}", "all": false, "Table": {{"o": {{"name": "orders", "all": true, "dml_op": "i,u",
            "filter": "id < 100", "column": {{"title": {{"name": "name"}}}}}}}}}}}}"#
    ));
    again
        .apply_rows(&no_delete, &[del(2), ins(500, "filtered"), ins(5, "five")], &SourcePosition::Lsn(300), 1)
        .await
        .unwrap();
    assert_eq!(rows(&c, &format!("SELECT string_agg(id::text, ',' ORDER BY id) FROM {s}.orders")).await, vec!["1,2,5,30"]);

    // A filter on a non-key column, and old rows holding only the key (as
    // pgoutput sends them): deletes and key moves still find the row.
    let by_flag = list(&format!(
        r#"{{"src": {{"name": "{s}", "all": false, "Table": {{"o": {{"name": "orders", "all": true,
            "filter": "flag = 1", "column": {{"title": {{"name": "name"}}}}}}}}}}}}"#
    ));
    let key_only = |id: i64| {
        let mut r = vec![Cell::Int(id)];
        r.resize(cols.len(), Cell::Null);
        r
    };
    let batch = vec![
        change("src", "o", RowOp::Delete, &cols, Some(key_only(5)), None),
        change("src", "o", RowOp::Update, &cols, Some(key_only(30)), Some(row(31, "moved"))),
    ];
    again.apply_rows(&by_flag, &batch, &SourcePosition::Lsn(400), 1).await.unwrap();
    assert_eq!(rows(&c, &format!("SELECT string_agg(id::text, ',' ORDER BY id) FROM {s}.orders")).await, vec!["1,2,31"]);
    drop_schema(&c, &s).await;
}

#[tokio::test]
async fn update_omitting_columns_leaves_them_untouched() {
    let Some(ep) = admin("update_omitting_columns_leaves_them_untouched") else { return };
    let (c, s) = fresh_schema(
        &ep,
        "toast",
        &[
            "CREATE TABLE {s}.docs (id int PRIMARY KEY, big text NOT NULL, v int)",
            "INSERT INTO {s}.docs VALUES (1, repeat('x', 10000), 1), (2, 'second', 2), (3, 'third', 3)",
        ],
    )
    .await;
    let db_list = list(&format!(r#"{{"{s}": {{"all": true}}}}"#));
    let partial = |old: i64, new: i64, v: i64| {
        change(&s, "docs", RowOp::Update, &["id", "v"], Some(vec![Cell::Int(old), Cell::Null]), Some(vec![Cell::Int(new), Cell::Int(v)]))
    };
    let batch = vec![
        partial(1, 1, 10),
        partial(2, 20, 21),
        // An update without an old row (pgoutput, key unchanged).
        change(&s, "docs", RowOp::Update, &["id", "v"], None, Some(vec![Cell::Int(3), Cell::Int(30)])),
        partial(1, 1, 11),
    ];
    let mut applier = ChangeApplier::connect(&ep, &format!("job-{s}")).await.unwrap();
    let q = format!("SELECT concat_ws('|', id, left(big, 6), length(big), v) FROM {s}.docs ORDER BY id");
    let expected = vec!["1|xxxxxx|10000|11", "3|third|5|30", "20|second|6|21"];
    applier.apply_rows(&db_list, &batch, &SourcePosition::Lsn(10), 1).await.unwrap();
    assert_eq!(rows(&c, &q).await, expected);
    applier.apply_rows(&db_list, &batch, &SourcePosition::Lsn(10), 1).await.unwrap();
    assert_eq!(rows(&c, &q).await, expected, "applying the batch again changes nothing");
    drop_schema(&c, &s).await;
}

#[tokio::test]
async fn a_failed_batch_leaves_neither_rows_nor_checkpoint() {
    let Some(ep) = admin("a_failed_batch_leaves_neither_rows_nor_checkpoint") else { return };
    let (c, s) = fresh_schema(&ep, "atomic", &["CREATE TABLE {s}.t (id int PRIMARY KEY, n int CHECK (n >= 0))"]).await;
    let db_list = list(&format!(r#"{{"{s}": {{"all": true}}}}"#));
    let mut applier = ChangeApplier::connect(&ep, &format!("job-{s}")).await.unwrap();
    applier.advance(&SourcePosition::Lsn(5), 5).await.unwrap();
    let ins = |id: i64, n: Cell| change(&s, "t", RowOp::Insert, &["id", "n"], None, Some(vec![Cell::Int(id), n]));
    for bad in [Cell::Int(-1), text("not a number")] {
        let batch = vec![ins(1, Cell::Int(1)), ins(2, Cell::Int(2)), ins(3, bad)];
        assert!(applier.apply_rows(&db_list, &batch, &SourcePosition::Lsn(9), 9).await.is_err());
        assert_eq!(rows(&c, &format!("SELECT count(*)::text FROM {s}.t")).await, vec!["0"]);
        assert_eq!(applier.checkpoint().await.unwrap(), Some((SourcePosition::Lsn(5), 5)));
    }
    // The applier is still usable after a failure.
    applier.apply_rows(&db_list, &[ins(1, Cell::Int(1))], &SourcePosition::Lsn(9), 9).await.unwrap();
    assert_eq!(rows(&c, &format!("SELECT count(*)::text FROM {s}.t")).await, vec!["1"]);
    assert_eq!(applier.checkpoint().await.unwrap(), Some((SourcePosition::Lsn(9), 9)));
    drop_schema(&c, &s).await;
}

#[tokio::test]
async fn keyless_delete_removes_exactly_one_duplicate() {
    let Some(ep) = admin("keyless_delete_removes_exactly_one_duplicate") else { return };
    let (c, s) = fresh_schema(&ep, "keyless", &["CREATE TABLE {s}.log (a int, b text, p point)"]).await;
    let db_list = list(&format!(r#"{{"{s}": {{"all": true}}}}"#));
    let cols = ["a", "b", "p"];
    let row = |a: i64, b: &str| vec![Cell::Int(a), text(b), text("(1,2)")];
    let mut applier = ChangeApplier::connect(&ep, &format!("job-{s}")).await.unwrap();
    let batch = vec![
        change(&s, "log", RowOp::Insert, &cols, None, Some(row(1, "dup"))),
        change(&s, "log", RowOp::Insert, &cols, None, Some(row(1, "dup"))),
        change(&s, "log", RowOp::Insert, &cols, None, Some(row(1, "dup"))),
        change(&s, "log", RowOp::Insert, &cols, None, Some(vec![Cell::Int(2), Cell::Null, Cell::Null])),
    ];
    applier.apply_rows(&db_list, &batch, &SourcePosition::Lsn(1), 1).await.unwrap();
    let batch = vec![
        change(&s, "log", RowOp::Delete, &cols, Some(row(1, "dup")), None),
        change(&s, "log", RowOp::Update, &cols, Some(row(1, "dup")), Some(row(1, "changed"))),
        change(&s, "log", RowOp::Delete, &cols, Some(vec![Cell::Int(2), Cell::Null, Cell::Null]), None),
    ];
    applier.apply_rows(&db_list, &batch, &SourcePosition::Lsn(2), 2).await.unwrap();
    assert_eq!(
        rows(&c, &format!("SELECT concat_ws('|', a, b) FROM {s}.log ORDER BY b")).await,
        vec!["1|changed", "1|dup"]
    );
    drop_schema(&c, &s).await;
}

#[tokio::test]
async fn truncate_honours_ddl_op() {
    let Some(ep) = admin("truncate_honours_ddl_op") else { return };
    let (c, s) = fresh_schema(
        &ep,
        "trunc",
        &["CREATE TABLE {s}.t (id int PRIMARY KEY)", "INSERT INTO {s}.t SELECT generate_series(1, 5)"],
    )
    .await;
    let ddl = DdlChange {
        schema: "src".into(),
        statement: "TRUNCATE src.t".into(),
        kind: DdlKind::TruncateTable,
        tables: vec![TableId::new("src", "t")],
    };
    let mut applier = ChangeApplier::connect(&ep, &format!("job-{s}")).await.unwrap();
    let count = format!("SELECT count(*)::text FROM {s}.t");
    let no_tt = list(&format!(r#"{{"src": {{"name": "{s}", "all": true, "ddl_op": "ct,at,dt,rt"}}}}"#));
    assert!(!applier.apply_ddl(&no_tt, &ddl, &SourcePosition::Lsn(7), 7).await.unwrap());
    assert_eq!(rows(&c, &count).await, vec!["5"]);
    assert_eq!(applier.checkpoint().await.unwrap(), Some((SourcePosition::Lsn(7), 7)));
    let other = DdlChange { kind: DdlKind::DropTable, statement: "DROP TABLE src.t".into(), ..ddl.clone() };
    let all = list(&format!(r#"{{"src": {{"name": "{s}", "all": true}}}}"#));
    assert!(!applier.apply_ddl(&no_tt, &DdlChange { kind: DdlKind::Other, ..other.clone() }, &SourcePosition::Lsn(8), 8).await.unwrap());
    let no_dt = list(&format!(r#"{{"src": {{"name": "{s}", "all": true, "ddl_op": "tt"}}}}"#));
    assert!(!applier.apply_ddl(&no_dt, &other, &SourcePosition::Lsn(8), 8).await.unwrap(), "dt not allowed");
    assert_eq!(rows(&c, &count).await, vec!["5"]);
    assert!(applier.apply_ddl(&all, &ddl, &SourcePosition::Lsn(9), 9).await.unwrap());
    assert_eq!(rows(&c, &count).await, vec!["0"]);
    assert_eq!(applier.checkpoint().await.unwrap(), Some((SourcePosition::Lsn(9), 9)));
    drop_schema(&c, &s).await;
}

#[tokio::test]
async fn unique_index_keys_identity_columns_and_large_batches() {
    let Some(ep) = admin("unique_index_keys_identity_columns_and_large_batches") else { return };
    let (c, s) = fresh_schema(
        &ep,
        "big",
        &[
            "CREATE TABLE {s}.ident (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text)",
            "CREATE TABLE {s}.uniq (code text NOT NULL, n int, note text NULL)",
            "CREATE UNIQUE INDEX ON {s}.uniq (code)",
        ],
    )
    .await;
    let db_list = list(&format!(r#"{{"{s}": {{"all": true}}}}"#));
    let mut batch = Vec::new();
    for i in 0..2500i64 {
        batch.push(change(&s, "ident", RowOp::Insert, &["id", "v"], None, Some(vec![Cell::Int(i), text(&format!("v{i}"))])));
        batch.push(change(&s, "uniq", RowOp::Insert, &["code", "n", "note"], None, Some(vec![text(&format!("c{}", i % 100)), Cell::Int(i), Cell::Null])));
    }
    for i in 0..2500i64 {
        batch.push(change(&s, "ident", RowOp::Update, &["id", "v"], Some(vec![Cell::Int(i), Cell::Null]), Some(vec![Cell::Int(i), text("w")])));
    }
    let mut applier = ChangeApplier::connect(&ep, &format!("job-{s}")).await.unwrap();
    for _ in 0..2 {
        let applied = applier.apply_rows(&db_list, &batch, &SourcePosition::Lsn(1), 1).await.unwrap();
        assert_eq!(applied.rows, 7500);
        assert_eq!(
            rows(&c, &format!("SELECT count(*) || '|' || count(*) FILTER (WHERE v = 'w') FROM {s}.ident")).await,
            vec!["2500|2500"]
        );
        // The last write of each code wins.
        assert_eq!(rows(&c, &format!("SELECT count(*) || '|' || min(n) || '|' || max(n) FROM {s}.uniq")).await, vec!["100|2400|2499"]);
    }
    drop_schema(&c, &s).await;
}

#[tokio::test]
async fn captured_ddl_is_replayed_in_the_mapped_schema_once() {
    let Some(ep) = admin("captured_ddl_is_replayed_in_the_mapped_schema_once") else { return };
    let (c, s) = fresh_schema(&ep, "ddl", &["CREATE TABLE {s}.t (id int PRIMARY KEY)"]).await;
    let db_list = list(&format!(r#"{{"src": {{"name": "{s}", "all": true, "Table": {{"old": {{"name": "renamed", "all": true}}}}}}}}"#));
    let ddl = |kind, sql: &str, tables: &[&str]| DdlChange {
        schema: "src".into(),
        statement: sql.into(),
        kind,
        tables: tables.iter().map(|t| TableId::new("src", *t)).collect(),
    };
    let mut applier = ChangeApplier::connect(&ep, &format!("job-{s}")).await.unwrap();
    let columns = format!("SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = '{s}' AND table_name = 't'");
    // Unqualified: runs with search_path = the destination schema; the
    // second run meets its end state (duplicate column) and is skipped.
    let add = ddl(DdlKind::AlterTable, "ALTER TABLE t ADD COLUMN c text", &["t"]);
    assert!(applier.apply_ddl(&db_list, &add, &SourcePosition::Lsn(1), 1).await.unwrap());
    assert!(!applier.apply_ddl(&db_list, &add, &SourcePosition::Lsn(2), 2).await.unwrap());
    assert_eq!(rows(&c, &columns).await, vec!["id,c"]);
    assert_eq!(applier.checkpoint().await.unwrap(), Some((SourcePosition::Lsn(2), 2)));
    // Qualified names and a table the DbList renames.
    let create = ddl(DdlKind::CreateTable, "CREATE TABLE src.old (id int PRIMARY KEY, t_id int REFERENCES src.t (id))", &["old"]);
    assert!(applier.apply_ddl(&db_list, &create, &SourcePosition::Lsn(3), 3).await.unwrap());
    assert_eq!(rows(&c, &format!("SELECT (to_regclass('{s}.renamed') IS NOT NULL)::text")).await, vec!["true"]);
    // Ambiguous (a column named like the renamed table): skipped, checkpoint kept.
    let odd = ddl(DdlKind::AlterTable, "ALTER TABLE old ADD COLUMN old int", &["old"]);
    assert!(!applier.apply_ddl(&db_list, &odd, &SourcePosition::Lsn(4), 4).await.unwrap());
    assert_eq!(applier.checkpoint().await.unwrap(), Some((SourcePosition::Lsn(4), 4)));
    // The cached shape follows the DDL: rows with the new column apply.
    let insert = change("src", "t", RowOp::Insert, &["id", "c"], None, Some(vec![Cell::Int(1), text("x")]));
    applier.apply_rows(&db_list, &[insert], &SourcePosition::Lsn(5), 5).await.unwrap();
    let drop = ddl(DdlKind::DropTable, "DROP TABLE old", &["old"]);
    assert!(applier.apply_ddl(&db_list, &drop, &SourcePosition::Lsn(6), 6).await.unwrap());
    assert!(!applier.apply_ddl(&db_list, &drop, &SourcePosition::Lsn(7), 7).await.unwrap());
    // A real error is not swallowed.
    let bad = ddl(DdlKind::AlterTable, "ALTER TABLE t ADD COLUMN d nosuchtype", &["t"]);
    assert!(applier.apply_ddl(&db_list, &bad, &SourcePosition::Lsn(8), 8).await.is_err());
    assert_eq!(applier.checkpoint().await.unwrap(), Some((SourcePosition::Lsn(7), 7)));
    drop_schema(&c, &s).await;
}

#[tokio::test]
async fn inserted_rows_that_exist_on_the_destination_are_overwritten_not_failed() {
    let Some(ep) = admin("inserted_rows_that_exist_on_the_destination_are_overwritten_not_failed") else { return };
    let (c, s) = fresh_schema(
        &ep,
        "fresh",
        &["CREATE TABLE {s}.t (id int PRIMARY KEY, v text)", "INSERT INTO {s}.t VALUES (2, 'old two'), (7, 'old seven')"],
    )
    .await;
    let db_list = list(&format!(r#"{{"src": {{"name": "{s}", "all": true}}}}"#));
    let cols = ["id", "v"];
    let ins = |id: i64, v: &str| change("src", "t", RowOp::Insert, &cols, None, Some(vec![Cell::Int(id), text(v)]));
    let del = |id: i64| change("src", "t", RowOp::Delete, &cols, Some(vec![Cell::Int(id), Cell::Null]), None);
    let all_sql = format!("SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM {s}.t");
    let job = format!("job-{s}");
    let mut applier = ChangeApplier::connect(&ep, &job).await.unwrap();

    // Rows the source inserted: new ones go in, the ones the destination
    // already has (a snapshot overlapping the log) take the source's values.
    let batch = vec![ins(1, "one"), ins(2, "two"), ins(3, "three")];
    applier.apply_rows(&db_list, &batch, &SourcePosition::Lsn(100), 1).await.unwrap();
    assert_eq!(rows(&c, &all_sql).await, vec!["1=one,2=two,3=three,7=old seven"]);

    // The same batch replayed, then one that deletes and inserts a key again
    // in one batch while the row is on the destination: the delete is merged
    // away, and the insert overwrites.
    applier.apply_rows(&db_list, &batch, &SourcePosition::Lsn(100), 1).await.unwrap();
    let batch = vec![del(7), ins(7, "new seven"), ins(8, "eight"), del(3)];
    applier.apply_rows(&db_list, &batch, &SourcePosition::Lsn(200), 2).await.unwrap();
    assert_eq!(rows(&c, &all_sql).await, vec!["1=one,2=two,7=new seven,8=eight"]);

    // A fresh applier (plain INSERTs tried again) meets an existing row in the middle of a batch.
    let mut applier = ChangeApplier::connect(&ep, &job).await.unwrap();
    let batch = vec![ins(9, "nine"), ins(8, "eight again"), ins(10, "ten")];
    applier.apply_rows(&db_list, &batch, &SourcePosition::Lsn(300), 3).await.unwrap();
    assert_eq!(rows(&c, &all_sql).await, vec!["1=one,2=two,7=new seven,8=eight again,9=nine,10=ten"]);
    assert_eq!(applier.checkpoint().await.unwrap().map(|(p, _)| p), Some(SourcePosition::Lsn(300)));
    drop_schema(&c, &s).await;
}
