//! Consumer groups of change-tracking (SUBSCRIBE) tasks: who may consume a
//! subscription, with which credentials, and how far each group has read.
//!
//! The control plane creates, lists, changes and deletes groups
//! (CreateConsumerChannel and friends); the Kafka endpoint logs consumers in
//! with [`Store::verify_consumer_password`] (SASL PLAIN) and reports what they
//! consume with [`Store::record_consumption`], [`Store::touch_consumer`] and
//! [`Store::consumer_left`]. DescribeConsumerChannel derives
//! `ConsumptionCheckpoint`, `MessageDelay` and `UnconsumedData` from what those
//! calls stored.
//!
//! Passwords are never stored, only `pbkdf2-sha256$<iterations>$<salt>$<hash>`
//! (PBKDF2-HMAC-SHA256, a random 16-byte salt, standard base64 without
//! padding), and they are compared in constant time.

use crate::{Store, StoreError};
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rusqlite::{params, OptionalExtension, Row, Transaction};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// PBKDF2 iterations of a newly set password. Stored with each hash, so it can
/// be raised later without invalidating existing passwords.
pub const PASSWORD_ITERATIONS: u32 = 100_000;
/// A consumer counts as connected while the endpoint has reported it within
/// this window (longer than the session timeouts of the usual Kafka clients).
pub const CLIENT_TIMEOUT_MS: i64 = 60_000;

const SCHEME: &str = "pbkdf2-sha256";
const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;
/// A stored hash asking for more work than this is treated as corrupt.
const MAX_ITERATIONS: u32 = 10_000_000;

type HmacSha256 = Hmac<Sha256>;

/// The client that last consumed through a group, as the Kafka endpoint saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumptionClient {
    /// The Kafka `client.id` of the consumer.
    pub client_id: String,
    /// The consumer's address (`ip:port`).
    pub address: String,
}

/// A consumer group as stored, without its password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroup {
    /// `ConsumerGroupID`: `dts` + 15 lowercase letters and digits.
    pub group_id: String,
    /// The SUBSCRIBE task the group consumes.
    pub job_id: String,
    /// The AccessKey (tenant) owning the task.
    pub owner: String,
    pub name: String,
    pub user_name: String,
    pub create_ms: i64,
    /// The committed offset: the next offset the group will consume.
    pub committed_offset: Option<i64>,
    /// Record time (Unix ms) of the last consumed record: `ConsumptionCheckpoint`.
    pub checkpoint_ms: Option<i64>,
    /// The log's high watermark when the endpoint last reported the group.
    pub log_end_offset: Option<i64>,
    /// The client that last consumed, if any ever did.
    pub client: Option<ConsumptionClient>,
    /// When the endpoint last reported that client (Unix ms).
    pub client_seen_ms: Option<i64>,
    /// Whether the client was still a member of the group at that report.
    pub connected: bool,
}

impl ConsumerGroup {
    /// Whether a client consumes through the group at `now_ms`: the endpoint
    /// reported one within [`CLIENT_TIMEOUT_MS`] and it has not left.
    pub fn is_connected(&self, now_ms: i64) -> bool {
        self.connected && self.client_seen_ms.is_some_and(|seen| now_ms - seen <= CLIENT_TIMEOUT_MS)
    }

    /// Records the group has not consumed yet, as of the endpoint's last report;
    /// `None` while no client is connected.
    pub fn unconsumed(&self, now_ms: i64) -> Option<i64> {
        if !self.is_connected(now_ms) {
            return None;
        }
        let end = self.log_end_offset.unwrap_or(0);
        Some((end - self.committed_offset.unwrap_or(0)).max(0))
    }
}

/// A group to create; the password is hashed before it reaches SQLite.
#[derive(Debug, Clone)]
pub struct NewConsumerGroup<'a> {
    pub group_id: &'a str,
    pub job_id: &'a str,
    pub owner: &'a str,
    pub name: &'a str,
    pub user_name: &'a str,
    pub password: &'a str,
    pub create_ms: i64,
}

/// What ModifyConsumerChannel / ModifyConsumerGroupPassword change; `None`
/// keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct ConsumerGroupUpdate {
    pub name: Option<String>,
    pub user_name: Option<String>,
    pub password: Option<String>,
}

/// Outcome of a change to a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupChange {
    Done,
    /// No such group in that task (or the task is another tenant's).
    NotFound,
    /// Another group of the task already has that user name.
    UserNameTaken,
}

/// Where consumption of a task starts (ModifyConsumptionTimestamp).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumptionStart {
    /// The requested record time (Unix ms): consume records from this time on.
    pub timestamp_ms: i64,
    /// When it was requested (Unix ms). A group whose last commit is older
    /// should seek to `timestamp_ms` instead of resuming at its offset.
    pub requested_ms: i64,
}

fn random_salt() -> Result<[u8; SALT_LEN], StoreError> {
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).map_err(|e| StoreError::Io(format!("no randomness available: {e}")))?;
    Ok(salt)
}

/// PBKDF2-HMAC-SHA256 (RFC 8018), one 32-byte block.
fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32) -> [u8; HASH_LEN] {
    // HMAC takes a key of any length, so this cannot fail; the fallback keeps
    // the function total without a panic path.
    let Ok(prf) = HmacSha256::new_from_slice(password) else { return [0u8; HASH_LEN] };
    let mut first = prf.clone();
    first.update(salt);
    first.update(&1u32.to_be_bytes());
    let mut u: [u8; HASH_LEN] = first.finalize().into_bytes().into();
    let mut out = u;
    for _ in 1..iterations {
        let mut next = prf.clone();
        next.update(&u);
        u = next.finalize().into_bytes().into();
        for (o, b) in out.iter_mut().zip(u.iter()) {
            *o ^= b;
        }
    }
    out
}

/// `pbkdf2-sha256$iterations$salt_b64$hash_b64` of a password.
pub(crate) fn hash_password(password: &str) -> Result<String, StoreError> {
    let salt = random_salt()?;
    let hash = pbkdf2_sha256(password.as_bytes(), &salt, PASSWORD_ITERATIONS);
    Ok(format!("{SCHEME}${PASSWORD_ITERATIONS}${}${}", STANDARD_NO_PAD.encode(salt), STANDARD_NO_PAD.encode(hash)))
}

/// Equal-length byte strings compared without an early exit.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Whether `password` matches a stored hash. A malformed hash is corrupt.
pub(crate) fn password_matches(stored: &str, password: &str) -> Result<bool, StoreError> {
    let corrupt = || StoreError::Corrupt("consumer group password hash".into());
    let mut parts = stored.split('$');
    let (Some(SCHEME), Some(iterations), Some(salt), Some(hash), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(corrupt());
    };
    let iterations: u32 = iterations.parse().map_err(|_| corrupt())?;
    if iterations == 0 || iterations > MAX_ITERATIONS {
        return Err(corrupt());
    }
    let salt = STANDARD_NO_PAD.decode(salt).map_err(|_| corrupt())?;
    let hash = STANDARD_NO_PAD.decode(hash).map_err(|_| corrupt())?;
    let derived = pbkdf2_sha256(password.as_bytes(), &salt, iterations);
    Ok(constant_time_eq(&derived, &hash))
}

const COLUMNS: &str = "group_id, job_id, owner, name, user_name, create_ms, committed_offset, checkpoint_ms,
                       log_end_offset, client, client_seen_ms, connected";

fn read_group(r: &Row<'_>) -> rusqlite::Result<ConsumerGroup> {
    let client: Option<String> = r.get(9)?;
    Ok(ConsumerGroup {
        group_id: r.get(0)?,
        job_id: r.get(1)?,
        owner: r.get(2)?,
        name: r.get(3)?,
        user_name: r.get(4)?,
        create_ms: r.get(5)?,
        committed_offset: r.get(6)?,
        checkpoint_ms: r.get(7)?,
        log_end_offset: r.get(8)?,
        // A client record that does not parse is only display data: drop it.
        client: client.and_then(|c| serde_json::from_str(&c).ok()),
        client_seen_ms: r.get(10)?,
        connected: r.get::<_, i64>(11)? != 0,
    })
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

/// Deletes every group and the consumption start of a job, inside the job's
/// deletion transaction.
pub(crate) fn delete_of_job(tx: &Transaction<'_>, job_id: &str) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM consumer_groups WHERE job_id = ?1", [job_id])?;
    tx.execute("DELETE FROM consumption_starts WHERE job_id = ?1", [job_id])?;
    Ok(())
}

impl Store {
    /// Creates a group. `Ok(false)`: another group of the task has that user name.
    pub fn insert_consumer_group(&self, g: &NewConsumerGroup<'_>) -> Result<bool, StoreError> {
        // Hashing is deliberately slow: done before taking the store's lock.
        let hash = hash_password(g.password)?;
        let result = self.lock().execute(
            "INSERT INTO consumer_groups (group_id, job_id, owner, name, user_name, password_hash, create_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![g.group_id, g.job_id, g.owner, g.name, g.user_name, hash, g.create_ms],
        );
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) && !self.consumer_group_exists(g.group_id)? => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn consumer_group_exists(&self, group_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .lock()
            .query_row("SELECT 1 FROM consumer_groups WHERE group_id = ?1", [group_id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// One page of a task's groups, oldest first, and how many it has.
    pub fn consumer_groups(
        &self,
        owner: Option<&str>,
        job_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<ConsumerGroup>), StoreError> {
        let conn = self.lock();
        let total: i64 = conn.query_row(
            "SELECT COUNT(*) FROM consumer_groups WHERE job_id = ?1 AND (?2 IS NULL OR owner = ?2)",
            params![job_id, owner],
            |r| r.get(0),
        )?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM consumer_groups WHERE job_id = ?1 AND (?2 IS NULL OR owner = ?2)
             ORDER BY create_ms, group_id LIMIT ?3 OFFSET ?4"
        ))?;
        let limit = limit.min(i64::MAX as u64) as i64;
        let offset = offset.min(i64::MAX as u64) as i64;
        let groups = stmt
            .query_map(params![job_id, owner, limit, offset], read_group)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok((total.max(0) as u64, groups))
    }

    /// A group of a task; `owner` restricts it to one tenant.
    pub fn consumer_group(&self, owner: Option<&str>, job_id: &str, group_id: &str) -> Result<Option<ConsumerGroup>, StoreError> {
        Ok(self
            .lock()
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM consumer_groups
                     WHERE group_id = ?1 AND job_id = ?2 AND (?3 IS NULL OR owner = ?3)"
                ),
                params![group_id, job_id, owner],
                read_group,
            )
            .optional()?)
    }

    /// A group by its ID alone, whatever its task (the Kafka endpoint: a SASL
    /// user name names the group, `<user>-<ConsumerGroupID>` as DTS does).
    pub fn consumer_group_by_id(&self, group_id: &str) -> Result<Option<ConsumerGroup>, StoreError> {
        Ok(self
            .lock()
            .query_row(&format!("SELECT {COLUMNS} FROM consumer_groups WHERE group_id = ?1"), [group_id], read_group)
            .optional()?)
    }

    /// Changes a group's name, user name and/or password in one statement.
    pub fn modify_consumer_group(
        &self,
        owner: Option<&str>,
        job_id: &str,
        group_id: &str,
        change: &ConsumerGroupUpdate,
    ) -> Result<GroupChange, StoreError> {
        let hash = change.password.as_deref().map(hash_password).transpose()?;
        let result = self.lock().execute(
            "UPDATE consumer_groups SET name = COALESCE(?4, name), user_name = COALESCE(?5, user_name),
                 password_hash = COALESCE(?6, password_hash)
             WHERE group_id = ?1 AND job_id = ?2 AND (?3 IS NULL OR owner = ?3)",
            params![group_id, job_id, owner, change.name, change.user_name, hash],
        );
        match result {
            Ok(0) => Ok(GroupChange::NotFound),
            Ok(_) => Ok(GroupChange::Done),
            Err(e) if is_unique_violation(&e) => Ok(GroupChange::UserNameTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a group; `false` when the task has no such group.
    pub fn delete_consumer_group(&self, owner: Option<&str>, job_id: &str, group_id: &str) -> Result<bool, StoreError> {
        Ok(self.lock().execute(
            "DELETE FROM consumer_groups WHERE group_id = ?1 AND job_id = ?2 AND (?3 IS NULL OR owner = ?3)",
            params![group_id, job_id, owner],
        )? > 0)
    }

    /// Checks a consumer's credentials (SASL PLAIN on the Kafka endpoint, the
    /// current password of ModifyConsumerGroupPassword): the group of `job_id`
    /// whose user name is `user`, if `password` is its password.
    ///
    /// An unknown user costs the same hashing work as a wrong password, so the
    /// answer time does not tell which user names exist.
    pub fn verify_consumer_password(&self, job_id: &str, user: &str, password: &str) -> Result<Option<ConsumerGroup>, StoreError> {
        let found: Option<(ConsumerGroup, String)> = self
            .lock()
            .query_row(
                &format!("SELECT {COLUMNS}, password_hash FROM consumer_groups WHERE job_id = ?1 AND user_name = ?2"),
                params![job_id, user],
                |r| Ok((read_group(r)?, r.get(12)?)),
            )
            .optional()?;
        // The lock is released: hashing does not hold up other store calls.
        match found {
            Some((group, hash)) => Ok(password_matches(&hash, password)?.then_some(group)),
            None => {
                std::hint::black_box(pbkdf2_sha256(password.as_bytes(), &[0u8; SALT_LEN], PASSWORD_ITERATIONS));
                Ok(None)
            }
        }
    }

    /// The Kafka endpoint reports a commit: `offset` is the group's committed
    /// offset (the next it will read), `record_ts_ms` the source time of the
    /// record before it (the consumption checkpoint), `log_end_offset` the
    /// log's high watermark now, `client` who committed. The group counts as
    /// connected from now on (see [`ConsumerGroup::is_connected`]). `false`:
    /// the group no longer exists.
    pub fn record_consumption(
        &self,
        group_id: &str,
        offset: i64,
        record_ts_ms: Option<i64>,
        log_end_offset: i64,
        client: &ConsumptionClient,
    ) -> Result<bool, StoreError> {
        let client = serde_json::to_string(client)?;
        let now = opendts_core::timefmt::now_millis();
        Ok(self.lock().execute(
            "UPDATE consumer_groups SET committed_offset = ?2, checkpoint_ms = COALESCE(?3, checkpoint_ms),
                 log_end_offset = ?4, client = ?5, client_seen_ms = ?6, connected = 1
             WHERE group_id = ?1",
            params![group_id, offset, record_ts_ms, log_end_offset, client, now],
        )? > 0)
    }

    /// The Kafka endpoint reports a live consumer without a commit (JoinGroup,
    /// Heartbeat, Fetch): keeps the group connected and its unconsumed count
    /// current. Call it at least every [`CLIENT_TIMEOUT_MS`] while the
    /// consumer is a member. `false`: the group no longer exists.
    pub fn touch_consumer(&self, group_id: &str, log_end_offset: i64, client: &ConsumptionClient) -> Result<bool, StoreError> {
        let client = serde_json::to_string(client)?;
        let now = opendts_core::timefmt::now_millis();
        Ok(self.lock().execute(
            "UPDATE consumer_groups SET log_end_offset = ?2, client = ?3, client_seen_ms = ?4, connected = 1
             WHERE group_id = ?1",
            params![group_id, log_end_offset, client, now],
        )? > 0)
    }

    /// The group's last consumer left (LeaveGroup, session expiry, closed
    /// connection): DescribeConsumerChannel shows -1 again.
    pub fn consumer_left(&self, group_id: &str) -> Result<bool, StoreError> {
        Ok(self.lock().execute("UPDATE consumer_groups SET connected = 0 WHERE group_id = ?1", [group_id])? > 0)
    }

    /// Forgets what a task's groups consumed and where consumption starts:
    /// its change log was discarded (ResetDtsJob), so offsets into it mean
    /// nothing any more. The groups and their credentials stay.
    pub fn reset_consumption(&self, job_id: &str) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE consumer_groups SET committed_offset = NULL, checkpoint_ms = NULL, log_end_offset = NULL
             WHERE job_id = ?1",
            [job_id],
        )?;
        tx.execute("DELETE FROM consumption_starts WHERE job_id = ?1", [job_id])?;
        tx.commit()?;
        Ok(())
    }

    /// Sets where consumption of a task starts (ModifyConsumptionTimestamp).
    pub fn set_consumption_start(&self, owner: &str, job_id: &str, start: ConsumptionStart) -> Result<(), StoreError> {
        self.lock().execute(
            "INSERT INTO consumption_starts (job_id, owner, start_ms, requested_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(job_id) DO UPDATE SET start_ms = excluded.start_ms, requested_ms = excluded.requested_ms",
            params![job_id, owner, start.timestamp_ms, start.requested_ms],
        )?;
        Ok(())
    }

    /// The consumption start requested for a task, if any.
    pub fn consumption_start(&self, job_id: &str) -> Result<Option<ConsumptionStart>, StoreError> {
        Ok(self
            .lock()
            .query_row("SELECT start_ms, requested_ms FROM consumption_starts WHERE job_id = ?1", [job_id], |r| {
                Ok(ConsumptionStart { timestamp_ms: r.get(0)?, requested_ms: r.get(1)? })
            })
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opendts_core::job::Job;
    use opendts_core::status::JobType;

    fn temp_store(tag: &str) -> (Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("opendts-cg-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        (Store::open(&dir).unwrap(), dir)
    }

    fn group<'a>(id: &'a str, job: &'a str, user: &'a str, password: &'a str) -> NewConsumerGroup<'a> {
        NewConsumerGroup { group_id: id, job_id: job, owner: "ak", name: "orders", user_name: user, password, create_ms: 1 }
    }

    #[test]
    fn pbkdf2_matches_the_published_vectors() {
        let hex = |b: [u8; 32]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(hex(pbkdf2_sha256(b"password", b"salt", 1)), "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b");
        assert_eq!(hex(pbkdf2_sha256(b"password", b"salt", 2)), "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43");
        assert_eq!(hex(pbkdf2_sha256(b"password", b"salt", 4096)), "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a");
        assert_eq!(hex(pbkdf2_sha256(b"passwd", b"salt", 1)), "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc");
    }

    #[test]
    fn hashes_are_salted_and_in_the_documented_form() {
        let a = hash_password("Test123456").unwrap();
        let b = hash_password("Test123456").unwrap();
        assert_ne!(a, b, "a random salt per hash");
        let parts: Vec<&str> = a.split('$').collect();
        assert_eq!(parts[0], "pbkdf2-sha256");
        assert!(parts[1].parse::<u32>().unwrap() >= 100_000);
        assert_eq!(STANDARD_NO_PAD.decode(parts[2]).unwrap().len(), 16);
        assert_eq!(STANDARD_NO_PAD.decode(parts[3]).unwrap().len(), 32);
        assert!(password_matches(&a, "Test123456").unwrap());
        assert!(!password_matches(&a, "Test123457").unwrap());
        assert!(password_matches("pbkdf2-sha256$0$AAAA$AAAA", "x").is_err());
        assert!(password_matches("md5$1$AAAA$AAAA", "x").is_err());
        assert!(constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd") && !constant_time_eq(b"ab", b"abc"));
    }

    #[test]
    fn groups_are_created_checked_changed_and_deleted() {
        let (store, dir) = temp_store("crud");
        assert!(store.insert_consumer_group(&group("dtsg1", "j1", "dtstest", "Test123456")).unwrap());
        assert!(!store.insert_consumer_group(&group("dtsg2", "j1", "dtstest", "Other12345")).unwrap(), "user name unique per job");
        assert!(store.insert_consumer_group(&group("dtsg3", "j2", "dtstest", "Other12345")).unwrap(), "another job may reuse it");
        assert!(store.insert_consumer_group(&group("dtsg1", "j2", "other", "Other12345")).is_err(), "group IDs are unique");

        let g = store.verify_consumer_password("j1", "dtstest", "Test123456").unwrap().unwrap();
        assert_eq!((g.group_id.as_str(), g.name.as_str()), ("dtsg1", "orders"));
        assert!(store.verify_consumer_password("j1", "dtstest", "Other12345").unwrap().is_none());
        assert!(store.verify_consumer_password("j2", "nobody", "Test123456").unwrap().is_none());
        assert!(store.consumer_group(Some("bob"), "j1", "dtsg1").unwrap().is_none(), "tenancy");
        assert!(store.consumer_group(Some("ak"), "j2", "dtsg1").unwrap().is_none(), "a group belongs to one job");

        let rename = ConsumerGroupUpdate { name: Some("renamed".into()), ..Default::default() };
        assert_eq!(store.modify_consumer_group(Some("ak"), "j1", "dtsg1", &rename).unwrap(), GroupChange::Done);
        assert_eq!(store.modify_consumer_group(Some("bob"), "j1", "dtsg1", &rename).unwrap(), GroupChange::NotFound);
        store.insert_consumer_group(&group("dtsg4", "j1", "second", "Test123456")).unwrap();
        let clash = ConsumerGroupUpdate { user_name: Some("dtstest".into()), ..Default::default() };
        assert_eq!(store.modify_consumer_group(Some("ak"), "j1", "dtsg4", &clash).unwrap(), GroupChange::UserNameTaken);
        let pw = ConsumerGroupUpdate { password: Some("NewPass999".into()), ..Default::default() };
        assert_eq!(store.modify_consumer_group(None, "j1", "dtsg1", &pw).unwrap(), GroupChange::Done);
        assert!(store.verify_consumer_password("j1", "dtstest", "Test123456").unwrap().is_none());
        let g = store.verify_consumer_password("j1", "dtstest", "NewPass999").unwrap().unwrap();
        assert_eq!(g.name, "renamed");

        let (total, page) = store.consumer_groups(Some("ak"), "j1", 0, 1).unwrap();
        assert_eq!((total, page.len(), page[0].group_id.as_str()), (2, 1, "dtsg1"));
        let (_, rest) = store.consumer_groups(Some("ak"), "j1", 1, 10).unwrap();
        assert_eq!(rest[0].group_id, "dtsg4");
        assert_eq!(store.consumer_groups(Some("bob"), "j1", 0, 10).unwrap().0, 0);

        assert!(!store.delete_consumer_group(Some("ak"), "j2", "dtsg1").unwrap());
        assert!(store.delete_consumer_group(Some("ak"), "j1", "dtsg4").unwrap());
        assert!(store.consumer_group_by_id("dtsg4").unwrap().is_none());
        drop(store);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("NewPass999") && !text.contains("Test123456"), "no password in clear on disk");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn consumption_is_recorded_and_connection_derived() {
        let (store, dir) = temp_store("consume");
        store.insert_consumer_group(&group("dtsg1", "j1", "u", "Test123456")).unwrap();
        let g = store.consumer_group(None, "j1", "dtsg1").unwrap().unwrap();
        let now = opendts_core::timefmt::now_millis();
        assert!(!g.is_connected(now));
        assert_eq!(g.unconsumed(now), None);
        let client = ConsumptionClient { client_id: "kafka-python".into(), address: "127.0.0.1:5555".into() };
        assert!(store.record_consumption("dtsg1", 7, Some(1_000), 10, &client).unwrap());
        let g = store.consumer_group(None, "j1", "dtsg1").unwrap().unwrap();
        let now = opendts_core::timefmt::now_millis();
        assert_eq!((g.committed_offset, g.checkpoint_ms, g.client.as_ref()), (Some(7), Some(1_000), Some(&client)));
        assert_eq!(g.unconsumed(now), Some(3));
        assert!(!g.is_connected(now + CLIENT_TIMEOUT_MS + 1), "a silent client times out");
        assert!(store.touch_consumer("dtsg1", 12, &client).unwrap());
        assert_eq!(store.consumer_group(None, "j1", "dtsg1").unwrap().unwrap().unconsumed(now), Some(5));
        assert!(store.consumer_left("dtsg1").unwrap());
        let g = store.consumer_group(None, "j1", "dtsg1").unwrap().unwrap();
        assert_eq!(g.unconsumed(now), None);
        assert_eq!(g.checkpoint_ms, Some(1_000), "the checkpoint outlives the connection");
        assert!(!store.record_consumption("nope", 1, None, 1, &client).unwrap());

        assert_eq!(store.consumption_start("j1").unwrap(), None);
        store.set_consumption_start("ak", "j1", ConsumptionStart { timestamp_ms: 5, requested_ms: 6 }).unwrap();
        store.set_consumption_start("ak", "j1", ConsumptionStart { timestamp_ms: 7, requested_ms: 8 }).unwrap();
        assert_eq!(store.consumption_start("j1").unwrap(), Some(ConsumptionStart { timestamp_ms: 7, requested_ms: 8 }));

        // ResetDtsJob: the log is gone, and with it every position in it.
        store.reset_consumption("j1").unwrap();
        let g = store.consumer_group(None, "j1", "dtsg1").unwrap().unwrap();
        assert_eq!((g.committed_offset, g.checkpoint_ms, g.log_end_offset), (None, None, None));
        assert_eq!(store.consumption_start("j1").unwrap(), None);
        assert_eq!(g.user_name, "u", "the group itself stays");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn deleting_the_job_deletes_its_groups() {
        let (store, dir) = temp_store("deljob");
        store.insert_job(&Job::new("j1".into(), "ak".into(), "cn-hangzhou".into(), JobType::Subscribe, 1)).unwrap();
        store.insert_consumer_group(&group("dtsg1", "j1", "u", "Test123456")).unwrap();
        store.insert_consumer_group(&group("dtsg2", "j2", "u", "Test123456")).unwrap();
        store.set_consumption_start("ak", "j1", ConsumptionStart { timestamp_ms: 5, requested_ms: 6 }).unwrap();
        assert!(store.delete_job(Some("ak"), "dtsj1").unwrap());
        assert!(store.consumer_group_by_id("dtsg1").unwrap().is_none());
        assert!(store.consumer_group_by_id("dtsg2").unwrap().is_some());
        assert_eq!(store.consumption_start("j1").unwrap(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_existing_data_dir_gains_the_tables() {
        let dir = std::env::temp_dir().join(format!("opendts-cg-upgrade-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        {
            // A data dir from before consumer groups: only the older tables.
            let conn = rusqlite::Connection::open(dir.join("opendts.db")).unwrap();
            conn.execute_batch("CREATE TABLE job_state (job_id TEXT NOT NULL, state_key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (job_id, state_key));
                                INSERT INTO job_state VALUES ('j', 'plan', '1');").unwrap();
        }
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.job_state("j", "plan").unwrap().as_deref(), Some("1"));
        assert!(store.insert_consumer_group(&group("dtsg1", "j1", "u", "Test123456")).unwrap());
        drop(store);
        let store = Store::open(&dir).unwrap();
        assert!(store.consumer_group_by_id("dtsg1").unwrap().is_some(), "reopening keeps the groups");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
