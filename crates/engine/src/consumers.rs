//! Serving subscriptions to Kafka consumers: the Kafka endpoint's
//! [`Backend`] over the engine's change logs and the consumer groups in the
//! store.
//!
//! A consumer logs in with SASL PLAIN as DTS clients do: the user name is
//! `<consumer group user>-<ConsumerGroupID>` and the password the group's.
//! It then sees exactly one topic, its subscription's
//! ([`topic_name`]), with one partition, must use the consumer group ID as
//! its Kafka `group.id`, and its committed offsets become the group's
//! ConsumptionCheckpoint. ModifyConsumptionTimestamp moves a group that has
//! not committed since to the first record at or after that time.

use crate::engine::{Engine, SharedLog};
use opendts_changelog::LogError;
use opendts_core::job::Job;
use opendts_core::status::JobType;
use opendts_kafka::{AuthError, Backend, FetchError, FetchResult, ListedOffset, OffsetSpec, Principal, Record};
use opendts_store::ConsumptionClient;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// The Kafka topic of a subscription, in DTS's style: `<region>_<job id>_version2`.
pub fn topic_name(job: &Job) -> String {
    format!("{}_{}_version2", job.region.replace('-', "_"), job.job_id)
}

/// How long a looked-up group and subscription serve consumer requests
/// before they are read from the store again (a deleted group stops working
/// within this time).
const LOOKUP_TTL: Duration = Duration::from_secs(2);

/// How often a consumer's presence is written to the store (every Fetch
/// would be a write per poll; the store only needs to know it is alive).
const TOUCH_EVERY: Duration = Duration::from_secs(5);

/// The engine's subscriptions as a Kafka backend.
pub struct SubscriptionBackend {
    engine: Weak<Engine>,
    /// Group ID → (when read, its subscription).
    jobs: Mutex<HashMap<String, (Instant, Job)>>,
    /// Group ID → when its presence was last written.
    touched: Mutex<HashMap<String, Instant>>,
    /// Topic → the notification of its log's appends.
    notifies: Mutex<HashMap<String, Arc<tokio::sync::Notify>>>,
}

impl SubscriptionBackend {
    pub fn new(engine: &Arc<Engine>) -> SubscriptionBackend {
        SubscriptionBackend {
            engine: Arc::downgrade(engine),
            jobs: Mutex::new(HashMap::new()),
            touched: Mutex::new(HashMap::new()),
            notifies: Mutex::new(HashMap::new()),
        }
    }

    /// The subscription of a consumer group, from a short-lived cache.
    fn group_job(&self, engine: &Engine, group_id: &str) -> Result<Job, FetchError> {
        if let Some((at, job)) = self.jobs.lock().unwrap_or_else(|p| p.into_inner()).get(group_id) {
            if at.elapsed() < LOOKUP_TTL {
                return Ok(job.clone());
            }
        }
        let group = engine.store().consumer_group_by_id(group_id).map_err(internal)?.ok_or(FetchError::TopicNotAuthorized)?;
        let job = engine.store().get_job(None, &group.job_id).map_err(internal)?.ok_or(FetchError::UnknownTopic)?;
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).insert(group_id.to_string(), (Instant::now(), job.clone()));
        Ok(job)
    }

    /// Records that the group's consumer is alive, at most every [`TOUCH_EVERY`].
    fn touch(&self, engine: &Engine, principal: &Principal, end: i64) {
        let mut touched = self.touched.lock().unwrap_or_else(|p| p.into_inner());
        if touched.get(&principal.scope).is_some_and(|at| at.elapsed() < TOUCH_EVERY) {
            return;
        }
        touched.insert(principal.scope.clone(), Instant::now());
        drop(touched);
        if let Err(e) = engine.store().touch_consumer(&principal.scope, end, &client(principal)) {
            tracing::warn!(group = %principal.scope, error = %e, "cannot record the consumer's presence");
        }
    }

    fn engine(&self) -> Result<Arc<Engine>, FetchError> {
        self.engine.upgrade().ok_or_else(|| FetchError::Internal("the server is shutting down".into()))
    }

    /// The subscription the principal's group belongs to, checked against `topic`.
    fn job_for(&self, principal: &Principal, topic: &str) -> Result<(Arc<Engine>, Job), FetchError> {
        let engine = self.engine()?;
        let job = self.group_job(&engine, &principal.scope)?;
        if topic_name(&job) != topic {
            return Err(FetchError::TopicNotAuthorized);
        }
        Ok((engine, job))
    }

    fn log(&self, principal: &Principal, topic: &str) -> Result<(Arc<Engine>, Job, SharedLog), FetchError> {
        let (engine, job) = self.job_for(principal, topic)?;
        let log = engine.change_log(&job.job_id).map_err(log_error)?;
        Ok((engine, job, log))
    }
}

fn internal(e: impl std::fmt::Display) -> FetchError {
    FetchError::Internal(e.to_string())
}

fn log_error(e: LogError) -> FetchError {
    match e {
        LogError::OffsetOutOfRange { .. } => FetchError::OffsetOutOfRange,
        other => internal(other),
    }
}

fn client(principal: &Principal) -> ConsumptionClient {
    ConsumptionClient { client_id: principal.user.clone(), address: String::new() }
}

impl Backend for SubscriptionBackend {
    fn authenticate(&self, user: &str, password: &str) -> Result<Principal, AuthError> {
        let engine = self.engine.upgrade().ok_or_else(|| AuthError::Other("the server is shutting down".into()))?;
        let (group_user, group_id) = user.rsplit_once('-').ok_or(AuthError::InvalidCredentials)?;
        let store = engine.store();
        let group = store.consumer_group_by_id(group_id).map_err(|e| AuthError::Other(e.to_string()))?;
        let Some(group) = group else { return Err(AuthError::InvalidCredentials) };
        match store.verify_consumer_password(&group.job_id, group_user, password) {
            Ok(Some(g)) if g.group_id == group.group_id => Ok(Principal { user: user.to_string(), scope: g.group_id }),
            Ok(_) => Err(AuthError::InvalidCredentials),
            Err(e) => Err(AuthError::Other(e.to_string())),
        }
    }

    fn topics(&self, principal: &Principal) -> Vec<String> {
        let Ok(engine) = self.engine() else { return Vec::new() };
        let group = engine.store().consumer_group_by_id(&principal.scope).ok().flatten();
        let job = group.and_then(|g| engine.store().get_job(None, &g.job_id).ok().flatten());
        job.map(|j| vec![topic_name(&j)]).unwrap_or_default()
    }

    fn may_use_group(&self, principal: &Principal, group: &str) -> bool {
        group == principal.scope
    }

    fn fetch(&self, principal: &Principal, topic: &str, offset: i64, max_bytes: usize) -> Result<FetchResult, FetchError> {
        let (engine, _, log) = self.log(principal, topic)?;
        let from = u64::try_from(offset).map_err(|_| FetchError::OffsetOutOfRange)?;
        let stored = log.reader.read(from, max_bytes).map_err(log_error)?;
        let end = log.reader.end_offset() as i64;
        self.touch(&engine, principal, end);
        Ok(FetchResult {
            records: stored
                .into_iter()
                .map(|r| Record { offset: r.offset as i64, timestamp_ms: r.timestamp_ms, key: r.key, value: r.value })
                .collect(),
            high_watermark: end,
            log_start_offset: log.reader.begin_offset() as i64,
        })
    }

    fn list_offset(&self, principal: &Principal, topic: &str, spec: OffsetSpec) -> Result<Option<ListedOffset>, FetchError> {
        let (_, _, log) = self.log(principal, topic)?;
        let reader = &log.reader;
        Ok(match spec {
            OffsetSpec::Earliest => Some(ListedOffset { offset: reader.begin_offset() as i64, timestamp: -1 }),
            OffsetSpec::Latest => Some(ListedOffset { offset: reader.end_offset() as i64, timestamp: -1 }),
            OffsetSpec::Timestamp(t) => match reader.offset_for_time(t).map_err(log_error)? {
                None => None,
                Some(offset) => {
                    let timestamp = reader.read(offset, 1).map_err(log_error)?.first().map_or(t, |r| r.timestamp_ms);
                    Some(ListedOffset { offset: offset as i64, timestamp })
                }
            },
        })
    }

    fn commit_offset(&self, principal: &Principal, group: &str, topic: &str, offset: i64, _metadata: &str) -> Result<(), FetchError> {
        if group != principal.scope {
            return Err(FetchError::GroupNotAuthorized);
        }
        let (engine, _, log) = self.log(principal, topic)?;
        // The checkpoint is the source time of the last record consumed.
        let consumed = offset.checked_sub(1).and_then(|o| u64::try_from(o).ok());
        let record_ts = match consumed {
            Some(o) if o >= log.reader.begin_offset() && o < log.reader.end_offset() => {
                log.reader.read(o, 1).map_err(log_error)?.first().map(|r| r.timestamp_ms)
            }
            _ => None,
        };
        let end = log.reader.end_offset() as i64;
        engine.store().record_consumption(group, offset, record_ts, end, &client(principal)).map_err(internal)?;
        Ok(())
    }

    fn committed_offset(&self, principal: &Principal, group: &str, topic: &str) -> Result<Option<i64>, FetchError> {
        if group != principal.scope {
            return Err(FetchError::GroupNotAuthorized);
        }
        let (engine, job, log) = self.log(principal, topic)?;
        let store = engine.store();
        let stored = store.consumer_group_by_id(group).map_err(internal)?.ok_or(FetchError::GroupNotAuthorized)?;
        // ModifyConsumptionTimestamp after the group's last activity moves it there.
        if let Some(start) = store.consumption_start(&job.job_id).map_err(internal)? {
            let last_seen = stored.client_seen_ms.unwrap_or(i64::MIN);
            if stored.committed_offset.is_none() || last_seen < start.requested_ms {
                let at = log.reader.offset_for_time(start.timestamp_ms).map_err(log_error)?;
                return Ok(Some(at.unwrap_or(log.reader.end_offset()) as i64));
            }
        }
        Ok(stored.committed_offset)
    }

    fn data_notify(&self, topic: &str) -> Option<Arc<tokio::sync::Notify>> {
        if let Some(n) = self.notifies.lock().unwrap_or_else(|p| p.into_inner()).get(topic) {
            return Some(n.clone());
        }
        let engine = self.engine.upgrade()?;
        let job_id = topic.strip_suffix("_version2")?.rsplit('_').next()?.to_string();
        // Only a subscription that exists has a log worth opening.
        let job = engine.store().get_job(None, &job_id).ok()??;
        if job.job_type != JobType::Subscribe || topic_name(&job) != topic {
            return None;
        }
        let notify = engine.change_log(&job_id).ok()?.appended;
        self.notifies.lock().unwrap_or_else(|p| p.into_inner()).insert(topic.to_string(), notify.clone());
        Some(notify)
    }
}
