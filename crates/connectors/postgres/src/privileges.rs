//! CHECK_AUTH_SRC / CHECK_AUTH_DEST for PostgreSQL: role attributes and
//! database privileges read from the catalogs, judged by pure code.

use crate::{login, tcp};
use opendts_core::endpoint::Endpoint;
use opendts_core::job::MigrationMode;
use opendts_core::probe::{EndpointRole, FailureKind, Outcome};
use std::time::Duration;

/// What the catalogs say about the logged-in role in the current database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleFacts {
    pub role: String,
    pub database: String,
    /// `pg_roles.rolcanlogin`
    pub can_login: bool,
    /// `pg_roles.rolsuper`: bypasses every privilege check.
    pub superuser: bool,
    /// `pg_roles.rolreplication`: may open replication connections.
    pub replication: bool,
    /// `has_database_privilege(current_database(), 'CONNECT')`
    pub db_connect: bool,
    /// `has_database_privilege(current_database(), 'CREATE')`
    pub db_create: bool,
    /// `has_schema_privilege('pg_catalog', 'USAGE')`: reading table definitions.
    pub catalog_usage: bool,
    /// Ordinary and partitioned tables outside the system schemas.
    pub user_tables: i64,
    /// Of those, the ones the role may SELECT (with USAGE on their schema).
    pub readable_tables: i64,
    /// Up to five unreadable tables as (schema, table).
    pub unreadable_sample: Vec<(String, String)>,
}

fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Judges `facts` for `role` and the steps of `mode` (no step selected = all steps).
///
/// Source: LOGIN, CONNECT on the database, USAGE on pg_catalog; SELECT on the
/// tables, accepted when the role can read at least one user table (or there
/// are none) because the job's object list (DbList) is not known here; and for
/// data synchronization the REPLICATION attribute or superuser.
/// Destination: LOGIN, CONNECT, and CREATE on the database for structure
/// initialization and synchronization (whose DDL creates objects).
/// A superuser passes everything.
pub fn evaluate(facts: &RoleFacts, role: EndpointRole, mode: &MigrationMode) -> Outcome {
    let none = !mode.structure_initialization && !mode.data_initialization && !mode.data_synchronization;
    let structure = mode.structure_initialization || none;
    let incr = mode.data_synchronization || none;
    let user = ident(&facts.role);
    let db = ident(&facts.database);
    let mut held: Vec<String> = Vec::new();
    let mut missing: Vec<(String, Vec<String>)> = Vec::new();
    let mut check = |ok: bool, name: String, fixes: Vec<String>| {
        if ok {
            held.push(name);
        } else {
            missing.push((name, fixes));
        }
    };
    let su = facts.superuser;

    check(facts.can_login, "LOGIN".into(), vec![format!("ALTER ROLE {user} LOGIN;")]);
    check(
        su || facts.db_connect,
        format!("CONNECT on database {db}"),
        vec![format!("GRANT CONNECT ON DATABASE {db} TO {user};")],
    );
    let mut note = String::new();
    match role {
        EndpointRole::Source => {
            check(
                su || facts.catalog_usage,
                "USAGE on schema pg_catalog".into(),
                vec![format!("GRANT USAGE ON SCHEMA pg_catalog TO {user};")],
            );
            let readable = su || facts.user_tables == 0 || facts.readable_tables > 0;
            let mut schemas: Vec<&str> = facts.unreadable_sample.iter().map(|(s, _)| s.as_str()).collect();
            schemas.sort_unstable();
            schemas.dedup();
            let fixes = schemas
                .iter()
                .flat_map(|s| {
                    [
                        format!("GRANT USAGE ON SCHEMA {} TO {user};", ident(s)),
                        format!("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {user};", ident(s)),
                    ]
                })
                .collect();
            let name = if readable {
                "SELECT on the tables".to_string()
            } else {
                format!("SELECT on the tables (none of the {} tables in database {db} is readable)", facts.user_tables)
            };
            check(readable, name, fixes);
            if !su && facts.readable_tables < facts.user_tables && facts.readable_tables > 0 {
                let sample = facts
                    .unreadable_sample
                    .iter()
                    .map(|(s, t)| format!("{}.{}", ident(s), ident(t)))
                    .collect::<Vec<_>>()
                    .join(", ");
                note = format!(
                    " Note: {} of {} tables are not readable (e.g. {sample}); they cannot be migrated.",
                    facts.user_tables - facts.readable_tables,
                    facts.user_tables
                );
            }
            if incr {
                check(
                    su || facts.replication,
                    "REPLICATION attribute (or SUPERUSER)".into(),
                    vec![format!("ALTER ROLE {user} REPLICATION;")],
                );
            }
        }
        EndpointRole::Destination => {
            if structure || incr {
                check(
                    su || facts.db_create,
                    format!("CREATE on database {db}"),
                    vec![format!("GRANT CREATE ON DATABASE {db} TO {user};")],
                );
            }
        }
    }
    if missing.is_empty() {
        let su_note = if su { " (superuser)" } else { "" };
        return Outcome::pass(format!("Role {user}{su_note} holds the required privileges: {}.{note}", held.join(", ")));
    }
    let names = missing.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ");
    let fixes = missing.iter().flat_map(|(_, f)| f.iter().cloned()).collect::<Vec<_>>().join(" ");
    let fixes = if fixes.is_empty() { String::new() } else { format!(" Suggested fix: {fixes}") };
    Outcome::fail(FailureKind::MissingPrivilege, format!("Role {user} lacks privileges: {names}.{fixes}{note}"))
}

const ROLE_SQL: &str = "SELECT current_user::text, current_database()::text, \
     r.rolcanlogin, r.rolsuper, r.rolreplication, \
     has_database_privilege(current_database(), 'CONNECT'), \
     has_database_privilege(current_database(), 'CREATE'), \
     has_schema_privilege('pg_catalog', 'USAGE') \
     FROM pg_roles r WHERE r.rolname = current_user";

/// User tables: ordinary and partitioned (not their partitions) outside the system schemas,
/// and whether the role may read each one.
const TABLES_CTE: &str = "WITH t AS ( \
       SELECT n.nspname::text AS s, c.relname::text AS r, \
              has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT') AS ok \
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
       WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition \
         AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
         AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%') ";

async fn read_facts(client: &tokio_postgres::Client, role: EndpointRole) -> Result<RoleFacts, tokio_postgres::Error> {
    let row = client.query_one(ROLE_SQL, &[]).await?;
    let mut f = RoleFacts {
        role: row.try_get(0)?,
        database: row.try_get(1)?,
        can_login: row.try_get(2)?,
        superuser: row.try_get(3)?,
        replication: row.try_get(4)?,
        db_connect: row.try_get(5)?,
        db_create: row.try_get(6)?,
        catalog_usage: row.try_get(7)?,
        ..Default::default()
    };
    if role == EndpointRole::Source {
        let counts = format!("{TABLES_CTE} SELECT count(*), count(*) FILTER (WHERE ok) FROM t");
        let row = client.query_one(counts.as_str(), &[]).await?;
        f.user_tables = row.try_get(0)?;
        f.readable_tables = row.try_get(1)?;
        if f.readable_tables < f.user_tables {
            let sample = format!("{TABLES_CTE} SELECT s, r FROM t WHERE NOT ok ORDER BY s, r LIMIT 5");
            for row in client.query(sample.as_str(), &[]).await? {
                f.unreadable_sample.push((row.try_get(0)?, row.try_get(1)?));
            }
        }
    }
    Ok(f)
}

/// Logs in and checks the role's attributes and privileges on its database
/// (see [`evaluate`] for the rules). Login failures come back as their own
/// kinds (AccessDenied, UnknownDatabase, Timeout, ...).
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
    let client = match login::connect(ep, &t, timeout).await {
        Ok(c) => c,
        Err(outcome) => return outcome,
    };
    let facts = tokio::time::timeout(timeout, read_facts(&client, role)).await;
    drop(client);
    match facts {
        Ok(Ok(f)) => {
            tracing::debug!(role = %f.role, database = %f.database, superuser = f.superuser, "postgres role facts read");
            evaluate(&f, role, mode)
        }
        Ok(Err(e)) => {
            let (_, text) = login::classify(&e);
            Outcome::fail(
                FailureKind::Other,
                login::scrub(&format!("Reading the privileges of {:?} failed: {text}", ep.user_name), ep),
            )
        }
        Err(_) => Outcome::fail(
            FailureKind::Timeout,
            format!("Reading the privileges of {:?} timed out after {} ms.", ep.user_name, timeout.as_millis()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYNC: MigrationMode =
        MigrationMode { structure_initialization: true, data_initialization: true, data_synchronization: true };
    const MIGRATE: MigrationMode =
        MigrationMode { structure_initialization: true, data_initialization: true, data_synchronization: false };

    fn plain(role: &str) -> RoleFacts {
        RoleFacts {
            role: role.into(),
            database: "shop".into(),
            can_login: true,
            db_connect: true,
            catalog_usage: true,
            user_tables: 3,
            readable_tables: 3,
            ..Default::default()
        }
    }

    #[test]
    fn superuser_passes_everything() {
        let f = RoleFacts { superuser: true, db_connect: false, readable_tables: 0, ..plain("postgres") };
        assert!(evaluate(&f, EndpointRole::Source, &SYNC).passed);
        let o = evaluate(&f, EndpointRole::Destination, &SYNC);
        assert!(o.passed);
        assert!(o.detail.contains("(superuser)"), "{}", o.detail);
    }

    #[test]
    fn source_needs_replication_for_sync() {
        let f = plain("dts");
        assert!(evaluate(&f, EndpointRole::Source, &MIGRATE).passed);
        let o = evaluate(&f, EndpointRole::Source, &SYNC);
        assert_eq!(o.failure, Some(FailureKind::MissingPrivilege));
        assert_eq!(
            o.detail,
            "Role \"dts\" lacks privileges: REPLICATION attribute (or SUPERUSER). Suggested fix: ALTER ROLE \"dts\" REPLICATION;"
        );
        assert!(evaluate(&RoleFacts { replication: true, ..f }, EndpointRole::Source, &SYNC).passed);
    }

    #[test]
    fn source_tables_any_level() {
        let f = RoleFacts {
            readable_tables: 0,
            unreadable_sample: vec![("public".into(), "a".into()), ("sales".into(), "b".into())],
            ..plain("dts")
        };
        let o = evaluate(&f, EndpointRole::Source, &MIGRATE);
        assert_eq!(o.failure, Some(FailureKind::MissingPrivilege));
        assert!(o.detail.contains("none of the 3 tables in database \"shop\" is readable"), "{}", o.detail);
        assert!(o.detail.contains("GRANT SELECT ON ALL TABLES IN SCHEMA \"sales\" TO \"dts\";"), "{}", o.detail);
        // One readable table is enough; the rest are named in a note.
        let o = evaluate(&RoleFacts { readable_tables: 1, ..f.clone() }, EndpointRole::Source, &MIGRATE);
        assert!(o.passed, "{o:?}");
        assert!(o.detail.contains("2 of 3 tables are not readable"), "{}", o.detail);
        // An empty database is fine.
        assert!(evaluate(&RoleFacts { user_tables: 0, readable_tables: 0, ..f }, EndpointRole::Source, &MIGRATE).passed);
    }

    #[test]
    fn destination_needs_create() {
        let f = plain("w\"x");
        let o = evaluate(&f, EndpointRole::Destination, &MIGRATE);
        assert_eq!(
            o.detail,
            "Role \"w\"\"x\" lacks privileges: CREATE on database \"shop\". Suggested fix: GRANT CREATE ON DATABASE \"shop\" TO \"w\"\"x\";"
        );
        let data_only = MigrationMode { data_initialization: true, ..Default::default() };
        assert!(evaluate(&f, EndpointRole::Destination, &data_only).passed);
        assert!(evaluate(&RoleFacts { db_create: true, ..f.clone() }, EndpointRole::Destination, &SYNC).passed);
        let o = evaluate(&RoleFacts { db_connect: false, ..f }, EndpointRole::Destination, &data_only);
        assert!(o.detail.contains("CONNECT on database \"shop\""), "{}", o.detail);
    }
}
