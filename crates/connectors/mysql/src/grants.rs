//! Parsing of `SHOW GRANTS` lines (MySQL 5.6/5.7/8.0, MariaDB 10.x) and the
//! privilege arithmetic behind CHECK_AUTH_SRC / CHECK_AUTH_DEST. Pure code, no I/O.

/// Where a grant applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantLevel {
    /// `ON *.*`
    Global,
    /// `ON db.*` (the name may be a LIKE pattern such as `shop%` or `shop\_db`).
    Database(String),
    /// `ON db.table` (or `ON table`, relative to the default database).
    Table { database: Option<String>, table: String },
    /// `ON PROCEDURE db.p`, `ON FUNCTION db.f`, `ON PACKAGE ...`: irrelevant to data movement.
    Routine,
}

/// One parsed `GRANT ... ON ... TO ...` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Upper-case privilege names with single spaces, e.g. `REPLICATION SLAVE`.
    /// `ALL` is normalised to `ALL PRIVILEGES`; MySQL 8 dynamic privileges keep
    /// their underscores (`REPLICATION_SLAVE_ADMIN`).
    pub privileges: Vec<String>,
    /// Privileges granted on some columns only, e.g. `SELECT (id, name)`.
    pub column_privileges: Vec<String>,
    pub level: GrantLevel,
}

/// Parses one line of `SHOW GRANTS` output.
///
/// Returns `None` for lines that grant no object privileges: role grants
/// (`GRANT role TO user`), `GRANT PROXY ON ''@'' ...`, `REVOKE` lines (MySQL
/// partial revokes) and anything unrecognised.
pub fn parse_grant_line(line: &str) -> Option<Grant> {
    let line = line.trim();
    let rest = strip_keyword(line, "GRANT")?;
    // The privilege list ends at the first top-level ON; a role grant reaches TO first.
    let tokens = top_level_words(rest);
    let on_pos = tokens.iter().position(|(_, w)| w.eq_ignore_ascii_case("ON"))?;
    if let Some(to_pos) = tokens.iter().position(|(_, w)| w.eq_ignore_ascii_case("TO")) {
        if to_pos < on_pos {
            return None;
        }
    }
    let on_offset = tokens[on_pos].0;
    let priv_text = &rest[..on_offset];
    let after_on = &rest[on_offset + 2..];

    let mut privileges = Vec::new();
    let mut column_privileges = Vec::new();
    for item in split_top_level_commas(priv_text) {
        let (name, has_columns) = match item.find('(') {
            Some(p) => (&item[..p], true),
            None => (item, false),
        };
        let mut name = name.split_whitespace().collect::<Vec<_>>().join(" ").to_ascii_uppercase();
        if name.is_empty() {
            continue;
        }
        if name == "ALL" {
            name = "ALL PRIVILEGES".to_string();
        }
        if name == "PROXY" {
            return None;
        }
        if has_columns {
            column_privileges.push(name);
        } else {
            privileges.push(name);
        }
    }

    // The object runs from after ON up to the top-level TO.
    let obj_tokens = top_level_words(after_on);
    let to_idx = obj_tokens.iter().position(|(_, w)| w.eq_ignore_ascii_case("TO"))?;
    let mut object = after_on[..obj_tokens[to_idx].0].trim();
    let mut routine = false;
    for kw in ["TABLE", "FUNCTION", "PROCEDURE", "PACKAGE BODY", "PACKAGE"] {
        if let Some(r) = strip_keyword(object, kw) {
            // `ON TABLE x` is a plain table; a lone identifier named e.g. `table` is quoted.
            routine = kw != "TABLE";
            object = r.trim();
            break;
        }
    }
    let level = if routine { GrantLevel::Routine } else { parse_object(object)? };
    Some(Grant { privileges, column_privileges, level })
}

/// Parses every line, skipping those [`parse_grant_line`] ignores.
pub fn parse_grants<S: AsRef<str>>(lines: &[S]) -> Vec<Grant> {
    lines.iter().filter_map(|l| parse_grant_line(l.as_ref())).collect()
}

/// A privilege a job needs, with the names under which servers show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    /// The MySQL name, used in messages and GRANT suggestions (MariaDB accepts it as an alias).
    pub name: &'static str,
    /// Every name that satisfies it (MySQL and MariaDB spellings).
    pub accepted: &'static [&'static str],
    /// Only meaningful `ON *.*` (administrative privileges).
    pub global_only: bool,
}

const fn table_priv(name: &'static str, accepted: &'static [&'static str]) -> Requirement {
    Requirement { name, accepted, global_only: false }
}

pub const SELECT: Requirement = table_priv("SELECT", &["SELECT"]);
pub const INSERT: Requirement = table_priv("INSERT", &["INSERT"]);
pub const UPDATE: Requirement = table_priv("UPDATE", &["UPDATE"]);
pub const DELETE: Requirement = table_priv("DELETE", &["DELETE"]);
pub const CREATE: Requirement = table_priv("CREATE", &["CREATE"]);
pub const ALTER: Requirement = table_priv("ALTER", &["ALTER"]);
pub const INDEX: Requirement = table_priv("INDEX", &["INDEX"]);
pub const DROP: Requirement = table_priv("DROP", &["DROP"]);
/// Reading the binlog stream (COM_BINLOG_DUMP). MariaDB 10.5.1+ also calls it REPLICATION REPLICA.
pub const REPLICATION_SLAVE: Requirement = Requirement {
    name: "REPLICATION SLAVE",
    accepted: &["REPLICATION SLAVE", "REPLICATION REPLICA"],
    global_only: true,
};
/// `SHOW MASTER STATUS` / `SHOW BINARY LOGS`. MariaDB 10.5.2+ shows it as BINLOG MONITOR;
/// SLAVE MONITOR / REPLICA MONITOR are its other monitoring privileges.
pub const REPLICATION_CLIENT: Requirement = Requirement {
    name: "REPLICATION CLIENT",
    accepted: &["REPLICATION CLIENT", "BINLOG MONITOR", "SLAVE MONITOR", "REPLICA MONITOR"],
    global_only: true,
};

/// Whether the grants give `req`.
///
/// Table privileges are accepted at any level that can cover data: global
/// (`*.*`), database (`db.*`, including LIKE patterns) or table (`db.t`),
/// because this check does not know which databases the job selects (its
/// DbList). Column-level grants are not enough to copy whole tables and are
/// ignored, as are routine grants. `ALL PRIVILEGES` covers everything at its
/// level; administrative privileges count only when granted `ON *.*`.
pub fn has_privilege(grants: &[Grant], req: &Requirement) -> bool {
    grants.iter().any(|g| {
        let level_ok = match g.level {
            GrantLevel::Global => true,
            GrantLevel::Database(_) | GrantLevel::Table { .. } => !req.global_only,
            GrantLevel::Routine => false,
        };
        level_ok
            && g.privileges
                .iter()
                .any(|p| p == "ALL PRIVILEGES" || req.accepted.iter().any(|a| a == p))
    })
}

/// The requirements from `needed` that `grants` do not satisfy, in order.
pub fn missing_privileges(grants: &[Grant], needed: &[Requirement]) -> Vec<Requirement> {
    needed.iter().filter(|r| !has_privilege(grants, r)).copied().collect()
}

/// GRANT statements that would give the missing privileges to `account`
/// (already quoted, e.g. `'dts'@'%'`). Table privileges go on `database.*`
/// when a database is known, else on `*.*`; administrative ones on `*.*`.
pub fn grant_suggestion(missing: &[Requirement], account: &str, database: Option<&str>) -> String {
    let names = |global: bool| {
        missing.iter().filter(|r| r.global_only == global).map(|r| r.name).collect::<Vec<_>>().join(", ")
    };
    let mut stmts = Vec::new();
    let table = names(false);
    if !table.is_empty() {
        let target = match database {
            Some(db) if !db.is_empty() => format!("`{}`.*", db.replace('`', "``")),
            _ => "*.*".to_string(),
        };
        stmts.push(format!("GRANT {table} ON {target} TO {account};"));
    }
    let admin = names(true);
    if !admin.is_empty() {
        stmts.push(format!("GRANT {admin} ON *.* TO {account};"));
    }
    stmts.join(" ")
}

/// Quotes the `user@host` string returned by `CURRENT_USER()` as `'user'@'host'`.
pub fn quote_account(current_user: &str) -> String {
    let (user, host) = current_user.rsplit_once('@').unwrap_or((current_user, "%"));
    let q = |s: &str| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"));
    format!("{}@{}", q(user), q(host))
}

// ---- lexical helpers -------------------------------------------------------

/// Strips a leading keyword (case-insensitive) followed by whitespace or the end.
fn strip_keyword<'a>(s: &'a str, kw: &str) -> Option<&'a str> {
    let head = s.get(..kw.len())?;
    if !head.eq_ignore_ascii_case(kw) {
        return None;
    }
    let rest = &s[kw.len()..];
    match rest.chars().next() {
        None => Some(rest),
        Some(c) if c.is_whitespace() => Some(rest),
        _ => None,
    }
}

/// Bare words outside quotes and parentheses, with their byte offsets.
fn top_level_words(s: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut start: Option<usize> = None;
    let mut prev_escape = false;
    for (i, c) in s.char_indices() {
        if let Some(q) = quote {
            if prev_escape {
                prev_escape = false;
            } else if c == '\\' && q != '`' {
                prev_escape = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        let word_char = c.is_ascii_alphanumeric() || c == '_';
        if word_char && depth == 0 {
            if start.is_none() {
                start = Some(i);
            }
            continue;
        }
        if let Some(st) = start.take() {
            out.push((st, &s[st..i]));
        }
        match c {
            '`' | '\'' | '"' => quote = Some(c),
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if let Some(st) = start {
        out.push((st, &s[st..]));
    }
    // A word glued to a quote or dot (e.g. `db`.t) is part of an identifier, not a keyword.
    out.retain(|(st, w)| {
        let before = s[..*st].chars().next_back();
        let after = s[st + w.len()..].chars().next();
        !matches!(before, Some('.' | '`' | '\'' | '"' | '@'))
            && !matches!(after, Some('.' | '`' | '\'' | '"' | '@'))
    });
    out
}

/// Splits on commas outside parentheses and quotes.
fn split_top_level_commas(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '`' | '\'' | '"' => quote = Some(c),
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out
}

/// Parses `*.*`, `*`, `db.*`, `db.tbl`, `tbl`, with `backtick`/'single'/"double" quoting.
fn parse_object(s: &str) -> Option<GrantLevel> {
    let parts = split_identifier(s)?;
    match parts.as_slice() {
        [(a, false), (b, false)] if a == "*" && b == "*" => Some(GrantLevel::Global),
        [(db, _), (t, false)] if t == "*" => Some(GrantLevel::Database(db.clone())),
        [(db, _), (t, _)] => Some(GrantLevel::Table { database: Some(db.clone()), table: t.clone() }),
        [(a, false)] if a == "*" => Some(GrantLevel::Database(String::new())),
        [(t, _)] => Some(GrantLevel::Table { database: None, table: t.clone() }),
        _ => None,
    }
}

/// Splits a dotted identifier into (unquoted part, was_quoted).
fn split_identifier(s: &str) -> Option<Vec<(String, bool)>> {
    let mut parts = Vec::new();
    let mut chars = s.trim().chars().peekable();
    loop {
        let mut part = String::new();
        let mut quoted = false;
        match chars.peek().copied() {
            Some(q @ ('`' | '\'' | '"')) => {
                quoted = true;
                chars.next();
                loop {
                    match chars.next() {
                        Some(c) if c == q => {
                            if chars.peek() == Some(&q) {
                                chars.next();
                                part.push(q);
                            } else {
                                break;
                            }
                        }
                        Some(c) => part.push(c),
                        None => return None,
                    }
                }
            }
            Some(_) => {
                while let Some(&c) = chars.peek() {
                    if c == '.' || c.is_whitespace() {
                        break;
                    }
                    part.push(c);
                    chars.next();
                }
            }
            None => return None,
        }
        parts.push((part, quoted));
        match chars.next() {
            Some('.') => continue,
            None => break,
            Some(c) if c.is_whitespace() => {
                if chars.all(char::is_whitespace) {
                    break;
                }
                return None;
            }
            Some(_) => return None,
        }
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn privs(line: &str) -> Vec<String> {
        parse_grant_line(line).map(|g| g.privileges).unwrap_or_default()
    }

    #[test]
    fn mysql56_global_with_password() {
        let g = parse_grant_line(
            "GRANT SELECT, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'dts'@'%' IDENTIFIED BY PASSWORD '*81F5E21E35407D884A6CD4A731AEBFB6AF209E1B'",
        )
        .unwrap();
        assert_eq!(g.level, GrantLevel::Global);
        assert_eq!(g.privileges, vec!["SELECT", "REPLICATION SLAVE", "REPLICATION CLIENT"]);
    }

    #[test]
    fn mysql57_and_80_lines() {
        // 5.7 quotes with single quotes, 8.0 with backticks.
        let g = parse_grant_line("GRANT USAGE ON *.* TO 'dts'@'%'").unwrap();
        assert_eq!(g.privileges, vec!["USAGE"]);
        assert_eq!(g.level, GrantLevel::Global);
        let g = parse_grant_line("GRANT ALL PRIVILEGES ON `shop`.* TO `dts`@`%`").unwrap();
        assert_eq!(g.level, GrantLevel::Database("shop".into()));
        assert_eq!(g.privileges, vec!["ALL PRIVILEGES"]);
        let g = parse_grant_line(
            "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, RELOAD, SHUTDOWN, PROCESS, FILE, REFERENCES, INDEX, ALTER, SHOW DATABASES, SUPER, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, REPLICATION SLAVE, REPLICATION CLIENT, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, CREATE USER, EVENT, TRIGGER, CREATE TABLESPACE, CREATE ROLE, DROP ROLE ON *.* TO `root`@`localhost` WITH GRANT OPTION",
        )
        .unwrap();
        assert_eq!(g.level, GrantLevel::Global);
        assert!(g.privileges.contains(&"CREATE TEMPORARY TABLES".to_string()));
        assert!(g.privileges.contains(&"DROP ROLE".to_string()));
        // 8.0 dynamic privileges come without spaces after commas.
        assert_eq!(
            privs("GRANT APPLICATION_PASSWORD_ADMIN,BACKUP_ADMIN,REPLICATION_SLAVE_ADMIN ON *.* TO `root`@`localhost`"),
            vec!["APPLICATION_PASSWORD_ADMIN", "BACKUP_ADMIN", "REPLICATION_SLAVE_ADMIN"]
        );
        // Table level and column level.
        let g = parse_grant_line("GRANT SELECT, INSERT ON `shop`.`orders` TO `dts`@`%`").unwrap();
        assert_eq!(g.level, GrantLevel::Table { database: Some("shop".into()), table: "orders".into() });
        let g = parse_grant_line("GRANT SELECT (`id`, `name`), UPDATE (`name`) ON `shop`.`users` TO 'dts'@'%'").unwrap();
        assert!(g.privileges.is_empty());
        assert_eq!(g.column_privileges, vec!["SELECT", "UPDATE"]);
    }

    #[test]
    fn lines_without_object_privileges_are_skipped() {
        assert_eq!(parse_grant_line("GRANT `app_read`@`%`,`app_write`@`%` TO `dts`@`%`"), None);
        assert_eq!(parse_grant_line("GRANT `dts_role` TO `dts`@`%`"), None);
        assert_eq!(parse_grant_line("GRANT PROXY ON ''@'' TO 'root'@'localhost' WITH GRANT OPTION"), None);
        assert_eq!(parse_grant_line("GRANT PROXY ON ``@`%` TO `root`@`127.0.0.1` WITH GRANT OPTION"), None);
        assert_eq!(parse_grant_line("REVOKE INSERT ON `mysql`.* FROM `u`@`%`"), None);
        assert_eq!(parse_grant_line(""), None);
        assert_eq!(parse_grant_line("GRANTS"), None);
    }

    #[test]
    fn mariadb_1011_lines() {
        let g = parse_grant_line("GRANT BINLOG MONITOR, SLAVE MONITOR ON *.* TO `dts`@`%`").unwrap();
        assert_eq!(g.privileges, vec!["BINLOG MONITOR", "SLAVE MONITOR"]);
        let g = parse_grant_line(
            "GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` IDENTIFIED VIA mysql_native_password USING '*D4587FF5E206D2B978E3C73BB0469F222B6CB42B' OR unix_socket WITH GRANT OPTION",
        )
        .unwrap();
        assert_eq!(g.level, GrantLevel::Global);
        assert_eq!(g.privileges, vec!["ALL PRIVILEGES"]);
        let g = parse_grant_line(
            "GRANT SELECT, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `dts`@`%` IDENTIFIED BY PASSWORD '*0FE2AD2BC8A2A5C1B6F3E4C6A1D4F7E0B5C2D1A3'",
        )
        .unwrap();
        let grants = vec![g];
        assert!(missing_privileges(&grants, &[SELECT, REPLICATION_SLAVE, REPLICATION_CLIENT]).is_empty());
        // Escaped wildcard in a database name, procedure grants.
        let g = parse_grant_line("GRANT SELECT, INSERT ON `shop\\_db`.* TO `dts`@`%`").unwrap();
        assert_eq!(g.level, GrantLevel::Database("shop\\_db".into()));
        let g = parse_grant_line("GRANT EXECUTE, ALTER ROUTINE ON PROCEDURE `shop`.`p1` TO `dts`@`%`").unwrap();
        assert_eq!(g.level, GrantLevel::Routine);
        let g = parse_grant_line("GRANT DELETE HISTORY ON `shop`.* TO `dts`@`%`").unwrap();
        assert_eq!(g.privileges, vec!["DELETE HISTORY"]);
        assert!(!has_privilege(&[g], &DELETE));
    }

    #[test]
    fn identifiers_that_look_like_keywords() {
        let g = parse_grant_line("GRANT SELECT ON `to`.`on` TO `on`@`to`").unwrap();
        assert_eq!(g.level, GrantLevel::Table { database: Some("to".into()), table: "on".into() });
        let g = parse_grant_line("GRANT SELECT ON `we``ird`.* TO 'a'@'%'").unwrap();
        assert_eq!(g.level, GrantLevel::Database("we`ird".into()));
        let g = parse_grant_line("grant select on shop.* to dts@localhost").unwrap();
        assert_eq!(g.level, GrantLevel::Database("shop".into()));
        assert_eq!(g.privileges, vec!["SELECT"]);
    }

    #[test]
    fn levels_and_all_privileges() {
        let grants = parse_grants(&[
            "GRANT USAGE ON *.* TO `dts`@`%`",
            "GRANT ALL PRIVILEGES ON `shop`.* TO `dts`@`%`",
        ]);
        // Database-level ALL covers table privileges but not administrative ones.
        let missing = missing_privileges(&grants, &[SELECT, INSERT, DROP, REPLICATION_SLAVE, REPLICATION_CLIENT]);
        assert_eq!(missing, vec![REPLICATION_SLAVE, REPLICATION_CLIENT]);
        // Administrative privileges granted at database level are not real.
        let grants = parse_grants(&["GRANT REPLICATION CLIENT ON `shop`.* TO `x`@`%`"]);
        assert!(!has_privilege(&grants, &REPLICATION_CLIENT));
        let grants = parse_grants(&["GRANT ALL ON *.* TO `x`@`%`"]);
        assert!(has_privilege(&grants, &REPLICATION_SLAVE));
        // Column grants are not enough; USAGE is nothing.
        let grants = parse_grants(&["GRANT USAGE ON *.* TO 'x'@'%'", "GRANT SELECT (`id`) ON `shop`.`t` TO 'x'@'%'"]);
        assert_eq!(missing_privileges(&grants, &[SELECT]), vec![SELECT]);
        // MariaDB aliases.
        let grants = parse_grants(&["GRANT REPLICATION REPLICA, REPLICA MONITOR ON *.* TO 'x'@'%'"]);
        assert!(missing_privileges(&grants, &[REPLICATION_SLAVE, REPLICATION_CLIENT]).is_empty());
    }

    #[test]
    fn suggestions() {
        let s = grant_suggestion(&[INSERT, REPLICATION_SLAVE, DELETE], "'dts'@'%'", Some("shop"));
        assert_eq!(s, "GRANT INSERT, DELETE ON `shop`.* TO 'dts'@'%'; GRANT REPLICATION SLAVE ON *.* TO 'dts'@'%';");
        let s = grant_suggestion(&[SELECT], "'dts'@'%'", None);
        assert_eq!(s, "GRANT SELECT ON *.* TO 'dts'@'%';");
        assert_eq!(quote_account("dts@%"), "'dts'@'%'");
        assert_eq!(quote_account("o'neil@10.0.0.%"), "'o\\'neil'@'10.0.0.%'");
        assert_eq!(quote_account("a@b@localhost"), "'a@b'@'localhost'");
    }
}
