/// Errors of the metadata store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("metadata store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("metadata store: corrupt record: {0}")]
    Corrupt(String),
    #[error("metadata store: {0}")]
    Io(String),
    #[error("metadata store: cannot decrypt a secret (wrong or replaced master.key?)")]
    Decrypt,
    #[error("not found")]
    NotFound,
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}
