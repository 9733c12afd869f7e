//! ACS3-HMAC-SHA256, the header-based scheme the new Tea SDK uses by default.
//!
//! ```text
//! Authorization: ACS3-HMAC-SHA256 Credential=<AK>,SignedHeaders=<h1;h2;..>,Signature=<hex>
//! canonical_request = METHOD \n URI \n canonical_query \n canonical_headers \n signed_headers \n payload_hash
//! string_to_sign    = "ACS3-HMAC-SHA256\n" + hex(sha256(canonical_request))
//! signature         = hex(HMAC-SHA256(key = secret, string_to_sign))
//! ```
//!
//! Quirks taken from `alibabacloud_tea_openapi/utils.py` (`get_authorization`):
//! * the query is canonicalised from the *decoded* parameters; values are encoded with
//!   `quote(v, safe='~')` (space `%20`, `*` `%2A`), empty values kept as `key=`; the Python
//!   SDK does **not** encode keys and sorts on the raw key, while the published spec (and the
//!   Java/Go SDKs) encode them. Both give the same result for every DTS parameter name; for
//!   other keys the spec form is tried first, then the Python form;
//! * the Python SDK signs *every* header it sends (`accept`, `host`, `user-agent`, all
//!   `x-acs-*`...), lower-cased, values trimmed, repeated values sorted and joined with `,`;
//!   `canonical_headers` is `name:value\n` per header, so a blank line follows it;
//! * the payload hash is hex SHA-256 of the body, also sent as `x-acs-content-sha256`;
//! * STS credentials add `x-acs-security-token` and `x-acs-accesskey-id` (both signed).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::canonical::{header, header_values, parse_urlencoded, percent_encode};
use super::{AuthError, Claimed, SignatureScheme, SignedRequest};

/// The only accepted ACS3 algorithm.
pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// The parts of an `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub credential: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Parses `ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..`.
///
/// Whitespace around the `,`-separated parts is tolerated (some SDKs write `, `).
pub fn parse_authorization(value: &str) -> Result<Authorization, AuthError> {
    let value = value.trim();
    let (algorithm, rest) = value.split_once(' ').unwrap_or((value, ""));
    if algorithm != ALGORITHM {
        return Err(AuthError::UnsupportedSignatureMethod(algorithm.to_string()));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, val)) = part.split_once('=') else {
            return Err(AuthError::IncompleteSignature(format!(
                "malformed Authorization component \"{part}\""
            )));
        };
        let val = val.trim();
        match key.trim() {
            "Credential" => credential = Some(val),
            "SignedHeaders" => signed_headers = Some(val),
            "Signature" => signature = Some(val),
            _ => {}
        }
    }
    let present = |v: Option<&str>, name: &str| match v {
        Some(v) if !v.is_empty() => Ok(v.to_string()),
        _ => Err(AuthError::MissingParameter(name.to_string())),
    };
    let credential = present(credential, "Credential")?;
    let signed_headers = present(signed_headers, "SignedHeaders")?
        .split(';')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    let signature = present(signature, "Signature")?;
    Ok(Authorization {
        credential,
        signed_headers,
        signature,
    })
}

fn required_header(req: &SignedRequest, name: &str) -> Result<String, AuthError> {
    match header(req.headers, name) {
        Some(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
        _ => Err(AuthError::MissingParameter(name.to_string())),
    }
}

/// Reads the claim from the `Authorization` header value `authorization`.
///
/// Requires `x-acs-date` and `x-acs-signature-nonce`, and refuses a request that carries an
/// `x-acs-*` header it did not sign: otherwise the nonce, date or security token could be
/// swapped on a captured request without breaking its signature.
pub fn extract_claim(req: &SignedRequest, authorization: &str) -> Result<Claimed, AuthError> {
    let auth = parse_authorization(authorization)?;
    let timestamp = required_header(req, "x-acs-date")?;
    let nonce = required_header(req, "x-acs-signature-nonce")?;
    if let Some((name, _)) = req.headers.iter().find(|(name, _)| {
        let name = name.to_ascii_lowercase();
        name.starts_with("x-acs-") && !auth.signed_headers.contains(&name)
    }) {
        return Err(AuthError::IncompleteSignature(format!(
            "header \"{name}\" must be included in SignedHeaders"
        )));
    }
    let security_token = header(req.headers, "x-acs-security-token")
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    Ok(Claimed {
        scheme: SignatureScheme::Acs3HmacSha256,
        access_key_id: auth.credential,
        signature: auth.signature,
        nonce: Some(nonce),
        timestamp: Some(timestamp),
        security_token,
        signed_headers: auth.signed_headers,
    })
}

/// How query keys are written in the canonical query (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyStyle {
    /// Keys percent-encoded and sorted encoded, as the published spec says.
    Encoded,
    /// Keys left raw and sorted raw, as the Python SDK does.
    Raw,
}

fn canonical_query(raw_query: &str, style: KeyStyle) -> String {
    let mut pairs: Vec<(String, String)> = parse_urlencoded(raw_query.as_bytes())
        .into_iter()
        .map(|(k, v)| {
            let key = match style {
                KeyStyle::Encoded => percent_encode(&k),
                KeyStyle::Raw => String::from_utf8_lossy(&k).into_owned(),
            };
            (key, percent_encode(&v))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `name:value\n` for each signed header, in the declared order.
fn canonical_headers(req: &SignedRequest, signed_headers: &[String]) -> String {
    signed_headers
        .iter()
        .map(|name| {
            let mut values: Vec<&str> = header_values(req.headers, name)
                .into_iter()
                .map(str::trim)
                .collect();
            values.sort_unstable();
            format!("{name}:{}\n", values.join(","))
        })
        .collect()
}

fn string_to_sign_with(req: &SignedRequest, claim: &Claimed, style: KeyStyle) -> String {
    let uri = if req.path.is_empty() { "/" } else { req.path };
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        uri,
        canonical_query(req.raw_query, style),
        canonical_headers(req, &claim.signed_headers),
        claim.signed_headers.join(";"),
        hex::encode(Sha256::digest(req.body)),
    );
    format!(
        "{ALGORITHM}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

/// The server-side string to sign for `req` under `claim`'s signed headers.
///
/// The payload hash is always computed from the body actually received, never taken from
/// the `x-acs-content-sha256` header.
pub fn string_to_sign(req: &SignedRequest, claim: &Claimed) -> String {
    string_to_sign_with(req, claim, KeyStyle::Encoded)
}

fn signature_matches(string_to_sign: &str, secret: &str, claimed: &[u8]) -> bool {
    match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(string_to_sign.as_bytes());
            mac.verify_slice(claimed).is_ok()
        }
        Err(_) => false,
    }
}

/// Recomputes the ACS3 signature and compares it in constant time.
///
/// Also refuses an `x-acs-content-sha256` header that is not the hash of the body received.
pub fn verify(req: &SignedRequest, claim: &Claimed, secret: &str) -> Result<(), AuthError> {
    let primary = string_to_sign(req, claim);
    let mismatch = || AuthError::SignatureDoesNotMatch {
        string_to_sign: primary.clone(),
    };
    let body_hash = hex::encode(Sha256::digest(req.body));
    if let Some(declared) = header(req.headers, "x-acs-content-sha256") {
        if !declared.trim().eq_ignore_ascii_case(&body_hash) {
            return Err(mismatch());
        }
    }
    let Ok(claimed) = hex::decode(claim.signature.trim()) else {
        return Err(mismatch());
    };
    if signature_matches(&primary, secret, &claimed) {
        return Ok(());
    }
    let encoded = canonical_query(req.raw_query, KeyStyle::Encoded);
    if encoded != canonical_query(req.raw_query, KeyStyle::Raw) {
        let python_style = string_to_sign_with(req, claim, KeyStyle::Raw);
        if signature_matches(&python_style, secret, &claimed) {
            return Ok(());
        }
    }
    Err(mismatch())
}

/// Computes the hex ACS3 signature of `string_to_sign` (for tests and the project's clients).
pub fn sign(string_to_sign: &str, secret: &str) -> String {
    match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(string_to_sign.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        }
        // HMAC accepts keys of any length; this arm cannot be reached.
        Err(_) => String::new(),
    }
}
