//! A subscriber that sees every L2 diff and L3 event reconstructs exactly the
//! engine's book at every sequence number.
//!
//! Random order flow (limit, iceberg, post-only, IOC, GTD, stop-limit and
//! market orders; cancels, amends, mass cancels, halts and resumes, clock
//! ticks; three accounts, two instruments) runs through a real
//! `venue_engine::Engine`; each command's outputs are stamped as the
//! pipeline stamps them (in half the cases without the `last` mark, so the
//! next command or `flush` closes the update) and fed to `MarketData`.
//! After every command, for each instrument:
//!
//! * (a) `MarketData`'s depth, quote and L3 snapshot equal the engine's book
//!   (aggregated by the engine itself, and order by order in priority
//!   order); the book sequence number advanced by one per update, and every
//!   update's per-channel first sequence numbers are right;
//! * (b) a `BookFollower` started at sequence 0, and one started from a
//!   depth snapshot taken at a random point (fed the updates buffered since
//!   an earlier random point, which it must drop or accept by the rules),
//!   equal the engine's depth; a follower fed only the updates with level
//!   changes (a depth-only stream) does too;
//! * (c) an `L3Follower` started the same two ways equals the engine's
//!   orders, level by level, in priority order;
//! * (d) a subscriber behind a small `Conflator`, drained a random amount
//!   after each command, equals the engine's book whenever its buffer is
//!   empty, and at the end; so does an L3 subscriber behind one.
//!
//! Case count: `PROPTEST_CASES` (default 256), up to 400 commands each.

mod common;

use common::{ACCOUNTS, BTC_USDT, ETH_USDT, Feed, engine_depth, engine_orders};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use std::collections::BTreeMap;
use venue_engine::{Command, Output};
use venue_marketdata::{
    Applied, BookFollower, Conflator, Interest, L3Follower, MarketData, MarketDataConfig, PriceLevel, Update,
};
use venue_matching::{
    AccountId, AmendOrder, CancelOrder, ClientOrderId, Event, EventKind, InstrumentId, NewOrder, OrderId,
    OrderKind, OrderRef, Price, Qty, Side, TimeInForce, Timestamp, TradingStatus,
};

const INSTRUMENTS: [InstrumentId; 2] = [BTC_USDT, ETH_USDT];
const MID: i64 = 10_000;
const START: u64 = 1_700_000_000_000_000_000;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

#[derive(Clone, Debug)]
enum Op {
    Limit { account: usize, instrument: usize, side: Side, offset: i64, qty: i64, display: i64, flavour: u8 },
    StopLimit { account: usize, instrument: usize, side: Side, stop: i64, offset: i64, qty: i64 },
    Market { account: usize, instrument: usize, side: Side, qty: i64 },
    Cancel { pick: Index },
    Amend { pick: Index, delta: i64, qty: i64 },
    MassCancel { instrument: Option<usize>, account: Option<usize> },
    Status { instrument: usize, halt: bool },
    Tick,
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Buy), Just(Side::Sell)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0..3usize, 0..2usize, side(), -3..=8i64, 1..=20i64, 0..=4i64, 0..8u8).prop_map(
            |(account, instrument, side, offset, qty, display, flavour)| Op::Limit {
                account, instrument, side, offset, qty, display, flavour
            }
        ),
        1 => (0..3usize, 0..2usize, side(), -4..=4i64, -4..=4i64, 1..=10i64).prop_map(
            |(account, instrument, side, stop, offset, qty)| Op::StopLimit {
                account, instrument, side, stop, offset, qty
            }
        ),
        2 => (0..3usize, 0..2usize, side(), 1..=12i64)
            .prop_map(|(account, instrument, side, qty)| Op::Market { account, instrument, side, qty }),
        4 => any::<Index>().prop_map(|pick| Op::Cancel { pick }),
        3 => (any::<Index>(), -3..=3i64, 1..=25i64).prop_map(|(pick, delta, qty)| Op::Amend { pick, delta, qty }),
        1 => (proptest::option::of(0..2usize), proptest::option::of(0..3usize))
            .prop_map(|(instrument, account)| Op::MassCancel { instrument, account }),
        1 => (0..2usize, prop::bool::weighted(0.15)).prop_map(|(instrument, halt)| Op::Status { instrument, halt }),
        1 => Just(Op::Tick),
    ]
}

/// Time steps: same batch, a millisecond, across seconds and minutes.
fn step() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), Just(1_000_000), Just(400_000_000), Just(1_000_000_000), Just(61_000_000_000),]
}

#[derive(Clone, Debug)]
struct Case {
    ops: Vec<(Op, u64)>,
    mark_last: bool,
    /// Where the late subscriber starts buffering and takes its snapshot.
    buffer_at: Index,
    snapshot_at: Index,
    conflator_capacity: usize,
    /// Updates a slow subscriber takes after each command.
    drains: Vec<u8>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec((op(), step()), 1..400),
        any::<bool>(),
        any::<Index>(),
        any::<Index>(),
        1..5usize,
        proptest::collection::vec(0..4u8, 400),
    )
        .prop_map(|(ops, mark_last, buffer_at, snapshot_at, conflator_capacity, drains)| Case {
            ops,
            mark_last,
            buffer_at,
            snapshot_at,
            conflator_capacity,
            drains,
        })
}

/// The orders the stream has placed and that may still be live:
/// `(instrument, order id, account)`.
struct Placed(Vec<(InstrumentId, u64, u32)>);

impl Placed {
    /// Forgets orders that are no longer live, so that most cancels and
    /// amends name a live one.
    fn prune(&mut self, feed: &Feed) {
        self.0.retain(|&(i, id, _)| {
            feed.engine.books().book(i).is_some_and(|b| b.order(OrderId(id)).is_some())
        });
    }
}

fn to_command(op: &Op, placed: &Placed, now: u64) -> Command {
    match *op {
        Op::Limit { account, instrument, side, offset, qty, display, flavour } => {
            // Mostly passive: `offset` ticks away from the middle on the
            // order's own side, a few ticks through it at most.
            let price = match side {
                Side::Buy => MID - offset,
                Side::Sell => MID + offset,
            };
            let mut order = NewOrder::limit(0, ACCOUNTS[account], side, price, qty);
            order.instrument = INSTRUMENTS[instrument];
            if display > 0 && display < qty && flavour != 0 {
                order.display_qty = Qty(display);
            }
            match flavour {
                0 => order.tif = TimeInForce::Ioc,
                1 => {
                    order.tif = TimeInForce::Gtd;
                    order.expire_time = Timestamp(now + 2_000_000_000);
                }
                2 if order.display_qty == Qty::ZERO => order.post_only = true,
                _ => {}
            }
            Command::NewOrder(order)
        }
        Op::StopLimit { account, instrument, side, stop, offset, qty } => {
            let mut order = NewOrder::limit(0, ACCOUNTS[account], side, MID + stop + offset, qty);
            order.instrument = INSTRUMENTS[instrument];
            order.kind = OrderKind::StopLimit;
            order.stop_price = Price(MID + stop);
            Command::NewOrder(order)
        }
        Op::Market { account, instrument, side, qty } => {
            let mut order = NewOrder::market(0, ACCOUNTS[account], side, qty);
            order.instrument = INSTRUMENTS[instrument];
            Command::NewOrder(order)
        }
        Op::Cancel { pick } if !placed.0.is_empty() => {
            let (instrument, id, account) = *pick.get(&placed.0);
            Command::Cancel(CancelOrder {
                instrument,
                target: OrderRef::Id(OrderId(id)),
                account: Some(AccountId(account)),
            })
        }
        Op::Amend { pick, delta, qty } if !placed.0.is_empty() => {
            let (instrument, id, account) = *pick.get(&placed.0);
            Command::Amend(AmendOrder {
                instrument,
                target: OrderRef::Id(OrderId(id)),
                account: Some(AccountId(account)),
                new_price: Price(MID + delta),
                new_qty: Some(Qty(qty)),
                new_client_order_id: ClientOrderId::NONE,
            })
        }
        Op::MassCancel { instrument, account } => Command::MassCancel {
            instrument: instrument.map(|i| INSTRUMENTS[i]),
            account: account.map(|a| AccountId(ACCOUNTS[a])),
        },
        Op::Status { instrument, halt } => Command::SetStatus {
            instrument: INSTRUMENTS[instrument],
            status: if halt { TradingStatus::Halted } else { TradingStatus::Open },
        },
        Op::Cancel { .. } | Op::Amend { .. } | Op::Tick => Command::Tick,
    }
}

/// A follower and the index of the next update of the stream it reads.
struct Reader<F> {
    follower: F,
    next: usize,
}

fn check_depth(
    what: &str,
    seq: u64,
    bids: &[PriceLevel],
    asks: &[PriceLevel],
    feed: &Feed,
    instrument: InstrumentId,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(bids, &engine_depth(&feed.engine, instrument, Side::Buy)[..], "{} bids at {}", what, seq);
    prop_assert_eq!(
        asks,
        &engine_depth(&feed.engine, instrument, Side::Sell)[..],
        "{} asks at {}",
        what,
        seq
    );
    Ok(())
}

fn run_case(case: &Case) -> Result<(), TestCaseError> {
    let mut feed = Feed::new(START);
    feed.mark_last = case.mark_last;
    let commands = case.ops.len();
    let buffer_at = case.buffer_at.index(commands);
    let snapshot_at = buffer_at + case.snapshot_at.index(commands - buffer_at);
    let mut placed = Placed(Vec::new());

    let mut l2_from_start: Vec<Reader<BookFollower>> = INSTRUMENTS
        .iter()
        .map(|&i| Reader { follower: BookFollower::new(&feed.market.depth(i, None).unwrap()), next: 0 })
        .collect();
    let mut l2_depth_only = l2_from_start.iter().map(|r| r.follower.clone()).collect::<Vec<_>>();
    let mut l3_from_start: Vec<Reader<L3Follower>> = INSTRUMENTS
        .iter()
        .map(|&i| Reader {
            follower: L3Follower::new(&feed.market.l3_snapshot(i).unwrap()).unwrap(),
            next: 0,
        })
        .collect();
    let mut late_l2: Vec<Reader<BookFollower>> = Vec::new();
    let mut late_l3: Vec<Reader<L3Follower>> = Vec::new();
    let mut buffer_start = 0;

    let mut slow_depth = Conflator::new(case.conflator_capacity, Interest::DEPTH);
    let mut slow_all = Conflator::new(case.conflator_capacity, Interest::ALL);
    let mut slow_l2: Vec<BookFollower> = l2_from_start.iter().map(|r| r.follower.clone()).collect();
    let mut slow_all_l2: Vec<BookFollower> = slow_l2.clone();
    let mut slow_l3: Vec<L3Follower> = l3_from_start.iter().map(|r| r.follower.clone()).collect();
    let mut fed_slow = 0;

    let mut seqs: BTreeMap<InstrumentId, (u64, u64, u64)> = BTreeMap::new();

    for (k, (op, step)) in case.ops.iter().enumerate() {
        if k == buffer_at {
            buffer_start = feed.history.len();
        }
        if k == snapshot_at {
            for &i in &INSTRUMENTS {
                let depth = feed.market.depth(i, None).unwrap();
                late_l2.push(Reader { follower: BookFollower::new(&depth), next: buffer_start });
                let l3 = feed.market.l3_snapshot(i).unwrap();
                prop_assert_eq!(l3.seq, depth.seq);
                late_l3.push(Reader { follower: L3Follower::new(&l3).unwrap(), next: buffer_start });
            }
        }
        feed.now += step;
        let command = to_command(op, &placed, feed.now);
        let outputs = feed.run(command);
        for output in &outputs {
            if let Output::Book(Event { instrument, kind: EventKind::Accepted { order_id, account, .. } }) =
                output
            {
                placed.0.push((*instrument, order_id.0, account.0));
            }
        }
        placed.prune(&feed);

        // (a) the market data itself, and the stream's numbering.
        for update in &feed.history[fed_slow..] {
            let (seq, l2_last, l3_last) = seqs.entry(update.instrument).or_insert((0, 0, 0));
            prop_assert_eq!(update.seq, *seq + 1, "book seq must advance by one");
            prop_assert_eq!(update.first_seq, update.seq);
            prop_assert_eq!(update.l2_first_seq, *l2_last + 1);
            prop_assert_eq!(update.l3_first_seq, *l3_last + 1);
            prop_assert!(
                update.has_l2()
                    || update.has_l3()
                    || !update.trades.is_empty()
                    || update.status.is_some()
                    || update.candles.iter().any(|c| c.is_closed(update.time)),
                "empty update {:?}",
                update
            );
            *seq = update.seq;
            if update.has_l2() {
                *l2_last = update.seq;
            }
            if update.has_l3() {
                *l3_last = update.seq;
            }
        }
        for (n, &i) in INSTRUMENTS.iter().enumerate() {
            let depth = feed.market.depth(i, None).unwrap();
            prop_assert_eq!(depth.seq, seqs.get(&i).map_or(0, |s| s.0));
            check_depth("market data", depth.seq, &depth.bids, &depth.asks, &feed, i)?;
            let top = feed.market.depth(i, Some(2)).unwrap();
            prop_assert_eq!(&top.bids[..], &depth.bids[..depth.bids.len().min(2)]);
            let book = feed.engine.books().book(i).unwrap();
            let l1 = feed.market.l1(i).unwrap();
            prop_assert_eq!(l1.bbo.bid.map(|l| (l.price, l.qty)), book.best_bid());
            prop_assert_eq!(l1.bbo.ask.map(|l| (l.price, l.qty)), book.best_ask());
            prop_assert_eq!(l1.last_trade.map(|t| t.price), book.last_price());
            prop_assert_eq!(l1.status, book.status());
            let l3 = feed.market.l3_snapshot(i).unwrap();
            prop_assert_eq!(&l3.bids, &engine_orders(&feed.engine, i, Side::Buy));
            prop_assert_eq!(&l3.asks, &engine_orders(&feed.engine, i, Side::Sell));

            // (b) and (c): followers that read every update of the stream.
            for reader in [&mut l2_from_start[n]].into_iter().chain(late_l2.get_mut(n)) {
                for update in &feed.history[reader.next..] {
                    reader.follower.apply(update).map_err(|e| TestCaseError::fail(format!("{e}")))?;
                }
                reader.next = feed.history.len();
                let got = reader.follower.depth(None);
                prop_assert_eq!(got.seq, depth.seq);
                check_depth("follower", got.seq, &got.bids, &got.asks, &feed, i)?;
            }
            for update in feed.history[fed_slow..].iter().filter(|u| u.instrument == i && u.has_l2()) {
                // A depth-only stream: each message starts right after the
                // previous one.
                prop_assert_eq!(update.l2_first_seq, l2_depth_only[n].seq() + 1);
                prop_assert_eq!(l2_depth_only[n].apply(update), Ok(Applied::Applied));
            }
            let got = l2_depth_only[n].depth(None);
            check_depth("depth-only follower", got.seq, &got.bids, &got.asks, &feed, i)?;
            for reader in [&mut l3_from_start[n]].into_iter().chain(late_l3.get_mut(n)) {
                for update in &feed.history[reader.next..] {
                    reader.follower.apply(update).map_err(|e| TestCaseError::fail(format!("{e}")))?;
                }
                reader.next = feed.history.len();
                let got = reader.follower.snapshot();
                prop_assert_eq!(got.seq, depth.seq);
                prop_assert_eq!(&got.bids, &engine_orders(&feed.engine, i, Side::Buy));
                prop_assert_eq!(&got.asks, &engine_orders(&feed.engine, i, Side::Sell));
            }
        }

        // (d) slow subscribers.
        for update in &feed.history[fed_slow..] {
            for slow in [&mut slow_depth, &mut slow_all] {
                slow.push(update.clone());
            }
        }
        fed_slow = feed.history.len();
        let take = usize::from(case.drains[k % case.drains.len()]);
        drain(&mut slow_depth, take, |u| apply_l2(&mut slow_l2, u))?;
        drain(&mut slow_all, take, |u| {
            apply_l2(&mut slow_all_l2, u)?;
            let follower = &mut slow_l3[u.instrument.0 as usize];
            follower.apply(u).map_err(|e| TestCaseError::fail(format!("{e}")))?;
            Ok(())
        })?;
        for (slow, followers) in [(&slow_depth, &slow_l2), (&slow_all, &slow_all_l2)] {
            if slow.is_empty() {
                for (n, &i) in INSTRUMENTS.iter().enumerate() {
                    let got = followers[n].depth(None);
                    check_depth("conflated follower", got.seq, &got.bids, &got.asks, &feed, i)?;
                }
            }
        }
        if slow_all.is_empty() {
            for (n, &i) in INSTRUMENTS.iter().enumerate() {
                let got = slow_l3[n].snapshot();
                prop_assert_eq!(&got.bids, &engine_orders(&feed.engine, i, Side::Buy));
                prop_assert_eq!(&got.asks, &engine_orders(&feed.engine, i, Side::Sell));
            }
        }
    }

    drain(&mut slow_depth, usize::MAX, |u| apply_l2(&mut slow_l2, u))?;
    drain(&mut slow_all, usize::MAX, |u| {
        apply_l2(&mut slow_all_l2, u)?;
        slow_l3[u.instrument.0 as usize].apply(u).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        Ok(())
    })?;
    for (n, &i) in INSTRUMENTS.iter().enumerate() {
        for followers in [&slow_l2, &slow_all_l2] {
            let got = followers[n].depth(None);
            check_depth("conflated follower at the end", got.seq, &got.bids, &got.asks, &feed, i)?;
        }
        let got = slow_l3[n].snapshot();
        prop_assert_eq!(&got.bids, &engine_orders(&feed.engine, i, Side::Buy));
        prop_assert_eq!(&got.asks, &engine_orders(&feed.engine, i, Side::Sell));
    }
    // Market data rebuilt from the books (after a restart) holds the same
    // book, at the engine's sequence number: never below the number the
    // live market data reached, so numbers do not go back across a restart.
    let (seq, time) = (feed.engine.seq(), feed.engine.time());
    let rebuilt = MarketData::from_books(feed.engine.books(), seq, time, MarketDataConfig::default());
    for &i in &INSTRUMENTS {
        prop_assert!(rebuilt.seq(i) >= feed.market.seq(i), "book sequence number went back");
        let (mut depth, mut l3) = (feed.market.depth(i, None).unwrap(), feed.market.l3_snapshot(i).unwrap());
        (depth.seq, depth.time, l3.seq, l3.time) = (seq, time, seq, time);
        prop_assert_eq!(rebuilt.depth(i, None).unwrap(), depth);
        prop_assert_eq!(rebuilt.l3_snapshot(i).unwrap(), l3);
        prop_assert_eq!(rebuilt.l1(i).unwrap().bbo, feed.market.l1(i).unwrap().bbo);
        prop_assert_eq!(rebuilt.status(i), feed.market.status(i));
    }
    Ok(())
}

fn apply_l2(followers: &mut [BookFollower], update: &Update) -> Result<(), TestCaseError> {
    let follower = &mut followers[update.instrument.0 as usize];
    let outcome = follower.apply(update).map_err(|e| TestCaseError::fail(format!("{e}")))?;
    prop_assert_eq!(outcome, Applied::Applied);
    Ok(())
}

fn drain(
    slow: &mut Conflator,
    take: usize,
    mut each: impl FnMut(&Update) -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError> {
    for _ in 0..take {
        let Some(update) = slow.pop() else { break };
        each(&update)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn every_subscriber_reconstructs_the_engine_book(case in case()) {
        run_case(&case)?;
    }
}

/// Conflation really happens in these streams (a test that never merged
/// would prove little): a fixed flow through a one-slot buffer.
#[test]
fn a_full_buffer_merges_updates_into_the_exact_book() {
    let mut feed = Feed::new(START);
    let mut slow = Conflator::new(1, Interest::DEPTH);
    let mut follower = BookFollower::new(&feed.market.depth(BTC_USDT, None).unwrap());
    for n in 0..20i64 {
        let side = if n % 2 == 0 { Side::Buy } else { Side::Sell };
        let price = if side == Side::Buy { MID - 1 - n % 5 } else { MID + 1 + n % 5 };
        let from = feed.history.len();
        feed.run(common::limit(BTC_USDT, ACCOUNTS[(n % 3) as usize], side, price, 1 + n));
        for update in feed.updates_since(from).to_vec() {
            slow.push(update);
        }
    }
    feed.run(common::market(BTC_USDT, ACCOUNTS[0], Side::Buy, 30));
    slow.push(feed.history.last().unwrap().clone());
    assert_eq!(slow.len(), 1);
    assert!(slow.merged() >= 19, "merged {}", slow.merged());
    let merged = slow.pop().unwrap();
    assert_eq!((merged.first_seq, merged.seq), (1, 21));
    assert_eq!(follower.apply(&merged), Ok(Applied::Applied));
    let got = follower.depth(None);
    assert_eq!(got.bids, engine_depth(&feed.engine, BTC_USDT, Side::Buy));
    assert_eq!(got.asks, engine_depth(&feed.engine, BTC_USDT, Side::Sell));
    assert!(merged.l3.is_empty() && merged.trades.is_empty(), "a depth subscriber's merge keeps only depth");
}
