//! The vocabulary every OpenDTS layer shares.
//!
//! Nothing here talks to a database, a socket or a disk: these are the
//! types the control plane validates requests into, the store persists and the
//! engine acts upon.

pub mod change;
pub mod dblist;
pub mod endpoint;
pub mod ids;
pub mod job;
pub mod param;
pub mod precheck;
pub mod probe;
pub mod reserve;
pub mod row;
pub mod secret;
pub mod status;
pub mod tabledef;
pub mod timefmt;
pub mod typemap;
