//! The data-path precheck items against a real MySQL-family server. They run
//! when OPENDTS_TEST_MYSQL_PORT is set (a CDC-configured server such as the
//! one `scripts/db/start-mariadb.sh 33061` starts) and are skipped otherwise.
//! Env: OPENDTS_TEST_MYSQL_PORT, OPENDTS_TEST_MYSQL_PASSWORD (default
//! `opendts-root`), OPENDTS_TEST_MYSQL_USER (default `root`),
//! OPENDTS_TEST_MYSQL_HOST (default 127.0.0.1).
//!
//! Each test creates its own uniquely named databases and drops them. The
//! same server serves as source and destination, with renamed databases.

use mysql_async::prelude::Queryable;
use opendts_connector_mysql::precheck::{self, data_path_items, run_item, PrecheckInput};
use opendts_core::dblist::{DbList, DbListContext};
use opendts_core::endpoint::Endpoint;
use opendts_core::job::MigrationMode;
use opendts_core::probe::{FailureKind, Outcome};
use opendts_core::reserve::{Reserve, TargetTableMode};
use opendts_core::secret::Secret;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

mod support;
use support::{admin, admin_conn, Databases};

const T: Duration = Duration::from_secs(10);
const SYNC: MigrationMode =
    MigrationMode { structure_initialization: true, data_initialization: true, data_synchronization: true };
const MIGRATE: MigrationMode =
    MigrationMode { structure_initialization: true, data_initialization: true, data_synchronization: false };

/// A name no other test (or test run) uses.
fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("odts_pc_{tag}_{}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed), nanos % 100_000)
}

fn db_list(json: &str) -> DbList {
    DbList::parse(json, DbListContext::Migration).unwrap()
}

fn input<'a>(src: &'a Endpoint, dst: Option<&'a Endpoint>, mode: &'a MigrationMode, list: &'a DbList) -> PrecheckInput<'a> {
    PrecheckInput { source: src, destination: dst, mode, db_list: list, target_table_mode: TargetTableMode::Block, timeout: T }
}

fn assert_passed(item: &str, o: &Outcome) {
    assert!(o.passed, "{item} failed: {o:?}");
    assert!(o.failure.is_none() && !o.detail.is_empty(), "{item}: {o:?}");
}

#[tokio::test]
async fn binlog_items_pass_on_the_cdc_server() {
    let Some(admin) = admin("binlog_items_pass_on_the_cdc_server") else { return };
    let db = unique("binlog");
    let _dbs = Databases::create(&admin, &[&db], &[format!("CREATE TABLE `{db}`.t (id INT PRIMARY KEY) ENGINE=InnoDB")]).await;
    let list = db_list(&format!(r#"{{"{db}": {{"all": true}}}}"#));
    let track = MigrationMode { data_synchronization: true, ..Default::default() };
    let inp = input(&admin, None, &track, &list);

    let names: Vec<&str> = data_path_items(&track, false).iter().map(|i| i.name).collect();
    assert_eq!(
        names,
        ["CHECK_BINLOG_ON", "CHECK_BINLOG_MODE", "CHECK_BINLOG_ROW_IMAGE", "CHECK_SERVER_ID", "CHECK_BINLOG_EXIST", "CHECK_ENGINE", "CHECK_SRC"]
    );
    let mut details = Vec::new();
    for name in names {
        let o = run_item(name, &inp).await;
        assert_passed(name, &o);
        assert!(!o.detail.contains(admin.password.expose()), "{o:?}");
        details.push(o.detail);
    }
    assert!(details[0].contains("log_bin = ON"), "{}", details[0]);
    assert!(details[1].contains("ROW"), "{}", details[1]);
    assert!(details[2].contains("FULL"), "{}", details[2]);
    assert!(details[3].contains("server_id is"), "{}", details[3]);
    assert!(details[4].contains("binlog file(s)") && details[4].contains("readable"), "{}", details[4]);
    assert!(details[5].contains("InnoDB (1)"), "{}", details[5]);
    assert!(details[6].contains("The source runs MariaDB 10.") || details[6].contains("The source runs MySQL"), "{}", details[6]);
}

#[tokio::test]
async fn same_obj_blocks_or_writes_into_existing_mapped_tables() {
    let Some(admin) = admin("same_obj_blocks_or_writes_into_existing_mapped_tables") else { return };
    let (src, dst) = (unique("so_src"), unique("so_dst"));
    let _dbs = Databases::create(
        &admin,
        &[&src, &dst],
        &[
            format!("CREATE TABLE `{src}`.orders (id INT PRIMARY KEY)"),
            format!("CREATE TABLE `{src}`.customer (id INT PRIMARY KEY)"),
            format!("CREATE TABLE `{src}`.items (id INT PRIMARY KEY)"),
            // `orders` is renamed to `orders_v2`, which exists; `customer` exists
            // under its own name; `items` does not exist on the destination, and
            // the existing `orders` is not a mapped name.
            format!("CREATE TABLE `{dst}`.orders_v2 (id INT PRIMARY KEY)"),
            format!("CREATE TABLE `{dst}`.customer (id INT PRIMARY KEY)"),
            format!("CREATE TABLE `{dst}`.orders (id INT PRIMARY KEY)"),
        ],
    )
    .await;
    let list = db_list(&format!(
        r#"{{"{src}": {{"name": "{dst}", "all": true, "Table": {{"orders": {{"name": "orders_v2", "all": true}}}}}}}}"#
    ));
    let block = input(&admin, Some(&admin), &MIGRATE, &list);
    let o = run_item("CHECK_SAME_OBJ", &block).await;
    eprintln!("CHECK_SAME_OBJ (block): {}", o.detail);
    assert_eq!(o.failure, Some(FailureKind::Other), "{o:?}");
    assert!(o.detail.contains(&format!("`{dst}`.`orders_v2` (from `{src}`.`orders`)")), "{}", o.detail);
    assert!(o.detail.contains(&format!("`{dst}`.`customer` (from `{src}`.`customer`)")), "{}", o.detail);
    assert!(o.detail.contains("2 already exist"), "{}", o.detail);
    assert!(!o.detail.contains("`items`"), "{}", o.detail);
    assert!(o.detail.contains(r#"Reserve {"targetTableMode":"2"}"#), "{}", o.detail);

    // The mode as Reserve spells it.
    let reserve = Reserve::parse(r#"{"targetTableMode":"2"}"#).unwrap();
    let ignore = PrecheckInput { target_table_mode: reserve.target_table_mode.unwrap_or(TargetTableMode::Block), ..block };
    let o = run_item("CHECK_SAME_OBJ", &ignore).await;
    assert_passed("CHECK_SAME_OBJ", &o);
    assert!(o.detail.contains("will be written into"), "{}", o.detail);
    assert!(o.detail.contains(&format!("`{dst}`.`orders_v2`")), "{}", o.detail);

    // Mapped to a database that does not exist: nothing is taken.
    let fresh = unique("so_none");
    let list = db_list(&format!(r#"{{"{src}": {{"name": "{fresh}", "all": true}}}}"#));
    let o = run_item("CHECK_SAME_OBJ", &input(&admin, Some(&admin), &MIGRATE, &list)).await;
    assert_passed("CHECK_SAME_OBJ", &o);
    assert!(o.detail.contains("Checked the destination names of the 3 selected"), "{}", o.detail);

    // Not renamed on the same server: the tables would be copied onto themselves.
    let list = db_list(&format!(r#"{{"{src}": {{"all": true}}}}"#));
    let same = PrecheckInput { db_list: &list, ..ignore };
    let o = run_item("CHECK_SAME_OBJ", &same).await;
    assert_eq!(o.failure, Some(FailureKind::Other), "{o:?}");
    assert!(o.detail.contains("copied onto themselves"), "{}", o.detail);
}

/// Makes sure the BLACKHOLE engine is loaded (MariaDB ships it as a plugin);
/// false when it cannot be.
async fn blackhole_available(admin: &Endpoint) -> bool {
    let mut conn = admin_conn(admin).await;
    let support: Option<String> = conn
        .query_first("SELECT SUPPORT FROM information_schema.ENGINES WHERE ENGINE = 'BLACKHOLE'")
        .await
        .unwrap();
    let ok = match support.as_deref() {
        Some("YES") | Some("DEFAULT") => true,
        // Left installed: uninstalling could pull it from under a concurrent run.
        _ => conn.query_drop("INSTALL SONAME 'ha_blackhole'").await.is_ok(),
    };
    conn.disconnect().await.unwrap();
    ok
}

#[tokio::test]
async fn engine_refuses_blackhole_tables() {
    let Some(admin) = admin("engine_refuses_blackhole_tables") else { return };
    if !blackhole_available(&admin).await {
        eprintln!("skipping engine_refuses_blackhole_tables: the BLACKHOLE engine cannot be loaded on this server");
        return;
    }
    let db = unique("engine");
    let _dbs = Databases::create(
        &admin,
        &[&db],
        &[
            format!("CREATE TABLE `{db}`.good (id INT PRIMARY KEY) ENGINE=InnoDB"),
            format!("CREATE TABLE `{db}`.mem (id INT PRIMARY KEY) ENGINE=MEMORY"),
            format!("CREATE TABLE `{db}`.sink (id INT PRIMARY KEY) ENGINE=BLACKHOLE"),
            format!("CREATE VIEW `{db}`.v AS SELECT id FROM `{db}`.good"),
        ],
    )
    .await;
    let list = db_list(&format!(r#"{{"{db}": {{"all": true}}}}"#));
    let o = run_item("CHECK_ENGINE", &input(&admin, None, &SYNC, &list)).await;
    eprintln!("CHECK_ENGINE (blackhole): {}", o.detail);
    assert_eq!(o.failure, Some(FailureKind::Other), "{o:?}");
    assert!(o.detail.contains(&format!("`{db}`.`sink` uses BLACKHOLE, which OpenDTS cannot copy")), "{}", o.detail);
    assert!(!o.detail.contains("`good`") && !o.detail.contains("`mem`"), "{}", o.detail);
    assert!(o.detail.contains("ENGINE=InnoDB"), "{}", o.detail);

    // Without the BLACKHOLE table selected the rest passes.
    let list = db_list(&format!(r#"{{"{db}": {{"all": false, "Table": {{"good": {{"all": true}}, "mem": {{"all": true}}}}}}}}"#));
    let o = run_item("CHECK_ENGINE", &input(&admin, None, &SYNC, &list)).await;
    assert_passed("CHECK_ENGINE", &o);
    assert!(o.detail.contains("InnoDB (1), MEMORY (1)"), "{}", o.detail);
}

#[tokio::test]
async fn dblist_selecting_nothing_is_reported() {
    let Some(admin) = admin("dblist_selecting_nothing_is_reported") else { return };
    let db = unique("sel");
    let _dbs = Databases::create(&admin, &[&db], &[format!("CREATE TABLE `{db}`.orders (id INT PRIMARY KEY)")]).await;
    let missing = unique("missing");
    let list = db_list(&format!(r#"{{"{missing}": {{"all": true}}}}"#));
    let o = run_item("CHECK_ENGINE", &input(&admin, None, &MIGRATE, &list)).await;
    assert_eq!(o.failure, Some(FailureKind::UnknownDatabase), "{o:?}");
    assert!(o.detail.starts_with(&format!("The DbList selects no table on the source: database `{missing}` does not exist")), "{}", o.detail);

    let list = db_list(&format!(r#"{{"{db}": {{"all": false, "Table": {{"Orders": {{"all": true}}}}}}}}"#));
    let o = run_item("CHECK_ENGINE", &input(&admin, None, &MIGRATE, &list)).await;
    assert_eq!(o.failure, Some(FailureKind::Other), "{o:?}");
    assert!(o.detail.contains(&format!("table `{db}`.`Orders` does not exist")), "{}", o.detail);
    assert!(o.detail.contains("the server has `orders`"), "{}", o.detail);
}

#[tokio::test]
async fn every_item_passes_for_a_clean_renamed_copy() {
    let Some(admin) = admin("every_item_passes_for_a_clean_renamed_copy") else { return };
    let (src, dst) = (unique("all_src"), unique("all_dst"));
    let _dbs = Databases::create(
        &admin,
        &[&src],
        &[
            format!("CREATE TABLE `{src}`.orders (id INT PRIMARY KEY, code CHAR(8), created DATETIME(3), note VARCHAR(20) COLLATE utf8mb4_unicode_ci) ENGINE=InnoDB"),
            format!("CREATE TABLE `{src}`.log (id INT PRIMARY KEY) ENGINE=Aria"),
        ],
    )
    .await;
    let list = db_list(&format!(r#"{{"{src}": {{"name": "{dst}", "all": true}}}}"#));
    let inp = input(&admin, Some(&admin), &SYNC, &list);
    let items = data_path_items(&SYNC, true);
    assert_eq!(items.len(), precheck::ITEMS.len());
    for item in items {
        let o = run_item(item.name, &inp).await;
        eprintln!("{}: {}", item.name, o.detail);
        assert_passed(item.name, &o);
        match item.name {
            "CHECK_SQL_MODE" => {
                assert!(o.detail.contains("zero dates in 1 date/time column(s), CHAR padding in 1 CHAR column(s)"), "{}", o.detail)
            }
            "CHECK_TOPOLOGY" => assert!(o.detail.contains("collation(s)") && !o.detail.contains("Warning"), "{}", o.detail),
            "CHECK_SAME_OBJ" => assert!(o.detail.contains("none exists"), "{}", o.detail),
            _ => {}
        }
    }
}

#[tokio::test]
async fn login_failures_come_back_as_their_kind() {
    let Some(admin) = admin("login_failures_come_back_as_their_kind") else { return };
    let bad = Endpoint { password: Secret::new("definitely-wrong-pw"), ..admin.clone() };
    let list = db_list(r#"{"whatever": {"all": true}}"#);
    let o = run_item("CHECK_BINLOG_ON", &input(&bad, None, &SYNC, &list)).await;
    assert_eq!(o.failure, Some(FailureKind::AccessDenied), "{o:?}");
    assert!(!o.detail.contains("definitely-wrong-pw"), "{o:?}");
    let o = run_item("CHECK_SQL_MODE", &input(&admin, Some(&bad), &SYNC, &list)).await;
    assert_eq!(o.failure, Some(FailureKind::AccessDenied), "{o:?}");
    assert!(o.detail.starts_with("Could not reach the destination database"), "{o:?}");
}
