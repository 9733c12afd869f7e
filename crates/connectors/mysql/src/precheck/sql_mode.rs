//! CHECK_SQL_MODE: do the source's and the destination's global `sql_mode`
//! agree on the values the migrated tables may hold?
//!
//! # The rule
//!
//! OpenDTS's own sessions set their `sql_mode` explicitly: every data-path
//! connection, reader and writer alike, runs `SET sql_mode =
//! 'NO_AUTO_VALUE_ON_ZERO'` ([`crate::session`]), so neither server's global
//! `sql_mode` changes the rows OpenDTS reads or writes:
//! strictness, `NO_ZERO_DATE`, `NO_AUTO_VALUE_ON_ZERO`, `ANSI_QUOTES`,
//! `NO_BACKSLASH_ESCAPES` (values travel as parameters, identifiers in
//! backticks) and the like are the session's business. What the global modes
//! still decide is how the copied values behave once they are on the
//! destination, where every other session (the applications after the
//! switch-over, DBAs, `ALTER TABLE`) runs with the destination's global mode.
//! The destination then holds exactly the source's values, and the item fails
//! when the destination's mode treats some of those values differently:
//!
//! * **Zero dates.** The source's mode lets `'0000-00-00'` (or dates with a
//!   zero month or day) in unless it is strict *and* has `NO_ZERO_DATE`
//!   (`NO_ZERO_IN_DATE`); without strictness those modes only warn. When the
//!   destination's mode rejects what the source's accepts and the selected
//!   tables have DATE/DATETIME/TIMESTAMP columns, the copied zero dates
//!   become values the destination calls invalid: statements that rewrite
//!   them (`ALTER TABLE` copying the table, `INSERT … SELECT`, an application
//!   `UPDATE` writing the value back) fail, and the applications' own inserts
//!   that worked on the source are rejected. Whether a zero date is actually
//!   present cannot be known without scanning every row, so the columns'
//!   existence is the trigger, and the detail names them.
//! * **`PAD_CHAR_TO_FULL_LENGTH`.** Set on one side only, CHAR values read
//!   back from the destination gain (or lose) their trailing spaces compared
//!   with the source: the data the applications see changes although the
//!   stored bytes are the same. Fails when the selected tables have CHAR
//!   columns.
//!
//! Everything else that differs (strictness alone, `ERROR_FOR_DIVISION_BY_ZERO`,
//! `ONLY_FULL_GROUP_BY`, `NO_AUTO_VALUE_ON_ZERO`, `TIME_TRUNCATE_FRACTIONAL`,
//! quoting and escaping modes) only changes how future statements behave,
//! not the copied data, and is reported as a note in a passing detail.
//!
//! # What remains a risk
//!
//! * Triggers, stored routines and events run with the `sql_mode` saved when
//!   they were created, not the session's: a destination trigger on a target
//!   table can still reject or alter rows OpenDTS writes.
//! * The session mode is not strict, so a value that does not fit a
//!   destination column is clipped with a warning instead of being refused.
//!   With tables created by OpenDTS the columns match the source; with
//!   existing tables (Reserve `targetTableMode` `"2"`) narrower columns would
//!   silently truncate, which is why CHECK_SAME_OBJ asks for the definitions
//!   to be compared.
//! * Only the global modes are compared; per-account `init_connect` settings
//!   or applications that set their own session modes are not visible here.

use opendts_core::probe::{FailureKind, Outcome};

use super::list_names;

/// A parsed `sql_mode` value: upper-case flags in their original order, with
/// `TRADITIONAL` expanded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SqlMode {
    text: String,
    flags: Vec<String>,
}

/// What `TRADITIONAL` stands for (older servers report it unexpanded).
const TRADITIONAL: &[&str] = &[
    "STRICT_TRANS_TABLES",
    "STRICT_ALL_TABLES",
    "NO_ZERO_IN_DATE",
    "NO_ZERO_DATE",
    "ERROR_FOR_DIVISION_BY_ZERO",
    "NO_ENGINE_SUBSTITUTION",
];

pub const PAD_CHAR: &str = "PAD_CHAR_TO_FULL_LENGTH";

/// Flags whose difference is worth a note, with what the difference means.
const NOTED: &[(&str, &str)] = &[
    ("ERROR_FOR_DIVISION_BY_ZERO", "division by zero is an error instead of NULL"),
    ("ONLY_FULL_GROUP_BY", "some GROUP BY queries are refused"),
    ("NO_AUTO_VALUE_ON_ZERO", "an explicit 0 in an AUTO_INCREMENT column is kept instead of generating a value"),
    ("TIME_TRUNCATE_FRACTIONAL", "extra fractional seconds are truncated instead of rounded"),
    ("ANSI_QUOTES", "double quotes delimit identifiers"),
    ("NO_BACKSLASH_ESCAPES", "backslash is an ordinary character in string literals"),
    ("PIPES_AS_CONCAT", "|| concatenates"),
    ("HIGH_NOT_PRECEDENCE", "NOT binds tighter"),
    ("REAL_AS_FLOAT", "REAL means FLOAT"),
    ("EMPTY_STRING_IS_NULL", "'' literals mean NULL"),
];

impl SqlMode {
    /// Parses `@@GLOBAL.sql_mode`.
    pub fn parse(text: &str) -> SqlMode {
        let mut flags: Vec<String> = Vec::new();
        let mut add = |f: &str| {
            if !f.is_empty() && !flags.iter().any(|x| x == f) {
                flags.push(f.to_string());
            }
        };
        for raw in text.split(',') {
            let f = raw.trim().to_ascii_uppercase();
            add(&f);
            if f == "TRADITIONAL" {
                TRADITIONAL.iter().for_each(|t| add(t));
            }
        }
        SqlMode { text: text.trim().to_string(), flags }
    }

    pub fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    pub fn strict(&self) -> bool {
        self.has("STRICT_TRANS_TABLES") || self.has("STRICT_ALL_TABLES")
    }

    /// Whether `'0000-00-00'` is refused (not merely warned about).
    pub fn rejects_zero_date(&self) -> bool {
        self.strict() && self.has("NO_ZERO_DATE")
    }

    /// Whether dates with a zero month or day are refused.
    pub fn rejects_zero_in_date(&self) -> bool {
        self.strict() && self.has("NO_ZERO_IN_DATE")
    }

    /// The mode as the server spelled it.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// This mode without `remove` (and without `TRADITIONAL`, whose other
    /// parts stay), as a `SET GLOBAL sql_mode` value.
    pub fn without(&self, remove: &[&str]) -> String {
        self.flags
            .iter()
            .filter(|f| !remove.contains(&f.as_str()) && f.as_str() != "TRADITIONAL")
            .cloned()
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Columns of the selected source tables that the rule looks at, each as
/// `db`.`table`.`column`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModeSensitiveColumns {
    /// DATE, DATETIME and TIMESTAMP columns (where zero dates can live).
    pub temporal: Vec<String>,
    /// CHAR columns (whose trailing spaces PAD_CHAR_TO_FULL_LENGTH shows).
    pub fixed_char: Vec<String>,
}

/// Judges the two global modes; see the module documentation for the rule.
pub fn judge_sql_modes(source: &SqlMode, dest: &SqlMode, columns: &ModeSensitiveColumns) -> Outcome {
    let head = format!(
        "Source global sql_mode '{}'; destination global sql_mode '{}'.",
        source.text(),
        dest.text()
    );
    let mut failures = Vec::new();
    let mut fixes = Vec::new();

    let zero_date = dest.rejects_zero_date() && !source.rejects_zero_date();
    let zero_in_date = dest.rejects_zero_in_date() && !source.rejects_zero_in_date();
    if (zero_date || zero_in_date) && !columns.temporal.is_empty() {
        let modes: Vec<&str> = [(zero_date, "NO_ZERO_DATE"), (zero_in_date, "NO_ZERO_IN_DATE")]
            .into_iter()
            .filter_map(|(on, m)| on.then_some(m))
            .collect();
        failures.push(format!(
            "the destination is strict with {} but the source accepts such dates, and the selected tables have \
             date/time columns that may hold them ({}): once copied, the destination would reject these values \
             whenever they are written again (ALTER TABLE, INSERT … SELECT, application updates), and the \
             applications' inserts that work on the source would fail on the destination",
            modes.join(" and "),
            list_names(columns.temporal.iter(), 5)
        ));
        fixes.push(format!(
            "remove {} from the destination's sql_mode (SET GLOBAL sql_mode = '{}', and the same in its \
             configuration file); or, if the source holds no zero dates, add them with STRICT_TRANS_TABLES to the \
             source's sql_mode first so that it cannot create any",
            modes.join(" and "),
            dest.without(&modes)
        ));
    }

    let pad_differs = source.has(PAD_CHAR) != dest.has(PAD_CHAR);
    if pad_differs && !columns.fixed_char.is_empty() {
        let (with, without) = if source.has(PAD_CHAR) { ("source", "destination") } else { ("destination", "source") };
        failures.push(format!(
            "{PAD_CHAR} is set on the {with} but not on the {without}, so CHAR values read from the destination \
             {} trailing spaces compared with the source (columns {})",
            if source.has(PAD_CHAR) { "lose" } else { "gain" },
            list_names(columns.fixed_char.iter(), 5)
        ));
        fixes.push(format!(
            "set {PAD_CHAR} the same way on both servers (it is deprecated: removing it from the {with} is \
             preferred when the applications allow)"
        ));
    }

    if !failures.is_empty() {
        return Outcome::fail(
            FailureKind::Other,
            format!("{head} The modes disagree on the copied values: {}. Fix: {}.", failures.join("; "), fixes.join("; ")),
        );
    }

    let mut detail = format!(
        "{head} OpenDTS's sessions set their own sql_mode, so neither changes the rows OpenDTS writes; checked that \
         the destination's mode treats the copied values as the source's does (zero dates in {} date/time \
         column(s), CHAR padding in {} CHAR column(s)).",
        columns.temporal.len(),
        columns.fixed_char.len()
    );
    let mut notes = Vec::new();
    if source.strict() != dest.strict() {
        notes.push(if dest.strict() {
            "the destination is strict and the source is not: statements the source accepted with a warning \
             (too-long strings, out-of-range numbers) will be rejected by the destination"
                .to_string()
        } else {
            "the source is strict and the destination is not: the destination will truncate or clip invalid \
             values with a warning where the source rejected them"
                .to_string()
        });
    }
    for (flag, meaning) in NOTED {
        if source.has(flag) != dest.has(flag) {
            let side = if dest.has(flag) { "destination" } else { "source" };
            notes.push(format!("{flag} only on the {side} ({meaning})"));
        }
    }
    if !notes.is_empty() {
        detail.push_str(&format!(
            " Note, for applications switched to the destination (no effect on the copied data): {}.",
            notes.join("; ")
        ));
    }
    Outcome::pass(detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARIADB_DEFAULT: &str = "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION";
    const MYSQL8_DEFAULT: &str =
        "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION";

    fn cols(temporal: &[&str], fixed_char: &[&str]) -> ModeSensitiveColumns {
        ModeSensitiveColumns {
            temporal: temporal.iter().map(|s| s.to_string()).collect(),
            fixed_char: fixed_char.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn parses_and_expands() {
        let m = SqlMode::parse("traditional, ansi_quotes");
        assert!(m.has("NO_ZERO_DATE") && m.has("ANSI_QUOTES") && m.strict());
        assert!(m.rejects_zero_date() && m.rejects_zero_in_date());
        assert_eq!(
            m.without(&["NO_ZERO_DATE"]),
            "STRICT_TRANS_TABLES,STRICT_ALL_TABLES,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION,ANSI_QUOTES"
        );
        let m = SqlMode::parse("NO_ZERO_DATE");
        assert!(!m.rejects_zero_date(), "without strictness NO_ZERO_DATE only warns");
        let empty = SqlMode::parse("");
        assert!(!empty.strict() && empty.text().is_empty());
    }

    #[test]
    fn identical_modes_pass() {
        let m = SqlMode::parse(MYSQL8_DEFAULT);
        let o = judge_sql_modes(&m, &m, &cols(&["`a`.`t`.`d`"], &["`a`.`t`.`c`"]));
        assert!(o.passed && !o.detail.contains("Note"), "{o:?}");
    }

    #[test]
    fn zero_dates_accepted_by_source_rejected_by_destination() {
        let (src, dst) = (SqlMode::parse(MARIADB_DEFAULT), SqlMode::parse(MYSQL8_DEFAULT));
        let o = judge_sql_modes(&src, &dst, &cols(&["`shop`.`orders`.`created`"], &[]));
        assert_eq!(o.failure, Some(FailureKind::Other), "{o:?}");
        assert!(o.detail.contains("NO_ZERO_DATE and NO_ZERO_IN_DATE"), "{}", o.detail);
        assert!(o.detail.contains("`shop`.`orders`.`created`"), "{}", o.detail);
        assert!(
            o.detail.contains("SET GLOBAL sql_mode = 'ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'"),
            "{}",
            o.detail
        );
        // No date/time column selected: nothing can hold a zero date.
        let o = judge_sql_modes(&src, &dst, &cols(&[], &["`a`.`t`.`c`"]));
        assert!(o.passed, "{o:?}");
        assert!(o.detail.contains("ONLY_FULL_GROUP_BY only on the destination"), "{}", o.detail);
        // The other way round is harmless: the destination accepts more.
        let o = judge_sql_modes(&dst, &src, &cols(&["`a`.`t`.`d`"], &[]));
        assert!(o.passed, "{o:?}");
        assert!(o.detail.contains("ONLY_FULL_GROUP_BY only on the source"), "{}", o.detail);
    }

    #[test]
    fn non_strict_destination_does_not_reject_zero_dates() {
        let src = SqlMode::parse("");
        let dst = SqlMode::parse("NO_ZERO_DATE,NO_ZERO_IN_DATE");
        assert!(judge_sql_modes(&src, &dst, &cols(&["`a`.`t`.`d`"], &[])).passed);
        // Strict everywhere but only the destination forbids zero-in-date.
        let src = SqlMode::parse("STRICT_TRANS_TABLES,NO_ZERO_DATE");
        let dst = SqlMode::parse("STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE");
        let o = judge_sql_modes(&src, &dst, &cols(&["`a`.`t`.`d`"], &[]));
        assert!(!o.passed);
        assert!(o.detail.contains("strict with NO_ZERO_IN_DATE but"), "{}", o.detail);
    }

    #[test]
    fn pad_char_mismatch_fails_only_with_char_columns() {
        let src = SqlMode::parse("STRICT_TRANS_TABLES,PAD_CHAR_TO_FULL_LENGTH");
        let dst = SqlMode::parse("STRICT_TRANS_TABLES");
        let o = judge_sql_modes(&src, &dst, &cols(&[], &["`a`.`t`.`code`"]));
        assert_eq!(o.failure, Some(FailureKind::Other));
        assert!(o.detail.contains("set on the source but not on the destination"), "{}", o.detail);
        assert!(o.detail.contains("lose trailing spaces"), "{}", o.detail);
        let o = judge_sql_modes(&dst, &src, &cols(&[], &["`a`.`t`.`code`"]));
        assert!(o.detail.contains("gain trailing spaces"), "{}", o.detail);
        assert!(judge_sql_modes(&src, &dst, &cols(&["`a`.`t`.`d`"], &[])).passed);
        // Both padded: consistent.
        assert!(judge_sql_modes(&src, &src, &cols(&[], &["`a`.`t`.`code`"])).passed);
    }

    #[test]
    fn quoting_and_escaping_modes_are_irrelevant() {
        let src = SqlMode::parse("STRICT_TRANS_TABLES");
        let dst = SqlMode::parse("STRICT_TRANS_TABLES,ANSI_QUOTES,NO_BACKSLASH_ESCAPES,NO_AUTO_VALUE_ON_ZERO");
        let o = judge_sql_modes(&src, &dst, &cols(&["`a`.`t`.`d`"], &["`a`.`t`.`c`"]));
        assert!(o.passed, "{o:?}");
        assert!(o.detail.contains("ANSI_QUOTES only on the destination"), "{}", o.detail);
        assert!(o.detail.contains("NO_BACKSLASH_ESCAPES only on the destination"), "{}", o.detail);
        // Strictness alone is a note, not a failure.
        let o = judge_sql_modes(&SqlMode::parse(""), &src, &cols(&["`a`.`t`.`d`"], &["`a`.`t`.`c`"]));
        assert!(o.passed && o.detail.contains("the destination is strict and the source is not"), "{o:?}");
    }
}
