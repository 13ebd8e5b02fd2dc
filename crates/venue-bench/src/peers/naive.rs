//! The naive floor: a deliberately simple price-time-priority book.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::workload::{BenchBook, BenchTif, Op, Side};

/// One resting order inside a price level.
#[derive(Clone, Copy, Debug)]
struct Resting {
    id: u64,
    qty: i64,
}

/// A deliberately simple, correct price-time-priority book: one
/// `BTreeMap<price, VecDeque<order>>` per side and a `HashMap` from order id to
/// `(side, price)` for cancels and moves.
///
/// Incoming orders trade against the opposite side while they cross, each fill
/// at the resting order's price; a GTC remainder rests at the back of its
/// level, an IOC remainder and any market remainder are dropped. Cancel
/// removes the order; Move removes it and enters its remaining quantity anew
/// at the new price (losing time priority, trading if it crosses). Unknown ids
/// are ignored. The checksum is the total traded quantity (each fill counted
/// once), wrapping on overflow.
#[derive(Debug, Default)]
pub struct NaiveBTreeBook {
    bids: BTreeMap<i64, VecDeque<Resting>>,
    asks: BTreeMap<i64, VecDeque<Resting>>,
    index: HashMap<u64, (Side, i64)>,
    traded: u64,
}

impl NaiveBTreeBook {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty book whose id index is pre-sized for `orders` resting orders.
    pub fn with_capacity(orders: usize) -> Self {
        Self { index: HashMap::with_capacity(orders), ..Self::default() }
    }

    /// Trades `qty` of an incoming `side` order against the opposite side
    /// while it crosses `limit` (`None`: any price). Returns what is left.
    fn take(&mut self, side: Side, limit: Option<i64>, mut qty: i64) -> i64 {
        let Self { bids, asks, index, traded } = self;
        while qty > 0 {
            let level = match side {
                Side::Buy => asks.first_entry(),
                Side::Sell => bids.last_entry(),
            };
            let Some(mut level) = level else { break };
            let price = *level.key();
            let crosses = match (side, limit) {
                (_, None) => true,
                (Side::Buy, Some(limit)) => price <= limit,
                (Side::Sell, Some(limit)) => price >= limit,
            };
            if !crosses {
                break;
            }
            let queue = level.get_mut();
            while qty > 0 {
                let Some(maker) = queue.front_mut() else {
                    break;
                };
                let fill = qty.min(maker.qty);
                maker.qty -= fill;
                qty -= fill;
                *traded = traded.wrapping_add(fill.unsigned_abs());
                if maker.qty == 0 {
                    index.remove(&maker.id);
                    queue.pop_front();
                }
            }
            if queue.is_empty() {
                level.remove();
            }
        }
        qty
    }

    /// Enters a limit order: trades what crosses, rests a GTC remainder.
    fn limit(&mut self, id: u64, side: Side, price: i64, qty: i64, tif: BenchTif) {
        let left = self.take(side, Some(price), qty);
        if left > 0 && tif == BenchTif::Gtc {
            let own = match side {
                Side::Buy => &mut self.bids,
                Side::Sell => &mut self.asks,
            };
            own.entry(price).or_default().push_back(Resting { id, qty: left });
            self.index.insert(id, (side, price));
        }
    }

    /// Removes a resting order, returning its side and remaining quantity.
    fn remove(&mut self, id: u64) -> Option<(Side, i64)> {
        let (side, price) = self.index.remove(&id)?;
        let own = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        let queue = own.get_mut(&price)?;
        let pos = queue.iter().position(|o| o.id == id)?;
        let order = queue.remove(pos)?;
        if queue.is_empty() {
            own.remove(&price);
        }
        Some((side, order.qty))
    }
}

impl BenchBook for NaiveBTreeBook {
    fn name(&self) -> &'static str {
        super::NAIVE_NAME
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Limit { id, side, price, qty, tif, .. } => self.limit(id, side, price, qty, tif),
            Op::Market { side, qty, .. } => {
                self.take(side, None, qty);
            }
            Op::Cancel { id } => {
                self.remove(id);
            }
            Op::Move { id, new_price } => {
                if let Some((side, qty)) = self.remove(id) {
                    self.limit(id, side, new_price, qty, BenchTif::Gtc);
                }
            }
        }
    }

    fn checksum(&self) -> u64 {
        self.traded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(id: u64, side: Side, price: i64, qty: i64) -> Op {
        Op::Limit { id, account: 0, side, price, qty, tif: BenchTif::Gtc }
    }

    #[test]
    fn levels_and_index_are_cleaned_up() {
        let mut book = NaiveBTreeBook::with_capacity(8);
        book.apply(&limit(1, Side::Sell, 100, 5));
        book.apply(&limit(2, Side::Sell, 100, 5));
        book.apply(&limit(3, Side::Buy, 90, 5));
        book.apply(&limit(4, Side::Buy, 100, 7));
        // 1 filled and gone, 2 has 3 left at 100.
        assert_eq!(book.checksum(), 7);
        assert_eq!(book.asks.get(&100).map(VecDeque::len), Some(1));
        assert!(!book.index.contains_key(&1));
        book.apply(&Op::Cancel { id: 2 });
        assert!(book.asks.is_empty());
        book.apply(&Op::Move { id: 3, new_price: 95 });
        assert!(!book.bids.contains_key(&90));
        assert_eq!(book.index.get(&3), Some(&(Side::Buy, 95)));
        book.apply(&Op::Cancel { id: 3 });
        assert!(book.bids.is_empty() && book.index.is_empty());
        assert_eq!(book.checksum(), 7);
    }
}
