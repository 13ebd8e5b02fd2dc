//! OHLCV candles, aligned to UTC interval boundaries.
//!
//! A candle of interval `i` covers `[k·i, (k+1)·i)` nanoseconds since the
//! Unix epoch for some integer `k` (so daily candles open at 00:00 UTC). Its
//! time is the sequencer time of the commands that traded, never a clock.
//! Candles are sparse: a period without trades has no candle (a transport
//! that wants a continuous series fills gaps with the previous close and
//! zero volume). A candle is closed once the sequencer's time reaches its
//! end: the first command at or after that time (a trade, or the venue's
//! periodic time tick on an idle market) publishes it one last time, final
//! ([`Candle::is_closed`] at the update's time).

use crate::update::PublicTrade;
use std::collections::VecDeque;
use venue_domain::{Price, Qty, Timestamp, TradeId};

/// Candle intervals, with the names crypto clients use (`1s` … `1d`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Interval {
    /// One second.
    S1,
    /// One minute.
    M1,
    /// Five minutes.
    M5,
    /// Fifteen minutes.
    M15,
    /// One hour.
    H1,
    /// One day (UTC).
    D1,
}

impl Interval {
    /// Every interval, shortest first: the order of [`Update::candles`](crate::Update::candles).
    pub const ALL: [Interval; 6] =
        [Interval::S1, Interval::M1, Interval::M5, Interval::M15, Interval::H1, Interval::D1];

    /// Length in milliseconds (what REST and WebSocket APIs quote).
    pub const fn millis(self) -> u64 {
        match self {
            Interval::S1 => 1_000,
            Interval::M1 => 60_000,
            Interval::M5 => 300_000,
            Interval::M15 => 900_000,
            Interval::H1 => 3_600_000,
            Interval::D1 => 86_400_000,
        }
    }

    /// Length in nanoseconds (the unit of [`Timestamp`]).
    pub const fn nanos(self) -> u64 {
        self.millis() * 1_000_000
    }

    /// The client-facing name: `1s`, `1m`, `5m`, `15m`, `1h`, `1d`.
    pub const fn name(self) -> &'static str {
        match self {
            Interval::S1 => "1s",
            Interval::M1 => "1m",
            Interval::M5 => "5m",
            Interval::M15 => "15m",
            Interval::H1 => "1h",
            Interval::D1 => "1d",
        }
    }

    /// The interval a client names, if it is one of ours.
    pub fn from_name(name: &str) -> Option<Interval> {
        Interval::ALL.into_iter().find(|i| i.name() == name)
    }

    /// Start of the period containing `time`.
    pub const fn start_of(self, time: Timestamp) -> Timestamp {
        Timestamp(time.0 - time.0 % self.nanos())
    }
}

/// Open, high, low, close and volumes of a run of trades: the body of a
/// candle and of the 24h statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ohlcv {
    /// Price of the first trade, in ticks.
    pub open: Price,
    /// Highest trade price, in ticks.
    pub high: Price,
    /// Lowest trade price, in ticks.
    pub low: Price,
    /// Price of the last trade, in ticks.
    pub close: Price,
    /// Base volume: the sum of trade quantities, in lots.
    pub volume: Qty,
    /// Quote volume: the sum of `price × qty`, in tick×lot units (multiply
    /// by `tick_size × lot_size` for units of `10^-(price_decimals +
    /// qty_decimals)` quote). `i128`: a day of maximum-size trades does not
    /// fit in `i64`.
    pub quote_volume: i128,
    /// Number of trades.
    pub trades: u64,
    /// Id of the first trade.
    pub first_trade_id: TradeId,
    /// Id of the last trade.
    pub last_trade_id: TradeId,
}

impl Ohlcv {
    /// The summary of one trade.
    pub(crate) fn of(trade: &PublicTrade) -> Ohlcv {
        Ohlcv {
            open: trade.price,
            high: trade.price,
            low: trade.price,
            close: trade.price,
            volume: trade.qty,
            quote_volume: i128::from(trade.price.0) * i128::from(trade.qty.0),
            trades: 1,
            first_trade_id: trade.trade_id,
            last_trade_id: trade.trade_id,
        }
    }

    /// Adds a later trade.
    pub(crate) fn add(&mut self, trade: &PublicTrade) {
        self.high = self.high.max(trade.price);
        self.low = self.low.min(trade.price);
        self.close = trade.price;
        self.volume = Qty(self.volume.0.saturating_add(trade.qty.0));
        self.quote_volume += i128::from(trade.price.0) * i128::from(trade.qty.0);
        self.trades += 1;
        self.last_trade_id = trade.trade_id;
    }
}

/// One candle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candle {
    /// Its interval.
    pub interval: Interval,
    /// Start of its period (aligned to the interval, UTC).
    pub open_time: Timestamp,
    /// Its prices and volumes.
    pub ohlcv: Ohlcv,
}

impl Candle {
    /// End of its period (exclusive): Binance's close time is one
    /// millisecond before it.
    pub const fn end_time(&self) -> Timestamp {
        Timestamp(self.open_time.0 + self.interval.nanos())
    }

    /// Whether no later trade can change it, at time `now`.
    pub const fn is_closed(&self, now: Timestamp) -> bool {
        now.0 >= self.end_time().0
    }
}

/// The candles of one interval: the current one and a bounded history.
#[derive(Clone, Debug)]
pub(crate) struct CandleSeries {
    interval: Interval,
    current: Option<Candle>,
    history: VecDeque<Candle>,
    keep: usize,
}

impl CandleSeries {
    pub(crate) fn new(interval: Interval, keep: usize) -> CandleSeries {
        CandleSeries { interval, current: None, history: VecDeque::new(), keep }
    }

    /// Adds a trade at `time`; returns the current candle after it. A time
    /// before the current candle's period (the sequencer never goes back)
    /// counts in the current candle.
    pub(crate) fn add(&mut self, time: Timestamp, trade: &PublicTrade) -> Candle {
        let start = self.interval.start_of(time);
        if let Some(candle) = &mut self.current
            && start <= candle.open_time
        {
            candle.ohlcv.add(trade);
            return *candle;
        }
        // Market data closes candles by time before it adds a command's
        // trades, so this one is already final and was published as such.
        if let Some(closed) = self.current.take() {
            self.remember(closed);
        }
        let candle = Candle { interval: self.interval, open_time: start, ohlcv: Ohlcv::of(trade) };
        self.current = Some(candle);
        candle
    }

    /// Closes the current candle if `now` has reached its end: moves it to
    /// the history and returns it, final.
    pub(crate) fn close(&mut self, now: Timestamp) -> Option<Candle> {
        let closed = self.current.take_if(|c| c.is_closed(now))?;
        self.remember(closed);
        Some(closed)
    }

    /// End of the current candle, if one is open.
    pub(crate) fn end(&self) -> Option<Timestamp> {
        self.current.as_ref().map(Candle::end_time)
    }

    fn remember(&mut self, closed: Candle) {
        if self.keep > 0 {
            if self.history.len() == self.keep {
                self.history.pop_front();
            }
            self.history.push_back(closed);
        }
    }

    /// The most recent `limit` candles, oldest first, the current one last.
    pub(crate) fn recent(&self, limit: usize) -> Vec<Candle> {
        let all = self.history.iter().chain(self.current.iter());
        let total = self.history.len() + usize::from(self.current.is_some());
        all.skip(total.saturating_sub(limit)).copied().collect()
    }
}
