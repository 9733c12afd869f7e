//! Typed errors of the change log.

use std::path::PathBuf;

/// Everything that can go wrong with a [`crate::ChangeLog`].
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// An operating-system call failed; `context` says which one and on what.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The requested offset is not held: below `begin` (dropped by retention) or past `end`.
    /// A Kafka endpoint answers this with OFFSET_OUT_OF_RANGE.
    #[error("offset {offset} is out of range: the log holds [{begin}, {end})")]
    OffsetOutOfRange { offset: u64, begin: u64, end: u64 },
    /// Data that was acknowledged (a sealed segment, or the committed part of the active one) does not
    /// verify. Unlike a torn tail this is never repaired silently: cutting it would lose acknowledged
    /// records and break the offset sequence consumers rely on.
    #[error("corrupt change log segment {path} at byte {position}: {reason}")]
    Corrupt {
        path: PathBuf,
        position: u64,
        reason: String,
    },
    /// One record encodes to more than [`crate::MAX_FRAME_BYTES`].
    #[error("record of {size} bytes exceeds the maximum of {max} bytes")]
    RecordTooLarge { size: usize, max: usize },
    /// An earlier write or fsync failed and the writer could not restore a known state; the on-disk tail is
    /// unknown until the log is reopened (which recovers it). Retrying an fsync after a failure is unsafe
    /// (the kernel may have dropped the dirty pages), hence no retry.
    #[error("the change log writer failed earlier and must be reopened")]
    Poisoned,
    /// The options cannot work (e.g. `segment_bytes` of zero).
    #[error("invalid change log options: {0}")]
    InvalidOptions(String),
}

impl LogError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> LogError {
        LogError::Io {
            context: context.into(),
            source,
        }
    }
}
