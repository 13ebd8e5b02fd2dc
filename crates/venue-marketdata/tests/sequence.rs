//! Sequence numbers and resynchronisation, case by case: what a subscriber
//! that misses an update sees, the Binance snapshot rules, per-channel
//! first sequence numbers, and which commands make an update.

mod common;

use common::{BTC_USDT, ETH_USDT, Feed, limit, market};
use std::sync::Arc;
use venue_engine::Command;
use venue_marketdata::{
    Applied, BookFollower, Conflator, FollowError, Interest, L3Event, L3Follower, MarketData, PriceLevel,
    Pushed, Stamped,
};
use venue_matching::{
    AccountId, CancelOrder, InstrumentId, OrderId, OrderRef, Price, Qty, Side, Timestamp, TradingStatus,
};

const T: u64 = 1_700_000_000_000_000_000;

/// Three resting bids on BTC-USDT: updates 1, 2, 3.
fn three_bids() -> Feed {
    let mut feed = Feed::new(T);
    for (price, qty) in [(100, 1), (99, 2), (98, 3)] {
        feed.run(limit(BTC_USDT, 1, Side::Buy, price, qty));
    }
    assert_eq!(feed.history.iter().map(|u| u.seq).collect::<Vec<_>>(), [1, 2, 3]);
    feed
}

fn level(price: i64, qty: i64, count: u32) -> PriceLevel {
    PriceLevel { price: Price(price), qty: Qty(qty), count }
}

#[test]
fn a_follower_that_misses_an_update_reports_the_gap_and_changes_nothing() {
    let feed = three_bids();
    let empty = MarketData::new(&venue_engine::EngineConfig::demo().instruments);
    let mut follower = BookFollower::new(&empty.depth(BTC_USDT, None).unwrap());
    assert_eq!(follower.apply(&feed.history[0]), Ok(Applied::Applied));
    // Update 2 is lost.
    assert_eq!(follower.apply(&feed.history[2]), Err(FollowError::Gap { expected: 2, got: 3 }));
    assert_eq!(follower.seq(), 1);
    assert_eq!(follower.levels(Side::Buy), [level(100, 1, 1)]);

    // Resynchronise: a new snapshot, then the buffered updates are stale.
    let mut follower = BookFollower::new(&feed.market.depth(BTC_USDT, None).unwrap());
    for update in &feed.history {
        assert_eq!(follower.apply(update), Ok(Applied::Stale));
    }
    assert_eq!(follower.levels(Side::Buy), [level(100, 1, 1), level(99, 2, 1), level(98, 3, 1)]);
}

#[test]
fn the_first_update_after_a_snapshot_straddles_it() {
    let mut feed = Feed::new(T);
    feed.run(limit(BTC_USDT, 1, Side::Buy, 100, 1));
    feed.run(limit(BTC_USDT, 1, Side::Buy, 99, 1));
    let snapshot = feed.market.depth(BTC_USDT, None).unwrap();
    assert_eq!(snapshot.seq, 2);
    feed.run(limit(BTC_USDT, 1, Side::Buy, 98, 1));
    feed.run(limit(BTC_USDT, 1, Side::Buy, 100, 4));

    // Binance: drop u <= lastUpdateId, then U <= lastUpdateId + 1 <= u.
    let mut follower = BookFollower::new(&snapshot);
    let outcomes: Vec<_> = feed.history.iter().map(|u| follower.apply(u)).collect();
    assert_eq!(
        outcomes,
        [Ok(Applied::Stale), Ok(Applied::Stale), Ok(Applied::Applied), Ok(Applied::Applied)]
    );
    assert_eq!(follower.levels(Side::Buy), [level(100, 5, 2), level(99, 1, 1), level(98, 1, 1)]);
    assert_eq!(follower.depth(Some(1)).bids, [level(100, 5, 2)]);

    // A snapshot two updates old misses update 3 among those kept.
    let mut late = BookFollower::new(&snapshot);
    assert_eq!(late.apply(&feed.history[3]), Err(FollowError::Gap { expected: 3, got: 4 }));
}

#[test]
fn a_depth_stream_skips_updates_without_level_changes_and_stays_contiguous() {
    let mut feed = three_bids();
    let at_three = feed.market.depth(BTC_USDT, None).unwrap();
    feed.run(Command::SetStatus { instrument: BTC_USDT, status: TradingStatus::Halted });
    feed.run(Command::SetStatus { instrument: BTC_USDT, status: TradingStatus::Open });
    feed.run(limit(BTC_USDT, 2, Side::Sell, 101, 1));
    let [.., halt, open, ask] = &feed.history[..] else { panic!("six updates") };
    assert_eq!((halt.seq, halt.status, halt.has_l2()), (4, Some(TradingStatus::Halted), false));
    assert_eq!((open.seq, open.status), (5, Some(TradingStatus::Open)));
    // On a depth-only stream the ask follows update 3 directly.
    assert_eq!(ask.l2_range(), (4, 6));
    assert_eq!(ask.first_seq, 6);
    assert!(ask.bbo.is_some_and(|q| q.ask == Some(level(101, 1, 1))));

    // A follower at 3 that never saw the status updates takes the ask...
    let mut follower = BookFollower::new(&at_three);
    assert_eq!(follower.apply(ask), Ok(Applied::Applied));
    assert_eq!(follower.depth(None), feed.market.depth(BTC_USDT, None).unwrap());
    // ...and one that saw everything does too (U below its seq + 1).
    let mut everything = BookFollower::new(&at_three);
    for update in &feed.history[3..] {
        assert_eq!(everything.apply(update), Ok(Applied::Applied));
    }
    assert_eq!(everything.depth(None), follower.depth(None));
    // Missing a level change is a gap, on either stream: a follower at 3
    // that lost the ask (4..=6) sees the next one start at 7.
    feed.run(limit(BTC_USDT, 2, Side::Sell, 102, 1));
    let next = feed.history.last().unwrap();
    assert_eq!(next.l2_range(), (7, 7));
    let mut lost = BookFollower::new(&at_three);
    assert_eq!(lost.apply(next), Err(FollowError::Gap { expected: 4, got: 7 }));
}

#[test]
fn updates_of_other_instruments_are_ignored_and_l3_gaps_are_reported() {
    let mut feed = three_bids();
    let eth = feed.history.len();
    feed.run(limit(ETH_USDT, 1, Side::Buy, 50, 1));
    let empty = MarketData::new(&venue_engine::EngineConfig::demo().instruments);
    let mut l3 = L3Follower::new(&empty.l3_snapshot(BTC_USDT).unwrap()).unwrap();
    assert_eq!(l3.apply(&feed.history[eth]), Ok(Applied::OtherInstrument));
    assert_eq!(l3.apply(&feed.history[0]), Ok(Applied::Applied));
    assert_eq!(l3.apply(&feed.history[2]), Err(FollowError::Gap { expected: 2, got: 3 }));
    assert_eq!(l3.seq(), 1);
}

#[test]
fn l3_events_say_which_order_traded() {
    let mut feed = Feed::new(T);
    feed.run(limit(BTC_USDT, 2, Side::Sell, 100, 5));
    let maker = OrderId(feed.seq);
    feed.run(market(BTC_USDT, 1, Side::Buy, 2));
    let update = feed.history.last().unwrap();
    assert_eq!(update.trades.len(), 1);
    let trade_id = update.trades[0].trade_id;
    assert_eq!(
        update.l3,
        [
            L3Event::Executed { order_id: maker, side: Side::Sell, price: Price(100), qty: Qty(2), trade_id },
            L3Event::Modified { order_id: maker, side: Side::Sell, price: Price(100), qty: Qty(3) },
        ]
    );
    assert_eq!(update.levels.len(), 1);
    assert_eq!(update.candles.len(), 6);
}

#[test]
fn an_l3_follower_refuses_a_merged_update_it_has_partly_seen() {
    let feed = three_bids();
    let mut slow = Conflator::new(1, Interest::ALL);
    for update in &feed.history {
        slow.push(update.clone());
    }
    let merged = slow.pop().unwrap();
    assert_eq!((merged.first_seq, merged.seq), (1, 3));
    assert_eq!(merged.l3.len(), 3);

    let empty = MarketData::new(&venue_engine::EngineConfig::demo().instruments);
    let mut fresh = L3Follower::new(&empty.l3_snapshot(BTC_USDT).unwrap()).unwrap();
    assert_eq!(fresh.apply(&merged), Ok(Applied::Applied));
    assert_eq!(fresh.snapshot().bids, feed.market.l3_snapshot(BTC_USDT).unwrap().bids);

    let mut partly = L3Follower::new(&empty.l3_snapshot(BTC_USDT).unwrap()).unwrap();
    assert_eq!(partly.apply(&feed.history[0]), Ok(Applied::Applied));
    assert_eq!(partly.apply(&merged), Err(FollowError::Overlap { seq: 1, first: 1 }));
    // Levels are absolute: the L2 follower takes the same merged update.
    let mut l2 = BookFollower::new(&empty.depth(BTC_USDT, None).unwrap());
    assert_eq!(l2.apply(&feed.history[0]), Ok(Applied::Applied));
    assert_eq!(l2.apply(&merged), Ok(Applied::Applied));
    assert_eq!(l2.levels(Side::Buy), [level(100, 1, 1), level(99, 2, 1), level(98, 3, 1)]);
}

#[test]
fn a_conflator_queues_shared_updates_while_it_has_room_and_skips_what_is_not_wanted() {
    let mut feed = three_bids();
    feed.run(Command::SetStatus { instrument: BTC_USDT, status: TradingStatus::Halted });
    let mut trades_only = Conflator::new(8, Interest { trades: true, ..Interest::NONE });
    let mut depth = Conflator::new(8, Interest::DEPTH);
    for update in &feed.history {
        assert_eq!(trades_only.push(update.clone()), Pushed::Skipped);
        assert_eq!(depth.push(update.clone()), Pushed::Queued);
    }
    let first = depth.pop().unwrap();
    assert!(Arc::ptr_eq(&first, &feed.history[0]), "queued updates are the shared ones");
}

#[test]
fn commands_that_change_nothing_public_make_no_update() {
    let mut feed = three_bids();
    // A refused cancel, a deposit, a status set to the current status, a
    // dormant stop: no update, no sequence number.
    feed.run(Command::Cancel(CancelOrder {
        instrument: BTC_USDT,
        target: OrderRef::Id(OrderId(999)),
        account: Some(AccountId(1)),
    }));
    feed.run(Command::Deposit {
        transfer_id: 77,
        account: AccountId(1),
        asset: venue_engine::AssetId(2),
        amount: 1_000,
    });
    feed.run(Command::SetStatus { instrument: BTC_USDT, status: TradingStatus::Open });
    let mut stop = venue_matching::NewOrder::limit(0, 2, Side::Sell, 90, 1);
    stop.kind = venue_matching::OrderKind::StopLimit;
    stop.stop_price = Price(95);
    let out = feed.run(Command::NewOrder(stop));
    assert!(
        out.iter().any(|o| matches!(
            o,
            venue_engine::Output::Book(venue_matching::Event {
                kind: venue_matching::EventKind::Accepted { .. },
                ..
            })
        )),
        "{out:?}"
    );
    feed.run(Command::Tick);
    assert_eq!(feed.history.len(), 3);
    assert_eq!(feed.market.seq(BTC_USDT), Some(3));
    assert_eq!(feed.market.seq(ETH_USDT), Some(0));
    assert_eq!(feed.market.seq(InstrumentId(7)), None);
}

#[test]
fn one_command_on_two_instruments_makes_one_update_each_in_instrument_order() {
    let mut feed = three_bids();
    feed.run(limit(ETH_USDT, 1, Side::Buy, 50, 1));
    let from = feed.history.len();
    feed.run(Command::MassCancel { instrument: None, account: Some(AccountId(1)) });
    let updates = feed.updates_since(from);
    let ids: Vec<(InstrumentId, u64)> = updates.iter().map(|u| (u.instrument, u.seq)).collect();
    assert_eq!(ids, [(BTC_USDT, 4), (ETH_USDT, 2)]);
    assert_eq!(updates[0].levels.len(), 3);
    assert_eq!(updates[0].l3.len(), 3);
    assert_eq!(updates[0].bbo.map(|q| q.bid), Some(None));
}

#[test]
fn a_command_ends_at_its_last_output_at_the_next_command_or_at_flush() {
    let feed = three_bids();
    // The same commands on a second engine, its outputs fed unmarked.
    let mut replica = Feed::new(T);
    let mut market = MarketData::new(&venue_engine::EngineConfig::demo().instruments);
    let mut out = Vec::new();
    for (n, (price, qty)) in [(100, 1), (99, 2), (98, 3)].into_iter().enumerate() {
        let outputs = replica.run(limit(BTC_USDT, 1, Side::Buy, price, qty));
        for output in outputs {
            let stamped = Stamped { seq: replica.seq, time: Timestamp(T), origin: 0, last: false, output };
            market.apply(&stamped, &mut out);
        }
        // The previous command ended when this one's first output came.
        assert_eq!(out.len(), n);
        assert_eq!(market.seq(BTC_USDT), Some(n as u64));
    }
    market.flush(&mut out);
    assert_eq!(out.len(), 3);
    assert_eq!(market.depth(BTC_USDT, None), feed.market.depth(BTC_USDT, None));
    assert_eq!(
        out.iter().map(|u| (**u).clone()).collect::<Vec<_>>(),
        feed.history.iter().map(|u| (**u).clone()).collect::<Vec<_>>()
    );
}
