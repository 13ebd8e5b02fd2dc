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

/// A tiny deterministic PRNG (SplitMix64): the same seed gives the same
/// stream on every machine and every Rust version, which `rand` does not
/// promise across releases.
#[derive(Clone, Debug)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator from a seed.
    pub fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0); the tiny modulo bias is irrelevant here.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// True with probability `percent`/100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The benchmark workloads, named as in BENCHMARKS.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// exchange-core's mix: 9% GTC, 3% IOC, 6% cancel, 82% move; one symbol,
    /// 1,000 accounts, about 1,000 resting orders over about 750 levels,
    /// prices drifting toward the last trade.
    ExchangeCore,
    /// Liquibook-style insert-only: alternating buy and sell GTC limits over
    /// a narrow crossing price range.
    InsertOnly,
    /// 50% limit, 30% cancel, 20% marketable (IOC through the touch).
    LimitCancelMarketable,
}

impl Workload {
    /// Every workload, in report order.
    pub const ALL: [Workload; 3] =
        [Workload::ExchangeCore, Workload::InsertOnly, Workload::LimitCancelMarketable];

    /// Stable name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Workload::ExchangeCore => "exchange-core",
            Workload::InsertOnly => "insert-only",
            Workload::LimitCancelMarketable => "limit-cancel-marketable",
        }
    }

    /// The workload with this name.
    pub fn from_name(name: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == name)
    }
}

/// A generated stream: `ops[..warmup]` fills the book and is not measured.
#[derive(Clone, Debug)]
pub struct Stream {
    /// Which workload.
    pub workload: Workload,
    /// Every operation, warm-up first.
    pub ops: Vec<Op>,
    /// Length of the unmeasured prefix.
    pub warmup: usize,
    /// Counts per operation type in the measured part:
    /// `[gtc, ioc, market, cancel, move]`.
    pub mix: [u64; 5],
    /// Most live orders at any point of the stream (what a book is sized
    /// for).
    pub peak_live: usize,
}

/// The ids of live orders with their prices, so that cancels and moves pick
/// a live order uniformly at random in O(1).
#[derive(Default)]
struct LiveSet {
    ids: Vec<(u64, i64)>,
    slot: std::collections::HashMap<u64, usize>,
}

impl LiveSet {
    fn insert(&mut self, id: u64, price: i64) {
        self.slot.insert(id, self.ids.len());
        self.ids.push((id, price));
    }
    fn remove(&mut self, id: u64) {
        if let Some(at) = self.slot.remove(&id) {
            self.ids.swap_remove(at);
            if let Some(&(moved, _)) = self.ids.get(at) {
                self.slot.insert(moved, at);
            }
        }
    }
    fn set_price(&mut self, id: u64, price: i64) {
        if let Some(&at) = self.slot.get(&id) {
            self.ids[at].1 = price;
        }
    }
    fn pick(&self, rng: &mut SplitMix) -> Option<(u64, i64)> {
        (!self.ids.is_empty()).then(|| self.ids[rng.below(self.ids.len() as u64) as usize])
    }
}

/// Center of every workload's price range, in ticks.
pub const MID_PRICE: i64 = 100_000;

/// Generates a stream of `warmup + ops` operations from `seed`.
///
/// Cancels and moves must name live orders, so the generator runs the
/// stream through a shadow `venue` book as it goes and follows its events.
/// Every book under test then replays the finished stream.
pub fn generate(workload: Workload, seed: u64, warmup: usize, ops: usize) -> Stream {
    use venue_matching::{AmendOrder, BookConfig, CancelOrder, EventKind, NewOrder, OrderBook, OrderRef};
    use venue_matching::{InstrumentSpec, OrderId, Price, Qty, TimeInForce, Timestamp};

    let total = warmup + ops;
    let mut rng = SplitMix::new(seed ^ workload as u64);
    let spec = InstrumentSpec::spot(0, "BENCH-USD", 2, 0);
    let mut shadow =
        OrderBook::new(spec, BookConfig { max_orders: (total as u32).max(1024), ..BookConfig::default() });
    let mut events = Vec::with_capacity(1024);
    let mut live = LiveSet::default();
    let mut stream = Vec::with_capacity(total);
    let mut mix = [0u64; 5];
    let mut next_id = 1u64;
    let mut center = MID_PRICE;
    let mut buy_next = true;
    let mut peak_live = 0;

    for index in 0..total {
        let measured = index >= warmup;
        let account = rng.below(1000) as u32;
        let qty = rng.range(1, 100);
        let op = match workload {
            Workload::ExchangeCore => {
                // Hold about 1,000 resting orders: below it, new GTC orders
                // replace cancels and moves.
                let roll = rng.below(100);
                let starving = live.ids.len() < 1000;
                let side = if rng.percent(50) { Side::Buy } else { Side::Sell };
                if roll < 9 || (starving && roll < 60) {
                    // Passive GTC, concentrated near the touch, sometimes
                    // crossing by a tick or two: ~750 levels populated.
                    // Above the target size, GTC orders cross deeper and take
                    // liquidity, as in exchange-core's generator.
                    let u = rng.below(1 << 16) as i64;
                    let depth = (u * u * 760) >> 32;
                    let offset = if live.ids.len() > 1100 { -rng.range(1, 30) } else { depth - 2 };
                    let price = match side {
                        Side::Buy => center - 1 - offset,
                        Side::Sell => center + 1 + offset,
                    };
                    Op::Limit { id: next_id, account, side, price, qty, tif: BenchTif::Gtc }
                } else if roll < 12 {
                    let through = rng.range(0, 10);
                    let price = match side {
                        Side::Buy => center + through,
                        Side::Sell => center - through,
                    };
                    Op::Limit { id: next_id, account, side, price, qty, tif: BenchTif::Ioc }
                } else if roll < 18 {
                    match live.pick(&mut rng) {
                        Some((id, _)) => Op::Cancel { id },
                        None => continue,
                    }
                } else {
                    match live.pick(&mut rng) {
                        Some((id, price)) => {
                            // Drift toward the last trade price.
                            let pull = (center - price).signum();
                            let mut new_price = price + rng.range(-4, 4) + pull * rng.range(0, 2);
                            if new_price == price {
                                new_price += if pull == 0 { 1 } else { pull };
                            }
                            Op::Move { id, new_price: new_price.max(1) }
                        }
                        None => continue,
                    }
                }
            }
            Workload::InsertOnly => {
                let side = if buy_next { Side::Buy } else { Side::Sell };
                buy_next = !buy_next;
                let price = MID_PRICE + rng.range(-10, 10);
                Op::Limit { id: next_id, account, side, price, qty, tif: BenchTif::Gtc }
            }
            Workload::LimitCancelMarketable => {
                let roll = rng.below(100);
                let side = if rng.percent(50) { Side::Buy } else { Side::Sell };
                if roll < 50 || live.ids.is_empty() {
                    let offset = rng.range(1, 50);
                    let price = match side {
                        Side::Buy => center - offset,
                        Side::Sell => center + offset,
                    };
                    Op::Limit { id: next_id, account, side, price, qty, tif: BenchTif::Gtc }
                } else if roll < 80 {
                    match live.pick(&mut rng) {
                        Some((id, _)) => Op::Cancel { id },
                        None => continue,
                    }
                } else {
                    let through = rng.range(0, 5);
                    let price = match side {
                        Side::Buy => center + through,
                        Side::Sell => center - through,
                    };
                    Op::Limit { id: next_id, account, side, price, qty: qty * 3, tif: BenchTif::Ioc }
                }
            }
        };

        // Apply to the shadow book and follow what happened.
        events.clear();
        let now = Timestamp(index as u64);
        match op {
            Op::Limit { id, account, side, price, qty, tif } => {
                next_id += 1;
                let mut order = NewOrder::limit(id, account, side, price, qty);
                order.tif = if tif == BenchTif::Gtc { TimeInForce::Gtc } else { TimeInForce::Ioc };
                order.stp = venue_matching::StpMode::Allow;
                let _ = shadow.new_order(&order, now, &mut events);
                if measured {
                    mix[usize::from(tif == BenchTif::Ioc)] += 1;
                }
            }
            Op::Market { id, account, side, qty } => {
                next_id += 1;
                let _ = shadow.new_order(&NewOrder::market(id, account, side, qty), now, &mut events);
                if measured {
                    mix[2] += 1;
                }
            }
            Op::Cancel { id } => {
                let cancel = CancelOrder {
                    instrument: venue_matching::InstrumentId(0),
                    target: OrderRef::Id(OrderId(id)),
                    account: None,
                };
                let _ = shadow.cancel(&cancel, &mut events);
                if measured {
                    mix[3] += 1;
                }
            }
            Op::Move { id, new_price } => {
                let amend = AmendOrder {
                    instrument: venue_matching::InstrumentId(0),
                    target: OrderRef::Id(OrderId(id)),
                    account: None,
                    new_price: Price(new_price),
                    new_qty: None,
                    new_client_order_id: venue_matching::ClientOrderId::NONE,
                };
                let _ = shadow.amend(&amend, &mut events);
                live.set_price(id, new_price);
                if measured {
                    mix[4] += 1;
                }
            }
        }
        for event in &events {
            match event.kind {
                EventKind::OrderAdded { order_id, price, .. } => {
                    live.remove(order_id.0);
                    live.insert(order_id.0, price.0);
                }
                EventKind::Trade { maker_order_id, maker_leaves, price, .. } => {
                    if maker_leaves == Qty::ZERO {
                        live.remove(maker_order_id.0);
                    }
                    // Prices drift toward the last trade.
                    center = price.0;
                }
                EventKind::Cancelled { order_id, .. } | EventKind::Expired { order_id, .. } => {
                    live.remove(order_id.0);
                }
                _ => {}
            }
        }
        peak_live = peak_live.max(shadow.len());
        stream.push(op);
    }
    Stream { workload, ops: stream, warmup, mix, peak_live }
}
