//! What every connector's data-path precheck items share: their description
//! and their input.

use crate::dblist::DbList;
use crate::endpoint::Endpoint;
use crate::job::MigrationMode;
use crate::reserve::TargetTableMode;
use std::time::Duration;

/// What the items of one job need.
#[derive(Debug, Clone, Copy)]
pub struct PrecheckInput<'a> {
    pub source: &'a Endpoint,
    /// `None` for change tracking (subscriptions).
    pub destination: Option<&'a Endpoint>,
    pub mode: &'a MigrationMode,
    pub db_list: &'a DbList,
    /// From Reserve `targetTableMode`; [`TargetTableMode::Block`] (`"0"`) when Reserve does not say.
    pub target_table_mode: TargetTableMode,
    /// Bounds the login and, separately, each group of statements an item runs.
    pub timeout: Duration,
}

/// One precheck item: its seed-style name, `OrderNum` and `CanSkip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemSpec {
    pub name: &'static str,
    pub order: u32,
    pub can_skip: bool,
}
