//! Jobs: one row per DTS instance and its task.

use crate::{Store, StoreError};
use opendts_core::job::Job;
use opendts_core::secret::Secret;
use opendts_core::status::JobType;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, OptionalExtension, Transaction};

/// Sort order of a job listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JobOrder {
    #[default]
    CreateTime,
    FinishTime,
}

/// Filters of a job listing (DescribeDtsJobs). Every filter is optional but
/// `owner`: a tenant only ever sees its own jobs.
#[derive(Debug, Clone, Default)]
pub struct JobQuery {
    pub owner: String,
    pub region: Option<String>,
    pub job_type: Option<JobType>,
    pub statuses: Vec<String>,
    /// Substring of the job name (case-insensitive).
    pub name_contains: Option<String>,
    pub instance_ids: Vec<String>,
    pub job_ids: Vec<String>,
    pub src_instance: Option<String>,
    pub dest_instance: Option<String>,
    /// A database instance ID that is either the source or the destination.
    pub any_instance: Option<String>,
    /// (key, value) pairs a job must all carry.
    pub tags: Vec<(String, String)>,
    pub order: JobOrder,
    pub descending: bool,
    pub offset: u64,
    pub limit: u64,
}

/// One page of a listing and the number of jobs matching overall.
#[derive(Debug)]
pub struct JobPage {
    pub total: u64,
    pub jobs: Vec<Job>,
}

fn job_type_key(t: JobType) -> &'static str {
    t.as_param()
}

/// A job row as read: its document and its sealed passwords.
type JobRow = (String, Option<Vec<u8>>, Option<Vec<u8>>);

fn password_context(job_id: &str, side: &str) -> String {
    format!("job:{job_id}:{side}")
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Store {
    fn seal_password(&self, job_id: &str, side: &str, p: Option<&Secret>) -> Result<Option<Vec<u8>>, StoreError> {
        match p {
            Some(p) if !p.is_empty() => Ok(Some(self.secrets.seal(&password_context(job_id, side), p.expose())?)),
            _ => Ok(None),
        }
    }

    fn write_job(&self, tx: &Transaction<'_>, job: &Job) -> Result<(), StoreError> {
        let doc = serde_json::to_string(job)?;
        let src_pw = self.seal_password(&job.job_id, "src", job.source.as_ref().map(|e| &e.password))?;
        let dest_pw = self.seal_password(&job.job_id, "dest", job.destination.as_ref().map(|e| &e.password))?;
        tx.execute(
            "INSERT INTO jobs (job_id, instance_id, owner, region, job_type, status, name, create_ms, finish_ms,
                               src_instance, dest_instance, doc, src_password, dest_password)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT(job_id) DO UPDATE SET status = excluded.status, name = excluded.name,
                 finish_ms = excluded.finish_ms, src_instance = excluded.src_instance,
                 dest_instance = excluded.dest_instance, doc = excluded.doc,
                 src_password = excluded.src_password, dest_password = excluded.dest_password",
            params![
                job.job_id,
                job.instance_id,
                job.owner,
                job.region,
                job_type_key(job.job_type),
                job.status.as_str(),
                job.name,
                job.create_time_ms,
                job.finish_time_ms,
                job.source.as_ref().map(|e| e.instance_id.as_str()).unwrap_or(""),
                job.destination.as_ref().map(|e| e.instance_id.as_str()).unwrap_or(""),
                doc,
                src_pw,
                dest_pw,
            ],
        )?;
        Ok(())
    }

    fn read_job(&self, doc: &str, src_pw: Option<Vec<u8>>, dest_pw: Option<Vec<u8>>) -> Result<Job, StoreError> {
        let mut job: Job = serde_json::from_str(doc)?;
        if let (Some(ep), Some(sealed)) = (job.source.as_mut(), src_pw) {
            ep.password = Secret::new(self.secrets.open(&password_context(&job.job_id, "src"), &sealed)?);
        }
        if let (Some(ep), Some(sealed)) = (job.destination.as_mut(), dest_pw) {
            ep.password = Secret::new(self.secrets.open(&password_context(&job.job_id, "dest"), &sealed)?);
        }
        Ok(job)
    }

    fn load_in(&self, tx: &Transaction<'_>, owner: Option<&str>, id: &str) -> Result<Option<Job>, StoreError> {
        let row: Option<JobRow> = tx
            .query_row(
                "SELECT doc, src_password, dest_password FROM jobs
                 WHERE (job_id = ?1 OR instance_id = ?1) AND (?2 IS NULL OR owner = ?2)",
                params![id, owner],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        row.map(|(doc, s, d)| self.read_job(&doc, s, d)).transpose()
    }

    pub fn insert_job(&self, job: &Job) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        self.write_job(&tx, job)?;
        tx.commit()?;
        Ok(())
    }

    /// A job by job ID or instance ID; `owner` restricts it to one tenant.
    pub fn get_job(&self, owner: Option<&str>, id: &str) -> Result<Option<Job>, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let job = self.load_in(&tx, owner, id)?;
        tx.commit()?;
        Ok(job)
    }

    /// Reads, changes and writes one job atomically. When `change` returns an
    /// error nothing is written: a refused request leaves the store unchanged.
    pub fn modify_job<T, E>(
        &self,
        owner: Option<&str>,
        id: &str,
        change: impl FnOnce(&mut Job) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(StoreError::from)?;
        let mut job = self.load_in(&tx, owner, id)?.ok_or(StoreError::NotFound)?;
        let out = change(&mut job)?;
        self.write_job(&tx, &job)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(out)
    }

    /// Removes a job, its tags, working state and consumer groups.
    pub fn delete_job(&self, owner: Option<&str>, id: &str) -> Result<bool, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let ids: Option<(String, String)> = tx
            .query_row(
                "SELECT instance_id, job_id FROM jobs WHERE (job_id = ?1 OR instance_id = ?1) AND (?2 IS NULL OR owner = ?2)",
                params![id, owner],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((instance, job_id)) = ids else { return Ok(false) };
        tx.execute("DELETE FROM jobs WHERE instance_id = ?1", [&instance])?;
        tx.execute("DELETE FROM tags WHERE instance_id = ?1", [&instance])?;
        tx.execute("DELETE FROM job_state WHERE job_id = ?1", [&job_id])?;
        crate::consumer_groups::delete_of_job(&tx, &job_id)?;
        tx.commit()?;
        Ok(true)
    }

    /// Jobs the engine must (re)start work on, across every tenant.
    pub fn jobs_in_statuses(&self, statuses: &[&str]) -> Result<Vec<Job>, StoreError> {
        let conn = self.lock();
        let marks = vec!["?"; statuses.len()].join(",");
        let sql = format!("SELECT doc, src_password, dest_password FROM jobs WHERE status IN ({marks}) ORDER BY create_ms");
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(statuses.iter()), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<Vec<u8>>>(1)?, r.get::<_, Option<Vec<u8>>>(2)?))
        })?;
        let mut jobs = Vec::new();
        for row in rows {
            let (doc, s, d) = row?;
            jobs.push(self.read_job(&doc, s, d)?);
        }
        Ok(jobs)
    }

    /// One page of a tenant's jobs.
    ///
    /// The page is found on the covering indexes first (job IDs only), then
    /// only its documents are read: OFFSET never walks job documents.
    pub fn query_jobs(&self, q: &JobQuery) -> Result<JobPage, StoreError> {
        let (where_sql, args) = where_clause(q);
        let conn = self.lock();
        let total: i64 = conn
            .prepare_cached(&format!("SELECT COUNT(*) FROM jobs WHERE {where_sql}"))?
            .query_row(params_from_iter(args.iter()), |r| r.get(0))?;
        if q.limit == 0 || total == 0 {
            return Ok(JobPage { total: total as u64, jobs: Vec::new() });
        }
        let column = match q.order {
            JobOrder::CreateTime => "create_ms",
            JobOrder::FinishTime => "finish_ms",
        };
        let dir = if q.descending { "DESC" } else { "ASC" };
        let mut page_args = args;
        page_args.push(Value::Integer(q.limit.min(i64::MAX as u64) as i64));
        page_args.push(Value::Integer(q.offset.min(i64::MAX as u64) as i64));
        let ids: Vec<String> = conn
            .prepare_cached(&format!(
                "SELECT job_id FROM jobs WHERE {where_sql} ORDER BY {column} {dir}, job_id {dir} LIMIT ? OFFSET ?"
            ))?
            .query_map(params_from_iter(page_args.iter()), |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut stmt = conn.prepare_cached("SELECT doc, src_password, dest_password FROM jobs WHERE job_id = ?1")?;
        let mut jobs = Vec::with_capacity(ids.len());
        for id in &ids {
            let (doc, s, d) = stmt.query_row([id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<Vec<u8>>>(1)?, r.get::<_, Option<Vec<u8>>>(2)?))
            })?;
            jobs.push(self.read_job(&doc, s, d)?);
        }
        Ok(JobPage { total: total as u64, jobs })
    }
}

/// Builds the WHERE clause of a listing. Every value is a bound parameter.
fn where_clause(q: &JobQuery) -> (String, Vec<Value>) {
    // When the caller names jobs (by ID, instance or tag), those lookups are
    // far more selective than the tenant columns. A unary `+` keeps SQLite from
    // choosing the tenant index for them, whether or not statistics exist.
    let selective = !q.job_ids.is_empty() || !q.instance_ids.is_empty() || !q.tags.is_empty();
    let tenant = if selective { "+" } else { "" };
    let mut sql = vec![format!("{tenant}owner = ?")];
    let mut args = vec![Value::Text(q.owner.clone())];
    if let Some(region) = &q.region {
        sql.push(format!("{tenant}region = ?"));
        args.push(Value::Text(region.clone()));
    }
    if let Some(t) = q.job_type {
        sql.push(format!("{tenant}job_type = ?"));
        args.push(Value::Text(job_type_key(t).into()));
    }
    let mut list = |column: &str, values: &[String]| {
        if !values.is_empty() {
            sql.push(format!("{column} IN ({})", vec!["?"; values.len()].join(",")));
            args.extend(values.iter().map(|v| Value::Text(v.clone())));
        }
    };
    list("status", &q.statuses);
    list("instance_id", &q.instance_ids);
    list("job_id", &q.job_ids);
    if let Some(name) = &q.name_contains {
        sql.push("name LIKE ? ESCAPE '\\'".into());
        args.push(Value::Text(format!("%{}%", like_escape(name))));
    }
    if let Some(src) = &q.src_instance {
        sql.push("src_instance = ?".into());
        args.push(Value::Text(src.clone()));
    }
    if let Some(dest) = &q.dest_instance {
        sql.push("dest_instance = ?".into());
        args.push(Value::Text(dest.clone()));
    }
    if let Some(any) = &q.any_instance {
        sql.push("(src_instance = ? OR dest_instance = ?)".into());
        args.push(Value::Text(any.clone()));
        args.push(Value::Text(any.clone()));
    }
    for (key, value) in &q.tags {
        // Driven from the tags index: only tagged instances are looked at.
        sql.push("instance_id IN (SELECT instance_id FROM tags WHERE owner = ? AND tag_key = ? AND tag_value = ?)".into());
        args.push(Value::Text(q.owner.clone()));
        args.push(Value::Text(key.clone()));
        args.push(Value::Text(value.clone()));
    }
    (sql.join(" AND "), args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opendts_core::endpoint::Endpoint;
    use opendts_core::status::JobStatus;
    use crate::TagRow;

    fn temp_store(tag: &str) -> (Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("opendts-store-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        (Store::open(&dir).unwrap(), dir)
    }

    fn job(id: &str, owner: &str, t: JobType, ms: i64) -> Job {
        Job::new(id.into(), owner.into(), "cn-hangzhou".into(), t, ms)
    }

    #[test]
    fn passwords_are_sealed_and_restored() {
        let (store, dir) = temp_store("pw");
        let mut j = job("j1", "ak", JobType::Sync, 1);
        j.source = Some(Endpoint { password: Secret::new("pw-in-clear-1"), ..Default::default() });
        store.insert_job(&j).unwrap();
        let back = store.get_job(Some("ak"), "j1").unwrap().unwrap();
        assert_eq!(back.source.unwrap().password.expose(), "pw-in-clear-1");
        drop(store);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(!String::from_utf8_lossy(&bytes).contains("pw-in-clear-1"));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn tenants_are_isolated_and_refused_changes_write_nothing() {
        let (store, dir) = temp_store("tenant");
        store.insert_job(&job("j1", "alice", JobType::Sync, 1)).unwrap();
        assert!(store.get_job(Some("bob"), "j1").unwrap().is_none());
        assert!(store.get_job(Some("alice"), "dtsj1").unwrap().is_some());
        let r: Result<(), StoreError> = store.modify_job(Some("alice"), "j1", |j| {
            j.status = JobStatus::Finished;
            Err(StoreError::NotFound)
        });
        assert!(r.is_err());
        assert_eq!(store.get_job(None, "j1").unwrap().unwrap().status, JobStatus::NotConfigured);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn listing_filters_sorts_and_pages() {
        let (store, dir) = temp_store("list");
        for i in 0..10 {
            let mut j = job(&format!("j{i}"), "ak", JobType::Migration, 100 + i);
            j.name = format!("name-{i}");
            store.insert_job(&j).unwrap();
        }
        store.insert_job(&job("s1", "ak", JobType::Sync, 5)).unwrap();
        store.put_tags("ak", &[TagRow { instance_id: "dtsj3".into(), key: "env".into(), value: "prod".into() }]).unwrap();
        let base = JobQuery { owner: "ak".into(), job_type: Some(JobType::Migration), limit: 4, ..Default::default() };
        let page = store.query_jobs(&base).unwrap();
        assert_eq!(page.total, 10);
        assert_eq!(page.jobs.iter().map(|j| j.job_id.as_str()).collect::<Vec<_>>(), ["j0", "j1", "j2", "j3"]);
        let desc = store.query_jobs(&JobQuery { descending: true, offset: 4, ..base.clone() }).unwrap();
        assert_eq!(desc.jobs[0].job_id, "j5");
        let named = store.query_jobs(&JobQuery { name_contains: Some("E-7".into()), ..base.clone() }).unwrap();
        assert_eq!(named.total, 1);
        let tagged = store.query_jobs(&JobQuery { tags: vec![("env".into(), "prod".into())], ..base.clone() }).unwrap();
        assert_eq!(tagged.jobs[0].job_id, "j3");
        let like = store.query_jobs(&JobQuery { name_contains: Some("%".into()), ..base }).unwrap();
        assert_eq!(like.total, 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
