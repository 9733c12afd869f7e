//! The tables a source's DbList selects, kept two ways: in the connector's
//! own form (which its readers need) and as the pipeline sees them
//! ([`SourceTable`]). Both source adapters hold one.

use crate::pipeline::source::SourceTable;
use crate::pipeline::{DbError, DbResult};
use opendts_core::row::TableId;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A connector's table mapping, as far as the pipeline needs it.
pub(crate) trait SelectedTable: Clone {
    fn source_id(&self) -> &TableId;
    fn source_table(&self) -> SourceTable;
}

/// Implements [`SelectedTable`] for a connector's `TableMapping`; both
/// connectors' mappings have the fields it reads (`source`, `dest`,
/// `columns[].dest`, `schema`, `estimated_rows`).
macro_rules! selected_table {
    ($mapping:ty) => {
        impl $crate::connectors::selection::SelectedTable for $mapping {
            fn source_id(&self) -> &::opendts_core::row::TableId {
                &self.source
            }

            fn source_table(&self) -> $crate::pipeline::source::SourceTable {
                $crate::pipeline::source::SourceTable {
                    source: self.source.clone(),
                    dest: self.dest.clone(),
                    dest_columns: self.columns.iter().map(|c| c.dest.clone()).collect(),
                    schema: ::std::sync::Arc::new(self.schema.clone()),
                    estimated_rows: self.estimated_rows,
                }
            }
        }
    };
}
pub(crate) use selected_table;

/// The connector's mappings by source table, shared with the readers.
pub(crate) type Mappings<M> = Arc<HashMap<TableId, Arc<M>>>;

/// The connector's mapping of a table the pipeline names.
pub(crate) fn mapping<'m, M>(mappings: &'m Mappings<M>, table: &SourceTable) -> DbResult<&'m Arc<M>> {
    mappings.get(&table.source).ok_or_else(|| DbError::fatal(format!("the source table {} is not selected", table.source)))
}

pub(crate) struct Selection<M> {
    tables: Vec<SourceTable>,
    mappings: Mappings<M>,
}

impl<M: SelectedTable> Selection<M> {
    pub(crate) fn new(selected: Vec<M>) -> Selection<M> {
        let tables = selected.iter().map(SelectedTable::source_table).collect();
        let mappings = selected.into_iter().map(|m| (m.source_id().clone(), Arc::new(m))).collect();
        Selection { tables, mappings: Arc::new(mappings) }
    }

    pub(crate) fn tables(&self) -> &[SourceTable] {
        &self.tables
    }

    pub(crate) fn mappings(&self) -> &Mappings<M> {
        &self.mappings
    }

    /// Forgets the tables not in `keep` (source names).
    pub(crate) fn retain(&mut self, keep: &HashSet<TableId>) {
        self.tables.retain(|t| keep.contains(&t.source));
        let kept = self.mappings.iter().filter(|(id, _)| keep.contains(*id)).map(|(k, v)| (k.clone(), v.clone())).collect();
        self.mappings = Arc::new(kept);
    }

    /// The mappings in source-name order (stable DDL and plans).
    pub(crate) fn sorted(&self) -> Vec<M> {
        let mut tables: Vec<M> = self.mappings.values().map(|m| (**m).clone()).collect();
        tables.sort_by(|a, b| a.source_id().cmp(b.source_id()));
        tables
    }
}
