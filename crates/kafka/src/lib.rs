//! The Kafka-protocol endpoint of change tracking (issue 5, part 3).
//!
//! A library that serves topics of one partition each to stock Kafka consumers (kafka-python, confluent-kafka /
//! librdkafka, the Java client), independent of where the records come from: everything about data, credentials
//! and committed offsets goes through the [`Backend`] trait; the server itself holds only the consumer groups'
//! membership (generations, member ids, assignments), which Kafka too keeps in memory.
//!
//! What is spoken (see [`SUPPORTED_APIS`] for the exact versions advertised in ApiVersions): ApiVersions,
//! SaslHandshake + SaslAuthenticate (PLAIN only), Metadata, ListOffsets, Fetch (record batches v2, "magic 2",
//! uncompressed, CRC32C), FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch.
//! Every other request, and every request but ApiVersions/SaslHandshake/SaslAuthenticate before a successful
//! login, closes the connection (as Kafka does with SASL listeners). A malformed request closes its connection
//! with a logged reason; it never takes the server down.
//!
//! ```no_run
//! # async fn run(backend: std::sync::Arc<dyn opendts_kafka::Backend>) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9092").await?;
//! opendts_kafka::serve(listener, backend, opendts_kafka::ServerConfig::default()).await
//! # }
//! ```

mod group;
pub mod memory;
pub mod record_batch;
mod server;

pub use server::{serve, ServerConfig, SUPPORTED_APIS};

use std::sync::Arc;

/// Who logged in: the identity the [`Backend`] gave back for a user name and password. The server only hands it
/// back to the backend on every later call of that connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    /// The SASL user name (in OpenDTS: the consumer group's user name).
    pub user: String,
    /// What the login is scoped to, as the backend decides (in OpenDTS: the
    /// consumer group, which belongs to one subscription).
    pub scope: String,
}

/// A record of partition 0 of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub offset: i64,
    /// Milliseconds since the Unix epoch (the record's CreateTime).
    pub timestamp_ms: i64,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
}

/// What [`Backend::fetch`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchResult {
    /// Records from the requested offset on, in offset order (offsets may have gaps); empty at the end of the log.
    pub records: Vec<Record>,
    /// The offset the next appended record will get (Kafka's high watermark = log end offset here).
    pub high_watermark: i64,
    /// The first offset still held (retention moves it forward).
    pub log_start_offset: i64,
}

/// Which offset ListOffsets asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset (high watermark).
    Latest,
    /// The first record whose timestamp is at or after this many ms since the epoch.
    Timestamp(i64),
}

/// An offset ListOffsets answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedOffset {
    pub offset: i64,
    /// The record's timestamp for [`OffsetSpec::Timestamp`]; -1 for Earliest/Latest (as Kafka answers).
    pub timestamp: i64,
}

/// A refused login.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("invalid user name or password")]
    InvalidCredentials,
    #[error("{0}")]
    Other(String),
}

/// Why a data or offset operation failed; each maps to a Kafka error code.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FetchError {
    /// UNKNOWN_TOPIC_OR_PARTITION (3).
    #[error("unknown topic or partition")]
    UnknownTopic,
    /// TOPIC_AUTHORIZATION_FAILED (29).
    #[error("topic authorization failed")]
    TopicNotAuthorized,
    /// GROUP_AUTHORIZATION_FAILED (30).
    #[error("group authorization failed")]
    GroupNotAuthorized,
    /// OFFSET_OUT_OF_RANGE (1): before the log start or after the log end.
    #[error("offset out of range")]
    OffsetOutOfRange,
    /// UNKNOWN_SERVER_ERROR (-1), logged.
    #[error("{0}")]
    Internal(String),
}

impl FetchError {
    /// The Kafka error code sent for this error.
    pub fn code(&self) -> i16 {
        match self {
            FetchError::UnknownTopic => server::err::UNKNOWN_TOPIC_OR_PARTITION,
            FetchError::TopicNotAuthorized => server::err::TOPIC_AUTHORIZATION_FAILED,
            FetchError::GroupNotAuthorized => server::err::GROUP_AUTHORIZATION_FAILED,
            FetchError::OffsetOutOfRange => server::err::OFFSET_OUT_OF_RANGE,
            FetchError::Internal(_) => server::err::UNKNOWN_SERVER_ERROR,
        }
    }
}

/// What the server serves: topics (one partition each, partition 0) and consumer groups' credentials and
/// committed offsets. Calls are synchronous and should be quick (an in-memory index or a short disk read); the
/// server calls them from its async tasks.
pub trait Backend: Send + Sync + 'static {
    /// SASL PLAIN: the user (a consumer group's user name) and password. `Ok(principal)` logs the connection in.
    fn authenticate(&self, user: &str, password: &str) -> Result<Principal, AuthError>;

    /// The topics this principal may see (in OpenDTS: its subscription's topic only). Any other topic named in a
    /// request is answered with TOPIC_AUTHORIZATION_FAILED, whether it exists or not.
    fn topics(&self, principal: &Principal) -> Vec<String>;

    /// Whether this principal may use consumer group `group` (join it, commit its offsets). Default: any group.
    fn may_use_group(&self, principal: &Principal, group: &str) -> bool {
        let _ = (principal, group);
        true
    }

    /// Records of partition 0 from `offset` on, about `max_bytes` of keys and values at most but at least one
    /// record if there is any, plus the high watermark. `offset` equal to the high watermark is not an error
    /// (no records); outside [log start, high watermark] is [`FetchError::OffsetOutOfRange`].
    fn fetch(&self, principal: &Principal, topic: &str, offset: i64, max_bytes: usize)
        -> Result<FetchResult, FetchError>;

    /// Earliest, latest, or the first offset whose timestamp is ≥ the given one; `Ok(None)` when no record has
    /// such a timestamp (answered as offset -1, timestamp -1, as Kafka does).
    fn list_offset(&self, principal: &Principal, topic: &str, spec: OffsetSpec)
        -> Result<Option<ListedOffset>, FetchError>;

    /// Stores the group's committed offset of `topic` partition 0 (the next offset it will consume).
    fn commit_offset(&self, principal: &Principal, group: &str, topic: &str, offset: i64, metadata: &str)
        -> Result<(), FetchError>;

    /// The group's committed offset of `topic` partition 0, if any.
    fn committed_offset(&self, principal: &Principal, group: &str, topic: &str) -> Result<Option<i64>, FetchError>;

    /// Notified (`notify_waiters`) whenever records are appended to `topic`, so a Fetch waiting for data (its
    /// max_wait_ms) answers at once. `None`: the server polls the backend every
    /// [`ServerConfig::fetch_poll_interval`] instead.
    fn data_notify(&self, topic: &str) -> Option<Arc<tokio::sync::Notify>> {
        let _ = topic;
        None
    }
}
