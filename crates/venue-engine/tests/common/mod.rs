//! The harness the engine's test files share: a venue driven one command at
//! a time through [`Engine::apply`], with contiguous sequence numbers and an
//! advancing clock, checking the ledger invariant after every command.
//!
//! Each test file uses part of it, hence the `dead_code` allowance.

#![allow(dead_code)]

use venue_engine::{AccountLimits, AssetId, Command, Engine, EngineConfig, Output, Sequenced};
use venue_matching::{
    AccountId, AmendOrder, CancelOrder, ClientOrderId, Event, EventKind, InstrumentId, NewOrder, OrderId,
    OrderKind, OrderRef, Price, Qty, Reject, Side, Timestamp,
};

/// Assets of [`EngineConfig::demo`].
pub const BTC: AssetId = AssetId(0);
pub const ETH: AssetId = AssetId(1);
pub const USDT: AssetId = AssetId(2);

/// Instruments of [`EngineConfig::demo`].
pub const BTC_USDT: InstrumentId = InstrumentId(0);
pub const ETH_USDT: InstrumentId = InstrumentId(1);

/// The demo's fee account.
pub const FEE: u32 = 0;

/// Base units of one lot in the demo (qty 4 decimals, base 8 decimals).
pub const LOT: i64 = 10_000;
/// Quote units of one tick × one lot in the demo (price 2 + qty 4
/// decimals, quote 8 decimals).
pub const TICK_LOT: i64 = 100;

/// Start of the clock; every command advances it by [`STEP`].
pub const START: u64 = 1_000_000;
pub const STEP: u64 = 10;

/// The demo configuration with small books, so that an engine is cheap to
/// create and clone (the fingerprint does not cover the book sizing).
pub fn config() -> EngineConfig {
    let mut config = EngineConfig::demo();
    config.book.max_orders = 256;
    config
}

/// An engine, the sequence number and time of its next command, and a check
/// of the ledger after every command.
#[derive(Clone)]
pub struct Venue {
    pub engine: Engine,
    pub seq: u64,
    pub now: u64,
    next_transfer: u64,
}

impl Venue {
    pub fn new() -> Venue {
        Venue::with_config(config())
    }

    pub fn with_config(config: EngineConfig) -> Venue {
        let engine = Engine::new(config).expect("valid configuration");
        assert_eq!(engine.check_ledger(), Ok(()));
        Venue { engine, seq: 0, now: START, next_transfer: 1_000_000 }
    }

    /// The id the next command gets: a new order's order id.
    pub fn next_id(&self) -> u64 {
        self.seq + 1
    }

    /// Applies one command at the next sequence number and time, checks the
    /// ledger, and returns what the engine reported.
    pub fn run(&mut self, command: Command) -> Vec<Output> {
        self.seq += 1;
        self.now = self.now.saturating_add(STEP);
        self.run_stamped(command)
    }

    /// As [`run`](Self::run) but at an explicit time (which must not go
    /// backwards for the tests to make sense).
    pub fn run_at(&mut self, time: u64, command: Command) -> Vec<Output> {
        self.seq += 1;
        self.now = time;
        self.run_stamped(command)
    }

    fn run_stamped(&mut self, command: Command) -> Vec<Output> {
        let mut out = Vec::new();
        let stamped = Sequenced { seq: self.seq, time: Timestamp(self.now), command };
        self.engine.apply(&stamped, &mut out);
        assert_eq!(self.engine.seq(), self.seq);
        if let Err(error) = self.engine.check_ledger() {
            panic!("ledger broken after {command:?}: {error:?}\noutputs: {out:#?}");
        }
        out
    }

    /// Creates (or updates) an account with the given fee tier and no
    /// limits.
    pub fn open(&mut self, account: u32, tier: u16) {
        self.set_limits(account, tier, AccountLimits::default());
    }

    pub fn set_limits(&mut self, account: u32, tier: u16, limits: AccountLimits) {
        let out = self.run(Command::SetAccount { account: AccountId(account), tier, limits });
        assert_eq!(out, vec![Output::AccountSet { account: AccountId(account) }]);
    }

    /// Deposits `amount` with a fresh transfer id, which must succeed.
    pub fn fund(&mut self, account: u32, asset: AssetId, amount: i64) {
        self.next_transfer += 1;
        let transfer_id = self.next_transfer;
        let out = self.run(Command::Deposit { transfer_id, account: AccountId(account), asset, amount });
        assert!(
            matches!(out.as_slice(), [Output::Transfer { .. }]),
            "deposit of {amount} to {account} refused: {out:?}"
        );
    }

    /// `(available, held)` of one account in one asset.
    pub fn bal(&self, account: u32, asset: AssetId) -> (i64, i64) {
        let balance = self.engine.balance(AccountId(account), asset);
        (balance.available, balance.held)
    }

    /// Submits an order; returns its id (the command's sequence number) and
    /// the outputs.
    pub fn submit(&mut self, order: NewOrder) -> (u64, Vec<Output>) {
        let id = self.next_id();
        (id, self.run(Command::NewOrder(order)))
    }

    /// Submits an order that must be accepted; returns its id and outputs.
    pub fn place(&mut self, order: NewOrder) -> (u64, Vec<Output>) {
        let (id, out) = self.submit(order);
        assert!(
            events(&out)
                .iter()
                .any(|e| matches!(e, EventKind::Accepted { order_id, .. } if order_id.0 == id)),
            "order {id} not accepted: {out:#?}"
        );
        (id, out)
    }

    /// Cancels an order as its owner.
    pub fn cancel(&mut self, instrument: InstrumentId, id: u64, account: u32) -> Vec<Output> {
        self.run(Command::Cancel(CancelOrder {
            instrument,
            target: OrderRef::Id(OrderId(id)),
            account: Some(AccountId(account)),
        }))
    }

    /// Amends an order as its owner.
    pub fn amend(
        &mut self,
        instrument: InstrumentId,
        id: u64,
        account: u32,
        price: i64,
        qty: i64,
    ) -> Vec<Output> {
        self.run(amend_command(instrument, id, account, price, qty))
    }

    /// The amount an order holds now (`None` once it is no longer live).
    pub fn hold_of(&self, id: u64) -> Option<i64> {
        self.engine.order_hold(OrderId(id)).map(|hold| hold.hold)
    }

    /// Asserts that `command` is refused with exactly one rejection output
    /// carrying `reason`, and that the state (hash) did not change.
    pub fn assert_refused(&mut self, command: Command, reason: Reject) {
        let before = self.engine.state_hash();
        let out = self.run(command);
        assert_eq!(out.len(), 1, "{command:?} should yield exactly one output: {out:#?}");
        assert_eq!(rejection(&out), Some(reason), "{command:?}: {out:#?}");
        assert_eq!(self.engine.state_hash(), before, "{command:?} changed the state");
    }
}

impl Default for Venue {
    fn default() -> Self {
        Venue::new()
    }
}

// ----------------------------------------------------------------------
// Orders
// ----------------------------------------------------------------------

/// An amend of order `id` by `account` to `price` and total `qty`.
pub fn amend_command(instrument: InstrumentId, id: u64, account: u32, price: i64, qty: i64) -> Command {
    Command::Amend(AmendOrder {
        instrument,
        target: OrderRef::Id(OrderId(id)),
        account: Some(AccountId(account)),
        new_price: Price(price),
        new_qty: Some(Qty(qty)),
        new_client_order_id: ClientOrderId::NONE,
    })
}

/// A GTC limit order on BTC-USDT. Its `order_id` is ignored by the engine.
pub fn limit(account: u32, side: Side, price: i64, qty: i64) -> NewOrder {
    NewOrder::limit(0, account, side, price, qty)
}

pub fn buy(account: u32, price: i64, qty: i64) -> NewOrder {
    limit(account, Side::Buy, price, qty)
}

pub fn sell(account: u32, price: i64, qty: i64) -> NewOrder {
    limit(account, Side::Sell, price, qty)
}

/// A market order (IOC) on BTC-USDT.
pub fn market(account: u32, side: Side, qty: i64) -> NewOrder {
    NewOrder::market(0, account, side, qty)
}

/// A stop (market) order on BTC-USDT.
pub fn stop(account: u32, side: Side, stop_price: i64, qty: i64) -> NewOrder {
    NewOrder { kind: OrderKind::Stop, stop_price: Price(stop_price), ..limit(account, side, 0, qty) }
}

/// A stop-limit order on BTC-USDT.
pub fn stop_limit(account: u32, side: Side, stop_price: i64, price: i64, qty: i64) -> NewOrder {
    NewOrder { kind: OrderKind::StopLimit, stop_price: Price(stop_price), ..limit(account, side, price, qty) }
}

// ----------------------------------------------------------------------
// Reading outputs
// ----------------------------------------------------------------------

/// The book events among the outputs.
pub fn events(out: &[Output]) -> Vec<EventKind> {
    out.iter()
        .filter_map(|o| match o {
            Output::Book(Event { kind, .. }) => Some(*kind),
            _ => None,
        })
        .collect()
}

/// The reason of the first rejection among the outputs, of either form.
pub fn rejection(out: &[Output]) -> Option<Reject> {
    out.iter().find_map(|o| match o {
        Output::Book(Event { kind: EventKind::Rejected { reason, .. }, .. }) => Some(*reason),
        Output::CommandRejected { reason } => Some(*reason),
        _ => None,
    })
}

/// The settlements among the outputs.
pub fn settlements(out: &[Output]) -> Vec<venue_engine::Settlement> {
    out.iter()
        .filter_map(|o| match o {
            Output::Settlement(s) => Some(*s),
            _ => None,
        })
        .collect()
}
