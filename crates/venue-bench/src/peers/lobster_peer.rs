//! Peer: the `lobster` crate (0.7.0), a single-threaded limit order book
//! with no dependencies.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use lobster::{FillMetadata, OrderBook, OrderEvent, OrderType};

use crate::workload::{BenchBook, BenchTif, Op, Side};

/// Capacity of each price level's queue; lobster's own default.
const QUEUE_CAPACITY: usize = 10;

/// [`BenchBook`] over `lobster::OrderBook` 0.7.0.
///
/// Mapping: Limit and Market go to `OrderType::Limit` / `OrderType::Market`
/// (lobster's market order never rests). Lobster has no time in force, so an
/// IOC is a limit followed by `OrderType::Cancel` of the id when it did not
/// fill completely. Cancel is passed through for every id (lobster ignores
/// unknown ids). Lobster has no amend and no way to read an order's remaining
/// quantity, so the adapter keeps a shadow map id → (side, remaining), kept up
/// to date from the fills lobster reports; Move of a live order is
/// `OrderType::Cancel` plus a new GTC limit with the same id, the remaining
/// quantity and the new price, and a no-op otherwise. The shadow map's cost is
/// part of what is measured.
///
/// The checksum sums `filled_qty` of the `Filled`/`PartiallyFilled` events
/// lobster returns. Lobster's own `traded_volume()` would give the same number
/// but needs stats tracking, which clones every event; it stays off.
///
/// Known lobster behaviours (not adapter bugs): price levels are never removed
/// from its maps once created, so best-price lookups scan empty levels; and a
/// resting order that is filled completely stays in its id map and arena until
/// a cancel for that id arrives.
#[derive(Debug)]
pub struct LobsterPeer {
    book: OrderBook,
    live: HashMap<u64, (Side, i64)>,
    traded: u64,
}

impl Default for LobsterPeer {
    fn default() -> Self {
        Self::with_capacity(super::DEFAULT_CAPACITY)
    }
}

impl LobsterPeer {
    /// A book with lobster's arena pre-allocated for `orders` orders.
    pub fn with_capacity(orders: usize) -> Self {
        Self {
            book: OrderBook::new(orders, QUEUE_CAPACITY, false),
            live: HashMap::with_capacity(orders),
            traded: 0,
        }
    }

    /// Sends one order and returns the quantity it traded.
    fn execute(&mut self, order: OrderType) -> i64 {
        let (filled, fills) = match self.book.execute(order) {
            OrderEvent::Filled { filled_qty, fills, .. }
            | OrderEvent::PartiallyFilled { filled_qty, fills, .. } => (filled_qty, fills),
            OrderEvent::Unfilled { .. } | OrderEvent::Placed { .. } | OrderEvent::Canceled { .. } => {
                return 0;
            }
        };
        self.traded = self.traded.wrapping_add(filled);
        self.on_fills(&fills);
        i64::try_from(filled).unwrap_or(i64::MAX)
    }

    /// Brings the shadow map's remaining quantities in line with the makers'
    /// fills.
    fn on_fills(&mut self, fills: &[FillMetadata]) {
        for fill in fills {
            let Ok(maker) = u64::try_from(fill.order_2) else {
                continue;
            };
            if let Entry::Occupied(mut entry) = self.live.entry(maker) {
                let left = &mut entry.get_mut().1;
                *left -= i64::try_from(fill.qty).unwrap_or(i64::MAX);
                if *left <= 0 {
                    entry.remove();
                }
            }
        }
    }

    fn limit(&mut self, id: u64, side: Side, price: i64, qty: i64, tif: BenchTif) {
        let filled = self.execute(OrderType::Limit {
            id: u128::from(id),
            side: lobster_side(side),
            qty: unsigned(qty),
            price: unsigned(price),
        });
        let left = qty - filled;
        if left > 0 {
            match tif {
                BenchTif::Gtc => {
                    self.live.insert(id, (side, left));
                }
                BenchTif::Ioc => {
                    self.book.execute(OrderType::Cancel { id: u128::from(id) });
                }
            }
        }
    }
}

/// Converts a positive tick or lot count to lobster's unsigned integers.
fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn lobster_side(side: Side) -> lobster::Side {
    match side {
        Side::Buy => lobster::Side::Bid,
        Side::Sell => lobster::Side::Ask,
    }
}

impl BenchBook for LobsterPeer {
    fn name(&self) -> &'static str {
        "lobster 0.7.0"
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Limit { id, side, price, qty, tif, .. } => self.limit(id, side, price, qty, tif),
            Op::Market { id, side, qty, .. } => {
                self.execute(OrderType::Market {
                    id: u128::from(id),
                    side: lobster_side(side),
                    qty: unsigned(qty),
                });
            }
            Op::Cancel { id } => {
                self.live.remove(&id);
                self.book.execute(OrderType::Cancel { id: u128::from(id) });
            }
            Op::Move { id, new_price } => {
                if let Some((side, left)) = self.live.remove(&id) {
                    self.book.execute(OrderType::Cancel { id: u128::from(id) });
                    self.limit(id, side, new_price, left, BenchTif::Gtc);
                }
            }
        }
    }

    fn checksum(&self) -> u64 {
        self.traded
    }
}
