//! An in-memory [`Backend`]: users with a password and one topic each, topics as vectors of records, committed
//! offsets in a map. For tests and the `demo` example; the change log of issue 5 is the real backend.

use crate::{AuthError, Backend, FetchError, FetchResult, ListedOffset, OffsetSpec, Principal, Record};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

#[derive(Default)]
struct Inner {
    /// user → (password, topic)
    users: HashMap<String, (String, String)>,
    topics: HashMap<String, Vec<Record>>,
    /// (group, topic) → (offset, metadata)
    offsets: HashMap<(String, String), (i64, String)>,
}

/// See the module documentation.
#[derive(Default)]
pub struct MemoryBackend {
    inner: Mutex<Inner>,
    notify: Arc<Notify>,
}

impl MemoryBackend {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds (or replaces) a user who may read `topic`; creates the topic if needed.
    pub fn add_user(&self, user: &str, password: &str, topic: &str) {
        let mut g = self.lock();
        g.users.insert(user.to_string(), (password.to_string(), topic.to_string()));
        g.topics.entry(topic.to_string()).or_default();
    }

    /// Appends a record and wakes waiting fetches; returns its offset.
    pub fn append(&self, topic: &str, key: Option<Vec<u8>>, value: Vec<u8>, timestamp_ms: i64) -> i64 {
        let offset = {
            let mut g = self.lock();
            let log = g.topics.entry(topic.to_string()).or_default();
            let offset = log.last().map_or(0, |r| r.offset + 1);
            log.push(Record { offset, timestamp_ms, key, value });
            offset
        };
        self.notify.notify_waiters();
        offset
    }

    /// Drops records before `offset` (as retention would).
    pub fn truncate_before(&self, topic: &str, offset: i64) {
        if let Some(log) = self.lock().topics.get_mut(topic) {
            log.retain(|r| r.offset >= offset);
        }
    }

    /// The committed offset of a group on a topic.
    pub fn committed(&self, group: &str, topic: &str) -> Option<i64> {
        self.lock().offsets.get(&(group.to_string(), topic.to_string())).map(|(o, _)| *o)
    }

    fn check(&self, g: &Inner, principal: &Principal, topic: &str) -> Result<(), FetchError> {
        match g.users.get(&principal.user) {
            Some((_, t)) if t == topic => Ok(()),
            _ => Err(FetchError::TopicNotAuthorized),
        }
    }
}

fn bounds(log: &[Record]) -> (i64, i64) {
    match (log.first(), log.last()) {
        (Some(f), Some(l)) => (f.offset, l.offset + 1),
        _ => (0, 0),
    }
}

impl Backend for MemoryBackend {
    fn authenticate(&self, user: &str, password: &str) -> Result<Principal, AuthError> {
        match self.lock().users.get(user) {
            Some((p, _)) if p == password => Ok(Principal { user: user.to_string(), scope: user.to_string() }),
            _ => Err(AuthError::InvalidCredentials),
        }
    }

    fn topics(&self, principal: &Principal) -> Vec<String> {
        self.lock().users.get(&principal.user).map(|(_, t)| vec![t.clone()]).unwrap_or_default()
    }

    fn fetch(&self, principal: &Principal, topic: &str, offset: i64, max_bytes: usize) -> Result<FetchResult, FetchError> {
        let g = self.lock();
        self.check(&g, principal, topic)?;
        let log = g.topics.get(topic).ok_or(FetchError::UnknownTopic)?;
        let (start, end) = bounds(log);
        if offset < start || offset > end {
            return Err(FetchError::OffsetOutOfRange);
        }
        let from = log.partition_point(|r| r.offset < offset);
        let mut size = 0usize;
        let mut records = Vec::new();
        for r in &log[from..] {
            let len = r.value.len() + r.key.as_ref().map_or(0, Vec::len) + 20;
            if !records.is_empty() && size + len > max_bytes {
                break;
            }
            size += len;
            records.push(r.clone());
        }
        Ok(FetchResult { records, high_watermark: end, log_start_offset: start })
    }

    fn list_offset(&self, principal: &Principal, topic: &str, spec: OffsetSpec) -> Result<Option<ListedOffset>, FetchError> {
        let g = self.lock();
        self.check(&g, principal, topic)?;
        let log = g.topics.get(topic).ok_or(FetchError::UnknownTopic)?;
        let (start, end) = bounds(log);
        Ok(match spec {
            OffsetSpec::Earliest => Some(ListedOffset { offset: start, timestamp: -1 }),
            OffsetSpec::Latest => Some(ListedOffset { offset: end, timestamp: -1 }),
            OffsetSpec::Timestamp(ts) => {
                log.iter().find(|r| r.timestamp_ms >= ts).map(|r| ListedOffset { offset: r.offset, timestamp: r.timestamp_ms })
            }
        })
    }

    fn commit_offset(&self, principal: &Principal, group: &str, topic: &str, offset: i64, metadata: &str) -> Result<(), FetchError> {
        let mut g = self.lock();
        self.check(&g, principal, topic)?;
        g.offsets.insert((group.to_string(), topic.to_string()), (offset, metadata.to_string()));
        Ok(())
    }

    fn committed_offset(&self, principal: &Principal, group: &str, topic: &str) -> Result<Option<i64>, FetchError> {
        let g = self.lock();
        self.check(&g, principal, topic)?;
        Ok(g.offsets.get(&(group.to_string(), topic.to_string())).map(|(o, _)| *o))
    }

    fn data_notify(&self, _topic: &str) -> Option<Arc<Notify>> {
        Some(Arc::clone(&self.notify))
    }
}
