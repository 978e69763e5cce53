//! An immutable, versioned copy of the core's route catalog.
//!
//! The collections are `imbl`'s persistent maps rather than `std`'s: cloning one is O(1)
//! (the trees are shared) and each insert or remove copies only the O(log n) path it touches.
//! That is what lets [`RouteTable::apply`] build a new table next to the old one — readers
//! keep the old one until the new one is swapped in whole — at a cost that depends on the
//! size of the delta, not on the million routes the catalog may hold.

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use imbl::{HashMap, OrdMap};
use strata_proto::core as pb;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// The delta does not start where the table is: something was skipped or replayed.
    #[error("catalog gap: table is at version {table}, delta starts after version {previous}")]
    Gap { table: u64, previous: u64 },
    /// The delta does not advance the version by exactly one.
    #[error("catalog delta from version {previous} to {version} does not advance by one")]
    Regression { previous: u64, version: u64 },
}

#[derive(Clone, Default)]
pub struct RouteTable {
    version: u64,
    by_start: OrdMap<Bytes, Arc<pb::RangeDescriptor>>,
    by_id: HashMap<u64, Bytes>,
}

impl std::fmt::Debug for RouteTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteTable").field("version", &self.version).field("routes", &self.len()).finish()
    }
}

impl RouteTable {
    /// An empty table at version 0: what a watcher has before its first event.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The whole catalog at `version`.
    pub fn from_reset(version: u64, ranges: impl IntoIterator<Item = pb::RangeDescriptor>) -> Self {
        let mut table = Self { version, ..Self::default() };
        table.extend(ranges);
        table
    }

    /// Adds ranges to a table under construction (a reset arriving in chunks).
    pub(crate) fn extend(&mut self, ranges: impl IntoIterator<Item = pb::RangeDescriptor>) {
        for d in ranges {
            self.upsert(d);
        }
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn len(&self) -> usize {
        self.by_start.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_start.is_empty()
    }

    /// The range whose `[start_key, end_key)` contains `key`.
    pub fn lookup(&self, key: &[u8]) -> Option<Arc<pb::RangeDescriptor>> {
        let (_, d) = self.by_start.get_prev(key)?;
        covers(d, key).then(|| d.clone())
    }

    pub fn get(&self, range_id: u64) -> Option<Arc<pb::RangeDescriptor>> {
        self.by_id.get(&range_id).and_then(|start| self.by_start.get(start)).cloned()
    }

    /// Every range in key order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<pb::RangeDescriptor>> {
        self.by_start.values()
    }

    /// The ranges that overlap `[start, end)` (empty `end` = unbounded), in key order.
    pub fn overlapping<'a>(
        &'a self,
        start: &'a [u8],
        end: &'a [u8],
    ) -> impl Iterator<Item = &'a Arc<pb::RangeDescriptor>> {
        let nonempty = end.is_empty() || start < end;
        // The range holding `start` begins at or before it; the others begin inside the span.
        let first = self.by_start.get_prev(start).map(|(_, d)| d).filter(|d| nonempty && covers(d, start));
        let upper = if end.is_empty() { Bound::Unbounded } else { Bound::Excluded(end) };
        let rest = nonempty
            .then(|| self.by_start.range::<_, [u8]>((Bound::Excluded(start), upper)).map(|(_, d)| d))
            .into_iter()
            .flatten();
        first.into_iter().chain(rest)
    }

    /// A new table with `deltas` applied in order; `self` is left as it was. All or nothing:
    /// the first delta that does not follow on from the one before fails the whole batch.
    pub fn apply(&self, deltas: &[pb::CatalogDelta]) -> Result<RouteTable, CatalogError> {
        let mut next = self.clone();
        for delta in deltas {
            if delta.previous_version != next.version {
                return Err(CatalogError::Gap { table: next.version, previous: delta.previous_version });
            }
            if delta.version != delta.previous_version.wrapping_add(1) {
                return Err(CatalogError::Regression { previous: delta.previous_version, version: delta.version });
            }
            for m in &delta.mutations {
                match &m.kind {
                    Some(pb::catalog_mutation::Kind::Upsert(d)) => next.upsert(d.clone()),
                    Some(pb::catalog_mutation::Kind::DeleteRangeId(id)) => next.delete(*id),
                    None => {}
                }
            }
            next.version = delta.version;
        }
        Ok(next)
    }

    fn upsert(&mut self, mut d: pb::RangeDescriptor) {
        // Decoded `Bytes` are views into the whole gRPC message they arrived in (a reset
        // chunk holds 10,000 ranges); owning copies keep one long-lived route from pinning
        // the entire buffer.
        d.start_key = Bytes::copy_from_slice(&d.start_key);
        d.end_key = Bytes::copy_from_slice(&d.end_key);
        let id = d.range_id;
        let start = d.start_key.clone();
        if let Some(old_start) = self.by_id.get(&id).filter(|s| **s != start).cloned() {
            self.remove_start_if(&old_start, id);
        }
        if let Some(displaced) = self.by_start.get(&start).map(|d| d.range_id).filter(|other| *other != id) {
            // One start key holds one range: whatever sat here is gone from the catalog.
            self.by_id.remove(&displaced);
        }
        self.by_id.insert(id, start.clone());
        self.by_start.insert(start, Arc::new(d));
    }

    fn delete(&mut self, id: u64) {
        if let Some(start) = self.by_id.remove(&id) {
            self.remove_start_if(&start, id);
        }
    }

    fn remove_start_if(&mut self, start: &Bytes, id: u64) {
        if self.by_start.get(start).is_some_and(|d| d.range_id == id) {
            self.by_start.remove(start);
        }
    }
}

/// Whether `d`, which starts at or before `key`, reaches `key`.
fn covers(d: &pb::RangeDescriptor, key: &[u8]) -> bool {
    d.end_key.is_empty() || key < &d.end_key[..]
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn desc(id: u64, start: &str, end: &str, version: u64) -> pb::RangeDescriptor {
        pb::RangeDescriptor {
            range_id: id,
            start_key: Bytes::from(start.to_string()),
            end_key: Bytes::from(end.to_string()),
            epoch: Some(pb::RangeEpoch { version, conf_version: 1 }),
            replicas: vec![pb::Replica { node_id: 1, addr: "127.0.0.1:1".into() }],
            leader_node_id: 0,
            leader_term: 0,
        }
    }

    pub(crate) fn upsert(d: pb::RangeDescriptor) -> pb::CatalogMutation {
        pb::CatalogMutation { kind: Some(pb::catalog_mutation::Kind::Upsert(d)) }
    }

    pub(crate) fn delta(previous: u64, mutations: Vec<pb::CatalogMutation>) -> pb::CatalogDelta {
        pb::CatalogDelta { previous_version: previous, version: previous + 1, mutations }
    }

    fn id_at(t: &RouteTable, key: &str) -> Option<u64> {
        t.lookup(key.as_bytes()).map(|d| d.range_id)
    }

    fn three() -> RouteTable {
        RouteTable::from_reset(5, [desc(1, "", "g", 1), desc(2, "g", "p", 1), desc(3, "p", "", 1)])
    }

    #[test]
    fn lookup_at_boundaries() {
        let t = three();
        assert_eq!((t.version(), t.len()), (5, 3));
        assert_eq!(id_at(&t, ""), Some(1));
        assert_eq!(id_at(&t, "f\u{7f}"), Some(1));
        assert_eq!(id_at(&t, "g"), Some(2), "start key is inclusive");
        assert_eq!(id_at(&t, "o"), Some(2));
        assert_eq!(id_at(&t, "p"), Some(3), "end key is exclusive");
        assert_eq!(id_at(&t, "zzzz"), Some(3), "empty end key is unbounded");
        assert_eq!(t.get(2).map(|d| d.start_key.clone()), Some(Bytes::from("g")));
        assert_eq!(t.iter().map(|d| d.range_id).collect::<Vec<_>>(), [1, 2, 3]);

        // A hole in coverage answers None rather than the range before it.
        let holey = RouteTable::from_reset(1, [desc(1, "a", "c", 1), desc(2, "x", "", 1)]);
        assert_eq!(id_at(&holey, "0"), None);
        assert_eq!(id_at(&holey, "d"), None);
        assert_eq!(id_at(&holey, "x"), Some(2));
    }

    #[test]
    fn overlapping_spans() {
        let t = three();
        let ids = |s: &str, e: &str| t.overlapping(s.as_bytes(), e.as_bytes()).map(|d| d.range_id).collect::<Vec<_>>();
        assert_eq!(ids("", ""), [1, 2, 3]);
        assert_eq!(ids("a", "g"), [1], "end is exclusive");
        assert_eq!(ids("a", "g\0"), [1, 2]);
        assert_eq!(ids("g", "h"), [2]);
        assert_eq!(ids("h", ""), [2, 3]);
        assert_eq!(ids("q", "z"), [3]);
        assert_eq!(ids("h", "h"), Vec::<u64>::new(), "an empty span overlaps nothing");
        assert_eq!(ids("z", "a"), Vec::<u64>::new());
    }

    #[test]
    fn split_applied_as_one_delta() {
        let t = three();
        let split = delta(5, vec![upsert(desc(2, "g", "k", 2)), upsert(desc(4, "k", "p", 2))]);
        let next = t.apply(&[split]).unwrap();
        assert_eq!((next.version(), next.len()), (6, 4));
        assert_eq!(id_at(&next, "j"), Some(2));
        assert_eq!(id_at(&next, "k"), Some(4));
        assert_eq!(id_at(&next, "o"), Some(4));
        assert_eq!(next.get(2).unwrap().end_key, Bytes::from("k"));
        assert_eq!(next.iter().map(|d| d.range_id).collect::<Vec<_>>(), [1, 2, 4, 3]);
    }

    #[test]
    fn old_table_is_unchanged_after_apply() {
        let t = three();
        let next = t.apply(&[delta(5, vec![upsert(desc(2, "g", "k", 2)), upsert(desc(4, "k", "p", 2))])]).unwrap();
        assert_eq!((t.version(), t.len()), (5, 3));
        assert_eq!(id_at(&t, "k"), Some(2));
        assert_eq!(t.get(2).unwrap().end_key, Bytes::from("p"));
        assert!(t.get(4).is_none());
        assert_eq!(next.version(), 6);
    }

    #[test]
    fn gap_is_rejected() {
        let t = three();
        let err = t.apply(&[delta(6, vec![upsert(desc(9, "z", "", 2))])]).unwrap_err();
        assert_eq!(err, CatalogError::Gap { table: 5, previous: 6 });
        // A replayed delta is a gap too.
        assert_eq!(t.apply(&[delta(4, vec![])]).unwrap_err(), CatalogError::Gap { table: 5, previous: 4 });
        // All or nothing: a good delta followed by a bad one applies neither.
        let err = t.apply(&[delta(5, vec![]), delta(7, vec![])]).unwrap_err();
        assert_eq!(err, CatalogError::Gap { table: 6, previous: 7 });
        assert_eq!(t.version(), 5);
    }

    #[test]
    fn regression_is_rejected() {
        let t = three();
        let back = pb::CatalogDelta { previous_version: 5, version: 4, mutations: vec![] };
        assert_eq!(t.apply(&[back]).unwrap_err(), CatalogError::Regression { previous: 5, version: 4 });
        let jump = pb::CatalogDelta { previous_version: 5, version: 7, mutations: vec![] };
        assert_eq!(t.apply(&[jump]).unwrap_err(), CatalogError::Regression { previous: 5, version: 7 });
    }

    #[test]
    fn delete_and_moved_start_keys() {
        let t = three();
        let gone = pb::CatalogMutation { kind: Some(pb::catalog_mutation::Kind::DeleteRangeId(3)) };
        // A merge: range 2 widens over range 3, which is deleted.
        let merged = t.apply(&[delta(5, vec![gone, upsert(desc(2, "g", "", 3))])]).unwrap();
        assert_eq!(merged.len(), 2);
        assert!(merged.get(3).is_none());
        assert_eq!(id_at(&merged, "zz"), Some(2));

        // Range 1 moves its start key: the old start entry must not linger.
        let moved = merged.apply(&[delta(6, vec![upsert(desc(1, "a", "g", 4))])]).unwrap();
        assert_eq!(moved.len(), 2);
        assert_eq!(id_at(&moved, ""), None);
        assert_eq!(id_at(&moved, "b"), Some(1));

        // Deleting an unknown id is harmless.
        let none = pb::CatalogMutation { kind: Some(pb::catalog_mutation::Kind::DeleteRangeId(42)) };
        assert_eq!(moved.apply(&[delta(7, vec![none])]).unwrap().len(), 2);
    }

    #[test]
    fn a_range_displaced_from_its_start_key_leaves_the_id_index() {
        let t = three();
        // Range 5 takes range 2's start key without range 2 being mentioned.
        let next = t.apply(&[delta(5, vec![upsert(desc(5, "g", "p", 2))])]).unwrap();
        assert!(next.get(2).is_none());
        assert_eq!(id_at(&next, "h"), Some(5));
        // Deleting 2 afterwards must not remove range 5.
        let gone = pb::CatalogMutation { kind: Some(pb::catalog_mutation::Kind::DeleteRangeId(2)) };
        assert_eq!(id_at(&next.apply(&[delta(6, vec![gone])]).unwrap(), "h"), Some(5));
    }
}
