//! Small containers the book is built from: a sorted vector for the indexes
//! that must be walked in a deterministic order, and a fast hasher for the
//! maps that are only ever looked up, never iterated.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use venue_domain::OrderId;

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
#[derive(Debug, Default)]
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

    /// Starts loading the window slot of `key`, if the window holds it
    /// (a key outside it is rare enough to take its miss).
    #[inline(always)]
    pub(crate) fn prefetch(&self, key: i64) {
        if let Some(at) = self.slot(key) {
            prefetch_read(&self.window[at]);
        }
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

/// `clone_from` keeps the target's allocations (see [`OrderTable`]).
impl Clone for LevelIndex {
    fn clone(&self) -> Self {
        LevelIndex { lo: self.lo, window: self.window.clone(), outside: self.outside.clone(), len: self.len }
    }

    fn clone_from(&mut self, source: &Self) {
        let LevelIndex { lo, window, outside, len } = self;
        *lo = source.lo;
        window.clone_from(&source.window);
        outside.clone_from(&source.outside);
        *len = source.len;
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

/// Hints the CPU to bring `value`'s cache lines in; no effect on results.
/// The workspace denies `unsafe`; this is its one use outside the
/// benchmark's counting allocator, because the intrinsic is `unsafe` to
/// call although a prefetch cannot fault or change anything observable.
///
/// Every cache line `value` spans is asked for, not only its first: an
/// order's node is 112 bytes at a 112-byte stride, so it spans two or three
/// lines, and the fields the next stage reads (queue links, level, side)
/// sit at its end.
#[inline(always)]
#[allow(unsafe_code)]
pub(crate) fn prefetch_read<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let start = (value as *const T).cast::<i8>();
        let size = std::mem::size_of::<T>();
        // Points at most a line apart from the first byte to the last
        // touch every line in between; the size is a constant, so this
        // unrolls into two or three instructions.
        let mut offset = 0;
        while offset < size {
            // SAFETY: a prefetch is only a hint: it never faults and
            // changes no state the program can observe, and the address
            // lies inside a live reference.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(offset)) };
            offset += 64;
        }
        if size > 1 {
            // SAFETY: as above; the last byte of the same reference.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(size - 1)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// Live orders by order id: open addressing with linear probing over a
/// power-of-two array of `(id, value)` slots, at most three quarters full
/// (linear probing's runs stay within a cache line or two at that load,
/// and a roomier table would spread a large book over more memory than a
/// general hash map does).
///
/// Every cancel and amend starts with this lookup. A general hash map
/// (hashbrown) spends about 40 instructions on it: hashing, a SIMD probe of
/// a control group, then the bucket. Here the slot is a multiply and a
/// shift of the id (see `home`), and the slot holds the id itself, so a
/// hit costs one cache line and a handful of instructions. Removal shifts later entries of the probe run back
/// instead of leaving tombstones, so the table never fills with dead
/// slots and never needs a clean-up pass.
///
/// It is only looked up, never iterated where order matters: [`iter`]
/// walks slots in an order that depends on the insertion history.
///
/// [`iter`]: OrderTable::iter
pub struct OrderTable<V> {
    /// `(id, value)`, or `(EMPTY, _)` for a free slot.
    slots: Vec<(u64, V)>,
    /// `64 - log2(slots.len())`: the hash is the top bits of the product.
    shift: u32,
    len: usize,
}

impl<V: Copy + Default> OrderTable<V> {
    /// The id that marks a free slot; never stored (the book refuses it as
    /// out of range, and the engine's sequence never reaches it).
    pub const EMPTY: OrderId = OrderId(u64::MAX);
    /// Fibonacci hashing's multiplier, 2^64 divided by the golden ratio.
    const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
    /// The smallest table (slots).
    const MIN_SLOTS: usize = 16;

    /// A table that holds `capacity` orders before it first grows.
    pub fn with_capacity(capacity: usize) -> OrderTable<V> {
        let slots = capacity.max(1).saturating_mul(4).div_ceil(3).next_power_of_two().max(Self::MIN_SLOTS);
        OrderTable {
            slots: vec![(Self::EMPTY.0, V::default()); slots],
            shift: 64 - slots.trailing_zeros(),
            len: 0,
        }
    }

    /// Ids that differ only in their last two bits share a group of four
    /// adjacent slots (one cache line of `u32` values): a sequence's
    /// consecutive ids are inserted, and a queue's oldest orders removed,
    /// four to a cache miss. Groups are spread by Fibonacci hashing, so
    /// strided ids (one book's share of a sequence shared by many) spread
    /// as well as consecutive ones.
    #[inline(always)]
    fn home(&self, id: u64) -> usize {
        let group = ((id >> 2).wrapping_mul(Self::GOLDEN) >> self.shift) as usize;
        (group & !3) | (id & 3) as usize
    }

    #[inline(always)]
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// The slot holding `id`, if any.
    #[inline(always)]
    fn find(&self, id: OrderId) -> Option<usize> {
        if id == Self::EMPTY {
            return None;
        }
        let mut at = self.home(id.0);
        loop {
            let key = self.slots[at].0;
            if key == id.0 {
                return Some(at);
            }
            if key == Self::EMPTY.0 {
                return None;
            }
            at = (at + 1) & self.mask();
        }
    }

    /// Asks the CPU to start loading the slot where a lookup of `id` begins,
    /// without waiting for it: the engine calls it for the next command
    /// while it applies the current one, so that with many books the
    /// lookup does not stall on memory.
    #[inline]
    pub fn prefetch(&self, id: OrderId) {
        prefetch_read(&self.slots[self.home(id.0)]);
    }

    /// The value of `id`.
    #[inline]
    pub fn get(&self, id: OrderId) -> Option<&V> {
        self.find(id).map(|at| &self.slots[at].1)
    }

    /// The value of `id`, to change in place.
    #[inline]
    pub fn get_mut(&mut self, id: OrderId) -> Option<&mut V> {
        self.find(id).map(|at| &mut self.slots[at].1)
    }

    /// Whether `id` is present.
    #[inline]
    pub fn contains_key(&self, id: OrderId) -> bool {
        self.find(id).is_some()
    }

    /// Sets the value of `id`, returning the one it replaces. Doubles the
    /// table (allocating, and moving every entry) when it would be more
    /// than three quarters full.
    ///
    /// # Panics
    ///
    /// If `id` is [`OrderTable::EMPTY`]: callers refuse that id first.
    pub fn insert(&mut self, id: OrderId, value: V) -> Option<V> {
        assert!(id != Self::EMPTY, "{id:?} marks a free slot and cannot be stored");
        let mut at = self.home(id.0);
        loop {
            let slot = &mut self.slots[at];
            if slot.0 == id.0 {
                return Some(std::mem::replace(&mut slot.1, value));
            }
            if slot.0 == Self::EMPTY.0 {
                *slot = (id.0, value);
                self.len += 1;
                if self.len * 4 > self.slots.len() * 3 {
                    self.grow();
                }
                return None;
            }
            at = (at + 1) & self.mask();
        }
    }

    #[cold]
    fn grow(&mut self) {
        let free = (Self::EMPTY.0, V::default());
        let doubled = vec![free; self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, doubled);
        self.shift -= 1;
        self.len = 0;
        for (id, value) in old {
            if id != Self::EMPTY.0 {
                self.insert(OrderId(id), value);
            }
        }
    }

    /// Removes `id`, returning its value. The entries after it in its
    /// probe run move back so that every entry stays reachable from its
    /// home slot without passing a free one.
    pub fn remove(&mut self, id: OrderId) -> Option<V> {
        let mut hole = self.find(id)?;
        let value = self.slots[hole].1;
        self.len -= 1;
        let mask = self.mask();
        let mut at = hole;
        loop {
            at = (at + 1) & mask;
            let key = self.slots[at].0;
            if key == Self::EMPTY.0 {
                break;
            }
            // The entry at `at` may fill the hole unless its home lies
            // cyclically in (hole, at]: then it would move before its home.
            let home = self.home(key);
            let stays = if hole <= at { hole < home && home <= at } else { hole < home || home <= at };
            if !stays {
                self.slots[hole] = self.slots[at];
                hole = at;
            }
        }
        self.slots[hole].0 = Self::EMPTY.0;
        Some(value)
    }

    /// Number of orders.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no order.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every entry, in slot order (which depends on history: sort before
    /// anything order-sensitive).
    pub fn iter(&self) -> impl Iterator<Item = (OrderId, &V)> {
        self.slots.iter().filter(|(id, _)| *id != Self::EMPTY.0).map(|(id, value)| (OrderId(*id), value))
    }

    /// Every value, in slot order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, value)| value)
    }
}

/// `clone_from` keeps the target's allocation when it is large enough: a
/// snapshot is cloned into the previous snapshot's copy, so it copies
/// memory the process already has instead of faulting in fresh pages.
impl<V: Clone> Clone for OrderTable<V> {
    fn clone(&self) -> Self {
        OrderTable { slots: self.slots.clone(), shift: self.shift, len: self.len }
    }

    fn clone_from(&mut self, source: &Self) {
        // Every field named: a new one must be added here too.
        let OrderTable { slots, shift, len } = self;
        slots.clone_from(&source.slots);
        *shift = source.shift;
        *len = source.len;
    }
}

impl<V: Copy + Default> std::ops::Index<OrderId> for OrderTable<V> {
    type Output = V;

    /// The value of an id the caller knows is present.
    fn index(&self, id: OrderId) -> &V {
        self.get(id).unwrap_or_else(|| panic!("{id:?} is not in the order table"))
    }
}

/// Equal when they hold the same ids with the same values, however their
/// slots are laid out (a table rebuilt from a snapshot places its own).
impl<V: Copy + Default + PartialEq> PartialEq for OrderTable<V> {
    fn eq(&self, other: &OrderTable<V>) -> bool {
        self.len == other.len && self.iter().all(|(id, value)| other.get(id) == Some(value))
    }
}

impl<V: Copy + Default + Eq> Eq for OrderTable<V> {}

impl<V: Copy + Default + std::fmt::Debug> std::fmt::Debug for OrderTable<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// A vector kept in ascending order, the next element to take at its end.
/// Inserting and removing cost a binary search plus a move of the elements
/// behind the position; with pre-reserved capacity nothing allocates.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct SortedVec<K> {
    items: Vec<K>,
}

/// `clone_from` keeps the target's allocation (see [`OrderTable`]).
impl<K: Clone> Clone for SortedVec<K> {
    fn clone(&self) -> Self {
        SortedVec { items: self.items.clone() }
    }

    fn clone_from(&mut self, source: &Self) {
        let SortedVec { items } = self;
        items.clone_from(&source.items);
    }
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

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
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

    /// A seeded xorshift64 stream: reproducible test inputs without a
    /// dependency.
    fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    #[test]
    fn level_index_agrees_with_a_plain_map_inside_outside_and_across_recentring() {
        let mut index = LevelIndex::with_capacity(16);
        let mut model = BTreeMap::new();
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15u64);
        // Keys wander far beyond the window, both ways, as a drifting
        // market's prices do; the touch follows them.
        let mut touch = 1_000_000i64;
        for step in 0..200_000u32 {
            touch += (next() % 9) as i64 - 4;
            let key = touch + (next() % 20_000) as i64 - 10_000;
            if next().is_multiple_of(3) {
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

    #[test]
    fn an_order_table_agrees_with_a_plain_map_through_inserts_removals_and_growth() {
        let mut table = OrderTable::with_capacity(4);
        let mut model: BTreeMap<u64, u32> = BTreeMap::new();
        let mut next = xorshift(0x2545_F491_4F6C_DD1Du64);
        // Ids from a shared sequence (strided), ids that agree in their low
        // bits, and ids already present.
        let mut sequence = 1u64;
        for step in 0..100_000u32 {
            let id = match next() % 4 {
                0 => {
                    sequence += 1 + next() % 100;
                    sequence
                }
                1 => (next() % 64) << 12,
                _ => model.keys().nth((next() % (model.len() as u64 + 1)) as usize).copied().unwrap_or(7),
            };
            if next() % 5 < 2 {
                assert_eq!(table.remove(OrderId(id)), model.remove(&id), "step {step}: remove {id}");
            } else {
                assert_eq!(
                    table.insert(OrderId(id), step),
                    model.insert(id, step),
                    "step {step}: insert {id}"
                );
            }
            assert_eq!(table.get(OrderId(id)), model.get(&id), "step {step}: get {id}");
            assert_eq!(table.len(), model.len());
            if step % 9_973 == 0 {
                for (&id, value) in &model {
                    assert_eq!(table.get(OrderId(id)), Some(value), "step {step}: {id} lost");
                }
                assert_eq!(table.iter().count(), model.len());
            }
        }
        // Equal by content, not layout: the same entries inserted in the
        // other order compare equal; one value different does not.
        let mut reversed = OrderTable::with_capacity(1);
        for (&id, &value) in model.iter().rev() {
            reversed.insert(OrderId(id), value);
        }
        assert_eq!(reversed, table);
        let (&id, _) = model.iter().next().expect("entries");
        reversed.insert(OrderId(id), u32::MAX);
        assert_ne!(reversed, table);
        // The free-slot marker is never found.
        assert_eq!(table.get(OrderTable::<u32>::EMPTY), None);
        assert!(!table.contains_key(OrderTable::<u32>::EMPTY));
    }
}
