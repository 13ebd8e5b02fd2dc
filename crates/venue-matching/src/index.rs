//! Small containers the book is built from: a sorted vector for the indexes
//! that must be walked in a deterministic order, and a fast hasher for the
//! maps that are only ever looked up, never iterated.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A multiplicative hasher (the FxHash recipe) for integer keys. Order ids
/// are dense and sequential, so a single multiply spreads them well; SipHash
/// would cost several times more on every cancel and amend. Maps using it are
/// never iterated, so their order cannot leak into results.
#[derive(Clone, Copy, Debug, Default)]
pub struct IdHasher(u64);

impl IdHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl Hasher for IdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.add(u64::from(byte));
        }
    }
    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A lookup-only map keyed by ids.
pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// Creates an [`IdMap`] that will not allocate until it holds `capacity`
/// entries.
pub fn id_map<K, V>(capacity: usize) -> IdMap<K, V> {
    HashMap::with_capacity_and_hasher(capacity, BuildHasherDefault::default())
}

/// A vector kept in ascending order, the next element to take at its end.
/// Inserting and removing cost a binary search plus a move of the elements
/// behind the position; with pre-reserved capacity nothing allocates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SortedVec<K> {
    items: Vec<K>,
}

impl<K: Ord + Copy> SortedVec<K> {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        SortedVec { items: Vec::with_capacity(capacity) }
    }

    pub(crate) fn insert(&mut self, key: K) {
        let at = self.items.binary_search(&key).unwrap_or_else(|at| at);
        self.items.insert(at, key);
    }

    /// Removes `key`; returns whether it was present.
    pub(crate) fn remove(&mut self, key: &K) -> bool {
        match self.items.last() {
            Some(last) if last == key => {
                self.items.pop();
                true
            }
            _ => match self.items.binary_search(key) {
                Ok(at) => {
                    self.items.remove(at);
                    true
                }
                Err(_) => false,
            },
        }
    }

    pub(crate) fn last(&self) -> Option<&K> {
        self.items.last()
    }

    pub(crate) fn pop(&mut self) -> Option<K> {
        self.items.pop()
    }

    pub(crate) fn as_slice(&self) -> &[K] {
        &self.items
    }

    pub(crate) fn remove_at(&mut self, at: usize) -> K {
        self.items.remove(at)
    }
}
