//! PLACEHOLDER — being written by a helper: typed parsing of DbList (seed §6.4.19.1).

use crate::param::ParamError;

/// Where a DbList is used; subscriptions do not allow `filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbListContext {
    Migration,
    Subscription,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DbList {
    pub raw: serde_json::Value,
}

impl DbList {
    pub fn parse(json: &str, _ctx: DbListContext) -> Result<DbList, ParamError> {
        let raw: serde_json::Value =
            serde_json::from_str(json).map_err(|e| ParamError::new("DbList", e.to_string()))?;
        if !raw.is_object() {
            return Err(ParamError::new("DbList", "must be a JSON object keyed by database name"));
        }
        Ok(DbList { raw })
    }
}
