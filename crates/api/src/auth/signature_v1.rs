//! Signature v1 (`SignatureMethod=HMAC-SHA1`, `SignatureVersion=1.0`), the RPC-style scheme.
//!
//! Both the old `aliyunsdkcore` and the new Tea SDK (`signature_algorithm="v2"`) compute:
//!
//! ```text
//! string_to_sign = METHOD + "&" + "%2F" + "&" + percent_encode(canonical_query)
//! canonical_query = sorted "enc(key)=enc(value)" pairs joined with "&"
//! signature       = base64(HMAC-SHA1(key = secret + "&", string_to_sign))
//! ```
//!
//! over *all* query parameters *and* form-body parameters except `Signature` itself. Quirks
//! taken from the SDK sources:
//! * the path is always `/` (hard-coded `%2F`), whatever the request path is;
//! * pairs are sorted by the *unencoded* key (Python `sorted()` on the dict keys);
//! * empty values are signed as `key=` (the old SDK always sends `SignatureType=`);
//! * on the wire the new SDK encodes spaces as `+`, the old one as `%20`; both are decoded
//!   before re-encoding with the strict rules of [`canonical::percent_encode`].

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::canonical::{parse_urlencoded, percent_encode};
use super::{AuthError, Claimed, SignatureScheme, SignedRequest};

/// The only accepted `SignatureMethod`.
pub const SIGNATURE_METHOD: &str = "HMAC-SHA1";
/// The only accepted `SignatureVersion`.
pub const SIGNATURE_VERSION: &str = "1.0";

/// All parameters (query first, then form body) as decoded byte pairs.
fn all_params(req: &SignedRequest) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut params = parse_urlencoded(req.raw_query.as_bytes());
    params.extend(
        req.form_params
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec())),
    );
    params
}

/// The first non-empty value of parameter `name`, query before form body.
fn param(params: &[(Vec<u8>, Vec<u8>)], name: &str) -> Option<String> {
    params
        .iter()
        .find(|(k, v)| k.as_slice() == name.as_bytes() && !v.is_empty())
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
}

fn required(params: &[(Vec<u8>, Vec<u8>)], name: &str) -> Result<String, AuthError> {
    param(params, name).ok_or_else(|| AuthError::MissingParameter(name.to_string()))
}

/// Reads the v1 signing parameters; rejects anything but `HMAC-SHA1` / `1.0`.
pub fn extract_claim(req: &SignedRequest) -> Result<Claimed, AuthError> {
    let params = all_params(req);
    let access_key_id = required(&params, "AccessKeyId")?;
    let signature = required(&params, "Signature")?;
    let method = required(&params, "SignatureMethod")?;
    if method != SIGNATURE_METHOD {
        return Err(AuthError::UnsupportedSignatureMethod(format!(
            "SignatureMethod={method}"
        )));
    }
    let version = required(&params, "SignatureVersion")?;
    if version != SIGNATURE_VERSION {
        return Err(AuthError::UnsupportedSignatureMethod(format!(
            "SignatureVersion={version}"
        )));
    }
    let timestamp = required(&params, "Timestamp")?;
    let nonce = required(&params, "SignatureNonce")?;
    Ok(Claimed {
        scheme: SignatureScheme::V1HmacSha1,
        access_key_id,
        signature,
        nonce: Some(nonce),
        timestamp: Some(timestamp),
        security_token: param(&params, "SecurityToken"),
        signed_headers: Vec::new(),
    })
}

/// The server-side string to sign for `req`.
pub fn string_to_sign(req: &SignedRequest) -> String {
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = all_params(req)
        .into_iter()
        .filter(|(k, _)| k.as_slice() != b"Signature")
        .collect();
    // Sorting on the decoded bytes equals Python's code-point order on the decoded keys;
    // the value breaks ties so that duplicates (never sent by an SDK) are deterministic.
    pairs.sort();
    let canonical_query = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "{}&{}&{}",
        req.method,
        percent_encode(b"/"),
        percent_encode(canonical_query.as_bytes())
    )
}

/// Recomputes the v1 signature and compares it in constant time.
pub fn verify(req: &SignedRequest, claim: &Claimed, secret: &str) -> Result<(), AuthError> {
    let string_to_sign = string_to_sign(req);
    // A client that forgot to escape the signature sends `+` raw, which decodes to a space.
    let claimed = claim.signature.trim().replace(' ', "+");
    let claimed = base64::engine::general_purpose::STANDARD.decode(claimed.as_bytes());
    let key = format!("{secret}&");
    let matches = match (claimed, Hmac::<Sha1>::new_from_slice(key.as_bytes())) {
        (Ok(claimed), Ok(mut mac)) => {
            mac.update(string_to_sign.as_bytes());
            mac.verify_slice(&claimed).is_ok()
        }
        _ => false,
    };
    if matches {
        Ok(())
    } else {
        Err(AuthError::SignatureDoesNotMatch { string_to_sign })
    }
}

/// Computes the base64 v1 signature of `string_to_sign` (used by tests and by clients such
/// as the project's own CLI).
pub fn sign(string_to_sign: &str, secret: &str) -> String {
    let key = format!("{secret}&");
    match Hmac::<Sha1>::new_from_slice(key.as_bytes()) {
        Ok(mut mac) => {
            mac.update(string_to_sign.as_bytes());
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        }
        // HMAC accepts keys of any length; this arm cannot be reached.
        Err(_) => String::new(),
    }
}
