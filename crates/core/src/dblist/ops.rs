//! `dml_op` and `ddl_op`: which incremental operations a database or table
//! replicates (seed §6.4.19.1).
//!
//! Both are comma-separated token lists. An empty value means every
//! supported operation and `none` means no operation at all. Tokens are
//! matched case-insensitively and may be surrounded by spaces.

/// The DML statements to replicate. `Default` is all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmlOps {
    pub insert: bool,
    pub update: bool,
    pub delete: bool,
}

/// The DDL statements to replicate. `Default` is all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DdlOps {
    pub create_table: bool,
    pub alter_table: bool,
    pub drop_table: bool,
    pub rename_table: bool,
    pub truncate_table: bool,
}

impl DmlOps {
    pub const ALL: DmlOps = DmlOps { insert: true, update: true, delete: true };
    pub const NONE: DmlOps = DmlOps { insert: false, update: false, delete: false };

    /// Parses a `dml_op` value; the error is a reason without the field path.
    pub fn parse(value: &str) -> Result<DmlOps, String> {
        let mut ops = DmlOps::NONE;
        let all = parse_tokens(value, "i, u, d", |token| {
            let flag = match token {
                "i" => &mut ops.insert,
                "u" => &mut ops.update,
                "d" => &mut ops.delete,
                _ => return false,
            };
            *flag = true;
            true
        })?;
        Ok(if all { DmlOps::ALL } else { ops })
    }

    /// The canonical text: `none` or the selected tokens in seed order.
    pub fn to_op_string(&self) -> String {
        let tokens = [(self.insert, "i"), (self.update, "u"), (self.delete, "d")];
        render_tokens(&tokens)
    }
}

impl Default for DmlOps {
    fn default() -> Self {
        DmlOps::ALL
    }
}

impl DdlOps {
    pub const ALL: DdlOps = DdlOps {
        create_table: true,
        alter_table: true,
        drop_table: true,
        rename_table: true,
        truncate_table: true,
    };
    pub const NONE: DdlOps = DdlOps {
        create_table: false,
        alter_table: false,
        drop_table: false,
        rename_table: false,
        truncate_table: false,
    };

    /// Parses a `ddl_op` value; the error is a reason without the field path.
    pub fn parse(value: &str) -> Result<DdlOps, String> {
        let mut ops = DdlOps::NONE;
        let all = parse_tokens(value, "ct, at, dt, rt, tt", |token| {
            let flag = match token {
                "ct" => &mut ops.create_table,
                "at" => &mut ops.alter_table,
                "dt" => &mut ops.drop_table,
                "rt" => &mut ops.rename_table,
                "tt" => &mut ops.truncate_table,
                _ => return false,
            };
            *flag = true;
            true
        })?;
        Ok(if all { DdlOps::ALL } else { ops })
    }

    /// The canonical text: `none` or the selected tokens in seed order.
    pub fn to_op_string(&self) -> String {
        let tokens = [
            (self.create_table, "ct"),
            (self.alter_table, "at"),
            (self.drop_table, "dt"),
            (self.rename_table, "rt"),
            (self.truncate_table, "tt"),
        ];
        render_tokens(&tokens)
    }
}

impl Default for DdlOps {
    fn default() -> Self {
        DdlOps::ALL
    }
}

/// Feeds each lower-cased token to `accept`. Returns `Ok(true)` for an empty
/// value (meaning "all"), `Ok(false)` after feeding the tokens or for `none`.
fn parse_tokens(
    value: &str,
    allowed: &str,
    mut accept: impl FnMut(&str) -> bool,
) -> Result<bool, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(true);
    }
    if value.eq_ignore_ascii_case("none") {
        return Ok(false);
    }
    for token in value.split(',') {
        let token = token.trim().to_ascii_lowercase();
        if token.is_empty() {
            return Err(format!(
                "has an empty item in '{value}'; use a comma-separated list of {allowed}"
            ));
        }
        if token == "none" {
            return Err("'none' cannot be combined with other operations".into());
        }
        if !accept(&token) {
            return Err(format!(
                "has unknown operation '{token}'; allowed: {allowed} (comma-separated), \
                 empty for all, or none"
            ));
        }
    }
    Ok(false)
}

fn render_tokens(tokens: &[(bool, &str)]) -> String {
    let selected: Vec<&str> = tokens.iter().filter(|(on, _)| *on).map(|(_, t)| *t).collect();
    if selected.is_empty() {
        "none".into()
    } else {
        selected.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dml_values() {
        assert_eq!(DmlOps::parse("").unwrap(), DmlOps::ALL);
        assert_eq!(DmlOps::parse("  ").unwrap(), DmlOps::ALL);
        assert_eq!(DmlOps::parse("none").unwrap(), DmlOps::NONE);
        assert_eq!(DmlOps::parse("NONE").unwrap(), DmlOps::NONE);
        assert_eq!(
            DmlOps::parse("i, D").unwrap(),
            DmlOps { insert: true, update: false, delete: true }
        );
        assert_eq!(DmlOps::parse("i,u,d").unwrap(), DmlOps::ALL);
        assert_eq!(DmlOps::parse("u,u").unwrap().to_op_string(), "u");
        assert_eq!(DmlOps::default(), DmlOps::ALL);
    }

    #[test]
    fn ddl_values() {
        assert_eq!(DdlOps::parse("").unwrap(), DdlOps::ALL);
        assert_eq!(DdlOps::parse("none").unwrap(), DdlOps::NONE);
        let ops = DdlOps::parse("ct,at").unwrap();
        assert!(ops.create_table && ops.alter_table);
        assert!(!ops.drop_table && !ops.rename_table && !ops.truncate_table);
        assert_eq!(DdlOps::parse("tt,rt,dt,at,ct").unwrap(), DdlOps::ALL);
        assert_eq!(DdlOps::default(), DdlOps::ALL);
    }

    #[test]
    fn rendering_is_canonical() {
        assert_eq!(DmlOps::parse("d,i").unwrap().to_op_string(), "i,d");
        assert_eq!(DmlOps::NONE.to_op_string(), "none");
        assert_eq!(DdlOps::parse("tt, ct").unwrap().to_op_string(), "ct,tt");
        assert_eq!(DdlOps::ALL.to_op_string(), "ct,at,dt,rt,tt");
    }

    #[test]
    fn bad_tokens_are_rejected() {
        assert!(DmlOps::parse("i,x").unwrap_err().contains("unknown operation 'x'"));
        assert!(DmlOps::parse("insert").unwrap_err().contains("unknown operation"));
        assert!(DmlOps::parse("i,,d").unwrap_err().contains("empty item"));
        assert!(DmlOps::parse("none,i").unwrap_err().contains("cannot be combined"));
        assert!(DdlOps::parse("ct,ci").unwrap_err().contains("unknown operation 'ci'"));
        assert!(DdlOps::parse("i").unwrap_err().contains("ct, at, dt, rt, tt"));
    }
}
