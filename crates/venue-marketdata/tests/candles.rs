//! Candles and 24-hour statistics against a small hand-computed scenario:
//! eight trades at known times across second, minute, 5-minute, hour and
//! day boundaries.
//!
//! Each trade is a resting sell by account 2 taken by a buy of account 1 at
//! the same price and size, so trade `n` has id `n`, the sell's price and
//! size, and a buying aggressor.

mod common;

use common::{BTC_USDT, Feed, limit};
use venue_marketdata::{Candle, Interval, Ohlcv, Stats24h, Update};
use venue_matching::{Price, Qty, Side, Timestamp, TradeId};

/// 2024-01-01 00:00:00 UTC, in ns: aligned to every interval.
const T0: u64 = 1_704_067_200_000_000_000;
const MS: u64 = 1_000_000;
const S: u64 = 1_000 * MS;
const MIN: u64 = 60 * S;
const HOUR: u64 = 60 * MIN;
const DAY: u64 = 24 * HOUR;

/// `(time, price, qty)` of the eight trades.
const TRADES: [(u64, i64, i64); 8] = [
    (T0 + 500 * MS, 10_000, 2),
    (T0 + 900 * MS, 10_050, 1),
    (T0 + 1_200 * MS, 9_950, 3),
    (T0 + 59_999 * MS, 10_010, 1),
    (T0 + MIN, 10_100, 4),
    (T0 + 5 * MIN + S, 9_900, 2),
    (T0 + HOUR, 10_200, 1),
    (T0 + DAY + 30 * S, 10_300, 5),
];

/// A candle summary with trade ids `first..=last`.
#[allow(clippy::too_many_arguments)]
fn ohlcv(o: i64, h: i64, l: i64, c: i64, volume: i64, quote: i128, first: u64, last: u64) -> Ohlcv {
    Ohlcv {
        open: Price(o),
        high: Price(h),
        low: Price(l),
        close: Price(c),
        volume: Qty(volume),
        quote_volume: quote,
        trades: last - first + 1,
        first_trade_id: TradeId(first),
        last_trade_id: TradeId(last),
    }
}

fn candle(interval: Interval, open: u64, body: Ohlcv) -> Candle {
    Candle { interval, open_time: Timestamp(open), ohlcv: body }
}

/// Runs trade `n` (0-based); returns the update of the taking command.
fn trade(feed: &mut Feed, n: usize) -> Update {
    let (time, price, qty) = TRADES[n];
    feed.run_at(time, limit(BTC_USDT, 2, Side::Sell, price, qty));
    let from = feed.history.len();
    feed.run_at(time, limit(BTC_USDT, 1, Side::Buy, price, qty));
    let updates = feed.updates_since(from);
    assert_eq!(updates.len(), 1);
    (*updates[0]).clone()
}

#[test]
fn candles_and_24h_statistics_match_the_hand_computed_values() {
    let mut feed = Feed::new(T0 - MIN);
    for n in 0..7 {
        let update = trade(&mut feed, n);
        assert_eq!(update.trades.len(), 1);
        assert_eq!(update.trades[0].trade_id, TradeId(n as u64 + 1));
        assert_eq!(update.trades[0].aggressor, Side::Buy);
        let intervals: Vec<Interval> = update.candles.iter().map(|c| c.interval).collect();
        assert_eq!(intervals, Interval::ALL, "every interval's current candle after a trade");
    }

    // After trade 7 (T0 + 1h), the whole history is inside 24 hours.
    let stats = feed.market.stats_24h(BTC_USDT, Timestamp(TRADES[6].0)).unwrap();
    assert_eq!(stats.summary, Some(ohlcv(10_000, 10_200, 9_900, 10_200, 14, 140_310, 1, 7)));
    assert_eq!(stats.window_start, Timestamp(T0 + HOUR - DAY + MIN));
    assert_eq!(stats.window_end, Timestamp(T0 + HOUR + MIN));

    let update = trade(&mut feed, 7);
    let day = candle(Interval::D1, T0 + DAY, ohlcv(10_300, 10_300, 10_300, 10_300, 5, 51_500, 8, 8));
    assert_eq!(update.candles.last(), Some(&day));

    let expect: [(Interval, Vec<Candle>); 6] = [
        (
            Interval::S1,
            vec![
                candle(Interval::S1, T0, ohlcv(10_000, 10_050, 10_000, 10_050, 3, 30_050, 1, 2)),
                candle(Interval::S1, T0 + S, ohlcv(9_950, 9_950, 9_950, 9_950, 3, 29_850, 3, 3)),
                candle(Interval::S1, T0 + 59 * S, ohlcv(10_010, 10_010, 10_010, 10_010, 1, 10_010, 4, 4)),
                candle(Interval::S1, T0 + MIN, ohlcv(10_100, 10_100, 10_100, 10_100, 4, 40_400, 5, 5)),
                candle(Interval::S1, T0 + 5 * MIN + S, ohlcv(9_900, 9_900, 9_900, 9_900, 2, 19_800, 6, 6)),
                candle(Interval::S1, T0 + HOUR, ohlcv(10_200, 10_200, 10_200, 10_200, 1, 10_200, 7, 7)),
                candle(Interval::S1, T0 + DAY + 30 * S, day.ohlcv),
            ],
        ),
        (
            Interval::M1,
            vec![
                candle(Interval::M1, T0, ohlcv(10_000, 10_050, 9_950, 10_010, 7, 69_910, 1, 4)),
                candle(Interval::M1, T0 + MIN, ohlcv(10_100, 10_100, 10_100, 10_100, 4, 40_400, 5, 5)),
                candle(Interval::M1, T0 + 5 * MIN, ohlcv(9_900, 9_900, 9_900, 9_900, 2, 19_800, 6, 6)),
                candle(Interval::M1, T0 + HOUR, ohlcv(10_200, 10_200, 10_200, 10_200, 1, 10_200, 7, 7)),
                candle(Interval::M1, T0 + DAY, day.ohlcv),
            ],
        ),
        (
            Interval::M5,
            vec![
                candle(Interval::M5, T0, ohlcv(10_000, 10_100, 9_950, 10_100, 11, 110_310, 1, 5)),
                candle(Interval::M5, T0 + 5 * MIN, ohlcv(9_900, 9_900, 9_900, 9_900, 2, 19_800, 6, 6)),
                candle(Interval::M5, T0 + HOUR, ohlcv(10_200, 10_200, 10_200, 10_200, 1, 10_200, 7, 7)),
                candle(Interval::M5, T0 + DAY, day.ohlcv),
            ],
        ),
        (
            Interval::M15,
            vec![
                candle(Interval::M15, T0, ohlcv(10_000, 10_100, 9_900, 9_900, 13, 130_110, 1, 6)),
                candle(Interval::M15, T0 + HOUR, ohlcv(10_200, 10_200, 10_200, 10_200, 1, 10_200, 7, 7)),
                candle(Interval::M15, T0 + DAY, day.ohlcv),
            ],
        ),
        (
            Interval::H1,
            vec![
                candle(Interval::H1, T0, ohlcv(10_000, 10_100, 9_900, 9_900, 13, 130_110, 1, 6)),
                candle(Interval::H1, T0 + HOUR, ohlcv(10_200, 10_200, 10_200, 10_200, 1, 10_200, 7, 7)),
                candle(Interval::H1, T0 + DAY, day.ohlcv),
            ],
        ),
        (
            Interval::D1,
            vec![candle(Interval::D1, T0, ohlcv(10_000, 10_200, 9_900, 10_200, 14, 140_310, 1, 7)), day],
        ),
    ];
    let seq = feed.market.seq(BTC_USDT).unwrap();
    for (interval, candles) in &expect {
        let got = feed.market.candles(BTC_USDT, *interval, 1000).unwrap();
        assert_eq!(got.seq, seq);
        assert_eq!(&got.candles, candles, "{}", interval.name());
        // The limit keeps the most recent ones, oldest first.
        let last_two = feed.market.candles(BTC_USDT, *interval, 2).unwrap().candles;
        assert_eq!(last_two, candles[candles.len() - 2..]);
    }
    let m1 = &expect[1].1;
    assert!(m1[0].is_closed(Timestamp(TRADES[7].0)));
    assert!(!m1[4].is_closed(Timestamp(TRADES[7].0)));
    assert!(m1[4].is_closed(Timestamp(T0 + DAY + MIN)));

    // At trade 8 (T0 + 1d + 30s) the window is the minutes from T0 + 1min:
    // trades 1 to 4 (minute T0) have left it.
    let now = TRADES[7].0;
    let stats = feed.market.stats_24h(BTC_USDT, Timestamp(now)).unwrap();
    assert_eq!(
        stats,
        Stats24h {
            instrument: BTC_USDT,
            seq,
            window_start: Timestamp(T0 + MIN),
            window_end: Timestamp(T0 + DAY + MIN),
            summary: Some(ohlcv(10_100, 10_300, 9_900, 10_300, 12, 121_900, 5, 8)),
        }
    );
    // Later, with no trade in between: exact at the minute.
    let at = |now: u64| feed.market.stats_24h(BTC_USDT, Timestamp(now)).unwrap().summary;
    assert_eq!(at(T0 + MIN + DAY - 1), Some(ohlcv(10_100, 10_300, 9_900, 10_300, 12, 121_900, 5, 8)));
    assert_eq!(at(T0 + MIN + DAY), Some(ohlcv(9_900, 10_300, 9_900, 10_300, 8, 81_500, 6, 8)));
    assert_eq!(at(T0 + 5 * MIN + DAY - 1), Some(ohlcv(9_900, 10_300, 9_900, 10_300, 8, 81_500, 6, 8)));
    assert_eq!(at(T0 + 5 * MIN + DAY), Some(ohlcv(10_200, 10_300, 10_200, 10_300, 6, 61_700, 7, 8)));
    assert_eq!(at(T0 + HOUR + MIN + DAY), Some(ohlcv(10_300, 10_300, 10_300, 10_300, 5, 51_500, 8, 8)));
    // Trade 8 (minute T0 + 1d) stays in until the window's first minute
    // passes it: the window spans 23 h 59 min to 24 h.
    assert_eq!(at(T0 + 2 * DAY - 1), Some(ohlcv(10_300, 10_300, 10_300, 10_300, 5, 51_500, 8, 8)));
    assert_eq!(at(T0 + 2 * DAY), None);
    // A `now` before the last trade counts as the last trade's minute.
    assert_eq!(at(T0), at(now));

    // Recent trades, oldest first, and L1's last trade.
    let trades = feed.market.trades(BTC_USDT, 3).unwrap();
    assert_eq!(trades.seq, seq);
    let ids: Vec<u64> = trades.trades.iter().map(|t| t.trade_id.0).collect();
    assert_eq!(ids, [6, 7, 8]);
    let last = feed.market.l1(BTC_USDT).unwrap().last_trade.unwrap();
    assert_eq!((last.price, last.qty, last.time), (Price(10_300), Qty(5), Timestamp(now)));
    assert_eq!(Interval::from_name("15m"), Some(Interval::M15));
    assert_eq!(Interval::M15.millis(), 900_000);
}

/// A low that leaves the window uncovers the next lowest; a high likewise.
#[test]
fn rolling_extremes_follow_the_window() {
    let mut feed = Feed::new(T0 - MIN);
    let plan = [(0, 10_000), (1, 9_000), (2, 11_000), (3, 10_500), (4, 9_500)];
    for (minute, price) in plan {
        let time = T0 + minute * MIN;
        feed.run_at(time, limit(BTC_USDT, 2, Side::Sell, price, 1));
        feed.run_at(time, limit(BTC_USDT, 1, Side::Buy, price, 1));
    }
    let extremes = |now: u64| {
        let s = feed.market.stats_24h(BTC_USDT, Timestamp(now)).unwrap().summary.unwrap();
        (s.open.0, s.high.0, s.low.0, s.trades)
    };
    assert_eq!(extremes(T0 + 4 * MIN), (10_000, 11_000, 9_000, 5));
    assert_eq!(extremes(T0 + DAY), (9_000, 11_000, 9_000, 4));
    assert_eq!(extremes(T0 + DAY + MIN), (11_000, 11_000, 9_500, 3));
    assert_eq!(extremes(T0 + DAY + 2 * MIN), (10_500, 10_500, 9_500, 2));
    assert_eq!(extremes(T0 + DAY + 3 * MIN), (9_500, 9_500, 9_500, 1));
}

/// A candle is published one last time, closed, by the first command at or
/// after its end: on an idle market the time tick; otherwise whatever comes.
#[test]
fn candles_close_by_the_sequencer_time_and_are_published_final() {
    let mut feed = Feed::new(T0 - MIN);
    let first = trade(&mut feed, 0); // T0 + 500 ms
    assert!(first.candles.iter().all(|c| !c.is_closed(first.time)), "{first:?}");
    let s1 = candle(Interval::S1, T0, ohlcv(10_000, 10_000, 10_000, 10_000, 2, 20_000, 1, 1));

    // A tick before the second ends changes nothing public.
    let from = feed.history.len();
    let outputs = feed.run_at(T0 + 999 * MS, venue_engine::Command::Tick);
    assert_eq!(outputs.last(), Some(&venue_engine::Output::Ticked));
    assert!(feed.updates_since(from).is_empty());

    // The tick at the second's end publishes the final 1s candle, alone,
    // under the next book sequence number.
    let seq = feed.market.seq(BTC_USDT).unwrap();
    feed.run_at(T0 + S, venue_engine::Command::Tick);
    let closed = feed.updates_since(from);
    assert_eq!(closed.len(), 1, "{closed:?}");
    let update = &closed[0];
    assert_eq!((update.seq, update.time), (seq + 1, Timestamp(T0 + S)));
    assert_eq!(update.candles, [s1]);
    assert!(update.candles[0].is_closed(update.time));
    assert!(update.levels.is_empty() && update.l3.is_empty() && update.trades.is_empty());
    // Only once.
    let from = feed.history.len();
    feed.run_at(T0 + 2 * S, venue_engine::Command::Tick);
    assert!(feed.updates_since(from).is_empty());

    // No tick for minutes: the next command (an order that rests) closes
    // the minute and the 5 minutes, and the trade after it opens new ones.
    let from = feed.history.len();
    let (time, price, qty) = (T0 + 5 * MIN + S, 9_900, 2);
    feed.run_at(time, limit(BTC_USDT, 2, Side::Sell, price, qty));
    let resting = feed.updates_since(from);
    assert_eq!(resting.len(), 1);
    let m1 = candle(Interval::M1, T0, s1.ohlcv);
    let m5 = candle(Interval::M5, T0, s1.ohlcv);
    assert_eq!(resting[0].candles, [m1, m5], "the minute and 5 minutes close with the resting order");
    assert!(resting[0].has_l2());
    let from = feed.history.len();
    feed.run_at(time, limit(BTC_USDT, 1, Side::Buy, price, qty));
    let traded = &feed.updates_since(from)[0];
    let opened: Vec<(Interval, u64, bool)> =
        traded.candles.iter().map(|c| (c.interval, c.open_time.0, c.is_closed(traded.time))).collect();
    assert_eq!(
        opened,
        [
            (Interval::S1, T0 + 5 * MIN + S, false),
            (Interval::M1, T0 + 5 * MIN, false),
            (Interval::M5, T0 + 5 * MIN, false),
            (Interval::M15, T0, false),
            (Interval::H1, T0, false),
            (Interval::D1, T0, false),
        ]
    );

    // A conflating subscriber that merges the closing update with the next
    // trade keeps both candles of the interval: the final one and the new.
    let mut slow = venue_marketdata::Conflator::new(1, venue_marketdata::Interest::ALL);
    let s1_next =
        candle(Interval::S1, T0 + 5 * MIN + 2 * S, ohlcv(10_000, 10_000, 10_000, 10_000, 1, 10_000, 3, 3));
    let from = feed.history.len();
    feed.run_at(T0 + 5 * MIN + 2 * S, limit(BTC_USDT, 2, Side::Sell, 10_000, 1));
    feed.run_at(T0 + 5 * MIN + 2 * S, limit(BTC_USDT, 1, Side::Buy, 10_000, 1));
    for update in feed.updates_since(from) {
        slow.push(update.clone());
    }
    let merged = slow.pop().expect("one merged update");
    let s1s: Vec<Candle> = merged.candles.iter().filter(|c| c.interval == Interval::S1).copied().collect();
    assert_eq!(s1s.len(), 2, "{merged:?}");
    assert!(s1s[0].is_closed(merged.time) && s1s[0].open_time == Timestamp(T0 + 5 * MIN + S));
    assert_eq!(s1s[1], s1_next);
}
