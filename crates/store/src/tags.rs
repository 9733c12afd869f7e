//! Tags on DTS instances (TagResources and friends).

use crate::{Store, StoreError};
use rusqlite::params;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRow {
    pub instance_id: String,
    pub key: String,
    pub value: String,
}

impl Store {
    /// Sets tags on instances in one transaction (same key overwrites).
    pub fn put_tags(&self, owner: &str, rows: &[TagRow]) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        for row in rows {
            tx.execute(
                "INSERT INTO tags (owner, instance_id, tag_key, tag_value) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(instance_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value",
                params![owner, row.instance_id, row.key, row.value],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Removes the given keys (or every tag when `keys` is `None`) from instances.
    pub fn remove_tags(&self, owner: &str, instance_ids: &[String], keys: Option<&[String]>) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        for id in instance_ids {
            match keys {
                Some(keys) => {
                    for key in keys {
                        tx.execute(
                            "DELETE FROM tags WHERE owner = ?1 AND instance_id = ?2 AND tag_key = ?3",
                            params![owner, id, key],
                        )?;
                    }
                }
                None => {
                    tx.execute("DELETE FROM tags WHERE owner = ?1 AND instance_id = ?2", params![owner, id])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every tag of the owner, ordered by instance then key.
    pub fn tags_of_owner(&self, owner: &str) -> Result<Vec<TagRow>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT instance_id, tag_key, tag_value FROM tags WHERE owner = ?1 ORDER BY instance_id, tag_key",
        )?;
        let rows = stmt.query_map([owner], |r| Ok(TagRow { instance_id: r.get(0)?, key: r.get(1)?, value: r.get(2)? }))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Tags of one instance, ordered by key.
    pub fn tags_of_instance(&self, owner: &str, instance_id: &str) -> Result<Vec<TagRow>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT instance_id, tag_key, tag_value FROM tags WHERE owner = ?1 AND instance_id = ?2 ORDER BY tag_key",
        )?;
        let rows = stmt.query_map(params![owner, instance_id], |r| {
            Ok(TagRow { instance_id: r.get(0)?, key: r.get(1)?, value: r.get(2)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
