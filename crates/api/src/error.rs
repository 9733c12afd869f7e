//! Errors in the API's own format: an HTTP status, a `Code` and a `Message`,
//! and for the new-version actions `ErrCode`, `ErrMessage` and `DynamicMessage`.

use opendts_core::param::ParamError;
use opendts_core::status::TransitionRefused;
use opendts_store::StoreError;

/// The `ErrMessage` template of an invalid parameter (seed §6.4).
pub const INVALID_PARAMETER_TEMPLATE: &str = "The Value of Input Parameter %s is not valid.";
/// The `ErrMessage` template of an unknown job (seed §6.4.18).
pub const INVALID_JOB_TEMPLATE: &str = "The specified dts job id %s is not exists.";

/// An error answered to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub http_status: u16,
    pub code: String,
    /// The full, human-readable message.
    pub message: String,
    /// `ErrMessage`: the message, possibly with a `%s` placeholder.
    pub err_message: String,
    /// `DynamicMessage`: what replaces `%s`, usually the parameter's name.
    pub dynamic_message: String,
}

impl ApiError {
    pub fn new(http_status: u16, code: &str, message: impl Into<String>) -> ApiError {
        let message = message.into();
        ApiError {
            http_status,
            code: code.into(),
            err_message: message.clone(),
            message,
            dynamic_message: String::new(),
        }
    }

    pub fn missing(param: &str) -> ApiError {
        ApiError {
            dynamic_message: param.into(),
            ..ApiError::new(400, "MissingParameter", format!("The input parameter \"{param}\" that is mandatory for processing this request is not supplied."))
        }
    }

    /// An invalid parameter; `reason` says what is wrong with it.
    pub fn invalid(param: &str, reason: impl AsRef<str>) -> ApiError {
        ApiError {
            http_status: 400,
            code: "InvalidParameter".into(),
            message: format!("The Value of Input Parameter {param} is not valid. {}", reason.as_ref()),
            err_message: INVALID_PARAMETER_TEMPLATE.into(),
            dynamic_message: param.into(),
        }
    }

    pub fn job_not_found(id: &str) -> ApiError {
        ApiError {
            http_status: 404,
            code: "InvalidJobId".into(),
            message: format!("The specified dts job id {id} is not exists."),
            err_message: INVALID_JOB_TEMPLATE.into(),
            dynamic_message: id.into(),
        }
    }

    /// Names the object the error is about (`DynamicMessage`), e.g. a job in a batch.
    pub fn with_dynamic(mut self, what: &str) -> ApiError {
        self.dynamic_message = what.into();
        self
    }

    pub fn internal() -> ApiError {
        ApiError::new(500, "InternalError", "The request processing has failed due to some unknown error.")
    }
}

impl From<ParamError> for ApiError {
    fn from(e: ParamError) -> Self {
        ApiError::invalid(&e.field, e.reason)
    }
}

impl From<TransitionRefused> for ApiError {
    fn from(e: TransitionRefused) -> Self {
        ApiError::new(400, "OperationDenied.JobStatus", e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::new(404, "InvalidJobId", "The specified dts job is not exists."),
            other => {
                tracing::error!(error = %other, "metadata store failure");
                ApiError::internal()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_failures_become_a_generic_internal_error() {
        let e = ApiError::from(StoreError::Corrupt("expected value at line 1 column 7 in /secret/path".into()));
        assert_eq!((e.http_status, e.code.as_str()), (500, "InternalError"));
        assert_eq!(e.message, "The request processing has failed due to some unknown error.");
        assert!(!e.message.contains("line 1"));
    }

    #[test]
    fn invalid_parameter_keeps_the_seed_template() {
        let e = ApiError::from(ParamError::new("DbList.shop.all", "Expected true or false."));
        assert_eq!(e.err_message, "The Value of Input Parameter %s is not valid.");
        assert_eq!(e.dynamic_message, "DbList.shop.all");
        assert!(e.message.starts_with("The Value of Input Parameter DbList.shop.all is not valid."));
    }
}
