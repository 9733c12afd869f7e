//! Request signature verification for the two schemes the official Alibaba Cloud SDKs use.
//!
//! * **Signature v1** (`HMAC-SHA1`, parameters in the query/form): the old
//!   `aliyun-python-sdk-core` `AcsClient`, and the new Tea SDK with
//!   `Config(signature_algorithm="v2")`. See [`signature_v1`].
//! * **ACS3-HMAC-SHA256** (`Authorization` header): the new Tea SDK's default. See [`acs3`].
//!
//! The module is pure and synchronous: the HTTP layer copies what signing looks at into a
//! [`SignedRequest`], calls [`extract_claim`] to learn which AccessKey the caller claims to be
//! (so it can look up the secret, check the timestamp window and the nonce), then calls
//! [`verify`] with the secret. Both steps return typed [`AuthError`]s whose `Display` text
//! is the public error `Message` and whose [`AuthError::code`] is the public error `Code`.
//!
//! Consistency note for the HTTP layer: every query pair and every form-body pair on the wire
//! is covered by a v1 signature, duplicates included, so a request cannot smuggle an unsigned
//! parameter. Decode parameters for the action with [`canonical::parse_urlencoded_lossy`] so
//! they are read exactly as they were verified. With v1, a body that is *not*
//! `application/x-www-form-urlencoded` is not covered by the signature and must be ignored.

pub mod acs3;
pub mod canonical;
pub mod signature_v1;

#[cfg(test)]
mod tests;

/// Everything about a request that signing looks at.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// `"GET"` / `"POST"`, as received.
    pub method: &'a str,
    /// The request path, usually `"/"`.
    pub path: &'a str,
    /// Raw query string as received (still percent-encoded), without the leading `?`.
    pub raw_query: &'a str,
    /// Header names (lower case) and values as received; repeated headers appear repeatedly.
    pub headers: &'a [(String, String)],
    /// The raw request body.
    pub body: &'a [u8],
    /// Decoded parameters of an `application/x-www-form-urlencoded` body (empty otherwise).
    pub form_params: &'a [(String, String)],
}

/// Which signing scheme a request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureScheme {
    /// `Signature` + `SignatureMethod=HMAC-SHA1` + `SignatureVersion=1.0` parameters.
    V1HmacSha1,
    /// `Authorization: ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..`.
    Acs3HmacSha256,
}

/// What the caller claims, extracted before looking up the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub scheme: SignatureScheme,
    pub access_key_id: String,
    /// Base64 (v1) or hex (ACS3) signature exactly as sent.
    pub signature: String,
    /// `SignatureNonce` (v1) / `x-acs-signature-nonce` (ACS3); always present after a
    /// successful [`extract_claim`], kept optional for callers that build claims themselves.
    pub nonce: Option<String>,
    /// `Timestamp` (v1) / `x-acs-date` (ACS3), ISO 8601 UTC like `2026-11-23T10:59:37Z`.
    pub timestamp: Option<String>,
    /// `SecurityToken` (v1) / `x-acs-security-token` (ACS3) for STS credentials.
    pub security_token: Option<String>,
    /// ACS3 only: the lower-cased `SignedHeaders` list, in the order declared (empty for v1).
    pub signed_headers: Vec<String>,
}

/// Why a request's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A mandatory signing parameter or header is absent (or empty).
    #[error("The input parameter \"{0}\" that is mandatory for processing this request is not supplied.")]
    MissingParameter(String),
    /// A signature method or version other than the supported ones.
    #[error("Specified signature method is not supported: {0}")]
    UnsupportedSignatureMethod(String),
    /// The `Authorization` header cannot be parsed, or leaves an `x-acs-*` header unsigned.
    #[error("The request signature does not conform to Aliyun standards: {0}")]
    IncompleteSignature(String),
    /// The recomputed signature differs; carries the server-side string to sign.
    #[error("Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}")]
    SignatureDoesNotMatch { string_to_sign: String },
}

impl AuthError {
    /// The public Alibaba Cloud error `Code` for this error.
    ///
    /// Missing parameters follow Alibaba's `Missing{ParameterName}` convention
    /// (`MissingAccessKeyId`, `MissingSignatureNonce`...) when the name is a plain
    /// identifier, and fall back to `MissingParameter` for header names.
    pub fn code(&self) -> String {
        match self {
            AuthError::MissingParameter(name)
                if name.chars().all(|c| c.is_ascii_alphanumeric()) =>
            {
                format!("Missing{name}")
            }
            AuthError::MissingParameter(_) => "MissingParameter".to_string(),
            AuthError::UnsupportedSignatureMethod(_) => "InvalidSignatureMethod".to_string(),
            AuthError::IncompleteSignature(_) => "IncompleteSignature".to_string(),
            AuthError::SignatureDoesNotMatch { .. } => "SignatureDoesNotMatch".to_string(),
        }
    }
}

/// The exact public `Message` of a `SignatureDoesNotMatch` error.
///
/// The old Python SDK splits this message on `:` to compare the server's string to sign with
/// its own, and crashes if there is no colon, so the wording must not change.
pub fn signature_mismatch_message(string_to_sign: &str) -> String {
    format!("Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}")
}

/// Reads which scheme the request uses and what the caller claims, without any secret.
///
/// An `Authorization` header starting with `ACS3-` selects ACS3 (only `ACS3-HMAC-SHA256` is
/// accepted); anything else is treated as signature v1, whose parameters may come from the
/// query or the form body.
pub fn extract_claim(req: &SignedRequest) -> Result<Claimed, AuthError> {
    match canonical::header(req.headers, "authorization") {
        Some(value) if value.trim_start().starts_with("ACS3-") => acs3::extract_claim(req, value),
        _ => signature_v1::extract_claim(req),
    }
}

/// Recomputes the signature of `req` with `secret` and compares it with `claim` in constant
/// time. `claim` must come from [`extract_claim`] on the same request.
pub fn verify(req: &SignedRequest, claim: &Claimed, secret: &str) -> Result<(), AuthError> {
    match claim.scheme {
        SignatureScheme::V1HmacSha1 => signature_v1::verify(req, claim, secret),
        SignatureScheme::Acs3HmacSha256 => acs3::verify(req, claim, secret),
    }
}
