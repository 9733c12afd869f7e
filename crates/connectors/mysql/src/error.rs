//! Errors of the MySQL data path, sorted by what the caller should do about them.

use opendts_core::probe::FailureKind;

/// An error while reading from or writing to a MySQL-family server.
#[derive(Debug, thiserror::Error)]
pub enum MySqlError {
    /// The connection broke or could not be made: worth retrying later.
    #[error("{context}: connection lost or refused: {message}")]
    Connection { context: String, message: String },
    /// The server refused a statement; retrying the same thing fails again.
    #[error("{context}: ERROR {code} ({state}): {message}")]
    Server { context: String, code: u16, state: String, message: String },
    /// Anything else (bad endpoint, unexpected answer).
    #[error("{context}: {message}")]
    Other { context: String, message: String },
}

impl MySqlError {
    /// Whether retrying (after a reconnect) may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            MySqlError::Connection { .. } => true,
            // Lock wait timeout, deadlock, server shutting down, too many connections.
            MySqlError::Server { code, .. } => matches!(code, 1205 | 1213 | 1053 | 1040 | 2006 | 2013),
            MySqlError::Other { .. } => false,
        }
    }

    pub fn other(context: impl Into<String>, message: impl Into<String>) -> MySqlError {
        MySqlError::Other { context: context.into(), message: message.into() }
    }
}

/// Adds what was being done to a driver error.
pub trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, MySqlError>;
}

impl<T> Context<T> for Result<T, mysql_async::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, MySqlError> {
        self.map_err(|e| {
            let context = what();
            match e {
                mysql_async::Error::Server(s) => {
                    MySqlError::Server { context, code: s.code, state: s.state, message: s.message }
                }
                mysql_async::Error::Io(_) | mysql_async::Error::Driver(_) => {
                    MySqlError::Connection { context, message: e.to_string() }
                }
                other => MySqlError::Other { context, message: other.to_string() },
            }
        })
    }
}

impl From<opendts_core::probe::Outcome> for MySqlError {
    fn from(o: opendts_core::probe::Outcome) -> Self {
        match o.failure {
            Some(FailureKind::ConnectionRefused | FailureKind::Timeout | FailureKind::HostNotFound) => {
                MySqlError::Connection { context: "connect".into(), message: o.detail }
            }
            _ => MySqlError::Other { context: "connect".into(), message: o.detail },
        }
    }
}

/// How long a data-path operation may go without an answer before the
/// connection is given up (a stalled socket, a lost packet, a driver that
/// misread the stream). The caller's retry then reconnects and resumes from
/// the last checkpoint, so a stall costs time, never data.
pub const STALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Awaits a driver operation, turning a stall into a retryable error.
pub async fn guarded<T>(
    operation: impl std::future::Future<Output = Result<T, mysql_async::Error>>,
    what: impl FnOnce() -> String,
) -> Result<T, MySqlError> {
    match tokio::time::timeout(STALL_TIMEOUT, operation).await {
        Ok(result) => result.context(what),
        Err(_) => Err(MySqlError::Connection {
            context: what(),
            message: format!("no answer for {} s; the connection is abandoned", STALL_TIMEOUT.as_secs()),
        }),
    }
}
