//! DbList parsing and selection against the seed's examples and every error path.

use super::filter::FilterValue;
use super::*;
use serde_json::json;

fn parse(json: &str) -> DbList {
    DbList::parse(json, DbListContext::Migration).unwrap()
}

/// The `field` of the error for `json`, with the reason for debugging.
fn field(json: &str) -> String {
    field_in(json, DbListContext::Migration)
}

fn field_in(json: &str, ctx: DbListContext) -> String {
    let err = DbList::parse(json, ctx).unwrap_err();
    assert!(!err.reason.is_empty());
    eprintln!("{}: {}", err.field, err.reason);
    err.field
}

fn reason(json: &str) -> String {
    DbList::parse(json, DbListContext::Migration).unwrap_err().reason
}

const EXAMPLE_3: &str = r#"{"dtstestdata": {
  "name": "dtstestdata",
  "all": false,
  "Table": {
    "customer": {
      "name": "customer",
      "all": true,
      "column": {
        "id": {"key": "PRI", "name": "id", "type": "int(11)", "sharedKey": false, "state": "checked"},
        "gmt_create": {"key": "", "name": "gmt_create", "type": "datetime", "sharedKey": false, "state": "checked"},
        "gmt modify": {"key": "", "name": "gmt modify", "type": "datetime", "sharedKey": false, "state": "checked"},
        "valid time": {"key": "", "name": "valid_time", "type": "datetime", "sharedKey": false, "state": "checked"},
        "creator": {"key": "", "name": "creator", "type": "varchar(200)", "sharedKey": false, "state": "checked"}
      },
      "shard": 12
    }
  }
}}"#;

const EXAMPLE_4: &str = r#"{"dtstestdata": {
  "name": "dtstestdata",
  "all": false,
  "Table": {
    "customer": {
      "name": "customer",
      "all": false,
      "column": {
        "id": {"key": "PRI", "name": "id", "type": "int(11)", "sharedKey": false, "state": "checked"},
        "level": {"key": "", "name": "level", "type": "varchar(5000)", "sharedKey": false, "state": "checked"},
        "name": {"key": "", "name": "name", "type": "varchar(500)", "sharedKey": false, "state": "checked"}
      },
      "shard": 12
    },
    "order": {
      "name": "order",
      "all": false,
      "column": {
        "id": {"key": "PRI", "name": "id", "type": "int(11)", "sharedKey": false, "state": "checked"}
      },
      "shard": 12
    }
  }
}}"#;

/// Seed example 5 with its OCR damage repaired (missing braces, `primary key`).
const EXAMPLE_5: &str = r#"{"dtstestdata": {
  "name": "dtstestdatanew",
  "all": false,
  "Table": {
    "order": {"name": "ordernew", "all": true, "part_key": "id", "primary_key": "id", "type": "partition"},
    "customer": {"name": "customernew", "all": true, "primary_key": "id", "type": "dimension"},
    "commodity": {
      "name": "commoditynew",
      "all": false,
      "filter": "id>10",
      "column": {"id": {"key": "PRI", "name": "id", "type": "int(11)"}},
      "part_key": "id",
      "primary_key": "id",
      "type": "partition"
    }
  }
}}"#;

#[test]
fn example_1_whole_database() {
    let list = parse(r#"{"dtstestdata": {    "name": "dtstestdata",    "all": true }}"#);
    assert_eq!(list.databases().len(), 1);
    let db = &list.databases()[0];
    assert_eq!(db.source.as_str(), "dtstestdata");
    assert!(db.all && db.tables.is_empty());
    let sel = list.select_table("dtstestdata", "anything").unwrap();
    assert_eq!((sel.dest_db.as_str(), sel.dest_table.as_str()), ("dtstestdata", "anything"));
    assert!(sel.table.is_none() && sel.all_columns() && sel.filter().is_none());
    assert_eq!(sel.dest_column("c1"), Some("c1"));
    assert_eq!((sel.dml_ops, sel.ddl_ops), (DmlOps::ALL, DdlOps::ALL));
    assert!(list.select_table("other", "anything").is_none());
    assert!(list.select_table("DTSTESTDATA", "anything").is_none());
}

#[test]
fn example_2_rename_database() {
    let list = parse(r#"{"dtstestdata": {    "name": "dtstestdata_new",    "all": true }}"#);
    assert_eq!(list.databases()[0].dest_name, "dtstestdata_new");
    let sel = list.select_table("dtstestdata", "t").unwrap();
    assert_eq!(sel.dest_db, "dtstestdata_new");
    assert_eq!(
        list.select_database("dtstestdata").unwrap().dest_name_for("dtstestdata"),
        "dtstestdata_new"
    );
}

#[test]
fn example_3_some_tables_with_column_renames() {
    let list = parse(EXAMPLE_3);
    let db = &list.databases()[0];
    assert!(!db.all);
    let customer = &db.tables[0];
    assert_eq!(customer.shard, Some(12));
    assert!(customer.all);
    assert_eq!(customer.columns.len(), 5);
    assert!(customer.columns[0].primary_key);
    assert_eq!(customer.columns[0].data_type.as_deref(), Some("int(11)"));
    assert_eq!(customer.columns[0].shared_key, Some(false));
    assert_eq!(customer.columns[0].state.as_deref(), Some("checked"));
    assert!(!customer.columns[1].primary_key);

    let sel = list.select_table("dtstestdata", "customer").unwrap();
    assert!(sel.all_columns());
    assert_eq!(sel.dest_column("valid time"), Some("valid_time"));
    assert_eq!(sel.dest_column("gmt modify"), Some("gmt modify"));
    // all=true: columns missing from the map are still copied, unrenamed.
    assert_eq!(sel.dest_column("unlisted"), Some("unlisted"));
    assert!(list.select_table("dtstestdata", "order").is_none());
}

#[test]
fn example_4_some_columns() {
    let list = parse(EXAMPLE_4);
    let sel = list.select_table("dtstestdata", "customer").unwrap();
    assert!(!sel.all_columns());
    let names: Vec<&str> = sel.columns().iter().map(|c| c.source.as_str()).collect();
    assert_eq!(names, ["id", "level", "name"]);
    assert_eq!(sel.dest_column("level"), Some("level"));
    assert_eq!(sel.dest_column("gmt_create"), None);
    let order = list.select_table("dtstestdata", "order").unwrap();
    assert_eq!(order.columns().len(), 1);
    assert_eq!(order.table.unwrap().shard, Some(12));
}

#[test]
fn example_5_analyticdb_destination() {
    let list = parse(EXAMPLE_5);
    let db = &list.databases()[0];
    let order = &db.tables[0];
    assert_eq!(order.table_type, Some(TableType::Partition));
    assert_eq!(order.part_key, Some(vec!["id".to_owned()]));
    assert_eq!(order.primary_key, Some(vec!["id".to_owned()]));
    assert_eq!(db.tables[1].table_type, Some(TableType::Dimension));
    assert_eq!(db.tables[1].part_key, None);

    let sel = list.select_table("dtstestdata", "commodity").unwrap();
    assert_eq!((sel.dest_db.as_str(), sel.dest_table.as_str()), ("dtstestdatanew", "commoditynew"));
    let filter = sel.filter().unwrap();
    assert_eq!(filter.text(), "id>10");
    assert_eq!(filter.to_sql(|i| format!("`{i}`"), |s| format!("'{s}'")), "`id` > 10");
    assert!(filter.eval(&|c| (c == "id").then_some(FilterValue::Int(11))));
    assert!(!filter.eval(&|c| (c == "id").then_some(FilterValue::Int(10))));
    assert_eq!(sel.dest_column("id"), Some("id"));
    assert_eq!(sel.dest_column("price"), None);
}

#[test]
fn response_flags_are_tolerated() {
    let list = parse(r#"{"DTSTEST":{"name":"dtstest","all":true,"state":"normal","edit":false}}"#);
    assert_eq!(list.select_table("DTSTEST", "t").unwrap().dest_db, "dtstest");
    parse(
        r#"{"d":{"all":false,"Table":{"t":{"state":"normal","edit":true,
        "column":{"c":{"edit":false}}}}}}"#,
    );
}

#[test]
fn defaults_and_loose_values() {
    let list = parse(
        r#"{"d":{}, "e":{"all":"false","Table":{"t":{"all":"TRUE","shard":"3"}}},
        "f":{"Table":{"t":{"column":{"c":{}}}}}}"#,
    );
    let d = &list.databases()[0];
    assert_eq!(d.dest_name, "d");
    assert!(d.all);
    let e = &list.databases()[1];
    assert!(!e.all && e.tables[0].all);
    assert_eq!(e.tables[0].shard, Some(3));
    assert_eq!(e.tables[0].dest_name, "t");
    // A listed map without `all` selects only what it lists.
    let f = &list.databases()[2];
    assert!(!f.all && !f.tables[0].all);
    assert_eq!(f.tables[0].columns[0].dest_name, "c");
    assert!(list.select_table("f", "other").is_none());
    assert_eq!(list.select_table("f", "t").unwrap().dest_column("x"), None);
}

#[test]
fn database_all_with_tables_adjusts_listed_tables() {
    let list = parse(
        r#"{"shop":{"all":true,"dml_op":"i","Table":{
        "orders":{"name":"orders_v2","filter":"id > 5","dml_op":"i,u"}}}}"#,
    );
    let orders = list.select_table("shop", "orders").unwrap();
    assert_eq!(orders.dest_table, "orders_v2");
    assert!(orders.filter().is_some());
    assert_eq!(orders.dml_ops, DmlOps { insert: true, update: true, delete: false });
    let other = list.select_table("shop", "users").unwrap();
    assert_eq!(other.dest_table, "users");
    assert_eq!(other.dml_ops, DmlOps { insert: true, update: false, delete: false });
}

#[test]
fn operations_are_inherited() {
    let list = parse(
        r#"{"shop":{"all":false,"dml_op":"i,u","ddl_op":"none","Table":{
        "a":{"all":true},
        "b":{"all":true,"dml_op":"none","ddl_op":"ct,at"},
        "c":{"all":true,"dml_op":""}}},
        "plain":{"all":true}}"#,
    );
    let shop = list.select_database("shop").unwrap();
    let a = list.select_table("shop", "a").unwrap();
    assert_eq!(a.dml_ops, DmlOps { insert: true, update: true, delete: false });
    assert_eq!(a.ddl_ops, DdlOps::NONE);
    assert_eq!(shop.effective_dml_ops(a.table), a.dml_ops);
    let b = list.select_table("shop", "b").unwrap();
    assert_eq!(b.dml_ops, DmlOps::NONE);
    assert!(b.ddl_ops.create_table && b.ddl_ops.alter_table && !b.ddl_ops.drop_table);
    assert_eq!(shop.effective_ddl_ops(b.table), b.ddl_ops);
    // An explicit empty value means all, overriding the database.
    assert_eq!(list.select_table("shop", "c").unwrap().dml_ops, DmlOps::ALL);
    let plain = list.select_database("plain").unwrap();
    assert_eq!(plain.effective_dml_ops(None), DmlOps::ALL);
    assert_eq!(plain.effective_ddl_ops(None), DdlOps::ALL);
}

#[test]
fn patterns_select_and_keep_names() {
    let list = parse(
        r#"{"shop_[0-9]":{"all":false,"name":"shop_[0-9]","Table":{
        "order.*":{"all":true},
        "order_archive":{"name":"archive","all":true}}},
        "shop_1":{"name":"shop_one","all":false,"Table":{"t":{"all":true}}}}"#,
    );
    // The exact key wins over the pattern, and then alone decides the tables.
    let exact = list.select_table("shop_1", "t").unwrap();
    assert_eq!(exact.dest_db, "shop_one");
    assert!(list.select_table("shop_1", "orders").is_none());
    let sel = list.select_table("shop_7", "orders_2024").unwrap();
    assert_eq!((sel.dest_db.as_str(), sel.dest_table.as_str()), ("shop_7", "orders_2024"));
    let archive = list.select_table("shop_7", "order_archive").unwrap();
    assert_eq!(archive.dest_table, "archive");
    assert!(list.select_table("shop_7", "customers").is_none());
    assert!(list.select_table("shop_77", "orders").is_none());
    assert!(list.select_database("shop_x").is_none());
}

#[test]
fn first_matching_pattern_wins() {
    let list = parse(r#"{"a.*":{"all":true,"dml_op":"i"},"ab.*":{"all":true,"dml_op":"d"}}"#);
    assert_eq!(list.select_database("abc").unwrap().source.as_str(), "a.*");
}

#[test]
fn to_json_is_normalized() {
    let list = parse(
        r#"{"shop":{"all":"false","dml_op":"d, i","Table":{
        "orders":{"filter":"id>10","shard":"4","primary_key":"a, b","type":"partition",
            "column":{"id":{"key":"PRI","type":"int","sharedKey":"true","state":"checked"}}}}},
        "DTSTEST":{"name":"dtstest","all":true,"state":"normal","edit":false}}"#,
    );
    assert_eq!(
        list.to_json(),
        json!({
            "shop": {"name": "shop", "all": false, "dml_op": "i,d", "Table": {
                "orders": {"name": "orders", "all": false, "filter": "id>10", "shard": 4,
                    "primary_key": "a,b", "type": "partition",
                    "column": {"id": {"key": "PRI", "name": "id", "type": "int",
                        "sharedKey": true, "state": "checked"}}}}},
            "DTSTEST": {"name": "dtstest", "all": true}
        })
    );
    // Key order follows the input, and the raw form is kept verbatim.
    let normalized = list.to_json();
    let keys: Vec<&String> = normalized.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["shop", "DTSTEST"]);
    assert_eq!(list.raw["DTSTEST"]["state"], "normal");
    assert_eq!(list.raw["shop"]["dml_op"], "d, i");
}

#[test]
fn round_trips_through_to_json() {
    for json in [EXAMPLE_3, EXAMPLE_4, EXAMPLE_5] {
        let list = parse(json);
        let again = parse(&list.to_json().to_string());
        assert_eq!(again.databases(), list.databases());
    }
}

#[test]
fn subscription_rejects_filters_only() {
    let sub = DbListContext::Subscription;
    assert_eq!(field_in(EXAMPLE_5, sub), "DbList.dtstestdata.Table.commodity.filter");
    assert!(DbList::parse(EXAMPLE_4, sub).is_ok());
    let err = DbList::parse(EXAMPLE_5, sub).unwrap_err();
    assert!(err.reason.contains("subscription"));
}

#[test]
fn document_errors() {
    assert_eq!(field("not json"), "DbList");
    assert!(reason("{").contains("not valid JSON"));
    assert_eq!(field("[]"), "DbList");
    assert!(reason(r#""x""#).contains("JSON object"));
    assert_eq!(field("{}"), "DbList");
    assert!(reason("{}").contains("at least one database"));
}

#[test]
fn name_errors() {
    assert_eq!(field(r#"{"":{"all":true}}"#), "DbList");
    assert_eq!(field(r#"{"a(b":{"all":true}}"#), "DbList.a(b");
    assert!(reason(r#"{"a|b.*":{"all":true}}"#).contains("not supported"));
    assert_eq!(field(r#"{"[ab":{"all":true}}"#), "DbList.[ab");
    assert_eq!(field(r#"{"d":{"name":""}}"#), "DbList.d.name");
    assert_eq!(field(r#"{"d":{"name":5}}"#), "DbList.d.name");
    assert_eq!(field(r#"{"d.*":{"name":"x"}}"#), "DbList.d.*.name");
    assert!(reason(r#"{"d.*":{"name":"x"}}"#).contains("cannot rename"));
    assert_eq!(field(r#"{"d":{"Table":{"":{}}}}"#), "DbList.d.Table");
    assert_eq!(field(r#"{"d":{"Table":{"t+":{}}}}"#), "DbList.d.Table.t+");
    assert_eq!(field(r#"{"d":{"Table":{"t?":{"name":"u"}}}}"#), "DbList.d.Table.t?.name");
    assert_eq!(field(r#"{"d":{"Table":{"t":{"name":" "}}}}"#), "DbList.d.Table.t.name");
    assert_eq!(field(r#"{"d":{"Table":{"t":{"column":{"":{}}}}}}"#), "DbList.d.Table.t.column");
    assert_eq!(
        field(r#"{"d":{"Table":{"t":{"column":{"c":{"name":""}}}}}}"#),
        "DbList.d.Table.t.column.c.name"
    );
}

#[test]
fn structure_errors() {
    assert_eq!(field(r#"{"d":true}"#), "DbList.d");
    assert_eq!(field(r#"{"d":{"all":false}}"#), "DbList.d.Table");
    assert_eq!(field(r#"{"d":{"all":false,"Table":{}}}"#), "DbList.d.Table");
    assert_eq!(field(r#"{"d":{"Table":[]}}"#), "DbList.d.Table");
    assert_eq!(field(r#"{"d":{"Table":{"t":"x"}}}"#), "DbList.d.Table.t");
    assert_eq!(field(r#"{"d":{"Table":{"t":{"all":false}}}}"#), "DbList.d.Table.t.column");
    assert_eq!(
        field(r#"{"d":{"Table":{"t":{"all":false,"column":{}}}}}"#),
        "DbList.d.Table.t.column"
    );
    assert_eq!(field(r#"{"d":{"Table":{"t":{"column":[]}}}}"#), "DbList.d.Table.t.column");
    assert_eq!(
        field(r#"{"d":{"Table":{"t":{"column":{"c":"id"}}}}}"#),
        "DbList.d.Table.t.column.c"
    );
}

#[test]
fn unknown_keys_are_named() {
    assert_eq!(field(r#"{"d":{"all":true,"table":{}}}"#), "DbList.d.table");
    assert!(reason(r#"{"d":{"all":true,"table":{}}}"#).contains("did you mean 'Table'?"));
    assert_eq!(field(r#"{"d":{"all":true,"filter":"a=1"}}"#), "DbList.d.filter");
    assert_eq!(field(r#"{"d":{"Table":{"t":{"fliter":"id>1"}}}}"#), "DbList.d.Table.t.fliter");
    assert!(reason(r#"{"d":{"Table":{"t":{"fliter":"id>1"}}}}"#).contains("did you mean 'filter'?"));
    assert!(reason(r#"{"d":{"Table":{"t":{"dml op":"i"}}}}"#).contains("did you mean 'dml_op'?"));
    assert_eq!(
        field(r#"{"d":{"Table":{"t":{"column":{"c":{"shardKey":true}}}}}}"#),
        "DbList.d.Table.t.column.c.shardKey"
    );
    assert!(reason(r#"{"d":{"Table":{"t":{"column":{"c":{"sharedkey":true}}}}}}"#)
        .contains("did you mean 'sharedKey'?"));
}

#[test]
fn value_type_errors() {
    assert_eq!(field(r#"{"d":{"all":1}}"#), "DbList.d.all");
    assert_eq!(field(r#"{"d":{"all":"yes"}}"#), "DbList.d.all");
    assert!(reason(r#"{"d":{"all":"yes"}}"#).contains("\"yes\""));
    assert_eq!(field(r#"{"d":{"Table":{"t":{"all":null}}}}"#), "DbList.d.Table.t.all");
    assert_eq!(field(r#"{"d":{"dml_op":["i"]}}"#), "DbList.d.dml_op");
    assert_eq!(field(r#"{"d":{"Table":{"t":{"filter":10}}}}"#), "DbList.d.Table.t.filter");
    assert_eq!(field(r#"{"d":{"Table":{"t":{"primary_key":1}}}}"#), "DbList.d.Table.t.primary_key");
    assert_eq!(
        field(r#"{"d":{"Table":{"t":{"column":{"c":{"sharedKey":"no"}}}}}}"#),
        "DbList.d.Table.t.column.c.sharedKey"
    );
    assert_eq!(
        field(r#"{"d":{"Table":{"t":{"column":{"c":{"type":11}}}}}}"#),
        "DbList.d.Table.t.column.c.type"
    );
}

#[test]
fn operation_errors() {
    assert_eq!(field(r#"{"shop":{"all":true,"dml_op":"i,x"}}"#), "DbList.shop.dml_op");
    assert_eq!(field(r#"{"shop":{"all":true,"ddl_op":"drop"}}"#), "DbList.shop.ddl_op");
    assert_eq!(
        field(r#"{"shop":{"Table":{"orders":{"dml_op":"insert"}}}}"#),
        "DbList.shop.Table.orders.dml_op"
    );
    assert_eq!(
        field(r#"{"shop":{"Table":{"orders":{"ddl_op":"ct,none"}}}}"#),
        "DbList.shop.Table.orders.ddl_op"
    );
}

#[test]
fn table_value_errors() {
    for bad in ["0", "-1", "1.5", "\"x\"", "\"0\"", "true", "4294967296"] {
        let json = format!(r#"{{"d":{{"Table":{{"t":{{"shard":{bad}}}}}}}}}"#);
        assert_eq!(field(&json), "DbList.d.Table.t.shard", "{bad}");
    }
    assert_eq!(field(r#"{"d":{"Table":{"t":{"part_key":"a,,b"}}}}"#), "DbList.d.Table.t.part_key");
    assert_eq!(
        field(r#"{"d":{"Table":{"t":{"primary_key":""}}}}"#),
        "DbList.d.Table.t.primary_key"
    );
    assert_eq!(field(r#"{"d":{"Table":{"t":{"type":"fact"}}}}"#), "DbList.d.Table.t.type");
    assert_eq!(
        field(r#"{"d":{"Table":{"t":{"column":{"c":{"key":"UNI"}}}}}}"#),
        "DbList.d.Table.t.column.c.key"
    );
    assert_eq!(
        field(r#"{"d":{"Table":{"t":{"column":{"c":{"state":"unchecked"}}}}}}"#),
        "DbList.d.Table.t.column.c.state"
    );
}

#[test]
fn filter_errors_name_the_table() {
    for bad in ["id>1; drop table t", "id = (select 1)", "sleep(5) = 0", "id > 1 -- x", "", "a = b"]
    {
        let json = serde_json::json!({"shop": {"Table": {"orders": {"filter": bad}}}}).to_string();
        assert_eq!(field(&json), "DbList.shop.Table.orders.filter", "{bad}");
    }
    let list = parse(
        r#"{"shop":{"Table":{"orders":{"filter":"status in ('paid','sent') AND `total` >= 10.5"}}}}"#,
    );
    let filter = list.select_table("shop", "orders").unwrap().filter().unwrap();
    assert_eq!(filter.columns(), ["status", "total"]);
}
