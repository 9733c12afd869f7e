//! Code every connector needs, whatever the database family.

pub mod tcp;
