//! Table layout. Columns that queries filter or sort on are real columns;
//! the rest of a job lives in a JSON document (`doc`) that never holds a secret.

use rusqlite::Connection;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS access_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    secret_enc  BLOB NOT NULL,
    created_ms  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    job_id        TEXT PRIMARY KEY,
    instance_id   TEXT NOT NULL UNIQUE,
    owner         TEXT NOT NULL,
    region        TEXT NOT NULL,
    job_type      TEXT NOT NULL,
    status        TEXT NOT NULL,
    name          TEXT NOT NULL,
    create_ms     INTEGER NOT NULL,
    finish_ms     INTEGER,
    src_instance  TEXT NOT NULL DEFAULT '',
    dest_instance TEXT NOT NULL DEFAULT '',
    doc           TEXT NOT NULL,
    src_password  BLOB,
    dest_password BLOB
);
-- Listings filter on (owner, region, job_type), optionally status, and sort
-- by creation or finish time; job_id breaks ties, so each index covers the
-- page query entirely.
CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs(owner, region, job_type, create_ms, job_id);
CREATE INDEX IF NOT EXISTS jobs_by_finished ON jobs(owner, region, job_type, finish_ms, job_id);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs(owner, region, job_type, status, create_ms, job_id);
CREATE INDEX IF NOT EXISTS jobs_by_any_status ON jobs(status);
CREATE TABLE IF NOT EXISTS job_state (
    job_id      TEXT NOT NULL,
    state_key   TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (job_id, state_key)
);
CREATE TABLE IF NOT EXISTS tags (
    owner       TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    tag_key     TEXT NOT NULL,
    tag_value   TEXT NOT NULL,
    PRIMARY KEY (instance_id, tag_key)
);
CREATE INDEX IF NOT EXISTS tags_by_owner ON tags(owner, tag_key, tag_value);
-- Consumer groups of change-tracking tasks (consumer_groups.rs). The password
-- is only ever stored as a PBKDF2 hash; a user name is unique within its task.
CREATE TABLE IF NOT EXISTS consumer_groups (
    group_id         TEXT PRIMARY KEY,
    job_id           TEXT NOT NULL,
    owner            TEXT NOT NULL,
    name             TEXT NOT NULL,
    user_name        TEXT NOT NULL,
    password_hash    TEXT NOT NULL,
    create_ms        INTEGER NOT NULL,
    committed_offset INTEGER,
    checkpoint_ms    INTEGER,
    log_end_offset   INTEGER,
    client           TEXT,
    client_seen_ms   INTEGER,
    connected        INTEGER NOT NULL DEFAULT 0,
    UNIQUE (job_id, user_name)
);
CREATE INDEX IF NOT EXISTS consumer_groups_by_job ON consumer_groups(job_id, create_ms, group_id);
-- Where consumption of a task starts (ModifyConsumptionTimestamp).
CREATE TABLE IF NOT EXISTS consumption_starts (
    job_id        TEXT PRIMARY KEY,
    owner         TEXT NOT NULL,
    start_ms      INTEGER NOT NULL,
    requested_ms  INTEGER NOT NULL
);
";

pub fn prepare(conn: &Connection) -> rusqlite::Result<()> {
    // WAL lets the CLI write AccessKeys while the server reads; NORMAL sync is
    // durable across process crashes (the WAL is fsynced at checkpoints).
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(SCHEMA)?;
    // Lets the query planner use fresh statistics (cheap when nothing changed).
    conn.execute_batch("PRAGMA optimize=0x10002;")
}
