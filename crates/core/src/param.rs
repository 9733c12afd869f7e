//! Errors raised while turning request parameters into typed values.

/// A request parameter (or a field inside a JSON parameter) that is not valid.
///
/// `field` names the offending parameter the way a user would find it in the
/// request, for example `DbList.shop.Table.orders.dml_op`; `reason` says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("The Value of Input Parameter {field} is not valid: {reason}")]
pub struct ParamError {
    pub field: String,
    pub reason: String,
}

impl ParamError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ParamError { field: field.into(), reason: reason.into() }
    }
}
