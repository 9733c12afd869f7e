//! Typed access to the merged request parameters (query string and form body).

use crate::error::ApiError;
use std::collections::BTreeMap;

/// The parameters of one call, by name. Names are case-sensitive as in the API,
/// but a few documented spelling variants are looked up through [`Params::first`].
#[derive(Debug, Default, Clone)]
pub struct Params {
    map: BTreeMap<String, String>,
}

impl Params {
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Params {
        let mut map = BTreeMap::new();
        for (k, v) in pairs {
            // A body parameter repeated in the query keeps its first value.
            map.entry(k).or_insert(v);
        }
        Params { map }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// The value if present and not blank.
    pub fn opt(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.trim().is_empty())
    }

    /// The first present, non-blank value among spelling variants (`DtsInstanceId` / `DtsInstanceID`).
    pub fn first(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|n| self.opt(n))
    }

    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.opt(name).ok_or_else(|| ApiError::missing(name))
    }

    pub fn opt_string(&self, name: &str) -> String {
        self.opt(name).unwrap_or_default().to_string()
    }

    /// Booleans arrive as `true`/`false` in any case (Python sends `True`).
    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.opt(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(ApiError::invalid(name, "Expected true or false.")),
        }
    }

    pub fn bool_or(&self, name: &str, default: bool) -> Result<bool, ApiError> {
        Ok(self.opt_bool(name)?.unwrap_or(default))
    }

    pub fn opt_i64(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.opt(name) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ApiError::invalid(name, "Expected an integer.")),
        }
    }

    /// A value that must be one of `allowed` (compared case-insensitively);
    /// returns the allowed spelling.
    pub fn opt_enum(&self, name: &str, allowed: &[&'static str]) -> Result<Option<&'static str>, ApiError> {
        match self.opt(name) {
            None => Ok(None),
            Some(v) => allowed
                .iter()
                .find(|a| a.eq_ignore_ascii_case(v.trim()))
                .copied()
                .map(Some)
                .ok_or_else(|| ApiError::invalid(name, format!("Allowed values: {}.", allowed.join(", ")))),
        }
    }

    /// A comma-separated list, blanks dropped.
    pub fn opt_list(&self, name: &str) -> Vec<String> {
        self.opt(name)
            .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
            .unwrap_or_default()
    }

    /// Values of the parameters whose name satisfies `pick`.
    pub fn values_where(&self, pick: impl Fn(&str) -> bool) -> Vec<&str> {
        self.map.iter().filter(|(k, _)| pick(k)).map(|(_, v)| v.as_str()).collect()
    }

    /// A flattened repeat list: `Prefix.1`, `Prefix.2`, ... (or `Prefix.1.Suffix`).
    /// Returns (index, value) in index order.
    pub fn repeat_list(&self, prefix: &str, suffix: Option<&str>) -> Vec<(u32, String)> {
        let mut out: Vec<(u32, String)> = self
            .map
            .iter()
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix(prefix)?.strip_prefix('.')?;
                let index = match suffix {
                    Some(s) => rest.strip_suffix(s)?.strip_suffix('.')?,
                    None => rest,
                };
                Some((index.parse::<u32>().ok()?, v.clone()))
            })
            .collect();
        out.sort_by_key(|(i, _)| *i);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Params {
        Params::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn booleans_and_enums() {
        let ps = p(&[("A", "True"), ("B", "nope"), ("T", "sync")]);
        assert_eq!(ps.opt_bool("A").unwrap(), Some(true));
        assert!(ps.opt_bool("B").is_err());
        assert_eq!(ps.opt_enum("T", &["MIGRATION", "SYNC"]).unwrap(), Some("SYNC"));
        assert_eq!(ps.opt_enum("T", &["X"]).unwrap_err().dynamic_message, "T");
    }

    #[test]
    fn repeat_lists_in_index_order() {
        let ps = p(&[("Tag.2.Key", "b"), ("Tag.1.Key", "a"), ("Tag.10.Key", "c"), ("Tag.1.Value", "v"), ("ResourceId.1", "x")]);
        assert_eq!(ps.repeat_list("Tag", Some("Key")), vec![(1, "a".into()), (2, "b".into()), (10, "c".into())]);
        assert_eq!(ps.repeat_list("ResourceId", None), vec![(1, "x".into())]);
    }

    #[test]
    fn missing_and_blank() {
        let ps = p(&[("Name", "  ")]);
        assert_eq!(ps.required("Name").unwrap_err().code, "MissingParameter");
        assert_eq!(ps.opt_list("Ids"), Vec::<String>::new());
    }
}
