//! Client-side reconstruction: a snapshot, then the updates after it, with
//! the gap rules of Binance's "how to manage a local order book".
//!
//! A follower holds the book at its sequence number `seq`. For an update
//! covering `U..=u` on its channel (`U` = [`Update::l2_first_seq`] or
//! [`Update::l3_first_seq`], `u` = [`Update::seq`]):
//!
//! 1. `u <= seq`: the update is already in the book (it was buffered before
//!    the snapshot was taken): ignored.
//! 2. `U > seq + 1`: an update the follower needs is missing: refused with
//!    [`FollowError::Gap`], the book untouched; resynchronise from a new
//!    snapshot.
//! 3. otherwise (`U <= seq + 1 <= u`) it is applied and `seq` becomes `u`.
//!
//! For the first update after the snapshot this is Binance's
//! `U <= lastUpdateId + 1 <= u`; thereafter, on a stream that carries only
//! updates with content for the channel, each `U` is the previous `u + 1`.
//! Rule 3 also accepts a `U` below `seq + 1`: a stream that carries every
//! update (including those with nothing for this channel) overlaps that way,
//! and applying is still exact because an update's content is all at `u`
//! (or, when conflated, absolute levels). The L3 follower refuses a merged
//! update that starts at or before its `seq` ([`FollowError::Overlap`]):
//! order events are not idempotent.
//!
//! Transports mirror these followers in their client libraries and the web
//! page; tests use them to prove the stream reconstructs the engine's book.

use crate::book::{L2Book, L3Book, L3Order};
use crate::market::{DepthSnapshot, L3Snapshot};
use crate::update::{PriceLevel, Update};
use venue_domain::{InstrumentId, OrderId, Side, Timestamp};

/// Why a follower refused an update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FollowError {
    /// Updates are missing between the book and this update: the follower
    /// needed one starting at `expected` (its `seq + 1`) and got one starting
    /// at `got`. Nothing was applied.
    Gap {
        /// The first sequence number the follower needs.
        expected: u64,
        /// The first sequence number the update covers.
        got: u64,
    },
    /// A merged (conflated) update starting at or before the L3 book's
    /// sequence number: its events up to `seq` are already in the book and
    /// order events cannot be applied twice. Nothing was applied;
    /// resynchronise. (Levels are absolute, so L2 accepts such an update.)
    Overlap {
        /// The follower's sequence number.
        seq: u64,
        /// The first sequence number the update covers.
        first: u64,
    },
    /// An L3 event names an order the book does not hold as described (the
    /// stream and the snapshot disagree). The book is no longer trustworthy.
    Mismatch {
        /// The update's sequence number.
        seq: u64,
        /// The order.
        order_id: OrderId,
    },
}

impl core::fmt::Display for FollowError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FollowError::Gap { expected, got } => {
                write!(f, "sequence gap: expected an update from {expected}, got one from {got}")
            }
            FollowError::Overlap { seq, first } => {
                write!(f, "merged update from {first} overlaps the L3 book at {seq}")
            }
            FollowError::Mismatch { seq, order_id } => {
                write!(f, "update {seq} does not fit the book at order {}", order_id.0)
            }
        }
    }
}

impl std::error::Error for FollowError {}

/// What a follower did with an update it did not refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Applied: the follower is now at the update's sequence number.
    Applied,
    /// Already covered by the snapshot (or an earlier update): ignored.
    Stale,
    /// Another instrument's update: ignored.
    OtherInstrument,
}

/// The sequence check shared by both followers.
fn check(instrument: InstrumentId, seq: u64, update: &Update, first: u64) -> Result<Applied, FollowError> {
    if update.instrument != instrument {
        Ok(Applied::OtherInstrument)
    } else if update.seq <= seq {
        Ok(Applied::Stale)
    } else if first > seq + 1 {
        Err(FollowError::Gap { expected: seq + 1, got: first })
    } else {
        Ok(Applied::Applied)
    }
}

/// An L2 subscriber's local book: a depth snapshot plus the level changes
/// after it.
#[derive(Clone, Debug)]
pub struct BookFollower {
    instrument: InstrumentId,
    seq: u64,
    time: Timestamp,
    book: L2Book,
}

impl BookFollower {
    /// Starts from a snapshot. Take a full one (`limit: None`) for an exact
    /// whole book; from a top-N snapshot, levels below the N-th are only
    /// known once an update touches them.
    pub fn new(snapshot: &DepthSnapshot) -> BookFollower {
        let mut book = L2Book::default();
        for (side, levels) in [(Side::Buy, &snapshot.bids), (Side::Sell, &snapshot.asks)] {
            for level in levels {
                book.set(&crate::LevelChange {
                    side,
                    price: level.price,
                    qty: level.qty,
                    count: level.count,
                });
            }
        }
        BookFollower { instrument: snapshot.instrument, seq: snapshot.seq, time: snapshot.time, book }
    }

    /// Applies an update's level changes under the module's sequence rules.
    pub fn apply(&mut self, update: &Update) -> Result<Applied, FollowError> {
        let outcome = check(self.instrument, self.seq, update, update.l2_first_seq)?;
        if outcome == Applied::Applied {
            for change in &update.levels {
                self.book.set(change);
            }
            self.seq = update.seq;
            self.time = update.time;
        }
        Ok(outcome)
    }

    /// The instrument followed.
    pub fn instrument(&self) -> InstrumentId {
        self.instrument
    }

    /// The sequence number the book is at.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// One side's levels, best first.
    pub fn levels(&self, side: Side) -> Vec<PriceLevel> {
        self.book.top(side, None)
    }

    /// The local book as a snapshot (best `limit` levels per side), to
    /// compare or to serve.
    pub fn depth(&self, limit: Option<usize>) -> DepthSnapshot {
        DepthSnapshot {
            instrument: self.instrument,
            seq: self.seq,
            time: self.time,
            bids: self.book.top(Side::Buy, limit),
            asks: self.book.top(Side::Sell, limit),
        }
    }
}

/// An L3 subscriber's local book: an L3 snapshot plus the order events after
/// it.
#[derive(Clone, Debug)]
pub struct L3Follower {
    instrument: InstrumentId,
    seq: u64,
    time: Timestamp,
    book: L3Book,
}

impl L3Follower {
    /// Starts from a snapshot (orders in priority order, as listed).
    pub fn new(snapshot: &L3Snapshot) -> Result<L3Follower, FollowError> {
        let mut book = L3Book::default();
        for (side, orders) in [(Side::Buy, &snapshot.bids), (Side::Sell, &snapshot.asks)] {
            for order in orders {
                book.add(order.order_id, side, order.price, order.qty)
                    .map_err(|m| FollowError::Mismatch { seq: snapshot.seq, order_id: m.0 })?;
            }
        }
        Ok(L3Follower { instrument: snapshot.instrument, seq: snapshot.seq, time: snapshot.time, book })
    }

    /// Applies an update's L3 events under the module's sequence rules. On
    /// [`FollowError::Mismatch`] the events before the bad one are applied:
    /// resynchronise.
    pub fn apply(&mut self, update: &Update) -> Result<Applied, FollowError> {
        let outcome = check(self.instrument, self.seq, update, update.l3_first_seq)?;
        if outcome == Applied::Applied && update.first_seq <= self.seq {
            return Err(FollowError::Overlap { seq: self.seq, first: update.first_seq });
        }
        if outcome == Applied::Applied {
            for event in &update.l3 {
                self.book
                    .apply(event)
                    .map_err(|m| FollowError::Mismatch { seq: update.seq, order_id: m.0 })?;
            }
            self.seq = update.seq;
            self.time = update.time;
        }
        Ok(outcome)
    }

    /// The sequence number the book is at.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The local book as a snapshot.
    pub fn snapshot(&self) -> L3Snapshot {
        L3Snapshot {
            instrument: self.instrument,
            seq: self.seq,
            time: self.time,
            bids: self.book.side(Side::Buy),
            asks: self.book.side(Side::Sell),
        }
    }

    /// One side in priority order.
    pub fn orders(&self, side: Side) -> Vec<L3Order> {
        self.book.side(side)
    }
}
