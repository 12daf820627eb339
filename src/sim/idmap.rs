//! A hash map keyed by the sim's never-reused `u64` ids (sleeps' sequence numbers, socket ids),
//! with a fixed multiplicative hasher: lookups cost a multiplication, not SipHash's rounds, and
//! the layout depends only on the history of inserts and removals, never on a random state.
//!
//! Ground rule: an [`IdMap`] is never iterated to make a decision in an order it gives. Code that
//! walks one to act on several entries (wake them, re-time them, reset them) collects the ids
//! and sorts them first, so the order is the ids' and the schedule stays the seed's.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map from an id to `V` (see the module docs).
pub(crate) type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// Fibonacci hashing of one `u64`: consecutive ids spread over the whole word.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed here; any other key is folded in eight bytes at a time.
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(w));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The keys of `map`, sorted: the order in which to act on several entries.
pub(crate) fn sorted_ids<V>(map: &IdMap<V>, mut keep: impl FnMut(&V) -> bool) -> Vec<u64> {
    let mut ids: Vec<u64> = map.iter().filter(|(_, v)| keep(v)).map(|(&id, _)| id).collect();
    ids.sort_unstable();
    ids
}

#[cfg(test)]
mod tests {
    use super::{sorted_ids, IdMap};

    #[test]
    fn ids_come_back_sorted_whatever_the_insertion_order() {
        let mut m = IdMap::default();
        for id in [9u64, 3, 1_000_000, 7, 0, 42] {
            m.insert(id, id % 2 == 0);
        }
        assert_eq!(sorted_ids(&m, |_| true), vec![0, 3, 7, 9, 42, 1_000_000]);
        assert_eq!(sorted_ids(&m, |even| *even), vec![0, 42, 1_000_000]);
        assert_eq!(m.get(&7), Some(&false));
        assert_eq!(m.remove(&42), Some(true));
        assert_eq!(m.get(&42), None);
    }
}
