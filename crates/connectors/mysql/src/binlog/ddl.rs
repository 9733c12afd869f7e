//! Classification of QUERY events: transaction control, statement-based DML
//! (which a ROW-format reader cannot replay), and DDL with the tables it
//! touches. A small tokenizer skips comments (`/* */`, `-- `, `#`), reads
//! executable comments (`/*!50100 ... */`, `/*M! ... */`) as code, and
//! understands quoted identifiers and strings, so names are found wherever
//! the statement spells them.

use opendts_core::change::DdlKind;
use opendts_core::row::TableId;

/// The parts of the statement's sql_mode that change how it tokenizes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SqlMode {
    /// `"x"` is an identifier, not a string.
    pub ansi_quotes: bool,
    /// Backslash is an ordinary character inside strings.
    pub no_backslash_escapes: bool,
}

impl SqlMode {
    pub const ANSI_QUOTES: u64 = 1 << 2;
    pub const NO_BACKSLASH_ESCAPES: u64 = 1 << 20;

    pub fn from_bits(bits: u64) -> SqlMode {
        SqlMode {
            ansi_quotes: bits & Self::ANSI_QUOTES != 0,
            no_backslash_escapes: bits & Self::NO_BACKSLASH_ESCAPES != 0,
        }
    }
}

/// What a QUERY event's statement is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// Only comments or whitespace.
    Empty,
    Begin,
    Commit,
    Rollback,
    /// SAVEPOINT, ROLLBACK TO, RELEASE SAVEPOINT.
    Savepoint,
    XaStart,
    XaEnd,
    XaPrepare,
    XaCommit,
    XaRollback,
    /// INSERT/UPDATE/DELETE/REPLACE/LOAD DATA logged as a statement.
    Dml,
    Ddl(DdlKind, Vec<TableId>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok<'a> {
    /// An unquoted word: keyword, identifier or number.
    Word(&'a str),
    /// A quoted identifier, unescaped.
    Quoted(String),
    /// A string literal (its value is not needed).
    Str,
    Punct(u8),
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

fn tokenize(sql: &str, mode: SqlMode) -> Vec<Tok<'_>> {
    let b = sql.as_bytes();
    let n = b.len();
    let mut toks = Vec::new();
    let mut i = 0;
    let mut exec_depth = 0usize;
    while i < n {
        let c = b[i];
        let next = b.get(i + 1).copied();
        match c {
            _ if c.is_ascii_whitespace() => i += 1,
            b'#' => i = skip_line(b, i),
            b'-' if next == Some(b'-') && b.get(i + 2).is_none_or(|&x| x <= b' ') => i = skip_line(b, i),
            b'/' if next == Some(b'*') => {
                let rest = &b[i + 2..];
                let marker = if rest.starts_with(b"!") {
                    Some(1)
                } else if rest.starts_with(b"M!") {
                    Some(2)
                } else {
                    None
                };
                match marker {
                    Some(m) => {
                        // Executable comment: skip the marker and a 5- or 6-digit version.
                        i += 2 + m;
                        let digits = b[i..].iter().take_while(|d| d.is_ascii_digit()).count();
                        if digits >= 5 {
                            i += digits.min(6);
                        }
                        exec_depth += 1;
                    }
                    None => {
                        i = match find(b, i + 2, b"*/") {
                            Some(end) => end + 2,
                            None => n,
                        }
                    }
                }
            }
            b'*' if next == Some(b'/') && exec_depth > 0 => {
                exec_depth -= 1;
                i += 2;
            }
            b'`' => {
                let (s, end) = quoted(b, i, b'`', false);
                toks.push(Tok::Quoted(s));
                i = end;
            }
            b'"' if mode.ansi_quotes => {
                let (s, end) = quoted(b, i, b'"', false);
                toks.push(Tok::Quoted(s));
                i = end;
            }
            b'"' | b'\'' => {
                let (_, end) = quoted(b, i, c, !mode.no_backslash_escapes);
                toks.push(Tok::Str);
                i = end;
            }
            _ if is_word_byte(c) => {
                let start = i;
                while i < n && is_word_byte(b[i]) {
                    i += 1;
                }
                // Only ASCII bytes end a word, so the slice is valid UTF-8.
                toks.push(Tok::Word(&sql[start..i]));
            }
            _ => {
                toks.push(Tok::Punct(c));
                i += 1;
            }
        }
    }
    toks
}

fn skip_line(b: &[u8], i: usize) -> usize {
    b[i..].iter().position(|&c| c == b'\n').map_or(b.len(), |p| i + p + 1)
}

fn find(b: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    b.get(from..)?.windows(pat.len()).position(|w| w == pat).map(|p| from + p)
}

/// Reads a quoted token starting at `b[start] == q`: doubled quotes stand for
/// one, and backslash escapes the next byte when `backslash`. Returns the
/// content and the index after the closing quote.
fn quoted(b: &[u8], start: usize, q: u8, backslash: bool) -> (String, usize) {
    let mut out = Vec::new();
    let mut i = start + 1;
    while i < b.len() {
        let c = b[i];
        if c == q {
            if b.get(i + 1) == Some(&q) {
                out.push(q);
                i += 2;
                continue;
            }
            return (String::from_utf8_lossy(&out).into_owned(), i + 1);
        }
        if backslash && c == b'\\' && i + 1 < b.len() {
            out.push(b[i + 1]);
            i += 2;
            continue;
        }
        out.push(c);
        i += 1;
    }
    (String::from_utf8_lossy(&out).into_owned(), b.len())
}

struct Parser<'t, 'a> {
    toks: &'t [Tok<'a>],
    i: usize,
    schema: &'t str,
}

impl<'t, 'a> Parser<'t, 'a> {
    fn peek_kw(&self, k: &str) -> bool {
        matches!(self.toks.get(self.i), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k))
    }

    fn eat_kw(&mut self, k: &str) -> bool {
        let hit = self.peek_kw(k);
        if hit {
            self.i += 1;
        }
        hit
    }

    /// Eats the whole keyword sequence or nothing.
    fn eat_kws(&mut self, ks: &[&str]) -> bool {
        let ok = ks
            .iter()
            .enumerate()
            .all(|(j, k)| matches!(self.toks.get(self.i + j), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k)));
        if ok {
            self.i += ks.len();
        }
        ok
    }

    fn eat_punct(&mut self, c: u8) -> bool {
        let hit = self.toks.get(self.i) == Some(&Tok::Punct(c));
        if hit {
            self.i += 1;
        }
        hit
    }

    fn ident(&mut self) -> Option<String> {
        let s = match self.toks.get(self.i)? {
            Tok::Word(w) => (*w).to_string(),
            Tok::Quoted(q) => q.clone(),
            _ => return None,
        };
        self.i += 1;
        Some(s)
    }

    /// `name` or `schema.name`, unquoted or quoted.
    fn table(&mut self) -> Option<TableId> {
        let first = self.ident()?;
        if self.eat_punct(b'.') {
            let second = self.ident()?;
            Some(TableId::new(first, second))
        } else {
            Some(TableId::new(self.schema, first))
        }
    }

    /// MariaDB's `WAIT n` / `NOWAIT` lock options.
    fn skip_wait(&mut self) {
        if self.eat_kw("WAIT") {
            self.i += 1;
        } else {
            self.eat_kw("NOWAIT");
        }
    }

    /// A comma-separated list of tables.
    fn table_list(&mut self) -> Vec<TableId> {
        let mut out = Vec::new();
        while let Some(t) = self.table() {
            out.push(t);
            if !self.eat_punct(b',') {
                break;
            }
        }
        out
    }
}

fn other(tables: Vec<TableId>) -> Statement {
    Statement::Ddl(DdlKind::Other, tables)
}

/// Classifies a statement run with `default_schema` as its current database.
pub fn classify(sql: &str, default_schema: &str, mode: SqlMode) -> Statement {
    let toks = tokenize(sql, mode);
    let mut p = Parser { toks: &toks, i: 0, schema: default_schema };
    let first = match toks.first() {
        None => return Statement::Empty,
        Some(Tok::Word(w)) => w.to_ascii_uppercase(),
        Some(_) => return other(Vec::new()),
    };
    p.i = 1;
    match first.as_str() {
        "BEGIN" => {
            if p.peek_kw("NOT") {
                other(Vec::new())
            } else {
                Statement::Begin
            }
        }
        "START" if p.peek_kw("TRANSACTION") => Statement::Begin,
        "COMMIT" => Statement::Commit,
        "ROLLBACK" => {
            p.eat_kw("WORK");
            if p.peek_kw("TO") {
                Statement::Savepoint
            } else {
                Statement::Rollback
            }
        }
        "SAVEPOINT" => Statement::Savepoint,
        "RELEASE" if p.peek_kw("SAVEPOINT") => Statement::Savepoint,
        "XA" => {
            if p.eat_kw("START") || p.eat_kw("BEGIN") {
                Statement::XaStart
            } else if p.eat_kw("END") {
                Statement::XaEnd
            } else if p.eat_kw("PREPARE") {
                Statement::XaPrepare
            } else if p.eat_kw("COMMIT") {
                Statement::XaCommit
            } else if p.eat_kw("ROLLBACK") {
                Statement::XaRollback
            } else {
                other(Vec::new())
            }
        }
        "INSERT" | "UPDATE" | "DELETE" | "REPLACE" => Statement::Dml,
        "LOAD" if p.peek_kw("DATA") || p.peek_kw("XML") => Statement::Dml,
        "CREATE" => create(&mut p),
        "ALTER" => alter(&mut p),
        "DROP" => drop(&mut p),
        "RENAME" => rename(&mut p),
        "TRUNCATE" => {
            p.eat_kw("TABLE");
            match p.table() {
                Some(t) => Statement::Ddl(DdlKind::TruncateTable, vec![t]),
                None => other(Vec::new()),
            }
        }
        _ => other(Vec::new()),
    }
}

fn create(p: &mut Parser<'_, '_>) -> Statement {
    p.eat_kws(&["OR", "REPLACE"]);
    if p.eat_kw("TEMPORARY") {
        // Session-local tables are not replicated as tables of the job.
        return other(Vec::new());
    }
    if p.eat_kw("TABLE") {
        p.eat_kws(&["IF", "NOT", "EXISTS"]);
        return match p.table() {
            Some(t) => Statement::Ddl(DdlKind::CreateTable, vec![t]),
            None => other(Vec::new()),
        };
    }
    // CREATE [ONLINE|OFFLINE] [UNIQUE|FULLTEXT|SPATIAL] INDEX name ... ON tbl
    let _ = p.eat_kw("ONLINE") || p.eat_kw("OFFLINE");
    let _ = p.eat_kw("UNIQUE") || p.eat_kw("FULLTEXT") || p.eat_kw("SPATIAL");
    if p.eat_kw("INDEX") {
        while p.i < p.toks.len() {
            if p.eat_kw("ON") {
                return other(p.table().into_iter().collect());
            }
            p.i += 1;
        }
    }
    other(Vec::new())
}

fn alter(p: &mut Parser<'_, '_>) -> Statement {
    let _ = p.eat_kw("ONLINE") || p.eat_kw("OFFLINE");
    p.eat_kw("IGNORE");
    if !p.eat_kw("TABLE") {
        return other(Vec::new());
    }
    p.eat_kws(&["IF", "EXISTS"]);
    let Some(t) = p.table() else {
        return other(Vec::new());
    };
    let mut tables = vec![t];
    // `RENAME [TO|AS] new` among the alter specifications (not RENAME COLUMN/INDEX/KEY).
    let mut depth = 0i32;
    while p.i < p.toks.len() {
        match &p.toks[p.i] {
            Tok::Punct(b'(') => depth += 1,
            Tok::Punct(b')') => depth -= 1,
            Tok::Word(w) if depth == 0 && w.eq_ignore_ascii_case("RENAME") => {
                p.i += 1;
                if p.peek_kw("COLUMN") || p.peek_kw("INDEX") || p.peek_kw("KEY") {
                    continue;
                }
                let _ = p.eat_kw("TO") || p.eat_kw("AS");
                if let Some(n) = p.table() {
                    tables.push(n);
                }
                continue;
            }
            _ => {}
        }
        p.i += 1;
    }
    Statement::Ddl(DdlKind::AlterTable, tables)
}

fn drop(p: &mut Parser<'_, '_>) -> Statement {
    let temporary = p.eat_kw("TEMPORARY");
    if p.eat_kw("TABLE") || p.eat_kw("TABLES") {
        p.eat_kws(&["IF", "EXISTS"]);
        let tables = p.table_list();
        if temporary || tables.is_empty() {
            return other(Vec::new());
        }
        return Statement::Ddl(DdlKind::DropTable, tables);
    }
    let _ = p.eat_kw("ONLINE") || p.eat_kw("OFFLINE");
    if p.eat_kw("INDEX") {
        p.eat_kws(&["IF", "EXISTS"]);
        let _ = p.ident();
        if p.eat_kw("ON") {
            return other(p.table().into_iter().collect());
        }
    }
    other(Vec::new())
}

fn rename(p: &mut Parser<'_, '_>) -> Statement {
    if !(p.eat_kw("TABLE") || p.eat_kw("TABLES")) {
        return other(Vec::new());
    }
    p.eat_kws(&["IF", "EXISTS"]);
    let mut tables = Vec::new();
    while let Some(from) = p.table() {
        p.skip_wait();
        if !p.eat_kw("TO") {
            break;
        }
        let Some(to) = p.table() else { break };
        tables.push(from);
        tables.push(to);
        if !p.eat_punct(b',') {
            break;
        }
    }
    if tables.is_empty() {
        return other(Vec::new());
    }
    Statement::Ddl(DdlKind::RenameTable, tables)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str, n: &str) -> TableId {
        TableId::new(s, n)
    }

    fn c(sql: &str) -> Statement {
        classify(sql, "db", SqlMode::default())
    }

    fn ddl(kind: DdlKind, tables: &[(&str, &str)]) -> Statement {
        Statement::Ddl(kind, tables.iter().map(|(s, n)| t(s, n)).collect())
    }

    #[test]
    fn transaction_control() {
        assert_eq!(c("BEGIN"), Statement::Begin);
        assert_eq!(c("  begin  "), Statement::Begin);
        assert_eq!(c("START TRANSACTION"), Statement::Begin);
        assert_eq!(c("COMMIT"), Statement::Commit);
        assert_eq!(c("ROLLBACK"), Statement::Rollback);
        assert_eq!(c("ROLLBACK TO SAVEPOINT s1"), Statement::Savepoint);
        assert_eq!(c("ROLLBACK WORK TO s1"), Statement::Savepoint);
        assert_eq!(c("SAVEPOINT `s1`"), Statement::Savepoint);
        assert_eq!(c("XA START X'31',X'',1"), Statement::XaStart);
        assert_eq!(c("XA END X'31',X'',1"), Statement::XaEnd);
        assert_eq!(c("XA PREPARE X'31',X'',1"), Statement::XaPrepare);
        assert_eq!(c("XA COMMIT X'31',X'',1"), Statement::XaCommit);
        assert_eq!(c("XA ROLLBACK X'31',X'',1"), Statement::XaRollback);
        assert_eq!(c(""), Statement::Empty);
        assert_eq!(c("# Dummy event replacing event type 160 that slave cannot handle."), Statement::Empty);
        assert_eq!(c("/* only a comment */ -- and another\n"), Statement::Empty);
    }

    #[test]
    fn dml_statements() {
        for s in [
            "INSERT INTO t VALUES (1)",
            "insert ignore into t select 1",
            "UPDATE t SET a=1",
            "DELETE FROM t",
            "REPLACE INTO t VALUES (1)",
            "LOAD DATA INFILE 'x' INTO TABLE t",
            "/* c */ DELETE FROM `db`.`mem`",
        ] {
            assert_eq!(c(s), Statement::Dml, "{s}");
        }
        assert_eq!(c("LOAD INDEX INTO CACHE t"), ddl(DdlKind::Other, &[]));
    }

    #[test]
    fn create_table() {
        let k = DdlKind::CreateTable;
        assert_eq!(c("CREATE TABLE t (id int)"), ddl(k, &[("db", "t")]));
        assert_eq!(c("create table if not exists `x`.`y` (id int)"), ddl(k, &[("x", "y")]));
        assert_eq!(c("CREATE TABLE IF NOT EXISTS x.y LIKE a.b"), ddl(k, &[("x", "y")]));
        assert_eq!(c("CREATE OR REPLACE TABLE `we``ird` (a int)"), ddl(k, &[("db", "we`ird")]));
        assert_eq!(c("CREATE TABLE /*!32312 IF NOT EXISTS*/ `t1` (a int)"), ddl(k, &[("db", "t1")]));
        assert_eq!(c("/*!40101 SET x=1*/"), ddl(DdlKind::Other, &[]));
        assert_eq!(c("CREATE /* comment */ TABLE -- c\n `a b` (x int)"), ddl(k, &[("db", "a b")]));
        assert_eq!(c("CREATE\tTABLE\n#c\nt2 SELECT 1"), ddl(k, &[("db", "t2")]));
        assert_eq!(c("CREATE TABLE `db2`.t3 (c varchar(10) default 'x`y')"), ddl(k, &[("db2", "t3")]));
        assert_eq!(c("CREATE TABLE tä (a int)"), ddl(k, &[("db", "tä")]));
        assert_eq!(c("CREATE TEMPORARY TABLE tmp (a int)"), ddl(DdlKind::Other, &[]));
        assert_eq!(
            classify("CREATE TABLE \"q\".\"r\" (a int)", "d", SqlMode { ansi_quotes: true, ..Default::default() }),
            Statement::Ddl(k, vec![t("q", "r")])
        );
        assert_eq!(c("CREATE TABLE t5 (a int) COMMENT='-- not a comment'"), ddl(k, &[("db", "t5")]));
    }

    #[test]
    fn alter_table() {
        let k = DdlKind::AlterTable;
        assert_eq!(c("ALTER TABLE t ADD COLUMN c int"), ddl(k, &[("db", "t")]));
        assert_eq!(c("alter online ignore table `s`.`t` add index (a)"), ddl(k, &[("s", "t")]));
        assert_eq!(c("ALTER TABLE IF EXISTS t DROP c"), ddl(k, &[("db", "t")]));
        assert_eq!(c("ALTER TABLE t RENAME TO t2"), ddl(k, &[("db", "t"), ("db", "t2")]));
        assert_eq!(c("ALTER TABLE t RENAME AS o.t2, ADD x int"), ddl(k, &[("db", "t"), ("o", "t2")]));
        assert_eq!(c("ALTER TABLE t RENAME COLUMN a TO b"), ddl(k, &[("db", "t")]));
        assert_eq!(c("ALTER TABLE t RENAME INDEX a TO b, RENAME KEY c TO d"), ddl(k, &[("db", "t")]));
        assert_eq!(c("ALTER TABLE t ADD c ENUM('rename', 'x')"), ddl(k, &[("db", "t")]));
        assert_eq!(c("ALTER DATABASE d CHARACTER SET utf8mb4"), ddl(DdlKind::Other, &[]));
        assert_eq!(c("ALTER ALGORITHM=MERGE VIEW v AS SELECT 1"), ddl(DdlKind::Other, &[]));
    }

    #[test]
    fn drop_table() {
        let k = DdlKind::DropTable;
        assert_eq!(c("DROP TABLE t"), ddl(k, &[("db", "t")]));
        assert_eq!(c("DROP TABLE IF EXISTS `a`,`o`.`b` /* generated by server */"), ddl(k, &[("db", "a"), ("o", "b")]));
        assert_eq!(c("drop tables a , b restrict"), ddl(k, &[("db", "a"), ("db", "b")]));
        assert_eq!(c("DROP TEMPORARY TABLE IF EXISTS tmp"), ddl(DdlKind::Other, &[]));
        assert_eq!(c("DROP DATABASE d"), ddl(DdlKind::Other, &[]));
        assert_eq!(c("DROP INDEX i ON t"), ddl(DdlKind::Other, &[("db", "t")]));
        assert_eq!(c("DROP VIEW v"), ddl(DdlKind::Other, &[]));
    }

    #[test]
    fn rename_table() {
        let k = DdlKind::RenameTable;
        assert_eq!(c("RENAME TABLE a TO b"), ddl(k, &[("db", "a"), ("db", "b")]));
        assert_eq!(
            c("RENAME TABLE `x`.a TO y.`b`, c TO d"),
            ddl(k, &[("x", "a"), ("y", "b"), ("db", "c"), ("db", "d")])
        );
        assert_eq!(c("RENAME TABLE IF EXISTS a WAIT 3 TO b"), ddl(k, &[("db", "a"), ("db", "b")]));
        assert_eq!(c("RENAME TABLES a NOWAIT TO b"), ddl(k, &[("db", "a"), ("db", "b")]));
        assert_eq!(c("RENAME USER a TO b"), ddl(DdlKind::Other, &[]));
    }

    #[test]
    fn truncate_and_others() {
        assert_eq!(c("TRUNCATE TABLE t"), ddl(DdlKind::TruncateTable, &[("db", "t")]));
        assert_eq!(c("truncate `o`.`t`"), ddl(DdlKind::TruncateTable, &[("o", "t")]));
        assert_eq!(c("CREATE INDEX i ON t (a)"), ddl(DdlKind::Other, &[("db", "t")]));
        assert_eq!(c("CREATE UNIQUE INDEX i USING BTREE ON s.t (a)"), ddl(DdlKind::Other, &[("s", "t")]));
        for s in [
            "FLUSH PRIVILEGES",
            "GRANT SELECT ON *.* TO 'u'@'%'",
            "CREATE USER 'u'@'%' IDENTIFIED BY 'x'",
            "CREATE DATABASE d",
            "CREATE DEFINER=`root`@`localhost` VIEW v AS SELECT 1",
            "SET PASSWORD FOR u = 'x'",
            "ANALYZE TABLE t",
            "BEGIN NOT ATOMIC SELECT 1; END",
            "(SELECT 1)",
        ] {
            assert_eq!(c(s), ddl(DdlKind::Other, &[]), "{s}");
        }
    }

    #[test]
    fn strings_and_escapes() {
        // a quote inside a string with a backslash escape
        assert_eq!(c("CREATE TABLE t (a int default 'it\\'s') "), ddl(DdlKind::CreateTable, &[("db", "t")]));
        // without backslash escapes the backslash is literal and '' doubles
        let m = SqlMode { no_backslash_escapes: true, ..Default::default() };
        assert_eq!(
            classify("CREATE TABLE t (a char(2) default '\\'), b int) -- x", "db", m),
            ddl(DdlKind::CreateTable, &[("db", "t")])
        );
        // unterminated things do not panic
        assert_eq!(c("CREATE TABLE `t"), ddl(DdlKind::CreateTable, &[("db", "t")]));
        assert_eq!(c("CREATE TABLE t /* open"), ddl(DdlKind::CreateTable, &[("db", "t")]));
        assert_eq!(c("DROP TABLE"), ddl(DdlKind::Other, &[]));
        assert_eq!(c("RENAME TABLE a"), ddl(DdlKind::Other, &[]));
        assert_eq!(c("--\nDROP TABLE a"), ddl(DdlKind::DropTable, &[("db", "a")]));
        assert_eq!(SqlMode::from_bits(4 | (1 << 20)), SqlMode { ansi_quotes: true, no_backslash_escapes: true });
    }
}
