//! Working state of a job's engine (full-load plan, start position of the
//! incremental phase), kept apart from the job record the API shows.

use crate::{Store, StoreError};
use rusqlite::{params, OptionalExtension};

impl Store {
    pub fn put_job_state(&self, job_id: &str, key: &str, value: &str) -> Result<(), StoreError> {
        self.lock().execute(
            "INSERT INTO job_state (job_id, state_key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT(job_id, state_key) DO UPDATE SET value = excluded.value",
            params![job_id, key, value],
        )?;
        Ok(())
    }

    pub fn job_state(&self, job_id: &str, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .lock()
            .query_row("SELECT value FROM job_state WHERE job_id = ?1 AND state_key = ?2", params![job_id, key], |r| r.get(0))
            .optional()?)
    }

    /// Forgets all working state of a job (reset, reconfiguration, deletion).
    pub fn clear_job_state(&self, job_id: &str) -> Result<(), StoreError> {
        self.lock().execute("DELETE FROM job_state WHERE job_id = ?1", [job_id])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::Store;

    #[test]
    fn state_is_kept_per_job_and_key_and_can_be_cleared() {
        let dir = std::env::temp_dir().join(format!("opendts-jobstate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir).unwrap();
        store.put_job_state("j", "plan", "1").unwrap();
        store.put_job_state("j", "plan", "2").unwrap();
        store.put_job_state("k", "plan", "3").unwrap();
        assert_eq!(store.job_state("j", "plan").unwrap().as_deref(), Some("2"));
        store.clear_job_state("j").unwrap();
        assert_eq!(store.job_state("j", "plan").unwrap(), None);
        assert_eq!(store.job_state("k", "plan").unwrap().as_deref(), Some("3"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
