//! MySQL family connector.
