//! A Kafka-protocol server over an in-memory backend, for the Python client tests and for trying clients by hand.
//!
//! `cargo run -p opendts-kafka --example demo -- --port 0 [--append-every-ms N]`
//!
//! Users: `u1`/`p1` reads topic `dts_topic_a` (300 records), `u2`/`p2` reads `dts_topic_b` (200 records). Record i
//! of a topic has key `k<i>`, value `<a|b>-<i>` and timestamp 1_700_000_000_000 + i·1000 ms. With
//! `--append-every-ms N`, one more record is appended to `dts_topic_a` every N ms (timestamp: now). Prints
//! `LISTENING <port>` on stdout once it accepts connections.

use opendts_kafka::memory::MemoryBackend;
use opendts_kafka::{serve, ServerConfig};
use std::io::Write;
use std::sync::Arc;

pub const BASE_TS: i64 = 1_700_000_000_000;

fn arg(name: &str) -> Option<u64> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let port = arg("--port").unwrap_or(0);
    let backend = Arc::new(MemoryBackend::new());
    backend.add_user("u1", "p1", "dts_topic_a");
    backend.add_user("u2", "p2", "dts_topic_b");
    for i in 0..300i64 {
        backend.append("dts_topic_a", Some(format!("k{i}").into_bytes()), format!("a-{i}").into_bytes(), BASE_TS + i * 1000);
    }
    for i in 0..200i64 {
        backend.append("dts_topic_b", Some(format!("k{i}").into_bytes()), format!("b-{i}").into_bytes(), BASE_TS + i * 1000);
    }
    if let Some(every) = arg("--append-every-ms").filter(|n| *n > 0) {
        let b = Arc::clone(&backend);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(every));
            loop {
                tick.tick().await;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0);
                b.append("dts_topic_a", None, format!("live-{now}").into_bytes(), now);
            }
        });
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port as u16)).await?;
    let bound = listener.local_addr()?.port();
    let mut out = std::io::stdout();
    writeln!(out, "LISTENING {bound}")?;
    out.flush()?;
    serve(listener, backend, ServerConfig::default()).await
}
