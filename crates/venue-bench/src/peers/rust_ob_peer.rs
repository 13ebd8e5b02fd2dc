//! Peer: the `rust_ob` crate (2.5.3), an order book on `rust_decimal`
//! prices and quantities.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use rust_ob::{Decimal, OrderBook, OrderMatch};

use crate::workload::{BenchBook, BenchTif, Op, Side};

/// [`BenchBook`] over `rust_ob::OrderBook<u64>` 2.5.3.
///
/// Mapping: Limit is `process_limit_order` and Market is
/// `process_market_order` (which rust_ob itself implements as a limit at
/// `Decimal::MAX`/`MIN` whose remainder it cancels at once). rust_ob has no
/// time in force, so an IOC is `process_limit_order` followed by
/// `cancel_order` when it did not fill completely — the same technique the
/// crate uses for market orders. Cancel is `cancel_order` for every id; its
/// `OrderNotFound` for unknown or finished ids is ignored. rust_ob has no
/// amend and no way to read an order's remaining quantity, so the adapter
/// keeps a shadow map id → (side, remaining), kept up to date from the
/// matches rust_ob returns; Move of a live order is `cancel_order` plus a new
/// GTC limit with the same id, the remaining quantity and the new price, and a
/// no-op otherwise. The shadow map's cost is part of what is measured.
/// Ticks and lots become `Decimal`s with scale 0.
///
/// rust_ob cannot be pre-sized (`OrderBook::new` takes no capacity); only the
/// adapter's shadow map is.
///
/// The checksum sums the quantity of the incoming order's own `OrderMatch`
/// (the last entry of each result), i.e. what rust_ob reports as traded.
#[derive(Debug)]
pub struct RustObPeer {
    book: OrderBook<u64>,
    live: HashMap<u64, (Side, i64)>,
    traded: u64,
}

impl Default for RustObPeer {
    fn default() -> Self {
        Self::with_capacity(super::DEFAULT_CAPACITY)
    }
}

impl RustObPeer {
    /// A book whose adapter-side id map is pre-sized for `orders` orders
    /// (rust_ob's own book has no capacity parameter).
    pub fn with_capacity(orders: usize) -> Self {
        Self { book: OrderBook::new(), live: HashMap::with_capacity(orders), traded: 0 }
    }

    /// Accounts the matches of incoming order `id`; returns what it traded.
    fn absorb<E>(&mut self, id: u64, result: Result<Vec<OrderMatch<u64>>, E>) -> i64 {
        let Ok(matches) = result else { return 0 };
        let mut filled = 0;
        for m in &matches {
            let qty = whole(m.quantity);
            if m.order == id {
                filled = qty;
            } else if let Entry::Occupied(mut entry) = self.live.entry(m.order) {
                let left = &mut entry.get_mut().1;
                *left -= qty;
                if *left <= 0 {
                    entry.remove();
                }
            }
        }
        self.traded = self.traded.wrapping_add(filled.unsigned_abs());
        filled
    }

    fn limit(&mut self, id: u64, side: Side, price: i64, qty: i64, tif: BenchTif) {
        let result =
            self.book.process_limit_order(id, ob_side(side), Decimal::from(price), Decimal::from(qty));
        let left = qty - self.absorb(id, result);
        if left > 0 {
            match tif {
                BenchTif::Gtc => {
                    self.live.insert(id, (side, left));
                }
                BenchTif::Ioc => {
                    let _ = self.book.cancel_order(id);
                }
            }
        }
    }
}

/// A scale-0 `Decimal` quantity as lots. Quantities only ever come from
/// integer lots added and subtracted, so they stay whole.
fn whole(qty: Decimal) -> i64 {
    i64::try_from(qty).unwrap_or(0)
}

fn ob_side(side: Side) -> rust_ob::Side {
    match side {
        Side::Buy => rust_ob::Side::Buy,
        Side::Sell => rust_ob::Side::Sell,
    }
}

impl BenchBook for RustObPeer {
    fn name(&self) -> &'static str {
        "rust_ob 2.5.3"
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Limit { id, side, price, qty, tif, .. } => self.limit(id, side, price, qty, tif),
            Op::Market { id, side, qty, .. } => {
                let result = self.book.process_market_order(id, ob_side(side), Decimal::from(qty));
                self.absorb(id, result);
            }
            Op::Cancel { id } => {
                self.live.remove(&id);
                let _ = self.book.cancel_order(id);
            }
            Op::Move { id, new_price } => {
                if let Some((side, left)) = self.live.remove(&id) {
                    let _ = self.book.cancel_order(id);
                    self.limit(id, side, new_price, left, BenchTif::Gtc);
                }
            }
        }
    }

    fn checksum(&self) -> u64 {
        self.traded
    }
}
