//! Errors of the PostgreSQL data path, sorted by what the caller should do about them.

use opendts_core::probe::FailureKind;

/// An error while reading from or writing to a PostgreSQL server.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The connection broke or could not be made: worth retrying later.
    #[error("{context}: connection lost or refused: {message}")]
    Connection { context: String, message: String },
    /// The server refused a statement (SQLSTATE `code`).
    #[error("{context}: {severity} {code}: {message}")]
    Server { context: String, severity: String, code: String, message: String },
    /// Anything else (bad endpoint, unexpected answer).
    #[error("{context}: {message}")]
    Other { context: String, message: String },
}

impl PgError {
    /// Whether retrying (after a reconnect) may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            PgError::Connection { .. } => true,
            // Serialization failure, deadlock, too many connections, admin/crash shutdown,
            // cannot connect now, lock not available.
            PgError::Server { code, .. } => {
                matches!(code.as_str(), "40001" | "40P01" | "53300" | "57P01" | "57P02" | "57P03" | "55P03")
                    || code.starts_with("08")
            }
            PgError::Other { .. } => false,
        }
    }

    pub fn other(context: impl Into<String>, message: impl Into<String>) -> PgError {
        PgError::Other { context: context.into(), message: message.into() }
    }

    /// The SQLSTATE of a server error.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            PgError::Server { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Classifies a driver error, naming what was being done.
pub fn from_driver(context: String, e: tokio_postgres::Error) -> PgError {
    if let Some(db) = e.as_db_error() {
        return PgError::Server {
            context,
            severity: db.severity().to_string(),
            code: db.code().code().to_string(),
            message: db.message().to_string(),
        };
    }
    let (kind, message) = crate::login::classify(&e);
    if e.is_closed() || matches!(kind, FailureKind::ConnectionRefused | FailureKind::Timeout | FailureKind::HostNotFound) {
        PgError::Connection { context, message }
    } else {
        PgError::Other { context, message }
    }
}

/// Adds what was being done to a driver error.
pub trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, PgError>;
}

impl<T> Context<T> for Result<T, tokio_postgres::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, PgError> {
        self.map_err(|e| from_driver(what(), e))
    }
}

impl From<opendts_core::probe::Outcome> for PgError {
    fn from(o: opendts_core::probe::Outcome) -> Self {
        match o.failure {
            Some(FailureKind::ConnectionRefused | FailureKind::Timeout | FailureKind::HostNotFound) => {
                PgError::Connection { context: "connect".into(), message: o.detail }
            }
            _ => PgError::Other { context: "connect".into(), message: o.detail },
        }
    }
}

/// How long a data-path operation may go without an answer before the
/// connection is given up; the caller's retry reconnects and resumes from the
/// last checkpoint, so a stall costs time, never data.
pub const STALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The next item of a driver stream, under the stall guard of [`guarded`].
/// An item the driver has already buffered is taken without arming a timer:
/// row streams yield millions of them, and a timer each costs more than the row.
pub async fn guarded_next<S, T>(stream: &mut S, what: impl FnOnce() -> String) -> Result<Option<T>, PgError>
where
    S: futures_util::TryStream<Ok = T, Error = tokio_postgres::Error> + Unpin,
{
    use futures_util::{FutureExt, TryStreamExt};
    // Dropping a pending `try_next` loses nothing: it holds no item.
    match stream.try_next().now_or_never() {
        Some(ready) => ready.context(what),
        None => guarded(stream.try_next(), what).await,
    }
}

/// Awaits a driver operation, turning a stall into a retryable error.
pub async fn guarded<T>(
    operation: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    what: impl FnOnce() -> String,
) -> Result<T, PgError> {
    match tokio::time::timeout(STALL_TIMEOUT, operation).await {
        Ok(result) => result.context(what),
        Err(_) => Err(PgError::Connection {
            context: what(),
            message: format!("no answer for {} s; the connection is abandoned", STALL_TIMEOUT.as_secs()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_states() {
        let s = |code: &str| PgError::Server { context: "x".into(), severity: "ERROR".into(), code: code.into(), message: "m".into() };
        assert!(s("40P01").is_retryable());
        assert!(s("08006").is_retryable());
        assert!(!s("23505").is_retryable());
        assert!(!PgError::other("a", "b").is_retryable());
        assert_eq!(s("23505").sqlstate(), Some("23505"));
    }
}
