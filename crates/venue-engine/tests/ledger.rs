//! The ledger rules of `venue-engine`, one test per rule.
//!
//! Each test is named after the rule it checks (the rules are stated in the
//! crate documentation, `src/lib.rs`: holds, settlement postings, fees,
//! release, limits, transfers). Every command goes through
//! [`Engine::apply`](venue_engine::Engine::apply) with contiguous sequence
//! numbers; the tests assert exact balances (available and held, per asset),
//! exact settlements and rejection reasons, and the harness checks
//! `check_ledger()` after every single command.
//!
//! Units of the demo configuration: BTC-USDT prices are ticks of 0.01 USDT,
//! quantities lots of 0.0001 BTC, assets have 8 decimals. So one lot is
//! 10_000 BTC units and one tick × one lot is 100 USDT units: a notional is
//! `price × qty × 100`. Tier 0 pays 2 bps as maker and 5 bps as taker,
//! tier 1 nothing; fees go to account 0.

mod common;

use common::*;
use venue_engine::{AccountLimits, Command, FeeTier, Output, Settlement, TransferState};
use venue_matching::{
    AccountId, CancelReason, EventKind, NewOrder, OrderId, Qty, Reject, Side, StpMode, TimeInForce,
    Timestamp, TradeId, TradingStatus,
};

use Side::{Buy, Sell};

/// Starting USDT of a funded account (0.1 USDT).
const USD: i64 = 10_000_000;
/// Starting BTC of a funded account (100 lots, 0.01 BTC).
const COIN: i64 = 1_000_000;

/// Accounts 1..=4 on tier 0, with no money.
fn venue() -> Venue {
    let mut v = Venue::new();
    for account in 1..=4 {
        v.open(account, 0);
    }
    v
}

/// Accounts 1..=4 on tier 0, each funded with `USD` and `COIN`.
fn funded() -> Venue {
    let mut v = venue();
    for account in 1..=4 {
        v.fund(account, USDT, USD);
        v.fund(account, BTC, COIN);
    }
    v
}

/// Prints one trade at `price` between bystanders 3 (seller) and 4 (buyer),
/// so that BTC-USDT has a last trade price.
fn print_trade_at(v: &mut Venue, price: i64) {
    v.place(sell(3, price, 1));
    let (_, out) = v.place(buy(4, price, 1));
    assert_eq!(settlements(&out).len(), 1, "no trade at {price}: {out:#?}");
}

fn cancelled(out: &[Output], id: u64) -> Option<(Qty, CancelReason)> {
    events(out).into_iter().find_map(|e| match e {
        EventKind::Cancelled { order_id, qty, reason, .. } if order_id.0 == id => Some((qty, reason)),
        _ => None,
    })
}

// ----------------------------------------------------------------------
// Holds
// ----------------------------------------------------------------------

#[test]
fn a_limit_buy_holds_its_notional_plus_the_fee_at_the_larger_rate() {
    let mut v = venue();
    v.fund(1, USDT, USD);
    let (id, _) = v.place(buy(1, 101, 3));
    // notional 101 × 3 × 100 = 30_300; fee at max(2, 5) = 5 bps: floor(15.15) = 15.
    assert_eq!(v.hold_of(id), Some(30_315));
    assert_eq!(v.bal(1, USDT), (USD - 30_315, 30_315));
    assert_eq!(v.bal(1, BTC), (0, 0));
}

#[test]
fn a_limit_buy_holds_at_the_maker_rate_when_it_is_the_larger() {
    let mut config = config();
    config.fee_tiers.push(FeeTier { maker_bps: 7, taker_bps: 3 });
    let mut v = Venue::with_config(config);
    v.open(1, 2);
    v.fund(1, USDT, USD);
    let (id, _) = v.place(buy(1, 101, 3));
    // floor(30_300 × 7 / 10_000) = floor(21.21) = 21.
    assert_eq!(v.hold_of(id), Some(30_321));
    assert_eq!(v.bal(1, USDT), (USD - 30_321, 30_321));
}

#[test]
fn a_limit_buy_on_a_free_tier_holds_its_notional_only() {
    let mut v = venue();
    v.open(5, 1);
    v.fund(5, USDT, USD);
    let (id, _) = v.place(buy(5, 101, 3));
    assert_eq!(v.hold_of(id), Some(30_300));
    assert_eq!(v.bal(5, USDT), (USD - 30_300, 30_300));
}

#[test]
fn a_sell_holds_its_base_quantity() {
    let mut v = venue();
    v.fund(1, BTC, COIN);
    let (id, _) = v.place(sell(1, 101, 3));
    assert_eq!(v.hold_of(id), Some(3 * LOT));
    assert_eq!(v.bal(1, BTC), (COIN - 30_000, 30_000));
    assert_eq!(v.bal(1, USDT), (0, 0));
}

#[test]
fn an_order_the_available_balance_cannot_cover_is_refused_and_changes_nothing() {
    let mut v = venue();
    v.fund(1, USDT, 30_314);
    v.fund(1, BTC, 29_999);
    v.assert_refused(Command::NewOrder(buy(1, 101, 3)), Reject::InsufficientBalance);
    v.assert_refused(Command::NewOrder(sell(1, 101, 3)), Reject::InsufficientBalance);
    assert_eq!(v.bal(1, USDT), (30_314, 0));
    assert_eq!(v.bal(1, BTC), (29_999, 0));

    // One more unit covers the buy exactly; the sell fits two lots.
    v.fund(1, USDT, 1);
    v.place(buy(1, 101, 3));
    assert_eq!(v.bal(1, USDT), (0, 30_315));
    v.place(sell(1, 102, 2));
    assert_eq!(v.bal(1, BTC), (9_999, 20_000));
}

#[test]
fn a_refusal_by_the_book_returns_the_hold() {
    let mut v = funded();
    v.place(sell(2, 100, 1));
    // Post-only buy at 100 would take: risk held it, the book refused it.
    let post_only = NewOrder { post_only: true, ..buy(1, 100, 1) };
    v.assert_refused(Command::NewOrder(post_only), Reject::PostOnlyWouldTake);
    assert_eq!(v.bal(1, USDT), (USD, 0));
}

// ----------------------------------------------------------------------
// Settlement and fees
// ----------------------------------------------------------------------

#[test]
fn a_trade_moves_quote_from_buyer_to_seller_base_the_other_way_and_both_fees_to_the_fee_account() {
    let mut v = venue();
    v.fund(1, USDT, USD);
    v.fund(2, BTC, COIN);
    let (sell_id, _) = v.place(sell(2, 101, 3));
    let (buy_id, out) = v.place(buy(1, 101, 3));
    // Buyer is the taker (5 bps: floor(15.15) = 15), seller the maker
    // (2 bps: floor(6.06) = 6).
    assert_eq!(
        settlements(&out),
        vec![Settlement {
            instrument: BTC_USDT,
            trade_id: TradeId(1),
            buyer: AccountId(1),
            seller: AccountId(2),
            buy_order: OrderId(buy_id),
            sell_order: OrderId(sell_id),
            base: 30_000,
            quote: 30_300,
            buyer_fee: 15,
            seller_fee: 6,
        }]
    );
    assert_eq!(v.bal(1, USDT), (USD - 30_315, 0));
    assert_eq!(v.bal(1, BTC), (30_000, 0));
    assert_eq!(v.bal(2, BTC), (COIN - 30_000, 0));
    assert_eq!(v.bal(2, USDT), (30_300 - 6, 0));
    assert_eq!(v.bal(FEE, USDT), (21, 0));
    assert_eq!(v.engine.supply(USDT), USD);
    assert_eq!(v.engine.supply(BTC), COIN);
    assert_eq!(v.hold_of(buy_id), None);
    assert_eq!(v.hold_of(sell_id), None);
}

#[test]
fn the_taker_pays_the_taker_rate_and_the_maker_the_maker_rate() {
    let mut v = venue();
    v.fund(1, USDT, USD);
    v.fund(2, BTC, COIN);
    let (buy_id, _) = v.place(buy(1, 101, 3));
    let (sell_id, out) = v.place(sell(2, 101, 3));
    let settlement = settlements(&out)[0];
    assert_eq!((settlement.buy_order, settlement.sell_order), (OrderId(buy_id), OrderId(sell_id)));
    assert_eq!((settlement.quote, settlement.buyer_fee, settlement.seller_fee), (30_300, 6, 15));
    assert_eq!(v.bal(1, USDT), (USD - 30_306, 0));
    assert_eq!(v.bal(2, USDT), (30_285, 0));
    assert_eq!(v.bal(FEE, USDT), (21, 0));
}

#[test]
fn fees_round_down_per_fill_and_the_unused_fee_hold_is_released() {
    let mut v = funded();
    v.place(sell(2, 119, 1));
    v.place(sell(3, 119, 1));
    let (id, out) = v.place(buy(1, 119, 2));
    // Held: 23_800 + floor(11.9) = 23_811. Each fill: 11_900 + floor(5.95)
    // = 11_905 from the buyer, floor(2.38) = 2 from each seller.
    let fees: Vec<(i64, i64, i64)> =
        settlements(&out).iter().map(|s| (s.quote, s.buyer_fee, s.seller_fee)).collect();
    assert_eq!(fees, vec![(11_900, 5, 2), (11_900, 5, 2)]);
    assert_eq!(v.hold_of(id), None);
    // The buyer paid 23_810: the last unit of its fee hold came back.
    assert_eq!(v.bal(1, USDT), (USD - 23_810, 0));
    assert_eq!(v.bal(1, BTC), (COIN + 20_000, 0));
    assert_eq!(v.bal(2, USDT), (USD + 11_898, 0));
    assert_eq!(v.bal(3, USDT), (USD + 11_898, 0));
    assert_eq!(v.bal(FEE, USDT), (14, 0));
}

#[test]
fn a_free_tier_trades_without_fees() {
    let mut v = funded();
    v.open(5, 1);
    v.fund(5, USDT, USD);
    v.place(sell(2, 101, 3));
    let (_, out) = v.place(buy(5, 101, 3));
    let settlement = settlements(&out)[0];
    // The tier-1 taker pays nothing, the tier-0 maker its 2 bps.
    assert_eq!((settlement.buyer_fee, settlement.seller_fee), (0, 6));
    assert_eq!(v.bal(5, USDT), (USD - 30_300, 0));
    assert_eq!(v.bal(FEE, USDT), (6, 0));
}

#[test]
fn fee_rates_are_those_of_the_tier_when_the_order_was_accepted() {
    let mut v = funded();
    let (id, _) = v.place(buy(1, 101, 3));
    assert_eq!(v.hold_of(id), Some(30_315));
    // Moving to the free tier changes nothing for the live order.
    v.open(1, 1);
    let (_, out) = v.place(sell(2, 101, 3));
    assert_eq!(settlements(&out)[0].buyer_fee, 6);
    assert_eq!(v.bal(1, USDT), (USD - 30_306, 0));
}

// ----------------------------------------------------------------------
// Release
// ----------------------------------------------------------------------

#[test]
fn a_fill_below_the_limit_price_releases_the_difference_at_once() {
    let mut v = funded();
    v.place(sell(2, 100, 2));
    let (id, out) = v.place(buy(1, 110, 5));
    // Held on entry: 55_000 + floor(27.5) = 55_027. Paid for 2 @ 100:
    // 20_000 + 10. Kept for 3 leaves @ 110: 33_000 + floor(16.5) = 33_016.
    assert_eq!(settlements(&out)[0].quote, 20_000);
    assert_eq!(v.hold_of(id), Some(33_016));
    assert_eq!(v.bal(1, USDT), (USD - 20_010 - 33_016, 33_016));
}

#[test]
fn a_full_fill_below_the_limit_price_leaves_nothing_held() {
    let mut v = funded();
    v.place(sell(2, 100, 2));
    let (id, _) = v.place(buy(1, 110, 2));
    assert_eq!(v.hold_of(id), None);
    assert_eq!(v.bal(1, USDT), (USD - 20_010, 0));
}

#[test]
fn a_partial_fill_keeps_exactly_the_hold_of_the_leaves() {
    let mut v = funded();
    let (buy_id, _) = v.place(buy(1, 101, 5));
    assert_eq!(v.hold_of(buy_id), Some(50_525));
    v.place(sell(2, 101, 2));
    // The resting buy paid 20_200 + maker floor(4.04) = 4; it keeps
    // 30_300 + floor(15.15) = 30_315 for its 3 leaves.
    assert_eq!(v.hold_of(buy_id), Some(30_315));
    assert_eq!(v.bal(1, USDT), (USD - 20_204 - 30_315, 30_315));
    assert_eq!(v.bal(2, USDT), (USD + 20_200 - 10, 0));

    let (sell_id, _) = v.place(sell(2, 105, 5));
    v.place(buy(3, 105, 2));
    assert_eq!(v.hold_of(sell_id), Some(3 * LOT));
    assert_eq!(v.bal(2, BTC), (COIN - 20_000 - 50_000, 30_000));
}

#[test]
fn a_cancel_releases_the_whole_remaining_hold() {
    let mut v = funded();
    let (id, _) = v.place(buy(1, 101, 5));
    v.place(sell(2, 101, 2));
    let out = v.cancel(BTC_USDT, id, 1);
    assert_eq!(cancelled(&out, id), Some((Qty(3), CancelReason::Requested)));
    assert_eq!(v.hold_of(id), None);
    assert_eq!(v.bal(1, USDT), (USD - 20_204, 0));

    let (id, _) = v.place(sell(1, 120, 4));
    v.cancel(BTC_USDT, id, 1);
    assert_eq!(v.bal(1, BTC), (COIN + 20_000, 0));
}

#[test]
fn an_ioc_remainder_releases_its_hold() {
    let mut v = funded();
    v.place(sell(2, 101, 2));
    let (id, out) = v.place(NewOrder { tif: TimeInForce::Ioc, ..buy(1, 101, 5) });
    assert_eq!(cancelled(&out, id), Some((Qty(3), CancelReason::IocRemainder)));
    assert_eq!(v.hold_of(id), None);
    assert_eq!(v.bal(1, USDT), (USD - 20_210, 0));
    assert_eq!(v.bal(1, BTC), (COIN + 20_000, 0));
}

#[test]
fn a_fok_that_cannot_fill_releases_its_hold_and_moves_nothing() {
    let mut v = funded();
    v.place(sell(2, 101, 2));
    let (id, out) = v.place(NewOrder { tif: TimeInForce::Fok, ..buy(1, 101, 5) });
    assert_eq!(cancelled(&out, id), Some((Qty(5), CancelReason::FokNotFillable)));
    assert!(settlements(&out).is_empty());
    assert_eq!(v.bal(1, USDT), (USD, 0));
    assert_eq!(v.bal(1, BTC), (COIN, 0));
}

#[test]
fn a_gtd_order_expires_on_the_tick_at_its_expiry_time_and_releases_its_hold() {
    let mut v = funded();
    let expiry = v.now + 1_000;
    let gtd = |order: NewOrder| NewOrder { tif: TimeInForce::Gtd, expire_time: Timestamp(expiry), ..order };
    let (buy_id, _) = v.place(gtd(buy(1, 101, 3)));
    let (sell_id, _) = v.place(gtd(sell(1, 120, 2)));
    assert_eq!(v.bal(1, USDT), (USD - 30_315, 30_315));

    let out = v.run_at(expiry - 1, Command::Tick);
    assert_eq!(out, [Output::Ticked], "nothing is due yet: {out:#?}");
    assert_eq!(v.bal(1, USDT), (USD - 30_315, 30_315));

    let out = v.run_at(expiry, Command::Tick);
    let expired: Vec<EventKind> =
        events(&out).into_iter().filter(|e| matches!(e, EventKind::Expired { .. })).collect();
    assert_eq!(
        expired,
        vec![
            EventKind::Expired { order_id: OrderId(buy_id), account: AccountId(1), qty: Qty(3) },
            EventKind::Expired { order_id: OrderId(sell_id), account: AccountId(1), qty: Qty(2) },
        ]
    );
    assert_eq!(v.bal(1, USDT), (USD, 0));
    assert_eq!(v.bal(1, BTC), (COIN, 0));
}

#[test]
fn day_orders_expire_at_end_of_session_and_release_their_holds() {
    let mut v = funded();
    let (day_id, _) = v.place(NewOrder { tif: TimeInForce::Day, ..buy(1, 101, 3) });
    let (gtc_id, _) = v.place(buy(1, 100, 1));
    let out = v.run(Command::EndOfSession);
    assert!(events(&out).contains(&EventKind::Expired {
        order_id: OrderId(day_id),
        account: AccountId(1),
        qty: Qty(3)
    }));
    assert_eq!(v.hold_of(day_id), None);
    // The GTC order keeps its hold: 10_000 + 5.
    assert_eq!(v.hold_of(gtc_id), Some(10_005));
    assert_eq!(v.bal(1, USDT), (USD - 10_005, 10_005));
}

// ----------------------------------------------------------------------
// Market and stop orders
// ----------------------------------------------------------------------

#[test]
fn a_market_buy_with_a_budget_holds_the_budget_plus_fee_and_pays_what_it_bought() {
    let mut v = venue();
    v.fund(2, BTC, COIN);
    v.place(sell(2, 100, 2));
    v.place(sell(2, 105, 2));
    // Budget 300 tick×lots = 30_000 units, plus floor(15) fee: 30_015.
    let order = NewOrder { quote_budget: 300, ..market(1, Buy, 10) };
    v.fund(1, USDT, 30_014);
    v.assert_refused(Command::NewOrder(order), Reject::InsufficientBalance);
    v.fund(1, USDT, 1);
    let (id, out) = v.place(order);
    // 2 lots @ 100 use 200 of the budget; 100 left cannot buy a lot @ 105.
    assert_eq!(
        settlements(&out).iter().map(|s| (s.quote, s.buyer_fee)).collect::<Vec<_>>(),
        vec![(20_000, 10)]
    );
    assert_eq!(cancelled(&out, id), Some((Qty(8), CancelReason::BudgetExhausted)));
    assert_eq!(v.bal(1, USDT), (30_015 - 20_010, 0));
    assert_eq!(v.bal(1, BTC), (20_000, 0));
}

#[test]
fn a_market_buy_without_a_budget_may_spend_its_available_balance() {
    let mut v = venue();
    v.fund(2, BTC, COIN);
    v.place(sell(2, 100, 100));
    v.fund(1, USDT, 1_000_000);
    // Budget: floor(1_000_000 × 10_000 / 10_005) = 999_500 units = 9_995
    // tick×lots, held with floor(499.75) = 499 fee: 999_999.
    let (id, out) = v.place(market(1, Buy, 100));
    // 99 lots @ 100 use 9_900; the 95 left cannot buy the 100th lot.
    let s = settlements(&out);
    assert_eq!(
        s.iter().map(|s| (s.base, s.quote, s.buyer_fee)).collect::<Vec<_>>(),
        vec![(990_000, 990_000, 495)]
    );
    assert_eq!(cancelled(&out, id), Some((Qty(1), CancelReason::BudgetExhausted)));
    assert_eq!(v.bal(1, USDT), (1_000_000 - 990_495, 0));
    assert_eq!(v.bal(1, BTC), (990_000, 0));
}

#[test]
fn a_market_buy_without_a_budget_needs_the_price_of_one_tick_lot_with_fee() {
    let mut v = venue();
    v.fund(1, USDT, 100);
    // floor(100 × 10_000 / 10_005) = 99 units: not one tick×lot.
    v.assert_refused(Command::NewOrder(market(1, Buy, 1)), Reject::InsufficientBalance);
}

#[test]
fn a_market_sell_holds_its_base_and_receives_the_proceeds_less_its_fee() {
    let mut v = funded();
    let (first, _) = v.place(buy(2, 100, 2));
    let (second, _) = v.place(buy(2, 99, 2));
    let (_, out) = v.place(market(1, Sell, 3));
    let fills: Vec<(i64, i64, i64)> =
        settlements(&out).iter().map(|s| (s.quote, s.buyer_fee, s.seller_fee)).collect();
    // 20_000: maker 4, taker 10; 9_900: maker floor(1.98) = 1, taker floor(4.95) = 4.
    assert_eq!(fills, vec![(20_000, 4, 10), (9_900, 1, 4)]);
    assert_eq!(v.bal(1, USDT), (USD + 19_990 + 9_896, 0));
    assert_eq!(v.bal(1, BTC), (COIN - 30_000, 0));
    // The buyer's first order is done (held 20_010, paid 20_004); the
    // second keeps 9_900 + floor(4.95) = 9_904 for its last lot.
    assert_eq!(v.hold_of(first), None);
    assert_eq!(v.hold_of(second), Some(9_904));
    assert_eq!(v.bal(2, USDT), (USD - 20_004 - 9_901 - 9_904, 9_904));
    assert_eq!(v.bal(2, BTC), (COIN + 30_000, 0));
    assert_eq!(v.bal(FEE, USDT), (19, 0));
}

#[test]
fn a_market_order_that_finds_no_liquidity_releases_its_hold() {
    let mut v = funded();
    let (id, out) = v.place(market(1, Sell, 3));
    assert_eq!(cancelled(&out, id), Some((Qty(3), CancelReason::NoLiquidity)));
    let (id, out) = v.place(NewOrder { quote_budget: 500, ..market(1, Buy, 3) });
    assert_eq!(cancelled(&out, id), Some((Qty(3), CancelReason::NoLiquidity)));
    assert_eq!(v.bal(1, BTC), (COIN, 0));
    assert_eq!(v.bal(1, USDT), (USD, 0));
}

#[test]
fn a_stop_market_buy_without_a_budget_is_refused() {
    let mut v = funded();
    v.assert_refused(Command::NewOrder(stop(1, Buy, 110, 2)), Reject::BudgetRequired);
}

#[test]
fn a_stop_market_buy_holds_its_budget_plus_fee_until_it_ends() {
    let mut v = funded();
    print_trade_at(&mut v, 100);
    let (id, _) = v.place(NewOrder { quote_budget: 500, ..stop(1, Buy, 110, 2) });
    // 500 tick×lots = 50_000 units + floor(25) fee.
    assert_eq!(v.hold_of(id), Some(50_025));
    assert_eq!(v.bal(1, USDT), (USD - 50_025, 50_025));

    // A trade at 110 triggers it; it buys the one lot left @ 110 and finds
    // no more liquidity.
    v.place(sell(3, 110, 2));
    let (_, out) = v.place(buy(4, 110, 1));
    assert!(
        events(&out).iter().any(|e| matches!(e, EventKind::Triggered { order_id, .. } if order_id.0 == id))
    );
    assert_eq!(cancelled(&out, id), Some((Qty(1), CancelReason::NoLiquidity)));
    // Paid 11_000 + floor(5.5) = 5.
    assert_eq!(v.hold_of(id), None);
    assert_eq!(v.bal(1, USDT), (USD - 11_005, 0));
    assert_eq!(v.bal(1, BTC), (COIN + 10_000, 0));
}

#[test]
fn a_stop_limit_buy_holds_at_its_limit_price() {
    let mut v = funded();
    let (id, _) = v.place(stop_limit(1, Buy, 110, 112, 2));
    // 112 × 2 × 100 = 22_400 + floor(11.2) = 11.
    assert_eq!(v.hold_of(id), Some(22_411));
    assert_eq!(v.bal(1, USDT), (USD - 22_411, 22_411));
    v.cancel(BTC_USDT, id, 1);
    assert_eq!(v.bal(1, USDT), (USD, 0));
}

#[test]
fn a_stop_sell_holds_its_base_quantity() {
    let mut v = funded();
    let (id, _) = v.place(stop(1, Sell, 90, 2));
    let (limit_id, _) = v.place(stop_limit(1, Sell, 90, 89, 3));
    assert_eq!(v.hold_of(id), Some(20_000));
    assert_eq!(v.hold_of(limit_id), Some(30_000));
    assert_eq!(v.bal(1, BTC), (COIN - 50_000, 50_000));
}

#[test]
fn a_triggered_stop_limit_buy_that_fills_below_its_limit_releases_the_difference() {
    let mut v = funded();
    print_trade_at(&mut v, 100);
    let (id, _) = v.place(stop_limit(1, Buy, 105, 112, 2));
    assert_eq!(v.hold_of(id), Some(22_411));
    v.place(sell(3, 105, 3));
    v.place(buy(4, 105, 1));
    // Triggered at 105; it bought 2 @ 105 as taker: 21_000 + floor(10.5).
    assert_eq!(v.hold_of(id), None);
    assert_eq!(v.bal(1, USDT), (USD - 21_010, 0));
    assert_eq!(v.bal(1, BTC), (COIN + 20_000, 0));
}

// ----------------------------------------------------------------------
// Amend
// ----------------------------------------------------------------------

#[test]
fn an_amend_up_needs_the_available_balance_for_the_larger_hold() {
    let mut v = venue();
    v.fund(1, USDT, 30_014);
    let (id, _) = v.place(buy(1, 100, 2));
    assert_eq!(v.bal(1, USDT), (10_004, 20_010));
    // Three lots hold 30_015: 10_005 more than now, one unit short.
    v.assert_refused(amend_command(BTC_USDT, id, 1, 100, 3), Reject::InsufficientBalance);
    assert_eq!(v.hold_of(id), Some(20_010));
    v.fund(1, USDT, 1);
    v.amend(BTC_USDT, id, 1, 100, 3);
    assert_eq!(v.hold_of(id), Some(30_015));
    assert_eq!(v.bal(1, USDT), (0, 30_015));
}

#[test]
fn an_amend_up_in_price_needs_the_available_balance_too() {
    let mut v = venue();
    v.fund(1, USDT, 22_010);
    let (id, _) = v.place(buy(1, 100, 2));
    // @ 110: 22_000 + 11 = 22_011 > 22_010.
    let out = v.amend(BTC_USDT, id, 1, 110, 2);
    assert_eq!(rejection(&out), Some(Reject::InsufficientBalance));
    assert_eq!(v.bal(1, USDT), (2_000, 20_010));
    let out = v.amend(BTC_USDT, id, 1, 109, 2);
    assert_eq!(rejection(&out), None);
    // 21_800 + floor(10.9) = 21_810.
    assert_eq!(v.bal(1, USDT), (200, 21_810));
}

#[test]
fn an_amend_up_of_a_sell_needs_the_base() {
    let mut v = venue();
    v.fund(1, BTC, 29_999);
    let (id, _) = v.place(sell(1, 100, 2));
    let out = v.amend(BTC_USDT, id, 1, 100, 3);
    assert_eq!(rejection(&out), Some(Reject::InsufficientBalance));
    assert_eq!(v.bal(1, BTC), (9_999, 20_000));
}

#[test]
fn an_amend_down_releases_at_once() {
    let mut v = funded();
    let (id, _) = v.place(buy(1, 100, 3));
    assert_eq!(v.hold_of(id), Some(30_015));
    v.amend(BTC_USDT, id, 1, 100, 1);
    assert_eq!(v.hold_of(id), Some(10_005));
    assert_eq!(v.bal(1, USDT), (USD - 10_005, 10_005));
    v.amend(BTC_USDT, id, 1, 90, 1);
    // 9_000 + floor(4.5) = 4.
    assert_eq!(v.hold_of(id), Some(9_004));
    assert_eq!(v.bal(1, USDT), (USD - 9_004, 9_004));

    let (id, _) = v.place(sell(1, 120, 5));
    v.amend(BTC_USDT, id, 1, 120, 2);
    assert_eq!(v.bal(1, BTC), (COIN - 20_000, 20_000));
}

#[test]
fn an_amend_counts_the_filled_quantity_in_the_new_total() {
    let mut v = funded();
    let (id, _) = v.place(buy(1, 101, 5));
    v.place(sell(2, 101, 2));
    // New total 4 with 2 filled: 2 leaves, 20_200 + floor(10.1) = 20_210.
    v.amend(BTC_USDT, id, 1, 101, 4);
    assert_eq!(v.hold_of(id), Some(20_210));
    assert_eq!(v.bal(1, USDT), (USD - 20_204 - 20_210, 20_210));
}

#[test]
fn an_amend_that_crosses_trades_and_settles() {
    let mut v = funded();
    v.place(sell(2, 105, 2));
    let (id, _) = v.place(buy(1, 100, 2));
    let out = v.amend(BTC_USDT, id, 1, 106, 2);
    // Trades 2 @ 105 as taker: 21_000 + floor(10.5) = 10.
    assert_eq!(settlements(&out).len(), 1);
    assert_eq!(v.hold_of(id), None);
    assert_eq!(v.bal(1, USDT), (USD - 21_010, 0));
    assert_eq!(v.bal(1, BTC), (COIN + 20_000, 0));
}

// ----------------------------------------------------------------------
// Self-trade prevention
// ----------------------------------------------------------------------

#[test]
fn a_self_trade_decrement_releases_the_hold_of_the_reduced_resting_order() {
    let mut v = funded();
    let (resting, _) = v.place(buy(1, 100, 5));
    assert_eq!(v.hold_of(resting), Some(50_025));
    let (incoming, out) = v.place(NewOrder { stp: StpMode::DecrementAndCancel, ..sell(1, 100, 2) });
    assert!(settlements(&out).is_empty());
    assert_eq!(cancelled(&out, incoming), Some((Qty(2), CancelReason::SelfTradePrevention)));
    // 3 leaves @ 100: 30_015; the incoming sell's base is back.
    assert_eq!(v.hold_of(resting), Some(30_015));
    assert_eq!(v.bal(1, USDT), (USD - 30_015, 30_015));
    assert_eq!(v.bal(1, BTC), (COIN, 0));
    assert_eq!(v.bal(FEE, USDT), (0, 0));
}

#[test]
fn a_self_trade_decrement_releases_the_hold_of_the_reduced_incoming_order() {
    let mut v = funded();
    let (resting, _) = v.place(sell(1, 100, 2));
    let (incoming, out) = v.place(NewOrder { stp: StpMode::DecrementAndCancel, ..buy(1, 100, 5) });
    assert!(settlements(&out).is_empty());
    assert_eq!(cancelled(&out, resting), Some((Qty(2), CancelReason::SelfTradePrevention)));
    // The buy rests with 3 leaves: 30_015.
    assert_eq!(v.hold_of(incoming), Some(30_015));
    assert_eq!(v.bal(1, USDT), (USD - 30_015, 30_015));
    assert_eq!(v.bal(1, BTC), (COIN, 0));
}

#[test]
fn self_trade_prevention_by_cancel_releases_the_cancelled_orders_holds() {
    let mut v = funded();
    let (resting, _) = v.place(sell(1, 100, 2));
    let (incoming, out) = v.place(NewOrder { stp: StpMode::CancelBoth, ..buy(1, 100, 5) });
    assert_eq!(cancelled(&out, resting), Some((Qty(2), CancelReason::SelfTradePrevention)));
    assert_eq!(cancelled(&out, incoming), Some((Qty(5), CancelReason::SelfTradePrevention)));
    assert_eq!(v.bal(1, USDT), (USD, 0));
    assert_eq!(v.bal(1, BTC), (COIN, 0));
}

// ----------------------------------------------------------------------
// Limits
// ----------------------------------------------------------------------

#[test]
fn an_order_above_the_accounts_maximum_quantity_is_refused() {
    let mut v = funded();
    v.set_limits(1, 0, AccountLimits { max_order_qty: 10, ..AccountLimits::default() });
    v.assert_refused(Command::NewOrder(buy(1, 100, 11)), Reject::MaxOrderQtyExceeded);
    v.assert_refused(Command::NewOrder(market(1, Sell, 11)), Reject::MaxOrderQtyExceeded);
    v.place(buy(1, 100, 10));
}

#[test]
fn an_order_above_the_accounts_maximum_notional_is_refused() {
    let mut v = funded();
    v.set_limits(1, 0, AccountLimits { max_notional: 100_000, ..AccountLimits::default() });
    // At the limit price.
    v.assert_refused(Command::NewOrder(buy(1, 100, 11)), Reject::MaxNotionalExceeded);
    v.assert_refused(Command::NewOrder(sell(1, 100, 11)), Reject::MaxNotionalExceeded);
    // At the stop price of a stop.
    v.assert_refused(Command::NewOrder(stop(1, Sell, 100, 11)), Reject::MaxNotionalExceeded);
    // At the budget of a market buy: 1_001 tick×lots = 100_100.
    let budgeted = NewOrder { quote_budget: 1_001, ..market(1, Buy, 1) };
    v.assert_refused(Command::NewOrder(budgeted), Reject::MaxNotionalExceeded);
    // At the last trade price for another market order.
    print_trade_at(&mut v, 100);
    v.assert_refused(Command::NewOrder(market(1, Sell, 11)), Reject::MaxNotionalExceeded);
    // Exactly at the limit is allowed.
    v.place(buy(1, 100, 10));
    v.place(NewOrder { quote_budget: 1_000, ..market(1, Buy, 1) });
}

#[test]
fn a_market_buy_without_a_budget_spends_at_most_the_accounts_maximum_notional() {
    let mut v = funded();
    v.set_limits(1, 0, AccountLimits { max_notional: 100_000, ..AccountLimits::default() });
    print_trade_at(&mut v, 100);
    // Checked at the last price, 10 lots are 100_000; but the asks are
    // far above it. The budget the order gets is the limit: 1_000
    // tick×lots, one lot @ 1_000.
    v.place(sell(2, 1_000, 10));
    let (id, out) = v.place(market(1, Buy, 10));
    assert_eq!(settlements(&out).iter().map(|s| s.quote).collect::<Vec<_>>(), vec![100_000]);
    assert_eq!(cancelled(&out, id), Some((Qty(9), CancelReason::BudgetExhausted)));
    assert_eq!(v.bal(1, USDT), (USD - 100_050, 0));
}

#[test]
fn an_order_beyond_the_accounts_maximum_open_orders_is_refused() {
    let mut v = funded();
    v.set_limits(1, 0, AccountLimits { max_open_orders: 2, ..AccountLimits::default() });
    let (first, _) = v.place(buy(1, 100, 1));
    // A dormant stop counts as open.
    v.place(stop(1, Sell, 90, 1));
    assert_eq!(v.engine.account(AccountId(1)).map(|a| a.open_orders), Some(2));
    v.assert_refused(Command::NewOrder(buy(1, 99, 1)), Reject::TooManyOpenOrders);
    v.assert_refused(Command::NewOrder(market(1, Sell, 1)), Reject::TooManyOpenOrders);
    v.cancel(BTC_USDT, first, 1);
    assert_eq!(v.engine.account(AccountId(1)).map(|a| a.open_orders), Some(1));
    // An IOC does not stay open.
    v.place(NewOrder { tif: TimeInForce::Ioc, ..buy(1, 99, 1) });
    assert_eq!(v.engine.account(AccountId(1)).map(|a| a.open_orders), Some(1));
    v.place(buy(1, 99, 1));
    assert_eq!(v.engine.account(AccountId(1)).map(|a| a.open_orders), Some(2));
}

fn banded(instrument_band: u32) -> Venue {
    let mut config = config();
    config.instruments[0].price_band_bps = instrument_band;
    let mut v = Venue::with_config(config);
    for account in 1..=4 {
        v.open(account, 0);
        v.fund(account, USDT, USD);
        v.fund(account, BTC, COIN);
    }
    v
}

#[test]
fn the_instruments_price_band_applies_only_after_a_first_trade() {
    let mut v = banded(1_000);
    // No reference yet: any price on the grid.
    let (far, _) = v.place(buy(1, 50, 1));
    v.cancel(BTC_USDT, far, 1);
    print_trade_at(&mut v, 100);
    // 10% around 100.
    v.assert_refused(Command::NewOrder(buy(1, 111, 1)), Reject::PriceBandExceeded);
    v.assert_refused(Command::NewOrder(sell(1, 89, 1)), Reject::PriceBandExceeded);
    v.assert_refused(Command::NewOrder(stop_limit(1, Buy, 105, 111, 1)), Reject::PriceBandExceeded);
    v.place(buy(1, 90, 1));
    v.place(sell(1, 110, 1));
    // A market order has no limit price to band.
    v.place(market(1, Sell, 1));
}

#[test]
fn the_tighter_of_the_instruments_and_the_accounts_band_applies() {
    let mut v = banded(1_000);
    v.set_limits(1, 0, AccountLimits { price_band_bps: 500, ..AccountLimits::default() });
    print_trade_at(&mut v, 100);
    v.assert_refused(Command::NewOrder(buy(1, 106, 1)), Reject::PriceBandExceeded);
    v.place(buy(1, 95, 1));
    v.place(sell(1, 105, 1));
    // Account 2 has only the instrument's band.
    v.place(buy(2, 91, 1));

    // With no instrument band, the account's band alone applies.
    let mut v = banded(0);
    v.set_limits(1, 0, AccountLimits { price_band_bps: 500, ..AccountLimits::default() });
    print_trade_at(&mut v, 100);
    v.assert_refused(Command::NewOrder(sell(1, 94, 1)), Reject::PriceBandExceeded);
    v.place(sell(1, 95, 1));
    v.place(buy(2, 50, 1));
}

#[test]
fn the_price_band_applies_to_amends() {
    let mut v = banded(1_000);
    print_trade_at(&mut v, 100);
    let (id, _) = v.place(buy(1, 95, 1));
    let out = v.amend(BTC_USDT, id, 1, 89, 1);
    assert_eq!(rejection(&out), Some(Reject::PriceBandExceeded));
    assert_eq!(v.hold_of(id), Some(9_504));
}

#[test]
fn the_kill_switch_cancels_all_the_accounts_orders_and_refuses_new_ones_until_off() {
    let mut v = funded();
    v.fund(1, ETH, COIN);
    let (btc_buy, _) = v.place(buy(1, 100, 2));
    let (eth_sell, _) = v.place(NewOrder { instrument: ETH_USDT, ..sell(1, 300, 3) });
    let (btc_stop, _) = v.place(stop(1, Sell, 90, 1));
    let (other, _) = v.place(buy(2, 99, 1));

    let out = v.run(Command::KillSwitch { account: AccountId(1), on: true });
    assert_eq!(out[0], Output::KillSwitch { account: AccountId(1), on: true });
    for id in [btc_buy, eth_sell, btc_stop] {
        assert_eq!(cancelled(&out, id).map(|(_, reason)| reason), Some(CancelReason::KillSwitch), "{id}");
        assert_eq!(v.hold_of(id), None);
    }
    assert_eq!(v.bal(1, USDT), (USD, 0));
    assert_eq!(v.bal(1, BTC), (COIN, 0));
    assert_eq!(v.bal(1, ETH), (COIN, 0));
    // Other accounts are untouched.
    assert_eq!(v.hold_of(other), Some(9_904));

    v.assert_refused(Command::NewOrder(buy(1, 100, 1)), Reject::KillSwitchActive);
    v.assert_refused(
        Command::NewOrder(NewOrder { instrument: ETH_USDT, ..buy(1, 100, 1) }),
        Reject::KillSwitchActive,
    );
    // Money still moves.
    v.fund(1, USDT, 1);

    let out = v.run(Command::KillSwitch { account: AccountId(1), on: false });
    assert_eq!(out, vec![Output::KillSwitch { account: AccountId(1), on: false }]);
    v.place(buy(1, 100, 1));
}

#[test]
fn a_halted_instrument_refuses_new_orders_and_amends_but_cancels_work() {
    let mut v = funded();
    let (id, _) = v.place(buy(1, 100, 2));
    let halt = Command::SetStatus { instrument: BTC_USDT, status: TradingStatus::Halted };
    let out = v.run(halt);
    assert_eq!(events(&out), vec![EventKind::StatusChanged { status: TradingStatus::Halted }]);
    v.assert_refused(Command::NewOrder(buy(1, 100, 1)), Reject::InstrumentHalted);
    let before = v.engine.state_hash();
    let out = v.amend(BTC_USDT, id, 1, 100, 1);
    assert_eq!(rejection(&out), Some(Reject::InstrumentHalted));
    assert_eq!(v.engine.state_hash(), before);
    // The other instrument trades on.
    v.place(NewOrder { instrument: ETH_USDT, ..buy(1, 100, 1) });

    let out = v.cancel(BTC_USDT, id, 1);
    assert_eq!(cancelled(&out, id), Some((Qty(2), CancelReason::Requested)));
    assert_eq!(v.bal(1, USDT), (USD - 10_005, 10_005));

    v.run(Command::SetStatus { instrument: BTC_USDT, status: TradingStatus::Closed });
    v.assert_refused(Command::NewOrder(buy(1, 100, 1)), Reject::InstrumentClosed);
    v.run(Command::SetStatus { instrument: BTC_USDT, status: TradingStatus::Open });
    v.place(buy(1, 100, 1));
}

// ----------------------------------------------------------------------
// Transfers
// ----------------------------------------------------------------------

fn deposit(transfer_id: u64, account: u32, asset: venue_engine::AssetId, amount: i64) -> Command {
    Command::Deposit { transfer_id, account: AccountId(account), asset, amount }
}

fn withdraw(transfer_id: u64, account: u32, asset: venue_engine::AssetId, amount: i64) -> Command {
    Command::WithdrawPending { transfer_id, account: AccountId(account), asset, amount }
}

#[test]
fn a_deposit_credits_the_available_balance_and_the_supply() {
    let mut v = venue();
    let out = v.run(deposit(7, 1, USDT, 500));
    assert_eq!(
        out,
        vec![Output::Transfer {
            transfer_id: 7,
            account: AccountId(1),
            asset: USDT,
            amount: 500,
            state: TransferState::Deposited
        }]
    );
    assert_eq!(v.bal(1, USDT), (500, 0));
    assert_eq!(v.engine.supply(USDT), 500);
    assert_eq!(v.engine.supply(BTC), 0);
}

#[test]
fn deposits_are_idempotent_by_transfer_id() {
    let mut v = venue();
    v.run(deposit(7, 1, USDT, 500));
    v.assert_refused(deposit(7, 1, USDT, 500), Reject::DuplicateTransfer);
    v.assert_refused(deposit(7, 2, BTC, 1), Reject::DuplicateTransfer);
    v.assert_refused(withdraw(7, 1, USDT, 100), Reject::DuplicateTransfer);
    assert_eq!(v.bal(1, USDT), (500, 0));
    assert_eq!(v.engine.supply(USDT), 500);
}

#[test]
fn a_deposit_to_an_unknown_account_or_asset_or_of_a_non_positive_amount_is_refused() {
    let mut v = venue();
    v.assert_refused(deposit(1, 99, USDT, 500), Reject::UnknownAccount);
    v.assert_refused(deposit(2, 1, venue_engine::AssetId(3), 500), Reject::UnknownAsset);
    v.assert_refused(deposit(3, 1, USDT, 0), Reject::InvalidAmount);
    v.assert_refused(deposit(4, 1, USDT, -5), Reject::InvalidAmount);
    // A refused transfer does not use its id up.
    v.run(deposit(1, 1, USDT, 500));
    assert_eq!(v.bal(1, USDT), (500, 0));
}

#[test]
fn a_pending_withdrawal_holds_its_amount() {
    let mut v = venue();
    v.run(deposit(1, 1, USDT, 30_015));
    let out = v.run(withdraw(2, 1, USDT, 10_000));
    assert_eq!(
        out,
        vec![Output::Transfer {
            transfer_id: 2,
            account: AccountId(1),
            asset: USDT,
            amount: 10_000,
            state: TransferState::Pending
        }]
    );
    assert_eq!(v.bal(1, USDT), (20_015, 10_000));
    assert_eq!(v.engine.supply(USDT), 30_015);
    // The held amount cannot back an order.
    v.assert_refused(Command::NewOrder(buy(1, 100, 3)), Reject::InsufficientBalance);
    v.place(buy(1, 100, 2));
    assert_eq!(v.bal(1, USDT), (5, 30_010));
}

#[test]
fn a_withdrawal_above_the_available_balance_is_refused() {
    let mut v = venue();
    v.run(deposit(1, 1, USDT, 1_000));
    v.place(buy(1, 1, 1));
    // 100 + 0 fee held: 900 available.
    v.assert_refused(withdraw(2, 1, USDT, 901), Reject::InsufficientBalance);
    v.run(withdraw(2, 1, USDT, 900));
    assert_eq!(v.bal(1, USDT), (0, 1_000));
}

#[test]
fn a_posted_withdrawal_leaves_the_venue() {
    let mut v = venue();
    v.run(deposit(1, 1, USDT, 1_000));
    v.run(withdraw(2, 1, USDT, 400));
    let out = v.run(Command::WithdrawPost { transfer_id: 2 });
    assert_eq!(
        out,
        vec![Output::Transfer {
            transfer_id: 2,
            account: AccountId(1),
            asset: USDT,
            amount: 400,
            state: TransferState::Posted
        }]
    );
    assert_eq!(v.bal(1, USDT), (600, 0));
    assert_eq!(v.engine.supply(USDT), 600);
    assert_eq!(v.engine.transfer(2).map(|t| t.state), Some(TransferState::Posted));
}

#[test]
fn a_voided_withdrawal_is_available_again() {
    let mut v = venue();
    v.run(deposit(1, 1, USDT, 1_000));
    v.run(withdraw(2, 1, USDT, 400));
    let out = v.run(Command::WithdrawVoid { transfer_id: 2 });
    assert_eq!(
        out,
        vec![Output::Transfer {
            transfer_id: 2,
            account: AccountId(1),
            asset: USDT,
            amount: 400,
            state: TransferState::Voided
        }]
    );
    assert_eq!(v.bal(1, USDT), (1_000, 0));
    assert_eq!(v.engine.supply(USDT), 1_000);
}

#[test]
fn post_or_void_of_an_unknown_or_finished_transfer_is_refused() {
    let mut v = venue();
    v.run(deposit(1, 1, USDT, 1_000));
    v.run(withdraw(2, 1, USDT, 400));
    v.run(withdraw(3, 1, USDT, 100));
    v.assert_refused(Command::WithdrawPost { transfer_id: 99 }, Reject::UnknownTransfer);
    v.assert_refused(Command::WithdrawVoid { transfer_id: 99 }, Reject::UnknownTransfer);
    // A deposit is not a pending withdrawal.
    v.assert_refused(Command::WithdrawPost { transfer_id: 1 }, Reject::TransferNotPending);
    v.assert_refused(Command::WithdrawVoid { transfer_id: 1 }, Reject::TransferNotPending);
    v.run(Command::WithdrawPost { transfer_id: 2 });
    v.assert_refused(Command::WithdrawPost { transfer_id: 2 }, Reject::TransferNotPending);
    v.assert_refused(Command::WithdrawVoid { transfer_id: 2 }, Reject::TransferNotPending);
    v.run(Command::WithdrawVoid { transfer_id: 3 });
    v.assert_refused(Command::WithdrawVoid { transfer_id: 3 }, Reject::TransferNotPending);
    v.assert_refused(Command::WithdrawPost { transfer_id: 3 }, Reject::TransferNotPending);
    assert_eq!(v.bal(1, USDT), (600, 0));
    assert_eq!(v.engine.supply(USDT), 600);
}

#[test]
fn a_deposit_that_would_overflow_the_supply_is_refused() {
    let mut v = venue();
    v.run(deposit(1, 1, USDT, i64::MAX - 1));
    v.assert_refused(deposit(2, 2, USDT, 2), Reject::BalanceOverflow);
    v.assert_refused(deposit(3, 1, USDT, i64::MAX), Reject::BalanceOverflow);
    v.run(deposit(4, 2, USDT, 1));
    assert_eq!(v.engine.supply(USDT), i64::MAX);
    // Another asset has its own supply.
    v.run(deposit(5, 2, BTC, i64::MAX));
    assert_eq!(v.bal(2, BTC), (i64::MAX, 0));
}
