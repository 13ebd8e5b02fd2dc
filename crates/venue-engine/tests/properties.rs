//! Properties of the engine over random command streams.
//!
//! A stream opens and funds a few accounts, then mixes every command the
//! engine knows: orders of every kind (limit, market, stop, stop-limit),
//! every time in force, icebergs, post-only, every self-trade mode and
//! shared STP groups, duplicate client ids, amends and cancels of earlier
//! orders (by the owner, the operator or another account, by id or client
//! id), mass cancels, deposits (some with a used transfer id), pending
//! withdrawals and their post or void, halts, resumes and closes, kill
//! switches, account tier and limit changes, `Tick` and `EndOfSession` with
//! an advancing clock, and some commands naming unknown accounts,
//! instruments or assets.
//!
//! Checked:
//!
//! * (a) `check_ledger()` is `Ok` after every command, and a command answered
//!   by a single rejection leaves the state hash unchanged; every live
//!   order's risk record agrees with its book order and holds exactly what
//!   its leaves require (checked here from the public API, independently of
//!   `check_ledger`);
//! * (b) a second engine fed the same stream reports the same outputs and
//!   ends in the same state (hash and seq); so does an engine restored from
//!   the encoded snapshot taken after a random prefix and fed the tail;
//! * (c) `EngineState::decode(encode(s)) == s` along the way;
//! * (d) the test's own transfer model: each transfer is accepted or refused
//!   as predicted, the supply of each asset is deposits minus posted
//!   withdrawals, and after a final mass cancel every account holds exactly
//!   its pending withdrawals: no order hold leaks.
//!
//! Case count: `PROPTEST_CASES` (default 256), 200 to 300 commands each;
//! well under a second in the test profile.

mod common;

use std::collections::BTreeMap;

use common::{BTC, BTC_USDT, ETH, ETH_USDT, LOT, TICK_LOT, USDT};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use venue_engine::{
    AccountLimits, AssetId, Command, Engine, EngineConfig, EngineState, FeeTier, Output, Sequenced,
    TransferState,
};
use venue_matching::{
    AccountId, AmendOrder, CancelOrder, ClientOrderId, Event, EventKind, InstrumentId, NewOrder, OrderId,
    OrderKind, OrderRef, Price, Qty, Side, StpGroup, StpMode, TimeInForce, Timestamp, TradingStatus,
};

/// Funded accounts; account 5 is never created, 0 is the fee account.
const ACCOUNTS: u32 = 4;
const UNKNOWN_ACCOUNT: u32 = 5;
const START: u64 = 1_000_000;
const START_USDT: i64 = 30_000_000;
const START_COIN: i64 = 1_500_000;

fn config() -> EngineConfig {
    let mut config = EngineConfig::demo();
    // A tier whose maker rate is the larger one.
    config.fee_tiers.push(FeeTier { maker_bps: 9, taker_bps: 3 });
    // A small pool, so that `BookFull` happens.
    config.book.max_orders = 48;
    config.instruments[1].price_band_bps = 1_500;
    config.max_accounts = 16;
    config
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

// ----------------------------------------------------------------------
// Random operations, turned into commands against the stream so far
// ----------------------------------------------------------------------

#[derive(Clone, Debug)]
struct OrderOp {
    account: u32,
    instrument: u32,
    side: Side,
    kind: OrderKind,
    tif: TimeInForce,
    price: i64,
    stop_price: i64,
    qty: i64,
    display: i64,
    post_only: bool,
    stp: StpMode,
    group: u32,
    client: u64,
    budget: i64,
    expire_in: u64,
}

#[derive(Clone, Debug)]
enum Op {
    Order(OrderOp),
    /// Cancel an earlier order: `who` 0 owner, 1 operator, 2 another account.
    Cancel {
        pick: usize,
        who: u8,
        by_client: bool,
    },
    Amend {
        pick: usize,
        who: u8,
        price_delta: i64,
        qty: Option<i64>,
    },
    MassCancel {
        instrument: Option<u32>,
        account: Option<u32>,
    },
    Deposit {
        account: u32,
        asset: u32,
        amount: i64,
        reuse: Option<usize>,
    },
    Withdraw {
        account: u32,
        asset: u32,
        amount: i64,
    },
    Post {
        pick: usize,
    },
    Void {
        pick: usize,
    },
    Status {
        instrument: u32,
        status: TradingStatus,
    },
    KillSwitch {
        account: u32,
        on: bool,
    },
    SetAccount {
        account: u32,
        tier: u16,
        limits: AccountLimits,
    },
    Tick,
    EndOfSession,
}

fn order_op() -> impl Strategy<Value = OrderOp> {
    let kind = prop_oneof![
        6 => Just(OrderKind::Limit),
        2 => Just(OrderKind::Market),
        1 => Just(OrderKind::Stop),
        2 => Just(OrderKind::StopLimit),
    ];
    let tif = prop_oneof![
        5 => Just(TimeInForce::Gtc),
        2 => Just(TimeInForce::Ioc),
        1 => Just(TimeInForce::Fok),
        2 => Just(TimeInForce::Gtd),
        2 => Just(TimeInForce::Day),
    ];
    let stp = prop_oneof![
        Just(StpMode::Allow),
        Just(StpMode::CancelResting),
        Just(StpMode::CancelIncoming),
        Just(StpMode::CancelBoth),
        Just(StpMode::DecrementAndCancel),
    ];
    let who = (
        prop_oneof![40 => 1..=ACCOUNTS, 1 => Just(UNKNOWN_ACCOUNT)],
        prop_oneof![40 => 0..2u32, 1 => Just(2u32)],
    );
    let shape = (
        any::<bool>(),
        kind,
        tif,
        0..=16i64,
        1..=10i64,
        prop_oneof![30 => 1..=20i64, 3 => 21..=400i64, 1 => -1..=0i64],
        prop_oneof![4 => Just(0i64), 1 => 1..=8i64],
        prop::bool::weighted(0.1),
    );
    let extra = (
        stp,
        prop_oneof![4 => Just(0u32), 1 => Just(1u32)],
        prop_oneof![4 => Just(0u64), 1 => 1..=3u64],
        prop_oneof![10 => Just(0i64), 20 => 1..=3_000i64, 1 => Just(-1i64)],
        prop_oneof![30 => 1..=4_000u64, 1 => Just(0u64)],
    );
    (who, shape, extra).prop_map(
        |((account, instrument), (buy, kind, tif, level, stop_offset, qty, display, post_only), extra)| {
            let (stp, group, client, budget, expire_in) = extra;
            let side = if buy { Side::Buy } else { Side::Sell };
            // Buys from 88 to 104, sells from 96 to 112: some cross, most
            // rest. Stops wait on the far side of 100.
            let (price, stop_price) =
                if buy { (88 + level, 100 + stop_offset) } else { (96 + level, 100 - stop_offset) };
            // Icebergs and post-only mostly where they are allowed.
            let rests = kind == OrderKind::Limit && tif.may_rest();
            let display = if rests || level == 0 { display } else { 0 };
            let post_only = post_only && (rests || level == 0);
            // Budgets only on market and stop buys, mostly.
            let budget = match (side, kind) {
                (Side::Buy, OrderKind::Market | OrderKind::Stop) => budget,
                _ if budget == -1 => budget,
                _ => 0,
            };
            // Market orders are IOC or FOK, mostly.
            let tif = match kind {
                OrderKind::Market if !matches!(tif, TimeInForce::Ioc | TimeInForce::Fok) => TimeInForce::Ioc,
                _ => tif,
            };
            OrderOp {
                account,
                instrument,
                side,
                kind,
                tif,
                price,
                stop_price,
                qty,
                display,
                post_only,
                stp,
                group,
                client,
                budget,
                expire_in,
            }
        },
    )
}

fn limits() -> impl Strategy<Value = AccountLimits> {
    (
        prop_oneof![2 => Just(0i64), 1 => 5..=20i64],
        prop_oneof![2 => Just(0i64), 1 => 50_000..=300_000i64],
        prop_oneof![2 => Just(0u32), 1 => 1..=8u32],
        prop_oneof![2 => Just(0u32), 1 => 200..=2_000u32],
    )
        .prop_map(|(max_order_qty, max_notional, max_open_orders, price_band_bps)| AccountLimits {
            max_order_qty,
            max_notional,
            max_open_orders,
            price_band_bps,
        })
}

fn account() -> impl Strategy<Value = u32> {
    prop_oneof![12 => 1..=ACCOUNTS, 1 => Just(UNKNOWN_ACCOUNT), 1 => Just(0u32)]
}

fn op() -> impl Strategy<Value = Op> {
    let who = prop_oneof![6 => Just(0u8), 2 => Just(1u8), 1 => Just(2u8)];
    prop_oneof![
        40 => order_op().prop_map(Op::Order),
        8 => (any::<usize>(), who.clone(), any::<bool>())
            .prop_map(|(pick, who, by_client)| Op::Cancel { pick, who, by_client }),
        8 => (any::<usize>(), who, -5..=5i64, prop::option::of(1..=25i64))
            .prop_map(|(pick, who, price_delta, qty)| Op::Amend { pick, who, price_delta, qty }),
        1 => (prop::option::of(0..3u32), prop::option::of(account()))
            .prop_map(|(instrument, account)| Op::MassCancel { instrument, account }),
        3 => (account(), 0..4u32, prop_oneof![9 => 1..=2_000_000i64, 1 => -1..=0i64], prop::option::weighted(0.1, any::<usize>()))
            .prop_map(|(account, asset, amount, reuse)| Op::Deposit { account, asset, amount, reuse }),
        3 => (account(), 0..4u32, prop_oneof![9 => 1..=500_000i64, 1 => -1..=0i64])
            .prop_map(|(account, asset, amount)| Op::Withdraw { account, asset, amount }),
        2 => any::<usize>().prop_map(|pick| Op::Post { pick }),
        2 => any::<usize>().prop_map(|pick| Op::Void { pick }),
        1 => (0..3u32, prop_oneof![6 => Just(TradingStatus::Open), 1 => Just(TradingStatus::Halted), 1 => Just(TradingStatus::Closed)])
            .prop_map(|(instrument, status)| Op::Status { instrument, status }),
        1 => (account(), prop::bool::weighted(0.3)).prop_map(|(account, on)| Op::KillSwitch { account, on }),
        1 => (prop_oneof![9 => 1..=ACCOUNTS, 1 => 15..=17u32], prop_oneof![9 => 0..3u16, 1 => Just(3u16)], limits())
            .prop_map(|(account, tier, limits)| Op::SetAccount { account, tier, limits }),
        3 => Just(Op::Tick),
        1 => Just(Op::EndOfSession),
    ]
}

/// An order the stream placed, for later cancels and amends.
#[derive(Clone, Copy, Debug)]
struct Placed {
    id: u64,
    instrument: InstrumentId,
    account: u32,
    price: i64,
    client: u64,
}

/// Turns operations into sequenced commands, remembering what earlier
/// commands named so that later ones can refer to them.
struct Builder {
    commands: Vec<Sequenced>,
    now: u64,
    orders: Vec<Placed>,
    transfers: Vec<u64>,
    next_transfer: u64,
}

impl Builder {
    fn new() -> Builder {
        Builder {
            commands: Vec::new(),
            now: START,
            orders: Vec::new(),
            transfers: Vec::new(),
            next_transfer: 1,
        }
    }

    fn push(&mut self, dt: u64, command: Command) {
        self.now += dt;
        let seq = self.commands.len() as u64 + 1;
        self.commands.push(Sequenced { seq, time: Timestamp(self.now), command });
    }

    fn fresh_transfer(&mut self) -> u64 {
        let id = self.next_transfer;
        self.next_transfer += 1;
        self.transfers.push(id);
        id
    }

    fn prelude(&mut self) {
        let tiers = [0, 0, 1, 2];
        for account in 1..=ACCOUNTS {
            let tier = tiers[account as usize - 1];
            self.push(
                0,
                Command::SetAccount { account: AccountId(account), tier, limits: AccountLimits::default() },
            );
            for (asset, amount) in [(USDT, START_USDT), (BTC, START_COIN), (ETH, START_COIN)] {
                let transfer_id = self.fresh_transfer();
                self.push(0, Command::Deposit { transfer_id, account: AccountId(account), asset, amount });
            }
        }
    }

    /// An earlier order: mostly one of the latest (likely still live).
    fn pick(&self, pick: usize) -> Option<Placed> {
        let len = self.orders.len();
        let at = if pick.is_multiple_of(4) {
            (pick / 4) % len.max(1)
        } else {
            len.saturating_sub(1 + (pick / 4) % 8)
        };
        self.orders.get(at).copied()
    }

    fn requester(placed: &Placed, who: u8) -> Option<AccountId> {
        match who {
            0 => Some(AccountId(placed.account)),
            1 => None,
            _ => Some(AccountId(placed.account % ACCOUNTS + 1)),
        }
    }

    fn target(placed: &Placed, by_client: bool) -> OrderRef {
        if by_client && placed.client != 0 {
            OrderRef::Client(AccountId(placed.account), ClientOrderId(placed.client))
        } else {
            OrderRef::Id(OrderId(placed.id))
        }
    }

    fn add(&mut self, dt: u64, op: Op) {
        let command = match op {
            Op::Order(o) => {
                let order = NewOrder {
                    instrument: InstrumentId(o.instrument),
                    // Ignored by the engine: it assigns the seq.
                    order_id: OrderId(0),
                    client_order_id: ClientOrderId(o.client),
                    account: AccountId(o.account),
                    stp_group: StpGroup(o.group),
                    side: o.side,
                    kind: o.kind,
                    tif: o.tif,
                    price: Price(o.price),
                    stop_price: Price(o.stop_price),
                    qty: Qty(o.qty),
                    display_qty: Qty(o.display),
                    post_only: o.post_only,
                    stp: o.stp,
                    expire_time: Timestamp(self.now + dt + o.expire_in),
                    quote_budget: o.budget,
                };
                // Remember the orders that may stay live.
                if o.kind != OrderKind::Market && o.tif.may_rest() {
                    self.orders.push(Placed {
                        id: self.commands.len() as u64 + 1,
                        instrument: order.instrument,
                        account: o.account,
                        price: o.price,
                        client: o.client,
                    });
                }
                Command::NewOrder(order)
            }
            Op::Cancel { pick, who, by_client } => match self.pick(pick) {
                Some(placed) => Command::Cancel(CancelOrder {
                    instrument: placed.instrument,
                    target: Self::target(&placed, by_client),
                    account: Self::requester(&placed, who),
                }),
                None => Command::Cancel(CancelOrder {
                    instrument: BTC_USDT,
                    target: OrderRef::Id(OrderId(u64::MAX)),
                    account: None,
                }),
            },
            Op::Amend { pick, who, price_delta, qty } => {
                let placed = self.pick(pick).unwrap_or(Placed {
                    id: u64::MAX,
                    instrument: ETH_USDT,
                    account: 1,
                    price: 100,
                    client: 0,
                });
                Command::Amend(AmendOrder {
                    instrument: placed.instrument,
                    target: Self::target(&placed, pick % 3 == 0),
                    account: Self::requester(&placed, who),
                    new_price: Price(placed.price + price_delta),
                    new_qty: qty.map(Qty),
                    new_client_order_id: ClientOrderId(if pick % 5 == 0 { placed.client + 1 } else { 0 }),
                })
            }
            Op::MassCancel { instrument, account } => Command::MassCancel {
                instrument: instrument.map(InstrumentId),
                account: account.map(AccountId),
            },
            Op::Deposit { account, asset, amount, reuse } => {
                let transfer_id = match reuse {
                    Some(at) if !self.transfers.is_empty() => self.transfers[at % self.transfers.len()],
                    _ => self.fresh_transfer(),
                };
                Command::Deposit { transfer_id, account: AccountId(account), asset: AssetId(asset), amount }
            }
            Op::Withdraw { account, asset, amount } => {
                let transfer_id = self.fresh_transfer();
                Command::WithdrawPending {
                    transfer_id,
                    account: AccountId(account),
                    asset: AssetId(asset),
                    amount,
                }
            }
            Op::Post { pick } | Op::Void { pick } => {
                // Mostly the latest transfers (likely pending), sometimes
                // any, sometimes one that never existed.
                let len = self.transfers.len();
                let transfer_id = match pick % 8 {
                    0 => u64::MAX - 1,
                    1..=5 => self.transfers[len - 1 - (pick / 8) % len.min(3)],
                    _ => self.transfers[(pick / 8) % len],
                };
                if matches!(op, Op::Post { .. }) {
                    Command::WithdrawPost { transfer_id }
                } else {
                    Command::WithdrawVoid { transfer_id }
                }
            }
            Op::Status { instrument, status } => {
                Command::SetStatus { instrument: InstrumentId(instrument), status }
            }
            Op::KillSwitch { account, on } => Command::KillSwitch { account: AccountId(account), on },
            Op::SetAccount { account, tier, limits } => {
                Command::SetAccount { account: AccountId(account), tier, limits }
            }
            Op::Tick => Command::Tick,
            Op::EndOfSession => Command::EndOfSession,
        };
        self.push(dt, command);
    }
}

/// A stream of commands and the index after which a snapshot is taken.
fn stream() -> impl Strategy<Value = (Vec<Sequenced>, usize)> {
    (prop::collection::vec((0..=40u64, op()), 200..=300), any::<prop::sample::Index>()).prop_map(
        |(ops, at)| {
            let mut builder = Builder::new();
            builder.prelude();
            for (dt, op) in ops {
                builder.add(dt, op);
            }
            let snapshot_after = at.index(builder.commands.len() + 1);
            (builder.commands, snapshot_after)
        },
    )
}

// ----------------------------------------------------------------------
// The test's own transfer model
// ----------------------------------------------------------------------

#[derive(Default)]
struct TransferModel {
    accounts: Vec<u32>,
    transfers: BTreeMap<u64, (u32, u32, i64, TransferState)>,
    supply: [i64; 3],
}

impl TransferModel {
    fn new() -> TransferModel {
        // The fee account exists from the start.
        TransferModel { accounts: vec![0], ..TransferModel::default() }
    }

    /// What the engine must answer to a transfer command (`None`: refused),
    /// given the engine's state before it; updates the model.
    fn expect(&mut self, engine: &Engine, command: &Command) -> Option<Option<TransferState>> {
        let valid = |model: &TransferModel, id: u64, account: AccountId, asset: AssetId, amount: i64| {
            model.accounts.contains(&account.0)
                && asset.0 < 3
                && amount > 0
                && !model.transfers.contains_key(&id)
        };
        let outcome = match *command {
            Command::SetAccount { account, tier, limits } => {
                let ok = account.0 < 16 && tier < 3 && limits.max_order_qty >= 0 && limits.max_notional >= 0;
                if ok && !self.accounts.contains(&account.0) {
                    self.accounts.push(account.0);
                }
                return None;
            }
            Command::Deposit { transfer_id, account, asset, amount } => {
                valid(self, transfer_id, account, asset, amount).then(|| {
                    self.transfers
                        .insert(transfer_id, (account.0, asset.0, amount, TransferState::Deposited));
                    self.supply[asset.0 as usize] += amount;
                    TransferState::Deposited
                })
            }
            Command::WithdrawPending { transfer_id, account, asset, amount } => {
                let ok = valid(self, transfer_id, account, asset, amount)
                    && engine.balance(account, asset).available >= amount;
                ok.then(|| {
                    self.transfers.insert(transfer_id, (account.0, asset.0, amount, TransferState::Pending));
                    TransferState::Pending
                })
            }
            Command::WithdrawPost { transfer_id } | Command::WithdrawVoid { transfer_id } => {
                let posted = matches!(command, Command::WithdrawPost { .. });
                match self.transfers.get_mut(&transfer_id) {
                    Some(t) if t.3 == TransferState::Pending => {
                        t.3 = if posted { TransferState::Posted } else { TransferState::Voided };
                        if posted {
                            self.supply[t.1 as usize] -= t.2;
                        }
                        Some(t.3)
                    }
                    _ => None,
                }
            }
            _ => return None,
        };
        Some(outcome)
    }

    /// Pending withdrawals of one account in one asset.
    fn pending(&self, account: u32, asset: u32) -> i64 {
        self.transfers
            .values()
            .filter(|t| t.0 == account && t.1 == asset && t.3 == TransferState::Pending)
            .map(|t| t.2)
            .sum()
    }
}

// ----------------------------------------------------------------------
// The properties
// ----------------------------------------------------------------------

fn is_rejection(output: &Output) -> bool {
    matches!(
        output,
        Output::CommandRejected { .. } | Output::Book(Event { kind: EventKind::Rejected { .. }, .. })
    )
}

fn encoded(state: &EngineState) -> Vec<u8> {
    let mut bytes = Vec::new();
    state.encode(&mut bytes);
    bytes
}

/// The release rule of the crate documentation, checked from outside: every
/// live order's risk record names the same account, side, leaves (and limit
/// price) as its book order, its fee rates are a configured tier's, and a
/// sell or a limit buy holds exactly what its leaves require. A market or
/// stop buy keeps what is left of its budget, which is not negative.
fn check_holds(engine: &Engine) -> Result<(), TestCaseError> {
    let tiers = &engine.config().fee_tiers;
    for book in engine.books().iter() {
        let snapshot = book.snapshot();
        let live =
            snapshot.bids.iter().chain(&snapshot.asks).chain(&snapshot.buy_stops).chain(&snapshot.sell_stops);
        for order in live {
            let Some(hold) = engine.order_hold(order.order_id) else {
                return Err(TestCaseError::fail(format!("{:?} has no risk record", order.order_id)));
            };
            prop_assert_eq!(
                (hold.account, hold.side, hold.leaves),
                (order.account, order.side, order.leaves)
            );
            prop_assert!(
                tiers.iter().any(|t| (t.maker_bps, t.taker_bps) == (hold.maker_bps, hold.taker_bps))
            );
            let limit = matches!(hold.kind, OrderKind::Limit | OrderKind::StopLimit);
            if limit {
                prop_assert_eq!(hold.price, order.price);
            }
            let rate = i64::from(hold.maker_bps.max(hold.taker_bps));
            match (hold.side, limit) {
                (Side::Sell, _) => prop_assert_eq!(hold.hold, hold.leaves.0 * LOT, "{:?}", hold),
                (Side::Buy, true) => {
                    let notional = hold.price.0 * hold.leaves.0 * TICK_LOT;
                    prop_assert_eq!(hold.hold, notional + notional * rate / 10_000, "{:?}", hold);
                }
                (Side::Buy, false) => prop_assert!(hold.hold >= 0, "{:?}", hold),
            }
        }
    }
    Ok(())
}

fn check_stream(commands: &[Sequenced], snapshot_after: usize) -> Result<(), TestCaseError> {
    let mut live = Engine::new(config()).expect("valid configuration");
    let mut model = TransferModel::new();
    let mut outputs: Vec<Vec<Output>> = Vec::with_capacity(commands.len());
    let mut snapshot = None;
    // The pipeline's snapshots are clones of the live engine, the later
    // ones cloned into an earlier copy (`clone_from`, reusing its memory).
    let mut cloned = None;
    if snapshot_after == 0 {
        snapshot = Some(encoded(&live.export()));
        cloned = Some(live.clone());
    }
    for (at, command) in commands.iter().enumerate() {
        let before = live.state_hash();
        let expected = model.expect(&live, &command.command);
        let mut out = Vec::new();
        live.apply(command, &mut out);

        // (a) the ledger holds after every command; a refusal changes nothing.
        prop_assert_eq!(live.check_ledger(), Ok(()), "after {:?}\noutputs: {:#?}", command, out);
        prop_assert_eq!(live.seq(), command.seq);
        check_holds(&live)?;
        if out.len() == 1 && is_rejection(&out[0]) {
            prop_assert_eq!(live.state_hash(), before, "refused {:?} changed the state", command);
        }
        // (d) transfers are accepted or refused as the model predicts.
        if let Some(expected) = expected {
            let got = match out.as_slice() {
                [Output::Transfer { state, .. }] => Some(*state),
                [Output::CommandRejected { .. }] => None,
                other => return Err(TestCaseError::fail(format!("transfer answered {other:?}"))),
            };
            prop_assert_eq!(got, expected, "{:?}", command);
        }
        for (asset, supply) in model.supply.iter().enumerate() {
            prop_assert_eq!(live.supply(AssetId(asset as u32)), *supply);
        }
        // (c) the state encoding round-trips.
        if at % 25 == 0 {
            let state = live.export();
            prop_assert_eq!(EngineState::decode(&encoded(&state)), Ok(state));
        }
        outputs.push(out);
        if at + 1 == snapshot_after {
            snapshot = Some(encoded(&live.export()));
            cloned = Some(live.clone());
        }
    }
    let final_state = live.export();
    prop_assert_eq!(EngineState::decode(&encoded(&final_state)), Ok(final_state.clone()));

    // (b) replay: same outputs, same state. The replay asks for memory
    // ahead as the pipeline's engine loop does and the live engine did not,
    // so this also shows that prefetching changes nothing.
    let mut replay = Engine::new(config()).expect("valid configuration");
    for (at, (command, expected)) in commands.iter().zip(&outputs).enumerate() {
        if let Some(ahead) = commands.get(at + 3) {
            replay.prefetch(&ahead.command);
        }
        if let Some(ahead) = commands.get(at + 2) {
            replay.prefetch_node(&ahead.command);
        }
        if let Some(ahead) = commands.get(at + 1) {
            replay.prefetch_neighbours(&ahead.command);
        }
        let mut out = Vec::new();
        replay.apply(command, &mut out);
        prop_assert_eq!(&out, expected, "replay diverged at {:?}", command);
    }
    prop_assert_eq!(replay.state_hash(), live.state_hash());
    prop_assert_eq!(replay.export(), final_state.clone());

    // (b) snapshot + tail: same outputs, same state.
    let bytes = snapshot.expect("snapshot taken");
    let state = EngineState::decode(&bytes).map_err(|e| TestCaseError::fail(format!("decode: {e}")))?;
    prop_assert_eq!(state.seq, snapshot_after as u64);
    let mut restored =
        Engine::restore(config(), &state).map_err(|e| TestCaseError::fail(format!("restore: {e}")))?;
    prop_assert_eq!(restored.seq(), snapshot_after as u64);
    for (command, expected) in commands[snapshot_after..].iter().zip(&outputs[snapshot_after..]) {
        let mut out = Vec::new();
        restored.apply(command, &mut out);
        prop_assert_eq!(&out, expected, "restored engine diverged at {:?}", command);
        prop_assert_eq!(restored.check_ledger(), Ok(()));
    }
    prop_assert_eq!(restored.state_hash(), live.state_hash());
    prop_assert_eq!(restored.seq(), live.seq());
    prop_assert_eq!(restored.time(), live.time());
    prop_assert_eq!(restored.export(), final_state.clone());

    // (b) a clone, and a clone into an engine holding other state (the
    // replay, at the end of the stream), go on as the live engine did.
    let cloned = cloned.expect("clone taken");
    let mut reused = replay;
    reused.clone_from(&cloned);
    prop_assert_eq!(reused.state_hash(), cloned.state_hash());
    for mut engine in [cloned, reused] {
        for (command, expected) in commands[snapshot_after..].iter().zip(&outputs[snapshot_after..]) {
            let mut out = Vec::new();
            engine.apply(command, &mut out);
            prop_assert_eq!(&out, expected, "cloned engine diverged at {:?}", command);
        }
        prop_assert_eq!(engine.state_hash(), live.state_hash());
        prop_assert_eq!(engine.export(), final_state.clone());
    }

    // (d) after cancelling everything, only pending withdrawals are held.
    let last = commands.last().map_or(0, |c| c.seq);
    let mut out = Vec::new();
    let everything = Command::MassCancel { instrument: None, account: None };
    live.apply(
        &Sequenced { seq: last + 1, time: Timestamp(live.time().0 + 1), command: everything },
        &mut out,
    );
    prop_assert_eq!(live.check_ledger(), Ok(()));
    prop_assert!(live.books().iter().all(|book| book.is_empty()));
    for account in 0..=UNKNOWN_ACCOUNT + 12 {
        if let Some(state) = live.account(AccountId(account)) {
            prop_assert_eq!(state.open_orders, 0);
        }
        for asset in 0..3u32 {
            let held = live.balance(AccountId(account), AssetId(asset)).held;
            prop_assert_eq!(held, model.pending(account, asset), "account {} asset {}", account, asset);
        }
    }
    let mut total = [0i64; 3];
    for account in 0..=UNKNOWN_ACCOUNT + 12 {
        for (asset, sum) in total.iter_mut().enumerate() {
            let balance = live.balance(AccountId(account), AssetId(asset as u32));
            *sum += balance.available + balance.held;
        }
    }
    prop_assert_eq!(total, model.supply);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_streams_keep_the_ledger_and_replay_and_restore_to_the_same_state(
        (commands, snapshot_after) in stream()
    ) {
        check_stream(&commands, snapshot_after)?;
    }
}

/// The generator must reach the interesting paths, or the properties above
/// say little: run a fixed sample and count what happened.
#[test]
fn the_generated_streams_reach_trades_holds_transfers_and_refusals() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

    let mut runner =
        TestRunner::new_with_rng(Config::default(), TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let mut seen: BTreeMap<&'static str, usize> = BTreeMap::new();
    for _ in 0..8 {
        let (commands, _) = stream().new_tree(&mut runner).expect("a stream").current();
        let mut engine = Engine::new(config()).expect("valid configuration");
        for command in &commands {
            let mut out = Vec::new();
            engine.apply(command, &mut out);
            for output in &out {
                let what = match output {
                    Output::Settlement(_) => "settlement",
                    Output::Transfer { state: TransferState::Posted, .. } => "posted",
                    Output::Transfer { state: TransferState::Voided, .. } => "voided",
                    Output::Transfer { state: TransferState::Pending, .. } => "pending",
                    Output::CommandRejected { .. } => "command rejected",
                    Output::KillSwitch { on: true, .. } => "kill switch",
                    Output::Book(Event { kind, .. }) => match kind {
                        EventKind::Rejected {
                            reason: venue_matching::Reject::InsufficientBalance, ..
                        } => "insufficient balance",
                        EventKind::Rejected { reason: venue_matching::Reject::BookFull, .. } => "book full",
                        EventKind::Rejected { .. } => "order rejected",
                        EventKind::Triggered { .. } => "triggered",
                        EventKind::Amended { .. } => "amended",
                        EventKind::Reduced { .. } => "reduced",
                        EventKind::Expired { .. } => "expired",
                        EventKind::Cancelled {
                            reason: venue_matching::CancelReason::BudgetExhausted,
                            ..
                        } => "budget exhausted",
                        EventKind::Cancelled { reason: venue_matching::CancelReason::KillSwitch, .. } => {
                            "killed"
                        }
                        EventKind::Cancelled { .. } => "cancelled",
                        _ => continue,
                    },
                    _ => continue,
                };
                *seen.entry(what).or_default() += 1;
            }
        }
    }
    for what in [
        "settlement",
        "posted",
        "voided",
        "pending",
        "command rejected",
        "kill switch",
        "insufficient balance",
        "order rejected",
        "triggered",
        "amended",
        "reduced",
        "expired",
        "budget exhausted",
        "killed",
        "cancelled",
    ] {
        assert!(seen.get(what).is_some_and(|&n| n > 0), "no {what} in the sample: {seen:?}");
    }
}

/// (c) for any state, not only the engine's: the decoder's size checks must
/// not refuse a long list of book orders followed by few bytes (a book
/// order's encoding is 97 bytes).
#[test]
fn every_state_round_trips_through_its_encoding_however_few_bytes_follow_its_orders() {
    let mut v = common::Venue::with_config(common::config());
    v.open(1, 0);
    v.fund(1, USDT, START_USDT);
    for price in 1..=120 {
        v.place(common::buy(1, price, 1));
    }
    let mut state = v.engine.export();
    assert_eq!(EngineState::decode(&encoded(&state)), Ok(state.clone()));
    // The same books without the risk records, transfers and balances that
    // follow them in the encoding.
    state.orders.clear();
    state.transfers.clear();
    state.balances.clear();
    assert_eq!(EngineState::decode(&encoded(&state)), Ok(state));
}
