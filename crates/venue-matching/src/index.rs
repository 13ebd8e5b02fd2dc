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

/// Price levels by ladder key: a directly indexed window of keys around
/// where the book trades, and a hash table for keys outside it. Most level
/// lookups (every amend, every order that rests) land near the touch, where
/// an array index costs no hashing and one cache line instead of two (the
/// table's control bytes and its bucket).
#[derive(Clone, Debug, Default)]
pub(crate) struct LevelIndex {
    /// Key of `window[0]`.
    lo: i64,
    /// Level per key in `[lo, lo + window.len())`, [`LevelIndex::NONE`] where
    /// there is none; empty until the first key places it.
    window: Vec<u32>,
    /// Levels whose key falls outside the window.
    outside: IdMap<i64, u32>,
    len: usize,
}

impl LevelIndex {
    /// Keys the window covers (16 KiB of level handles per side).
    pub(crate) const WINDOW: usize = 4096;
    /// An empty window slot.
    const NONE: u32 = u32::MAX;

    pub(crate) fn with_capacity(capacity: usize) -> LevelIndex {
        LevelIndex { lo: 0, window: Vec::new(), outside: id_map(capacity), len: 0 }
    }

    /// Where `key` sits in the window, if it does. Keys of one ladder share
    /// a sign (prices are positive), so the difference cannot wrap into the
    /// window.
    #[inline(always)]
    fn slot(&self, key: i64) -> Option<usize> {
        let offset = key.wrapping_sub(self.lo) as u64;
        (offset < self.window.len() as u64).then_some(offset as usize)
    }

    #[inline(always)]
    pub(crate) fn get(&self, key: i64) -> Option<u32> {
        match self.slot(key) {
            Some(at) => Some(self.window[at]).filter(|&level| level != Self::NONE),
            None => self.outside.get(&key).copied(),
        }
    }

    /// Adds `key`, which must be absent.
    pub(crate) fn insert(&mut self, key: i64, level: u32) {
        if self.window.is_empty() {
            self.window = vec![Self::NONE; Self::WINDOW];
            self.lo = key.saturating_sub(Self::WINDOW as i64 / 2);
        }
        match self.slot(key) {
            Some(at) => {
                debug_assert_eq!(self.window[at], Self::NONE, "key {key} is already indexed");
                self.window[at] = level;
            }
            None => {
                self.outside.insert(key, level);
            }
        }
        self.len += 1;
    }

    pub(crate) fn remove(&mut self, key: i64) -> Option<u32> {
        let removed = match self.slot(key) {
            Some(at) => {
                Some(std::mem::replace(&mut self.window[at], Self::NONE)).filter(|&l| l != Self::NONE)
            }
            None => self.outside.remove(&key),
        };
        self.len -= usize::from(removed.is_some());
        removed
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether the window no longer covers the trading: many keys outside
    /// it while `touch` (the best key) sits outside its middle half. A deep
    /// book with the touch centred keeps its window.
    #[inline]
    pub(crate) fn drifted(&self, touch: i64) -> bool {
        if self.outside.len() <= Self::WINDOW / 8 {
            return false;
        }
        let quarter = Self::WINDOW as i64 / 4;
        let offset = touch.wrapping_sub(self.lo);
        !(quarter..3 * quarter).contains(&offset)
    }

    /// Centres the window on `touch`: O(keys + window), and rare (see
    /// [`LevelIndex::drifted`]).
    #[cold]
    pub(crate) fn recentre(&mut self, touch: i64) {
        let mut keys: Vec<(i64, u32)> = self.outside.drain().collect();
        let lo = self.lo;
        let in_window = self.window.iter().enumerate().filter(|&(_, &level)| level != Self::NONE);
        keys.extend(in_window.map(|(at, &level)| (lo + at as i64, level)));
        self.window.clear();
        self.window.resize(Self::WINDOW, Self::NONE);
        self.lo = touch.saturating_sub(Self::WINDOW as i64 / 2);
        self.len = 0;
        for (key, level) in keys {
            self.insert(key, level);
        }
    }
}

/// Equal when they map the same keys to the same levels, wherever their
/// windows sit (a book rebuilt from a snapshot places its own).
impl PartialEq for LevelIndex {
    fn eq(&self, other: &LevelIndex) -> bool {
        let in_window = self.window.iter().enumerate().filter(|&(_, &l)| l != Self::NONE);
        self.len == other.len
            && in_window.map(|(at, &l)| (self.lo + at as i64, l)).all(|(k, l)| other.get(k) == Some(l))
            && self.outside.iter().all(|(&k, &l)| other.get(k) == Some(l))
    }
}

impl Eq for LevelIndex {}

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn level_index_agrees_with_a_plain_map_inside_outside_and_across_recentring() {
        let mut index = LevelIndex::with_capacity(16);
        let mut model = BTreeMap::new();
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        // Keys wander far beyond the window, both ways, as a drifting
        // market's prices do; the touch follows them.
        let mut touch = 1_000_000i64;
        for step in 0..200_000u32 {
            touch += (next() % 9) as i64 - 4;
            let key = touch + (next() % 20_000) as i64 - 10_000;
            if next() % 3 == 0 {
                assert_eq!(index.remove(key), model.remove(&key), "step {step}: remove {key}");
            } else if let std::collections::btree_map::Entry::Vacant(slot) = model.entry(key) {
                index.insert(key, step);
                slot.insert(step);
            }
            assert_eq!(index.get(key), model.get(&key).copied(), "step {step}: get {key}");
            if step % 997 == 0 && index.drifted(touch) {
                index.recentre(touch);
            }
            if step % 5_003 == 0 {
                index.recentre(touch - 50_000);
            }
            assert_eq!(index.len(), model.len());
        }
        for (&key, &level) in &model {
            assert_eq!(index.get(key), Some(level));
        }
        // The same mapping with the window elsewhere is equal; one key
        // different is not.
        let mut moved = index.clone();
        moved.recentre(touch + 1_000_000);
        assert_eq!(moved, index);
        let (&key, _) = model.iter().next().expect("keys");
        moved.remove(key);
        moved.insert(key, u32::MAX - 1);
        assert_ne!(moved, index);
    }

    #[test]
    fn a_level_index_keeps_its_window_while_the_touch_stays_central() {
        let mut index = LevelIndex::with_capacity(16);
        index.insert(0, 0);
        // A deep book: many keys beyond the window, the touch in its middle.
        for k in 1..=2 * LevelIndex::WINDOW as i64 {
            index.insert(k * 10, k as u32);
        }
        assert!(index.outside.len() > LevelIndex::WINDOW / 8);
        assert!(!index.drifted(0));
        assert!(index.drifted(LevelIndex::WINDOW as i64));
    }
}
