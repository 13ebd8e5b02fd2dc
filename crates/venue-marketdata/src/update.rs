//! What subscribers receive: one [`Update`] per instrument per engine command
//! that changed the instrument's public market data.
//!
//! An update is built once and shared behind an `Arc` by every subscriber
//! (and every transport) that receives it. Its parts are already separated
//! (L2 level changes, L3 events, trades, L1, candles, status) so a transport
//! picks the parts its channel carries and never re-derives anything; each
//! book channel also has its own first sequence number
//! ([`Update::l2_first_seq`], [`Update::l3_first_seq`]) so a stream that
//! carries only the updates with content for that channel stays contiguous.

use crate::candle::Candle;
use venue_domain::{InstrumentId, OrderId, Price, Qty, Side, Timestamp, TradeId, TradingStatus};

/// One aggregated price level: what L2 snapshots, L1 and followers hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriceLevel {
    /// Price in ticks.
    pub price: Price,
    /// Sum of the shown quantities at this price, in lots (hidden iceberg
    /// quantity is never public).
    pub qty: Qty,
    /// Number of orders showing quantity at this price.
    pub count: u32,
}

/// The new state of one price level after an update: the L2 diff unit.
///
/// Values are absolute, not deltas, so applying the same change twice is
/// harmless and a conflated change (the latest value for a price) is exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelChange {
    /// Side of the level.
    pub side: Side,
    /// Price of the level, in ticks.
    pub price: Price,
    /// New shown quantity in lots; zero means the level is gone.
    pub qty: Qty,
    /// New number of orders; zero exactly when `qty` is zero.
    pub count: u32,
}

/// One order-by-order (L3) change of the shown book, in the engine's order.
///
/// Reconstruction rule: `Added` appends the order at the back of its price
/// level's queue; `Modified` sets its shown quantity in place (it keeps its
/// place); `Deleted` removes it; `Executed` changes nothing by itself (the
/// `Modified` or `Deleted` that follows it does) and says which resting
/// order a trade hit, as ITCH's "order executed" does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L3Event {
    /// An order's shown slice joined the back of its level (a new resting
    /// order, an order that lost priority, or an iceberg's refreshed slice).
    Added {
        /// Venue order id.
        order_id: OrderId,
        /// Side.
        side: Side,
        /// Limit price in ticks.
        price: Price,
        /// Shown quantity in lots.
        qty: Qty,
    },
    /// An order's shown quantity changed in place (partial fill, size
    /// decrease, self-trade decrement).
    Modified {
        /// Venue order id.
        order_id: OrderId,
        /// Side.
        side: Side,
        /// Limit price in ticks.
        price: Price,
        /// New shown quantity in lots (> 0).
        qty: Qty,
    },
    /// An order left the shown book (filled, cancelled, expired, moved, or
    /// an iceberg slice used up before its refresh is added again).
    Deleted {
        /// Venue order id.
        order_id: OrderId,
        /// Side.
        side: Side,
        /// Limit price in ticks.
        price: Price,
    },
    /// A resting order traded. Informational: the shown quantity changes by
    /// the `Modified`/`Deleted` event that follows.
    Executed {
        /// The resting (maker) order.
        order_id: OrderId,
        /// The maker's side.
        side: Side,
        /// Execution price in ticks (the maker's price).
        price: Price,
        /// Executed quantity in lots.
        qty: Qty,
        /// The trade.
        trade_id: TradeId,
    },
}

/// One public trade: what trade feeds, the REST `trades` list and candles
/// are made of. Accounts are private and never appear here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublicTrade {
    /// Per-instrument trade id, increasing by one: a trade subscriber can
    /// detect a missing trade by it.
    pub trade_id: TradeId,
    /// Execution price in ticks.
    pub price: Price,
    /// Executed quantity in lots.
    pub qty: Qty,
    /// Side of the incoming (taker) order: `Buy` means the buyer took
    /// liquidity (Binance `m == false`).
    pub aggressor: Side,
    /// Sequencer time of the command that traded.
    pub time: Timestamp,
    /// The resting order.
    pub maker_order_id: OrderId,
    /// The incoming order.
    pub taker_order_id: OrderId,
}

/// Best bid and offer with their sizes (L1 quote).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bbo {
    /// Best bid level, if any bid rests.
    pub bid: Option<PriceLevel>,
    /// Best ask level, if any ask rests.
    pub ask: Option<PriceLevel>,
}

/// Everything one engine command changed in one instrument's public market
/// data, under one book sequence number. See the crate documentation for
/// the sequence rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    /// The instrument.
    pub instrument: InstrumentId,
    /// First book sequence number this update covers: equal to `seq` for an
    /// update from [`MarketData`](crate::MarketData); lower for one merged
    /// by a [`Conflator`](crate::Conflator). Binance `U` of a stream that
    /// carries every update.
    pub first_seq: u64,
    /// The instrument's book sequence number after this update (Binance
    /// `u`).
    pub seq: u64,
    /// One more than the sequence number of the previous update of this
    /// instrument that changed L2 (1 if none did): `U` of a depth stream that
    /// skips updates without level changes, so that on such a stream every
    /// message's `l2_first_seq` is the previous message's `seq` + 1.
    pub l2_first_seq: u64,
    /// The same as `l2_first_seq` for L3 events.
    pub l3_first_seq: u64,
    /// Sequencer time of the (last) command.
    pub time: Timestamp,
    /// L2: the new state of every level whose quantity or count changed, bids
    /// best first, then asks best first. Levels that a command touched but
    /// left as they were are not listed.
    pub levels: Vec<LevelChange>,
    /// L3: order-by-order changes, in the order the engine made them.
    pub l3: Vec<L3Event>,
    /// Trades, in execution order.
    pub trades: Vec<PublicTrade>,
    /// L1 after the update, present only when the best bid or ask (price,
    /// size or count) changed.
    pub bbo: Option<Bbo>,
    /// Candles that changed, ordered by interval (in
    /// [`Interval::ALL`](crate::Interval::ALL) order) then open time: the
    /// candles whose period ended by this update's time, final (closed:
    /// [`Candle::is_closed`] at [`time`](Self::time)), then, when the update
    /// traded, the current candle of every interval after its trades (open).
    /// An update may carry only closed candles: time passed, nothing else
    /// changed.
    pub candles: Vec<Candle>,
    /// The new trading status, when it changed.
    pub status: Option<TradingStatus>,
}

impl Update {
    /// Whether the update changed L2 (depth channels send it).
    pub fn has_l2(&self) -> bool {
        !self.levels.is_empty()
    }

    /// Whether the update has L3 events (order-by-order channels send it).
    pub fn has_l3(&self) -> bool {
        !self.l3.is_empty()
    }

    /// The `(U, u)` pair of a depth stream that carries only updates with
    /// level changes.
    pub fn l2_range(&self) -> (u64, u64) {
        (self.l2_first_seq, self.seq)
    }

    /// The `(U, u)` pair of an L3 stream that carries only updates with L3
    /// events.
    pub fn l3_range(&self) -> (u64, u64) {
        (self.l3_first_seq, self.seq)
    }

    /// Folds a later update of the same instrument into this one, keeping
    /// the parts `interest` asks for: the result takes the subscriber from
    /// before `self` to after `later` exactly as the two did one after the
    /// other. Levels and L1, candles (per period) and status keep their
    /// latest values; L3 events and trades are concatenated (they are
    /// events, not state).
    pub(crate) fn absorb(&mut self, later: &Update, interest: Interest) {
        debug_assert_eq!(self.instrument, later.instrument);
        debug_assert!(later.first_seq > self.seq);
        self.seq = later.seq;
        self.time = later.time;
        if interest.l2 {
            // Both lists are in book order: one merge pass, the later
            // state winning where both have a level.
            let mut merged: Vec<LevelChange> = Vec::with_capacity(self.levels.len() + later.levels.len());
            let (mut old, mut new) = (self.levels.iter().peekable(), later.levels.iter().peekable());
            loop {
                let next = match (old.peek(), new.peek()) {
                    (Some(o), Some(n)) => match level_key(o).cmp(&level_key(n)) {
                        std::cmp::Ordering::Less => old.next(),
                        std::cmp::Ordering::Greater => new.next(),
                        std::cmp::Ordering::Equal => {
                            old.next();
                            new.next()
                        }
                    },
                    (Some(_), None) => old.next(),
                    (None, Some(_)) => new.next(),
                    (None, None) => break,
                };
                merged.extend(next.copied());
            }
            self.levels = merged;
        } else {
            self.levels.clear();
        }
        if interest.l3 {
            self.l3.extend_from_slice(&later.l3);
        } else {
            self.l3.clear();
        }
        if interest.trades {
            self.trades.extend_from_slice(&later.trades);
        } else {
            self.trades.clear();
        }
        self.bbo = if interest.l1 { later.bbo.or(self.bbo) } else { None };
        if interest.candles {
            for candle in &later.candles {
                let same = |c: &&mut Candle| (c.interval, c.open_time) == (candle.interval, candle.open_time);
                match self.candles.iter_mut().find(same) {
                    Some(slot) => *slot = *candle,
                    None => self.candles.push(*candle),
                }
            }
            self.candles.sort_by_key(|c| (c.interval, c.open_time));
        } else {
            self.candles.clear();
        }
        self.status = if interest.status { later.status.or(self.status) } else { None };
    }
}

/// Orders level changes bids best (highest) first, then asks best (lowest)
/// first.
pub(crate) fn sort_levels(levels: &mut [LevelChange]) {
    levels.sort_by_key(level_key);
}

/// Book order: bids best (highest) first, then asks best (lowest) first.
fn level_key(level: &LevelChange) -> (u8, i64) {
    match level.side {
        Side::Buy => (0, level.price.0.saturating_neg()),
        Side::Sell => (1, level.price.0),
    }
}

/// Which parts of an [`Update`] a subscriber wants: a transport's
/// subscription, and what a [`Conflator`](crate::Conflator) keeps when it
/// merges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interest {
    /// L2 level changes.
    pub l2: bool,
    /// L3 events.
    pub l3: bool,
    /// Trades.
    pub trades: bool,
    /// Best bid and offer.
    pub l1: bool,
    /// Candles.
    pub candles: bool,
    /// Trading status changes.
    pub status: bool,
}

impl Interest {
    /// Every part.
    pub const ALL: Interest =
        Interest { l2: true, l3: true, trades: true, l1: true, candles: true, status: true };
    /// Nothing: the base to name a few parts from
    /// (`Interest { trades: true, ..Interest::NONE }`).
    pub const NONE: Interest =
        Interest { l2: false, l3: false, trades: false, l1: false, candles: false, status: false };
    /// A depth (L2) subscriber: level changes, the quote and the status.
    pub const DEPTH: Interest =
        Interest { l2: true, l3: false, trades: false, l1: true, candles: false, status: true };

    /// Whether `update` has anything this subscriber wants.
    pub fn wants(&self, update: &Update) -> bool {
        (self.l2 && update.has_l2())
            || (self.l3 && update.has_l3())
            || (self.trades && !update.trades.is_empty())
            || (self.l1 && update.bbo.is_some())
            || (self.candles && !update.candles.is_empty())
            || (self.status && update.status.is_some())
    }
}
