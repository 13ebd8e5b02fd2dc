//! [`MarketData`]: per-instrument public state, advanced by the engine's
//! outputs, producing one [`Update`] per instrument per command and
//! answering snapshots consistent with a book sequence number.

use crate::book::{L2Book, L3Book, L3Order};
use crate::candle::{Candle, CandleSeries, Interval};
use crate::stats::{RollingStats, Stats24h};
use crate::update::{Bbo, L3Event, LevelChange, PriceLevel, PublicTrade, Update, sort_levels};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use venue_domain::{InstrumentId, InstrumentSpec, Price, Side, Timestamp, TradingStatus};
use venue_engine::Output;
use venue_matching::{Books, Event, EventKind};
use venue_pipeline::Stamped;

/// How much history market data keeps per instrument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarketDataConfig {
    /// Most recent trades kept for the `trades` snapshot.
    pub trade_history: usize,
    /// Closed candles kept per interval (the current one comes on top).
    pub candle_history: usize,
}

impl Default for MarketDataConfig {
    /// 1000 trades and 1000 closed candles per interval: what Binance's
    /// REST `trades` and `klines` return at most.
    fn default() -> Self {
        MarketDataConfig { trade_history: 1000, candle_history: 1000 }
    }
}

/// Aggregated depth at one book sequence number: the snapshot a depth
/// subscriber starts from (REST `depth`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DepthSnapshot {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Book sequence number the snapshot is consistent with (Binance
    /// `lastUpdateId`).
    pub seq: u64,
    /// Time of the update at `seq` (0 before any).
    pub time: Timestamp,
    /// Bids, best (highest) first.
    pub bids: Vec<PriceLevel>,
    /// Asks, best (lowest) first.
    pub asks: Vec<PriceLevel>,
}

/// Every shown order at one book sequence number, in priority order: the
/// snapshot an L3 subscriber starts from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L3Snapshot {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Book sequence number the snapshot is consistent with.
    pub seq: u64,
    /// Time of the update at `seq`.
    pub time: Timestamp,
    /// Bids: best price first, then time priority.
    pub bids: Vec<L3Order>,
    /// Asks: best price first, then time priority.
    pub asks: Vec<L3Order>,
}

/// Level 1 at one book sequence number (REST `bookTicker` plus last trade).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L1Snapshot {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Book sequence number the snapshot is consistent with.
    pub seq: u64,
    /// Time of the update at `seq`.
    pub time: Timestamp,
    /// Best bid and ask with sizes.
    pub bbo: Bbo,
    /// The last trade since market data started, if any.
    pub last_trade: Option<PublicTrade>,
    /// Trading status.
    pub status: TradingStatus,
}

/// Recent trades at one book sequence number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TradesSnapshot {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Book sequence number the list is consistent with.
    pub seq: u64,
    /// Oldest first, the last trade last.
    pub trades: Vec<PublicTrade>,
}

/// Recent candles of one interval at one book sequence number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CandlesSnapshot {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Book sequence number the list is consistent with.
    pub seq: u64,
    /// The interval.
    pub interval: Interval,
    /// Oldest first; the last one is the current (possibly still open)
    /// candle.
    pub candles: Vec<Candle>,
}

/// A price level: its side and price.
type LevelKey = (Side, Price);

/// The public state of one instrument.
#[derive(Clone, Debug)]
struct Instrument {
    spec: InstrumentSpec,
    seq: u64,
    /// Seq of the last update with L2 changes / L3 events.
    l2_last: u64,
    l3_last: u64,
    time: Timestamp,
    status: TradingStatus,
    l2: L2Book,
    l3: L3Book,
    bbo: Bbo,
    last_trade: Option<PublicTrade>,
    trades: VecDeque<PublicTrade>,
    candles: Vec<CandleSeries>,
    stats: RollingStats,
    /// Scratch for [`Instrument::apply`]: touched levels and their state
    /// before the command.
    before: Vec<(LevelKey, Option<(venue_domain::Qty, u32)>)>,
}

impl Instrument {
    fn new(spec: InstrumentSpec, config: &MarketDataConfig) -> Instrument {
        Instrument {
            status: spec.status,
            spec,
            seq: 0,
            l2_last: 0,
            l3_last: 0,
            time: Timestamp(0),
            l2: L2Book::default(),
            l3: L3Book::default(),
            bbo: Bbo::default(),
            last_trade: None,
            trades: VecDeque::new(),
            candles: Interval::ALL.iter().map(|&i| CandleSeries::new(i, config.candle_history)).collect(),
            stats: RollingStats::default(),
            before: Vec::new(),
        }
    }

    /// Closes every candle whose period has ended by `now`, appending the
    /// final candles to `out`.
    fn close_candles(&mut self, now: Timestamp, out: &mut Vec<Candle>) {
        out.extend(self.candles.iter_mut().filter_map(|series| series.close(now)));
    }

    /// When the next open candle ends (`u64::MAX` if none is open).
    fn next_close(&self) -> u64 {
        self.candles.iter().filter_map(|series| series.end()).map(|t| t.0).min().unwrap_or(u64::MAX)
    }

    /// Applies one command's events for this instrument, after closing the
    /// candles its time ended; returns the update if anything public
    /// changed.
    fn apply<'a>(
        &mut self,
        time: Timestamp,
        events: impl Iterator<Item = &'a EventKind>,
        config: &MarketDataConfig,
    ) -> Option<Update> {
        // Each touched level's state before the command, to report only
        // levels whose final state differs (a command may publish a level
        // several times, or put it back as it was): every publication's
        // state before it, in order; after a stable sort by level the first
        // of each level is the state before the command. A buffer kept
        // between commands: no allocation once it has grown.
        let mut before = std::mem::take(&mut self.before);
        before.clear();
        let mut l3 = Vec::new();
        let mut trades = Vec::new();
        let mut status = None;
        for kind in events {
            match *kind {
                EventKind::Level { side, price, qty, count } => {
                    before.push(((side, price), self.l2.get(side, price)));
                    self.l2.set(&LevelChange { side, price, qty, count });
                }
                EventKind::OrderAdded { order_id, side, price, qty } => {
                    l3.push(L3Event::Added { order_id, side, price, qty });
                }
                EventKind::OrderModified { order_id, side, price, qty } => {
                    l3.push(L3Event::Modified { order_id, side, price, qty });
                }
                EventKind::OrderDeleted { order_id, side, price } => {
                    l3.push(L3Event::Deleted { order_id, side, price });
                }
                EventKind::Trade {
                    trade_id, price, qty, maker_order_id, taker_order_id, aggressor, ..
                } => {
                    l3.push(L3Event::Executed {
                        order_id: maker_order_id,
                        side: aggressor.opposite(),
                        price,
                        qty,
                        trade_id,
                    });
                    trades.push(PublicTrade {
                        trade_id,
                        price,
                        qty,
                        aggressor,
                        time,
                        maker_order_id,
                        taker_order_id,
                    });
                }
                EventKind::StatusChanged { status: new } if new != self.status => {
                    self.status = new;
                    status = Some(new);
                }
                // Order lifecycle events are private: they go to the owner
                // through the session router, not to market data.
                _ => {}
            }
        }
        for event in &l3 {
            let applied = self.l3.apply(event);
            debug_assert_eq!(applied, Ok(()), "engine L3 event does not fit the book: {event:?}");
        }
        before.sort_by_key(|&(level, _)| level);
        before.dedup_by_key(|&mut (level, _)| level);
        let mut levels: Vec<LevelChange> = before
            .iter()
            .filter_map(|&((side, price), was)| {
                let now = self.l2.get(side, price);
                (now != was).then(|| {
                    let (qty, count) = now.unwrap_or_default();
                    LevelChange { side, price, qty, count }
                })
            })
            .collect();
        self.before = before;
        sort_levels(&mut levels);

        self.stats.advance(time);
        // Closed first: a trade in a later period must not roll over a
        // candle that was never published final.
        let mut candles = Vec::new();
        self.close_candles(time, &mut candles);
        if !trades.is_empty() {
            for trade in &trades {
                self.stats.add(time, trade);
                if config.trade_history > 0 {
                    if self.trades.len() == config.trade_history {
                        self.trades.pop_front();
                    }
                    self.trades.push_back(*trade);
                }
            }
            for series in &mut self.candles {
                let mut current = None;
                for trade in &trades {
                    current = Some(series.add(time, trade));
                }
                candles.extend(current);
            }
            self.last_trade = trades.last().copied();
        }
        candles.sort_by_key(|c| (c.interval, c.open_time));
        let bbo_now = self.l2.bbo();
        let bbo = (bbo_now != self.bbo).then_some(bbo_now);
        self.bbo = bbo_now;

        if levels.is_empty() && l3.is_empty() && trades.is_empty() && candles.is_empty() && status.is_none() {
            debug_assert!(bbo.is_none(), "quote changed without a level change");
            return None;
        }
        self.seq += 1;
        self.time = time;
        let update = Update {
            instrument: self.spec.id,
            first_seq: self.seq,
            seq: self.seq,
            l2_first_seq: self.l2_last + 1,
            l3_first_seq: self.l3_last + 1,
            time,
            levels,
            l3,
            trades,
            bbo,
            candles,
            status,
        };
        if update.has_l2() {
            self.l2_last = self.seq;
        }
        if update.has_l3() {
            self.l3_last = self.seq;
        }
        Some(update)
    }
}

/// The market-data component: every transport's one source of public data.
/// See the crate documentation for the contract.
#[derive(Clone, Debug)]
pub struct MarketData {
    config: MarketDataConfig,
    instruments: BTreeMap<InstrumentId, Instrument>,
    /// The command whose outputs are being collected: `(seq, time)`.
    open: Option<(u64, Timestamp)>,
    /// Its market-data events so far.
    pending: Vec<Event>,
    /// The earliest end of any open candle (ns; `u64::MAX` if none): a
    /// command at or after it closes candles.
    next_close: u64,
    /// Scratch for [`MarketData::flush`]: the instruments a command touched.
    touched: Vec<InstrumentId>,
}

impl MarketData {
    /// Empty books for `instruments` with the default history sizes.
    pub fn new(instruments: &[InstrumentSpec]) -> MarketData {
        MarketData::with_config(instruments, MarketDataConfig::default())
    }

    /// Empty books for `instruments` with the given history sizes.
    pub fn with_config(instruments: &[InstrumentSpec], config: MarketDataConfig) -> MarketData {
        MarketData {
            config,
            instruments: instruments.iter().map(|s| (s.id, Instrument::new(s.clone(), &config))).collect(),
            open: None,
            pending: Vec::new(),
            next_close: u64::MAX,
            touched: Vec::new(),
        }
    }

    /// Market data for books that already hold orders (after recovery from
    /// an engine snapshot and journal replay): levels, orders in priority
    /// order and status are taken from the books. Every instrument's book
    /// sequence number starts at `seq`, the engine's sequence number (of
    /// its last command), and its snapshots carry the engine's `time`.
    ///
    /// Why the engine's number: a book sequence number advances at most
    /// once per command, so no update published before the restart can
    /// carry a number above it. Numbers therefore never go back across a
    /// restart: a client still holding a pre-restart `lastUpdateId` sees a
    /// gap (`U > its u + 1`) and resynchronises, instead of taking
    /// post-restart updates that reuse old numbers for a book it never saw.
    /// Trades, candles and statistics start empty: the engine does not
    /// keep them.
    pub fn from_books(books: &Books, seq: u64, time: Timestamp, config: MarketDataConfig) -> MarketData {
        let specs: Vec<InstrumentSpec> = books.iter().map(|b| b.spec().clone()).collect();
        let mut market = MarketData::with_config(&specs, config);
        for book in books.iter() {
            let Some(state) = market.instruments.get_mut(&book.spec().id) else { continue };
            (state.seq, state.l2_last, state.l3_last, state.time) = (seq, seq, seq, time);
            state.status = book.status();
            let snapshot = book.snapshot();
            for order in snapshot.bids.iter().chain(&snapshot.asks) {
                let added = state.l3.add(order.order_id, order.side, order.price, order.shown);
                debug_assert_eq!(added, Ok(()));
            }
            for side in [Side::Buy, Side::Sell] {
                for (price, qty, count) in book.depth(side, usize::MAX) {
                    state.l2.set(&LevelChange { side, price, qty, count });
                }
            }
            state.bbo = state.l2.bbo();
        }
        market
    }

    /// Takes one output of the engine's outbound stream. The outputs of one
    /// command are collected until the command ends (`stamped.last`, or an
    /// output of another command, or [`flush`](Self::flush)); then each
    /// instrument the command changed gets one [`Update`], appended to `out`
    /// in instrument order.
    pub fn apply(&mut self, stamped: &Stamped, out: &mut Vec<Arc<Update>>) {
        if self.open.is_some_and(|(seq, _)| seq != stamped.seq) {
            self.flush(out);
        }
        self.open = Some((stamped.seq, stamped.time));
        if let Output::Book(event) = stamped.output {
            self.pending.push(event);
        }
        if stamped.last {
            self.flush(out);
        }
    }

    /// Takes all outputs of one command at once (journal replay, tests):
    /// the same as [`apply`](Self::apply) on each with the last one marked.
    pub fn apply_command(
        &mut self,
        seq: u64,
        time: Timestamp,
        outputs: &[Output],
        out: &mut Vec<Arc<Update>>,
    ) {
        if self.open.is_some_and(|(open, _)| open != seq) {
            self.flush(out);
        }
        self.open = Some((seq, time));
        self.pending.extend(outputs.iter().filter_map(|o| match o {
            Output::Book(event) => Some(*event),
            _ => None,
        }));
        self.flush(out);
    }

    /// Ends the command being collected, if any, emitting its updates. Needed
    /// only when the stream's last output of a command was not marked
    /// `last` and no later command has arrived yet.
    pub fn flush(&mut self, out: &mut Vec<Arc<Update>>) {
        let Some((_, time)) = self.open.take() else { return };
        // The instruments the command touched, in order (a buffer kept
        // between commands); all of them when its time ends a candle
        // somewhere (each closes its own in `apply`).
        let mut touched = std::mem::take(&mut self.touched);
        touched.clear();
        touched.extend(self.pending.iter().map(|e| e.instrument));
        touched.dedup(); // a command's events mostly come in runs of one instrument
        let closing = time.0 >= self.next_close;
        if closing {
            touched.extend(self.instruments.keys());
        }
        touched.sort_unstable();
        touched.dedup();
        for &id in &touched {
            let Some(state) = self.instruments.get_mut(&id) else { continue };
            let events = self.pending.iter().filter(|e| e.instrument == id).map(|e| &e.kind);
            if let Some(update) = state.apply(time, events, &self.config) {
                if !update.trades.is_empty() {
                    self.next_close = self.next_close.min(state.next_close());
                }
                out.push(Arc::new(update));
            }
        }
        if closing {
            self.next_close = self.instruments.values().map(Instrument::next_close).min().unwrap_or(u64::MAX);
        }
        self.touched = touched;
        self.pending.clear();
    }

    /// The instruments, in id order.
    pub fn instruments(&self) -> impl Iterator<Item = &InstrumentSpec> {
        self.instruments.values().map(|i| &i.spec)
    }

    /// One instrument's specification (transports format prices with it).
    pub fn spec(&self, instrument: InstrumentId) -> Option<&InstrumentSpec> {
        self.instruments.get(&instrument).map(|i| &i.spec)
    }

    /// An instrument's current book sequence number.
    pub fn seq(&self, instrument: InstrumentId) -> Option<u64> {
        self.instruments.get(&instrument).map(|i| i.seq)
    }

    /// An instrument's trading status.
    pub fn status(&self, instrument: InstrumentId) -> Option<TradingStatus> {
        self.instruments.get(&instrument).map(|i| i.status)
    }

    /// Aggregated depth: the best `limit` levels per side, or all of them
    /// for `None`. Only a full snapshot lets a [`BookFollower`](crate::BookFollower)
    /// reproduce the whole book; a top-N one is exact for the levels it
    /// lists.
    pub fn depth(&self, instrument: InstrumentId, limit: Option<usize>) -> Option<DepthSnapshot> {
        let state = self.instruments.get(&instrument)?;
        Some(DepthSnapshot {
            instrument,
            seq: state.seq,
            time: state.time,
            bids: state.l2.top(Side::Buy, limit),
            asks: state.l2.top(Side::Sell, limit),
        })
    }

    /// Every shown order in priority order.
    pub fn l3_snapshot(&self, instrument: InstrumentId) -> Option<L3Snapshot> {
        let state = self.instruments.get(&instrument)?;
        Some(L3Snapshot {
            instrument,
            seq: state.seq,
            time: state.time,
            bids: state.l3.side(Side::Buy),
            asks: state.l3.side(Side::Sell),
        })
    }

    /// Best bid and offer, last trade and status.
    pub fn l1(&self, instrument: InstrumentId) -> Option<L1Snapshot> {
        let state = self.instruments.get(&instrument)?;
        Some(L1Snapshot {
            instrument,
            seq: state.seq,
            time: state.time,
            bbo: state.bbo,
            last_trade: state.last_trade,
            status: state.status,
        })
    }

    /// The most recent `limit` trades (at most the configured history),
    /// oldest first.
    pub fn trades(&self, instrument: InstrumentId, limit: usize) -> Option<TradesSnapshot> {
        let state = self.instruments.get(&instrument)?;
        let skip = state.trades.len().saturating_sub(limit);
        Some(TradesSnapshot {
            instrument,
            seq: state.seq,
            trades: state.trades.iter().skip(skip).copied().collect(),
        })
    }

    /// The most recent `limit` candles of `interval`, oldest first, the
    /// current one last.
    pub fn candles(
        &self,
        instrument: InstrumentId,
        interval: Interval,
        limit: usize,
    ) -> Option<CandlesSnapshot> {
        let state = self.instruments.get(&instrument)?;
        let series = state.candles.get(Interval::ALL.iter().position(|&i| i == interval)?)?;
        Some(CandlesSnapshot { instrument, seq: state.seq, interval, candles: series.recent(limit) })
    }

    /// Statistics of the 24 hours ending at `now` (see the `stats` rules in
    /// the crate documentation). `now` comes from the caller (a transport
    /// may pass its clock or the last update's time); a `now` before the
    /// last trade counts as the last trade's minute.
    pub fn stats_24h(&self, instrument: InstrumentId, now: Timestamp) -> Option<Stats24h> {
        let state = self.instruments.get(&instrument)?;
        Some(state.stats.at(instrument, state.seq, now))
    }
}
