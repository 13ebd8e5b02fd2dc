//! Operation streams for order-book benchmarks.

/// Buy or sell, for books that have their own side type.
pub use venue_domain::Side;

/// Time in force of a benchmark limit order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenchTif {
    /// Rests if not filled.
    Gtc,
    /// Trades what it can, the rest is cancelled.
    Ioc,
}

/// One operation of a benchmark stream. Prices are integer ticks, quantities
/// integer lots, ids unique per stream and never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// A new limit order.
    Limit {
        /// Order id.
        id: u64,
        /// Owning account (books without accounts ignore it).
        account: u32,
        /// Side.
        side: Side,
        /// Limit price in ticks (> 0).
        price: i64,
        /// Quantity in lots (> 0).
        qty: i64,
        /// GTC or IOC.
        tif: BenchTif,
    },
    /// A new market order; never rests.
    Market {
        /// Order id.
        id: u64,
        /// Owning account.
        account: u32,
        /// Side.
        side: Side,
        /// Quantity in lots (> 0).
        qty: i64,
    },
    /// Cancel a previously sent order. It may already be gone; that is not
    /// an error for the benchmark.
    Cancel {
        /// Order id.
        id: u64,
    },
    /// Move a resting order to a new price, keeping its remaining quantity
    /// (loses time priority; may cross and trade). It may already be gone.
    Move {
        /// Order id.
        id: u64,
        /// New price in ticks (> 0).
        new_price: i64,
    },
}

/// A book that the benchmark can drive. Implemented by our book and by every
/// peer, so the same stream runs through all of them.
pub trait BenchBook {
    /// Short name for reports, e.g. `"venue"` or `"lobster 0.7"`.
    fn name(&self) -> &'static str;
    /// Applies one operation. Must not panic on ids that are already gone.
    fn apply(&mut self, op: &Op);
    /// A value that depends on everything the book did (e.g. total traded
    /// quantity), printed so that the work cannot be optimised away and so
    /// that gross disagreements between books are visible.
    fn checksum(&self) -> u64;
}
