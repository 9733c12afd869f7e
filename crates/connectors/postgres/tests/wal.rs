//! Live tests of the WAL source against a real PostgreSQL server (wal_level=logical).
//! They run when OPENDTS_TEST_PG_PORT is set and are skipped otherwise.
//! Env: OPENDTS_TEST_PG_PORT, OPENDTS_TEST_PG_PASSWORD (default `opendts-root`),
//! OPENDTS_TEST_PG_USER (default `postgres`, a superuser), OPENDTS_TEST_PG_HOST (default 127.0.0.1).

use opendts_connector_postgres::wal::{
    drop_slot_and_publication, ensure_slot_and_publication, ensure_slot_and_publication_with, install_ddl_capture, slot_state,
    PublicationSpec, WalSource, WalSourceConfig,
};
use opendts_core::change::{ChangeEvent, RowChange, RowOp, SourcePosition};
use opendts_core::endpoint::Endpoint;
use opendts_core::row::{Cell, TableId};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

mod support;
use support::admin;

fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("odts_wal_{tag}_{}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed), nanos % 100_000)
}

async fn sql(ep: &Endpoint) -> tokio_postgres::Client {
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

async fn run(c: &tokio_postgres::Client, s: &str) {
    c.batch_execute(s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
}

/// The next `n` row changes (Transactions only), with each transaction's row count and position.
async fn transactions(src: &mut WalSource, n: usize) -> Vec<(Vec<RowChange>, u64)> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while out.len() < n {
        let ev = tokio::time::timeout_at(deadline, src.next()).await.expect("timed out waiting for changes").unwrap();
        match ev {
            ChangeEvent::Transaction { rows, position: SourcePosition::Lsn(lsn), timestamp } => {
                assert!(timestamp > 1_700_000_000, "commit timestamp {timestamp}");
                out.push((rows, lsn));
            }
            ChangeEvent::Transaction { .. } => panic!("not an LSN position"),
            ChangeEvent::Heartbeat { .. } => {}
            ChangeEvent::Ddl { ddl, .. } => panic!("unexpected DDL {ddl:?}"),
        }
    }
    out
}

fn config(ep: &Endpoint, slot: &str, start: u64) -> WalSourceConfig {
    let mut c = WalSourceConfig::new(ep.clone(), slot, slot, start);
    c.heartbeat = Duration::from_secs(2);
    c
}

fn bytes(s: &str) -> Cell {
    Cell::Bytes(s.as_bytes().to_vec())
}

#[tokio::test]
async fn rows_arrive_in_commit_order_with_cells() {
    let Some(ep) = admin("rows_arrive_in_commit_order_with_cells") else { return };
    let c = sql(&ep).await;
    let schema = unique("rows");
    run(&c, &format!(
        "CREATE SCHEMA {schema}; CREATE TABLE {schema}.t (id int PRIMARY KEY, name text, price numeric(10,2), ok bool, \
         f float8, b bytea, d date, ts timestamptz, tm time, j jsonb, u uuid, big bigint, s smallint)"
    ))
    .await;
    let job = schema.clone();
    let info = ensure_slot_and_publication(&ep, &job, &[TableId::new(&schema, "t")]).await.unwrap();
    assert!(info.created && info.snapshot.is_some(), "{info:?}");
    let again = ensure_slot_and_publication(&ep, &job, &[TableId::new(&schema, "t")]).await.unwrap();
    assert!(!again.created && again.snapshot.is_none(), "{again:?}");

    let mut src = WalSource::connect(config(&ep, &info.slot, info.consistent_lsn)).await.unwrap();
    run(&c, &format!(
        "BEGIN; SET LOCAL TimeZone='Asia/Shanghai'; \
         INSERT INTO {schema}.t VALUES (1, 'a', 12.30, true, 1.5, '\\x00ff', '2024-02-29', '2024-01-02 08:00:00.5+08', '23:59:59.123456', '{{\"k\": [1, 2]}}', \
           'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 9223372036854775807, -7); \
         INSERT INTO {schema}.t (id, name) VALUES (2, 'b'); COMMIT; \
         BEGIN; UPDATE {schema}.t SET name = 'a2', ok = false WHERE id = 1; UPDATE {schema}.t SET id = 3 WHERE id = 2; \
         DELETE FROM {schema}.t WHERE id = 1; COMMIT;"
    ))
    .await;
    let txs = transactions(&mut src, 2).await;
    assert!(txs[0].1 < txs[1].1 && txs[0].1 > info.consistent_lsn);

    let t = TableId::new(&schema, "t");
    let ins = &txs[0].0;
    assert_eq!(ins.len(), 2);
    assert_eq!((&ins[0].table, ins[0].op), (&t, RowOp::Insert));
    assert_eq!(*ins[0].columns, ["id", "name", "price", "ok", "f", "b", "d", "ts", "tm", "j", "u", "big", "s"]);
    assert_eq!(
        ins[0].after.as_ref().unwrap(),
        &vec![
            Cell::Int(1),
            bytes("a"),
            bytes("12.30"),
            Cell::Int(1),
            Cell::Double(1.5),
            Cell::Bytes(vec![0, 255]),
            Cell::Date { year: 2024, month: 2, day: 29, hour: 0, minute: 0, second: 0, micros: 0 },
            Cell::Date { year: 2024, month: 1, day: 2, hour: 0, minute: 0, second: 0, micros: 500_000 },
            Cell::Time { negative: false, days: 0, hours: 23, minutes: 59, seconds: 59, micros: 123_456 },
            bytes("{\"k\": [1, 2]}"),
            bytes("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            Cell::Int(i64::MAX),
            Cell::Int(-7),
        ]
    );
    assert_eq!(ins[1].after.as_ref().unwrap()[..3], [Cell::Int(2), bytes("b"), Cell::Null]);

    let ch = &txs[1].0;
    assert_eq!(ch.iter().map(|r| r.op).collect::<Vec<_>>(), [RowOp::Update, RowOp::Update, RowOp::Delete]);
    // Key unchanged: before carries the key only.
    assert_eq!(ch[0].before.as_ref().unwrap()[..2], [Cell::Int(1), Cell::Null]);
    assert_eq!(ch[0].after.as_ref().unwrap()[..4], [Cell::Int(1), bytes("a2"), bytes("12.30"), Cell::Int(0)]);
    // Key changed: before has the old key.
    assert_eq!(ch[1].before.as_ref().unwrap()[0], Cell::Int(2));
    assert_eq!(ch[1].after.as_ref().unwrap()[..2], [Cell::Int(3), bytes("b")]);
    assert_eq!(ch[2].before.as_ref().unwrap()[0], Cell::Int(1));
    assert!(ch[2].after.is_none());

    src.close().await.unwrap();
    drop(info);
    drop_slot_and_publication(&ep, &job).await.unwrap();
    run(&c, &format!("DROP SCHEMA {schema} CASCADE")).await;
}

#[tokio::test]
async fn unchanged_toast_values_are_left_out_or_taken_from_the_old_row() {
    let Some(ep) = admin("unchanged_toast_values_are_left_out_or_taken_from_the_old_row") else { return };
    let c = sql(&ep).await;
    let schema = unique("toast");
    run(&c, &format!(
        "CREATE SCHEMA {schema}; \
         CREATE TABLE {schema}.d (id int PRIMARY KEY, n int, big text); ALTER TABLE {schema}.d ALTER big SET STORAGE EXTERNAL; \
         CREATE TABLE {schema}.f (id int PRIMARY KEY, n int, big text); ALTER TABLE {schema}.f ALTER big SET STORAGE EXTERNAL; \
         ALTER TABLE {schema}.f REPLICA IDENTITY FULL;"
    ))
    .await;
    let job = schema.clone();
    let tables = [TableId::new(&schema, "d"), TableId::new(&schema, "f")];
    let mut info = ensure_slot_and_publication(&ep, &job, &tables).await.unwrap();
    info.release_snapshot();
    let mut src = WalSource::connect(config(&ep, &info.slot, info.consistent_lsn)).await.unwrap();
    let big: String = (0..20_000).map(|i| char::from(b'a' + (i * 7 % 26) as u8)).collect();
    run(&c, &format!(
        "INSERT INTO {schema}.d VALUES (1, 0, '{big}'); INSERT INTO {schema}.f VALUES (1, 0, '{big}'); \
         UPDATE {schema}.d SET n = 1 WHERE id = 1; UPDATE {schema}.f SET n = 1 WHERE id = 1;"
    ))
    .await;
    // One simple query with several statements is one implicit transaction.
    let txs = transactions(&mut src, 1).await;
    let rows = &txs[0].0;
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0].after.as_ref().unwrap()[2], bytes(&big));
    // Default identity: the unchanged TOASTed column is left out of the update.
    let d = &rows[2];
    assert_eq!((d.op, d.table.table.as_str()), (RowOp::Update, "d"));
    assert_eq!(*d.columns, ["id", "n"]);
    assert_eq!(d.after.as_ref().unwrap(), &vec![Cell::Int(1), Cell::Int(1)]);
    assert_eq!(d.before.as_ref().unwrap(), &vec![Cell::Int(1), Cell::Null]);
    // REPLICA IDENTITY FULL: the value comes from the old row.
    let f = &rows[3];
    assert_eq!(f.table.table, "f");
    assert_eq!(*f.columns, ["id", "n", "big"]);
    assert_eq!(f.after.as_ref().unwrap(), &vec![Cell::Int(1), Cell::Int(1), bytes(&big)]);
    assert_eq!(f.before.as_ref().unwrap(), &vec![Cell::Int(1), Cell::Int(0), bytes(&big)]);

    src.close().await.unwrap();
    drop_slot_and_publication(&ep, &job).await.unwrap();
    run(&c, &format!("DROP SCHEMA {schema} CASCADE")).await;
}

#[tokio::test]
async fn confirm_advances_the_slot_and_snapshot_matches_the_start() {
    let Some(ep) = admin("confirm_advances_the_slot_and_snapshot_matches_the_start") else { return };
    let c = sql(&ep).await;
    let schema = unique("confirm");
    run(&c, &format!("CREATE SCHEMA {schema}; CREATE TABLE {schema}.t (id int PRIMARY KEY); INSERT INTO {schema}.t VALUES (1)")).await;
    let job = schema.clone();
    let mut info = ensure_slot_and_publication(&ep, &job, &[TableId::new(&schema, "t")]).await.unwrap();
    // A row written after the slot's consistent point is not in the snapshot but is in the stream.
    run(&c, &format!("INSERT INTO {schema}.t VALUES (2)")).await;
    let mut snap = sql(&ep).await;
    let tx = snap.build_transaction().isolation_level(tokio_postgres::IsolationLevel::RepeatableRead).start().await.unwrap();
    tx.batch_execute(&format!("SET TRANSACTION SNAPSHOT '{}'", info.snapshot.as_deref().unwrap())).await.unwrap();
    let n: i64 = tx.query_one(&format!("SELECT count(*) FROM {schema}.t"), &[]).await.unwrap().get(0);
    assert_eq!(n, 1);
    tx.commit().await.unwrap();
    info.release_snapshot();

    let before = slot_state(&ep, &info.slot).await.unwrap().unwrap().confirmed_flush_lsn.unwrap();
    let mut src = WalSource::connect(config(&ep, &info.slot, info.consistent_lsn)).await.unwrap();
    let txs = transactions(&mut src, 1).await;
    assert_eq!(txs[0].0[0].after.as_ref().unwrap(), &vec![Cell::Int(2)]);
    let lsn = txs[0].1;
    assert!(lsn > before);
    // Not confirmed yet: the slot stays where it was.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(slot_state(&ep, &info.slot).await.unwrap().unwrap().confirmed_flush_lsn.unwrap() < lsn);
    src.confirm(lsn);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        // Keep reading so the stream (and its status updates) runs.
        let _ = tokio::time::timeout(Duration::from_millis(500), src.next()).await;
        let state = slot_state(&ep, &info.slot).await.unwrap().unwrap();
        if state.confirmed_flush_lsn.unwrap() >= lsn {
            assert!(state.active);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "confirmed_flush_lsn did not reach {lsn:X}: {state:?}");
    }
    drop(src);
    drop_slot_and_publication(&ep, &job).await.unwrap();
    run(&c, &format!("DROP SCHEMA {schema} CASCADE")).await;
}

#[tokio::test]
async fn drop_removes_slot_and_publication_even_while_streaming() {
    let Some(ep) = admin("drop_removes_slot_and_publication_even_while_streaming") else { return };
    let c = sql(&ep).await;
    let schema = unique("drop");
    run(&c, &format!("CREATE SCHEMA {schema}; CREATE TABLE {schema}.t (id int PRIMARY KEY)")).await;
    let job = schema.clone();
    let info = ensure_slot_and_publication(&ep, &job, &[TableId::new(&schema, "t")]).await.unwrap();
    let slot = info.slot.clone();
    drop(info);
    let src = WalSource::connect(config(&ep, &slot, 0)).await.unwrap();
    drop_slot_and_publication(&ep, &job).await.unwrap();
    assert!(slot_state(&ep, &slot).await.unwrap().is_none());
    let pubs: i64 = c.query_one("SELECT count(*) FROM pg_publication WHERE pubname = $1", &[&slot]).await.unwrap().get(0);
    assert_eq!(pubs, 0);
    // Idempotent.
    drop_slot_and_publication(&ep, &job).await.unwrap();
    drop(src);
    run(&c, &format!("DROP SCHEMA {schema} CASCADE")).await;
}

#[tokio::test]
async fn followed_schemas_keep_tables_the_trigger_added() {
    let Some(ep) = admin("followed_schemas_keep_tables_the_trigger_added") else { return };
    let root = sql(&ep).await;
    let db = unique("follow");
    run(&root, &format!("CREATE DATABASE {db}")).await;
    let src = Endpoint { database_name: db.clone(), ..ep.clone() };
    let (c, conn) = tokio_postgres::Config::new()
        .host(ep.ip.clone())
        .port(ep.port_number().unwrap())
        .user(ep.user_name.clone())
        .password(ep.password.expose())
        .dbname(&db)
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    run(&c, "CREATE SCHEMA s; CREATE TABLE s.a (id int PRIMARY KEY); CREATE SCHEMA u; CREATE TABLE u.z (id int PRIMARY KEY)").await;
    install_ddl_capture(&src).await.unwrap();
    let spec = PublicationSpec { tables: vec![TableId::new("s", "a")], follow_schemas: vec!["s".into()], ddl_log: true };
    let info = ensure_slot_and_publication_with(&src, &db, &spec).await.unwrap();
    // Created, or moved into, the followed schema: published. Elsewhere: not.
    run(&c, "CREATE TABLE s.b (id int); CREATE TABLE u.y (id int); ALTER TABLE u.z SET SCHEMA s").await;
    let q = format!(
        "SELECT string_agg(schemaname || '.' || tablename, ',' ORDER BY schemaname, tablename) FROM pg_publication_tables WHERE pubname = '{}'",
        info.publication
    );
    assert_eq!(c.query_one(&q, &[]).await.unwrap().get::<_, String>(0), "opendts_meta.ddl_log,s.a,s.b,s.z");
    // A second ensure with the original list keeps them.
    let again = ensure_slot_and_publication_with(&src, &db, &spec).await.unwrap();
    assert!(!again.created);
    assert_eq!(c.query_one(&q, &[]).await.unwrap().get::<_, String>(0), "opendts_meta.ddl_log,s.a,s.b,s.z");
    // Without DDL capture, the plain call still works and follows nothing.
    assert!(ensure_slot_and_publication_with(&src, &db, &PublicationSpec { follow_schemas: vec!["s".into()], ..Default::default() }).await.is_err());
    drop(info);
    drop_slot_and_publication(&src, &db).await.unwrap();
    let left: i64 = c.query_one("SELECT count(*) FROM opendts_meta.ddl_publications", &[]).await.unwrap().get(0);
    assert_eq!(left, 0);
    drop(c);
    run(&root, &format!("DROP DATABASE {db} WITH (FORCE)")).await;
}
