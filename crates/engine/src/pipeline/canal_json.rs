//! The `canal_json` record format (Reserve `kafkaRecordFormat`), one record
//! per row change or DDL, as the Canal project defines it and DTS writes it:
//!
//! ```json
//! {"data":[{"id":"1","name":"a"}],"database":"shop","es":1700000000000,"id":0,"isDdl":false,
//!  "mysqlType":{"id":"int(11)","name":"varchar(20)"},"old":[{"name":"b"}],"pkNames":["id"],
//!  "sql":"","sqlType":{"id":4,"name":12},"table":"orders","ts":1700000000123,"type":"UPDATE"}
//! ```
//!
//! Values are strings (NULL is `null`): integers and decimals as written,
//! floats in their shortest exact form, dates `YYYY-MM-DD[ HH:MM:SS[.ffffff]]`,
//! times `[-]HH:MM:SS[.ffffff]`, text as UTF-8, and bytes that are not UTF-8
//! one character per byte (ISO-8859-1, as Canal does), so no byte is lost.
//! `data` holds the row after the change (before it, for a DELETE); `old`
//! holds the previous values of the columns an UPDATE changed; `es` is the
//! source commit time and `ts` the capture time, in milliseconds.

use opendts_core::change::{DdlChange, DdlKind, RowChange, RowOp};
use opendts_core::row::{Cell, TableSchema};
use serde_json::{json, Map, Value};

/// One row change as a canal_json record. `schema` describes the table when
/// known (column types and key); without it the types are left out.
pub(crate) fn row_record(change: &RowChange, schema: Option<&TableSchema>, commit_ms: i64, now_ms: i64) -> Vec<u8> {
    let (kind, data, old) = match change.op {
        RowOp::Insert => ("INSERT", change.after.as_deref(), None),
        RowOp::Update => ("UPDATE", change.after.as_deref(), change.before.as_deref()),
        RowOp::Delete => ("DELETE", change.before.as_deref(), None),
    };
    let row = |cells: &[Cell]| -> Map<String, Value> {
        change.columns.iter().zip(cells).map(|(c, v)| (c.clone(), value(v, column_type(schema, c)))).collect()
    };
    let data_json = data.map(|d| vec![Value::Object(row(d))]).map_or(Value::Null, Value::Array);
    let old_json = match (old, data) {
        (Some(before), Some(after)) => {
            let changed: Map<String, Value> = change
                .columns
                .iter()
                .zip(before.iter().zip(after))
                .filter(|(_, (b, a))| b != a)
                .map(|(c, (b, _))| (c.clone(), value(b, column_type(schema, c))))
                .collect();
            Value::Array(vec![Value::Object(changed)])
        }
        _ => Value::Null,
    };
    let (mysql_type, sql_type): (Map<String, Value>, Map<String, Value>) = match schema {
        Some(s) => (
            s.columns.iter().map(|c| (c.name.clone(), Value::from(c.source_type.clone()))).collect(),
            s.columns.iter().map(|c| (c.name.clone(), Value::from(jdbc_type(&c.source_type)))).collect(),
        ),
        None => (Map::new(), Map::new()),
    };
    let pk_names: Vec<&str> = schema.map(|s| s.key.iter().map(|&i| s.columns[i].name.as_str()).collect()).unwrap_or_default();
    let record = json!({
        "data": data_json,
        "database": change.table.schema,
        "es": commit_ms,
        "id": 0,
        "isDdl": false,
        "mysqlType": mysql_type,
        "old": old_json,
        "pkNames": pk_names,
        "sql": "",
        "sqlType": sql_type,
        "table": change.table.table,
        "ts": now_ms,
        "type": kind,
    });
    record.to_string().into_bytes()
}

/// A DDL statement as a canal_json record.
pub(crate) fn ddl_record(ddl: &DdlChange, commit_ms: i64, now_ms: i64) -> Vec<u8> {
    let kind = match ddl.kind {
        DdlKind::CreateTable => "CREATE",
        DdlKind::AlterTable => "ALTER",
        DdlKind::DropTable => "ERASE",
        DdlKind::RenameTable => "RENAME",
        DdlKind::TruncateTable => "TRUNCATE",
        DdlKind::Other => "QUERY",
    };
    let table = ddl.tables.first().map(|t| t.table.as_str()).unwrap_or("");
    json!({
        "data": null, "database": ddl.schema, "es": commit_ms, "id": 0, "isDdl": true, "mysqlType": null,
        "old": null, "pkNames": null, "sql": ddl.statement, "sqlType": null, "table": table, "ts": now_ms, "type": kind,
    })
    .to_string()
    .into_bytes()
}

fn column_type<'s>(schema: Option<&'s TableSchema>, column: &str) -> Option<&'s str> {
    schema?.columns.iter().find(|c| c.name == column).map(|c| c.source_type.as_str())
}

/// A cell as canal's string value.
fn value(cell: &Cell, source_type: Option<&str>) -> Value {
    let date_only = source_type.is_some_and(|t| t.trim().eq_ignore_ascii_case("date"));
    match cell {
        Cell::Null => Value::Null,
        Cell::Int(i) => Value::from(i.to_string()),
        Cell::UInt(u) => Value::from(u.to_string()),
        Cell::Float(f) => Value::from(f.to_string()),
        Cell::Double(d) => Value::from(d.to_string()),
        Cell::Bytes(b) => Value::from(match std::str::from_utf8(b) {
            Ok(s) => s.to_string(),
            Err(_) => b.iter().map(|&x| char::from(x)).collect(),
        }),
        Cell::Date { year, month, day, hour, minute, second, micros } => {
            let mut s = format!("{year:04}-{month:02}-{day:02}");
            if !date_only {
                s.push_str(&format!(" {hour:02}:{minute:02}:{second:02}"));
                if *micros != 0 {
                    s.push_str(&format!(".{micros:06}"));
                }
            }
            Value::from(s)
        }
        Cell::Time { negative, days, hours, minutes, seconds, micros } => {
            let h = u64::from(*days) * 24 + u64::from(*hours);
            let mut s = format!("{}{h:02}:{minutes:02}:{seconds:02}", if *negative { "-" } else { "" });
            if *micros != 0 {
                s.push_str(&format!(".{micros:06}"));
            }
            Value::from(s)
        }
    }
}

/// The `java.sql.Types` code Canal reports for a MySQL column type.
fn jdbc_type(source_type: &str) -> i32 {
    let t = source_type.trim().to_ascii_lowercase();
    let base = t.split(['(', ' ']).next().unwrap_or("");
    match base {
        "bit" => -7,
        "tinyint" => -6,
        "smallint" => 5,
        "mediumint" | "int" | "integer" => 4,
        "bigint" => -5,
        "float" => 7,
        "double" | "real" => 8,
        "decimal" | "numeric" => 3,
        "char" => 1,
        "date" => 91,
        "time" => 92,
        "datetime" | "timestamp" => 93,
        "binary" => -2,
        "varbinary" => -3,
        "tinyblob" | "blob" | "mediumblob" | "longblob" => 2004,
        "tinytext" | "text" | "mediumtext" | "longtext" => 2005,
        "enum" | "set" => 4,
        _ => 12,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opendts_core::row::{ColumnDef, TableId};

    fn schema() -> TableSchema {
        let col = |name: &str, ty: &str| ColumnDef { name: name.into(), source_type: ty.into(), nullable: true };
        TableSchema {
            id: TableId::new("shop", "orders"),
            columns: vec![col("id", "int(11)"), col("name", "varchar(20)"), col("day", "date"), col("raw", "blob")],
            key: vec![0],
        }
    }

    fn parse(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn an_update_carries_the_new_row_and_the_changed_old_values() {
        let day = Cell::Date { year: 2026, month: 11, day: 23, hour: 0, minute: 0, second: 0, micros: 0 };
        let change = RowChange {
            table: TableId::new("shop", "orders"),
            op: RowOp::Update,
            columns: ["id", "name", "day", "raw"].map(String::from).into(),
            before: Some(vec![Cell::Int(1), Cell::Bytes(b"a".to_vec()), day.clone(), Cell::Bytes(vec![0xff, 0x00])]),
            after: Some(vec![Cell::Int(1), Cell::Bytes(b"b".to_vec()), day, Cell::Bytes(vec![0xff, 0x00])]),
        };
        let r = parse(&row_record(&change, Some(&schema()), 1_000, 2_000));
        assert_eq!(r["type"], "UPDATE");
        assert_eq!(r["data"][0]["name"], "b");
        assert_eq!(r["data"][0]["day"], "2026-11-23");
        assert_eq!(r["data"][0]["raw"], "\u{ff}\u{0}");
        assert_eq!(r["old"], json!([{"name": "a"}]));
        assert_eq!(r["pkNames"], json!(["id"]));
        assert_eq!(r["mysqlType"]["name"], "varchar(20)");
        assert_eq!(r["sqlType"]["id"], 4);
        assert_eq!((r["es"].as_i64(), r["ts"].as_i64(), r["isDdl"].as_bool()), (Some(1_000), Some(2_000), Some(false)));
    }

    #[test]
    fn a_delete_carries_the_old_row_and_ddl_its_statement() {
        let change = RowChange {
            table: TableId::new("shop", "orders"),
            op: RowOp::Delete,
            columns: ["id", "name"].map(String::from).into(),
            before: Some(vec![Cell::Int(7), Cell::Null]),
            after: None,
        };
        let r = parse(&row_record(&change, None, 1, 2));
        assert_eq!(r["type"], "DELETE");
        assert_eq!(r["data"], json!([{"id": "7", "name": null}]));
        assert_eq!(r["old"], Value::Null);
        let ddl = DdlChange {
            schema: "shop".into(),
            statement: "ALTER TABLE orders ADD c INT".into(),
            kind: DdlKind::AlterTable,
            tables: vec![TableId::new("shop", "orders")],
        };
        let r = parse(&ddl_record(&ddl, 1, 2));
        assert_eq!((r["type"].as_str(), r["isDdl"].as_bool(), r["sql"].as_str()), (Some("ALTER"), Some(true), Some("ALTER TABLE orders ADD c INT")));
    }
}
