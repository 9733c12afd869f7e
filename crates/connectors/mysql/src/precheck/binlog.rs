//! The binlog items of a data synchronization: CHECK_BINLOG_ON,
//! CHECK_BINLOG_MODE, CHECK_BINLOG_ROW_IMAGE, CHECK_SERVER_ID and
//! CHECK_BINLOG_EXIST. The judges are pure; `mod.rs` reads the values.

use opendts_core::probe::{FailureKind, Outcome};
use std::collections::HashMap;

use super::list_names;

/// Global variables of the source, by lower-case name (absent when the server
/// does not have the variable).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars(pub HashMap<String, String>);

/// The variables the binlog items read, for `SHOW GLOBAL VARIABLES WHERE Variable_name IN (…)`.
pub const VARIABLES: &[&str] =
    &["log_bin", "binlog_format", "binlog_row_image", "server_id", "expire_logs_days", "binlog_expire_logs_seconds"];

impl Vars {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim())
    }

    fn is_on(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| v.eq_ignore_ascii_case("ON") || v == "1")
    }

    /// How long binlogs are kept, in seconds; `None` when forever.
    pub fn retention_seconds(&self) -> Option<u64> {
        let seconds = self.get("binlog_expire_logs_seconds").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        if seconds > 0 {
            return Some(seconds);
        }
        let days = self.get("expire_logs_days").and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        (days > 0.0).then_some((days * 86_400.0) as u64)
    }
}

const RESTART_NOTE: &str = "in the [mysqld] section of the source's configuration file";

/// CHECK_BINLOG_ON: `log_bin` is ON.
pub fn judge_binlog_on(v: &Vars) -> Outcome {
    if v.is_on("log_bin") {
        return Outcome::pass("Binary logging is enabled on the source (log_bin = ON).");
    }
    Outcome::fail(
        FailureKind::Other,
        format!(
            "Binary logging is disabled on the source (log_bin = {}), so there are no changes to synchronize. \
             Fix: set log_bin=mysql-bin and a non-zero server_id {RESTART_NOTE} (and remove skip-log-bin / \
             disable-log-bin if present), then restart the server.",
            v.get("log_bin").unwrap_or("not set")
        ),
    )
}

/// CHECK_BINLOG_MODE: `binlog_format` is ROW.
pub fn judge_binlog_mode(v: &Vars) -> Outcome {
    match v.get("binlog_format") {
        Some(f) if f.eq_ignore_ascii_case("ROW") => {
            Outcome::pass("The source's global binlog_format is ROW: every change is logged as row images.")
        }
        value => Outcome::fail(
            FailureKind::Other,
            format!(
                "The source's global binlog_format is {}, but OpenDTS reads row events and needs ROW \
                 (STATEMENT and MIXED log SQL text whose effect cannot be replayed exactly). Fix: SET GLOBAL \
                 binlog_format = 'ROW' and set binlog_format=ROW {RESTART_NOTE}; sessions already connected keep \
                 their format until they reconnect, so restart or reconnect the applications.",
                value.unwrap_or("not set")
            ),
        ),
    }
}

/// CHECK_BINLOG_ROW_IMAGE: `binlog_row_image` is FULL (MySQL 5.5 and MariaDB
/// before 10.1.6 have no such variable and always log full images).
pub fn judge_row_image(v: &Vars) -> Outcome {
    match v.get("binlog_row_image") {
        None => Outcome::pass(
            "The source has no binlog_row_image variable (MySQL 5.5, MariaDB before 10.1.6): it always logs full row images.",
        ),
        Some(i) if i.eq_ignore_ascii_case("FULL") => {
            Outcome::pass("The source's global binlog_row_image is FULL: row events carry every column before and after the change.")
        }
        Some(i) => Outcome::fail(
            FailureKind::Other,
            format!(
                "The source's global binlog_row_image is {i}: row events then omit columns, so OpenDTS could neither \
                 find the changed row by all its columns nor write complete rows. Fix: SET GLOBAL binlog_row_image = \
                 'FULL' and set binlog_row_image=FULL {RESTART_NOTE}; it applies to sessions opened afterwards, so \
                 reconnect the applications."
            ),
        ),
    }
}

/// CHECK_SERVER_ID: `server_id` is set and not 0.
pub fn judge_server_id(v: &Vars) -> Outcome {
    match v.get("server_id").and_then(|s| s.parse::<u64>().ok()) {
        Some(id) if id > 0 => Outcome::pass(format!("The source's server_id is {id} (set and non-zero).")),
        _ => Outcome::fail(
            FailureKind::Other,
            format!(
                "The source's server_id is {}: a server with server_id 0 refuses replication clients, so OpenDTS \
                 cannot read its binlog. Fix: SET GLOBAL server_id = <a positive number unique among your \
                 replicating servers> and set server_id {RESTART_NOTE}.",
                v.get("server_id").unwrap_or("not set")
            ),
        ),
    }
}

/// One row of `SHOW BINARY LOGS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinlogFile {
    pub name: String,
    pub size: u64,
}

/// What CHECK_BINLOG_EXIST found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BinlogListing {
    pub files: Vec<BinlogFile>,
    /// Files that could not be read with `SHOW BINLOG EVENTS IN … LIMIT 1`, with the server's error.
    pub unreadable: Vec<(String, String)>,
}

/// Smallest real binlog file: the 4-byte magic number and a format
/// description event. The server reports size 0 for a listed file it cannot
/// open, which is what a file deleted by hand looks like.
const MIN_BINLOG_SIZE: u64 = 4;

/// CHECK_BINLOG_EXIST: the files of the binary log index exist, and the
/// first and the current (last) one can be read.
pub fn judge_binlog_exist(listing: &BinlogListing, vars: &Vars) -> Outcome {
    let Some(current) = listing.files.last() else {
        return Outcome::fail(
            FailureKind::Other,
            "SHOW BINARY LOGS lists no file on the source. Fix: enable binary logging (see CHECK_BINLOG_ON) and check the binlog index file.",
        );
    };
    let missing: Vec<&str> =
        listing.files.iter().filter(|f| f.size < MIN_BINLOG_SIZE).map(|f| f.name.as_str()).collect();
    let unreadable: Vec<String> = listing.unreadable.iter().map(|(f, e)| format!("{f} ({e})")).collect();
    if !missing.is_empty() || !unreadable.is_empty() {
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(format!(
                "the binary log index lists files that are missing or empty on disk: {}",
                list_names(missing.iter(), 10)
            ));
        }
        if !unreadable.is_empty() {
            problems.push(format!("the server cannot read {}", unreadable.join("; ")));
        }
        let first_good = listing.files.iter().rev().take_while(|f| f.size >= MIN_BINLOG_SIZE).last();
        let purge = match first_good {
            Some(f) if !missing.is_empty() => format!(" If they were deleted by hand and are not needed, run PURGE BINARY LOGS TO '{}' so the index matches the disk.", f.name),
            _ => String::new(),
        };
        return Outcome::fail(
            FailureKind::Other,
            format!(
                "Checked the {} binlog file(s) listed by SHOW BINARY LOGS: {}. Fix: restore the files or check that the \
                 server can read its binlog directory (permissions, disk).{purge}",
                listing.files.len(),
                problems.join("; ")
            ),
        );
    }
    let total: u64 = listing.files.iter().map(|f| f.size).sum();
    let mut detail = format!(
        "The source has {} binlog file(s) ({} bytes), from {} to the current {}; the first and the current one are readable.",
        listing.files.len(),
        total,
        listing.files.first().map_or(current.name.as_str(), |f| f.name.as_str()),
        current.name
    );
    match vars.retention_seconds() {
        Some(s) if s < 86_400 => detail.push_str(&format!(
            " Warning: binlogs are purged after {} hour(s); if the full load takes longer, the position where \
             synchronization starts is lost. Keep them at least 24 hours (7 days is safer) with \
             binlog_expire_logs_seconds or expire_logs_days.",
            s / 3600
        )),
        Some(s) => detail.push_str(&format!(" Binlogs are kept for {} hour(s).", s / 3600)),
        None => detail.push_str(" Binlogs are never purged automatically."),
    }
    Outcome::pass(detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn binlog_on() {
        assert!(judge_binlog_on(&vars(&[("log_bin", "ON")])).passed);
        assert!(judge_binlog_on(&vars(&[("log_bin", "1")])).passed);
        let o = judge_binlog_on(&vars(&[("log_bin", "OFF")]));
        assert_eq!(o.failure, Some(FailureKind::Other));
        assert!(o.detail.contains("log_bin = OFF") && o.detail.contains("restart"), "{}", o.detail);
        let o = judge_binlog_on(&vars(&[]));
        assert!(!o.passed && o.detail.contains("log_bin = not set"), "{o:?}");
    }

    #[test]
    fn format_and_image() {
        assert!(judge_binlog_mode(&vars(&[("binlog_format", "row")])).passed);
        let o = judge_binlog_mode(&vars(&[("binlog_format", "MIXED")]));
        assert!(!o.passed && o.detail.contains("is MIXED") && o.detail.contains("SET GLOBAL binlog_format = 'ROW'"), "{o:?}");
        assert!(judge_row_image(&vars(&[("binlog_row_image", "FULL")])).passed);
        assert!(judge_row_image(&vars(&[])).passed, "5.5 has no variable and logs full images");
        for bad in ["MINIMAL", "NOBLOB", "FULL_NODUP"] {
            let o = judge_row_image(&vars(&[("binlog_row_image", bad)]));
            assert!(!o.passed && o.detail.contains(bad) && o.detail.contains("'FULL'"), "{o:?}");
        }
    }

    #[test]
    fn server_id() {
        assert!(judge_server_id(&vars(&[("server_id", "1")])).passed);
        assert!(judge_server_id(&vars(&[("server_id", "4294967295")])).passed);
        for bad in [Some("0"), Some("x"), None] {
            let v = bad.map(|b| vars(&[("server_id", b)])).unwrap_or_default();
            let o = judge_server_id(&v);
            assert_eq!(o.failure, Some(FailureKind::Other), "{bad:?}");
            assert!(o.detail.contains("SET GLOBAL server_id"), "{o:?}");
        }
    }

    fn file(name: &str, size: u64) -> BinlogFile {
        BinlogFile { name: name.into(), size }
    }

    #[test]
    fn binlog_files() {
        let ok = BinlogListing { files: vec![file("mysql-bin.000001", 1135), file("mysql-bin.000002", 365)], unreadable: vec![] };
        let o = judge_binlog_exist(&ok, &vars(&[("binlog_expire_logs_seconds", "0"), ("expire_logs_days", "0.000000")]));
        assert!(o.passed, "{o:?}");
        assert!(o.detail.contains("2 binlog file(s) (1500 bytes), from mysql-bin.000001 to the current mysql-bin.000002"), "{}", o.detail);
        assert!(o.detail.contains("never purged"), "{}", o.detail);
        let o = judge_binlog_exist(&ok, &vars(&[("binlog_expire_logs_seconds", "3600")]));
        assert!(o.passed && o.detail.contains("Warning: binlogs are purged after 1 hour(s)"), "{o:?}");
        let o = judge_binlog_exist(&ok, &vars(&[("expire_logs_days", "7")]));
        assert!(o.detail.contains("kept for 168 hour(s)"), "{o:?}");

        let gone = BinlogListing { files: vec![file("b.000001", 0), file("b.000002", 0), file("b.000003", 500)], unreadable: vec![] };
        let o = judge_binlog_exist(&gone, &Vars::default());
        assert!(!o.passed);
        assert!(o.detail.contains("missing or empty on disk: b.000001, b.000002"), "{}", o.detail);
        assert!(o.detail.contains("PURGE BINARY LOGS TO 'b.000003'"), "{}", o.detail);

        let unreadable = BinlogListing {
            files: vec![file("b.000001", 900)],
            unreadable: vec![("b.000001".into(), "ERROR 1220 (HY000): Could not find target log".into())],
        };
        let o = judge_binlog_exist(&unreadable, &Vars::default());
        assert!(!o.passed && o.detail.contains("cannot read b.000001 (ERROR 1220"), "{o:?}");

        let o = judge_binlog_exist(&BinlogListing::default(), &Vars::default());
        assert!(!o.passed && o.detail.contains("lists no file"), "{o:?}");
    }
}
