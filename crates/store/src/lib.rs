//! The metadata store of OpenDTS: one SQLite file in the data directory.
//!
//! SQLite was chosen over a key-value store because the control plane needs
//! relational queries (DescribeDtsJobs filters, sorts and pages thousands of
//! jobs), ACID transactions for every state change, and a single file that a
//! second process (`opendts accesskey create`) can open while the server runs.
//!
//! Secrets (AccessKey secrets, database passwords) never reach SQLite in clear:
//! [`crypto::SecretBox`] seals them with a key kept in the data directory.

mod access_keys;
mod consumer_groups;
pub mod crypto;
mod error;
mod job_state;
mod jobs;
mod schema;
mod tags;

pub use access_keys::AccessKey;
pub use consumer_groups::{
    ConsumerGroup, ConsumerGroupUpdate, ConsumptionClient, ConsumptionStart, GroupChange, NewConsumerGroup,
    CLIENT_TIMEOUT_MS, PASSWORD_ITERATIONS,
};
pub use error::StoreError;
pub use jobs::{JobOrder, JobQuery, JobPage};
pub use tags::TagRow;

use crypto::SecretBox;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// File names inside the data directory.
const DB_FILE: &str = "opendts.db";
const KEY_FILE: &str = "master.key";

/// Handle on the store. Cheap to share behind an `Arc`; every call takes a
/// short lock on the one connection (SQLite serialises writers anyway).
pub struct Store {
    conn: Mutex<Connection>,
    secrets: SecretBox,
    dir: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::Io(format!("cannot create data directory {}: {e}", data_dir.display())))?;
        let secrets = SecretBox::load_or_create(&data_dir.join(KEY_FILE))?;
        let conn = Connection::open(data_dir.join(DB_FILE))?;
        schema::prepare(&conn)?;
        Ok(Store { conn: Mutex::new(conn), secrets, dir: data_dir.to_path_buf() })
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (the
        // transaction rolls back), so a poisoned lock is safe to reuse.
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
