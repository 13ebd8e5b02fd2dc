//! The public book as market data holds it: aggregated levels (L2) and
//! order-by-order queues (L3). Used by [`MarketData`](crate::MarketData) on
//! the publishing side and by the followers on the subscribing side, so both
//! apply the same rules.

use crate::update::{Bbo, L3Event, LevelChange, PriceLevel};
use std::collections::BTreeMap;
use venue_domain::{OrderId, Price, Qty, Side};
use venue_matching::IdMap;

/// Aggregated depth: price → (shown quantity, order count), per side.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct L2Book {
    bids: BTreeMap<Price, (Qty, u32)>,
    asks: BTreeMap<Price, (Qty, u32)>,
}

impl L2Book {
    fn side(&self, side: Side) -> &BTreeMap<Price, (Qty, u32)> {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    /// The level at `price`, if it exists.
    pub(crate) fn get(&self, side: Side, price: Price) -> Option<(Qty, u32)> {
        self.side(side).get(&price).copied()
    }

    /// Sets a level to its new absolute state; a zero quantity or count
    /// removes it.
    pub(crate) fn set(&mut self, change: &LevelChange) {
        let levels = match change.side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        if change.qty.0 == 0 || change.count == 0 {
            levels.remove(&change.price);
        } else {
            levels.insert(change.price, (change.qty, change.count));
        }
    }

    /// One side's levels, best first.
    pub(crate) fn levels(&self, side: Side) -> Box<dyn Iterator<Item = PriceLevel> + '_> {
        let level = |(&price, &(qty, count)): (&Price, &(Qty, u32))| PriceLevel { price, qty, count };
        match side {
            Side::Buy => Box::new(self.bids.iter().rev().map(level)),
            Side::Sell => Box::new(self.asks.iter().map(level)),
        }
    }

    /// At most `limit` levels of one side, best first.
    pub(crate) fn top(&self, side: Side, limit: Option<usize>) -> Vec<PriceLevel> {
        self.levels(side).take(limit.unwrap_or(usize::MAX)).collect()
    }

    /// Best bid and ask.
    pub(crate) fn bbo(&self) -> Bbo {
        let level = |(&price, &(qty, count)): (&Price, &(Qty, u32))| PriceLevel { price, qty, count };
        Bbo { bid: self.bids.last_key_value().map(level), ask: self.asks.first_key_value().map(level) }
    }
}

/// One order resting in the L3 book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Resting {
    side: Side,
    price: Price,
    qty: Qty,
    /// Arrival number at its level: the queue position key.
    arrival: u64,
}

/// One resting order as L3 snapshots list it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L3Order {
    /// Venue order id.
    pub order_id: OrderId,
    /// Limit price in ticks.
    pub price: Price,
    /// Shown quantity in lots.
    pub qty: Qty,
}

/// Why an L3 event does not fit the book it is applied to: the stream and
/// the book disagree, and the holder must resynchronise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mismatch(pub(crate) OrderId);

/// Order-by-order book: every shown order with its queue position.
#[derive(Clone, Debug, Default)]
pub(crate) struct L3Book {
    /// Looked up by id on every event, never iterated (the queues give the
    /// order): a hash map with the engine's integer hasher.
    orders: IdMap<OrderId, Resting>,
    /// `(priority key, arrival) → order` per side, where the key is the
    /// price for asks and its negation for bids: walking a side in key order
    /// is priority order (best price first, then arrival).
    bids: BTreeMap<(i64, u64), OrderId>,
    asks: BTreeMap<(i64, u64), OrderId>,
    next_arrival: u64,
}

fn key(side: Side, price: Price) -> i64 {
    match side {
        Side::Buy => price.0.saturating_neg(),
        Side::Sell => price.0,
    }
}

impl L3Book {
    fn queues(&mut self, side: Side) -> &mut BTreeMap<(i64, u64), OrderId> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    /// Appends an order at the back of its level.
    pub(crate) fn add(
        &mut self,
        order_id: OrderId,
        side: Side,
        price: Price,
        qty: Qty,
    ) -> Result<(), Mismatch> {
        if self.orders.contains_key(&order_id) || qty.0 <= 0 {
            return Err(Mismatch(order_id));
        }
        let arrival = self.next_arrival;
        self.next_arrival += 1;
        self.orders.insert(order_id, Resting { side, price, qty, arrival });
        self.queues(side).insert((key(side, price), arrival), order_id);
        Ok(())
    }

    /// Applies one L3 event; on a mismatch nothing changed.
    pub(crate) fn apply(&mut self, event: &L3Event) -> Result<(), Mismatch> {
        match *event {
            L3Event::Added { order_id, side, price, qty } => self.add(order_id, side, price, qty),
            L3Event::Modified { order_id, side, price, qty } => match self.orders.get_mut(&order_id) {
                Some(order) if order.side == side && order.price == price && qty.0 > 0 => {
                    order.qty = qty;
                    Ok(())
                }
                _ => Err(Mismatch(order_id)),
            },
            L3Event::Deleted { order_id, side, price } => match self.orders.get(&order_id) {
                Some(order) if order.side == side && order.price == price => {
                    let at = (key(side, price), order.arrival);
                    self.orders.remove(&order_id);
                    self.queues(side).remove(&at);
                    Ok(())
                }
                _ => Err(Mismatch(order_id)),
            },
            L3Event::Executed { order_id, side, price, qty, .. } => match self.orders.get(&order_id) {
                Some(order) if order.side == side && order.price == price && qty <= order.qty => Ok(()),
                _ => Err(Mismatch(order_id)),
            },
        }
    }

    /// One side in priority order: best price first, then arrival.
    pub(crate) fn side(&self, side: Side) -> Vec<L3Order> {
        let queues = match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        };
        queues
            .values()
            .filter_map(|id| {
                self.orders.get(id).map(|o| L3Order { order_id: *id, price: o.price, qty: o.qty })
            })
            .collect()
    }
}
