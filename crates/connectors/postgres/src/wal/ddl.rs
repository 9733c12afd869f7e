//! DDL capture for PostgreSQL sources.
//!
//! Logical replication carries no DDL, so (as Alibaba DTS does) an event
//! trigger writes one row per table-related DDL command into
//! `opendts_meta.ddl_log`, a table every job's publication carries: the row
//! reaches the WAL source in commit order, inside its transaction, between
//! the rows written before and after the DDL, and becomes a
//! [`ChangeEvent::Ddl`](opendts_core::change::ChangeEvent::Ddl) in its place.
//!
//! # Objects (in the endpoint's database, shared by every job on it)
//! - `opendts_meta.ddl_log`: `id`, `logged_at`, `txid`, `backend_pid`,
//!   `statement_at`, `username` (session user), `query` (`current_query()`),
//!   `command_tag`, `ordinal` (see below), `objects` (JSON array of the
//!   tables: `schema`/`name` after the command, `old_schema`/`old_name`
//!   before it, `index` for index commands) and `search_path`.
//! - `opendts_meta.ddl_names`: the last known name of every table and index
//!   by OID. `ddl_command_end` only shows the state after a command, so this
//!   shadow catalog is what tells a RENAME / SET SCHEMA (old ≠ new) apart from
//!   other ALTER TABLEs, and which table a dropped index belonged to. Seeded
//!   at install; a table created by a concurrent session during the install
//!   may be missed, its first rename is then seen as an ALTER TABLE.
//! - `opendts_meta.ddl_publications`: (publication, schema) pairs: "tables
//!   arriving in this schema join this publication", see below.
//! - `opendts_meta.capture_ddl_end()` on `ddl_command_end` (CREATE TABLE [AS],
//!   SELECT INTO, ALTER TABLE, CREATE INDEX; DROP TABLE / DROP INDEX only
//!   counted) and `opendts_meta.capture_ddl_drop()` on `sql_drop` (DROP TABLE,
//!   DROP INDEX). Both are SECURITY DEFINER (owned by the installing
//!   superuser; nobody else may write the log, so nobody can forge a DDL the
//!   destination would replay) and pin `search_path` to `pg_catalog` while
//!   they run (restoring the user's afterwards). Temporary tables, objects of
//!   `opendts_meta`, objects of extensions and non-tables (views, sequences,
//!   foreign tables) are never logged.
//!
//! Creating event triggers needs a superuser: without one
//! [`install_ddl_capture`] fails with [`WalError::DdlCaptureDenied`] and
//! creates nothing (everything runs in one transaction, serialized between
//! concurrent installers by an advisory lock).
//!
//! # New tables in schemas selected whole
//! The trigger itself adds a table created in (or moved into, by ALTER TABLE
//! RENAME / SET SCHEMA) a schema registered in `ddl_publications` to those
//! publications, with `ALTER PUBLICATION ... ADD TABLE`, in the transaction
//! of the CREATE. Publication membership is decided when the WAL is decoded,
//! with the catalog as of each change, so every row written after the CREATE
//! — in the same transaction too — is streamed; this works on every version
//! (no `FOR TABLES IN SCHEMA`, which would need PostgreSQL 15). Limits: rows
//! written by the CREATE itself (CREATE TABLE AS, SELECT INTO) precede the
//! ADD TABLE and are not streamed — the destination's replay of the
//! statement computes them from its own data; a failing ADD TABLE (e.g. the
//! publication is FOR ALL TABLES) is a WARNING, never a failed user DDL.
//!
//! # One statement per event
//! `current_query()` is the whole query string the client sent, which may
//! hold several statements (`CREATE TABLE a ...; ALTER TABLE b ...`), and the
//! trigger fires once per command. So each row also records `ordinal`, the
//! rank of the command among the commands of the same tag in that query
//! string (counted in a session setting keyed by `statement_timestamp()` and
//! the query text, so BEGIN/COMMIT inside the string do not reset it). The
//! WAL source splits the query with a tokenizer that respects quotes,
//! comments and dollar quoting, takes the `ordinal`-th statement of that tag,
//! and checks that it names the logged table. When it cannot (DDL run by a
//! function or a DO block, dynamic SQL), the event is of kind
//! [`DdlKind::Other`] with the whole query: it is reported, never replayed.

use super::slot::{sql_client, sql_err};
use super::WalError;
use opendts_core::change::{DdlChange, DdlKind};
use opendts_core::endpoint::Endpoint;
use opendts_core::row::TableId;
use std::ops::Range;

/// The schema of the capture objects.
pub const CAPTURE_SCHEMA: &str = "opendts_meta";
/// The log table every job's publication carries.
pub const LOG_TABLE: &str = "ddl_log";

/// What [`install_ddl_capture`] set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DdlCapture {
    /// `opendts_meta.ddl_log`, to publish (see `PublicationSpec::ddl_log`).
    pub log_table: TableId,
    /// Whether the event triggers were created by this call.
    pub created: bool,
}

/// Serializes installers (any constant works; this is "opendts" in ASCII).
const INSTALL_LOCK: i64 = 0x006f_7065_6e64_7473;

const TABLES_SQL: &str = "
CREATE SCHEMA IF NOT EXISTS opendts_meta;
CREATE TABLE IF NOT EXISTS opendts_meta.ddl_log (
    id bigserial PRIMARY KEY,
    logged_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    txid bigint NOT NULL DEFAULT txid_current(),
    backend_pid integer NOT NULL DEFAULT pg_backend_pid(),
    statement_at timestamptz NOT NULL DEFAULT statement_timestamp(),
    username text NOT NULL DEFAULT session_user,
    query text,
    command_tag text NOT NULL,
    ordinal integer NOT NULL,
    objects jsonb NOT NULL,
    search_path text NOT NULL);
CREATE TABLE IF NOT EXISTS opendts_meta.ddl_names (
    objid oid PRIMARY KEY, schema_name text NOT NULL, object_name text NOT NULL, table_oid oid NOT NULL);
CREATE TABLE IF NOT EXISTS opendts_meta.ddl_publications (
    publication text NOT NULL, schema_name text NOT NULL, PRIMARY KEY (publication, schema_name));
DELETE FROM opendts_meta.ddl_names WHERE objid NOT IN (SELECT oid FROM pg_catalog.pg_class);
REVOKE ALL ON opendts_meta.ddl_log, opendts_meta.ddl_names, opendts_meta.ddl_publications FROM PUBLIC;
INSERT INTO opendts_meta.ddl_names (objid, schema_name, object_name, table_oid)
    SELECT c.oid, n.nspname, c.relname, coalesce(i.indrelid, c.oid)
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid
    WHERE c.relkind IN ('r', 'p', 'i', 'I') AND c.relpersistence <> 't'
      AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'opendts_meta') AND n.nspname NOT LIKE 'pg\\_%'
    ON CONFLICT (objid) DO UPDATE SET schema_name = EXCLUDED.schema_name, object_name = EXCLUDED.object_name,
        table_oid = EXCLUDED.table_oid;
";

/// `ordinal` bookkeeping shared by both functions: `$peek` true reads the
/// next rank without taking it (sql_drop runs before ddl_command_end of the
/// same command, which takes it).
const ORDINAL_PLPGSQL: &str = "
    v_key := pg_catalog.statement_timestamp()::text || ' ' || pg_catalog.md5(coalesce(pg_catalog.current_query(), ''));
    IF pg_catalog.current_setting('opendts.ddl_key', true) IS DISTINCT FROM v_key THEN
        v_counts := '{}';
    ELSE
        v_counts := coalesce(nullif(pg_catalog.current_setting('opendts.ddl_counts', true), ''), '{}')::jsonb;
    END IF;
    v_ordinal := coalesce((v_counts ->> tg_tag)::int, 0) + 1;
";

const LOG_INSERT_PLPGSQL: &str = "
    IF pg_catalog.jsonb_array_length(v_objects) > 0 THEN
        INSERT INTO opendts_meta.ddl_log (username, query, command_tag, ordinal, objects, search_path)
        VALUES (session_user, pg_catalog.current_query(), tg_tag, v_ordinal, v_objects, v_path);
    END IF;
    PERFORM pg_catalog.set_config('search_path', v_path, true);
";

fn end_function_sql() -> String {
    format!(
        "CREATE OR REPLACE FUNCTION opendts_meta.capture_ddl_end() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER AS $fn$
DECLARE
    v_path text := pg_catalog.current_setting('search_path');
    v_key text; v_counts jsonb; v_ordinal int;
    v_objects jsonb := '[]';
    r record; p record; v_old_schema text; v_old_name text;
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    IF tg_tag NOT IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE', 'CREATE INDEX', 'DROP TABLE', 'DROP INDEX') THEN
        PERFORM set_config('search_path', v_path, true);
        RETURN;
    END IF;
    {ORDINAL_PLPGSQL}
    PERFORM set_config('opendts.ddl_key', v_key, false);
    PERFORM set_config('opendts.ddl_counts', jsonb_set(v_counts, ARRAY[tg_tag], to_jsonb(v_ordinal))::text, false);
    IF tg_tag IN ('DROP TABLE', 'DROP INDEX') THEN
        -- Logged by capture_ddl_drop (sql_drop); counted here, where every execution fires.
        PERFORM set_config('search_path', v_path, true);
        RETURN;
    END IF;
    FOR r IN
        SELECT DISTINCT ON (t.oid) t.oid AS table_oid, n.nspname::text AS schema_name, t.relname::text AS table_name,
               CASE WHEN d.object_type = 'index' THEN ic.relname::text END AS index_name
        FROM pg_event_trigger_ddl_commands() d
        LEFT JOIN pg_index i ON d.object_type = 'index' AND i.indexrelid = d.objid
        LEFT JOIN pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_class t ON t.oid = coalesce(i.indrelid, d.objid)
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE NOT d.in_extension AND t.relpersistence <> 't' AND t.relkind IN ('r', 'p')
          AND n.nspname <> 'opendts_meta'
          AND d.object_type = CASE WHEN tg_tag = 'CREATE INDEX' THEN 'index' ELSE 'table' END
    LOOP
        SELECT o.schema_name, o.object_name INTO v_old_schema, v_old_name FROM opendts_meta.ddl_names o WHERE o.objid = r.table_oid;
        IF NOT FOUND THEN
            v_old_schema := r.schema_name;
            v_old_name := r.table_name;
        END IF;
        v_objects := v_objects || jsonb_build_array(jsonb_build_object('schema', r.schema_name, 'name', r.table_name,
            'old_schema', v_old_schema, 'old_name', v_old_name, 'index', r.index_name));
        IF tg_tag IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO') OR v_old_schema <> r.schema_name THEN
            FOR p IN
                SELECT dp.publication FROM opendts_meta.ddl_publications dp
                JOIN pg_publication pp ON pp.pubname = dp.publication
                WHERE dp.schema_name = r.schema_name AND NOT pp.puballtables
                  AND NOT EXISTS (SELECT 1 FROM pg_publication_rel pr WHERE pr.prpubid = pp.oid AND pr.prrelid = r.table_oid)
            LOOP
                BEGIN
                    EXECUTE format('ALTER PUBLICATION %I ADD TABLE %I.%I', p.publication, r.schema_name, r.table_name);
                EXCEPTION WHEN OTHERS THEN
                    RAISE WARNING 'opendts: cannot add %.% to publication %: %', r.schema_name, r.table_name, p.publication, SQLERRM;
                END;
            END LOOP;
        END IF;
    END LOOP;
    INSERT INTO opendts_meta.ddl_names (objid, schema_name, object_name, table_oid)
        SELECT c.oid, n.nspname, c.relname, coalesce(i.indrelid, c.oid)
        FROM pg_event_trigger_ddl_commands() d
        JOIN pg_class c ON c.oid = d.objid JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_index i ON i.indexrelid = c.oid
        WHERE d.object_type IN ('table', 'index') AND c.relpersistence <> 't' AND n.nspname <> 'opendts_meta'
        ON CONFLICT (objid) DO UPDATE SET schema_name = EXCLUDED.schema_name, object_name = EXCLUDED.object_name,
            table_oid = EXCLUDED.table_oid;
    {LOG_INSERT_PLPGSQL}
END
$fn$"
    )
}

fn drop_function_sql() -> String {
    format!(
        "CREATE OR REPLACE FUNCTION opendts_meta.capture_ddl_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER AS $fn$
DECLARE
    v_path text := pg_catalog.current_setting('search_path');
    v_key text; v_counts jsonb; v_ordinal int;
    v_objects jsonb := '[]';
    r record; v_table record;
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    IF tg_tag NOT IN ('DROP TABLE', 'DROP INDEX') THEN
        PERFORM set_config('search_path', v_path, true);
        RETURN;
    END IF;
    {ORDINAL_PLPGSQL}
    FOR r IN
        SELECT d.* FROM pg_event_trigger_dropped_objects() d
        WHERE d.original AND NOT d.is_temporary AND d.schema_name <> 'opendts_meta'
          AND d.object_type = CASE WHEN tg_tag = 'DROP INDEX' THEN 'index' ELSE 'table' END
    LOOP
        IF r.object_type = 'index' THEN
            SELECT n.nspname::text AS schema_name, t.relname::text AS table_name INTO v_table
            FROM opendts_meta.ddl_names o JOIN pg_class t ON t.oid = o.table_oid JOIN pg_namespace n ON n.oid = t.relnamespace
            WHERE o.objid = r.objid AND t.relpersistence <> 't';
            CONTINUE WHEN NOT FOUND;
            v_objects := v_objects || jsonb_build_array(jsonb_build_object('schema', v_table.schema_name, 'name', v_table.table_name,
                'old_schema', v_table.schema_name, 'old_name', v_table.table_name, 'index', r.object_name));
        ELSE
            v_objects := v_objects || jsonb_build_array(jsonb_build_object('schema', r.schema_name, 'name', r.object_name,
                'old_schema', r.schema_name, 'old_name', r.object_name));
        END IF;
    END LOOP;
    DELETE FROM opendts_meta.ddl_names o USING pg_event_trigger_dropped_objects() d WHERE o.objid = d.objid;
    {LOG_INSERT_PLPGSQL}
END
$fn$"
    )
}

const TRIGGERS: [(&str, &str, &str); 2] = [
    ("opendts_ddl_end", "ddl_command_end", "opendts_meta.capture_ddl_end"),
    ("opendts_ddl_drop", "sql_drop", "opendts_meta.capture_ddl_drop"),
];

/// Creates (or updates) the capture objects in the endpoint's database.
/// Idempotent and safe against concurrent installers (several jobs on one
/// database share them). Call it before the job's slot is created, so that
/// no DDL after the slot's start escapes the log. A role that may not create
/// event triggers gets [`WalError::DdlCaptureDenied`] and nothing is created.
pub async fn install_ddl_capture(ep: &Endpoint) -> Result<DdlCapture, WalError> {
    let mut client = sql_client(ep).await?;
    let tx = client.transaction().await.map_err(|e| sql_err("begin installing DDL capture", e))?;
    let denied = |what: &str, e: tokio_postgres::Error| match e.code() {
        Some(c) if *c == tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE => WalError::DdlCaptureDenied(format!(
            "{what} needs a superuser ({}); grant superuser to {:?} or synchronize without DDL",
            e.as_db_error().map(|d| d.message().to_string()).unwrap_or_default(),
            ep.user_name
        )),
        _ => sql_err(what, e),
    };
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&INSTALL_LOCK]).await.map_err(|e| sql_err("lock the DDL capture install", e))?;
    let superuser: bool = tx
        .query_one("SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user", &[])
        .await
        .map_err(|e| sql_err("read the role", e))?
        .get(0);
    let existing: i64 = tx
        .query_one("SELECT count(*) FROM pg_catalog.pg_event_trigger WHERE evtname IN ('opendts_ddl_end', 'opendts_ddl_drop')", &[])
        .await
        .map_err(|e| sql_err("read pg_event_trigger", e))?
        .get(0);
    if !superuser {
        return Err(WalError::DdlCaptureDenied(format!(
            "creating the event triggers that capture DDL needs a superuser and {:?} is not one{}",
            ep.user_name,
            if existing == 2 { " (the triggers exist: ask a superuser to keep them up to date)" } else { "" }
        )));
    }
    tx.batch_execute(TABLES_SQL).await.map_err(|e| denied("create the DDL capture tables", e))?;
    tx.batch_execute(&end_function_sql()).await.map_err(|e| denied("create opendts_meta.capture_ddl_end()", e))?;
    tx.batch_execute(&drop_function_sql()).await.map_err(|e| denied("create opendts_meta.capture_ddl_drop()", e))?;
    let mut created = false;
    for (name, event, function) in TRIGGERS {
        let exists = tx
            .query_opt("SELECT 1 FROM pg_catalog.pg_event_trigger WHERE evtname = $1", &[&name])
            .await
            .map_err(|e| sql_err("read pg_event_trigger", e))?
            .is_some();
        if !exists {
            let sql = format!("CREATE EVENT TRIGGER {name} ON {event} EXECUTE FUNCTION {function}()");
            tx.batch_execute(&sql).await.map_err(|e| denied(&sql, e))?;
            created = true;
        }
    }
    tx.commit().await.map_err(|e| sql_err("commit the DDL capture install", e))?;
    Ok(DdlCapture { log_table: TableId::new(CAPTURE_SCHEMA, LOG_TABLE), created })
}

/// Whether [`install_ddl_capture`] can succeed, without changing anything
/// (for a precheck): `Ok(true)` when the capture is installed already,
/// `Ok(false)` when the role may install it, [`WalError::DdlCaptureDenied`]
/// otherwise.
pub async fn check_ddl_capture(ep: &Endpoint) -> Result<bool, WalError> {
    let client = sql_client(ep).await?;
    let row = client
        .query_one(
            "SELECT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user),
                    (SELECT count(*) FROM pg_catalog.pg_event_trigger WHERE evtname IN ('opendts_ddl_end', 'opendts_ddl_drop'))",
            &[],
        )
        .await
        .map_err(|e| sql_err("read the role", e))?;
    let (superuser, triggers): (bool, i64) = (row.get(0), row.get(1));
    match (triggers == 2, superuser) {
        (true, _) => Ok(true),
        (false, true) => Ok(false),
        (false, false) => Err(WalError::DdlCaptureDenied(format!(
            "creating the event triggers that capture DDL needs a superuser and {:?} is not one",
            ep.user_name
        ))),
    }
}

// ---------------------------------------------------------------------------
// From a ddl_log row to a DdlChange.

/// One table of a logged command.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Logged {
    new: TableId,
    old: TableId,
    index: Option<String>,
}

/// A decoded `ddl_log` row.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct LogRow {
    pub query: String,
    pub command_tag: String,
    pub ordinal: usize,
    pub objects: String,
    pub search_path: String,
    pub username: String,
}

/// The event for a logged command. `None` when it concerns no table.
pub(crate) fn change_from_log(row: &LogRow) -> Result<Option<DdlChange>, WalError> {
    let logged = parse_objects(&row.objects)?;
    if logged.is_empty() {
        return Ok(None);
    }
    let tag = row.command_tag.as_str();
    let renamed = logged.iter().any(|l| l.old != l.new);
    let kind = match tag {
        "CREATE TABLE" | "CREATE TABLE AS" | "SELECT INTO" => DdlKind::CreateTable,
        "ALTER TABLE" if renamed => DdlKind::RenameTable,
        "ALTER TABLE" | "CREATE INDEX" | "DROP INDEX" => DdlKind::AlterTable,
        "DROP TABLE" => DdlKind::DropTable,
        _ => DdlKind::Other,
    };
    let mut tables: Vec<TableId> = Vec::new();
    for l in &logged {
        let ids = if kind == DdlKind::RenameTable { vec![l.old.clone(), l.new.clone()] } else { vec![l.new.clone()] };
        for id in ids {
            if !tables.contains(&id) {
                tables.push(id);
            }
        }
    }
    let schema = logged[0].old.schema.clone();
    let schema = if schema.is_empty() { first_search_path_entry(&row.search_path, &row.username) } else { schema };
    let (statement, kind) = match isolate(&row.query, tag, row.ordinal, &logged) {
        Some(s) => (s, kind),
        None => {
            tracing::warn!(query = %row.query, tag, "a DDL statement could not be isolated from its query string; not replayed");
            (row.query.trim().to_string(), DdlKind::Other)
        }
    };
    Ok(Some(DdlChange { schema, statement, kind, tables }))
}

fn parse_objects(text: &str) -> Result<Vec<Logged>, WalError> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| WalError::Protocol(format!("ddl_log.objects is not JSON: {e}")))?;
    let items = v.as_array().ok_or_else(|| WalError::Protocol("ddl_log.objects is not an array".into()))?;
    let s = |o: &serde_json::Value, k: &str| o.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let mut out = Vec::new();
    for o in items {
        let (Some(schema), Some(name)) = (s(o, "schema"), s(o, "name")) else {
            return Err(WalError::Protocol(format!("ddl_log.objects entry without a name: {o}")));
        };
        let old = TableId::new(s(o, "old_schema").unwrap_or_else(|| schema.clone()), s(o, "old_name").unwrap_or_else(|| name.clone()));
        out.push(Logged { new: TableId::new(schema, name), old, index: s(o, "index") });
    }
    Ok(out)
}

/// The first schema of a `search_path` setting (`"$user"` is the user).
fn first_search_path_entry(path: &str, user: &str) -> String {
    let Ok(tokens) = tokenize(path) else { return String::new() };
    match tokens.first().map(|t| &t.tok) {
        Some(Tok::Quoted(s)) if s == "$user" => user.to_string(),
        Some(Tok::Quoted(s)) => s.clone(),
        Some(Tok::Word(w)) => w.to_ascii_lowercase(),
        _ => String::new(),
    }
}

/// The `ordinal`-th statement of the query whose command tag is `tag`, when
/// it names the logged tables; `None` when that cannot be established.
fn isolate(query: &str, tag: &str, ordinal: usize, logged: &[Logged]) -> Option<String> {
    let tokens = tokenize(query).ok()?;
    let stmt = split_statements(&tokens).into_iter().filter(|r| command_tag(&tokens[r.clone()]).as_deref() == Some(tag)).nth(ordinal.checked_sub(1)?)?;
    let toks = &tokens[stmt.clone()];
    let named = object_names(toks, tag);
    let is_named = |schema: &str, name: &str| {
        named.iter().any(|(s, n)| n == name && s.as_deref().is_none_or(|s| s == schema))
    };
    let ok = match tag {
        "DROP INDEX" => logged.iter().all(|l| l.index.as_deref().is_some_and(|i| is_named(&l.new.schema, i))),
        "DROP TABLE" => logged.iter().all(|l| is_named(&l.new.schema, &l.new.table)),
        _ => named.len() == 1 && logged.iter().all(|l| is_named(&l.old.schema, &l.old.table)),
    };
    let (first, last) = (toks.first()?, toks.last()?);
    ok.then(|| query[first.start..last.end].to_string())
}

// ---------------------------------------------------------------------------
// A tokenizer for PostgreSQL's SQL, enough to split statements and to find
// and rename identifiers safely.

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// An unquoted word (keyword or identifier), as written.
    Word(String),
    /// A double-quoted identifier, unescaped.
    Quoted(String),
    /// A string constant (any form, dollar-quoted included) or a number.
    Literal,
    /// Any other character (operators, punctuation, `$1`).
    Punct(char),
}

/// A token and its byte range in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

impl Token {
    /// Whether this is the keyword `kw` (upper case).
    pub(crate) fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.tok, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }
    pub(crate) fn is_punct(&self, c: char) -> bool {
        self.tok == Tok::Punct(c)
    }
    /// The identifier this token names (unquoted words fold to lower case).
    pub(crate) fn ident(&self) -> Option<String> {
        match &self.tok {
            Tok::Word(w) => Some(w.to_ascii_lowercase()),
            Tok::Quoted(q) => Some(q.clone()),
            _ => None,
        }
    }
}

fn ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn ident_char(b: u8) -> bool {
    ident_start(b) || b.is_ascii_digit() || b == b'$'
}

/// Splits SQL text into tokens, skipping spaces and comments. Fails on
/// unterminated quotes or comments and on `U&"..."` identifiers (whose
/// escapes are not decoded), so that callers never guess.
pub(crate) fn tokenize(sql: &str) -> Result<Vec<Token>, String> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'-' && b.get(i + 1) == Some(&b'-') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i = skip_block_comment(b, i)?;
        } else if c == b'\'' {
            i = skip_string(b, i, false)?;
            out.push(Token { tok: Tok::Literal, start, end: i });
        } else if c == b'"' {
            if out.last().is_some_and(|t: &Token| t.is_punct('&') && t.start > 0 && b[t.start - 1].eq_ignore_ascii_case(&b'u')) {
                return Err("U&\"...\" identifiers are not supported".into());
            }
            let (name, end) = quoted_ident(sql, i)?;
            i = end;
            out.push(Token { tok: Tok::Quoted(name), start, end: i });
        } else if c == b'$' && b.get(i + 1).is_some_and(|d| d.is_ascii_digit()) {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            out.push(Token { tok: Tok::Punct('$'), start, end: i });
        } else if c == b'$' {
            match dollar_tag(b, i) {
                Some(tag_end) => {
                    i = skip_dollar(b, i, tag_end)?;
                    out.push(Token { tok: Tok::Literal, start, end: i });
                }
                None => {
                    i += 1;
                    out.push(Token { tok: Tok::Punct('$'), start, end: i });
                }
            }
        } else if ident_start(c) {
            while i < b.len() && ident_char(b[i]) {
                i += 1;
            }
            let word = &sql[start..i];
            if b.get(i) == Some(&b'\'') && word.len() == 1 && b"eEbBxXnN".contains(&b[start]) {
                i = skip_string(b, i, word.eq_ignore_ascii_case("e"))?;
                out.push(Token { tok: Tok::Literal, start, end: i });
            } else {
                out.push(Token { tok: Tok::Word(word.to_string()), start, end: i });
            }
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_') {
                i += 1;
            }
            out.push(Token { tok: Tok::Literal, start, end: i });
        } else {
            let ch = sql[i..].chars().next().unwrap_or('?');
            i += ch.len_utf8();
            out.push(Token { tok: Tok::Punct(ch), start, end: i });
        }
    }
    Ok(out)
}

fn skip_block_comment(b: &[u8], mut i: usize) -> Result<usize, String> {
    let mut depth = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            depth += 1;
            i += 2;
        } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return Ok(i);
            }
        } else {
            i += 1;
        }
    }
    Err("unterminated comment".into())
}

/// Skips `'...'` starting at `i` (`''` doubles a quote; with `escapes`, a
/// backslash escapes the next byte).
fn skip_string(b: &[u8], mut i: usize, escapes: bool) -> Result<usize, String> {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' if escapes => i += 2,
            b'\'' if b.get(i + 1) == Some(&b'\'') => i += 2,
            b'\'' => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err("unterminated string constant".into())
}

fn quoted_ident(sql: &str, mut i: usize) -> Result<(String, usize), String> {
    let b = sql.as_bytes();
    let mut name = String::new();
    i += 1;
    let mut from = i;
    while i < b.len() {
        if b[i] == b'"' {
            name.push_str(&sql[from..i]);
            if b.get(i + 1) == Some(&b'"') {
                name.push('"');
                i += 2;
                from = i;
                continue;
            }
            return Ok((name, i + 1));
        }
        i += 1;
    }
    Err("unterminated quoted identifier".into())
}

/// The end of a `$tag$` opening at `i`, if it is one.
fn dollar_tag(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if j < b.len() && b[j] == b'$' {
        return Some(j + 1);
    }
    if j >= b.len() || !ident_start(b[j]) {
        return None;
    }
    while j < b.len() && ident_char(b[j]) && b[j] != b'$' {
        j += 1;
    }
    (j < b.len() && b[j] == b'$').then_some(j + 1)
}

fn skip_dollar(b: &[u8], start: usize, tag_end: usize) -> Result<usize, String> {
    let tag = &b[start..tag_end];
    let mut i = tag_end;
    while i + tag.len() <= b.len() {
        if &b[i..i + tag.len()] == tag {
            return Ok(i + tag.len());
        }
        i += 1;
    }
    Err("unterminated dollar-quoted string".into())
}

/// The token ranges of the statements (split on `;` outside parentheses),
/// empty statements left out.
pub(crate) fn split_statements(tokens: &[Token]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut depth, mut from) = (0i32, 0);
    for (i, t) in tokens.iter().enumerate() {
        match t.tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth -= 1,
            Tok::Punct(';') if depth <= 0 => {
                if i > from {
                    out.push(from..i);
                }
                from = i + 1;
            }
            _ => {}
        }
    }
    if tokens.len() > from {
        out.push(from..tokens.len());
    }
    out
}

/// Whether `kw` is a word at parenthesis depth 0.
fn has_top_level_kw(tokens: &[Token], kw: &str) -> bool {
    let mut depth = 0;
    tokens.iter().any(|t| {
        match t.tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth -= 1,
            _ => {}
        }
        depth == 0 && t.is_kw(kw)
    })
}

/// The command tag PostgreSQL reports for a statement, for the captured
/// kinds of statements only.
pub(crate) fn command_tag(tokens: &[Token]) -> Option<String> {
    let first = tokens.first()?;
    let mut rest = tokens[1..].iter().skip_while(|t| {
        ["GLOBAL", "LOCAL", "TEMP", "TEMPORARY", "UNLOGGED", "UNIQUE"].iter().any(|k| t.is_kw(k))
    });
    let object = rest.next()?;
    let tag = if first.is_kw("CREATE") && object.is_kw("TABLE") {
        if has_top_level_kw(tokens, "AS") { "CREATE TABLE AS" } else { "CREATE TABLE" }
    } else if first.is_kw("CREATE") && object.is_kw("INDEX") {
        "CREATE INDEX"
    } else if first.is_kw("ALTER") && object.is_kw("TABLE") {
        "ALTER TABLE"
    } else if first.is_kw("DROP") && object.is_kw("TABLE") {
        "DROP TABLE"
    } else if first.is_kw("DROP") && object.is_kw("INDEX") {
        "DROP INDEX"
    } else if first.is_kw("SELECT") && has_top_level_kw(tokens, "INTO") {
        "SELECT INTO"
    } else {
        return None;
    };
    Some(tag.to_string())
}

/// Reads a dotted name at `i`: its parts and the index after it.
fn dotted_name(tokens: &[Token], mut i: usize) -> (Vec<String>, usize) {
    let mut parts = Vec::new();
    while let Some(name) = tokens.get(i).and_then(Token::ident) {
        parts.push(name);
        i += 1;
        if tokens.get(i).is_some_and(|t| t.is_punct('.')) {
            i += 1;
        } else {
            break;
        }
    }
    (parts, i)
}

fn skip_kws(tokens: &[Token], mut i: usize, kws: &[&str]) -> usize {
    while tokens.get(i).is_some_and(|t| kws.iter().any(|k| t.is_kw(k))) {
        i += 1;
    }
    i
}

/// The (schema, name) of the objects a statement of `tag` names: the table
/// (the table after ON for CREATE INDEX), every name of a DROP.
pub(crate) fn object_names(tokens: &[Token], tag: &str) -> Vec<(Option<String>, String)> {
    let as_pair = |mut parts: Vec<String>| -> Option<(Option<String>, String)> {
        let name = parts.pop()?;
        Some((parts.pop(), name))
    };
    let after = |kw: &str| tokens.iter().position(|t| t.is_kw(kw)).map(|p| p + 1);
    let start = match tag {
        "CREATE TABLE" | "CREATE TABLE AS" | "ALTER TABLE" | "DROP TABLE" => after("TABLE"),
        "DROP INDEX" => after("INDEX"),
        "CREATE INDEX" => {
            let mut depth = 0;
            tokens
                .iter()
                .position(|t| {
                    match t.tok {
                        Tok::Punct('(') => depth += 1,
                        Tok::Punct(')') => depth -= 1,
                        _ => {}
                    }
                    depth == 0 && t.is_kw("ON")
                })
                .map(|p| p + 1)
        }
        "SELECT INTO" => after("INTO"),
        _ => None,
    };
    let Some(mut i) = start else { return Vec::new() };
    i = skip_kws(tokens, i, &["CONCURRENTLY", "IF", "NOT", "EXISTS", "ONLY", "TEMP", "TEMPORARY", "UNLOGGED", "TABLE"]);
    let mut out = Vec::new();
    loop {
        let (parts, next) = dotted_name(tokens, i);
        let Some(pair) = as_pair(parts) else { break };
        out.push(pair);
        i = next;
        if !tag.starts_with("DROP") || !tokens.get(i).is_some_and(|t| t.is_punct(',')) {
            break;
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(sql: &str) -> Vec<Tok> {
        tokenize(sql).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn tokens_respect_quotes_comments_and_dollars() {
        assert_eq!(
            words("a.\"B\"\"c\" -- x;\n/* y /* z */ ; */ 'it''s;' E'\\';' $f$ ; $x$ $f$ $1;"),
            vec![
                Tok::Word("a".into()),
                Tok::Punct('.'),
                Tok::Quoted("B\"c".into()),
                Tok::Literal,
                Tok::Literal,
                Tok::Literal,
                Tok::Punct('$'),
                Tok::Punct(';'),
            ]
        );
        assert!(tokenize("'open").is_err());
        assert!(tokenize("/* open").is_err());
        assert!(tokenize("$a$ open").is_err());
        assert!(tokenize("U&\"d\\0061t\"").is_err());
    }

    #[test]
    fn statements_split_and_tag() {
        let sql = "CREATE TABLE a (x text DEFAULT ';'); insert into a values (1); create unlogged table b as select 1; \
                   ALTER TABLE ONLY s.a ADD c int; drop table if exists a, \"S\".b cascade; CREATE UNIQUE INDEX CONCURRENTLY i ON ONLY t (x);";
        let toks = tokenize(sql).unwrap();
        let stmts = split_statements(&toks);
        let tags: Vec<Option<String>> = stmts.iter().map(|r| command_tag(&toks[r.clone()])).collect();
        assert_eq!(
            tags,
            [Some("CREATE TABLE"), None, Some("CREATE TABLE AS"), Some("ALTER TABLE"), Some("DROP TABLE"), Some("CREATE INDEX")]
                .map(|t| t.map(str::to_string))
        );
        assert_eq!(object_names(&toks[stmts[3].clone()], "ALTER TABLE"), vec![(Some("s".into()), "a".into())]);
        assert_eq!(
            object_names(&toks[stmts[4].clone()], "DROP TABLE"),
            vec![(None, "a".into()), (Some("S".into()), "b".into())]
        );
        assert_eq!(object_names(&toks[stmts[5].clone()], "CREATE INDEX"), vec![(None, "t".into())]);
    }

    fn row(query: &str, tag: &str, ordinal: usize, objects: &str) -> LogRow {
        LogRow {
            query: query.into(),
            command_tag: tag.into(),
            ordinal,
            objects: objects.into(),
            search_path: "\"$user\", public".into(),
            username: "bob".into(),
        }
    }

    #[test]
    fn log_rows_become_one_statement_each() {
        let q = "create table s.a (id int); ALTER TABLE s.a RENAME TO b; create table s.c (id int)";
        let c = change_from_log(&row(q, "CREATE TABLE", 2, r#"[{"schema":"s","name":"c","old_schema":"s","old_name":"c"}]"#))
            .unwrap()
            .unwrap();
        assert_eq!((c.kind, c.statement.as_str(), c.schema.as_str()), (DdlKind::CreateTable, "create table s.c (id int)", "s"));
        let r = change_from_log(&row(q, "ALTER TABLE", 1, r#"[{"schema":"s","name":"b","old_schema":"s","old_name":"a"}]"#))
            .unwrap()
            .unwrap();
        assert_eq!(r.kind, DdlKind::RenameTable);
        assert_eq!(r.tables, vec![TableId::new("s", "a"), TableId::new("s", "b")]);
        assert_eq!(r.statement, "ALTER TABLE s.a RENAME TO b");
        // A table created by a function: the statement cannot be isolated.
        let f = change_from_log(&row("SELECT make_it()", "CREATE TABLE", 1, r#"[{"schema":"s","name":"x"}]"#)).unwrap().unwrap();
        assert_eq!((f.kind, f.statement.as_str()), (DdlKind::Other, "SELECT make_it()"));
        // The n-th statement names another table: not trusted.
        let w = change_from_log(&row(q, "CREATE TABLE", 1, r#"[{"schema":"s","name":"zz"}]"#)).unwrap().unwrap();
        assert_eq!(w.kind, DdlKind::Other);
        assert!(change_from_log(&row(q, "CREATE TABLE", 1, "[]")).unwrap().is_none());
        assert_eq!(first_search_path_entry("\"$user\", public", "bob"), "bob");
        assert_eq!(first_search_path_entry("Sales, public", "bob"), "sales");
    }
}
