//! The server on a real socket, driven with the kafka-protocol crate's client-side codecs: the authentication
//! gate, ApiVersions (flexible v3 and the unsupported-version answer), SASL, Metadata/Fetch/ListOffsets in
//! flexible versions, Fetch waiting for new data, refusals, and malformed frames.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    fetch_request::{FetchPartition, FetchTopic},
    list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic},
    metadata_request::MetadataRequestTopic,
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, FetchRequest, FetchResponse, ListOffsetsRequest,
    ListOffsetsResponse, MetadataRequest, MetadataResponse, RequestHeader, ResponseHeader, SaslAuthenticateRequest,
    SaslAuthenticateResponse, SaslHandshakeRequest, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use kafka_protocol::records::RecordBatchDecoder;
use opendts_kafka::memory::MemoryBackend;
use opendts_kafka::{serve, ServerConfig, SUPPORTED_APIS};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start() -> (String, Arc<MemoryBackend>) {
    let backend = Arc::new(MemoryBackend::new());
    backend.add_user("u1", "p1", "ta");
    backend.add_user("u2", "p2", "tb");
    for i in 0..10 {
        backend.append("ta", None, format!("v{i}").into_bytes(), 1000 + i * 10);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let b: Arc<dyn opendts_kafka::Backend> = backend.clone();
    tokio::spawn(serve(listener, b, ServerConfig::default()));
    (addr, backend)
}

struct Client {
    sock: TcpStream,
    corr: i32,
}

impl Client {
    async fn connect(addr: &str) -> Self {
        Client { sock: TcpStream::connect(addr).await.unwrap(), corr: 0 }
    }

    async fn send_raw(&mut self, frame: &[u8]) {
        self.sock.write_all(&(frame.len() as i32).to_be_bytes()).await.unwrap();
        self.sock.write_all(frame).await.unwrap();
    }

    /// None: the server closed the connection.
    async fn read_frame(&mut self) -> Option<Bytes> {
        let mut len = [0u8; 4];
        self.sock.read_exact(&mut len).await.ok()?;
        let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
        self.sock.read_exact(&mut buf).await.ok()?;
        Some(Bytes::from(buf))
    }

    async fn call<R: Request>(&mut self, req: &R, version: i16) -> Option<R::Response> {
        self.corr += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.corr)
            .with_client_id(Some(StrBytes::from_static_str("rust-test")));
        let mut buf = BytesMut::new();
        header.encode(&mut buf, R::header_version(version)).unwrap();
        req.encode(&mut buf, version).unwrap();
        self.send_raw(&buf).await;
        let mut frame = self.read_frame().await?;
        let h = ResponseHeader::decode(&mut frame, R::Response::header_version(version)).unwrap();
        assert_eq!(h.correlation_id, self.corr);
        let resp = R::Response::decode(&mut frame, version).unwrap();
        assert!(!frame.has_remaining(), "trailing bytes in response");
        Some(resp)
    }

    async fn login(&mut self, user: &str, pass: &str) -> i16 {
        let hs = self.call(&SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")), 1).await.unwrap();
        assert_eq!(hs.error_code, 0);
        let token = Bytes::from(format!("\0{user}\0{pass}").into_bytes());
        let r: SaslAuthenticateResponse = self.call(&SaslAuthenticateRequest::default().with_auth_bytes(token), 2).await.unwrap();
        r.error_code
    }
}

fn fetch_req(topic: &str, offset: i64, max_wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default().with_topic(TopicName(StrBytes::from_string(topic.into()))).with_partitions(
            vec![FetchPartition::default().with_partition(0).with_fetch_offset(offset).with_partition_max_bytes(1 << 20)],
        )])
}

#[tokio::test]
async fn api_versions_and_the_authentication_gate() {
    let (addr, _) = start().await;
    let mut c = Client::connect(&addr).await;
    let v: ApiVersionsResponse = c.call(&ApiVersionsRequest::default(), 3).await.unwrap();
    assert_eq!(v.error_code, 0);
    let mut listed: Vec<_> = v.api_keys.iter().map(|k| (k.api_key, k.min_version, k.max_version)).collect();
    let mut want: Vec<_> = SUPPORTED_APIS.iter().map(|(k, a, b)| (*k as i16, *a, *b)).collect();
    listed.sort();
    want.sort();
    assert_eq!(listed, want);
    // Anything but ApiVersions/SASL before login closes the connection.
    assert!(c.call(&MetadataRequest::default(), 12).await.is_none());

    // ApiVersions v4 (newer than served): a v0 answer with UNSUPPORTED_VERSION and the list.
    let mut c = Client::connect(&addr).await;
    let mut buf = BytesMut::new();
    RequestHeader::default().with_request_api_key(ApiKey::ApiVersions as i16).with_request_api_version(4).with_correlation_id(7)
        .encode(&mut buf, 2).unwrap();
    ApiVersionsRequest::default().encode(&mut buf, 4).unwrap();
    c.send_raw(&buf).await;
    let mut f = c.read_frame().await.unwrap();
    assert_eq!(f.get_i32(), 7);
    let v = ApiVersionsResponse::decode(&mut f, 0).unwrap();
    assert_eq!((v.error_code, v.api_keys.len()), (35, SUPPORTED_APIS.len()));

    // Wrong password: SASL_AUTHENTICATION_FAILED, then the connection is closed.
    let mut c = Client::connect(&addr).await;
    assert_eq!(c.login("u1", "nope").await, 58);
    assert!(c.read_frame().await.is_none());
}

#[tokio::test]
async fn metadata_list_offsets_fetch_and_refusals() {
    let (addr, backend) = start().await;
    let mut c = Client::connect(&addr).await;
    assert_eq!(c.login("u1", "p1").await, 0);

    let all: MetadataResponse = c.call(&MetadataRequest::default().with_topics(None), 12).await.unwrap();
    assert_eq!(all.topics.len(), 1);
    assert_eq!(all.topics[0].name.as_ref().unwrap().0.as_str(), "ta");
    assert_eq!(all.brokers[0].port, addr.rsplit(':').next().unwrap().parse::<i32>().unwrap());
    let named = |n: &str| MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_string(n.into()))));
    let other: MetadataResponse = c.call(&MetadataRequest::default().with_topics(Some(vec![named("tb")])), 12).await.unwrap();
    assert_eq!(other.topics[0].error_code, 29);
    let other: MetadataResponse = c.call(&MetadataRequest::default().with_topics(Some(vec![named("tb")])), 1).await.unwrap();
    assert_eq!(other.topics[0].error_code, 29, "non-flexible version too");

    let lo = |ts: i64| {
        ListOffsetsRequest::default().with_replica_id(kafka_protocol::messages::BrokerId(-1)).with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("ta")))
            .with_partitions(vec![ListOffsetsPartition::default().with_partition_index(0).with_timestamp(ts)])])
    };
    for (ts, want) in [(-2, (0, -1)), (-1, (10, -1)), (1035, (4, 1040)), (9999, (-1, -1))] {
        let r: ListOffsetsResponse = c.call(&lo(ts), 7).await.unwrap();
        let p = &r.topics[0].partitions[0];
        assert_eq!((p.error_code, p.offset, p.timestamp), (0, want.0, want.1), "timestamp {ts}");
    }

    let r: FetchResponse = c.call(&fetch_req("ta", 3, 0), 12).await.unwrap();
    let p = &r.responses[0].partitions[0];
    assert_eq!((p.error_code, p.high_watermark), (0, 10));
    let mut recs = p.records.clone().unwrap();
    let offsets: Vec<i64> =
        RecordBatchDecoder::decode_all(&mut recs).unwrap().into_iter().flat_map(|s| s.records).map(|r| r.offset).collect();
    assert_eq!(offsets, (3..10).collect::<Vec<_>>());

    // Other user's topic: refused per partition. Out of range: OFFSET_OUT_OF_RANGE.
    let r: FetchResponse = c.call(&fetch_req("tb", 0, 0), 12).await.unwrap();
    assert_eq!(r.responses[0].partitions[0].error_code, 29);
    let r: FetchResponse = c.call(&fetch_req("ta", 11, 0), 4).await.unwrap();
    assert_eq!(r.responses[0].partitions[0].error_code, 1);

    // At the end of the log Fetch waits up to max_wait_ms...
    let t = Instant::now();
    let r: FetchResponse = c.call(&fetch_req("ta", 10, 300), 12).await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(290));
    assert!(r.responses[0].partitions[0].records.as_ref().unwrap().is_empty());
    // ...and answers as soon as a record is appended.
    let b = backend.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        b.append("ta", None, b"late".to_vec(), 5000);
    });
    let t = Instant::now();
    let r: FetchResponse = c.call(&fetch_req("ta", 10, 5000), 12).await.unwrap();
    assert!(t.elapsed() < Duration::from_millis(2000), "waited {:?}", t.elapsed());
    let mut recs = r.responses[0].partitions[0].records.clone().unwrap();
    let got = RecordBatchDecoder::decode_all(&mut recs).unwrap();
    assert_eq!(got[0].records[0].value.as_deref(), Some(&b"late"[..]));
}

#[tokio::test]
async fn malformed_requests_close_only_their_connection() {
    let (addr, _) = start().await;
    // Unknown API key.
    let mut c = Client::connect(&addr).await;
    c.send_raw(&[0x7f, 0x00, 0, 0, 0, 0, 0, 1]).await;
    assert!(c.read_frame().await.is_none());
    // Truncated SaslHandshake body (string length says 100, 2 bytes follow).
    let mut c = Client::connect(&addr).await;
    let mut buf = BytesMut::new();
    buf.put_i16(17);
    buf.put_i16(1);
    buf.put_i32(1);
    buf.put_i16(-1);
    buf.put_i16(100);
    buf.put_slice(b"PL");
    c.send_raw(&buf).await;
    assert!(c.read_frame().await.is_none());
    // Absurd frame size.
    let mut c = Client::connect(&addr).await;
    c.sock.write_all(&i32::MAX.to_be_bytes()).await.unwrap();
    assert!(c.read_frame().await.is_none());
    // The server still serves.
    let mut c = Client::connect(&addr).await;
    assert_eq!(c.login("u2", "p2").await, 0);
}
