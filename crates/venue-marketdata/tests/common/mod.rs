//! The harness the market-data tests share: a real engine (the demo
//! configuration) whose outputs are stamped as the pipeline stamps them and
//! fed to a [`MarketData`], plus the engine-side truth to compare with.
//!
//! Each test file uses part of it, hence the `dead_code` allowance.

#![allow(dead_code)]

use std::sync::Arc;
use venue_engine::{AccountLimits, AssetId, Command, Engine, EngineConfig, Output, Sequenced};
use venue_marketdata::{L3Order, MarketData, PriceLevel, Stamped, Update};
use venue_matching::{AccountId, InstrumentId, NewOrder, Side, Timestamp};

/// Instruments of [`EngineConfig::demo`].
pub const BTC_USDT: InstrumentId = InstrumentId(0);
pub const ETH_USDT: InstrumentId = InstrumentId(1);

/// Trading accounts opened and funded by [`Feed::new`].
pub const ACCOUNTS: [u32; 3] = [1, 2, 3];

/// An engine and the market data fed from its outputs.
pub struct Feed {
    pub engine: Engine,
    pub market: MarketData,
    pub seq: u64,
    pub now: u64,
    /// Whether the last output of each command is marked `last`; when not,
    /// commands are closed by the next command's outputs or by `flush`.
    pub mark_last: bool,
    /// Every update so far, in stream order.
    pub history: Vec<Arc<Update>>,
    next_transfer: u64,
}

impl Feed {
    /// The demo engine with three funded accounts (fee tier 1: no fees).
    pub fn new(start: u64) -> Feed {
        let config = EngineConfig::demo();
        let market = MarketData::new(&config.instruments);
        let engine = Engine::new(config).expect("demo configuration");
        let mut feed = Feed {
            engine,
            market,
            seq: 0,
            now: start,
            mark_last: true,
            history: Vec::new(),
            next_transfer: 0,
        };
        for account in ACCOUNTS {
            feed.run(Command::SetAccount {
                account: AccountId(account),
                tier: 1,
                limits: AccountLimits::default(),
            });
            for asset in 0..3 {
                feed.next_transfer += 1;
                let out = feed.run(Command::Deposit {
                    transfer_id: feed.next_transfer,
                    account: AccountId(account),
                    asset: AssetId(asset),
                    amount: 1_000_000_000_000,
                });
                assert!(matches!(out.as_slice(), [Output::Transfer { .. }]), "{out:?}");
            }
        }
        assert!(feed.history.is_empty(), "setup commands are not market data");
        feed
    }

    /// Applies a command at the current time; returns the engine's outputs.
    pub fn run(&mut self, command: Command) -> Vec<Output> {
        self.seq += 1;
        let mut outputs = Vec::new();
        self.engine.apply(&Sequenced { seq: self.seq, time: Timestamp(self.now), command }, &mut outputs);
        let mut updates = Vec::new();
        let last = outputs.len().wrapping_sub(1);
        for (i, &output) in outputs.iter().enumerate() {
            let stamped = Stamped {
                seq: self.seq,
                time: Timestamp(self.now),
                origin: 0,
                last: self.mark_last && i == last,
                output,
            };
            self.market.apply(&stamped, &mut updates);
        }
        if !self.mark_last {
            self.market.flush(&mut updates);
        }
        self.history.extend(updates);
        outputs
    }

    /// Applies a command at time `now` (which must not go back).
    pub fn run_at(&mut self, now: u64, command: Command) -> Vec<Output> {
        assert!(now >= self.now);
        self.now = now;
        self.run(command)
    }

    /// The updates the last `run` produced are `history[from..]`.
    pub fn updates_since(&self, from: usize) -> &[Arc<Update>] {
        &self.history[from..]
    }
}

/// A GTC limit order.
pub fn limit(instrument: InstrumentId, account: u32, side: Side, price: i64, qty: i64) -> Command {
    Command::NewOrder(NewOrder { instrument, ..NewOrder::limit(0, account, side, price, qty) })
}

/// A market order.
pub fn market(instrument: InstrumentId, account: u32, side: Side, qty: i64) -> Command {
    Command::NewOrder(NewOrder { instrument, ..NewOrder::market(0, account, side, qty) })
}

/// The engine's aggregated depth of one side, best first.
pub fn engine_depth(engine: &Engine, instrument: InstrumentId, side: Side) -> Vec<PriceLevel> {
    let book = engine.books().book(instrument).expect("instrument");
    book.depth(side, usize::MAX).map(|(price, qty, count)| PriceLevel { price, qty, count }).collect()
}

/// The engine's shown orders of one side, in priority order.
pub fn engine_orders(engine: &Engine, instrument: InstrumentId, side: Side) -> Vec<L3Order> {
    let book = engine.books().book(instrument).expect("instrument");
    let snapshot = book.snapshot();
    let orders = match side {
        Side::Buy => snapshot.bids,
        Side::Sell => snapshot.asks,
    };
    orders.iter().map(|o| L3Order { order_id: o.order_id, price: o.price, qty: o.shown }).collect()
}
