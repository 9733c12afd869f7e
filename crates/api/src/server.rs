//! The HTTP front: turns a request into parameters, authenticates it, runs the
//! action and renders the answer.

use crate::actions::{self, Ctx};
use crate::auth::{self, canonical, AuthError, SignedRequest};
use crate::error::ApiError;
use crate::guard::{NonceCache, Throttle, TIMESTAMP_WINDOW_MS};
use crate::params::Params;
use crate::render::{self, Format};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use opendts_core::timefmt;
use opendts_engine::JobControl;
use opendts_store::Store;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Instant;

/// The only API version this server speaks.
pub const API_VERSION: &str = "2020-01-01";
/// Region used when a request names none.
pub const DEFAULT_REGION: &str = "cn-hangzhou";

/// Settings of the control plane.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// DescribeDtsJobs calls per second per AccessKey per region (seed 001: 20).
    pub describe_jobs_rate: u32,
    /// `host:port` of the Kafka endpoint consumers of subscriptions connect
    /// to (`SubscriptionHost`), when it runs.
    pub subscription_host: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig { describe_jobs_rate: 20, subscription_host: None }
    }
}

/// Shared state of every request.
pub struct AppState {
    pub store: Arc<Store>,
    pub engine: Arc<dyn JobControl>,
    pub nonces: NonceCache,
    pub describe_throttle: Throttle,
    pub subscription_host: Option<String>,
}

impl AppState {
    pub fn new(store: Arc<Store>, engine: Arc<dyn JobControl>, config: &ApiConfig) -> AppState {
        AppState {
            store,
            engine,
            nonces: NonceCache::default(),
            describe_throttle: Throttle::new(config.describe_jobs_rate),
            subscription_host: config.subscription_host.clone(),
        }
    }
}

/// The router: every action is `GET /` or `POST /`.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new().route("/", any(handle)).with_state(state)
}

/// A new RequestId: an uppercase UUID-shaped random value.
fn new_request_id() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // Fall back on the clock: RequestIds must be unique, not secret.
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        b = n.to_le_bytes();
    }
    let h = hex::encode_upper(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

struct Parsed {
    params: Params,
    action: String,
    format: Format,
}

async fn handle(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let request_id = new_request_id();
    let host_id = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("opendts")
        .to_string();
    let header_list: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_string())))
        .collect();
    let raw_query = uri.query().unwrap_or("");
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let form_pairs = if is_form { canonical::parse_urlencoded_lossy(&body) } else { Vec::new() };
    let mut pairs = canonical::parse_urlencoded_lossy(raw_query.as_bytes());
    pairs.extend(form_pairs.iter().cloned());
    let params = Params::new(pairs);
    let header_value = |name: &str| header_list.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());

    // ACS3 callers name the action in a header; they always read JSON.
    let action = params
        .opt("Action")
        .or_else(|| header_value("x-acs-action"))
        .unwrap_or_default()
        .to_string();
    let format = match params.opt("Format") {
        Some(f) if f.eq_ignore_ascii_case("json") => Format::Json,
        Some(_) => Format::Xml,
        None if header_value("authorization").is_some() => Format::Json,
        None => Format::Xml,
    };
    let parsed = Parsed { params, action, format };
    let signed = SignedRequest {
        method: method.as_str(),
        path: uri.path(),
        raw_query,
        headers: &header_list,
        body: &body,
        form_params: &form_pairs,
    };

    let (owner, outcome) = match authenticate(&state, &signed, &parsed) {
        Ok(owner) => {
            let version = parsed.params.opt("Version").or_else(|| header_value("x-acs-version"));
            let outcome = match version {
                None => Err(ApiError::missing("Version")),
                Some(API_VERSION) => {
                    let region = parsed.params.opt("RegionId").unwrap_or(DEFAULT_REGION).to_string();
                    let ctx = Ctx { state: &state, owner: owner.clone(), region };
                    actions::dispatch(&ctx, &parsed.action, &parsed.params).await
                }
                Some(_) => Err(ApiError::new(400, "InvalidVersion", format!("Specified parameter Version is not valid; this server speaks {API_VERSION}."))),
            };
            (owner, outcome)
        }
        Err(e) => (String::new(), Err(e)),
    };

    let (status, text) = match outcome {
        Ok(fields) => (200, render::success_body(parsed.format, &parsed.action, &success_envelope(&request_id, fields))),
        Err(e) => (e.http_status, render::error_body(parsed.format, &error_envelope(&request_id, &host_id, &e))),
    };
    tracing::info!(
        request_id = %request_id,
        action = %parsed.action,
        access_key = %owner,
        status,
        elapsed_us = started.elapsed().as_micros() as u64,
        "request"
    );
    let mut response = (StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), text).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(parsed.format.content_type()));
    response
}

/// Checks the signature, the timestamp and the nonce; returns the AccessKey ID.
fn authenticate(state: &AppState, req: &SignedRequest<'_>, parsed: &Parsed) -> Result<String, ApiError> {
    let claim = auth::extract_claim(req).map_err(|e| auth_error(e, &parsed.params))?;
    if claim.security_token.is_some() {
        return Err(ApiError::new(
            403,
            "InvalidSecurityToken.NotSupported",
            "OpenDTS does not issue STS security tokens: sign requests with an AccessKey created by `opendts accesskey create`.",
        ));
    }
    let secret = state
        .store
        .secret_of(&claim.access_key_id)?
        .ok_or_else(|| ApiError::new(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."))?;
    auth::verify(req, &claim, secret.expose()).map_err(|e| auth_error(e, &parsed.params))?;

    let now = timefmt::now_millis();
    let timestamp = claim.timestamp.as_deref().ok_or_else(|| ApiError::missing("Timestamp"))?;
    let when = timefmt::parse_request_timestamp(timestamp)
        .ok_or_else(|| ApiError::new(400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted."))?;
    let when_ms = (when.unix_timestamp_nanos() / 1_000_000) as i64;
    if (now - when_ms).abs() > TIMESTAMP_WINDOW_MS {
        return Err(ApiError::new(
            400,
            "InvalidTimeStamp.Expired",
            format!("Specified time stamp or date value is expired. The request time {timestamp} is more than 15 minutes away from the server time {}.", timefmt::iso_seconds(now)),
        ));
    }
    let nonce = claim.nonce.as_deref().ok_or_else(|| ApiError::missing("SignatureNonce"))?;
    if !state.nonces.first_use(&claim.access_key_id, nonce, now) {
        return Err(ApiError::new(400, "SignatureNonceUsed", "Specified signature nonce was used already."));
    }
    if parsed.action.is_empty() {
        return Err(ApiError::missing("Action"));
    }
    Ok(claim.access_key_id)
}

fn auth_error(e: AuthError, params: &Params) -> ApiError {
    match e {
        AuthError::MissingParameter(name) => ApiError::missing(&name),
        AuthError::SignatureDoesNotMatch { string_to_sign } => ApiError::new(
            400,
            "SignatureDoesNotMatch",
            auth::signature_mismatch_message(&mask_passwords(&string_to_sign, params)),
        ),
        other => ApiError::new(400, &other.code(), other.to_string()),
    }
}

/// The server's string to sign echoes every parameter; database passwords
/// must not come back in a response, so their values (as they appear in the
/// string, encoded once or twice) are masked.
fn mask_passwords(string_to_sign: &str, params: &Params) -> String {
    let mut out = string_to_sign.to_string();
    for value in params.values_where(|name| name.to_ascii_lowercase().ends_with("password")) {
        if value.is_empty() {
            continue;
        }
        let once = canonical::percent_encode(value.as_bytes());
        let twice = canonical::percent_encode(once.as_bytes());
        for form in [twice, once, value.to_string()] {
            out = out.replace(&form, "******");
        }
    }
    out
}

fn success_envelope(request_id: &str, fields: Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::with_capacity(fields.len() + 3);
    out.insert("RequestId".into(), Value::String(request_id.into()));
    let has_success = fields.contains_key("Success");
    let has_status = fields.contains_key("HttpStatusCode");
    out.extend(fields);
    if !has_status {
        out.insert("HttpStatusCode".into(), Value::from(200));
    }
    if !has_success {
        out.insert("Success".into(), Value::Bool(true));
    }
    out
}

fn error_envelope(request_id: &str, host_id: &str, e: &ApiError) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("RequestId".into(), Value::String(request_id.into()));
    out.insert("HostId".into(), Value::String(host_id.into()));
    out.insert("Code".into(), Value::String(e.code.clone()));
    out.insert("Message".into(), Value::String(e.message.clone()));
    out.insert("Success".into(), Value::Bool(false));
    out.insert("ErrCode".into(), Value::String(e.code.clone()));
    out.insert("ErrMessage".into(), Value::String(e.err_message.clone()));
    out.insert("DynamicMessage".into(), Value::String(e.dynamic_message.clone()));
    out.insert("HttpStatusCode".into(), Value::from(e.http_status));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_in_the_string_to_sign() {
        let params = Params::new([("SourceEndpointPassword".to_string(), "p@ss w*rd".to_string())]);
        let sts = format!("GET&%2F&A%3D1%26SourceEndpointPassword%3D{}", canonical::percent_encode(canonical::percent_encode(b"p@ss w*rd").as_bytes()));
        let masked = mask_passwords(&sts, &params);
        assert_eq!(masked, "GET&%2F&A%3D1%26SourceEndpointPassword%3D******");
    }

    #[test]
    fn request_ids_are_unique_and_uuid_shaped() {
        let a = new_request_id();
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
        assert_ne!(a, new_request_id());
    }
}
