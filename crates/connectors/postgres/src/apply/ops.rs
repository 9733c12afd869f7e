//! One statement's worth of work ([`Op`]) and how a batch's changes merge
//! into few of them without changing the outcome ([`push_merged`]).

use super::dest::{DestTable, TextRow};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Rows merged into one statement at most.
const MAX_MERGED: usize = 4000;


/// One statement's worth of work on the destination.
#[derive(Debug)]
pub(super) enum Op {
    /// Plain insert into a keyless table.
    Insert { table: Arc<DestTable>, columns: Arc<[String]>, rows: Vec<TextRow> },
    /// Insert or overwrite the listed columns, by key. `keys` maps the key
    /// of each row still to be written to its position in `rows` (a row whose
    /// key a later change of the batch decided is no longer listed). `fresh`:
    /// every row comes from an INSERT on the source, so the rows are most
    /// likely new on the destination (see [`execute`](super::statements::execute)).
    Upsert { table: Arc<DestTable>, columns: Arc<[String]>, rows: Vec<TextRow>, keys: HashMap<TextRow, usize>, fresh: bool },
    /// Set only the listed columns of the row with key `old_keys[i]`; rows not
    /// found are upserted.
    Update { table: Arc<DestTable>, columns: Arc<[String]>, old_keys: Vec<TextRow>, rows: Vec<TextRow>, keys: HashSet<TextRow> },
    /// Delete rows by key.
    Delete { table: Arc<DestTable>, keys: HashSet<TextRow> },
    /// Delete one row of a keyless table, matching every listed column.
    DeleteExact { table: Arc<DestTable>, columns: Arc<[String]>, row: TextRow },
}

impl Op {
    pub(super) fn delete(table: Arc<DestTable>, keys: Vec<TextRow>) -> Op {
        Op::Delete { table, keys: keys.into_iter().collect() }
    }

    /// An upsert of rows whose keys sit at `key_pos` in each row.
    pub(super) fn upsert(table: Arc<DestTable>, columns: Arc<[String]>, rows: Vec<TextRow>, key_pos: &[usize]) -> Op {
        let keys = rows.iter().enumerate().map(|(i, r)| (key_pos.iter().map(|&p| r[p].clone()).collect(), i)).collect();
        Op::Upsert { table, columns, rows, keys, fresh: false }
    }

    pub(super) fn table(&self) -> &Arc<DestTable> {
        match self {
            Op::Insert { table, .. }
            | Op::Upsert { table, .. }
            | Op::Update { table, .. }
            | Op::Delete { table, .. }
            | Op::DeleteExact { table, .. } => table,
        }
    }
}


/// How far back an operation may move to join a group of its kind.
const LIFT_WINDOW: usize = 16;

/// Appends `op`, merged into an earlier operation of the same kind on the
/// same table when that gives the same result: with the immediately
/// preceding one as before, or further back when `op` may move ahead of the
/// operations in between — it touches none of their keys on its table
/// (changes to different keys commute), its table has no other unique
/// constraint that an order change could trip, and, between tables,
/// `cross_tables` says foreign keys are not checked (the session runs with
/// `session_replication_role = replica`). A batch of many small
/// transactions thus becomes a few statements per table.
pub(super) fn push_merged(ops: &mut Vec<Op>, op: Op, cross_tables: bool) {
    let mut op = op;
    // Most changes join the operation before them: try that before working
    // out the keys the lift below needs.
    let Some(prev) = ops.last_mut() else {
        ops.push(op);
        return;
    };
    match prev.absorb(op) {
        None => return,
        Some(back) => op = back,
    }
    let keys = op.movable_keys();
    let last = ops.len() - 1;
    for i in (0..ops.len()).rev().take(LIFT_WINDOW) {
        if i != last {
            match ops[i].absorb(op) {
                None => return,
                Some(back) => op = back,
            }
        }
        let Some(keys) = &keys else { break };
        if ops[i].table().id != op.table().id {
            if !cross_tables {
                break;
            }
            continue;
        }
        if ops[i].touches(keys) {
            // A whole-row write or a delete decides its key's final state:
            // earlier writes of that key in the batch no longer matter.
            if !(op.decides_keys() && ops[i].forget(keys)) {
                break;
            }
            if let (Op::Delete { .. }, Op::Upsert { fresh, .. }) = (&ops[i], &mut op) {
                // The row it inserts again may still be there, its delete gone.
                *fresh = false;
            }
            match ops[i].absorb(op) {
                None => return,
                Some(back) => op = back,
            }
        }
    }
    ops.push(op);
}

impl Op {
    /// Whether the operation fixes the final state of its keys whatever came
    /// before: a whole-row upsert or a delete by key.
    pub(super) fn decides_keys(&self) -> bool {
        matches!(self, Op::Upsert { .. } | Op::Delete { .. })
    }

    /// Drops this operation's writes of `keys` (a later operation decides
    /// them); false when it cannot (partial updates, keyless rows).
    pub(super) fn forget(&mut self, keys: &HashSet<TextRow>) -> bool {
        match self {
            Op::Upsert { keys: live, .. } => {
                for k in keys {
                    live.remove(k);
                }
                true
            }
            Op::Delete { keys: live, .. } => {
                for k in keys {
                    live.remove(k);
                }
                true
            }
            Op::Insert { .. } | Op::Update { .. } | Op::DeleteExact { .. } => false,
        }
    }

    /// The keys this operation touches, when it may move ahead of others.
    pub(super) fn movable_keys(&self) -> Option<HashSet<TextRow>> {
        if !self.table().reorderable {
            return None;
        }
        match self {
            Op::Upsert { keys, .. } => Some(keys.keys().cloned().collect()),
            Op::Update { keys, old_keys, .. } => Some(keys.iter().chain(old_keys).cloned().collect()),
            Op::Delete { keys, .. } => Some(keys.clone()),
            Op::Insert { .. } | Op::DeleteExact { .. } => None,
        }
    }

    /// Whether this operation touches any of `keys` (of its own table).
    pub(super) fn touches(&self, keys: &HashSet<TextRow>) -> bool {
        match self {
            Op::Upsert { keys: k, .. } => keys.iter().any(|x| k.contains_key(x)),
            Op::Update { keys: k, old_keys, .. } => {
                !k.is_disjoint(keys) || old_keys.iter().any(|o| keys.contains(o))
            }
            Op::Delete { keys: k, .. } => !k.is_disjoint(keys),
            Op::Insert { .. } | Op::DeleteExact { .. } => true,
        }
    }

    /// Merges `op` into this one when they are one statement's worth of the
    /// same work; gives it back otherwise.
    pub(super) fn absorb(&mut self, op: Op) -> Option<Op> {
        let same = |a: &Arc<DestTable>, b: &Arc<DestTable>| Arc::ptr_eq(a, b) || a.id == b.id;
        let same_columns = |a: &Arc<[String]>, b: &Arc<[String]>| Arc::ptr_eq(a, b) || a == b;
        match (self, op) {
            (Op::Insert { table, columns, rows }, Op::Insert { table: t, columns: c, rows: r })
                if same(table, &t) && same_columns(columns, &c) && rows.len() < MAX_MERGED =>
            {
                rows.extend(r);
                None
            }
            (Op::Upsert { table, columns, rows, keys, fresh }, Op::Upsert { table: t, columns: c, rows: r, keys: k, fresh: f })
                if same(table, &t)
                    && same_columns(columns, &c)
                    && *fresh == f
                    && rows.len() < MAX_MERGED
                    && k.keys().all(|x| !keys.contains_key(x)) =>
            {
                let base = rows.len();
                keys.extend(k.into_iter().map(|(key, i)| (key, base + i)));
                rows.extend(r);
                None
            }
            (
                Op::Update { table, columns, old_keys, rows, keys },
                Op::Update { table: t, columns: c, old_keys: o, rows: r, keys: k },
            ) if same(table, &t)
                && same_columns(columns, &c)
                && rows.len() < MAX_MERGED
                && k.is_disjoint(keys)
                // A key that moves twice needs two statements.
                && !o.iter().any(|x| keys.contains(x))
                && !old_keys.iter().any(|x| k.contains(x)) =>
            {
                old_keys.extend(o);
                rows.extend(r);
                keys.extend(k);
                None
            }
            (Op::Delete { table, keys }, Op::Delete { table: t, keys: k }) if same(table, &t) && keys.len() < MAX_MERGED => {
                keys.extend(k);
                None
            }
            (_, op) => Some(op),
        }
    }
}


#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::dest::test_table as table;
    use opendts_core::row::TableId;

    fn up(t: &Arc<DestTable>, id: &str) -> Op {
        let row = vec![Some(id.to_string()), None];
        Op::Upsert {
            table: t.clone(),
            columns: Arc::from(vec!["id".to_string(), "v".to_string()]),
            keys: HashMap::from([(vec![row[0].clone()], 0)]),
            rows: vec![row],
            fresh: false,
        }
    }

    /// The rows (key → value) after running `ops` in order on a table holding `start`.
    fn outcome(ops: &[Op], start: &[&str]) -> std::collections::BTreeMap<String, Option<String>> {
        let mut state: std::collections::BTreeMap<String, Option<String>> =
            start.iter().map(|s| (s.to_string(), Some("start".to_string()))).collect();
        for op in ops {
            match op {
                Op::Upsert { rows, keys, .. } => {
                    let mut at: Vec<usize> = keys.values().copied().collect();
                    at.sort_unstable();
                    for r in at.into_iter().map(|i| &rows[i]) {
                        state.insert(r[0].clone().unwrap_or_default(), r[1].clone());
                    }
                }
                Op::Delete { keys, .. } => {
                    for k in keys {
                        state.remove(k[0].as_deref().unwrap_or_default());
                    }
                }
                _ => {}
            }
        }
        state
    }

    /// Merges `ops` and checks the result is the same as running them one by one.
    fn merged_same(ops: Vec<Op>, cross_tables: bool) -> Vec<Op> {
        let start = ["1", "2", "8", "9"];
        let one_by_one = outcome(&ops, &start);
        let mut merged = Vec::new();
        for op in ops {
            push_merged(&mut merged, op, cross_tables);
        }
        assert_eq!(outcome(&merged, &start), one_by_one, "{merged:?}");
        merged
    }

    #[test]
    fn random_batches_merge_to_the_same_outcome() {
        let t = table(&["id"]);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..500 {
            let ops: Vec<Op> = (0..30)
                .map(|_| {
                    let key = (next() % 6).to_string();
                    if next() % 3 == 0 {
                        Op::delete(t.clone(), vec![vec![Some(key)]])
                    } else {
                        let row = vec![Some(key.clone()), Some(next().to_string())];
                        Op::Upsert {
                            table: t.clone(),
                            columns: Arc::from(vec!["id".to_string(), "v".to_string()]),
                            keys: HashMap::from([(vec![Some(key)], 0)]),
                            rows: vec![row],
                            fresh: false,
                        }
                    }
                })
                .collect();
            merged_same(ops, false);
        }
    }

    #[test]
    fn a_later_write_of_a_key_decides_it() {
        let t = table(&["id"]);
        let del = |id: &str| Op::delete(t.clone(), vec![vec![Some(id.to_string())]]);
        let ops = merged_same(vec![up(&t, "1"), del("9"), del("1"), up(&t, "9"), up(&t, "2"), del("2"), up(&t, "1")], false);
        assert!(ops.len() <= 2, "{ops:?}");
        let ops = merged_same(vec![del("1"), up(&t, "1"), del("1"), up(&t, "3"), del("3"), del("8")], false);
        assert!(ops.len() <= 2, "{ops:?}");
    }

    #[test]
    fn operations_move_ahead_only_past_other_keys() {
        let t = table(&["id"]);
        let del = |id: &str| Op::delete(t.clone(), vec![vec![Some(id.to_string())]]);
        let ops = merged_same(
            vec![up(&t, "1"), del("9"), up(&t, "2"), del("8"), up(&t, "3"), del("1"), up(&t, "4"), up(&t, "1")],
            false,
        );
        // One upsert and one delete: every change moved ahead to join its kind.
        assert_eq!(ops.len(), 2, "{ops:?}");

        // A table with another unique constraint keeps the order.
        let mut strict = (*table(&["id"])).clone_shape();
        strict.reorderable = false;
        let s = Arc::new(strict);
        let sdel = |id: &str| Op::delete(s.clone(), vec![vec![Some(id.to_string())]]);
        assert_eq!(merged_same(vec![up(&s, "1"), sdel("9"), up(&s, "2")], false).len(), 3);

        // Between tables only when foreign keys are off.
        let other = Arc::new({
            let mut o = (*table(&["id"])).clone_shape();
            o.id = TableId::new("s", "other");
            o
        });
        for (cross, expected) in [(false, 3), (true, 2)] {
            let mut ops = Vec::new();
            for op in [up(&t, "1"), up(&other, "1"), up(&t, "2")] {
                push_merged(&mut ops, op, cross);
            }
            assert_eq!(ops.len(), expected);
        }
    }

    #[test]
    fn neighbours_merge_without_repeating_a_key() {
        let t = table(&["id"]);
        let del = |id: &str| Op::delete(t.clone(), vec![vec![Some(id.to_string())]]);
        let ops = merged_same(vec![up(&t, "1"), up(&t, "2"), up(&t, "1"), del("1"), del("2"), up(&t, "1")], false);
        // Each key written points at its own row, so no statement names a key twice.
        for op in &ops {
            if let Op::Upsert { rows, keys, .. } = op {
                assert!(keys.iter().all(|(k, &i)| rows[i][0] == k[0]), "{ops:?}");
            }
        }
    }

}
