//! PLACEHOLDER — being written by a helper: typed parsing of Reserve (seed §6.4.19.2).

use crate::param::ParamError;

#[derive(Debug, Clone, PartialEq)]
pub struct Reserve {
    pub raw: serde_json::Map<String, serde_json::Value>,
}

impl Reserve {
    pub fn parse(json: &str) -> Result<Reserve, ParamError> {
        match serde_json::from_str(json) {
            Ok(serde_json::Value::Object(raw)) => Ok(Reserve { raw }),
            Ok(_) => Err(ParamError::new("Reserve", "must be a JSON object")),
            Err(e) => Err(ParamError::new("Reserve", e.to_string())),
        }
    }
}
