//! CHECK_AUTH_SRC / CHECK_AUTH_DEST: does the account hold the privileges the chosen steps need?

use crate::grants::{self, Requirement};
use crate::{login, tcp};
use mysql_async::prelude::Queryable;
use opendts_core::endpoint::Endpoint;
use opendts_core::job::MigrationMode;
use opendts_core::probe::{EndpointRole, FailureKind, Outcome};
use std::time::Duration;

/// The privileges an endpoint account needs for `role` and the steps of `mode`.
///
/// Source: SELECT (schema and full data; incremental reads table definitions
/// too), plus REPLICATION SLAVE and REPLICATION CLIENT for data synchronization.
/// Destination: CREATE, ALTER, INDEX, DROP for structure initialization (and
/// for the DDL that synchronization replays); SELECT, INSERT, UPDATE, DELETE
/// for data initialization and synchronization. A mode with no step selected is
/// treated as all steps.
pub fn required(role: EndpointRole, mode: &MigrationMode) -> Vec<Requirement> {
    use grants::*;
    let none = !mode.structure_initialization && !mode.data_initialization && !mode.data_synchronization;
    let structure = mode.structure_initialization || none;
    let full = mode.data_initialization || none;
    let incr = mode.data_synchronization || none;
    let mut out = Vec::new();
    match role {
        EndpointRole::Source => {
            out.push(SELECT);
            if incr {
                out.extend([REPLICATION_SLAVE, REPLICATION_CLIENT]);
            }
        }
        EndpointRole::Destination => {
            if structure || incr {
                out.extend([CREATE, ALTER, INDEX, DROP]);
            }
            if full || incr {
                out.extend([SELECT, INSERT, UPDATE, DELETE]);
            }
            if !out.contains(&SELECT) {
                out.push(SELECT);
            }
        }
    }
    out
}

/// Judges the grant lines of `account` (as `CURRENT_USER()` returns it).
pub fn evaluate(
    grant_lines: &[String],
    account: &str,
    role: EndpointRole,
    mode: &MigrationMode,
    database: Option<&str>,
) -> Outcome {
    let parsed = grants::parse_grants(grant_lines);
    let needed = required(role, mode);
    let missing = grants::missing_privileges(&parsed, &needed);
    let needed_names = needed.iter().map(|r| r.name).collect::<Vec<_>>().join(", ");
    let quoted = grants::quote_account(account);
    if missing.is_empty() {
        return Outcome::pass(format!("Account {quoted} holds the required privileges: {needed_names}."));
    }
    let names = missing
        .iter()
        .map(|r| {
            if r.accepted.len() > 1 {
                format!("{} (or {})", r.name, r.accepted[1..].join(" / "))
            } else {
                r.name.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let roles_note = if grant_lines.iter().any(|l| grants::parse_grant_line(l).is_none() && l.contains(" TO ") && !l.contains(" ON ")) {
        " Privileges held through roles are not counted."
    } else {
        ""
    };
    Outcome::fail(
        FailureKind::MissingPrivilege,
        format!(
            "Account {quoted} lacks privileges: {names}.{roles_note} Suggested fix: {}",
            grants::grant_suggestion(&missing, &quoted, database)
        ),
    )
}

/// Logs in and checks the account's privileges with `SHOW GRANTS FOR CURRENT_USER()`.
///
/// Table privileges (SELECT, INSERT, ...) are accepted at any level (global,
/// database or table) because the object list of the job (DbList) is not known
/// here; REPLICATION SLAVE / CLIENT (and their MariaDB names) count only
/// `ON *.*`. Login failures come back as their own kinds (AccessDenied, ...).
pub async fn check_privileges(
    ep: &Endpoint,
    role: EndpointRole,
    mode: &MigrationMode,
    timeout: Duration,
) -> Outcome {
    let t = match tcp::target(ep) {
        Ok(t) => t,
        Err(outcome) => return outcome,
    };
    let mut conn = match login::connect(ep, &t, timeout).await {
        Ok(c) => c,
        Err(outcome) => return outcome,
    };
    let fetched = tokio::time::timeout(timeout, async {
        let account: Option<String> = conn.query_first("SELECT CURRENT_USER()").await?;
        let lines: Vec<String> = conn.query("SHOW GRANTS FOR CURRENT_USER()").await?;
        Ok::<_, mysql_async::Error>((account, lines))
    })
    .await;
    login::close(conn).await;
    let (account, lines) = match fetched {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            let (_, text) = login::classify(&e);
            return Outcome::fail(
                FailureKind::Other,
                login::scrub(&format!("Reading the grants of {:?} failed: {text}", ep.user_name), ep),
            );
        }
        Err(_) => {
            return Outcome::fail(
                FailureKind::Timeout,
                format!("Reading the grants of {:?} timed out after {} ms.", ep.user_name, timeout.as_millis()),
            )
        }
    };
    let account = account.unwrap_or_else(|| format!("{}@%", ep.user_name));
    tracing::debug!(%account, grants = lines.len(), ?role, "mysql grants read");
    let db = ep.database_name.trim();
    evaluate(&lines, &account, role, mode, (!db.is_empty()).then_some(db))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grants::*;

    const SYNC: MigrationMode =
        MigrationMode { structure_initialization: true, data_initialization: true, data_synchronization: true };
    const MIGRATE: MigrationMode =
        MigrationMode { structure_initialization: true, data_initialization: true, data_synchronization: false };

    #[test]
    fn requirements_follow_steps() {
        assert_eq!(required(EndpointRole::Source, &MIGRATE), vec![SELECT]);
        assert_eq!(required(EndpointRole::Source, &SYNC), vec![SELECT, REPLICATION_SLAVE, REPLICATION_CLIENT]);
        assert_eq!(required(EndpointRole::Source, &MigrationMode::default()).len(), 3);
        let full_only = MigrationMode { data_initialization: true, ..Default::default() };
        assert_eq!(required(EndpointRole::Destination, &full_only), vec![SELECT, INSERT, UPDATE, DELETE]);
        let schema_only = MigrationMode { structure_initialization: true, ..Default::default() };
        assert_eq!(required(EndpointRole::Destination, &schema_only), vec![CREATE, ALTER, INDEX, DROP, SELECT]);
        assert_eq!(required(EndpointRole::Destination, &SYNC).len(), 8);
    }

    #[test]
    fn select_only_source_for_sync() {
        let lines = vec!["GRANT SELECT ON *.* TO `dts`@`%`".to_string()];
        let o = evaluate(&lines, "dts@%", EndpointRole::Source, &SYNC, None);
        assert_eq!(o.failure, Some(FailureKind::MissingPrivilege));
        assert!(o.detail.contains("REPLICATION SLAVE (or REPLICATION REPLICA)"), "{}", o.detail);
        assert!(o.detail.contains("GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'dts'@'%';"), "{}", o.detail);
        assert!(!o.detail.contains("lacks privileges: SELECT"));
        assert!(evaluate(&lines, "dts@%", EndpointRole::Source, &MIGRATE, None).passed);
    }

    #[test]
    fn mariadb_source_and_database_level_destination() {
        let src = vec![
            "GRANT SELECT, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `dts`@`%` IDENTIFIED BY PASSWORD '*AAA'".to_string(),
        ];
        assert!(evaluate(&src, "dts@%", EndpointRole::Source, &SYNC, None).passed);
        let dst = vec![
            "GRANT USAGE ON *.* TO `w`@`%`".to_string(),
            "GRANT ALL PRIVILEGES ON `shop`.* TO `w`@`%`".to_string(),
        ];
        assert!(evaluate(&dst, "w@%", EndpointRole::Destination, &SYNC, Some("shop")).passed);
        let dst = vec!["GRANT SELECT, INSERT ON `shop`.* TO `w`@`%`".to_string(), "GRANT `r1` TO `w`@`%`".to_string()];
        let o = evaluate(&dst, "w@%", EndpointRole::Destination, &SYNC, Some("shop"));
        assert_eq!(
            o.detail,
            "Account 'w'@'%' lacks privileges: CREATE, ALTER, INDEX, DROP, UPDATE, DELETE. Privileges held through roles are not counted. \
             Suggested fix: GRANT CREATE, ALTER, INDEX, DROP, UPDATE, DELETE ON `shop`.* TO 'w'@'%';"
        );
    }
}
