//! DDL capture of a PostgreSQL source, end to end: the event trigger logs DDL,
//! the WAL source turns it into Ddl events in place, and the applier replays
//! it on a destination whose schema the DbList renames. Each test uses fresh
//! databases, dropped at the end. Run when OPENDTS_TEST_PG_PORT is set.
//! Env: OPENDTS_TEST_PG_PORT, OPENDTS_TEST_PG_PASSWORD (default `opendts-root`),
//! OPENDTS_TEST_PG_USER (default `postgres`, a superuser), OPENDTS_TEST_PG_HOST (default 127.0.0.1).

use opendts_connector_postgres::apply::ChangeApplier;
use opendts_connector_postgres::wal::{
    check_ddl_capture, drop_slot_and_publication, ensure_slot_and_publication_with, install_ddl_capture, whole_schemas,
    PublicationSpec, WalError, WalSource, WalSourceConfig,
};
use opendts_core::change::{ChangeEvent, DdlKind, SourcePosition};
use opendts_core::dblist::{DbList, DbListContext};
use opendts_core::endpoint::Endpoint;
use opendts_core::row::{Cell, TableId};
use opendts_core::secret::Secret;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

mod support;
use support::admin;

fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("odts_ddl_{tag}_{}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed), nanos % 100_000)
}

fn in_db(ep: &Endpoint, db: &str) -> Endpoint {
    Endpoint { database_name: db.to_string(), ..ep.clone() }
}

async fn client(ep: &Endpoint) -> tokio_postgres::Client {
    let db = if ep.database_name.is_empty() { "postgres".to_string() } else { ep.database_name.clone() };
    let (client, conn) = tokio_postgres::Config::new()
        .host(ep.ip.clone())
        .port(ep.port_number().unwrap())
        .user(ep.user_name.clone())
        .password(ep.password.expose())
        .dbname(&db)
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

async fn run(c: &tokio_postgres::Client, s: &str) {
    c.batch_execute(s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
}

/// A one-line description of an event, for exact sequence assertions.
fn describe(ev: &ChangeEvent) -> String {
    match ev {
        ChangeEvent::Ddl { ddl, .. } => {
            let tables: Vec<String> = ddl.tables.iter().map(|t| t.to_string()).collect();
            format!("ddl {:?} [{}] in {}: {}", ddl.kind, tables.join(" "), ddl.schema, ddl.statement)
        }
        ChangeEvent::Transaction { rows, .. } => {
            let rows: Vec<String> = rows
                .iter()
                .map(|r| {
                    let first = r.after.as_ref().or(r.before.as_ref()).and_then(|c| c.first().cloned()).unwrap_or(Cell::Null);
                    format!("{:?} {} {:?}", r.op, r.table, first)
                })
                .collect();
            format!("rows {}", rows.join(", "))
        }
        ChangeEvent::Heartbeat { .. } => "heartbeat".into(),
    }
}

/// Events up to (and including) the transaction that inserts `orders` row 99.
async fn read_until_sentinel(src: &mut WalSource) -> Vec<ChangeEvent> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let ev = tokio::time::timeout_at(deadline, src.next()).await.expect("timed out waiting for changes").unwrap();
        if matches!(ev, ChangeEvent::Heartbeat { .. }) {
            continue;
        }
        let end = matches!(&ev, ChangeEvent::Transaction { rows, .. }
            if rows.iter().any(|r| r.table.table == "orders" && r.after.as_ref().is_some_and(|a| a[0] == Cell::Int(99))));
        out.push(ev);
        if end {
            return out;
        }
    }
}

/// Tables, columns and rows of `schema`, comparable between databases.
async fn contents(c: &tokio_postgres::Client, schema: &str) -> Vec<String> {
    let tables = c
        .query(
            "SELECT table_name::text, string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position)
             FROM information_schema.columns WHERE table_schema = $1 GROUP BY 1 ORDER BY 1",
            &[&schema],
        )
        .await
        .unwrap();
    let mut out = Vec::new();
    for t in tables {
        let name: String = t.get(0);
        let cols: String = t.get(1);
        let q = format!("SELECT coalesce(string_agg(x::text, ' ' ORDER BY x::text), '') FROM \"{schema}\".\"{name}\" AS x");
        let rows: String = c.query_one(&q, &[]).await.unwrap().get(0);
        let idx: Vec<String> = c
            .query("SELECT indexname::text FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 ORDER BY 1", &[&schema, &name])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        out.push(format!("{name} ({cols}) idx [{}] rows {rows}", idx.join(" ")));
    }
    out
}

/// Applies the events; with `twice`, every DDL but TRUNCATE is applied a
/// second time right after the first (a replay over its own end state).
async fn apply_all(applier: &mut ChangeApplier, list: &DbList, events: &[ChangeEvent], twice: bool) {
    for ev in events {
        match ev {
            ChangeEvent::Transaction { rows, position, timestamp } => {
                applier.apply_rows(list, rows, position, *timestamp as i64).await.unwrap_or_else(|e| panic!("{}: {e}", describe(ev)));
            }
            ChangeEvent::Ddl { ddl, position, timestamp } => {
                let ran = applier.apply_ddl(list, ddl, position, *timestamp as i64).await.unwrap_or_else(|e| panic!("{}: {e}", describe(ev)));
                if twice && ddl.kind != DdlKind::TruncateTable {
                    let again = applier.apply_ddl(list, ddl, position, *timestamp as i64).await.unwrap_or_else(|e| panic!("{}: {e}", describe(ev)));
                    assert!(!again || !ran || ddl.kind == DdlKind::CreateTable && ddl.statement.contains("IF NOT EXISTS"), "{}", describe(ev));
                }
            }
            ChangeEvent::Heartbeat { .. } => {}
        }
    }
}

#[tokio::test]
async fn ddl_is_captured_in_place_and_replayed_with_renames() {
    let Some(ep) = admin("ddl_is_captured_in_place_and_replayed_with_renames") else { return };
    let root = client(&ep).await;
    let (src_db, dst_db) = (unique("src"), unique("dst"));
    run(&root, &format!("CREATE DATABASE {src_db}")).await;
    run(&root, &format!("CREATE DATABASE {dst_db}")).await;
    let (src_ep, dst_ep) = (in_db(&ep, &src_db), in_db(&ep, &dst_db));
    let src = client(&src_ep).await;
    run(&src, "CREATE SCHEMA shop; CREATE TABLE shop.orders (id int PRIMARY KEY, v text); CREATE SCHEMA other").await;

    let capture = install_ddl_capture(&src_ep).await.unwrap();
    assert!(capture.created);
    assert_eq!(capture.log_table, TableId::new("opendts_meta", "ddl_log"));
    // Idempotent, and concurrent installers serialize.
    let (a, b) = tokio::join!(install_ddl_capture(&src_ep), install_ddl_capture(&src_ep));
    assert!(!a.unwrap().created && !b.unwrap().created);
    assert!(check_ddl_capture(&src_ep).await.unwrap());

    let list = DbList::parse(r#"{"shop":{"name":"shop2","all":true}}"#, DbListContext::Migration).unwrap();
    let tables = vec![TableId::new("shop", "orders")];
    let spec = PublicationSpec { follow_schemas: whole_schemas(&list, &tables), tables, ddl_log: true };
    assert_eq!(spec.follow_schemas, ["shop"]);
    let job = src_db.clone();
    let mut info = ensure_slot_and_publication_with(&src_ep, &job, &spec).await.unwrap();
    info.release_snapshot();
    let mut cfg = WalSourceConfig::new(src_ep.clone(), info.slot.clone(), info.publication.clone(), info.consistent_lsn);
    cfg.heartbeat = Duration::from_secs(2);
    let mut wal = WalSource::connect(cfg).await.unwrap();

    for s in [
        // A new table of a schema selected whole, with rows in its own transaction.
        "BEGIN; CREATE TABLE shop.items (id int PRIMARY KEY, name text); INSERT INTO shop.items VALUES (1, 'a'); COMMIT;",
        "ALTER TABLE shop.items ADD COLUMN qty int DEFAULT 0",
        "INSERT INTO shop.items VALUES (2, 'b', 5); INSERT INTO shop.orders VALUES (1, 'o')",
        "ALTER TABLE shop.items RENAME TO goods",
        "INSERT INTO shop.goods VALUES (3, 'c', 1)",
        "TRUNCATE shop.orders",
        // Several statements in one query string (one implicit transaction);
        // the temporary table is not logged but counts among the CREATE TABLEs.
        "CREATE TABLE shop.tmp (id int PRIMARY KEY); ALTER TABLE shop.goods ADD COLUMN note text DEFAULT 'x;y'; \
         INSERT INTO shop.tmp VALUES (7); CREATE TEMP TABLE scratch (a int); CREATE TABLE other.y (id int)",
        "CREATE INDEX goods_name ON shop.goods (name)",
        "DROP TABLE shop.tmp",
        // DDL run by a DO block cannot be isolated: reported as Other, not replayed.
        "DO $$ BEGIN EXECUTE 'CREATE TABLE shop.dyn (id int)'; END $$",
        "DROP TABLE shop.dyn",
        // Never logged: the capture's own schema.
        "CREATE TABLE opendts_meta.junk (a int); DROP TABLE opendts_meta.junk",
        "INSERT INTO shop.orders VALUES (99, 'end')",
    ] {
        run(&src, s).await;
    }
    let events = read_until_sentinel(&mut wal).await;
    let got: Vec<String> = events.iter().map(describe).collect();
    let expected = [
        "ddl CreateTable [shop.items] in shop: CREATE TABLE shop.items (id int PRIMARY KEY, name text)",
        "rows Insert shop.items Int(1)",
        "ddl AlterTable [shop.items] in shop: ALTER TABLE shop.items ADD COLUMN qty int DEFAULT 0",
        "rows Insert shop.items Int(2), Insert shop.orders Int(1)",
        "ddl RenameTable [shop.items shop.goods] in shop: ALTER TABLE shop.items RENAME TO goods",
        "rows Insert shop.goods Int(3)",
        "ddl TruncateTable [shop.orders] in shop: TRUNCATE TABLE \"shop\".\"orders\"",
        "ddl CreateTable [shop.tmp] in shop: CREATE TABLE shop.tmp (id int PRIMARY KEY)",
        "ddl AlterTable [shop.goods] in shop: ALTER TABLE shop.goods ADD COLUMN note text DEFAULT 'x;y'",
        "rows Insert shop.tmp Int(7)",
        "ddl CreateTable [other.y] in other: CREATE TABLE other.y (id int)",
        "ddl AlterTable [shop.goods] in shop: CREATE INDEX goods_name ON shop.goods (name)",
        "ddl DropTable [shop.tmp] in shop: DROP TABLE shop.tmp",
        "ddl Other [shop.dyn] in shop: DO $$ BEGIN EXECUTE 'CREATE TABLE shop.dyn (id int)'; END $$",
        "ddl DropTable [shop.dyn] in shop: DROP TABLE shop.dyn",
        "rows Insert shop.orders Int(99)",
    ];
    assert_eq!(got, expected);
    // Inside one transaction, only its last event carries the commit end LSN.
    let lsn = |ev: &ChangeEvent| match ev {
        ChangeEvent::Ddl { position: SourcePosition::Lsn(l), .. } | ChangeEvent::Transaction { position: SourcePosition::Lsn(l), .. } => *l,
        _ => 0,
    };
    assert!(lsn(&events[0]) < lsn(&events[1]));
    assert_eq!(lsn(&events[7]), lsn(&events[8]));
    assert!(lsn(&events[9]) < lsn(&events[10]));
    wal.close().await.unwrap();

    // Replay on the destination, schema shop renamed to shop2.
    let dst = client(&dst_ep).await;
    run(&dst, "CREATE SCHEMA shop2; CREATE TABLE shop2.orders (id int PRIMARY KEY, v text)").await;
    let mut applier = ChangeApplier::connect(&dst_ep, "job").await.unwrap();
    // Every DDL applied twice in a row: the second run meets its end state
    // (duplicate or missing object) and is skipped, as after a crash replay.
    apply_all(&mut applier, &list, &events, true).await;
    let want = contents(&src, "shop").await;
    assert_eq!(want.len(), 2, "{want:?}");
    assert_eq!(contents(&dst, "shop2").await, want);
    // "other" is not selected: nothing of it on the destination.
    let other: i64 = dst.query_one("SELECT count(*) FROM pg_namespace WHERE nspname = 'other'", &[]).await.unwrap().get(0);
    assert_eq!(other, 0);
    let position = applier.checkpoint().await.unwrap().unwrap().0;
    assert_eq!(Some(&position), events.last().map(|e| match e {
        ChangeEvent::Transaction { position, .. } => position,
        _ => unreachable!(),
    }));

    drop(applier);
    drop(info);
    drop_slot_and_publication(&src_ep, &job).await.unwrap();
    let registered: i64 =
        src.query_one("SELECT count(*) FROM opendts_meta.ddl_publications", &[]).await.unwrap().get(0);
    assert_eq!(registered, 0);
    drop((src, dst));
    run(&root, &format!("DROP DATABASE {src_db} WITH (FORCE)")).await;
    run(&root, &format!("DROP DATABASE {dst_db} WITH (FORCE)")).await;
}

#[tokio::test]
async fn a_role_without_superuser_gets_a_clear_error_and_nothing_is_created() {
    let Some(ep) = admin("a_role_without_superuser_gets_a_clear_error_and_nothing_is_created") else { return };
    let root = client(&ep).await;
    let (db, role) = (unique("nosu"), unique("role"));
    run(&root, &format!("CREATE DATABASE {db}")).await;
    run(&root, &format!("CREATE ROLE {role} LOGIN PASSWORD 'pw-{role}'; GRANT ALL ON DATABASE {db} TO {role}")).await;
    let user = Endpoint { user_name: role.clone(), password: Secret::new(format!("pw-{role}")), ..in_db(&ep, &db) };
    let err = install_ddl_capture(&user).await.unwrap_err();
    assert!(matches!(err, WalError::DdlCaptureDenied(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.starts_with("DDL will not be synchronized: ") && text.contains("superuser"), "{text}");
    assert!(matches!(check_ddl_capture(&user).await, Err(WalError::DdlCaptureDenied(_))));
    let c = client(&in_db(&ep, &db)).await;
    let left: i64 = c
        .query_one(
            "SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = 'opendts_meta')
                  + (SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'opendts%')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    drop(c);
    run(&root, &format!("DROP DATABASE {db} WITH (FORCE)")).await;
    run(&root, &format!("DROP ROLE {role}")).await;
}
