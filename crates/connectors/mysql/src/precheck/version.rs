//! Server versions: parsing `VERSION()`, the versions OpenDTS supports
//! (CHECK_SRC), and what a destination of another version can hold
//! (CHECK_TOPOLOGY).

use opendts_core::probe::{FailureKind, Outcome};
use std::collections::{BTreeMap, HashSet};
use std::fmt;

use super::list_names;

/// The product behind a MySQL-protocol server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// Oracle MySQL and its builds (Percona Server, PolarDB MySQL, RDS MySQL).
    MySql,
    MariaDb,
    /// TiDB speaks the protocol but has no MySQL binary log.
    TiDb,
}

impl Flavor {
    pub fn name(self) -> &'static str {
        match self {
            Flavor::MySql => "MySQL",
            Flavor::MariaDb => "MariaDB",
            Flavor::TiDb => "TiDB",
        }
    }
}

/// A parsed server version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerVersion {
    pub flavor: Flavor,
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
    /// `VERSION()` exactly as the server reported it.
    pub text: String,
}

impl fmt::Display for ServerVersion {
    /// `MariaDB 10.11.19`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}.{}.{}", self.flavor.name(), self.major, self.minor, self.patch)
    }
}

/// Reads `a.b.c` at the start of `s` (missing parts are 0); `None` without a major number.
fn leading_triple(s: &str) -> Option<(u32, u32, u32)> {
    let mut parts = [0u32; 3];
    let mut rest = s;
    for (i, part) in parts.iter_mut().enumerate() {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            if i == 0 {
                return None;
            }
            break;
        }
        *part = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        match rest.strip_prefix('.') {
            Some(r) => rest = r,
            None => break,
        }
    }
    Some((parts[0], parts[1], parts[2]))
}

impl ServerVersion {
    /// Parses `SELECT VERSION()` (and `@@version_comment`, which names the
    /// product on some builds). Understands MariaDB's replication prefix
    /// (`5.5.5-10.11.6-MariaDB`) and TiDB's (`8.0.11-TiDB-v7.5.1`).
    pub fn parse(version: &str, version_comment: &str) -> Option<ServerVersion> {
        let text = version.trim();
        let lower = text.to_ascii_lowercase();
        if let Some(at) = lower.find("-tidb-v") {
            let (major, minor, patch) = leading_triple(&text[at + "-tidb-v".len()..])?;
            return Some(ServerVersion { flavor: Flavor::TiDb, major, minor, patch, text: text.to_string() });
        }
        let mariadb = lower.contains("mariadb") || version_comment.to_ascii_lowercase().contains("mariadb");
        let numbers = match text.strip_prefix("5.5.5-") {
            Some(rest) if mariadb && leading_triple(rest).is_some() => rest,
            _ => text,
        };
        let (major, minor, patch) = leading_triple(numbers)?;
        let flavor = if mariadb { Flavor::MariaDb } else { Flavor::MySql };
        Some(ServerVersion { flavor, major, minor, patch, text: text.to_string() })
    }

    /// Whether this version is `major.minor.patch` or later.
    pub fn at_least(&self, major: u32, minor: u32, patch: u32) -> bool {
        (self.major, self.minor, self.patch) >= (major, minor, patch)
    }

    fn series(&self) -> (u32, u32) {
        (self.major, self.minor)
    }
}

/// The versions OpenDTS supports, as text for messages.
pub const SUPPORTED_TEXT: &str = "MySQL 5.5 to 9.x (including Percona Server and other MySQL builds) and MariaDB 10.0 to 11.x";

/// Why OpenDTS does not support `v`, or `None` when it does.
///
/// MySQL 5.5–9.x and MariaDB 10.0–11.x: the releases whose binary log
/// (v1 and v2 row events, MySQL and MariaDB GTIDs) and catalog OpenDTS reads.
/// Older servers lack row-based logging features OpenDTS relies on; newer
/// majors may change either, so they are refused until tested.
pub fn unsupported_reason(v: &ServerVersion) -> Option<String> {
    match v.flavor {
        Flavor::TiDb => Some(format!(
            "{v} is TiDB, which has no MySQL binary log and a different catalog; OpenDTS does not support it"
        )),
        Flavor::MySql if v.major < 5 || (v.major == 5 && v.minor < 5) => {
            Some(format!("{v} is older than MySQL 5.5, the oldest release OpenDTS supports"))
        }
        Flavor::MySql if v.major >= 10 => Some(format!("{v} is newer than the MySQL releases OpenDTS has been built for (up to 9.x)")),
        Flavor::MariaDb if v.major < 10 => {
            Some(format!("{v} is older than MariaDB 10.0, the oldest release OpenDTS supports"))
        }
        Flavor::MariaDb if v.major >= 12 => {
            Some(format!("{v} is newer than the MariaDB releases OpenDTS has been built for (up to 11.x)"))
        }
        _ => None,
    }
}

/// CHECK_SRC: the source runs a version OpenDTS supports.
pub fn judge_source_version(v: &ServerVersion) -> Outcome {
    match unsupported_reason(v) {
        None => Outcome::pass(format!(
            "The source runs {v} (VERSION() = {:?}); OpenDTS supports {SUPPORTED_TEXT}.",
            v.text
        )),
        Some(reason) => Outcome::fail(
            FailureKind::NotSupported,
            format!(
                "The source runs {v} (VERSION() = {:?}): {reason}. OpenDTS supports {SUPPORTED_TEXT}. \
                 Fix: migrate from a supported release (upgrade the source, or replicate it to a supported \
                 server first), or skip CHECK_SRC with SkipPreCheck at your own risk.",
                v.text
            ),
        ),
    }
}

/// A collation used by the selected source objects, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollationUse {
    pub collation: String,
    /// The objects using it (`db`, `db`.`table`, `db`.`table`.`column`).
    pub used_by: Vec<String>,
}

/// A column whose type not every server has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeUse {
    /// `db`.`table`.`column`.
    pub column: String,
    /// `DATA_TYPE`, lower case.
    pub data_type: String,
    /// `COLUMN_TYPE`, lower case (carries the fractional-seconds precision).
    pub column_type: String,
}

/// Why `dest` cannot create a column of this type, or `None` when it can.
///
/// Only the types that differ between the supported releases are listed:
/// JSON (MySQL 5.7.8, MariaDB 10.2.7 as an alias of LONGTEXT), MariaDB's
/// INET6 (10.5), UUID (10.7) and INET4 (10.10), VECTOR (MySQL 9.0, MariaDB
/// 11.7), and fractional seconds in TIME/DATETIME/TIMESTAMP (MySQL 5.6.4).
pub fn type_unavailable(dest: &ServerVersion, data_type: &str, column_type: &str) -> Option<&'static str> {
    let mysql = dest.flavor != Flavor::MariaDb;
    match data_type {
        "json" if mysql && !dest.at_least(5, 7, 8) => Some("JSON needs MySQL 5.7.8 or later"),
        "json" if !mysql && !dest.at_least(10, 2, 7) => Some("JSON needs MariaDB 10.2.7 or later"),
        "inet6" if mysql => Some("INET6 is a MariaDB type that MySQL does not have"),
        "inet6" if !dest.at_least(10, 5, 0) => Some("INET6 needs MariaDB 10.5 or later"),
        "uuid" if mysql => Some("UUID is a MariaDB type that MySQL does not have"),
        "uuid" if !dest.at_least(10, 7, 0) => Some("UUID needs MariaDB 10.7 or later"),
        "inet4" if mysql => Some("INET4 is a MariaDB type that MySQL does not have"),
        "inet4" if !dest.at_least(10, 10, 0) => Some("INET4 needs MariaDB 10.10 or later"),
        "vector" if mysql && !dest.at_least(9, 0, 0) => Some("VECTOR needs MySQL 9.0 or later"),
        "vector" if !mysql && !dest.at_least(11, 7, 0) => Some("VECTOR needs MariaDB 11.7 or later"),
        "time" | "datetime" | "timestamp" if mysql && !dest.at_least(5, 6, 4) && has_fraction(column_type) => {
            Some("fractional seconds need MySQL 5.6.4 or later; older servers would drop them")
        }
        _ => None,
    }
}

/// `datetime(3)` yes, `datetime` / `datetime(0)` no.
fn has_fraction(column_type: &str) -> bool {
    column_type
        .split_once('(')
        .and_then(|(_, rest)| rest.split(')').next())
        .and_then(|digits| digits.trim().parse::<u32>().ok())
        .is_some_and(|p| p > 0)
}

/// The collation names a server knows, normalized: `utf8_*` and `utf8mb3_*`
/// are the same collations under two spellings (MySQL 8.0.30 and MariaDB 10.6
/// report `utf8mb3_`, older servers `utf8_`).
pub fn normalize_collation(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    match lower.strip_prefix("utf8mb3_") {
        Some(rest) => format!("utf8_{rest}"),
        None => lower,
    }
}

/// What CHECK_TOPOLOGY compares.
#[derive(Debug, Clone)]
pub struct TopologyFacts<'a> {
    pub source: &'a ServerVersion,
    pub dest: &'a ServerVersion,
    /// Whether the job creates the destination's databases and tables
    /// (structure initialization): only then must the destination know the
    /// source's collations and column types.
    pub creates_structure: bool,
    pub collations: &'a [CollationUse],
    pub types: &'a [TypeUse],
    /// Every collation the destination knows, as [`normalize_collation`] spells it.
    pub dest_collations: &'a HashSet<String>,
}

/// CHECK_TOPOLOGY: can the destination hold what the source has?
///
/// Fails when the destination runs a release OpenDTS does not support, or
/// (when the job creates the structure) when a collation or a column type
/// used by the selected objects does not exist on the destination: MySQL
/// 8.0's `utf8mb4_0900_*` collations on MySQL 5.7 or MariaDB, MariaDB's
/// `uca1400` collations or INET6 columns on MySQL, JSON on MySQL 5.6, ...
/// The check reads the destination's own collation list rather than a table
/// of versions, so builds with extra collations are judged by what they have.
///
/// A destination older than the source (MySQL 8.0 → 5.7) or of the other
/// flavor (MariaDB ↔ MySQL) passes when nothing above breaks the copy, with
/// a warning in the detail: definitions using newer features (expression
/// defaults, invisible columns, functional indexes, CHECK constraints,
/// sequences, system-versioned tables) may still fail in schema migration.
pub fn judge_topology(f: &TopologyFacts<'_>) -> Outcome {
    let (src, dst) = (f.source, f.dest);
    let head = format!("Source {src} → destination {dst} (VERSION() = {:?}).", dst.text);
    if let Some(reason) = unsupported_reason(dst) {
        return Outcome::fail(
            FailureKind::NotSupported,
            format!("{head} The destination is not supported: {reason}. OpenDTS writes to {SUPPORTED_TEXT}. Fix: use a destination running a supported release."),
        );
    }

    let mut warnings = Vec::new();
    if src.flavor != dst.flavor {
        warnings.push(format!(
            "Warning: {} → {} crosses products; OpenDTS copies tables and rows, but {}-only features \
             (for example {}) are not carried over and need checking by hand.",
            src.flavor.name(),
            dst.flavor.name(),
            src.flavor.name(),
            match src.flavor {
                Flavor::MariaDb => "sequences, system-versioned tables, INVISIBLE columns",
                _ => "functional indexes, CHECK constraints, the binary JSON format (copied as text)",
            }
        ));
    } else if dst.series() < src.series() {
        warnings.push(format!(
            "Warning: the destination ({}.{}) is older than the source ({}.{}); table definitions using \
             features the destination lacks (expression defaults, invisible columns, functional indexes, \
             CHECK constraints) may fail in schema migration.",
            dst.major, dst.minor, src.major, src.minor
        ));
    }

    if !f.creates_structure {
        let mut detail = format!(
            "{head} Structure initialization is off: OpenDTS writes into the destination's existing tables, \
             so the source's collations and column types were not compared."
        );
        for w in warnings {
            detail.push(' ');
            detail.push_str(&w);
        }
        return Outcome::pass(detail);
    }

    // Collations the destination lacks, each with the objects using it.
    let mut missing_collations: BTreeMap<&str, &[String]> = BTreeMap::new();
    for u in f.collations {
        if !f.dest_collations.contains(&normalize_collation(&u.collation)) {
            missing_collations.insert(&u.collation, &u.used_by);
        }
    }
    let mut problems = Vec::new();
    for (collation, used_by) in &missing_collations {
        problems.push(format!("collation {collation} (used by {})", list_names(used_by.iter(), 5)));
    }
    let mut bad_types: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for t in f.types {
        if let Some(why) = type_unavailable(dst, &t.data_type, &t.column_type) {
            bad_types.entry(why).or_default().push(&t.column);
        }
    }
    for (why, columns) in &bad_types {
        problems.push(format!("{why} (columns {})", list_names(columns.iter(), 5)));
    }

    let checked = format!(
        "Checked that the destination knows the {} collation(s) and the version-dependent column types \
         ({} column(s)) used by the selected objects.",
        f.collations.len(),
        f.types.len()
    );
    if problems.is_empty() {
        let mut detail = format!("{head} {checked}");
        for w in warnings {
            detail.push(' ');
            detail.push_str(&w);
        }
        return Outcome::pass(detail);
    }
    let mut fix = String::from("Fix: ");
    if !missing_collations.is_empty() {
        fix.push_str(&format!(
            "use a destination release that has these collations (a {} of at least the source's version), or \
             convert the source tables first, e.g. ALTER TABLE … CONVERT TO CHARACTER SET utf8mb4 COLLATE {}",
            dst.flavor.name(),
            if dst.flavor == Flavor::MariaDb { "utf8mb4_unicode_ci" } else { "utf8mb4_general_ci" }
        ));
        if !bad_types.is_empty() {
            fix.push_str("; ");
        }
    }
    if !bad_types.is_empty() {
        fix.push_str("upgrade the destination, change those columns to types it has, or leave them out of the DbList column list");
    }
    fix.push('.');
    Outcome::fail(
        FailureKind::Other,
        format!("{head} The destination cannot create what the selected objects use: {}. {fix}", problems.join("; ")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> ServerVersion {
        ServerVersion::parse(text, "").unwrap()
    }

    #[test]
    fn parses_versions() {
        let m = ServerVersion::parse("10.11.19-MariaDB-0+deb12u1-log", "Debian 12").unwrap();
        assert_eq!((m.flavor, m.major, m.minor, m.patch), (Flavor::MariaDb, 10, 11, 19));
        assert_eq!(m.to_string(), "MariaDB 10.11.19");
        let m = v("5.5.5-10.6.12-MariaDB");
        assert_eq!((m.flavor, m.major, m.minor, m.patch), (Flavor::MariaDb, 10, 6, 12));
        let m = v("8.0.36");
        assert_eq!((m.flavor, m.major, m.minor, m.patch), (Flavor::MySql, 8, 0, 36));
        assert_eq!(v("5.7.44-log").to_string(), "MySQL 5.7.44");
        assert_eq!(v("8.0.34-26").to_string(), "MySQL 8.0.34");
        assert_eq!(v("9.1").to_string(), "MySQL 9.1.0");
        let t = v("8.0.11-TiDB-v7.5.1");
        assert_eq!((t.flavor, t.major, t.minor), (Flavor::TiDb, 7, 5));
        // The comment can name the product.
        assert_eq!(ServerVersion::parse("10.4.32", "mariadb.org binary distribution").unwrap().flavor, Flavor::MariaDb);
        assert!(ServerVersion::parse("", "").is_none());
        assert!(ServerVersion::parse("unknown", "").is_none());
        assert!(ServerVersion::parse("99999999999.1", "").is_none());
    }

    #[test]
    fn compares() {
        assert!(v("5.7.8").at_least(5, 7, 8));
        assert!(!v("5.7.7").at_least(5, 7, 8));
        assert!(v("8.0.0").at_least(5, 7, 8));
    }

    #[test]
    fn supported_range() {
        for ok in ["5.5.62", "5.6.51", "5.7.44", "8.0.36", "8.4.0", "9.1.0", "10.0.38-MariaDB", "10.11.6-MariaDB", "11.4.2-MariaDB"] {
            assert!(unsupported_reason(&v(ok)).is_none(), "{ok}");
            let o = judge_source_version(&v(ok));
            assert!(o.passed && o.detail.contains(ok), "{o:?}");
        }
        for bad in ["5.1.73", "4.1.22", "10.0.0", "5.5.5-12.0.1-MariaDB", "5.5.5-5.5.68-MariaDB", "8.0.11-TiDB-v7.5.1"] {
            let o = judge_source_version(&v(bad));
            assert_eq!(o.failure, Some(FailureKind::NotSupported), "{bad}: {o:?}");
            assert!(o.detail.contains("OpenDTS supports MySQL 5.5"), "{o:?}");
        }
    }

    #[test]
    fn types_by_destination() {
        assert!(type_unavailable(&v("5.6.51"), "json", "json").is_some());
        assert!(type_unavailable(&v("5.7.8"), "json", "json").is_none());
        assert!(type_unavailable(&v("10.2.6-MariaDB"), "json", "json").is_some());
        assert!(type_unavailable(&v("10.4.0-MariaDB"), "json", "json").is_none());
        assert!(type_unavailable(&v("8.0.36"), "inet6", "inet6").is_some());
        assert!(type_unavailable(&v("10.5.0-MariaDB"), "inet6", "inet6").is_none());
        assert!(type_unavailable(&v("10.6.0-MariaDB"), "uuid", "uuid").is_some());
        assert!(type_unavailable(&v("5.5.62"), "datetime", "datetime(6)").is_some());
        assert!(type_unavailable(&v("5.5.62"), "datetime", "datetime").is_none());
        assert!(type_unavailable(&v("5.5.62"), "time", "time(0)").is_none());
        assert!(type_unavailable(&v("5.6.4"), "timestamp", "timestamp(3)").is_none());
        assert!(type_unavailable(&v("8.4.0"), "vector", "vector(3)").is_some());
        assert!(type_unavailable(&v("9.0.1"), "vector", "vector(3)").is_none());
        assert!(type_unavailable(&v("5.5.62"), "varchar", "varchar(10)").is_none());
    }

    fn collations(names: &[&str]) -> HashSet<String> {
        names.iter().map(|n| normalize_collation(n)).collect()
    }

    #[test]
    fn mysql8_to_57_with_0900_collations_fails() {
        let (src, dst) = (v("8.0.36"), v("5.7.44-log"));
        let dest_collations = collations(&["utf8mb4_general_ci", "utf8mb4_unicode_ci", "utf8_general_ci", "latin1_swedish_ci"]);
        let uses = vec![
            CollationUse { collation: "utf8mb4_0900_ai_ci".into(), used_by: vec!["`shop`.`orders`".into(), "`shop`".into()] },
            CollationUse { collation: "utf8mb3_general_ci".into(), used_by: vec!["`shop`.`legacy`".into()] },
        ];
        let facts = TopologyFacts {
            source: &src,
            dest: &dst,
            creates_structure: true,
            collations: &uses,
            types: &[],
            dest_collations: &dest_collations,
        };
        let o = judge_topology(&facts);
        assert_eq!(o.failure, Some(FailureKind::Other), "{o:?}");
        assert!(o.detail.contains("collation utf8mb4_0900_ai_ci (used by `shop`.`orders`, `shop`)"), "{}", o.detail);
        // utf8mb3_ is utf8_ under its older name.
        assert!(!o.detail.contains("utf8mb3_general_ci"), "{}", o.detail);
        assert!(o.detail.contains("CONVERT TO CHARACTER SET"), "{}", o.detail);

        // Without 0900 collations the downgrade passes with a warning.
        let facts = TopologyFacts { collations: &uses[1..], ..facts };
        let o = judge_topology(&facts);
        assert!(o.passed, "{o:?}");
        assert!(o.detail.contains("Warning: the destination (5.7) is older than the source (8.0)"), "{}", o.detail);

        // Without structure initialization the collations are not compared.
        let facts = TopologyFacts { collations: &uses, creates_structure: false, ..facts };
        let o = judge_topology(&facts);
        assert!(o.passed, "{o:?}");
        assert!(o.detail.contains("Structure initialization is off"), "{}", o.detail);
    }

    #[test]
    fn cross_flavor_warns_and_types_fail() {
        let (src, dst) = (v("10.11.6-MariaDB"), v("8.0.36"));
        let dest_collations = collations(&["utf8mb4_general_ci", "utf8mb4_0900_ai_ci"]);
        let uses = vec![CollationUse { collation: "utf8mb4_general_ci".into(), used_by: vec!["`a`.`t`".into()] }];
        let facts = TopologyFacts {
            source: &src,
            dest: &dst,
            creates_structure: true,
            collations: &uses,
            types: &[],
            dest_collations: &dest_collations,
        };
        let o = judge_topology(&facts);
        assert!(o.passed, "{o:?}");
        assert!(o.detail.contains("Warning: MariaDB → MySQL crosses products"), "{}", o.detail);
        let types = vec![TypeUse { column: "`a`.`t`.`ip`".into(), data_type: "inet6".into(), column_type: "inet6".into() }];
        let o = judge_topology(&TopologyFacts { types: &types, ..facts });
        assert_eq!(o.failure, Some(FailureKind::Other), "{o:?}");
        assert!(o.detail.contains("INET6 is a MariaDB type that MySQL does not have (columns `a`.`t`.`ip`)"), "{}", o.detail);
    }

    #[test]
    fn unsupported_destination() {
        let (src, dst) = (v("8.0.36"), v("5.1.73"));
        let none = HashSet::new();
        let o = judge_topology(&TopologyFacts {
            source: &src,
            dest: &dst,
            creates_structure: true,
            collations: &[],
            types: &[],
            dest_collations: &none,
        });
        assert_eq!(o.failure, Some(FailureKind::NotSupported), "{o:?}");
    }

    #[test]
    fn same_version_passes_plainly() {
        let s = v("10.11.19-MariaDB-log");
        let all = collations(&["utf8mb4_general_ci"]);
        let uses = vec![CollationUse { collation: "utf8mb4_general_ci".into(), used_by: vec!["`a`".into()] }];
        let o = judge_topology(&TopologyFacts {
            source: &s,
            dest: &s,
            creates_structure: true,
            collations: &uses,
            types: &[],
            dest_collations: &all,
        });
        assert!(o.passed && !o.detail.contains("Warning"), "{o:?}");
    }
}
