//! `opendts serve`: the API server and the job engine in one process.

use crate::DataDirArg;
use opendts_api::{router, ApiConfig, AppState};
use opendts_engine::{Engine, PipelineConfig};
use opendts_store::Store;
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    dir: DataDirArg,
    /// Address to listen on.
    #[arg(long, env = "OPENDTS_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// DescribeDtsJobs calls allowed per second per AccessKey and region.
    #[arg(long, env = "OPENDTS_DESCRIBE_JOBS_RATE_LIMIT", default_value_t = 20)]
    describe_jobs_rate_limit: u32,
    /// Chunks a full load copies at the same time (at most two per PostgreSQL destination table).
    #[arg(long, env = "OPENDTS_FULL_LOAD_WORKERS", default_value_t = PipelineConfig::default().full_load_workers)]
    full_load_workers: usize,
    /// Rows per full-load chunk (the unit of resume).
    #[arg(long, env = "OPENDTS_CHUNK_ROWS", default_value_t = PipelineConfig::default().chunk_rows)]
    chunk_rows: u64,
    /// Rows per write statement.
    #[arg(long, env = "OPENDTS_BATCH_ROWS", default_value_t = PipelineConfig::default().batch_rows)]
    batch_rows: usize,
    /// Hours a subscription's change log keeps records.
    #[arg(long, env = "OPENDTS_CHANGE_LOG_RETENTION_HOURS", default_value_t = PipelineConfig::default().change_log_retention_hours)]
    change_log_retention_hours: u32,
    /// Address of the Kafka-protocol endpoint that serves subscriptions to consumers (port 0: any free port).
    #[arg(long, env = "OPENDTS_KAFKA_LISTEN", default_value = "127.0.0.1:18001")]
    kafka_listen: SocketAddr,
    /// Host name consumers are told to connect to (default: the listen address, or 127.0.0.1 for 0.0.0.0).
    #[arg(long, env = "OPENDTS_KAFKA_ADVERTISED_HOST")]
    kafka_advertised_host: Option<String>,
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("OPENDTS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();
}

pub fn run(args: ServeArgs) -> Result<(), String> {
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(serve(args))
}

/// Starts the Kafka-protocol endpoint of subscriptions; returns the
/// `host:port` consumers connect to.
async fn start_kafka_endpoint(args: &ServeArgs, engine: &Arc<Engine>) -> Result<String, String> {
    let listener = tokio::net::TcpListener::bind(args.kafka_listen)
        .await
        .map_err(|e| format!("cannot listen for Kafka consumers on {}: {e}", args.kafka_listen))?;
    let bound = listener.local_addr().map_err(|e| format!("Kafka endpoint: {e}"))?;
    let host = args.kafka_advertised_host.clone().unwrap_or_else(|| {
        if bound.ip().is_unspecified() { "127.0.0.1".to_string() } else { bound.ip().to_string() }
    });
    let config = opendts_kafka::ServerConfig { advertised_host: host.clone(), ..opendts_kafka::ServerConfig::default() };
    let backend = Arc::new(opendts_engine::consumers::SubscriptionBackend::new(engine));
    tokio::spawn(async move {
        if let Err(e) = opendts_kafka::serve(listener, backend, config).await {
            tracing::error!(error = %e, "the Kafka endpoint stopped");
        }
    });
    tracing::info!(listen = %bound, "Kafka endpoint for subscriptions is ready");
    Ok(format!("{host}:{}", bound.port()))
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let store = Arc::new(Store::open(&args.dir.data_dir).map_err(|e| e.to_string())?);
    let pipeline = PipelineConfig {
        full_load_workers: args.full_load_workers.max(1),
        chunk_rows: args.chunk_rows.max(1),
        batch_rows: args.batch_rows.max(1),
        change_log_retention_hours: args.change_log_retention_hours.max(1),
    };
    let engine = Engine::with_config(store.clone(), pipeline);
    let subscription_host = start_kafka_endpoint(&args, &engine).await?;
    let resumed = engine.resume_all().map_err(|e| e.to_string())?;
    let config = ApiConfig { describe_jobs_rate: args.describe_jobs_rate_limit, subscription_host: Some(subscription_host) };
    let state = Arc::new(AppState::new(store, engine.clone(), &config));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    tracing::info!(
        listen = %args.listen,
        data_dir = %args.dir.data_dir.display(),
        resumed_jobs = resumed,
        "OpenDTS is ready"
    );
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))?;
    engine.shutdown();
    tracing::info!("OpenDTS stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
