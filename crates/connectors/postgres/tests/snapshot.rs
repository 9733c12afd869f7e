//! Live tests of the PostgreSQL full-load reader (chunk planning, chunk reads,
//! filters, and reads inside the snapshot exported by a replication slot).
//! They run when OPENDTS_TEST_PG_PORT is set and are skipped otherwise.
//! Env: OPENDTS_TEST_PG_PORT, OPENDTS_TEST_PG_PASSWORD (default `opendts-root`),
//! OPENDTS_TEST_PG_USER (default `postgres`, a superuser), OPENDTS_TEST_PG_HOST (default 127.0.0.1).

use opendts_connector_postgres::schema::{self, TableMapping};
use opendts_connector_postgres::snapshot::{self, Chunk};
use opendts_connector_postgres::{session, wal};
use opendts_core::row::{Cell, TableId};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};

mod support;
use support::{admin, client, fresh_db, drop_db, list};

fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("odts_snap_{tag}_{}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed), nanos % 100_000)
}

async fn mappings(c: &tokio_postgres::Client, json: &str) -> Vec<TableMapping> {
    schema::selected_tables(c, &list(json)).await.unwrap()
}

/// Every row of every chunk, with the number of emitted batches, checking that no batch exceeds `batch`.
async fn read_all(c: &tokio_postgres::Client, m: &TableMapping, chunks: &[Chunk], batch: usize) -> (Vec<Vec<Cell>>, usize) {
    let mut rows = Vec::new();
    let mut batches = 0;
    for chunk in chunks {
        let mut got = Vec::new();
        let n = snapshot::read_chunk(c, m, chunk, batch, |b: Vec<Vec<Cell>>| {
            assert!(!b.is_empty() && b.len() <= batch, "batch of {}", b.len());
            batches += 1;
            got.extend(b);
            async { true }
        })
        .await
        .unwrap();
        assert_eq!(n as usize, got.len());
        rows.extend(got);
    }
    (rows, batches)
}

fn int(c: &Cell) -> i64 {
    match c {
        Cell::Int(i) => *i,
        other => panic!("not an int: {other:?}"),
    }
}

#[tokio::test]
async fn int_key_table_is_read_across_chunks_without_gaps_or_duplicates() {
    let Some(admin) = admin("int_key_table_is_read_across_chunks_without_gaps_or_duplicates") else { return };
    let ep = fresh_db(
        &admin,
        "int",
        &[
            "CREATE SCHEMA app",
            "CREATE TABLE app.t (id int PRIMARY KEY, v text, f float8, b bytea, ok boolean, ts timestamptz, n numeric(12,3))",
            "INSERT INTO app.t SELECT i, 'row ' || i, i / 3.0::float8, decode(lpad(to_hex(i % 256), 2, '0') || 'ff', 'hex'), \
                    i % 2 = 0, timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second', i + 0.5 \
             FROM generate_series(1, 1000) i",
            "UPDATE app.t SET v = NULL WHERE id = 500",
        ],
    )
    .await;
    let c = session::source(&ep).await.unwrap();
    let tables = mappings(&c, r#"{"app": {"name": "app", "all": true}}"#).await;
    let m = &tables[0];
    let chunks = snapshot::plan_chunks(&c, m, 100).await.unwrap();
    assert_eq!(chunks.len(), 10, "{chunks:?}");
    assert_eq!(chunks[0].lower, None);
    assert_eq!(chunks[0].upper, Some(vec![Cell::Int(101)]));
    assert_eq!(chunks[9].lower, Some(vec![Cell::Int(901)]));
    assert_eq!(chunks[9].upper, None);
    for (i, ch) in chunks.iter().enumerate() {
        assert_eq!(ch.index as usize, i);
        assert_eq!(serde_json::from_str::<Chunk>(&serde_json::to_string(ch).unwrap()).unwrap(), *ch);
    }
    snapshot::begin_snapshot_read(&c, None).await.unwrap();
    let (rows, batches) = read_all(&c, m, &chunks, 7).await;
    snapshot::end_snapshot_read(&c).await.unwrap();
    assert_eq!(rows.len(), 1000);
    assert!(batches >= 1000 / 7);
    let mut ids: Vec<i64> = rows.iter().map(|r| int(&r[0])).collect();
    ids.sort();
    assert_eq!(ids, (1..=1000).collect::<Vec<_>>(), "every row exactly once");
    for r in &rows {
        let i = int(&r[0]);
        let v = if i == 500 { Cell::Null } else { Cell::Bytes(format!("row {i}").into_bytes()) };
        let secs = i as u32;
        let expected = vec![
            Cell::Int(i),
            v,
            Cell::Double(i as f64 / 3.0),
            Cell::Bytes(vec![(i % 256) as u8, 0xff]),
            Cell::Int(i64::from(i % 2 == 0)),
            Cell::Date {
                year: 2024,
                month: 1,
                day: 1,
                hour: (secs / 3600) as u8,
                minute: (secs / 60 % 60) as u8,
                second: (secs % 60) as u8,
                micros: 0,
            },
            Cell::Bytes(format!("{i}.500").into_bytes()),
        ];
        assert_eq!(*r, expected, "row {i}");
    }
    drop(c);
    drop_db(&admin, &ep).await;
}

#[tokio::test]
async fn composite_keyless_and_filtered_tables() {
    let Some(admin) = admin("composite_keyless_and_filtered_tables") else { return };
    let ep = fresh_db(
        &admin,
        "comp",
        &[
            "CREATE SCHEMA app",
            "CREATE TABLE app.pairs (a int NOT NULL, b text NOT NULL, note text, PRIMARY KEY (a, b))",
            "INSERT INTO app.pairs SELECT a, 'x' || b, a || '/' || b FROM generate_series(1, 20) a, generate_series(1, 15) b",
            "CREATE TABLE app.heap (x int, y text)",
            "INSERT INTO app.heap SELECT i % 7, 'y' || i FROM generate_series(1, 50) i",
            "CREATE TABLE app.filtered (id bigint PRIMARY KEY, tag text)",
            "INSERT INTO app.filtered SELECT i, CASE WHEN i % 3 = 0 THEN 'it''s' ELSE 'other' END FROM generate_series(1, 300) i",
        ],
    )
    .await;
    let c = session::source(&ep).await.unwrap();
    let tables = mappings(
        &c,
        r#"{"app": {"name": "app", "all": true, "Table": {
            "filtered": {"name": "filtered", "all": true, "filter": "id > 100 AND tag = 'it''s'"}}}}"#,
    )
    .await;
    let by_name = |n: &str| tables.iter().find(|t| t.source == TableId::new("app", n)).unwrap_or_else(|| panic!("{n}: {tables:?}"));

    // Composite key: 300 rows in chunks of 37.
    let m = by_name("pairs");
    assert_eq!(m.schema.key.len(), 2);
    let chunks = snapshot::plan_chunks(&c, m, 37).await.unwrap();
    assert_eq!(chunks.len(), 300 / 37 + 1, "{chunks:?}");
    let (rows, _) = read_all(&c, m, &chunks, 10).await;
    assert_eq!(rows.len(), 300);
    let keys: HashSet<(i64, String)> = rows.iter().map(|r| (int(&r[0]), format!("{:?}", r[1]))).collect();
    assert_eq!(keys.len(), 300, "no duplicates");
    for r in &rows {
        let (a, b) = (int(&r[0]), String::from_utf8(match &r[1] { Cell::Bytes(b) => b.clone(), o => panic!("{o:?}") }).unwrap());
        assert_eq!(r[2], Cell::Bytes(format!("{a}/{}", &b[1..]).into_bytes()));
    }

    // Keyless: one unbounded chunk.
    let m = by_name("heap");
    assert!(m.schema.key.is_empty());
    let chunks = snapshot::plan_chunks(&c, m, 10).await.unwrap();
    assert_eq!(chunks, vec![Chunk { index: 0, lower: None, upper: None }]);
    let (rows, batches) = read_all(&c, m, &chunks, 16).await;
    assert_eq!(rows.len(), 50);
    assert_eq!(batches, 4);

    // Filtered: only rows passing the filter, string literal escaped.
    let m = by_name("filtered");
    assert!(m.filter.is_some());
    let chunks = snapshot::plan_chunks(&c, m, 64).await.unwrap();
    assert!(chunks.len() > 1);
    let (rows, _) = read_all(&c, m, &chunks, 50).await;
    let mut ids: Vec<i64> = rows.iter().map(|r| int(&r[0])).collect();
    ids.sort();
    assert_eq!(ids, (101..=300).filter(|i| i % 3 == 0).collect::<Vec<_>>());
    assert!(rows.iter().all(|r| r[1] == Cell::Bytes(b"it's".to_vec())));

    // A writer that stops ends the read with an error.
    let err = snapshot::read_chunk(&c, m, chunks.last().unwrap(), 5, |_| async { false }).await.unwrap_err();
    assert!(err.to_string().contains("stopped"), "{err}");
    // The abandoned stream leaves the session usable.
    assert_eq!(read_all(&c, m, &chunks, 50).await.0.len(), ids.len());
    drop(c);
    drop_db(&admin, &ep).await;
}

#[tokio::test]
async fn snapshot_read_does_not_see_rows_after_the_slot() {
    let Some(admin) = admin("snapshot_read_does_not_see_rows_after_the_slot") else { return };
    let ep = fresh_db(
        &admin,
        "slot",
        &[
            "CREATE SCHEMA app",
            "CREATE TABLE app.t (id int PRIMARY KEY, v text)",
            "INSERT INTO app.t SELECT i, 'v' || i FROM generate_series(1, 30) i",
        ],
    )
    .await;
    let job = unique("job");
    let mut info = wal::ensure_slot_and_publication(&ep, &job, &[TableId::new("app", "t")]).await.unwrap();
    let (created, snapshot_name) = (info.created, info.snapshot.clone());
    let (admin2, ep2) = (admin.clone(), ep.clone());
    let result = async move {
        let (admin, ep) = (admin2, ep2);
        assert!(created);
        let name = snapshot_name.expect("an exported snapshot");
        let writer = client(&admin, &ep.database_name).await;
        writer.batch_execute("INSERT INTO app.t VALUES (31, 'late'); DELETE FROM app.t WHERE id = 1").await.unwrap();

        let c = session::source(&ep).await.unwrap();
        let tables = mappings(&c, r#"{"app": {"name": "app", "all": true}}"#).await;
        let m = &tables[0];
        // Two readers importing the same snapshot, as parallel chunk readers do.
        let c2 = session::source(&ep).await.unwrap();
        snapshot::begin_snapshot_read(&c, Some(&name)).await.unwrap();
        snapshot::begin_snapshot_read(&c2, Some(&name)).await.unwrap();
        let chunks = snapshot::plan_chunks(&c, m, 8).await.unwrap();
        let (first, rest) = chunks.split_at(2);
        let (mut rows, _) = read_all(&c, m, first, 3).await;
        rows.extend(read_all(&c2, m, rest, 3).await.0);
        snapshot::end_snapshot_read(&c).await.unwrap();
        snapshot::end_snapshot_read(&c2).await.unwrap();
        let mut ids: Vec<i64> = rows.iter().map(|r| int(&r[0])).collect();
        ids.sort();
        assert_eq!(ids, (1..=30).collect::<Vec<_>>(), "the snapshot predates the insert and the delete");

        // Without the snapshot the new state is visible.
        snapshot::begin_snapshot_read(&c, None).await.unwrap();
        let (rows, _) = read_all(&c, m, &[Chunk { index: 0, lower: None, upper: None }], 100).await;
        snapshot::end_snapshot_read(&c).await.unwrap();
        assert_eq!(rows.len(), 30);
        assert!(rows.iter().any(|r| r[1] == Cell::Bytes(b"late".to_vec())));

        // A bad snapshot name is an error and leaves the session usable.
        assert!(snapshot::begin_snapshot_read(&c, Some("00000003-0000-0002-1")).await.is_err());
        assert!(snapshot::begin_snapshot_read(&c, Some("x'; DROP TABLE app.t; --")).await.is_err());
        snapshot::begin_snapshot_read(&c, None).await.unwrap();
        snapshot::end_snapshot_read(&c).await.unwrap();
    };
    // Clean up even when an assertion fails.
    let outcome = tokio::spawn(result).await;
    info.release_snapshot();
    wal::drop_slot_and_publication(&ep, &job).await.unwrap();
    drop_db(&admin, &ep).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[tokio::test]
async fn analyzed_integer_keys_are_cut_by_value_when_dense_and_walked_when_sparse() {
    let Some(admin) = admin("analyzed_integer_keys_are_cut_by_value_when_dense_and_walked_when_sparse") else { return };
    let ep = fresh_db(
        &admin,
        "spans",
        &[
            "CREATE SCHEMA app",
            // Dense with a few holes, starting below zero (-93 % 10 is -3: kept).
            "CREATE TABLE app.dense (id bigint PRIMARY KEY, v text)",
            "INSERT INTO app.dense SELECT i, 'd' || i FROM generate_series(-99, 1900) i WHERE i % 10 <> 3",
            // Sparse: one key every thousand values.
            "CREATE TABLE app.sparse (id int PRIMARY KEY, v text)",
            "INSERT INTO app.sparse SELECT i * 1000, 's' || i FROM generate_series(1, 500) i",
            "CREATE TABLE app.empty (id smallint PRIMARY KEY)",
            "ANALYZE app.dense, app.sparse, app.empty",
        ],
    )
    .await;
    let c = session::source(&ep).await.unwrap();
    let tables = mappings(&c, r#"{"app": {"name": "app", "all": true}}"#).await;
    let by_name = |n: &str| tables.iter().find(|t| t.source == TableId::new("app", n)).unwrap_or_else(|| panic!("{n}: {tables:?}"));

    // 1810 rows over 2000 values, chunks of about 200 rows: 9 equal spans of 223 values from -99 on.
    let m = by_name("dense");
    assert_eq!(m.estimated_rows, 1810);
    let chunks = snapshot::plan_chunks(&c, m, 200).await.unwrap();
    assert_eq!(chunks.len(), 9, "{chunks:?}");
    assert_eq!(chunks[0].upper, Some(vec![Cell::Int(-99 + 223)]));
    assert_eq!(chunks[8].lower, Some(vec![Cell::Int(-99 + 8 * 223)]));
    let (rows, _) = read_all(&c, m, &chunks, 100).await;
    let mut ids: Vec<i64> = rows.iter().map(|r| int(&r[0])).collect();
    ids.sort();
    assert_eq!(ids, (-99..=1900).filter(|i: &i64| i % 10 != 3).collect::<Vec<_>>(), "every row exactly once");

    // Too sparse for equal spans: boundaries walked on the keys, every 100 rows.
    let m = by_name("sparse");
    let chunks = snapshot::plan_chunks(&c, m, 100).await.unwrap();
    assert_eq!(chunks.len(), 5, "{chunks:?}");
    assert_eq!(chunks[0].upper, Some(vec![Cell::Int(101_000)]));
    let (rows, _) = read_all(&c, m, &chunks, 100).await;
    assert_eq!(rows.len(), 500);

    // No rows: one open chunk.
    let m = by_name("empty");
    assert_eq!(snapshot::plan_chunks(&c, m, 100).await.unwrap(), vec![Chunk { index: 0, lower: None, upper: None }]);
    drop(c);
    drop_db(&admin, &ep).await;
}
