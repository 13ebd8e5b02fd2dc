//! Every malformed or unauthorised command gets exactly one typed refusal
//! and changes nothing (design rule 4: no panics on any input, every bad
//! input gets a typed rejection a client can read).
//!
//! A refused order command (new order, cancel, amend, and the book-routed
//! mass cancel and status change) answers with one
//! `Output::Book(Rejected { .. })` echoing the request's identifiers; any
//! other refused command with one `Output::CommandRejected`. Either way the
//! state hash is unchanged and only the sequence number and time advance.
//! Each case runs on its own copy of one prepared venue.
//!
//! The second half checks the decoders against bytes that are not what the
//! encoders wrote (arbitrary, truncated, extended, bit-flipped): they return
//! an error or a value, never panic, and what they accept is canonical.
//!
//! Prices and quantities reach the engine in ticks and lots, so a price "off
//! the tick" or a quantity "off the lot" cannot be expressed here: the edge
//! refuses those while converting decimals (`InstrumentSpec::parse_price`).
//! The engine-level counterparts are prices and quantities outside the
//! instrument's bounds.

mod common;

use common::*;
use proptest::prelude::*;
use venue_engine::{AccountLimits, AssetId, Command, Engine, EngineState, Output};
use venue_matching::{
    AccountId, AmendOrder, CancelOrder, ClientOrderId, Event, EventKind, InstrumentId, NewOrder, OrderId,
    OrderKind, OrderRef, Price, Qty, Reject, RequestKind, Side, StpGroup, StpMode, TimeInForce, Timestamp,
    TradingStatus,
};

use Side::{Buy, Sell};

const USD: i64 = 10_000_000;
const COIN: i64 = 1_000_000;

/// A venue with something of everything to refer to.
#[derive(Clone)]
struct Fixture {
    v: Venue,
    /// Account 2: buy 1 @ 100, filled.
    filled: u64,
    /// Account 1: buy 2 @ 95, resting.
    resting_buy: u64,
    /// Account 2: sell 3 @ 105, client id 7, resting.
    resting_sell: u64,
    /// Account 1: buy 5 @ 97 with 2 filled.
    partial: u64,
    /// Account 1: stop sell 1 @ 90, dormant.
    stop: u64,
    /// Account 1: post-only buy 1 @ 96.
    post_only: u64,
    /// Account 1: a buy 1 @ 100 on ETH-USDT, which is halted.
    halted: u64,
}

/// Accounts 1, 2 (tier 0) and 5 funded; 3 has a maximum order quantity of
/// 10; 4 has its kill switch on. BTC-USDT last traded at 97; ETH-USDT is
/// halted. Transfers: 900 a deposit, 901 a pending withdrawal, 902 a
/// posted one.
fn fixture() -> Fixture {
    let mut v = Venue::new();
    for account in [1, 2, 4, 5] {
        v.open(account, 0);
    }
    v.set_limits(3, 0, AccountLimits { max_order_qty: 10, ..AccountLimits::default() });
    for account in [1, 2, 3, 5] {
        v.fund(account, USDT, USD);
        v.fund(account, BTC, COIN);
        v.fund(account, ETH, COIN);
    }
    v.run(Command::KillSwitch { account: AccountId(4), on: true });
    v.place(sell(5, 100, 1));
    let (filled, _) = v.place(buy(2, 100, 1));
    let (resting_buy, _) = v.place(buy(1, 95, 2));
    let (resting_sell, _) = v.place(NewOrder { client_order_id: ClientOrderId(7), ..sell(2, 105, 3) });
    let (partial, _) = v.place(buy(1, 97, 5));
    v.place(sell(5, 97, 2));
    let (stop, _) = v.place(stop(1, Sell, 90, 1));
    let (post_only, _) = v.place(NewOrder { post_only: true, ..buy(1, 96, 1) });
    let (halted, _) = v.place(NewOrder { instrument: ETH_USDT, ..buy(1, 100, 1) });
    v.run(Command::SetStatus { instrument: ETH_USDT, status: TradingStatus::Halted });
    v.run(Command::Deposit { transfer_id: 900, account: AccountId(1), asset: USDT, amount: 1_000 });
    v.run(Command::WithdrawPending { transfer_id: 901, account: AccountId(1), asset: USDT, amount: 300 });
    v.run(Command::WithdrawPending { transfer_id: 902, account: AccountId(1), asset: USDT, amount: 200 });
    v.run(Command::WithdrawPost { transfer_id: 902 });
    assert_eq!(v.engine.order_hold(OrderId(partial)).map(|h| h.leaves), Some(Qty(3)));
    Fixture { v, filled, resting_buy, resting_sell, partial, stop, post_only, halted }
}

/// The `Rejected` event a refused order command must produce.
fn rejected_event(seq: u64, command: &Command, reason: Reject) -> Event {
    let of_target = |target: OrderRef| match target {
        OrderRef::Id(id) => (id, ClientOrderId::NONE),
        OrderRef::Client(_, client) => (OrderId(0), client),
    };
    let (instrument, order_id, client_order_id, account, request) = match *command {
        Command::NewOrder(o) => (o.instrument, OrderId(seq), o.client_order_id, o.account, RequestKind::New),
        Command::Cancel(c) => {
            let (id, client) = of_target(c.target);
            (c.instrument, id, client, c.account.unwrap_or_default(), RequestKind::Cancel)
        }
        Command::Amend(a) => {
            let (id, client) = of_target(a.target);
            (a.instrument, id, client, a.account.unwrap_or_default(), RequestKind::Amend)
        }
        Command::MassCancel { instrument, account } => (
            instrument.expect("an instrument to refuse"),
            OrderId(0),
            ClientOrderId::NONE,
            account.unwrap_or_default(),
            RequestKind::MassCancel,
        ),
        Command::SetStatus { instrument, .. } => {
            (instrument, OrderId(0), ClientOrderId::NONE, AccountId(0), RequestKind::SetStatus)
        }
        _ => panic!("{command:?} is not refused through the book"),
    };
    Event { instrument, kind: EventKind::Rejected { order_id, client_order_id, account, request, reason } }
}

/// Runs `command` on a copy of the fixture: exactly one book rejection with
/// `reason` that echoes the request, and an unchanged state.
fn assert_order_refused(f: &Fixture, command: Command, reason: Reject) {
    let mut v = f.v.clone();
    let before = v.engine.state_hash();
    let seq = v.next_id();
    let out = v.run(command);
    assert_eq!(out, vec![Output::Book(rejected_event(seq, &command, reason))], "{command:?}");
    assert_eq!(v.engine.state_hash(), before, "refused {command:?} changed the state");
    assert_eq!(v.engine.seq(), seq);
}

/// Runs `command` on a copy of the fixture: exactly one
/// `CommandRejected { reason }` and an unchanged state.
fn assert_command_refused(f: &Fixture, command: Command, reason: Reject) {
    let mut v = f.v.clone();
    let before = v.engine.state_hash();
    let out = v.run(command);
    assert_eq!(out, vec![Output::CommandRejected { reason }], "{command:?}");
    assert_eq!(v.engine.state_hash(), before, "refused {command:?} changed the state");
}

fn new(order: NewOrder) -> Command {
    Command::NewOrder(order)
}

fn cancel(instrument: InstrumentId, target: OrderRef, account: Option<u32>) -> Command {
    Command::Cancel(CancelOrder { instrument, target, account: account.map(AccountId) })
}

fn amend(id: u64, account: Option<u32>, price: i64, qty: Option<i64>) -> Command {
    Command::Amend(AmendOrder {
        instrument: BTC_USDT,
        target: OrderRef::Id(OrderId(id)),
        account: account.map(AccountId),
        new_price: Price(price),
        new_qty: qty.map(Qty),
        new_client_order_id: ClientOrderId::NONE,
    })
}

// ----------------------------------------------------------------------
// New orders
// ----------------------------------------------------------------------

#[test]
fn a_new_order_of_an_unknown_or_blocked_account_is_refused() {
    let f = fixture();
    assert_order_refused(&f, new(buy(99, 100, 1)), Reject::UnknownAccount);
    assert_order_refused(&f, new(buy(u32::MAX, 100, 1)), Reject::UnknownAccount);
    assert_order_refused(&f, new(buy(4, 100, 1)), Reject::KillSwitchActive);
}

#[test]
fn a_new_order_on_an_unknown_halted_or_closed_instrument_is_refused() {
    let f = fixture();
    assert_order_refused(
        &f,
        new(NewOrder { instrument: InstrumentId(2), ..buy(1, 100, 1) }),
        Reject::UnknownInstrument,
    );
    assert_order_refused(
        &f,
        new(NewOrder { instrument: InstrumentId(u32::MAX), ..sell(1, 100, 1) }),
        Reject::UnknownInstrument,
    );
    assert_order_refused(
        &f,
        new(NewOrder { instrument: ETH_USDT, ..buy(1, 100, 1) }),
        Reject::InstrumentHalted,
    );
    let mut closed = f.clone();
    closed.v.run(Command::SetStatus { instrument: BTC_USDT, status: TradingStatus::Closed });
    assert_order_refused(&closed, new(buy(1, 100, 1)), Reject::InstrumentClosed);
}

#[test]
fn a_new_order_outside_the_instruments_quantity_bounds_is_refused() {
    let f = fixture();
    assert_order_refused(&f, new(buy(1, 100, 0)), Reject::QtyNotPositive);
    assert_order_refused(&f, new(sell(1, 100, -5)), Reject::QtyNotPositive);
    assert_order_refused(&f, new(market(1, Sell, i64::MIN)), Reject::QtyNotPositive);
    let max = config().instruments[0].max_qty.0;
    assert_order_refused(&f, new(sell(1, 100, max + 1)), Reject::QtyAboveMax);
    assert_order_refused(&f, new(market(1, Buy, i64::MAX)), Reject::QtyAboveMax);
}

#[test]
fn a_new_order_outside_the_instruments_price_bounds_is_refused() {
    let f = fixture();
    assert_order_refused(&f, new(buy(1, 0, 1)), Reject::PriceOutOfRange);
    assert_order_refused(&f, new(buy(1, -100, 1)), Reject::PriceOutOfRange);
    let max = config().instruments[0].max_price.0;
    assert_order_refused(&f, new(sell(1, max + 1, 1)), Reject::PriceOutOfRange);
    assert_order_refused(&f, new(sell(1, i64::MAX, 1)), Reject::PriceOutOfRange);
    assert_order_refused(&f, new(stop(1, Sell, 0, 1)), Reject::PriceOutOfRange);
    assert_order_refused(&f, new(stop_limit(1, Sell, 90, i64::MIN, 1)), Reject::PriceOutOfRange);
    assert_order_refused(&f, new(stop_limit(1, Buy, max + 1, 120, 1)), Reject::PriceOutOfRange);
}

#[test]
fn a_new_order_whose_fields_do_not_combine_is_refused() {
    let f = fixture();
    let refused = |order: NewOrder, reason| assert_order_refused(&f, new(order), reason);
    refused(NewOrder { display_qty: Qty(-1), ..buy(1, 90, 5) }, Reject::InvalidDisplayQty);
    refused(NewOrder { display_qty: Qty(6), ..buy(1, 90, 5) }, Reject::InvalidDisplayQty);
    refused(
        NewOrder { display_qty: Qty(2), tif: TimeInForce::Ioc, ..buy(1, 90, 5) },
        Reject::InvalidOrderCombination,
    );
    refused(NewOrder { display_qty: Qty(2), ..market(1, Sell, 5) }, Reject::InvalidOrderCombination);
    refused(NewOrder { post_only: true, ..market(1, Sell, 5) }, Reject::InvalidOrderCombination);
    refused(
        NewOrder { post_only: true, tif: TimeInForce::Ioc, ..buy(1, 90, 5) },
        Reject::InvalidOrderCombination,
    );
    refused(NewOrder { post_only: true, ..stop_limit(1, Sell, 90, 89, 1) }, Reject::InvalidOrderCombination);
    refused(NewOrder { quote_budget: 100, ..buy(1, 90, 5) }, Reject::InvalidOrderCombination);
    refused(NewOrder { quote_budget: 100, ..market(1, Sell, 5) }, Reject::InvalidOrderCombination);
    refused(NewOrder { quote_budget: -1, ..market(1, Buy, 5) }, Reject::InvalidBudget);
    refused(NewOrder { quote_budget: i64::MIN, ..sell(1, 110, 5) }, Reject::InvalidBudget);
    refused(
        NewOrder { tif: TimeInForce::Gtd, expire_time: Timestamp(0), ..buy(1, 90, 5) },
        Reject::InvalidExpireTime,
    );
    let now = f.v.now + STEP;
    refused(
        NewOrder { tif: TimeInForce::Gtd, expire_time: Timestamp(now), ..buy(1, 90, 5) },
        Reject::InvalidExpireTime,
    );
    refused(stop(1, Buy, 100, 1), Reject::BudgetRequired);
}

#[test]
fn a_new_order_that_the_book_cannot_take_as_it_stands_is_refused() {
    let f = fixture();
    // Last trade 97: a buy stop at or below it, a sell stop at or above it.
    assert_order_refused(
        &f,
        new(NewOrder { quote_budget: 500, ..stop(1, Buy, 97, 1) }),
        Reject::StopWouldTriggerImmediately,
    );
    assert_order_refused(&f, new(stop_limit(1, Sell, 98, 97, 1)), Reject::StopWouldTriggerImmediately);
    assert_order_refused(&f, new(NewOrder { post_only: true, ..buy(1, 105, 1) }), Reject::PostOnlyWouldTake);
    // Account 2 already has a live order with client id 7; account 1 may use it.
    assert_order_refused(
        &f,
        new(NewOrder { client_order_id: ClientOrderId(7), ..buy(2, 90, 1) }),
        Reject::DuplicateClientOrderId,
    );
    let mut v = f.v.clone();
    v.place(NewOrder { client_order_id: ClientOrderId(7), ..buy(1, 90, 1) });
}

#[test]
fn a_new_order_beyond_the_accounts_limits_or_balance_is_refused() {
    let f = fixture();
    assert_order_refused(&f, new(buy(3, 100, 11)), Reject::MaxOrderQtyExceeded);
    // 1_000 lots @ 100 hold 10_000_000 + 5_000 > USD.
    assert_order_refused(&f, new(buy(1, 100, 1_000)), Reject::InsufficientBalance);
    // 102 lots after buying 2.
    assert_order_refused(&f, new(sell(1, 100, 103)), Reject::InsufficientBalance);
    // A budget whose units overflow the quote asset's integers.
    assert_order_refused(
        &f,
        new(NewOrder { quote_budget: i64::MAX, ..market(1, Buy, 1) }),
        Reject::InsufficientBalance,
    );
}

#[test]
fn a_full_book_refuses_orders_that_would_rest_but_still_takes_those_that_cannot() {
    let mut config = config();
    config.book.max_orders = 2;
    let mut v = Venue::with_config(config);
    for account in 1..=2 {
        v.open(account, 0);
        v.fund(account, USDT, USD);
        v.fund(account, BTC, COIN);
    }
    v.place(buy(1, 90, 1));
    v.place(sell(2, 110, 1));
    let f = Fixture {
        v,
        filled: 0,
        resting_buy: 0,
        resting_sell: 0,
        partial: 0,
        stop: 0,
        post_only: 0,
        halted: 0,
    };
    assert_order_refused(&f, new(buy(1, 91, 1)), Reject::BookFull);
    assert_order_refused(&f, new(stop_limit(1, Sell, 80, 79, 1)), Reject::BookFull);
    let mut v = f.v.clone();
    let (id, out) = v.place(NewOrder { tif: TimeInForce::Ioc, ..buy(1, 110, 1) });
    assert_eq!(settlements(&out).len(), 1, "order {id}: {out:#?}");
}

// ----------------------------------------------------------------------
// Cancels and amends
// ----------------------------------------------------------------------

#[test]
fn a_cancel_of_an_order_the_requester_does_not_own_is_refused_as_unknown() {
    let f = fixture();
    let sell_id = OrderRef::Id(OrderId(f.resting_sell));
    assert_order_refused(&f, cancel(BTC_USDT, sell_id, Some(1)), Reject::UnknownOrder);
    assert_order_refused(&f, cancel(BTC_USDT, sell_id, Some(99)), Reject::UnknownOrder);
    let by_client = OrderRef::Client(AccountId(2), ClientOrderId(7));
    assert_order_refused(&f, cancel(BTC_USDT, by_client, Some(1)), Reject::UnknownOrder);
    // The owner's cancel works.
    let mut v = f.v.clone();
    let out = v.run(cancel(BTC_USDT, by_client, Some(2)));
    assert_eq!(rejection(&out), None);
    assert_eq!(v.bal(2, BTC), (COIN + 10_000, 0));
}

#[test]
fn a_cancel_of_an_order_that_is_not_live_on_that_instrument_is_refused() {
    let f = fixture();
    let id = OrderRef::Id(OrderId(f.resting_buy));
    assert_order_refused(&f, cancel(BTC_USDT, OrderRef::Id(OrderId(123_456)), None), Reject::UnknownOrder);
    assert_order_refused(
        &f,
        cancel(BTC_USDT, OrderRef::Client(AccountId(1), ClientOrderId(7)), None),
        Reject::UnknownOrder,
    );
    assert_order_refused(&f, cancel(ETH_USDT, id, Some(1)), Reject::UnknownOrder);
    assert_order_refused(&f, cancel(InstrumentId(2), id, Some(1)), Reject::UnknownInstrument);
    // Once cancelled, an order is unknown.
    let mut done = f.clone();
    done.v.run(cancel(BTC_USDT, id, Some(1)));
    assert_order_refused(&done, cancel(BTC_USDT, id, Some(1)), Reject::UnknownOrder);
    // So is a filled one.
    assert_order_refused(&f, cancel(BTC_USDT, OrderRef::Id(OrderId(f.filled)), None), Reject::UnknownOrder);
}

#[test]
fn a_cancel_on_a_halted_instrument_works() {
    let f = fixture();
    let mut v = f.v.clone();
    let out = v.run(cancel(ETH_USDT, OrderRef::Id(OrderId(f.halted)), Some(1)));
    assert_eq!(rejection(&out), None);
    assert_eq!(v.hold_of(f.halted), None);
}

#[test]
fn an_amend_of_an_unknown_or_foreign_order_is_refused() {
    let f = fixture();
    assert_order_refused(&f, amend(123_456, Some(1), 95, Some(1)), Reject::UnknownOrder);
    assert_order_refused(&f, amend(f.resting_sell, Some(1), 105, Some(1)), Reject::UnknownOrder);
    assert_order_refused(&f, amend(f.resting_buy, Some(2), 95, Some(1)), Reject::UnknownOrder);
    let elsewhere = AmendOrder {
        instrument: ETH_USDT,
        target: OrderRef::Id(OrderId(f.resting_buy)),
        account: Some(AccountId(1)),
        new_price: Price(95),
        new_qty: None,
        new_client_order_id: ClientOrderId::NONE,
    };
    assert_order_refused(&f, Command::Amend(elsewhere), Reject::UnknownOrder);
    let nowhere = AmendOrder { instrument: InstrumentId(9), ..elsewhere };
    assert_order_refused(&f, Command::Amend(nowhere), Reject::UnknownInstrument);
}

#[test]
fn an_amend_outside_the_grid_bounds_or_below_the_filled_quantity_is_refused() {
    let f = fixture();
    assert_order_refused(&f, amend(f.resting_buy, Some(1), 95, Some(0)), Reject::QtyNotPositive);
    assert_order_refused(&f, amend(f.resting_buy, Some(1), 95, Some(-3)), Reject::QtyNotPositive);
    let spec = &config().instruments[0];
    assert_order_refused(
        &f,
        amend(f.resting_buy, Some(1), 95, Some(spec.max_qty.0 + 1)),
        Reject::QtyAboveMax,
    );
    assert_order_refused(&f, amend(f.resting_buy, Some(1), 0, None), Reject::PriceOutOfRange);
    assert_order_refused(&f, amend(f.resting_buy, Some(1), -95, None), Reject::PriceOutOfRange);
    assert_order_refused(&f, amend(f.resting_buy, None, spec.max_price.0 + 1, None), Reject::PriceOutOfRange);
    // 2 of 5 filled: the new total must exceed 2.
    assert_order_refused(&f, amend(f.partial, Some(1), 97, Some(2)), Reject::AmendQtyTooLow);
    assert_order_refused(&f, amend(f.partial, Some(1), 97, Some(1)), Reject::AmendQtyTooLow);
}

#[test]
fn an_amend_the_order_or_the_book_cannot_take_is_refused() {
    let f = fixture();
    assert_order_refused(&f, amend(f.stop, Some(1), 90, None), Reject::NotAmendable);
    assert_order_refused(&f, amend(f.post_only, Some(1), 105, None), Reject::PostOnlyWouldTake);
    let halted = AmendOrder {
        instrument: ETH_USDT,
        target: OrderRef::Id(OrderId(f.halted)),
        account: Some(AccountId(1)),
        new_price: Price(99),
        new_qty: None,
        new_client_order_id: ClientOrderId::NONE,
    };
    assert_order_refused(&f, Command::Amend(halted), Reject::InstrumentHalted);
    let taken = AmendOrder {
        instrument: BTC_USDT,
        target: OrderRef::Id(OrderId(f.resting_buy)),
        new_client_order_id: ClientOrderId(7),
        account: Some(AccountId(1)),
        new_price: Price(95),
        new_qty: None,
    };
    // Client id 7 is account 2's; account 1 may take it.
    let mut v = f.v.clone();
    assert_eq!(rejection(&v.run(Command::Amend(taken))), None);
    let mut own = f.clone();
    own.v.place(NewOrder { client_order_id: ClientOrderId(8), ..buy(1, 90, 1) });
    assert_order_refused(
        &own,
        Command::Amend(AmendOrder { new_client_order_id: ClientOrderId(8), ..taken }),
        Reject::DuplicateClientOrderId,
    );
    assert_order_refused(&f, amend(f.resting_buy, Some(1), 95, Some(10_000)), Reject::InsufficientBalance);
    assert_order_refused(&f, amend(f.resting_buy, Some(1), 1_000_000, None), Reject::InsufficientBalance);
}

#[test]
fn a_mass_cancel_or_status_change_of_an_unknown_instrument_is_refused() {
    let f = fixture();
    let mass = Command::MassCancel { instrument: Some(InstrumentId(2)), account: Some(AccountId(1)) };
    assert_order_refused(&f, mass, Reject::UnknownInstrument);
    let mass = Command::MassCancel { instrument: Some(InstrumentId(u32::MAX)), account: None };
    assert_order_refused(&f, mass, Reject::UnknownInstrument);
    let status = Command::SetStatus { instrument: InstrumentId(2), status: TradingStatus::Halted };
    assert_order_refused(&f, status, Reject::UnknownInstrument);
}

// ----------------------------------------------------------------------
// Accounts and transfers
// ----------------------------------------------------------------------

fn deposit(transfer_id: u64, account: u32, asset: u32, amount: i64) -> Command {
    Command::Deposit { transfer_id, account: AccountId(account), asset: AssetId(asset), amount }
}

fn withdraw(transfer_id: u64, account: u32, asset: u32, amount: i64) -> Command {
    Command::WithdrawPending { transfer_id, account: AccountId(account), asset: AssetId(asset), amount }
}

#[test]
fn a_deposit_to_an_unknown_account_or_asset_of_a_bad_amount_or_a_used_id_is_refused() {
    let f = fixture();
    assert_command_refused(&f, deposit(1, 99, 2, 100), Reject::UnknownAccount);
    assert_command_refused(&f, deposit(1, u32::MAX, 2, 100), Reject::UnknownAccount);
    assert_command_refused(&f, deposit(1, 1, 3, 100), Reject::UnknownAsset);
    assert_command_refused(&f, deposit(1, 1, u32::MAX, 100), Reject::UnknownAsset);
    assert_command_refused(&f, deposit(1, 1, 2, 0), Reject::InvalidAmount);
    assert_command_refused(&f, deposit(1, 1, 2, i64::MIN), Reject::InvalidAmount);
    for used in [900, 901, 902] {
        assert_command_refused(&f, deposit(used, 1, 2, 100), Reject::DuplicateTransfer);
    }
    assert_command_refused(&f, deposit(1, 1, 2, i64::MAX), Reject::BalanceOverflow);
}

#[test]
fn a_withdrawal_of_a_bad_amount_more_than_available_or_with_a_used_id_is_refused() {
    let f = fixture();
    assert_command_refused(&f, withdraw(1, 99, 2, 100), Reject::UnknownAccount);
    assert_command_refused(&f, withdraw(1, 1, 7, 100), Reject::UnknownAsset);
    assert_command_refused(&f, withdraw(1, 1, 2, 0), Reject::InvalidAmount);
    assert_command_refused(&f, withdraw(1, 1, 2, -100), Reject::InvalidAmount);
    assert_command_refused(&f, withdraw(900, 1, 2, 100), Reject::DuplicateTransfer);
    let available = f.v.bal(1, USDT).0;
    assert_command_refused(&f, withdraw(1, 1, 2, available + 1), Reject::InsufficientBalance);
    assert_command_refused(&f, withdraw(1, 1, 2, i64::MAX), Reject::InsufficientBalance);
    // Account 4 has nothing at all.
    assert_command_refused(&f, withdraw(1, 4, 0, 1), Reject::InsufficientBalance);
}

#[test]
fn a_post_or_void_of_anything_but_a_pending_withdrawal_is_refused() {
    let f = fixture();
    for command in [Command::WithdrawPost { transfer_id: 1 }, Command::WithdrawVoid { transfer_id: u64::MAX }]
    {
        assert_command_refused(&f, command, Reject::UnknownTransfer);
    }
    for transfer_id in [900, 902] {
        assert_command_refused(&f, Command::WithdrawPost { transfer_id }, Reject::TransferNotPending);
        assert_command_refused(&f, Command::WithdrawVoid { transfer_id }, Reject::TransferNotPending);
    }
}

#[test]
fn an_account_beyond_capacity_an_unknown_fee_tier_or_negative_limits_are_refused() {
    let f = fixture();
    let set = |account: u32, tier: u16, limits: AccountLimits| Command::SetAccount {
        account: AccountId(account),
        tier,
        limits,
    };
    let none = AccountLimits::default();
    // The demo has 1 << 20 accounts and two tiers.
    assert_command_refused(&f, set(1 << 20, 0, none), Reject::TooManyAccounts);
    assert_command_refused(&f, set(u32::MAX, 0, none), Reject::TooManyAccounts);
    assert_command_refused(&f, set(6, 2, none), Reject::UnknownFeeTier);
    assert_command_refused(&f, set(1, u16::MAX, none), Reject::UnknownFeeTier);
    let negative_qty = AccountLimits { max_order_qty: -1, ..none };
    assert_command_refused(&f, set(6, 0, negative_qty), Reject::InvalidAmount);
    let negative_notional = AccountLimits { max_notional: i64::MIN, ..none };
    assert_command_refused(&f, set(1, 0, negative_notional), Reject::InvalidAmount);
    // The largest id is fine.
    let mut v = f.v.clone();
    v.open((1 << 20) - 1, 1);
}

#[test]
fn a_kill_switch_for_an_unknown_account_is_refused() {
    let f = fixture();
    assert_command_refused(
        &f,
        Command::KillSwitch { account: AccountId(99), on: true },
        Reject::UnknownAccount,
    );
    assert_command_refused(
        &f,
        Command::KillSwitch { account: AccountId(u32::MAX), on: false },
        Reject::UnknownAccount,
    );
}

// ----------------------------------------------------------------------
// Decoding bytes that are not what the encoder wrote
// ----------------------------------------------------------------------

fn encode_command(command: &Command) -> Vec<u8> {
    let mut bytes = Vec::new();
    command.encode(&mut bytes);
    bytes
}

fn encode_state(state: &EngineState) -> Vec<u8> {
    let mut bytes = Vec::new();
    state.encode(&mut bytes);
    bytes
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Buy), Just(Sell)]
}

fn kind() -> impl Strategy<Value = OrderKind> {
    prop_oneof![
        Just(OrderKind::Limit),
        Just(OrderKind::Market),
        Just(OrderKind::Stop),
        Just(OrderKind::StopLimit)
    ]
}

fn tif() -> impl Strategy<Value = TimeInForce> {
    prop_oneof![
        Just(TimeInForce::Gtc),
        Just(TimeInForce::Ioc),
        Just(TimeInForce::Fok),
        Just(TimeInForce::Gtd),
        Just(TimeInForce::Day),
    ]
}

fn stp() -> impl Strategy<Value = StpMode> {
    prop_oneof![
        Just(StpMode::Allow),
        Just(StpMode::CancelResting),
        Just(StpMode::CancelIncoming),
        Just(StpMode::CancelBoth),
        Just(StpMode::DecrementAndCancel),
    ]
}

fn status() -> impl Strategy<Value = TradingStatus> {
    prop_oneof![Just(TradingStatus::Open), Just(TradingStatus::Halted), Just(TradingStatus::Closed)]
}

fn target() -> impl Strategy<Value = OrderRef> {
    prop_oneof![
        any::<u64>().prop_map(|id| OrderRef::Id(OrderId(id))),
        (any::<u32>(), any::<u64>()).prop_map(|(a, c)| OrderRef::Client(AccountId(a), ClientOrderId(c))),
    ]
}

fn new_order(seq: u64) -> impl Strategy<Value = NewOrder> {
    (
        (any::<u32>(), any::<u64>(), any::<u32>(), any::<u32>(), side(), kind(), tif(), stp(), any::<bool>()),
        (any::<i64>(), any::<i64>(), any::<i64>(), any::<i64>(), any::<u64>(), any::<i64>()),
    )
        .prop_map(move |(head, tail)| {
            let (instrument, client, account, group, side, kind, tif, stp, post_only) = head;
            let (price, stop_price, qty, display, expire, budget) = tail;
            NewOrder {
                instrument: InstrumentId(instrument),
                order_id: OrderId(seq),
                client_order_id: ClientOrderId(client),
                account: AccountId(account),
                stp_group: StpGroup(group),
                side,
                kind,
                tif,
                price: Price(price),
                stop_price: Price(stop_price),
                qty: Qty(qty),
                display_qty: Qty(display),
                post_only,
                stp,
                expire_time: Timestamp(expire),
                quote_budget: budget,
            }
        })
}

/// Any command, with every field over its whole domain; a new order's id
/// is `seq`, as decoding sets it.
fn command(seq: u64) -> impl Strategy<Value = Command> {
    let account = || any::<u32>().prop_map(AccountId);
    let transfer = (any::<u64>(), any::<u32>(), any::<u32>(), any::<i64>());
    prop_oneof![
        new_order(seq).prop_map(Command::NewOrder),
        (any::<u32>(), target(), prop::option::of(account())).prop_map(|(i, target, account)| {
            Command::Cancel(CancelOrder { instrument: InstrumentId(i), target, account })
        }),
        (
            any::<u32>(),
            target(),
            prop::option::of(account()),
            any::<i64>(),
            prop::option::of(any::<i64>()),
            any::<u64>()
        )
            .prop_map(|(i, target, account, price, qty, client)| Command::Amend(AmendOrder {
                instrument: InstrumentId(i),
                target,
                account,
                new_price: Price(price),
                new_qty: qty.map(Qty),
                new_client_order_id: ClientOrderId(client),
            })),
        (prop::option::of(any::<u32>()), prop::option::of(account()))
            .prop_map(|(i, account)| { Command::MassCancel { instrument: i.map(InstrumentId), account } }),
        (any::<u32>(), status())
            .prop_map(|(i, status)| Command::SetStatus { instrument: InstrumentId(i), status }),
        transfer.prop_map(|(transfer_id, a, asset, amount)| Command::Deposit {
            transfer_id,
            account: AccountId(a),
            asset: AssetId(asset),
            amount
        }),
        transfer.prop_map(|(transfer_id, a, asset, amount)| Command::WithdrawPending {
            transfer_id,
            account: AccountId(a),
            asset: AssetId(asset),
            amount
        }),
        any::<u64>().prop_map(|transfer_id| Command::WithdrawPost { transfer_id }),
        any::<u64>().prop_map(|transfer_id| Command::WithdrawVoid { transfer_id }),
        (account(), any::<u16>(), any::<i64>(), any::<i64>(), any::<u32>(), any::<u32>()).prop_map(
            |(account, tier, max_order_qty, max_notional, max_open_orders, price_band_bps)| {
                Command::SetAccount {
                    account,
                    tier,
                    limits: AccountLimits { max_order_qty, max_notional, max_open_orders, price_band_bps },
                }
            }
        ),
        (account(), any::<bool>()).prop_map(|(account, on)| Command::KillSwitch { account, on }),
        Just(Command::Tick),
        Just(Command::EndOfSession),
    ]
}

fn command_with_seq() -> impl Strategy<Value = (u64, Command)> {
    any::<u64>().prop_flat_map(|seq| (Just(seq), command(seq)))
}

/// A snapshot of the fixture: books with resting, partially filled, post-only
/// and dormant orders, a halted book, every transfer state, a kill switch.
fn snapshot() -> Vec<u8> {
    encode_state(&fixture().v.engine.export())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn commands_round_trip_through_their_encoding((seq, command) in command_with_seq()) {
        let bytes = encode_command(&command);
        prop_assert_eq!(Command::decode(command.tag(), seq, &bytes), Ok(command));
    }

    #[test]
    fn command_decoding_of_arbitrary_bytes_never_panics(
        tag in prop_oneof![4 => 0..=14u16, 1 => any::<u16>()],
        seq in any::<u64>(),
        bytes in prop::collection::vec(any::<u8>(), 0..120),
    ) {
        if let Ok(command) = Command::decode(tag, seq, &bytes) {
            // What decodes is canonical: it encodes back to the same bytes.
            prop_assert_eq!(command.tag(), tag);
            prop_assert_eq!(encode_command(&command), bytes);
        }
    }

    #[test]
    fn a_truncated_or_extended_command_payload_is_refused(
        (seq, command) in command_with_seq(),
        extra in any::<u8>(),
    ) {
        let bytes = encode_command(&command);
        for len in 0..bytes.len() {
            prop_assert!(Command::decode(command.tag(), seq, &bytes[..len]).is_err(), "prefix of {} bytes", len);
        }
        let mut longer = bytes;
        longer.push(extra);
        prop_assert_eq!(
            Command::decode(command.tag(), seq, &longer),
            Err(venue_engine::DecodeError::TrailingBytes)
        );
    }

    #[test]
    fn a_bit_flipped_command_payload_decodes_to_a_canonical_command_or_an_error(
        (seq, command) in command_with_seq(),
        flip in any::<prop::sample::Index>(),
        bit in 0..8u8,
        tag in prop::option::weighted(0.2, 0..=14u16),
    ) {
        let mut bytes = encode_command(&command);
        if !bytes.is_empty() {
            let at = flip.index(bytes.len());
            bytes[at] ^= 1 << bit;
        }
        let tag = tag.unwrap_or(command.tag());
        if let Ok(decoded) = Command::decode(tag, seq, &bytes) {
            prop_assert_eq!(encode_command(&decoded), bytes);
        }
    }

    #[test]
    fn snapshot_decoding_of_arbitrary_bytes_never_panics(
        header in any::<bool>(),
        bytes in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        // With a valid header, the decoder gets past the magic and version.
        let mut input = if header { snapshot()[..12].to_vec() } else { Vec::new() };
        input.extend_from_slice(&bytes);
        if let Ok(state) = EngineState::decode(&input) {
            prop_assert_eq!(encode_state(&state), input);
        }
    }

    #[test]
    fn a_bit_flipped_snapshot_decodes_to_a_canonical_state_or_an_error_and_restores_or_is_refused(
        flips in prop::collection::vec((any::<prop::sample::Index>(), 0..8u8), 1..4),
    ) {
        let mut bytes = snapshot();
        for (at, bit) in flips {
            let at = at.index(bytes.len());
            bytes[at] ^= 1 << bit;
        }
        if let Ok(state) = EngineState::decode(&bytes) {
            prop_assert_eq!(encode_state(&state), bytes);
            if let Ok(engine) = Engine::restore(config(), &state) {
                prop_assert_eq!(engine.check_ledger(), Ok(()));
                if engine.seq() > u64::MAX / 2 {
                    // No sequence of commands can follow.
                    return Ok(());
                }
                // What restores must also take the commands that need no
                // price: transfers, expiry, cancelling everything.
                let mut v = Venue::with_config(config());
                v.seq = engine.seq();
                v.now = engine.time().0;
                v.engine = engine;
                v.run(Command::WithdrawPost { transfer_id: 901 });
                v.run_at(u64::MAX, Command::EndOfSession);
                v.run(Command::MassCancel { instrument: None, account: None });
            }
        }
    }
}

#[test]
fn every_truncation_of_a_snapshot_is_refused() {
    let bytes = snapshot();
    assert!(EngineState::decode(&bytes).is_ok());
    for len in 0..bytes.len() {
        assert!(EngineState::decode(&bytes[..len]).is_err(), "prefix of {len} of {} bytes", bytes.len());
    }
    let mut longer = bytes;
    longer.push(0);
    assert_eq!(EngineState::decode(&longer), Err(venue_engine::DecodeError::TrailingBytes));
}

#[test]
fn a_snapshot_that_contradicts_itself_is_refused_as_inconsistent() {
    let state = fixture().v.engine.export();
    let mut transfer = state.clone();
    transfer.transfers.last_mut().expect("transfers").1.account = AccountId(1_000);
    let mut pending = state.clone();
    let at = pending.transfers.iter().position(|t| t.0 == 901).expect("pending withdrawal 901");
    pending.transfers[at].1.account = AccountId(1_000);
    let mut asset = state.clone();
    asset.transfers[at].1.asset = AssetId(3);
    let mut order = state.clone();
    order.orders[0].1.account = AccountId(1_000);
    // Two holds of one account in one asset whose sum overflows an i64.
    let mut huge = state.clone();
    for (_, hold) in huge.orders.iter_mut().filter(|(_, o)| o.account == AccountId(1) && o.side == Buy) {
        hold.hold = i64::MAX / 2 + 1;
    }
    // An id no sequence reaches (the order table's free-slot mark).
    let mut id = state.clone();
    id.orders[0].0 = OrderId(u64::MAX);
    let bad = [
        ("transfer", transfer),
        ("pending", pending),
        ("asset", asset),
        ("order", order),
        ("holds", huge),
        ("id", id),
    ];
    for (what, bad) in bad {
        let restored = Engine::restore(config(), &bad).map(|_| ());
        assert!(matches!(restored, Err(venue_engine::RestoreError::Inconsistent(_))), "{what}: {restored:?}");
    }
}

#[test]
fn a_snapshot_of_another_configuration_is_refused() {
    let state = fixture().v.engine.export();
    let mut other = config();
    other.fee_tiers[0].taker_bps = 6;
    assert!(matches!(
        Engine::restore(other, &state),
        Err(venue_engine::RestoreError::Decode(venue_engine::DecodeError::ConfigMismatch))
    ));
    let restored = Engine::restore(config(), &state).expect("same configuration");
    assert_eq!(restored.export(), state);
}
