//! CHECK_SAME_OBJ: do destination tables already exist under the names the
//! job would create (after the DbList's renames)?

use opendts_core::probe::{FailureKind, Outcome};
use opendts_core::reserve::TargetTableMode;
use std::collections::HashMap;

use super::catalog::SelectedObject;
use super::{list_names, qualified};

/// One row of the destination's `information_schema.TABLES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestObject {
    pub db: String,
    pub name: String,
    pub table_type: String,
}

/// A selected source object whose destination name is taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict<'a> {
    pub source: &'a SelectedObject,
    pub existing: DestObject,
}

impl Conflict<'_> {
    fn describe(&self) -> String {
        let kind = if self.existing.table_type.eq_ignore_ascii_case("VIEW") { " (a view)" } else { "" };
        let dest = qualified(&self.existing.db, &self.existing.name);
        let src = qualified(&self.source.object.db, &self.source.object.name);
        if dest == src {
            format!("{dest}{kind}")
        } else {
            format!("{dest}{kind} (from {src})")
        }
    }
}

fn key(db: &str, name: &str, case_insensitive: bool) -> (String, String) {
    if case_insensitive {
        (db.to_lowercase(), name.to_lowercase())
    } else {
        (db.to_string(), name.to_string())
    }
}

/// The selected objects whose mapped destination name (`dest_db`.`dest_name`)
/// already exists among `existing`. `case_insensitive` when the destination
/// runs with `lower_case_table_names` 1 or 2.
pub fn conflicts<'a>(selected: &'a [SelectedObject], existing: &[DestObject], case_insensitive: bool) -> Vec<Conflict<'a>> {
    let by_name: HashMap<(String, String), &DestObject> =
        existing.iter().map(|d| (key(&d.db, &d.name, case_insensitive), d)).collect();
    selected
        .iter()
        .filter_map(|s| {
            let found = by_name.get(&key(&s.dest_db, &s.dest_name, case_insensitive))?;
            Some(Conflict { source: s, existing: (*found).clone() })
        })
        .collect()
}

/// CHECK_SAME_OBJ's outcome.
///
/// * Objects that would be copied onto themselves (`same_server`, and the
///   mapped name is the source name) always fail: the job would read and
///   overwrite the same table.
/// * Other existing objects fail with [`TargetTableMode::Block`] (Reserve
///   `targetTableMode` `"0"`, the default), naming them, and pass with
///   [`TargetTableMode::Ignore`] (`"2"`), saying which will be written into.
/// * Several source objects mapped to one destination name are noted: that
///   merges them (as intended when consolidating shards).
pub fn judge_same_obj(
    selected: &[SelectedObject],
    existing: &[DestObject],
    case_insensitive: bool,
    same_server: bool,
    mode: TargetTableMode,
) -> Outcome {
    let found = conflicts(selected, existing, case_insensitive);
    let mut merged: HashMap<(String, String), usize> = HashMap::new();
    for s in selected {
        *merged.entry(key(&s.dest_db, &s.dest_name, case_insensitive)).or_default() += 1;
    }
    let mut merged_names: Vec<String> = merged
        .iter()
        .filter(|(_, n)| **n > 1)
        .filter_map(|(k, _)| selected.iter().find(|s| key(&s.dest_db, &s.dest_name, case_insensitive) == *k))
        .map(|s| qualified(&s.dest_db, &s.dest_name))
        .collect();
    merged_names.sort();
    let merge_note = if merged_names.is_empty() {
        String::new()
    } else {
        format!(
            " Note: several source tables are mapped to {}; their rows are merged into one table.",
            list_names(merged_names.iter(), 10)
        )
    };

    let onto_itself: Vec<String> = found
        .iter()
        .filter(|c| {
            same_server
                && key(&c.source.object.db, &c.source.object.name, case_insensitive)
                    == key(&c.existing.db, &c.existing.name, case_insensitive)
        })
        .map(Conflict::describe)
        .collect();
    if !onto_itself.is_empty() {
        return Outcome::fail(
            FailureKind::Other,
            format!(
                "The source and the destination are the same server and {} would be copied onto {}. \
                 Fix: give the databases (or tables) other destination names in DbList (\"name\"), or use another destination.",
                list_names(onto_itself.iter(), 20),
                if onto_itself.len() == 1 { "itself" } else { "themselves" }
            ),
        );
    }

    let checked = format!("Checked the destination names of the {} selected table(s) and view(s)", selected.len());
    if found.is_empty() {
        return Outcome::pass(format!("{checked}: none exists on the destination yet.{merge_note}"));
    }
    let names: Vec<String> = found.iter().map(Conflict::describe).collect();
    let listed = list_names(names.iter(), 20);
    match mode {
        TargetTableMode::Block => Outcome::fail(
            FailureKind::Other,
            format!(
                "{checked}: {} already exist on the destination: {listed}. Reserve targetTableMode is \"0\", which \
                 stops the job when destination objects exist. Fix: drop or rename them on the destination, map the \
                 source tables to other names in DbList, or pass Reserve {{\"targetTableMode\":\"2\"}} to write into \
                 the existing tables.{merge_note}",
                found.len()
            ),
        ),
        TargetTableMode::Ignore => Outcome::pass(format!(
            "{checked}: {} already exist on the destination and will be written into as they are \
             (Reserve targetTableMode \"2\"): {listed}. Make sure their columns and keys match the source: a value too \
             long for a narrower column would be truncated.{merge_note}",
            found.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::catalog::resolve;
    use super::super::catalog::tests::{catalog, list};
    use super::*;

    fn dest(db: &str, name: &str) -> DestObject {
        DestObject { db: db.into(), name: name.into(), table_type: "BASE TABLE".into() }
    }

    #[test]
    fn lists_existing_tables_under_mapped_names() {
        let sel = resolve(
            &list(r#"{"shop": {"name": "shop_new", "all": true, "Table": {"orders": {"name": "orders_v2", "all": true}}}}"#),
            &catalog(),
        );
        // `shop_new`.`orders` exists but is not a mapped name; `orders_v2` and `customer` are.
        let existing = vec![dest("shop_new", "orders"), dest("shop_new", "orders_v2"), dest("shop_new", "customer"), dest("shop", "customer")];
        let found = conflicts(&sel.objects, &existing, false);
        let names: Vec<String> = found.iter().map(|c| c.describe()).collect();
        assert_eq!(names, ["`shop_new`.`orders_v2` (from `shop`.`orders`)", "`shop_new`.`customer` (from `shop`.`customer`)"]);

        let o = judge_same_obj(&sel.objects, &existing, false, true, TargetTableMode::Block);
        assert_eq!(o.failure, Some(FailureKind::Other), "{o:?}");
        assert!(o.detail.contains("2 already exist on the destination: `shop_new`.`orders_v2` (from `shop`.`orders`), `shop_new`.`customer`"), "{}", o.detail);
        assert!(o.detail.contains(r#"Reserve {"targetTableMode":"2"}"#), "{}", o.detail);

        let o = judge_same_obj(&sel.objects, &existing, false, true, TargetTableMode::Ignore);
        assert!(o.passed, "{o:?}");
        assert!(o.detail.contains("will be written into as they are"), "{}", o.detail);
        assert!(o.detail.contains("`shop_new`.`orders_v2`"), "{}", o.detail);

        let o = judge_same_obj(&sel.objects, &[dest("other", "orders_v2")], false, true, TargetTableMode::Block);
        assert!(o.passed && o.detail.contains("none exists"), "{o:?}");
    }

    #[test]
    fn case_insensitive_destination() {
        let sel = resolve(&list(r#"{"Logs": {"all": true}}"#), &catalog());
        let existing = vec![dest("logs", "events")];
        assert!(conflicts(&sel.objects, &existing, false).is_empty());
        assert_eq!(conflicts(&sel.objects, &existing, true).len(), 1);
    }

    #[test]
    fn copying_onto_itself_fails_even_when_ignoring() {
        let sel = resolve(&list(r#"{"shop": {"all": false, "Table": {"orders": {"all": true}}}}"#), &catalog());
        let existing = vec![dest("shop", "orders")];
        let o = judge_same_obj(&sel.objects, &existing, false, true, TargetTableMode::Ignore);
        assert_eq!(o.failure, Some(FailureKind::Other), "{o:?}");
        assert!(o.detail.contains("`shop`.`orders` would be copied onto itself"), "{}", o.detail);
        // Different servers: just an existing table.
        let o = judge_same_obj(&sel.objects, &existing, false, false, TargetTableMode::Ignore);
        assert!(o.passed, "{o:?}");
    }

    #[test]
    fn views_and_merges() {
        let sel = resolve(
            &list(r#"{"shop_1": {"name": "shop", "all": true}, "shop_2": {"name": "shop", "all": true}, "shop": {"name": "x", "all": false, "Table": {"v_orders": {"all": true}}}}"#),
            &catalog(),
        );
        let existing = vec![DestObject { db: "x".into(), name: "v_orders".into(), table_type: "VIEW".into() }];
        let o = judge_same_obj(&sel.objects, &existing, false, false, TargetTableMode::Block);
        assert!(o.detail.contains("`x`.`v_orders` (a view) (from `shop`.`v_orders`)"), "{}", o.detail);
        assert!(o.detail.contains("several source tables are mapped to `shop`.`orders`"), "{}", o.detail);
    }
}
