//! AccessKeys: each one is a tenant of the control plane.

use crate::{Store, StoreError};
use opendts_core::secret::Secret;
use rusqlite::{params, OptionalExtension};

/// An AccessKey as listed (the secret is only ever returned by `secret_of`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub id: String,
    pub name: String,
    pub created_ms: i64,
}

fn context(id: &str) -> String {
    format!("accesskey:{id}")
}

impl Store {
    pub fn insert_access_key(&self, key: &AccessKey, secret: &Secret) -> Result<(), StoreError> {
        let sealed = self.secrets.seal(&context(&key.id), secret.expose())?;
        self.lock().execute(
            "INSERT INTO access_keys (id, name, secret_enc, created_ms) VALUES (?1, ?2, ?3, ?4)",
            params![key.id, key.name, sealed, key.created_ms],
        )?;
        Ok(())
    }

    /// The secret of an AccessKey, or `None` when the key does not exist.
    pub fn secret_of(&self, id: &str) -> Result<Option<Secret>, StoreError> {
        let sealed: Option<Vec<u8>> = self
            .lock()
            .query_row("SELECT secret_enc FROM access_keys WHERE id = ?1", [id], |r| r.get(0))
            .optional()?;
        match sealed {
            Some(s) => Ok(Some(Secret::new(self.secrets.open(&context(id), &s)?))),
            None => Ok(None),
        }
    }

    pub fn list_access_keys(&self) -> Result<Vec<AccessKey>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare("SELECT id, name, created_ms FROM access_keys ORDER BY created_ms, id")?;
        let rows = stmt.query_map([], |r| Ok(AccessKey { id: r.get(0)?, name: r.get(1)?, created_ms: r.get(2)? }))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes an AccessKey. Its jobs stay (and keep running) but nobody can
    /// reach them through the API any more.
    pub fn delete_access_key(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.lock().execute("DELETE FROM access_keys WHERE id = ?1", [id])? > 0)
    }
}
