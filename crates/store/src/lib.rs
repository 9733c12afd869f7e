//! Metadata store.
