//! The shape of a destination table, as the applier needs it.

use crate::cell::TextKind;
use crate::session::qualified;
use opendts_core::row::TableId;
use std::collections::HashMap;
#[cfg(test)]
use std::sync::Arc;

/// One column of a destination table.
#[derive(Debug)]
pub(super) struct DestColumn {
    pub(super) name: String,
    /// The type to cast text to (`format_type` without the modifier, so that
    /// the column's own length checks apply rather than a cast's truncation).
    pub(super) cast: String,
    pub(super) kind: TextKind,
    pub(super) generated: bool,
    pub(super) identity_always: bool,
}

/// What the destination table looks like (cached; dropped on DDL or error).
#[derive(Debug)]
pub(super) struct DestTable {
    pub(super) id: TableId,
    pub(super) columns: Vec<DestColumn>,
    pub(super) by_name: HashMap<String, usize>,
    /// Primary key, else a unique index on NOT NULL columns; empty when none.
    pub(super) key: Vec<String>,
    /// Changes to different keys commute: the table has a key and no other
    /// unique index or exclusion constraint that a reordered batch could
    /// trip over (see [`push_merged`](super::ops::push_merged)).
    pub(super) reorderable: bool,
}

impl DestTable {
    #[cfg(test)]
    pub(super) fn clone_shape(&self) -> DestTable {
        DestTable {
            id: self.id.clone(),
            columns: self.columns.iter().map(|c| DestColumn { name: c.name.clone(), cast: c.cast.clone(), ..*c }).collect(),
            by_name: self.by_name.clone(),
            key: self.key.clone(),
            reorderable: self.reorderable,
        }
    }

    pub(super) fn column(&self, name: &str) -> &DestColumn {
        &self.columns[self.by_name[name]]
    }
    pub(super) fn cast(&self, name: &str) -> &str {
        &self.column(name).cast
    }
    pub(super) fn writable(&self) -> impl Iterator<Item = &DestColumn> {
        self.columns.iter().filter(|c| !c.generated)
    }
    pub(super) fn sql_name(&self) -> String {
        qualified(&self.id.schema, &self.id.table)
    }
}

pub(super) type Text = Option<String>;
pub(super) type TextRow = Vec<Text>;


/// A table `s.t (id integer, v text)` keyed by `key`, for unit tests.
#[cfg(test)]
pub(super) fn test_table(key: &[&str]) -> Arc<DestTable> {
        let columns: Vec<DestColumn> = ["id", "v"]
            .iter()
            .map(|n| DestColumn {
                name: n.to_string(),
                cast: if *n == "id" { "integer".into() } else { "text".into() },
                kind: TextKind::Text,
                generated: false,
                identity_always: false,
            })
            .collect();
        let by_name = columns.iter().enumerate().map(|(i, c)| (c.name.clone(), i)).collect();
        let key: Vec<String> = key.iter().map(|k| k.to_string()).collect();
        Arc::new(DestTable { id: TableId::new("s", "t"), columns, by_name, reorderable: !key.is_empty(), key })
    }

