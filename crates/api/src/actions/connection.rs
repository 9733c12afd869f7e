//! DescribeConnectionStatus: probes both endpoints now (seed 000).

use super::{fields, Ctx, Fields};
use crate::error::ApiError;
use crate::params::Params;
use opendts_core::endpoint::Endpoint;
use opendts_core::probe::{FailureKind, ProbeReport};
use opendts_core::secret::Secret;
use serde_json::{json, Value};

fn endpoint(p: &Params, prefix: &str) -> Result<Endpoint, ApiError> {
    let key = |s: &str| format!("{prefix}{s}");
    let instance_type = p.required(&key("InstanceType"))?.to_string();
    let port = p.opt_string(&key("Port"));
    if !port.is_empty() && !matches!(port.trim().parse::<u32>(), Ok(1..=65535)) {
        return Err(ApiError::invalid(&key("Port"), "Must be a port number between 1 and 65535."));
    }
    Ok(Endpoint {
        instance_type,
        engine_name: p.opt(&key("EngineName")).unwrap_or("MySQL").to_string(),
        instance_id: p.opt_string(&key("InstanceID")),
        region: p.opt_string(&key("Region")),
        ip: p.opt_string(&key("IP")),
        port: port.trim().to_string(),
        database_name: p.first(&[&key("DatabaseName"), &key("DataBaseName")]).unwrap_or_default().to_string(),
        user_name: p.opt_string(&key("UserName")),
        oracle_sid: p.opt_string(&key("OracleSID")),
        password: Secret::new(p.get(&key("Password")).unwrap_or_default()),
        ..Endpoint::default()
    })
}

fn status(ep: &Endpoint, report: &ProbeReport) -> Value {
    let failure = report.failure();
    let unsupported = failure.is_some_and(|f| f.failure == Some(FailureKind::NotSupported));
    let details = if unsupported {
        Vec::new()
    } else {
        vec![
            json!({"testName": opendts_engine::driver_test_name(ep), "testSuccess": report.passed()}),
            json!({"testName": "Telnet ", "testSuccess": report.tcp.passed}),
        ]
    };
    let advice = match failure {
        None => String::new(),
        Some(f) => format!("{} ({})", f.failure.unwrap_or(FailureKind::Other).advice(), f.detail),
    };
    json!({"connectDetail": details, "connectRes": report.passed(), "connectAdvice": advice})
}

pub async fn describe_connection_status(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    let source = endpoint(p, "SourceEndpoint")?;
    let destination = endpoint(p, "DestinationEndpoint")?;
    let (src, dest) = tokio::join!(ctx.state.engine.probe(&source), ctx.state.engine.probe(&destination));
    Ok(fields([
        ("SourceConnectionStatus", status(&source, &src)),
        ("DestinationConnectionStatus", status(&destination, &dest)),
        ("Success", json!(true)),
    ]))
}
