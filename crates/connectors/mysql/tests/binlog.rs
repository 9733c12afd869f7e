//! The binlog source against a real MariaDB. Runs when OPENDTS_TEST_MYSQL_PORT is
//! set (start one with `scripts/db/start-mariadb.sh 33061`; it must have log_bin,
//! binlog_format=ROW, binlog_row_image=FULL, binlog_row_metadata=FULL), skipped
//! otherwise. Env: OPENDTS_TEST_MYSQL_PORT, OPENDTS_TEST_MYSQL_PASSWORD (default
//! `opendts-root`), OPENDTS_TEST_MYSQL_USER (default `root`), OPENDTS_TEST_MYSQL_HOST.
//!
//! Every test works in a database of its own. The binlog is shared with whatever
//! else runs on the server, so the tests keep only the events of their database.

use mysql_async::prelude::Queryable;
use opendts_connector_mysql::binlog::{
    current_position, position_at_time, BinlogError, BinlogSource, BinlogSourceConfig,
};
use opendts_core::change::{ChangeEvent, DdlKind, RowChange, RowOp, SourcePosition};
use opendts_core::endpoint::Endpoint;
use opendts_core::row::{Cell, TableId};
use opendts_core::secret::Secret;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
}

fn admin(test: &str) -> Option<Endpoint> {
    let Ok(port) = std::env::var("OPENDTS_TEST_MYSQL_PORT") else {
        eprintln!(
            "skipping {test}: OPENDTS_TEST_MYSQL_PORT is not set (start a server with scripts/db/start-mariadb.sh)"
        );
        return None;
    };
    Some(Endpoint {
        engine_name: "MySQL".into(),
        ip: env_or("OPENDTS_TEST_MYSQL_HOST", "127.0.0.1"),
        port,
        user_name: env_or("OPENDTS_TEST_MYSQL_USER", "root"),
        password: Secret::new(env_or("OPENDTS_TEST_MYSQL_PASSWORD", "opendts-root")),
        ..Default::default()
    })
}

static N: AtomicU32 = AtomicU32::new(0);

fn unique(tag: &str) -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("odts_bl_{tag}_{}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed), nanos % 100_000)
}

/// A replica id no other test (or concurrent test run) uses: below both the
/// engine's job ids (0x40000000..) and position_at_time's scan ids (0x3F000000..).
fn server_id() -> u32 {
    0x3E00_0000 + (std::process::id() % 100_000) * 100 + N.fetch_add(1, Ordering::Relaxed) % 100
}

async fn conn(ep: &Endpoint) -> mysql_async::Conn {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(ep.ip.clone())
        .tcp_port(ep.port_number().unwrap())
        .user(Some(ep.user_name.clone()))
        .pass(Some(ep.password.expose().to_string()))
        .prefer_socket(false);
    mysql_async::Conn::new(opts).await.unwrap()
}

/// Runs statements in order on one session.
async fn run(ep: &Endpoint, stmts: &[&str]) {
    let mut c = conn(ep).await;
    for s in stmts {
        c.query_drop(*s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    c.disconnect().await.unwrap();
}

async fn source(ep: &Endpoint, start: SourcePosition) -> BinlogSource {
    BinlogSource::connect(BinlogSourceConfig {
        endpoint: ep.clone(),
        server_id: server_id(),
        start,
        heartbeat: Duration::from_secs(1),
        tables: None,
    })
    .await
    .unwrap()
}

/// The part of an event that concerns database `db`, if any.
fn ours(ev: ChangeEvent, db: &str) -> Option<ChangeEvent> {
    match ev {
        ChangeEvent::Transaction { rows, position, timestamp } => {
            let rows: Vec<RowChange> = rows.into_iter().filter(|r| r.table.schema == db).collect();
            (!rows.is_empty()).then_some(ChangeEvent::Transaction { rows, position, timestamp })
        }
        ChangeEvent::Ddl { ref ddl, .. }
            if ddl.schema == db || ddl.tables.iter().any(|t| t.schema == db) || ddl.statement.contains(db) =>
        {
            Some(ev)
        }
        _ => None,
    }
}

/// Reads events of `db` until the DDL that creates `db`.`zz_end`.
async fn collect(src: &mut BinlogSource, db: &str) -> Vec<ChangeEvent> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut out = Vec::new();
    loop {
        assert!(Instant::now() < deadline, "no end marker; got {out:#?}");
        let ev = tokio::time::timeout(Duration::from_secs(30), src.next()).await.expect("next timed out").unwrap();
        if let Some(ev) = ours(ev, db) {
            let end = matches!(&ev, ChangeEvent::Ddl { ddl, .. } if ddl.tables.contains(&TableId::new(db, "zz_end")));
            if end {
                return out;
            }
            out.push(ev);
        }
    }
}

fn end_marker(db: &str) -> String {
    format!("CREATE TABLE `{db}`.zz_end (a int)")
}

fn rows(ev: &ChangeEvent) -> &[RowChange] {
    match ev {
        ChangeEvent::Transaction { rows, .. } => rows,
        other => panic!("expected a transaction, got {other:?}"),
    }
}

fn b(s: &str) -> Cell {
    Cell::Bytes(s.as_bytes().to_vec())
}

fn date(year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8, micros: u32) -> Cell {
    Cell::Date { year, month, day, hour, minute, second, micros }
}

fn time(negative: bool, hours: u32, minutes: u8, seconds: u8, micros: u32) -> Cell {
    Cell::Time { negative, days: hours / 24, hours: (hours % 24) as u8, minutes, seconds, micros }
}

fn point(x: f64, y: f64) -> Cell {
    let mut v = vec![0, 0, 0, 0, 1, 1, 0, 0, 0];
    v.extend_from_slice(&x.to_le_bytes());
    v.extend_from_slice(&y.to_le_bytes());
    Cell::Bytes(v)
}

/// The rows as a SELECT returns them (binary protocol, NAMES binary, UTC), as
/// cells. The driver reports unsigned TINYINT..INT and YEAR values as `Int`; as
/// the binlog source does, they become `UInt` by the column's UNSIGNED flag.
async fn select_cells(ep: &Endpoint, sql: &str) -> Vec<Vec<Cell>> {
    let mut c = conn(ep).await;
    c.query_drop("SET NAMES binary, time_zone = '+00:00'").await.unwrap();
    let rows: Vec<mysql_async::Row> = c.exec(sql, ()).await.unwrap();
    c.disconnect().await.unwrap();
    rows.into_iter()
        .map(|r| {
            let unsigned: Vec<bool> = r
                .columns_ref()
                .iter()
                .map(|col| col.flags().contains(mysql_async::consts::ColumnFlags::UNSIGNED_FLAG))
                .collect();
            r.unwrap()
                .into_iter()
                .zip(unsigned)
                .map(|(v, unsigned)| match v {
                    mysql_async::Value::NULL => Cell::Null,
                    mysql_async::Value::Int(i) if unsigned => Cell::UInt(i as u64),
                    mysql_async::Value::Int(i) => Cell::Int(i),
                    mysql_async::Value::UInt(u) => Cell::UInt(u),
                    mysql_async::Value::Float(f) => Cell::Float(f),
                    mysql_async::Value::Double(d) => Cell::Double(d),
                    mysql_async::Value::Bytes(b) => Cell::Bytes(b),
                    mysql_async::Value::Date(y, mo, d, h, mi, s, us) => date(y, mo, d, h, mi, s, us),
                    mysql_async::Value::Time(n, d, h, mi, s, us) => {
                        Cell::Time { negative: n, days: d, hours: h, minutes: mi, seconds: s, micros: us }
                    }
                })
                .collect()
        })
        .collect()
}

const TYPES_DDL: &str = "CREATE TABLE t (
    id INT PRIMARY KEY,
    ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, su SMALLINT UNSIGNED,
    mi MEDIUMINT, mu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED,
    d DECIMAL(65,30), d2 DECIMAL(10,2), f FLOAT, dbl DOUBLE,
    dt DATE, dtm DATETIME(6), dt0 DATETIME, ts TIMESTAMP(3) NULL DEFAULT NULL, tm TIME, tm6 TIME(6), y YEAR,
    c CHAR(10), vc VARCHAR(300), bn BINARY(4), vb VARBINARY(10), tx TEXT, bl BLOB,
    e ENUM('a','b','c'), s SET('a','b','c'), bt BIT(10), b1 BIT(1), j JSON, g GEOMETRY, l1 CHAR(3) CHARACTER SET latin1
) CHARSET utf8mb4";

const NINES: &str = "99999999999999999999999999999999999.999999999999999999999999999999";

#[tokio::test]
async fn types_round_trip_exactly() {
    let Some(ep) = admin("types_round_trip_exactly") else {
        return;
    };
    let db = unique("types");
    run(&ep, &[&format!("CREATE DATABASE `{db}`")]).await;
    let start = current_position(&ep, T).await.unwrap();
    let mut src = source(&ep, start).await;
    let row1 = format!(
        "INSERT INTO t VALUES (1, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, \
         9223372036854775807, 18446744073709551615, '{NINES}', '12345678.90', 1.5, 1.7976931348623157e308, \
         '9999-12-31', '9999-12-31 23:59:59.999999', '2024-02-29 12:34:56', '2038-01-19 03:14:07.999', \
         '838:59:59', '25:00:00.000001', 2155, 'x', 'a😀b', 'ab', X'00FF00', 'text', X'00010200FF', \
         'c', 'a,c', b'1010101010', b'1', '{{\"a\": [1, 2.5, \"x\"], \"b\": null}}', ST_GeomFromText('POINT(1 2)'), \
         X'E9E0FF')"
    );
    let row2 = format!(
        "INSERT INTO t VALUES (2, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0, \
         '-{NINES}', '-0.01', -3.25, 2.2250738585072014e-308, '0000-00-00', '0000-00-00 00:00:00.000000', \
         '0000-00-00 00:00:00', '0000-00-00 00:00:00', '-838:59:59', '-00:00:01.500000', 0, '', '', '', X'', '', X'', \
         '', '', b'0', b'0', '[]', ST_GeomFromText('POINT(-1.5 0)'), '')"
    );
    let row3 = "INSERT INTO t (id, y) VALUES (3, 1901)";
    run(
        &ep,
        &[
            &format!("USE `{db}`"),
            "SET SESSION sql_mode = ''",
            "SET time_zone = '+00:00'",
            TYPES_DDL,
            &row1,
            &row2,
            row3,
            "UPDATE t SET ti = -1, vc = NULL, e = 'a', s = 'b' WHERE id = 1",
            "DELETE FROM t WHERE id = 2",
            "CREATE TABLE tz (id INT PRIMARY KEY, ts TIMESTAMP NULL DEFAULT NULL)",
            "SET time_zone = '+08:00'",
            "INSERT INTO tz VALUES (1, '2020-01-01 08:00:00')",
            &end_marker(&db),
        ],
    )
    .await;
    let evs = collect(&mut src, &db).await;
    // CREATE TABLE t, 3 inserts, update, delete, CREATE TABLE tz, insert
    assert_eq!(evs.len(), 8, "{evs:#?}");
    let ChangeEvent::Ddl { ddl, .. } = &evs[0] else { panic!("{:?}", evs[0]) };
    assert_eq!(
        (ddl.kind, ddl.tables.clone(), ddl.schema.as_str()),
        (DdlKind::CreateTable, vec![TableId::new(&db, "t")], db.as_str())
    );

    let names: Vec<&str> = vec![
        "id", "ti", "tu", "si", "su", "mi", "mu", "i", "iu", "bi", "bu", "d", "d2", "f", "dbl", "dt", "dtm", "dt0",
        "ts", "tm", "tm6", "y", "c", "vc", "bn", "vb", "tx", "bl", "e", "s", "bt", "b1", "j", "g", "l1",
    ];
    let expected1 = vec![
        Cell::Int(1),
        Cell::Int(127),
        Cell::UInt(255),
        Cell::Int(32767),
        Cell::UInt(65535),
        Cell::Int(8_388_607),
        Cell::UInt(16_777_215),
        Cell::Int(2_147_483_647),
        Cell::UInt(4_294_967_295),
        Cell::Int(i64::MAX),
        Cell::UInt(u64::MAX),
        b(NINES),
        b("12345678.90"),
        Cell::Float(1.5),
        Cell::Double(f64::MAX),
        date(9999, 12, 31, 0, 0, 0, 0),
        date(9999, 12, 31, 23, 59, 59, 999_999),
        date(2024, 2, 29, 12, 34, 56, 0),
        date(2038, 1, 19, 3, 14, 7, 999_000),
        time(false, 838, 59, 59, 0),
        time(false, 25, 0, 0, 1),
        Cell::UInt(2155),
        b("x"),
        b("a😀b"),
        Cell::Bytes(b"ab\0\0".to_vec()),
        Cell::Bytes(vec![0, 255, 0]),
        b("text"),
        Cell::Bytes(vec![0, 1, 2, 0, 255]),
        b("c"),
        b("a,c"),
        Cell::Bytes(vec![0x02, 0xAA]),
        Cell::Bytes(vec![0x01]),
        b(r#"{"a": [1, 2.5, "x"], "b": null}"#),
        point(1.0, 2.0),
        Cell::Bytes(vec![0xE9, 0xE0, 0xFF]),
    ];
    let expected2 = vec![
        Cell::Int(2),
        Cell::Int(-128),
        Cell::UInt(0),
        Cell::Int(-32768),
        Cell::UInt(0),
        Cell::Int(-8_388_608),
        Cell::UInt(0),
        Cell::Int(-2_147_483_648),
        Cell::UInt(0),
        Cell::Int(i64::MIN),
        Cell::UInt(0),
        b(&format!("-{NINES}")),
        b("-0.01"),
        Cell::Float(-3.25),
        Cell::Double(f64::MIN_POSITIVE),
        date(0, 0, 0, 0, 0, 0, 0),
        date(0, 0, 0, 0, 0, 0, 0),
        date(0, 0, 0, 0, 0, 0, 0),
        date(0, 0, 0, 0, 0, 0, 0),
        time(true, 838, 59, 59, 0),
        time(true, 0, 0, 1, 500_000),
        Cell::UInt(0),
        b(""),
        b(""),
        Cell::Bytes(vec![0, 0, 0, 0]),
        b(""),
        b(""),
        b(""),
        b(""),
        b(""),
        Cell::Bytes(vec![0, 0]),
        Cell::Bytes(vec![0]),
        b("[]"),
        point(-1.5, 0.0),
        b(""),
    ];
    let mut expected3 = vec![Cell::Null; names.len()];
    expected3[0] = Cell::Int(3);
    expected3[21] = Cell::UInt(1901);

    let t = TableId::new(&db, "t");
    for (ev, want) in evs[1..4].iter().zip([&expected1, &expected2, &expected3]) {
        let r = rows(ev);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].table.clone(), r[0].op, r[0].before.clone()), (t.clone(), RowOp::Insert, None));
        assert_eq!(*r[0].columns, names[..]);
        let got = r[0].after.as_ref().unwrap();
        for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
            assert_eq!(g, w, "column {}", names[i]);
        }
        assert_eq!(got.len(), want.len());
    }
    // Update: before is row 1, after has the changes.
    let u = rows(&evs[4]);
    assert_eq!(u.len(), 1);
    assert_eq!(u[0].op, RowOp::Update);
    assert_eq!(u[0].before.as_ref(), Some(&expected1));
    let mut after1 = expected1.clone();
    after1[1] = Cell::Int(-1);
    after1[23] = Cell::Null;
    after1[28] = b("a");
    after1[29] = b("b");
    assert_eq!(u[0].after.as_ref(), Some(&after1));
    // Delete: before is row 2.
    let d = rows(&evs[5]);
    assert_eq!((d[0].op, d[0].before.as_ref(), d[0].after.as_ref()), (RowOp::Delete, Some(&expected2), None));

    // The binlog cells equal what SELECT returns for the rows still there.
    let selected = select_cells(&ep, &format!("SELECT * FROM `{db}`.t ORDER BY id")).await;
    assert_eq!(selected, vec![after1.clone(), expected3.clone()]);

    // TIMESTAMP is UTC whatever the writing session's time zone.
    let tz = rows(&evs[7]);
    assert_eq!(tz[0].after.as_ref().unwrap()[1], date(2020, 1, 1, 0, 0, 0, 0));
    assert_eq!(select_cells(&ep, &format!("SELECT ts FROM `{db}`.tz")).await, vec![vec![date(2020, 1, 1, 0, 0, 0, 0)]]);

    src.close().await;
    run(&ep, &[&format!("DROP DATABASE `{db}`")]).await;
}

#[tokio::test]
async fn transactions_ddl_and_positions() {
    let Some(ep) = admin("transactions_ddl_and_positions") else {
        return;
    };
    let db = unique("tx");
    run(&ep, &[&format!("CREATE DATABASE `{db}`")]).await;
    let start = current_position(&ep, T).await.unwrap();
    let SourcePosition::Binlog { gtid: start_gtid, .. } = &start else { panic!() };
    assert!(start_gtid.as_deref().is_some_and(|g| g.split('-').count() >= 3), "{start:?}");
    let mut src = source(&ep, start.clone()).await;
    run(
        &ep,
        &[
            &format!("USE `{db}`"),
            "CREATE TABLE IF NOT EXISTS a (id INT PRIMARY KEY, v VARCHAR(10))",
            "BEGIN",
            "INSERT INTO a VALUES (1, 'one'), (2, 'two')",
            "UPDATE a SET v = 'uno' WHERE id = 1",
            "DELETE FROM a WHERE id = 2",
            "COMMIT",
            "INSERT INTO a VALUES (3, 'three')",
            "UPDATE a SET v = CONCAT(v, '!')",
            "ALTER TABLE a ADD COLUMN w INT NOT NULL DEFAULT 7",
            "INSERT INTO a (id, v) VALUES (4, 'four')",
            "CREATE TABLE c AS SELECT id FROM a",
            "CREATE TABLE b (id INT PRIMARY KEY)",
            "RENAME TABLE a TO a2, b TO b2",
            "TRUNCATE TABLE a2",
            "DROP TABLE IF EXISTS a2, b2",
            "CREATE VIEW v AS SELECT 1 AS x",
            &end_marker(&db),
        ],
    )
    .await;
    let evs = collect(&mut src, &db).await;
    let a = TableId::new(&db, "a");
    let kinds: Vec<String> = evs
        .iter()
        .map(|e| match e {
            ChangeEvent::Ddl { ddl, .. } => format!("{:?}", ddl.kind),
            ChangeEvent::Transaction { rows, .. } => format!("T{}", rows.len()),
            ChangeEvent::Heartbeat { .. } => "H".into(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "CreateTable",
            "T4",
            "T1",
            "T2",
            "AlterTable",
            "T1",
            "CreateTable",
            "T3",
            "CreateTable",
            "RenameTable",
            "TruncateTable",
            "DropTable",
            "Other"
        ],
        "{evs:#?}"
    );
    // The multi-statement transaction, in order.
    let t = rows(&evs[1]);
    let s = |x: &str| b(x);
    assert_eq!(
        t.iter().map(|r| (r.op, r.before.clone(), r.after.clone())).collect::<Vec<_>>(),
        vec![
            (RowOp::Insert, None, Some(vec![Cell::Int(1), s("one")])),
            (RowOp::Insert, None, Some(vec![Cell::Int(2), s("two")])),
            (RowOp::Update, Some(vec![Cell::Int(1), s("one")]), Some(vec![Cell::Int(1), s("uno")])),
            (RowOp::Delete, Some(vec![Cell::Int(2), s("two")]), None),
        ]
    );
    assert!(t.iter().all(|r| r.table == a && *r.columns == ["id", "v"]));
    // A multi-row UPDATE is one row change per row.
    assert_eq!(rows(&evs[3]).len(), 2);
    // After ALTER TABLE the new column is there, with its name.
    let r = &rows(&evs[5])[0];
    assert_eq!(*r.columns, ["id", "v", "w"]);
    assert_eq!(r.after.as_ref().unwrap(), &vec![Cell::Int(4), s("four"), Cell::Int(7)]);
    let ddl_tables = |i: usize| match &evs[i] {
        ChangeEvent::Ddl { ddl, .. } => ddl.tables.clone(),
        e => panic!("{e:?}"),
    };
    let tid = |n: &str| TableId::new(&db, n);
    // CREATE TABLE ... SELECT: the DDL, then its rows as a transaction.
    assert_eq!(ddl_tables(6), vec![tid("c")]);
    assert!(rows(&evs[7]).iter().all(|r| r.table == tid("c") && r.op == RowOp::Insert && *r.columns == ["id"]));
    assert_eq!(ddl_tables(9), vec![tid("a"), tid("a2"), tid("b"), tid("b2")]);
    assert_eq!(ddl_tables(10), vec![tid("a2")]);
    assert_eq!(ddl_tables(11), vec![tid("a2"), tid("b2")]);

    // Positions advance, carry the GTID, and match the server's own GTID for that offset.
    let mut last = (String::new(), 0u64);
    let mut c = conn(&ep).await;
    for e in &evs {
        let (ChangeEvent::Transaction { position, timestamp, .. } | ChangeEvent::Ddl { position, timestamp, .. }) = e
        else {
            continue;
        };
        let SourcePosition::Binlog { file, pos, gtid } = position else { panic!() };
        assert!((file.clone(), *pos) > last, "{position:?} after {last:?}");
        last = (file.clone(), *pos);
        assert!(*timestamp > 1_600_000_000);
        let server: Option<String> =
            c.exec_first("SELECT BINLOG_GTID_POS(?, ?)", (file.as_str(), *pos)).await.unwrap().flatten();
        assert_eq!(gtid.as_deref(), server.as_deref(), "{position:?}");
    }

    // Resuming from the position of the first transaction yields the next one.
    let ChangeEvent::Transaction { position, .. } = &evs[1] else { panic!() };
    src.close().await;
    let mut again = source(&ep, position.clone()).await;
    let next_ours = loop {
        if let Some(e) = ours(again.next().await.unwrap(), &db) {
            break e;
        }
    };
    assert_eq!(next_ours, evs[2]);
    again.close().await;
    c.disconnect().await.unwrap();
    run(&ep, &[&format!("DROP DATABASE `{db}`")]).await;
}

#[tokio::test]
async fn heartbeats_and_lost_connections() {
    let Some(ep) = admin("heartbeats_and_lost_connections") else {
        return;
    };
    let start = current_position(&ep, T).await.unwrap();
    let mut src = source(&ep, start.clone()).await;
    // An idle server yields heartbeats within a few periods. A server kept busy
    // by other tests sends none (it only beats when idle), but then every event
    // shows the same progress: accept the first one.
    let event = tokio::time::timeout(Duration::from_secs(30), src.next()).await.expect("neither a heartbeat nor any event");
    let hb = match event.unwrap() {
        ChangeEvent::Heartbeat { position, timestamp }
        | ChangeEvent::Transaction { position, timestamp, .. }
        | ChangeEvent::Ddl { position, timestamp, .. } => (position, timestamp),
    };
    let SourcePosition::Binlog { pos, .. } = &hb.0 else { panic!() };
    let SourcePosition::Binlog { pos: start_pos, .. } = &start else { panic!() };
    assert!(
        pos >= start_pos
            || matches!((&hb.0, &start), (SourcePosition::Binlog { file: a, .. }, SourcePosition::Binlog { file: b, .. }) if a != b)
    );
    assert!(hb.1 > 1_600_000_000);

    // Killing the replication connection surfaces as a retryable error.
    let id = src.connection_id();
    run(&ep, &[&format!("KILL {id}")]).await;
    let err = loop {
        match tokio::time::timeout(Duration::from_secs(30), src.next()).await.expect("no error after KILL") {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert!(err.is_retryable(), "{err:?}");
    let resume = src.position();
    drop(src);
    // ... and the caller resumes from the last position.
    let mut again = source(&ep, resume).await;
    let db = unique("hb");
    run(&ep, &[&format!("CREATE DATABASE `{db}`"), &end_marker(&db)]).await;
    let evs = collect(&mut again, &db).await;
    assert!(matches!(&evs[..], [ChangeEvent::Ddl { ddl, .. }] if ddl.kind == DdlKind::Other), "{evs:?}");
    again.close().await;
    run(&ep, &[&format!("DROP DATABASE `{db}`")]).await;
}

#[tokio::test]
async fn bad_start_positions_fail_early() {
    let Some(ep) = admin("bad_start_positions_fail_early") else {
        return;
    };
    let cfg = |start| BinlogSourceConfig {
        endpoint: ep.clone(),
        server_id: server_id(),
        start,
        heartbeat: Duration::from_secs(1),
        tables: None,
    };
    let err =
        BinlogSource::connect(cfg(SourcePosition::Binlog { file: "no-such-binlog.000001".into(), pos: 4, gtid: None }))
            .await
            .err()
            .unwrap();
    assert!(matches!(err, BinlogError::Source { code: 1236, .. }), "{err:?}");
    assert!(!err.is_retryable());
    let err = BinlogSource::connect(cfg(SourcePosition::Lsn(5))).await.err().unwrap();
    assert!(matches!(err, BinlogError::Invalid(_)), "{err:?}");
    let wrong = Endpoint { password: Secret::new("wrong-password-xyz"), ..ep.clone() };
    let err = current_position(&wrong, T).await.unwrap_err();
    assert!(matches!(err, BinlogError::Connect(_)), "{err:?}");
    assert!(!err.to_string().contains("wrong-password-xyz"));
}

#[tokio::test]
async fn position_at_time_finds_the_first_transaction_at_or_after() {
    let Some(ep) = admin("position_at_time_finds_the_first_transaction_at_or_after") else {
        return;
    };
    let db = unique("pat");
    run(&ep, &[&format!("CREATE DATABASE `{db}`"), &format!("CREATE TABLE `{db}`.t (id INT PRIMARY KEY)")]).await;
    run(&ep, &[&format!("INSERT INTO `{db}`.t VALUES (1)")]).await;
    // Wait for the next second boundary so the two inserts fall on either side of `at`.
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let at = now().floor() as i64 + 1;
    tokio::time::sleep(Duration::from_secs_f64((at as f64 - now()).max(0.0) + 0.05)).await;
    run(&ep, &[&format!("INSERT INTO `{db}`.t VALUES (2)"), &end_marker(&db)]).await;

    let p = position_at_time(&ep, at, Duration::from_secs(60)).await.unwrap();
    let SourcePosition::Binlog { file, pos, gtid } = &p else { panic!() };
    // The GTID at that position is the server's.
    let mut c = conn(&ep).await;
    let server: Option<String> =
        c.exec_first("SELECT BINLOG_GTID_POS(?, ?)", (file.as_str(), *pos)).await.unwrap().flatten();
    c.disconnect().await.unwrap();
    assert_eq!(gtid.as_deref(), server.as_deref(), "{p:?}");

    let mut src = source(&ep, p.clone()).await;
    let mut first_ts = None;
    let mut evs = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline);
        let ev = src.next().await.unwrap();
        if let ChangeEvent::Transaction { timestamp, .. } | ChangeEvent::Ddl { timestamp, .. } = &ev {
            first_ts.get_or_insert(*timestamp);
        }
        if let Some(e) = ours(ev, &db) {
            if matches!(&e, ChangeEvent::Ddl { ddl, .. } if ddl.tables.contains(&TableId::new(&db, "zz_end"))) {
                break;
            }
            evs.push(e);
        }
    }
    // The first transaction read is at or after the time, and ours is the one after it, not the earlier one.
    assert!(i64::from(first_ts.unwrap()) >= at, "{first_ts:?} < {at}");
    assert_eq!(evs.len(), 1, "{evs:#?}");
    assert_eq!(rows(&evs[0])[0].after, Some(vec![Cell::Int(2)]));
    src.close().await;

    // Far in the future: the end of the binlog, at or after the current position.
    let end = position_at_time(&ep, i64::from(u32::MAX), Duration::from_secs(60)).await.unwrap();
    let SourcePosition::Binlog { file: ef, pos: ep_pos, .. } = &end else { panic!() };
    assert!(ef > file || (ef == file && ep_pos > pos), "{end:?} vs {p:?}");
    // Before everything: the first transaction of the oldest file.
    let first = position_at_time(&ep, 0, Duration::from_secs(60)).await.unwrap();
    assert!(matches!(&first, SourcePosition::Binlog { pos, .. } if *pos >= 4), "{first:?}");
    run(&ep, &[&format!("DROP DATABASE `{db}`")]).await;
}

/// A server these tests may reconfigure (OPENDTS_TEST_MYSQL_SCRATCH_PORT): they
/// switch binlog_row_metadata to MINIMAL and write non-FULL row images and
/// statement-based events, which would break any other binlog reader of the
/// server. Skipped unless set; never point it at a shared server.
fn scratch(test: &str) -> Option<Endpoint> {
    let Ok(port) = std::env::var("OPENDTS_TEST_MYSQL_SCRATCH_PORT") else {
        eprintln!("skipping {test}: OPENDTS_TEST_MYSQL_SCRATCH_PORT is not set (a MariaDB this test may reconfigure)");
        return None;
    };
    admin(test).map(|ep| Endpoint { port, ..ep })
}

async fn next_of(src: &mut BinlogSource, db: &str) -> Result<ChangeEvent, BinlogError> {
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(30), src.next()).await.expect("next timed out")?;
        if let Some(e) = ours(ev, db) {
            return Ok(e);
        }
    }
}

#[tokio::test]
async fn scratch_minimal_metadata_partial_images_and_statements() {
    let Some(ep) = scratch("scratch_minimal_metadata_partial_images_and_statements") else {
        return;
    };
    let db = unique("scratch");
    run(&ep, &[&format!("CREATE DATABASE `{db}`"), "SET GLOBAL binlog_row_metadata = MINIMAL"]).await;

    // 1. Without column names in the binlog, information_schema supplies names,
    //    signedness, ENUM/SET members and BINARY padding, and DDL refreshes them.
    let start = current_position(&ep, T).await.unwrap();
    let mut src = source(&ep, start).await;
    run(
        &ep,
        &[
            &format!("USE `{db}`"),
            "CREATE TABLE m (id INT UNSIGNED PRIMARY KEY, t TINYINT UNSIGNED, e ENUM('x','y'), s SET('p','q'), bn BINARY(3))",
            "INSERT INTO m VALUES (4294967295, 255, 'y', 'p,q', 'a')",
        ],
    )
    .await;
    assert!(matches!(next_of(&mut src, &db).await.unwrap(), ChangeEvent::Ddl { .. }));
    let ev = next_of(&mut src, &db).await.unwrap();
    let r = &rows(&ev)[0];
    assert_eq!(*r.columns, ["id", "t", "e", "s", "bn"]);
    assert_eq!(
        r.after.as_ref().unwrap(),
        &vec![Cell::UInt(4_294_967_295), Cell::UInt(255), b("y"), b("p,q"), Cell::Bytes(b"a\0\0".to_vec())]
    );
    run(
        &ep,
        &[
            &format!("ALTER TABLE `{db}`.m ADD COLUMN z BIGINT UNSIGNED"),
            &format!("INSERT INTO `{db}`.m (id, z) VALUES (1, 18446744073709551615)"),
        ],
    )
    .await;
    assert!(
        matches!(next_of(&mut src, &db).await.unwrap(), ChangeEvent::Ddl { ddl, .. } if ddl.kind == DdlKind::AlterTable)
    );
    let ev = next_of(&mut src, &db).await.unwrap();
    let r = &rows(&ev)[0];
    assert_eq!(*r.columns, ["id", "t", "e", "s", "bn", "z"]);
    assert_eq!(r.after.as_ref().unwrap()[5], Cell::UInt(u64::MAX));
    run(&ep, &["SET GLOBAL binlog_row_metadata = FULL"]).await;

    // 2. A partial row image is refused with a clear error.
    run(&ep, &["SET SESSION binlog_row_image = MINIMAL", &format!("UPDATE `{db}`.m SET t = 1 WHERE id = 1")]).await;
    let err = next_of(&mut src, &db).await.unwrap_err();
    assert!(matches!(&err, BinlogError::Unsupported(m) if m.contains("binlog_row_image")), "{err:?}");
    assert!(!err.is_retryable());
    let resume = src.position();
    drop(src);

    // 3. So is a statement-based change (the source keeps failing at that event).
    let mut src = source(&ep, current_position(&ep, T).await.unwrap()).await;
    run(&ep, &["SET SESSION binlog_format = STATEMENT", &format!("UPDATE `{db}`.m SET t = 2 WHERE id = 1")]).await;
    let err = next_of(&mut src, &db).await.unwrap_err();
    assert!(matches!(&err, BinlogError::Unsupported(m) if m.contains("binlog_format=ROW")), "{err:?}");
    drop(src);
    // Resuming before the partial image fails again at the same event.
    let mut again = source(&ep, resume).await;
    assert!(matches!(next_of(&mut again, &db).await, Err(BinlogError::Unsupported(_))));
    drop(again);
    run(&ep, &[&format!("DROP DATABASE `{db}`")]).await;
}
