//! The TCP server: framing, the authentication gate, and one handler per API.
//!
//! Each connection reads a request, answers it, then reads the next (as a Kafka broker does: responses leave in
//! request order). A JoinGroup or SyncGroup waiting for the rest of its group, or a Fetch waiting for data,
//! holds only its own connection; clients talk to the coordinator on a connection of its own.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    api_versions_response::ApiVersion,
    fetch_response::{FetchableTopicResponse, PartitionData},
    find_coordinator_response::Coordinator as CoordinatorEntry,
    join_group_response::JoinGroupResponseMember,
    leave_group_response::MemberResponse,
    list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse},
    metadata_response::{MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic},
    offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic},
    offset_fetch_response::{OffsetFetchResponsePartition, OffsetFetchResponseTopic},
    produce_response::{PartitionProduceResponse, TopicProduceResponse},
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId, FetchRequest, FetchResponse,
    FindCoordinatorRequest, FindCoordinatorResponse, GroupId, HeartbeatRequest, HeartbeatResponse,
    JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, ListOffsetsRequest,
    ListOffsetsResponse, MetadataRequest, MetadataResponse, OffsetCommitRequest, OffsetCommitResponse,
    OffsetFetchRequest, OffsetFetchResponse, ProduceRequest, ProduceResponse, RequestHeader, ResponseHeader, SaslAuthenticateRequest,
    SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse, SyncGroupRequest, SyncGroupResponse,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::group::{Coordinator, JoinRequest, Pending};
use crate::record_batch::encode_batches;
use crate::{Backend, FetchError, OffsetSpec, Principal};

/// Kafka error codes used by the server.
pub mod err {
    pub const UNKNOWN_SERVER_ERROR: i16 = -1;
    pub const NONE: i16 = 0;
    pub const OFFSET_OUT_OF_RANGE: i16 = 1;
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    pub const ILLEGAL_GENERATION: i16 = 22;
    pub const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
    pub const INVALID_GROUP_ID: i16 = 24;
    pub const UNKNOWN_MEMBER_ID: i16 = 25;
    pub const INVALID_SESSION_TIMEOUT: i16 = 26;
    pub const REBALANCE_IN_PROGRESS: i16 = 27;
    pub const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
    pub const GROUP_AUTHORIZATION_FAILED: i16 = 30;
    pub const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
    pub const UNSUPPORTED_VERSION: i16 = 35;
    pub const SASL_AUTHENTICATION_FAILED: i16 = 58;
}

/// The APIs served and the versions advertised in ApiVersions: (key, min, max). Each bound is deliberate:
/// Fetch from 4 (record batches v2; older versions need message sets) to 12 (13+ name topics by id);
/// ListOffsets 1–7 (v0 is gone from Kafka 4); Metadata 1–12; OffsetCommit 2–8 and OffsetFetch 1–7 (later
/// versions belong to the new consumer protocol / topic ids); FindCoordinator 0–4 (v4: batched keys);
/// JoinGroup 0–7; SyncGroup 0–5; Heartbeat 0–4; LeaveGroup 0–4 (v3+: batched members); SaslHandshake 1 only
/// (the token then travels in SaslAuthenticate); SaslAuthenticate 0–2; ApiVersions 0–3.
/// Produce 3–7 is answered, always with TOPIC_AUTHORIZATION_FAILED (topics are read-only): librdkafka enables
/// record batches v2 ("MsgVer2") only for brokers that list Produce ≥ 3 next to Fetch ≥ 4.
pub const SUPPORTED_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 7),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::Metadata, 1, 12),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 7),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::JoinGroup, 0, 7),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 4),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::SaslHandshake, 1, 1),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::SaslAuthenticate, 0, 2),
];

/// How the server presents itself and its limits.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The host clients are told to connect to (Metadata, FindCoordinator).
    pub advertised_host: String,
    /// The port clients are told; `None`: the listener's own port.
    pub advertised_port: Option<u16>,
    /// This broker's node id.
    pub node_id: i32,
    pub cluster_id: String,
    /// JoinGroup session timeouts outside this range get INVALID_SESSION_TIMEOUT (Kafka: 6 s – 30 min; lower
    /// here so tests rebalance quickly).
    pub min_session_timeout: Duration,
    pub max_session_timeout: Duration,
    /// A request frame larger than this closes the connection.
    pub max_request_bytes: usize,
    /// How often a waiting Fetch asks the backend again when it has no [`Backend::data_notify`].
    pub fetch_poll_interval: Duration,
    /// Records per record batch in Fetch responses.
    pub records_per_batch: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            advertised_host: "127.0.0.1".to_string(),
            advertised_port: None,
            node_id: 0,
            cluster_id: "opendts".to_string(),
            min_session_timeout: Duration::from_millis(1000),
            max_session_timeout: Duration::from_secs(1800),
            max_request_bytes: 16 * 1024 * 1024,
            fetch_poll_interval: Duration::from_millis(50),
            records_per_batch: 500,
        }
    }
}

struct Shared {
    backend: Arc<dyn Backend>,
    config: ServerConfig,
    port: i32,
    groups: Coordinator,
}

/// Serves the Kafka protocol on `listener` until accepting fails for good. Each connection runs in its own task.
pub async fn serve(listener: TcpListener, backend: Arc<dyn Backend>, config: ServerConfig) -> std::io::Result<()> {
    let port = match config.advertised_port {
        Some(p) => p,
        None => listener.local_addr()?.port(),
    };
    let shared = Arc::new(Shared {
        backend,
        groups: Coordinator::new(config.min_session_timeout, config.max_session_timeout),
        port: i32::from(port),
        config,
    });
    let weak = Arc::downgrade(&shared);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            match weak.upgrade() {
                Some(s) => s.groups.tick(Instant::now()),
                None => break,
            }
        }
    });
    tracing::info!(addr = ?listener.local_addr().ok(), "Kafka endpoint listening");
    loop {
        match listener.accept().await {
            Ok((sock, peer)) => {
                let shared = Arc::clone(&shared);
                tokio::spawn(async move { connection(shared, sock, peer).await });
            }
            Err(e) => {
                // Out of file descriptors and the like: wait and go on rather than stop serving.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One connection's state.
#[derive(Default)]
struct Conn {
    handshake_done: bool,
    principal: Option<Principal>,
}

enum Reply {
    Send(Bytes),
    SendAndClose(Bytes),
}

async fn connection(shared: Arc<Shared>, sock: TcpStream, peer: SocketAddr) {
    let _ = sock.set_nodelay(true);
    let (mut rd, mut wr) = sock.into_split();
    let mut conn = Conn::default();
    loop {
        let mut len = [0u8; 4];
        if let Err(e) = rd.read_exact(&mut len).await {
            if e.kind() != std::io::ErrorKind::UnexpectedEof {
                tracing::debug!(%peer, error = %e, "connection read failed");
            }
            return;
        }
        let n = i32::from_be_bytes(len);
        if n < 8 || n as usize > shared.config.max_request_bytes {
            tracing::warn!(%peer, size = n, "closing connection: bad request size");
            return;
        }
        let mut frame = vec![0u8; n as usize];
        if let Err(e) = rd.read_exact(&mut frame).await {
            tracing::debug!(%peer, error = %e, "connection closed mid-request");
            return;
        }
        let (bytes, close) = match handle_frame(&shared, &mut conn, Bytes::from(frame)).await {
            Ok(Reply::Send(b)) => (b, false),
            Ok(Reply::SendAndClose(b)) => (b, true),
            Err(reason) => {
                tracing::warn!(%peer, user = conn.principal.as_ref().map(|p| p.user.as_str()), %reason, "closing connection");
                return;
            }
        };
        if !bytes.is_empty() {
            if let Err(e) = wr.write_all(&bytes).await {
                tracing::debug!(%peer, error = %e, "connection write failed");
                return;
            }
        }
        if close {
            tracing::info!(%peer, "closing connection after refused authentication");
            let _ = wr.shutdown().await;
            return;
        }
    }
}

/// Decodes a message, turning decoder errors (and any decoder panic) into a reason to close the connection.
fn decode<T: Decodable>(buf: &mut Bytes, version: i16, what: &str) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(|| T::decode(buf, version))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("malformed {what} v{version}: {e}")),
        Err(_) => Err(format!("malformed {what} v{version} (decoder panicked)")),
    }
}

/// A response frame: size, header (v0 or flexible v1 as the API version says), body.
fn respond<T: Encodable + HeaderVersion>(correlation_id: i32, version: i16, body: &T) -> Result<Bytes, String> {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i32(0);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    header.encode(&mut buf, T::header_version(version)).map_err(|e| format!("encoding response header: {e}"))?;
    body.encode(&mut buf, version).map_err(|e| format!("encoding response v{version}: {e}"))?;
    let len = i32::try_from(buf.len() - 4).map_err(|_| "response too large".to_string())?;
    buf[0..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf.freeze())
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn api_versions_body() -> ApiVersionsResponse {
    let mut r = ApiVersionsResponse::default();
    r.api_keys = SUPPORTED_APIS
        .iter()
        .map(|(k, min, max)| {
            let mut v = ApiVersion::default();
            v.api_key = *k as i16;
            v.min_version = *min;
            v.max_version = *max;
            v
        })
        .collect();
    r
}

async fn handle_frame(shared: &Shared, conn: &mut Conn, mut buf: Bytes) -> Result<Reply, String> {
    let api_key = i16::from_be_bytes([buf[0], buf[1]]);
    let version = i16::from_be_bytes([buf[2], buf[3]]);
    let correlation_id = i32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    let key = ApiKey::try_from(api_key).map_err(|_| format!("unknown API key {api_key}"))?;
    let Some(&(_, min, max)) = SUPPORTED_APIS.iter().find(|(k, _, _)| *k == key) else {
        return Err(format!("{key:?} is not served"));
    };
    if version < min || version > max {
        if key == ApiKey::ApiVersions {
            // KIP-511: answer in v0 with UNSUPPORTED_VERSION and our ranges; the client retries with one of them.
            let mut r = api_versions_body();
            r.error_code = err::UNSUPPORTED_VERSION;
            return respond(correlation_id, 0, &r).map(Reply::Send);
        }
        return Err(format!("{key:?} v{version} is not supported (v{min}–v{max})"));
    }
    let header: RequestHeader = decode(&mut buf, key.request_header_version(version), "request header")?;
    let corr = header.correlation_id;

    let principal = match (&conn.principal, key) {
        (_, ApiKey::ApiVersions) => {
            let _req: ApiVersionsRequest = decode(&mut buf, version, "ApiVersions")?;
            return respond(corr, version, &api_versions_body()).map(Reply::Send);
        }
        (None, ApiKey::SaslHandshake) => {
            let req: SaslHandshakeRequest = decode(&mut buf, version, "SaslHandshake")?;
            let mut r = SaslHandshakeResponse::default();
            r.mechanisms = vec![s("PLAIN")];
            if req.mechanism.as_str() == "PLAIN" {
                conn.handshake_done = true;
            } else {
                r.error_code = err::UNSUPPORTED_SASL_MECHANISM;
            }
            return respond(corr, version, &r).map(Reply::Send);
        }
        (None, ApiKey::SaslAuthenticate) if conn.handshake_done => {
            let req: SaslAuthenticateRequest = decode(&mut buf, version, "SaslAuthenticate")?;
            return sasl_authenticate(shared, conn, corr, version, &req.auth_bytes);
        }
        (None, _) => return Err(format!("{key:?} before authentication")),
        (Some(_), ApiKey::SaslHandshake | ApiKey::SaslAuthenticate) => {
            return Err(format!("{key:?} after authentication (re-authentication is not supported)"));
        }
        (Some(p), _) => p.clone(),
    };

    let h = Handler { shared, principal: &principal, version, corr };
    match key {
        ApiKey::Produce => match h.produce(decode(&mut buf, version, "Produce")?) {
            Some(r) => r,
            // acks=0: the client expects no response at all
            None => return Ok(Reply::Send(Bytes::new())),
        },
        ApiKey::Metadata => h.metadata(decode(&mut buf, version, "Metadata")?),
        ApiKey::ListOffsets => h.list_offsets(decode(&mut buf, version, "ListOffsets")?),
        ApiKey::Fetch => h.fetch(decode(&mut buf, version, "Fetch")?).await,
        ApiKey::FindCoordinator => h.find_coordinator(decode(&mut buf, version, "FindCoordinator")?),
        ApiKey::JoinGroup => {
            let client_id = header.client_id.as_ref().map(|c| c.to_string()).unwrap_or_default();
            h.join_group(decode(&mut buf, version, "JoinGroup")?, client_id).await
        }
        ApiKey::SyncGroup => h.sync_group(decode(&mut buf, version, "SyncGroup")?).await,
        ApiKey::Heartbeat => h.heartbeat(decode(&mut buf, version, "Heartbeat")?),
        ApiKey::LeaveGroup => h.leave_group(decode(&mut buf, version, "LeaveGroup")?),
        ApiKey::OffsetCommit => h.offset_commit(decode(&mut buf, version, "OffsetCommit")?),
        ApiKey::OffsetFetch => h.offset_fetch(decode(&mut buf, version, "OffsetFetch")?),
        other => Err(format!("{other:?} is not served")),
    }
    .map(Reply::Send)
}

/// SASL PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`.
fn sasl_authenticate(shared: &Shared, conn: &mut Conn, corr: i32, version: i16, token: &[u8]) -> Result<Reply, String> {
    let mut parts = token.split(|b| *b == 0);
    let parsed = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(authz), Some(user), Some(pass), None) => {
            match (std::str::from_utf8(authz), std::str::from_utf8(user), std::str::from_utf8(pass)) {
                (Ok(a), Ok(u), Ok(p)) if a.is_empty() || a == u => Some((u, p)),
                _ => None,
            }
        }
        _ => None,
    };
    let mut r = SaslAuthenticateResponse::default();
    let outcome = match parsed {
        Some((user, pass)) => shared.backend.authenticate(user, pass).map_err(|e| (user.to_string(), e.to_string())),
        None => Err((String::new(), "malformed PLAIN token".to_string())),
    };
    match outcome {
        Ok(p) => {
            tracing::info!(user = %p.user, "authenticated");
            conn.principal = Some(p);
            respond(corr, version, &r).map(Reply::Send)
        }
        Err((user, reason)) => {
            tracing::warn!(%user, %reason, "authentication refused");
            r.error_code = err::SASL_AUTHENTICATION_FAILED;
            r.error_message = Some(s("Authentication failed: Invalid username or password"));
            respond(corr, version, &r).map(Reply::SendAndClose)
        }
    }
}

struct Handler<'a> {
    shared: &'a Shared,
    principal: &'a Principal,
    version: i16,
    corr: i32,
}

impl Handler<'_> {
    fn respond<T: Encodable + HeaderVersion>(&self, body: &T) -> Result<Bytes, String> {
        respond(self.corr, self.version, body)
    }

    fn backend(&self) -> &dyn Backend {
        self.shared.backend.as_ref()
    }

    fn visible(&self) -> Vec<String> {
        self.backend().topics(self.principal)
    }

    /// Topics are read-only: every partition is refused (None for acks=0, which gets no response).
    fn produce(&self, req: ProduceRequest) -> Option<Result<Bytes, String>> {
        tracing::info!(user = %self.principal.user, "Produce refused: topics are read-only");
        if req.acks == 0 {
            return None;
        }
        let mut r = ProduceResponse::default();
        for t in &req.topic_data {
            let mut tr = TopicProduceResponse::default();
            tr.name = t.name.clone();
            for p in &t.partition_data {
                let mut pr = PartitionProduceResponse::default();
                pr.index = p.index;
                pr.error_code = err::TOPIC_AUTHORIZATION_FAILED;
                pr.base_offset = -1;
                pr.log_append_time_ms = -1;
                pr.log_start_offset = -1;
                tr.partition_responses.push(pr);
            }
            r.responses.push(tr);
        }
        Some(self.respond(&r))
    }

    fn metadata(&self, req: MetadataRequest) -> Result<Bytes, String> {
        let visible = self.visible();
        let names: Vec<String> = match &req.topics {
            None => visible.clone(),
            Some(ts) => ts.iter().filter_map(|t| t.name.as_ref().map(|n| n.0.to_string())).collect(),
        };
        let node = BrokerId(self.shared.config.node_id);
        let mut r = MetadataResponse::default();
        let mut broker = MetadataResponseBroker::default();
        broker.node_id = node;
        broker.host = s(&self.shared.config.advertised_host);
        broker.port = self.shared.port;
        r.brokers = vec![broker];
        r.cluster_id = Some(s(&self.shared.config.cluster_id));
        r.controller_id = node;
        r.topics = names
            .iter()
            .map(|name| {
                let mut t = MetadataResponseTopic::default();
                t.name = Some(TopicName(s(name)));
                if visible.contains(name) {
                    let mut p = MetadataResponsePartition::default();
                    p.partition_index = 0;
                    p.leader_id = node;
                    p.leader_epoch = 0;
                    p.replica_nodes = vec![node];
                    p.isr_nodes = vec![node];
                    t.partitions = vec![p];
                } else {
                    t.error_code = err::TOPIC_AUTHORIZATION_FAILED;
                }
                t
            })
            .collect();
        self.respond(&r)
    }

    fn list_offsets(&self, req: ListOffsetsRequest) -> Result<Bytes, String> {
        let visible = self.visible();
        let mut r = ListOffsetsResponse::default();
        for t in &req.topics {
            let name = t.name.0.to_string();
            let mut tr = ListOffsetsTopicResponse::default();
            tr.name = t.name.clone();
            for p in &t.partitions {
                let mut pr = ListOffsetsPartitionResponse::default();
                pr.partition_index = p.partition_index;
                pr.offset = -1;
                pr.timestamp = -1;
                if !visible.contains(&name) {
                    pr.error_code = err::TOPIC_AUTHORIZATION_FAILED;
                } else if p.partition_index != 0 {
                    pr.error_code = err::UNKNOWN_TOPIC_OR_PARTITION;
                } else {
                    let spec = match p.timestamp {
                        -2 => OffsetSpec::Earliest,
                        // -1 latest; -3 (max timestamp) and other negatives are answered as latest too
                        t if t < 0 => OffsetSpec::Latest,
                        t => OffsetSpec::Timestamp(t),
                    };
                    match self.backend().list_offset(self.principal, &name, spec) {
                        Ok(Some(lo)) => {
                            pr.offset = lo.offset;
                            pr.timestamp = lo.timestamp;
                        }
                        Ok(None) => {}
                        Err(e) => pr.error_code = self.code(&e),
                    }
                }
                tr.partitions.push(pr);
            }
            r.topics.push(tr);
        }
        self.respond(&r)
    }

    fn code(&self, e: &FetchError) -> i16 {
        if let FetchError::Internal(msg) = e {
            tracing::error!(user = %self.principal.user, error = %msg, "backend error");
        }
        e.code()
    }

    /// One pass over the requested partitions: the response and how many record bytes it carries.
    fn fetch_once(&self, req: &FetchRequest, visible: &[String]) -> Result<(FetchResponse, usize, bool), String> {
        let mut r = FetchResponse::default();
        let mut budget = usize::try_from(req.max_bytes).unwrap_or(0).max(1);
        let mut total = 0usize;
        let mut errors = false;
        for t in &req.topics {
            let name = t.topic.0.to_string();
            let mut tr = FetchableTopicResponse::default();
            tr.topic = t.topic.clone();
            for p in &t.partitions {
                let mut pd = PartitionData::default();
                pd.partition_index = p.partition;
                pd.high_watermark = -1;
                pd.last_stable_offset = -1;
                pd.log_start_offset = -1;
                pd.records = Some(Bytes::new());
                if !visible.contains(&name) {
                    pd.error_code = err::TOPIC_AUTHORIZATION_FAILED;
                } else if p.partition != 0 {
                    pd.error_code = err::UNKNOWN_TOPIC_OR_PARTITION;
                } else {
                    let max = usize::try_from(p.partition_max_bytes).unwrap_or(0).min(budget).max(1);
                    match self.backend().fetch(self.principal, &name, p.fetch_offset, max) {
                        Ok(fr) => {
                            pd.high_watermark = fr.high_watermark;
                            pd.last_stable_offset = fr.high_watermark;
                            pd.log_start_offset = fr.log_start_offset;
                            let bytes = encode_batches(&fr.records, self.shared.config.records_per_batch)
                                .map_err(|e| format!("backend returned records that cannot be encoded: {e}"))?;
                            total += bytes.len();
                            budget = budget.saturating_sub(bytes.len()).max(1);
                            pd.records = Some(bytes.freeze());
                        }
                        Err(e) => pd.error_code = self.code(&e),
                    }
                }
                errors |= pd.error_code != err::NONE;
                tr.partitions.push(pd);
            }
            r.responses.push(tr);
        }
        Ok((r, total, errors))
    }

    async fn fetch(&self, req: FetchRequest) -> Result<Bytes, String> {
        let visible = self.visible();
        let wait = Duration::from_millis(u64::try_from(req.max_wait_ms.clamp(0, 60_000)).unwrap_or(0));
        let deadline = Instant::now() + wait;
        let min_bytes = usize::try_from(req.min_bytes).unwrap_or(0).max(1);
        let notify = req
            .topics
            .iter()
            .filter(|t| visible.iter().any(|v| v.as_str() == t.topic.0.as_str()))
            .find_map(|t| self.backend().data_notify(t.topic.0.as_str()));
        loop {
            // Arm the notification before looking, so an append between the look and the wait is not missed.
            let mut notified = notify.as_ref().map(|n| Box::pin(n.notified()));
            if let Some(n) = notified.as_mut() {
                n.as_mut().enable();
            }
            let (r, bytes, errors) = self.fetch_once(&req, &visible)?;
            let now = Instant::now();
            if bytes >= min_bytes || errors || now >= deadline {
                return self.respond(&r);
            }
            let remaining = deadline - now;
            match notified {
                Some(n) => {
                    let _ = tokio::time::timeout(remaining, n).await;
                }
                None => tokio::time::sleep(remaining.min(self.shared.config.fetch_poll_interval)).await,
            }
        }
    }

    fn coordinator_for(&self, key_type: i8, key: &str) -> (i16, i32, String, i32) {
        if key_type != 0 {
            (err::COORDINATOR_NOT_AVAILABLE, -1, String::new(), -1)
        } else if !self.backend().may_use_group(self.principal, key) {
            (err::GROUP_AUTHORIZATION_FAILED, -1, String::new(), -1)
        } else {
            (err::NONE, self.shared.config.node_id, self.shared.config.advertised_host.clone(), self.shared.port)
        }
    }

    fn find_coordinator(&self, req: FindCoordinatorRequest) -> Result<Bytes, String> {
        let mut r = FindCoordinatorResponse::default();
        if self.version >= 4 {
            for key in &req.coordinator_keys {
                let (code, node, host, port) = self.coordinator_for(req.key_type, key.as_str());
                let mut c = CoordinatorEntry::default();
                c.key = key.clone();
                c.error_code = code;
                c.node_id = BrokerId(node);
                c.host = s(&host);
                c.port = port;
                r.coordinators.push(c);
            }
        } else {
            let (code, node, host, port) = self.coordinator_for(req.key_type, req.key.as_str());
            r.error_code = code;
            r.node_id = BrokerId(node);
            r.host = s(&host);
            r.port = port;
        }
        self.respond(&r)
    }

    fn group_allowed(&self, group: &GroupId) -> bool {
        self.backend().may_use_group(self.principal, group.0.as_str())
    }

    async fn join_group(&self, req: JoinGroupRequest, client_id: String) -> Result<Bytes, String> {
        let mut r = JoinGroupResponse::default();
        r.generation_id = -1;
        r.member_id = req.member_id.clone();
        r.protocol_name = if self.version >= 7 { None } else { Some(s("")) };
        if req.group_id.0.is_empty() {
            r.error_code = err::INVALID_GROUP_ID;
            return self.respond(&r);
        }
        if !self.group_allowed(&req.group_id) {
            r.error_code = err::GROUP_AUTHORIZATION_FAILED;
            return self.respond(&r);
        }
        let ms = |v: i32| Duration::from_millis(u64::try_from(v).unwrap_or(0));
        let rebalance = if self.version >= 1 && req.rebalance_timeout_ms > 0 {
            req.rebalance_timeout_ms
        } else {
            req.session_timeout_ms
        };
        let join = JoinRequest {
            group: req.group_id.0.to_string(),
            member_id: req.member_id.to_string(),
            client_id,
            session_timeout: ms(req.session_timeout_ms),
            rebalance_timeout: ms(rebalance),
            protocol_type: req.protocol_type.to_string(),
            protocols: req.protocols.iter().map(|p| (p.name.to_string(), p.metadata.clone())).collect(),
        };
        let outcome = match self.shared.groups.join(join, Instant::now()) {
            Pending::Now(o) => o,
            Pending::Later(rx) => rx.await.map_err(|_| "group coordinator dropped a JoinGroup".to_string())?,
        };
        r.error_code = outcome.error;
        r.generation_id = outcome.generation;
        if self.version >= 7 {
            r.protocol_type = outcome.protocol_type.map(|p| s(&p));
            r.protocol_name = outcome.protocol_name.map(|p| s(&p));
        } else {
            r.protocol_name = Some(s(&outcome.protocol_name.unwrap_or_default()));
        }
        r.leader = s(&outcome.leader);
        r.member_id = s(&outcome.member_id);
        r.members = outcome
            .members
            .into_iter()
            .map(|(id, md)| {
                let mut m = JoinGroupResponseMember::default();
                m.member_id = s(&id);
                m.metadata = md;
                m
            })
            .collect();
        self.respond(&r)
    }

    async fn sync_group(&self, req: SyncGroupRequest) -> Result<Bytes, String> {
        let mut r = SyncGroupResponse::default();
        if !self.group_allowed(&req.group_id) {
            r.error_code = err::GROUP_AUTHORIZATION_FAILED;
            return self.respond(&r);
        }
        let assignments = req.assignments.iter().map(|a| (a.member_id.to_string(), a.assignment.clone())).collect();
        let pending =
            self.shared.groups.sync(req.group_id.0.as_str(), req.generation_id, req.member_id.as_str(), assignments, Instant::now());
        let outcome = match pending {
            Pending::Now(o) => o,
            Pending::Later(rx) => rx.await.map_err(|_| "group coordinator dropped a SyncGroup".to_string())?,
        };
        r.error_code = outcome.error;
        if self.version >= 5 {
            r.protocol_type = outcome.protocol_type.map(|p| s(&p));
            r.protocol_name = outcome.protocol_name.map(|p| s(&p));
        }
        r.assignment = outcome.assignment;
        self.respond(&r)
    }

    fn heartbeat(&self, req: HeartbeatRequest) -> Result<Bytes, String> {
        let mut r = HeartbeatResponse::default();
        r.error_code = if self.group_allowed(&req.group_id) {
            self.shared.groups.heartbeat(req.group_id.0.as_str(), req.generation_id, req.member_id.as_str(), Instant::now())
        } else {
            err::GROUP_AUTHORIZATION_FAILED
        };
        self.respond(&r)
    }

    fn leave_group(&self, req: LeaveGroupRequest) -> Result<Bytes, String> {
        let mut r = LeaveGroupResponse::default();
        if !self.group_allowed(&req.group_id) {
            r.error_code = err::GROUP_AUTHORIZATION_FAILED;
            return self.respond(&r);
        }
        let group = req.group_id.0.as_str();
        if self.version >= 3 {
            for m in &req.members {
                let mut mr = MemberResponse::default();
                mr.member_id = m.member_id.clone();
                mr.group_instance_id = m.group_instance_id.clone();
                mr.error_code = self.shared.groups.leave(group, m.member_id.as_str(), Instant::now());
                r.members.push(mr);
            }
        } else {
            r.error_code = self.shared.groups.leave(group, req.member_id.as_str(), Instant::now());
        }
        self.respond(&r)
    }

    fn offset_commit(&self, req: OffsetCommitRequest) -> Result<Bytes, String> {
        let group = req.group_id.0.as_str();
        let visible = self.visible();
        let gate = if !self.group_allowed(&req.group_id) {
            err::GROUP_AUTHORIZATION_FAILED
        } else {
            self.shared.groups.validate_commit(group, req.generation_id_or_member_epoch, req.member_id.as_str(), Instant::now())
        };
        let mut r = OffsetCommitResponse::default();
        for t in &req.topics {
            let name = t.name.0.as_str();
            let mut tr = OffsetCommitResponseTopic::default();
            tr.name = t.name.clone();
            for p in &t.partitions {
                let mut pr = OffsetCommitResponsePartition::default();
                pr.partition_index = p.partition_index;
                pr.error_code = if gate != err::NONE {
                    gate
                } else if !visible.iter().any(|v| v == name) {
                    err::TOPIC_AUTHORIZATION_FAILED
                } else if p.partition_index != 0 {
                    err::UNKNOWN_TOPIC_OR_PARTITION
                } else {
                    let md = p.committed_metadata.as_ref().map(|m| m.as_str()).unwrap_or("");
                    match self.backend().commit_offset(self.principal, group, name, p.committed_offset, md) {
                        Ok(()) => err::NONE,
                        Err(e) => self.code(&e),
                    }
                };
                tr.partitions.push(pr);
            }
            r.topics.push(tr);
        }
        self.respond(&r)
    }

    fn offset_fetch(&self, req: OffsetFetchRequest) -> Result<Bytes, String> {
        let group = req.group_id.0.as_str();
        let visible = self.visible();
        let mut r = OffsetFetchResponse::default();
        let allowed = self.group_allowed(&req.group_id);
        if !allowed && self.version >= 2 {
            r.error_code = err::GROUP_AUTHORIZATION_FAILED;
            return self.respond(&r);
        }
        let wanted: Vec<(TopicName, Vec<i32>)> = match &req.topics {
            Some(ts) => ts.iter().map(|t| (t.name.clone(), t.partition_indexes.clone())).collect(),
            // null (v2+): every topic the group has committed offsets for
            None => visible
                .iter()
                .filter(|t| matches!(self.backend().committed_offset(self.principal, group, t), Ok(Some(_))))
                .map(|t| (TopicName(s(t)), vec![0]))
                .collect(),
        };
        for (name, partitions) in wanted {
            let mut tr = OffsetFetchResponseTopic::default();
            tr.name = name.clone();
            for idx in partitions {
                let mut pr = OffsetFetchResponsePartition::default();
                pr.partition_index = idx;
                pr.committed_offset = -1;
                pr.committed_leader_epoch = -1;
                pr.metadata = Some(s(""));
                if !allowed {
                    pr.error_code = err::GROUP_AUTHORIZATION_FAILED;
                } else if !visible.iter().any(|v| v.as_str() == name.0.as_str()) {
                    pr.error_code = err::TOPIC_AUTHORIZATION_FAILED;
                } else if idx != 0 {
                    pr.error_code = err::UNKNOWN_TOPIC_OR_PARTITION;
                } else {
                    match self.backend().committed_offset(self.principal, group, name.0.as_str()) {
                        Ok(Some(o)) => pr.committed_offset = o,
                        Ok(None) => {}
                        Err(e) => pr.error_code = self.code(&e),
                    }
                }
                tr.partitions.push(pr);
            }
            r.topics.push(tr);
        }
        self.respond(&r)
    }
}
