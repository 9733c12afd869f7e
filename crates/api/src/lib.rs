//! The OpenDTS control plane: the DTS OpenAPI, version 2020-01-01, RPC style.
//!
//! A request is `GET /` or `POST /` with `Action=...` and the common
//! parameters; [`server`] authenticates it ([`auth`]), [`actions`] runs it
//! against the metadata store and the engine, and [`render`] answers in JSON or XML.

mod actions;
pub mod auth;
mod error;
mod guard;
mod params;
mod render;
pub mod server;

pub use server::{router, ApiConfig, AppState};
