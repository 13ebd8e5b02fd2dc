//! Per-subscriber buffering with conflation, for consumers slower than the
//! market.
//!
//! A [`Conflator`] holds the updates a subscriber has not taken yet, as the
//! shared `Arc`s every subscriber receives (no copy while there is room).
//! When it is full, new updates are merged instead of queued:
//!
//! * a new update is folded into the newest pending update of the same
//!   instrument; if there is none, every instrument's pending updates are
//!   first folded into that instrument's oldest pending one, which frees
//!   room (unless the subscriber has more instruments pending than the
//!   capacity: then the queue holds one update per instrument, its bound);
//! * folding keeps what the subscriber's [`Interest`] names: levels by their
//!   latest state per (side, price), the latest quote, the latest candle per
//!   interval and the latest status; trades and L3 events concatenated in
//!   order (they are events, so they are never dropped: a subscriber whose
//!   event backlog grows beyond what the transport accepts must be
//!   disconnected and resynchronise);
//! * a merged update covers `first_seq..=seq` and keeps the first part's
//!   `l2_first_seq`/`l3_first_seq`, so a [`BookFollower`](crate::BookFollower)
//!   accepts it under the usual rules and ends with exactly the book of an
//!   unconflated subscriber, in fewer messages.
//!
//! Updates with nothing the subscriber wants are not queued; the per-channel
//! first sequence numbers keep its stream contiguous without them. Order
//! between instruments may change when updates merge; order within an
//! instrument never does.

use crate::update::{Interest, Update};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// What [`Conflator::push`] did with an update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Queued as it is (shared, not copied).
    Queued,
    /// Merged into a pending update of its instrument (the buffer is full).
    Conflated,
    /// Nothing in it for this subscriber.
    Skipped,
}

/// A subscriber's bounded buffer of pending updates (see the module
/// documentation for the conflation rule).
#[derive(Clone, Debug)]
pub struct Conflator {
    capacity: usize,
    interest: Interest,
    pending: VecDeque<Arc<Update>>,
    merged: u64,
}

impl Conflator {
    /// A buffer of `capacity` updates (at least 1) for a subscriber wanting
    /// `interest`.
    pub fn new(capacity: usize, interest: Interest) -> Conflator {
        let capacity = capacity.max(1);
        Conflator { capacity, interest, pending: VecDeque::with_capacity(capacity), merged: 0 }
    }

    /// Offers the next update of the stream.
    pub fn push(&mut self, update: Arc<Update>) -> Pushed {
        if !self.interest.wants(&update) {
            return Pushed::Skipped;
        }
        if self.pending.len() < self.capacity {
            self.pending.push_back(update);
            return Pushed::Queued;
        }
        if let Some(at) = self.pending.iter().rposition(|u| u.instrument == update.instrument) {
            Arc::make_mut(&mut self.pending[at]).absorb(&update, self.interest);
            self.merged += 1;
            return Pushed::Conflated;
        }
        self.compact();
        self.pending.push_back(update);
        Pushed::Conflated
    }

    /// Folds each instrument's pending updates into its oldest one.
    fn compact(&mut self) {
        let mut kept: VecDeque<Arc<Update>> = VecDeque::with_capacity(self.capacity);
        let mut slot = BTreeMap::new();
        for update in self.pending.drain(..) {
            match slot.get(&update.instrument) {
                Some(&at) => {
                    Arc::make_mut(&mut kept[at]).absorb(&update, self.interest);
                    self.merged += 1;
                }
                None => {
                    slot.insert(update.instrument, kept.len());
                    kept.push_back(update);
                }
            }
        }
        self.pending = kept;
    }

    /// The next update to send, oldest first.
    pub fn pop(&mut self) -> Option<Arc<Update>> {
        self.pending.pop_front()
    }

    /// Updates waiting.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// How many updates were merged into others so far (a slow-consumer
    /// metric).
    pub fn merged(&self) -> u64 {
        self.merged
    }
}
