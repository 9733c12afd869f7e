//! Walks the DbList JSON into [`DbSpec`]s, naming the exact offending place
//! (`DbList.<db>.Table.<table>.column.<col>.<key>`) in every error.

use serde_json::{Map, Value};

use super::filter::Filter;
use super::ops::{DdlOps, DmlOps};
use super::pattern::{check_name_text, NamePattern};
use super::{ColumnSpec, DbListContext, DbSpec, TableSpec, TableType};
use crate::param::ParamError;

const DB_KEYS: &[&str] = &["name", "all", "Table", "dml_op", "ddl_op", "state", "edit"];
const TABLE_KEYS: &[&str] = &[
    "name",
    "all",
    "filter",
    "dml_op",
    "ddl_op",
    "shard",
    "primary_key",
    "part_key",
    "type",
    "column",
    "state",
    "edit",
];
const COLUMN_KEYS: &[&str] = &["key", "name", "type", "sharedKey", "state", "edit"];

pub(super) fn databases(raw: &Value, ctx: DbListContext) -> Result<Vec<DbSpec>, ParamError> {
    let Value::Object(map) = raw else {
        return Err(ParamError::new(
            "DbList",
            format!("must be a JSON object keyed by source database name, not {}", kind(raw)),
        ));
    };
    if map.is_empty() {
        return Err(ParamError::new("DbList", "must select at least one database"));
    }
    map.iter().map(|(name, value)| database(name, value, ctx)).collect()
}

fn database(key: &str, value: &Value, ctx: DbListContext) -> Result<DbSpec, ParamError> {
    let path = child("DbList", key);
    let source = source_name(key, "DbList", &path, "database")?;
    let obj = object(value, &path)?;
    check_keys(obj, DB_KEYS, &path)?;
    let dest_name = dest_name(obj, &source, &path)?;
    let tables_value = obj.get("Table");
    let all = boolean(obj, "all", &path)?.unwrap_or(tables_value.is_none());
    let tables = match tables_value {
        Some(v) => {
            let table_path = format!("{path}.Table");
            let map = object(v, &table_path)?;
            map.iter()
                .map(|(name, value)| table(name, value, &table_path, ctx))
                .collect::<Result<Vec<_>, _>>()?
        }
        None => Vec::new(),
    };
    if !all && tables.is_empty() {
        return Err(ParamError::new(
            format!("{path}.Table"),
            "must list at least one table when all is false (set all to true to select the \
             whole database)",
        ));
    }
    Ok(DbSpec {
        source,
        dest_name,
        all,
        dml_op: dml_op(obj, &path)?,
        ddl_op: ddl_op(obj, &path)?,
        tables,
    })
}

fn table(
    key: &str,
    value: &Value,
    parent: &str,
    ctx: DbListContext,
) -> Result<TableSpec, ParamError> {
    let path = child(parent, key);
    let source = source_name(key, parent, &path, "table")?;
    let obj = object(value, &path)?;
    check_keys(obj, TABLE_KEYS, &path)?;
    let dest_name = dest_name(obj, &source, &path)?;
    let columns_value = obj.get("column");
    let all = boolean(obj, "all", &path)?.unwrap_or(columns_value.is_none());
    let columns = match columns_value {
        Some(v) => {
            let column_path = format!("{path}.column");
            let map = object(v, &column_path)?;
            map.iter()
                .map(|(name, value)| column(name, value, &column_path))
                .collect::<Result<Vec<_>, _>>()?
        }
        None => Vec::new(),
    };
    if !all && columns.is_empty() {
        return Err(ParamError::new(
            format!("{path}.column"),
            "must list at least one column when all is false (set all to true to select every \
             column)",
        ));
    }
    Ok(TableSpec {
        source,
        dest_name,
        all,
        filter: filter(obj, &path, ctx)?,
        dml_op: dml_op(obj, &path)?,
        ddl_op: ddl_op(obj, &path)?,
        shard: shard(obj, &path)?,
        primary_key: key_columns(obj, "primary_key", &path)?,
        part_key: key_columns(obj, "part_key", &path)?,
        table_type: table_type(obj, &path)?,
        columns,
    })
}

fn column(key: &str, value: &Value, parent: &str) -> Result<ColumnSpec, ParamError> {
    let path = child(parent, key);
    let field = if key.trim().is_empty() { parent } else { &path };
    check_name_text(key).map_err(|r| ParamError::new(field, format!("column name {r}")))?;
    let obj = object(value, &path)?;
    check_keys(obj, COLUMN_KEYS, &path)?;
    let dest_name = match string(obj, "name", &path)? {
        Some(name) => checked_name(name, &format!("{path}.name"))?,
        None => key.to_owned(),
    };
    let primary_key = match string(obj, "key", &path)? {
        None | Some("") => false,
        Some("PRI") => true,
        Some(other) => {
            return Err(ParamError::new(
                format!("{path}.key"),
                format!("'{other}' is not allowed; use \"PRI\" for a primary-key column or \"\""),
            ))
        }
    };
    let state = match string(obj, "state", &path)? {
        None => None,
        Some("checked") => Some("checked".to_owned()),
        Some(other) => {
            return Err(ParamError::new(
                format!("{path}.state"),
                format!(
                    "'{other}' is not allowed; the only state is \"checked\" (leave a column out \
                     of the map to skip it)"
                ),
            ))
        }
    };
    Ok(ColumnSpec {
        source: key.to_owned(),
        dest_name,
        primary_key,
        data_type: string(obj, "type", &path)?.map(str::to_owned),
        shared_key: boolean(obj, "sharedKey", &path)?,
        state,
    })
}

fn child(parent: &str, key: &str) -> String {
    format!("{parent}.{key}")
}

/// Parses a database or table key. An empty key is reported on the parent,
/// since `DbList.` would not name anything a user can find.
fn source_name(key: &str, parent: &str, path: &str, what: &str) -> Result<NamePattern, ParamError> {
    let field = if key.trim().is_empty() { parent } else { path };
    NamePattern::parse(key).map_err(|r| ParamError::new(field, format!("{what} name {r}")))
}

/// The `name` key: the destination name, defaulting to the source key. A
/// pattern selects many objects, so it cannot be given a single new name.
fn dest_name(
    obj: &Map<String, Value>,
    source: &NamePattern,
    path: &str,
) -> Result<String, ParamError> {
    let field = format!("{path}.name");
    match string(obj, "name", path)? {
        None => Ok(source.as_str().to_owned()),
        Some(name) if source.is_pattern() && name != source.as_str() => Err(ParamError::new(
            field,
            format!(
                "cannot rename '{}': it is a regular expression that can match several objects, \
                 which keep their own names; omit name or repeat the pattern",
                source.as_str()
            ),
        )),
        Some(name) => checked_name(name, &field),
    }
}

fn checked_name(name: &str, field: &str) -> Result<String, ParamError> {
    check_name_text(name).map_err(|r| ParamError::new(field, r))?;
    Ok(name.to_owned())
}

fn object<'v>(value: &'v Value, path: &str) -> Result<&'v Map<String, Value>, ParamError> {
    value
        .as_object()
        .ok_or_else(|| ParamError::new(path, format!("must be a JSON object, not {}", kind(value))))
}

fn check_keys(obj: &Map<String, Value>, allowed: &[&str], path: &str) -> Result<(), ParamError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(key) => {
            let hint = suggestion(key, allowed)
                .map(|s| format!("did you mean '{s}'? "))
                .unwrap_or_default();
            Err(ParamError::new(
                child(path, key),
                format!("unknown key '{key}'; {hint}allowed keys are {}", allowed.join(", ")),
            ))
        }
    }
}

/// A likely intended key for a misspelt one: the seed itself writes
/// `dml op`, `primary key` and `fliter`, and users write `table`.
fn suggestion<'a>(key: &str, allowed: &[&'a str]) -> Option<&'a str> {
    let fold = |s: &str| -> String {
        s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
    };
    let folded = fold(key);
    if folded == "fliter" && allowed.contains(&"filter") {
        return Some("filter");
    }
    allowed.iter().copied().find(|a| fold(a) == folded)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn string<'v>(
    obj: &'v Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'v str>, ParamError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => {
            Err(ParamError::new(child(path, key), format!("must be a string, not {}", kind(other))))
        }
    }
}

/// A boolean, also accepted as the string "true" or "false".
fn boolean(obj: &Map<String, Value>, key: &str, path: &str) -> Result<Option<bool>, ParamError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(ParamError::new(
            child(path, key),
            format!("must be true or false, not {}", describe(other)),
        )),
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("\"{s}\""),
        other => kind(other).to_owned(),
    }
}

fn dml_op(obj: &Map<String, Value>, path: &str) -> Result<Option<DmlOps>, ParamError> {
    string(obj, "dml_op", path)?
        .map(|v| DmlOps::parse(v).map_err(|r| ParamError::new(child(path, "dml_op"), r)))
        .transpose()
}

fn ddl_op(obj: &Map<String, Value>, path: &str) -> Result<Option<DdlOps>, ParamError> {
    string(obj, "ddl_op", path)?
        .map(|v| DdlOps::parse(v).map_err(|r| ParamError::new(child(path, "ddl_op"), r)))
        .transpose()
}

fn filter(
    obj: &Map<String, Value>,
    path: &str,
    ctx: DbListContext,
) -> Result<Option<Filter>, ParamError> {
    let Some(text) = string(obj, "filter", path)? else {
        return Ok(None);
    };
    let field = child(path, "filter");
    if ctx == DbListContext::Subscription {
        return Err(ParamError::new(field, "filters are not supported for subscription tasks"));
    }
    Filter::parse(text).map(Some).map_err(|r| ParamError::new(field, r))
}

/// `shard`: a positive integer, as a JSON number or a numeric string.
fn shard(obj: &Map<String, Value>, path: &str) -> Result<Option<u32>, ParamError> {
    let Some(value) = obj.get("shard") else {
        return Ok(None);
    };
    let parsed = match value {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.trim().parse::<u32>().ok(),
        _ => None,
    };
    match parsed {
        Some(n) if n > 0 => Ok(Some(n)),
        _ => Err(ParamError::new(
            child(path, "shard"),
            format!(
                "must be a positive integer (a number or a numeric string) no larger than {}, \
                 not {}",
                u32::MAX,
                describe(value)
            ),
        )),
    }
}

/// `primary_key` / `part_key`: one column name or a comma-separated list.
fn key_columns(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<Vec<String>>, ParamError> {
    let Some(text) = string(obj, key, path)? else {
        return Ok(None);
    };
    let columns: Vec<String> = text.split(',').map(|c| c.trim().to_owned()).collect();
    if columns.iter().any(String::is_empty) {
        return Err(ParamError::new(
            child(path, key),
            format!("'{text}' must be a column name or a comma-separated list of column names"),
        ));
    }
    Ok(Some(columns))
}

fn table_type(obj: &Map<String, Value>, path: &str) -> Result<Option<TableType>, ParamError> {
    match string(obj, "type", path)? {
        None => Ok(None),
        Some("partition") => Ok(Some(TableType::Partition)),
        Some("dimension") => Ok(Some(TableType::Dimension)),
        Some(other) => Err(ParamError::new(
            child(path, "type"),
            format!("'{other}' is not a table type; use \"partition\" or \"dimension\""),
        )),
    }
}
