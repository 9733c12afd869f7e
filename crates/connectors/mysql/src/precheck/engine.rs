//! CHECK_ENGINE: every selected source table uses a storage engine whose rows
//! OpenDTS can read in a full load, follow in the binlog, and rewrite
//! idempotently on the destination.

use opendts_core::probe::{FailureKind, Outcome};
use std::collections::BTreeMap;

use super::catalog::Selection;
use super::{list_names, qualified};

/// What OpenDTS makes of a storage engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineVerdict {
    Copyable,
    /// Refused, with the reason.
    Refused(&'static str),
}

/// Engines that store their rows on this server, return them to SELECT, log
/// every change as row events, and support keys and UPDATE/DELETE (so a
/// resumed copy can overwrite what it already wrote).
const COPYABLE: &[&str] = &["INNODB", "XTRADB", "MYISAM", "ARIA", "MEMORY", "HEAP", "ROCKSDB", "TOKUDB"];

/// The verdict for `ENGINE` of `information_schema.TABLES` (`None` when the
/// server reports no engine for a table, which happens when its engine plugin
/// is not loaded). Case-insensitive; unknown engines are refused, since
/// OpenDTS has not been validated with them.
pub fn engine_verdict(engine: Option<&str>) -> EngineVerdict {
    let Some(engine) = engine.map(str::trim).filter(|e| !e.is_empty()) else {
        return EngineVerdict::Refused(
            "the server reports no engine for it: its engine plugin is probably not loaded (see the TABLE_COMMENT column of information_schema.TABLES)",
        );
    };
    let upper = engine.to_ascii_uppercase();
    if COPYABLE.contains(&upper.as_str()) {
        return EngineVerdict::Copyable;
    }
    EngineVerdict::Refused(match upper.as_str() {
        "FEDERATED" | "FEDERATEDX" => "its rows live on another server, and changes made there never reach this server's binlog",
        "BLACKHOLE" => "it stores no rows: a full load would read nothing, and a BLACKHOLE table recreated on the destination would discard every row written to it",
        "CONNECT" => "its rows live in external files or remote tables, outside this server's binlog",
        "SPIDER" => "its rows live on remote shards; migrate from the shards instead",
        "MRG_MYISAM" | "MRG_MYISAM_ENGINE" | "MERGE" => "its rows belong to the underlying MyISAM tables: copying both would duplicate them; migrate the underlying tables and recreate the MERGE table by hand",
        "ARCHIVE" => "it supports neither UPDATE, DELETE nor unique keys, so rows already copied cannot be rewritten when a load resumes or the binlog replays",
        "CSV" => "it has no keys, so rows already copied cannot be rewritten when a load resumes or the binlog replays",
        "S3" => "it is a read-only archive kept in object storage",
        "OQGRAPH" => "it computes its rows from another table instead of storing them",
        "SEQUENCE" => "it generates its rows instead of storing them",
        "PERFORMANCE_SCHEMA" => "it holds server instrumentation, not user data",
        "NDB" | "NDBCLUSTER" => "its rows live in an NDB cluster and change through other SQL nodes whose binlog OpenDTS does not read",
        _ => "OpenDTS has not been validated with this engine",
    })
}

/// CHECK_ENGINE's outcome for a resolved DbList selection: names that do not
/// exist, then tables whose engine OpenDTS refuses.
pub fn judge_engines(sel: &Selection) -> Outcome {
    let notes = if sel.notes.is_empty() { String::new() } else { format!(" Note: {}.", sel.notes.join("; ")) };

    let mut refused: BTreeMap<(String, &'static str), Vec<String>> = BTreeMap::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for t in sel.tables() {
        let engine = t.object.engine.as_deref();
        match engine_verdict(engine) {
            EngineVerdict::Copyable => *counts.entry(engine.unwrap_or_default().to_string()).or_default() += 1,
            EngineVerdict::Refused(why) => refused
                .entry((engine.unwrap_or("no engine").to_string(), why))
                .or_default()
                .push(qualified(&t.object.db, &t.object.name)),
        }
    }

    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    if !sel.missing.is_empty() {
        let lead = if sel.objects.is_empty() {
            "The DbList selects no table on the source"
        } else {
            "The DbList names objects that do not exist on the source"
        };
        problems.push(format!("{lead}: {}.", sel.missing.join("; ")));
        fixes.push(
            "correct the names in DbList (they are case-sensitive), create the objects, or grant the source account \
             SELECT on them",
        );
    }
    if !refused.is_empty() {
        let list: Vec<String> = refused
            .iter()
            .map(|((engine, why), tables)| {
                let verb = if tables.len() == 1 { "uses" } else { "use" };
                format!("{} {verb} {engine}, which OpenDTS cannot copy: {why}", list_names(tables.iter(), 10))
            })
            .collect();
        problems.push(format!("{}.", list.join("; ")));
        fixes.push(
            "convert these tables to a supported engine (e.g. ALTER TABLE `db`.`table` ENGINE=InnoDB) or remove them \
             from the DbList",
        );
    }
    if !problems.is_empty() {
        let only_missing_databases = refused.is_empty() && sel.missing.iter().all(|m| m.starts_with("database ") && m.contains("does not exist"));
        let kind = if only_missing_databases { FailureKind::UnknownDatabase } else { FailureKind::Other };
        return Outcome::fail(kind, format!("{} Fix: {}.{notes}", problems.join(" "), fixes.join("; ")));
    }

    let tables = sel.tables().count();
    let engines: Vec<String> = counts.iter().map(|(e, n)| format!("{e} ({n})")).collect();
    let detail = if tables == 0 {
        format!("The DbList selects {} database(s) and no table; nothing to check.{notes}", sel.databases.len())
    } else {
        format!(
            "Checked the storage engines of the {tables} selected table(s) in {} database(s): {}; OpenDTS can copy all of them.{notes}",
            sel.databases.len(),
            engines.join(", ")
        )
    };
    Outcome::pass(detail)
}

#[cfg(test)]
mod tests {
    use super::super::catalog::resolve;
    use super::super::catalog::tests::{catalog, list, table};
    use super::*;

    #[test]
    fn allow_list() {
        for e in ["InnoDB", "innodb", "MyISAM", "Aria", "MEMORY", "ROCKSDB", "TokuDB"] {
            assert_eq!(engine_verdict(Some(e)), EngineVerdict::Copyable, "{e}");
        }
        for e in ["FEDERATED", "BLACKHOLE", "CONNECT", "SPIDER", "MRG_MyISAM", "ARCHIVE", "CSV", "S3", "SEQUENCE", "NewEngine", ""] {
            assert!(matches!(engine_verdict(Some(e)), EngineVerdict::Refused(_)), "{e}");
        }
        assert!(matches!(engine_verdict(None), EngineVerdict::Refused(w) if w.contains("plugin")));
    }

    #[test]
    fn passes_with_engine_counts() {
        let o = judge_engines(&resolve(&list(r#"{"shop": {"all": true}, "Logs": {"all": true}}"#), &catalog()));
        assert!(o.passed, "{o:?}");
        assert!(o.detail.contains("3 selected table(s) in 2 database(s): InnoDB (2), MyISAM (1)"), "{}", o.detail);
    }

    #[test]
    fn refuses_blackhole_and_federated_naming_each_table() {
        let mut c = catalog();
        c.objects.push(table("shop", "sink", "BLACKHOLE"));
        c.objects.push(table("shop", "remote", "FEDERATED"));
        c.objects.push(table("shop", "remote2", "FEDERATED"));
        let o = judge_engines(&resolve(&list(r#"{"shop": {"all": true}}"#), &c));
        assert_eq!(o.failure, Some(FailureKind::Other), "{o:?}");
        assert!(o.detail.contains("`shop`.`sink` uses BLACKHOLE, which OpenDTS cannot copy: it stores no rows"), "{}", o.detail);
        assert!(o.detail.contains("`shop`.`remote`, `shop`.`remote2` use FEDERATED"), "{}", o.detail);
        assert!(o.detail.contains("ENGINE=InnoDB"), "{}", o.detail);
        // Not selected: no matter.
        let o = judge_engines(&resolve(&list(r#"{"shop": {"all": false, "Table": {"orders": {"all": true}}}}"#), &c));
        assert!(o.passed, "{o:?}");
    }

    #[test]
    fn selects_nothing() {
        let o = judge_engines(&resolve(&list(r#"{"nope": {"all": true}}"#), &catalog()));
        assert_eq!(o.failure, Some(FailureKind::UnknownDatabase), "{o:?}");
        assert!(o.detail.starts_with("The DbList selects no table on the source: database `nope` does not exist"), "{}", o.detail);
        let o = judge_engines(&resolve(&list(r#"{"shop": {"all": false, "Table": {"nope": {"all": true}, "orders": {"all": true}}}}"#), &catalog()));
        assert_eq!(o.failure, Some(FailureKind::Other), "{o:?}");
        assert!(o.detail.starts_with("The DbList names objects that do not exist on the source: table `shop`.`nope`"), "{}", o.detail);
        let o = judge_engines(&resolve(&list(r#"{"zz.*": {"all": true}}"#), &catalog()));
        assert!(o.detail.contains("no source database matches the DbList"), "{}", o.detail);
        assert_eq!(o.failure, Some(FailureKind::Other), "{o:?}");
    }
}
