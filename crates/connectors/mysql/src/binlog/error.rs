//! Errors of the binlog source.

use opendts_core::endpoint::Endpoint;

/// What went wrong while reading the binlog. [`BinlogError::is_retryable`]
/// tells whether reconnecting from the last position may help.
#[derive(Debug, thiserror::Error)]
pub enum BinlogError {
    /// The source could not be reached or refused the login.
    #[error("{0}")]
    Connect(String),
    /// The connection broke or went silent. Reconnect and resume from the
    /// position of the last event returned.
    #[error("binlog connection lost: {0}")]
    Lost(String),
    /// The source answered with an error, e.g. 1236 when the requested binlog
    /// file was purged or another replica registered with the same server_id.
    #[error("the source returned ERROR {code}: {message}")]
    Source { code: u16, message: String },
    /// The source's settings or the log's content are outside what this reader
    /// decodes (non-FULL row images, statement-based events, compressed events ...).
    #[error("{0}")]
    Unsupported(String),
    /// An event could not be decoded.
    #[error("cannot decode {event} event ending at {file}:{pos}: {detail}")]
    Decode { file: String, pos: u64, event: String, detail: String },
    /// A bad argument (position, GTID text ...) or a metadata lookup that made no sense.
    #[error("{0}")]
    Invalid(String),
}

impl BinlogError {
    /// True when reconnecting from the last returned position may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            BinlogError::Connect(_) | BinlogError::Lost(_) => true,
            // Too many connections, server shutdown, lock wait timeout, deadlock, lost connection.
            BinlogError::Source { code, .. } => {
                matches!(code, 1040 | 1053 | 1205 | 1213 | 2006 | 2013)
            }
            _ => false,
        }
    }

    pub(crate) fn from_driver(e: mysql_async::Error, ep: &Endpoint, what: &str) -> BinlogError {
        let text = crate::login::scrub(&e.to_string(), ep);
        match e {
            mysql_async::Error::Server(s) => BinlogError::Source {
                code: s.code,
                message: crate::login::scrub(&format!("{} ({what})", s.message), ep),
            },
            mysql_async::Error::Io(_) | mysql_async::Error::Driver(_) => BinlogError::Lost(format!("{what}: {text}")),
            _ => BinlogError::Invalid(format!("{what}: {text}")),
        }
    }
}
