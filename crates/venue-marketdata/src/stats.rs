//! Rolling 24-hour statistics, exact at minute granularity.
//!
//! Trades are summed into one bucket per UTC minute (minutes since the
//! epoch, from the sequencer time). The window at time `now` is the 1440
//! minutes ending with `now`'s minute, so it spans between 23 h 59 min and
//! 24 h of trades; every trade is in or out of it exactly, never
//! approximated. Volumes and the trade count are running sums: a trade adds
//! to them, a bucket leaving the window subtracts from them. High and low
//! are monotonic queues of bucket extremes (at most one entry per minute).
//! So adding a trade and moving the window are O(1) amortised, and a query
//! costs O(1) plus the buckets that left the window since the last trade
//! (none on a busy instrument).

use crate::candle::Ohlcv;
use crate::update::PublicTrade;
use std::collections::VecDeque;
use venue_domain::{InstrumentId, Price, Qty, Timestamp};

/// Nanoseconds in a minute.
const MINUTE: u64 = 60_000_000_000;
/// Minutes in the window.
const WINDOW: u64 = 24 * 60;

/// 24-hour statistics of one instrument (the REST `ticker/24hr` and the
/// WebSocket ticker).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats24h {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Book sequence number the statistics are consistent with.
    pub seq: u64,
    /// Start of the window (a minute boundary).
    pub window_start: Timestamp,
    /// End of the window, exclusive (the minute after `now`'s).
    pub window_end: Timestamp,
    /// Open (first trade in the window), high, low, last price, volumes,
    /// count and trade id range; `None` when nothing traded in the window.
    pub summary: Option<Ohlcv>,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    minute: u64,
    ohlcv: Ohlcv,
}

/// The running window of one instrument.
#[derive(Clone, Debug, Default)]
pub(crate) struct RollingStats {
    /// Minutes with trades, oldest first.
    buckets: VecDeque<Bucket>,
    /// `(minute, high)` with strictly decreasing highs: the front is the
    /// window's high.
    highs: VecDeque<(u64, Price)>,
    /// `(minute, low)` with strictly increasing lows: the front is the
    /// window's low.
    lows: VecDeque<(u64, Price)>,
    volume: i64,
    quote_volume: i128,
    trades: u64,
}

fn first_minute(now_minute: u64) -> u64 {
    now_minute.saturating_sub(WINDOW - 1)
}

impl RollingStats {
    /// The minute of `time`, never before the newest bucket (time does not
    /// go back; if it did, the trade counts in the newest minute).
    fn minute_of(&self, time: Timestamp) -> u64 {
        let minute = time.0 / MINUTE;
        self.buckets.back().map_or(minute, |b| b.minute.max(minute))
    }

    /// Drops the buckets that left the window at `now_minute`.
    fn evict(&mut self, now_minute: u64) {
        let start = first_minute(now_minute);
        while let Some(front) = self.buckets.front().filter(|b| b.minute < start) {
            self.volume -= front.ohlcv.volume.0;
            self.quote_volume -= front.ohlcv.quote_volume;
            self.trades -= front.ohlcv.trades;
            self.buckets.pop_front();
        }
        while self.highs.front().is_some_and(|&(m, _)| m < start) {
            self.highs.pop_front();
        }
        while self.lows.front().is_some_and(|&(m, _)| m < start) {
            self.lows.pop_front();
        }
    }

    /// Moves the window to `time` without a trade.
    pub(crate) fn advance(&mut self, time: Timestamp) {
        let minute = self.minute_of(time);
        self.evict(minute);
    }

    /// Adds a trade at `time`.
    pub(crate) fn add(&mut self, time: Timestamp, trade: &PublicTrade) {
        let minute = self.minute_of(time);
        self.evict(minute);
        match self.buckets.back_mut() {
            Some(bucket) if bucket.minute == minute => bucket.ohlcv.add(trade),
            _ => self.buckets.push_back(Bucket { minute, ohlcv: Ohlcv::of(trade) }),
        }
        self.volume = self.volume.saturating_add(trade.qty.0);
        self.quote_volume += i128::from(trade.price.0) * i128::from(trade.qty.0);
        self.trades += 1;
        // A new high for this minute replaces every entry not above it
        // (including this minute's older, lower high).
        if self.highs.back().is_none_or(|&(m, h)| m != minute || trade.price > h) {
            while self.highs.back().is_some_and(|&(_, h)| h <= trade.price) {
                self.highs.pop_back();
            }
            if self.highs.back().is_none_or(|&(m, _)| m != minute) {
                self.highs.push_back((minute, trade.price));
            }
        }
        if self.lows.back().is_none_or(|&(m, l)| m != minute || trade.price < l) {
            while self.lows.back().is_some_and(|&(_, l)| l >= trade.price) {
                self.lows.pop_back();
            }
            if self.lows.back().is_none_or(|&(m, _)| m != minute) {
                self.lows.push_back((minute, trade.price));
            }
        }
    }

    /// The statistics of the window ending at `now` (clamped to the newest
    /// trade's minute).
    pub(crate) fn at(&self, instrument: InstrumentId, seq: u64, now: Timestamp) -> Stats24h {
        let now_minute = self.minute_of(now);
        let start = first_minute(now_minute);
        let stale = self.buckets.partition_point(|b| b.minute < start);
        let mut volume = self.volume;
        let mut quote_volume = self.quote_volume;
        let mut trades = self.trades;
        for bucket in self.buckets.range(..stale) {
            volume -= bucket.ohlcv.volume.0;
            quote_volume -= bucket.ohlcv.quote_volume;
            trades -= bucket.ohlcv.trades;
        }
        let live = |q: &VecDeque<(u64, Price)>| q.iter().find(|&&(m, _)| m >= start).map(|&(_, p)| p);
        let summary =
            match (self.buckets.get(stale), self.buckets.back(), live(&self.highs), live(&self.lows)) {
                (Some(first), Some(last), Some(high), Some(low)) => Some(Ohlcv {
                    open: first.ohlcv.open,
                    high,
                    low,
                    close: last.ohlcv.close,
                    volume: Qty(volume),
                    quote_volume,
                    trades,
                    first_trade_id: first.ohlcv.first_trade_id,
                    last_trade_id: last.ohlcv.last_trade_id,
                }),
                _ => None,
            };
        Stats24h {
            instrument,
            seq,
            window_start: Timestamp(start * MINUTE),
            window_end: Timestamp((now_minute + 1).saturating_mul(MINUTE)),
            summary,
        }
    }
}
