//! Job engine.
